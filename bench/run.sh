#!/usr/bin/env bash
# bench/run.sh - `make bench`: PostgreSQL -> sluice throughput against the server's own
# ceiling, measured in the same run on the same WAL:
#   1. load BENCH_ROWS rows (default 500k, small rows, 1000-row transactions) after
#      creating one slot per reader, so every reader decodes exactly the same changes;
#   2. pg_recvlogical with pgoutput streams them to /dev/null (the ceiling);
#   3. `sluice run` streams them to the file sink, then to Redis, then to Kafka (the mock
#      broker, bench/kafka.sh);
#   4. JavaScript processors alone and in the pipeline (bench/js.sh).
# Each reader is timed from process start until its slot confirmed the end LSN. Peak RSS
# from GNU time. Results are printed and appended to bench/results.md.
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

# run_reader NAME SLOT CMD... : time CMD until SLOT confirmed END; prints "secs rss_kb"
run_reader() {
    local name=$1 slot=$2
    shift 2
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$w/$name.rss" "$@" >"$w/$name.out" 2>"$w/$name.log" &
    local pid=$!
    while [[ "$(confirmed "$slot")" != "t" ]]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            # pg_recvlogical exits by itself at --endpos
            wait "$pid" && break
            echo "bench: $name failed:" >&2
            tail -20 "$w/$name.log" >&2
            return 1
        fi
        sleep 0.02
    done
    t1=$(date +%s.%N)
    # Stop the measured program (time's child), so GNU time still reports its RSS.
    pkill -TERM -P "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    local rss
    rss=$(tail -1 "$w/$name.rss" 2>/dev/null)
    echo "$(echo "$t1 - $t0" | bc -l) ${rss:-0}"
}

echo "bench: pg_recvlogical (pgoutput -> /dev/null) ..."
read -r ref_s ref_rss < <(run_reader ref ref "$bindir/pg_recvlogical" -d "$SL_PG_DSN" \
    --slot=ref --start --endpos="$END" -o proto_version=1 -o publication_names=bench_pub \
    -f /dev/null -F 1 --no-loop) || exit 1

spec() {   # spec NAME SLOT SINKYAML
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
YAML
}
spec file sl_file "    - {type: file, config: {id: f, path: $w/events.jsonl}}"
spec redis sl_redis "    - {type: redis, config: {id: r, uri: \"$SL_REDIS_URI\", stream: bench}}"

echo "bench: sluice -> file ..."
read -r file_s file_rss < <(run_reader file sl_file ./sluice run "$w/file.yaml" \
    --data-dir "$w/data") || exit 1
echo "bench: sluice -> redis ..."
read -r redis_s redis_rss < <(run_reader redis sl_redis ./sluice run "$w/redis.yaml" \
    --data-dir "$w/data") || exit 1

# Kafka into the mock broker, at-least-once and exactly-once (sets kafka_rows and
# kafka_delivered for the report).
# shellcheck source=kafka.sh
source bench/kafka.sh

# JavaScript processors: alone, and in the pipeline on the same WAL (sets js_report).
# shellcheck source=js.sh
source bench/js.sh

# Snapshot: initial_only reads the table and exits by itself.
SNAP_ROWS=${BENCH_SNAPSHOT_ROWS:-1000000}
echo "bench: snapshot of a $SNAP_ROWS-row table -> file ..."
"${PSQL[@]}" >/dev/null <<SQL
CREATE TABLE snap_bench (id bigint PRIMARY KEY, v int NOT NULL, s text NOT NULL);
INSERT INTO snap_bench SELECT g, g % 1000, 'row-' || g FROM generate_series(1, $SNAP_ROWS) g;
CREATE PUBLICATION snap_pub FOR TABLE snap_bench;
VACUUM ANALYZE snap_bench;
SQL
cat >"$w/snap.yaml" <<YAML
metadata: {name: bench-snap}
spec:
  source:
    type: postgres
    config: {id: pg, dsn: "$SL_PG_DSN", slot: sl_snap, publication: snap_pub,
             tables: [public.snap_bench], snapshot: {mode: initial_only, chunk_size: 20000}}
  sinks:
    - {type: file, config: {id: f, path: $w/snap.jsonl}}
