"""test_api.py - `sluice serve` driven over HTTP against the real PostgreSQL and Redis: the
whole lifecycle, persistence across restarts, readiness, auth, metrics, every error path,
and malformed bodies that must never crash or hang the server."""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time

import sltest
from sltest import check, eq, wait_until, psql

TOKEN = "t0ken-" + "x" * 20


class Server:
    def __init__(self, data_dir=None, args=(), env=None):
        self.data_dir = data_dir or sltest.tmpdir("serve")
        self.args = list(args)
        self.env = env or {}
        self.start()

    def start(self):
        self.proc = sltest.Sluice(["serve", "--listen", "127.0.0.1:0", "--data-dir",
                                   self.data_dir] + self.args, env=self.env)
        m = self.proc.wait_log(r"listening on http://127\.0\.0\.1:(\d+)")
        self.port = int(m.group(1))

    def req(self, method, path, body=None, ctype="application/json", token=None,
            headers=None, raw=False):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        h = dict(headers or {})
        if body is not None:
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode()
            if ctype:
                h["Content-Type"] = ctype
        if token:
            h["Authorization"] = "Bearer " + token
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        if raw:
            return r.status, data
        try:
            return r.status, json.loads(data) if data else None
        except ValueError:
            return r.status, data.decode("utf-8", "replace")

    def stop(self):
        return self.proc.stop()


def pg_spec(name, table, out, **extra):
    spec = {
        "metadata": {"name": name, "tenant": extra.pop("tenant", "acme")},
        "spec": {
            "source": {"type": "postgres", "config": {
                "id": "pg", "dsn": os.environ["SL_PG_DSN"], "slot": name.replace("-", "_"),
                "publication": name.replace("-", "_") + "_pub", "tables": ["public." + table]}},
            "sinks": [
                {"type": "file", "config": {"id": "file", "path": os.path.join(out, "{table}.jsonl")}},
                {"type": "redis", "config": {"id": "redis", "uri": os.environ["SL_REDIS_URI"],
                                             "stream": name + ".{table}"}},
            ],
            "batch": {"max_events": 100, "max_ms": 50},
        },
    }
    spec["spec"].update(extra)
    return spec


def ids(out, table):
    """Row ids inserted or read: rows written right after "running" may still land before
    the snapshot's consistent point and arrive as snapshot reads ("r")."""
    return [e["after"]["id"] for e in sltest.read_jsonl(os.path.join(out, table + ".jsonl"))
            if e["op"] in ("c", "r")]


def drop_slot(slot):
    wait_until(lambda: psql("select count(*) from pg_replication_slots where slot_name = "
                            "'%s' and active" % slot) == "0", 15, what="slot inactive")
    psql("select pg_drop_replication_slot(slot_name) from pg_replication_slots "
         "where slot_name = '%s'" % slot)


def wait_status(srv, name, status, timeout=20):
    def ok():
        st, body = srv.req("GET", "/pipelines/" + name)
        return body if st == 200 and body["status"] == status else None
    return wait_until(ok, timeout, what="%s to be %s" % (name, status))


