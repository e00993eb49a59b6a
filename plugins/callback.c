/* callback:// origins: built-in and plugin handlers by name.
 *
 * Registered so that such mounts load today; until plugins land a request
 * answers 501 with a log line naming the mount. */
#include "plugins/plugins.h"

#include <stddef.h>

#include "gateway/diag.h"
#include "gateway/log.h"
#include "gateway/request.h"

struct callback_opts {
    struct pt_kvlist pmo;       /* per-mount options for the plugin */
};

static const struct pt_key callback_keys[] = {
    { "pmo", PT_KEY_KV, offsetof(struct callback_opts, pmo), 0, 0 },
    { NULL, PT_KEY_STR, 0, 0, 0 },
};

static void callback_handle(struct pt_req *r)
{
    pt_warn("mount %s: callback:// origins are not implemented yet", r->mount->mountpoint);
    pt_respond_error(r, 501, "origin kind not implemented");
}

/* Dead configuration is said at load, not discovered by a visitor. */
static int callback_setup(struct pt_mount *m, struct pt_diag *d)
{
    pt_diag_warn(d, m->origin_pos.file, m->origin_pos.line, m->origin_pos.col,
                 "\"origin\": \"%s\": callback:// handlers are not available in this "
                 "build: requests to %s get 501", m->origin, m->mountpoint);
    return 0;
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
    .handle = callback_handle,
};
