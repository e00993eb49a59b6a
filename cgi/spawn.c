/* Starting a CGI program: posix_spawn (glibc uses CLONE_VFORK, so the cost
 * does not grow with portico's memory), never a shell.
 *
 * The child gets its own process group (so a timeout can end everything
 * it started), an empty signal mask and default dispositions (workers
 * block SIGTERM/SIGINT/SIGHUP and portico ignores SIGPIPE; both would
 * otherwise be inherited), and its three standard streams on pipes.
 * Every descriptor portico opens is close-on-exec, so the program sees
 * only 0, 1 and 2.  The new group is tracked (orphans.c) from the moment
 * it exists. */
#include "cgi/cgi.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void close_pair(int p[2])
{
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
    p[0] = p[1] = -1;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* The child's ends are dup2()ed onto 0..2 (which clears close-on-exec on
 * the copies); the originals close at exec. */
static int spawn_with(const char *prog, const char *arg, const char *dir,
                      char *const env[], int child_fds[3], pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc)
        return rc;
    rc = posix_spawnattr_init(&at);
    if (rc) {
        posix_spawn_file_actions_destroy(&fa);
        return rc;
    }
    for (int i = 0; i < 3 && !rc; i++)
        rc = posix_spawn_file_actions_adddup2(&fa, child_fds[i], i);
    if (!rc && dir && *dir)
        rc = posix_spawn_file_actions_addchdir_np(&fa, dir);
    sigemptyset(&none);
    sigfillset(&all);
    if (!rc)
        rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
                                      POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (!rc)
        rc = posix_spawnattr_setpgroup(&at, 0);
    if (!rc)
        rc = posix_spawnattr_setsigmask(&at, &none);
    if (!rc)
        rc = posix_spawnattr_setsigdefault(&at, &all);
    if (!rc) {
        char *argv[] = {(char *)prog, (char *)arg, NULL};
        rc = posix_spawn(pid, prog, &fa, &at, argv, env);
    }
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

/* cgi-chroot: posix_spawn cannot chroot, so the child is forked and does
 * what spawn_with() asks of posix_spawn, plus the chroot, with
 * async-signal-safe calls only.  prog and dir are paths inside root. */
static int fork_chrooted(const char *root, const char *prog, const char *arg,
                         const char *dir, char *const env[], int child_fds[3], pid_t *pid)
{
    char *argv[] = {(char *)prog, (char *)arg, NULL};
    int err_pipe[2];
    if (pipe2(err_pipe, O_CLOEXEC) < 0)
        return errno;
    pid_t p = fork();
    if (p < 0) {
        int e = errno;
        close(err_pipe[0]);
        close(err_pipe[1]);
        return e;
    }
    if (p == 0) {
        sigset_t none;
        sigemptyset(&none);
        for (int s = 1; s < NSIG; s++)
            signal(s, SIG_DFL);
        int e = 0;
        if (setpgid(0, 0) < 0 || pthread_sigmask(SIG_SETMASK, &none, NULL) != 0)
            e = errno;
        for (int i = 0; i < 3 && !e; i++)
            if (dup2(child_fds[i], i) < 0)
                e = errno;
        if (!e && (chroot(root) < 0 || chdir(dir && *dir ? dir : "/") < 0))
            e = errno;
        if (!e) {
            execve(prog, argv, env);
            e = errno;
        }
        (void)!write(err_pipe[1], &e, sizeof e); /* why, to the parent */
        _exit(127);
    }
    close(err_pipe[1]);
    int e = 0;
    ssize_t n;
    while ((n = read(err_pipe[0], &e, sizeof e)) < 0 && errno == EINTR)
        ;
    close(err_pipe[0]);
    if (n == (ssize_t)sizeof e && e) { /* it failed before exec: reap it */
        while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
            ;
        return e;
    }
    *pid = p;
    return 0;
}

int pt_cgi_spawn(const char *prog, const char *arg, const char *dir, char *const env[],
                 struct pt_cgi_child *child)
{
    return pt_cgi_spawn_in(NULL, prog, arg, dir, env, child);
}

int pt_cgi_spawn_in(const char *root, const char *prog, const char *arg, const char *dir,
                    char *const env[], struct pt_cgi_child *child)
{
    int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
    int rc = 0;
    for (int i = 0; i < 3; i++) {
        if (pipe2(p[i], O_CLOEXEC) < 0) {
            rc = errno;
            goto fail;
        }
    }
    /* stdin: the child reads p[0][0]; stdout/stderr: it writes p[i][1]. */
    int child_fds[3] = {p[0][0], p[1][1], p[2][1]};
    int ours[3] = {p[0][1], p[1][0], p[2][0]};
    for (int i = 0; i < 3; i++) {
        if (set_nonblock(ours[i]) < 0) {
            rc = errno;
            goto fail;
        }
    }
    pid_t pid = 0;
    pt_cgi_spawn_begin();
    rc = root ? fork_chrooted(root, prog, arg, dir, env, child_fds, &pid)
              : spawn_with(prog, arg, dir, env, child_fds, &pid);
    if (pt_cgi_spawn_end(rc ? 0 : pid) < 0) {
        kill(-pid, SIGKILL); /* the sweep holds off: pid still pins its group */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        pt_cgi_spawn_abort();
        rc = ENOMEM;
    }
    if (rc)
        goto fail;
    for (int i = 0; i < 3; i++)
        close(child_fds[i]);
    child->pid = pid;
    child->in_fd = ours[0];
    child->out_fd = ours[1];
    child->err_fd = ours[2];
    return 0;
fail:
    for (int i = 0; i < 3; i++)
        close_pair(p[i]);
    return rc ? rc : EIO;
}
