"""A minimal HTTP/2 client on python3-h2 (prior knowledge, plaintext) for
tests that need what curl does not show: trailers sent and received."""

import socket
import time

import h2.config
import h2.connection
import h2.events


def request(port, path, method="GET", headers=(), body=b"", trailers=None, timeout=10):
    """One request.  Returns (status, fields, body, trailers): fields and
    trailers as lists of (name, value)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(timeout)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(
        client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    head = [(":method", method), (":scheme", "http"), (":path", path),
            (":authority", "localhost")] + list(headers)
    conn.send_headers(sid, head, end_stream=not body and not trailers)
    if body:
        conn.send_data(sid, body, end_stream=not trailers)
    if trailers:
        conn.send_headers(sid, list(trailers), end_stream=True)
    s.sendall(conn.data_to_send())
    status, fields, data, got_trailers, done = None, [], b"", [], False
    deadline = time.monotonic() + timeout
    try:
        while not done and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            for ev in conn.receive_data(chunk):
                if isinstance(ev, h2.events.ResponseReceived):
                    fields = [(k, v) for k, v in ev.headers if not k.startswith(":")]
                    status = int(dict(ev.headers)[":status"])
                elif isinstance(ev, h2.events.DataReceived):
                    data += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.TrailersReceived):
                    got_trailers = list(ev.headers)
                elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                    done = True
            s.sendall(conn.data_to_send())
    finally:
        s.close()
    return status, fields, data, got_trailers
