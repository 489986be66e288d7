/**
 * @saga-bus/store-redis/otel: spans and metrics from the store's diagnostics
 * channels (src/telemetry/channels.ts) through @opentelemetry/api. It never
 * imports the store: every store in the process, of any copy of the
 * package, publishes on the same channel names.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import {
  context,
  metrics,
  trace,
  SpanKind,
  SpanStatusCode,
  type Attributes,
  type MeterProvider,
  type Span,
  type TracerProvider,
} from "@opentelemetry/api";
import {
  CHANNEL_PREFIX,
  RUN_WITHIN,
  TRACED_OPERATIONS,
  operationChannel,
  type OperationContext,
  type RunWithin,
  type StoreEventName,
  type StoreEvents,
} from "../telemetry/channels";
import * as attr from "./attributes";
import { StoreMetrics } from "./metrics";

export interface InstrumentSagaStoreOptions {
  /** Default: the global tracer provider (trace.getTracerProvider()). */
  tracerProvider?: TracerProvider;
  /** Default: the global meter provider (metrics.getMeterProvider()). */
  meterProvider?: MeterProvider;
  /** Put the Redis keys of each call on its span as saga_bus.store.keys (default true). Keys hold correlation ids. */
  recordKeys?: boolean;
}

interface Running {
  span: Span;
  startedAt: number;
}

/**
 * Subscribe to every channel of the store: a span per store call (a child
 * of the caller's active span, and the active span while the call runs, so
 * spans begun inside it are its children), span events for its retries,
 * conflicts and upgrades, and the metrics of src/otel/metrics.ts. Call it
 * once per process; returns the function that unsubscribes again.
 */
export function instrumentSagaStore(options: InstrumentSagaStoreOptions = {}): () => void {
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(attr.SCOPE_NAME);
  const storeMetrics = new StoreMetrics((options.meterProvider ?? metrics.getMeterProvider()).getMeter(attr.SCOPE_NAME));
  const recordKeys = options.recordKeys ?? true;
  const running = new WeakMap<OperationContext, Running>();
  const undo: (() => void)[] = [];

  const handlers = {
    start(message: OperationContext) {
      const parent = context.active();
      const span = tracer.startSpan(
        message.sagaName === undefined ? message.operation : `${message.operation} ${message.sagaName}`,
        { kind: SpanKind.CLIENT, attributes: callAttributes(message) },
        parent,
      );
      running.set(message, { span, startedAt: performance.now() });
      const active = trace.setSpan(parent, span);
      const within: RunWithin = (run) => context.with(active, run);
      (message as { [RUN_WITHIN]?: RunWithin })[RUN_WITHIN] = within;
    },
    end() {},
    asyncStart() {},
    error(message: OperationContext) {
      const error = message.error;
      running.get(message)?.span.recordException(error instanceof Error ? error : String(error));
    },
    asyncEnd(message: OperationContext) {
      const call = running.get(message);
      if (!call) return;
      running.delete(message);
      const seconds = (performance.now() - call.startedAt) / 1000;
      const { span } = call;
      span.setAttributes(resultAttributes(message, recordKeys));
      if (message.error !== undefined) {
        span.setAttribute(attr.ERROR_TYPE, message.outcome ?? "error");
        span.setStatus({ code: SpanStatusCode.ERROR, message: (message.error as Error)?.message ?? String(message.error) });
      }
      span.end();
      storeMetrics.operationEnded(message, seconds);
    },
  };
  for (const operation of TRACED_OPERATIONS) {
    const channels = operationChannel(operation);
    channels.subscribe(handlers);
    undo.push(() => channels.unsubscribe(handlers));
  }

  const onEvent = <Name extends StoreEventName>(name: Name, handle: (message: StoreEvents[Name]) => void) => {
    const listener = (message: unknown) => handle(message as StoreEvents[Name]);
    subscribe(CHANNEL_PREFIX + name, listener);
    undo.push(() => unsubscribe(CHANNEL_PREFIX + name, listener));
  };
  // Published inside the call's own async context, where its span is the active one.
  onEvent("retry", (event) => {
    trace.getActiveSpan()?.addEvent("retry", { [attr.RETRY_ATTEMPT]: event.attempt, [attr.RETRY_DELAY_MS]: event.delayMs, [attr.ERROR_TYPE]: event.code });
    storeMetrics.retried(event);
  });
  onEvent("conflict", (event) => {
    trace.getActiveSpan()?.addEvent("conflict", { [attr.EXPECTED_VERSION]: event.expectedVersion, [attr.STORED_VERSION]: event.storedVersion });
    storeMetrics.conflicted(event);
  });
  onEvent("upgraded", (event) => {
    trace.getActiveSpan()?.addEvent("upgraded", { [attr.SCHEMA_FROM]: event.from, [attr.SCHEMA_TO]: event.to });
    storeMetrics.upgraded(event);
  });
  onEvent("connection-error", () => storeMetrics.connectionFailed());

  let subscribed = true;
  return () => {
    if (!subscribed) return;
    subscribed = false;
    for (const step of undo.splice(0)) step();
  };
}

/** What is known when a call begins. */
function callAttributes(message: OperationContext): Attributes {
  return {
    [attr.DB_SYSTEM_NAME]: message.system,
    [attr.DB_OPERATION_NAME]: message.operation,
    ...(message.sagaName === undefined ? {} : { [attr.SAGA_NAME]: message.sagaName }),
  };
}

/** What the call found out by its end. */
function resultAttributes(message: OperationContext, recordKeys: boolean): Attributes {
  const attributes: Attributes = { [attr.ATTEMPTS]: message.attempts };
  if (message.outcome !== undefined) attributes[attr.OUTCOME] = message.outcome;
  if (message.codec !== undefined) attributes[attr.CODEC] = message.codec;
  if (message.schemaVersion !== undefined) attributes[attr.SCHEMA_VERSION] = message.schemaVersion;
  if (message.sagaVersion !== undefined) attributes[attr.SAGA_VERSION] = message.sagaVersion;
  if (recordKeys && message.keys.length > 0) attributes[attr.KEYS] = [...message.keys];
  return attributes;
}
