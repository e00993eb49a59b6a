/* basic-auth user files: "user:password" lines, the password as written
 * (lwsws) or hashed as htpasswd(1) and mkpasswd(1) write it
 * (gateway/pwhash.h).  A parsed file is immutable and reference-counted,
 * so a worker may go on checking a password against a list that another
 * thread has just replaced (gateway/authstate.h). */
#ifndef PT_HTPASSWD_H
#define PT_HTPASSWD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "gateway/pwhash.h"

struct pt_diag;
struct pt_srcpos;

struct pt_htuser {
    char *name;
    char *stored;            /* the password field as written */
    enum pt_pwscheme scheme; /* never PT_PW_BAD */
};

struct pt_htusers {
    atomic_int refs;
    size_t n;
    struct pt_htuser *v;     /* in file order */
};

/* Reads the file at path.  A line that is not "user:password", a garbled
 * hash of a known scheme, is an error at path:LINE; a password that looks
 * like a hash of an unknown scheme (kept as plaintext) and a user listed
 * again (the first line counts) are warnings there.  A file that cannot
 * be read or lists nobody is an error at where.  Returns the list (one
 * reference) or NULL when there was any error. */
struct pt_htusers *pt_htusers_load(const char *path, const struct pt_srcpos *where,
                                   struct pt_diag *d);

void pt_htusers_ref(struct pt_htusers *u);
/* Frees the list with its last reference (on any thread). */
void pt_htusers_unref(struct pt_htusers *u);

/* The first user called name (len bytes), or NULL.  Every name is looked
 * at, so the time does not depend on which one matched. */
const struct pt_htuser *pt_htusers_find(const struct pt_htusers *u, const char *name,
                                        size_t len);

#endif
