"""test_mysql.py - MariaDB 10.11 -> sluice -> file/Redis end to end: every column type with
edge values, transactions, DDL mid-stream, binlog rotation, kill -9 and restart, resume by
file/pos and by GTID, offline replay of the server's binlog files, and clear errors."""

import base64
import json
import os
import re
import shutil
import subprocess
import time

import sltest
from sltest import check, eq, wait_until


def my(sql, db=None):
    args = ["mariadb", "--default-character-set=utf8mb4", "-h127.0.0.1",
            "-P" + os.environ["SL_MY_PORT"], "-uroot", "-N", "-B", "-e", sql]
    if db:
        args.insert(1, db)
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if p.returncode:
        raise sltest.TestFailure("mariadb failed on %r: %s" % (sql[:200], p.stderr.decode()))
    return p.stdout.decode().rstrip("\n")


def dsn(db=""):
    return os.environ["SL_MY_DSN"] + db


def spec(name, tables, out, **cfg):
    c = {"id": "my", "dsn": dsn(), "tables": tables}
    c.update(cfg)
    return {"metadata": {"name": name}, "spec": {
        "source": {"type": "mysql", "config": c},
        "sinks": [{"type": "file", "config": {"id": "f",
                                              "path": os.path.join(out, "{db}.{table}.jsonl")}}],
        "batch": {"max_ms": 50}}}


def events(out, db, table):
    return sltest.read_jsonl(os.path.join(out, "%s.%s.jsonl" % (db, table)))


def wait_events(out, db, table, n, timeout=20):
    return wait_until(lambda: (lambda e: e if len(e) >= n else None)(events(out, db, table)),
                      timeout, what="%d events of %s.%s" % (n, db, table))


def copy_binlogs(first=None):
    """Rotate the binlog and copy the server's binlog files (from `first` on, else all) to
    a temporary directory; returns the copies' paths in order."""
    my("flush binary logs")
    datadir = my("select @@datadir")
    names = [l.split("\t")[0] for l in my("show binary logs").splitlines()]
    if first is not None:
        names = names[names.index(first):]
    copy = sltest.tmpdir("binlogs")
    files = []
    for n in names:
        shutil.copy(os.path.join(datadir, n), copy)
        files.append(os.path.join(copy, n))
    return files


def fresh_db(db):
    my("drop database if exists %s; create database %s" % (db, db))


TYPES_DDL = """
create table ty (
  id int primary key, ti tinyint, tiu tinyint unsigned, si smallint, mi mediumint,
  i int, iu int unsigned, bi bigint, biu bigint unsigned, d decimal(65,30), d2 decimal(10,2),
  f float, db double, b1 bit(1), b9 bit(9), y year, dt date, tm time(6), dtm datetime(6),
  ts timestamp(3) null default null, c char(5), vc varchar(50) charset utf8mb4,
  l1 varchar(20) charset latin1, bin binary(3), vb varbinary(10), bl blob, tx text,
  e enum('x','y','z'), st set('a','b','c'), j json, g geometry)
"""

ROW1 = """insert into ty values (1, -128, 255, -32768, -8388608, -2147483648, 4294967295,
  -9223372036854775808, 18446744073709551615,
  '12345678901234567890123456789012345.123456789012345678901234567890', -10.5, 1.5, 2.25,
  b'1', b'100000001', 2024, '2024-02-29', '-838:59:59.000000', '2024-02-29 13:45:10.123456',
  '2024-02-29 13:45:10.5', 'ab', 'héllo ☃ 😀', 'café', x'010203', x'ff00', 'blob', 'text',
  'z', 'a,c', '{"a": [1, 2.5]}', ST_GeomFromText('POINT(1 2)'))"""

ROW1_AFTER = {
    "id": 1, "ti": -128, "tiu": 255, "si": -32768, "mi": -8388608, "i": -2147483648,
    "iu": 4294967295, "bi": -9223372036854775808, "biu": 18446744073709551615,
    "d": "12345678901234567890123456789012345.123456789012345678901234567890",
    "d2": "-10.50", "f": 1.5, "db": 2.25, "b1": True, "b9": "AQE=", "y": 2024,
    "dt": "2024-02-29", "tm": "-838:59:59.000000", "dtm": "2024-02-29T13:45:10.123456",
    "ts": "2024-02-29T13:45:10.500Z", "c": "ab", "vc": "héllo ☃ 😀", "l1": "café",
    "bin": "AQID", "vb": "/wA=", "bl": base64.b64encode(b"blob").decode(), "tx": "text",
    "e": "z", "st": "a,c", "j": {"a": [1, 2.5]},
    "g": base64.b64encode(bytes.fromhex("0101000000000000000000F03F0000000000000040")).decode(),
}


def test_every_type_insert_update_delete():
    fresh_db("myty")
    my("set global time_zone = '+00:00'")
    my(TYPES_DDL, db="myty")
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec("my-types", ["myty.ty"], out))
    s.wait_log("streaming binlog")
    my("set time_zone = '+00:00'; " + ROW1, db="myty")
    my("set sql_mode = ''; insert into ty (id, dt, dtm) values (2, '0000-00-00', "
       "'0000-00-00 00:00:00')", db="myty")
    my("update ty set vc = 'changed' where id = 1", db="myty")
    my("delete from ty where id = 2", db="myty")
    evs = wait_events(out, "myty", "ty", 4)
    e = evs[0]
    eq((e["op"], e["before"]), ("c", None))
    for k, v in ROW1_AFTER.items():
        eq(e["after"][k], v, "column %s" % k)
    eq(list(e["after"].keys()), list(ROW1_AFTER.keys()), "column order")
    src = e["source"]
    eq(list(src.keys()), ["version", "connector", "name", "ts_ms", "snapshot", "db",
                          "sequence", "ts_us", "ts_ns", "table", "server_id", "gtid", "file",
                          "pos", "row", "thread", "query"], "source field order")
    eq((src["connector"], src["db"], src["table"], src["snapshot"]),
       ("mysql", "myty", "ty", "false"))
    check(src["file"].startswith("mysql-bin.") and src["pos"] > 0, src)
    check("insert into ty" in (src["query"] or ""), "query from ANNOTATE_ROWS: %r" % src)
    zero = evs[1]["after"]
    eq((zero["dt"], zero["dtm"]), (None, None), "zero dates are null")
    eq(evs[2]["op"], "u")
    eq((evs[2]["before"]["vc"], evs[2]["after"]["vc"]), ("héllo ☃ 😀", "changed"))
    eq((evs[3]["op"], evs[3]["after"], evs[3]["before"]["id"]), ("d", None, 2))
    s.stop()


