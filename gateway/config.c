/* Loading the configuration: DIR/conf and DIR/conf.d/ in the lwsws JSON
 * format (see config.h and docs/config.md).
 *
 * Each file is comment-stripped, parsed with jansson and walked with a
 * small key table per object kind.  Every problem is reported and loading
 * goes on, so one run shows all mistakes; the result is NULL if any was an
 * error.  Positions for messages are found again in the text on demand
 * (jsonpos.c), since jansson does not keep them. */
#include "gateway/config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>

#include "gateway/accesslog.h"
#include "gateway/confkeys.h"
#include "gateway/diag.h"
#include "gateway/handler.h"
#include "gateway/jsonpos.h"
#include "gateway/listen.h"
#include "gateway/log.h"
#include "gateway/logformat.h"
#include "gateway/mount.h"
#include "gateway/pool.h"
#include "gateway/regex.h"
#include "gateway/stats.h"
#include "gateway/tls.h"
#include "gateway/urlpath.h"

#define PATH_DEPTH 8

/* A file being loaded; its stripped text is kept until the load ends so
 * late messages (access-log) can still be placed. */
struct src {
    const char *name; /* in c->files */
    char *text;
    size_t len;
};

/* Where a vhost came from: its file and its index in that "vhosts". */
struct vsrc {
    size_t src, index;
};

struct loader {
    struct pt_config *c;
    struct pt_diag *d;
    int errors;
    struct src *srcs;
    size_t n_srcs;
    struct vsrc *vsrcs; /* parallel to c->vhosts */
    /* The value being looked at: file and path within it. */
    size_t src;
    struct pt_jstep path[PATH_DEPTH];
    size_t depth;
    struct pt_jsonpos_memo memo; /* locate() in document order is linear */
    bool strict;                 /* --strict or "strict": unknown keys are errors */
    struct ored *ored;           /* repeated keys lwsws ORs, in this file */
    size_t n_ored;
};

/* A key lwsws accumulates, repeated in vhost `index` of the current file:
 * jansson kept the last value; the others are ORed in by parse_vhost(). */
struct ored {
    size_t index;
    const char *key;             /* a static name */
    char **values;               /* each occurrence's text but the last */
    struct pt_srcpos *pos;
    size_t n;
};

/* ---- memory ------------------------------------------------------------ */

/* Configuration loading cannot sensibly go on without memory. */
static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (!q) {
        fputs("portico: out of memory\n", stderr);
        abort();
    }
    return q;
}

static void *xcalloc(size_t n)
{
    return memset(xrealloc(NULL, n), 0, n);
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;

    return memcpy(xrealloc(NULL, n), s, n);
}

static char *xstrndup(const char *s, size_t n)
{
    char *d = xrealloc(NULL, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

#define GROW(arr, n) ((arr) = xrealloc((arr), ((n) + 1) * sizeof *(arr)))

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xrealloc(NULL, n);

    snprintf(p, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
             name);
    return p;
}

static void kv_add(struct pt_kvlist *l, const char *name, const char *value)
{
    GROW(l->v, l->n);
    l->v[l->n].name = xstrdup(name);
    l->v[l->n].value = xstrdup(value);
    l->n++;
}

void pt_kvlist_free(struct pt_kvlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].value);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* ---- paths and messages ------------------------------------------------ */

static void push_key(struct loader *ld, const char *key)
{
    if (ld->depth < PATH_DEPTH)
        ld->path[ld->depth] = (struct pt_jstep){ key, 0 };
    ld->depth++;
}

static void push_index(struct loader *ld, size_t i)
{
    if (ld->depth < PATH_DEPTH)
        ld->path[ld->depth] = (struct pt_jstep){ NULL, i };
    ld->depth++;
}

static void pop(struct loader *ld)
{
    ld->depth--;
}

/* The innermost object key on the path, for messages. */
static const char *cur_key(const struct loader *ld)
{
    size_t n = ld->depth < PATH_DEPTH ? ld->depth : PATH_DEPTH;

    while (n-- > 0)
        if (ld->path[n].key)
            return ld->path[n].key;
    return "";
}

static void locate(struct loader *ld, bool at_key, struct pt_srcpos *pos)
{
    const struct src *s = &ld->srcs[ld->src];
    size_t n = ld->depth < PATH_DEPTH ? ld->depth : PATH_DEPTH;

    pos->file = s->name;
    pos->line = pos->col = 0;
    pt_jsonpos_find_memo(&ld->memo, s->text, s->len, ld->path, n, at_key, &pos->line,
                         &pos->col);
}

__attribute__((format(printf, 4, 0)))
static void vreport(struct loader *ld, bool error, bool at_key,
                    const char *fmt, va_list ap)
{
    struct pt_srcpos pos;
    char msg[1024];

    vsnprintf(msg, sizeof msg, fmt, ap);
    locate(ld, at_key, &pos);
    if (error) {
        ld->errors++;
        pt_diag_error(ld->d, pos.file, pos.line, pos.col, "%s", msg);
    } else {
        pt_diag_warn(ld->d, pos.file, pos.line, pos.col, "%s", msg);
    }
}

/* An error at the current value. */
__attribute__((format(printf, 2, 3)))
static void err_value(struct loader *ld, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(ld, true, false, fmt, ap);
    va_end(ap);
}

/* An error at the current key. */
__attribute__((format(printf, 2, 3)))
static void err_key(struct loader *ld, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(ld, true, true, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 2, 3)))
static void warn_key(struct loader *ld, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(ld, false, true, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 2, 3)))
static void warn_value(struct loader *ld, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(ld, false, false, fmt, ap);
    va_end(ap);
}

/* An error not tied to a position in a file. */
__attribute__((format(printf, 3, 4)))
static void err_file(struct loader *ld, const char *file, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ld->errors++;
    pt_diag_error(ld->d, file, 0, 0, "%s", msg);
}

/* ---- scalars ----------------------------------------------------------- */

/* lwsws writes every scalar as a string; JSON numbers and booleans are
 * accepted too and read as their text. */
static const char *scalar_text(json_t *v, char *buf, size_t size)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_string_value(v);
    case JSON_INTEGER:
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    case JSON_REAL:
        snprintf(buf, size, "%.15g", json_real_value(v));
        return buf;
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    default:
        return NULL;
    }
}

/* A value as it might appear in a message. */
static const char *describe(json_t *v, char *buf, size_t size)
{
    char tmp[64];

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_NULL:
        return "null";
    case JSON_STRING:
        snprintf(buf, size, "\"%.60s%s\"", json_string_value(v),
                 strlen(json_string_value(v)) > 60 ? "..." : "");
        return buf;
    default:
        snprintf(buf, size, "%s", scalar_text(v, tmp, sizeof tmp));
        return buf;
    }
}

#ifndef PORTICO_DATADIR
#define PORTICO_DATADIR "/usr/local/share"
#endif
#define DDIR_TOKEN "_lws_ddir_"

static char datadir[PATH_MAX];

static void find_datadir(void)
{
    char exe[PATH_MAX], *real = NULL;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash && (size_t)(slash - exe) + sizeof "/../share/portico" < sizeof exe) {
            strcpy(slash, "/../share/portico");
            real = realpath(exe, NULL); /* BIN/../share/portico exists: an install */
        }
    }
    if (real) {
        *strrchr(real, '/') = '\0';
        snprintf(datadir, sizeof datadir, "%s", real);
        free(real);
    } else {
        snprintf(datadir, sizeof datadir, "%s", PORTICO_DATADIR);
    }
}

const char *pt_config_datadir(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, find_datadir);
    return datadir;
}

/* lwsws's data-directory token, in any string value: the installed data
 * directory (DATADIR, "/usr/local/share" by default), found beside the
 * binary first (BIN/../share), so that a relocated or staged install
 * finds its own. */
static char *expand_ddir(const char *s)
{
    const char *dd = pt_config_datadir();
    size_t n = 0, tl = strlen(DDIR_TOKEN), dl = strlen(dd);
    for (const char *p = strstr(s, DDIR_TOKEN); p; p = strstr(p + tl, DDIR_TOKEN))
        n++;
    char *out = xrealloc(NULL, strlen(s) + n * dl + 1), *o = out;
    for (const char *p; (p = strstr(s, DDIR_TOKEN)); s = p + tl) {
        memcpy(o, s, (size_t)(p - s));
        o += p - s;
        memcpy(o, dd, dl);
        o += dl;
    }
    strcpy(o, s);
    return out;
}

static int get_str(struct loader *ld, json_t *v, char **out)
{
    char buf[64], what[96];
    const char *s = scalar_text(v, buf, sizeof buf);

    if (!s) {
        err_value(ld, "\"%s\": expected a string, got %s", cur_key(ld),
                  describe(v, what, sizeof what));
        return -1;
    }
    free(*out);
    *out = strstr(s, DDIR_TOKEN) ? expand_ddir(s) : xstrdup(s);
    return 0;
}

/* Decimal (base 10) or C-style (base 0) integer text, all of it. */
static int parse_long(const char *s, int base, long *out)
{
    char *end;

    if (!(*s >= '0' && *s <= '9') && *s != '-' && *s != '+')
        return -1;
    errno = 0;
    long n = strtol(s, &end, base);
    if (errno || end == s || *end)
        return -1;
    *out = n;
    return 0;
}

static int get_long(struct loader *ld, json_t *v, long min, long max, int base,
                    long *out)
{
    char what[96];
    long n;

    if (json_is_integer(v) && json_integer_value(v) >= LONG_MIN &&
        json_integer_value(v) <= LONG_MAX) {
        n = (long)json_integer_value(v);
    } else if (!json_is_string(v) ||
               parse_long(json_string_value(v), base, &n) < 0) {
        err_value(ld, "\"%s\": expected an integer, got %s", cur_key(ld),
                  describe(v, what, sizeof what));
        return -1;
    }
    if (n < min || n > max) {
        err_value(ld, "\"%s\": %ld is out of range (%ld..%ld)", cur_key(ld),
                  n, min, max);
        return -1;
    }
    *out = n;
    return 0;
}

int pt_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "true", "on", "yes" };
    static const char *const no[] = { "false", "off", "no" };
    long n;

    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    if (parse_long(s, 10, &n) < 0)
        return -1;
    *out = n != 0;
    return 0;
}

