/* tests/unit/test.h: the smallest test harness that prints expected vs actual.
 *
 * A test file defines `static void test_<unit>_<behaviour>(void)` functions and lists
 * them with TEST_LIST; one module's files are linked into one ctest executable whose
 * main() (tests/unit/test_main.c) runs every registered test and exits non-zero on any
 * failure. Tests register themselves through a constructor, so no central list.
 */
#ifndef AX_TEST_H
#define AX_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef void (*test_fn)(void);
/* Remove a file or a folder and everything under it (temporary data of a test). */
void test_rm_rf(const char *path);
void test__register(const char *name, test_fn fn);
extern int test__failures;
extern const char *test__current;

#define TEST(name)                                                              \
    static void name(void);                                                     \
    __attribute__((constructor)) static void name##_reg(void) { test__register(#name, name); } \
    static void name(void)

#define FAILF(...)                                                              \
    do {                                                                        \
        fprintf(stderr, "  FAIL %s (%s:%d): ", test__current, __FILE__, __LINE__); \
        fprintf(stderr, __VA_ARGS__);                                           \
        fprintf(stderr, "\n");                                                  \
        test__failures++;                                                       \
    } while (0)

#define CHECK(cond) do { if (!(cond)) FAILF("%s", #cond); } while (0)
#define CHECK_EQ_INT(exp, act)                                                   \
    do {                                                                        \
        long long e_ = (long long)(exp), a_ = (long long)(act);                 \
        if (e_ != a_) FAILF("%s: expected %lld, got %lld", #act, e_, a_);       \
    } while (0)
#define CHECK_EQ_U64(exp, act)                                                   \
    do {                                                                        \
        uint64_t e_ = (uint64_t)(exp), a_ = (uint64_t)(act);                    \
        if (e_ != a_) FAILF("%s: expected %" PRIu64 ", got %" PRIu64, #act, e_, a_); \
    } while (0)
#define CHECK_EQ_STR(exp, act)                                                   \
    do {                                                                        \
        const char *e_ = (exp), *a_ = (act);                                    \
        if (!a_ || strcmp(e_, a_)) FAILF("%s: expected \"%s\", got \"%s\"", #act, e_, a_ ? a_ : "(null)"); \
    } while (0)
#define CHECK_EQ_DBL(exp, act)                                                   \
    do {                                                                        \
        double e_ = (exp), a_ = (act);                                          \
        if (e_ != a_) FAILF("%s: expected %.17g, got %.17g", #act, e_, a_);     \
    } while (0)

#endif
