"""SIGTERM/SIGINT: stop accepting, finish in-flight responses (bounded by
the drain timeout), exit 0.  Each test starts its own server."""

import hashlib
import random
import signal
import socket
import time

import pytest

from pthttp import Conn

BIG = random.Random(99).randbytes(20 * 1000 * 1000)
BIG_SHA = hashlib.sha256(BIG).hexdigest()


@pytest.fixture
def make(portico):
    def make(global_=None):
        site = portico.site("graceful")
        site.write("a.txt", "hello\n")
        site.write("big.bin", BIG)
        return site.start(global_=global_)
    return make


def new_connection_refused(port, deadline):
    """Polls until a new connection is refused (or accepted and closed
    unanswered).  Returns None on success, else a description."""
    last = "never tried"
    while time.monotonic() < deadline:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=0.5)
        except ConnectionRefusedError:
            return None
        except OSError as e:
            last = repr(e)
            time.sleep(0.05)
            continue
        try:
            s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
            s.settimeout(0.5)
            data = s.recv(100)
            if not data:
                return None
            return "a new connection was served after SIGTERM: %r" % data[:40]
        except ConnectionResetError:
            return None
        except socket.timeout:
            last = "a new connection was accepted but left hanging"
        finally:
            s.close()
        time.sleep(0.05)
    return last


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_idle_exits_0(make, sig):
    srv = make()
    assert srv.get("/a.txt").status == 200
    srv.send_signal(sig)
    rc = srv.wait(5)
    assert rc == 0, (rc, srv.log()[-2000:])


def test_in_flight_download_completes(make):
    srv = make({"timeout-secs": 10})
    with Conn(srv.port, rcvbuf=65536, timeout=10) as c:
        c.request("GET", "/big.bin")
        while len(c.buf) < 256 * 1024:
            assert c._fill()
        srv.send_signal(signal.SIGTERM)
        time.sleep(0.5)   # signal delivery and listener shutdown are async
        why = new_connection_refused(srv.port, time.monotonic() + 2.5)
        assert why is None, why
        assert srv.alive(), "exited before the in-flight response was sent"
        r = c.read_response(timeout=30)
        assert r.status == 200
        assert len(r.body) == len(BIG)
        assert hashlib.sha256(r.body).hexdigest() == BIG_SHA
        assert c.wait_closed(5), "connection stays open after drain"
    rc = srv.wait(10)
    assert rc == 0, (rc, srv.log()[-2000:])


def test_drain_timeout_bounds_shutdown(make):
    srv = make({"timeout-secs": 60, "drain-timeout-secs": 1})
    with Conn(srv.port, rcvbuf=65536) as c:
        c.request("GET", "/big.bin")
        c._fill()
        t0 = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        rc = srv.wait(8)
        took = time.monotonic() - t0
    assert rc == 0, (rc, srv.log()[-2000:])
    assert took < 5, took


def test_idle_keepalive_does_not_delay_exit(make):
    srv = make()
    conns = []
    try:
        for _ in range(10):
            c = Conn(srv.port)
            c.request("GET", "/a.txt")
            assert c.read_response().status == 200
            conns.append(c)
        t0 = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        rc = srv.wait(8)
        took = time.monotonic() - t0
        assert rc == 0, (rc, srv.log()[-2000:])
        assert took < 3, "idle keep-alive connections held the exit %.1fs" % took
        for c in conns:
            assert c.wait_closed(1)
    finally:
        for c in conns:
            c.close()


def test_sigterm_during_request_head(make):
    """A connection that has sent half a head is not a request in flight
    being answered: it must not hold the exit beyond the drain timeout."""
    srv = make({"drain-timeout-secs": 2})
    with Conn(srv.port) as c:
        c.send(b"GET /a.txt HTTP/1.1\r\nHost: loc")
        time.sleep(0.1)
        t0 = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        rc = srv.wait(8)
        assert rc == 0
        assert time.monotonic() - t0 < 4.5
