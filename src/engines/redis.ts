import type { Cluster, Redis } from "ioredis";
import type { DeleteRequest, DeleteStatus, InsertRequest, OrphanIndexRequest, ReplaceRequest, SagaEngine, StoredEntry, TakeRequest, WriteRequest, WriteResult, WriteStatus } from "../engine";
import { EvictionPolicyError, ReplicationTimeoutError, SagaStoreError, WriteOutcomeUnknownError } from "../errors";
import { beforeDeadline } from "../deadline";
import { LuaScript } from "../lua-script";
import { isWrittenInPart, toStoreError } from "./redis-errors";
import { neededCommands, refuseMissingPermissions } from "./redis-permissions";

let scripts:
  | {
      write: LuaScript;
      deleteOwned: LuaScript;
      deleteIndex: LuaScript;
      extendIndex: LuaScript;
      trimIndex: LuaScript;
      claimIndex: LuaScript;
      retract: LuaScript;
      checkPermissions: LuaScript;
      replaceValues: LuaScript;
      readKeys: LuaScript;
      dropOrphanIndex: LuaScript;
    }
  | undefined;
function loadScripts() {
  scripts ??= {
    write: new LuaScript("write"),
    deleteOwned: new LuaScript("delete-owned"),
    deleteIndex: new LuaScript("delete-index"),
    extendIndex: new LuaScript("extend-index"),
    trimIndex: new LuaScript("trim-index"),
    claimIndex: new LuaScript("claim-index"),
    retract: new LuaScript("retract"),
    checkPermissions: new LuaScript("check-permissions"),
    replaceValues: new LuaScript("replace-values"),
    readKeys: new LuaScript("read-keys"),
    dropOrphanIndex: new LuaScript("drop-orphan-index"),
  };
  return scripts;
}

/** Wait for this many replicas to acknowledge each write, at most timeoutMs (Redis WAIT). */
export interface Durability {
  replicas: number;
  timeoutMs: number;
}

export type Argument = string | Buffer | number;

/**
 * What the standalone and the Cluster engine share: the connection (its
 * epoch, durability, scripts by SHA), reads, deleteByCorrelationId and SCAN.
 * They differ in where a saga's index is kept in step with its value:
 * src/engines/redis-standalone.ts, src/engines/redis-cluster.ts.
 */
export abstract class RedisEngine implements SagaEngine {
  connectionEpoch = 0;
  /**
   * A standalone client's commandTimeout covers a command from the moment it
   * is issued, offline queue included. A Cluster's does not: a command can
   * wait in the Cluster's own queue before a node connection sees it.
   */
  readonly commandTimeoutMs: number | undefined;
  protected readonly scripts = loadScripts();
  private readonly onConnectionLost = () => {
    this.connectionEpoch++;
  };
  private readonly watchedNodes = new Set<Redis>();
  private readonly durableConnections = new Set<Redis | Cluster>();
  private readonly idleDurable: (Redis | Cluster)[] = [];
  private readonly watchNode = (node: Redis) => {
    if (this.watchedNodes.has(node)) return;
    this.watchedNodes.add(node);
    makeRoomForListener(node, 1);
    node.on("close", this.onConnectionLost);
  };

  private readonly durability: Durability | undefined;
  private readonly allowEviction: boolean;
  private readonly keysPrefix: string;

  constructor(
    readonly client: Redis | Cluster,
    private readonly ownsClient: boolean,
    /** keysPrefix: what every key of the store starts with, for the start's permission check. */
    options: { durability?: Durability; allowEviction?: boolean; keysPrefix?: string } = {},
  ) {
    this.durability = options.durability;
    this.allowEviction = options.allowEviction === true;
    this.keysPrefix = options.keysPrefix ?? "";
    const commandTimeout = isCluster(client) ? undefined : client.options.commandTimeout;
    this.commandTimeoutMs = typeof commandTimeout === "number" && commandTimeout > 0 ? commandTimeout : undefined;
    makeRoomForListener(client, 1);
    if (isCluster(client)) {
      // A Cluster re-sends commands after failovers and reconnects to each node on its own.
      client.on("+node", this.watchNode);
      client.on("-node", this.onConnectionLost);
      client.on("node error", this.onConnectionLost);
      for (const node of client.nodes()) this.watchNode(node);
    } else {
      client.on("close", this.onConnectionLost);
    }
  }

