#include "gateway/accesslog.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/logformat.h"
#include "gateway/request.h"

struct alog_file {
    char *path; /* the first name it was opened by (reopened by it) */
    int fd;
    dev_t dev;
    ino_t ino;
};

struct pt_access_logs {
    struct alog_file *files;
    size_t n_files;
    struct pt_logfmt **fmts;
    size_t n_fmts;
};

void pt_access_log(const struct pt_req *r)
{
    char line[PT_LOGFMT_LINE_MAX];
    const struct pt_logfmt *f = r->vhost->access_log_fmt;
    /* Only json and format strings need the time now; combined (the
     * common case) makes no clock call. */
    double now = f && f->kind != PT_LOGFMT_COMBINED ? ev_time() : 0;
    size_t n = pt_logfmt_line(f, r, now, line);
    ssize_t w = write(r->vhost->access_log_fd, line, n);
    (void)w;
}

static struct pt_access_logs *logs_of(struct pt_config *c)
{
    if (!c->access_logs)
        c->access_logs = calloc(1, sizeof(*c->access_logs));
    return c->access_logs;
}

static int open_log(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

int pt_access_log_open(struct pt_config *c, const char *path)
{
    struct pt_access_logs *l = logs_of(c);
    if (!l)
        return -ENOMEM;
    for (size_t i = 0; i < l->n_files; i++)
        if (strcmp(l->files[i].path, path) == 0)
            return l->files[i].fd;
    int fd = open_log(path);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return -e;
    }
    /* Another name for a file open already ("logs/../a.log", a link). */
    for (size_t i = 0; i < l->n_files; i++)
        if (l->files[i].dev == st.st_dev && l->files[i].ino == st.st_ino) {
            close(fd);
            return l->files[i].fd;
        }
    struct alog_file *v = realloc(l->files, (l->n_files + 1) * sizeof(*v));
    char *p = strdup(path);
    if (v)
        l->files = v;
    if (!v || !p) {
        free(p);
        close(fd);
        return -ENOMEM;
    }
    l->files[l->n_files++] = (struct alog_file){p, fd, st.st_dev, st.st_ino};
    return fd;
}

void pt_access_log_keep(struct pt_config *c, struct pt_logfmt *f)
{
    struct pt_access_logs *l = logs_of(c);
    struct pt_logfmt **v = l ? realloc(l->fmts, (l->n_fmts + 1) * sizeof(*v)) : NULL;
    if (!v) { /* as the loader does: it cannot go on without memory */
        fputs("portico: out of memory\n", stderr);
        abort();
    }
    l->fmts = v;
    l->fmts[l->n_fmts++] = f;
}

void pt_access_logs_free(struct pt_config *c)
{
    struct pt_access_logs *l = c->access_logs;
    if (!l)
        return;
    for (size_t i = 0; i < l->n_files; i++) {
        close(l->files[i].fd);
        free(l->files[i].path);
    }
    free(l->files);
    for (size_t i = 0; i < l->n_fmts; i++)
        pt_logfmt_free(l->fmts[i]);
    free(l->fmts);
    free(l);
    c->access_logs = NULL;
}

int pt_access_log_reopen(struct pt_config *c)
{
    int failed = 0;
    for (size_t i = 0; c->access_logs && i < c->access_logs->n_files; i++) {
        struct alog_file *f = &c->access_logs->files[i];
        int fd = open_log(f->path);
        /* dup3 swaps the file behind the number the workers use at once. */
        if (fd < 0 || dup3(fd, f->fd, O_CLOEXEC) < 0) {
            pt_err("access-log \"%s\": cannot reopen: %s", f->path, strerror(errno));
            failed++;
        }
        if (fd >= 0)
            close(fd);
    }
    return failed;
}

void pt_access_log_chown(const struct pt_config *c, uid_t uid, gid_t gid)
{
    for (size_t i = 0; c->access_logs && i < c->access_logs->n_files; i++) {
        const struct alog_file *f = &c->access_logs->files[i];
        if (fchown(f->fd, uid, gid) < 0)
            pt_warn("access-log \"%s\": cannot give it to the user: %s", f->path,
                    strerror(errno));
    }
}
