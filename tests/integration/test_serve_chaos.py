"""test_serve_chaos.py - `sluice serve` under kill -9 and control-plane operations.

Two pipelines run in one `sluice serve` (PostgreSQL -> file + Redis, MariaDB -> file +
Kafka, commit policy `all`, snapshots of pre-filled tables) while writers on both
databases make random inserts, updates (some changing the key), deletes and multi-row
transactions (slchaos.Writer). At seeded random moments serve is killed with SIGKILL and
restarted on the same data dir (the pipelines must come back by themselves, from their
persisted specs and checkpoints), a pipeline's batch settings are PATCHed, a pipeline is
paused and resumed, paused and then killed (it must come back paused), or one of these
happens right after a restart. /metrics counters must never go down within one process.
At the end the writers stop, a marker is waited for until both checkpoints cover it,
GET /pipelines shows both running, serve stops with exit 0, and every table rebuilt from
each sink equals the table (duplicates allowed, nothing lost, transactions whole).

A second test deletes pipelines under load (with and without drop_slot, and a DELETE
racing a PATCH), kills serve at once and restarts it: they stay deleted and the slots are
as README says (dropped only with drop_slot=true).

SL_CHAOS_SEED fixes the seed (printed either way); SL_SERVE_CHAOS_SECONDS the time spent on
chaos (default 25)."""

import json
import os
import random
import re
import threading
import time

import sltest
from sltest import check, eq, wait_until, psql
from slchaos import make_tables, Writer, kafka_values, verify, pg_rows, my, my_rows
from test_api import Server

SEED = int(os.environ.get("SL_CHAOS_SEED") or random.SystemRandom().randrange(1, 1 << 30))
CHAOS_S = float(os.environ.get("SL_SERVE_CHAOS_SECONDS") or 25)

PG_TABLES = [("sc_a", ("id",), 6000), ("sc_b", ("id",), 3000), ("sc_c", ("k1", "k2"), 1500),
             ("sc_tx", ("tag",), 0)]
MY_TABLES = [("a", ("id",), 6000), ("b", ("id",), 3000), ("c", ("k1", "k2"), 1500),
             ("tx", ("tag",), 0)]
MY_DB = "schaos"


def drop_pg_slot(slot):
    wait_until(lambda: psql("select count(*) from pg_replication_slots where slot_name = "
                            "'%s' and active" % slot) == "0", 15, what="slot %s inactive" % slot)
    psql("select pg_drop_replication_slot(slot_name) from pg_replication_slots "
         "where slot_name = '%s'" % slot)


def slot_exists(slot):
    return psql("select count(*) from pg_replication_slots where slot_name = '%s'" % slot) == "1"


# ---- metrics ---------------------------------------------------------------------------

COUNTERS = ("sluice_events_read_total", "sluice_events_committed_total",
            "sluice_batches_total", "sluice_transactions_total",
            "sluice_sink_events_written_total")


def counters(srv):
    """{(metric, labels): value} of the counters that must be monotonic."""
    st, data = srv.req("GET", "/metrics", raw=True)
    eq(st, 200, "GET /metrics")
    out = {}
    for line in data.decode().splitlines():
        m = re.match(r'^([a-z_]+)(\{[^}]*\})? ([-0-9.e+]+)$', line)
        if m and m.group(1) in COUNTERS:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


class Monotonic:
    """Counters sampled within one serve process must never go down, nor vanish."""

    def __init__(self):
        self.prev = {}
        self.samples = 0

    def reset(self):     # a new process starts from zero
        self.prev = {}

    def sample(self, srv, what):
        cur = counters(srv)
        for k, v in self.prev.items():
            check(k in cur, "%s: counter %s%s disappeared" % (what, k[0], k[1]))
            check(cur[k] >= v, "%s: counter %s%s went down from %g to %g"
                  % (what, k[0], k[1], v, cur[k]))
        self.prev = cur
        self.samples += 1
        return cur


# ---- the test ----------------------------------------------------------------------------

