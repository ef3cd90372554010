"""test_mysql_ddl.py - MariaDB DDL -> sluice: the schema history and schema change events.

Most tests run with binlog_row_metadata NO_LOG or MINIMAL (no column names in the
binlog), so column names can only come from the schema sluice tracks across DDL: rows
written before an ALTER that sluice reads after it (lagging: stopped, restarted, killed,
or replaying files) must keep their own names. They also check the Debezium schema change
events on the file sink, Redis and Kafka, that processors never see them, and the error
when a TABLE_MAP does not fit the tracked schema. The server's setting is restored to FULL
after each test."""

import json
import os
import time

import sltest
from sltest import check, eq, wait_until
from test_mysql import my, dsn, fresh_db, events, wait_events, copy_binlogs
from test_kafka import records as kafka_records, wait_records as kafka_wait


class RowMetadata:
    """binlog_row_metadata set for the duration of a with-block (restored to FULL)."""

    def __init__(self, mode):
        self.mode = mode

    def __enter__(self):
        my("set global binlog_row_metadata = '%s'" % self.mode)
        eq(my("select @@global.binlog_row_metadata"), self.mode)
        return self

    def __exit__(self, *exc):
        my("set global binlog_row_metadata = 'FULL'")


def ddl_spec(name, tables, out, schema=True, sinks=(), processors=None, **cfg):
    c = {"id": "my", "dsn": dsn(), "tables": tables}
    c.update(cfg)
    fconf = {"id": "f", "path": os.path.join(out, "{db}.{table}.jsonl")}
    if schema:
        fconf["schema_changes"] = os.path.join(out, "schema.{db}.jsonl")
    spec = {"metadata": {"name": name}, "spec": {
        "source": {"type": "mysql", "config": c},
        "sinks": [{"type": "file", "config": fconf}] + list(sinks),
        "batch": {"max_ms": 50}}}
    if processors:
        spec["spec"]["processors"] = processors
    return spec


def schema_events(out, db):
    return sltest.read_jsonl(os.path.join(out, "schema.%s.jsonl" % db))


def wait_schema_events(out, db, n, timeout=20):
    return wait_until(lambda: (lambda e: e if len(e) >= n else None)(schema_events(out, db)),
                      timeout, what="%d schema change events of %s" % (n, db))


def columns(ev, i=0):
    return [c["name"] for c in ev["tableChanges"][i]["table"]["columns"]]


def afters(evs):
    return [e["after"] for e in evs]


# ---- lagging behind DDL --------------------------------------------------------------

def test_lagging_ddl_decodes_every_row_with_its_own_schema():
    """Stopped sluice; rows, ALTERs (add/drop/change/rename column, new ENUM label), more
    rows; restarted sluice decodes each row with the schema it was written with."""
    for mode in ("NO_LOG", "MINIMAL"):
        with RowMetadata(mode):
            db = "mylag_" + mode.lower()
            fresh_db(db)
            my("create table t (id int primary key, a int, b varchar(10) charset latin1, "
               "e enum('x','y'))", db=db)
            out, data = sltest.tmpdir("out"), sltest.tmpdir("data")
            path = sltest.write_spec(ddl_spec("lag-" + mode.lower(), [db + ".t"], out))
            s = sltest.start_sluice(path, data_dir=data)
            s.wait_log("streaming binlog")
            my("insert into t values (1, 10, 'one', 'x')", db=db)
            wait_events(out, db, "t", 1)
            eq(s.stop(), 0)
            my("insert into t values (2, 20, 'two', 'y')", db=db)
            my("alter table t add column c int after id, drop column a, "
               "change b bb varchar(20) charset latin1", db=db)
            my("insert into t values (3, 30, 'three', 'x')", db=db)
            my("alter table t rename column c to cc, modify e enum('x','y','z')", db=db)
            my("insert into t values (4, 40, 'caf\u00e9', 'z')", db=db)
            s = sltest.start_sluice(path, data_dir=data)
            evs = wait_events(out, db, "t", 4)
            eq(afters(evs), [
                {"id": 1, "a": 10, "b": "one", "e": "x"},
                {"id": 2, "a": 20, "b": "two", "e": "y"},
                {"id": 3, "c": 30, "bb": "three", "e": "x"},
                {"id": 4, "cc": 40, "bb": "caf\u00e9", "e": "z"},
            ], "rows with metadata %s" % mode)
            sch = wait_schema_events(out, db, 2)
            eq([e["ddl"] for e in sch],
               ["alter table t add column c int after id, drop column a, "
                "change b bb varchar(20) charset latin1",
                "alter table t rename column c to cc, modify e enum('x','y','z')"])
            eq([columns(e) for e in sch], [["id", "c", "bb", "e"], ["id", "cc", "bb", "e"]])
            check("2 records up to the checkpoint" in s.log() or "records up to" in s.log(),
                  s.log_tail())
            s.stop()


