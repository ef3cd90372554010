"""test_pg_pipeline.py - PostgreSQL -> sluice -> Redis Streams + JSONL file, end to end on
the real servers: exact event JSON for every mapped type, replica identities, TOAST,
transactions, truncate, crash and restart behaviour, reconnects, idle slots, bad input."""

import json
import os
import re
import signal
import subprocess
import time

import sltest
from sltest import check, eq, wait_until, psql, psql_rows

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNAVAILABLE = "__debezium_unavailable_value"


def spec_for(name, tables, out_dir, stream="it.{schema}.{table}", extra_sinks=(),
             batch=None, **source_extra):
    source = {"id": "pg", "dsn": os.environ["SL_PG_DSN"], "slot": name.replace("-", "_"),
              "publication": name.replace("-", "_") + "_pub", "tables": tables}
    source.update(source_extra)
    spec = {
        "metadata": {"name": name},
        "spec": {
            "source": {"type": "postgres", "config": source},
            "sinks": [
                {"type": "file", "config": {"id": "file",
                                            "path": os.path.join(out_dir, "{table}.jsonl")}},
                {"type": "redis", "config": {"id": "redis", "uri": os.environ["SL_REDIS_URI"],
                                             "stream": name + "." + stream}},
            ] + list(extra_sinks),
        },
    }
    if batch:
        spec["spec"]["batch"] = batch
    return spec


def drop_slot(slot):
    wait_until(lambda: psql("select count(*) from pg_replication_slots where slot_name = "
                            "'%s' and active" % slot) == "0", 10, what="slot inactive")
    psql("select pg_drop_replication_slot(slot_name) from pg_replication_slots "
         "where slot_name = '%s'" % slot)


def events(out_dir, table):
    return sltest.read_jsonl(os.path.join(out_dir, table + ".jsonl"))


def wait_events(out_dir, table, n, timeout=20):
    return wait_until(lambda: (lambda ev: ev if len(ev) >= n else None)(events(out_dir, table)),
                      timeout, what="%d events for %s" % (n, table))


def strip_volatile(ev):
    """The event without fields that change from run to run (times, LSNs, txids)."""
    ev = json.loads(json.dumps(ev))
    for k in ("ts_ms", "ts_us", "ts_ns"):
        ev.pop(k, None)
    src = ev["source"]
    for k in ("ts_ms", "ts_us", "ts_ns", "lsn", "txId", "sequence"):
        src.pop(k, None)
    ev.pop("transaction", None)
    return ev


# ---- every mapped type ---------------------------------------------------------------

TYPES_DDL = """
drop type if exists it_mood cascade;
create type it_mood as enum ('sad', 'happy');
drop domain if exists it_pos cascade;
create domain it_pos as int4 check (value > 0);
drop table if exists it_types;
create table it_types (
  id int8 primary key, b bool, i2 int2, i4 int4, i8 int8, o oid, f4 float4, f8 float8,
  n numeric, n2 numeric(10,2), t text, vc varchar(20), c char(3), nm name, by bytea,
  u uuid, j json, jb jsonb, d date, ts timestamp, tstz timestamptz, arr int4[],
  tarr text[], arr2 int4[][], iv interval, ip inet, m money, mood it_mood,
  moods it_mood[], tm time, dom it_pos, bigarr int8[]
);
"""

ROW1 = """insert into it_types values (
  1, true, -32768, 2147483647, -9223372036854775808, 4294967295, 'Infinity', 'NaN',
  'NaN', 12.30, E'quote" back\\\\ nl\\n tab\\t ctl\\x01 é ☃ 😀', 'varchar', 'ab', 'nm',
  '\\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2.5, "x"]}',
  '{"k": {"n": null, "b": false}}', '2024-02-29', '2024-02-29 13:45:10.123456',
  '2024-02-29 13:45:10.5+02', '{1,NULL,3}', '{"a b","c\\"d",NULL}', '{{1,2},{3,4}}',
  '1 day 02:03:04', '192.168.0.1/24', 12.34, 'happy', '{sad,happy}', '12:34:56', 7,
  '{9223372036854775807,-1}')"""

