/* One request over an HTTP/1.1 backend connection (see proxy.h).
 *
 * Request: the head is re-serialized from the parsed request (never the
 * client's raw bytes), with exactly one framing (Content-Length, or
 * chunked when the length is unknown), so no client input can
 * desynchronize a pooled connection.  The body is pulled from the client
 * only as fast as the backend takes it.
 *
 * Response: the head is read and parsed strictly (http1/parser.c, response
 * mode); hop-by-hop fields are dropped, the rest passes in order.  The
 * body is a pt_body_ops source read from the backend socket only when the
 * client can take more: a slow client slows the backend, never memory.
 *
 * Failures before the head: 502 (refused, reset, malformed head) or 504
 * (connect or read timeout), each with one log line naming the upstream.
 * After it, the client's response is aborted, never completed as if
 * whole.  A request that fails on a reused connection before any response
 * byte, idempotent and with no body taken, is retried once on a fresh
 * connection. */
#include "proxy/proxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/http.h"
#include "gateway/log.h"
#include "gateway/pool.h"
#include "gateway/request.h"
#include "gateway/urlpath.h"
#include "gateway/worker.h"
#include "http1/parser.h"

#define IN_CAP 20480     /* response head (and what follows it in the read) */
#define OUT_CAP 16384    /* request body bytes on their way */
#define CHUNK_ROOM 12    /* "XXXXXXXX\r\n" before and "\r\n" after a chunk */

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents);
static bool pump_request(struct px *p);
static void update_events(struct px *p);
static const struct pt_body_ops body_ops;

static const char *upstream_name(const struct px *p)
{
    return pt_px_upstream(p->pool)->name;
}

/* ---- timers ------------------------------------------------------------ */

/* One timer per exchange: the connect, then the silence of the backend
 * while we wait for it (to take the body, or to send the response). */
static void arm(struct px *p, int secs)
{
    struct ev_loop *loop = p->r->loop;
    p->timer.repeat = secs > 0 ? secs : 1;
    ev_timer_again(loop, &p->timer);
}

static void disarm(struct px *p)
{
    ev_timer_stop(p->r->loop, &p->timer);
}

/* ---- the end ------------------------------------------------------------ */

void pt_px_free(struct px *p)
{
    struct pt_req *r = p->r;
    if (p->queued)
        pt_px_unqueue(p);
    if (p->bc)
        pt_px_release(p, false);
    if (p->h2c)
        pt_px_h2_detach(p);
    free(p->rbuf.data);
    ev_timer_stop(r->loop, &p->timer);
    if (r->handler_ctx == p) {
        r->handler_ctx = NULL;
        r->on_finish = NULL;
        r->on_body_ready = NULL;
    }
    free(p->head);
    free(p->obuf);
    free(p->in);
    if (p->dechunk)
        h1_chunked_release(p->dechunk);
    free(p->dechunk);
    pt_px_spool_free(p);
    free(p);
}

/* Fails the request before a response head went to the client. */
static void fail(struct px *p, int status, const char *why)
{
    struct pt_req *r = p->r;
    pt_warn("proxy %s: %.*s %.*s: %s; %d", upstream_name(p), (int)r->method_len,
            r->method_str, (int)(r->target_len > 200 ? 200 : r->target_len), r->target,
            why, status);
    pt_px_free(p);
    pt_respond_error(r, status, why);
}

/* After the head: the client's response is cut short. */
static void abort_response(struct px *p, const char *why)
{
    pt_warn("proxy %s: %s: response aborted", upstream_name(p), why);
    p->resp_err = true;
    if (p->bc)
        pt_px_release(p, false);
    if (p->h2c)
        pt_px_h2_detach(p);
    disarm(p);
    if (p->waiting) {
        p->waiting = false;
        pt_req_resume(p->r);
    }
}

/* Both directions are through: the connection goes back to the pool when
 * the backend said it may, and the whole request body went out. */
static void exchange_done(struct px *p)
{
    disarm(p);
    if (p->bc)
        pt_px_release(p, p->resp_keep_alive && p->body_done && !p->resp_err);
}

