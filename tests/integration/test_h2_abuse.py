"""HTTP/2 flood and abuse protection (issue 3), over h2c and over TLS.

Each attack runs on its own connection, built from raw frames
(h2frames.RawH2) because python3-h2 refuses to send most of them.  The
abusive connection must get a GOAWAY with the right error code and be
closed:

- floods (rapid reset CVE-2023-44487, CONTINUATION CVE-2024-27316 /
  CVE-2024-28182, SETTINGS, PING, empty DATA, PRIORITY): ENHANCE_YOUR_CALM;
- an HPACK bomb (decoded header list far over max-header-size):
  ENHANCE_YOUR_CALM or COMPRESSION_ERROR;
- protocol violations (stream-id reuse or going backwards, even stream ids,
  frames on idle or closed streams): PROTOCOL_ERROR / STREAM_CLOSED as RFC
  9113 section 5.1 says.

A bystander connection opened before the attack must get 200 during and
after it, and so must a fresh connection.
"""

import struct
import time

import pytest

from certs import certs_fixture  # noqa: F401  (the `certs` fixture)
from certs import client_context
from h2frames import (CANCEL, COMPRESSION_ERROR, DATA, ENHANCE_YOUR_CALM,
                      GOAWAY, HEADER_TABLE_SIZE, INITIAL_WINDOW_SIZE,
                      PROTOCOL_ERROR, RST_STREAM, STREAM_CLOSED, H2Client,
                      RawH2, continuation_frame, data_frame, err_name,
                      frame, headers_frame, hpack_indexed,
                      hpack_literal, hpack_literal_indexed, hpack_string,
                      ping_frame, priority_frame, rst_frame, settings_frame)

TRANSPORTS = ["h2c", "tls"]
HUGE_SIZE = 64 * 1024 * 1024
FLOOD = 100000          # frames sent at most per flood
GOAWAY_WAIT = 3.0       # seconds to wait for the GOAWAY and the close


@pytest.fixture(scope="module")
def srv(portico, certs):
    site = portico.site()
    site.write("a.txt", "hello\n")
    with open(site.docroot / "huge.bin", "wb") as f:
        f.truncate(HUGE_SIZE)
    plain = site.new_port()
    s = site.start(vhosts=[
        site.vhost(name="localhost", **{"host-ssl-cert": certs.local_cert,
                                        "host-ssl-key": certs.local_key}),
        site.vhost(name="localhost", port=plain)],
        global_={"count-threads": 1, "timeout-secs": 10})
    s.tls_port, s.plain_port = site.ports
    s.certs = certs
    return s


OPEN = []      # attacker connections of the running test, closed after it


@pytest.fixture(autouse=True)
def close_attackers():
    yield
    while OPEN:
        OPEN.pop().close()


def attacker(srv, transport, settings=None, rcvbuf=None):
    if transport == "tls":
        c = RawH2(srv.tls_port, tls_ctx=client_context(srv.certs, alpn=["h2"]),
                  sni="localhost", settings=settings, rcvbuf=rcvbuf)
    else:
        c = RawH2(srv.plain_port, settings=settings, rcvbuf=rcvbuf)
    OPEN.append(c)
    return c


def client(srv, transport):
    if transport == "tls":
        return H2Client(srv.tls_port, tls_ctx=client_context(srv.certs, alpn=["h2"]),
                        sni="localhost", timeout=5)
    return H2Client(srv.plain_port, timeout=5)


def static_request(path, transport, authority="localhost"):
    """A request header block using only the static table (no dynamic
    table state, so it can be repeated or mixed with hand-made blocks):
    :method GET, :scheme, :path, :authority."""
    return (hpack_indexed(2) + hpack_indexed(7 if transport == "tls" else 6)
            + b"\x04" + hpack_string(path) + b"\x01" + hpack_string(authority))


class Bystander:
    def __init__(self, srv, transport):
        self.srv = srv
        self.transport = transport
        self.conn = client(srv, transport)
        self.check("before the attack")

    def check(self, when):
        try:
            r = self.conn.get("/a.txt", timeout=5)
        except Exception as e:      # noqa: BLE001 - report any failure kind
            raise AssertionError("bystander connection failed %s: %r" % (when, e))
        assert r.status == 200 and r.body == b"hello\n", (when, r)

    def close(self):
        self.conn.close()


