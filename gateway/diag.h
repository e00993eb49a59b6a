/* Configuration diagnostics: "FILE:LINE:COL: error: message" on stderr.
 * Errors are counted so a loader can report them all before failing. */
#ifndef PT_DIAG_H
#define PT_DIAG_H

#include <stdio.h>

struct pt_diag {
    int errors;
    int warnings;
    FILE *out; /* default stderr when NULL */
};

/* line/col may be 0 when unknown (then omitted). */
void pt_diag_error(struct pt_diag *d, const char *file, int line, int col,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void pt_diag_warn(struct pt_diag *d, const char *file, int line, int col,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
