"""The process as an operator drives it: signals (USR1 reopens the logs,
USR2 and other habits are harmless, QUIT and a second TERM cut a drain
short), the pid file and `-s`, daemon mode, relative paths resolved
against the configuration directory, and the log keys (log-level,
error-log, ISO 8601 times)."""

import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from pthttp import Conn
from ptserver import child_env, portico_bin, run_cli


def wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return pred()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def cli(site, *args, cwd=None, timeout=30):
    return run_cli(["-c", str(site.root)] + list(args), cwd=cwd, timeout=timeout)


# ---- SIGUSR1: reopen the logs -----------------------------------------------


def test_usr1_reopens_access_and_error_logs(portico):
    site = portico.site("reopen")
    site.write("a.txt", "a\n")
    logs = site.root / "logs"
    logs.mkdir()
    srv = site.start(vhosts=[site.vhost(**{"access-log": "logs/access.log"})],
                     global_={"error-log": "logs/error.log"})
    access, error = logs / "access.log", logs / "error.log"
    for _ in range(3):
        assert srv.get("/a.txt").status == 200
    assert wait_for(lambda: access.exists() and access.read_text().count("\n") == 3)
    assert "started" in error.read_text()
    # logrotate's move, then its postrotate `kill -USR1`
    os.rename(access, logs / "access.log.1")
    os.rename(error, logs / "error.log.1")
    with Conn(srv.port) as c:          # a keep-alive connection across the reopen
        c.request("GET", "/a.txt")
        assert c.read_response().status == 200
        srv.send_signal(signal.SIGUSR1)
        assert wait_for(lambda: error.exists() and "reopened" in error.read_text())
        for _ in range(2):
            c.request("GET", "/a.txt")
            assert c.read_response().status == 200
    assert srv.get("/a.txt").status == 200
    assert wait_for(lambda: access.exists() and access.read_text().count("\n") == 3)
    # nothing lost: 4 lines before the signal, 3 after, each in one file
    assert (logs / "access.log.1").read_text().count("\n") == 4
    assert srv.alive()


def test_usr2_and_habit_signals_are_harmless(portico):
    site = portico.site("habits")
    site.write("a.txt", "a\n")
    srv = site.start()
    for sig in (signal.SIGUSR2, signal.SIGWINCH, signal.SIGALRM, signal.SIGTTIN,
                signal.SIGTTOU, signal.SIGUSR1):
        off = srv.log_size()
        srv.send_signal(sig)
        srv.wait_log(off, r"ignored|reopened")
        assert srv.alive(), signal.Signals(sig).name
        assert srv.get("/a.txt").status == 200
    log = srv.log()
    assert "SIGUSR2: ignored" in log and "SIGWINCH: ignored" in log


# ---- QUIT, and a second TERM while draining ----------------------------------

SLOW = r'''#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\nstarted\n'
sleep 20
'''


def slow_server(portico, name):
    site = portico.site(name)
    prog = site.write("slow.sh", SLOW, base=site.root)
    prog.chmod(0o755)
    return site.start(vhosts=[site.vhost(mounts=[site.mount("/slow", "cgi://%s" % prog)])],
                      global_={"drain-timeout-secs": 30, "timeout-secs": 60})


@pytest.mark.parametrize("how", ["quit", "term-twice"])
def test_quit_and_second_term_do_not_wait_for_the_drain(portico, how):
    srv = slow_server(portico, "quit")
    with Conn(srv.port, timeout=30) as c:
        c.request("GET", "/slow")
        assert c.read_head(timeout=5)[1] == 200
        t0 = time.monotonic()
        if how == "quit":
            srv.send_signal(signal.SIGQUIT)
        else:
            srv.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert srv.alive()             # the first one drains
            srv.send_signal(signal.SIGTERM)
        rc = srv.wait(5)
        took = time.monotonic() - t0
    assert rc == 0, srv.log()[-2000:]
    assert took < 4, took
    assert re.search(r"SIGQUIT: exiting now|SIGTERM while draining", srv.log())


# ---- the pid file and -s ---------------------------------------------------


