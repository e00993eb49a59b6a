"""HTTP/2 for the tests: hand-built frames over raw sockets, and a small
well-behaved client on top of python3-h2.

RawH2 writes whatever bytes a test wants (abusive frames that h2's state
machine refuses to send: stream-id reuse, frames on closed streams,
CONTINUATION floods, HPACK bombs) and parses every frame the server sends,
decoding header blocks in order so the HPACK state stays in step.

H2Client is a correct client (python3-h2 enforces the flow-control windows
it advertises, so a server that overruns them fails the test) used for the
functional tests; responses look like pthttp.Response (header(), body).
"""

import select
import socket
import ssl
import struct
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import hpack

from fields import Fields

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# frame types
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, \
    WINDOW_UPDATE, CONTINUATION = range(10)
TYPE_NAMES = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS",
              "PUSH_PROMISE", "PING", "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"]

# flags
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

# error codes
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
FLOW_CONTROL_ERROR = 0x3
SETTINGS_TIMEOUT = 0x4
STREAM_CLOSED = 0x5
FRAME_SIZE_ERROR = 0x6
REFUSED_STREAM = 0x7
CANCEL = 0x8
COMPRESSION_ERROR = 0x9
CONNECT_ERROR = 0xa
ENHANCE_YOUR_CALM = 0xb
INADEQUATE_SECURITY = 0xc
HTTP_1_1_REQUIRED = 0xd
ERROR_NAMES = {v: k for k, v in (
    ("NO_ERROR", NO_ERROR), ("PROTOCOL_ERROR", PROTOCOL_ERROR),
    ("INTERNAL_ERROR", INTERNAL_ERROR), ("FLOW_CONTROL_ERROR", FLOW_CONTROL_ERROR),
    ("SETTINGS_TIMEOUT", SETTINGS_TIMEOUT), ("STREAM_CLOSED", STREAM_CLOSED),
    ("FRAME_SIZE_ERROR", FRAME_SIZE_ERROR), ("REFUSED_STREAM", REFUSED_STREAM),
    ("CANCEL", CANCEL), ("COMPRESSION_ERROR", COMPRESSION_ERROR),
    ("CONNECT_ERROR", CONNECT_ERROR), ("ENHANCE_YOUR_CALM", ENHANCE_YOUR_CALM),
    ("INADEQUATE_SECURITY", INADEQUATE_SECURITY),
    ("HTTP_1_1_REQUIRED", HTTP_1_1_REQUIRED))}

# settings
HEADER_TABLE_SIZE = 0x1
ENABLE_PUSH = 0x2
MAX_CONCURRENT_STREAMS = 0x3
INITIAL_WINDOW_SIZE = 0x4
MAX_FRAME_SIZE = 0x5
MAX_HEADER_LIST_SIZE = 0x6

CONNECTION_SPECIFIC = ("connection", "keep-alive", "proxy-connection",
                       "transfer-encoding", "upgrade")


def err_name(code):
    return ERROR_NAMES.get(code, "0x%x" % code)


# -- frame builders -------------------------------------------------------------


def frame(ftype, flags, sid, payload=b""):
    return (struct.pack(">I", len(payload))[1:] + bytes([ftype, flags])
            + struct.pack(">I", sid & 0x7fffffff) + payload)


def settings_frame(values=None, ack=False):
    payload = b"".join(struct.pack(">HI", k, v) for k, v in (values or {}).items())
    return frame(SETTINGS, ACK if ack else 0, 0, payload)


def ping_frame(data=b"12345678", ack=False):
    return frame(PING, ACK if ack else 0, 0, data)


def goaway_frame(last_sid=0, code=NO_ERROR, debug=b""):
    return frame(GOAWAY, 0, 0, struct.pack(">II", last_sid, code) + debug)


def rst_frame(sid, code=CANCEL):
    return frame(RST_STREAM, 0, sid, struct.pack(">I", code))


def window_update_frame(sid, increment):
    return frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", increment))


def priority_frame(sid, depends_on=0, weight=16, exclusive=False):
    dep = depends_on | (0x80000000 if exclusive else 0)
    return frame(PRIORITY, 0, sid, struct.pack(">IB", dep, weight - 1))


def data_frame(sid, payload=b"", end_stream=False):
    return frame(DATA, END_STREAM if end_stream else 0, sid, payload)


