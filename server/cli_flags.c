/* server/cli_flags.c: the flag parser of the subcommands (server/cli.h). */
#include "server/cli.h"

#include <string.h>

int srv_cli_flags_parse(int argc, char **argv, const srv_cli_flag *flags, size_t n, void *cfg,
                        const char *cmd, const char *example) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1]) {
            fprintf(stderr, "auspex %s: unexpected argument \"%s\" (flags start with -, e.g. %s)\n", cmd, a,
                    example);
            return 2;
        }
        a += a[1] == '-' ? 2 : 1;
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        const srv_cli_flag *f = NULL;
        for (size_t k = 0; k < n && !f; k++)
            if (strlen(flags[k].name) == nl && !strncmp(flags[k].name, a, nl)) f = &flags[k];
        if (!f) {
            fprintf(stderr, "auspex %s: unknown flag -%.*s (see auspex %s -help)\n", cmd, (int)nl, a, cmd);
            return 2;
        }
        if (f->is_bool) {
            bool *b = (bool *)((char *)cfg + f->bool_off);
            if (!eq || !strcmp(eq + 1, "true") || !strcmp(eq + 1, "1")) *b = true;
            else if (!strcmp(eq + 1, "false") || !strcmp(eq + 1, "0")) *b = false;
            else {
                fprintf(stderr, "auspex %s: -%s takes true or false, not \"%s\"\n", cmd, f->name, eq + 1);
                return 2;
            }
            continue;
        }
        const char **s = (const char **)((char *)cfg + f->str_off);
        if (eq) *s = eq + 1;
        else if (i + 1 < argc) *s = argv[++i];
        else {
            fprintf(stderr, "auspex %s: -%s needs a value\n", cmd, f->name);
            return 2;
        }
    }
    return 0;
}

void srv_cli_flags_usage(FILE *f, const srv_cli_flag *flags, size_t n, const void *cfg) {
    for (size_t i = 0; i < n; i++) {
        if (flags[i].is_bool) {
            fprintf(f, "  -%s\n      %s\n", flags[i].name, flags[i].help);
        } else {
            const char *v = *(const char *const *)((const char *)cfg + flags[i].str_off);
            fprintf(f, "  -%s=%s\n      %s\n", flags[i].name, v ? v : "", flags[i].help);
        }
    }
}
