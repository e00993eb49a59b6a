"""HTTP/1.x connection handling: keep-alive, pipelining, HTTP/1.0,
100-continue, HEAD, absolute-form, Connection: close, request bodies."""

import os
import time

import pytest

from pthttp import build_request, parse_http_date

SERVER_STRING = "portico-test #1"   # '#' inside a string is not a comment
BIG = os.urandom(1 << 20)


@pytest.fixture(scope="module")
def srv(portico):
    site = portico.site()
    site.write("index.html", "<html><body>index</body></html>\n")
    site.write("a.txt", "hello\n")
    site.write("b.txt", "bee\n")
    site.write("big.bin.txt", BIG)
    return site.start(global_={"count-threads": 2, "server-string": SERVER_STRING})


def test_get(srv):
    r = srv.get("/a.txt")
    assert r.status == 200
    assert r.body == b"hello\n"
    assert r.header("Content-Length") == "6"
    assert r.version == "HTTP/1.1"


def test_date_and_server_headers(srv):
    r = srv.get("/a.txt")
    assert r.header("Server") == SERVER_STRING
    date = r.header("Date")
    assert date and date.endswith(" GMT"), date
    assert abs(parse_http_date(date) - time.time()) < 60
    r = srv.get("/missing")
    assert r.status == 404
    assert r.header("Server") == SERVER_STRING
    assert r.has("Date")


def test_keep_alive_default(srv):
    with srv.conn() as c:
        for name, body in (("/a.txt", b"hello\n"), ("/b.txt", b"bee\n"),
                           ("/a.txt", b"hello\n")):
            c.request("GET", name)
            r = c.read_response()
            assert r.status == 200
            assert r.body == body
            assert (r.header("Connection") or "").lower() != "close"


def test_pipelining_in_order(srv):
    reqs = [("GET", "/a.txt"), ("GET", "/missing"), ("HEAD", "/b.txt"),
            ("GET", "/b.txt"), ("GET", "/")]
    data = b"".join(build_request(m, t) for m, t in reqs)
    with srv.conn() as c:
        c.send(data)
        got = [c.read_response(m) for m, _ in reqs]
    assert [r.status for r in got] == [200, 404, 200, 200, 200]
    assert got[0].body == b"hello\n"
    assert got[2].body == b"" and got[2].header("Content-Length") == "4"
    assert got[3].body == b"bee\n"
    assert b"index" in got[4].body


def test_pipelining_big_first(srv):
    """A large first response must still come before the small second."""
    with srv.conn() as c:
        c.send(build_request("GET", "/big.bin.txt") + build_request("GET", "/a.txt"))
        r1 = c.read_response()
        r2 = c.read_response()
    assert r1.status == 200 and r1.body == BIG
    assert r2.status == 200 and r2.body == b"hello\n"


def test_pipelining_many(srv):
    n = 64
    with srv.conn() as c:
        c.send(b"".join(build_request("GET", "/a.txt" if i % 2 else "/b.txt")
                        for i in range(n)))
        for i in range(n):
            r = c.read_response()
            assert r.status == 200
            assert r.body == (b"hello\n" if i % 2 else b"bee\n")


def test_pipelining_byte_by_byte(srv):
    data = build_request("GET", "/a.txt") + build_request("GET", "/b.txt")
    with srv.conn() as c:
        for i in range(len(data)):
            c.send(data[i:i + 1])
        assert c.read_response().body == b"hello\n"
        assert c.read_response().body == b"bee\n"


def test_connection_close(srv):
    with srv.conn() as c:
        c.request("GET", "/a.txt", {"Connection": "close"})
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello\n"
        assert c.wait_closed(3.0), "connection not closed after Connection: close"


def test_connection_close_in_pipeline(srv):
    """Nothing after a Connection: close request is answered."""
    with srv.conn() as c:
        c.send(build_request("GET", "/a.txt", {"Connection": "close"})
               + build_request("GET", "/b.txt"))
        r = c.read_response()
        assert r.body == b"hello\n"
        assert c.wait_closed(3.0)


