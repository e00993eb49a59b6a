/* HTTP/2 server connections with nghttp2 (RFC 9113, RFC 7541).
 *
 * nghttp2 owns framing, HPACK and flow control; this file maps streams onto
 * the shared request abstraction.  Responses are pulled through nghttp2
 * data providers, so a body is read only as the peer's window opens.
 * Request bodies are buffered per stream up to the window we advertise and
 * the window is reopened only as the handler reads: backpressure reaches
 * the client.  The session's I/O, output buffering and body buffers are
 * session.c's, shared with the proxy's HTTP/2 client; this file adds the
 * server's part: streams as requests, and the abuse limits. */
#include "h2/h2.h"
#include "h2/session.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/config.h"
#include "gateway/http.h"
#include "gateway/proto.h"
#include "gateway/conn.h"
#include "gateway/fmt.h"
#include "gateway/httpdate.h"
#include "gateway/log.h"
#include "gateway/request.h"
#include "gateway/stats.h"
#include "gateway/urlpath.h"
#include "gateway/worker.h"

#define RST_GRACE 0.5 /* seconds an early-answered upload may go on */
#define CONN_WINDOW (1 << 20)     /* connection-level receive window */

/* Token buckets against floods of frames that cost us work but no stream. */
struct bucket {
    double tokens, ts;
};

/* WINDOW_UPDATE is not limited: a client reading a large body sends one
 * per DATA frame it takes, so its rate follows what we send. */
enum { B_SETTINGS, B_PING, B_PRIORITY, B_EMPTY_DATA, B_RESET, B_HEADER_ABUSE, B_COUNT };

static const struct {
    const char *what;
    double burst, rate; /* tokens, tokens per second */
} limits[B_COUNT] = {
    [B_SETTINGS] = {"SETTINGS flood", 64, 10},
    [B_PING] = {"PING flood", 64, 10},
    [B_PRIORITY] = {"PRIORITY flood", 512, 100},
    [B_EMPTY_DATA] = {"empty DATA flood", 128, 20},
    /* CVE-2023-44487: streams opened and cancelled faster than served. */
    [B_RESET] = {"rapid stream resets", 100, 33},
    [B_HEADER_ABUSE] = {"repeated oversized header lists", 8, 1},
};

struct pt_h2_stream {
    int32_t id;
    struct pt_h2 *h2;
    struct pt_req *req;
    struct pt_h2_stream *prev, *next;
    size_t header_bytes;
    size_t cap_hdrs;
    const char *method, *path, *authority, *scheme, *protocol;
    size_t method_len, path_len, authority_len;
    struct pt_h2_buf body;  /* request body received, not yet read */
    bool body_eof;          /* END_STREAM seen */
    bool body_wanted;       /* a handler asked and got PT_BODY_AGAIN */
    bool body_ready;        /* fire on_body_ready after this read event */
    bool dispatched;
    bool discard;           /* nobody reads the body: consume as it comes */
    bool deferred;          /* data provider waits for the body source */
    bool response_done;
    bool too_large;         /* header list over max-header-size: 431 */
    bool malformed;         /* nghttp2 reset it for a malformed head (logged) */
    bool rst_pending;       /* answered, body unfinished: reset if it stays so */
    double shut_since;      /* its response waits on a shut window since (0: not) */
};

struct pt_h2 {
    struct pt_h2_io io;      /* the session over the transport (session.h) */
    struct pt_h2_stream *streams;
    size_t n_streams;
    struct bucket buckets[B_COUNT];
    int32_t max_sid;         /* highest stream the client opened */
    uint64_t opened[8];      /* which of the 512 client stream ids below
                                max_sid were opened (bit (id/2) % 512) */
    int32_t reset_by_us[32]; /* streams we reset: frames in flight on them
                                are not the client's fault */
    unsigned n_reset;
    ev_timer rst_timer;      /* see on_frame_send */
    int keepalive_secs; /* of the first vhost a request went to (0: the default's) */
};

static void h2_respond(struct pt_req *r);
static void h2_resume(struct pt_req *r);
static ssize_t h2_body_read(struct pt_req *r, char *buf, size_t len);
static void h2_interim(struct pt_req *r, int status, const struct pt_hdr *hdrs, size_t n);
static void h2_abort(struct pt_req *r);
static const struct pt_proto h2_proto = {"HTTP/2", h2_respond, h2_resume, h2_body_read,
                                         h2_interim, h2_abort};

static bool h2_flush(struct pt_h2 *h2)
{
    return pt_h2_io_flush(&h2->io);
}

static void schedule_flush(struct pt_h2 *h2)
{
    pt_h2_io_schedule_flush(&h2->io);
}

/* ---- abuse ------------------------------------------------------------ */

static void peer(struct pt_h2 *h2, char *ip, size_t cap, uint16_t *port)
{
    pt_conn_peer(h2->io.c, ip, cap, port);
}

