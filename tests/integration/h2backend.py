"""A small HTTP/2 (h2c, prior knowledge) backend on python3-h2 for the
proxy-h2 tests: it records each stream (connection id, method, path,
fields, body) and answers "/echo" with the request body, "/reset" with
RST_STREAM, "/goaway" and then GOAWAY (the connection drains), "/freeze"
and then nothing more on that connection (a backend gone silent: PINGs go
unanswered), "/trailers" with trailer fields after the body, anything else
with "ok h2 <method> <path>".  It counts the PINGs it receives and the
connections that ended, and keeps each request's trailers."""

import socket
import threading

import h2.config
import h2.connection
import h2.events
import h2.errors

from fields import Fields


class Stream(Fields):
    def __init__(self, conn_id, headers):
        self.conn_id = conn_id
        self.headers = [(k, v) for k, v in headers if not k.startswith(":")]
        pseudo = dict((k, v) for k, v in headers if k.startswith(":"))
        self.method = pseudo.get(":method")
        self.path = pseudo.get(":path")
        self.authority = pseudo.get(":authority")
        self.scheme = pseudo.get(":scheme")
        self.body = b""
        self.trailers = []


class H2Backend:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.streams = []
        self.connections = 0
        self.max_concurrent = 0
        self.pings = 0
        self.closed = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self):
        with self.lock:
            self.streams = []
            self.connections = 0
            self.max_concurrent = 0
            self.pings = 0
            self.closed = 0

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                cid = self.connections
            threading.Thread(target=self._serve, args=(c, cid), daemon=True).start()

    def _serve(self, c, cid):
        conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, header_encoding="utf-8"))
        conn.initiate_connection()
        c.sendall(conn.data_to_send())
        open_streams = {}
        frozen = False
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    return
                if frozen:
                    continue
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        open_streams[ev.stream_id] = Stream(cid, ev.headers)
                        with self.lock:
                            self.max_concurrent = max(self.max_concurrent, len(open_streams))
                    elif isinstance(ev, h2.events.DataReceived):
                        open_streams[ev.stream_id].body += ev.data
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.TrailersReceived):
                        open_streams[ev.stream_id].trailers = list(ev.headers)
                    elif isinstance(ev, h2.events.PingReceived):
                        with self.lock:
                            self.pings += 1
                    elif isinstance(ev, h2.events.StreamEnded):
                        s = open_streams.pop(ev.stream_id)
                        with self.lock:
                            self.streams.append(s)
                        self._answer(conn, ev.stream_id, s)
                        frozen = frozen or s.path.endswith("/freeze")
                c.sendall(conn.data_to_send())
        except (OSError, h2.exceptions.ProtocolError):
            return
        finally:
            c.close()
            with self.lock:
                self.closed += 1

    def _answer(self, conn, sid, s):
        if s.path.endswith("/reset"):
            conn.reset_stream(sid, h2.errors.ErrorCodes.INTERNAL_ERROR)
            return
        body = s.body if s.path.endswith("/echo") else (
            "ok h2 %s %s" % (s.method, s.path)).encode()
        head = [(":status", "200"), ("x-backend", "h2")]
        if not s.path.endswith("/trailers"):  # else the length is unknown
            head.append(("content-length", str(len(body))))
        conn.send_headers(sid, head)
        # Frames of at most the peer's frame size (the test bodies fit in
        # the flow-control windows).
        step = conn.max_outbound_frame_size
        for i in range(0, len(body), step):
            conn.send_data(sid, body[i:i + step])
        if s.path.endswith("/trailers"):
            conn.send_headers(sid, [("grpc-status", "0"), ("x-sum", "abc"), ("content-type", "x")],
                              end_stream=True)
        else:
            conn.end_stream(sid)
        if s.path.endswith("/goaway"):
            # Drain: no stream after this one will be served here.
            conn.close_connection(last_stream_id=sid)
