"""CGI: the programs' processes.  Streaming output, cgi-timeout (504, the
whole process group killed), programs that exit early, clients that go
away mid-response (program killed and reaped, no zombie, no leaked
descriptor), stdout closed before exit, and backpressure both ways."""

import os
import subprocess
import time

import pytest

from cgitools import (PROTOCOLS, PY, children, curl, fds, h2_post, need, pgroup_alive,
                      proc_stat, proto_args, read_pid, rss_kb, wait_until,
                      write_program, zombies)
from pthttp import build_request, ConnectionClosed

SLOW = r'''#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
for i in 1 2 3 4 5; do
  echo "tick $i"
  sleep 0.4
done
'''

# Writes its pid (= its process group), starts a child that ignores
# SIGTERM, and waits forever.  ?after: sends the head and some body first.
HANG = r'''#!/bin/sh
echo $$ > "$PIDFILE.$QUERY_STRING"
if [ "$QUERY_STRING" = after ]; then
  printf 'Content-Type: text/plain\r\n\r\nstarted\n'
fi
(trap '' TERM; exec sleep 1000) &
echo $! > "$PIDFILE.$QUERY_STRING.child"
sleep 1000
'''

# Streams forever until killed (or SIGPIPE).
STREAM = r'''#!/usr/bin/python3
import os, sys, time
open(os.environ["PIDFILE"] + "." + os.environ["QUERY_STRING"], "w").write(str(os.getpid()))
sys.stdout.buffer.write(b"Content-Type: application/octet-stream\r\n\r\n")
chunk = b"x" * 16384
while True:
    sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
    time.sleep(0.005)
'''

# Closes stdout and goes on running: the response must end at once.
CLOSEOUT = r'''#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\ndone\n'
exec >&-
sleep 3
'''

# Sleeps before reading stdin (?sleep=S), or writes N MiB of output
# (?out=N) as fast as it can.
SINK = r'''#!/usr/bin/python3
import hashlib, os, sys, time
q = os.environ.get("QUERY_STRING", "")
if q.startswith("out="):
    n = int(q[4:])
    sys.stdout.buffer.write(b"Content-Type: application/octet-stream\r\n"
                            b"Content-Length: %d\r\n\r\n" % (n << 20))
    block = bytes(range(256)) * 4096
    for _ in range(n):
        sys.stdout.buffer.write(block)
    sys.exit(0)
if q.startswith("sleep="):
    time.sleep(float(q[6:]))
h = hashlib.sha256()
n = 0
while True:
    b = sys.stdin.buffer.read1(65536)
    if not b:
        break
    h.update(b)
    n += len(b)
body = ("%d %s" % (n, h.hexdigest())).encode()
sys.stdout.buffer.write(b"Content-Type: text/plain\r\n\r\n" + body)
'''

# Writes its pid, then stays silent for a long time.
SILENT = r'''#!/bin/sh
echo $$ > "$PIDFILE.$QUERY_STRING"
exec sleep 30
'''

QUICK = r'''#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\nquick\n'
'''

# Answers after 3 s (longer than the server's timeout-secs of 2).
LATE = r'''#!/bin/sh
sleep 3
printf 'Content-Type: text/plain\r\n\r\nlate\n'
'''

EARLY = r'''#!/bin/sh
echo "giving up early" >&2
exit 7
'''


