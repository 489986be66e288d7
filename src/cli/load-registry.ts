import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { SagaRegistry } from "../registry";
import { CliFailure } from "./failure";

const TYPESCRIPT_MODULE = /\.[mc]?ts$/;

/**
 * The SagaRegistry an application module exports (as `registry`, or as its
 * default export), the path taken from the current directory. Checked by its
 * shape, not instanceof: the module imports the package as the application
 * installed it, which can be another copy than the one running this CLI.
 */
export async function loadRegistry(specifier: string, cwd: string = process.cwd()): Promise<SagaRegistry> {
  const path = resolve(cwd, specifier);
  if (!existsSync(path)) throw new CliFailure("REGISTRY_NOT_FOUND", `registry module ${path} does not exist`);
  const url = pathToFileURL(path).href;
  const loaded = TYPESCRIPT_MODULE.test(path) ? await importTypeScript(url, path) : await import(url);
  const module = loaded as { registry?: unknown; default?: unknown };
  // A CommonJS module's exports arrive as the default export: `module.exports = { registry }` too.
  const candidates = [module.registry, module.default, (module.default as { registry?: unknown } | undefined)?.registry];
  const registry = candidates.find(isRegistryShaped);
  if (!registry) {
    throw new CliFailure("REGISTRY_INVALID", `registry module ${path} exports no SagaRegistry as \`registry\` or as its default export (one with \`names\` and \`lookup\`)`);
  }
  return registry;
}

function isRegistryShaped(value: unknown): value is SagaRegistry {
  const candidate = value as { names?: unknown; lookup?: unknown } | null | undefined;
  return typeof candidate === "object" && candidate !== null && Array.isArray(candidate.names) && typeof candidate.lookup === "function";
}

/** Node runs no TypeScript of its own on every supported version: tsx's loader does, when the application has it. */
async function importTypeScript(url: string, path: string): Promise<unknown> {
  let tsx: typeof import("tsx/esm/api");
  try {
    tsx = await import("tsx/esm/api");
  } catch {
    throw new CliFailure("TSX_MISSING", `registry module ${path} is TypeScript: install tsx (npm install --save-dev tsx) to load it, or pass the compiled JavaScript`);
  }
  return tsx.tsImport(url, import.meta.url);
}
