/* The HTTP/1.x server session: reading and parsing heads, request bodies,
 * serializing responses, keep-alive, pipelining, timeouts.
 *
 * Memory: an idle connection holds only its transport (struct pt_conn)
 * and this session, which lives inline in the transport's allocation.  Fresh bytes are
 * read into the worker's scratch buffer; only a partial head or pipelined
 * input left over is copied into a per-connection buffer.  Responses go
 * through one recycled output buffer per active connection, and the body
 * source is asked for more only when that buffer has been written out, so
 * a response of any size costs PT_OUTBUF_SIZE bytes. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "http1/http1.h"

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/fmt.h"
#include "gateway/http.h"
#include "gateway/httpdate.h"
#include "gateway/log.h"
#include "gateway/proto.h"
#include "gateway/request.h"
#include "gateway/stats.h"
#include "gateway/urlpath.h"
#include "gateway/worker.h"
#include "http1/parser.h"

#define SENDFILE_MIN 8192      /* smaller bodies are copied with the head */
#define WRITE_BUDGET (1 << 20) /* bytes per event before yielding the loop */

static void h1_respond(struct pt_req *r);
static void h1_resume(struct pt_req *r);
static ssize_t h1_body_read(struct pt_req *r, char *buf, size_t len);
static void h1_interim(struct pt_req *r, int status, const struct pt_hdr *hdrs, size_t n);
static void h1_abort(struct pt_req *r);
static const struct pt_proto h1_proto = {"HTTP/1.1", h1_respond, h1_resume, h1_body_read,
                                         h1_interim, h1_abort};

/* Retained input: a partial head, pipelined requests, or body bytes. */
struct pt_inbuf {
    struct h1_parser parser;
    size_t len, cap;
    char data[];
};

enum h1_state {
    H1_READING,   /* waiting for / parsing a request head */
    H1_ACTIVE,    /* a request is being answered */
    H1_DISCARD,   /* answered; dropping the rest of its request body */
};

/* Lives in the inline area right after its transport (pt_conn_session_alloc),
 * so the transport is found without a pointer, and flags are bits: an idle
 * keep-alive connection costs the two structs and nothing else. */
struct pt_h1 {
    struct pt_inbuf *in;
    struct pt_req *req;
    int keepalive_secs; /* of the last request's vhost (0: the default vhost's) */
    /* state and the flags fill the 4 bytes after keepalive_secs */
    uint8_t state;
    bool keep_alive : 1;           /* of the current exchange */
    bool client_close : 1;         /* the client asked to close after it */
    bool close_after : 1;          /* close once the current response is out */
    bool eof : 1;                  /* the client shut down its side */
    bool head_sent : 1;
    bool chunked_out : 1;          /* response framed with chunked coding */
    bool body_done : 1;
    bool waiting_body : 1;         /* body source said AGAIN */
    bool body_wait : 1;            /* a body reader waits for the socket */
    bool expect_100 : 1;           /* "Expect: 100-continue" not answered yet */
    bool in_dispatch : 1;          /* inside pt_dispatch(): respond synchronously */
    bool served : 1;               /* at least one request seen (h2c preface check) */
    bool peeked : 1;               /* input waits behind the current exchange */
    bool tunnel : 1;               /* after a 101: raw bytes both ways */
    int64_t body_left;             /* request body bytes still to consume */
    struct h1_chunked *chunked;    /* request body decoder when chunked */
    struct pt_session *session;    /* a plugin's data, across keep-alive requests */
};
_Static_assert(sizeof(struct pt_h1) <= 48, "an idle connection's session stays small");

static inline struct pt_conn *conn_of(const struct pt_h1 *h)
{
    return (struct pt_conn *)h - 1;
}

static bool process_input(struct pt_h1 *h, char *data, size_t len, bool retained);
static bool pump(struct pt_h1 *h);
static void update_events(struct pt_h1 *h);
static void retain(struct pt_h1 *h, const char *data, size_t len,
                   const struct h1_parser *state);

/* ---- small helpers ---------------------------------------------------- */

static bool body_pending(const struct pt_h1 *h)
{
    return h->chunked || h->body_left > 0;
}

/* The request body's decoder goes (the body ended, failed or was
 * dropped). */
static void drop_chunked(struct pt_h1 *h)
{
    if (h->chunked) {
        h1_chunked_release(h->chunked);
        free(h->chunked);
        h->chunked = NULL;
    }
}

/* ---- lifecycle -------------------------------------------------------- */

static void free_request(struct pt_h1 *h)
{
    if (!h->req)
        return;
    pt_req_finish(h->req);
    pt_pool_free(h->req->pool);
    h->req = NULL;
}

static void start_linger(struct pt_h1 *h);

static void h1_drain(struct pt_conn *c)
{
    struct pt_h1 *h = c->session;
    if (h->state == H1_READING && !h->req)
        pt_conn_close(c);
    else if (h->state == H1_DISCARD)
        start_linger(h);
    else {
        h->close_after = true;
        if (h->req)
            pt_req_drain(h->req); /* may end it (the connection with it) */
    }
}

static void h1_destroy(struct pt_conn *c)
{
    struct pt_h1 *h = c->session;
    if (!h)
        return;
    free_request(h); /* an aborted exchange still gets its log line */
    pt_session_drop(&h->session);
    free(h->in);
    drop_chunked(h);
    pt_stats_conn(c->w->id, PT_STATS_H1, -1);
    c->session = NULL;
    pt_conn_session_free(c, h);
}

/* ---- response head ---------------------------------------------------- */

