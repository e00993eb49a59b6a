/* A plugin's instances, one per vhost that uses it, made at config load
 * and shared by that vhost's callback:// mounts of the plugin.  Made and
 * freed on the main thread only (config load and teardown). */
#include "plugins/plugins.h"

#include <stdlib.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/diag.h"

static struct pt_plugin_vhost *instances;

/* p's entry in vh's "ws-protocols", or NULL. */
static const struct pt_wsproto *entry_of(const struct pt_vhost *vh, const struct pt_plugin *p)
{
    for (size_t i = 0; i < vh->n_ws_protocols; i++) {
        const char *n = vh->ws_protocols[i].name;
        if (pt_plugin_find(n, strlen(n)) == p)
            return &vh->ws_protocols[i];
    }
    return NULL;
}

static const char *opt(const struct pt_wsproto *e, const char *name)
{
    for (size_t i = 0; e && i < e->opts.n; i++)
        if (strcmp(e->opts.v[i].name, name) == 0)
            return e->opts.v[i].value;
    return NULL;
}

struct pt_plugin_vhost *pt_plugin_instance_find(const struct pt_plugin *p,
                                                const struct pt_vhost *vh)
{
    for (struct pt_plugin_vhost *pv = instances; pv; pv = pv->next)
        if (pv->p == p && pv->vh == vh)
            return pv;
    return NULL;
}

/* "max-message" of the entry, else the plugin's, else 64 KiB. */
static size_t max_message(const struct pt_plugin *p, const struct pt_wsproto *e)
{
    const char *v = opt(e, "max-message");
    char *end;
    unsigned long long n = v ? strtoull(v, &end, 10) : 0;
    if (v && *end == '\0' && n > 0)
        return (size_t)n;
    if (PT_PLUGIN_HAS(p, ws_max_message))
        return p->ws_max_message;
    return 65536;
}

struct pt_plugin_vhost *pt_plugin_instance_get(const struct pt_plugin *p,
                                               const struct pt_vhost *vh,
                                               const struct pt_srcpos *at, const char *user,
                                               struct pt_diag *d)
{
    struct pt_plugin_vhost *pv = pt_plugin_instance_find(p, vh);
    if (pv) {
        pv->refs++;
        return pv;
    }
    const struct pt_wsproto *e = entry_of(vh, p);
    const char *status = opt(e, "status");
    if (status && strcmp(status, "ok") != 0) {
        /* lwsws: a protocol is enabled on a vhost by "status": "ok". */
        pt_diag_error(d, at->file, at->line, at->col,
                      "%s: plugin \"%s\" is not enabled on vhost \"%s\": its "
                      "\"ws-protocols\" entry (%s:%d:%d) has \"status\": \"%s\", not \"ok\"",
                      user, p->name, vh->name, e->pos.file, e->pos.line, e->pos.col, status);
        return NULL;
    }
    const char *max = opt(e, "max-message");
    char *end;
    if (max && (strtoull(max, &end, 10) == 0 || *end)) {
        pt_diag_error(d, e->pos.file, e->pos.line, e->pos.col,
                      "\"ws-protocols\": \"%s\": \"max-message\" must be a positive number "
                      "of bytes, got \"%s\"", e->name, max);
        return NULL;
    }
    pv = calloc(1, sizeof(*pv) + p->vhost_data_size);
    if (!pv)
        abort();
    pv->p = p;
    pv->vh = vh;
    pv->entry = e;
    pv->refs = 1;
    pv->is_default = opt(e, "default") && strcmp(opt(e, "default"), "0") != 0;
    pv->ws_max_message = max_message(p, e);
    if (PT_PLUGIN_HAS(p, vhost_init) && p->vhost_init(pv) < 0) {
        const struct pt_srcpos *where = e ? &e->pos : at;
        pt_diag_error(d, where->file, where->line, where->col,
                      "plugin \"%s\" on vhost \"%s\": %s", p->name, vh->name,
                      pv->err[0] ? pv->err : "its vhost_init() failed");
        free(pv);
        return NULL;
    }
    pv->next = instances;
    instances = pv;
    return pv;
}

void pt_plugin_instance_put(struct pt_plugin_vhost *pv)
{
    if (!pv || --pv->refs > 0)
        return;
    for (struct pt_plugin_vhost **pp = &instances; *pp; pp = &(*pp)->next)
        if (*pp == pv) {
            *pp = pv->next;
            break;
        }
    if (PT_PLUGIN_HAS(pv->p, vhost_destroy))
        pv->p->vhost_destroy(pv);
    free(pv);
}

const char *pt_plugin_option(const struct pt_plugin_vhost *pv, const char *name)
{
    return opt(pv->entry, name);
}
