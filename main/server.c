/* The running server: listening sockets, workers, signals and reload.
 *
 * Signals are taken by the main thread with sigtimedwait(); workers never
 * see them.  TERM/INT drain and exit, QUIT (or a second TERM/INT while
 * draining) exits at once, HUP reloads, USR1 reopens the log files, and
 * the others a user may send by habit are logged and ignored.
 *
 * A reload loads and checks the whole configuration first; only a valid
 * one goes on.  Its new addresses are bound (the registry keeps the
 * sockets of the ones that stay), then every worker is handed the new
 * snapshot and its sockets, and only once all of them have it are the
 * addresses no longer used closed.  The old snapshot is freed here once
 * the last request and connection that used it are gone. */
#include "main/server.h"

#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/accesslog.h"
#include "gateway/config.h"
#include "gateway/diag.h"
#include "gateway/iptable.h"
#include "gateway/limits.h"
#include "gateway/listen.h"
#include "gateway/log.h"
#include "gateway/tls.h"
#include "gateway/worker.h"
#include "main/daemon.h"
#include "main/notify.h"
#include "main/privileges.h"

#ifndef PORTICO_VERSION
#define PORTICO_VERSION "0"
#endif

struct server {
    const char *dir;
    struct pt_config *conf;          /* in force */
    struct pt_config **retiring;     /* replaced, freed once unused */
    size_t n_retiring;
    struct pt_listen_registry *reg;
    struct pt_worker *workers;
    int n;
    bool level_given;
    unsigned reloads;                /* attempts so far */
};

/* Signals that mean something to portico; the ones only a habit sends
 * (other servers' conventions) are caught too, so they are never fatal. */
static const int handled[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1,
                              SIGUSR2, SIGWINCH, SIGALRM, SIGTTIN, SIGTTOU};

/* "SIGUSR2" */
static const char *sig_name(int sig)
{
    static _Thread_local char buf[16];
    const char *abbrev = sigabbrev_np(sig);
    snprintf(buf, sizeof buf, "SIG%s", abbrev ? abbrev : "?");
    return buf;
}

static void reopen_logs(struct pt_config *conf)
{
    int failed = pt_access_log_reopen(conf);
    if (conf->g.error_log) {
        int rc = pt_log_open(conf->g.error_log);
        if (rc < 0) {
            pt_err("error-log \"%s\": cannot reopen: %s", conf->g.error_log, strerror(-rc));
            failed++;
        }
    }
    pt_notice("SIGUSR1: log files reopened%s", failed ? " (some failed, see above)" : "");
}

/* ---- reload ------------------------------------------------------------ */

static void retire_unused(struct server *s)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n_retiring; i++) {
        if (pt_config_retire(s->retiring[i]))
            pt_info("an old configuration snapshot is freed (%d live)", pt_config_live());
        else
            s->retiring[k++] = s->retiring[i];
    }
    s->n_retiring = k;
}

/* Process-wide settings a running process keeps until it is restarted. */
static void warn_fixed(const struct server *s, const struct pt_global *o,
                       const struct pt_global *g)
{
#define FIXED(cond, key)                                                          \
    do {                                                                          \
        if (cond)                                                                 \
            pt_warn("reload: \"%s\" changed: it takes effect at a restart", key); \
    } while (0)
    FIXED(g->count_threads != s->n, "count-threads");
    FIXED(g->uid != o->uid || !pt_str_same(g->username, o->username), "username/uid");
    FIXED(g->gid != o->gid || !pt_str_same(g->groupname, o->groupname), "groupname/gid");
    FIXED(g->rlimit_nofile != o->rlimit_nofile, "rlimit-nofile");
    FIXED(g->ip_limit_table_size != o->ip_limit_table_size, "ip-limit-table-size");
    FIXED(!pt_str_same(g->pid_file, o->pid_file), "pid-file");
#undef FIXED
}

/* The log settings of conf (the error log's place and the level, unless
 * -l gave one). */
static void apply_log_settings(const struct server *s, const struct pt_config *old,
                               const struct pt_config *conf)
{
    if (!s->level_given)
        pt_log_level = conf->g.log_level >= 0 ? conf->g.log_level : PT_LOG_NOTICE;
    if (conf->g.error_log && !pt_str_same(conf->g.error_log, old->g.error_log)) {
        int rc = pt_log_open(conf->g.error_log);
        if (rc < 0)
            pt_err("reload: error-log \"%s\": cannot open: %s (logging stays where it was)",
                   conf->g.error_log, strerror(-rc));
    } else if (!conf->g.error_log && old->g.error_log) {
        pt_warn("reload: \"error-log\" removed: the log stays in \"%s\" until a restart",
                old->g.error_log);
    }
}

