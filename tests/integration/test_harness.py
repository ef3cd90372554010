"""test_harness.py - proves the integration harness itself works against the real servers
(PostgreSQL through psql, Redis through sltest's RESP client). Needs no sluice binary."""

import os

import sltest
from sltest import eq, check


def test_psql_round_trip_on_logical_server():
    eq(sltest.psql("show wal_level"), "logical")
    sltest.psql("drop table if exists harness_rt; "
                "create table harness_rt (id int primary key, note text)")
    sltest.psql("insert into harness_rt values (1, 'a|b'), (2, 'naïve'), (3, null)")
    rows = sltest.psql_rows("select id, note from harness_rt order by id")
    eq(rows, [["1", "a|b"], ["2", "naïve"], ["3", ""]])
    sltest.psql("drop table harness_rt")


def test_psql_failure_raises_with_server_message():
    try:
        sltest.psql("select * from no_such_table_here")
    except sltest.TestFailure as e:
        check("no_such_table_here" in str(e), "message should name the table: %s" % e)
    else:
        raise sltest.TestFailure("psql error was not raised")


def test_redis_xadd_xrange_round_trip():
    with sltest.redis() as r:
        eq(r.ping(), "PONG")
        r.delete("harness:s")
        fields = [{"key": '{"id":1}', "value": '{"op":"c","after":{"t":"line1\\nline2"}}'},
                  {"key": "null", "value": "é \r\n binary\x00ok"}]
        ids = [r.xadd("harness:s", f) for f in fields]
        entries = r.xrange("harness:s")
        eq([e[0] for e in entries], ids)
        eq([e[1] for e in entries], fields)
        eq(r.xlen("harness:s"), 2)
        r.command("SET", "harness:str", "x")
        try:
            r.xadd("harness:str", {"k": "v"})
        except sltest.RedisError as e:
            check(str(e).startswith("WRONGTYPE"), "unexpected error reply: %s" % e)
        else:
            raise sltest.TestFailure("XADD on a string key did not fail")
        r.delete("harness:s", "harness:str")


def test_helpers_temp_files_and_timeouts():
    d = sltest.tmpdir()
    path = os.path.join(d, "x.jsonl")
    with open(path, "w") as f:
        f.write('{"a":1}\n{"b":[2]}\n')
    eq(sltest.read_jsonl(path), [{"a": 1}, {"b": [2]}])
    eq(sltest.read_jsonl(os.path.join(d, "missing.jsonl")), [])
    spec = sltest.write_spec({"metadata": {"name": "x"}}, dir=d)
    check(open(spec).read().startswith("{"), "spec written as JSON")
    try:
        sltest.wait_until(lambda: False, timeout=0.2, what="never")
    except sltest.TestFailure as e:
        check("never" in str(e), str(e))
    else:
        raise sltest.TestFailure("wait_until did not time out")


if __name__ == "__main__":
    sltest.main()
