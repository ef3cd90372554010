"""test_snapshot.py - initial snapshots of the PostgreSQL source: consistent with the stream
under concurrent writers, resumable after kill -9, every mode, first/last markers, and the
same JSON for snapshot rows as for streamed rows."""

import json
import os
import subprocess
import time

import sltest
from sltest import check, eq, wait_until, psql


def spec(name, tables, out, snapshot, batch=None):
    s = {"metadata": {"name": name}, "spec": {
        "source": {"type": "postgres", "config": {
            "id": "pg", "dsn": os.environ["SL_PG_DSN"], "slot": name.replace("-", "_"),
            "publication": name.replace("-", "_") + "_pub", "tables": tables,
            "snapshot": snapshot}},
        "sinks": [{"type": "file", "config": {"id": "f",
                                              "path": os.path.join(out, "{table}.jsonl")}}]}}
    if batch:
        s["spec"]["batch"] = batch
    return s


def events(out, table):
    return sltest.read_jsonl(os.path.join(out, table + ".jsonl"))


def replay(evs):
    """Apply events in order; returns {id: row}."""
    state = {}
    for e in evs:
        if e["op"] in ("r", "c", "u"):
            if e["op"] == "u" and e["before"] and e["before"]["id"] != e["after"]["id"]:
                state.pop(e["before"]["id"], None)
            state[e["after"]["id"]] = e["after"]
        elif e["op"] == "d":
            state.pop(e["before"]["id"], None)
        elif e["op"] == "t":
            state.clear()
    return state


def eq_state(got, want, msg, again=None):
    """Compare replayed state with the table, reporting only the keys that differ. With
    again (a function returning a fresh state), a mismatch is re-checked after 5 s and the
    message says whether the missing events arrived late."""
    if got == want:
        return
    late = ""
    if again:
        time.sleep(5)
        late = " (5 s later: %s)" % ("converged: events arrived after the slot confirmed"
                                     if again() == want else "still different")
    diff = {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)}
    sample = dict(list(sorted(diff.items()))[:10])
    raise sltest.TestFailure("%s%s: %d keys differ (got, want): %r" % (msg, late, len(diff),
                                                                    sample))


def table_rows(table):
    out = psql("select coalesce(json_agg(t order by id), '[]') from %s t" % table)
    return {r["id"]: r for r in json.loads(out)}


def wait_caught_up(slot, timeout=60):
    target = psql("select pg_current_wal_insert_lsn()")
    wait_until(lambda: psql("select confirmed_flush_lsn >= '%s'::pg_lsn from "
                            "pg_replication_slots where slot_name = '%s'" % (target, slot)) == "t",
               timeout, what="slot %s to confirm %s" % (slot, target))


def drop_slot(slot):
    wait_until(lambda: psql("select count(*) from pg_replication_slots where slot_name = "
                            "'%s' and active" % slot) == "0", 15, what="slot inactive")
    psql("select pg_drop_replication_slot(slot_name) from pg_replication_slots "
         "where slot_name = '%s'" % slot)


def writer(table, n, iterations, pause="0.002"):
    """Background psql updating, deleting and inserting rows of table, one tx each."""
    sql = """do $$ declare k int; begin
      for i in 1..%d loop
        k := 1 + (random() * %d)::int;
        case i %% 4
          when 0 then delete from %s where id = k;
          when 1 then insert into %s values (%d + i, i, 'new') on conflict (id) do nothing;
          else update %s set v = v + 1, s = 'upd' || i where id = k;
        end case;
        commit;
        perform pg_sleep(%s);
      end loop; end $$""" % (iterations, n, table, table, n, table, pause)
    return subprocess.Popen(["psql", os.environ["SL_PG_DSN"], "-v", "ON_ERROR_STOP=1", "-Xqc",
                             sql], stdout=subprocess.DEVNULL)


def make_table(table, n):
    psql("drop table if exists %s; create table %s (id int primary key, v int, s text);"
         "insert into %s select g, g, 'row' || g from generate_series(1, %d) g"
         % (table, table, table, n))


