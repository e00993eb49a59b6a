/* libFuzzer target for the zip central directory parser.
 *
 * Any input must parse to an error or to an index whose promises hold:
 * every servable member's bytes lie inside the input and belong to it
 * alone, every entry is found again by its own name, and every directory
 * a name implies is found.  Violations
 * abort; ASan/UBSan catch the rest.  Run by `make fuzz` (and `make test`). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fops/zip_index.h"

static const struct pt_zip_entry *pt_fuzz_lookup(const struct pt_zip_index *idx,
                                                 const char *s)
{
    return pt_zip_lookup(idx, s, strlen(s));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pt_zip_name_safe((const char *)data, size < 200 ? size : 200);

    struct pt_zip_index *idx;
    if (pt_zip_index_build_mem(data, size, &idx) != 0)
        return 0;
    uint32_t sum = 0;
    for (uint32_t i = 0; i < idx->n; i++) {
        const struct pt_zip_entry *e = &idx->e[i];
        const char *name = pt_zip_name(idx, e);
        const struct pt_zip_entry *found = pt_zip_lookup(idx, name, e->name_len);
        if (!found || found->name_len != e->name_len ||
            memcmp(pt_zip_name(idx, found), name, e->name_len) != 0)
            abort();
        if (!pt_zip_name_safe(name, e->name_len))
            abort();
        /* Every directory its path implies is found, below it a member
         * whose name begins with that directory's. */
        for (uint32_t k = 0; k < e->name_len; k++) {
            if (name[k] != '/')
                continue;
            const struct pt_zip_entry *d = pt_zip_implied(idx, name, k);
            if (!d || d->name_len <= k || memcmp(pt_zip_name(idx, d), name, k) != 0 ||
                pt_zip_name(idx, d)[k] != '/')
                abort();
        }
        if (e->err || e->is_dir)
            continue;
        if (e->data_off > size || e->csize > size - e->data_off)
            abort();
        /* Touch the member's bytes: a wrong offset is an ASan report. */
        for (uint32_t k = 0; k < e->csize; k += 64)
            sum += data[e->data_off + k];
        for (uint32_t j = i + 1; j < idx->n; j++) {
            const struct pt_zip_entry *f = &idx->e[j];
            if (f->err || f->is_dir || !f->csize || !e->csize)
                continue;
            if (e->data_off < f->data_off + f->csize &&
                f->data_off < e->data_off + e->csize)
                abort(); /* two members share bytes */
        }
    }
    if (pt_fuzz_lookup(idx, "") || pt_fuzz_lookup(idx, "/"))
        abort();
    pt_fuzz_lookup(idx, "index.html");
    pt_fuzz_lookup(idx, "a/b/");
    pt_zip_index_free(idx);
    return (int)(sum & 0); /* keep the reads */
}
