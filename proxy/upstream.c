/* Proxy origins: parsing and address lookup (see upstream.h). */
#include "proxy/upstream.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* The path prefix after the authority: "" or "/x/y" without a trailing '/'
 * (the client's path, which starts with '/', follows it). */
static int set_prefix(struct pt_upstream *u, const char *p, const char **why)
{
    size_t n = strlen(p);
    if (n && p[0] != '/') {
        *why = "the path after the host must start with '/'";
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#') {
            *why = "the path contains a space, control, '?' or '#' (percent-encode it)";
            return -1;
        }
    }
    while (n && p[n - 1] == '/')
        n--;
    u->prefix = dup_n(p, n);
    u->prefix_len = n;
    return u->prefix ? 0 : -1;
}

int pt_upstream_parse(struct pt_upstream *u, const char *origin, const char **why)
{
    memset(u, 0, sizeof(*u));
    pthread_mutex_init(&u->lock, NULL);
    const char *rest;
    if (strncasecmp(origin, "https://", 8) == 0) {
        u->tls = true;
        rest = origin + 8;
    } else if (strncasecmp(origin, "http://", 7) == 0) {
        rest = origin + 7;
    } else {
        *why = "expected http:// or https://";
        return -1;
    }
    if (strncmp(rest, "unix:", 5) == 0) {
        /* nginx's form: unix:/path/to.sock[:/prefix] */
        const char *path = rest + 5;
        const char *colon = strchr(path, ':');
        size_t plen = colon ? (size_t)(colon - path) : strlen(path);
        if (plen == 0 || path[0] != '/') {
            *why = "a unix socket needs an absolute path (unix:/run/app.sock:/prefix)";
            return -1;
        }
        if (plen >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            *why = "the unix socket path is too long";
            return -1;
        }
        u->unix_socket = true;
        u->host = dup_n(path, plen);
        u->name = malloc(plen + 6);
        if (u->name)
            snprintf(u->name, plen + 6, "unix:%s", u->host);
        u->host_header = dup_n("localhost", 9);
        return set_prefix(u, colon ? colon + 1 : "", why);
    }
    size_t alen = strcspn(rest, "/");
    const char *auth = rest;
    if (alen == 0) {
        *why = "no host after the scheme";
        return -1;
    }
    const char *hend = auth + alen, *port = NULL;
    if (auth[0] == '[') {
        const char *rb = memchr(auth, ']', alen);
        if (!rb) {
            *why = "an IPv6 address needs its closing ']'";
            return -1;
        }
        if (rb + 1 < hend) {
            if (rb[1] != ':') {
                *why = "unexpected text after the IPv6 address";
                return -1;
            }
            port = rb + 2;
        }
        hend = rb + 1;
    } else {
        const char *colon = memchr(auth, ':', alen);
        if (colon) {
            port = colon + 1;
            hend = colon;
        }
    }
    u->port = u->tls ? 443 : 80;
    if (port) {
        char *end;
        long n = strtol(port, &end, 10);
        if (end == port || end != auth + alen || n < 1 || n > 65535) {
            *why = "the port must be a number 1..65535";
            return -1;
        }
        u->port = (int)n;
    }
    if (hend == auth) {
        *why = "no host after the scheme";
        return -1;
    }
    for (const char *c = auth; c < hend; c++) {
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == '@') {
            *why = "the host contains a space, control byte or '@'";
            return -1;
        }
    }
    u->host = dup_n(auth, (size_t)(hend - auth));
    bool default_port = u->port == (u->tls ? 443 : 80);
    size_t n = (size_t)(hend - auth) + 8;
    u->host_header = malloc(n);
    u->name = malloc(n);
    if (!u->host || !u->host_header || !u->name)
        return -1;
    snprintf(u->name, n, "%s:%d", u->host, u->port);
    if (default_port)
        snprintf(u->host_header, n, "%s", u->host);
    else
        snprintf(u->host_header, n, "%s:%d", u->host, u->port);
    return set_prefix(u, auth + alen, why);
}

