/* The request/response abstraction shared by every protocol (HTTP/1 now,
 * HTTP/2 next) and every handler.
 *
 * A protocol parses a request into a struct pt_req and calls pt_dispatch().
 * The chosen handler answers with pt_respond() (status, headers, and a body
 * *source*), or pt_respond_error().  Bodies are pulled: the protocol calls
 * the source's read() only when the client connection can take more, so a
 * response of any size costs a bounded amount of memory.  A source that has
 * nothing yet returns PT_BODY_AGAIN and calls pt_req_resume() later. */
#ifndef PT_REQUEST_H
#define PT_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <netinet/in.h>

#include "gateway/ipaddr.h"
#include "gateway/iptable.h"
#include "gateway/pool.h"

struct pt_req;
struct pt_config;
struct pt_vhost;
struct pt_mount;
struct pt_listen;
struct pt_worker;
struct ev_loop;

enum pt_method {
    PT_M_OTHER, PT_M_GET, PT_M_HEAD, PT_M_POST, PT_M_PUT, PT_M_DELETE,
    PT_M_OPTIONS, PT_M_PATCH, PT_M_CONNECT, PT_M_TRACE,
};

#define PT_RAW_LINE_MAX 1024

struct pt_hdr {
    const char *name;   /* request: as received; response: as given */
    const char *value;
    size_t name_len, value_len;
};

#define PT_BODY_AGAIN ((ssize_t)-2)
#define PT_BODY_ERROR ((ssize_t)-1)

struct pt_body_ops {
    /* Copy up to len bytes of body into buf.  Returns the count (> 0), 0 at
     * the end, PT_BODY_AGAIN, or PT_BODY_ERROR (the response is aborted). */
    ssize_t (*read)(struct pt_req *r, char *buf, size_t len);
    /* Optional zero-copy path for plaintext HTTP/1: the next bytes of the
     * body are the file range fd[*off, *off + *len).  Return 0 if so (-1:
     * use read() now).  The protocol sendfile()s it and calls advance()
     * with what it sent; the body may go on after the range. */
    int (*file)(struct pt_req *r, int *fd, off_t *off, size_t *len);
    void (*advance)(struct pt_req *r, size_t n);
    /* Called once when the response ends (complete or not). */
    void (*close)(struct pt_req *r);
};

/* Data a handler keeps across the requests of one session, an HTTP/1
 * connection or an HTTP/2 stream (a plugin's per-session data).  A session
 * holds at most one; a request routed to a mount whose session_owner
 * differs drops it first, and the session's end drops it. */
struct pt_session {
    const void *owner;            /* the session_owner of the mount that made it */
    void (*drop)(struct pt_session *s);
};

/* Drops the session data *slot holds, if any. */
void pt_session_drop(struct pt_session **slot);

/* What a protocol does for the request layer (vtable; h1 and h2). */
struct pt_proto {
    const char *name;             /* "HTTP/1.1", "HTTP/2" (for logs) */
    /* pt_respond() was called: the head is complete.  The response may come
     * from the handler's dispatch call or later, from its own events. */
    void (*respond)(struct pt_req *r);
    /* The body source has data again after PT_BODY_AGAIN. */
    void (*resume)(struct pt_req *r);
    /* Request body, pulled: see pt_req_body_read(). */
    ssize_t (*body_read)(struct pt_req *r, char *buf, size_t len);
    /* An interim (1xx) response before the final one: see
     * pt_respond_interim(). */
    void (*interim)(struct pt_req *r, int status, const struct pt_hdr *hdrs, size_t n);
    /* Ends the exchange now, whatever its state (HTTP/1: the connection
     * closes; HTTP/2: the stream is reset): see pt_req_abort(). */
    void (*abort)(struct pt_req *r);
};

struct pt_req {
    struct pt_pool *pool;
    const struct pt_proto *proto;
    void *proto_ctx;              /* the protocol's per-request/connection state */
    struct pt_config *conf;       /* snapshot the connection holds */
    struct pt_worker *worker;     /* the worker running it (per-worker state) */
    bool conf_held;               /* a use of conf on worker (pt_conn_init_req) */
    struct ev_loop *loop;         /* the worker's loop, for handlers' watchers */
    const struct pt_listen *listen;

    /* peer: the client (behind trusted proxies: the one they name) */
    struct pt_ip peer;
    char peer_ip[46];
    const char *hop_ip;           /* the trusted proxy it came through, or NULL */
    uint16_t peer_port;
    uint16_t local_port;
    bool tls;
    bool client_cert;             /* TLS with a verified client certificate */
    const char *tls_version;      /* "TLSv1.3" (OpenSSL's, static); NULL: plaintext */

