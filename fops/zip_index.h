/* The zip central directory, parsed into an immutable index of members.
 *
 * Pure: no I/O beyond the caller's read callback, no logging, no global
 * state, so it is unit-tested and fuzzed on memory buffers.  Everything the
 * archive says is checked before it is believed: offsets stay inside the
 * file, every member's bytes lie inside its own region (no two members
 * overlap), names are safe relative paths.  A member that fails a check
 * stays in the index with a reason (the request gets a 500 and a log line);
 * an unsafe name is left out (404). */
#ifndef PT_ZIP_INDEX_H
#define PT_ZIP_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PT_ZIP_STORED 0
#define PT_ZIP_NAME_MAX 4096     /* longer names are left out as unsafe */
#define PT_ZIP_ENTRIES_MAX (1u << 20) /* members */
/* An archive whose index would take more memory than this is refused
 * (-EFBIG): the index costs about 70 bytes a member plus its names, and
 * no archive of a million members needs more. */
#define PT_ZIP_INDEX_BYTES_MAX ((size_t)128 << 20)
#define PT_ZIP_DEFLATED 8

/* Why a member cannot be served; 0 when it can. */
enum pt_zip_err {
    PT_ZIP_OK = 0,
    PT_ZIP_E_BOUNDS,     /* local header or data outside its region */
    PT_ZIP_E_OVERLAP,    /* shares bytes with another member */
    PT_ZIP_E_LOCAL,      /* local header disagrees with the central one */
    PT_ZIP_E_ZIP64,      /* sizes or offset only in a ZIP64 field */
    PT_ZIP_E_ENCRYPTED,
    PT_ZIP_E_METHOD,     /* neither stored nor deflated */
    PT_ZIP_E_SIZE,       /* stored with compressed size != size */
    PT_ZIP_E_DUP,        /* two members with the same name */
};

/* Names are not NUL-terminated.  Directories that members' paths imply
 * ("a/b/c" implies "a" and "a/b") have no entry: pt_zip_implied() finds
 * them in the sorted names, so a deep tree costs nothing per directory. */
struct pt_zip_entry {
    uint32_t name_off;   /* into the index's names */
    uint16_t name_len;   /* without the trailing '/' of directories */
    uint16_t method;     /* PT_ZIP_STORED or PT_ZIP_DEFLATED */
    bool is_dir;         /* "name/" in the archive */
    uint8_t err;         /* enum pt_zip_err */
    uint32_t crc;        /* CRC-32 of the uncompressed bytes */
    uint32_t csize;      /* bytes at data_off */
    uint32_t usize;      /* uncompressed */
    uint64_t data_off;   /* where the member's (compressed) bytes start */
    int64_t mtime;       /* seconds since the epoch */
    uint32_t hash;       /* of the name, for the table and its growth */
};

struct pt_zip_index {
    struct pt_zip_entry *e;
    uint32_t n;          /* entries: the members with safe names */
    char *names;
    uint32_t *slot;      /* open-addressing hash: entry + 1, 0 = empty */
    uint32_t mask;
    uint32_t *sorted;    /* entries with a '/' in their name, by name */
    uint32_t n_sorted;
    size_t bytes;        /* the memory the index holds */
    uint32_t n_unsafe;   /* members left out for their names */
    uint32_t n_bad;      /* members kept with err != 0 */
};

/* pread-like: returns bytes read (short only at end of file) or -errno. */
typedef ssize_t (*pt_zip_read_fn)(void *ctx, void *buf, size_t len,
                                  uint64_t off);

/* Reads the archive (size bytes) through rd and builds its index.
 * Returns 0 and sets *out, or -EBADMSG (not a zip, or a corrupt central
 * directory), -ENOTSUP (ZIP64 or multi-disk archive), -EFBIG (its index
 * would exceed PT_ZIP_INDEX_BYTES_MAX), -ENOMEM, or the error rd
 * returned. */
int pt_zip_index_build(pt_zip_read_fn rd, void *ctx, uint64_t size,
                       struct pt_zip_index **out);
/* The same for an archive held in memory. */
int pt_zip_index_build_mem(const void *buf, size_t len,
                           struct pt_zip_index **out);
void pt_zip_index_free(struct pt_zip_index *idx);

/* The member called name (no leading '/'; a trailing '/' is ignored), or
 * NULL.  O(1).  "" is not an entry: the caller treats it as the root. */
const struct pt_zip_entry *pt_zip_lookup(const struct pt_zip_index *idx,
                                         const char *name, size_t len);

/* When name (no leading or trailing '/') is a directory that members'
 * paths imply, a member below it; else NULL.  O(log n). */
const struct pt_zip_entry *pt_zip_implied(const struct pt_zip_index *idx,
                                          const char *name, size_t len);

static inline const char *pt_zip_name(const struct pt_zip_index *idx,
                                      const struct pt_zip_entry *e)
{
    return idx->names + e->name_off;
}

/* Whether an archive name is a safe relative path: not empty, no NUL or
 * '\\', not absolute, no "", "." or ".." segment (one trailing '/' marks
 * a directory). */
bool pt_zip_name_safe(const char *name, size_t len);

/* Seconds since the epoch for an MS-DOS date and time, read as UTC. */
int64_t pt_zip_dos_time(uint16_t date, uint16_t time);

const char *pt_zip_strerror(int err);

#endif
