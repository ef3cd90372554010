"""deploytest.py - stdlib-only helpers for the deploy tests (tests/helm/test_*.py): the
chart rendered by build/helm-render, the image's Dockerfile, and a throwaway `sluice serve`.

No YAML library is needed: the renderer also writes its manifests as JSON (--json).

A test file is a module with `test_*` functions and, at the bottom:

    if __name__ == "__main__":
        deploytest.main()

main() runs the functions in source order, prints `PASS name (secs)` or
`FAIL name: reason` for each, then the summary line `N passed, N failed`; the exit status
is 1 when a test failed. DT_TEST_FILTER=substr runs only the tests whose name contains
substr; DT_KEEP_TMP=1 keeps the temp dirs.
"""

import atexit
import inspect
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHART = os.path.join(ROOT, "deploy", "helm", "sluice")
RENDER = os.environ.get("HELM_RENDER", os.path.join(ROOT, "build", "helm-render"))
SLUICE = os.environ.get("SLUICE_BIN", os.path.join(ROOT, "sluice"))
VALUES_ALL = os.path.join(ROOT, "tests", "helm", "values-all.yaml")
DOCKERFILE = os.path.join(ROOT, "deploy", "Dockerfile")

_tmp_root = tempfile.mkdtemp(prefix="sluice-deploy.")
_procs = []


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    if not os.environ.get("DT_KEEP_TMP"):
        shutil.rmtree(_tmp_root, ignore_errors=True)


atexit.register(_cleanup)


class TestFailure(AssertionError):
    pass


def check(cond, msg="check failed"):
    if not cond:
        raise TestFailure(msg)


def eq(got, want, msg=""):
    if got != want:
        raise TestFailure("%s%sgot %r, want %r" % (msg, ": " if msg else "", got, want))


def tmpdir(name="t"):
    return tempfile.mkdtemp(prefix=name + ".", dir=_tmp_root)


# ---- rendering -----------------------------------------------------------------------

class Render:
    """One run of build/helm-render: rc, out (YAML stream), err, docs, notes."""

    def __init__(self, rc, out, err, docs, notes, yaml_path):
        self.rc, self.out, self.err, self.docs, self.notes = rc, out, err, docs, notes
        self.yaml_path = yaml_path

    def of_kind(self, kind):
        return [d for d in self.docs if d.get("kind") == kind]

    def one(self, kind):
        docs = self.of_kind(kind)
        eq(len(docs), 1, "number of %s manifests" % kind)
        return docs[0]

    def named(self, kind, name):
        for d in self.of_kind(kind):
            if d["metadata"]["name"] == name:
                return d
        raise TestFailure("no %s named %s in %s" % (kind, name,
                                                    [d["metadata"]["name"]
                                                     for d in self.of_kind(kind)]))

    def workload(self):
        ws = self.of_kind("Deployment") + self.of_kind("StatefulSet")
        eq(len(ws), 1, "number of workloads (Deployment + StatefulSet)")
        return ws[0]

    def container(self):
        cs = self.workload()["spec"]["template"]["spec"]["containers"]
        eq(len(cs), 1, "containers in the pod")
        return cs[0]

    def kinds(self):
        return sorted(d["kind"] for d in self.docs)


def render(values=(), sets=(), set_files=(), name="sluice-test", namespace="cdc",
           must_pass=True):
    d = tmpdir("render")
    args = [RENDER, "--name", name, "--namespace", namespace,
            "--json", os.path.join(d, "out.json"), "--notes", os.path.join(d, "NOTES.txt")]
    for v in values:
        args += ["-f", v]
    for s in sets:
        args += ["--set", s]
    for s in set_files:
        args += ["--set-file", s]
    args.append(CHART)
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    docs, notes = [], ""
    yaml_path = os.path.join(d, "out.yaml")
    with open(yaml_path, "w") as f:
        f.write(p.stdout)
    if p.returncode == 0:
        with open(os.path.join(d, "out.json")) as f:
            docs = [m["manifest"] for m in json.load(f)]
        with open(os.path.join(d, "NOTES.txt")) as f:
            notes = f.read()
    r = Render(p.returncode, p.stdout, p.stderr, docs, notes, yaml_path)
    if must_pass and p.returncode != 0:
        raise TestFailure("helm-render %s failed (%d): %s" % (" ".join(args[1:]),
                                                              p.returncode, p.stderr))
    return r


_cache = {}


def default_render():
    if "default" not in _cache:
        _cache["default"] = render()
    return _cache["default"]


def all_render():
    if "all" not in _cache:
        _cache["all"] = render(values=[VALUES_ALL])
    return _cache["all"]


def both():
    return [("default values", default_render()), ("values-all.yaml", all_render())]


# ---- processes and HTTP -----------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Proc:
    """A background process whose output goes to a file; killed at exit if still alive."""

    def __init__(self, args, env, cwd=None):
        self.log_path = os.path.join(tmpdir("proc"), "log")
        self._log = open(self.log_path, "w")
        self.p = subprocess.Popen(args, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                  stdout=self._log, stderr=subprocess.STDOUT)
        _procs.append(self.p)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, timeout=20):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self._log.close()
        return self.p.returncode


def http(method, url, token=None, body=None, timeout=5):
    """(status, body text); HTTP errors are returned, connection errors raised."""
    req = urllib.request.Request(url, method=method, data=body)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_http(url, proc, timeout=10):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.p.poll() is not None:
            raise TestFailure("sluice exited with %s:\n%s" % (proc.p.returncode, proc.log()))
        try:
            return http("GET", url, timeout=2)
        except OSError as e:
            last = e
        time.sleep(0.05)
    raise TestFailure("no answer from %s after %ss (%r):\n%s" % (url, timeout, last,
                                                                 proc.log()))


def wait_until(fn, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise TestFailure("timed out after %.0fs waiting for %s (last: %r)" % (
                timeout, what, last))
        time.sleep(0.05)


# ---- ${VAR} references in specs ------------------------------------------------------------

_VAR = re.compile(r"(\$+)\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")


def spec_vars(text):
    """The ${VAR}s a spec needs, without a default; $${ is a literal and skipped."""
    need = set()
    for m in _VAR.finditer(text):
        if len(m.group(1)) % 2 == 0:
            continue
        if m.group(3) is None:
            need.add(m.group(2))
    return need


def base_env(extra):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    env.update(extra)
    return env


# ---- runner ------------------------------------------------------------------------------

def main():
    # A TERM (timeout, harness) unwinds through atexit, so no sluice is left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    mod = sys.modules["__main__"]
    tests = [(n, f) for n, f in inspect.getmembers(mod, inspect.isfunction)
             if n.startswith("test_") and f.__module__ == "__main__"]
    tests.sort(key=lambda t: t[1].__code__.co_firstlineno)
    filt = os.environ.get("DT_TEST_FILTER")
    passed = failed = 0
    for name, fn in tests:
        if filt and filt not in name:
            continue
        t0 = time.monotonic()
        try:
            fn()
        except TestFailure as e:
            failed += 1
            print("FAIL %s: %s" % (name, e), flush=True)
            continue
        except Exception:  # a bug in the test or an unexpected error: report it
            failed += 1
            print("FAIL %s: %s" % (name, traceback.format_exc()), flush=True)
            continue
        passed += 1
        print("PASS %s (%.2fs)" % (name, time.monotonic() - t0), flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed else 0)
