/**
 * Key prefixes never nest: a prefix holding "saga:" lies inside the keys of
 * a shorter one (src/keys.ts), so it is refused at construction unless the
 * caller accepts it; every other pair of prefixes keeps two stores apart,
 * which the property below checks on the key layout and the stores below on
 * real Redis and the memory engine.
 */
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import { InMemorySagaStore, InvalidOptionsError, RedisSagaStore } from "../src/index";
import { KeyLayout, assertKeyPrefixCannotNest } from "../src/keys";
import { sagaBusState, uniquePrefix } from "./support/stores";

const clients: Redis[] = [];
afterAll(async () => {
  await Promise.all(clients.map((client) => client.quit()));
});
function client(keyPrefix?: string): Redis {
  const redis = new Redis(inject("redisUrl"), keyPrefix === undefined ? {} : { keyPrefix });
  clients.push(redis);
  return redis;
}

describe("a key prefix containing saga: is refused", () => {
  for (const keyPrefix of ["Xn:saga:S:", "saga:", "app:saga:", "orders-saga:"]) {
    it(`${JSON.stringify(keyPrefix)}: INVALID_OPTIONS naming it and the way out, on the memory and the Redis store; allowNestingKeyPrefix accepts it`, () => {
      for (const make of [() => new InMemorySagaStore({ keyPrefix }), () => new RedisSagaStore({ redis: client(), keyPrefix })]) {
        let error: unknown;
        try {
          make();
        } catch (thrown) {
          error = thrown;
        }
        expect(error).toBeInstanceOf(InvalidOptionsError);
        expect((error as Error).message).toContain(JSON.stringify(keyPrefix));
        expect((error as Error).message).toContain("allowNestingKeyPrefix");
      }
      expect(() => new InMemorySagaStore({ keyPrefix, allowNestingKeyPrefix: true })).not.toThrow();
      expect(() => new RedisSagaStore({ redis: client(), keyPrefix, allowNestingKeyPrefix: true })).not.toThrow();
    });
  }

  it("the ioredis client's keyPrefix counts: 't:saga:' on the client, or 't:sa' + 'ga:x:' split between client and store", () => {
    expect(() => new RedisSagaStore({ redis: client("t:saga:"), keyPrefix: "" })).toThrow(InvalidOptionsError);
    expect(() => new RedisSagaStore({ redis: client("t:sa"), keyPrefix: "ga:x:" })).toThrow(/"t:saga:x:"/);
    expect(() => new RedisSagaStore({ connection: { keyPrefix: "t:saga:", lazyConnect: true }, keyPrefix: "" })).toThrow(InvalidOptionsError);
    expect(() => new RedisSagaStore({ redis: client("t:"), keyPrefix: "app:" })).not.toThrow();
  });
});

describe("prefixes the store accepts never share a key", () => {
  // Few pieces, so that "saga:", its near-misses and one prefix inside another are common.
  const text = fc.array(fc.constantFrom("saga:", "saga", "sag", "s", "a", ":", "x", "S", "idx:"), { maxLength: 5 }).map((pieces) => pieces.join(""));
  const accepted = (prefix: string) => {
    try {
      assertKeyPrefixCannotNest(prefix, false);
      return true;
    } catch {
      return false;
    }
  };
  const name = text.filter((n) => n.length > 0 && !n.includes(":"));
  const id = text.filter((i) => i.length > 0);

  it("no value or index key of one prefix lies in another prefix's key space of any saga name (50,000 cases)", () => {
    fc.assert(
      fc.property(text.filter(accepted), text.filter(accepted), name, name, id, id, (p, q, mine, theirs, correlationId, sagaId) => {
        fc.pre(p !== q);
        const ours = new KeyLayout(p);
        const space = new KeyLayout(q).sagaKeyPrefix(theirs);
        expect(ours.valueKey(mine, correlationId).startsWith(space)).toBe(false);
        expect(ours.indexKey(mine, sagaId).startsWith(space)).toBe(false);
      }),
      { numRuns: 50_000 },
    );
  });

  const pairs: Array<[string, string]> = [
    ["Xn:", "Xn:s"],
    ["Xn:", "Xn:sa"],
    ["Xn:", "Xn:saga"],
    ["Xn:", "Xn:sagas:"],
    ["Xn:", "Xn:S:"],
    ["", "sag"],
  ];
  for (const [shorter, longer] of pairs) {
    it(`Redis: stores with prefixes ${JSON.stringify(shorter)} and ${JSON.stringify(longer)} list, read and delete only their own sagas`, async () => {
      const root = uniquePrefix();
      const a = new RedisSagaStore({ redis: client(), keyPrefix: root + shorter });
      const b = new RedisSagaStore({ redis: client(), keyPrefix: root + longer });
      // Ids shaped like the other store's key remainder: what a nesting prefix would have collided with.
      const ids = ["c", "saga:S:c", "S:c", "s:saga:S:c", "idx:id:x"];
      for (const store of [a, b]) for (const [i, correlationId] of ids.entries()) await store.insert("S", correlationId, sagaBusState(`s-${i}`));
      for (const store of [a, b]) {
        const listed: string[] = [];
        for await (const correlationId of store.scanCorrelationIds("S")) listed.push(correlationId);
        expect(listed.sort()).toEqual([...ids].sort());
      }
      for (const correlationId of ids) expect(await a.deleteByCorrelationId("S", correlationId)).toBe(true);
      for (const [i, correlationId] of ids.entries()) expect((await b.getByCorrelationId("S", correlationId))?.metadata.sagaId).toBe(`s-${i}`);
      for (const [i] of ids.entries()) expect((await b.getById("S", `s-${i}`))?.metadata.sagaId).toBe(`s-${i}`);
    });
  }
});
