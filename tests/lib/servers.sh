# tests/lib/servers.sh - sourceable bash library that starts throwaway PostgreSQL, Redis
# and MariaDB servers for tests, on 127.0.0.1 only, on random free high ports, with data
# in one temp dir (${TMPDIR:-/tmp}/sluice-test.XXXXXX).
#
# Invariants:
#   - every server process we start is recorded in $SL_TEST_DIR/pids as
#     "name pid signal starttime"; sl_servers_stop signals only those PIDs (checking the
#     start time so a recycled PID is never touched), waits for them, then removes
#     $SL_TEST_DIR. Nothing is ever killed by name.
#   - sl_servers_stop is idempotent and safe in `trap ... EXIT`; it always returns 0.
#   - start functions return non-zero after printing the server log tail to stderr when
#     the server does not come up; they never leave a half-started server unrecorded.
#   - the library does not change the caller's shell options (no set -e here).
#   - servers are direct children of the shell that sourced this file (so they are reaped,
#     never left as zombies): call sl_servers_stop from that same shell.
#
# Usage:
#   source tests/lib/servers.sh
#   trap sl_servers_stop EXIT
#   sl_pg_start && sl_redis_start && sl_mariadb_start && sl_kafka_start
#   psql "$SL_PG_DSN" ...; redis-cli -p "$SL_REDIS_PORT" ...; mariadb -h 127.0.0.1 -P ...
#   kcat -b "$SL_KAFKA_BROKERS" ...; kill -USR1 "$SL_KAFKA_PID" (brokers down), -USR2 (up)
#
# Exports: SL_TEST_DIR; SL_PG_PORT SL_PG_DSN SL_PG_HOST SL_PG_DATA; SL_REDIS_PORT
# SL_REDIS_URI; SL_MY_PORT SL_MY_DSN SL_MY_SOCKET; SL_KAFKA_BROKERS SL_KAFKA_PID.
# SL_KEEP_TMP=1 keeps the temp dir.

SL_START_TIMEOUT=${SL_START_TIMEOUT:-30}    # seconds a server gets to come up
SL_STOP_TIMEOUT=${SL_STOP_TIMEOUT:-15}      # seconds before SIGKILL on stop

# ---- internals ---------------------------------------------------------------------

_sl_log() { printf 'servers.sh: %s\n' "$*" >&2; }

# Create the state dir once. World-traversable (0755) so the postgres and mysql users
# can reach their own subdirectories.
_sl_state_init() {
    if [[ -n "${SL_TEST_DIR:-}" && -d "$SL_TEST_DIR" ]]; then
        return 0
    fi
    SL_TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sluice-test.XXXXXX") || {
        _sl_log "cannot create a temp dir under ${TMPDIR:-/tmp}"
        return 1
    }
    chmod 0755 "$SL_TEST_DIR"
    : >"$SL_TEST_DIR/pids"
    export SL_TEST_DIR
}

