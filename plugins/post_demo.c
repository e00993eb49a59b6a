/* "protocol-post-demo" (alias "post-demo"), lwsws's /formtest: GET shows
 * a form; a POST of it (multipart/form-data, or urlencoded) is parsed as
 * it streams in (plugins/formparse.c) and the fields are shown back.
 *
 * Limits, each overridable by a ws-protocols or pmo option of the same
 * name: "max-body" (bytes, default 16 MiB) answers 413 past it;
 * "max-fields" (default 32) and "max-value" (bytes of a text field kept
 * for the answer, default 4096) answer 413 too.  File fields are counted,
 * not stored: the answer shows their name, type and size. */
#include "plugins/plugins.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/formparse.h"

struct field {
    char name[PT_FORM_NAME_MAX + 1];
    char filename[256];
    char ctype[128];
    bool is_file;
    size_t len;
    char *value;                 /* text fields: up to max-value bytes */
};

struct post {
    struct pt_form *form;
    struct field *fields;
    size_t n, max_fields, max_value;
    long long body, max_body;
    const char *why;             /* a limit hit */
    char *page;                  /* the answer */
};

static long long limit(struct pt_req *r, const char *name, long long dflt)
{
    const char *v = pt_plugin_mount_option(r, name);
    if (!v)
        v = pt_plugin_option(pt_plugin_instance(r), name);
    char *end;
    long long n = v ? strtoll(v, &end, 10) : 0;
    return v && *end == '\0' && n > 0 ? n : dflt;
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static int on_start(void *arg, const char *name, const char *filename, const char *ctype)
{
    struct post *p = arg;
    if (p->n == p->max_fields) {
        p->why = "post-demo: too many fields";
        return -1;
    }
    struct field *f = &p->fields[p->n++];
    memset(f, 0, sizeof(*f));
    copy(f->name, sizeof(f->name), name);
    copy(f->filename, sizeof(f->filename), filename);
    copy(f->ctype, sizeof(f->ctype), ctype);
    f->is_file = filename != NULL;
    return 0;
}

static int on_data(void *arg, const char *data, size_t len)
{
    struct post *p = arg;
    struct field *f = &p->fields[p->n - 1];
    if (!f->is_file) {
        if (f->len + len > p->max_value) {
            p->why = "post-demo: a field over max-value";
            return -1;
        }
        char *v = realloc(f->value, f->len + len + 1);
        if (!v)
            return -1;
        memcpy(v + f->len, data, len);
        v[f->len + len] = '\0';
        f->value = v;
    }
    f->len += len;
    return 0;
}

static const struct pt_form_cb form_cb = {on_start, on_data, NULL};

/* ---- the answer --------------------------------------------------------- */

struct text {
    char *s;
    size_t len, cap;
};

static void add(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->cap + n) * 2 + 256;
        char *ns = realloc(t->s, cap);
        if (!ns)
            return;
        t->s = ns;
        t->cap = cap;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

static void adds(struct text *t, const char *s)
{
    add(t, s, strlen(s));
}

/* HTML-escaped; bytes that are not printable are shown as '?'. */
static void add_html(struct text *t, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '<') adds(t, "&lt;");
        else if (c == '>') adds(t, "&gt;");
        else if (c == '&') adds(t, "&amp;");
        else if (c == '"') adds(t, "&quot;");
        else if (c < 0x20 && c != '\n' && c != '\t') adds(t, "?");
        else add(t, (const char *)&c, 1);
    }
}

