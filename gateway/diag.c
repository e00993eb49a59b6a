/* Configuration diagnostics in the compiler style editors understand. */
#include "gateway/diag.h"

#include <stdarg.h>

static void emit(struct pt_diag *d, const char *kind, const char *file,
                 int line, int col, const char *fmt, va_list ap)
{
    FILE *out = d && d->out ? d->out : stderr;

    /* One locked sequence so concurrent messages do not interleave. */
    flockfile(out);
    if (file && line > 0 && col > 0)
        fprintf(out, "%s:%d:%d: ", file, line, col);
    else if (file && line > 0)
        fprintf(out, "%s:%d: ", file, line);
    else if (file)
        fprintf(out, "%s: ", file);
    fprintf(out, "%s: ", kind);
    vfprintf(out, fmt, ap);
    fputc('\n', out);
    fflush(out);
    funlockfile(out);
}

void pt_diag_error(struct pt_diag *d, const char *file, int line, int col,
                   const char *fmt, ...)
{
    va_list ap;

    if (d)
        d->errors++;
    va_start(ap, fmt);
    emit(d, "error", file, line, col, fmt, ap);
    va_end(ap);
}

void pt_diag_warn(struct pt_diag *d, const char *file, int line, int col,
                  const char *fmt, ...)
{
    va_list ap;

    if (d)
        d->warnings++;
    va_start(ap, fmt);
    emit(d, "warning", file, line, col, fmt, ap);
    va_end(ap);
}

void pt_diag_mount_error(struct pt_diag *d, const char *file, int line, int col,
                         const char *fmt, ...)
{
    va_list ap;

    if (d && d->check_only)
        d->errors++;
    else if (d)
        d->mount_errors++;
    va_start(ap, fmt);
    emit(d, "error", file, line, col, fmt, ap);
    va_end(ap);
}
