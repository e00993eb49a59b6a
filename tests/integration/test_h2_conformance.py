"""HTTP/2 conformance, case by case as h2spec (summerwind/h2spec v2) runs
them: "generic/*", "http2/*" (RFC 7540/9113) and "hpack/*" (RFC 7541).

Every test is one h2spec case, named after its id (http2/5.1/11 ->
test_http2_5_1_11_...), and sends the same frames h2spec sends (its Go
sources are the reference: spec/*.go for the connection and the
verifiers, generic/, http2/ and hpack/ for the cases).  A case passes on
exactly what h2spec accepts, see h2spec_util.py; for instance an expected
connection error passes on a GOAWAY with the error code or on the
connection closing, an expected stream error also on a RST_STREAM with the
code.  http2/5.4.1/2 is one of h2spec's "strict" cases (run with -S).

Each case runs over h2c with prior knowledge (h2spec) and over TLS with
ALPN h2 and no SNI (h2spec -t -k against 127.0.0.1).  :authority is
"127.0.0.1:PORT" as h2spec sends it.  The per-read timeout is h2spec's
default of 2 s (H2SPEC_TIMEOUT overrides it).

h2spec writes a case's frames back to back, so the server may read them
one by one or all at once, and h2spec's verdict can depend on which (a
server that answers a request before its END_STREAM, then resets the
stream, ignores what follows).  To make such cases fail every time rather
than now and then, frames are written 10 ms apart by default (the server
sees them one at a time); H2SPEC_WRITE_GAP sets the gap in seconds, 0
writes back to back as h2spec does, and -1 sends each batch of frames in
one write (the server sees them all at once).  A failure prints h2spec's
Expected/Actual lines and the whole exchange; H2SPEC_TRACE=1 (with -s)
prints the exchange of every case.
"""

import os

import pytest

from certs import certs_fixture  # noqa: F401  (the `certs` fixture)
from certs import client_context
from h2frames import (CANCEL, COMPRESSION_ERROR, DATA, ENABLE_PUSH,
                      FLOW_CONTROL_ERROR, FRAME_SIZE_ERROR, GOAWAY,
                      HEADER_TABLE_SIZE, INITIAL_WINDOW_SIZE,
                      MAX_CONCURRENT_STREAMS, MAX_FRAME_SIZE,
                      MAX_HEADER_LIST_SIZE, NO_ERROR, PING, PREFACE,
                      PROTOCOL_ERROR, REFUSED_STREAM, RST_STREAM, SETTINGS,
                      STREAM_CLOSED)
from h2spec_util import ACK, Config, is_frame

TIMEOUT = float(os.environ.get("H2SPEC_TIMEOUT", "2"))
WRITE_GAP = float(os.environ.get("H2SPEC_WRITE_GAP", "0.01"))
TRANSPORTS = ["h2c", "tls"]
INDEX = b"<!doctype html><title>portico</title><p>h2spec default document</p>\n"
ZERO8 = bytes(8)
H2SPEC8 = b"h2spec\x00\x00"
MAX_WINDOW = 2147483647


@pytest.fixture(scope="module")
def srv(portico, certs):
    site = portico.site()
    site.write("index.html", INDEX)
    plain = site.new_port()
    s = site.start(vhosts=[
        site.vhost(name="localhost", **{"host-ssl-cert": certs.local_cert,
                                        "host-ssl-key": certs.local_key}),
        site.vhost(name="localhost", port=plain)],
        global_={"count-threads": 1})
    s.tls_port, s.plain_port = site.ports
    s.certs = certs
    return s


@pytest.fixture(params=TRANSPORTS)
def config(srv, request):
    if request.param == "tls":
        return Config(srv.tls_port, tls_ctx=client_context(srv.certs, alpn=["h2"],
                                                           verify=False),
                      timeout=TIMEOUT, write_gap=WRITE_GAP)
    return Config(srv.plain_port, timeout=TIMEOUT, write_gap=WRITE_GAP)


@pytest.fixture
def conn(config, srv):
    c = config.dial()
    try:
        yield c
    finally:
        c.close()
        if os.environ.get("H2SPEC_TRACE"):
            print("\nExchange:\n" + c.transcript())
    for note in c.notes:
        print("h2spec note:", note)
    assert srv.alive(), "portico died during the case"


def skip(why):
    pytest.skip("h2spec skips this case: %s" % why)


def request(conn, sid=1, method="GET", extra=(), end_stream=True, end_headers=True,
            **kw):
    """A HEADERS frame with h2spec's CommonHeaders (+ extra fields)."""
    block = conn.encode_headers(conn.common_headers(method) + list(extra))
    conn.write_headers(sid, block, end_stream=end_stream, end_headers=end_headers, **kw)
    return block


def dummy_block(conn, n=1):
    return conn.encode_headers(conn.dummy_headers(n))


def with_rep(conn, rep, before=False, sid=1):
    """CommonHeaders encoded, with raw HPACK bytes appended (or prepended)."""
    block = conn.encode_headers(conn.common_headers())
    block = rep + block if before else block + rep
    conn.write_headers(sid, block, end_stream=True, end_headers=True)


def preface_gets_settings(conn):
    """generic/1/1 and http2/3.5/1: the first frame after the client preface
    is a SETTINGS frame without ACK."""
    conn.send(PREFACE, "client connection preface")
    conn.write_settings((INITIAL_WINDOW_SIZE, 65535))
    ev = conn.wait_event()
    if not (is_frame(ev, SETTINGS) and not ev.flags & ACK):
        conn.fail(["SETTINGS Frame (flags:0x00)"], ev)


# ================================================================================
# generic: Generic tests for HTTP/2 server
# ================================================================================

# -- generic/1 Starting HTTP/2 --------------------------------------------------------

def test_generic_1_1_client_preface(conn):
    """Sends a client connection preface"""
    preface_gets_settings(conn)


# -- generic/2 Streams and Multiplexing ---------------------------------------------------

def test_generic_2_1_priority_on_idle_stream(conn):
    """Sends a PRIORITY frame on idle stream"""
    conn.handshake()
    conn.write_priority(1, 0, False, 255)
    conn.write_ping(False, ZERO8)
    conn.verify_ping_frame_with_ack(ZERO8)


def test_generic_2_2_window_update_on_half_closed_remote(conn):
    """Sends a WINDOW_UPDATE frame on half-closed (remote) stream"""
    conn.handshake()
    conn.write_settings((INITIAL_WINDOW_SIZE, 0))
    request(conn)
    conn.write_window_update(1, 1)
    conn.verify_event_type(DATA)


def test_generic_2_3_priority_on_half_closed_remote(conn):
    """Sends a PRIORITY frame on half-closed (remote) stream"""
    conn.handshake()
    conn.write_settings((INITIAL_WINDOW_SIZE, 0))
    request(conn)
    conn.write_priority(1, 0, False, 255)
    conn.write_window_update(1, 1)
    conn.verify_event_type(DATA)


def test_generic_2_4_rst_stream_on_half_closed_remote(conn):
    """Sends a RST_STREAM frame on half-closed (remote) stream"""
    conn.handshake()
    request(conn)
    conn.write_rst_stream(1, CANCEL)
    conn.write_ping(False, ZERO8)
    conn.verify_ping_frame_with_ack(ZERO8)


