#!/usr/bin/env bash
# Pack test: install the package exactly as a user would (the `npm pack`
# tarball, plus its peers ioredis and zod) into a scratch project outside the repo, then
#   (a) ESM:        import { RedisSagaStore, InMemorySagaStore, ConcurrencyError }
#   (b) CommonJS:   the same through require()
#   (c) TypeScript: tsc --noEmit over .mts/.cts files (moduleResolution node16, then bundler)
#   (d) no @saga-bus/core: ESM and CJS, a conflict is the store's own ConcurrencyError and nothing fails
#   (e) @saga-bus/core installed (the stand-in of test/fixtures/saga-bus-core, packed, so a real
#       copy), npm layout: ESM and CJS each check the store's conflict, lost insert race and
#       REDIS_UNAVAILABLE against the core build of THEIR module system (import vs require)
#   (f) the same in a pnpm layout (isolated node_modules/.pnpm), pnpm run through npx
#   (g) the saga-store command (package.json "bin") runs from the installed tarball
#   (h) the OpenTelemetry entry point "@saga-bus/store-redis/otel", ESM and CJS, with the
#       OpenTelemetry SDK installed beside it: a store call becomes a span
# Before any install, publint and attw (arethetypeswrong) check the tarball (npx fetches them).
# (a) and (b) write on the embedded engine and on a throwaway redis-server on a
# free port, so a file missing from the tarball (dist/lua/*.lua, a .d.ts, the
# CJS build) fails here. Needs a built dist/ (npm run build), redis-server, and
# for (f) the registry (npx fetches pnpm; PACK_TEST_PNPM=10 picks the major).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { echo "[pack-test] $*"; }
fail() { echo "[pack-test] FAILED: $*" >&2; exit 1; }