def test_ddl_mid_stream_names_keys_and_labels_come_from_the_history():
    """While running, without names in the binlog: add/drop/rename column, rename table,
    primary key change, ENUM labels; keys (Redis) and schema change events (Redis)."""
    with RowMetadata("NO_LOG"):
        db = "myrun"
        fresh_db(db)
        my("create table t (id int primary key, a int, e enum('p','q'))", db=db)
        out = sltest.tmpdir("out")
        r = sltest.redis()
        r.delete("myrun.rows", "myrun.ddl")
        redis_sink = {"type": "redis", "config": {
            "id": "r", "uri": os.environ["SL_REDIS_URI"], "stream": "{db}.rows",
            "schema_changes": "{db}.ddl"}}
        s = sltest.start_sluice(ddl_spec("my-run", [db + ".*"], out, sinks=[redis_sink]))
        s.wait_log("streaming binlog")
        my("insert into t values (1, 10, 'q')", db=db)
        my("alter table t add column b varchar(10) default 'bee' after id", db=db)
        my("insert into t (id, a, e) values (2, 20, 'p')", db=db)
        my("update t set b = 'b1' where id = 1", db=db)
        my("alter table t drop column a, rename column e to ee", db=db)
        my("insert into t values (3, 'three', 'q')", db=db)
        my("alter table t drop primary key, add primary key (b)", db=db)
        my("insert into t values (4, 'four', 'p')", db=db)
        my("rename table t to t2", db=db)
        my("insert into t2 values (5, 'five', 'q')", db=db)
        my("alter table t2 modify ee enum('p','q','r')", db=db)
        my("insert into t2 values (6, 'six', 'r')", db=db)
        eq(afters(wait_events(out, db, "t", 5)), [
            {"id": 1, "a": 10, "e": "q"},
            {"id": 2, "b": "bee", "a": 20, "e": "p"},
            {"id": 1, "b": "b1", "a": 10, "e": "q"},
            {"id": 3, "b": "three", "ee": "q"},
            {"id": 4, "b": "four", "ee": "p"},
        ])
        eq(afters(wait_events(out, db, "t2", 2)),
           [{"id": 5, "b": "five", "ee": "q"}, {"id": 6, "b": "six", "ee": "r"}])
        rows = wait_until(lambda: (lambda x: x if len(x) >= 7 else None)(
            r.xrange("myrun.rows")), 20, what="7 rows in Redis")
        eq([json.loads(kv["key"]) for _, kv in rows],
           [{"id": 1}, {"id": 2}, {"id": 1}, {"id": 3}, {"b": "four"}, {"b": "five"},
            {"b": "six"}], "keys follow the primary key change")
        ddl = wait_until(lambda: (lambda x: x if len(x) >= 5 else None)(
            r.xrange("myrun.ddl")), 20, what="5 schema change events in Redis")
        vals = [json.loads(kv["value"]) for _, kv in ddl]
        eq([json.loads(kv["key"]) for _, kv in ddl], [{"databaseName": db}] * 5)
        eq([v["tableChanges"][0]["type"] for v in vals], ["ALTER"] * 5)
        eq(vals[2]["tableChanges"][0]["table"]["primaryKeyColumnNames"], ["b"])
        eq(vals[3]["ddl"], "rename table t to t2")
        eq(vals[3]["tableChanges"][0]["id"], '"myrun"."t","myrun"."t2"')
        eq(vals[4]["tableChanges"][0]["table"]["columns"][2]["enumValues"], ["p", "q", "r"])
        # the file sink got the same events
        eq([e["ddl"] for e in wait_schema_events(out, db, 5)], [v["ddl"] for v in vals])
        s.stop()


# ---- schema change events ----------------------------------------------------------------

