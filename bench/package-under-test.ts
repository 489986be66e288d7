/**
 * The store as users install it: the build in dist/ (`npm run bench` builds
 * it first), with the types of its source. Run from source through tsx, the
 * store would also pay for tsx's transform (esbuild keeps function names by
 * wrapping every closure the hot path creates), which no user pays.
 */
import type * as Source from "../src/index";

const built = new URL("../dist/index.js", import.meta.url);

export const storePackage = (await import(built.href).catch((error: unknown) => {
  throw new Error(`bench: no build at ${built.pathname}; run \`npm run build\` first (npm run bench does): ${(error as Error)?.message}`);
})) as typeof Source;

const builtOtel = new URL("../dist/otel.js", import.meta.url);

/** The OpenTelemetry entry point as users install it (@saga-bus/store-redis/otel). */
export const otelPackage = (await import(builtOtel.href)) as typeof import("../src/otel/index");
