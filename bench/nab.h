/* bench/nab.h: the NAB traces of ../shared/data/nab for the benchmark tools (header-only:
 * every bench tool is its own program). A trace's rows `YYYY-MM-DD HH:MM:SS,value` (UTC,
 * after a header line) go onto the 5-minute grid from the first timestamp, each grid point
 * taking the last row at or before it. A file that cannot be read exits the program. */
#ifndef BENCH_NAB_H
#define BENCH_NAB_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAB_STEP_S 300

static void nab_die(const char *what, const char *detail) {
    fprintf(stderr, "nab: %s: %s\n", what, detail);
    exit(1);
}

static int64_t nab_days_from_civil(int y, int m, int d) { /* H. Hinnant's algorithm */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* dir/name.csv on the grid. OUT: *n_out points, *t0 the first timestamp (Unix s). The
 * array is malloc'd. */
static double *nab_load_grid(const char *dir, const char *name, size_t *n_out, double *t0) {
    char path[1200], line[256];
    snprintf(path, sizeof path, "%s/%s.csv", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) nab_die(path, strerror(errno));
    size_t cap = 0, n = 0;
    int64_t *ts = NULL;
    double *v = NULL;
    if (!fgets(line, sizeof line, f)) nab_die(path, "no header");
    while (fgets(line, sizeof line, f)) {
        int Y, M, D, h, mi, s, used = 0;
        if (sscanf(line, "%d-%d-%d %d:%d:%d,%n", &Y, &M, &D, &h, &mi, &s, &used) != 6 || !used)
            nab_die(path, "bad line");
        char *end;
        double x = strtod(line + used, &end);
        if (end == line + used) nab_die(path, "bad value");
        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            ts = realloc(ts, cap * sizeof *ts);
            v = realloc(v, cap * sizeof *v);
            if (!ts || !v) nab_die(path, "out of memory");
        }
        ts[n] = nab_days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + s;
        v[n++] = x;
    }
    fclose(f);
    if (n < 2) nab_die(path, "too short");
    size_t ng = (size_t)((ts[n - 1] - ts[0]) / NAB_STEP_S) + 1;
    double *y = malloc(ng * sizeof *y);
    if (!y) nab_die(path, "out of memory");
    for (size_t i = 0, j = 0; i < ng; i++) {
        int64_t t = ts[0] + (int64_t)i * NAB_STEP_S;
        while (j + 1 < n && ts[j + 1] <= t) j++;
        y[i] = v[j];
    }
    *t0 = (double)ts[0];
    *n_out = ng;
    free(ts);
    free(v);
    return y;
}

#endif
