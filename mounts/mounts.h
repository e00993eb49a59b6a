/* The mount handlers of this folder, one file each (registered by main):
 *   file.c      file:// directories and zip archives
 *   redirect.c  >http:// and >https:// redirects
 * and their helpers: mime types, ETags, ranges, Cache-Control, codings. */
#ifndef PT_MOUNTS_H
#define PT_MOUNTS_H

#include "gateway/handler.h"

#include "mounts/cache.h"

extern const struct pt_handler pt_handler_file;
extern const struct pt_handler pt_handler_redirect;

/* The mount keys of file:// mounts (m->opts). */
struct pt_file_opts {
    char *def;                        /* "default": the index file */
    struct pt_cache_opts cache;       /* cache-* */
    struct pt_kvlist extra_mimetypes; /* ".ext" (or "*") -> type */
    bool allow_dotfiles;              /* serve ".x" path segments */
    struct pt_kvlist interpret;       /* ".ext" -> interpreter: run as CGI (lwsws) */
};

/* The mount keys of redirect mounts. */
struct pt_redirect_opts {
    bool append_path;                 /* add the rest of the path and the query
                                       * (always, for an origin with captures) */
};

#endif
