"""http:// mounts: the upstream proxy to HTTP/1.1 backends, driven by real
clients (raw sockets, curl over HTTP/1.1 and HTTP/2) against a recording
backend (backend.py) and portico's own file server as a second backend."""

import concurrent.futures
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

import backend as be
from pthttp import Conn
from ptserver import portico_bin, sanitize_enabled


@pytest.fixture(scope="module")
def ubk(tmp_path_factory):
    path = be.unix_socket_path(tmp_path_factory.mktemp("unix"))
    b = be.Backend(unix_path=path)
    b.path = path
    yield b
    b.close()


@pytest.fixture(scope="module")
def srv(portico, bk, bk2, ubk):
    site = portico.site("proxy")
    site.write("local.txt", "local file\n")
    mounts = [
        site.mount("/"),
        {"mountpoint": "/api", "origin": "http://%s/app" % bk.host},
        {"mountpoint": "/root", "origin": "http://%s" % bk.host},
        {"mountpoint": "/one", "origin": "http://%s/app" % bk.host, "proxy-max-conns": 1},
        {"mountpoint": "/keep", "origin": "http://%s/app" % bk.host,
         "proxy-preserve-host": 1},
        {"mountpoint": "/fast", "origin": "http://%s/app" % bk.host,
         "proxy-read-timeout": 1, "proxy-max-conns": 2},
        {"mountpoint": "/down", "origin": "http://127.0.0.1:9/x"},
        {"mountpoint": "/unix", "origin": "http://unix:%s:/u" % ubk.path},
        {"mountpoint": "/noloc", "origin": "http://%s/app" % bk.host,
         "proxy-rewrite-location": 0},
        {"mountpoint": "/post", "origin": "http://%s/app" % bk.host},
        {"mountpoint": "/rr", "origin": ["http://%s/app" % bk.host, "http://%s/app" % bk2.host]},
        {"mountpoint": "/half", "origin": ["http://127.0.0.1:9/app", "http://%s/app" % bk2.host]},
        {"mountpoint": "/alldown", "origin": ["http://127.0.0.1:9/", "http://127.0.0.1:7/"]},
        {"mountpoint": "/buf", "origin": "http://%s/app" % bk.host, "proxy-buffering": 1,
         "proxy-buffering-max": 300000},
        {"mountpoint": "/bigbuf", "origin": "http://%s/app" % bk.host, "proxy-buffering": 1,
         "proxy-buffering-max": 200 << 20},
    ]
    return site.start(vhosts=[site.vhost(mounts=mounts)], log_level="info")


def last(b):
    with b.lock:
        return b.requests[-1]