def test_lifecycle_create_pause_resume_patch_stop_restart_delete():
    psql("drop table if exists api_life; create table api_life (id int primary key, v text)")
    out = sltest.tmpdir("out")
    srv = Server()
    st, body = srv.req("POST", "/pipelines", pg_spec("api-life", "api_life", out))
    eq(st, 201, body)
    eq(body["name"], "api-life")
    wait_status(srv, "api-life", "running")
    wait_until(lambda: srv.req("GET", "/readyz")[0] == 200, 15, what="ready")

    psql("insert into api_life select g, 'a' from generate_series(1, 50) g")
    wait_until(lambda: len(ids(out, "api_life")) >= 50, 20, what="50 rows")

    # list, tenant filter
    st, lst = srv.req("GET", "/pipelines")
    eq((st, [p["name"] for p in lst]), (200, ["api-life"]))
    eq(srv.req("GET", "/pipelines?tenant=acme")[1][0]["name"], "api-life")
    eq(srv.req("GET", "/pipelines?tenant=other")[1], [])
    # conflict
    st, body = srv.req("POST", "/pipelines", pg_spec("api-life", "api_life", out))
    eq((st, body["error"]["code"]), (409, "exists"))

    # pause: rows written while paused are not delivered until resume; no loss
    eq(srv.req("POST", "/pipelines/api-life/pause")[1]["status"], "paused")
    eq(srv.req("POST", "/pipelines/api-life/pause")[0], 200, "pause twice is a no-op")
    psql("insert into api_life select g, 'p' from generate_series(51, 100) g")
    time.sleep(1.0)
    eq(len(ids(out, "api_life")), 50, "nothing delivered while paused")
    eq(srv.req("POST", "/pipelines/api-life/resume")[1]["status"], "running")
    wait_until(lambda: len(ids(out, "api_life")) >= 100, 20, what="rows after resume")

    # patch: batch size and the redis stream name; restart from checkpoint, no loss
    st, body = srv.req("PATCH", "/pipelines/api-life",
                       {"spec": {"batch": {"max_events": 7},
                                 "sinks": [pg_spec("api-life", "api_life", out)["spec"]["sinks"][0],
                                           {"type": "redis", "config": {
                                               "id": "redis", "uri": os.environ["SL_REDIS_URI"],
                                               "stream": "api-life-v2.{table}"}}]}},
                       ctype="application/merge-patch+json")
    eq(st, 200, body)
    eq(body["spec"]["spec"]["batch"]["max_events"], 7)
    wait_status(srv, "api-life", "running")
    psql("insert into api_life select g, 'q' from generate_series(101, 120) g")
    with sltest.redis() as r:
        wait_until(lambda: r.xlen("api-life-v2.api_life") >= 20, 20, what="patched stream")
    # invalid patch: 400 and nothing changes; renaming: 400
    st, body = srv.req("PATCH", "/pipelines/api-life", {"spec": {"batch": {"max_events": 0}}})
    eq((st, body["error"]["code"]), (400, "invalid_spec"))
    check(any(d["field"] == "spec.batch.max_events" for d in body["error"]["details"]), body)
    eq(srv.req("GET", "/pipelines/api-life")[1]["spec"]["spec"]["batch"]["max_events"], 7)
    st, body = srv.req("PATCH", "/pipelines/api-life", {"metadata": {"name": "other"}})
    eq((st, body["error"]["code"]), (400, "name_change"))

    # stop: persisted; pause on stopped is 409; restart the server: still stopped
    eq(srv.req("POST", "/pipelines/api-life/stop")[1]["status"], "stopped")
    st, body = srv.req("POST", "/pipelines/api-life/pause")
    eq((st, body["error"]["code"]), (409, "invalid_state"))
    psql("insert into api_life select g, 's' from generate_series(121, 130) g")
    eq(srv.stop(), 0)
    srv.start()
    eq(srv.req("GET", "/pipelines/api-life")[1]["status"], "stopped")
    # start again: continues from its checkpoint, nothing lost, nothing twice
    eq(srv.req("POST", "/pipelines/api-life/start")[0], 200)
    wait_until(lambda: len(ids(out, "api_life")) >= 130, 20, what="rows after start")
    time.sleep(0.5)
    got = ids(out, "api_life")
    eq(sorted(got), list(range(1, 131)), "each row exactly once across pause/patch/stop")

    # restart the server while running: the pipeline comes back running, from its checkpoint
    eq(srv.stop(), 0)
    psql("insert into api_life select g, 'r' from generate_series(131, 140) g")
    srv.start()
    wait_status(srv, "api-life", "running")
    wait_until(lambda: len(ids(out, "api_life")) >= 140, 20, what="rows after server restart")
    st, one = srv.req("GET", "/pipelines/api-life")
    check(one["checkpoint"]["position"]["lsn"], one)
    check(one["stats"]["events_out"] >= 0 and "sinks" in one["stats"], one)

    # delete with the slot
    st, body = srv.req("DELETE", "/pipelines/api-life?drop_slot=true")
    eq((st, body["slot_dropped"]), (200, True), body)
    eq(srv.req("GET", "/pipelines/api-life")[0], 404)
    eq(psql("select count(*) from pg_replication_slots where slot_name = 'api_life'"), "0")
    srv.stop()


