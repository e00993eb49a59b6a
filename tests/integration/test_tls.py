"""TLS (issue 3): SNI vhost selection and 421, ALPN, protocol versions and
forward secrecy, the per-vhost cipher/curve/option keys, session
resumption, Strict-Transport-Security, client certificates, plain HTTP on
a TLS port (allow-non-tls, redirect-http), start-up errors for bad
certificate material, and the memory an idle TLS connection costs.

The certificates come from the session-scoped `certs` fixture (certs.py).
"""

import hashlib
import os
import random
import re
import socket
import ssl
import subprocess
import time

import pytest

import pthttp
from certs import certs_fixture  # noqa: F401  (the `certs` fixture)
from certs import cert_names, client_context, tls_conn, tls_socket
from ptserver import run_cli, sanitize_enabled

BIG = random.Random(31).randbytes(3 * 1000 * 1000)
BIG_SHA = hashlib.sha256(BIG).hexdigest()

SSL_OP_NO_TICKET = 0x4000
SSL_OP_NO_TLSv1_3 = 0x20000000

HANDSHAKE_FAILED = (ssl.SSLError, ConnectionResetError, BrokenPipeError,
                    pthttp.ConnectionClosed, socket.timeout, OSError)


class Ports:
    pass


@pytest.fixture(scope="module")
def tls(portico, certs):
    site = portico.site()
    p = Ports()
    p.sni = site.port                  # a.test (default), b.test, chain.test
    p.ccert = site.new_port()          # client-cert-required
    p.redir = site.new_port()          # allow-non-tls + redirect-http
    p.nontls = site.new_port()         # allow-non-tls alone
    p.ciph = site.new_port()           # ciphers, tls13-ciphers, ecdh-curve
    p.optset = site.new_port()         # ssl-option-set
    p.optclr = site.new_port()         # ssl-option-set + ssl-option-clear
    p.plain = site.new_port()          # plaintext vhost

    def vh(name, port, cert=None, key=None, **kw):
        d = site.root / ("www-" + name)
        site.write("who.txt", name, base=d)
        site.write("a.txt", "hello\n", base=d)
        if cert:
            kw["host-ssl-cert"] = str(cert)
            kw["host-ssl-key"] = str(key)
        return site.vhost(name=name, port=port,
                          mounts=[site.mount("/", "file://%s" % d)], **kw)

    site.write("big.bin", BIG, base=site.root / "www-a.test")
    vhosts = [
        vh("a.test", p.sni, certs.a_cert, certs.a_key, sts=1),
        vh("b.test", p.sni, certs.b_cert, certs.b_key),
        vh("chain.test", p.sni, certs.chain_cert, certs.chain_key),
        vh("secure.test", p.ccert, certs.local_cert, certs.local_key,
           **{"host-ssl-ca": certs.client_ca, "client-cert-required": 1}),
        vh("redir.test", p.redir, certs.local_cert, certs.local_key,
           sts="on", **{"allow-non-tls": 1, "redirect-http": 1}),
        vh("nontls.test", p.nontls, certs.local_cert, certs.local_key,
           **{"allow-non-tls": "yes"}),
        vh("ciph.test", p.ciph, certs.a_cert, certs.a_key,
           ciphers="ECDHE-RSA-AES256-GCM-SHA384",
           **{"tls13-ciphers": "TLS_CHACHA20_POLY1305_SHA256",
              "ecdh-curve": "secp384r1"}),
        vh("optset.test", p.optset, certs.a_cert, certs.a_key,
           **{"ssl-option-set": "0x%x" % (SSL_OP_NO_TLSv1_3 | SSL_OP_NO_TICKET)}),
        vh("optclr.test", p.optclr, certs.a_cert, certs.a_key,
           **{"ssl-option-set": SSL_OP_NO_TLSv1_3,
              "ssl-option-clear": "0x%x" % SSL_OP_NO_TLSv1_3}),
        vh("plain.test", p.plain),
    ]
    srv = site.start(vhosts=vhosts, global_={"count-threads": 2})
    srv.p = p
    return srv


def get_tls(port, certs, target="/who.txt", sni=None, host=None, alpn=None,
            **kw):
    """One HTTP/1.1 request over a fresh TLS connection."""
    with tls_conn(port, certs, sni=sni, alpn=alpn, **kw) as c:
        c.request("GET", target, host=host if host is not None else (sni or "localhost"))
        return c.read_response()


