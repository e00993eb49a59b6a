/* Leveled logging to stderr (or the "error-log" file put in its place). Thread-safe: each message is one write(2). */
#ifndef PT_LOG_H
#define PT_LOG_H

#include <stdbool.h>

enum pt_log_level {
    PT_LOG_ERROR,
    PT_LOG_WARN,
    PT_LOG_NOTICE,
    PT_LOG_INFO,
    PT_LOG_DEBUG,
};

extern int pt_log_level;

/* "error", "warn" (or "warning"), "notice", "info", "debug" -> level; -1
 * if unknown. */
int pt_log_parse_level(const char *name);

/* The name of a level ("warn"). */
const char *pt_log_level_name(int level);

/* Lines look like "2026-12-07T11:27:19.974+00:00 [warn] text" (UTC, as
 * the access log's times). */
void pt_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sends the log to the file at path from now on (opened for appending,
 * created if missing; again at SIGUSR1, after a rotation), or to syslog(3)
 * (facility daemon) when path is "syslog".  On stderr that is the journal
 * (JOURNAL_STREAM), lines carry a "<N>" priority instead of a time.
 * Returns 0 or -errno. */
int pt_log_open(const char *path);

/* Whether stderr is systemd's journal (JOURNAL_STREAM). */
bool pt_log_to_journal(void);

/* Lines a client can cause over and over (a connection cut off, a bad
 * request refused) go through a limiter per call site: at most
 * PT_LOG_BURST a second each; the rest are counted, and a line says how
 * many were suppressed (with the next one let through, or from
 * pt_log_flush_suppressed(), which the main thread calls every second). */
#define PT_LOG_BURST 10

struct pt_log_limit {
    const char *fmt;
    int level;
    _Atomic long sec;          /* the second being counted */
    _Atomic unsigned n;        /* lines in it */
    _Atomic unsigned dropped;  /* suppressed since the last summary */
    _Atomic int listed;
    struct pt_log_limit *next;
};

/* Whether a line of l may go out now (says what was suppressed first). */
int pt_log_limit_take(struct pt_log_limit *l);
void pt_log_flush_suppressed(void);

#define pt_log_rl(lvl, f_, ...) do { \
    static struct pt_log_limit lim_ = {.fmt = f_, .level = lvl}; \
    if (pt_log_enabled(lvl) && pt_log_limit_take(&lim_)) \
        pt_log(lvl, f_, __VA_ARGS__); \
} while (0)
#define pt_warn_rl(f_, ...) pt_log_rl(PT_LOG_WARN, f_, __VA_ARGS__)
#define pt_info_rl(f_, ...) pt_log_rl(PT_LOG_INFO, f_, __VA_ARGS__)

#define pt_log_enabled(lvl) ((lvl) <= pt_log_level)
#define pt_err(...)    pt_log(PT_LOG_ERROR, __VA_ARGS__)
#define pt_warn(...)   pt_log(PT_LOG_WARN, __VA_ARGS__)
#define pt_notice(...) pt_log(PT_LOG_NOTICE, __VA_ARGS__)
#define pt_info(...)   do { if (pt_log_enabled(PT_LOG_INFO)) pt_log(PT_LOG_INFO, __VA_ARGS__); } while (0)
#define pt_debug(...)  do { if (pt_log_enabled(PT_LOG_DEBUG)) pt_log(PT_LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
