/* Listening sockets (see listen.h). */
#include "gateway/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/diag.h"
#include "gateway/log.h"

int pt_listen_resolve(const char *iface, int port, struct sockaddr_storage *ss,
                      socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (!iface || !*iface) {
        v6->sin6_family = AF_INET6;
        v6->sin6_addr = in6addr_any;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*v6);
        return 0;
    }
    if (inet_pton(AF_INET, iface, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof(*v4);
        return 0;
    }
    if (inet_pton(AF_INET6, iface, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*v6);
        return 0;
    }
    struct ifaddrs *ifs, *i;
    if (getifaddrs(&ifs) < 0)
        return -1;
    int rc = -1;
    for (int fam = AF_INET; rc < 0 && fam != 0; fam = fam == AF_INET ? AF_INET6 : 0) {
        for (i = ifs; i; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != fam || strcmp(i->ifa_name, iface))
                continue;
            *len = fam == AF_INET ? sizeof(*v4) : sizeof(*v6);
            memcpy(ss, i->ifa_addr, *len);
            if (fam == AF_INET)
                v4->sin_port = htons((uint16_t)port);
            else
                v6->sin6_port = htons((uint16_t)port);
            rc = 0;
            break;
        }
    }
    freeifaddrs(ifs);
    return rc;
}

static int open_one(const struct pt_listen *l)
{
    struct sockaddr_storage ss;
    socklen_t len;
    const char *iface = l->interface ? l->interface : "*";
    if (pt_listen_resolve(l->interface, l->port, &ss, &len) < 0) {
        pt_err("cannot listen on %s:%d: no such address or interface", iface, l->port);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 && ss.ss_family == AF_INET6 && !l->interface) {
        /* No IPv6 on this host: all IPv4 addresses instead. */
        struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
        memset(&ss, 0, sizeof(ss));
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)l->port);
        len = sizeof(*v4);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    if (fd < 0) {
        pt_err("cannot listen on %s:%d: socket: %s", iface, l->port, strerror(errno));
        return -1;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (ss.ss_family == AF_INET6 && !l->interface)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4096) < 0) {
        pt_err("cannot listen on %s:%d: %s", iface, l->port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Whether another process listens on l's address.  Our own sockets all
 * set SO_REUSEPORT, and so may another process's: a probe bound without
 * it fails with EADDRINUSE whenever anything listens there, and portico
 * never joins a group it did not create.  A second portico probes the
 * same way and refuses to start. */
static bool taken_by_another(const struct pt_listen *l, const struct sockaddr_storage *ss,
                             socklen_t len)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false; /* the real socket() reports it */
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); /* TIME_WAIT is fine */
    if (ss->ss_family == AF_INET6 && !l->interface)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    bool taken = bind(fd, (const struct sockaddr *)ss, len) < 0 && errno == EADDRINUSE;
    close(fd);
    return taken;
}

static void log_vhosts(const struct pt_listen *l)
{
    for (size_t i = 0; i < l->n_vhosts; i++) {
        const struct pt_vhost *vh = l->vhosts[i];
        pt_err("%s:%d:%d: vhost \"%s\" asks for this port", vh->pos.file, vh->pos.line,
               vh->pos.col, vh->name);
    }
}

int pt_listeners_open(const struct pt_config *conf, int n_workers, int *fds)
{
    size_t n = conf->n_listens;
    for (size_t i = 0; i < n; i++) {
        const struct pt_listen *l = &conf->listens[i];
        struct sockaddr_storage ss;
        socklen_t len;
        if (pt_listen_resolve(l->interface, l->port, &ss, &len) == 0 &&
            taken_by_another(l, &ss, len)) {
            pt_err("cannot listen on %s:%d: address already in use by another process",
                   l->interface ? l->interface : "*", l->port);
            log_vhosts(l);
            return -1;
        }
    }
    for (int w = 0; w < n_workers; w++) {
        for (size_t i = 0; i < n; i++) {
            int fd = open_one(&conf->listens[i]);
            if (fd < 0) {
                log_vhosts(&conf->listens[i]);
                for (size_t k = 0; k < (size_t)w * n + i; k++)
                    close(fds[k]);
                return -1;
            }
            fds[(size_t)w * n + i] = fd;
        }
    }
    return 0;
}

static bool same_sockaddr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

int pt_listen_check(const struct pt_config *conf, struct pt_diag *d)
{
    size_t n = conf->n_listens;
    int errors = 0;
    struct sockaddr_storage *ss = calloc(n ? n : 1, sizeof *ss);
    bool *ok = calloc(n ? n : 1, sizeof *ok);
    if (!ss || !ok) {
        free(ss);
        free(ok);
        return 0; /* the sockets' own errors will say it */
    }
    for (size_t i = 0; i < n; i++) {
        const struct pt_listen *l = &conf->listens[i];
        const struct pt_vhost *vh = l->vhosts[0];
        socklen_t len;
        ok[i] = pt_listen_resolve(l->interface, l->port, &ss[i], &len) == 0;
        if (!ok[i]) {
            pt_diag_error(d, vh->pos.file, vh->pos.line, vh->pos.col,
                          "vhost \"%s\": \"interface\": \"%s\" is neither an address "
                          "nor an interface of this host", vh->name, l->interface);
            errors++;
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            if (!ok[j] || !same_sockaddr(&ss[i], &ss[j]))
                continue;
            const struct pt_vhost *other = conf->listens[j].vhosts[0];
            pt_diag_error(d, vh->pos.file, vh->pos.line, vh->pos.col,
                          "vhost \"%s\" (\"interface\": \"%s\") and vhost \"%s\" at "
                          "%s:%d:%d (\"interface\": \"%s\") are the same address and "
                          "port %d: spell the interface the same way so they share "
                          "one listener", vh->name, l->interface ? l->interface : "",
                          other->name, other->pos.file, other->pos.line, other->pos.col,
                          conf->listens[j].interface ? conf->listens[j].interface : "",
                          l->port);
            errors++;
            break;
        }
    }
    free(ss);
    free(ok);
    return errors;
}
