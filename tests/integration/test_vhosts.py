"""Virtual host selection by Host on a shared port, and vhosts on other
ports.  Each vhost serves who.txt containing its own name."""

import pytest

from pthttp import Conn


@pytest.fixture(scope="module")
def srv(portico):
    site = portico.site()
    port2 = site.new_port()
    names = ["first.test", "abc.com", "b.abc.com", "other.test"]
    for n in names:
        site.write("who.txt", n, base=site.root / n)

    def vh(name, port):
        # Ports as strings here: "port": "7681" must work like 7681.
        return {"name": name, "port": str(port), "interface": "127.0.0.1",
                "mounts": [{"mountpoint": "/",
                            "origin": "file://%s" % (site.root / name)}]}

    # conf.d is read in lexical order, so 00-first holds the default vhost
    # for the shared port even though it is written last.
    confd = {
        "50-abc": [vh("abc.com", site.port), vh("b.abc.com", site.port),
                   vh("other.test", port2)],
        "00-first": [vh("first.test", site.port)],
    }
    return site.start(confd=confd)


def who(srv, host, port=None):
    r = srv.get("/who.txt", host=host, port=port)
    assert r.status == 200, r
    return r.text


@pytest.mark.parametrize("host,expect", [
    ("first.test", "first.test"),
    ("abc.com", "abc.com"),
    ("b.abc.com", "b.abc.com"),
    ("ABC.com", "abc.com"),
    ("abc.com:8080", "abc.com"),
    ("abc.com:%d", "abc.com"),
    ("cats.abc.com", "abc.com"),
    ("x.y.abc.com", "abc.com"),
    ("x.b.abc.com", "b.abc.com"),
    ("cats.b.abc.com:99", "b.abc.com"),
    ("xabc.com", "first.test"),
    ("bb.abc.com", "abc.com"),
    ("abc.com.evil", "first.test"),
    ("unknown.example", "first.test"),
    ("127.0.0.1", "first.test"),
    ("127.0.0.1:%d", "first.test"),
    ("[::1]:80", "first.test"),
    ("other.test", "first.test"),
])
def test_select(srv, host, expect):
    if "%d" in host:
        host = host % srv.port
    assert who(srv, host) == expect


def test_second_port_has_its_own_vhosts(srv):
    port2 = srv.site.ports[1]
    assert who(srv, "other.test", port2) == "other.test"
    assert who(srv, "abc.com", port2) == "other.test"
    assert who(srv, "anything", port2) == "other.test"


def test_http10_without_host_gets_default(srv):
    with Conn(srv.port) as c:
        c.send(b"GET /who.txt HTTP/1.0\r\n\r\n")
        r = c.read_response()
    assert r.status == 200 and r.text == "first.test"


def test_vhost_per_request_on_one_connection(srv):
    with Conn(srv.port) as c:
        for host, expect in (("abc.com", "abc.com"), ("first.test", "first.test"),
                             ("b.abc.com", "b.abc.com")):
            c.request("GET", "/who.txt", host=host)
            assert c.read_response().text == expect


def test_absolute_form_authority_wins(srv):
    """RFC 9112 3.2.2: with an absolute-form target the Host header is
    ignored in favour of the target's authority."""
    with Conn(srv.port) as c:
        c.send(b"GET http://abc.com/who.txt HTTP/1.1\r\nHost: first.test\r\n\r\n")
        r = c.read_response()
    assert r.status == 200 and r.text == "abc.com"
