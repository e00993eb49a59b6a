/* libFuzzer target for the configuration loader (gateway/config.c,
 * jsonpos.c, and the mount setup of the file://, >redirect, cgi:// and
 * callback:// handlers; not the proxy's, which resolves names and starts
 * a thread).  The input, cut at NUL bytes, is DIR/conf then
 * DIR/conf.d/1..4, with "@D" standing for DIR: a directory made once per
 * process that holds www/index.html, a basic-auth file "users" and an
 * executable "prog".  A handler of the target's own, fz://, takes a list
 * of origins and one key of every key type.
 *
 * Invariants: the loader never crashes or leaks (LSan checks every input),
 * whatever it is given; it fails only with an error reported, and every
 * error and warning carries FILE:LINE:COL (but "no vhosts defined", and
 * invalid JSON at a line's first byte: FILE:LINE).  A loaded config has
 * its scalars within their ranges, vhosts with a name and a port unique on
 * that port, each on the listening socket of its port, prefix mountpoints
 * normalized (regex ones kept as written), every mount set up with a handler, positions for vhosts,
 * mounts, origins and keys, header lists of tokens without CR/LF.  fz://
 * sees its numbers within range when written and 0 when not, strings and
 * lists only when written, paths absolute, header and suffix lists valid,
 * networks masked.  Retiring the config frees it.
 *
 * What portico opens itself during a load is confined: files are created
 * only inside DIR, and devices, /proc and /sys are not read (EACCES).
 * OpenSSL reads certificate files on its own.  Violations abort.  Run by
 * `make fuzz`. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgi/cgi.h"
#include "gateway/config.h"
#include "gateway/diag.h"
#include "gateway/handler.h"
#include "gateway/log.h"
#include "gateway/mount.h"
#include "mounts/mounts.h"
#include "plugins/plugins.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static size_t dir_len;
static bool guard;

/* ---- confinement (linked with --wrap) ---- */

int __real_open(const char *path, int flags, ...);
int __real_openat(int dfd, const char *path, int flags, ...);
FILE *__real_fopen(const char *path, const char *mode);

static bool may(int dfd, const char *path, bool write)
{
    if (!guard)
        return true;
    if (write)
        return strncmp(path, dir, dir_len) == 0 && path[dir_len] == '/' && !strstr(path, "..");
    char real[PATH_MAX];
    struct stat st;
    if (fstatat(dfd, path, &st, 0) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
        return false;
    if (path[0] == '/' && realpath(path, real))
        path = real;
    return strncmp(path, "/proc", 5) != 0 && strncmp(path, "/sys", 4) != 0 &&
           strncmp(path, "/dev", 4) != 0;
}

static bool needs_mode(int flags)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

int __wrap_openat(int dfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    int mode = needs_mode(flags) ? va_arg(ap, int) : 0;
    va_end(ap);
    if (!may(dfd, path, flags & (O_CREAT | O_WRONLY | O_RDWR))) {
        errno = EACCES;
        return -1;
    }
    return __real_openat(dfd, path, flags, mode);
}

int __wrap_open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    int mode = needs_mode(flags) ? va_arg(ap, int) : 0;
    va_end(ap);
    return __wrap_openat(AT_FDCWD, path, flags, mode);
}

/* Only reads: the loader writes nothing with fopen(), libFuzzer writes
 * its crash files with it. */
FILE *__wrap_fopen(const char *path, const char *mode)
{
    if (!strpbrk(mode, "wa+") && !may(AT_FDCWD, path, false)) {
        errno = EACCES;
        return NULL;
    }
    return __real_fopen(path, mode);
}

/* No shared object is loaded from a fuzzed plugin-dir (it could be any
 * library on the system, constructors and all): plugin loading fails as
 * for a file that is not a plugin. */
void *__wrap_dlopen(const char *path, int flags);
void *__wrap_dlopen(const char *path, int flags)
{
    (void)path;
    (void)flags;
    return NULL;
}

