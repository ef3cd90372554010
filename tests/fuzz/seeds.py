#!/usr/bin/env python3
"""tests/fuzz/seeds.py - write the seed corpus of one fuzz harness into a directory.

    python3 tests/fuzz/seeds.py TARGET OUTDIR SHARED_DIR

TARGET is binlog_decode, pg_decode, my_ddl or spec; each seed is a file in the harness's
input format (see the comment at the top of tests/fuzz/fuzz_TARGET.c). Seeds come from the
conformance vectors and binlog files in SHARED_DIR/conformance (read only, nothing is
copied into the repository), the statements and specs written in tests/unit/test_*.c, the
pipelines/*.yaml of the repository and SHARED_DIR/spec-example.yaml. A missing SHARED_DIR
only means fewer seeds. Prints how many seeds it wrote.
"""
import glob
import gzip
import hashlib
import json
import os
import re
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def c_literals(path):
    """The string literals of a C file after its macros are expanded (cc -E, when that
    works), adjacent ones joined, escapes decoded (roughly)."""
    try:
        src = subprocess.run(["cc", "-E", "-P", "-Isrc", "-Iapi", "-Itests/unit", path],
                             cwd=ROOT, capture_output=True, check=True).stdout.decode(
                                 "utf-8", "replace")
        # only the file's own text: from its first function on
        src = src[src.find("static "):] if "static " in src else src
    except (OSError, subprocess.CalledProcessError):
        try:
            src = open(path, encoding="utf-8", errors="replace").read()
        except OSError:
            return []
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    src = re.sub(r"//[^\n]*", " ", src)
    out = []
    lit = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
    pos = 0
    cur = None
    while True:
        m = lit.search(src, pos)
        if not m:
            break
        gap = src[pos:m.start()]
        if cur is not None and gap.strip() != "":
            out.append(cur)
            cur = None
        text = decode_c(m.group(1))
        cur = text if cur is None else cur + text
        pos = m.end()
    if cur is not None:
        out.append(cur)
    return out


def decode_c(s):
    b = bytearray()
    i = 0
    raw = s.encode("utf-8")
    while i < len(raw):
        c = raw[i]
        if c != 0x5C or i + 1 >= len(raw):
            b.append(c)
            i += 1
            continue
        n = chr(raw[i + 1])
        i += 2
        if n == "x":
            j = i
            while j < len(raw) and chr(raw[j]) in "0123456789abcdefABCDEF":
                j += 1
            b.append(int(raw[i:j] or b"0", 16) & 0xFF)
            i = j
        elif n in "01234567":
            j = i
            while j < len(raw) and j < i + 2 and chr(raw[j]) in "01234567":
                j += 1
            b.append(int(n + raw[i:j].decode(), 8) & 0xFF)
            i = j
        else:
            b.append({"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, '"': 34,
                      "'": 39}.get(n, ord(n)))
    return bytes(b)


class Out:
    def __init__(self, d):
        self.d = d
        self.n = 0
        os.makedirs(d, exist_ok=True)

    def put(self, data):
        name = hashlib.sha1(data).hexdigest()
        path = os.path.join(self.d, name)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(data)
            self.n += 1


def load_vectors(shared, name):
    try:
        with open(os.path.join(shared, "conformance", name)) as f:
            return json.load(f)["vectors"]
    except (OSError, ValueError):
        return []


def hx(s):
    return bytes.fromhex(s) if s else b""


# ---- binlog -------------------------------------------------------------------------

def header(etype, body_len, server_id=1):
    return struct.pack("<IBIIIH", 0, etype, server_id, 19 + body_len, 0, 0)


def framed(events):
    return b"".join(struct.pack("<H", len(e)) + e for e in events)


def binlog_file_events(data):
    events = []
    off = 4
    while off + 19 <= len(data):
        size = struct.unpack_from("<I", data, off + 9)[0]
        if size < 19 or off + size > len(data):
            break
        events.append(data[off:off + size])
        off += size
    return events


