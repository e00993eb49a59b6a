"""Peer-IP limits and fair service (docs/limits.md): ip-limit-wsi (hard),
ip-limit-ah (soft, exact, in arrival order, HTTP/1 and HTTP/2),
ip-allow/ip-deny, trusted-proxies with X-Forwarded-For and the PROXY
protocol, ip-limit-rate, max-connections, and running out of descriptors.
Real sockets from 127.0.0.1 and 127.0.0.2 against the real binary."""

import concurrent.futures
import socket
import struct
import subprocess
import threading
import time

import pytest

import h2client


def everywhere(v):
    """A vhost on every address (127.0.0.2 etc. reach it too)."""
    v.pop("interface", None)
    return v


def connect(port, src="127.0.0.1", timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(src, 0))
    return s


def http_get(port, path="/a.txt", src="127.0.0.1", headers=b"", timeout=5, host=b"localhost",
             whole=False):
    """One request on a new connection: (status, body) or (None, b"") when
    the connection was closed without an answer; whole: (status, head, body)."""
    s = connect(port, src, timeout)
    try:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s\r\n"
                  % (path.encode(), host, headers))
        data = b""
        while True:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            data += d
    finally:
        s.close()
    if not data:
        return (None, b"", b"") if whole else (None, b"")
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return (status, head, body) if whole else (status, body)


def closed_without_answer(s, timeout=3):
    s.settimeout(timeout)
    try:
        s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        return s.recv(100) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def answer(s, n=100):
    """The first bytes the server sends (b"" when it closed or reset)."""
    s.settimeout(5)
    try:
        return s.recv(n)
    except ConnectionResetError:
        return b""


def served(s):
    s.settimeout(5)
    s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
    data = b""
    while b"hello\n" not in data:
        d = s.recv(65536)
        if not d:
            return False
        data += d
    return data.startswith(b"HTTP/1.1 200")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / 100.0


def fd_count(pid):
    import os
    return len(os.listdir("/proc/%d/fd" % pid))


# ---- ip-limit-wsi -------------------------------------------------------------


@pytest.fixture(scope="module")
def wsi(portico):
    site = portico.site("wsi")
    site.write("a.txt", "hello\n")
    return site.start(global_={"ip-limit-wsi": 4, "ip-limit-ah": 4, "timeout-secs": 20},
                      vhosts=[everywhere(site.vhost())])


def test_wsi_fifth_connection_closed(wsi):
    time.sleep(0.2)  # the launcher's probe connection has gone
    held = [connect(wsi.port) for _ in range(4)]
    for s in held:
        assert served(s)
    extra = connect(wsi.port)
    assert closed_without_answer(extra)
    extra.close()
    # another IP at the same time is not affected
    other = connect(wsi.port, "127.0.0.2")
    assert served(other)
    other.close()
    # the IP's own connections still work
    assert served(held[0])
    # a slot comes back when one closes
    held.pop().close()
    time.sleep(0.2)
    again = connect(wsi.port)
    assert served(again)
    again.close()
    for s in held:
        s.close()
    assert "over ip-limit-wsi (4)" in wsi.log()


def test_wsi_no_lockout_after_many_connections(wsi):
    """10,000 sequential connections and 1,000 aborted ones (reset while
    sending a head, and right after connecting) leave no count behind."""
    time.sleep(0.3)
    for i in range(10000):
        s = socket.create_connection(("127.0.0.1", wsi.port))
        s.sendall(b"GET /a.txt HTTP/1.0\r\n\r\n")
        while s.recv(65536):
            pass
        s.close()
    for i in range(1000):
        s = socket.create_connection(("127.0.0.1", wsi.port))
        if i % 2:
            s.sendall(b"GET /a.txt HTTP/1.1\r\nHo")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # RST
    time.sleep(0.5)
    held = [connect(wsi.port) for _ in range(4)]
    for s in held:  # four requests at once: all four request slots are free
        s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
    t0 = time.monotonic()
    for s in held:
        s.settimeout(5)
        assert s.recv(100).startswith(b"HTTP/1.1 200")
        s.close()
    assert time.monotonic() - t0 < 2  # none waited for a slot (timeout-secs is 20)


# ---- ip-limit-ah --------------------------------------------------------------


@pytest.fixture(scope="module")
def ah(portico, bk):
    site = portico.site("ah")
    site.write("a.txt", "hello\n")
    mounts = [site.mount("/"), {"mountpoint": "/app", "origin": "http://%s" % bk.host}]
    return site.start(global_={"ip-limit-ah": 2, "timeout-secs": 10},
                      vhosts=[site.vhost(mounts=mounts)])


