"""Header-read, send and idle keep-alive timeouts."""

import os
import socket
import time

import pytest

from pthttp import Conn

BIG = os.urandom(16 << 20)


@pytest.fixture(scope="module")
def srv(portico):
    """timeout-secs 1 and keepalive_timeout 1 (underscore spelling)."""
    site = portico.site("t1")
    site.write("a.txt", "hello\n")
    site.write("big.txt", BIG)
    return site.start(global_={"timeout-secs": 1},
                      vhosts=[site.vhost(keepalive_timeout=1)])


@pytest.fixture(scope="module")
def srv_ka3(portico):
    """timeout-secs 1 but "keepalive-timeout": "3" (dash, string)."""
    site = portico.site("t3")
    site.write("a.txt", "hello\n")
    return site.start(global_={"timeout-secs": "1"},
                      vhosts=[site.vhost(**{"keepalive-timeout": "3"})])


def time_to_close(c, limit):
    """Seconds until the server closes c (any final bytes, e.g. a 408, are
    allowed); None if still open after limit."""
    t0 = time.monotonic()
    c.sock.settimeout(0.1)
    while time.monotonic() - t0 < limit:
        try:
            data = c.sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return time.monotonic() - t0
        if not data:
            return time.monotonic() - t0
        c.buf += data
    return None


def test_header_read_timeout(srv):
    with Conn(srv.port) as c:
        c.send(b"GET /a.txt HTTP/1.1\r\nHost: local")
        t = time_to_close(c, 5.0)
        assert t is not None, "half a request head was kept open > 5s"
        assert 0.5 <= t <= 3.5, t
        if c.buf:
            assert c.buf.startswith(b"HTTP/1.1 408"), c.buf[:100]
    assert srv.get("/a.txt").status == 200


def test_silent_connection_closed(srv):
    with Conn(srv.port) as c:
        t = time_to_close(c, 5.0)
        assert t is not None, "a connection that never sends was kept > 5s"
        assert t <= 3.5, t


def test_idle_keepalive_closed(srv):
    with Conn(srv.port) as c:
        c.request("GET", "/a.txt")
        assert c.read_response().status == 200
        t = time_to_close(c, 5.0)
        assert t is not None, "idle keep-alive connection kept > 5s"
        assert 0.5 <= t <= 3.0, t
        assert c.buf == b"", c.buf


def test_send_timeout(srv):
    """A client that stops reading is dropped after ~timeout-secs, so it
    never gets the whole 16 MB file."""
    with Conn(srv.port, rcvbuf=65536) as c:
        c.request("GET", "/big.txt")
        c.sock.settimeout(5)
        first = c.sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200"), first[:100]
        time.sleep(3.5)
        got = len(first)
        c.sock.settimeout(5)
        try:
            while True:
                d = c.sock.recv(1 << 20)
                if not d:
                    break
                got += len(d)
        except (ConnectionResetError, socket.timeout):
            pass
    assert got < len(BIG), "the stalled reader still got the whole body"
    assert srv.get("/a.txt").status == 200


def test_keepalive_timeout_is_not_the_header_timeout(srv_ka3):
    with Conn(srv_ka3.port) as c:
        c.request("GET", "/a.txt")
        assert c.read_response().status == 200
        time.sleep(1.8)   # past timeout-secs (1), within keepalive-timeout (3)
        c.request("GET", "/a.txt")
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello\n"
        t = time_to_close(c, 7.0)
        assert t is not None, "idle connection kept > 7s with keepalive-timeout 3"
        assert 2.0 <= t <= 5.0, t
