/* Process settings after the sockets are open (see privileges.h). */
#include "main/privileges.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/worker.h"

static void raise_nofile(const struct pt_global *g)
{
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
}

/* After the switch to the user, capabilities are kept per thread (Linux
 * keeps them per thread; threads inherit their creator's):
 *   the main thread: CAP_NET_BIND_SERVICE, to bind a new port below 1024
 *     at a reload, and CAP_DAC_READ_SEARCH, to read the configuration,
 *     certificates and keys again (they are typically root's, mode 0600);
 *   worker threads, which handle the network: only CAP_NET_RAW, and only
 *     when a vhost has bind-iface (SO_BINDTODEVICE on upstream sockets).
 * Nothing is in the inheritable or ambient sets, so the programs workers
 * run (CGI) get none. */
static cap_value_t main_caps[3], worker_caps[1];
static int n_main_caps, n_worker_caps;

static void want_caps(const struct pt_config *conf)
{
    n_main_caps = n_worker_caps = 0;
    main_caps[n_main_caps++] = CAP_NET_BIND_SERVICE;
    main_caps[n_main_caps++] = CAP_DAC_READ_SEARCH;
    for (size_t i = 0; i < conf->n_vhosts; i++)
        if (conf->vhosts[i].bind_iface) {
            main_caps[n_main_caps++] = CAP_NET_RAW;
            worker_caps[n_worker_caps++] = CAP_NET_RAW;
            break;
        }
}

/* Exactly caps, permitted and effective, on the calling thread. */
static int keep_only(const cap_value_t *caps, int n)
{
    cap_t c = cap_init(); /* all clear */
    int rc = -1;
    if (c && (n == 0 || (cap_set_flag(c, CAP_PERMITTED, n, caps, CAP_SET) == 0 &&
                         cap_set_flag(c, CAP_EFFECTIVE, n, caps, CAP_SET) == 0)) &&
        cap_set_proc(c) == 0)
        rc = 0;
    cap_free(c);
    return rc;
}

static void worker_thread_init(void)
{
    if (keep_only(worker_caps, n_worker_caps) < 0)
        pt_err("a worker thread cannot give up its capabilities: %s", strerror(errno));
}

static void names_of(const cap_value_t *caps, int n, char *buf, size_t size)
{
    snprintf(buf, size, "%s", n ? "" : "none");
    for (int i = 0; i < n; i++) {
        char *name = cap_to_name(caps[i]);
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s", i ? ", " : "", name ? name : "?");
        cap_free(name);
    }
}

int pt_privileges_drop(const struct pt_config *conf)
{
    const struct pt_global *g = &conf->g;
    raise_nofile(g);
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
    bool keep = uid != (uid_t)-1 && uid != 0 && geteuid() == 0;
    if (keep && prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) < 0)
        keep = false;
    if (uid != (uid_t)-1 && setuid(uid) < 0) {
        pt_err("cannot change user to %u: %s", (unsigned)uid, strerror(errno));
        return -1;
    }
    if (keep) {
        prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L);
        want_caps(conf);
        if (keep_only(main_caps, n_main_caps) < 0) {
            pt_warn("cannot keep capabilities after the switch to the user: %s: a reload "
                    "cannot bind a new port below 1024 nor read root's keys",
                    strerror(errno));
            n_main_caps = 0;
            keep_only(NULL, 0);
        }
        pt_worker_thread_init = worker_thread_init;
        char m[160], w[64];
        names_of(main_caps, n_main_caps, m, sizeof m);
        names_of(worker_caps, n_worker_caps, w, sizeof w);
        pt_notice("running as uid %u gid %u; capabilities kept: %s (main thread), %s "
                  "(workers)", (unsigned)uid, (unsigned)getgid(), m, w);
    }
    return 0;
}

