/**
 * saga-bus metadata fields that are Dates. Text codecs revive exactly these
 * paths: a generic reviver that tests every string halves JSON decode speed.
 */
const METADATA_DATE_FIELDS = ["createdAt", "updatedAt", "archivedAt", "timeoutExpiresAt"] as const;

export function reviveMetadataDates(state: unknown): unknown {
  const metadata = (state as { metadata?: Record<string, unknown> } | null)?.metadata;
  if (metadata && typeof metadata === "object") {
    for (const field of METADATA_DATE_FIELDS) {
      const value = metadata[field];
      if (typeof value === "string") metadata[field] = new Date(value);
    }
  }
  return state;
}