def test_ah_caps_requests_in_arrival_order(ah, bk):
    bk.reset()
    results = {}

    def one(i):
        results[i] = http_get(ah.port, "/app/hold?t=0.4&id=%d" % i)

    threads = []
    for i in range(6):
        t = threading.Thread(target=one, args=(i,))
        t.start()
        threads.append(t)
        time.sleep(0.05)  # arrival order 0..5
    for t in threads:
        t.join(10)
    assert all(results[i] == (200, b"held %d" % i) for i in range(6)), results
    with bk.lock:
        assert bk.max_in_flight == 2  # never more than the cap at once
        order = [int(q.target.split("id=")[1]) for q in bk.requests]
    assert order == [0, 1, 2, 3, 4, 5]  # waiting requests went in arrival order


def test_ah_other_ip_not_held(ah, bk):
    bk.reset()
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        slow = [ex.submit(http_get, ah.port, "/app/hold?t=0.8") for _ in range(2)]
        time.sleep(0.2)
        t0 = time.monotonic()
        st, _ = http_get(ah.port, "/a.txt", src="127.0.0.2")
        assert st == 200 and time.monotonic() - t0 < 0.5
        assert all(f.result()[0] == 200 for f in slow)


def test_ah_over_http2_streams(ah, bk):
    bk.reset()
    results = {}

    def one(i):
        results[i] = h2client.request(ah.port, "/app/hold?t=0.3&id=%d" % i)[0]

    with concurrent.futures.ThreadPoolExecutor(5) as ex:
        list(ex.map(one, range(5)))
    assert all(results[i] == 200 for i in range(5))
    with bk.lock:
        assert bk.max_in_flight == 2


def test_ah_many_streams_one_connection(ah, bk):
    """Six streams of one HTTP/2 connection: two at a time reach the
    backend, the others wait undispatched, all are answered."""
    import h2.config
    import h2.connection
    import h2.events
    bk.reset()
    s = socket.create_connection(("127.0.0.1", ah.port), timeout=10)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    ids = []
    for i in range(6):
        sid = conn.get_next_available_stream_id()
        ids.append(sid)
        conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"),
                                (":path", "/app/hold?t=0.2&id=%d" % i),
                                (":authority", "localhost")], end_stream=True)
    s.sendall(conn.data_to_send())
    done = set()
    while len(done) < 6:
        for ev in conn.receive_data(s.recv(65536)):
            if isinstance(ev, h2.events.StreamEnded):
                done.add(ev.stream_id)
            elif isinstance(ev, h2.events.DataReceived):
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        s.sendall(conn.data_to_send())
    s.close()
    with bk.lock:
        assert bk.max_in_flight == 2
        assert len(bk.requests) == 6


def test_ah_slots_come_back_after_aborts(ah, bk):
    """Clients that leave while their request runs or waits give their
    slot or place back: afterwards two requests run at once again."""
    for _ in range(3):
        socks = []
        for i in range(5):
            s = connect(ah.port)
            s.sendall(b"GET /app/hold?t=0.5 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            socks.append(s)
        time.sleep(0.1)
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
    # HTTP/2 streams reset while waiting
    import h2.config
    import h2.connection
    s = socket.create_connection(("127.0.0.1", ah.port), timeout=10)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    for i in range(4):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"),
                                (":path", "/app/hold?t=0.5"), (":authority", "localhost")],
                          end_stream=True)
        conn.reset_stream(sid)
    s.sendall(conn.data_to_send())
    time.sleep(0.1)
    s.close()
    time.sleep(0.8)  # the held ones finish at the backend
    bk.reset()
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        rs = list(ex.map(lambda i: http_get(ah.port, "/app/hold?t=0.4"), range(2)))
    assert all(r[0] == 200 for r in rs)
    assert time.monotonic() - t0 < 0.75  # both at once: no slot was lost
    with bk.lock:
        assert bk.max_in_flight == 2


def test_ah_waiting_times_out_with_503(portico, bk):
    site = portico.site("ahwait")
    site.write("a.txt", "hello\n")
    mounts = [site.mount("/"), {"mountpoint": "/app", "origin": "http://%s" % bk.host}]
    srv = site.start(global_={"ip-limit-ah": 1, "timeout-secs": 1},
                     vhosts=[site.vhost(mounts=mounts)])
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        first = ex.submit(http_get, srv.port, "/app/hold?t=2.5")
        time.sleep(0.2)
        st, _ = http_get(srv.port, "/a.txt")
        assert st == 503
        assert first.result()[0] == 200
    assert http_get(srv.port, "/a.txt")[0] == 200
    assert "ip-limit-ah" in srv.log()


# ---- allow / deny, trusted proxies, PROXY protocol, rate -------------------------