def test_snapshot_with_concurrent_writers_matches_the_table():
    make_table("sn_a", 20000)
    make_table("sn_b", 5000)
    out = sltest.tmpdir("out")
    w1 = writer("sn_a", 20000, 1500)
    w2 = writer("sn_b", 5000, 1500)
    s = sltest.start_sluice(spec("sn-cons", ["public.sn_a", "public.sn_b"], out,
                                 {"mode": "initial", "chunk_size": 500,
                                  "max_parallel_tables": 2}))
    s.wait_log("snapshot: complete", timeout=60)
    eq(w1.wait(60), 0)
    eq(w2.wait(60), 0)
    wait_caught_up("sn_cons")
    for t in ("sn_a", "sn_b"):
        evs = events(out, t)
        check(any(e["op"] == "r" for e in evs) and any(e["op"] != "r" for e in evs),
              "both snapshot rows and changes for %s" % t)
        eq_state(replay(evs), table_rows(t), "replayed events == table %s" % t,
                 again=lambda: replay(events(out, t)))
        first = [e for e in evs if e["op"] == "r"][0]
        eq((first["before"], first["source"]["snapshot"]), (None, first["source"]["snapshot"]))
        check(first["transaction"] is None, "snapshot rows have no transaction block")
    marks = [e["source"]["snapshot"] for t in ("sn_a", "sn_b") for e in events(out, t)
             if e["op"] == "r"]
    eq((marks.count("first"), marks.count("last")), (1, 1), "one first and one last mark")
    check(all(e["source"]["snapshot"] == "false" for t in ("sn_a", "sn_b")
              for e in events(out, t) if e["op"] != "r"), "streamed rows say false")
    s.stop()
    drop_slot("sn_cons")


def test_kill9_during_snapshot_resumes_from_the_last_acknowledged_chunk():
    make_table("sn_k", 60000)
    out = sltest.tmpdir("out")
    data = sltest.tmpdir("data")
    path = sltest.write_spec(spec("sn-kill", ["public.sn_k"], out,
                                  {"mode": "initial", "chunk_size": 2000},
                                  batch={"max_events": 2000}))
    w = writer("sn_k", 60000, 3000, pause="0.001")
    s = sltest.start_sluice(path, data_dir=data)
    # poll the file size (cheap): parsing a growing file under load is slow enough that
    # the whole snapshot could finish before the kill
    f = os.path.join(out, "sn_k.jsonl")
    wait_until(lambda: os.path.exists(f) and os.path.getsize(f) > 3000000, 60,
               what="some snapshot rows")
    s.kill()
    first_run = len(events(out, "sn_k"))
    ck = json.load(open(os.path.join(data, "sn-kill", "checkpoint.json")))
    check("snapshot" in ck["position"], "progress checkpointed: %r" % ck)
    s2 = sltest.start_sluice(path, data_dir=data, extra_args=["--log-level", "debug"])
    s2.wait_log("resuming", timeout=30)
    s2.wait_log("snapshot: complete", timeout=90)
    eq(w.wait(90), 0)
    wait_caught_up("sn_kill")
    evs = events(out, "sn_k")
    target = psql("select pg_current_wal_insert_lsn()")
    try:
        eq_state(replay(evs), table_rows("sn_k"), "replayed events == table after a kill",
                 again=lambda: replay(events(out, "sn_k")))
    except sltest.TestFailure as e:
        import re as _re
        lines = [l for l in s2.log().splitlines()
                 if _re.search("idle:|confirmed flush|moves the checkpoint|streaming", l)]
        raise sltest.TestFailure("%s\ntarget %s\n%s" % (e, target, "\n".join(lines[-40:])))
    reads = sum(1 for e in evs if e["op"] == "r")
    check(reads < 60000 + first_run, "resumed instead of starting over (%d reads)" % reads)
    s2.stop()
    drop_slot("sn_kill")


