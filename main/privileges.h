/* Process settings applied once the listening sockets are open:
 * rlimit-nofile, then the switch to username/groupname (uid/gid). */
#ifndef PT_PRIVILEGES_H
#define PT_PRIVILEGES_H

struct pt_config;

/* Raises the descriptor limit, gives the log files to the configured
 * user, and becomes that user, keeping only the capabilities portico
 * still needs, on the threads that need them: the main thread keeps
 * CAP_NET_BIND_SERVICE and CAP_DAC_READ_SEARCH (a reload binds new ports
 * below 1024 and reads root's keys), worker threads only CAP_NET_RAW when
 * a vhost has bind-iface (SO_BINDTODEVICE).  Call before the workers
 * start.  Returns 0, or -1 after logging why. */
int pt_privileges_drop(const struct pt_config *conf);

#endif
