import type { RedisSagaStore } from "../redis-store";
import type { CommonOptions } from "./args";
import { openStore } from "./connect";
import type { CommandName } from "./help";

/** Run `work` on a store opened from the common options, closing store and client whatever happens. */
export async function withStore<T>(command: CommandName, common: CommonOptions, writes: boolean, work: (store: RedisSagaStore) => Promise<T>): Promise<T> {
  const opened = await openStore(command, common, writes);
  try {
    return await work(opened.store);
  } finally {
    await opened.close();
  }
}

/** The saga names given, or every saga name under the prefix. */
export async function sagaNamesOrAll(store: RedisSagaStore, given: string[]): Promise<string[]> {
  return given.length > 0 ? given : store.sagaNames();
}