def test_modes_initial_only_always_never():
    make_table("sn_m", 300)
    out = sltest.tmpdir("out")
    data = sltest.tmpdir("data")
    # initial_only: snapshot then stop by itself
    s = sltest.start_sluice(spec("sn-only", ["public.sn_m"], out, "initial_only"), data_dir=data)
    eq(s.wait(30), 0, "initial_only exits by itself")
    eq(sum(1 for e in events(out, "sn_m") if e["op"] == "r"), 300)
    drop_slot("sn_only")

    # always: every start snapshots again
    out2 = sltest.tmpdir("out")
    path = sltest.write_spec(spec("sn-always", ["public.sn_m"], out2, "always"))
    for run in (1, 2):
        s = sltest.start_sluice(path, data_dir=data)
        s.wait_log("snapshot: complete", timeout=30)
        eq(s.stop(), 0)
        eq(sum(1 for e in events(out2, "sn_m") if e["op"] == "r"), 300 * run)
    drop_slot("sn_always")

    # initial: only the first start (no checkpoint) snapshots
    out3 = sltest.tmpdir("out")
    path = sltest.write_spec(spec("sn-initial", ["public.sn_m"], out3, {"mode": "initial"}))
    for _ in range(2):
        s = sltest.start_sluice(path, data_dir=data)
        s.wait_log("streaming from slot", timeout=30)
        eq(s.stop(), 0)
    eq(sum(1 for e in events(out3, "sn_m") if e["op"] == "r"), 300)
    drop_slot("sn_initial")

    # never: streams only
    out4 = sltest.tmpdir("out")
    s = sltest.start_sluice(spec("sn-never", ["public.sn_m"], out4, "never"), data_dir=data)
    s.wait_log("streaming from slot", timeout=30)
    psql("insert into sn_m values (1000, 1, 'x')")
    wait_until(lambda: len(events(out4, "sn_m")) >= 1, 15, what="streamed row")
    eq([e["op"] for e in events(out4, "sn_m")], ["c"])
    s.stop()
    drop_slot("sn_never")


def test_snapshot_rows_map_types_like_streamed_rows():
    psql("""drop table if exists sn_types;
      create table sn_types (id int primary key, b bool, i8 int8, f8 float8, n numeric,
        t text, by bytea, j jsonb, d date, ts timestamp, tz timestamptz, a int[], iv interval,
        u uuid);""")
    row = ("true, -9223372036854775808, 'NaN', 1.50, E'q\"\\\\ \\n', '\\x00ff', "
           "'{\"k\": [1, null]}', '2024-02-29', '2024-02-29 01:02:03.5', "
           "'2024-02-29 01:02:03+05', '{1,NULL}', '1 day', "
           "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'")
    psql("insert into sn_types values (1, %s)" % row)
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec("sn-types", ["public.sn_types"], out, "initial"))
    s.wait_log("streaming from slot", timeout=30)
    psql("insert into sn_types values (2, %s)" % row)
    evs = wait_until(lambda: (lambda e: e if len(e) >= 2 else None)(events(out, "sn_types")),
                     15, what="2 events")
    eq([e["op"] for e in evs], ["r", "c"])
    a, b = dict(evs[0]["after"]), dict(evs[1]["after"])
    a.pop("id")
    b.pop("id")
    eq(a, b, "snapshot and stream give the same JSON values")
    eq(a["i8"], -9223372036854775808)
    s.stop()
    drop_slot("sn_types")


