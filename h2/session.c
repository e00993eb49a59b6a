/* One nghttp2 session over one transport (see session.h). */
#include "h2/session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/conn.h"
#include "gateway/log.h"
#include "gateway/pool.h"
#include "gateway/worker.h"

#define READ_BUDGET (256 * 1024)  /* bytes read per event before yielding */

void pt_h2_io_init(struct pt_h2_io *io, struct pt_conn *c, nghttp2_session *session,
                   const struct pt_h2_io_ops *ops, uint32_t preface_len)
{
    memset(io, 0, sizeof(*io));
    io->c = c;
    io->session = session;
    io->ops = ops;
    io->preface_left = preface_len;
    io->sent_at = ev_now(c->w->loop);
}

bool pt_h2_io_blocked(const struct pt_h2_io *io)
{
    return io->c->want_write || io->pend;
}

void pt_h2_io_update_events(struct pt_h2_io *io)
{
    struct pt_conn *c = io->c;
    int ev = 0;
    /* While output is stuck, read nothing: the peer must take what it asked
     * for before it can ask for more. */
    if (!io->pend && nghttp2_session_want_read(io->session) && !io->closing)
        ev |= EV_READ;
    if (c->want_write)
        ev |= EV_WRITE;
    pt_conn_set_events(c, ev);
    pt_conn_timer_update(c);
}

void pt_h2_io_schedule_flush(struct pt_h2_io *io)
{
    if (io->in_recv)
        return; /* flushed once the read event is done */
    io->c->want_write = true;
    pt_h2_io_update_events(io);
}

/* Writes the connection's buffer.  Returns 1 (all out), 0 (would block:
 * EV_WRITE armed) or -1 (the connection was closed). */
static int write_out(struct pt_h2_io *io)
{
    struct pt_conn *c = io->c;
    size_t before = pt_conn_out_bytes(c);
    int f = pt_conn_out_flush(c);
    if (f > 0 ? before > 0 : f == 0 && pt_conn_out_bytes(c) < before)
        io->sent_at = ev_now(c->w->loop);
    if (f < 0) {
        pt_conn_close(c);
        return -1;
    }
    if (f == 0) {
        c->want_write = true;
        pt_h2_io_update_events(io);
    }
    return f;
}

/* Empties the buffer toward the socket when more output follows: over
 * TLS the records wait in the wire buffer to go out together.  1: go on,
 * 0: waiting for EV_WRITE, -1: the connection was closed. */
static int push(struct pt_h2_io *io)
{
    struct pt_conn *c = io->c;
    int f = pt_conn_out_push(c);
    if (f > 0 && !c->ssl) /* over TLS, it may wait in the wire buffer */
        io->sent_at = ev_now(c->w->loop);
    if (f < 0) {
        pt_conn_close(c);
        return -1;
    }
    return f > 0 ? 1 : write_out(io);
}

bool pt_h2_io_flush(struct pt_h2_io *io)
{
    struct pt_conn *c = io->c;
    c->want_write = false;
    for (;;) {
        pt_conn_out_reserve_large(c);
        if (!io->pend && pt_conn_out_space(c) < PT_H2_FRAME_ROOM && pt_conn_out_cap(c) > PT_H2_FRAME_ROOM) {
            /* Room for a whole DATA frame first (see pt_h2_io_data_room). */
            int f = push(io);
            if (f <= 0)
                return f == 0;
        }
        if (!io->pend) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(io->session, &data);
            if (n < 0) {
                pt_info("HTTP/2 send failed: %s", nghttp2_strerror((int)n));
                pt_conn_close(c);
                return false;
            }
            if (n == 0)
                break;
            io->pend = data;
            io->pend_len = (size_t)n;
        }
        size_t room = pt_conn_out_space(c);
        size_t k = io->pend_len < room ? io->pend_len : room;
        pt_conn_out_put(c, io->pend, k);
        io->pend += k;
        io->pend_len -= k;
        if (io->pend_len == 0)
            io->pend = NULL;
        if (pt_conn_out_space(c) == 0) {
            int f = push(io);
            if (f <= 0)
                return f == 0;
        }
    }
    int f = write_out(io);
    if (f <= 0)
        return f == 0;
    pt_conn_out_release(c);
    if (io->closing || (!nghttp2_session_want_read(io->session) &&
                        !nghttp2_session_want_write(io->session))) {
        io->ops->finished(io);
        return false;
    }
    pt_h2_io_update_events(io);
    return true;
}