YAML
t0=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$w/snap.rss" ./sluice run "$w/snap.yaml" --data-dir "$w/data" \
    2>"$w/snap.log" || { echo "bench: snapshot failed"; tail "$w/snap.log"; exit 1; }
t1=$(date +%s.%N)
snap_s=$(echo "$t1 - $t0" | bc -l)
snap_rss=$(tail -1 "$w/snap.rss")
snap_lines=$(wc -l <"$w/snap.jsonl")
"${PSQL[@]}" -c "SELECT pg_drop_replication_slot('sl_snap')" >/dev/null

# ---- MariaDB ------------------------------------------------------------------------
echo "bench: MariaDB: loading $ROWS rows in transactions of $TX rows ..."
sl_mariadb_start >/dev/null || exit 1
MY=(mariadb -h127.0.0.1 -P"$SL_MY_PORT" -uroot)
"${MY[@]}" -e "CREATE DATABASE bench; CREATE TABLE bench.t (id BIGINT PRIMARY KEY,
    v INT NOT NULL, s VARCHAR(32) NOT NULL)"
read -r my_file my_pos _ < <("${MY[@]}" -N -e "SHOW MASTER STATUS")
awk -v rows="$ROWS" -v tx="$TX" 'BEGIN { print "USE bench;"; for (i = 0; i < rows; i += tx)
    printf "INSERT INTO bench.t SELECT seq, seq %% 1000, CONCAT(\"row-\", seq) FROM seq_%d_to_%d;\n",
           i + 1, (i + tx < rows ? i + tx : rows) }' | "${MY[@]}"
read -r my_end_file my_end_pos _ < <("${MY[@]}" -N -e "SHOW MASTER STATUS")
echo "bench: mariadb-binlog --read-from-remote-server (reference) ..."
t0=$(date +%s.%N)
mariadb-binlog --read-from-remote-server -h127.0.0.1 -P"$SL_MY_PORT" -uroot \
    --start-position="$my_pos" --stop-position="$my_end_pos" "$my_file" >/dev/null
t1=$(date +%s.%N)
myref_s=$(echo "$t1 - $t0" | bc -l)

cat >"$w/my.yaml" <<YAML
metadata: {name: bench-my}
spec:
  source:
    type: mysql
    config: {id: my, dsn: "${SL_MY_DSN}", tables: [bench.t], start: "$my_file:$my_pos",
             snapshot: never}
  sinks:
    - {type: file, config: {id: f, path: $w/my.jsonl}}
YAML
echo "bench: sluice MariaDB -> file ..."
t0=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$w/my.rss" ./sluice run "$w/my.yaml" --data-dir "$w/data" \
    2>"$w/my.log" &
mypid=$!
while :; do
    n=0; [[ -f "$w/my.jsonl" ]] && n=$(wc -l <"$w/my.jsonl")
    [[ "$n" -ge "$ROWS" ]] && break
    if ! kill -0 "$mypid" 2>/dev/null; then echo "bench: sluice (mysql) exited"; tail "$w/my.log"; exit 1; fi
    if (( $(echo "$(date +%s.%N) - $t0 > 120" | bc) )); then echo "bench: sluice (mysql) too slow:"; tail "$w/my.log"; exit 1; fi
    sleep 0.05
done
t1=$(date +%s.%N)
pkill -TERM -P "$mypid"; wait "$mypid"
my_s=$(echo "$t1 - $t0" | bc -l)
my_rss=$(tail -1 "$w/my.rss")

