/* The mount table: origin schemes map to handlers (a small vtable each, one
 * file per handler), and requests map to the longest matching mountpoint. */
#ifndef PT_MOUNT_H
#define PT_MOUNT_H

#include <stdbool.h>
#include <stddef.h>

#include "gateway/config.h"

struct pt_req;
struct pt_diag;

struct pt_handler {
    const char *name;
    /* At config load: validate m->target, open what the mount needs and keep
     * it in m->handler_data.  Report problems with pt_diag_error() at
     * m->origin_pos and return -1. */
    int (*setup)(struct pt_mount *m, struct pt_diag *d);
    void (*teardown)(struct pt_mount *m);
    /* Answer the request (r->mount, r->rest are set). */
    void (*handle)(struct pt_req *r);
};

extern const struct pt_handler pt_handler_file;
extern const struct pt_handler pt_handler_redirect;
extern const struct pt_handler pt_handler_cgi;      /* cgi/handler.c */
extern const struct pt_handler pt_handler_unimplemented;

/* Splits "scheme://rest" into kind + target.  Returns 0 or -1 (unknown
 * scheme, *why set). */
int pt_origin_parse(const char *origin, enum pt_origin_kind *kind,
                    const char **target, const char **why);

/* Chooses the handler for m->kind and runs its setup, and loads the
 * basic-auth file.  Returns 0 or -1 (reported to d). */
int pt_mount_setup(struct pt_mount *m, struct pt_diag *d);
void pt_mount_teardown(struct pt_mount *m);

/* Longest mountpoint matching path on a segment boundary (exact-match mounts
 * match only themselves).  NULL when none. */
const struct pt_mount *pt_mount_match(const struct pt_vhost *vh,
                                      const char *path, size_t len);

/* The part of path (as matched by pt_mount_match) past m's mountpoint: ""
 * or "/...".  For the "/" mount it is the whole path. */
const char *pt_mount_rest(const struct pt_mount *m, const char *path,
                          size_t len, size_t *rest_len);

/* Checks the request's Basic credentials against the mount's users.
 * Returns true when allowed (sets r->remote_user). */
bool pt_basic_auth_check(struct pt_req *r);

#endif
