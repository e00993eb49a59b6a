"""file:// mounts: MIME types, dotfiles, methods, symlink containment,
validators and conditional requests, ranges, cache headers, extra
headers, large files."""

import hashlib
import os
import random
import re

import pytest

from pthttp import Conn, build_request, http_date, parse_multipart_byteranges

MTIME = 1500000000          # 2017-07-14, fixed so Last-Modified is known
TEXT = bytes(range(32, 127)) * 10   # 950 bytes
BIG_SIZE = 20 * 1000 * 1000
BIG = random.Random(1234).randbytes(BIG_SIZE)
BIG_SHA = hashlib.sha256(BIG).hexdigest()


@pytest.fixture(scope="module")
def site(portico):
    site = portico.site()
    w = site.write
    w("index.html", "<html>index</html>\n")
    w("t.txt", TEXT)
    w("s.css", "body{}\n")
    w("j.json", "{}\n")
    w("p.png", b"\x89PNG\r\n\x1a\n")
    w("x.js", "var x;\n")
    w("u.xyz", "unknown\n")
    w("noext", "noext\n")
    w("e.foo", "foo-type\n")
    w("big.bin", BIG)
    w("sub/s.txt", "sub\n")
    w("noindex/x.txt", "x\n")
    w(".env", "SECRET=1\n")
    w(".htpasswd", "u:p\n")
    w(".git/config", "[core]\n")
    w(".git/HEAD.txt", "ref\n")
    w("sub/.hidden.txt", "hidden\n")
    w(".well-known/acme.txt", "acme\n")
    w("dot/.hidden.txt", "visible\n")
    w("dot/.git/x.txt", "gitx\n")
    w("c/none.txt", "c\n")
    w("any/u.xyz", "any\n")
    w("any/t.txt", "t\n")
    w("any/noext", "n\n")
    outside = site.root / "outside"
    site.write("secret.txt", "top secret\n", base=outside)
    d = site.docroot
    os.symlink("/etc/passwd", d / "passwd.txt")
    os.symlink("/etc", d / "etc")
    os.symlink(str(outside), d / "out")
    os.symlink("../outside/secret.txt", d / "rel-secret.txt")
    os.symlink("../outside", d / "rel-out")
    os.symlink("t.txt", d / "link.txt")
    os.symlink("sub", d / "sublink")
    os.symlink(str(d / "sub" / "s.txt"), d / "abs-in.txt")
    for p in (d / "t.txt", d / "big.bin", d / "c/none.txt"):
        os.utime(p, (MTIME, MTIME))
    return site


@pytest.fixture(scope="module")
def srv(site):
    d = site.docroot
    mounts = [
        site.mount("/", headers=[{"X-Mount": "root"}],
                   **{"extra-mimetypes": {".foo": "application/x-foo"}}),
        site.mount("/dot", "file://%s" % (d / "dot"), **{"allow-dotfiles": 1}),
        site.mount("/c/private", "file://%s" % (d / "c"),
                   **{"cache-max-age": 60, "cache-reuse": 1}),
        site.mount("/c/public", "file://%s" % (d / "c"),
                   **{"cache-max-age": "120", "cache-reuse": "1",
                      "cache-revalidate": "1", "cache-intermediaries": "1"}),
        site.mount("/c/none", "file://%s" % (d / "c")),
        site.mount("/any", "file://%s" % (d / "any"),
                   **{"extra-mimetypes": {"*": ""}}),
    ]
    vh = site.vhost(mounts=mounts,
                    headers=[{"X-Vhost": "v1", "X-Frame-Options": "DENY"},
                             {"X-Second": "2"}])
    return site.start(vhosts=[vh])


def get(srv, target, headers=None, method="GET"):
    return srv.get(target, method=method, headers=headers)


# -- content types --------------------------------------------------------

@pytest.mark.parametrize("target,ctype", [
    ("/index.html", "text/html"),
    ("/", "text/html"),
    ("/t.txt", "text/plain"),
    ("/s.css", "text/css"),
    ("/j.json", "application/json"),
    ("/p.png", "image/png"),
    ("/e.foo", "application/x-foo"),
])
def test_content_type(srv, target, ctype):
    r = get(srv, target)
    assert r.status == 200
    assert (r.header("Content-Type") or "").split(";")[0].strip() == ctype


def test_javascript_type(srv):
    r = get(srv, "/x.js")
    assert r.status == 200
    assert r.header("Content-Type").split(";")[0] in (
        "application/javascript", "text/javascript")


def test_unknown_suffix_403(srv):
    assert get(srv, "/u.xyz").status == 403
    assert get(srv, "/noext").status == 403


