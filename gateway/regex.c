/* Regular expressions: PCRE2 compiled at load (JIT when it can), matched
 * under limits with per-thread match data, and "$N" templates. */
#include "gateway/regex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "gateway/pool.h"

/* Bounds on one match.  The match limit counts backtracking steps: a
 * pattern that fits a URL path takes a few hundred at most on a path of
 * max-uri-length, while "^(a+)+$" against "aaa...b" would take 2^n; the
 * limit stops it within a fraction of a millisecond.  The depth limit
 * bounds the interpreter's backtracking memory (the JIT ignores it and
 * has its own 32 KiB stack). */
#define MATCH_LIMIT 10000
#define DEPTH_LIMIT 10000

struct pt_regex {
    pcre2_code *code;
    pcre2_match_context *limits;
    unsigned groups;
};

/* $0..$9 are all a template can name: match data with that many pairs
 * serves every pattern (a pattern with more groups still matches; the
 * groups past $9 are just not recorded). */
static _Thread_local pcre2_match_data *match_data;

const char *pt_regex_pattern(const char *spec, bool *caseless)
{
    const char *p = spec + 1;
    *caseless = *p == '*';
    if (*caseless)
        p++;
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

struct pt_regex *pt_regex_compile(const char *spec, char *why, size_t why_size,
                                  size_t *offset)
{
    bool caseless;
    const char *pat = pt_regex_pattern(spec, &caseless);
    int err;
    PCRE2_SIZE at = 0;
    *offset = 0;
    struct pt_regex *re = calloc(1, sizeof *re);
    if (!re) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    re->code = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                             caseless ? PCRE2_CASELESS : 0, &err, &at, NULL);
    if (!re->code) {
        if (pcre2_get_error_message(err, (PCRE2_UCHAR *)why, why_size) < 0)
            snprintf(why, why_size, "PCRE2 error %d", err);
        *offset = at;
        free(re);
        return NULL;
    }
    /* Without a JIT (a platform PCRE2 does not have one for, or a
     * build without it) the interpreter matches the same, slower. */
    (void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
    uint32_t groups = 0;
    pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &groups);
    re->groups = groups;
    re->limits = pcre2_match_context_create(NULL);
    if (!re->limits) {
        snprintf(why, why_size, "out of memory");
        pt_regex_free(re);
        return NULL;
    }
    pcre2_set_match_limit(re->limits, MATCH_LIMIT);
    pcre2_set_depth_limit(re->limits, DEPTH_LIMIT);
    return re;
}

void pt_regex_free(struct pt_regex *re)
{
    if (!re)
        return;
    pcre2_match_context_free(re->limits);
    pcre2_code_free(re->code);
    free(re);
}

unsigned pt_regex_groups(const struct pt_regex *re)
{
    return re->groups;
}

static const char *failure(int rc)
{
    switch (rc) {
    case PCRE2_ERROR_MATCHLIMIT: return "regex match limit reached";
    case PCRE2_ERROR_DEPTHLIMIT: return "regex depth limit reached";
    case PCRE2_ERROR_HEAPLIMIT: return "regex heap limit reached";
    case PCRE2_ERROR_JIT_STACKLIMIT: return "regex JIT stack limit reached";
    case PCRE2_ERROR_NOMEMORY: return "out of memory matching a regex";
    }
    return "regex match failed";
}

int pt_regex_match(const struct pt_regex *re, const char *s, size_t len,
                   struct pt_regex_caps *caps, const char **why)
{
    if (!match_data)
        match_data = pcre2_match_data_create(PT_REGEX_REFS, NULL);
    if (!match_data) {
        *why = "out of memory for regex match data";
        return -1;
    }
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, match_data, re->limits);
    /* A (*UTF) pattern and a path that is not UTF-8: it cannot match. */
    if (rc == PCRE2_ERROR_NOMATCH ||
        (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21))
        return 0;
    if (rc < 0) {
        *why = failure(rc);
        return -1;
    }
    if (!caps)
        return 1;
    /* rc 0: more groups than pairs; every pair is set (or unset). */
    size_t set = rc == 0 ? PT_REGEX_REFS : (size_t)rc;
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(match_data);
    for (size_t i = 0; i < PT_REGEX_REFS; i++) {
        bool unset = i >= set || ov[2 * i] == PCRE2_UNSET;
        caps->start[i] = unset ? 0 : ov[2 * i];
        caps->end[i] = unset ? 0 : ov[2 * i + 1];
    }
    return 1;
}

void pt_regex_thread_cleanup(void)
{
    pcre2_match_data_free(match_data);
    match_data = NULL;
}

/* ---- templates ---- */

static bool is_ref(const char *p)
{
    return p[0] == '$' && p[1] >= '0' && p[1] <= '9';
}

const char *pt_regex_first_ref(const char *tmpl)
{
    for (const char *p = strchr(tmpl, '$'); p; p = strchr(p + 1, '$'))
        if (is_ref(p))
            return p;
    return NULL;
}

int pt_regex_max_ref(const char *tmpl)
{
    int max = -1;
    for (const char *p = pt_regex_first_ref(tmpl); p; p = pt_regex_first_ref(p + 2))
        if (p[1] - '0' > max)
            max = p[1] - '0';
    return max;
}

char *pt_regex_expand(struct pt_pool *pool, const char *tmpl, const char *subject,
                      const struct pt_regex_caps *caps, size_t *len)
{
    size_t n = 0;
    for (const char *p = tmpl; *p; p++) {
        if (is_ref(p)) {
            int i = *++p - '0';
            n += caps->end[i] - caps->start[i];
        } else {
            n++;
        }
    }
    char *out = pt_pool_alloc(pool, n + 1), *o = out;
    for (const char *p = tmpl; *p; p++) {
        if (is_ref(p)) {
            int i = *++p - '0';
            memcpy(o, subject + caps->start[i], caps->end[i] - caps->start[i]);
            o += caps->end[i] - caps->start[i];
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    *len = n;
    return out;
}
