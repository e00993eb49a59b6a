/* Listening sockets (see listen.h). */
#include "gateway/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/diag.h"
#include "gateway/log.h"

/* The addresses of an "interface" value (at most max): NULL is all
 * (dual-stack "::"), an address literal is itself, an interface name is
 * every address it has, IPv4 first.  Returns how many (0: none). */
static size_t resolve_all(const char *iface, int port, struct sockaddr_storage *out,
                          socklen_t *lens, size_t max)
{
    memset(out, 0, sizeof(*out));
    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    if (!iface || !*iface) {
        v6->sin6_family = AF_INET6;
        v6->sin6_addr = in6addr_any;
        v6->sin6_port = htons((uint16_t)port);
        lens[0] = sizeof(*v6);
        return 1;
    }
    if (inet_pton(AF_INET, iface, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        lens[0] = sizeof(*v4);
        return 1;
    }
    if (inet_pton(AF_INET6, iface, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        lens[0] = sizeof(*v6);
        return 1;
    }
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) < 0)
        return 0;
    size_t n = 0;
    for (int fam = AF_INET; fam != 0; fam = fam == AF_INET ? AF_INET6 : 0) {
        for (struct ifaddrs *i = ifs; i && n < max; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != fam || strcmp(i->ifa_name, iface))
                continue;
            /* A link-local IPv6 address keeps its scope (the interface). */
            lens[n] = fam == AF_INET ? sizeof(*v4) : sizeof(*v6);
            memset(&out[n], 0, sizeof(out[n]));
            memcpy(&out[n], i->ifa_addr, lens[n]);
            if (fam == AF_INET)
                ((struct sockaddr_in *)&out[n])->sin_port = htons((uint16_t)port);
            else
                ((struct sockaddr_in6 *)&out[n])->sin6_port = htons((uint16_t)port);
            n++;
        }
    }
    freeifaddrs(ifs);
    return n;
}

/* A unix-domain socket's address: a path, or "@name" in the abstract
 * namespace (no file).  Returns 1. */
static size_t unix_addr(const char *path, struct sockaddr_storage *out, socklen_t *len)
{
    struct sockaddr_un *un = (struct sockaddr_un *)out;
    memset(out, 0, sizeof(*out));
    un->sun_family = AF_UNIX;
    size_t n = strlen(path); /* checked at load: < sizeof sun_path */
    memcpy(un->sun_path, path, n);
    if (path[0] == '@')
        un->sun_path[0] = '\0';
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] != '@'));
    return 1;
}

void pt_listen_addr_text(const struct pt_listen *l, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN] = "?";
    if (l->unix_socket) {
        snprintf(buf, len, "unix:%s", l->interface);
        return;
    }
    if (l->addr.ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&l->addr)->sin_addr, a, sizeof a);
    else
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&l->addr)->sin6_addr, a, sizeof a);
    snprintf(buf, len, l->addr.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", a, l->port);
}

/* A unix socket: a file left by a portico that is gone (nobody accepts
 * on it) is removed; one somebody listens on is refused.  Then bound,
 * given to unix-socket-perms' user and group (mode 0660), listening. */
