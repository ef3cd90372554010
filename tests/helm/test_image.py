"""test_image.py - deploy/Dockerfile without a Docker engine: its structure, that every
package it installs exists in Debian 12, that the build stage provides what the Makefile
builds against and the runtime stage every shared library ./sluice needs (ldd + dpkg -S),
that it agrees with the Helm chart (user, port, paths, entrypoint), and that its
environment-only configuration and HEALTHCHECK work against a real `sluice serve`."""

import json
import os
import re
import shlex
import subprocess

import deploytest as dt
from deploytest import check, eq

# Packages every debian:bookworm-slim image already has (essential and required ones the
# libraries below may come from).
BASE_IMAGE_PKGS = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}


def parse_dockerfile(path=dt.DOCKERFILE):
    """[(stage, INSTRUCTION, args)]: continuation lines joined, comments dropped. Stage is
    the index of the FROM the instruction follows (-1 before the first FROM)."""
    instrs, stage, buf = [], -1, ""
    with open(path) as f:
        lines = f.read().splitlines()
    for line in lines:
        s = line.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if buf and s.startswith("#"):
            continue
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        word, _, rest = buf.partition(" ")
        word = word.upper()
        if word == "FROM":
            stage += 1
        instrs.append((stage, word, rest.strip()))
        buf = ""
    check(not buf, "Dockerfile ends inside a continued line")
    return instrs


def stages():
    ins = parse_dockerfile()
    froms = [a for _, w, a in ins if w == "FROM"]
    return ins, froms


def apt_packages(ins, stage):
    pkgs = []
    for st, w, a in ins:
        if st != stage or w != "RUN":
            continue
        for cmd in re.split(r"&&|;|\|\|", a):
            toks = shlex.split(cmd)
            toks = [t for t in toks if not re.match(r"^[A-Z_]+=", t)]
            if len(toks) >= 2 and toks[0] in ("apt-get", "apt") and "install" in toks:
                pkgs += [t for t in toks[toks.index("install") + 1:] if not t.startswith("-")]
    return pkgs


def instr(ins, stage, word):
    return [a for st, w, a in ins if st == stage and w == word]


def final_stage():
    ins, froms = stages()
    return ins, len(froms) - 1


def dpkg_owner(path):
    """The package owning path (trying the /lib <-> /usr/lib aliases of merged /usr)."""
    cands = [path, os.path.realpath(path)]
    for p in list(cands):
        if p.startswith("/usr/lib/"):
            cands.append(p[4:])
        elif p.startswith("/lib/"):
            cands.append("/usr" + p)
    for p in cands:
        r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        for line in r.stdout.splitlines():
            if line.startswith("diversion by"):
                continue
            pkg = line.split(": ", 1)[0].split(",")[0].strip()
            return pkg.split(":")[0]
    return None


def dep_closure(pkgs):
    """pkgs and everything they depend on (Depends and Pre-Depends, recursively)."""
    r = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
                        "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"]
                       + list(pkgs), capture_output=True, text=True, timeout=60)
    eq(r.returncode, 0, "apt-cache depends: %s" % r.stderr)
    out = set()
    for line in r.stdout.splitlines():
        if line and not line.startswith(" "):
            out.add(line.strip().strip("<>").split(":")[0])
        else:
            m = re.match(r"^\s+\|?(?:Pre)?Depends:\s+<?([^>\s]+)>?", line)
            if m:
                out.add(m.group(1).split(":")[0])
    return out


def ldd(binary):
    r = subprocess.run(["ldd", binary], capture_output=True, text=True)
    eq(r.returncode, 0, "ldd %s: %s" % (binary, r.stderr))
    libs = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^\s*(\S+)\s+=>\s+(\S+)", line)
        if m:
            check(m.group(2) != "not", "ldd: %s not found" % m.group(1))
            libs[m.group(1)] = m.group(2)
        else:
            m = re.match(r"^\s*(/\S+)\s+\(", line)
            if m:
                libs[os.path.basename(m.group(1))] = m.group(1)
    return libs


def needed(binary):
    r = subprocess.run(["objdump", "-p", binary], capture_output=True, text=True)
    eq(r.returncode, 0, "objdump -p: %s" % r.stderr)
    return re.findall(r"^\s+NEEDED\s+(\S+)", r.stdout, re.M)


def dockerfile_env(ins, stage):
    env = {}
    for a in instr(ins, stage, "ENV"):
        for tok in shlex.split(a):
            k, sep, v = tok.partition("=")
            check(sep, "ENV uses key=value: %r" % a)
            env[k] = v
    return env


def exec_form(arg):
    check(arg.startswith("["), "exec (JSON) form: %r" % arg)
    return json.loads(arg)


# ---- tests ---------------------------------------------------------------------------------

