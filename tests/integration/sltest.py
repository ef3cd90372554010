"""sltest.py - stdlib-only helpers for sluice integration tests.

Runs under tests/integration/run.sh, which starts the servers and exports:
  SLUICE_BIN     path of the built sluice binary
  SL_PG_DSN      libpq conninfo of a throwaway PostgreSQL (wal_level=logical, trust auth)
  SL_PG_PORT
  SL_REDIS_PORT  throwaway Redis on 127.0.0.1
  SL_REDIS_URI   redis://127.0.0.1:PORT/0
  SL_MY_PORT, SL_MY_DSN  (when MariaDB was started)

A test file is a module with `test_*` functions and, at the bottom:

    if __name__ == "__main__":
        sltest.main()

main() runs the functions in source order, prints `PASS name (secs)` or
`FAIL name: reason` for each, then the summary line `N passed, N failed`; the exit status
is 1 when a test failed. Every sluice process a test started is stopped after the test,
and its log tail is printed when the test failed. Temp dirs are removed at exit unless
SL_KEEP_TMP is set. SL_TEST_FILTER=substr runs only the tests whose name contains substr.
"""

import atexit
import ctypes
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

__all__ = [
    "TestFailure", "check", "eq", "wait_until", "tmpdir", "write_spec", "read_jsonl",
    "psql", "psql_rows", "Redis", "RedisError", "redis", "Sluice", "start_sluice", "main",
]


class TestFailure(AssertionError):
    """A test's expectation was not met (reported as FAIL with its message)."""


def check(cond, msg="check failed"):
    if not cond:
        raise TestFailure(msg)


def eq(got, want, msg=""):
    if got != want:
        raise TestFailure("%s%sgot %r, want %r" % (msg, ": " if msg else "", got, want))


def wait_until(fn, timeout=10.0, interval=0.05, what=None):
    """Call fn until it returns something truthy and return that value. Raises
    TestFailure naming `what` (or fn) and fn's last value or exception on timeout."""
    deadline = time.monotonic() + timeout
    last, last_exc = None, None
    while True:
        try:
            last = fn()
            last_exc = None
            if last:
                return last
        except Exception as e:  # keep polling; report it if it never clears
            last_exc = e
        if time.monotonic() >= deadline:
            name = what or getattr(fn, "__name__", "condition")
            detail = ("last error: %r" % last_exc) if last_exc else ("last value: %r" % (last,))
            raise TestFailure("timed out after %.1fs waiting for %s (%s)" % (timeout, name, detail))
        time.sleep(interval)


def env(name):
    v = os.environ.get(name)
    if not v:
        raise TestFailure("%s is not set (run through tests/integration/run.sh)" % name)
    return v


# ---- temp files ----------------------------------------------------------------------

_tmp_root = None


def tmpdir(prefix="t"):
    """A new empty directory inside this test file's temp root (removed at exit)."""
    global _tmp_root
    if _tmp_root is None:
        base = os.environ.get("SL_TEST_DIR") or os.environ.get("TMPDIR") or "/tmp"
        _tmp_root = tempfile.mkdtemp(prefix="sltest.", dir=base)
        if not os.environ.get("SL_KEEP_TMP"):
            atexit.register(shutil.rmtree, _tmp_root, True)
    return tempfile.mkdtemp(prefix=prefix + ".", dir=_tmp_root)