@pytest.fixture(scope="module")
def srv(portico):
    site = portico.site()
    site.write("index.html", "index\n")
    pidfile = str(site.root / "pid")
    progs = {name: write_program(site, name, text) for name, text in
             [("slow.sh", SLOW), ("hang.sh", HANG), ("stream.py", STREAM),
              ("closeout.sh", CLOSEOUT), ("sink.py", SINK), ("early.sh", EARLY),
              ("silent.sh", SILENT), ("quick.sh", QUICK), ("late.sh", LATE)]}
    env = {"cgi-env": {"PIDFILE": pidfile}}
    mounts = [site.mount("/"),
              site.mount("/slow", "cgi://%s" % progs["slow.sh"]),
              site.mount("/hang", "cgi://%s" % progs["hang.sh"], **{"cgi-timeout": 1}, **env),
              site.mount("/stream", "cgi://%s" % progs["stream.py"], **env),
              site.mount("/closeout", "cgi://%s" % progs["closeout.sh"]),
              site.mount("/sink", "cgi://%s" % progs["sink.py"]),
              site.mount("/early", "cgi://%s" % progs["early.sh"]),
              site.mount("/silent", "cgi://%s" % progs["silent.sh"], **{"cgi-timeout": 30}, **env),
              site.mount("/quick", "cgi://%s" % progs["quick.sh"]),
              site.mount("/late", "cgi://%s" % progs["late.sh"])]
    s = site.start(vhosts=[site.vhost(mounts=mounts)], global_={"timeout-secs": 2})
    s.pidfile = pidfile
    return s


def quiet(srv, timeout=6.0):
    """Waits until portico has no child processes left (all reaped)."""
    return wait_until(lambda: not children(srv.pid), timeout)


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_output_streams_as_written(srv, proto):
    need(proto, srv)
    t0 = time.monotonic()
    p = subprocess.Popen(["curl", "-sN"] + proto_args(proto) + [srv.url("/slow")],
                         stdout=subprocess.PIPE)
    try:
        first = p.stdout.readline()
        t_first = time.monotonic() - t0
        rest = p.stdout.read()
        t_all = time.monotonic() - t0
    finally:
        p.wait(10)
    assert first == b"tick 1\n"
    assert rest == b"".join(b"tick %d\n" % i for i in range(2, 6))
    assert t_all >= 1.6
    assert t_first < 1.0, (t_first, t_all)   # long before the program ends


def test_output_streams_raw_chunks(srv):
    with srv.conn() as c:
        c.request("GET", "/slow")
        head = c.read_head(timeout=5)
        assert head[1] == 200
        t0 = time.monotonic()
        got = b""
        while b"tick 2" not in got:
            assert c._fill(time.monotonic() + 5)
            got += c.buf
            c.buf = b""
        assert time.monotonic() - t0 < 1.5


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_timeout_504_and_group_killed(srv, proto):
    need(proto, srv)
    off = srv.log_size()
    t0 = time.monotonic()
    r = curl(srv, proto, "/hang?" + proto, check=False, timeout=20)
    took = time.monotonic() - t0
    assert r.status == 504, r
    assert 0.8 <= took < 5, took
    pgid = read_pid(srv.pidfile + "." + proto)
    child = read_pid(srv.pidfile + "." + proto + ".child")
    # the child ignoring SIGTERM goes too: the whole group is gone
    assert wait_until(lambda: not pgroup_alive(pgid), 3), "process group survived"
    st = proc_stat(child)
    assert st is None or st[0] == "Z", st
    assert quiet(srv), children(srv.pid)
    assert "cgi-timeout" in srv.wait_log(off, "cgi-timeout")


