/* Finding keys and values again in JSON text (see jsonpos.h).
 *
 * The text has already been accepted by jansson, so the scanner can be
 * forgiving: it only needs to step over strings (with escapes) and nested
 * containers correctly, and it stops rather than loops on anything odd. */
#include "gateway/jsonpos.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct scan {
    const char *s;
    size_t len, p;
};

static bool at_end(const struct scan *sc)
{
    return sc->p >= sc->len;
}

static char cur(const struct scan *sc)
{
    return at_end(sc) ? '\0' : sc->s[sc->p];
}

static void skip_ws(struct scan *sc)
{
    while (!at_end(sc)) {
        char c = sc->s[sc->p];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        sc->p++;
    }
}

/* Characters that end a bare scalar (number, true, false, null). */
static bool is_delim(char c)
{
    switch (c) {
    case ' ': case '\t': case '\n': case '\r':
    case ',': case ':': case ']': case '}':
    case '[': case '{': case '"':
        return true;
    default:
        return false;
    }
}

/* At '"': moves past the closing quote. */
static int skip_string(struct scan *sc)
{
    sc->p++;
    while (!at_end(sc)) {
        char c = sc->s[sc->p++];
        if (c == '\\')
            sc->p++;
        else if (c == '"')
            return 0;
    }
    return -1;
}

static int skip_value(struct scan *sc)
{
    int depth = 0;

    do {
        skip_ws(sc);
        if (at_end(sc))
            return -1;
        char c = sc->s[sc->p];
        if (c == '"') {
            if (skip_string(sc) < 0)
                return -1;
        } else if (c == '{' || c == '[') {
            depth++;
            sc->p++;
        } else if (c == '}' || c == ']') {
            if (--depth < 0)
                return -1;
            sc->p++;
        } else if (c == ',' || c == ':') {
            if (depth == 0)
                return -1;
            sc->p++;
        } else {
            while (!at_end(sc) && !is_delim(sc->s[sc->p]))
                sc->p++;
        }
    } while (depth > 0);
    return 0;
}