def test_generic_2_5_priority_on_closed_stream(conn):
    """Sends a PRIORITY frame on closed stream"""
    conn.handshake()
    request(conn)
    conn.verify_stream_close()
    conn.write_priority(1, 0, False, 255)
    conn.write_ping(False, ZERO8)
    conn.verify_ping_frame_with_ack(ZERO8)


# -- generic/3.1 DATA ---------------------------------------------------------------------

def test_generic_3_1_1_data(conn):
    """Sends a DATA frame"""
    conn.handshake()
    request(conn, method="POST", end_stream=False)
    conn.write_data(1, True, b"test")
    conn.verify_headers_frame(1)


def test_generic_3_1_2_multiple_data(conn):
    """Sends multiple DATA frames"""
    conn.handshake()
    request(conn, method="POST", end_stream=False)
    conn.write_data(1, False, b"test")
    conn.write_data(1, True, b"test")
    conn.verify_headers_frame(1)


def test_generic_3_1_3_data_with_padding(conn):
    """Sends a DATA frame with padding"""
    conn.handshake()
    request(conn, method="POST", end_stream=False)
    conn.write_data_padded(1, True, b"test", b"\x00" * 5)
    conn.verify_headers_frame(1)


# -- generic/3.2 HEADERS ----------------------------------------------------------------------

def test_generic_3_2_1_headers(conn):
    """Sends a HEADERS frame"""
    conn.handshake()
    request(conn)
    conn.verify_headers_frame(1)


def test_generic_3_2_2_headers_with_padding(conn):
    """Sends a HEADERS frame with padding"""
    conn.handshake()
    request(conn, pad_length=8)
    conn.verify_headers_frame(1)


def test_generic_3_2_3_headers_with_priority(conn):
    """Sends a HEADERS frame with priority"""
    conn.handshake()
    request(conn, priority=(0, False, 255))
    conn.verify_headers_frame(1)


# -- generic/3.3 PRIORITY ---------------------------------------------------------------------

def test_generic_3_3_1_priority_weight_1(conn):
    """Sends a PRIORITY frame with priority 1"""
    conn.handshake()
    conn.write_priority(1, 0, False, 0)
    request(conn)
    conn.verify_headers_frame(1)


def test_generic_3_3_2_priority_weight_256(conn):
    """Sends a PRIORITY frame with priority 256"""
    conn.handshake()
    conn.write_priority(1, 0, False, 255)
    request(conn)
    conn.verify_headers_frame(1)


def test_generic_3_3_3_priority_with_dependency(conn):
    """Sends a PRIORITY frame with stream dependency"""
    conn.handshake()
    conn.write_priority(3, 1, False, 0)
    request(conn)
    conn.verify_headers_frame(1)


def test_generic_3_3_4_priority_exclusive(conn):
    """Sends a PRIORITY frame with exclusive"""
    conn.handshake()
    conn.write_priority(1, 0, True, 0)
    request(conn)
    conn.verify_headers_frame(1)


def test_generic_3_3_5_priority_idle_then_lower_headers(conn):
    """Sends a PRIORITY frame for an idle stream, then send a HEADER frame
    for a lower stream ID"""
    conn.handshake()
    conn.write_priority(3, 0, False, 255)
    request(conn)
    conn.verify_headers_frame(1)


# -- generic/3.4 RST_STREAM --------------------------------------------------------------------

def test_generic_3_4_1_rst_stream(conn):
    """Sends a RST_STREAM frame"""
    conn.handshake()
    request(conn, end_stream=False)
    conn.write_rst_stream(1, CANCEL)
    conn.write_ping(False, ZERO8)
    conn.verify_ping_frame_with_ack(ZERO8)


# -- generic/3.5 SETTINGS ----------------------------------------------------------------------

def test_generic_3_5_1_settings(conn):
    """Sends a SETTINGS frame"""
    conn.handshake()
    conn.write_settings((HEADER_TABLE_SIZE, 4096), (ENABLE_PUSH, 1),
                        (MAX_CONCURRENT_STREAMS, 100), (INITIAL_WINDOW_SIZE, 65535),
                        (MAX_FRAME_SIZE, 16384), (MAX_HEADER_LIST_SIZE, 100))
    conn.verify_settings_frame_with_ack()


# -- generic/3.7 PING ---------------------------------------------------------------------------

def test_generic_3_7_1_ping(conn):
    """Sends a PING frame"""
    conn.handshake()
    conn.write_ping(False, H2SPEC8)
    conn.verify_ping_frame_with_ack(H2SPEC8)


# -- generic/3.8 GOAWAY ---------------------------------------------------------------------------

def test_generic_3_8_1_goaway(conn):
    """Sends a GOAWAY frame"""
    conn.handshake()
    conn.write_goaway(0, NO_ERROR, b"h2spec")
    conn.write_ping(False, H2SPEC8)
    conn.verify_ping_frame_or_connection_close(H2SPEC8)


# -- generic/3.9 WINDOW_UPDATE ---------------------------------------------------------------------

def test_generic_3_9_1_window_update_stream_0(conn):
    """Sends a WINDOW_UPDATE frame with stream ID 0"""
    conn.handshake()
    conn.write_window_update(0, 1)
    conn.write_ping(False, ZERO8)
    conn.verify_ping_frame_with_ack(ZERO8)


def test_generic_3_9_2_window_update_stream_1(conn):
    """Sends a WINDOW_UPDATE frame with stream ID 1"""
    conn.handshake()
    request(conn)
    conn.write_window_update(1, 1)
    conn.verify_headers_frame(1)


# -- generic/3.10 CONTINUATION -----------------------------------------------------------------------

def test_generic_3_10_1_continuation(conn):
    """Sends a CONTINUATION frame"""
    conn.handshake()
    block = conn.encode_headers(conn.common_headers())
    conn.write_headers(1, block[:5], end_stream=True, end_headers=False)
    conn.write_continuation(1, True, block[5:])
    conn.verify_headers_frame(1)


def test_generic_3_10_2_multiple_continuation(conn):
    """Sends multiple CONTINUATION frames"""
    conn.handshake()
    block = conn.encode_headers(conn.common_headers())
    conn.write_headers(1, block[:5], end_stream=True, end_headers=False)
    conn.write_continuation(1, False, block[5:10])
    conn.write_continuation(1, True, block[10:])
    conn.verify_headers_frame(1)


# -- generic/4 HTTP Message Exchanges ------------------------------------------------------------------

def test_generic_4_1_get(conn):
    """Sends a GET request"""
    conn.handshake()
    request(conn)
    conn.verify_headers_frame(1)


def test_generic_4_2_head(conn):
    """Sends a HEAD request"""
    conn.handshake()
    request(conn, method="HEAD")
    conn.verify_headers_frame(1)


def test_generic_4_3_post(conn):
    """Sends a POST request"""
    conn.handshake()
    request(conn, method="POST", end_stream=False)
    conn.write_data(1, True, b"test")
    conn.verify_headers_frame(1)


def test_generic_4_4_post_with_trailers(conn):
    """Sends a POST request with trailers"""
    conn.handshake()
    request(conn, method="POST", extra=[("trailer", "x-test")], end_stream=False)
    conn.write_data(1, False, b"test")
    conn.write_headers(1, conn.encode_headers([("x-test", "ok")]),
                       end_stream=True, end_headers=True)
    conn.verify_headers_frame(1)


# -- generic/5 HPACK ----------------------------------------------------------------------------------

