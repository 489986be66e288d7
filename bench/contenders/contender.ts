/**
 * What the benchmark asks of a store it compares ours against: the four
 * operations saga-bus uses. `update` is handed the correlation id as well,
 * since a contender without an index cache of its own would otherwise have to
 * look it up; one that needs nothing more ignores it.
 */
export interface ContenderState {
  metadata: { sagaId: string; version: number; createdAt: Date; updatedAt: Date };
}

export interface Contender {
  readonly name: string;
  insert(sagaName: string, correlationId: string, state: ContenderState): Promise<void>;
  update(sagaName: string, correlationId: string, state: ContenderState, expectedVersion: number): Promise<void>;
  findByCorrelationId(sagaName: string, correlationId: string): Promise<ContenderState | null>;
  findById(sagaName: string, sagaId: string): Promise<ContenderState | null>;
  close(): Promise<void>;
}
