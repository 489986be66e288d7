#!/usr/bin/env bash
# Bundle test: an application that bundles the store (esbuild, ESM and CommonJS,
# ioredis bundled in too) and ships the one output file alone must work. The
# Lua scripts are part of dist/*.js and dist/*.cjs: nothing may be read from
# next to the bundle at run time (the old build crashed in initialize() with
# ENOENT .../lua/write.lua).
#
#   1. npm pack → install the tarball + ioredis (the repo's version) in a scratch project
#   2. a small consumer (.mjs and .cjs) → esbuild --bundle --platform=node --format=esm|cjs
#   3. each output file copied ALONE into an empty folder (no node_modules reachable)
#   4. run with node against a throwaway redis-server on a free port:
#      RedisSagaStore (3 codecs) and InMemorySagaStore: initialize, insert a saga-bus
#      state, getByCorrelationId, update (expectedVersion 0 → version 1), a stale update
#      rejected with SAGA_CONFLICT, findById; and the OpenTelemetry entry point
#      (@saga-bus/store-redis/otel, with @opentelemetry/api bundled) subscribed to the
#      channels the bundled store publishes on, counting the calls as spans
#
# Needs a built dist/ (npm run build), redis-server on PATH, and the repo's
# node_modules (esbuild comes with tsup).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { echo "[bundle-test] $*"; }
fail() { echo "[bundle-test] FAILED: $*" >&2; exit 1; }

