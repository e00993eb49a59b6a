/* Request-lifetime memory: allocations are freed together with the pool.
 * A pool is a list of blocks; the first block lives inside the pool header
 * so a small request costs one malloc. */
#ifndef PT_POOL_H
#define PT_POOL_H

#include <stddef.h>

struct pt_pool;

/* The usual first block for a request: pools of this size are recycled
 * per thread. */
#define PT_POOL_STD 4032

struct pt_pool *pt_pool_new(size_t first_block);
void pt_pool_free(struct pt_pool *p);
/* Frees the calling thread's recycled pools (at thread exit). */
void pt_pool_thread_cleanup(void);

/* Never returns NULL: out of memory aborts (like nginx's pools, a request
 * cannot sensibly continue without its memory). Aligned to 16 bytes. */
void *pt_pool_alloc(struct pt_pool *p, size_t n);
void *pt_pool_calloc(struct pt_pool *p, size_t n);
char *pt_pool_strndup(struct pt_pool *p, const char *s, size_t n);
char *pt_pool_printf(struct pt_pool *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The strings given (up to a NULL) one after the other: for hot paths,
 * where a printf costs thousands of instructions. */
char *pt_pool_strcat(struct pt_pool *p, ...) __attribute__((sentinel));

#endif
