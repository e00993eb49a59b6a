/* proxy-h2: requests to an origin as streams of shared HTTP/2
 * connections (nghttp2; the session I/O is h2/session.c's, as for the
 * server).
 *
 * Per worker and origin, every request joins a connection that has a free
 * stream (up to the backend's SETTINGS_MAX_CONCURRENT_STREAMS); requests
 * made while a connection is being set up wait on it and all join it at
 * once when it is ready.  A full set of connections (proxy-max-conns)
 * queues further requests in the pool.  GOAWAY drains a connection: its
 * streams finish, new ones go elsewhere, and the streams the backend
 * refused are retried once on a new connection.
 *
 * An idle connection is kept for proxy-keepalive-timeout and, every
 * proxy-ping-interval, sent a PING: a backend (or a middlebox) that has
 * silently dropped it does not ACK within proxy-read-timeout, and the
 * connection is closed before a request is given to it.
 *
 * Backpressure: response DATA is held per stream (pt_h2_buf) and the
 * stream's window reopened only as the client takes it; the request body
 * is pulled from the client only when nghttp2 can send it. */
#include "proxy/proxy.h"

#include <errno.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/conn.h"
#include "gateway/fmt.h"
#include "gateway/http.h"
#include "gateway/log.h"
#include "gateway/pool.h"
#include "gateway/request.h"
#include "gateway/worker.h"

#define STREAM_WINDOW (1 << 20)
#define CONN_WINDOW (8 << 20)
#define DEFAULT_STREAMS 100    /* until the backend's SETTINGS say */

struct px_h2conn {
    struct pt_h2_io io;       /* first: the session over the transport */
    struct px_pool *pool;
    struct px_h2conn *next;   /* the pool's HTTP/2 connections */
    struct px *streams;       /* exchanges with a stream on it */
    struct px *pending;       /* waiting for it to be ready */
    unsigned n_streams, n_pending;
    double idle_since;        /* ev_now when the last stream ended */
    bool ready, going_away, handshaking;
    bool ping_out;            /* a PING awaits its ACK */
};

static const struct pt_body_ops body_ops;
static nghttp2_session_callbacks *callbacks;

static const char *name_of(const struct px_h2conn *h)
{
    return h->pool->u->name;
}

static void unlink_px(struct px **list, struct px *p)
{
    while (*list && *list != p)
        list = &(*list)->snext;
    if (*list)
        *list = p->snext;
    p->snext = NULL;
}

static bool idle(const struct px_h2conn *h)
{
    return h->ready && !h->n_streams && !h->n_pending;
}

/* Call after a stream or a waiting request left h.  One that takes
 * nothing new ends with its last stream (GOAWAY; closed once sent). */
static void note_idle(struct px_h2conn *h)
{
    if (idle(h) && h->going_away) {
        nghttp2_session_terminate_session(h->io.session, NGHTTP2_NO_ERROR);
        pt_h2_io_schedule_flush(&h->io);
    } else if (idle(h)) {
        h->idle_since = ev_now(h->pool->w->loop);
        pt_conn_timer_update(h->io.c);
    }
}

