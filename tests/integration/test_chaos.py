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

import json
import os
import random
import re
import subprocess
import threading
import time

import sltest
from sltest import check, eq, wait_until, psql

SEED = int(os.environ.get("SL_CHAOS_SEED") or random.SystemRandom().randrange(1, 1 << 30))
CHAOS_S = float(os.environ.get("SL_CHAOS_SECONDS") or 30)


# ---- the writer ------------------------------------------------------------------------

class Keys:
    """The keys a table has now (the writer is the only one changing it), with O(1)
    random choice and removal."""

    def __init__(self, keys):
        self.list = list(keys)
        self.index = {k: i for i, k in enumerate(self.list)}

    def add(self, k):
        check(k not in self.index, "writer model: key %r added twice" % (k,))
        self.index[k] = len(self.list)
        self.list.append(k)

    def remove(self, k):
        i = self.index.pop(k)
        last = self.list.pop()
        if i < len(self.list):
            self.list[i] = last
            self.index[last] = i

    def pick(self, rng, n=1):
        return rng.sample(self.list, min(n, len(self.list)))


class Table:
    """One table of the test: name, key columns, rows at start, and how the writer makes
    the SQL of a new row / an update (dialect-specific lambdas)."""

    def __init__(self, name, pk, nrows):
        self.name, self.pk, self.nrows = name, pk, nrows
        self.keys = None
        self.next = 0
        self.extra = {}     # column added by DDL -> its default (MariaDB)