def test_multi_row_and_multi_table_transactions():
    fresh_db("mytx")
    my("create table a (id int primary key, v text); create table b (id int primary key)",
       db="mytx")
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec("my-tx", ["mytx.*"], out))
    s.wait_log("streaming binlog")
    my("begin; insert into a values (1,'x'),(2,'y'),(3,'z'); insert into b values (1); "
       "update a set v = 'w' where id in (1, 2); commit;", db="mytx")
    a = wait_events(out, "mytx", "a", 5)
    b = wait_events(out, "mytx", "b", 1)
    ids = {e["transaction"]["id"] for e in a + b}
    eq(len(ids), 1, "one transaction id")
    eq([e["transaction"]["total_order"] for e in a], [1, 2, 3, 5, 6])
    eq(b[0]["transaction"]["total_order"], 4)
    eq([e["source"]["row"] for e in a[:3]], [0, 1, 2])
    s.stop()


def test_create_table_select_rows_are_in_its_own_transaction():
    """CREATE TABLE ... SELECT is one transaction: the DDL, then the rows, ended by an XID
    (InnoDB) or a COMMIT (MyISAM). The rows carry its GTID and transaction, as one
    transaction, and the statements after it are decoded as usual."""
    fresh_db("myctas")
    my("create table src (id int primary key, v int); insert into src values (1, 1), (2, 2)",
       db="myctas")
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec("my-ctas", ["myctas.*"], out, snapshot="never"))
    s.wait_log("streaming binlog")
    my("create table c1 (primary key (id)) select * from src;"
       "create table c2 (primary key (id)) engine=myisam select * from src;"
       "insert into c1 values (3, 3)", db="myctas")
    for table in ("c1", "c2"):
        evs = wait_events(out, "myctas", table, 2)
        first = evs[:2]
        eq([e["after"] for e in first], [{"id": 1, "v": 1}, {"id": 2, "v": 2}], table)
        tx = {e["transaction"]["id"] for e in first if e["transaction"]}
        eq(len(tx), 1, "%s: one transaction: %r" % (table, [e["transaction"] for e in first]))
        eq(tx, {first[0]["source"]["gtid"]}, "%s: the transaction is the statement's GTID"
           % table)
        eq([e["transaction"]["total_order"] for e in first], [1, 2], table)
    evs = wait_events(out, "myctas", "c1", 3)
    check(evs[2]["transaction"]["id"] not in {e["transaction"]["id"] for e in evs[:2]},
          "the insert after it is a transaction of its own")
    s.stop()


def test_update_that_changes_the_key_is_a_delete_and_a_create():
    fresh_db("mypk")
    my("create table a (id int primary key, v text)", db="mypk")
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec("my-pk", ["mypk.a"], out))
    s.wait_log("streaming binlog")
    my("insert into a values (2, 'x'), (3, 'y')", db="mypk")
    # one statement, two rows: id 2 keeps its key, id 3 becomes 13
    my("update a set id = if(id = 3, 13, id), v = 'q' where id in (2, 3)", db="mypk")
    evs = wait_events(out, "mypk", "a", 5)[2:]
    eq([e["op"] for e in evs], ["u", "d", "c"], "the key change is split, as Debezium does")
    eq((evs[0]["before"], evs[0]["after"]), ({"id": 2, "v": "x"}, {"id": 2, "v": "q"}))
    eq((evs[1]["before"], evs[1]["after"]), ({"id": 3, "v": "y"}, None))
    eq((evs[2]["before"], evs[2]["after"]), (None, {"id": 13, "v": "q"}))
    eq([e["source"]["row"] for e in evs], [0, 1, 1], "both halves are row 1 of the event")
    eq([e["transaction"]["total_order"] for e in evs], [1, 2, 3])
    s.stop()


def test_ddl_mid_stream_decodes_with_the_right_schema():
    fresh_db("myddl")
    my("create table t (id int primary key, a int)", db="myddl")
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec("my-ddl", ["myddl.t", "myddl.t2"], out))
    s.wait_log("streaming binlog")
    my("insert into t values (1, 10)", db="myddl")
    my("alter table t add column b varchar(10) default 'bee'", db="myddl")
    my("insert into t values (2, 20, 'two')", db="myddl")
    my("alter table t drop column a", db="myddl")
    my("insert into t values (3, 'three')", db="myddl")
    my("rename table t to t2", db="myddl")
    my("insert into t2 values (4, 'four')", db="myddl")
    evs = wait_events(out, "myddl", "t", 3)
    eq([e["after"] for e in evs],
       [{"id": 1, "a": 10}, {"id": 2, "a": 20, "b": "two"}, {"id": 3, "b": "three"}])
    eq(wait_events(out, "myddl", "t2", 1)[0]["after"], {"id": 4, "b": "four"})
    s.stop()


def test_rotation_and_kill9_then_restart_loses_nothing():
    fresh_db("myload")
    my("create table t (id int primary key, v varchar(20))", db="myload")
    out = sltest.tmpdir("out")
    data = sltest.tmpdir("data")
    path = sltest.write_spec(spec("my-load", ["myload.t"], out))
    s = sltest.start_sluice(path, data_dir=data)
    s.wait_log("streaming binlog")
    sql = "".join("insert into t select seq, 'v' from seq_%d_to_%d; flush binary logs;" %
                  (i * 2000 + 1, i * 2000 + 2000) for i in range(10))
    load = subprocess.Popen(["mariadb", "-h127.0.0.1", "-P" + os.environ["SL_MY_PORT"],
                             "-uroot", "myload", "-e", sql])
    wait_until(lambda: len(events(out, "myload", "t")) >= 4000, 30, what="4000 rows")
    s.kill()
    eq(load.wait(60), 0)
    s2 = sltest.start_sluice(path, data_dir=data)
    wait_until(lambda: len({e["after"]["id"] for e in events(out, "myload", "t")}) >= 20000,
               60, what="all 20000 rows after restart")
    eq({e["after"]["id"] for e in events(out, "myload", "t")}, set(range(1, 20001)))
    files = {e["source"]["file"] for e in events(out, "myload", "t")}
    check(len(files) >= 5, "rows came from several binlog files: %r" % files)
    eq(s2.stop(), 0)
    # a clean stop and restart adds nothing twice
    n = len(events(out, "myload", "t"))
    my("insert into t values (30000, 'after')", db="myload")
    s3 = sltest.start_sluice(path, data_dir=data)
    wait_until(lambda: len(events(out, "myload", "t")) >= n + 1, 20, what="row after restart")
    time.sleep(0.5)
    eq(len(events(out, "myload", "t")), n + 1, "nothing replayed after a clean stop")
    s3.stop()