  async initialize(): Promise<void> {
    await this.guard("initialize", undefined, false, async () => {
      if (isCluster(this.client) && this.client.status !== "ready") {
        if (this.client.status === "wait") await this.client.connect();
        else await new Promise<void>((resolve, reject) => {
          this.client.once("ready", resolve);
          this.client.once("error", reject);
        });
      } else if (this.ownsClient) {
        await untilReady(this.client as Redis);
      }
      const masters = isCluster(this.client) ? this.client.nodes("master") : [this.client];
      await this.checkPermissions(masters);
      if (!this.allowEviction) await Promise.all(masters.map(refuseEviction));
      await Promise.all(masters.flatMap((node) => Object.values(this.scripts).map((script) => node.script("LOAD", script.source))));
    });
  }

  async close(): Promise<void> {
    const client = this.client;
    client.off("close", this.onConnectionLost);
    client.off("+node", this.watchNode);
    client.off("-node", this.onConnectionLost);
    client.off("node error", this.onConnectionLost);
    for (const node of this.watchedNodes) {
      node.off("close", this.onConnectionLost);
      makeRoomForListener(node, -1);
    }
    this.watchedNodes.clear();
    makeRoomForListener(client, -1);
    const durable = [...this.durableConnections];
    this.durableConnections.clear();
    this.idleDurable.length = 0;
    for (const connection of durable) {
      connection.off("close", this.onConnectionLost);
      connection.disconnect();
    }
    if (!this.ownsClient) return;
    // QUIT needs a live connection; one still connecting or retrying is simply dropped (no more reconnects).
    if (client.status === "ready") await beforeDeadline(client.quit(), Date.now() + 1_000, () => new Error("QUIT unanswered")).catch(() => client.disconnect());
    else client.disconnect();
  }

  getValue(key: string): Promise<Buffer | null> {
    return this.client.getBuffer(key).catch(failure("GET", key, false));
  }

  getIndex(key: string): Promise<string | null> {
    return this.client.get(key).catch(failure("GET", key, false));
  }

  abstract insert(request: InsertRequest): Promise<WriteResult>;
  abstract update(request: WriteRequest): Promise<WriteResult>;
  abstract deleteOwned(request: DeleteRequest): Promise<DeleteStatus>;

  async take({ valueKey, correlationId, indexKeyOf }: TakeRequest): Promise<Buffer | null> {
    const value = (await this.send("GETDEL", valueKey, "getdelBuffer", [valueKey])) as Buffer | null;
    const indexKey = value && indexKeyOf(value);
    if (indexKey) await this.dropIndex(indexKey, correlationId);
    return value;
  }

  async *scanPrefix(prefix: string): AsyncIterable<string[]> {
    // ioredis prefixes a command's key arguments with the client's keyPrefix, but SCAN has none: add it to
    // the pattern and take it off the keys, so the store sees the same names as everywhere else.
    const clientPrefix = this.client.options.keyPrefix ?? "";
    const match = (clientPrefix + prefix).replace(/[*?[\]\\]/g, "\\$&") + "*";
    const masters = isCluster(this.client) ? this.client.nodes("master") : [this.client];
    for (const node of masters) {
      let cursor = "0";
      do {
        const [next, keys] = await this.guard("SCAN", undefined, false, () => node.scan(cursor, "MATCH", match, "COUNT", 1000));
        cursor = next;
        if (keys.length > 0) yield clientPrefix ? keys.map((key) => key.slice(clientPrefix.length)) : keys;
      } while (cursor !== "0");
    }
  }

