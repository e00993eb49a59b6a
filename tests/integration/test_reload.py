"""Reload in-process (SIGHUP, `-s reload`): the new configuration is checked
whole first and a broken one changes nothing; a valid one reaches new
connections and the next request of open ones (HTTP/1.1 keep-alive and
HTTP/2); listening sockets of the addresses that stay are the very same
ones, new ports are bound and dropped ones closed; certificates are read
again; old snapshots are freed once their last request ends, including
ones pinned by pooled backend connections; and under full load (HTTP/1.1
keep-alive and new connections, HTTP/2 in the clear and over TLS), 20
reloads in a row that add a vhost, remove one and change a mount fail no
request and refuse no connection."""

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

import certs as certs_mod
from certs import certs_fixture, tls_vhost, tls_conn  # noqa: F401 (fixture)
from pthttp import Conn
from ptserver import run_cli, sanitize_enabled

HUP_DONE = r"reload %d: done"


def reload(srv, n, how="signal"):
    """Sends reload number n and waits for its outcome line; returns the
    log text it produced."""
    off = srv.log_size()
    if how == "signal":
        srv.send_signal(signal.SIGHUP)
    else:
        rc, _, err = run_cli(["-c", str(srv.site.root), "-s", "reload"])
        assert rc == 0, err
    text = srv.wait_log(off, r"reload %d: (done|the configuration|a listening)" % n,
                        timeout=15)
    assert re.search(r"reload %d: " % n, text), text
    return text


def write_vhosts(site, vhosts, global_=None):
    site.write_config(vhosts=vhosts, global_=global_)


def docs(site, name, body):
    d = site.root / name
    d.mkdir(exist_ok=True)
    (d / "index.html").write_text(body)
    return d


def listens(srv, port):
    """Inodes of the listening sockets of the process on port."""
    hexport = ":%04X" % port
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if parts[1].endswith(hexport) and parts[3] == "0A":
                    inodes.add(parts[9])
    mine = set()
    fd_dir = "/proc/%d/fd" % srv.pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", target)
        if m and m.group(1) in inodes:
            mine.add(m.group(1))
    return mine


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ---- what a reload changes ---------------------------------------------------


def test_reload_changes_mounts_and_vhosts_and_keeps_the_sockets(portico):
    site = portico.site("rl-basic")
    one, two, extra = docs(site, "one", "one\n"), docs(site, "two", "two\n"), \
        docs(site, "extra", "extra\n")
    g = {"pid-file": str(site.root / "portico.pid")}  # for -s reload
    srv = site.start(vhosts=[site.vhost(mounts=[site.mount("/", "file://%s" % one)])],
                     global_=g)
    before = listens(srv, site.port)
    assert before
    assert srv.get("/").body == b"one\n"

    write_vhosts(site, [site.vhost(mounts=[site.mount("/", "file://%s" % two)]),
                        site.vhost(name="extra.test",
                                   mounts=[site.mount("/", "file://%s" % extra)])], g)
    text = reload(srv, 1)
    assert "reload 1: done: 2 vhost(s)" in text, text
    assert srv.get("/").body == b"two\n"
    assert srv.get("/", headers={"Host": "extra.test"}).body == b"extra\n"
    assert listens(srv, site.port) == before, "the listening sockets were reopened"

    # The vhost goes: its name now reaches the port's default vhost.
    write_vhosts(site, [site.vhost(mounts=[site.mount("/", "file://%s" % one)])], g)
    reload(srv, 2, how="command")
    assert srv.get("/", headers={"Host": "extra.test"}).body == b"one\n"
    assert listens(srv, site.port) == before


def test_keepalive_connection_takes_the_new_config_at_its_next_request(portico):
    site = portico.site("rl-ka")
    one, two = docs(site, "one", "one\n"), docs(site, "two", "two\n")
    srv = site.start(vhosts=[site.vhost(mounts=[site.mount("/", "file://%s" % one)])])
    with Conn(site.port) as c:
        c.request("GET", "/")
        assert c.read_response().body == b"one\n"
        write_vhosts(site, [site.vhost(mounts=[site.mount("/", "file://%s" % two)])])
        text = reload(srv, 1)
        assert "1 snapshot(s) live" in text, text  # the idle connection moved over
        c.request("GET", "/")
        r = c.read_response()
        assert r.body == b"two\n"
        assert (r.header("connection") or "").lower() != "close"


