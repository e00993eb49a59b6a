/* CGI (RFC 3875) internals, one part per file:
 *
 *   env.c     the request -> environment translation (pure; unit-tested)
 *   output.c  the incremental parser of a program's response head (pure;
 *             unit-tested)
 *   spawn.c   starting a program: posix_spawn, pipes, its own process group
 *   proc.c    a running program's life: reaping (pidfd), killing the group,
 *             its deadline, stderr to the log, cleanup when a worker exits
 *   orphans.c what programs leave running: portico as their subreaper,
 *             the groups being tracked, reaping strays
 *   handler.c the cgi:// mount handler: feeds stdin, parses stdout, answers
 *
 * The handler itself is pt_handler_cgi (registered by main). */
#ifndef PT_CGI_H
#define PT_CGI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gateway/handler.h"

struct pt_req;
struct ev_loop;

extern const struct pt_handler pt_handler_cgi;

/* The cgi:// mount keys. */
struct pt_cgi_opts {
    struct pt_kvlist env;       /* "cgi-env": added to every program's */
    int timeout;                /* "cgi-timeout" seconds; 0 = default */
    char *chdir;                /* "cgi-chdir": its working directory (default:
                                 * the program's own) */
    char *chroot;               /* "cgi-chroot": the root it runs in (needs root) */
};

/* ---- env.c ------------------------------------------------------------ */

/* Variables of portico's own environment a program inherits; nothing else
 * of it is passed on. */
extern const char *const pt_cgi_inherited[];

/* The environment for running prog for r: "NAME=value" strings in r->pool,
 * NULL-terminated.  inherit: "NAME=value" strings taken from portico's
 * environment (NULL-terminated, may be NULL).  Later sources win over
 * earlier ones on the same name: inherited, then request variables, then
 * the mount's cgi-env. */
char **pt_cgi_env(struct pt_req *r, const char *prog, char *const *inherit);

/* What the program is, for the variables that say so. */
struct pt_cgi_script {
    const char *filename;            /* SCRIPT_FILENAME */
    const char *name;                /* SCRIPT_NAME */
    size_t name_len;
    const char *path_info;           /* PATH_INFO, or NULL */
    size_t path_info_len;
    const struct pt_kvlist *extra;   /* cgi-env: the last word, or NULL */
    bool interpreted;                /* run by an interpreter: REDIRECT_STATUS=200
                                      * (what php-cgi's cgi.force_redirect asks) */
};
char **pt_cgi_env_script(struct pt_req *r, const struct pt_cgi_script *s,
                         char *const *inherit);

/* Fills a NULL-terminated, malloc'ed copy of the pt_cgi_inherited
 * variables that are set now (for pt_cgi_env).  Free with pt_cgi_env_free. */
char **pt_cgi_env_inherit(void);
void pt_cgi_env_free(char **env);

/* ---- output.c --------------------------------------------------------- */

#define PT_CGI_HEAD_MAX 8192    /* a program's whole header block */
#define PT_CGI_MAX_FIELDS 64

enum { PT_CGI_HEAD_ERROR = -1, PT_CGI_HEAD_AGAIN = 0, PT_CGI_HEAD_DONE = 1 };

struct pt_cgi_field {
    uint16_t name_off, name_len, value_off, value_len;
};

struct pt_cgi_head {
    char buf[PT_CGI_HEAD_MAX];
    size_t len;                 /* bytes in buf */
    size_t pos;                 /* parsed up to here (a line start) */
    /* results, valid on PT_CGI_HEAD_DONE */
    size_t body_off;            /* buf[body_off..len) is the start of the body */
    int status;                 /* "Status:", 0 when absent */
    int64_t content_length;     /* -1 when absent */
    bool chunked;               /* "Transfer-Encoding: chunked" */
    int location;               /* index in fields, -1 when absent */
    int content_type;           /* index in fields, -1 when absent */
    /* Fields for the client, in order: everything but Status,
     * Content-Length, Transfer-Encoding, hop-by-hop fields, Date and
     * Server (the protocol writes its own framing, Date and Server). */
    struct pt_cgi_field fields[PT_CGI_MAX_FIELDS];
    unsigned n_fields;
    const char *error;          /* on PT_CGI_HEAD_ERROR: why (static) */
};

