import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from "node:crypto";
import { DecodeError, EncryptionKeyUnknownError, InvalidOptionsError } from "../src/errors";
import { HEADER_SIZE } from "./envelope";

/**
 * Encrypted payload (envelope flag FLAG_ENCRYPTED), after the 28-byte header:
 *
 *   offset   size  field
 *   28       1     key id length n (1-255)
 *   29       n     key id, UTF-8
 *   29+n     12    IV (random per write)
 *   41+n     ...   AES-256-GCM ciphertext of the payload (the codec's output, deflated first when FLAG_DEFLATE)
 *   end-16   16    GCM authentication tag
 *
 * Additional authenticated data: the 28 header bytes, then the key id
 * length and key id (bytes 0 to 28+n). Any change to the header (versions,
 * codec, flags, write token, saga id fingerprint), the key id or the
 * ciphertext, or a payload put behind another value's header, fails
 * authentication.
 */
export const IV_SIZE = 12;
export const TAG_SIZE = 16;
export const KEY_SIZE = 32;
const MAX_KEY_ID_BYTES = 255;
/** The most an encrypted payload adds to what it encrypts: key id length and key id, IV, tag. */
export const MAX_SEALED_OVERHEAD = 1 + MAX_KEY_ID_BYTES + IV_SIZE + TAG_SIZE;

export type EncryptionKey = Buffer | Uint8Array;

/** A set of keys by id, one of them the one new writes use. */
export interface EncryptionKeyRing {
  currentKeyId: string;
  /** Every key this instance can read with, by id; each 32 bytes (AES-256). */
  keys: Record<string, EncryptionKey>;
}

export type EncryptionOptions = (
  | EncryptionKeyRing
  | {
      /** Loads the key ring, for a KMS: called at the store's start, again when stale, and when a value names a key id it lacks. */
      provider: () => Promise<EncryptionKeyRing>;
      /** How long a loaded ring is used before it is loaded again in the background (default 300000: 5 minutes). */
      refreshMs?: number;
    }
) & {
  /** Refuse to read values stored without encryption (PlaintextRefusedError) instead of reading them. */
  requireEncrypted?: boolean;
};

export const DEFAULT_KEY_REFRESH_MS = 300_000;
/** A value naming a key the ring lacks loads the ring again, at most this often. */
const MIN_RELOAD_INTERVAL_MS = 1_000;

/**
 * IVs are random (the CSPRNG), drawn in blocks: one randomBytes call per
 * IVS_PER_DRAW writes instead of one per write, which costs more than the
 * cipher itself on a small state. Never reused: each IV is taken once.
 */
const IVS_PER_DRAW = 256;
let ivPool = Buffer.alloc(0);
let ivAt = 0;

function freshIv(): Buffer {
  if (ivAt + IV_SIZE > ivPool.length) {
    ivPool = randomBytes(IV_SIZE * IVS_PER_DRAW);
    ivAt = 0;
  }
  const iv = ivPool.subarray(ivAt, ivAt + IV_SIZE);
  ivAt += IV_SIZE;
  return iv;
}

interface LoadedRing {
  currentKeyId: string;
  currentKeyIdBytes: Buffer;
  /** Imported once: a raw key given to every cipher call would be imported on each. */
  keys: Map<string, KeyObject>;
}

function checkedRing(ring: EncryptionKeyRing): LoadedRing {
  if (ring === null || typeof ring !== "object" || typeof ring.currentKeyId !== "string" || ring.keys === null || typeof ring.keys !== "object") {
    throw new InvalidOptionsError("encryption needs { currentKeyId: string, keys: { [keyId]: 32-byte Buffer } } or { provider }");
  }
  const keys = new Map<string, KeyObject>();
  for (const [id, key] of Object.entries(ring.keys)) {
    const idBytes = Buffer.byteLength(id, "utf8");
    if (idBytes < 1 || idBytes > MAX_KEY_ID_BYTES || !id.isWellFormed()) throw new InvalidOptionsError(`encryption key id ${JSON.stringify(id)} must be 1-255 bytes of well-formed UTF-8`);
    if (!(key instanceof Uint8Array) || key.length !== KEY_SIZE) throw new InvalidOptionsError(`encryption key "${id}" must be ${KEY_SIZE} bytes (AES-256), got ${(key as Uint8Array)?.length ?? typeof key}`);
    keys.set(id, createSecretKey(key));
  }
  if (!keys.has(ring.currentKeyId)) throw new InvalidOptionsError(`encryption.currentKeyId "${ring.currentKeyId}" is not one of encryption.keys`);
  return { currentKeyId: ring.currentKeyId, currentKeyIdBytes: Buffer.from(ring.currentKeyId, "utf8"), keys };
}

/**
 * The keys of one store: a fixed ring, or one a provider loads (kept, used
 * while it is reloaded in the background once stale, reloaded at once when
 * a value names a key it lacks).
 */