static unsigned max_streams(const struct px_h2conn *h)
{
    if (!h->ready)
        return DEFAULT_STREAMS;
    uint32_t n = nghttp2_session_get_remote_settings(h->io.session,
                                                     NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    return n < 1000 ? n : 1000;
}

/* ---- submitting a request as a stream ------------------------------------- */

static nghttp2_nv nv(const char *n, size_t nl, const char *v, size_t vl)
{
    nghttp2_nv x = {(uint8_t *)n, (uint8_t *)v, nl, vl, NGHTTP2_NV_FLAG_NONE};
    return x;
}

/* The client's request trailers (those that may be trailers) as the
 * stream's last HEADERS frame. */
static int submit_trailers(nghttp2_session *session, int32_t sid, struct pt_req *r)
{
    nghttp2_nv *nva = pt_pool_alloc(r->pool, r->n_req_trailers * sizeof(*nva));
    size_t k = 0;
    for (size_t i = 0; i < r->n_req_trailers; i++) {
        const struct pt_hdr *x = &r->req_trailers[i];
        if (pt_http_trailer_allowed(x->name, x->name_len))
            nva[k++] = nv(pt_h2_lower(r->pool, x->name, x->name_len), x->name_len, x->value,
                          x->value_len);
    }
    return k ? nghttp2_submit_trailer(session, sid, nva, k) : -1;
}

static ssize_t read_body(nghttp2_session *session, int32_t sid, uint8_t *buf, size_t len,
                         uint32_t *flags, nghttp2_data_source *source, void *ud)
{
    (void)ud;
    struct px *p = source->ptr;
    ssize_t n = pt_px_body_read(p, (char *)buf, len);
    if (n == PT_BODY_AGAIN) {
        p->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (n < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the stream is reset */
    p->body_started = true;
    if (n == 0) {
        p->body_done = true;
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (p->r->n_req_trailers && submit_trailers(session, sid, p->r) == 0)
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM; /* they end the stream */
    }
    return n;
}

static void submit(struct px_h2conn *h, struct px *p)
{
    struct pt_req *r = p->r;
    struct px_fields f;
    pt_px_request_fields(p, &f);
    nghttp2_nv *nva = pt_pool_alloc(r->pool, (f.n + 7) * sizeof(*nva));
    size_t k = 0;
    const char *scheme = h->pool->u->tls ? "https" : "http";
    nva[k++] = nv(":method", 7, r->method_str, r->method_len);
    nva[k++] = nv(":scheme", 7, scheme, strlen(scheme));
    nva[k++] = nv(":authority", 10, f.authority, f.authority_len);
    nva[k++] = nv(":path", 5, f.target, f.target_len);
    for (size_t i = 0; i < f.n; i++) {
        const struct pt_hdr *x = &f.v[i];
        if (pt_http_connection_specific(x->name, x->name_len) ||
            pt_http_name_is(x->name, x->name_len, "te"))
            continue;
        nva[k++] = nv(pt_h2_lower(r->pool, x->name, x->name_len), x->name_len, x->value,
                      x->value_len);
    }
    size_t tl;
    const char *te = pt_req_header(r, "te", &tl);
    if (te && pt_http_list_has(te, tl, "trailers", 8))
        nva[k++] = nv("te", 2, "trailers", 8); /* the client takes trailers (gRPC) */
    if (r->has_body && p->body_length >= 0) {
        char *cl = pt_pool_alloc(r->pool, 24);
        nva[k++] = nv("content-length", 14, cl, pt_fmt_u64(cl, (uint64_t)p->body_length));
    }
    nghttp2_data_provider dp = {.source.ptr = p, .read_callback = read_body};
    p->body_done = !r->has_body;
    int32_t sid = nghttp2_submit_request(h->io.session, NULL, nva, k,
                                         r->has_body ? &dp : NULL, p);
    if (sid < 0) {
        pt_warn("proxy %s: cannot open a stream: %s", name_of(h), nghttp2_strerror(sid));
        p->h2c = NULL;
        pt_px_conn_failed(p, EIO);
        return;
    }
    p->sid = sid;
    p->h2c = h;
    p->connected = true;
    p->timer.repeat = p->pm->o.read_timeout;
    ev_timer_again(r->loop, &p->timer);
    p->snext = h->streams;
    h->streams = p;
    h->n_streams++;
    pt_debug("proxy %s: %.*s %.*s as stream %d", name_of(h), (int)r->method_len,
             r->method_str, (int)f.target_len, f.target, sid);
}

static struct px *pop_pending(struct px_h2conn *h);

/* The connection is ready: every request that waited joins it at once. */
static void join_pending(struct px_h2conn *h)
{
    for (struct px *p; (p = pop_pending(h));)
        submit(h, p);
    pt_h2_io_schedule_flush(&h->io);
}

/* ---- the response ------------------------------------------------------------ */

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
    (void)flags;
    (void)ud;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    struct px *p = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (!p)
        return 0;
    struct pt_req *r = p->r;
    if (p->responded) { /* trailers: passed on */
        pt_resp_trailer(r, (const char *)name, nl, (const char *)value, vl);
        return 0;
    }
    if (nl == 7 && memcmp(name, ":status", 7) == 0) {
        p->status = 0;
        for (size_t i = 0; i < vl && i < 3; i++)
            p->status = p->status * 10 + (value[i] - '0');
        p->n_rh = 0;
        return 0;
    }
    struct pt_hdr *h = pt_hdr_push(r->pool, &p->rh, &p->n_rh, &p->cap_rh);
    h->name = pt_pool_strndup(r->pool, (const char *)name, nl);
    h->name_len = nl;
    h->value = pt_pool_strndup(r->pool, (const char *)value, vl);
    h->value_len = vl;
    return 0;
}

/* A complete response head: interim ones go on (103), the final one
 * starts the client's response. */
static void take_head(struct px *p, bool end_stream)
{
    struct pt_req *r = p->r;
    if (p->status < 200) {
        if (p->status != 100)
            pt_respond_interim(r, p->status, p->rh, p->n_rh);
        p->n_rh = 0;
        return;
    }
    int64_t length = -1;
    for (size_t i = 0; i < p->n_rh; i++) {
        const struct pt_hdr *h = &p->rh[i];
        if (pt_http_name_is(h->name, h->name_len, "content-length"))
            length = strtoll(h->value, NULL, 10); /* nghttp2 checked it */
        else if (!pt_http_hop_by_hop(h->name, h->name_len))
            pt_px_response_field(p, h->name, h->name_len, h->value, h->value_len);
    }
    bool no_body = r->method == PT_M_HEAD || !pt_http_status_has_body(p->status);
    p->responded = true;
    p->rbuf_eof = p->rbuf_eof || end_stream;
    if (p->h2c)
        pt_px_note_upstream(p, p->h2c->io.c);
    pt_respond(r, p->status, no_body && r->method != PT_M_HEAD ? 0 : length,
               no_body && r->method != PT_M_HEAD ? NULL : &body_ops, p);
}

static void wake(struct px *p)
{
    if (p->waiting) {
        p->waiting = false;
        pt_req_resume(p->r);
    }
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
    struct px_h2conn *h = ud;
    if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK)) {
        h->ping_out = false;
        return 0;
    }
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        h->going_away = true;
        pt_info("proxy %s: GOAWAY (last stream %d): draining", name_of(h),
                frame->goaway.last_stream_id);
        return 0;
    }
    struct px *p = frame->hd.stream_id
                       ? nghttp2_session_get_stream_user_data(s, frame->hd.stream_id) : NULL;
    if (!p)
        return 0;
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (frame->hd.type == NGHTTP2_HEADERS && !p->responded) {
        ev_timer_again(p->r->loop, &p->timer);
        take_head(p, end);
        if (p->responded)
            ev_timer_stop(p->r->loop, &p->timer); /* the client's pace now */
    } else if (end) {
        p->rbuf_eof = true;
        wake(p);
    }
    return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data,
                   size_t len, void *ud)
{
    (void)flags;
    (void)ud;
    struct px *p = nghttp2_session_get_stream_user_data(s, sid);
    if (!p) {
        nghttp2_session_consume(s, sid, len);
        return 0;
    }
    if (pt_h2_buf_append(&p->rbuf, data, len) < 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (p->waiting)
        ev_timer_stop(p->r->loop, &p->timer);
    wake(p);
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t sid, uint32_t code, void *ud)
{
    struct px_h2conn *h = ud;
    h->n_streams--;
    struct px *p = nghttp2_session_get_stream_user_data(s, sid);
    if (p) {
        nghttp2_session_set_stream_user_data(s, sid, NULL);
        unlink_px(&h->streams, p);
        /* The stream is over: what it holds stays readable without it. */
        if (p->rbuf.len)
            nghttp2_session_consume_connection(s, p->rbuf.len);
        p->h2c = NULL;
        if (code == NGHTTP2_NO_ERROR && p->rbuf_eof) {
            wake(p);
        } else if (!p->responded) {
            if (code == NGHTTP2_REFUSED_STREAM && !p->retried && pt_px_body_rewind(p)) {
                /* Refused (GOAWAY, or too many streams): once more,
                 * elsewhere. */
                p->retried = true;
                p->sid = 0;
                pt_px_acquire(p);
            } else {
                char why[96];
                snprintf(why, sizeof(why), "stream reset by the backend (%s)",
                         nghttp2_http2_strerror(code));
                pt_px_tls_failed(p, why); /* a 502 with that note */
            }
        } else {
            p->resp_err = true;
            pt_warn("proxy %s: stream %d reset mid-body (%s): response aborted", name_of(h),
                    sid, nghttp2_http2_strerror(code));
            wake(p);
        }
    }
    pt_px_serve_queue(h->pool);
    note_idle(h);
    return 0;
}

/* ---- the response body, pulled by the client's protocol ------------------------ */

static ssize_t body_read(struct pt_req *r, char *buf, size_t len)
{
    struct px *p = r->handler_ctx;
    if (!p || p->resp_err)
        return PT_BODY_ERROR;
    if (p->rbuf.len) {
        struct px_h2conn *h = p->h2c;
        size_t n;
        if (h) {
            n = pt_h2_buf_take(&h->io, p->sid, &p->rbuf, buf, len);
            pt_h2_io_schedule_flush(&h->io); /* the window update */
        } else {
            n = p->rbuf.len < len ? p->rbuf.len : len;
            memcpy(buf, p->rbuf.data, n);
            memmove(p->rbuf.data, p->rbuf.data + n, p->rbuf.len - n);
            p->rbuf.len -= n;
        }
        return (ssize_t)n;
    }
    if (p->rbuf_eof)
        return 0;
    if (!p->h2c)
        return PT_BODY_ERROR; /* the stream ended without its end */
    p->waiting = true;
    p->timer.repeat = p->pm->o.read_timeout; /* the backend's silence */
    ev_timer_again(r->loop, &p->timer);
    return PT_BODY_AGAIN;
}

static const struct pt_body_ops body_ops = {.read = body_read};

void pt_px_h2_body_ready(struct px *p)
{
    if (p->h2c && p->deferred) {
        p->deferred = false;
        nghttp2_session_resume_data(p->h2c->io.session, p->sid);
        pt_h2_io_schedule_flush(&p->h2c->io);
    }
}

void pt_px_h2_detach(struct px *p)
{
    struct px_h2conn *h = p->h2c;
    if (!h)
        return;
    p->h2c = NULL;
    if (!p->sid) {
        unlink_px(&h->pending, p);
        h->n_pending--;
        note_idle(h);
        return;
    }
    /* The client went away, or the exchange failed: the stream is
     * cancelled, its held bytes returned to the connection's window. */
    nghttp2_session_set_stream_user_data(h->io.session, p->sid, NULL);
    unlink_px(&h->streams, p);
    if (p->rbuf.len)
        nghttp2_session_consume(h->io.session, p->sid, p->rbuf.len);
    p->rbuf.len = 0;
    nghttp2_submit_rst_stream(h->io.session, NGHTTP2_FLAG_NONE, p->sid, NGHTTP2_CANCEL);
    pt_h2_io_schedule_flush(&h->io);
}

/* ---- the connection ------------------------------------------------------------ */

/* The next request waiting for h, off its list (NULL: none). */
static struct px *pop_pending(struct px_h2conn *h)
{
    struct px *p = h->pending;
    if (p) {
        h->pending = p->snext;
        h->n_pending--;
        p->snext = NULL;
        p->h2c = NULL;
    }
    return p;
}

static void fail_all(struct px_h2conn *h, int err)
{
    h->going_away = true; /* retries go to another connection */
    for (struct px *p; (p = pop_pending(h));)
        pt_px_conn_failed(p, err);
    while (h->streams) {
        struct px *p = h->streams;
        h->streams = p->snext;
        p->snext = NULL;
        p->h2c = NULL;
        pt_px_conn_failed(p, err);
    }
}

static bool start_session(struct px_h2conn *h)
{
    nghttp2_option *opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_session *s;
    int rv = nghttp2_session_client_new2(&s, callbacks, h, opt);
    nghttp2_option_del(opt);
    if (rv != 0)
        return false;
    struct pt_conn *c = h->io.c;
    const struct pt_h2_io_ops *ops = h->io.ops;
    pt_h2_io_init(&h->io, c, s, ops, 0);
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
    };
    nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
    nghttp2_session_set_local_window_size(s, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
    h->ready = true;
    h->pool->backoff = 0;
    join_pending(h);
    note_idle(h);
    return true;
}

static void h2c_on_io(struct pt_conn *c, int revents)
{
    struct px_h2conn *h = c->session;
    if (c->connecting) {
        int err = pt_conn_connect_result(c);
        if (err) {
            fail_all(h, err);
            pt_conn_close(c);
            return;
        }
        pt_conn_set_events(c, 0);
        const struct px_mount *pm = h->pool->pm;
        if (pm->tls) {
            static const unsigned char alpn[] = "\x02h2";
            if (pt_tls_client_start(c, pm->tls, h->pool->u->host, alpn, sizeof(alpn) - 1,
                                    &h->pool->session) < 0) {
                fail_all(h, ENOMEM);
                pt_conn_close(c);
                return;
            }
            h->handshaking = true;
        } else if (!start_session(h)) {
            fail_all(h, ENOMEM);
            pt_conn_close(c);
            return;
        } else {
            pt_h2_io_flush(&h->io);
            return;
        }
    }
    if (h->handshaking) {
        char why[256];
        int rc = pt_tls_client_step(c, why, sizeof(why));
        if (rc == 0)
            return;
        if (rc > 0) {
            const unsigned char *proto = NULL;
            unsigned len = 0;
            SSL_get0_alpn_selected(c->ssl, &proto, &len);
            if (len != 2 || memcmp(proto, "h2", 2) != 0) {
                /* No h2 from this origin: its requests go over HTTP/1.1
                 * from now on (said once), these ones included. */
                pt_warn("proxy %s: the backend did not agree to HTTP/2 (ALPN); using "
                        "HTTP/1.1", name_of(h));
                h->pool->h2_refused = true;
                for (struct px *p; (p = pop_pending(h));)
                    pt_px_acquire(p);
                pt_conn_close(c);
                return;
            }
        }
        if (rc < 0) {
            for (struct px *p; (p = pop_pending(h));)
                pt_px_tls_failed(p, why);
            pt_conn_close(c);
            return;
        }
        h->handshaking = false;
        if (!start_session(h)) {
            fail_all(h, ENOMEM);
            pt_conn_close(c);
            return;
        }
        pt_h2_io_flush(&h->io);
        return;
    }
    if (c->ssl_want_write && (revents & EV_WRITE))
        revents |= EV_READ;
    if ((revents & EV_READ) && !pt_h2_io_read(&h->io))
        return;
    pt_h2_io_flush(&h->io);
}

/* Idle: until the next PING, the ACK's deadline, or the end of
 * proxy-keepalive-timeout, whichever comes first (from the last byte). */
static double h2c_timeout(const struct pt_conn *c)
{
    const struct px_h2conn *h = c->session;
    if (!idle(h))
        return 0; /* each stream has its own timer */
    const struct pt_proxy_opts *o = &h->pool->pm->o;
    double t = h->idle_since + o->keepalive_timeout - c->last_activity;
    double ping = h->ping_out ? o->read_timeout : o->ping_interval;
    if (ping > 0 && ping < t)
        t = ping;
    return t > 0.001 ? t : 0.001;
}

static bool h2c_expired(struct pt_conn *c)
{
    struct px_h2conn *h = c->session;
    const struct pt_proxy_opts *o = &h->pool->pm->o;
    if (!idle(h) || h->going_away)
        return false;
    if (h->ping_out) {
        pt_warn("proxy %s: no PING ACK from the idle backend connection in %ds; closing",
                name_of(h), o->read_timeout);
        return false;
    }
    if (o->ping_interval <= 0 ||
        ev_now(c->w->loop) >= h->idle_since + o->keepalive_timeout - 0.001) {
        pt_debug("proxy %s: idle HTTP/2 connection closed", name_of(h));
        return false;
    }
    uint8_t data[8] = "portico";
    if (nghttp2_submit_ping(h->io.session, NGHTTP2_FLAG_NONE, data) != 0)
        return false;
    h->ping_out = true;
    pt_h2_io_schedule_flush(&h->io); /* not now: a failed write would free c */
    return true;
}

static void h2c_drain(struct pt_conn *c)
{
    struct px_h2conn *h = c->session;
    h->going_away = true;
    if (!h->n_streams && !h->n_pending)
        pt_conn_close(c);
}

static void h2c_destroy(struct pt_conn *c)
{
    struct px_h2conn *h = c->session;
    if (!h)
        return;
    c->session = NULL;
    struct px_h2conn **pp = &h->pool->h2conns;
    while (*pp && *pp != h)
        pp = &(*pp)->next;
    if (*pp)
        *pp = h->next;
    h->pool->n_open--;
    pt_px_gauge(h->pool, -1, 0, 0);
    struct px_pool *pool = h->pool;
    fail_all(h, ECONNRESET);
    if (h->io.session)
        nghttp2_session_del(h->io.session);
    free(h);
    pt_px_serve_queue(pool);
}

static const struct pt_conn_ops h2c_ops = {
    .name = "proxy HTTP/2 backend",
    .on_io = h2c_on_io,
    .timeout = h2c_timeout,
    .expired = h2c_expired,
    .drain = h2c_drain,
    .destroy = h2c_destroy,
};

static bool on_recv_failed(struct pt_h2_io *io, int rv)
{
    struct px_h2conn *h = (struct px_h2conn *)io;
    pt_warn("proxy %s: HTTP/2 from the backend: %s", name_of(h), nghttp2_strerror(rv));
    io->closing = true;
    return true;
}

/* Nothing left and nothing coming: the connection goes (GOAWAY, closed). */
static void on_finished(struct pt_h2_io *io)
{
    pt_conn_close(io->c);
}

static const struct pt_h2_io_ops io_ops = {
    .recv_failed = on_recv_failed,
    .finished = on_finished,
};

static void make_callbacks(void)
{
    if (callbacks)
        return;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

void pt_px_h2_retire(struct px_pool *pool)
{
    for (struct px_h2conn *h = pool->h2conns, *next; h; h = next) {
        next = h->next; /* h may close */
        h2c_drain(h->io.c);
    }
}

bool pt_px_h2_acquire(struct px *p)
{
    struct px_pool *pool = p->pool;
    pthread_once(&once, make_callbacks);
    for (struct px_h2conn *h = pool->h2conns; h; h = h->next) {
        if (h->going_away || h->n_streams + h->n_pending >= max_streams(h))
            continue;
        if (h->ready) {
            submit(h, p);
            pt_h2_io_schedule_flush(&h->io);
        } else {
            p->h2c = h;
            p->snext = h->pending;
            h->pending = p;
            h->n_pending++;
        }
        return true;
    }
    if (pool->n_open >= (unsigned)pool->pm->o.max_conns)
        return false;
    int err;
    struct pt_conn *c = pt_px_connect(pool, &h2c_ops, &err);
    if (!c) {
        pt_px_conn_failed(p, err);
        return true;
    }
    struct px_h2conn *h = calloc(1, sizeof(*h));
    if (!h) {
        pt_conn_close(c);
        pt_px_conn_failed(p, ENOMEM);
        return true;
    }
    h->pool = pool;
    h->going_away = pool->retired; /* its streams only, then it closes */
    h->io.c = c;
    h->io.ops = &io_ops;
    c->session = h;
    pool->n_open++;
    pt_px_gauge(pool, 1, 0, 0);
    h->next = pool->h2conns;
    pool->h2conns = h;
    p->h2c = h;
    p->snext = NULL;
    h->pending = p;
    h->n_pending = 1;
    return true;
}
