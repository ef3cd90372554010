"""test_demo.py - `make demo` works end to end: scripts/demo.sh starts its own PostgreSQL,
MariaDB, Redis, Kafka mock broker and `sluice serve`, creates the two pipelines of
pipelines/ over the REST API, writes rows, and shows the change events read back from Kafka
(both pipelines) and Redis with the JavaScript processor's changes, metrics and pipeline
states; then it stops everything it started, by itself (SLUICE_DEMO_DURATION) or on a
Ctrl-C typed on its terminal, without touching the test harness's own servers."""

import json
import os
import pty
import re
import select
import signal
import socket
import time

import subprocess

import sltest
from sltest import check, eq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# What each name of the "demo: up in N s: name=pid ..." line runs (/proc/PID/comm).
COMM = {"postgres": "postgres", "mariadb": "mariadbd", "redis": "redis-server",
        "kafka": "kafka_mock", "sluice": "sluice", "kcat": "kcat"}


def demo_env(**extra):
    env = dict(os.environ, **extra)
    for k in list(env):
        if k.startswith("SL_") and k not in ("SL_KEEP_TMP",):
            env.pop(k)          # the demo must not see (or reuse) the harness's servers
    env.pop("SLUICE_DEMO_DURATION", None)
    env.update(extra)
    return env


def started(out):
    """{name: pid} from the demo's "up" line, and how many seconds start-up took."""
    m = re.search(r"^demo: up in (\d+) s: (.+)$", out, re.M)
    check(m, "no 'demo: up' line:\n" + out[-3000:])
    pids = dict((k, int(v)) for k, v in (kv.split("=") for kv in m.group(2).split()))
    eq(sorted(pids), sorted(COMM), "processes the demo reports as started")
    return pids, int(m.group(1))


def ports(out):
    pats = {"postgres": r"^demo: PostgreSQL\s+host=127\.0\.0\.1 port=(\d+) ",
            "mariadb": r"^demo: MariaDB\s+mysql://root@127\.0\.0\.1:(\d+)/",
            "redis": r"^demo: Redis\s+redis://127\.0\.0\.1:(\d+)/",
            "kafka": r"^demo: Kafka\s+127\.0\.0\.1:(\d+) ",
            "sluice": r"^demo: sluice serve http://127\.0\.0\.1:(\d+) "}
    res = {}
    for name, pat in pats.items():
        m = re.search(pat, out, re.M)
        check(m, "the demo prints the address of %s:\n%s" % (name, out[:3000]))
        res[name] = int(m.group(1))
    return res


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def check_all_stopped(out, pids, addrs):
    check("demo: sluice serve exited with status 0" in out,
          "sluice serve stopped cleanly (one signal, pipelines drained):\n" + out[-2000:])
    check("nothing left running" in out, out[-2000:])
    for name, pid in pids.items():
        c = comm(pid)
        check(c is None or c != COMM[name][:15],
              "%s (pid %d) still runs after the demo: %r" % (name, pid, c))
    for name, port in addrs.items():
        s = socket.socket()
        s.settimeout(2)
        try:
            refused = s.connect_ex(("127.0.0.1", port)) != 0
        finally:
            s.close()
        check(refused, "%s's port %d still accepts connections after the demo" % (name, port))
    for d in set(re.findall(r"(/\S*sluice-test\.\w+)", out)):
        check(not os.path.exists(d), "demo state dir %s removed" % d)


def events(out, prefix):
    """[(where, op, row dict)] from lines "kafka <- TOPIC OP ROW" / "redis <- STREAM ID OP ROW"
    (ROW is "before={...}" for deletes)."""
    res = []
    if prefix == "kafka":
        pat = r"^kafka <- (\S+)\s+(insert|update|delete|snapshot)\s+(.*)$"
    else:
        pat = r"^redis <- (\S+)\s+\d+-\d+\s+(insert|update|delete|snapshot)\s+(.*)$"
    for where, op, row in re.findall(pat, out, re.M):
        if row.startswith("before="):
            row = row[len("before="):]
        res.append((where, op, json.loads(row)))
    return res


