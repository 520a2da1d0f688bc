/* tests/unit/test_main.c: runs every TEST() linked into this executable, in
 * registration order, and exits 1 if any check failed. An optional argument runs
 * only tests whose name contains it. */
#include "test.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TESTS 1024
static struct { const char *name; test_fn fn; } tests[MAX_TESTS];
static int n_tests;
int test__failures;
const char *test__current = "";

void test__register(const char *name, test_fn fn) {
    if (n_tests < MAX_TESTS) {
        tests[n_tests].name = name;
        tests[n_tests].fn = fn;
        n_tests++;
    }
}

void test_rm_rf(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", path, de->d_name);
            struct stat st;
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) test_rm_rf(p); else unlink(p);
        }
        closedir(d);
    }
    if (rmdir(path)) unlink(path);
}

int main(int argc, char **argv) {
    int run = 0, failed_tests = 0;
    for (int i = 0; i < n_tests; i++) {
        if (argc > 1 && !strstr(tests[i].name, argv[1])) continue;
        int before = test__failures;
        test__current = tests[i].name;
        tests[i].fn();
        run++;
        if (test__failures != before) {
            failed_tests++;
            fprintf(stderr, "FAILED %s\n", tests[i].name);
        } else {
            printf("ok %s\n", tests[i].name);
        }
    }
    printf("%d passed, %d failed\n", run - failed_tests, failed_tests);
    return failed_tests ? 1 : 0;
}