static int open_unix(const struct pt_listen *l)
{
    const struct sockaddr_un *un = (const struct sockaddr_un *)&l->addr;
    bool file = l->interface[0] != '@';
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        pt_err("cannot listen on unix:%s: socket: %s", l->interface, strerror(errno));
        return -1;
    }
    struct stat st;
    if (file && lstat(un->sun_path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            pt_err("cannot listen on unix:%s: a file that is not a socket is there",
                   l->interface);
            close(fd);
            return -1;
        }
        unlink(un->sun_path); /* stale: taken_by_another() found nobody on it */
    }
    if (bind(fd, (const struct sockaddr *)&l->addr, l->addr_len) < 0) {
        pt_err("cannot listen on unix:%s: %s", l->interface, strerror(errno));
        close(fd);
        return -1;
    }
    if (file && l->unix_perms) {
        char who[128];
        snprintf(who, sizeof who, "%s", l->unix_perms);
        char *group = strchr(who, ':');
        *group++ = '\0'; /* "user:group", checked at load */
        struct passwd *pw = getpwnam(who);
        struct group *gr = getgrnam(group);
        if (!pw || !gr || chown(un->sun_path, pw->pw_uid, gr->gr_gid) < 0 ||
            chmod(un->sun_path, 0660) < 0)
            pt_warn("unix:%s: cannot give it to %s: %s", l->interface, l->unix_perms,
                    pw && gr ? strerror(errno) : "no such user or group");
    }
    if (listen(fd, 4096) < 0) {
        pt_err("cannot listen on unix:%s: %s", l->interface, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int open_one(const struct pt_listen *l)
{
    if (l->unix_socket)
        return open_unix(l);
    struct sockaddr_storage ss = l->addr;
    socklen_t len = l->addr_len;
    char iface[INET6_ADDRSTRLEN + 16];
    pt_listen_addr_text(l, iface, sizeof iface);
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
        pt_err("cannot listen on %s: socket: %s", iface, strerror(errno));
        return -1;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (l->bind_device && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, l->interface,
                                     (socklen_t)strlen(l->interface)) < 0) {
        pt_err("cannot listen on %s: bind-iface \"%s\": %s%s", iface, l->interface,
               strerror(errno),
               errno == EPERM ? " (SO_BINDTODEVICE needs CAP_NET_RAW, kept after the switch "
                                "to the user only when a vhost had bind-iface at start)"
                              : "");
        close(fd);
        return -1;
    }
    if (ss.ss_family == AF_INET6 && !l->interface)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4096) < 0) {
        pt_err("cannot listen on %s: %s%s", iface, strerror(errno),
               errno == EACCES && l->port < 1024
                   ? " (a port below 1024 needs root or CAP_NET_BIND_SERVICE, which this "
                     "process does not have)"
                   : "");
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
static bool taken_by_another(const struct pt_listen *l)
{
    if (l->unix_socket) { /* somebody accepts on it */
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool taken = fd >= 0 && connect(fd, (const struct sockaddr *)&l->addr, l->addr_len) == 0;
        if (fd >= 0)
            close(fd);
        return taken;
    }
    struct sockaddr_storage v4any;
    const struct sockaddr_storage *ss = &l->addr;
    socklen_t len = l->addr_len;
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 && ss->ss_family == AF_INET6 && !l->interface) {
        /* No IPv6: probe what open_one() will bind, all IPv4 addresses. */
        struct sockaddr_in *v4 = (struct sockaddr_in *)&v4any;
        memset(&v4any, 0, sizeof v4any);
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)l->port);
        ss = &v4any;
        len = sizeof *v4;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    }
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

static bool same_sockaddr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_UNIX) {
        const struct sockaddr_un *x = (const void *)a, *y = (const void *)b;
        return memcmp(x->sun_path, y->sun_path, sizeof x->sun_path) == 0;
    }
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

static void log_vhosts(const struct pt_listen *l)
{
    for (size_t i = 0; i < l->n_vhosts; i++) {
        const struct pt_vhost *vh = l->vhosts[i];
        pt_err("%s:%d:%d: vhost \"%s\" asks for this port", vh->pos.file, vh->pos.line,
               vh->pos.col, vh->name);
    }
}

#define ADDRS_MAX 64 /* addresses of one interface */

