#include "gateway/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int pt_log_level = PT_LOG_NOTICE;

static const char *const names[] = {"error", "warn", "notice", "info", "debug"};

int pt_log_parse_level(const char *name)
{
    for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

void pt_log(int level, const char *fmt, ...)
{
    if (level > pt_log_level)
        return;
    char buf[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm); /* UTC, like the access log */
    size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, ".%03d+00:00 [%s] ",
                          (int)(tv.tv_usec / 1000), names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += (size_t)m;
    if (n > sizeof(buf) - 2)
        n = sizeof(buf) - 2;
    buf[n++] = '\n';
    /* One write per line keeps lines from different threads whole. */
    ssize_t w = write(STDERR_FILENO, buf, n);
    (void)w;
}

/* Every limiter that has counted a line, for the periodic summary. */
static struct pt_log_limit *_Atomic limits;

static void summary(struct pt_log_limit *l)
{
    unsigned d = atomic_exchange(&l->dropped, 0);
    if (d)
        pt_log(l->level, "%u more line(s) like \"%s\" suppressed", d, l->fmt);
}

int pt_log_limit_take(struct pt_log_limit *l)
{
    if (!atomic_exchange(&l->listed, 1)) {
        l->next = atomic_load(&limits);
        while (!atomic_compare_exchange_weak(&limits, &l->next, l))
            ;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    long sec = atomic_load(&l->sec);
    if (sec != ts.tv_sec && atomic_compare_exchange_strong(&l->sec, &sec, ts.tv_sec)) {
        atomic_store(&l->n, 0);
        summary(l);
    }
    if (atomic_fetch_add(&l->n, 1) < PT_LOG_BURST)
        return 1;
    atomic_fetch_add(&l->dropped, 1);
    return 0;
}

void pt_log_flush_suppressed(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    for (struct pt_log_limit *l = atomic_load(&limits); l; l = l->next)
        if (atomic_load(&l->sec) != ts.tv_sec)
            summary(l);
}

int pt_log_open(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    /* The same descriptor number, now another file: no thread can see a
     * closed one in between. */
    int rc = dup2(fd, STDERR_FILENO) < 0 ? -errno : 0;
    close(fd);
    return rc;
}
