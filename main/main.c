/* portico: the command line, the first configuration load, the pid file
 * and the daemon; main/server.c runs what the configuration describes. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>
#include <nghttp2/nghttp2.h>
#include <openssl/crypto.h>
#include <sys/capability.h>
#include <zlib.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "gateway/confdump.h"
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

/* The options, one line each: getopt_long's table, its short string and
 * the usage text are made from this.  val: the short form (a long-only
 * option takes a value from 256 up). */
static const struct opt {
    const char *name;
    int val;
    int has_arg;
    const char *arg;  /* its name in the usage */
    const char *help; /* '\n' starts an indented line */
} opts[] = {
    {"config", 'c', required_argument, "DIR",
     "configuration directory: DIR/conf and DIR/conf.d/* (default " PORTICO_CONFDIR ")"},
    {"test", 't', no_argument, NULL,
     "check the configuration and exit (0: valid, 1: errors printed)"},
    {"strict", 256, no_argument, NULL,
     "unknown and unsupported configuration keys are errors"},
    {"dump", 'T', no_argument, NULL,
     "print the effective configuration (every key, defaults filled in) and exit"},
    {"daemon", 'd', no_argument, NULL,
     "run as a daemon (detached; writes and locks the pid-file)"},
    {"signal", 's', required_argument, "SIGNAL",
     "signal the instance running with this configuration (its pid-file):\n"
     "stop (drain, then exit), quit (exit now), reload, reopen (log files)"},
    {"log-level", 'l', required_argument, "LEVEL",
     "log level: error, warn (or warning), notice (default), info, debug"},
    {"help", 'h', no_argument, NULL, "this help"},
    {"version", 'v', no_argument, NULL,
     "print the version, and those of the libraries it runs with"},
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

/* getopt_long's tables: lo has N_OPTS + 1 entries, so 3 * N_OPTS + 1 bytes. */
static void option_tables(struct option *lo, char *so)
{
    for (size_t i = 0; i < N_OPTS; i++) {
        lo[i] = (struct option){opts[i].name, opts[i].has_arg, NULL, opts[i].val};
        if (opts[i].val < 256) {
            *so++ = (char)opts[i].val;
            if (opts[i].has_arg == required_argument)
                *so++ = ':';
        }
    }
    lo[N_OPTS] = (struct option){NULL, 0, NULL, 0};
    *so = '\0';
}

static void usage(FILE *out)
{
    fputs("usage: portico", out);
    for (size_t i = 0; i < N_OPTS; i++) {
        if (opts[i].val < 256)
            fprintf(out, " [-%c%s%s]", opts[i].val, opts[i].arg ? " " : "",
                    opts[i].arg ? opts[i].arg : "");
        else
            fprintf(out, " [--%s%s%s]", opts[i].name, opts[i].arg ? " " : "",
                    opts[i].arg ? opts[i].arg : "");
    }
    fputc('\n', out);
    for (size_t i = 0; i < N_OPTS; i++) {
        char left[64], shrt[8] = "    ";
        if (opts[i].val < 256)
            snprintf(shrt, sizeof(shrt), "-%c, ", opts[i].val);
        snprintf(left, sizeof(left), "%s--%s%s%s", shrt, opts[i].name,
                 opts[i].arg ? " " : "", opts[i].arg ? opts[i].arg : "");
        fprintf(out, "  %-22s ", left);
        for (const char *h = opts[i].help; *h; h++) {
            fputc(*h, out);
            if (*h == '\n')
                fprintf(out, "%25s", "");
        }
        fputc('\n', out);
    }
}

/* --version: portico's, and those of the libraries as they run (the
 * shared objects loaded, not the headers built against), but libcap's,
 * which has no call for it. */
static void version(void)
{
    char pcre[64] = "?";
    printf("portico %s\n", PORTICO_VERSION);
    printf("  %s\n", OpenSSL_version(OPENSSL_VERSION));
    printf("  nghttp2 %s\n", nghttp2_version(0)->version_str);
    printf("  zlib %s\n", zlibVersion());
    printf("  libev %d.%d\n", ev_version_major(), ev_version_minor());
    if (pcre2_config(PCRE2_CONFIG_VERSION, pcre) < 0)
        strcpy(pcre, "?");
    printf("  PCRE2 %s\n", pcre);
    printf("  jansson %s\n", jansson_version_str());
    printf("  libcap %d.%d (built with)\n", LIBCAP_MAJOR, LIBCAP_MINOR);
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
    bool check_only = false, daemon_mode = false, level_given = false, strict = false,
         dump = false;
    int opt;
    struct option lo[N_OPTS + 1];
    char so[3 * N_OPTS + 1];
    option_tables(lo, so);
    while ((opt = getopt_long(argc, argv, so, lo, NULL)) != -1) {
        switch (opt) {
        case 'c':
            dir = optarg;
            break;
        case 't':
            check_only = true;
            break;
        case 256:
            strict = true;
            break;
        case 'T':
            dump = true;
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
                fprintf(stderr, "portico: unknown log level \"%s\" (error, warn, notice, "
                        "info, debug)\n", optarg);
                return 2;
            }
            level_given = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'v':
            version();
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

    struct pt_diag diag = {.check_only = check_only || command || dump, .strict = strict};
    struct pt_config *conf = pt_config_load(dir, &diag);
    if (!conf) {
        fprintf(stderr, "portico: configuration in %s has %d error(s)\n", dir, diag.errors);
        return 1;
    }
    if (dump) {
        int rc = pt_config_dump(conf, stdout) == 0 ? 0 : 1;
        pt_config_retire(conf);
        return rc;
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
