"""test_js.py - JavaScript processors end to end: PostgreSQL -> sluice (processor) -> Redis
Streams + JSONL file on the real servers. Filter/mutate with exact big integers, routing
to other streams and keys, a pipeline that keeps running through every failure kind
(throw, runaway loop, CPU burner, memory bomb, garbage result) with on_error: skip,
dead-letter streams and files, on_error: fail stopping without moving the checkpoint, a
processor that drops everything still advancing the slot, and validation errors."""

import json
import os
import time

import sltest
from sltest import check, eq, wait_until, psql


def spec_for(name, table, out_dir, script, on_error=None, dead_letter=None, limits=None,
             stream=None):
    proc = {"type": "javascript", "id": "t", "inline": script}
    if on_error:
        proc["on_error"] = on_error
    if dead_letter:
        proc["dead_letter"] = dead_letter
    if limits:
        proc["limits"] = limits
    slot = name.replace("-", "_")
    return {
        "metadata": {"name": name},
        "spec": {
            "source": {"type": "postgres", "config": {
                "id": "pg", "dsn": os.environ["SL_PG_DSN"], "slot": slot,
                "publication": slot + "_pub", "tables": ["public." + table]}},
            "processors": [proc],
            "sinks": [
                {"type": "file", "config": {"id": "file",
                                            "path": os.path.join(out_dir, "{table}.jsonl")}},
                {"type": "redis", "config": {"id": "redis", "uri": os.environ["SL_REDIS_URI"],
                                             "stream": stream or name}},
            ],
            "batch": {"max_ms": 50},
        },
    }


def drop_slot(slot):
    wait_until(lambda: psql("select count(*) from pg_replication_slots where slot_name = "
                            "'%s' and active" % slot) == "0", 10, what="slot inactive")
    psql("select pg_drop_replication_slot(slot_name) from pg_replication_slots "
         "where slot_name = '%s'" % slot)


def events(out_dir, table):
    return sltest.read_jsonl(os.path.join(out_dir, table + ".jsonl"))


def raw_lines(out_dir, table):
    try:
        with open(os.path.join(out_dir, table + ".jsonl"), "rb") as f:
            return [l for l in f.read().split(b"\n") if l]
    except FileNotFoundError:
        return []


def ids(out_dir, table):
    return [e["after"]["id"] for e in events(out_dir, table) if e.get("after")]


def slot_passed(slot, lsn):
    return psql("select confirmed_flush_lsn >= '%s'::pg_lsn from pg_replication_slots "
                "where slot_name = '%s'" % (lsn, slot)) == "t"


def make_table(table):
    psql("drop table if exists %s; create table %s (id int8 primary key, kind text, "
         "big int8, amount numeric)" % (table, table))


# ---- the contract end to end ---------------------------------------------------------

FILTER_MUTATE = r"""
var batches = 0;
function process(batch) {
  batches++;
  return batch.filter(function (e) { return e.after && e.after.kind !== 'drop'; })
              .map(function (e) {
                 e.after.kind = e.after.kind.toUpperCase();
                 e.after.batches_seen = batches;
                 return e;
               });
}
"""


def test_filter_and_mutate_with_exact_big_integers():
    make_table("it_js_basic")
    out = sltest.tmpdir("out")
    r = sltest.redis()
    r.delete("it-js-basic")
    s = sltest.start_sluice(spec_for("it-js-basic", "it_js_basic", out, FILTER_MUTATE))
    s.wait_log("streaming from slot")
    psql("insert into it_js_basic values (1, 'keep', 9223372036854775807, 1.50), "
         "(2, 'drop', 1, 2), (3, 'keep', -9223372036854775808, 123456789012345678901234.5)")
    wait_until(lambda: len(ids(out, "it_js_basic")) >= 2, 20, what="2 events")
    time.sleep(0.3)
    evs = events(out, "it_js_basic")
    eq([e["after"]["id"] for e in evs], [1, 3])
    eq(evs[0]["after"]["kind"], "KEEP")
    check(evs[0]["after"]["batches_seen"] >= 1, "global state visible")
    # byte-exact big integers and numeric strings, in the file and in Redis
    lines = raw_lines(out, "it_js_basic")
    check(b'"big":9223372036854775807,' in lines[0], lines[0][:300])
    check(b'"big":-9223372036854775808,' in lines[1], lines[1][:300])
    check(b'"amount":"123456789012345678901234.5"' in lines[1], lines[1][:300])
    ts_ns = json.loads(lines[0])["ts_ns"]
    check(b'"ts_ns":%d' % ts_ns in lines[0], "ts_ns exact")
    entries = r.xrange("it-js-basic")
    eq(len(entries), 2)
    eq(entries[0][1]["key"], '{"id":1}')
    check('"big":9223372036854775807,' in entries[0][1]["value"], entries[0][1]["value"])
    eq(entries[0][1]["value"].encode(), lines[0], "redis and file carry the same bytes")
    s.stop()
    drop_slot("it_js_basic")