def test_dockerfile_stages():
    ins, froms = stages()
    eq(len(froms), 2, "two stages (build, runtime)")
    args = {m.group(1): m.group(2) for _, w, a in ins if w == "ARG"
            for m in [re.match(r"^(\w+)=(\S+)$", a)] if m}
    for f in froms:
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)),
                       f.split()[0])
        check(re.match(r"^debian:(bookworm|12)(-slim)?$", image),
              "FROM Debian 12: %r (%r)" % (f, image))
    check(re.search(r"\bAS\s+build$", froms[0], re.I), "first stage named build: %r" % froms[0])
    check(any("make" in a and "sluice" in a for a in instr(ins, 0, "RUN")),
          "the build stage runs `make sluice`")
    final = len(froms) - 1
    copies = instr(ins, final, "COPY")
    check(any(re.match(r"^--from=build\s+/src/sluice\s+/usr/local/bin/sluice$", c)
              for c in copies), "runtime copies the binary from build: %r" % copies)
    eq(instr(ins, final, "USER"), ["10001:10001"], "non-root USER")
    eq(instr(ins, final, "EXPOSE"), ["8080"], "EXPOSE")
    eq([exec_form(v) for v in instr(ins, final, "VOLUME")], [["/data"]], "VOLUME")
    eq([exec_form(e) for e in instr(ins, final, "ENTRYPOINT")],
       [["/usr/local/bin/sluice", "serve"]], "ENTRYPOINT")
    check(any("useradd" in r and "--uid 10001" in r for r in instr(ins, final, "RUN")),
          "a user with UID 10001")
    check(any("chown 10001:10001 /data" in r for r in instr(ins, final, "RUN")),
          "/data owned by the user")
    env = dockerfile_env(ins, final)
    eq(env.get("SLUICE_LISTEN"), "0.0.0.0:8080", "listens on every address, port 8080")
    eq(env.get("SLUICE_DATA_DIR"), "/data")
    eq(env.get("SLUICE_PIPELINES_DIR"), "/etc/sluice/pipelines")
    check(any("/etc/sluice/pipelines" in r for r in instr(ins, final, "RUN")),
          "the pipelines dir exists (empty) in the image")
    check(not apt_packages(ins, final) or not any(p.endswith("-dev") for p in
                                                  apt_packages(ins, final)),
          "no -dev packages at runtime")


def test_image_matches_chart():
    ins, final = final_stage()
    r = dt.default_render()
    c = r.container()
    spec = r.workload()["spec"]["template"]["spec"]
    eq(c["command"], exec_form(instr(ins, final, "ENTRYPOINT")[0]),
       "the chart's command is the image's entrypoint")
    eq(spec["securityContext"]["runAsUser"], 10001, "runAsUser = the image's USER")
    eq(spec["securityContext"]["fsGroup"], 10001, "fsGroup = the image's group")
    eq(c["ports"][0]["containerPort"], int(instr(ins, final, "EXPOSE")[0]),
       "default containerPort = EXPOSE")
    env = dockerfile_env(ins, final)
    args = c["args"]
    eq(args[args.index("--data-dir") + 1], env["SLUICE_DATA_DIR"])
    eq(args[args.index("--pipelines") + 1], env["SLUICE_PIPELINES_DIR"])


def test_packages_exist_in_debian():
    ins, final = final_stage()
    for st, what in ((0, "build"), (final, "runtime")):
        pkgs = apt_packages(ins, st)
        check(pkgs, "the %s stage installs packages" % what)
        r = subprocess.run(["apt-cache", "show", "--no-all-versions"] + pkgs,
                           capture_output=True, text=True, timeout=60)
        found = set(re.findall(r"^Package: (\S+)$", r.stdout, re.M))
        missing = [p for p in pkgs if p not in found]
        check(not missing, "%s stage: not in the apt sources: %s (%s)" % (
            what, ", ".join(missing), r.stderr.strip()))


def test_runtime_provides_needed_libraries():
    """Every library ./sluice links against directly comes from a runtime package (or the
    base image), and every library it loads transitively from their dependencies."""
    ins, final = final_stage()
    runtime = set(apt_packages(ins, final))
    closure = dep_closure(runtime) | BASE_IMAGE_PKGS
    libs = ldd(dt.SLUICE)
    direct = needed(dt.SLUICE)
    check(direct, "NEEDED entries in ./sluice")
    problems = []
    for so in direct:
        path = libs.get(so)
        if not path:
            problems.append("%s: not resolved by ldd" % so)
            continue
        pkg = dpkg_owner(path)
        if pkg is None:
            problems.append("%s (%s): no Debian package owns it" % (so, path))
        elif pkg not in runtime | BASE_IMAGE_PKGS:
            problems.append("%s comes from %s, not installed by the runtime stage" % (so, pkg))
    for so, path in libs.items():
        if so.startswith("linux-vdso"):
            continue
        pkg = dpkg_owner(path)
        if pkg is None or pkg not in closure:
            problems.append("%s (%s, package %s) is not in the runtime packages' dependencies"
                            % (so, path, pkg))
    check(not problems, "; ".join(problems))
    print("    ./sluice needs %s (all provided)" % ", ".join(direct))