def test_schema_change_events_on_file_redis_and_kafka_bypass_processors():
    """With names in the binlog (FULL): the Debezium schema change event shape on the file
    sink, Redis and Kafka (key {"databaseName"}), a processor that drops every event does
    not drop them, a sink without schema_changes never sees them."""
    db = "myevents"
    fresh_db(db)
    my("create table base (id int primary key)", db=db)
    out, plain = sltest.tmpdir("out"), sltest.tmpdir("plain")
    r = sltest.redis()
    r.delete("ddl.myevents", "myevents.rows")
    topic = "sluice-ddl-%d" % int(time.time() * 1000)
    sinks = [
        {"type": "file", "config": {"id": "plain",
                                    "path": os.path.join(plain, "{db}.{table}.jsonl")}},
        {"type": "redis", "config": {"id": "r", "uri": os.environ["SL_REDIS_URI"],
                                     "stream": "myevents.rows", "schema_changes": "ddl.{db}"}},
        {"type": "kafka", "config": {"id": "k", "brokers": os.environ["SL_KAFKA_BROKERS"],
                                     "topic": "myevents-rows", "schema_changes": topic}},
    ]
    drop_all = [{"type": "javascript", "id": "dropper",
                 "inline": "function process(batch) { return []; }"}]
    s = sltest.start_sluice(ddl_spec("my-events", [db + ".*"], out, sinks=sinks,
                                     processors=drop_all))
    s.wait_log("streaming binlog")
    my("create table t (id int unsigned not null auto_increment, name varchar(40) not null "
       "comment 'who', price decimal(8,2) default 1.50, kind enum('a','b') default 'a', "
       "created datetime(3), j json, primary key (id)) default charset utf8mb4", db=db)
    my("insert into t (name) values ('x')", db=db)
    my("alter table t add column note text after name, drop column j", db=db)
    my("drop table base", db=db)
    sch = wait_schema_events(out, db, 3)
    create, alter, drop = sch
    eq(list(create.keys()), ["source", "ts_ms", "databaseName", "schemaName", "ddl",
                             "tableChanges"])
    eq(list(create["source"].keys()), ["version", "connector", "name", "ts_ms", "snapshot",
                                       "db", "sequence", "ts_us", "ts_ns", "table",
                                       "server_id", "gtid", "file", "pos", "row", "thread",
                                       "query"])
    eq((create["databaseName"], create["schemaName"], create["source"]["db"],
        create["source"]["table"], create["source"]["connector"]),
       (db, None, db, "t", "mysql"))
    check(create["source"]["file"].startswith("mysql-bin.") and create["source"]["pos"] > 0,
          create["source"])
    check(create["ddl"].startswith("create table t (id int unsigned"), create["ddl"])
    tc = create["tableChanges"][0]
    eq((tc["type"], tc["id"]), ("CREATE", '"myevents"."t"'))
    eq((tc["table"]["defaultCharsetName"], tc["table"]["primaryKeyColumnNames"]),
       ("utf8mb4", ["id"]))
    c = {col["name"]: col for col in tc["table"]["columns"]}
    eq(list(c), ["id", "name", "price", "kind", "created", "j"])
    eq(list(c["id"].keys()), ["name", "jdbcType", "nativeType", "typeName", "typeExpression",
                              "charsetName", "length", "scale", "position", "optional",
                              "autoIncremented", "generated", "comment",
                              "defaultValueExpression", "enumValues"])
    eq((c["id"]["typeName"], c["id"]["jdbcType"], c["id"]["optional"],
        c["id"]["autoIncremented"], c["id"]["position"]), ("INT UNSIGNED", 4, False, True, 1))
    eq((c["name"]["typeName"], c["name"]["length"], c["name"]["charsetName"],
        c["name"]["comment"], c["name"]["optional"]), ("VARCHAR", 40, "utf8mb4", "who", False))
    eq((c["price"]["typeName"], c["price"]["length"], c["price"]["scale"],
        c["price"]["defaultValueExpression"]), ("DECIMAL", 8, 2, "1.50"))
    eq((c["kind"]["enumValues"], c["kind"]["defaultValueExpression"]), (["a", "b"], "a"))
    eq((c["created"]["typeName"], c["created"]["length"], c["created"]["jdbcType"]),
       ("DATETIME", 3, 93))
    eq(c["j"]["typeName"], "LONGTEXT")   # MariaDB's JSON
    eq(columns(alter), ["id", "name", "note", "price", "kind", "created"])
    eq(alter["tableChanges"][0]["type"], "ALTER")
    eq((drop["tableChanges"][0]["type"], drop["tableChanges"][0]["id"]),
       ("DROP", '"myevents"."base"'))
    # the processor dropped the row; the schema change events went through untouched
    eq(events(out, db, "t"), [])
    # Redis: the same three events, keyed by database
    ddl = wait_until(lambda: (lambda x: x if len(x) >= 3 else None)(r.xrange("ddl.myevents")),
                     20, what="schema change events in Redis")
    eq([json.loads(kv["value"])["ddl"] for _, kv in ddl], [e["ddl"] for e in sch])
    eq({kv["key"] for _, kv in ddl}, {'{"databaseName":"myevents"}'})
    eq(r.xlen("myevents.rows"), 0, "no rows reached Redis")
    # Kafka: keyed by database (one partition keeps their order), header sluice.op=s
    recs = kafka_wait(topic, 3)
    eq([json.loads(x["value"])["ddl"] for x in recs], [e["ddl"] for e in sch])
    eq({x["key"] for x in recs}, {'{"databaseName":"myevents"}'})
    eq(len({x["partition"] for x in recs}), 1)
    eq({x["headers"].get("sluice.op") for x in recs}, {"s"})
    eq(kafka_records("myevents-rows"), [], "no rows reached Kafka")
    # the sink without schema_changes: neither rows (dropped) nor schema change events
    eq(os.listdir(plain), [])
    s.stop()


