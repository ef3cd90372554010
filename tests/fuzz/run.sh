#!/usr/bin/env bash
# tests/fuzz/run.sh - run the libFuzzer harnesses (what `make fuzz` runs once they are built).
#
#   bash tests/fuzz/run.sh build/fuzz/fuzz_TARGET...
#
# Each harness runs for FUZZ_SECONDS (default 60), one after the other, as one process (the
# machine is shared), with -timeout=10 (a slow input is a finding too), -rss_limit_mb=2048
# and -malloc_limit_mb=512 (no input of these sizes has a reason to make a parser allocate
# that much at once: such an allocation trusts a declared length). Its seed corpus is written by tests/fuzz/seeds.py into a temporary
# directory (from ../shared, or SLUICE_SHARED, and the repository; nothing is copied into
# the repository). New inputs go to a working corpus in the same temporary directory, which
# is removed at the end unless FUZZ_WORK names a directory to keep it in (then later runs
# start from what earlier ones found). FUZZ_TARGETS="binlog_decode spec" runs only those;
# FUZZ_ARGS adds libFuzzer options. Crashes, leaks, timeouts and out-of-memory inputs are
# kept under build/fuzz/artifacts/TARGET/. Ends with "N passed, N failed" (one per harness)
# and exits 1 when a harness found something.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1

secs=${FUZZ_SECONDS:-60}
shared=${SLUICE_SHARED:-../shared}
if [[ ! -d "$shared" ]]; then
    echo "WARNING: $shared (conformance vectors) not found: the binlog and pgoutput seed" \
         "corpora will be nearly empty (set SLUICE_SHARED)"
fi

if [[ -n "${FUZZ_WORK:-}" ]]; then
    work=$FUZZ_WORK
    mkdir -p "$work" || exit 1
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-fuzz.XXXXXX") || exit 1
    trap 'rm -rf "$work"' EXIT
fi

# Per-target options: the largest input worth trying, and a dictionary when there is one.
opts_for() {
    case $1 in
        binlog_decode) echo "-max_len=65536" ;;
        pg_decode) echo "-max_len=16384" ;;
        my_ddl) echo "-max_len=8192 -dict=tests/fuzz/my_ddl.dict" ;;
        spec) echo "-max_len=16384 -dict=tests/fuzz/spec.dict" ;;
        *) echo "-max_len=16384" ;;
    esac
}

pass=0
fail=0
summary=()
for bin in "$@"; do
    target=$(basename "$bin")
    target=${target#fuzz_}
    if [[ -n "${FUZZ_TARGETS:-}" && " $FUZZ_TARGETS " != *" $target "* ]]; then
        continue
    fi
    if [[ ! -x "$bin" ]]; then
        echo "!!! $bin: not built"
        fail=$((fail + 1))
        continue
    fi
    seeds=$work/$target/seeds
    corpus=$work/$target/corpus
    arts=build/fuzz/artifacts/$target
    mkdir -p "$seeds" "$corpus" "$arts"
    nseeds=$(python3 tests/fuzz/seeds.py "$target" "$seeds" "$shared") || nseeds=0
    log=$work/$target/fuzz.log
    echo "==> $target: ${secs}s, $nseeds new seeds, corpus $corpus"
    # shellcheck disable=SC2046 # the options are words
    "$bin" $(opts_for "$target") -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
        -max_total_time="$secs" \
        -print_final_stats=1 -artifact_prefix="$arts/" ${FUZZ_ARGS:-} \
        "$corpus" "$seeds" >"$log" 2>&1
    rc=$?
    # The last status line (executions, coverage) and the final stats.
    status=$(grep -aE '^#[0-9]+' "$log" | tail -n 1)
    execs=$(grep -aoE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$')
    echo "    $status"
    echo "    executions: ${execs:-?}, exit status $rc"
    if ((rc == 0)); then
        pass=$((pass + 1))
        summary+=("$target: ok (${execs:-?} executions; ${status#*cov: })")
    else
        fail=$((fail + 1))
        grep -aE 'ERROR: |SUMMARY: |runtime error|Test unit written to' "$log" | head -n 8
        summary+=("$target: FOUND SOMETHING (see $arts and the log above)")
        tail -n 60 "$log"
    fi
done

echo
for line in "${summary[@]}"; do echo "$line"; done
echo "$pass passed, $fail failed"
((fail == 0))