static int get_bool(struct loader *ld, json_t *v, bool *out)
{
    char what[96];

    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (json_is_integer(v)) {
        *out = json_integer_value(v) != 0;
        return 0;
    }
    if (json_is_string(v) && pt_parse_bool(json_string_value(v), out) == 0)
        return 0;
    err_value(ld, "\"%s\": expected a boolean (true/false, on/off, yes/no, "
              "1/0), got %s", cur_key(ld), describe(v, what, sizeof what));
    return -1;
}

/* ---- name/value lists -------------------------------------------------- */

enum kv_kind { KV_PLAIN, KV_HEADERS, KV_MIMETYPES, KV_REJECTS };

static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s)))
            return false;
    return true;
}

/* A reject-service-keywords status: "404", or lwsws's "404 Not Found"
 * (the text is not used: the page says the standard reason).  -1 if it
 * is not a 4xx or 5xx code. */
static int reject_status(const char *s)
{
    if (strspn(s, "0123456789") != 3 || (s[3] && s[3] != ' ') || s[0] < '4' || s[0] > '5')
        return -1;
    return atoi(s);
}

/* Compiles a "~" keyword of reject-service-keywords (the path is at its
 * key) and keeps the entry for requests; the kvlist keeps the text. */
static void reject_add(struct loader *ld, const char *list, const char *keyword,
                       const char *value)
{
    struct pt_global *g = &ld->c->g;
    struct pt_reject k = { keyword, strlen(keyword), reject_status(value), NULL };
    if (pt_regex_spec(keyword)) {
        char why[256];
        size_t off;
        bool caseless;
        k.regex = pt_regex_compile(keyword, why, sizeof why, &off);
        if (!k.regex) {
            err_key(ld, "\"%s\": \"%s\": invalid regular expression: %s at offset %zu "
                    "of \"%s\"", list, keyword, why, off, pt_regex_pattern(keyword, &caseless));
            return;
        }
    }
    GROW(g->rejects, g->n_rejects);
    g->rejects[g->n_rejects++] = k;
}

/* Checks one entry; the path is at its key. */
static bool kv_entry_ok(struct loader *ld, enum kv_kind kind, const char *list,
                        const char *name, const char *value)
{
    if (kind == KV_REJECTS && reject_status(value) < 0) {
        err_value(ld, "\"%s\": \"%s\": the status must be a 4xx or 5xx code (\"403\" or "
                  "\"404 Not Found\"), got \"%s\"", list, name, value);
        return false;
    }
    if (kind == KV_REJECTS && !*name) {
        err_key(ld, "\"%s\": an empty keyword would match every request", list);
        return false;
    }
    if (kind == KV_HEADERS && !is_token(name)) {
        err_key(ld, "\"%s\": \"%s\" is not a valid header name", list, name);
        return false;
    }
    if (kind == KV_MIMETYPES && name[0] != '.' && strcmp(name, "*") != 0) {
        err_key(ld, "\"%s\": \"%s\" must be a suffix like \".ext\" or \"*\"",
                list, name);
        return false;
    }
    if (kind != KV_PLAIN && strpbrk(value, "\r\n")) {
        err_value(ld, "\"%s\": the value of \"%s\" contains CR or LF", list,
                  name);
        return false;
    }
    return true;
}

static void kv_object(struct loader *ld, json_t *obj, struct pt_kvlist *l,
                      enum kv_kind kind, const char *list)
{
    const char *name;
    json_t *v;
    char buf[64], what[96];

    json_object_foreach(obj, name, v) {
        push_key(ld, name);
        const char *s = scalar_text(v, buf, sizeof buf);
        if (!s)
            err_value(ld, "\"%s\": the value of \"%s\" must be a string, "
                      "got %s", list, name, describe(v, what, sizeof what));
        else if (kv_entry_ok(ld, kind, list, name, s)) {
            kv_add(l, name, s);
            if (kind == KV_REJECTS)
                reject_add(ld, list, l->v[l->n - 1].name, s);
        }
        pop(ld);
    }
}

/* lwsws writes these lists as an array of objects of name/value pairs;
 * a single object is accepted too. */
static void get_kvlist(struct loader *ld, json_t *v, struct pt_kvlist *l,
                       enum kv_kind kind)
{
    const char *list = cur_key(ld);
    char what[96];
    size_t i;
    json_t *e;

    if (json_is_object(v)) {
        kv_object(ld, v, l, kind, list);
        return;
    }
    if (!json_is_array(v)) {
        err_value(ld, "\"%s\": expected an object or an array of objects, "
                  "got %s", list, describe(v, what, sizeof what));
        return;
    }
    json_array_foreach(v, i, e) {
        push_index(ld, i);
        if (json_is_object(e))
            kv_object(ld, e, l, kind, list);
        else
            err_value(ld, "\"%s\": element %zu must be an object, got %s",
                      list, i, describe(e, what, sizeof what));
        pop(ld);
    }
}

/* ---- address lists ------------------------------------------------------ */

static void cidr_add(struct loader *ld, struct pt_cidrs *l, const char *s, size_t len)
{
    char buf[80];
    const char *why = "too long";
    struct pt_cidr c;
    if (len < sizeof(buf)) {
        memcpy(buf, s, len);
        buf[len] = '\0';
        if (pt_cidr_parse(buf, &c, &why) == 0) {
            struct pt_cidr *v = realloc(l->v, (l->n + 1) * sizeof(*v));
            if (!v)
                abort();
            l->v = v;
            l->v[l->n++] = c;
            return;
        }
    }
    err_value(ld, "\"%s\": \"%.*s\": %s", cur_key(ld), (int)len, s, why);
}

/* ["10.0.0.0/8", "::1"] or "10.0.0.0/8, ::1". */
static void get_cidrs(struct loader *ld, json_t *v, struct pt_cidrs *l)
{
    char what[96];
    size_t i;
    json_t *e;
    pt_cidrs_free(l);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        while (*s) {
            size_t skip = strspn(s, ", \t");
            s += skip;
            size_t n = strcspn(s, ", \t");
            if (n)
                cidr_add(ld, l, s, n);
            s += n;
        }
        return;
    }
    if (!json_is_array(v)) {
        err_value(ld, "\"%s\": expected an array of addresses or networks "
                  "(\"10.0.0.0/8\"), got %s", cur_key(ld), describe(v, what, sizeof what));
        return;
    }
    json_array_foreach(v, i, e) {
        push_index(ld, i);
        if (json_is_string(e))
            cidr_add(ld, l, json_string_value(e), strlen(json_string_value(e)));
        else
            err_value(ld, "\"%s\": element %zu must be a string, got %s", cur_key(ld), i,
                      describe(e, what, sizeof what));
        pop(ld);
    }
}

/* ---- key tables -------------------------------------------------------- */

#define G(f) offsetof(struct pt_global, f)
#define V(f) offsetof(struct pt_vhost, f)
#define M(f) offsetof(struct pt_mount, f)

static const struct pt_key global_keys[] = {
    { "count-threads", PT_KEY_INT, G(count_threads), 1, 256 },
    { "ws-pingpong-secs", PT_KEY_INT, G(ws_pingpong_secs), 0, 86400 },
    { "server-string", PT_KEY_STR, G(server_string), 0, 0 },
    { "timeout-secs", PT_KEY_INT, G(timeout_secs), 1, 86400 },
    { "ip-limit-ah", PT_KEY_INT, G(ip_limit_ah), 0, 65535 },
    { "ip-limit-wsi", PT_KEY_INT, G(ip_limit_wsi), 0, 65535 },
    { "ip-limit-v6-prefix", PT_KEY_INT, G(ip_limit_v6_prefix), 1, 128 },
    { "ip-limit-table-size", PT_KEY_INT, G(ip_limit_table_size), 16, 1 << 24 },
    { "ip-allow", PT_KEY_CIDRS, G(ip_allow), 0, 0 },
    { "ip-deny", PT_KEY_CIDRS, G(ip_deny), 0, 0 },
    { "trusted-proxies", PT_KEY_CIDRS, G(trusted_proxies), 0, 0 },
    { "max-connections", PT_KEY_INT, G(max_connections), 0, 10000000 },
    { "uid", PT_KEY_INT, G(uid), 0, INT_MAX },
    { "gid", PT_KEY_INT, G(gid), 0, INT_MAX },
    { "init-ssl", PT_KEY_BOOL, G(init_ssl), 0, 0 },
    { "rlimit-nofile", PT_KEY_LONG, G(rlimit_nofile), 1, LONG_MAX },
    { "reject-service-keywords", PT_KEY_REJECTS, G(reject_service_keywords), 0, 0 },
    { "max-header-size", PT_KEY_INT, G(max_header_size), 1024, 1048576 },
    { "max-uri-length", PT_KEY_INT, G(max_uri_length), 256, 1048576 },
    { "drain-timeout-secs", PT_KEY_INT, G(drain_timeout_secs), 0, 86400 },
    { "h2-max-concurrent-streams", PT_KEY_INT, G(h2_max_streams), 1, 10000 },
    { "h2-initial-window-size", PT_KEY_INT, G(h2_window), 1024, 2147483647 },
    { "tls-context-cache", PT_KEY_INT, G(tls_context_cache), 1, 1000000 },
    { "mime-types", PT_KEY_PATH, G(mime_types), 0, 0 },
    { "pid-file", PT_KEY_PATH, G(pid_file), 0, 0 },
    { "access-log", PT_KEY_PATH, G(access_log), 0, 0 },
    { "access-log-format", PT_KEY_STR, G(access_log_format), 0, 0 },
    { NULL, PT_KEY_STR, 0, 0, 0 },
};