/* Appends "Name: value\r\n" if it fits; the head must fit in one buffer. */
static bool head_add(struct pt_h1 *h, const char *name, size_t nlen,
                     const char *value, size_t vlen)
{
    struct pt_conn *c = conn_of(h);
    if (pt_conn_out_space(c) < nlen + vlen + 4)
        return false;
    pt_conn_out_put(c, name, nlen);
    pt_conn_out_put(c, ": ", 2);
    pt_conn_out_put(c, value, vlen);
    pt_conn_out_put(c, "\r\n", 2);
    return true;
}

static void h1_respond(struct pt_req *r)
{
    struct pt_h1 *h = r->proto_ctx;
    struct pt_conn *c = conn_of(h);
    pt_conn_out_reserve(c);
    if (h->close_after)
        h->keep_alive = false;
    bool body = pt_http_status_has_body(r->status) && r->method != PT_M_HEAD && r->body;
    if (r->status == 101 && r->upgrade && r->body && !h->close_after) {
        /* Switching protocols: from the end of this head on, the response
         * body is the handler's bytes until its source ends and the request
         * body the client's until it closes, unframed. */
        h->tunnel = true;
        h->keep_alive = false;
        body = true;
        r->resp_length = -1;
        drop_chunked(h);
        h->body_left = INT64_MAX;
    }
    if (!r->body && r->resp_length < 0)
        r->resp_length = 0;
    if (pt_http_status_has_body(r->status) && r->resp_length < 0 && !h->tunnel) {
        if (r->version >= 11)
            h->chunked_out = body;
        else
            h->keep_alive = false; /* close-delimited */
    }
    if (h->expect_100 && body_pending(h) && h->keep_alive) {
        /* The body will be read and dropped: let the client send it rather
         * than leave both sides unsure where the next request starts. */
        pt_conn_out_put(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        r->continue_sent = true;
    }
    char line[64];
    const char *reason = pt_status_reason(r->status);
    size_t rlen = strlen(reason);
    int status = r->status >= 100 && r->status <= 999 ? r->status : 500;
    memcpy(line, "HTTP/1.1 ", 9);
    line[9] = (char)('0' + status / 100);
    line[10] = (char)('0' + status / 10 % 10);
    line[11] = (char)('0' + status % 10);
    line[12] = ' ';
    size_t n = 13;
    bool ok = pt_conn_out_space(c) > n + rlen + 2;
    if (ok) {
        pt_conn_out_put(c, line, n);
        pt_conn_out_put(c, reason, rlen);
        pt_conn_out_put(c, "\r\n", 2);
    }
    struct pt_std_fields std;
    pt_http_std_fields(r, &std);
    ok = ok && head_add(h, "Date", 4, std.date, PT_HTTPDATE_LEN);
    if (ok && std.server_len)
        ok = head_add(h, "Server", 6, std.server, std.server_len);
    if (ok && std.clen_len)
        ok = head_add(h, "Content-Length", 14, std.clen, std.clen_len);
    if (ok && h->chunked_out)
        ok = head_add(h, "Transfer-Encoding", 17, "chunked", 7);
    if (ok && !h->keep_alive && !h->tunnel) /* a 101 says "upgrade" itself */
        ok = head_add(h, "Connection", 10, "close", 5);
    else if (ok && r->version == 10)
        ok = head_add(h, "Connection", 10, "keep-alive", 10);
    for (size_t i = 0; ok && i < r->n_resp_hdrs; i++) {
        const struct pt_hdr *f = &r->resp_hdrs[i];
        ok = head_add(h, f->name, f->name_len, f->value, f->value_len);
    }
    if (ok && pt_conn_out_space(c) >= 2)
        pt_conn_out_put(c, "\r\n", 2);
    else
        ok = false;
    if (!ok) {
        /* Cannot happen with sane handlers: headers are bounded. */
        pt_err("response head for %s larger than %d bytes", r->path, PT_OUTBUF_SIZE);
        h->keep_alive = false;
        h->close_after = true;
        h->body_done = true;
        c->out_len = c->out_off = 0;
        h->head_sent = true;
        return;
    }
    h->head_sent = true;
    h->body_done = !body;
    h->expect_100 = false; /* a final response answers the expectation */
    /* Inside dispatch, process_input() pumps right after; a response from
     * the handler's own events is pumped from the loop. */
    if (!h->in_dispatch) {
        c->want_write = true;
        update_events(h);
    }
}

/* 1xx heads go out at once, ahead of the final head (which is appended
 * to the same buffer, so the order holds even if the socket is full). */
static void h1_interim(struct pt_req *r, int status, const struct pt_hdr *hdrs, size_t n)
{
    struct pt_h1 *h = r->proto_ctx;
    struct pt_conn *c = conn_of(h);
    if (r->version < 11 || h->head_sent)
        return;
    pt_conn_out_reserve(c);
    char line[32];
    const char *reason = pt_status_reason(status);
    int len = snprintf(line, sizeof(line), "HTTP/1.1 %03d ", status);
    size_t need = (size_t)len + strlen(reason) + 4;
    for (size_t i = 0; i < n; i++)
        need += hdrs[i].name_len + hdrs[i].value_len + 4;
    if (need > pt_conn_out_space(c))
        return; /* interim responses are advisory: dropped */
    pt_conn_out_put(c, line, (size_t)len);
    pt_conn_out_put(c, reason, strlen(reason));
    pt_conn_out_put(c, "\r\n", 2);
    for (size_t i = 0; i < n; i++)
        head_add(h, hdrs[i].name, hdrs[i].name_len, hdrs[i].value, hdrs[i].value_len);
    pt_conn_out_put(c, "\r\n", 2);
    if (pt_conn_out_flush(c) < 0)
        return; /* the next write finds the error */
    c->want_write = pt_conn_out_pending(c);
    update_events(h);
}

static void h1_resume(struct pt_req *r)
{
    struct pt_h1 *h = r->proto_ctx;
    struct pt_conn *c = conn_of(h);
    h->waiting_body = false;
    /* Let the loop call us back: the source may still be on the stack. */
    c->want_write = true;
    update_events(h);
}

/* The handler gives up on the exchange: the connection goes, with a reset
 * (what the client did not read is dropped), and the request with it
 * (h1_destroy). */
static void h1_abort(struct pt_req *r)
{
    struct pt_h1 *h = r->proto_ctx;
    h->keep_alive = false;
    pt_conn_reset(conn_of(h));
}

/* ---- event interest --------------------------------------------------- */

/* What the connection waits for follows from its state, in one place. */
static void update_events(struct pt_h1 *h)
{
    struct pt_conn *c = conn_of(h);
    int ev = 0;
    switch (h->state) {
    case H1_READING:
        ev = h->eof ? 0 : EV_READ;
        break;
    case H1_DISCARD:
        ev = EV_READ;
        break;
    case H1_ACTIVE:
        /* Read only to consume the request body: pipelined requests wait in
         * the socket until this response is done (backpressure).  While the
         * handler is silent (no answer yet, or its body source waits),
         * watch the socket anyway to notice a client that leaves. */
        if (body_pending(h) && !h->eof && (!h->req->body_taken || h->body_wait))
            ev |= EV_READ;
        else if (!body_pending(h) && !h->eof && !h->peeked &&
                 (!h->req->responded || h->waiting_body))
            ev |= EV_READ;
        if (c->want_write && (!h->waiting_body || pt_conn_out_pending(c)))
            ev |= EV_WRITE;
        break;
    }
    pt_conn_set_events(c, ev);
    pt_conn_timer_update(c);
}

/* ---- body pump -------------------------------------------------------- */

static bool finish_exchange(struct pt_h1 *h);

/* The last chunk and the response's trailer fields.  They go in the
 * output buffer, written out first if it has not room; the few that would
 * not fit even then (16 KiB of trailers) are dropped.  -1: the write
 * failed. */
static int last_chunk(struct pt_h1 *h)
{
    struct pt_conn *c = conn_of(h);
    const struct pt_req *r = h->req;
    size_t need = 5;
    for (size_t i = 0; i < r->n_resp_trailers; i++)
        need += r->resp_trailers[i].name_len + r->resp_trailers[i].value_len + 4;
    if (pt_conn_out_space(c) < need && pt_conn_out_flush(c) < 0)
        return -1;
    pt_conn_out_put(c, "0\r\n", 3);
    for (size_t i = 0; i < r->n_resp_trailers; i++) {
        const struct pt_hdr *f = &r->resp_trailers[i];
        if (pt_conn_out_space(c) < f->name_len + f->value_len + 4 + 2) {
            pt_warn("%s: trailer fields over %d bytes dropped", r->path, PT_OUTBUF_SIZE);
            break;
        }
        pt_conn_out_put(c, f->name, f->name_len);
        pt_conn_out_put(c, ": ", 2);
        pt_conn_out_put(c, f->value, f->value_len);
        pt_conn_out_put(c, "\r\n", 2);
    }
    pt_conn_out_put(c, "\r\n", 2);
    return 0;
}

/* Moves body bytes to the socket until it would block, the source has
 * nothing, or the response is complete.  Returns false if c was closed. */
static bool pump(struct pt_h1 *h)
{
    struct pt_conn *c = conn_of(h);
    struct pt_req *r = h->req;
    size_t budget = WRITE_BUDGET;
    c->want_write = false;
    pt_conn_out_reserve(c); /* given back while the body source waited */
    while (!h->body_done && !h->waiting_body) {
        int fd;
        off_t off;
        size_t left;
        /* Large file bodies go by sendfile(2) once the head is out. */
        if (!h->chunked_out && !c->ssl && r->body->file &&
            r->body->file(r, &fd, &off, &left) == 0 && left >= SENDFILE_MIN) {
            int f = pt_conn_out_flush_more(c);
            if (f < 0)
                goto fail;
            if (f == 0)
                goto wait_write;
            if (!c->corked && r->resp_length >= 0 &&
                r->bytes_sent + left < (uint64_t)r->resp_length) {
                /* More follows the file range (a gzip trailer, the next
                 * part): hold partial segments so it does not go out as a
                 * packet of its own. */
                pt_conn_cork(c, true);
            }
            size_t chunk = left < budget ? left : budget;
            pt_conn_before_write(c);
            ssize_t n = sendfile(c->io.fd, fd, &off, chunk);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    goto wait_write;
                goto fail;
            }
            if (n == 0) {
                pt_err("%s: file shrank while being sent", r->path);
                goto fail;
            }
            r->body->advance(r, (size_t)n);
            r->bytes_sent += (uint64_t)n;
            c->last_activity = ev_now(c->w->loop);
            /* The range may be only part of the body (a gzip wrapper's
             * middle, one part of several): done when all of it is out. */
            if (r->resp_length >= 0 && r->bytes_sent >= (uint64_t)r->resp_length)
                h->body_done = true;
            if (budget <= (size_t)n)
                goto wait_write; /* writable again at once: let others run */
            budget -= (size_t)n;
            continue;
        }
        /* Copy through the output buffer: fill it, then write it. */
        size_t frame = h->chunked_out ? 12 : 0; /* "XXXXXXXX\r\n" + "\r\n" */
        size_t room = pt_conn_out_space(c);
        if (room < frame + 512) {
            size_t pending = c->out_len - c->out_off;
            int f = pt_conn_out_flush(c);
            if (f < 0)
                goto fail;
            if (f == 0)
                goto wait_write;
            if (budget <= pending)
                goto wait_write;
            budget -= pending;
            continue;
        }
        char *dst = c->out + c->out_len + (h->chunked_out ? 10 : 0);
        size_t want = room - frame;
        if (r->resp_length >= 0 && (uint64_t)r->resp_length - r->bytes_sent < want)
            want = (size_t)((uint64_t)r->resp_length - r->bytes_sent);
        ssize_t n = want ? r->body->read(r, dst, want) : 0;
        if (n == PT_BODY_AGAIN) {
            h->waiting_body = true;
            break;
        }
        if (n < 0)
            goto fail;
        if (n == 0) {
            if (pt_http_body_short(r))
                goto fail; /* never let a short body pass as complete */
            h->body_done = true;
            if (h->chunked_out && last_chunk(h) < 0)
                goto fail;
            break;
        }
        if (h->chunked_out) {
            /* Fixed-width size line written in front of the data. */
            static const char hex[] = "0123456789abcdef";
            char *sz = c->out + c->out_len;
            for (int i = 7; i >= 0; i--)
                sz[7 - i] = hex[((size_t)n >> (4 * i)) & 15];
            sz[8] = '\r';
            sz[9] = '\n';
            c->out_len += 10 + (uint32_t)n;
            pt_conn_out_put(c, "\r\n", 2);
        } else {
            c->out_len += (uint32_t)n;
        }
        r->bytes_sent += (uint64_t)n;
        if (r->resp_length >= 0 && r->bytes_sent >= (uint64_t)r->resp_length)
            h->body_done = true;
    }
    int f = pt_conn_out_flush(c);
    if (f < 0)
        goto fail;
    if (f == 0)
        goto wait_write;
    if (h->body_done) {
        pt_conn_cork(c, false);
        return finish_exchange(h);
    }
    /* Waiting for the body source (a slow backend, a WebSocket): all is
     * written, so the buffer goes back until it has more. */
    pt_conn_out_release(c);
    update_events(h);
    return true;
wait_write:
    c->want_write = true;
    update_events(h);
    return true;
fail:
    pt_conn_close(c);
    return false;
}