def test_resume_by_file_position_and_by_gtid():
    fresh_db("mypos")
    my("create table t (id int primary key)", db="mypos")
    status = my("show master status").split("\t")
    file, pos = status[0], status[1]
    gtid = my("select @@gtid_binlog_pos")
    my("insert into t values (1), (2)", db="mypos")
    my("insert into t values (3)", db="mypos")
    for name, start in (("my-bypos", "%s:%s" % (file, pos)), ("my-bygtid", gtid)):
        out = sltest.tmpdir("out")
        s = sltest.start_sluice(spec(name, ["mypos.t"], out, start=start, snapshot="never"))
        evs = wait_events(out, "mypos", "t", 3)
        eq([e["after"]["id"] for e in evs], [1, 2, 3], "start %s" % start)
        s.stop()


def _read_ckpt(data, name):
    with open(os.path.join(data, name, "checkpoint.json")) as f:
        return json.load(f)


def _write_ckpt(data, name, doc):
    with open(os.path.join(data, name, "checkpoint.json"), "w") as f:
        json.dump(doc, f)


def _wait_ckpt_caught_up(data, name):
    """Wait until the checkpoint's GTID state is the server's current one."""
    want = set(my("select @@gtid_binlog_pos").split(","))
    return wait_until(lambda: (lambda p: p if set((p.get("gtid") or "").split(",")) == want
                               else None)(_read_ckpt(data, name)["position"]),
                      30, what="checkpoint at GTID state %s" % sorted(want))


def _ids(out, db):
    return [e["after"]["id"] for e in events(out, db, "t")]


def test_resume_by_gtid_after_kill9_failover_and_old_checkpoints():
    """MariaDB: the checkpoint's GTID state covers every domain (seeded from the server,
    not only the domains streamed since start) and is marked gtid_complete; a restart after
    kill -9 resumes by GTID; a checkpoint whose file/pos is not on the server (failover)
    resumes exactly by GTID; an old checkpoint without gtid_complete resumes by file/pos."""
    fresh_db("mygtid")
    fresh_db("mygtid7")
    my("create table t (id int primary key, v varchar(20))", db="mygtid")
    my("create table t (id int primary key)", db="mygtid7")
    # a transaction in another replication domain before sluice starts: sluice never
    # streams it, yet its checkpoints must carry domain 7
    my("set session gtid_domain_id = 7; insert into t values (1)", db="mygtid7")
    dom7 = [g for g in my("select @@gtid_binlog_pos").split(",") if g.startswith("7-")]
    eq(len(dom7), 1, "domain 7 in the server's GTID state")
    # a snapshot's checkpoint carries the complete state at the snapshot's position
    sdata = sltest.tmpdir("data")
    snap = sltest.start_sluice(spec("my-gtid-snap", ["mygtid.t"], sltest.tmpdir("out"),
                                    snapshot="initial_only"), data_dir=sdata)
    eq(snap.wait(30), 0)
    pos = _read_ckpt(sdata, "my-gtid-snap")["position"]
    eq(pos.get("gtid_complete"), True, "snapshot checkpoint %r" % pos)
    eq(set(pos["gtid"].split(",")), set(my("select @@gtid_binlog_pos").split(",")))
    name = "my-gtid"
    out, data = sltest.tmpdir("out"), sltest.tmpdir("data")
    path = sltest.write_spec(spec(name, ["mygtid.t"], out, snapshot="never"))
    s = sltest.start_sluice(path, data_dir=data)
    s.wait_log("streaming binlog from mysql-bin")   # first start: at the file position
    check("GTID state at mysql-bin" in s.log(), s.log_tail())
    for i in range(1, 41):
        my("insert into t values (%d, 'a')" % i, db="mygtid")
    wait_until(lambda: len(set(_ids(out, "mygtid"))) >= 40, 30, what="40 rows")
    pos = _read_ckpt(data, name)["position"]
    eq(pos.get("gtid_complete"), True, "checkpoint %r" % pos)
    check(dom7[0] in pos["gtid"].split(","), "domain 7 (%s) in %r" % (dom7[0], pos))

    # (a) kill -9, writes while down, restart: by GTID, nothing lost
    load = subprocess.Popen(["mariadb", "-h127.0.0.1", "-P" + os.environ["SL_MY_PORT"],
                             "-uroot", "mygtid", "-e",
                             "".join("insert into t values (%d, 'b');" % i
                                     for i in range(41, 241))])
    wait_until(lambda: len(_ids(out, "mygtid")) >= 60, 30, what="rows during the load")
    s.kill()
    before = set(_ids(out, "mygtid"))
    eq(load.wait(60), 0)
    s = sltest.start_sluice(path, data_dir=data)
    s.wait_log("streaming binlog from GTID [0-9-,]+ .*file position mysql-bin")
    wait_until(lambda: set(_ids(out, "mygtid")) >= set(range(1, 241)), 60,
               what="all 240 rows after the restart")
    ids = _ids(out, "mygtid")
    eq(set(ids), set(range(1, 241)))
    dups = {x for i, x in enumerate(ids) if x in ids[:i]}
    check(dups <= before, "only rows delivered before the kill come again (at-least-once): "
          "%r" % sorted(dups - before))
    _wait_ckpt_caught_up(data, name)
    eq(s.stop(), 0)

    # (b) failover: the checkpoint's file is not on this server; the GTID state is
    doc = _read_ckpt(data, name)
    real_file = doc["position"]["file"]
    doc["position"]["file"] = "failover-bin." + real_file.split(".")[-1]
    _write_ckpt(data, name, doc)
    n = len(_ids(out, "mygtid"))
    for i in range(241, 246):
        my("insert into t values (%d, 'c')" % i, db="mygtid")
    s = sltest.start_sluice(path, data_dir=data)
    s.wait_log("streaming binlog from GTID .*file position failover-bin")
    wait_until(lambda: len(_ids(out, "mygtid")) >= n + 5, 30, what="5 rows after failover")
    pos = _wait_ckpt_caught_up(data, name)
    eq(s.stop(), 0)
    eq(_ids(out, "mygtid")[n:], list(range(241, 246)), "exactly the new rows, once")
    eq(pos["file"], my("show master status").split("\t")[0], "the server's file again")
    eq(pos.get("gtid_complete"), True)

    # (c) an old-style checkpoint (no gtid_complete, gtid of the streamed domain only)
    doc = _read_ckpt(data, name)
    doc["position"].pop("gtid_complete")
    doc["position"]["gtid"] = [g for g in doc["position"]["gtid"].split(",")
                               if g.startswith("0-")][0]
    _write_ckpt(data, name, doc)
    n = len(_ids(out, "mygtid"))
    my("insert into t values (246, 'd'), (247, 'd')", db="mygtid")
    s = sltest.start_sluice(path, data_dir=data)
    s.wait_log("streaming binlog from %s:%d " % (doc["position"]["file"],
                                                 doc["position"]["pos"]))
    check("streaming binlog from GTID" not in s.log(), s.log_tail())
    wait_until(lambda: len(_ids(out, "mygtid")) >= n + 2, 30, what="2 rows")
    pos = _wait_ckpt_caught_up(data, name)
    eq(s.stop(), 0)
    eq(_ids(out, "mygtid")[n:], [246, 247], "exactly the new rows, once")
    eq(pos.get("gtid_complete"), True, "the old checkpoint is upgraded: %r" % pos)
    check(dom7[0] in pos["gtid"].split(","), "domain 7 back in %r" % pos)


