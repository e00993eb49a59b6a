/* Configuration diagnostics: "FILE:LINE:COL: error: message" on stderr.
 * Errors are counted so a loader can report them all before failing. */
#ifndef PT_DIAG_H
#define PT_DIAG_H

#include <stdio.h>

#include <stdbool.h>

struct pt_diag {
    int errors;
    int warnings;
    int mount_errors;  /* errors that disable one mount, not the server */
    bool check_only;   /* -t: every error fails the check */
    bool strict;       /* --strict: unknown and unsupported keys are errors */
    FILE *out; /* default stderr when NULL */
};

/* line/col may be 0 when unknown (then omitted). */
void pt_diag_error(struct pt_diag *d, const char *file, int line, int col,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* An error that takes only its mount out of service (a broken archive
 * after a half-finished deploy): the server starts and serves the rest.
 * With check_only (-t) it counts as an error. */
void pt_diag_mount_error(struct pt_diag *d, const char *file, int line, int col,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void pt_diag_warn(struct pt_diag *d, const char *file, int line, int col,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