HPACK_REPS = [
    # (id, representation appended to CommonHeaders)
    (1, b"\xba"),                                      # indexed: user-agent
    (2, b"\x40\x87\xb5\x05\xb1\x61\xcc\x5a\x93\x84\x9c\x48\xac\xa4"),
    (3, b"\x40\x0a\x75\x73\x65\x72\x2d\x61\x67\x65\x6e\x74\x06\x68\x32\x73\x70\x65\x63"),
    (4, b"\x40\x06\x78\x2d\x74\x65\x73\x74\x06\x68\x32\x73\x70\x65\x63"),
    (5, b"\x40\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4"),
    (6, b"\x00\x0a\x75\x73\x65\x72\x2d\x61\x67\x65\x6e\x74\x06\x68\x32\x73\x70\x65\x63"),
    (7, b"\x00\x87\xb5\x05\xb1\x61\xcc\x5a\x93\x84\x9c\x48\xac\xa4"),
    (8, b"\x00\x06\x78\x2d\x74\x65\x73\x74\x06\x68\x32\x73\x70\x65\x63"),
    (9, b"\x00\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4"),
    (10, b"\x10\x0a\x75\x73\x65\x72\x2d\x61\x67\x65\x6e\x74\x06\x68\x32\x73\x70\x65\x63"),
    (11, b"\x10\x87\xb5\x05\xb1\x61\xcc\x5a\x93\x84\x9c\x48\xac\xa4"),
    (12, b"\x10\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4"),   # sic: h2spec sends
    (13, b"\x10\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4"),   # the same bytes
]


def _hpack_rep(conn, n):
    conn.handshake()
    with_rep(conn, dict(HPACK_REPS)[n])
    conn.verify_headers_frame(1)


def test_generic_5_1_indexed_header_field(conn):
    """Sends a indexed header field representation"""
    _hpack_rep(conn, 1)


def test_generic_5_2_literal_incremental_indexed_name(conn):
    """Sends a literal header field with incremental indexing - indexed name"""
    _hpack_rep(conn, 2)


def test_generic_5_3_literal_incremental_indexed_name_huffman(conn):
    """Sends a literal header field with incremental indexing - indexed name
    (with Huffman coding)"""
    _hpack_rep(conn, 3)


def test_generic_5_4_literal_incremental_new_name(conn):
    """Sends a literal header field with incremental indexing - new name"""
    _hpack_rep(conn, 4)


def test_generic_5_5_literal_incremental_new_name_huffman(conn):
    """Sends a literal header field with incremental indexing - new name
    (with Huffman coding)"""
    _hpack_rep(conn, 5)


def test_generic_5_6_literal_without_indexing_indexed_name(conn):
    """Sends a literal header field without indexing - indexed name"""
    _hpack_rep(conn, 6)


def test_generic_5_7_literal_without_indexing_indexed_name_huffman(conn):
    """Sends a literal header field without indexing - indexed name (with
    Huffman coding)"""
    _hpack_rep(conn, 7)


def test_generic_5_8_literal_without_indexing_new_name(conn):
    """Sends a literal header field without indexing - new name"""
    _hpack_rep(conn, 8)


def test_generic_5_9_literal_without_indexing_new_name_huffman(conn):
    """Sends a literal header field without indexing - new name (huffman
    encoded)"""
    _hpack_rep(conn, 9)


def test_generic_5_10_literal_never_indexed_indexed_name(conn):
    """Sends a literal header field never indexed - indexed name"""
    _hpack_rep(conn, 10)


def test_generic_5_11_literal_never_indexed_indexed_name_huffman(conn):
    """Sends a literal header field never indexed - indexed name (huffman
    encoded)"""
    _hpack_rep(conn, 11)


def test_generic_5_12_literal_never_indexed_new_name(conn):
    """Sends a literal header field never indexed - new name"""
    _hpack_rep(conn, 12)


def test_generic_5_13_literal_never_indexed_new_name_huffman(conn):
    """Sends a literal header field never indexed - new name (huffman
    encoded)"""
    _hpack_rep(conn, 13)


def test_generic_5_14_dynamic_table_size_update(conn):
    """Sends a dynamic table size update"""
    conn.handshake()
    conn.set_max_dynamic_table_size(128)
    request(conn)
    conn.verify_headers_frame(1)


def test_generic_5_15_multiple_dynamic_table_size_update(conn):
    """Sends multiple dynamic table size update"""
    conn.handshake()
    with_rep(conn, b"\x3f\x61\x3f\xe1\x1f", before=True)    # 128, then 4096
    conn.verify_headers_frame(1)


# ================================================================================
# http2: Hypertext Transfer Protocol Version 2 (HTTP/2)
# ================================================================================

# -- http2/3.5 HTTP/2 Connection Preface ----------------------------------------------------

def test_http2_3_5_1_client_preface(conn):
    """Sends client connection preface"""
    preface_gets_settings(conn)


def test_http2_3_5_2_invalid_preface(conn):
    """Sends invalid connection preface"""
    conn.send(b"INVALID CONNECTION PREFACE\r\n\r\n", "INVALID CONNECTION PREFACE\\r\\n\\r\\n")
    conn.verify_connection_error(PROTOCOL_ERROR)


# -- http2/4.1 Frame Format ---------------------------------------------------------------------

UNKNOWN_FRAME = b"\x00\x00\x08\x16\x00\x00\x00\x00\x00" + ZERO8    # type 0x16


def test_http2_4_1_1_unknown_frame_type(conn):
    """Sends a frame with unknown type"""
    conn.handshake()
    conn.send(UNKNOWN_FRAME, "UNKNOWN(0x16) Frame (length:8, flags:0x00, stream_id:0)")
    conn.write_ping(False, ZERO8)
    conn.verify_ping_frame_with_ack(ZERO8)


def test_http2_4_1_2_undefined_flag(conn):
    """Sends a frame with undefined flag"""
    conn.handshake()
    conn.send(b"\x00\x00\x08\x06\x16\x00\x00\x00\x00" + ZERO8,
              "PING Frame (length:8, flags:0x16, stream_id:0)")
    conn.verify_event_type(PING)


def test_http2_4_1_3_reserved_bit(conn):
    """Sends a frame with reserved field bit"""
    conn.handshake()
    conn.send(b"\x00\x00\x08\x06\x16\x80\x00\x00\x00" + ZERO8,
              "PING Frame (length:8, flags:0x16, R:1, stream_id:0)")
    conn.verify_event_type(PING)


# -- http2/4.2 Frame Size --------------------------------------------------------------------------

def test_http2_4_2_1_data_2_14_octets(conn):
    """Sends a DATA frame with 2^14 octets in length"""
    conn.handshake()
    request(conn, method="POST", end_stream=False)
    conn.write_data(1, True, b"x" * conn.max_frame_size())
    conn.verify_headers_frame(1)


def test_http2_4_2_2_data_exceeds_max_frame_size(conn):
    """Sends a large size DATA frame that exceeds the SETTINGS_MAX_FRAME_SIZE"""
    conn.handshake()
    request(conn, method="POST", end_stream=False)
    conn.write_data(1, True, b"x" * (conn.max_frame_size() + 1))
    conn.verify_stream_error(FRAME_SIZE_ERROR)


