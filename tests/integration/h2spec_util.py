"""An h2spec work-alike: the client side of h2spec (summerwind/h2spec,
spec/connection.go and spec/verifier.go) rebuilt on h2frames.RawH2, so the
conformance cases in test_h2_conformance.py send the same bytes and accept
the same outcomes as h2spec does.

What h2spec does, and so what this does:

- Dial + Handshake: the client preface, SETTINGS(INITIAL_WINDOW_SIZE=65535),
  then frames are read (and dropped) until both the server's SETTINGS (which
  is ACKed) and the ACK of ours have arrived, within one timeout.
- WaitEvent reads one frame with a fresh deadline of `timeout` (h2spec -o,
  2 s by default).  A timeout, EOF or ECONNRESET ends the connection for the
  verifiers ("Closed").  Every DATA frame received is accounted for the way
  h2spec does: once a window (stream or connection, 65535 each) drops to 0
  or below, a WINDOW_UPDATE refills it.
- Writes never fail a case: h2spec ignores write errors (the server may
  have closed already).
- The verifiers (VerifyConnectionError, VerifyStreamError, ...) loop over
  events exactly as h2spec's do; in particular a connection close passes
  VerifyConnectionError/VerifyStreamError whatever came before it, and a
  GOAWAY/RST_STREAM passes only with one of the expected codes.

A failing verifier raises SpecFailure carrying h2spec's own "Expected" and
"Actual" lines plus the whole exchange (frames sent and received), which is
what a server developer needs to fix the case.
"""

import socket
import struct
import time
import warnings

import hpack

from h2frames import (ACK, CONTINUATION, DATA, END_HEADERS, END_STREAM, GOAWAY,
                      HEADERS, INITIAL_WINDOW_SIZE, PADDED, PING, PREFACE,
                      PRIORITY, PRIORITY_FLAG, PUSH_PROMISE, RST_STREAM,
                      SETTINGS, TYPE_NAMES, WINDOW_UPDATE, RawH2, err_name,
                      frame)

DEFAULT_WINDOW_SIZE = 65535
DEFAULT_FRAME_SIZE = 16384
MAX_HEADER_LEN = 4000          # h2spec --max-header-length default
LOOP_CAP = 20.0                # seconds: a verifier never loops longer

SETTING_NAMES = {1: "HEADER_TABLE_SIZE", 2: "ENABLE_PUSH",
                 3: "MAX_CONCURRENT_STREAMS", 4: "INITIAL_WINDOW_SIZE",
                 5: "MAX_FRAME_SIZE", 6: "MAX_HEADER_LIST_SIZE"}


class SpecFailure(AssertionError):
    pass


# -- events ------------------------------------------------------------------------

class Closed:
    """EOF or ECONNRESET: h2spec's ConnectionClosedEvent."""
    type = "closed"

    def __repr__(self):
        return "Connection closed"


class Timeout:
    type = "timeout"

    def __repr__(self):
        return "Timeout"


class Error:
    type = "error"

    def __init__(self, exc):
        self.exc = exc

    def __repr__(self):
        return "Error: %r" % (self.exc,)


def describe(ev):
    """One line per event, in h2spec's words plus the details that matter."""
    if not hasattr(ev, "payload"):
        return repr(ev)
    name = TYPE_NAMES[ev.type] if ev.type < len(TYPE_NAMES) else "UNKNOWN(%d)" % ev.type
    s = "%s Frame (length:%d, flags:0x%02x, stream_id:%d)" % (
        name, len(ev.payload), ev.flags, ev.sid)
    p = ev.payload
    if ev.type in (GOAWAY,) and len(p) >= 8:
        s += " last_stream_id=%d error=%s" % (ev.last_sid, err_name(ev.error_code))
        if p[8:]:
            s += " debug=%r" % bytes(p[8:80])
    elif ev.type == RST_STREAM and len(p) >= 4:
        s += " error=%s" % err_name(ev.error_code)
    elif ev.type == SETTINGS and not ev.flags & ACK and len(p) % 6 == 0:
        s += " " + ", ".join("%s=%d" % (SETTING_NAMES.get(k, hex(k)), v)
                             for k, v in (struct.unpack(">HI", p[i:i + 6])
                                          for i in range(0, len(p), 6)))
    elif ev.type == WINDOW_UPDATE and len(p) == 4:
        s += " increment=%d" % (struct.unpack(">I", p)[0] & 0x7fffffff)
    elif ev.type == PING:
        s += " opaque_data=%r" % bytes(p)
    elif ev.type in (HEADERS, PUSH_PROMISE) and getattr(ev, "headers", None) is not None:
        s += " %r" % (ev.headers,)
    elif ev.type == DATA and len(p) <= 40:
        s += " %r" % bytes(p)
    return s


