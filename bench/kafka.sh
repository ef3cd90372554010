# bench/kafka.sh - sourced by bench/run.sh after the Redis reader: PostgreSQL -> Kafka on
# the same WAL, into the mock broker of tests/tools/kafka_mock.c (make bench builds it):
# at-least-once, exactly-once, and exactly-once with larger batches (a transaction per
# batch costs a few broker round trips, which larger batches amortize). Uses run.sh's $w,
# $ROWS, run_reader and the slots sl_kafka, sl_kafka_eos and sl_kafka_eos_big it created
# before the load. Sets kafka_rows (rows of run.sh's reader table) and kafka_delivered.

echo "bench: starting the Kafka mock broker ..."
sl_kafka_start || exit 1

kafka_spec() {   # kafka_spec NAME SLOT EXACTLY_ONCE [BATCH-YAML]
    cat >"$w/$1.yaml" <<YAML
metadata: {name: bench-$1}
spec:
  source:
    type: postgres
    config: {id: pg, dsn: "$SL_PG_DSN", slot: $2, publication: bench_pub,
             tables: [public.bench], create_publication: false, create_slot: false,
             snapshot: never}
  sinks:
    - {type: kafka, config: {id: k, brokers: "$SL_KAFKA_BROKERS", topic: bench-$1,
                             exactly_once: $3}}
${4:-}
YAML
}

# Records in a topic: the sum of its partitions' end offsets (the mock writes no
# transaction markers, and reading back hundreds of thousands of records through its
# Fetch implementation is not reliable).
kafka_count() {
    local parts p args=()
    parts=$(kcat -b "$SL_KAFKA_BROKERS" -L -t "$1" 2>/dev/null |
        sed -n 's/.*with \([0-9]*\) partitions.*/\1/p')
    for ((p = 0; p < ${parts:-0}; p++)); do args+=(-t "$1:$p:-1"); done
    ((${#args[@]})) || { echo 0; return; }
    kcat -b "$SL_KAFKA_BROKERS" -Q "${args[@]}" 2>/dev/null |
        awk '{for (i = 1; i < NF; i++) if ($i == "offset") n += $(i + 1)} END {print n + 0}'
}

kafka_spec kafka sl_kafka false
kafka_spec kafka_eos sl_kafka_eos true
kafka_spec kafka_eos_big sl_kafka_eos_big true \
    "  batch: {max_events: 10000, max_bytes: 8388608}"

echo "bench: sluice -> kafka (at-least-once) ..."
read -r kafka_s kafka_rss < <(run_reader kafka sl_kafka ./sluice run "$w/kafka.yaml" \
    --data-dir "$w/data") || exit 1
echo "bench: sluice -> kafka (exactly-once) ..."
read -r keos_s keos_rss < <(run_reader kafka_eos sl_kafka_eos ./sluice run \
    "$w/kafka_eos.yaml" --data-dir "$w/data") || exit 1
echo "bench: sluice -> kafka (exactly-once, 10000-event batches) ..."
read -r keosb_s keosb_rss < <(run_reader kafka_eos_big sl_kafka_eos_big ./sluice run \
    "$w/kafka_eos_big.yaml" --data-dir "$w/data") || exit 1

kafka_row() {   # kafka_row LABEL SECONDS RSS_KB
    printf '| %s | %.2f | %.0f | %.2f | %d MB |' "$1" "$2" "$(echo "$ROWS / $2" | bc -l)" \
        "$(echo "$ref_s / $2" | bc -l)" $(($3 / 1024))
}
kafka_rows="$(kafka_row "sluice -> kafka (mock broker, at-least-once)" "$kafka_s" "$kafka_rss")
$(kafka_row "sluice -> kafka (mock broker, exactly-once)" "$keos_s" "$keos_rss")
$(kafka_row "sluice -> kafka (mock broker, exactly-once, batch.max_events 10000)" \
    "$keosb_s" "$keosb_rss")"
kafka_delivered="Delivered to Kafka: $(kafka_count bench-kafka), $(kafka_count bench-kafka_eos) \
and $(kafka_count bench-kafka_eos_big) records (expected $ROWS each; at-least-once may \
exceed it only after a retry)."