/* ---- request bodies (discarded: no handler consumes one yet) ---------- */

/* Consumes request-body bytes from data.  Returns bytes consumed or -1 on
 * a framing error (the connection must close). */
static ssize_t consume_body(struct pt_h1 *h, char *data, size_t len)
{
    if (h->chunked) {
        size_t out;
        bool done = false;
        ssize_t n = h1_chunked_decode(h->chunked, data, len, &out, &done);
        if (n < 0)
            return -1;
        if (done) {
            drop_chunked(h);
            h->body_left = 0;
        }
        return n;
    }
    size_t n = (uint64_t)h->body_left < len ? (size_t)h->body_left : len;
    h->body_left -= (int64_t)n;
    return (ssize_t)n;
}

/* ---- the exchange ----------------------------------------------------- */

static void start_linger(struct pt_h1 *h)
{
    struct pt_conn *c = conn_of(h);
    pt_conn_linger(c); /* frees our state through h1_destroy */
}

static bool finish_exchange(struct pt_h1 *h)
{
    struct pt_conn *c = conn_of(h);
    struct pt_req *r = h->req;
    if (r->vhost)
        h->keepalive_secs = r->vhost->keepalive_timeout;
    free_request(h);
    h->head_sent = h->chunked_out = h->body_done = h->waiting_body = false;
    c->want_write = h->body_wait = h->peeked = h->expect_100 = false;
    if (!h->keep_alive || h->close_after) {
        /* Lingering guards a response from the reset that unread input
         * causes.  A client that asked for the close, whose request was
         * read whole and after which the socket was empty, sends nothing
         * more: close at once (its FIN follows ours), as nginx does. */
        bool unread = body_pending(h) || (h->in && h->in->len) || !pt_conn_drained(c);
        if (h->eof || (h->client_close && !unread)) {
            pt_conn_close(c);
            return false;
        }
        start_linger(h);
        return false; /* the session is gone */
    }
    /* The rest of an unwanted request body is dropped before the next
     * request is parsed. */
    h->state = body_pending(h) ? H1_DISCARD : H1_READING;
    c->last_activity = ev_now(c->w->loop);
    /* The caller goes on with pipelined input, if any. */
    return true;
}