def attempt(fn):
    """The result of fn(), or the exception a failed handshake raised."""
    try:
        return fn()
    except HANDSHAKE_FAILED as e:
        return e


def der_of(certs, path):
    return certs.pem_der(path)


# -- SNI ------------------------------------------------------------------------

@pytest.mark.parametrize("sni,expect", [
    ("a.test", "a"), ("b.test", "b"), ("x.b.test", "b"), ("deep.x.b.test", "b"),
    ("B.Test", "b"), ("chain.test", "chain"), ("x.a.test", "a"),
    ("unknown.test", "a"), ("xb.test", "a"), (None, "a"),
])
def test_sni_selects_certificate(tls, certs, sni, expect):
    want = {"a": certs.a_cert, "b": certs.b_cert, "chain": certs.chain_cert}[expect]
    with tls_conn(tls.p.sni, certs, sni=sni) as c:
        got = c.peer_der()
    assert got == der_of(certs, want), "SNI %r got certificate %r" % (
        sni, cert_names(got))


def test_dropped_contexts_are_rebuilt_on_demand(portico, certs):
    """tls-context-cache 1: only the last context used stays built; every
    other vhost's is built again from its PEM bytes at its next handshake,
    with the right certificate and chain, on each worker."""
    site = portico.site("tls-lazy")
    p = site.port
    vhosts = [site.vhost(name=n, port=p, **{"host-ssl-cert": c, "host-ssl-key": k})
              for n, c, k in (("a.test", certs.a_cert, certs.a_key),
                              ("b.test", certs.b_cert, certs.b_key),
                              ("chain.test", certs.chain_cert, certs.chain_key))]
    site.write("index.html", "lazy\n")
    srv = site.start(vhosts=vhosts, global_={"count-threads": 2, "tls-context-cache": 1})
    want = {"a.test": certs.a_cert, "b.test": certs.b_cert, "chain.test": certs.chain_cert}
    for _ in range(3):
        for sni, cert in want.items():
            with tls_conn(p, certs, sni=sni) as c:  # verified: the chain is served
                assert c.peer_der() == der_of(certs, cert), sni
                c.request("GET", "/", host=sni)
                assert c.read_response().body == b"lazy\n"
    assert "rebuilt on demand" not in srv.log()


@pytest.mark.parametrize("sni", ["a.test", "b.test", "chain.test"])
def test_sni_serves_that_vhost(tls, certs, sni):
    r = get_tls(tls.p.sni, certs, sni=sni)
    assert r.status == 200 and r.text == sni


def test_chain_and_hostname_verify(tls, certs):
    """Clients trusting only the root must verify every vhost's chain,
    including the intermediate sent from the chain.test certificate file."""
    for name in ("a.test", "b.test", "chain.test", "www.a.test"):
        ctx = client_context(certs)
        ctx.check_hostname = True
        s = tls_socket(tls.p.sni, ctx, sni=name)
        s.close()


def test_sni_sessions_on_one_port_keep_going(tls, certs):
    """Interleaved handshakes for different names on one listener."""
    for i in range(20):
        name = ("a.test", "b.test", "chain.test", None)[i % 4]
        r = get_tls(tls.p.sni, certs, sni=name, host=name or "a.test")
        assert r.status == 200, (name, r)
        assert r.text == (name or "a.test")


# -- 421 ----------------------------------------------------------------------------

@pytest.mark.parametrize("sni,host,status", [
    ("a.test", "a.test", 200),
    ("a.test", "A.TEST", 200),
    ("a.test", "a.test:%d", 200),
    ("a.test", "b.test", 421),
    ("b.test", "a.test", 421),
    ("b.test", "b.test:%d", 200),
    ("b.test", "x.b.test", 200),
    ("x.b.test", "b.test", 200),
    ("b.test", "chain.test", 421),
    ("chain.test", "chain.test", 200),
    (None, "a.test", 200),
    (None, "b.test", 421),
    ("unknown.test", "unknown.test", 200),
])
def test_misdirected_request(tls, certs, sni, host, status):
    if "%d" in host:
        host = host % tls.p.sni
    r = get_tls(tls.p.sni, certs, sni=sni, host=host)
    assert r.status == status, (sni, host, r)
    if status == 200:
        served = {"b.test": "b.test", "x.b.test": "b.test",
                  "chain.test": "chain.test"}.get(sni, "a.test")
        assert r.text == served


