"""CGI: the RFC 3875 environment and request bodies, with a Python CGI that
echoes its environment, its descriptors and a checksum of its stdin."""

import base64
import hashlib
import json
import os
import time

import pytest

from cgitools import PROTOCOLS, curl, need, write_program
from pthttp import build_request

ECHO = r'''#!/usr/bin/python3
import hashlib, json, os, sys, time
q = os.environ.get("QUERY_STRING", "")
if q.startswith("sleep="):
    time.sleep(float(q[6:]))           # not reading stdin meanwhile
h = hashlib.sha256()
n = 0
head = b""
while True:
    b = sys.stdin.buffer.read1(65536)
    if not b:
        break
    if len(head) < 256:
        head += b[:256 - len(head)]
    h.update(b)
    n += len(b)
fds = sorted(int(x) for x in os.listdir("/proc/self/fd"))
out = json.dumps({"env": dict(os.environ), "len": n, "sha256": h.hexdigest(),
                  "head": head.decode("latin-1"), "fds": fds,
                  "cwd": os.getcwd(), "pid": os.getpid(),
                  "pgid": os.getpgid(0)}).encode()
sys.stdout.buffer.write(b"Content-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(out) + out)
'''

STDERR = '''#!/bin/sh
echo "first complaint" >&2
printf 'partial line without newline' >&2
printf 'Content-Type: text/plain\\n\\nok\\n'
'''

BIG = 50 * 1024 * 1024


@pytest.fixture(scope="module")
def srv(portico):
    site = portico.site()
    site.write("index.html", "index\n")
    echo = write_program(site, "echo.py", ECHO)
    err = write_program(site, "stderr.sh", STDERR)
    (site.root / "users").write_text("alice:wonderland\n")
    mounts = [
        site.mount("/"),
        site.mount("/echo", "cgi://%s" % echo,
                   **{"cgi-env": [{"FOO": "bar"}, {"GIT_PROJECT_ROOT": "/srv/git"}]}),
        site.mount("/private", "cgi://%s" % echo, **{"basic-auth": str(site.root / "users")}),
        site.mount("/stderr", "cgi://%s" % err),
    ]
    return site.start(vhosts=[site.vhost(mounts=mounts)])


@pytest.fixture(scope="module")
def bigfile(tmp_path_factory):
    p = tmp_path_factory.mktemp("cgibig") / "big.bin"
    data = os.urandom(1 << 20) * (BIG >> 20)
    p.write_bytes(data)
    return p, hashlib.sha256(data).hexdigest()


def echo(r):
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/json"
    return json.loads(r.body)


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_environment(srv, proto):
    need(proto, srv)
    r = curl(srv, proto, "/echo/some/path%20x?a=1&b=%41", method="POST",
             headers=["Content-Type: text/x-test", "X-Custom-Header: yes",
                      "Accept: a/b", "Cookie: c=1"], data=b"hello cgi")
    d = echo(r)
    e = d["env"]
    assert e["GATEWAY_INTERFACE"] == "CGI/1.1"
    assert e["SERVER_SOFTWARE"] == "portico"
    assert e["SERVER_NAME"] == "localhost"
    assert e["SERVER_PORT"] == str(srv.port)
    assert e["SERVER_PROTOCOL"] == ("HTTP/1.1" if proto == "h1" else "HTTP/2.0")
    assert e["REQUEST_METHOD"] == "POST"
    assert e["REQUEST_URI"] == "/echo/some/path%20x?a=1&b=%41"
    assert e["SCRIPT_NAME"] == "/echo"
    assert e["PATH_INFO"] == "/some/path x"
    assert e["PATH_TRANSLATED"] == str(srv.site.docroot / "some" / "path x")
    assert e["QUERY_STRING"] == "a=1&b=%41"
    assert e["REMOTE_ADDR"] == "127.0.0.1"
    assert 0 < int(e["REMOTE_PORT"]) < 65536
    assert e["CONTENT_TYPE"] == "text/x-test"
    assert e["CONTENT_LENGTH"] == "9"
    assert e["HTTP_X_CUSTOM_HEADER"] == "yes"
    assert e["HTTP_ACCEPT"] == "a/b"
    assert e["HTTP_COOKIE"] == "c=1"
    assert e["HTTP_HOST"] == "127.0.0.1:%d" % srv.port
    assert e["SCRIPT_FILENAME"] == str(srv.site.root / "cgi-bin" / "echo.py")
    assert e["FOO"] == "bar" and e["GIT_PROJECT_ROOT"] == "/srv/git"
    assert "HTTPS" not in e
    assert "AUTH_TYPE" not in e and "REMOTE_USER" not in e
    assert "HTTP_CONTENT_TYPE" not in e and "HTTP_CONTENT_LENGTH" not in e
    assert d["len"] == 9 and d["head"] == "hello cgi"
    # the program runs in its own directory, in its own process group
    assert d["cwd"] == str(srv.site.root / "cgi-bin")
    assert d["pgid"] == d["pid"]


