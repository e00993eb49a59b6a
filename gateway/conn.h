/* The transport: one TCP connection, accepted from a client or (for the
 * upstream proxy) opened to a backend.  It owns the socket and its libev
 * watcher and inactivity timer, plaintext or TLS, the recycled output
 * buffer, recv/send/flush and the lingering close.  It knows nothing of
 * HTTP: a protocol session (http1/, h2/) drives it through c->ops and
 * keeps its own state in c->session.
 *
 * Memory: an idle connection holds this struct and its session only.  An
 * accepted connection reserves pt_protocol_inline_size() bytes after the
 * struct, in the same allocation, for the session (pt_conn_session_alloc),
 * so the common HTTP/1 keep-alive connection is one malloc. */
#ifndef PT_CONN_H
#define PT_CONN_H

#include <ev.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct pt_worker;
struct pt_config;
struct pt_listen;
struct pt_req;
struct pt_vhost;
struct pt_conn;
struct pt_pool;
struct pt_proto;
typedef struct ssl_st SSL;

/* What drives a connection.  Sessions switch c->ops as they hand over
 * (TLS handshake -> HTTP/1 or HTTP/2; HTTP/1 -> HTTP/2 on an h2c preface). */
struct pt_conn_ops {
    const char *name;
    void (*on_io)(struct pt_conn *c, int revents);
    /* Seconds of inactivity allowed in the current state; 0: no limit. */
    double (*timeout)(const struct pt_conn *c);
    /* Optional: that time has passed.  Return true when the session acted
     * and keeps the connection (a PING sent): the wait starts again. */
    bool (*expired)(struct pt_conn *c);
    /* Worker stopping: close when idle, else finish what is in flight. */
    void (*drain)(struct pt_conn *c);
    /* Frees session state; called once from pt_conn_close() or
     * pt_conn_linger(). */
    void (*destroy)(struct pt_conn *c);
};

struct pt_conn {
    ev_io io;
    ev_timer timer;
    struct pt_worker *w;
    struct pt_conn *prev, *next;   /* the worker's list (for draining) */
    const struct pt_conn_ops *ops;
    void *session;                 /* the protocol's state */
    struct pt_config *conf;
    const struct pt_listen *listen; /* accepted on; NULL for outgoing */
    SSL *ssl;                      /* NULL: plaintext */
    const struct pt_vhost *sni_vhost; /* chosen by SNI during the handshake */
    double last_activity;
    char *out;                     /* pt_conn_out_cap() bytes when set */
    uint32_t out_len, out_off;
    uint32_t linger_left;          /* bytes still dropped while lingering */
    uint16_t inline_size;          /* session bytes reserved after the struct */
    union {
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } peer;
    uint8_t hs_state;              /* TLS handshake progress (gateway/tls.c) */
    bool inline_used : 1;          /* the inline session area is taken */
    bool want_write : 1;           /* the session waits for EV_WRITE */
    bool ssl_want_write : 1;       /* TLS needs the socket writable to go on */
    bool lingering : 1;            /* in pt_conn_linger() */
    bool corked : 1;               /* TCP_CORK set */
    bool redirect_https : 1;       /* plaintext on a TLS port: redirect everything */
    bool client_cert_ok : 1;       /* TLS: a verified client certificate */
    bool connecting : 1;           /* outgoing: connect() in progress */
    bool lim_tracked : 1;          /* counted in the per-IP table (limits.c) */
    bool lim_counted : 1;          /* counted toward max-connections */
    bool out_large : 1;            /* c->out is PT_WIRE_SIZE, not PT_OUTBUF_SIZE */
    bool rd_short : 1;             /* the last socket read was short */
    bool rd_eof : 1;               /* ... or saw the peer's FIN */
    bool nodelay_due : 1;          /* TCP_NODELAY not set yet (pt_conn_before_write) */
    bool wrote : 1;                /* written to once */
    uint8_t lim_v6_prefix;         /* the prefix its per-IP count is keyed by */
};

/* Takes a freshly accepted socket and starts TLS or the default protocol
 * (after a PROXY protocol header on ports that have one).  lim_flags: what
 * admission counted (gateway/limits.h), given back when it closes. */
void pt_conn_accept(struct pt_worker *w, int fd, const struct pt_listen *l,
                    const struct sockaddr *sa, socklen_t salen, unsigned lim_flags);
/* TLS or the default protocol (what pt_conn_accept starts). */
void pt_conn_begin(struct pt_conn *c);
void pt_conn_close(struct pt_conn *c);
/* Closes with a reset: what the peer has not read is dropped, not sent
 * (a peer that stopped reading, given up on). */
void pt_conn_reset(struct pt_conn *c);

/* Opens an outgoing connection (the proxy's backends): a non-blocking
 * connect to sa, driven by ops, with inline_size bytes of session room.
 * The transport waits for EV_WRITE; ops->on_io then calls
 * pt_conn_connect_result() (0, or the connect's errno).  The connection
 * holds a reference to conf, like an accepted one.  device: leave only by
 * that network interface (SO_BINDTODEVICE; NULL: any).  NULL with *err set
 * when the socket cannot even be made (or the connect failed at once). */
struct pt_conn *pt_conn_connect(struct pt_worker *w, struct pt_config *conf,
                                const struct sockaddr *sa, socklen_t salen,
                                const char *device, const struct pt_conn_ops *ops,
                                size_t inline_size, int *err);