def write_spec(spec, name="spec.yaml", dir=None):
    """Write a pipeline spec (a YAML/JSON string, or a dict written as JSON, which YAML
    accepts) into dir (default: a new temp dir). Returns its path."""
    d = dir or tmpdir("spec")
    path = os.path.join(d, name)
    text = spec if isinstance(spec, str) else json.dumps(spec, indent=2)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def read_jsonl(path):
    """Parsed objects of a JSON-lines file ([] when it does not exist). A line that is not
    valid JSON raises TestFailure naming the file and line number."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    out = []
    lines = data.split(b"\n")
    if lines and lines[-1]:
        lines.pop()   # a torn last line (writer killed mid-write): not delivered yet
    for i, line in enumerate(lines, 1):
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except ValueError as e:
            raise TestFailure("%s:%d: not JSON (%s): %r" % (path, i, e, line[:200]))
    return out


# ---- PostgreSQL ----------------------------------------------------------------------

def psql(sql, dsn=None, check=True, timeout=60):
    """Run sql with psql (ON_ERROR_STOP, unaligned, tuples only). Returns stdout without
    the trailing newline; raises TestFailure with psql's stderr when it fails."""
    dsn = dsn or env("SL_PG_DSN")
    p = subprocess.run(["psql", dsn, "-v", "ON_ERROR_STOP=1", "-XAtq", "-c", sql],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    if check and p.returncode != 0:
        raise TestFailure("psql failed (%d) on %r: %s"
                          % (p.returncode, sql[:200], p.stderr.decode(errors="replace").strip()))
    return p.stdout.decode("utf-8", errors="replace").rstrip("\n")


def psql_rows(sql, dsn=None):
    """Rows of a query as lists of strings (fields split on \\x1f; NULL reads as '')."""
    dsn = dsn or env("SL_PG_DSN")
    p = subprocess.run(["psql", dsn, "-v", "ON_ERROR_STOP=1", "-XAtq", "-F", "\x1f",
                        "-c", sql],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if p.returncode != 0:
        raise TestFailure("psql failed (%d) on %r: %s"
                          % (p.returncode, sql[:200], p.stderr.decode(errors="replace").strip()))
    text = p.stdout.decode("utf-8", errors="replace")
    return [line.split("\x1f") for line in text.split("\n") if line]


# ---- Redis (a tiny RESP2 client) -----------------------------------------------------

class RedisError(Exception):
    """An error reply (-ERR ..., -WRONGTYPE ...) from Redis."""


class Redis:
    """Blocking RESP2 client over one socket. Bulk strings come back as str (UTF-8,
    undecodable bytes kept with surrogateescape) unless raw=True, then as bytes."""

    def __init__(self, port=None, host="127.0.0.1", db=0, timeout=10.0, raw=False):
        port = int(port or env("SL_REDIS_PORT"))
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.raw = raw
        if db:
            self.command("SELECT", db)

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def _enc(a):
        if isinstance(a, bytes):
            return a
        if isinstance(a, str):
            return a.encode("utf-8", errors="surrogateescape")
        return str(a).encode()

    def command(self, *args):
        """Send one command, return its reply (error replies raise RedisError)."""
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            b = self._enc(a)
            parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(parts))
        reply = self._read()
        if isinstance(reply, RedisError):
            raise reply
        return reply

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _str(self, b):
        return b if self.raw else b.decode("utf-8", errors="surrogateescape")

    def _read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return self._str(rest)
        if kind == b"-":
            return RedisError(rest.decode("utf-8", errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._str(self._exact(n))
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise ConnectionError("bad RESP reply: %r" % line[:100])

    # -- conveniences --
    def ping(self):
        return self.command("PING")

    def xadd(self, stream, fields, id="*"):
        args = ["XADD", stream, id]
        for k, v in fields.items():
            args += [k, v]
        return self.command(*args)

    def xrange(self, stream, start="-", end="+", count=None):
        """[(id, {field: value})] of a stream, in order ([] when it does not exist)."""
        args = ["XRANGE", stream, start, end]
        if count is not None:
            args += ["COUNT", count]
        out = []
        for entry_id, kv in self.command(*args) or []:
            out.append((entry_id, dict(zip(kv[0::2], kv[1::2]))))
        return out

    def xlen(self, stream):
        return self.command("XLEN", stream)

    def delete(self, *keys):
        return self.command("DEL", *keys) if keys else 0

    def flushdb(self):
        return self.command("FLUSHDB")


def redis(**kw):
    """A Redis client for the test server (SL_REDIS_PORT)."""
    return Redis(**kw)


# ---- sluice processes ----------------------------------------------------------------

_PR_SET_PDEATHSIG = 1
_live = []          # Sluice objects started and not yet stopped


def _die_with_parent():
    # Runs in the child between fork and exec: SIGKILL it when the test process dies,
    # so a killed test never leaves a sluice behind.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass


class Sluice:
    """One `sluice ARGS...` subprocess, stdout and stderr captured to a log file."""

    def __init__(self, args, log_path=None, env=None, cwd=None):
        self.args = [os.environ.get("SLUICE_BIN", "./sluice")] + [str(a) for a in args]
        if not os.access(self.args[0], os.X_OK):
            raise TestFailure("sluice binary not found at %s (build it; SLUICE_BIN)"
                              % self.args[0])
        self.log_path = log_path or os.path.join(tmpdir("log"), "sluice.log")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=full_env, cwd=cwd,
                                     preexec_fn=_die_with_parent)
        self.pid = self.proc.pid
        _live.append(self)

    def alive(self):
        return self.proc.poll() is None

    @property
    def returncode(self):
        return self.proc.poll()

    def log(self):
        """Everything the process printed so far."""
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")

    def log_tail(self, n=40):
        return "\n".join(self.log().splitlines()[-n:])

    def wait_log(self, pattern, timeout=15.0):
        """Wait for a line matching regex pattern; returns the match. Fails early (with
        the log tail) when the process exits first."""
        rx = re.compile(pattern)

        def found():
            m = rx.search(self.log())
            if m:
                return m
            if not self.alive():
                raise TestFailure("sluice exited (%s) before logging /%s/:\n%s"
                                  % (self.returncode, pattern, self.log_tail()))
            return None
        try:
            return wait_until(found, timeout, what="log line /%s/" % pattern)
        except TestFailure as e:
            if "exited" in str(e):
                raise
            raise TestFailure("%s\n--- sluice log tail ---\n%s" % (e, self.log_tail()))

    def wait(self, timeout=30.0):
        """Wait for the process to exit by itself; returns its exit status."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("sluice still running after %.1fs:\n%s"
                              % (timeout, self.log_tail()))
        finally:
            self._reaped()

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self, timeout=15.0):
        """SIGTERM, wait up to timeout, then SIGKILL. Returns the exit status."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reaped()
        return self.proc.returncode

    terminate = stop

    def kill(self):
        """SIGKILL (a crash, as far as sluice can tell). Returns the exit status."""
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        self._reaped()
        return self.proc.returncode

    def _reaped(self):
        if self in _live:
            _live.remove(self)
        if not self._log.closed:
            self._log.close()


def start_sluice(spec, data_dir=None, extra_args=(), **kw):
    """`sluice run SPEC --data-dir DIR [extra_args]`. spec is a path, a YAML/JSON string
    or a dict (written with write_spec). data_dir defaults to a new temp dir."""
    if isinstance(spec, dict) or (isinstance(spec, str) and "\n" in spec):
        spec = write_spec(spec)
    data_dir = data_dir or tmpdir("data")
    s = Sluice(["run", spec, "--data-dir", data_dir] + list(extra_args), **kw)
    s.spec_path, s.data_dir = spec, data_dir
    return s


def _stop_all(show_logs=False):
    for s in list(_live):
        rc = s.stop()
        if show_logs:
            print("    --- sluice pid %d (exit %s), log %s, last lines ---"
                  % (s.pid, rc, s.log_path))
            for line in s.log_tail(30).splitlines():
                print("    | " + line)


# ---- runner --------------------------------------------------------------------------

def _on_term(signum, frame):
    raise SystemExit(128 + signum)


def _tests_of(module):
    fns = [(name, fn) for name, fn in vars(module).items()
           if name.startswith("test_") and inspect.isfunction(fn)
           and fn.__module__ == module.__name__]
    fns.sort(key=lambda nf: nf[1].__code__.co_firstlineno)
    return fns


def main(module=None):
    """Run the test_* functions of module (default: __main__) and exit."""
    module = module or sys.modules["__main__"]
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGHUP, _on_term)
    atexit.register(_stop_all)
    flt = os.environ.get("SL_TEST_FILTER", "")
    passed = failed = 0
    for name, fn in _tests_of(module):
        if flt and flt not in name:
            continue
        t0 = time.monotonic()
        try:
            fn()
        except (TestFailure, Exception) as e:
            failed += 1
            reason = str(e).strip() or type(e).__name__
            if not isinstance(e, TestFailure):
                reason = "%s: %s" % (type(e).__name__, reason)
            first, _, more = reason.partition("\n")
            print("FAIL %s: %s (%.2fs)" % (name, first, time.monotonic() - t0))
            for line in more.splitlines():
                print("    " + line)
            here = os.path.abspath(__file__)
            tb = [fr for fr in traceback.extract_tb(e.__traceback__)[1:]
                  if os.path.abspath(fr.filename) != here or not isinstance(e, TestFailure)]
            for line in traceback.format_list(tb):
                for sub in line.rstrip().splitlines():
                    print("    " + sub)
            _stop_all(show_logs=True)
        else:
            passed += 1
            print("PASS %s (%.2fs)" % (name, time.monotonic() - t0))
            _stop_all()
        sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    sys.stdout.flush()
    sys.exit(1 if failed else 0)