def test_http2_4_2_3_headers_exceeds_max_frame_size(conn):
    """Sends a large size HEADERS frame that exceeds the SETTINGS_MAX_FRAME_SIZE"""
    conn.handshake()
    request(conn, extra=conn.dummy_headers(5))
    conn.verify_connection_error(FRAME_SIZE_ERROR)


# -- http2/4.3 Header Compression and Decompression ---------------------------------------------------

def test_http2_4_3_1_invalid_header_block(conn):
    """Sends invalid header block fragment"""
    conn.handshake()
    conn.send(b"\x00\x00\x01\x01\x05\x00\x00\x00\x01\x40",
              "HEADERS Frame (length:1, flags:0x05, stream_id:1) block=40")
    conn.verify_connection_error(COMPRESSION_ERROR)


def test_http2_4_3_2_priority_during_header_block(conn):
    """Sends a PRIORITY frame while sending the header blocks"""
    conn.handshake()
    request(conn, end_stream=False, end_headers=False)
    conn.write_priority(1, 0, False, 255)
    conn.write_continuation(1, True, dummy_block(conn))
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_4_3_3_headers_other_stream_during_header_block(conn):
    """Sends a HEADERS frame to another stream while sending the header blocks"""
    conn.handshake()
    request(conn, end_stream=False, end_headers=False)
    request(conn, sid=3)
    conn.write_continuation(1, True, dummy_block(conn))
    conn.verify_connection_error(PROTOCOL_ERROR)


# -- http2/5.1 Stream States ------------------------------------------------------------------------

def test_http2_5_1_1_idle_data(conn):
    """idle: Sends a DATA frame"""
    conn.handshake()
    conn.write_data(1, True, b"test")
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_5_1_2_idle_rst_stream(conn):
    """idle: Sends a RST_STREAM frame"""
    conn.handshake()
    conn.write_rst_stream(1, CANCEL)
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_5_1_3_idle_window_update(conn):
    """idle: Sends a WINDOW_UPDATE frame"""
    conn.handshake()
    conn.write_window_update(1, 100)
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_5_1_4_idle_continuation(conn):
    """idle: Sends a CONTINUATION frame"""
    conn.handshake()
    conn.write_continuation(1, True, conn.encode_headers(conn.common_headers()))
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_5_1_5_half_closed_remote_data(conn):
    """half closed (remote): Sends a DATA frame"""
    conn.handshake()
    request(conn)
    conn.write_data(1, True, b"test")
    conn.verify_stream_error(STREAM_CLOSED)


def test_http2_5_1_6_half_closed_remote_headers(conn):
    """half closed (remote): Sends a HEADERS frame"""
    conn.handshake()
    request(conn)
    request(conn)
    conn.verify_stream_error(STREAM_CLOSED)


def test_http2_5_1_7_half_closed_remote_continuation(conn):
    """half closed (remote): Sends a CONTINUATION frame"""
    conn.handshake()
    block = request(conn)
    conn.write_continuation(1, True, block)
    conn.verify_stream_error(STREAM_CLOSED, PROTOCOL_ERROR)


def test_http2_5_1_8_closed_data_after_rst_stream(conn):
    """closed: Sends a DATA frame after sending RST_STREAM frame"""
    conn.handshake()
    request(conn, end_stream=False)
    conn.write_rst_stream(1, CANCEL)
    conn.write_data(1, True, b"test")
    conn.verify_stream_error(STREAM_CLOSED)


def test_http2_5_1_9_closed_headers_after_rst_stream(conn):
    """closed: Sends a HEADERS frame after sending RST_STREAM frame"""
    conn.handshake()
    request(conn, end_stream=False)
    conn.write_rst_stream(1, CANCEL)
    request(conn)
    conn.verify_stream_error(STREAM_CLOSED)


def test_http2_5_1_10_closed_continuation_after_rst_stream(conn):
    """closed: Sends a CONTINUATION frame after sending RST_STREAM frame"""
    conn.handshake()
    request(conn, end_stream=False)
    conn.write_rst_stream(1, CANCEL)
    conn.write_continuation(1, True, dummy_block(conn))
    conn.verify_stream_error(STREAM_CLOSED, PROTOCOL_ERROR)


def test_http2_5_1_11_closed_data(conn):
    """closed: Sends a DATA frame"""
    conn.handshake()
    request(conn)
    conn.verify_stream_close()
    conn.write_data(1, True, b"test")
    conn.verify_stream_error(STREAM_CLOSED)


def test_http2_5_1_12_closed_headers(conn):
    """closed: Sends a HEADERS frame"""
    conn.handshake()
    block = request(conn)
    conn.verify_stream_close()
    conn.write_headers(1, block, end_stream=True, end_headers=True)   # the same frame
    conn.verify_connection_error(STREAM_CLOSED)


def test_http2_5_1_13_closed_continuation(conn):
    """closed: Sends a CONTINUATION frame"""
    conn.handshake()
    request(conn)
    conn.verify_stream_close()
    conn.write_continuation(1, True, dummy_block(conn))
    conn.verify_connection_error(STREAM_CLOSED, PROTOCOL_ERROR)


# -- http2/5.1.1 Stream Identifiers -------------------------------------------------------------------

def test_http2_5_1_1_1_even_stream_id(conn):
    """Sends even-numbered stream identifier"""
    conn.handshake()
    request(conn, sid=2)
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_5_1_1_2_smaller_stream_id(conn):
    """Sends stream identifier that is numerically smaller than previous"""
    conn.handshake()
    request(conn, sid=5)
    request(conn, sid=3)
    conn.verify_connection_error(PROTOCOL_ERROR)


# -- http2/5.1.2 Stream Concurrency -------------------------------------------------------------------

def test_http2_5_1_2_1_exceed_concurrent_stream_limit(conn):
    """Sends HEADERS frames that causes their advertised concurrent stream
    limit to be exceeded"""
    conn.handshake()
    max_streams = conn.settings.get(MAX_CONCURRENT_STREAMS)
    if max_streams is None:
        skip("SETTINGS_MAX_CONCURRENT_STREAMS is unlimited")
    conn.write_settings((INITIAL_WINDOW_SIZE, 0))
    block = conn.encode_headers(conn.common_headers())
    sid = 1
    for _ in range(max_streams + 1):
        conn.write_headers(sid, block, end_stream=True, end_headers=True)
        sid += 2
    conn.verify_stream_error(PROTOCOL_ERROR, REFUSED_STREAM)


# -- http2/5.3.1 Stream Dependencies --------------------------------------------------------------------

def test_http2_5_3_1_1_headers_depends_on_itself(conn):
    """Sends HEADERS frame that depends on itself"""
    conn.handshake()
    request(conn, priority=(1, False, 255))
    conn.verify_stream_error(PROTOCOL_ERROR)


def test_http2_5_3_1_2_priority_depends_on_itself(conn):
    """Sends PRIORITY frame that depend on itself"""
    conn.handshake()
    conn.write_priority(1, 1, False, 255)
    conn.verify_stream_error(PROTOCOL_ERROR)


# -- http2/5.4.1 Connection Error Handling -----------------------------------------------------------------

PING_ON_STREAM_3 = b"\x00\x00\x08\x06\x00\x00\x00\x00\x03" + ZERO8


def test_http2_5_4_1_1_invalid_ping_closes_connection(conn):
    """Sends an invalid PING frame for connection close"""
    conn.handshake()
    conn.send(PING_ON_STREAM_3, "PING Frame (length:8, flags:0x00, stream_id:3)")
    conn.verify_connection_close()


