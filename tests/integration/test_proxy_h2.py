"""proxy-h2: requests to the backend as streams of shared HTTP/2
connections, from HTTP/1.1 and HTTP/2 clients, against python3-h2 and
Debian's nghttpd (h2c and TLS)."""

import concurrent.futures
import shutil
import subprocess
import time

import pytest

import backend as be
from certs import certs_fixture  # noqa: F401 (fixture)
from ptserver import free_port


def wait_port(port, timeout=10):
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def nghttpd(tmp_path_factory, certs):
    if not shutil.which("nghttpd"):
        pytest.skip("nghttpd (nghttp2-server) not installed")
    root = tmp_path_factory.mktemp("nghttpd")
    (root / "app").mkdir()
    (root / "app" / "x.txt").write_bytes(b"from nghttpd\n")
    (root / "app" / "big.bin").write_bytes(be.pattern(3000000))
    plain, tls = free_port(), free_port()
    procs = [subprocess.Popen(["nghttpd", "--no-tls", "-d", str(root), str(plain)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
             subprocess.Popen(["nghttpd", "-d", str(root), str(tls), certs.local_key,
                               certs.local_cert],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    assert wait_port(plain) and wait_port(tls)
    yield {"plain": plain, "tls": tls}
    for p in procs:
        p.terminate()
        p.wait(10)


@pytest.fixture(scope="module")
def h1tls(certs):
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.local_cert, certs.local_key)
    ctx.set_alpn_protocols(["http/1.1"])
    b = be.Backend(tls_ctx=ctx)
    yield b
    b.close()


@pytest.fixture(scope="module")
def srv(portico, hb, hb2, nghttpd, h1tls, certs):
    site = portico.site("proxyh2")
    mounts = [
        site.mount("/"),
        {"mountpoint": "/h2", "origin": "http://127.0.0.1:%d/app" % hb.port, "proxy-h2": 1},
        {"mountpoint": "/join", "origin": "http://127.0.0.1:%d/app" % hb.port, "proxy-h2": 1},
        {"mountpoint": "/ng", "origin": "http://127.0.0.1:%d/app" % nghttpd["plain"],
         "proxy-h2": 1},
        {"mountpoint": "/ngs", "origin": "https://localhost:%d/app" % nghttpd["tls"],
         "proxy-h2": 1, "proxy-ca": certs.ca},
        {"mountpoint": "/fallback", "origin": "https://localhost:%d/app" % h1tls.port,
         "proxy-h2": 1, "proxy-ca": certs.ca},
        {"mountpoint": "/ping", "origin": "http://127.0.0.1:%d/app" % hb2.port, "proxy-h2": 1,
         "proxy-ping-interval": 1},
        {"mountpoint": "/frozen", "origin": "http://127.0.0.1:%d/app" % hb2.port, "proxy-h2": 1,
         "proxy-ping-interval": 1, "proxy-read-timeout": 1},
        {"mountpoint": "/short", "origin": "http://127.0.0.1:%d/app" % hb2.port, "proxy-h2": 1,
         "proxy-keepalive-timeout": 1},
    ]
    return site.start(vhosts=[site.vhost(mounts=mounts)])


def backend_conns(port):
    out = subprocess.run(["ss", "-Htn", "state", "established", "( dport = :%d )" % port],
                         capture_output=True, text=True).stdout
    return len([ln for ln in out.splitlines() if ln.strip()])


def test_get_over_h2(srv, hb):
    r = srv.get("/h2/x?y=1")
    assert r.status == 200, r
    assert r.text == "ok h2 GET /app/x?y=1"
    assert r.header("x-backend") == "h2"
    s = hb.streams[-1]
    assert s.authority == "127.0.0.1:%d" % hb.port
    assert s.scheme == "http"
    assert s.header("x-forwarded-for") == "127.0.0.1"
    assert s.header("via") == "1.1 portico"
    assert s.header("connection") is None


def test_post_bodies(srv, hb):
    body = be.pattern(50000)
    r = srv.get("/h2/echo", method="POST", body=body)
    assert r.status == 200
    assert r.body == body
    assert hb.streams[-1].header("content-length") == "50000"
    p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-H",
                        "Transfer-Encoding: chunked", "--data-binary", "@-",
                        srv.url("/h2/echo")], input=b"unknown length", capture_output=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"unknown length"


def test_many_requests_one_connection(srv, hb):
    """100 concurrent requests: one backend connection, many streams."""
    srv.get("/h2/warm")
    hb.reset()

    def one(i):
        r = srv.get("/h2/c/%d" % i)
        return r.status, r.text

    with concurrent.futures.ThreadPoolExecutor(50) as ex:
        res = list(ex.map(one, range(100)))
    assert res == [(200, "ok h2 GET /app/c/%d" % i) for i in range(100)]
    with hb.lock:
        assert hb.connections == 0  # the connection made before serves them all
        assert len(hb.streams) == 100
        assert len({s.conn_id for s in hb.streams}) == 1


def test_h2load_through_proxy(srv, hb):
    if not shutil.which("h2load"):
        pytest.skip("h2load not installed")
    hb.reset()
    p = subprocess.run(["h2load", "-n", "400", "-c", "4", "-m", "20", srv.url("/h2/load")],
                       capture_output=True, text=True, timeout=60)
    assert "400 succeeded" in p.stdout, p.stdout
    with hb.lock:
        assert len(hb.streams) == 400
        assert hb.connections <= 1


def test_stream_reset_502(srv):
    r = srv.get("/h2/reset")
    assert r.status == 502
    assert b'href="/error.css"' in r.body


def test_nghttpd_h2c(srv, nghttpd):
    assert srv.get("/ng/x.txt").text == "from nghttpd\n"
    r = srv.get("/ng/big.bin")
    assert r.status == 200 and r.body == be.pattern(3000000)
    assert srv.get("/ng/nope").status == 404
    rc = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "-",
                         srv.url("/ng/big.bin")], capture_output=True, timeout=30)
    assert rc.stdout == be.pattern(3000000)
    assert backend_conns(nghttpd["plain"]) == 1


