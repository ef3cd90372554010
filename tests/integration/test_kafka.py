"""test_kafka.py - PostgreSQL -> sluice -> Kafka (librdkafka's mock cluster run as a broker
process by tests/tools/kafka_mock, started by run.sh), verified from outside with kcat:
keys, partitions and order, headers, topic placeholders, tombstones, client_conf, sharding,
large and oversized rows, a 10 s broker outage, exactly-once across kill -9, fencing, and
commit policies with a Kafka and a Redis sink where one of them fails.

The mock does not hide aborted transactions from read_committed consumers, so the
exactly-once test works from the checkpoint records instead: each lists the offsets its
transaction wrote, and the records they cover must hold every row exactly once."""

import json
import os
import signal
import socket
import subprocess
import time
import zlib

import sltest
from sltest import check, eq, wait_until, psql

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MOCK_BIN = os.path.join(ROOT, "build", "tools", "kafka_mock")


def brokers():
    return sltest.env("SL_KAFKA_BROKERS")


# ---- specs ---------------------------------------------------------------------------

def kafka_sink(topic, id="k", brokers_=None, **kw):
    conf = {"id": id, "brokers": brokers_ or brokers(), "topic": topic}
    conf.update(kw)
    return {"type": "kafka", "config": conf}


def redis_sink(stream, id="r", uri=None, **kw):
    conf = {"id": id, "uri": uri or os.environ["SL_REDIS_URI"], "stream": stream}
    conf.update(kw)
    return {"type": "redis", "config": conf}


def spec_for(name, tables, sinks, batch=None, sharding=None, commit_policy=None):
    slot = name.replace("-", "_")
    spec = {"metadata": {"name": name}, "spec": {
        "source": {"type": "postgres", "config": {
            "id": "pg", "dsn": os.environ["SL_PG_DSN"], "slot": slot,
            "publication": slot + "_pub", "tables": tables, "snapshot": "never"}},
        "sinks": sinks}}
    if batch:
        spec["spec"]["batch"] = batch
    if sharding:
        spec["spec"]["sharding"] = sharding
    if commit_policy:
        spec["spec"]["commit_policy"] = commit_policy
    return spec


def drop_slot(slot):
    wait_until(lambda: psql("select count(*) from pg_replication_slots where slot_name = "
                            "'%s' and active" % slot) == "0", 15, what="slot inactive")
    psql("select pg_drop_replication_slot(slot_name) from pg_replication_slots "
         "where slot_name = '%s'" % slot)


def slot_lsn_passed(slot, lsn):
    """True once the slot confirmed a position past lsn."""
    return psql("select confirmed_flush_lsn > '%s'::pg_lsn from pg_replication_slots "
                "where slot_name = '%s'" % (lsn, slot)) == "t"


def insert_at(sql):
    """Run sql in a transaction; returns a WAL position inside it, before its commit
    (the slot passes it only once the transaction is confirmed)."""
    return psql("begin; %s; select pg_current_wal_insert_lsn(); commit;" % sql)


# ---- reading Kafka with kcat -----------------------------------------------------------

FMT = "%p\\t%o\\t%K\\t%k\\t%S\\t%h\\t%s\\n"


def records(topic, brokers_=None, partition=None):
    """Every record of topic, ordered by (partition, offset), as dicts with partition,
    offset, key (None for a null key), value (None for a null value) and headers (a dict);
    [] when the topic does not exist yet."""
    args = ["kcat", "-b", brokers_ or brokers(), "-C", "-t", topic, "-e", "-q",
            "-o", "beginning", "-f", FMT]
    if partition is not None:
        args += ["-p", str(partition)]
    p = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if p.returncode != 0:
        err = p.stderr.decode(errors="replace")
        if "Unknown topic" in err or "UNKNOWN_TOPIC" in err:
            return []
        raise sltest.TestFailure("kcat failed on %s: %s" % (topic, err.strip()))
    out = []
    for line in p.stdout.decode("utf-8", errors="replace").split("\n"):
        if not line:
            continue
        part, off, klen, key, vlen, hdrs, val = line.split("\t", 6)
        headers = dict(h.split("=", 1) for h in hdrs.split(",") if "=" in h)
        out.append({"partition": int(part), "offset": int(off),
                    "key": None if int(klen) < 0 else key,
                    "value": None if int(vlen) < 0 else val, "headers": headers})
    out.sort(key=lambda r: (r["partition"], r["offset"]))
    return out