def seeds_binlog(out, shared):
    # flags: mode 0 (events) csum 1 (OFF) fixed up; 0x10 raw with csum 0 (learn)
    ev_off, ev_raw, file_mode, jsonb = 0x01, 0x10, 0x80, 0xC0
    for v in load_vectors(shared, "binlog_vectors.json"):
        kind, ctx = v["kind"], v.get("context", {})
        h = v.get("hex")
        if kind == "rows_event":
            tm = hx(ctx.get("table_map_event_body_hex"))
            body = hx(h)
            et = ctx.get("event_type", 30)
            evs = [header(19, len(tm)) + tm, header(et, len(body)) + body]
            for extra in (0, 0x04, 0x08, 0x28, 0x0C):
                out.put(bytes([ev_off | extra]) + framed(evs))
            if ctx.get("full_event_hex"):
                out.put(bytes([ev_raw]) + framed([header(19, len(tm)) + tm,
                                                  hx(ctx["full_event_hex"])]))
        elif kind == "table_map_event" and h:
            body = hx(h)
            out.put(bytes([ev_off]) + framed([header(19, len(body)) + body]))
        elif kind == "event_body" and h:
            body = hx(h)
            out.put(bytes([ev_off]) + framed([header(ctx.get("event_type", 0), len(body),
                                                     ctx.get("header_server_id", 1)) + body]))
        elif kind == "full_event" and h:
            out.put(bytes([ev_raw]) + framed([hx(h)]))
        elif kind == "json_binary" and h:
            out.put(bytes([jsonb]) + hx(h))
        elif kind == "binlog_file":
            path = os.path.join(shared, "conformance", ctx.get("fixture_copy", ""))
            try:
                data = open(path, "rb").read()
            except OSError:
                continue
            if ctx.get("gzip") or path.endswith(".gz"):
                try:
                    data = gzip.decompress(data)
                except OSError:
                    continue
            evs = binlog_file_events(data)
            # a long file: its first events and windows of 60 events (rows need their maps)
            for i in range(0, max(1, len(evs)), 60):
                chunk = evs[:4] + evs[i:i + 60] if i else evs[:60]
                seed = bytes([ev_raw]) + framed(chunk)
                if len(seed) <= 65536:
                    out.put(seed)
            out.put(bytes([file_mode]) + data[:65535])
    for path in glob.glob(os.path.join(shared, "conformance", "binlog-files", "*")):
        data = open(path, "rb").read()
        if path.endswith(".gz"):
            continue
        out.put(bytes([file_mode]) + data[:65535])


# ---- pgoutput -----------------------------------------------------------------------

def pg_typed_relation():
    """A Relation of one column per built-in type mapping and an Insert of well-formed
    values, then an Update with other forms (the vectors use few types)."""
    cols = [("b", 16), ("i", 23), ("f", 701), ("n", 1700), ("by", 17), ("j", 114),
            ("jb", 3802), ("d", 1082), ("ts", 1114), ("tz", 1184), ("ia", 1007),
            ("ta", 1009), ("bx", 1020), ("s", 25)]
    rel = b"R" + struct.pack(">I", 16400) + b"public\0typed\0d" + struct.pack(">H", len(cols))
    for k, (name, oid) in enumerate(cols):
        rel += bytes([1 if k == 1 else 0]) + name.encode() + b"\0" + struct.pack(">Ii", oid, -1)
    rows = [
        [b"t", b"-42", b"1.5e300", b"-12.3400", b"\\x00ff10", b'{"a":[1,{"b":null}],"c":"\\ud83d\\ude00"}',
         b'[true,false,1e-5]', b"2024-02-29", b"2024-02-29 23:59:59.123456",
         b"2024-02-29 23:59:59+05:30", b"[0:1]={{1,NULL},{3,4}}", b'{"a b","c\\"d",NULL,e}',
         b"{(1,2),(3,4);(5,6),(7,8)}", b"x"],
        [b"f", b"0", b"NaN", b"NaN", b"\\x", b"{}", b"null", b"infinity",
         b"-infinity", b"1999-01-08 04:05:06-08", b"{}", b"{{}}", b"{}", b""],
    ]
    msgs = [rel]
    for k, vals in enumerate(rows):
        tup = struct.pack(">H", len(vals))
        for v in vals:
            tup += b"t" + struct.pack(">I", len(v)) + v
        msgs.append((b"I" if k == 0 else b"U") + struct.pack(">I", 16400) + b"N" + tup)
    return msgs


