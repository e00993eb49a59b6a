/* Regular expressions (PCRE2) as the configuration writes them: nginx's
 * "~pattern" (case-sensitive) and "~*pattern" (case-insensitive), for
 * regex mountpoints and reject-service-keywords.
 *
 * A pattern is compiled once at load, JIT-compiled when the platform has a
 * JIT, and matched with bounded work: a hostile subject against a pattern
 * that backtracks catastrophically costs a match limit, not seconds.
 * Subjects are bytes (no UTF-8 check), as nginx matches by default.  Match
 * data is one block per thread, reused by every match on that thread.
 *
 * Templates ("/$1/htdocs") name captures $0 (the whole match) to $9; the
 * rest of their text is taken as it is. */
#ifndef PT_REGEX_H
#define PT_REGEX_H

#include <stdbool.h>
#include <stddef.h>

struct pt_pool;
struct pt_regex;

/* Whether a configuration string is a pattern ("~..."). */
static inline bool pt_regex_spec(const char *s)
{
    return s && s[0] == '~';
}

/* The pattern of spec ("~pat", "~*pat"; blanks after the "~" or "~*" are
 * skipped) and whether it is case-insensitive. */
const char *pt_regex_pattern(const char *spec, bool *caseless);

/* Compiles spec.  NULL on error, with PCRE2's message in why and the
 * offset in the pattern (as pt_regex_pattern() returns it) in *offset. */
struct pt_regex *pt_regex_compile(const char *spec, char *why, size_t why_size,
                                  size_t *offset);
void pt_regex_free(struct pt_regex *re);

/* How many capturing groups the pattern has. */
unsigned pt_regex_groups(const struct pt_regex *re);

/* Captures $0..$9 of a match: offsets into the subject; an unset group
 * has start == end. */
#define PT_REGEX_REFS 10
struct pt_regex_caps {
    size_t start[PT_REGEX_REFS], end[PT_REGEX_REFS];
};

/* Matches s[0..len).  Returns 1 (caps filled when not NULL), 0 when it
 * does not match, -1 when the match was cut short (the match limit,
 * memory): *why says which (static text). */
int pt_regex_match(const struct pt_regex *re, const char *s, size_t len,
                   struct pt_regex_caps *caps, const char **why);

/* The first "$N" of a template, or NULL. */
const char *pt_regex_first_ref(const char *tmpl);

/* The highest N of tmpl's "$N", or -1 when it has none. */
int pt_regex_max_ref(const char *tmpl);

/* tmpl with every "$N" replaced by that capture of subject, in pool
 * (NUL-terminated); *len its length. */
char *pt_regex_expand(struct pt_pool *pool, const char *tmpl, const char *subject,
                      const struct pt_regex_caps *caps, size_t *len);

/* Frees the calling thread's match data (at thread exit). */
void pt_regex_thread_cleanup(void);

#endif