class Writer(threading.Thread):
    """Feeds random transactions to one long-running psql / mariadb client on its stdin.
    Counts, per transaction, the row events the sources must emit (a key-changing update
    is two: d + c) and records that count in the `tx` table in the same transaction."""

    def __init__(self, dialect, client_args, tables, rng, ddl=()):
        super().__init__(daemon=True)
        self.dialect, self.tables, self.rng = dialect, tables, rng
        self.ddl = list(ddl)          # [(after_n_tx, table, column, sql_type, default)]
        self.proc = subprocess.Popen(client_args, stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.stop_flag = threading.Event()
        self.ntx = 0
        self.nevents = 0
        self.error = None

    def lit(self, v):
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        return "'%s'" % v

    def where(self, t, k):
        return " and ".join("%s = %s" % (c, self.lit(v)) for c, v in zip(t.pk, k))

    def new_key(self, t):
        t.next += 1
        return (t.next,) if len(t.pk) == 1 else (t.next, "k%d" % (t.next % 7))

    def values(self, t):
        """Non-key column values of a new or updated row."""
        r = self.rng
        v = {"v": r.randrange(-10**6, 10**6), "s": r.choice(["x", "upd", "s%d" % r.randrange(999),
                                                           "é ü ☃", None])}
        if self.dialect == "pg" and t.name == "ch_a":
            v["flag"] = r.random() < 0.5
        for col in t.extra:
            if r.random() < 0.8:
                v[col] = "n%d" % r.randrange(10**5) if col == "note" else r.randrange(100)
        return v

    def op(self, t, out):
        """One statement on t; appends its SQL to out and returns its row event count."""
        r = self.rng
        kind = r.choices(["ins", "upd", "multi", "pk", "del"], [30, 30, 8, 12, 20])[0]
        if len(t.keys.list) < 50:
            kind = "ins"
        if kind == "ins":
            k, v = self.new_key(t), self.values(t)
            cols = list(t.pk) + list(v)
            out.append("insert into %s (%s) values (%s)" % (
                t.name, ", ".join(cols), ", ".join(self.lit(x) for x in list(k) + list(v.values()))))
            t.keys.add(k)
            return 1
        if kind == "upd":
            k = t.keys.pick(r)[0]
            sets = ", ".join("%s = %s" % (c, self.lit(x)) for c, x in self.values(t).items())
            out.append("update %s set %s where %s" % (t.name, sets, self.where(t, k)))
            return 1
        if kind == "multi":
            ks = t.keys.pick(r, r.randrange(2, 6))
            out.append("update %s set v = v + 1 where %s" % (
                t.name, " or ".join("(%s)" % self.where(t, k) for k in ks)))
            return len(ks)
        if kind == "pk":
            k = t.keys.pick(r)[0]
            nk = self.new_key(t)
            nk = (nk[0],) + tuple(k[1:])      # the first key column changes
            out.append("update %s set %s = %d, v = %d where %s" % (
                t.name, t.pk[0], nk[0], r.randrange(1000), self.where(t, k)))
            t.keys.remove(k)
            t.keys.add(nk)
            return 2
        k = t.keys.pick(r)[0]
        out.append("delete from %s where %s" % (t.name, self.where(t, k)))
        t.keys.remove(k)
        return 1

    def send(self, sql):
        self.proc.stdin.write((sql + "\n").encode())
        self.proc.stdin.flush()

    def run(self):
        data = [t for t in self.tables if t.name not in ("ch_tx", "tx")]
        txt = [t for t in self.tables if t.name in ("ch_tx", "tx")][0]
        try:
            while not self.stop_flag.is_set():
                if self.ddl and self.ntx >= self.ddl[0][0]:
                    _, t, col, typ, dflt = self.ddl.pop(0)
                    self.send("alter table %s add column %s %s default %s;"
                              % (t.name, col, typ, self.lit(dflt)))
                    t.extra[col] = dflt
                stmts, n = [], 0
                for _ in range(self.rng.choice([1, 1, 2, 3, 5])):
                    n += self.op(self.rng.choice(data), stmts)
                self.ntx += 1
                stmts.append("insert into %s values (%d, %d)" % (txt.name, self.ntx, n))
                self.nevents += n + 1
                self.send("begin; %s; commit;" % "; ".join(stmts))
                time.sleep(self.rng.uniform(0.002, 0.02))
        except Exception as e:           # a broken pipe: the client died on an error
            self.error = e

    def finish(self):
        self.stop_flag.set()
        self.join(30)
        try:
            self.proc.stdin.close()
        except Exception:
            pass
        rc = self.proc.wait(60)
        err = self.proc.stderr.read().decode(errors="replace").strip()
        if rc != 0 or self.error:
            raise sltest.TestFailure("writer failed (rc %s, %r): %s" % (rc, self.error, err))


# ---- reading the sinks -----------------------------------------------------------------

def kafka_values(topic):
    """Event dicts of every non-tombstone record of topic, per partition in offset
    order (partitions one after the other)."""
    p = subprocess.run(["kcat", "-b", sltest.env("SL_KAFKA_BROKERS"), "-C", "-t", topic,
                        "-e", "-q", "-o", "beginning", "-f", "%p\\t%o\\t%S\\t%s\\n"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    if p.returncode != 0:
        err = p.stderr.decode(errors="replace")
        if "Unknown topic" in err or "UNKNOWN_TOPIC" in err:
            return []
        raise sltest.TestFailure("kcat failed on %s: %s" % (topic, err.strip()))
    recs = []
    for line in p.stdout.decode("utf-8").split("\n"):
        if not line:
            continue
        part, off, vlen, val = line.split("\t", 3)
        if int(vlen) >= 0:
            recs.append((int(part), int(off), val))
    recs.sort()
    return [json.loads(v) for _, _, v in recs]


def rebuild(evs, pk):
    """Apply events in order: r/c/u upsert the after image, d deletes the before key.
    Returns {key tuple: row}."""
    state = {}
    for e in evs:
        op = e["op"]
        if op in ("r", "c", "u"):
            state[tuple(e["after"][c] for c in pk)] = e["after"]
        elif op == "d":
            state.pop(tuple(e["before"][c] for c in pk), None)
        else:
            raise sltest.TestFailure("unexpected op %r: %r" % (op, e))
    return state


def compare(got, want, t, what):
    """got (rebuilt) == want (the table). A column added by DDL may be absent from a row
    whose last event predates the DDL only when the table holds its default there."""
    diff = []
    for k in sorted(set(got) | set(want), key=repr):
        g, w = got.get(k), want.get(k)
        if g is not None and w is not None:
            w = dict(w)
            for col, dflt in t.extra.items():
                if col not in g and w.get(col) == dflt:
                    del w[col]
        if g != w:
            diff.append((k, g, w))
    if diff:
        raise sltest.TestFailure("%s: table %s rebuilt from events differs from the table in "
                                 "%d rows (rebuilt %d, table %d); first (key, rebuilt, table): "
                                 "%r" % (what, t.name, len(diff), len(got), len(want), diff[:5]))


def check_transactions(evs_by_table, txname, what):
    """Every transaction is whole: its events carry total_order 1..N with no gap, and a
    writer transaction (identified by its `tx` row) has exactly the events it made."""
    orders, tags = {}, set()
    for evs in evs_by_table.values():
        for e in evs:
            if e["op"] == "r":
                continue
            tid = e["transaction"]["id"]
            orders.setdefault(tid, set()).add(e["transaction"]["total_order"])
    for tid, got in orders.items():
        if got != set(range(1, max(got) + 1)):
            raise sltest.TestFailure("%s: transaction %s is partly delivered: total_order %r"
                                     % (what, tid, sorted(set(range(1, max(got) + 1)) - got)))
    for e in evs_by_table[txname]:
        if e["op"] == "c":
            tags.add(e["after"]["tag"])
            n, tid = e["after"]["n"], e["transaction"]["id"]
            if len(orders[tid]) != n + 1:
                raise sltest.TestFailure("%s: writer transaction %d (%s) made %d events, %d "
                                         "delivered" % (what, e["after"]["tag"], tid, n + 1,
                                                        len(orders[tid])))
    return len(tags)


# ---- the chaos loop ----------------------------------------------------------------------

def read_text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def chaos(rng, start, log_dir, label, writer):
    """Start sluice, then kill -9 and restart it at random moments for CHAOS_S seconds.
    Returns the running sluice and a list of (delay, phase) per kill."""
    kills = []
    t_end = time.monotonic() + CHAOS_S
    n = 0
    s = start(os.path.join(log_dir, "run0.log"))
    while time.monotonic() < t_end and len(kills) < 10 or len(kills) < 6:
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


def pg_rows(t):
    out = psql("select row_to_json(x) from %s x" % t.name)
    rows = [json.loads(l) for l in out.split("\n") if l]
    return {tuple(r[c] for c in t.pk): r for r in rows}


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
    tables = []
    for name, pk, n in PG_TABLES:
        t = Table(name, pk, n)
        t.keys = Keys([(i,) if len(pk) == 1 else (i, "k%d" % (i % 7)) for i in range(1, n + 1)])
        t.next = n
        tables.append(t)
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
    verify(tables, lambda t: pg_rows(t), lambda t: sltest.read_jsonl(
        os.path.join(out, t.name + ".jsonl")), lambda t: kafka_values(topic + "." + t.name),
        "ch_tx", "postgres")
    psql("select pg_drop_replication_slot('%s')" % slot)


def verify(tables, table_rows, file_events, kafka_events, txname, label):
    for sink, read in (("file sink", file_events), ("kafka", kafka_events)):
        evs = {t.name: read(t) for t in tables}
        for t in tables:
            compare(rebuild(evs[t.name], t.pk), table_rows(t), t, "%s %s" % (label, sink))
        ntx = check_transactions(evs, txname, "%s %s" % (label, sink))
        total = sum(len(v) for v in evs.values())
        reads = sum(1 for v in evs.values() for e in v if e["op"] == "r")
        print("    %s %s: %d events (%d snapshot reads), %d transactions whole"
              % (label, sink, total, reads, ntx))
        check(reads >= sum(t.nrows for t in tables), "%s: the snapshot ran" % sink)


# ---- MariaDB ----------------------------------------------------------------------------------

def my(sql, db=None):
    args = ["mariadb", "--default-character-set=utf8mb4", "-h127.0.0.1",
            "-P" + os.environ["SL_MY_PORT"], "-uroot", "-N", "-B", "-r", "-e", sql]
    if db:
        args.insert(1, db)
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if p.returncode:
        raise sltest.TestFailure("mariadb failed on %r: %s" % (sql[:200], p.stderr.decode()))
    return p.stdout.decode().rstrip("\n")


def my_rows(t):
    cols = my("select column_name from information_schema.columns where table_schema = "
              "'chaos' and table_name = '%s' order by ordinal_position" % t.name).split("\n")
    out = my("select json_object(%s) from %s" % (
        ", ".join("'%s', `%s`" % (c, c) for c in cols), t.name), db="chaos")
    rows = [json.loads(l) for l in out.split("\n") if l]
    return {tuple(r[c] for c in t.pk): r for r in rows}


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
    tables = []
    for name, pk, n in MY_TABLES:
        t = Table(name, pk, n)
        t.keys = Keys([(i,) if len(pk) == 1 else (i, "k%d" % (i % 7)) for i in range(1, n + 1)])
        t.next = n
        tables.append(t)
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
    verify(tables, my_rows, lambda t: sltest.read_jsonl(os.path.join(out, t.name + ".jsonl")),
           lambda t: kafka_values(topic + "." + t.name), "tx", "mariadb")


if __name__ == "__main__":
    sltest.main()
