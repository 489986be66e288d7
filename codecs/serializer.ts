import { deflateRawSync, inflateRawSync } from "node:zlib";
import { DecodeError, EncryptionKeyUnknownError, InvalidOptionsError, PlaintextRefusedError, StateTooLargeError } from "../src/errors";
import { nonNegativeInteger } from "../src/options";
import type { SagaCodec } from "./codec";
import { BUILT_IN_CODECS, jsonCodec, type BuiltInCodecName } from "./index";
import { LEGACY_WRITE_FORMAT, assertLegacyCorrelationId, assertWriteFormat, decodeLegacy, encodeLegacyRequest, type WriteFormat } from "./legacy-json";
import { headerProblem } from "./stored-identity";
import { KeyRing, MAX_SEALED_OVERHEAD, encryptionKeyIdOf, type EncryptionOptions } from "./encryption";
import {
  FLAG_DEFLATE,
  FLAG_ENCRYPTED,
  HEADER_SIZE,
  isEnvelope,
  readHeader,
  sagaIdFingerprint,
  writeHeader,
} from "./envelope";

export interface SerializerOptions {
  /** Codec used for writes. Every built-in codec is always readable. */
  codec?: BuiltInCodecName | SagaCodec;
  /** Compress payloads larger than this many bytes with deflate-raw level 1; 0 turns compression off. */
  compressAboveBytes?: number;
  /** Largest payload (uncompressed) accepted on write and produced on read. */
  maxStateBytes?: number;
  /**
   * Most containers (objects, arrays, Maps, Sets, Dates, binary values, ...)
   * a payload may hold, on write (StateTooLargeError) and on read
   * (DecodeError), counted from its bytes before decoding: a byte of msgpack
   * or two of JSON can become a whole object, so maxStateBytes alone does not
   * bound what a read builds. msgpack's costlier ones weigh more (see
   * codecs/msgpack-containers.ts). Custom codecs are counted only if they
   * implement SagaCodec.countContainers.
   */
  maxStateContainers?: number;
  /**
   * What writes produce (default "envelope"). "0.2.2": exactly what
   * @saga-bus/store-redis 0.2.2 writes (plain JSON, metadata.version carrying
   * the new version, Dates as ISO strings, same keys and index), so 0.2.2
   * instances still running can read and update every saga, and a rollback
   * to 0.2.2 stays possible. Reads accept both forms in either mode. Needs
   * the json codec (store and every registered saga), no compression, and a
   * registry whose writeVersions equal its legacySchemaVersion; refused at
   * construction otherwise. See docs/upgrading-from-0.2.2.md.
   */
  writeFormat?: WriteFormat;
  /**
   * Encrypt every payload written (AES-256-GCM, after compression) with the
   * ring's current key, and read values under any key the ring holds
   * (README "Encryption at rest"). Values stored without encryption stay
   * readable unless requireEncrypted.
   */
  encryption?: EncryptionOptions;
}

export const DEFAULT_COMPRESS_ABOVE_BYTES = 16 * 1024;
export const DEFAULT_MAX_STATE_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_STATE_CONTAINERS = 1_000_000;

export interface DecodedValue {
  state: Record<string, unknown>;
  /** Schema version recorded in the envelope; undefined for a 0.2.2 value (no envelope). */
  schemaVersion: number | undefined;
  /** Saga version from the envelope header; undefined for a 0.2.2 value. */
  sagaVersion: number | undefined;
  /** Name of the codec the payload was read with ("json" for a 0.2.2 value). */
  codec: string;
  /** The encryption key id the value was stored under; undefined for a value stored without encryption. */
  keyId: string | undefined;
}

export interface EncodeMeta {
  sagaId: string;
  sagaVersion: number;
  schemaVersion: number;
  /** An envelope's write token, when this is a rewrite of that write (codecs/envelope.ts writeHeader); else a fresh one. */
  writeToken?: Buffer;
  /** The encryption IV, for golden tests only: an IV must never be used twice with one key. Else a random one. */
  iv?: Buffer;
}

export class EnvelopeSerializer {
  readonly writeCodec: SagaCodec;
  readonly writeFormat: WriteFormat;
  private readonly codecsById = new Map<number, SagaCodec>();
  private readonly compressAboveBytes: number;
  readonly maxStateBytes: number;
  readonly maxStateContainers: number;
  /** The encryption keys, when the store encrypts. */
  readonly keyRing: KeyRing | undefined;

