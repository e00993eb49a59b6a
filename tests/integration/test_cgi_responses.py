"""CGI: what a program prints and what the client gets.  A shell CGI picks
its answer by QUERY_STRING: Status, Location (local redirect, client
redirect), Content-Length, its own chunked coding, bad heads (502)."""

import json

import pytest

from cgitools import PROTOCOLS, curl, need, write_program
from pthttp import build_request

STATUS = r'''#!/bin/sh
crlf() { printf '%s\r\n' "$@"; }
case "$QUERY_STRING" in
notfound)   crlf "Status: 404 Not Found" "Content-Type: text/plain" ""; printf nope ;;
created)    crlf "Status: 201 Created" "Content-Type: text/plain" "X-Extra: 1" ""; printf made ;;
local)      crlf "Location: /static.txt" "" ;;
local-cgi)  crlf "Location: /env/after?from=redirect" "" ;;
loop)       crlf "Location: /status?loop" "" ;;
absolute)   crlf "Location: https://example.com/elsewhere" "" ;;
with-status) crlf "Status: 301 Moved" "Location: /elsewhere" "" ;;
length)     crlf "Content-Type: text/plain" "Content-Length: 5" ""; printf helloEXTRA ;;
short)      crlf "Content-Type: text/plain" "Content-Length: 50" ""; printf short ;;
chunked)    crlf "Content-Type: text/plain" "Transfer-Encoding: chunked" ""
            printf '5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-T: 1\r\n\r\nIGNORED' ;;
badchunk)   crlf "Transfer-Encoding: chunked" ""; printf '5\r\nhelloXX' ;;
nolength)   printf 'Content-Type: text/plain\n\nline one\nline two\n' ;;
fields)     crlf "Content-Type: text/html; charset=utf-8" "Set-Cookie: a=1" "Set-Cookie: b=2" \
                 "Cache-Control: no-cache" "Date: Thu, 01 Jan 1970 00:00:00 GMT" \
                 "Server: evil" "Connection: close" "X-Empty:" ""; printf fields ;;
nocontent)  crlf "Status: 204 No Content" "" ;;
headonly)   crlf "Content-Type: text/plain" "" ;;
lf)         printf 'Status: 202\nContent-Type: text/plain\n\nlf-only' ;;
noout)      exit 3 ;;
nohead)     printf 'Content-Type: text/plain\r\n'; exit 0 ;;
badstatus)  crlf "Status: abc" "" ;;
status1xx)  crlf "Status: 100 Continue" "" ;;
badline)    crlf "this is not a header" "" ;;
bighead)    printf 'X-Big: '; head -c 20000 /dev/zero | tr '\0' a; printf '\r\n\r\n' ;;
badte)      crlf "Transfer-Encoding: gzip" "" ;;
*)          crlf "Content-Type: text/plain" ""; printf 'default %s' "$REQUEST_METHOD" ;;
esac
'''

ENV = r'''#!/usr/bin/python3
import json, os, sys
out = json.dumps({k: v for k, v in os.environ.items()}).encode()
sys.stdout.buffer.write(b"Content-Type: application/json\r\n\r\n" + out)
'''


@pytest.fixture(scope="module")
def srv(portico):
    site = portico.site()
    site.write("static.txt", "static file\n")
    st = write_program(site, "status.sh", STATUS)
    env = write_program(site, "env.py", ENV)
    mounts = [site.mount("/"),
              site.mount("/status", "cgi://%s" % st),
              site.mount("/env", "cgi://%s" % env)]
    return site.start(vhosts=[site.vhost(mounts=mounts)])


def get(srv, proto, q, **kw):
    need(proto, srv)
    return curl(srv, proto, "/status?" + q, **kw)


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_default_200(srv, proto):
    r = get(srv, proto, "")
    assert r.status == 200
    assert r.body == b"default GET"
    assert r.header("Content-Type") == "text/plain"


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_status(srv, proto):
    r = get(srv, proto, "notfound")
    assert r.status == 404 and r.body == b"nope"
    r = get(srv, proto, "created")
    assert r.status == 201 and r.body == b"made"
    assert r.header("X-Extra") == "1"
    r = get(srv, proto, "lf")
    assert r.status == 202 and r.body == b"lf-only"


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_local_redirect(srv, proto):
    r = get(srv, proto, "local")
    assert r.status == 200
    assert r.body == b"static file\n"
    assert r.header("Location") is None


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_local_redirect_to_cgi_is_a_get(srv, proto):
    r = get(srv, proto, "local-cgi", method="POST", data=b"dropped",
            headers=["Content-Type: text/x-dropped"])
    assert r.status == 200
    e = json.loads(r.body)
    assert e["REQUEST_METHOD"] == "GET"
    assert e["QUERY_STRING"] == "from=redirect"
    assert e["PATH_INFO"] == "/after"
    assert e["REQUEST_URI"] == "/env/after?from=redirect"
    assert "CONTENT_LENGTH" not in e and "CONTENT_TYPE" not in e


