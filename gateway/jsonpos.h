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

/* The same, remembering where the last lookup went, so that lookups in
 * document order (vhost 0, 1, 2, ... and their mounts) resume where the
 * previous one left instead of scanning from the start: a config of N
 * vhosts is located in O(size), not O(N * size).  A zeroed memo is empty;
 * it is tied to one text, and the keys of the remembered path must stay
 * valid while it is used. */
#define PT_JSONPOS_MEMO_DEPTH 8
struct pt_jsonpos_memo {
    const char *text;
    size_t n;                                /* steps remembered */
    struct pt_jstep step[PT_JSONPOS_MEMO_DEPTH];
    size_t at[PT_JSONPOS_MEMO_DEPTH + 1];    /* at[i]: the value after i steps */
    size_t line_off, bol;                    /* a line start already counted */
    int line;
};
int pt_jsonpos_find_memo(struct pt_jsonpos_memo *m, const char *text, size_t len,
                         const struct pt_jstep *path, size_t n, bool want_key,
                         int *line, int *col);

/* A key that occurs more than once in one object: each occurrence's key
 * position and value text (a string's with its quotes). */
struct pt_json_occ {
    int line, col;
    const char *value;
    size_t value_len;
};

/* Calls fn for every key repeated within one object of text (a document
 * jansson accepted, comments stripped), with the path of that object
 * (depth steps; their keys valid during the call) and every occurrence in
 * document order.  jansson keeps only the last; lwsws ORs some keys
 * (ssl-option-set) and the rest are mistakes.  Returns how many keys. */
typedef void pt_json_dup_fn(void *arg, const struct pt_jstep *path, size_t depth,
                            const char *key, const struct pt_json_occ *occ, size_t n);
int pt_json_duplicates(const char *text, size_t len, pt_json_dup_fn *fn, void *arg);

#endif
