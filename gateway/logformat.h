/* Access log lines: Apache's "combined", "json" (one object a line), or a
 * format string of Apache-like % directives (docs/config.md lists them).
 * A format is parsed once, at load; a line is written by walking it. */
#ifndef PT_LOGFORMAT_H
#define PT_LOGFORMAT_H

#include <stddef.h>

struct pt_req;
struct pt_logfmt_item;

enum pt_logfmt_kind { PT_LOGFMT_COMBINED, PT_LOGFMT_JSON, PT_LOGFMT_CUSTOM };

struct pt_logfmt {
    enum pt_logfmt_kind kind;
    struct pt_logfmt_item *items; /* custom: literals and directives */
    size_t n_items;
    char *text;                   /* custom: the spec, which items point into */
};

/* A line never exceeds this, its '\n' included. */
#define PT_LOGFMT_LINE_MAX 16384

/* "combined", "json" or a format string.  NULL on an error, which why
 * (why_cap bytes) then describes. */
struct pt_logfmt *pt_logfmt_parse(const char *spec, char *why, size_t why_cap);
void pt_logfmt_free(struct pt_logfmt *f);

/* The line for r, '\n' included, into out (PT_LOGFMT_LINE_MAX bytes);
 * returns its length.  now: the time, for "json" and %D/%T (ev_time()). */
size_t pt_logfmt_line(const struct pt_logfmt *f, const struct pt_req *r, double now,
                      char *out);

/* s as the inside of a JSON string into out (at most cap bytes): '"', '\\'
 * and control characters escaped, and each byte that is not part of valid
 * UTF-8 as \u00XX; an escape or a character is never cut.  Returns the
 * length written. */
size_t pt_json_escape(char *out, size_t cap, const char *s, size_t len);

#endif
