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
  external: ["ioredis"],
  async onSuccess() {
    cpSync("src/lua", "dist/lua", { recursive: true });
  },
});
