/* Backend connections per worker and upstream (see proxy.h).
 *
 * A pool keeps the connections its upstream's requests left open, last in
 * first out (the warmest socket first), and counts every open one against
 * proxy-max-conns.  Past that, requests wait in the pool's queue, in
 * arrival order, and each takes the next connection whose exchange ends:
 * a handful of TCP (and TLS) connections carry any number of requests one
 * after another.  Past proxy-max-queue waiting requests: 503.
 *
 * An idle connection is watched for reading: the backend closing it (or
 * sending what nobody asked for) drops it at once, so it is never handed
 * to a request. */
#include "proxy/proxy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "gateway/conn.h"
#include "gateway/log.h"
#include "gateway/request.h"
#include "gateway/stats.h"
#include "gateway/worker.h"


/* A mount's origins on one worker. */
struct px_route {
    struct px_route *next;
    const struct px_mount *pm;
    const struct pt_config *conf;
    unsigned rr;
    size_t n_pools;
    struct px_pool pools[];
};

struct px_worker {
    struct pt_worker *w;
    struct px_route *routes;
};

static inline struct pt_conn *conn_of(const struct px_conn *bc)
{
    return (struct pt_conn *)bc - 1;
}

struct pt_conn *pt_px_transport(struct px_conn *bc)
{
    return conn_of(bc);
}

/* ---- the transport's session ------------------------------------------ */

/* The pool's gauges for metrics and the status page (gateway/stats.h). */
void pt_px_gauge(struct px_pool *pool, int open, int idle, int queued)
{
    pt_stats_upstream(pool->w->id, pool->u->stats_id, open, idle, queued);
}

static void idle_remove(struct px_conn *bc)
{
    struct px_conn **pp = &bc->pool->idle;
    while (*pp && *pp != bc)
        pp = &(*pp)->next_idle;
    if (*pp)
        *pp = bc->next_idle;
    bc->next_idle = NULL;
    bc->idle = false;
    pt_px_gauge(bc->pool, 0, -1, 0);
}

static void bc_on_io(struct pt_conn *c, int revents)
{
    struct px_conn *bc = c->session;
    if (c->connecting) {
        int err = pt_conn_connect_result(c);
        struct px *p = bc->p;
        if (err) {
            bc->p = NULL;
            if (p) {
                p->bc = NULL;
                pt_conn_close(c);
                pt_px_conn_failed(p, err);
            } else {
                pt_conn_close(c);
            }
            return;
        }
        pt_conn_set_events(c, 0);
        bc->pool->backoff = 0; /* reachable again */
        const struct px_mount *pm = bc->pool->pm;
        if (pm->tls) {
            static const unsigned char alpn[] = "\x08http/1.1";
            if (pt_tls_client_start(c, pm->tls, bc->pool->u->host, alpn, sizeof(alpn) - 1,
                                    &bc->pool->session) < 0) {
                bc->p = NULL;
                pt_conn_close(c);
                if (p) {
                    p->bc = NULL;
                    pt_px_conn_failed(p, ENOMEM);
                }
                return;
            }
            bc->handshaking = true;
        } else {
            if (p)
                pt_px_start(p);
            return;
        }
    }
    if (bc->handshaking) {
        char why[256];
        int rc = pt_tls_client_step(c, why, sizeof(why));
        if (rc == 0)
            return;
        struct px *p = bc->p;
        if (rc < 0) {
            bc->p = NULL;
            pt_conn_close(c);
            if (p) {
                p->bc = NULL;
                pt_px_tls_failed(p, why);
            }
            return;
        }
        bc->handshaking = false;
        pt_conn_set_events(c, 0);
        if (p)
            pt_px_start(p);
        return;
    }
    if (bc->p) {
        pt_px_on_io(bc->p, revents);
        return;
    }
    /* Idle: the backend closed it, or sent what nobody asked for. */
    char b;
    ssize_t n = pt_conn_recv(c, &b, 1);
    if (n < 0 && errno == EAGAIN)
        return;
    pt_debug("proxy %s: idle backend connection closed", bc->pool->u->name);
    pt_conn_close(c);
}

static double bc_timeout(const struct pt_conn *c)
{
    const struct px_conn *bc = c->session;
    return bc->idle ? bc->pool->pm->o.keepalive_timeout : 0; /* an exchange keeps its own timer */
}

static void bc_drain(struct pt_conn *c)
{
    struct px_conn *bc = c->session;
    if (bc->idle)
        pt_conn_close(c);
}