static bool idempotent(const struct pt_req *r)
{
    switch (r->method) {
    case PT_M_GET: case PT_M_HEAD: case PT_M_OPTIONS: case PT_M_PUT: case PT_M_DELETE:
        return true;
    default:
        return false;
    }
}

void pt_px_conn_failed(struct px *p, int err)
{
    if (p->h2c)
        pt_px_h2_detach(p);
    if (p->responded) {
        abort_response(p, strerror(err));
        return;
    }
    if (p->reused && !p->retried && idempotent(p->r) && pt_px_body_rewind(p)) {
        /* A kept-alive connection the backend had closed: once more, on a
         * fresh one. */
        pt_info("proxy %s: reused connection failed (%s); retrying on a new one",
                upstream_name(p), strerror(err));
        p->retried = true;
        if (p->bc)
            pt_px_release(p, false);
        p->head_off = 0;
        p->in_len = p->in_off = 0;
        pt_px_acquire(p);
        return;
    }
    if (!p->connected && p->pm->n_ups > 1 && err != ENOMEM && err != ECONNABORTED) {
        /* The origin cannot be reached: skip it for a while, and try the
         * next healthy one for this request. */
        pt_px_backoff(p->pool);
        struct px_pool *next = ++p->tries < p->pm->n_ups ? pt_px_choose(p->route) : NULL;
        if (next) {
            if (p->bc)
                pt_px_release(p, false);
            p->pool = next;
            p->head_off = 0;
            free(p->head);
            p->head = NULL;
            pt_px_acquire(p);
            return;
        }
    }
    char why[128];
    snprintf(why, sizeof(why), "%s%s", p->connected ? "" : "connect: ", strerror(err));
    fail(p, err == ETIMEDOUT ? 504 : 502, why);
}

void pt_px_tls_failed(struct px *p, const char *why)
{
    fail(p, 502, why);
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct px *p = t->data;
    (void)loop;
    (void)revents;
    if (p->queued) {
        fail(p, 504, "no backend connection free in time");
        return;
    }
    if (!p->bc && !p->h2c && !p->responded) {
        /* Our turn in the queue (pool.c set a zero timeout). */
        arm(p, p->pm->o.connect_timeout);
        pt_px_acquire(p);
        return;
    }
    if (!p->connected) {
        pt_px_conn_failed(p, ETIMEDOUT); /* backs the origin off, tries another */
        return;
    }
    if (!p->responded) {
        fail(p, 504, p->body_done ? "no response in time" : "request body not taken in time");
        return;
    }
    if (p->tunnel) {
        /* An idle tunnel ends like one that was closed: cleanly. */
        pt_info("proxy %s: tunnel idle for %ds; closed", upstream_name(p),
                p->pm->o.read_timeout);
        p->resp_done = true;
        exchange_done(p);
        if (p->waiting) {
            p->waiting = false;
            pt_req_resume(p->r);
        }
        return;
    }
    abort_response(p, "backend silent too long");
}

/* ---- the request -------------------------------------------------------- */

struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q)
            abort(); /* like the request pools: no sensible way on */
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void puts_(struct buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void field(struct buf *b, const char *name, const char *v1, size_t l1, const char *sep,
                  const char *v2)
{
    puts_(b, name);
    put(b, ": ", 2);
    if (v1 && l1) {
        put(b, v1, l1);
        puts_(b, sep);
    }
    puts_(b, v2);
    put(b, "\r\n", 2);
}

/* A random Sec-WebSocket-Key (16 bytes, base64). */
static const char *websocket_key(struct pt_req *r)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char k[18] = {0};
    if (getrandom(k, 16, 0) != 16)
        memset(k, 0x5a, 16);
    char *out = pt_pool_alloc(r->pool, 25), *o = out;
    for (int i = 0; i < 18; i += 3) {
        uint32_t v = (uint32_t)k[i] << 16 | (uint32_t)k[i + 1] << 8 | k[i + 2];
        *o++ = b64[v >> 18 & 63];
        *o++ = b64[v >> 12 & 63];
        *o++ = b64[v >> 6 & 63];
        *o++ = b64[v & 63];
    }
    out[22] = out[23] = '=';
    out[24] = '\0';
    return out;
}

