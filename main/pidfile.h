/* The pid file: written and locked by the running instance, read by
 * `portico -s` to find it. */
#ifndef PT_PIDFILE_H
#define PT_PIDFILE_H

#include <sys/types.h>

#define PT_PID_FILE_DEFAULT "/run/portico.pid"

/* Creates or takes over path, locks it and writes this process's pid.
 * Returns the locked descriptor (kept open while running), or -1 after
 * printing why (another instance holds it: its pid is named). */
int pt_pidfile_take(const char *path);

/* Rewrites the pid (after daemonizing, the pid changed). */
void pt_pidfile_update(int fd);

/* Unlinks path and closes fd (at exit). */
void pt_pidfile_release(const char *path, int fd);

/* The pid of the running instance that holds path's lock, or -1 after
 * printing why not (no file, not locked: stale, unreadable). */
pid_t pt_pidfile_running(const char *path);

#endif
