/* HTTP/1.x connections: reading and parsing heads, request bodies,
 * serializing responses, keep-alive, pipelining, timeouts and lingering
 * close.
 *
 * Memory: an idle connection holds only struct pt_conn.  Fresh bytes are
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

#include "config.h"
#include "conn.h"
#include "fmt.h"
#include "httpdate.h"
#include "log.h"
#include "request.h"
#include "urlpath.h"
#include "worker.h"

#define SENDFILE_MIN 8192      /* smaller bodies are copied with the head */
#define WRITE_BUDGET (1 << 20) /* bytes per event before yielding the loop */

static void h1_respond(struct pt_req *r);
static void h1_resume(struct pt_req *r);
static ssize_t h1_body_read(struct pt_req *r, char *buf, size_t len);
static const struct pt_proto h1_proto = {"HTTP/1.1", h1_respond, h1_resume, h1_body_read};

static bool process_input(struct pt_conn *c, char *data, size_t len, bool retained);
static bool pump(struct pt_conn *c);
static void update_events(struct pt_conn *c);
static void retain(struct pt_conn *c, const char *data, size_t len,
                   const struct h1_parser *state);

/* ---- small helpers ---------------------------------------------------- */

static bool body_pending(const struct pt_conn *c)
{
    return c->chunked || c->body_left > 0;
}

/* ---- lifecycle -------------------------------------------------------- */

static void free_request(struct pt_conn *c)
{
    if (!c->req)
        return;
    pt_req_finish(c->req);
    pt_pool_free(c->req->pool);
    c->req = NULL;
}

static void start_linger(struct pt_conn *c);

static void h1_drain(struct pt_conn *c)
{
    if (c->state == PT_CONN_READING && !c->req)
        pt_conn_close(c);
    else if (c->state == PT_CONN_DISCARD)
        start_linger(c);
    else
        c->close_after = true;
}

static void h1_destroy(struct pt_conn *c)
{
    free_request(c); /* an aborted exchange still gets its log line */
    free(c->in);
    c->in = NULL;
    free(c->chunked);
    c->chunked = NULL;
}

/* ---- response head ---------------------------------------------------- */

static bool status_has_body(int status)
{
    return !(status < 200 || status == 204 || status == 304);
}

