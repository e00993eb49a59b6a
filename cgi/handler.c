/* The cgi:// mount handler: one program run per request.
 *
 *   stdin   the request body, pulled with pt_req_body_read() only as fast
 *           as the program reads it (a full pipe stops the pulling, which
 *           stops the protocol reading from the client); closed at its end
 *   stdout  the head is read eagerly and parsed (output.c); then the body
 *           is a pt_body_ops source read only when the protocol asks, that
 *           is when the client can take more (PT_BODY_AGAIN + a watcher
 *           that resumes the protocol when the pipe has data)
 *   stderr  and the process itself belong to proc.c, which outlives the
 *           request until the program is reaped
 *
 * Errors before the head: 502 (bad or no head), 504 (cgi-timeout).
 * After it: the response is aborted.  A local "Location" without a
 * Status re-dispatches the request as a GET (RFC 3875 6.2.2). */
#include "cgi/cgi.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>

#include "gateway/diag.h"
#include "gateway/handler.h"
#include "gateway/log.h"
#include "gateway/request.h"
#include "gateway/urlpath.h"
#include "gateway/worker.h"
#include "http1/parser.h"

#define DEFAULT_TIMEOUT 300   /* seconds, when the mount sets no cgi-timeout */
#define STDIN_BUF 16384
#define STDIN_BUDGET (1 << 20) /* body bytes moved per event before yielding */
#define MAX_REDIRECTS 4

struct pt_cgi_mount {
    char *prog;               /* absolute path */
    char *dir;                /* its directory: the program's cwd */
    char *root;               /* cgi-chroot, or NULL; then prog and dir are
                               * paths inside it */
    char **inherit;           /* pt_cgi_env_inherit() at load */
    double timeout;
};

struct cgi {
    struct pt_req *r;
    struct ev_loop *loop;
    struct pt_cgi_proc *proc;
    pid_t pid;
    const char *tag;          /* the mountpoint (config-owned) */
    ev_io in_io, out_io;      /* fds -1 once closed */

    /* stdin */
    char *inbuf;
    size_t in_len, in_off;
    bool body_done;           /* the request body was read to its end */
    bool stdin_broken;        /* the program closed its stdin: drop the rest */

    /* stdout */
    bool responded;           /* the head went to the protocol */
    bool waiting;             /* the body source said PT_BODY_AGAIN */
    bool out_eof;
    bool dechunk_done;
    bool complete;            /* all the program's output was delivered */
    bool abort;               /* timed out after the head: fail the body */
    size_t body_off;          /* unread body bytes in head.buf[body_off..] */
    int64_t length;           /* Content-Length given, or -1 */
    uint64_t delivered;
    struct h1_chunked dechunk;
    struct pt_cgi_head head;
};

static void on_stdin(struct ev_loop *loop, ev_io *w, int revents);
static void on_stdout(struct ev_loop *loop, ev_io *w, int revents);
static void feed_stdin(struct cgi *c);

/* ---- teardown ---- */

static void close_io(struct cgi *c, ev_io *w)
{
    if (w->fd < 0)
        return;
    ev_io_stop(c->loop, w);
    close(w->fd);
    ev_io_set(w, -1, w->events);
}

/* The request and the program part ways: the request may go on (an error
 * page, a redirect) and the program is left to proc.c (killed when kill is
 * set, else free to finish on its own). */
static void detach(struct cgi *c, bool kill)
{
    struct pt_req *r = c->r;
    if (r) {
        r->handler_ctx = NULL;
        r->on_finish = NULL;
        r->on_body_ready = NULL;
    }
    close_io(c, &c->in_io);
    close_io(c, &c->out_io);
    free(c->inbuf);
    if (c->proc)
        pt_cgi_proc_detach(c->proc, kill);
    free(c);
}

/* Fails the request before a head was sent. */
static void fail(struct cgi *c, int status, const char *note)
{
    struct pt_req *r = c->r;
    detach(c, true);
    pt_respond_error(r, status, note);
}