def test_timeout_after_head_aborts(srv):
    with srv.conn() as c:
        c.request("GET", "/hang?after")
        head = c.read_head(timeout=5)
        assert head[1] == 200
        # chunked, never terminated: the connection is closed instead
        with pytest.raises(ConnectionClosed):
            c._read_chunked(time.monotonic() + 10)
    pgid = read_pid(srv.pidfile + ".after")
    assert wait_until(lambda: not pgroup_alive(pgid), 5)
    assert quiet(srv), children(srv.pid)


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_early_exit_502(srv, proto):
    need(proto, srv)
    off = srv.log_size()
    r = curl(srv, proto, "/early", check=False)
    assert r.status == 502
    text = srv.wait_log(off, r"bad response head")
    assert "cgi /early[" in text and "no output" in text
    assert "giving up early" in srv.wait_log(off, "giving up early")
    assert quiet(srv)


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_client_disconnect_kills_program(srv, proto):
    need(proto, srv)
    assert quiet(srv)
    base = set(fds(srv.pid))
    tag = "disc-" + proto
    p = subprocess.Popen(["curl", "-sN"] + proto_args(proto) +
                         [srv.url("/stream?" + tag)], stdout=subprocess.PIPE)
    try:
        got = 0
        while got < 200000:
            got += len(p.stdout.read1(65536))
        pid = read_pid(srv.pidfile + "." + tag)
        assert proc_stat(pid) is not None
    finally:
        p.kill()
        p.wait()
    # killed and reaped: no process, no zombie, no descriptor left behind
    assert wait_until(lambda: proc_stat(pid) is None, 6), proc_stat(pid)
    assert quiet(srv), children(srv.pid)
    assert not zombies(srv.pid)
    assert wait_until(lambda: set(fds(srv.pid)) == base, 3), (base, fds(srv.pid))


def test_client_disconnect_raw(srv):
    assert quiet(srv)
    base = set(fds(srv.pid))
    c = srv.conn()
    c.request("GET", "/stream?raw")
    c.read_head(timeout=5)
    c._fill(time.monotonic() + 5)
    pid = read_pid(srv.pidfile + ".raw")
    c.close()
    assert wait_until(lambda: proc_stat(pid) is None, 6)
    assert quiet(srv)
    assert wait_until(lambda: set(fds(srv.pid)) == base, 3)


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_stdout_closed_ends_response(srv, proto):
    need(proto, srv)
    t0 = time.monotonic()
    r = curl(srv, proto, "/closeout")
    assert r.body == b"done\n"
    assert time.monotonic() - t0 < 2.0


def test_stdout_closed_keepalive(srv):
    with srv.conn() as c:
        t0 = time.monotonic()
        c.request("GET", "/closeout")
        r = c.read_response(timeout=2.5)
        assert r.body == b"done\n"
        assert r.header("Transfer-Encoding") == "chunked"
        assert time.monotonic() - t0 < 2.0
        c.request("GET", "/")
        assert c.read_response().body == b"index\n"
    # the program was not killed for closing stdout: it finishes its sleep
    assert quiet(srv, 6)


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_upload_backpressure(srv, proto, tmp_path):
    """A program that does not read: portico holds no more than a few
    buffers of the body meanwhile."""
    need(proto, srv)
    data = os.urandom(1 << 20) * 40
    f = tmp_path / "up.bin"
    f.write_bytes(data)
    before = rss_kb(srv.pid)
    p = subprocess.Popen(["curl", "-sS", "--data-binary", "@%s" % f] + proto_args(proto) +
                         [srv.url("/sink?sleep=2")], stdout=subprocess.PIPE)
    time.sleep(1.5)
    during = rss_kb(srv.pid)
    out, _ = p.communicate(timeout=60)
    import hashlib
    assert out == b"%d %s" % (len(data), hashlib.sha256(data).hexdigest().encode())
    assert during - before < 12 * 1024, (before, during)