static void build_head(struct px *p)
{
    struct pt_req *r = p->r;
    struct px_fields f;
    struct buf b = {0};
    pt_px_request_fields(p, &f);
    if (p->upgrade && r->version == 20)
        puts_(&b, "GET"); /* RFC 8441: an extended CONNECT is a GET upgrade in HTTP/1.1 */
    else
        put(&b, r->method_str, r->method_len);
    put(&b, " ", 1);
    put(&b, f.target, f.target_len);
    puts_(&b, " HTTP/1.1\r\nHost: ");
    put(&b, f.authority, f.authority_len);
    put(&b, "\r\n", 2);
    for (size_t i = 0; i < f.n; i++) {
        put(&b, f.v[i].name, f.v[i].name_len);
        put(&b, ": ", 2);
        put(&b, f.v[i].value, f.v[i].value_len);
        put(&b, "\r\n", 2);
    }
    if (p->upgrade) {
        /* WebSocket and other Upgrades: offered to the backend as they
         * came; its 101 turns the exchange into a tunnel.  From an HTTP/2
         * client (RFC 8441) the protocol is the :protocol, and the key an
         * HTTP/1.1 server wants is made up here (nothing checks its
         * answer: the client's stream is the tunnel). */
        size_t vl = 0;
        const char *up = r->version == 20 ? r->upgrade_proto : pt_req_header(r, "upgrade", &vl);
        if (r->version == 20)
            vl = strlen(up);
        field(&b, "Connection", NULL, 0, "", "upgrade");
        field(&b, "Upgrade", NULL, 0, "", pt_pool_strndup(r->pool, up, vl));
        if (r->version == 20 && !pt_req_header(r, "sec-websocket-key", NULL))
            field(&b, "Sec-WebSocket-Key", NULL, 0, "", websocket_key(r));
        p->body_done = true; /* the tunnel's bytes come after the 101 */
        put(&b, "\r\n", 2);
        p->head = b.p;
        p->head_len = b.len;
        return;
    }
    if (r->has_body && p->body_length >= 0) {
        char cl[32];
        snprintf(cl, sizeof(cl), "%lld", (long long)p->body_length);
        field(&b, "Content-Length", NULL, 0, "", cl);
    } else if (r->has_body) {
        field(&b, "Transfer-Encoding", NULL, 0, "", "chunked");
        p->body_chunked = true;
    } else if (r->method == PT_M_POST || r->method == PT_M_PUT || r->method == PT_M_PATCH) {
        field(&b, "Content-Length", NULL, 0, "", "0");
    }
    put(&b, "\r\n", 2);
    p->head = b.p;
    p->head_len = b.len;
    p->body_done = !r->has_body;
}

void pt_px_start(struct px *p)
{
    struct pt_req *r = p->r;
    p->connected = true;
    if (!p->head)
        build_head(p);
    p->head_off = 0;
    if (!p->in) {
        p->in = malloc(IN_CAP);
        if (!p->in) {
            fail(p, 500, "out of memory");
            return;
        }
    }
    pt_debug("proxy %s: %.*s %.*s (%s connection)", upstream_name(p), (int)r->method_len,
             r->method_str, (int)r->target_len, r->target, p->reused ? "reused" : "new");
    arm(p, p->pm->o.read_timeout);
    pump_request(p);
}

/* Writes buf[*off..len) to the backend.  Returns 1 when all of it went,
 * 0 when the socket is full, -1 on an error (handled: p may be gone). */
static int write_some(struct px *p, const char *buf, size_t len, size_t *off)
{
    struct pt_conn *c = pt_px_transport(p->bc);
    while (*off < len) {
        ssize_t n = pt_conn_send(c, buf + *off, len - *off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                p->want_write = true;
                return 0;
            }
            pt_px_conn_failed(p, errno == EPIPE ? ECONNRESET : errno);
            return -1;
        }
        *off += (size_t)n;
    }
    return 1;
}

/* The last chunk of the request body, with the client's trailer fields
 * (those that may be trailers, as many as fit in OUT_CAP), in p->obuf.
 * Returns its length. */