static void bc_destroy(struct pt_conn *c)
{
    struct px_conn *bc = c->session;
    if (!bc)
        return;
    struct px_pool *pool = bc->pool;
    if (bc->idle)
        idle_remove(bc);
    pool->n_open--;
    pt_px_gauge(pool, -1, 0, 0);
    struct px *p = bc->p;
    bc->p = NULL;
    c->session = NULL;
    pt_conn_session_free(c, bc);
    if (p) {
        /* Closed under the exchange (the worker stopping). */
        p->bc = NULL;
        pt_px_conn_failed(p, ECONNABORTED);
    }
}

static const struct pt_conn_ops bc_ops = {
    .name = "proxy backend",
    .on_io = bc_on_io,
    .timeout = bc_timeout,
    .drain = bc_drain,
    .destroy = bc_destroy,
};

/* ---- pools ------------------------------------------------------------- */

void *pt_px_worker_new(struct pt_worker *w)
{
    struct px_worker *pw = calloc(1, sizeof(*pw));
    if (pw)
        pw->w = w;
    return pw;
}

static void route_free(struct px_route *rt)
{
    for (size_t i = 0; i < rt->n_pools; i++)
        if (rt->pools[i].session)
            SSL_SESSION_free(rt->pools[i].session);
    free(rt);
}

void pt_px_worker_free(struct pt_worker *w, void *state)
{
    struct px_worker *pw = state;
    (void)w;
    /* The worker closed every connection already (idle ones included). */
    while (pw && pw->routes) {
        struct px_route *next = pw->routes->next;
        route_free(pw->routes);
        pw->routes = next;
    }
    free(pw);
}

/* The mounts of conf get no new requests: their idle connections close
 * now, busy ones when their exchange ends (each holds conf). */
void pt_px_worker_retire(struct pt_worker *w, void *state, const struct pt_config *conf)
{
    struct px_worker *pw = state;
    (void)w;
    for (struct px_route *rt = pw->routes; rt; rt = rt->next) {
        if (rt->conf != conf)
            continue;
        for (size_t i = 0; i < rt->n_pools; i++) {
            struct px_pool *pool = &rt->pools[i];
            pool->retired = true;
            while (pool->idle)
                pt_conn_close(conn_of(pool->idle));
            pt_px_h2_retire(pool);
        }
    }
}

void pt_px_worker_forget(struct pt_worker *w, void *state, const struct pt_config *conf)
{
    struct px_worker *pw = state;
    (void)w;
    for (struct px_route **pp = &pw->routes; *pp;) {
        struct px_route *rt = *pp;
        if (rt->conf == conf) {
            *pp = rt->next;
            route_free(rt);
        } else {
            pp = &rt->next;
        }
    }
}

struct px_route *pt_px_route(struct px_worker *pw, const struct px_mount *pm,
                             struct pt_config *conf)
{
    for (struct px_route *rt = pw->routes; rt; rt = rt->next)
        if (rt->pm == pm)
            return rt;
    struct px_route *rt = calloc(1, sizeof(*rt) + pm->n_ups * sizeof(rt->pools[0]));
    if (!rt)
        return NULL;
    rt->pm = pm;
    rt->conf = conf;
    rt->n_pools = pm->n_ups;
    for (size_t i = 0; i < pm->n_ups; i++) {
        rt->pools[i].pm = pm;
        rt->pools[i].conf = conf;
        /* A request of an older snapshot, after the reload (queued, or a
         * stream of a draining connection): nothing is kept for it. */
        rt->pools[i].retired = conf != pw->w->conf;
        rt->pools[i].u = &pm->ups[i];
        rt->pools[i].w = pw->w;
    }
    rt->next = pw->routes;
    pw->routes = rt;
    return rt;
}

struct px_pool *pt_px_choose(struct px_route *rt)
{
    double now = ev_now(rt->pools[0].w->loop);
    for (size_t k = 0; k < rt->n_pools; k++) {
        struct px_pool *pool = &rt->pools[rt->rr++ % rt->n_pools];
        if (pool->down_until <= now)
            return pool;
    }
    return NULL;
}

const struct pt_upstream *pt_px_upstream(const struct px_pool *pool)
{
    return pool->u;
}

void pt_px_backoff(struct px_pool *pool)
{
    double now = ev_now(pool->w->loop);
    if (pool->down_until > now)
        return; /* backed off already (several requests saw it fail) */
    pool->backoff = pool->backoff ? pool->backoff * 2 : 1;
    if (pool->backoff > 30)
        pool->backoff = 30;
    pool->down_until = now + pool->backoff;
    pt_warn("proxy %s: not reachable; skipped for %gs", pool->u->name, pool->backoff);
}