def test_snapshot_rows_have_the_columns_streamed_rows_have():
    """pgoutput sends neither generated columns (PostgreSQL < 18) nor columns outside a
    publication's column list, and never dropped ones: snapshot rows leave them out too,
    in column order; rows a publication's row filter holds back are not read either. Odd names (quotes, a space, non-ASCII) in the table and the two-column
    key are read in chunks of 2."""
    tq = '"sn odd ""t"" ü"'
    psql("drop table if exists %s;"
         "create table %s (\"k\"\"ey\" text, n int, a int, gone int, b text,"
         " g int generated always as (a * 2) stored, primary key (\"k\"\"ey\", n));"
         "alter table %s drop column gone;"
         "insert into %s (\"k\"\"ey\", n, a, b)"
         " select 'k''' || (i %% 3), i, i, 'b' || i from generate_series(1, 7) i;"
         % (tq, tq, tq, tq))
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec("sn-cols", ['public.sn odd "t" ü'], out,
                                 {"mode": "initial", "chunk_size": 2}))
    s.wait_log("streaming from slot", timeout=30)
    psql("insert into %s (\"k\"\"ey\", n, a, b) values ('z', 1, 100, 'bz')" % tq)
    evs = wait_until(lambda: (lambda e: e if len(e) >= 8 else None)(events(out, 'sn odd "t" ü')),
                     15, what="8 events")
    eq([e["op"] for e in evs], ["r"] * 7 + ["c"])
    eq([list(e["after"]) for e in evs], [['k"ey', "n", "a", "b"]] * 8, "columns, in order")
    eq(sorted(e["after"]["n"] for e in evs[:7]), list(range(1, 8)))
    eq(sorted({e["after"]['k"ey'] for e in evs[:7]}), ["k'0", "k'1", "k'2"])
    s.stop()
    drop_slot("sn_cols")

    # a publication with a column list and a row filter (PostgreSQL 15+), made by the
    # user; the filter ANDs with snapshot.where
    psql("drop publication if exists sn_collist_pub;"
         "drop table if exists sn_cl; create table sn_cl (id int primary key, a int, secret text);"
         "insert into sn_cl select i, i, 's' || i from generate_series(1, 12) i;"
         "create publication sn_collist_pub for table sn_cl (id, a) where (a % 2 = 0)")
    out = sltest.tmpdir("out")
    sp = spec("sn-collist", ["public.sn_cl"], out,
              {"mode": "initial", "chunk_size": 2, "where": {"public.sn_cl": "id <> 4"}})
    sp["spec"]["source"]["config"]["create_publication"] = False
    s = sltest.start_sluice(sp)
    s.wait_log("streaming from slot", timeout=30)
    psql("insert into sn_cl values (13, 13, 'z'), (14, 14, 'z')")
    evs = wait_until(lambda: (lambda e: e if len(e) >= 6 else None)(events(out, "sn_cl")),
                     15, what="6 events")
    eq([(e["op"], e["after"]) for e in evs],
       [("r", {"id": i, "a": i}) for i in (2, 6, 8, 10, 12)] + [("c", {"id": 14, "a": 14})])
    s.stop()
    drop_slot("sn_collist")
    psql("drop publication sn_collist_pub")


def test_last_mark_when_rows_are_an_exact_multiple_of_the_chunk():
    make_table("sn_x", 1000)
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec("sn-exact", ["public.sn_x"], out,
                                 {"mode": "initial_only", "chunk_size": 250}))
    eq(s.wait(30), 0)
    marks = [e["source"]["snapshot"] for e in events(out, "sn_x")]
    eq(len(marks), 1000)
    eq((marks[0], marks[-1], marks.count("first"), marks.count("last")),
       ("first", "last", 1, 1))
    drop_slot("sn_exact")


def test_snapshot_where_filter_and_keyless_table():
    psql("drop table if exists sn_nokey; create table sn_nokey (v int);"
         "insert into sn_nokey select generate_series(1, 2500)")
    make_table("sn_w", 1000)
    out = sltest.tmpdir("out")
    s = sltest.start_sluice(spec("sn-where", ["public.sn_nokey", "public.sn_w"], out,
                                 {"mode": "initial_only", "chunk_size": 1000,
                                  "where": {"public.sn_w": "id % 10 = 0"}}))
    eq(s.wait(30), 0)
    # the application's UPDATE / DELETE on a keyless published table fail: sluice says so
    check("table public.sn_nokey has no replica identity" in s.log()
          and "REPLICA IDENTITY FULL" in s.log() and "table public.sn_w has" not in s.log(),
          s.log())
    eq(sorted(e["after"]["v"] for e in events(out, "sn_nokey")), list(range(1, 2501)))
    eq(sorted(e["after"]["id"] for e in events(out, "sn_w")), list(range(10, 1001, 10)))
    drop_slot("sn_where")


if __name__ == "__main__":
    sltest.main()
