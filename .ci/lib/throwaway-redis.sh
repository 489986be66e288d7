# Sourced by .ci/pack-test.sh and .ci/bundle-test.sh: a redis-server of the
# script's own on a free port, in a folder of its own, stopped by the
# script's EXIT trap. Needs `fail` and `log` from the sourcing script.
REDIS_PID=""

# start_throwaway_redis <dir>: sets PORT and REDIS_PID once the server answers PING.
start_throwaway_redis() {
  local dir="$1"
  mkdir -p "$dir"
  PORT="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
  redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" --daemonize no \
    --logfile "$dir/redis.log" &
  REDIS_PID=$!
  for _ in $(seq 1 100); do ping_redis && break; sleep 0.1; done
  ping_redis || { cat "$dir/redis.log" >&2 || true; fail "redis-server on port $PORT did not answer PING"; }
  log "redis-server pid $REDIS_PID on 127.0.0.1:$PORT"
}

ping_redis() {
  local reply=""
  { exec 3<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  read -r -t 2 reply <&3 || true
  exec 3>&- 3<&-
  [[ "$reply" == +PONG* ]]
}

stop_throwaway_redis() {
  if [[ -n "$REDIS_PID" ]] && kill -0 "$REDIS_PID" 2>/dev/null; then
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
  fi
}