def test_readiness_follows_the_source_database():
    psql("drop table if exists api_ready; create table api_ready (id int primary key);"
         "drop role if exists sl_ready; create role sl_ready superuser replication login")
    out = sltest.tmpdir("out")
    srv = Server()
    spec = pg_spec("api-ready", "api_ready", out)
    spec["spec"]["source"]["config"]["dsn"] = os.environ["SL_PG_DSN"].replace(
        "user=postgres", "user=sl_ready")
    eq(srv.req("POST", "/pipelines", spec)[0], 201)
    wait_until(lambda: srv.req("GET", "/readyz")[0] == 200, 15, what="ready")
    # cut the source off: its role may no longer log in, and its sessions are ended
    psql("alter role sl_ready nologin")
    try:
        psql("select pg_terminate_backend(pid) from pg_stat_activity where usename = 'sl_ready'")
        st, body = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(
            srv.req("GET", "/readyz")), 15, what="readyz 503")
        eq(body["status"], "not_ready")
        check("reason" in body["pipelines"][0], body)
        eq(srv.req("GET", "/healthz")[0], 200, "liveness unaffected")
    finally:
        psql("alter role sl_ready login")
    wait_until(lambda: srv.req("GET", "/readyz")[0] == 200, 40, what="ready again")
    srv.req("DELETE", "/pipelines/api-ready?drop_slot=true")
    srv.stop()


def test_auth_token_protects_everything_but_probes():
    tf = os.path.join(sltest.tmpdir("tok"), "token")
    with open(tf, "w") as f:
        f.write(TOKEN + "\n")
    srv = Server(args=["--auth-token-file", tf])
    eq(srv.req("GET", "/healthz")[0], 200)
    eq(srv.req("GET", "/readyz")[0], 200)
    for path in ("/pipelines", "/metrics", "/pipelines/x"):
        eq(srv.req("GET", path)[0], 401, path)
        eq(srv.req("GET", path, token="wrong")[0], 401, path)
    eq(srv.req("GET", "/pipelines", token=TOKEN)[0], 200)
    eq(srv.req("GET", "/metrics", token=TOKEN)[0], 200)
    srv.stop()
    srv2 = Server(env={"SLUICE_AUTH_TOKEN": TOKEN})
    eq(srv2.req("GET", "/pipelines")[0], 401)
    eq(srv2.req("GET", "/pipelines", token=TOKEN)[0], 200)
    srv2.stop()


def test_error_paths_and_secret_masking():
    out = sltest.tmpdir("out")
    srv = Server()
    spec = pg_spec("api-err", "nope_table", out)
    spec["spec"]["source"]["config"]["dsn"] = os.environ["SL_PG_DSN"] + " password=hunter2"
    st, body = srv.req("POST", "/validate", spec)
    eq((st, body), (200, {"valid": True, "name": "api-err"}))
    bad = json.loads(json.dumps(spec))
    bad["spec"]["batch"]["max_events"] = -1
    bad["spec"]["source"]["config"]["bogus"] = True
    st, body = srv.req("POST", "/validate", bad)
    eq(st, 400)
    fields = {d["field"] for d in body["error"]["details"]}
    check({"spec.batch.max_events", "spec.source.config.bogus"} <= fields, body)
    eq(srv.req("POST", "/pipelines", bad)[0], 400)
    eq(srv.req("POST", "/pipelines", "x: [", ctype="application/yaml")[0], 400)
    eq(srv.req("POST", "/pipelines", "{}", ctype="text/html")[0], 415)
    eq(srv.req("POST", "/pipelines", b"x" * (2 << 20))[0], 413)
    eq(srv.req("GET", "/pipelines/nope")[0], 404)
    eq(srv.req("POST", "/pipelines/nope/pause")[0], 404)
    eq(srv.req("DELETE", "/pipelines/nope")[0], 404)
    eq(srv.req("GET", "/nowhere")[0], 404)
    eq(srv.req("PUT", "/pipelines")[0], 405)
    st, body = srv.req("GET", "/pipelines/nope")
    check(set(body["error"].keys()) == {"code", "message", "details"}, body)
    # created but never startable (table missing): status failed with the reason, masked
    st, body = srv.req("POST", "/pipelines?start=false", spec)
    eq((st, body["status"]), (201, "stopped"))
    text = json.dumps(body)
    check("hunter2" not in text, "password masked: " + text)
    check("password=****" in body["spec"]["spec"]["source"]["config"]["dsn"], text)
    # values from ${VAR} are masked; YAML bodies work
    yaml_spec = """
metadata: {name: api-env}
spec:
  source:
    type: postgres
    config: {id: pg, dsn: "${SL_PG_DSN}", slot: api_env, publication: api_env_pub,
             tables: [public.nope_table]}
  sinks:
    - type: file
      config: {id: f, path: /tmp/x.jsonl}
"""
    st, body = srv.req("POST", "/pipelines?start=false", yaml_spec, ctype="application/yaml")
    eq(st, 201, body)
    eq(body["spec"]["spec"]["source"]["config"]["dsn"], "****")
    log = srv.proc.log()
    check("hunter2" not in log, "password never logged")
    srv.req("DELETE", "/pipelines/api-err")
    srv.req("DELETE", "/pipelines/api-env")
    srv.stop()


