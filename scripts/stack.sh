#!/usr/bin/env bash
# Local stand-ins for the two AWS accounts and the Kafka cluster, on 127.0.0.1 (usage below).
set -euo pipefail

usage() {
  cat <<'EOF'
Local stand-ins for the two AWS accounts and the Kafka cluster, on 127.0.0.1 only.

  scripts/stack.sh up       install (scripts/bootstrap.sh), start moto_server and tansu, create
                            the topic, bootstrap both accounts, turn on IAM enforcement, write
                            $STACK_DIR/stack.env (exists only once everything is ready)
  scripts/stack.sh down     stop everything this STACK_DIR started; nothing is left running
  scripts/stack.sh status   what runs (exit 0 all up, 3 nothing up, 1 partly up)
  scripts/stack.sh reset    clean state without reinstalling: wipe moto, re-bootstrap the accounts
                            (new keys and external id), restart tansu and recreate the topic,
                            faultproxies back to pass with zero counters; rewrites stack.env
  scripts/stack.sh env      print stack.env  (use: set -a; . "$STACK_DIR/stack.env"; set +a)

Environment (defaults):
  STACK_DIR=.local/stack  MOTO_PORT=45660  KAFKA_PORT=49092  AWS_REGION=eu-west-1
  KAFKA_TOPIC=sensor-readings  KAFKA_PARTITIONS=3  STACK_TIMEOUT=60 (seconds each readiness
  wait may take, counted from the moment up starts waiting)
  PRODUCER_ACCOUNT_ID=111111111111  CONSUMER_ACCOUNT_ID=222222222222
  REGISTRY_NAME, SCHEMA_NAME, READINGS_TABLE, AGGREGATES_TABLE, DEAD_LETTER_QUEUE_NAME, BROKER_SECRET_NAME,
  SCHEMA_READER_ROLE_NAME (see scripts/stack/bootstrap_accounts.py)
  An existing Kafka broker instead of tansu (PLAINTEXT):
  KAFKA_BOOTSTRAP_SERVERS=host:port,...   up starts no tansu: it creates the topic there and
                            writes these addresses to stack.env and the broker-map secret;
                            reset deletes and recreates the topic; down leaves the broker alone
  Optional fault proxies (scripts/stack/faultproxy.py), started and stopped with the stack:
  MOTO_PROXY_PORT=P         HTTP faultproxy on P in front of moto (AWS_PROXY_ENDPOINT_URL)
  KAFKA_PROXY_PORT=P        TCP faultproxy on P in front of tansu; tansu then advertises
                            127.0.0.1:P, so every Kafka connection goes through the proxy
                            (not with KAFKA_BOOTSTRAP_SERVERS)
  KAFKA_PROXY_CONTROL_PORT  its control endpoint (default KAFKA_PROXY_PORT+1)
Several stacks can run at once with different ports and STACK_DIRs.
EOF
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
CTL="$ROOT/scripts/stack/stackctl.py"

STACK_DIR="${STACK_DIR:-$ROOT/.local/stack}"
MOTO_PORT="${MOTO_PORT:-45660}"
KAFKA_PORT="${KAFKA_PORT:-49092}"
AWS_REGION="${AWS_REGION:-eu-west-1}"
KAFKA_TOPIC="${KAFKA_TOPIC:-sensor-readings}"
KAFKA_PARTITIONS="${KAFKA_PARTITIONS:-3}"
STACK_TIMEOUT="${STACK_TIMEOUT:-60}"
MOTO_PROXY_PORT="${MOTO_PROXY_PORT:-}"
KAFKA_PROXY_PORT="${KAFKA_PROXY_PORT:-}"
KAFKA_PROXY_CONTROL_PORT="${KAFKA_PROXY_CONTROL_PORT:-}"
KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-}"   # set: an existing broker, no tansu
if [ -n "$KAFKA_PROXY_PORT" ] && [ -z "$KAFKA_PROXY_CONTROL_PORT" ]; then
  KAFKA_PROXY_CONTROL_PORT=$((KAFKA_PROXY_PORT + 1))
fi
export AWS_REGION KAFKA_TOPIC

