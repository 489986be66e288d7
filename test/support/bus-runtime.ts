/**
 * A stand-in for saga-bus's runtime around one saga, shared by
 * test/saga-bus-runtime.test.ts and its child processes (bus-worker.ts).
 *
 * processMessage() drives the store as @saga-bus/core 0.2.2's
 * SagaOrchestrator does; deliver() is the bus around it: every failure is
 * classified by core's DefaultErrorHandler (the installed @saga-bus/core, so
 * the stand-in of test/fixtures/saga-bus-core here) and only a "retry" is
 * redelivered. Anything else is dead-lettered, as the real bus would.
 */
import { randomUUID } from "node:crypto";
import { DefaultErrorHandler, type SagaState, type SagaStateMetadata, type SagaStore } from "@saga-bus/core";

export const SAGA = "TrailSaga";
export const STEPS_PER_SAGA = 5;

/**
 * Top-level fields of a saga-bus state are the application's: these share
 * their names with fields the store's other (seed README) state shape owns,
 * with values that must not be mistaken for the bus's correlation id, the
 * saga id, its version or its completion.
 */
export const USER_FIELDS = { correlationId: "not-the-bus-one", status: "completed", id: "user-id", version: 99 } as const;

export interface TrailState extends SagaState {
  readonly correlationId: string;
  readonly status: string;
  readonly id: string;
  readonly version: number;
  readonly startedBy: string;
  /** Ids of the step messages applied, in the order they were applied. */
  readonly trail: readonly string[];
  readonly metadata: SagaStateMetadata;
}

export interface TrailMessage {
  readonly id: string;
  readonly type: "TrailStarted" | "StepRecorded";
  /** The bus's correlation id (what the saga correlates on). */
  readonly trailId: string;
}

export function trailIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `trail-${i}`);
}

export function startMessages(trails: readonly string[]): TrailMessage[] {
  return trails.map((trailId) => ({ id: `${trailId}:start`, type: "TrailStarted", trailId }));
}

export function stepMessages(trails: readonly string[], perSaga = STEPS_PER_SAGA): TrailMessage[] {
  return trails.flatMap((trailId) =>
    Array.from({ length: perSaga }, (_, n) => ({ id: `${trailId}:step-${n}`, type: "StepRecorded" as const, trailId })),
  );
}

/** One delivery of one message, step for step as SagaOrchestrator.processMessage. */
export async function processMessage(store: SagaStore<TrailState>, message: TrailMessage): Promise<void> {
  let state = await store.getByCorrelationId(SAGA, message.trailId);
  if (!state) {
    // Only TrailStarted can start the saga; the orchestrator drops any other message that finds none.
    if (message.type !== "TrailStarted") throw new Error(`${message.id}: no saga ${message.trailId} to apply it to`);
    const now = new Date();
    state = {
      ...USER_FIELDS,
      startedBy: message.id,
      trail: [],
      metadata: { sagaId: randomUUID(), version: 0, createdAt: now, updatedAt: now, isCompleted: false, traceParent: null, traceState: null },
    };
    await store.insert(SAGA, message.trailId, state);
  }
  if (state.metadata.isCompleted) return;

  // The handler: a step appends its own id; the start message changes nothing but is still written, as the bus does.
  const newState: TrailState = message.type === "StepRecorded" ? { ...state, trail: [...state.trail, message.id] } : state;
  const expectedVersion = state.metadata.version;
  await store.update(
    SAGA,
    {
      ...newState,
      metadata: { ...newState.metadata, version: expectedVersion + 1, updatedAt: new Date(), isCompleted: false, timeoutMs: null, timeoutExpiresAt: null },
    },
    expectedVersion,
  );
}

export interface DeadLetter {
  messageId: string;
  decision: "retry" | "dlq" | "drop";
  attempts: number;
  error: string;
}

export interface DeliveryReport {
  messages: number;
  /** Deliveries, first ones and redeliveries. */
  attempts: number;
  /** Redeliveries by the failure that caused them (its `code`, else its name). */
  retriedBy: Record<string, number>;
  deadLettered: DeadLetter[];
}

