/* One nghttp2 session over one transport: what the HTTP/2 server session
 * (server.c) and, for the proxy, the HTTP/2 client session share.
 *
 *   input   read from the transport with a budget per event and fed to
 *           nghttp2 one frame at a time, so the owner can look at each
 *           frame header first (the server checks stream-id rules there);
 *   output  frames pulled from nghttp2 into the transport's recycled
 *           buffer and written out; while a frame cannot be written the
 *           session reads nothing (a peer that does not read cannot make
 *           us queue without bound);
 *   bodies  DATA received for a stream is held in a pt_h2_buf until the
 *           stream's reader takes it, and only then is the flow-control
 *           window reopened (nghttp2_session_consume): backpressure
 *           reaches the peer.
 *
 * The owner embeds struct pt_h2_io in its session and fills ops. */
#ifndef PT_H2_SESSION_H
#define PT_H2_SESSION_H

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pt_conn;
struct pt_h2_io;

struct pt_h2_io_ops {
    /* Optional: a frame header, before nghttp2 sees the frame.  May set
     * io->closing (a connection error was queued). */
    void (*frame_header)(struct pt_h2_io *io, uint8_t type, int32_t stream_id);
    /* nghttp2 refused the input (rv < 0).  Returns false if the owner
     * closed the connection. */
    bool (*recv_failed)(struct pt_h2_io *io, int rv);
    /* Optional: after a read event's input was fed (wake readers). */
    void (*after_read)(struct pt_h2_io *io);
    /* Both sides are done (GOAWAY, no stream left) or the session is
     * closing: end the connection (the server lingers, a client closes). */
    void (*finished)(struct pt_h2_io *io);
};

struct pt_h2_io {
    nghttp2_session *session;
    struct pt_conn *c;
    const struct pt_h2_io_ops *ops;
    const uint8_t *pend;     /* frame bytes nghttp2 gave us, not yet buffered */
    size_t pend_len;
    double sent_at;          /* ev_now when output last moved (not input: a
                                peer that sends PINGs but reads nothing
                                makes no progress) */
    bool in_recv;            /* inside nghttp2_session_mem_recv() */
    bool closing;            /* a connection error is queued: read nothing more */
    /* frame boundaries in the input, for ops->frame_header */
    uint32_t preface_left;   /* magic bytes still to pass (server: 24) */
    uint32_t payload_left;   /* of the current frame */
    uint8_t hdr[9];
    uint8_t hdr_have;
};

void pt_h2_io_init(struct pt_h2_io *io, struct pt_conn *c, nghttp2_session *session,
                   const struct pt_h2_io_ops *ops, uint32_t preface_len);

/* Feeds bytes already read (a preface handed over).  Returns false if the
 * connection was closed. */
bool pt_h2_io_feed(struct pt_h2_io *io, const char *data, size_t len);
/* A read event: reads and feeds up to a budget.  Returns false if the
 * connection was closed. */
bool pt_h2_io_read(struct pt_h2_io *io);
/* Moves frames from nghttp2 to the socket.  Returns false if the
 * connection was closed or finished. */
bool pt_h2_io_flush(struct pt_h2_io *io);
/* Something was submitted: flush from the loop (or after the current
 * read, when inside nghttp2's callbacks). */
void pt_h2_io_schedule_flush(struct pt_h2_io *io);
/* Read/write interest from the session's state. */
void pt_h2_io_update_events(struct pt_h2_io *io);
/* Output is waiting for the peer to read. */
bool pt_h2_io_blocked(const struct pt_h2_io *io);

/* DATA without a copy (NGHTTP2_DATA_FLAG_NO_COPY): a body source reads
 * straight into the output buffer, after room for the frame header, and
 * the send_data callback puts the header in front.  data_room is NULL
 * when the buffer cannot take length more bytes (then nghttp2's own
 * buffer is used); the flush loop makes room for one whole frame before
 * each nghttp2_session_mem_send(). */
#define PT_H2_FRAME_ROOM (9 + 16384)
char *pt_h2_io_data_room(struct pt_h2_io *io, size_t length);
void pt_h2_io_data_sent(struct pt_h2_io *io, const uint8_t *framehd, size_t length);

/* A field name in lower case, as HTTP/2 wants it (in pool, NUL-ended). */
struct pt_pool;
char *pt_h2_lower(struct pt_pool *pool, const char *name, size_t len);

/* DATA of one stream held for its reader. */
struct pt_h2_buf {
    char *data;
    size_t len, cap;
};

/* Appends (the advertised window bounds how much).  -1: out of memory. */
int pt_h2_buf_append(struct pt_h2_buf *b, const uint8_t *data, size_t len);
/* Moves up to len bytes to out and reopens the stream's window by that
 * much.  Returns the count. */
size_t pt_h2_buf_take(struct pt_h2_io *io, int32_t stream_id, struct pt_h2_buf *b,
                      char *out, size_t len);
/* Drops what is held (nobody will read it) and reopens the window. */
void pt_h2_buf_drop(struct pt_h2_io *io, int32_t stream_id, struct pt_h2_buf *b);
/* The stream is gone: the connection window gets the held bytes back
 * (or each such stream would shrink it for good), and memory is freed. */
void pt_h2_buf_free(struct pt_h2_io *io, struct pt_h2_buf *b);

#endif