/* A connection error: GOAWAY with code, then close once it is out. */
static void conn_error(struct pt_h2 *h2, const char *what, uint32_t code)
{
    if (h2->io.closing)
        return;
    char ip[46];
    uint16_t port;
    peer(h2, ip, sizeof(ip), &port);
    if (code == NGHTTP2_ENHANCE_YOUR_CALM)
        pt_warn_rl("%s:%u: HTTP/2 %s: sending GOAWAY (%s) and closing", ip, port, what,
                nghttp2_http2_strerror(code));
    else
        pt_info_rl("%s:%u: HTTP/2 %s: sending GOAWAY (%s) and closing", ip, port, what,
                nghttp2_http2_strerror(code));
    h2->io.closing = true;
    nghttp2_session_terminate_session(h2->io.session, code);
}

/* Takes a token; false (and GOAWAY) when the bucket is empty. */
static bool take(struct pt_h2 *h2, int kind)
{
    struct bucket *b = &h2->buckets[kind];
    double now = ev_now(h2->io.c->w->loop);
    b->tokens += (now - b->ts) * limits[kind].rate;
    if (b->tokens > limits[kind].burst)
        b->tokens = limits[kind].burst;
    b->ts = now;
    if (b->tokens >= 1) {
        b->tokens -= 1;
        return true;
    }
    conn_error(h2, limits[kind].what, NGHTTP2_ENHANCE_YOUR_CALM);
    return false;
}

/* ---- streams ---------------------------------------------------------- */

static struct pt_h2_stream *stream_new(struct pt_h2 *h2, int32_t id)
{
    struct pt_conn *c = h2->io.c;
    struct pt_pool *pool = pt_pool_new(PT_POOL_STD);
    struct pt_h2_stream *s = pt_pool_calloc(pool, sizeof(*s));
    struct pt_req *r = pt_pool_calloc(pool, sizeof(*r));
    s->id = id;
    s->h2 = h2;
    s->req = r;
    pt_conn_init_req(c, r, pool, &h2_proto, s, 20);
    s->next = h2->streams;
    if (h2->streams)
        h2->streams->prev = s;
    h2->streams = s;
    h2->n_streams++;
    return s;
}

static void stream_free(struct pt_h2 *h2, struct pt_h2_stream *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        h2->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    h2->n_streams--;
    struct pt_req *r = s->req;
    /* Bytes held for a reader count against the connection window until
     * consumed: give them back, or each such stream shrinks it for good. */
    pt_h2_buf_free(&h2->io, &s->body);
    if (h2->keepalive_secs == 0 && r->vhost)
        h2->keepalive_secs = r->vhost->keepalive_timeout;
    if (s->malformed && !s->dispatched) {
        /* Logged as HTTP/1 would answer it, with what it sent. */
        r->vhost = pt_req_default_vhost(r);
        r->method_str = s->method;
        r->method_len = s->method_len;
        r->target = s->path;
        r->target_len = s->path_len;
        r->status = 400;
    }
    pt_req_finish(r);
    pt_pool_free(r->pool); /* s lives in the pool too */
}

/* ---- requests --------------------------------------------------------- */


static void dispatch(struct pt_h2 *h2, struct pt_h2_stream *s)
{
    struct pt_req *r = s->req;
    s->dispatched = true;
    r->method_str = s->method;
    r->method_len = s->method_len;
    r->method = pt_method_from(s->method, s->method_len);
    r->target = s->path; /* before any refusal, for the log */
    r->target_len = s->path_len;
    r->has_body = !s->body_eof;
    if (s->authority)
        pt_req_set_authority(r, s->authority, s->authority_len);
    else {
        size_t hl;
        const char *host = pt_req_header(r, "host", &hl);
        if (host)
            pt_req_set_authority(r, host, hl);
    }
    const char *cl = pt_req_header(r, "content-length", NULL);
    if (cl)
        r->content_length = strtoll(cl, NULL, 10); /* nghttp2 checked it */
    if (s->too_large) {
        r->vhost = pt_req_default_vhost(r);
        pt_respond_error(r, 431, "header list too large");
        return;
    }
    if (r->method == PT_M_CONNECT && s->protocol && s->path) {
        /* Extended CONNECT (RFC 8441, "websocket"): the stream is the
         * tunnel; a handler that supports it answers 200 and streams both
         * ways (the proxy), others refuse the method. */
        r->upgrade = true;
        r->upgrade_proto = s->protocol;
    } else if (r->method == PT_M_CONNECT || !s->path) {
        r->vhost = pt_req_default_vhost(r);
        pt_respond_error(r, 501, "CONNECT is not supported");
        return;
    }
    if (s->path_len == 1 && s->path[0] == '*') {
        r->path = "*";
        r->path_len = 1;
        r->vhost = pt_req_default_vhost(r);
        if (r->method == PT_M_OPTIONS) {
            pt_resp_header(r, "Allow", "GET, HEAD, OPTIONS");
            pt_respond(r, 204, 0, NULL, NULL);
        } else {
            pt_respond_error(r, 400, "asterisk-form target");
        }
        return;
    }
    const char *qm = memchr(s->path, '?', s->path_len);
    size_t plen = qm ? (size_t)(qm - s->path) : s->path_len;
    if (qm) {
        r->query = qm + 1;
        r->query_len = s->path_len - plen - 1;
    }
    char *path = pt_pool_alloc(r->pool, plen + 1);
    long n = s->path[0] == '/' ? pt_path_normalize(s->path, plen, path) : -1;
    if (n < 0) {
        r->vhost = pt_req_default_vhost(r);
        pt_info_rl("%s:%u: 400 Bad Request: invalid :path (HTTP/2 stream %d)", r->peer_ip,
                r->peer_port, s->id);
        pt_respond_error(r, 400, "invalid :path");
        return;
    }
    r->path = path;
    r->path_len = (size_t)n;
    pt_dispatch(r);
}

