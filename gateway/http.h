/* HTTP rules that every protocol session (HTTP/1, HTTP/2, server and
 * client) and handler applies the same way, kept in one place. */
#ifndef PT_HTTP_H
#define PT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

struct pt_pool;
struct pt_req;

/* Whether a response with this status has a body (not 1xx, 204, 304). */
static inline bool pt_http_status_has_body(int status)
{
    return !(status < 200 || status == 204 || status == 304);
}

/* Connection-specific fields (RFC 9113 8.2.2): Connection, Keep-Alive,
 * Proxy-Connection, Transfer-Encoding, Upgrade.  Never sent over HTTP/2. */
bool pt_http_connection_specific(const char *name, size_t len);

/* Hop-by-hop fields (RFC 9110 7.6.1): the connection-specific ones plus
 * TE and Trailer.  Never forwarded by a gateway (CGI output, proxy). */
bool pt_http_hop_by_hop(const char *name, size_t len);

/* Whether a field may travel as a trailer (RFC 9110 6.5.1): not framing,
 * routing, a request modifier, authentication, response control data or
 * content metadata, not hop-by-hop, not a pseudo-header.  Gateways drop
 * the others. */
bool pt_http_trailer_allowed(const char *name, size_t len);

/* Whether the comma-separated list list[0..len) (a Connection value) has
 * the token name[0..nlen), case-insensitively. */
bool pt_http_list_has(const char *list, size_t len, const char *name, size_t nlen);

/* Case-insensitive comparison of a field name with a literal.  Inline:
 * with a literal, the length check is a constant compare and most names
 * are told apart by it alone. */
static inline bool pt_http_name_is(const char *name, size_t len, const char *lit)
{
    return strlen(lit) == len && strncasecmp(name, lit, len) == 0;
}

/* The absolute-form target scheme://authority/path?q in origin form
 * ("/path?q", "/" when the path is empty; in pool when it had to be
 * made).  auth, alen: the authority.  A target already in origin form is
 * returned as it is (*alen = 0).  NULL: not a usable absolute-form. */
const char *pt_http_origin_form(struct pt_pool *pool, const char *t, size_t len,
                                size_t *out_len, const char **auth, size_t *alen);

/* The fields the protocol writes itself for every response: Date,
 * Server (from server-string; server_len 0: none) and Content-Length
 * (clen_len 0: none, the body is chunked or close-delimited). */
struct pt_std_fields {
    const char *date;          /* PT_HTTPDATE_LEN bytes, this second's */
    const char *server;
    size_t server_len;
    char clen[24];
    size_t clen_len;
};
void pt_http_std_fields(const struct pt_req *r, struct pt_std_fields *f);

/* A body source ended (read() returned 0) before r->resp_length bytes were
 * sent: logged, and true, so the caller aborts the response rather than
 * let it pass as complete. */
bool pt_http_body_short(const struct pt_req *r);

#endif
