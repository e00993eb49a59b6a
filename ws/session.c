/* One WebSocket connection: frames in from the request body, whole
 * messages to the application, frames out through the response body.
 *
 * Memory is bounded both ways.  In: a message is held until complete, up
 * to max_message bytes (after inflating), and nothing more is read while
 * 64 KiB of our output waits for the client (a client that sends pings
 * but never reads pongs stalls itself).  Out: the application sends from
 * writeable(), which comes only once what was sent before has been taken
 * by the protocol (the response body's pull), so no queue grows. */
#include "ws/ws.h"

#include <ev.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/log.h"
#include "gateway/request.h"
#include "include/portico/plugin.h"
#include "ws/deflate.h"
#include "ws/frame.h"
#include "ws/handshake.h"

#define OUT_LIMIT (64 * 1024)     /* unsent bytes before sends are refused */
#define CLOSE_WAIT 5.0            /* seconds for the client's close reply */

struct pt_ws {
    struct pt_req *r;
    const struct pt_ws_app *app;
    void *owner;
    struct pt_ws_limits lim;
    const char *protocol;
    int deflate_bits;             /* 0: permessage-deflate not agreed */

    /* in */
    uint8_t head[PT_WS_HEAD_MAX];
    size_t head_len;
    struct pt_ws_head fh;         /* the frame being read */
    uint64_t fh_pos;
    bool in_frame;
    uint8_t msg_op;               /* TEXT/BINARY of the message being joined, 0: none */
    bool msg_deflated;
    char *msg;
    size_t msg_len, msg_cap;
    uint32_t utf8;
    uint8_t ctl[125];

    /* out: frames waiting for the client */
    uint8_t *out;
    size_t out_len, out_off, out_cap;

    ev_timer timer;               /* ping, and the close handshake's wait */
    double last_rx;
    bool ping_out;                /* a ping is unanswered */
    bool want_writeable;
    bool in_writeable;
    bool in_pull;                 /* inside the response body's read() */
    bool reading;
    bool stalled;                 /* reading paused while output waits */
    bool in_eof;                  /* the client's side ended */
    bool close_sent, close_rcvd;
    bool closed_told;             /* app->closed() called */
    bool finishing;               /* the exchange is ending: no more output */
    int close_code;               /* the client's */
    ev_timer kick;                /* 0 s: reading or output resumed outside the
                                   * protocol's calls */

    _Alignas(16) unsigned char user[];
};

void *pt_ws_owner(const struct pt_ws *ws) { return ws->owner; }
void *pt_ws_user(struct pt_ws *ws) { return ws->user; }
struct pt_req *pt_ws_req(struct pt_ws *ws) { return ws->r; }

static size_t pending(const struct pt_ws *ws)
{
    return ws->out_len - ws->out_off;
}

/* Wakes the response body's pull (the protocol) unless inside it. */
static void wake(struct pt_ws *ws)
{
    if (!ws->in_pull && !ws->finishing)
        pt_req_resume(ws->r);
}

/* Runs on_kick from the loop soon: reading again, or a pull. */
static void kick(struct pt_ws *ws)
{
    if (!ev_is_active(&ws->kick) && !ws->finishing) {
        ev_timer_set(&ws->kick, 0., 0.);
        ev_timer_start(ws->r->loop, &ws->kick);
    }
}

static int out_frame(struct pt_ws *ws, uint8_t opcode, bool rsv1, const void *data, size_t len)
{
    if (ws->finishing)
        return -1;
    if (ws->out_off) { /* what went out makes room: the buffer never creeps */
        memmove(ws->out, ws->out + ws->out_off, ws->out_len - ws->out_off);
        ws->out_len -= ws->out_off;
        ws->out_off = 0;
    }
    size_t need = ws->out_len + PT_WS_HEAD_MAX + len;
    if (need > ws->out_cap) {
        size_t cap = ws->out_cap ? ws->out_cap : 4096;
        while (cap < need)
            cap *= 2;
        uint8_t *b = realloc(ws->out, cap);
        if (!b)
            return -1;
        ws->out = b;
        ws->out_cap = cap;
    }
    ws->out_len += pt_ws_head_write(ws->out + ws->out_len, true, rsv1, opcode, len);
    if (len)
        memcpy(ws->out + ws->out_len, data, len);
    ws->out_len += len;
    wake(ws);
    return 0;
}