def test_http2_5_4_1_2_invalid_ping_gets_goaway(conn):
    """Sends an invalid PING frame to receive GOAWAY frame (strict)"""
    conn.handshake()
    conn.send(PING_ON_STREAM_3, "PING Frame (length:8, flags:0x00, stream_id:3)")
    actual, passed = conn.wait_event_by_type(GOAWAY)
    if not passed:
        conn.fail(["GOAWAY Frame (Error Code: PROTOCOL_ERROR)"], actual)


# -- http2/5.5 Extending HTTP/2 ---------------------------------------------------------------------------

def test_http2_5_5_1_unknown_extension_frame(conn):
    """Sends an unknown extension frame"""
    conn.handshake()
    conn.send(UNKNOWN_FRAME, "UNKNOWN(0x16) Frame (length:8, flags:0x00, stream_id:0)")
    conn.write_ping(False, ZERO8)
    conn.verify_ping_frame_with_ack(ZERO8)


def test_http2_5_5_2_unknown_extension_frame_in_header_block(conn):
    """Sends an unknown extension frame in the middle of a header block"""
    conn.handshake()
    request(conn, end_headers=False)
    conn.send(UNKNOWN_FRAME, "UNKNOWN(0x16) Frame (length:8, flags:0x00, stream_id:0)")
    conn.verify_connection_error(PROTOCOL_ERROR)


# -- http2/6.1 DATA -----------------------------------------------------------------------------------------

def test_http2_6_1_1_data_stream_0(conn):
    """Sends a DATA frame with 0x0 stream identifier"""
    conn.handshake()
    conn.write_data(0, True, b"test")
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_6_1_2_data_not_open(conn):
    """Sends a DATA frame on the stream that is not in "open" or
    "half-closed (local)" state"""
    conn.handshake()
    request(conn, method="POST")
    conn.write_data(1, True, b"test")
    conn.verify_stream_error(STREAM_CLOSED)


def test_http2_6_1_3_data_invalid_pad_length(conn):
    """Sends a DATA frame with invalid pad length"""
    conn.handshake()
    request(conn, method="POST", extra=[("content-length", "4")], end_stream=False)
    conn.send(b"\x00\x00\x05\x00\x09\x00\x00\x00\x01" + b"\x06\x54\x65\x73\x74",
              "DATA Frame (length:5, flags:0x09, stream_id:1) pad length 6")
    conn.verify_connection_error(PROTOCOL_ERROR)


# -- http2/6.2 HEADERS ----------------------------------------------------------------------------------------

def test_http2_6_2_1_headers_then_priority(conn):
    """Sends a HEADERS frame without the END_HEADERS flag, and a PRIORITY frame"""
    conn.handshake()
    request(conn, end_stream=False, end_headers=False)
    conn.write_priority(1, 0, False, 255)
    conn.write_continuation(1, True, dummy_block(conn))
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_6_2_2_headers_to_another_stream(conn):
    """Sends a HEADERS frame to another stream while sending a HEADERS frame"""
    conn.handshake()
    request(conn, end_stream=False, end_headers=False)
    request(conn, sid=3)
    conn.write_continuation(1, True, dummy_block(conn))
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_6_2_3_headers_stream_0(conn):
    """Sends a HEADERS frame with 0x0 stream identifier"""
    conn.handshake()
    request(conn, sid=0)
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_6_2_4_headers_invalid_pad_length(conn):
    """Sends a HEADERS frame with invalid pad length"""
    conn.handshake()
    block = conn.encode_headers(conn.common_headers())
    head = bytearray(b"\x00\x00\x00\x01\x0d\x00\x00\x00\x01")
    head[2] = len(block) + 1
    conn.send(bytes(head) + bytes([len(block) + 2]) + block,
              "HEADERS Frame (length:%d, flags:0x0d, stream_id:1) pad length %d"
              % (len(block) + 1, len(block) + 2))
    conn.verify_stream_error(PROTOCOL_ERROR)


# -- http2/6.3 PRIORITY -------------------------------------------------------------------------------------------

def test_http2_6_3_1_priority_stream_0(conn):
    """Sends a PRIORITY frame with 0x0 stream identifier"""
    conn.handshake()
    conn.write_priority(0, 0, False, 255)
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_6_3_2_priority_bad_length(conn):
    """Sends a PRIORITY frame with a length other than 5 octets"""
    conn.handshake()
    request(conn)
    conn.send(b"\x00\x00\x04\x02\x00\x00\x00\x00\x01" + b"\x80\x00\x00\x01",
              "PRIORITY Frame (length:4, flags:0x00, stream_id:1)")
    conn.verify_stream_error(FRAME_SIZE_ERROR)


# -- http2/6.4 RST_STREAM -------------------------------------------------------------------------------------------

def test_http2_6_4_1_rst_stream_stream_0(conn):
    """Sends a RST_STREAM frame with 0x0 stream identifier"""
    conn.handshake()
    conn.write_rst_stream(0, CANCEL)
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_6_4_2_rst_stream_idle(conn):
    """Sends a RST_STREAM frame on a idle stream"""
    conn.handshake()
    conn.write_rst_stream(1, CANCEL)
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_6_4_3_rst_stream_bad_length(conn):
    """Sends a RST_STREAM frame with a length other than 4 octets"""
    conn.handshake()
    request(conn)
    conn.send(b"\x00\x00\x03\x03\x00\x00\x00\x00\x01" + b"\x00\x00\x00",
              "RST_STREAM Frame (length:3, flags:0x00, stream_id:1)")
    conn.verify_stream_error(FRAME_SIZE_ERROR)


# -- http2/6.5 SETTINGS -------------------------------------------------------------------------------------------------

def test_http2_6_5_1_settings_ack_with_payload(conn):
    """Sends a SETTINGS frame with ACK flag and payload"""
    conn.handshake()
    conn.send(b"\x00\x00\x01\x04\x01\x00\x00\x00\x00" + b"\x00",
              "SETTINGS Frame (length:1, flags:0x01, stream_id:0)")
    conn.verify_connection_error(FRAME_SIZE_ERROR)


def test_http2_6_5_2_settings_nonzero_stream(conn):
    """Sends a SETTINGS frame with a stream identifier other than 0x0"""
    conn.handshake()
    conn.send(b"\x00\x00\x06\x04\x00\x00\x00\x00\x01" + b"\x00\x03\x00\x00\x00\x64",
              "SETTINGS Frame (length:6, flags:0x00, stream_id:1)")
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_6_5_3_settings_bad_length(conn):
    """Sends a SETTINGS frame with a length other than a multiple of 6 octets"""
    conn.handshake()
    conn.send(b"\x00\x00\x03\x04\x00\x00\x00\x00\x00" + b"\x00\x03\x00",
              "SETTINGS Frame (length:3, flags:0x00, stream_id:0)")
    conn.verify_stream_error(PROTOCOL_ERROR, FRAME_SIZE_ERROR)


# -- http2/6.5.2 Defined SETTINGS Parameters ---------------------------------------------------------------------------------

