"""test_chaos.py - kill -9 at random moments, for PostgreSQL and MariaDB: nothing is lost.

For each source: tables with existing rows (so an initial snapshot runs in several chunks,
two tables at a time), a writer thread doing a random mix of inserts, updates (some of them
changing the primary key, some touching several rows), deletes and multi-table transactions
(and on MariaDB two ALTER TABLE ADD COLUMN mid-run), while sluice (a file sink and a Kafka
sink, commit policy `all`) is killed with SIGKILL at random moments (right after start,
during the snapshot, while streaming) and restarted on the same data dir. At the end the
writer stops, a marker transaction is waited for until the checkpoint covers it, sluice
stops cleanly, and each table is rebuilt by applying its events in order, from the file
sink and from Kafka separately; every rebuild must equal the table exactly. Every writer
transaction also inserts a row into a `tx` table saying how many row events it made, so a
transaction whose events are only partly delivered is caught even when later changes hide
it in the final state (duplicates are allowed: delivery is at least once).

SL_CHAOS_SEED fixes the seed (printed either way); SL_CHAOS_SECONDS the time spent killing
per source (default 30)."""

import os
import random
import re
import time

import sltest
from sltest import check, eq, wait_until, psql
from slchaos import make_tables, Writer, kafka_values, verify, pg_rows, my, my_rows

SEED = int(os.environ.get("SL_CHAOS_SEED") or random.SystemRandom().randrange(1, 1 << 30))
CHAOS_S = float(os.environ.get("SL_CHAOS_SECONDS") or 30)


# ---- the chaos loop ----------------------------------------------------------------------

def read_text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def chaos(rng, start, log_dir, label, writer):
    """Start sluice, then kill -9 and restart it at random moments for CHAOS_S seconds
    (6 to 10 kills), and on until the writer's DDL has run (the writer's pace depends on
    the machine), within 3 * CHAOS_S. Returns the running sluice and a list of (delay,
    phase) per kill."""
    kills = []
    t0 = time.monotonic()
    t_end, t_ddl = t0 + CHAOS_S, t0 + 3 * CHAOS_S
    n = 0
    s = start(os.path.join(log_dir, "run0.log"))
    while (time.monotonic() < t_end and len(kills) < 10 or len(kills) < 6 or
           writer.ddl and time.monotonic() < t_ddl):
        # The first kill lands right after start; while the snapshot is not complete the
        # next ones land inside it (a few ms after it starts reading: it is quick here).
        snap_done = any("snapshot: complete" in read_text(os.path.join(log_dir, f))
                        for f in os.listdir(log_dir))
        kind = ("snap" if not snap_done and len(kills) < 5 else
                rng.choices(["early", "mid", "late"], [3, 3, 4])[0])
        if kind == "snap":
            s.wait_log("snapshot: .*(reading|to read)", timeout=20)
        delay = {"early": rng.uniform(0.02, 0.5), "snap": rng.uniform(0.02, 0.6),
                 "mid": rng.uniform(0.5, 3.0), "late": rng.uniform(3.0, 8.0)}[kind]
        time.sleep(delay)
        if writer.error or writer.proc.poll() is not None:
            writer.finish()
        log = s.log()
        if not s.alive():
            raise sltest.TestFailure("%s: sluice exited by itself (%s) during chaos after %d "
                                     "kills:\n%s" % (label, s.returncode, len(kills),
                                                     s.log_tail()))
        phase = ("streaming" if re.search("streaming (from slot|binlog)", log) else
                 "snapshot" if "snapshot:" in log else "starting")
        if phase == "snapshot" and "snapshot: complete" in log:
            phase = "snapshot delivery"
        s.kill()
        kills.append(("%.2fs" % delay, phase))
        n += 1
        s = start(os.path.join(log_dir, "run%d.log" % n))
    print("    %s: %d kills (delay, phase): %s" % (label, len(kills), kills))
    return s, kills