static void attach(struct px *p, struct px_conn *bc)
{
    bc->p = p;
    p->bc = bc;
}

struct pt_conn *pt_px_connect(struct px_pool *pool, const struct pt_conn_ops *ops, int *err)
{
    struct pt_upstream_addr a;
    if (!pt_upstream_pick(pool->u, pool->next_addr++, &a)) {
        *err = EADDRNOTAVAIL;
        return NULL;
    }
    return pt_conn_connect(pool->w, pool->conf, (const struct sockaddr *)&a.sa, a.len,
                           pool->pm->device, ops,
                           ops == &bc_ops ? sizeof(struct px_conn) : 0, err);
}

static void open_conn(struct px *p)
{
    struct px_pool *pool = p->pool;
    int err;
    struct pt_conn *c = pt_px_connect(pool, &bc_ops, &err);
    if (!c) {
        pt_px_conn_failed(p, err);
        return;
    }
    struct px_conn *bc = pt_conn_session_alloc(c, sizeof(*bc));
    if (bc != (void *)(c + 1)) {
        pt_conn_session_free(c, bc);
        pt_conn_close(c);
        pt_px_conn_failed(p, ENOMEM);
        return;
    }
    c->session = bc;
    bc->pool = pool;
    pool->n_open++;
    pt_px_gauge(pool, 1, 0, 0);
    p->reused = false;
    attach(p, bc);
}

static void enqueue(struct px *p)
{
    struct px_pool *pool = p->pool;
    p->qnext = NULL;
    if (pool->qtail)
        pool->qtail->qnext = p;
    else
        pool->qhead = p;
    pool->qtail = p;
    pool->n_queued++;
    pt_px_gauge(pool, 0, 0, 1);
    p->queued = true;
}

void pt_px_unqueue(struct px *p)
{
    struct px_pool *pool = p->pool;
    if (!p->queued)
        return;
    struct px **pp = &pool->qhead, *prev = NULL;
    while (*pp && *pp != p) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    if (*pp)
        *pp = p->qnext;
    if (pool->qtail == p)
        pool->qtail = prev;
    pool->n_queued--;
    pt_px_gauge(pool, 0, 0, -1);
    p->queued = false;
    p->qnext = NULL;
}

void pt_px_acquire(struct px *p)
{
    struct px_pool *pool = p->pool;
    const struct pt_proxy_opts *o = &pool->pm->o;
    if (o->h2 && !pool->h2_refused && !p->upgrade) { /* tunnels: HTTP/1.1 */
        if (pt_px_h2_acquire(p))
            return;
    } else if (pool->idle && !p->retried) {
        struct px_conn *bc = pool->idle;
        idle_remove(bc);
        attach(p, bc);
        p->reused = true;
        pt_px_start(p);
        return;
    } else if (pool->n_open < (unsigned)o->max_conns) {
        open_conn(p);
        return;
    }
    if (pool->n_queued >= (unsigned)o->max_queue) {
        pt_warn("proxy %s: %u requests waiting for a connection already; 503",
                pool->u->name, pool->n_queued);
        pt_resp_header(p->r, "Retry-After", "1");
        struct pt_req *r = p->r;
        pt_px_free(p);
        pt_respond_error(r, 503, "proxy queue full");
        return;
    }
    enqueue(p);
}

/* The next waiting request takes a connection, from the loop: release()
 * runs inside another request's body pump. */
void pt_px_serve_queue(struct px_pool *pool)
{
    struct px *q = pool->qhead;
    if (!q)
        return;
    pt_px_unqueue(q);
    ev_timer_stop(pool->w->loop, &q->timer);
    ev_timer_set(&q->timer, 0., 0.);
    ev_timer_start(pool->w->loop, &q->timer); /* h1client.c's timer: acquires */
}

void pt_px_release(struct px *p, bool keep_alive)
{
    struct px_conn *bc = p->bc;
    if (!bc)
        return;
    struct px_pool *pool = bc->pool;
    struct pt_conn *c = conn_of(bc);
    bc->p = NULL;
    p->bc = NULL;
    if (keep_alive && !pool->w->draining && !pool->retired) {
        bc->idle = true;
        bc->next_idle = pool->idle;
        pool->idle = bc;
        pt_px_gauge(pool, 0, 1, 0);
        c->last_activity = ev_now(pool->w->loop);
        pt_conn_set_events(c, EV_READ);
        pt_conn_timer_update(c);
    } else {
        pt_conn_close(c);
    }
    pt_px_serve_queue(pool);
}