/* ---- every message has a position ---- */

/* "no vhosts defined" is about all the files; jansson gives column 0 for
 * an error at the first byte of a line (its columns count what was read). */
static bool positionless(const char *msg, int line)
{
    return strncmp(msg, "no vhosts defined", 17) == 0 ||
           (line >= 1 && strncmp(msg, "invalid JSON: ", 14) == 0);
}

#define DIAG_WRAP(fn)                                                            \
    void __real_##fn(struct pt_diag *d, const char *file, int line, int col,     \
                     const char *fmt, ...);                                      \
    void __wrap_##fn(struct pt_diag *d, const char *file, int line, int col,     \
                     const char *fmt, ...)                                       \
    {                                                                            \
        char msg[2048];                                                          \
        va_list ap;                                                              \
        va_start(ap, fmt);                                                       \
        vsnprintf(msg, sizeof msg, fmt, ap);                                     \
        va_end(ap);                                                              \
        if (!file || ((line < 1 || col < 1) && !positionless(msg, line)))       \
            abort();                                                             \
        __real_##fn(d, file, line, col, "%s", msg);                              \
    }
DIAG_WRAP(pt_diag_error)
DIAG_WRAP(pt_diag_warn)
DIAG_WRAP(pt_diag_mount_error)

/* ---- fz://: one key of each type ---- */

struct fz_opts {
    char *s, *p;
    int i, ib;
    long l, f;
    bool b, fail;
    struct pt_kvlist kv, hd, mm;
    struct pt_cidrs nets;
};

#define O(f) offsetof(struct fz_opts, f)
static const struct pt_key fz_keys[] = {
    { "fz-str", PT_KEY_STR, O(s), 0, 0 },
    { "fz-path", PT_KEY_PATH, O(p), 0, 0 },
    { "fz-int", PT_KEY_INT, O(i), -5, 1000 },
    { "fz-long", PT_KEY_LONG, O(l), -1, LONG_MAX },
    { "fz-flags", PT_KEY_FLAGS, O(f), 0, 0xffff },
    { "fz-bool", PT_KEY_BOOL, O(b), 0, 0 },
    { "fz-fail", PT_KEY_BOOL, O(fail), 0, 0 },
    { "fz-intbool", PT_KEY_INTBOOL, O(ib), 0, 0 },
    { "fz-kv", PT_KEY_KV, O(kv), 0, 0 },
    { "fz-headers", PT_KEY_HEADERS, O(hd), 0, 0 },
    { "fz-mimes", PT_KEY_MIMES, O(mm), 0, 0 },
    { "fz-cidrs", PT_KEY_CIDRS, O(nets), 0, 0 },
    { NULL, PT_KEY_STR, 0, 0, 0 },
};
#undef O

static bool token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s)))
            return false;
    return true;
}

static void pos_ok(const struct pt_srcpos *p)
{
    if (!p->file || p->line < 1 || p->col < 1)
        abort();
}

static void list_ok(const struct pt_kvlist *l, int kind)
{
    for (size_t i = 0; i < l->n; i++) {
        const char *n = l->v[i].name, *v = l->v[i].value;
        if (!n || !v || (kind && strpbrk(v, "\r\n")) || (kind == 1 && !token(n)) ||
            (kind == 2 && n[0] != '.' && strcmp(n, "*") != 0))
            abort();
    }
}