def expect_goaway(srv, transport, c, codes, bystander):
    goaway, closed = c.wait_goaway(GOAWAY_WAIT)
    seen = [f for f in c.frames if f.type in (GOAWAY, RST_STREAM)][:5]
    assert goaway is not None, ("no GOAWAY (closed=%s); last frames %r; GOAWAY/RST %r"
                                % (closed, c.frames[-5:], seen))
    assert goaway.error_code in codes, "GOAWAY %s, want %s" % (
        err_name(goaway.error_code), "/".join(err_name(x) for x in codes))
    assert closed, "abusive connection left open after GOAWAY"
    assert srv.alive()
    bystander.check("after the attack")
    with client(srv, transport) as fresh:
        r = fresh.get("/a.txt")
        assert r.status == 200 and r.body == b"hello\n"


def flood(c, chunks, bystander, stop_on_goaway=True):
    """Sends chunks until the server stops reading or (optionally) a
    GOAWAY shows up; checks the bystander along the way."""
    for i, chunk in enumerate(chunks):
        if not c.try_send(chunk, timeout=1.0):
            break
        if stop_on_goaway and any(f.type == GOAWAY for f in c.poll_frames()):
            break
        if i % 8 == 7:
            bystander.check("during the attack")


@pytest.fixture
def bystander(srv, request):
    b = Bystander(srv, request.node.callspec.params["transport"])
    yield b
    b.close()


# -- floods ---------------------------------------------------------------------------

