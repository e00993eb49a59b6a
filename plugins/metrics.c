/* The "metrics" plugin: portico's counters (gateway/stats.h) in the
 * Prometheus text exposition format (version 0.0.4), at a callback://metrics
 * mount.  Built in, through the same descriptor as a loaded plugin. */
#include "plugins/plugins.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/stats.h"

/* A growing text buffer (heap: it is copied into the response). */
struct text {
    char *s;
    size_t len, cap;
    bool failed;
};

__attribute__((format(printf, 2, 3)))
static void put(struct text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = t->cap - t->len;
        int n = t->failed ? 0 : vsnprintf(t->s ? t->s + t->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0 || t->failed)
            return;
        if ((size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 16384) + (size_t)n;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->failed = true;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
}

/* A label value: backslash, double quote and newline escaped. */
static void put_label(struct text *t, const char *name, const char *v)
{
    put(t, "%s=\"", name);
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            put(t, "\\%c", *v);
        else if (*v == '\n')
            put(t, "\\n");
        else
            put(t, "%c", *v);
    }
    put(t, "\"");
}

/* Every series read once, with its names (one lock for all of them). */
struct scrape {
    uint32_t n;
    struct pt_stats_series *all;
    const char **vhost, **mount;
};

static void put_series_labels(struct text *t, const struct scrape *sc, uint32_t id)
{
    put_label(t, "vhost", sc->vhost[id]);
    put(t, ",");
    put_label(t, "mount", sc->mount[id]);
}

static void put_requests(struct text *t, const struct scrape *sc)
{
    put(t, "# HELP portico_requests_total Requests answered, by vhost, mount and status "
           "code (mount \"\": no mount took it; vhost \"\": no vhost).\n"
           "# TYPE portico_requests_total counter\n");
    for (uint32_t id = 0; id < sc->n; id++)
        for (int c = 0; c < PT_STATS_CODES; c++) {
            if (!sc->all[id].codes[c])
                continue;
            put(t, "portico_requests_total{");
            put_series_labels(t, sc, id);
            put(t, ",code=\"%s\"} %llu\n", pt_stats_code_at(c),
                (unsigned long long)sc->all[id].codes[c]);
        }
}