def test_bad_schema_changes_values_are_rejected_with_their_field():
    for sink, want in (
            ({"type": "file", "config": {"id": "f", "path": "/tmp/x", "schema_changes": ""}},
             "spec.sinks[0].config.schema_changes: must not be empty"),
            ({"type": "redis", "config": {"id": "r", "uri": "redis://127.0.0.1:1/0",
                                          "stream": "s", "schema_changes": "ddl.{nope}"}},
             "spec.sinks[0].config.schema_changes: "),
            ({"type": "kafka", "config": {"id": "k", "brokers": "127.0.0.1:1", "topic": "t",
                                          "schema_changes": "bad topic!"}},
             "spec.sinks[0].config.schema_changes: not a valid Kafka topic name"),
            ({"type": "file", "config": {"id": "f", "path": "/tmp/x",
                                         "schema_changes": ["list"]}},
             "spec.sinks[0].config.schema_changes: ")):
        v = sltest.Sluice(["validate", sltest.write_spec({"metadata": {"name": "m"}, "spec": {
            "source": {"type": "mysql", "config": {"id": "x", "dsn": dsn(), "tables": ["a.b"]}},
            "sinks": [sink]}})])
        eq(v.wait(), 2, v.log())
        check(want in v.log(), "want %r in: %s" % (want, v.log()))


# ---- restarts, replays, mismatches -------------------------------------------------------

def test_kill9_with_ddl_past_the_checkpoint_rebuilds_the_schema_from_the_history():
    """The sink is stuck, so the checkpoint stays before two ALTERs the source has read
    (and written to the history); kill -9; the restart drops those history records, reads
    the ALTERs again and decodes every row right."""
    with RowMetadata("NO_LOG"):
        db = "mykill"
        fresh_db(db)
        my("create table t (id int primary key, a int)", db=db)
        root, data = sltest.tmpdir("out"), sltest.tmpdir("data")
        out = os.path.join(root, "o")
        path = sltest.write_spec(ddl_spec("my-kill", [db + ".t"], out))
        s = sltest.start_sluice(path, data_dir=data)
        s.wait_log("streaming binlog")
        my("insert into t values (1, 10)", db=db)
        wait_events(out, db, "t", 1)
        ckpt = os.path.join(data, "my-kill", "checkpoint.json")
        wait_until(lambda: os.path.exists(ckpt), 10, what="checkpoint written")
        time.sleep(1.2)   # the checkpoint file is rewritten at most once a second
        before = open(ckpt).read()
        # the output directory becomes a file: every delivery fails from now on
        os.rename(out, out + ".away")
        open(out, "w").close()
        my("alter table t add column b varchar(10) after id", db=db)
        my("insert into t values (2, 'two', 20)", db=db)
        my("alter table t rename column a to aa", db=db)
        my("insert into t values (3, 'three', 30)", db=db)
        hist = os.path.join(data, "my-kill", "schema_history.jsonl")
        wait_until(lambda: sum('"ddl":' in l for l in open(hist)) >= 2, 20,
                   what="two DDL records in the history")
        s.wait_log("delivery failed")
        s.kill()
        eq(open(ckpt).read(), before, "the checkpoint did not move past the ALTERs")
        os.remove(out)
        os.rename(out + ".away", out)
        s = sltest.start_sluice(path, data_dir=data)
        s.wait_log("later records dropped")
        evs = wait_events(out, db, "t", 3)
        eq(afters(evs), [{"id": 1, "a": 10}, {"id": 2, "b": "two", "a": 20},
                         {"id": 3, "b": "three", "aa": 30}])
        # the history holds each ALTER once again
        eq(sum('"ddl":' in l for l in open(hist)), 2, open(hist).read())
        # the schema change events of the undelivered batches were not lost either
        eq([columns(e) for e in wait_schema_events(out, db, 2)],
           [["id", "b", "a"], ["id", "b", "aa"]])
        s.stop()


