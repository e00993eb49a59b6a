/* A basic-auth mount's state shared by the worker threads: its user list,
 * re-read when the file changes on disk, and a cache of the credentials
 * that were recently found good (bcrypt and yescrypt take 50-100 ms a
 * check, on the worker's thread).
 *
 * Threads.  The list itself is immutable and reference-counted
 * (gateway/htpasswd.h).  The mutex guards only the pointer to the current
 * list, its generation and the cache, and is never held while a password
 * is hashed or the file read: a worker takes a reference to the list
 * under the lock, checks the password without it, and gives the
 * reference back; the thread that swaps in a new list drops the state's
 * reference to the old one, which is freed by whichever thread lets go
 * of it last.  Once a second at most, the first request to come along
 * looks at the file (an atomic second counter picks that request's
 * thread; a flag keeps two re-reads from overlapping), and re-reads it
 * when its mtime, size or inode changed.  A failed re-read keeps the last
 * good list and warns once per change of the file. */
#ifndef PT_AUTHSTATE_H
#define PT_AUTHSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pt_diag;
struct pt_htusers;
struct pt_srcpos;

/* Entries of the cache of good credentials, and how long one lasts. */
#define PT_AUTH_CACHE_SIZE 64
#define PT_AUTH_CACHE_SECS 60

struct pt_authstate;

/* Reads the file (problems go to d, see pt_htusers_load); NULL if it is
 * unusable.  where is the mount's position, for messages. */
struct pt_authstate *pt_authstate_new(const char *path, const struct pt_srcpos *where,
                                      struct pt_diag *d);
void pt_authstate_free(struct pt_authstate *a);

/* The current users (a reference: pt_htusers_unref() it) and their
 * generation; looks at the file first when a second has passed. */
struct pt_htusers *pt_authstate_users(struct pt_authstate *a, uint64_t *gen);

/* The cache key of the decoded credentials "user:password": a salted
 * SHA-256, so the password itself is never kept. */
void pt_authstate_key(const struct pt_authstate *a, const char *cred, size_t n,
                      unsigned char key[32]);
/* Whether key was found good for generation gen in the last
 * PT_AUTH_CACHE_SECS seconds. */
bool pt_authstate_cached(struct pt_authstate *a, uint64_t gen, const unsigned char key[32]);
/* Remembers key as good for gen (the oldest entry makes room). */
void pt_authstate_remember(struct pt_authstate *a, uint64_t gen, const unsigned char key[32]);

#endif
