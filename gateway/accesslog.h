/* Access log in Apache combined format, one line per request. */
#ifndef PT_ACCESSLOG_H
#define PT_ACCESSLOG_H

struct pt_req;

/* Writes the line for r to r->vhost->access_log_fd (one write(2), which
 * O_APPEND keeps whole across threads). */
void pt_access_log(const struct pt_req *r);

#endif