def test_http2_6_5_2_1_enable_push_invalid(conn):
    """SETTINGS_ENABLE_PUSH (0x2): Sends the value other than 0 or 1"""
    conn.handshake()
    conn.write_settings((ENABLE_PUSH, 2))
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_6_5_2_2_initial_window_size_too_large(conn):
    """SETTINGS_INITIAL_WINDOW_SIZE (0x4): Sends the value above the maximum
    flow control window size"""
    conn.handshake()
    conn.write_settings((INITIAL_WINDOW_SIZE, 2147483648))
    conn.verify_connection_error(FLOW_CONTROL_ERROR)


def test_http2_6_5_2_3_max_frame_size_too_small(conn):
    """SETTINGS_MAX_FRAME_SIZE (0x5): Sends the value below the initial value"""
    conn.handshake()
    conn.write_settings((MAX_FRAME_SIZE, 16383))
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_6_5_2_4_max_frame_size_too_large(conn):
    """SETTINGS_MAX_FRAME_SIZE (0x5): Sends the value above the maximum
    allowed frame size"""
    conn.handshake()
    conn.write_settings((MAX_FRAME_SIZE, 16777216))
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_6_5_2_5_unknown_setting(conn):
    """Sends a SETTINGS frame with unknown identifier"""
    conn.handshake()
    conn.write_settings((0xFF, 1))
    conn.write_ping(False, ZERO8)
    conn.verify_ping_frame_with_ack(ZERO8)


# -- http2/6.5.3 Settings Synchronization ---------------------------------------------------------------------------------------

def test_http2_6_5_3_1_multiple_initial_window_size(conn):
    """Sends multiple values of SETTINGS_INITIAL_WINDOW_SIZE"""
    if conn.server_data_length() < 1:
        skip("the response to GET / has no body")
    conn.handshake()
    conn.write_settings((INITIAL_WINDOW_SIZE, 100), (INITIAL_WINDOW_SIZE, 1))
    conn.verify_settings_frame_with_ack()
    request(conn)
    conn.data_frame_of_length(1, 1)


def test_http2_6_5_3_2_settings_ack(conn):
    """Sends a SETTINGS frame without ACK flag"""
    conn.handshake()
    conn.write_settings((ENABLE_PUSH, 0))
    conn.verify_settings_frame_with_ack()


# -- http2/6.7 PING ---------------------------------------------------------------------------------------------------------------

def test_http2_6_7_1_ping(conn):
    """Sends a PING frame"""
    conn.handshake()
    conn.write_ping(False, H2SPEC8)
    conn.verify_ping_frame_with_ack(H2SPEC8)


def test_http2_6_7_2_ping_with_ack(conn):
    """Sends a PING frame with ACK"""
    conn.handshake()
    conn.write_ping(True, b"invalid\x00")
    conn.write_ping(False, H2SPEC8)
    conn.verify_ping_frame_with_ack(H2SPEC8)


def test_http2_6_7_3_ping_nonzero_stream(conn):
    """Sends a PING frame with a stream identifier field value other than 0x0"""
    conn.handshake()
    conn.send(b"\x00\x00\x08\x06\x00\x00\x00\x00\x01" + ZERO8,
              "PING Frame (length:8, flags:0x00, stream_id:1)")
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_6_7_4_ping_bad_length(conn):
    """Sends a PING frame with a length field value other than 8"""
    conn.handshake()
    conn.send(b"\x00\x00\x06\x06\x00\x00\x00\x00\x00" + bytes(6),
              "PING Frame (length:6, flags:0x00, stream_id:0)")
    conn.verify_connection_error(FRAME_SIZE_ERROR)


# -- http2/6.8 GOAWAY --------------------------------------------------------------------------------------------------------------

def test_http2_6_8_1_goaway_nonzero_stream(conn):
    """Sends a GOAWAY frame with a stream identifier other than 0x0"""
    conn.handshake()
    conn.send(b"\x00\x00\x08\x07\x00\x00\x00\x00\x01" + ZERO8,
              "GOAWAY Frame (length:8, flags:0x00, stream_id:1)")
    conn.verify_connection_error(PROTOCOL_ERROR)


# -- http2/6.9 WINDOW_UPDATE --------------------------------------------------------------------------------------------------------

def test_http2_6_9_1_window_update_increment_0(conn):
    """Sends a WINDOW_UPDATE frame with a flow control window increment of 0"""
    conn.handshake()
    conn.write_window_update(0, 0)
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_6_9_2_window_update_increment_0_on_stream(conn):
    """Sends a WINDOW_UPDATE frame with a flow control window increment of 0
    on a stream"""
    conn.handshake()
    request(conn, end_stream=False)
    conn.write_window_update(1, 0)
    conn.verify_stream_error(PROTOCOL_ERROR)


def test_http2_6_9_3_window_update_bad_length(conn):
    """Sends a WINDOW_UPDATE frame with a length other than 4 octets"""
    conn.handshake()
    conn.send(b"\x00\x00\x03\x08\x00\x00\x00\x00\x00" + b"\x00\x00\x01",
              "WINDOW_UPDATE Frame (length:3, flags:0x00, stream_id:0)")
    conn.verify_connection_error(FRAME_SIZE_ERROR)


# -- http2/6.9.1 The Flow-Control Window ---------------------------------------------------------------------------------------------

def test_http2_6_9_1_1_initial_window_size_1(conn):
    """Sends SETTINGS frame to set the initial window size to 1 and sends
    HEADERS frame"""
    if conn.server_data_length() < 1:
        skip("the response to GET / has no body")
    conn.handshake()
    conn.write_settings((INITIAL_WINDOW_SIZE, 1))
    conn.verify_settings_frame_with_ack()
    request(conn)
    conn.data_frame_of_length(1, 1)


def test_http2_6_9_1_2_connection_window_overflow(conn):
    """Sends multiple WINDOW_UPDATE frames increasing the flow control window
    to above 2^31-1"""
    conn.handshake()
    conn.write_window_update(0, MAX_WINDOW)
    conn.write_window_update(0, MAX_WINDOW)
    actual, passed = conn.wait_event_by_type(GOAWAY)
    if not (passed and actual.error_code == FLOW_CONTROL_ERROR):
        conn.fail(["GOAWAY Frame (Error Code: FLOW_CONTROL_ERROR)"], actual)


def test_http2_6_9_1_3_stream_window_overflow(conn):
    """Sends multiple WINDOW_UPDATE frames increasing the flow control window
    to above 2^31-1 on a stream"""
    conn.handshake()
    request(conn, end_stream=False)
    conn.write_window_update(1, MAX_WINDOW)
    conn.write_window_update(1, MAX_WINDOW)
    actual, passed = conn.wait_event_by_type(RST_STREAM)
    if passed and actual.sid == 1:      # h2spec: a RST_STREAM elsewhere passes
        passed = actual.error_code == FLOW_CONTROL_ERROR
    if not passed:
        conn.fail(["RST_STREAM Frame (Error Code: FLOW_CONTROL_ERROR)"], actual)


# -- http2/6.9.2 Initial Flow-Control Window Size -------------------------------------------------------------------------------------

def test_http2_6_9_2_1_initial_window_size_change(conn):
    """Changes SETTINGS_INITIAL_WINDOW_SIZE after sending HEADERS frame"""
    if conn.server_data_length() < 1:
        skip("the response to GET / has no body")
    conn.handshake()
    conn.write_settings((INITIAL_WINDOW_SIZE, 0))
    conn.verify_settings_frame_with_ack()
    request(conn)
    conn.write_settings((INITIAL_WINDOW_SIZE, 1))
    conn.data_frame_of_length(1, 1)


