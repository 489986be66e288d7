#!/usr/bin/env bash
# Pack test: install the package exactly as a user would (the `npm pack`
# tarball, plus its peer ioredis) into a scratch project outside the repo, then
#   (a) ESM:        import { RedisSagaStore, InMemorySagaStore, ConcurrencyError }
#   (b) CommonJS:   the same through require()
#   (c) TypeScript: tsc --noEmit over .mts/.cts files (moduleResolution node16, then bundler)
# (a) and (b) write on the embedded engine and on a throwaway redis-server on a
# free port, so a file missing from the tarball (dist/lua/*.lua, a .d.ts, the
# CJS build) fails here. Needs a built dist/ (npm run build) and redis-server.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { echo "[pack-test] $*"; }
fail() { echo "[pack-test] FAILED: $*" >&2; exit 1; }

[[ -f dist/index.js && -f dist/index.cjs && -f dist/index.d.ts && -f dist/index.d.cts ]] || fail "dist/ is not built: run npm run build first"
command -v redis-server >/dev/null || fail "redis-server is not on PATH"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/saga-pack-test.XXXXXX")"
REDIS_PID=""
cleanup() {
  if [[ -n "$REDIS_PID" ]] && kill -0 "$REDIS_PID" 2>/dev/null; then
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---- 1. npm pack ---------------------------------------------------------------
mkdir -p "$WORK/pack" "$WORK/app" "$WORK/redis"
npm pack --silent --pack-destination "$WORK/pack" >/dev/null
TARBALL="$(ls "$WORK"/pack/*.tgz)"
log "packed $(basename "$TARBALL") ($(du -k "$TARBALL" | cut -f1) KiB):"
LISTING="$(tar -tzf "$TARBALL")"
sed 's/^/    /' <<<"$LISTING"
for f in package/dist/index.js package/dist/index.cjs package/dist/index.d.ts package/dist/index.d.cts package/dist/lua/write.lua; do
  grep -qx "$f" <<<"$LISTING" || fail "tarball lacks $f"
done

# ---- 2. scratch project ---------------------------------------------------------
# Same ioredis and @types/node versions as the repo's lockfile (already in npm's cache after npm ci).
IOREDIS_VERSION="$(node -p 'require("ioredis/package.json").version')"
TYPES_NODE_VERSION="$(node -p 'require("@types/node/package.json").version')"
cd "$WORK/app"
cat > package.json <<'JSON'
{ "name": "saga-store-pack-test", "version": "0.0.0", "private": true }
JSON
log "npm install $(basename "$TARBALL") ioredis@$IOREDIS_VERSION @types/node@$TYPES_NODE_VERSION"
npm install --no-audit --no-fund --prefer-offline --loglevel=error \
  "$TARBALL" "ioredis@$IOREDIS_VERSION" "@types/node@$TYPES_NODE_VERSION"
[[ -f node_modules/@saga-bus/store-redis/dist/lua/write.lua ]] || fail "installed package lacks dist/lua/write.lua"

# ---- 3. throwaway redis-server on a free port ----------------------------------
PORT="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK/redis" --daemonize no \
  --logfile "$WORK/redis/redis.log" &
REDIS_PID=$!
ping_redis() {
  local reply=""
  { exec 3<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  read -r -t 2 reply <&3 || true
  exec 3>&- 3<&-
  [[ "$reply" == +PONG* ]]
}
for _ in $(seq 1 100); do ping_redis && break; sleep 0.1; done
ping_redis || { cat "$WORK/redis/redis.log" >&2 || true; fail "redis-server on port $PORT did not answer PING"; }
log "redis-server pid $REDIS_PID on 127.0.0.1:$PORT"

# ---- 4. (a) ESM and (b) CommonJS ------------------------------------------------
# One body, run by both module systems; it gets { RedisSagaStore, InMemorySagaStore, ConcurrencyError, flavour }.
BODY='
const assert = (cond, msg) => { if (!cond) throw new Error("assertion failed: " + msg); };
async function expectConflict(promise, what) {
  try { await promise; } catch (error) {
    assert(error instanceof ConcurrencyError, what + ": expected ConcurrencyError, got " + error);
    assert(error.code === "SAGA_CONFLICT", what + ": code " + error.code);
    return error;
  }
  throw new Error(what + ": expected a ConcurrencyError, the write succeeded");
}
function order(sagaId, correlationId, version) {
  const at = new Date("2026-01-02T03:04:05.678Z");
  return { correlationId, total: 29, status: "created",
           metadata: { sagaId, version, createdAt: at, updatedAt: at, isCompleted: false } };
}
async function main() {
  assert(typeof RedisSagaStore === "function" && typeof InMemorySagaStore === "function", "classes exported");

  // Embedded engine: insert, update, conflict.
  const memory = new InMemorySagaStore();
  await memory.initialize();
  await memory.insert("OrderSaga", "order-1", order("s-1", "order-1", 0));
  await memory.update("OrderSaga", { ...order("s-1", "order-1", 1), status: "paid" }, 0);
  const conflict = await expectConflict(memory.update("OrderSaga", order("s-1", "order-1", 1), 0), "memory update");
  assert(conflict.expectedVersion === 0 && conflict.actualVersion === 1, "memory conflict versions");
  const m = await memory.findById("OrderSaga", "s-1");
  assert(m && m.status === "paid" && m.metadata.version === 1 && m.metadata.createdAt instanceof Date, "memory findById");
  await memory.close();

  // Redis: needs dist/lua/*.lua from inside the installed package.
  const prefix = "pack-" + flavour + ":";
  for (const codec of ["json", "superjson", "msgpack"]) {
    const store = new RedisSagaStore({ connection: { host: "127.0.0.1", port: Number(process.env.PACK_TEST_REDIS_PORT) }, keyPrefix: prefix + codec + ":", codec });
    await store.initialize();
    const saved = await store.save("OrderSaga", order("s-2", "order-2", undefined));
    assert(saved.metadata.version === 0, codec + ": new saga saved at version 0");
    const again = await store.save("OrderSaga", { ...saved, status: "paid" });
    assert(again.metadata.version === 1, codec + ": save returns version 1");
    await expectConflict(store.save("OrderSaga", saved), codec + " stale save");
    const byCorrelation = await store.findByCorrelationId("OrderSaga", "order-2");
    const byId = await store.findById("OrderSaga", "s-2");
    for (const found of [byCorrelation, byId]) {
      assert(found && found.status === "paid" && found.metadata.version === 1, codec + ": found the saved state");
      assert(found.metadata.createdAt instanceof Date, codec + ": metadata.createdAt is a Date");
    }
    assert((await store.deleteByCorrelationId("OrderSaga", "order-2")) === true, codec + ": delete");
    assert((await store.findById("OrderSaga", "s-2")) === null, codec + ": gone after delete");
    await store.close();
  }
  console.log("[pack-test] " + flavour + ": OK (memory insert/update/conflict; redis save/find/conflict/delete x3 codecs)");
}
main().catch((error) => { console.error("[pack-test] " + flavour + " FAILED:", error); process.exit(1); });
'
{
  echo 'import { RedisSagaStore, InMemorySagaStore, ConcurrencyError } from "@saga-bus/store-redis";'
  echo 'const flavour = "esm";'
  echo "$BODY"
} > esm-test.mjs
{
  echo '"use strict";'
  echo 'const { RedisSagaStore, InMemorySagaStore, ConcurrencyError } = require("@saga-bus/store-redis");'
  echo 'const flavour = "cjs";'
  echo 'const version = require("@saga-bus/store-redis/package.json").version;'
  echo 'if (!version) throw new Error("package.json export missing");'
  echo "$BODY"
} > cjs-test.cjs

export PACK_TEST_REDIS_PORT="$PORT"
log "(a) ESM"
node esm-test.mjs
log "(b) CommonJS"
node cjs-test.cjs

# ---- 5. (c) TypeScript against the shipped .d.ts / .d.cts ----------------------
TYPES_BODY='
const options: RedisSagaStoreOptions = { connection: { host: "127.0.0.1", port: 6379 }, keyPrefix: "app:", codec: "msgpack", maxRetries: 5 };
interface Order extends SagaState { correlationId: string; total: number }
// One state type for all sagas, as in 0.2.2: new RedisSagaStore<OrderState>(...)
const redisStore: SagaStore<Order> = new RedisSagaStore<Order>(options);
const memory: SagaStore<Order> = new InMemorySagaStore<Order>({ codec: "superjson", completedTtlSeconds: 60 });
// @ts-expect-error an unknown codec name must not type-check (catches declarations that degrade to any)
new InMemorySagaStore({ codec: "xml" });
async function use(store: SagaStore<Order>): Promise<number> {
  const found: Order | null = await store.findById("OrderSaga", "s-1");
  // @ts-expect-error a typed store rejects a state of another shape
  await store.save("OrderSaga", { correlationId: "c", total: "not a number" });
  const saved: Order = await store.modify("OrderSaga", "order-1", (s) => ({ ...s, total: s.total + 1 }));
  try {
    await store.update("OrderSaga", saved, 0);
  } catch (error) {
    if (error instanceof ConcurrencyError) {
      const code: "SAGA_CONFLICT" = error.code;
      const versions: [number, number] = [error.expectedVersion, error.actualVersion];
      return versions[0] + versions[1] + code.length;
    }
  }
  const created: Date | undefined = found?.metadata.createdAt;
  return created ? created.getTime() : 0;
}
export const checks = [use(redisStore), use(memory)];
'
{
  echo 'import { ConcurrencyError, InMemorySagaStore, RedisSagaStore, SagaStore, type RedisSagaStoreOptions, type SagaState } from "@saga-bus/store-redis";'
  echo "$TYPES_BODY"
} > types-esm.mts
{
  echo 'import { ConcurrencyError, InMemorySagaStore, RedisSagaStore, SagaStore, type RedisSagaStoreOptions, type SagaState } from "@saga-bus/store-redis";'
  echo "$TYPES_BODY"
} > types-cjs.cts
TSC="$ROOT/node_modules/.bin/tsc"
for resolution in node16 bundler; do
  module=node16; [[ "$resolution" == bundler ]] && module=esnext
  files='["types-esm.mts", "types-cjs.cts"]'; [[ "$resolution" == bundler ]] && files='["types-esm.mts"]'
  cat > "tsconfig.$resolution.json" <<JSON
{
  "compilerOptions": {
    "target": "ES2022", "module": "$module", "moduleResolution": "$resolution",
    "strict": true, "noEmit": true, "skipLibCheck": false, "types": ["node"], "lib": ["ES2022"]
  },
  "files": $files
}
JSON
  log "(c) tsc --noEmit, moduleResolution $resolution"
  "$TSC" --noEmit -p "tsconfig.$resolution.json" || fail "TypeScript check against the packed declarations (moduleResolution $resolution)"
done

log "all checks passed"
