/* The mount table: which mount of a vhost serves a path, a mount's setup
 * through its handler (gateway/handler.h), and basic authentication. */
#ifndef PT_MOUNT_H
#define PT_MOUNT_H

#include <stdbool.h>
#include <stddef.h>

#include "gateway/config.h"

struct pt_req;
struct pt_diag;
struct pt_pool;

/* Loads the basic-auth file and runs the handler's setup.  Returns 0 or
 * -1 (reported to d); both are tried, so every error is reported. */
int pt_mount_setup(struct pt_mount *m, struct pt_diag *d);
void pt_mount_teardown(struct pt_mount *m);

/* pt_mount_setup() for every mount of vh (a vhost of conf, whose
 * listeners are resolved), with a warning for basic-auth on a plaintext
 * vhost reachable from other hosts.  Returns how many mounts failed. */
int pt_mount_setup_vhost(const struct pt_config *conf, struct pt_vhost *vh,
                         struct pt_diag *d);

/* How pt_mount_route() went. */
enum pt_route {
    PT_ROUTE_OK,     /* *m serves path; *rest is set */
    PT_ROUTE_NONE,   /* no mount serves it */
    PT_ROUTE_CLIMB,  /* *m's rest, filled in from captures, climbs above its root */
    PT_ROUTE_FAILED, /* *m's pattern could not be matched (its limits): *why */
};

/* The mount of vh serving path, nginx's way: an exact-match mount that
 * matches; else the first regex mount, in config order, whose pattern
 * matches; else the longest mountpoint matching on a segment boundary
 * (ties: the first).  *rest is the path past the mountpoint ("" or
 * "/..."; a regex mount's: its template filled in from the captures and
 * normalized, in pool, else the whole path).  A vhost without regex mounts
 * (has_regex) costs no pattern match. */
enum pt_route pt_mount_route(const struct pt_vhost *vh, const char *path, size_t len,
                             struct pt_pool *pool, const struct pt_mount **m,
                             const char **rest, size_t *rest_len, const char **why);

/* The mount pt_mount_route() picks for path (one whose pattern failed
 * included), or NULL. */
const struct pt_mount *pt_mount_match(const struct pt_vhost *vh,
                                      const char *path, size_t len);

/* The part of path (as matched by a prefix or exact mountpoint) past m's
 * mountpoint: "" or "/...".  For the "/" mount it is the whole path. */
const char *pt_mount_rest(const struct pt_mount *m, const char *path,
                          size_t len, size_t *rest_len);

/* Whether m's origin has this scheme ("file://"), case-insensitively. */
bool pt_mount_is(const struct pt_mount *m, const char *scheme);

/* Checks the request's Basic credentials against the mount's users
 * (gateway/auth.c).  Returns true when allowed (sets r->remote_user):
 * always on a mount without basic-auth, never on one whose file could
 * not be read. */
bool pt_basic_auth_check(struct pt_req *r);

/* Answers 401 with the challenge; the log line names the user tried. */
void pt_basic_auth_refuse(struct pt_req *r);

#endif
