/* A cache of open regular files, one per worker (the file handler's
 * per-worker state: mounts/file.c), so that a file served again
 * within a second costs at most one fstat(2) per loop iteration instead
 * of openat2 + fstat + close per request.
 *
 * An entry is found by (root id, virtual path) and lives for a second
 * after it was opened: a file replaced by rename is seen within a second
 * (like nginx's open_file_cache_valid, shorter); a file changed in place
 * is seen by the next request read after the change, since the first
 * hit of each loop iteration re-reads its size and times with fstat
 * (the requests of one iteration arrived together and share it).  Entries in use are never closed under their users.  An idle
 * worker closes what expired too (a timer on its loop), so a deleted
 * file's space and descriptor are not held past about two seconds. */
#ifndef PT_FCACHE_H
#define PT_FCACHE_H

#include <stdint.h>

#include <ev.h>
#include <sys/stat.h>
#include <sys/types.h>

struct pt_fcache;
struct pt_fcache_ent;

/* NULL when out of memory (files are then opened each time).  loop: the
 * worker's, for the expiry timer (NULL: entries expire on use only). */
struct pt_fcache *pt_fcache_new(struct ev_loop *loop);
/* Closes every entry (none may be in use) and frees the cache. */
void pt_fcache_free(struct pt_fcache *c);

/* The cached descriptor for (root_id, path) with its fstat of this loop
 * iteration in *st, a
 * reference taken (*ent set); or -1 on a miss. */
int pt_fcache_get(struct pt_fcache *c, uint64_t root_id, const char *path,
                  struct stat *st, struct pt_fcache_ent **ent);

/* Caches fd (a regular file just opened for path) and takes a reference
 * for the caller; NULL when the cache cannot take it (the caller keeps
 * the plain fd). */
struct pt_fcache_ent *pt_fcache_put(struct pt_fcache *c, uint64_t root_id,
                                    const char *path, int fd);

/* Small files' bytes, kept with the entry (up to 4 MiB per thread in
 * all): a read of the whole file at offset 0 costs a memcpy instead of a
 * pread.  The bytes are used only
 * while the file's size and mtime (from the hit's fstat) are those
 * they were read with.  pt_fcache_read() returns the count or -1 (not
 * held); pt_fcache_keep() offers bytes just read. */
#define PT_FCACHE_SMALL 16384
ssize_t pt_fcache_read(struct pt_fcache_ent *ent, uint64_t size, int64_t mtime_ns,
                       void *buf, size_t len, uint64_t off);
void pt_fcache_keep(struct pt_fcache_ent *ent, uint64_t size, int64_t mtime_ns,
                    const void *data, size_t len);

/* Drops a reference from get or put. */
void pt_fcache_release(struct pt_fcache_ent *ent);

/* Closes the unused entries (out of descriptors: make room). */
void pt_fcache_flush(struct pt_fcache *c);

#endif
