/* Helpers shared by unit tests that build file trees and fake requests. */
#ifndef PT_TESTUTIL_H
#define PT_TESTUTIL_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* A response header of r by name, or NULL. */
static inline const char *tu_resp_hdr(const struct pt_req *r, const char *name)
{
    for (size_t i = 0; i < r->n_resp_hdrs; i++)
        if (strcasecmp(r->resp_hdrs[i].name, name) == 0)
            return r->resp_hdrs[i].value;
    return NULL;
}

#endif