    /* request */
    enum pt_method method;
    const char *method_str;
    size_t method_len;
    int version;                  /* 10, 11, 20 */
    const char *target;           /* raw request-target */
    size_t target_len;
    const char *raw_line;         /* refused as malformed: the first line received */
    size_t raw_line_len;          /* (at most PT_RAW_LINE_MAX bytes), for the log */
    const char *path;             /* decoded + normalized, NUL-terminated */
    size_t path_len;
    const char *query;            /* after '?', raw; NULL when none */
    size_t query_len;
    const char *authority;        /* Host / :authority without port, lower-case */
    size_t authority_len;
    struct pt_hdr *hdrs;
    size_t n_hdrs;
    int64_t content_length;       /* -1 unknown */
    bool has_body;

    /* routing */
    const struct pt_vhost *sni_vhost; /* TLS: the vhost whose certificate was served */
    const struct pt_vhost *vhost;
    const struct pt_mount *mount;
    const char *rest;             /* path past the mountpoint ("" or "/...") */
    size_t rest_len;
    const char *remote_user;      /* after basic-auth */
    int status_override;          /* error-document: keep the original status */
    int internal_redirects;

    /* response */
    int status;
    struct pt_hdr *resp_hdrs;
    size_t n_resp_hdrs, cap_resp_hdrs;
    int64_t resp_length;          /* -1: unknown (chunked / close-delimited) */
    const struct pt_body_ops *body;
    void *body_ctx;
    bool responded;
    bool keep_vary;
    /* Trailer fields: see pt_resp_trailer() and pt_req_body_read(). */
    struct pt_hdr *resp_trailers;
    size_t n_resp_trailers, cap_resp_trailers;
    struct pt_hdr *req_trailers;
    size_t n_req_trailers, cap_req_trailers;

    /* The session's data slot: the HTTP/1 connection's, else own_session. */
    struct pt_session **session;
    struct pt_session *own_session;

    /* handler state for asynchronous handlers (CGI, proxy) */
    void *handler_ctx;
    /* Called once more request body is available after pt_req_body_read()
     * returned PT_BODY_AGAIN. */
    void (*on_body_ready)(struct pt_req *r);
    /* Called once when the exchange ends, complete or aborted (client gone,
     * timeout, shutdown): the handler releases what it holds (kills a CGI
     * program, returns an upstream connection).  After it, r is gone. */
    void (*on_finish)(struct pt_req *r);
    /* Optional: the worker is stopping (or the connection cannot follow a
     * new configuration) and wants this exchange to end soon: a long-lived
     * one (a WebSocket) says goodbye rather than wait for the drain
     * timeout. */
    void (*on_drain)(struct pt_req *r);
    bool body_taken;              /* a handler reads the body (no discard) */
    bool continue_sent;           /* "100 Continue" went out */
    /* HTTP/1.1 "Connection: upgrade" with an Upgrade field: a handler may
     * answer 101 with a body source, and the connection becomes a tunnel
     * (the request body is then the client's raw bytes until it closes,
     * the response body the handler's until it ends). */
    bool upgrade;
    const char *upgrade_proto;    /* HTTP/2 extended CONNECT: its :protocol */

    /* limits (gateway/limits.c) */
    struct pt_ipslot limit_slot;  /* a processing slot of its peer, held */
    void *limit_wait;             /* waiting for one */
    bool limits_done;             /* checked (internal redirects are not again) */

    /* accounting */
    double start;                 /* ev_time() at the first byte */
    uint64_t bytes_sent;          /* body bytes */
    uint64_t bytes_received;      /* request body bytes a handler read */
    const char *log_note;         /* why an error was sent (for the log) */
    const char *upstream_addr;    /* proxied: the backend that answered, "ip:port" */
    double upstream_time;         /* and the seconds until its response head */
};

/* Appends a slot to a pool-allocated header array (growing it), e.g. a
 * protocol collecting request headers. */
struct pt_hdr *pt_hdr_push(struct pt_pool *pool, struct pt_hdr **arr, size_t *n,
                           size_t *cap);

/* Lower-case-insensitive lookup; returns the value or NULL.  *len set. */
const char *pt_req_header(const struct pt_req *r, const char *name, size_t *len);

/* Sets r->authority from a Host / :authority value: the port is dropped
 * ("[v6]:port" keeps its brackets) and the name lower-cased. */
void pt_req_set_authority(struct pt_req *r, const char *host, size_t len);

/* Adds a response header (copied into the pool). */
void pt_resp_header(struct pt_req *r, const char *name, const char *value);
void pt_resp_headern(struct pt_req *r, const char *name, size_t nlen,
                     const char *value, size_t vlen);
/* Adds a header by reference, unchecked: for constants and strings that
 * outlive the request (the config snapshot, the pool). */
void pt_resp_header_ref(struct pt_req *r, const char *name, size_t nlen,
                        const char *value, size_t vlen);

