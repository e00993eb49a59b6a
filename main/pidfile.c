/* The pid file.  A lock (flock) held for the process's life tells a live
 * instance from a stale file: a second instance cannot take it, and
 * `portico -s` refuses to signal a pid nobody holds the lock for (it may
 * name an unrelated process by now). */
#include "main/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static pid_t read_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *end;
    long v = strtol(buf, &end, 10);
    return v > 0 && (*end == '\n' || *end == '\0') ? (pid_t)v : -1;
}

void pt_pidfile_update(int fd)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
        fprintf(stderr, "portico: cannot write the pid file: %s\n", strerror(errno));
}

int pt_pidfile_take(const char *path)
{
    for (int tries = 0; tries < 10; tries++) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            fprintf(stderr, "portico: pid-file \"%s\": cannot open: %s\n", path,
                    strerror(errno));
            return -1;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            int e = errno;
            pid_t other = read_pid(fd);
            if (e == EWOULDBLOCK)
                fprintf(stderr, "portico: another instance (pid %ld) is running with "
                        "pid-file \"%s\"\n", (long)other, path);
            else
                fprintf(stderr, "portico: pid-file \"%s\": cannot lock: %s\n", path,
                        strerror(e));
            close(fd);
            return -1;
        }
        /* Locked; but if the instance that held it unlinked it meanwhile,
         * the lock is on a removed file: open the path again. */
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino) {
            pt_pidfile_update(fd);
            return fd;
        }
        close(fd);
    }
    fprintf(stderr, "portico: pid-file \"%s\": keeps being replaced\n", path);
    return -1;
}

void pt_pidfile_release(const char *path, int fd)
{
    if (fd < 0)
        return;
    unlink(path); /* while still locked: nobody takes a file being removed */
    close(fd);
}

pid_t pt_pidfile_running(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "portico: pid-file \"%s\": %s (is portico running with this "
                "configuration?)\n", path, strerror(errno));
        return -1;
    }
    pid_t pid = read_pid(fd);
    int locked = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd);
    if (!locked) {
        fprintf(stderr, "portico: pid-file \"%s\" is stale: no running portico holds it\n",
                path);
        return -1;
    }
    if (pid <= 0) {
        fprintf(stderr, "portico: pid-file \"%s\": no pid in it\n", path);
        return -1;
    }
    return pid;
}
