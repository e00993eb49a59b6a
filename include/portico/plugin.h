/* portico plugin API: handlers for callback:// mounts, in a shared object
 * loaded from a "plugin-dir", or built into portico.
 *
 * A plugin exports one descriptor, `const struct pt_plugin pt_plugin`,
 * and calls only the pt_plugin_*() functions below (portico exports them).
 * It needs nothing but this header:
 *
 *     cc -shared -fPIC -o hello.so hello.c -I/usr/local/include
 *
 * Lifecycle (docs/plugins.md has the whole story):
 *   load         at start, every "*.so" of every plugin-dir is opened and its
 *                descriptor checked: abi_version must be PT_PLUGIN_ABI (else
 *                the plugin is refused, naming both versions), and portico
 *                never reads a field past struct_size.
 *   instance     a plugin gets one instance per vhost that uses it (a
 *                callback:// mount names it, by name or alias), with
 *                vhost_data_size zeroed bytes and the options of the vhost's
 *                "ws-protocols" entry for it; vhost_init() runs then (on the
 *                main thread), vhost_destroy() when the configuration goes.
 *   session      session_data_size zeroed bytes, made on the first
 *                pt_plugin_session() of a session: an HTTP/1 connection (kept
 *                across its keep-alive requests to this instance's mounts)
 *                or an HTTP/2 stream.  It is freed (session_destroy() first)
 *                when the session ends or its next request goes to a URL
 *                outside the instance's mounts.
 *   request      on_request(r) for each request to a callback:// mount.
 *
 * Threads: every callback but vhost_init/vhost_destroy runs on the worker
 * thread that owns the connection.  Instance data is shared by the workers
 * (guard what you write in it); session data and requests are not.
 *
 * Nothing may block.  A plugin that must wait returns from on_request and
 * answers later: from a timer (pt_plugin_timer_start), from its own libev
 * watchers on pt_plugin_loop(r), or when more request body comes
 * (pt_plugin_on_body).  A body source that has nothing yet returns
 * PT_PLUGIN_AGAIN and calls pt_plugin_resume() when it has. */
#ifndef PORTICO_PLUGIN_H
#define PORTICO_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PT_PLUGIN_ABI 1

struct pt_req;              /* one request (opaque) */
struct pt_plugin_vhost;     /* a plugin's instance on one vhost (opaque) */
struct pt_plugin_timer;     /* see pt_plugin_timer_start() */
struct pt_ws;               /* one WebSocket connection (opaque) */

/* Returned by pt_plugin_body_read() and a body source's read(). */
#define PT_PLUGIN_AGAIN (-2L)
#define PT_PLUGIN_ERROR (-1L)

/* A response body, pulled: portico calls read() only when the client can
 * take more (backpressure), so a body of any size costs bounded memory. */
struct pt_plugin_body {
    /* Copies up to len bytes into buf: returns the count (> 0), 0 at the
     * end, PT_PLUGIN_AGAIN (nothing now: call pt_plugin_resume() later),
     * or PT_PLUGIN_ERROR (the response is cut off). */
    long (*read)(struct pt_req *r, char *buf, size_t len);
    /* Optional: the response ended, complete or not. */
    void (*close)(struct pt_req *r);
};

struct pt_plugin {
    unsigned abi_version;        /* PT_PLUGIN_ABI */
    size_t struct_size;          /* sizeof(struct pt_plugin) */
    const char *name;            /* lwsws protocol name: "protocol-post-demo" */
    const char *alias;           /* a short name ("post-demo"), or NULL */
    size_t vhost_data_size;      /* per-instance data (pt_plugin_vhost_data) */
    size_t session_data_size;    /* per-session data (pt_plugin_session) */
    /* Optional.  0, or -1 after pt_plugin_vhost_error(): the configuration
     * is refused. */
    int (*vhost_init)(struct pt_plugin_vhost *pv);
    void (*vhost_destroy)(struct pt_plugin_vhost *pv);
    /* Optional: before session data is freed. */
    void (*session_destroy)(struct pt_plugin_vhost *pv, void *session);
    /* A request to a callback:// mount of this plugin: answer it now or
     * later with pt_plugin_respond*() / pt_plugin_error(). */
    void (*on_request)(struct pt_req *r);

