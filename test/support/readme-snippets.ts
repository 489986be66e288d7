/**
 * README.md's ```typescript blocks, for test/readme-snippets.test.ts.
 *
 * Rule: every block is checked standalone, as its own ES module (.mts), so
 * every block carries its own imports and declarations. Nothing is ever
 * concatenated with the block before it.
 *
 * - extractSnippets(): every ```typescript block, in order, with the heading
 *   it sits under and the README line its code starts on.
 * - typecheckSnippets(): writes each block unchanged as
 *   node_modules/.cache/readme-snippets/typecheck/NN-slug.mts and runs the
 *   repo's tsc once over all of them (strict, noEmit, module esnext,
 *   moduleResolution bundler, target es2022). "@saga-bus/store-redis" is
 *   mapped to src/index.ts with "paths" (its /otel entry to src/otel/index.ts); "@saga-bus/core" (the test stand-in),
 *   zod and ioredis come from node_modules. A diagnostic's line in an .mts is
 *   its line in README.md minus the block's first line.
 * - runnableSource(): the block as it is run, written under
 *   node_modules/.cache/readme-snippets/run/ and imported by vitest. As in
 *   test/seed-readme.test.ts, addresses point at the test servers
 *   (`host: "localhost"`, `port: 6379`, `new Redis()`, a `new Cluster([...])`
 *   node list) and nothing else changes, except that "@saga-bus/store-redis"
 *   is this module, whose RedisSagaStore is the real one with a unique key
 *   prefix put in front of the snippet's (or the default) prefix, and
 *   remembered so the test can inspect it, remove its keys and close it.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import type { Cluster, Redis } from "ioredis";
import { RedisSagaStore as RealRedisSagaStore, type RedisSagaStoreOptions } from "../../src/index";

export * from "../../src/index";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const README = join(ROOT, "README.md");
export const CACHE_DIR = join(ROOT, "node_modules/.cache/readme-snippets");

export interface Snippet {
  /** 1-based position among the README's typescript blocks. */
  index: number;
  /** The nearest heading above the block, without its #s. */
  heading: string;
  /** README line of the block's first code line (1-based). */
  line: number;
  code: string;
  /** File stem: "03-configuration". */
  stem: string;
}