static void tell_closed(struct pt_ws *ws, int code)
{
    if (ws->closed_told)
        return;
    ws->closed_told = true;
    if (ws->app->closed)
        ws->app->closed(ws, code);
}

static void send_close(struct pt_ws *ws, int code, const char *reason)
{
    if (ws->close_sent)
        return;
    uint8_t p[125];
    size_t n = 0;
    if (code) {
        p[0] = (uint8_t)(code >> 8);
        p[1] = (uint8_t)code;
        n = 2;
        size_t rl = reason ? strlen(reason) : 0;
        if (rl > sizeof(p) - 2)
            rl = sizeof(p) - 2;
        if (rl)
            memcpy(p + 2, reason, rl);
        n += rl;
    }
    ws->close_sent = true;
    out_frame(ws, PT_WS_CLOSE, false, p, n);
    /* The client has CLOSE_WAIT seconds to answer before we end it. */
    ev_timer_stop(ws->r->loop, &ws->timer);
    ev_timer_set(&ws->timer, CLOSE_WAIT, 0.);
    ev_timer_start(ws->r->loop, &ws->timer);
}

/* A protocol error: close with code, read no more. */
static int fail(struct pt_ws *ws, int code, const char *why)
{
    pt_log(PT_LOG_INFO, "WebSocket %s: %s: closing with %d", ws->r->peer_ip, why, code);
    ws->r->log_note = why;
    ws->in_eof = true;
    send_close(ws, code, why);
    tell_closed(ws, code);
    return -1;
}

/* ---- in ------------------------------------------------------------------- */

static void deliver(struct pt_ws *ws)
{
    char *data = ws->msg;
    size_t len = ws->msg_len;
    char *inflated = NULL;
    if (ws->msg_deflated) {
        int rc = pt_ws_inflate((const uint8_t *)ws->msg, ws->msg_len, ws->lim.max_message,
                               &inflated, &len);
        if (rc < 0) {
            fail(ws, rc == -2 ? 1009 : 1007,
                 rc == -2 ? "a message over the size limit" : "a corrupt compressed message");
            return;
        }
        data = inflated;
    }
    if (ws->msg_op == PT_WS_TEXT && pt_utf8_feed(0, (const uint8_t *)data, len) != 0) {
        free(inflated);
        fail(ws, 1007, "a text message that is not UTF-8");
        return;
    }
    uint8_t op = ws->msg_op;
    ws->msg_op = 0;
    ws->msg_len = 0;
    if (!ws->close_sent && ws->app->message)
        ws->app->message(ws, data, len, op == PT_WS_BINARY);
    free(inflated);
    if (ws->msg_cap > 65536) { /* a big message's buffer does not stay */
        free(ws->msg);
        ws->msg = NULL;
        ws->msg_cap = 0;
    }
}

static void control(struct pt_ws *ws)
{
    size_t n = (size_t)ws->fh.len;
    switch (ws->fh.opcode) {
    case PT_WS_PING:
        if (!ws->close_sent)
            out_frame(ws, PT_WS_PONG, false, ws->ctl, n);
        break;
    case PT_WS_PONG:
        ws->ping_out = false;
        break;
    case PT_WS_CLOSE: {
        int code = 1005;
        if (n == 1) {
            fail(ws, 1002, "a close frame with a 1-byte payload");
            return;
        }
        if (n >= 2) {
            code = ws->ctl[0] << 8 | ws->ctl[1];
            if (!pt_ws_close_code_ok((unsigned)code)) {
                fail(ws, 1002, "an invalid close code");
                return;
            }
            if (pt_utf8_feed(0, ws->ctl + 2, n - 2) != 0) {
                fail(ws, 1007, "a close reason that is not UTF-8");
                return;
            }
        }
        ws->close_rcvd = true;
        ws->in_eof = true;
        ws->close_code = code;
        send_close(ws, code == 1005 ? 1000 : code, NULL); /* echo it */
        tell_closed(ws, code);
        wake(ws);
        break;
    }
    }
}