[[ -f dist/index.js && -f dist/index.cjs && -f dist/index.d.ts && -f dist/index.d.cts ]] || fail "dist/ is not built: run npm run build first"
command -v redis-server >/dev/null || fail "redis-server is not on PATH"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/saga-pack-test.XXXXXX")"
# shellcheck source=lib/throwaway-redis.sh
source "$ROOT/.ci/lib/throwaway-redis.sh"
cleanup() {
  stop_throwaway_redis
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
for f in package/dist/index.js package/dist/index.cjs package/dist/index.d.ts package/dist/index.d.cts package/dist/cli.js \
  package/dist/otel.js package/dist/otel.cjs package/dist/otel.d.ts package/dist/otel.d.cts; do
  grep -qx "$f" <<<"$LISTING" || fail "tarball lacks $f"
done
# The Lua scripts are inside the JavaScript (tsup.config.ts), never files next to it.
WRITE_LUA_LINE='local fingerprint = string.sub(envelope, 21, 28)'
grep -qF "$WRITE_LUA_LINE" src/lua/write.lua || fail "src/lua/write.lua no longer has the line this test looks for: update WRITE_LUA_LINE"
! grep -q '^package/dist/.*\.lua$' <<<"$LISTING" || fail "tarball ships .lua files in dist/: the scripts belong inside dist/index.js and dist/index.cjs"
for f in package/dist/index.js package/dist/index.cjs package/dist/cli.js; do
  tar -xzOf "$TARBALL" "$f" | grep -F "$WRITE_LUA_LINE" >/dev/null || fail "$f lacks the write script (src/lua/write.lua)"
done
# @saga-bus/core must stay the application's: a copy bundled into dist/ (the devDependency
# stand-in, say) would make the store's errors instances of classes no application has.
BUNDLED_CORE="$(tar -xzOf "$TARBALL" --wildcards 'package/dist/*.js' 'package/dist/*.cjs' | grep -c 'saga-bus-core\|Test stand-in' || true)"
! grep -q 'saga-bus-core' <<<"$LISTING" || fail "tarball ships a saga-bus-core file"
[[ "$BUNDLED_CORE" == 0 ]] || fail "dist/ bundles a copy of @saga-bus/core (the test stand-in): it must stay external"
for f in package/LICENSE package/CHANGELOG.md; do
  grep -qx "$f" <<<"$LISTING" || fail "tarball lacks $f"
done

# ---- 1b. publint and attw on the tarball ------------------------------------------
# publint: package.json fields against the files shipped (--strict: warnings fail too).
# attw: what TypeScript resolves, in every moduleResolution, for import and require.
# Majors pinned (0.x: the minor is the major); both support Node 20 (`npm view <pkg> engines`:
# publint 0.3 node >=18, @arethetypeswrong/cli 0.18 node >=20). Run outside the repo, so no
# repo config (.attw.json, .npmrc) applies.
PUBLINT_SPEC="publint@${PACK_TEST_PUBLINT:-0.3}"
ATTW_SPEC="@arethetypeswrong/cli@${PACK_TEST_ATTW:-0.18}"
log "$PUBLINT_SPEC --strict $(basename "$TARBALL")"
(cd "$WORK/pack" && npx --yes "$PUBLINT_SPEC" --strict "$TARBALL") || fail "publint reported problems with the tarball"
log "$ATTW_SPEC $(basename "$TARBALL")"
(cd "$WORK/pack" && npx --yes "$ATTW_SPEC" --profile strict --format ascii --no-color "$TARBALL") \
  || fail "attw (arethetypeswrong) reported problems with the tarball's types"

# ---- 2. scratch project ---------------------------------------------------------
# Same ioredis and @types/node versions as the repo's lockfile (already in npm's cache after npm ci).
IOREDIS_VERSION="$(node -p 'require("ioredis/package.json").version')"
TYPES_NODE_VERSION="$(node -p 'require("@types/node/package.json").version')"
# zod is a peer dependency: every scratch install gets the repo's own version of it.
ZOD_VERSION="$(node -p 'require("zod/package.json").version')"
cd "$WORK/app"
cat > package.json <<'JSON'
{ "name": "saga-store-pack-test", "version": "0.0.0", "private": true }
JSON
log "npm install $(basename "$TARBALL") ioredis@$IOREDIS_VERSION zod@$ZOD_VERSION @types/node@$TYPES_NODE_VERSION"
npm install --no-audit --no-fund --prefer-offline --loglevel=error \
  "$TARBALL" "ioredis@$IOREDIS_VERSION" "zod@$ZOD_VERSION" "@types/node@$TYPES_NODE_VERSION"
[[ -z "$(find node_modules/@saga-bus/store-redis/dist -name '*.lua')" ]] || fail "installed package has .lua files in dist/"
for f in index.js index.cjs; do
  grep -qF "$WRITE_LUA_LINE" "node_modules/@saga-bus/store-redis/dist/$f" || fail "installed dist/$f lacks the write script (src/lua/write.lua)"
done

# ---- 3. throwaway redis-server on a free port ----------------------------------
start_throwaway_redis "$WORK/redis"

# ---- 3b. (g) the saga-store command from the installed tarball -------------------
# --no: the bin must come from the tarball just installed, never be fetched from the registry.
log "npx saga-store --help"
npx --no -- saga-store --help >"$WORK/cli-help.txt" || fail "npx saga-store --help failed"
grep -q '^Usage: saga-store' "$WORK/cli-help.txt" || fail "npx saga-store --help printed no usage"
log "npx saga-store stats --url redis://127.0.0.1:$PORT --json"
npx --no -- saga-store stats --url "redis://127.0.0.1:$PORT" --json >"$WORK/cli-stats.json" || fail "npx saga-store stats failed"
node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); if (!Array.isArray(d.sagas)) throw new Error("no sagas array")' "$WORK/cli-stats.json" \
  || fail "npx saga-store stats --json printed no valid JSON: $(cat "$WORK/cli-stats.json")"

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
    await store.insert("OrderSaga", "order-2", order("s-2", "order-2", 0));
    const saved = await store.findByCorrelationId("OrderSaga", "order-2");
    assert(saved && saved.metadata.version === 0, codec + ": new saga inserted at version 0");
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

