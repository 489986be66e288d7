/**
 * A failure of the CLI's own making (a registry module that cannot be
 * loaded, say), reported like a store error: `error CODE: message`, exit 1.
 */
export class CliFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The code of an error that carries one: the store's typed errors, and
 * Node's system errors. Recognised by shape, not class: a registry module
 * may load another copy of the package, whose error classes are not ours.
 */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return error instanceof Error && typeof code === "string" && /^[A-Z][A-Z0-9_]*$/.test(code) ? code : undefined;
}
