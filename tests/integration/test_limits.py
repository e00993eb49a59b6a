"""Configured request limits and listening interfaces."""

import socket

import pytest

from pthttp import Conn


@pytest.fixture(scope="module")
def srv(portico):
    site = portico.site()
    site.write("a.txt", "hello\n")
    site.write("who.txt", "two", base=site.root / "two")
    two = site.vhost(name="two.test", interface="127.0.0.2",
                     mounts=[site.mount("/", "file://%s" % (site.root / "two"))])
    return site.start(global_={"max-header-size": 4096, "max-uri-length": 1024},
                      vhosts=[site.vhost(), two])


def exchange(srv, raw):
    with Conn(srv.port) as c:
        c.send(raw)
        r = c.read_response()
        closed = c.wait_closed(3.0) if r.status in (414, 431) else None
    return r, closed


def test_max_uri_length(srv):
    r, closed = exchange(srv, b"GET /" + b"a" * 1100 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.status == 414 and closed
    r, _ = exchange(srv, b"GET /" + b"a" * 900 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.status == 404


def test_max_header_size(srv):
    pad = b"".join(b"X-P%d: %s\r\n" % (i, b"p" * 490) for i in range(10))   # ~5 KB
    r, closed = exchange(srv, b"GET /a.txt HTTP/1.1\r\nHost: x\r\n" + pad + b"\r\n")
    assert r.status == 431 and closed
    pad = b"".join(b"X-P%d: %s\r\n" % (i, b"p" * 490) for i in range(5))    # ~2.5 KB
    r, _ = exchange(srv, b"GET /a.txt HTTP/1.1\r\nHost: x\r\n" + pad + b"\r\n")
    assert r.status == 200 and r.body == b"hello\n"


def test_interfaces(srv):
    """Vhosts on the same port but different interfaces get separate
    listeners, each bound to its own address only."""
    r = srv.get("/a.txt")
    assert r.status == 200 and r.body == b"hello\n"
    with Conn(srv.port, host="127.0.0.2") as c:
        c.request("GET", "/who.txt")
        r = c.read_response()
    assert r.status == 200 and r.body == b"two"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.3", srv.port), timeout=2).close()
