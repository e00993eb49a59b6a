/* portico: command line, configuration, workers, signals.
 *
 * Signals are taken by the main thread with sigtimedwait(); workers never
 * see them.  TERM/INT drain and exit, QUIT (or a second TERM/INT while
 * draining) exits at once, HUP reloads, USR1 reopens the log files, and
 * the others a user may send by habit are logged and ignored. */
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/diag.h"
#include "gateway/iptable.h"
#include "gateway/listen.h"
#include "gateway/limits.h"
#include "gateway/log.h"
#include "gateway/worker.h"
#include "gateway/accesslog.h"
#include "main/builtin.h"
#include "main/daemon.h"
#include "main/notify.h"
#include "main/pidfile.h"

#ifndef PORTICO_VERSION
#define PORTICO_VERSION "0"
#endif
#ifndef PORTICO_CONFDIR
#define PORTICO_CONFDIR "/etc/portico"
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "usage: portico [-c DIR] [-t] [-d] [-s SIGNAL] [-l LEVEL] [-h] [-v]\n"
            "  -c DIR    configuration directory: DIR/conf and DIR/conf.d/* (default "
            PORTICO_CONFDIR ")\n"
            "  -t        check the configuration and exit (0: valid, 1: errors printed)\n"
            "  -d        run as a daemon (detached; writes and locks the pid-file)\n"
            "  -s SIGNAL signal the instance running with this configuration (its pid-file):\n"
            "            stop (drain, then exit), quit (exit now), reload, reopen (log files)\n"
            "  -l LEVEL  log level: error, warn, notice (default), info, debug\n"
            "  -h        this help\n"
            "  -v        print the version\n");
}

/* rlimit-nofile, then uid/gid: done once the listening sockets are open, so
 * a privileged port can still be bound. */
static int apply_process_settings(const struct pt_config *conf)
{
    const struct pt_global *g = &conf->g;
    /* Descriptors: rlimit-nofile when set, else as many as the hard limit
     * allows (every connection, upstream and file in flight takes one). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        struct rlimit want = rl;
        if (g->rlimit_nofile > 0)
            want.rlim_cur = want.rlim_max = (rlim_t)g->rlimit_nofile;
        else
            want.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &want) < 0)
            pt_warn("rlimit-nofile %ld: %s", g->rlimit_nofile ? g->rlimit_nofile
                                                              : (long)want.rlim_cur,
                    strerror(errno));
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
            pt_notice("file descriptors: %llu (rlimit-nofile)", (unsigned long long)rl.rlim_cur);
    }
    gid_t gid = (gid_t)-1;
    uid_t uid = (uid_t)-1;
    if (g->groupname) {
        struct group *gr = getgrnam(g->groupname);
        if (!gr) {
            pt_err("groupname \"%s\": no such group", g->groupname);
            return -1;
        }
        gid = gr->gr_gid;
    } else if (g->gid >= 0) {
        gid = (gid_t)g->gid;
    }
    if (g->username) {
        struct passwd *pw = getpwnam(g->username);
        if (!pw) {
            pt_err("username \"%s\": no such user", g->username);
            return -1;
        }
        uid = pw->pw_uid;
        if (gid == (gid_t)-1)
            gid = pw->pw_gid;
    } else if (g->uid >= 0) {
        uid = (uid_t)g->uid;
        /* Never keep root's group: the user's own, else the uid's number. */
        if (gid == (gid_t)-1) {
            struct passwd *pw = getpwuid(uid);
            gid = pw ? pw->pw_gid : (gid_t)uid;
        }
    }
    /* Log files opened as root become the user's, so that a reopen after
     * a rotation (SIGUSR1) can open what logrotate leaves. */
    if (uid != (uid_t)-1 || gid != (gid_t)-1) {
        for (size_t i = 0; i < conf->n_vhosts; i++)
            if (conf->vhosts[i].access_log_fd >= 0 &&
                fchown(conf->vhosts[i].access_log_fd, uid, gid) < 0)
                pt_warn("access-log \"%s\": cannot give it to the user: %s",
                        conf->vhosts[i].access_log, strerror(errno));
        if (g->error_log && strcmp(g->error_log, "syslog") != 0 &&
            fchown(STDERR_FILENO, uid, gid) < 0)
            pt_warn("error-log \"%s\": cannot give it to the user: %s", g->error_log,
                    strerror(errno));
    }
    if ((gid != (gid_t)-1 || uid != (uid_t)-1) && setgroups(0, NULL) < 0 && uid != (uid_t)-1) {
        pt_err("cannot drop supplementary groups: %s", strerror(errno));
        return -1;
    }
    if (gid != (gid_t)-1 && setgid(gid) < 0) {
        pt_err("cannot change group to %u: %s", (unsigned)gid, strerror(errno));
        return -1;
    }
    if (uid != (uid_t)-1 && setuid(uid) < 0) {
        pt_err("cannot change user to %u: %s", (unsigned)uid, strerror(errno));
        return -1;
    }
    return 0;
}