# ---- PostgreSQL ----------------------------------------------------------------------------

PG_TABLES = [("ch_a", ("id",), 40000), ("ch_b", ("id",), 20000), ("ch_c", ("k1", "k2"), 6000),
             ("ch_tx", ("tag",), 0)]


def test_postgres_kill9_chaos_loses_nothing():
    rng = random.Random(SEED)
    print("    seed %d (SL_CHAOS_SEED=%d to repeat)" % (SEED, SEED))
    slot = "chaos_pg"
    psql("select pg_drop_replication_slot(slot_name) from pg_replication_slots "
         "where slot_name = '%s'" % slot)
    psql("drop publication if exists %s_pub;"
         "drop table if exists ch_a, ch_b, ch_c, ch_tx;"
         "create table ch_a (id int primary key, v int, s text, flag bool);"
         "create table ch_b (id int primary key, v int, s text);"
         "create table ch_c (k1 int, k2 text, v int, s text, primary key (k1, k2));"
         "create table ch_tx (tag int primary key, n int);"
         "insert into ch_a select g, g, 'row' || g, g %% 2 = 0 from generate_series(1, 40000) g;"
         "insert into ch_b select g, -g, null from generate_series(1, 20000) g;"
         "insert into ch_c select g, 'k' || (g %% 7), g, 'c' from generate_series(1, 6000) g;"
         % slot)
    tables = make_tables(PG_TABLES)
    out = sltest.tmpdir("out")
    data = sltest.tmpdir("data")
    logs = sltest.tmpdir("logs")
    topic = "chaos-pg-%d" % SEED
    spec = sltest.write_spec({"metadata": {"name": "chaos-pg"}, "spec": {
        "source": {"type": "postgres", "config": {
            "id": "pg", "dsn": os.environ["SL_PG_DSN"], "slot": slot,
            "publication": slot + "_pub", "tables": ["public." + t.name for t in tables],
            "snapshot": {"mode": "initial", "chunk_size": 300, "max_parallel_tables": 2}}},
        "sinks": [
            {"type": "file", "config": {"id": "f", "path": os.path.join(out, "{table}.jsonl")}},
            {"type": "kafka", "config": {"id": "k", "brokers": sltest.env("SL_KAFKA_BROKERS"),
                                         "topic": topic + ".{table}"}}],
        "batch": {"max_events": 50, "max_ms": 50},
        "commit_policy": {"mode": "all"}}})
    writer = Writer("pg", ["psql", os.environ["SL_PG_DSN"], "-X", "-q", "-v", "ON_ERROR_STOP=1"],
                    tables, random.Random(rng.random()))
    writer.start()
    start = lambda log: sltest.start_sluice(spec, data_dir=data, log_path=log)
    s, kills = chaos(rng, start, logs, "postgres", writer)
    writer.finish()
    print("    postgres: writer made %d transactions, %d row events"
          % (writer.ntx, writer.nevents))

    # catch up: a marker transaction, its events in both sinks, then the slot past it
    psql("insert into ch_tx values (-1, 0)")
    target = psql("select pg_current_wal_insert_lsn()")
    wait_until(lambda: psql("select confirmed_flush_lsn >= '%s'::pg_lsn from "
                            "pg_replication_slots where slot_name = '%s'" % (target, slot))
               == "t", 60, interval=0.2, what="the slot to confirm %s" % target)
    eq(s.stop(), 0, "clean stop: " + s.log_tail())
    verify(tables, pg_rows, [
        ("file sink", lambda t: sltest.read_jsonl(os.path.join(out, t.name + ".jsonl"))),
        ("kafka", lambda t: kafka_values(topic + "." + t.name))], "ch_tx", "postgres")
    psql("select pg_drop_replication_slot('%s')" % slot)


# ---- MariaDB ----------------------------------------------------------------------------------

