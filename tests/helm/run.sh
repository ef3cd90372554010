#!/usr/bin/env bash
# tests/helm/run.sh - the "deploy" stage of `make test` (also `make helm-test`): builds the
# chart renderer (build/helm-render, from tests/helm/render.go with Debian's Go packages;
# there is no helm in Debian), then runs tests/helm/test_*.py with python3:
#   test_chart.py  the Helm chart deploy/helm/sluice rendered and checked
#   test_image.py  deploy/Dockerfile checked without a Docker engine
# No servers are needed. Ends with "N passed, N failed" (test cases, summed from each
# file's own summary line); exits 1 when anything failed. DT_TEST_FILTER=substr runs only
# the test functions whose name contains substr.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1

export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
export SLUICE_BIN=${SLUICE_BIN:-$PWD/sluice}
export HELM_RENDER=${HELM_RENDER:-$PWD/build/helm-render}

if ! make --no-print-directory build/helm-render; then
    echo "run.sh: could not build build/helm-render (golang-go and" \
        "golang-github-masterminds-sprig-dev installed? see scripts/deps.sh)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
if [[ ! -x "$SLUICE_BIN" ]]; then
    echo "run.sh: note: $SLUICE_BIN is not built; tests that need it will fail" >&2
fi

total_pass=0
total_fail=0
failed_files=()
for t in tests/helm/test_*.py; do
    [[ -f "$t" ]] || continue
    echo "==> $t"
    out=$(mktemp "${TMPDIR:-/tmp}/sluice-deploy-out.XXXXXX")
    timeout --kill-after=10 300 python3 "$t" </dev/null 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    counts=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    rm -f "$out"
    p=0
    f=0
    if [[ -n "$counts" ]]; then
        read -r p _ f _ <<<"${counts//,/}"
    fi
    if ((rc != 0 && f == 0)); then
        echo "!!! $t: exited with status $rc without reporting a failed test"
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