static void on_finish(struct pt_req *r)
{
    struct cgi *c = r->handler_ctx;
    if (!c)
        return;
    /* HEAD, 204 and 304 carry no body: the program is not cut short, it
     * only loses its readers. */
    bool no_body = r->method == PT_M_HEAD || r->status == 204 || r->status == 304;
    detach(c, !(c->complete || (c->responded && no_body)));
}

/* ---- stdin: the request body ---- */

static void close_stdin(struct cgi *c)
{
    close_io(c, &c->in_io);
    c->in_len = c->in_off = 0;
}

static void body_failed(struct cgi *c)
{
    c->body_done = true;
    close_stdin(c);
    if (!c->responded) {
        fail(c, 400, "request body could not be read");
        return;
    }
    c->abort = true;
    if (c->waiting) {
        c->waiting = false;
        pt_req_resume(c->r);
    }
}

/* Moves body bytes to the pipe until one side has to wait, or a budget is
 * spent (then the pipe's writability brings us back on the next loop
 * iteration, so a fast client and program do not starve the worker).  May
 * free c (on a body error before the head). */
static void feed_stdin(struct cgi *c)
{
    size_t budget = STDIN_BUDGET;
    for (;;) {
        while (c->in_off < c->in_len && !c->stdin_broken) {
            ssize_t n = write(c->in_io.fd, c->inbuf + c->in_off, c->in_len - c->in_off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                ev_io_start(c->loop, &c->in_io);
                return;
            }
            if (n < 0) {
                /* EPIPE: it does not want (the rest of) the body.  The body
                 * is still read, and dropped, so that the client is not
                 * left blocked; the broken pipe stays open until then (it
                 * polls writable: the watcher paces the dropping). */
                c->stdin_broken = true;
                break;
            }
            c->in_off += (size_t)n;
        }
        c->in_len = c->in_off = 0;
        if (c->body_done)
            return;
        if (budget < STDIN_BUF) {
            ev_io_start(c->loop, &c->in_io);
            return;
        }
        budget -= budget < STDIN_BUF ? budget : STDIN_BUF;
        ssize_t n = pt_req_body_read(c->r, c->inbuf, STDIN_BUF);
        if (n == PT_BODY_AGAIN)
            return; /* r->on_body_ready brings us back */
        if (n == 0) {
            c->body_done = true;
            close_stdin(c);
            return;
        }
        if (n < 0) {
            body_failed(c);
            return;
        }
        c->in_len = (size_t)n;
    }
}

static void on_stdin(struct ev_loop *loop, ev_io *w, int revents)
{
    struct cgi *c = w->data;
    ev_io_stop(loop, w);
    feed_stdin(c);
}

static void on_body_ready(struct pt_req *r)
{
    struct cgi *c = r->handler_ctx;
    if (c && !c->body_done)
        feed_stdin(c);
}

/* ---- stdout: the body source ---- */

/* Raw output bytes: what followed the head in its buffer, then the pipe.
 * Returns > 0, 0 at EOF, PT_BODY_AGAIN or PT_BODY_ERROR. */
static ssize_t raw_read(struct cgi *c, char *buf, size_t len)
{
    if (c->body_off < c->head.len) {
        size_t n = c->head.len - c->body_off;
        if (n > len)
            n = len;
        memcpy(buf, c->head.buf + c->body_off, n);
        c->body_off += n;
        return (ssize_t)n;
    }
    if (c->out_eof)
        return 0;
    for (;;) {
        ssize_t n = read(c->out_io.fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->waiting = true;
            ev_io_start(c->loop, &c->out_io);
            return PT_BODY_AGAIN;
        }
        if (n < 0)
            return PT_BODY_ERROR;
        if (n == 0)
            c->out_eof = true;
        return n;
    }
}