static size_t last_chunk(struct px *p)
{
    const struct pt_req *r = p->r;
    size_t n = 0;
    memcpy(p->obuf, "0\r\n", 3);
    n = 3;
    for (size_t i = 0; i < r->n_req_trailers; i++) {
        const struct pt_hdr *f = &r->req_trailers[i];
        if (!pt_http_trailer_allowed(f->name, f->name_len))
            continue;
        if (n + f->name_len + f->value_len + 4 + 2 > OUT_CAP) {
            pt_warn("proxy %s: request trailers over %d bytes dropped", upstream_name(p),
                    OUT_CAP);
            break;
        }
        memcpy(p->obuf + n, f->name, f->name_len);
        n += f->name_len;
        memcpy(p->obuf + n, ": ", 2);
        memcpy(p->obuf + n + 2, f->value, f->value_len);
        n += 2 + f->value_len;
        memcpy(p->obuf + n, "\r\n", 2);
        n += 2;
    }
    memcpy(p->obuf + n, "\r\n", 2);
    return n + 2;
}

/* Sends the head, then the body as the client delivers it, until one side
 * has to wait.  Returns false if p is gone. */
static bool pump_request(struct px *p)
{
    p->want_write = false;
    for (;;) {
        int w = write_some(p, p->head, p->head_len, &p->head_off);
        if (w < 0)
            return false;
        if (w == 0)
            break;
        if (p->ooff < p->olen) {
            w = write_some(p, p->obuf, p->olen, &p->ooff);
            if (w < 0)
                return false;
            if (w == 0)
                break;
        }
        p->olen = p->ooff = 0;
        if (p->body_done || (p->responded && !p->tunnel))
            break; /* an early response: the rest of the body is not sent */
        if (!p->obuf && !(p->obuf = malloc(OUT_CAP))) {
            fail(p, 500, "out of memory");
            return false;
        }
        char *data = p->obuf + (p->body_chunked ? 10 : 0);
        size_t room = OUT_CAP - (p->body_chunked ? CHUNK_ROOM : 0);
        ssize_t n = pt_px_body_read(p, data, room);
        if (n == PT_BODY_AGAIN)
            break; /* on_body_ready brings us back */
        if (n < 0) {
            /* The client's body broke off: the backend cannot be told
             * where it ended, so the connection goes. */
            if (p->responded) {
                abort_response(p, "client request body broke off");
                return true;
            }
            pt_info("proxy %s: client request body broke off", upstream_name(p));
            struct pt_req *r = p->r;
            pt_px_free(p);
            pt_respond_error(r, 400, "request body could not be read");
            return false;
        }
        p->body_started = true;
        if (n == 0) {
            p->body_done = true;
            if (p->tunnel) { /* the client closed its side: pass it on */
                pt_conn_shutdown_write(pt_px_transport(p->bc));
                break;
            }
            if (p->body_chunked) {
                p->olen = last_chunk(p);
                if (write_some(p, p->obuf, p->olen, &p->ooff) < 0)
                    return false;
            }
            break;
        }
        if (p->body_chunked) {
            static const char hex[] = "0123456789abcdef";
            for (int i = 7; i >= 0; i--)
                p->obuf[7 - i] = hex[((size_t)n >> (4 * i)) & 15];
            p->obuf[8] = '\r';
            p->obuf[9] = '\n';
            memcpy(p->obuf + 10 + n, "\r\n", 2);
            p->olen = (size_t)n + CHUNK_ROOM;
        } else {
            p->olen = (size_t)n;
        }
    }
    if (p->bc) {
        /* Waiting for the socket is the backend's slowness to take the
         * request; anything else waits for its answer. */
        if (!p->responded || p->tunnel)
            arm(p, p->want_write ? p->pm->o.send_timeout : p->pm->o.read_timeout);
        update_events(p);
    }
    return true;
}

static void on_body_ready(struct pt_req *r)
{
    struct px *p = r->handler_ctx;
    if (p && p->spooling)
        pt_px_spool_pump(p);
    else if (p && p->h2c)
        pt_px_h2_body_ready(p);
    else if (p && p->bc && !p->want_write)
        pump_request(p);
}