void pt_cgi_head_init(struct pt_cgi_head *h);
/* Parses what was appended to buf since the last call (the caller reads
 * straight into buf + len, at most PT_CGI_HEAD_MAX - len bytes, then adds
 * to len).  Returns DONE, AGAIN or ERROR (also when buf is full without a
 * complete head). */
int pt_cgi_head_parse(struct pt_cgi_head *h);
/* Copies data in (as much as fits) and parses.  *used: bytes taken. */
int pt_cgi_head_feed(struct pt_cgi_head *h, const char *data, size_t len,
                     size_t *used);
/* The program's output ended: a head that is not complete is an error.
 * Returns DONE (already complete) or ERROR with h->error set. */
int pt_cgi_head_eof(struct pt_cgi_head *h);

static inline const char *pt_cgi_fname(const struct pt_cgi_head *h, unsigned i)
{
    return h->buf + h->fields[i].name_off;
}
static inline const char *pt_cgi_fvalue(const struct pt_cgi_head *h, unsigned i)
{
    return h->buf + h->fields[i].value_off;
}

/* ---- spawn.c ---------------------------------------------------------- */

struct pt_cgi_child {
    pid_t pid;                  /* also its process group id */
    int in_fd, out_fd, err_fd;  /* our ends: non-blocking, close-on-exec */
};

/* Starts prog (no shell; with arg as its one argument, if not NULL) in dir
 * with env, in a new process group, with default signal dispositions and
 * an empty signal mask, stdin/stdout/stderr on pipes.  Returns 0, or an
 * errno value. */
int pt_cgi_spawn(const char *prog, const char *arg, const char *dir, char *const env[],
                 struct pt_cgi_child *child);
/* The same inside root (cgi-chroot; NULL: none): prog and dir are paths
 * in it.  Needs root (CAP_SYS_CHROOT). */
int pt_cgi_spawn_in(const char *root, const char *prog, const char *arg, const char *dir,
                    char *const env[], struct pt_cgi_child *child);

/* ---- orphans.c -------------------------------------------------------- */

/* Makes portico the reaper of processes CGI programs leave behind (once;
 * from a worker, after daemonizing: fork does not pass it on). */
void pt_cgi_orphans_enable(void);

/* Brackets a spawn: the new group (pid > 0; 0 when the spawn failed) is
 * tracked from the moment it exists.  _end returns -1 when out of memory:
 * the caller kills and reaps the child, then calls _abort (the sweep
 * waits until then). */
void pt_cgi_spawn_begin(void);
int pt_cgi_spawn_end(pid_t pid);
void pt_cgi_spawn_abort(void);

/* The group's leader is reaped: what is left of it is its worker's. */
void pt_cgi_group_leader_gone(pid_t pgid);

/* The group's last process of ours is reaped: no longer tracked. */
void pt_cgi_group_untrack(pid_t pgid);

/* Reaps exited children that belong to no tracked group (descendants of
 * programs that left their group).  Returns how many. */
unsigned pt_cgi_sweep(void);

/* ---- proc.c ----------------------------------------------------------- */

struct pt_cgi_proc;
struct pt_cgi_reg;

/* A worker's running programs (the CGI handler's per-worker state).
 * Freeing it ends and reaps every program still on it. */
struct pt_cgi_reg *pt_cgi_reg_new(struct ev_loop *loop);
void pt_cgi_reg_free(struct pt_cgi_reg *reg);

/* Called when the deadline passes while an owner is attached; the group is
 * killed right after it returns. */
typedef void (*pt_cgi_timeout_fn)(void *owner);

/* Takes over a started child: reaps it without blocking (pidfd watcher on
 * the registry's loop), logs its stderr lines as "cgi TAG[pid]: ...", and kills its
 * process group once timeout seconds have passed.  err_fd is owned from
 * here on.  Returns NULL (after killing and reaping the child) when out of
 * memory. */
struct pt_cgi_proc *pt_cgi_proc_start(struct pt_cgi_reg *reg, const char *tag,
                                      pid_t pid, int err_fd, double timeout,
                                      pt_cgi_timeout_fn on_timeout, void *owner);

/* The owner is done with the program.  kill: end it now (SIGTERM to the
 * group, SIGKILL after a grace period); otherwise it may run on until it
 * exits or its deadline passes.  Either way it is reaped and freed later,
 * or when the loop is destroyed. */
void pt_cgi_proc_detach(struct pt_cgi_proc *p, bool kill);

pid_t pt_cgi_proc_pid(const struct pt_cgi_proc *p);

#endif
