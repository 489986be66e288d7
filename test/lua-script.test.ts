/**
 * The Lua scripts are part of the built JavaScript (tsup.config.ts defines
 * BUILT_LUA_SOURCES, src/lua-script.ts uses it): a build of src/lua-script.ts
 * with the repo's own tsup config, run by plain node from a folder holding
 * nothing else, must serve exactly the scripts of src/lua/ with their
 * includes assembled, and read no file. The shared include's constants are
 * the TypeScript ones.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build, type Options } from "tsup";
import { afterAll, describe, expect, it } from "vitest";
import { LUA_DIR, libraryBuild, luaSources } from "../tsup.config";
import { LuaScript } from "../src/lua-script";
import * as envelope from "../codecs/envelope";

const files = readdirSync(LUA_DIR).filter((f) => f.endsWith(".lua")).sort();
const includes = Object.fromEntries(
  readdirSync(join(LUA_DIR, "includes"))
    .filter((f) => f.endsWith(".lua"))
    .map((f) => [f.slice(0, -4), readFileSync(join(LUA_DIR, "includes", f), "utf8")]),
);
/** Each script as Redis must see it: every `--- @include "name"` line replaced by that include's text. */
const fromDisk = Object.fromEntries(
  files.map((f) => {
    const raw = readFileSync(join(LUA_DIR, f), "utf8");
    const lines = raw.split("\n").flatMap((line) => {
      const include = /^--- @include "(.+)"$/.exec(line)?.[1];
      return include === undefined ? [line] : includes[include]!.replace(/\n$/, "").split("\n");
    });
    return [f.slice(0, -4), lines.join("\n")];
  }),
);
const sha1 = (s: string) => createHash("sha1").update(s).digest("hex");
/** The scripts the Redis engine loads: new LuaScript("...") in src/engines/redis.ts. */
const used = [...readFileSync(new URL("../src/engines/redis.ts", import.meta.url), "utf8").matchAll(/new LuaScript\("([^"]+)"\)/g)].map((m) => m[1]!);

const tmp = mkdtempSync(join(tmpdir(), "saga-lua-build-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("Lua sources", () => {
  it("the build's table is every src/lua/*.lua script with its includes in place, each with its header", () => {
    expect(files.length).toBeGreaterThan(0);
    expect(Object.keys(includes)).toContain("stored-identity");
    expect(luaSources()).toStrictEqual(fromDisk);
    for (const source of Object.values(luaSources())) expect(source).not.toMatch(/^--- @include/m);
    expect(luaSources()["write"]).toContain(includes["stored-identity"]!.trim());
    expect(luaSources()["delete-owned"]).toContain(includes["stored-identity"]!.trim());
    expect(luaSources()["write"]).toContain(includes["permissions"]!.trim());
    expect(luaSources()["check-permissions"]).toContain(includes["permissions"]!.trim());
    for (const [name, source] of Object.entries(fromDisk)) expect(source.startsWith("--[[\n"), name).toBe(true);
    expect(used.length).toBeGreaterThan(0);
    for (const name of used) expect(Object.keys(fromDisk), name).toContain(name);
  });

  it("from source, LuaScript reads src/lua", () => {
    for (const name of used) {
      const script = new LuaScript(name);
      expect(script.source).toBe(fromDisk[name]);
      expect(script.sha).toBe(sha1(fromDisk[name]!));
    }
  });

  it("built (ESM and CommonJS) with tsup.config.ts, LuaScript serves the same scripts and reads nothing", async () => {
    const config: Options = libraryBuild;
    expect(typeof config.esbuildOptions).toBe("function");
    await build({
      ...config,
      config: false,
      entry: { "lua-script": "src/lua-script.ts" },
      outDir: join(tmp, "out"),
      dts: false,
      sourcemap: false,
      clean: false,
      silent: true,
    });
    const esm = readFileSync(join(tmp, "out", "lua-script.js"), "utf8");
    const cjs = readFileSync(join(tmp, "out", "lua-script.cjs"), "utf8");
    for (const [format, code] of [["esm", esm], ["cjs", cjs]] as const) {
      // The source-only fallback is gone: no file access, no import.meta (nor its CommonJS shim).
      for (const absent of ["readFileSync", "node:fs", "import.meta", "importMetaUrl", "FROM_SOURCE"]) expect(code, `${format}: ${absent}`).not.toContain(absent);
    }

    // Each output alone in an empty folder, run by plain node (no vitest transform, no src/lua next to it).
    const run = join(tmp, "run");
    mkdirSync(run);
    copyFileSync(join(tmp, "out", "lua-script.js"), join(run, "lua-script.mjs"));
    copyFileSync(join(tmp, "out", "lua-script.cjs"), join(run, "lua-script.cjs"));
    const probe = `
      const names = ${JSON.stringify(Object.keys(fromDisk))};
      const table = (LuaScript) => Object.fromEntries(names.map((n) => { const s = new LuaScript(n); return [n, { source: s.source, sha: s.sha }]; }));
      let unknown = "no error";
      try { new (require("./lua-script.cjs").LuaScript)("no-such-script"); } catch (e) { unknown = String(e.message); }
      import("./lua-script.mjs").then((esm) => {
        console.log(JSON.stringify({ esm: table(esm.LuaScript), cjs: table(require("./lua-script.cjs").LuaScript), unknown }));
      });`;
    const out = JSON.parse(execFileSync(process.execPath, ["-e", probe], { cwd: run, encoding: "utf8" })) as {
      esm: Record<string, { source: string; sha: string }>;
      cjs: Record<string, { source: string; sha: string }>;
      unknown: string;
    };
    const expected = Object.fromEntries(Object.entries(fromDisk).map(([n, source]) => [n, { source, sha: sha1(source) }]));
    expect(out.esm).toStrictEqual(expected);
    expect(out.cjs).toStrictEqual(expected);
    expect(out.unknown).toContain('no Lua script "no-such-script"');
  });
});

describe("the shared Lua include states the TypeScript rules", () => {
  const constant = (name: string) => {
    const match = new RegExp(`^local ${name} = (\\d+)$`, "m").exec(includes["stored-identity"]!);
    if (!match) throw new Error(`src/lua/includes/stored-identity.lua declares no ${name}`);
    return Number(match[1]);
  };

  it("every envelope constant the scripts judge by equals codecs/envelope.ts's", () => {
    expect({
      ENVELOPE_MAGIC: constant("ENVELOPE_MAGIC"),
      ENVELOPE_FORMAT_VERSION: constant("ENVELOPE_FORMAT_VERSION"),
      HEADER_SIZE: constant("HEADER_SIZE"),
      KNOWN_FLAGS: constant("KNOWN_FLAGS"),
      HIGHEST_BUILT_IN_CODEC_ID: constant("HIGHEST_BUILT_IN_CODEC_ID"),
      FIRST_CUSTOM_CODEC_ID: constant("FIRST_CUSTOM_CODEC_ID"),
    }).toStrictEqual({
      ENVELOPE_MAGIC: envelope.ENVELOPE_MAGIC,
      ENVELOPE_FORMAT_VERSION: envelope.ENVELOPE_FORMAT_VERSION,
      HEADER_SIZE: envelope.HEADER_SIZE,
      KNOWN_FLAGS: envelope.KNOWN_FLAGS,
      HIGHEST_BUILT_IN_CODEC_ID: envelope.HIGHEST_BUILT_IN_CODEC_ID,
      FIRST_CUSTOM_CODEC_ID: envelope.FIRST_CUSTOM_CODEC_ID,
    });
  });

  it("no script restates a rule the include holds", () => {
    for (const name of files) {
      const raw = readFileSync(join(LUA_DIR, name), "utf8");
      for (const restated of ["cjson.decode", "== 254", "sha1hex", "local function identity", "acl_check_cmd"]) expect(raw, `${name}: ${restated}`).not.toContain(restated);
    }
  });
});
