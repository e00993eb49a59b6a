/* Keys in the configuration that are not portico's own: the ones lwsws
 * documents (what portico does with each), and suggestions for the ones
 * nobody documents ("did you mean"). */
#ifndef PT_CONFKEYS_H
#define PT_CONFKEYS_H

#include <stdbool.h>
#include <stddef.h>

enum pt_lws_support {
    PT_LWS_SAME,        /* implemented: in portico's key tables */
    PT_LWS_DIFFERENT,   /* what it asks for is done another way (note says how) */
    PT_LWS_UNSUPPORTED, /* not done: a warning (an error under strict) */
    PT_LWS_REFUSED,     /* it changes what the vhost is: always an error */
};

struct pt_lws_key {
    const char *scope;  /* "global", "vhost", "mount" */
    const char *name;
    enum pt_lws_support support;
    const char *note;   /* why, or what to use instead */
};

/* The lwsws key name in scope that portico does not take as its own, or
 * NULL. */
const struct pt_lws_key *pt_lws_key_find(const char *scope, const char *name);

/* The lwsws key names of scope portico does not take itself (for
 * suggestions): up to max into out; returns how many. */
size_t pt_lws_key_names(const char *scope, const char **out, size_t max);

/* The known name nearest to name (case, '-' and '_' ignored; up to one
 * edit in four characters), or NULL. */
const char *pt_key_suggest(const char *name, const char *const *known, size_t n);

/* Keys whose typo must never pass silently: access control. */
bool pt_key_is_security(const char *name);

#endif
