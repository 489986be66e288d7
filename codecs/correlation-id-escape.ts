/**
 * How a correlation id appears in a value key (the key layout is in
 * src/keys.ts and the README): the index namespace `idx:` is reserved, so an
 * id starting with `idx:`, or with the escape character `%`, has its first
 * character percent-encoded. The Lua scripts apply the same rule
 * (src/lua/includes/stored-identity.lua), and a 0.2.2 value can only live at
 * an id this leaves unchanged.
 */
export function escapeCorrelationId(correlationId: string): string {
  const first = correlationId.charCodeAt(0);
  if (first === 0x25 /* % */) return "%25" + correlationId.slice(1);
  if (first === 0x69 /* i */ && correlationId.startsWith("idx:")) return "%69" + correlationId.slice(1);
  return correlationId;
}

export function unescapeCorrelationId(escaped: string): string {
  if (escaped.startsWith("%25")) return "%" + escaped.slice(3);
  if (escaped.startsWith("%69")) return "i" + escaped.slice(3);
  return escaped;
}