def test_http10_closes(srv):
    with srv.conn() as c:
        c.send(b"GET /a.txt HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello\n"
        assert c.wait_closed(3.0), "HTTP/1.0 without keep-alive must close"


def test_http10_keep_alive(srv):
    with srv.conn() as c:
        c.send(b"GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello\n"
        assert (r.header("Connection") or "").lower() == "keep-alive"
        assert r.has("Content-Length")
        c.send(b"GET /b.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == b"bee\n"
        c.send(b"GET /a.txt HTTP/1.0\r\n\r\n")
        assert c.read_response().status == 200
        assert c.wait_closed(3.0)


def test_http10_host_optional(srv):
    with srv.conn() as c:
        c.send(b"GET /a.txt HTTP/1.0\r\n\r\n")
        assert c.read_response().status == 200


def test_head_matches_get(srv):
    for target in ("/a.txt", "/big.bin.txt", "/", "/missing"):
        g = srv.get(target)
        with srv.conn() as c:
            c.request("HEAD", target)
            h = c.read_response("HEAD")
            assert h.status == g.status
            assert h.header("Content-Length") == g.header("Content-Length"), target
            assert h.header("Content-Type") == g.header("Content-Type")
            assert h.header("ETag") == g.header("ETag")
            # No body bytes: the next response must parse cleanly.
            c.request("GET", "/a.txt")
            assert c.read_response().body == b"hello\n"


def test_absolute_form(srv):
    with srv.conn() as c:
        c.send(b"GET http://localhost/a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello\n"
        c.send(b"GET http://localhost:%d/b.txt?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n"
               % srv.port)
        r = c.read_response()
        assert r.status == 200 and r.body == b"bee\n"


def test_expect_continue(srv):
    body = b"0123456789"
    with srv.conn() as c:
        c.send(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n"
               b"Content-Length: 10\r\nExpect: 100-continue\r\n\r\n")
        r = c.read_response(timeout=3.0, stop_at_interim=True)
        assert r.status == 100, "expected an interim 100 Continue, got %r" % r
        assert r.version == "HTTP/1.1"
        c.send(body)
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello\n"
        c.request("GET", "/b.txt")
        assert c.read_response().body == b"bee\n"


def test_expect_continue_chunked(srv):
    with srv.conn() as c:
        c.send(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n"
               b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
        r = c.read_response(timeout=3.0, stop_at_interim=True)
        assert r.status == 100
        c.send(b"3\r\nabc\r\n0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello\n"
        c.request("GET", "/b.txt")
        assert c.read_response().body == b"bee\n"


def test_expect_continue_without_body(srv):
    """No body is expected, so no interim response."""
    with srv.conn() as c:
        c.send(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n\r\n")
        r = c.read_response(stop_at_interim=True)
        assert r.status == 200 and r.body == b"hello\n"
        c.request("GET", "/b.txt")
        assert c.read_response().body == b"bee\n"


def test_expect_continue_http10(srv):
    """RFC 9110 15.2: no 1xx to an HTTP/1.0 client."""
    with srv.conn() as c:
        c.send(b"GET /a.txt HTTP/1.0\r\nContent-Length: 3\r\n"
               b"Expect: 100-continue\r\n\r\nabc")
        r = c.read_response(stop_at_interim=True)
        assert r.status == 200 and r.body == b"hello\n"


def test_body_content_length_discarded(srv):
    with srv.conn() as c:
        c.send(build_request("GET", "/a.txt", body=b"x" * 1000)
               + build_request("GET", "/b.txt"))
        assert c.read_response().body == b"hello\n"
        assert c.read_response().body == b"bee\n"


def test_body_large_discarded(srv):
    with srv.conn() as c:
        c.send(build_request("GET", "/a.txt", body=os.urandom(3 << 20))
               + build_request("GET", "/b.txt"))
        assert c.read_response(timeout=20).body == b"hello\n"
        assert c.read_response().body == b"bee\n"


def test_body_split_writes(srv):
    with srv.conn() as c:
        c.send(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 20\r\n\r\n")
        c.send(b"0123456789")
        time.sleep(0.1)
        c.send(b"0123456789" + build_request("GET", "/b.txt"))
        assert c.read_response().body == b"hello\n"
        assert c.read_response().body == b"bee\n"


def test_body_chunked_with_trailers(srv):
    with srv.conn() as c:
        c.send(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n"
               b"5;ext=1\r\nhello\r\n"
               b"A\r\n0123456789\r\n"
               b"0\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n"
               + build_request("GET", "/b.txt"))
        assert c.read_response().body == b"hello\n"
        assert c.read_response().body == b"bee\n"


def test_body_chunked_split_writes(srv):
    parts = [b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n",
             b"4\r\nab", b"cd\r", b"\n10\r\n", b"0123456789abcdef", b"\r\n0\r",
             b"\n\r\n" + build_request("GET", "/b.txt")]
    with srv.conn() as c:
        for p in parts:
            c.send(p)
            time.sleep(0.05)
        assert c.read_response().body == b"hello\n"
        assert c.read_response().body == b"bee\n"


def test_post_body_then_next_request(srv):
    with srv.conn() as c:
        c.send(build_request("POST", "/a.txt", body=b"a=1&b=2")
               + build_request("GET", "/b.txt"))
        r = c.read_response()
        assert r.status == 405
        r = c.read_response()
        assert r.status == 200 and r.body == b"bee\n"


def test_leading_empty_lines_ignored(srv):
    """RFC 9112 2.2: at least one empty line before the request line."""
    with srv.conn() as c:
        c.send(b"\r\n" + build_request("GET", "/a.txt"))
        assert c.read_response().body == b"hello\n"


def test_query_string_ignored_for_files(srv):
    r = srv.get("/a.txt?x=1&y=%2F%00")
    assert r.status == 200 and r.body == b"hello\n"


def test_header_names_case_insensitive(srv):
    with srv.conn() as c:
        c.send(b"GET /a.txt HTTP/1.1\r\nhost: localhost\r\nCONTENT-LENGTH: 3\r\n\r\nabc"
               + build_request("GET", "/b.txt"))
        assert c.read_response().body == b"hello\n"
        assert c.read_response().body == b"bee\n"


def test_tab_as_whitespace_in_values(srv):
    with srv.conn() as c:
        c.send(b"GET /a.txt HTTP/1.1\r\nHost:\tlocalhost\t\r\nRange:\tbytes=0-1 \t\r\n\r\n")
        r = c.read_response()
        assert r.status == 206 and r.body == b"he"