  /**
   * A standalone server reads the whole batch in one read-keys.lua. A
   * Cluster's keys hash to many slots, which no one command or ioredis
   * pipeline can span: each key's GET and PTTL go out as a pipeline of their
   * own, all at once.
   */
  async readEntries(keys: readonly string[], limitBytes?: number): Promise<StoredEntry[]> {
    if (keys.length === 0) return [];
    const operation = limitBytes === undefined ? "GET" : "GETRANGE";
    if (!isCluster(this.client)) {
      const replies = (await this.readScript(this.scripts.readKeys, keys, [limitBytes ?? 0])) as (Buffer | number | null)[];
      return keys.map((_, i) => ({ bytes: replies[2 * i] as Buffer | null, ttlMs: replies[2 * i + 1] as number }));
    }
    return Promise.all(
      keys.map(async (key) => {
        const pipeline = this.client.pipeline();
        if (limitBytes === undefined) pipeline.getBuffer(key);
        else pipeline.getrangeBuffer(key, 0, limitBytes - 1);
        pipeline.pttl(key);
        const replies = (await pipeline.exec().catch(failure(operation, key, false)))!;
        const [readError, bytes] = replies[0]!;
        const [ttlError, ttlMs] = replies[1]!;
        const error = readError ?? ttlError;
        if (error) throw toStoreError(error, operation, key, false);
        // Gone by the time its expiry was asked (or missing: GETRANGE then gives "").
        return ttlMs === -2 ? { bytes: null, ttlMs: -2 } : { bytes: bytes as Buffer | null, ttlMs: ttlMs as number };
      }),
    );
  }

  /** replace-values.lua's arguments for some requests: keys and arguments, in its order. */
  protected replaceArguments(requests: readonly ReplaceRequest[], withIndex: boolean): { keys: string[]; args: Argument[] } {
    const keys: string[] = [];
    const args: Argument[] = [];
    for (const { valueKey, expected, replacement, indexKey, correlationId } of requests) {
      keys.push(valueKey, withIndex && !replacement && indexKey ? indexKey : valueKey);
      args.push(expected, replacement ? "set" : "delete", replacement ?? correlationId);
    }
    return { keys, args };
  }

  /** A read-only script whose reply holds binary values: by SHA, its source after NOSCRIPT; never with durability's WAIT. */
  private readScript(script: LuaScript, keys: readonly string[], args: Argument[]): Promise<unknown> {
    const client = this.client as unknown as Record<"evalshaBuffer" | "evalBuffer", (...a: Argument[]) => Promise<unknown>>;
    const key = keys[0];
    return client.evalshaBuffer(script.sha, keys.length, ...keys, ...args).catch((error: unknown) => {
      if (!isNoScript(error)) throw toStoreError(error, script.name, key, false);
      return client.evalBuffer(script.source, keys.length, ...keys, ...args).catch(failure(script.name, key, false));
    });
  }

  abstract replaceValues(requests: readonly ReplaceRequest[]): Promise<boolean[]>;
  abstract dropOrphanIndex(request: OrphanIndexRequest): Promise<boolean>;

  /**
   * Run write.lua: its reply as a WriteResult. Given the request (a write
   * with its index, KEYS[2]), a value written before the index command was
   * refused is WriteOutcomeUnknownError naming the saga.
   */
  protected runWrite(keys: string[], args: Argument[], request?: WriteRequest): Promise<WriteResult> {
    return this.runScript(this.scripts.write, keys, args).then(
      toWriteResult,
      (error: unknown) => {
        if (!request || !isWrittenInPart(error)) throw error;
        throw new WriteOutcomeUnknownError(request.sagaName, request.sagaId, request.valueKey, {
          cause: error,
          reason: "was applied, but Redis then refused the command keeping its id index in step (a server the script cannot ask its ACL first); reload before deciding",
        });
      },
    );
  }

  /**
   * Run a script whose reply the caller needs even when, with durability,
   * too few replicas confirmed it: the command ran on the primary, so its
   * reply is known, and the ReplicationTimeoutError (`unconfirmed`) is the
   * caller's to report once its other steps are done.
   */
  protected async runScriptUnconfirmed(script: LuaScript, keys: string[], args: Argument[]): Promise<{ reply: unknown; unconfirmed?: ReplicationTimeoutError }> {
    try {
      return { reply: await this.runScript(script, keys, args) };
    } catch (error) {
      if (error instanceof ReplicationTimeoutError && unconfirmedReplies.has(error)) return { reply: unconfirmedReplies.get(error), unconfirmed: error };
      throw error;
    }
  }

