/* Mount handlers, registered by origin scheme.
 *
 * A handler answers the requests of the mounts whose origin starts with
 * one of its schemes ("file://", "cgi://", ">https://", ...).  It
 * describes itself with one struct pt_handler; main registers the built-in
 * ones at start, and a plugin (a shared object) will register the same
 * struct.  The core never switches on a handler's kind.
 *
 * Life of a handler's data:
 *   config load  the loader reads the mount's keys: the core's own
 *                (mountpoint, origin, headers, exact-match, basic-auth)
 *                into struct pt_mount, and the handler's `keys` into a
 *                zeroed options struct of `opts_size` bytes (m->opts),
 *                reporting bad values at FILE:LINE:COL.  Then setup()
 *                validates and opens what the mount needs (m->handler_data),
 *                reporting problems with pt_diag_error() at
 *                pt_mount_key_pos(m, "key").
 *   requests     handle(r): r->mount and r->rest are set.
 *   per worker   worker_init() makes the handler's state for one worker
 *                (caches, pools, process registries) the first time
 *                pt_handler_state() asks for it on that worker, on its
 *                thread; worker_dispose() frees it on the same thread when
 *                the worker stops; worker_retire() and worker_forget()
 *                when, after a reload, it leaves an old snapshot behind.
 *   unload       teardown() when the config snapshot is freed.
 *
 * Compatibility: abi_version must equal PT_HANDLER_ABI, and the core reads
 * no field past struct_size, so fields are only ever added at the end. */
#ifndef PT_HANDLER_H
#define PT_HANDLER_H

#include <stdbool.h>
#include <stddef.h>

#include "gateway/config.h"

#define PT_HANDLER_ABI 1

struct pt_diag;
struct pt_req;
struct pt_worker;

struct pt_handler {
    unsigned abi_version;           /* PT_HANDLER_ABI */
    size_t struct_size;             /* sizeof(struct pt_handler) */
    const char *name;               /* for messages: "file", "cgi" */
    const char *const *schemes;     /* origin prefixes, NULL-terminated */

    size_t opts_size;               /* the handler's options struct */
    const struct pt_key *keys;      /* its mount keys; NULL-name ended */

    int (*setup)(struct pt_mount *m, struct pt_diag *d);
    void (*teardown)(struct pt_mount *m);
    void *(*worker_init)(struct pt_worker *w);
    void (*worker_dispose)(struct pt_worker *w, void *state);
    void (*handle)(struct pt_req *r);
    unsigned flags;                 /* PT_HANDLER_* */
    /* Optional, after a reload, on the worker's thread.  worker_retire:
     * the worker has moved to a newer snapshot, and conf's mounts get no
     * new requests: stop keeping things alive for them (close idle pooled
     * connections, close busy ones when their exchange ends).
     * worker_forget: nothing on the worker uses conf any more: free what
     * the state holds for its mounts. */
    void (*worker_retire)(struct pt_worker *w, void *state, const struct pt_config *conf);
    void (*worker_forget)(struct pt_worker *w, void *state, const struct pt_config *conf);
    /* Optional (cgi://): runs script, a file another mount found (its
     * absolute path; script_url its URL path, SCRIPT_NAME), with
     * interpreter as a CGI program: lwsws's "interpret". */
    void (*interpret)(struct pt_req *r, const char *interpreter, const char *script,
                      const char *script_url);
    /* Optional: once per config load, before any mount's setup (callback://
     * loads the plugin-dirs' plugins).  Returns how many errors it reported
     * to d. */
    int (*config_init)(const struct pt_config *conf, struct pt_diag *d);
    /* Optional: the snapshot is being freed, after every mount's teardown
     * (main thread). */
    void (*config_fini)(const struct pt_config *conf);
};

/* "origin" may be a list of origins of this handler's schemes
 * (m->origins; m->origin is the first). */
#define PT_HANDLER_ORIGIN_LIST 0x1u
/* The handler answers WebSocket and other upgrade requests itself (the
 * proxy's tunnels): dispatch does not offer them to pt_dispatch_upgrade. */
#define PT_HANDLER_UPGRADES 0x8u
/* What follows the scheme is a file name (file://, cgi://): a relative one
 * is made absolute against the configuration directory. */
#define PT_HANDLER_TARGET_PATH 0x2u
/* The handler takes r->rest as a path below its target (a directory, a
 * URL's path), so a regex mount's origin may name captures ("$1") in its
 * path: the loader cuts the origin before them and fills r->rest in. */
#define PT_HANDLER_CAPTURES 0x4u

/* Adds h to the registry (at start, before any config is loaded or worker
 * runs).  Returns 0, or -1 after logging why (ABI version, a scheme taken
 * by another handler, too many handlers). */
int pt_handler_register(const struct pt_handler *h);

/* The handler whose scheme begins origin (case-insensitive), or NULL.
 * *scheme_len: the length of that scheme. */
const struct pt_handler *pt_handler_for_origin(const char *origin, size_t *scheme_len);

/* Whether h takes a list of origins. */
bool pt_handler_takes_origin_list(const struct pt_handler *h);

/* "file://, cgi://, ..." for messages (static storage). */
const char *pt_handler_schemes(void);

/* The handler that has a mount key of that name (to say where a key
 * belongs when it is used on another handler's mount), or NULL. */
const struct pt_handler *pt_handler_for_key(const char *key);

/* Every handler's mount key names, for suggestions: up to max into out;
 * returns how many. */
size_t pt_handler_key_names(const char **out, size_t max);

/* The registry's slot of h (0 .. PT_MAX_HANDLERS - 1), or -1. */
#define PT_MAX_HANDLERS 16
int pt_handler_slot(const struct pt_handler *h);

/* The handler's state on the worker running r (worker_init on first use);
 * NULL if the handler keeps none or it could not be made. */
void *pt_handler_state(const struct pt_req *r);
void *pt_worker_handler_state(struct pt_worker *w, const struct pt_handler *h);

/* worker_retire / worker_forget of every handler state of w (on its
 * thread). */
void pt_handler_worker_retire(struct pt_worker *w, const struct pt_config *conf);
void pt_handler_worker_forget(struct pt_worker *w, const struct pt_config *conf);

/* config_init of every handler; returns the errors reported. */
int pt_handler_config_init(const struct pt_config *conf, struct pt_diag *d);
void pt_handler_config_fini(const struct pt_config *conf);
/* Whether h has PT_HANDLER_UPGRADES. */
bool pt_handler_owns_upgrades(const struct pt_handler *h);

/* Disposes of every handler state of w (the worker is stopping; on its
 * thread). */
void pt_handler_worker_dispose(struct pt_worker *w);

#endif