def setup_databases():
    psql("select pg_drop_replication_slot(slot_name) from pg_replication_slots "
         "where slot_name = 'sc_pg'")
    psql("drop publication if exists sc_pg_pub;"
         "drop table if exists sc_a, sc_b, sc_c, sc_tx;"
         "create table sc_a (id int primary key, v int, s text);"
         "create table sc_b (id int primary key, v int, s text);"
         "create table sc_c (k1 int, k2 text, v int, s text, primary key (k1, k2));"
         "create table sc_tx (tag int primary key, n int);"
         "insert into sc_a select g, g, 'row' || g from generate_series(1, 6000) g;"
         "insert into sc_b select g, -g, null from generate_series(1, 3000) g;"
         "insert into sc_c select g, 'k' || (g % 7), g, 'c' from generate_series(1, 1500) g;")
    my("drop database if exists %s; create database %s character set utf8mb4" % (MY_DB, MY_DB))
    my("create table a (id int primary key, v int, s varchar(40));"
       "create table b (id int primary key, v int, s varchar(40));"
       "create table c (k1 int, k2 varchar(10), v int, s varchar(40), primary key (k1, k2));"
       "create table tx (tag int primary key, n int);"
       "insert into a select seq, seq, concat('row', seq) from seq_1_to_6000;"
       "insert into b select seq, -seq, null from seq_1_to_3000;"
       "insert into c select seq, concat('k', seq % 7), seq, 'c' from seq_1_to_1500;", db=MY_DB)


def specs(out_pg, out_my, topic, stream):
    snap = {"mode": "initial", "chunk_size": 300, "max_parallel_tables": 2}
    pg = {"metadata": {"name": "sc-pg"}, "spec": {
        "source": {"type": "postgres", "config": {
            "id": "pg", "dsn": os.environ["SL_PG_DSN"], "slot": "sc_pg",
            "publication": "sc_pg_pub", "tables": ["public." + n for n, _, _ in PG_TABLES],
            "snapshot": snap}},
        "sinks": [
            {"type": "file", "config": {"id": "f", "path": os.path.join(out_pg, "{table}.jsonl")}},
            {"type": "redis", "config": {"id": "r", "uri": os.environ["SL_REDIS_URI"],
                                         "stream": stream + ".{table}"}}],
        "batch": {"max_events": 50, "max_ms": 50},
        "commit_policy": {"mode": "all"}}}
    my_spec = {"metadata": {"name": "sc-my"}, "spec": {
        "source": {"type": "mysql", "config": {
            "id": "my", "dsn": os.environ["SL_MY_DSN"] + MY_DB,
            "tables": ["%s.%s" % (MY_DB, n) for n, _, _ in MY_TABLES], "snapshot": snap}},
        "sinks": [
            {"type": "file", "config": {"id": "f", "path": os.path.join(out_my, "{table}.jsonl")}},
            {"type": "kafka", "config": {"id": "k", "brokers": sltest.env("SL_KAFKA_BROKERS"),
                                         "topic": topic + ".{table}"}}],
        "batch": {"max_events": 50, "max_ms": 50},
        "commit_policy": {"mode": "all"}}}
    return pg, my_spec


def redis_values(stream):
    with sltest.redis() as r:
        return [json.loads(kv["value"]) for _, kv in r.xrange(stream)]


NAMES = ("sc-pg", "sc-my")


def status_of(srv, name):
    st, body = srv.req("GET", "/pipelines/" + name)
    eq(st, 200, "GET /pipelines/%s: %r" % (name, body))
    return body


def wait_state(srv, name, status, timeout=40):
    return wait_until(lambda: (lambda b: b if b["status"] == status else None)(
        status_of(srv, name)), timeout, interval=0.1, what="%s to be %s" % (name, status))


def restart(srv, mono, label):
    """kill -9 serve and start it again on the same data dir; both pipelines are back."""
    srv.proc.kill()
    srv.start()
    mono.reset()
    st, lst = srv.req("GET", "/pipelines")
    eq(st, 200)
    eq(sorted(p["name"] for p in lst), sorted(NAMES), "%s: pipelines back after kill -9" % label)