static ssize_t body_read(struct pt_req *r, char *buf, size_t len)
{
    struct cgi *c = r->handler_ctx;
    if (!c || c->abort)
        return PT_BODY_ERROR;
    for (;;) {
        if (c->dechunk_done)
            return 0;
        ssize_t n = raw_read(c, buf, len);
        if (n < 0)
            return n;
        if (n == 0) {
            if (c->head.chunked) {
                pt_warn("cgi %s[%d]: chunked output ended without its last chunk",
                        c->tag, (int)c->pid);
                return PT_BODY_ERROR;
            }
            c->complete = true;
            return 0;
        }
        size_t out = (size_t)n;
        if (c->head.chunked) {
            bool done = false;
            if (h1_chunked_decode(&c->dechunk, buf, (size_t)n, &out, &done) < 0) {
                pt_warn("cgi %s[%d]: bad chunked output: %s", c->tag, (int)c->pid,
                        c->dechunk.error_msg);
                return PT_BODY_ERROR;
            }
            if (done) /* what follows the last chunk is ignored */
                c->dechunk_done = c->complete = true;
            if (out == 0)
                continue;
        }
        c->delivered += out;
        if (c->length >= 0 && c->delivered >= (uint64_t)c->length)
            c->complete = true;
        return (ssize_t)out;
    }
}

static const struct pt_body_ops cgi_body_ops = {.read = body_read};

/* ---- the head ---- */

/* Drops the request's body headers: the redirected request is a GET. */
static void drop_body_headers(struct pt_req *r)
{
    size_t j = 0;
    for (size_t i = 0; i < r->n_hdrs; i++) {
        const struct pt_hdr *h = &r->hdrs[i];
        if ((h->name_len == 12 && strncasecmp(h->name, "content-type", 12) == 0) ||
            (h->name_len == 14 && strncasecmp(h->name, "content-length", 14) == 0) ||
            (h->name_len == 17 && strncasecmp(h->name, "transfer-encoding", 17) == 0))
            continue;
        r->hdrs[j++] = *h;
    }
    r->n_hdrs = j;
}

/* "Location: /local/path?query" with no Status: serve that instead. */
static void local_redirect(struct cgi *c, const char *loc)
{
    struct pt_req *r = c->r;
    if (r->internal_redirects >= MAX_REDIRECTS) {
        pt_warn("cgi %s[%d]: more than %d internal redirects", c->tag, (int)c->pid,
                MAX_REDIRECTS);
        fail(c, 500, "too many CGI internal redirects");
        return;
    }
    size_t len = strcspn(loc, "#"); /* a fragment is the client's business */
    const char *q = memchr(loc, '?', len);
    size_t plen = q ? (size_t)(q - loc) : len;
    char *path = pt_pool_alloc(r->pool, plen + 1);
    long n = pt_path_normalize(loc, plen, path);
    if (n < 0) {
        pt_warn("cgi %s[%d]: invalid local Location \"%s\"", c->tag, (int)c->pid, loc);
        fail(c, 502, "invalid CGI Location");
        return;
    }
    char *target = pt_pool_strndup(r->pool, loc, len);
    /* The program answered: it may finish on its own. */
    detach(c, false);
    if (r->method != PT_M_HEAD) {
        r->method = PT_M_GET;
        r->method_str = "GET";
        r->method_len = 3;
    }
    r->has_body = false;
    r->content_length = -1;
    drop_body_headers(r);
    pt_req_reprocess(r, target, len, path, (size_t)n, q ? target + plen + 1 : NULL,
                     q ? len - plen - 1 : 0);
}

