/* http:// and https:// origins: the upstream proxy.
 *
 * Registered so that such mounts load today; until the proxy lands
 * (pooled backend connections, HTTP/1 queueing, HTTP/2 muxing, WebSocket
 * tunnels) a request answers 501 with a log line naming the mount. */
#include "proxy/proxy.h"

#include "gateway/log.h"
#include "gateway/request.h"

static void proxy_handle(struct pt_req *r)
{
    pt_warn("mount %s: proxying to %s is not implemented yet", r->mount->mountpoint,
            r->mount->origin);
    pt_respond_error(r, 501, "origin kind not implemented");
}

static const char *const proxy_schemes[] = {"http://", "https://", NULL};

const struct pt_handler pt_handler_proxy = {
    .abi_version = PT_HANDLER_ABI,
    .struct_size = sizeof(struct pt_handler),
    .name = "proxy",
    .schemes = proxy_schemes,
    .handle = proxy_handle,
};
