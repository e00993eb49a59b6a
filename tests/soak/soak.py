#!/usr/bin/python3
"""Soak test: mixed traffic against the ASan build of portico, then SIGTERM.

A temporary site (files of several sizes, a zip archive with stored and
deflated members, a CGI program, a redirect mount, a custom 404 page) is
served by build-asan/portico (PORTICO_BIN overrides) on two ephemeral
loopback ports: plaintext (HTTP/1.1 and h2c prior knowledge) and TLS (ALPN
h2 and http/1.1).  Client threads then run, for a warm-up (SOAK_WARMUP
seconds, default 30) and then for SOAK_SECS (default 600), sessions of:

  h1-ka    HTTP/1.1 keep-alive over raw sockets (some requests pipelined)
  h1-new   one request per connection (HTTP/1.1 Connection: close, HTTP/1.0)
  h1-tls   HTTP/1.1 keep-alive over TLS (some sessions resumed)
  h2c      HTTP/2 prior knowledge, several streams at once (python3-h2)
  h2-tls   HTTP/2 over TLS (ALPN h2)

with requests for whole files, HEAD, single and multipart ranges, zip
members (identity, gzip pass-through, ranges), CGI GET and POST (the
program echoes the SHA-256 of its stdin and deterministic output), a
redirect and the 404 error document, and a 405 built-in (styled) page.
Every completed response is checked byte for byte.  SOAK_ABORT_RATE
(default 0.05) of the requests are aborts instead: mid-head (part of the
request head, or of the TLS ClientHello, then close), mid-body (a POST
that declares a length and sends part of it), mid-response (read part of
the response, then close), RST (SO_LINGER 0, then close) and, on HTTP/2,
RST_STREAM mid-response.

After the warm-up the clients stop, the server is left to go idle, and its
RSS and descriptor count are the baseline.  After the soak: idle again,
sample again, SIGTERM.  The run fails on any failed or corrupted response,
RSS at the end > 1.10 x the baseline, descriptors different (by kind)
from the baseline or a served file still open after idle, CGI children
left, any sanitizer report in
portico's stderr, or an exit status other than 0.  Exit status of this
program: 0 pass, 1 fail, 2 could not run.

ASan keeps freed memory in a quarantine (256 MB by default) that fills
for as long as the process allocates, so RSS would grow through any
run shorter than the time it takes to fill it: the soak runs portico with
quarantine_size_mb=SOAK_QUARANTINE_MB (default 16), small enough to fill
during the warm-up, large enough to keep recent frees poisoned; an
ASAN_OPTIONS in the environment is appended and wins.

Environment: SOAK_SECS, SOAK_WARMUP, SOAK_CLIENTS (6), SOAK_ABORT_RATE,
SOAK_SEED, SOAK_QUARANTINE_MB, SOAK_LOG_LEVEL (notice), SOAK_KEEP=1 (keep
the temp dir), PORTICO_BIN.
"""

import gzip
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import traceback
import zipfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
# Absolute: ptserver starts portico with the site as its working directory.
os.environ["PORTICO_BIN"] = os.path.abspath(os.environ.get("PORTICO_BIN") or
                                            REPO / "build-asan" / "portico")

import h2.config  # noqa: E402
import h2.connection  # noqa: E402

import certs as pki  # noqa: E402
import cgitools  # noqa: E402
import h2frames  # noqa: E402
import ptserver  # noqa: E402
import pthttp  # noqa: E402
import test_zip  # noqa: E402


def env_num(name, default, kind=int):
    v = os.environ.get(name)
    return kind(v) if v not in (None, "") else default


SOAK_SECS = env_num("SOAK_SECS", 600)
WARMUP_SECS = env_num("SOAK_WARMUP", 30)
CLIENTS = env_num("SOAK_CLIENTS", 6)
ABORT_RATE = env_num("SOAK_ABORT_RATE", 0.05, float)
SEED = env_num("SOAK_SEED", int(time.time()) & 0xffffff)
QUARANTINE_MB = env_num("SOAK_QUARANTINE_MB", 16)
LOG_LEVEL = os.environ.get("SOAK_LOG_LEVEL") or "notice"
KEEP = os.environ.get("SOAK_KEEP") == "1"
THREADS = 2                     # portico's count-threads
TIMEOUT = 30.0                  # per request: the ASan build is slow under load
RSS_LIMIT = 1.10
STYLED = re.compile(rb'<link rel="stylesheet" href="/error.css"\s*/?>')
CANCEL = 0x8

PROTOS = ["h1-ka", "h1-new", "h1-tls", "h2c", "h2-tls"]
KINDS = ["file", "head", "range", "multirange", "zip-id", "zip-gz", "zip-range",
         "cgi-get", "cgi-post", "redirect", "404", "405"]
ABORTS = ["mid-head", "mid-body", "mid-response", "rst", "rst-stream"]


# -- the site -----------------------------------------------------------------

FILE_SIZES = [0, 1, 17, 4096, 4097, 8192, 8193, 65536, 100003, 1048583, 3 << 20]
FILES = {}          # URL path -> bytes
ZIP = {}            # member name -> (bytes, deflated?)
ERROR_PAGE = (b"<!doctype html><html><head><title>soak: not found</title></head>"
              b"<body><h1>soak 404</h1><p>custom error document</p></body></html>\n")