static void start_response(struct cgi *c)
{
    struct pt_req *r = c->r;
    struct pt_cgi_head *h = &c->head;
    const char *loc = h->location >= 0 ? pt_cgi_fvalue(h, (unsigned)h->location) : NULL;
    if (loc && !h->status && loc[0] == '/' && loc[1] != '/') {
        local_redirect(c, loc);
        return;
    }
    int status = h->status ? h->status : loc ? 302 : 200;
    for (unsigned i = 0; i < h->n_fields; i++)
        pt_resp_headern(r, pt_cgi_fname(h, i), h->fields[i].name_len,
                        pt_cgi_fvalue(h, i), h->fields[i].value_len);
    c->body_off = h->body_off;
    c->length = h->content_length;
    if (h->chunked)
        h1_chunked_init(&c->dechunk);
    c->complete = c->length == 0;
    c->responded = true;
    pt_respond(r, status, c->length, &cgi_body_ops, c);
}

/* The head arrives: read eagerly, up to PT_CGI_HEAD_MAX. */
static void read_head(struct cgi *c)
{
    struct pt_cgi_head *h = &c->head;
    for (;;) {
        ssize_t n = read(c->out_io.fd, h->buf + h->len, PT_CGI_HEAD_MAX - h->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        int rc;
        if (n <= 0) {
            c->out_eof = true;
            rc = pt_cgi_head_eof(h);
        } else {
            h->len += (size_t)n;
            rc = pt_cgi_head_parse(h);
        }
        if (rc == PT_CGI_HEAD_AGAIN)
            continue;
        if (rc == PT_CGI_HEAD_ERROR) {
            pt_warn("cgi %s[%d]: bad response head: %s: 502", c->tag, (int)c->pid,
                    h->error);
            fail(c, 502, "bad CGI response head");
            return;
        }
        ev_io_stop(c->loop, &c->out_io);
        start_response(c);
        return;
    }
}

static void on_stdout(struct ev_loop *loop, ev_io *w, int revents)
{
    struct cgi *c = w->data;
    if (!c->responded) {
        read_head(c);
        return;
    }
    ev_io_stop(loop, w);
    if (c->waiting) {
        c->waiting = false;
        pt_req_resume(c->r);
    }
}

/* cgi-timeout while the request is still ours (proc.c kills the group
 * right after). */
static void on_timeout(void *owner)
{
    struct cgi *c = owner;
    if (!c->responded) {
        fail(c, 504, "CGI timeout");
        return;
    }
    c->abort = true;
    if (c->waiting) {
        c->waiting = false;
        ev_io_stop(c->loop, &c->out_io);
        pt_req_resume(c->r);
    }
}

/* ---- the handler ---- */

/* Runs prog (with arg) in dir for r: the exchange from here on is the
 * same for a cgi:// mount and an interpreted script. */
static void run(struct pt_req *r, const char *root, const char *prog, const char *arg,
                const char *dir, char **env, int timeout)
{
    const char *tag = r->mount->mountpoint;
    if (!r->loop) { /* a protocol without an event loop cannot run programs */
        pt_respond_error(r, 500, "no event loop for CGI");
        return;
    }
    struct cgi *c = malloc(sizeof *c);
    if (!c) {
        pt_respond_error(r, 503, "out of memory");
        return;
    }
    memset(c, 0, offsetof(struct cgi, head));
    c->in_io.fd = c->out_io.fd = -1;
    pt_cgi_head_init(&c->head);
    struct pt_cgi_child ch;
    int err = pt_cgi_spawn_in(root, prog, arg, dir, env, &ch);
    if (err) {
        pt_err("cgi %s: cannot run %s: %s", tag, prog, strerror(err));
        free(c);
        pt_respond_error(r, err == EMFILE || err == ENFILE || err == EAGAIN ||
                            err == ENOMEM ? 503 : 502, "cannot start CGI program");
        return;
    }
    c->r = r;
    c->loop = r->loop;
    c->tag = tag;
    c->pid = ch.pid;
    c->length = -1;
    ev_io_init(&c->in_io, on_stdin, ch.in_fd, EV_WRITE);
    c->in_io.data = c;
    ev_io_init(&c->out_io, on_stdout, ch.out_fd, EV_READ);
    c->out_io.data = c;
    /* The CGI handler's registry, also for a script another mount found. */
    c->proc = pt_cgi_proc_start(pt_worker_handler_state(r->worker, &pt_handler_cgi), tag,
                                ch.pid, ch.err_fd, timeout, on_timeout, c);
    if (!c->proc) {
        fail(c, 503, "out of memory");
        return;
    }
    pt_debug("cgi %s[%d]: started %s", tag, (int)ch.pid, prog);
    r->handler_ctx = c;
    r->on_finish = on_finish;
    r->on_body_ready = on_body_ready;
    ev_io_start(c->loop, &c->out_io);
    if (!r->has_body) {
        c->body_done = true;
        close_stdin(c);
        return;
    }
    c->inbuf = malloc(STDIN_BUF);
    if (!c->inbuf) {
        fail(c, 503, "out of memory");
        return;
    }
    feed_stdin(c); /* last: it may end the request */
}

static void cgi_handle(struct pt_req *r)
{
    const struct pt_cgi_mount *cm = r->mount->handler_data;
    run(r, cm->root, cm->prog, NULL, cm->dir, pt_cgi_env(r, cm->prog, cm->inherit),
        cm->timeout);
}

/* A file mount's "interpret": the interpreter runs the script, in the
 * script's directory, as a CGI program would (SCRIPT_FILENAME is the
 * script, its one argument too). */
static void cgi_interpret(struct pt_req *r, const char *interpreter, const char *script,
                          const char *script_url)
{
    char **inherit = pt_cgi_env_inherit();
    struct pt_cgi_script s = {
        .filename = script, .name = script_url, .name_len = strlen(script_url),
        .interpreted = true,
    };
    char **env = inherit ? pt_cgi_env_script(r, &s, inherit) : NULL;
    pt_cgi_env_free(inherit);
    if (!env) {
        pt_respond_error(r, 503, "out of memory");
        return;
    }
    char *dir = pt_pool_strndup(r->pool, script, strlen(script));
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    run(r, NULL, interpreter, script, dir, env, DEFAULT_TIMEOUT);
}

/* ---- mount setup ---- */

static void cgi_teardown_data(struct pt_cgi_mount *cm);

static void cgi_teardown(struct pt_mount *m)
{
    struct pt_cgi_mount *cm = m->handler_data;
    if (!cm)
        return;
    cgi_teardown_data(cm);
    m->handler_data = NULL;
}

static void cgi_teardown_data(struct pt_cgi_mount *cm)
{
    free(cm->prog);
    free(cm->dir);
    free(cm->root);
    pt_cgi_env_free(cm->inherit);
    free(cm);
}

/* path inside root (root's own path stripped), or NULL when outside. */
static char *inside(const char *root, const char *path)
{
    size_t n = strlen(root);
    if (strncmp(path, root, n) != 0 || (path[n] != '/' && path[n] != '\0'))
        return NULL;
    return strdup(path[n] ? path + n : "/");
}

/* cgi-chroot: the program and its directory are seen from inside. */
static int chroot_paths(struct pt_mount *m, struct pt_cgi_mount *cm, struct pt_diag *d)
{
    const struct pt_cgi_opts *o = m->opts;
    const struct pt_srcpos *p = pt_mount_key_pos(m, "cgi-chroot");
    char root[PATH_MAX];
    struct stat st;
    if (!realpath(o->chroot, root) || stat(root, &st) < 0 || !S_ISDIR(st.st_mode)) {
        pt_diag_error(d, p->file, p->line, p->col, "\"cgi-chroot\": \"%s\" is not a "
                      "directory", o->chroot);
        return -1;
    }
    char *prog = inside(root, cm->prog), *dir = inside(root, cm->dir);
    if (!prog || !dir) {
        pt_diag_error(d, p->file, p->line, p->col, "\"cgi-chroot\": \"%s\" must hold "
                      "the program \"%s\" and its working directory \"%s\"", root,
                      cm->prog, cm->dir);
        free(prog);
        free(dir);
        return -1;
    }
    free(cm->prog);
    free(cm->dir);
    cm->prog = prog;
    cm->dir = dir;
    cm->root = strdup(root);
    return cm->root ? 0 : -1;
}

static int cgi_setup(struct pt_mount *m, struct pt_diag *d)
{
    const struct pt_srcpos *p = &m->origin_pos;
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(m->target, real) || stat(real, &st) < 0) {
        pt_diag_error(d, p->file, p->line, p->col,
                      "origin \"%s\": cannot find CGI program \"%s\": %s",
                      m->origin, m->target, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode) || access(real, X_OK) < 0) {
        pt_diag_error(d, p->file, p->line, p->col,
                      "origin \"%s\": \"%s\" is not an executable file",
                      m->origin, real);
        return -1;
    }
    struct pt_cgi_mount *cm = calloc(1, sizeof *cm);
    if (!cm) {
        pt_diag_error(d, p->file, p->line, p->col, "out of memory");
        return -1;
    }
    cm->prog = strdup(real);
    char *slash = strrchr(real, '/');
    if (slash)
        *(slash == real ? slash + 1 : slash) = '\0';
    const struct pt_cgi_opts *o = m->opts;
    if (o->chdir) {
        const struct pt_srcpos *cp = pt_mount_key_pos(m, "cgi-chdir");
        if (stat(o->chdir, &st) < 0 || !S_ISDIR(st.st_mode)) {
            pt_diag_error(d, cp->file, cp->line, cp->col,
                          "\"cgi-chdir\": \"%s\" is not a directory", o->chdir);
            cgi_teardown_data(cm);
            return -1;
        }
    }
    cm->dir = strdup(o->chdir ? o->chdir : real);
    if (o->chroot && cm->prog && cm->dir && chroot_paths(m, cm, d) < 0) {
        cgi_teardown_data(cm);
        return -1;
    }
    cm->inherit = pt_cgi_env_inherit();
    cm->timeout = o->timeout > 0 ? o->timeout : DEFAULT_TIMEOUT;
    m->handler_data = cm;
    if (!cm->prog || !cm->dir || !cm->inherit) {
        cgi_teardown(m);
        pt_diag_error(d, p->file, p->line, p->col, "out of memory");
        return -1;
    }
    return 0;
}