ROW1_AFTER = {
    "id": 1, "b": True, "i2": -32768, "i4": 2147483647, "i8": -9223372036854775808,
    "o": 4294967295, "f4": "Infinity", "f8": "NaN", "n": "NaN", "n2": "12.30",
    "t": 'quote" back\\ nl\n tab\t ctl\x01 é ☃ 😀', "vc": "varchar", "c": "ab ", "nm": "nm",
    "by": "AP8Q", "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "j": {"a": [1, 2.5, "x"]},
    "jb": {"k": {"n": None, "b": False}}, "d": "2024-02-29",
    "ts": "2024-02-29T13:45:10.123456", "tstz": "2024-02-29T11:45:10.5Z",
    "arr": [1, None, 3], "tarr": ["a b", 'c"d', None], "arr2": [[1, 2], [3, 4]],
    "iv": "1 day 02:03:04", "ip": "192.168.0.1/24", "m": "$12.34", "mood": "happy",
    "moods": ["sad", "happy"], "tm": "12:34:56", "dom": 7,
    "bigarr": [9223372036854775807, -1],
}

COLS = list(ROW1_AFTER.keys())


def test_every_type_insert_update_delete_truncate_exact_json():
    psql(TYPES_DDL)
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec_for("it-types", ["public.it_types"], out))
    s.wait_log("streaming from slot")
    psql(ROW1)
    psql("insert into it_types (id, f8, f4, n) values (2, 1.5, -0.25, 123456789012345678901234567890.123456789)")
    psql("insert into it_types (id) values (3)")
    psql("update it_types set t = 'changed' where id = 2")
    psql("update it_types set id = 20 where id = 2")
    psql("delete from it_types where id = 3")
    psql("truncate it_types")
    evs = wait_events(out, "it_types", 8)
    eq(len(evs), 8, "event count (the key change is a delete and a create)")

    e = evs[0]
    eq(e["op"], "c")
    eq(e["before"], None)
    eq(e["after"], ROW1_AFTER)
    eq(list(e["after"].keys()), COLS, "column order")
    src = e["source"]
    eq(list(src.keys()), ["version", "connector", "name", "ts_ms", "snapshot", "db",
                          "sequence", "ts_us", "ts_ns", "schema", "table", "txId", "lsn",
                          "xmin"], "source field order")
    eq((src["connector"], src["name"], src["snapshot"], src["db"], src["schema"],
        src["table"], src["xmin"]),
       ("postgresql", "it-types", "false", "postgres", "public", "it_types", None))
    check(isinstance(src["lsn"], int) and isinstance(src["txId"], int), "lsn/txId integers")
    seq = json.loads(src["sequence"])
    eq(len(seq), 2, "sequence has two entries")
    eq(seq[1], str(src["lsn"]), "sequence[1] is the event lsn")
    eq(list(e.keys()), ["before", "after", "source", "op", "ts_ms", "ts_us", "ts_ns",
                        "transaction"], "envelope field order")
    eq(e["transaction"]["id"], "%d:%s" % (src["txId"], e["transaction"]["id"].split(":")[1]))
    eq((e["transaction"]["total_order"], e["transaction"]["data_collection_order"]), (1, 1))
    check(abs(src["ts_ms"] - e["ts_ms"]) < 60000, "commit and processing times are close")
    eq(src["ts_us"] // 1000, src["ts_ms"])
    eq(src["ts_ns"], src["ts_us"] * 1000)

    e2 = evs[1]["after"]
    eq((e2["f8"], e2["f4"], e2["n"]), (1.5, -0.25, "123456789012345678901234567890.123456789"))
    null_row = evs[2]["after"]
    eq(null_row, dict({c: None for c in COLS}, id=3))

    # update without key change under REPLICA IDENTITY DEFAULT: no old tuple -> before null
    eq((evs[3]["op"], evs[3]["before"], evs[3]["after"]["t"]), ("u", None, "changed"))
    # key change: as Debezium, a delete of the old key (the old key arrives as 'K', other
    # columns null) and a create of the new row, in one transaction
    eq((evs[4]["op"], evs[4]["after"]), ("d", None))
    eq(evs[4]["before"], dict({c: None for c in COLS}, id=2))
    eq((evs[5]["op"], evs[5]["before"]), ("c", None))
    eq((evs[5]["after"]["id"], evs[5]["after"]["t"], evs[5]["after"]["f8"]), (20, "changed", 1.5))
    eq(evs[4]["source"]["txId"], evs[5]["source"]["txId"], "one source transaction")
    eq([evs[4]["transaction"]["total_order"], evs[5]["transaction"]["total_order"]], [1, 2])
    # delete: key only
    eq((evs[6]["op"], evs[6]["after"]), ("d", None))
    eq(evs[6]["before"], dict({c: None for c in COLS}, id=3))
    # truncate
    eq((evs[7]["op"], evs[7]["before"], evs[7]["after"], evs[7]["source"]["table"]),
       ("t", None, None, "it_types"))

    # Redis got the same bytes, with the primary key as the message key.
    with open(os.path.join(out, "it_types.jsonl"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    with sltest.redis() as r:
        entries = wait_until(lambda: (lambda x: x if len(x) >= 8 else None)(
            r.xrange("it-types.it.public.it_types")), 10, what="8 redis entries")
    eq([fields["value"] for _, fields in entries], lines, "redis values == file lines")
    eq([fields["key"] for _, fields in entries][:7],
       ['{"id":1}', '{"id":2}', '{"id":3}', '{"id":2}', '{"id":2}', '{"id":20}', '{"id":3}'])
    eq(entries[7][1]["key"], "null", "truncate has no key")
    check('"i8":-9223372036854775808' in lines[0], "int8 minimum written exactly")
    eq(s.stop(), 0, "clean stop exit code")
    drop_slot("it_types")


def test_replica_identity_full_and_nothing():
    psql("drop table if exists it_full, it_nothing;"
         "create table it_full (id int primary key, a text, b int);"
         "alter table it_full replica identity full;"
         "create table it_nothing (id int primary key, a text);"
         "alter table it_nothing replica identity nothing;")
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec_for("it-ident", ["public.it_full", "public.it_nothing"], out))
    s.wait_log("streaming from slot")
    psql("insert into it_full values (1, 'x', 10); update it_full set b = 11 where id = 1;"
         "update it_full set id = 2 where id = 1; delete from it_full where id = 2;")
    psql("insert into it_nothing values (1, 'x')")
    full = wait_events(out, "it_full", 5)
    eq([e["op"] for e in full], ["c", "u", "d", "c", "d"],
       "a key change under FULL identity is a delete and a create too")
    eq(full[1]["before"], {"id": 1, "a": "x", "b": 10})
    eq(full[1]["after"], {"id": 1, "a": "x", "b": 11})
    eq((full[2]["before"], full[2]["after"]), ({"id": 1, "a": "x", "b": 11}, None))
    eq((full[3]["before"], full[3]["after"]), (None, {"id": 2, "a": "x", "b": 11}))
    eq(full[4]["before"], {"id": 2, "a": "x", "b": 11})
    nothing = wait_events(out, "it_nothing", 1)
    eq((nothing[0]["op"], nothing[0]["before"]), ("c", None))
    # PostgreSQL refuses updates and deletes under REPLICA IDENTITY NOTHING when the
    # publication publishes them, so no before image can exist there.
    s.stop()
    drop_slot("it_ident")


def test_unchanged_toast_value_is_unavailable_placeholder():
    psql("drop table if exists it_toast;"
         "create table it_toast (id int primary key, big text, small int);")
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec_for("it-toast", ["public.it_toast"], out))
    s.wait_log("streaming from slot")
    psql("insert into it_toast select 1, string_agg(md5(g::text), ''), 1 "
         "from generate_series(1, 4000) g")
    psql("update it_toast set small = 2 where id = 1")
    evs = wait_events(out, "it_toast", 2)
    eq(len(evs[0]["after"]["big"]), 128000)
    eq(evs[1]["after"], {"id": 1, "big": UNAVAILABLE, "small": 2})
    s.stop()
    drop_slot("it_toast")


def test_multi_statement_transactions_keep_order_and_counters():
    psql("drop table if exists it_tx_a, it_tx_b;"
         "create table it_tx_a (id int primary key); create table it_tx_b (id int primary key)")
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec_for("it-tx", ["public.*"], out,
                                     create_publication=True))
    s.wait_log("streaming from slot")
    psql("begin; insert into it_tx_a values (1); insert into it_tx_b values (1);"
         "insert into it_tx_a values (2); insert into it_tx_b values (2); commit;")
    a = wait_events(out, "it_tx_a", 2)
    b = wait_events(out, "it_tx_b", 2)
    txids = {e["source"]["txId"] for e in a + b}
    eq(len(txids), 1, "one transaction")
    eq([e["transaction"]["total_order"] for e in a], [1, 3])
    eq([e["transaction"]["total_order"] for e in b], [2, 4])
    eq([e["transaction"]["data_collection_order"] for e in a], [1, 2])
    eq([e["transaction"]["data_collection_order"] for e in b], [1, 2])
    s.stop()
    drop_slot("it_tx")


