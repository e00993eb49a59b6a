/* The life of a started CGI program, which may outlive its request.
 *
 * Reaping: libev's child watchers work only on the default loop and the
 * workers run their own loops, so each program gets a pidfd (pidfd_open)
 * watched for readability, then waitpid(pid, WNOHANG).  Without pidfds
 * (Linux < 5.3) a short timer polls waitpid instead.
 *
 * Killing: SIGTERM to the whole process group, SIGKILL after a grace
 * period.  A group id may be signalled only while a process of ours pins
 * it: the leader until it is reaped (a zombie still pins it, so a group
 * being killed is SIGKILLed once more just before the leader is reaped),
 * then the children it left behind, which are ours (orphans.c) until we
 * reap them.  A program that exits leaving processes in its group stays
 * here, its group polled, until they are gone or its deadline kills them.
 *
 * Every program of a worker is on that worker's registry (the CGI
 * handler's per-worker state), which kills and reaps what is left when
 * the worker stops. */
#include "cgi/cgi.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "gateway/log.h"

#define KILL_GRACE 2.0       /* seconds between SIGTERM and SIGKILL */
#define POLL_INTERVAL 0.05   /* reaping without pidfd */
#define GROUP_POLL 0.25      /* a group whose leader has exited */
#define SWEEP_INTERVAL 1.0   /* strays: orphans.c */
#define ERRLINE_MAX 1024     /* longer stderr lines are split */
#define ERR_READS 64         /* stderr reads per event: a flood cannot hog the loop */

struct pt_cgi_reg {
    struct ev_loop *loop;
    struct pt_cgi_proc *head;
    ev_timer sweep;
};

struct pt_cgi_proc {
    struct pt_cgi_reg *reg;
    struct pt_cgi_proc *prev, *next;
    struct ev_loop *loop;
    pid_t pid;
    int pidfd;
    ev_io child_io;
    ev_timer poll;
    ev_io err_io;
    ev_timer deadline;
    ev_timer kill_timer;
    pt_cgi_timeout_fn on_timeout;
    void *owner;
    double timeout;
    bool reaped;       /* the leader */
    bool group_done;   /* and no process of ours is left in its group */
    bool killing, in_cb;
    size_t errlen;
    char errbuf[ERRLINE_MAX];
    char tag[];
};

/* ---- stderr -> log ---- */

static void err_flush(struct pt_cgi_proc *p, bool partial)
{
    size_t start = 0;
    for (size_t i = 0; i < p->errlen; i++) {
        if (p->errbuf[i] != '\n')
            continue;
        size_t end = i;
        if (end > start && p->errbuf[end - 1] == '\r')
            end--;
        pt_warn("cgi %s[%d]: %.*s", p->tag, (int)p->pid, (int)(end - start),
                p->errbuf + start);
        start = i + 1;
    }
    if (start < p->errlen && (partial || (start == 0 && p->errlen == ERRLINE_MAX))) {
        pt_warn("cgi %s[%d]: %.*s", p->tag, (int)p->pid,
                (int)(p->errlen - start), p->errbuf + start);
        start = p->errlen;
    }
    memmove(p->errbuf, p->errbuf + start, p->errlen - start);
    p->errlen -= start;
}

static void err_close(struct pt_cgi_proc *p)
{
    if (p->err_io.fd < 0)
        return;
    err_flush(p, true);
    ev_io_stop(p->loop, &p->err_io);
    close(p->err_io.fd);
    p->err_io.fd = -1;
}

/* Reads what stderr has now (up to a budget).  Returns false at EOF or
 * error. */
static bool err_read(struct pt_cgi_proc *p)
{
    for (int i = 0; i < ERR_READS; i++) {
        ssize_t n = read(p->err_io.fd, p->errbuf + p->errlen, ERRLINE_MAX - p->errlen);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        if (n <= 0)
            return false;
        p->errlen += (size_t)n;
        err_flush(p, false);
    }
    return true; /* more later: the watcher fires again */
}

static void on_err(struct ev_loop *loop, ev_io *w, int revents)
{
    struct pt_cgi_proc *p = w->data;
    if (!err_read(p))
        err_close(p);
}

/* ---- freeing ---- */

static void proc_free(struct pt_cgi_proc *p)
{
    ev_io_stop(p->loop, &p->child_io);
    ev_timer_stop(p->loop, &p->poll);
    ev_timer_stop(p->loop, &p->deadline);
    ev_timer_stop(p->loop, &p->kill_timer);
    err_close(p);
    if (p->pidfd >= 0)
        close(p->pidfd);
    pt_cgi_group_untrack(p->pid);
    if (p->prev)
        p->prev->next = p->next;
    else if (p->reg)
        p->reg->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    free(p);
}