/* ---- the response -------------------------------------------------------- */

/* Response fields that do not pass: hop-by-hop ones, those the protocol
 * writes itself (framing, Date, Server), and any the backend's Connection
 * names. */
static bool response_field_dropped(const struct px *p, const char *head,
                                   const struct h1_request *q, unsigned k)
{
    const struct h1_header *h = &q->headers[k];
    const char *n = head + h->name.off;
    size_t l = h->name.len;
    if (p->tunnel && p->r->version == 20 && pt_http_name_is(n, l, "sec-websocket-accept"))
        return true; /* RFC 8441: nothing to accept, the stream is open */
    if (p->tunnel && (pt_http_name_is(n, l, "upgrade") || pt_http_name_is(n, l, "connection")))
        return false; /* a 101 must say what it switches to */
    if (pt_http_hop_by_hop(n, l) || pt_http_name_is(n, l, "content-length") ||
        pt_http_name_is(n, l, "date") || pt_http_name_is(n, l, "server"))
        return true;
    for (unsigned i = 0; i < q->n_headers; i++) {
        const struct h1_header *c = &q->headers[i];
        if (pt_http_name_is(head + c->name.off, c->name.len, "connection") &&
            pt_http_list_has(head + c->value.off, c->value.len, n, l))
            return true;
    }
    return false;
}

/* A complete head is in p->in[0..head_len): hand it to the client.  Returns
 * false if p is gone. */
static bool take_head(struct px *p, const struct h1_parser *hp)
{
    struct pt_req *r = p->r;
    const struct h1_request *q = &hp->req;
    const char *head = p->in;
    if (q->close_delimited) {
        /* Transfer-Encoding ending in another coding (gzip): the body
         * would reach the client still coded; nginx refuses it too. */
        fail(p, 502, "unsupported Transfer-Encoding in the response");
        return false;
    }
    if (q->status == 101) {
        if (!p->upgrade) {
            fail(p, 502, "101 Switching Protocols to a request without Upgrade");
            return false;
        }
        /* The tunnel: the backend's bytes until it closes, the client's
         * until it closes, each passed on as it comes. */
        p->tunnel = true;
        p->resp_close_delimited = true;
        p->body_done = false;
        p->body_chunked = false;
    } else if (q->status < 200) {
        /* 100 Continue is this hop's business; other interim responses
         * (103 Early Hints) go on to the client, hop-by-hop fields out. */
        if (q->status != 100) {
            struct pt_hdr *hs = pt_pool_alloc(r->pool, (q->n_headers + 1) * sizeof(*hs));
            size_t k = 0;
            for (unsigned i = 0; i < q->n_headers; i++) {
                if (response_field_dropped(p, head, q, i))
                    continue;
                const struct h1_header *h = &q->headers[i];
                hs[k].name = pt_pool_strndup(r->pool, head + h->name.off, h->name.len);
                hs[k].name_len = h->name.len;
                hs[k].value = pt_pool_strndup(r->pool, head + h->value.off, h->value.len);
                hs[k].value_len = h->value.len;
                k++;
            }
            pt_respond_interim(r, q->status, hs, k);
        }
        memmove(p->in, p->in + hp->head_len, p->in_len - hp->head_len);
        p->in_len -= hp->head_len;
        return true;
    }
    for (unsigned i = 0; i < q->n_headers; i++) {
        const struct h1_header *h = &q->headers[i];
        if (response_field_dropped(p, head, q, i))
            continue;
        pt_px_response_field(p, head + h->name.off, h->name.len, head + h->value.off,
                             h->value.len);
    }
    bool no_body = !p->tunnel &&
                   (r->method == PT_M_HEAD || !pt_http_status_has_body(q->status));
    int64_t length = q->chunked ? -1 : q->content_length;
    p->resp_keep_alive = q->version == 11 ? !q->conn_close
                                          : (q->conn_keep_alive && !q->conn_close);
    if (p->tunnel) {
        p->resp_keep_alive = false;
    } else if (no_body) {
        p->resp_done = true;
    } else if (q->chunked) {
        p->resp_chunked = true;
        p->dechunk = malloc(sizeof(struct h1_chunked));
        if (!p->dechunk) {
            fail(p, 500, "out of memory");
            return false;
        }
        h1_chunked_init(p->dechunk);
        ((struct h1_chunked *)p->dechunk)->keep_trailers = true; /* passed on */
    } else if (q->content_length >= 0) {
        p->resp_left = q->content_length;
        p->resp_done = q->content_length == 0;
    } else {
        p->resp_close_delimited = true;
        p->resp_keep_alive = false;
    }
    if (p->resp_done && p->in_len > hp->head_len)
        p->resp_keep_alive = false; /* bytes nobody asked for */
    p->in_off = hp->head_len;
    p->responded = true;
    if (!p->body_done)
        p->resp_keep_alive = false; /* it answered before taking the body */
    disarm(p);
    int status = q->status;
    if (p->tunnel && r->version == 20)
        status = 200; /* RFC 8441: the extended CONNECT succeeded */
    pt_px_note_upstream(p, pt_px_transport(p->bc));
    if (p->resp_done)
        exchange_done(p);
    pt_respond(r, status, length, no_body && r->method != PT_M_HEAD ? NULL : &body_ops, p);
    if (p->tunnel) {
        arm(p, p->pm->o.read_timeout);
        return pump_request(p); /* what the client sent already, then more */
    }
    return true;
}