static const char head[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>portico form test</title><link rel=\"stylesheet\" href=\"/error.css\">"
    "</head><body class=\"error\"><main>\n";

static const char form[] =
    "<h1>Form test</h1>\n<form method=\"post\" enctype=\"multipart/form-data\">\n"
    "<p><label>Text <input name=\"text\" value=\"hello\"></label></p>\n"
    "<p><label>File <input type=\"file\" name=\"file\"></label></p>\n"
    "<p><input type=\"submit\" name=\"send\" value=\"Send\"></p>\n</form>\n";

static char *results(struct post *p, size_t *len)
{
    struct text t = {0};
    adds(&t, head);
    adds(&t, "<h1>Form results</h1>\n<table>\n<tr><th>name</th><th>length</th>"
             "<th>value</th></tr>\n");
    for (size_t i = 0; i < p->n; i++) {
        struct field *f = &p->fields[i];
        char num[32];
        adds(&t, "<tr><td>");
        add_html(&t, f->name, strlen(f->name));
        snprintf(num, sizeof(num), "</td><td>%zu</td><td>", f->len);
        adds(&t, num);
        if (f->is_file) {
            adds(&t, "file ");
            add_html(&t, f->filename, strlen(f->filename));
            if (f->ctype[0]) {
                adds(&t, " (");
                add_html(&t, f->ctype, strlen(f->ctype));
                adds(&t, ")");
            }
        } else {
            add_html(&t, f->value ? f->value : "", f->len);
        }
        adds(&t, "</td></tr>\n");
    }
    adds(&t, "</table>\n");
    adds(&t, form);
    adds(&t, "</main></body></html>\n");
    *len = t.len;
    return t.s;
}

/* ---- the request -------------------------------------------------------- */

static void post_free(struct pt_req *r)
{
    struct post *p = pt_plugin_ctx(r);
    for (size_t i = 0; i < p->n; i++)
        free(p->fields[i].value);
    free(p->fields);
    pt_form_free(p->form);
}

static void fail(struct pt_req *r, int status, const char *why)
{
    pt_plugin_on_body(r, NULL);
    pt_plugin_error(r, status, why);
}

static void post_more(struct pt_req *r)
{
    struct post *p = pt_plugin_ctx(r);
    char buf[16384];
    for (;;) {
        long n = pt_plugin_body_read(r, buf, sizeof(buf));
        if (n == PT_PLUGIN_AGAIN)
            return;
        if (n < 0) {
            fail(r, 400, "post-demo: the body was cut short");
            return;
        }
        if (n == 0)
            break;
        p->body += n;
        if (p->body > p->max_body) {
            fail(r, 413, "post-demo: body over max-body");
            return;
        }
        if (pt_form_feed(p->form, buf, (size_t)n) < 0) {
            fail(r, p->why ? 413 : 400, p->why ? p->why : pt_form_error(p->form));
            return;
        }
    }
    if (pt_form_finish(p->form) < 0) {
        fail(r, 400, pt_form_error(p->form));
        return;
    }
    size_t len;
    char *page = results(p, &len);
    if (!page) {
        fail(r, 503, "post-demo: out of memory");
        return;
    }
    pt_plugin_header_add(r, "Cache-Control", "no-store");
    pt_plugin_respond_data(r, 200, "text/html; charset=utf-8", page, len);
    free(page);
}

static void on_request(struct pt_req *r)
{
    const char *m = pt_plugin_method(r);
    if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) {
        struct text t = {0};
        adds(&t, head);
        adds(&t, form);
        adds(&t, "</main></body></html>\n");
        pt_plugin_respond_data(r, 200, "text/html; charset=utf-8", t.s, t.len);
        free(t.s);
        return;
    }
    if (strcmp(m, "POST") != 0) {
        pt_plugin_header_add(r, "Allow", "GET, HEAD, POST");
        pt_plugin_error(r, 405, "post-demo: GET or POST");
        return;
    }
    struct post *p = pt_plugin_alloc(r, sizeof(*p));
    memset(p, 0, sizeof(*p));
    p->max_body = limit(r, "max-body", 16 << 20);
    p->max_fields = (size_t)limit(r, "max-fields", 32);
    p->max_value = (size_t)limit(r, "max-value", 4096);
    if (pt_plugin_content_length(r) > p->max_body) {
        pt_plugin_error(r, 413, "post-demo: body over max-body");
        return;
    }
    size_t clen = 0;
    const char *ctype = pt_plugin_header(r, "content-type", &clen);
    const char *err = "no Content-Type";
    p->form = ctype ? pt_form_new(ctype, clen, &form_cb, p, &err) : NULL;
    if (!p->form) {
        pt_plugin_error(r, 415, err);
        return;
    }
    p->fields = calloc(p->max_fields, sizeof(*p->fields));
    pt_plugin_set_ctx(r, p);
    pt_plugin_on_finish(r, post_free);
    if (!p->fields) {
        pt_plugin_error(r, 503, "post-demo: out of memory");
        return;
    }
    pt_plugin_on_body(r, post_more);
    post_more(r);
}

const struct pt_plugin pt_plugin_post_demo = {
    .abi_version = PT_PLUGIN_ABI,
    .struct_size = sizeof(struct pt_plugin),
    .name = "protocol-post-demo",
    .alias = "post-demo",
    .on_request = on_request,
};