# ---- 6. (d) without @saga-bus/core ----------------------------------------------
# The store looks for @saga-bus/core on its first use; an application without it
# must get the store's own errors and nothing else may change. Used as saga-bus
# uses a store: no initialize() call.
CLOSED_PORT="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
export PACK_TEST_CLOSED_PORT="$CLOSED_PORT"
# Shared by (d), (e) and (f): helpers, and a store whose Redis is a closed port.
COMMON='
const assert = (cond, msg) => { if (!cond) throw new Error("assertion failed: " + msg); };
async function rejection(promise, what) {
  try { await promise; } catch (error) { return error; }
  throw new Error(what + ": expected a rejection, the call succeeded");
}
function busState(sagaId, version) {
  const at = new Date("2026-01-02T03:04:05.678Z");
  // saga-bus state: top-level fields are user data, named like the seed shape'"'"'s own on purpose.
  return { correlationId: "not-the-bus-one", status: "completed", id: "user-id", version: 99,
           metadata: { sagaId, version, createdAt: at, updatedAt: at, isCompleted: false } };
}
const redisAt = (port, keyPrefix) => new RedisSagaStore({ connection: { host: "127.0.0.1", port }, keyPrefix });
const redisDown = () => new RedisSagaStore({
  connection: { host: "127.0.0.1", port: Number(process.env.PACK_TEST_CLOSED_PORT), maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null },
  maxRetries: 0,
});
/** A stale update and an insert that loses the race for a correlation id, on one store. */
async function provoke(store, tag) {
  await store.insert("OrderSaga", "order-" + tag, busState("s-" + tag, 0));
  await store.update("OrderSaga", busState("s-" + tag, 1), 0);
  const conflict = await rejection(store.update("OrderSaga", busState("s-" + tag, 1), 0), tag + " stale update");
  const raced = await rejection(store.insert("OrderSaga", "order-" + tag, busState("s-" + tag + "-other", 0)), tag + " duplicate insert");
  const kept = await store.getByCorrelationId("OrderSaga", "order-" + tag);
  assert(kept && kept.metadata.version === 1 && kept.metadata.sagaId === "s-" + tag, tag + ": the saga is intact after both failures");
  return { conflict, raced };
}
/** What the first call on a store whose Redis is down rejects with. */
async function unavailable() {
  const store = redisDown();
  try { return await rejection(store.getByCorrelationId("OrderSaga", "order-down"), "store on a closed port"); }
  finally { await store.close(); }
}
function expectStoreErrors({ conflict, raced }, down, what) {
  assert(conflict instanceof ConcurrencyError && conflict.code === "SAGA_CONFLICT", what + ": stale update gave " + conflict);
  assert(conflict.expectedVersion === 0 && conflict.actualVersion === 1, what + ": conflict versions");
  assert(raced instanceof SagaAlreadyExistsError && raced.code === "SAGA_ALREADY_EXISTS", what + ": duplicate insert gave " + raced);
  assert(down instanceof RedisUnavailableError && down.code === "REDIS_UNAVAILABLE", what + ": closed port gave " + down);
}
'
NO_CORE_BODY='
async function main() {
  // The premise: this application has no @saga-bus/core.
  const missing = await rejection(loadCore(), "loading @saga-bus/core");
  assert(missing.code === "ERR_MODULE_NOT_FOUND" || missing.code === "MODULE_NOT_FOUND", "@saga-bus/core should be absent, got " + missing);
  const memory = new InMemorySagaStore();
  const redis = redisAt(Number(process.env.PACK_TEST_REDIS_PORT), "pack-nocore-" + flavour + ":");
  const down = await unavailable();
  for (const [name, store] of [["memory", memory], ["redis", redis]]) {
    const errors = await provoke(store, name);
    expectStoreErrors(errors, down, flavour + " " + name);
    for (const error of [errors.conflict, errors.raced, down]) {
      // Built by the store'"'"'s class itself, on nothing else (no bundled or leftover copy of core'"'"'s classes).
      assert(error instanceof SagaStoreError && Object.getPrototypeOf(error) === error.constructor.prototype, name + ": " + error.name + " is a plain store error");
    }
    await store.close();
  }
  console.log("[pack-test] " + flavour + " without @saga-bus/core: OK (store errors only; memory + redis)");
}
main().catch((error) => { console.error("[pack-test] " + flavour + " without @saga-bus/core FAILED:", error); process.exit(1); });
'
STORE_NAMES='RedisSagaStore, InMemorySagaStore, ConcurrencyError, SagaAlreadyExistsError, RedisUnavailableError, SagaStoreError'
{
  echo "import { $STORE_NAMES } from \"@saga-bus/store-redis\";"
  echo 'const flavour = "esm";'
  echo 'const loadCore = () => import("@saga-bus/core");'
  echo "$COMMON"
  echo "$NO_CORE_BODY"
} > no-core-esm.mjs
{
  echo '"use strict";'
  echo "const { $STORE_NAMES } = require(\"@saga-bus/store-redis\");"
  echo 'const flavour = "cjs";'
  echo 'const loadCore = async () => require("@saga-bus/core");'
  echo "$COMMON"
  echo "$NO_CORE_BODY"
} > no-core-cjs.cjs
log "(d) without @saga-bus/core: ESM"
node no-core-esm.mjs || fail "(d) ESM without @saga-bus/core"
log "(d) without @saga-bus/core: CommonJS"
node no-core-cjs.cjs || fail "(d) CommonJS without @saga-bus/core"