def patch_batch(srv, rng, name, mono, label):
    batch = {"max_events": rng.choice([5, 20, 50, 200]), "max_ms": rng.choice([10, 50, 200])}
    st, body = srv.req("PATCH", "/pipelines/" + name, {"spec": {"batch": batch}},
                       ctype="application/merge-patch+json")
    eq(st, 200, "%s: PATCH %s: %r" % (label, name, body))
    got = body["spec"]["spec"]["batch"]
    eq((got["max_events"], got["max_ms"]), (batch["max_events"], batch["max_ms"]),
       "%s: patched batch" % label)
    mono.sample(srv, "%s: after PATCH %s" % (label, name))
    return "patch %s %d/%dms" % (name, batch["max_events"], batch["max_ms"])


def pause_resume(srv, rng, name, mono, label):
    st, body = srv.req("POST", "/pipelines/%s/pause" % name)
    eq((st, body["status"]), (200, "paused"), "%s: pause %s" % (label, name))
    mono.sample(srv, "%s: paused %s" % (label, name))
    time.sleep(rng.uniform(0.1, 1.0))
    st, body = srv.req("POST", "/pipelines/%s/resume" % name)
    eq(st, 200, "%s: resume %s: %r" % (label, name, body))
    mono.sample(srv, "%s: resumed %s" % (label, name))
    return "pause/resume %s" % name


