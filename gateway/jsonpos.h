/* Lexical helpers for the JSON config text.
 *
 * jansson builds values but forgets where they were, so messages about a
 * key or value find its position again here by skipping over the text along
 * a path of object keys and array indexes.  Nothing is built; this is only
 * used when there is something to report. */
#ifndef PT_JSONPOS_H
#define PT_JSONPOS_H

#include <stdbool.h>
#include <stddef.h>

/* One step of a path: an object key, or an array index when key is NULL. */
struct pt_jstep {
    const char *key;
    size_t index;
};

/* Replaces each '#' comment (outside strings, up to the newline) with
 * spaces, so lengths, lines and columns stay the same. */
void pt_json_strip_comments(char *text, size_t len);

/* Finds the value at path in text (the whole document is path n == 0), or
 * with want_key the key of the last step (which must be an object key).
 * Sets *line and *col (1-based, columns in bytes) and returns 0.  When the path
 * does not resolve, reports the deepest step that did and returns -1. */
int pt_jsonpos_find(const char *text, size_t len, const struct pt_jstep *path,
                    size_t n, bool want_key, int *line, int *col);

#endif