static const struct pt_key vhost_keys[] = {
    { "name", PT_KEY_STR, V(name), 0, 0 },
    { "port", PT_KEY_INT, V(port), 1, 65535 },
    { "interface", PT_KEY_STR, V(interface), 0, 0 },
    { "access-log", PT_KEY_PATH, V(access_log), 0, 0 },
    { "access-log-format", PT_KEY_STR, V(access_log_format), 0, 0 },
    { "keepalive_timeout", PT_KEY_INT, V(keepalive_timeout), 1, 86400 },
    { "keepalive-timeout", PT_KEY_INT, V(keepalive_timeout), 1, 86400 },
    { "keeplive-timeout", PT_KEY_INT, V(keepalive_timeout), 1, 86400 }, /* lwsws README */
    { "strict-host-check", PT_KEY_BOOL, V(strict_host_check), 0, 0 },
    { "ignore-missing-cert", PT_KEY_BOOL, V(ignore_missing_cert), 0, 0 },
    { "extra-mimetypes", PT_KEY_MIMES, V(extra_mimetypes), 0, 0 },
    { "unix-socket", PT_KEY_BOOL, V(unix_socket), 0, 0 },
    { "unix-socket-perms", PT_KEY_STR, V(unix_socket_perms), 0, 0 },
    { "headers", PT_KEY_HEADERS, V(headers), 0, 0 },
    { "host-ssl-cert", PT_KEY_PATH, V(ssl_cert), 0, 0 },
    { "host-ssl-key", PT_KEY_PATH, V(ssl_key), 0, 0 },
    { "host-ssl-ca", PT_KEY_PATH, V(ssl_ca), 0, 0 },
    { "sts", PT_KEY_INTBOOL, V(sts), 0, 0 },
    { "ciphers", PT_KEY_STR, V(ciphers), 0, 0 },
    { "tls13-ciphers", PT_KEY_STR, V(tls13_ciphers), 0, 0 },
    { "ecdh-curve", PT_KEY_STR, V(ecdh_curve), 0, 0 },
    { "ssl-option-set", PT_KEY_FLAGS, V(ssl_option_set), 0, LONG_MAX },
    { "ssl-option-clear", PT_KEY_FLAGS, V(ssl_option_clear), 0, LONG_MAX },
    { "allow-non-tls", PT_KEY_BOOL, V(allow_non_tls), 0, 0 },
    { "redirect-http", PT_KEY_BOOL, V(redirect_http), 0, 0 },
    { "client-cert-required", PT_KEY_BOOL, V(client_cert_required), 0, 0 },
    { "ip-limit-wsi", PT_KEY_INT, V(ip_limit_wsi), 0, 65535 },
    { "ip-limit-ah", PT_KEY_INT, V(ip_limit_ah), 0, 65535 },
    { "ip-limit-rate", PT_KEY_INT, V(ip_limit_rate), 0, 1000000 },
    { "ip-limit-burst", PT_KEY_INT, V(ip_limit_burst), 1, 1000000 },
    { "ip-allow", PT_KEY_CIDRS, V(ip_allow), 0, 0 },
    { "ip-deny", PT_KEY_CIDRS, V(ip_deny), 0, 0 },
    { "proxy-protocol", PT_KEY_BOOL, V(proxy_protocol), 0, 0 },
    { "bind-iface", PT_KEY_BOOL, V(bind_iface), 0, 0 },
    { NULL, PT_KEY_STR, 0, 0, 0 },
};

/* The core's own mount keys; the rest belong to the mount's handler. */
static const struct pt_key mount_keys[] = {
    { "mountpoint", PT_KEY_STR, M(mountpoint), 0, 0 },
    { "headers", PT_KEY_HEADERS, M(headers), 0, 0 },
    { "exact-match", PT_KEY_BOOL, M(exact_match), 0, 0 },
    { "basic-auth", PT_KEY_PATH, M(basic_auth), 0, 0 },
    { NULL, PT_KEY_STR, 0, 0, 0 },
};

const struct pt_key *pt_config_keys(const char *scope)
{
    return strcmp(scope, "global") == 0  ? global_keys
           : strcmp(scope, "vhost") == 0 ? vhost_keys
                                         : mount_keys;
}

/* Keys each scope takes outside its table (its special_fn's), for
 * suggestions. */
static const char *const global_extra[] = {
    "username", "groupname", "error-log", "log-level", "strict", "plugin-dir", NULL,
};
static const char *const vhost_extra[] = {
    "mounts", "ws-protocols", "error-document-404", "error-document-403", "error-document-500", NULL,
};
static const char *const mount_extra[] = { "origin", NULL };

static void set_key(struct loader *ld, const struct pt_key *k, json_t *v,
                    void *obj)
{
    char *p = (char *)obj + k->off;
    bool b;
    long n;

    switch (k->type) {
    case PT_KEY_STR:
        get_str(ld, v, (char **)p);
        break;
    case PT_KEY_PATH:
        if (get_str(ld, v, (char **)p) == 0 && **(char **)p && **(char **)p != '/') {
            char *abs = path_join(ld->c->base, *(char **)p);
            free(*(char **)p);
            *(char **)p = abs;
        }
        break;
    case PT_KEY_INT:
        if (get_long(ld, v, k->min, k->max, 10, &n) == 0)
            *(int *)p = (int)n;
        break;
    case PT_KEY_LONG:
    case PT_KEY_FLAGS:
        if (get_long(ld, v, k->min, k->max, k->type == PT_KEY_FLAGS ? 0 : 10,
                     &n) == 0)
            *(long *)p = n;
        break;
    case PT_KEY_BOOL:
        get_bool(ld, v, (bool *)p);
        break;
    case PT_KEY_INTBOOL:
        if (get_bool(ld, v, &b) == 0)
            *(int *)p = b;
        break;
    case PT_KEY_KV:
        get_kvlist(ld, v, (struct pt_kvlist *)p, KV_PLAIN);
        break;
    case PT_KEY_HEADERS:
        get_kvlist(ld, v, (struct pt_kvlist *)p, KV_HEADERS);
        break;
    case PT_KEY_MIMES:
        get_kvlist(ld, v, (struct pt_kvlist *)p, KV_MIMETYPES);
        break;
    case PT_KEY_REJECTS:
        get_kvlist(ld, v, (struct pt_kvlist *)p, KV_REJECTS);
        break;
    case PT_KEY_CIDRS:
        get_cidrs(ld, v, (struct pt_cidrs *)p);
        break;
    }
}

/* Handles keys outside the table; returns false if key is not one. */
typedef bool special_fn(struct loader *ld, const char *key, json_t *v,
                        void *obj);

/* A warning, or an error under strict. */
__attribute__((format(printf, 2, 3)))
static void strict_key(struct loader *ld, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(ld, ld->strict, true, fmt, ap);
    va_end(ap);
}

/* A key that is not in scope's table nor taken by its special_fn: what
 * lwsws meant by it, or the key it is nearly. */
static void other_key(struct loader *ld, const struct pt_key *keys,
                      const char *const *extra, const char *scope, const char *name)
{
    const struct pt_lws_key *lk = pt_lws_key_find(scope, name);
    const char *tail = ld->strict ? " (strict)" : "; ignored";
    if (lk && lk->support == PT_LWS_REFUSED) {
        err_key(ld, "lwsws %s key \"%s\" asks for %s, which portico does not do: "
                "refused rather than serving HTTP in its place", scope, name, lk->note);
        return;
    }
    if (lk && lk->support == PT_LWS_UNSUPPORTED) {
        strict_key(ld, "lwsws %s key \"%s\" is not supported by portico (%s)%s", scope,
                   name, lk->note, tail);
        return;
    }
    if (lk) {
        strict_key(ld, "lwsws %s key \"%s\" is done differently in portico: %s%s", scope,
                   name, lk->note, tail);
        return;
    }
    const char *known[256];
    size_t n = 0;
    for (const struct pt_key *k = keys; k->name && n < 128; k++)
        known[n++] = k->name;
    for (; *extra && n < 160; extra++)
        known[n++] = *extra;
    if (strcmp(scope, "mount") == 0)
        n += pt_handler_key_names(known + n, sizeof known / sizeof known[0] - n);
    n += pt_lws_key_names(scope, known + n, sizeof known / sizeof known[0] - n);
    const char *near = pt_key_suggest(name, known, n);
    if (near && pt_key_is_security(near))
        err_key(ld, "unknown %s key \"%s\"; did you mean \"%s\"? (an access-control key "
                "is never ignored when misspelt)", scope, name, near);
    else if (near)
        strict_key(ld, "unknown %s key \"%s\"; did you mean \"%s\"?%s", scope, name, near,
                   ld->strict ? " (strict)" : " ignored");
    else
        strict_key(ld, "unknown %s key \"%s\"%s", scope, name, tail);
}

static void walk_object(struct loader *ld, json_t *o, const struct pt_key *keys,
                        const char *const *extra, special_fn *special,
                        const char *what, void *obj)
{
    const char *name;
    json_t *v;

    json_object_foreach(o, name, v) {
        const struct pt_key *k = keys;

        while (k->name && strcmp(k->name, name) != 0)
            k++;
        push_key(ld, name);
        if (k->name)
            set_key(ld, k, v, obj);
        else if (special && special(ld, name, v, obj))
            ;
        else
            other_key(ld, keys, extra, what, name);
        pop(ld);
    }
}

/* ---- mounts ------------------------------------------------------------ */

/* "~pattern" / "~*pattern": compiled as written, never normalized as a
 * path (the path is at its value). */
static void compile_mountpoint(struct loader *ld, struct pt_mount *m)
{
    char why[256];
    size_t off;
    bool caseless;
    m->regex = pt_regex_compile(m->mountpoint, why, sizeof why, &off);
    if (!m->regex)
        err_value(ld, "\"mountpoint\": invalid regular expression: %s at offset %zu of "
                  "\"%s\"", why, off, pt_regex_pattern(m->mountpoint, &caseless));
}

static void check_mountpoint(struct loader *ld, json_t *o, struct pt_mount *m)
{
    if (!json_object_get(o, "mountpoint")) {
        err_value(ld, "mount: missing required key \"mountpoint\"");
        return;
    }
    if (!m->mountpoint)
        return; /* reported already */
    push_key(ld, "mountpoint");
    if (pt_regex_spec(m->mountpoint)) {
        compile_mountpoint(ld, m);
    } else if (m->mountpoint[0] != '/') {
        err_value(ld, "\"mountpoint\": \"%s\" must start with '/'", m->mountpoint);
    } else {
        size_t n = strlen(m->mountpoint);
        while (n > 1 && m->mountpoint[n - 1] == '/')
            m->mountpoint[--n] = '\0';
        m->mountpoint_len = n;
    }
    pop(ld);
    if (pt_regex_spec(m->mountpoint) && m->exact_match) {
        push_key(ld, "exact-match");
        warn_key(ld, "\"exact-match\": a regular expression says itself what it matches "
                 "(anchor it: \"~^/x$\"); ignored");
        pop(ld);
    }
}

static const struct pt_key *find_key(const struct pt_key *keys, const char *name)
{
    for (; keys && keys->name; keys++)
        if (strcmp(keys->name, name) == 0)
            return keys;
    return NULL;
}