@pytest.mark.parametrize("transport", TRANSPORTS)
def test_rapid_reset(srv, transport, bystander):
    """CVE-2023-44487: streams opened and cancelled at once, each one on a
    file the server cannot send yet (zero window)."""
    c = attacker(srv, transport, settings={INITIAL_WINDOW_SIZE: 0})
    c.handshake()
    block = static_request("/huge.bin", transport)

    def chunks():
        sid = 1
        for _ in range(FLOOD // 200):
            out = []
            for _ in range(200):
                out.append(headers_frame(sid, block) + rst_frame(sid, CANCEL))
                sid += 2
            yield b"".join(out)
    flood(c, chunks(), bystander)
    expect_goaway(srv, transport, c, (ENHANCE_YOUR_CALM,), bystander)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_server_provoked_resets(srv, transport, bystander):
    """The "MadeYouReset" class (CVE-2025-8671): requests the server itself
    must reset (content-length: 1, then 2 bytes of DATA), 50 at a time.
    Those resets count toward the same budget as the client's own."""
    c = attacker(srv, transport)
    c.handshake()
    block = (hpack_indexed(3) + hpack_indexed(7 if transport == "tls" else 6)
             + b"\x04" + hpack_string("/a.txt") + b"\x01" + hpack_string("localhost")
             + hpack_literal("content-length", "1"))
    sid = 1
    for batch in range(400):  # 50 at a time, as the attack goes: 20,000 resets if never stopped
        out = []
        for _ in range(50):
            out.append(headers_frame(sid, block, end_stream=False)
                       + data_frame(sid, b"xx", end_stream=True))
            sid += 2
        if not c.try_send(b"".join(out), timeout=1.0):
            break
        f = c.read_until(lambda f: f.type == GOAWAY or (f.type == RST_STREAM
                                                         and f.sid == sid - 2), 3)
        if f is None or f.type == GOAWAY:
            break
        if batch % 20 == 19:
            bystander.check("during the attack")
    resets = [f for f in c.frames if f.type == RST_STREAM]
    assert resets and resets[0].error_code == PROTOCOL_ERROR, c.frames[:5]
    expect_goaway(srv, transport, c, (ENHANCE_YOUR_CALM,), bystander)
    assert len(resets) < 2000, len(resets)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_continuation_flood_empty(srv, transport, bystander):
    """CVE-2024-28182 style: an endless run of empty CONTINUATION frames
    that never ends the header block."""
    c = attacker(srv, transport)
    c.handshake()
    first = headers_frame(1, static_request("/a.txt", transport), end_headers=False)
    empty = continuation_frame(1, b"") * 2000

    def chunks():
        yield first
        for _ in range(FLOOD // 2000):
            yield empty
    flood(c, chunks(), bystander)
    expect_goaway(srv, transport, c, (ENHANCE_YOUR_CALM,), bystander)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_continuation_flood_headers(srv, transport, bystander):
    """CVE-2024-27316: CONTINUATION frames each adding a 1000-byte header,
    never ending the block: the server must cut it off, not buffer it."""
    c = attacker(srv, transport)
    c.handshake()
    first = headers_frame(1, static_request("/a.txt", transport), end_headers=False)

    def chunks():
        yield first
        n = 0
        for _ in range(50):
            out = []
            for _ in range(40):
                out.append(continuation_frame(1, hpack_literal("x-c%d" % n, "v" * 1000)))
                n += 1
            yield b"".join(out)
    flood(c, chunks(), bystander)
    expect_goaway(srv, transport, c, (ENHANCE_YOUR_CALM, COMPRESSION_ERROR), bystander)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_settings_flood(srv, transport, bystander):
    """Each SETTINGS needs an ACK; the attacker does not read them while
    it floods."""
    c = attacker(srv, transport)
    c.handshake()
    chunk = settings_frame({INITIAL_WINDOW_SIZE: 65535}) * 5000
    flood(c, (chunk for _ in range(FLOOD // 5000)), bystander, stop_on_goaway=False)
    expect_goaway(srv, transport, c, (ENHANCE_YOUR_CALM,), bystander)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_ping_flood(srv, transport, bystander):
    """Each PING needs an ACK; the attacker does not read them while it
    floods."""
    c = attacker(srv, transport)
    c.handshake()
    chunk = b"".join(ping_frame(struct.pack(">Q", i)) for i in range(5000))
    flood(c, (chunk for _ in range(FLOOD // 5000)), bystander, stop_on_goaway=False)
    expect_goaway(srv, transport, c, (ENHANCE_YOUR_CALM,), bystander)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_empty_data_flood(srv, transport, bystander):
    """CVE-2019-9518: zero-length DATA frames without END_STREAM on an
    open stream cost the server work and move nothing."""
    c = attacker(srv, transport, settings={INITIAL_WINDOW_SIZE: 0})
    c.handshake()
    c.send(headers_frame(1, static_request("/huge.bin", transport), end_stream=False))
    chunk = data_frame(1, b"") * 5000
    flood(c, (chunk for _ in range(FLOOD // 5000)), bystander)
    expect_goaway(srv, transport, c, (ENHANCE_YOUR_CALM,), bystander)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_priority_flood(srv, transport, bystander):
    """CVE-2019-9513: PRIORITY frames reshuffling a tree of idle streams."""
    c = attacker(srv, transport)
    c.handshake()

    def chunks():
        n = 0
        for _ in range(FLOOD // 5000):
            out = []
            for _ in range(5000):
                sid = 1 + 2 * (n % 4000)
                dep = 1 + 2 * ((n * 7 + 3) % 4000)
                out.append(priority_frame(sid, dep if dep != sid else 0,
                                          weight=1 + n % 256))
                n += 1
            yield b"".join(out)
    flood(c, chunks(), bystander)
    expect_goaway(srv, transport, c, (ENHANCE_YOUR_CALM,), bystander)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_hpack_bomb(srv, transport, bystander):
    """A 4 KB header in the dynamic table, then one HEADERS frame that
    references it 4000 times: ~16 MB decoded from 4 KB."""
    c = attacker(srv, transport)
    table = c.handshake().settings.get(HEADER_TABLE_SIZE, 4096)
    assert table >= 256, "server HPACK table too small to test: %d" % table
    value = "A" * (min(table, 4096) - 6 - 32 - 8)
    base = static_request("/a.txt", transport)
    c.send(headers_frame(1, base + hpack_literal_indexed("x-bomb", value)))
    hdrs, body, rst = c.response(1)
    assert rst is None and body == b"hello\n", (hdrs, rst)
    c.send(headers_frame(3, base + hpack_indexed(62) * 4000))
    bystander.check("during the attack")
    expect_goaway(srv, transport, c, (ENHANCE_YOUR_CALM, COMPRESSION_ERROR), bystander)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_hpack_bomb_across_continuations(srv, transport, bystander):
    """The same bomb spread over CONTINUATION frames of 500 references each."""
    c = attacker(srv, transport)
    table = c.handshake().settings.get(HEADER_TABLE_SIZE, 4096)
    value = "B" * (min(table, 4096) - 6 - 32 - 8)
    base = static_request("/a.txt", transport)
    c.send(headers_frame(1, base + hpack_literal_indexed("x-bomb", value)))
    c.response(1)
    frames = [headers_frame(3, base, end_headers=False)]
    frames += [continuation_frame(3, hpack_indexed(62) * 500) for _ in range(7)]
    frames.append(continuation_frame(3, hpack_indexed(62) * 500, end_headers=True))
    c.try_send(b"".join(frames))
    expect_goaway(srv, transport, c, (ENHANCE_YOUR_CALM, COMPRESSION_ERROR), bystander)


# -- protocol violations ----------------------------------------------------------------

def _complete(c, sid, transport):
    c.send(headers_frame(sid, static_request("/a.txt", transport)))
    hdrs, body, rst = c.response(sid)
    assert body == b"hello\n" and rst is None, (hdrs, rst)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stream_id_reuse(srv, transport, bystander):
    c = attacker(srv, transport)
    c.handshake()
    _complete(c, 1, transport)
    c.send(headers_frame(1, static_request("/a.txt", transport)))
    expect_goaway(srv, transport, c, (PROTOCOL_ERROR, STREAM_CLOSED), bystander)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stream_id_goes_backwards(srv, transport, bystander):
    c = attacker(srv, transport)
    c.handshake()
    _complete(c, 5, transport)
    c.send(headers_frame(3, static_request("/a.txt", transport)))
    expect_goaway(srv, transport, c, (PROTOCOL_ERROR,), bystander)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_even_stream_id(srv, transport, bystander):
    c = attacker(srv, transport)
    c.handshake()
    c.send(headers_frame(2, static_request("/a.txt", transport)))
    expect_goaway(srv, transport, c, (PROTOCOL_ERROR,), bystander)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_data_on_closed_stream(srv, transport, bystander):
    """Both sides ended stream 1; DATA on it is a connection error
    STREAM_CLOSED (RFC 9113 5.1, closed)."""
    c = attacker(srv, transport)
    c.handshake()
    _complete(c, 1, transport)
    c.send(data_frame(1, b"late body", end_stream=True))
    expect_goaway(srv, transport, c, (STREAM_CLOSED,), bystander)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_headers_on_closed_stream_after_reset(srv, transport, bystander):
    """The client resets its own stream 1, then sends HEADERS on it."""
    c = attacker(srv, transport, settings={INITIAL_WINDOW_SIZE: 0})
    c.handshake()
    c.send(headers_frame(1, static_request("/huge.bin", transport)))
    assert c.barrier(5)
    c.send(rst_frame(1, CANCEL))
    assert c.barrier(5)
    c.send(headers_frame(1, static_request("/a.txt", transport)))
    expect_goaway(srv, transport, c, (PROTOCOL_ERROR, STREAM_CLOSED), bystander)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_data_on_half_closed_stream(srv, transport, bystander):
    """Stream 1 is half-closed (remote) after the client's END_STREAM; more
    DATA on it is a stream error STREAM_CLOSED at least (RST_STREAM), or
    a connection error of that type."""
    c = attacker(srv, transport, settings={INITIAL_WINDOW_SIZE: 0})
    c.handshake()
    c.send(headers_frame(1, static_request("/huge.bin", transport)))
    assert c.barrier(5)
    c.send(data_frame(1, b"x"))
    f = c.read_until(lambda f: (f.type == RST_STREAM and f.sid == 1) or f.type == GOAWAY, 5)
    assert f is not None, "DATA after END_STREAM ignored: %r" % c.frames[-5:]
    assert f.error_code == STREAM_CLOSED, f
    if f.type == GOAWAY:
        _, closed = c.wait_goaway(GOAWAY_WAIT)
        assert closed
    bystander.check("after the attack")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_data_on_idle_stream(srv, transport, bystander):
    c = attacker(srv, transport)
    c.handshake()
    c.send(data_frame(7, b"never opened"))
    expect_goaway(srv, transport, c, (PROTOCOL_ERROR,), bystander)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_rst_on_idle_stream(srv, transport, bystander):
    c = attacker(srv, transport)
    c.handshake()
    c.send(rst_frame(9, CANCEL))
    expect_goaway(srv, transport, c, (PROTOCOL_ERROR,), bystander)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_frame_after_goaway_close_is_harmless(srv, transport, bystander):
    """A connection killed for a violation while it keeps writing: the
    server must not crash or spin (the writes land after the close)."""
    c = attacker(srv, transport)
    c.handshake()
    c.send(headers_frame(2, static_request("/a.txt", transport)))
    junk = frame(DATA, 0, 1, b"z" * 1000) * 200
    for _ in range(20):
        if not c.try_send(junk, timeout=0.5):
            break
    _, closed = c.wait_goaway(GOAWAY_WAIT)
    assert closed
    time.sleep(0.2)
    assert srv.alive()
    bystander.check("after the attack")
