"""test_demo.py - `make demo` works end to end: scripts/demo.sh (run for a few seconds via
SLUICE_DEMO_DURATION) starts its own PostgreSQL and Redis, runs the example pipeline and
shows change events arriving in the file and in Redis, then stops everything it started."""

import os
import re
import subprocess

import sltest
from sltest import check, eq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_demo_shows_events_and_stops_everything():
    env = dict(os.environ, SLUICE_DEMO_DURATION="4")
    env.pop("SL_TEST_DIR", None)
    p = subprocess.run(["bash", "scripts/demo.sh"], cwd=ROOT, env=env, timeout=120,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    out = p.stdout.decode("utf-8", "replace")
    eq(p.returncode, 0, "demo exit status\n" + out[-3000:])
    check(re.search(r"file  <- c customers tx=\d+ \{\"id\":1,", out), "insert shown:\n" + out)
    check(re.search(r"file  <- u orders", out), "update shown:\n" + out)
    check(re.search(r"redis <- stream sluice.public.orders: [1-9]\d* entries", out),
          "redis entries shown:\n" + out)
    check("nothing left running" in out, out[-2000:])
    # the demo's servers were started under its own state dir; none may survive
    dirs = re.findall(r"(/\S*sluice-test\.\w+)", out)
    for d in set(dirs):
        check(not os.path.exists(d), "demo state dir %s removed" % d)


if __name__ == "__main__":
    sltest.main()