/* One origin string: its handler and target.  Returns the handler or
 * NULL (reported). */
static const struct pt_handler *origin_handler(struct loader *ld, const char *origin,
                                               size_t *slen)
{
    const struct pt_handler *h = pt_handler_for_origin(origin, slen);
    if (!h)
        err_value(ld, "\"origin\": \"%s\": unknown origin scheme (expected %s)", origin,
                  pt_handler_schemes());
    else if (origin[*slen] == '\0')
        err_value(ld, "\"origin\": \"%s\": origin has nothing after the scheme", origin);
    else
        return h;
    return NULL;
}

/* "origin": ["http://a:1", "http://b:2"], for handlers that balance. */
static void origin_list(struct loader *ld, json_t *v, struct pt_mount *m)
{
    size_t i, slen;
    json_t *e;
    char what[96];
    if (json_array_size(v) == 0) {
        err_value(ld, "\"origin\": an empty list");
        return;
    }
    m->origins = xcalloc(json_array_size(v) * sizeof(*m->origins));
    m->origins_pos = xcalloc(json_array_size(v) * sizeof(*m->origins_pos));
    json_array_foreach(v, i, e) {
        push_index(ld, i);
        locate(ld, false, &m->origins_pos[i]);
        if (!json_is_string(e)) {
            err_value(ld, "\"origin\": element %zu must be a string, got %s", i,
                      describe(e, what, sizeof what));
        } else {
            const char *o = json_string_value(e);
            const struct pt_handler *h = origin_handler(ld, o, &slen);
            if (h && i == 0 && !pt_handler_takes_origin_list(h))
                err_value(ld, "\"origin\": %s mounts take one origin, not a list",
                          h->schemes[0]);
            else if (h && i > 0 && h != m->handler)
                err_value(ld, "\"origin\": \"%s\" is not a %s origin like the first",
                          o, m->handler ? m->handler->schemes[0] : "?");
            else if (h && i == 0)
                m->handler = h;
            m->origins[m->n_origins++] = xstrdup(o);
        }
        pop(ld);
    }
    if (m->n_origins && m->handler) {
        m->origin = xstrdup(m->origins[0]);
        m->origin_pos = m->origins_pos[0];
    }
}

/* m->target: the origin past its scheme; a relative file name is made
 * absolute. */
static void set_target(struct loader *ld, struct pt_mount *m)
{
    size_t slen;
    pt_handler_for_origin(m->origin, &slen);
    const char *t = m->origin + slen;
    free(m->target);
    m->target = (m->handler->flags & PT_HANDLER_TARGET_PATH) && *t && *t != '/'
                    ? path_join(ld->c->base, t) : xstrdup(t);
}

/* The origin picks the handler, whose keys the rest of the object may
 * use: it is read first. */
static void check_origin(struct loader *ld, json_t *o, struct pt_mount *m)
{
    json_t *v = json_object_get(o, "origin");
    size_t slen;

    if (!v) {
        err_value(ld, "mount: missing required key \"origin\"");
        return;
    }
    push_key(ld, "origin");
    /* The handler reports its own problems here at setup. */
    locate(ld, false, &m->origin_pos);
    if (json_is_array(v)) {
        origin_list(ld, v, m);
    } else if (get_str(ld, v, &m->origin) == 0) {
        m->handler = origin_handler(ld, m->origin, &slen);
    }
    if (m->handler && m->origin) {
        m->handler_slot = pt_handler_slot(m->handler);
        set_target(ld, m);
        if (m->handler->opts_size)
            m->opts = xcalloc(m->handler->opts_size);
    }
    pop(ld);
}

/* Keys outside the core's table: "origin" (read already), the handler's
 * own, and those of other handlers, which are named as such. */
static bool mount_special(struct loader *ld, const char *key, json_t *v, void *obj)
{
    struct pt_mount *m = obj;
    const struct pt_key *k;

    if (strcmp(key, "origin") == 0)
        return true;
    if (m->handler && (k = find_key(m->handler->keys, key))) {
        set_key(ld, k, v, m->opts);
        return true;
    }
    const struct pt_handler *other = pt_handler_for_key(key);
    if (!other)
        return false;
    if (m->handler) {
        const char *sep = strstr(m->origin, "://");
        int slen = sep ? (int)(sep - m->origin) + 3 : (int)strlen(m->origin);
        warn_key(ld, "\"%s\" is a key of %s mounts, not of %.*s ones; ignored", key,
                 other->schemes[0], slen, m->origin);
    }
    return true;
}

/* Remembers where each known key was written, for the handler's setup
 * messages (names point into the key tables: static). */
static void note_key_positions(struct loader *ld, json_t *o, struct pt_mount *m)
{
    const char *name;
    json_t *v;

    json_object_foreach(o, name, v) {
        const struct pt_key *k = find_key(mount_keys, name);
        if (!k && m->handler)
            k = find_key(m->handler->keys, name);
        if (!k)
            continue;
        GROW(m->keypos, m->n_keypos);
        struct pt_keypos *kp = &m->keypos[m->n_keypos++];
        kp->key = k->name;
        push_key(ld, name);
        locate(ld, false, &kp->pos);
        pop(ld);
    }
}

/* ---- captures in the origin of a regex mount --------------------------- */

/* Where the path of a target begins: a file name is all path; a URL's
 * follows its authority ("host:port", or the proxy's "unix:/x.sock:"). */
static size_t path_start(const struct pt_mount *m, const char *t)
{
    if (m->handler->flags & PT_HANDLER_TARGET_PATH)
        return 0;
    if (strncmp(t, "unix:", 5) == 0) {
        const char *colon = strchr(t + 5, ':');
        return colon ? (size_t)(colon + 1 - t) : strlen(t);
    }
    return strcspn(t, "/");
}

/* Where origin is cut: before the path segment of its first $N
 * ("file:///srv/$1/x" at "/$1/x"); its length when it has none; -1 when
 * a capture stands where it cannot (reported at the origin). */
static long capture_cut(struct loader *ld, const struct pt_mount *m, const char *origin)
{
    size_t slen;
    pt_handler_for_origin(origin, &slen);
    const char *t = origin + slen;
    const char *path = t + path_start(m, t);
    if (memchr(origin, '$', (size_t)(path - origin))) {
        err_value(ld, "\"origin\": \"%s\": a '$' in the scheme or host: captures "
                  "($1..$9) may stand in the path only", origin);
        return -1;
    }
    const char *ref = pt_regex_first_ref(path);
    if (!ref)
        return (long)strlen(origin);
    const char *cut = ref;
    while (cut > path && *cut != '/')
        cut--;
    if (*cut != '/' || cut == t) {
        err_value(ld, "\"origin\": \"%s\": the origin must name a directory or a "
                  "host before the path segment of its first capture "
                  "(\"file:///srv/sites/$1\", \"http://app/users/$1\")", origin);
        return -1;
    }
    return (long)(cut - origin);
}

static int count_refs(const char *s)
{
    int n = 0;
    for (const char *p = pt_regex_first_ref(s); p; p = pt_regex_first_ref(p + 2))
        n++;
    return n;
}

/* The template made of an origin's tail ("/$1/htdocs"), checked: a path
 * (a URL's is decoded: r->rest is), naming groups the pattern has.  NULL
 * when it is wrong (reported). */
static char *make_template(struct loader *ld, const struct pt_mount *m, const char *tail)
{
    bool url = !(m->handler->flags & PT_HANDLER_TARGET_PATH);
    size_t n = strlen(tail);
    char *t = xrealloc(NULL, n + 1);
    long len = url ? pt_percent_decode(tail, n, t) : (long)n;
    const char *bad = NULL;
    if (!url)
        memcpy(t, tail, n);
    if (url && strpbrk(tail, "?#"))
        bad = "captures fill in the path only: no query or fragment may follow one";
    else if (len < 0)
        bad = "a bad %-escape after the first capture";
    t[len < 0 ? 0 : len] = '\0';
    for (long i = 0; !bad && i < len; i++)
        if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f)
            bad = "a control byte after the first capture";
    if (!bad && count_refs(t) != count_refs(tail))
        bad = "\"%24\" before a digit would read as a capture";
    if (bad) {
        err_value(ld, "\"origin\": \"%s\": %s", m->origin, bad);
        free(t);
        return NULL;
    }
    int max = pt_regex_max_ref(t);
    unsigned groups = pt_regex_groups(m->regex);
    if (max > (int)groups) {
        err_value(ld, "\"origin\": $%d names a capture the mountpoint's pattern does not "
                  "have (it has %u group%s)", max, groups, groups == 1 ? "" : "s");
        free(t);
        return NULL;
    }
    return t;
}

/* A regex mount whose origin names captures: the origin (each of a list,
 * which must end alike) is cut before them, and the rest kept as the
 * template of r->rest (and, as written, for -T).  $N in the origin of a
 * prefix mount is text. */
static void check_captures(struct loader *ld, struct pt_mount *m)
{
    if (!m->handler || !m->origin || !m->mountpoint)
        return;
    push_key(ld, "origin");
    if (!pt_regex_spec(m->mountpoint) && pt_regex_first_ref(m->origin))
        warn_value(ld, "\"origin\": \"%s\": $N is text here: captures are filled in "
                   "for a regular-expression mountpoint (\"~...\") only", m->origin);
    long cut = m->regex ? capture_cut(ld, m, m->origin) : -1;
    const char *tail = cut >= 0 ? m->origin + cut : "";
    bool ok = *tail != '\0';
    if (ok && !(m->handler->flags & PT_HANDLER_CAPTURES)) {
        err_value(ld, "\"origin\": %s origins take no captures ($1..$9)", m->handler->name);
        ok = false;
    }
    for (size_t i = 0; ok && i < m->n_origins; i++) {
        long c = capture_cut(ld, m, m->origins[i]);
        ok = c >= 0 && strcmp(m->origins[i] + c, tail) == 0;
        if (c >= 0 && !ok)
            err_value(ld, "\"origin\": \"%s\": the origins of a list must all end in "
                      "\"%s\" from their first capture on", m->origins[i], tail);
    }
    if (ok)
        m->rest_tmpl = make_template(ld, m, tail);
    if (m->rest_tmpl) {
        m->origin_tail = xstrdup(tail);
        size_t tl = strlen(tail);
        for (size_t i = 0; i < m->n_origins; i++)
            m->origins[i][strlen(m->origins[i]) - tl] = '\0';
        m->origin[cut] = '\0';
        set_target(ld, m);
    }
    pop(ld);
}