def test_h2_connection_takes_the_new_config_at_its_next_stream(portico):
    h2conn = pytest.importorskip("h2.connection")
    import h2.config
    import h2.events
    site = portico.site("rl-h2")
    one, two = docs(site, "one", "one\n"), docs(site, "two", "two\n")
    srv = site.start(vhosts=[site.vhost(mounts=[site.mount("/", "file://%s" % one)])])
    s = socket.create_connection(("127.0.0.1", site.port), timeout=5)
    conn = h2conn.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    s.sendall(conn.data_to_send())

    def get():
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"),
                                (":path", "/"), (":authority", "localhost")],
                          end_stream=True)
        s.sendall(conn.data_to_send())
        body = b""
        while True:
            data = s.recv(65536)
            assert data, "connection closed"
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                    body += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                if isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    s.sendall(conn.data_to_send())
                    return body
                assert not isinstance(ev, h2.events.ConnectionTerminated), ev
            s.sendall(conn.data_to_send())

    assert get() == b"one\n"
    write_vhosts(site, [site.vhost(mounts=[site.mount("/", "file://%s" % two)])])
    reload(srv, 1)
    assert get() == b"two\n"
    s.close()


def test_new_port_is_bound_and_a_dropped_one_closed(portico):
    site = portico.site("rl-ports")
    second = site.new_port()
    srv = site.start(vhosts=[site.vhost()], wait_ports=[site.port])
    site.write("index.html", "hello\n")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", second), timeout=1).close()
    write_vhosts(site, [site.vhost(), site.vhost(name="second", port=second)])
    assert "2 address(es)" in reload(srv, 1)
    assert srv.get("/", port=second).body == b"hello\n"
    write_vhosts(site, [site.vhost()])
    assert "1 closed" in reload(srv, 2)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", second), timeout=1).close()
    assert srv.get("/").body == b"hello\n"


def test_removed_vhost_finishes_its_request_then_its_connection_closes(portico):
    """A connection on a port that goes away: the request in flight is
    answered in full, then the connection closes."""
    site = portico.site("rl-gone")
    second = site.new_port()
    prog = site.root / "slow.sh"
    prog.write_text("#!/bin/sh\nsleep 1\nprintf 'Content-Type: text/plain\\r\\n\\r\\nslow\\n'\n")
    prog.chmod(0o755)
    slow = site.vhost(name="slow", port=second,
                      mounts=[site.mount("/slow", "cgi://%s" % prog)])
    srv = site.start(vhosts=[site.vhost(), slow])
    with Conn(second) as c:
        c.request("GET", "/slow")
        time.sleep(0.2)
        write_vhosts(site, [site.vhost()])
        reload(srv, 1)
        r = c.read_response()
        assert r.status == 200 and r.body == b"slow\n"
        assert (r.header("connection") or "").lower() == "close"
        c.wait_closed()


# ---- what a reload refuses ---------------------------------------------------


def test_broken_config_leaves_the_old_one_serving(portico):
    site = portico.site("rl-broken")
    site.write("index.html", "still here\n")
    srv = site.start()
    (site.confd / "20-bad").write_text('{"vhosts": [{"name": "x", "port": "eighty"}]}\n')
    text = reload(srv, 1)
    assert re.search(r"20-bad:1:\d+: .*port", text), text
    assert "reload 1: the configuration in %s has 1 error(s)" % site.root in text, text
    assert "stays in force" in text
    assert srv.alive()
    assert srv.get("/").body == b"still here\n"
    os.unlink(site.confd / "20-bad")
    assert "reload 2: done" in reload(srv, 2)


def test_port_held_by_another_process_refuses_the_reload(portico):
    site = portico.site("rl-held")
    site.write("index.html", "old\n")
    srv = site.start()
    held = site.new_port()
    other = socket.socket()
    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    other.bind(("127.0.0.1", held))
    other.listen(1)
    try:
        write_vhosts(site, [site.vhost(), site.vhost(name="new", port=held)])
        text = reload(srv, 1)
        assert "cannot listen on 127.0.0.1:%d: address already in use" % held in text, text
        assert "stays in force" in text
        assert srv.get("/").body == b"old\n"
    finally:
        other.close()
    text = reload(srv, 2)
    assert "reload 2: done" in text
    assert srv.get("/", port=held).body == b"old\n"


# ---- certificates, log level, snapshots ----------------------------------------


