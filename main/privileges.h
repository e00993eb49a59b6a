/* Process settings applied once the listening sockets are open:
 * rlimit-nofile, then the switch to username/groupname (uid/gid). */
#ifndef PT_PRIVILEGES_H
#define PT_PRIVILEGES_H

#include <stdbool.h>

struct pt_config;

/* Raises the descriptor limit, gives the log files to the configured
 * user, and becomes that user.  Not running as root (switched, or started
 * as a user with ambient capabilities), it keeps only what it uses:
 * CAP_NET_BIND_SERVICE, permitted on the main thread and raised only while
 * a reload binds (pt_privileges_bind), and CAP_NET_RAW when a vhost has
 * bind-iface; the programs it runs get nothing.  Call before the workers
 * start.  Returns 0, or -1 after logging why. */
int pt_privileges_drop(const struct pt_config *conf);

/* Around the binding of new listening sockets at a reload (main thread):
 * CAP_NET_BIND_SERVICE effective, if it was kept. */
void pt_privileges_bind(bool on);

#endif