  constructor(options: SerializerOptions = {}) {
    for (const codec of Object.values(BUILT_IN_CODECS)) this.codecsById.set(codec.id, codec);
    this.writeCodec = this.resolveCodec(options.codec ?? "json");
    this.writeFormat = options.writeFormat ?? "envelope";
    assertWriteFormat(this.writeFormat, "writeFormat");
    const legacy = this.writeFormat === LEGACY_WRITE_FORMAT;
    if (legacy && this.writeCodec !== jsonCodec) {
      throw new InvalidOptionsError(`writeFormat "0.2.2" writes plain JSON, which codec "${this.writeCodec.name}" cannot produce: use codec "json" (or leave it out)`);
    }
    if (legacy && options.compressAboveBytes !== undefined && options.compressAboveBytes !== 0) {
      throw new InvalidOptionsError('writeFormat "0.2.2" cannot compress (0.2.2 reads plain JSON only): leave compressAboveBytes out or set it to 0');
    }
    // Compression is an envelope flag: a plain value never has it.
    this.compressAboveBytes = legacy ? 0 : nonNegativeInteger("compressAboveBytes", options.compressAboveBytes ?? DEFAULT_COMPRESS_ABOVE_BYTES);
    this.maxStateBytes = nonNegativeInteger("maxStateBytes", options.maxStateBytes ?? DEFAULT_MAX_STATE_BYTES);
    this.maxStateContainers = nonNegativeInteger("maxStateContainers", options.maxStateContainers ?? DEFAULT_MAX_STATE_CONTAINERS);
    if (options.encryption !== undefined && legacy) throw new InvalidOptionsError('writeFormat "0.2.2" writes plain JSON, which cannot be encrypted: leave encryption out until every instance writes envelopes');
    this.keyRing = options.encryption === undefined ? undefined : new KeyRing(options.encryption);
  }

  /** Turn a codec option into a codec, and make sure it can be read back. */
  resolveCodec(codec: BuiltInCodecName | SagaCodec): SagaCodec {
    if (typeof codec === "string") {
      const builtIn = BUILT_IN_CODECS[codec];
      if (!builtIn) throw new InvalidOptionsError(`Unknown codec "${codec}" (expected json, superjson or msgpack)`);
      return builtIn;
    }
    if (!Number.isInteger(codec.id) || codec.id < 128 || codec.id > 255) {
      throw new InvalidOptionsError(`Custom codec "${codec.name}" needs an id from 128 to 255 (1-127 are reserved), got ${codec.id}`);
    }
    const known = this.codecsById.get(codec.id);
    if (known && known !== codec) throw new InvalidOptionsError(`Two different codecs use id ${codec.id}`);
    this.codecsById.set(codec.id, codec);
    return codec;
  }

  /** The codec with this envelope id, if this serializer knows it. */
  codecById(id: number): SagaCodec | undefined {
    return this.codecsById.get(id);
  }

  /** The name of the codec with this envelope id: a built-in one's, or a custom one this serializer was given; else "codec <id>". */
  codecName(id: number): string {
    return this.codecsById.get(id)?.name ?? `codec ${id}`;
  }

  /** Refuses (INVALID_KEY) a correlation id the write format's key layout cannot hold: with "0.2.2", one 0.2.2 would look up elsewhere. */
  assertWritableCorrelationId(correlationId: string): void {
    if (this.writeFormat === LEGACY_WRITE_FORMAT) assertLegacyCorrelationId(correlationId);
  }

  /**
   * The write request for one value: an envelope, or with format "0.2.2"
   * (default: the writeFormat option) a plain-JSON request (codecs/envelope.ts)
   * whose payload is the 0.2.2 text.
   */
  encode(sagaName: string, state: unknown, meta: EncodeMeta, codec: SagaCodec = this.writeCodec, format: WriteFormat = this.writeFormat): Buffer {
    if (format === LEGACY_WRITE_FORMAT) {
      // Per-saga codecs other than json are refused at construction (SchemaGate); this guards any other caller.
      if (codec !== jsonCodec) throw new InvalidOptionsError(`writeFormat "0.2.2" writes plain JSON, not codec "${codec.name}"`);
      const request = encodeLegacyRequest(sagaName, state as Record<string, unknown>, meta, this.maxStateBytes);
      this.assertWritableContainers(sagaName, jsonCodec, request);
      return request;
    }
    let buffer = codec.encode(state, HEADER_SIZE);
    const payloadSize = buffer.length - HEADER_SIZE;
    if (payloadSize > this.maxStateBytes) throw new StateTooLargeError(sagaName, payloadSize, this.maxStateBytes);
    this.assertWritableContainers(sagaName, codec, buffer);
    let flags = 0;
    if (this.compressAboveBytes > 0 && payloadSize > this.compressAboveBytes) {
      const compressed = deflateRawSync(buffer.subarray(HEADER_SIZE), { level: 1 });
      if (compressed.length < payloadSize) {
        const packed = Buffer.allocUnsafe(HEADER_SIZE + compressed.length);
        compressed.copy(packed, HEADER_SIZE);
        buffer = packed;
        flags |= FLAG_DEFLATE;
      }
    }
    if (this.keyRing) flags |= FLAG_ENCRYPTED;
    writeHeader(buffer, { codecId: codec.id, flags, schemaVersion: meta.schemaVersion, sagaVersion: meta.sagaVersion }, sagaIdFingerprint(meta.sagaId), meta.writeToken);
    return this.keyRing ? this.keyRing.seal(buffer, buffer.subarray(HEADER_SIZE), meta.iv) : buffer;
  }

