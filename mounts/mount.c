/* The mount table: origin parsing, the origin-kind -> handler registry,
 * per-mount setup (handler + basic-auth users) and mountpoint matching. */
#include "mounts/mount.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/diag.h"

/* ---- origins ---- */

static const struct {
    const char *prefix;
    size_t skip;              /* bytes dropped from the front for the target */
    enum pt_origin_kind kind;
} pt_schemes[] = {
    /* Redirects keep their "http(s)://": the target is the URL. */
    { ">https://",   1,  PT_ORIGIN_REDIRECT },
    { ">http://",    1,  PT_ORIGIN_REDIRECT },
    { "file://",     7,  PT_ORIGIN_FILE },
    { "cgi://",      6,  PT_ORIGIN_CGI },
    { "https://",    8,  PT_ORIGIN_HTTPS },
    { "http://",     7,  PT_ORIGIN_HTTP },
    { "callback://", 11, PT_ORIGIN_CALLBACK },
};

int pt_origin_parse(const char *origin, enum pt_origin_kind *kind,
                    const char **target, const char **why)
{
    for (size_t i = 0; i < sizeof pt_schemes / sizeof pt_schemes[0]; i++) {
        size_t plen = strlen(pt_schemes[i].prefix);
        if (strncasecmp(origin, pt_schemes[i].prefix, plen) != 0)
            continue;
        if (origin[plen] == '\0') {
            *why = "origin has nothing after the scheme";
            return -1;
        }
        *kind = pt_schemes[i].kind;
        *target = origin + pt_schemes[i].skip;
        return 0;
    }
    *why = "unknown origin scheme (expected file://, cgi://, http://, "
           "https://, callback://, >http:// or >https://)";
    return -1;
}

/* ---- handler registry ---- */

static const struct pt_handler *pt_handler_for(enum pt_origin_kind kind)
{
    switch (kind) {
    case PT_ORIGIN_FILE:     return &pt_handler_file;
    case PT_ORIGIN_REDIRECT: return &pt_handler_redirect;
    case PT_ORIGIN_CGI:      return &pt_handler_cgi;
    case PT_ORIGIN_HTTP:
    case PT_ORIGIN_HTTPS:
    case PT_ORIGIN_CALLBACK: return &pt_handler_unimplemented;
    }
    return NULL;
}

/* ---- basic-auth file ---- */


static int pt_kvlist_push(struct pt_kvlist *l, const char *name, size_t nlen,
                          const char *value, size_t vlen)
{
    struct pt_kv *v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (!v)
        return -1;
    l->v = v;
    v[l->n].name = strndup(name, nlen);
    v[l->n].value = strndup(value, vlen);
    if (!v[l->n].name || !v[l->n].value) {
        free(v[l->n].name);
        free(v[l->n].value);
        return -1;
    }
    l->n++;
    return 0;
}

/* Parses one line (without its '\n').  Returns 1 for a user, 0 for a blank
 * or comment line, -1 for a malformed one. */
static int pt_auth_line(struct pt_kvlist *users, char *line, size_t len)
{
    if (len && line[len - 1] == '\r')
        len--;
    if (len == 0 || line[0] == '#')
        return 0;
    char *colon = memchr(line, ':', len);
    if (!colon || colon == line)
        return -1;
    size_t ulen = (size_t)(colon - line);
    if (pt_kvlist_push(users, line, ulen, colon + 1, len - ulen - 1) < 0)
        return -1;
    return 1;
}