/* ---- nghttp2 callbacks ------------------------------------------------ */

static void set_bit(uint64_t *bits, int32_t id, bool on)
{
    unsigned i = ((uint32_t)id >> 1) & 511;
    if (on)
        bits[i >> 6] |= 1ull << (i & 63);
    else
        bits[i >> 6] &= ~(1ull << (i & 63));
}

/* Client stream ids only grow; ids skipped on the way were never opened. */
static void mark_opened(struct pt_h2 *h2, int32_t id)
{
    if (id <= h2->max_sid)
        return;
    for (int32_t k = h2->max_sid + 2, n = 0; k < id && n < 512; k += 2, n++)
        set_bit(h2->opened, k, false);
    set_bit(h2->opened, id, true);
    h2->max_sid = id;
}

static bool was_opened(const struct pt_h2 *h2, int32_t id)
{
    if (h2->max_sid - id >= 1024)
        return true; /* too old to remember: assume so */
    unsigned i = ((uint32_t)id >> 1) & 511;
    return h2->opened[i >> 6] >> (i & 63) & 1;
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    struct pt_h2 *h2 = ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct pt_h2_stream *s = stream_new(h2, frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, s);
    mark_opened(h2, frame->hd.stream_id);
    return 0;
}

static bool we_reset(const struct pt_h2 *h2, int32_t id)
{
    unsigned n = h2->n_reset < 32 ? h2->n_reset : 32;
    for (unsigned i = 0; i < n; i++)
        if (h2->reset_by_us[i] == id)
            return true;
    return false;
}

/* Frames on streams the client opened before and that are closed now:
 * nghttp2 keeps no state for them and quietly ignores what comes, where
 * RFC 9113 5.1 wants a connection error, unless we reset the stream
 * ourselves and the client's frames crossed our RST_STREAM.  Checked on
 * each frame header before nghttp2 sees it (pt_h2_io_feed()). */