/* Hands conf and its sockets to every worker and waits until each has
 * taken them (a message on its loop: a moment). */
static void publish(struct server *s, struct pt_config *conf, const int *fds)
{
    atomic_int done = 0;
    struct pt_publish *p = calloc((size_t)s->n, sizeof(*p));
    if (!p)
        abort();
    for (int i = 0; i < s->n; i++) {
        p[i].conf = conf;
        p[i].fds = fds + (size_t)i * conf->n_listens;
        p[i].done = &done;
        pt_worker_publish(&s->workers[i], &p[i]);
    }
    while (atomic_load(&done) < s->n) {
        struct timespec t = {0, 200 * 1000};
        nanosleep(&t, NULL);
    }
    free(p);
}

static void reload(struct server *s)
{
    unsigned gen = ++s->reloads; /* every attempt has its number */
    pt_notice("SIGHUP: reload %u: loading %s", gen, s->dir);
    pt_notify("RELOADING=1\nSTATUS=reloading");
    struct pt_diag diag = {0};
    struct pt_config *next = pt_config_load(s->dir, &diag);
    if (!next) {
        pt_err("reload %u: the configuration in %s has %d error(s) (above): the running "
               "one stays in force", gen, s->dir, diag.errors);
        pt_notify("READY=1\nSTATUS=serving (the last reload failed)");
        return;
    }
    int *fds = calloc((size_t)s->n * (next->n_listens ? next->n_listens : 1), sizeof(int));
    if (!fds)
        abort();
    pt_privileges_bind(true);
    int bound = pt_listen_registry_bind(s->reg, next, fds);
    pt_privileges_bind(false);
    if (bound < 0) {
        pt_err("reload %u: a listening address cannot be opened (above): the running "
               "configuration stays in force", gen);
        pt_config_retire(next);
        free(fds);
        pt_notify("READY=1\nSTATUS=serving (the last reload failed)");
        return;
    }
    struct pt_config *old = s->conf;
    warn_fixed(s, &old->g, &next->g);
    publish(s, next, fds);
    free(fds);
    int closed = pt_listen_registry_prune(s->reg, next);
    apply_log_settings(s, old, next);
    pt_tls_context_cache(next->g.tls_context_cache);
    s->conf = next;
    struct pt_config **grown = realloc(s->retiring, (s->n_retiring + 1) * sizeof(*grown));
    if (!grown)
        abort();
    s->retiring = grown;
    s->retiring[s->n_retiring++] = old;
    retire_unused(s);
    pt_notice("reload %u: done: %zu vhost(s) on %zu address(es)%s%d closed; %d "
              "snapshot(s) live", gen, next->n_vhosts, next->n_listens,
              diag.warnings ? " (warnings above); " : "; ", closed, pt_config_live());
    pt_notify("READY=1\nSTATUS=serving");
}

/* ---- running ----------------------------------------------------------- */

/* Drains: waits for the workers while still taking signals, so that QUIT
 * or a second TERM/INT cuts the drain short. */
static void wait_workers(struct server *s, int started, const sigset_t *set)
{
    bool quitting = false;
    for (;;) {
        int done = 0;
        for (int i = 0; i < started; i++)
            done += pt_worker_done(&s->workers[i]);
        if (done == started)
            return;
        struct timespec t = {0, 100 * 1000 * 1000};
        int sig = sigtimedwait(set, NULL, &t);
        if (sig == SIGUSR1) {
            reopen_logs(s->conf);
            continue;
        }
        if (sig < 0 || quitting)
            continue;
        if (sig == SIGQUIT || sig == SIGTERM || sig == SIGINT) {
            pt_notice("%s while draining: closing every connection now", sig_name(sig));
            for (int i = 0; i < started; i++)
                pt_worker_quit(&s->workers[i]);
            quitting = true;
        }
    }
}

