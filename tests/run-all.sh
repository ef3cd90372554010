#!/usr/bin/env bash
# tests/run-all.sh - what `make test` runs once everything is built: unit tests, the same
# unit tests under ASan+UBSan, the integration tests against real servers, then the deploy
# tests (Helm chart rendered and checked, Dockerfile checked: tests/helm/run.sh).
#
# Every stage always runs, even after an earlier one failed. Each stage ends with a line
# "N passed, N failed"; this script adds them up, prints a summary, and its very last line
# is the total in the same form. Exits 1 when any stage failed (a stage that dies without
# reporting a failed case counts as one failed case).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sluice-runall.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

stage_names=()
stage_pass=()
stage_fail=()
any_failed=0

# run_stage NAME CMD...: run CMD showing its output live; record its counts.
run_stage() {
    local name=$1
    shift
    local log=$tmp/$name.log
    echo
    echo "=================== $name ==================="
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local counts p f
    counts=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    p=0
    f=0
    if [[ -n "$counts" ]]; then
        read -r p _ f _ <<<"${counts//,/}"
    fi
    if ((rc != 0 && f == 0)); then
        echo "!!! stage $name exited with status $rc without reporting a failed test"
        f=1
    fi
    ((f > 0)) && any_failed=1
    stage_names+=("$name")
    stage_pass+=("$p")
    stage_fail+=("$f")
}

bins() {
    local f
    for f in "$1"/test_*; do
        [[ -f "$f" && -x "$f" ]] && printf '%s\n' "$f"
    done
}

mapfile -t unit_bins < <(bins build/tests)
mapfile -t asan_bins < <(bins build/tests-asan)

run_stage unit bash tests/run-unit.sh build/tests "${unit_bins[@]}"
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1 \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1 \
    run_stage unit-asan bash tests/run-unit.sh build/tests-asan "${asan_bins[@]}"
run_stage integration bash tests/integration/run.sh
run_stage deploy bash tests/helm/run.sh

total_pass=0
total_fail=0
echo
echo "=================== summary ==================="
for i in "${!stage_names[@]}"; do
    printf '%-12s %s passed, %s failed\n' "${stage_names[i]}:" "${stage_pass[i]}" \
        "${stage_fail[i]}"
    total_pass=$((total_pass + stage_pass[i]))
    total_fail=$((total_fail + stage_fail[i]))
done
echo "$total_pass passed, $total_fail failed"
exit "$any_failed"