def check_processor(evs, what):
    """The JavaScript processor of pipelines/demo-pg-to-kafka.yaml at work: e-mails masked,
    every order (not deleted) tagged with its priority."""
    n_cust = n_orders = 0
    for where, op, row in evs:
        if where.endswith("customers"):
            n_cust += 1
            check(re.match(r"^.\*\*\*@example\.com$", row["email"]),
                  "%s: e-mail masked by the processor: %r" % (what, row))
        elif where.endswith("orders") and op != "delete":
            n_orders += 1
            want = "high" if float(row["amount"]) >= 50 else "normal"
            eq(row.get("priority"), want, "%s: priority the processor set on %r" % (what, row))
    check(n_cust and n_orders, "%s: customers and orders events: %r" % (what, evs))


def test_demo_shows_both_pipelines_and_stops_by_itself():
    harness = {k: os.environ.get(k) for k in ("SL_PG_PORT", "SL_REDIS_PORT", "SL_MY_PORT")}
    p = subprocess.run(["bash", "scripts/demo.sh"], cwd=ROOT,
                       env=demo_env(SLUICE_DEMO_DURATION="12"), timeout=240,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    out = p.stdout.decode("utf-8", "replace")
    eq(p.returncode, 0, "demo exit status\n" + out[-4000:])
    pids, up_s = started(out)
    print("demo up in %d s" % up_s)
    check(up_s <= 60, "demo up in %d s (expected ~5 s; 60 s is the limit):\n%s" % (up_s, out))
    addrs = ports(out)
    for name, port in (("postgres", "SL_PG_PORT"), ("redis", "SL_REDIS_PORT"),
                       ("mariadb", "SL_MY_PORT")):
        check(str(addrs[name]) != harness[port], "the demo runs its own %s" % name)
    check(re.search(r"^demo: POST /pipelines < pipelines/demo-pg-to-kafka\.yaml -> 201", out,
                    re.M), out[:3000])
    check(re.search(r"^demo: POST /pipelines < pipelines/mariadb-to-kafka\.yaml -> 201", out,
                    re.M), out[:3000])

    kafka = events(out, "kafka")
    seen = {(w, op) for w, op, _ in kafka}
    for want in [("demo.public.customers", "snapshot"), ("demo.public.customers", "insert"),
                 ("demo.public.orders", "snapshot"), ("demo.public.orders", "insert"),
                 ("demo.public.orders", "update"), ("demo.public.orders", "delete"),
                 ("shop.shop.products", "snapshot"), ("shop.shop.products", "insert"),
                 ("shop.shop.products", "update")]:
        check(want in seen, "kafka shows %s %s:\n%s" % (want + (out,)))
    # the seeded row, read by the snapshot, masked by the processor
    check(("demo.public.customers", "snapshot",
           {"id": 1, "name": "Ann Lee", "email": "a***@example.com"}) in kafka, out)
    check(re.search(r"^kafka <- demo\.public\.orders\s+tombstone key=\{\"id\":\d+\}$", out,
                    re.M), "a delete's tombstone shown:\n" + out)
    check_processor([e for e in kafka if e[0].startswith("demo.")], "kafka")
    # MariaDB -> Kafka has no processor: its rows come as written
    for _, op, row in (e for e in kafka if e[0] == "shop.shop.products"):
        eq(sorted(row), ["id", "price", "sku", "stock"], "products row %r" % row)

    redis = events(out, "redis")
    rseen = {(w, op) for w, op, _ in redis}
    for want in [("demo.customers", "snapshot"), ("demo.customers", "insert"),
                 ("demo.orders", "insert"), ("demo.orders", "update")]:
        check(want in rseen, "redis shows %s %s:\n%s" % (want + (out,)))
    check_processor(redis, "redis")
    # the same rows went to both sinks
    first = [(w.split(".")[-1], op, row) for w, op, row in redis][:4]
    kset = [(w.split(".")[-1], op, row) for w, op, row in kafka if w.startswith("demo.")]
    for e in first:
        check(e in kset, "redis event %r also read from kafka" % (e,))
    ids = re.findall(r"^redis <- (demo\.\w+)\s+(\d+-\d+) ", out, re.M)
    eq(len(ids), len(set(ids)), "each redis entry shown once")

    for name, sinks in (("demo-pg-to-kafka", ("demo-kafka", "demo-redis")),
                        ("shop-mariadb-to-kafka", ("shop-kafka",))):
        ms = re.findall(r"^metrics %s\s+events read (\d+), committed (\d+) in (\d+) batches; "
                        r"written((?: [\w-]+=\d+)+); lag [\d.]+ s; checkpoint age [\d.]+ s$"
                        % re.escape(name), out, re.M)
        check(len(ms) >= 2, "metrics lines for %s (every 5 s and at the end):\n%s"
              % (name, out))
        read, committed, batches, written = ms[-1]
        check(int(committed) > 0 and int(batches) > 0, "%s: %r" % (name, ms[-1]))
        w = dict(kv.split("=") for kv in written.split())
        eq(sorted(w), sorted(sinks), "%s: sinks in the metrics" % name)
        check(all(int(v) > 0 for v in w.values()), "%s: events written %r" % (name, w))
        check(re.search(r"^state   %s\s+running, checkpoint \S" % re.escape(name), out,
                        re.M), "state line for %s:\n%s" % (name, out))
    check(re.search(r"^state   demo-pg-to-kafka\s+running, checkpoint lsn [0-9A-F]+/[0-9A-F]+$",
                    out, re.M), out)

    check_all_stopped(out, pids, addrs)
    # the harness's own servers are untouched
    eq(sltest.psql("select 1"), "1", "harness PostgreSQL still up")
    check(sltest.redis().ping(), "harness Redis still up")


def test_demo_stops_everything_on_ctrl_c():
    """A Ctrl-C typed on the demo's terminal (SIGINT to the foreground process group)."""
    env = demo_env()
    pid, fd = pty.fork()
    if pid == 0:                                    # child: the demo on a new terminal
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)   # the harness may ignore it
            os.chdir(ROOT)
            os.execvpe("bash", ["bash", "scripts/demo.sh"], env)
        finally:
            os._exit(127)
    buf = bytearray()

    def pump(until, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if until(buf.decode("utf-8", "replace").replace("\r\n", "\n")):
                return True
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    d = os.read(fd, 65536)
                except OSError:                     # EIO: the terminal's last writer left
                    return until(buf.decode("utf-8", "replace").replace("\r\n", "\n"))
                if not d:
                    return until(buf.decode("utf-8", "replace").replace("\r\n", "\n"))
                buf.extend(d)
        return False

    status = None
    try:
        check(pump(lambda o: re.search(r"^kafka <- ", o, re.M), 120),
              "demo streams events before the Ctrl-C:\n" + buf.decode("utf-8", "replace"))
        t = time.monotonic()
        os.write(fd, b"\x03")                       # the terminal's VINTR character
        pump(lambda o: False, 60)                   # read until the demo closes its terminal
        end = time.monotonic() + 30
        while status is None and time.monotonic() < end:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(st)
            else:
                time.sleep(0.1)
        check(status is not None, "the demo still runs 90 s after the Ctrl-C:\n"
              + buf.decode("utf-8", "replace")[-3000:])
        print("stopped %.1f s after the Ctrl-C" % (time.monotonic() - t))
    finally:
        if status is None:                          # failed: stop it (the wrapper forwards)
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except OSError:
                pass
        os.close(fd)
    out = buf.decode("utf-8", "replace").replace("\r\n", "\n")
    eq(status, 130, "demo exit status after Ctrl-C\n" + out[-3000:])
    check_all_stopped(out, started(out)[0], ports(out))


if __name__ == "__main__":
    sltest.main()