CGI_SCRIPT = r"""#!/bin/sh
# soak CGI: deterministic output from the query, SHA-256 of the request body
n=${QUERY_STRING#n=}
case "$n" in ''|*[!0-9]*) n=0 ;; esac
printf 'Content-Type: text/plain\r\nX-Soak: cgi\r\n\r\n'
printf 'method=%s n=%s path=%s\n' "$REQUEST_METHOD" "$n" "${PATH_INFO:-}"
if [ "$REQUEST_METHOD" = POST ]; then
  sha256sum | cut -c1-64
fi
if [ "$n" -gt 0 ]; then seq 1 "$n"; fi
exit 0
"""
ZIP_MEMBERS = [     # py_zip deflates even positions and stores odd ones
    ("index.html", b"<html><body>soak zip index</body></html>\n"),
    ("stored-small.txt", b"stored member, a hundred bytes or so. " * 3),
    ("docs/deflated-text.txt", test_zip.text_block(11, 200000)),
    ("img/stored-noise.bin", random.Random(5).randbytes(300000)),
    ("docs/big-deflated.txt", test_zip.text_block(12, 1500000)),
    ("stored-text.txt", test_zip.text_block(13, 50000)),
    ("data/tiny.json", b'{"soak": [1, 2, 3]}\n'),
    ("js/stored-app.js", b"function f(x) { return x + 1; }\n" * 280),
    ("img/deflated-noise.bin", random.Random(6).randbytes(70000)),
    ("one.txt", b"1"),
]


def build_site(factory, certs):
    site = factory.site("soak")
    rnd = random.Random(1234)
    for n in FILE_SIZES:
        data = rnd.randbytes(n)
        site.write("f/size-%d.bin" % n, data)
        FILES["/f/size-%d.bin" % n] = data
    index = b"<html><body>portico soak</body></html>\n"
    site.write("index.html", index)
    FILES["/"] = index
    site.write("errors/404.html", ERROR_PAGE)
    zpath = site.docroot / "z" / "pack.zip"
    zpath.parent.mkdir(parents=True)
    test_zip.py_zip(zpath, dict(ZIP_MEMBERS))
    with zipfile.ZipFile(zpath) as z:
        for name, data in ZIP_MEMBERS:
            info = z.getinfo(name)
            ZIP[name] = (data, info.compress_type == zipfile.ZIP_DEFLATED)
    assert any(d for _, d in ZIP.values()) and not all(d for _, d in ZIP.values())
    cgi = cgitools.write_program(site, "soak.cgi", CGI_SCRIPT)

    def mounts():
        return [site.mount("/"),
                site.mount("/zip", "file://%s" % zpath),
                {"mountpoint": "/cgi", "origin": "cgi://%s" % cgi},
                {"mountpoint": "/old", "origin": ">https://example.com/new",
                 "append-path": 1}]
    errdoc = {"error-document-404": "/errors/404.html"}
    plain = site.vhost(name="localhost", mounts=mounts(), **errdoc)
    tls_port = site.new_port()
    tls = pki.tls_vhost(site, "localhost", certs.local_cert, certs.local_key,
                        tls_port, mounts=mounts(), **errdoc)
    return site, [plain, tls], tls_port


# -- requests and their checks --------------------------------------------------

def sha(b):
    return hashlib.sha256(b).hexdigest()[:16]


def same(what, got, want):
    if got == want:
        return None
    i = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]),
             min(len(got), len(want)))
    return "%s: %d bytes sha %s, expected %d bytes sha %s, first difference at %d" % (
        what, len(got), sha(got), len(want), sha(want), i)


def check_length(r):
    cl = r.header("Content-Length")
    if cl is not None and cl != str(len(r.body)):
        return "Content-Length %s but %d body bytes" % (cl, len(r.body))
    return None


class Req:
    """One request: what to send and what exactly must come back."""

    def __init__(self, kind, method, path, headers=(), body=b"", check=None,
                 big=False):
        self.kind, self.method, self.path = kind, method, path
        self.headers, self.body, self.check, self.big = list(headers), body, check, big

    def verify(self, r):
        if r.status is None:
            return "no status"
        err = self.check(r)
        if err is None and self.method != "HEAD":
            err = check_length(r)
        return err


def want_full(status, data, ce=None):
    def check(r):
        if r.status != status:
            return "status %s, expected %s" % (r.status, status)
        got_ce = r.header("Content-Encoding")
        if got_ce != ce:
            return "Content-Encoding %r, expected %r" % (got_ce, ce)
        body = r.body
        if ce == "gzip":
            try:
                body = gzip.decompress(body)
            except Exception as e:      # noqa: BLE001 - any decoding error is a failure
                return "gzip body does not decode (%d bytes): %s" % (len(r.body), e)
        return same("body", body, data)
    return check


def want_range(data, a, b):
    def check(r):
        if r.status != 206:
            return "status %s, expected 206 for %d-%d" % (r.status, a, b)
        cr = r.header("Content-Range")
        if cr != "bytes %d-%d/%d" % (a, b, len(data)):
            return "Content-Range %r, expected bytes %d-%d/%d" % (cr, a, b, len(data))
        return same("range %d-%d" % (a, b), r.body, data[a:b + 1])
    return check


def want_multi(data, ranges):
    def check(r):
        if r.status != 206:
            return "status %s, expected 206 multipart" % r.status
        try:
            parts = pthttp.parse_multipart_byteranges(r)
        except AssertionError as e:
            return "bad multipart/byteranges: %s" % e
        got = [(s, e) for _, s, e, _, _ in parts]
        if got != ranges:
            return "parts %r, expected %r" % (got, ranges)
        for _, s, e, total, chunk in parts:
            if total != len(data):
                return "part total %d, expected %d" % (total, len(data))
            err = same("part %d-%d" % (s, e), chunk, data[s:e + 1])
            if err:
                return err
        return None
    return check