def test_certificates_are_read_again(portico, certs, tmp_path):
    site = portico.site("rl-cert")
    site.write("index.html", "tls\n")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    shutil.copy(certs.a_cert, cert)
    shutil.copy(certs.a_key, key)
    srv = site.start(vhosts=[tls_vhost(site, "a.test", cert, key, site.port)])
    with tls_conn(site.port, certs, sni="a.test") as c:
        assert certs_mod.cert_names(c.peer_der())[1] == ["a.test", "*.a.test"]
    # Renewed in place (the names change here, so the test can tell).
    shutil.copy(certs.b_cert, cert)
    shutil.copy(certs.b_key, key)
    reload(srv, 1)
    with tls_conn(site.port, certs, sni="a.test", verify=False) as c:
        assert certs_mod.cert_names(c.peer_der())[1] == ["b.test", "*.b.test"]
        c.request("GET", "/", headers={"Host": "a.test"})
        assert c.read_response().body == b"tls\n"


def test_log_level_changes_at_reload(portico):
    site = portico.site("rl-level")
    srv = site.start(global_={"log-level": "error"}, log_level=None)
    write_vhosts(site, None, global_={"log-level": "error"})
    off = srv.log_size()
    srv.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert "reload 1: done" not in srv.log_since(off)
    write_vhosts(site, None, global_={"log-level": "info"})
    assert "reload 2: done" in reload(srv, 2)


def test_pooled_backend_connections_do_not_pin_an_old_snapshot(portico, bk):
    site = portico.site("rl-proxy")
    up = site.mount("/api", "http://127.0.0.1:%d" % bk.port)
    srv = site.start(vhosts=[site.vhost(mounts=[up])])
    for _ in range(3):
        assert srv.get("/api/x").status == 200
    write_vhosts(site, [site.vhost(mounts=[dict(up, headers={"x-gen": "2"})])])
    text = reload(srv, 1)
    if "2 snapshot(s) live" in text:  # an idle backend connection still closing
        text += srv.wait_log(srv.log_size() - 1, r"freed \(1 live\)", timeout=5)
        assert "freed (1 live)" in srv.log(), text
    r = srv.get("/api/x")
    assert r.status == 200 and r.header("x-gen") == "2"


