#include "gateway/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/log.h"
#include "gateway/pool.h"
#include "gateway/regex.h"
#include "gateway/handler.h"
#include "gateway/ipaddr.h"
#include "gateway/limits.h"
#include "gateway/wire.h"

#define RBUF_SIZE (16 * 1024)
#define ACCEPT_PAUSE 0.1      /* seconds accepting rests when it cannot go on */
/* One accept per readiness event, as nginx without multi_accept: a loop
 * would end every event with an accept4 that says EAGAIN, and the listen
 * socket, still readable, comes back in the next poll beside the other
 * ready sockets anyway. */
#define ACCEPTS_PER_EVENT 1

/* ---- buffers ---------------------------------------------------------- */

char *pt_worker_buf_get(struct pt_buflist *l)
{
    if (l->head) {
        char *b = l->head;
        memcpy(&l->head, b, sizeof(void *));
        l->n--;
        return b;
    }
    char *b = malloc(l->size);
    if (!b)
        abort();
    return b;
}

void pt_worker_buf_put(struct pt_buflist *l, char *buf)
{
    if (l->n >= l->max) {
        free(buf);
        return;
    }
    memcpy(buf, &l->head, sizeof(void *));
    l->head = buf;
    l->n++;
}

void pt_worker_buffers_init(struct pt_worker *w)
{
    /* Kept for reuse after a burst: 1 MiB of each size at most. */
    w->free_out.size = PT_OUTBUF_SIZE;
    w->free_out.max = (1 << 20) / PT_OUTBUF_SIZE;
    w->free_wire.size = sizeof(struct pt_wirebuf); /* also HTTP/2's PT_WIRE_SIZE out */
    w->free_wire.max = (1 << 20) / PT_WIRE_SIZE;
}

static void buflist_free(struct pt_buflist *l)
{
    while (l->head) {
        char *b = l->head;
        memcpy(&l->head, b, sizeof(void *));
        free(b);
    }
    l->n = 0;
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
    else if (w->accept_paused)
        ev_feed_event(w->loop, &w->accept_pause, EV_TIMER); /* a descriptor is free */
}

/* ---- posted work ------------------------------------------------------ */

void pt_worker_post(struct pt_worker *w, struct pt_wakeup *x)
{
    pthread_mutex_lock(&w->mbox_lock);
    x->next = NULL;
    struct pt_wakeup **pp = &w->mbox;
    while (*pp)
        pp = &(*pp)->next; /* in order: waiters go in the order they were granted */
    *pp = x;
    pthread_mutex_unlock(&w->mbox_lock);
    ev_async_send(w->loop, &w->wake);
}

void pt_worker_unpost(struct pt_worker *w, struct pt_wakeup *x)
{
    pthread_mutex_lock(&w->mbox_lock);
    for (struct pt_wakeup **pp = &w->mbox; *pp; pp = &(*pp)->next)
        if (*pp == x) {
            *pp = x->next;
            break;
        }
    pthread_mutex_unlock(&w->mbox_lock);
}

/* One at a time: what runs may take others back (pt_worker_unpost). */
static void run_posted(struct pt_worker *w)
{
    for (;;) {
        pthread_mutex_lock(&w->mbox_lock);
        struct pt_wakeup *x = w->mbox;
        if (x)
            w->mbox = x->next;
        pthread_mutex_unlock(&w->mbox_lock);
        if (!x)
            return;
        x->fn(x);
    }
}

/* ---- accepting -------------------------------------------------------- */

/* Accepting rests (out of descriptors, or at max-connections) until a
 * connection of this worker closes or ACCEPT_PAUSE has passed: never a
 * busy loop on a listener that stays readable. */
static void pause_accepts(struct pt_worker *w)
{
    if (!w->accept_paused) {
        w->accept_paused = true;
        for (size_t k = 0; k < w->n_listeners; k++)
            ev_io_stop(w->loop, &w->listeners[k].io);
    }
    ev_timer_stop(w->loop, &w->accept_pause);
    ev_timer_set(&w->accept_pause, ACCEPT_PAUSE, 0.); /* re-armed, not fired at once */
    ev_timer_start(w->loop, &w->accept_pause);
}

static void on_accept_pause(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct pt_worker *w = t->data;
    (void)revents;
    ev_timer_stop(loop, t);
    if (w->draining || !w->accept_paused)
        return;
    w->accept_paused = false;
    for (size_t k = 0; k < w->n_listeners; k++)
        ev_io_start(loop, &w->listeners[k].io);
}

