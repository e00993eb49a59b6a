/* -d: running detached from the terminal. */
#ifndef PT_DAEMON_H
#define PT_DAEMON_H

#include <stdbool.h>

/* fork, setsid, fork again, chdir("/"), stdin from /dev/null.  Returns 0
 * in the daemon, -1 (errno set) when it could not.  The process that ran
 * `portico -d` waits until the daemon calls pt_daemon_ready() and exits
 * with 0 when it started, 1 when it did not (or died first), so a failed
 * start is seen by whoever started it; until then the daemon's errors
 * still reach the terminal. */
int pt_daemonize(void);

/* Tells the waiting process how the start went.  On success stdout, and
 * stderr unless keep_stderr (it is the error-log file), go to /dev/null. */
void pt_daemon_ready(bool ok, bool keep_stderr);

#endif