  /**
   * The same rule as on read (assertReadableContainers), so whatever is
   * written can be read back: a payload of more containers is refused.
   */
  private assertWritableContainers(sagaName: string, codec: SagaCodec, buffer: Buffer): void {
    if (codec.countContainers && codec.countContainers(buffer, HEADER_SIZE, this.maxStateContainers) > this.maxStateContainers) {
      throw new StateTooLargeError(sagaName, buffer.length - HEADER_SIZE, this.maxStateBytes, this.maxStateContainers);
    }
  }

  /** Refuses, before decoding, a payload that could build more containers than maxStateContainers. */
  private assertReadableContainers(key: string, codec: SagaCodec, payload: Buffer): void {
    if (!codec.countContainers) return;
    let containers: number;
    try {
      containers = codec.countContainers(payload, 0, this.maxStateContainers);
    } catch (error) {
      throw new DecodeError(key, `${codec.name} payload is corrupt: ${(error as Error)?.message}`, { cause: error });
    }
    if (containers > this.maxStateContainers) {
      throw new DecodeError(key, `${codec.name} payload holds more than ${this.maxStateContainers} containers (maxStateContainers)`);
    }
  }

  /** Decode stored bytes; every failure is a DecodeError naming `key`. */
  decode(key: string, bytes: Buffer): DecodedValue {
    if (!isEnvelope(bytes)) {
      // A 0.2.2 value is its own payload: the same bounds as an envelope's.
      if (this.keyRing?.requireEncrypted) throw new PlaintextRefusedError(key);
      if (bytes.length > this.maxStateBytes) throw new DecodeError(key, `0.2.2 JSON value is ${bytes.length} bytes, above maxStateBytes (${this.maxStateBytes})`);
      this.assertReadableContainers(key, jsonCodec, bytes);
      return { state: decodeLegacy(key, bytes), schemaVersion: undefined, sagaVersion: undefined, codec: jsonCodec.name, keyId: undefined };
    }
    const problem = headerProblem(bytes);
    if (problem !== undefined) throw new DecodeError(key, problem);
    const header = readHeader(bytes)!;
    const codec = this.codecsById.get(header.codecId);
    if (!codec) throw new DecodeError(key, `unknown codec id ${header.codecId}`);
    let payload = bytes.subarray(HEADER_SIZE);
    let keyId: string | undefined;
    if (header.flags & FLAG_ENCRYPTED) {
      if (bytes.length > HEADER_SIZE + MAX_SEALED_OVERHEAD + this.maxStateBytes) throw new DecodeError(key, `encrypted payload is larger than maxStateBytes (${this.maxStateBytes})`);
      ({ keyId, payload } = this.keyRingFor(key, bytes).open(key, bytes));
    } else if (this.keyRing?.requireEncrypted) {
      throw new PlaintextRefusedError(key);
    }
    if (header.flags & FLAG_DEFLATE) {
      try {
        payload = inflateRawSync(payload, { maxOutputLength: this.maxStateBytes });
      } catch (error) {
        throw new DecodeError(key, `compressed payload is corrupt or inflates past ${this.maxStateBytes} bytes`, { cause: error });
      }
    }
    this.assertReadableContainers(key, codec, payload);
    let state: unknown;
    try {
      state = codec.decode(payload);
    } catch (error) {
      throw new DecodeError(key, `${codec.name} payload is corrupt: ${(error as Error)?.message}`, { cause: error });
    }
    return { state: asStateObject(key, state), schemaVersion: header.schemaVersion, sagaVersion: header.sagaVersion, codec: codec.name, keyId };
  }

  /** The ring an encrypted value is read with; a store without one holds none of its keys. */
  private keyRingFor(key: string, bytes: Buffer): KeyRing {
    if (this.keyRing) return this.keyRing;
    throw new EncryptionKeyUnknownError(encryptionKeyIdOf(bytes) ?? "(none)", key);
  }
}

function asStateObject(key: string, state: unknown): Record<string, unknown> {
  if (state === null || typeof state !== "object" || Array.isArray(state)) {
    throw new DecodeError(key, "payload is not an object");
  }
  return state as Record<string, unknown>;
}