# ---- 7. (e) with @saga-bus/core, npm layout ---------------------------------------
# The stand-in ships separate ESM and CJS builds with their own classes, as the
# real core does. Each script gets `core` through its own module system and
# `otherCore` through the other one: the store's errors must be instances of
# the first (its ESM build loads core's ESM build, its CJS build core's CJS build).
(cd "$ROOT/test/fixtures/saga-bus-core" && npm pack --silent --pack-destination "$WORK/pack" >/dev/null)
CORE_TARBALL="$(ls "$WORK"/pack/saga-bus-core-*.tgz)"
WITH_CORE_BODY='
const ctx = { envelope: { id: "m-1", type: "OrderPaid" }, sagaName: "OrderSaga", correlationId: "order-1", metadata: {} };
async function main() {
  const otherCore = await loadOtherCore();
  assert(otherCore.ConcurrencyError !== core.ConcurrencyError && otherCore.TransientError !== core.TransientError,
    "import and require must give the two builds of @saga-bus/core (else these checks cannot tell them apart)");
  const handler = new core.DefaultErrorHandler();
  const isBus = async (error, busClass, what) => {
    assert(error instanceof core[busClass], what + ": not instanceof the " + flavour + " build'"'"'s " + busClass + " (" + error + ")");
    assert(!(error instanceof otherCore[busClass]), what + ": instanceof the other build'"'"'s " + busClass);
    const decision = await handler.handle(error, ctx);
    assert(decision === "retry", what + ": DefaultErrorHandler says " + decision + ", not retry");
  };
  const memory = new InMemorySagaStore();
  const redis = redisAt(Number(process.env.PACK_TEST_REDIS_PORT), "pack-core-" + layout + "-" + flavour + ":");
  const down = await unavailable();
  await isBus(down, "TransientError", "REDIS_UNAVAILABLE");
  for (const [name, store] of [["memory", memory], ["redis", redis]]) {
    const errors = await provoke(store, name);
    expectStoreErrors(errors, down, flavour + " " + name);
    await isBus(errors.conflict, "ConcurrencyError", name + " stale update");
    await isBus(errors.raced, "ConcurrencyError", name + " duplicate insert");
    await store.close();
  }
  console.log("[pack-test] " + layout + " " + flavour + " with @saga-bus/core: OK (conflict, lost insert, REDIS_UNAVAILABLE are the " + flavour + " build'"'"'s classes; memory + redis)");
}
main().catch((error) => { console.error("[pack-test] " + layout + " " + flavour + " with @saga-bus/core FAILED:", error); process.exit(1); });
'
# write_core_scripts <dir> <layout>: the ESM and CJS scripts of (e)/(f) in <dir>.
write_core_scripts() {
  {
    echo "import { $STORE_NAMES } from \"@saga-bus/store-redis\";"
    echo 'import * as core from "@saga-bus/core";'
    echo 'import { createRequire } from "node:module";'
    echo "const flavour = \"esm\", layout = \"$2\";"
    echo 'const loadOtherCore = async () => createRequire(import.meta.url)("@saga-bus/core");'
    echo "$COMMON"
    echo "$WITH_CORE_BODY"
  } > "$1/core-esm.mjs"
  {
    echo '"use strict";'
    echo "const { $STORE_NAMES } = require(\"@saga-bus/store-redis\");"
    echo 'const core = require("@saga-bus/core");'
    echo "const flavour = \"cjs\", layout = \"$2\";"
    echo 'const loadOtherCore = () => import("@saga-bus/core");'
    echo "$COMMON"
    echo "$WITH_CORE_BODY"
  } > "$1/core-cjs.cjs"
}
# check_core_layout <dir> <layout>: where core and the store ended up, and what the store resolves.
check_core_layout() {
  local dir="$1" version resolved
  # (core exports no ./package.json subpath, like the real one: read the file)
  version="$(cd "$dir" && node -p 'require("./node_modules/@saga-bus/core/package.json").description' 2>/dev/null || true)"
  [[ "$version" == *stand-in* ]] || fail "$2: @saga-bus/core is not the stand-in (description '$version')"
  [[ "$(realpath "$dir/node_modules/@saga-bus/core")" == "$dir/node_modules/"* ]] || fail "$2: @saga-bus/core is not a copy inside node_modules"
  # The module the store's own require() finds, from where the store really lives.
  resolved="$(cd "$dir" && node -e 'const fs=require("fs"),path=require("path");
    const store=fs.realpathSync("node_modules/@saga-bus/store-redis");
    console.log(require("module").createRequire(path.join(store,"package.json")).resolve("@saga-bus/core"))')" \
    || fail "$2: @saga-bus/core cannot be resolved from the installed store"
  log "$2: store at $(realpath --relative-to="$dir" "$dir/node_modules/@saga-bus/store-redis"), resolves core to ${resolved#"$dir/"}"
}

mkdir -p "$WORK/app-core"
cd "$WORK/app-core"
echo '{ "name": "saga-store-pack-test-core", "version": "0.0.0", "private": true }' > package.json
log "(e) npm install $(basename "$TARBALL") $(basename "$CORE_TARBALL") ioredis@$IOREDIS_VERSION zod@$ZOD_VERSION"
npm install --no-audit --no-fund --prefer-offline --loglevel=error "$TARBALL" "$CORE_TARBALL" "ioredis@$IOREDIS_VERSION" "zod@$ZOD_VERSION"
[[ -d node_modules/@saga-bus/core && ! -L node_modules/@saga-bus/core ]] || fail "(e) npm did not install @saga-bus/core as a copy"
check_core_layout "$WORK/app-core" "(e) npm"
write_core_scripts "$WORK/app-core" npm
log "(e) npm layout: ESM"
node core-esm.mjs || fail "(e) ESM with @saga-bus/core (npm layout)"
log "(e) npm layout: CommonJS"
node core-cjs.cjs || fail "(e) CommonJS with @saga-bus/core (npm layout)"

# ---- 8. (f) with @saga-bus/core, pnpm layout --------------------------------------
# pnpm 10 supports Node >= 18.12 (`npm view pnpm@10 engines`); pnpm 11 needs Node >= 22.13.
PNPM_MAJOR="${PACK_TEST_PNPM:-10}"
mkdir -p "$WORK/app-pnpm"
cd "$WORK/app-pnpm"
cat > package.json <<JSON
{
  "name": "saga-store-pack-test-pnpm", "version": "0.0.0", "private": true,
  "dependencies": {
    "@saga-bus/store-redis": "file:$TARBALL",
    "@saga-bus/core": "file:$CORE_TARBALL",
    "ioredis": "$IOREDIS_VERSION",
    "zod": "$ZOD_VERSION"
  }
}
JSON
log "(f) npx pnpm@$PNPM_MAJOR install (pnpm $(npx --yes "pnpm@$PNPM_MAJOR" --version 2>/dev/null || echo '?'))"
npx --yes "pnpm@$PNPM_MAJOR" install --no-frozen-lockfile --prefer-offline --reporter=append-only --config.update-notifier=false \
  || fail "(f) pnpm@$PNPM_MAJOR could not be fetched or could not install: the pnpm layout was NOT checked"
[[ -d node_modules/.pnpm && -L node_modules/@saga-bus/store-redis ]] || fail "(f) not a pnpm layout (no node_modules/.pnpm, or the store is not linked from it)"
[[ "$(realpath node_modules/@saga-bus/store-redis)" == "$WORK/app-pnpm/node_modules/.pnpm/"* ]] || fail "(f) the store does not live in node_modules/.pnpm"
check_core_layout "$WORK/app-pnpm" "(f) pnpm"
write_core_scripts "$WORK/app-pnpm" pnpm
log "(f) pnpm layout: ESM"
node core-esm.mjs || fail "(f) ESM with @saga-bus/core (pnpm layout)"
log "(f) pnpm layout: CommonJS"
node core-cjs.cjs || fail "(f) CommonJS with @saga-bus/core (pnpm layout)"

# ---- 9. (h) the OpenTelemetry entry point ----------------------------------------------
# Installed after the checks above, which so ran without @opentelemetry/api (an optional peer).
# The repo's own versions of the API and SDK packages (in npm's cache after npm ci).
OTEL_PACKAGES=()
for p in @opentelemetry/api @opentelemetry/sdk-trace-base @opentelemetry/context-async-hooks; do
  # Read from the file: @opentelemetry/api does not export its package.json.
  OTEL_PACKAGES+=("$p@$(node -p "JSON.parse(require('fs').readFileSync('$ROOT/node_modules/$p/package.json', 'utf8')).version")")
done
cd "$WORK/app"
log "(h) npm install ${OTEL_PACKAGES[*]}"
npm install --no-audit --no-fund --prefer-offline --loglevel=error "${OTEL_PACKAGES[@]}"
OTEL_BODY='
const assert = (cond, msg) => { if (!cond) throw new Error("assertion failed: " + msg); };
async function main() {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const stop = instrumentSagaStore({ tracerProvider });
  const store = new InMemorySagaStore();
  const at = new Date();
  await store.insert("OrderSaga", "order-1", { metadata: { sagaId: "s-1", version: 0, createdAt: at, updatedAt: at, isCompleted: false } });
  await tracerProvider.getTracer("app").startActiveSpan("handler", async (parent) => {
    await store.findByCorrelationId("OrderSaga", "order-1");
    parent.end();
  });
  stop();
  const spans = exporter.getFinishedSpans();
  const find = spans.find((s) => s.name === "findByCorrelationId OrderSaga");
  const handler = spans.find((s) => s.name === "handler");
  assert(find && find.attributes["db.operation.name"] === "findByCorrelationId" && find.attributes["saga_bus.store.outcome"] === "found", "a span for findByCorrelationId");
  assert(find.parentSpanContext && find.parentSpanContext.spanId === handler.spanContext().spanId, "the store span is the handler span'"'"'s child");
  console.log("[pack-test] otel " + flavour + ": OK (" + spans.length + " spans)");
}
main().catch((error) => { console.error("[pack-test] otel " + flavour + " FAILED:", error); process.exit(1); });
'
{
  echo 'import { InMemorySagaStore } from "@saga-bus/store-redis";'
  echo 'import { instrumentSagaStore } from "@saga-bus/store-redis/otel";'
  echo 'import { context } from "@opentelemetry/api";'
  echo 'import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";'
  echo 'import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";'
  echo 'const flavour = "esm";'
  echo "$OTEL_BODY"
} > otel-esm.mjs
{
  echo '"use strict";'
  echo 'const { InMemorySagaStore } = require("@saga-bus/store-redis");'
  echo 'const { instrumentSagaStore } = require("@saga-bus/store-redis/otel");'
  echo 'const { context } = require("@opentelemetry/api");'
  echo 'const { AsyncLocalStorageContextManager } = require("@opentelemetry/context-async-hooks");'
  echo 'const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require("@opentelemetry/sdk-trace-base");'
  echo 'const flavour = "cjs";'
  echo "$OTEL_BODY"
} > otel-cjs.cjs
log "(h) otel: ESM"
node otel-esm.mjs || fail "(h) @saga-bus/store-redis/otel through import"
log "(h) otel: CommonJS"
node otel-cjs.cjs || fail "(h) @saga-bus/store-redis/otel through require"
cat > otel-types.mts <<'TS'
import { instrumentSagaStore, type InstrumentSagaStoreOptions } from "@saga-bus/store-redis/otel";
const options: InstrumentSagaStoreOptions = { recordKeys: false };
const stop: () => void = instrumentSagaStore(options);
// @ts-expect-error recordKeys is a boolean (catches declarations that degrade to any)
instrumentSagaStore({ recordKeys: "no" });
stop();
TS
cat > tsconfig.otel.json <<'JSON'
{
  "compilerOptions": { "target": "ES2022", "module": "node16", "moduleResolution": "node16", "strict": true, "noEmit": true, "types": ["node"], "lib": ["ES2022"] },
  "files": ["otel-types.mts"]
}
JSON
log "(h) tsc --noEmit over the otel entry's declarations"
"$TSC" --noEmit -p tsconfig.otel.json || fail "(h) TypeScript check against dist/otel.d.ts"

log "all checks passed"
