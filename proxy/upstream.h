/* Where a proxy mount sends its requests: the origin parsed
 * ("http://host[:port][/prefix]", "https://...", or nginx's unix-socket
 * form "http://unix:/run/app.sock:/prefix") and its addresses. */
#ifndef PT_UPSTREAM_H
#define PT_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct pt_upstream_addr {
    struct sockaddr_storage sa;
    socklen_t len;
};

struct pt_upstream {
    char *name;              /* "host:port" or "unix:/path", for logs */
    char *host;              /* host name or address (brackets kept) */
    char *host_header;       /* Host sent upstream: "host", or "host:port" */
    char *prefix;            /* "" or "/app" (never a trailing '/') */
    size_t prefix_len;
    int port;
    bool tls;                /* https */
    bool unix_socket;
    struct pt_upstream_addr *addrs;
    size_t n_addrs;
};

/* Parses origin (with its scheme).  Returns 0, or -1 with *why (static). */
int pt_upstream_parse(struct pt_upstream *u, const char *origin, const char **why);

/* Looks the host up (all its addresses) or fills in the unix socket.
 * Called at load, on the main thread, never on a worker.  Returns 0, or
 * -1 with the resolver's message in why[0..size). */
int pt_upstream_resolve(struct pt_upstream *u, char *why, size_t size);

void pt_upstream_free(struct pt_upstream *u);

#endif
