/* Helpers shared by unit tests that build file trees and fake requests. */
#ifndef PT_TESTUTIL_H
#define PT_TESTUTIL_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/pool.h"
#include "gateway/worker.h"
#include "gateway/request.h"

/* rm -rf path (no symlink is followed). */
static inline void tu_rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char p[4096];
            if ((size_t)snprintf(p, sizeof p, "%s/%s", path, e->d_name) < sizeof p)
                tu_rm_tree(p);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Open descriptors of this process (to prove nothing leaked). */
static inline int tu_count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* A worker for requests of handlers that keep per-worker state. */
static struct pt_worker tu_worker __attribute__((unused));

/* A request as a protocol would hand it to dispatch: method, target
 * (path?query, the path taken as already normalized), HTTP/1.1, no body,
 * room for 32 header fields (tu_req_header). */
static inline struct pt_req *tu_req_new(struct pt_pool *pool, const char *method,
                                        const char *target)
{
    struct pt_req *r = pt_pool_calloc(pool, sizeof *r);
    r->pool = pool;
    r->method_str = method;
    r->method_len = strlen(method);
    r->method = pt_method_from(method, r->method_len);
    r->version = 11;
    r->target = target;
    r->target_len = strlen(target);
    const char *q = strchr(target, '?');
    size_t plen = q ? (size_t)(q - target) : strlen(target);
    r->path = pt_pool_strndup(pool, target, plen);
    r->path_len = plen;
    if (q) {
        r->query = q + 1;
        r->query_len = strlen(q + 1);
    }
    r->hdrs = pt_pool_calloc(pool, 32 * sizeof *r->hdrs);
    r->content_length = -1;
    return r;
}

static inline void tu_req_header(struct pt_req *r, const char *name, const char *value)
{
    struct pt_hdr *h = &r->hdrs[r->n_hdrs++];
    h->name = name;
    h->name_len = strlen(name);
    h->value = value;
    h->value_len = strlen(value);
}

/* A response header of r by name, or NULL. */
static inline const char *tu_resp_hdr(const struct pt_req *r, const char *name)
{
    for (size_t i = 0; i < r->n_resp_hdrs; i++)
        if (strcasecmp(r->resp_hdrs[i].name, name) == 0)
            return r->resp_hdrs[i].value;
    return NULL;
}

#endif