static int frame_begin(struct pt_ws *ws)
{
    struct pt_ws_head *h = &ws->fh;
    if (h->opcode & 0x8)
        return 0;
    if (h->opcode == PT_WS_CONT) {
        if (!ws->msg_op)
            return fail(ws, 1002, "a continuation frame with no message to continue");
        if (h->rsv1)
            return fail(ws, 1002, "RSV1 on a continuation frame");
    } else {
        if (ws->msg_op)
            return fail(ws, 1002, "a new message before the last one ended");
        ws->msg_op = h->opcode;
        ws->msg_deflated = h->rsv1;
        ws->utf8 = 0;
    }
    if (h->len > ws->lim.max_message - ws->msg_len)
        return fail(ws, 1009, "a message over the size limit");
    size_t need = ws->msg_len + (size_t)h->len;
    if (need > ws->msg_cap) {
        size_t cap = ws->msg_cap ? ws->msg_cap : 1024;
        while (cap < need)
            cap *= 2;
        char *m = realloc(ws->msg, cap);
        if (!m)
            return fail(ws, 1011, "out of memory");
        ws->msg = m;
        ws->msg_cap = cap;
    }
    return 0;
}

static int frame_data(struct pt_ws *ws, uint8_t *p, size_t n)
{
    pt_ws_unmask(p, n, ws->fh.mask, ws->fh_pos);
    if (ws->fh.opcode & 0x8) {
        memcpy(ws->ctl + ws->fh_pos, p, n);
    } else {
        memcpy(ws->msg + ws->msg_len, p, n);
        ws->msg_len += n;
        /* Fail fast on invalid text (the Autobahn cases expect it before
         * the message ends). */
        if (ws->msg_op == PT_WS_TEXT && !ws->msg_deflated) {
            ws->utf8 = pt_utf8_feed(ws->utf8, p, n);
            if (ws->utf8 == PT_UTF8_BAD)
                return fail(ws, 1007, "a text message that is not UTF-8");
        }
    }
    ws->fh_pos += n;
    return 0;
}

static void frame_end(struct pt_ws *ws)
{
    ws->in_frame = false;
    if (ws->fh.opcode & 0x8)
        control(ws);
    else if (ws->fh.fin)
        deliver(ws);
}

static int consume(struct pt_ws *ws, uint8_t *p, size_t len)
{
    while (len && !ws->in_eof) {
        if (!ws->in_frame) {
            size_t take = len < PT_WS_HEAD_MAX - ws->head_len ? len : PT_WS_HEAD_MAX - ws->head_len;
            memcpy(ws->head + ws->head_len, p, take);
            const char *why = NULL;
            int hl = pt_ws_head_parse(ws->head, ws->head_len + take, ws->deflate_bits != 0,
                                      &ws->fh, &why);
            if (hl < 0)
                return fail(ws, 1002, why);
            if (hl == 0) {
                ws->head_len += take;
                p += take;
                len -= take;
                continue;
            }
            size_t used = (size_t)hl - ws->head_len;
            p += used;
            len -= used;
            ws->head_len = 0;
            ws->in_frame = true;
            ws->fh_pos = 0;
            if (frame_begin(ws) < 0)
                return -1;
            if (ws->fh.len == 0)
                frame_end(ws);
            continue;
        }
        uint64_t left = ws->fh.len - ws->fh_pos;
        size_t n = left < len ? (size_t)left : len;
        if (frame_data(ws, p, n) < 0)
            return -1;
        p += n;
        len -= n;
        if (ws->fh_pos == ws->fh.len)
            frame_end(ws);
    }
    return 0;
}

static void peer_gone(struct pt_ws *ws)
{
    ws->in_eof = true;
    ws->close_sent = true; /* nobody to tell: end the response */
    if (!ws->close_rcvd)
        tell_closed(ws, 1006);
    wake(ws);
}

