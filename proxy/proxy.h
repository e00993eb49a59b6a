/* The upstream proxy: http:// and https:// mounts.
 *
 *   handler.c   the mount handler: its keys, setup, per-worker state
 *   upstream.c  an origin parsed, its addresses
 *   pool.c      per worker and upstream: backend connections kept alive
 *               (LIFO), the count of open ones, the queue of requests
 *               waiting for one
 *   h1client.c  one request over an HTTP/1.1 backend connection: the
 *               request re-serialized, bodies streamed both ways with
 *               backpressure, the response head parsed and handed on
 *   h2client.c  proxy-h2: requests as streams of shared HTTP/2 connections
 *   request.c   the fields that go upstream and come back
 *   spool.c     proxy-buffering: the request body read before sending
 *   resolver.c  names looked up again off the workers */
#ifndef PT_PROXY_H
#define PT_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>

#include "gateway/handler.h"
#include "gateway/tls_client.h"
#include "h2/session.h"
#include "proxy/upstream.h"

extern const struct pt_handler pt_handler_proxy;

struct pt_conn;
struct pt_conn_ops;
struct pt_hdr;
struct pt_req;
struct px_pool;
struct px_route;
struct px_conn;

/* The proxy keys of a mount (m->opts). */
struct pt_proxy_opts {
    int connect_timeout;      /* proxy-connect-timeout, seconds */
    int read_timeout;         /* proxy-read-timeout: between bytes */
    int send_timeout;         /* proxy-send-timeout: between bytes */
    int max_conns;            /* proxy-max-conns, per worker */
    int max_queue;            /* proxy-max-queue, per worker */
    int resolve_interval;     /* proxy-resolve-interval, seconds; 0: never */
    int keepalive_timeout;    /* proxy-keepalive-timeout: idle connections kept */
    int ping_interval;        /* proxy-ping-interval (proxy-h2); 0: never */
    bool preserve_host;       /* proxy-preserve-host */
    bool rewrite_location;    /* proxy-rewrite-location (default on) */
    bool h2;                  /* proxy-h2 */
    bool websocket;           /* proxy-websocket (default on) */
    bool buffering;           /* proxy-buffering */
    int buffering_max;        /* proxy-buffering-max, bytes */
    bool insecure;            /* proxy-insecure */
    char *ca, *client_cert, *client_key;
};

/* What setup() made for a mount. */
struct px_mount {
    struct pt_upstream *ups;  /* its origins: one, or several (round robin) */
    size_t n_ups;
    struct pt_proxy_opts o;   /* with defaults applied */
    struct pt_tls_client_ctx *tls; /* https: the shared client context */
    const char *device;       /* bind-iface: backends are reached by this one */
};

/* A backend HTTP/1.1 connection: the session of its transport. */
struct px_conn {
    struct px_pool *pool;
    struct px *p;             /* the exchange it carries; NULL when idle */
    struct px_conn *next_idle;
    bool idle;
    bool handshaking;         /* TLS with the backend under way */
};

struct px_h2conn;

/* One origin of a mount, on one worker. */
/* Moves the pool's connection gauges (pool.c; gateway/stats.h). */
void pt_px_gauge(struct px_pool *pool, int open, int idle, int queued);

struct px_pool {
    const struct px_mount *pm;
    struct pt_config *conf;   /* pm's snapshot: its connections hold it */
    bool retired;             /* a reload replaced it: nothing goes idle */
    struct pt_upstream *u;    /* its addresses change under the resolver */
    struct pt_worker *w;
    struct px_conn *idle;     /* LIFO */
    struct px_h2conn *h2conns; /* proxy-h2: the connections streams share */
    unsigned n_open;          /* connecting, busy or idle */
    unsigned next_addr;       /* round robin over the upstream's addresses */
    SSL_SESSION *session;     /* TLS: the last session, to resume */
    struct px *qhead, *qtail;
    unsigned n_queued;
    double down_until;        /* backed off until then (ev_now) */
    double backoff;           /* seconds of the last back-off, 0: healthy */
    bool h2_refused;          /* proxy-h2, but ALPN said http/1.1: HTTP/1 */
};

/* One request being proxied. */
struct px {
    struct pt_req *r;
    const struct px_mount *pm;
    struct px_route *route;   /* the mount's origins on this worker */
    struct px_pool *pool;     /* the origin chosen */
    unsigned tries;           /* origins tried (connect failures move on) */
    struct px_conn *bc;       /* the backend connection, once we have one */
    struct px *qnext;         /* in the pool's queue */
    bool queued;
    bool reused;              /* bc came from the idle pool */
    bool retried;             /* already retried once on a fresh connection */
    bool connected;           /* the backend connection is up */
    bool want_write;          /* the request waits for the socket */
    bool resp_err;            /* the response broke off after its head */
    bool upgrade;             /* the client's Upgrade is forwarded */
    bool tunnel;              /* after the backend's 101: raw bytes both ways */
    bool spooling;            /* proxy-buffering: reading the body first */
    double started;           /* ev_time() when the handler took it (the log) */
    ev_timer timer;           /* connect / read / send timeout */

    /* request */
    char *head;               /* serialized request head */
    size_t head_len, head_off;
    bool body_chunked;        /* request body sent with chunked framing */
    bool body_done;           /* the whole request body went out */
    bool body_started;        /* some of it was read from the client */
    int64_t body_length;      /* what goes upstream; -1: unknown (chunked) */
    struct px_spool *spool;   /* proxy-buffering: the body read beforehand */
    char *obuf;               /* request body bytes on their way */
    size_t olen, ooff;

