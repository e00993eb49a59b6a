"""basic-auth mounts and the Apache combined access log."""

import base64
import datetime
import re
import time

import pytest

from pthttp import Conn, build_request

# IP - user [date] "request line" status bytes "referer" "user-agent"
COMBINED = re.compile(
    r'^(?P<ip>\S+) - (?P<user>\S+) '
    r'\[(?P<date>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] '
    r'"(?P<req>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<bytes>\d+|-) '
    r'"(?P<ref>(?:[^"\\]|\\.)*)" "(?P<ua>(?:[^"\\]|\\.)*)"$')


@pytest.fixture(scope="module")
def srv(portico):
    site = portico.site()
    site.write("a.txt", "hello\n")
    site.write("priv/s.txt", "secret\n")
    htpasswd = site.write("htpasswd", "alice:secret\nbob:pw2\ncarol:pa:ss\n",
                          base=site.root)
    mounts = [
        site.mount("/"),
        site.mount("/priv", "file://%s" % (site.docroot / "priv"),
                   **{"basic-auth": str(htpasswd)}),
    ]
    return site.start(vhosts=[site.vhost(mounts=mounts,
                                         **{"access-log": str(site.access_log)})])


def basic(user, pw):
    return "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()


class LogWatch:
    """Collects the access-log lines written after a point."""

    def __init__(self, srv):
        self.srv = srv
        # A line is written when its exchange ends, which can be just after
        # the client has read the response: let the previous test's settle.
        self.start = len(srv.access_lines())
        for _ in range(20):
            time.sleep(0.05)
            n = len(srv.access_lines())
            if n == self.start:
                break
            self.start = n

    def wait(self, n, timeout=3.0):
        lines = self.srv.wait_access_lines(self.start + n, timeout=timeout)
        return lines[self.start:]


# -- basic auth -----------------------------------------------------------------

@pytest.mark.parametrize("auth", [
    None, basic("alice", "wrong"), basic("mallory", "secret"), basic("alice", ""),
    basic("carol", "pa"), "Basic !!!notbase64", "Bearer abc", "Basic",
    "Basic " + base64.b64encode(b"alicesecret").decode(),
])
def test_auth_refused(srv, auth):
    r = srv.get("/priv/s.txt", headers={"Authorization": auth} if auth else None)
    assert r.status == 401, r
    www = r.header("WWW-Authenticate") or ""
    assert www.lower().startswith("basic"), www
    assert "realm=" in www.lower()
    assert b"secret\n" != r.body


@pytest.mark.parametrize("user,pw", [("alice", "secret"), ("bob", "pw2"),
                                     ("carol", "pa:ss")])
def test_auth_accepted(srv, user, pw):
    r = srv.get("/priv/s.txt", headers={"Authorization": basic(user, pw)})
    assert r.status == 200 and r.body == b"secret\n"


def test_auth_scheme_case_insensitive(srv):
    r = srv.get("/priv/s.txt", headers={"Authorization": "basic " + basic(
        "alice", "secret").split()[1]})
    assert r.status == 200


def test_auth_only_on_its_mount(srv):
    assert srv.get("/a.txt").status == 200


def test_auth_401_keeps_connection(srv):
    with Conn(srv.port) as c:
        c.send(build_request("GET", "/priv/s.txt")
               + build_request("GET", "/priv/s.txt",
                               {"Authorization": basic("alice", "secret")}))
        assert c.read_response().status == 401
        assert c.read_response().body == b"secret\n"


# -- access log -------------------------------------------------------------------

def test_access_log_combined_line(srv):
    w = LogWatch(srv)
    srv.get("/a.txt", headers={"Referer": "http://ref.example/p",
                               "User-Agent": "test-agent/1.0"})
    lines = w.wait(1)
    assert len(lines) == 1, lines
    m = COMBINED.match(lines[0])
    assert m, lines[0]
    assert m["ip"] == "127.0.0.1"
    assert m["user"] == "-"
    assert m["req"] == "GET /a.txt HTTP/1.1"
    assert m["status"] == "200"
    assert m["bytes"] == "6"
    assert m["ref"] == "http://ref.example/p"
    assert m["ua"] == "test-agent/1.0"
    when = datetime.datetime.strptime(m["date"], "%d/%b/%Y:%H:%M:%S %z")
    assert abs(when.timestamp() - time.time()) < 60, m["date"]


def test_access_log_missing_fields_are_dashes(srv):
    w = LogWatch(srv)
    with Conn(srv.port) as c:
        c.send(b"GET /a.txt?x=1&y=2 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        c.read_response()
    m = COMBINED.match(w.wait(1)[0])
    assert m
    assert m["req"] == "GET /a.txt?x=1&y=2 HTTP/1.1"
    assert m["ref"] == "-" and m["ua"] == "-"


def test_access_log_one_line_per_request(srv):
    w = LogWatch(srv)
    with Conn(srv.port) as c:
        c.send(build_request("GET", "/a.txt") + build_request("GET", "/nope")
               + build_request("HEAD", "/a.txt") + build_request("POST", "/a.txt"))
        for m in ("GET", "GET", "HEAD", "POST"):
            c.read_response(m)
    time.sleep(0.3)
    lines = w.wait(4)
    assert len(lines) == 4, lines
    ms = [COMBINED.match(ln) for ln in lines]
    assert all(ms), lines
    assert [(m["req"], m["status"]) for m in ms] == [
        ("GET /a.txt HTTP/1.1", "200"), ("GET /nope HTTP/1.1", "404"),
        ("HEAD /a.txt HTTP/1.1", "200"), ("POST /a.txt HTTP/1.1", "405")]
    assert ms[2]["bytes"] in ("0", "-")


def test_access_log_user(srv):
    w = LogWatch(srv)
    srv.get("/priv/s.txt", headers={"Authorization": basic("alice", "secret")})
    srv.get("/priv/s.txt", headers={"Authorization": basic("alice", "nope")})
    lines = w.wait(2)
    ms = [COMBINED.match(ln) for ln in lines]
    assert all(ms), lines
    assert ms[0]["user"] == "alice" and ms[0]["status"] == "200"
    assert ms[1]["status"] == "401"
    assert ms[1]["user"] in ("-", "alice")


def test_access_log_http10(srv):
    w = LogWatch(srv)
    with Conn(srv.port) as c:
        c.send(b"GET /a.txt HTTP/1.0\r\n\r\n")
        c.read_response()
    m = COMBINED.match(w.wait(1)[0])
    assert m and m["req"] == "GET /a.txt HTTP/1.0"


def test_access_log_escapes_quotes(srv):
    """A quote in a logged header must not end the field (Apache writes
    \\", nginx \\x22; either keeps the line parseable)."""
    w = LogWatch(srv)
    srv.get("/a.txt", headers={"User-Agent": 'evil" 200 "x', "Referer": "a\\b"})
    line = w.wait(1)[0]
    m = COMBINED.match(line)
    assert m, line
    assert m["status"] == "200"
    assert m["ua"] in ('evil\\" 200 \\"x', 'evil\\x22 200 \\x22x'), line


def test_access_log_range_bytes(srv):
    w = LogWatch(srv)
    srv.get("/a.txt", headers={"Range": "bytes=0-1"})
    m = COMBINED.match(w.wait(1)[0])
    assert m and m["status"] == "206" and m["bytes"] == "2"
