import type { RedisSagaStore } from "../redis-store";
import type { CommonOptions } from "./args";
import type { LongRun } from "./io";
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

/**
 * Run `work` for each saga name given (or every one under the prefix) on one
 * store, one progress line each, until Ctrl-C; the results of those that ran.
 */
export async function forEachSaga<T>(command: CommandName, common: CommonOptions, writes: boolean, given: string[], run: LongRun, work: (store: RedisSagaStore, sagaName: string) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  try {
    await withStore(command, common, writes, async (store) => {
      for (const name of await sagaNamesOrAll(store, given)) {
        if (run.interrupt.interrupted) break;
        results.push(await work(store, name));
        run.endSaga();
      }
    });
  } finally {
    run.finish();
  }
  return results;
}
