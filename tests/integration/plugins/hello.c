/* A test plugin, built by test_plugins.py with one cc command against
 * include/portico/plugin.h.  Every route shows one part of the API:
 *   /info    path, rest, query, a header, vhost and mount options
 *   /count   per-instance and per-session counters
 *   /echo    the request body, read as a pull stream, sent back
 *   /stream  ?n=BYTES of a pattern, pulled by the client's pace
 *   /slow    three chunks, one per timer tick (PT_PLUGIN_AGAIN + resume)
 *   else     404 through portico's error page
 * -DHELLO_ABI=N builds it for another ABI version (to be refused). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <portico/plugin.h>

#ifndef HELLO_ABI
#define HELLO_ABI PT_PLUGIN_ABI
#endif

struct vhost_data {
    pthread_mutex_t lock;
    long requests;
    const char *greeting;
};

struct session_data {
    long requests;
    long id;
    char *pending;              /* WebSocket: the message to echo */
    size_t plen;
    int binary;
};

static long next_session = 1;

static int init(struct pt_plugin_vhost *pv)
{
    struct vhost_data *vd = pt_plugin_vhost_data(pv);
    if (pt_plugin_option(pv, "fail")) {
        pt_plugin_vhost_error(pv, "asked to fail: %s", pt_plugin_option(pv, "fail"));
        return -1;
    }
    pthread_mutex_init(&vd->lock, NULL);
    vd->greeting = pt_plugin_option(pv, "greeting");
    pt_plugin_log(pv, PT_PLUGIN_LOG_INFO, "hello instance up (greeting %s)",
                  vd->greeting ? vd->greeting : "none");
    return 0;
}

static void destroy(struct pt_plugin_vhost *pv)
{
    struct vhost_data *vd = pt_plugin_vhost_data(pv);
    pthread_mutex_destroy(&vd->lock);
    pt_plugin_log(pv, PT_PLUGIN_LOG_INFO, "hello instance down");
}

static void session_end(struct pt_plugin_vhost *pv, void *data)
{
    struct session_data *s = data;
    free(s->pending);
    pt_plugin_log(pv, PT_PLUGIN_LOG_INFO, "hello session %ld ends after %ld requests",
                  s->id, s->requests);
}

/* WebSocket: an echo that sends only when writeable, holding one message.
 * "close" closes with 4000; "big N" answers N bytes. */
static void ws_message(struct pt_ws *ws, const char *data, size_t len, int binary)
{
    struct session_data *s = pt_ws_session(ws);
    if (len == 5 && memcmp(data, "close", 5) == 0) {
        pt_ws_close(ws, 4000, "asked to");
        return;
    }
    free(s->pending);
    if (len > 4 && memcmp(data, "big ", 4) == 0) {
        s->plen = (size_t)atol(data + 4);
        s->pending = malloc(s->plen + 1);
        memset(s->pending, 'b', s->plen);
    } else {
        s->pending = malloc(len + 1);
        memcpy(s->pending, data, len);
        s->plen = len;
    }
    s->binary = binary;
    pt_ws_want_writeable(ws);
}

static void ws_writeable(struct pt_ws *ws)
{
    struct session_data *s = pt_ws_session(ws);
    if (s->pending && pt_ws_send(ws, s->pending, s->plen, s->binary) == 0) {
        free(s->pending);
        s->pending = NULL;
    }
}

static void ws_closed(struct pt_ws *ws, int code)
{
    pt_plugin_log(pt_ws_instance(ws), PT_PLUGIN_LOG_INFO, "hello ws closed %d (%s)", code,
                  pt_ws_protocol(ws) ? pt_ws_protocol(ws) : "no protocol");
}

static void send_text(struct pt_req *r, const char *text)
{
    pt_plugin_respond_data(r, 200, "text/plain", text, strlen(text));
}

static void info(struct pt_req *r)
{
    size_t qlen = 0, ulen = 0;
    const char *q = pt_plugin_query(r, &qlen);
    const char *ua = pt_plugin_header(r, "user-agent", &ulen);
    struct vhost_data *vd = pt_plugin_vhost_data(pt_plugin_instance(r));
    const char *pmo = pt_plugin_mount_option(r, "colour");
    char buf[1024];
    snprintf(buf, sizeof(buf),
             "method=%s\npath=%s\nrest=%s\nquery=%.*s\nua=%.*s\nvhost=%s\n"
             "greeting=%s\ncolour=%s\nversion=%d\n",
             pt_plugin_method(r), pt_plugin_path(r), pt_plugin_rest(r), (int)qlen,
             q ? q : "", (int)ulen, ua ? ua : "",
             pt_plugin_vhost_name(pt_plugin_instance(r)),
             vd->greeting ? vd->greeting : "", pmo ? pmo : "",
             pt_plugin_http_version(r));
    pt_plugin_header_add(r, "X-Hello", "1");
    send_text(r, buf);
}

static void count(struct pt_req *r)
{
    struct vhost_data *vd = pt_plugin_vhost_data(pt_plugin_instance(r));
    struct session_data *s = pt_plugin_session(r);
    pthread_mutex_lock(&vd->lock);
    long n = ++vd->requests;
    if (!s->id)
        s->id = next_session++;
    pthread_mutex_unlock(&vd->lock);
    s->requests++;
    char buf[128];
    snprintf(buf, sizeof(buf), "vhost=%ld session=%ld sid=%ld\n", n, s->requests, s->id);
    send_text(r, buf);
}

