"""Precompressed files on plain file:// mounts (issue 4, like nginx's
gzip_static): when the client accepts gzip and "name.gz" exists beside
"name" and is not older, the .gz bytes go out with Content-Encoding: gzip,
Vary: Accept-Encoding, the type of "name" and an ETag of their own; else
"name" itself.  Compared byte for byte over HTTP/1.1 and HTTP/2."""

import gzip
import os
import subprocess

import pytest

import curlh2
from pthttp import parse_multipart_byteranges

MTIME = 1600000000
TEXT = b"".join(b"line %05d of a precompressed asset\n" % i for i in range(4000))
GZ_TEXT = gzip.compress(TEXT, 9, mtime=0)
JS = b"function f() { return 42; }\n" * 300
PROTOS = ["h1", "h2"]
GZ = {"Accept-Encoding": "gzip, deflate"}


@pytest.fixture(scope="module")
def srv(portico):
    site = portico.site()
    w = site.write
    w("app.txt", TEXT)
    w("app.txt.gz", GZ_TEXT)
    w("lib/x.js", JS)
    w("lib/x.js.gz", gzip.compress(JS))
    w("stale.txt", b"fresh content\n")
    w("stale.txt.gz", gzip.compress(b"stale content\n"))
    w("nogz.txt", b"no precompressed twin\n")
    w("dirgz.txt", b"the .gz is a directory\n")
    (site.docroot / "dirgz.txt.gz").mkdir()
    w("same.txt", b"same mtime\n")
    w("same.txt.gz", gzip.compress(b"same mtime\n"))
    d = site.docroot
    for n in ("app.txt", "app.txt.gz", "lib/x.js", "lib/x.js.gz", "same.txt",
              "same.txt.gz"):
        os.utime(d / n, (MTIME, MTIME))
    os.utime(d / "stale.txt", (MTIME, MTIME))
    os.utime(d / "stale.txt.gz", (MTIME - 100, MTIME - 100))
    return site.start()


def need_h2(srv):
    if not curlh2.h2_available(srv.url("/nogz.txt")):
        pytest.skip("h2 not available yet")


def fetch(srv, proto, path, headers=None, method="GET"):
    if proto == "h2":
        need_h2(srv)
        r = curlh2.fetch(srv.url(path), headers or {}, method=method)
        assert r.rc == 0, r
        return r
    return srv.get(path, headers=headers, method=method)


@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("path,plain,gz", [
    ("/app.txt", TEXT, GZ_TEXT),
    ("/lib/x.js", JS, None),
], ids=["app.txt", "x.js"])
def test_precompressed_byte_for_byte(srv, proto, path, plain, gz):
    gz = gz if gz is not None else (srv.site.docroot / path.lstrip("/")).with_name(
        os.path.basename(path) + ".gz").read_bytes()
    r = fetch(srv, proto, path, GZ)
    assert r.status == 200
    assert r.body == gz
    assert r.header("content-encoding") == "gzip"
    assert r.header("vary") == "Accept-Encoding"
    assert int(r.header("content-length")) == len(gz)
    assert gzip.decompress(r.body) == plain
    i = fetch(srv, proto, path)
    assert i.status == 200 and i.body == plain
    assert i.header("content-encoding") is None
    assert i.header("content-type") == r.header("content-type")
    assert i.header("etag") != r.header("etag")


def test_type_is_the_original_files(srv):
    r = srv.get("/app.txt", headers=GZ)
    assert r.header("Content-Type").startswith("text/plain")
    r = srv.get("/lib/x.js", headers=GZ)
    assert "javascript" in r.header("Content-Type")
    r = srv.get("/app.txt.gz")                 # the .gz asked for by name
    assert r.header("Content-Type") == "application/gzip"
    assert r.header("Content-Encoding") is None
    assert r.body == GZ_TEXT


def test_decodes_with_gzip_cli(srv, tmp_path):
    p = tmp_path / "a.gz"
    p.write_bytes(srv.get("/app.txt", headers=GZ).body)
    out = subprocess.run(["gzip", "-d", "-c", str(p)], stdout=subprocess.PIPE,
                         check=True).stdout
    assert out == TEXT


@pytest.mark.parametrize("value,gz", [
    ("gzip", True), ("x-gzip", True), ("*", True), ("br;q=1, gzip;q=0.1", True),
    ("gzip;q=0", False), ("identity", False), ("br", False), ("gzip;q=0, *", False),
])
def test_accept_encoding(srv, value, gz):
    r = srv.get("/app.txt", headers={"Accept-Encoding": value})
    assert r.body == (GZ_TEXT if gz else TEXT)


def test_no_header_no_gzip(srv):
    r = srv.get("/app.txt")
    assert r.body == TEXT and r.header("Content-Encoding") is None


@pytest.mark.parametrize("path,body", [
    ("/stale.txt", b"fresh content\n"),   # (ids stay short: PYTEST_CURRENT_TEST)        # .gz older than the file
    ("/nogz.txt", b"no precompressed twin\n"),
    ("/dirgz.txt", b"the .gz is a directory\n"),
])
def test_falls_back_to_the_file(srv, path, body):
    r = srv.get(path, headers=GZ)
    assert r.status == 200 and r.body == body
    assert r.header("Content-Encoding") is None
    assert r.header("Vary") is None


def test_same_mtime_is_not_older(srv):
    r = srv.get("/same.txt", headers=GZ)
    assert r.header("Content-Encoding") == "gzip"


@pytest.mark.parametrize("proto", PROTOS)
def test_head(srv, proto):
    full = fetch(srv, proto, "/app.txt", GZ)
    head = fetch(srv, proto, "/app.txt", GZ, method="HEAD")
    assert head.status == 200 and head.body == b""
    for h in ("content-length", "content-encoding", "etag", "vary"):
        assert head.header(h) == full.header(h), h


def test_conditionals_per_representation(srv):
    g = srv.get("/app.txt", headers=GZ)
    i = srv.get("/app.txt")
    n = srv.get("/app.txt", headers=dict(GZ, **{"If-None-Match": g.header("ETag")}))
    assert n.status == 304
    assert n.header("ETag") == g.header("ETag")
    assert n.header("Vary") == "Accept-Encoding"
    # Each tag validates its own representation only.
    assert srv.get("/app.txt", headers=dict(GZ, **{"If-None-Match": i.header("ETag")})
                   ).status == 200
    assert srv.get("/app.txt", headers={"If-None-Match": g.header("ETag")}).status == 200
    assert srv.get("/app.txt", headers={"If-None-Match": i.header("ETag")}).status == 304
    lm = g.header("Last-Modified")
    assert srv.get("/app.txt", headers=dict(GZ, **{"If-Modified-Since": lm})).status == 304


@pytest.mark.parametrize("proto", PROTOS)
def test_ranges_apply_to_the_gzip_bytes(srv, proto):
    r = fetch(srv, proto, "/app.txt", dict(GZ, Range="bytes=100-299"))
    assert r.status == 206
    assert r.body == GZ_TEXT[100:300]
    assert r.header("content-range") == "bytes 100-299/%d" % len(GZ_TEXT)
    assert r.header("content-encoding") == "gzip"


def test_multipart_over_gzip_bytes(srv):
    r = srv.get("/app.txt", headers=dict(GZ, Range="bytes=0-9,-10"))
    assert r.status == 206
    parts = parse_multipart_byteranges(r)
    assert [p[4] for p in parts] == [GZ_TEXT[:10], GZ_TEXT[-10:]]