export class KeyRing {
  readonly requireEncrypted: boolean;
  private ring: LoadedRing | undefined;
  private readonly provider: (() => Promise<EncryptionKeyRing>) | undefined;
  private readonly refreshMs: number;
  private loadedAt = 0;
  private loading: Promise<void> | undefined;

  constructor(options: EncryptionOptions) {
    if (options === null || typeof options !== "object") throw new InvalidOptionsError("encryption must be an object");
    this.requireEncrypted = options.requireEncrypted === true;
    if ("provider" in options) {
      if (typeof options.provider !== "function") throw new InvalidOptionsError("encryption.provider must be a function returning the key ring");
      this.provider = options.provider;
      this.refreshMs = options.refreshMs ?? DEFAULT_KEY_REFRESH_MS;
      if (!Number.isSafeInteger(this.refreshMs) || this.refreshMs < 0) throw new InvalidOptionsError("encryption.refreshMs must be a non-negative integer");
    } else {
      this.ring = checkedRing(options);
      this.refreshMs = Infinity;
    }
  }

  /** Load a provider's ring (the store's start); a fixed ring is ready already. */
  async ready(): Promise<void> {
    if (!this.ring) await this.reload();
  }

  /** Load the ring again, once for all concurrent callers; a fixed ring stays as it is. */
  reload(): Promise<void> {
    if (!this.provider) return Promise.resolve();
    this.loading ??= this.provider()
      .then((ring) => {
        this.ring = checkedRing(ring);
        this.loadedAt = Date.now();
      })
      .finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }

  /** Whether a value naming a key the ring lacks is worth loading the ring again for. */
  mayLearn(): boolean {
    return this.provider !== undefined && Date.now() - this.loadedAt >= MIN_RELOAD_INTERVAL_MS;
  }

  private loaded(): LoadedRing {
    if (!this.ring) throw new InvalidOptionsError("encryption key provider has not loaded a ring yet: the store starts it (initialize())");
    // Stale: keep serving the ring while a new one loads; a failed load keeps the old one.
    if (this.provider && Date.now() - this.loadedAt >= this.refreshMs) this.reload().catch(() => undefined);
    return this.ring;
  }

  get currentKeyId(): string {
    return this.loaded().currentKeyId;
  }

  /** Encrypt `payload` behind `header` (HEADER_SIZE bytes, its flags already marking encryption) with the current key. */
  seal(header: Buffer, payload: Buffer, iv: Buffer = freshIv()): Buffer {
    const ring = this.loaded();
    const id = ring.currentKeyIdBytes;
    const key = ring.keys.get(ring.currentKeyId)!;
    const prefixSize = HEADER_SIZE + 1 + id.length;
    const out = Buffer.allocUnsafe(prefixSize + IV_SIZE + payload.length + TAG_SIZE);
    header.copy(out, 0, 0, HEADER_SIZE);
    out[HEADER_SIZE] = id.length;
    id.copy(out, HEADER_SIZE + 1);
    iv.copy(out, prefixSize);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    cipher.setAAD(out.subarray(0, prefixSize));
    let at = prefixSize + IV_SIZE;
    at += cipher.update(payload).copy(out, at);
    at += cipher.final().copy(out, at);
    cipher.getAuthTag().copy(out, at);
    return out;
  }

  /** The payload of an encrypted envelope at `key`, authenticated and decrypted, and the key id it names. */
  open(key: string, bytes: Buffer): { keyId: string; payload: Buffer } {
    const keyId = encryptionKeyIdOf(bytes);
    if (keyId === undefined) throw new DecodeError(key, "encrypted payload is truncated (no key id)");
    const prefixSize = HEADER_SIZE + 1 + bytes[HEADER_SIZE]!;
    if (bytes.length < prefixSize + IV_SIZE + TAG_SIZE) throw new DecodeError(key, "encrypted payload is truncated");
    const secret = this.loaded().keys.get(keyId);
    if (!secret) throw new EncryptionKeyUnknownError(keyId, key);
    try {
      const decipher = createDecipheriv("aes-256-gcm", secret, bytes.subarray(prefixSize, prefixSize + IV_SIZE));
      decipher.setAAD(bytes.subarray(0, prefixSize));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_SIZE));
      const payload = decipher.update(bytes.subarray(prefixSize + IV_SIZE, bytes.length - TAG_SIZE));
      // GCM yields every byte from update(); final() only checks the tag.
      decipher.final();
      return { keyId, payload };
    } catch (error) {
      throw new DecodeError(key, `integrity check failed: the encrypted payload, its key id or the header was changed, or was written under another key with the same id (AES-256-GCM authentication)`, {
        cause: error,
      });
    }
  }
}

/** The key id an encrypted envelope names (undefined when the bytes are too short to hold one); no key needed. */
export function encryptionKeyIdOf(bytes: Buffer): string | undefined {
  const length = bytes[HEADER_SIZE];
  if (length === undefined || length === 0 || bytes.length < HEADER_SIZE + 1 + length) return undefined;
  return bytes.toString("utf8", HEADER_SIZE + 1, HEADER_SIZE + 1 + length);
}