def test_421_then_connection_still_usable_or_closed(tls, certs):
    """After a 421 the client may retry elsewhere; the connection must stay
    coherent: either closed, or the next request on it is answered."""
    with tls_conn(tls.p.sni, certs, sni="a.test") as c:
        c.request("GET", "/who.txt", host="b.test")
        r = c.read_response()
        assert r.status == 421
        if (r.header("Connection") or "").lower() == "close":
            assert c.wait_closed(3.0)
            return
        c.request("GET", "/who.txt", host="a.test")
        r = c.read_response()
        assert r.status == 200 and r.text == "a.test"


# -- ALPN -------------------------------------------------------------------------

@pytest.mark.parametrize("offer,expect", [
    (["h2", "http/1.1"], "h2"),
    (["h2"], "h2"),
    (["http/1.1", "h2"], "h2"),
    (["http/1.1"], "http/1.1"),
    (None, None),
])
def test_alpn_selection(tls, certs, offer, expect):
    with tls_conn(tls.p.sni, certs, sni="a.test", alpn=offer) as c:
        assert c.alpn == expect, (offer, c.alpn)


@pytest.mark.parametrize("offer", [["http/1.1"], None])
def test_http11_fallback_serves(tls, certs, offer):
    with tls_conn(tls.p.sni, certs, sni="a.test", alpn=offer) as c:
        for _ in range(3):
            c.request("GET", "/a.txt", host="a.test")
            r = c.read_response()
            assert r.status == 200 and r.body == b"hello\n"
            assert r.version == "HTTP/1.1"


# -- HTTP/1.1 over TLS ------------------------------------------------------------------

def test_tls_pipelining(tls, certs):
    reqs = b"".join(pthttp.build_request("GET", t, host="a.test")
                    for t in ("/a.txt", "/who.txt", "/missing", "/a.txt"))
    with tls_conn(tls.p.sni, certs, sni="a.test") as c:
        c.send(reqs)
        got = [c.read_response() for _ in range(4)]
    assert [r.status for r in got] == [200, 200, 404, 200]
    assert got[1].text == "a.test"


def test_tls_big_download(tls, certs):
    with tls_conn(tls.p.sni, certs, sni="a.test", timeout=20) as c:
        c.request("GET", "/big.bin", host="a.test")
        r = c.read_response(timeout=20)
        assert r.status == 200
        assert len(r.body) == len(BIG)
        assert hashlib.sha256(r.body).hexdigest() == BIG_SHA
        c.request("GET", "/a.txt", host="a.test")
        assert c.read_response().body == b"hello\n"


def test_tls_slow_reader(tls, certs):
    """A TLS reader that stalls mid-body must not lose or corrupt bytes."""
    with tls_conn(tls.p.sni, certs, sni="a.test", timeout=20, rcvbuf=32768) as c:
        c.request("GET", "/big.bin", host="a.test", headers={"Range": "bytes=0-999999"})
        time.sleep(0.5)
        r = c.read_response(timeout=20)
        assert r.status == 206
        assert r.body == BIG[:1000000]


def test_request_split_across_records(tls, certs):
    """A request head written byte by byte (one TLS record per byte)."""
    data = pthttp.build_request("GET", "/who.txt", host="b.test")
    with tls_conn(tls.p.sni, certs, sni="b.test") as c:
        for i in range(len(data)):
            c.send(data[i:i + 1])
        r = c.read_response()
    assert r.status == 200 and r.text == "b.test"


# -- versions and ciphers ---------------------------------------------------------------

def test_tls13_by_default(tls, certs):
    with tls_conn(tls.p.sni, certs, sni="a.test") as c:
        assert c.sock.version() == "TLSv1.3"


