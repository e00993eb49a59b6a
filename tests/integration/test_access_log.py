"""Access log formats (json, format strings), the global access-log, files
shared by vhosts, what refused requests log, HTTP/2 and TLS lines, and
SIGUSR1 reopening; the long command-line options."""

import base64
import concurrent.futures
import datetime
import json
import os
import re
import signal
import time

import pytest

import curlh2
import h2frames
from certs import certs_fixture, tls_conn, tls_vhost  # noqa: F401 (fixture)
from pthttp import Conn
from ptserver import REPO, run_cli

CUSTOM = ('%h %l %u %t "%r" %>s %b %B %D %T %v %H %m %U %q '
          '"%{X-Test}i" "%{Referer}i" "%{User-Agent}i" %%')
GLOBAL_FMT = 'global %v %H "%r" %>s %B'
JSON_KEYS = {"time", "vhost", "peer_ip", "peer_port", "method", "target",
             "raw_request_line", "protocol", "status", "bytes_sent",
             "request_time_us", "tls", "user", "referer", "user_agent",
             "upstream_addr", "upstream_time_us"}
COMBINED = re.compile(
    r'^(?P<ip>\S+) - (?P<user>\S+) \[[^\]]+\] "(?P<req>(?:[^"\\]|\\.)*)" '
    r'(?P<status>\d{3}) (?P<bytes>\d+) "(?P<ref>(?:[^"\\]|\\.)*)" '
    r'"(?P<ua>(?:[^"\\]|\\.)*)"$')


@pytest.fixture(scope="module")
def srv(portico, bk, certs):
    site = portico.site("alog")
    site.write("a.txt", "hello\n")
    site.write("priv/s.txt", "secret\n")
    htpasswd = site.write("htpasswd", "alice:secret\n", base=site.root)
    plain_port, tls_port = site.new_port(), site.new_port()
    mounts = [
        site.mount("/"),
        site.mount("/priv", "file://%s" % (site.docroot / "priv"),
                   **{"basic-auth": str(htpasswd)}),
        {"mountpoint": "/api", "origin": "http://%s/app" % bk.host},
    ]
    log = lambda name: str(site.root / name)  # noqa: E731
    vhosts = [
        site.vhost("json.test", mounts=mounts, **{"access-log": log("json.log"),
                                                  "access-log-format": "json"}),
        site.vhost("custom.test", **{"access-log": log("custom.log"),
                                     "access-log-format": CUSTOM}),
        site.vhost("nolog.test"),
        site.vhost("nolog-json.test", **{"access-log-format": "json"}),
        # One file by two names (one relative to the configuration).
        site.vhost("shared-a.test", **{"access-log": "./shared.log"}),
        site.vhost("shared-b.test", **{"access-log": log("shared.log")}),
        site.vhost("plain.test", port=plain_port,
                   **{"access-log": log("plain.log"), "access-log-format": "combined"}),
        tls_vhost(site, "localhost", certs.local_cert, certs.local_key, tls_port,
                  **{"access-log": log("json.log"), "access-log-format": "json"}),
    ]
    s = site.start(vhosts=vhosts, global_={
        "count-threads": 2, "access-log": log("global.log"),
        "access-log-format": GLOBAL_FMT})
    s.plain_port, s.tls_port, s.bk = plain_port, tls_port, bk
    return s


class Log:
    """The lines one file gets from now on."""

    def __init__(self, srv, name):
        self.srv, self.path = srv, srv.site.root / name
        self.start = self._settled()

    def _settled(self):
        # A line is written when its exchange ends, possibly just after the
        # client has its response: let earlier ones land first.
        n = len(self.srv.access_lines(self.path))
        for _ in range(20):
            time.sleep(0.05)
            m = len(self.srv.access_lines(self.path))
            if m == n:
                break
            n = m
        return n

    def wait(self, n, timeout=3.0):
        lines = self.srv.wait_access_lines(self.start + n, self.path, timeout)
        return lines[self.start:]

    def json(self, n):
        lines = self.wait(n)
        assert len(lines) == n, lines
        return [json.loads(ln) for ln in lines]


def get(srv, host, target="/a.txt", port=None, **headers):
    headers["Host"] = host
    return srv.get(target, port=port or srv.port, headers=headers)


def basic(user, pw):
    return "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()


# -- json -----------------------------------------------------------------------

def check_time(t):
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", t), t
    when = datetime.datetime.fromisoformat(t)
    assert abs(when.timestamp() - time.time()) < 60, t


