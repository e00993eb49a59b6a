#include "gateway/limits.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/iptable.h"
#include "gateway/log.h"
#include "gateway/pool.h"
#include "gateway/request.h"
#include "gateway/worker.h"

static atomic_long n_open;        /* max-connections */
static atomic_ulong n_refused;

void pt_limits_init(const struct pt_config *conf)
{
    pt_iptable_init((unsigned)conf->g.ip_limit_table_size);
}

void pt_limits_free(void)
{
    pt_iptable_free();
}

unsigned long pt_limits_refused(void)
{
    return atomic_load(&n_refused);
}

bool pt_limits_ceiling_take(const struct pt_config *conf)
{
    long max = conf->g.max_connections;
    if (max <= 0)
        return true;
    if (atomic_fetch_add(&n_open, 1) >= max) {
        atomic_fetch_sub(&n_open, 1);
        return false;
    }
    return true;
}

void pt_limits_ceiling_give(void)
{
    atomic_fetch_sub(&n_open, 1);
}

/* ---- connections ------------------------------------------------------ */

static int wsi_limit(const struct pt_config *conf, const struct pt_listen *l)
{
    /* The port's default vhost may set its own. */
    const struct pt_vhost *vh = l && l->n_vhosts ? l->vhosts[0] : NULL;
    return vh && vh->ip_limit_wsi >= 0 ? vh->ip_limit_wsi : conf->g.ip_limit_wsi;
}

static bool denied(const struct pt_cidrs *allow, const struct pt_cidrs *deny,
                   const struct pt_ip *ip)
{
    if (pt_cidrs_match(deny, ip))
        return true;
    return allow->n && !pt_cidrs_match(allow, ip);
}

bool pt_limits_peer_admit(const struct pt_config *conf, const struct pt_listen *l,
                          const struct pt_ip *ip, unsigned *flags)
{
    const struct pt_global *g = &conf->g;
    char buf[46];
    if (denied(&g->ip_allow, &g->ip_deny, ip)) {
        atomic_fetch_add(&n_refused, 1);
        pt_ip_format(ip, buf, sizeof(buf));
        pt_info_rl("%s: connection refused by ip-allow/ip-deny", buf);
        return false;
    }
    int limit = wsi_limit(conf, l);
    if (limit <= 0)
        return true; /* connections are not counted */
    struct pt_ip key = pt_ip_key(ip, g->ip_limit_v6_prefix);
    bool tracked;
    if (!pt_iptable_conn_open(&key, (unsigned)limit, &tracked)) {
        atomic_fetch_add(&n_refused, 1);
        pt_ip_format(ip, buf, sizeof(buf));
        pt_info_rl("%s: connection over ip-limit-wsi (%d): closed", buf, limit);
        return false;
    }
    if (tracked)
        *flags |= PT_LIM_TRACKED;
    return true;
}

void pt_limits_conn_closed(struct pt_conn *c)
{
    if (c->lim_tracked) {
        struct pt_ip ip;
        if (pt_ip_from_sockaddr((const struct sockaddr *)&c->peer, &ip)) {
            struct pt_ip key = pt_ip_key(&ip, c->lim_v6_prefix); /* as when counted */
            pt_iptable_conn_close(&key);
        }
        c->lim_tracked = false;
    }
    if (c->lim_counted) {
        pt_limits_ceiling_give();
        c->lim_counted = false;
    }
}

/* ---- requests --------------------------------------------------------- */

/* A request waiting for a slot (ip-limit-ah): in the peer's queue, then,
 * once granted, in its worker's mailbox. */
struct waiter {
    struct pt_ipwait wt;      /* first */
    struct pt_wakeup wake;
    struct pt_req *r;
    ev_timer timer;
};

static void resume(struct pt_wakeup *x)
{
    struct waiter *wa = (struct waiter *)((char *)x - offsetof(struct waiter, wake));
    struct pt_req *r = wa->r;
    ev_timer_stop(r->loop, &wa->timer);
    r->limit_wait = NULL;
    r->limit_slot = wa->wt.slot;
    pt_dispatch_resume(r);
}

/* Under the table's lock, on whichever thread gave the slot back. */
static void granted(struct pt_ipwait *wt)
{
    struct waiter *wa = (struct waiter *)wt;
    pt_worker_post(wa->r->worker, &wa->wake);
}

static void unpost(struct pt_ipwait *wt)
{
    struct waiter *wa = (struct waiter *)wt;
    pt_worker_unpost(wa->r->worker, &wa->wake);
}