mkdir -p "$STACK_DIR"
STACK_DIR="$(cd "$STACK_DIR" && pwd)"
LOG_DIR="$STACK_DIR/logs"
ENV_FILE="$STACK_DIR/stack.env"
CONF_FILE="$STACK_DIR/stack.conf"   # settings of the running stack, for down/reset/status
CONF_VARS=(MOTO_PORT KAFKA_PORT AWS_REGION KAFKA_TOPIC KAFKA_PARTITIONS MOTO_PROXY_PORT
           KAFKA_PROXY_PORT KAFKA_PROXY_CONTROL_PORT PRODUCER_ACCOUNT_ID CONSUMER_ACCOUNT_ID
           REGISTRY_NAME SCHEMA_NAME READINGS_TABLE AGGREGATES_TABLE DEAD_LETTER_QUEUE_NAME BROKER_SECRET_NAME
           SCHEMA_READER_ROLE_NAME PRODUCER_LAMBDA_USER CONSUMER_LAMBDA_USER KAFKA_BOOTSTRAP_SERVERS)
# Order matters for down (reverse of start).
COMPONENTS=(moto tansu aws-proxy kafka-proxy)

say() { echo "stack: $*" >&2; }
die() { echo "stack: error: $*" >&2; exit 1; }
pidfile() { echo "$STACK_DIR/$1.pid"; }
logfile() { echo "$LOG_DIR/$1.log"; }
ctl() { "$PY" "$CTL" "$@"; }
# Pid of component $1 if the very process recorded in its pid file runs (stackctl checks that
# it is not another process that got the same pid).
alive_pid() {
  [ -f "$(pidfile "$1")" ] && ctl alive --pidfile "$(pidfile "$1")"
}
alive() { alive_pid "$1" >/dev/null; }
now_ms() { date +%s%3N; }

for v in MOTO_PORT KAFKA_PORT MOTO_PROXY_PORT KAFKA_PROXY_PORT KAFKA_PROXY_CONTROL_PORT KAFKA_PARTITIONS; do
  val="${!v}"
  if [ -n "$val" ] && ! [[ "$val" =~ ^[0-9]+$ ]]; then die "$v must be a number, got '$val'"; fi
done

save_conf() {
  local v
  for v in "${CONF_VARS[@]}"; do
    if [ -n "${!v:-}" ]; then printf '%s=%q\n' "$v" "${!v}"; fi
  done >"$CONF_FILE.tmp"
  mv -f "$CONF_FILE.tmp" "$CONF_FILE"
}

# A running stack keeps the settings it was started with, whatever this shell's env says.
load_conf() {
  if [ -f "$CONF_FILE" ] && any_running; then
    local v
    for v in "${CONF_VARS[@]}"; do unset "$v"; done
    # shellcheck disable=SC1090
    . "$CONF_FILE"
    for v in "${CONF_VARS[@]}"; do
      if [ -n "${!v:-}" ]; then export "${v?}"; fi
    done
    MOTO_PROXY_PORT="${MOTO_PROXY_PORT:-}"
    KAFKA_PROXY_PORT="${KAFKA_PROXY_PORT:-}"
    KAFKA_PROXY_CONTROL_PORT="${KAFKA_PROXY_CONTROL_PORT:-}"
    KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-}"
  fi
}

# Serialise commands on one STACK_DIR (other STACK_DIRs are independent).
lock() {
  exec 8>"$STACK_DIR/.lock"
  flock -w 120 8 || die "another stack.sh command holds $STACK_DIR/.lock"
}

kafka_advertised_port() { echo "${KAFKA_PROXY_PORT:-$KAFKA_PORT}"; }
external_kafka() { [ -n "$KAFKA_BOOTSTRAP_SERVERS" ]; }
# The addresses clients use: the existing broker's, or our tansu's (through its proxy, if any).
kafka_bootstrap() {
  if external_kafka; then echo "$KAFKA_BOOTSTRAP_SERVERS"; else echo "127.0.0.1:$(kafka_advertised_port)"; fi
}
# stack.env's KAFKA_PORT: tansu's port, or the port of the existing broker's first address.
kafka_port() {
  if external_kafka; then local first="${KAFKA_BOOTSTRAP_SERVERS%%,*}"; echo "${first##*:}"; else echo "$KAFKA_PORT"; fi
}

start_moto() {
  ctl spawn --pidfile "$(pidfile moto)" --log "$(logfile moto)" -- \
    "$ROOT/.venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >/dev/null
}

start_tansu() {
  local adv
  adv="$(kafka_advertised_port)"
  ctl spawn --pidfile "$(pidfile tansu)" --log "$(logfile tansu)" -- \
    "$ROOT/.venv/bin/tansu" broker \
    --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$adv" \
    --storage-engine memory://tansu/ >/dev/null
}

