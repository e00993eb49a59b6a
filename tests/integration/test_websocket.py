"""WebSocket connections to plugins (RFC 6455; RFC 8441 over HTTP/2):
python3-websockets as the client for the shipped mirror and dumb-increment
plugins and the test plugin's echo, and raw frames for the protocol's
rules (masking, fragmentation, control frames, UTF-8, close codes, size
limits), Autobahn-style."""

import asyncio
import base64
import os
import signal
import socket
import struct
import time
import zlib

import pytest
import websockets

from certs import certs_fixture, tls_vhost  # noqa: F401 (fixture)
from pthttp import Conn
from test_plugins import build_plugin
from wsclient import frame, h2_websocket, read_frame


@pytest.fixture(scope="module")
def plugdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("wsplugins")
    build_plugin(d)
    return d


@pytest.fixture(scope="module")
def srv(portico, plugdir):
    site = portico.site()
    site.write("index.html", "<p>page</p>\n")
    mounts = [site.mount("/"),
              {"mountpoint": "/echo", "origin": "callback://hello"},
              {"mountpoint": "/mirror", "origin": "callback://mirror"},
              {"mountpoint": "/count", "origin": "callback://dumb-increment"}]
    protos = [{"dumb-increment-protocol": {"status": "ok", "default": "1"},
               "lws-mirror-protocol": {"status": "ok"},
               "hello": {"status": "ok", "max-message": "200000"}}]
    return site.start(vhosts=[site.vhost(mounts=mounts, **{"ws-protocols": protos})],
                      global_={"plugin-dir": str(plugdir), "count-threads": 2,
                               "ws-pingpong-secs": 1})


def run(coro):
    return asyncio.new_event_loop().run_until_complete(asyncio.wait_for(coro, 20))


def url(srv, path):
    return "ws://127.0.0.1:%d%s" % (srv.port, path)


# ---- with a real client ------------------------------------------------------

def test_echo_text_and_binary(srv):
    async def go():
        async with websockets.connect(url(srv, "/echo"), compression=None) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            await ws.send(b"\x00\x01\xff")
            assert await ws.recv() == b"\x00\x01\xff"
            await ws.send("big 150000")
            assert await ws.recv() == "b" * 150000
    run(go())


def test_permessage_deflate(srv):
    async def go():
        async with websockets.connect(url(srv, "/echo")) as ws:  # offers deflate
            ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
            assert ext.startswith("permessage-deflate")
            assert "server_no_context_takeover" in ext
            text = "portico " * 5000
            for _ in range(3):
                await ws.send(text)
                assert await ws.recv() == text
            await ws.send("big 100000")
            assert await ws.recv() == "b" * 100000
    run(go())


def test_fragmented_message_is_joined(srv):
    async def go():
        async with websockets.connect(url(srv, "/echo"), compression=None) as ws:
            await ws.send(["frag", "men", "ted"])
            assert await ws.recv() == "fragmented"
    run(go())


def test_server_close_with_code(srv):
    async def go():
        async with websockets.connect(url(srv, "/echo")) as ws:
            await ws.send("close")
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            return ws.close_code, ws.close_reason
    assert run(go()) == (4000, "asked to")


def test_dumb_increment_counts_and_resets(srv):
    async def go():
        async with websockets.connect(url(srv, "/count")) as ws:
            first = [int(await ws.recv()) for _ in range(4)]
            assert first == [0, 1, 2, 3]
            t0 = time.monotonic()
            await ws.recv()
            assert time.monotonic() - t0 < 0.5  # one every 50 ms
            await ws.send("reset\n")
            seen = [int(await ws.recv()) for _ in range(6)]
            assert 0 in seen and seen[-1] < 6
            await ws.send("closeme\n")
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await ws.recv()
            return ws.close_code
    assert run(go()) == 1001


def test_subprotocol_picks_plugin_on_file_mount(srv):
    # lwsws's test page: ws:// on "/" with a protocol name.
    async def go():
        async with websockets.connect(url(srv, "/"), subprotocols=["nope", "dumb-increment-protocol"]) as ws:
            assert ws.subprotocol == "dumb-increment-protocol"
            assert int(await ws.recv()) == 0
        async with websockets.connect(url(srv, "/"), subprotocols=["lws-mirror-protocol"]) as ws:
            assert ws.subprotocol == "lws-mirror-protocol"
            await ws.send("me")
            assert await ws.recv() == "me"
        # None asked: the "default" one.
        async with websockets.connect(url(srv, "/")) as ws:
            assert ws.subprotocol is None
            assert int(await ws.recv()) == 0
    run(go())


