# bench/snapshot.sh - sourced by bench/run.sh after bench/mariadb.sh: initial snapshots
# (mode initial_only: read the table, deliver, exit 0) of a $SNAP_ROWS-row table (default
# 1M, the rows of the streaming benchmarks) of PostgreSQL and of MariaDB, each to the file
# sink and to Kafka (the mock broker, at-least-once). Timed from process start to exit;
# each run's exit status is checked and its delivered count verified. Uses run.sh's
# servers and helpers, kafka.sh's broker and kafka_count, mariadb.sh's MY. Sets
# snap_report.

SNAP_ROWS=${BENCH_SNAPSHOT_ROWS:-1000000}
SNAP_CHUNK=20000

echo "bench: PostgreSQL: a $SNAP_ROWS-row table for the snapshots ..."
"${PSQL[@]}" >/dev/null <<SQL || fail "PostgreSQL: cannot create snap_bench"
CREATE TABLE snap_bench (id bigint PRIMARY KEY, v int NOT NULL, s text NOT NULL);
INSERT INTO snap_bench SELECT g, g % 1000, 'row-' || g FROM generate_series(1, $SNAP_ROWS) g;
CREATE PUBLICATION snap_pub FOR TABLE snap_bench;
VACUUM ANALYZE snap_bench;
SQL

echo "bench: MariaDB: a $SNAP_ROWS-row table for the snapshots ..."
"${MY[@]}" -e "CREATE TABLE bench.snap (id BIGINT PRIMARY KEY, v INT NOT NULL,
    s VARCHAR(32) NOT NULL)" || fail "MariaDB: cannot create bench.snap"
awk -v rows="$SNAP_ROWS" 'BEGIN { print "USE bench;"; for (i = 0; i < rows; i += 100000)
    printf "INSERT INTO bench.snap SELECT seq, seq %% 1000, CONCAT(\"row-\", seq) FROM seq_%d_to_%d;\n",
           i + 1, (i + 100000 < rows ? i + 100000 : rows) }' | "${MY[@]}" ||
    fail "MariaDB: loading bench.snap failed"

snap_spec() {   # snap_spec NAME SOURCE(pg|my) SINKYAML
    local src
    if [[ $2 == pg ]]; then
        src="    type: postgres
    config: {id: pg, dsn: \"$SL_PG_DSN\", slot: sl_$1, publication: snap_pub,
             tables: [public.snap_bench],
             snapshot: {mode: initial_only, chunk_size: $SNAP_CHUNK}}"
    else
        src="    type: mysql
    config: {id: my, dsn: \"$SL_MY_DSN\", tables: [bench.snap],
             snapshot: {mode: initial_only, chunk_size: $SNAP_CHUNK}}"
    fi
    cat >"$w/$1.yaml" <<YAML
metadata: {name: bench-$1}
spec:
  source:
$src
  sinks:
$3
YAML
}
snap_kafka() {   # the sink YAML for topic bench-NAME
    echo "    - {type: kafka, config: {id: k, brokers: \"$SL_KAFKA_BROKERS\", topic: bench-$1,
                             exactly_once: false}}"
}
snap_spec snap_pg_file pg "    - {type: file, config: {id: f, path: $w/snap_pg_file.jsonl}}"
snap_spec snap_pg_kafka pg "$(snap_kafka snap_pg_kafka)"
snap_spec snap_my_file my "    - {type: file, config: {id: f, path: $w/snap_my_file.jsonl}}"
snap_spec snap_my_kafka my "$(snap_kafka snap_my_kafka)"

snap_rows=""
snap_delivered=""
for run in snap_pg_file snap_pg_kafka snap_my_file snap_my_kafka; do
    echo "bench: snapshot ${run#snap_} ($SNAP_ROWS rows) ..."
    run_to_exit "$run" ./sluice run "$w/$run.yaml" --data-dir "$w/data" || exit 1
    read -r secs rss <"$w/$run.res"
    if [[ $run == *_file ]]; then
        n=$(wc -l <"$w/$run.jsonl")
        expect_count "snapshot ${run#snap_}" "$n" "$SNAP_ROWS"
    else
        n=$(kafka_count "bench-$run")
        expect_count "snapshot ${run#snap_}" "$n" "$SNAP_ROWS" atleast
    fi
    if [[ $run == snap_pg_* ]]; then
        # initial_only leaves its slot behind; an unconsumed slot pins WAL
        "${PSQL[@]}" -c "SELECT pg_drop_replication_slot('sl_$run')" >/dev/null ||
            fail "cannot drop slot sl_$run"
    fi
    label=$([[ $run == snap_pg_* ]] && echo PostgreSQL || echo MariaDB)
    sink=$([[ $run == *_file ]] && echo "file (fsync per batch)" ||
        echo "kafka (mock broker, at-least-once)")
    snap_rows+="| $label -> $sink | $(printf %.2f "$secs") | $(echo "$SNAP_ROWS / $secs" |
        bc -l | xargs printf "%.0f") | $((rss / 1024)) MB |"$'\n'
    snap_delivered+="${snap_delivered:+, }${run#snap_} $n"
done

snap_report=$(cat <<TXT

| snapshot of $SNAP_ROWS rows (initial_only, chunks of $SNAP_CHUNK) | seconds | rows/s | peak RSS |
|---|---|---|---|
${snap_rows%$'\n'}

Snapshots delivered: $snap_delivered (expected $SNAP_ROWS each).
TXT
)
