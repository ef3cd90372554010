# bench/kafka.sh - sourced by bench/run.sh after the Redis reader: PostgreSQL -> Kafka on
# the same WAL, into the mock broker of tests/tools/kafka_mock.c (make bench builds it):
# at-least-once, exactly-once, and exactly-once with larger batches (a transaction per
# batch costs a few broker round trips, which larger batches amortize). Uses run.sh's $w,
# $ROWS, run_reader and the slots sl_kafka, sl_kafka_eos and sl_kafka_eos_big it created
# before the load. Sets kafka_rows (rows of run.sh's reader table) and kafka_delivered,
# and defines kafka_count / kafka_has for the later sections.

echo "bench: starting the Kafka mock broker ..."
sl_kafka_start || exit 1

kafka_spec() {   # kafka_spec NAME SLOT EXACTLY_ONCE [BATCH-YAML]
    spec "$1" "$2" "    - {type: kafka, config: {id: k, brokers: \"$SL_KAFKA_BROKERS\",
                             topic: bench-$1, exactly_once: $3}}" "${4:-}"
}

# Records in a topic: the sum of its partitions' end offsets (the mock writes no
# transaction markers, and reading back hundreds of thousands of records through its
# Fetch implementation is not reliable). 0 while the topic does not exist. The partition
# count is looked up once per topic (kcat -L), then only the offsets are asked for.
declare -A kafka_parts=()
kafka_count() {
    local parts=${kafka_parts[$1]:-} p args=()
    if [[ -z "$parts" ]]; then
        parts=$(kcat -b "$SL_KAFKA_BROKERS" -L -t "$1" 2>/dev/null |
            sed -n 's/.*with \([0-9]*\) partitions.*/\1/p')
        [[ -n "$parts" && "$parts" != 0 ]] || { echo 0; return; }
        kafka_parts[$1]=$parts
    fi
    for ((p = 0; p < parts; p++)); do args+=(-t "$1:$p:-1"); done
    kcat -b "$SL_KAFKA_BROKERS" -Q "${args[@]}" 2>/dev/null |
        awk '{for (i = 1; i < NF; i++) if ($i == "offset") n += $(i + 1)} END {print n + 0}'
}

# kafka_has TOPIC N: true once TOPIC holds at least N records.
kafka_has() { (($(kafka_count "$1") >= $2)); }

kafka_spec kafka sl_kafka false
kafka_spec kafka_eos sl_kafka_eos true
kafka_spec kafka_eos_big sl_kafka_eos_big true \
    "  batch: {max_events: 10000, max_bytes: 8388608}"

echo "bench: sluice -> kafka (at-least-once) ..."
run_reader kafka sl_kafka ./sluice run "$w/kafka.yaml" --data-dir "$w/data" || exit 1
read -r kafka_s kafka_rss <"$w/kafka.res"
echo "bench: sluice -> kafka (exactly-once) ..."
run_reader kafka_eos sl_kafka_eos ./sluice run "$w/kafka_eos.yaml" --data-dir "$w/data" ||
    exit 1
read -r keos_s keos_rss <"$w/kafka_eos.res"
echo "bench: sluice -> kafka (exactly-once, 10000-event batches) ..."
run_reader kafka_eos_big sl_kafka_eos_big ./sluice run "$w/kafka_eos_big.yaml" \
    --data-dir "$w/data" || exit 1
read -r keosb_s keosb_rss <"$w/kafka_eos_big.res"
kafka_n=$(kafka_count bench-kafka)
keos_n=$(kafka_count bench-kafka_eos)
keosb_n=$(kafka_count bench-kafka_eos_big)
# At least: a retried batch may repeat records (the mock does not hide aborted ones).
expect_count "PostgreSQL -> kafka" "$kafka_n" "$ROWS" atleast
expect_count "PostgreSQL -> kafka (exactly-once)" "$keos_n" "$ROWS" atleast
expect_count "PostgreSQL -> kafka (exactly-once, big batches)" "$keosb_n" "$ROWS" atleast

kafka_row() {   # kafka_row LABEL SECONDS RSS_KB
    printf '| %s | %.2f | %.0f | %.2f | %d MB |' "$1" "$2" "$(echo "$ROWS / $2" | bc -l)" \
        "$(echo "$ref_s / $2" | bc -l)" $(($3 / 1024))
}
kafka_rows="$(kafka_row "sluice -> kafka (mock broker, at-least-once)" "$kafka_s" "$kafka_rss")
$(kafka_row "sluice -> kafka (mock broker, exactly-once)" "$keos_s" "$keos_rss")
$(kafka_row "sluice -> kafka (mock broker, exactly-once, batch.max_events 10000)" \
    "$keosb_s" "$keosb_rss")"
kafka_delivered="Delivered to Kafka: $kafka_n, $keos_n and $keosb_n records (expected $ROWS \
each; more only after a retry)."