export interface DeliveryOptions {
  /** Deliveries per message before a "retry" becomes a dead letter (core's RetryHandler: maxAttempts). */
  maxAttempts?: number;
  /** Redelivery delay, capped, with full jitter so contenders spread out. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

function describeError(error: unknown): string {
  const e = error as { name?: string; code?: string; message?: string } | null | undefined;
  return `${e?.name ?? typeof error}${e?.code ? ` [${e.code}]` : ""}: ${e?.message ?? String(error)}`;
}

/**
 * Deliver every message at once (each saga's messages are all in flight
 * together, so updates of one saga collide) over one store, redelivering a
 * failure only when core's DefaultErrorHandler says "retry".
 */
export async function deliver(store: SagaStore<TrailState>, messages: readonly TrailMessage[], options: DeliveryOptions = {}): Promise<DeliveryReport> {
  const { maxAttempts = 25, baseDelayMs = 5, maxDelayMs = 50 } = options;
  const errorHandler = new DefaultErrorHandler();
  const report: DeliveryReport = { messages: messages.length, attempts: 0, retriedBy: {}, deadLettered: [] };

  async function deliverOne(message: TrailMessage): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      report.attempts++;
      try {
        await processMessage(store, message);
        return;
      } catch (error) {
        // The context BusImpl hands the error handler; the default handler ignores it.
        const decision = await errorHandler.handle(error, { envelope: { id: message.id, type: message.type }, sagaName: SAGA, correlationId: message.trailId, metadata: {} });
        if (decision !== "retry" || attempt >= maxAttempts) {
          report.deadLettered.push({ messageId: message.id, decision, attempts: attempt, error: describeError(error) });
          return;
        }
        const reason = (error as { code?: string })?.code ?? (error as Error)?.name ?? "unknown";
        report.retriedBy[reason] = (report.retriedBy[reason] ?? 0) + 1;
        const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
        await new Promise((resolve) => setTimeout(resolve, baseDelayMs + Math.random() * (ceiling - baseDelayMs)));
      }
    }
  }

  await Promise.all(messages.map(deliverOne));
  return report;
}

/** Dead letters grouped by failure, so a systematic failure reads as one line rather than a thousand. */
export function deadLetterSummary(deadLettered: readonly DeadLetter[]): Record<string, number> {
  const summary: Record<string, number> = {};
  for (const { decision, error } of deadLettered) {
    const key = `${decision}: ${error.replace(/trail-\d+/g, "trail-N").replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, "<uuid>")}`;
    summary[key] = (summary[key] ?? 0) + 1;
  }
  return summary;
}

export function mergeReports(reports: readonly DeliveryReport[]): DeliveryReport {
  const merged: DeliveryReport = { messages: 0, attempts: 0, retriedBy: {}, deadLettered: [] };
  for (const report of reports) {
    merged.messages += report.messages;
    merged.attempts += report.attempts;
    merged.deadLettered.push(...report.deadLettered);
    for (const [reason, count] of Object.entries(report.retriedBy)) merged.retriedBy[reason] = (merged.retriedBy[reason] ?? 0) + count;
  }
  return merged;
}

/**
 * What must hold for every saga after all its messages were handled: each
 * step applied exactly once, version = 1 (start) + steps, the user's fields
 * untouched, and the saga found by its id too. Returns one line per problem.
 */
export async function checkTrails(store: SagaStore<TrailState>, trails: readonly string[], perSaga = STEPS_PER_SAGA): Promise<string[]> {
  const problems: string[] = [];
  await Promise.all(
    trails.map(async (trailId) => {
      const state = await store.getByCorrelationId(SAGA, trailId);
      if (!state) return void problems.push(`${trailId}: not found`);
      const expected = Array.from({ length: perSaga }, (_, n) => `${trailId}:step-${n}`);
      const trail = [...state.trail].sort();
      if (JSON.stringify(trail) !== JSON.stringify(expected)) problems.push(`${trailId}: trail ${JSON.stringify(state.trail)}`);
      if (state.metadata.version !== 1 + perSaga) problems.push(`${trailId}: metadata.version ${state.metadata.version}`);
      if (state.startedBy !== `${trailId}:start`) problems.push(`${trailId}: startedBy ${state.startedBy}`);
      const user = { correlationId: state.correlationId, status: state.status, id: state.id, version: state.version };
      if (JSON.stringify(user) !== JSON.stringify(USER_FIELDS)) problems.push(`${trailId}: user fields ${JSON.stringify(user)}`);
      const byId = await store.getById(SAGA, state.metadata.sagaId);
      if (byId?.metadata.version !== state.metadata.version || byId.startedBy !== state.startedBy) problems.push(`${trailId}: getById(sagaId) gave ${JSON.stringify(byId)}`);
    }),
  );
  return problems.sort();
}