def test_serve_kill9_patch_pause_loses_nothing():
    rng = random.Random(SEED)
    print("    seed %d (SL_CHAOS_SEED=%d to repeat)" % (SEED, SEED))
    setup_databases()
    pg_tables, my_tables = make_tables(PG_TABLES), make_tables(MY_TABLES)
    out_pg, out_my = sltest.tmpdir("out-pg"), sltest.tmpdir("out-my")
    topic, stream = "sc-my-%d" % SEED, "sc-pg-%d" % SEED
    with sltest.redis() as r:
        r.delete(*[stream + "." + n for n, _, _ in PG_TABLES])
    pg_spec, my_spec = specs(out_pg, out_my, topic, stream)

    srv = Server()
    mono = Monotonic()
    for spec in (pg_spec, my_spec):
        st, body = srv.req("POST", "/pipelines", spec)
        eq(st, 201, body)
    pgw = Writer("pg", ["psql", os.environ["SL_PG_DSN"], "-X", "-q", "-v", "ON_ERROR_STOP=1"],
                 pg_tables, random.Random(rng.random()))
    myw = Writer("my", ["mariadb", "--default-character-set=utf8mb4", "-h127.0.0.1",
                        "-P" + os.environ["SL_MY_PORT"], "-uroot", MY_DB],
                 my_tables, random.Random(rng.random()))
    pgw.start()
    myw.start()

    steps = []
    t_end = time.monotonic() + CHAOS_S
    first = True
    while time.monotonic() < t_end or len(steps) < 8:
        # the first kill lands while the snapshots run
        kind = "kill" if first else rng.choices(
            ["kill", "patch", "pause", "kill_then_op", "kill_paused"], [4, 2, 2, 2, 1])[0]
        delay = rng.uniform(0.2, 0.8) if first else rng.uniform(0.3, 3.0)
        first = False
        time.sleep(delay)
        for w in (pgw, myw):
            if w.error or w.proc.poll() is not None:
                w.finish()
        check(srv.proc.alive(), "serve exited by itself (%s) after %r:\n%s"
              % (srv.proc.returncode, steps, srv.proc.log_tail()))
        label = "step %d (%s)" % (len(steps) + 1, kind)
        name = rng.choice(NAMES)
        if kind == "kill":
            restart(srv, mono, label)
            did = "kill -9"
        elif kind == "patch":
            did = patch_batch(srv, rng, name, mono, label)
        elif kind == "pause":
            did = pause_resume(srv, rng, name, mono, label)
        elif kind == "kill_then_op":
            restart(srv, mono, label)
            did = "kill -9, then " + (patch_batch if rng.random() < 0.5 else pause_resume)(
                srv, rng, name, mono, label)
        else:
            eq(srv.req("POST", "/pipelines/%s/pause" % name)[0], 200)
            restart(srv, mono, label)
            wait_state(srv, name, "paused")
            eq(status_of(srv, name)["desired"], "paused", "%s: desired state persisted" % label)
            st, body = srv.req("POST", "/pipelines/%s/resume" % name)
            eq(st, 200, body)
            did = "pause %s, kill -9, back paused, resume" % name
        steps.append("%.2fs: %s" % (delay, did))
    print("    %d steps: %s" % (len(steps), "; ".join(steps)))

    pgw.finish()
    myw.finish()
    print("    writers: postgres %d tx / %d events, mariadb %d tx / %d events"
          % (pgw.ntx, pgw.nevents, myw.ntx, myw.nevents))
    for name in NAMES:
        wait_state(srv, name, "running", timeout=60)

    # catch up: markers, then both checkpoints past them
    psql("insert into sc_tx values (-1, 0)")
    lsn = psql("select pg_current_wal_insert_lsn()")
    my("insert into tx values (-1, 0)", db=MY_DB)
    gtid = my("select @@gtid_binlog_pos")
    wait_until(lambda: psql("select confirmed_flush_lsn >= '%s'::pg_lsn from "
                            "pg_replication_slots where slot_name = 'sc_pg'" % lsn) == "t",
               60, interval=0.2, what="slot sc_pg to confirm %s" % lsn)
    ck_path = os.path.join(srv.data_dir, "sc-my", "checkpoint.json")

    def my_caught_up():
        with open(ck_path) as f:
            ck = f.read()
        return all(re.search(r"(^|[^0-9-])%s([^0-9]|$)" % re.escape(g), ck)
                   for g in gtid.split(","))
    wait_until(my_caught_up, 60, interval=0.2, what="sc-my checkpoint to reach %s" % gtid)

    st, lst = srv.req("GET", "/pipelines")
    eq(st, 200)
    eq(sorted((p["name"], p["status"], p["desired"]) for p in lst),
       [("sc-my", "running", "running"), ("sc-pg", "running", "running")], "GET /pipelines")
    check(all(p["checkpoint"]["position"] for p in lst), "checkpoints shown: %r"
          % [p["checkpoint"] for p in lst])
    cur = mono.sample(srv, "at the end")
    for name, sinks in (("sc-pg", ("f", "r")), ("sc-my", ("f", "k"))):
        lab = '{pipeline="%s"}' % name
        check(cur.get(("sluice_events_committed_total", lab), 0) > 0, "%s committed > 0" % name)
        check(cur[("sluice_events_read_total", lab)] >=
              cur[("sluice_events_committed_total", lab)], "%s read >= committed" % name)
        for s in sinks:
            check(cur.get(("sluice_sink_events_written_total",
                           '{pipeline="%s",sink="%s"}' % (name, s)), 0) > 0,
                  "%s sink %s written > 0" % (name, s))
    print("    %d metric samples, counters monotonic" % mono.samples)
    eq(srv.stop(), 0, "clean stop: " + srv.proc.log_tail())

    verify(pg_tables, pg_rows, [
        ("file sink", lambda t: sltest.read_jsonl(os.path.join(out_pg, t.name + ".jsonl"))),
        ("redis", lambda t: redis_values(stream + "." + t.name))], "sc_tx", "postgres")
    verify(my_tables, lambda t: my_rows(t, MY_DB), [
        ("file sink", lambda t: sltest.read_jsonl(os.path.join(out_my, t.name + ".jsonl"))),
        ("kafka", lambda t: kafka_values(topic + "." + t.name))], "tx", "mariadb")
    drop_pg_slot("sc_pg")
    with sltest.redis() as r:
        r.delete(*[stream + "." + n for n, _, _ in PG_TABLES])


# Requests raced against a DELETE of the same pipeline (each on its own pipeline). Before
# the fix a DELETE dropped two references where it held one, so the pipeline was freed
# while a racing request waited for it (SIGSEGV or a request hanging forever), and a
# racing PATCH or pause that got through re-persisted a deleted pipeline.
RACING = [("PATCH", "/pipelines/%s", {"spec": {"batch": {"max_events": 5}}}),
          ("POST", "/pipelines/%s/pause", None), ("POST", "/pipelines/%s/resume", None),
          ("DELETE", "/pipelines/%s?drop_slot=true", None)]


