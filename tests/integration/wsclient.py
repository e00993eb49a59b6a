"""WebSocket for the tests at the byte level: client frames (masked, any
flags), reading server frames, and one WebSocket over an HTTP/2 extended
CONNECT (RFC 8441) with python3-h2."""

import os
import socket
import struct
import time

import h2.config
import h2.connection
import h2.events


def frame(payload, opcode=1, fin=True, mask=True, rsv=0):
    """A client frame: masked unless mask=False; rsv: 0x40/0x20/0x10 bits."""
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    k = os.urandom(4)
    return head + k + bytes(c ^ k[i % 4] for i, c in enumerate(payload))


def read_frame(s):
    """(opcode, fin, payload) of the next server frame on socket s."""
    def need(n):
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data
    b0, b1 = need(2)
    n = b1 & 0x7f
    if n == 126:
        n = struct.unpack(">H", need(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", need(8))[0]
    assert not b1 & 0x80, "server frames are not masked"
    return b0 & 0x0f, bool(b0 & 0x80), need(n)


def h2_websocket(port, path, data, extra=(), want=1, timeout=5):
    """Opens a WebSocket with an extended CONNECT on a new h2c connection,
    sends data (client frames) on it, and reads until want bytes came back.
    Returns (the server's SETTINGS, the response headers, the bytes)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(timeout)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(
        client_side=True, header_encoding="utf-8", validate_outbound_headers=False,
        normalize_outbound_headers=False, validate_inbound_headers=False))
    conn.initiate_connection()
    s.sendall(conn.data_to_send())
    settings = {}
    while 8 not in settings:  # SETTINGS_ENABLE_CONNECT_PROTOCOL
        for ev in conn.receive_data(s.recv(65536)):
            if isinstance(ev, h2.events.RemoteSettingsChanged):
                settings.update({int(k): v.new_value for k, v in ev.changed_settings.items()})
        s.sendall(conn.data_to_send())
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, [(":method", "CONNECT"), (":protocol", "websocket"),
                            (":scheme", "http"), (":path", path),
                            (":authority", "localhost"), ("sec-websocket-version", "13")] +
                      list(extra))
    conn.send_data(sid, data)
    s.sendall(conn.data_to_send())
    hdrs, got = {}, b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (not hdrs or len(got) < want):
        for ev in conn.receive_data(s.recv(65536)):
            if isinstance(ev, h2.events.ResponseReceived):
                hdrs = dict(ev.headers)
            elif isinstance(ev, h2.events.DataReceived):
                got += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, sid)
        s.sendall(conn.data_to_send())
    s.close()
    return settings, hdrs, got