def test_tls12_works(tls, certs):
    for name in ("a.test", "b.test"):
        with tls_conn(tls.p.sni, certs, sni=name,
                      max_version=ssl.TLSVersion.TLSv1_2) as c:
            assert c.sock.version() == "TLSv1.2"
            cipher = c.sock.cipher()[0]
            assert cipher.startswith(("ECDHE-", "DHE-")), cipher
            c.request("GET", "/who.txt", host=name)
            assert c.read_response().text == name


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_old_versions_refused(tls, certs, version):
    v = getattr(ssl.TLSVersion, version)

    def go():
        with tls_conn(tls.p.sni, certs, sni="a.test", min_version=v, max_version=v,
                      ciphers="DEFAULT:@SECLEVEL=0") as c:
            return c.sock.version()
    got = attempt(go)
    assert isinstance(got, Exception), "negotiated %r" % got


@pytest.mark.parametrize("ciphers", [
    "AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA",
    "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:AES256-SHA256",
])
def test_static_rsa_refused(tls, certs, ciphers):
    """Only forward-secret key exchange: a TLS 1.2 client offering only
    static-RSA suites must fail (the a.test key is RSA, so they would
    otherwise work)."""
    def go():
        with tls_conn(tls.p.sni, certs, sni="a.test", ciphers=ciphers,
                      max_version=ssl.TLSVersion.TLSv1_2) as c:
            return c.sock.cipher()
    got = attempt(go)
    assert isinstance(got, Exception), "negotiated %r" % (got,)


def test_ciphers_key(tls, certs):
    def go(c12):
        with tls_conn(tls.p.ciph, certs, sni="ciph.test", ciphers=c12,
                      max_version=ssl.TLSVersion.TLSv1_2) as c:
            return c.sock.cipher()[0]
    assert go("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256") == \
        "ECDHE-RSA-AES256-GCM-SHA384"
    got = attempt(lambda: go("ECDHE-RSA-AES128-GCM-SHA256"))
    assert isinstance(got, Exception), got


def test_tls13_ciphers_key(tls, certs):
    with tls_conn(tls.p.ciph, certs, sni="ciph.test") as c:
        assert c.sock.version() == "TLSv1.3"
        assert c.sock.cipher()[0] == "TLS_CHACHA20_POLY1305_SHA256"
        c.request("GET", "/who.txt", host="ciph.test")
        assert c.read_response().text == "ciph.test"


@pytest.mark.parametrize("maxv", [None, ssl.TLSVersion.TLSv1_2])
def test_ecdh_curve_key(tls, certs, maxv):
    def go(curve):
        ctx = client_context(certs, max_version=maxv)
        ctx.set_ecdh_curve(curve)
        s = tls_socket(tls.p.ciph, ctx, sni="ciph.test")
        v = s.version()
        s.close()
        return v
    assert go("secp384r1") in ("TLSv1.3", "TLSv1.2")
    got = attempt(lambda: go("prime256v1"))
    assert isinstance(got, Exception), "prime256v1 accepted with ecdh-curve secp384r1"


def test_ssl_option_set(tls, certs):
    """ssl-option-set 0x20004000: SSL_OP_NO_TLSv1_3 | SSL_OP_NO_TICKET."""
    with tls_conn(tls.p.optset, certs, sni="optset.test") as c:
        assert c.sock.version() == "TLSv1.2"
        c.request("GET", "/who.txt", host="optset.test")
        assert c.read_response().text == "optset.test"
        assert not c.sock.session.has_ticket


def test_ssl_option_clear(tls, certs):
    """As in lws, ssl-option-clear is applied after ssl-option-set: setting
    and clearing SSL_OP_NO_TLSv1_3 leaves TLS 1.3 on."""
    with tls_conn(tls.p.optclr, certs, sni="optclr.test") as c:
        assert c.sock.version() == "TLSv1.3"


# -- session resumption -------------------------------------------------------------

def _session_after_request(port, certs, sni, **kw):
    """(client context, session) after one request; resuming needs both."""
    ctx = client_context(certs, **kw)
    with tls_conn(port, certs, sni=sni, ctx=ctx) as c:
        c.request("GET", "/who.txt", host=sni)
        r = c.read_response()
        assert r.status == 200
        # TLS 1.3 tickets arrive after the handshake: read the response first.
        return ctx, c.sock.session


