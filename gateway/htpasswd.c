/* basic-auth user files (see htpasswd.h). */
#include "gateway/htpasswd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "gateway/config.h"
#include "gateway/diag.h"

static void users_free(struct pt_htusers *u)
{
    for (size_t i = 0; i < u->n; i++) {
        free(u->v[i].name);
        if (u->v[i].stored)
            OPENSSL_cleanse(u->v[i].stored, strlen(u->v[i].stored));
        free(u->v[i].stored);
    }
    free(u->v);
    free(u);
}

void pt_htusers_ref(struct pt_htusers *u)
{
    atomic_fetch_add_explicit(&u->refs, 1, memory_order_relaxed);
}

void pt_htusers_unref(struct pt_htusers *u)
{
    if (u && atomic_fetch_sub_explicit(&u->refs, 1, memory_order_acq_rel) == 1)
        users_free(u);
}

const struct pt_htuser *pt_htusers_find(const struct pt_htusers *u, const char *name,
                                        size_t len)
{
    const struct pt_htuser *found = NULL;
    for (size_t i = 0; i < u->n; i++) {
        const struct pt_htuser *h = &u->v[i];
        bool same = strlen(h->name) == len && CRYPTO_memcmp(h->name, name, len) == 0;
        if (same && !found)
            found = h;
    }
    return found;
}

static int push(struct pt_htusers *u, const char *name, size_t nlen, const char *pw,
                size_t plen, enum pt_pwscheme s)
{
    struct pt_htuser *v = realloc(u->v, (u->n + 1) * sizeof *v);
    if (!v)
        return -1;
    u->v = v;
    v[u->n].name = strndup(name, nlen);
    v[u->n].stored = strndup(pw, plen);
    v[u->n].scheme = s;
    if (!v[u->n].name || !v[u->n].stored) {
        free(v[u->n].name);
        free(v[u->n].stored);
        return -1;
    }
    u->n++;
    return 0;
}

/* One line (without its '\n'): a user is added, problems reported at
 * path:lineno.  Returns -1 after an error, else 0. */
static int parse_line(struct pt_htusers *u, char *line, size_t len, const char *path,
                      int lineno, struct pt_diag *d)
{
    if (len && line[len - 1] == '\r')
        len--;
    if (len == 0 || line[0] == '#')
        return 0;
    char *colon = memchr(line, ':', len);
    if (!colon || colon == line || memchr(line, '\0', len)) {
        pt_diag_error(d, path, lineno, 1, "basic-auth: expected user:password");
        return -1;
    }
    size_t ulen = (size_t)(colon - line);
    int shown = ulen > 64 ? 64 : (int)ulen; /* messages name the user, not the password */
    int pwcol = (int)ulen + 2;
    line[len] = '\0'; /* the scheme is read from a string */
    enum pt_pwscheme s = pt_pwhash_scheme(colon + 1);
    if (s == PT_PW_BAD) {
        /* The scheme's prefix only: the rest may be a password. */
        const char *pw = colon + 1;
        int plen = (int)(strcspn(pw + 1, pw[0] == '{' ? "}" : "$") + 2);
        pt_diag_error(d, path, lineno, pwcol,
                      "basic-auth: user \"%.*s\": the password starts like a "
                      "\"%.*s\" hash but the rest is not one", shown, line, plen, pw);
        return -1;
    }
    if (s == PT_PW_UNKNOWN)
        pt_diag_warn(d, path, lineno, pwcol,
                     "basic-auth: user \"%.*s\": the password looks like a hash "
                     "of a scheme portico does not know; it is taken as the "
                     "plaintext password (known: $2y$ $2b$ $2a$ $6$ $5$ $y$ $apr1$ "
                     "{SHA})", shown, line);
    if (pt_htusers_find(u, line, ulen)) {
        pt_diag_warn(d, path, lineno, 1,
                     "basic-auth: user \"%.*s\" is listed again; the first line "
                     "counts", shown, line);
        return 0;
    }
    if (push(u, line, ulen, colon + 1, len - ulen - 1, s) < 0) {
        pt_diag_error(d, path, lineno, 1, "basic-auth: out of memory");
        return -1;
    }
    return 0;
}

struct pt_htusers *pt_htusers_load(const char *path, const struct pt_srcpos *p,
                                   struct pt_diag *d)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        pt_diag_error(d, p->file, p->line, p->col,
                      "basic-auth: cannot read \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    struct pt_htusers *u = calloc(1, sizeof *u);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, rc = u ? 0 : -1;
    while (u && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n && line[n - 1] == '\n')
            n--;
        if (parse_line(u, line, (size_t)n, path, lineno, d) < 0)
            rc = -1;
    }
    if (ferror(f)) {
        pt_diag_error(d, p->file, p->line, p->col,
                      "basic-auth: cannot read \"%s\": %s", path, strerror(errno));
        rc = -1;
    } else if (rc == 0 && u->n == 0) {
        /* An empty file would lock everyone out: surely a mistake. */
        pt_diag_error(d, p->file, p->line, p->col,
                      "basic-auth: \"%s\" has no user:password lines", path);
        rc = -1;
    }
    if (line)
        OPENSSL_cleanse(line, cap);
    free(line);
    fclose(f);
    if (rc < 0 && u) {
        users_free(u);
        u = NULL;
    }
    if (u)
        atomic_init(&u->refs, 1);
    return u;
}
