#!/usr/bin/env bash
# scripts/demo.sh - `make demo`: throwaway PostgreSQL and Redis on loopback, a live
# sluice pipeline (pipelines/pg-to-redis.yaml), rows written every second, and the change
# events shown as they arrive in the JSONL file and in Redis. Ctrl-C stops everything it
# started (and only that). SLUICE_DEMO_DURATION=N stops by itself after N seconds.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD

# Own servers and state dir, even when run from inside the test harness.
unset SL_TEST_DIR
# shellcheck source=../tests/lib/servers.sh
source tests/lib/servers.sh

sluice_pid=""
tail_pid=""
cleanup() {
    trap - EXIT INT TERM
    [[ -n "$tail_pid" ]] && kill "$tail_pid" 2>/dev/null && wait "$tail_pid" 2>/dev/null
    if [[ -n "$sluice_pid" ]] && kill -0 "$sluice_pid" 2>/dev/null; then
        kill -TERM "$sluice_pid" 2>/dev/null
        wait "$sluice_pid" 2>/dev/null
    fi
    sl_servers_stop
    echo
    echo "demo: stopped sluice, PostgreSQL and Redis; nothing left running."
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "demo: starting PostgreSQL 15 and Redis on 127.0.0.1 ..."
sl_pg_start || exit 1
sl_redis_start || exit 1
work=$SL_TEST_DIR/demo
mkdir -p "$work/out"

psql "$SL_PG_DSN" -v ON_ERROR_STOP=1 -Xq <<'SQL'
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text);
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers(id),
                     amount numeric(12,2), status text, created_at timestamptz DEFAULT now());
SQL

export PG_DSN=$SL_PG_DSN REDIS_URI=$SL_REDIS_URI SLUICE_OUT=$work/out
echo "demo: PostgreSQL $SL_PG_DSN"
echo "demo: Redis      $SL_REDIS_URI"
echo "demo: running    ./sluice run pipelines/pg-to-redis.yaml --data-dir $work/data"
./sluice run pipelines/pg-to-redis.yaml --data-dir "$work/data" 2>"$work/sluice.log" &
sluice_pid=$!
for _ in $(seq 1 100); do
    grep -q "streaming from slot" "$work/sluice.log" 2>/dev/null && break
    if ! kill -0 "$sluice_pid" 2>/dev/null; then
        echo "demo: sluice exited:"; cat "$work/sluice.log"; exit 1
    fi
    sleep 0.1
done
echo "demo: pipeline is streaming. Writing a few rows every second; Ctrl-C to stop."
echo "----------------------------------------------------------------------------"

# Show each event of the JSONL files as it lands: op, table, key fields of after/before.
touch "$work/out/customers.jsonl" "$work/out/orders.jsonl"
tail -q -n +1 -F "$work/out/customers.jsonl" "$work/out/orders.jsonl" 2>/dev/null |
    jq --unbuffered -r '"file  <- \(.op) \(.source.table) tx=\(.source.txId) " +
        ((.after // .before) | tostring)' &
tail_pid=$!

deadline=0
[[ -n "${SLUICE_DEMO_DURATION:-}" ]] && deadline=$((SECONDS + SLUICE_DEMO_DURATION))
i=0
while :; do
    i=$((i + 1))
    psql "$SL_PG_DSN" -v ON_ERROR_STOP=1 -Xq <<SQL >/dev/null
BEGIN;
INSERT INTO customers (name, email) VALUES ('customer $i', 'c$i@example.com');
INSERT INTO orders (customer_id, amount, status)
    VALUES (currval('customers_id_seq'), $i * 10.5, 'new');
COMMIT;
UPDATE orders SET status = 'paid' WHERE id = (SELECT max(id) - 1 FROM orders);
DELETE FROM orders WHERE id = (SELECT max(id) - 3 FROM orders) AND $i % 3 = 0;
SQL
    sleep 1
    n=$(redis-cli -p "$SL_REDIS_PORT" XLEN sluice.public.orders 2>/dev/null)
    last=$(redis-cli -p "$SL_REDIS_PORT" --raw XREVRANGE sluice.public.orders + - COUNT 1 \
           2>/dev/null | sed -n '5p' | jq -c '{op, after}' 2>/dev/null)
    echo "redis <- stream sluice.public.orders: $n entries; newest: $last"
    if (( deadline > 0 && SECONDS >= deadline )); then break; fi
done
