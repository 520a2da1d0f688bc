/* tests/unit/forecast/fc_test.h: what the forecast module's test files share: a
 * reproducible noise source, a tolerance check, and the NAB traces of ../shared/data. */
#ifndef FC_TEST_H
#define FC_TEST_H

#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_NEAR(exp, act, tol)                                                     \
    do {                                                                              \
        double e_ = (exp), a_ = (act);                                                \
        if (!(fabs(e_ - a_) <= (tol)))                                                \
            FAILF("%s: expected %.10g +- %g, got %.10g", #act, e_, (double)(tol), a_); \
    } while (0)

/* splitmix64 + Box-Muller: reproducible uniform (0, 1) and standard Gaussian noise. */
typedef struct rng { uint64_t s; } rng;
static inline double unif(rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}
static inline double gauss(rng *r) {
    return sqrt(-2.0 * log(unif(r))) * cos(2.0 * M_PI * unif(r));
}

/* The values of ../shared/data/nab/<name>.csv (found relative to this source tree), at most
 * cap of them, into y. Returns how many, 0 when the file is absent (the caller skips). */
static inline size_t fc_test_nab(const char *name, double *y, size_t cap) {
    char path[1024];
    const char *me = __FILE__, *cut = strstr(me, "tests/unit/forecast/");
    snprintf(path, sizeof path, "%.*s../shared/data/nab/%s.csv", cut ? (int)(cut - me) : 0,
             cut ? me : "", name);
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("  skipped: %s not found\n", path);
        return 0;
    }
    size_t n = 0;
    char line[256];
    while (n < cap && fgets(line, sizeof line, f)) {
        char *c = strchr(line, ',');
        if (!c) continue;
        char *end;
        double v = strtod(c + 1, &end);
        if (end != c + 1) y[n++] = v;
    }
    fclose(f);
    return n;
}

#endif