MY_TABLES = [("a", ("id",), 40000), ("b", ("id",), 20000), ("c", ("k1", "k2"), 6000),
             ("tx", ("tag",), 0)]


def test_mariadb_kill9_chaos_with_ddl_loses_nothing():
    rng = random.Random(SEED + 1)
    print("    seed %d (SL_CHAOS_SEED=%d to repeat)" % (SEED, SEED))
    my("drop database if exists chaos; create database chaos character set utf8mb4")
    my("create table a (id int primary key, v int, s varchar(40));"
       "create table b (id int primary key, v int, s varchar(40));"
       "create table c (k1 int, k2 varchar(10), v int, s varchar(40), primary key (k1, k2));"
       "create table tx (tag int primary key, n int);"
       "insert into a select seq, seq, concat('row', seq) from seq_1_to_40000;"
       "insert into b select seq, -seq, null from seq_1_to_20000;"
       "insert into c select seq, concat('k', seq % 7), seq, 'c' from seq_1_to_6000;",
       db="chaos")
    tables = make_tables(MY_TABLES)
    by = {t.name: t for t in tables}
    out = sltest.tmpdir("out")
    data = sltest.tmpdir("data")
    logs = sltest.tmpdir("logs")
    topic = "chaos-my-%d" % SEED
    spec = sltest.write_spec({"metadata": {"name": "chaos-my"}, "spec": {
        "source": {"type": "mysql", "config": {
            "id": "my", "dsn": os.environ["SL_MY_DSN"] + "chaos",
            "tables": ["chaos." + t.name for t in tables],
            "snapshot": {"mode": "initial", "chunk_size": 300, "max_parallel_tables": 2}}},
        "sinks": [
            {"type": "file", "config": {"id": "f", "path": os.path.join(out, "{table}.jsonl")}},
            {"type": "kafka", "config": {"id": "k", "brokers": sltest.env("SL_KAFKA_BROKERS"),
                                         "topic": topic + ".{table}"}}],
        "batch": {"max_events": 50, "max_ms": 50},
        "commit_policy": {"mode": "all"}}})
    wrng = random.Random(rng.random())
    ddl = sorted([(wrng.randrange(50, 600), by["a"], "note", "varchar(20)", "dflt"),
                  (wrng.randrange(300, 1200), by["c"], "extra", "int", 7)], key=lambda d: d[0])
    writer = Writer("my", ["mariadb", "--default-character-set=utf8mb4", "-h127.0.0.1",
                           "-P" + os.environ["SL_MY_PORT"], "-uroot", "chaos"],
                    tables, wrng, ddl=ddl)
    writer.start()
    start = lambda log: sltest.start_sluice(spec, data_dir=data, log_path=log)
    s, kills = chaos(rng, start, logs, "mariadb", writer)
    writer.finish()
    print("    mariadb: writer made %d transactions, %d row events, DDL left: %d"
          % (writer.ntx, writer.nevents, len(writer.ddl)))
    check(not writer.ddl, "both ALTER TABLEs ran (the writer made too few transactions)")

    my("insert into tx values (-1, 0)", db="chaos")
    gtid = my("select @@gtid_binlog_pos")
    ck_path = os.path.join(data, "chaos-my", "checkpoint.json")

    def caught_up():
        with open(ck_path) as f:
            ck = f.read()
        return all(re.search(r"(^|[^0-9-])%s([^0-9]|$)" % re.escape(g), ck)
                   for g in gtid.split(","))
    wait_until(caught_up, 60, interval=0.2, what="the checkpoint to reach %s" % gtid)
    eq(s.stop(), 0, "clean stop: " + s.log_tail())
    verify(tables, my_rows, [
        ("file sink", lambda t: sltest.read_jsonl(os.path.join(out, t.name + ".jsonl"))),
        ("kafka", lambda t: kafka_values(topic + "." + t.name))], "tx", "mariadb")


if __name__ == "__main__":
    sltest.main()
