/* Access log in Apache combined format, one line per request. */
#ifndef PT_ACCESSLOG_H
#define PT_ACCESSLOG_H

struct pt_req;

/* Writes the line for r to r->vhost->access_log_fd (one write(2), which
 * O_APPEND keeps whole across threads). */
void pt_access_log(const struct pt_req *r);

struct pt_config;

/* Opens every vhost's access log again (SIGUSR1, after a rotation), onto
 * the descriptor the workers write to.  Returns how many failed (each
 * logged; that vhost goes on writing to the old file). */
int pt_access_log_reopen(struct pt_config *c);

#endif
