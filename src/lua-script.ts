import { hash } from "node:crypto";
import { readFileSync } from "node:fs";
import { assembleLua } from "./lua-assemble";

/**
 * Set by the build (tsup.config.ts): every src/lua/*.lua file, name → source
 * with its includes assembled (src/lua-assemble.ts), so dist/ carries its scripts inside the JavaScript (an application may bundle
 * it into one file). Absent when run from source (vitest, tsx), where the .lua
 * files are read.
 */
declare const BUILT_LUA_SOURCES: Readonly<Record<string, string>> | undefined;

function luaSource(name: string): string {
  // Source runs only: the build drops this labelled statement (tsup.config.ts, dropLabels).
  FROM_SOURCE: if (typeof BUILT_LUA_SOURCES === "undefined") {
    const read = (path: string) => readFileSync(new URL(`./lua/${path}.lua`, import.meta.url), "utf8");
    return assembleLua(name, read(name), (include) => read(`includes/${include}`));
  }
  const source = Object.hasOwn(BUILT_LUA_SOURCES, name) ? BUILT_LUA_SOURCES[name] : undefined;
  if (source === undefined) throw new Error(`no Lua script "${name}" in this build (src/lua/${name}.lua)`);
  return source;
}

/**
 * A server-side script, written as a real .lua file in src/lua (the single
 * source of truth) and built into dist/ as a string; called by its SHA.
 */
export class LuaScript {
  readonly source: string;
  readonly sha: string;

  constructor(readonly name: string) {
    this.source = luaSource(name);
    this.sha = hash("sha1", this.source, "hex");
  }
}
