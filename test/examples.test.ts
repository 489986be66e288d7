/**
 * Keeps examples/ copyable into an application: every file imports the
 * package by its public name ("@saga-bus/store-redis"), never a relative path
 * into src/, codecs/ or migrations/, and `npm start`'s demo runs to its end
 * on the embedded engine (no REDIS_URL, no build).
 */
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const EXAMPLES = join(ROOT, "examples");
const INTERNAL_DIRS = ["src", "codecs", "migrations"];
const PACKAGE = "@saga-bus/store-redis";

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.[cm]?[jt]sx?$/.test(entry.name) ? [path] : [];
  });
}

/** Every module specifier of a file: static and dynamic imports, re-exports, import types, require(). */
function specifiers(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((file) => file.fileName);
}

/** Why a specifier in `file` is not allowed in an example, or undefined when it is. */
function violation(file: string, specifier: string): string | undefined {
  if (specifier.startsWith(".") || specifier.startsWith("/")) {
    const target = relative(ROOT, resolve(dirname(file), specifier));
    const top = target.split(sep)[0]!;
    if (INTERNAL_DIRS.includes(top)) return `imports internal ${target} (use "${PACKAGE}")`;
    return undefined;
  }
  if (specifier.startsWith(`${PACKAGE}/`)) return `imports a deep path of the package (use "${PACKAGE}")`;
  return undefined;
}

describe("examples/", () => {
  const files = sourceFiles(EXAMPLES);

  it("the import check catches what it is meant to", () => {
    const file = join(EXAMPLES, "probe.ts");
    const found = specifiers(
      `import { a } from "../src/index";\nexport * from "../codecs/serializer.ts";\nimport type { B } from "../migrations/chain";\n` +
        `const c = await import("../src/engines/memory");\nimport { d } from "${PACKAGE}/src/store";\nimport { e } from "${PACKAGE}";\nimport { z } from "zod";`,
    );
    expect(found.map((s) => violation(file, s) !== undefined)).toEqual([true, true, true, true, true, false, false]);
  });

  it("has files, and none imports a relative path into src/, codecs/ or migrations/", () => {
    expect(files.length).toBeGreaterThan(0);
    const problems = files.flatMap((file) =>
      specifiers(readFileSync(file, "utf8")).flatMap((specifier) => {
        const why = violation(file, specifier);
        return why ? [`${relative(ROOT, file)}: "${specifier}" ${why}`] : [];
      }),
    );
    expect(problems).toEqual([]);
    const demo = specifiers(readFileSync(join(EXAMPLES, "demo.ts"), "utf8"));
    expect(demo).toContain(PACKAGE);
  });

  it("demo.ts runs to the end on the embedded engine", async () => {
    const { REDIS_URL: _unset, ...env } = process.env;
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "examples/demo.ts"], {
      cwd: ROOT,
      env,
      timeout: 25_000,
    }).catch((error: { code?: unknown; stdout?: string; stderr?: string }) => {
      throw new Error(`demo exited with ${String(error.code)}\n${error.stdout ?? ""}\n${error.stderr ?? ""}`);
    });
    expect(stdout).toContain("embedded InMemorySagaStore");
    expect(stdout.trimEnd().split("\n").at(-1)).toBe("demo finished");
    expect(stdout).not.toContain("· event");
  }, 30_000);

  it("demo.ts --events prints the calls and events the store published", async () => {
    const { REDIS_URL: _unset, ...env } = process.env;
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "examples/demo.ts", "--events"], { cwd: ROOT, env, timeout: 25_000 });
    expect(stdout.trimEnd().split("\n").at(-1)).toBe("demo finished");
    expect(stdout).toMatch(/· insert OrderSaga → written \{"keys":\[".*"\],"codec":"json","schemaVersion":1,"sagaVersion":0,"attempts":1\}/);
    // Section 2's stale update, and section 3's concurrent modify callers losing races.
    expect(stdout).toMatch(/· event conflict \{"operation":"update","sagaName":"OrderSaga"/);
    expect(stdout).toMatch(/· update OrderSaga → SAGA_CONFLICT/);
    expect(stdout).toMatch(/· event retry \{"operation":"modify".*"cause":"ConcurrencyError: SAGA_CONFLICT","code":"SAGA_CONFLICT"\}/);
    expect(stdout).toMatch(/· modify OrderSaga → written \{.*"attempts":[2-9]/);
  }, 30_000);
});