    /* proxy-h2: a stream of a shared connection (h2client.c) */
    struct px_h2conn *h2c;    /* NULL when the stream is over */
    struct px *snext;         /* the connection's streams or pending list */
    int32_t sid;              /* 0: not submitted yet */
    struct pt_h2_buf rbuf;    /* response DATA not yet taken by the client */
    bool rbuf_eof;            /* END_STREAM received */
    bool deferred;            /* the request body source said AGAIN */
    int status;               /* :status of the head being received */
    struct pt_hdr *rh;        /* its fields */
    size_t n_rh, cap_rh;

    /* response */
    char *in;                 /* response head, then what followed it */
    size_t in_len, in_off;
    bool responded;
    bool waiting;             /* the body source said PT_BODY_AGAIN */
    bool resp_chunked, resp_close_delimited, resp_done, resp_keep_alive;
    int64_t resp_left;        /* Content-Length bytes still to come */
    void *dechunk;            /* struct h1_chunked when chunked */
};

/* request.c: what goes upstream and what comes back, for any protocol */
struct px_fields {
    const char *target;       /* the upstream path and query */
    size_t target_len;
    const char *authority;    /* Host / :authority */
    size_t authority_len;
    struct pt_hdr *v;         /* every other field, in order */
    size_t n;
};
void pt_px_request_fields(struct px *p, struct px_fields *f);
/* A response field from the backend: dropped (framing, Date, Server),
 * rewritten (Location) or passed on. */
void pt_px_response_field(struct px *p, const char *n, size_t nl, const char *v, size_t vl);
/* The response head came from c: its address and the time taken since
 * the handler took the request, for the access log. */
void pt_px_note_upstream(struct px *p, const struct pt_conn *c);

/* pool.c */
struct px_worker;
void *pt_px_worker_new(struct pt_worker *w);
void pt_px_worker_free(struct pt_worker *w, void *state);
/* The mount's origins on this worker (made on first use). */
struct px_route *pt_px_route(struct px_worker *pw, const struct px_mount *pm,
                             struct pt_config *conf);
/* A reload moved the worker off conf / nothing uses conf any more
 * (gateway/handler.h: worker_retire, worker_forget). */
void pt_px_worker_retire(struct pt_worker *w, void *state, const struct pt_config *conf);
void pt_px_worker_forget(struct pt_worker *w, void *state, const struct pt_config *conf);
/* The next origin in round robin that is not backed off, or NULL. */
struct px_pool *pt_px_choose(struct px_route *rt);
/* The origin of a pool (for its Host, SNI and log lines). */
const struct pt_upstream *pt_px_upstream(const struct px_pool *pool);
/* Passive health: a connect to the pool's origin failed (refused, timed
 * out): it is skipped for a back-off, 1 s doubling to 30 s.  A success
 * clears it. */
void pt_px_backoff(struct px_pool *pool);
/* Finds the request a connection: idle, new, or a place in the queue. */
void pt_px_acquire(struct px *p);
/* The exchange on bc is over: keep_alive puts it back (serving the queue
 * first), else it is closed. */
void pt_px_release(struct px *p, bool keep_alive);
/* The request leaves the queue (its client went away). */
void pt_px_unqueue(struct px *p);
/* A connection has room again: the next waiting request takes it. */
void pt_px_serve_queue(struct px_pool *pool);
/* The transport of an outgoing connection to pool's origin, connecting;
 * NULL with *err set. */
struct pt_conn *pt_px_connect(struct px_pool *pool, const struct pt_conn_ops *ops, int *err);

/* h1client.c */
/* Proxies r through pool (the handler's entry). */
void pt_px_handle(struct pt_req *r, const struct px_mount *pm, struct px_route *route);
/* The request is ready to go (its body spooled if asked): find it a
 * connection, under the connect timeout. */
void pt_px_begin(struct px *p);
/* bc is connected (or reused): send the request. */
void pt_px_start(struct px *p);
/* Events on bc while it carries p. */
void pt_px_on_io(struct px *p, int revents);
/* bc failed before or while carrying p (refused, reset). err: errno. */
void pt_px_conn_failed(struct px *p, int err);
/* The TLS handshake with the backend failed: why says how. */
void pt_px_tls_failed(struct px *p, const char *why);
/* Frees p (the exchange is over). */
void pt_px_free(struct px *p);

/* A backend connection's transport (for pool.c and h1client.c). */
struct pt_conn *pt_px_transport(struct px_conn *bc);

/* spool.c: proxy-buffering */
/* Reads r's whole body before p goes on to pt_px_begin(); false when p
 * was answered (and freed) at once. */
bool pt_px_spool_start(struct px *p);
/* More body from the client. */
void pt_px_spool_pump(struct px *p);
void pt_px_spool_free(struct px *p);
/* The request body for the backend: the spool's, or the client's as it
 * comes (pt_req_body_read). */
ssize_t pt_px_body_read(struct px *p, char *buf, size_t len);
/* Makes the body sendable again for a retry: true when nothing of it was
 * read yet, or it is spooled (rewound). */
bool pt_px_body_rewind(struct px *p);

/* h2client.c: proxy-h2 */
/* Puts p on a connection of its pool that has a free stream (joining one
 * still being set up) or opens one; false when every connection is full
 * and proxy-max-conns are open (p is then queued). */
bool pt_px_h2_acquire(struct px *p);
/* The pool's HTTP/2 connections take no new streams and close once
 * their streams end (a reload retired the pool). */
void pt_px_h2_retire(struct px_pool *pool);
/* p leaves its connection (its stream cancelled if still open). */
void pt_px_h2_detach(struct px *p);
/* The client has more request body for p's stream. */
void pt_px_h2_body_ready(struct px *p);

#endif
