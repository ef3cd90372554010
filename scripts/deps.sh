#!/usr/bin/env bash
# scripts/deps.sh - install the Debian packages sluice needs to build and test, and only
# those that are missing. Idempotent: when everything is present it runs no apt command
# at all (one dpkg-query), so `make test` stays fast. Runs as root (CI) or through sudo.
#
#   bash scripts/deps.sh            install what is missing
#   bash scripts/deps.sh fuzz       also clang and libFuzzer (make fuzz)
#   SL_DEPS_DRY_RUN=1 bash ...      only print what would be installed
set -euo pipefail

SL_DEPS_PKGS=(
    # build
    build-essential pkg-config libpq-dev default-libmysqlclient-dev librdkafka-dev
    libhiredis-dev duktape-dev libyaml-dev libmicrohttpd-dev libssl-dev libcmocka-dev
    libjansson-dev
    libzstd-dev zlib1g-dev
    # servers and clients the tests start and drive
    postgresql-15 postgresql-client-15 mariadb-server mariadb-client redis-server
    redis-tools kcat
    # tools the scripts use (runuser, setsid: util-linux; timeout/mktemp: coreutils;
    # pgrep: procps; curl: the demo's REST calls)
    yamllint jq python3 procps util-linux coreutils bc time curl
    # Helm chart tests (tests/helm): a template renderer built offline in GOPATH mode
    golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev
)
# `make fuzz` only: clang with its sanitizer and libFuzzer runtimes
SL_DEPS_FUZZ_PKGS=(clang libclang-rt-14-dev)

# Print the packages of "$@" that are not fully installed, one per line.
sl_deps_missing() {
    local -A ok=()
    local name status pkg
    # One dpkg-query for all; it exits 1 when some package is unknown, which is fine.
    while read -r name status; do
        [[ "$status" == "installed" ]] && ok[$name]=1
    done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "$@" 2>/dev/null || true)
    for pkg in "$@"; do
        [[ -n "${ok[$pkg]:-}" ]] || printf '%s\n' "$pkg"
    done
}

main() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "deps.sh: dpkg-query not found: this script supports Debian/Ubuntu only" >&2
        return 1
    fi

    if [[ "${1:-}" == fuzz ]]; then
        SL_DEPS_PKGS+=("${SL_DEPS_FUZZ_PKGS[@]}")
    fi
    local missing
    mapfile -t missing < <(sl_deps_missing "${SL_DEPS_PKGS[@]}")
    if ((${#missing[@]} == 0)); then
        return 0
    fi

    echo "deps.sh: installing ${missing[*]}"
    if [[ -n "${SL_DEPS_DRY_RUN:-}" ]]; then
        return 0
    fi

    local -a sudo=()
    if ((EUID != 0)); then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo -n)
        else
            echo "deps.sh: not root and no sudo; install as root: ${missing[*]}" >&2
            return 1
        fi
    fi

    export DEBIAN_FRONTEND=noninteractive
    local log
    log=$(mktemp "${TMPDIR:-/tmp}/sluice-deps.XXXXXX")
    # -qq keeps apt quiet; its full output is shown only when something fails.
    if ! "${sudo[@]}" apt-get -qq update >"$log" 2>&1 ||
        ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq -y \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            install --no-install-recommends "${missing[@]}" >>"$log" 2>&1 </dev/null; then
        echo "deps.sh: apt-get failed:" >&2
        tail -n 40 "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"

    # Double-check: a package apt could not configure must not pass silently.
    mapfile -t missing < <(sl_deps_missing "${SL_DEPS_PKGS[@]}")
    if ((${#missing[@]} > 0)); then
        echo "deps.sh: still missing after install: ${missing[*]}" >&2
        return 1
    fi
    echo "deps.sh: done"
}

main "$@"
