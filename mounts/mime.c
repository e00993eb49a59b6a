/* Content types by file suffix.
 *
 * The mount's extra-mimetypes win (matched as case-insensitive suffixes of
 * the file name, like lws does, so ".tar.gz" works); then the built-in
 * table, looked up by binary search on the lower-cased last extension;
 * then the mount's "*" entry, which lets any file be served. */
#include "mounts/mime.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PT_MIME_EXT_MAX 16 /* longer extensions are never in the table */

struct pt_mime {
    const char *ext; /* lower case, no dot */
    const char *type;
};

#define UTF8 "; charset=utf-8"

/* Sorted by ext (strcmp order): mime_builtin() bsearches it. */
static const struct pt_mime mime_table[] = {
    { "7z",          "application/x-7z-compressed" },
    { "aac",         "audio/aac" },
    { "apng",        "image/apng" },
    { "atom",        "application/atom+xml" },
    { "avif",        "image/avif" },
    { "bin",         "application/octet-stream" },
    { "bmp",         "image/bmp" },
    { "bz2",         "application/x-bzip2" },
    { "css",         "text/css" UTF8 },
    { "csv",         "text/csv" UTF8 },
    { "eot",         "application/vnd.ms-fontobject" },
    { "epub",        "application/epub+zip" },
    { "flac",        "audio/flac" },
    { "gif",         "image/gif" },
    { "gz",          "application/gzip" },
    { "htm",         "text/html" UTF8 },
    { "html",        "text/html" UTF8 },
    { "ico",         "image/x-icon" },
    { "ics",         "text/calendar" UTF8 },
    { "jpeg",        "image/jpeg" },
    { "jpg",         "image/jpeg" },
    { "js",          "application/javascript" UTF8 },
    { "json",        "application/json" UTF8 },
    { "jsonld",      "application/ld+json" },
    { "m4a",         "audio/mp4" },
    { "m4v",         "video/mp4" },
    { "map",         "application/json" UTF8 },
    { "md",          "text/markdown" UTF8 },
    { "mjs",         "application/javascript" UTF8 },
    { "mov",         "video/quicktime" },
    { "mp3",         "audio/mpeg" },
    { "mp4",         "video/mp4" },
    { "mpeg",        "video/mpeg" },
    { "mpg",         "video/mpeg" },
    { "oga",         "audio/ogg" },
    { "ogg",         "audio/ogg" },
    { "ogv",         "video/ogg" },
    { "opus",        "audio/opus" },
    { "otf",         "font/otf" },
    { "pdf",         "application/pdf" },
    { "png",         "image/png" },
    { "rss",         "application/rss+xml" },
    { "rtf",         "application/rtf" },
    { "svg",         "image/svg+xml" },
    { "tar",         "application/x-tar" },
    { "tgz",         "application/gzip" },
    { "tif",         "image/tiff" },
    { "tiff",        "image/tiff" },
    { "ttf",         "font/ttf" },
    { "txt",         "text/plain" UTF8 },
    { "vtt",         "text/vtt" UTF8 },
    { "wasm",        "application/wasm" },
    { "wav",         "audio/wav" },
    { "weba",        "audio/webm" },
    { "webm",        "video/webm" },
    { "webmanifest", "application/manifest+json" },
    { "webp",        "image/webp" },
    { "woff",        "font/woff" },
    { "woff2",       "font/woff2" },
    { "xhtml",       "application/xhtml+xml" },
    { "xml",         "application/xml" },
    { "xz",          "application/x-xz" },
    { "yaml",        "application/yaml" },
    { "yml",         "application/yaml" },
    { "zip",         "application/zip" },
    { "zst",         "application/zstd" },
};

static int mime_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct pt_mime *)elem)->ext);
}

/* ext: without the dot, any case. */
static const char *mime_builtin(const char *ext, size_t len)
{
    char low[PT_MIME_EXT_MAX + 1];
    if (len == 0 || len > PT_MIME_EXT_MAX)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char c = ext[i];
        low[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    low[len] = '\0';
    const struct pt_mime *m = bsearch(low, mime_table,
                                      sizeof mime_table / sizeof mime_table[0],
                                      sizeof mime_table[0], mime_cmp);
    return m ? m->type : NULL;
}

/* Whether key (".zip", "zip" or ".tar.gz") is a suffix of name, with at
 * least one byte of name before it. */
static int mime_suffix(const char *name, size_t nlen, const char *key)
{
    size_t klen = strlen(key);
    if (klen && key[0] == '.') {
        if (nlen <= klen)
            return 0;
        return strncasecmp(name + nlen - klen, key, klen) == 0;
    }
    /* "zip" means ".zip". */
    if (klen == 0 || nlen <= klen + 1 || name[nlen - klen - 1] != '.')
        return 0;
    return strncasecmp(name + nlen - klen, key, klen) == 0;
}

/* A list's type for name ("*" noted in *any, the first one wins). */
static const char *in_list(const struct pt_kvlist *l, const char *name, size_t nlen,
                           const char **any)
{
    for (size_t i = 0; l && i < l->n; i++) {
        const struct pt_kv *kv = &l->v[i];
        if (kv->name[0] == '*' && kv->name[1] == '\0') {
            if (!*any)
                *any = kv->value;
        } else if (mime_suffix(name, nlen, kv->name)) {
            return kv->value;
        }
    }
    return NULL;
}

const char *pt_mime_lookup(const struct pt_kvlist *extra, const char *path,
                           size_t len)
{
    return pt_mime_lookup_more(extra, NULL, 0, path, len);
}

const char *pt_mime_lookup_more(const struct pt_kvlist *extra,
                                const struct pt_kvlist *const *more, size_t n_more,
                                const char *path, size_t len)
{
    /* Only the last segment counts: "/a.d/README" has no suffix. */
    const char *name = path;
    for (size_t i = len; i > 0; i--) {
        if (path[i - 1] == '/') {
            name = path + i;
            break;
        }
    }
    size_t nlen = len - (size_t)(name - path);

    const char *any = NULL, *t = in_list(extra, name, nlen, &any);
    for (size_t k = 0; !t && k < n_more; k++)
        t = in_list(more[k], name, nlen, &any);
    if (t)
        return t;

    /* The last extension; a leading dot (".profile") is not one. */
    for (size_t i = nlen; i > 1; i--) {
        if (name[i - 1] == '.') {
            const char *b = mime_builtin(name + i, nlen - i);
            if (b)
                return b;
            break;
        }
    }
    return any;
}
