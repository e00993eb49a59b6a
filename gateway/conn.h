/* A client connection: the socket, its transport (plaintext or TLS), its
 * timer and output buffer, and the protocol that drives it (a small
 * vtable: TLS handshake, HTTP/1, HTTP/2).  Kept small: an idle keep-alive
 * HTTP/1 connection holds no buffers, only this struct. */
#ifndef PT_CONN_H
#define PT_CONN_H

#include <ev.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "h1_parser.h"

struct pt_worker;
struct pt_config;
struct pt_listen;
struct pt_req;
struct pt_vhost;
struct pt_conn;
typedef struct ssl_st SSL;

/* What drives a connection.  Protocols switch c->ops as they hand over
 * (TLS handshake -> HTTP/1 or HTTP/2; HTTP/1 -> HTTP/2 on an h2c preface). */
struct pt_conn_ops {
    const char *name;
    void (*on_io)(struct pt_conn *c, int revents);
    /* Seconds of inactivity allowed in the current state; 0: no limit. */
    double (*timeout)(const struct pt_conn *c);
    /* Worker stopping: close when idle, else finish what is in flight. */
    void (*drain)(struct pt_conn *c);
    /* Frees protocol state; called once from pt_conn_close(). */
    void (*destroy)(struct pt_conn *c);
};

/* Retained input: a partial head, pipelined requests, or body bytes. */
struct pt_inbuf {
    struct h1_parser parser;
    size_t len, cap;
    char data[];
};

enum pt_conn_state {
    PT_CONN_READING,   /* waiting for / parsing a request head */
    PT_CONN_ACTIVE,    /* a request is being answered */
    PT_CONN_DISCARD,   /* answered; dropping the rest of its request body */
    PT_CONN_LINGER,    /* closing: draining the client's input (pt_conn_linger) */
};

struct pt_conn {
    ev_io io;
    ev_timer timer;
    struct pt_worker *w;
    struct pt_conn *prev, *next;
    const struct pt_conn_ops *ops;
    struct pt_config *conf;
    const struct pt_listen *listen;
    SSL *ssl;                      /* NULL: plaintext */
    const struct pt_vhost *sni_vhost; /* chosen by SNI during the handshake */
    const struct pt_vhost *last_vhost; /* for the keep-alive timeout */
    double last_activity;
    char *out;                     /* PT_OUTBUF_SIZE bytes when set */
    uint32_t out_len, out_off;

    /* HTTP/1 */
    struct pt_inbuf *in;
    struct pt_req *req;
    int64_t body_left;             /* request body bytes still to consume */
    struct h1_chunked *chunked;    /* request body decoder when chunked */

    /* HTTP/2 */
    struct pt_h2 *h2;

    union {
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } peer;
    uint8_t state;
    bool keep_alive;               /* of the current exchange */
    bool close_after;              /* close once the current response is out */
    bool eof;                      /* the client shut down its side */
    bool head_sent;
    bool chunked_out;              /* response framed with chunked coding */
    bool body_done;
    bool waiting_body;             /* body source said AGAIN */
    bool want_write;               /* blocked on the socket: wait for EV_WRITE */
    bool body_wait;                /* a body reader waits for the socket */
    bool expect_100;               /* "Expect: 100-continue" not answered yet */
    bool in_dispatch;              /* inside pt_dispatch(): respond synchronously */
    bool served;                   /* at least one request seen (h2c preface check) */
    bool redirect_https;           /* plaintext on a TLS port: redirect everything */
    bool ssl_want_write;           /* TLS needs the socket writable to go on */
    bool corked;                   /* TCP_CORK set for the current response */
    bool peeked;                   /* input waits behind the current exchange */
    bool client_cert_ok;           /* TLS: a verified client certificate */
};

/* Takes a freshly accepted socket. */
void pt_conn_accept(struct pt_worker *w, int fd, const struct pt_listen *l,
                    const struct sockaddr *sa, socklen_t salen);
void pt_conn_close(struct pt_conn *c);
/* Worker draining: close if idle, else close after what is in flight. */
void pt_conn_drain(struct pt_conn *c);
/* Ends the protocol (ops->destroy) and closes gracefully: FIN (and TLS
 * close_notify) first, then reads and drops input until the peer closes
 * or a short timeout, so the last response is not lost to a reset. */
void pt_conn_linger(struct pt_conn *c);

/* Transport: plaintext or TLS.  recv/send return > 0, 0 at EOF (recv), or
 * -1 with errno (EAGAIN when the socket would block). */
ssize_t pt_conn_recv(struct pt_conn *c, void *buf, size_t len);
ssize_t pt_conn_send(struct pt_conn *c, const void *buf, size_t len);
/* Decrypted bytes already buffered by TLS (the socket may be empty). */
bool pt_conn_pending(const struct pt_conn *c);

/* Brings the inactivity timer forward when the current state allows less
 * time than it has left (call after a state change). */
void pt_conn_timer_update(struct pt_conn *c);

/* Which events to wait for (EV_READ | EV_WRITE). */
void pt_conn_set_events(struct pt_conn *c, int events);
void pt_conn_peer(const struct pt_conn *c, char *ip, size_t cap, uint16_t *port);
const struct pt_vhost *pt_conn_default_vhost(const struct pt_conn *c);
/* Fills the connection-level fields of a new request (both protocols). */
struct pt_pool;
struct pt_proto;
void pt_conn_init_req(struct pt_conn *c, struct pt_req *r, struct pt_pool *pool,
                      const struct pt_proto *proto, void *ctx, int version);

/* Output buffer (recycled per worker, PT_OUTBUF_SIZE). */
void pt_conn_out_reserve(struct pt_conn *c);
size_t pt_conn_out_space(const struct pt_conn *c);
void pt_conn_out_put(struct pt_conn *c, const void *s, size_t n);
/* 1: all written, 0: would block, -1: connection failed. */
int pt_conn_out_flush(struct pt_conn *c);
/* Returns the buffer to the worker when it is empty. */
void pt_conn_out_release(struct pt_conn *c);

/* Protocol entry points. */
extern const struct pt_conn_ops pt_h1_ops;
extern const struct pt_conn_ops pt_tls_handshake_ops;
/* Starts HTTP/1 on c (after TLS, or at accept). */
void pt_h1_start(struct pt_conn *c);
/* Starts HTTP/2 on c; data holds bytes already read (the preface). */
void pt_h2_start(struct pt_conn *c, const char *data, size_t len);

#endif