static void ws_read(struct pt_ws *ws)
{
    if (ws->reading)
        return;
    ws->reading = true;
    uint8_t buf[16384];
    while (!ws->in_eof) {
        if (pending(ws) >= OUT_LIMIT) {
            ws->stalled = true; /* the client reads nothing: take nothing more */
            break;
        }
        ssize_t n = pt_req_body_read(ws->r, (char *)buf, sizeof(buf));
        if (n == PT_BODY_AGAIN)
            break;
        if (n <= 0) {
            peer_gone(ws);
            break;
        }
        ws->last_rx = ev_now(ws->r->loop);
        ws->ping_out = false;
        if (consume(ws, buf, (size_t)n) < 0)
            break;
    }
    ws->reading = false;
}

static void on_body(struct pt_req *r)
{
    ws_read(r->handler_ctx);
}

static void on_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct pt_ws *ws = w->data;
    if (ws->want_writeable)
        pt_req_resume(ws->r);
    if (!ws->stalled)
        ws_read(ws);
}

/* ---- out ------------------------------------------------------------------ */

static ssize_t pull(struct pt_req *r, char *buf, size_t len)
{
    struct pt_ws *ws = r->handler_ctx;
    ws->in_pull = true;
    if (!pending(ws) && ws->want_writeable && !ws->close_sent && ws->app->writeable) {
        ws->want_writeable = false;
        ws->in_writeable = true;
        ws->app->writeable(ws);
        ws->in_writeable = false;
    }
    ws->in_pull = false;
    if (ws->want_writeable && !pending(ws))
        kick(ws); /* asked again without sending: come back from the loop */
    size_t n = pending(ws);
    if (n) {
        if (n > len)
            n = len;
        memcpy(buf, ws->out + ws->out_off, n);
        ws->out_off += n;
        if (ws->stalled && pending(ws) < OUT_LIMIT / 2) {
            ws->stalled = false;
            kick(ws);
        }
        return (ssize_t)n;
    }
    if (ws->out_cap > 65536) {
        free(ws->out);
        ws->out = NULL;
        ws->out_cap = ws->out_len = ws->out_off = 0;
    }
    /* Done once our close went out and the client's came (or it left, or
     * it failed to answer in time). */
    if (ws->close_sent && ws->in_eof)
        return 0;
    return PT_BODY_AGAIN;
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    struct pt_ws *ws = t->data;
    if (ws->close_sent) {
        /* No close reply in time (or a client that reads nothing, so
         * not even our close went out): end the exchange.  ws is gone
         * after pt_req_abort(). */
        ws->in_eof = true;
        tell_closed(ws, 1006);
        pt_req_abort(ws->r);
        return;
    }
    double idle = ev_now(loop) - ws->last_rx;
    if (ws->ping_out && idle >= 2 * ws->lim.ping_secs) {
        fail(ws, 1001, "no pong in time");
        return;
    }
    if (idle >= ws->lim.ping_secs && !ws->ping_out) {
        ws->ping_out = true;
        out_frame(ws, PT_WS_PING, false, "portico", 7);
    }
    ev_timer_set(t, ws->lim.ping_secs, 0.);
    ev_timer_start(loop, t);
}

static void on_finish(struct pt_req *r)
{
    struct pt_ws *ws = r->handler_ctx;
    ws->finishing = true; /* the plugin's last words go nowhere */
    ws->close_sent = true;
    tell_closed(ws, ws->close_rcvd ? ws->close_code : 1006);
    if (ws->app->freed)
        ws->app->freed(ws);
    ev_timer_stop(r->loop, &ws->timer);
    ev_timer_stop(r->loop, &ws->kick);
    free(ws->msg);
    free(ws->out);
    free(ws);
    r->handler_ctx = NULL;
}

/* The worker stops: "going away" (1001), then the usual close handshake. */
static void on_drain(struct pt_req *r)
{
    struct pt_ws *ws = r->handler_ctx;
    send_close(ws, 1001, "server going away");
}

static const struct pt_body_ops ws_body = {.read = pull};

/* ---- the handshake -------------------------------------------------------- */