def test_only_fixed_server_environment(srv):
    # portico runs with the test runner's whole environment; the program
    # sees only the documented few of it.
    d = echo(curl(srv, "h1", "/echo"))
    allowed = {"PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES",
               "TZ", "TMPDIR", "FOO", "GIT_PROJECT_ROOT", "GATEWAY_INTERFACE",
               "SERVER_SOFTWARE", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL",
               "REQUEST_METHOD", "REQUEST_URI", "REQUEST_SCHEME", "SCRIPT_NAME",
               "SCRIPT_FILENAME", "QUERY_STRING", "REMOTE_ADDR", "REMOTE_PORT",
               "PATH_INFO", "PATH_TRANSLATED"}
    extra = {k for k in d["env"] if k not in allowed and not k.startswith("HTTP_")}
    # Python itself may add LC_CTYPE coercion; nothing else
    assert extra <= {"LC_CTYPE"}, extra
    assert "ASAN_OPTIONS" not in d["env"] and "HOME" not in d["env"]
    assert "PATH" in d["env"]
    assert d["env"]["QUERY_STRING"] == ""
    assert "PATH_INFO" not in d["env"] and "CONTENT_LENGTH" not in d["env"]


def test_only_standard_descriptors(srv):
    # 0-2 plus the one listdir itself opens: nothing of portico leaks
    d = echo(curl(srv, "h1", "/echo"))
    assert d["fds"] == [0, 1, 2, 3], d["fds"]


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_httpoxy_and_odd_header_names(srv, proto):
    need(proto, srv)
    r = curl(srv, proto, "/echo", headers=["Proxy: http://evil.example:3128",
                                           "X_Under: smuggled", "X-Fine: 1",
                                           "Proxy-Authorization: Basic eDp5"])
    e = echo(r)["env"]
    assert "HTTP_PROXY" not in e
    assert "HTTP_PROXY_AUTHORIZATION" not in e
    assert "HTTP_X_UNDER" not in e
    assert e["HTTP_X_FINE"] == "1"


def test_repeated_headers_joined(srv):
    raw = build_request("GET", "/echo", headers=[("Accept", "a/b"), ("X-Dup", "1"),
                                                 ("accept", "c/d"), ("X-Dup", "2")])
    with srv.conn() as c:
        c.send(raw)
        r = c.read_response()
    e = json.loads(r.body)["env"]
    assert e["HTTP_ACCEPT"] == "a/b, c/d"
    assert e["HTTP_X_DUP"] == "1, 2"


