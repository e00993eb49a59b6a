/* Daemon mode: the classic double fork, with a pipe back to the process
 * that started it so its exit status says whether portico came up. */
#include "main/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

static int ready_fd = -1;

int pt_daemonize(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0) {
        close(p[1]);
        char c = 1;
        ssize_t n;
        do
            n = read(p[0], &c, 1);
        while (n < 0 && errno == EINTR);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        _exit(n == 1 && c == 0 ? 0 : 1);
    }
    close(p[0]);
    if (setsid() < 0)
        _exit(1);
    pid = fork(); /* not a session leader: it can never get a terminal */
    if (pid < 0)
        _exit(1);
    if (pid > 0)
        _exit(0);
    ready_fd = p[1];
    if (chdir("/") < 0)
        return -1;
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        close(null);
    }
    return 0;
}

void pt_daemon_ready(bool ok, bool keep_stderr)
{
    if (ready_fd < 0)
        return;
    if (ok) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            if (!keep_stderr)
                dup2(null, STDERR_FILENO);
            close(null);
        }
    }
    char c = ok ? 0 : 1;
    ssize_t n = write(ready_fd, &c, 1);
    (void)n;
    close(ready_fd);
    ready_fd = -1;
}
