/**
 * A map that holds at most `capacity` entries, forgetting the least recently
 * set ones, in O(1): two generations of Maps, the older dropped whole when
 * the younger fills. (Evicting one key at a time from the front of one Map
 * makes V8 skip an ever longer run of deleted slots on every eviction.)
 */
export class BoundedCache<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();
  private readonly generationSize: number;

  constructor(capacity: number) {
    this.generationSize = Math.max(1, Math.floor(capacity / 2));
  }

  get(key: K): V | undefined {
    return this.young.get(key) ?? this.old.get(key);
  }

  set(key: K, value: V): void {
    if (this.young.get(key) === value) return;
    this.old.delete(key);
    this.young.set(key, value);
    if (this.young.size >= this.generationSize) {
      this.old = this.young;
      this.young = new Map();
    }
  }

  delete(key: K): void {
    this.young.delete(key);
    this.old.delete(key);
  }
}