/* Looks the host up into a new array.  Returns 0, or -1 with why. */
static int lookup(const struct pt_upstream *u, struct pt_upstream_addr **out, size_t *count,
                  char *why, size_t size)
{
    char host[256], port[8];
    size_t hl = strlen(u->host);
    const char *h = u->host;
    if (h[0] == '[') { /* getaddrinfo wants the bare address */
        h++;
        hl -= 2;
    }
    if (hl >= sizeof(host))
        hl = sizeof(host) - 1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(port, sizeof(port), "%d", u->port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(why, size, "%s", gai_strerror(rc));
        return -1;
    }
    size_t n = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next)
        n++;
    struct pt_upstream_addr *addrs = calloc(n ? n : 1, sizeof(*addrs));
    if (!addrs) {
        freeaddrinfo(res);
        snprintf(why, size, "out of memory");
        return -1;
    }
    n = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        if (a->ai_addrlen > sizeof(addrs[0].sa))
            continue;
        memcpy(&addrs[n].sa, a->ai_addr, a->ai_addrlen);
        addrs[n].len = a->ai_addrlen;
        n++;
    }
    freeaddrinfo(res);
    if (!n) {
        free(addrs);
        snprintf(why, size, "no usable address");
        return -1;
    }
    *out = addrs;
    *count = n;
    return 0;
}

/* Publishes a new address list; true if it differs from the old one. */
static bool publish(struct pt_upstream *u, struct pt_upstream_addr *addrs, size_t n)
{
    pthread_mutex_lock(&u->lock);
    struct pt_upstream_addr *old = u->addrs;
    bool changed = n != u->n_addrs || (old && memcmp(old, addrs, n * sizeof(*addrs)) != 0);
    u->addrs = addrs;
    u->n_addrs = n;
    pthread_mutex_unlock(&u->lock);
    free(old);
    return changed;
}

int pt_upstream_resolve(struct pt_upstream *u, char *why, size_t size)
{
    if (u->unix_socket) {
        struct pt_upstream_addr *a = calloc(1, sizeof(*a));
        if (!a) {
            snprintf(why, size, "out of memory");
            return -1;
        }
        struct sockaddr_un *sun = (struct sockaddr_un *)&a->sa;
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, u->host, strlen(u->host) + 1);
        a->len = (socklen_t)sizeof(*sun);
        publish(u, a, 1);
        return 0;
    }
    struct pt_upstream_addr *addrs;
    size_t n;
    if (lookup(u, &addrs, &n, why, size) < 0)
        return -1;
    publish(u, addrs, n);
    return 0;
}

bool pt_upstream_refresh(struct pt_upstream *u, char *why, size_t size, bool *changed)
{
    struct pt_upstream_addr *addrs;
    size_t n;
    *changed = false;
    if (lookup(u, &addrs, &n, why, size) < 0)
        return false;
    *changed = publish(u, addrs, n);
    return true;
}

bool pt_upstream_pick(struct pt_upstream *u, size_t i, struct pt_upstream_addr *out)
{
    pthread_mutex_lock(&u->lock);
    bool ok = u->n_addrs > 0;
    if (ok)
        *out = u->addrs[i % u->n_addrs];
    pthread_mutex_unlock(&u->lock);
    return ok;
}

bool pt_upstream_is_name(const struct pt_upstream *u)
{
    unsigned char tmp[16];
    if (u->unix_socket || u->host[0] == '[')
        return false;
    return inet_pton(AF_INET, u->host, tmp) != 1 && inet_pton(AF_INET6, u->host, tmp) != 1;
}

void pt_upstream_free(struct pt_upstream *u)
{
    if (u->interval > 0)
        pt_resolver_remove(u);
    pthread_mutex_destroy(&u->lock);
    free(u->name);
    free(u->host);
    free(u->host_header);
    free(u->prefix);
    free(u->addrs);
    memset(u, 0, sizeof(*u));
}
