/**
 * Encryption at rest (README "Encryption at rest") on every engine and
 * codec: nothing of a secret reaches the stored bytes, any change to a
 * stored value is refused, keys rotate beside live writers.
 */
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { FLAG_ENCRYPTED, HEADER_SIZE, OFFSET } from "../codecs/envelope";
import { InMemorySagaStore, type EncryptionKeyRing, type EncryptionOptions, type SagaStore } from "../src/index";
import { clusterEngine, memoryEngine, openBeside, rawAccess, redisEngine, sagaBusState, type StoreHarness } from "./support/stores";
import { valueKeyOf } from "./support/key-layout";

const SAGA = "PaymentSaga";
const SECRET = "4111 1111 1111 1111, Jane Q. Public, 1 Infinite Loop";
const k1 = randomBytes(32);
const k2 = randomBytes(32);
const ringK1: EncryptionOptions = { currentKeyId: "k1", keys: { k1 } };
const ringBoth: EncryptionOptions = { currentKeyId: "k1", keys: { k1, k2 } };
const ringK2: EncryptionOptions = { currentKeyId: "k2", keys: { k1, k2 } };

const payment = (sagaId: string, fields: Record<string, unknown> = {}) => sagaBusState(sagaId, { cardHolder: SECRET, amount: 129.5, ...fields });
const rejection = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error as { code?: string; message?: string; cause?: unknown });

const harnesses: StoreHarness[] = [memoryEngine(), redisEngine(), clusterEngine()];
afterAll(() => Promise.all(harnesses.map((h) => h.closeAll())));