/* Reads the response head.  May free p. */
static void read_head(struct px *p)
{
    struct pt_conn *c = pt_px_transport(p->bc);
    for (;;) {
        if (p->in_len == IN_CAP) {
            fail(p, 502, "response head too large");
            return;
        }
        ssize_t n = pt_conn_recv(c, p->in + p->in_len, IN_CAP - p->in_len);
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            pt_px_conn_failed(p, n == 0 ? ECONNRESET : errno);
            return;
        }
        p->in_len += (size_t)n;
        arm(p, p->pm->o.read_timeout);
        for (;;) {
            struct h1_parser hp;
            h1_parser_init_response(&hp, IN_CAP);
            int rc = h1_parse(&hp, p->in, p->in_len);
            if (rc == H1_AGAIN)
                break;
            if (rc == H1_ERROR) {
                char why[128];
                snprintf(why, sizeof(why), "invalid response head: %s", hp.error_msg);
                fail(p, 502, why);
                return;
            }
            if (!take_head(p, &hp))
                return;
            if (p->responded) {
                if (p->bc)
                    update_events(p);
                return;
            }
            if (!p->in_len)
                break;
        }
    }
    update_events(p);
}

void pt_px_on_io(struct px *p, int revents)
{
    if ((revents & EV_WRITE) && (!pump_request(p) || !p->bc))
        return;
    if (!(revents & EV_READ))
        return;
    if (!p->responded) {
        read_head(p);
    } else if (p->waiting) {
        p->waiting = false;
        update_events(p);
        pt_req_resume(p->r);
    } else {
        update_events(p);
    }
}

/* The backend connection's interest: writable while the request waits for
 * the socket; readable while the head is awaited or the body source waits
 * (not otherwise: a client that does not read stops the backend). */
static void update_events(struct px *p)
{
    struct pt_conn *c = pt_px_transport(p->bc);
    int ev = 0;
    if (p->want_write && (!p->responded || p->tunnel))
        ev |= EV_WRITE;
    if (!p->responded || p->waiting)
        ev |= EV_READ;
    pt_conn_set_events(c, ev);
}

/* ---- the response body (pulled by the client's protocol) ------------------ */

static ssize_t raw_read(struct px *p, char *buf, size_t len)
{
    if (p->in_off < p->in_len) {
        size_t n = p->in_len - p->in_off;
        if (n > len)
            n = len;
        memcpy(buf, p->in + p->in_off, n);
        p->in_off += n;
        return (ssize_t)n;
    }
    if (!p->bc)
        return PT_BODY_ERROR;
    ssize_t n = pt_conn_recv(pt_px_transport(p->bc), buf, len);
    if (n < 0 && errno == EAGAIN) {
        p->waiting = true;
        arm(p, p->pm->o.read_timeout);
        update_events(p);
        return PT_BODY_AGAIN;
    }
    if (n > 0)
        arm(p, p->pm->o.read_timeout);
    return n < 0 ? PT_BODY_ERROR : n;
}

