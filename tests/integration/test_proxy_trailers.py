"""Trailer fields through the proxy, both ways, in the four combinations
of client and backend protocol: HTTP/1.1 chunked trailers and HTTP/2
trailing HEADERS (what gRPC's grpc-status rides on)."""

import time

import pytest

import h2client
from pthttp import Conn


@pytest.fixture(scope="module")
def srv(portico, bk, hb):
    site = portico.site("trailers")
    mounts = [
        site.mount("/"),
        {"mountpoint": "/h1", "origin": "http://%s/app" % bk.host},
        {"mountpoint": "/h2", "origin": "http://127.0.0.1:%d/app" % hb.port, "proxy-h2": 1},
    ]
    return site.start(vhosts=[site.vhost(mounts=mounts)])


def raw_chunked_response(port, request):
    """The raw bytes of a chunked response, up to the end of its trailer
    section: (head, trailer section)."""
    with Conn(port) as c:
        c.send(request)
        data = b""
        c.sock.settimeout(10)
        while b"\r\n0\r\n" not in data or not data.endswith(b"\r\n\r\n"):
            d = c.sock.recv(65536)
            assert d, data
            data += d
    head, _, rest = data.partition(b"\r\n\r\n")
    trailer = rest[rest.index(b"\r\n0\r\n") + 5:]
    return head.decode("latin-1"), trailer.decode("latin-1")


WANT = [("grpc-status", "0"), ("x-sum", "abc")]


def lower(fields):
    return [(k.lower(), v) for k, v in fields]


@pytest.mark.parametrize("mount", ["h1", "h2"])
def test_response_trailers_to_http1_client(srv, mount):
    head, trailer = raw_chunked_response(
        srv.port, b"GET /%s/trailers HTTP/1.1\r\nHost: localhost\r\n\r\n" % mount.encode())
    assert "Transfer-Encoding: chunked" in head
    lines = [ln for ln in trailer.split("\r\n") if ln]
    assert lower(tuple(ln.split(": ", 1)) for ln in lines) == WANT, trailer
    # fields that may not be trailers stay out (Content-Length, Content-Type)


@pytest.mark.parametrize("mount", ["h1", "h2"])
def test_response_trailers_to_http2_client(srv, mount):
    status, fields, body, trailers = h2client.request(srv.port, "/%s/trailers" % mount)
    assert status == 200
    assert body in (b"hello", b"ok h2 GET /app/trailers")
    assert lower(trailers) == WANT


def test_request_trailers_http1_to_http1(srv, bk):
    with Conn(srv.port) as c:
        c.send(b"POST /h1/echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
               b"\r\n5\r\nhello\r\n0\r\nX-Checksum: 123\r\nHost: evil\r\n\r\n")
        r = c.read_response()
    assert r.status == 200 and r.body == b"hello"
    q = bk.requests[-1]
    assert q.header("Transfer-Encoding") == "chunked"
    assert q.trailers == [("X-Checksum", "123")]  # Host may not be a trailer


def test_request_trailers_http2_to_http1(srv, bk):
    status, _, body, _ = h2client.request(srv.port, "/h1/echo", "POST", body=b"hello",
                                          trailers=[("x-checksum", "123")])
    assert status == 200 and body == b"hello"
    assert bk.requests[-1].trailers == [("x-checksum", "123")]


def test_request_trailers_http1_to_http2(srv, hb):
    with Conn(srv.port) as c:
        c.send(b"POST /h2/echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
               b"\r\n5\r\nhello\r\n0\r\nX-Checksum: 123\r\n\r\n")
        r = c.read_response()
    assert r.status == 200 and r.body == b"hello"
    time.sleep(0.1)
    with hb.lock:
        assert hb.streams[-1].trailers == [("x-checksum", "123")]


def test_grpc_style_http2_to_http2(srv, hb):
    """te: trailers reaches an HTTP/2 backend (gRPC servers insist on it),
    request trailers go up and response trailers come back."""
    status, _, body, trailers = h2client.request(
        srv.port, "/h2/trailers", "POST", headers=[("te", "trailers"),
                                                   ("content-type", "application/grpc")],
        body=b"\x00\x00\x00\x00\x00", trailers=[("x-checksum", "123")])
    assert status == 200
    assert lower(trailers) == WANT
    with hb.lock:
        s = hb.streams[-1]
    assert s.header("te") == "trailers"
    assert s.trailers == [("x-checksum", "123")]
    assert s.body == b"\x00\x00\x00\x00\x00"


def test_content_length_response_has_no_trailer_room(srv):
    # an HTTP/1.0 client gets the body close-delimited: no trailers, no chunks
    with Conn(srv.port) as c:
        c.send(b"GET /h1/trailers HTTP/1.0\r\nHost: localhost\r\n\r\n")
        r = c.read_response()
    assert r.status == 200 and r.body == b"hello"