describe.each(harnesses.map((h) => [h.name, h] as const))("encryption on %s", (_name, harness) => {
  describe.each(["json", "superjson", "msgpack"] as const)("%s codec", (codec) => {
    it("no 4-byte run of the secret, nor the field's name, is in the stored bytes; reads give the state back", async () => {
      const opened = await harness.open({ codec, encryption: ringK1 });
      await opened.store.insert(SAGA, "p-1", payment("s-1"));
      const raw = (await rawAccess(opened.store).get(valueKeyOf(opened.prefix, SAGA, "p-1")))!;
      expect(raw[OFFSET.flags]! & FLAG_ENCRYPTED).toBe(FLAG_ENCRYPTED);
      for (let i = 0; i + 4 <= SECRET.length; i++) expect(raw.includes(SECRET.slice(i, i + 4)), SECRET.slice(i, i + 4)).toBe(false);
      expect(raw.includes("cardHolder")).toBe(false);
      const read = await opened.store.findByCorrelationId(SAGA, "p-1");
      expect(read).toMatchObject({ cardHolder: SECRET, amount: 129.5, metadata: { sagaId: "s-1", version: 0 } });
      expect((read as { metadata: { createdAt: unknown } }).metadata.createdAt).toBeInstanceOf(Date);
    });

    it("every header byte changed, and the key id, IV, ciphertext and tag changed, are refused; the stored bytes stay as they were", async () => {
      const opened = await harness.open({ codec, encryption: ringK1 });
      await opened.store.insert(SAGA, "p-1", payment("s-1"));
      const key = valueKeyOf(opened.prefix, SAGA, "p-1");
      const raw = rawAccess(opened.store);
      const original = (await raw.get(key))!;
      const keyIdEnd = HEADER_SIZE + 1 + original[HEADER_SIZE]!;
      const positions = [...Array.from({ length: keyIdEnd }, (_, i) => i), keyIdEnd, keyIdEnd + 11, keyIdEnd + 12, original.length - 17, original.length - 1];
      for (const at of positions) {
        const tampered = Buffer.from(original);
        tampered[at] = tampered[at]! ^ 0x01;
        await raw.set(key, tampered);
        const error = await rejection(opened.store.findByCorrelationId(SAGA, "p-1"));
        // A changed key id (or its length) names a key the ring lacks; any other change fails the check.
        const expected = at >= HEADER_SIZE && at < keyIdEnd ? "ENCRYPTION_KEY_UNKNOWN" : "DECODE_FAILED";
        expect(error?.code, `byte ${at}`).toBe(expected);
        // Bytes 0-3 (magic, format, codec, flags) may be refused before the cipher is reached.
        if (at >= OFFSET.schemaVersion && expected === "DECODE_FAILED") expect(error?.message, `byte ${at}`).toMatch(/integrity check failed/);
        expect((await raw.get(key))!.equals(tampered), `byte ${at}`).toBe(true);
      }
      await raw.set(key, original);
      expect(await opened.store.findByCorrelationId(SAGA, "p-1")).toMatchObject({ cardHolder: SECRET });
    });

    it("a payload swapped between two sagas fails authentication on both", async () => {
      const opened = await harness.open({ codec, encryption: ringK1 });
      await opened.store.insert(SAGA, "p-1", payment("s-1"));
      await opened.store.insert(SAGA, "p-2", payment("s-2", { amount: 7 }));
      const raw = rawAccess(opened.store);
      const [keyA, keyB] = ["p-1", "p-2"].map((id) => valueKeyOf(opened.prefix, SAGA, id)) as [string, string];
      const [a, b] = [(await raw.get(keyA))!, (await raw.get(keyB))!];
      await raw.set(keyA, Buffer.concat([a.subarray(0, HEADER_SIZE), b.subarray(HEADER_SIZE)]));
      await raw.set(keyB, Buffer.concat([b.subarray(0, HEADER_SIZE), a.subarray(HEADER_SIZE)]));
      for (const id of ["p-1", "p-2"]) {
        const error = await rejection(opened.store.findByCorrelationId(SAGA, id));
        expect(error).toMatchObject({ code: "DECODE_FAILED" });
        expect(error?.message).toMatch(/integrity check failed/);
      }
    });
  });

  it("a value under a key the ring lacks: ENCRYPTION_KEY_UNKNOWN naming the key id and the Redis key, on a store with another ring and on one without encryption", async () => {
    const opened = await harness.open({ encryption: ringK1 });
    await opened.store.insert(SAGA, "p-1", payment("s-1"));
    const key = valueKeyOf(opened.prefix, SAGA, "p-1");
    const before = await rawAccess(opened.store).get(key);
    for (const options of [{ encryption: { currentKeyId: "k2", keys: { k2 } } }, {}]) {
      const other = await openBeside(harness, opened, options);
      expect(await rejection(other.findByCorrelationId(SAGA, "p-1"))).toMatchObject({ code: "ENCRYPTION_KEY_UNKNOWN", keyId: "k1", key });
      expect(await rejection(other.modify(SAGA, "p-1", (s) => s))).toMatchObject({ code: "ENCRYPTION_KEY_UNKNOWN" });
    }
    expect((await rawAccess(opened.store).get(key))!.equals(before!)).toBe(true);
  });

  it("values stored before encryption are read, and encrypted on their next save; requireEncrypted refuses them", async () => {
    const opened = await harness.open();
    await opened.store.insert(SAGA, "p-1", payment("s-1"));
    const key = valueKeyOf(opened.prefix, SAGA, "p-1");
    const strict = await openBeside(harness, opened, { encryption: { ...ringK1, requireEncrypted: true } });
    expect(await rejection(strict.findByCorrelationId(SAGA, "p-1"))).toMatchObject({ code: "PLAINTEXT_REFUSED", key });
    // A 0.2.2 value is plaintext too.
    await rawAccess(opened.store).set(valueKeyOf(opened.prefix, SAGA, "legacy"), Buffer.from(JSON.stringify(payment("s-legacy"))));
    expect(await rejection(strict.findByCorrelationId(SAGA, "legacy"))).toMatchObject({ code: "PLAINTEXT_REFUSED" });

    const encrypting = await openBeside(harness, opened, { encryption: ringK1 });
    const saved = await encrypting.modify(SAGA, "p-1", (s) => ({ ...s, amount: 1 }));
    expect(saved).toMatchObject({ amount: 1, metadata: { version: 1 } });
    const raw = (await rawAccess(opened.store).get(key))!;
    expect(raw[OFFSET.flags]! & FLAG_ENCRYPTED).toBe(FLAG_ENCRYPTED);
    expect(await strict.findByCorrelationId(SAGA, "p-1")).toMatchObject({ amount: 1 });
    expect(await encrypting.stats(SAGA)).toMatchObject({ byKeyId: { k1: 1 }, unencrypted: 1 });
  });

  it("rotation beside 32 concurrent modify callers on two rings loses nothing; migrateAll reencrypt leaves every value on the new key", async () => {
    const first = await harness.open({ encryption: ringK1, maxRetries: 100, retryDelayMs: 1, operationTimeoutMs: 60_000 });
    const sagas = Array.from({ length: 8 }, (_, i) => `p-${i}`);
    for (const [i, id] of sagas.entries()) await first.store.insert(SAGA, id, payment(`s-${i}`, { n: 0 }));
    // Step 1 everywhere: both keys, still writing k1. Step 2 on part of the fleet: k2 current.
    const options = { maxRetries: 100, retryDelayMs: 1, operationTimeoutMs: 60_000 };
    const distributed = await openBeside(harness, first, { ...options, encryption: ringBoth });
    const rotated = await openBeside(harness, first, { ...options, encryption: ringK2 });
    const acknowledged = new Map(sagas.map((id) => [id, 0]));
    let running = true;
    const callers = Array.from({ length: 32 }, async (_, c) => {
      const store = c % 2 === 0 ? distributed : rotated;
      for (let round = 0; round < 12; round++) {
        const id = sagas[(c + round) % sagas.length]!;
        await store.modify(SAGA, id, (s: any) => ({ ...s, n: s.n + 1 }));
        acknowledged.set(id, acknowledged.get(id)! + 1);
      }
    });
    let rewrittenMeanwhile = 0;
    const migrations = (async () => {
      while (running) {
        rewrittenMeanwhile += (await rotated.migrateAll(SAGA, { reencrypt: true })).migrated;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    await Promise.all(callers);
    running = false;
    await migrations;
    expect(rewrittenMeanwhile).toBeGreaterThan(0);
    // Step 3: every instance writes k2; the last pass leaves k1 unused.
    const final = await rotated.migrateAll(SAGA, { reencrypt: true });
    expect(final).toMatchObject({ failed: 0, contended: 0, target: { keyId: "k2" } });
    expect(await rotated.stats(SAGA)).toMatchObject({ count: 8, byKeyId: { k2: 8 }, unencrypted: 0 });
    expect((await rotated.migrateAll(SAGA, { reencrypt: true })).migrated).toBe(0);
    const onlyK2 = await openBeside(harness, first, { encryption: { currentKeyId: "k2", keys: { k2 } } });
    for (const id of sagas) expect(((await onlyK2.findByCorrelationId(SAGA, id)) as any).n).toBe(acknowledged.get(id));
  }, 120_000);
});

describe("encryption options", () => {
  it("keys must be 32 bytes, the current key one of them, and writeFormat 0.2.2 cannot encrypt: INVALID_OPTIONS at construction", () => {
    const bad: EncryptionOptions[] = [
      { currentKeyId: "k1", keys: { k1: randomBytes(16) } },
      { currentKeyId: "k3", keys: { k1 } },
      { currentKeyId: "", keys: { "": k1 } },
      { currentKeyId: "x".repeat(256), keys: { ["x".repeat(256)]: k1 } },
    ];
    for (const encryption of bad) expect(() => new InMemorySagaStore({ encryption })).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS" }));
    expect(() => new InMemorySagaStore({ encryption: ringK1, writeFormat: "0.2.2" })).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS" }));
  });

  it("a key provider is loaded at the start, kept, and loaded again when a value names a key it lacked", async () => {
    let loads = 0;
    let ring: EncryptionKeyRing = { currentKeyId: "k1", keys: { k1 } };
    const writer = new InMemorySagaStore({ encryption: ringK2 });
    const provider = async () => {
      loads++;
      return ring;
    };
    const reader: SagaStore = new InMemorySagaStore({ encryption: { provider } });
    await reader.initialize();
    expect(loads).toBe(1);
    await reader.insert(SAGA, "p-1", payment("s-1"));
    await reader.findByCorrelationId(SAGA, "p-1");
    expect(loads).toBe(1);
    // A value under k2 appears (as from an instance that already rotated); the provider now has k2.
    await writer.insert(SAGA, "p-2", payment("s-2"));
    const bytes = (await rawAccess(writer).get("saga-bus:saga:PaymentSaga:p-2"))!;
    await rawAccess(reader).set("saga-bus:saga:PaymentSaga:p-2", bytes);
    ring = { currentKeyId: "k2", keys: { k1, k2 } };
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await reader.findByCorrelationId(SAGA, "p-2")).toMatchObject({ cardHolder: SECRET });
    expect(loads).toBe(2);
  });
});