static void on_wait_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct waiter *wa = t->data;
    struct pt_req *r = wa->r;
    r->limit_wait = NULL;
    if (pt_iptable_req_cancel(&wa->wt, unpost)) {
        /* The slot came just now: take it. */
        r->limit_slot = wa->wt.slot;
        pt_dispatch_resume(r);
        return;
    }
    pt_info_rl("%s: waited %ds for a request slot (ip-limit-ah): 503", r->peer_ip,
            r->conf->g.timeout_secs);
    pt_resp_header(r, "Retry-After", "1");
    pt_respond_error(r, 503, "ip-limit-ah: no slot in time");
}

static int ah_limit(const struct pt_req *r)
{
    const struct pt_vhost *vh = r->vhost;
    return vh && vh->ip_limit_ah >= 0 ? vh->ip_limit_ah : r->conf->g.ip_limit_ah;
}

/* trusted-proxies: the client behind them, from X-Forwarded-For. */
static void forwarded_client(struct pt_req *r)
{
    const struct pt_cidrs *trusted = &r->conf->g.trusted_proxies;
    if (!trusted->n || !pt_cidrs_match(trusted, &r->peer))
        return;
    size_t len;
    const char *xff = pt_req_header(r, "x-forwarded-for", &len);
    struct pt_ip client;
    if (xff && pt_ip_forwarded_client(xff, len, trusted, &client)) {
        r->hop_ip = pt_pool_strndup(r->pool, r->peer_ip, strlen(r->peer_ip));
        r->peer = client;
        pt_ip_format(&client, r->peer_ip, sizeof(r->peer_ip));
    }
}

bool pt_limits_request(struct pt_req *r)
{
    if (r->limits_done)
        return true; /* an internal redirect: checked once */
    r->limits_done = true;
    forwarded_client(r);
    const struct pt_vhost *vh = r->vhost;
    if (denied(&vh->ip_allow, &vh->ip_deny, &r->peer)) {
        pt_respond_error(r, 403, "ip-allow/ip-deny of the vhost");
        return false;
    }
    int limit = ah_limit(r);
    if (vh->ip_limit_rate <= 0 && limit <= 0)
        return true;
    struct pt_ip key = pt_ip_key(&r->peer, r->conf->g.ip_limit_v6_prefix);
    struct pt_iprate rate, *rt = NULL;
    if (vh->ip_limit_rate > 0) {
        rate.scope = vh->index;
        rate.rate = vh->ip_limit_rate;
        rate.burst = vh->ip_limit_burst > 0 ? vh->ip_limit_burst : vh->ip_limit_rate;
        rate.now = r->start; /* ev_now() at its first byte */
        rt = &rate;
    }
    unsigned cap = limit > 0 ? (unsigned)limit : 0;
    int retry;
    int rc = pt_iptable_req_begin(&key, rt, cap, NULL, &retry, &r->limit_slot);
    struct waiter *wa = NULL;
    if (rc == 0) { /* it must wait: only now is a waiter made */
        wa = pt_pool_alloc(r->pool, sizeof(*wa));
        memset(wa, 0, sizeof(*wa));
        wa->r = r;
        wa->wt.granted = granted;
        wa->wake.fn = resume;
        rc = pt_iptable_req_begin(&key, NULL, cap, &wa->wt, &retry, &r->limit_slot);
    }
    if (retry) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", retry);
        pt_resp_header(r, "Retry-After", ra);
        pt_respond_error(r, 429, "ip-limit-rate");
        return false;
    }
    if (rc != 0)
        return true; /* a slot (r->limit_slot), or nothing to count */
    r->limit_wait = wa;
    if (r->has_body)
        pt_req_body_keep(r); /* for the handler it will reach: not dropped meanwhile */
    ev_timer_init(&wa->timer, on_wait_timeout, r->conf->g.timeout_secs, 0.);
    wa->timer.data = wa;
    ev_timer_start(r->loop, &wa->timer);
    return false;
}

void pt_limits_request_done(struct pt_req *r)
{
    struct waiter *wa = r->limit_wait;
    if (wa) {
        r->limit_wait = NULL;
        ev_timer_stop(r->loop, &wa->timer);
        if (pt_iptable_req_cancel(&wa->wt, unpost))
            r->limit_slot = wa->wt.slot; /* granted meanwhile: give it on */
    }
    pt_iptable_req_end(&r->limit_slot);
}