static void init_req(struct pt_h1 *h, struct pt_req *r, struct pt_pool *pool)
{
    pt_conn_init_req(conn_of(h), r, pool, &h1_proto, h, 11);
    r->session = &h->session;
    h->req = r;
    h->state = H1_ACTIVE;
    h->served = true;
}

/* The first line of what a refused request sent (past the empty lines a
 * client may send before it), at most PT_RAW_LINE_MAX bytes: the access
 * log shows it, escaped, for want of a parsed request line. */
static void keep_raw_line(struct pt_req *r, const char *raw, size_t len)
{
    while (len && (*raw == '\r' || *raw == '\n')) {
        raw++;
        len--;
    }
    const char *eol = memchr(raw, '\n', len);
    if (eol)
        len = (size_t)(eol - raw);
    if (len && raw[len - 1] == '\r')
        len--;
    if (len > PT_RAW_LINE_MAX)
        len = PT_RAW_LINE_MAX;
    r->raw_line = pt_pool_strndup(r->pool, raw, len);
    r->raw_line_len = len;
}

/* A request that could not even be parsed (raw: what it sent): answer
 * with the built-in error page and close.  Returns false if c was
 * closed. */
static bool reject(struct pt_h1 *h, int status, const char *why, const char *raw,
                   size_t raw_len)
{
    struct pt_pool *pool = pt_pool_new(2048);
    struct pt_req *r = pt_pool_calloc(pool, sizeof(*r));
    init_req(h, r, pool);
    keep_raw_line(r, raw, raw_len);
    r->vhost = pt_req_default_vhost(r);
    pt_info_rl("%s:%u: %d %s: %s", r->peer_ip, r->peer_port, status,
            pt_status_reason(status), why);
    h->keep_alive = false;
    h->close_after = true;
    drop_chunked(h);
    h->body_left = 0;
    pt_respond_error(r, status, why);
    return pump(h);
}