def test_json_line(srv):
    w = Log(srv, "json.log")
    t0 = time.time()
    with Conn(srv.port) as c:
        c.send(b"GET /a.txt?q=1 HTTP/1.1\r\nHost: json.test\r\nReferer: http://r/\"x\r\n"
               b"User-Agent: ua\t\xff/1\r\n\r\n")
        assert c.read_response().status == 200
        port = c.sock.getsockname()[1]
    [j] = w.json(1)
    assert set(j) == JSON_KEYS, j
    check_time(j["time"])
    assert j["vhost"] == "json.test"
    assert j["peer_ip"] == "127.0.0.1" and j["peer_port"] == port
    assert j["method"] == "GET" and j["target"] == "/a.txt?q=1"
    assert j["raw_request_line"] is None
    assert j["protocol"] == "HTTP/1.1"
    assert j["status"] == 200 and j["bytes_sent"] == 6
    assert isinstance(j["request_time_us"], int)
    assert 0 <= j["request_time_us"] < (time.time() - t0) * 1e6 + 1000
    assert j["tls"] is None and j["user"] is None
    assert j["referer"] == 'http://r/"x'
    assert j["user_agent"] == "ua\t\u00ff/1"   # the stray byte as \u00ff
    assert j["upstream_addr"] is None and j["upstream_time_us"] is None


def test_json_user_and_status(srv):
    w = Log(srv, "json.log")
    assert get(srv, "json.test", "/priv/s.txt",
               Authorization=basic("alice", "secret")).status == 200
    assert get(srv, "json.test", "/nope").status == 404
    # Each line is written as its exchange ends, which on another worker
    # may come after the next one's: match them by status, not order.
    a, b = sorted(w.json(2), key=lambda j: j["status"])
    assert a["user"] == "alice" and a["status"] == 200 and a["bytes_sent"] == 7
    assert b["user"] is None and b["status"] == 404 and b["target"] == "/nope"


def test_json_proxied(srv):
    w = Log(srv, "json.log")
    r = get(srv, "json.test", "/api/slow?t=0.2")
    assert r.status == 200
    [j] = w.json(1)
    assert j["target"] == "/api/slow?t=0.2"
    assert j["upstream_addr"] == srv.bk.host, j
    assert 200000 <= j["upstream_time_us"] <= j["request_time_us"], j
    assert j["bytes_sent"] == len(r.body)


def test_json_http2(srv):
    url = "http://127.0.0.1:%d/a.txt" % srv.port
    if not curlh2.h2_available(url):
        pytest.skip("no cleartext HTTP/2 client")
    w = Log(srv, "json.log")
    r = curlh2.fetch(url, headers={"Host": "json.test", "User-Agent": "h2-agent"})
    assert r.rc == 0 and r.status == 200
    [j] = w.json(1)
    assert j["protocol"] == "HTTP/2" and j["method"] == "GET" and j["target"] == "/a.txt"
    assert j["vhost"] == "json.test" and j["user_agent"] == "h2-agent"
    assert j["status"] == 200 and j["bytes_sent"] == 6


