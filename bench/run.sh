#!/usr/bin/env bash
# bench/run.sh - `make bench`: sluice throughput against each server's own reference tool,
# measured in the same run on the same data:
#   1. PostgreSQL: load BENCH_ROWS rows (default 500k, small rows, 1000-row transactions)
#      after creating one slot per reader, so every reader decodes exactly the same
#      changes; pg_recvlogical with pgoutput streams them to /dev/null (the ceiling); then
#      `sluice run` to the file sink, Redis and Kafka (the mock broker, bench/kafka.sh);
#   2. JavaScript processors alone and in the pipeline (bench/js.sh);
#   3. MariaDB (bench/mariadb.sh): the same rows into a binlog; mariadb-binlog
#      --read-from-remote-server to /dev/null twice (plain, and -v, which decodes the rows)
#      as references; sluice to the file sink and to Kafka;
#   4. snapshots (initial_only) of a BENCH_SNAPSHOT_ROWS-row table (default 1M) of both
#      sources, to the file sink and to Kafka.
# A streaming reader is timed from process start until everything was delivered (its slot
# confirmed the end LSN; for MariaDB, the last row is in the file or the topic holds every
# record); a snapshot or reference until it exits. Every program's exit status is checked
# and every delivered count verified: a failing reader fails the bench, loudly, instead of
# producing a figure. Peak RSS from GNU time. Results are printed and appended to
# bench/results.md.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
ROWS=${BENCH_ROWS:-500000}
TX=${BENCH_TX_ROWS:-1000}

# Own servers and state dir, even when run from inside the test harness.
unset SL_TEST_DIR
# shellcheck source=../tests/lib/servers.sh
source tests/lib/servers.sh
trap sl_servers_stop EXIT
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
sl_pg_start || exit 1
sl_redis_start || exit 1
w=$SL_TEST_DIR/bench
mkdir -p "$w"
PSQL=(psql "$SL_PG_DSN" -v ON_ERROR_STOP=1 -XAtq)
bindir=$(pg_config --bindir)

"${PSQL[@]}" >/dev/null <<'SQL'
CREATE TABLE bench (id bigint PRIMARY KEY, v int NOT NULL, s text NOT NULL);
CREATE PUBLICATION bench_pub FOR TABLE bench;
SELECT 1 FROM pg_create_logical_replication_slot('ref', 'pgoutput');
SELECT 1 FROM pg_create_logical_replication_slot('sl_file', 'pgoutput');
SELECT 1 FROM pg_create_logical_replication_slot('sl_redis', 'pgoutput');
SELECT 1 FROM pg_create_logical_replication_slot('sl_kafka', 'pgoutput');
SELECT 1 FROM pg_create_logical_replication_slot('sl_kafka_eos', 'pgoutput');
SELECT 1 FROM pg_create_logical_replication_slot('sl_kafka_eos_big', 'pgoutput');
SELECT 1 FROM pg_create_logical_replication_slot('sl_js_id', 'pgoutput');
SELECT 1 FROM pg_create_logical_replication_slot('sl_js_fm', 'pgoutput');
SQL

echo "bench: loading $ROWS rows in transactions of $TX rows ..."
"${PSQL[@]}" <<SQL
DO \$\$
DECLARE i bigint := 0;
BEGIN
  WHILE i < $ROWS LOOP
    INSERT INTO bench SELECT g, g % 1000, 'row-' || g
      FROM generate_series(i + 1, least(i + $TX, $ROWS)) g;
    COMMIT;
    i := i + $TX;
  END LOOP;
END \$\$;
SQL
END=$("${PSQL[@]}" -c "SELECT pg_current_wal_insert_lsn()")
echo "bench: end LSN $END"

confirmed() {
    "${PSQL[@]}" -c "SELECT confirmed_flush_lsn >= '$END'::pg_lsn FROM pg_replication_slots
                     WHERE slot_name = '$1'"
}

fail() { echo "bench: $*" >&2; exit 1; }

# log_tail NAME: the end of a reader's log, for failure messages.
log_tail() { echo "---- $w/$1.log ----" >&2; tail -20 "$w/$1.log" >&2; }