ROUTE = r"""
function process(batch) {
  batch.forEach(function (e) {
    if (e.after.kind === 'vip') e.route = {stream: 'it-js-vip', key: 'cust-' + e.after.id};
  });
  return batch;
}
"""


def test_route_sends_events_to_another_stream_with_another_key():
    make_table("it_js_route")
    out = sltest.tmpdir("out")
    r = sltest.redis()
    r.delete("it-js-route", "it-js-vip")
    s = sltest.start_sluice(spec_for("it-js-route", "it_js_route", out, ROUTE))
    s.wait_log("streaming from slot")
    psql("insert into it_js_route values (1, 'vip', 1, 1), (2, 'plain', 2, 2), (3, 'vip', 3, 3)")
    wait_until(lambda: len(r.xrange("it-js-vip")) >= 2 and len(r.xrange("it-js-route")) >= 1,
               20, what="routed entries")
    vip = r.xrange("it-js-vip")
    eq([e[1]["key"] for e in vip], ["cust-1", "cust-3"])
    check('"route"' not in vip[0][1]["value"], "route is not delivered")
    eq(json.loads(vip[0][1]["value"])["after"]["id"], 1)
    plain = r.xrange("it-js-route")
    eq([e[1]["key"] for e in plain], ['{"id":2}'])
    eq(sorted(ids(out, "it_js_route")), [1, 2, 3], "the file sink still gets every event")
    s.stop()
    drop_slot("it_js_route")


def test_dropping_everything_still_moves_the_checkpoint():
    make_table("it_js_none")
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec_for("it-js-none", "it_js_none", out,
                                     "function process(batch) { return []; }"))
    s.wait_log("streaming from slot")
    psql("insert into it_js_none select g, 'x', g, g from generate_series(1, 500) g")
    lsn = psql("select pg_current_wal_insert_lsn()")
    wait_until(lambda: slot_passed("it_js_none", lsn), 20,
               what="slot confirmed past the filtered rows")
    eq(events(out, "it_js_none"), [], "nothing delivered")
    s.stop()
    drop_slot("it_js_none")


# ---- failures ------------------------------------------------------------------------

FAILING = r"""
function process(batch) {
  return batch.map(function (e) {
    var k = e.after.kind;
    if (k === 'throw') throw new Error('bad row ' + e.after.id);
    if (k === 'loop') while (true) {}
    if (k === 'cpu') { var x = 0; for (;;) x = (x * 31 + 7) % 1000003; }
    if (k === 'mem') { var a = []; for (;;) a.push({n: a.length, v: [1, 2, 3, 4, 5, 6, 7, 8]}); }
    if (k === 'noop') delete e.op;
    e.after.seen = true;
    return e;
  });
}
"""


def test_skip_keeps_the_pipeline_running_through_every_failure_kind():
    make_table("it_js_skip")
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec_for("it-js-skip", "it_js_skip", out, FAILING, on_error="skip",
                                     limits={"timeout_ms": 300, "cpu_ms": 5000, "mem_mb": 16}))
    s.wait_log("streaming from slot")
    good = []
    for n, kind in enumerate(["throw", "loop", "cpu", "mem", "noop"]):
        a, bad, c = 10 * n + 1, 10 * n + 2, 10 * n + 3
        psql("insert into it_js_skip values (%d, 'ok', 1, 1), (%d, '%s', 2, 2), (%d, 'ok', 3, 3)"
             % (a, bad, kind, c))
        good += [a, c]
        wait_until(lambda: set(good) <= set(ids(out, "it_js_skip")), 20,
                   what="good rows around the %s row" % kind)
        check(s.alive(), "still running after a %s failure" % kind)
    psql("insert into it_js_skip values (100, 'ok', 9223372036854775807, 1)")
    lsn = psql("select pg_current_wal_insert_lsn()")
    wait_until(lambda: 100 in ids(out, "it_js_skip"), 20, what="a later row")
    eq(sorted(ids(out, "it_js_skip")), sorted(good + [100]), "exactly the good rows")
    check(all(e["after"]["seen"] for e in events(out, "it_js_skip")), "all processed")
    wait_until(lambda: slot_passed("it_js_skip", lsn), 20, what="checkpoint moves on")
    log = s.log()
    # (CPU time never exceeds wall time: busy loops hit timeout_ms here, cpu_ms below)
    for want in ("Error: bad row 2 (line 5)", "timeout_ms exceeded", "mem_mb exceeded",
                 "has no valid op", "skipping event"):
        check(want in log, "log mentions %r:\n%s" % (want, s.log_tail(60)))
    s.stop()
    drop_slot("it_js_skip")