start_proxies() {
  if [ -n "$MOTO_PROXY_PORT" ]; then
    ctl spawn --pidfile "$(pidfile aws-proxy)" --log "$(logfile aws-proxy)" -- \
      "$PY" "$ROOT/scripts/stack/faultproxy.py" http --listen "127.0.0.1:$MOTO_PROXY_PORT" \
      --upstream "http://127.0.0.1:$MOTO_PORT" >/dev/null
  fi
  if [ -n "$KAFKA_PROXY_PORT" ]; then
    ctl spawn --pidfile "$(pidfile kafka-proxy)" --log "$(logfile kafka-proxy)" -- \
      "$PY" "$ROOT/scripts/stack/faultproxy.py" tcp --listen "127.0.0.1:$KAFKA_PROXY_PORT" \
      --upstream "127.0.0.1:$KAFKA_PORT" --control "127.0.0.1:$KAFKA_PROXY_CONTROL_PORT" >/dev/null
  fi
}

# wait_http URL COMPONENT SINCE: HTTP 200 from URL within STACK_TIMEOUT of SINCE (epoch ms).
wait_http() {
  ctl wait-http --url "$1" --timeout "$STACK_TIMEOUT" --since "$3" \
    --pidfile "$(pidfile "$2")" --log "$(logfile "$2")"
}

wait_moto() { wait_http "http://127.0.0.1:$MOTO_PORT/moto-api/" moto "$1"; }

wait_proxies() {
  if [ -n "$MOTO_PROXY_PORT" ]; then
    wait_http "http://127.0.0.1:$MOTO_PROXY_PORT/__fault__" aws-proxy "$1"
  fi
  if [ -n "$KAFKA_PROXY_PORT" ]; then
    wait_http "http://127.0.0.1:$KAFKA_PROXY_CONTROL_PORT/__fault__" kafka-proxy "$1"
  fi
}

# Broker metadata answers, topic created, every partition has a leader. Goes through the
# Kafka proxy when there is one (the broker advertises the proxy's address). $1: the epoch ms
# the wait is measured from; further args for kafka-topic (--recreate).
wait_kafka_topic() {
  local since="$1" watch=(--pidfile "$(pidfile tansu)" --log "$(logfile tansu)")
  shift
  if external_kafka; then watch=(); fi
  ctl kafka-topic --bootstrap "$(kafka_bootstrap)" --topic "$KAFKA_TOPIC" \
    --partitions "$KAFKA_PARTITIONS" --timeout "$STACK_TIMEOUT" --since "$since" "${watch[@]}" "$@"
}

# Right after start_tansu: poll (pure bash, no interpreter start-up) until tansu's port opens,
# then create the topic directly on it. kafka-topic afterwards checks and repairs the result.
create_topic_early() {
  if ! timeout "$STACK_TIMEOUT" bash -c \
      'until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do sleep 0.005; done' _ "$KAFKA_PORT"; then
    die "tansu did not open port $KAFKA_PORT (log: $(logfile tansu))"
  fi
  "$ROOT/.venv/bin/tansu" topic create "$KAFKA_TOPIC" --partitions "$KAFKA_PARTITIONS" \
    --broker "tcp://127.0.0.1:$KAFKA_PORT" >>"$(logfile tansu)" 2>&1 || true
}

bootstrap_accounts() {  # $@: extra args (--reset)
  local broker="$KAFKA_BOOTSTRAP_SERVERS"   # the broker itself, not its fault proxy
  external_kafka || broker="127.0.0.1:$KAFKA_PORT"
  local extra=(
    --set "MOTO_PORT=$MOTO_PORT" --set "KAFKA_PORT=$(kafka_port)"
    --set "KAFKA_PARTITIONS=$KAFKA_PARTITIONS"
    --set "KAFKA_BROKER_ADDRESS=$broker"
    --set "STACK_DIR=$STACK_DIR" --set "STACK_LOG_DIR=$LOG_DIR"
  )
  if [ -n "$MOTO_PROXY_PORT" ]; then
    extra+=(--set "MOTO_PROXY_PORT=$MOTO_PROXY_PORT"
            --set "AWS_PROXY_ENDPOINT_URL=http://127.0.0.1:$MOTO_PROXY_PORT"
            --set "AWS_PROXY_CONTROL_URL=http://127.0.0.1:$MOTO_PROXY_PORT/__fault__")
  fi
  if [ -n "$KAFKA_PROXY_PORT" ]; then
    extra+=(--set "KAFKA_PROXY_PORT=$KAFKA_PROXY_PORT"
            --set "KAFKA_PROXY_CONTROL_PORT=$KAFKA_PROXY_CONTROL_PORT"
            --set "KAFKA_PROXY_CONTROL_URL=http://127.0.0.1:$KAFKA_PROXY_CONTROL_PORT/__fault__")
  fi
  "$PY" "$ROOT/scripts/stack/bootstrap_accounts.py" \
    --endpoint "http://127.0.0.1:$MOTO_PORT" \
    --kafka-bootstrap "$(kafka_bootstrap)" \
    --env-out "$ENV_FILE.pending" "${extra[@]}" "$@" 2>>"$(logfile bootstrap)" || {
      tail -n 30 "$(logfile bootstrap)" >&2
      die "account bootstrap failed (log: $(logfile bootstrap))"
    }
}