# finish NAME PID T0 T1: stop the measured program (GNU time's child; time still reports
# its RSS), check its exit status and write "secs rss_kb" to $w/NAME.res. A program that
# ends by itself (pg_recvlogical at --endpos) is waited for, not signalled.
finish() {
    local name=$1 pid=$2 t0=$3 t1=$4 rc
    kill -0 "$pid" 2>/dev/null && [[ "${5:-}" != self ]] && pkill -TERM -P "$pid" 2>/dev/null
    wait "$pid"
    rc=$?
    if ((rc != 0)); then
        echo "bench: $name exited with status $rc" >&2
        log_tail "$name"
        return 1
    fi
    local rss
    rss=$(tail -1 "$w/$name.rss" 2>/dev/null)
    echo "$(echo "$t1 - $t0" | bc -l) ${rss:-0}" >"$w/$name.res"
}

# run_reader NAME SLOT CMD... : time CMD until SLOT confirmed END; "secs rss_kb" in
# $w/NAME.res. Returns 1 (after printing why) when CMD fails or exits early.
run_reader() {
    local name=$1 slot=$2
    shift 2
    local t0 t1 self=
    [[ "$(basename "$1")" == pg_recvlogical ]] && self=self   # exits by itself at --endpos
    t0=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$w/$name.rss" "$@" >"$w/$name.out" 2>"$w/$name.log" &
    local pid=$!
    while [[ "$(confirmed "$slot")" != "t" ]]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"
            echo "bench: $name exited (status $?) before its slot confirmed $END" >&2
            log_tail "$name"
            return 1
        fi
        sleep 0.02
    done
    t1=$(date +%s.%N)
    finish "$name" "$pid" "$t0" "$t1" "$self"
}

# run_until NAME CHECK CMD... : time CMD (which runs until stopped) until the shell command
# CHECK succeeds; then stop it with SIGTERM (it must exit 0). "secs rss_kb" in $w/NAME.res.
# Fails when CMD exits early or CHECK does not succeed within BENCH_TIMEOUT s (120).
run_until() {
    local name=$1 check=$2
    shift 2
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$w/$name.rss" "$@" >"$w/$name.out" 2>"$w/$name.log" &
    local pid=$!
    while ! eval "$check"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"
            echo "bench: $name exited (status $?) before it delivered everything" >&2
            log_tail "$name"
            return 1
        fi
        if (($(echo "$(date +%s.%N) - $t0 > ${BENCH_TIMEOUT:-120}" | bc))); then
            echo "bench: $name did not deliver everything within ${BENCH_TIMEOUT:-120} s" >&2
            finish "$name" "$pid" 0 0 && log_tail "$name"   # (finish shows it on failure)
            return 1
        fi
        sleep 0.02
    done
    t1=$(date +%s.%N)
    finish "$name" "$pid" "$t0" "$t1"
}

# run_to_exit NAME CMD... : time CMD until it exits, which it must do with status 0 (stdout
# to $w/NAME.out unless redirected in CMD). "secs rss_kb" in $w/NAME.res.
run_to_exit() {
    local name=$1 t0 t1 rc
    shift
    t0=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$w/$name.rss" "$@" >"$w/$name.out" 2>"$w/$name.log"
    rc=$?
    t1=$(date +%s.%N)
    if ((rc != 0)); then
        echo "bench: $name exited with status $rc" >&2
        log_tail "$name"
        return 1
    fi
    echo "$(echo "$t1 - $t0" | bc -l) $(tail -1 "$w/$name.rss")" >"$w/$name.res"
}

# expect_count WHAT GOT WANT [atleast]: fail unless GOT == WANT (GOT >= WANT with atleast:
# at-least-once delivery may repeat records after a retry).
expect_count() {
    if [[ "${4:-}" == atleast ]]; then
        (("$2" >= "$3")) || fail "$1: $2 delivered, expected at least $3"
    else
        (("$2" == "$3")) || fail "$1: $2 delivered, expected $3"
    fi
}