def seeds_pg(out, shared):
    for extra in (0x00, 0x08):
        out.put(bytes([extra]) + b"".join(struct.pack("<H", len(m)) + m
                                          for m in pg_typed_relation()))
    vecs = load_vectors(shared, "pgoutput_vectors.json")
    rel = [hx(v["hex"]) for v in vecs if v.get("hex") and v["hex"][:2] == "52"]
    for v in vecs:
        proto = v.get("context", {}).get("protocol_version", 1)
        msgs = [hx(m) for m in v.get("hex_messages") or []] or [hx(v.get("hex"))]
        # changes need their relation: put every Relation first
        if not v.get("hex_messages") and msgs[0][:1] in (b"I", b"U", b"D", b"T"):
            msgs = rel + msgs
        for extra in (0x00, 0x08, 0x10, 0x04):
            out.put(bytes([(proto - 1) | extra]) + b"".join(
                struct.pack("<H", len(m)) + m for m in msgs))


# ---- DDL ----------------------------------------------------------------------------

SQL_START = re.compile(rb"^\s*(/\*|--|#)?\s*(CREATE|ALTER|DROP|RENAME|TRUNCATE|GRANT|"
                       rb"INSERT|UPDATE|DELETE|SET|USE|BEGIN|COMMIT|FLUSH|OPTIMIZE|ANALYZE|"
                       rb"REPAIR|REVOKE)\b", re.I)
TYPE_RE = re.compile(rb"^(tiny|small|medium|big)?int|^(var)?char|^(var)?binary|^decimal|"
                     rb"^float|^double|^enum|^set|^bit|^date|^time|^year|^json|^.*(blob|"
                     rb"text)|^geometry|^point|^vector", re.I)


def seeds_ddl(out, _shared):
    stmts, types = [], []
    for lit in c_literals(os.path.join(ROOT, "tests/unit/test_my_ddl.c")):
        if SQL_START.match(lit):
            stmts.append(lit)
        elif TYPE_RE.match(lit) and len(lit) < 200:
            types.append(lit)
    # each statement alone, in both flavours, and the whole list as one sequence
    for s in stmts:
        out.put(b"\x00" + s)
        out.put(b"\x03" + s)
        if re.match(rb"^\s*CREATE\s+TABLE", s, re.I):
            out.put(b"\x80" + s)
    for i in range(0, len(stmts), 12):
        out.put(b"\x01" + b"\x00".join(stmts[i:i + 12]))
        out.put(b"\x02" + b"\x00".join(stmts[i:i + 12]))
    for t in types + [b"int(10) unsigned", b"enum('a','b''c')", b"decimal(10,2)",
                      b"set('x','y')", b"varchar(255)", b"datetime(6)", b"bit(7)",
                      b"double(8,3) unsigned zerofill", b"longtext", b"vector(3)"]:
        out.put(b"\xc0" + t)
        out.put(b"\xc1" + t)


# ---- specs --------------------------------------------------------------------------

def seeds_spec(out, shared):
    texts = []
    for path in sorted(glob.glob(os.path.join(ROOT, "pipelines", "*.yaml"))) + \
            [os.path.join(shared, "spec-example.yaml")]:
        try:
            texts.append(open(path, "rb").read())
        except OSError:
            pass
    for lit in c_literals(os.path.join(ROOT, "tests/unit/test_spec.c")) + \
            c_literals(os.path.join(ROOT, "tests/unit/test_template.c")):
        if b":" in lit or b"{" in lit or b"${" in lit:
            texts.append(lit)
    try:
        import yaml  # JSON forms of the YAML specs (the REST API takes JSON)
        for t in list(texts[:6]):
            try:
                texts.append(json.dumps(yaml.safe_load(t)).encode())
            except Exception:  # noqa: BLE001 - a seed that is not YAML is still a seed
                pass
    except ImportError:
        pass
    for t in texts:
        out.put(t)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    target, outdir, shared = sys.argv[1:]
    out = Out(outdir)
    {"binlog_decode": seeds_binlog, "pg_decode": seeds_pg, "my_ddl": seeds_ddl,
     "spec": seeds_spec}[target](out, shared)
    print(out.n)


if __name__ == "__main__":
    main()
