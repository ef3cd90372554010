#!/usr/bin/env bash
# scripts/demo.sh - `make demo`: throwaway PostgreSQL, MariaDB, Redis and a Kafka mock broker
# on 127.0.0.1, one `sluice serve`, and two pipelines created over its REST API from the
# specs in pipelines/:
#   pipelines/demo-pg-to-kafka.yaml   PostgreSQL -> Kafka + Redis, JavaScript processor
#   pipelines/mariadb-to-kafka.yaml   MariaDB -> Kafka
# Rows are written to both databases every second (inserts, updates, deletes) and the
# terminal shows the change events as they come out of Kafka (kcat) and Redis (XREAD),
# plus a few metrics and the pipelines' states every 5 seconds.
#
# Invariants:
#   - every process it starts is stopped, by PID, on every exit path (end of
#     SLUICE_DEMO_DURATION, Ctrl-C, SIGTERM, a failure during start-up): kcat and its
#     formatter, sluice serve (SIGTERM, which stops each pipeline cleanly), then the
#     servers (tests/lib/servers.sh), whose throwaway directory is removed.
#   - the demo proper runs in a session of its own (setsid), under a small wrapper that
#     stays in the terminal's foreground process group. A Ctrl-C on the terminal signals
#     that whole group, so only the wrapper (and make) see it: the wrapper passes it on as
#     one SIGTERM and waits, and the demo stops its processes in order. Without the
#     session, every server and sluice itself would get the SIGINT at the same moment:
#     the servers would die under pipelines that are still draining, and serve's SIGTERM
#     from the cleanup would be a second signal (exit without draining).
#   - everything listens on 127.0.0.1 only, on free ports; nothing outside the temp dir
#     is written.
#
#   SLUICE_DEMO_DURATION=N   stop by itself N seconds after the pipelines are up (tests)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD

PG_SPEC=pipelines/demo-pg-to-kafka.yaml
MY_SPEC=pipelines/mariadb-to-kafka.yaml
# Topics the two specs write to (demo.{schema}.{table} and shop.{db}.{table}). They are
# created up front in the mock broker, so kcat can subscribe before the first event.
TOPICS=(demo.public.customers demo.public.orders shop.shop.products)
STREAMS=(demo.customers demo.orders)           # the PostgreSQL pipeline's Redis streams
METRICS_EVERY=5                                # seconds between metrics lines

die() {
    echo "demo: $*" >&2
    exit 1
}

for tool in ./sluice build/tools/kafka_mock; do
    [[ -x "$tool" ]] || die "$tool is not built: run \`make demo\` (it builds and installs what is missing)"
done
for cmd in psql mariadb redis-cli kcat jq curl setsid; do
    command -v "$cmd" >/dev/null 2>&1 || die "$cmd not found: run \`make demo\` (scripts/deps.sh installs it)"
done
if [[ -n "${SLUICE_DEMO_DURATION:-}" && ! "$SLUICE_DEMO_DURATION" =~ ^[1-9][0-9]*$ ]]; then
    die "SLUICE_DEMO_DURATION=$SLUICE_DEMO_DURATION: want a number of seconds > 0"
fi

# ---- the wrapper: terminal signals in, one SIGTERM out ---------------------------------

if [[ -z "${SL_DEMO_WRAPPER:-}" ]]; then
    # The demo's session leader is bash itself (setsid forks only for a process group
    # leader, and a script's background job is not one), so $! is the demo's PID.
    SL_DEMO_WRAPPER=$$ setsid bash "$root/scripts/demo.sh" </dev/null &
    demo_pid=$!
    sig_rc=""
    forward() {
        sig_rc=${sig_rc:-$1}
        kill -TERM "$demo_pid" 2>/dev/null
    }
    trap 'forward 130' INT
    trap 'forward 143' TERM
    trap 'forward 129' HUP
    rc=0
    while kill -0 "$demo_pid" 2>/dev/null; do
        wait "$demo_pid"            # returns early when a trapped signal arrives
        rc=$?
    done
    exit "${sig_rc:-$rc}"
