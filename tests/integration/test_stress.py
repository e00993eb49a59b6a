"""Many concurrent keep-alive connections, and abuse that must never crash
or wedge the server (it still answers afterwards)."""

import concurrent.futures as cf
import os
import random
import socket
import struct
import time

import pytest

from pthttp import Conn, ConnectionClosed, build_request

FILES = {"/f%d.txt" % i: ("file %d\n" % i).encode() * (i + 1) for i in range(10)}
BIG = os.urandom(4 << 20)


@pytest.fixture(scope="module")
def srv(portico):
    site = portico.site()
    for path, body in FILES.items():
        site.write(path[1:], body)
    site.write("big.bin", BIG)
    return site.start(global_={"count-threads": 2, "timeout-secs": 2})


def assert_healthy(srv):
    assert srv.alive(), "portico died:\n" + srv.log()[-4000:]
    t0 = time.monotonic()
    r = srv.get("/f1.txt", timeout=5)
    assert r.status == 200 and r.body == FILES["/f1.txt"]
    assert time.monotonic() - t0 < 2.0


def test_200_concurrent_keepalive(srv):
    n, rounds = 200, 5
    conns = [Conn(srv.port, timeout=15) for _ in range(n)]
    try:
        for rnd in range(rounds):
            paths = [list(FILES)[(i + rnd) % len(FILES)] for i in range(n)]
            for c, p in zip(conns, paths):
                c.request("GET", p)
            for c, p in zip(conns, paths):
                r = c.read_response(timeout=15)
                assert r.status == 200 and r.body == FILES[p]
    finally:
        for c in conns:
            c.close()
    assert_healthy(srv)


def test_concurrent_threads_mixed(srv):
    def worker(i):
        rng = random.Random(i)
        with Conn(srv.port, timeout=15) as c:
            for _ in range(20):
                p = rng.choice(list(FILES))
                if rng.random() < 0.3:
                    # A small pipeline of two.
                    q = rng.choice(list(FILES))
                    c.send(build_request("GET", p) + build_request("GET", q))
                    if c.read_response().body != FILES[p]:
                        return False
                    if c.read_response().body != FILES[q]:
                        return False
                else:
                    c.request("GET", p)
                    if c.read_response().body != FILES[p]:
                        return False
        return True

    with cf.ThreadPoolExecutor(64) as ex:
        assert all(ex.map(worker, range(128)))
    assert_healthy(srv)


def test_random_garbage(srv):
    rng = random.Random(7)
    conns = []
    for i in range(60):
        c = Conn(srv.port)
        n = rng.randint(1, 6000)
        data = rng.randbytes(n)
        if i % 3 == 0:
            data += b"\r\n\r\n"
        if i % 5 == 0:
            data = b"GET / HTTP/1.1\r\n" + data
        try:
            c.send(data)
        except OSError:
            pass
        conns.append(c)
    time.sleep(0.2)
    for c in conns:
        c.sock.settimeout(0.2)
        try:
            d = c.sock.recv(64)
            if d:
                assert d.startswith(b"HTTP/1.1 4") or d.startswith(b"HTTP/1.1 5") \
                    or d.startswith(b"HTTP/1.0 4"), d
        except (socket.timeout, ConnectionResetError):
            pass
        c.close()
    assert_healthy(srv)


def test_printable_garbage(srv):
    rng = random.Random(8)
    alphabet = b"GETPOSTHTTP/1.0 :\r\n\t%?#/-abcxyz0123456789"
    for _ in range(100):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 300)))
        with Conn(srv.port) as c:
            try:
                c.send(data + b"\r\n\r\n")
                c.sock.settimeout(0.3)
                c.sock.recv(4096)
            except (OSError, socket.timeout):
                pass
    assert_healthy(srv)


def test_slowloris(srv):
    conns = []
    try:
        for _ in range(100):
            c = Conn(srv.port)
            c.send(b"GET /f1.txt HTTP/1.1\r\nHost: localhost\r\nX-a: ")
            conns.append(c)
        for _ in range(3):
            time.sleep(0.3)
            for c in conns:
                try:
                    c.send(b"a")
                except OSError:
                    pass
            assert_healthy(srv)
    finally:
        for c in conns:
            c.close()
    assert_healthy(srv)


def test_huge_line_without_newline(srv):
    with Conn(srv.port) as c:
        try:
            c.send(b"GET /" + b"A" * 100000)
        except OSError:
            pass    # the server may refuse the rest while we write
        try:
            r = c.read_response()
            assert r.status in (400, 414, 431), r
        except (ConnectionClosed, ConnectionResetError):
            pass
    assert_healthy(srv)


def test_too_many_headers(srv):
    hdrs = [("X-H%d" % i, "1") for i in range(300)]
    r = srv.get("/f1.txt", headers=hdrs)
    assert r.status in (400, 431), r
    assert_healthy(srv)


def test_nul_flood(srv):
    with Conn(srv.port) as c:
        try:
            c.send(b"\x00" * 20000)
            c.sock.settimeout(3)
            d = c.sock.recv(64)
            assert d == b"" or d.startswith(b"HTTP/1.1 400"), d
        except (ConnectionResetError, BrokenPipeError, socket.timeout):
            pass
    assert_healthy(srv)


def test_h2_preface_on_plain_port(srv):
    with Conn(srv.port) as c:
        c.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00" * 9)
        c.sock.settimeout(3)
        try:
            c.sock.recv(4096)
        except (socket.timeout, ConnectionResetError):
            pass
    assert_healthy(srv)


def test_client_resets_mid_download(srv):
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(build_request("GET", "/big.bin"))
        s.recv(65536)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()   # RST while the server is sending
    assert_healthy(srv)


def test_client_closes_before_response(srv):
    for i in range(50):
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(build_request("GET", "/big.bin" if i % 2 else "/f2.txt") * 3)
        if i % 3 == 0:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    assert_healthy(srv)


def test_half_close_after_request(srv):
    """The client shuts down its write side after the request: the
    response must still be delivered."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    try:
        s.sendall(build_request("GET", "/f3.txt", {"Connection": "close"}))
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    finally:
        s.close()
    assert data.startswith(b"HTTP/1.1 200")
    assert data.endswith(FILES["/f3.txt"])
    assert_healthy(srv)


def test_many_short_connections(srv):
    def one(i):
        p = list(FILES)[i % len(FILES)]
        return srv.get(p, timeout=10).body == FILES[p]
    with cf.ThreadPoolExecutor(32) as ex:
        assert all(ex.map(one, range(1000)))
    assert_healthy(srv)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_pipeline_flood_without_reading_is_bounded(srv):
    """Thousands of pipelined requests for a 4 MB file from a client that
    does not read: responses are produced as the socket drains, so the
    server's memory stays bounded (nothing like 8 GB of queued bodies)."""
    before = rss_kb(srv.pid)
    s = socket.create_connection(("127.0.0.1", srv.port))
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.settimeout(0.5)
        data = build_request("GET", "/big.bin") * 2000
        sent = 0
        deadline = time.monotonic() + 3
        while sent < len(data) and time.monotonic() < deadline:
            try:
                sent += s.send(data[sent:sent + 65536])
            except socket.timeout:
                pass
        time.sleep(1.0)
        grown = rss_kb(srv.pid) - before
        assert grown < 64 * 1024, "RSS grew by %d kB" % grown
        assert_healthy(srv)
    finally:
        s.close()
    assert_healthy(srv)
