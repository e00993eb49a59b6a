"""https:// mounts: TLS to the backend with verification (the mount's CA
or the system store), the name checked, SNI, client contexts shared by
their settings, and sessions resumed."""

import re
import ssl
import subprocess

import pytest

import backend as be
from certs import certs_fixture  # noqa: F401 (fixture)
from ptserver import portico_bin


def server_ctx(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


@pytest.fixture(scope="module")
def bk(certs):
    b = be.Backend(tls_ctx=server_ctx(certs.local_cert, certs.local_key))
    yield b
    b.close()


@pytest.fixture(scope="module")
def wrong(certs):
    """Serves a certificate for a.test, not for localhost."""
    b = be.Backend(tls_ctx=server_ctx(certs.a_cert, certs.a_key))
    yield b
    b.close()


@pytest.fixture(scope="module")
def srv(portico, bk, wrong, certs):
    site = portico.site("proxytls")
    mounts = [
        site.mount("/"),
        {"mountpoint": "/s", "origin": "https://localhost:%d/app" % bk.port,
         "proxy-ca": certs.ca},
        {"mountpoint": "/ip", "origin": "https://127.0.0.1:%d/app" % bk.port,
         "proxy-ca": certs.ca},
        {"mountpoint": "/sys", "origin": "https://localhost:%d/app" % bk.port},
        {"mountpoint": "/insecure", "origin": "https://localhost:%d/app" % wrong.port,
         "proxy-insecure": 1},
        {"mountpoint": "/wrong", "origin": "https://localhost:%d/app" % wrong.port,
         "proxy-ca": certs.ca},
    ]
    return site.start(vhosts=[site.vhost(mounts=mounts)])


def last(b):
    with b.lock:
        return b.requests[-1]


def test_https_backend(srv, bk):
    r = srv.get("/s/x?y=1")
    assert r.status == 200, r
    assert r.text == "ok GET /app/x?y=1"
    assert last(bk).header("Host") == "localhost:%d" % bk.port
    r = srv.get("/s/echo", method="POST", body=be.pattern(300000))
    assert r.body == be.pattern(300000)
    r = srv.get("/s/chunked?n=100000")
    assert r.body == be.pattern(100000)


def test_ip_literal_checked_against_ip_san(srv):
    assert srv.get("/ip/a").status == 200


def test_keep_alive_over_tls(srv, bk):
    srv.get("/s/warm")
    bk.reset()
    for i in range(10):
        assert srv.get("/s/n/%d" % i).status == 200
    with bk.lock:
        assert len({q.conn_id for q in bk.requests}) == 1


def test_sessions_resumed(srv, bk):
    assert srv.get("/s/close").status == 200  # the pooled connection goes
    bk.reset()
    for i in range(3):
        assert srv.get("/s/close").status == 200  # each on a new connection
    with bk.lock:
        assert len(bk.resumed) == 3
        assert all(bk.resumed), bk.resumed


def test_unknown_ca_refused_502(srv):
    off = srv.log_size()
    r = srv.get("/sys/x")
    assert r.status == 502
    assert "certificate verify failed" in srv.wait_log(off, "verify failed")


def test_wrong_name_refused_502(srv):
    off = srv.log_size()
    r = srv.get("/wrong/x")
    assert r.status == 502
    assert "certificate verify failed" in srv.wait_log(off, "verify failed")


def test_insecure_skips_verification(srv):
    assert srv.get("/insecure/x").status == 200
    assert "proxy-insecure" in srv.log()


def test_contexts_shared_by_settings(portico, certs, bk):
    """Ten mounts with the same settings share one client context; a mount
    with another CA makes a second."""
    site = portico.site("proxyctx")
    mounts = [{"mountpoint": "/m%d" % i, "origin": "https://localhost:%d/" % bk.port,
               "proxy-ca": certs.ca} for i in range(10)]
    mounts.append({"mountpoint": "/other", "origin": "https://localhost:%d/" % bk.port,
                   "proxy-ca": certs.client_ca})
    site.write_config(vhosts=[site.vhost(mounts=mounts)])
    p = subprocess.run([portico_bin(), "-t", "-l", "info", "-c", str(site.root)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    made = re.findall(r"TLS client context (\d+) made", p.stderr)
    assert made == ["1", "2"], p.stderr


def test_bad_ca_file_is_a_config_error(portico, bk):
    site = portico.site("proxybadca")
    (site.root / "junk.pem").write_text("not a certificate\n")
    site.write_config(vhosts=[site.vhost(mounts=[
        {"mountpoint": "/", "origin": "https://localhost:%d/" % bk.port,
         "proxy-ca": str(site.root / "junk.pem")}])])
    p = subprocess.run([portico_bin(), "-t", "-c", str(site.root)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1
    assert re.search(r"10-vhosts:\d+:\d+: error: proxy-ca: not a usable PEM CA file", p.stderr), \
        p.stderr