static void parse_mount(struct loader *ld, json_t *o, struct pt_mount *m)
{
    locate(ld, false, &m->pos);
    m->origin_pos = m->pos;
    m->handler_slot = -1;
    check_origin(ld, o, m);
    walk_object(ld, o, mount_keys, mount_extra, mount_special, "mount", m);
    check_mountpoint(ld, o, m);
    check_captures(ld, m);
    note_key_positions(ld, o, m);
}

static void parse_mounts(struct loader *ld, json_t *v, struct pt_vhost *vh)
{
    char what[96];
    size_t i;
    json_t *e;

    if (!json_is_array(v)) {
        err_value(ld, "\"mounts\": expected an array, got %s",
                  describe(v, what, sizeof what));
        return;
    }
    json_array_foreach(v, i, e) {
        push_index(ld, i);
        if (!json_is_object(e)) {
            err_value(ld, "\"mounts\": element %zu must be an object, got %s",
                      i, describe(e, what, sizeof what));
        } else {
            GROW(vh->mounts, vh->n_mounts);
            struct pt_mount *m = &vh->mounts[vh->n_mounts++];
            memset(m, 0, sizeof *m);
            parse_mount(ld, e, m);
            vh->has_regex = vh->has_regex || m->regex;
        }
        pop(ld);
    }
}

/* ---- vhosts ------------------------------------------------------------ */

static void parse_errdoc(struct loader *ld, const char *key, json_t *v,
                         struct pt_vhost *vh)
{
    const char *num = key + strlen("error-document-");
    char *path = NULL;
    char what[96];

    if (strlen(num) != 3 || strspn(num, "0123456789") != 3 ||
        num[0] < '4' || num[0] > '5') {
        err_key(ld, "\"%s\": the status must be a 4xx or 5xx code", key);
        return;
    }
    if (json_is_string(v) && json_string_value(v)[0] == '/') {
        path = xstrdup(json_string_value(v));
    } else {
        err_value(ld, "\"%s\": expected a URL path starting with '/', got %s",
                  key, describe(v, what, sizeof what));
        return;
    }
    GROW(vh->errdocs, vh->n_errdocs);
    vh->errdocs[vh->n_errdocs].status = atoi(num);
    vh->errdocs[vh->n_errdocs].path = path;
    vh->n_errdocs++;
}

/* {"plugin-name": {"option": "value", ...}, ...}, or lwsws's array of
 * such objects. */
static void wsproto_object(struct loader *ld, json_t *o, struct pt_vhost *vh)
{
    const char *name;
    json_t *opts;
    char what[96];
    json_object_foreach(o, name, opts) {
        push_key(ld, name);
        GROW(vh->ws_protocols, vh->n_ws_protocols);
        struct pt_wsproto *p = &vh->ws_protocols[vh->n_ws_protocols++];
        memset(p, 0, sizeof(*p));
        p->name = xstrdup(name);
        locate(ld, true, &p->pos);
        if (json_is_object(opts))
            kv_object(ld, opts, &p->opts, KV_PLAIN, name);
        else
            err_value(ld, "\"ws-protocols\": the options of \"%s\" must be an object "
                      "like {\"status\": \"ok\"}, got %s", name,
                      describe(opts, what, sizeof what));
        pop(ld);
    }
}

static void parse_wsprotos(struct loader *ld, json_t *v, struct pt_vhost *vh)
{
    char what[96];
    size_t i;
    json_t *e;
    if (json_is_object(v)) {
        wsproto_object(ld, v, vh);
        return;
    }
    if (!json_is_array(v)) {
        err_value(ld, "\"ws-protocols\": expected an array of objects, got %s",
                  describe(v, what, sizeof what));
        return;
    }
    json_array_foreach(v, i, e) {
        push_index(ld, i);
        if (json_is_object(e))
            wsproto_object(ld, e, vh);
        else
            err_value(ld, "\"ws-protocols\": element %zu must be an object, got %s", i,
                      describe(e, what, sizeof what));
        pop(ld);
    }
}

static bool vhost_special(struct loader *ld, const char *key, json_t *v,
                          void *obj)
{
    if (strcmp(key, "mounts") == 0)
        parse_mounts(ld, v, obj);
    else if (strcmp(key, "ws-protocols") == 0)
        parse_wsprotos(ld, v, obj);
    else if (strncmp(key, "error-document-", 15) == 0)
        parse_errdoc(ld, key, v, obj);
    else
        return false;
    return true;
}

static void check_vhost(struct loader *ld, json_t *o, struct pt_vhost *vh)
{
    struct pt_config *c = ld->c;

    if (!json_object_get(o, "name"))
        err_value(ld, "vhost: missing required key \"name\"");
    if (!json_object_get(o, "port") && !vh->unix_socket)
        err_value(ld, "vhost%s%s: missing required key \"port\"",
                  vh->name ? " " : "", vh->name ? vh->name : "");
    if (vh->unix_socket && (!vh->interface || (vh->interface[0] != '/' &&
                                               vh->interface[0] != '@') ||
                            strlen(vh->interface) >= sizeof(((struct sockaddr_un *)0)->sun_path))) {
        push_key(ld, "unix-socket");
        err_value(ld, "\"unix-socket\": needs \"interface\" to be the socket's absolute "
                  "path (or \"@name\", abstract), shorter than 108 bytes");
        pop(ld);
    }
    if (vh->unix_socket_perms && !vh->unix_socket) {
        push_key(ld, "unix-socket-perms");
        err_value(ld, "\"unix-socket-perms\": only with \"unix-socket\"");
        pop(ld);
    }
    if (vh->unix_socket && vh->unix_socket_perms) {
        char *colon = strchr(vh->unix_socket_perms, ':');
        push_key(ld, "unix-socket-perms");
        if (!colon || colon == vh->unix_socket_perms || !colon[1])
            err_value(ld, "\"unix-socket-perms\": expected \"user:group\", got \"%s\"",
                      vh->unix_socket_perms);
        else {
            *colon = '\0';
            if (!getpwnam(vh->unix_socket_perms))
                err_value(ld, "\"unix-socket-perms\": no user \"%s\" on this host",
                          vh->unix_socket_perms);
            else if (!getgrnam(colon + 1))
                err_value(ld, "\"unix-socket-perms\": no group \"%s\" on this host",
                          colon + 1);
            *colon = ':';
        }
        pop(ld);
    }
    if (vh->name && !vh->name[0]) {
        push_key(ld, "name");
        err_value(ld, "\"name\": must not be empty");
        pop(ld);
    }
    if (vh->interface && !vh->interface[0]) {
        push_key(ld, "interface");
        err_value(ld, "\"interface\": must not be empty (omit it to listen "
                  "on all addresses)");
        pop(ld);
    }
    if (vh->bind_iface) {
        /* A device, not an address: "lo", "eth1". */
        unsigned char buf[sizeof(struct in6_addr)];
        if (!vh->interface || inet_pton(AF_INET, vh->interface, buf) == 1 ||
            inet_pton(AF_INET6, vh->interface, buf) == 1 || !if_nametoindex(vh->interface)) {
            push_key(ld, "bind-iface");
            err_value(ld, "\"bind-iface\": needs \"interface\" to name a network "
                      "interface of this host (\"%s\" is not one)",
                      vh->interface ? vh->interface : "");
            pop(ld);
        } else {
            for (size_t i = 0; i < vh->n_mounts; i++)
                vh->mounts[i].bind_device = vh->interface;
        }
    }
    if (!vh->name || !vh->name[0] || !vh->port)
        return;
    for (size_t i = 0; i < c->n_vhosts; i++) {
        const struct pt_vhost *prev = &c->vhosts[i];
        if (prev->name && prev->port == vh->port &&
            strcasecmp(prev->name, vh->name) == 0) {
            push_key(ld, "name");
            err_value(ld, "\"name\": duplicate vhost \"%s\" on port %d "
                      "(first defined at %s:%d:%d)", vh->name, vh->port,
                      prev->pos.file, prev->pos.line, prev->pos.col);
            pop(ld);
            break;
        }
    }
}

static void apply_ored(struct loader *ld, size_t index, struct pt_vhost *vh);
static void vhost_free(struct pt_vhost *vh, bool teardown);

/* ignore-missing-cert (lwsws): while the certificate or key does not
 * exist yet (the ACME bootstrap: the vhost that will get it is served
 * once a reload finds it), the vhost is skipped with a warning. */
static bool cert_missing(struct loader *ld, const struct pt_vhost *vh)
{
    const char *f = NULL;
    struct stat st;
    if (!vh->ignore_missing_cert || !vh->ssl_cert)
        return false;
    if (stat(vh->ssl_cert, &st) < 0 && errno == ENOENT)
        f = vh->ssl_cert;
    else if (vh->ssl_key && stat(vh->ssl_key, &st) < 0 && errno == ENOENT)
        f = vh->ssl_key;
    if (!f)
        return false;
    pt_diag_warn(ld->d, vh->pos.file, vh->pos.line, vh->pos.col,
                 "vhost \"%s\": \"%s\" does not exist (yet): the vhost is skipped "
                 "(ignore-missing-cert) until a reload finds it", vh->name ? vh->name : "",
                 f);
    return true;
}

static void parse_vhost(struct loader *ld, json_t *o, size_t index)
{
    struct pt_config *c = ld->c;
    struct pt_vhost vh;
    char what[96];

    if (!json_is_object(o)) {
        err_value(ld, "\"vhosts\": element %zu must be an object, got %s",
                  index, describe(o, what, sizeof what));
        return;
    }
    memset(&vh, 0, sizeof vh);
    vh.keepalive_timeout = 60;
    vh.access_log_fd = -1;
    vh.ip_limit_wsi = vh.ip_limit_ah = vh.ip_limit_burst = -1;
    locate(ld, false, &vh.pos);
    walk_object(ld, o, vhost_keys, vhost_extra, vhost_special, "vhost", &vh);
    apply_ored(ld, index, &vh);
    check_vhost(ld, o, &vh);
    if (cert_missing(ld, &vh)) {
        vhost_free(&vh, false);
        return;
    }

    GROW(c->vhosts, c->n_vhosts);
    GROW(ld->vsrcs, c->n_vhosts);
    vh.index = (uint32_t)c->n_vhosts + 1;
    c->vhosts[c->n_vhosts] = vh;
    ld->vsrcs[c->n_vhosts] = (struct vsrc){ ld->src, index };
    c->n_vhosts++;
}

