"""Malformed requests get a precise status, an info log line naming the
peer, and the connection is closed; paths are decoded and normalized
before mount matching."""

import re
import socket
import time

import pytest

from pthttp import Conn, ConnectionClosed, build_request

H = b"Host: localhost\r\n"


@pytest.fixture(scope="module")
def srv(portico):
    site = portico.site()
    site.write("a.txt", "hello\n")
    site.write("dir/b.txt", "bee\n")
    site.write("a b.txt", "space\n")
    return site.start(log_level="info")


def long_headers(total):
    n = total // 1000 + 1
    return b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 990) for i in range(n))


BAD = [
    # (id, raw request, expected status)
    ("no-version", b"GET /a.txt\r\n" + H + b"\r\n", 400),
    ("only-method", b"GET\r\n\r\n", 400),
    ("extra-token", b"GET /a.txt HTTP/1.1 x\r\n" + H + b"\r\n", 400),
    ("double-space", b"GET  /a.txt HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("bad-proto", b"GET /a.txt HTTX/1.1\r\n" + H + b"\r\n", 400),
    ("bad-version-digits", b"GET /a.txt HTTP/1.x\r\n" + H + b"\r\n", 400),
    ("ctl-in-target", b"GET /a\x01b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("header-no-colon", b"GET /a.txt HTTP/1.1\r\n" + H + b"NoColon\r\n\r\n", 400),
    ("header-space-in-name", b"GET /a.txt HTTP/1.1\r\n" + H + b"Bad Name: x\r\n\r\n", 400),
    ("header-empty-name", b"GET /a.txt HTTP/1.1\r\n" + H + b": x\r\n\r\n", 400),
    ("obs-fold", b"GET /a.txt HTTP/1.1\r\n" + H + b"X-A: a\r\n  b\r\n\r\n", 400),
    ("obs-fold-tab", b"GET /a.txt HTTP/1.1\r\n" + H + b"X-A: a\r\n\tb\r\n\r\n", 400),
    ("missing-host", b"GET /a.txt HTTP/1.1\r\n\r\n", 400),
    ("two-hosts", b"GET /a.txt HTTP/1.1\r\n" + H + b"Host: other\r\n\r\n", 400),
    ("ws-before-colon", b"GET /a.txt HTTP/1.1\r\nHost : localhost\r\n\r\n", 400),
    ("ws-before-colon-2", b"GET /a.txt HTTP/1.1\r\n" + H + b"X-A\t: 1\r\n\r\n", 400),
    ("nul-in-value", b"GET /a.txt HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n", 400),
    ("cr-in-value", b"GET /a.txt HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n", 400),
    ("invalid-chunk-size",
     b"GET /a.txt HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk-size-overflow",
     b"GET /a.txt HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"fffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", 400),
    ("cl-and-te",
     b"GET /a.txt HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("duplicate-differing-cl",
     b"GET /a.txt HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    ("cl-list-differing", b"GET /a.txt HTTP/1.1\r\n" + H + b"Content-Length: 3, 4\r\n\r\nabcd", 400),
    ("cl-not-a-number", b"GET /a.txt HTTP/1.1\r\n" + H + b"Content-Length: abc\r\n\r\n", 400),
    ("cl-negative", b"GET /a.txt HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400),
    ("cl-plus", b"GET /a.txt HTTP/1.1\r\n" + H + b"Content-Length: +3\r\n\r\nabc", 400),
    ("uri-too-long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
    ("headers-too-large", b"GET /a.txt HTTP/1.1\r\n" + H + long_headers(20000) + b"\r\n", 431),
    ("one-huge-header", b"GET /a.txt HTTP/1.1\r\n" + H + b"X-Big: " + b"b" * 17000 + b"\r\n\r\n", 431),
    ("unknown-te", b"GET /a.txt HTTP/1.1\r\n" + H + b"Transfer-Encoding: foo\r\n\r\n", 501),
    ("unknown-te-then-chunked",
     b"GET /a.txt HTTP/1.1\r\n" + H + b"Transfer-Encoding: foo, chunked\r\n\r\n0\r\n\r\n", 501),
    ("http-2.0", b"GET /a.txt HTTP/2.0\r\n" + H + b"\r\n", 505),
    ("fragment", b"GET /a.txt#top HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("http-3.0", b"GET /a.txt HTTP/3.0\r\n" + H + b"\r\n", 505),
]


@pytest.mark.parametrize("raw,status", [(r, s) for _, r, s in BAD],
                         ids=[i for i, _, _ in BAD])
def test_bad_request(srv, raw, status):
    off = srv.log_size()
    with Conn(srv.port) as c:
        c.send(raw)
        try:
            r = c.read_response(timeout=5)
        except (ConnectionClosed, ConnectionResetError) as e:
            pytest.fail("no %d response before the connection ended (%s); "
                        "a reset here suggests no lingering close" % (status, e))
        assert r.status == status, r
        assert c.wait_closed(3.0), "connection must be closed after %d" % status
    # one line with the peer, or (past 10 such lines a second) its count
    # in the "suppressed" line that follows within the next second
    log = srv.wait_log(off, r"127\.0\.0\.1|more line\(s\) like", timeout=2.5)
    assert "127.0.0.1" in log or "more line(s) like" in log, \
        "no info log line with the peer address:\n" + log
    assert srv.alive()


def test_later_http1_minor_served_as_1_1(srv):
    """RFC 9112 2.3: HTTP/1.2 (or any later 1.x) is answered as 1.1."""
    with srv.conn() as c:
        c.send(b"GET /a.txt HTTP/1.2\r\nHost: localhost\r\n\r\n")
        r = c.read_response()
    assert r.status == 200 and r.raw_head.startswith(b"HTTP/1.1 200")


def test_bad_request_stops_pipeline(srv):
    """A request after a malformed one on the same connection is not served."""
    with Conn(srv.port) as c:
        c.send(b"GET /a.txt HTTP/1.1\r\nHost : x\r\n\r\n" + build_request("GET", "/a.txt"))
        r = c.read_response()
        assert r.status == 400
        assert c.wait_closed(3.0)


def test_uri_at_limit_is_fine(srv):
    target = "/" + "a" * 8000
    r = srv.get(target)
    assert r.status == 404


def test_headers_under_limit_are_fine(srv):
    r = srv.get("/a.txt", headers=[("X-Pad-%d" % i, "p" * 990) for i in range(12)])
    assert r.status == 200 and r.body == b"hello\n"


def test_same_content_length_twice_is_fine(srv):
    """RFC 9112 6.3: identical duplicates may be accepted as one value; a
    strict server may refuse them instead.  Either way the framing must be
    consistent: 200 followed by a working connection, or 400 and close."""
    with Conn(srv.port) as c:
        c.send(b"GET /a.txt HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n"
               b"Content-Length: 3\r\n\r\nabc" + build_request("GET", "/dir/b.txt"))
        r = c.read_response()
        if r.status == 200:
            assert c.read_response().body == b"bee\n"
        else:
            assert r.status == 400
            assert c.wait_closed(3.0)


# -- path decoding and normalization -------------------------------------

GOOD_PATHS = [
    ("/%61.txt", b"hello\n"),
    ("/./a.txt", b"hello\n"),
    ("//a.txt", b"hello\n"),
    ("/dir/../a.txt", b"hello\n"),
    ("/dir/./b.txt", b"bee\n"),
    ("/dir//b.txt", b"bee\n"),
    ("/%64ir/b.txt", b"bee\n"),
    ("/dir/%2e/b.txt", b"bee\n"),
    ("/dir/%2E%2E/a.txt", b"hello\n"),
    ("/a%20b.txt", b"space\n"),
    ("/a.txt?x=%2F%00&y=../../", b"hello\n"),
    ("/a.txt?", b"hello\n"),
]


@pytest.mark.parametrize("target,body", GOOD_PATHS, ids=[p for p, _ in GOOD_PATHS])
def test_path_normalized(srv, target, body):
    r = srv.get(target)
    assert r.status == 200, r
    assert r.body == body


BAD_PATHS = [
    "/%00",
    "/a.txt%00",
    "/a.txt%00.html",
    "/dir%2Fb.txt",
    "/dir%2fb.txt",
    "/../a.txt",
    "/..",
    "/%2e%2e/a.txt",
    "/%2E%2E/%2E%2E/etc/passwd",
    "/dir/../../etc/passwd",
    "/a/../../etc/passwd",
    "/dir/..%2f..%2fetc/passwd",
    "/%zz",
    "/%2",
    "/a.txt%",
    "/%0d%0aX-Injected:%201",
]


@pytest.mark.parametrize("target", BAD_PATHS, ids=BAD_PATHS)
def test_bad_path_400(srv, target):
    with Conn(srv.port) as c:
        c.request("GET", target)
        r = c.read_response()
    assert r.status == 400, r
    assert not r.has("X-Injected")


def test_target_must_be_origin_or_absolute(srv):
    for raw in (b"GET a.txt HTTP/1.1\r\n" + H + b"\r\n",
                b"GET * HTTP/1.1\r\n" + H + b"\r\n"):
        with Conn(srv.port) as c:
            c.send(raw)
            r = c.read_response()
            assert 400 <= r.status < 500, (raw, r)


def test_log_flood_limited(portico):
    """300 bad requests in a burst: the lines about them are limited per
    cause (10 a second) and one line counts the rest, so an attacker
    cannot flood the log."""
    site = portico.site("logflood")
    site.write("a.txt", "hello\n")
    srv = site.start(vhosts=[site.vhost()], log_level="info")
    start = srv.log_size()
    t0 = time.monotonic()
    for _ in range(300):
        with socket.create_connection(("127.0.0.1", srv.port)) as s:
            s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n")
            s.recv(1024)
    elapsed = time.monotonic() - t0
    text = srv.wait_log(start, r"more line\(s\) like .* suppressed", timeout=3)
    lines = [ln for ln in text.splitlines() if "400 Bad Request" in ln]
    assert 10 <= len(lines) <= 10 * (int(elapsed) + 2), len(lines)
    m = re.findall(r"(\d+) more line\(s\) like", text)
    assert m and len(lines) + sum(map(int, m)) >= 300, (len(lines), m)
    assert srv.get("/a.txt").status == 200