def test_build_stage_provides_makefile_deps():
    """The build stage installs the packages owning every pkg-config module the Makefile
    names and every file under /usr it reads (e.g. Duktape's amalgamated source)."""
    ins, _ = final_stage()
    build = set(apt_packages(ins, 0))
    closure = dep_closure(build)
    for tool in ("build-essential", "pkg-config"):
        check(tool in build, "the build stage installs %s" % tool)
    with open(os.path.join(dt.ROOT, "Makefile")) as f:
        mk = f.read()
    m = re.search(r"^PKGS\s*:?=\s*(.+)$", mk, re.M)
    check(m, "PKGS in the Makefile")
    problems = []
    for mod in m.group(1).split():
        r = subprocess.run(["pkg-config", "--variable=pcfiledir", mod], capture_output=True,
                           text=True)
        if r.returncode != 0:
            problems.append("pkg-config module %s not found here" % mod)
            continue
        pkg = dpkg_owner(os.path.join(r.stdout.strip(), mod + ".pc"))
        if pkg not in closure:
            problems.append("%s.pc comes from %s, not installed by the build stage" % (mod, pkg))
    for path in sorted(set(re.findall(r"(/usr/(?:share|include|lib)/[\w./+-]+)", mk))):
        # The Go packages build the chart tests' renderer, not sluice.
        if path.startswith("/usr/share/gocode") or not os.path.exists(path):
            continue
        pkg = dpkg_owner(path)
        if pkg is not None and pkg not in closure:
            problems.append("the Makefile reads %s from %s, not installed by the build stage"
                            % (path, pkg))
    check("duktape-dev" in build, "duktape-dev (the Duktape amalgamation) at build time")
    check(not problems, "; ".join(problems))


def test_dockerignore():
    path = os.path.join(dt.ROOT, ".dockerignore")
    check(os.path.exists(path), ".dockerignore at the root of the build context")
    with open(path) as f:
        pats = {l.strip() for l in f if l.strip() and not l.startswith("#")}
    for p in (".git", "build", "sluice"):
        check(p in pats, ".dockerignore leaves out %s" % p)
    for p in ("src", "Makefile", "api", "sources", "sinks", "processors", "*", "deploy"):
        check(p not in pats, ".dockerignore must keep %s" % p)


def test_image_env_and_healthcheck_against_serve():
    """`sluice serve` configured only by the image's ENV (paths mapped to temp dirs, the
    port to a free loopback one) serves, applies the pipelines dir, and the HEALTHCHECK
    command passes against it (and fails when nothing listens)."""
    ins, final = final_stage()
    env = dockerfile_env(ins, final)
    root = dt.tmpdir("image")
    mapped = {}
    for k, v in env.items():
        if v.startswith("/"):
            v = os.path.join(root, v.lstrip("/"))
            os.makedirs(v, exist_ok=True)
        mapped[k] = v
    port = dt.free_port()
    mapped["SLUICE_LISTEN"] = "127.0.0.1:%d" % port
    spec = os.path.join(mapped["SLUICE_PIPELINES_DIR"], "one.yaml")
    with open(spec, "w") as f:
        f.write("metadata: {name: from-dir}\nspec:\n  source:\n    type: postgres\n"
                "    config: {id: pg, dsn: 'host=127.0.0.1 port=1 connect_timeout=2', "
                "slot: s, publication: p, tables: [public.t]}\n"
                "  sinks:\n    - type: file\n      config: {id: f, path: %s/out.jsonl}\n" % root)
    ep = exec_form(instr(ins, final, "ENTRYPOINT")[0])
    p = dt.Proc([dt.SLUICE] + ep[1:], dt.base_env(mapped), cwd=root)
    try:
        st, body = dt.wait_http("http://127.0.0.1:%d/healthz" % port, p)
        eq(st, 200, body)
        st, body = dt.http("GET", "http://127.0.0.1:%d/pipelines" % port)
        eq([x["name"] for x in json.loads(body)], ["from-dir"], "the pipelines dir is applied")
        check(os.path.exists(os.path.join(mapped["SLUICE_DATA_DIR"], "from-dir")),
              "state under SLUICE_DATA_DIR")
        log = p.log()
        check(log.lstrip().startswith("{"), "SLUICE_LOG_FORMAT=json: %s" % log[:200])
        hc = [a for a in instr(ins, final, "HEALTHCHECK")]
        eq(len(hc), 1, "one HEALTHCHECK")
        cmd = exec_form(hc[0][hc[0].index("CMD") + 3:].strip())
        r = subprocess.run(cmd, env=dt.base_env(mapped), capture_output=True, text=True,
                           timeout=10)
        eq(r.returncode, 0, "HEALTHCHECK against a serving sluice: %s" % r.stderr)
    finally:
        eq(p.stop(), 0, "SIGTERM stops cleanly:\n%s" % p.log())
    r = subprocess.run(cmd, env=dt.base_env(mapped), capture_output=True, text=True,
                       timeout=10)
    check(r.returncode != 0, "HEALTHCHECK fails when nothing listens")


if __name__ == "__main__":
    dt.main()
