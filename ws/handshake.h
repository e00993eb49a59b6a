/* The opening handshake's checks (RFC 6455 4.2.1; RFC 8441 5). */
#ifndef PT_WS_HANDSHAKE_H
#define PT_WS_HANDSHAKE_H

struct pt_req;

#define PT_WS_ACCEPT_LEN 28

/* Checks r as a WebSocket opening request.  HTTP/1.1: fills accept with
 * the Sec-WebSocket-Accept value (NUL-terminated).  Returns 0, or the
 * status to refuse with (400, or 426 for another Sec-WebSocket-Version)
 * and *why for the log. */
int pt_ws_handshake_check(const struct pt_req *r, char accept[PT_WS_ACCEPT_LEN + 1],
                          const char **why);

#endif
