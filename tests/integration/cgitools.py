"""Helpers for the CGI tests: writing CGI programs, curl over HTTP/1.1 or
HTTP/2 (prior knowledge), and /proc checks on processes.

Every CGI test that makes sense over both protocols is parametrized with
PROTOCOLS; the h2 variant skips itself while the server cannot negotiate
HTTP/2 (probed once per server with curl), so it switches on by itself
when HTTP/2 lands.
"""

import os
import re
import signal
import subprocess
import tempfile
import time

import pytest

from fields import Fields

PROTOCOLS = ["h1", "h2"]
PY = "/usr/bin/python3"

_h2_probe = {}


def write_program(site, name, text):
    """Writes an executable CGI program below site.root/cgi-bin."""
    p = site.root / "cgi-bin" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    p.chmod(0o755)
    return p


def h2_available(srv):
    key = (srv.port, srv.pid)
    if key not in _h2_probe:
        try:
            p = subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", "5",
                                "-w", "%{http_version}", "--http2-prior-knowledge",
                                srv.url("/")], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, timeout=10)
            _h2_probe[key] = p.stdout.strip() == b"2"
        except subprocess.TimeoutExpired:
            _h2_probe[key] = False
    return _h2_probe[key]


def need(proto, srv):
    if proto == "h2" and not h2_available(srv):
        pytest.skip("h2 not available yet")


def proto_args(proto):
    return ["--http1.1"] if proto == "h1" else ["--http2-prior-knowledge"]


class Response(Fields):
    def __init__(self, status, version, headers, body, rc):
        self.status = status
        self.version = version
        self.headers = headers      # [(name, value)] of the final response
        self.body = body
        self.rc = rc                # curl's exit code

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<Response %s %r %d bytes rc=%d>" % (self.status, self.headers,
                                                    len(self.body), self.rc)


def parse_dump(raw):
    """The last response head of a curl -D dump (1xx heads come first)."""
    text = raw.decode("latin-1")
    blocks = [b for b in re.split(r"\r?\n\r?\n", text) if b.strip()]
    if not blocks:
        return 0, "", []
    lines = blocks[-1].splitlines()
    m = re.match(r"^HTTP/(\S+) (\d{3})", lines[0])
    assert m, "bad status line %r" % lines[0]
    headers = []
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers.append((k.strip(), v.strip()))
    return int(m.group(2)), m.group(1), headers


def curl(srv, proto, path, method=None, headers=(), data=None, data_file=None,
         timeout=60, extra=(), check=True):
    """One request with curl; returns a Response.  check: fail unless curl
    got a complete response."""
    with tempfile.TemporaryDirectory() as d:
        hdr, body = os.path.join(d, "h"), os.path.join(d, "b")
        args = ["curl", "-sS", "--max-time", str(timeout), "-D", hdr, "-o", body]
        args += proto_args(proto)
        if method:
            args += ["-X", method] if method != "HEAD" else ["-I"]
        for h in headers:
            args += ["-H", h]
        if data is not None:
            src = os.path.join(d, "data")
            with open(src, "wb") as f:
                f.write(data if isinstance(data, bytes) else data.encode())
            args += ["--data-binary", "@" + src]
        if data_file is not None:
            args += ["--data-binary", "@" + str(data_file)]
        args += list(extra)
        args.append(srv.url(path))
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout + 10)
        raw = open(hdr, "rb").read() if os.path.exists(hdr) else b""
        data_out = open(body, "rb").read() if os.path.exists(body) else b""
        if method == "HEAD":
            data_out = b""  # curl -I writes the head there; HEAD has no body
    status, version, hdrs = parse_dump(raw)
    if check:
        assert p.returncode == 0, "curl failed (%d): %s" % (
            p.returncode, p.stderr.decode("utf-8", "replace"))
        if proto == "h2":
            assert version == "2", "not HTTP/2: %r" % version
    return Response(status, version, hdrs, data_out, p.returncode)


# ---- processes ------------------------------------------------------------


def proc_stat(pid):
    """(state, ppid, pgrp) of a process, or None when it does not exist."""
    try:
        s = open("/proc/%d/stat" % pid).read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    f = s[s.rindex(")") + 2:].split()
    return f[0], int(f[1]), int(f[2])


def children(pid):
    """[(pid, state)] of the processes whose parent is pid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        st = proc_stat(int(d))
        if st and st[1] == pid:
            out.append((int(d), st[0]))
    return out


def zombies(pid):
    return [c for c, state in children(pid) if state == "Z"]


def fds(pid):
    """Descriptor numbers -> targets of a process."""
    out = {}
    base = "/proc/%d/fd" % pid
    for n in os.listdir(base):
        try:
            out[int(n)] = os.readlink(os.path.join(base, n))
        except OSError:
            pass
    return out


def pgroup_alive(pgid):
    """Whether a process group has a member that is not a zombie (members
    orphaned by the kill are reaped by init, at its own pace)."""
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[2] == pgid and st[0] != "Z":
                return True
    return False


def wait_until(pred, timeout=5.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)


def read_pid(path, timeout=5.0):
    def get():
        try:
            t = open(path).read().strip()
            return int(t) if t else None
        except (FileNotFoundError, ValueError):
            return None
    pid = wait_until(get, timeout)
    assert pid, "the CGI program did not write %s" % path
    return pid


def kill_quietly(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def rss_kb(pid):
    for ln in open("/proc/%d/status" % pid):
        if ln.startswith("VmRSS:"):
            return int(ln.split()[1])
    return 0


def h2_post(port, path, data, timeout=60.0, headers=()):
    """POST data over HTTP/2 (prior knowledge) with python3-h2, honouring
    flow control, and going on sending after the response has ended (a
    server may answer early).  Returns (status, body, sent, reset):
    reset is the RST_STREAM code the server sent, or None."""
    import select
    import socket

    import h2.config
    import h2.connection
    import h2.events

    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setblocking(False)
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    sid = c.get_next_available_stream_id()
    c.send_headers(sid, [(":method", "POST"), (":path", path), (":scheme", "http"),
                         (":authority", "localhost:%d" % port),
                         ("content-length", str(len(data)))] + list(headers))
    status, body, off, reset, ended = None, b"", 0, None, False
    out = c.data_to_send()
    deadline = time.monotonic() + timeout
    try:
        # done: reset, or the response ended and every byte is out
        while reset is None and not (ended and off == len(data) and not out):
            if time.monotonic() > deadline:
                raise AssertionError("h2_post: no end after %gs (sent %d of %d)"
                                     % (timeout, off, len(data)))
            if off < len(data):
                w = min(c.local_flow_control_window(sid), c.max_outbound_frame_size,
                        len(data) - off)
                if w > 0:
                    c.send_data(sid, data[off:off + w], end_stream=off + w == len(data))
                    off += w
                    out += c.data_to_send()
            r, wr, _ = select.select([s], [s] if out else [], [], 0.5)
            if wr and out:
                out = out[s.send(out):]
            if not r:
                continue
            d = s.recv(1 << 20)
            if not d:
                raise AssertionError("h2_post: the server closed the connection")
            for e in c.receive_data(d):
                if isinstance(e, h2.events.ResponseReceived):
                    status = int(dict(e.headers)[b":status"])
                elif isinstance(e, h2.events.DataReceived):
                    body += e.data
                    c.acknowledge_received_data(e.flow_controlled_length, sid)
                elif isinstance(e, h2.events.StreamReset):
                    reset = e.error_code
                elif isinstance(e, h2.events.StreamEnded):
                    ended = True
            out += c.data_to_send()
    finally:
        s.close()
    return status, body, off, reset
