import type { z } from "zod";
import type { BuiltInCodecName, SagaCodec } from "../codecs/index";

/** A state transform between adjacent schema versions, run on read (upgrade) or write (downgrade). */
export type Migration = (state: any) => unknown;

export interface SchemaVersion {
  version: number;
  schema: z.ZodType;
  /** From version - 1 to this version. Absent on the first version. */
  upgrade?: Migration;
  /** From this version to version - 1. */
  downgrade?: Migration;
}

/**
 * One saga's schema history, built step by step so each migration is typed
 * from its neighbours' schemas:
 *
 *   defineSaga("OrderSaga", OrderV1)
 *     .version(2, OrderV2, { upgrade: (v1) => ({ ...v1, currency: "EUR" }) })
 *     .writeVersion(2)
 *
 * `Latest` is the newest schema: reads return its output, saves take its input.
 */
export class SagaDefinition<Name extends string = string, Latest extends z.ZodType = z.ZodType> {
  /** Phantom field carrying the latest schema's type. */
  declare readonly latestSchema: Latest;

  private constructor(
    readonly name: Name,
    readonly versions: readonly SchemaVersion[],
    readonly writeVersionNumber: number | undefined,
    readonly codec: BuiltInCodecName | SagaCodec | undefined,
  ) {}

  static create<Name extends string, Schema extends z.ZodType>(name: Name, schema: Schema, version = 1): SagaDefinition<Name, Schema> {
    return new SagaDefinition(name, [{ version, schema }], undefined, undefined);
  }

  /** Add the next schema version with its upgrade from the previous one (and optionally the way back). */
  version<Next extends z.ZodType>(
    version: number,
    schema: Next,
    migration: {
      upgrade: (previous: z.output<Latest>) => z.input<Next>;
      downgrade?: (next: z.output<Next>) => z.input<Latest>;
    },
  ): SagaDefinition<Name, Next> {
    return new SagaDefinition(
      this.name,
      [...this.versions, { version, schema, upgrade: migration?.upgrade, downgrade: migration?.downgrade }],
      this.writeVersionNumber,
      this.codec,
    );
  }

  /** Write an older schema version than the latest (phase 1 of a two-phase rollout); needs downgrades down to it. */
  writeVersion(version: number): SagaDefinition<Name, Latest> {
    return new SagaDefinition(this.name, this.versions, version, this.codec);
  }

  /** Encode this saga with its own codec instead of the store's. */
  withCodec(codec: BuiltInCodecName | SagaCodec): SagaDefinition<Name, Latest> {
    return new SagaDefinition(this.name, this.versions, this.writeVersionNumber, codec);
  }
}

/** Start a saga's schema history at version 1 (or `firstVersion`). */
export function defineSaga<Name extends string, Schema extends z.ZodType>(
  name: Name,
  schema: Schema,
  firstVersion = 1,
): SagaDefinition<Name, Schema> {
  return SagaDefinition.create(name, schema, firstVersion);
}