/* Adds a trailer field to the response (copied; RFC 9110 6.5): a body
 * source adds them before its read() returns 0.  HTTP/2 sends them in a
 * last HEADERS frame, HTTP/1.1 after the last chunk; a response framed by
 * Content-Length (or to an HTTP/1.0 client) has no room for them and they
 * are dropped.  Fields that may not be trailers (pt_http_trailer_allowed)
 * and invalid ones are dropped too. */
void pt_resp_trailer(struct pt_req *r, const char *name, size_t nlen, const char *value,
                     size_t vlen);

/* Starts the response.  length: body length, or -1 when unknown.  body may
 * be NULL for an empty body.  Adds the vhost's and the mount's `headers`. */
void pt_respond(struct pt_req *r, int status, int64_t length,
                const struct pt_body_ops *body, void *ctx);

/* Sends an interim response (102..199 but 101, e.g. 103 Early Hints)
 * ahead of the final one, where the client's protocol can carry it
 * (HTTP/1.1, HTTP/2; an HTTP/1.0 client gets nothing).  Fields are
 * checked like response fields; invalid ones are dropped. */
void pt_respond_interim(struct pt_req *r, int status, const struct pt_hdr *hdrs, size_t n);

/* A response whose body is a buffer owned by the pool (or static). */
void pt_respond_buf(struct pt_req *r, int status, const char *content_type,
                    const char *buf, size_t len);

/* An error response: error-document-NNN of the vhost when set, else the
 * built-in HTML page linking /error.css.  note goes to the log. */
void pt_respond_error(struct pt_req *r, int status, const char *note);

/* Reads request body bytes (decoded: no chunked framing) into buf.
 * Returns the count (> 0), 0 at the end of the body (also for requests
 * without one), PT_BODY_AGAIN when nothing is available now (the protocol
 * calls r->on_body_ready later), or PT_BODY_ERROR (bad framing, client
 * gone).  Backpressure: until the handler reads, the protocol takes nothing
 * more from the client (HTTP/1 stops reading the socket; HTTP/2 does not
 * reopen the stream's flow-control window).  The first call answers an
 * "Expect: 100-continue".  Once it returned 0, r->req_trailers holds the
 * body's trailer fields, if it had any (HTTP/1.1 chunked, HTTP/2). */
ssize_t pt_req_body_read(struct pt_req *r, char *buf, size_t len);

/* The handler will read the request body, later than its dispatch call
 * (a proxy connecting to its backend first): the protocol keeps what has
 * arrived and reads no more until pt_req_body_read(), instead of dropping
 * a body nobody asked for. */
void pt_req_body_keep(struct pt_req *r);

/* Wakes the protocol after the body source returned PT_BODY_AGAIN. */
void pt_req_resume(struct pt_req *r);

/* Common body source: a byte range of an open file (pread or sendfile).
 * The fd is closed when the response ends if own_fd. */
void pt_respond_file(struct pt_req *r, int status, int fd, bool own_fd,
                     off_t off, uint64_t len);

/* Routing entry point called by protocols once the request head is parsed:
 * vhost, mount, basic auth, then the mount's handler. */
void pt_dispatch(struct pt_req *r);

/* Set at start (plugins/websocket.c): offered each WebSocket request
 * (r->mount set, basic auth passed) before its mount's handler, unless
 * that handler owns upgrades; returns true when it took the request. */
extern bool (*pt_dispatch_upgrade)(struct pt_req *r);

/* Routing after the limits phase let a waiting request go on. */
void pt_dispatch_resume(struct pt_req *r);

/* An internal redirect: serves r again for another path on the same vhost
 * (error documents, CGI local redirects).  path is decoded and normalized;
 * target (NULL: keep the one received, for the log) and query are raw.
 * Counts r->internal_redirects and clears what routing and the previous
 * handler set (mount, rest, remote user, handler hooks: the previous
 * handler must have released what it held), then dispatches. */
void pt_req_reprocess(struct pt_req *r, const char *target, size_t target_len,
                      const char *path, size_t path_len, const char *query,
                      size_t query_len);

/* Ends r at once, from the handler's own event (a timer), not from inside
 * a protocol callback: HTTP/1 closes the connection, HTTP/2 resets the
 * stream.  on_finish runs (now, or when the reset is done) and r is gone
 * after it: the caller touches nothing of r's after this call. */
void pt_req_abort(struct pt_req *r);

/* Called by the protocols for each exchange in flight when their
 * connection drains: r->on_drain, if set (once). */
void pt_req_drain(struct pt_req *r);

/* Called by the protocol when the exchange is over: access log, body close.
 * The protocol frees the pool afterwards. */
void pt_req_finish(struct pt_req *r);

/* The vhost a request that cannot be routed belongs to: its SNI vhost,
 * else the first on its port; from the request's own snapshot (its
 * connection may have moved to a newer one since). */
const struct pt_vhost *pt_req_default_vhost(const struct pt_req *r);

enum pt_method pt_method_from(const char *s, size_t len);
const char *pt_status_reason(int status);

#endif
