import { describe, expect, it } from "vitest";
import { BoundedCache } from "../src/bounded-cache";

describe("BoundedCache", () => {
  it("keeps the most recently set entries and never more than its capacity", () => {
    const cache = new BoundedCache<number, string>(100);
    for (let i = 0; i < 10_000; i++) cache.set(i, `v${i}`);
    const kept = Array.from({ length: 10_000 }, (_, i) => i).filter((i) => cache.get(i) !== undefined);
    expect(kept.length).toBeLessThanOrEqual(100);
    expect(kept.length).toBeGreaterThanOrEqual(50);
    // The newest entries are the ones kept, with their values.
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => 10_000 - kept.length + i));
    expect(cache.get(9_999)).toBe("v9999");
  });

  it("a re-set entry is refreshed, a deleted one is gone from both generations", () => {
    const cache = new BoundedCache<string, number>(4);
    cache.set("a", 1);
    cache.set("b", 2); // "a" and "b" move to the older generation
    cache.set("a", 3); // refreshed into the younger one
    cache.set("c", 4); // the older generation, holding only "b", is dropped
    expect(cache.get("a")).toBe(3);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("c")).toBe(4);
    cache.delete("a");
    cache.delete("c");
    expect(cache.get("a")).toBeUndefined();
    expect(cache.get("c")).toBeUndefined();
  });
});
