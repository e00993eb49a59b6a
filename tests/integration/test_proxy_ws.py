"""WebSocket through the proxy: the client's Upgrade goes to the backend
(python3-websockets' echo server), its 101 turns the exchange into a
tunnel, and frames flow both ways until either side closes; over a
plaintext and a TLS front."""

import asyncio
import ssl
import threading
import time

import pytest
import websockets

from certs import certs_fixture, tls_vhost  # noqa: F401 (fixture)
from pthttp import Conn
from wsclient import frame, h2_websocket


class EchoServer:
    """websockets' server on its own loop in a thread: echoes every
    message; a message "bye" closes from the server side."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.paths = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    async def _echo(self, ws, path):
        self.paths.append(path)
        async for msg in ws:
            if msg == "bye":
                await ws.close(code=4000, reason="bye")
                return
            await ws.send(msg)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            websockets.serve(self._echo, "127.0.0.1", 0, max_size=None))
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    def close(self):
        async def stop():
            self.server.close()
            await self.server.wait_closed()
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def echo():
    e = EchoServer()
    yield e
    e.close()


@pytest.fixture(scope="module")
def srv(portico, echo, certs):
    site = portico.site("proxyws")
    origin = "http://127.0.0.1:%d/back" % echo.port
    mounts = [
        site.mount("/"),
        {"mountpoint": "/ws", "origin": origin},
        {"mountpoint": "/plain", "origin": origin, "proxy-websocket": 0},
        {"mountpoint": "/idle", "origin": origin, "proxy-read-timeout": 1},
    ]
    tls_port = site.new_port()
    v = site.vhost(mounts=mounts)
    t = tls_vhost(site, "localhost", certs.local_cert, certs.local_key, tls_port,
                  mounts=mounts)
    s = site.start(vhosts=[v, t])
    s.tls_port = tls_port
    s.ca = certs.ca
    return s


def run(coro):
    return asyncio.new_event_loop().run_until_complete(coro)


async def exchange(uri, messages, ssl_ctx=None):
    out = []
    async with websockets.connect(uri, ssl=ssl_ctx, max_size=None) as ws:
        for m in messages:
            await ws.send(m)
            out.append(await ws.recv())
    return out


def test_echo_through_proxy(srv, echo):
    msgs = ["hello", b"\x00\x01binary\xff", "x" * 70000] + ["m%d" % i for i in range(100)]
    got = run(exchange("ws://127.0.0.1:%d/ws/chat?room=1" % srv.port, msgs))
    assert got == msgs
    assert echo.paths[-1] == "/back/chat?room=1"


def test_large_messages_both_ways(srv):
    big = bytes(range(256)) * 16384  # 4 MiB each way
    got = run(exchange("ws://127.0.0.1:%d/ws/big" % srv.port, [big, big]))
    assert got == [big, big]


def test_echo_over_tls_front(srv):
    ctx = ssl.create_default_context(cafile=srv.ca)
    msgs = ["over tls", b"\x01" * 100000]
    got = run(exchange("wss://localhost:%d/ws/tls" % srv.tls_port, msgs, ctx))
    assert got == msgs


def test_server_side_close_reaches_client(srv):
    async def go():
        async with websockets.connect("ws://127.0.0.1:%d/ws/c" % srv.port) as ws:
            await ws.send("bye")
            try:
                await ws.recv()
            except websockets.ConnectionClosed as e:
                return e.code, e.reason
        return None

    assert run(go()) == (4000, "bye")


def test_many_concurrent_tunnels(srv):
    async def one(i):
        return await exchange("ws://127.0.0.1:%d/ws/n%d" % (srv.port, i), ["a%d" % i, "b%d" % i])

    async def all_():
        return await asyncio.gather(*[one(i) for i in range(40)])

    res = run(all_())
    assert res == [["a%d" % i, "b%d" % i] for i in range(40)]


def test_websocket_off_does_not_upgrade(srv):
    with pytest.raises(websockets.InvalidStatusCode) as e:
        run(exchange("ws://127.0.0.1:%d/plain/x" % srv.port, ["hi"]))
    assert e.value.status_code != 101


def test_idle_tunnel_is_closed(srv):
    async def go():
        async with websockets.connect("ws://127.0.0.1:%d/idle/x" % srv.port,
                                      ping_interval=None) as ws:
            await ws.send("first")
            assert await ws.recv() == "first"
            t = time.monotonic()
            try:
                await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed:
                return time.monotonic() - t
        return None

    waited = run(go())
    assert waited is not None and 0.5 < waited < 5


def test_plain_requests_still_pool(srv):
    # An upgrade request that the backend refuses is an ordinary exchange.
    with Conn(srv.port) as c:
        c.request("GET", "/ws/notws", headers={"Connection": "Upgrade", "Upgrade": "nope"})
        r = c.read_response()
    assert r.status in (400, 426)


def test_websocket_over_http2_extended_connect(srv, echo):
    """RFC 8441: an HTTP/2 client's extended CONNECT becomes an HTTP/1.1
    upgrade to the backend; the stream carries the WebSocket frames."""
    settings, hdrs, data = h2_websocket(srv.port, "/ws/h2chat", frame(b"hello over h2"), want=15)
    assert settings[8] == 1  # SETTINGS_ENABLE_CONNECT_PROTOCOL
    assert hdrs.get(":status") == "200"
    # The echo, as a server frame: FIN + text, unmasked, 13-byte payload.
    assert data[:2] == b"\x81\x0d" and data[2:15] == b"hello over h2", data
    assert echo.paths[-1] == "/back/h2chat"