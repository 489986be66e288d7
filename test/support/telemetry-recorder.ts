import { subscribe, tracingChannel, unsubscribe } from "node:diagnostics_channel";
import { CHANNEL_PREFIX, STORE_EVENTS, TRACED_OPERATIONS, type OperationContext, type StoreEventName, type StoreEvents, type TracedOperation } from "../../src/index";

type Phase = "start" | "end" | "asyncStart" | "asyncEnd" | "error";

/** An operation context as it was when a phase was published (the live object keeps changing). */
export interface ContextSnapshot {
  phase: Phase;
  context: OperationContext;
  operation: TracedOperation;
  sagaName: string | undefined;
  system: string;
  keys: string[];
  codec: string | undefined;
  schemaVersion: number | undefined;
  sagaVersion: number | undefined;
  attempts: number;
  outcome: string | undefined;
  error: unknown;
}

/**
 * Subscribes to every channel of the store, by name, as an application would
 * (node:diagnostics_channel directly), and records what arrives.
 */
export class TelemetryRecorder {
  readonly phases: ContextSnapshot[] = [];
  readonly events: { name: StoreEventName; message: StoreEvents[StoreEventName] }[] = [];
  private readonly undo: (() => void)[] = [];

  constructor() {
    for (const operation of TRACED_OPERATIONS) {
      const channels = tracingChannel<object, OperationContext>(CHANNEL_PREFIX + operation);
      const record = (phase: Phase) => (context: OperationContext) => this.phases.push(snapshot(phase, context));
      const handlers = { start: record("start"), end: record("end"), asyncStart: record("asyncStart"), asyncEnd: record("asyncEnd"), error: record("error") };
      channels.subscribe(handlers);
      this.undo.push(() => channels.unsubscribe(handlers));
    }
    for (const name of STORE_EVENTS) {
      const onMessage = (message: unknown) => this.events.push({ name, message: message as StoreEvents[StoreEventName] });
      subscribe(CHANNEL_PREFIX + name, onMessage);
      this.undo.push(() => unsubscribe(CHANNEL_PREFIX + name, onMessage));
    }
  }

  /** Contexts at asyncEnd (each call's complete context), optionally of one operation. */
  finished(operation?: TracedOperation): ContextSnapshot[] {
    return this.phases.filter((p) => p.phase === "asyncEnd" && (operation === undefined || p.operation === operation));
  }

  eventsNamed<Name extends StoreEventName>(name: Name): StoreEvents[Name][] {
    return this.events.filter((e) => e.name === name).map((e) => e.message as StoreEvents[Name]);
  }

  clear(): void {
    this.phases.length = 0;
    this.events.length = 0;
  }

  close(): void {
    for (const undo of this.undo.splice(0)) undo();
  }
}

function snapshot(phase: Phase, context: OperationContext): ContextSnapshot {
  return {
    phase,
    context,
    operation: context.operation,
    sagaName: context.sagaName,
    system: context.system,
    keys: [...context.keys],
    codec: context.codec,
    schemaVersion: context.schemaVersion,
    sagaVersion: context.sagaVersion,
    attempts: context.attempts,
    outcome: context.outcome,
    error: context.error,
  };
}