@pytest.mark.parametrize("maxv", [None, ssl.TLSVersion.TLSv1_2])
@pytest.mark.parametrize("sni", ["a.test", "b.test"])
def test_session_resumption(tls, certs, sni, maxv):
    ctx, sess = _session_after_request(tls.p.sni, certs, sni, max_version=maxv)
    assert sess is not None
    if maxv == ssl.TLSVersion.TLSv1_2:
        assert sess.has_ticket, "no session ticket issued"
    with tls_conn(tls.p.sni, certs, sni=sni, ctx=ctx, session=sess) as c:
        assert c.sock.session_reused, "session not resumed"
        c.request("GET", "/who.txt", host=sni)
        r = c.read_response()
        assert r.status == 200 and r.text == sni


def test_resumption_keeps_vhost(tls, certs):
    """A resumed b.test session is still served as b.test."""
    ctx, sess = _session_after_request(tls.p.sni, certs, "b.test")
    for _ in range(3):
        with tls_conn(tls.p.sni, certs, sni="b.test", ctx=ctx, session=sess) as c:
            c.request("GET", "/who.txt", host="b.test")
            assert c.read_response().text == "b.test"


# -- Strict-Transport-Security -----------------------------------------------------------

def test_sts_on_tls_vhost(tls, certs):
    r = get_tls(tls.p.sni, certs, sni="a.test")
    sts = r.header_all("Strict-Transport-Security")
    assert len(sts) == 1, r.headers
    m = re.search(r"(?i)max-age=(\d+)", sts[0])
    assert m and int(m.group(1)) > 0, sts
    r = get_tls(tls.p.sni, certs, target="/missing", sni="a.test")
    assert r.status == 404 and r.has("Strict-Transport-Security")


def test_no_sts_without_key(tls, certs):
    r = get_tls(tls.p.sni, certs, sni="b.test")
    assert r.status == 200 and not r.has("Strict-Transport-Security"), r.headers


# -- client certificates --------------------------------------------------------------

def _ccert_get(tls, certs, **kw):
    def go():
        with tls_conn(tls.p.ccert, certs, sni="secure.test", **kw) as c:
            c.request("GET", "/who.txt", host="secure.test")
            return c.read_response(timeout=5)
    return attempt(go)


@pytest.mark.parametrize("maxv", [None, ssl.TLSVersion.TLSv1_2])
def test_client_cert_accepted(tls, certs, maxv):
    r = _ccert_get(tls, certs, cert=certs.client_cert, key=certs.client_key,
                   max_version=maxv)
    assert not isinstance(r, Exception), r
    assert r.status == 200 and r.text == "secure.test"


@pytest.mark.parametrize("maxv", [None, ssl.TLSVersion.TLSv1_2])
def test_client_cert_missing_refused(tls, certs, maxv):
    r = _ccert_get(tls, certs, max_version=maxv)
    assert isinstance(r, Exception), "served without a client certificate: %r" % r


@pytest.mark.parametrize("maxv", [None, ssl.TLSVersion.TLSv1_2])
def test_client_cert_wrong_ca_refused(tls, certs, maxv):
    r = _ccert_get(tls, certs, cert=certs.rogue_cert, key=certs.rogue_key,
                   max_version=maxv)
    assert isinstance(r, Exception), "served with a certificate of another CA: %r" % r


def test_client_cert_server_cert_not_a_client_cert(tls, certs):
    """A certificate from the server root (not the client CA) is refused."""
    r = _ccert_get(tls, certs, cert=certs.b_cert, key=certs.b_key)
    assert isinstance(r, Exception), r


@pytest.mark.parametrize("maxv", [None, ssl.TLSVersion.TLSv1_2])
def test_client_cert_resumption(tls, certs, maxv):
    """Resuming on a vhost that verifies clients needs a session id
    context; without one OpenSSL aborts the resumed handshake."""
    ctx, sess = _session_after_request(tls.p.ccert, certs, "secure.test",
                                       cert=certs.client_cert, key=certs.client_key,
                                       max_version=maxv)
    with tls_conn(tls.p.ccert, certs, sni="secure.test", ctx=ctx, session=sess) as c:
        c.request("GET", "/who.txt", host="secure.test")
        r = c.read_response()
        assert r.status == 200 and r.text == "secure.test"


def test_other_vhosts_do_not_ask_for_client_cert(tls, certs):
    r = get_tls(tls.p.sni, certs, sni="a.test")
    assert r.status == 200


# -- plain HTTP on TLS ports -------------------------------------------------------------

