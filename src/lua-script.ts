import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

/**
 * A server-side script shipped as a real .lua file next to the bundle
 * (src/lua in the repo, dist/lua in the package), called by its SHA.
 */
export class LuaScript {
  readonly source: string;
  readonly sha: string;

  constructor(readonly name: string) {
    this.source = readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), "utf8");
    this.sha = createHash("sha1").update(this.source).digest("hex");
  }
}