def test_redirect_loop_bounded(srv):
    r = get(srv, "h1", "loop", check=False)
    assert r.status == 500
    assert srv.alive()


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_client_redirect(srv, proto):
    r = get(srv, proto, "absolute")
    assert r.status == 302
    assert r.header("Location") == "https://example.com/elsewhere"
    r = get(srv, proto, "with-status")
    assert r.status == 301
    assert r.header("Location") == "/elsewhere"


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_content_length(srv, proto):
    r = get(srv, proto, "length")
    assert r.body == b"hello"
    assert r.header("Content-Length") == "5"
    assert r.header("Transfer-Encoding") is None


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_short_body_aborted(srv, proto):
    # Content-Length 50 but 5 bytes: the client must not take it as complete
    r = get(srv, proto, "short", check=False)
    assert r.rc != 0
    assert srv.alive()


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_program_chunked_is_dechunked(srv, proto):
    r = get(srv, proto, "chunked")
    assert r.status == 200
    assert r.body == b"hello, world"
    assert r.header("Content-Length") is None


def test_program_chunked_http11_raw(srv):
    # re-framed by portico: exactly one layer of chunked coding
    with srv.conn() as c:
        c.request("GET", "/status?chunked")
        r = c.read_response()
        assert r.header("Transfer-Encoding") == "chunked"
        assert r.body == b"hello, world"
        c.request("GET", "/status?length")
        assert c.read_response().body == b"hello"


def test_program_chunked_http10(srv):
    with srv.conn() as c:
        c.request("GET", "/status?chunked", version="HTTP/1.0")
        r = c.read_response()
        assert r.header("Transfer-Encoding") is None
        assert r.body == b"hello, world"
        assert c.wait_closed()


def test_bad_program_chunking_aborts(srv):
    r = get(srv, "h1", "badchunk", check=False)
    assert r.rc != 0
    assert srv.alive()


def test_no_length_chunked_and_keepalive(srv):
    with srv.conn() as c:
        for _ in range(3):
            c.request("GET", "/status?nolength")
            r = c.read_response()
            assert r.status == 200
            assert r.header("Transfer-Encoding") == "chunked"
            assert r.body == b"line one\nline two\n"
            assert (r.header("Connection") or "").lower() != "close"


def test_no_length_http10_close_delimited(srv):
    with srv.conn() as c:
        c.request("GET", "/status?nolength", version="HTTP/1.0")
        r = c.read_response()
        assert r.status == 200
        assert r.header("Content-Length") is None
        assert r.header("Transfer-Encoding") is None
        assert r.body == b"line one\nline two\n"
        assert c.wait_closed()


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_fields_passed_through(srv, proto):
    r = get(srv, proto, "fields")
    assert r.body == b"fields"
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    assert sorted(r.header_all("Set-Cookie")) == ["a=1", "b=2"]
    assert r.header("Cache-Control") == "no-cache"
    assert r.header("Server") != "evil"
    assert r.header_all("Date") and "1970" not in r.header("Date")
    if proto == "h1":
        assert (r.header("Connection") or "").lower() != "close"


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_no_body_statuses(srv, proto):
    r = get(srv, proto, "nocontent")
    assert r.status == 204 and r.body == b""
    r = get(srv, proto, "headonly")
    assert r.status == 200 and r.body == b""
    r = get(srv, proto, "", method="HEAD")
    assert r.status == 200 and r.body == b""


def test_head_keeps_connection(srv):
    with srv.conn() as c:
        c.request("HEAD", "/status?length")
        r = c.read_response("HEAD")
        assert r.status == 200 and r.header("Content-Length") == "5"
        c.request("GET", "/status")
        assert c.read_response().body == b"default GET"


@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.parametrize("case", ["noout", "nohead", "badstatus", "status1xx",
                                  "badline", "bighead", "badte"])
def test_bad_output_502(srv, proto, case):
    off = srv.log_size()
    r = get(srv, proto, case, check=False)
    assert r.status == 502, (case, r)
    assert b"502" in r.body
    text = srv.wait_log(off, r"cgi /status\[\d+\]: bad response head")
    assert "bad response head" in text, text
    assert srv.alive()


def test_502_keeps_connection(srv):
    with srv.conn() as c:
        c.request("GET", "/status?noout")
        assert c.read_response().status == 502
        c.request("GET", "/status?notfound")
        assert c.read_response().status == 404


def test_pipelined_requests(srv):
    reqs = [("/status?length", b"hello"), ("/status?nolength", b"line one\nline two\n"),
            ("/static.txt", b"static file\n"), ("/status?chunked", b"hello, world")]
    with srv.conn() as c:
        c.send(b"".join(build_request("GET", t) for t, _ in reqs))
        for _, want in reqs:
            assert c.read_response().body == want
