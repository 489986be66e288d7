import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { EncryptionOptions } from "../../codecs/encryption";
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
  const { path, candidates } = await exportsOf(specifier, "registry", cwd);
  const registry = candidates.find(isRegistryShaped);
  if (!registry) {
    throw new CliFailure("REGISTRY_INVALID", `registry module ${path} exports no SagaRegistry as \`registry\` or as its default export (one with \`names\` and \`lookup\`)`);
  }
  return registry;
}

/**
 * The store's encryption option an application module exports (as
 * `encryption`, or as its default export); the store checks the keys.
 */
export async function loadEncryption(specifier: string, cwd: string = process.cwd()): Promise<EncryptionOptions> {
  const { path, candidates } = await exportsOf(specifier, "encryption", cwd);
  const encryption = candidates.find((value) => typeof value === "object" && value !== null && ("keys" in value || "provider" in value));
  if (!encryption) {
    throw new CliFailure("ENCRYPTION_INVALID", `encryption module ${path} exports no encryption option as \`encryption\` or as its default export (one with \`keys\` or \`provider\`)`);
  }
  return encryption as EncryptionOptions;
}

/** What a module exports under `name` or as its default, the path taken from `cwd`. */
async function exportsOf(specifier: string, name: "registry" | "encryption", cwd: string): Promise<{ path: string; candidates: unknown[] }> {
  const path = resolve(cwd, specifier);
  if (!existsSync(path)) throw new CliFailure(`${name.toUpperCase()}_NOT_FOUND`, `${name} module ${path} does not exist`);
  const url = pathToFileURL(path).href;
  const loaded = TYPESCRIPT_MODULE.test(path) ? await importTypeScript(url, path) : await import(url);
  const module = loaded as Record<string, unknown>;
  // A CommonJS module's exports arrive as the default export: `module.exports = { registry }` too.
  return { path, candidates: [module[name], module.default, (module.default as Record<string, unknown> | undefined)?.[name]] };
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
    throw new CliFailure("TSX_MISSING", `module ${path} is TypeScript: install tsx (npm install --save-dev tsx) to load it, or pass the compiled JavaScript`);
  }
  return tsx.tsImport(url, import.meta.url);
}