def test_nghttpd_tls_alpn(srv, nghttpd):
    assert srv.get("/ngs/x.txt").text == "from nghttpd\n"
    assert srv.get("/ngs/big.bin").body == be.pattern(3000000)
    assert backend_conns(nghttpd["tls"]) == 1


def test_fallback_to_http1(srv, h1tls):
    off = srv.log_size()
    for i in range(3):
        r = srv.get("/fallback/f%d" % i)
        assert r.status == 200, r
        assert r.text == "ok GET /app/f%d" % i
    log = srv.log_since(off)
    assert log.count("did not agree to HTTP/2") == 1, log


def test_goaway_drains_to_a_new_connection(srv, hb):
    srv.get("/h2/before")
    hb.reset()
    assert srv.get("/h2/goaway").text == "ok h2 GET /app/goaway"
    time.sleep(0.2)
    for i in range(5):
        r = srv.get("/h2/after/%d" % i)
        assert r.status == 200, r
    with hb.lock:
        assert hb.connections == 1  # one new connection after the GOAWAY
        ids = [s.conn_id for s in hb.streams]
    assert len(set(ids[1:])) == 1


def test_requests_join_a_connection_being_set_up(srv, hb):
    """The first 30 requests of a mount arrive together: they wait for the
    one connection being set up and all join it as streams."""
    hb.reset()
    import socket
    conns = []
    for i in range(30):  # all sent before any answer can come
        c = socket.create_connection(("127.0.0.1", srv.port))
        c.sendall(b"GET /join/j%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % i)
        conns.append(c)
    for i, c in enumerate(conns):
        c.settimeout(10)
        data = b""
        while b"ok h2 GET /app/j%d" % i not in data:
            d = c.recv(65536)
            assert d, data
            data += d
        c.close()
    with hb.lock:
        assert hb.connections == 1
        assert len(hb.streams) == 30


def wait_for(cond, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_idle_connection_pinged_and_kept(srv, hb2):
    hb2.reset()
    assert srv.get("/ping/a").status == 200
    time.sleep(2.6)
    with hb2.lock:
        assert hb2.pings >= 2  # one a second while idle, each ACKed
        assert hb2.closed == 0
    assert srv.get("/ping/b").status == 200
    with hb2.lock:
        assert hb2.connections == 1  # the pinged connection served it


def test_silent_backend_connection_closed(srv, hb2):
    """A connection whose backend stopped answering (no PING ACK within
    proxy-read-timeout) is closed while idle, never handed to a request."""
    hb2.reset()
    assert srv.get("/frozen/freeze").status == 200
    assert wait_for(lambda: hb2.closed == 1, 6)
    assert "no PING ACK" in srv.log()
    r = srv.get("/frozen/next")
    assert r.status == 200 and r.text == "ok h2 GET /app/next"
    with hb2.lock:
        assert hb2.connections == 2


def test_keepalive_timeout_closes_idle(srv, hb2):
    hb2.reset()
    assert srv.get("/short/a").status == 200
    assert srv.get("/short/b").status == 200
    with hb2.lock:
        assert hb2.connections == 1
    assert wait_for(lambda: hb2.closed == 1, 4)  # after proxy-keepalive-timeout (1 s)
    assert srv.get("/short/c").status == 200
    with hb2.lock:
        assert hb2.connections == 2