export function extractSnippets(markdown = readFileSync(README, "utf8")): Snippet[] {
  const lines = markdown.split("\n");
  const snippets: Snippet[] = [];
  let heading = "(top)";
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!;
    const fence = /^(`{3,})(.*)$/.exec(text);
    if (fence) {
      const end = lines.findIndex((l, j) => j > i && l.startsWith(fence[1]!) && l.trim() === fence[1]);
      if (end < 0) throw new Error(`README.md:${i + 1}: unclosed code fence`);
      if (fence[2]!.trim() === "typescript") {
        const index = snippets.length + 1;
        const slug = heading.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 40);
        snippets.push({
          index,
          heading,
          line: i + 2,
          code: lines.slice(i + 1, end).join("\n") + "\n",
          stem: `${String(index).padStart(2, "0")}-${slug}`,
        });
      }
      i = end;
      continue;
    }
    const h = /^#{1,6}\s+(.*)$/.exec(text);
    if (h) heading = h[1]!.trim();
  }
  return snippets;
}

// ---- what a snippet is ------------------------------------------------------

const require = createRequire(import.meta.url);
const ts: typeof import("typescript") = require("typescript");

/**
 * True when the block compiles to no JavaScript but its imports: it only
 * declares types (interfaces, type aliases, type-only imports), so there is
 * nothing to run.
 */
export function declaresTypesOnly(code: string): boolean {
  const js = ts.transpileModule(code, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, removeComments: true, verbatimModuleSyntax: false },
  }).outputText;
  const statements = ts.createSourceFile("x.js", js, ts.ScriptTarget.ES2022).statements;
  return statements.every((s) => ts.isImportDeclaration(s) || ts.isExportDeclaration(s));
}

/** Names a block imports from `specifier` (value and type imports alike). */
export function importedNames(code: string, specifier: string): string[] {
  const file = ts.createSourceFile("x.mts", code, ts.ScriptTarget.ES2022);
  const names: string[] = [];
  for (const s of file.statements) {
    if (!ts.isImportDeclaration(s) || !ts.isStringLiteral(s.moduleSpecifier) || s.moduleSpecifier.text !== specifier) continue;
    const bindings = s.importClause?.namedBindings;
    if (bindings && ts.isNamedImports(bindings)) {
      for (const e of bindings.elements) if (!e.isTypeOnly && !s.importClause?.isTypeOnly) names.push((e.propertyName ?? e.name).text);
    }
  }
  return names;
}

// ---- typecheck --------------------------------------------------------------

export interface SnippetDiagnostic {
  /** The snippet's stem, or null for a diagnostic outside any snippet file. */
  stem: string | null;
  /** "README.md:123:7: error TS2304: ..." for a snippet, tsc's own line otherwise. */
  text: string;
}

/**
 * Runs tsc once over every snippet. `coreShim` declares the @saga-bus/core
 * names the stand-in lacks (its real 0.2.2 signatures), so a block using them
 * is still checked against core's types. It is written as an .mts module
 * augmentation, not a .d.ts, which skipLibCheck would leave unchecked.
 */
export function typecheckSnippets(snippets: Snippet[], coreShim?: string): SnippetDiagnostic[] {
  const dir = join(CACHE_DIR, "typecheck");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const files = snippets.map((s) => {
    writeFileSync(join(dir, `${s.stem}.mts`), s.code);
    return `${s.stem}.mts`;
  });
  if (coreShim) {
    writeFileSync(join(dir, "saga-bus-core-shim.mts"), coreShim);
    files.push("saga-bus-core-shim.mts");
  }
  const tsconfig = {
    compilerOptions: {
      strict: true,
      noEmit: true,
      module: "esnext",
      moduleResolution: "bundler",
      target: "es2022",
      // As the repo's tsconfig: the source it maps to uses ES2024 library calls and Node's types.
      lib: ["es2024"],
      types: ["node"],
      typeRoots: [join(ROOT, "node_modules/@types")],
      skipLibCheck: true,
      paths: { "@saga-bus/store-redis": [join(ROOT, "src/index.ts")], "@saga-bus/store-redis/otel": [join(ROOT, "src/otel/index.ts")] },
    },
    files,
  };
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
  let output = "";
  try {
    execFileSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", join(dir, "tsconfig.json"), "--pretty", "false"], {
      cwd: dir,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; status?: number };
    output = `${failed.stdout ?? ""}${failed.stderr ?? ""}`;
    if (!output.trim()) throw new Error(`tsc exited with ${failed.status} and printed nothing`);
  }
  const byStem = new Map(snippets.map((s) => [s.stem, s]));
  const diagnostics: SnippetDiagnostic[] = [];
  for (const text of output.split(/\n(?=\S)/).filter((t) => t.trim())) {
    const at = /^(.*?)\((\d+),(\d+)\): (.*)$/s.exec(text);
    const stem = at ? relative(dir, resolve(dir, at[1]!)).replace(/\.mts$/, "") : null;
    const snippet = stem === null ? undefined : byStem.get(stem);
    diagnostics.push(
      snippet && at
        ? { stem: snippet.stem, text: `README.md:${snippet.line + Number(at[2]) - 1}:${at[3]} (${snippet.heading}): ${at[4]}` }
        : { stem: null, text },
    );
  }
  return diagnostics;
}

// ---- run --------------------------------------------------------------------

export interface TestServers {
  redisUrl: string;
  clusterNodes: Array<{ host: string; port: number }>;
}

/** Source addresses the run rewrites; none may be left over. */
const UNREWRITTEN = /"localhost"|"redis-\d+"|new Redis\(\)/;

export function usesCluster(code: string): boolean {
  return /new Cluster\(/.test(code);
}

/** The block as run: the same code, pointed at the test servers, importing the store from this module. */
export function runnableSource(snippet: Snippet, servers: TestServers): string {
  const url = new URL(servers.redisUrl);
  const host = JSON.stringify(url.hostname);
  const port = String(Number(url.port || 6379));
  let code = snippet.code
    .replace(/from "@saga-bus\/store-redis"/g, `from ${JSON.stringify(fileURLToPath(import.meta.url))}`)
    .replace(/from "@saga-bus\/store-redis\/otel"/g, `from ${JSON.stringify(join(ROOT, "src/otel/index.ts"))}`)
    .replace(/new Cluster\(\s*\[[\s\S]*?\]\s*\)/g, `new Cluster(${JSON.stringify(servers.clusterNodes.map(({ host, port }) => ({ host, port })))})`)
    .replace(/new Redis\(\)/g, `new Redis(${JSON.stringify(servers.redisUrl)})`)
    .replace(/host: "localhost"/g, `host: ${host}`)
    .replace(/port: 6379\b/g, `port: ${port}`);
  const left = UNREWRITTEN.exec(code);
  if (left) throw new Error(`README.md:${snippet.line} (${snippet.heading}): ${left[0]} was not pointed at the test server`);
  return code;
}

export function writeRunnable(snippet: Snippet, servers: TestServers): string {
  const dir = join(CACHE_DIR, "run");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${snippet.stem}.mts`);
  writeFileSync(file, runnableSource(snippet, servers));
  return file;
}

/** A store a running snippet created, with the client it was given (if any). */
export interface CreatedStore {
  store: RealRedisSagaStore;
  keyPrefix: string;
  givenClient: Redis | Cluster | undefined;
}

interface RunContext {
  prefix: string;
  stores: CreatedStore[];
}

let current: RunContext | undefined;

/** Stores created from now on get `prefix` in front of their key prefix and are recorded in the returned list. */
export function beginRun(prefix: string): CreatedStore[] {
  current = { prefix, stores: [] };
  return current.stores;
}

export function endRun(): void {
  current = undefined;
}

/** The real RedisSagaStore, with a unique key prefix and remembered for the test. */
export class RedisSagaStore<Types = any> extends RealRedisSagaStore<Types> {
  constructor(options: RedisSagaStoreOptions<Types>) {
    const run = current;
    if (!run) throw new Error("a README snippet's RedisSagaStore was created outside beginRun()/endRun()");
    const keyPrefix = run.prefix + (options.keyPrefix ?? "saga-bus:");
    super({ ...options, keyPrefix });
    run.stores.push({ store: this as RealRedisSagaStore, keyPrefix, givenClient: options.redis });
  }
}

/** Removes every key under `keyPrefix` through `client` (every master of a Cluster), one key per DEL. */
export async function deleteKeys(client: Redis | Cluster, keyPrefix: string): Promise<number> {
  const pattern = `${keyPrefix.replace(/[*?[\]\\]/g, "\\$&")}*`;
  const servers: Redis[] = "isCluster" in client && client.isCluster ? (client as Cluster).nodes("master") : [client as Redis];
  let deleted = 0;
  for (const server of servers) {
    let cursor = "0";
    do {
      const [next, keys] = await server.scan(cursor, "MATCH", pattern, "COUNT", 500);
      cursor = next;
      for (const key of keys) deleted += await client.del(key);
    } while (cursor !== "0");
  }
  return deleted;
}
