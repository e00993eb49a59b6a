"""`>https://...` origins: 301 with the origin as Location, append-path,
and no header injection."""

import pytest

from pthttp import Conn


@pytest.fixture(scope="module")
def srv(portico):
    site = portico.site()
    site.write("a.txt", "hello\n")
    mounts = [
        site.mount("/"),
        {"mountpoint": "/r", "origin": ">https://example.com/x"},
        {"mountpoint": "/plain", "origin": ">http://example.org/"},
        {"mountpoint": "/a", "origin": ">https://example.com/base",
         "append-path": 1},
        {"mountpoint": "/s", "origin": ">https://example.com/s/",
         "append-path": "1"},
    ]
    return site.start(vhosts=[site.vhost(mounts=mounts)])


def location(srv, target, method="GET"):
    with Conn(srv.port) as c:
        c.request(method, target)
        r = c.read_response(method)
    assert r.status == 301, (target, r)
    assert len(r.header_all("Location")) == 1
    return r.header("Location")


@pytest.mark.parametrize("target", ["/r", "/r/", "/r/deeper/path", "/r?q=1",
                                    "/r/x?y=2"])
def test_redirect_exact_origin(srv, target):
    assert location(srv, target) == "https://example.com/x"


def test_redirect_http(srv):
    assert location(srv, "/plain") == "http://example.org/"


def test_redirect_head(srv):
    assert location(srv, "/r", "HEAD") == "https://example.com/x"


@pytest.mark.parametrize("target,loc", [
    ("/a", "https://example.com/base"),
    ("/a/", "https://example.com/base/"),
    ("/a/p/q.html", "https://example.com/base/p/q.html"),
    ("/a?x=1", "https://example.com/base?x=1"),
    ("/a/p?x=1&y=%41%2F", "https://example.com/base/p?x=1&y=%41%2F"),
    ("/s/file", "https://example.com/s/file"),
])
def test_append_path(srv, target, loc):
    got = location(srv, target)
    # A slash-ending origin may be joined without doubling the slash.
    assert got in (loc, loc.replace("/s//", "/s/")), got


def test_not_redirected_outside_mount(srv):
    r = srv.get("/rx")
    assert r.status == 404
    r = srv.get("/a.txt")
    assert r.status == 200


@pytest.mark.parametrize("target", [
    "/a/x%0d%0aSet-Cookie:%20evil=1",
    "/a/x%0aSet-Cookie:%20evil=1",
    "/a/x%0dSet-Cookie:%20evil=1",
    "/a/x?y=%0d%0aSet-Cookie:%20evil=1",
    "/r/x%0d%0aSet-Cookie:%20evil=1",
])
def test_no_header_injection(srv, target):
    with Conn(srv.port) as c:
        c.request("GET", target)
        r = c.read_response()
    assert r.status in (301, 400), r
    assert not r.has("Set-Cookie"), r.headers
    assert b"\r\nSet-Cookie" not in r.raw_head
    for _, v in r.headers:
        assert "\r" not in v and "\n" not in v
    if r.status == 301:
        loc = r.header("Location")
        assert loc.startswith("https://example.com/")
        assert all(0x20 < ord(ch) < 0x7f for ch in loc), repr(loc)