/* Fills r from a parsed head.  Returns 0, or 400 for a target that cannot
 * be routed. */
static int build_request(struct pt_req *r, const struct h1_parser *p, const char *head)
{
    const struct h1_request *q = &p->req;
    char *copy = pt_pool_alloc(r->pool, p->head_len + 1);
    memcpy(copy, head, p->head_len);
    copy[p->head_len] = '\0';
    r->method_str = copy + q->method.off;
    r->method_len = q->method.len;
    r->method = pt_method_from(r->method_str, r->method_len);
    r->target = copy + q->target.off;
    r->target_len = q->target.len;
    r->version = q->version;
    r->content_length = q->content_length;
    r->has_body = q->chunked || q->content_length > 0;
    r->upgrade = q->upgrade && q->version >= 11;
    r->n_hdrs = q->n_headers;
    r->hdrs = pt_pool_alloc(r->pool, (q->n_headers ? q->n_headers : 1) * sizeof(*r->hdrs));
    for (unsigned i = 0; i < q->n_headers; i++) {
        struct pt_hdr *h = &r->hdrs[i];
        h->name = copy + q->headers[i].name.off;
        h->name_len = q->headers[i].name.len;
        h->value = copy + q->headers[i].value.off;
        h->value_len = q->headers[i].value.len;
    }
    if (q->has_host)
        pt_req_set_authority(r, copy + q->host.off, q->host.len);

    const char *t = r->target;
    size_t tlen = r->target_len;
    if (tlen == 1 && t[0] == '*') {
        r->path = "*";
        r->path_len = 1;
        return 0;
    }
    if (t[0] != '/') {
        /* absolute-form: its authority wins over Host (RFC 9112 3.2.2). */
        const char *auth;
        size_t alen;
        t = pt_http_origin_form(r->pool, t, tlen, &tlen, &auth, &alen);
        if (!t)
            return 400;
        pt_req_set_authority(r, auth, alen);
    }
    const char *qm = memchr(t, '?', tlen);
    size_t plen = qm ? (size_t)(qm - t) : tlen;
    if (qm) {
        r->query = qm + 1;
        r->query_len = tlen - plen - 1;
    }
    char *path = pt_pool_alloc(r->pool, plen + 1);
    long n = pt_path_normalize(t, plen, path);
    if (n < 0)
        return 400;
    r->path = path;
    r->path_len = (size_t)n;
    return 0;
}

/* Sets up the exchange for the complete head at head[0..p->head_len).
 * Requests that cannot be routed are answered here; others are dispatched
 * by the caller once the body bytes at hand have been checked. */
static struct pt_req *start_request(struct pt_h1 *h, const struct h1_parser *p,
                                    const char *head)
{
    struct pt_conn *c = conn_of(h);
    struct pt_pool *pool = pt_pool_new(PT_POOL_STD);
    struct pt_req *r = pt_pool_calloc(pool, sizeof(*r));
    init_req(h, r, pool);
    const struct h1_request *q = &p->req;
    h->keep_alive = q->version >= 11 ? !q->conn_close : (q->conn_keep_alive && !q->conn_close);
    h->client_close = !h->keep_alive;
    h->body_left = q->chunked ? 0 : (q->content_length > 0 ? q->content_length : 0);
    if (q->chunked) {
        h->chunked = malloc(sizeof(*h->chunked));
        if (!h->chunked)
            abort();
        h1_chunked_init(h->chunked);
        h->chunked->keep_trailers = true; /* for a handler that passes them on */
    }
    int status = build_request(r, p, head);
    if (status) {
        r->vhost = pt_req_default_vhost(r);
        pt_info_rl("%s:%u: %d %s: invalid request target", r->peer_ip, r->peer_port,
                status, pt_status_reason(status));
        h->keep_alive = false;
        pt_respond_error(r, status, "invalid request target");
        return r;
    }
    /* A body no handler wants is read and dropped at the client's pace
     * (no memory is held for it), keeping the connection usable. */
    /* "100 Continue" goes out when a handler first reads the body, or
     * before a response when the body will be discarded. */
    h->expect_100 = q->expect_continue && r->has_body && r->version >= 11;
    if (c->redirect_https) {
        /* Plain HTTP on a TLS port (allow-non-tls + redirect-http). */
        size_t hlen = 0;
        const char *host = pt_req_header(r, "host", &hlen);
        r->vhost = pt_req_default_vhost(r);
        if (!host || !hlen) {
            pt_respond_error(r, 400, "no Host to redirect to");
            return r;
        }
        char *loc = pt_pool_printf(r->pool, "https://%.*s%.*s", (int)hlen, host,
                                   (int)r->target_len, r->target);
        pt_resp_header(r, "Location", loc);
        pt_respond(r, 301, 0, NULL, NULL);
        return r;
    }
    if (r->path[0] == '*') {
        r->vhost = pt_req_default_vhost(r);
        if (r->method == PT_M_OPTIONS) {
            pt_resp_header(r, "Allow", "GET, HEAD, OPTIONS");
            pt_respond(r, 204, 0, NULL, NULL);
        } else {
            pt_respond_error(r, 400, "asterisk-form target");
        }
    }
    return r;
}

