"""HTTP/2 (issue 3): h2 over TLS by ALPN and cleartext prior-knowledge
h2c; every mount answering over h2 exactly as over HTTP/1.1 (files with
conditionals and ranges, redirects, error pages, basic auth); h2 header
rules (lower-case names, no connection-specific fields, content-length
when the length is known); :authority vhost selection and 421; SETTINGS;
flow control both ways; streaming large files without loading them;
graceful shutdown.  Driven by curl, nghttp, h2load, python3-h2 and raw
frames (h2frames.py)."""

import base64
import hashlib
import os
import random
import re
import signal
import subprocess
import time

import pytest

import pthttp
from certs import certs_fixture  # noqa: F401  (the `certs` fixture)
from certs import client_context, tls_conn
from h2frames import (ACK, CANCEL, COMPRESSION_ERROR, DATA, END_STREAM, ENHANCE_YOUR_CALM,
                      ENABLE_PUSH, FLOW_CONTROL_ERROR, GOAWAY, HEADERS,
                      INITIAL_WINDOW_SIZE, MAX_CONCURRENT_STREAMS,
                      MAX_HEADER_LIST_SIZE, NO_ERROR, PING, PREFACE,
                      PROTOCOL_ERROR, REFUSED_STREAM, RST_STREAM, SETTINGS,
                      H2Client, RawH2, check_h2_headers, continuation_frame,
                      data_frame, goaway_frame, headers_frame,
                      ping_frame, rst_frame, settings_frame, window_update_frame)
from ptserver import sanitize_enabled

MTIME = 1500000000
TEXT = bytes(range(32, 127)) * 10            # 950 bytes
BIG = random.Random(7).randbytes(8 * 1000 * 1000)
BIG_SHA = hashlib.sha256(BIG).hexdigest()
HUGE_SIZE = 64 * 1024 * 1024                  # sparse: zeros
CURL = "curl"


def basic(user, pw):
    return "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()


def fill_docroot(site):
    w = site.write
    w("index.html", "<html>index</html>\n")
    w("a.txt", "hello\n")
    w("t.txt", TEXT)
    w("s.css", "body{}\n")
    w("u.xyz", "unknown suffix\n")
    w("big.bin", BIG)
    w("noindex/x.txt", "x\n")
    w("priv/s.txt", "secret\n")
    w("sub/s.txt", "sub\n")
    w("404.html", "<p>custom not found</p>\n")
    with open(site.docroot / "huge.bin", "wb") as f:
        f.truncate(HUGE_SIZE)
    for p in ("t.txt", "big.bin"):
        os.utime(site.docroot / p, (MTIME, MTIME))


def mounts(site, htpasswd):
    return [
        site.mount("/", headers=[{"X-Mount": "root"}],
                   **{"cache-max-age": 60, "cache-reuse": 1}),
        {"mountpoint": "/r", "origin": ">https://example.com/x"},
        {"mountpoint": "/al", "origin": ">https://example.com/base", "append-path": 1},
        site.mount("/priv", "file://%s" % (site.docroot / "priv"),
                   **{"basic-auth": str(htpasswd)}),
    ]


class Ports:
    pass


@pytest.fixture(scope="module")
def srv(portico, certs):
    site = portico.site()
    fill_docroot(site)
    htpasswd = site.write("htpasswd", "alice:secret\n", base=site.root)
    p = Ports()
    p.tls = site.port
    p.plain = site.new_port()
    other = site.root / "other"
    site.write("who.txt", "other.test", base=other)
    site.write("a.txt", "other a\n", base=other)
    for name in ("a.test", "b.test"):
        site.write("who.txt", name, base=site.root / name)
    site.write("who.txt", "localhost", base=site.docroot)

    def tlsv(name, cert, key, m, **kw):
        kw.update({"host-ssl-cert": cert, "host-ssl-key": key})
        return site.vhost(name=name, port=p.tls, mounts=m, **kw)

    vhosts = [
        tlsv("localhost", certs.local_cert, certs.local_key, mounts(site, htpasswd),
             sts=1),
        tlsv("a.test", certs.a_cert, certs.a_key,
             [site.mount("/", "file://%s" % (site.root / "a.test"))]),
        tlsv("b.test", certs.b_cert, certs.b_key,
             [site.mount("/", "file://%s" % (site.root / "b.test"))]),
        site.vhost(name="localhost", port=p.plain, mounts=mounts(site, htpasswd)),
        site.vhost(name="other.test", port=p.plain,
                   mounts=[site.mount("/", "file://%s" % other)],
                   **{"error-document-404": "/404doc.txt"}),
    ]
    site.write("404doc.txt", "other.test custom 404\n", base=other)
    s = site.start(vhosts=vhosts, global_={"count-threads": 2, "timeout-secs": 10})
    s.p = p
    s.certs = certs
    return s


@pytest.fixture(scope="module")
def tuned(portico):
    """A plaintext server with non-default HTTP/2 settings."""
    site = portico.site("tuned")
    fill_docroot(site)
    return site.start(global_={"count-threads": 1, "h2-max-concurrent-streams": 7,
                               "h2-initial-window-size": 8192,
                               "max-header-size": 4096})


def h2c(srv, **kw):
    return H2Client(srv.p.plain, **kw)


def h2tls(srv, sni="localhost", authority=None, **kw):
    ctx = client_context(srv.certs, alpn=["h2", "http/1.1"])
    return H2Client(srv.p.tls, tls_ctx=ctx, sni=sni,
                    authority=authority if authority is not None else sni, **kw)


def h2_get(srv, transport, path, **kw):
    with (h2c(srv) if transport == "h2c" else h2tls(srv)) as c:
        return c.get(path, **kw)