/* ---- files ------------------------------------------------------------- */

static void walk_vhosts(struct loader *ld, json_t *v)
{
    char what[96];
    json_t *e;
    size_t i;

    if (!json_is_array(v)) {
        err_value(ld, "\"vhosts\": expected an array, got %s",
                  describe(v, what, sizeof what));
        return;
    }
    json_array_foreach(v, i, e) {
        push_index(ld, i);
        parse_vhost(ld, e, i);
        pop(ld);
    }
}

/* "log-level": a level's name (or lwsws's bit mask, which is not ours:
 * an error naming the names). */
/* One plugin-dir (relative to DIR), kept with its place for messages. */
static void plugin_dir_add(struct loader *ld, struct pt_global *g, json_t *v)
{
    static const struct pt_key path = { "plugin-dir", PT_KEY_PATH, 0, 0, 0 };
    char *dir = NULL;
    set_key(ld, &path, v, &dir);
    if (!dir)
        return;
    GROW(g->plugin_dirs, g->n_plugin_dirs);
    GROW(g->plugin_dir_pos, g->n_plugin_dirs);
    g->plugin_dirs[g->n_plugin_dirs] = dir;
    locate(ld, false, &g->plugin_dir_pos[g->n_plugin_dirs]);
    g->n_plugin_dirs++;
}

/* "plugin-dir": a directory or a list of them; conf.d files may add more
 * (lwsws: a package drops its own plugin-dir in). */
static void plugin_dirs(struct loader *ld, struct pt_global *g, json_t *v)
{
    char what[96];
    size_t i;
    json_t *e;
    if (!json_is_array(v)) {
        plugin_dir_add(ld, g, v);
        return;
    }
    json_array_foreach(v, i, e) {
        push_index(ld, i);
        if (json_is_string(e))
            plugin_dir_add(ld, g, e);
        else
            err_value(ld, "\"plugin-dir\": element %zu must be a directory name, got %s",
                      i, describe(e, what, sizeof what));
        pop(ld);
    }
}

static bool global_special(struct loader *ld, const char *key, json_t *v, void *obj)
{
    struct pt_global *g = obj;
    if (strcmp(key, "plugin-dir") == 0) {
        plugin_dirs(ld, g, v);
        return true;
    }
    if (strcmp(key, "error-log") == 0) {
        /* A file name (relative to DIR), or "syslog". */
        static const struct pt_key path = { "error-log", PT_KEY_PATH, 0, 0, 0 };
        static const struct pt_key word = { "error-log", PT_KEY_STR, 0, 0, 0 };
        set_key(ld, json_is_string(v) && strcmp(json_string_value(v), "syslog") == 0
                        ? &word : &path, v, &g->error_log);
        return true;
    }
    if (strcmp(key, "username") == 0 || strcmp(key, "groupname") == 0) {
        /* Resolved at load, so that -t says what start would fail on. */
        bool user = key[0] == 'u';
        static const struct pt_key str = { "", PT_KEY_STR, 0, 0, 0 };
        char **dst = user ? &g->username : &g->groupname;
        set_key(ld, &str, v, dst);
        if (*dst && (user ? getpwnam(*dst) == NULL : getgrnam(*dst) == NULL))
            err_value(ld, "\"%s\": no %s \"%s\" on this host", key,
                      user ? "user" : "group", *dst);
        return true;
    }
    if (strcmp(key, "strict") == 0) {
        get_bool(ld, v, &g->strict); /* read ahead of the rest by load_file() */
        return true;
    }
    if (strcmp(key, "log-level") != 0)
        return false;
    char *name = NULL;
    if (get_str(ld, v, &name) == 0) {
        g->log_level = pt_log_parse_level(name);
        if (g->log_level < 0)
            err_value(ld, "\"log-level\": unknown level \"%s\" (error, warn, notice, "
                      "info, debug)", name);
    }
    free(name);
    return true;
}

/* A "global" in a conf.d file: only "plugin-dir" is read there. */
static void conf_d_global(struct loader *ld, json_t *v)
{
    const char *name;
    json_t *e;
    if (!json_is_object(v)) {
        warn_key(ld, "\"global\" is only read from %s/conf; ignored", ld->c->dir);
        return;
    }
    json_object_foreach(v, name, e) {
        push_key(ld, name);
        if (strcmp(name, "plugin-dir") == 0)
            plugin_dirs(ld, &ld->c->g, e);
        else
            warn_key(ld, "\"%s\": a conf.d file's \"global\" may only add "
                     "\"plugin-dir\"; the rest is read from %s/conf; ignored", name,
                     ld->c->dir);
        pop(ld);
    }
}

static void walk_root(struct loader *ld, json_t *root, bool is_conf)
{
    const char *name;
    char what[96];
    json_t *v;

    if (!json_is_object(root)) {
        err_value(ld, "expected an object at the top level, got %s",
                  describe(root, what, sizeof what));
        return;
    }
    json_object_foreach(root, name, v) {
        push_key(ld, name);
        if (strcmp(name, "global") == 0 && !is_conf) {
            conf_d_global(ld, v);
        } else if (strcmp(name, "global") == 0) {
            if (json_is_object(v))
                walk_object(ld, v, global_keys, global_extra, global_special,
                            "global", &ld->c->g);
            else
                err_value(ld, "\"global\": expected an object, got %s",
                          describe(v, what, sizeof what));
        } else if (strcmp(name, "vhosts") == 0) {
            walk_vhosts(ld, v);
        } else {
            warn_key(ld, "unknown top-level key \"%s\"; ignored", name);
        }
        pop(ld);
    }
}

/* Keys lwsws accumulates when repeated (OR of every value). */
static const char *const ored_keys[] = {
    "ssl-option-set", "ssl-option-clear", "ssl-client-option-set",
    "ssl-client-option-clear", NULL,
};

static void free_ored(struct loader *ld)
{
    for (size_t i = 0; i < ld->n_ored; i++) {
        for (size_t k = 0; k < ld->ored[i].n; k++)
            free(ld->ored[i].values[k]);
        free(ld->ored[i].values);
        free(ld->ored[i].pos);
    }
    free(ld->ored);
    ld->ored = NULL;
    ld->n_ored = 0;
}

/* pt_json_duplicates(): a repeated key is an error naming both places,
 * except the ones lwsws ORs, kept for parse_vhost(). */
static void on_repeated(void *arg, const struct pt_jstep *path, size_t depth,
                        const char *key, const struct pt_json_occ *occ, size_t n)
{
    struct loader *ld = arg;
    const char *file = ld->srcs[ld->src].name;
    const char *const *ok = ored_keys;
    while (*ok && strcmp(*ok, key) != 0)
        ok++;
    if (*ok && depth == 2 && path[0].key && strcmp(path[0].key, "vhosts") == 0 &&
        !path[1].key) {
        GROW(ld->ored, ld->n_ored);
        struct ored *o = &ld->ored[ld->n_ored++];
        *o = (struct ored){ .index = path[1].index, .key = *ok, .n = n - 1 };
        o->values = xcalloc((n - 1) * sizeof *o->values);
        o->pos = xcalloc((n - 1) * sizeof *o->pos);
        for (size_t k = 0; k + 1 < n; k++) {
            o->values[k] = xstrndup(occ[k].value, occ[k].value_len);
            o->pos[k] = (struct pt_srcpos){ file, occ[k].line, occ[k].col };
        }
        return;
    }
    for (size_t k = 1; k < n; k++) {
        ld->errors++;
        pt_diag_error(ld->d, file, occ[k].line, occ[k].col,
                      "duplicate key \"%s\" (also at %s:%d:%d); a key may appear once in "
                      "an object", key, file, occ[0].line, occ[0].col);
    }
}

/* The earlier values of a repeated ssl-option-set / -clear, ORed in. */
static void apply_ored(struct loader *ld, size_t index, struct pt_vhost *vh)
{
    for (size_t i = 0; i < ld->n_ored; i++) {
        struct ored *o = &ld->ored[i];
        long *dst = strcmp(o->key, "ssl-option-set") == 0     ? &vh->ssl_option_set
                    : strcmp(o->key, "ssl-option-clear") == 0 ? &vh->ssl_option_clear
                                                              : NULL;
        if (o->index != index || !dst)
            continue; /* the client ones are not supported (warned once) */
        for (size_t k = 0; k < o->n; k++) {
            char *t = o->values[k];
            size_t l = strlen(t);
            if (l >= 2 && t[0] == '"' && t[l - 1] == '"') {
                t[l - 1] = '\0';
                t++;
            }
            long v;
            if (parse_long(t, 0, &v) < 0 || v < 0) {
                ld->errors++;
                pt_diag_error(ld->d, o->pos[k].file, o->pos[k].line, o->pos[k].col,
                              "\"%s\": expected a number (decimal or 0x...), got \"%s\"",
                              o->key, t);
                continue;
            }
            *dst |= v;
        }
    }
}

static int read_file(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t n = 0, cap = 0;
    char *buf = NULL;

    if (fd < 0)
        return -1;
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = xrealloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            free(buf);
            errno = e;
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *out = buf;
    *len = n;
    return 0;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    return true;
}