def want_head(size):
    def check(r):
        if r.status != 200:
            return "status %s, expected 200" % r.status
        if r.body:
            return "HEAD response with %d body bytes" % len(r.body)
        cl = r.header("Content-Length")
        if cl != str(size):
            return "HEAD Content-Length %r, expected %d" % (cl, size)
        return None
    return check


def want_redirect(loc):
    def check(r):
        if r.status != 301:
            return "status %s, expected 301" % r.status
        if r.header_all("Location") != [loc]:
            return "Location %r, expected %r" % (r.header_all("Location"), loc)
        return None
    return check


def want_styled(status):
    def check(r):
        if r.status != status:
            return "status %s, expected %s" % (r.status, status)
        if not STYLED.search(r.body) or str(status).encode() not in r.body:
            return "not the styled %d page: %r" % (status, r.body[:200])
        return None
    return check


def cgi_output(method, n, path_info, body=None):
    out = "method=%s n=%d path=%s\n" % (method, n, path_info)
    if method == "POST":
        out += hashlib.sha256(body).hexdigest() + "\n"
    return (out + "".join("%d\n" % i for i in range(1, n + 1))).encode()


def gen_request(rng, kind=None, big=False):
    """A random request (of kind, or a big one to abort mid-response)."""
    if big:
        return rng.choice([
            lambda: file_req(rng, rng.choice(["/f/size-1048583.bin",
                                              "/f/size-%d.bin" % (3 << 20)])),
            lambda: zip_req(rng, "docs/big-deflated.txt", gz=False),
            lambda: zip_req(rng, "docs/big-deflated.txt", gz=True),
            lambda: zip_req(rng, "img/stored-noise.bin", gz=False),
            lambda: cgi_req(rng, "GET", n=rng.randint(50000, 200000)),
        ])()
    if kind is None:
        kind = rng.choices(KINDS, [25, 4, 10, 3, 10, 10, 4, 4, 4, 6, 6, 3])[0]
    if kind == "file":
        return file_req(rng, rng.choice(list(FILES)))
    if kind == "head":
        p = rng.choice(list(FILES))
        return Req("head", "HEAD", p, check=want_head(len(FILES[p])))
    if kind == "range":
        p = rng.choice([p for p, d in FILES.items() if len(d) >= 2])
        data = FILES[p]
        n = len(data)
        form = rng.randrange(3)
        if form == 0:
            a = rng.randrange(n)
            b = rng.randrange(a, n)
            spec = "%d-%d" % (a, b)
        elif form == 1:
            a = rng.randrange(n)
            b = n - 1
            spec = "%d-" % a
        else:
            k = rng.randint(1, n)
            a, b = n - k, n - 1
            spec = "-%d" % k
        return Req("range", "GET", p, [("Range", "bytes=" + spec)],
                   check=want_range(data, a, b))
    if kind == "multirange":
        p = rng.choice([p for p, d in FILES.items() if len(d) >= 4096])
        data = FILES[p]
        cuts = sorted(rng.sample(range(len(data)), 4))
        ranges = [(cuts[0], cuts[1] - 1), (cuts[2], cuts[3])]
        if ranges[0][1] < ranges[0][0]:
            ranges[0] = (cuts[0], cuts[0])
        spec = ",".join("%d-%d" % r for r in ranges)
        return Req("multirange", "GET", p, [("Range", "bytes=" + spec)],
                   check=want_multi(data, ranges))
    if kind == "zip-id":
        return zip_req(rng, rng.choice(list(ZIP)), gz=False)
    if kind == "zip-gz":
        return zip_req(rng, rng.choice(list(ZIP)), gz=True)
    if kind == "zip-range":
        name = rng.choice([m for m, (d, _) in ZIP.items() if len(d) >= 2])
        data, deflated = ZIP[name]
        a = rng.randrange(len(data))
        b = rng.randrange(a, len(data))
        prefix = rng.choice(["/zip/", "/z/pack.zip/"])
        # A deflated member sent inflated has no ranges: 200, all of it.
        check = want_full(200, data) if deflated else want_range(data, a, b)
        return Req("zip-range", "GET", prefix + name, [("Range", "bytes=%d-%d" % (a, b))],
                   check=check)
    if kind == "cgi-get":
        return cgi_req(rng, "GET", n=rng.choice([0, 1, 10, 1000, 20000]))
    if kind == "cgi-post":
        return cgi_req(rng, "POST", n=rng.choice([0, 5, 500]))
    if kind == "redirect":
        seg = "p%d/q%d.html" % (rng.randrange(1000), rng.randrange(1000))
        query = "?x=%d" % rng.randrange(10 ** 6) if rng.random() < 0.5 else ""
        return Req("redirect", "GET", "/old/" + seg + query,
                   check=want_redirect("https://example.com/new/" + seg + query))
    if kind == "404":
        return Req("404", "GET", "/missing/%d.html" % rng.randrange(10 ** 6),
                   check=want_full(404, ERROR_PAGE))
    if kind == "405":
        body = rng.randbytes(rng.randint(1, 200)) if rng.random() < 0.5 else b""
        return Req("405", "POST" if body else "DELETE", "/f/size-17.bin", body=body,
                   check=want_styled(405))
    raise ValueError(kind)


