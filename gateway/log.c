#include "gateway/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "gateway/httpdate.h"

int pt_log_level = PT_LOG_NOTICE;

/* Where lines go: stderr as text with a time, stderr read by journald
 * (its own times; a "<N>" priority prefix per line), or syslog(3). */
enum { SINK_STDERR, SINK_JOURNAL, SINK_SYSLOG };
static _Atomic int sink = -1;
static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG};

/* systemd sets JOURNAL_STREAM=DEV:INO when stderr is the journal. */
static int stderr_sink(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    struct stat st;
    unsigned long long dev, ino;
    if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
        (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino)
        return SINK_JOURNAL;
    return SINK_STDERR;
}

/* Where lines go, found on first use (a benign race: every thread finds
 * the same). */
static int cur_sink(void)
{
    if (sink < 0)
        sink = stderr_sink();
    return sink;
}

static const char *const names[] = {"error", "warn", "notice", "info", "debug"};

const char *pt_log_level_name(int level)
{
    return level >= 0 && level < (int)(sizeof(names) / sizeof(names[0])) ? names[level] : "?";
}

int pt_log_parse_level(const char *name)
{
    if (strcmp(name, "warning") == 0) /* syslog's name for it */
        return PT_LOG_WARN;
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
    size_t n;
    if (cur_sink() == SINK_STDERR) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        pt_isotime((double)tv.tv_sec + tv.tv_usec / 1e6, buf); /* UTC, like the access log */
        n = PT_ISOTIME_LEN;
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, " [%s] ", names[level]);
    } else {
        n = (size_t)snprintf(buf, sizeof(buf), "<%d>[%s] ", prio[level], names[level]);
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += (size_t)m;
    if (n > sizeof(buf) - 2)
        n = sizeof(buf) - 2;
    if (sink == SINK_SYSLOG) {
        buf[n] = '\0';
        syslog(prio[level], "%s", strchr(buf, ' ') + 1);
        return;
    }
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
    if (strcmp(path, "syslog") == 0) {
        openlog("portico", LOG_PID | LOG_NDELAY, LOG_DAEMON);
        sink = SINK_SYSLOG;
        return 0;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    /* The same descriptor number, now another file: no thread can see a
     * closed one in between. */
    int rc = dup2(fd, STDERR_FILENO) < 0 ? -errno : 0;
    close(fd);
    sink = SINK_STDERR;
    return rc;
}

bool pt_log_to_journal(void)
{
    return cur_sink() == SINK_JOURNAL;
}
