/* ">http(s)://..." origins: answer 301 with Location = the target, plus the
 * rest of the path and the query when the mount sets append-path, or when
 * the origin names captures of a regex mountpoint (">https://x/$1": the
 * rest is then those captures filled in; the query is kept, as nginx's
 * rewrite keeps it). */
#include "mounts/mounts.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "gateway/diag.h"
#include "gateway/handler.h"
#include "gateway/request.h"
#include "gateway/urlpath.h"

static const struct pt_key redirect_keys[] = {
    { "append-path", PT_KEY_BOOL, offsetof(struct pt_redirect_opts, append_path), 0, 0 },
    { NULL, PT_KEY_STR, 0, 0, 0 },
};

/* The target URL: the origin without its '>'. */
static const char *url_of(const struct pt_mount *m)
{
    return m->origin + 1;
}

static int redirect_setup(struct pt_mount *m, struct pt_diag *d)
{
    const struct pt_srcpos *p = &m->origin_pos;
    const char *t = url_of(m);
    size_t skip = strncasecmp(t, "https://", 8) == 0 ? 8
                : strncasecmp(t, "http://", 7) == 0 ? 7 : 0;
    if (!skip || t[skip] == '\0' || t[skip] == '/') {
        pt_diag_error(d, p->file, p->line, p->col,
                      "origin: redirect target \"%s\" is not an absolute "
                      "http:// or https:// URL", t);
        return -1;
    }
    /* The target goes verbatim into a header. */
    for (const unsigned char *c = (const unsigned char *)t; *c; c++) {
        if (*c < 0x21 || *c == 0x7f) {
            pt_diag_error(d, p->file, p->line, p->col,
                          "origin: redirect target contains a space or "
                          "control byte (percent-encode it)");
            return -1;
        }
    }
    return 0;
}

static const char *redirect_url(struct pt_req *r)
{
    const struct pt_mount *m = r->mount;
    const struct pt_redirect_opts *opts = m->opts;
    const char *target = url_of(m);
    if (!opts->append_path && !m->rest_tmpl)
        return target;
    size_t tlen = strlen(target);
    const char *rest = r->rest ? r->rest : "";
    size_t rlen = r->rest ? r->rest_len : 0;
    /* "https://x/y/" + "/a" -> "https://x/y/a", not "...y//a". */
    if (rlen && rest[0] == '/' && tlen && target[tlen - 1] == '/') {
        rest++;
        rlen--;
    }
    size_t qlen = r->query ? r->query_len : 0;
    char *url = pt_pool_alloc(r->pool, tlen + 3 * (rlen + qlen) + 2);
    char *o = url;
    memcpy(o, target, tlen);
    o += tlen;
    o += pt_path_encode(o, rest, rlen);
    if (r->query) {
        *o++ = '?';
        o += pt_query_encode(o, r->query, qlen);
    }
    *o = '\0';
    return url;
}

static char *html_escape(struct pt_pool *pool, const char *s)
{
    size_t n = 0;
    for (const char *c = s; *c; c++)
        n += strchr("&<>\"'", *c) ? 6 : 1;
    char *out = pt_pool_alloc(pool, n + 1), *o = out;
    for (const char *c = s; *c; c++) {
        const char *e = *c == '&' ? "&amp;" : *c == '<' ? "&lt;"
                      : *c == '>' ? "&gt;" : *c == '"' ? "&quot;"
                      : *c == '\'' ? "&#39;" : NULL;
        if (e) {
            size_t el = strlen(e);
            memcpy(o, e, el);
            o += el;
        } else {
            *o++ = *c;
        }
    }
    *o = '\0';
    return out;
}

static void redirect_handle(struct pt_req *r)
{
    const char *url = redirect_url(r);
    const char *html = html_escape(r->pool, url);
    pt_resp_header(r, "Location", url);
    const char *body = pt_pool_printf(r->pool,
        "<!DOCTYPE html>\n<html><head><title>301 Moved Permanently</title>"
        "</head>\n<body><h1>Moved</h1><p>This resource is now at "
        "<a href=\"%s\">%s</a>.</p></body></html>\n",
        html, html);
    pt_respond_buf(r, 301, "text/html; charset=utf-8", body, strlen(body));
}

static const char *const redirect_schemes[] = {">http://", ">https://", NULL};

const struct pt_handler pt_handler_redirect = {
    .abi_version = PT_HANDLER_ABI,
    .struct_size = sizeof(struct pt_handler),
    .name = "redirect",
    .schemes = redirect_schemes,
    .opts_size = sizeof(struct pt_redirect_opts),
    .keys = redirect_keys,
    .setup = redirect_setup,
    .handle = redirect_handle,
    .flags = PT_HANDLER_CAPTURES,
};
