#include "gateway/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/log.h"
#include "gateway/pool.h"
#include "gateway/handler.h"

#define RBUF_SIZE (16 * 1024)
#define MAX_FREE_BUFS 64
#define ACCEPTS_PER_EVENT 64

/* ---- listening sockets ----------------------------------------------- */

/* interface: NULL (all: dual-stack "::"), an IPv4/IPv6 address, or an
 * interface name whose first address is used. */
static int resolve(const char *iface, int port, struct sockaddr_storage *ss, socklen_t *len)
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
    if (resolve(l->interface, l->port, &ss, &len) < 0) {
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

int pt_listeners_open(const struct pt_config *conf, int n_workers, int *fds)
{
    size_t n = conf->n_listens;
    for (int w = 0; w < n_workers; w++) {
        for (size_t i = 0; i < n; i++) {
            int fd = open_one(&conf->listens[i]);
            if (fd < 0) {
                for (size_t k = 0; k < (size_t)w * n + i; k++)
                    close(fds[k]);
                return -1;
            }
            fds[(size_t)w * n + i] = fd;
        }
    }
    return 0;
}

/* ---- buffers ---------------------------------------------------------- */

char *pt_worker_buf_get(struct pt_worker *w)
{
    if (w->free_bufs) {
        char *b = w->free_bufs;
        memcpy(&w->free_bufs, b, sizeof(void *));
        w->n_free_bufs--;
        return b;
    }
    char *b = malloc(PT_OUTBUF_SIZE);
    if (!b)
        abort();
    return b;
}

void pt_worker_buf_put(struct pt_worker *w, char *buf)
{
    if (w->n_free_bufs >= MAX_FREE_BUFS) {
        free(buf);
        return;
    }
    memcpy(buf, &w->free_bufs, sizeof(void *));
    w->free_bufs = buf;
    w->n_free_bufs++;
}

/* ---- connections ------------------------------------------------------ */

void pt_worker_conn_added(struct pt_worker *w, struct pt_conn *c)
{
    c->prev = NULL;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->n_conns++;
}

void pt_worker_conn_removed(struct pt_worker *w, struct pt_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->n_conns--;
    if (w->draining && w->n_conns == 0)
        ev_break(w->loop, EVBREAK_ALL);
}

/* ---- accepting -------------------------------------------------------- */

static void on_accept(struct ev_loop *loop, ev_io *io, int revents)
{
    struct pt_listener *li = io->data;
    struct pt_worker *w = li->w;
    (void)revents;
    for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(io->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: pause accepting instead of spinning. */
                pt_warn("accept: %s; pausing accepts for 100 ms", strerror(errno));
                for (size_t k = 0; k < w->n_listeners; k++)
                    ev_io_stop(loop, &w->listeners[k].io);
                ev_timer_start(loop, &w->accept_pause);
            }
            return;
        }
        pt_conn_accept(w, fd, li->listen, (struct sockaddr *)&ss, len);
    }
}

static void on_accept_pause(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct pt_worker *w = t->data;
    (void)revents;
    if (w->draining)
        return;
    for (size_t k = 0; k < w->n_listeners; k++)
        ev_io_start(loop, &w->listeners[k].io);
}

/* ---- stopping --------------------------------------------------------- */

static void on_drain_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct pt_worker *w = t->data;
    (void)revents;
    pt_notice("worker %d: drain timeout, closing %zu connection(s)", w->id, w->n_conns);
    while (w->conns)
        pt_conn_close(w->conns);
    ev_break(loop, EVBREAK_ALL);
}

static void begin_drain(struct pt_worker *w)
{
    if (w->draining)
        return;
    w->draining = true;
    ev_timer_stop(w->loop, &w->accept_pause);
    for (size_t k = 0; k < w->n_listeners; k++) {
        ev_io_stop(w->loop, &w->listeners[k].io);
        close(w->listeners[k].io.fd);
    }
    for (struct pt_conn *c = w->conns, *next; c; c = next) {
        next = c->next;
        pt_conn_drain(c);
    }
    if (w->n_conns == 0) {
        ev_break(w->loop, EVBREAK_ALL);
        return;
    }
    ev_timer_set(&w->drain_timer, w->conf->g.drain_timeout_secs, 0.);
    ev_timer_start(w->loop, &w->drain_timer);
}

static void on_wake(struct ev_loop *loop, ev_async *a, int revents)
{
    struct pt_worker *w = a->data;
    (void)loop;
    (void)revents;
    if (atomic_load(&w->stop))
        begin_drain(w);
}

static void *worker_main(void *arg)
{
    struct pt_worker *w = arg;
    ev_run(w->loop, 0);
    while (w->conns)
        pt_conn_close(w->conns);
    pt_handler_worker_dispose(w); /* on the worker's own thread */
    pt_pool_thread_cleanup();
    return NULL;
}

int pt_worker_start(struct pt_worker *w, int id, struct pt_config *conf, const int *fds)
{
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
    if (!w->loop)
        w->loop = ev_loop_new(0);
    if (!w->loop) {
        pt_err("worker %d: cannot create an event loop", id);
        return -1;
    }
    w->conf = conf;
    pt_config_ref(conf);
    w->rbuf_cap = RBUF_SIZE;
    w->rbuf = malloc(RBUF_SIZE);
    w->n_listeners = conf->n_listens;
    w->listeners = calloc(w->n_listeners ? w->n_listeners : 1, sizeof(*w->listeners));
    if (!w->rbuf || !w->listeners)
        abort();
    for (size_t i = 0; i < w->n_listeners; i++) {
        struct pt_listener *li = &w->listeners[i];
        li->w = w;
        li->listen = &conf->listens[i];
        ev_io_init(&li->io, on_accept, fds[i], EV_READ);
        li->io.data = li;
        ev_io_start(w->loop, &li->io);
    }
    ev_async_init(&w->wake, on_wake);
    w->wake.data = w;
    ev_async_start(w->loop, &w->wake);
    ev_init(&w->drain_timer, on_drain_timeout);
    w->drain_timer.data = w;
    ev_timer_init(&w->accept_pause, on_accept_pause, 0.1, 0.);
    w->accept_pause.data = w;
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        pt_err("worker %d: cannot start a thread", id);
        return -1;
    }
    return 0;
}

void pt_worker_stop(struct pt_worker *w)
{
    atomic_store(&w->stop, true);
    ev_async_send(w->loop, &w->wake);
}

void pt_worker_join(struct pt_worker *w)
{
    pthread_join(w->thread, NULL);
    if (!w->draining)
        for (size_t k = 0; k < w->n_listeners; k++)
            close(w->listeners[k].io.fd);
    while (w->free_bufs) {
        char *b = w->free_bufs;
        memcpy(&w->free_bufs, b, sizeof(void *));
        free(b);
    }
    free(w->listeners);
    free(w->rbuf);
    ev_loop_destroy(w->loop);
    pt_config_unref(w->conf);
}