def h1_get(srv, transport, path, method="GET", headers=()):
    hdrs = list(headers)
    if transport == "h2c":
        return pthttp.fetch(srv.p.plain, path, method=method, headers=hdrs)
    with tls_conn(srv.p.tls, srv.certs, sni="localhost", alpn=["http/1.1"]) as c:
        c.request(method, path, hdrs)
        return c.read_response(method)


def raw(srv, port=None, settings=None, tls=False, sni="localhost", **kw):
    if tls:
        ctx = client_context(srv.certs, alpn=["h2"])
        return RawH2(srv.p.tls, tls_ctx=ctx, sni=sni, settings=settings, **kw)
    return RawH2(port or srv.p.plain, settings=settings, **kw)


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    raise AssertionError("no VmRSS")


def assert_length_framing(r, method="GET"):
    """content-length present for known lengths and equal to the DATA."""
    check_h2_headers(r)
    cl = r.header("content-length")
    if r.status == 304 or method == "HEAD":
        assert r.body == b"", r
        return
    if r.status in (204,) or 100 <= r.status < 200:
        return
    assert cl is not None, "no content-length on h2 %s: %r" % (r.status, r.headers)
    assert int(cl) == len(r.body), (cl, len(r.body))


# -- clients: curl, nghttp, h2load ---------------------------------------------------------

def curl(args, timeout=30):
    p = subprocess.run([CURL, "-sS", "--max-time", str(timeout)] + args,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout + 5)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def curl_tls_args(srv, host="localhost"):
    return ["--cacert", srv.certs.ca, "--resolve", "%s:%d:127.0.0.1" % (host, srv.p.tls)]


def test_curl_h2_over_tls(srv):
    rc, out, err = curl(curl_tls_args(srv) + [
        "--http2", "-w", "\n%{http_version} %{http_code}",
        "https://localhost:%d/a.txt" % srv.p.tls])
    assert rc == 0, err
    assert out == b"hello\n\n2 200", out


def test_curl_prior_knowledge(srv):
    rc, out, err = curl(["--http2-prior-knowledge", "-w", "\n%{http_version} %{http_code}",
                         "http://127.0.0.1:%d/a.txt" % srv.p.plain])
    assert rc == 0, err
    assert out == b"hello\n\n2 200", out


def test_curl_upgrade_h2c_answered(srv):
    """`Upgrade: h2c` may be declined (HTTP/1.1 answer) or honoured."""
    rc, out, err = curl(["--http2", "-w", "\n%{http_version} %{http_code}",
                         "http://127.0.0.1:%d/t.txt" % srv.p.plain])
    assert rc == 0, err
    body, _, tail = out.rpartition(b"\n")
    assert body == TEXT
    assert tail in (b"1.1 200", b"2 200"), tail


def test_curl_http11_over_tls(srv):
    rc, out, err = curl(curl_tls_args(srv) + [
        "--http1.1", "-w", "\n%{http_version} %{http_code}",
        "https://localhost:%d/a.txt" % srv.p.tls])
    assert rc == 0, err
    assert out == b"hello\n\n1.1 200", out


def test_curl_h2_headers(srv):
    rc, out, err = curl(curl_tls_args(srv) + [
        "--http2", "-D", "-", "-o", "/dev/null", "https://localhost:%d/t.txt" % srv.p.tls])
    assert rc == 0, err
    lines = out.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/2 200"), lines[0]
    names = [ln.split(":", 1)[0] for ln in lines[1:] if ln]
    assert names and all(n == n.lower() for n in names), names
    assert "content-length" in names
    assert "strict-transport-security" in names
    for bad in ("connection", "keep-alive", "transfer-encoding"):
        assert bad not in names


def test_curl_h2_big_file(srv, tmp_path):
    out = tmp_path / "big"
    rc, _, err = curl(curl_tls_args(srv) + [
        "--http2", "-o", str(out), "https://localhost:%d/big.bin" % srv.p.tls])
    assert rc == 0, err
    assert hashlib.sha256(out.read_bytes()).hexdigest() == BIG_SHA


def test_curl_h2_basic_auth_and_range(srv):
    rc, out, err = curl(curl_tls_args(srv) + [
        "--http2", "-u", "alice:secret", "-w", " %{http_code}",
        "https://localhost:%d/priv/s.txt" % srv.p.tls])
    assert rc == 0 and out == b"secret\n 200", (out, err)
    rc, out, err = curl(curl_tls_args(srv) + [
        "--http2", "-r", "10-19", "-w", " %{http_code}",
        "https://localhost:%d/t.txt" % srv.p.tls])
    assert rc == 0 and out == TEXT[10:20] + b" 206", (out, err)