    /* WebSocket (RFC 6455; RFC 8441 over HTTP/2).  A plugin with
     * ws_message takes WebSocket connections: those to its callback://
     * mounts, and those to any other URL of a vhost that enables it in
     * "ws-protocols" and whose Sec-WebSocket-Protocol names it (or that
     * ask none, when its entry has "default": "1").  Messages arrive
     * whole (fragments joined, permessage-deflate undone, text checked as
     * UTF-8), up to ws_max_message bytes (0: 65536; the vhost's
     * "max-message" option overrides it); a bigger one closes with 1009.
     * Session data (session_data_size) lives as long as the connection. */
    size_t ws_max_message;
    /* Optional: the connection is open (the handshake was answered).
     * Return -1 to close it again at once (close code 1011). */
    int (*ws_open)(struct pt_ws *ws);
    void (*ws_message)(struct pt_ws *ws, const char *data, size_t len, int binary);
    /* The connection can take a message now (after pt_ws_want_writeable):
     * send one with pt_ws_send().  Sending only from here is what keeps a
     * slow client from growing a queue. */
    void (*ws_writeable)(struct pt_ws *ws);
    /* Optional: the connection is closing, once: code is the peer's close
     * code, or portico's when it ended it (1001 going away or no pong,
     * 1002 protocol error, 1007 bad UTF-8 or compressed data, 1009 too
     * big, 1011 ws_open refused), 1006 when the peer vanished.  Nothing
     * can be sent from here on.  ws is freed once the exchange is over
     * (at the latest): stop timers that point at it here. */
    void (*ws_closed)(struct pt_ws *ws, int code);
};

/* ---- instances ---------------------------------------------------------- */

void *pt_plugin_vhost_data(struct pt_plugin_vhost *pv);
const char *pt_plugin_vhost_name(const struct pt_plugin_vhost *pv);
/* The value of an option in the vhost's "ws-protocols" entry for this
 * plugin ({"name": {"option": "value"}}), or NULL. */
const char *pt_plugin_option(const struct pt_plugin_vhost *pv, const char *name);
/* From vhost_init: says why the instance cannot work (the config is
 * refused with this message, at the ws-protocols entry or the mount). */
