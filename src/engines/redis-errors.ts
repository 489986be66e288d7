import { MissingPermissionsError, RedisAuthError, RedisCommandError, RedisOutOfMemoryError, RedisUnavailableError, SagaStoreError } from "../errors";

/**
 * Error replies meaning the server did not run the command and may accept it
 * soon. MOVED/ASK reach us only from a pipeline (ioredis follows redirects of
 * single commands itself): the slot moved, nothing ran, send it again.
 */
const TRANSIENT_REPLIES = /^(LOADING|TRYAGAIN|CLUSTERDOWN|READONLY|MASTERDOWN|BUSY|MOVED|ASK)\b/;

/**
 * Map an ioredis failure to a typed store error. A reply error proves the
 * command was refused (nothing applied); a connection-level failure after
 * sending leaves a write's outcome unknown.
 */
export function toStoreError(error: unknown, operation: string, key: string | undefined, isWrite: boolean): SagaStoreError {
  const err = error as Error & { name?: string; code?: string };
  // A Cluster reports a refused login as "Failed to refresh slots cache", with the node's reply beside it.
  const lastNodeError = (err as { lastNodeError?: Error })?.lastNodeError;
  const refusal = authRefusal(err) ?? authRefusal(lastNodeError);
  if (refusal) return new RedisAuthError(operation, key, { cause: refusal });
  // Applied in part, whatever the refusal inside reads: only RedisEngine.runWrite, which knows the saga, may report it.
  if (isWrittenInPart(err)) return new RedisCommandError(operation, key, { cause: error });
  const denied = aclRefusal(err) ?? aclRefusal(lastNodeError);
  if (denied) return new MissingPermissionsError(operation, key, refusedCommand(denied), { cause: denied });
  if (err?.name === "ReplyError") {
    if (TRANSIENT_REPLIES.test(err.message)) return new RedisUnavailableError(operation, key, false, { cause: error });
    // Inside a script the reply reads "ERR Error running script ... OOM command not allowed ...".
    if (/\bOOM\b/.test(err.message)) return new RedisOutOfMemoryError(operation, key, { cause: error });
    return new RedisCommandError(operation, key, { cause: error });
  }
  // "Stream isn't writeable" means the command never left the client.
  const neverSent = typeof err?.message === "string" && err.message.includes("Stream isn't writeable");
  return new RedisUnavailableError(operation, key, isWrite && !neverSent, { cause: error });
}

/** The server refused the credentials (wrong password or user, or none given): retrying cannot help. */
function authRefusal(error: (Error & { name?: string }) | undefined): Error | undefined {
  return error?.name === "ReplyError" && /^(WRONGPASS|NOAUTH)\b/.test(error.message) ? error : undefined;
}

/**
 * The ACL refused a command, so it did not run: NOPERM for a command sent
 * as is (and the scripts' own check, src/lua/includes/permissions.lua), the
 * server's wording for one inside a script (Redis 6 and 7.0, then 7.2 on).
 * The scripts run every command that can be refused before their first
 * write, so a refusal inside one applied nothing either.
 */
const ACL_REFUSAL = /^NOPERM\b|The user executing the script can't (run|access)\b|\bACL failure in script\b/;

export function aclRefusal(error: (Error & { name?: string }) | undefined): Error | undefined {
  return error?.name === "ReplyError" && ACL_REFUSAL.test(error.message) ? error : undefined;
}

/** The command a refusal names ("pexpire", "cluster|slots"); none when it names a key pattern, or nothing. */
export function refusedCommand(refusal: Error): string[] {
  const name = /'([^']+)' command/.exec(refusal.message)?.[1];
  return name === undefined ? [] : [name.toLowerCase()];
}

/**
 * write.lua's PARTIAL reply, as ioredis's error or inside the store error it
 * became: the value was written, then the server refused the index command
 * after it (a server too old for the script to ask its ACL first).
 */
export function isWrittenInPart(error: unknown): boolean {
  const reply = error instanceof SagaStoreError ? error.cause : error;
  return (reply as Error | undefined)?.name === "ReplyError" && (reply as Error).message.startsWith("PARTIAL ");
}
