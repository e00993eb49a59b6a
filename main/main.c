/* portico: the command line, the first configuration load, the pid file
 * and the daemon; main/server.c runs what the configuration describes. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/diag.h"
#include "gateway/listen.h"
#include "gateway/log.h"
#include "main/builtin.h"
#include "main/daemon.h"
#include "main/pidfile.h"
#include "main/server.h"

#ifndef PORTICO_VERSION
#define PORTICO_VERSION "0"
#endif
#ifndef PORTICO_CONFDIR
#define PORTICO_CONFDIR "/etc/portico"
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "usage: portico [-c DIR] [-t] [-d] [-s SIGNAL] [-l LEVEL] [-h] [-v]\n"
            "  -c DIR    configuration directory: DIR/conf and DIR/conf.d/* (default "
            PORTICO_CONFDIR ")\n"
            "  -t        check the configuration and exit (0: valid, 1: errors printed)\n"
            "  -d        run as a daemon (detached; writes and locks the pid-file)\n"
            "  -s SIGNAL signal the instance running with this configuration (its pid-file):\n"
            "            stop (drain, then exit), quit (exit now), reload, reopen (log files)\n"
            "  -l LEVEL  log level: error, warn, notice (default), info, debug\n"
            "  -h        this help\n"
            "  -v        print the version\n");
}

static const struct {
    const char *name;
    int sig;
} commands[] = {
    {"stop", SIGTERM}, {"quit", SIGQUIT}, {"reload", SIGHUP}, {"reopen", SIGUSR1},
};

static const char *pid_file_of(const struct pt_config *conf)
{
    return conf->g.pid_file ? conf->g.pid_file : PT_PID_FILE_DEFAULT;
}

/* A start that fails before serving: the parent of -d hears it, the pid
 * file goes, and so does the snapshot. */
static int fail_start(struct pt_config *conf, int pid_fd)
{
    pt_daemon_ready(false, false);
    pt_pidfile_release(pid_file_of(conf), pid_fd);
    pt_config_retire(conf);
    return 1;
}

/* -s: signals the instance named by the configuration's pid-file. */
static int send_command(const struct pt_config *conf, const char *cmd)
{
    int sig = 0;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            sig = commands[i].sig;
    if (!sig) {
        fprintf(stderr, "portico: -s %s: unknown (stop, quit, reload, reopen)\n", cmd);
        return 2;
    }
    pid_t pid = pt_pidfile_running(pid_file_of(conf));
    if (pid < 0)
        return 1;
    if (kill(pid, sig) < 0) {
        fprintf(stderr, "portico: cannot signal pid %ld: %s\n", (long)pid, strerror(errno));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = PORTICO_CONFDIR;
    const char *command = NULL;
    bool check_only = false, daemon_mode = false, level_given = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:tds:l:hv")) != -1) {
        switch (opt) {
        case 'c':
            dir = optarg;
            break;
        case 't':
            check_only = true;
            break;
        case 'd':
            daemon_mode = true;
            break;
        case 's':
            command = optarg;
            break;
        case 'l':
            pt_log_level = pt_log_parse_level(optarg);
            if (pt_log_level < 0) {
                fprintf(stderr, "portico: unknown log level \"%s\" (error, warn, notice, info, debug)\n",
                        optarg);
                return 2;
            }
            level_given = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'v':
            printf("portico %s\n", PORTICO_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "portico: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    pt_builtin_register();

    struct pt_diag diag = {.check_only = check_only || command};
    struct pt_config *conf = pt_config_load(dir, &diag);
    if (!conf) {
        fprintf(stderr, "portico: configuration in %s has %d error(s)\n", dir, diag.errors);
        return 1;
    }
    if (check_only) {
        pt_listen_probe(conf, &diag);
        printf("portico: configuration in %s is valid (%zu vhost(s), %d warning(s))\n", dir,
               conf->n_vhosts, diag.warnings);
        pt_config_retire(conf);
        return 0;
    }
    if (command) {
        int rc = send_command(conf, command);
        pt_config_retire(conf);
        return rc;
    }
    if (!level_given && conf->g.log_level >= 0)
        pt_log_level = conf->g.log_level;

    /* The pid file: always in daemon mode, else only when configured. */
    int pid_fd = -1;
    if (daemon_mode || conf->g.pid_file) {
        pid_fd = pt_pidfile_take(pid_file_of(conf));
        if (pid_fd < 0) {
            pt_config_retire(conf);
            return 1;
        }
    }
    if (daemon_mode) {
        if (pt_daemonize() < 0) {
            fprintf(stderr, "portico: cannot run as a daemon: %s\n", strerror(errno));
            return fail_start(conf, pid_fd);
        }
        pt_pidfile_update(pid_fd);
    }
    if (conf->g.error_log) {
        int rc = pt_log_open(conf->g.error_log);
        if (rc < 0) {
            fprintf(stderr, "portico: error-log \"%s\": cannot open: %s\n",
                    conf->g.error_log, strerror(-rc));
            return fail_start(conf, pid_fd);
        }
    }

    /* pid-file takes effect at a start: the one taken is the one removed. */
    char *pid_path = strdup(pid_file_of(conf));
    int rc = pt_server_run(&conf, dir, level_given);
    pt_pidfile_release(pid_path, pid_fd);
    free(pid_path);
    pt_config_retire(conf);
    return rc;
}
