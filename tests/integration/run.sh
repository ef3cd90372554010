#!/usr/bin/env bash
# tests/integration/run.sh - integration tests: start throwaway PostgreSQL, Redis and a
# Kafka mock broker (tests/lib/servers.sh), then run every tests/integration/test_*.py
# with python3 against them and the built ./sluice binary. Ends with "N passed, N
# failed" (test cases, summed from each file's own summary line); exits 1 when anything
# failed.
#
# The servers are stopped on every exit path (normal, failure, INT, TERM). Test files run
# in the background and are waited for, so a signal is handled at once rather than after
# the current file finishes. SL_IT_TIMEOUT (seconds, default 600) bounds each file;
# SL_IT_FILTER=substr runs only the files whose name contains substr.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
root=$PWD

# shellcheck source=../lib/servers.sh
source tests/lib/servers.sh

child=""
tailer=""
cleanup() {
    if [[ -n "$child" ]]; then
        kill -TERM "$child" 2>/dev/null
        wait "$child" 2>/dev/null
        child=""
    fi
    if [[ -n "$tailer" ]]; then
        kill -TERM "$tailer" 2>/dev/null
        wait "$tailer" 2>/dev/null
        tailer=""
    fi
    sl_servers_stop
}
total_pass=0
total_fail=0
# On a signal the file being run counts as one failure; the count line stays last.
on_signal() {
    echo "run.sh: $1" >&2
    echo "$total_pass passed, $((total_fail + 1)) failed"
    exit "$2"
}
trap cleanup EXIT
trap 'on_signal interrupted 130' INT
trap 'on_signal terminated 143' TERM

if ! sl_pg_start || ! sl_redis_start || ! sl_kafka_start || ! sl_mariadb_start; then
    echo "run.sh: could not start the test servers" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

export SLUICE_BIN=$root/sluice
export SLUICE_ROOT=$root
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
if [[ ! -x "$SLUICE_BIN" ]]; then
    echo "run.sh: note: $SLUICE_BIN is not built; tests that need it will fail" >&2
fi

timeout_s=${SL_IT_TIMEOUT:-600}
failed_files=()
out=$SL_TEST_DIR/it-output.log

for t in tests/integration/test_*.py; do
    [[ -f "$t" ]] || continue
    if [[ -n "${SL_IT_FILTER:-}" && "$t" != *"$SL_IT_FILTER"* ]]; then
        continue
    fi
    echo "==> $t"
    # Output goes through a file (not a pipe) so `wait` below is interruptible and a
    # stray grandchild holding the pipe cannot hang the harness.
    : >"$out"
    timeout --kill-after=10 "$timeout_s" python3 "$t" </dev/null >"$out" 2>&1 &
    child=$!
    tail -s 0.1 -n +1 -f --pid="$child" "$out" &
    tailer=$!
    wait "$child"
    rc=$?
    child=""
    wait "$tailer" 2>/dev/null
    tailer=""

    counts=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    p=0
    f=0
    if [[ -n "$counts" ]]; then
        read -r p _ f _ <<<"${counts//,/}"
    fi
    if ((rc != 0 && f == 0)); then
        case $rc in
            124 | 137) echo "!!! $t: timed out after ${timeout_s}s" ;;
            *) echo "!!! $t: exited with status $rc without reporting a failed test" ;;
        esac
        f=1
    fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    ((f > 0)) && failed_files+=("$t")
done

if ((${#failed_files[@]} > 0)); then
    echo "failing files: ${failed_files[*]}"
fi
echo "$total_pass passed, $total_fail failed"
((total_fail == 0))