def test_dead_letter_stream_gets_the_failing_event_and_the_error():
    make_table("it_js_dlq")
    out = sltest.tmpdir("out")
    r = sltest.redis()
    r.delete("it-js-dlq", "it-js-dead")
    dlq = "redis://127.0.0.1:%s/0#it-js-dead" % os.environ["SL_REDIS_PORT"]
    s = sltest.start_sluice(spec_for("it-js-dlq", "it_js_dlq", out, FAILING,
                                     on_error="dead_letter", dead_letter=dlq,
                                     limits={"timeout_ms": 5000, "cpu_ms": 150}))
    s.wait_log("streaming from slot")
    psql("insert into it_js_dlq values (1, 'ok', 1, 1), (2, 'throw', 9223372036854775807, 2), "
         "(3, 'loop', 3, 3), (4, 'ok', 4, 4)")
    wait_until(lambda: len(r.xrange("it-js-dead")) >= 2 and len(ids(out, "it_js_dlq")) >= 2,
               20, what="dead letters and good rows")
    dead = r.xrange("it-js-dead")
    eq(len(dead), 2)
    f = dead[0][1]
    eq((f["pipeline"], f["processor"], f["table"], f["op"]), ("it-js-dlq", "t",
                                                            "public.it_js_dlq", "c"))
    eq(f["error"], "Error: bad row 2 (line 5)")
    eq(f["key"], '{"id":2}')
    check('"big":9223372036854775807,' in f["value"], "original event, exact: " + f["value"])
    eq(json.loads(f["value"])["after"]["kind"], "throw", "the event as it came in")
    check("cpu_ms exceeded" in dead[1][1]["error"], dead[1][1]["error"])
    eq(sorted(ids(out, "it_js_dlq")), [1, 4])
    check(s.alive(), "still running")
    s.stop()
    drop_slot("it_js_dlq")


def test_dead_letter_file():
    make_table("it_js_dlf")
    out = sltest.tmpdir("out")
    path = os.path.join(sltest.tmpdir("dead"), "sub", "dead.jsonl")
    s = sltest.start_sluice(spec_for("it-js-dlf", "it_js_dlf", out, FAILING,
                                     on_error="dead_letter", dead_letter="file://" + path))
    s.wait_log("streaming from slot")
    psql("insert into it_js_dlf values (1, 'noop', 1, 1), (2, 'ok', 2, 2)")
    wait_until(lambda: os.path.exists(path) and 2 in ids(out, "it_js_dlf"), 20,
               what="dead-letter file and the good row")
    recs = sltest.read_jsonl(path)
    eq(len(recs), 1)
    check("has no valid op" in recs[0]["error"], recs[0]["error"])
    eq(recs[0]["event"]["after"]["id"], 1)
    eq(recs[0]["key"], {"id": 1})
    s.stop()
    drop_slot("it_js_dlf")


def test_fail_stops_the_pipeline_and_a_fixed_script_replays_the_batch():
    make_table("it_js_fail")
    out = sltest.tmpdir("out")
    data = sltest.tmpdir("data")
    s = sltest.start_sluice(spec_for("it-js-fail", "it_js_fail", out, FAILING), data_dir=data)
    s.wait_log("streaming from slot")
    psql("insert into it_js_fail values (1, 'ok', 1, 1)")
    wait_until(lambda: ids(out, "it_js_fail") == [1], 20, what="first row")
    psql("insert into it_js_fail values (2, 'throw', 2, 2), (3, 'ok', 3, 3)")
    eq(s.wait(20), 1, "exit status after a processor failure")
    log = s.log()
    check("process() failed on a batch of 2 events: Error: bad row 2 (line 5)" in log, log)
    eq(ids(out, "it_js_fail"), [1], "the failed batch was not delivered")
    fixed = FAILING.replace("throw new Error", "e.after.kind = 'fixed'; // ")
    s2 = sltest.start_sluice(spec_for("it-js-fail", "it_js_fail", out, fixed), data_dir=data)
    wait_until(lambda: ids(out, "it_js_fail") == [1, 2, 3], 20,
               what="the failed batch replayed after the fix")
    s2.stop()
    drop_slot("it_js_fail")


def test_runaway_loop_with_fail_stops_cleanly_at_the_timeout():
    make_table("it_js_loop")
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec_for("it-js-loop", "it_js_loop", out,
                                     "function process(b) { while (true) {} }",
                                     limits={"timeout_ms": 300, "cpu_ms": 10000}))
    s.wait_log("streaming from slot")
    t0 = time.monotonic()
    psql("insert into it_js_loop values (1, 'ok', 1, 1)")
    eq(s.wait(20), 1)
    check(time.monotonic() - t0 < 10, "stopped promptly")
    check("timeout_ms exceeded: the call ran for more than 300 ms" in s.log(), s.log())
    drop_slot("it_js_loop")


def test_validate_rejects_a_syntax_error_with_its_line():
    spec = spec_for("it-js-bad", "x", "/tmp", "function process(b) {\n  return b.map(;\n}\n")
    v = sltest.Sluice(["validate", sltest.write_spec(spec)])
    eq(v.wait(), 2)
    check("spec.processors[0].inline: does not compile: SyntaxError" in v.log() and
          "line 2" in v.log(), v.log())


if __name__ == "__main__":
    sltest.main()