static void maybe_free(struct pt_cgi_proc *p)
{
    if (p->group_done && !p->owner && !p->in_cb)
        proc_free(p);
}

/* ---- reaping ---- */

static void log_status(const struct pt_cgi_proc *p, int st)
{
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        pt_debug("cgi %s[%d]: exited", p->tag, (int)p->pid);
    else if (WIFEXITED(st))
        pt_info("cgi %s[%d]: exited with status %d", p->tag, (int)p->pid,
                WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        pt_info("cgi %s[%d]: killed by signal %d", p->tag, (int)p->pid,
                WTERMSIG(st));
}

/* Returns true once the leader is reaped. */
static bool try_reap(struct pt_cgi_proc *p)
{
    if (p->reaped)
        return true;
    int st = 0;
    pid_t r;
    do
        r = waitpid(p->pid, &st, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return false;
    if (r == p->pid)
        log_status(p, st);
    p->reaped = true; /* or ECHILD: nothing left to wait for */
    pt_cgi_group_leader_gone(p->pid);
    ev_io_stop(p->loop, &p->child_io);
    ev_timer_stop(p->loop, &p->poll);
    ev_timer_stop(p->loop, &p->kill_timer);
    if (p->pidfd >= 0) {
        close(p->pidfd);
        p->pidfd = -1;
    }
    /* What it wrote last is in the pipe; anything holding stderr open
     * after the leader is gone is not waited for. */
    if (p->err_io.fd >= 0) {
        err_read(p);
        err_close(p);
    }
    return true;
}

/* Whether a process of ours is still in the group (which pins its id),
 * reaping those that have exited.  Only once the leader is reaped: the
 * rest of the group are its children, or ours when it is gone. */
static bool group_alive(struct pt_cgi_proc *p)
{
    if (!p->reaped)
        return true;
    if (p->group_done)
        return false;
    pid_t r;
    do
        r = waitpid(-p->pid, NULL, WNOHANG);
    while (r > 0 || (r < 0 && errno == EINTR));
    if (r == 0)
        return true;
    p->group_done = true; /* ECHILD */
    ev_timer_stop(p->loop, &p->poll);
    ev_timer_stop(p->loop, &p->kill_timer);
    if (!p->owner)
        ev_timer_stop(p->loop, &p->deadline);
    return false;
}

static void signal_group(struct pt_cgi_proc *p, int sig)
{
    if (group_alive(p))
        kill(-p->pid, sig);
}

/* Like try_reap(), but the group of a program being killed is SIGKILLed
 * first, while the exited leader (a zombie) still pins the group id:
 * whatever it started and that ignored SIGTERM goes too. */
static bool reap_group(struct pt_cgi_proc *p)
{
    if (p->killing && !p->reaped) {
        siginfo_t si;
        si.si_pid = 0;
        if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
            si.si_pid == p->pid)
            kill(-p->pid, SIGKILL);
    }
    return try_reap(p);
}

/* Whether the program and what it left in its group are all gone. */
static bool settle(struct pt_cgi_proc *p)
{
    bool was_reaped = p->reaped;
    if (!reap_group(p))
        return false;
    if (!group_alive(p))
        return true;
    if (!was_reaped) {
        pt_debug("cgi %s[%d]: exited, leaving processes in its group", p->tag,
                 (int)p->pid);
        ev_timer_stop(p->loop, &p->poll);
        ev_timer_set(&p->poll, GROUP_POLL, GROUP_POLL);
        ev_timer_start(p->loop, &p->poll);
    }
    return false;
}

/* The leader has exited (pidfd readable), or a poll. */
static void on_exit_event(struct pt_cgi_proc *p)
{
    if (settle(p))
        maybe_free(p);
}

static void on_child(struct ev_loop *loop, ev_io *w, int revents)
{
    on_exit_event(w->data);
}

static void on_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
    on_exit_event(w->data);
}

/* ---- killing ---- */

static void kill_group(struct pt_cgi_proc *p)
{
    if (p->killing)
        return;
    p->killing = true;
    signal_group(p, SIGTERM);
    if (!p->group_done)
        ev_timer_start(p->loop, &p->kill_timer);
}

