"""Mount matching: longest mountpoint on a segment boundary, exact-match,
directory redirects, `default` index."""

from urllib.parse import urlsplit

import pytest


@pytest.fixture(scope="module")
def srv(portico):
    site = portico.site()
    root, foo, foobar, home = (site.root / d for d in ("root", "foo", "foobar", "home"))
    site.write("who.txt", "root", base=root)
    site.write("foobar/who.txt", "root-foobar", base=root)
    site.write("foo/who.txt", "root-foo", base=root)   # shadowed by /foo
    site.write("sub/who.txt", "root-sub", base=root)
    site.write("empty/.keep.txt", "", base=root)
    site.write("index.html", "root-index", base=root)
    site.write("who.txt", "foo", base=foo)
    site.write("index.html", "foo-index", base=foo)
    site.write("dir/index.html", "foo-dir-index", base=foo)
    site.write("who.txt", "foo-bar", base=foobar)
    site.write("home.html", "home-page", base=home)
    site.write("index.html", "not-the-default", base=home)
    site.write("d/home.html", "d-home", base=home)
    mounts = [
        {"mountpoint": "/", "origin": "file://%s" % root},
        {"mountpoint": "/foo", "origin": "file://%s" % foo},
        {"mountpoint": "/foo/bar", "origin": "file://%s" % foobar},
        {"mountpoint": "/home/", "origin": "file://%s" % home, "default": "home.html"},
        {"mountpoint": "/ex", "origin": ">https://example.com/exact",
         "exact-match": 1},
    ]
    return site.start(vhosts=[site.vhost(mounts=mounts)])


@pytest.mark.parametrize("target,expect", [
    ("/who.txt", "root"),
    ("/foo/who.txt", "foo"),
    ("/foo/bar/who.txt", "foo-bar"),
    ("/foobar/who.txt", "root-foobar"),
    ("/foo/dir/", "foo-dir-index"),
    ("/foo/", "foo-index"),
    ("/%66oo/who.txt", "foo"),
    ("/foo/./bar/who.txt", "foo-bar"),
    ("/foo/bar/../who.txt", "foo"),
    ("/foo//bar/who.txt", "foo-bar"),
    ("/sub/who.txt", "root-sub"),
    ("/", "root-index"),
    ("/home/", "home-page"),
    ("/home/d/", "d-home"),
    ("/home/index.html", "not-the-default"),
])
def test_longest_segment_match(srv, target, expect):
    r = srv.get(target)
    assert r.status == 200, (target, r)
    assert r.text == expect


@pytest.mark.parametrize("target,location", [
    ("/foo", "/foo/"),
    ("/foo?x=1&y=2", "/foo/?x=1&y=2"),
    ("/foo/bar", "/foo/bar/"),
    ("/sub", "/sub/"),
    ("/sub?q=%20a", "/sub/?q=%20a"),
    ("/foo/dir", "/foo/dir/"),
    ("/home", "/home/"),
])
def test_directory_redirect(srv, target, location):
    r = srv.get(target)
    assert r.status == 301, (target, r)
    loc = r.header("Location")
    assert loc, r
    u = urlsplit(loc)
    got = u.path + ("?" + u.query if u.query else "")
    assert got == location, loc
    if u.netloc:
        assert u.scheme == "http"


def test_directory_without_index_403(srv):
    assert srv.get("/empty/").status == 403


def test_missing_file_404(srv):
    assert srv.get("/foo/nothing.txt").status == 404
    assert srv.get("/nothing.txt").status == 404


def test_exact_match(srv):
    r = srv.get("/ex")
    assert r.status == 301
    assert r.header("Location") == "https://example.com/exact"
    # /ex/x is not the exact mountpoint: it falls through to "/".
    assert srv.get("/ex/who.txt").status == 404
