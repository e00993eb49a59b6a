/* WebSocket server connections (RFC 6455, and RFC 8441 over HTTP/2) on
 * top of the request API: after the handshake the request body is the
 * client's frames and the response body ours, so one implementation
 * serves HTTP/1.1 (a 101 and a tunnel) and HTTP/2 (an extended CONNECT
 * stream), with the protocols' own backpressure.
 *
 * The application side (plugins/websocket.c) gives a struct pt_ws_app:
 * what to call, and the limits.  Messages arrive whole; sending is paced
 * by writeable() (see include/portico/plugin.h for the rules plugins see).
 *
 *   frame.c      frame heads, masking, UTF-8
 *   deflate.c    permessage-deflate (RFC 7692)
 *   handshake.c  the upgrade request checked and answered
 *   session.c    a connection: frames in, messages out, ping, close */
#ifndef PT_WS_H
#define PT_WS_H

#include <stdbool.h>
#include <stddef.h>

struct pt_req;
struct pt_ws;

struct pt_ws_app {
    int (*open)(struct pt_ws *ws);
    void (*message)(struct pt_ws *ws, const char *data, size_t len, int binary);
    void (*writeable)(struct pt_ws *ws);
    void (*closed)(struct pt_ws *ws, int code);
    /* ws is about to be freed (after closed()): drop references to it. */
    void (*freed)(struct pt_ws *ws);
};

struct pt_ws_limits {
    size_t max_message;      /* bytes, after inflating */
    double ping_secs;        /* ping after this much silence; 0: never */
};

/* Whether r asks for a WebSocket: HTTP/1.1 "Upgrade: websocket", or an
 * HTTP/2 extended CONNECT with :protocol websocket. */
bool pt_ws_requested(const struct pt_req *r);

/* The subprotocols r offers (Sec-WebSocket-Protocol), in order: calls
 * fn(name, len, arg) for each until it returns true; returns that one's
 * name (in the pool) or NULL. */
const char *pt_ws_pick_protocol(struct pt_req *r,
                                bool (*fn)(const char *name, size_t len, void *arg),
                                void *arg);

/* Checks the handshake and answers it (101, or 200 on HTTP/2), agreeing
 * on protocol (NULL: none) and permessage-deflate when offered; the
 * session then runs on r's worker.  extra bytes of zeroed user data come
 * with it (pt_ws_user).  On a bad handshake it answers 400 (or 426 for
 * another version) and returns NULL. */
struct pt_ws *pt_ws_accept(struct pt_req *r, const char *protocol, const struct pt_ws_app *app,
                           void *owner, size_t extra, const struct pt_ws_limits *lim);

void *pt_ws_owner(const struct pt_ws *ws);
void *pt_ws_user(struct pt_ws *ws);
struct pt_req *pt_ws_req(struct pt_ws *ws);

#endif
