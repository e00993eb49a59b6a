/* The RFC 3875 environment of a CGI program, built from the request.
 *
 * Nothing of portico's own environment leaks through except the short
 * pt_cgi_inherited list, and request headers become HTTP_* variables only
 * when their names are letters, digits and '-' (so "X_Foo" cannot pose as
 * "X-Foo"), never "Proxy" (httpoxy, CVE-2016-5385). */
#include "cgi/cgi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/config.h"
#include "gateway/http.h"
#include "gateway/request.h"
#include "gateway/mount.h"

#ifndef PORTICO_VERSION
#define PORTICO_VERSION "0"
#endif

const char *const pt_cgi_inherited[] = {
    "PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ",
    "TMPDIR", NULL,
};

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

char **pt_cgi_env_inherit(void)
{
    size_t n = sizeof pt_cgi_inherited / sizeof pt_cgi_inherited[0];
    char **env = calloc(n, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; pt_cgi_inherited[i]; i++) {
        const char *name = pt_cgi_inherited[i];
        const char *v = getenv(name);
        if (!v && strcmp(name, "PATH") == 0)
            v = DEFAULT_PATH; /* programs expect to find sh, git, ... */
        if (!v)
            continue;
        size_t len = strlen(name) + strlen(v) + 2;
        char *s = malloc(len);
        if (!s) {
            pt_cgi_env_free(env);
            return NULL;
        }
        snprintf(s, len, "%s=%s", name, v);
        env[k++] = s;
    }
    return env;
}

void pt_cgi_env_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/* ---- a small builder: "NAME=value" strings in the pool, names unique ---- */

struct envb {
    struct pt_pool *pool;
    char **v;
    size_t n, cap;
};

static size_t name_len(const char *entry)
{
    const char *eq = strchr(entry, '=');
    return eq ? (size_t)(eq - entry) : strlen(entry);
}

/* Adds entry ("NAME=value", pool-owned); one with the same name is
 * replaced: glibc's getenv() would otherwise see only the first. */
static void put(struct envb *e, char *entry)
{
    size_t nl = name_len(entry);
    for (size_t i = 0; i < e->n; i++) {
        if (name_len(e->v[i]) == nl && memcmp(e->v[i], entry, nl) == 0) {
            e->v[i] = entry;
            return;
        }
    }
    if (e->n + 1 >= e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 64;
        char **v = pt_pool_alloc(e->pool, cap * sizeof *v);
        if (e->n)
            memcpy(v, e->v, e->n * sizeof *v);
        e->v = v;
        e->cap = cap;
    }
    e->v[e->n++] = entry;
    e->v[e->n] = NULL;
}

static void setn(struct envb *e, const char *name, const char *val, size_t vlen)
{
    size_t nl = strlen(name);
    char *s = pt_pool_alloc(e->pool, nl + vlen + 2);
    memcpy(s, name, nl);
    s[nl] = '=';
    memcpy(s + nl + 1, val, vlen);
    s[nl + 1 + vlen] = '\0';
    put(e, s);
}

static void set(struct envb *e, const char *name, const char *val)
{
    setn(e, name, val, strlen(val));
}

static void setf(struct envb *e, const char *name, long long v)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%lld", v);
    setn(e, name, buf, (size_t)n);
}

/* ---- request headers -> HTTP_* ---- */