def test_metrics_exposition():
    psql("drop table if exists api_met; create table api_met (id int primary key)")
    out = sltest.tmpdir("out")
    srv = Server()
    eq(srv.req("POST", "/pipelines", pg_spec("api-met", "api_met", out))[0], 201)
    wait_status(srv, "api-met", "running")
    psql("insert into api_met select generate_series(1, 30)")
    wait_until(lambda: len(ids(out, "api_met")) >= 30, 20, what="rows")
    def metrics():
        st, data = srv.req("GET", "/metrics", raw=True)
        eq(st, 200)
        return data.decode()
    text = wait_until(lambda: (lambda t: t if re.search(
        r'sluice_events_committed_total\{pipeline="api-met"\} 30\b', t) else None)(metrics()),
        10, what="committed counter")
    for name in ("sluice_events_read_total", "sluice_sink_events_written_total",
                 "sluice_batches_total", "sluice_batch_size_events_bucket",
                 "sluice_end_to_end_latency_seconds_count", "sluice_source_lag_seconds",
                 "sluice_checkpoint_position", "sluice_checkpoint_age_seconds",
                 "sluice_sink_errors_total", "sluice_sink_retries_total",
                 "sluice_processor_seconds_total", "sluice_queue_depth_batches",
                 "sluice_pipeline_state", "sluice_snapshot_rows_total",
                 "process_resident_memory_bytes", "sluice_uptime_seconds"):
        check(name in text, "metric %s present" % name)
    check(re.search(r'sluice_sink_events_written_total\{pipeline="api-met",sink="redis"\} 30',
                    text), text[:2000])
    check(re.search(r'sluice_pipeline_state\{pipeline="api-met",state="running"\} 1', text),
          "state gauge")
    for line in text.splitlines():
        check(line.startswith("#") or re.match(r'^[a-z_]+(\{[^}]*\})? [-0-9.e+Inf]+$', line),
              "exposition line: %r" % line)
    # counters survive a restart of the pipeline (patch)
    eq(srv.req("PATCH", "/pipelines/api-met", {"spec": {"batch": {"max_events": 5}}})[0], 200)
    wait_status(srv, "api-met", "running")
    check(re.search(r'sluice_events_committed_total\{pipeline="api-met"\} 30\b', metrics()),
          "counter carried over a restart")
    srv.req("DELETE", "/pipelines/api-met?drop_slot=true")
    srv.stop()


def test_pipelines_dir_applied_at_startup_idempotently():
    psql("drop table if exists api_dir; create table api_dir (id int primary key)")
    out = sltest.tmpdir("out")
    pdir = sltest.tmpdir("pdir")
    with open(os.path.join(pdir, "p.json"), "w") as f:
        json.dump(pg_spec("api-dir", "api_dir", out), f)
    data = sltest.tmpdir("data")
    srv = Server(data_dir=data, args=["--pipelines", pdir])
    wait_status(srv, "api-dir", "running")
    srv.stop()
    srv.start()
    check(re.search(r"pipeline api-dir unchanged", srv.proc.log()), srv.proc.log_tail())
    srv.stop()
    spec = pg_spec("api-dir", "api_dir", out)
    spec["spec"]["batch"]["max_events"] = 3
    with open(os.path.join(pdir, "p.json"), "w") as f:
        json.dump(spec, f)
    srv.start()
    check(re.search(r"pipeline api-dir changed", srv.proc.log()), srv.proc.log_tail())
    eq(srv.req("GET", "/pipelines/api-dir")[1]["spec"]["spec"]["batch"]["max_events"], 3)
    srv.req("DELETE", "/pipelines/api-dir?drop_slot=true")
    srv.stop()