def test_json_tls(srv, certs):
    w = Log(srv, "json.log")
    with tls_conn(srv.tls_port, certs, sni="localhost") as c:
        c.send(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert c.read_response().status == 200
        version = c.sock.version()
    [j] = w.json(1)
    assert j["tls"] == version and version.startswith("TLSv"), j
    assert j["vhost"] == "localhost"


def test_json_malformed(srv):
    w = Log(srv, "json.log")
    with Conn(srv.port) as c:
        c.send(b"\r\nGET /x\x01\"y HTTP/1.1\r\nHost: json.test\r\n\r\n")
        assert c.read_response().status == 400
    [j] = w.json(1)
    assert j["method"] is None and j["target"] is None
    assert j["raw_request_line"] == 'GET /x\x01"y HTTP/1.1'
    assert j["status"] == 400 and j["vhost"] == "json.test"


def test_json_malformed_http2(srv):
    """A stream nghttp2 resets for a malformed head is logged (as 400)."""
    w = Log(srv, "json.log")
    with h2frames.RawH2(srv.port) as c:
        c.handshake()
        c.request(1, path="/bad?x", authority="json.test", extra=[("X-TEST", "ok")])
        c.read_until(lambda f: f.type == h2frames.RST_STREAM and f.sid == 1)
    [j] = w.json(1)
    assert j["protocol"] == "HTTP/2" and j["status"] == 400
    assert j["method"] == "GET" and j["target"] == "/bad?x"


# -- format strings -------------------------------------------------------------

def test_custom_format(srv):
    w = Log(srv, "custom.log")
    with Conn(srv.port) as c:
        c.send(b"GET /a.txt?k=v HTTP/1.1\r\nHost: custom.test\r\nX-Test: q\"\\\xff\r\n"
               b"User-Agent: u/1\r\n\r\n")
        assert c.read_response().status == 200
        c.send(b"HEAD /a.txt HTTP/1.1\r\nHost: custom.test\r\n\r\n")
        assert c.read_response("HEAD").status == 200
    a, b = w.wait(2)
    m = re.fullmatch(r'127\.0\.0\.1 - - \[(\d\d/\w{3}/\d{4}:[\d:]{8} \+0000)\] '
                     r'"GET /a\.txt\?k=v HTTP/1\.1" 200 6 6 (\d+) (\d+) custom\.test '
                     r'HTTP/1\.1 GET /a\.txt \?k=v "q\\"\\\\\\xff" "-" "u/1" %', a)
    assert m, a
    assert int(m.group(3)) == int(m.group(2)) // 1000000
    assert re.search(r'\] "HEAD /a\.txt HTTP/1\.1" 200 - 0 \d+ \d+ custom\.test HTTP/1\.1 '
                     r'HEAD /a\.txt  "-" "-" "-" %$', b), b


# -- the global access-log and shared files -------------------------------------

def test_global_log_catches_vhost_without_one(srv):
    w = Log(srv, "global.log")
    j = Log(srv, "json.log")
    assert get(srv, "nolog.test").status == 200
    assert get(srv, "nolog-json.test", "/nope").status == 404
    a, b = w.wait(2)
    assert a == 'global nolog.test HTTP/1.1 "GET /a.txt HTTP/1.1" 200 6', a
    # Its own format, in the global file.
    b = json.loads(b)
    assert b["vhost"] == "nolog-json.test" and b["status"] == 404
    time.sleep(0.2)
    assert j.wait(0) == []   # not in another vhost's file


def open_fds(srv, name):
    target = str(srv.site.root / name)
    fd_dir = "/proc/%d/fd" % srv.pid
    n = 0
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, fd)) == target:
                n += 1
        except OSError:
            pass
    return n


def test_shared_file_opened_once(srv):
    assert open_fds(srv, "shared.log") == 1
    assert open_fds(srv, "global.log") == 1
    assert open_fds(srv, "json.log") == 1   # a plaintext and a TLS vhost


def test_shared_file_lines_whole(srv):
    w = Log(srv, "shared.log")
    big = "x" * 3000

    def one(i):
        host = "shared-a.test" if i % 2 else "shared-b.test"
        return get(srv, host, "/a.txt?%d" % i, Referer=big).status

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        assert set(ex.map(one, range(200))) == {200}
    lines = w.wait(200)
    assert len(lines) == 200
    seen = set()
    for ln in lines:
        m = re.fullmatch(r'global (shared-[ab])\.test HTTP/1\.1 "GET /a\.txt\?(\d+) '
                         r'HTTP/1\.1" 200 6', ln)
        assert m, ln[:200]
        seen.add(int(m.group(2)))
        assert (m.group(1) == "shared-a") == (int(m.group(2)) % 2 == 1)
    assert seen == set(range(200))


# -- refused requests in the combined format ------------------------------------