/* The chunked response's trailer fields go to the client. */
static void pass_trailers(struct px *p)
{
    const struct h1_chunked *d = p->dechunk;
    struct h1_span n, v;
    for (size_t pos = 0; h1_chunked_trailer_next(d, &pos, &n, &v);)
        pt_resp_trailer(p->r, d->trailers + n.off, n.len, d->trailers + v.off, v.len);
}

static ssize_t body_read(struct pt_req *r, char *buf, size_t len)
{
    struct px *p = r->handler_ctx;
    if (!p || p->resp_err)
        return PT_BODY_ERROR;
    for (;;) {
        if (p->resp_done)
            return 0;
        size_t want = len;
        if (!p->resp_chunked && !p->resp_close_delimited && (uint64_t)p->resp_left < want)
            want = (size_t)p->resp_left;
        ssize_t n = raw_read(p, buf, want);
        if (n == PT_BODY_AGAIN)
            return n;
        if (n < 0 || (n == 0 && !p->resp_close_delimited)) {
            abort_response(p, n == 0 ? "backend closed the connection mid-body"
                                     : "backend connection failed mid-body");
            return PT_BODY_ERROR;
        }
        if (n == 0) { /* close-delimited: the end */
            p->resp_done = true;
            exchange_done(p);
            return 0;
        }
        size_t out = (size_t)n;
        if (p->resp_chunked) {
            bool done = false;
            ssize_t used = h1_chunked_decode(p->dechunk, buf, (size_t)n, &out, &done);
            if (used < 0) {
                abort_response(p, "invalid chunked response body");
                return PT_BODY_ERROR;
            }
            if (done) {
                p->resp_done = true;
                pass_trailers(p);
                /* Bytes after the last chunk: the connection is not clean. */
                if ((size_t)used < (size_t)n || p->in_off < p->in_len)
                    p->resp_keep_alive = false;
                exchange_done(p);
            }
            if (out == 0) {
                if (p->resp_done)
                    return 0;
                continue;
            }
            return (ssize_t)out;
        }
        if (!p->resp_close_delimited) {
            p->resp_left -= n;
            if (p->resp_left == 0) {
                p->resp_done = true;
                if (p->in_off < p->in_len)
                    p->resp_keep_alive = false;
                exchange_done(p);
            }
        }
        return n;
    }
}

static const struct pt_body_ops body_ops = {.read = body_read};

/* ---- the handler's entry ---------------------------------------------------- */

static void on_finish(struct pt_req *r)
{
    struct px *p = r->handler_ctx;
    if (p)
        pt_px_free(p); /* an exchange cut short closes its connection */
}

void pt_px_handle(struct pt_req *r, const struct px_mount *pm, struct px_route *route)
{
    struct px_pool *pool = pt_px_choose(route);
    if (!pool) {
        pt_warn("proxy %s: every origin of %s is backed off; 502", pm->ups[0].name,
                r->mount->mountpoint);
        pt_respond_error(r, 502, "no healthy backend");
        return;
    }
    struct px *p = calloc(1, sizeof(*p));
    if (!p) {
        pt_respond_error(r, 500, "out of memory");
        return;
    }
    p->r = r;
    p->pm = pm;
    p->route = route;
    p->started = ev_time();
    p->pool = pool;
    ev_init(&p->timer, on_timer);
    p->timer.data = p;
    p->upgrade = r->upgrade && pm->o.websocket;
    p->body_length = r->content_length;
    if (r->has_body || p->upgrade)
        pt_req_body_keep(r); /* read once the backend is connected */
    r->handler_ctx = p;
    r->on_finish = on_finish;
    r->on_body_ready = on_body_ready;
    if (pm->o.buffering && r->has_body && !p->upgrade)
        pt_px_spool_start(p); /* then pt_px_begin() */
    else
        pt_px_begin(p);
}

void pt_px_begin(struct px *p)
{
    arm(p, p->pm->o.connect_timeout);
    pt_px_acquire(p);
}
