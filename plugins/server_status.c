/* "lws-server-status" (alias "server-status"): a live status page.
 *
 * Over HTTP, the callback:// mount serves the page's files (index.html,
 * status.js, status.css) from the "dir" option (pmo or ws-protocols), else
 * the configuration's www/status, else the installed share/portico/www/status.
 * Over WebSocket (the page connects to the same URL), every "update-ms"
 * (default 1000) each client gets a JSON snapshot of the counters
 * (gateway/stats.h): connections, requests by status class, bytes, TLS
 * handshakes, the latency histogram, and per-vhost and per-mount counts.
 * Rates are the page's business (differences between snapshots). */
#include "plugins/plugins.h"

#include <ev.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/request.h"
#include "gateway/stats.h"

struct status_vhost {
    char dir[PATH_MAX];
    double update_secs;
};

struct watcher {
    struct pt_plugin_timer *tick;
};

static bool dir_ok(const char *d)
{
    struct stat st;
    char index[PATH_MAX];
    if (snprintf(index, sizeof(index), "%s/index.html", d) >= (int)sizeof(index))
        return false;
    return stat(index, &st) == 0 && S_ISREG(st.st_mode);
}

static int init(struct pt_plugin_vhost *pv)
{
    struct status_vhost *sv = pt_plugin_vhost_data(pv);
    const char *ms = pt_plugin_option(pv, "update-ms");
    char *end;
    long n = ms ? strtol(ms, &end, 10) : 1000;
    if (ms && (*end || n < 50 || n > 3600000)) {
        pt_plugin_vhost_error(pv, "\"update-ms\" must be 50..3600000, got \"%s\"", ms);
        return -1;
    }
    sv->update_secs = (double)n / 1000;
    const char *dir = pt_plugin_option(pv, "dir");
    if (dir) {
        if (!dir_ok(dir)) {
            pt_plugin_vhost_error(pv, "\"dir\": no index.html in %s", dir);
            return -1;
        }
        if (snprintf(sv->dir, sizeof(sv->dir), "%s", dir) >= (int)sizeof(sv->dir))
            return -1;
        return 0;
    }
    if (snprintf(sv->dir, sizeof(sv->dir), "%s/portico/www/status", pt_config_datadir()) >=
        (int)sizeof(sv->dir))
        sv->dir[0] = '\0';
    return 0;
}

/* The page's directory for r: the mount's "dir", the instance's, or the
 * configuration's www/status when it has one. */
static const char *page_dir(struct pt_req *r, char *buf, size_t size)
{
    const char *pmo = pt_plugin_mount_option(r, "dir");
    if (pmo)
        return pmo;
    struct status_vhost *sv = pt_plugin_vhost_data(pt_plugin_instance(r));
    if (pt_plugin_option(pt_plugin_instance(r), "dir"))
        return sv->dir;
    if (snprintf(buf, size, "%s/www/status", r->conf->base) < (int)size && dir_ok(buf))
        return buf;
    return sv->dir;
}

static const char *type_of(const char *name)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"}, {".svg", "image/svg+xml"},
        {".png", "image/png"}, {".ico", "image/x-icon"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i][0]) == 0)
            return types[i][1];
    return "application/octet-stream";
}

/* Only plain names inside the directory: no '/', no leading dot. */
static bool name_ok(const char *n)
{
    if (!*n || *n == '.' || strlen(n) > 64)
        return false;
    for (; *n; n++)
        if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || (*n >= '0' && *n <= '9') ||
              *n == '.' || *n == '-' || *n == '_'))
            return false;
    return true;
}

static void on_request(struct pt_req *r)
{
    const char *rest = pt_plugin_rest(r);
    if (!*rest) { /* "/status" -> "/status/": the page's relative links need it */
        char *loc = pt_pool_printf(r->pool, "%s/", r->path);
        pt_resp_header(r, "Location", loc);
        pt_respond_buf(r, 301, NULL, NULL, 0);
        return;
    }
    if (r->method != PT_M_GET && r->method != PT_M_HEAD) {
        pt_resp_header(r, "Allow", "GET, HEAD");
        pt_respond_error(r, 405, "server-status: GET or HEAD only");
        return;
    }
    const char *name = strcmp(rest, "/") == 0 ? "index.html" : rest + 1;
    if (!name_ok(name)) {
        pt_respond_error(r, 404, "server-status: no such file");
        return;
    }
    char dirbuf[PATH_MAX], path[PATH_MAX];
    int len = snprintf(path, sizeof(path), "%s/%s", page_dir(r, dirbuf, sizeof(dirbuf)), name);
    int fd = len < (int)sizeof(path) ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        pt_respond_error(r, 404, "server-status: no such file");
        return;
    }
    pt_resp_header(r, "Content-Type", type_of(name));
    pt_resp_header(r, "Cache-Control", "no-cache");
    pt_respond_file(r, 200, fd, true, 0, (uint64_t)st.st_size);
}

/* ---- the JSON snapshot ---------------------------------------------------- */

struct buf {
    char *s;
    size_t len, cap;
};

__attribute__((format(printf, 2, 3)))
static void put(struct buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n + 1024;
        char *s = realloc(b->s, cap);
        if (!s)
            return;
        b->s = s;
        b->cap = cap;
    }
}

