/* Where a proxy mount sends its requests: the origin parsed
 * ("http://host[:port][/prefix]", "https://...", or nginx's unix-socket
 * form "http://unix:/run/app.sock:/prefix") and its addresses. */
#ifndef PT_UPSTREAM_H
#define PT_UPSTREAM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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
    uint32_t stats_id;       /* its connection gauges (gateway/stats.h) */
    bool unix_socket;
    /* The addresses: replaced by the resolver thread while workers read
     * them, so read them with pt_upstream_pick() (under lock). */
    pthread_mutex_t lock;
    struct pt_upstream_addr *addrs;
    size_t n_addrs;
    /* Re-resolution (resolver.c): names only, not addresses or sockets. */
    double interval;         /* seconds; 0: resolved once, at load */
    double due;              /* next time (CLOCK_MONOTONIC seconds) */
    struct pt_upstream *rnext;
};

/* Parses origin (with its scheme).  Returns 0, or -1 with *why (static). */
int pt_upstream_parse(struct pt_upstream *u, const char *origin, const char **why);

/* Looks the host up (all its addresses) or fills in the unix socket.
 * Called at load, on the main thread, never on a worker.  Returns 0, or
 * -1 with the resolver's message in why[0..size). */
int pt_upstream_resolve(struct pt_upstream *u, char *why, size_t size);

void pt_upstream_free(struct pt_upstream *u);

/* Looks the name up again and publishes the answer (the resolver thread).
 * Returns false (why set; the old list stays) when the lookup fails;
 * *changed tells whether the list is new. */
bool pt_upstream_refresh(struct pt_upstream *u, char *why, size_t size, bool *changed);

/* Copies address number i (modulo their count) into out; false when
 * there is none. */
bool pt_upstream_pick(struct pt_upstream *u, size_t i, struct pt_upstream_addr *out);

/* Whether the host is a name (not an address, not a unix socket). */
bool pt_upstream_is_name(const struct pt_upstream *u);

/* The resolver thread (resolver.c): u's name is looked up again every
 * interval seconds, off every worker, and its address list replaced when
 * the answer changes (a failed lookup keeps the old one).  Registered at
 * setup, removed at teardown (main thread); the thread runs while any is
 * registered. */
void pt_resolver_add(struct pt_upstream *u, double interval);
void pt_resolver_remove(struct pt_upstream *u);

#endif