def file_req(rng, p):
    return Req("file", "GET", p, check=want_full(200, FILES[p]),
               big=len(FILES[p]) >= 1 << 20)


def zip_req(rng, name, gz):
    data, deflated = ZIP[name]
    prefix = rng.choice(["/zip/", "/z/pack.zip/"])
    if gz:
        return Req("zip-gz", "GET", prefix + name, [("Accept-Encoding", "gzip")],
                   check=want_full(200, data, "gzip" if deflated else None),
                   big=len(data) >= 300000)
    return Req("zip-id", "GET", prefix + name, check=want_full(200, data),
               big=len(data) >= 300000)


def cgi_req(rng, method, n):
    pi = "/x%d" % rng.randrange(100)
    target = "/cgi%s?n=%d" % (pi, n)
    if method == "POST":
        body = rng.randbytes(rng.choice([1, 100, 5000, 70000, 300000]))
        return Req("cgi-post", "POST", target, [("Content-Type", "application/octet-stream")],
                   body=body, check=want_full(200, cgi_output("POST", n, pi, body)))
    return Req("cgi-get", "GET", target, check=want_full(200, cgi_output("GET", n, pi)),
               big=n >= 50000)


# -- statistics -------------------------------------------------------------------

class Stats:
    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()
        self.ok = Counter()         # (proto, kind)
        self.failed = Counter()     # (proto, kind)
        self.aborts = Counter()     # (proto, abort)
        self.failures = []          # details
        self.bytes = 0
        self.sessions = Counter()

    def good(self, proto, kind, nbytes):
        with self.lock:
            self.ok[(proto, kind)] += 1
            self.bytes += nbytes

    def bad(self, proto, kind, what):
        with self.lock:
            self.failed[(proto, kind)] += 1
            if len(self.failures) < 200:
                self.failures.append("[%s] %s %s: %s" % (self.name, proto, kind, what))

    def abort(self, proto, what):
        with self.lock:
            self.aborts[(proto, what)] += 1

    def session(self, proto):
        with self.lock:
            self.sessions[proto] += 1


# -- HTTP/1 ------------------------------------------------------------------------

def h1_bytes(req, version="HTTP/1.1", extra=(), chunked=None):
    """The request's bytes; chunked: a Random to cut the body in chunks with."""
    headers = list(req.headers) + list(extra)
    body = req.body
    if chunked and body:
        headers.append(("Transfer-Encoding", "chunked"))
        out, i = b"", 0
        while i < len(body):
            n = chunked.randint(1, 40000)
            out += b"%x\r\n" % len(body[i:i + n]) + body[i:i + n] + b"\r\n"
            i += n
        body = out + b"0\r\n\r\n"
    return pthttp.build_request(req.method, req.path, headers, body, version)


