/**
 * Key layout on a real Redis, checked with raw commands: the 0.2.2 layout for
 * ordinary ids, the reserved `idx:` namespace, the `%` escape, and names/ids
 * full of characters that are special to glob patterns, hash tags or C strings.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import { RedisSagaStore, type SagaStore } from "../src/index";
import { redisEngine, sagaBusState } from "./support/stores";

const engine = redisEngine();
afterAll(() => engine.closeAll());

async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  return (await redis.keys(`${prefix}*`)).sort();
}

describe("key layout for ordinary ids (0.2.2 compatible)", () => {
  it("insert writes exactly {prefix}saga:{name}:{correlationId} (envelope) and {prefix}saga:{name}:idx:id:{sagaId} (correlation id)", async () => {
    const { store, prefix, redis } = await engine.open();
    await store.insert("OrderSaga", "order-123", sagaBusState("saga-456", { orderId: "order-123" }));

    const valueKey = `${prefix}saga:OrderSaga:order-123`;
    const indexKey = `${prefix}saga:OrderSaga:idx:id:saga-456`;
    expect(await keysUnder(redis!, prefix)).toEqual([indexKey, valueKey].sort());
    expect(await redis!.type(valueKey)).toBe("string");
    expect(await redis!.type(indexKey)).toBe("string");
    expect(await redis!.get(indexKey)).toBe("order-123");
    const value = (await redis!.getBuffer(valueKey))!;
    expect(value[0]).toBe(0xfe);
    expect(value[1]).toBe(1);
    expect(value.readUInt32BE(8)).toBe(0);
  });

  it("save (seed shape) uses the same two keys and keeps them on update", async () => {
    const { store, prefix, redis } = await engine.open();
    const v0 = await store.save("OrderSaga", { id: "saga-456", correlationId: "order-123", status: "running", data: {}, metadata: {} });
    await store.save("OrderSaga", { ...v0, status: "done" });
    const valueKey = `${prefix}saga:OrderSaga:order-123`;
    const indexKey = `${prefix}saga:OrderSaga:idx:id:saga-456`;
    expect(await keysUnder(redis!, prefix)).toEqual([indexKey, valueKey].sort());
    expect(await redis!.get(indexKey)).toBe("order-123");
    expect((await redis!.getBuffer(valueKey))!.readUInt32BE(8)).toBe(1);
  });

  it("delete and deleteById remove both keys", async () => {
    const { store, prefix, redis } = await engine.open();
    await store.insert("OrderSaga", "c-1", sagaBusState("s-1"));
    await store.insert("OrderSaga", "c-2", sagaBusState("s-2"));
    expect(await keysUnder(redis!, prefix)).toHaveLength(4);
    expect(await store.deleteByCorrelationId("OrderSaga", "c-1")).toBe(true);
    expect(await keysUnder(redis!, prefix)).toEqual([`${prefix}saga:OrderSaga:c-2`, `${prefix}saga:OrderSaga:idx:id:s-2`].sort());
    expect(await store.deleteById("OrderSaga", "s-2")).toBe(true);
    expect(await keysUnder(redis!, prefix)).toEqual([]);
  });

  it("an insert that loses to an existing correlation id leaves no index key for its saga id", async () => {
    const { store, prefix, redis } = await engine.open();
    await store.insert("OrderSaga", "c-1", sagaBusState("winner"));
    await expect(store.insert("OrderSaga", "c-1", sagaBusState("loser"))).rejects.toMatchObject({ code: "SAGA_ALREADY_EXISTS" });
    await expect(store.save("OrderSaga", { id: "loser-2", correlationId: "c-1", status: "new", data: {} })).rejects.toMatchObject({
      code: "SAGA_ALREADY_EXISTS",
    });
    expect(await keysUnder(redis!, prefix)).toEqual([`${prefix}saga:OrderSaga:c-1`, `${prefix}saga:OrderSaga:idx:id:winner`].sort());
    expect(await redis!.get(`${prefix}saga:OrderSaga:idx:id:winner`)).toBe("c-1");
  });

  it('the default key prefix is "saga-bus:"', async () => {
    const redis = new Redis(inject("redisUrl"));
    // The default prefix is shared, so isolate by a unique saga name and clean up.
    const sagaName = `KeyLayoutDefault${randomUUID().slice(0, 8)}`;
    const valueKey = `saga-bus:saga:${sagaName}:c-1`;
    const indexKey = `saga-bus:saga:${sagaName}:idx:id:s-1`;
    try {
      const store = new RedisSagaStore({ redis });
      await store.initialize();
      await store.insert(sagaName, "c-1", sagaBusState("s-1"));
      expect(await redis.exists(valueKey, indexKey)).toBe(2);
      expect(await redis.get(indexKey)).toBe("c-1");
      expect(await store.deleteById(sagaName, "s-1")).toBe(true);
      expect(await redis.exists(valueKey, indexKey)).toBe(0);
    } finally {
      await redis.del(valueKey, indexKey);
      await redis.quit();
    }
  });
});

describe("the reserved idx: namespace", () => {
  const orders = [
    ["saga s1 first", ["s1", "x1"]],
    ["the idx:id:s1 saga first", ["x1", "s1"]],
  ] as const;

  it.each(orders)("a correlation id 'idx:id:s1' never touches saga s1's index key (%s)", async (_label, order) => {
    const { store, prefix, redis } = await engine.open();
    const sagas = {
      s1: { correlationId: "order-1", state: sagaBusState("s1", { who: "s1" }) },
      x1: { correlationId: "idx:id:s1", state: sagaBusState("x1", { who: "x1" }) },
    };
    for (const id of order) await store.insert("OrderSaga", sagas[id].correlationId, sagas[id].state);

    const s1Index = `${prefix}saga:OrderSaga:idx:id:s1`;
    expect(await redis!.get(s1Index)).toBe("order-1");
    expect(await redis!.get(`${prefix}saga:OrderSaga:idx:id:x1`)).toBe("idx:id:s1");
    // The colliding correlation id lives at its escaped key.
    expect(await redis!.exists(`${prefix}saga:OrderSaga:%69dx:id:s1`)).toBe(1);
    expect(await keysUnder(redis!, prefix)).toHaveLength(4);

    for (const [id, { correlationId }] of Object.entries(sagas)) {
      expect((await store.findByCorrelationId("OrderSaga", correlationId))!.who).toBe(id);
      expect((await store.findById("OrderSaga", id))!.who).toBe(id);
    }
    // Updates of either leave the other alone.
    const x1 = (await store.findById("OrderSaga", "x1"))!;
    await store.update("OrderSaga", { ...x1, who: "x1-updated" }, 0);
    const s1 = (await store.findById("OrderSaga", "s1"))!;
    await store.update("OrderSaga", { ...s1, who: "s1-updated" }, 0);
    expect(await redis!.get(s1Index)).toBe("order-1");
    expect((await store.findByCorrelationId("OrderSaga", "idx:id:s1"))!.who).toBe("x1-updated");
    expect((await store.findByCorrelationId("OrderSaga", "order-1"))!.who).toBe("s1-updated");

    // Deleting the idx: saga keeps s1.
    expect(await store.deleteByCorrelationId("OrderSaga", "idx:id:s1")).toBe(true);
    expect((await store.findById("OrderSaga", "s1"))!.who).toBe("s1-updated");
    expect(await keysUnder(redis!, prefix)).toEqual([`${prefix}saga:OrderSaga:order-1`, s1Index].sort());
  });

  it("a saga id that looks like a correlation id path does not collide with value keys", async () => {
    const { store, prefix, redis } = await engine.open();
    // Index key of saga "x" is ...:idx:id:x; a correlation id "idx:id:x" would have been the same key in 0.2.2.
    await store.insert("OrderSaga", "idx:id:x", sagaBusState("y", { who: "y" }));
    await store.insert("OrderSaga", "c-x", sagaBusState("x", { who: "x" }));
    await store.insert("OrderSaga", "c-colon", sagaBusState("a:b:c", { who: "colon" }));
    expect(await redis!.get(`${prefix}saga:OrderSaga:idx:id:x`)).toBe("c-x");
    expect(await redis!.get(`${prefix}saga:OrderSaga:idx:id:a:b:c`)).toBe("c-colon");
    expect((await store.findById("OrderSaga", "x"))!.who).toBe("x");
    expect((await store.findById("OrderSaga", "y"))!.who).toBe("y");
    expect((await store.findById("OrderSaga", "a:b:c"))!.who).toBe("colon");
    expect((await store.findByCorrelationId("OrderSaga", "idx:id:x"))!.who).toBe("y");
  });
});

describe("escaping of correlation ids starting with % or idx:", () => {
  const cases: Array<[correlationId: string, storedAs: string]> = [
    ["%abc", "%25abc"],
    ["%", "%25"],
    ["%25", "%2525"],
    ["%69dx:foo", "%2569dx:foo"],
    ["idx:foo", "%69dx:foo"],
    ["idx:", "%69dx:"],
    ["idx:id:other", "%69dx:id:other"],
    // Not escaped: only a leading % or a leading "idx:" is.
    ["idx", "idx"],
    ["i", "i"],
    ["idx-1", "idx-1"],
    ["a%b", "a%b"],
    ["xidx:1", "xidx:1"],
    ["IDX:1", "IDX:1"],
  ];

  it("each id is stored at its escaped key, the index holds the raw id, and all of them coexist and round-trip", async () => {
    const { store, prefix, redis } = await engine.open();
    for (const [i, [correlationId]] of cases.entries()) {
      await store.save("OrderSaga", { id: `s-${i}`, correlationId, status: "running", data: { i } });
    }
    for (const [i, [correlationId, storedAs]] of cases.entries()) {
      expect(await redis!.exists(`${prefix}saga:OrderSaga:${storedAs}`), storedAs).toBe(1);
      expect(await redis!.get(`${prefix}saga:OrderSaga:idx:id:s-${i}`)).toBe(correlationId);
      const byCorrelation = (await store.findByCorrelationId("OrderSaga", correlationId))!;
      expect(byCorrelation.data.i).toBe(i);
      expect(byCorrelation.correlationId).toBe(correlationId);
      expect((await store.findById("OrderSaga", `s-${i}`))!.data.i).toBe(i);
    }
    // Exactly one value key per case plus one index key each: no two ids shared a key.
    const keys = await keysUnder(redis!, prefix);
    expect(keys).toHaveLength(cases.length * 2);
    const expectedValueKeys = cases.map(([, storedAs]) => `${prefix}saga:OrderSaga:${storedAs}`).sort();
    expect(keys.filter((key) => !key.startsWith(`${prefix}saga:OrderSaga:idx:id:`)).sort()).toEqual(expectedValueKeys);

    // Update through the escaped key, then delete half by correlation id and half by id.
    for (const [i, [correlationId]] of cases.entries()) {
      const updated = await store.modify("OrderSaga", correlationId, (s) => ({ ...s, data: { ...s.data, touched: true } }));
      expect(updated.version).toBe(1);
      expect(await (i % 2 === 0 ? store.deleteByCorrelationId("OrderSaga", correlationId) : store.deleteById("OrderSaga", `s-${i}`))).toBe(true);
      for (const [j, [other]] of cases.entries()) {
        if (j <= i) continue;
        expect((await store.findByCorrelationId("OrderSaga", other))!.data.i, `after deleting ${correlationId}`).toBe(j);
      }
    }
    expect(await keysUnder(redis!, prefix)).toEqual([]);
  });
});

describe("special characters in saga names and ids", () => {
  const names = ["Order Saga", "{Order}", "Order*", "Order?", "Order[1]", "Line\nBreak", "Nul\0Saga", "Emoji😀Saga", "Order"];
  const ids = ["id with spaces", "{tag}", "*", "?", "[a-z]", "multi\nline", "nul\0id", "😀🎉", "a*b?c[d]{e}", "plain"];

  async function seedAll(store: SagaStore) {
    const all: Array<{ name: string; id: string; correlationId: string; tag: string }> = [];
    for (const name of names) {
      for (const id of ids) {
        const entry = { name, id: `s:${id}`, correlationId: `c ${id}`, tag: `${name}|${id}` };
        await store.save(name, { id: entry.id, correlationId: entry.correlationId, status: "running", data: { tag: entry.tag } });
        all.push(entry);
      }
    }
    return all;
  }

  it("every (name, id) pair round-trips through save / findByCorrelationId / findById on its own keys", async () => {
    const { store, prefix, redis } = await engine.open();
    const all = await seedAll(store);
    const keys = await keysUnder(redis!, prefix);
    expect(keys).toHaveLength(all.length * 2);
    for (const { name, id, correlationId, tag } of all) {
      expect(keys).toContain(`${prefix}saga:${name}:${correlationId}`);
      expect(await redis!.get(`${prefix}saga:${name}:idx:id:${id}`)).toBe(correlationId);
      expect((await store.findByCorrelationId(name, correlationId))!.data.tag).toBe(tag);
      expect((await store.findById(name, id))!.data.tag).toBe(tag);
    }
  });

  it("deleting some of them never touches the others", async () => {
    const { store, prefix, redis } = await engine.open();
    const all = await seedAll(store);
    const deleted = all.filter((_, i) => i % 3 !== 2);
    for (const [i, entry] of deleted.entries()) {
      expect(await (i % 2 === 0 ? store.deleteByCorrelationId(entry.name, entry.correlationId) : store.deleteById(entry.name, entry.id))).toBe(true);
    }
    const kept = all.filter((_, i) => i % 3 === 2);
    for (const { name, id, correlationId, tag } of kept) {
      expect((await store.findByCorrelationId(name, correlationId))!.data.tag).toBe(tag);
      expect((await store.findById(name, id))!.data.tag).toBe(tag);
    }
    for (const { name, id, correlationId } of deleted) {
      expect(await store.findByCorrelationId(name, correlationId)).toBeNull();
      expect(await store.findById(name, id)).toBeNull();
    }
    expect(await keysUnder(redis!, prefix)).toHaveLength(kept.length * 2);
  });
});