echo "bench: MariaDB snapshot of $ROWS rows -> file ..."
cat >"$w/mysnap.yaml" <<YAML
metadata: {name: bench-mysnap}
spec:
  source:
    type: mysql
    config: {id: my, dsn: "${SL_MY_DSN}", tables: [bench.t],
             snapshot: {mode: initial_only, chunk_size: 20000}}
  sinks:
    - {type: file, config: {id: f, path: $w/mysnap.jsonl}}
YAML
t0=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$w/mysnap.rss" ./sluice run "$w/mysnap.yaml" --data-dir "$w/data" \
    2>"$w/mysnap.log" || { echo "bench: mysql snapshot failed"; tail "$w/mysnap.log"; exit 1; }
t1=$(date +%s.%N)
mysnap_s=$(echo "$t1 - $t0" | bc -l)
mysnap_rss=$(tail -1 "$w/mysnap.rss")
mysnap_lines=$(wc -l <"$w/mysnap.jsonl")

lines=$(wc -l <"$w/events.jsonl")
xlen=$(redis-cli -p "$SL_REDIS_PORT" XLEN bench)
rate() { echo "$ROWS / $1" | bc -l | xargs printf "%.0f"; }
ratio() { echo "$ref_s / $1" | bc -l | xargs printf "%.2f"; }
ref_r=$(rate "$ref_s"); file_r=$(rate "$file_s"); redis_r=$(rate "$redis_s")
report=$(cat <<TXT
### $(date -u +%Y-%m-%dT%H:%MZ) — $ROWS rows, $TX-row transactions, $(nproc) cores

| reader | seconds | events/s | ratio to ceiling | peak RSS |
|---|---|---|---|---|
| pg_recvlogical (pgoutput, /dev/null) | $(printf %.2f "$ref_s") | $ref_r | 1.00 | $((ref_rss / 1024)) MB |
| sluice -> file (fsync per batch) | $(printf %.2f "$file_s") | $file_r | $(ratio "$file_s") | $((file_rss / 1024)) MB |
| sluice -> redis (XADD pipelined) | $(printf %.2f "$redis_s") | $redis_r | $(ratio "$redis_s") | $((redis_rss / 1024)) MB |
$kafka_rows

Delivered: file $lines lines, redis $xlen entries (expected $ROWS each).
$kafka_delivered

| snapshot (initial_only, chunks of 20000) | seconds | rows/s | peak RSS |
|---|---|---|---|
| PostgreSQL $SNAP_ROWS rows -> file | $(printf %.2f "$snap_s") | $(echo "$SNAP_ROWS / $snap_s" | bc -l | xargs printf "%.0f") | $((snap_rss / 1024)) MB |

Snapshot delivered $snap_lines lines (expected $SNAP_ROWS).

| MariaDB ($ROWS rows, $TX-row transactions) | seconds | events/s | ratio to reference | peak RSS |
|---|---|---|---|---|
| mariadb-binlog --read-from-remote-server > /dev/null | $(printf %.2f "$myref_s") | $(echo "$ROWS / $myref_s" | bc -l | xargs printf "%.0f") | 1.00 | — |
| sluice MariaDB -> file | $(printf %.2f "$my_s") | $(echo "$ROWS / $my_s" | bc -l | xargs printf "%.0f") | $(echo "$myref_s / $my_s" | bc -l | xargs printf "%.2f") | $((my_rss / 1024)) MB |
| sluice MariaDB snapshot (initial_only) -> file | $(printf %.2f "$mysnap_s") | $(echo "$ROWS / $mysnap_s" | bc -l | xargs printf "%.0f") | — | $((mysnap_rss / 1024)) MB |

MariaDB snapshot delivered $mysnap_lines lines (expected $ROWS).
$js_report
TXT
)
echo
echo "$report"
mkdir -p bench
{ [[ -s bench/results.md ]] || printf '# Benchmark results\n\nAppended by `make bench` (bench/run.sh).\n\n'
  echo "$report"; echo; } >>bench/results.md