def test_star_mimetype_serves_everything(srv):
    r = get(srv, "/any/u.xyz")
    assert r.status == 200 and r.body == b"any\n"
    assert not r.has("Content-Type"), r.headers
    r = get(srv, "/any/noext")
    assert r.status == 200 and r.body == b"n\n"
    r = get(srv, "/any/t.txt")
    assert r.status == 200
    assert r.header("Content-Type").startswith("text/plain")


def test_content_length_and_body(srv):
    r = get(srv, "/t.txt")
    assert r.body == TEXT
    assert r.header("Content-Length") == str(len(TEXT))


# -- dotfiles ---------------------------------------------------------------

@pytest.mark.parametrize("target", [
    "/.env", "/.htpasswd", "/.git/config", "/.git/HEAD.txt", "/.git/",
    "/sub/.hidden.txt", "/%2eenv", "/sub/%2Ehidden.txt",
])
def test_dotfiles_hidden(srv, target):
    assert get(srv, target).status == 404


def test_well_known_served(srv):
    r = get(srv, "/.well-known/acme.txt")
    assert r.status == 200 and r.body == b"acme\n"


def test_allow_dotfiles(srv):
    r = get(srv, "/dot/.hidden.txt")
    assert r.status == 200 and r.body == b"visible\n"
    r = get(srv, "/dot/.git/x.txt")
    assert r.status == 200 and r.body == b"gitx\n"


# -- methods ------------------------------------------------------------------

@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_405(srv, method):
    r = get(srv, "/t.txt", method=method)
    assert r.status == 405
    allow = {m.strip() for m in (r.header("Allow") or "").split(",")}
    assert {"GET", "HEAD"} <= allow, r.header("Allow")
    assert method not in allow


def test_unknown_method_501(srv):
    """RFC 9110 15.6.2: a method the server does not know is 501; 405 is
    for known ones the resource does not allow."""
    r = get(srv, "/t.txt", method="FROB")
    assert r.status == 501
    r = get(srv, "/t.txt", method="PROPFIND")
    assert r.status == 501


def test_options_allow(srv):
    r = get(srv, "/t.txt", method="OPTIONS")
    assert r.status in (200, 204)
    allow = {m.strip() for m in (r.header("Allow") or "").split(",")}
    assert {"GET", "HEAD"} <= allow, r.header("Allow")
    assert not ({"POST", "PUT", "DELETE"} & allow)


# -- containment --------------------------------------------------------------

@pytest.mark.parametrize("target", [
    "/passwd.txt", "/etc/passwd", "/etc/hostname", "/out/secret.txt",
    "/rel-secret.txt", "/rel-out/secret.txt",
])
def test_symlink_escape_refused(srv, target):
    r = get(srv, target)
    assert r.status in (403, 404), (target, r)
    assert b"root:" not in r.body and b"top secret" not in r.body


@pytest.mark.parametrize("target", [
    "/../etc/passwd", "/%2e%2e/etc/passwd", "/a/../../etc/passwd",
    "/sub/../../etc/passwd", "/..%2fetc/passwd", "/%2e%2e%2f%2e%2e%2fetc/passwd",
])
def test_dotdot_escape_400(srv, target):
    with Conn(srv.port) as c:
        c.request("GET", target)
        r = c.read_response()
    assert r.status == 400, (target, r)
    assert b"root:" not in r.body


def test_symlink_within_root_served(srv):
    r = get(srv, "/link.txt")
    assert r.status == 200 and r.body == TEXT
    r = get(srv, "/sublink/s.txt")
    assert r.status == 200 and r.body == b"sub\n"


def test_absolute_symlink_within_root_served(srv):
    """An absolute symlink whose target lies inside the root does not
    escape it, so it is served like a relative one."""
    r = get(srv, "/abs-in.txt")
    assert r.status == 200 and r.body == b"sub\n"


# -- validators and conditionals ---------------------------------------------

def test_etag_and_last_modified(srv):
    r = get(srv, "/t.txt")
    etag = r.header("ETag")
    assert etag and re.match(r'^"[\x21\x23-\x7e]+"$', etag), etag
    assert r.header("Last-Modified") == http_date(MTIME)
    assert get(srv, "/t.txt").header("ETag") == etag
    assert get(srv, "/c/none.txt").header("ETag") != etag


@pytest.fixture(scope="module")
def etag(srv):
    return get(srv, "/t.txt").header("ETag")