char *pt_h2_io_data_room(struct pt_h2_io *io, size_t length)
{
    struct pt_conn *c = io->c;
    if (io->pend || !c->out || pt_conn_out_space(c) < 9 + length)
        return NULL;
    return c->out + c->out_len + 9;
}

void pt_h2_io_data_sent(struct pt_h2_io *io, const uint8_t *framehd, size_t length)
{
    struct pt_conn *c = io->c;
    memcpy(c->out + c->out_len, framehd, 9);
    c->out_len += (uint32_t)(9 + length);
}

static bool recv_bytes(struct pt_h2_io *io, const uint8_t *data, size_t len)
{
    io->in_recv = true;
    ssize_t rv = nghttp2_session_mem_recv(io->session, data, len);
    io->in_recv = false;
    return rv >= 0 || io->ops->recv_failed(io, (int)rv);
}

bool pt_h2_io_feed(struct pt_h2_io *io, const char *data, size_t len)
{
    const uint8_t *p = (const uint8_t *)data;
    if (!io->ops->frame_header)
        return len == 0 || recv_bytes(io, p, len);
    while (len && !io->closing) {
        size_t k;
        if (io->preface_left || io->payload_left) {
            uint32_t *left = io->preface_left ? &io->preface_left : &io->payload_left;
            k = len < *left ? len : *left;
            *left -= (uint32_t)k;
            if (!recv_bytes(io, p, k))
                return false;
        } else {
            k = 9u - io->hdr_have;
            if (k > len)
                k = len;
            memcpy(io->hdr + io->hdr_have, p, k);
            io->hdr_have += (uint8_t)k;
            if (io->hdr_have == 9) {
                io->hdr_have = 0;
                const uint8_t *h = io->hdr;
                io->payload_left = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
                int32_t id = (int32_t)(((uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 |
                                        (uint32_t)h[7] << 8 | h[8]) & 0x7fffffff);
                io->ops->frame_header(io, h[3], id);
                if (io->closing)
                    break;
                if (!recv_bytes(io, h, 9))
                    return false;
            }
        }
        p += k;
        len -= k;
    }
    return true;
}

bool pt_h2_io_read(struct pt_h2_io *io)
{
    struct pt_conn *c = io->c;
    if (io->pend || io->closing)
        return true;
    size_t budget = READ_BUDGET;
    for (;;) {
        ssize_t n = pt_conn_recv(c, c->w->rbuf, c->w->rbuf_cap);
        if (n < 0) {
            if (errno == EAGAIN)
                break;
            pt_conn_close(c);
            return false;
        }
        if (n == 0) {
            pt_conn_close(c); /* the peer went away */
            return false;
        }
        c->last_activity = ev_now(c->w->loop);
        if (!pt_h2_io_feed(io, c->w->rbuf, (size_t)n))
            return false;
        if (io->closing || (size_t)n >= budget || pt_conn_drained(c))
            break;
        budget -= (size_t)n;
    }
    if (io->ops->after_read)
        io->ops->after_read(io);
    return true;
}

/* ---- stream bodies ---------------------------------------------------- */

int pt_h2_buf_append(struct pt_h2_buf *b, const uint8_t *data, size_t len)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->len + len)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p)
            return -1;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

size_t pt_h2_buf_take(struct pt_h2_io *io, int32_t stream_id, struct pt_h2_buf *b,
                      char *out, size_t len)
{
    size_t n = b->len < len ? b->len : len;
    memcpy(out, b->data, n);
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    /* Reopen the window for what the reader took. */
    nghttp2_session_consume(io->session, stream_id, n);
    return n;
}

void pt_h2_buf_drop(struct pt_h2_io *io, int32_t stream_id, struct pt_h2_buf *b)
{
    if (b->len)
        nghttp2_session_consume(io->session, stream_id, b->len);
    b->len = 0;
}

void pt_h2_buf_free(struct pt_h2_io *io, struct pt_h2_buf *b)
{
    if (b->len && io->session)
        nghttp2_session_consume_connection(io->session, b->len);
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *pt_h2_lower(struct pt_pool *pool, const char *name, size_t len)
{
    char *lower = pt_pool_alloc(pool, len + 1);
    for (size_t k = 0; k < len; k++) {
        char ch = name[k];
        lower[k] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    lower[len] = '\0';
    return lower;
}