KILLER_SQL = """delimiter //
create procedure killer(n int, delay double)
begin
  declare k int default 0;
  declare tid bigint;
  declare last bigint default 0;
  declare tries int default 0;
  while k < n and tries < 20000 do
    set tid = (select max(id) from information_schema.processlist
               where command like 'Binlog Dump%' and id > last);
    if tid is not null then
      do sleep(delay);
      kill connection tid;
      set last = tid, k = k + 1;
    else
      do sleep(0.001);
    end if;
    set tries = tries + 1;
  end while;
end //"""


def test_reconnect_mid_transaction_by_gtid_loses_nothing():
    """The server drops the replication connection while sluice reads a big transaction:
    the reconnect (by GTID) starts again before that transaction, not after its GTID."""
    fresh_db("mymid")
    my("create table t (id int primary key, v varchar(100))", db="mymid")
    my(KILLER_SQL, db="mymid")
    out, data = sltest.tmpdir("out"), sltest.tmpdir("data")
    path = sltest.write_spec(spec("my-mid", ["mymid.t"], out, snapshot="never"))
    s = sltest.start_sluice(path, data_dir=data)
    s.wait_log("streaming binlog")
    my("insert into t values (0, 'first')", db="mymid")
    wait_events(out, "mymid", "t", 1)
    eq(s.stop(), 0)
    before = my("select @@gtid_binlog_pos")
    my("insert into t select seq, repeat('x', 100) from seq_1_to_200000", db="mymid")
    # three times, 30 ms into each binlog dump: inside the 21 MB transaction
    killer = subprocess.Popen(["mariadb", "-h127.0.0.1", "-P" + os.environ["SL_MY_PORT"],
                               "-uroot", "mymid", "-e", "call killer(3, 0.03)"])
    s = sltest.start_sluice(path, data_dir=data)
    eq(killer.wait(60), 0)
    wait_until(lambda: len(events(out, "mymid", "t")) >= 200001, 60, what="200001 rows")
    log = s.log()
    check(log.count("Lost connection") >= 3, s.log_tail())
    # each reconnect starts before the transaction: it was never complete when killed
    states = [set(g.split(",")) for g in re.findall(r"streaming binlog from GTID (\S+) ", log)]
    eq(states, [set(before.split(","))] * 4, s.log_tail())
    eq(sorted({e["after"]["id"] for e in events(out, "mymid", "t")}), list(range(200001)))
    s.stop()


def test_xa_transactions_are_emitted_at_commit_and_never_after_rollback():
    """An XA transaction is in the binlog at XA PREPARE and resolved later by its own
    XA COMMIT / XA ROLLBACK: its rows arrive in the commit's transaction, a rolled-back
    one's never; one-phase commits at once. While one is prepared, the checkpoint stays
    before it, so a kill -9 then loses nothing (the transactions after it come again)."""
    fresh_db("myxa")
    my("create table t (id int primary key, v varchar(10))", db="myxa")
    name = "my-xa"
    out, data = sltest.tmpdir("out"), sltest.tmpdir("data")
    path = sltest.write_spec(spec(name, ["myxa.t"], out, snapshot="never"))
    s = sltest.start_sluice(path, data_dir=data)
    s.wait_log("streaming binlog")
    my("insert into t values (1, 'plain')", db="myxa")
    wait_events(out, "myxa", "t", 1)
    _wait_ckpt_caught_up(data, name)
    before_xa = _read_ckpt(data, name)["position"]
    # each client leaves its prepared transaction behind when it disconnects (10.5+)
    my("xa start 'a'; insert into t values (2, 'xa-a'); xa end 'a'; xa prepare 'a'", db="myxa")
    my("xa start 'b'; insert into t values (3, 'xa-b'); xa end 'b'; xa prepare 'b'", db="myxa")
    my("insert into t values (4, 'plain')", db="myxa")
    wait_events(out, "myxa", "t", 2)
    time.sleep(1.5)                      # a checkpoint write (at most once a second)
    eq(_ids(out, "myxa"), [1, 4], "prepared XA rows are held")
    eq(_read_ckpt(data, name)["position"], before_xa, "the checkpoint stays before the XA")

    s.kill()                             # crash while 'a' and 'b' are prepared
    s = sltest.start_sluice(path, data_dir=data)
    s.wait_log("streaming binlog")
    my("xa rollback 'b'; xa commit 'a'", db="myxa")
    my("xa start 'c'; insert into t values (5, 'one phase'); xa end 'c'; xa commit 'c' one phase",
       db="myxa")
    my("insert into t values (6, 'plain')", db="myxa")
    wait_until(lambda: 6 in _ids(out, "myxa"), 20, what="row 6")
    ids = _ids(out, "myxa")
    eq(sorted(set(ids)), [1, 2, 4, 5, 6], "events (3 was rolled back)")
    eq(ids[:2], [1, 4])
    eq(ids[2:], [4, 2, 5, 6], "after the restart: 4 again (read again from before the "
       "XA), then 2 at its XA COMMIT")
    evs = events(out, "myxa", "t")
    eq([e["op"] for e in evs], ["c"] * 6)
    eq(sorted(int(r) for r in my("select id from t", db="myxa").split()), [1, 2, 4, 5, 6])
    _wait_ckpt_caught_up(data, name)     # nothing held: the checkpoint moves on
    eq(s.stop(), 0)


