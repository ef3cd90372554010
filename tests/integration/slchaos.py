"""slchaos.py - shared pieces of the kill -9 chaos tests (test_chaos.py for `sluice run`,
test_serve_chaos.py for `sluice serve`): a random writer that records, per transaction, how
many row events it made; readers of the Kafka sink; rebuilding a table from its change
events and comparing it with the table; checking that every transaction arrived whole."""

import json
import os
import subprocess
import threading
import time

import sltest
from sltest import check, psql


# ---- the writer ------------------------------------------------------------------------

TX_TABLES = ("ch_tx", "tx", "sc_tx", "sd_tx")   # per-transaction tag tables


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


def make_tables(defs):
    """[(name, key columns, rows at start)] -> [Table]; the rows at start have keys
    1..n (composite: (i, "k<i%7>")), and the writer's new keys count on from n."""
    tables = []
    for name, pk, n in defs:
        t = Table(name, pk, n)
        t.keys = Keys([(i,) if len(pk) == 1 else (i, "k%d" % (i % 7)) for i in range(1, n + 1)])
        t.next = n
        tables.append(t)
    return tables


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
        data = [t for t in self.tables if t.name not in TX_TABLES]
        txt = [t for t in self.tables if t.name in TX_TABLES][0]
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


def verify(tables, table_rows, sinks, txname, label):
    """Rebuild every table from each sink's events ([(sink label, fn(table) -> events)])
    and require it to equal table_rows(table); every transaction whole; the snapshot read
    every row of the start that the writer left in place."""
    for sink, read in sinks:
        evs = {t.name: read(t) for t in tables}
        for t in tables:
            compare(rebuild(evs[t.name], t.pk), table_rows(t), t, "%s %s" % (label, sink))
        ntx = check_transactions(evs, txname, "%s %s" % (label, sink))
        total = sum(len(v) for v in evs.values())
        reads = sum(1 for v in evs.values() for e in v if e["op"] == "r")
        print("    %s %s: %d events (%d snapshot reads), %d transactions whole"
              % (label, sink, total, reads, ntx))
        # the snapshot's view may be taken (and, after a kill -9, taken again) while the
        # writer runs, so a row deleted meanwhile is rightly never read; a row of the start
        # that the writer never deleted (keys 1..nrows, never reused) must have been read
        for t in tables:
            read_keys = {tuple(e["after"][c] for c in t.pk) for e in evs[t.name]
                         if e["op"] == "r"}
            unread = [k for k in t.keys.list if k[0] <= t.nrows and k not in read_keys]
            check(not unread, "%s: the snapshot read every row of %s that was never deleted; "
                  "%d were not, first %r" % (sink, t.name, len(unread), unread[:5]))


# ---- table contents ----------------------------------------------------------------

def pg_rows(t):
    out = psql("select row_to_json(x) from %s x" % t.name)
    rows = [json.loads(l) for l in out.split("\n") if l]
    return {tuple(r[c] for c in t.pk): r for r in rows}


def my(sql, db=None):
    args = ["mariadb", "--default-character-set=utf8mb4", "-h127.0.0.1",
            "-P" + os.environ["SL_MY_PORT"], "-uroot", "-N", "-B", "-r", "-e", sql]
    if db:
        args.insert(1, db)
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if p.returncode:
        raise sltest.TestFailure("mariadb failed on %r: %s" % (sql[:200], p.stderr.decode()))
    return p.stdout.decode().rstrip("\n")


def my_rows(t, db="chaos"):
    cols = my("select column_name from information_schema.columns where table_schema = "
              "'%s' and table_name = '%s' order by ordinal_position" % (db, t.name)).split("\n")
    out = my("select json_object(%s) from %s" % (
        ", ".join("'%s', `%s`" % (c, c) for c in cols), t.name), db=db)
    rows = [json.loads(l) for l in out.split("\n") if l]
    return {tuple(r[c] for c in t.pk): r for r in rows}