def test_history_records_are_selected_by_gtid_after_a_failover():
    """After a failover the checkpoint's binlog file names and positions are another
    server's, and comparing them with the history's positions says nothing. Records carry
    their DDL's GTID and a checkpoint with a complete GTID state selects them by it: an
    ALTER the checkpoint covers stays applied although its position is 'after' the
    checkpoint's file position (tested by rewriting the checkpoint's file position)."""
    with RowMetadata("NO_LOG"):
        db = "myfail"
        fresh_db(db)
        my("create table t (id int primary key, a int)", db=db)
        name = "my-fail"
        out, data = sltest.tmpdir("out"), sltest.tmpdir("data")
        path = sltest.write_spec(ddl_spec(name, [db + ".t"], out, schema=False))
        s = sltest.start_sluice(path, data_dir=data)
        s.wait_log("streaming binlog")
        my("insert into t values (1, 10)", db=db)
        my("alter table t add column b varchar(10) after id", db=db)
        my("insert into t values (2, 'two', 20)", db=db)
        wait_events(out, db, "t", 2)
        ckpt = os.path.join(data, name, "checkpoint.json")
        want = set(my("select @@gtid_binlog_pos").split(","))
        wait_until(lambda: set(json.load(open(ckpt))["position"]["gtid"].split(",")) == want,
                   20, what="checkpoint caught up")
        eq(s.stop(), 0)
        hist = [json.loads(l) for l in open(os.path.join(data, name, "schema_history.jsonl"))]
        alter = [r for r in hist if "add column b" in r.get("ddl", "")]
        eq(len(alter), 1, hist)
        check(alter[0].get("gtid", "").startswith("0-"), "the record has its GTID: %r" % alter)
        # the "new server": same GTIDs, file positions before the ALTER's
        doc = json.load(open(ckpt))
        check(doc["position"].get("gtid_complete"), doc)
        doc["position"]["file"], doc["position"]["pos"] = "mysql-bin.000001", 4
        with open(ckpt, "w") as f:
            json.dump(doc, f)
        s = sltest.start_sluice(path, data_dir=data)
        s.wait_log("streaming binlog from GTID")
        check("later records dropped" not in s.log(), s.log_tail())
        my("insert into t values (3, 'three', 30)", db=db)
        evs = wait_events(out, db, "t", 3)
        eq(afters(evs)[2], {"id": 3, "b": "three", "a": 30}, "decoded with the ALTER's schema")
        eq(s.stop(), 0)


def test_history_is_compacted_at_restart_and_still_right():
    """Many DDL statements: at the next start the superseded history records are dropped
    (one record per table and database remains) and rows still decode right."""
    with RowMetadata("NO_LOG"):
        db = "mycompact"
        fresh_db(db)
        my("create table t (id int primary key, v int)", db=db)
        out, data = sltest.tmpdir("out"), sltest.tmpdir("data")
        path = sltest.write_spec(ddl_spec("my-compact", [db + ".t"], out, schema=False))
        s = sltest.start_sluice(path, data_dir=data)
        s.wait_log("streaming binlog")
        my("".join("alter table t add column c%d int; alter table t drop column c%d;"
                   % (i, i) for i in range(40)) + "alter table t add column last int", db=db)
        my("insert into t values (1, 10, 100)", db=db)
        wait_events(out, db, "t", 1)
        eq(s.stop(), 0)
        hist = os.path.join(data, "my-compact", "schema_history.jsonl")
        eq(len(open(hist).read().splitlines()), 2 + 81)
        my("insert into t values (2, 20, 200)", db=db)
        s = sltest.start_sluice(path, data_dir=data)
        s.wait_log("schema history: compacted 83 records to 2")
        eq(afters(wait_events(out, db, "t", 2)),
           [{"id": 1, "v": 10, "last": 100}, {"id": 2, "v": 20, "last": 200}])
        eq(len(open(hist).read().splitlines()), 2)
        s.stop()