echo "bench: pg_recvlogical (pgoutput -> /dev/null) ..."
run_reader ref ref "$bindir/pg_recvlogical" -d "$SL_PG_DSN" \
    --slot=ref --start --endpos="$END" -o proto_version=1 -o publication_names=bench_pub \
    -f /dev/null -F 1 --no-loop || exit 1
read -r ref_s ref_rss <"$w/ref.res"

# The PostgreSQL bench pipelines (also used by kafka.sh and js.sh): the prepared slot and
# publication, the given sinks, then optional further spec keys (batch, processors).
spec() {   # spec NAME SLOT SINKYAML [MORE-YAML]
    cat >"$w/$1.yaml" <<YAML
metadata: {name: bench-$1}
spec:
  source:
    type: postgres
    config: {id: pg, dsn: "$SL_PG_DSN", slot: $2, publication: bench_pub,
             tables: [public.bench], create_publication: false, create_slot: false,
             snapshot: never}
  sinks:
$3
${4:-}
YAML
}
spec file sl_file "    - {type: file, config: {id: f, path: $w/events.jsonl}}"
spec redis sl_redis "    - {type: redis, config: {id: r, uri: \"$SL_REDIS_URI\", stream: bench}}"

echo "bench: sluice -> file ..."
run_reader file sl_file ./sluice run "$w/file.yaml" --data-dir "$w/data" || exit 1
read -r file_s file_rss <"$w/file.res"
echo "bench: sluice -> redis ..."
run_reader redis sl_redis ./sluice run "$w/redis.yaml" --data-dir "$w/data" || exit 1
read -r redis_s redis_rss <"$w/redis.res"
lines=$(wc -l <"$w/events.jsonl")
xlen=$(redis-cli -p "$SL_REDIS_PORT" XLEN bench)
expect_count "PostgreSQL -> file" "$lines" "$ROWS"
expect_count "PostgreSQL -> redis" "${xlen:-0}" "$ROWS"

# Kafka into the mock broker, at-least-once and exactly-once (sets kafka_rows and
# kafka_delivered for the report).
# shellcheck source=kafka.sh
source bench/kafka.sh

# JavaScript processors: alone, and in the pipeline on the same WAL (sets js_report).
# shellcheck source=js.sh
source bench/js.sh

# MariaDB -> file and Kafka against mariadb-binlog on the same binlog (sets my_report).
# shellcheck source=mariadb.sh
source bench/mariadb.sh

# Snapshots of a BENCH_SNAPSHOT_ROWS-row table of both sources -> file and Kafka (sets
# snap_report).
# shellcheck source=snapshot.sh
source bench/snapshot.sh

rate() { echo "$ROWS / $1" | bc -l | xargs printf "%.0f"; }
ratio() { echo "$ref_s / $1" | bc -l | xargs printf "%.2f"; }
ref_r=$(rate "$ref_s"); file_r=$(rate "$file_s"); redis_r=$(rate "$redis_s")
report=$(cat <<TXT
### $(date -u +%Y-%m-%dT%H:%MZ) — $ROWS rows, $TX-row transactions, $(nproc) cores, load average before: $load_before

| reader | seconds | events/s | ratio to ceiling | peak RSS |
|---|---|---|---|---|
| pg_recvlogical (pgoutput, /dev/null) | $(printf %.2f "$ref_s") | $ref_r | 1.00 | $((ref_rss / 1024)) MB |
| sluice -> file (fsync per batch) | $(printf %.2f "$file_s") | $file_r | $(ratio "$file_s") | $((file_rss / 1024)) MB |
| sluice -> redis (XADD pipelined) | $(printf %.2f "$redis_s") | $redis_r | $(ratio "$redis_s") | $((redis_rss / 1024)) MB |
$kafka_rows

Delivered: file $lines lines, redis $xlen entries (expected $ROWS each).
$kafka_delivered
$js_report
$my_report
$snap_report
TXT
)
echo
echo "$report"
mkdir -p bench
{ [[ -s bench/results.md ]] || printf '# Benchmark results\n\nAppended by `make bench` (bench/run.sh).\n\n'
  echo "$report"; echo; } >>bench/results.md