static int pt_auth_load(struct pt_mount *m, struct pt_diag *d)
{
    const struct pt_srcpos *p = &m->pos;
    FILE *f = fopen(m->basic_auth, "r");
    if (!f) {
        pt_diag_error(d, p->file, p->line, p->col,
                      "basic-auth: cannot read \"%s\": %s",
                      m->basic_auth, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, rc = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n && line[n - 1] == '\n')
            n--;
        if (pt_auth_line(&m->auth_users, line, (size_t)n) < 0) {
            pt_diag_error(d, p->file, p->line, p->col,
                          "basic-auth: \"%s\" line %d: expected user:password",
                          m->basic_auth, lineno);
            rc = -1;
        }
    }
    if (ferror(f)) {
        pt_diag_error(d, p->file, p->line, p->col,
                      "basic-auth: cannot read \"%s\": %s",
                      m->basic_auth, strerror(errno));
        rc = -1;
    } else if (rc == 0 && m->auth_users.n == 0) {
        /* An empty file would lock everyone out: surely a mistake. */
        pt_diag_error(d, p->file, p->line, p->col,
                      "basic-auth: \"%s\" has no user:password lines",
                      m->basic_auth);
        rc = -1;
    }
    free(line);
    fclose(f);
    if (rc < 0)
        pt_kvlist_free(&m->auth_users);
    return rc;
}

/* ---- setup / teardown ---- */

int pt_mount_setup(struct pt_mount *m, struct pt_diag *d)
{
    const struct pt_handler *h = pt_handler_for(m->kind);
    const struct pt_srcpos *op = &m->origin_pos;
    if (!h) {
        pt_diag_error(d, op->file, op->line, op->col, "origin: unknown kind");
        return -1;
    }
    /* Run both steps even if one fails, so every error is reported. */
    int auth_rc = m->basic_auth ? pt_auth_load(m, d) : 0;
    int h_rc = h->setup ? h->setup(m, d) : 0;
    if (h_rc == 0 && auth_rc == 0) {
        m->handler = h;
        return 0;
    }
    /* Leave the mount as if never set up: teardown stays safe. */
    if (h_rc == 0 && h->teardown)
        h->teardown(m);
    m->handler = NULL;
    m->handler_data = NULL;
    pt_kvlist_free(&m->auth_users);
    return -1;
}

void pt_mount_teardown(struct pt_mount *m)
{
    if (m->handler && m->handler->teardown)
        m->handler->teardown(m);
    m->handler = NULL;
    m->handler_data = NULL;
    pt_kvlist_free(&m->auth_users);
}

/* ---- matching ---- */

/* Whether path lies under m on a segment boundary ("/foo" takes "/foo",
 * "/foo/" and "/foo/x" but not "/foobar"). */
static bool pt_mount_covers(const struct pt_mount *m, const char *path,
                            size_t len)
{
    size_t mlen = m->mountpoint_len;
    if (mlen == 0 || len < mlen || memcmp(path, m->mountpoint, mlen) != 0)
        return false;
    bool mp_slash = m->mountpoint[mlen - 1] == '/'; /* only "/" normally */
    if (m->exact_match)
        return len == mlen ||
               (len == mlen + 1 && path[mlen] == '/' && !mp_slash);
    return len == mlen || mp_slash || path[mlen] == '/';
}

const struct pt_mount *pt_mount_match(const struct pt_vhost *vh,
                                      const char *path, size_t len)
{
    const struct pt_mount *best = NULL;
    if (!vh)
        return NULL;
    /* Few mounts per vhost: a linear pass; ties go to the first in config
     * order, and the cheap length test comes before memcmp. */
    for (size_t i = 0; i < vh->n_mounts; i++) {
        const struct pt_mount *m = &vh->mounts[i];
        if (best && m->mountpoint_len <= best->mountpoint_len)
            continue;
        if (pt_mount_covers(m, path, len))
            best = m;
    }
    return best;
}

const char *pt_mount_rest(const struct pt_mount *m, const char *path,
                          size_t len, size_t *rest_len)
{
    size_t skip = m->mountpoint_len;
    /* A mountpoint ending in '/' ("/") keeps that '/' in the rest, so the
     * rest is always "" or starts with '/'. */
    if (skip && m->mountpoint[skip - 1] == '/')
        skip--;
    if (skip > len)
        skip = len;
    *rest_len = len - skip;
    return path + skip;
}
