/* portico: command line, configuration, workers, signals. */
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
#include "gateway/limits.h"
#include "gateway/log.h"
#include "gateway/worker.h"
#include "main/builtin.h"

#ifndef PORTICO_VERSION
#define PORTICO_VERSION "0"
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "usage: portico [-c DIR] [-t] [-l LEVEL] [-h] [-v]\n"
            "  -c DIR    configuration directory: DIR/conf and DIR/conf.d/* (default /etc/portico)\n"
            "  -t        check the configuration and exit (0: valid, 1: errors printed)\n"
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

int main(int argc, char **argv)
{
    const char *dir = "/etc/portico";
    bool check_only = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:tl:hv")) != -1) {
        switch (opt) {
        case 'c':
            dir = optarg;
            break;
        case 't':
            check_only = true;
            break;
        case 'l':
            pt_log_level = pt_log_parse_level(optarg);
            if (pt_log_level < 0) {
                fprintf(stderr, "portico: unknown log level \"%s\" (error, warn, notice, info, debug)\n",
                        optarg);
                return 2;
            }
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

    struct pt_diag diag = {.check_only = check_only};
    struct pt_config *conf = pt_config_load(dir, &diag);
    if (!conf) {
        fprintf(stderr, "portico: configuration in %s has %d error(s)\n", dir, diag.errors);
        return 1;
    }
    if (check_only) {
        printf("portico: configuration in %s is valid (%zu vhost(s), %d warning(s))\n", dir,
               conf->n_vhosts, diag.warnings);
        pt_config_retire(conf);
        return 0;
    }

    /* Signals are taken by the main thread with sigwait(); workers never
     * see them.  SIGPIPE is ignored: a write to a closed socket is EPIPE. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    int n = conf->g.count_threads;
    int *fds = calloc((size_t)n * (conf->n_listens ? conf->n_listens : 1), sizeof(int));
    struct pt_worker *workers = calloc((size_t)n, sizeof(*workers));
    if (!fds || !workers)
        abort();
    if (pt_listeners_open(conf, n, fds) < 0 || apply_process_settings(conf) < 0) {
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
        for (size_t i = 0; i < conf->n_listens; i++)
            pt_notice("listening on %s:%d (%zu vhost(s))",
                      conf->listens[i].interface ? conf->listens[i].interface : "*",
                      conf->listens[i].port, conf->listens[i].n_vhosts);
        pt_notice("portico %s started: %d worker(s)", PORTICO_VERSION, n);
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
            pt_notice("%s: stopping (drain timeout %ds)", sig == SIGINT ? "SIGINT" : "SIGTERM",
                      conf->g.drain_timeout_secs);
            break;
        }
    }
    for (int i = 0; i < started; i++)
        pt_worker_stop(&workers[i]);
    for (int i = 0; i < started; i++)
        pt_worker_join(&workers[i]);
    int rc = started == n ? 0 : 1;
    if (rc == 0)
        pt_notice("stopped");
    free(fds);
    free(workers);
    pt_limits_free();
    pt_config_retire(conf);
    return rc;
}
