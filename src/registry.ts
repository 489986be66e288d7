import type { z } from "zod";
import { chainProblems, compileChain, type MigrationChain } from "../migrations/chain";
import type { SagaDefinition } from "../migrations/define-saga";
import type { BuiltInCodecName, SagaCodec } from "../codecs/index";
import { RegistryInvalidError, UnknownSagaError } from "./errors";
import { assertSagaName } from "./keys";
import type { SagaMetadata } from "../codecs/state-shape";

/**
 * What a registered saga's reads return: the latest schema's output plus the
 * whole saga-bus metadata (a write that left some out had it filled in).
 */
export type RegisteredState<S extends z.ZodType> = z.output<S> & { metadata: SagaMetadata };
/** What the store needs of a saga-bus state's metadata: its saga id; the rest is filled in when absent. */
export type SagaMetadataInput = { sagaId: string } & Partial<Omit<SagaMetadata, "sagaId">>;
/** What a registered saga's writes accept in saga-bus's shape: the latest schema's input plus metadata.sagaId. */
export type RegisteredInput<S extends z.ZodType> = z.input<S> & { metadata: SagaMetadataInput };
/** The seed README's shape, for save(): its id and correlation id are the store's, never the schema's. */
export type RegisteredSeedInput<S extends z.ZodType> = z.input<S> & SeedFields;
/** What save() of the seed shape returns: the latest output beside the seed shape's own fields. */
export type RegisteredSeedState<S extends z.ZodType> = z.output<S> & SeedFields;
interface SeedFields {
  id: string;
  correlationId: string;
  /** Where a seed-shaped state without a metadata object keeps its version. */
  version?: number;
  /** A seed-shaped state's free metadata (no sagaId: that would make it saga-bus-shaped); holds its version when present. */
  metadata?: { sagaId?: undefined; version?: number; [field: string]: unknown };
}

declare const registeredSagas: unique symbol;
/** Brand telling a registry's saga map (name -> state/input types) from a plain state type. */
export interface RegisteredSagas {
  readonly [registeredSagas]: true;
}

/** Saga name -> the state type reads return and the input types writes accept, branded. */
export type TypesOf<Definitions extends readonly SagaDefinition<string, z.ZodType>[]> = {
  [D in Definitions[number] as D["name"]]: {
    state: RegisteredState<D["latestSchema"]>;
    input: RegisteredInput<D["latestSchema"]>;
    seedInput: RegisteredSeedInput<D["latestSchema"]>;
    seedState: RegisteredSeedState<D["latestSchema"]>;
  };
} & RegisteredSagas;

/**
 * A store's type parameter is either a registry's saga map (per-saga types,
 * unknown names are type errors) or, as in 0.2.2, one state type for all
 * sagas (`new RedisSagaStore<OrderState>(...)`), or `any` when untyped.
 */
export type SagaName<Types> = Types extends RegisteredSagas ? Exclude<keyof Types, typeof registeredSagas> & string : string;
type Registered<Types, Name, Part extends string> = Types extends RegisteredSagas
  ? Types[Name & keyof Types] extends { [P in Part]: infer T }
    ? T
    : never
  : Types;
export type StateOf<Types, Name> = Registered<Types, Name, "state">;
export type InputOf<Types, Name> = Registered<Types, Name, "input">;
export type SeedInputOf<Types, Name> = Registered<Types, Name, "seedInput">;
export type SeedStateOf<Types, Name> = Registered<Types, Name, "seedState">;

export interface SagaRegistryOptions {
  /** Reject unregistered saga names at run time with UNKNOWN_SAGA (default true). */
  strict?: boolean;
  /** Schema version assumed for values with no envelope, written by 0.2.2 (default 1). A store without a registry writes schema version 1. */
  legacySchemaVersion?: number;
}

export interface RegisteredSaga {
  chain: MigrationChain;
  codec: BuiltInCodecName | SagaCodec | undefined;
}

/**
 * The sagas a process knows, declared once at startup. Construction checks
 * every definition and throws one RegistryInvalidError listing all problems.
 */
export class SagaRegistry<Types = any> {
  /** Phantom field carrying the saga types. */
  declare readonly types: Types;
  readonly strict: boolean;
  readonly legacySchemaVersion: number;
  private readonly sagas = new Map<string, RegisteredSaga>();

  constructor(definitions: readonly SagaDefinition<string, z.ZodType>[], options: SagaRegistryOptions = {}) {
    this.strict = options.strict ?? true;
    this.legacySchemaVersion = options.legacySchemaVersion ?? 1;
    const problems: string[] = [];
    if (!Number.isSafeInteger(this.legacySchemaVersion) || this.legacySchemaVersion < 1) {
      problems.push(`legacySchemaVersion must be a positive integer, got ${this.legacySchemaVersion}`);
    }
    const seen = new Set<string>();
    for (const definition of definitions) {
      try {
        assertSagaName(definition.name);
      } catch (error) {
        problems.push((error as Error).message);
      }
      if (seen.has(definition.name)) problems.push(`saga "${definition.name}" is registered twice`);
      seen.add(definition.name);
      problems.push(...chainProblems(definition));
    }
    if (problems.length > 0) throw new RegistryInvalidError(problems);
    for (const definition of definitions) {
      this.sagas.set(definition.name, { chain: compileChain(definition), codec: definition.codec });
    }
  }

  get names(): string[] {
    return [...this.sagas.keys()];
  }

  /** The saga's chain; undefined for an unregistered name in a non-strict registry. */
  lookup(sagaName: string): RegisteredSaga | undefined {
    const saga = this.sagas.get(sagaName);
    if (!saga && this.strict) throw new UnknownSagaError(sagaName, this.names);
    return saga;
  }
}

/** Declare the registry: `createSagaRegistry([OrderSaga, PaymentSaga])`. */
export function createSagaRegistry<const Definitions extends readonly SagaDefinition<string, z.ZodType>[]>(
  definitions: Definitions,
  options?: SagaRegistryOptions,
): SagaRegistry<TypesOf<Definitions>> {
  return new SagaRegistry(definitions, options);
}