static void *cgi_worker_init(struct pt_worker *w)
{
    pt_cgi_orphans_enable();
    return pt_cgi_reg_new(w->loop);
}

static void cgi_worker_dispose(struct pt_worker *w, void *state)
{
    (void)w;
    pt_cgi_reg_free(state);
}

#define O(f) offsetof(struct pt_cgi_opts, f)
static const struct pt_key cgi_keys[] = {
    { "cgi-env", PT_KEY_KV, O(env), 0, 0 },
    { "cgi-timeout", PT_KEY_INT, O(timeout), 0, 86400 },
    { "cgi-chdir", PT_KEY_PATH, O(chdir), 0, 0 },
    { "cgi-chroot", PT_KEY_PATH, O(chroot), 0, 0 },
    { NULL, PT_KEY_STR, 0, 0, 0 },
};
#undef O

static const char *const cgi_schemes[] = {"cgi://", NULL};

const struct pt_handler pt_handler_cgi = {
    .abi_version = PT_HANDLER_ABI,
    .struct_size = sizeof(struct pt_handler),
    .name = "cgi",
    .schemes = cgi_schemes,
    .opts_size = sizeof(struct pt_cgi_opts),
    .keys = cgi_keys,
    .setup = cgi_setup,
    .teardown = cgi_teardown,
    .worker_init = cgi_worker_init,
    .worker_dispose = cgi_worker_dispose,
    .handle = cgi_handle,
    .flags = PT_HANDLER_TARGET_PATH,
    .interpret = cgi_interpret,
};