def nghttp_stats(args, timeout=30):
    p = subprocess.run(["nghttp", "-ns"] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    rows = re.findall(r"^\s*\d+\s+\S+\s+\S+\s+\S+\s+(\d{3})\s+(\d+)\s+(\S+)\s*$",
                      p.stdout.decode(), re.M)
    return p.returncode, rows, p.stdout.decode() + p.stderr.decode()


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_nghttp_multiplexed(srv, scheme):
    port = srv.p.tls if scheme == "https" else srv.p.plain
    base = "%s://127.0.0.1:%d" % (scheme, port)
    rc, rows, text = nghttp_stats(["-m", "10", base + "/t.txt", base + "/a.txt",
                                   base + "/missing"])
    assert rc == 0, text
    assert len(rows) == 30, text
    by_path = {}
    for code, size, path in rows:
        by_path.setdefault(path, []).append((code, size))
    assert by_path["/t.txt"] == [("200", str(len(TEXT)))] * 10, text
    assert by_path["/a.txt"] == [("200", "6")] * 10, text
    assert [c for c, _ in by_path["/missing"]] == ["404"] * 10, text


def test_nghttp_small_windows_big_file(srv, tmp_path):
    """nghttp with 16 KiB stream and 32 KiB connection windows."""
    out = tmp_path / "big"
    with open(out, "wb") as f:
        p = subprocess.run(["nghttp", "-w", "14", "-W", "15",
                            "https://127.0.0.1:%d/big.bin" % srv.p.tls],
                           stdout=f, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, p.stderr
    assert hashlib.sha256(out.read_bytes()).hexdigest() == BIG_SHA


def h2load(args, timeout=60):
    p = subprocess.run(["h2load"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return p.returncode, p.stdout.decode() + p.stderr.decode()


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_h2load(srv, scheme):
    port = srv.p.tls if scheme == "https" else srv.p.plain
    rc, text = h2load(["-n", "4000", "-c", "4", "-m", "32",
                       "%s://127.0.0.1:%d/a.txt" % (scheme, port)])
    assert rc == 0, text
    assert re.search(r"Application protocol: h2c?\b", text), text
    assert "4000 succeeded, 0 failed, 0 errored" in text, text
    assert "status codes: 4000 2xx" in text, text


# -- equivalence with HTTP/1.1 ---------------------------------------------------------

ETAG_CACHE = {}


def etag_of(srv, path):
    if path not in ETAG_CACHE:
        ETAG_CACHE[path] = pthttp.fetch(srv.p.plain, path).header("ETag")
    return ETAG_CACHE[path]


CASES = [
    ("GET", "/a.txt", []),
    ("GET", "/t.txt", []),
    ("GET", "/", []),
    ("GET", "/index.html", []),
    ("GET", "/s.css", []),
    ("GET", "/sub/s.txt", []),
    ("GET", "/sub/../a.txt", []),
    ("GET", "/missing", []),
    ("GET", "/noindex/", []),
    ("GET", "/u.xyz", []),
    ("POST", "/a.txt", []),
    ("DELETE", "/a.txt", []),
    ("GET", "/r", []),
    ("GET", "/r/deeper?x=1", []),
    ("GET", "/al/p/q.html?x=1", []),
    ("GET", "/priv/s.txt", []),
    ("GET", "/priv/s.txt", [("authorization", basic("alice", "secret"))]),
    ("GET", "/priv/s.txt", [("authorization", basic("alice", "wrong"))]),
    ("HEAD", "/t.txt", []),
    ("HEAD", "/missing", []),
    ("HEAD", "/big.bin", []),
    ("GET", "/t.txt", [("range", "bytes=0-9")]),
    ("GET", "/t.txt", [("range", "bytes=-10")]),
    ("GET", "/t.txt", [("range", "bytes=900-")]),
    ("GET", "/t.txt", [("range", "bytes=5000-6000")]),
    ("GET", "/t.txt", [("range", "bytes=0-1,10-19,-5")]),
    ("GET", "/t.txt", [("if-none-match", "ETAG")]),
    ("GET", "/t.txt", [("if-none-match", '"nope"')]),
    ("GET", "/t.txt", [("if-modified-since", pthttp.http_date(MTIME))]),
    ("GET", "/t.txt", [("if-modified-since", pthttp.http_date(MTIME - 86400))]),
    ("GET", "/t.txt", [("if-range", "ETAG"), ("range", "bytes=5-9")]),
    ("GET", "/t.txt", [("if-range", '"other"'), ("range", "bytes=5-9")]),
    ("GET", "/t.txt", [("if-match", '"nope"')]),
    ("GET", "/big.bin", [("range", "bytes=1000000-1999999")]),
    ("GET", "/big.bin", []),
]

SKIP_HEADERS = {"date", "connection", "keep-alive", "transfer-encoding"}


def _resolve(srv, headers):
    return [(k, etag_of(srv, "/t.txt") if v == "ETAG" else v) for k, v in headers]


def _compare(h1, h2r, method):
    assert h2r.status == h1.status, (h1, h2r)
    assert h2r.reset is None, h2r
    assert_length_framing(h2r, method)
    n1 = {k.lower() for k, _ in h1.headers} - SKIP_HEADERS
    n2 = {k for k, _ in h2r.headers} - SKIP_HEADERS
    if h1.status == 304:
        n1.discard("content-length")
        n2.discard("content-length")
    assert n1 == n2, "h1 %s vs h2 %s" % (sorted(n1), sorted(n2))
    multipart = (h1.header("Content-Type") or "").startswith("multipart/byteranges")
    for name in n1:
        if name == "content-type" and multipart:
            continue
        assert h2r.header_all(name) == h1.header_all(name), name
    if multipart:
        assert pthttp.parse_multipart_byteranges(h2r) == \
            pthttp.parse_multipart_byteranges(h1)
    else:
        assert h2r.body == h1.body


@pytest.mark.parametrize("transport", ["h2c", "tls"])
@pytest.mark.parametrize("method,path,headers", CASES,
                         ids=["%s %s %s" % (m, p, " ".join(k for k, _ in h))
                              for m, p, h in CASES])
def test_same_as_http1(srv, transport, method, path, headers):
    hdrs = _resolve(srv, headers)
    h1 = h1_get(srv, transport, path, method, hdrs)
    h2r = h2_get(srv, transport, path, method=method, headers=hdrs)
    _compare(h1, h2r, method)


def test_all_cases_on_one_connection(srv):
    """The same requests multiplexed on one h2 connection (all in flight
    at once) give the same answers as one by one."""
    cases = [c for c in CASES if not (c[1] == "/big.bin" and c[0] == "GET")]
    with h2tls(srv) as c:
        sids = [(c.request(p, method=m, headers=_resolve(srv, h)), m, p, h)
                for m, p, h in cases]
        for sid, m, p, h in sids:
            r = c.response(sid, timeout=30)
            _compare(h1_get(srv, "tls", p, m, _resolve(srv, h)), r, m)


def test_head_has_no_data(srv):
    with raw(srv) as c:
        c.handshake()
        c.request(1, "/t.txt", method="HEAD")
        hdrs, body, rst = c.response(1)
        assert rst is None and body == b""
        assert dict(hdrs)[":status"] == "200"
        assert dict(hdrs)["content-length"] == str(len(TEXT))


def test_status_first_and_lowercase(srv):
    with raw(srv, tls=True) as c:
        c.handshake()
        for sid, path in ((1, "/t.txt"), (3, "/missing"), (5, "/r"), (7, "/priv/s.txt")):
            c.request(sid, path, scheme="https")
            hdrs, body, rst = c.response(sid)
            assert hdrs[0][0] == ":status", hdrs
            for k, v in hdrs:
                assert k == k.lower(), hdrs


# -- vhosts: :authority, Host, SNI and 421 ----------------------------------------------

@pytest.mark.parametrize("authority,expect", [
    ("other.test", "other.test"),
    ("other.test:%d", "other.test"),
    ("OTHER.Test", "other.test"),
    ("localhost", "localhost"),
    ("unknown.example", "localhost"),
    ("127.0.0.1:%d", "localhost"),
])
def test_authority_selects_vhost(srv, authority, expect):
    if "%d" in authority:
        authority = authority % srv.p.plain
    with h2c(srv, authority=authority) as c:
        r = c.get("/who.txt")
    assert r.status == 200 and r.text == expect


def test_host_header_without_authority(srv):
    with h2c(srv, authority="") as c:
        r = c.get("/who.txt", headers=[("host", "other.test")])
    assert r.status == 200 and r.text == "other.test"


def test_vhost_per_stream(srv):
    with h2c(srv) as c:
        s1 = c.request("/who.txt", authority="other.test")
        s2 = c.request("/who.txt", authority="localhost")
        s3 = c.request("/missing", authority="other.test")
        assert c.response(s1).text == "other.test"
        assert c.response(s2).text == "localhost"
        r = c.response(s3)
        assert r.status == 404 and r.body == b"other.test custom 404\n"
        assert_length_framing(r)


@pytest.mark.parametrize("sni,authority,status", [
    ("a.test", "a.test", 200),
    ("a.test", "b.test", 421),
    ("a.test", "localhost", 421),
    ("b.test", "x.b.test", 200),
    ("localhost", "localhost:%d", 200),
    ("localhost", "a.test", 421),
])
def test_authority_421(srv, sni, authority, status):
    if "%d" in authority:
        authority = authority % srv.p.tls
    with h2tls(srv, sni=sni, authority=authority) as c:
        r = c.get("/who.txt")
        assert r.status == status, r
        assert_length_framing(r)
        # the connection survives a 421
        r2 = c.get("/who.txt", authority=sni)
        assert r2.status == 200 and r2.text == sni


def test_sts_over_h2(srv):
    r = h2_get(srv, "tls", "/a.txt")
    assert re.search(r"max-age=\d+", r.header("strict-transport-security") or ""), r.headers
    with h2tls(srv, sni="b.test") as c:
        assert not c.get("/who.txt").has("strict-transport-security")


def test_h2c_has_no_sts(srv):
    assert not h2_get(srv, "h2c", "/a.txt").has("strict-transport-security")


# -- connection set-up -------------------------------------------------------------------

def test_settings_defaults(srv):
    for tls in (False, True):
        with raw(srv, tls=tls) as c:
            f = c.handshake()
            s = f.settings
            assert s.get(MAX_CONCURRENT_STREAMS) == 100, s
            assert s.get(INITIAL_WINDOW_SIZE, 65535) == 65535, s
            assert s.get(MAX_HEADER_LIST_SIZE) == 16384, s
            assert s.get(ENABLE_PUSH, 0) == 0, s
            ack = c.read_until(lambda f: f.type == SETTINGS and f.flags & ACK)
            assert ack is not None, "our SETTINGS were not acknowledged"


def test_settings_configured(tuned):
    with RawH2(tuned.port) as c:
        s = c.handshake().settings
        assert s.get(MAX_CONCURRENT_STREAMS) == 7, s
        assert s.get(INITIAL_WINDOW_SIZE) == 8192, s
        assert s.get(MAX_HEADER_LIST_SIZE) == 4096, s


def test_preface_byte_by_byte(srv):
    with RawH2(srv.p.plain, preface=False) as c:
        data = PREFACE + settings_frame()
        for i in range(len(data)):
            c.send(data[i:i + 1])
            time.sleep(0.002)
        c.handshake()
        c.request(1, "/a.txt")
        hdrs, body, rst = c.response(1)
        assert dict(hdrs)[":status"] == "200" and body == b"hello\n"


def test_http1_and_h2c_share_the_port(srv):
    for _ in range(3):
        assert pthttp.fetch(srv.p.plain, "/a.txt").body == b"hello\n"
        assert h2_get(srv, "h2c", "/a.txt").body == b"hello\n"


def test_upgrade_h2c_manual(srv):
    """A raw `Upgrade: h2c` request: declined (a plain HTTP/1.1 answer) or
    accepted (101, then the response on stream 1 as HTTP/2)."""
    settings = base64.urlsafe_b64encode(settings_frame()[9:]).rstrip(b"=").decode()
    c = pthttp.Conn(srv.p.plain)
    try:
        c.request("GET", "/t.txt", {"Connection": "Upgrade, HTTP2-Settings",
                                    "Upgrade": "h2c", "HTTP2-Settings": settings})
        r = c.read_response(stop_at_interim=True)
        if r.status == 200:
            assert r.body == TEXT
            c.request("GET", "/a.txt")
            assert c.read_response().body == b"hello\n"
            return
        assert r.status == 101, r
        assert (r.header("Upgrade") or "").lower() == "h2c"
        c.send(PREFACE + settings_frame())
        h = RawH2(sock=c.sock, buf=c.buf, preface=False)
        h.handshake()
        hdrs, body, rst = h.response(1)
        assert dict(hdrs)[":status"] == "200" and body == TEXT
    finally:
        c.close()


def test_ping(srv):
    with raw(srv) as c:
        c.handshake()
        c.send(ping_frame(b"portico!"))
        f = c.read_until(lambda f: f.type == PING)
        assert f is not None and f.flags & ACK and f.payload == b"portico!"


def test_client_goaway_is_harmless(srv):
    """A client GOAWAY: the server may close or wait for the client to
    close; either way nothing breaks."""
    with raw(srv) as c:
        c.handshake()
        c.request(1, "/a.txt")
        c.response(1)
        c.send(goaway_frame(1, NO_ERROR))
        c.wait_goaway(1)
    assert srv.alive()
    assert h2_get(srv, "h2c", "/a.txt").status == 200


def test_many_streams_multiplexed(srv):
    paths = ["/a.txt", "/t.txt", "/missing", "/who.txt", "/sub/s.txt"] * 12
    with h2tls(srv) as c:
        sids = [c.request(p) for p in paths]
        for sid, p in zip(sids, paths):
            r = c.response(sid)
            want = {"/a.txt": b"hello\n", "/t.txt": TEXT, "/who.txt": b"localhost",
                    "/sub/s.txt": b"sub\n"}.get(p)
            if want is None:
                assert r.status == 404
            else:
                assert r.status == 200 and r.body == want
            assert_length_framing(r)


def test_many_sequential_streams_one_connection(srv):
    with h2c(srv) as c:
        for i in range(300):
            r = c.get("/a.txt")
            assert r.status == 200 and r.body == b"hello\n", i


# -- malformed requests: stream errors, the connection lives on ----------------------------

MALFORMED = {
    "no-method": [(":scheme", "http"), (":path", "/a.txt"), (":authority", "localhost")],
    "no-path": [(":method", "GET"), (":scheme", "http"), (":authority", "localhost")],
    "no-scheme": [(":method", "GET"), (":path", "/a.txt"), (":authority", "localhost")],
    "empty-path": [(":method", "GET"), (":scheme", "http"), (":path", ""),
                   (":authority", "localhost")],
    "upper-case-name": [(":method", "GET"), (":scheme", "http"), (":path", "/a.txt"),
                        (":authority", "localhost"), ("X-Upper", "1")],
    "connection-header": [(":method", "GET"), (":scheme", "http"), (":path", "/a.txt"),
                          (":authority", "localhost"), ("connection", "keep-alive")],
    "transfer-encoding": [(":method", "GET"), (":scheme", "http"), (":path", "/a.txt"),
                          (":authority", "localhost"), ("transfer-encoding", "chunked")],
    "te-gzip": [(":method", "GET"), (":scheme", "http"), (":path", "/a.txt"),
                (":authority", "localhost"), ("te", "gzip")],
    "pseudo-after-regular": [(":method", "GET"), (":scheme", "http"),
                             ("accept", "*/*"), (":path", "/a.txt"),
                             (":authority", "localhost")],
    "unknown-pseudo": [(":method", "GET"), (":scheme", "http"), (":path", "/a.txt"),
                       (":authority", "localhost"), (":foo", "bar")],
    "duplicate-path": [(":method", "GET"), (":scheme", "http"), (":path", "/a.txt"),
                       (":path", "/t.txt"), (":authority", "localhost")],
    "response-pseudo": [(":method", "GET"), (":scheme", "http"), (":path", "/a.txt"),
                        (":authority", "localhost"), (":status", "200")],
    "bad-path-no-slash": [(":method", "GET"), (":scheme", "http"), (":path", "a.txt"),
                          (":authority", "localhost")],
    "cr-in-value": [(":method", "GET"), (":scheme", "http"), (":path", "/a.txt"),
                    (":authority", "localhost"), ("x-a", "b\r\nx-evil: 1")],
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_request_is_a_stream_error(srv, case):
    with raw(srv) as c:
        c.handshake()
        c.send(headers_frame(1, c.encode(MALFORMED[case])))
        f = c.read_until(lambda f: f.sid == 1 and (
            f.type == RST_STREAM or (f.type == HEADERS and f.headers is not None))
            or f.type == GOAWAY)
        assert f is not None, "no answer to a malformed request: %r" % c.frames
        assert f.type != GOAWAY or f.error_code == PROTOCOL_ERROR, f
        if f.type == HEADERS:
            status = dict(f.headers)[":status"]
            assert status == "400", "malformed request answered %s" % status
        elif f.type == RST_STREAM:
            assert f.error_code == PROTOCOL_ERROR, f
        if f.type != GOAWAY:
            c.request(3, "/a.txt")
            hdrs, body, rst = c.response(3)
            assert body == b"hello\n", "connection unusable after a stream error"


def test_content_length_mismatch_is_a_stream_error(srv):
    """content-length 10 with 5 bytes of DATA: a stream error
    (RST_STREAM PROTOCOL_ERROR) or a 400, unless the server had already
    answered without reading the body (405 here); the connection lives on."""
    with raw(srv) as c:
        c.handshake()
        c.send(headers_frame(1, c.encode([(":method", "POST"), (":scheme", "http"),
                                          (":path", "/a.txt"), (":authority", "localhost"),
                                          ("content-length", "10")]), end_stream=False)
               + data_frame(1, b"12345", end_stream=True))
        f = c.read_until(lambda f: f.sid == 1 and f.type in (RST_STREAM, HEADERS)
                         or f.type == GOAWAY)
        assert f is not None
        assert f.type != GOAWAY, f
        if f.type == HEADERS:
            assert dict(f.headers)[":status"] in ("400", "405"), f
        else:
            assert f.error_code == PROTOCOL_ERROR, f
        c.request(3, "/a.txt")
        assert c.response(3)[1] == b"hello\n"


# -- request bodies and flow control ---------------------------------------------------------

def test_post_body_respects_windows(srv):
    """A 300 KB body sent as the server's windows allow: answered (405 on
    a file mount, as over HTTP/1.1) and the connection goes on."""
    with h2c(srv) as c:
        sid = c.request("/a.txt", method="POST", body=os.urandom(300 * 1000))
        r = c.response(sid)
        assert r.status == 405, r
        r = c.get("/a.txt")
        assert r.status == 200 and r.body == b"hello\n"


def test_request_body_over_window_is_flow_control_error(tuned):
    """The tuned server advertises an 8192-byte stream window; a single
    12000-byte DATA frame overruns it."""
    with RawH2(tuned.port) as c:
        c.handshake()
        c.read_until(lambda f: f.type == SETTINGS and f.flags & ACK)
        c.send(headers_frame(1, c.encode([(":method", "POST"), (":scheme", "http"),
                                          (":path", "/a.txt"), (":authority", "localhost")]),
                             end_stream=False)
               + data_frame(1, b"x" * 12000))
        f = c.read_until(lambda f: (f.type == RST_STREAM and f.sid == 1)
                         or f.type == GOAWAY, 5)
        assert f is not None, "window overrun ignored: %r" % c.frames
        assert f.error_code == FLOW_CONTROL_ERROR, f


def test_early_response_reset_grace_every_stream(tuned):
    """An answer before the request body is complete: the server resets
    the stream (NO_ERROR) after a grace of 0.5 s so the client can stop
    uploading, for the first stream and every later one alike (the
    one-shot timer used to fire at once after its first run)."""
    with RawH2(tuned.port) as c:
        c.handshake()
        c.read_until(lambda f: f.type == SETTINGS and f.flags & ACK)
        for sid in (1, 3, 5):
            c.send(headers_frame(sid, c.encode([(":method", "POST"), (":scheme", "http"),
                                                (":path", "/a.txt"),
                                                (":authority", "localhost")]),
                                 end_stream=False) + data_frame(sid, b"x" * 10))
            f = c.read_until(lambda f: f.sid == sid and f.type in (HEADERS, DATA)
                             and f.flags & END_STREAM, 5)
            assert f is not None, c.frames
            t0 = time.monotonic()
            f = c.read_until(lambda f: f.sid == sid and f.type == RST_STREAM, 5)
            assert f is not None and f.error_code == NO_ERROR, f
            assert time.monotonic() - t0 > 0.3, sid  # the grace, not at once


# -- responses the client holds up (flow control) ----------------------------------------

@pytest.fixture(scope="module")
def brisk(portico):
    """timeout-secs 1: stalls are judged in a second."""
    site = portico.site("brisk")
    fill_docroot(site)
    return site.start(global_={"count-threads": 1, "timeout-secs": 1})


def ping_while(c, seconds, pred):
    """Answers like a live client (PINGs sent, frames read) for up to
    seconds; returns the first frame matching pred, or None."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        c.send(ping_frame(b"%08d" % n))
        n += 1
        f = c.read_until(pred, 0.3)
        if f is not None:
            return f
    return None


def test_stream_window_never_opened_is_reset(brisk):
    """A client that asks for a large file with a stream window of 0 and
    never opens it, while it answers PINGs: the stream is reset after
    timeout-secs, and the connection goes on serving."""
    with RawH2(brisk.port, settings={INITIAL_WINDOW_SIZE: 0}) as c:
        c.handshake()
        c.request(1, "/big.bin")
        f = ping_while(c, 6, lambda f: f.sid == 1 and f.type == RST_STREAM)
        assert f is not None, c.frames[-5:]
        assert f.error_code == CANCEL
        c.send(settings_frame({INITIAL_WINDOW_SIZE: 65535}))
        c.request(3, "/a.txt")
        f = c.read_until(lambda f: f.sid == 3 and f.type == DATA and f.flags & END_STREAM, 5)
        assert f is not None and f.payload == b"hello\n"
    assert "no flow-control window for 1s: reset" in brisk.log()


def test_connection_window_exhausted_closes(brisk):
    """The client reads 64 KiB of a large file and never sends a
    WINDOW_UPDATE for the connection, answering PINGs: GOAWAY and close."""
    with RawH2(brisk.port, settings={INITIAL_WINDOW_SIZE: 1 << 20}) as c:
        c.handshake()
        c.request(1, "/huge.bin")
        f = ping_while(c, 6, lambda f: f.type == GOAWAY)
        assert f is not None, c.frames[-5:]
        got = sum(len(x.payload) for x in c.frames if x.type == DATA)
        assert got == 65535
        _, closed = c.wait_goaway(3)
        assert closed


def test_client_not_reading_closed(brisk):
    """A client that stops reading the socket (its receive buffer full)
    but keeps sending PINGs: the connection is closed once nothing has
    moved out for timeout-secs (incoming PINGs are not progress)."""
    with RawH2(brisk.port, rcvbuf=4096, settings={INITIAL_WINDOW_SIZE: 1 << 30}) as c:
        c.handshake()
        c.send(window_update_frame(0, (1 << 30) - 65535))
        c.request(1, "/huge.bin")
        end = time.monotonic() + 8
        while time.monotonic() < end and "no progress" not in brisk.log():
            c.try_send(ping_frame(b"12345678"), timeout=0.3)
            time.sleep(0.3)
    assert "closing HTTP/2 connection: no progress" in brisk.log()


def test_server_respects_client_windows(srv):
    """python3-h2 raises if the server sends more than the 16 KiB stream
    window allows; four big downloads at once on one connection."""
    with h2tls(srv, settings={INITIAL_WINDOW_SIZE: 16384}) as c:
        sids = [c.request("/big.bin") for _ in range(2)] + \
               [c.request("/t.txt"), c.request("/a.txt")]
        for sid in sids:
            r = c.response(sid, timeout=60)
            assert r.status == 200
        bodies = [c.streams[s].body for s in sids]
    assert hashlib.sha256(bodies[0]).hexdigest() == BIG_SHA
    assert bodies[1] == bodies[0] and bodies[2] == TEXT and bodies[3] == b"hello\n"


def test_zero_window_then_open(srv):
    """With a zero initial window no DATA flows; opening the window later
    releases exactly that much data."""
    with raw(srv, settings={INITIAL_WINDOW_SIZE: 0}) as c:
        c.handshake()
        c.request(1, "/t.txt")
        assert c.barrier(5)
        time.sleep(0.3)
        assert c.barrier(5)
        sent = [f for f in c.frames if f.sid == 1 and f.type == DATA and f.payload]
        assert not sent, "DATA sent into a zero window: %r" % sent
        c.send(window_update_frame(1, 100))
        got = b""
        while len(got) < 100:
            f = c.read_until(lambda f: f.sid == 1 and f.type in (DATA, RST_STREAM), 5)
            assert f is not None and f.type == DATA, f
            got += f.payload
        assert got == TEXT[:100]
        assert c.barrier(5)
        time.sleep(0.2)
        assert c.barrier(5)
        more = [f for f in c.frames if f.sid == 1 and f.type == DATA]
        assert sum(len(f.payload) for f in more) == 100, "DATA beyond the window"
        heads = [f for f in c.frames if f.sid == 1 and f.type == HEADERS]
        assert heads and dict(heads[0].headers)[":status"] == "200"
        c.send(window_update_frame(1, len(TEXT)))
        while True:
            f = c.read_until(lambda f: f.sid == 1 and f.type == DATA, 5)
            assert f is not None
            got += f.payload
            if f.flags & END_STREAM:
                break
        assert got == TEXT


def test_stalled_streams_do_not_buffer_files(srv):
    """Eight 64 MiB downloads stalled on a zero window must not load the
    file: the server's RSS may not grow by more than 16 MiB."""
    with raw(srv, settings={INITIAL_WINDOW_SIZE: 0}) as c:
        c.handshake()
        time.sleep(0.2)
        before = vm_rss_kb(srv.pid)
        for i in range(8):
            c.request(1 + 2 * i, "/huge.bin")
        assert c.barrier(5)
        time.sleep(0.5)
        assert c.barrier(5)
        grew = vm_rss_kb(srv.pid) - before
        assert grew < 16 * 1024, "RSS grew %d KiB for stalled streams" % grew
        resets = [f for f in c.frames if f.type == RST_STREAM]
        assert not resets, resets
        for i in range(8):
            c.send(rst_frame(1 + 2 * i))
        c.send(settings_frame({INITIAL_WINDOW_SIZE: 65535}))
        c.request(17, "/a.txt")
        hdrs, body, rst = c.response(17)
        assert body == b"hello\n"


@pytest.mark.skipif(sanitize_enabled(), reason="ASan quarantine keeps freed buffers")
def test_large_file_streams_with_window(srv):
    """Pull 24 MiB of a 64 MiB file with windows opened 512 KiB at a time:
    memory stays flat (read as the window opens, never whole)."""
    with h2c(srv, settings={INITIAL_WINDOW_SIZE: 1 << 20}, auto_window=False) as c:
        c.conn.increment_flow_control_window(1 << 20)   # connection window
        c.flush()
        before = vm_rss_kb(srv.pid)
        sid = c.request("/huge.bin")
        st = c.streams[sid]
        acked = 0
        peak = 0
        deadline = time.monotonic() + 30
        while st.received < 24 * (1 << 20):
            c.pump(deadline)
            if st.received - acked >= 512 * 1024:
                n = st.received - acked
                c.ack(sid, n)
                acked += n
                peak = max(peak, vm_rss_kb(srv.pid) - before)
        body = st.body
        assert body.count(b"\0") == len(body)
        assert peak < 16 * 1024, "RSS grew %d KiB while streaming" % peak


# -- header list size ----------------------------------------------------------------------

def test_header_list_under_limit(tuned):
    with RawH2(tuned.port) as c:
        c.handshake()
        c.request(1, "/a.txt", extra=[("x-fill", "a" * 2500)])
        hdrs, body, rst = c.response(1)
        assert dict(hdrs)[":status"] == "200" and body == b"hello\n"


def test_header_list_over_limit(tuned):
    """6000 bytes of headers against max-header-size 4096: a 431, a stream
    reset or a connection error, never an answer; the server goes on."""
    with RawH2(tuned.port) as c:
        c.handshake()
        block = c.encode(
            [(":method", "GET"), (":scheme", "http"), (":path", "/a.txt"),
             (":authority", "localhost"), ("x-fill", "a" * 6000)])
        c.send(headers_frame(1, block[:4000], end_headers=False)
               + continuation_frame(1, block[4000:], end_headers=True))
        f = c.read_until(lambda f: (f.sid == 1 and f.type in (HEADERS, RST_STREAM))
                         or f.type == GOAWAY, 5)
        assert f is not None, c.frames
        if f.type == HEADERS:
            assert dict(f.headers)[":status"] == "431", f
        elif f.type == GOAWAY:
            assert f.error_code in (COMPRESSION_ERROR, ENHANCE_YOUR_CALM, PROTOCOL_ERROR), f
    with RawH2(tuned.port) as c:
        c.handshake()
        c.request(1, "/a.txt")
        assert c.response(1)[1] == b"hello\n"


def test_concurrent_stream_limit(tuned):
    """h2-max-concurrent-streams 7: an eighth open stream is refused with
    a stream error; the others are untouched."""
    with RawH2(tuned.port, settings={INITIAL_WINDOW_SIZE: 0}) as c:
        c.handshake()
        for i in range(7):
            c.request(1 + 2 * i, "/t.txt")
        assert c.barrier(5)
        assert not [f for f in c.frames if f.type in (RST_STREAM, GOAWAY)], c.frames
        c.request(15, "/t.txt")
        f = c.read_until(lambda f: f.sid == 15 or f.type == GOAWAY, 5)
        assert f is not None, "the eighth stream was not refused"
        assert f.type in (RST_STREAM, GOAWAY), f
        if f.type == GOAWAY:
            # RFC 9113 5.4.1: a stream error may be treated as a
            # connection error; then nothing past stream 13 was processed.
            assert f.error_code == PROTOCOL_ERROR and f.last_sid == 13, f
            _, closed = c.wait_goaway(5)
            assert closed
            with RawH2(tuned.port) as c2:
                c2.handshake()
                c2.request(1, "/a.txt")
                assert c2.response(1)[1] == b"hello\n"
            return
        assert f.error_code in (REFUSED_STREAM, PROTOCOL_ERROR), f
        # Open the windows: the seven complete.
        c.send(settings_frame({INITIAL_WINDOW_SIZE: 65535}))
        for i in range(7):
            sid = 1 + 2 * i
            body = b""
            while True:
                f = c.read_until(lambda f: f.sid == sid and f.type in (DATA, RST_STREAM), 5)
                assert f is not None and f.type == DATA, f
                body += f.payload
                if f.flags & END_STREAM:
                    break
            assert body == TEXT
        c.request(17, "/a.txt")
        assert c.response(17)[1] == b"hello\n"


# -- graceful shutdown ----------------------------------------------------------------------

@pytest.fixture
def fresh(portico, certs):
    def make():
        site = portico.site("h2graceful")
        site.write("a.txt", "hello\n")
        site.write("big.bin", BIG)
        s = site.start(vhosts=[site.vhost(name="localhost", **{
            "host-ssl-cert": certs.local_cert, "host-ssl-key": certs.local_key}),
            site.vhost(name="localhost", port=site.new_port())],
            global_={"count-threads": 1, "drain-timeout-secs": 10})
        s.tls_port, s.plain_port = site.ports
        return s
    return make



def _raw_to(s, certs, transport, **kw):
    if transport == "tls":
        return RawH2(s.tls_port, tls_ctx=client_context(certs, alpn=["h2"]),
                     sni="localhost", **kw)
    return RawH2(s.plain_port, **kw)


@pytest.mark.parametrize("transport", ["h2c", "tls"])
def test_sigterm_goaway_and_streams_finish(fresh, certs, transport):
    """SIGTERM with a download in flight (stalled on flow control): GOAWAY
    NO_ERROR naming the stream, the stream completes once the window
    opens, then the connection closes and portico exits 0."""
    s = fresh()
    scheme = "https" if transport == "tls" else "http"
    with _raw_to(s, certs, transport, timeout=10) as c:
        c.handshake()
        c.request(1, "/big.bin", scheme=scheme)
        body = bytearray()
        # Take the first window's worth and leave the stream stalled.
        while len(body) < 65535:
            f = c.read_until(lambda f: f.sid == 1 and f.type == DATA, 5)
            assert f is not None, c.frames[-5:]
            body += f.payload
        s.send_signal(signal.SIGTERM)
        goaway = c.read_until(lambda f: f.type == GOAWAY, 5)
        assert goaway is not None, "no GOAWAY after SIGTERM"
        assert goaway.error_code == NO_ERROR, goaway
        assert goaway.last_sid >= 1, goaway
        assert s.alive(), "exited with a stream in flight"
        c.send(window_update_frame(0, len(body)) + window_update_frame(1, len(body)))
        while True:
            f = c.read_frame(10)
            assert f is not None, "EOF before the stream finished (%d bytes)" % len(body)
            if f.type == GOAWAY:
                assert f.error_code == NO_ERROR and f.last_sid >= 1, f
                continue
            if f.sid != 1:
                continue
            assert f.type != RST_STREAM, f
            if f.type == DATA:
                body += f.payload
                if f.payload:
                    c.send(window_update_frame(0, len(f.payload))
                           + window_update_frame(1, len(f.payload)))
                if f.flags & END_STREAM:
                    break
        assert hashlib.sha256(body).hexdigest() == BIG_SHA
        _, closed = c.wait_goaway(5)
        assert closed, "connection not closed after the last stream"
    assert s.wait(10) == 0, s.log()[-2000:]
    s.check_exit()


def test_sigterm_idle_h2_connections(fresh, certs):
    s = fresh()
    conns = [(_raw_to(s, certs, t), t) for t in ("h2c", "tls") for _ in range(5)]
    try:
        for c, t in conns:
            c.handshake()
            c.request(1, "/a.txt", scheme="https" if t == "tls" else "http")
            assert c.response(1)[1] == b"hello\n"
        t0 = time.monotonic()
        s.send_signal(signal.SIGTERM)
        for c, _ in conns:
            goaway, closed = c.wait_goaway(4)
            assert goaway is not None, "closed without GOAWAY"
            assert goaway.error_code == NO_ERROR
            assert closed, "idle h2 connection not closed on SIGTERM"
        assert s.wait(8) == 0
        took = time.monotonic() - t0
        assert took < 4, ("exit took %.1fs: idle h2 clients that got GOAWAY and "
                          "EOF but have not closed yet held the shutdown" % took)
    finally:
        for c, _ in conns:
            c.close()
    s.check_exit()