static bool header_passed(const struct pt_req *r, const struct pt_hdr *h)
{
    if (h->name_len == 0)
        return false;
    for (size_t i = 0; i < h->name_len; i++) {
        unsigned char c = (unsigned char)h->name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
#define IS(s) (h->name_len == sizeof(s) - 1 && strncasecmp(h->name, s, h->name_len) == 0)
    /* CONTENT_TYPE / CONTENT_LENGTH carry these; the body reaches stdin
     * already decoded, so its transfer coding means nothing to the
     * program. */
    if (IS("Proxy") || IS("Proxy-Authorization") || IS("Content-Type") ||
        IS("Content-Length") || IS("Transfer-Encoding"))
        return false;
    /* Credentials portico checked itself stay with portico. */
    if (IS("Authorization") && r->mount && r->mount->basic_auth)
        return false;
#undef IS
    return true;
}

/* Repeated fields are joined into one value with the same meaning
 * (RFC 3875 4.1.18): "; " for Cookie, ", " otherwise. */
static void add_header(struct envb *e, const struct pt_req *r, size_t i)
{
    const struct pt_hdr *h = &r->hdrs[i];
    for (size_t j = 0; j < i; j++)
        if (r->hdrs[j].name_len == h->name_len &&
            strncasecmp(r->hdrs[j].name, h->name, h->name_len) == 0)
            return; /* joined when the first one was seen */
    bool cookie = h->name_len == 6 && strncasecmp(h->name, "cookie", 6) == 0;
    size_t total = 5 + h->name_len + 1 + h->value_len + 1;
    for (size_t j = i + 1; j < r->n_hdrs; j++)
        if (r->hdrs[j].name_len == h->name_len &&
            strncasecmp(r->hdrs[j].name, h->name, h->name_len) == 0)
            total += 2 + r->hdrs[j].value_len;
    char *s = pt_pool_alloc(e->pool, total), *o = s;
    memcpy(o, "HTTP_", 5);
    o += 5;
    for (size_t k = 0; k < h->name_len; k++) {
        char c = h->name[k];
        *o++ = c == '-' ? '_' : (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
    }
    *o++ = '=';
    memcpy(o, h->value, h->value_len);
    o += h->value_len;
    for (size_t j = i + 1; j < r->n_hdrs; j++) {
        const struct pt_hdr *g = &r->hdrs[j];
        if (g->name_len != h->name_len || strncasecmp(g->name, h->name, h->name_len))
            continue;
        *o++ = cookie ? ';' : ',';
        *o++ = ' ';
        memcpy(o, g->value, g->value_len);
        o += g->value_len;
    }
    *o = '\0';
    put(e, s);
}

/* ---- the individual variables ---- */

/* REQUEST_URI: the target as sent, in origin form. */
static void add_request_uri(struct envb *e, const struct pt_req *r)
{
    const char *t = r->target;
    size_t len = r->target_len;
    if (t && len && t[0] != '/') {
        /* absolute-form: drop "scheme://authority" */
        const char *auth;
        size_t alen;
        t = pt_http_origin_form(e->pool, t, len, &len, &auth, &alen);
    }
    if (!t || !len) {
        const char *q = r->query ? r->query : "";
        char *u = pt_pool_printf(e->pool, "%s%s%.*s", r->path ? r->path : "/",
                                 r->query ? "?" : "", (int)r->query_len, q);
        set(e, "REQUEST_URI", u);
        return;
    }
    setn(e, "REQUEST_URI", t, len);
}

/* PATH_TRANSLATED: PATH_INFO mapped the way a request for it would be,
 * when a file:// mount of the vhost serves that path. */
static void add_path_translated(struct envb *e, const struct pt_req *r)
{
    if (!r->vhost || !r->rest || !r->rest_len)
        return;
    const struct pt_mount *m;
    const char *rest, *why;
    size_t rl;
    if (pt_mount_route(r->vhost, r->rest, r->rest_len, e->pool, &m, &rest, &rl, &why) !=
            PT_ROUTE_OK || !pt_mount_is(m, "file://") || !m->target)
        return;
    size_t tl = strlen(m->target);
    while (tl > 1 && m->target[tl - 1] == '/')
        tl--;
    char *s = pt_pool_printf(e->pool, "%.*s%.*s", (int)tl, m->target, (int)rl, rest);
    set(e, "PATH_TRANSLATED", s);
}

static const char *protocol_name(int version)
{
    switch (version) {
    case 10: return "HTTP/1.0";
    case 20: return "HTTP/2.0";
    default: return "HTTP/1.1";
    }
}

static void add_host(struct envb *e, const struct pt_req *r)
{
    /* HTTP/2 has :authority instead of Host: give programs HTTP_HOST. */
    if (pt_req_header(r, "host", NULL) || !r->authority || !r->authority_len)
        return;
    bool dflt = r->local_port == (r->tls ? 443 : 80);
    char *s = dflt ? pt_pool_strndup(e->pool, r->authority, r->authority_len)
                   : pt_pool_printf(e->pool, "%.*s:%u", (int)r->authority_len,
                                    r->authority, (unsigned)r->local_port);
    set(e, "HTTP_HOST", s);
}

char **pt_cgi_env(struct pt_req *r, const char *prog, char *const *inherit)
{
    /* SCRIPT_NAME is the mountpoint; the "/" mount has an empty one and
     * hands the whole path over as PATH_INFO, as does a regex mount
     * (mountpoint_len 0). */
    const char *mp = r->mount ? r->mount->mountpoint : "";
    size_t mpl = r->mount ? r->mount->mountpoint_len : 0;
    if (mpl && mp[mpl - 1] == '/')
        mpl--;
    const struct pt_cgi_opts *o = r->mount ? r->mount->opts : NULL;
    struct pt_cgi_script s = {
        .filename = prog, .name = mp, .name_len = mpl,
        .path_info = r->rest, .path_info_len = r->rest ? r->rest_len : 0,
        .extra = o ? &o->env : NULL,
    };
    return pt_cgi_env_script(r, &s, inherit);
}

char **pt_cgi_env_script(struct pt_req *r, const struct pt_cgi_script *s,
                         char *const *inherit)
{
    struct envb e = {.pool = r->pool};
    for (size_t i = 0; inherit && inherit[i]; i++)
        put(&e, pt_pool_strndup(r->pool, inherit[i], strlen(inherit[i])));

    const char *sw = r->conf && r->conf->g.server_string && *r->conf->g.server_string
                         ? r->conf->g.server_string : "portico/" PORTICO_VERSION;
    set(&e, "GATEWAY_INTERFACE", "CGI/1.1");
    set(&e, "SERVER_SOFTWARE", sw);
    if (r->vhost && r->vhost->name && *r->vhost->name)
        set(&e, "SERVER_NAME", r->vhost->name);
    else if (r->authority && r->authority_len)
        setn(&e, "SERVER_NAME", r->authority, r->authority_len);
    else
        set(&e, "SERVER_NAME", "localhost");
    setf(&e, "SERVER_PORT", r->local_port);
    set(&e, "SERVER_PROTOCOL", protocol_name(r->version));
    if (r->method_str && r->method_len)
        setn(&e, "REQUEST_METHOD", r->method_str, r->method_len);
    else
        set(&e, "REQUEST_METHOD", "GET");
    add_request_uri(&e, r);
    set(&e, "REQUEST_SCHEME", r->tls ? "https" : "http");
    if (r->tls)
        set(&e, "HTTPS", "on");

    setn(&e, "SCRIPT_NAME", s->name, s->name_len);
    set(&e, "SCRIPT_FILENAME", s->filename);
    if (s->path_info && s->path_info_len) {
        setn(&e, "PATH_INFO", s->path_info, s->path_info_len);
        add_path_translated(&e, r);
    }
    if (s->interpreted)
        set(&e, "REDIRECT_STATUS", "200");
    if (r->query)
        setn(&e, "QUERY_STRING", r->query, r->query_len);
    else
        set(&e, "QUERY_STRING", "");

    set(&e, "REMOTE_ADDR", r->peer_ip);
    setf(&e, "REMOTE_PORT", r->peer_port);
    if (r->remote_user) {
        set(&e, "AUTH_TYPE", "Basic");
        set(&e, "REMOTE_USER", r->remote_user);
    }
    size_t ctl;
    const char *ct = pt_req_header(r, "content-type", &ctl);
    if (ct)
        setn(&e, "CONTENT_TYPE", ct, ctl);
    if (r->content_length >= 0)
        setf(&e, "CONTENT_LENGTH", (long long)r->content_length);

    for (size_t i = 0; i < r->n_hdrs; i++)
        if (header_passed(r, &r->hdrs[i]))
            add_header(&e, r, i);
    add_host(&e, r);

    /* The mount's own variables have the last word. */
    if (s->extra) {
        const struct pt_kvlist *l = s->extra;
        for (size_t i = 0; i < l->n; i++)
            if (*l->v[i].name && !strchr(l->v[i].name, '='))
                set(&e, l->v[i].name, l->v[i].value);
    }
    if (!e.v) {
        e.v = pt_pool_calloc(r->pool, sizeof *e.v);
    }
    return e.v;
}
