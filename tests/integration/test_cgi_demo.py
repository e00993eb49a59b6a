"""The repository's demo CGI: conf.d/localhost mounts cgi-bin/env.sh at
/cgi-bin/env and www/index.html links to it."""

import json
import re

import pytest

from ptserver import REPO, strip_json_comments


@pytest.fixture(scope="module")
def srv(portico):
    """The repo config on an ephemeral port.  Its relative origins
    (file://www, cgi://cgi-bin/env.sh) resolve against the configuration
    directory, whatever the working directory is ("/" here)."""
    site = portico.site("cgidemo")
    for d in ("www", "cgi-bin"):
        (site.root / d).symlink_to(REPO / d)
    (site.root / "conf").write_text((REPO / "conf").read_text())
    conf = json.loads(strip_json_comments((REPO / "conf.d" / "localhost").read_text()))
    for v in conf["vhosts"]:
        v["port"] = site.port
        v.pop("access-log", None)
    (site.confd / "localhost").write_text(json.dumps(conf))
    return site.start(write=False, cwd="/")


def demo_mount():
    conf = json.loads(strip_json_comments((REPO / "conf.d" / "localhost").read_text()))
    return next(m for m in conf["vhosts"][0]["mounts"]
                if m["origin"].startswith("cgi://"))


def test_index_links_demo():
    m = demo_mount()
    html = (REPO / "www" / "index.html").read_text()
    assert 'href="%s' % m["mountpoint"] in html


def test_demo_get(srv):
    r = srv.get("/cgi-bin/env/hello?x=1&y=<b>")
    assert r.status == 200
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    t = r.text
    assert re.search(r"<code>PATH_INFO</code></td><td><code>/hello</code>", t)
    assert re.search(r"<code>QUERY_STRING</code></td><td><code>x=1&amp;y=&lt;b&gt;</code>", t)
    assert re.search(r"<code>SCRIPT_NAME</code></td><td><code>/cgi-bin/env</code>", t)
    assert "set by cgi-env" in t
    assert "<b>" not in t.split("<h2>Environment</h2>")[1]


def test_demo_post(srv):
    r = srv.get("/cgi-bin/env/posted", method="POST", body=b"message=<script>hi</script>",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200
    assert "message=&lt;script&gt;hi&lt;/script&gt;" in r.text
    assert "<script>" not in r.text
