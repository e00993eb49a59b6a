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

#include "gateway/accesslog.h"
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

/* Not running as root, portico keeps only the capabilities it uses, and
 * holds them permitted but not effective except where it uses them:
 *   CAP_NET_BIND_SERVICE: the main thread, raised only while a reload
 *     binds new ports (pt_privileges_bind), so a new port below 1024
 *     works after the switch to the user;
 *   CAP_NET_RAW, when a vhost has bind-iface: effective, for
 *     SO_BINDTODEVICE on listening and upstream sockets.
 * Worker threads drop CAP_NET_BIND_SERVICE as they start.  The
 * inheritable and ambient sets are emptied, so the programs workers run
 * (CGI) get nothing, even under systemd's AmbientCapabilities.  Reading
 * the configuration and keys at a reload is the user's business: give it
 * read access (Debian: the ssl-cert group). */
static cap_value_t kept[2];
static int n_kept;
static bool raw_kept, bind_kept;

/* Sets the calling thread's permitted set to what is kept (less
 * CAP_NET_BIND_SERVICE unless with_bind), effective to CAP_NET_RAW (and
 * CAP_NET_BIND_SERVICE when bind_effective). */
static int apply(bool with_bind, bool bind_effective)
{
    cap_t c = cap_init(); /* all clear: inheritable too */
    int rc = c ? 0 : -1;
    cap_value_t v;
    if (rc == 0 && raw_kept) {
        v = CAP_NET_RAW;
        rc = cap_set_flag(c, CAP_PERMITTED, 1, &v, CAP_SET) |
             cap_set_flag(c, CAP_EFFECTIVE, 1, &v, CAP_SET);
    }
    if (rc == 0 && bind_kept && with_bind) {
        v = CAP_NET_BIND_SERVICE;
        rc = cap_set_flag(c, CAP_PERMITTED, 1, &v, CAP_SET);
        if (rc == 0 && bind_effective)
            rc = cap_set_flag(c, CAP_EFFECTIVE, 1, &v, CAP_SET);
    }
    if (rc == 0)
        rc = cap_set_proc(c);
    int err = errno;
    cap_free(c);
    errno = err;
    return rc;
}

static void worker_thread_init(void)
{
    if (apply(false, false) < 0)
        pt_err("a worker thread cannot give up its capabilities: %s", strerror(errno));
}

void pt_privileges_bind(bool on)
{
    if (bind_kept && apply(true, on) < 0)
        pt_warn("CAP_NET_BIND_SERVICE: %s", strerror(errno));
}

/* Keeps what is wanted of what the process has. */
static void keep_caps(const struct pt_config *conf)
{
    cap_t cur = cap_get_proc();
    cap_flag_value_t has;
    bool want_raw = false;
    for (size_t i = 0; i < conf->n_vhosts && !want_raw; i++)
        want_raw = conf->vhosts[i].bind_iface;
    bind_kept = cur && cap_get_flag(cur, CAP_NET_BIND_SERVICE, CAP_PERMITTED, &has) == 0 &&
                has == CAP_SET;
    raw_kept = want_raw && cur &&
               cap_get_flag(cur, CAP_NET_RAW, CAP_PERMITTED, &has) == 0 && has == CAP_SET;
    cap_free(cur);
    n_kept = 0;
    if (bind_kept)
        kept[n_kept++] = CAP_NET_BIND_SERVICE;
    if (raw_kept)
        kept[n_kept++] = CAP_NET_RAW;
    if (cap_reset_ambient() < 0 || apply(true, false) < 0) {
        pt_warn("cannot set capabilities: %s", strerror(errno));
        return;
    }
    pt_worker_thread_init = worker_thread_init;
    char names[96] = "";
    for (int i = 0; i < n_kept; i++) {
        char *name = cap_to_name(kept[i]);
        size_t len = strlen(names);
        snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", name ? name : "?");
        cap_free(name);
    }
    pt_notice("running as uid %u gid %u; capabilities kept: %s", (unsigned)getuid(),
              (unsigned)getgid(), n_kept ? names : "none");
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
        pt_access_log_chown(conf, uid, gid);
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
    bool switching = uid != (uid_t)-1 && uid != 0 && geteuid() == 0;
    if (switching && prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) < 0)
        pt_warn("cannot keep capabilities across the switch to the user: %s",
                strerror(errno));
    if (uid != (uid_t)-1 && setuid(uid) < 0) {
        pt_err("cannot change user to %u: %s", (unsigned)uid, strerror(errno));
        return -1;
    }
    if (switching)
        prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L);
    if (geteuid() != 0)
        keep_caps(conf); /* switched, or started as a user (ambient capabilities) */
    return 0;
}