/* A connection turned away during a pause episode: the first says why
 * (one line an episode), the count comes when accepting works again. */
static void refused(struct pt_worker *w, const char *why)
{
    if (w->refused_in_pause++ == 0)
        pt_warn("worker %d: %s: refusing new connections, accepting paused", w->id, why);
}

static void episode_over(struct pt_worker *w)
{
    pt_notice("worker %d: accepting again; %lu connection(s) were refused meanwhile", w->id,
              w->refused_in_pause);
    w->refused_in_pause = 0;
}

/* Out of descriptors: the spare one makes room to accept the connection
 * at the head of the backlog and close it at once, rather than leave it
 * (and its client) waiting there. */
static void out_of_fds(struct pt_worker *w, int lfd, int err)
{
    if (w->reserve_fd >= 0) {
        close(w->reserve_fd);
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0)
            close(fd);
        w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    refused(w, strerror(err));
    pause_accepts(w);
}

/* At max-connections: a plaintext HTTP/1 client gets a 503 if the socket
 * takes it at once; any other is closed. */
static void at_ceiling(struct pt_worker *w, int fd, const struct pt_listen *l)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                               "Content-Length: 0\r\nConnection: close\r\n\r\n";
    if (!l->tls && !l->proxy_protocol)
        (void)!send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    close(fd);
    refused(w, "max-connections reached");
    pause_accepts(w);
}

static void on_accept(struct ev_loop *loop, ev_io *io, int revents)
{
    struct pt_listener *li = io->data;
    struct pt_worker *w = li->w;
    const struct pt_config *conf = w->conf;
    (void)loop;
    (void)revents;
    for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(io->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                out_of_fds(w, io->fd, errno);
            return;
        }
        if (!pt_limits_ceiling_take(conf)) {
            at_ceiling(w, fd, li->listen);
            return;
        }
        unsigned flags = conf->g.max_connections > 0 ? PT_LIM_COUNTED : 0;
        struct pt_ip ip;
        bool known = pt_ip_from_sockaddr((struct sockaddr *)&ss, &ip);
        bool ok = true;
        if (li->listen->proxy_protocol) {
            /* Only a trusted proxy may say who the client is; the client's
             * own limits apply once its PROXY header is read. */
            ok = known && pt_cidrs_match(&conf->g.trusted_proxies, &ip);
            if (!ok) {
                char buf[46];
                pt_ip_format(&ip, buf, sizeof(buf));
                pt_info("%s: not in trusted-proxies, on a proxy-protocol port: closed", buf);
            }
        } else if (known) {
            ok = pt_limits_peer_admit(conf, li->listen, &ip, &flags);
        }
        if (!ok) {
            if (flags & PT_LIM_COUNTED)
                pt_limits_ceiling_give();
            close(fd);
            continue;
        }
        if (w->refused_in_pause)
            episode_over(w);
        w->accepted++;
        pt_conn_accept(w, fd, li->listen, (struct sockaddr *)&ss, len, flags);
    }
}

/* ---- snapshots -------------------------------------------------------- */

static struct pt_wsnap *snap_find(struct pt_worker *w, struct pt_config *conf)
{
    for (struct pt_wsnap *s = w->snaps; s; s = s->next)
        if (s->conf == conf)
            return s;
    pt_err("BUG: worker %d: a snapshot it does not hold", w->id);
    abort();
}

void pt_worker_conf_hold(struct pt_worker *w, struct pt_config *conf)
{
    if (w->snaps->conf == conf) /* the current one: nearly always */
        w->snaps->users++;
    else
        snap_find(w, conf)->users++;
}

/* An old snapshot nothing here uses any more: its reference goes back
 * (the main thread frees it once every worker's has). */
static void snap_drop(struct pt_worker *w, struct pt_wsnap *s)
{
    struct pt_wsnap **pp = &w->snaps;
    while (*pp != s)
        pp = &(*pp)->next;
    *pp = s->next;
    pt_handler_worker_forget(w, s->conf);
    pt_config_unref(s->conf);
    free(s);
}

void pt_worker_conf_release(struct pt_worker *w, struct pt_config *conf)
{
    struct pt_wsnap *s = w->snaps->conf == conf ? w->snaps : snap_find(w, conf);
    if (--s->users == 0 && s != w->snaps)
        snap_drop(w, s);
}

