/* Plugin descriptors: the built-in ones, registered at start, and those of
 * the shared objects in each plugin-dir, opened once per process (a reload
 * picks up new files; a file already loaded is not opened again).  The
 * table changes only on the main thread, at config load; workers never
 * look in it (a config's vhosts hold what they need). */
#include "plugins/plugins.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/diag.h"
#include "gateway/log.h"

#define MAX_PLUGINS 64

struct entry {
    const struct pt_plugin *p;
    char *file;                 /* its shared object (realpath), or NULL: built in */
    void *dl;
};

static struct entry plugins[MAX_PLUGINS];
static size_t n_plugins;

bool pt_plugin_named(const struct pt_plugin *p, const char *name, size_t len)
{
    return (strlen(p->name) == len && memcmp(p->name, name, len) == 0) ||
           (p->alias && strlen(p->alias) == len && memcmp(p->alias, name, len) == 0);
}

const struct pt_plugin *pt_plugin_find(const char *name, size_t len)
{
    for (size_t i = 0; i < n_plugins; i++)
        if (pt_plugin_named(plugins[i].p, name, len))
            return plugins[i].p;
    return NULL;
}

void pt_plugin_names(char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n_plugins && n < size; i++) {
        const struct pt_plugin *p = plugins[i].p;
        n += (size_t)snprintf(buf + n, size - n, "%s%s%s%s%s", i ? ", " : "", p->name,
                              p->alias ? " (" : "", p->alias ? p->alias : "",
                              p->alias ? ")" : "");
    }
}

/* Why p cannot be registered, or NULL.  why has room for 256 bytes. */
static const char *refuse(const struct pt_plugin *p, char *why, size_t size)
{
    if (p->abi_version != PT_PLUGIN_ABI) {
        snprintf(why, size, "built for plugin ABI %u, but this portico has plugin ABI %u "
                 "(rebuild it against this portico's portico/plugin.h)",
                 p->abi_version, PT_PLUGIN_ABI);
        return why;
    }
    if (p->struct_size < offsetof(struct pt_plugin, on_request) + sizeof(p->on_request) ||
        !p->name || !p->name[0] || (!p->on_request && !PT_PLUGIN_HAS(p, ws_message)))
        return "incomplete descriptor (no name, or neither on_request nor ws_message)";
    if (n_plugins == MAX_PLUGINS)
        return "too many plugins";
    for (size_t i = 0; i < n_plugins; i++) {
        const struct pt_plugin *q = plugins[i].p;
        if (pt_plugin_named(q, p->name, strlen(p->name)) ||
            (p->alias && pt_plugin_named(q, p->alias, strlen(p->alias)))) {
            snprintf(why, size, "its name \"%s\"%s%s is taken by \"%s\"%s%s", p->name,
                     p->alias ? " or alias " : "", p->alias ? p->alias : "", q->name,
                     plugins[i].file ? " from " : " (built in)",
                     plugins[i].file ? plugins[i].file : "");
            return why;
        }
    }
    return NULL;
}

int pt_plugin_register_builtin(const struct pt_plugin *p)
{
    char why[512];
    const char *no = refuse(p, why, sizeof(why));
    if (no) {
        pt_err("built-in plugin \"%s\": %s", p->name ? p->name : "?", no);
        return -1;
    }
    plugins[n_plugins++] = (struct entry){ p, NULL, NULL };
    return 0;
}

static bool loaded(const char *file)
{
    for (size_t i = 0; i < n_plugins; i++)
        if (plugins[i].file && strcmp(plugins[i].file, file) == 0)
            return true;
    return false;
}

/* Opens one shared object; problems are errors at the plugin-dir. */
static int load_one(const char *file, const struct pt_srcpos *at, struct pt_diag *d)
{
    void *dl = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *why = dlerror();
        pt_diag_error(d, at->file, at->line, at->col, "\"plugin-dir\": cannot load %s: %s",
                      file, why ? why : "dlopen failed");
        return 1;
    }
    const struct pt_plugin *p = dlsym(dl, "pt_plugin");
    if (!p) {
        pt_diag_error(d, at->file, at->line, at->col,
                      "\"plugin-dir\": %s is not a portico plugin (it exports no "
                      "\"pt_plugin\" descriptor)", file);
        dlclose(dl);
        return 1;
    }
    char why[512];
    const char *no = refuse(p, why, sizeof(why));
    if (no) {
        pt_diag_error(d, at->file, at->line, at->col, "\"plugin-dir\": plugin %s: %s", file, no);
        dlclose(dl);
        return 1;
    }
    char *copy = strdup(file);
    if (!copy)
        abort();
    plugins[n_plugins++] = (struct entry){ p, copy, dl };
    pt_log(PT_LOG_INFO, "plugin \"%s\" loaded from %s", p->name, file);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int so_file(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return e->d_name[0] != '.' && n > 3 && strcmp(e->d_name + n - 3, ".so") == 0;
}

/* Every "*.so" of dir, in name order (so which of two same-named plugins
 * wins does not depend on the file system). */
static int load_dir(const char *dir, const struct pt_srcpos *at, struct pt_diag *d)
{
    struct dirent **list;
    int n = scandir(dir, &list, so_file, by_name);
    if (n < 0) {
        pt_diag_error(d, at->file, at->line, at->col, "\"plugin-dir\": cannot read %s: %s",
                      dir, strerror(errno));
        return 1;
    }
    int errors = 0;
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX], real[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
        free(list[i]);
        if (!realpath(path, real))
            continue; /* a dangling link */
        if (!loaded(real))
            errors += load_one(real, at, d);
    }
    free(list);
    return errors;
}

int pt_plugins_load(const struct pt_config *conf, struct pt_diag *d)
{
    int errors = 0;
    for (size_t i = 0; i < conf->g.n_plugin_dirs; i++)
        errors += load_dir(conf->g.plugin_dirs[i], &conf->g.plugin_dir_pos[i], d);
    return errors;
}