# ---- crashes, restarts, reconnects ---------------------------------------------------

def ids_in(out, table):
    return [e["after"]["id"] for e in events(out, table) if e["op"] == "c"]


def test_kill9_mid_load_then_restart_loses_nothing():
    psql("drop table if exists it_load; create table it_load (id int primary key, v text)")
    out = sltest.tmpdir("out")
    data = sltest.tmpdir("data")
    spec = sltest.write_spec(spec_for("it-load", ["public.it_load"], out,
                                      batch={"max_events": 500}))
    s = sltest.start_sluice(spec, data_dir=data)
    s.wait_log("streaming from slot")
    # 100 transactions of 1000 rows, paced so the kill lands in the middle of the load.
    load = subprocess.Popen(
        ["psql", os.environ["SL_PG_DSN"], "-v", "ON_ERROR_STOP=1", "-Xqc",
         """do $$ begin for i in 0..99 loop
              insert into it_load select g, 'v' || g from generate_series(i*1000+1, i*1000+1000) g;
              commit; perform pg_sleep(0.02); end loop; end $$"""])
    wait_until(lambda: len(ids_in(out, "it_load")) >= 10000, 30, what="10k rows delivered")
    s.kill()
    got_before = len(ids_in(out, "it_load"))
    eq(load.wait(60), 0, "load finished")
    check(got_before < 100000, "killed in the middle (had %d)" % got_before)
    s2 = sltest.start_sluice(spec, data_dir=data)
    wait_until(lambda: len(set(ids_in(out, "it_load"))) >= 100000, 60,
               what="all 100k ids after restart")
    eq(set(ids_in(out, "it_load")), set(range(1, 100001)), "every row at least once")
    s2.stop()
    drop_slot("it_load")