static void check_frame(struct pt_h2 *h2, uint8_t type, int32_t id)
{
    if (id <= 0 || !(id & 1) || id > h2->max_sid)
        return; /* connection frames, idle and server streams: nghttp2 */
    if (type != NGHTTP2_HEADERS && type != NGHTTP2_DATA)
        return; /* PRIORITY, WINDOW_UPDATE, RST_STREAM may cross a close */
    if (nghttp2_session_find_stream(h2->io.session, id) || we_reset(h2, id))
        return;
    if (!was_opened(h2, id)) /* 5.1.1: ids must grow */
        conn_error(h2, "stream id lower than one already used", NGHTTP2_PROTOCOL_ERROR);
    else if (type == NGHTTP2_HEADERS)
        conn_error(h2, "HEADERS on a closed stream", NGHTTP2_STREAM_CLOSED);
    else
        conn_error(h2, "DATA on a closed stream", NGHTTP2_STREAM_CLOSED);
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame,
                     const uint8_t *name, size_t namelen, const uint8_t *value,
                     size_t valuelen, uint8_t flags, void *ud)
{
    struct pt_h2 *h2 = ud;
    (void)flags;
    struct pt_h2_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s)
        return 0;
    /* RFC 9113 6.5.2: 32 bytes of overhead per field.  A decoded list over
     * our advertised limit is an HPACK bomb or a careless client. */
    size_t limit = (size_t)h2->io.c->conf->g.max_header_size;
    s->header_bytes += namelen + valuelen + 32;
    if (s->dispatched) {
        /* Trailers (nghttp2 allows them only after the head, with
         * END_STREAM): kept for a handler that passes them on, within the
         * same limit as the head (beyond it they are dropped). */
        struct pt_req *r = s->req;
        if (s->header_bytes > 2 * limit || namelen == 0 || name[0] == ':')
            return 0;
        struct pt_hdr *t = pt_hdr_push(r->pool, &r->req_trailers, &r->n_req_trailers,
                                       &r->cap_req_trailers);
        t->name = pt_pool_strndup(r->pool, (const char *)name, namelen);
        t->name_len = namelen;
        t->value = pt_pool_strndup(r->pool, (const char *)value, valuelen);
        t->value_len = valuelen;
        return 0;
    }
    if (s->header_bytes > limit) {
        /* Far past the limit we advertised is an HPACK bomb (a few bytes
         * of references that decode to megabytes): the connection goes.
         * Just past it is a careless client: 431 for this request. */
        if (s->header_bytes > 4 * limit) {
            conn_error(h2, "HPACK bomb (decoded header list far over the limit)",
                       NGHTTP2_ENHANCE_YOUR_CALM);
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
        if (!s->too_large) {
            char ip[46];
            uint16_t port;
            peer(h2, ip, sizeof(ip), &port);
            pt_info_rl("%s:%u: HTTP/2 stream %d: header list over %zu bytes", ip, port,
                    s->id, limit);
            s->too_large = true;
            take(h2, B_HEADER_ABUSE); /* repeatedly: GOAWAY */
        }
        return 0;
    }
    struct pt_req *r = s->req;
    char *n = pt_pool_strndup(r->pool, (const char *)name, namelen);
    char *v = pt_pool_strndup(r->pool, (const char *)value, valuelen);
    if (namelen && name[0] == ':') {
        if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
            s->method = v;
            s->method_len = valuelen;
        } else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
            s->path = v;
            s->path_len = valuelen;
        } else if (namelen == 10 && memcmp(name, ":authority", 10) == 0) {
            s->authority = v;
            s->authority_len = valuelen;
        } else if (namelen == 7 && memcmp(name, ":scheme", 7) == 0) {
            s->scheme = v;
        } else if (namelen == 9 && memcmp(name, ":protocol", 9) == 0) {
            s->protocol = v; /* RFC 8441 extended CONNECT */
        }
        return 0;
    }
    struct pt_hdr *h = pt_hdr_push(r->pool, &r->hdrs, &r->n_hdrs, &s->cap_hdrs);
    h->name = n;
    h->name_len = namelen;
    h->value = v;
    h->value_len = valuelen;
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    struct pt_h2 *h2 = ud;
    int32_t id = frame->hd.stream_id;
    struct pt_h2_stream *s = id ? nghttp2_session_get_stream_user_data(session, id) : NULL;
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        if (!s)
            break;
        if (end) {
            s->body_eof = true;
            if (s->body_wanted)
                s->body_ready = true;
        }
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST && !s->dispatched && !h2->io.closing)
            dispatch(h2, s);
        break;
    case NGHTTP2_DATA:
        if (frame->hd.length == 0 && !end && !take(h2, B_EMPTY_DATA))
            break;
        if (s && end) {
            s->body_eof = true;
            if (s->body_wanted)
                s->body_ready = true;
        }
        break;
    case NGHTTP2_SETTINGS:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK))
            take(h2, B_SETTINGS);
        break;
    case NGHTTP2_PING:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK))
            take(h2, B_PING);
        break;
    case NGHTTP2_PRIORITY:
        take(h2, B_PRIORITY);
        break;
    case NGHTTP2_RST_STREAM:
        take(h2, B_RESET);
        break;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t id,
                         const uint8_t *data, size_t len, void *ud)
{
    struct pt_h2 *h2 = ud;
    (void)flags;
    struct pt_h2_stream *s = nghttp2_session_get_stream_user_data(session, id);
    if (!s || s->discard || (s->req->responded && !s->req->body_taken) || h2->io.closing) {
        /* Nobody will read it: reopen the window at once. */
        nghttp2_session_consume(session, id, len);
        return 0;
    }
    /* Held until the handler reads; the window we advertise bounds it. */
    if (pt_h2_buf_append(&s->body, data, len) < 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (s->body_wanted)
        s->body_ready = true;
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t id, uint32_t code, void *ud)
{
    struct pt_h2 *h2 = ud;
    (void)code;
    struct pt_h2_stream *s = nghttp2_session_get_stream_user_data(session, id);
    if (!s)
        return 0;
    nghttp2_session_set_stream_user_data(session, id, NULL);
    stream_free(h2, s);
    return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    struct pt_h2 *h2 = ud;
    struct pt_h2_stream *s;
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
        h2->reset_by_us[h2->n_reset++ % 32] = frame->hd.stream_id;
        /* A reset the client made us send (a broken content-length, a
         * window overflow, too many streams, an upload it kept sending
         * after our answer) costs it as much as its own (CVE-2025-8671,
         * "MadeYouReset"); only our own failures (INTERNAL_ERROR) do not. */
        if (frame->rst_stream.error_code != NGHTTP2_INTERNAL_ERROR && !h2->io.closing)
            take(h2, B_RESET);
        return 0;
    }
    if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    if (frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s)
        return 0;
    /* A client still sending its body keeps the stream half-closed for a
     * moment: the body is consumed and dropped, and nghttp2 goes on
     * checking what arrives (content-length, trailers, flow control).  Then
     * RST_STREAM(NO_ERROR) tells it to stop (RFC 9113 8.1): some clients
     * stop uploading once the response is complete and wait for that. */
    s->response_done = true;
    if (!s->body_eof) {
        /* Whoever read the body is done with it too: drop what is held and
         * what still comes. */
        s->discard = true;
        pt_h2_buf_drop(&h2->io, s->id, &s->body);
        s->rst_pending = true;
        if (!ev_is_active(&h2->rst_timer)) {
            /* A one-shot timer that has run must be set again, or it
             * fires at once. */
            ev_timer_set(&h2->rst_timer, RST_GRACE, 0.);
            ev_timer_start(h2->io.c->w->loop, &h2->rst_timer);
        }
    }
    return 0;
}

