import type { Cluster, Redis } from "ioredis";
import { type DeleteStatus, type SagaBackend, type WriteRequest, type WriteResult, type WriteStatus } from "../backend";
import { SagaStoreError } from "../errors";
import { LuaScript } from "../lua-script";
import { toStoreError } from "./redis-errors";

let scripts: { write: LuaScript; refreshIndex: LuaScript; deleteOwned: LuaScript } | undefined;
function loadScripts() {
  scripts ??= { write: new LuaScript("write"), refreshIndex: new LuaScript("refresh-index"), deleteOwned: new LuaScript("delete-owned") };
  return scripts;
}

/** The Redis engine: plain GET/SET for reads and indexes, one Lua script per value write. */
export class RedisBackend implements SagaBackend {
  connectionEpoch = 0;
  private readonly scripts = loadScripts();
  private readonly onClose = () => {
    this.connectionEpoch++;
  };

  constructor(
    readonly client: Redis | Cluster,
    private readonly ownsClient: boolean,
  ) {
    client.on("close", this.onClose);
  }

  async initialize(): Promise<void> {
    const masters = isCluster(this.client) ? this.client.nodes("master") : [this.client];
    await this.guard("initialize", undefined, false, () =>
      Promise.all(masters.flatMap((node) => Object.values(this.scripts).map((script) => node.script("LOAD", script.source)))),
    );
  }

  async close(): Promise<void> {
    this.client.off("close", this.onClose);
    if (this.ownsClient) await this.client.quit().catch(() => this.client.disconnect());
  }

  getValue(key: string): Promise<Buffer | null> {
    return this.guard("GET", key, false, () => this.client.getBuffer(key));
  }

  getIndex(key: string): Promise<string | null> {
    return this.guard("GET", key, false, () => this.client.get(key));
  }

  async writeValue(request: WriteRequest): Promise<WriteResult> {
    const reply = (await this.guard("write", request.key, true, () =>
      this.scripts.write.run(this.client, request.key, [request.expectedVersion, request.envelope, request.ttlMs]),
    )) as [number, number, number, number];
    return { status: reply[0] as WriteStatus, storedVersion: reply[1], storedSchemaVersion: reply[2], previousTtlMs: reply[3] };
  }

  async setIndex(key: string, correlationId: string, ttlMs: number): Promise<void> {
    await this.guard("SET", key, true, () =>
      ttlMs > 0 ? this.client.set(key, correlationId, "PX", ttlMs) : this.client.set(key, correlationId),
    );
  }

  async refreshIndex(key: string, correlationId: string, ttlMs: number): Promise<void> {
    await this.guard("refresh-index", key, true, () => this.scripts.refreshIndex.run(this.client, key, [correlationId, ttlMs]));
  }

  async alignIndexTtl(key: string, ttlMs: number): Promise<void> {
    await this.guard("PEXPIRE", key, true, () => (ttlMs > 0 ? this.client.pexpire(key, ttlMs) : this.client.persist(key)));
  }

  async deleteIndex(key: string): Promise<void> {
    await this.guard("DEL", key, true, () => this.client.del(key));
  }

  takeValue(key: string): Promise<Buffer | null> {
    return this.guard("GETDEL", key, true, () => this.client.getdelBuffer(key));
  }

  async deleteValueOf(key: string, sagaId: string): Promise<DeleteStatus> {
    return (await this.guard("delete", key, true, () => this.scripts.deleteOwned.run(this.client, key, [sagaId]))) as DeleteStatus;
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

function isCluster(client: Redis | Cluster): client is Cluster {
  return (client as Cluster).isCluster === true;
}