  /**
   * Drop an index that still points at a deleted saga. Its failure is not
   * the caller's: a stale index is harmless (findById checks the value it
   * leads to, an insert of the saga id replaces it).
   */
  protected async dropIndex(indexKey: string, correlationId: string): Promise<void> {
    await this.runScript(this.scripts.deleteIndex, [indexKey], [correlationId]).catch(() => undefined);
  }

  /** Run a script by SHA; on NOSCRIPT (cache lost: restart, failover, SCRIPT FLUSH) nothing ran, so send the source. */
  protected runScript(script: LuaScript, keys: string[], args: Argument[]): Promise<unknown> {
    const key = keys[0]!;
    const withSource = () => this.send(script.name, key, "eval", [script.source, keys.length, ...keys, ...args]);
    if (!this.durability) {
      // The common case in one rejection handler: NOSCRIPT, else the typed error.
      const client = this.client as unknown as { evalsha(...a: Argument[]): Promise<unknown> };
      return client.evalsha(script.sha, keys.length, ...keys, ...args).catch((error: unknown) => {
        if (isNoScript(error)) return withSource();
        throw toStoreError(error, script.name, key, true);
      });
    }
    return this.send(script.name, key, "evalsha", [script.sha, keys.length, ...keys, ...args]).catch((error: unknown) => {
      if (isNoScript(error instanceof SagaStoreError ? error.cause : error)) return withSource();
      throw error;
    });
  }

  /**
   * Send one write command. With durability on, WAIT follows it in the same
   * pipeline, so it reaches the node that owns the key, even on a Cluster.
   */
  protected send(operation: string, key: string, command: string, args: Argument[]): Promise<unknown> {
    if (!this.durability) {
      const client = this.client as unknown as Record<string, (...a: Argument[]) => Promise<unknown>>;
      return client[command]!.apply(this.client, args).catch(failure(operation, key, true));
    }
    return this.sendDurably(operation, key, command, args, this.durability);
  }

  /**
   * A durable write and its WAIT go out on a connection of their own: WAIT
   * blocks the connection it runs on (and counts that connection's writes),
   * so on the shared one it would hold up every read and write behind it.
   * One connection per durable write in flight, kept for the next one.
   */
  private async sendDurably(operation: string, key: string, command: string, args: Argument[], { replicas, timeoutMs }: Durability): Promise<unknown> {
    const connection = this.idleDurable.pop() ?? this.openDurable();
    let replies: [Error | null, unknown][] | null;
    try {
      const pipeline = connection.pipeline() as unknown as Record<string, (...a: Argument[]) => unknown> & {
        exec(): Promise<[Error | null, unknown][] | null>;
      };
      pipeline[command]!(...args);
      pipeline.wait!(replicas, timeoutMs);
      replies = await pipeline.exec().catch(failure(operation, key, true));
    } finally {
      if (this.durableConnections.has(connection)) this.idleDurable.push(connection);
    }
    const [[commandError, reply], [waitError, acknowledged]] = replies as [[Error | null, unknown], [Error | null, unknown]];
    if (commandError) {
      // ioredis re-sends a pipeline after a redirect only when every command in it failed; WAIT did not.
      if (isCluster(connection) && /^(MOVED|ASK) /.test(commandError.message)) connection.refreshSlotsCache();
      throw toStoreError(commandError, operation, key, true);
    }
    // The write itself was applied: a WAIT that failed (refused by an ACL, say) confirmed nothing, which is what this error says.
    const unconfirmed = waitError
      ? new ReplicationTimeoutError(operation, key, 0, replicas, timeoutMs, { cause: waitError })
      : (acknowledged as number) < replicas
        ? new ReplicationTimeoutError(operation, key, acknowledged as number, replicas, timeoutMs)
        : undefined;
    if (!unconfirmed) return reply;
    unconfirmedReplies.set(unconfirmed, reply);
    throw unconfirmed;
  }

