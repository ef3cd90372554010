#!/usr/bin/env bash
# tests/run-unit.sh - run cmocka unit-test binaries and add up their results.
#
#   bash tests/run-unit.sh DIR [BIN...]
#
# Runs each BIN (default: every executable DIR/test_*) from the repository root, shows its
# output, counts test cases from cmocka's "[  PASSED  ] N test(s)." and "[  FAILED  ] N
# test(s)" lines, and ends with one line "N passed, N failed". A binary that crashes, times
# out or exits non-zero without reporting a failed case counts as one failed case. Exits 1
# when anything failed. SL_UNIT_TIMEOUT (seconds, default 300) bounds each binary.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1

dir=${1:?usage: run-unit.sh DIR [BIN...]}
shift
bins=("$@")
if ((${#bins[@]} == 0)); then
    for f in "$dir"/test_*; do
        [[ -f "$f" && -x "$f" ]] && bins+=("$f")
    done
fi

shared=${SLUICE_SHARED:-../shared}
if [[ ! -d "$shared" ]]; then
    echo "################################################################################"
    echo "# WARNING: $shared (conformance vectors) not found from $PWD."
    echo "# The conformance tests will SKIP themselves: a green run proves much less."
    echo "# Check it out next to this repository or set SLUICE_SHARED=/path/to/shared."
    echo "################################################################################"
fi

timeout_s=${SL_UNIT_TIMEOUT:-300}
total_pass=0
total_fail=0
failed_bins=()
out=$(mktemp "${TMPDIR:-/tmp}/sluice-unit.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT

for bin in "${bins[@]}"; do
    echo "==> $bin"
    if [[ ! -x "$bin" ]]; then
        echo "!!! $bin: not found or not executable"
        total_fail=$((total_fail + 1))
        failed_bins+=("$bin")
        continue
    fi
    # Binaries named with a path relative to the root keep working from the root.
    [[ "$bin" == */* ]] || bin=./$bin
    timeout --kill-after=10 "$timeout_s" "$bin" >"$out" 2>&1 </dev/null
    rc=$?
    cat "$out"

    # Not anchored: cmocka writes these on stderr while stdout is block-buffered, so a
    # summary may land in the middle of another line in the combined output.
    pass=$(grep -aoE '\[  PASSED  \] [0-9]+ test' "$out" | tail -n 1 | grep -oE '[0-9]+')
    fail=$(grep -aoE '\[  FAILED  \] [0-9]+ test' "$out" | tail -n 1 | grep -oE '[0-9]+')
    pass=${pass:-0}
    fail=${fail:-0}
    if ((rc != 0 && fail == 0)); then
        case $rc in
            124 | 137) echo "!!! $bin: timed out after ${timeout_s}s" ;;
            *) echo "!!! $bin: exited with status $rc without a cmocka failure report" ;;
        esac
        fail=1
    fi
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
    ((fail > 0)) && failed_bins+=("$bin")
done

if ((${#bins[@]} == 0)); then
    echo "(no unit-test binaries in $dir)"
fi
if ((${#failed_bins[@]} > 0)); then
    echo "failing binaries: ${failed_bins[*]}"
fi
echo "$total_pass passed, $total_fail failed"
((total_fail == 0))