static void load_file(struct loader *ld, const char *path, bool is_conf)
{
    struct pt_config *c = ld->c;
    json_error_t jerr;
    size_t len;
    char *text;

    if (read_file(path, &text, &len) < 0) {
        err_file(ld, path, "cannot read config file: %s", strerror(errno));
        return;
    }
    GROW(c->files, c->n_files);
    c->files[c->n_files] = xstrdup(path);
    GROW(ld->srcs, ld->n_srcs);
    ld->srcs[ld->n_srcs] = (struct src){ c->files[c->n_files], text, len };
    ld->src = ld->n_srcs++;
    c->n_files++;

    /* A file of only comments is how one disables a vhost: fine. */
    pt_json_strip_comments(text, len);
    if (blank(text, len))
        return;
    /* Repeated keys are found by our own scan, which knows where each is
     * (jansson keeps the last value of a repeated key). */
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (!root) {
        ld->errors++;
        pt_diag_error(ld->d, path, jerr.line > 0 ? jerr.line : 0,
                      jerr.column > 0 ? jerr.column : 0, "invalid JSON: %s",
                      jerr.text);
        return;
    }
    pt_json_duplicates(text, len, on_repeated, ld);
    /* "strict" applies to the whole configuration, keys before it too. */
    json_t *g = is_conf && json_is_object(root) ? json_object_get(root, "global") : NULL;
    json_t *strict = json_is_object(g) ? json_object_get(g, "strict") : NULL;
    bool on;
    char buf[32];
    const char *t = strict ? scalar_text(strict, buf, sizeof buf) : NULL;
    if (t && pt_parse_bool(t, &on) == 0 && on)
        ld->strict = true;
    ld->depth = 0;
    walk_root(ld, root, is_conf);
    json_decref(root);
    free_ored(ld);
    /* The memo's steps name keys of root: late messages (set_up) start it
     * afresh. */
    memset(&ld->memo, 0, sizeof ld->memo);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Editors' backups and dotfiles are not configuration. */
static bool wanted(const char *name)
{
    size_t n = strlen(name);

    return n > 0 && name[0] != '.' && name[n - 1] != '~';
}

static void load_confd(struct loader *ld)
{
    char *dpath = path_join(ld->c->dir, "conf.d");
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    struct stat st;
    DIR *dh = opendir(dpath);

    if (!dh) {
        if (errno != ENOENT)
            err_file(ld, dpath, "cannot read directory: %s",
                     strerror(errno));
        free(dpath);
        return;
    }
    while ((de = readdir(dh))) {
        if (!wanted(de->d_name))
            continue;
        char *p = path_join(dpath, de->d_name);
        if (stat(p, &st) < 0) {
            pt_diag_warn(ld->d, p, 0, 0, "skipped: %s", strerror(errno));
            free(p);
        } else if (!S_ISREG(st.st_mode)) {
            free(p);
        } else {
            GROW(names, n);
            names[n++] = p;
        }
    }
    closedir(dh);
    if (n) /* an empty conf.d: names is NULL, which qsort must not get */
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        load_file(ld, names[i], false);
        free(names[i]);
    }
    free(names);
    free(dpath);
}

/* ---- assembly ---------------------------------------------------------- */

static void build_listens(struct loader *ld)
{
    struct pt_config *c = ld->c;
    for (size_t i = 0; i < c->n_vhosts; i++) {
        struct pt_vhost *vh = &c->vhosts[i];
        struct pt_listen *l = NULL;
        bool tls = vh->ssl_cert != NULL;

        if (tls != (vh->ssl_key != NULL)) {
            pt_diag_error(ld->d, vh->pos.file, vh->pos.line, vh->pos.col,
                          "vhost \"%s\": \"%s\" needs \"%s\" too", vh->name,
                          tls ? "host-ssl-cert" : "host-ssl-key",
                          tls ? "host-ssl-key" : "host-ssl-cert");
            ld->errors++;
        }

        for (size_t j = 0; j < c->n_listens && !l; j++)
            if (c->listens[j].port == vh->port &&
                pt_str_same(c->listens[j].interface, vh->interface))
                l = &c->listens[j];
        if (!l) {
            GROW(c->listens, c->n_listens);
            l = &c->listens[c->n_listens++];
            memset(l, 0, sizeof *l);
            l->port = vh->port;
            l->interface = vh->interface ? xstrdup(vh->interface) : NULL;
            l->tls = tls;
            l->unix_socket = vh->unix_socket;
        } else if (l->tls != tls) {
            /* One socket speaks one thing: TLS or plaintext. */
            pt_diag_error(ld->d, vh->pos.file, vh->pos.line, vh->pos.col,
                          "vhost \"%s\": port %d mixes TLS and plaintext vhosts "
                          "(\"%s\" is %s)", vh->name, vh->port, l->vhosts[0]->name,
                          l->tls ? "TLS" : "plaintext");
            ld->errors++;
        }
        GROW(l->vhosts, l->n_vhosts);
        l->vhosts[l->n_vhosts++] = vh;
        l->bind_device = l->bind_device || vh->bind_iface;
        l->proxy_protocol = l->proxy_protocol || vh->proxy_protocol;
        if (vh->unix_socket_perms && !l->unix_perms)
            l->unix_perms = vh->unix_socket_perms;
        if (l->unix_socket != vh->unix_socket) {
            pt_diag_error(ld->d, vh->pos.file, vh->pos.line, vh->pos.col,
                          "vhost \"%s\": \"%s\" is a unix socket for one vhost and an "
                          "address for another", vh->name, vh->interface);
            ld->errors++;
        }
    }
}

/* ---- access logs ------------------------------------------------------- */

/* Points the path at key of vhost i, or of "global" when i is
 * c->n_vhosts, for a message after the files were walked. */
static void at_key(struct loader *ld, size_t i, const char *key)
{
    memset(&ld->memo, 0, sizeof ld->memo);
    ld->depth = 0;
    if (i < ld->c->n_vhosts) {
        ld->src = ld->vsrcs[i].src;
        push_key(ld, "vhosts");
        push_index(ld, ld->vsrcs[i].index);
    } else {
        ld->src = 0; /* "global" is read from conf, the first file */
        push_key(ld, "global");
    }
    push_key(ld, key);
}

/* The "access-log-format" of vhost i (or of "global"), parsed once for
 * every request to come; NULL when it is wrong (reported). */
static const struct pt_logfmt *access_log_format(struct loader *ld, size_t i,
                                                 const char *spec)
{
    char why[200];
    struct pt_logfmt *f = pt_logfmt_parse(spec, why, sizeof why);
    if (f) {
        pt_access_log_keep(ld->c, f);
        return f;
    }
    at_key(ld, i, "access-log-format");
    err_value(ld, "\"access-log-format\": %s", why);
    ld->depth = 0;
    return NULL;
}

/* Each vhost's access log: its own, else the global one, in its own
 * format, else the global one, else combined.  A file is opened once
 * however many vhosts write to it (accesslog.c). */
static void open_access_logs(struct loader *ld)
{
    struct pt_config *c = ld->c;
    size_t global = c->n_vhosts;
    const struct pt_logfmt *gfmt = c->g.access_log_format
        ? access_log_format(ld, global, c->g.access_log_format) : NULL;
    bool global_failed = false;

    for (size_t i = 0; i < c->n_vhosts; i++) {
        struct pt_vhost *vh = &c->vhosts[i];
        const char *path = vh->access_log ? vh->access_log : c->g.access_log;

        vh->access_log_fmt = vh->access_log_format
            ? access_log_format(ld, i, vh->access_log_format) : gfmt;
        if (!path || (!vh->access_log && global_failed))
            continue;
        int fd = pt_access_log_open(c, path);
        if (fd >= 0) {
            vh->access_log_fd = fd;
            continue;
        }
        if (!vh->access_log)
            global_failed = true; /* reported once */
        at_key(ld, vh->access_log ? i : global, "access-log");
        err_value(ld, "\"access-log\": cannot open \"%s\": %s", path, strerror(-fd));
        ld->depth = 0;
    }
}

/* Only once everything is valid: mounts open what they serve, and access
 * logs are opened (shared O_APPEND fds, so lines from threads never mix). */
static void set_up(struct loader *ld)
{
    struct pt_config *c = ld->c;

    ld->errors += pt_handler_config_init(c, ld->d); /* plugins load here */
    for (size_t i = 0; i < c->n_vhosts; i++)
        ld->errors += pt_mount_setup_vhost(c, &c->vhosts[i], ld->d);

    for (size_t i = 0; i < c->n_vhosts; i++)
        if (c->vhosts[i].ssl_cert &&
            pt_tls_vhost_setup_shared(&c->vhosts[i], c->vhosts, i, ld->d) < 0)
            ld->errors++;
    for (size_t i = 0; i < c->n_listens && !ld->errors; i++)
        if (pt_tls_pin(c->listens[i].vhosts[0]) < 0)
            ld->errors++;

    open_access_logs(ld);
}

/* An error document in a directory mount: whether its file exists. */
static bool errdoc_missing(const struct pt_vhost *vh, const struct pt_errdoc *e,
                           const char **why)
{
    const struct pt_mount *m;
    const char *rest, *fail;
    size_t rest_len;
    struct stat st;
    struct pt_pool *pool = pt_pool_new(PT_POOL_STD); /* a regex mount's rest */
    enum pt_route rc = pt_mount_route(vh, e->path, strlen(e->path), pool, &m, &rest,
                                      &rest_len, &fail);
    bool gone = rc == PT_ROUTE_NONE;
    *why = "no mount serves that path";
    /* Not a directory mount (an archive, a program, a backend), or a
     * pattern that gave up: asked at request time. */
    if (rc == PT_ROUTE_OK && pt_mount_is(m, "file://") && m->target &&
        stat(m->target, &st) == 0 && S_ISDIR(st.st_mode)) {
        char *f = path_join(m->target, *rest == '/' ? rest + 1 : rest);
        gone = stat(f, &st) < 0;
        free(f);
        *why = "no such file in its mount";
    }
    pt_pool_free(pool);
    return gone;
}

/* Whether b can never be reached for a's sake: the same mountpoint (and
 * kind), or the same pattern, which a (first in config order) wins. */
static bool same_mountpoint(const struct pt_mount *a, const struct pt_mount *b)
{
    if (!a->regex != !b->regex)
        return false;
    if (!a->regex)
        return strcmp(a->mountpoint, b->mountpoint) == 0 && a->exact_match == b->exact_match;
    bool ca, cb;
    const char *pa = pt_regex_pattern(a->mountpoint, &ca);
    const char *pb = pt_regex_pattern(b->mountpoint, &cb);
    return ca == cb && strcmp(pa, pb) == 0;
}

/* Configuration that can never take effect is said at load (warnings), as
 * is one that cannot work as written (errors). */