def test_sigterm_then_restart_delivers_nothing_twice():
    psql("drop table if exists it_clean; create table it_clean (id int primary key)")
    out = sltest.tmpdir("out")
    data = sltest.tmpdir("data")
    spec = sltest.write_spec(spec_for("it-clean", ["public.it_clean"], out))
    s = sltest.start_sluice(spec, data_dir=data)
    s.wait_log("streaming from slot")
    psql("insert into it_clean select generate_series(1, 5000)")
    wait_until(lambda: len(ids_in(out, "it_clean")) >= 5000, 20, what="5000 rows")
    psql("insert into it_clean select generate_series(5001, 6000)")
    eq(s.stop(), 0, "SIGTERM exit code")
    ck = json.load(open(os.path.join(data, "it-clean", "checkpoint.json")))
    check("lsn" in ck["position"], "checkpoint persisted: %r" % ck)
    psql("insert into it_clean select generate_series(6001, 7000)")
    s2 = sltest.start_sluice(spec, data_dir=data)
    wait_until(lambda: len(set(ids_in(out, "it_clean"))) >= 7000, 20, what="7000 rows")
    time.sleep(0.5)
    ids = ids_in(out, "it_clean")
    eq(len(ids), 7000, "no duplicates across a clean restart")
    eq(set(ids), set(range(1, 7001)))
    s2.stop()
    drop_slot("it_clean")