/* Appends "Name: value\r\n" if it fits; the head must fit in one buffer. */
static bool head_add(struct pt_conn *c, const char *name, size_t nlen,
                     const char *value, size_t vlen)
{
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
    struct pt_conn *c = r->proto_ctx;
    pt_conn_out_reserve(c);
    if (c->close_after)
        c->keep_alive = false;
    bool body = status_has_body(r->status) && r->method != PT_M_HEAD && r->body;
    if (!r->body && r->resp_length < 0)
        r->resp_length = 0;
    if (status_has_body(r->status) && r->resp_length < 0) {
        if (r->version >= 11)
            c->chunked_out = body;
        else
            c->keep_alive = false; /* close-delimited */
    }
    if (c->expect_100 && body_pending(c) && c->keep_alive) {
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
    ok = ok && head_add(c, "Date", 4, pt_httpdate_now(), PT_HTTPDATE_LEN);
    const char *server = c->conf->g.server_string;
    if (ok && server && *server)
        ok = head_add(c, "Server", 6, server, strlen(server));
    if (ok && status_has_body(r->status) && r->resp_length >= 0) {
        n = pt_fmt_u64(line, (uint64_t)r->resp_length);
        ok = head_add(c, "Content-Length", 14, line, n);
    }
    if (ok && c->chunked_out)
        ok = head_add(c, "Transfer-Encoding", 17, "chunked", 7);
    if (ok && !c->keep_alive)
        ok = head_add(c, "Connection", 10, "close", 5);
    else if (ok && r->version == 10)
        ok = head_add(c, "Connection", 10, "keep-alive", 10);
    for (size_t i = 0; ok && i < r->n_resp_hdrs; i++) {
        const struct pt_hdr *h = &r->resp_hdrs[i];
        ok = head_add(c, h->name, h->name_len, h->value, h->value_len);
    }
    if (ok && pt_conn_out_space(c) >= 2)
        pt_conn_out_put(c, "\r\n", 2);
    else
        ok = false;
    if (!ok) {
        /* Cannot happen with sane handlers: headers are bounded. */
        pt_err("response head for %s larger than %d bytes", r->path, PT_OUTBUF_SIZE);
        c->keep_alive = false;
        c->close_after = true;
        c->body_done = true;
        c->out_len = c->out_off = 0;
        c->head_sent = true;
        return;
    }
    c->head_sent = true;
    c->body_done = !body;
    c->expect_100 = false; /* a final response answers the expectation */
    /* Inside dispatch, process_input() pumps right after; a response from
     * the handler's own events is pumped from the loop. */
    if (!c->in_dispatch) {
        c->want_write = true;
        update_events(c);
    }
}

static void h1_resume(struct pt_req *r)
{
    struct pt_conn *c = r->proto_ctx;
    c->waiting_body = false;
    /* Let the loop call us back: the source may still be on the stack. */
    c->want_write = true;
    update_events(c);
}

/* ---- event interest --------------------------------------------------- */

/* What the connection waits for follows from its state, in one place. */
static void update_events(struct pt_conn *c)
{
    int ev = 0;
    switch (c->state) {
    case PT_CONN_READING:
        ev = c->eof ? 0 : EV_READ;
        break;
    case PT_CONN_DISCARD:
        ev = EV_READ;
        break;
    case PT_CONN_ACTIVE:
        /* Read only to consume the request body: pipelined requests wait in
         * the socket until this response is done (backpressure).  While the
         * handler is silent (no answer yet, or its body source waits),
         * watch the socket anyway to notice a client that leaves. */
        if (body_pending(c) && !c->eof && (!c->req->body_taken || c->body_wait))
            ev |= EV_READ;
        else if (!body_pending(c) && !c->eof && !c->peeked &&
                 (!c->req->responded || c->waiting_body))
            ev |= EV_READ;
        if (c->want_write && (!c->waiting_body || (c->out && c->out_off < c->out_len)))
            ev |= EV_WRITE;
        break;
    }
    pt_conn_set_events(c, ev);
    pt_conn_timer_update(c);
}

/* ---- body pump -------------------------------------------------------- */

/* Writes the head with MSG_MORE when file data follows by sendfile, so
 * the head and the first data share packets (as TCP_CORK would). */
static int flush_more(struct pt_conn *c)
{
    while (c->out && c->out_off < c->out_len) {
        ssize_t n = send(c->io.fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_MORE | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        c->out_off += (uint32_t)n;
        c->last_activity = ev_now(c->w->loop);
    }
    if (c->out)
        c->out_len = c->out_off = 0;
    return 1;
}

static bool finish_exchange(struct pt_conn *c);

/* Moves body bytes to the socket until it would block, the source has
 * nothing, or the response is complete.  Returns false if c was closed. */
static bool pump(struct pt_conn *c)
{
    struct pt_req *r = c->req;
    size_t budget = WRITE_BUDGET;
    c->want_write = false;
    while (!c->body_done && !c->waiting_body) {
        int fd;
        off_t off;
        size_t left;
        /* Large file bodies go by sendfile(2) once the head is out. */
        if (!c->chunked_out && !c->ssl && r->body->file &&
            r->body->file(r, &fd, &off, &left) == 0 && left >= SENDFILE_MIN) {
            int f = flush_more(c);
            if (f < 0)
                goto fail;
            if (f == 0)
                goto wait_write;
            if (!c->corked && r->resp_length >= 0 &&
                r->bytes_sent + left < (uint64_t)r->resp_length) {
                /* More follows the file range (a gzip trailer, the next
                 * part): hold partial segments so it does not go out as a
                 * packet of its own. */
                int one = 1;
                setsockopt(c->io.fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one));
                c->corked = true;
            }
            size_t chunk = left < budget ? left : budget;
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
                c->body_done = true;
            if (budget <= (size_t)n)
                goto wait_write; /* writable again at once: let others run */
            budget -= (size_t)n;
            continue;
        }
        /* Copy through the output buffer: fill it, then write it. */
        size_t frame = c->chunked_out ? 12 : 0; /* "XXXXXXXX\r\n" + "\r\n" */
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
        char *dst = c->out + c->out_len + (c->chunked_out ? 10 : 0);
        size_t want = room - frame;
        if (r->resp_length >= 0 && (uint64_t)r->resp_length - r->bytes_sent < want)
            want = (size_t)((uint64_t)r->resp_length - r->bytes_sent);
        ssize_t n = want ? r->body->read(r, dst, want) : 0;
        if (n == PT_BODY_AGAIN) {
            c->waiting_body = true;
            break;
        }
        if (n < 0)
            goto fail;
        if (n == 0) {
            if (r->resp_length >= 0 && r->bytes_sent < (uint64_t)r->resp_length) {
                pt_err("%s: body ended %" PRIu64 " bytes short", r->path,
                       (uint64_t)r->resp_length - r->bytes_sent);
                goto fail; /* never let a short body pass as complete */
            }
            c->body_done = true;
            if (c->chunked_out)
                pt_conn_out_put(c, "0\r\n\r\n", 5);
            break;
        }
        if (c->chunked_out) {
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
            c->body_done = true;
    }
    int f = pt_conn_out_flush(c);
    if (f < 0)
        goto fail;
    if (f == 0)
        goto wait_write;
    if (c->body_done) {
        if (c->corked) {
            int zero = 0;
            setsockopt(c->io.fd, IPPROTO_TCP, TCP_CORK, &zero, sizeof(zero));
            c->corked = false;
        }
        return finish_exchange(c);
    }
    update_events(c); /* waiting for the body source */
    return true;
wait_write:
    c->want_write = true;
    update_events(c);
    return true;
fail:
    pt_conn_close(c);
    return false;
}

/* ---- request bodies (discarded: no handler consumes one yet) ---------- */

/* Consumes request-body bytes from data.  Returns bytes consumed or -1 on
 * a framing error (the connection must close). */
static ssize_t consume_body(struct pt_conn *c, char *data, size_t len)
{
    if (c->chunked) {
        size_t out;
        bool done = false;
        ssize_t n = h1_chunked_decode(c->chunked, data, len, &out, &done);
        if (n < 0)
            return -1;
        if (done) {
            free(c->chunked);
            c->chunked = NULL;
            c->body_left = 0;
        }
        return n;
    }
    size_t n = (uint64_t)c->body_left < len ? (size_t)c->body_left : len;
    c->body_left -= (int64_t)n;
    return (ssize_t)n;
}

/* ---- the exchange ----------------------------------------------------- */

static void start_linger(struct pt_conn *c)
{
    pt_conn_linger(c); /* frees our state through h1_destroy */
}

static bool finish_exchange(struct pt_conn *c)
{
    struct pt_req *r = c->req;
    c->last_vhost = r->vhost;
    free_request(c);
    c->head_sent = c->chunked_out = c->body_done = c->waiting_body = false;
    c->want_write = c->body_wait = c->peeked = c->expect_100 = false;
    if (!c->keep_alive || c->close_after) {
        if (c->eof) {
            pt_conn_close(c);
            return false;
        }
        start_linger(c);
        return true;
    }
    /* The rest of an unwanted request body is dropped before the next
     * request is parsed. */
    c->state = body_pending(c) ? PT_CONN_DISCARD : PT_CONN_READING;
    c->last_activity = ev_now(c->w->loop);
    /* The caller goes on with pipelined input, if any. */
    return true;
}

static void init_req(struct pt_conn *c, struct pt_req *r, struct pt_pool *pool)
{
    pt_conn_init_req(c, r, pool, &h1_proto, c, 11);
    c->req = r;
    c->state = PT_CONN_ACTIVE;
    c->served = true;
}

/* A request that could not even be parsed: answer with the built-in error
 * page and close.  Returns false if c was closed. */
static bool reject(struct pt_conn *c, int status, const char *why)
{
    struct pt_pool *pool = pt_pool_new(2048);
    struct pt_req *r = pt_pool_calloc(pool, sizeof(*r));
    init_req(c, r, pool);
    r->vhost = pt_conn_default_vhost(c);
    pt_info("%s:%u: %d %s: %s", r->peer_ip, r->peer_port, status,
            pt_status_reason(status), why);
    c->keep_alive = false;
    c->close_after = true;
    free(c->chunked);
    c->chunked = NULL;
    c->body_left = 0;
    pt_respond_error(r, status, why);
    return pump(c);
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
        const char *s = memchr(t, ':', tlen);
        if (!s || (size_t)(s - t) + 3 > tlen || s[1] != '/' || s[2] != '/')
            return 400;
        const char *auth = s + 3;
        const char *end = t + tlen;
        const char *slash = auth;
        while (slash < end && *slash != '/' && *slash != '?')
            slash++;
        pt_req_set_authority(r, auth, (size_t)(slash - auth));
        tlen = (size_t)(end - slash);
        t = slash;
        if (tlen == 0 || t[0] == '?') {
            char *nt = pt_pool_alloc(r->pool, tlen + 2);
            nt[0] = '/';
            memcpy(nt + 1, t, tlen);
            t = nt;
            tlen++;
        }
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
static struct pt_req *start_request(struct pt_conn *c, const struct h1_parser *p,
                                    const char *head)
{
    struct pt_pool *pool = pt_pool_new(PT_POOL_STD);
    struct pt_req *r = pt_pool_calloc(pool, sizeof(*r));
    init_req(c, r, pool);
    const struct h1_request *q = &p->req;
    c->keep_alive = q->version >= 11 ? !q->conn_close : (q->conn_keep_alive && !q->conn_close);
    c->body_left = q->chunked ? 0 : (q->content_length > 0 ? q->content_length : 0);
    if (q->chunked) {
        c->chunked = malloc(sizeof(*c->chunked));
        if (!c->chunked)
            abort();
        h1_chunked_init(c->chunked);
    }
    int status = build_request(r, p, head);
    if (status) {
        r->vhost = pt_conn_default_vhost(c);
        pt_info("%s:%u: %d %s: invalid request target", r->peer_ip, r->peer_port,
                status, pt_status_reason(status));
        c->keep_alive = false;
        pt_respond_error(r, status, "invalid request target");
        return r;
    }
    /* A body no handler wants is read and dropped at the client's pace
     * (no memory is held for it), keeping the connection usable. */
    /* "100 Continue" goes out when a handler first reads the body, or
     * before a response when the body will be discarded. */
    c->expect_100 = q->expect_continue && r->has_body && r->version >= 11;
    if (c->redirect_https) {
        /* Plain HTTP on a TLS port (allow-non-tls + redirect-http). */
        size_t hlen = 0;
        const char *host = pt_req_header(r, "host", &hlen);
        r->vhost = pt_conn_default_vhost(c);
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
        r->vhost = pt_conn_default_vhost(c);
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
static void body_error(struct pt_conn *c, const char *why)
{
    pt_info("%s:%u: 400 Bad Request: request body: %s", c->req->peer_ip,
            c->req->peer_port, why ? why : "bad framing");
    free(c->chunked);
    c->chunked = NULL;
    c->body_left = 0;
    c->keep_alive = false;
    c->close_after = true;
    if (!c->req->responded) {
        if (!c->req->vhost)
            c->req->vhost = pt_conn_default_vhost(c);
        pt_respond_error(c->req, 400, "invalid request body framing");
    }
}

static void new_inbuf(struct pt_conn *c, size_t need)
{
    size_t cap = (size_t)c->conf->g.max_header_size + 1024;
    if (cap < need)
        cap = need;
    struct pt_inbuf *in = malloc(sizeof(*in) + cap);
    if (!in)
        abort();
    in->cap = cap;
    in->len = 0;
    free(c->in);
    c->in = in;
}

/* Keeps data[0..len) for later: a partial head (state = its parser) or
 * pipelined input (state NULL).  data may point into c->in already. */
static void retain(struct pt_conn *c, const char *data, size_t len,
                   const struct h1_parser *state)
{
    if (c->in && data >= c->in->data && data <= c->in->data + c->in->len) {
        memmove(c->in->data, data, len);
    } else {
        new_inbuf(c, len);
        memcpy(c->in->data, data, len);
    }
    c->in->len = len;
    if (state)
        c->in->parser = *state;
    else
        h1_parser_init(&c->in->parser, (size_t)c->conf->g.max_header_size,
                       (size_t)c->conf->g.max_uri_length);
}

/* Whether the chunked body bytes at hand are well framed so far, checked
 * on a copy so that a handler can still read them. */
static bool chunked_prefix_ok(struct pt_conn *c, const char *data, size_t len,
                              const char **why)
{
    struct h1_chunked probe = *c->chunked;
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

static void send_continue(struct pt_conn *c)
{
    c->expect_100 = false;
    c->req->continue_sent = true;
    pt_conn_out_reserve(c);
    pt_conn_out_put(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    if (pt_conn_out_flush(c) > 0)
        pt_conn_out_release(c);
}

/* pt_req_body_read() for HTTP/1: bytes already received wait in c->in;
 * after them the body is read from the socket straight into buf, and only
 * when the handler asks (backpressure). */
static ssize_t h1_body_read(struct pt_req *r, char *buf, size_t len)
{
    struct pt_conn *c = r->proto_ctx;
    r->body_taken = true;
    c->body_wait = false;
    if (!body_pending(c) || c->state != PT_CONN_ACTIVE)
        return 0;
    if (c->expect_100)
        send_continue(c);
    for (;;) {
        size_t want = len;
        if (!c->chunked && (uint64_t)c->body_left < want)
            want = (size_t)c->body_left;
        size_t n;
        bool from_in = c->in && c->in->len;
        if (from_in) {
            n = c->in->len < want ? c->in->len : want;
            memcpy(buf, c->in->data, n);
        } else {
            if (c->eof)
                return PT_BODY_ERROR;
            ssize_t k = pt_conn_recv(c, buf, want);
            if (k < 0) {
                if (errno == EAGAIN) {
                    c->body_wait = true;
                    update_events(c);
                    return PT_BODY_AGAIN;
                }
                return PT_BODY_ERROR;
            }
            if (k == 0) {
                c->eof = true; /* the body was cut short */
                return PT_BODY_ERROR;
            }
            c->last_activity = ev_now(c->w->loop);
            n = (size_t)k;
        }
        size_t used = n, out = n;
        if (c->chunked) {
            bool done = false;
            ssize_t u = h1_chunked_decode(c->chunked, buf, n, &out, &done);
            if (u < 0) {
                c->keep_alive = false;
                c->close_after = true;
                free(c->chunked);
                c->chunked = NULL;
                return PT_BODY_ERROR;
            }
            used = (size_t)u;
            if (done) {
                free(c->chunked);
                c->chunked = NULL;
                c->body_left = 0;
            }
        } else {
            c->body_left -= (int64_t)n;
        }
        if (from_in) {
            memmove(c->in->data, c->in->data + used, c->in->len - used);
            c->in->len -= used;
        } else if (used < n) {
            retain(c, buf + used, n - used, NULL); /* the next request */
        }
        if (out > 0)
            return (ssize_t)out;
        if (!body_pending(c))
            return 0;
        /* only framing was consumed: go on */
    }
}

/* Parses and answers as many requests as data holds, strictly in order.
 * data is the worker's scratch buffer (fresh bytes) or c->in->data
 * (retained; then c->in->parser holds the parse state of data[0..]).
 * Returns false if c was closed. */
static bool process_input(struct pt_conn *c, char *data, size_t len, bool retained)
{
    struct pt_worker *w = c->w;
    size_t off = 0;
    for (;;) {
        if (c->state == PT_CONN_DISCARD) {
            ssize_t n = off < len ? consume_body(c, data + off, len - off) : 0;
            if (n < 0) {
                pt_info("closing connection: bad chunked request body: %s",
                        c->chunked->error_msg);
                pt_conn_close(c);
                return false;
            }
            off += (size_t)n;
            if (body_pending(c)) {
                if (retained)
                    c->in->len = 0;
                update_events(c);
                return true;
            }
            c->state = PT_CONN_READING;
        }
        if (c->req) {
            /* Body bytes of the request being answered come first; a
             * handler that reads the body takes them from c->in itself. */
            if (body_pending(c) && off < len && !c->req->body_taken) {
                ssize_t n = consume_body(c, data + off, len - off);
                if (n < 0) {
                    body_error(c, c->chunked ? c->chunked->error_msg : NULL);
                    off = len;
                } else {
                    off += (size_t)n;
                }
            }
            if (c->req->responded && !pump(c))
                return false;
            if (c->req) {
                /* Still answering: keep the rest for later. */
                if (off < len)
                    retain(c, data + off, len - off, NULL);
                else if (retained)
                    c->in->len = 0;
                update_events(c);
                return true;
            }
            if (c->state == PT_CONN_LINGER)
                return true;
            if (c->state == PT_CONN_DISCARD)
                continue;
        }
        if (off >= len)
            break;
        struct h1_parser *p;
        if (retained && off == 0) {
            p = &c->in->parser;
        } else {
            p = &w->parser;
            h1_parser_init(p, (size_t)c->conf->g.max_header_size,
                           (size_t)c->conf->g.max_uri_length);
        }
        int rc = h1_parse(p, data + off, len - off);
        if (rc == H1_AGAIN) {
            if (!(retained && off == 0)) /* else it is in place already */
                retain(c, data + off, len - off, p);
            if (c->in->len >= c->in->cap)
                return reject(c, 431, "request head too large");
            update_events(c);
            return true;
        }
        if (rc == H1_ERROR)
            return reject(c, p->error_status, p->error_msg);
        const char *head = data + off;
        off += p->head_len;
        struct pt_req *r = start_request(c, p, head);
        /* Check the body bytes at hand first, so broken framing is a 400
         * rather than a response followed by a reset. */
        const char *why = NULL;
        if (!r->responded && c->chunked && off < len &&
            !chunked_prefix_ok(c, data + off, len - off, &why)) {
            body_error(c, why);
            off = len;
        }
        if (!r->responded) {
            if (retained || (r->has_body && off < len)) {
                /* What follows the head goes to the front of c->in, where a
                 * handler reading the body finds it: never the head's own
                 * bytes, and a fresh parser for what comes after. */
                retain(c, data + off, len - off, NULL);
                data = c->in->data;
                len = c->in->len;
                off = 0;
                retained = true;
            }
            c->in_dispatch = true;
            pt_dispatch(r);
            c->in_dispatch = false;
            if (r->body_taken && r->has_body) {
                /* It consumed from the front of c->in, and what it read
                 * past the body's end (chunked) went there too. */
                retained = c->in != NULL;
                data = retained ? c->in->data : NULL;
                len = retained ? c->in->len : 0;
                off = 0;
            }
        }
    }
    /* All input answered. */
    if (c->in) {
        free(c->in);
        c->in = NULL;
    }
    pt_conn_out_release(c);
    if (c->eof) {
        pt_conn_close(c);
        return false;
    }
    update_events(c);
    return true;
}

/* ---- events ----------------------------------------------------------- */

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define H2_PREFACE_LEN (sizeof(h2_preface) - 1)

/* On a fresh plaintext connection, the HTTP/2 client preface means h2c with
 * prior knowledge.  Returns 1 (switched: c now belongs to HTTP/2), 0 (not
 * h2), -1 (could still be: wait for more bytes). */
static int try_h2c(struct pt_conn *c, const char *data, size_t len)
{
    size_t n = len < H2_PREFACE_LEN ? len : H2_PREFACE_LEN;
    if (memcmp(data, h2_preface, n) != 0)
        return 0;
    if (len < H2_PREFACE_LEN)
        return -1;
    /* data may live in c->in: keep it until HTTP/2 has read it (c itself
     * may be gone by then). */
    struct pt_inbuf *in = c->in;
    c->in = NULL;
    pt_h2_start(c, data, len);
    free(in);
    return 1;
}

static void do_read(struct pt_conn *c)
{
    struct pt_worker *w = c->w;
    bool retained = c->in != NULL;
    char *buf = retained ? c->in->data + c->in->len : w->rbuf;
    size_t cap = retained ? c->in->cap - c->in->len : w->rbuf_cap;
    if (cap == 0) {
        pt_conn_set_events(c, 0); /* cannot happen: heads are limited below cap */
        return;
    }
    ssize_t n = pt_conn_recv(c, buf, cap);
    if (n < 0) {
        if (errno == EAGAIN) {
            update_events(c);
            return;
        }
        pt_conn_close(c);
        return;
    }
    if (n == 0) {
        c->eof = true;
        if (!c->req || body_pending(c)) {
            /* Between requests, or the body never came: nothing to answer. */
            pt_conn_close(c);
            return;
        }
        update_events(c);
        return;
    }
    /* A head has timeout-secs from its first byte in all (a client that
     * trickles it in byte by byte gains nothing); other reads count as
     * progress. */
    if (!(c->state == PT_CONN_READING && retained))
        c->last_activity = ev_now(w->loop);
    char *data = retained ? c->in->data : buf;
    size_t len = retained ? c->in->len + (size_t)n : (size_t)n;
    if (retained)
        c->in->len = len;
    if (!c->served && !c->ssl && !c->redirect_https) {
        int h2 = try_h2c(c, data, len);
        if (h2 > 0)
            return;
        if (h2 < 0) {
            if (!retained)
                retain(c, data, len, NULL);
            return;
        }
    }
    if (!process_input(c, data, len, retained))
        return;
    /* TLS may hold decrypted bytes the socket will not signal again. */
    if (pt_conn_pending(c) && (c->state == PT_CONN_READING || c->state == PT_CONN_DISCARD))
        ev_feed_event(w->loop, &c->io, EV_READ);
}

static void h1_on_io(struct pt_conn *c, int revents)
{
    if (c->ssl_want_write && (revents & EV_WRITE))
        revents |= EV_READ; /* TLS wanted to write to go on reading */
    if (revents & EV_READ) {
        if (c->state == PT_CONN_ACTIVE && c->req && c->req->body_taken && body_pending(c)) {
            /* The handler pulls the body itself. */
            if (c->body_wait) {
                c->body_wait = false;
                update_events(c);
                if (c->req->on_body_ready)
                    c->req->on_body_ready(c->req);
                return; /* a pending write event comes again */
            }
            /* Nobody reads now: TLS can wait for the next read. */
            c->ssl_want_write = false;
            update_events(c);
            revents &= ~EV_READ;
        } else if (c->state == PT_CONN_ACTIVE && !body_pending(c)) {
            /* Only watched for a departing client (see update_events). */
            char b;
            ssize_t n = recv(c->io.fd, &b, 1, MSG_PEEK);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                pt_info("%s: client closed the connection before the response",
                        c->req ? c->req->peer_ip : "?");
                pt_conn_close(c); /* the handler's on_finish stops its work */
                return;
            }
            if (n > 0)
                c->peeked = true; /* a pipelined request: keep it for later */
            c->ssl_want_write = false;
            update_events(c);
            revents &= ~EV_READ;
        } else {
            do_read(c);
            return; /* c may be gone; a write event comes again if needed */
        }
    }
    if (!(revents & EV_WRITE))
        return;
    if (!c->req || !c->req->responded) {
        update_events(c);
        return;
    }
    if (!pump(c))
        return;
    /* Done with that one: answer pipelined input waiting in c->in. */
    if (!c->req && (c->state == PT_CONN_READING || c->state == PT_CONN_DISCARD)) {
        if (c->in && c->in->len)
            process_input(c, c->in->data, c->in->len, true);
        else
            process_input(c, NULL, 0, false);
    }
}

static double h1_timeout(const struct pt_conn *c)
{
    if (c->state == PT_CONN_READING && !c->in) {
        const struct pt_vhost *vh = c->last_vhost ? c->last_vhost : pt_conn_default_vhost(c);
        return vh ? vh->keepalive_timeout : 60;
    }
    if (c->body_wait)
        return c->conf->g.timeout_secs; /* the client stalls its body */
    if (c->req && (c->waiting_body || !c->req->responded))
        return 0; /* the handler owns its own timeouts */
    return c->conf->g.timeout_secs;
}

const struct pt_conn_ops pt_h1_ops = {
    .name = "HTTP/1.1",
    .on_io = h1_on_io,
    .timeout = h1_timeout,
    .drain = h1_drain,
    .destroy = h1_destroy,
};

void pt_h1_start(struct pt_conn *c)
{
    c->ops = &pt_h1_ops;
    c->state = PT_CONN_READING;
    c->last_activity = ev_now(c->w->loop);
    update_events(c);
    /* Bytes may already wait inside TLS after the handshake. */
    if (pt_conn_pending(c))
        ev_feed_event(c->w->loop, &c->io, EV_READ);
}