def test_pid_file_and_s_commands(portico):
    site = portico.site("pidfile")
    site.write("a.txt", "a\n")
    (site.root / "run").mkdir()
    srv = site.start(global_={"pid-file": "run/portico.pid"})
    pidfile = site.root / "run" / "portico.pid"
    assert pidfile.read_text() == "%d\n" % srv.pid

    # a second instance with the same pid file is refused, naming the first
    p = subprocess.run([portico_bin(), "-c", str(site.root)], env=child_env(),
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1
    assert "another instance (pid %d)" % srv.pid in p.stderr

    off = srv.log_size()
    rc, out, err = cli(site, "-s", "reopen", cwd="/")
    assert rc == 0, err
    assert "reopened" in srv.wait_log(off, "reopened")
    rc, out, err = cli(site, "-s", "reload")
    assert rc == 0, err
    assert "SIGHUP" in srv.wait_log(off, "SIGHUP")
    rc, out, err = cli(site, "-s", "bogus")
    assert rc == 2 and "stop, quit, reload, reopen" in err
    assert srv.get("/a.txt").status == 200

    rc, out, err = cli(site, "-s", "stop")
    assert rc == 0, err
    assert srv.wait(10) == 0
    assert not pidfile.exists()
    srv.checked = True

    # nothing running: -s says so
    rc, out, err = cli(site, "-s", "stop")
    assert rc == 1 and "is portico running" in err
    # a stale file (no instance holds its lock) is never trusted
    pidfile.write_text("1\n")
    rc, out, err = cli(site, "-s", "stop")
    assert rc == 1 and "stale" in err


def test_no_pid_file_in_foreground_by_default(portico):
    site = portico.site("nopid")
    srv = site.start()
    assert srv.get("/").status in (200, 403, 404)
    assert not list(site.root.rglob("*.pid"))


def test_daemon_mode(portico):
    site = portico.site("daemon")
    site.write("a.txt", "a\n")
    pidfile = site.root / "portico.pid"
    site.write_config(global_={"pid-file": str(pidfile), "error-log": "error.log"})
    cmd = [portico_bin(), "-c", str(site.root), "-d"]
    pid = None
    try:
        t0 = time.monotonic()
        p = subprocess.run(cmd, env=child_env(), capture_output=True, text=True, timeout=20)
        assert p.returncode == 0, p.stderr
        assert time.monotonic() - t0 < 10
        pid = int(pidfile.read_text())
        assert alive(pid)
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        assert int(fields[3]) != pid        # not a session leader (double fork)
        assert int(fields[1]) != os.getpid()
        assert os.readlink("/proc/%d/cwd" % pid) == "/"
        with Conn(site.port) as c:
            c.request("GET", "/a.txt")
            assert c.read_response().status == 200
        # a second daemon is refused, and says why on the terminal
        p2 = subprocess.run(cmd, env=child_env(), capture_output=True, text=True, timeout=20)
        assert p2.returncode == 1 and "another instance" in p2.stderr
        rc, out, err = cli(site, "-s", "stop")
        assert rc == 0, err
        assert wait_for(lambda: not alive(pid), 10)
        assert not pidfile.exists()
        assert "stopped" in (site.root / "error.log").read_text()
    finally:
        if pid and alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_daemon_start_failure_is_reported(portico):
    site = portico.site("daemonfail")
    blocker = __import__("socket").socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        site.write_config(vhosts=[site.vhost(port=port)],
                          global_={"pid-file": str(site.root / "p.pid")})
        p = subprocess.run([portico_bin(), "-c", str(site.root), "-d"], env=child_env(),
                           capture_output=True, text=True, timeout=20)
        assert p.returncode == 1
        assert str(port) in p.stderr
        assert not (site.root / "p.pid").exists()
    finally:
        blocker.close()


# ---- relative paths ------------------------------------------------------------


def test_relative_paths_are_relative_to_the_config_dir(portico):
    site = portico.site("relative")
    (site.root / "www").mkdir()
    (site.root / "www" / "a.txt").write_text("relative\n")
    (site.root / "cgi").mkdir()
    prog = site.write("hi.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nhi\\n'\n",
                      base=site.root / "cgi")
    prog.chmod(0o755)
    v = site.vhost(mounts=[site.mount("/", "file://www"),
                           site.mount("/hi", "cgi://cgi/hi.sh")],
                   **{"access-log": "access.log"})
    srv = site.start(vhosts=[v], cwd="/")
    assert srv.get("/a.txt").body == b"relative\n"
    assert srv.get("/hi").body == b"hi\n"
    assert wait_for(lambda: site.access_log.exists() and "/hi" in site.access_log.read_text())
    # -t from elsewhere agrees
    rc, out, err = cli(site, "-t", cwd="/")
    assert rc == 0, err


# ---- log keys ---------------------------------------------------------------


def test_log_level_key_and_iso_times(portico):
    site = portico.site("loglevel")
    site.write("a.txt", "a\n")
    site.write_config(global_={"log-level": "info"})
    srv = site.start(write=False, log_level=None)
    assert srv.get("/missing").status == 404
    log = srv.wait_log(0, r"\[info\]")
    assert "[info]" in log           # the default (notice) would hide it
    lines = [ln for ln in log.splitlines() if "[" in ln]
    assert lines
    for ln in lines:
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 \[(error|warn|notice|"
                        r"info|debug)\] ", ln), ln


def test_log_level_key_errors(portico):
    site = portico.site("badlevel")
    (site.root / "conf").write_text('{\n  "global": {\n    "log-level": "loud"\n  }\n}\n')
    (site.confd / "v").write_text(json.dumps({"vhosts": [site.vhost()]}))
    rc, out, err = cli(site, "-t")
    assert rc == 1
    assert re.search(r"conf:3:\d+: error: \"log-level\": unknown level \"loud\"", err), err


def test_error_log_unwritable_fails_start(portico):
    site = portico.site("badelog")
    site.write_config(global_={"error-log": "/proc/no/such/dir/error.log"})
    p = subprocess.run([portico_bin(), "-c", str(site.root)], env=child_env(),
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1
    assert "error-log" in p.stderr and "/proc/no/such/dir/error.log" in p.stderr


# ---- ports portico owns --------------------------------------------------------


def test_second_instance_on_the_same_port_is_refused(portico):
    """Both would set SO_REUSEPORT: without the check the kernel would
    split one port's traffic between two configurations."""
    site = portico.site("owner")
    site.write("a.txt", "first\n")
    srv = site.start()
    other = portico.site("intruder")
    other.write_config(vhosts=[other.vhost(port=site.port)])
    p = subprocess.run([portico_bin(), "-c", str(other.root)], env=child_env(),
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1
    assert "127.0.0.1:%d: address already in use by another process" % site.port in p.stderr
    assert re.search(r"conf\.d/10-vhosts:\d+:\d+: vhost \"localhost\" asks for this port",
                     p.stderr), p.stderr
    for _ in range(20):                 # every connection still reaches the first
        assert srv.get("/a.txt").body == b"first\n"


def test_port_held_by_another_program_is_refused(portico):
    import socket
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        site = portico.site("held")
        site.write_config(vhosts=[site.vhost(port=holder.getsockname()[1])])
        p = subprocess.run([portico_bin(), "-c", str(site.root)], env=child_env(),
                           capture_output=True, text=True, timeout=10)
        assert p.returncode == 1
        assert "already in use by another process" in p.stderr
    finally:
        holder.close()


def test_same_address_spelled_two_ways_is_an_error(portico):
    site = portico.site("overlap")
    a = site.vhost(name="a")
    b = site.vhost(name="b", interface="lo")      # lo's address is 127.0.0.1
    site.write_config(confd={"10-a": [a], "20-b": [b]})
    rc, out, err = cli(site, "-t")
    assert rc == 1
    assert re.search(r"20-b:\d+:\d+: error: vhost \"b\" \(\"interface\": \"lo\"\) and vhost "
                     r"\"a\" at .*10-a:\d+:\d+ \(\"interface\": \"127.0.0.1\"\) are the "
                     r"same address and port %d" % site.port, err), err


def test_unknown_interface_is_found_by_t(portico):
    site = portico.site("noiface")
    site.write_config(vhosts=[site.vhost(interface="nosuchif0")])
    rc, out, err = cli(site, "-t")
    assert rc == 1
    assert re.search(r"10-vhosts:\d+:\d+: error: vhost \"localhost\": \"interface\": "
                     r"\"nosuchif0\" is neither an address nor an interface", err), err


def test_journal_stream_lines_carry_priorities(portico):
    """Under systemd (JOURNAL_STREAM names stderr) a line is "<N>[level]
    text": journald keeps the time and the priority."""
    site = portico.site("journal")
    site.write_config()
    errpath = site.root / "stderr.log"
    errpath.touch()
    st = os.stat(errpath)
    env = dict(child_env(), JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
    with open(errpath, "ab") as errf:
        p = subprocess.Popen([portico_bin(), "-c", str(site.root)], env=env,
                             stdout=errf, stderr=errf)
    try:
        assert wait_for(lambda: "started" in errpath.read_text(), 10)
    finally:
        p.terminate()
        p.wait(20)
    lines = [ln for ln in errpath.read_text().splitlines() if "[" in ln]
    assert lines and all(re.match(r"<[3-7]>\[(error|warn|notice|info|debug)\] ", ln)
                         for ln in lines), lines
    assert any(ln.startswith("<5>[notice] portico") for ln in lines), lines


def test_error_log_syslog(portico):
    """"error-log": "syslog": lines go to /dev/log (a datagram socket this
    test provides when the machine has no syslog daemon), none to stderr."""
    import socket
    own = not os.path.exists("/dev/log")
    if not own and os.geteuid() != 0:
        pytest.skip("a syslog daemon owns /dev/log")
    sock = None
    if own:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind("/dev/log")
        sock.settimeout(5)
    try:
        site = portico.site("syslog")
        site.write("a.txt", "a\n")
        srv = site.start(global_={"error-log": "syslog"})
        assert srv.get("/a.txt").status == 200
        if sock:
            got = b""
            while b"started" not in got:
                got += sock.recv(4096) + b"\n"
            assert re.search(rb"<29>.*portico\[%d\]: portico .* started" % srv.pid,
                             got), got
        srv.stop()
        assert "started" not in srv.log()
    finally:
        if sock:
            sock.close()
            os.unlink("/dev/log")


def test_privilege_drop_reaches_cgi_children(portico, tmp_path):
    """As root with "username": the ports are bound and the keys read as
    root, then every thread and every CGI program runs as that user."""
    import pwd
    import tempfile
    if os.geteuid() != 0:
        pytest.skip("needs root")
    nobody = pwd.getpwnam("nobody")
    base = tempfile.mkdtemp(prefix="portico-drop-", dir="/tmp")
    try:
        os.chmod(base, 0o755)
        prog = os.path.join(base, "id.sh")
        with open(prog, "w") as f:
            f.write("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nid -u; id -g\n")
        os.chmod(prog, 0o755)
        site = portico.site("drop")
        srv = site.start(vhosts=[site.vhost(mounts=[site.mount("/id", "cgi://" + prog)])],
                         global_={"username": "nobody"})
        r = srv.get("/id")
        assert r.status == 200
        assert r.body.split() == [b"%d" % nobody.pw_uid, b"%d" % nobody.pw_gid], r.body
        with open("/proc/%d/status" % srv.pid) as f:
            uids = next(ln for ln in f if ln.startswith("Uid:")).split()[1:]
        assert uids == [str(nobody.pw_uid)] * 4, uids
        for task in os.listdir("/proc/%d/task" % srv.pid):
            with open("/proc/%d/task/%s/status" % (srv.pid, task)) as f:
                assert next(ln for ln in f if ln.startswith("Uid:")).split()[1] == \
                    str(nobody.pw_uid)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("key", ["username", "groupname"])
def test_t_resolves_users_and_groups(portico, key):
    site = portico.site("nouser")
    (site.root / "conf").write_text('{\n  "global": {\n    "%s": "no-such-%s"\n  }\n}\n'
                                    % (key, key))
    (site.confd / "v").write_text(json.dumps({"vhosts": [site.vhost()]}))
    rc, out, err = cli(site, "-t")
    assert rc == 1
    assert re.search(r"conf:3:\d+: error: \"%s\": no (user|group) \"no-such-%s\" on this host"
                     % (key, key), err), err


def test_interface_name_binds_all_its_addresses(portico):
    """"interface": "lo" listens on each of lo's addresses, IPv6 too."""
    import socket
    if not os.path.exists("/proc/net/if_inet6") or \
            "00000000000000000000000000000001" not in open("/proc/net/if_inet6").read():
        pytest.skip("no ::1 on lo")
    site = portico.site("iface")
    site.write("a.txt", "both\n")
    srv = site.start(vhosts=[site.vhost(interface="lo")])
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(family) as s:
            s.settimeout(5)
            s.connect((host, site.port))
            s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"both\n"), (host, data)
    log = srv.log()
    assert "listening on 127.0.0.1:%d" % site.port in log
    assert "listening on [::1]:%d" % site.port in log


def test_connections_are_spread_over_the_workers(portico):
    """Each worker has its own SO_REUSEPORT socket: the kernel spreads new
    connections over them (no worker takes them all, no thundering herd)."""
    import socket
    site = portico.site("spread")
    site.write("a.txt", "a\n")
    srv = site.start(global_={"count-threads": 2})
    for _ in range(400):
        with socket.create_connection(("127.0.0.1", site.port), timeout=5) as s:
            s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            while s.recv(4096):
                pass
    assert srv.stop() == 0
    counts = [int(n) for n in re.findall(r"worker \d+: (\d+) connection\(s\) accepted", srv.log())]
    assert len(counts) == 2 and 400 <= sum(counts) <= 402, counts   # + the start probe
    assert min(counts) >= 120, counts     # 400 fair coin flips: 200 +- 10


def test_bind_iface_binds_listeners_and_upstreams_to_the_device(portico, bk):
    """"bind-iface": 1 with "interface": "lo": the listening sockets and the
    proxy's backend connections are bound to lo (SO_BINDTODEVICE), as ss
    shows them ("127.0.0.1%lo:PORT")."""
    site = portico.site("bindiface")
    site.write("a.txt", "a\n")
    v = site.vhost(interface="lo", mounts=[site.mount("/"),
                                           site.mount("/api", "http://%s/app" % bk.host)],
                   **{"bind-iface": 1})
    srv = site.start(vhosts=[v])
    ss = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout
    assert "127.0.0.1%%lo:%d" % site.port in ss, ss
    r = srv.get("/api/x")
    assert r.status == 200
    bport = bk.host.rsplit(":", 1)[1]
    ss = subprocess.run(["ss", "-tn"], capture_output=True, text=True).stdout
    assert re.search(r"127\.0\.0\.1%%lo:\d+\s+127\.0\.0\.1:%s\b" % bport, ss), ss


def test_bind_iface_needs_a_device(portico):
    site = portico.site("bindaddr")
    site.write_config(vhosts=[site.vhost(**{"bind-iface": 1})])   # 127.0.0.1
    rc, out, err = cli(site, "-t")
    assert rc == 1
    assert re.search(r"10-vhosts:\d+:\d+: error: \"bind-iface\": needs \"interface\" to "
                     r"name a network interface of this host \(\"127.0.0.1\" is not one\)",
                     err), err


def test_sd_notify_ready_and_stopping(portico, tmp_path):
    """Under systemd (Type=notify) portico says READY=1 once it serves and
    STOPPING=1 when it begins to stop, on $NOTIFY_SOCKET."""
    import socket
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    try:
        site = portico.site("notify")
        site.write_config()
        env = dict(child_env(), NOTIFY_SOCKET=path)
        p = subprocess.Popen([portico_bin(), "-c", str(site.root)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            msg = sock.recv(4096).decode()
            assert "READY=1" in msg.split("\n"), msg
            with socket.create_connection(("127.0.0.1", site.port), timeout=2):
                pass                      # it serves by then
            p.terminate()
            msg = sock.recv(4096).decode()
            assert msg == "STOPPING=1", msg
        finally:
            assert p.wait(20) == 0
    finally:
        sock.close()


def test_t_warns_about_ports_in_use(portico):
    import socket
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        site = portico.site("tport")
        site.write_config(vhosts=[site.vhost(port=holder.getsockname()[1])])
        rc, out, err = cli(site, "-t")
        assert rc == 0, err            # valid; a warning says the start would fail
        assert re.search(r"10-vhosts:\d+:\d+: warning: vhost \"localhost\": 127\.0\.0\.1:%d is "
                         r"in use by another process" % holder.getsockname()[1], err), err
        assert "1 warning(s)" in out
    finally:
        holder.close()