def test_if_none_match(srv, etag):
    r = get(srv, "/t.txt", {"If-None-Match": etag})
    assert r.status == 304 and r.body == b""
    assert r.header("ETag") == etag
    assert get(srv, "/t.txt", {"If-None-Match": '"nope", %s' % etag}).status == 304
    assert get(srv, "/t.txt", {"If-None-Match": "*"}).status == 304
    assert get(srv, "/t.txt", {"If-None-Match": "W/%s" % etag}).status == 304
    r = get(srv, "/t.txt", {"If-None-Match": '"nope"'})
    assert r.status == 200 and r.body == TEXT


def test_if_modified_since(srv):
    r = get(srv, "/t.txt", {"If-Modified-Since": http_date(MTIME)})
    assert r.status == 304 and r.body == b""
    assert get(srv, "/t.txt", {"If-Modified-Since": http_date(MTIME + 3600)}).status == 304
    r = get(srv, "/t.txt", {"If-Modified-Since": http_date(MTIME - 3600)})
    assert r.status == 200 and r.body == TEXT
    r = get(srv, "/t.txt", {"If-Modified-Since": "garbage"})
    assert r.status == 200


def test_if_none_match_wins_over_ims(srv):
    """RFC 9110 13.1.3: If-Modified-Since is ignored with If-None-Match."""
    r = get(srv, "/t.txt", {"If-None-Match": '"nope"',
                            "If-Modified-Since": http_date(MTIME)})
    assert r.status == 200


def test_304_keeps_connection_usable(srv, etag):
    with Conn(srv.port) as c:
        c.send(build_request("GET", "/t.txt", {"If-None-Match": etag})
               + build_request("GET", "/s.css"))
        assert c.read_response().status == 304
        assert c.read_response().body == b"body{}\n"


# -- ranges -------------------------------------------------------------------

@pytest.mark.parametrize("spec,start,end", [
    ("bytes=0-4", 0, 4),
    ("bytes=10-19", 10, 19),
    ("bytes=900-", 900, len(TEXT) - 1),
    ("bytes=-5", len(TEXT) - 5, len(TEXT) - 1),
    ("bytes=940-5000", 940, len(TEXT) - 1),
    ("bytes=0-0", 0, 0),
])
def test_single_range(srv, spec, start, end):
    r = get(srv, "/t.txt", {"Range": spec})
    assert r.status == 206, r
    assert r.header("Content-Range") == "bytes %d-%d/%d" % (start, end, len(TEXT))
    assert r.body == TEXT[start:end + 1]
    assert r.header("Content-Length") == str(end - start + 1)


def test_multiple_ranges(srv):
    r = get(srv, "/t.txt", {"Range": "bytes=0-9,100-149,-10"})
    assert r.status == 206, r
    assert r.header("Content-Range") is None
    parts = parse_multipart_byteranges(r)
    assert [(s, e) for _, s, e, _, _ in parts] == [
        (0, 9), (100, 149), (len(TEXT) - 10, len(TEXT) - 1)]
    for ctype, s, e, total, data in parts:
        assert total == len(TEXT)
        assert data == TEXT[s:e + 1]
        assert ctype and ctype.startswith("text/plain")
    assert r.header("Content-Length") is None or \
        int(r.header("Content-Length")) == len(r.body)


def test_multiple_ranges_large_file(srv):
    spec = "bytes=0-99,10000000-10000099,19999900-"
    r = get(srv, "/big.bin", {"Range": spec})
    assert r.status == 206
    parts = parse_multipart_byteranges(r)
    assert len(parts) == 3
    for _, s, e, total, data in parts:
        assert total == BIG_SIZE and data == BIG[s:e + 1]


def test_range_large_file_middle(srv):
    r = get(srv, "/big.bin", {"Range": "bytes=12345678-13345677"})
    assert r.status == 206
    assert r.body == BIG[12345678:13345678]


def test_if_range(srv, etag):
    r = get(srv, "/t.txt", {"Range": "bytes=0-4", "If-Range": etag})
    assert r.status == 206 and r.body == TEXT[:5]
    r = get(srv, "/t.txt", {"Range": "bytes=0-4", "If-Range": '"other"'})
    assert r.status == 200 and r.body == TEXT
    r = get(srv, "/t.txt", {"Range": "bytes=0-4",
                            "If-Range": http_date(MTIME - 10)})
    assert r.status == 200 and r.body == TEXT


@pytest.mark.parametrize("spec", ["bytes=1000-2000", "bytes=950-", "bytes=5000-"])
def test_range_unsatisfiable(srv, spec):
    r = get(srv, "/t.txt", {"Range": spec})
    assert r.status == 416, r
    assert r.header("Content-Range") == "bytes */%d" % len(TEXT)