def test_gtid_gap_is_a_clear_error():
    """A checkpoint GTID state the server's binlog does not hold (ahead of the server: a
    failover to a replica that missed transactions) stops sluice with an error saying
    what to do, also when the checkpoint's file position exists on the server (reading
    from it would silently skip the missing transactions)."""
    fresh_db("mygap")
    my("create table t (id int primary key)", db="mygap")
    name = "my-gap"
    out, data = sltest.tmpdir("out"), sltest.tmpdir("data")
    path = sltest.write_spec(spec(name, ["mygap.t"], out, snapshot="never"))
    s = sltest.start_sluice(path, data_dir=data)
    s.wait_log("streaming binlog")
    my("insert into t values (1)", db="mygap")
    wait_events(out, "mygap", "t", 1)
    eq(s.stop(), 0)
    good = _read_ckpt(data, name)
    state = good["position"]["gtid"].split(",")
    ahead = ",".join("%s-%s-%d" % (g.split("-")[0], g.split("-")[1], int(g.split("-")[2]) + 1000)
                     if g.startswith("0-") else g for g in state)
    for f in (good["position"]["file"], "gone-bin.000001"):
        doc = json.loads(json.dumps(good))
        doc["position"]["gtid"] = ahead
        doc["position"]["file"] = f
        _write_ckpt(data, name, doc)
        s = sltest.start_sluice(path, data_dir=data)
        eq(s.wait(20), 1, "exit status with file %s" % f)
        log = s.log()
        check("GTID gap" in log and ahead in log and "fresh data dir" in log, log)
        check(("is not on this server" in log) == (f == "gone-bin.000001"), log)
    eq(len(events(out, "mygap", "t")), 1, "nothing read from a wrong position")


def test_offline_replay_of_binlog_files_matches_the_stream():
    fresh_db("myoff")
    my("create table t (id int primary key, v json, n decimal(5,1))", db="myoff")
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec("my-online", ["myoff.t"], out))
    s.wait_log("streaming binlog")
    my("insert into t values (1, '[1,2]', 1.5), (2, null, -2.0); update t set n = 9 where id = 1",
       db="myoff")
    online = wait_events(out, "myoff", "t", 3)
    s.stop()
    files = copy_binlogs()
    out2 = sltest.tmpdir("out")
    r = sltest.start_sluice(spec("my-offline", ["myoff.t"], out2, binlog_files=files,
                                 dsn=None, schema_dsn=dsn()))
    eq(r.wait(60), 0, "replay ends by itself")
    offline = events(out2, "myoff", "t")
    strip = lambda e: (e["op"], e["before"], e["after"], e["source"]["file"], e["source"]["pos"])
    eq([strip(e) for e in offline], [strip(e) for e in online], "same events offline")


def _binlog_types(path):
    """{event type: count} of a binlog file (walked by event_size; no decoding)."""
    with open(path, "rb") as f:
        b = f.read()
    check(b[:4] == b"\xfebin", "%s is a binlog file" % path)
    types, off = {}, 4
    while off + 19 <= len(b):
        size = int.from_bytes(b[off + 9:off + 13], "little")
        check(size >= 19, "event at %d of %s has size %d" % (off, path, size))
        types[b[off + 4]] = types.get(b[off + 4], 0) + 1
        off += size
    return types


COMPRESSED_SQL = [
    "insert into t values (1, 'one', repeat('abcdefghij', 20000), 1), (2, 'two', 'short', 2)",
    "insert into t select seq, concat('row', seq), repeat('xyz', seq), seq from seq_3_to_300",
    "update t set v = 'changed', big = concat(big, '+tail') where id in (1, 7)",
    "delete from t where id between 100 and 120",
    "alter table t add column extra varchar(30) default 'a default value'",
    "insert into t values (1001, 'after ddl', 'text after the alter table', 5, 'given')",
    "update t set extra = 'updated after ddl' where id = 2",
]


def test_mariadb_compressed_binlog_events_decode_like_plain_ones():
    """log_bin_compress=ON: QUERY_COMPRESSED and *_ROWS_COMPRESSED events give exactly the
    events the same statements give uncompressed, streamed and replayed from the files."""
    old = my("select @@global.log_bin_compress, @@global.log_bin_compress_min_len").split("\t")
    for db in ("myplain", "myzip"):
        fresh_db(db)
        my("create table t (id int primary key, v varchar(50), big longtext, n int)", db=db)
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec("my-zip", ["myplain.t", "myzip.t"], out))
    s.wait_log("streaming binlog")
    my("flush binary logs")
    first_file = my("show master status").split("\t")[0]
    try:
        for sql in COMPRESSED_SQL:
            my(sql, db="myplain")
        my("set global log_bin_compress = ON; set global log_bin_compress_min_len = 10")
        for sql in COMPRESSED_SQL:
            my(sql, db="myzip")
    finally:
        my("set global log_bin_compress = %s; set global log_bin_compress_min_len = %s"
           % (old[0], old[1]))
    my("insert into t values (5000, 'end', '', 0, 'x')", db="myzip")
    plain_n = 300 + 2 + 21 + 1 + 1
    plain = wait_events(out, "myplain", "t", plain_n)
    zipped = wait_events(out, "myzip", "t", plain_n + 1)
    strip = lambda e: (e["op"], e["before"], e["after"], e["source"]["query"])
    eq(len(plain), plain_n)
    eq([strip(e) for e in zipped[:plain_n]], [strip(e) for e in plain], "compressed == plain")
    eq(zipped[0]["after"]["big"], "abcdefghij" * 20000)
    eq(zipped[plain_n - 1]["after"]["extra"], "updated after ddl")
    check(s.alive(), "sluice still runs")
    s.stop()

    # The server did write compressed events, and the files replay to the same events.
    files, types = copy_binlogs(first_file), {}
    for f in files:
        for t, c in _binlog_types(f).items():
            types[t] = types.get(t, 0) + c
    check(types.get(165) and types.get(166) and types.get(167) and types.get(168),
          "QUERY_COMPRESSED and WRITE/UPDATE/DELETE_ROWS_COMPRESSED_V1 in the binlog: %r"
          % types)
    out2 = sltest.tmpdir("out")
    r = sltest.start_sluice(spec("my-zip-offline", ["myplain.t", "myzip.t"], out2,
                                 binlog_files=files, dsn=None, schema_dsn=dsn()))
    eq(r.wait(60), 0, "replay ends by itself")
    full = lambda e: (e["op"], e["before"], e["after"], e["source"]["file"], e["source"]["pos"])
    eq([full(e) for e in events(out2, "myzip", "t")], [full(e) for e in zipped],
       "offline replay == stream")


def _replay(evs):
    state = {}
    for e in evs:
        if e["op"] in ("r", "c", "u"):
            if e["op"] == "u" and e["before"]["id"] != e["after"]["id"]:
                state.pop(e["before"]["id"], None)
            state[e["after"]["id"]] = e["after"]
        elif e["op"] == "d":
            state.pop(e["before"]["id"], None)
    return state


def _table(db, table):
    rows = my("select id, v, s from %s" % table, db=db)
    out = {}
    for line in rows.splitlines():
        i, v, st = line.split("\t")
        out[int(i)] = {"id": int(i), "v": int(v), "s": st}
    return out


