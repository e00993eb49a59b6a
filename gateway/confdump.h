/* The effective configuration, for `portico -T`: support and diffing. */
#ifndef PT_CONFDUMP_H
#define PT_CONFDUMP_H

#include <stdio.h>

struct pt_config;

/* Writes c as a configuration file the loader reads back (every key,
 * defaults filled in; listener groups as comments).  Returns 0 or -1. */
int pt_config_dump(const struct pt_config *c, FILE *out);

#endif