def test_plain_get_still_serves_the_file(srv):
    r = srv.get("/index.html")
    assert r.status == 200 and r.text == "<p>page</p>\n"


def test_mirror_shares_within_a_name_only(srv):
    async def go():
        a = await websockets.connect(url(srv, "/mirror"))
        b = await websockets.connect(url(srv, "/mirror"))
        c = await websockets.connect(url(srv, "/mirror?mirror=room1"))
        d = await websockets.connect(url(srv, "/mirror?mirror=room1"))
        await asyncio.sleep(0.1)
        await a.send("to the shared mirror")
        assert await a.recv() == "to the shared mirror"
        assert await b.recv() == "to the shared mirror"
        await c.send("to room1")
        assert await d.recv() == "to room1"
        assert await c.recv() == "to room1"
        # Nothing crossed over.
        for ws in (a, b):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.3)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(d.recv(), 0.3)
        for ws in (a, b, c, d):
            await ws.close()
    run(go())


def test_mirror_many_clients_across_workers(srv):
    async def go():
        clients = [await websockets.connect(url(srv, "/mirror?mirror=crowd")) for _ in range(20)]
        await asyncio.sleep(0.1)
        for i in range(10):
            await clients[i].send("m%d" % i)
            await asyncio.sleep(0.01)
        for ws in clients:
            got = [await ws.recv() for _ in range(10)]
            assert got == ["m%d" % i for i in range(10)]
        for ws in clients:
            await ws.close()
    run(go())


def test_bad_mirror_name(srv):
    async def go():
        async with websockets.connect(url(srv, "/mirror?mirror=a/b")) as ws:
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            return ws.close_code
    assert run(go()) == 1008


def test_ping_from_server_and_pong(srv):
    # ws-pingpong-secs is 1: an idle connection gets a ping the client
    # answers (websockets does), and stays up.
    async def go():
        async with websockets.connect(url(srv, "/echo"), ping_interval=None) as ws:
            await asyncio.sleep(2.5)
            await ws.send("still here")
            assert await ws.recv() == "still here"
    run(go())


# ---- raw frames ----------------------------------------------------------------

def handshake(srv, path="/echo", extra=b""):
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    key = base64.b64encode(os.urandom(16))
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\n"
              b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + b"\r\n" +
              extra + b"\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    return s, head


def close_code_of(s):
    op, _, payload = read_frame(s)
    while op != 8:
        op, _, payload = read_frame(s)
    return struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None


def test_handshake_accept_value(srv):
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    head = s.recv(4096)
    s.close()
    assert head.startswith(b"HTTP/1.1 101 ")
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head  # RFC 6455 1.3