static int fz_setup(struct pt_mount *m, struct pt_diag *d)
{
    const struct fz_opts *o = m->opts;
    bool (*has)(const struct pt_mount *, const char *) = pt_mount_has_key;
    if ((o->s != NULL) != has(m, "fz-str") || (o->p != NULL) != has(m, "fz-path") ||
        (o->p && o->p[0] && o->p[0] != '/'))
        abort();
    if ((has(m, "fz-int") ? o->i < -5 || o->i > 1000 : o->i != 0) ||
        (has(m, "fz-long") ? o->l < -1 : o->l != 0) ||
        (has(m, "fz-flags") ? o->f < 0 || o->f > 0xffff : o->f != 0) ||
        (o->ib != 0 && o->ib != 1) || (o->ib && !has(m, "fz-intbool")) ||
        (o->b && !has(m, "fz-bool")))
        abort();
    if ((o->kv.n && !has(m, "fz-kv")) || (o->hd.n && !has(m, "fz-headers")) ||
        (o->mm.n && !has(m, "fz-mimes")) || (o->nets.n && !has(m, "fz-cidrs")))
        abort();
    list_ok(&o->kv, 0);
    list_ok(&o->hd, 1);
    list_ok(&o->mm, 2);
    for (size_t i = 0; i < o->nets.n; i++) {
        const struct pt_cidr *c = &o->nets.v[i];
        if (c->bits > 128 || (c->net[0] & ~c->mask[0]) || (c->net[1] & ~c->mask[1]) ||
            !pt_cidrs_match(&o->nets, &c->ip))
            abort();
    }
    if (!m->origin || strncasecmp(m->origin, "fz://", 5) || !m->target ||
        strcmp(m->target, m->origin + 5) != 0)
        abort();
    for (size_t i = 0; i < m->n_origins; i++)
        if (strncasecmp(m->origins[i], "fz://", 5) != 0)
            abort();
    if (o->fail) {
        const struct pt_srcpos *p = pt_mount_key_pos(m, "fz-fail");
        pt_diag_error(d, p->file, p->line, p->col, "fz-fail");
        return -1;
    }
    m->handler_data = malloc(1); /* teardown must free it */
    return 0;
}

static void fz_teardown(struct pt_mount *m)
{
    free(m->handler_data);
    m->handler_data = NULL;
}

static void fz_handle(struct pt_req *r)
{
    abort();
}

static const char *const fz_schemes[] = {"fz://", NULL};
static const struct pt_handler fz = {
    .abi_version = PT_HANDLER_ABI, .struct_size = sizeof(struct pt_handler),
    .name = "fz", .schemes = fz_schemes, .opts_size = sizeof(struct fz_opts),
    .keys = fz_keys, .setup = fz_setup, .teardown = fz_teardown, .handle = fz_handle,
    .flags = PT_HANDLER_ORIGIN_LIST,
};

/* ---- a loaded config ---- */

static void check(const struct pt_config *c)
{
    const struct pt_global *g = &c->g;
    if (g->count_threads < 1 || g->count_threads > 256 || g->timeout_secs < 1 ||
        g->max_header_size < 1024 || g->max_uri_length < 256 || g->h2_max_streams < 1 ||
        g->h2_window < 1024 || g->ip_limit_v6_prefix < 1 || g->ip_limit_v6_prefix > 128 ||
        !g->server_string || strlen(g->server_string) != g->server_string_len)
        abort();
    if (c->n_vhosts == 0 || c->n_listens == 0)
        abort();
    for (size_t i = 0; i < c->n_vhosts; i++) {
        const struct pt_vhost *vh = &c->vhosts[i];
        if (!vh->name || !vh->name[0] || vh->port < 1 || vh->port > 65535 ||
            vh->keepalive_timeout < 1 || (vh->interface && !vh->interface[0]))
            abort();
        pos_ok(&vh->pos);
        list_ok(&vh->headers, 1);
        for (size_t k = 0; k < i; k++)
            if (c->vhosts[k].port == vh->port && !strcasecmp(c->vhosts[k].name, vh->name))
                abort();
        for (size_t k = 0; k < vh->n_errdocs; k++)
            if (vh->errdocs[k].status < 400 || vh->errdocs[k].status > 599 ||
                vh->errdocs[k].path[0] != '/')
                abort();
        size_t on = 0;
        for (size_t l = 0; l < c->n_listens; l++)
            for (size_t k = 0; k < c->listens[l].n_vhosts; k++)
                if (c->listens[l].vhosts[k] == vh) {
                    on++;
                    if (c->listens[l].port != vh->port)
                        abort();
                }
        if (on != 1)
            abort();
        for (size_t j = 0; j < vh->n_mounts; j++) {
            const struct pt_mount *m = &vh->mounts[j];
            const char *mp = m->mountpoint;
            /* A regex mountpoint is kept as written ("~...", length 0: no
             * prefix); a prefix one is normalized. */
            bool re_ok = mp && m->regex && mp[0] == '~' && m->mountpoint_len == 0;
            if (!mp || (!re_ok && (mp[0] != '/' || strlen(mp) != m->mountpoint_len ||
                                   (m->mountpoint_len > 1 && mp[m->mountpoint_len - 1] == '/'))) ||
                !m->handler || !m->ready || !m->origin || !m->target)
                abort();
            pos_ok(&m->pos);
            pos_ok(&m->origin_pos);
            for (size_t k = 0; k < m->n_keypos; k++)
                pos_ok(&m->keypos[k].pos);
            list_ok(&m->headers, 1);
        }
    }
}