def _plain(port, host, target="/x/y.txt?q=1&r=2"):
    with pthttp.Conn(port, timeout=5) as c:
        c.request("GET", target, host=host)
        return c.read_response(timeout=5)


def test_redirect_http(tls, certs):
    port = tls.p.redir
    r = _plain(port, "redir.test:%d" % port)
    assert r.status in (301, 302, 307, 308), r
    assert r.header("Location") == "https://redir.test:%d/x/y.txt?q=1&r=2" % port
    assert not r.has("Strict-Transport-Security"), \
        "STS must not be sent over plain HTTP (RFC 6797 7.2)"
    assert r.header("Content-Length") is not None or r.header("Transfer-Encoding")


def test_redirect_http_follow(tls, certs):
    port = tls.p.redir
    r = _plain(port, "redir.test:%d" % port, "/who.txt")
    loc = r.header("Location")
    assert loc == "https://redir.test:%d/who.txt" % port, loc
    r = get_tls(port, certs, sni="redir.test", host="redir.test:%d" % port)
    assert r.status == 200 and r.text == "redir.test"
    assert r.has("Strict-Transport-Security")


def test_redirect_http_then_tls_alternating(tls, certs):
    port = tls.p.redir
    for _ in range(5):
        assert _plain(port, "redir.test:%d" % port).status in (301, 302, 307, 308)
        assert get_tls(port, certs, sni="redir.test").status == 200


def test_allow_non_tls_serves_plain(tls, certs):
    port = tls.p.nontls
    r = _plain(port, "nontls.test", "/who.txt")
    assert r.status == 200 and r.text == "nontls.test"
    r = get_tls(port, certs, sni="nontls.test")
    assert r.status == 200 and r.text == "nontls.test"


def test_plain_http_on_strict_tls_port(tls, certs):
    """Without allow-non-tls, plain HTTP gets no HTTP answer (a TLS alert
    or a close), and the port keeps serving TLS."""
    with pthttp.Conn(tls.p.sni, timeout=5) as c:
        c.request("GET", "/who.txt", host="a.test")
        data = b""
        try:
            while c._fill(time.monotonic() + 5):
                pass
        except socket.timeout:
            raise AssertionError("server kept a plain-HTTP connection open "
                                 "on a TLS port for 5 s")
        data = c.buf
    assert not data.startswith(b"HTTP/"), data[:100]
    assert get_tls(tls.p.sni, certs, sni="a.test").status == 200


def test_tls_on_plain_port_fails(tls, certs):
    got = attempt(lambda: get_tls(tls.p.plain, certs, sni="plain.test"))
    assert isinstance(got, Exception), got
    assert _plain(tls.p.plain, "plain.test", "/who.txt").text == "plain.test"


def test_garbage_handshake_does_not_hurt(tls, certs):
    for junk in (b"\x16\x03\x01\x00\x05hello", b"\x16\x03\x03\xff\xff" + b"\0" * 100,
                 os.urandom(300), b"\x80\x2e\x01\x00\x02"):
        with pthttp.Conn(tls.p.sni, timeout=5) as c:
            c.send(junk)
            try:
                c.wait_closed(3.0)
            except AssertionError:
                pass        # an alert is fine
    assert get_tls(tls.p.sni, certs, sni="b.test").text == "b.test"


def test_handshake_timeout(portico, certs):
    """A client that connects and never sends a ClientHello is dropped
    after timeout-secs."""
    site = portico.site("hstimeout")
    site.write("a.txt", "hello\n")
    srv = site.start(vhosts=[site.vhost(name="localhost", **{
        "host-ssl-cert": certs.local_cert, "host-ssl-key": certs.local_key})],
        global_={"timeout-secs": 1})
    with pthttp.Conn(srv.port, timeout=8) as c:
        t0 = time.monotonic()
        assert c.wait_closed(6.0), "idle pre-handshake connection never dropped"
        assert time.monotonic() - t0 < 5
    with tls_conn(srv.port, certs, sni="localhost") as c:
        c.request("GET", "/a.txt")
        assert c.read_response().status == 200
    srv.check_exit()


# -- idle memory ---------------------------------------------------------------------