static int on_invalid_frame(nghttp2_session *session, const nghttp2_frame *frame,
                            int lib_error_code, void *ud)
{
    struct pt_h2 *h2 = ud;
    char ip[46];
    uint16_t port;
    peer(h2, ip, sizeof(ip), &port);
    pt_info_rl("%s:%u: HTTP/2 invalid %u frame on stream %d: %s", ip, port,
            frame->hd.type, frame->hd.stream_id, nghttp2_strerror(lib_error_code));
    struct pt_h2_stream *s = frame->hd.type == NGHTTP2_HEADERS
        ? nghttp2_session_get_stream_user_data(session, frame->hd.stream_id) : NULL;
    if (s)
        s->malformed = true;
    return 0;
}

/* ---- responses -------------------------------------------------------- */

/* The response's trailer fields as the stream's last HEADERS frame. */
static int submit_trailers(nghttp2_session *session, int32_t id, struct pt_req *r)
{
    nghttp2_nv *nva = pt_pool_alloc(r->pool, r->n_resp_trailers * sizeof(*nva));
    for (size_t i = 0; i < r->n_resp_trailers; i++) {
        const struct pt_hdr *h = &r->resp_trailers[i];
        char *lower = pt_h2_lower(r->pool, h->name, h->name_len);
        nghttp2_nv v = {(uint8_t *)lower, (uint8_t *)h->value, h->name_len, h->value_len,
                        NGHTTP2_NV_FLAG_NONE};
        nva[i] = v;
    }
    int rv = nghttp2_submit_trailer(session, id, nva, r->n_resp_trailers);
    if (rv != 0)
        pt_warn("HTTP/2 stream %d: trailers not sent: %s", id, nghttp2_strerror(rv));
    return rv;
}