static void put_str(struct buf *b, const char *s)
{
    put(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            put(b, "\\%c", c);
        else if (c < 0x20)
            put(b, "\\u%04x", c);
        else
            put(b, "%c", c);
    }
    put(b, "\"");
}

static uint64_t class_sum(const struct pt_stats_series *se, char cls)
{
    uint64_t n = 0;
    for (int c = 0; c < PT_STATS_CODES; c++)
        if (pt_stats_code_at(c)[0] == cls)
            n += se->codes[c];
    return n;
}

static void snapshot(struct buf *b, double now)
{
    uint32_t n = pt_stats_labels();
    struct pt_stats_series total = {0}, se;
    uint64_t cls[5] = {0};
    bool first = true;
    put(b, "{\"time\":%.3f,\"version\":\"%s\",\"series\":[", now, PORTICO_VERSION);
    for (uint32_t id = 0; id < n; id++) {
        if (!pt_stats_read(id, &se))
            continue;
        const char *vhost, *mount;
        pt_stats_label_names(id, &vhost, &mount);
        put(b, "%s{\"vhost\":", first ? "" : ",");
        put_str(b, vhost);
        put(b, ",\"mount\":");
        put_str(b, mount);
        put(b, ",\"requests\":%llu,\"bytes\":%llu,\"errors\":%llu}",
            (unsigned long long)se.count, (unsigned long long)se.bytes,
            (unsigned long long)(class_sum(&se, '4') + class_sum(&se, '5')));
        first = false;
        for (int i = 0; i < 5; i++)
            cls[i] += class_sum(&se, (char)('1' + i));
        for (int i = 0; i <= PT_STATS_BUCKETS; i++)
            total.buckets[i] += se.buckets[i];
        total.count += se.count;
        total.bytes += se.bytes;
        total.bytes_in += se.bytes_in;
        total.seconds += se.seconds;
    }
    put(b, "],\"requests\":%llu,\"bytes_out\":%llu,\"seconds\":%.6f,",
        (unsigned long long)total.count, (unsigned long long)total.bytes, total.seconds);
    put(b, "\"codes\":{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,\"5xx\":%llu},",
        (unsigned long long)cls[0], (unsigned long long)cls[1], (unsigned long long)cls[2],
        (unsigned long long)cls[3], (unsigned long long)cls[4]);
    put(b, "\"connections\":{\"http1\":%lld,\"h2\":%lld},\"tls_handshakes\":%llu,",
        (long long)pt_stats_conns(PT_STATS_H1), (long long)pt_stats_conns(PT_STATS_H2),
        (unsigned long long)pt_stats_handshakes());
    put(b, "\"upstreams\":[");
    for (uint32_t id = 0; id < pt_stats_upstreams(); id++) {
        struct pt_stats_upstream u;
        pt_stats_upstream_read(id, &u);
        put(b, "%s{\"name\":", id ? "," : "");
        put_str(b, pt_stats_upstream_name(id));
        put(b, ",\"busy\":%lld,\"idle\":%lld,\"queued\":%lld}", (long long)(u.open - u.idle),
            (long long)u.idle, (long long)u.queued);
    }
    put(b, "],\"bytes_in\":%llu,", (unsigned long long)total.bytes_in);
    put(b, "\"latency\":{\"bounds\":[");
    for (int i = 0; i < PT_STATS_BUCKETS; i++)
        put(b, "%s%g", i ? "," : "", pt_stats_bounds[i]);
    put(b, "],\"counts\":[");
    for (int i = 0; i <= PT_STATS_BUCKETS; i++)
        put(b, "%s%llu", i ? "," : "", (unsigned long long)total.buckets[i]);
    put(b, "]}}");
}

/* ---- WebSocket ------------------------------------------------------------ */

static void tick(void *arg)
{
    pt_ws_want_writeable(arg);
}

static int ws_open(struct pt_ws *ws)
{
    struct status_vhost *sv = pt_plugin_vhost_data(pt_ws_instance(ws));
    struct watcher *w = pt_ws_session(ws);
    pt_ws_want_writeable(ws); /* the first snapshot at once */
    w->tick = pt_plugin_timer_start(pt_ws_loop(ws), sv->update_secs, sv->update_secs, tick, ws);
    return w->tick ? 0 : -1;
}

static void ws_writeable(struct pt_ws *ws)
{
    struct buf b = {0};
    snapshot(&b, ev_time());
    if (b.s)
        pt_ws_send(ws, b.s, b.len, 0);
    free(b.s);
}

static void ws_message(struct pt_ws *ws, const char *data, size_t len, int binary)
{
    (void)ws, (void)data, (void)len, (void)binary; /* the page only listens */
}

static void ws_closed(struct pt_ws *ws, int code)
{
    (void)code;
    struct watcher *w = pt_ws_session(ws);
    pt_plugin_timer_stop(w->tick);
    w->tick = NULL;
}

const struct pt_plugin pt_plugin_server_status = {
    .abi_version = PT_PLUGIN_ABI,
    .struct_size = sizeof(struct pt_plugin),
    .name = "lws-server-status",
    .alias = "server-status",
    .vhost_data_size = sizeof(struct status_vhost),
    .session_data_size = sizeof(struct watcher),
    .vhost_init = init,
    .on_request = on_request,
    .ws_max_message = 1024,
    .ws_open = ws_open,
    .ws_message = ws_message,
    .ws_writeable = ws_writeable,
    .ws_closed = ws_closed,
};