def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(sanitize_enabled(), reason="sanitizer allocators inflate RSS")
def test_idle_tls_connection_memory(portico, certs):
    """SSL_MODE_RELEASE_BUFFERS: an idle keep-alive TLS connection must not
    hold OpenSSL's 16 KiB read and write buffers.  Measured over 400
    connections that each completed a request."""
    site = portico.site("idle")
    site.write("a.txt", "hello\n")
    srv = site.start(vhosts=[site.vhost(name="localhost", **{
        "host-ssl-cert": certs.local_cert, "host-ssl-key": certs.local_key})],
        global_={"timeout-secs": 60})
    ctx = client_context(certs)
    n = 400
    warm = []
    for _ in range(20):     # warm up allocator arenas and session caches
        s = tls_socket(srv.port, ctx, sni="localhost")
        s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        s.recv(4096)
        warm.append(s)
    time.sleep(0.3)
    before = vm_rss_kb(srv.pid)
    conns = []
    try:
        for _ in range(n):
            s = tls_socket(srv.port, ctx, sni="localhost")
            s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
            conns.append(s)
        for s in conns:
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
        time.sleep(0.5)
        after = vm_rss_kb(srv.pid)
    finally:
        for s in conns + warm:
            s.close()
    per_conn = (after - before) * 1024 / n
    assert per_conn < 20 * 1024, "%.0f bytes of RSS per idle TLS connection" % per_conn
    srv.check_exit()


# -- start-up errors -------------------------------------------------------------------

def _bad_site(portico, certs, name, **tlskw):
    site = portico.site("bad")
    kw = {"host-ssl-cert": certs.a_cert, "host-ssl-key": certs.a_key}
    kw.update(tlskw)
    kw = {k: v for k, v in kw.items() if v is not None}
    good = site.vhost(name="good.test",
                      **{"host-ssl-cert": certs.b_cert, "host-ssl-key": certs.b_key})
    bad = site.vhost(name=name, port=site.new_port(), **kw)
    site.write_config([good, bad])
    return site


def _bad_cases(certs, tmp):
    nodir = str(tmp / "nope" / "missing.pem")
    return {
        "garbage-cert": ({"host-ssl-cert": certs.garbage}, certs.garbage),
        "truncated-cert": ({"host-ssl-cert": certs.truncated}, certs.truncated),
        "missing-cert": ({"host-ssl-cert": nodir}, nodir),
        "cert-is-dir": ({"host-ssl-cert": str(tmp)}, str(tmp)),
        "garbage-key": ({"host-ssl-key": certs.garbage}, certs.garbage),
        "missing-key": ({"host-ssl-key": nodir}, nodir),
        "key-is-cert": ({"host-ssl-key": certs.b_cert}, certs.b_cert),
        "mismatched-key": ({"host-ssl-key": certs.b_key}, None),
        "stray-key": ({"host-ssl-key": certs.stray_key}, None),
        "garbage-ca": ({"host-ssl-ca": certs.garbage, "client-cert-required": 1},
                       certs.garbage),
        "missing-ca": ({"host-ssl-ca": nodir, "client-cert-required": 1}, nodir),
    }


CASES = ["garbage-cert", "truncated-cert", "missing-cert", "cert-is-dir",
         "garbage-key", "missing-key", "key-is-cert", "mismatched-key",
         "stray-key", "garbage-ca", "missing-ca"]


def _assert_names(text, vhost, path, certs, kw):
    assert vhost in text, "error does not name the vhost %r:\n%s" % (vhost, text)
    if path is None:        # a mismatch: naming either file is fine
        paths = [certs.a_cert, kw.get("host-ssl-key")]
        assert any(p in text for p in paths), \
            "error names neither the certificate nor the key:\n%s" % text
    else:
        assert path in text, "error does not name %r:\n%s" % (path, text)


@pytest.mark.parametrize("case", CASES)
def test_bad_material_check_mode(portico, certs, tmp_path, case):
    kw, path = _bad_cases(certs, tmp_path)[case]
    site = _bad_site(portico, certs, "bad.test", **kw)
    rc, out, err = run_cli(["-t", "-c", str(site.root)], cwd=str(site.root))
    assert rc != 0, "portico -t accepted %s:\n%s" % (case, out + err)
    _assert_names(out + err, "bad.test", path, certs, kw)


