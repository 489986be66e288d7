/**
 * The key layout as the README documents it, restated on the test side so a
 * test checks the keys the store really uses rather than asking the store:
 *   value: {prefix}saga:{sagaName}:{correlationId}
 *   index: {prefix}saga:{sagaName}:idx:id:{sagaId}
 * A correlation id starting with `%` or `idx:` has its first character
 * percent-encoded, so none can land in the index namespace.
 * test/keys.test.ts spells the keys out literally on purpose: it is the test
 * of this layout.
 */
export function escapedCorrelationId(correlationId: string): string {
  if (correlationId.startsWith("%")) return "%25" + correlationId.slice(1);
  if (correlationId.startsWith("idx:")) return "%69" + correlationId.slice(1);
  return correlationId;
}

/** What every value and index key of one saga type starts with. */
export const sagaKeyPrefixOf = (prefix: string, sagaName: string): string => `${prefix}saga:${sagaName}:`;

export const valueKeyOf = (prefix: string, sagaName: string, correlationId: string): string =>
  sagaKeyPrefixOf(prefix, sagaName) + escapedCorrelationId(correlationId);

export const indexKeyOf = (prefix: string, sagaName: string, sagaId: string): string => `${sagaKeyPrefixOf(prefix, sagaName)}idx:id:${sagaId}`;
