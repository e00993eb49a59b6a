/* "dumb-increment-protocol" (alias "dumb-increment"), lwsws's example:
 * each WebSocket gets a counter, sent as text every 50 ms.  The timer only
 * asks for a writeable callback; the number goes out when the connection
 * can take it, so a client that stops reading gets nothing queued.
 * Messages: "reset\n" starts the count again, "closeme\n" closes (1001). */
#include "plugins/plugins.h"

#include <stdio.h>
#include <string.h>

struct counter {
    unsigned long n;
    struct pt_plugin_timer *tick;
};

static void tick(void *arg)
{
    pt_ws_want_writeable(arg);
}

static int open_(struct pt_ws *ws)
{
    struct counter *c = pt_ws_session(ws);
    c->tick = pt_plugin_timer_start(pt_ws_loop(ws), 0.05, 0.05, tick, ws);
    return c->tick ? 0 : -1;
}

static void writeable(struct pt_ws *ws)
{
    struct counter *c = pt_ws_session(ws);
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%lu", c->n);
    if (pt_ws_send(ws, buf, (size_t)n, 0) == 0)
        c->n++;
}

static void message(struct pt_ws *ws, const char *data, size_t len, int binary)
{
    (void)binary;
    struct counter *c = pt_ws_session(ws);
    if (len == 6 && memcmp(data, "reset\n", 6) == 0)
        c->n = 0;
    else if (len == 8 && memcmp(data, "closeme\n", 8) == 0)
        pt_ws_close(ws, 1001, "seeya");
}

static void closed(struct pt_ws *ws, int code)
{
    (void)code;
    struct counter *c = pt_ws_session(ws);
    pt_plugin_timer_stop(c->tick);
    c->tick = NULL;
}

const struct pt_plugin pt_plugin_dumb_increment = {
    .abi_version = PT_PLUGIN_ABI,
    .struct_size = sizeof(struct pt_plugin),
    .name = "dumb-increment-protocol",
    .alias = "dumb-increment",
    .session_data_size = sizeof(struct counter),
    .ws_max_message = 128,
    .ws_open = open_,
    .ws_message = message,
    .ws_writeable = writeable,
    .ws_closed = closed,
};