def wait_records(topic, n, timeout=30, **kw):
    return wait_until(lambda: (lambda r: r if len(r) >= n else None)(records(topic, **kw)),
                      timeout, interval=0.2, what="%d records in %s" % (n, topic))


def partitions_of(topic, brokers_=None):
    p = subprocess.run(["kcat", "-b", brokers_ or brokers(), "-L", "-t", topic],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    for line in p.stdout.decode().splitlines():
        if "with" in line and "partitions" in line and '"%s"' % topic in line:
            return int(line.split("with")[1].split()[0])
    raise sltest.TestFailure("no metadata for %s: %s" % (topic, p.stderr.decode()))


def ids(recs):
    """Row ids of the change records (tombstones and deletes left out)."""
    return [json.loads(r["value"])["after"]["id"] for r in recs
            if r["value"] is not None and json.loads(r["value"])["op"] in ("c", "u", "r")]


# ---- the partitioners sluice is expected to match --------------------------------------

def murmur2(data):
    """Kafka's murmur2 (the Java client's default partitioner hash)."""
    m, r = 0x5BD1E995, 24
    h = (0x9747B28C ^ len(data)) & 0xFFFFFFFF
    n4 = len(data) // 4
    for i in range(n4):
        k = int.from_bytes(data[i * 4:i * 4 + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rest = data[n4 * 4:]
    if len(rest) == 3:
        h ^= rest[2] << 16
    if len(rest) >= 2:
        h ^= rest[1] << 8
    if len(rest) >= 1:
        h ^= rest[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for c in data:
        h ^= c
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


# ---- a private broker for tests that take it down ---------------------------------------

class Mock:
    """A kafka_mock process of our own (killed by PID at the end)."""

    def __init__(self, *args):
        args = ["-t", "sluice.checkpoints:1"] + list(args)   # as run.sh's broker
        self.proc = subprocess.Popen([MOCK_BIN] + args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.brokers = self.proc.stdout.readline().decode().strip()
        check(self.brokers, "kafka_mock printed no bootstrap address")

    def down(self):
        self.proc.send_signal(signal.SIGUSR1)

    def up(self):
        self.proc.send_signal(signal.SIGUSR2)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def dead_port():
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


# ---- keys, partitions, order, headers -------------------------------------------------

def test_keys_partitions_order_and_headers():
    psql("drop table if exists kf_keys; create table kf_keys (id int primary key, n int)")
    topic = "kf-keys.{schema}.{table}"
    s = sltest.start_sluice(spec_for("kf-keys", ["public.kf_keys"], [kafka_sink(topic)]))
    s.wait_log("streaming from slot")
    psql("insert into kf_keys select g, 0 from generate_series(1, 20) g")
    for n in range(1, 6):
        psql("update kf_keys set n = %d" % n)
    psql("delete from kf_keys where id <= 5")
    t = "kf-keys.public.kf_keys"
    recs = wait_records(t, 20 + 100 + 5 + 5)
    nparts = partitions_of(t)
    by_key = {}
    for r in recs:
        by_key.setdefault(r["key"], []).append(r)
    eq(len(by_key), 20, "one key per row")
    for key, rs in by_key.items():
        row = json.loads(key)
        parts = {r["partition"] for r in rs}
        eq(parts, {(murmur2(key.encode()) & 0x7FFFFFFF) % nparts},
           "key %s: one partition, murmur2 like the Java client" % key)
        changes = [json.loads(r["value"]) for r in rs if r["value"] is not None]
        eq([c["op"] for c in changes], ["c", "u", "u", "u", "u", "u"] +
           (["d"] if row["id"] <= 5 else []), "key %s: changes in order" % key)
        eq([c["after"]["n"] for c in changes if c["after"]], [0, 1, 2, 3, 4, 5])
        for r in rs:
            eq(r["headers"].get("sluice.table"), "public.kf_keys")
        for r, c in zip(rs, changes):
            eq(r["headers"].get("sluice.op"), c["op"], "sluice.op header")
        if row["id"] <= 5:
            eq((rs[-1]["value"], rs[-1]["headers"]), (None, {"sluice.table": "public.kf_keys"}),
               "a tombstone follows the delete")
    s.stop()
    drop_slot("kf_keys")


def test_topic_placeholders_and_sanitized_names():
    psql('drop schema if exists kf_ph cascade; create schema kf_ph;'
         'create table kf_ph.orders (id int primary key);'
         'create table kf_ph."Odd$Name" (id int primary key)')
    s = sltest.start_sluice(spec_for("kf-ph", ["kf_ph.*"], [
        kafka_sink("kf.{db}.{schema}.{table}"), kafka_sink("kf-static", id="static")]))
    s.wait_log("streaming from slot")
    psql('insert into kf_ph.orders values (1), (2); insert into kf_ph."Odd$Name" values (7)')
    eq(sorted(ids(wait_records("kf.postgres.kf_ph.orders", 2))), [1, 2])
    eq(ids(wait_records("kf.postgres.kf_ph.Odd_Name", 1)), [7],
       "characters Kafka does not allow become '_'")
    eq(sorted(ids(wait_records("kf-static", 3))), [1, 2, 7], "a static topic gets every table")
    s.stop()
    drop_slot("kf_ph")


def test_processor_route_topic_overrides_the_topic_with_a_valid_name():
    psql("drop table if exists kf_route; create table kf_route (id int primary key, kind text)")
    spec = spec_for("kf-route", ["public.kf_route"], [kafka_sink("kf-route.main")])
    spec["spec"]["processors"] = [{"type": "javascript", "id": "route", "inline": (
        "function process(batch) { batch.forEach(function (e) {"
        " if (e.after && e.after.kind === 'vip') e.route = {topic: 'kf-route.vip'};"
        " if (e.after && e.after.kind === 'odd') e.route = {topic: 'kf route/odd'}; });"
        " return batch; }")}]
    s = sltest.start_sluice(spec)
    s.wait_log("streaming from slot")
    psql("insert into kf_route values (1, 'vip'), (2, 'plain'), (3, 'vip'), (4, 'odd')")
    vip = wait_records("kf-route.vip", 2)
    eq(sorted(ids(vip)), [1, 3], "routed rows go to route.topic")
    check(all('"route"' not in r["value"] for r in vip), "route is not delivered")
    eq([json.loads(r["key"]) for r in sorted(vip, key=lambda r: ids([r]))],
       [{"id": 1}, {"id": 3}], "the key stays the row key")
    eq(vip[0]["headers"].get("sluice.table"), "public.kf_route", "headers kept")
    eq(ids(wait_records("kf_route_odd", 1)), [4], "a routed name is sanitized like a template")
    eq(ids(wait_records("kf-route.main", 1)), [2], "other rows keep the configured topic")
    s.stop()
    drop_slot("kf_route")


def test_tombstones_on_and_off_and_null_keys():
    psql("drop table if exists kf_tomb, kf_nokey; create table kf_tomb (id int primary key);"
         "create table kf_nokey (a int); alter table kf_nokey replica identity full")
    s = sltest.start_sluice(spec_for("kf-tomb", ["public.kf_tomb", "public.kf_nokey"], [
        kafka_sink("kf-tomb-on"), kafka_sink("kf-tomb-off", id="off", tombstones=False)]))
    s.wait_log("streaming from slot")
    psql("insert into kf_tomb values (1), (2), (3); delete from kf_tomb where id < 3;"
         "insert into kf_nokey values (1); delete from kf_nokey")
    on = wait_records("kf-tomb-on", 9)
    off = wait_records("kf-tomb-off", 7)
    time.sleep(0.5)
    on, off = records("kf-tomb-on"), records("kf-tomb-off")
    eq(len(on), 9, "3 inserts + 2 deletes + 2 tombstones + null-key insert and delete")
    eq(len(off), 7, "no tombstones with tombstones: false")
    tomb = [r for r in on if r["value"] is None]
    eq(sorted(r["key"] for r in tomb), ['{"id":1}', '{"id":2}'])
    nokey = [r for r in on if r["key"] is None]
    # null keys land on random partitions: their order across partitions is not kept
    eq(sorted(json.loads(r["value"])["op"] for r in nokey), ["c", "d"],
       "null key: no tombstone (compaction could not use one)")
    check(all(r["value"] is not None for r in off))
    s.stop()
    drop_slot("kf_tomb")


# ---- configuration --------------------------------------------------------------------

def test_client_conf_overrides_the_defaults():
    psql("drop table if exists kf_conf; create table kf_conf (id int primary key)")
    s = sltest.start_sluice(spec_for("kf-conf", ["public.kf_conf"], [kafka_sink(
        "kf-conf", client_conf={"partitioner": "consistent", "linger.ms": 0,
                                "compression.type": "none"})]))
    s.wait_log("streaming from slot")
    psql("insert into kf_conf select generate_series(1, 40)")
    recs = wait_records("kf-conf", 40)
    n = partitions_of("kf-conf")
    for r in recs:
        eq(r["partition"], zlib.crc32(r["key"].encode()) % n,
           "key %s placed by the overriding partitioner (CRC32)" % r["key"])
    s.stop()
    drop_slot("kf_conf")


def test_validate_rejects_unknown_and_invalid_client_properties():
    spec = sltest.write_spec(spec_for("kf-bad", ["public.x"], [
        kafka_sink("t", client_conf={"no.such.property": "1", "acks": "maybe",
                                     "transactional.id": "x"}),
        kafka_sink("t.{tabel}", id="k2")]))
    v = sltest.Sluice(["validate", spec])
    eq(v.wait(), 2, v.log())
    log = v.log()
    check('spec.sinks[0].config.client_conf["no.such.property"]: No such configuration '
          'property: "no.such.property"' in log, log)
    check("spec.sinks[0].config.client_conf.acks: Invalid value" in log, log)
    check('client_conf["transactional.id"]: set exactly_once: true instead' in log, log)
    check("spec.sinks[1].config.topic: unknown placeholder '{tabel}'" in log, log)


def test_sharding_partition_is_the_shard_and_too_few_partitions_fail():
    psql("drop table if exists kf_shard; create table kf_shard (id int primary key, cust int)")
    spec = spec_for("kf-shard", ["public.kf_shard"], [kafka_sink("kf-shard")],
                    sharding={"mode": "hash", "count": 3, "key": "cust"})
    s = sltest.start_sluice(spec)
    s.wait_log("streaming from slot")
    psql("insert into kf_shard select g, g % 10 from generate_series(1, 60) g")
    recs = wait_records("kf-shard", 60)
    for r in recs:
        cust = json.loads(r["value"])["after"]["cust"]
        eq(r["partition"], fnv1a64(str(cust).encode()) % 3, "partition is the shard")
    check(len({r["partition"] for r in recs}) > 1, "shards spread")
    s.stop()
    drop_slot("kf_shard")

    # auto-created topics get 4 partitions: 6 shards cannot fit
    spec["spec"]["sharding"]["count"] = 6
    spec["spec"]["sinks"][0]["config"]["topic"] = "kf-shard6"
    s = sltest.start_sluice(spec)
    s.wait_log("streaming from slot")
    psql("insert into kf_shard values (1000, 1)")
    eq(s.wait(30), 1, "a topic with too few partitions is fatal")
    check("topic kf-shard6 has 4 partitions, fewer than spec.sharding.count (6)" in s.log(),
          s.log_tail())
    drop_slot("kf_shard")


def test_large_transactions_and_rows_work_and_oversized_rows_fail_clearly():
    psql("drop table if exists kf_big; create table kf_big (id int primary key, t text)")
    s = sltest.start_sluice(spec_for("kf-big", ["public.kf_big"], [kafka_sink("kf-big")]))
    s.wait_log("streaming from slot")
    psql("insert into kf_big select g, 'r' || g from generate_series(1, 20000) g")
    psql("insert into kf_big values (0, repeat('x', 600000))")
    recs = wait_records("kf-big", 20001, timeout=60)
    eq(sorted(ids(recs)), list(range(0, 20001)), "a 20000-row transaction arrived whole")
    big = [json.loads(r["value"]) for r in recs if r["key"] == '{"id":0}']
    eq(len(big[0]["after"]["t"]), 600000, "a 600 kB row arrived whole")
    # over the producer's message.max.bytes (1000000 by default): fatal, and it says why
    psql("insert into kf_big values (-1, repeat('y', 1500000))")
    eq(s.wait(30), 1, "an oversized event stops the pipeline")
    log = s.log()
    check("kafka sink k: the event of table public.kf_big, key {\"id\":-1}" in log and
          "is too large for topic kf-big" in log, s.log_tail())
    drop_slot("kf_big")


# ---- failures -------------------------------------------------------------------------

def test_broker_down_10s_mid_load_then_back_loses_nothing():
    psql("drop table if exists kf_down; create table kf_down (id int primary key)")
    mock = Mock()
    try:
        spec = spec_for("kf-down", ["public.kf_down"], [kafka_sink(
            "kf-down", brokers_=mock.brokers, client_conf={"message.timeout.ms": 2000})],
            batch={"max_events": 200})
        s = sltest.start_sluice(spec)
        s.wait_log("streaming from slot")
        load = subprocess.Popen(
            ["psql", os.environ["SL_PG_DSN"], "-v", "ON_ERROR_STOP=1", "-Xqc",
             """do $$ begin for i in 0..59 loop
                  insert into kf_down select g from generate_series(i*100+1, i*100+100) g;
                  commit; perform pg_sleep(0.1); end loop; end $$"""])
        wait_until(lambda: len(records("kf-down", mock.brokers)) >= 1000, 20,
                   interval=0.2, what="1000 rows before the outage")
        mock.down()
        time.sleep(4)
        lsn = psql("select pg_current_wal_insert_lsn()")
        check(not slot_lsn_passed("kf_down", lsn), "checkpoint held while the broker is down")
        time.sleep(6)
        mock.up()
        eq(load.wait(60), 0, "load finished")
        got = wait_until(lambda: (lambda r: r if len(set(ids(r))) >= 6000 else None)(
            records("kf-down", mock.brokers)), 45, interval=0.5, what="all 6000 rows")
        eq(set(ids(got)), set(range(1, 6001)), "nothing lost")
        check("delivery failed" in s.log(), "the outage was retried:\n" + s.log_tail())
        s.stop()
        drop_slot("kf_down")
    finally:
        mock.stop()


def ckpt_records(pipeline, sink="k"):
    key = "%s/%s" % (pipeline, sink)
    return [json.loads(r["value"]) for r in records("sluice.checkpoints", partition=0)
            if r["key"] == key and r["value"] is not None]


def test_exactly_once_kill9_mid_load_then_restart_resumes_from_kafka():
    psql("drop table if exists kf_eos; create table kf_eos (id int primary key)")
    spec = sltest.write_spec(spec_for("kf-eos", ["public.kf_eos"], [
        kafka_sink("kf-eos", exactly_once=True)], batch={"max_events": 300}))
    s = sltest.start_sluice(spec, extra_args=["--log-level", "debug"])
    s.wait_log("no checkpoint in sluice.checkpoints yet")
    s.wait_log("streaming from slot")
    load = subprocess.Popen(
        ["psql", os.environ["SL_PG_DSN"], "-v", "ON_ERROR_STOP=1", "-Xqc",
         """do $$ begin for i in 0..79 loop
              insert into kf_eos select g from generate_series(i*100+1, i*100+100) g;
              commit; perform pg_sleep(0.03); end loop; end $$"""])
    wait_until(lambda: len(ckpt_records("kf-eos")) >= 5, 20, interval=0.1,
               what="5 committed transactions")
    s.kill()
    before = len(ckpt_records("kf-eos"))
    eq(load.wait(60), 0, "load finished")
    check(before < 80, "killed in the middle (%d checkpoints)" % before)

    # A fresh data dir: the position can only come from Kafka (or the slot, which the
    # pipeline only moves after a transaction committed).
    s2 = sltest.start_sluice(spec, extra_args=["--log-level", "debug"])
    s2.wait_log("resuming from the checkpoint stored by sink k")

    def covered():
        data = {(r["partition"], r["offset"]): r for r in records("kf-eos")}
        got = []
        for c in ckpt_records("kf-eos"):
            for o in c["offsets"]:
                eq(o["topic"], "kf-eos")
                for off in range(o["first"], o["last"] + 1):
                    r = data.get((o["partition"], off))
                    check(r is not None, "checkpoint names a missing offset")
                    got.append(json.loads(r["value"])["after"]["id"])
        return got if len(set(got)) >= 8000 else None
    got = wait_until(covered, 40, interval=0.5, what="all 8000 rows committed")
    eq(sorted(got), list(range(1, 8001)),
       "committed transactions hold every row exactly once (no gap, no duplicate)")
    cks = ckpt_records("kf-eos")
    lsns = [c["position"]["lsn_int"] for c in cks]
    eq(lsns, sorted(set(lsns)), "each checkpoint is a new position")
    eq(sum(c["events"] for c in cks), 8000, "events counted by the checkpoints")
    commits = s2.log().count("committed transaction for batch")
    after = len(cks) - before
    check(abs(commits - after) <= 1, "one transaction per batch after the restart "
          "(%d commits logged, %d new checkpoints)" % (commits, after))
    s2.stop()
    drop_slot("kf_eos")


def test_exactly_once_fencing_is_a_clear_fatal_error():
    # The mock does not fence by itself: SIGHUP makes it answer the next commit (EndTxn)
    # with PRODUCER_FENCED, as Kafka does once another producer took the transactional.id.
    psql("drop table if exists kf_fence; create table kf_fence (id int primary key)")
    mock = Mock()
    try:
        s = sltest.start_sluice(spec_for("kf-fence", ["public.kf_fence"], [kafka_sink(
            "kf-fence", brokers_=mock.brokers, exactly_once=True)]))
        s.wait_log("streaming from slot")
        psql("insert into kf_fence values (1)")
        wait_records("kf-fence", 1, brokers_=mock.brokers)
        mock.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        psql("insert into kf_fence values (2)")
        eq(s.wait(30), 1, "a fenced producer stops the pipeline")
        check("producer fenced: another producer with transactional.id sluice.kf-fence.k "
              "took over" in s.log(), s.log_tail())
        eq(s.log().count("retrying in"), 0, "fencing is not retried")
        drop_slot("kf_fence")
    finally:
        mock.stop()


def test_commit_policies_with_a_kafka_and_a_redis_sink_where_one_fails():
    psql("drop table if exists kf_pol; create table kf_pol (id int primary key)")
    dead_redis = "redis://127.0.0.1:%d/0" % dead_port()
    dead_kafka = "127.0.0.1:%d" % dead_port()
    env = {"SLUICE_STOP_TIMEOUT": "2"}
    cases = [
        # (policy, kafka config, redis config, checkpoint moves, which sink gets the rows)
        ({"mode": "required"}, {}, {"uri": dead_redis, "required": False}, True, "kafka"),
        ({"mode": "all"}, {}, {"uri": dead_redis}, False, "kafka"),
        ({"mode": "required"}, {"brokers_": dead_kafka, "required": False}, {}, True, "redis"),
        ({"mode": "quorum", "quorum": 2}, {"brokers_": dead_kafka}, {}, False, "redis"),
    ]
    for i, (policy, kconf, rconf, moves, alive) in enumerate(cases):
        name = "kf-pol%d" % i
        spec = spec_for(name, ["public.kf_pol"], [
            kafka_sink("kf-pol%d" % i, **kconf), redis_sink("kf-pol%d" % i, **rconf)],
            commit_policy=policy)
        s = sltest.start_sluice(spec, env=env)
        s.wait_log("streaming from slot")
        lsn = insert_at("insert into kf_pol values (%d)" % (i * 10 + 1))
        if alive == "kafka":
            eq(ids(wait_records("kf-pol%d" % i, 1)), [i * 10 + 1])
        else:
            with sltest.redis() as r:
                wait_until(lambda: r.xlen("kf-pol%d" % i) >= 1, 20, what="redis entry")
        if moves:
            wait_until(lambda: slot_lsn_passed(name.replace("-", "_"), lsn), 20,
                       what="%s: checkpoint moves" % policy)
        else:
            time.sleep(1.5)
            check(not slot_lsn_passed(name.replace("-", "_"), lsn),
                  "%s: checkpoint held while a needed sink fails" % policy)
        s.stop()
        drop_slot(name.replace("-", "_"))


if __name__ == "__main__":
    sltest.main()