def curl(args, timeout=30):
    p = subprocess.run(["curl", "-s", "-S"] + args, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


# ---- requests go upstream as sent --------------------------------------


def test_path_and_query_mapped(srv, bk):
    r = srv.get("/api/x/y.txt?b=2&a=1")
    assert r.status == 200, r
    assert last(bk).target == "/app/x/y.txt?b=2&a=1"
    assert r.text == "ok GET /app/x/y.txt?b=2&a=1"


def test_encoded_path_and_query_unchanged(srv, bk):
    r = srv.get("/api/a%20b/%C3%A9t%C3%A9?q=%41%2b+x&z")
    assert r.status == 200
    assert last(bk).target == "/app/a%20b/%C3%A9t%C3%A9?q=%41%2b+x&z"


def test_mount_without_prefix(srv, bk):
    srv.get("/root/p?x")
    assert last(bk).target == "/p?x"  # the mountpoint is replaced by ""
    srv.get("/api")
    assert last(bk).target == "/app"


def test_dot_segments_never_leave_the_mount(srv, bk):
    # The raw path has dot segments: the normalized (matched) path goes,
    # re-encoded, so the backend cannot resolve it outside /app.
    r = srv.get("/api/a/%2e%2e/b%20c")
    assert r.status == 200
    assert last(bk).target == "/app/b%20c"
    r = srv.get("/api/a/../b")
    assert last(bk).target == "/app/b"
    # Through "/api/../api/x" the raw path does not start as written.
    srv.get("/api/../api/x?k=v")
    assert last(bk).target == "/app/x?k=v"


def test_head_stays_head(srv, bk):
    r = srv.get("/api/big?n=5000", method="HEAD")
    assert r.status == 200
    assert last(bk).method == "HEAD"
    assert r.header("Content-Length") == "5000"
    assert r.body == b""


def test_forwarding_headers(srv, bk):
    r = srv.get("/api/h", headers={"X-Forwarded-For": "203.0.113.9",
                                   "Via": "1.0 upstream-cdn",
                                   "Connection": "X-Secret, keep-alive",
                                   "X-Secret": "hop", "Keep-Alive": "300",
                                   "Proxy-Connection": "keep-alive", "TE": "trailers",
                                   "X-Custom": "passes"})
    assert r.status == 200
    q = last(bk)
    assert q.header("Host") == bk.host
    assert q.header("X-Forwarded-For") == "203.0.113.9, 127.0.0.1"
    assert q.header("X-Forwarded-Proto") == "http"
    assert q.header("X-Forwarded-Host") == "localhost"
    assert q.header("Forwarded") == 'for=127.0.0.1;host="localhost";proto=http'
    assert q.header("Via") == "1.0 upstream-cdn, 1.1 portico"
    assert q.header("X-Custom") == "passes"
    for hop in ("Connection", "X-Secret", "Keep-Alive", "Proxy-Connection", "TE"):
        assert q.header(hop) is None, hop
    assert len(q.header_all("Host")) == 1


def test_preserve_host(srv, bk):
    srv.get("/keep/x", host="www.example.test:8443")
    assert last(bk).header("Host") == "www.example.test:8443"


def test_response_headers_pass_in_order(srv, bk):
    r = srv.get("/api/cookies")
    assert r.status == 200
    assert r.header_all("Set-Cookie") == ["a=1", "b=2"]
    assert r.header("Keep-Alive") is None
    assert r.header("X-Drop-Me") is None  # named by the backend's Connection
    assert r.header("Server") == "portico"
    assert len(r.header_all("Date")) == 1


@pytest.mark.parametrize("code", [201, 204, 304, 404, 418, 503])
def test_status_passes(srv, code):
    r = srv.get("/api/status?code=%d" % code)
    assert r.status == code
    if code in (204, 304):
        assert r.body == b""
    else:
        assert r.text == "status %d" % code


# ---- bodies ---------------------------------------------------------------


def test_post_content_length(srv, bk):
    body = be.pattern(200000)
    r = srv.get("/api/echo", method="POST", body=body,
                headers={"Content-Type": "application/octet-stream"})
    assert r.status == 200
    assert r.body == body
    q = last(bk)
    assert q.header("Content-Length") == "200000"
    assert q.header("Transfer-Encoding") is None


def test_post_chunked_request_body(srv, bk):
    with Conn(srv.port) as c:
        c.send(b"POST /api/echo HTTP/1.1\r\nHost: localhost\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        r = c.read_response()
    assert r.status == 200
    assert r.body == b"hello world"
    q = last(bk)
    assert q.body == b"hello world"
    assert q.header("Transfer-Encoding") == "chunked"
    assert q.header("Content-Length") is None


@pytest.mark.parametrize("kind", ["big", "chunked", "eof"])
def test_response_framings(srv, kind):
    r = srv.get("/api/%s?n=300000" % kind)
    assert r.status == 200
    assert r.body == be.pattern(300000)


def test_large_download_streams(srv):
    rc, out, err = curl(["-o", "-", srv.url("/api/big?n=20000000")])
    assert rc == 0, err
    assert len(out) == 20000000
    assert out == be.pattern(20000000)


# ---- connections ------------------------------------------------------------


def test_keep_alive_reuse(srv, bk):
    srv.get("/api/warm")
    bk.reset()
    with Conn(srv.port) as c:
        for i in range(20):
            c.request("GET", "/api/seq/%d" % i)
            assert c.read_response().status == 200
    for i in range(20):
        assert srv.get("/api/fresh/%d" % i).status == 200
    with bk.lock:
        ids = {q.conn_id for q in bk.requests}
        n = len(bk.requests)
    assert n == 40
    assert len(ids) == 1, ids


def test_queue_on_one_connection(srv, bk):
    """proxy-max-conns 1: 30 concurrent clients, one backend connection,
    every client gets its own answer."""
    srv.get("/one/warm")
    bk.reset()

    def one(i):
        r = srv.get("/one/q/%d" % i)
        return r.status, r.text

    with concurrent.futures.ThreadPoolExecutor(30) as ex:
        results = list(ex.map(one, range(30)))
    for i, (status, text) in enumerate(results):
        assert status == 200
        assert text == "ok GET /app/q/%d" % i
    with bk.lock:
        assert len({q.conn_id for q in bk.requests}) == 1


def test_connection_close_not_reused(srv, bk):
    bk.reset()
    assert srv.get("/api/close").text == "closing"
    assert srv.get("/api/after-close").status == 200
    with bk.lock:
        ids = [q.conn_id for q in bk.requests]
    assert len(set(ids)) == 2


def test_stale_idle_connection(srv, bk):
    """The backend closes a kept-alive connection while it is idle: the
    next request still succeeds."""
    assert srv.get("/api/idle-close").status == 200
    time.sleep(0.5)
    for i in range(3):
        assert srv.get("/api/after-idle/%d" % i).status == 200


def test_unix_socket_backend(srv, ubk):
    r = srv.get("/unix/hello?x=1")
    assert r.status == 200
    assert last(ubk).target == "/u/hello?x=1"
    assert last(ubk).header("Host") == "localhost"


def test_http2_client(srv, bk):
    body = be.pattern(70000)
    p = subprocess.run(["curl", "-s", "-S", "--http2-prior-knowledge", "--data-binary", "@-",
                        "-H", "Content-Type: application/octet-stream",
                        srv.url("/api/echo?h2")], input=body, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout == body
    q = last(bk)
    assert q.target == "/app/echo?h2"
    assert q.header("Via") == "2 portico"
    p = subprocess.run(["curl", "-s", "-S", "--http2-prior-knowledge", "-o", "-",
                        srv.url("/api/chunked?n=100000")], capture_output=True, timeout=30)
    assert p.returncode == 0
    assert p.stdout == be.pattern(100000)


# ---- failures ------------------------------------------------------------------


def assert_styled(r, status):
    assert r.status == status
    assert b'href="/error.css"' in r.body


def test_backend_down_502(srv):
    off = srv.log_size()
    r = srv.get("/down/x")
    assert_styled(r, 502)
    log = srv.wait_log(off, r"proxy 127\.0\.0\.1:9")
    assert "proxy 127.0.0.1:9" in log and "refused" in log.lower()


def test_read_timeout_504(srv):
    off = srv.log_size()
    t = time.monotonic()
    r = srv.get("/fast/slow?t=3")
    assert_styled(r, 504)
    assert time.monotonic() - t < 2.5
    assert "no response in time" in srv.wait_log(off, "no response in time")


def test_malformed_head_502(srv):
    r = srv.get("/api/bad")
    assert_styled(r, 502)


def test_reset_mid_body_aborts(srv):
    """The backend dies mid-body: the client's response is cut short, never
    completed as if whole."""
    with Conn(srv.port) as c:
        c.request("GET", "/api/reset?n=100000")
        data = b""
        c.sock.settimeout(5)
        try:
            while True:
                d = c.sock.recv(65536)
                if not d:
                    break
                data += d
        except (ConnectionResetError, socket.timeout):
            pass
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"200 OK" in head
    assert b"Content-Length: 100000" in head
    assert len(body) < 100000
    rc, out, err = curl(["-o", "/dev/null", srv.url("/api/reset?n=100000")])
    assert rc != 0  # curl sees the truncation (18) or the reset (56)
    rc, out, err = curl(["--http2-prior-knowledge", "-o", "/dev/null",
                         srv.url("/api/reset?n=100000")])
    assert rc != 0


def test_early_response_to_upload(srv, bk):
    body = b"x" * 3000000
    with Conn(srv.port, timeout=10) as c:
        c.send(b"POST /api/early HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n"
               % len(body))
        try:
            c.sock.sendall(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c.read_response()
    assert r.status == 413
    assert r.body == b"too large"
    assert srv.get("/api/after-early").status == 200


def test_location_rewritten(srv, bk):
    r = srv.get("/api/redirect", host="front.test")
    assert r.status == 302
    assert r.header("Location") == "http://front.test/api/there?x=1"
    r = srv.get("/noloc/redirect", host="front.test")
    assert r.header("Location") == "http://%s/app/there?x=1" % bk.host


def test_local_files_still_served(srv):
    r = srv.get("/local.txt")
    assert r.status == 200 and r.text == "local file\n"


def test_unknown_host_is_a_config_error(portico):
    site = portico.site("proxybad")
    site.write_config(vhosts=[site.vhost(mounts=[
        {"mountpoint": "/", "origin": "http://no-such-host.invalid:8080/"}])])
    p = subprocess.run([portico_bin(), "-t", "-c", str(site.root)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1
    assert "cannot resolve \"no-such-host.invalid\"" in p.stderr
    assert "10-vhosts:" in p.stderr


# ---- several origins --------------------------------------------------------------


def test_round_robin(srv, bk, bk2):
    bk.reset()
    bk2.reset()
    for i in range(10):
        assert srv.get("/rr/x/%d" % i).status == 200
    with bk.lock, bk2.lock:
        assert len(bk.requests) == 5 and len(bk2.requests) == 5
        assert bk.requests[0].header("Host") == bk.host
        assert bk2.requests[0].header("Host") == bk2.host


def test_dead_origin_is_skipped(srv, bk2):
    """One origin refuses: requests still succeed (the dead one is backed
    off, and the request that met it goes to the other)."""
    off = srv.log_size()
    bk2.reset()
    for i in range(8):
        r = srv.get("/half/y/%d" % i)
        assert r.status == 200, r
    with bk2.lock:
        assert len(bk2.requests) == 8
    assert "127.0.0.1:9: not reachable; skipped for 1s" in srv.wait_log(off, "skipped for")


def test_all_origins_down_502(srv):
    off = srv.log_size()
    assert srv.get("/alldown/a").status == 502
    r = srv.get("/alldown/b")
    assert_styled(r, 502)
    assert "backed off" in srv.wait_log(off, "backed off")


def test_origin_list_only_for_proxies(portico):
    site = portico.site("proxylist")
    site.write_config(vhosts=[site.vhost(mounts=[
        {"mountpoint": "/", "origin": ["file:///tmp", "file:///srv"]},
        {"mountpoint": "/p", "origin": ["http://127.0.0.1:1/", "cgi:///bin/true"]}])])
    p = subprocess.run([portico_bin(), "-t", "-c", str(site.root)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1
    assert "file:// mounts take one origin, not a list" in p.stderr
    assert "\"cgi:///bin/true\" is not a http:// origin like the first" in p.stderr
    # Checked when the mount is set up (the rest of the file being valid):
    site.write_config(vhosts=[site.vhost(mounts=[
        {"mountpoint": "/q", "origin": ["http://127.0.0.1:1/a", "http://127.0.0.1:2/b"]}])])
    p = subprocess.run([portico_bin(), "-t", "-c", str(site.root)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1
    assert re.search(r"10-vhosts:\d+:\d+: error: origin \"http://127.0.0.1:2/b\": the origins "
                     r"of one mount must share the scheme and the path", p.stderr), p.stderr


# ---- memory: data moves only as fast as the receiver takes it ----------------


def rss_kb(pid):
    for ln in open("/proc/%d/status" % pid):
        if ln.startswith("VmRSS:"):
            return int(ln.split()[1])
    raise AssertionError("no VmRSS")


asan_rss = pytest.mark.skipif(sanitize_enabled(), reason="ASan's quarantine inflates RSS")


@asan_rss
def test_slow_client_download_bounded(srv):
    """A 400 MB response to a client that reads slowly: portico holds a
    few buffers, not the response."""
    before = rss_kb(srv.pid)
    with Conn(srv.port, rcvbuf=65536) as c:
        c.request("GET", "/api/stream?n=400000000")
        got = 0
        for _ in range(20):
            d = c.sock.recv(65536)
            got += len(d)
            time.sleep(0.05)
        during = rss_kb(srv.pid)
    assert got > 0
    assert during - before < 4096, (before, during)


@asan_rss
def test_upload_to_slow_backend_bounded(srv, tmp_path):
    """A fast client uploads 100 MB to a backend that takes 6.4 MB/s:
    the upload proceeds at the backend's pace, in bounded memory."""
    data = os.urandom(1 << 20) * 100
    f = tmp_path / "up.bin"
    f.write_bytes(data)
    before = rss_kb(srv.pid)
    p = subprocess.Popen(["curl", "-sS", "--data-binary", "@%s" % f, srv.url("/api/slowsink")],
                         stdout=subprocess.PIPE)
    time.sleep(1.5)
    during = rss_kb(srv.pid)
    p.kill()
    p.communicate()
    assert during - before < 4096, (before, during)


# ---- names re-resolved while running -----------------------------------------------


def test_moving_backend_followed(portico, bk, tmp_path):
    """The origin's name moves from one backend to another (its hosts
    entry changes): portico follows it within proxy-resolve-interval,
    without a restart.  portico runs in its own mount namespace with a
    private /etc/hosts, so the machine's is never touched."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) for a private /etc/hosts")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.0.1 app.portico-test\n")
    site = portico.site("proxymove")
    site.write_config(vhosts=[site.vhost(mounts=[
        {"mountpoint": "/", "origin": "http://app.portico-test:%d" % bk.port,
         "proxy-resolve-interval": 1, "proxy-max-conns": 1}])])
    log = open(site.root / "stderr.log", "wb")
    p = subprocess.Popen(["unshare", "-m", "sh", "-c",
                          "mount --bind %s /etc/hosts && exec %s -c %s -l info"
                          % (hosts, portico_bin(), site.root)], stderr=log)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", site.port), 0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and p.poll() is None, \
                    (site.root / "stderr.log").read_text()
                time.sleep(0.05)
        from pthttp import fetch
        assert fetch(site.port, "/a").text == "ok GET /a"
        # Move the name to 127.0.0.2, where nothing listens on bk's port:
        # once re-resolved, new connections go there and are refused.
        hosts.write_text("127.0.0.1 localhost\n127.0.0.2 app.portico-test\n")
        deadline = time.monotonic() + 8
        moved = False
        while time.monotonic() < deadline:
            text = (site.root / "stderr.log").read_text()
            if "app.portico-test:%d: new addresses" % bk.port in text:
                moved = True
                break
            time.sleep(0.1)
        assert moved, (site.root / "stderr.log").read_text()
        # The pooled connection still goes to the old address; a request
        # on a new one goes to the new address.
        r = fetch(site.port, "/close")  # the backend closes: the pool is empty
        assert r.status == 200
        r = fetch(site.port, "/b")
        assert r.status == 502
        assert "127.0.0.2" not in r.text
    finally:
        p.terminate()
        p.wait(10)
        log.close()


# ---- edges --------------------------------------------------------------------------


def test_expect_continue_end_to_end(srv, bk):
    body = be.pattern(2000000)
    p = subprocess.run(["curl", "-sS", "-H", "Expect: 100-continue", "--data-binary", "@-",
                        srv.url("/api/echo")], input=body, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout == body
    assert last(bk).header("Expect") is None  # handled on each hop


def test_pipelined_requests(srv, bk):
    with Conn(srv.port) as c:
        c.send(b"".join(b"GET /api/p/%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % i
                        for i in range(10)))
        for i in range(10):
            r = c.read_response()
            assert r.text == "ok GET /app/p/%d" % i


def test_client_gone_while_queued(srv, bk):
    """proxy-max-conns 1: requests wait behind a slow one; their clients
    leave; the queue forgets them and later requests are served."""
    slow = Conn(srv.port)
    slow.request("GET", "/one/slow?t=1")
    waiting = []
    for i in range(5):
        c = Conn(srv.port)
        c.request("GET", "/one/q%d" % i)
        waiting.append(c)
    time.sleep(0.2)
    for c in waiting:
        c.close()
    assert slow.read_response().status == 200
    slow.close()
    assert srv.get("/one/after").status == 200
    assert srv.alive()


def test_h2_request_body_without_length(srv, bk):
    """An HTTP/2 request body of unknown length goes upstream chunked."""
    p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-H",
                        "Transfer-Encoding: chunked", "--data-binary", "@-",
                        srv.url("/api/echo")], input=b"streamed body", capture_output=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"streamed body"
    q = last(bk)
    assert q.body == b"streamed body"
    assert (q.header("Transfer-Encoding") == "chunked") != (q.header("Content-Length") == "13")


def test_backend_100_continue_then_final(srv):
    r = srv.get("/api/continue")
    assert r.status == 200
    assert r.text == "after continue"
    assert not r.interim


def test_huge_response_head_502(srv):
    r = srv.get("/api/hugehead")
    assert_styled(r, 502)


def test_early_hints_forwarded_h1(srv):
    r = srv.get("/api/hints")
    assert r.status == 200 and r.text == "with hints"
    assert len(r.interim) == 1, r.interim
    hint = r.interim[0]
    assert hint.status == 103
    assert hint.header("Link") == "</style.css>; rel=preload; as=style"
    assert hint.header("Keep-Alive") is None
    # HTTP/1.0 clients cannot take interim responses: none is sent.
    r = srv.get("/api/hints", version="HTTP/1.0")
    assert r.status == 200 and not r.interim


def test_early_hints_forwarded_h2(srv):
    p = subprocess.run(["curl", "-sS", "-v", "--http2-prior-knowledge", srv.url("/api/hints")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "with hints"
    err = p.stderr
    assert "< HTTP/2 103" in err
    assert err.index("< HTTP/2 103") < err.index("< HTTP/2 200")


def test_transfer_coded_response_refused(srv):
    # a body whose Transfer-Encoding is not chunked would reach the client
    # still coded: 502, as nginx does
    r = srv.get("/api/gzipte")
    assert_styled(r, 502)


def test_body_kept_while_connecting(srv, bk):
    """The first request of a mount waits for a new backend connection: the
    body bytes that came with its head are kept for it, not dropped."""
    for i, body in enumerate([b"hello", be.pattern(100000)]):
        r = srv.get("/post/echo" if i == 0 else "/post/echo?second", method="POST", body=body)
        assert r.status == 200
        assert r.body == body


# ---- proxy-buffering: the request body read before the backend is asked ------------


def test_buffered_chunked_body_goes_with_length(srv, bk):
    """A chunked upload larger than the in-memory part (64 KiB) reaches the
    backend whole, with a Content-Length and no chunked framing."""
    body = be.pattern(200000)
    p = subprocess.run(["curl", "-sS", "-H", "Transfer-Encoding: chunked", "-H",
                        "Content-Type: application/octet-stream", "--data-binary", "@-",
                        srv.url("/buf/echo")], input=body, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout == body
    q = last(bk)
    assert q.header("Content-Length") == "200000"
    assert q.header("Transfer-Encoding") is None
    assert q.body == body


def test_buffered_backend_asked_only_after_whole_body(srv, bk):
    bk.reset()
    with Conn(srv.port) as c:
        c.send(b"POST /buf/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nhello")
        time.sleep(0.5)
        with bk.lock:
            assert bk.connections == 0 and not bk.requests  # nothing went upstream yet
        c.send(b"world")
        r = c.read_response()
    assert r.status == 200
    assert r.body == b"helloworld"
    assert last(bk).header("Content-Length") == "10"


def test_buffered_body_over_the_limit_413(srv, bk):
    bk.reset()
    # announced too large: refused before any body byte is read
    with Conn(srv.port) as c:
        c.send(b"POST /buf/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 300001\r\n\r\n")
        r = c.read_response()
    assert_styled(r, 413)
    # chunked, found too large on the way
    p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                        "Transfer-Encoding: chunked", "--data-binary", "@-",
                        srv.url("/buf/echo")], input=be.pattern(400000), capture_output=True,
                       timeout=30)
    assert p.stdout == b"413"
    with bk.lock:
        assert bk.connections == 0
    assert "larger than proxy-buffering-max" in srv.log()


def test_buffered_client_gone_midway(srv, bk):
    bk.reset()
    with Conn(srv.port) as c:
        c.send(b"POST /buf/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 200000\r\n\r\n"
               + be.pattern(100000))
        time.sleep(0.2)
    time.sleep(0.3)
    assert srv.get("/buf/echo", method="POST", body=b"after").body == b"after"
    with bk.lock:
        assert len(bk.requests) == 1


def test_buffered_body_retried_on_stale_connection(srv, bk):
    """A spooled body can be sent again: a PUT whose reused connection the
    backend had closed is retried with its body."""
    srv.get("/buf/idle-close")
    time.sleep(0.5)  # the backend closed the kept-alive connection
    body = be.pattern(5000)
    r = srv.get("/buf/echo", method="PUT", body=body)
    assert r.status == 200
    assert r.body == body


@asan_rss
def test_buffered_large_upload_bounded(srv, bk, tmp_path):
    """20 MB buffered: the part beyond 64 KiB goes to a temporary file, not
    to memory, and all of it reaches the backend."""
    data = os.urandom(1 << 20) * 20
    f = tmp_path / "up.bin"
    f.write_bytes(data)
    before = rss_kb(srv.pid)
    peak = [before]
    p = subprocess.Popen(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                          "--data-binary", "@%s" % f, srv.url("/bigbuf/sink")],
                         stdout=subprocess.PIPE)
    while p.poll() is None:
        peak.append(rss_kb(srv.pid))
        time.sleep(0.05)
    out, _ = p.communicate()
    assert out == b"200"
    assert len(last(bk).body) == len(data)
    assert max(peak) - before < 4096, (before, max(peak))


def test_keepalive_timeout_h1(portico):
    """proxy-keepalive-timeout: an idle backend connection is closed after
    it, and the next request opens a new one."""
    b = be.Backend()
    try:
        site = portico.site("proxyka")
        s = site.start(vhosts=[site.vhost(mounts=[
            {"mountpoint": "/", "origin": "http://%s" % b.host, "proxy-keepalive-timeout": 1}])])
        assert s.get("/a").status == 200
        assert s.get("/b").status == 200
        assert b.connections == 1
        time.sleep(1.6)
        assert s.get("/c").status == 200
        assert b.connections == 2
    finally:
        b.close()
