/* tests/unit/test_main.c: runs every TEST() linked into this executable, in
 * registration order, and exits 1 if any check failed. An optional argument runs
 * only tests whose name contains it. */
#include "test.h"

#include <stdlib.h>

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