int pt_listen_check(struct pt_config *conf, struct pt_diag *d)
{
    int errors = 0;
    struct pt_listen *out = NULL;
    size_t n_out = 0;
    struct sockaddr_storage addrs[ADDRS_MAX];
    socklen_t lens[ADDRS_MAX];

    /* One listener per address: an interface name becomes one for each
     * of its addresses, with the same vhosts. */
    for (size_t i = 0; i < conf->n_listens; i++) {
        struct pt_listen *l = &conf->listens[i];
        const struct pt_vhost *vh = l->vhosts[0];
        size_t k = l->unix_socket ? unix_addr(l->interface, addrs, lens)
                                  : resolve_all(l->interface, l->port, addrs, lens, ADDRS_MAX);
        if (k == 0) {
            pt_diag_error(d, vh->pos.file, vh->pos.line, vh->pos.col,
                          "vhost \"%s\": \"interface\": \"%s\" is neither an address "
                          "nor an interface of this host with an address", vh->name,
                          l->interface);
            errors++;
            k = 1; /* keep it, unresolved: the config is refused anyway */
        }
        struct pt_listen *grown = realloc(out, (n_out + k) * sizeof *out);
        if (!grown) {
            errors++;
            break;
        }
        out = grown;
        for (size_t a = 0; a < k; a++) {
            struct pt_listen *c = &out[n_out++];
            *c = *l;
            c->addr = addrs[a];
            c->addr_len = lens[a];
            if (a > 0) { /* each listener owns its copies */
                c->interface = l->interface ? strdup(l->interface) : NULL;
                c->vhosts = malloc(l->n_vhosts * sizeof *c->vhosts);
                if (c->vhosts)
                    memcpy(c->vhosts, l->vhosts, l->n_vhosts * sizeof *c->vhosts);
                if ((l->interface && !c->interface) || !c->vhosts)
                    errors++;
            }
        }
    }
    if (out) {
        free(conf->listens);
        conf->listens = out;
        conf->n_listens = n_out;
    }

    /* Two spellings of one address on one port would be two listeners
     * splitting its traffic. */
    for (size_t i = 0; i < conf->n_listens && !errors; i++) {
        const struct pt_listen *l = &conf->listens[i];
        for (size_t j = 0; j < i; j++) {
            const struct pt_listen *o = &conf->listens[j];
            if (!same_sockaddr(&l->addr, &o->addr))
                continue;
            const struct pt_vhost *vh = l->vhosts[0], *other = o->vhosts[0];
            pt_diag_error(d, vh->pos.file, vh->pos.line, vh->pos.col,
                          "vhost \"%s\" (\"interface\": \"%s\") and vhost \"%s\" at "
                          "%s:%d:%d (\"interface\": \"%s\") are the same address and "
                          "port %d: spell the interface the same way so they share "
                          "one listener", vh->name, l->interface ? l->interface : "",
                          other->name, other->pos.file, other->pos.line, other->pos.col,
                          o->interface ? o->interface : "", l->port);
            errors++;
            break;
        }
    }
    return errors;
}

int pt_listen_probe(const struct pt_config *conf, struct pt_diag *d)
{
    int taken = 0;
    for (size_t i = 0; i < conf->n_listens; i++) {
        const struct pt_listen *l = &conf->listens[i];
        if (!taken_by_another(l))
            continue;
        char where[INET6_ADDRSTRLEN + 16];
        pt_listen_addr_text(l, where, sizeof where);
        const struct pt_vhost *vh = l->vhosts[0];
        pt_diag_warn(d, vh->pos.file, vh->pos.line, vh->pos.col,
                     "vhost \"%s\": %s is in use by another process: a start would "
                     "fail (unless that is this configuration's running portico)",
                     vh->name, where);
        taken++;
    }
    return taken;
}

/* ---- the registry ------------------------------------------------------ */

/* One address's sockets, one per worker. */
struct lsock {
    struct sockaddr_storage addr;
    char *device;            /* SO_BINDTODEVICE, or NULL */
    int *fds;
    bool fresh;              /* opened by the bind in progress */
};

struct pt_listen_registry {
    struct lsock *v;
    size_t n;
    int n_workers;
};

static const char *device_of(const struct pt_listen *l)
{
    return l->bind_device ? l->interface : NULL;
}

const struct pt_listen *pt_listen_same(const struct pt_config *conf, const struct pt_listen *l)
{
    for (size_t i = 0; i < conf->n_listens; i++) {
        const struct pt_listen *o = &conf->listens[i];
        if (same_sockaddr(&o->addr, &l->addr) && pt_str_same(device_of(o), device_of(l)))
            return o;
    }
    return NULL;
}

struct pt_listen_registry *pt_listen_registry_new(int n_workers)
{
    struct pt_listen_registry *reg = calloc(1, sizeof(*reg));
    if (!reg)
        abort();
    reg->n_workers = n_workers;
    return reg;
}