/* The request body's framing is broken: nothing after it can be trusted. */
static void body_error(struct pt_h1 *h, const char *why)
{
    pt_info_rl("%s:%u: 400 Bad Request: request body: %s", h->req->peer_ip,
            h->req->peer_port, why ? why : "bad framing");
    drop_chunked(h);
    h->body_left = 0;
    h->keep_alive = false;
    h->close_after = true;
    if (!h->req->responded) {
        if (!h->req->vhost)
            h->req->vhost = pt_req_default_vhost(h->req);
        pt_respond_error(h->req, 400, "invalid request body framing");
    }
}

static void new_inbuf(struct pt_h1 *h, size_t need)
{
    struct pt_conn *c = conn_of(h);
    size_t cap = (size_t)c->conf->g.max_header_size + 1024;
    if (cap < need)
        cap = need;
    struct pt_inbuf *in = malloc(sizeof(*in) + cap);
    if (!in)
        abort();
    in->cap = cap;
    in->len = 0;
    free(h->in);
    h->in = in;
}

/* Keeps data[0..len) for later: a partial head (state = its parser) or
 * pipelined input (state NULL).  data may point into h->in already. */
static void retain(struct pt_h1 *h, const char *data, size_t len,
                   const struct h1_parser *state)
{
    struct pt_conn *c = conn_of(h);
    if (h->in && data >= h->in->data && data <= h->in->data + h->in->len) {
        memmove(h->in->data, data, len);
    } else {
        new_inbuf(h, len);
        memcpy(h->in->data, data, len);
    }
    h->in->len = len;
    if (state)
        h->in->parser = *state;
    else
        h1_parser_init(&h->in->parser, (size_t)c->conf->g.max_header_size,
                       (size_t)c->conf->g.max_uri_length);
}

/* Whether the chunked body bytes at hand are well framed so far, checked
 * on a copy so that a handler can still read them. */
static bool chunked_prefix_ok(struct pt_h1 *h, const char *data, size_t len,
                              const char **why)
{
    struct pt_conn *c = conn_of(h);
    struct h1_chunked probe = *h->chunked;
    probe.keep_trailers = false; /* the real decoder keeps them */
    char *rbuf = c->w->rbuf;
    bool in_rbuf = data >= rbuf && data < rbuf + c->w->rbuf_cap;
    char *tmp = in_rbuf ? malloc(len) : rbuf;
    if (!tmp)
        return true;
    if (!in_rbuf && len > c->w->rbuf_cap)
        len = c->w->rbuf_cap;
    memcpy(tmp, data, len);
    size_t out;
    bool done = false;
    ssize_t n = h1_chunked_decode(&probe, tmp, len, &out, &done);
    if (in_rbuf)
        free(tmp);
    *why = probe.error_msg;
    return n >= 0;
}