def _writer(db, table, n, iterations):
    body = "".join(
        "update %s set v = v + 1, s = 'u%d' where id = %d; delete from %s where id = %d; "
        "insert ignore into %s values (%d, %d, 'new');"
        % (table, i, (i * 7919) % n + 1, table, (i * 104729) % n + 1, table, n + i, i)
        for i in range(iterations))
    p = subprocess.Popen(["mariadb", "-h127.0.0.1", "-P" + os.environ["SL_MY_PORT"], "-uroot",
                          db], stdin=subprocess.PIPE)
    p.stdin.write(body.encode())
    p.stdin.close()
    return p


def test_snapshot_with_concurrent_writers_matches_the_table():
    fresh_db("mysnap")
    my("create table t (id int primary key, v int, s varchar(20));"
       "insert into t select seq, seq, concat('row', seq) from seq_1_to_20000", db="mysnap")
    out = sltest.tmpdir("out")
    w = _writer("mysnap", "t", 20000, 1500)
    s = sltest.start_sluice(spec("my-snap", ["mysnap.t"], out,
                                 snapshot={"mode": "initial", "chunk_size": 500}))
    s.wait_log("snapshot: complete", timeout=60)
    eq(w.wait(60), 0)
    my("insert into t values (999999, 0, 'marker')", db="mysnap")
    wait_until(lambda: any(e["after"] and e["after"]["id"] == 999999
                           for e in events(out, "mysnap", "t")), 30, what="marker row")
    evs = events(out, "mysnap", "t")
    check(any(e["op"] == "r" for e in evs) and any(e["op"] != "r" for e in evs), "both kinds")
    eq(_replay(evs), _table("mysnap", "t"), "replayed events == table")
    marks = [e["source"]["snapshot"] for e in evs if e["op"] == "r"]
    eq((marks[0], marks[-1], marks.count("first"), marks.count("last")),
       ("first", "last", 1, 1))
    check(all(e["transaction"] is None for e in evs if e["op"] == "r"), "no tx for reads")
    s.stop()


def test_snapshot_kill9_resumes_and_modes():
    fresh_db("mysnk")
    my("create table t (id int primary key, v int, s varchar(20));"
       "insert into t select seq, seq, 'r' from seq_1_to_200000", db="mysnk")
    out = sltest.tmpdir("out")
    data = sltest.tmpdir("data")
    sp = spec("my-snk", ["mysnk.t"], out, snapshot={"mode": "initial", "chunk_size": 200})
    sp["spec"]["batch"]["max_events"] = 200
    path = sltest.write_spec(sp)
    s = sltest.start_sluice(path, data_dir=data)
    wait_until(lambda: os.path.exists(os.path.join(out, "mysnk.t.jsonl")) and
               os.path.getsize(os.path.join(out, "mysnk.t.jsonl")) > 2000000, 60,
               what="some snapshot rows")
    s.kill()
    first = len(events(out, "mysnk", "t"))
    check(first < 200000, "killed mid-snapshot (%d)" % first)
    my("update t set v = -1 where id = 200000", db="mysnk")
    s2 = sltest.start_sluice(path, data_dir=data)
    s2.wait_log("resuming", timeout=30)
    s2.wait_log("snapshot: complete", timeout=60)
    my("insert into t values (900000, 1, 'end')", db="mysnk")
    wait_until(lambda: any(e["after"] and e["after"]["id"] == 900000
                           for e in events(out, "mysnk", "t")), 30, what="row after snapshot")
    evs = events(out, "mysnk", "t")
    eq(_replay(evs), _table("mysnk", "t"))
    check(sum(1 for e in evs if e["op"] == "r") < 200000 + first, "resumed, not restarted")
    s2.stop()
    # initial_only exits by itself; never streams only
    out2 = sltest.tmpdir("out")
    r = sltest.start_sluice(spec("my-snonly", ["mysnk.t"], out2, snapshot="initial_only"))
    eq(r.wait(60), 0)
    eq(sum(1 for e in events(out2, "mysnk", "t") if e["op"] == "r"), 200001)
    out3 = sltest.tmpdir("out")
    n = sltest.start_sluice(spec("my-snnever", ["mysnk.t"], out3, snapshot="never"))
    n.wait_log("streaming binlog")
    my("insert into t values (970000, 1, 'x')", db="mysnk")
    wait_until(lambda: events(out3, "mysnk", "t"), 20, what="streamed row")
    eq([e["op"] for e in events(out3, "mysnk", "t")], ["c"])
    n.stop()


PAR_TABLES = {"a": 12000, "b": 8000, "c": 3000}


def _par_db(db):
    fresh_db(db)
    for t, n in PAR_TABLES.items():
        my("create table %s (id int primary key, v int, s varchar(20));"
           "insert into %s select seq, seq, concat('row', seq) from seq_1_to_%d" % (t, t, n),
           db=db)
    my("create table k (v int); insert into k select seq from seq_1_to_1500", db=db)


def _par_spec(name, db, out, parallel, chunk=500):
    """All tables of db into one file, in the order sluice emitted them."""
    sp = spec(name, [db + ".*"], out, snapshot={"mode": "initial", "chunk_size": chunk,
                                                "max_parallel_tables": parallel})
    sp["spec"]["sinks"][0]["config"]["path"] = os.path.join(out, "all.jsonl")
    return sp


def _par_events(out, table=None):
    evs = sltest.read_jsonl(os.path.join(out, "all.jsonl"))
    return [e for e in evs if table is None or e["source"]["table"] == table]


def _table_switches(evs):
    """How often the table changes along the snapshot rows (1 less than the tables when
    they were read one after another)."""
    tabs = [e["source"]["table"] for e in evs if e["op"] == "r"]
    return sum(1 for x, y in zip(tabs, tabs[1:]) if x != y)


def _replay_exact(evs, what):
    """Replay that also checks the stream continues exactly where the snapshot rows left
    off: every update and delete finds the row as its before image says, every insert
    finds no row (a snapshot later or earlier than the stream's start fails this)."""
    state = {}
    for i, e in enumerate(evs):
        if e["op"] == "r":
            check(e["after"]["id"] not in state, "%s: row %r read twice" % (what, e["after"]))
        elif e["op"] == "c":
            check(e["after"]["id"] not in state,
                  "%s: event %d inserts %r over %r" % (what, i, e["after"],
                                                      state.get(e["after"]["id"])))
        else:
            eq(state.get(e["before"]["id"]), e["before"],
               "%s: event %d (%s) finds the row as its before image" % (what, i, e["op"]))
        if e["op"] == "d":
            del state[e["before"]["id"]]
        else:
            if e["op"] == "u" and e["before"]["id"] != e["after"]["id"]:
                del state[e["before"]["id"]]
            state[e["after"]["id"]] = e["after"]
    return state


