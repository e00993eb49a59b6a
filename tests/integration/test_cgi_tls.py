"""CGI over TLS: HTTPS=on in the environment, and git clone/push over
https, with HTTP/1.1 and with HTTP/2 (ALPN)."""

import json
import os
import shutil
import subprocess

import pytest

from cgitools import PROTOCOLS, write_program

try:
    from certs import certs_fixture, tls_vhost  # noqa: F401 (fixture)
except ImportError:  # TLS test support not there yet
    pytest.skip("TLS test support not available", allow_module_level=True)

BACKEND = "/usr/lib/git-core/git-http-backend"

ECHO = r'''#!/usr/bin/python3
import json, os, sys
out = json.dumps(dict(os.environ)).encode()
sys.stdout.buffer.write(b"Content-Type: application/json\r\n\r\n" + out)
'''


@pytest.fixture(scope="module")
def srv(portico, certs, tmp_path_factory):
    site = portico.site()
    site.write("index.html", "index\n")
    echo = write_program(site, "echo.py", ECHO)
    root = site.root / "repos"
    root.mkdir()
    mounts = [site.mount("/"), site.mount("/echo", "cgi://%s" % echo)]
    have_git = shutil.which("git") and os.access(BACKEND, os.X_OK)
    if have_git:
        mounts.append(site.mount("/git", "cgi://" + BACKEND, **{
            "cgi-env": [{"GIT_PROJECT_ROOT": str(root)}, {"GIT_HTTP_EXPORT_ALL": "1"}]}))
    v = tls_vhost(site, "localhost", certs.local_cert, certs.local_key, site.port,
                  mounts=mounts)
    s = site.start(vhosts=[v])
    s.repos = root if have_git else None
    s.ca = str(certs.ca)
    return s


def https(srv, path):
    return "https://localhost:%d%s" % (srv.port, path)


def curl_tls(srv, proto, path):
    args = ["curl", "-sS", "--max-time", "20", "--cacert", srv.ca,
            "--resolve", "localhost:%d:127.0.0.1" % srv.port,
            "-w", "\n%{http_version}", "--http1.1" if proto == "h1" else "--http2",
            https(srv, path)]
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if p.returncode != 0:
        pytest.skip("TLS not available: %s" % p.stderr.decode("utf-8", "replace"))
    body, _, version = p.stdout.rpartition(b"\n")
    if proto == "h2" and version != b"2":
        pytest.skip("h2 not available yet")
    return body


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_https_environment(srv, proto):
    e = json.loads(curl_tls(srv, proto, "/echo/x?tls=1"))
    assert e["HTTPS"] == "on"
    assert e["REQUEST_SCHEME"] == "https"
    assert e["SERVER_PORT"] == str(srv.port)
    assert e["SERVER_PROTOCOL"] == ("HTTP/1.1" if proto == "h1" else "HTTP/2.0")
    assert e["PATH_INFO"] == "/x" and e["QUERY_STRING"] == "tls=1"
    assert e["HTTP_HOST"] == "localhost:%d" % srv.port


def git(*args, cwd=None, env=None):
    p = subprocess.run(["git"] + list(args), cwd=cwd, env=env, timeout=120,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.returncode == 0, "git %s failed:\n%s" % (
        " ".join(args), p.stderr.decode("utf-8", "replace"))
    return p.stdout.decode().strip(), p.stderr.decode("utf-8", "replace")


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_git_clone_push_over_https(srv, proto, tmp_path):
    if srv.repos is None:
        pytest.skip("git http-backend not installed")
    curl_tls(srv, proto, "/")          # skips unless TLS (and h2) work
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_TERMINAL_PROMPT": "0", "GIT_AUTHOR_NAME": "T",
                "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "T",
                "GIT_COMMITTER_EMAIL": "t@example.com"})
    bare = srv.repos / ("p-%s.git" % proto)
    git("init", "-q", "--bare", "-b", "main", str(bare), env=env)
    git("config", "http.receivepack", "true", cwd=bare, env=env)
    opts = ["-c", "http.sslCAInfo=" + srv.ca,
            "-c", "http.version=" + ("HTTP/1.1" if proto == "h1" else "HTTP/2")]
    url = https(srv, "/git/p-%s.git" % proto)
    work = tmp_path / "work"
    git("init", "-q", "-b", "main", str(work), env=env)
    # Over HTTP/1.1 a pack larger than http.postBuffer (1 MiB) is streamed
    # chunked.  Over HTTP/2 the pack stays below it: git 2.39 with curl 7.88
    # stalls its own streamed HTTP/2 uploads now and then (it stops sending
    # after the response head arrives, against lighttpd too), so HTTP/2
    # request-body streaming is tested with curl in test_cgi_env.py.
    big = os.urandom((2 << 20) if proto == "h1" else 300000)
    (work / "big.bin").write_bytes(big)
    git("add", ".", cwd=work, env=env)
    git("commit", "-q", "-m", "over " + proto, cwd=work, env=env)
    env_trace = dict(env, GIT_TRACE_CURL="1", GIT_TRACE_CURL_NO_DATA="1")
    _, trace = git(*opts, "push", "-q", url, "main", cwd=work, env=env_trace)
    if proto == "h2":
        assert "HTTP/2" in trace
    else:
        assert "Transfer-Encoding: chunked" in trace   # a streamed upload
    again = tmp_path / "again"
    git(*opts, "-c", "core.askPass=", "clone", "-q", url, str(again), env=env)
    assert (again / "big.bin").read_bytes() == big