def set_rst(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def h1_exchange(conn, req, stats, proto, data=None):
    """Sends one request and verifies its response; returns whether the
    connection may be used again."""
    try:
        conn.send(data if data is not None else h1_bytes(req))
        r = conn.read_response(req.method, timeout=TIMEOUT)
    except Exception as e:      # noqa: BLE001
        stats.bad(proto, req.kind, "%s %s: %s: %s" % (req.method, req.path,
                                                     type(e).__name__, e))
        return False
    return h1_result(r, req, stats, proto)


def h1_result(r, req, stats, proto):
    err = req.verify(r)
    if err:
        stats.bad(proto, req.kind, "%s %s: %s" % (req.method, req.path, err))
        return False
    stats.good(proto, req.kind, len(r.body))
    return (r.header("Connection") or "").lower() != "close" and r.version == "HTTP/1.1"


def read_some(conn, want):
    """Reads until conn.buf holds want bytes, the peer closes, or nothing
    comes for 2 s (the response may be shorter than want)."""
    while len(conn.buf) < want:
        try:
            if not conn._fill(time.monotonic() + 2.0):
                return
        except (socket.timeout, TimeoutError):
            return


def h1_abort(conn, rng, stats, proto):
    """Aborts on an open connection (which is closed afterwards)."""
    what = rng.choice(["mid-head", "mid-body", "mid-response", "rst"])
    sock = conn.sock
    try:
        if what == "mid-head":
            data = h1_bytes(gen_request(rng))
            head = data[:data.index(b"\r\n\r\n") + 4]
            conn.send(head[:rng.randint(1, len(head) - 1)])
        elif what == "mid-body":
            req = cgi_req(rng, "POST", n=rng.choice([0, 100]))
            data = h1_bytes(req)
            cut = data.index(b"\r\n\r\n") + 4 + rng.randrange(len(req.body))
            conn.send(data[:cut])
        elif what == "mid-response":
            req = gen_request(rng, big=True)
            conn.send(h1_bytes(req))
            read_some(conn, rng.randint(0, 600000))
        else:
            set_rst(sock)
            stage = rng.randrange(3)
            if stage >= 1:
                conn.send(h1_bytes(gen_request(rng, big=stage == 2)))
            if stage == 2:
                read_some(conn, rng.randint(1, 300000))
        if rng.random() < 0.3:
            time.sleep(rng.random() * 0.05)
    except OSError as e:
        stats.bad(proto, "abort-" + what, "%s: %s" % (type(e).__name__, e))
    finally:
        conn.close()
    stats.abort(proto, what)


def plain_conn(ports):
    return pthttp.Conn(ports["plain"], timeout=TIMEOUT)


class TLSClient:
    """Per-worker TLS contexts and a session to resume now and then."""

    def __init__(self, certs):
        self.ctx_h1 = pki.client_context(certs, alpn=["http/1.1"])
        self.ctx_h2 = pki.client_context(certs, alpn=["h2"])
        self.session = None

    def hello(self, ctx):
        """The ClientHello this context would send (for mid-handshake aborts)."""
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return out.read()


def session_h1(rng, ports, tls, stats, proto, deadline):
    """An HTTP/1.1 connection: keep-alive (h1-ka, h1-tls) or one request."""
    try:
        if proto == "h1-tls":
            sess = tls.session if rng.random() < 0.3 else None
            if rng.random() < ABORT_RATE / 4:
                # mid-handshake: part of a ClientHello, then close
                s = socket.create_connection(("127.0.0.1", ports["tls"]), timeout=TIMEOUT)
                hello = tls.hello(tls.ctx_h1)
                if rng.random() < 0.5:
                    set_rst(s)
                s.sendall(hello[:rng.randint(1, len(hello) - 1)])
                s.close()
                stats.abort(proto, "mid-head")
                return
            conn = pki.TLSConn(pki.tls_socket(ports["tls"], tls.ctx_h1, sni="localhost",
                                              timeout=TIMEOUT, session=sess))
        else:
            conn = plain_conn(ports)
    except Exception as e:      # noqa: BLE001
        stats.bad(proto, "connect", "%s: %s" % (type(e).__name__, e))
        return
    stats.session(proto)
    n = 1 if proto == "h1-new" else rng.randint(1, 25)
    try:
        for _ in range(n):
            if time.monotonic() > deadline:
                break
            if rng.random() < ABORT_RATE:
                h1_abort(conn, rng, stats, proto)
                return
            if proto == "h1-new":
                req = gen_request(rng)
                v = rng.random()
                if v < 0.3:
                    data = h1_bytes(req, "HTTP/1.0")
                elif v < 0.6:
                    data = h1_bytes(req, extra=[("Connection", "close")])
                else:
                    data = None
                h1_exchange(conn, req, stats, proto, data)
                return
            if rng.random() < 0.1:
                # a pipeline of GETs, answered in order
                reqs = [gen_request(rng, kind=rng.choice(["file", "range", "zip-id",
                                                          "zip-gz", "404", "redirect"]))
                        for _ in range(rng.randint(2, 5))]
                try:
                    conn.send(b"".join(h1_bytes(r) for r in reqs))
                except OSError as e:
                    stats.bad(proto, reqs[0].kind, "pipeline send: %s" % e)
                    return
                for req in reqs:
                    try:
                        r = conn.read_response(req.method, timeout=TIMEOUT)
                    except Exception as e:      # noqa: BLE001
                        stats.bad(proto, req.kind, "pipelined %s: %s: %s"
                                  % (req.path, type(e).__name__, e))
                        return
                    if not h1_result(r, req, stats, proto):
                        return
                continue
            req = gen_request(rng)
            chunked = req.body and req.kind == "cgi-post" and rng.random() < 0.3
            if not h1_exchange(conn, req, stats, proto,
                               h1_bytes(req, chunked=rng) if chunked else None):
                return
    finally:
        if proto == "h1-tls":
            try:
                tls.session = conn.sock.session     # tickets came with the responses
            except (OSError, ValueError):
                pass
        conn.close()


# -- HTTP/2 ------------------------------------------------------------------------

def h2_headers(req):
    hdrs = [(k.lower(), v) for k, v in req.headers]
    if req.body:
        hdrs.append(("content-length", str(len(req.body))))
    return hdrs


def h2_mid_head(rng, ports, tls, stats, proto):
    """A new connection that stops inside its first HEADERS frame (or inside
    the TLS ClientHello)."""
    try:
        if proto == "h2-tls" and rng.random() < 0.5:
            s = socket.create_connection(("127.0.0.1", ports["tls"]), timeout=TIMEOUT)
            hello = tls.hello(tls.ctx_h2)
            part = hello[:rng.randint(1, len(hello) - 1)]
        else:
            c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            c.initiate_connection()
            c.send_headers(1, [(":method", "GET"), (":scheme", "http"),
                               (":path", "/f/size-4096.bin"), (":authority", "localhost")],
                           end_stream=True)
            data = c.data_to_send()
            part = data[:rng.randint(1, len(data) - 1)]
            if proto == "h2-tls":
                s = pki.tls_socket(ports["tls"], tls.ctx_h2, sni="localhost",
                                   timeout=TIMEOUT)
            else:
                s = socket.create_connection(("127.0.0.1", ports["plain"]),
                                             timeout=TIMEOUT)
        if rng.random() < 0.5:
            set_rst(s)
        s.sendall(part)
        s.close()
    except Exception as e:      # noqa: BLE001
        stats.bad(proto, "abort-mid-head", "%s: %s" % (type(e).__name__, e))
    stats.abort(proto, "mid-head")


def session_h2(rng, ports, tls, stats, proto, deadline):
    if rng.random() < ABORT_RATE / 5:
        h2_mid_head(rng, ports, tls, stats, proto)
        return
    try:
        if proto == "h2-tls":
            cl = h2frames.H2Client(ports["tls"], tls_ctx=tls.ctx_h2, sni="localhost",
                                   timeout=TIMEOUT)
        else:
            cl = h2frames.H2Client(ports["plain"], timeout=TIMEOUT)
    except Exception as e:      # noqa: BLE001
        stats.bad(proto, "connect", "%s: %s" % (type(e).__name__, e))
        return
    stats.session(proto)
    try:
        for _ in range(rng.randint(1, 8)):
            if time.monotonic() > deadline:
                break
            if not h2_batch(cl, rng, stats, proto):
                return
    finally:
        cl.close()


def h2_batch(cl, rng, stats, proto):
    """Up to 8 concurrent streams, maybe one of them an abort.  Returns
    whether the connection is still usable."""
    n = rng.randint(1, 8)
    streams = {}            # sid -> Req
    abort = None            # (sid, how, threshold)
    try:
        for _ in range(n):
            if abort is None and rng.random() < ABORT_RATE:
                how = rng.choices(["rst-stream", "mid-body", "mid-response", "rst"],
                                  [45, 25, 15, 15])[0]
                if how == "mid-body":
                    req = cgi_req(rng, "POST", n=0)
                    sid = cl.conn.get_next_available_stream_id()
                    cl.conn.send_headers(sid, [(":method", "POST"), (":scheme", cl.scheme),
                                               (":path", req.path),
                                               (":authority", "localhost")]
                                         + h2_headers(req), end_stream=False)
                    cl.streams[sid] = h2frames.H2Response(sid)
                    room = min(cl.conn.local_flow_control_window(sid),
                               cl.conn.max_outbound_frame_size, len(req.body) - 1)
                    part = rng.randint(0, room) if room > 0 else 0
                    if part:
                        cl.conn.send_data(sid, req.body[:part])
                    if rng.random() < 0.7:
                        cl.conn.reset_stream(sid, CANCEL)
                        cl.flush()
                        stats.abort(proto, "mid-body")
                        continue
                    cl.flush()
                    abort = (sid, "close", 0)   # the connection goes, mid-body
                    break
                req = gen_request(rng, big=True)
                sid = cl.request(req.path, req.method, h2_headers(req), req.body or None)
                abort = (sid, how, rng.randint(0, 500000))
                continue
            req = gen_request(rng)
            sid = cl.request(req.path, req.method, h2_headers(req), req.body or None)
            streams[sid] = req
    except Exception as e:      # noqa: BLE001
        stats.bad(proto, "send", "%s: %s" % (type(e).__name__, e))
        return False

    pending = set(streams)
    if abort:
        pending.add(abort[0])
    end = time.monotonic() + TIMEOUT
    try:
        while pending:
            for sid in list(pending):
                st = cl.streams[sid]
                if abort and sid == abort[0]:
                    _, how, threshold = abort
                    if st.received >= threshold or st.ended or st.reset is not None \
                            or how == "close":
                        pending.discard(sid)
                        if how == "rst-stream":
                            if not st.ended and st.reset is None:
                                cl.conn.reset_stream(sid, CANCEL)
                                cl.flush()
                            stats.abort(proto, "rst-stream")
                        else:
                            if how == "rst":
                                set_rst(cl.sock)
                            cl.sock.close()
                            cl.closed = True
                            stats.abort(proto, {"close": "mid-body", "rst": "rst",
                                                "mid-response": "mid-response"}[how])
                            return False
                    continue
                if st.ended or st.reset is not None:
                    pending.discard(sid)
                    req = streams[sid]
                    if st.reset is not None:
                        stats.bad(proto, req.kind, "%s %s: stream reset by the server (%s)"
                                  % (req.method, req.path, h2frames.err_name(st.reset)))
                        continue
                    err = req.verify(st)
                    if err:
                        stats.bad(proto, req.kind, "%s %s: %s" % (req.method, req.path, err))
                    else:
                        stats.good(proto, req.kind, len(st.body))
            if not pending:
                break
            if cl.closed:
                raise ConnectionError("server closed the connection (GOAWAY %r)"
                                      % (cl.goaway,))
            cl.pump(end)
    except Exception as e:      # noqa: BLE001
        for sid in pending:
            if sid in streams:
                req = streams[sid]
                stats.bad(proto, req.kind, "%s %s: %s: %s" % (req.method, req.path,
                                                             type(e).__name__, e))
        return False
    return cl.goaway is None


# -- workers and phases -------------------------------------------------------------

SESSIONS = [("h1-ka", 30), ("h1-new", 15), ("h1-tls", 12), ("h2c", 20), ("h2-tls", 15)]


def worker(idx, ports, certs, stats, deadline, stop):
    rng = random.Random(SEED * 1000 + idx * 10 + (stats.name == "soak"))
    tls = TLSClient(certs)
    names = [s for s, _ in SESSIONS]
    weights = [w for _, w in SESSIONS]
    while time.monotonic() < deadline and not stop.is_set():
        proto = rng.choices(names, weights)[0]
        try:
            if proto.startswith("h2"):
                session_h2(rng, ports, tls, stats, proto, deadline)
            else:
                session_h1(rng, ports, tls, stats, proto, deadline)
        except Exception:       # noqa: BLE001 - a bug here must not stop the soak
            stats.bad(proto, "client-error", traceback.format_exc(limit=4))


def rss_kb(pid):
    return cgitools.rss_kb(pid)


def fd_map(pid):
    return cgitools.fds(pid)


def fd_kinds(fds, docroot):
    """(Counter of descriptor kinds other than served files, Counter of served
    files by path).  Sockets and pipes count by kind, not by inode."""
    other, files = Counter(), Counter()
    prefix = str(docroot) + "/"
    for target in fds.values():
        if target.startswith(prefix) and not os.path.isdir(target):
            files[target[len(prefix):]] += 1   # mount roots (directories) are kept
        else:
            other[re.sub(r":\[\d+\]$", "", target)] += 1
    return other, files


def cgi_children(pid):
    return cgitools.children(pid)


def run_phase(name, secs, srv, ports, certs, progress=None):
    stats = Stats(name)
    stop = threading.Event()
    deadline = time.monotonic() + secs
    threads = [threading.Thread(target=worker, args=(i, ports, certs, stats, deadline, stop),
                                daemon=True) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    samples = []
    t0 = time.monotonic()
    next_print = t0 + 30
    while any(t.is_alive() for t in threads):
        time.sleep(1.0)
        if not srv.alive():
            stop.set()
            break
        try:
            samples.append((time.monotonic() - t0, rss_kb(srv.pid), len(fd_map(srv.pid))))
        except OSError:
            pass
        if progress and time.monotonic() >= next_print and samples:
            next_print += 30
            with stats.lock:
                done = sum(stats.ok.values())
                bad = sum(stats.failed.values())
                ab = sum(stats.aborts.values())
            el, rss, nfd = samples[-1]
            print("  %s %4.0fs: %d ok, %d failed, %d aborts; RSS %d kB, %d fds"
                  % (name, el, done, bad, ab, rss, nfd), flush=True)
    for t in threads:
        t.join(TIMEOUT * 3)
    stats.wall = time.monotonic() - t0
    stats.samples = samples
    return stats


def wait_idle(srv, min_wait=3.0, stable=3.0, timeout=60.0):
    """Waits until the server's descriptors and children stay unchanged for
    `stable` seconds (and at least min_wait, past the 1 s file cache)."""
    t0 = time.monotonic()
    last, since = None, t0
    while True:
        if not srv.alive():
            return False
        now = time.monotonic()
        state = (sorted(fd_map(srv.pid).items()),
                 [c for c, st in cgi_children(srv.pid) if st != "Z"])
        if state != last:
            last, since = state, now
        if now - t0 >= min_wait and now - since >= stable:
            return True
        if now - t0 > timeout:
            return False
        time.sleep(0.25)


# -- the report ----------------------------------------------------------------------

def table(title, counter, rows, failed=None):
    cols = PROTOS
    lines = [title, "  %-14s" % "" + "".join("%9s" % c for c in cols) + "%10s" % "total"]
    seen = {k for _, k in counter} | ({k for _, k in failed} if failed else set())
    for row in rows + sorted(seen - set(rows)):
        vals = [counter.get((c, row), 0) for c in cols]
        bad = [failed.get((c, row), 0) for c in cols] if failed else [0] * len(cols)
        if not any(vals) and not any(bad):
            continue

        def cell(v, b):
            return ("%d" % v) + ("/%dF" % b if b else "")
        lines.append("  %-14s" % row + "".join("%9s" % cell(v, b) for v, b in zip(vals, bad))
                     + "%10s" % cell(sum(vals), sum(bad)))
    return "\n".join(lines)


def main():
    t_start = time.monotonic()
    binary = ptserver.portico_bin()
    if not os.path.exists(binary):
        print("soak: portico binary not found at %s (make asan, or set PORTICO_BIN)"
              % binary, file=sys.stderr)
        return 2
    opts = "detect_leaks=1:abort_on_error=0:quarantine_size_mb=%d" % QUARANTINE_MB
    if os.environ.get("ASAN_OPTIONS"):
        opts += ":" + os.environ["ASAN_OPTIONS"]
    os.environ["ASAN_OPTIONS"] = opts
    os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")

    base = Path(tempfile.mkdtemp(prefix="portico-soak-"))

    class Dirs:             # the part of pytest's tmp_path_factory ptserver uses
        n = 0

        def mktemp(self, name):
            Dirs.n += 1
            p = base / ("%s%d" % (name, Dirs.n))
            p.mkdir()
            return p

    print("soak: %s, warm-up %ds, soak %ds, %d clients, abort rate %.3f, seed %d"
          % (binary, WARMUP_SECS, SOAK_SECS, CLIENTS, ABORT_RATE, SEED), flush=True)
    print("soak: ASAN_OPTIONS=%s; temp dir %s" % (opts, base), flush=True)
    certs = pki.Certs(Dirs().mktemp("pki"))
    factory = ptserver.Factory(Dirs(), "soak")
    site, vhosts, tls_port = build_site(factory, certs)
    srv = site.start(vhosts=vhosts, global_={"count-threads": THREADS},
                     log_level=LOG_LEVEL)
    ports = {"plain": site.port, "tls": tls_port}
    print("soak: portico pid %d on 127.0.0.1:%d (HTTP/1.1, h2c) and :%d (TLS)"
          % (srv.pid, ports["plain"], ports["tls"]), flush=True)

    problems = []
    warm = run_phase("warm-up", WARMUP_SECS, srv, ports, certs)
    idle0 = wait_idle(srv)
    if not srv.alive():
        problems.append("portico died during the warm-up")
        rss0, fds0 = 0, {}
    else:
        rss0, fds0 = rss_kb(srv.pid), fd_map(srv.pid)
        print("soak: warm-up done: %d ok, %d failed, %d aborts; idle%s: RSS %d kB, %d fds"
              % (sum(warm.ok.values()), sum(warm.failed.values()),
                 sum(warm.aborts.values()), "" if idle0 else " (NOT settled)",
                 rss0, len(fds0)), flush=True)

    main_stats = None
    rss1, fds1, kids = 0, {}, []
    if srv.alive():
        main_stats = run_phase("soak", SOAK_SECS, srv, ports, certs, progress=True)
        idle1 = wait_idle(srv)
        if srv.alive():
            rss1, fds1 = rss_kb(srv.pid), fd_map(srv.pid)
            kids = cgi_children(srv.pid)
            if not idle1:
                problems.append("the server did not settle within 60 s after the traffic")
        else:
            problems.append("portico died during the soak")

    t_stop = time.monotonic()
    died = not srv.alive()
    try:
        rc = srv.stop(signal.SIGTERM, timeout=60)
    except AssertionError as e:
        rc = None
        problems.append(str(e).splitlines()[0])
    stop_secs = time.monotonic() - t_stop
    log = srv.log()
    bad_lines = ptserver.sanitizer_lines(log)

    # -- summary
    print()
    print("=" * 78)
    for st in [warm] + ([main_stats] if main_stats else []):
        ok, failed = sum(st.ok.values()), sum(st.failed.values())
        print("%s phase: %.0f s, %d requests verified (%.1f MB), %d failed, %d aborts,"
              " sessions %s" % (st.name, st.wall, ok, st.bytes / 1e6, failed,
                                sum(st.aborts.values()),
                                ", ".join("%s %d" % (p, st.sessions[p]) for p in PROTOS)))
    st = main_stats or warm
    print()
    print(table("%s phase: completed and verified requests (N/kF: k failed) by kind"
                " and protocol:" % st.name, st.ok, KINDS, st.failed))
    print()
    print(table("%s phase: aborted requests:" % st.name, st.aborts, ABORTS))
    failures = warm.failures + (main_stats.failures if main_stats else [])
    nfail = sum(warm.failed.values()) + (sum(main_stats.failed.values()) if main_stats else 0)
    if nfail:
        problems.append("%d failed or corrupted responses" % nfail)
        print()
        print("failures (first %d of %d):" % (min(len(failures), 40), nfail))
        for f in failures[:40]:
            print("  " + f.rstrip().replace("\n", "\n    "))
    print()
    if rss0 and rss1:
        growth = (rss1 - rss0) * 100.0 / rss0
        samples = main_stats.samples if main_stats else []
        smin = min((s[1] for s in samples), default=0)
        smax = max((s[1] for s in samples), default=0)
        print("RSS: after warm-up %d kB, at the end %d kB (%+.1f%%, limit +%.0f%%);"
              " during the soak %d..%d kB" % (rss0, rss1, growth, (RSS_LIMIT - 1) * 100,
                                              smin, smax))
        for st in [warm] + ([main_stats] if main_stats else []):
            pts = st.samples[::max(1, len(st.samples) // 10)]
            print("  RSS during the %s (s: kB): %s" % (st.name, ", ".join(
                "%.0f: %d" % (t, r) for t, r, _ in pts)))
        if rss1 > RSS_LIMIT * rss0:
            problems.append("RSS grew %.1f%% (%d -> %d kB)" % (growth, rss0, rss1))
        # An idle worker closes its file cache's expired entries within about
        # two seconds (fops/fcache.c), and wait_idle() waited longer: every
        # descriptor must be back exactly, and no served file held open.
        other0, files0 = fd_kinds(fds0, site.docroot)
        other1, files1 = fd_kinds(fds1, site.docroot)
        print("descriptors: baseline %d, at the end %d (served files still open: %d, %d)"
              % (len(fds0), len(fds1), sum(files0.values()), sum(files1.values())))
        if other1 != other0:
            problems.append("descriptors: %d at the end, baseline %d"
                            % (sum(other1.values()), sum(other0.values())))
            print("  more at the end: %r" % dict(other1 - other0))
            print("  fewer at the end: %r" % dict(other0 - other1))
        if files1:
            problems.append("served files still open after idle: %r" % dict(files1))
        live = [c for c, s in kids if s != "Z"]
        print("children at the end: %d (%d zombies)" % (len(kids), len(kids) - len(live)))
        if kids:
            problems.append("%d child processes left at the end" % len(kids))
    if died:
        print("exit status: %s (portico died before the SIGTERM)" % rc)
        problems.append("exit status %r" % rc)
    else:
        print("exit after SIGTERM: %s in %.1f s" % (rc, stop_secs))
        if rc != 0:
            problems.append("exit status %r after SIGTERM" % rc)
    if bad_lines:
        problems.append("%d sanitizer report lines" % len(bad_lines))
        print("sanitizer reports: %d lines:" % len(bad_lines))
        for ln in bad_lines[:20]:
            print("  " + ln)
        i = min(log.find(p) for p in ptserver.SANITIZER_PATTERNS if p in log)
        print("stderr from the first report:\n" + log[max(0, i - 2000):i + 6000])
    else:
        print("sanitizer reports: none (%d bytes of portico stderr scanned)" % len(log))
    print("wall time: %.0f s" % (time.monotonic() - t_start))
    print("=" * 78)
    if problems:
        print("SOAK FAILED:")
        for p in problems:
            print("  - " + p)
        print("portico stderr and the site are kept in %s" % base)
        return 1
    print("SOAK PASSED")
    if not KEEP:
        shutil.rmtree(base, ignore_errors=True)
    else:
        print("kept %s" % base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