static ssize_t data_read(nghttp2_session *session, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *ud)
{
    (void)session;
    (void)id;
    (void)ud;
    struct pt_h2_stream *s = source->ptr;
    struct pt_req *r = s->req;
    if (r->resp_length >= 0 && (uint64_t)r->resp_length - r->bytes_sent < length)
        length = (size_t)((uint64_t)r->resp_length - r->bytes_sent);
    char *room = length ? pt_h2_io_data_room(&s->h2->io, length) : NULL;
    ssize_t n = length ? r->body->read(r, room ? room : (char *)buf, length) : 0;
    if (n == PT_BODY_AGAIN) {
        s->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (n < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM */
    if (n == 0 && pt_http_body_short(r))
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* never pass as complete */
    if (room && n > 0)
        *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY; /* send_data() frames it */
    r->bytes_sent += (uint64_t)n;
    if (n == 0 || (r->resp_length >= 0 && r->bytes_sent >= (uint64_t)r->resp_length)) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        if (r->n_resp_trailers && submit_trailers(session, id, r) == 0)
            *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM; /* they end it */
    }
    return n;
}

/* The DATA frame whose payload data_read() put in the output buffer. */
static int send_data(nghttp2_session *session, nghttp2_frame *frame, const uint8_t *framehd,
                     size_t length, nghttp2_data_source *source, void *ud)
{
    (void)session;
    (void)source;
    struct pt_h2 *h2 = ud;
    if (frame->data.padlen)
        return NGHTTP2_ERR_CALLBACK_FAILURE; /* we never pad */
    pt_h2_io_data_sent(&h2->io, framehd, length);
    return 0;
}

static nghttp2_nv nv(const char *name, size_t nlen, const char *value, size_t vlen)
{
    nghttp2_nv v = {(uint8_t *)name, (uint8_t *)value, nlen, vlen,
                    NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
    return v;
}

static void h2_respond(struct pt_req *r)
{
    struct pt_h2_stream *s = r->proto_ctx;
    struct pt_h2 *h2 = s->h2;
    struct pt_pool *p = r->pool;
    nghttp2_nv *nva = pt_pool_alloc(p, (r->n_resp_hdrs + 5) * sizeof(*nva));
    size_t n = 0;
    char *status = pt_pool_alloc(p, 20);
    nva[n++] = nv(":status", 7, status, pt_fmt_u64(status, (uint64_t)r->status));
    if (!r->body && r->resp_length < 0)
        r->resp_length = 0;
    struct pt_std_fields *std = pt_pool_alloc(p, sizeof(*std));
    pt_http_std_fields(r, std);
    if (std->server_len)
        nva[n++] = nv("server", 6, std->server, std->server_len);
    char *date = pt_pool_strndup(p, std->date, PT_HTTPDATE_LEN);
    nva[n++] = nv("date", 4, date, PT_HTTPDATE_LEN);
    if (std->clen_len)
        nva[n++] = nv("content-length", 14, std->clen, std->clen_len);
    for (size_t i = 0; i < r->n_resp_hdrs; i++) {
        const struct pt_hdr *h = &r->resp_hdrs[i];
        if (pt_http_connection_specific(h->name, h->name_len))
            continue;
        char *lower = pt_h2_lower(p, h->name, h->name_len);
        nva[n++] = nv(lower, h->name_len, h->value, h->value_len);
    }
    bool body = r->body && pt_http_status_has_body(r->status) && r->method != PT_M_HEAD &&
                r->resp_length != 0;
    nghttp2_data_provider dp = {.source.ptr = s, .read_callback = data_read};
    int rv = nghttp2_submit_response(h2->io.session, s->id, nva, n, body ? &dp : NULL);
    if (rv != 0)
        pt_err("HTTP/2 stream %d: cannot submit the response: %s", s->id, nghttp2_strerror(rv));
    if (!r->body_taken && !s->body_eof)
        s->discard = true;
    if (s->discard) /* bytes held for a reader that never came */
        pt_h2_buf_drop(&h2->io, s->id, &s->body);
    schedule_flush(h2);
}

/* A non-final HEADERS frame (RFC 9113 8.1). */
static void h2_interim(struct pt_req *r, int status, const struct pt_hdr *hdrs, size_t n)
{
    struct pt_h2_stream *s = r->proto_ctx;
    struct pt_pool *p = r->pool;
    nghttp2_nv *nva = pt_pool_alloc(p, (n + 1) * sizeof(*nva));
    char *st = pt_pool_alloc(p, 4);
    size_t k = 0;
    nva[k++] = nv(":status", 7, st, pt_fmt_u64(st, (uint64_t)status));
    for (size_t i = 0; i < n; i++) {
        if (pt_http_connection_specific(hdrs[i].name, hdrs[i].name_len))
            continue;
        char *lower = pt_h2_lower(p, hdrs[i].name, hdrs[i].name_len);
        char *v = pt_pool_strndup(p, hdrs[i].value, hdrs[i].value_len);
        nva[k++] = nv(lower, hdrs[i].name_len, v, hdrs[i].value_len);
    }
    nghttp2_submit_headers(s->h2->io.session, NGHTTP2_FLAG_NONE, s->id, NULL, nva, k, NULL);
    schedule_flush(s->h2);
}

static void h2_resume(struct pt_req *r)
{
    struct pt_h2_stream *s = r->proto_ctx;
    if (!s->deferred)
        return;
    s->deferred = false;
    nghttp2_session_resume_data(s->h2->io.session, s->id);
    schedule_flush(s->h2);
}

/* The handler gives up on the stream: RST_STREAM; nghttp2's close
 * callback then ends the request. */
static void h2_abort(struct pt_req *r)
{
    struct pt_h2_stream *s = r->proto_ctx;
    nghttp2_submit_rst_stream(s->h2->io.session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
    schedule_flush(s->h2);
}

static ssize_t h2_body_read(struct pt_req *r, char *buf, size_t len)
{
    struct pt_h2_stream *s = r->proto_ctx;
    struct pt_h2 *h2 = s->h2;
    r->body_taken = true;
    s->body_wanted = false;
    if (s->body.len == 0) {
        if (s->body_eof)
            return 0;
        s->body_wanted = true;
        return PT_BODY_AGAIN;
    }
    size_t n = pt_h2_buf_take(&h2->io, s->id, &s->body, buf, len);
    schedule_flush(h2);
    return (ssize_t)n;
}

/* ---- I/O (session.c does the work) -------------------------------- */

/* Handlers waiting for request body bytes are woken outside nghttp2's
 * callbacks, where they may call back into the session freely. */
static void wake_body_readers(struct pt_h2 *h2)
{
    for (struct pt_h2_stream *s = h2->streams; s; s = s->next) {
        if (!s->body_ready)
            continue;
        s->body_ready = false;
        s->body_wanted = false;
        if (s->req->on_body_ready)
            s->req->on_body_ready(s->req);
        return wake_body_readers(h2); /* the list may have changed */
    }
}

static bool on_recv_failed(struct pt_h2_io *io, int rv)
{
    struct pt_h2 *h2 = (struct pt_h2 *)io;
    if (rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
        pt_conn_close(io->c); /* not HTTP/2 at all: nothing to say */
        return false;
    }
    /* Say why before closing; nghttp2 may have queued a GOAWAY already, in
     * which case its code stands. */
    uint32_t code = NGHTTP2_PROTOCOL_ERROR;
    if (rv == NGHTTP2_ERR_FLOODED || rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS)
        code = NGHTTP2_ENHANCE_YOUR_CALM;
    else if (rv == NGHTTP2_ERR_HEADER_COMP)
        code = NGHTTP2_COMPRESSION_ERROR;
    else if (rv == NGHTTP2_ERR_CALLBACK_FAILURE || rv == NGHTTP2_ERR_NOMEM)
        code = NGHTTP2_INTERNAL_ERROR;
    conn_error(h2, nghttp2_strerror(rv), code);
    return true;
}

static void on_frame_header(struct pt_h2_io *io, uint8_t type, int32_t id)
{
    check_frame((struct pt_h2 *)io, type, id);
}

static void on_after_read(struct pt_h2_io *io)
{
    wake_body_readers((struct pt_h2 *)io);
}

/* GOAWAY exchanged and no stream left: the client may still be sending
 * WINDOW_UPDATEs for the last frames. */
static void on_finished(struct pt_h2_io *io)
{
    pt_conn_linger(io->c);
}

static const struct pt_h2_io_ops io_ops = {
    .frame_header = on_frame_header,
    .recv_failed = on_recv_failed,
    .after_read = on_after_read,
    .finished = on_finished,
};

static void h2_on_io(struct pt_conn *c, int revents)
{
    struct pt_h2 *h2 = c->session;
    if (c->ssl_want_write && (revents & EV_WRITE))
        revents |= EV_READ;
    if ((revents & EV_READ) && !pt_h2_io_read(&h2->io))
        return;
    h2_flush(h2);
}

/* A response that has data to send but no flow-control window to send it
 * in: the client holds it (reading nothing, or withholding WINDOW_UPDATE
 * while it answers PINGs). */
static bool window_shut(const struct pt_h2 *h2, const struct pt_h2_stream *s)
{
    nghttp2_session *ss = h2->io.session;
    return s->req->responded && !s->response_done && !s->deferred &&
           (nghttp2_session_get_stream_remote_window_size(ss, s->id) <= 0 ||
            nghttp2_session_get_remote_window_size(ss) <= 0);
}

/* Seconds from the last activity to an absolute deadline (at least a
 * moment: 0 would mean "no limit"). */
static double until(const struct pt_conn *c, double deadline)
{
    double t = deadline - c->last_activity;
    return t > 0.001 ? t : 0.001;
}

/* Like a stalled HTTP/1 reader, a response that makes no progress for
 * timeout-secs ends: its stream is reset when its window stays shut, the
 * connection goes when its output does not move (input, PINGs say, is not
 * progress). */
static double h2_timeout(const struct pt_conn *c)
{
    struct pt_h2 *h2 = c->session;
    double secs = c->conf->g.timeout_secs, now = ev_now(c->w->loop);
    if (h2->n_streams == 0) {
        return pt_conn_keepalive_secs(c, h2->keepalive_secs);
    }
    if (pt_h2_io_blocked(&h2->io))
        return until(c, h2->io.sent_at + secs); /* the client does not read */
    bool handler_busy = false;
    double first = 0;
    for (struct pt_h2_stream *s = h2->streams; s; s = s->next) {
        if (s->body_wanted)
            return secs; /* the client stalls a body */
        if (window_shut(h2, s)) {
            if (!s->shut_since)
                s->shut_since = now;
            if (!first || s->shut_since + secs < first)
                first = s->shut_since + secs;
            continue;
        }
        s->shut_since = 0;
        if (!s->response_done)
            handler_busy = true;
    }
    if (first)
        return until(c, first);
    /* Only answered streams whose bodies the client has not finished:
     * the client holds them open. */
    return handler_busy ? 0 : secs;
}

/* A deadline of h2_timeout() passed.  Never flushes here (that may close
 * c under the caller): resets and GOAWAY go out from the loop. */
static bool h2_expired(struct pt_conn *c)
{
    struct pt_h2 *h2 = c->session;
    double secs = c->conf->g.timeout_secs, now = ev_now(c->w->loop) + 0.001;
    if (h2->n_streams == 0 || h2->io.closing)
        return false;
    if (pt_h2_io_blocked(&h2->io))
        return h2->io.sent_at + secs > now; /* else: closed, nothing moved */
    if (nghttp2_session_get_remote_window_size(h2->io.session) <= 0) {
        bool stuck = false;
        for (const struct pt_h2_stream *s = h2->streams; s; s = s->next)
            stuck = stuck || (s->shut_since && s->shut_since + secs <= now);
        if (stuck) {
            /* The connection window itself: nothing can move at all. */
            conn_error(h2, "no connection flow-control window", NGHTTP2_NO_ERROR);
            schedule_flush(h2);
            return true;
        }
    }
    for (struct pt_h2_stream *s = h2->streams; s; s = s->next) {
        if (!s->shut_since || s->shut_since + secs > now)
            continue;
        char ip[46];
        uint16_t port;
        peer(h2, ip, sizeof(ip), &port);
        pt_info_rl("%s:%u: HTTP/2 stream %d: no flow-control window for %gs: reset", ip, port,
                s->id, secs);
        s->shut_since = 0;
        nghttp2_submit_rst_stream(h2->io.session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
    }
    schedule_flush(h2);
    return true;
}

static void h2_drain(struct pt_conn *c)
{
    struct pt_h2 *h2 = c->session;
    /* GOAWAY with the last stream we saw: those finish, no new ones. */
    nghttp2_submit_goaway(h2->io.session, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(h2->io.session),
                          NGHTTP2_NO_ERROR, NULL, 0);
    for (struct pt_h2_stream *s = h2->streams; s; s = s->next)
        if (s->req)
            pt_req_drain(s->req); /* a WebSocket says goodbye */
    schedule_flush(h2);
}

static void h2_destroy(struct pt_conn *c)
{
    struct pt_h2 *h2 = c->session;
    if (!h2)
        return;
    ev_timer_stop(c->w->loop, &h2->rst_timer);
    while (h2->streams)
        stream_free(h2, h2->streams);
    nghttp2_session_del(h2->io.session);
    pt_stats_conn(c->w->id, PT_STATS_H2, -1);
    c->session = NULL;
    pt_conn_session_free(c, h2);
}

static void on_rst_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct pt_h2 *h2 = t->data;
    (void)loop;
    (void)revents;
    for (struct pt_h2_stream *s = h2->streams; s; s = s->next) {
        if (s->rst_pending && !s->body_eof)
            nghttp2_submit_rst_stream(h2->io.session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
        s->rst_pending = false;
    }
    h2_flush(h2);
}

static const struct pt_conn_ops h2_ops = {
    .name = "HTTP/2",
    .on_io = h2_on_io,
    .timeout = h2_timeout,
    .expired = h2_expired,
    .drain = h2_drain,
    .destroy = h2_destroy,
};

/* Callbacks and options are the same for every session: built once. */
static nghttp2_session_callbacks *cbs;
static pthread_once_t cbs_once = PTHREAD_ONCE_INIT;

static void make_callbacks(void)
{
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, on_invalid_frame);
    nghttp2_session_callbacks_set_send_data_callback(cbs, send_data);
}

/* Starts HTTP/2 on c; data holds bytes already read (the preface). */
static void h2_start(struct pt_conn *c, const char *data, size_t len)
{
    pthread_once(&cbs_once, make_callbacks);
    struct pt_h2 *h2 = pt_conn_session_alloc(c, sizeof(*h2));
    if (!h2) {
        pt_conn_close(c);
        return;
    }
    const struct pt_global *g = &c->conf->g;
    double now = ev_now(c->w->loop);
    for (int i = 0; i < B_COUNT; i++) {
        h2->buckets[i].tokens = limits[i].burst;
        h2->buckets[i].ts = now;
    }
    nghttp2_option *opt;
    nghttp2_option_new(&opt);
    /* We reopen windows ourselves, as handlers read (backpressure). */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_no_closed_streams(opt, 1);
    /* Our own limits (take()) act first and say ENHANCE_YOUR_CALM; these
     * are nghttp2's backstops: queued ACKs, resets, CONTINUATION frames
     * after one HEADERS (CVE-2024-27316). */
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
    nghttp2_option_set_max_continuations(opt, 8);
    nghttp2_session *session;
    int rv = nghttp2_session_server_new2(&session, cbs, h2, opt);
    nghttp2_option_del(opt);
    /* "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" comes before the first frame. */
    pt_h2_io_init(&h2->io, c, session, &io_ops, 24);
    if (rv != 0) {
        pt_conn_session_free(c, h2);
        pt_conn_close(c);
        return;
    }
    ev_timer_init(&h2->rst_timer, on_rst_timer, RST_GRACE, 0.);
    h2->rst_timer.data = h2;
    c->session = h2;
    pt_stats_conn(c->w->id, PT_STATS_H2, 1);
    c->ops = &h2_ops;
    c->last_activity = now;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)g->h2_max_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, (uint32_t)g->h2_window},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)g->max_header_size},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
    };
    nghttp2_submit_settings(h2->io.session, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
    nghttp2_session_set_local_window_size(h2->io.session, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
    if (len && !pt_h2_io_feed(&h2->io, data, len))
        return;
    wake_body_readers(h2);
    if (h2_flush(h2) && pt_conn_pending(c))
        ev_feed_event(c->w->loop, &c->io, EV_READ);
}

const struct pt_protocol pt_h2_protocol = {
    .name = "h2",
    .inline_size = 0, /* its session is large: allocated on its own */
    .preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    .preface_len = 24,
    .start = h2_start,
};
