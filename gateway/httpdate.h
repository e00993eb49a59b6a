/* IMF-fixdate (RFC 9110 5.6.7) formatting and parsing, with a per-thread
 * cache of the current second's string for Date headers and logs. */
#ifndef PT_HTTPDATE_H
#define PT_HTTPDATE_H

#include <time.h>

#define PT_HTTPDATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* Writes 29 chars + NUL into out (30 bytes). */
void pt_httpdate_format(time_t t, char *out);

/* Parses IMF-fixdate (and the two obsolete forms); -1 if invalid. */
time_t pt_httpdate_parse(const char *s, size_t len);

/* Cached per thread: the Date header value for now. */
const char *pt_httpdate_now(void);

/* Cached per thread: "10/Oct/2000:13:55:36 +0000" for access logs. */
const char *pt_logdate_now(void);

/* "2026-12-07T11:27:19.974+00:00" (UTC, milliseconds) for t into out
 * (PT_ISOTIME_LEN bytes, no NUL): the error log's and the JSON access
 * log's times.  The second's part is made once a second per thread. */
#define PT_ISOTIME_LEN 29
void pt_isotime(double t, char *out);

#endif