/* /echo: the body is read to its end first (bounded at 1 MB), then sent. */
struct echo {
    char *buf;
    size_t len, cap, off;
};

static long echo_read(struct pt_req *r, char *buf, size_t len)
{
    struct echo *e = pt_plugin_ctx(r);
    size_t n = e->len - e->off < len ? e->len - e->off : len;
    memcpy(buf, e->buf + e->off, n);
    e->off += n;
    return (long)n;
}

static const struct pt_plugin_body echo_body = {echo_read, NULL};

static void echo_free(struct pt_req *r)
{
    struct echo *e = pt_plugin_ctx(r);
    free(e->buf);
}

static void echo_more(struct pt_req *r)
{
    struct echo *e = pt_plugin_ctx(r);
    for (;;) {
        if (e->cap - e->len < 16384) {
            if (e->cap >= (1 << 20)) {
                pt_plugin_error(r, 413, "hello: body over 1 MB");
                return;
            }
            e->cap = e->cap ? e->cap * 2 : 65536;
            e->buf = realloc(e->buf, e->cap);
        }
        long n = pt_plugin_body_read(r, e->buf + e->len, e->cap - e->len);
        if (n == PT_PLUGIN_AGAIN)
            return; /* echo_more() again when more came */
        if (n < 0) {
            pt_plugin_error(r, 400, "hello: bad body");
            return;
        }
        if (n == 0)
            break;
        e->len += (size_t)n;
    }
    pt_plugin_respond(r, 200, (long long)e->len, &echo_body);
}

static void echo(struct pt_req *r)
{
    struct echo *e = pt_plugin_alloc(r, sizeof(*e));
    memset(e, 0, sizeof(*e));
    pt_plugin_set_ctx(r, e);
    pt_plugin_on_finish(r, echo_free);
    pt_plugin_on_body(r, echo_more);
    echo_more(r);
}

/* /stream?n=BYTES: generated as the client takes it. */
struct stream {
    long long left, sent;
};

static long stream_read(struct pt_req *r, char *buf, size_t len)
{
    struct stream *s = pt_plugin_ctx(r);
    size_t n = s->left < (long long)len ? (size_t)s->left : len;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)('a' + (s->sent + (long long)i) % 26);
    s->left -= (long long)n;
    s->sent += (long long)n;
    return (long)n;
}

static const struct pt_plugin_body stream_body = {stream_read, NULL};

static void stream(struct pt_req *r)
{
    size_t qlen;
    const char *q = pt_plugin_query(r, &qlen);
    struct stream *s = pt_plugin_alloc(r, sizeof(*s));
    s->left = q && qlen > 2 && strncmp(q, "n=", 2) == 0 ? atoll(q + 2) : 1000;
    s->sent = 0;
    pt_plugin_set_ctx(r, s);
    pt_plugin_respond(r, 200, -1, &stream_body);
}

/* /slow: a chunk per 20 ms tick; the body source waits in between. */
struct slow {
    struct pt_req *r;
    struct pt_plugin_timer *timer;
    int ready, sent;
};

static void slow_tick(void *arg)
{
    struct slow *s = arg;
    s->ready++;
    pt_plugin_resume(s->r);
}

static long slow_read(struct pt_req *r, char *buf, size_t len)
{
    struct slow *s = pt_plugin_ctx(r);
    if (s->sent == 3)
        return 0;
    if (s->sent == s->ready)
        return PT_PLUGIN_AGAIN;
    int n = snprintf(buf, len, "tick %d\n", ++s->sent);
    return n;
}

static void slow_close(struct pt_req *r)
{
    struct slow *s = pt_plugin_ctx(r);
    pt_plugin_timer_stop(s->timer);
    s->timer = NULL;
}

static const struct pt_plugin_body slow_body = {slow_read, slow_close};

static void slow(struct pt_req *r)
{
    struct slow *s = pt_plugin_alloc(r, sizeof(*s));
    memset(s, 0, sizeof(*s));
    s->r = r;
    pt_plugin_set_ctx(r, s);
    s->timer = pt_plugin_timer_start(pt_plugin_loop(r), 0.02, 0.02, slow_tick, s);
    pt_plugin_respond(r, 200, -1, &slow_body);
}

static void on_request(struct pt_req *r)
{
    const char *rest = pt_plugin_rest(r);
    if (strcmp(rest, "/info") == 0)
        info(r);
    else if (strcmp(rest, "/count") == 0)
        count(r);
    else if (strcmp(rest, "/echo") == 0)
        echo(r);
    else if (strcmp(rest, "/stream") == 0)
        stream(r);
    else if (strcmp(rest, "/slow") == 0)
        slow(r);
    else
        pt_plugin_error(r, 404, "hello: no such route");
}

const struct pt_plugin pt_plugin = {
    .abi_version = HELLO_ABI,
    .struct_size = sizeof(struct pt_plugin),
    .name = "hello-protocol",
    .alias = "hello",
    .vhost_data_size = sizeof(struct vhost_data),
    .session_data_size = sizeof(struct session_data),
    .vhost_init = init,
    .vhost_destroy = destroy,
    .session_destroy = session_end,
    .on_request = on_request,
    .ws_max_message = 1 << 20,
    .ws_message = ws_message,
    .ws_writeable = ws_writeable,
    .ws_closed = ws_closed,
};