# Seconds between SIGTERM and SIGKILL. tansu waits ~5 s for open client connections on
# SIGTERM; with memory storage there is nothing to save, so it gets little grace.
stop_timeout() {
  case "$1" in
    tansu) echo 1 ;;
    *) echo 10 ;;
  esac
}

stop_all() {
  local i c
  for (( i=${#COMPONENTS[@]}-1; i>=0; i-- )); do
    c="${COMPONENTS[$i]}"
    if [ -f "$(pidfile "$c")" ]; then
      if alive "$c"; then say "stopping $c"; fi
      ctl stop --pidfile "$(pidfile "$c")" --timeout "$(stop_timeout "$c")"
    fi
  done
}

any_running() {
  local c files=()
  for c in "${COMPONENTS[@]}"; do
    if [ -f "$(pidfile "$c")" ]; then files+=(--pidfile "$(pidfile "$c")"); fi
  done
  [ "${#files[@]}" -gt 0 ] && ctl alive "${files[@]}" >/dev/null
}

expected_components() {
  echo moto
  if ! external_kafka; then echo tansu; fi
  if [ -n "$MOTO_PROXY_PORT" ]; then echo aws-proxy; fi
  if [ -n "$KAFKA_PROXY_PORT" ]; then echo kafka-proxy; fi
}

on_failed_up() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    say "up failed; stopping what was started (logs: $LOG_DIR)"
    if [ -n "${KPID:-}" ]; then kill "$KPID" 2>/dev/null || true; fi
    stop_all || true
    rm -f "$ENV_FILE" "$ENV_FILE.pending"
  fi
}

cmd_up() {
  local t0 c all=1
  t0=$(now_ms)
  "$ROOT/scripts/bootstrap.sh"
  lock
  mkdir -p "$LOG_DIR"
  load_conf
  if any_running; then
    for c in $(expected_components); do alive "$c" || all=0; done
    if [ "$all" = 1 ] && [ -f "$ENV_FILE" ]; then
      say "already up ($STACK_DIR); 'scripts/stack.sh reset' for a clean state"
      return 0
    fi
    say "a previous start was left half-way: stopping it first"
    stop_all
  fi
  rm -f "$ENV_FILE"

  local ports=("$MOTO_PORT")
  if external_kafka; then
    [ -z "$KAFKA_PROXY_PORT" ] || die "KAFKA_PROXY_PORT needs the stack's own broker (unset KAFKA_BOOTSTRAP_SERVERS)"
    say "kafka: the existing broker at $KAFKA_BOOTSTRAP_SERVERS (KAFKA_BOOTSTRAP_SERVERS); tansu is not started"
  else
    ports+=("$KAFKA_PORT")
  fi
  [ -n "$MOTO_PROXY_PORT" ] && ports+=("$MOTO_PROXY_PORT")
  [ -n "$KAFKA_PROXY_PORT" ] && ports+=("$KAFKA_PROXY_PORT" "$KAFKA_PROXY_CONTROL_PORT")
  if [ "$(printf '%s\n' "${ports[@]}" | sort -u | wc -l)" -ne "${#ports[@]}" ]; then
    die "ports must all differ: ${ports[*]}"
  fi
  if ! ctl ports-free "${ports[@]}"; then
    die "cannot start: a port is taken (set MOTO_PORT / KAFKA_PORT / *_PROXY_PORT to free ones)"
  fi
  save_conf

  # From here on, a failure stops whatever was started.
  KPID=""   # global: the EXIT trap runs after this function's locals are gone
  trap on_failed_up EXIT
  start_moto
  external_kafka || start_tansu
  start_proxies
  local since
  since=$(now_ms)   # every readiness wait counts from here
  wait_kafka_topic "$since" &   # tansu is ready in milliseconds, moto takes seconds: wait for both at once
  KPID=$!
  wait_moto "$since"
  wait_proxies "$since"
  wait "$KPID"
  KPID=""
  bootstrap_accounts
  mv -f "$ENV_FILE.pending" "$ENV_FILE"   # stack.env appears only now: the stack is ready
  trap - EXIT
  say "up in $(( $(now_ms) - t0 )) ms: moto http://127.0.0.1:$MOTO_PORT, kafka $(kafka_bootstrap), topic $KAFKA_TOPIC"
  say "env: $ENV_FILE   logs: $LOG_DIR"
}

cmd_down() {
  lock
  load_conf
  stop_all
  rm -f "$ENV_FILE" "$ENV_FILE.pending"
  if any_running; then die "something is still running"; fi
  say "down ($STACK_DIR)"
}

cmd_status() {
  local c n_up=0 n=0 pid port
  load_conf
  for c in "${COMPONENTS[@]}"; do
    case "$c" in
      moto) port=$MOTO_PORT ;;
      tansu) port=$KAFKA_PORT; if external_kafka; then port=""; fi ;;
      aws-proxy) port=$MOTO_PROXY_PORT ;;
      kafka-proxy) port=$KAFKA_PROXY_PORT ;;
    esac
    if pid="$(alive_pid "$c")"; then
      printf '%-12s running  pid %-8s port %s\n' "$c" "$pid" "$port"
      n_up=$((n_up + 1)); n=$((n + 1))
    elif [ -n "$port" ]; then
      printf '%-12s stopped\n' "$c"
      n=$((n + 1))
    fi
  done
  if external_kafka; then printf '%-12s existing broker %s (not ours)\n' kafka "$KAFKA_BOOTSTRAP_SERVERS"; fi
  if [ -f "$ENV_FILE" ]; then echo "stack.env    $ENV_FILE"; else echo "stack.env    (none: not ready)"; fi
  if [ "$n_up" -eq 0 ]; then return 3; fi
  if [ "$n_up" -lt "$n" ] || [ ! -f "$ENV_FILE" ]; then return 1; fi
  return 0
}

