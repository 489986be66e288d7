import { RedisAuthError, RedisCommandError, RedisOutOfMemoryError, RedisUnavailableError, type SagaStoreError } from "../errors";

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
  const refusal = authRefusal(err) ?? authRefusal((err as { lastNodeError?: Error })?.lastNodeError);
  if (refusal) return new RedisAuthError(operation, key, { cause: refusal });
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
