import { cpSync } from "node:fs";
import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "src/index.ts" },
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "node20",
  // import.meta.url in CommonJS, to find the .lua files next to the bundle.
  shims: true,
  // @saga-bus/core is the application's (the tests install a stand-in as a devDependency):
  // never bundled, or the store would make errors of its own copy of core's classes.
  external: ["ioredis", "@saga-bus/core"],
  // src/saga-bus-errors.ts loads core the way this build's own module system does.
  esbuildOptions(options, { format }) {
    options.define = { ...options.define, BUILT_AS_COMMONJS: String(format === "cjs") };
  },
  async onSuccess() {
    cpSync("src/lua", "dist/lua", { recursive: true });
  },
});
