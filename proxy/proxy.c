/* http:// and https:// mounts: the handler's keys, setup and per-worker
 * state; the work is in pool.c and h1client.c. */
#include "proxy/proxy.h"

#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/diag.h"
#include "gateway/log.h"
#include "gateway/request.h"
#include "gateway/stats.h"
#include "gateway/worker.h"

#define O(f) offsetof(struct pt_proxy_opts, f)
static const struct pt_key proxy_keys[] = {
    { "proxy-connect-timeout", PT_KEY_INT, O(connect_timeout), 1, 3600 },
    { "proxy-read-timeout", PT_KEY_INT, O(read_timeout), 1, 86400 },
    { "proxy-send-timeout", PT_KEY_INT, O(send_timeout), 1, 86400 },
    { "proxy-max-conns", PT_KEY_INT, O(max_conns), 1, 65535 },
    { "proxy-max-queue", PT_KEY_INT, O(max_queue), 0, 1000000 },
    { "proxy-resolve-interval", PT_KEY_INT, O(resolve_interval), 0, 86400 },
    { "proxy-keepalive-timeout", PT_KEY_INT, O(keepalive_timeout), 1, 86400 },
    { "proxy-ping-interval", PT_KEY_INT, O(ping_interval), 0, 86400 },
    { "proxy-preserve-host", PT_KEY_BOOL, O(preserve_host), 0, 0 },
    { "proxy-rewrite-location", PT_KEY_BOOL, O(rewrite_location), 0, 0 },
    { "proxy-h2", PT_KEY_BOOL, O(h2), 0, 0 },
    { "proxy-websocket", PT_KEY_BOOL, O(websocket), 0, 0 },
    { "proxy-buffering", PT_KEY_BOOL, O(buffering), 0, 0 },
    { "proxy-buffering-max", PT_KEY_INT, O(buffering_max), 1, INT_MAX },
    { "proxy-insecure", PT_KEY_BOOL, O(insecure), 0, 0 },
    { "proxy-ca", PT_KEY_PATH, O(ca), 0, 0 },
    { "proxy-client-cert", PT_KEY_PATH, O(client_cert), 0, 0 },
    { "proxy-client-key", PT_KEY_PATH, O(client_key), 0, 0 },
    { NULL, PT_KEY_STR, 0, 0, 0 },
};
#undef O

/* A key's value, or its default when the mount does not set it. */
static int int_or(const struct pt_mount *m, const char *key, int v, int def)
{
    return pt_mount_has_key(m, key) ? v : def;
}

static bool bool_or(const struct pt_mount *m, const char *key, bool v, bool def)
{
    return pt_mount_has_key(m, key) ? v : def;
}

static void proxy_teardown(struct pt_mount *m)
{
    struct px_mount *pm = m->handler_data;
    if (!pm)
        return;
    pt_tls_client_put(pm->tls);
    for (size_t i = 0; i < pm->n_ups; i++)
        pt_upstream_free(&pm->ups[i]);
    free(pm->ups);
    free(pm);
    m->handler_data = NULL;
}

/* Parses and resolves every origin of the mount (one, or a list whose
 * members share scheme and path).  Returns the count of errors. */
static int set_up_origins(struct pt_mount *m, struct px_mount *pm, struct pt_diag *d)
{
    size_t n = m->n_origins ? m->n_origins : 1;
    pm->ups = calloc(n, sizeof(*pm->ups));
    if (!pm->ups)
        return 1;
    pm->n_ups = n;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const char *origin = m->n_origins ? m->origins[i] : m->origin;
        const struct pt_srcpos *p = m->n_origins ? &m->origins_pos[i] : &m->origin_pos;
        struct pt_upstream *u = &pm->ups[i];
        const char *why = NULL;
        char err[256];
        if (pt_upstream_parse(u, origin, &why) < 0) {
            pt_diag_error(d, p->file, p->line, p->col, "origin \"%s\": %s", origin,
                          why ? why : "out of memory");
            bad++;
        } else if (i && (u->tls != pm->ups[0].tls || strcmp(u->prefix, pm->ups[0].prefix))) {
            pt_diag_error(d, p->file, p->line, p->col,
                          "origin \"%s\": the origins of one mount must share the scheme "
                          "and the path (\"%s\")", origin, m->origins[0]);
            bad++;
        } else if (pt_upstream_resolve(u, err, sizeof(err)) < 0) {
            pt_diag_error(d, p->file, p->line, p->col,
                          "origin \"%s\": cannot resolve \"%s\": %s", origin, u->host, err);
            bad++;
        } else {
            u->stats_id = pt_stats_upstream_label(u->name);
        }
    }
    return bad;
}

