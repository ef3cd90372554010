"""test_cli.py - the command line: --version, --help, usage errors, JSON logs, validate
with several files, and a SIGINT stop with a clean exit code."""

import json
import os
import signal

import sltest
from sltest import check, eq


def run(args, **kw):
    s = sltest.Sluice(args, **kw)
    rc = s.wait(20)
    return rc, s.log()


def test_version_and_help():
    rc, out = run(["--version"])
    eq(rc, 0)
    check(out.startswith("sluice "), out)
    rc, out = run(["--help"])
    eq(rc, 0)
    for word in ("run SPEC", "validate SPEC", "--data-dir", "--log-format", "--log-level"):
        check(word in out, "help mentions %s:\n%s" % (word, out))


def test_usage_errors_exit_2():
    for args in (["frobnicate"], ["run"], ["run", "a.yaml", "b.yaml"], ["--bogus"],
                 ["--log-format", "xml", "validate", "x"], ["--log-level", "loud", "run", "x"],
                 ["validate"]):
        rc, out = run(args)
        eq(rc, 2, "exit status of %r (%s)" % (args, out))


def test_missing_spec_file_names_it():
    rc, out = run(["validate", "/nonexistent/spec.yaml"])
    eq(rc, 2)
    check("/nonexistent/spec.yaml" in out, out)


def test_json_logs_are_one_object_per_line():
    out_dir = sltest.tmpdir("out")
    psql = sltest.psql
    psql("drop table if exists it_cli; create table it_cli (id int primary key)")
    spec = {"metadata": {"name": "it-cli"}, "spec": {
        "source": {"type": "postgres", "config": {
            "id": "pg", "dsn": os.environ["SL_PG_DSN"] + " password=s3cr3t-pw",
            "slot": "it_cli",
            "publication": "it_cli_pub", "tables": ["public.it_cli"]}},
        "sinks": [{"type": "file", "config": {"id": "f",
                                              "path": os.path.join(out_dir, "x.jsonl")}}]}}
    s = sltest.start_sluice(spec, extra_args=["--log-format", "json", "--log-level", "debug"])
    s.wait_log("streaming from slot")
    s.signal(signal.SIGINT)
    eq(s.wait(20), 0, "SIGINT stops cleanly")
    lines = [l for l in s.log().splitlines() if l.strip()]
    check(len(lines) >= 3, s.log())
    for l in lines:
        obj = json.loads(l)
        for k in ("ts", "level", "src", "msg"):
            check(k in obj, "log line has %s: %s" % (k, l))
    check(any(json.loads(l).get("level") == "debug" for l in lines), "debug lines present")
    check("s3cr3t-pw" not in s.log(), "the DSN password never reaches the logs")
    sltest.psql("select pg_drop_replication_slot('it_cli')")


if __name__ == "__main__":
    sltest.main()
