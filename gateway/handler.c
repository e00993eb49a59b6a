/* The handler registry and per-worker handler state (see handler.h). */
#include "gateway/handler.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "gateway/log.h"
#include "gateway/request.h"
#include "gateway/worker.h"

static const struct pt_handler *handlers[PT_MAX_HANDLERS];
static size_t n_handlers;
static char scheme_list[512];

/* Fields a handler built against an older, smaller struct lacks read as
 * NULL: the core never looks past struct_size. */
#define HAS(h, field) \
    ((h)->struct_size >= offsetof(struct pt_handler, field) + sizeof((h)->field) && (h)->field)

static void list_schemes(void)
{
    size_t n = 0;
    scheme_list[0] = '\0';
    for (size_t i = 0; i < n_handlers; i++)
        for (const char *const *s = handlers[i]->schemes; *s; s++)
            n += (size_t)snprintf(scheme_list + n, n < sizeof(scheme_list) ? sizeof(scheme_list) - n : 0,
                                  "%s%s", n ? ", " : "", *s);
}

int pt_handler_register(const struct pt_handler *h)
{
    const char *name = h->name ? h->name : "?";
    if (h->abi_version != PT_HANDLER_ABI) {
        pt_err("handler \"%s\": built for handler ABI %u, portico has ABI %u", name,
               h->abi_version, PT_HANDLER_ABI);
        return -1;
    }
    if (h->struct_size < offsetof(struct pt_handler, handle) + sizeof(h->handle) ||
        !h->handle || !h->schemes || !h->schemes[0]) {
        pt_err("handler \"%s\": incomplete (no schemes or no handle())", name);
        return -1;
    }
    if (n_handlers == PT_MAX_HANDLERS) {
        pt_err("handler \"%s\": too many handlers (%d)", name, PT_MAX_HANDLERS);
        return -1;
    }
    for (const char *const *s = h->schemes; *s; s++) {
        size_t len;
        const struct pt_handler *other = pt_handler_for_origin(*s, &len);
        if (other && len == strlen(*s)) {
            pt_err("handler \"%s\": scheme %s is taken by \"%s\"", name, *s, other->name);
            return -1;
        }
    }
    handlers[n_handlers++] = h;
    list_schemes();
    return 0;
}

const struct pt_handler *pt_handler_for_origin(const char *origin, size_t *scheme_len)
{
    const struct pt_handler *best = NULL;
    size_t best_len = 0;
    /* The longest scheme wins (">https://" over a hypothetical ">"). */
    for (size_t i = 0; i < n_handlers; i++) {
        for (const char *const *s = handlers[i]->schemes; *s; s++) {
            size_t len = strlen(*s);
            if (len > best_len && strncasecmp(origin, *s, len) == 0) {
                best = handlers[i];
                best_len = len;
            }
        }
    }
    *scheme_len = best_len;
    return best;
}

bool pt_handler_takes_origin_list(const struct pt_handler *h)
{
    return HAS(h, flags) && (h->flags & PT_HANDLER_ORIGIN_LIST);
}

const char *pt_handler_schemes(void)
{
    return scheme_list;
}

const struct pt_handler *pt_handler_for_key(const char *key)
{
    for (size_t i = 0; i < n_handlers; i++)
        for (const struct pt_key *k = handlers[i]->keys; k && k->name; k++)
            if (strcmp(k->name, key) == 0)
                return handlers[i];
    return NULL;
}

size_t pt_handler_key_names(const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < n_handlers; i++)
        for (const struct pt_key *k = handlers[i]->keys; k && k->name && n < max; k++)
            out[n++] = k->name;
    return n;
}

int pt_handler_config_init(const struct pt_config *conf, struct pt_diag *d)
{
    int errors = 0;
    for (size_t i = 0; i < n_handlers; i++)
        if (HAS(handlers[i], config_init))
            errors += handlers[i]->config_init(conf, d);
    return errors;
}

void pt_handler_config_fini(const struct pt_config *conf)
{
    for (size_t i = 0; i < n_handlers; i++)
        if (HAS(handlers[i], config_fini))
            handlers[i]->config_fini(conf);
}

bool pt_handler_owns_upgrades(const struct pt_handler *h)
{
    return HAS(h, flags) && (h->flags & PT_HANDLER_UPGRADES);
}

int pt_handler_slot(const struct pt_handler *h)
{
    for (size_t i = 0; i < n_handlers; i++)
        if (handlers[i] == h)
            return (int)i;
    return -1;
}

static void *state_at(struct pt_worker *w, int slot)
{
    if (slot < 0 || (size_t)slot >= n_handlers)
        return NULL;
    if (!w->hstate[slot]) {
        const struct pt_handler *h = handlers[slot];
        if (!HAS(h, worker_init))
            return NULL;
        w->hstate[slot] = h->worker_init(w);
    }
    return w->hstate[slot];
}

void *pt_handler_state(const struct pt_req *r)
{
    return r->mount && r->worker ? state_at(r->worker, r->mount->handler_slot) : NULL;
}

void *pt_worker_handler_state(struct pt_worker *w, const struct pt_handler *h)
{
    return state_at(w, pt_handler_slot(h));
}

void pt_handler_worker_retire(struct pt_worker *w, const struct pt_config *conf)
{
    for (size_t i = 0; i < n_handlers; i++)
        if (w->hstate[i] && HAS(handlers[i], worker_retire))
            handlers[i]->worker_retire(w, w->hstate[i], conf);
}

void pt_handler_worker_forget(struct pt_worker *w, const struct pt_config *conf)
{
    for (size_t i = 0; i < n_handlers; i++)
        if (w->hstate[i] && HAS(handlers[i], worker_forget))
            handlers[i]->worker_forget(w, w->hstate[i], conf);
}

void pt_handler_worker_dispose(struct pt_worker *w)
{
    for (size_t i = 0; i < n_handlers; i++) {
        if (!w->hstate[i])
            continue;
        if (HAS(handlers[i], worker_dispose))
            handlers[i]->worker_dispose(w, w->hstate[i]);
        w->hstate[i] = NULL;
    }
}
