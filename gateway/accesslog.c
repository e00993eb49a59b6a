#include "gateway/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/httpdate.h"
#include "gateway/log.h"
#include "gateway/request.h"

/* Copies s into out escaping as Apache does: '"' and '\\' with a
 * backslash, bytes outside printable ASCII as \xhh, so a request cannot
 * forge log lines or fields. */
static size_t esc(char *out, size_t cap, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (!s || !len) {
        if (cap > 1)
            out[o++] = '-';
        return o;
    }
    for (size_t i = 0; i < len && o + 4 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    return o;
}

/* snprintf that never moves n past cap (it returns what it wanted). */
#define APPEND(...) do { \
        int _m = snprintf(line + n, cap - n, __VA_ARGS__); \
        if (_m > 0) n += (size_t)_m < cap - n ? (size_t)_m : cap - n - 1; \
    } while (0)
#define FIELD_MAX 1024

void pt_access_log(const struct pt_req *r)
{
    char line[8192];
    size_t n = 0, cap = sizeof(line) - 2;
    const char *user = r->remote_user;
    APPEND("%s - ", r->peer_ip);
    n += esc(line + n, FIELD_MAX, user, user ? strlen(user) : 0);
    APPEND(" [%s] \"", pt_logdate_now());
    if (r->method_str) {
        n += esc(line + n, FIELD_MAX, r->method_str, r->method_len);
        line[n++] = ' ';
        n += esc(line + n, 2 * FIELD_MAX, r->target, r->target_len);
        APPEND(" HTTP/%d.%d",
                              r->version / 10, r->version % 10);
    }
    size_t len;
    const char *ref = pt_req_header(r, "referer", &len);
    APPEND("\" %d %" PRIu64 " \"", r->status, r->bytes_sent);
    n += esc(line + n, FIELD_MAX, ref, ref ? len : 0);
    APPEND("\" \"");
    const char *ua = pt_req_header(r, "user-agent", &len);
    n += esc(line + n, FIELD_MAX, ua, ua ? len : 0);
    if (n > cap - 2)
        n = cap - 2;
    line[n++] = '"';
    line[n++] = '\n';
    ssize_t w = write(r->vhost->access_log_fd, line, n);
    (void)w;
}

int pt_access_log_reopen(struct pt_config *c)
{
    int failed = 0;
    for (size_t i = 0; i < c->n_vhosts; i++) {
        struct pt_vhost *vh = &c->vhosts[i];
        if (vh->access_log_fd < 0)
            continue;
        int fd = open(vh->access_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        /* dup3 swaps the file behind the number the workers use at once. */
        if (fd < 0 || dup3(fd, vh->access_log_fd, O_CLOEXEC) < 0) {
            pt_err("access-log \"%s\" (vhost %s): cannot reopen: %s", vh->access_log,
                   vh->name ? vh->name : "?", strerror(errno));
            failed++;
        }
        if (fd >= 0)
            close(fd);
    }
    return failed;
}