def headers_frame(sid, block, end_stream=True, end_headers=True):
    flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
    return frame(HEADERS, flags, sid, block)


def continuation_frame(sid, block, end_headers=False):
    return frame(CONTINUATION, END_HEADERS if end_headers else 0, sid, block)


def request_headers(method="GET", path="/", authority="localhost", scheme="http",
                    extra=()):
    hdrs = [(":method", method), (":scheme", scheme), (":path", path)]
    if authority is not None:
        hdrs.append((":authority", authority))
    return hdrs + list(extra)


# -- HPACK by hand (for bombs: literal with incremental indexing, indexed) -------


def hpack_int(value, prefix_bits, first_byte_flags):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte_flags | value])
    out = [first_byte_flags | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7f) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_string(s):
    if isinstance(s, str):
        s = s.encode("latin-1")
    return hpack_int(len(s), 7, 0x00) + s


def hpack_literal_indexed(name, value):
    """Literal header field with incremental indexing, new name (6.2.1)."""
    return b"\x40" + hpack_string(name) + hpack_string(value)


def hpack_literal(name, value):
    """Literal header field never indexed, new name (6.2.3)."""
    return b"\x10" + hpack_string(name) + hpack_string(value)


def hpack_indexed(index):
    return hpack_int(index, 7, 0x80)


# -- frames received ---------------------------------------------------------------


class Frame:
    def __init__(self, ftype, flags, sid, payload):
        self.type = ftype
        self.flags = flags
        self.sid = sid
        self.payload = payload
        self.headers = None          # decoded list for HEADERS (+CONTINUATION)

    @property
    def name(self):
        return TYPE_NAMES[self.type] if self.type < len(TYPE_NAMES) else str(self.type)

    @property
    def error_code(self):
        if self.type == GOAWAY:
            return struct.unpack(">I", self.payload[4:8])[0]
        if self.type == RST_STREAM:
            return struct.unpack(">I", self.payload[:4])[0]
        raise AttributeError("no error code in %s" % self.name)

    @property
    def last_sid(self):
        return struct.unpack(">I", self.payload[:4])[0] & 0x7fffffff

    @property
    def settings(self):
        return {k: v for k, v in (struct.unpack(">HI", self.payload[i:i + 6])
                                  for i in range(0, len(self.payload), 6))}

    @property
    def increment(self):
        return struct.unpack(">I", self.payload[:4])[0] & 0x7fffffff

    def __repr__(self):
        extra = ""
        if self.type in (GOAWAY, RST_STREAM) and len(self.payload) >= 4:
            extra = " " + err_name(self.error_code)
            if self.type == GOAWAY:
                extra += " last=%d %r" % (self.last_sid, self.payload[8:80])
        if self.headers is not None:
            extra = " %r" % (self.headers,)
        return "<%s sid=%d flags=0x%x len=%d%s>" % (self.name, self.sid, self.flags,
                                                     len(self.payload), extra)


def _strip_padding_priority(f):
    p = f.payload
    if f.flags & PADDED:
        pad = p[0]
        p = p[1:len(p) - pad]
    if f.type == HEADERS and f.flags & PRIORITY_FLAG:
        p = p[5:]
    return p