  private openDurable(): Redis | Cluster {
    const connection: Redis | Cluster = isCluster(this.client) ? this.client.duplicate() : this.client.duplicate();
    // Its failures reach the durable write that uses it, as typed errors.
    connection.on("error", () => undefined);
    connection.on("close", this.onConnectionLost);
    this.durableConnections.add(connection);
    return connection;
  }

  /**
   * MissingPermissionsError, before anything is written, when the user may
   * not run a command the store needs on its keys (on a Cluster: on any
   * primary, each holding its own ACL).
   */
  private async checkPermissions(masters: Redis[]): Promise<void> {
    const key = (this.client.options.keyPrefix ?? "") + this.keysPrefix;
    const cluster = isCluster(this.client);
    const needed = neededCommands({
      key,
      sha: this.scripts.write.sha,
      durability: this.durability !== undefined,
      cluster,
      clusterReadyCheck: cluster && (this.client as Cluster).options.enableReadyCheck !== false,
    });
    await refuseMissingPermissions(masters, this.scripts.checkPermissions, needed, key, (node) => `${node.options.host ?? "?"}:${node.options.port ?? "?"}`);
  }

  private async guard<T>(operation: string, key: string | undefined, isWrite: boolean, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof SagaStoreError) throw error;
      throw toStoreError(error, operation, key, isWrite);
    }
  }
}

/** write.lua's reply as a WriteResult. */
export function toWriteResult(reply: unknown): WriteResult {
  const [status, storedVersion, storedSchemaVersion, previousTtlMs, existingCorrelationId] = reply as [WriteStatus, number, number, number, string?];
  return { status, storedVersion, storedSchemaVersion, previousTtlMs, existingCorrelationId };
}

/** The reply of each durable command that ran but whose WAIT fell short (see runScriptUnconfirmed). */
const unconfirmedReplies = new WeakMap<ReplicationTimeoutError, unknown>();

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith("NOSCRIPT");
}

/** A rejection handler turning whatever ioredis threw into a typed store error. */
function failure(operation: string, key: string | undefined, isWrite: boolean) {
  return (error: unknown): never => {
    throw error instanceof SagaStoreError ? error : toStoreError(error, operation, key, isWrite);
  };
}

/**
 * A client the store created queues nothing while disconnected (see
 * src/redis-store.ts), so a start waits for its connection: through
 * reconnects, until the start's bound, but not past refused credentials.
 */
function untilReady(client: Redis): Promise<void> {
  if (client.status === "ready") return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const onError = (error: unknown) => {
      const typed = toStoreError(error, "initialize", undefined, false);
      if (typed.code !== "REDIS_AUTH_FAILED") return;
      client.off("ready", onReady);
      client.off("error", onError);
      reject(typed);
    };
    const onReady = () => {
      client.off("error", onError);
      resolve();
    };
    client.once("ready", onReady);
    client.on("error", onError);
    if (client.status === "wait") client.connect().catch(() => undefined);
  });
}

/**
 * A server that evicts keys under memory pressure drops sagas or their
 * indexes without an error. Where CONFIG GET is not allowed (managed
 * services often rename or forbid it), the policy cannot be read and the
 * start goes on: the README says what to check by hand.
 */
async function refuseEviction(node: Redis): Promise<void> {
  let policy: string | undefined;
  try {
    const reply = (await node.config("GET", "maxmemory-policy")) as string[];
    policy = reply[1];
  } catch (error) {
    if ((error as Error)?.name === "ReplyError") return;
    throw error;
  }
  if (policy !== undefined && policy !== "noeviction") {
    throw new EvictionPolicyError(`${node.options.host ?? "?"}:${node.options.port ?? "?"}`, policy);
  }
}

/**
 * Each store on a shared client listens to it (and to a Cluster's nodes):
 * its listener limit grows and shrinks with the stores, so many stores on
 * one client raise no MaxListenersExceededWarning. An unlimited (0) limit stays.
 */
function makeRoomForListener(emitter: Redis | Cluster, delta: 1 | -1): void {
  const limit = emitter.getMaxListeners();
  if (limit > 0) emitter.setMaxListeners(Math.max(1, limit + delta));
}

export function isCluster(client: Redis | Cluster): client is Cluster {
  return (client as Cluster).isCluster === true;
}
