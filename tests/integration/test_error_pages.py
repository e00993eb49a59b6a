"""Built-in error pages, error-document-NNN, and the styled answers of
handlers and plugins (a WebSocket-only plugin asked for a page: 426)."""

import re

import pytest

from pthttp import Conn

LINK = re.compile(rb'<link rel="stylesheet" href="/error.css"\s*/?>')


@pytest.fixture(scope="module")
def srv(portico):
    site = portico.site()
    site.write("a.txt", "hello\n")
    site.write("404.html", "<p>custom not found</p>\n")
    site.write("403.html", "<p>custom forbidden</p>\n")
    site.write("noindex/x.txt", "x\n")
    site.write("run.sh", "#!/bin/sh\necho hi\n", base=site.root).chmod(0o755)
    plain = site.root / "plain"
    site.write("a.txt", "plain\n", base=plain)
    site.write("noindex/x.txt", "x\n", base=plain)
    mounts = [
        site.mount("/"),
        {"mountpoint": "/cgi", "origin": "cgi://%s/run.sh" % site.root},
        {"mountpoint": "/proxy", "origin": "http://127.0.0.1:9/"},
        {"mountpoint": "/sproxy", "origin": "https://127.0.0.1:9/"},
        {"mountpoint": "/cb", "origin": "callback://dumb-increment"},
    ]
    with_docs = site.vhost(name="docs.test", mounts=mounts,
                           **{"error-document-404": "/404.html",
                              "error-document-403": "/403.html"})
    builtin = site.vhost(name="plain.test",
                         mounts=[site.mount("/", "file://%s" % plain)])
    broken = site.vhost(name="broken.test",
                        mounts=[site.mount("/", "file://%s" % plain)],
                        **{"error-document-404": "/does-not-exist.html"})
    return site.start(vhosts=[with_docs, builtin, broken])


def get(srv, target, host, method="GET"):
    return srv.get(target, host=host, method=method)


def assert_builtin_page(r, status):
    assert r.status == status
    assert (r.header("Content-Type") or "").startswith("text/html")
    assert str(status).encode() in r.body, r.body
    reason = r.reason.encode()
    assert reason and reason in r.body, (r.reason, r.body)
    assert LINK.search(r.body), r.body
    assert len(r.body) < 4096


@pytest.mark.parametrize("target,method,status", [
    ("/missing.txt", "GET", 404),
    ("/noindex/", "GET", 403),
    ("/a.txt", "POST", 405),
    ("/a.txt", "DELETE", 405),
])
def test_builtin_pages(srv, target, method, status):
    r = get(srv, target, "plain.test", method)
    assert_builtin_page(r, status)


@pytest.mark.parametrize("raw,status", [
    (b"GET /a.txt HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET /a.txt HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"b" * 17000 + b"\r\n\r\n", 431),
    (b"GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo\r\n\r\n", 501),
    (b"GET /a.txt HTTP/2.0\r\nHost: x\r\n\r\n", 505),
])
def test_builtin_pages_for_protocol_errors(srv, raw, status):
    with Conn(srv.port) as c:
        c.send(raw)
        r = c.read_response()
    assert_builtin_page(r, status)


def test_websocket_only_plugin_426(srv):
    r = get(srv, "/cb/x", "docs.test")
    assert_builtin_page(r, 426)
    assert r.header("Upgrade") == "websocket"


@pytest.mark.parametrize("prefix", ["/proxy", "/sproxy"])
def test_proxy_refused_502(srv, prefix):
    # nothing listens on port 9: the proxy's styled 502
    r = get(srv, prefix + "/x", "docs.test")
    assert_builtin_page(r, 502)


def test_cgi_without_head_502(srv):
    # run.sh prints no CGI head: a built-in 502 page
    r = get(srv, "/cgi/x", "docs.test")
    assert_builtin_page(r, 502)


def test_error_document_404(srv):
    r = get(srv, "/missing.txt", "docs.test")
    assert r.status == 404
    assert r.body == b"<p>custom not found</p>\n"
    assert not r.has("Location")
    assert r.header("Content-Type").startswith("text/html")
    assert r.header("Content-Length") == str(len(r.body))


def test_error_document_404_for_dotfile(srv):
    r = get(srv, "/.env", "docs.test")
    assert r.status == 404
    assert r.body == b"<p>custom not found</p>\n"


def test_error_document_403(srv):
    r = get(srv, "/noindex/", "docs.test")
    assert r.status == 403
    assert r.body == b"<p>custom forbidden</p>\n"


def test_error_document_head(srv):
    with Conn(srv.port) as c:
        c.request("HEAD", "/missing.txt", host="docs.test")
        r = c.read_response("HEAD")
        assert r.status == 404
        c.request("GET", "/a.txt", host="docs.test")
        assert c.read_response().body == b"hello\n"


def test_error_document_not_used_for_other_status(srv):
    r = get(srv, "/a.txt", "docs.test", "POST")
    assert_builtin_page(r, 405)


def test_error_document_itself_missing(srv):
    r = get(srv, "/missing.txt", "broken.test")
    assert r.status == 404
    assert LINK.search(r.body), r.body


def test_error_page_keeps_connection(srv):
    with Conn(srv.port) as c:
        c.request("GET", "/missing.txt", host="plain.test")
        assert c.read_response().status == 404
        c.request("GET", "/a.txt", host="plain.test")
        assert c.read_response().body == b"plain\n"