static void send_continue(struct pt_h1 *h)
{
    struct pt_conn *c = conn_of(h);
    h->expect_100 = false;
    h->req->continue_sent = true;
    pt_conn_out_reserve(c);
    pt_conn_out_put(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    if (pt_conn_out_flush(c) > 0)
        pt_conn_out_release(c);
}

/* The chunked body's trailer fields, for the handler (r->req_trailers). */
static void take_trailers(struct pt_h1 *h)
{
    struct pt_req *r = h->req;
    const struct h1_chunked *d = h->chunked;
    struct h1_span n, v;
    for (size_t pos = 0; h1_chunked_trailer_next(d, &pos, &n, &v);) {
        struct pt_hdr *f = pt_hdr_push(r->pool, &r->req_trailers, &r->n_req_trailers,
                                       &r->cap_req_trailers);
        f->name = pt_pool_strndup(r->pool, d->trailers + n.off, n.len);
        f->name_len = n.len;
        f->value = pt_pool_strndup(r->pool, d->trailers + v.off, v.len);
        f->value_len = v.len;
    }
}

/* pt_req_body_read() for HTTP/1: bytes already received wait in h->in;
 * after them the body is read from the socket straight into buf, and only
 * when the handler asks (backpressure). */
static ssize_t h1_body_read(struct pt_req *r, char *buf, size_t len)
{
    struct pt_h1 *h = r->proto_ctx;
    struct pt_conn *c = conn_of(h);
    r->body_taken = true;
    h->body_wait = false;
    if (!body_pending(h) || h->state != H1_ACTIVE)
        return 0;
    if (h->expect_100)
        send_continue(h);
    for (;;) {
        size_t want = len;
        if (!h->chunked && (uint64_t)h->body_left < want)
            want = (size_t)h->body_left;
        size_t n;
        bool from_in = h->in && h->in->len;
        if (from_in) {
            n = h->in->len < want ? h->in->len : want;
            memcpy(buf, h->in->data, n);
        } else {
            if (h->eof)
                return h->tunnel ? 0 : PT_BODY_ERROR;
            ssize_t k = pt_conn_recv(c, buf, want);
            if (k < 0) {
                if (errno == EAGAIN) {
                    h->body_wait = true;
                    update_events(h);
                    return PT_BODY_AGAIN;
                }
                return PT_BODY_ERROR;
            }
            if (k == 0) {
                h->eof = true;
                if (h->tunnel) { /* the client's end of the tunnel */
                    h->body_left = 0;
                    return 0;
                }
                return PT_BODY_ERROR; /* the body was cut short */
            }
            c->last_activity = ev_now(c->w->loop);
            n = (size_t)k;
        }
        size_t used = n, out = n;
        if (h->chunked) {
            bool done = false;
            ssize_t u = h1_chunked_decode(h->chunked, buf, n, &out, &done);
            if (u < 0) {
                h->keep_alive = false;
                h->close_after = true;
                drop_chunked(h);
                return PT_BODY_ERROR;
            }
            used = (size_t)u;
            if (done) {
                take_trailers(h);
                drop_chunked(h);
                h->body_left = 0;
            }
        } else {
            h->body_left -= (int64_t)n;
        }
        if (from_in) {
            memmove(h->in->data, h->in->data + used, h->in->len - used);
            h->in->len -= used;
        } else if (used < n) {
            retain(h, buf + used, n - used, NULL); /* the next request */
        }
        if (out > 0)
            return (ssize_t)out;
        if (!body_pending(h))
            return 0;
        /* only framing was consumed: go on */
    }
}

/* Parses and answers as many requests as data holds, strictly in order.
 * data is the worker's scratch buffer (fresh bytes) or h->in->data
 * (retained; then h->in->parser holds the parse state of data[0..]).
 * Returns false if c was closed. */
static bool process_input(struct pt_h1 *h, char *data, size_t len, bool retained)
{
    struct pt_conn *c = conn_of(h);
    struct h1_parser scratch; /* for heads that arrive whole */
    size_t off = 0;
    for (;;) {
        if (h->state == H1_DISCARD) {
            ssize_t n = off < len ? consume_body(h, data + off, len - off) : 0;
            if (n < 0) {
                pt_info_rl("closing connection: bad chunked request body: %s",
                        h->chunked->error_msg);
                pt_conn_close(c);
                return false;
            }
            off += (size_t)n;
            if (body_pending(h)) {
                if (retained)
                    h->in->len = 0;
                update_events(h);
                return true;
            }
            h->state = H1_READING;
        }
        if (h->req) {
            /* Body bytes of the request being answered come first; a
             * handler that reads the body takes them from h->in itself. */
            if (body_pending(h) && off < len && !h->req->body_taken) {
                ssize_t n = consume_body(h, data + off, len - off);
                if (n < 0) {
                    body_error(h, h->chunked ? h->chunked->error_msg : NULL);
                    off = len;
                } else {
                    off += (size_t)n;
                }
            }
            if (h->req->responded && !pump(h))
                return false;
            if (h->req) {
                /* Still answering: keep the rest for later. */
                if (off < len)
                    retain(h, data + off, len - off, NULL);
                else if (retained)
                    h->in->len = 0;
                update_events(h);
                return true;
            }
            if (h->state == H1_DISCARD)
                continue;
        }
        if (off >= len)
            break;
        struct h1_parser *p;
        if (retained && off == 0) {
            p = &h->in->parser;
        } else {
            p = &scratch;
            h1_parser_init(p, (size_t)c->conf->g.max_header_size,
                           (size_t)c->conf->g.max_uri_length);
        }
        int rc = h1_parse(p, data + off, len - off);
        if (rc == H1_AGAIN) {
            if (!(retained && off == 0)) /* else it is in place already */
                retain(h, data + off, len - off, p);
            if (h->in->len >= h->in->cap)
                return reject(h, 431, "request head too large", h->in->data, h->in->len);
            update_events(h);
            return true;
        }
        if (rc == H1_ERROR)
            return reject(h, p->error_status, p->error_msg, data + off, len - off);
        const char *head = data + off;
        off += p->head_len;
        struct pt_req *r = start_request(h, p, head);
        /* Check the body bytes at hand first, so broken framing is a 400
         * rather than a response followed by a reset. */
        const char *why = NULL;
        if (!r->responded && h->chunked && off < len &&
            !chunked_prefix_ok(h, data + off, len - off, &why)) {
            body_error(h, why);
            off = len;
        }
        if (!r->responded) {
            if (retained || (r->has_body && off < len)) {
                /* What follows the head goes to the front of h->in, where a
                 * handler reading the body finds it: never the head's own
                 * bytes, and a fresh parser for what comes after. */
                retain(h, data + off, len - off, NULL);
                data = h->in->data;
                len = h->in->len;
                off = 0;
                retained = true;
            }
            h->in_dispatch = true;
            pt_dispatch(r);
            h->in_dispatch = false;
            if (r->body_taken && r->has_body) {
                /* It consumed from the front of h->in, and what it read
                 * past the body's end (chunked) went there too. */
                retained = h->in != NULL;
                data = retained ? h->in->data : NULL;
                len = retained ? h->in->len : 0;
                off = 0;
            }
        }
    }
    /* All input answered. */
    if (h->in) {
        free(h->in);
        h->in = NULL;
    }
    pt_conn_out_release(c);
    if (h->eof) {
        pt_conn_close(c);
        return false;
    }
    update_events(h);
    return true;
}

/* ---- events ----------------------------------------------------------- */

/* On a fresh plaintext connection, another protocol's preface (HTTP/2's
 * "PRI * HTTP/2.0...": h2c with prior knowledge) hands the connection over.
 * Returns 1 (switched: h is gone), 0 (HTTP/1), -1 (could still be: wait
 * for more bytes). */
static int try_preface(struct pt_h1 *h, const char *data, size_t len)
{
    bool partial;
    const struct pt_protocol *p = pt_protocol_by_preface(data, len, &partial);
    if (!p)
        return 0;
    if (partial)
        return -1;
    /* data may live in h->in: keep it until the new protocol has read it
     * (the connection itself may be gone by then). */
    struct pt_conn *c = conn_of(h);
    struct pt_inbuf *in = h->in;
    h->in = NULL;
    h1_destroy(c);
    p->start(c, data, len);
    free(in);
    return 1;
}

static void do_read(struct pt_h1 *h)
{
    struct pt_conn *c = conn_of(h);
    struct pt_worker *w = c->w;
    bool retained = h->in != NULL;
    char *buf = retained ? h->in->data + h->in->len : w->rbuf;
    size_t cap = retained ? h->in->cap - h->in->len : w->rbuf_cap;
    if (cap == 0) {
        pt_conn_set_events(c, 0); /* cannot happen: heads are limited below cap */
        return;
    }
    ssize_t n = pt_conn_recv(c, buf, cap);
    if (n < 0) {
        if (errno == EAGAIN) {
            update_events(h);
            return;
        }
        pt_conn_close(c);
        return;
    }
    if (n == 0) {
        h->eof = true;
        if (!h->req || body_pending(h)) {
            /* Between requests, or the body never came: nothing to answer. */
            pt_conn_close(c);
            return;
        }
        update_events(h);
        return;
    }
    /* A head has timeout-secs from its first byte in all (a client that
     * trickles it in byte by byte gains nothing); other reads count as
     * progress. */
    if (!(h->state == H1_READING && retained))
        c->last_activity = ev_now(w->loop);
    char *data = retained ? h->in->data : buf;
    size_t len = retained ? h->in->len + (size_t)n : (size_t)n;
    if (retained)
        h->in->len = len;
    if (!h->served && !c->ssl && !c->redirect_https) {
        int h2 = try_preface(h, data, len);
        if (h2 > 0)
            return;
        if (h2 < 0) {
            if (!retained)
                retain(h, data, len, NULL);
            return;
        }
    }
    if (!process_input(h, data, len, retained))
        return;
    /* TLS may hold decrypted bytes the socket will not signal again. */
    if (pt_conn_pending(c) && (h->state == H1_READING || h->state == H1_DISCARD))
        ev_feed_event(w->loop, &c->io, EV_READ);
}

static void h1_on_io(struct pt_conn *c, int revents)
{
    struct pt_h1 *h = c->session;
    if (c->ssl_want_write && (revents & EV_WRITE))
        revents |= EV_READ; /* TLS wanted to write to go on reading */
    if (revents & EV_READ) {
        if (h->state == H1_ACTIVE && h->req && h->req->body_taken && body_pending(h)) {
            /* The handler pulls the body itself. */
            if (h->body_wait) {
                h->body_wait = false;
                update_events(h);
                if (h->req->on_body_ready)
                    h->req->on_body_ready(h->req);
                return; /* a pending write event comes again */
            }
            /* Nobody reads now: TLS can wait for the next read. */
            c->ssl_want_write = false;
            update_events(h);
            revents &= ~EV_READ;
        } else if (h->state == H1_ACTIVE && !body_pending(h)) {
            /* Only watched for a departing client (see update_events). */
            bool err;
            int n = pt_conn_peek(c, &err);
            if (n == 0 || err) {
                pt_info_rl("%s: client closed the connection before the response",
                        h->req ? h->req->peer_ip : "?");
                pt_conn_close(c); /* the handler's on_finish stops its work */
                return;
            }
            if (n > 0)
                h->peeked = true; /* a pipelined request: keep it for later */
            c->ssl_want_write = false;
            update_events(h);
            revents &= ~EV_READ;
        } else {
            do_read(h);
            return; /* c may be gone; a write event comes again if needed */
        }
    }
    if (!(revents & EV_WRITE))
        return;
    if (!h->req || !h->req->responded) {
        update_events(h);
        return;
    }
    if (!pump(h))
        return;
    /* Done with that one: answer pipelined input waiting in h->in. */
    if (!h->req && (h->state == H1_READING || h->state == H1_DISCARD)) {
        if (h->in && h->in->len)
            process_input(h, h->in->data, h->in->len, true);
        else
            process_input(h, NULL, 0, false);
    }
}

static double h1_timeout(const struct pt_conn *c)
{
    const struct pt_h1 *h = c->session;
    if (h->tunnel)
        return 0; /* the handler keeps the tunnel's idle timeout */
    if (h->state == H1_READING && !h->in) {
        return pt_conn_keepalive_secs(c, h->keepalive_secs);
    }
    if (h->body_wait)
        return c->conf->g.timeout_secs; /* the client stalls its body */
    if (h->req && (h->waiting_body || !h->req->responded))
        return 0; /* the handler owns its own timeouts */
    return c->conf->g.timeout_secs;
}

static const struct pt_conn_ops h1_ops = {
    .name = "HTTP/1.1",
    .on_io = h1_on_io,
    .timeout = h1_timeout,
    .drain = h1_drain,
    .destroy = h1_destroy,
};

/* Starts HTTP/1 on c (at accept, or after the TLS handshake). */
static void h1_start(struct pt_conn *c, const char *data, size_t len)
{
    (void)data; /* nothing comes before an HTTP/1 request */
    (void)len;
    struct pt_h1 *h = pt_conn_session_alloc(c, sizeof(*h));
    if (h != (void *)(c + 1)) {
        /* Cannot happen: every accepted connection reserves room for us. */
        pt_conn_session_free(c, h);
        pt_conn_close(c);
        return;
    }
    c->session = h;
    c->ops = &h1_ops;
    h->state = H1_READING;
    pt_stats_conn(c->w->id, PT_STATS_H1, 1);
    c->last_activity = ev_now(c->w->loop);
    update_events(h);
    /* Bytes may already wait inside TLS after the handshake. */
    if (pt_conn_pending(c))
        ev_feed_event(c->w->loop, &c->io, EV_READ);
}

const struct pt_protocol pt_http1_protocol = {
    .name = "http/1.1",
    .inline_size = sizeof(struct pt_h1),
    .start = h1_start,
};