static void on_kill_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pt_cgi_proc *p = w->data;
    if (group_alive(p)) {
        pt_info("cgi %s[%d]: %s still running %gs after SIGTERM: SIGKILL",
                p->tag, (int)p->pid, p->reaped ? "processes it left are" : "it is",
                KILL_GRACE);
        kill(-p->pid, SIGKILL);
    }
    maybe_free(p);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pt_cgi_proc *p = w->data;
    if (!p->reaped)
        pt_warn("cgi %s[%d]: cgi-timeout (%gs) reached: killing its process group",
                p->tag, (int)p->pid, p->timeout);
    else if (group_alive(p))
        pt_warn("cgi %s[%d]: cgi-timeout (%gs) reached: killing the processes "
                "it left running", p->tag, (int)p->pid, p->timeout);
    p->in_cb = true;
    if (p->owner && p->on_timeout)
        p->on_timeout(p->owner);
    p->in_cb = false;
    kill_group(p);
    maybe_free(p);
}

/* ---- public ---- */

static void on_sweep(struct ev_loop *loop, ev_timer *w, int revents)
{
    pt_cgi_sweep();
}

struct pt_cgi_reg *pt_cgi_reg_new(struct ev_loop *loop)
{
    struct pt_cgi_reg *reg = calloc(1, sizeof *reg);
    if (!reg)
        return NULL;
    reg->loop = loop;
    ev_timer_init(&reg->sweep, on_sweep, SWEEP_INTERVAL, SWEEP_INTERVAL);
    ev_timer_start(loop, &reg->sweep);
    return reg;
}

struct pt_cgi_proc *pt_cgi_proc_start(struct pt_cgi_reg *reg, const char *tag,
                                      pid_t pid, int err_fd, double timeout,
                                      pt_cgi_timeout_fn on_timeout, void *owner)
{
    size_t tl = strlen(tag);
    struct pt_cgi_proc *p = reg ? calloc(1, sizeof *p + tl + 1) : NULL;
    struct ev_loop *loop = reg ? reg->loop : NULL;
    if (!p) {
        free(p);
        close(err_fd);
        kill(-pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        pt_cgi_group_untrack(pid);
        return NULL;
    }
    memcpy(p->tag, tag, tl + 1);
    p->loop = loop;
    p->pid = pid;
    p->owner = owner;
    p->on_timeout = on_timeout;
    p->reg = reg;
    p->next = reg->head;
    if (reg->head)
        reg->head->prev = p;
    reg->head = p;

    p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    ev_io_init(&p->child_io, on_child, p->pidfd, EV_READ);
    p->child_io.data = p;
    ev_timer_init(&p->poll, on_poll, POLL_INTERVAL, POLL_INTERVAL);
    p->poll.data = p;
    if (p->pidfd >= 0)
        ev_io_start(loop, &p->child_io);
    else
        ev_timer_start(loop, &p->poll);

    ev_io_init(&p->err_io, on_err, err_fd, EV_READ);
    p->err_io.data = p;
    ev_io_start(loop, &p->err_io);

    ev_timer_init(&p->deadline, on_deadline, timeout, 0.);
    p->deadline.data = p;
    p->timeout = timeout;
    if (timeout > 0)
        ev_timer_start(loop, &p->deadline);
    ev_timer_init(&p->kill_timer, on_kill_timer, KILL_GRACE, 0.);
    p->kill_timer.data = p;
    return p;
}

void pt_cgi_proc_detach(struct pt_cgi_proc *p, bool kill)
{
    p->owner = NULL;
    p->on_timeout = NULL;
    if (kill)
        kill_group(p);
    if (p->group_done)
        ev_timer_stop(p->loop, &p->deadline);
    maybe_free(p);
}

pid_t pt_cgi_proc_pid(const struct pt_cgi_proc *p)
{
    return p->pid;
}

/* The worker is stopping: end every program still running (SIGTERM, up
 * to a second to exit, then SIGKILL) and reap it, blocking, since nothing
 * will run this loop again. */
void pt_cgi_reg_free(struct pt_cgi_reg *reg)
{
    if (!reg)
        return;
    ev_timer_stop(reg->loop, &reg->sweep);
    bool any = false;
    for (struct pt_cgi_proc *p = reg->head; p; p = p->next) {
        if (!p->killing) {
            p->killing = true;
            signal_group(p, SIGTERM);
        }
        any = any || !p->group_done;
    }
    for (int i = 0; any && i < 100; i++) {
        any = false;
        for (struct pt_cgi_proc *p = reg->head; p; p = p->next)
            any = !settle(p) || any;
        if (any) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    while (reg->head) {
        struct pt_cgi_proc *p = reg->head;
        signal_group(p, SIGKILL);
        if (!p->reaped) {
            while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
                ;
            p->reaped = true;
        }
        /* SIGKILLed: what is left of the group exits at once. */
        while (waitpid(-p->pid, NULL, 0) > 0 || errno == EINTR)
            ;
        p->owner = NULL;
        p->in_cb = false;
        proc_free(p);
    }
    pt_cgi_sweep();
    free(reg);
}