# Field 22 of /proc/PID/stat (start time in clock ticks); fails when PID is gone.
_sl_proc_start() {
    local stat
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
    stat=${stat##*) }               # drop "pid (comm) ", comm may hold spaces
    local -a f
    read -r -a f <<<"$stat"
    printf '%s\n' "${f[19]}"
}

# True while PID runs and is not a zombie.
_sl_proc_alive() {
    local stat
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
    stat=${stat##*) }
    [[ "${stat:0:1}" != "Z" ]]
}

# _sl_record NAME PID SIGNAL: remember a process we started.
_sl_record() {
    local start
    start=$(_sl_proc_start "$2") || start=0
    printf '%s %s %s %s\n' "$1" "$2" "$3" "$start" >>"$SL_TEST_DIR/pids"
}

# Print a free TCP port on 127.0.0.1, chosen at random below the kernel's ephemeral
# range (so outgoing connections cannot grab it between our probe and the server's bind).
_sl_free_port() {
    python3 - <<'EOF'
import random, socket
try:
    lo, hi = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
except OSError:
    lo, hi = 32768, 60999
ranges = [r for r in ((20000, lo - 1), (hi + 1, 65000)) if r[1] - r[0] >= 1000] or [(20000, 65000)]
for _ in range(200):
    a, b = random.choice(ranges)
    port = random.randint(a, b)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    raise SystemExit("no free port found")
EOF
}

# _sl_reachable USER: fail loudly when USER cannot traverse $SL_TEST_DIR (a TMPDIR inside
# a private home directory, say), since its server could not reach its data dir.
_sl_reachable() {
    if ! runuser -u "$1" -- test -x "$SL_TEST_DIR" 2>/dev/null; then
        _sl_log "user $1 cannot reach $SL_TEST_DIR: point TMPDIR at a directory every user" \
            "can traverse (e.g. TMPDIR=/tmp)"
        return 1
    fi
}

# _sl_fail NAME LOGFILE MESSAGE: loud failure with the log tail.
_sl_fail() {
    _sl_log "$1 did not come up: $3"
    if [[ -f "$2" ]]; then
        _sl_log "---- last lines of $2 ----"
        tail -n 30 "$2" >&2
        _sl_log "----"
    fi
    return 1
}

# _sl_wait_ready TIMEOUT PID CMD...: poll CMD (each try bounded to 5 s, so a foreign
# listener that never answers cannot hang us) until it succeeds. Returns 0 when ready,
# 2 when PID died (e.g. its port was taken), 1 on timeout. PID must still be alive after
# the probe succeeded: then the port is really ours, since its bind would have failed.
_sl_wait_ready() {
    local timeout=$1 pid=$2
    shift 2
    local deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        if ! _sl_proc_alive "$pid"; then
            return 2
        fi
        if timeout 5 "$@" >/dev/null 2>&1 </dev/null; then
            _sl_proc_alive "$pid" && return 0
            return 2
        fi
        sleep 0.05
    done
    return 1
}

# _sl_stop_pid NAME PID SIGNAL START: signal one recorded process and wait for it.
_sl_stop_pid() {
    local name=$1 pid=$2 sig=$3 start=$4 now
    now=$(_sl_proc_start "$pid") || return 0
    if [[ "$start" != 0 && "$now" != "$start" ]]; then
        return 0                    # PID recycled: not ours any more
    fi
    kill -s "$sig" "$pid" 2>/dev/null || return 0
    local deadline=$((SECONDS + SL_STOP_TIMEOUT))
    while _sl_proc_alive "$pid"; do
        if ((SECONDS >= deadline)); then
            _sl_log "$name (pid $pid) ignored SIG$sig for ${SL_STOP_TIMEOUT}s; sending SIGKILL"
            kill -s KILL "$pid" 2>/dev/null
            deadline=$((SECONDS + 5))
            while _sl_proc_alive "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
            break
        fi
        sleep 0.02
    done
    wait "$pid" 2>/dev/null         # reap it when it is our child
    return 0
}

# ---- public ------------------------------------------------------------------------

# Stop every recorded server (newest first), remove the temp dir. Always returns 0.
sl_servers_stop() {
    if [[ -z "${SL_TEST_DIR:-}" || ! -d "$SL_TEST_DIR" ]]; then
        return 0
    fi
    local -a lines=()
    if [[ -f "$SL_TEST_DIR/pids" ]]; then
        mapfile -t lines <"$SL_TEST_DIR/pids"
    fi
    local i name pid sig start
    for ((i = ${#lines[@]} - 1; i >= 0; i--)); do
        read -r name pid sig start <<<"${lines[i]}"
        [[ "$pid" =~ ^[0-9]+$ ]] || continue
        _sl_stop_pid "$name" "$pid" "$sig" "$start"
    done
    : >"$SL_TEST_DIR/pids"
    if [[ -n "${SL_KEEP_TMP:-}" ]]; then
        _sl_log "keeping $SL_TEST_DIR (SL_KEEP_TMP set)"
    else
        rm -rf -- "$SL_TEST_DIR"
    fi
    unset SL_TEST_DIR SL_PG_HOST SL_PG_PORT SL_PG_DATA SL_PG_DSN SL_REDIS_PORT SL_REDIS_URI \
        SL_MY_PORT SL_MY_SOCKET SL_MY_DSN SL_KAFKA_BROKERS SL_KAFKA_PID
    return 0
}

# PostgreSQL 15 with wal_level=logical, trust auth, fsync off. synchronous_commit is off
# too, so a commit returns before its WAL is flushed and the walsender (which decodes
# flushed WAL only) sends it a moment later: tests that wait for a slot to pass "the
# current position" must use pg_current_wal_insert_lsn() (covers every commit that
# returned), not pg_current_wal_lsn() (the write position, which may still lag).
sl_pg_start() {
    _sl_state_init || return 1
    local bindir dir log locale attempt port pid rc
    if [[ -n "${SL_PG_PORT:-}" && -d "$SL_TEST_DIR/pg" ]]; then
        return 0                    # already running in this harness
    fi
    _sl_reachable postgres || return 1
    bindir=$(pg_config --bindir 2>/dev/null) || bindir=/usr/lib/postgresql/15/bin
    if [[ ! -x "$bindir/initdb" ]]; then
        _sl_log "initdb not found in $bindir (is postgresql-15 installed? run scripts/deps.sh)"
        return 1
    fi
    dir=$SL_TEST_DIR/pg
    log=$dir/server.log
    mkdir -p "$dir/data" "$dir/sock" || return 1
    : >"$log"
    chown -R postgres:postgres "$dir" && chmod 0700 "$dir/data" || return 1

    locale=C
    if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
        locale=C.UTF-8
    fi
    if ! runuser -u postgres -- "$bindir/initdb" -D "$dir/data" -U postgres -A trust \
        -E UTF8 --locale="$locale" --no-sync >"$dir/initdb.log" 2>&1 </dev/null; then
        _sl_fail postgresql "$dir/initdb.log" "initdb failed"
        return 1
    fi

    # The postmaster runs as our direct child (setpriv execs, unlike runuser or pg_ctl,
    # which leave a wrapper or reparent the server to init): we signal it by PID and reap
    # it with wait, so no zombie outlives the harness even where PID 1 does not reap.
    for attempt in 1 2 3; do
        port=$(_sl_free_port) || return 1
        : >"$log"
        (cd "$dir" && exec setpriv --reuid=postgres --regid=postgres --init-groups -- \
            "$bindir/postgres" -D "$dir/data" -c listen_addresses=127.0.0.1 -c port="$port" \
            -c wal_level=logical -c max_wal_senders=10 -c max_replication_slots=10 \
            -c unix_socket_directories="$dir/sock" -c fsync=off -c synchronous_commit=off \
            -c full_page_writes=off) </dev/null >>"$log" 2>&1 &
        pid=$!
        # SIGINT = fast shutdown: disconnects clients (replication connections included).
        _sl_record postgres "$pid" INT
        PGCONNECT_TIMEOUT=3 _sl_wait_ready "$SL_START_TIMEOUT" "$pid" \
            psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -XAtqc 'select 1'
        rc=$?
        if ((rc == 0)); then
            break
        fi
        if ((rc == 2)) && grep -q 'could not bind\|already in use' "$log" && ((attempt < 3))
        then
            _sl_log "postgresql: port $port taken, retrying"
            continue
        fi
        _sl_fail postgresql "$log" "no answer to psql on port $port"
        return 1
    done
    export SL_PG_HOST=127.0.0.1 SL_PG_PORT=$port SL_PG_DATA=$dir/data
    export SL_PG_DSN="host=127.0.0.1 port=$port user=postgres dbname=postgres"
    return 0
}

# Redis 7, no persistence.
sl_redis_start() {
    _sl_state_init || return 1
    local dir log attempt port pid rc
    if [[ -n "${SL_REDIS_PORT:-}" && -d "$SL_TEST_DIR/redis" ]]; then
        return 0                    # already running in this harness
    fi
    if ! command -v redis-server >/dev/null 2>&1; then
        _sl_log "redis-server not found (run scripts/deps.sh)"
        return 1
    fi
    dir=$SL_TEST_DIR/redis
    log=$dir/server.log
    mkdir -p "$dir" || return 1
    for attempt in 1 2 3; do
        port=$(_sl_free_port) || return 1
        : >"$log"
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$dir" --daemonize no --logfile "$log" </dev/null >>"$log" 2>&1 &
        pid=$!
        _sl_record redis "$pid" TERM
        _sl_wait_ready "$SL_START_TIMEOUT" "$pid" \
            bash -c '[[ "$(redis-cli -h 127.0.0.1 -p "$1" ping)" == PONG ]]' _ "$port"
        rc=$?
        if ((rc == 0)); then
            export SL_REDIS_PORT=$port SL_REDIS_URI="redis://127.0.0.1:$port/0"
            return 0
        fi
        if ((rc == 2)) && grep -q 'in use' "$log" && ((attempt < 3)); then
            _sl_log "redis: port $port taken, retrying"
            continue
        fi
        _sl_fail redis "$log" "no PONG on port $port"
        return 1
    done
    return 1
}

# MariaDB 10.11 with a row-based binlog (full images and metadata), root without password.
sl_mariadb_start() {
    _sl_state_init || return 1
    local dir cnf log attempt port pid rc
    if [[ -n "${SL_MY_PORT:-}" && -d "$SL_TEST_DIR/mariadb" ]]; then
        return 0                    # already running in this harness
    fi
    _sl_reachable mysql || return 1
    if ! command -v mariadbd >/dev/null 2>&1 && [[ ! -x /usr/sbin/mariadbd ]]; then
        _sl_log "mariadbd not found (run scripts/deps.sh)"
        return 1
    fi
    dir=$SL_TEST_DIR/mariadb
    cnf=$dir/my.cnf
    log=$dir/error.log
    mkdir -p "$dir/data" "$dir/tmp" || return 1

    for attempt in 1 2 3; do
        port=$(_sl_free_port) || return 1
        cat >"$cnf" <<EOF
[client]
port=$port
socket=$dir/mysqld.sock

[mysqld]
user=mysql
datadir=$dir/data
tmpdir=$dir/tmp
socket=$dir/mysqld.sock
pid-file=$dir/mysqld.pid
log-error=$log
port=$port
bind-address=127.0.0.1
skip-name-resolve
log_bin=mysql-bin
binlog_format=ROW
binlog_row_image=FULL
binlog_row_metadata=FULL
server_id=1
innodb_buffer_pool_size=64M
innodb_log_file_size=16M
innodb_flush_log_at_trx_commit=2
sync_binlog=0
EOF
        chown -R mysql:mysql "$dir" || return 1
        if [[ ! -d "$dir/data/mysql" ]]; then
            if ! mariadb-install-db --defaults-file="$cnf" --user=mysql \
                --auth-root-authentication-method=normal --skip-test-db \
                >"$dir/install.log" 2>&1 </dev/null; then
                _sl_fail mariadb "$dir/install.log" "mariadb-install-db failed"
                return 1
            fi
        fi
        : >"$log" && chown mysql:mysql "$log"
        # mariadbd drops to user=mysql itself, so $! is the server, not a wrapper.
        mariadbd --defaults-file="$cnf" </dev/null >>"$dir/stdout.log" 2>&1 &
        pid=$!
        _sl_record mariadb "$pid" TERM
        _sl_wait_ready "$SL_START_TIMEOUT" "$pid" \
            mariadb --connect-timeout=3 --protocol=tcp -h 127.0.0.1 -P "$port" -u root \
            -e 'select 1'
        rc=$?
        if ((rc == 0)); then
            export SL_MY_PORT=$port SL_MY_SOCKET=$dir/mysqld.sock
            export SL_MY_DSN="mysql://root@127.0.0.1:$port/"
            return 0
        fi
        if ((rc == 2)) && grep -qi 'in use\|bind on tcp' "$log" && ((attempt < 3)); then
            _sl_log "mariadb: port $port taken, retrying"
            continue
        fi
        _sl_fail mariadb "$log" "no answer on port $port"
        return 1
    done
    return 1
}

# Kafka: librdkafka's mock cluster as a stand-alone broker (tests/tools/kafka_mock.c, built
# into build/tools/kafka_mock by `make tools`). It picks its own free ports and prints the
# bootstrap address; SIGUSR1 takes its brokers down, SIGUSR2 brings them back.
# SL_KAFKA_MOCK overrides the binary, SL_KAFKA_MOCK_ARGS adds options (-b N, -t T:P).
sl_kafka_start() {
    _sl_state_init || return 1
    local dir log bin pid addr deadline
    if [[ -n "${SL_KAFKA_BROKERS:-}" && -d "$SL_TEST_DIR/kafka" ]]; then
        return 0                    # already running in this harness
    fi
    bin=${SL_KAFKA_MOCK:-build/tools/kafka_mock}
    if [[ ! -x "$bin" ]]; then
        _sl_log "$bin not found (build it with: make tools)"
        return 1
    fi
    dir=$SL_TEST_DIR/kafka
    log=$dir/server.log
    mkdir -p "$dir" || return 1
    : >"$log"
    : >"$dir/bootstrap"
    # The checkpoint topic of exactly-once sinks exists up front with one partition, as
    # a real deployment would create it (the mock has no CreateTopics API).
    # shellcheck disable=SC2086
    "$bin" -t sluice.checkpoints:1 ${SL_KAFKA_MOCK_ARGS:-} </dev/null >"$dir/bootstrap" \
        2>>"$log" &
    pid=$!
    _sl_record kafka "$pid" TERM
    deadline=$((SECONDS + SL_START_TIMEOUT))
    addr=""
    while ((SECONDS < deadline)); do
        if ! _sl_proc_alive "$pid"; then
            _sl_fail kafka "$log" "kafka_mock exited"
            return 1
        fi
        read -r addr <"$dir/bootstrap" 2>/dev/null
        [[ -n "$addr" ]] && break
        sleep 0.05
    done
    if [[ -z "$addr" ]]; then
        _sl_fail kafka "$log" "no bootstrap address within ${SL_START_TIMEOUT}s"
        return 1
    fi
    export SL_KAFKA_BROKERS=$addr SL_KAFKA_PID=$pid
    return 0
}