static struct lsock *reg_find(struct pt_listen_registry *reg, const struct pt_listen *l)
{
    for (size_t i = 0; i < reg->n; i++)
        if (same_sockaddr(&reg->v[i].addr, &l->addr) &&
            pt_str_same(reg->v[i].device, device_of(l)))
            return &reg->v[i];
    return NULL;
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_UNIX)
        return 0;
    return ntohs(ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
                                          : ((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* Whether a socket of ours already has l's port (a wildcard beside a
 * specific address): a probe would take it for another process's. */
static bool port_is_ours(const struct pt_listen_registry *reg, const struct pt_listen *l)
{
    for (size_t i = 0; i < reg->n; i++)
        if (!l->unix_socket && port_of(&reg->v[i].addr) == port_of(&l->addr))
            return true;
    return false;
}

/* A unix socket's file goes with its last descriptor. */
static void unlink_unix(const struct lsock *s)
{
    const struct sockaddr_un *un = (const struct sockaddr_un *)&s->addr;
    if (s->addr.ss_family == AF_UNIX && un->sun_path[0])
        unlink(un->sun_path);
}

static void lsock_close(struct pt_listen_registry *reg, struct lsock *s)
{
    unlink_unix(s);
    for (int w = 0; w < reg->n_workers; w++)
        if (s->fds[w] >= 0)
            close(s->fds[w]);
    free(s->fds);
    free(s->device);
}

/* Removes entry i (its sockets closed). */
static void reg_remove(struct pt_listen_registry *reg, size_t i)
{
    lsock_close(reg, &reg->v[i]);
    reg->v[i] = reg->v[--reg->n];
}

static struct lsock *reg_open(struct pt_listen_registry *reg, const struct pt_listen *l)
{
    if (!port_is_ours(reg, l) && taken_by_another(l)) {
        char where[INET6_ADDRSTRLEN + 16];
        pt_listen_addr_text(l, where, sizeof where);
        pt_err("cannot listen on %s: address already in use by another process", where);
        return NULL;
    }
    struct lsock *grown = realloc(reg->v, (reg->n + 1) * sizeof(*grown));
    int *fds = malloc((size_t)reg->n_workers * sizeof(int));
    char *dev = device_of(l) ? strdup(device_of(l)) : NULL;
    if (!grown || !fds || (device_of(l) && !dev))
        abort();
    reg->v = grown;
    for (int w = 0; w < reg->n_workers; w++)
        fds[w] = -1;
    struct lsock *s = &reg->v[reg->n++];
    *s = (struct lsock){.addr = l->addr, .device = dev, .fds = fds, .fresh = true};
    for (int w = 0; w < reg->n_workers; w++) {
        /* A unix socket cannot be bound twice: the workers share one
         * (each its own descriptor, which it closes as it stops). */
        fds[w] = l->unix_socket && w > 0 ? fcntl(fds[0], F_DUPFD_CLOEXEC, 0) : open_one(l);
        if (fds[w] < 0) {
            reg_remove(reg, reg->n - 1);
            return NULL;
        }
    }
    return s;
}

int pt_listen_registry_bind(struct pt_listen_registry *reg, const struct pt_config *conf,
                            int *fds)
{
    size_t n = conf->n_listens;
    for (size_t i = 0; i < n; i++) {
        const struct pt_listen *l = &conf->listens[i];
        struct lsock *s = reg_find(reg, l);
        if (!s && !(s = reg_open(reg, l))) {
            log_vhosts(l);
            for (size_t k = reg->n; k-- > 0;) /* what this bind opened goes */
                if (reg->v[k].fresh)
                    reg_remove(reg, k);
            return -1;
        }
        for (int w = 0; w < reg->n_workers; w++)
            fds[(size_t)w * n + i] = s->fds[w];
    }
    for (size_t k = 0; k < reg->n; k++)
        reg->v[k].fresh = false;
    return 0;
}

int pt_listen_registry_prune(struct pt_listen_registry *reg, const struct pt_config *conf)
{
    int closed = 0;
    for (size_t k = reg->n; k-- > 0;) {
        bool used = false;
        for (size_t i = 0; i < conf->n_listens && !used; i++)
            used = same_sockaddr(&reg->v[k].addr, &conf->listens[i].addr) &&
                   pt_str_same(reg->v[k].device, device_of(&conf->listens[i]));
        if (!used) {
            reg_remove(reg, k);
            closed++;
        }
    }
    return closed;
}

void pt_listen_registry_free(struct pt_listen_registry *reg, int first_open)
{
    if (!reg)
        return;
    for (size_t k = 0; k < reg->n; k++) {
        unlink_unix(&reg->v[k]);
        for (int w = first_open; w < reg->n_workers; w++)
            if (reg->v[k].fds[w] >= 0)
                close(reg->v[k].fds[w]);
        free(reg->v[k].fds);
        free(reg->v[k].device);
    }
    free(reg->v);
    free(reg);
}