class RawH2:
    """A byte-level HTTP/2 client connection (h2c, or TLS with ALPN h2)."""

    def __init__(self, port=None, tls_ctx=None, sni=None, timeout=5.0, rcvbuf=None,
                 preface=True, settings=None, sock=None, buf=b""):
        """sock: continue on an already connected socket (after an HTTP/1.1
        Upgrade), with buf holding bytes already read from it."""
        if sock is None:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if rcvbuf:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            s.settimeout(timeout)
            s.connect(("127.0.0.1", port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls_ctx is not None:
                s = tls_ctx.wrap_socket(s, server_hostname=sni)
                assert s.selected_alpn_protocol() == "h2", s.selected_alpn_protocol()
            sock = s
        self.sock = sock
        self.timeout = timeout
        self.buf = bytearray(buf)
        self.pos = 0                 # parse position in buf
        self.eof = False
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = 1 << 24
        self.frames = []             # every frame received, in order
        self._hblock = None          # (first frame, fragments) while assembling
        self.server_settings = None
        if preface:
            self.send(PREFACE + settings_frame(settings or {}))

    # -- sending ----------------------------------------------------------------
    def send(self, data):
        self.sock.sendall(data)

    def try_send(self, data, timeout=1.0):
        """Sends as much as the peer takes within timeout.  Returns False
        when the peer stopped reading or closed (the caller stops
        attacking and reads what came back)."""
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(data)
            return True
        except (socket.timeout, BrokenPipeError, ConnectionResetError,
                ssl.SSLError, OSError):
            return False
        finally:
            self.sock.settimeout(self.timeout)

    def encode(self, headers):
        return self.encoder.encode(headers)

    def request(self, sid, path="/", method="GET", authority="localhost",
                extra=(), end_stream=True, scheme="http"):
        block = self.encode(request_headers(method, path, authority, scheme, extra))
        self.send(headers_frame(sid, block, end_stream=end_stream))

    def ack_settings(self):
        self.send(settings_frame(ack=True))

    # -- receiving ---------------------------------------------------------------
    def _fill(self, deadline):
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline passed")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(262144)
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError,
                BrokenPipeError):
            data = b""
        except ssl.SSLError as e:
            if "timed out" in str(e):
                raise socket.timeout(str(e))
            data = b""
        finally:
            self.sock.settimeout(self.timeout)
        if not data:
            self.eof = True
            return False
        if self.pos > 65536:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += data
        return True

    def _parse_one(self):
        p, buf = self.pos, self.buf
        if len(buf) - p < 9:
            return None
        length = (buf[p] << 16) | (buf[p + 1] << 8) | buf[p + 2]
        if len(buf) - p < 9 + length:
            return None
        ftype, flags = buf[p + 3], buf[p + 4]
        sid = struct.unpack_from(">I", buf, p + 5)[0] & 0x7fffffff
        f = Frame(ftype, flags, sid, bytes(buf[p + 9:p + 9 + length]))
        self.pos = p + 9 + length
        self._note(f)
        self.frames.append(f)
        return f

    def _note(self, f):
        if f.type == SETTINGS and not f.flags & ACK and self.server_settings is None:
            self.server_settings = f.settings
        if f.type in (HEADERS, PUSH_PROMISE):
            frag = _strip_padding_priority(f)
            if f.type == PUSH_PROMISE:
                frag = frag[4:]
            self._hblock = (f, [frag])
        elif f.type == CONTINUATION and self._hblock is not None:
            self._hblock[1].append(f.payload)
        else:
            return
        if f.flags & END_HEADERS:
            first, frags = self._hblock
            self._hblock = None
            first.headers = [(k.decode("latin-1") if isinstance(k, bytes) else k,
                              v.decode("latin-1") if isinstance(v, bytes) else v)
                             for k, v in self.decoder.decode(b"".join(frags), raw=True)]

    def read_frame(self, timeout=None):
        """The next frame, or None at EOF.  Raises socket.timeout."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            f = self._parse_one()
            if f is not None:
                return f
            if not self._fill(deadline):
                return None

    def poll_frames(self):
        """Every frame already readable without waiting (non-blocking)."""
        out = []
        while not self.eof:
            r, _, _ = select.select([self.sock], [], [], 0)
            pending = self.sock.pending() if hasattr(self.sock, "pending") else 0
            if not r and not pending:
                break
            try:
                self._fill(time.monotonic() + 0.2)
            except socket.timeout:
                break
        while True:
            f = self._parse_one()
            if f is None:
                return out
            out.append(f)

    def read_until(self, pred, timeout=None):
        """Reads frames until pred(frame) is true; returns that frame, or
        None at EOF / timeout."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            try:
                f = self.read_frame(max(deadline - time.monotonic(), 0.001))
            except socket.timeout:
                return None
            if f is None or pred(f):
                return f

    def barrier(self, timeout=None):
        """PING and wait for its ACK: the server has processed everything
        sent before.  Returns False if the connection ended first."""
        self._pings = getattr(self, "_pings", 0) + 1
        token = struct.pack(">Q", 0x7074000000000000 + self._pings)
        self.send(ping_frame(token))
        f = self.read_until(lambda f: (f.type == PING and f.flags & ACK
                                       and f.payload == token), timeout)
        return f is not None

    def handshake(self, timeout=None):
        """Waits for the server's SETTINGS and ACKs it."""
        f = self.read_until(lambda f: f.type == SETTINGS and not f.flags & ACK, timeout)
        assert f is not None, "no SETTINGS from the server: %r" % self.frames
        self.ack_settings()
        return f

    def response(self, sid, timeout=None):
        """Reads until stream sid ends: (headers, body, rst_code or None).
        Opens the connection and stream windows as DATA arrives."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        headers, body = None, bytearray()
        while True:
            f = self.read_frame(max(deadline - time.monotonic(), 0.001))
            if f is None:
                raise AssertionError("EOF before stream %d ended; frames %r"
                                     % (sid, self.frames[-10:]))
            if f.type == GOAWAY:
                raise AssertionError("GOAWAY while waiting for stream %d: %r" % (sid, f))
            if f.sid != sid:
                continue
            if f.type == HEADERS and f.headers is not None and headers is None:
                headers = f.headers
            elif f.type == DATA:
                payload = _strip_padding_priority(f)
                body += payload
                if f.payload:
                    self.send(window_update_frame(0, len(f.payload))
                              + window_update_frame(sid, len(f.payload)))
            elif f.type == RST_STREAM:
                return headers, bytes(body), f.error_code
            if f.type in (HEADERS, DATA) and f.flags & END_STREAM:
                return headers, bytes(body), None

    def wait_goaway(self, timeout=5.0):
        """Reads until EOF or timeout.  Returns (the last GOAWAY received on
        this connection so far, or None; whether the server closed)."""
        deadline = time.monotonic() + timeout
        closed = False
        while True:
            try:
                f = self.read_frame(max(deadline - time.monotonic(), 0.001))
            except socket.timeout:
                break
            if f is None:
                closed = True
                break
        goaways = self.goaways()
        return (goaways[-1] if goaways else None), closed

    def goaways(self):
        return [f for f in self.frames if f.type == GOAWAY]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


# -- a well-behaved client on python3-h2 -----------------------------------------------


class H2Response(Fields):
    def __init__(self, sid):
        self.sid = sid
        self.status = None
        self.headers = []            # [(name, value)] exactly as received
        self.interim = []
        self.trailers = []
        self.chunks = []
        self.received = 0            # body bytes so far
        self._joined = (0, b"")
        self.data_frames = 0
        self.reset = None            # RST_STREAM error code
        self.ended = False

    @property
    def body(self):
        if self._joined[0] != len(self.chunks):
            self._joined = (len(self.chunks), b"".join(self.chunks))
        return self._joined[1]

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<H2Response sid=%d %s %r %d bytes reset=%r>" % (
            self.sid, self.status, self.headers, len(self.body), self.reset)


class H2Client:
    """HTTP/2 over h2c (prior knowledge) or TLS (ALPN h2) with python3-h2.

    auto_window: acknowledge received DATA at once (WINDOW_UPDATE); with
    False the test opens windows itself (ack()).  settings: local SETTINGS
    to advertise (e.g. {INITIAL_WINDOW_SIZE: 0})."""

    def __init__(self, port, tls_ctx=None, sni=None, authority="localhost",
                 timeout=10.0, settings=None, auto_window=True):
        self.authority = authority
        self.timeout = timeout
        self.auto_window = auto_window
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.scheme = "http"
        if tls_ctx is not None:
            s = tls_ctx.wrap_socket(s, server_hostname=sni)
            alpn = s.selected_alpn_protocol()
            assert alpn == "h2", "ALPN selected %r, not h2" % alpn
            self.scheme = "https"
        self.sock = s
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="latin-1",
                                        validate_inbound_headers=False,
                                        normalize_inbound_headers=False)
        self.conn = h2.connection.H2Connection(config=cfg)
        if settings:
            # Advertised in the first SETTINGS frame, right after the preface.
            values = {h2.settings.SettingCodes.ENABLE_PUSH: 0}
            values.update(settings)
            self.conn.local_settings = h2.settings.Settings(client=True,
                                                            initial_values=values)
        self.conn.initiate_connection()
        self.streams = {}
        self.closed = False
        self.goaway = None
        self.remote_settings_seen = False
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path="/", method="GET", headers=(), body=None,
                authority=None, end_stream=None):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", self.scheme), (":path", path)]
        auth = self.authority if authority is None else authority
        if auth:
            hdrs.append((":authority", auth))
        hdrs += list(headers)
        if end_stream is None:
            end_stream = not body
        self.conn.send_headers(sid, hdrs, end_stream=end_stream)
        self.streams[sid] = H2Response(sid)
        self.flush()
        if body:
            self._send_body(sid, body)
        return sid

    def _send_body(self, sid, body, deadline=None):
        deadline = deadline or time.monotonic() + self.timeout
        view = memoryview(body)
        while view:
            window = min(self.conn.local_flow_control_window(sid),
                         self.conn.max_outbound_frame_size)
            if window <= 0:
                self.pump(deadline)
                if self.streams[sid].ended or self.streams[sid].reset is not None:
                    return
                continue
            n = min(window, len(view))
            self.conn.send_data(sid, view[:n].tobytes(), end_stream=(n == len(view)))
            view = view[n:]
            self.flush()

    def pump(self, deadline=None):
        """Reads once (blocking up to deadline) and handles events."""
        if self.closed:
            raise AssertionError("connection closed; GOAWAY %r" % (self.goaway,))
        deadline = deadline or time.monotonic() + self.timeout
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline passed")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(262144)
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            data = b""
        if not data:
            self.closed = True
            return []
        events = self.conn.receive_data(data)
        for ev in events:
            self._event(ev)
        self.flush()
        return events

    def _event(self, ev):
        st = self.streams.get(getattr(ev, "stream_id", None))
        if isinstance(ev, h2.events.ResponseReceived):
            st.headers = [(k, v) for k, v in ev.headers if not k.startswith(":")]
            st.status = int(dict(ev.headers)[":status"])
            st.pseudo = [(k, v) for k, v in ev.headers if k.startswith(":")]
            st.raw_headers = list(ev.headers)
        elif isinstance(ev, h2.events.InformationalResponseReceived):
            st.interim.append(ev.headers)
        elif isinstance(ev, h2.events.TrailersReceived):
            st.trailers = ev.headers
        elif isinstance(ev, h2.events.DataReceived):
            st.chunks.append(ev.data)
            st.received += len(ev.data)
            st.data_frames += 1
            if self.auto_window and ev.flow_controlled_length:
                self.conn.acknowledge_received_data(ev.flow_controlled_length,
                                                    ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            st.ended = True
        elif isinstance(ev, h2.events.StreamReset):
            if st is not None:
                st.reset = ev.error_code
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaway = ev
        elif isinstance(ev, h2.events.RemoteSettingsChanged):
            self.remote_settings_seen = True

    def ack(self, sid, n):
        """Opens the stream and connection windows by n bytes."""
        self.conn.increment_flow_control_window(n)
        self.conn.increment_flow_control_window(n, sid)
        self.flush()

    def response(self, sid, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        st = self.streams[sid]
        while not st.ended and st.reset is None:
            if self.closed or self.goaway is not None and sid > self.goaway.last_stream_id:
                raise AssertionError("connection ended before stream %d finished: "
                                     "%r GOAWAY %r" % (sid, st, self.goaway))
            self.pump(deadline)
        return st

    def get(self, path="/", **kw):
        timeout = kw.pop("timeout", None)
        return self.response(self.request(path, **kw), timeout)

    def close(self):
        try:
            if not self.closed:
                self.conn.close_connection()
                self.flush()
        except Exception:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def check_h2_headers(resp):
    """What every HTTP/2 response must satisfy: names lower-case, no
    connection-specific fields, no chunked framing, pseudo-headers first
    and only :status."""
    raw = getattr(resp, "raw_headers", None) or ([(":status", str(resp.status))]
                                                  + resp.headers)
    seen_regular = False
    for k, v in raw:
        assert k == k.lower(), "upper-case header name %r in %r" % (k, raw)
        if k.startswith(":"):
            assert not seen_regular, "pseudo-header after a regular one: %r" % raw
            assert k == ":status", "unexpected pseudo-header %r" % k
        else:
            seen_regular = True
        assert k not in CONNECTION_SPECIFIC, "connection-specific %r on h2: %r" % (k, raw)
        assert "\r" not in v and "\n" not in v
    assert len([k for k, _ in raw if k == ":status"]) == 1, raw
