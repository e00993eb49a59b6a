/* The access log files, one line per request (gateway/logformat.c makes
 * the line). */
#ifndef PT_ACCESSLOG_H
#define PT_ACCESSLOG_H

#include <sys/types.h>

struct pt_config;
struct pt_logfmt;
struct pt_req;

/* Writes the line for r to r->vhost->access_log_fd in its vhost's format
 * (one write(2), which O_APPEND keeps whole across threads). */
void pt_access_log(const struct pt_req *r);

/* Opens path for snapshot c, once: a file it has open already (by this
 * name or another) gives the same descriptor, so vhosts sharing a file
 * share one O_APPEND descriptor.  Returns it, or -errno. */
int pt_access_log_open(struct pt_config *c, const char *path);

/* Gives f to snapshot c (freed with it). */
void pt_access_log_keep(struct pt_config *c, struct pt_logfmt *f);

/* Closes c's files and frees its formats. */
void pt_access_logs_free(struct pt_config *c);

/* Opens every access log file of c again (SIGUSR1, after a rotation),
 * onto the descriptor the workers write to.  Returns how many failed (each
 * logged; that file goes on being written where it was). */
int pt_access_log_reopen(struct pt_config *c);

/* Gives c's access log files to the user portico switches to (so that a
 * reopen can open what logrotate leaves); failures are logged. */
void pt_access_log_chown(const struct pt_config *c, uid_t uid, gid_t gid);

#endif