def test_http2_6_9_2_2_negative_window(conn):
    """Sends a SETTINGS frame for window size to be negative"""
    if conn.server_data_length() < 5:
        skip("the response to GET / has fewer than 5 body bytes")
    conn.handshake()
    conn.write_settings((INITIAL_WINDOW_SIZE, 3))
    conn.verify_settings_frame_with_ack()
    request(conn)
    conn.verify_event_type(DATA)
    conn.write_settings((INITIAL_WINDOW_SIZE, 2))
    conn.verify_settings_frame_with_ack()
    conn.write_window_update(1, 2)
    conn.data_frame_of_length(1, 1)


def test_http2_6_9_2_3_initial_window_size_exceeds_max(conn):
    """Sends a SETTINGS_INITIAL_WINDOW_SIZE settings with an exceeded maximum
    window size value"""
    conn.handshake()
    conn.send(b"\x00\x00\x06\x04\x00\x00\x00\x00\x00" + b"\x00\x04\x80\x00\x00\x00",
              "SETTINGS Frame (length:6, flags:0x00, stream_id:0) "
              "INITIAL_WINDOW_SIZE=2147483648")
    conn.verify_connection_error(FLOW_CONTROL_ERROR)


# -- http2/6.10 CONTINUATION -------------------------------------------------------------------------------------------------------------

def test_http2_6_10_1_multiple_continuation(conn):
    """Sends multiple CONTINUATION frames preceded by a HEADERS frame"""
    conn.handshake()
    request(conn, end_headers=False)
    conn.write_continuation(1, False, dummy_block(conn))
    conn.write_continuation(1, True, dummy_block(conn))
    conn.verify_headers_frame(1)


def test_http2_6_10_2_continuation_then_other_frame(conn):
    """Sends a CONTINUATION frame followed by any frame other than CONTINUATION"""
    conn.handshake()
    request(conn, method="POST", end_stream=False, end_headers=False)
    conn.write_continuation(1, False, dummy_block(conn))
    conn.write_data(1, True, b"test")
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_6_10_3_continuation_stream_0(conn):
    """Sends a CONTINUATION frame with 0x0 stream identifier"""
    conn.handshake()
    request(conn, end_headers=False)
    conn.write_continuation(0, True, dummy_block(conn))
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_6_10_4_continuation_after_end_headers(conn):
    """Sends a CONTINUATION frame preceded by a HEADERS frame with END_HEADERS flag"""
    conn.handshake()
    request(conn)
    conn.write_continuation(1, True, dummy_block(conn))
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_6_10_5_continuation_after_continuation_end_headers(conn):
    """Sends a CONTINUATION frame preceded by a CONTINUATION frame with
    END_HEADERS flag"""
    conn.handshake()
    request(conn, end_headers=False)
    conn.write_continuation(1, True, dummy_block(conn))
    conn.write_continuation(1, True, dummy_block(conn))
    conn.verify_connection_error(PROTOCOL_ERROR)


def test_http2_6_10_6_continuation_after_data(conn):
    """Sends a CONTINUATION frame preceded by a DATA frame"""
    conn.handshake()
    request(conn, method="POST", end_stream=False, end_headers=False)
    conn.write_data(1, True, b"test")
    conn.write_continuation(1, False, dummy_block(conn))
    conn.write_continuation(0, True, dummy_block(conn))
    conn.verify_connection_error(PROTOCOL_ERROR)


# -- http2/7 Error Codes ------------------------------------------------------------------------------------------------------------------

def test_http2_7_1_goaway_unknown_error_code(conn):
    """Sends a GOAWAY frame with unknown error code"""
    conn.handshake()
    conn.write_goaway(0, 0xff)
    conn.write_ping(False, H2SPEC8)
    conn.verify_ping_frame_or_connection_close(H2SPEC8)


def test_http2_7_2_rst_stream_unknown_error_code(conn):
    """Sends a RST_STREAM frame with unknown error code"""
    conn.handshake()
    request(conn, method="POST", end_stream=False)
    conn.write_rst_stream(1, 0xff)
    conn.write_ping(False, ZERO8)
    conn.verify_ping_frame_with_ack(ZERO8)


# -- http2/8.1 HTTP Request/Response Exchange -------------------------------------------------------------------------------------------------

def test_http2_8_1_1_second_headers_without_end_stream(conn):
    """Sends a second HEADERS frame without the END_STREAM flag"""
    conn.handshake()
    request(conn, method="POST", end_stream=False)
    conn.write_data(1, False, b"test")
    conn.write_headers(1, conn.encode_headers([("x-test", "ok")]),
                       end_stream=False, end_headers=True)
    conn.verify_stream_error(PROTOCOL_ERROR)


# -- http2/8.1.2 HTTP Header Fields ----------------------------------------------------------------------------------------------------------

def test_http2_8_1_2_1_uppercase_header_name(conn):
    """Sends a HEADERS frame that contains the header field name in uppercase
    letters"""
    conn.handshake()
    request(conn, extra=[("X-TEST", "ok")])
    conn.verify_stream_error(PROTOCOL_ERROR)


# -- http2/8.1.2.1 Pseudo-Header Fields ---------------------------------------------------------------------------------------------------------

def test_http2_8_1_2_1_1_unknown_pseudo_header(conn):
    """Sends a HEADERS frame that contains a unknown pseudo-header field"""
    conn.handshake()
    request(conn, extra=[(":test", "ok")])
    conn.verify_stream_error(PROTOCOL_ERROR)


def test_http2_8_1_2_1_2_response_pseudo_header(conn):
    """Sends a HEADERS frame that contains the pseudo-header field defined for
    response"""
    conn.handshake()
    request(conn, extra=[(":status", "200")])
    conn.verify_stream_error(PROTOCOL_ERROR)


def test_http2_8_1_2_1_3_pseudo_header_in_trailers(conn):
    """Sends a HEADERS frame that contains a pseudo-header field as trailers"""
    conn.handshake()
    request(conn, method="POST", end_stream=False)
    conn.write_data(1, False, b"test")
    conn.write_headers(1, conn.encode_headers([(":method", "POST")]),
                       end_stream=False, end_headers=True)
    conn.verify_stream_error(PROTOCOL_ERROR)


def test_http2_8_1_2_1_4_pseudo_header_after_regular(conn):
    """Sends a HEADERS frame that contains a pseudo-header field that appears
    in a header block after a regular header field"""
    conn.handshake()
    block = conn.encode_headers([("x-test", "ok")] + conn.common_headers())
    conn.write_headers(1, block, end_stream=True, end_headers=True)
    conn.verify_stream_error(PROTOCOL_ERROR)


# -- http2/8.1.2.2 Connection-Specific Header Fields ---------------------------------------------------------------------------------------------

def test_http2_8_1_2_2_1_connection_specific_header(conn):
    """Sends a HEADERS frame that contains the connection-specific header field"""
    conn.handshake()
    request(conn, extra=[("connection", "keep-alive")])
    conn.verify_stream_error(PROTOCOL_ERROR)


def test_http2_8_1_2_2_2_te_not_trailers(conn):
    """Sends a HEADERS frame that contains the TE header field with any value
    other than "trailers\""""
    conn.handshake()
    request(conn, extra=[("trailers", "test"), ("te", "trailers, deflate")])
    conn.verify_stream_error(PROTOCOL_ERROR)