@pytest.mark.parametrize("case", CASES)
def test_bad_material_start(portico, certs, tmp_path, case):
    kw, path = _bad_cases(certs, tmp_path)[case]
    site = _bad_site(portico, certs, "bad.test", **kw)
    try:
        rc, out, err = run_cli(["-c", str(site.root)], cwd=str(site.root), timeout=8)
    except subprocess.TimeoutExpired:
        raise AssertionError("portico started (ran 8 s) with %s" % case)
    assert rc != 0
    _assert_names(out + err, "bad.test", path, certs, kw)


def test_cert_without_key_is_an_error(portico, certs):
    site = _bad_site(portico, certs, "bad.test", **{"host-ssl-key": None})
    rc, out, err = run_cli(["-t", "-c", str(site.root)], cwd=str(site.root))
    assert rc != 0, out + err
    assert "bad.test" in out + err or "host-ssl-key" in out + err, out + err


def test_good_tls_config_checks(portico, certs):
    site = portico.site("goodtls")
    site.write_config([site.vhost(name="a.test", **{
        "host-ssl-cert": certs.a_cert, "host-ssl-key": certs.a_key,
        "host-ssl-ca": certs.client_ca, "ciphers": "ECDHE-RSA-AES256-GCM-SHA384",
        "tls13-ciphers": "TLS_AES_128_GCM_SHA256", "ecdh-curve": "prime256v1",
        "ssl-option-set": "0x4000", "ssl-option-clear": 0, "sts": 1})])
    rc, out, err = run_cli(["-t", "-c", str(site.root)], cwd=str(site.root))
    assert rc == 0, out + err
    assert not re.search(r"(?i)\berror\b", out + err), out + err


def test_mixing_tls_and_plain_on_one_port_is_an_error(portico, certs):
    site = portico.site("mixed")
    site.write_config([
        site.vhost(name="a.test", **{"host-ssl-cert": certs.a_cert,
                                     "host-ssl-key": certs.a_key}),
        site.vhost(name="plain.test"),
    ])
    rc, out, err = run_cli(["-t", "-c", str(site.root)], cwd=str(site.root))
    assert rc != 0, out + err
    assert "plain.test" in out + err or "a.test" in out + err, out + err


@pytest.mark.parametrize("key,value", [
    ("ciphers", "NOT-A-CIPHER"),
    ("tls13-ciphers", "TLS_NOT_A_SUITE"),
    ("ecdh-curve", "notacurve"),
])
def test_bad_cipher_settings_are_errors(portico, certs, key, value):
    site = portico.site("badciph")
    site.write_config([site.vhost(name="a.test", **{
        "host-ssl-cert": certs.a_cert, "host-ssl-key": certs.a_key, key: value})])
    rc, out, err = run_cli(["-t", "-c", str(site.root)], cwd=str(site.root))
    assert rc != 0, "%s=%r accepted:\n%s" % (key, value, out + err)
    assert "a.test" in out + err, out + err


def test_vhosts_on_one_certificate_share_a_context(portico, certs):
    """Many names on one certificate (and the same settings) share one TLS
    context: each is still its own vhost, chosen by SNI and Host; one with
    other settings (client certificates) on the same certificate keeps its
    own and its rules."""
    site = portico.site("sharedctx")
    port2 = site.new_port()
    vhosts = []
    for name in ("one.test", "two.test", "three.test"):
        d = site.root / ("www-" + name)
        site.write("who.txt", name, base=d)
        vhosts.append(site.vhost(name=name, mounts=[site.mount("/", "file://%s" % d)],
                                 **{"host-ssl-cert": str(certs.a_cert),
                                    "host-ssl-key": str(certs.a_key)}))
    d = site.root / "www-strict"
    site.write("who.txt", "strict.test", base=d)
    vhosts.append(site.vhost(name="strict.test", port=port2,
                             mounts=[site.mount("/", "file://%s" % d)],
                             **{"host-ssl-cert": str(certs.a_cert),
                                "host-ssl-key": str(certs.a_key),
                                "host-ssl-ca": str(certs.client_ca),
                                "client-cert-required": 1}))
    site.start(vhosts=vhosts)
    for name in ("one.test", "two.test", "three.test"):
        r = get_tls(site.port, certs, sni=name)
        assert r.status == 200 and r.text == name
    r = attempt(lambda: get_tls(port2, certs, sni="strict.test"))
    assert not hasattr(r, "status") or r.status != 200, "no client certificate, yet served"