def test_without_binlog_monitor_seeds_are_valid_at_the_start_position():
    """A user that may stream but not run SHOW MASTER STATUS: the schemas read at the first
    start count as valid at the stream's start, so later DDL is still followed."""
    with RowMetadata("NO_LOG"):
        db = "mynomon"
        fresh_db(db)
        my("create table t (id int primary key, a int)", db=db)
        my("drop user if exists 'nomon'@'%'; create user 'nomon'@'%'; "
           "grant replication slave, select on *.* to 'nomon'@'%'")
        status = my("show master status").split("\t")
        out, data = sltest.tmpdir("out"), sltest.tmpdir("data")
        sp = ddl_spec("my-nomon", [db + ".t"], out, start="%s:%s" % (status[0], status[1]),
                      snapshot="never")
        sp["spec"]["source"]["config"]["dsn"] = dsn().replace("root@", "nomon@")
        s = sltest.start_sluice(sp, data_dir=data)
        s.wait_log("streaming binlog")
        check("SHOW MASTER STATUS failed" in s.log(), s.log_tail())
        my("insert into t values (1, 10)", db=db)
        my("alter table t add column b int first", db=db)
        my("insert into t values (20, 2, 200)", db=db)
        eq(afters(wait_events(out, db, "t", 2)),
           [{"id": 1, "a": 10}, {"b": 20, "id": 2, "a": 200}])
        seed = json.loads(open(os.path.join(data, "my-nomon",
                                            "schema_history.jsonl")).read().splitlines()[1])
        eq(seed["seed"], {"file": status[0], "pos": int(status[1])})
        s.stop()


def test_offline_replay_of_binlog_files_across_ddl():
    """Files replayed with binlog_files: the CREATE and ALTERs in the files give both
    schemas, with and without schema_dsn."""
    with RowMetadata("NO_LOG"):
        db = "myoffddl"
        fresh_db(db)
        my("create table t (id int primary key, a int, b text)", db=db)
        my("insert into t values (1, 10, 'one')", db=db)
        my("alter table t drop column a, add column c varchar(5) first, "
           "rename column b to bb", db=db)
        my("insert into t values ('cc', 2, 'two')", db=db)
        my("update t set bb = 'ONE' where id = 1", db=db)
    files = copy_binlogs()
    want = [("c", None, {"id": 1, "a": 10, "b": "one"}),
            ("c", None, {"c": "cc", "id": 2, "bb": "two"}),
            ("u", {"c": None, "id": 1, "bb": "one"}, {"c": None, "id": 1, "bb": "ONE"})]
    for name, extra in (("my-offddl", {"schema_dsn": dsn()}), ("my-offddl-nodsn", {})):
        out = sltest.tmpdir("out")
        r = sltest.start_sluice(ddl_spec(name, [db + ".t"], out, binlog_files=files, dsn=None,
                                         **extra))
        eq(r.wait(60), 0, "replay ends by itself")
        eq([(e["op"], e["before"], e["after"]) for e in events(out, db, "t")], want, name)
        sch = schema_events(out, db)
        eq([(e["tableChanges"][0]["type"], columns(e)) for e in sch
            if e["tableChanges"][0]["type"] != "DROP"],
           [("CREATE", ["id", "a", "b"]), ("ALTER", ["c", "id", "bb"])], name)
        # DROP DATABASE in the files drops the table read from schema_dsn (today's): what
        # existed back then is not known, so the DROP lists no columns
        check(all(columns(e) == [] for e in sch if e["tableChanges"][0]["type"] == "DROP"),
              sch)