static void put_durations(struct text *t, const struct scrape *sc)
{
    put(t, "# HELP portico_request_duration_seconds Time from a request's first byte "
           "to the end of its response.\n"
           "# TYPE portico_request_duration_seconds histogram\n");
    for (uint32_t id = 0; id < sc->n; id++) {
        const struct pt_stats_series *se = &sc->all[id];
        if (!se->count)
            continue;
        uint64_t cum = 0;
        for (int b = 0; b <= PT_STATS_BUCKETS; b++) {
            cum += se->buckets[b];
            put(t, "portico_request_duration_seconds_bucket{");
            put_series_labels(t, sc, id);
            if (b < PT_STATS_BUCKETS)
                put(t, ",le=\"%g\"} %llu\n", pt_stats_bounds[b], (unsigned long long)cum);
            else
                put(t, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        put(t, "portico_request_duration_seconds_sum{");
        put_series_labels(t, sc, id);
        put(t, "} %.6f\n", se->seconds);
        put(t, "portico_request_duration_seconds_count{");
        put_series_labels(t, sc, id);
        put(t, "} %llu\n", (unsigned long long)se->count);
    }
}

/* Bytes by vhost: the sum of its series (a vhost's own series, mount "",
 * comes first among them: labels are made vhost by vhost). */
static void put_bytes(struct text *t, const struct scrape *sc, bool in)
{
    const char *name = in ? "portico_request_bytes_total" : "portico_response_bytes_total";
    put(t, "# HELP %s %s body bytes, by vhost.\n# TYPE %s counter\n", name,
        in ? "Request" : "Response", name);
    for (uint32_t id = 0; id < sc->n; id++) {
        if (sc->mount[id][0] || !sc->vhost[id][0])
            continue; /* one line per vhost, from its own series */
        uint64_t sum = 0;
        for (uint32_t k = 0; k < sc->n; k++)
            if (strcmp(sc->vhost[k], sc->vhost[id]) == 0)
                sum += in ? sc->all[k].bytes_in : sc->all[k].bytes;
        put(t, "%s{", name);
        put_label(t, "vhost", sc->vhost[id]);
        put(t, "} %llu\n", (unsigned long long)sum);
    }
}

static void put_upstreams(struct text *t)
{
    uint32_t n = pt_stats_upstreams();
    put(t, "# HELP portico_upstream_connections Connections to backends, by upstream and "
           "state (busy: connecting or carrying an exchange).\n"
           "# TYPE portico_upstream_connections gauge\n");
    for (uint32_t id = 0; id < n; id++) {
        struct pt_stats_upstream u;
        pt_stats_upstream_read(id, &u);
        const char *state[] = {"busy", "idle"};
        long long v[] = {(long long)(u.open - u.idle), (long long)u.idle};
        for (int k = 0; k < 2; k++) {
            put(t, "portico_upstream_connections{");
            put_label(t, "upstream", pt_stats_upstream_name(id));
            put(t, ",state=\"%s\"} %lld\n", state[k], v[k]);
        }
    }
    put(t, "# HELP portico_upstream_queued Requests waiting for a backend connection.\n"
           "# TYPE portico_upstream_queued gauge\n");
    for (uint32_t id = 0; id < n; id++) {
        struct pt_stats_upstream u;
        pt_stats_upstream_read(id, &u);
        put(t, "portico_upstream_queued{");
        put_label(t, "upstream", pt_stats_upstream_name(id));
        put(t, "} %lld\n", (long long)u.queued);
    }
}

static void metrics_request(struct pt_req *r)
{
    const char *m = pt_plugin_method(r);
    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        pt_plugin_header_add(r, "Allow", "GET, HEAD");
        pt_plugin_error(r, 405, "metrics: GET or HEAD only");
        return;
    }
    struct text t = {0};
    struct scrape sc = { pt_stats_labels(), NULL, NULL, NULL };
    sc.all = calloc(sc.n ? sc.n : 1, sizeof(*sc.all));
    sc.vhost = calloc(sc.n ? sc.n : 1, sizeof(*sc.vhost));
    sc.mount = calloc(sc.n ? sc.n : 1, sizeof(*sc.mount));
    if (!sc.all || !sc.vhost || !sc.mount) {
        free(sc.all), free(sc.vhost), free(sc.mount);
        pt_plugin_error(r, 503, "metrics: out of memory");
        return;
    }
    pt_stats_label_names_all(sc.n, sc.vhost, sc.mount);
    for (uint32_t id = 0; id < sc.n; id++)
        pt_stats_read(id, &sc.all[id]);
    put_requests(&t, &sc);
    put_durations(&t, &sc);
    put_bytes(&t, &sc, false);
    put_bytes(&t, &sc, true);
    free(sc.all), free(sc.vhost), free(sc.mount);
    put_upstreams(&t);
    put(&t, "# HELP portico_connections Client connections open now, by protocol.\n"
            "# TYPE portico_connections gauge\n"
            "portico_connections{protocol=\"http/1.1\"} %lld\n"
            "portico_connections{protocol=\"h2\"} %lld\n",
        (long long)pt_stats_conns(PT_STATS_H1), (long long)pt_stats_conns(PT_STATS_H2));
    put(&t, "# HELP portico_tls_handshakes_total TLS handshakes completed.\n"
            "# TYPE portico_tls_handshakes_total counter\n"
            "portico_tls_handshakes_total %llu\n",
        (unsigned long long)pt_stats_handshakes());
    put(&t, "# HELP portico_build_info portico's version.\n"
            "# TYPE portico_build_info gauge\n"
            "portico_build_info{version=\"%s\"} 1\n", PORTICO_VERSION);
    if (t.failed) {
        free(t.s);
        pt_plugin_error(r, 503, "metrics: out of memory");
        return;
    }
    pt_plugin_header_add(r, "Cache-Control", "no-store");
    pt_plugin_respond_data(r, 200, "text/plain; version=0.0.4; charset=utf-8", t.s, t.len);
    free(t.s);
}

const struct pt_plugin pt_plugin_metrics = {
    .abi_version = PT_PLUGIN_ABI,
    .struct_size = sizeof(struct pt_plugin),
    .name = "metrics",
    .on_request = metrics_request,
};