def _check_par_snapshot(s, db, out):
    """Writers done, a marker streamed: every table equals the exact replay of its
    events."""
    my("insert into a values (999999, 0, 'marker')", db=db)
    wait_until(lambda: any(e["after"] and e["after"]["id"] == 999999
                           for e in _par_events(out, "a")), 30, what="marker row")
    for t in PAR_TABLES:
        eq(_replay_exact(_par_events(out, t), "%s.%s" % (db, t)), _table(db, t),
           "replayed events == table %s" % t)
    eq(sorted(e["after"]["v"] for e in _par_events(out, "k")), list(range(1, 1501)),
       "keyless table")
    evs = _par_events(out)
    marks = [e["source"]["snapshot"] for e in evs if e["op"] == "r"]
    eq((marks[0], marks[-1], marks.count("first"), marks.count("last")),
       ("first", "last", 1, 1), "first and last marks")
    check(all(e["source"]["snapshot"] == "false" for e in evs if e["op"] != "r"),
          "streamed rows say false")
    return evs


def test_parallel_snapshot_with_concurrent_writers_matches_the_tables():
    """max_parallel_tables 2 and 1 under concurrent writers: the workers share one view
    (no lock needed when their snapshot positions agree), the stream starts exactly at it,
    and with 2 the tables' chunks interleave (both read at once)."""
    for parallel in (2, 1):
        db = "mypar%d" % parallel
        _par_db(db)
        out = sltest.tmpdir("out")
        w1 = _writer(db, "a", PAR_TABLES["a"], 1500)
        w2 = _writer(db, "b", PAR_TABLES["b"], 1500)
        s = sltest.start_sluice(_par_spec("my-par%d" % parallel, db, out, parallel))
        s.wait_log("snapshot: complete", timeout=90)
        eq(w1.wait(60), 0)
        eq(w2.wait(60), 0)
        evs = _check_par_snapshot(s, db, out)
        check(any(e["op"] != "r" for e in _par_events(out, "a")) and
              any(e["op"] != "r" for e in _par_events(out, "b")), "changes streamed too")
        log = s.log()
        check("%d in parallel" % parallel in log, "log says %d in parallel" % parallel)
        if parallel == 2:
            check("2 connections share one snapshot" in log, "one view for both connections")
            for t in ("a", "b"):
                check("reading %s.%s on connection" % (db, t) in log, "table %s read" % t)
            check(_table_switches(evs) > 10, "chunks of several tables interleave "
                  "(%d switches)" % _table_switches(evs))
        else:
            eq(_table_switches(evs), 3, "one table after another")
            check("share one snapshot" not in log, "no agreement needed for one connection")
        s.stop()


def test_parallel_snapshot_lock_and_sequential_fallback():
    """When the connections' snapshots do not agree (forced: SLUICE_MY_SNAPSHOT_TRIES=0)
    they are opened under a brief BACKUP STAGE BLOCK_COMMIT; without RELOAD the snapshot
    falls back to one connection and says so. Both stay consistent under writers."""
    my("drop user if exists 'snaponly'@'%'; create user 'snaponly'@'%';"
       "grant select, replication slave, binlog monitor on *.* to 'snaponly'@'%'")
    for name, user, want in (("lock", "root", "opened under a brief BACKUP STAGE BLOCK_COMMIT"),
                             ("noreload", "snaponly", "reading the tables one after another")):
        db = "mypl" + name
        _par_db(db)
        out = sltest.tmpdir("out")
        w = _writer(db, "a", PAR_TABLES["a"], 1500)
        sp = _par_spec("my-pl-" + name, db, out, 3)
        sp["spec"]["source"]["config"]["dsn"] = os.environ["SL_MY_DSN"].replace(
            "root@", user + "@")
        s = sltest.start_sluice(sp, env={"SLUICE_MY_SNAPSHOT_TRIES": "0"})
        s.wait_log("snapshot: complete", timeout=90)
        eq(w.wait(60), 0)
        evs = _check_par_snapshot(s, db, out)
        log = s.log()
        check(want in log, "log says %r:\n%s" % (want, s.log_tail()))
        if name == "lock":
            check("3 in parallel" in log and _table_switches(evs) > 10, "3 tables at once")
        else:
            check("RELOAD" in log and "1 in parallel" in log, "fallback explained")
            eq(_table_switches(evs), 3, "one table after another")
        s.stop()


def test_parallel_snapshot_kill9_resumes_every_table():
    """kill -9 while two tables are read at once: the checkpoint holds the progress of
    both; the restart resumes each after its last acknowledged chunk and the replayed
    events still equal the tables."""
    db = "myparkill"
    fresh_db(db)
    for t in ("a", "b"):
        my("create table %s (id int primary key, v int, s varchar(20));"
           "insert into %s select seq, seq, 'r' from seq_1_to_100000" % (t, t), db=db)
    out = sltest.tmpdir("out")
    data = sltest.tmpdir("data")
    sp = _par_spec("my-parkill", db, out, 2, chunk=200)
    sp["spec"]["batch"]["max_events"] = 200
    # ~4 ms per 200-row batch: the snapshot takes seconds, so checkpoints (written at most
    # once a second) catch it midway
    sp["spec"]["processors"] = [{"type": "javascript", "id": "throttle", "inline":
                                 "function process(b) { var t = Date.now(); "
                                 "while (Date.now() - t < 4) {} return b; }"}]
    path = sltest.write_spec(sp)
    w = _writer(db, "a", 100000, 3000)
    s = sltest.start_sluice(path, data_dir=data)
    ckpath = os.path.join(data, "my-parkill", "checkpoint.json")

    def both_in_progress():
        with open(ckpath) as f:
            keys = json.load(f)["position"]["snapshot"]["keys"]
        return ("%s.a" % db) in keys and ("%s.b" % db) in keys

    wait_until(both_in_progress, 60, interval=0.02,
               what="a checkpoint with the progress of both tables")
    s.kill()
    first = len(_par_events(out))
    check(first < 200000, "killed mid-snapshot (%d rows)" % first)
    my("update b set v = -1 where id = 100000", db=db)
    s2 = sltest.start_sluice(path, data_dir=data)
    s2.wait_log("resuming", timeout=30)
    s2.wait_log("snapshot: complete", timeout=90)
    eq(w.wait(90), 0)
    my("insert into a values (900000, 1, 'end')", db=db)
    wait_until(lambda: any(e["after"] and e["after"]["id"] == 900000
                           for e in _par_events(out, "a")), 30, what="row after snapshot")
    for t in ("a", "b"):
        eq(_replay(_par_events(out, t)), _table(db, t), "replayed events == table %s" % t)
    reads = sum(1 for e in _par_events(out) if e["op"] == "r")
    check(reads < 200000 + first, "resumed, not restarted (%d reads)" % reads)
    s2.stop()


