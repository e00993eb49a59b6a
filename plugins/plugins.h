/* callback:// mounts and the plugins behind them (include/portico/plugin.h
 * is the plugins' side of this).
 *
 *   registry.c   plugin descriptors: built in, or loaded from plugin-dirs
 *   instance.c   a plugin's instance on one vhost, and session data
 *   api.c        the pt_plugin_*() calls plugins make
 *   callback.c   the callback:// handler
 *   websocket.c  WebSocket connections for plugins (ws/ does the protocol)
 * and the plugins built in, one file each:
 *   metrics.c         Prometheus exporter
 *   mirror.c          lws-mirror-protocol
 *   dumb_increment.c  dumb-increment-protocol
 *   server_status.c   lws-server-status: the live status page
 *   post_demo.c       protocol-post-demo: form posts (formparse.c parses) */
#ifndef PT_PLUGINS_H
#define PT_PLUGINS_H

#include "gateway/handler.h"
#include "include/portico/plugin.h"

#include <stdatomic.h>
#include <stdbool.h>

struct pt_diag;
struct pt_vhost;
struct pt_wsproto;
struct pt_srcpos;
struct pt_req;
struct pt_worker;

extern const struct pt_handler pt_handler_callback;
extern const struct pt_plugin pt_plugin_metrics;
extern const struct pt_plugin pt_plugin_dumb_increment;
extern const struct pt_plugin pt_plugin_mirror;
extern const struct pt_plugin pt_plugin_server_status;
extern const struct pt_plugin pt_plugin_post_demo;

/* ---- registry ---- */

/* Registers a plugin built into portico (at start).  Returns 0 or -1. */
int pt_plugin_register_builtin(const struct pt_plugin *p);
/* Loads every "*.so" of conf's plugin-dirs not loaded yet; reports
 * problems to d.  Returns the number of errors. */
int pt_plugins_load(const struct pt_config *conf, struct pt_diag *d);
/* The plugin with that name or alias, or NULL (main thread). */
const struct pt_plugin *pt_plugin_find(const char *name, size_t len);
/* Whether p has that name or alias. */
bool pt_plugin_named(const struct pt_plugin *p, const char *name, size_t len);
/* "metrics, protocol-post-demo (post-demo), ..." for messages. */
void pt_plugin_names(char *buf, size_t size);

/* Whether the descriptor has field set (it may be older and shorter). */
#define PT_PLUGIN_HAS(p, field) \
    ((p)->struct_size >= offsetof(struct pt_plugin, field) + sizeof((p)->field) && (p)->field)

/* ---- instances ---- */

struct pt_plugin_vhost {
    const struct pt_plugin *p;
    const struct pt_vhost *vh;
    const struct pt_wsproto *entry;  /* its "ws-protocols" entry, or NULL */
    int refs;                        /* mounts and the entry using it (main thread) */
    bool entry_ref;                  /* one of them is its ws-protocols entry's */
    bool is_default;                 /* "default": "1": WebSockets asking no protocol */
    size_t ws_max_message;
    _Atomic unsigned wake_gen;       /* pt_ws_want_writeable_all() calls */
    char err[256];                   /* pt_plugin_vhost_error() */
    struct pt_plugin_vhost *next;
    _Alignas(16) unsigned char data[];
};

/* The instance of p on vh, made (vhost_init) on first use; errors are
 * reported at `at`, naming `user`.  NULL on failure. */
struct pt_plugin_vhost *pt_plugin_instance_get(const struct pt_plugin *p,
                                               const struct pt_vhost *vh,
                                               const struct pt_srcpos *at, const char *user,
                                               struct pt_diag *d);
/* The instance of p on vh if there is one (no reference taken; main
 * thread: workers use the vhost's ws_protocols[].instance). */
struct pt_plugin_vhost *pt_plugin_instance_find(const struct pt_plugin *p,
                                                const struct pt_vhost *vh);
void pt_plugin_instance_put(struct pt_plugin_vhost *pv);

/* ---- WebSocket (websocket.c) ---- */

/* Instances for every vhost's ws-protocols entries (config_init), and
 * their release (config_fini). */
int pt_plugins_ws_init(const struct pt_config *conf, struct pt_diag *d);
void pt_plugins_ws_fini(const struct pt_config *conf);
/* pt_dispatch_upgrade: a WebSocket request to a plugin, if one takes it. */
bool pt_plugins_ws_take(struct pt_req *r);
/* The callback handler's per-worker state: the worker's WebSockets. */
void *pt_plugins_ws_worker_init(struct pt_worker *w);
void pt_plugins_ws_worker_dispose(struct pt_worker *w, void *state);

#endif