@pytest.mark.parametrize("raw,want", [
    (b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", r"GET /a\x01b HTTP/1.1"),
    (b"BAD\"LINE\r\n\r\n", r'BAD\"LINE'),
    (b"GET /a.txt HTTP/1.1\r\nHost : x\r\n\r\n", "GET /a.txt HTTP/1.1"),
    (b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\n\r\n", "GET /" + "a" * 1019),
])
def test_combined_malformed_logs_what_was_received(srv, raw, want):
    w = Log(srv, "plain.log")
    with Conn(srv.plain_port) as c:
        c.send(raw)
        assert c.read_response().status in (400, 414)
    [line] = w.wait(1)
    m = COMBINED.match(line)
    assert m, line
    assert m["req"] == want, line
    assert m["status"] in ("400", "414")


def test_combined_is_unchanged(srv):
    w = Log(srv, "plain.log")
    assert get(srv, "plain.test", port=srv.plain_port, Referer="r",
               **{"User-Agent": "ua"}).status == 200
    [line] = w.wait(1)
    m = COMBINED.match(line)
    assert m and m["req"] == "GET /a.txt HTTP/1.1" and m["bytes"] == "6", line
    assert (m["ref"], m["ua"]) == ("r", "ua")


# -- reopen -----------------------------------------------------------------------

def test_sigusr1_reopens_global_and_shared(srv):
    root = srv.site.root
    for name in ("global.log", "shared.log"):
        os.rename(root / name, root / (name + ".1"))
    off = srv.log_size()
    srv.send_signal(signal.SIGUSR1)
    assert "reopened" in srv.wait_log(off, "reopened")
    assert get(srv, "nolog.test").status == 200
    assert get(srv, "shared-b.test").status == 200
    assert srv.wait_access_lines(1, root / "global.log") == [
        'global nolog.test HTTP/1.1 "GET /a.txt HTTP/1.1" 200 6']
    assert srv.wait_access_lines(1, root / "shared.log") == [
        'global shared-b.test HTTP/1.1 "GET /a.txt HTTP/1.1" 200 6']
    assert open_fds(srv, "shared.log") == 1


# -- configuration errors ----------------------------------------------------------

def config_check(site, vhost_kw, global_kw=None):
    site.write_config(vhosts=[site.vhost(**vhost_kw)], global_=global_kw)
    rc, out, err = run_cli(["-t", "-c", str(site.root)])
    return rc, out + err


@pytest.mark.parametrize("fmt,want", [
    ("%h %Q", r'"%Q" at character 4'),
    ("%{Referer}x", r"%\{NAME\}i"),
    ("trailing %", r"lone '%'"),
])
def test_bad_format_is_an_error_at_its_place(portico, fmt, want):
    site = portico.site("badfmt")
    rc, text = config_check(site, {"access-log": "a.log", "access-log-format": fmt})
    assert rc == 1, text
    m = re.search(r"10-vhosts:(\d+):(\d+): .*access-log-format.*", text)
    assert m and re.search(want, m.group(0)), text
    line = (site.confd / "10-vhosts").read_text().splitlines()[int(m.group(1)) - 1]
    assert '"access-log-format"' in line, line


def test_bad_global_format_and_log(portico):
    """Each reported once, at the global key, however many vhosts use it."""
    site = portico.site("badglobal")
    site.write_config(vhosts=[site.vhost("a"), site.vhost("b")], global_={
        "access-log-format": "%z", "access-log": "/nonexistent/dir/g.log"})
    rc, out, err = run_cli(["-t", "-c", str(site.root)])
    text = out + err
    assert rc == 1, text
    assert re.search(r"/conf:\d+:\d+: .*access-log-format.*%z", text), text
    assert len(re.findall(r"/conf:\d+:\d+: .*cannot open", text)) == 1, text


# -- the command line ---------------------------------------------------------------

def test_long_help():
    rc, out, err = run_cli(["--help"])
    assert rc == 0
    for opt in ("--config", "--test", "--daemon", "--signal", "--log-level",
                "--help", "--version", "-c", "-l"):
        assert opt in out, out


def test_long_version():
    rc, out, err = run_cli(["--version"])
    assert rc == 0
    ver = re.search(r"project\(portico VERSION ([0-9.]+)",
                    (REPO / "CMakeLists.txt").read_text()).group(1)
    assert out.startswith("portico %s\n" % ver), out
    for lib in ("OpenSSL 3", "nghttp2 1.", "zlib 1.", "libev 4.", "PCRE2 10.",
                "jansson 2."):
        assert lib in out, out
    assert run_cli(["-v"])[1] == out


def test_long_config_test_and_level(portico):
    site = portico.site("longopts")
    site.write_config()
    for args in (["--test", "--config", str(site.root)],
                 ["--test", "--config=%s" % site.root, "--log-level", "warning"],
                 ["-t", "-c", str(site.root), "-l", "warning"],
                 ["--test", "--config", str(site.root), "--log-level=debug"]):
        rc, out, err = run_cli(args)
        assert rc == 0 and "is valid" in out, (args, out, err)
    rc, out, err = run_cli(["--test", "--config", str(site.root), "--log-level", "loud"])
    assert rc == 2 and "loud" in err
    rc, out, err = run_cli(["--bogus"])
    assert rc == 2 and "usage" in err


def test_warning_level_runs(portico):
    site = portico.site("warnlevel")
    site.write("a.txt", "hello\n")
    s = site.start(log_level=None, args=["--log-level", "warning"])
    assert s.get("/a.txt").body == b"hello\n"
    time.sleep(0.2)
    assert "[notice]" not in s.log(), s.log()


def test_signal_long_option(portico):
    site = portico.site("sig")
    site.write("a.txt", "hello\n")
    pid_file = site.root / "pid"
    s = site.start(global_={"pid-file": str(pid_file)})
    rc, out, err = run_cli(["--config", str(site.root), "--signal", "reopen"])
    assert rc == 0, err
    assert "reopened" in s.wait_log(0, "reopened")