# -- http2/8.1.2.3 Request Pseudo-Header Fields ----------------------------------------------------------------------------------------------------

def _pseudo(conn, fields):
    conn.handshake()
    conn.write_headers(1, conn.encode_headers(fields), end_stream=True, end_headers=True)
    conn.verify_stream_error(PROTOCOL_ERROR)


def test_http2_8_1_2_3_1_empty_path(conn):
    """Sends a HEADERS frame with empty ":path" pseudo-header field"""
    h = conn.common_headers()
    h[2] = (":path", "")
    _pseudo(conn, h)


def test_http2_8_1_2_3_2_omit_method(conn):
    """Sends a HEADERS frame that omits ":method" pseudo-header field"""
    h = conn.common_headers()
    # sic: h2spec encodes headers[1:] of [:scheme, :path, :authority], so
    # :scheme goes missing as well.
    _pseudo(conn, [h[2], h[3]])


def test_http2_8_1_2_3_3_omit_scheme(conn):
    """Sends a HEADERS frame that omits ":scheme" pseudo-header field"""
    h = conn.common_headers()
    _pseudo(conn, [h[0], h[2], h[3]])


def test_http2_8_1_2_3_4_omit_path(conn):
    """Sends a HEADERS frame that omits ":path" pseudo-header field"""
    h = conn.common_headers()
    _pseudo(conn, [h[0], h[1], h[3]])


def test_http2_8_1_2_3_5_duplicated_method(conn):
    """Sends a HEADERS frame with duplicated ":method" pseudo-header field"""
    h = conn.common_headers()
    _pseudo(conn, h + [(":method", h[0][1])])


def test_http2_8_1_2_3_6_duplicated_scheme(conn):
    """Sends a HEADERS frame with duplicated ":scheme" pseudo-header field"""
    h = conn.common_headers()
    _pseudo(conn, h + [(":scheme", h[1][1])])


def test_http2_8_1_2_3_7_duplicated_path(conn):
    """Sends a HEADERS frame with duplicated ":path" pseudo-header field"""
    h = conn.common_headers()
    _pseudo(conn, h + [(":path", h[2][1])])


# -- http2/8.1.2.6 Malformed Requests and Responses ---------------------------------------------------------------------------------------------------

def test_http2_8_1_2_6_1_content_length_mismatch(conn):
    """Sends a HEADERS frame with the "content-length" header field which does
    not equal the DATA frame payload length"""
    conn.handshake()
    request(conn, method="POST", extra=[("content-length", "1")], end_stream=False)
    conn.write_data(1, True, b"test")
    conn.verify_stream_error(PROTOCOL_ERROR)


def test_http2_8_1_2_6_2_content_length_mismatch_multiple_data(conn):
    """Sends a HEADERS frame with the "content-length" header field which does
    not equal the sum of the multiple DATA frames payload length"""
    conn.handshake()
    request(conn, method="POST", extra=[("content-length", "1")], end_stream=False)
    conn.write_data(1, False, b"test")
    conn.write_data(1, True, b"test")
    conn.verify_stream_error(PROTOCOL_ERROR)


# -- http2/8.2 Server Push ------------------------------------------------------------------------------------------------------------------------------

def test_http2_8_2_1_push_promise(conn):
    """Sends a PUSH_PROMISE frame"""
    conn.handshake()
    conn.write_push_promise(1, 3, conn.encode_headers(conn.common_headers()))
    conn.verify_connection_error(PROTOCOL_ERROR)


# ================================================================================
# hpack: HPACK: Header Compression for HTTP/2
# ================================================================================

# -- hpack/2.3.3 Index Address Space ---------------------------------------------------------------------------------------------------------------------

def test_hpack_2_3_3_1_indexed_invalid_index(conn):
    """Sends a indexed header field representation with invalid index"""
    conn.handshake()
    with_rep(conn, b"\xc6")                  # index 70
    conn.verify_connection_error(COMPRESSION_ERROR)


def test_hpack_2_3_3_2_literal_invalid_index(conn):
    """Sends a literal header field representation with invalid index"""
    conn.handshake()
    with_rep(conn, b"\x7f\x07\x00")          # incremental indexing, name index 70
    conn.verify_connection_error(COMPRESSION_ERROR)


# -- hpack/4.2 Maximum Table Size ---------------------------------------------------------------------------------------------------------------------------

def test_hpack_4_2_1_table_size_update_at_end(conn):
    """Sends a dynamic table size update at the end of header block"""
    conn.handshake()
    with_rep(conn, b"\x21")
    conn.verify_connection_error(COMPRESSION_ERROR)


# -- hpack/5.2 String Literal Representation ------------------------------------------------------------------------------------------------------------------

def test_hpack_5_2_1_huffman_padding_longer_than_7_bits(conn):
    """Sends a Huffman-encoded string literal representation with padding
    longer than 7 bits"""
    conn.handshake()
    with_rep(conn, b"\x00\x85\xf2\xb2\x4a\x84\xff\x84\x49\x50\x9f\xff")
    conn.verify_connection_error(COMPRESSION_ERROR)


def test_hpack_5_2_2_huffman_padded_by_zero(conn):
    """Sends a Huffman-encoded string literal representation padded by zero"""
    conn.handshake()
    with_rep(conn, b"\x00\x85\xf2\xb2\x4a\x84\xff\x83\x49\x50\x90")
    conn.verify_connection_error(COMPRESSION_ERROR)


def test_hpack_5_2_3_huffman_eos(conn):
    """Sends a Huffman-encoded string literal representation containing the
    EOS symbol"""
    conn.handshake()
    with_rep(conn, b"\x00\x85\xf2\xb2\x4a\x84\xff\x87\x49\x51\xff\xff\xff\xfa\x7f")
    conn.verify_connection_error(COMPRESSION_ERROR)


# -- hpack/6.1 Indexed Header Field Representation -------------------------------------------------------------------------------------------------------------

def test_hpack_6_1_1_indexed_index_0(conn):
    """Sends a indexed header field representation with index 0"""
    conn.handshake()
    with_rep(conn, b"\x80")
    conn.verify_connection_error(COMPRESSION_ERROR)


# -- hpack/6.3 Dynamic Table Size Update ----------------------------------------------------------------------------------------------------------------------

def test_hpack_6_3_1_table_size_update_too_large(conn):
    """Sends a dynamic table size update larger than the value of
    SETTINGS_HEADER_TABLE_SIZE"""
    conn.handshake()
    size = conn.settings.get(HEADER_TABLE_SIZE, 4096) + 1
    rep = bytearray()
    k = (1 << 5) - 1
    if size < k:
        rep.append(size)
    else:
        rep.append(k)
        size -= k
        while size >= 128:
            rep.append(0x80 | (size & 0x7f))
            size >>= 7
        rep.append(size)
    rep[0] |= 0x20
    with_rep(conn, bytes(rep), before=True)
    conn.verify_connection_error(COMPRESSION_ERROR)


def test_case_count():
    """The module holds every h2spec case: 44 generic, 95 http2 (one of them
    strict), 8 hpack."""
    names = [n for n in globals() if n.startswith("test_")]
    count = {k: len([n for n in names if n.startswith("test_%s_" % k)])
             for k in ("generic", "http2", "hpack")}
    assert count == {"generic": 44, "http2": 95, "hpack": 8}, count