@pytest.fixture(scope="module")
def acl(portico, bk):
    site = portico.site("acl")
    site.write("a.txt", "hello\n")
    pp_port = site.new_port()
    mounts = [site.mount("/"), {"mountpoint": "/app", "origin": "http://%s" % bk.host}]
    vhosts = [
        everywhere(site.vhost(mounts=mounts, **{"ip-deny": ["203.0.113.0/24"]})),
        everywhere(site.vhost(name="rate.test", **{"ip-limit-rate": 5, "ip-limit-burst": 5})),
        everywhere(site.vhost(name="allow.test", **{"ip-allow": "198.51.100.7, ::1"})),
        everywhere(site.vhost(name="pp", port=pp_port, mounts=mounts,
                              **{"proxy-protocol": True})),
    ]
    for v in vhosts:
        v["access-log"] = str(site.access_log)
    srv = site.start(global_={"ip-deny": ["127.0.0.3"], "trusted-proxies": ["127.0.0.1/32"],
                              "ip-limit-wsi": 2},
                     vhosts=vhosts, wait_ports=[site.port])
    srv.pp_port = pp_port
    return srv


def last_access_ip(srv, n_before):
    lines = srv.wait_access_lines(n_before + 1)
    return lines[-1].split(" ", 1)[0]


def test_global_deny_closed_at_accept(acl):
    s = connect(acl.port, "127.0.0.3")
    assert closed_without_answer(s)
    s.close()
    assert http_get(acl.port, src="127.0.0.2")[0] == 200


def test_vhost_deny_403_behind_trusted_proxy(acl):
    # 127.0.0.1 is a trusted proxy: the client is the one it names
    n = len(acl.access_lines())
    st, body = http_get(acl.port, headers=b"X-Forwarded-For: 203.0.113.9\r\n")
    assert st == 403 and b"error.css" in body
    assert last_access_ip(acl, n) == "203.0.113.9"
    n = len(acl.access_lines())
    st, _ = http_get(acl.port, headers=b"X-Forwarded-For: 203.0.113.9, 198.51.100.1\r\n")
    assert st == 200  # the last untrusted hop counts, not what the client wrote
    assert last_access_ip(acl, n) == "198.51.100.1"
    # from an untrusted peer the field is only a field
    n = len(acl.access_lines())
    st, _ = http_get(acl.port, src="127.0.0.2", headers=b"X-Forwarded-For: 203.0.113.9\r\n")
    assert st == 200
    assert last_access_ip(acl, n) == "127.0.0.2"


def test_vhost_allow_list(acl):
    assert http_get(acl.port, host=b"allow.test",
                    headers=b"X-Forwarded-For: 198.51.100.7\r\n")[0] == 200
    assert http_get(acl.port, host=b"allow.test")[0] == 403


def test_rate_limit_429(acl):
    got = [http_get(acl.port, src="127.0.0.2", host=b"rate.test", whole=True) for _ in range(8)]
    codes = [g[0] for g in got]
    assert codes[:5] == [200] * 5, codes
    assert 429 in codes[5:], codes
    head = got[codes.index(429)][1]
    retry = [ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"retry-after:")]
    assert retry and int(retry[0].split(b":")[1]) >= 1
    # another IP has its own bucket
    assert http_get(acl.port, src="127.0.0.4", host=b"rate.test")[0] == 200
    time.sleep(0.45)  # 5/s: two tokens are back
    assert http_get(acl.port, src="127.0.0.2", host=b"rate.test")[0] == 200


def proxy_v2(src, sport, dst="127.0.0.1", dport=80):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


@pytest.mark.parametrize("version", [1, 2])
def test_proxy_protocol_gives_the_client(acl, version):
    n = len(acl.access_lines())
    s = connect(acl.pp_port)
    head = (b"PROXY TCP4 192.0.2.44 127.0.0.1 40000 80\r\n" if version == 1
            else proxy_v2("192.0.2.44", 40000))
    s.sendall(head + b"GET /a.txt HTTP/1.1\r\nHost: pp\r\nConnection: close\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 200")
    s.close()
    assert last_access_ip(acl, n) == "192.0.2.44"


def test_proxy_protocol_limits_apply_to_the_client(acl):
    # ip-limit-wsi 2 counts the client the header names, not the proxy
    held = []
    for _ in range(2):
        s = connect(acl.pp_port)
        s.sendall(b"PROXY TCP4 192.0.2.50 127.0.0.1 40000 80\r\n")
        held.append(s)
    time.sleep(0.2)
    s = connect(acl.pp_port)
    s.sendall(b"PROXY TCP4 192.0.2.50 127.0.0.1 40001 80\r\n")
    assert closed_without_answer(s)
    s.close()
    other = connect(acl.pp_port)
    other.sendall(b"PROXY TCP4 192.0.2.51 127.0.0.1 40000 80\r\n"
                  b"GET /a.txt HTTP/1.1\r\nHost: pp\r\nConnection: close\r\n\r\n")
    assert other.recv(100).startswith(b"HTTP/1.1 200")
    other.close()
    for s in held:
        s.close()


