#!/usr/bin/env bash
# bench/run.sh - `make bench`: PostgreSQL -> sluice throughput against the server's own
# ceiling, measured in the same run on the same WAL:
#   1. load BENCH_ROWS rows (default 500k, small rows, 1000-row transactions) after
#      creating one slot per reader, so every reader decodes exactly the same changes;
#   2. pg_recvlogical with pgoutput streams them to /dev/null (the ceiling);
#   3. `sluice run` streams them to the file sink, then to Redis.
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
END=$("${PSQL[@]}" -c "SELECT pg_current_wal_lsn()")
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

Delivered: file $lines lines, redis $xlen entries (expected $ROWS each).

| snapshot (initial_only, chunks of 20000) | seconds | rows/s | peak RSS |
|---|---|---|---|
| PostgreSQL $SNAP_ROWS rows -> file | $(printf %.2f "$snap_s") | $(echo "$SNAP_ROWS / $snap_s" | bc -l | xargs printf "%.0f") | $((snap_rss / 1024)) MB |

Snapshot delivered $snap_lines lines (expected $SNAP_ROWS).
TXT
)
echo
echo "$report"
mkdir -p bench
{ [[ -s bench/results.md ]] || printf '# Benchmark results\n\nAppended by `make bench` (bench/run.sh).\n\n'
  echo "$report"; echo; } >>bench/results.md