cmd_reset() {
  local t0
  t0=$(now_ms)
  "$ROOT/scripts/bootstrap.sh"
  lock
  load_conf
  alive moto || die "moto is not running in $STACK_DIR: run 'scripts/stack.sh up' first"
  rm -f "$ENV_FILE"
  local c
  for c in aws-proxy kafka-proxy; do
    if [ -f "$(pidfile "$c")" ] && ! alive "$c"; then die "$c is no longer running; run down and up"; fi
  done
  # Clients that reconnect to the new broker before the topic exists would have it created by
  # tansu with 4 partitions (it creates missing topics on metadata requests). With the Kafka
  # proxy, keep them out until the topic is there. Without it, create the topic the moment
  # the port opens; should a client still win, kafka-topic below replaces its topic.
  if alive kafka-proxy; then
    ctl http-post --url "http://127.0.0.1:$KAFKA_PROXY_CONTROL_PORT/__fault__" \
      --content-type application/json --data '{"mode": "refuse"}' >/dev/null
  fi
  local recreate=()
  if external_kafka; then
    recreate=(--recreate)   # not our broker: an empty topic is all we can give
  else
    # tansu keeps topics and offsets in memory: a restart is the quickest clean broker.
    ctl stop --pidfile "$(pidfile tansu)" --timeout "$(stop_timeout tansu)"
    ctl ports-free "$KAFKA_PORT" || die "port $KAFKA_PORT did not come free after stopping tansu"
    start_tansu
    create_topic_early
  fi
  if alive aws-proxy; then
    ctl http-post --url "http://127.0.0.1:$MOTO_PROXY_PORT/__fault__/reset" >/dev/null
  fi
  if alive kafka-proxy; then
    ctl http-post --url "http://127.0.0.1:$KAFKA_PROXY_CONTROL_PORT/__fault__/reset" >/dev/null
  fi
  bootstrap_accounts --reset &   # moto and tansu are independent: both at once
  local bpid=$!
  if ! wait_kafka_topic "$(now_ms)" "${recreate[@]}"; then
    wait "$bpid" || true
    rm -f "$ENV_FILE.pending"
    die "kafka did not come back after the restart (log: $(logfile tansu))"
  fi
  wait "$bpid" || { rm -f "$ENV_FILE.pending"; die "account bootstrap failed"; }
  mv -f "$ENV_FILE.pending" "$ENV_FILE"
  say "reset in $(( $(now_ms) - t0 )) ms"
}

cmd_env() {
  [ -f "$ENV_FILE" ] || die "no $ENV_FILE: the stack is not up (scripts/stack.sh up)"
  cat "$ENV_FILE"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  reset) cmd_reset ;;
  env) cmd_env ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