fi

# ---- the demo, in its own session -----------------------------------------------------

# Own servers and state dir, even when run from inside the test harness.
unset SL_TEST_DIR SL_PG_PORT SL_PG_DSN SL_PG_HOST SL_PG_DATA SL_REDIS_PORT SL_REDIS_URI \
    SL_MY_PORT SL_MY_DSN SL_MY_SOCKET SL_KAFKA_BROKERS SL_KAFKA_PID
# shellcheck source=../tests/lib/servers.sh
source tests/lib/servers.sh

serve_pid=""
kcat_pid=""
fmt_pid=""

# "name=pid ..." of every process this script started and that still runs.
demo_pids() {
    local -a out=()
    local name pid
    if [[ -n "${SL_TEST_DIR:-}" && -f "$SL_TEST_DIR/pids" ]]; then
        while read -r name pid _; do
            [[ -d /proc/$pid ]] && out+=("$name=$pid")
        done <"$SL_TEST_DIR/pids"
    fi
    [[ -n "$serve_pid" && -d /proc/$serve_pid ]] && out+=("sluice=$serve_pid")
    [[ -n "$kcat_pid" && -d /proc/$kcat_pid ]] && out+=("kcat=$kcat_pid")
    echo "${out[*]}"
}

# stop_pid NAME PID: SIGTERM one process this script started, wait up to 20 s, then KILL.
# Returns the process's exit status (0 when it was not running).
stop_pid() {
    local name=$1 pid=$2 i
    [[ -n "$pid" ]] || return 0
    if kill -TERM "$pid" 2>/dev/null; then
        for ((i = 0; i < 200; i++)); do
            _sl_proc_alive "$pid" || break      # gone, or a zombie that wait reaps below
            sleep 0.1
        done
        if ((i == 200)); then
            echo "demo: $name (pid $pid) did not stop within 20 s; sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    wait "$pid" 2>/dev/null
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    trap '' INT TERM                            # stopping: a second Ctrl-C must not cut it short
    local pids
    pids=$(demo_pids)
    echo
    echo "demo: stopping ${pids:-nothing} ..."
    stop_pid kcat "$kcat_pid"
    [[ -n "$fmt_pid" ]] && wait "$fmt_pid" 2>/dev/null   # ends at EOF once kcat is gone
    if [[ -n "$serve_pid" ]]; then
        stop_pid "sluice serve" "$serve_pid"
        echo "demo: sluice serve exited with status $? (0: every pipeline stopped cleanly)"
    fi
    sl_servers_stop
    local left="" kv
    for kv in $pids; do
        [[ -d /proc/${kv#*=} ]] && left+=" $kv"
    done
    if [[ -n "$left" ]]; then
        echo "demo: still running after the stop:$left" >&2
        exit 1
    fi
    echo "demo: stopped ${pids:-nothing}; nothing left running."
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- servers ------------------------------------------------------------------------

echo "demo: starting PostgreSQL 15, MariaDB 10.11, Redis 7 and a Kafka mock broker on 127.0.0.1 ..."
t0=$SECONDS
topic_args=""
for t in "${TOPICS[@]}"; do topic_args+=" -t $t:4"; done
sl_pg_start || die "PostgreSQL did not start"
sl_mariadb_start || die "MariaDB did not start"
sl_redis_start || die "Redis did not start"
SL_KAFKA_MOCK_ARGS=$topic_args sl_kafka_start || die "the Kafka mock broker did not start"
work=$SL_TEST_DIR/demo
mkdir -p "$work"
echo "demo: PostgreSQL  $SL_PG_DSN"
echo "demo: MariaDB     $SL_MY_DSN"
echo "demo: Redis       $SL_REDIS_URI"
echo "demo: Kafka       $SL_KAFKA_BROKERS (librdkafka mock broker)"
echo "demo: state dir   $SL_TEST_DIR (removed at exit)"

# Tables, and a few rows that exist before the pipelines do: they arrive as snapshot
# reads (op r) before the streamed changes. FULL replica identity: deletes carry the row.
psql "$SL_PG_DSN" -v ON_ERROR_STOP=1 -Xq <<'SQL' || die "creating the PostgreSQL tables failed"
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text);
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers(id),
                     amount numeric(12,2), status text NOT NULL);
ALTER TABLE customers REPLICA IDENTITY FULL;
ALTER TABLE orders REPLICA IDENTITY FULL;
INSERT INTO customers (name, email) VALUES ('Ann Lee', 'ann.lee@example.com');
INSERT INTO orders (customer_id, amount, status) VALUES (1, 75.00, 'paid');
SQL
my() { mariadb --no-defaults --protocol=tcp -h 127.0.0.1 -P "$SL_MY_PORT" -u root "$@"; }
my <<'SQL' || die "creating the MariaDB tables failed"
CREATE DATABASE shop;
CREATE TABLE shop.products (id int AUTO_INCREMENT PRIMARY KEY, sku varchar(16) NOT NULL,
                            price decimal(10,2) NOT NULL, stock int NOT NULL);
INSERT INTO shop.products (sku, price, stock) VALUES ('SKU-0', 9.90, 100);
SQL

# ---- sluice serve and the pipelines -------------------------------------------------

# The specs' ${VAR}s are expanded from serve's environment when a spec is posted.
export PG_DSN=$SL_PG_DSN MY_DSN=$SL_MY_DSN REDIS_URI=$SL_REDIS_URI
export KAFKA_BROKERS=$SL_KAFKA_BROKERS
unset SLUICE_CONFIG SLUICE_PIPELINES_DIR SLUICE_AUTH_TOKEN SLUICE_AUTH_TOKEN_FILE
# SLUICE_STOP_TIMEOUT: at exit, a pipeline gives its sinks at most 5 s to take what it read.
SLUICE_STOP_TIMEOUT=5 ./sluice serve --listen 127.0.0.1:0 --data-dir "$work/data" </dev/null \
    >"$work/serve.log" 2>&1 &
serve_pid=$!
port=""
for _ in $(seq 1 100); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$work/serve.log")
    [[ -n "$port" ]] && break
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.1
done
if [[ -z "$port" ]]; then
    echo "demo: sluice serve did not come up; its log:" >&2
    cat "$work/serve.log" >&2
    exit 1
fi
api=http://127.0.0.1:$port
# curl to the API, never through an http_proxy the environment may name.
api_curl() { curl -s --noproxy '*' "$@"; }
echo "demo: sluice serve $api (pid $serve_pid, log $work/serve.log)"

# post_spec FILE: create a pipeline from FILE (YAML body), print what the API answered.
post_spec() {
    local body code
    body=$(api_curl -S -o - -w '\n%{http_code}' -XPOST "$api/pipelines" \
        -H 'Content-Type: application/yaml' --data-binary @"$1") || return 1
    code=${body##*$'\n'}
    body=${body%$'\n'*}
    if [[ "$code" != 201 ]]; then
        echo "demo: POST /pipelines $1: HTTP $code: $body" >&2
        return 1
    fi
    echo "demo: POST /pipelines < $1 -> $code, pipeline $(jq -r '.name + " " + .status' <<<"$body")"
}
post_spec "$PG_SPEC" || exit 1
post_spec "$MY_SPEC" || exit 1

# Wait until both pipelines stream (their snapshots are a row or two).
ready=""
for _ in $(seq 1 150); do
    if [[ "$(api_curl -o /dev/null -w '%{http_code}' "$api/readyz")" == 200 ]]; then
        ready=1
        break
    fi
    sleep 0.1
done
if [[ -z "$ready" ]]; then
    echo "demo: the pipelines did not become ready: $(api_curl "$api/readyz")" >&2
    tail -n 20 "$work/serve.log" >&2
    exit 1
fi

# ---- what the user sees ---------------------------------------------------------------

# jq helpers: pad a string to a width; one change event as "op row" (the row after the
# change, or before it for a delete).
# shellcheck disable=SC2016  # jq code, not shell
JQ_DEFS='
    def pad($n): if length < $n then . + (" " * ($n - length)) else . end;
    def change:
        ({"c": "insert", "u": "update", "d": "delete", "r": "snapshot", "t": "truncate"}[.op]
         // .op | pad(8)) + " "
        + if .op == "d" then "before=" + (.before | tojson) else (.after | tojson) end;
'

# Kafka: one consumer (group mode, so one kcat reads every topic) from the beginning,
# JSON envelopes through a FIFO into jq, one line per record.
mkfifo "$work/kafka.fifo" || die "mkfifo failed"
jq --unbuffered -r "$JQ_DEFS"'
    (try (.payload | fromjson) catch null) as $e
    | "kafka <- " + (.topic | pad(22)) + " "
      + if .payload == null then "tombstone key=\(.key)"     # follows a delete
        elif $e == null then "(not event JSON) \(.payload)"
        else $e | change end' <"$work/kafka.fifo" &
fmt_pid=$!
kcat -b "$KAFKA_BROKERS" -G sluice-demo-viewer -X auto.offset.reset=earliest -q -u -J \
    "${TOPICS[@]}" >"$work/kafka.fifo" 2>"$work/kcat.log" </dev/null &
kcat_pid=$!

# Redis: entries newer than the last shown, per stream (XREAD without BLOCK).
redis_last=()
for _ in "${STREAMS[@]}"; do redis_last+=(0-0); done
show_redis() {
    local out i
    out=$(redis-cli -p "$SL_REDIS_PORT" --json XREAD COUNT 100 STREAMS "${STREAMS[@]}" \
        "${redis_last[@]}" 2>/dev/null) || return 0
    [[ -n "$out" && "$out" != null ]] || return 0
    # RESP3 map {stream: [[id, [field, value, ...]], ...]}
    jq -r "$JQ_DEFS"'
        to_entries[] | .key as $s | .value[]
        | (.[1] | [range(0; length; 2) as $i | {key: .[$i], value: .[$i + 1]}]
           | from_entries) as $f
        | "redis <- " + ($s | pad(15)) + " " + (.[0] | pad(15)) + " "
          + (try ($f.value | fromjson | change) catch "(not event JSON) \($f.value)")
        ' <<<"$out"
    for i in "${!STREAMS[@]}"; do
        local id
        id=$(jq -r --arg s "${STREAMS[i]}" '.[$s] // [] | last // [] | .[0] // empty' <<<"$out")
        [[ -n "$id" ]] && redis_last[i]=$id
    done
}

# Metrics: a few series per pipeline from GET /metrics, and states from GET /pipelines.
show_metrics() {
    api_curl "$api/metrics" | awk '
        /^#/ { next }
        match($0, /pipeline="[^"]*"/) {
            p = substr($0, RSTART + 10, RLENGTH - 11)
            name = $1; sub(/\{.*/, "", name)
            if (!(p in seen)) { seen[p] = 1; order[++n] = p }
            if (name == "sluice_sink_events_written_total") {
                match($0, /sink="[^"]*"/)
                sinks[p] = sinks[p] sprintf(" %s=%s", substr($0, RSTART + 6, RLENGTH - 7), $NF)
            } else v[p, name] = $NF
        }
        END {
            for (i = 1; i <= n; i++) {
                p = order[i]
                printf "metrics %-22s events read %s, committed %s in %s batches;" \
                       " written%s; lag %.2f s; checkpoint age %.1f s\n", p,
                       v[p, "sluice_events_read_total"], v[p, "sluice_events_committed_total"],
                       v[p, "sluice_batches_total"], sinks[p],
                       v[p, "sluice_source_lag_seconds"], v[p, "sluice_checkpoint_age_seconds"]
            }
        }'
    api_curl "$api/pipelines" | jq -r "$JQ_DEFS"'
        .[] | "state   " + (.name | pad(22)) + " " + .status
        + (if .last_error then " (" + .last_error + ")" else "" end)
        + ", checkpoint " + (.checkpoint.position
            | if type != "object" then tojson
              elif .lsn then "lsn " + .lsn
              elif .file then "\(.file):\(.pos) gtid \(.gtid)"
              else tojson end)' 2>/dev/null
}

echo "demo: up in $((SECONDS - t0)) s: $(demo_pids)"
echo "demo: the API is yours meanwhile: curl -s $api/pipelines/$(basename "$PG_SPEC" .yaml) | jq"
echo "demo: writing rows every second to PostgreSQL (public.customers, public.orders) and"
echo "demo: MariaDB (shop.products). The JavaScript processor of $PG_SPEC masks"
echo "demo: e-mails (ann.lee@example.com -> a***@example.com) and adds each order's priority."
if [[ -n "${SLUICE_DEMO_DURATION:-}" ]]; then
    echo "demo: stopping by itself after ${SLUICE_DEMO_DURATION} s (SLUICE_DEMO_DURATION)."
else
    echo "demo: Ctrl-C stops everything."
fi
echo "----------------------------------------------------------------------------------"

# ---- the write loop ---------------------------------------------------------------------

deadline=0
[[ -n "${SLUICE_DEMO_DURATION:-}" ]] && deadline=$((SECONDS + SLUICE_DEMO_DURATION))
next_metrics=$((SECONDS + METRICS_EVERY))
i=0
while :; do
    i=$((i + 1))
    # PostgreSQL: odd ticks a new customer and order in one transaction, even ticks the
    # oldest new order is paid, every fourth tick the oldest paid order is deleted.
    if ((i % 2 == 1)); then
        sql="BEGIN;
INSERT INTO customers (name, email) VALUES ('Customer $i', 'customer$i@example.com');
INSERT INTO orders (customer_id, amount, status)
    VALUES (currval('customers_id_seq'), $(((i * 37) % 100)).50, 'new');
COMMIT;"
    elif ((i % 4 == 0)); then
        sql="DELETE FROM orders WHERE id = (SELECT min(id) FROM orders WHERE status = 'paid');"
    else
        sql="UPDATE orders SET status = 'paid'
    WHERE id = (SELECT min(id) FROM orders WHERE status = 'new');"
    fi
    psql "$SL_PG_DSN" -v ON_ERROR_STOP=1 -Xqc "$sql" >/dev/null ||
        echo "demo: writing to PostgreSQL failed" >&2
    # MariaDB: a new product, or a sale from the oldest one, or (every fifth) a delete.
    if ((i % 5 == 0)); then
        sql="DELETE FROM shop.products ORDER BY id LIMIT 1;"
    elif ((i % 2 == 1)); then
        sql="INSERT INTO shop.products (sku, price, stock) VALUES ('SKU-$i', $i.90, $((i * 10)));"
    else
        sql="UPDATE shop.products SET stock = stock - 1 ORDER BY id LIMIT 1;"
    fi
    my -e "$sql" || echo "demo: writing to MariaDB failed" >&2
    sleep 1
    show_redis
    if [[ ! -d /proc/$SL_DEMO_WRAPPER ]]; then
        echo "demo: the wrapper (pid $SL_DEMO_WRAPPER) is gone; stopping" >&2
        exit 1
    fi
    if [[ -n "$kcat_pid" ]] && ! _sl_proc_alive "$kcat_pid"; then
        echo "demo: kcat exited; no more events from Kafka. Its log:" >&2
        tail -n 5 "$work/kcat.log" >&2
        wait "$kcat_pid" 2>/dev/null
        kcat_pid=""
    fi
    if ! _sl_proc_alive "$serve_pid"; then
        echo "demo: sluice serve exited; the end of its log:" >&2
        tail -n 20 "$work/serve.log" >&2
        exit 1
    fi
    if ((deadline > 0 && SECONDS >= deadline)); then
        break
    fi
    if ((SECONDS >= next_metrics)); then
        show_metrics
        next_metrics=$((SECONDS + METRICS_EVERY))
    fi
done
show_metrics
exit 0