def test_http10_and_absolute_form(srv):
    with srv.conn() as c:
        c.send(b"GET http://localhost/echo/x?y HTTP/1.0\r\nHost: localhost\r\n\r\n")
        r = c.read_response()
    e = json.loads(r.body)["env"]
    assert e["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert e["REQUEST_URI"] == "/echo/x?y"
    assert e["PATH_INFO"] == "/x"


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_basic_auth_user(srv, proto):
    need(proto, srv)
    r = curl(srv, proto, "/private/p", check=False)
    assert r.status == 401
    r = curl(srv, proto, "/private/p", extra=["-u", "alice:wonderland"])
    e = echo(r)["env"]
    assert e["AUTH_TYPE"] == "Basic"
    assert e["REMOTE_USER"] == "alice"
    assert "HTTP_AUTHORIZATION" not in e   # checked by portico: not passed on
    assert e["SCRIPT_NAME"] == "/private"


def test_authorization_passed_without_portico_auth(srv):
    cred = base64.b64encode(b"u:p").decode()
    e = echo(curl(srv, "h1", "/echo", headers=["Authorization: Basic " + cred]))["env"]
    assert e["HTTP_AUTHORIZATION"] == "Basic " + cred
    assert "REMOTE_USER" not in e


# ---- request bodies ------------------------------------------------------------

@pytest.mark.parametrize("proto", PROTOCOLS)
def test_big_upload_streamed(srv, proto, bigfile):
    need(proto, srv)
    path, digest = bigfile
    r = curl(srv, proto, "/echo/up", method="POST", data_file=path,
             headers=["Content-Type: application/octet-stream"], timeout=120)
    d = echo(r)
    assert d["len"] == BIG
    assert d["sha256"] == digest
    assert d["env"]["CONTENT_LENGTH"] == str(BIG)


def test_big_upload_chunked(srv, bigfile):
    path, digest = bigfile
    r = curl(srv, "h1", "/echo/up", method="POST", data_file=path, timeout=120,
             headers=["Transfer-Encoding: chunked", "Content-Type: application/octet-stream"])
    d = echo(r)
    assert d["len"] == BIG
    assert d["sha256"] == digest
    # the length is unknown: the program reads stdin to its end
    assert "CONTENT_LENGTH" not in d["env"]
    assert "HTTP_TRANSFER_ENCODING" not in d["env"]


def test_chunked_body_framing(srv):
    """Odd chunk sizes, extensions and trailers reach the program decoded."""
    parts = [b"a", b"bc" * 1000, b"", b"x" * 70000, b"tail"]
    body = b""
    for i, p in enumerate(parts):
        if not p:
            continue
        ext = b";ext=%d" % i if i % 2 else b""
        body += b"%x%s\r\n%s\r\n" % (len(p), ext, p)
    body += b"0\r\nX-Trailer: t\r\n\r\n"
    want = b"".join(parts)
    req = build_request("POST", "/echo/chunked",
                        headers=[("Transfer-Encoding", "chunked")]) + body
    with srv.conn() as c:
        # in small pieces, so the body arrives while the program runs
        for i in range(0, len(req), 7000):
            c.send(req[i:i + 7000])
        r = c.read_response()
        d = json.loads(r.body)
        assert d["len"] == len(want)
        assert d["sha256"] == hashlib.sha256(want).hexdigest()
        # the connection is still good
        c.request("GET", "/echo")
        assert c.read_response().status == 200


def test_expect_continue(srv):
    with srv.conn() as c:
        c.send(build_request("POST", "/echo/e", headers=[("Content-Length", "5"),
                                                         ("Expect", "100-continue")]))
        interim = c.read_response(stop_at_interim=True)
        assert interim.status == 100
        c.send(b"12345")
        r = c.read_response()
        d = json.loads(r.body)
        assert d["len"] == 5 and d["head"] == "12345"


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_empty_post(srv, proto):
    need(proto, srv)
    d = echo(curl(srv, proto, "/echo", method="POST", data=b""))
    assert d["len"] == 0
    assert d["env"]["REQUEST_METHOD"] == "POST"
    assert d["env"].get("CONTENT_LENGTH", "0") == "0"


def test_stderr_logged(srv):
    off = srv.log_size()
    r = curl(srv, "h1", "/stderr")
    assert r.status == 200 and r.body == b"ok\n"
    text = srv.wait_log(off, r"partial line without newline")
    assert "first complaint" in text
    assert "cgi /stderr[" in text
    import re
    m = re.search(r"cgi /stderr\[(\d+)\]: first complaint", text)
    assert m, text
    assert re.search(r"cgi /stderr\[%s\]: partial line without newline" % m.group(1), text)


def test_head_split_then_body_separately(srv):
    """The head arrives in two writes and the body in a third: the program
    gets exactly the body (never bytes of the head), and the next request on
    the connection is parsed where it really starts."""
    body = b"0123456789" * 10
    head = build_request("POST", "/echo/split", headers=[
        ("Content-Length", str(len(body))), ("X-Pad", "p" * 3000)])
    with srv.conn() as c:
        c.send(head[:1500])
        time.sleep(0.1)
        c.send(head[1500:])
        time.sleep(0.1)
        c.send(body)
        d = json.loads(c.read_response().body)
        assert d["len"] == len(body)
        assert d["sha256"] == hashlib.sha256(body).hexdigest()
        c.request("GET", "/echo/next")
        assert c.read_response().status == 200