struct pt_ws *pt_ws_accept(struct pt_req *r, const char *protocol, const struct pt_ws_app *app,
                           void *owner, size_t extra, const struct pt_ws_limits *lim)
{
    char accept[PT_WS_ACCEPT_LEN + 1];
    const char *why = NULL;
    int status = pt_ws_handshake_check(r, accept, &why);
    if (status) {
        if (status == 426)
            pt_resp_header(r, "Sec-WebSocket-Version", "13");
        pt_respond_error(r, status, why);
        return NULL;
    }
    struct pt_ws *ws = calloc(1, sizeof(*ws) + extra);
    if (!ws) {
        pt_respond_error(r, 503, "WebSocket: out of memory");
        return NULL;
    }
    ws->r = r;
    ws->app = app;
    ws->owner = owner;
    ws->lim = *lim;
    ws->protocol = protocol;
    ws->last_rx = ev_now(r->loop);
    ev_init(&ws->timer, on_timer);
    ws->timer.data = ws;
    ev_init(&ws->kick, on_kick);
    ws->kick.data = ws;

    size_t elen;
    const char *ext = pt_req_header(r, "sec-websocket-extensions", &elen);
    char agreed[160];
    if (ext && pt_ws_deflate_agree(ext, elen, agreed, sizeof(agreed), &ws->deflate_bits))
        pt_resp_header(r, "Sec-WebSocket-Extensions", agreed);
    if (protocol)
        pt_resp_header(r, "Sec-WebSocket-Protocol", protocol);
    if (r->version != 20) {
        pt_resp_header_ref(r, "Upgrade", 7, "websocket", 9);
        pt_resp_header_ref(r, "Connection", 10, "Upgrade", 7);
        pt_resp_header(r, "Sec-WebSocket-Accept", accept);
    }
    r->handler_ctx = ws;
    r->on_finish = on_finish;
    r->on_body_ready = on_body;
    r->on_drain = on_drain;
    r->body_taken = true;
    pt_respond(r, r->version == 20 ? 200 : 101, -1, &ws_body, NULL);
    if (ws->lim.ping_secs > 0) {
        ev_timer_set(&ws->timer, ws->lim.ping_secs, 0.);
        ev_timer_start(r->loop, &ws->timer);
    }
    if (app->open && app->open(ws) < 0) {
        send_close(ws, 1011, "refused");
        ws->in_eof = true;
        tell_closed(ws, 1011);
        return ws;
    }
    ws_read(ws); /* frames may have come with the request */
    return ws;
}

/* ---- the plugin calls ----------------------------------------------------- */

const char *pt_ws_path(const struct pt_ws *ws) { return ws->r->path; }
const char *pt_ws_protocol(const struct pt_ws *ws) { return ws->protocol; }
const char *pt_ws_peer(const struct pt_ws *ws) { return ws->r->peer_ip; }
void *pt_ws_loop(struct pt_ws *ws) { return ws->r->loop; }

const char *pt_ws_query(const struct pt_ws *ws, size_t *len)
{
    *len = ws->r->query ? ws->r->query_len : 0;
    return ws->r->query;
}

void pt_ws_want_writeable(struct pt_ws *ws)
{
    if (ws->close_sent)
        return;
    ws->want_writeable = true;
    wake(ws);
}

int pt_ws_send(struct pt_ws *ws, const void *data, size_t len, int binary)
{
    if (ws->close_sent || (pending(ws) >= OUT_LIMIT && !ws->in_writeable))
        return -1;
    uint8_t op = binary ? PT_WS_BINARY : PT_WS_TEXT;
    if (ws->deflate_bits && len >= 64) {
        uint8_t *z;
        size_t zlen;
        if (pt_ws_deflate(data, len, ws->deflate_bits, &z, &zlen) == 0) {
            int rc = zlen < len ? out_frame(ws, op, true, z, zlen) : out_frame(ws, op, false, data, len);
            free(z);
            return rc;
        }
    }
    return out_frame(ws, op, false, data, len);
}

void pt_ws_close(struct pt_ws *ws, int code, const char *reason)
{
    if (code < 1000 || code > 4999 || !pt_ws_close_code_ok((unsigned)code))
        code = 1000;
    send_close(ws, code, reason);
}
