import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Cluster, Redis } from "ioredis";

/**
 * A server-side script shipped as a real .lua file next to the bundle
 * (src/lua in the repo, dist/lua in the package). Called by SHA; when the
 * server has lost its script cache (restart, failover, SCRIPT FLUSH) it
 * answers NOSCRIPT without running anything, and the full source is sent once.
 */
export class LuaScript {
  readonly source: string;
  readonly sha: string;

  constructor(readonly name: string) {
    this.source = readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), "utf8");
    this.sha = createHash("sha1").update(this.source).digest("hex");
  }

  async run(client: Redis | Cluster, key: string, args: Array<string | Buffer | number>): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, 1, key, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return client.eval(this.source, 1, key, ...args);
    }
  }
}
