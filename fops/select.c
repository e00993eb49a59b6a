/* Which file ops serve a path.
 *
 * As in libwebsockets' vfs, every ops set has signatures, and the one whose
 * signature ends the longest prefix of the path wins.  The posix ops match
 * the empty prefix; the zip ops match a component named *.zip, *.jar or
 * *.war followed by '/'.  The zip ops then check that the component is a
 * regular file (a directory called "x.zip" is just a directory) and fall
 * back to the posix ops when it is not, so the choice here costs no
 * system call. */
#include "fops/fops.h"

#include <string.h>
#include <strings.h>

struct pt_fops_sig {
    const char *suffix;
    size_t len;
    const struct pt_fops *fops;
};

static const struct pt_fops_sig fops_sigs[] = {
    { ".zip", 4, &pt_fops_zip },
    { ".jar", 4, &pt_fops_zip },
    { ".war", 4, &pt_fops_zip },
};

#define PT_N_SIGS (sizeof fops_sigs / sizeof fops_sigs[0])

/* The ops whose signature ends path[0, len), or NULL.  The component must
 * have a name before the suffix ("a.zip", not ".zip"). */
static const struct pt_fops *fops_sig_match(const char *path, size_t len)
{
    for (size_t i = 0; i < PT_N_SIGS; i++) {
        const struct pt_fops_sig *s = &fops_sigs[i];
        if (len > s->len && path[len - s->len - 1] != '/' &&
            strncasecmp(path + len - s->len, s->suffix, s->len) == 0)
            return s->fops;
    }
    return NULL;
}

bool pt_fops_archive_name(const char *path, size_t len)
{
    while (len && path[len - 1] == '/')
        len--;
    return fops_sig_match(path, len) != NULL;
}

size_t pt_fops_archive_prefix(const char *vpath, size_t end)
{
    /* Each '/' before end closes a component: test the one before it. */
    for (size_t i = end; i-- > 1;) {
        if (vpath[i] == '/' && vpath[i - 1] != '/' && fops_sig_match(vpath, i))
            return i;
    }
    return 0;
}

int pt_fopen(const struct pt_froot *root, struct pt_fcache *cache, const char *vpath,
             struct pt_file *out)
{
    if (root->fops != &pt_fops_posix)
        return root->fops->open(root, vpath, out);
    size_t len = strlen(vpath);
    size_t end = pt_fops_archive_prefix(vpath, len);
    const struct pt_fops *fops = end ? fops_sig_match(vpath, end) : NULL;
    return fops ? fops->open(root, vpath, out) : pt_posix_open_cached(root, cache, vpath, out);
}