def test_reconnects_after_connection_loss_without_duplicates():
    psql("drop table if exists it_reco; create table it_reco (id int primary key)")
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec_for("it-reco", ["public.it_reco"], out))
    s.wait_log("streaming from slot")
    psql("insert into it_reco select generate_series(1, 100)")
    wait_until(lambda: len(ids_in(out, "it_reco")) >= 100, 20, what="first 100 rows")
    psql("select pg_terminate_backend(active_pid) from pg_replication_slots "
         "where slot_name = 'it_reco'")
    s.wait_log("reconnecting in")
    psql("insert into it_reco select generate_series(101, 200)")
    wait_until(lambda: len(set(ids_in(out, "it_reco"))) >= 200, 30, what="rows after reconnect")
    time.sleep(0.5)
    eq(sorted(ids_in(out, "it_reco")), list(range(1, 201)), "each row exactly once")
    s.stop()
    drop_slot("it_reco")


def _free_port():
    import socket
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


def _start_redis(port):
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: _redis_up(port), 10, what="redis on %d" % port)
    return p


def _redis_up(port):
    try:
        with sltest.Redis(port=port) as r:
            return r.ping() == "PONG"
    except Exception:
        return False


def test_redis_outage_holds_checkpoint_then_recovers_without_loss():
    psql("drop table if exists it_outage; create table it_outage (id int primary key)")
    port = _free_port()
    rp = _start_redis(port)
    try:
        out = sltest.tmpdir("out")
        spec = spec_for("it-outage", ["public.it_outage"], out)
        spec["spec"]["sinks"][1]["config"]["uri"] = "redis://127.0.0.1:%d/0" % port
        s = sltest.start_sluice(spec)
        s.wait_log("streaming from slot")
        psql("insert into it_outage select generate_series(1, 100)")
        with sltest.Redis(port=port) as r:
            wait_until(lambda: r.xlen("it-outage.it.public.it_outage") >= 100, 20,
                       what="first 100 in redis")
        rp.kill()
        rp.wait()
        psql("insert into it_outage select generate_series(101, 300)")
        lsn = psql("select pg_current_wal_insert_lsn()")
        s.wait_log("delivery failed")
        time.sleep(1.5)
        eq(psql("select confirmed_flush_lsn < '%s'::pg_lsn from pg_replication_slots "
                "where slot_name = 'it_outage'" % lsn), "t",
           "checkpoint held while a required sink is down (confirmed %s, insert at %s)\n%s"
           % (psql("select confirmed_flush_lsn from pg_replication_slots where slot_name = "
                   "'it_outage'"), lsn, s.log_tail(60)))
        rp = _start_redis(port)   # an empty Redis: the undelivered batch must be resent
        with sltest.Redis(port=port) as r:
            got = wait_until(lambda: (lambda e: e if len(e) >= 200 else None)(
                r.xrange("it-outage.it.public.it_outage")), 30, what="200 after recovery")
            ids = sorted(json.loads(f["value"])["after"]["id"] for _, f in got)
        eq(ids, list(range(101, 301)), "everything written during the outage arrived")
        eq(sorted(set(ids_in(out, "it_outage"))), list(range(1, 301)))
        s.stop()
        drop_slot("it_outage")
    finally:
        rp.kill()
        rp.wait()


def test_stop_with_a_required_sink_down_gives_up_after_the_stop_timeout():
    psql("drop table if exists it_stuck; create table it_stuck (id int primary key)")
    port = _free_port()    # nothing listens there: the redis sink can never deliver
    out = sltest.tmpdir("out")
    spec = spec_for("it-stuck", ["public.it_stuck"], out, batch={"max_events": 10,
                                                                 "max_inflight": 1})
    spec["spec"]["sinks"][1]["config"]["uri"] = "redis://127.0.0.1:%d/0" % port
    s = sltest.start_sluice(spec, env={"SLUICE_STOP_TIMEOUT": "2"})
    s.wait_log("streaming from slot")
    # the WAL position inside the transaction, before its commit record
    pre_commit = psql("begin; insert into it_stuck select generate_series(1, 100); "
                      "select pg_current_wal_insert_lsn(); commit;")
    s.wait_log("cannot connect|delivery failed")
    time.sleep(1.0)   # let the source read the transaction and submit its batch
    t0 = time.monotonic()
    s.signal(signal.SIGTERM)
    eq(s.wait(20), 0, "stop completes")
    check(time.monotonic() - t0 < 10, "stop took %.1fs" % (time.monotonic() - t0))
    check("not checkpointed" in s.log(), s.log_tail())
    eq(psql("select confirmed_flush_lsn < '%s'::pg_lsn from pg_replication_slots "
            "where slot_name = 'it_stuck'" % pre_commit), "t",
       "the undelivered transaction is not confirmed")
    drop_slot("it_stuck")


