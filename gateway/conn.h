/* A client connection, as the HTTP/1 protocol drives it.  Kept small: an
 * idle keep-alive connection holds no buffers, only this struct. */
#ifndef PT_CONN_H
#define PT_CONN_H

#include <ev.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "h1_parser.h"

struct pt_worker;
struct pt_config;
struct pt_listen;
struct pt_req;
struct pt_vhost;

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
    PT_CONN_LINGER,    /* response sent, draining the client's input before close */
};

struct pt_conn {
    ev_io io;
    ev_timer timer;
    struct pt_worker *w;
    struct pt_conn *prev, *next;
    struct pt_config *conf;
    const struct pt_listen *listen;
    const struct pt_vhost *last_vhost; /* for the keep-alive timeout */
    double last_activity;
    struct pt_inbuf *in;
    char *out;                     /* PT_OUTBUF_SIZE bytes when set */
    uint32_t out_len, out_off;
    struct pt_req *req;
    int64_t body_left;             /* request body bytes still to consume */
    struct h1_chunked *chunked;    /* request body decoder when chunked */
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
};

/* Takes a freshly accepted socket. */
void pt_conn_accept(struct pt_worker *w, int fd, const struct pt_listen *l,
                    const struct sockaddr *sa, socklen_t salen);

/* Worker draining: close if idle, else close after the current response. */
void pt_conn_drain(struct pt_conn *c);
/* Drain timeout: close now. */
void pt_conn_close(struct pt_conn *c);

#endif
