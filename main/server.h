/* The running server: listening sockets, workers, signals, reload. */
#ifndef PT_SERVER_H
#define PT_SERVER_H

#include <stdbool.h>

struct pt_config;

/* Opens the listening sockets, drops privileges, starts the workers and
 * serves *conf until TERM/INT (drain) or QUIT, reloading DIR on HUP.
 * level_given: -l set the log level (a reload keeps it).  On return
 * *conf is the snapshot in force (the caller retires it); 0 after a
 * clean stop, 1 when the start failed. */
int pt_server_run(struct pt_config **conf, const char *dir, bool level_given);

#endif