def test_snapshot_rows_map_types_like_streamed_rows():
    fresh_db("mysty")
    my("set global time_zone = '+00:00'")
    my(TYPES_DDL, db="mysty")
    my("set time_zone = '+00:00'; " + ROW1, db="mysty")
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec("my-snty", ["mysty.ty"], out, snapshot="initial"))
    s.wait_log("streaming binlog", timeout=30)
    my("set time_zone = '+00:00'; " + ROW1.replace("values (1,", "values (2,"), db="mysty")
    evs = wait_events(out, "mysty", "ty", 2)
    eq([e["op"] for e in evs], ["r", "c"])
    a, b = dict(evs[0]["after"]), dict(evs[1]["after"])
    a.pop("id")
    b.pop("id")
    for k in b:
        eq(a[k], b[k], "column %s: snapshot vs stream" % k)
    s.stop()


def test_snapshot_reads_invisible_and_generated_columns_and_odd_names_like_the_stream():
    """Snapshot rows hold every column the binlog's rows hold, by name: INVISIBLE columns
    (SELECT * leaves them out and shifted the values), VIRTUAL and PERSISTENT ones; names
    with a backtick, a space and non-ASCII in the table, the key and a column, and key
    values with quotes and backslashes, read in chunks of 2 (keyset on the odd key)."""
    fresh_db("myodd")
    my("create table `odd ``t`` ü` (`k``ey` varchar(20) primary key, a int,"
       " b int as (a * 2) virtual, c int as (a + 1) persistent, d int invisible default 7,"
       " `e e` varchar(5) default 'x')", db="myodd")
    keys = ["a'b", "c\\\\d", "e`f", "g\"h", "i", "j k"]
    my("insert into `odd ``t`` ü` (`k``ey`, a) values %s" % ", ".join(
        "('%s', %d)" % (k.replace("'", "''"), i) for i, k in enumerate(keys)), db="myodd")
    my("update `odd ``t`` ü` set d = 9 where a = 1", db="myodd")
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec("my-odd", ["myodd.odd `t` ü"], out,
                                 snapshot={"mode": "initial", "chunk_size": 2}))
    s.wait_log("streaming binlog", timeout=30)
    my("insert into `odd ``t`` ü` (`k``ey`, a, d) values ('z', 10, 5)", db="myodd")
    evs = wait_events(out, "myodd", "odd `t` ü", len(keys) + 1)
    eq([e["op"] for e in evs], ["r"] * len(keys) + ["c"])
    want = [{"k`ey": k.replace("\\\\", "\\"), "a": i, "b": 2 * i, "c": i + 1,
             "d": 9 if i == 1 else 7, "e e": "x"} for i, k in enumerate(keys)]
    eq(sorted((e["after"] for e in evs[:-1]), key=lambda r: r["a"]), want, "snapshot rows")
    eq(evs[-1]["after"], {"k`ey": "z", "a": 10, "b": 20, "c": 11, "d": 5, "e e": "x"},
       "streamed row")
    s.stop()


def test_errors_are_clear():
    out = sltest.tmpdir("out")
    bad = spec("my-baddsn", ["x.t"], out)
    bad["spec"]["source"]["config"]["dsn"] = "mysql://root@127.0.0.1:1/"
    s = sltest.start_sluice(bad)
    eq(s.wait(20), 1)
    check("cannot connect to MySQL" in s.log(), s.log())
    my("drop user if exists 'noprivs'@'%'; create user 'noprivs'@'%'")
    np = spec("my-noprivs", ["x.t"], out)
    np["spec"]["source"]["config"]["dsn"] = os.environ["SL_MY_DSN"].replace("root@", "noprivs@")
    s = sltest.start_sluice(np)
    eq(s.wait(20), 1)
    check("REPLICATION" in s.log() or "denied" in s.log(), s.log())
    my("set global binlog_format = 'STATEMENT'")
    try:
        s = sltest.start_sluice(spec("my-fmt", ["x.t"], out))
        eq(s.wait(20), 1)
        check("binlog_format is STATEMENT" in s.log(), s.log())
    finally:
        my("set global binlog_format = 'ROW'")
    v = sltest.Sluice(["validate", sltest.write_spec({"metadata": {"name": "m"}, "spec": {
        "source": {"type": "mysql", "config": {"id": "x", "dsn": "postgres://x",
                                                "tables": ["nodot"]}},
        "sinks": [{"type": "file", "config": {"id": "f", "path": "/tmp/x"}}]}})])
    eq(v.wait(), 2)
    check("spec.source.config.dsn" in v.log() and "spec.source.config.tables[0]" in v.log(),
          v.log())


def test_purged_binlogs_are_a_clear_error():
    """Binlogs purged past the checkpoint: changes are lost, so sluice stops with an error
    that says so and what to do, whether it resumes by GTID or (an old checkpoint) by
    file/position, and reads nothing from wherever the server would start instead.
    Runs last in this file: it purges the server's older binlogs."""
    fresh_db("mypurge")
    my("create table t (id int primary key)", db="mypurge")
    name = "my-purge"
    out, data = sltest.tmpdir("out"), sltest.tmpdir("data")
    path = sltest.write_spec(spec(name, ["mypurge.t"], out, snapshot="never"))
    s = sltest.start_sluice(path, data_dir=data)
    s.wait_log("streaming binlog")
    my("insert into t values (1)", db="mypurge")
    wait_events(out, "mypurge", "t", 1)
    eq(s.stop(), 0)
    good = _read_ckpt(data, name)
    eq(good["position"].get("gtid_complete"), True, "checkpoint %r" % good["position"])
    my("insert into t values (2)", db="mypurge")        # lost with the purged binlog
    my("flush binary logs")
    newest = my("show binary logs").splitlines()[-1].split("\t")[0]

    def purged():
        # the server keeps a file until its binlog checkpoint (InnoDB's flush) has moved on
        my("purge binary logs to '%s'" % newest)
        return good["position"]["file"] not in my("show binary logs")
    wait_until(purged, 20, what="binlog %s purged" % good["position"]["file"])
    old = json.loads(json.dumps(good))
    del old["position"]["gtid_complete"]                # an old checkpoint: by file/pos
    for label, doc in (("by GTID", good), ("by file/pos", old)):
        _write_ckpt(data, name, doc)
        s = sltest.start_sluice(path, data_dir=data)
        eq(s.wait(20), 1, "%s: exit status" % label)
        log = s.log()
        check("purged" in log and "fresh data dir" in log and good["position"]["file"] in log,
              "%s: %s" % (label, log))
        print("    %s: %s" % (label, [l for l in log.splitlines() if "failed:" in l][-1:]))
        eq(_read_ckpt(data, name), doc, "%s: the checkpoint is left as it was" % label)
    eq([e["after"]["id"] for e in events(out, "mypurge", "t")], [1],
       "nothing read from another position")


if __name__ == "__main__":
    sltest.main()
