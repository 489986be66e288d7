/**
 * The Lua scripts are part of the built JavaScript (tsup.config.ts defines
 * BUILT_LUA_SOURCES, src/lua-script.ts uses it): a build of src/lua-script.ts
 * with the repo's own tsup config, run by plain node from a folder holding
 * nothing else, must serve exactly the files of src/lua/, and read no file.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build, type Options } from "tsup";
import { afterAll, describe, expect, it } from "vitest";
import tsupConfig, { LUA_DIR, luaSources } from "../tsup.config";
import { LuaScript } from "../src/lua-script";

const files = readdirSync(LUA_DIR).filter((f) => f.endsWith(".lua")).sort();
const fromDisk = Object.fromEntries(files.map((f) => [f.slice(0, -4), readFileSync(join(LUA_DIR, f), "utf8")]));
const sha1 = (s: string) => createHash("sha1").update(s).digest("hex");
/** The scripts the Redis engine loads: new LuaScript("...") in src/engines/redis.ts. */
const used = [...readFileSync(new URL("../src/engines/redis.ts", import.meta.url), "utf8").matchAll(/new LuaScript\("([^"]+)"\)/g)].map((m) => m[1]!);

const tmp = mkdtempSync(join(tmpdir(), "saga-lua-build-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("Lua sources", () => {
  it("the build's table is every src/lua/*.lua file, byte for byte, each with its header", () => {
    expect(files.length).toBeGreaterThan(0);
    expect(luaSources()).toStrictEqual(fromDisk);
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
    const config = tsupConfig as Options;
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
