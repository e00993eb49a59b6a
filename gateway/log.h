/* Leveled logging to stderr. Thread-safe: each message is one write(2). */
#ifndef PT_LOG_H
#define PT_LOG_H

enum pt_log_level {
    PT_LOG_ERROR,
    PT_LOG_WARN,
    PT_LOG_NOTICE,
    PT_LOG_INFO,
    PT_LOG_DEBUG,
};

extern int pt_log_level;

/* "error", "warn", "notice", "info", "debug" -> level; -1 if unknown. */
int pt_log_parse_level(const char *name);

void pt_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pt_log_enabled(lvl) ((lvl) <= pt_log_level)
#define pt_err(...)    pt_log(PT_LOG_ERROR, __VA_ARGS__)
#define pt_warn(...)   pt_log(PT_LOG_WARN, __VA_ARGS__)
#define pt_notice(...) pt_log(PT_LOG_NOTICE, __VA_ARGS__)
#define pt_info(...)   do { if (pt_log_enabled(PT_LOG_INFO)) pt_log(PT_LOG_INFO, __VA_ARGS__); } while (0)
#define pt_debug(...)  do { if (pt_log_enabled(PT_LOG_DEBUG)) pt_log(PT_LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
