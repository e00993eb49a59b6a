/* callback:// origins: the mount hands its requests to a plugin, found by
 * name or alias ("callback://metrics", "callback://protocol-post-demo"),
 * through that plugin's instance on the mount's vhost. */
#include "plugins/plugins.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "gateway/diag.h"
#include "gateway/request.h"

struct callback_opts {
    struct pt_kvlist pmo;       /* per-mount options for the plugin (first: api.c) */
};

static const struct pt_key callback_keys[] = {
    { "pmo", PT_KEY_KV, offsetof(struct callback_opts, pmo), 0, 0 },
    { NULL, PT_KEY_STR, 0, 0, 0 },
};

static void callback_handle(struct pt_req *r)
{
    struct pt_plugin_vhost *pv = r->mount->handler_data;
    if (pv->p->on_request) {
        pv->p->on_request(r);
        return;
    }
    /* A WebSocket-only plugin (its upgrades were taken before this). */
    pt_resp_header(r, "Upgrade", "websocket");
    pt_respond_error(r, 426, "this plugin speaks WebSocket only");
}

/* "name", "name/" (a trailing slash is tolerated, as lwsws writes it). */
static size_t name_len(const char *target)
{
    size_t n = strlen(target);
    while (n && target[n - 1] == '/')
        n--;
    return n;
}

static int callback_setup(struct pt_mount *m, struct pt_diag *d)
{
    const struct pt_srcpos *at = &m->origin_pos;
    size_t n = name_len(m->target);
    const struct pt_plugin *p = pt_plugin_find(m->target, n);
    if (!p) {
        char names[1024];
        pt_plugin_names(names, sizeof(names));
        pt_diag_error(d, at->file, at->line, at->col,
                      "\"origin\": \"%s\": no plugin named \"%.*s\" (there are: %s; more "
                      "are loaded from \"plugin-dir\")", m->origin, (int)n, m->target,
                      names[0] ? names : "none");
        return -1;
    }
    char user[300];
    snprintf(user, sizeof(user), "mount %s", m->mountpoint);
    struct pt_plugin_vhost *pv = pt_plugin_instance_get(p, m->vhost, at, user, d);
    if (!pv)
        return -1;
    m->handler_data = pv;
    m->session_owner = pv;
    return 0;
}

static void callback_teardown(struct pt_mount *m)
{
    pt_plugin_instance_put(m->handler_data);
}

/* Loads the plugin-dirs, and says which ws-protocols name no plugin. */
static int callback_config_init(const struct pt_config *conf, struct pt_diag *d)
{
    int errors = pt_plugins_load(conf, d);
    errors += pt_plugins_ws_init(conf, d);
    for (size_t i = 0; i < conf->n_vhosts; i++) {
        const struct pt_vhost *vh = &conf->vhosts[i];
        for (size_t j = 0; j < vh->n_ws_protocols; j++) {
            const struct pt_wsproto *e = &vh->ws_protocols[j];
            if (pt_plugin_find(e->name, strlen(e->name)))
                continue;
            char names[1024];
            pt_plugin_names(names, sizeof(names));
            pt_diag_warn(d, e->pos.file, e->pos.line, e->pos.col,
                         "\"ws-protocols\": no plugin named \"%s\" (there are: %s); "
                         "ignored", e->name, names[0] ? names : "none");
        }
    }
    return errors;
}

static const char *const callback_schemes[] = {"callback://", NULL};

const struct pt_handler pt_handler_callback = {
    .abi_version = PT_HANDLER_ABI,
    .struct_size = sizeof(struct pt_handler),
    .name = "callback",
    .schemes = callback_schemes,
    .opts_size = sizeof(struct callback_opts),
    .keys = callback_keys,
    .setup = callback_setup,
    .teardown = callback_teardown,
    .handle = callback_handle,
    .worker_init = pt_plugins_ws_worker_init,
    .worker_dispose = pt_plugins_ws_worker_dispose,
    .config_init = callback_config_init,
    .config_fini = pt_plugins_ws_fini,
};