def test_unpublished_writes_do_not_hold_back_the_slot():
    psql("drop table if exists it_idle, it_other;"
         "create table it_idle (id int primary key); create table it_other (id int)")
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec_for("it-idle", ["public.it_idle"], out))
    s.wait_log("streaming from slot")
    psql("insert into it_idle values (1)")
    wait_events(out, "it_idle", 1)
    psql("insert into it_other select generate_series(1, 10000)")
    target = psql("select pg_current_wal_insert_lsn()")
    wait_until(lambda: psql("select confirmed_flush_lsn >= '%s'::pg_lsn from "
                            "pg_replication_slots where slot_name = 'it_idle'" % target) == "t",
               20, what="confirmed_flush_lsn to pass WAL of unpublished writes")
    s.stop()
    drop_slot("it_idle")


def test_sharding_assigns_stable_shards_in_stream_names():
    psql("drop table if exists it_shard;"
         "create table it_shard (id int primary key, customer_id int)")
    out = sltest.tmpdir("out")
    spec = spec_for("it-shard", ["public.it_shard"], out, stream="s{shard}")
    spec["spec"]["sharding"] = {"mode": "hash", "count": 3, "key": "customer_id"}
    s = sltest.start_sluice(spec)
    s.wait_log("streaming from slot")
    psql("insert into it_shard select g, g % 10 from generate_series(1, 60) g")
    wait_events(out, "it_shard", 60)
    with sltest.redis() as r:
        # sinks deliver independently: wait for Redis too, not only the file
        wait_until(lambda: sum(r.xlen("it-shard.s%d" % i) for i in range(3)) >= 60, 20,
                   what="60 entries over the shard streams")
        total = 0
        owner = {}
        for shard in range(3):
            for _, f in r.xrange("it-shard.s%d" % shard):
                cust = json.loads(f["value"])["after"]["customer_id"]
                check(owner.setdefault(cust, shard) == shard,
                      "customer %d in two shards" % cust)
                total += 1
        eq(total, 60)
        check(len(set(owner.values())) > 1, "customers spread over shards")
    s.stop()
    drop_slot("it_shard")


