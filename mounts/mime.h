/* Content types by file suffix: a built-in table plus a mount's
 * extra-mimetypes ("*": "" serves any file, unknown ones without a type). */
#ifndef PT_MIME_H
#define PT_MIME_H

#include <stddef.h>

#include "gateway/config.h"

/* Returns the Content-Type for path, or NULL when the file must not be
 * served (unknown suffix and the mount has no "*").  The mount's
 * extra-mimetypes are consulted first.  "" means: serve, no Content-Type. */
const char *pt_mime_lookup(const struct pt_kvlist *extra, const char *path,
                           size_t len);
/* The same, with more lists after the mount's (its vhost's
 * extra-mimetypes, the global mime-types file), before the built-in
 * table. */
const char *pt_mime_lookup_more(const struct pt_kvlist *extra,
                                const struct pt_kvlist *const *more, size_t n_more,
                                const char *path, size_t len);

#endif