@pytest.mark.parametrize("spec", ["bytes=abc", "items=0-5", "bytes=5-2", "bytes"])
def test_range_invalid_ignored(srv, spec):
    r = get(srv, "/t.txt", {"Range": spec})
    assert r.status == 200 and r.body == TEXT


def test_head_range(srv):
    with Conn(srv.port) as c:
        c.request("HEAD", "/t.txt", {"Range": "bytes=0-4"})
        r = c.read_response("HEAD")
        assert r.status in (200, 206)
        c.request("GET", "/s.css")
        assert c.read_response().body == b"body{}\n"


def test_accept_ranges(srv):
    assert get(srv, "/t.txt").header("Accept-Ranges") == "bytes"


# -- large files --------------------------------------------------------------

def test_large_file_exact(srv):
    r = get(srv, "/big.bin")
    assert r.status == 200
    assert r.header("Content-Length") == str(BIG_SIZE)
    assert hashlib.sha256(r.body).hexdigest() == BIG_SHA


def test_large_file_head(srv):
    with Conn(srv.port) as c:
        c.request("HEAD", "/big.bin")
        r = c.read_response("HEAD")
        assert r.status == 200 and r.header("Content-Length") == str(BIG_SIZE)
        c.request("GET", "/s.css")
        assert c.read_response().body == b"body{}\n"


def test_large_files_concurrently(srv):
    import concurrent.futures as cf
    with cf.ThreadPoolExecutor(4) as ex:
        bodies = list(ex.map(lambda _: get(srv, "/big.bin").body, range(4)))
    for b in bodies:
        assert hashlib.sha256(b).hexdigest() == BIG_SHA


def test_large_file_curl(srv, tmp_path):
    import subprocess
    out = tmp_path / "big"
    p = subprocess.run(["curl", "-sf", "-o", str(out), srv.url("/big.bin")], timeout=60)
    assert p.returncode == 0
    assert hashlib.sha256(out.read_bytes()).hexdigest() == BIG_SHA


# -- cache headers --------------------------------------------------------------

def cc_tokens(r):
    return {t.strip().lower() for t in (r.header("Cache-Control") or "").split(",")
            if t.strip()}


def test_no_cache_keys_no_store(srv):
    assert "no-store" in cc_tokens(get(srv, "/c/none/none.txt"))
    assert "no-store" in cc_tokens(get(srv, "/t.txt"))


def test_cache_private(srv):
    t = cc_tokens(get(srv, "/c/private/none.txt"))
    assert "max-age=60" in t and "private" in t, t
    assert not {"no-store", "public", "must-revalidate"} & t, t


def test_cache_public_revalidate(srv):
    t = cc_tokens(get(srv, "/c/public/none.txt"))
    assert {"max-age=120", "public", "must-revalidate"} <= t, t
    assert not {"no-store", "private"} & t, t


# -- extra headers --------------------------------------------------------------

def assert_extra_headers(r, mount=True):
    assert r.header("X-Vhost") == "v1", r.headers
    assert r.header("X-Frame-Options") == "DENY"
    assert r.header("X-Second") == "2"
    if mount:
        assert r.header("X-Mount") == "root"
        assert r.header_index("X-Vhost") < r.header_index("X-Mount"), \
            "mount headers must come after the vhost's"


def test_extra_headers_on_200(srv):
    assert_extra_headers(get(srv, "/t.txt"))


def test_extra_headers_on_head(srv):
    assert_extra_headers(get(srv, "/t.txt", method="HEAD"))


def test_extra_headers_on_304_206(srv, etag):
    assert_extra_headers(get(srv, "/t.txt", {"If-None-Match": etag}))
    assert_extra_headers(get(srv, "/t.txt", {"Range": "bytes=0-1"}))


def test_vhost_headers_on_errors_and_redirects(srv):
    """Vhost headers go on every response of the vhost; mount headers are
    only required on file responses."""
    for target in ("/missing.txt", "/noindex/", "/u.xyz"):
        r = get(srv, target)
        assert r.status >= 400
        assert_extra_headers(r, mount=False)
    r = get(srv, "/sub")
    assert r.status == 301
    assert_extra_headers(r, mount=False)


def test_vhost_headers_on_other_mounts(srv):
    r = get(srv, "/dot/.hidden.txt")
    assert_extra_headers(r, mount=False)
    assert not r.has("X-Mount")


def test_directory_index_and_403(srv):
    r = get(srv, "/")
    assert r.status == 200 and r.body == b"<html>index</html>\n"
    assert get(srv, "/noindex/").status == 403
    r = get(srv, "/sub?a=b")
    assert r.status == 301
    assert r.header("Location").endswith("/sub/?a=b")