int pt_conn_connect_result(struct pt_conn *c);
/* ops->timeout of the states before any protocol (TLS handshake, PROXY
 * header): the global timeout-secs. */
double pt_conn_timeout_secs(const struct pt_conn *c);
/* Worker draining: close if idle, else close after what is in flight. */
void pt_conn_drain(struct pt_conn *c);
/* Ends the session (ops->destroy) and closes gracefully: FIN (and TLS
 * close_notify) first, then reads and drops input until the peer closes
 * or a short timeout, so the last response is not lost to a reset. */
void pt_conn_linger(struct pt_conn *c);

/* Session memory: the inline area when it is free and large enough, else
 * calloc'ed.  Zeroed.  NULL when out of memory. */
void *pt_conn_session_alloc(struct pt_conn *c, size_t size);
void pt_conn_session_free(struct pt_conn *c, void *session);

/* Hands c to protocol `name` ("http/1.1", "h2") or the default (NULL). */
void pt_conn_start_protocol(struct pt_conn *c, const char *name, size_t len,
                            const char *data, size_t dlen);

/* recv/send return > 0, 0 at EOF (recv), or -1 with errno (EAGAIN when
 * the socket would block). */
ssize_t pt_conn_recv(struct pt_conn *c, void *buf, size_t len);
ssize_t pt_conn_send(struct pt_conn *c, const void *buf, size_t len);
/* Bytes already buffered by TLS (the socket may be empty). */
bool pt_conn_pending(const struct pt_conn *c);
/* The last read emptied the socket and TLS holds nothing: another read
 * now would only say EAGAIN (level-triggered: the loop says when more
 * comes). */
bool pt_conn_drained(const struct pt_conn *c);
/* Peeks at the socket: 1 byte waits, 0 the peer closed, -1 nothing yet
 * (or an error: *err set). */
int pt_conn_peek(struct pt_conn *c, bool *err);

/* Ends our sending side (FIN; a TLS close_notify first), reading goes on:
 * the half-close a tunnel passes on. */
void pt_conn_shutdown_write(struct pt_conn *c);

/* Call before each write to the socket: TCP_NODELAY is set before a
 * connection's second write.  A response that goes out in one write (a
 * small one, then a close) never meets Nagle's algorithm, so the common
 * short connection saves the setsockopt (nginx, likewise, sets it only
 * when a connection is kept alive).  Outgoing connections set it at once. */
void pt_conn_nodelay(struct pt_conn *c);
static inline void pt_conn_before_write(struct pt_conn *c)
{
    if (c->nodelay_due) {
        if (c->wrote)
            pt_conn_nodelay(c);
        c->wrote = true;
    }
}

/* TCP_CORK on or off (holds partial segments while more follows). */
void pt_conn_cork(struct pt_conn *c, bool on);

/* Brings the inactivity timer forward when the current state allows less
 * time than it has left (call after a state change). */
void pt_conn_timer_update(struct pt_conn *c);

/* Which events to wait for (EV_READ | EV_WRITE). */
void pt_conn_set_events(struct pt_conn *c, int events);
void pt_conn_peer(const struct pt_conn *c, char *ip, size_t cap, uint16_t *port);
const struct pt_vhost *pt_conn_default_vhost(const struct pt_conn *c);
/* The keep-alive timeout: secs (a session keeps its last vhost's: no
 * pointer into a snapshot outlives a request), else the default vhost's. */
double pt_conn_keepalive_secs(const struct pt_conn *c, int secs);
/* The worker took snapshot conf: c's next request uses it; a connection
 * whose port, TLS setting or SNI vhost conf no longer has finishes what
 * is in flight and closes (c may be closed on return).  Outgoing
 * connections keep theirs until they close. */
void pt_conn_follow(struct pt_conn *c, struct pt_config *conf);
/* Fills the connection-level fields of a new request (both protocols). */
void pt_conn_init_req(struct pt_conn *c, struct pt_req *r, struct pt_pool *pool,
                      const struct pt_proto *proto, void *ctx, int version);

/* Output buffer (recycled per worker): PT_OUTBUF_SIZE, or with _large
 * PT_WIRE_SIZE, for a session that multiplexes many responses (HTTP/2)
 * and writes four records or frames of 16 KiB in one syscall. */
void pt_conn_out_reserve(struct pt_conn *c);
void pt_conn_out_reserve_large(struct pt_conn *c);
size_t pt_conn_out_space(const struct pt_conn *c);
size_t pt_conn_out_cap(const struct pt_conn *c);
void pt_conn_out_put(struct pt_conn *c, const void *s, size_t n);
/* 1: all written, 0: would block, -1: connection failed.  more: further
 * data follows at once (MSG_MORE, plaintext only). */
int pt_conn_out_flush(struct pt_conn *c);
int pt_conn_out_flush_more(struct pt_conn *c);
/* Empties the buffer toward the socket when more output follows at once:
 * over TLS the records wait in the wire buffer for the flush that ends
 * the batch (1: the buffer is empty, 0: would block, -1: failed). */
int pt_conn_out_push(struct pt_conn *c);
/* Output still waiting: in the buffer, or encrypted in the wire buffer. */
bool pt_conn_out_pending(const struct pt_conn *c);
size_t pt_conn_out_bytes(const struct pt_conn *c);
/* Returns the buffer to the worker when it is empty. */
void pt_conn_out_release(struct pt_conn *c);

#endif
