"""The output path tuned for speed (issue 12) must never lose, reorder or
corrupt a byte, and must still wait for a slow reader:

- TLS records are batched in a buffer of the connection's own (gateway/
  wire.c) and HTTP/2 writes up to 64 KiB at a time, with DATA payloads read
  straight into the output buffer (NGHTTP2_DATA_FLAG_NO_COPY);
- TLS 1.3 prefers AES-128-GCM, and ChaCha20 for a client that lists it
  first;
- a client that asked for "Connection: close" is closed at once, and one
  that left input unread still gets a lingering close.
"""

import hashlib
import random
import socket
import ssl
import subprocess
import time

import h2.config
import h2.connection
import h2.events
import pytest

from certs import certs_fixture  # noqa: F401  (the `certs` fixture)
from certs import OPENSSL

BIG = random.Random(12).randbytes(2 * 1024 * 1024 + 777)
MID = random.Random(13).randbytes(16 * 1024)
SMALL = random.Random(14).randbytes(1000)
FILES = {"/big.bin": BIG, "/mid.bin": MID, "/small.bin": SMALL}


@pytest.fixture(scope="module")
def srv(portico, certs):
    site = portico.site()
    for name, data in FILES.items():
        site.write(name[1:], data)
    tls_port = site.new_port()
    vhosts = [
        site.vhost(name="localhost"),
        site.vhost(name="localhost", port=tls_port, **{
            "host-ssl-cert": str(certs.a_cert), "host-ssl-key": str(certs.a_key)}),
    ]
    s = site.start(vhosts=vhosts)
    s.tls_port = tls_port
    return s


def h2_socket(port, tls, rcvbuf):
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    raw.settimeout(30)
    raw.connect(("127.0.0.1", port))
    if not tls:
        return raw
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    assert s.selected_alpn_protocol() == "h2"
    return s


def fetch_h2(port, paths, tls, rcvbuf=16384, pause=0.0, read_size=4096):
    """Every path on one connection, all streams open at once, read in small
    pieces (with pauses: the server meets a full socket again and again).
    Returns {stream path: (status, body)} in request order."""
    s = h2_socket(port, tls, rcvbuf)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
    conn.increment_flow_control_window(1 << 24)
    ids = {}
    for p in paths:
        sid = conn.get_next_available_stream_id()
        ids[sid] = p
        conn.send_headers(sid, [(":method", "GET"), (":scheme", "https" if tls else "http"),
                                (":path", p), (":authority", "localhost")], end_stream=True)
    s.sendall(conn.data_to_send())
    status, body, done = {}, {sid: bytearray() for sid in ids}, set()
    deadline = time.monotonic() + 60
    while len(done) < len(ids) and time.monotonic() < deadline:
        chunk = s.recv(read_size)
        if not chunk:
            break
        for ev in conn.receive_data(chunk):
            if isinstance(ev, h2.events.ResponseReceived):
                status[ev.stream_id] = int(dict(ev.headers)[b":status"])
            elif isinstance(ev, h2.events.DataReceived):
                body[ev.stream_id] += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                done.add(ev.stream_id)
        out = conn.data_to_send()
        if out:
            s.sendall(out)
        if pause:
            time.sleep(pause)
    s.close()
    return [(ids[sid], status.get(sid), bytes(body[sid])) for sid in sorted(ids)]


PATHS = ["/big.bin", "/small.bin", "/mid.bin", "/big.bin", "/mid.bin", "/small.bin",
         "/big.bin", "/mid.bin"]


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "h2c"])
def test_h2_many_streams_slow_reader(srv, tls):
    port = srv.tls_port if tls else srv.port
    got = fetch_h2(port, PATHS, tls, rcvbuf=8192, pause=0.0005)
    assert [p for p, _, _ in got] == PATHS
    for path, status, body in got:
        assert status == 200, path
        assert len(body) == len(FILES[path]), path
        assert hashlib.sha256(body).digest() == hashlib.sha256(FILES[path]).digest(), path


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "h2c"])
def test_h2_fast_reader_gets_every_byte(srv, tls):
    port = srv.tls_port if tls else srv.port
    paths = ["/mid.bin"] * 40 + ["/big.bin"] * 3 + ["/small.bin"] * 40
    got = fetch_h2(port, paths, tls, rcvbuf=1 << 20, read_size=1 << 16)
    for path, status, body in got:
        assert status == 200 and body == FILES[path], path


def test_tls_h1_pipelined_responses_in_order(srv):
    """Several responses written in one batch of records arrive whole and
    in order (HTTP/1.1 over TLS, pipelined)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=30)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    order = ["/mid.bin", "/small.bin", "/big.bin", "/mid.bin", "/small.bin"]
    s.sendall(b"".join(b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % p.encode()
                       for p in order))
    buf = bytearray()
    for p in order:
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65536)
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        n = int([ln.split(b":")[1] for ln in head.split(b"\r\n")
                 if ln.lower().startswith(b"content-length:")][0])
        buf = bytearray(rest)
        while len(buf) < n:
            buf += s.recv(65536)
        assert bytes(buf[:n]) == FILES[p], p
        buf = buf[n:]
    s.close()


def s_client(port, *args):
    p = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port,
                        "-servername", "localhost", "-brief", *args],
                       input=b"", capture_output=True, timeout=20)
    return (p.stdout + p.stderr).decode(errors="replace")


def test_tls13_prefers_aes128(srv):
    out = s_client(srv.tls_port, "-tls1_3")
    assert "TLS_AES_128_GCM_SHA256" in out, out


def test_tls13_chacha_for_a_client_that_puts_it_first(srv):
    out = s_client(srv.tls_port, "-tls1_3", "-ciphersuites",
                   "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256")
    assert "TLS_CHACHA20_POLY1305_SHA256" in out, out


def test_tls13_aes256_when_asked_alone(srv):
    out = s_client(srv.tls_port, "-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384")
    assert "TLS_AES_256_GCM_SHA384" in out, out


def test_connection_close_closes_at_once(srv):
    """The server closes right after the response: the client sees EOF
    without shutting down its own side first."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(b"GET /small.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    data = b""
    t0 = time.monotonic()
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    assert time.monotonic() - t0 < 2
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(SMALL)
    s.close()


def test_unread_body_still_lingers(srv):
    """A client that sent a body nobody read, and asked for the close, must
    still get its whole response (a reset would destroy it)."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    body = b"x" * (512 * 1024)
    s.sendall(b"POST /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body))
    try:
        s.sendall(body)
    except OSError:
        pass
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            pytest.fail("reset before the response was read: no lingering close")
        if not chunk:
            break
        data += chunk
    head = data.split(b"\r\n", 1)[0]
    assert head.startswith(b"HTTP/1.1 "), data[:200]
    n = [ln for ln in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
         if ln.lower().startswith(b"content-length:")]
    if n:
        assert len(data.split(b"\r\n\r\n", 1)[1]) == int(n[0].split(b":")[1])
    s.close()