@pytest.mark.parametrize("hdrs,status", [
    ({"Sec-WebSocket-Version": "8", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, 426),
    ({"Sec-WebSocket-Version": "13"}, 400),
    ({"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "short"}, 400),
])
def test_bad_handshakes(srv, hdrs, status):
    h = {"Upgrade": "websocket", "Connection": "Upgrade"}
    h.update(hdrs)
    with Conn(srv.port) as c:
        c.request("GET", "/echo", headers=h)
        r = c.read_response()
    assert r.status == status
    if status == 426:
        assert r.header("Sec-WebSocket-Version") == "13"


def test_interleaved_ping_in_fragmented_message(srv):
    s, head = handshake(srv)
    assert b" 101 " in head
    s.sendall(frame(b"Hel", opcode=1, fin=False) + frame(b"ping!", opcode=9) +
              frame(b"lo", opcode=0, fin=True))
    assert read_frame(s) == (10, True, b"ping!")   # the pong first
    assert read_frame(s) == (1, True, b"Hello")
    s.close()


def test_split_frames_byte_by_byte(srv):
    s, _ = handshake(srv)
    data = frame(b"x" * 300, opcode=2)
    for i in range(len(data)):
        s.send(data[i:i + 1])
    assert read_frame(s) == (2, True, b"x" * 300)
    s.close()


@pytest.mark.parametrize("raw,code", [
    (frame(b"abc", mask=False), 1002),                       # unmasked client frame
    (frame(b"abc", rsv=0x20), 1002),                         # RSV2
    (frame(b"abc", opcode=3), 1002),                         # reserved opcode
    (frame(b"x", opcode=0), 1002),                           # continuation of nothing
    (frame(b"a", fin=False) + frame(b"b", opcode=1), 1002),  # new message mid-message
    (frame(b"p" * 126, opcode=9), 1002),                     # control frame over 125
    (frame(b"p", opcode=9, fin=False), 1002),                # fragmented control frame
    (frame(b"\xff\xfe"), 1007),                              # text not UTF-8
    (frame(b"\xed\xa0\x80"), 1007),                          # a surrogate
    (frame(b"\xce", fin=False) + frame(b"\xba\xff", opcode=0), 1007),
    (frame(b"\x03\xe8\xff", opcode=8), 1007),                # close reason not UTF-8
    (frame(b"\x03", opcode=8), 1002),                        # 1-byte close payload
    (frame(struct.pack(">H", 1005), opcode=8), 1002),        # a code never sent
    (frame(struct.pack(">H", 999), opcode=8), 1002),
    (frame(b"x", rsv=0x40), 1002),                           # RSV1 without deflate
])
def test_protocol_violations_close_with_code(srv, raw, code):
    s, _ = handshake(srv)
    s.sendall(raw)
    assert close_code_of(s) == code
    s.close()


def test_valid_utf8_across_fragments(srv):
    s, _ = handshake(srv)
    snowman = "\u2603\U0001f600".encode()
    s.sendall(frame(snowman[:2], fin=False) + frame(snowman[2:5], opcode=0, fin=False) +
              frame(snowman[5:], opcode=0))
    assert read_frame(s) == (1, True, snowman)
    s.close()


@pytest.mark.parametrize("code", [1000, 1001, 3000, 4999])
def test_close_handshake_echoes_code(srv, code):
    s, _ = handshake(srv)
    s.sendall(frame(struct.pack(">H", code) + b"bye", opcode=8))
    assert close_code_of(s) == code
    s.settimeout(2)
    assert s.recv(10) == b""  # then the server closes the TCP connection
    s.close()


def test_empty_close(srv):
    s, _ = handshake(srv)
    s.sendall(frame(b"", opcode=8))
    op, _, payload = read_frame(s)
    assert op == 8 and payload[:2] == struct.pack(">H", 1000)
    s.close()


def test_oversize_message_closes_1009(srv):
    # hello's vhost entry says max-message 200000.
    s, _ = handshake(srv)
    s.sendall(frame(b"a" * 150000, fin=False, opcode=2) + frame(b"a" * 60000, opcode=0))
    assert close_code_of(s) == 1009
    s.close()


def test_oversize_declared_length_closes_before_the_data(srv):
    s, _ = handshake(srv)
    s.sendall(frame(b"", opcode=2)[:1] + bytes([0x80 | 127]) + struct.pack(">Q", 1 << 40) +
              b"\x00\x00\x00\x00")
    assert close_code_of(s) == 1009
    s.close()


def test_deflate_bomb_is_bounded(srv):
    s, head = handshake(srv, extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
    assert b"permessage-deflate" in head
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = z.compress(b"\0" * (50 << 20)) + z.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\x00\x00\xff\xff")
    s.sendall(frame(data[:-4], opcode=2, rsv=0x40))
    assert close_code_of(s) == 1009
    s.close()


def test_compressed_message_raw(srv):
    s, head = handshake(srv, extra=b"Sec-WebSocket-Extensions: permessage-deflate; "
                                   b"client_max_window_bits\r\n")
    assert b"permessage-deflate" in head
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = z.compress(b"hello hello hello") + z.flush(zlib.Z_SYNC_FLUSH)
    s.sendall(frame(data[:-4], opcode=1, rsv=0x40))
    assert read_frame(s) == (1, True, b"hello hello hello")
    s.close()


def test_abrupt_close_is_survived(srv):
    for _ in range(20):
        s, _ = handshake(srv)
        s.sendall(frame(b"half a frame", opcode=1)[:5])
        s.close()
    s, _ = handshake(srv)
    s.sendall(frame(b"ok"))
    assert read_frame(s) == (1, True, b"ok")
    s.close()
    assert srv.alive()


def test_slow_reader_is_not_queued_for(srv):
    # A client that sends pings but never reads: the server stops taking
    # its input instead of queueing pongs without end.
    s, _ = handshake(srv)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    sent = 0
    ping = frame(b"p" * 125, opcode=9)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            sent += s.send(ping * 64)
        except BlockingIOError:
            time.sleep(0.05)
    s.close()
    # Far less than 3 s of loopback: the server stopped reading.
    assert sent < 64 << 20
    assert srv.alive()


def test_http2_extended_connect(srv):
    settings, hdrs, data = h2_websocket(srv.port, "/echo", frame(b"hello over h2"),
                                        extra=[("sec-websocket-protocol", "hello")], want=15)
    assert settings[8] == 1
    assert hdrs.get(":status") == "200"
    assert hdrs.get("sec-websocket-protocol") == "hello"
    assert data[:2] == b"\x81\x0d" and data[2:15] == b"hello over h2"


def test_tls_websocket(portico, certs):
    import ssl
    site = portico.site()
    vh = tls_vhost(site, "localhost", certs.local_cert, certs.local_key, site.port,
                   mounts=[{"mountpoint": "/m", "origin": "callback://mirror"}])
    srv = site.start(vhosts=[vh])
    ctx = ssl.create_default_context(cafile=str(certs.ca))

    async def go():
        async with websockets.connect("wss://localhost:%d/m" % srv.port, ssl=ctx) as ws:
            await ws.send("secure")
            return await ws.recv()
    assert run(go()) == "secure"


@pytest.mark.parametrize("over_h2", [False, True])
def test_stop_says_going_away(portico, over_h2):
    # SIGTERM: a WebSocket gets close 1001 and the server exits at once,
    # not after the drain timeout.
    site = portico.site()
    srv = site.start(vhosts=[site.vhost(mounts=[{"mountpoint": "/m",
                                                  "origin": "callback://mirror"}])])
    if over_h2:
        from h2frames import DATA, RawH2, data_frame
        c = RawH2(srv.port)
        c.handshake()
        # A CONNECT stream with :protocol (request_headers adds no :scheme
        # check of its own; the extended CONNECT keeps it).
        c.request(1, path="/m", method="CONNECT", end_stream=False,
                  extra=[(":protocol", "websocket"), ("sec-websocket-version", "13")])
        assert c.barrier()
        t0 = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        f = c.read_until(lambda f: f.type == DATA and f.sid == 1 and f.payload)
        assert f is not None
        assert f.payload[:1] == b"\x88" and f.payload[2:4] == struct.pack(">H", 1001)
        c.send(data_frame(1, frame(struct.pack(">H", 1001), opcode=8)))  # the reply
    else:
        async def go():
            ws = await websockets.connect(url(srv, "/m"))
            srv.send_signal(signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            return ws.close_code, ws.close_reason
        t0 = time.monotonic()
        assert run(go()) == (1001, "server going away")
    assert srv.wait(5) == 0
    assert time.monotonic() - t0 < 3


def test_large_message_both_ways(srv):
    # Over 64 KiB in (hello's max-message is 200000) and back out.
    async def go():
        async with websockets.connect(url(srv, "/echo"), compression=None,
                                      max_size=None) as ws:
            msg = bytes(range(256)) * 600  # 153600 bytes
            await ws.send(msg)
            assert await ws.recv() == msg
            await ws.send("after")
            assert await ws.recv() == "after"
    run(go())


def test_silent_client_is_closed(srv):
    # ws-pingpong-secs is 1: a client that answers nothing gets a ping, then
    # close 1001, and the connection ends when it does not reply to that.
    s, _ = handshake(srv)
    s.settimeout(15)
    t0 = time.monotonic()
    ops = []
    while True:
        try:
            op, _, payload = read_frame(s)
        except EOFError:
            break
        ops.append(op)
        if op == 8:
            assert struct.unpack(">H", payload[:2])[0] == 1001
    s.close()
    assert ops[:2] == [9, 8]  # a ping, then the close
    assert 1.5 < time.monotonic() - t0 < 12


def test_client_that_reads_nothing_is_cut_off(srv):
    # Output piles up unread: the ping cannot go out, then neither can the
    # close (1001); after the close wait the server gives up on the
    # connection with a reset (what was never read is dropped) instead of
    # holding it, and its buffers, forever.
    s, _ = handshake(srv)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    for _ in range(40):
        s.sendall(frame(b"big 150000"))
        time.sleep(0.01)
    t0 = time.monotonic()
    deadline = t0 + 15
    closed = False
    time.sleep(8)  # ping at 1 s, no pong at 2 s, then 5 s of close wait
    s.settimeout(0.5)
    while time.monotonic() < deadline and not closed:
        try:
            while True:
                if not s.recv(1 << 20):
                    closed = True
                    break
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed = True
    s.close()
    assert closed
    assert time.monotonic() - t0 < 12  # a reset, not megabytes drained
    assert srv.alive()