static const struct {
    const char *name;
    int sig;
} commands[] = {
    {"stop", SIGTERM}, {"quit", SIGQUIT}, {"reload", SIGHUP}, {"reopen", SIGUSR1},
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

static const char *pid_file_of(const struct pt_config *conf)
{
    return conf->g.pid_file ? conf->g.pid_file : PT_PID_FILE_DEFAULT;
}

/* -s: signals the instance named by the configuration's pid-file. */
static int send_command(const struct pt_config *conf, const char *cmd)
{
    int sig = 0;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            sig = commands[i].sig;
    if (!sig) {
        fprintf(stderr, "portico: -s %s: unknown (stop, quit, reload, reopen)\n", cmd);
        return 2;
    }
    pid_t pid = pt_pidfile_running(pid_file_of(conf));
    if (pid < 0)
        return 1;
    if (kill(pid, sig) < 0) {
        fprintf(stderr, "portico: cannot signal pid %ld: %s\n", (long)pid, strerror(errno));
        return 1;
    }
    return 0;
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

/* Drains: waits for the workers while still taking signals, so that QUIT
 * or a second TERM/INT cuts the drain short. */
static void wait_workers(struct pt_config *conf, struct pt_worker *workers, int n,
                         const sigset_t *set)
{
    bool quitting = false;
    for (;;) {
        int done = 0;
        for (int i = 0; i < n; i++)
            done += pt_worker_done(&workers[i]);
        if (done == n)
            return;
        struct timespec t = {0, 100 * 1000 * 1000};
        int sig = sigtimedwait(set, NULL, &t);
        if (sig == SIGUSR1) {
            reopen_logs(conf);
            continue;
        }
        if (sig < 0 || quitting)
            continue;
        if (sig == SIGQUIT || sig == SIGTERM || sig == SIGINT) {
            pt_notice("%s while draining: closing every connection now", sig_name(sig));
            for (int i = 0; i < n; i++)
                pt_worker_quit(&workers[i]);
            quitting = true;
        }
    }
}

int main(int argc, char **argv)
{
    const char *dir = PORTICO_CONFDIR;
    const char *command = NULL;
    bool check_only = false, daemon_mode = false, level_given = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:tds:l:hv")) != -1) {
        switch (opt) {
        case 'c':
            dir = optarg;
            break;
        case 't':
            check_only = true;
            break;
        case 'd':
            daemon_mode = true;
            break;
        case 's':
            command = optarg;
            break;
        case 'l':
            pt_log_level = pt_log_parse_level(optarg);
            if (pt_log_level < 0) {
                fprintf(stderr, "portico: unknown log level \"%s\" (error, warn, notice, info, debug)\n",
                        optarg);
                return 2;
            }
            level_given = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'v':
            printf("portico %s\n", PORTICO_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "portico: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    pt_builtin_register();

    struct pt_diag diag = {.check_only = check_only || command};
    struct pt_config *conf = pt_config_load(dir, &diag);
    if (!conf) {
        fprintf(stderr, "portico: configuration in %s has %d error(s)\n", dir, diag.errors);
        return 1;
    }
    if (check_only) {
        pt_listen_probe(conf, &diag);
        printf("portico: configuration in %s is valid (%zu vhost(s), %d warning(s))\n", dir,
               conf->n_vhosts, diag.warnings);
        pt_config_retire(conf);
        return 0;
    }
    if (command) {
        int rc = send_command(conf, command);
        pt_config_retire(conf);
        return rc;
    }
    if (!level_given && conf->g.log_level >= 0)
        pt_log_level = conf->g.log_level;

    /* The pid file: always in daemon mode, else only when configured. */
    int pid_fd = -1;
    if (daemon_mode || conf->g.pid_file) {
        pid_fd = pt_pidfile_take(pid_file_of(conf));
        if (pid_fd < 0) {
            pt_config_retire(conf);
            return 1;
        }
    }
    if (daemon_mode) {
        if (pt_daemonize() < 0) {
            fprintf(stderr, "portico: cannot run as a daemon: %s\n", strerror(errno));
            pt_pidfile_release(pid_file_of(conf), pid_fd);
            pt_config_retire(conf);
            return 1;
        }
        pt_pidfile_update(pid_fd);
    }
    if (conf->g.error_log) {
        int rc = pt_log_open(conf->g.error_log);
        if (rc < 0) {
            fprintf(stderr, "portico: error-log \"%s\": cannot open: %s\n",
                    conf->g.error_log, strerror(-rc));
            pt_daemon_ready(false, false);
            pt_pidfile_release(pid_file_of(conf), pid_fd);
            pt_config_retire(conf);
            return 1;
        }
    }

    /* Blocked in every thread (workers inherit the mask) and taken here.
     * SIGPIPE is ignored: a write to a closed socket is EPIPE. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++)
        sigaddset(&set, handled[i]);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    int n = conf->g.count_threads;
    int *fds = calloc((size_t)n * (conf->n_listens ? conf->n_listens : 1), sizeof(int));
    struct pt_worker *workers = calloc((size_t)n, sizeof(*workers));
    if (!fds || !workers)
        abort();
    if (pt_listeners_open(conf, n, fds) < 0 || apply_process_settings(conf) < 0) {
        pt_daemon_ready(false, false);
        pt_pidfile_release(pid_file_of(conf), pid_fd);
        pt_config_retire(conf);
        free(fds);
        free(workers);
        return 1;
    }
    pt_limits_init(conf);
    int started = 0;
    for (; started < n; started++)
        if (pt_worker_start(&workers[started], started, conf, fds + (size_t)started * conf->n_listens) < 0)
            break;
    if (started == n) {
        for (size_t i = 0; i < conf->n_listens; i++) {
            char where[64];
            pt_listen_addr_text(&conf->listens[i], where, sizeof where);
            pt_notice("listening on %s (%zu vhost(s))", where, conf->listens[i].n_vhosts);
        }
        pt_notice("portico %s started: %d worker(s)", PORTICO_VERSION, n);
        pt_notify("READY=1\nSTATUS=serving");
        /* stderr stays when it is where the log goes: an error-log file,
         * or the journal (systemd runs `portico -d` with it). */
        bool log_file = conf->g.error_log && strcmp(conf->g.error_log, "syslog") != 0;
        pt_daemon_ready(true, log_file || (!conf->g.error_log && pt_log_to_journal()));
        bool quit = false;
        for (;;) {
            /* Once a second: the limits' rate buckets that are full again go. */
            struct timespec tick = {1, 0};
            int sig = sigtimedwait(&set, NULL, &tick);
            if (sig < 0) {
                pt_iptable_sweep(ev_time()); /* the clock of the workers' ev_now() */
                pt_log_flush_suppressed();
                continue;
            }
            if (sig == SIGHUP) {
                pt_notice("SIGHUP: configuration reload is not implemented yet; ignored");
                continue;
            }
            if (sig == SIGUSR1) {
                reopen_logs(conf);
                continue;
            }
            if (sig == SIGQUIT) {
                pt_notice("SIGQUIT: exiting now, without draining");
                quit = true;
                break;
            }
            if (sig != SIGTERM && sig != SIGINT) {
                pt_notice("%s: ignored (portico takes TERM/INT: stop, QUIT: exit now, "
                          "HUP: reload, USR1: reopen logs)", sig_name(sig));
                continue;
            }
            pt_notice("%s: stopping (drain timeout %ds)", sig == SIGINT ? "SIGINT" : "SIGTERM",
                      conf->g.drain_timeout_secs);
            break;
        }
        pt_notify("STOPPING=1");
        for (int i = 0; i < started; i++) {
            if (quit)
                pt_worker_quit(&workers[i]);
            else
                pt_worker_stop(&workers[i]);
        }
        wait_workers(conf, workers, started, &set);
    } else {
        pt_daemon_ready(false, false);
        for (int i = 0; i < started; i++)
            pt_worker_stop(&workers[i]);
    }
    for (int i = 0; i < started; i++)
        pt_worker_join(&workers[i]);
    int rc = started == n ? 0 : 1;
    if (rc == 0)
        pt_notice("stopped");
    pt_pidfile_release(pid_file_of(conf), pid_fd);
    free(fds);
    free(workers);
    pt_limits_free();
    pt_config_retire(conf);
    return rc;
}