def test_upload_backpressure_raw(srv):
    """HTTP/1: while the program sleeps, portico stops reading the socket,
    so the client cannot push much more than the socket buffers hold."""
    import hashlib
    import socket
    total = 64 << 20
    chunk = os.urandom(65536)
    with srv.conn() as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
        c.send(build_request("POST", "/sink?sleep=2",
                             headers=[("Content-Length", str(total))]))
        c.sock.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            try:
                sent += c.sock.send(chunk[sent % len(chunk):])
            except BlockingIOError:
                time.sleep(0.01)
        assert sent < 16 << 20, sent
        c.sock.setblocking(True)
        c.sock.settimeout(30)
        while sent < total:
            off = sent % len(chunk)
            sent += c.sock.send(chunk[off:off + total - sent])
        r = c.read_response(timeout=30)
    want = hashlib.sha256(chunk * (total // len(chunk))).hexdigest()
    assert r.body == b"%d %s" % (total, want.encode())


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_download_pulled_at_client_pace(srv, proto):
    """A fast program and a slow client: output stays in the pipe."""
    need(proto, srv)
    before = rss_kb(srv.pid)
    p = subprocess.Popen(["curl", "-sS", "--limit-rate", "4M"] + proto_args(proto) +
                         [srv.url("/sink?out=12")], stdout=subprocess.PIPE)
    time.sleep(1.5)
    during = rss_kb(srv.pid)
    out, _ = p.communicate(timeout=60)
    assert len(out) == 12 << 20
    assert out[:256] == bytes(range(256))
    assert during - before < 12 * 1024, (before, during)


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_client_disconnect_silent_program(srv, proto):
    need(proto, srv)
    tag = "silent-" + proto
    p = subprocess.Popen(["curl", "-s"] + proto_args(proto) + [srv.url("/silent?" + tag)],
                         stdout=subprocess.DEVNULL)
    try:
        pid = read_pid(srv.pidfile + "." + tag)
    finally:
        time.sleep(0.2)
        p.kill()
        p.wait()
    gone = wait_until(lambda: proc_stat(pid) is None, 4)
    if not gone:
        os.kill(pid, 9)   # do not leave it to the 30 s timeout
        assert quiet(srv)
    assert gone, "program still running after the client left"


def test_slow_program_after_unread_body(srv):
    """A program answers without reading a request body that is still
    arriving; on the same connection a program then takes longer than
    timeout-secs (2 s) to answer: the handler's own timeout applies."""
    with srv.conn(timeout=10) as c:
        c.send(build_request("POST", "/quick", headers=[("Content-Length", "100000")])
               + b"a" * 1000)
        assert c.read_response().body == b"quick\n"
        c.send(b"a" * 99000)
        c.request("GET", "/late")
        r = c.read_response(timeout=8)
        assert r.body == b"late\n"


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_program_ignores_big_body(srv, proto, tmp_path):
    """A program that answers and exits without reading its stdin: the
    body is read and dropped, the client gets the answer."""
    need(proto, srv)
    data = os.urandom(1 << 20) * 30
    if proto == "h2":
        # python3-h2, not curl: curl 7.88 stops sending once the response
        # has ended and then waits forever unless the server resets the
        # stream (see the report on h2/server.c)
        data = data[:6 << 20]   # python framing is slow: 6 MiB make the point
        status, body, sent, reset = h2_post(srv.port, "/quick", data)
        assert status == 200 and body == b"quick\n"
        assert sent == len(data) or reset is not None
        return
    f = tmp_path / "ignored.bin"
    f.write_bytes(data)
    r = curl(srv, proto, "/quick", data_file=f, timeout=60)
    assert r.status == 200 and r.body == b"quick\n"
    if proto == "h1":
        with srv.conn() as c:   # and the connection stays usable
            c.send(build_request("POST", "/quick", body=b"x" * 300000))
            assert c.read_response().body == b"quick\n"
            c.request("GET", "/quick")
            assert c.read_response().body == b"quick\n"


def test_no_zombies_after_all(srv):
    assert quiet(srv, 8), children(srv.pid)
    assert not zombies(srv.pid)


def test_shutdown_reaps_running_programs(portico):
    """SIGTERM while programs run: one detached (stdout closed, still
    sleeping), one in flight past the drain timeout.  portico exits 0,
    both are killed and reaped, and (under ASan) nothing leaks."""
    site = portico.site("cgi_shutdown")
    pidfile = str(site.root / "pid")
    hang = write_program(site, "hang.sh", HANG)
    closeout = write_program(site, "closeout.sh", CLOSEOUT.replace("sleep 3", "echo $$ > \"$PIDFILE.closeout\"; sleep 30"))
    env = {"cgi-env": {"PIDFILE": pidfile}}
    mounts = [site.mount("/"),
              site.mount("/hang", "cgi://%s" % hang, **{"cgi-timeout": 60}, **env),
              site.mount("/closeout", "cgi://%s" % closeout, **env)]
    srv = site.start(vhosts=[site.vhost(mounts=mounts)],
                     global_={"drain-timeout-secs": 1})
    r = curl(srv, "h1", "/closeout")
    assert r.body == b"done\n"
    detached = read_pid(pidfile + ".closeout")
    c = srv.conn()
    c.request("GET", "/hang?inflight")
    inflight = read_pid(pidfile + ".inflight")
    assert proc_stat(detached) and proc_stat(inflight)
    t0 = time.monotonic()
    srv.check_exit()
    assert time.monotonic() - t0 < 6
    c.close()
    for pid in (detached, inflight):
        st = proc_stat(pid)
        assert st is None or st[0] == "Z", (pid, st)
    assert not pgroup_alive(inflight)


# Answers, leaves a process running in its group and exits.  The query
# picks how: "held" (the child keeps stdout, so the response cannot end),
# "closed" (complete response, the child has no descriptor of ours),
# "complete" (Content-Length response, the child keeps stdout) and
# "deaf" (like closed, and the child ignores SIGTERM).
LEAVER = r'''#!/bin/sh
tag="$PIDFILE.$QUERY_STRING"
case "$QUERY_STRING" in
held-*)
  printf 'Content-Type: text/plain\r\n\r\nhi\n'
  sleep 30 &
  ;;
closed-*)
  printf 'Content-Type: text/plain\r\nContent-Length: 3\r\n\r\nhi\n'
  sleep 30 >/dev/null 2>&1 </dev/null &
  ;;
complete-*)
  printf 'Content-Type: text/plain\r\nContent-Length: 3\r\n\r\nhi\n'
  sleep 30 &
  ;;
deaf-*)
  printf 'Content-Type: text/plain\r\nContent-Length: 3\r\n\r\nhi\n'
  (trap '' TERM; exec sleep 30) >/dev/null 2>&1 </dev/null &
  ;;
stray-*)
  printf 'Content-Type: text/plain\r\nContent-Length: 3\r\n\r\nhi\n'
  setsid sleep 0.3 >/dev/null 2>&1 </dev/null &
  ;;
esac
echo $! > "$tag.tmp" && mv "$tag.tmp" "$tag"
exit 0
'''


@pytest.fixture(scope="module")
def leaver(portico):
    site = portico.site("cgi_leaver")
    pidfile = str(site.root / "pid")
    prog = write_program(site, "leaver.sh", LEAVER)
    mounts = [site.mount("/"),
              site.mount("/leave", "cgi://%s" % prog, **{"cgi-timeout": 2},
                         **{"cgi-env": {"PIDFILE": pidfile}})]
    s = site.start(vhosts=[site.vhost(mounts=mounts)], global_={"timeout-secs": 10})
    s.pidfile = pidfile
    return s


def alive(pid):
    st = proc_stat(pid)
    return st is not None and st[0] != "Z"


@pytest.mark.parametrize("how", ["held", "closed", "complete", "deaf"])
@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_timeout_reaches_what_program_left(leaver, proto, how):
    """cgi-timeout ends the processes a program left in its group after it
    exited (SIGTERM, SIGKILL after the grace for one ignoring SIGTERM),
    however the response went; until then they may run."""
    need(proto, leaver)
    tag = "%s-%s" % (how, proto)
    off = leaver.log_size()
    t0 = time.monotonic()
    r = curl(leaver, proto, "/leave?" + tag, check=False, timeout=20)
    took = time.monotonic() - t0
    if how == "held":
        assert took >= 1.5, took   # stdout held: the response ends at the timeout
    else:
        assert r.status == 200 and r.body == b"hi\n" and took < 1.5, (r, took)
    child = read_pid(leaver.pidfile + "." + tag)
    if took < 1.0:
        assert alive(child)        # not killed before its time
    limit = 2 + (2 if how == "deaf" else 0) + 2.5 - (time.monotonic() - t0)
    assert wait_until(lambda: not alive(child), limit), (how, proc_stat(child))
    assert "killing the processes it left running" in leaver.wait_log(off, "left running")
    assert wait_until(lambda: not children(leaver.pid), 3), children(leaver.pid)


def test_strays_outside_the_group_are_reaped(leaver):
    """A program's child that left its group (setsid) is portico's once the
    program exits: it is reaped when it exits, not left a zombie."""
    tag = "stray-h1"
    r = curl(leaver, "h1", "/leave?" + tag)
    assert r.body == b"hi\n"
    child = read_pid(leaver.pidfile + "." + tag)
    assert wait_until(lambda: proc_stat(child) is None, 4), proc_stat(child)
    assert not zombies(leaver.pid)


GRANDCHILD = r'''#!/bin/sh
# A grandchild orphaned inside the group while the program still runs.
( sleep 0.2 >/dev/null 2>&1 & echo $! > "$PIDFILE.grandchild" )
sleep 3
printf 'Content-Type: text/plain\r\n\r\nlate\n'
'''


def test_grandchild_orphaned_while_program_runs_is_reaped(portico):
    site = portico.site("cgi_grandchild")
    pidfile = str(site.root / "pid")
    prog = write_program(site, "gc.sh", GRANDCHILD)
    srv = site.start(vhosts=[site.vhost(mounts=[site.mount(
        "/gc", "cgi://%s" % prog, **{"cgi-env": {"PIDFILE": pidfile}})])],
        global_={"timeout-secs": 10})
    p = subprocess.Popen(["curl", "-s", srv.url("/gc")], stdout=subprocess.PIPE)
    try:
        gc = read_pid(pidfile + ".grandchild")
        # its parent subshell exited: it is portico's now, and once it exits
        # it must not stay a zombie while the program runs on
        time.sleep(1.8)
        assert proc_stat(gc) is None, proc_stat(gc)
        assert not zombies(srv.pid)
    finally:
        out = p.communicate(timeout=20)[0]
    assert out == b"late\n"


def test_timeout_reaches_what_program_left_in_daemon_mode(portico):
    """portico -d (as systemd runs it) is the subreaper too: fork does not
    pass that on, so it is set by the daemon itself."""
    site = portico.site("cgi_daemon")
    pidfile = str(site.root / "pid")
    prog = write_program(site, "leaver.sh", LEAVER)
    ppid = site.root / "portico.pid"
    site.write_config(vhosts=[site.vhost(mounts=[site.mount(
        "/leave", "cgi://%s" % prog, **{"cgi-timeout": 2}, **{"cgi-env": {"PIDFILE": pidfile}})])],
        global_={"pid-file": str(ppid)})
    from ptserver import child_env, portico_bin
    r = subprocess.run([portico_bin(), "-c", str(site.root), "-d"], env=child_env(),
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    daemon = int(ppid.read_text())
    try:
        out = subprocess.run(["curl", "-s", "http://127.0.0.1:%d/leave?closed-d" % site.port],
                             capture_output=True, timeout=20).stdout
        assert out == b"hi\n"
        child = read_pid(pidfile + ".closed-d")
        # The program's orphan is the daemon's, once the program has exited
        # (it may still be running just after the response).
        reparented = wait_until(lambda: (proc_stat(child) or (None, None))[1] == daemon, 5)
        assert reparented, proc_stat(child)
        assert wait_until(lambda: not (proc_stat(child) and proc_stat(child)[0] != "Z"), 5)
    finally:
        os.kill(daemon, 15)
        wait_until(lambda: proc_stat(daemon) is None, 10)
