/**
 * The direction ARCHITECTURE.md gives the rooms: codecs/ and migrations/
 * import nothing of src/ but the shared module of errors and option checks,
 * and that module imports nothing else of src/.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(__dirname, "..");
const SHARED = ["src/errors.ts", "src/options.ts", "src/saga-bus-errors.ts"];

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? tsFiles(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : [],
  );
}

/** The repository files a source file imports (relative imports only), as paths from the root. */
function localImports(file: string): string[] {
  const source = readFileSync(join(ROOT, file), "utf8");
  return [...source.matchAll(/^(?:import|export)[^;]*?from\s+"(\.[^"]+)"/gm)].map((m) => relative(ROOT, resolve(ROOT, file, "..", m[1]!)) + ".ts");
}

describe("import direction", () => {
  it("codecs/ and migrations/ reach into src/ only for the shared errors and options", () => {
    const offending = [...tsFiles("codecs"), ...tsFiles("migrations")].flatMap((file) =>
      localImports(file)
        .filter((target) => target.startsWith("src/") && !SHARED.includes(target))
        .map((target) => `${file} -> ${target}`),
    );
    expect(tsFiles("codecs").length).toBeGreaterThan(5);
    expect(offending).toEqual([]);
  });

  it("the shared module imports nothing else of the repository", () => {
    const offending = SHARED.flatMap((file) => localImports(file).filter((target) => !SHARED.includes(target)).map((target) => `${file} -> ${target}`));
    expect(localImports("src/options.ts")).toEqual(["src/errors.ts"]);
    expect(offending).toEqual([]);
  });
});
