/* What CGI programs leave behind, process-wide.
 *
 * A program that exits while something it started runs on (`sleep 30 &`)
 * would hand that child to init, and its process group could then only be
 * signalled by number: once its last member is gone the number is free and
 * may name somebody else's group.  So portico is a child subreaper
 * (PR_SET_CHILD_SUBREAPER): orphans of a program become portico's
 * children.  A group whose leader is reaped is then pinned by children of
 * ours (alive or zombie) until we reap them, and waitpid(-pgid) says when
 * it is empty, so the group can be signalled safely up to its cgi-timeout
 * (proc.c).
 *
 * Orphans that left their group (setsid, a daemon) are nobody's to reap
 * but ours: the sweep reaps exited children that belong to no tracked
 * group.  To tell them apart it needs every group a worker still tracks,
 * and it must not see a child spawned but not yet tracked; both are kept
 * under one mutex, taken only to spawn, untrack and sweep. */
#include "cgi/cgi.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gateway/log.h"

#define SWEEP_MAX 64 /* reaped per sweep: the rest next time */

struct group {
    pid_t pgid;          /* = its leader's pid */
    bool leader_gone;    /* reaped: children of ours pin the id now */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct group *groups; /* tracked, unordered */
static size_t ngroups, cap;
static unsigned spawning;

static void become_subreaper(void)
{
    if (prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L) < 0)
        pt_warn("cgi: cannot become a child subreaper (%s): processes a CGI "
                "program leaves running are not bounded by cgi-timeout",
                strerror(errno));
}

/* From a worker, so after -d has forked (fork does not pass it on). */
void pt_cgi_orphans_enable(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, become_subreaper);
}

static struct group *find(pid_t pgid)
{
    for (size_t i = 0; i < ngroups; i++)
        if (groups[i].pgid == pgid)
            return &groups[i];
    return NULL;
}

void pt_cgi_spawn_begin(void)
{
    pthread_mutex_lock(&mu);
    spawning++;
    pthread_mutex_unlock(&mu);
}

int pt_cgi_spawn_end(pid_t pid)
{
    int rc = 0;
    pthread_mutex_lock(&mu);
    if (pid > 0) {
        if (ngroups == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct group *g = realloc(groups, ncap * sizeof *g);
            if (g) {
                groups = g;
                cap = ncap;
            }
        }
        if (ngroups < cap)
            groups[ngroups++] = (struct group){ pid, false };
        else
            rc = -1; /* still "spawning": the caller ends it, then aborts */
    }
    if (rc == 0)
        spawning--;
    pthread_mutex_unlock(&mu);
    return rc;
}

void pt_cgi_spawn_abort(void)
{
    pthread_mutex_lock(&mu);
    spawning--;
    pthread_mutex_unlock(&mu);
}

void pt_cgi_group_leader_gone(pid_t pgid)
{
    pthread_mutex_lock(&mu);
    struct group *g = find(pgid);
    if (g)
        g->leader_gone = true;
    pthread_mutex_unlock(&mu);
}

void pt_cgi_group_untrack(pid_t pgid)
{
    pthread_mutex_lock(&mu);
    struct group *g = find(pgid);
    if (g)
        *g = groups[--ngroups];
    pthread_mutex_unlock(&mu);
}

/* Peeks at the first exited child (WNOWAIT).  A leader is its worker's
 * to reap (its pidfd fires), and so is a member of a group whose leader
 * is gone (the worker polls such groups): the sweep stops there and goes
 * on next time.  A member of a group whose leader is still there (a
 * grandchild orphaned inside the group while the program runs) is reaped
 * here: the leader pins the group id meanwhile.  Anything else is a
 * stray, reaped here. */
unsigned pt_cgi_sweep(void)
{
    unsigned n = 0;
    pthread_mutex_lock(&mu);
    while (!spawning && n < SWEEP_MAX) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid <= 0)
            break;
        pid_t pgid = getpgid(si.si_pid);
        struct group *g = pgid > 0 ? find(pgid) : NULL;
        if (find(si.si_pid) || (g && g->leader_gone))
            break;
        if (waitpid(si.si_pid, NULL, WNOHANG) != si.si_pid)
            break;
        n++;
    }
    pthread_mutex_unlock(&mu);
    if (n)
        pt_debug("cgi: reaped %u process(es) left by CGI programs outside their group", n);
    return n;
}
