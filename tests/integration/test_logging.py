"""Log levels on stderr: bad requests are logged at info with the peer
address, and nothing of that kind appears at -l error."""

import pytest

from pthttp import Conn


def bad_request(srv):
    with Conn(srv.port) as c:
        c.send(b"GET /a.txt HTTP/1.1\r\nHost : x\r\n\r\n")
        assert c.read_response().status == 400


@pytest.fixture(scope="module")
def quiet(portico):
    site = portico.site("quiet")
    site.write("a.txt", "hello\n")
    return site.start(log_level="error")


@pytest.fixture(scope="module")
def chatty(portico):
    site = portico.site("chatty")
    site.write("a.txt", "hello\n")
    return site.start(log_level="debug")


def test_info_logs_peer_on_bad_request(chatty):
    off = chatty.log_size()
    bad_request(chatty)
    text = chatty.wait_log(off, r"127\.0\.0\.1")
    assert "127.0.0.1" in text, text


def test_error_level_hides_info(quiet):
    off = quiet.log_size()
    bad_request(quiet)
    assert quiet.get("/a.txt").status == 200
    import time
    time.sleep(0.3)
    text = quiet.log_since(off)
    assert "127.0.0.1" not in text, text


def test_default_level_runs(portico):
    """Without -l the server runs and serves."""
    site = portico.site("default")
    site.write("a.txt", "hello\n")
    srv = site.start(log_level=None)
    assert srv.get("/a.txt").body == b"hello\n"
