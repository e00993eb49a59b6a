/* The built-in protocols and handlers (see builtin.h). */
#include "main/builtin.h"

#include <stdlib.h>

#include "cgi/cgi.h"
#include "gateway/handler.h"
#include "gateway/proto.h"
#include "gateway/request.h"
#include "h2/h2.h"
#include "http1/http1.h"
#include "mounts/mounts.h"
#include "plugins/plugins.h"
#include "proxy/proxy.h"

static const struct pt_plugin *const plugins[] = {
    &pt_plugin_metrics,
    &pt_plugin_dumb_increment,
    &pt_plugin_mirror,
    &pt_plugin_server_status,
    &pt_plugin_post_demo,
};

static const struct pt_handler *const handlers[] = {
    &pt_handler_file,
    &pt_handler_redirect,
    &pt_handler_cgi,
    &pt_handler_proxy,
    &pt_handler_callback,
};

void pt_builtin_register(void)
{
    /* The default protocol first; h2 after it, so ALPN prefers h2. */
    pt_protocol_register(&pt_http1_protocol);
    pt_protocol_register(&pt_h2_protocol);
    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
        if (pt_handler_register(handlers[i]) < 0)
            abort(); /* a built-in handler out of step with the core */
    pt_dispatch_upgrade = pt_plugins_ws_take;
    for (size_t i = 0; i < sizeof(plugins) / sizeof(plugins[0]); i++)
        if (pt_plugin_register_builtin(plugins[i]) < 0)
            abort();
}