def is_frame(ev, ftype=None):
    return hasattr(ev, "payload") and (ftype is None or ev.type == ftype)


# -- the connection ------------------------------------------------------------------

class Config:
    """h2spec's config: target, -t (TLS, with -k), -o timeout.

    write_gap says how the frames of a case reach the server, which decides
    whether it reads them one by one or together (h2spec writes them back
    to back, so either can happen, and a server must pass both ways):
    > 0 sleeps that long after each frame written after the handshake (the
    server sees them one at a time), 0 writes them back to back as h2spec
    does, < 0 holds them until the case waits for an answer and sends them
    in one write (the server sees them all at once)."""

    def __init__(self, port, tls_ctx=None, host="127.0.0.1", timeout=2.0,
                 write_gap=0.0):
        self.port = port
        self.tls_ctx = tls_ctx
        self.host = host
        self.timeout = timeout
        self.write_gap = write_gap
        self.path = "/"
        self.max_header_len = MAX_HEADER_LEN

    @property
    def tls(self):
        return self.tls_ctx is not None

    @property
    def authority(self):
        default = 443 if self.tls else 80
        return self.host if self.port == default else "%s:%d" % (self.host, self.port)

    def dial(self):
        return SpecConn(self)


class SpecConn:
    def __init__(self, config):
        self.config = config
        self.timeout = config.timeout
        # h2spec does not send SNI for an IP address (Go's crypto/tls).
        sni = None if config.host.replace(".", "").isdigit() else config.host
        self.raw = RawH2(config.port, tls_ctx=config.tls_ctx, sni=sni,
                         timeout=max(config.timeout, 5.0), preface=False)
        self.settings = {}           # the server's, from the handshake
        self.closed = False
        self.encoder = hpack.Encoder()
        self.window = {0: DEFAULT_WINDOW_SIZE}
        self.log = []                # ("send" | "recv", text)
        self.notes = []
        self.handshaken = False      # write_gap applies from then on
        self.pending = bytearray()   # write_gap < 0: held until a read

    # -- writing (errors ignored, as h2spec does) ----------------------------------
    def send(self, data, what=None):
        self.log.append(("send", what or "raw bytes %r" % (bytes(data[:64]),)))
        gap = self.config.write_gap if self.handshaken else 0
        if gap < 0:
            self.pending += data
            return
        self._write(data)
        if gap > 0:
            time.sleep(gap)

    def _write(self, data):
        try:
            self.raw.sock.sendall(data)
        except (OSError, socket.timeout) as e:
            self.log.append(("send", "  (write failed: %r)" % (e,)))

    def flush(self):
        if self.pending:
            data, self.pending = bytes(self.pending), bytearray()
            self._write(data)

    def write_frame(self, ftype, flags, sid, payload):
        f = frame(ftype, flags, sid, payload)
        self.send(f, _sent_desc(ftype, flags, sid, payload))

    def write_data(self, sid, end_stream, data):
        self.write_frame(DATA, END_STREAM if end_stream else 0, sid, bytes(data))

    def write_data_padded(self, sid, end_stream, data, pad):
        flags = (END_STREAM if end_stream else 0) | PADDED
        self.write_frame(DATA, flags, sid, bytes([len(pad)]) + bytes(data) + bytes(pad))

    def write_headers(self, sid, block, end_stream, end_headers, pad_length=0,
                      priority=None):
        """priority: (stream_dep, exclusive, weight byte) as Go's
        PriorityParam, written when not all zero."""
        flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
        payload = b""
        if pad_length:
            flags |= PADDED
            payload += bytes([pad_length])
        if priority is not None and any(priority):
            flags |= PRIORITY_FLAG
            payload += _priority_payload(*priority)
        payload += bytes(block) + b"\x00" * pad_length
        self.write_frame(HEADERS, flags, sid, payload)

    def write_priority(self, sid, stream_dep=0, exclusive=False, weight=0):
        self.write_frame(PRIORITY, 0, sid, _priority_payload(stream_dep, exclusive, weight))

    def write_rst_stream(self, sid, code):
        self.write_frame(RST_STREAM, 0, sid, struct.pack(">I", code))

    def write_settings(self, *settings):
        """settings: (id, value) pairs, in order, duplicates allowed."""
        self.write_frame(SETTINGS, 0, 0,
                         b"".join(struct.pack(">HI", k, v) for k, v in settings))

    def write_settings_ack(self):
        self.write_frame(SETTINGS, ACK, 0, b"")

    def write_ping(self, ack, data):
        self.write_frame(PING, ACK if ack else 0, 0, bytes(data))

    def write_goaway(self, last_sid, code, debug=b""):
        self.write_frame(GOAWAY, 0, 0, struct.pack(">II", last_sid, code) + debug)

    def write_window_update(self, sid, incr):
        self.write_frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", incr))

    def write_continuation(self, sid, end_headers, block):
        self.write_frame(CONTINUATION, END_HEADERS if end_headers else 0, sid, bytes(block))

    def write_push_promise(self, sid, promise_id, block, end_headers=True):
        self.write_frame(PUSH_PROMISE, END_HEADERS if end_headers else 0, sid,
                         struct.pack(">I", promise_id) + bytes(block))

    # -- HPACK (one encoder for the connection, like h2spec's) ---------------------------
    def encode_headers(self, headers):
        return self.encoder.encode(list(headers))

    def set_max_dynamic_table_size(self, size):
        self.encoder.header_table_size = size

    def common_headers(self, method="GET"):
        c = self.config
        return [(":method", method), (":scheme", "https" if c.tls else "http"),
                (":path", c.path), (":authority", c.authority)]

    def dummy_headers(self, n):
        return [("x-dummy%d" % i, "x" * self.config.max_header_len) for i in range(n)]

    def max_frame_size(self):
        return self.settings.get(5, DEFAULT_FRAME_SIZE)

    # -- reading ------------------------------------------------------------------------
    def wait_event(self):
        self.flush()
        if self.closed:
            return Closed()
        try:
            f = self.raw.read_frame(self.timeout)
        except socket.timeout:
            self.closed = True
            ev = Timeout()
        except Exception as e:          # noqa: BLE001 - h2spec's ErrorEvent
            self.closed = True
            ev = Error(e)
        else:
            if f is None:
                self.closed = True
                ev = Closed()
            else:
                ev = f
                if f.type == DATA:
                    self._update_window(f)
        self.log.append(("recv", describe(ev)))
        return ev

    def _update_window(self, f):
        n = len(f.payload)
        for sid in (f.sid, 0):
            w = self.window.get(sid, DEFAULT_WINDOW_SIZE) - n
            if w <= 0:
                incr = DEFAULT_WINDOW_SIZE - w
                self.write_window_update(sid, incr)
                w += incr
            self.window[sid] = w

    def wait_event_by_type(self, ftype):
        """h2spec's WaitEventByType: (event, True) for the first frame of that
        type, else (the last event seen, False)."""
        last = None
        start = time.monotonic()
        while not self.closed and time.monotonic() - start < LOOP_CAP:
            ev = self.wait_event()
            if is_frame(ev, ftype):
                return ev, True
            if isinstance(ev, Timeout) and last is not None:
                break
            last = ev
        return last, False

    def handshake(self):
        self.send(PREFACE, "client connection preface")
        self.write_settings((INITIAL_WINDOW_SIZE, DEFAULT_WINDOW_SIZE))
        local = remote = False
        deadline = time.monotonic() + self.timeout
        while not (local and remote):
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise socket.timeout()
                f = self.raw.read_frame(left)
            except socket.timeout:
                self.log.append(("recv", "Timeout"))
                self.fail(["handshake (server SETTINGS and SETTINGS ACK)"],
                          "Timeout", error=True)
            if f is None:
                self.log.append(("recv", "Connection closed"))
                self.fail(["handshake (server SETTINGS and SETTINGS ACK)"],
                          "Connection closed", error=True)
            self.log.append(("recv", describe(f)))
            if f.type != SETTINGS:
                continue
            if f.flags & ACK:
                local = True
            else:
                remote = True
                self.settings.update(f.settings)
                self.write_settings_ack()
        self.handshaken = True

    def close(self):
        self.raw.close()

    # -- reporting -----------------------------------------------------------------------
    def transcript(self):
        return "\n".join("  %s %s" % ("->" if d == "send" else "<-", t)
                         for d, t in self.log)

    def fail(self, expected, actual, error=False):
        head = "Error" if error else "Expected"
        lines = ["%s: %s" % (head, expected[0])]
        lines += ["          %s" % e for e in expected[1:]]
        lines.append("  Actual: %s" % (actual if isinstance(actual, str)
                                       else describe(actual)))
        lines.append("Exchange (-> sent by the test, <- received from portico):")
        lines.append(self.transcript())
        raise SpecFailure("\n".join(lines))

    def server_data_length(self):
        """h2spec's ServerDataLength: the DATA length of GET / on a new
        connection."""
        other = self.config.dial()
        try:
            other.handshake()
            other.write_headers(1, other.encode_headers(other.common_headers()),
                                end_stream=True, end_headers=True)
            total, done = 0, False
            while not other.closed and not done:
                ev = other.wait_event()
                if is_frame(ev, DATA):
                    total += len(ev.payload)
                    done = bool(ev.flags & END_STREAM)
                elif is_frame(ev, HEADERS):
                    done = bool(ev.flags & END_STREAM)
            if not done:
                other.fail(["Unable to get server data length"], "no end of stream 1",
                           error=True)
            return total
        finally:
            other.close()

    # -- verifiers (spec/verifier.go) -----------------------------------------------------
    def _loop(self, step):
        """Runs step(ev) -> True (passed) on each event while the connection
        lives; returns (passed, actual) like h2spec's loops."""
        actual = None
        start = time.monotonic()
        while not self.closed:
            if time.monotonic() - start > LOOP_CAP:
                actual = actual or "still receiving frames after %.0f s" % LOOP_CAP
                break
            ev = self.wait_event()
            if step(ev):
                return True, ev
            if isinstance(ev, Timeout):
                if actual is None:
                    actual = ev
            else:
                actual = ev
        return False, actual

    def verify_connection_close(self):
        ok, actual = self._loop(lambda ev: isinstance(ev, Closed))
        if not ok:
            self.fail(["Connection closed"], actual)

    def _goaways_before_close(self, codes):
        """h2spec passes a close even after a GOAWAY with another code; say
        so (a warning, not a failure) since the code is still wrong."""
        wrong = [t for d, t in self.log if d == "recv" and t.startswith("GOAWAY")]
        if wrong:
            self.notes.append("passed on connection close, but the GOAWAY sent "
                              "was: %s (h2spec wants one of %s)" % (
                                  wrong[-1], "/".join(err_name(c) for c in codes)))
            warnings.warn("h2spec case passed by connection close; " + self.notes[-1])

    def verify_connection_error(self, *codes):
        def step(ev):
            if isinstance(ev, Closed):
                return True
            return is_frame(ev, GOAWAY) and ev.error_code in codes
        ok, actual = self._loop(step)
        if not ok:
            self.fail(["GOAWAY Frame (Error Code: %s)" % err_name(c) for c in codes]
                      + ["Connection closed"], actual)
        if isinstance(actual, Closed):
            self._goaways_before_close(codes)

    def verify_stream_error(self, *codes):
        def step(ev):
            if isinstance(ev, Closed):
                return True
            return is_frame(ev) and ev.type in (GOAWAY, RST_STREAM) \
                and ev.error_code in codes
        ok, actual = self._loop(step)
        if not ok:
            expected = []
            for c in codes:
                expected += ["GOAWAY Frame (Error Code: %s)" % err_name(c),
                             "RST_STREAM Frame (Error Code: %s)" % err_name(c)]
            self.fail(expected + ["Connection closed"], actual)
        if isinstance(actual, Closed):
            self._goaways_before_close(codes)

    def verify_stream_close(self):
        def step(ev):
            if is_frame(ev, DATA) or is_frame(ev, HEADERS):
                return bool(ev.flags & END_STREAM)
            return is_frame(ev, RST_STREAM) and ev.error_code == 0
        ok, actual = self._loop(step)
        if not ok:
            self.fail(["Stream closed"], actual)

    def verify_headers_frame(self, sid):
        actual, passed = self.wait_event_by_type(HEADERS)
        if not (passed and actual.sid == sid):
            self.fail(["HEADERS Frame (stream_id:%d)" % sid], actual)

    def verify_settings_frame_with_ack(self):
        actual, passed = self.wait_event_by_type(SETTINGS)
        if not (passed and actual.flags & ACK):
            self.fail(["SETTINGS Frame (length:0, flags:0x01, stream_id:0)"], actual)

    def verify_ping_frame_with_ack(self, data):
        actual, passed = self.wait_event_by_type(PING)
        if not (passed and actual.flags & ACK and actual.payload == bytes(data)):
            self.fail(["PING Frame (length:8, flags:0x01, stream_id:0, "
                       "opaque_data:%r)" % bytes(data)], actual)

    def verify_ping_frame_or_connection_close(self, data):
        def step(ev):
            if isinstance(ev, Closed):
                return True
            return is_frame(ev, PING) and bool(ev.flags & ACK) \
                and ev.payload == bytes(data)
        ok, actual = self._loop(step)
        if not ok:
            self.fail(["Connection closed",
                       "PING Frame (length:8, flags:0x01, stream_id:0, "
                       "opaque_data:%r)" % bytes(data)], actual)

    def verify_event_type(self, ftype):
        actual, passed = self.wait_event_by_type(ftype)
        if not passed:
            self.fail(["%s Frame" % TYPE_NAMES[ftype]], actual)

    def data_frame_of_length(self, sid, length):
        """The check h2spec makes in 6.5.3/1, 6.9.1/1 and 6.9.2/1-2: the
        first DATA frame received is `length` bytes long."""
        actual, passed = self.wait_event_by_type(DATA)
        if not (passed and len(actual.payload) == length):
            self.fail(["DATA Frame (length:%d, flags:0x00, stream_id:%d)"
                       % (length, sid)], actual)


def _priority_payload(stream_dep, exclusive, weight):
    return struct.pack(">IB", (stream_dep & 0x7fffffff) | (0x80000000 if exclusive else 0),
                       weight)


def _sent_desc(ftype, flags, sid, payload):
    class F:
        pass
    f = F()
    f.type, f.flags, f.sid, f.payload = ftype, flags, sid, payload
    f.last_sid = struct.unpack(">I", payload[:4])[0] & 0x7fffffff if len(payload) >= 4 else 0
    if ftype == GOAWAY and len(payload) >= 8:
        f.error_code = struct.unpack(">I", payload[4:8])[0]
    elif ftype == RST_STREAM and len(payload) >= 4:
        f.error_code = struct.unpack(">I", payload[:4])[0]
    s = describe(f)
    if ftype in (HEADERS, CONTINUATION, PUSH_PROMISE):
        s += " block=%s" % (bytes(payload[:48]).hex() + ("..." if len(payload) > 48 else ""))
    elif ftype == DATA and len(payload) > 40:
        s += " (%d bytes)" % len(payload)
    return s