def test_reload_binds_a_low_port_after_the_privilege_drop(portico):
    """As root with "username": CAP_NET_BIND_SERVICE is all that is kept,
    on the main thread, effective only while a reload binds: it is what
    lets a reload bind a new port below 1024."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    low = None
    for p in range(1000, 1024):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            low = p
            break
        except OSError:
            continue
        finally:
            s.close()
    if low is None:
        pytest.skip("no free port below 1024")
    # A configuration the user can read (a reload reads it as that user).
    import tempfile
    from ptserver import Site
    base = tempfile.mkdtemp(prefix="portico-rl-low-", dir="/tmp")
    os.chmod(base, 0o755)
    site = Site(portico, base)
    site.write("index.html", "low\n")
    srv = site.start(global_={"username": "nobody"})
    assert "running as uid 65534 gid 65534; capabilities kept: cap_net_bind_service" \
        in srv.wait_log(0, "capabilities kept", 5)  # logged after the port is bound
    srv.wait_log(0, r"started: \d+ worker", 5)        # the workers exist

    def caps(task):
        with open("/proc/%d/task/%s/status" % (srv.pid, task)) as f:
            d = {k: v.strip() for k, v in (ln.split(":", 1) for ln in f)}
        return tuple(int(d[k], 16) for k in ("CapPrm", "CapEff", "CapInh", "CapAmb"))

    # The main thread: CAP_NET_BIND_SERVICE (10) permitted, not effective;
    # the workers: nothing.
    assert caps(str(srv.pid)) == (1 << 10, 0, 0, 0)
    tasks = [t for t in os.listdir("/proc/%d/task" % srv.pid) if t != str(srv.pid)]
    assert tasks
    for t in tasks:
        assert caps(t) == (0, 0, 0, 0), t
    write_vhosts(site, [site.vhost(), site.vhost(name="low", port=low)],
                 global_={"username": "nobody"})
    try:
        assert "reload 1: done" in reload(srv, 1)
        assert srv.get("/", port=low).body == b"low\n"
        assert caps(str(srv.pid))[1] == 0  # not effective after the bind
    finally:
        srv.check_exit()
        shutil.rmtree(base, ignore_errors=True)


def test_low_port_without_the_capability_is_explained(tmp_path):
    """Not root and without CAP_NET_BIND_SERVICE: the start fails saying
    what a port below 1024 needs."""
    import tempfile
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv")
    base = tempfile.mkdtemp(prefix="portico-lowport-", dir="/tmp")
    try:
        os.chmod(base, 0o755)
        os.mkdir(os.path.join(base, "conf.d"))
        with open(os.path.join(base, "conf"), "w") as f:
            f.write('{"global": {"count-threads": 1}}\n')
        with open(os.path.join(base, "conf.d", "v"), "w") as f:
            f.write('{"vhosts": [{"name": "low", "port": 1, "interface": "127.0.0.1",'
                    ' "mounts": [{"mountpoint": "/", "origin": "file:///tmp"}]}]}\n')
        from ptserver import child_env, portico_bin
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "--inh-caps=-all", "--bounding-set=-all", portico_bin(),
                            "-c", base], env=child_env(), capture_output=True, text=True,
                           timeout=30)
        assert p.returncode == 1, p.stderr
        assert "cannot listen on 127.0.0.1:1: Permission denied (a port below 1024 needs " \
            "root or CAP_NET_BIND_SERVICE" in p.stderr, p.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)


# ---- under load ------------------------------------------------------------------


def run_tool(cmd, out, key):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out[key] = p.stdout.decode("utf-8", "replace")


@pytest.mark.skipif(not shutil.which("wrk") or not shutil.which("h2load"),
                    reason="needs wrk and h2load")
def test_twenty_reloads_under_full_load_lose_nothing(portico, certs):
    site = portico.site("rl-load")
    even, odd = docs(site, "even", "even\n"), docs(site, "odd", "odd\n")
    extra = docs(site, "extra", "extra\n")
    tls_port = site.new_port()

    def gen(i):
        root = "file://%s" % (even if i % 2 == 0 else odd)
        main = site.vhost(mounts=[site.mount("/", root)])
        added = site.vhost(name="extra-%d.test" % i,
                           mounts=[site.mount("/", "file://%s" % extra)])
        secure = tls_vhost(site, "localhost", certs.local_cert, certs.local_key, tls_port,
                           mounts=[site.mount("/", root)])
        return [main, added, secure]

    srv = site.start(vhosts=gen(0), global_={"count-threads": 2})
    url = "http://127.0.0.1:%d/" % site.port
    secs = 12 if not sanitize_enabled() else 20
    out = {}
    tools = [
        threading.Thread(target=run_tool, args=(
            ["wrk", "-t1", "-c16", "-d%ds" % secs, url], out, "keepalive")),
        threading.Thread(target=run_tool, args=(
            ["wrk", "-t1", "-c8", "-d%ds" % secs, "-H", "Connection: close", url],
            out, "close")),
        threading.Thread(target=run_tool, args=(
            ["h2load", "-c8", "-m10", "-D%d" % secs, url], out, "h2")),
        threading.Thread(target=run_tool, args=(
            ["h2load", "-c4", "-m10", "-D%d" % secs,
             "https://127.0.0.1:%d/" % tls_port], out, "h2-tls")),
    ]
    for t in tools:
        t.start()
    time.sleep(1)
    rss = {}
    for i in range(1, 21):
        write_vhosts(site, gen(i), global_={"count-threads": 2})
        text = reload(srv, i)
        assert "reload %d: done" % i in text, text
        # The config in force answers: its mount, its new vhost; the one it
        # removed reaches the default vhost.
        want = b"even\n" if i % 2 == 0 else b"odd\n"
        assert srv.get("/").body == want
        assert srv.get("/", headers={"Host": "extra-%d.test" % i}).body == b"extra\n"
        assert srv.get("/", headers={"Host": "extra-%d.test" % (i - 1)}).body == want
        if i in (5, 20):
            rss[i] = rss_kb(srv.pid)
        time.sleep(max(0.0, (secs - 3) / 20.0 - 0.1))
    for t in tools:
        t.join()

    for key in ("keepalive", "close"):
        text = out[key]
        m = re.search(r"(\d+) requests in", text)
        assert m and int(m.group(1)) > 1000, text
        assert "Socket errors" not in text, text
        assert "Non-2xx" not in text, text
    for key in ("h2", "h2-tls"):
        text = out[key]
        m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                      r"(\d+) failed, (\d+) errored", text)
        assert m, text
        total, _, done, ok, failed, errored = map(int, m.groups())
        assert done > 1000 and failed == 0 and errored == 0 and ok == done, text
        assert "TLSv1.3" in text or key == "h2", text

    # Flat memory (not under ASan: its quarantine keeps what is freed), and
    # the old snapshots all freed.
    if not sanitize_enabled():
        assert rss[20] - rss[5] < 4096, rss
    text = reload(srv, 21)
    assert "1 snapshot(s) live" in text, text
    print("RSS after reload 5: %d kB, after 20: %d kB" % (rss[5], rss[20]))
    for key in ("keepalive", "close", "h2", "h2-tls"):
        print(key, re.findall(r"\d+ requests in [^\n]*|requests: [^\n]*|Requests/sec[^\n]*|finished in [^\n]*", out[key]))