static void review_setup(struct loader *ld)
{
    struct pt_config *c = ld->c;
    for (size_t i = 0; i < c->n_vhosts; i++) {
        const struct pt_vhost *vh = &c->vhosts[i];
        const struct pt_srcpos *p = &vh->pos;
        if (vh->n_mounts == 0)
            pt_diag_warn(ld->d, p->file, p->line, p->col,
                         "vhost \"%s\" has no mounts: every request to it gets 404",
                         vh->name);
        for (size_t j = 0; j < vh->n_mounts; j++) {
            const struct pt_mount *m = &vh->mounts[j];
            const struct pt_global *g = &c->g;
            if (pt_mount_has_key(m, "cgi-chroot") && (g->username || g->uid > 0)) {
                const struct pt_srcpos *kp = pt_mount_key_pos(m, "cgi-chroot");
                ld->errors++;
                pt_diag_error(ld->d, kp->file, kp->line, kp->col,
                              "\"cgi-chroot\" needs portico to run as root (a chroot "
                              "takes CAP_SYS_CHROOT): without \"username\"/\"uid\", or "
                              "confine the program with systemd's RootDirectory=");
            }
        }
        for (size_t j = 0; j < vh->n_mounts; j++)
            for (size_t k = 0; k < j; k++) {
                const struct pt_mount *a = &vh->mounts[k], *b = &vh->mounts[j];
                if (!same_mountpoint(a, b))
                    continue;
                pt_diag_warn(ld->d, b->pos.file, b->pos.line, b->pos.col,
                             "mountpoint \"%s\" is the same as the one at %s:%d:%d (%s): "
                             "this mount is never reached", b->mountpoint, a->pos.file,
                             a->pos.line, a->pos.col, b->regex
                             ? "the first pattern that matches wins"
                             : "a trailing '/' makes no other");
                break;
            }
        for (size_t j = 0; j < vh->n_errdocs; j++) {
            const char *why;
            if (errdoc_missing(vh, &vh->errdocs[j], &why))
                pt_diag_warn(ld->d, p->file, p->line, p->col,
                             "vhost \"%s\": error-document-%d \"%s\": %s: the built-in "
                             "page is served instead", vh->name, vh->errdocs[j].status,
                             vh->errdocs[j].path, why);
        }
    }
    pt_regex_thread_cleanup(); /* the main thread matched error documents */
}

static void mount_free(struct pt_mount *m, bool teardown)
{
    if (teardown)
        pt_mount_teardown(m);
    if (m->handler)
        pt_keys_free(m->handler->keys, m->opts);
    free(m->opts);
    pt_keys_free(mount_keys, m);
    free(m->origin);
    free(m->target);
    free(m->keypos);
    for (size_t i = 0; i < m->n_origins; i++)
        free(m->origins[i]);
    free(m->origins);
    free(m->origins_pos);
    pt_regex_free(m->regex);
    free(m->rest_tmpl);
    free(m->origin_tail);
}

void pt_keys_free(const struct pt_key *keys, void *obj)
{
    for (; obj && keys && keys->name; keys++) {
        char *p = (char *)obj + keys->off;
        switch (keys->type) {
        case PT_KEY_STR:
        case PT_KEY_PATH:
            free(*(char **)p);
            *(char **)p = NULL;
            break;
        case PT_KEY_KV:
        case PT_KEY_HEADERS:
        case PT_KEY_MIMES:
        case PT_KEY_REJECTS:
            pt_kvlist_free((struct pt_kvlist *)p);
            break;
        case PT_KEY_CIDRS:
            pt_cidrs_free((struct pt_cidrs *)p);
            break;
        default:
            break;
        }
    }
}

const struct pt_srcpos *pt_mount_key_pos(const struct pt_mount *m, const char *key)
{
    for (size_t i = 0; i < m->n_keypos; i++)
        if (strcmp(m->keypos[i].key, key) == 0)
            return &m->keypos[i].pos;
    return &m->pos;
}

bool pt_mount_has_key(const struct pt_mount *m, const char *key)
{
    return pt_mount_key_pos(m, key) != &m->pos;
}

static void vhost_free(struct pt_vhost *vh, bool teardown)
{
    for (size_t i = 0; i < vh->n_mounts; i++)
        mount_free(&vh->mounts[i], teardown);
    free(vh->mounts);
    for (size_t i = 0; i < vh->n_errdocs; i++)
        free(vh->errdocs[i].path);
    free(vh->errdocs);
    for (size_t i = 0; i < vh->n_ws_protocols; i++) {
        free(vh->ws_protocols[i].name);
        pt_kvlist_free(&vh->ws_protocols[i].opts);
    }
    free(vh->ws_protocols);
    pt_kvlist_free(&vh->headers);
    pt_kvlist_free(&vh->extra_mimetypes);
    free(vh->unix_socket_perms);
    pt_cidrs_free(&vh->ip_allow);
    pt_cidrs_free(&vh->ip_deny);
    free(vh->name);
    free(vh->interface);
    free(vh->access_log);
    free(vh->access_log_format);
    free(vh->ssl_cert);
    free(vh->ssl_key);
    free(vh->ssl_ca);
    free(vh->ciphers);
    free(vh->tls13_ciphers);
    free(vh->ecdh_curve);
    pt_tls_vhost_free(vh);
}

/* teardown: whether the mounts were set up (and so must be torn down). */
static atomic_int n_live; /* snapshots loaded and not yet freed */

int pt_config_live(void)
{
    return atomic_load(&n_live);
}

static void config_free(struct pt_config *c, bool teardown)
{
    atomic_fetch_sub(&n_live, 1);
    if (teardown)
        pt_handler_config_fini(c); /* what config_init made (plugin instances) */
    for (size_t i = 0; i < c->n_vhosts; i++)
        vhost_free(&c->vhosts[i], teardown);
    free(c->vhosts);
    for (size_t i = 0; i < c->n_listens; i++) {
        free(c->listens[i].interface);
        free(c->listens[i].vhosts);
    }
    free(c->listens);
    pt_keys_free(global_keys, &c->g); /* every string and list of the table */
    for (size_t i = 0; i < c->g.n_rejects; i++)
        pt_regex_free(c->g.rejects[i].regex);
    free(c->g.rejects);
    free(c->g.error_log);              /* and the special ones' */
    pt_kvlist_free(&c->g.mimes);
    pt_access_logs_free(c);            /* the access log files and formats */
    free(c->g.username);
    free(c->g.groupname);
    for (size_t i = 0; i < c->g.n_plugin_dirs; i++)
        free(c->g.plugin_dirs[i]);
    free(c->g.plugin_dirs);
    free(c->g.plugin_dir_pos);
    for (size_t i = 0; i < c->n_files; i++)
        free(c->files[i]);
    free(c->files);
    free(c->dir);
    free(c->base);
    free(c);
}

static void global_defaults(struct pt_global *g)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    g->count_threads = cpus < 1 ? 1 : cpus > 256 ? 256 : (int)cpus;
    g->server_string = xstrdup("portico");
    g->timeout_secs = 5;
    g->uid = g->gid = -1;
    g->max_header_size = 16384;
    g->max_uri_length = 8192;
    g->drain_timeout_secs = 10;
    g->h2_max_streams = 100;
    g->h2_window = 65535;
    g->tls_context_cache = 100;
    g->ip_limit_v6_prefix = 64;
    g->ip_limit_table_size = 65536;
    g->log_level = -1;
}

/* "mime-types": a file in /etc/mime.types format ("type ext ext ..."
 * lines, '#' comments) for every file mount, after their own lists. */
static void read_mime_types(struct loader *ld)
{
    struct pt_global *g = &ld->c->g;
    FILE *f = fopen(g->mime_types, "r");
    if (!f) {
        err_file(ld, ld->srcs[0].name, "\"mime-types\": cannot read \"%s\": %s",
                 g->mime_types, strerror(errno));
        return;
    }
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *save = NULL, *type = strtok_r(line, " \t\r\n", &save);
        if (!type || type[0] == '#' || !strchr(type, '/'))
            continue;
        for (char *ext; (ext = strtok_r(NULL, " \t\r\n", &save));) {
            if (ext[0] == '#')
                break;
            char key[256];
            snprintf(key, sizeof key, ".%s", ext);
            kv_add(&g->mimes, key, type);
        }
    }
    fclose(f);
}

struct pt_config *pt_config_load(const char *dir, struct pt_diag *diag)
{
    struct pt_config *c = xcalloc(sizeof *c);
    atomic_fetch_add(&n_live, 1);
    struct loader ld;
    bool set_up_done = false;

    memset(&ld, 0, sizeof ld);
    ld.c = c;
    ld.d = diag;
    ld.strict = diag->strict;
    atomic_init(&c->refs, 1);
    c->dir = xstrdup(*dir ? dir : ".");
    for (size_t n = strlen(c->dir); n > 1 && c->dir[n - 1] == '/'; n--)
        c->dir[n - 1] = '\0';
    c->base = realpath(c->dir, NULL);
    if (!c->base)
        c->base = xstrdup(c->dir); /* missing: reported when conf is read */
    global_defaults(&c->g);

    char *conf = path_join(c->dir, "conf");
    load_file(&ld, conf, true);
    load_confd(&ld);
    if (!ld.errors && c->n_vhosts == 0)
        err_file(&ld, conf, "no vhosts defined (here or in %s/conf.d/)",
                 c->dir);
    free(conf);

    c->g.server_string_len = strlen(c->g.server_string);
    if (!ld.errors && c->g.mime_types)
        read_mime_types(&ld);
    for (size_t i = 0; i < c->n_vhosts; i++)
        for (size_t j = 0; j < c->vhosts[i].n_mounts; j++) {
            c->vhosts[i].mounts[j].vhost_mimes = &c->vhosts[i].extra_mimetypes;
            c->vhosts[i].mounts[j].global_mimes = &c->g.mimes;
        }
    if (!ld.errors)
        build_listens(&ld);
    if (!ld.errors)
        ld.errors += pt_listen_check(c, diag);
    if (!ld.errors) {
        set_up(&ld);
        set_up_done = true;
    }
    if (!ld.errors)
        review_setup(&ld);

    for (size_t i = 0; i < ld.n_srcs; i++)
        free(ld.srcs[i].text);
    free(ld.srcs);
    free(ld.vsrcs);
    if (ld.errors) {
        config_free(c, set_up_done);
        return NULL;
    }
    pt_stats_label(c);
    return c;
}

void pt_config_ref(struct pt_config *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void pt_config_unref(struct pt_config *c)
{
    if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
        /* Cannot happen while the owner keeps its reference. */
        fprintf(stderr, "portico: BUG: a user dropped the last reference to a "
                        "configuration snapshot\n");
        config_free(c, true);
    }
}

bool pt_config_retire(struct pt_config *c)
{
    if (!c)
        return true;
    if (atomic_load_explicit(&c->refs, memory_order_acquire) != 1)
        return false;
    atomic_store_explicit(&c->refs, 0, memory_order_relaxed);
    config_free(c, true);
    return true;
}