def test_partitioned_table_snapshot_and_stream_under_its_own_name():
    """A partitioned table named in `tables`: sluice creates the publication with
    publish_via_partition_root, so the snapshot reads it and its changes (also a row moving
    between partitions: d + c) arrive under its own name; rebuilt from the events it equals
    the table. An existing publication without that option is an error naming the table."""
    psql("drop table if exists it_part cascade;"
         "create table it_part (id int, region text, v text, primary key (id, region))"
         " partition by list (region);"
         "create table it_part_eu partition of it_part for values in ('eu');"
         "create table it_part_us partition of it_part for values in ('us');"
         "insert into it_part select g, case when g % 2 = 0 then 'eu' else 'us' end, 's' || g"
         " from generate_series(1, 40) g")
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec_for("it-part", ["public.it_part"], out,
                                     snapshot={"mode": "initial", "chunk_size": 7}))
    s.wait_log("streaming from slot")
    eq(psql("select pubviaroot from pg_publication where pubname = 'it_part_pub'"), "t")
    psql("insert into it_part values (41, 'eu', 'new'), (42, 'us', 'new');"
         "update it_part set v = 'upd' where id in (1, 2);"
         "update it_part set region = 'eu' where id = 3;"     # moves to the other partition
         "delete from it_part where id in (4, 5)")
    evs = wait_events(out, "it_part", 40 + 2 + 2 + 2 + 2)
    check(not os.path.exists(os.path.join(out, "it_part_eu.jsonl")), "no partition names")
    eq(sorted({e["source"]["table"] for e in evs}), ["it_part"])
    eq(sum(1 for e in evs if e["op"] == "r"), 40, "snapshot rows")
    eq([(e["op"], (e["before"] or e["after"])["region"]) for e in evs
        if (e["before"] or e["after"])["id"] == 3 and e["op"] != "r"], [("d", "us"), ("c", "eu")])
    state = {}
    for e in evs:
        if e["op"] == "d":
            state.pop((e["before"]["id"], e["before"]["region"]))
        else:
            state[(e["after"]["id"], e["after"]["region"])] = e["after"]
    want = {(r["id"], r["region"]): r for r in
            (json.loads(l) for l in psql("select row_to_json(x) from it_part x").split("\n"))}
    eq(state, want, "it_part rebuilt from its events")
    s.stop()
    drop_slot("it_part")

    psql("drop publication if exists it_part2_pub; create publication it_part2_pub for table "
         "it_part")
    s = sltest.start_sluice(spec_for("it-part2", ["public.it_part"], sltest.tmpdir("out")))
    eq(s.wait(20), 1, "exit status")
    check("spec.source.config.tables[0]: public.it_part is a partitioned table" in s.log()
          and "publish_via_partition_root = true" in s.log(), s.log())
    psql("drop publication it_part2_pub")


# ---- bad input -----------------------------------------------------------------------

def test_invalid_spec_exits_2_naming_the_field():
    bad = sltest.write_spec({"metadata": {"name": "bad"}, "spec": {
        "source": {"type": "postgres", "config": {"id": "x", "dsn": "host=127.0.0.1",
                                                  "slot": "s", "publication": "p",
                                                  "tables": ["public.t"], "bogus": 1}},
        "sinks": [{"type": "file", "config": {"id": "f", "path": "/tmp/x"}}],
        "batch": {"max_events": 0}}})
    s = sltest.Sluice(["run", bad])
    eq(s.wait(), 2)
    log = s.log()
    check("spec.source.config.bogus" in log, "names the unknown key:\n" + log)
    check("spec.batch.max_events" in log, "names the out-of-range field:\n" + log)
    v = sltest.Sluice(["validate", bad])
    eq(v.wait(), 2)
    check("spec.batch.max_events" in v.log(), v.log())


def test_wrong_dsn_fails_with_clear_error_and_exit_1():
    out = sltest.tmpdir("out")
    spec = spec_for("it-baddsn", ["public.x"], out)
    spec["spec"]["source"]["config"]["dsn"] = "host=127.0.0.1 port=1 dbname=nope user=x"
    s = sltest.start_sluice(spec)
    eq(s.wait(20), 1)
    check("cannot connect to PostgreSQL" in s.log(), s.log())


def test_example_specs_validate():
    env = {"PG_DSN": "host=127.0.0.1", "REDIS_URI": "redis://127.0.0.1:6379/0",
           "MY_DSN": "mysql://root@127.0.0.1:3306/",
           "KAFKA_BROKERS": "127.0.0.1:9092"}
    specs = sorted(os.path.join(ROOT, "pipelines", f)
                   for f in os.listdir(os.path.join(ROOT, "pipelines"))
                   if f.endswith((".yaml", ".yml", ".json")))
    check(specs, "pipelines/ has specs")
    v = sltest.Sluice(["validate"] + specs, env=env)
    eq(v.wait(), 0, v.log())
    # each file was checked on its own, and names are unique (serve would answer 409)
    names = []
    for path in specs:
        m = re.search(r"^%s: valid \(pipeline (\S+)\)$" % re.escape(path), v.log(), re.M)
        check(m, "%s reported valid:\n%s" % (path, v.log()))
        names.append(m.group(1))
    eq(len(set(names)), len(names), "pipeline names in pipelines/: %r" % names)


if __name__ == "__main__":
    sltest.main()