def test_ddl_that_cannot_be_followed_reads_the_server_or_forgets_the_schema():
    """A statement the parser does not follow (CONVERT TO CHARACTER SET DEFAULT): replayed
    with schema_dsn the table is read from the server; without, its schema is forgotten
    (columns @1, @2) rather than guessed."""
    with RowMetadata("NO_LOG"):
        db = "myunk"
        fresh_db(db)
        my("create table t (id int primary key, a varchar(5))", db=db)
        my("insert into t values (1, 'x')", db=db)
        my("alter table t convert to character set default", db=db)
        my("insert into t values (2, 'y')", db=db)
    files = copy_binlogs()
    for name, extra, second in (
            ("my-unk-dsn", {"schema_dsn": dsn()}, {"id": 2, "a": "y"}),
            ("my-unk", {}, {"@1": 2, "@2": "y"})):
        out = sltest.tmpdir("out")
        r = sltest.start_sluice(ddl_spec(name, [db + ".t"], out, binlog_files=files, dsn=None,
                                         **extra))
        eq(r.wait(60), 0, r.log_tail())
        eq(afters(events(out, db, "t")), [{"id": 1, "a": "x"}, second], name)
        check("cannot be followed" in r.log(), r.log_tail())
        if extra:
            check("schema of myunk.t read from the server" in r.log(), r.log_tail())
        else:
            check("myunk.t: no schema from here on" in r.log(), r.log_tail())


def test_table_map_that_does_not_fit_stops_instead_of_misnaming():
    """Streaming from before an ALTER that happened before sluice first read the schema:
    without names in the binlog the row cannot be named safely -> a clear error; with
    names in the binlog a warning, and the binlog's names."""
    for mode in ("NO_LOG", "FULL"):
        with RowMetadata(mode):
            db = "mymis_" + mode.lower()
            fresh_db(db)
            my("create table t (id int primary key, a int)", db=db)
            status = my("show master status").split("\t")
            my("insert into t values (1, 10)", db=db)
            my("alter table t add column b int", db=db)
            my("insert into t values (2, 20, 200)", db=db)
            out = sltest.tmpdir("out")
            s = sltest.start_sluice(ddl_spec("mis-" + mode.lower(), [db + ".t"], out,
                                             start="%s:%s" % (status[0], status[1]),
                                             snapshot="never"))
            if mode == "NO_LOG":
                eq(s.wait(30), 1, s.log_tail())
                check("mymis_no_log.t: its schema here is not the one sluice tracks (3 columns "
                      "in the schema, 2 in the binlog)" in s.log(), s.log_tail())
                check("binlog mysql-bin." in s.log(), s.log_tail())
                eq(events(out, db, "t"), [])
            else:
                evs = wait_events(out, db, "t", 2)
                eq(afters(evs), [{"id": 1, "a": 10}, {"id": 2, "a": 20, "b": 200}])
                check("column names come from the binlog's metadata" in s.log(), s.log_tail())
                s.stop()


def test_tables_sluice_did_not_track_are_read_from_the_server():
    """A table renamed in from an untracked database, and CREATE ... LIKE an untracked
    table: their schema is read from the server at that point (logged), rows decode."""
    with RowMetadata("NO_LOG"):
        db, other = "mytrk", "mytrk_other"
        fresh_db(db)
        fresh_db(other)
        my("create table src (k int primary key, v varchar(8))", db=other)
        out = sltest.tmpdir("out")
        s = sltest.start_sluice(ddl_spec("my-trk", [db + ".*"], out))
        s.wait_log("streaming binlog")
        my("rename table %s.src to %s.moved" % (other, db))
        my("insert into moved values (1, 'one')", db=db)
        my("create table copy like %s.moved" % db, db=db)
        my("create table %s.src2 (z int, w int)" % other)
        my("create table mytrk.ext like %s.src2" % other)
        my("insert into copy values (2, 'two')", db=db)
        my("insert into ext values (3, 33)", db=db)
        eq(afters(wait_events(out, db, "moved", 1)), [{"k": 1, "v": "one"}])
        eq(afters(wait_events(out, db, "copy", 1)), [{"k": 2, "v": "two"}])
        eq(afters(wait_events(out, db, "ext", 1)), [{"z": 3, "w": 33}])
        check("schema of mytrk.moved read from the server" in s.log(), s.log_tail())
        check("cannot be followed" in s.log() and "schema of mytrk.ext read from the server"
              in s.log(), s.log_tail())
        sch = wait_schema_events(out, db, 3)
        eq([(e["tableChanges"][0]["type"], columns(e)) for e in sch],
           [("ALTER", ["k", "v"]), ("CREATE", ["k", "v"]), ("CREATE", ["z", "w"])])
        s.stop()


if __name__ == "__main__":
    sltest.main()