[[ -f dist/index.js && -f dist/index.cjs ]] || fail "dist/ is not built: run npm run build first"
command -v redis-server >/dev/null || fail "redis-server is not on PATH"
ESBUILD="$ROOT/node_modules/.bin/esbuild"
[[ -x "$ESBUILD" ]] || fail "$ESBUILD is missing (it comes with tsup: npm ci)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/saga-bundle-test.XXXXXX")"
# shellcheck source=lib/throwaway-redis.sh
source "$ROOT/.ci/lib/throwaway-redis.sh"
cleanup() {
  stop_throwaway_redis
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---- 1. npm pack, scratch project ------------------------------------------------
mkdir -p "$WORK/pack" "$WORK/app" "$WORK/redis"
npm pack --silent --pack-destination "$WORK/pack" >/dev/null
TARBALL="$(ls "$WORK"/pack/*.tgz)"
IOREDIS_VERSION="$(node -p 'require("ioredis/package.json").version')"
log "esbuild $("$ESBUILD" --version), node $(node --version), $(basename "$TARBALL") + ioredis@$IOREDIS_VERSION"
cd "$WORK/app"
cat > package.json <<'JSON'
{ "name": "saga-store-bundle-test", "version": "0.0.0", "private": true }
JSON
# @opentelemetry/api does not export its package.json: read from the file.
OTEL_API_VERSION="$(node -p "JSON.parse(require('fs').readFileSync('$ROOT/node_modules/@opentelemetry/api/package.json', 'utf8')).version")"
npm install --no-audit --no-fund --prefer-offline --loglevel=error "$TARBALL" "ioredis@$IOREDIS_VERSION" "@opentelemetry/api@$OTEL_API_VERSION"

# ---- 2. consumer, one body for both module systems ----------------------------------
BODY='
const assert = (cond, msg) => { if (!cond) throw new Error("assertion failed: " + msg); };
function busState(sagaId, version) {
  const at = new Date("2026-01-02T03:04:05.678Z");
  return { orderId: "o-" + sagaId, metadata: { sagaId, version, createdAt: at, updatedAt: at, isCompleted: false } };
}
async function exercise(store, what) {
  await store.initialize();
  await store.insert("OrderSaga", "order-1", busState("s-1", 0));
  const inserted = await store.getByCorrelationId("OrderSaga", "order-1");
  assert(inserted && inserted.orderId === "o-s-1" && inserted.metadata.version === 0, what + ": getByCorrelationId after insert");
  await store.update("OrderSaga", busState("s-1", 1), 0);
  let conflict;
  try { await store.update("OrderSaga", busState("s-1", 1), 0); } catch (error) { conflict = error; }
  assert(conflict !== undefined, what + ": a stale update succeeded");
  assert(conflict instanceof ConcurrencyError && conflict.code === "SAGA_CONFLICT", what + ": stale update gave " + conflict);
  const found = await store.findById("OrderSaga", "s-1");
  assert(found && found.orderId === "o-s-1" && found.metadata.version === 1, what + ": findById after update");
  assert(found.metadata.createdAt instanceof Date, what + ": metadata.createdAt is a Date");
  await store.close();
  return what;
}
/** A tracer provider of its own that counts the spans begun and ended. */
function countingTracerProvider() {
  const counts = { started: 0, ended: 0 };
  const span = { spanContext: () => ({ traceId: "0".repeat(32), spanId: "0".repeat(16), traceFlags: 0 }), setAttribute() { return span; },
    setAttributes() { return span; }, addEvent() { return span; }, setStatus() { return span; }, recordException() {}, end() { counts.ended++; },
    isRecording: () => true, updateName() { return span; }, addLink() { return span; }, addLinks() { return span; } };
  return { counts, getTracer: () => ({ startSpan() { counts.started++; return span; } }) };
}
async function main() {
  const tracerProvider = countingTracerProvider();
  const stop = instrumentSagaStore({ tracerProvider });
  const done = [await exercise(new InMemorySagaStore(), "memory")];
  stop();
  // insert, getByCorrelationId, update, the stale update and findById; initialize() and close() are not traced.
  assert(tracerProvider.counts.started === 5 && tracerProvider.counts.ended === 5, "otel: 5 spans begun and ended, got " + JSON.stringify(tracerProvider.counts));
  const port = Number(process.env.BUNDLE_TEST_REDIS_PORT);
  for (const codec of ["json", "superjson", "msgpack"]) {
    const store = new RedisSagaStore({ connection: { host: "127.0.0.1", port }, keyPrefix: "bundle-" + flavour + "-" + codec + ":", codec });
    done.push(await exercise(store, "redis/" + codec));
  }
  console.log("[bundle-test] " + flavour + " bundle: OK (" + done.join(", ") + ": initialize, insert, getByCorrelationId, update, stale update SAGA_CONFLICT, findById)");
}
main().catch((error) => { console.error("[bundle-test] " + flavour + " bundle FAILED:", error); process.exit(1); });
'
{
  echo 'import { RedisSagaStore, InMemorySagaStore, ConcurrencyError } from "@saga-bus/store-redis";'
  echo 'import { instrumentSagaStore } from "@saga-bus/store-redis/otel";'
  echo 'const flavour = "esm";'
  echo "$BODY"
} > app.mjs
{
  echo '"use strict";'
  echo 'const { RedisSagaStore, InMemorySagaStore, ConcurrencyError } = require("@saga-bus/store-redis");'
  echo 'const { instrumentSagaStore } = require("@saga-bus/store-redis/otel");'
  echo 'const flavour = "cjs";'
  echo "$BODY"
} > app.cjs

# ---- 3. bundle, each output alone in an empty folder ------------------------------
# @saga-bus/core is an optional peer this application does not have: external, as
# an application without saga-bus marks it (the store copes with it missing).
# ESM output: ioredis is CommonJS and requires Node built-ins, so the bundle gets a
# real require (the usual esbuild ESM-on-Node banner).
ESM_BANNER='import { createRequire as __bundleCreateRequire } from "node:module"; const require = __bundleCreateRequire(import.meta.url);'
"$ESBUILD" app.mjs --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --external:@saga-bus/core --banner:js="$ESM_BANNER" --outfile="$WORK/out/bundle.mjs"
"$ESBUILD" app.cjs --bundle --platform=node --format=cjs --target=node20 --log-level=warning \
  --external:@saga-bus/core --outfile="$WORK/out/bundle.cjs"
for f in bundle.mjs bundle.cjs; do
  dir="$WORK/run-${f#bundle.}"
  mkdir "$dir"
  cp "$WORK/out/$f" "$dir/"
  [[ "$(ls -A "$dir")" == "$f" ]] || fail "$dir holds more than $f"
  log "bundled $f ($(du -k "$dir/$f" | cut -f1) KiB), alone in $(basename "$dir")/"
done
# The bundles really are self-contained: ioredis is not resolvable from where they run.
(cd "$WORK/run-cjs" && ! node -e 'require.resolve("ioredis")' 2>/dev/null) || fail "ioredis is resolvable from the run folder"

# ---- 4. throwaway redis-server on a free port, run ----------------------------------
start_throwaway_redis "$WORK/redis"

export BUNDLE_TEST_REDIS_PORT="$PORT"
log "ESM bundle"
(cd "$WORK/run-mjs" && node bundle.mjs) || fail "the ESM bundle (esbuild --format=esm) did not run alone"
log "CommonJS bundle"
(cd "$WORK/run-cjs" && node bundle.cjs) || fail "the CommonJS bundle (esbuild --format=cjs) did not run alone"

log "all checks passed"
