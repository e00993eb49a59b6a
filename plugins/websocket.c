/* WebSocket connections for plugins: which plugin takes an upgrade
 * request, the glue from ws/ to the plugin's callbacks, and "writeable
 * all" across workers.
 *
 * Choosing (lwsws's rules): a callback:// mount whose plugin speaks
 * WebSocket takes its own upgrades.  Elsewhere on a vhost (a file mount, as
 * lwsws's test page opens ws:// on "/"), the vhost's ws-protocols plugins
 * are offered: the first protocol the client lists that one of them has
 * (by name or alias), else the one marked "default".  A request no plugin
 * takes goes on to its mount's handler as before. */
#include "plugins/plugins.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/diag.h"
#include "gateway/request.h"
#include "gateway/worker.h"
#include "ws/ws.h"

#define MAX_WORKERS 256

/* A worker's WebSockets of plugins. */
struct wsreg {
    struct pt_worker *w;
    struct pt_wakeup x;           /* posted by pt_ws_want_writeable_all() */
    atomic_bool posted;
    struct glue *conns;
};

/* In front of a plugin's session data, in the ws user area. */
struct glue {
    struct pt_plugin_vhost *pv;
    struct pt_ws *ws;
    struct wsreg *reg;
    struct glue *prev, *next;
    unsigned seen_gen;
    _Alignas(16) unsigned char data[];
};

static pthread_mutex_t regs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct wsreg *regs[MAX_WORKERS];

static bool speaks_ws(const struct pt_plugin *p)
{
    return PT_PLUGIN_HAS(p, ws_message);
}

/* ---- instances of ws-protocols entries ------------------------------------ */

int pt_plugins_ws_init(const struct pt_config *conf, struct pt_diag *d)
{
    int errors = 0;
    for (size_t i = 0; i < conf->n_vhosts; i++) {
        const struct pt_vhost *vh = &conf->vhosts[i];
        for (size_t j = 0; j < vh->n_ws_protocols; j++) {
            const struct pt_wsproto *e = &vh->ws_protocols[j];
            const struct pt_plugin *p = pt_plugin_find(e->name, strlen(e->name));
            if (!p)
                continue; /* warned about by the caller */
            const char *status = NULL;
            for (size_t k = 0; k < e->opts.n; k++)
                if (strcmp(e->opts.v[k].name, "status") == 0)
                    status = e->opts.v[k].value;
            if (status && strcmp(status, "ok") != 0)
                continue; /* listed, not enabled */
            struct pt_plugin_vhost *pv = pt_plugin_instance_find(p, vh);
            if (pv && pv->entry_ref)
                continue; /* named twice (by name and alias) */
            pv = pt_plugin_instance_get(p, vh, &e->pos, "\"ws-protocols\"", d);
            if (!pv) {
                errors++;
                continue;
            }
            pv->entry_ref = true;
            ((struct pt_wsproto *)e)->instance = pv; /* the config is not shared yet */
        }
    }
    return errors;
}

void pt_plugins_ws_fini(const struct pt_config *conf)
{
    for (size_t i = 0; i < conf->n_vhosts; i++) {
        const struct pt_vhost *vh = &conf->vhosts[i];
        for (size_t j = 0; j < vh->n_ws_protocols; j++) {
            struct pt_plugin_vhost *pv = vh->ws_protocols[j].instance;
            if (pv && pv->entry_ref) {
                pv->entry_ref = false;
                pt_plugin_instance_put(pv);
            }
        }
    }
}

/* ---- the worker's registry ------------------------------------------------ */

static void on_wake_all(struct pt_wakeup *x)
{
    struct wsreg *reg = (struct wsreg *)((char *)x - offsetof(struct wsreg, x));
    atomic_store(&reg->posted, false);
    for (struct glue *g = reg->conns; g; g = g->next) {
        unsigned gen = atomic_load(&g->pv->wake_gen);
        if (g->seen_gen != gen) {
            g->seen_gen = gen;
            pt_ws_want_writeable(g->ws);
        }
    }
}

void *pt_plugins_ws_worker_init(struct pt_worker *w)
{
    if (w->id < 0 || w->id >= MAX_WORKERS)
        return NULL;
    struct wsreg *reg = calloc(1, sizeof(*reg));
    if (!reg)
        return NULL;
    reg->w = w;
    reg->x.fn = on_wake_all;
    pthread_mutex_lock(&regs_lock);
    regs[w->id] = reg;
    pthread_mutex_unlock(&regs_lock);
    return reg;
}

void pt_plugins_ws_worker_dispose(struct pt_worker *w, void *state)
{
    struct wsreg *reg = state;
    pthread_mutex_lock(&regs_lock);
    regs[w->id] = NULL;
    if (atomic_load(&reg->posted))
        pt_worker_unpost(w, &reg->x);
    pthread_mutex_unlock(&regs_lock);
    free(reg);
}

