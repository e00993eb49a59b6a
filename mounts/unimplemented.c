/* Placeholder for origin kinds whose handlers have not landed yet (cgi://,
 * http(s):// proxying, callback://): the config loads, requests get 501. */
#include "mounts/mount.h"

#include "gateway/log.h"
#include "gateway/request.h"

static const char *pt_kind_name(enum pt_origin_kind kind)
{
    switch (kind) {
    case PT_ORIGIN_FILE:     return "file://";
    case PT_ORIGIN_REDIRECT: return "redirect";
    case PT_ORIGIN_CGI:      return "cgi://";
    case PT_ORIGIN_HTTP:     return "http://";
    case PT_ORIGIN_HTTPS:    return "https://";
    case PT_ORIGIN_CALLBACK: return "callback://";
    }
    return "unknown";
}

static int pt_unimplemented_setup(struct pt_mount *m, struct pt_diag *d)
{
    return 0;
}

static void pt_unimplemented_handle(struct pt_req *r)
{
    const struct pt_mount *m = r->mount;
    pt_warn("mount %s: %s origins are not implemented yet",
            m->mountpoint, pt_kind_name(m->kind));
    pt_respond_error(r, 501, "origin kind not implemented");
}

const struct pt_handler pt_handler_unimplemented = {
    .name = "unimplemented",
    .setup = pt_unimplemented_setup,
    .teardown = NULL,
    .handle = pt_unimplemented_handle,
};