static int proxy_setup(struct pt_mount *m, struct pt_diag *d)
{
    const struct pt_srcpos *p = &m->origin_pos;
    const struct pt_proxy_opts *o = m->opts;
    struct px_mount *pm = calloc(1, sizeof(*pm));
    if (!pm) {
        pt_diag_error(d, p->file, p->line, p->col, "out of memory");
        return -1;
    }
    m->handler_data = pm; /* for proxy_teardown on failure */
    int bad = set_up_origins(m, pm, d);
    bool tls = pm->n_ups && pm->ups[0].tls;
    if (!tls && (o->ca || o->client_cert || o->client_key || o->insecure)) {
        const char *k = o->ca ? "proxy-ca" : o->client_cert ? "proxy-client-cert"
                      : o->client_key ? "proxy-client-key" : "proxy-insecure";
        const struct pt_srcpos *kp = pt_mount_key_pos(m, k);
        pt_diag_warn(d, kp->file, kp->line, kp->col, "\"%s\": only for https:// origins; "
                     "ignored", k);
    }
    if (tls && !bad) {
        struct pt_tls_client_opts to = {
            .ca = o->ca, .cert = o->client_cert, .key = o->client_key, .insecure = o->insecure,
        };
        const struct pt_srcpos *kp = o->ca ? pt_mount_key_pos(m, "proxy-ca")
                                   : o->client_cert ? pt_mount_key_pos(m, "proxy-client-cert")
                                   : &m->origin_pos;
        pm->tls = pt_tls_client_get(&to, d, kp);
        if (!pm->tls)
            bad++;
    }
    if (bad) {
        proxy_teardown(m);
        return -1;
    }
    pm->o = *o;
    pm->device = m->bind_device;
    pm->o.connect_timeout = int_or(m, "proxy-connect-timeout", o->connect_timeout, 5);
    pm->o.read_timeout = int_or(m, "proxy-read-timeout", o->read_timeout, 60);
    pm->o.send_timeout = int_or(m, "proxy-send-timeout", o->send_timeout, 60);
    pm->o.max_conns = int_or(m, "proxy-max-conns", o->max_conns, 32);
    pm->o.max_queue = int_or(m, "proxy-max-queue", o->max_queue, 1024);
    pm->o.keepalive_timeout = int_or(m, "proxy-keepalive-timeout", o->keepalive_timeout, 60);
    pm->o.ping_interval = int_or(m, "proxy-ping-interval", o->ping_interval, 30);
    pm->o.buffering_max = int_or(m, "proxy-buffering-max", o->buffering_max, 16 << 20);
    pm->o.resolve_interval = int_or(m, "proxy-resolve-interval", o->resolve_interval, 30);
    for (size_t i = 0; i < pm->n_ups && pm->o.resolve_interval > 0; i++)
        if (pt_upstream_is_name(&pm->ups[i]))
            pt_resolver_add(&pm->ups[i], pm->o.resolve_interval);
    pm->o.rewrite_location = bool_or(m, "proxy-rewrite-location", o->rewrite_location, true);
    pm->o.websocket = bool_or(m, "proxy-websocket", o->websocket, true);
    if (o->insecure && tls) {
        const struct pt_srcpos *kp = pt_mount_key_pos(m, "proxy-insecure");
        pt_diag_warn(d, kp->file, kp->line, kp->col,
                     "proxy-insecure: the certificates of %s are not verified", m->origin);
    }
    return 0;
}

static void proxy_handle(struct pt_req *r)
{
    const struct px_mount *pm = r->mount->handler_data;
    struct px_worker *pw = pt_handler_state(r);
    struct px_route *route = pw ? pt_px_route(pw, pm, r->conf) : NULL;
    if (!route) {
        pt_respond_error(r, 500, "out of memory");
        return;
    }
    pt_px_handle(r, pm, route);
}

static const char *const proxy_schemes[] = {"http://", "https://", NULL};

const struct pt_handler pt_handler_proxy = {
    .abi_version = PT_HANDLER_ABI,
    .struct_size = sizeof(struct pt_handler),
    .name = "proxy",
    .schemes = proxy_schemes,
    .opts_size = sizeof(struct pt_proxy_opts),
    .keys = proxy_keys,
    .setup = proxy_setup,
    .teardown = proxy_teardown,
    .worker_init = pt_px_worker_new,
    .worker_dispose = pt_px_worker_free,
    .worker_retire = pt_px_worker_retire,
    .worker_forget = pt_px_worker_forget,
    .handle = proxy_handle,
    .flags = PT_HANDLER_ORIGIN_LIST | PT_HANDLER_CAPTURES | PT_HANDLER_UPGRADES,
};