/* Takes signals until one says stop; returns whether to quit at once. */
static bool serve(struct server *s, const sigset_t *set)
{
    for (;;) {
        /* Once a second (more often while old snapshots wait to go): the
         * limits' rate buckets that are full again go. */
        struct timespec tick = {s->n_retiring ? 0 : 1, s->n_retiring ? 100 * 1000 * 1000 : 0};
        int sig = sigtimedwait(set, NULL, &tick);
        if (sig < 0) {
            pt_iptable_sweep(ev_time()); /* the clock of the workers' ev_now() */
            pt_log_flush_suppressed();
            retire_unused(s);
            continue;
        }
        switch (sig) {
        case SIGHUP:
            reload(s);
            continue;
        case SIGUSR1:
            reopen_logs(s->conf);
            continue;
        case SIGQUIT:
            pt_notice("SIGQUIT: exiting now, without draining");
            return true;
        case SIGTERM:
        case SIGINT:
            pt_notice("%s: stopping (drain timeout %ds)", sig_name(sig),
                      s->conf->g.drain_timeout_secs);
            return false;
        default:
            pt_notice("%s: ignored (portico takes TERM/INT: stop, QUIT: exit now, "
                      "HUP: reload, USR1: reopen logs)", sig_name(sig));
        }
    }
}

static void block_signals(sigset_t *set)
{
    /* Blocked in every thread (workers inherit the mask) and taken here.
     * SIGPIPE is ignored: a write to a closed socket is EPIPE. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(set);
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++)
        sigaddset(set, handled[i]);
    pthread_sigmask(SIG_BLOCK, set, NULL);
}

int pt_server_run(struct pt_config **confp, const char *dir, bool level_given)
{
    struct server srv = {.dir = dir, .conf = *confp, .level_given = level_given};
    struct server *s = &srv;
    sigset_t set;
    block_signals(&set);

    s->n = s->conf->g.count_threads;
    pt_tls_context_cache(s->conf->g.tls_context_cache);
    s->reg = pt_listen_registry_new(s->n);
    int *fds = calloc((size_t)s->n * (s->conf->n_listens ? s->conf->n_listens : 1), sizeof(int));
    s->workers = calloc((size_t)s->n, sizeof(*s->workers));
    if (!fds || !s->workers)
        abort();
    int started = 0;
    if (pt_listen_registry_bind(s->reg, s->conf, fds) == 0 &&
        pt_privileges_drop(s->conf) == 0) {
        pt_limits_init(s->conf);
        for (; started < s->n; started++)
            if (pt_worker_start(&s->workers[started], started, s->conf,
                                fds + (size_t)started * s->conf->n_listens) < 0)
                break;
    }
    free(fds);
    if (started == s->n) {
        for (size_t i = 0; i < s->conf->n_listens; i++) {
            char where[64];
            pt_listen_addr_text(&s->conf->listens[i], where, sizeof where);
            pt_notice("listening on %s (%zu vhost(s))", where, s->conf->listens[i].n_vhosts);
        }
        pt_notice("portico %s started: %d worker(s)", PORTICO_VERSION, s->n);
        pt_notify("READY=1\nSTATUS=serving");
        /* stderr stays when it is where the log goes: an error-log file,
         * or the journal (systemd runs `portico -d` with it). */
        const char *log = s->conf->g.error_log;
        bool log_file = log && strcmp(log, "syslog") != 0;
        pt_daemon_ready(true, log_file || (!log && pt_log_to_journal()));
        bool quit = serve(s, &set);
        pt_notify("STOPPING=1");
        for (int i = 0; i < started; i++) {
            if (quit)
                pt_worker_quit(&s->workers[i]);
            else
                pt_worker_stop(&s->workers[i]);
        }
        wait_workers(s, started, &set);
    } else {
        pt_daemon_ready(false, false);
        for (int i = 0; i < started; i++)
            pt_worker_stop(&s->workers[i]);
    }
    for (int i = 0; i < started; i++)
        pt_worker_join(&s->workers[i]);
    int rc = started == s->n ? 0 : 1;
    if (rc == 0)
        pt_notice("stopped");
    pt_listen_registry_free(s->reg, started); /* the started ones closed theirs */
    free(s->workers);
    if (started)
        pt_limits_free();
    retire_unused(s);
    for (size_t i = 0; i < s->n_retiring; i++)
        pt_err("BUG: a configuration snapshot is still in use at exit");
    free(s->retiring);
    *confp = s->conf;
    return rc;
}