def test_deleted_under_load_stays_deleted_after_kill9():
    rng = random.Random(SEED + 7)
    races = [("sd-race%d" % i, op) for i, op in enumerate(RACING)]
    names = ("sd-drop", "sd-keep") + tuple(n for n, _ in races)
    slots = {n: n.replace("-", "_") for n in names}
    for s in slots.values():
        psql("select pg_drop_replication_slot(slot_name) from pg_replication_slots "
             "where slot_name = '%s'" % s)
    psql("drop table if exists sd_a, sd_tx; create table sd_a (id int primary key, v int, s text);"
         "create table sd_tx (tag int primary key, n int);"
         "insert into sd_a select g, g, 'x' from generate_series(1, 3000) g;")
    tables = make_tables([("sd_a", ("id",), 3000), ("sd_tx", ("tag",), 0)])
    out = sltest.tmpdir("out-sd")
    srv = Server()
    for n in names:
        spec = {"metadata": {"name": n}, "spec": {
            "source": {"type": "postgres", "config": {
                "id": "pg", "dsn": os.environ["SL_PG_DSN"], "slot": slots[n],
                "publication": slots[n] + "_pub", "tables": ["public.sd_a", "public.sd_tx"]}},
            "sinks": [{"type": "file", "config": {
                "id": "f", "path": os.path.join(out, n, "{table}.jsonl")}}],
            "batch": {"max_events": 20, "max_ms": 20}}}
        eq(srv.req("POST", "/pipelines", spec)[0], 201)
    w = Writer("pg", ["psql", os.environ["SL_PG_DSN"], "-X", "-q", "-v", "ON_ERROR_STOP=1"],
               tables, random.Random(rng.random()))
    w.start()
    try:
        for n in names:
            wait_state(srv, n, "running")
            wait_until(lambda: sltest.read_jsonl(os.path.join(out, n, "sd_tx.jsonl")), 20,
                       what="%s delivering under load" % n)
        st, body = srv.req("DELETE", "/pipelines/sd-drop?drop_slot=true")
        eq((st, body.get("slot_dropped")), (200, True), body)
        st, body = srv.req("DELETE", "/pipelines/sd-keep")
        eq((st, body.get("slot_dropped")), (200, False), body)
        # a DELETE racing another request on the same pipeline: whichever wins, it ends
        # deleted (the loser answers 404, or 200 when it ran first)
        for n, (method, path, body) in races:
            res = {}
            other = threading.Thread(target=lambda: res.setdefault("other", srv.req(
                method, path % n, body)))
            deleter = threading.Thread(target=lambda: res.setdefault("delete", srv.req(
                "DELETE", "/pipelines/%s?drop_slot=true" % n)))
            deleter.start()
            time.sleep(rng.uniform(0.0, 0.005))
            other.start()
            deleter.join(60)
            other.join(60)
            check(srv.proc.alive(), "serve died on %s racing DELETE: %s"
                  % (method, srv.proc.log_tail()))
            check("other" in res and "delete" in res, "both answered: %r" % res)
            eq(res["delete"][0] if method != "DELETE" else min(res["delete"][0],
                                                               res["other"][0]), 200,
               "DELETE %s: %r" % (n, res))
            check(res["other"][0] in (200, 404), "%s racing DELETE: %r" % (method, res))
            print("    %s %s racing DELETE: %d" % (n, method, res["other"][0]))
        time.sleep(rng.uniform(0.0, 0.3))
        srv.proc.kill()
    finally:
        w.finish()
    srv.start()
    for n in names:
        eq(srv.req("GET", "/pipelines/" + n)[0], 404, "%s stays deleted after kill -9" % n)
        check(not os.path.exists(os.path.join(srv.data_dir, n)),
              "%s: its data dir entry is gone" % n)
    eq(srv.req("GET", "/pipelines")[1], [], "no pipeline resurrected")
    time.sleep(1.0)
    eq([slot_exists(slots[n]) for n in names], [False, True] + [False] * len(races),
       "slots: dropped with drop_slot=true, kept without")
    eq(psql("select active from pg_replication_slots where slot_name = 'sd_keep'"), "f",
       "nothing uses the kept slot")
    eq(srv.stop(), 0)
    drop_pg_slot("sd_keep")


if __name__ == "__main__":
    sltest.main()