void pt_ws_want_writeable_all(struct pt_plugin_vhost *pv)
{
    atomic_fetch_add(&pv->wake_gen, 1);
    pthread_mutex_lock(&regs_lock);
    for (int i = 0; i < MAX_WORKERS; i++) {
        struct wsreg *reg = regs[i];
        if (reg && !atomic_exchange(&reg->posted, true))
            pt_worker_post(reg->w, &reg->x);
    }
    pthread_mutex_unlock(&regs_lock);
}

/* ---- the glue to the plugin's callbacks ----------------------------------- */

static struct glue *glue_of(struct pt_ws *ws)
{
    return pt_ws_user(ws);
}

struct pt_plugin_vhost *pt_ws_instance(struct pt_ws *ws)
{
    return glue_of(ws)->pv;
}

void *pt_ws_session(struct pt_ws *ws)
{
    struct glue *g = glue_of(ws);
    return g->pv->p->session_data_size ? g->data : NULL;
}

static int app_open(struct pt_ws *ws)
{
    struct glue *g = glue_of(ws);
    struct wsreg *reg = pt_worker_handler_state(pt_ws_req(ws)->worker, &pt_handler_callback);
    g->ws = ws;
    g->pv = pt_ws_owner(ws);
    g->seen_gen = atomic_load(&g->pv->wake_gen);
    if (reg) {
        g->reg = reg;
        g->next = reg->conns;
        if (reg->conns)
            reg->conns->prev = g;
        reg->conns = g;
    }
    const struct pt_plugin *p = g->pv->p;
    return PT_PLUGIN_HAS(p, ws_open) ? p->ws_open(ws) : 0;
}

static void app_message(struct pt_ws *ws, const char *data, size_t len, int binary)
{
    glue_of(ws)->pv->p->ws_message(ws, data, len, binary);
}

static void app_writeable(struct pt_ws *ws)
{
    const struct pt_plugin *p = glue_of(ws)->pv->p;
    if (PT_PLUGIN_HAS(p, ws_writeable))
        p->ws_writeable(ws);
}

static void app_closed(struct pt_ws *ws, int code)
{
    const struct pt_plugin *p = glue_of(ws)->pv->p;
    if (PT_PLUGIN_HAS(p, ws_closed))
        p->ws_closed(ws, code);
}

static void app_freed(struct pt_ws *ws)
{
    struct glue *g = glue_of(ws);
    if (g->reg) {
        if (g->prev)
            g->prev->next = g->next;
        else
            g->reg->conns = g->next;
        if (g->next)
            g->next->prev = g->prev;
    }
    const struct pt_plugin *p = g->pv->p;
    if (p->session_data_size && PT_PLUGIN_HAS(p, session_destroy))
        p->session_destroy(g->pv, g->data);
}

static const struct pt_ws_app plugin_app = {
    .open = app_open,
    .message = app_message,
    .writeable = app_writeable,
    .closed = app_closed,
    .freed = app_freed,
};

/* ---- choosing ------------------------------------------------------------- */

struct choice {
    const struct pt_vhost *vh;
    struct pt_plugin_vhost *only;   /* a callback:// mount's own plugin */
    struct pt_plugin_vhost *found;
};

/* Only what the request's snapshot holds is read here (a worker thread):
 * the mount's instance, and the vhost's ws-protocols entries'. */
static bool offers(const char *name, size_t len, void *arg)
{
    struct choice *c = arg;
    if (c->only) {
        if (!pt_plugin_named(c->only->p, name, len))
            return false;
        c->found = c->only;
        return true;
    }
    for (size_t j = 0; j < c->vh->n_ws_protocols; j++) {
        struct pt_plugin_vhost *pv = c->vh->ws_protocols[j].instance;
        if (pv && speaks_ws(pv->p) && pt_plugin_named(pv->p, name, len)) {
            c->found = pv;
            return true;
        }
    }
    return false;
}

static struct pt_plugin_vhost *default_of(const struct pt_vhost *vh)
{
    for (size_t j = 0; j < vh->n_ws_protocols; j++) {
        struct pt_plugin_vhost *pv = vh->ws_protocols[j].instance;
        if (pv && pv->is_default && speaks_ws(pv->p))
            return pv;
    }
    return NULL;
}

bool pt_plugins_ws_take(struct pt_req *r)
{
    if (!pt_ws_requested(r))
        return false;
    struct choice c = { r->vhost, NULL, NULL };
    if (r->mount->handler == &pt_handler_callback) {
        c.only = r->mount->handler_data;
        if (!speaks_ws(c.only->p))
            return false; /* an HTTP-only plugin answers it as a request */
    }
    const char *proto = pt_ws_pick_protocol(r, offers, &c);
    if (!c.found)
        c.found = c.only ? c.only : default_of(r->vhost);
    if (!c.found)
        return false;
    const struct pt_plugin *p = c.found->p;
    struct pt_ws_limits lim = {
        .max_message = c.found->ws_max_message,
        .ping_secs = r->conf->g.ws_pingpong_secs,
    };
    pt_ws_accept(r, proto, &plugin_app, c.found, sizeof(struct glue) + p->session_data_size,
                 &lim);
    return true;
}
