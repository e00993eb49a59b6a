"""CGI: git's smart HTTP through portico, `git http-backend` unmodified.
git clone (protocol v2, gzip'ed requests) and git push (a pack larger than
http.postBuffer, so git sends it chunked) of a test repository."""

import os
import shutil
import subprocess

import pytest

from cgitools import PROTOCOLS

BACKEND = "/usr/lib/git-core/git-http-backend"

pytestmark = pytest.mark.skipif(not (shutil.which("git") and os.access(BACKEND, os.X_OK)),
                                reason="git http-backend not installed")

_h2c = {}


def git(*args, cwd=None, env=None, check=True):
    p = subprocess.run(["git"] + list(args), cwd=cwd, env=env, timeout=120,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check:
        assert p.returncode == 0, "git %s failed:\n%s" % (
            " ".join(args), p.stderr.decode("utf-8", "replace"))
    return p.stdout.decode().strip()


@pytest.fixture(scope="module")
def gitenv(tmp_path_factory):
    home = tmp_path_factory.mktemp("githome")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_TERMINAL_PROMPT": "0", "GIT_AUTHOR_NAME": "Test",
                "GIT_AUTHOR_EMAIL": "test@example.com", "GIT_COMMITTER_NAME": "Test",
                "GIT_COMMITTER_EMAIL": "test@example.com"})
    return env


@pytest.fixture(scope="module")
def srv(portico, gitenv):
    site = portico.site()
    site.write("index.html", "index\n")
    root = site.root / "repos"
    root.mkdir()
    src = site.root / "src"
    git("init", "-q", "-b", "main", str(src), env=gitenv)
    (src / "README").write_text("hello from the test repository\n")
    (src / "data.bin").write_bytes(os.urandom(200000))
    git("add", ".", cwd=src, env=gitenv)
    git("commit", "-q", "-m", "first", cwd=src, env=gitenv)
    git("clone", "-q", "--bare", str(src), str(root / "project.git"), env=gitenv)
    git("config", "http.receivepack", "true", cwd=root / "project.git", env=gitenv)
    mounts = [site.mount("/"),
              site.mount("/git", "cgi://" + BACKEND, **{
                  "cgi-env": [{"GIT_PROJECT_ROOT": str(root)},
                              {"GIT_HTTP_EXPORT_ALL": "1"}],
                  "cgi-timeout": 120})]
    s = site.start(vhosts=[site.vhost(mounts=mounts)])
    s.repo = root / "project.git"
    s.src = src
    return s


def git_proto(srv, proto):
    """git -c options for the protocol; skips h2 while portico cannot do it.
    Over http:// libcurl asks for HTTP/2 with an h2c Upgrade."""
    if proto == "h1":
        return ["-c", "http.version=HTTP/1.1"]
    key = (srv.port, srv.pid)
    if key not in _h2c:
        p = subprocess.run(["curl", "-s", "-o", "/dev/null", "--http2", "--max-time", "5",
                            "-w", "%{http_version}", srv.url("/")],
                           stdout=subprocess.PIPE, timeout=10)
        _h2c[key] = p.stdout.strip() == b"2"
    if not _h2c[key]:
        pytest.skip("h2 not available yet (git needs the h2c upgrade over http://)")
    return ["-c", "http.version=HTTP/2"]


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_clone(srv, gitenv, tmp_path, proto):
    opts = git_proto(srv, proto)
    dest = tmp_path / "clone"
    git(*opts, "clone", "-q", srv.url("/git/project.git"), str(dest), env=gitenv)
    assert (dest / "README").read_text() == "hello from the test repository\n"
    assert (dest / "data.bin").read_bytes() == (srv.src / "data.bin").read_bytes()
    assert git("rev-parse", "HEAD", cwd=dest, env=gitenv) == \
        git("rev-parse", "main", cwd=srv.repo, env=gitenv)
    assert git("fsck", "--no-progress", cwd=dest, env=gitenv, check=True) == ""


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_push(srv, gitenv, tmp_path, proto):
    opts = git_proto(srv, proto)
    work = tmp_path / "work"
    git(*opts, "clone", "-q", srv.url("/git/project.git"), str(work), env=gitenv)
    # larger than http.postBuffer (1 MiB): git streams the pack chunked.
    # Not over HTTP/2, where git 2.39 + curl 7.88 stall their own streamed
    # uploads now and then (see test_cgi_tls.py).
    big = os.urandom((3 << 20) if proto == "h1" else 300000)
    (work / ("big-%s.bin" % proto)).write_bytes(big)
    (work / "README").write_text("changed over %s\n" % proto)
    git("add", ".", cwd=work, env=gitenv)
    git("commit", "-q", "-m", "push over " + proto, cwd=work, env=gitenv)
    head = git("rev-parse", "HEAD", cwd=work, env=gitenv)
    trace = dict(gitenv, GIT_TRACE_CURL="1", GIT_TRACE_CURL_NO_DATA="1")
    p = subprocess.run(["git"] + opts + ["push", "-q", "origin", "main"], cwd=work,
                       env=trace, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0, err
    if proto == "h1":
        assert "Transfer-Encoding: chunked" in err   # the pack went up streamed
    assert git("rev-parse", "main", cwd=srv.repo, env=gitenv) == head
    # and it comes back out intact
    again = tmp_path / "again"
    git(*opts, "clone", "-q", srv.url("/git/project.git"), str(again), env=gitenv)
    assert (again / ("big-%s.bin" % proto)).read_bytes() == big
    assert (again / "README").read_text() == "changed over %s\n" % proto


def test_dumb_paths_and_errors(srv):
    import pthttp
    r = pthttp.fetch(srv.port, "/git/project.git/info/refs?service=git-upload-pack")
    assert r.status == 200
    assert r.header("Content-Type") == "application/x-git-upload-pack-advertisement"
    assert r.body.startswith(b"001e# service=git-upload-pack\n")
    r = pthttp.fetch(srv.port, "/git/project.git/HEAD")
    assert r.status == 200 and r.body == b"ref: refs/heads/main\n"
    r = pthttp.fetch(srv.port, "/git/nope.git/info/refs?service=git-upload-pack")
    assert r.status == 404
