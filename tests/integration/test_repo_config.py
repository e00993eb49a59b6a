"""The repository's own configuration: conf + conf.d/localhost serving
www/ on 127.0.0.1:7681 with a redirect example mount."""

import json
import re

import pytest

from ptserver import REPO, run_cli, strip_json_comments

LINK = re.compile(rb'<link rel="stylesheet" href="/error.css"\s*/?>')


def load(path):
    return json.loads(strip_json_comments(path.read_text()))


@pytest.fixture(scope="module")
def repo_vhost():
    conf, local = REPO / "conf", REPO / "conf.d" / "localhost"
    assert conf.is_file(), "missing %s" % conf
    assert local.is_file(), "missing %s" % local
    assert "global" in load(conf)
    vhosts = load(local)["vhosts"]
    assert len(vhosts) >= 1
    return vhosts[0]


def test_repo_config_checks():
    rc, out, err = run_cli(["-t", "-c", str(REPO)], cwd=str(REPO))
    assert rc == 0, out + err
    assert not re.search(r"(?i)\berror:", out + err), out + err


def test_repo_config_shape(repo_vhost):
    assert int(repo_vhost["port"]) == 7681
    assert repo_vhost.get("interface") == "127.0.0.1"
    origins = [m.get("origin", "") for m in repo_vhost["mounts"]]
    assert any(o.startswith("file://") and o.rstrip("/").endswith("www")
               for o in origins), origins
    assert any(o.startswith(">http") for o in origins), origins
    assert (REPO / "www" / "index.html").is_file()
    assert (REPO / "www" / "error.css").is_file()


@pytest.fixture(scope="module")
def srv(portico, repo_vhost):
    """The repo config, rewritten to an ephemeral port and a temp access
    log, run from the repository root so relative origins resolve."""
    site = portico.site("repo")
    (site.root / "conf").write_text((REPO / "conf").read_text())
    v = json.loads(json.dumps(repo_vhost))
    v["port"] = site.port
    if "access-log" in v:
        v["access-log"] = str(site.access_log)
    for m in v["mounts"]:
        o = m.get("origin", "")
        for scheme in ("file://", "cgi://"):
            if o.startswith(scheme) and not o[len(scheme):].startswith("/"):
                m["origin"] = scheme + str((REPO / o[len(scheme):]).resolve())
    (site.confd / "localhost").write_text(json.dumps({"vhosts": [v]}, indent=2))
    return site.start(write=False, cwd=str(REPO))


def test_serves_index(srv):
    r = srv.get("/")
    assert r.status == 200
    assert r.body == (REPO / "www" / "index.html").read_bytes()
    assert r.header("Content-Type").startswith("text/html")


def test_serves_error_css(srv):
    r = srv.get("/error.css")
    assert r.status == 200
    assert r.body == (REPO / "www" / "error.css").read_bytes()
    assert r.header("Content-Type").startswith("text/css")


def test_404_page(srv, repo_vhost):
    r = srv.get("/no-such-page.html")
    assert r.status == 404
    doc = repo_vhost.get("error-document-404")
    if doc:
        assert r.body == (REPO / "www" / doc.lstrip("/")).read_bytes()
    else:
        assert LINK.search(r.body)


def test_vhost_headers(srv, repo_vhost):
    r = srv.get("/")
    for obj in repo_vhost.get("headers", []):
        for k, v in obj.items():
            assert r.header(k) == v, k


def test_redirect_example(srv, repo_vhost):
    m = next(m for m in repo_vhost["mounts"] if m.get("origin", "").startswith(">"))
    r = srv.get(m["mountpoint"])
    assert r.status == 301
    loc = r.header("Location")
    assert loc.startswith(m["origin"][1:]), loc