static int hex4(const struct scan *sc, size_t at, uint32_t *out)
{
    uint32_t v = 0;

    if (at + 4 > sc->len)
        return -1;
    for (size_t i = at; i < at + 4; i++) {
        char c = sc->s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t utf8_encode(uint32_t cp, char *buf)
{
    if (cp < 0x80) {
        buf[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        buf[0] = (char)(0xc0 | (cp >> 6));
        buf[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        buf[0] = (char)(0xe0 | (cp >> 12));
        buf[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        buf[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    buf[0] = (char)(0xf0 | (cp >> 18));
    buf[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    buf[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    buf[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decodes the escape after a backslash at sc->p into buf; returns the byte
 * count, or 0 if malformed.  Advances past the escape. */
static size_t decode_escape(struct scan *sc, char *buf)
{
    char c = cur(sc);
    uint32_t cp, lo;

    sc->p++;
    switch (c) {
    case 'b': buf[0] = '\b'; return 1;
    case 'f': buf[0] = '\f'; return 1;
    case 'n': buf[0] = '\n'; return 1;
    case 'r': buf[0] = '\r'; return 1;
    case 't': buf[0] = '\t'; return 1;
    case 'u':
        if (hex4(sc, sc->p, &cp) < 0)
            return 0;
        sc->p += 4;
        /* A high surrogate pairs with the "\uDC00".."\uDFFF" after it. */
        if (cp >= 0xd800 && cp < 0xdc00 && sc->p + 6 <= sc->len &&
            sc->s[sc->p] == '\\' && sc->s[sc->p + 1] == 'u' &&
            hex4(sc, sc->p + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
            sc->p += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        return utf8_encode(cp, buf);
    default:
        buf[0] = c; /* '"', '\\', '/' */
        return 1;
    }
}

/* At '"': compares the decoded string with want and moves past it. */
static bool match_string(struct scan *sc, const char *want)
{
    size_t wlen = strlen(want), w = 0;
    bool same = true;
    char buf[4];

    sc->p++;
    while (!at_end(sc)) {
        char c = sc->s[sc->p++];
        size_t n = 1;

        if (c == '"')
            return same && w == wlen;
        buf[0] = c;
        if (c == '\\')
            n = decode_escape(sc, buf);
        if (n == 0 || w + n > wlen || memcmp(want + w, buf, n) != 0)
            same = false;
        else
            w += n;
    }
    return false;
}

/* At '{': moves to the value of key (or to the key itself). */
static int find_key(struct scan *sc, const char *key, bool want_key)
{
    if (cur(sc) != '{')
        return -1;
    sc->p++;
    for (;;) {
        skip_ws(sc);
        if (cur(sc) != '"')
            return -1;
        size_t key_at = sc->p;
        bool hit = match_string(sc, key);
        skip_ws(sc);
        if (cur(sc) != ':')
            return -1;
        sc->p++;
        skip_ws(sc);
        if (hit) {
            if (want_key)
                sc->p = key_at;
            return 0;
        }
        if (skip_value(sc) < 0)
            return -1;
        skip_ws(sc);
        if (cur(sc) != ',')
            return -1;
        sc->p++;
    }
}

/* At an array element: moves over count more of them. */
static int skip_elements(struct scan *sc, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (cur(sc) == ']' || skip_value(sc) < 0)
            return -1;
        skip_ws(sc);
        if (cur(sc) != ',')
            return -1;
        sc->p++;
        skip_ws(sc);
    }
    return at_end(sc) || cur(sc) == ']' ? -1 : 0;
}

/* At '[': moves to element index. */
static int find_index(struct scan *sc, size_t index)
{
    if (cur(sc) != '[')
        return -1;
    sc->p++;
    skip_ws(sc);
    return skip_elements(sc, index);
}

void pt_json_strip_comments(char *text, size_t len)
{
    bool in_string = false;

    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"' || c == '\n')
                in_string = false; /* a newline ends a broken string too */
        } else if (c == '"') {
            in_string = true;
        } else if (c == '#') {
            while (i < len && text[i] != '\n')
                text[i++] = ' ';
        }
    }
}

static bool same_step(const struct pt_jstep *a, const struct pt_jstep *b)
{
    if (!a->key || !b->key)
        return !a->key && !b->key && a->index == b->index;
    return strcmp(a->key, b->key) == 0;
}


int pt_jsonpos_find_memo(struct pt_jsonpos_memo *m, const char *text, size_t len,
                         const struct pt_jstep *path, size_t n, bool want_key,
                         int *line, int *col)
{
    struct scan sc = { text, len, 0 };
    if (m->text != text) {
        memset(m, 0, sizeof *m);
        m->text = text;
        skip_ws(&sc);
        m->at[0] = sc.p;
        m->line = 1;
    }

    /* Resume after the steps shared with the last lookup; an array index
     * at or past the last one resumes from that element. */
    size_t i = 0, reuse = want_key && n ? n - 1 : n; /* a key is found afresh */
    while (i < m->n && i < reuse && same_step(&m->step[i], &path[i]))
        i++;
    int rc = 0;
    sc.p = m->at[i];
    size_t best = sc.p;
    size_t done = i;
    if (i < n && i < m->n && !path[i].key && !m->step[i].key &&
        path[i].index >= m->step[i].index && !(want_key && i == n - 1)) {
        sc.p = m->at[i + 1];
        if (skip_elements(&sc, path[i].index - m->step[i].index) < 0)
            rc = -1;
        else {
            m->step[i] = path[i];
            m->at[i + 1] = sc.p;
            best = sc.p;
            done = ++i;
        }
    }
    for (; rc == 0 && i < n; i++) {
        bool key = want_key && i == n - 1;
        int r = path[i].key ? find_key(&sc, path[i].key, key)
                            : find_index(&sc, path[i].index);
        if (r < 0) {
            rc = -1;
            break;
        }
        best = sc.p;
        if (!key && i == done && i < PT_JSONPOS_MEMO_DEPTH) {
            m->step[i] = path[i];
            m->at[i + 1] = sc.p;
            done = i + 1;
        }
    }
    m->n = done;
    if (best > len)
        best = len;

    /* Lines: counted on from the last place counted when it is before. */
    size_t from = 0, bol = 0;
    int l = 1;
    if (m->line_off <= best) {
        from = m->line_off;
        bol = m->bol;
        l = m->line;
    }
    for (size_t k = from; k < best; k++)
        if (text[k] == '\n') {
            l++;
            bol = k + 1;
        }
    m->line_off = best;
    m->bol = bol;
    m->line = l;
    *line = l;
    *col = (int)(best - bol) + 1;
    return rc;
}

int pt_jsonpos_find(const char *text, size_t len, const struct pt_jstep *path,
                    size_t n, bool want_key, int *line, int *col)
{
    struct pt_jsonpos_memo m;
    memset(&m, 0, sizeof m);
    return pt_jsonpos_find_memo(&m, text, len, path, n, want_key, line, col);
}

/* ---- repeated keys ------------------------------------------------------ */

#define DUP_DEPTH 32

struct dup_scan {
    struct scan sc;
    pt_json_dup_fn *fn;
    void *arg;
    struct pt_jstep path[DUP_DEPTH]; /* keys: the entries' copies */
    int found;
};

struct entry {
    char *key;
    size_t key_at, value_at, value_end;
};

/* At '"': the decoded key (malloc'ed), moving past it; NULL if odd. */
static char *read_key(struct scan *sc)
{
    size_t start = sc->p;
    if (skip_string(sc) < 0)
        return NULL;
    char *out = malloc(sc->p - start), buf[4];
    if (!out)
        return NULL;
    size_t n = 0;
    for (size_t i = start + 1; i < sc->p - 1;) {
        if (sc->s[i] == '\\') {
            struct scan e = { sc->s, sc->len, i + 1 };
            size_t k = decode_escape(&e, buf);
            memcpy(out + n, buf, k);
            n += k;
            i = e.p;
        } else {
            out[n++] = sc->s[i++];
        }
    }
    out[n] = '\0';
    return out;
}

static void line_col(const char *s, size_t at, int *line, int *col)
{
    int l = 1;
    size_t bol = 0;
    for (size_t i = 0; i < at; i++)
        if (s[i] == '\n') {
            l++;
            bol = i + 1;
        }
    *line = l;
    *col = (int)(at - bol) + 1;
}

static int dup_value(struct dup_scan *d, size_t depth);

static void report_dups(struct dup_scan *d, size_t depth, struct entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!e[i].key)
            continue;
        size_t count = 0;
        for (size_t j = i; j < n; j++)
            count += e[j].key && strcmp(e[j].key, e[i].key) == 0;
        if (count < 2)
            continue;
        struct pt_json_occ *occ = calloc(count, sizeof *occ);
        char *key = e[i].key;
        size_t k = 0;
        for (size_t j = i; j < n && occ; j++) {
            if (!e[j].key || strcmp(e[j].key, key) != 0)
                continue;
            line_col(d->sc.s, e[j].key_at, &occ[k].line, &occ[k].col);
            occ[k].value = d->sc.s + e[j].value_at;
            occ[k].value_len = e[j].value_end - e[j].value_at;
            k++;
            if (j > i) {
                free(e[j].key);
                e[j].key = NULL;
            }
        }
        if (occ)
            d->fn(d->arg, d->path, depth, key, occ, count);
        d->found++;
        free(occ);
    }
}

/* At '{'. */
static int dup_object(struct dup_scan *d, size_t depth)
{
    struct scan *sc = &d->sc;
    struct entry *e = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;
    sc->p++;
    skip_ws(sc);
    if (cur(sc) == '}') {
        sc->p++;
        return 0;
    }
    for (;;) {
        skip_ws(sc);
        if (cur(sc) != '"')
            break;
        if (n == cap) {
            struct entry *grown = realloc(e, (cap = cap ? cap * 2 : 16) * sizeof *e);
            if (!grown)
                break;
            e = grown;
        }
        struct entry *x = &e[n++];
        x->key_at = sc->p;
        if (!(x->key = read_key(sc)))
            break;
        skip_ws(sc);
        if (cur(sc) != ':')
            break;
        sc->p++;
        skip_ws(sc);
        x->value_at = sc->p;
        if (depth < DUP_DEPTH) {
            d->path[depth] = (struct pt_jstep){ x->key, 0 };
            if (dup_value(d, depth + 1) < 0)
                break;
        } else if (skip_value(sc) < 0) {
            break;
        }
        x->value_end = sc->p;
        skip_ws(sc);
        if (cur(sc) == '}') {
            sc->p++;
            rc = 0;
            break;
        }
        if (cur(sc) != ',')
            break;
        sc->p++;
    }
    if (rc == 0)
        report_dups(d, depth, e, n);
    for (size_t i = 0; i < n; i++)
        free(e[i].key);
    free(e);
    return rc;
}

/* At '['. */
static int dup_array(struct dup_scan *d, size_t depth)
{
    struct scan *sc = &d->sc;
    sc->p++;
    skip_ws(sc);
    if (cur(sc) == ']') {
        sc->p++;
        return 0;
    }
    for (size_t i = 0;; i++) {
        skip_ws(sc);
        if (depth < DUP_DEPTH) {
            d->path[depth] = (struct pt_jstep){ NULL, i };
            if (dup_value(d, depth + 1) < 0)
                return -1;
        } else if (skip_value(sc) < 0) {
            return -1;
        }
        skip_ws(sc);
        if (cur(sc) == ']') {
            sc->p++;
            return 0;
        }
        if (cur(sc) != ',')
            return -1;
        sc->p++;
    }
}

/* A value whose container is path[0..depth-1]. */
static int dup_value(struct dup_scan *d, size_t depth)
{
    skip_ws(&d->sc);
    if (cur(&d->sc) == '{')
        return dup_object(d, depth);
    if (cur(&d->sc) == '[')
        return dup_array(d, depth);
    return skip_value(&d->sc);
}

int pt_json_duplicates(const char *text, size_t len, pt_json_dup_fn *fn, void *arg)
{
    struct dup_scan d = { .sc = { text, len, 0 }, .fn = fn, .arg = arg };
    skip_ws(&d.sc);
    if (cur(&d.sc) == '{')
        dup_object(&d, 0);
    else if (cur(&d.sc) == '[')
        dup_array(&d, 0);
    return d.found;
}