def test_forwarded_chain_upstream(acl, bk):
    # behind a trusted proxy: the chain goes on, with that proxy as our hop
    st, _ = http_get(acl.port, "/app/x", headers=b"X-Forwarded-For: 198.51.100.77\r\n")
    assert st == 200
    assert bk.requests[-1].header("X-Forwarded-For") == "198.51.100.77, 127.0.0.1"
    # through the PROXY protocol: the client it names
    s = connect(acl.pp_port)
    s.sendall(b"PROXY TCP4 192.0.2.44 127.0.0.1 40000 80\r\n"
              b"GET /app/y HTTP/1.1\r\nHost: pp\r\nConnection: close\r\n\r\n")
    assert answer(s).startswith(b"HTTP/1.1 200")
    s.close()
    q = bk.requests[-1]
    assert q.header("X-Forwarded-For") == "192.0.2.44"
    assert "for=192.0.2.44" in q.header("Forwarded")


def test_proxy_protocol_refused(acl):
    # an untrusted source may not speak it
    s = connect(acl.pp_port, "127.0.0.2")
    s.sendall(b"PROXY TCP4 192.0.2.44 127.0.0.1 40000 80\r\nGET / HTTP/1.1\r\n\r\n")
    assert answer(s) == b""
    s.close()
    # a trusted one must send a valid header
    s = connect(acl.pp_port)
    s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: pp\r\n\r\n")
    assert answer(s) == b""
    s.close()
    assert "no valid PROXY protocol header" in acl.log()


def test_cidr_errors_at_load(portico):
    site = portico.site("badcidr")
    site.write_config(vhosts=[site.vhost(**{"ip-deny": ["10.0.0.0/40"]})],
                      global_={"trusted-proxies": "nonsense"})
    p = subprocess.run([portico_path(), "-t", "-c", str(site.root)], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode != 0
    assert "\"ip-deny\": \"10.0.0.0/40\": the prefix length must be 0..32" in p.stderr
    assert "\"trusted-proxies\": \"nonsense\": not an IPv4 or IPv6 address" in p.stderr
    assert "conf:" in p.stderr and "10-vhosts:" in p.stderr


def portico_path():
    from ptserver import portico_bin
    return portico_bin()


# ---- max-connections and running out of descriptors ------------------------------


def test_max_connections(portico):
    site = portico.site("maxconn")
    site.write("a.txt", "hello\n")
    srv = site.start(global_={"max-connections": 3, "timeout-secs": 20},
                     vhosts=[site.vhost()])
    time.sleep(0.2)
    held = [connect(srv.port) for _ in range(3)]
    for s in held:
        assert served(s)
    before = cpu_seconds(srv.pid)
    for _ in range(20):  # at the ceiling: a 503 and closed, accepting rests
        s = connect(srv.port)
        s.settimeout(3)
        data = s.recv(200)
        assert data.startswith(b"HTTP/1.1 503") and b"Retry-After: 1" in data
        s.close()
    assert cpu_seconds(srv.pid) - before < 0.5
    assert srv.log().count("max-connections reached") == 1  # one line an episode
    held.pop().close()
    time.sleep(0.3)
    s = connect(srv.port)
    assert served(s)
    s.close()
    for s in held:
        s.close()
    assert "connection(s) were refused meanwhile" in srv.log()


def test_out_of_descriptors_pauses(portico):
    """A low descriptor limit and twice as many connections as it allows:
    no busy loop, a few log lines, service back when clients leave."""
    site = portico.site("nofile")
    site.write("a.txt", "hello\n")
    srv = site.start(global_={"timeout-secs": 30}, vhosts=[site.vhost()])
    base = fd_count(srv.pid)
    limit = base + 40
    subprocess.run(["prlimit", "--pid", str(srv.pid), "--nofile=%d:%d" % (limit, limit)],
                   check=True)
    socks = []
    for _ in range(80):
        try:
            socks.append(connect(srv.port, timeout=2))
        except OSError:
            pass
    time.sleep(0.5)
    before = cpu_seconds(srv.pid)
    time.sleep(2)
    assert cpu_seconds(srv.pid) - before < 0.3  # paused, not spinning
    log = srv.log()
    assert log.count("refusing new connections") <= 5, log[-2000:]
    assert len(log) < 20000
    for s in socks:
        s.close()
    time.sleep(0.5)
    st, body = http_get(srv.port)
    assert st == 200 and body == b"hello\n"


def test_rlimit_logged(portico):
    site = portico.site("rlimit")
    site.write("a.txt", "hello\n")
    srv = site.start(global_={"rlimit-nofile": 4096}, vhosts=[site.vhost()])
    assert "file descriptors: 4096" in srv.log()
