import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defineConfig, type Options } from "tsup";
import { assembleLua } from "./src/lua-assemble";

/** src/lua, the single source of truth for the server-side scripts. */
export const LUA_DIR = fileURLToPath(new URL("./src/lua/", import.meta.url));

/**
 * Every src/lua/*.lua script, name (without .lua) → source with its includes
 * from src/lua/includes assembled, in name order: what the build writes into dist/.
 */
export function luaSources(dir: string = LUA_DIR): Record<string, string> {
  const sources: Record<string, string> = {};
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".lua")).sort()) {
    const name = file.slice(0, -".lua".length);
    sources[name] = assembleLua(name, readFileSync(`${dir}/${file}`, "utf8"), (include) => readFileSync(`${dir}/includes/${include}.lua`, "utf8"));
  }
  return sources;
}

/** What both builds share: the Lua scripts embedded, @saga-bus/core left to the application. */
const shared = {
  sourcemap: true,
  target: "node20",
  // Nothing in dist/ uses import.meta.url; src/lua-script.ts's source-only fallback (dropped
  // from the build, see dropLabels) still names it, and esbuild warns about it in CommonJS without this.
  shims: true,
  // @saga-bus/core is the application's (the tests install a stand-in as a devDependency):
  // never bundled, or the store would make errors of its own copy of core's classes.
  external: ["ioredis", "@saga-bus/core"],
  esbuildOptions(options, { format }) {
    options.define = {
      ...options.define,
      // src/saga-bus-errors.ts loads core the way this build's own module system does.
      BUILT_AS_COMMONJS: String(format === "cjs"),
      // src/lua-script.ts: the Lua scripts are part of the built JavaScript, so an application
      // may bundle dist/ into one file; nothing is read from disk at run time.
      BUILT_LUA_SOURCES: JSON.stringify(luaSources()),
    };
    // src/lua-script.ts: the statement that reads src/lua/*.lua when run from source.
    options.dropLabels = [...(options.dropLabels ?? []), "FROM_SOURCE"];
  },
} satisfies Options;

/**
 * The library, dist/index.*, and the OpenTelemetry entry point, dist/otel.*
 * (@opentelemetry/api, an optional peer, stays external), with their types.
 * No shared chunk: dist/otel.* holds the channel names alone, never the
 * embedded Lua scripts; both meet on the channels' global names.
 */
export const libraryBuild = {
  ...shared,
  entry: { index: "src/index.ts", otel: "src/otel/index.ts" },
  format: ["esm", "cjs"],
  splitting: false,
  dts: true,
  // The two builds run at once: this one's cleaning must not remove what the other just wrote.
  clean: ["!cli.js", "!cli.js.map"],
} satisfies Options;

/**
 * The saga-store command (package.json "bin"): run by node, never imported, so ESM only and no types.
 * tsx, an optional peer dependency, stays external (tsup leaves peers out): TS registries load through the application's.
 */
export const cliBuild = {
  ...shared,
  entry: { cli: "src/cli/main.ts" },
  format: ["esm"],
  // One file: nothing for the other build's cleaning to catch.
  splitting: false,
  dts: false,
  clean: false,
  banner: { js: "#!/usr/bin/env node" },
} satisfies Options;

export default defineConfig([libraryBuild, cliBuild]);