static void snap_push(struct pt_worker *w, struct pt_config *conf)
{
    struct pt_wsnap *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    pt_config_ref(conf);
    s->conf = conf;
    s->next = w->snaps;
    w->snaps = s;
    w->conf = conf;
}

/* ---- listeners -------------------------------------------------------- */

static void listeners_start(struct pt_worker *w, struct pt_config *conf, const int *fds)
{
    w->n_listeners = conf->n_listens;
    w->listeners = calloc(w->n_listeners ? w->n_listeners : 1, sizeof(*w->listeners));
    if (!w->listeners)
        abort();
    for (size_t i = 0; i < w->n_listeners; i++) {
        struct pt_listener *li = &w->listeners[i];
        li->w = w;
        li->listen = &conf->listens[i];
        ev_io_init(&li->io, on_accept, fds[i], EV_READ);
        li->io.data = li;
        if (!w->accept_paused)
            ev_io_start(w->loop, &li->io);
    }
}

/* The sockets themselves belong to the main thread's registry
 * (gateway/listen.h): a port in both snapshots keeps its very sockets,
 * and what they queued is accepted under the new one. */
static void listeners_stop(struct pt_worker *w)
{
    for (size_t k = 0; k < w->n_listeners; k++)
        ev_io_stop(w->loop, &w->listeners[k].io);
    free(w->listeners);
    w->listeners = NULL;
    w->n_listeners = 0;
}

static void on_publish(struct pt_wakeup *x)
{
    struct pt_publish *p = (struct pt_publish *)x;
    struct pt_worker *w = p->w;
    struct pt_config *old = w->conf;
    w->snaps->users++; /* kept while the connections move over */
    snap_push(w, p->conf);
    if (!w->draining) {
        listeners_stop(w);
        listeners_start(w, p->conf, p->fds);
    }
    for (struct pt_conn *c = w->conns, *next; c; c = next) {
        next = c->next; /* c may close */
        pt_conn_follow(c, p->conf);
    }
    pt_handler_worker_retire(w, old);
    pt_worker_conf_release(w, old);
    atomic_fetch_add(p->done, 1); /* p is the main thread's again */
}

void pt_worker_publish(struct pt_worker *w, struct pt_publish *p)
{
    p->w = w;
    p->x.fn = on_publish;
    pt_worker_post(w, &p->x);
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
    run_posted(w);
    if (atomic_load(&w->quit)) {
        while (w->conns)
            pt_conn_close(w->conns);
        ev_break(loop, EVBREAK_ALL);
    } else if (atomic_load(&w->stop)) {
        begin_drain(w);
    }
}

void (*pt_worker_thread_init)(void);

static void *worker_main(void *arg)
{
    struct pt_worker *w = arg;
    if (pt_worker_thread_init)
        pt_worker_thread_init();
    ev_run(w->loop, 0);
    while (w->conns)
        pt_conn_close(w->conns);
    pt_handler_worker_dispose(w); /* on the worker's own thread */
    pt_pool_thread_cleanup();
    pt_regex_thread_cleanup();
    pt_info("worker %d: %lu connection(s) accepted", w->id, w->accepted);
    atomic_store(&w->done, true);
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
    snap_push(w, conf);
    pthread_mutex_init(&w->mbox_lock, NULL);
    w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pt_worker_buffers_init(w);
    w->rbuf_cap = RBUF_SIZE;
    w->rbuf = malloc(RBUF_SIZE);
    if (!w->rbuf)
        abort();
    listeners_start(w, conf, fds);
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

void pt_worker_quit(struct pt_worker *w)
{
    atomic_store(&w->quit, true);
    ev_async_send(w->loop, &w->wake);
}

bool pt_worker_done(struct pt_worker *w)
{
    return atomic_load(&w->done);
}

void pt_worker_join(struct pt_worker *w)
{
    pthread_join(w->thread, NULL);
    if (!w->draining)
        for (size_t k = 0; k < w->n_listeners; k++)
            close(w->listeners[k].io.fd);
    buflist_free(&w->free_out);
    buflist_free(&w->free_wire);
    free(w->listeners);
    free(w->rbuf);
    if (w->reserve_fd >= 0)
        close(w->reserve_fd);
    pthread_mutex_destroy(&w->mbox_lock);
    ev_loop_destroy(w->loop);
    /* Every connection has closed: only the current snapshot is left. */
    while (w->snaps) {
        struct pt_wsnap *s = w->snaps;
        w->snaps = s->next;
        pt_config_unref(s->conf);
        free(s);
    }
}