def test_failing_pipeline_is_isolated_and_retried():
    psql("drop table if exists api_ok; create table api_ok (id int primary key)")
    out = sltest.tmpdir("out")
    srv = Server()
    eq(srv.req("POST", "/pipelines", pg_spec("api-ok", "api_ok", out))[0], 201)
    eq(srv.req("POST", "/pipelines", pg_spec("api-bad", "no_such_table_x", out))[0], 201)
    bad = wait_status(srv, "api-bad", "failed")
    check("no_such_table_x" in (bad["last_error"] or ""), bad)
    st, body = srv.req("GET", "/readyz")
    eq(st, 503)
    reasons = {p["name"]: p.get("reason") for p in body["pipelines"]}
    check(reasons["api-bad"] and not reasons["api-ok"], body)
    psql("insert into api_ok select generate_series(1, 20)")
    wait_until(lambda: len(ids(out, "api_ok")) >= 20, 20, what="healthy pipeline delivers")
    # fix the cause: the supervisor restarts it by itself
    psql("create table no_such_table_x (id int primary key)")
    wait_status(srv, "api-bad", "running", timeout=30)
    check(srv.req("GET", "/pipelines/api-bad")[1]["stats"]["restarts"] >= 1, "restarted")
    for n in ("api-ok", "api-bad"):
        srv.req("DELETE", "/pipelines/%s?drop_slot=true" % n)
    psql("drop table no_such_table_x")
    srv.stop()


def test_config_file_environment_and_flag_precedence():
    d = sltest.tmpdir("cfg")
    cfg = os.path.join(d, "sluice.yaml")
    with open(cfg, "w") as f:
        f.write("listen: 127.0.0.1:0\ndata_dir: %s/from-file\nlog_level: debug\n" % d)
    # config file beats the environment
    s = sltest.Sluice(["serve", "--config", cfg], env={"SLUICE_DATA_DIR": d + "/from-env"})
    s.wait_log(r"listening on .*data dir %s/from-file" % re.escape(d))
    s.stop()
    # a flag beats the config file
    s = sltest.Sluice(["serve", "--config", cfg, "--data-dir", d + "/from-flag"])
    s.wait_log(r"listening on .*data dir %s/from-flag" % re.escape(d))
    s.stop()
    # the environment beats the default
    s = sltest.Sluice(["serve", "--listen", "127.0.0.1:0"], env={"SLUICE_DATA_DIR": d + "/env"})
    s.wait_log(r"listening on .*data dir %s/env" % re.escape(d))
    s.stop()
    # unknown config keys are errors naming them
    with open(cfg, "w") as f:
        f.write("listen: 127.0.0.1:0\nbogus_key: 1\n")
    s = sltest.Sluice(["serve", "--config", cfg])
    eq(s.wait(10), 2)
    check("bogus_key" in s.log(), s.log())


def test_malformed_requests_never_crash_or_hang():
    srv = Server()
    bodies = [b"{", b'{"metadata":', b"[" * 100000, b"{" * 5000, b"\xff\xfe\x00garbage",
              b'{"metadata":{"name":"x"},"spec":' + b"9" * 5000 + b"}",
              b"a: &a [1,2]\nb: *a\n", b"\x00" * 100, b"null", b"[]", b'"str"',
              b"- - - - - -", b"a: " + b"[" * 1000,
              b'{"metadata":{"name":"\xc3\x28"}}',
              b'{"metadata":{"name":"n"},"spec":{"batch":{"max_events":1e400}}}']
    for b in bodies:
        for ctype in ("application/json", "application/yaml"):
            st, _ = srv.req("POST", "/pipelines", b, ctype=ctype)
            check(st in (400, 413), "status %d for %r" % (st, b[:40]))
            st, _ = srv.req("POST", "/validate", b, ctype=ctype)
            check(st in (400, 413), "validate status %d for %r" % (st, b[:40]))
    # raw garbage on the socket and half-open connections
    for junk in (b"GARBAGE\r\n\r\n", b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n",
                 b"POST /pipelines HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        try:
            s.sendall(junk)
        except OSError:
            pass
        s.close()
    idle = [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for _ in range(20)]
    eq(srv.req("GET", "/healthz")[0], 200, "still serving")
    for s in idle:
        s.close()
    check(srv.proc.alive(), "server alive")
    eq(srv.stop(), 0)


if __name__ == "__main__":
    sltest.main()
