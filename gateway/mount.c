/* The mount table: per-mount setup (basic-auth users, then the handler's
 * own) and mountpoint matching. */
#include "gateway/mount.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/diag.h"
#include "gateway/handler.h"

/* ---- origins ---- */

bool pt_mount_is(const struct pt_mount *m, const char *scheme)
{
    size_t n = strlen(scheme);
    return m->origin && strncasecmp(m->origin, scheme, n) == 0;
}

/* ---- basic-auth file ---- */


static int kvlist_push(struct pt_kvlist *l, const char *name, size_t nlen,
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
static int auth_line(struct pt_kvlist *users, char *line, size_t len)
{
    if (len && line[len - 1] == '\r')
        len--;
    if (len == 0 || line[0] == '#')
        return 0;
    char *colon = memchr(line, ':', len);
    if (!colon || colon == line)
        return -1;
    size_t ulen = (size_t)(colon - line);
    if (kvlist_push(users, line, ulen, colon + 1, len - ulen - 1) < 0)
        return -1;
    return 1;
}

static int auth_load(struct pt_mount *m, struct pt_diag *d)
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
        if (auth_line(&m->auth_users, line, (size_t)n) < 0) {
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
    const struct pt_handler *h = m->handler;
    const struct pt_srcpos *op = &m->origin_pos;
    if (!h) {
        pt_diag_error(d, op->file, op->line, op->col, "origin: no handler");
        return -1;
    }
    /* Run both steps even if one fails, so every error is reported. */
    int auth_rc = m->basic_auth ? auth_load(m, d) : 0;
    int h_rc = h->setup ? h->setup(m, d) : 0;
    if (h_rc == 0 && auth_rc == 0) {
        m->ready = true;
        return 0;
    }
    /* Leave the mount as if never set up: teardown stays safe. */
    if (h_rc == 0 && h->teardown)
        h->teardown(m);
    m->handler_data = NULL;
    pt_kvlist_free(&m->auth_users);
    return -1;
}

void pt_mount_teardown(struct pt_mount *m)
{
    if (m->ready && m->handler->teardown)
        m->handler->teardown(m);
    m->ready = false;
    m->handler_data = NULL;
    pt_kvlist_free(&m->auth_users);
}

/* ---- matching ---- */

/* Whether path lies under m on a segment boundary ("/foo" takes "/foo",
 * "/foo/" and "/foo/x" but not "/foobar"). */
static bool mount_covers(const struct pt_mount *m, const char *path,
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
        if (mount_covers(m, path, len))
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
