"""Starting and stopping portico for the integration tests.

A Site is a temporary directory laid out the way `portico -c DIR` expects
(DIR/conf, DIR/conf.d/, plus a docroot), with free loopback ports chosen up
front.  Site.start() writes the configuration and returns a running Server.
The factory (the `portico` fixture in conftest.py) stops every server at
the end of the module and checks it exited 0 with no sanitizer reports.
"""

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pthttp

REPO = Path(__file__).resolve().parents[2]

SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "runtime error:",
                      "LeakSanitizer", "ERROR: UndefinedBehaviorSanitizer")


def portico_bin():
    return os.environ.get("PORTICO_BIN") or str(REPO / "build" / "portico")


def sanitize_enabled():
    return os.environ.get("PORTICO_SANITIZE") == "1"


def sanitizer_lines(text):
    return [ln for ln in text.splitlines()
            if any(p in ln for p in SANITIZER_PATTERNS)]


def child_env():
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    return env


def free_port():
    """Binds port 0 on loopback and releases it.  A tiny race remains, which
    is acceptable on a test machine."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_cli(args, cwd=None, timeout=30):
    """Runs portico to completion; returns (rc, stdout, stderr).  Sanitizer
    reports fail the caller's test."""
    p = subprocess.run([portico_bin()] + list(args), cwd=cwd, env=child_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    bad = sanitizer_lines(out + err)
    assert not bad, "sanitizer report from %r:\n%s" % (args, err)
    return p.returncode, out, err


def strip_json_comments(text):
    """Drops `#` comments (outside strings) so Python can read a lwsws file."""
    out, in_str, esc, in_comment = [], False, False, False
    for ch in text:
        if in_comment:
            if ch == "\n":
                in_comment = False
                out.append(ch)
            continue
        if in_str:
            out.append(ch)
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == "#":
            in_comment = True
            continue
        if ch == '"':
            in_str = True
        out.append(ch)
    return "".join(out)


class Site:
    def __init__(self, factory, root):
        self.factory = factory
        self.root = Path(os.path.realpath(root))
        self.confd = self.root / "conf.d"
        self.docroot = self.root / "docroot"
        self.confd.mkdir(parents=True, exist_ok=True)
        self.docroot.mkdir(parents=True, exist_ok=True)
        self.ports = [free_port()]
        self.access_log = self.root / "access.log"

    @property
    def port(self):
        return self.ports[0]

    def new_port(self):
        p = free_port()
        while p in self.ports:
            p = free_port()
        self.ports.append(p)
        return p

    def path(self, rel):
        return self.root / rel

    def write(self, rel, content, base=None):
        """Writes a file below the docroot (or below base)."""
        p = Path(base or self.docroot) / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        p.write_bytes(content)
        return p

    def mount(self, mountpoint="/", origin=None, **kw):
        m = {"mountpoint": mountpoint,
             "origin": origin or "file://%s" % self.docroot}
        m.update(kw)
        return m

    def vhost(self, name="localhost", mounts=None, port=None, **kw):
        v = {"name": name,
             "port": self.port if port is None else port,
             "interface": "127.0.0.1",
             "mounts": mounts if mounts is not None else [self.mount()]}
        v.update(kw)
        return v

    def write_config(self, vhosts=None, global_=None, confd=None):
        """conf gets {"global": ...}; conf.d/ gets one file per entry of
        confd ({name: [vhost, ...] or raw text}), or 10-vhosts with vhosts."""
        g = {"count-threads": 1}
        g.update(global_ or {})
        (self.root / "conf").write_text(json.dumps({"global": g}, indent=2) + "\n")
        if confd is None:
            confd = {"10-vhosts": vhosts if vhosts is not None else [self.vhost()]}
        for name, content in confd.items():
            if not isinstance(content, str):
                content = json.dumps({"vhosts": content}, indent=2) + "\n"
            (self.confd / name).write_text(content)

    def start(self, vhosts=None, global_=None, confd=None, log_level="info",
              args=(), wait_ports=None, cwd=None, write=True):
        if write:
            self.write_config(vhosts, global_, confd)
        return self.factory.launch(self, log_level, args, wait_ports, cwd=cwd)


class Server:
    def __init__(self, site, proc, stderr_path, cmd):
        self.site = site
        self.proc = proc
        self.stderr_path = stderr_path
        self.cmd = cmd
        self.rc = None
        self.checked = False

    @property
    def port(self):
        return self.site.port

    @property
    def pid(self):
        return self.proc.pid

    def url(self, path="/", port=None):
        return "http://127.0.0.1:%d%s" % (port or self.port, path)

    def log(self):
        return self.stderr_path.read_bytes().decode("utf-8", "replace")

    def log_size(self):
        return self.stderr_path.stat().st_size

    def log_since(self, offset):
        with open(self.stderr_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def wait_log(self, offset, pattern, timeout=2.0):
        """Waits until the log past offset matches the regex; returns the
        text past offset (matching or not, the caller asserts)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_since(offset)
            if re.search(pattern, text) or time.monotonic() > deadline:
                return text
            time.sleep(0.05)

    def access_lines(self, path=None):
        p = Path(path or self.site.access_log)
        if not p.exists():
            return []
        return p.read_text("utf-8", "replace").splitlines()

    def wait_access_lines(self, n, path=None, timeout=3.0):
        deadline = time.monotonic() + timeout
        while True:
            lines = self.access_lines(path)
            if len(lines) >= n or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def alive(self):
        return self.proc.poll() is None

    def _dead(self):
        """Turns 'connection refused' into the real story: a crash."""
        if self.proc.poll() is not None:
            raise AssertionError("portico is not running (exit %s); stderr tail:\n%s"
                                 % (self.proc.returncode, self.log()[-3000:]))

    def conn(self, port=None, **kw):
        try:
            return pthttp.Conn(port or self.port, **kw)
        except ConnectionRefusedError:
            self._dead()
            raise

    def get(self, target="/", **kw):
        port = kw.pop("port", None) or self.port
        try:
            return pthttp.fetch(port, target, **kw)
        except (ConnectionRefusedError, pthttp.ConnectionClosed):
            self._dead()
            raise

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        """Waits for exit; returns the exit code or None on timeout."""
        try:
            self.rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.rc

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Graceful stop; returns the exit code (kills and fails on hang)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            if self.wait(timeout) is None:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("portico did not exit %ds after %s"
                                     % (timeout, signal.Signals(sig).name))
        self.rc = self.proc.returncode
        return self.rc

    def check_exit(self):
        """The teardown contract: exit code 0 and no sanitizer reports."""
        self.checked = True
        rc = self.stop()
        text = self.log()
        bad = sanitizer_lines(text)
        assert not bad, "sanitizer reports in portico stderr:\n%s" % text[-8000:]
        assert rc == 0, "portico exited with %r; stderr tail:\n%s" % (
            rc, text[-4000:])


class Factory:
    def __init__(self, tmp_path_factory, name):
        self.tmp = tmp_path_factory
        self.name = re.sub(r"[^A-Za-z0-9_]", "_", name)[-40:]
        self.servers = []

    def site(self, name=None):
        return Site(self, self.tmp.mktemp(name or self.name))

    def launch(self, site, log_level="info", args=(), wait_ports=None,
               timeout=10.0, cwd=None):
        binary = portico_bin()
        if not os.path.exists(binary):
            raise AssertionError("portico binary not found at %s (set PORTICO_BIN)"
                                 % binary)
        cmd = [binary, "-c", str(site.root)]
        if log_level:
            cmd += ["-l", log_level]
        cmd += list(args)
        stderr_path = site.root / "stderr.log"
        errf = open(stderr_path, "ab")
        proc = subprocess.Popen(cmd, cwd=str(cwd or site.root), env=child_env(),
                                stdin=subprocess.DEVNULL,
                                stdout=errf, stderr=errf)
        errf.close()
        srv = Server(site, proc, stderr_path, cmd)
        self.servers.append(srv)
        ports = wait_ports if wait_ports is not None else site.ports
        deadline = time.monotonic() + timeout
        for port in ports:
            while True:
                if proc.poll() is not None:
                    raise AssertionError("portico exited early (rc %s):\n%s"
                                         % (proc.returncode, srv.log()[-4000:]))
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        proc.kill()
                        proc.wait()
                        raise AssertionError("portico did not listen on %d within"
                                             " %.0fs:\n%s" % (port, timeout,
                                                             srv.log()[-4000:]))
                    time.sleep(0.05)
        return srv

    def finish(self):
        errors = []
        for srv in self.servers:
            if srv.checked:
                continue
            try:
                srv.check_exit()
            except AssertionError as e:
                errors.append(str(e))
        assert not errors, "\n\n".join(errors)
