# bench/mariadb.sh - sourced by bench/run.sh after bench/js.sh: MariaDB -> sluice against
# mariadb-binlog on the same binlog, in the same run. Loads $ROWS rows ($TX-row
# transactions, the rows of run.sh's PostgreSQL table) into one binlog file, then times
#   1. mariadb-binlog --read-from-remote-server > /dev/null: the server's own client at
#      full speed, but it only prints each rows event as a base64 BINLOG statement;
#   2. the same with -v, which decodes every row into pseudo-SQL: the fair comparison;
#   3. sluice -> file sink and sluice -> Kafka (the mock broker, at-least-once), each from
#      the load's start position until the last row is in the file / the topic holds
#      every record; then it is stopped with SIGTERM (it must exit 0).
# Verifies what each delivered. Uses run.sh's $w, $ROWS, $TX, helpers (run_until,
# run_to_exit, expect_count, fail) and kafka.sh's broker and kafka_count / kafka_has.
# Leaves MariaDB running for bench/snapshot.sh (MY, SL_MY_DSN). Sets my_report.

echo "bench: MariaDB: loading $ROWS rows in transactions of $TX rows ..."
sl_mariadb_start >/dev/null || exit 1
MY=(mariadb -h127.0.0.1 -P"$SL_MY_PORT" -uroot)
"${MY[@]}" -e "CREATE DATABASE bench; CREATE TABLE bench.t (id BIGINT PRIMARY KEY,
    v INT NOT NULL, s VARCHAR(32) NOT NULL)" || fail "MariaDB: cannot create bench.t"
read -r my_file my_pos _ < <("${MY[@]}" -N -e "SHOW MASTER STATUS")
[[ -n "${my_pos:-}" ]] || fail "MariaDB: SHOW MASTER STATUS gave no binlog position"
awk -v rows="$ROWS" -v tx="$TX" 'BEGIN { print "USE bench;"; for (i = 0; i < rows; i += tx)
    printf "INSERT INTO bench.t SELECT seq, seq %% 1000, CONCAT(\"row-\", seq) FROM seq_%d_to_%d;\n",
           i + 1, (i + tx < rows ? i + tx : rows) }' | "${MY[@]}" || fail "MariaDB: load failed"
read -r my_end_file my_end_pos _ < <("${MY[@]}" -N -e "SHOW MASTER STATUS")
[[ "${my_end_file:-}" == "$my_file" ]] ||
    fail "MariaDB: the binlog rotated during the load ($my_file -> ${my_end_file:-?})"

binlog=(mariadb-binlog --read-from-remote-server -h127.0.0.1 -P"$SL_MY_PORT" -uroot
        --start-position="$my_pos" --stop-position="$my_end_pos" "$my_file")
echo "bench: mariadb-binlog --read-from-remote-server > /dev/null (reference) ..."
run_to_exit mybinlog "${binlog[@]}" --result-file=/dev/null || exit 1
read -r myref_s myref_rss <"$w/mybinlog.res"
echo "bench: mariadb-binlog --read-from-remote-server -v > /dev/null (reference) ..."
run_to_exit mybinlog_v "${binlog[@]}" -v --result-file=/dev/null || exit 1
read -r myrefv_s myrefv_rss <"$w/mybinlog_v.res"
# What the references read (untimed): every transaction, every row.
"${binlog[@]}" -v --result-file="$w/mybinlog_v.txt" || fail "mariadb-binlog -v failed"
myref_tx=$(grep -c '^COMMIT/\*!\*/;' "$w/mybinlog_v.txt")
myref_rows=$(grep -c '^### INSERT INTO' "$w/mybinlog_v.txt")
rm -f "$w/mybinlog_v.txt"
expect_count "mariadb-binlog (transactions)" "$myref_tx" $(((ROWS + TX - 1) / TX))
expect_count "mariadb-binlog -v (rows)" "$myref_rows" "$ROWS"

my_spec() {   # my_spec NAME SINKYAML
    cat >"$w/$1.yaml" <<YAML
metadata: {name: bench-$1}
spec:
  source:
    type: mysql
    config: {id: my, dsn: "${SL_MY_DSN}", tables: [bench.t], start: "$my_file:$my_pos",
             snapshot: never}
  sinks:
$2
YAML
}
my_spec my_file "    - {type: file, config: {id: f, path: $w/my_file.jsonl}}"
my_spec my_kafka "    - {type: kafka, config: {id: k, brokers: \"$SL_KAFKA_BROKERS\",
                             topic: bench-my_kafka, exactly_once: false}}"

# The rows arrive in id order: the file is complete once its last line is row $ROWS.
my_file_done() {
    [[ -f "$w/my_file.jsonl" ]] &&
        tail -c 4096 "$w/my_file.jsonl" | grep -q "\"after\":{\"id\":$ROWS,"
}
echo "bench: sluice MariaDB -> file ..."
run_until my_file my_file_done ./sluice run "$w/my_file.yaml" --data-dir "$w/data" || exit 1
read -r my_s my_rss <"$w/my_file.res"
echo "bench: sluice MariaDB -> kafka (at-least-once) ..."
run_until my_kafka "kafka_has bench-my_kafka $ROWS" ./sluice run "$w/my_kafka.yaml" \
    --data-dir "$w/data" || exit 1
read -r myk_s myk_rss <"$w/my_kafka.res"
my_lines=$(wc -l <"$w/my_file.jsonl")
myk_n=$(kafka_count bench-my_kafka)
expect_count "MariaDB -> file" "$my_lines" "$ROWS"
expect_count "MariaDB -> kafka" "$myk_n" "$ROWS" atleast

my_row() {   # my_row LABEL SECONDS RSS_KB
    printf '| %s | %.2f | %.0f | %.2f | %.2f | %d MB |' "$1" "$2" "$(echo "$ROWS / $2" | bc -l)" \
        "$(echo "$myref_s / $2" | bc -l)" "$(echo "$myrefv_s / $2" | bc -l)" $(($3 / 1024))
}
my_report=$(cat <<TXT

| MariaDB ($ROWS rows, $TX-row transactions) | seconds | events/s | ratio to mariadb-binlog | ratio to mariadb-binlog -v | peak RSS |
|---|---|---|---|---|---|
$(my_row "mariadb-binlog --read-from-remote-server > /dev/null (rows not decoded: base64 BINLOG statements)" "$myref_s" "$myref_rss")
$(my_row "mariadb-binlog --read-from-remote-server -v > /dev/null (rows decoded to pseudo-SQL)" "$myrefv_s" "$myrefv_rss")
$(my_row "sluice MariaDB -> file (fsync per batch)" "$my_s" "$my_rss")
$(my_row "sluice MariaDB -> kafka (mock broker, at-least-once)" "$myk_s" "$myk_rss")

Delivered: file $my_lines lines, Kafka $myk_n records (expected $ROWS each); mariadb-binlog -v
printed $myref_rows row images in $myref_tx transactions.
TXT
)