/* ---- the input as files ---- */

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void cleanup(void)
{
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void put(const char *rel, const char *text, size_t len, int mode)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "w");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0 || chmod(p, mode) != 0)
        abort();
}

static void init(void)
{
    strcpy(dir, "/tmp/pt_fuzz_config.XXXXXX");
    if (!mkdtemp(dir))
        abort();
    dir_len = strlen(dir);
    atexit(cleanup);
    char p[128];
    snprintf(p, sizeof p, "%s/conf.d", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/www", dir);
    mkdir(p, 0755);
    put("www/index.html", "hi\n", 3, 0644);
    put("users", "alice:secret\n", 13, 0644);
    put("prog", "#!/bin/sh\necho\n", 15, 0755);
    pt_log_level = -1; /* no output */
    if (pt_plugin_register_builtin(&pt_plugin_metrics) ||
        pt_plugin_register_builtin(&pt_plugin_dumb_increment) ||
        pt_plugin_register_builtin(&pt_plugin_mirror) ||
        pt_handler_register(&pt_handler_file) || pt_handler_register(&pt_handler_redirect) ||
        pt_handler_register(&pt_handler_cgi) || pt_handler_register(&pt_handler_callback) ||
        pt_handler_register(&fz))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull;
    if (!dir[0]) {
        init();
        devnull = fopen("/dev/null", "w");
    }
    /* conf.d afresh (an access-log may have been created there) */
    char name[128];
    snprintf(name, sizeof name, "%s/conf.d", dir);
    DIR *dh = opendir(name);
    for (struct dirent *de; dh && (de = readdir(dh));)
        if (de->d_name[0] != '.')
            unlinkat(dirfd(dh), de->d_name, 0);
    if (dh)
        closedir(dh);
    const char *in = (const char *)data, *end = in + size;
    for (int i = 0; i < 5 && in <= end; i++) {
        snprintf(name, sizeof name, i ? "conf.d/%d" : "conf", i);
        const char *nul = memchr(in, '\0', (size_t)(end - in));
        const char *stop = nul ? nul : end;
        /* "@D" is the directory */
        size_t n = 0;
        char *text = malloc((size_t)(stop - in) * dir_len + 1);
        for (const char *p = in; p < stop; p++) {
            if (p + 1 < stop && p[0] == '@' && p[1] == 'D') {
                memcpy(text + n, dir, dir_len);
                n += dir_len;
                p++;
            } else {
                text[n++] = *p;
            }
        }
        put(name, text, n, 0644);
        free(text);
        in = stop + 1;
    }

    struct pt_diag d = { .out = devnull };
    guard = true;
    struct pt_config *c = pt_config_load(dir, &d);
    guard = false;
    if (!c) {
        if (d.errors < 1)
            abort();
        return 0;
    }
    if (d.errors != 0)
        abort();
    check(c);
    if (!pt_config_retire(c))
        abort();
    return 0;
}