void pt_plugin_vhost_error(struct pt_plugin_vhost *pv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- the request -------------------------------------------------------- */

struct pt_plugin_vhost *pt_plugin_instance(struct pt_req *r);
/* Session data (see above); NULL when session_data_size is 0 or out of
 * memory. */
void *pt_plugin_session(struct pt_req *r);
/* A "pmo" option of the request's mount ({"name": "value"}), or NULL. */
const char *pt_plugin_mount_option(struct pt_req *r, const char *name);

const char *pt_plugin_method(const struct pt_req *r);     /* "GET" */
/* The decoded, normalized path; rest: the part past the mountpoint. */
const char *pt_plugin_path(const struct pt_req *r);
const char *pt_plugin_rest(const struct pt_req *r);
/* The raw query (after '?'), or NULL.  Not NUL-terminated: *len. */
const char *pt_plugin_query(const struct pt_req *r, size_t *len);
/* A request header (case-insensitive name), or NULL.  Not NUL-terminated:
 * *len. */
const char *pt_plugin_header(const struct pt_req *r, const char *name, size_t *len);
const char *pt_plugin_peer(const struct pt_req *r);       /* "192.0.2.7" */
int pt_plugin_http_version(const struct pt_req *r);       /* 10, 11, 20 */
/* The body's length, or -1 when not known in advance (chunked, HTTP/2). */
long long pt_plugin_content_length(const struct pt_req *r);
/* Memory that lives as long as the request. */
void *pt_plugin_alloc(struct pt_req *r, size_t size);
/* A pointer for the plugin's own state of this request. */
void pt_plugin_set_ctx(struct pt_req *r, void *ctx);
void *pt_plugin_ctx(const struct pt_req *r);
/* Called once when the exchange ends, complete or not (client gone,
 * timeout, shutdown): release what the request holds.  r is gone after. */
void pt_plugin_on_finish(struct pt_req *r, void (*fn)(struct pt_req *r));

/* Request body, pulled: > 0 bytes, 0 at its end, PT_PLUGIN_AGAIN (nothing
 * now: ready() is called when more came, see pt_plugin_on_body), or
 * PT_PLUGIN_ERROR.  Until the plugin reads, portico takes no more from
 * the client. */
long pt_plugin_body_read(struct pt_req *r, char *buf, size_t len);
void pt_plugin_on_body(struct pt_req *r, void (*ready)(struct pt_req *r));

/* ---- the response ------------------------------------------------------- */

/* Adds a response header (copied); before pt_plugin_respond(). */
void pt_plugin_header_add(struct pt_req *r, const char *name, const char *value);
/* Starts the response: length is the body's, or -1 when unknown (chunked
 * on HTTP/1.1).  body NULL: no body. */
void pt_plugin_respond(struct pt_req *r, int status, long long length,
                       const struct pt_plugin_body *body);
/* A whole response from memory (copied). */
void pt_plugin_respond_data(struct pt_req *r, int status, const char *content_type,
                            const void *data, size_t len);
/* portico's error page for status; why goes to the log.  The request is
 * the plugin's no more: a pt_plugin_on_finish() hook runs now. */
void pt_plugin_error(struct pt_req *r, int status, const char *why);
/* The body source has data again after PT_PLUGIN_AGAIN. */
void pt_plugin_resume(struct pt_req *r);

/* ---- WebSocket ---------------------------------------------------------- */

struct pt_plugin_vhost *pt_ws_instance(struct pt_ws *ws);
/* Session data: session_data_size zeroed bytes for this connection. */
void *pt_ws_session(struct pt_ws *ws);
const char *pt_ws_path(const struct pt_ws *ws);
const char *pt_ws_query(const struct pt_ws *ws, size_t *len);   /* or NULL */
const char *pt_ws_protocol(const struct pt_ws *ws); /* the subprotocol agreed, or NULL */
const char *pt_ws_peer(const struct pt_ws *ws);
/* Asks for one ws_writeable() call, as soon as the client takes what was
 * sent before. */
void pt_ws_want_writeable(struct pt_ws *ws);
/* Any thread: ws_writeable() for every WebSocket connection of the
 * instance, each on its own worker's thread (lws's "writeable all").  Not
 * once the instance's vhost_destroy() has begun. */
void pt_ws_want_writeable_all(struct pt_plugin_vhost *pv);
/* Sends one message (copied, compressed when the client agreed to
 * permessage-deflate).  Returns 0, or -1 when the connection is closing or
 * still holds 64 KiB unsent (send from ws_writeable instead). */
int pt_ws_send(struct pt_ws *ws, const void *data, size_t len, int binary);
/* Starts the close handshake (code 1000..4999; reason up to 123 bytes). */
void pt_ws_close(struct pt_ws *ws, int code, const char *reason);

/* ---- the loop ----------------------------------------------------------- */

/* The worker's libev loop (struct ev_loop *), for a plugin's own watchers
 * and timers. */
void *pt_plugin_loop(struct pt_req *r);
void *pt_ws_loop(struct pt_ws *ws);
/* Calls fn(arg) after secs, then every `repeat` seconds if repeat > 0, on
 * loop's thread (pt_plugin_loop or pt_ws_loop).  The timer is freed by
 * pt_plugin_timer_stop() only, also after a one-shot timer fired; stop it
 * before what arg points to goes. */
struct pt_plugin_timer *pt_plugin_timer_start(void *loop, double secs, double repeat,
                                              void (*fn)(void *arg), void *arg);
void pt_plugin_timer_stop(struct pt_plugin_timer *t);

/* ---- logging ------------------------------------------------------------ */

enum { PT_PLUGIN_LOG_ERR = 3, PT_PLUGIN_LOG_WARN = 4, PT_PLUGIN_LOG_INFO = 6,
       PT_PLUGIN_LOG_DEBUG = 7 };
/* To portico's error log, prefixed with the plugin's name. */
void pt_plugin_log(const struct pt_plugin_vhost *pv, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
