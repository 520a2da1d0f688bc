/* bench/codec_bench.c: bytes/sample and ns/sample of the chunk codec on real series.
 *
 * Usage: codec_bench [-s stride] [-j jitter_ms] [-t] name:SOURCE [name:SOURCE...]
 *   SOURCE is a directory of Prometheus text scrapes (one file per scrape, in name order:
 *   every line "series value" becomes one sample of that series), a CSV file
 *   "timestamp,value" (the value column), or m4:FILE (one series per row, first field an id).
 *   -s N keeps every Nth scrape (values as a 15 s scraper would see them from 1 s scrapes).
 *   Timestamps are synthetic: 15 s apart plus uniform jitter of +-jitter_ms (default 2).
 * For each data set and chunk size (120..8192) it splits every series into consecutive
 * chunks and prints bytes/sample for XOR and decimal, with and without zstd, the automatic
 * choice at zstd levels 1 and 3, and the timestamp share; -t adds encode and decode
 * ns/sample (CPU time; auto at level 1, or -e x|d to force XOR or decimal, -z 0 no zstd). Used for docs/chunk-format.md; build without sanitizers.
 */
/* link: ax_codec */
#include "storage/codec/codec.h"
#include "storage/codec/codec_int.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

typedef struct series {
    char *key;
    double *v;
    int64_t *t;     /* real timestamps (lg: sources), else NULL: synthetic */
    size_t n, cap;
} series;

typedef struct dataset {
    series *s;
    size_t n, cap;
} dataset;

static series *series_get(dataset *d, const char *key, size_t len) {
    /* scrapes list series in the same order: try the slot after the last hit first */
    static size_t hint;
    if (hint < d->n && strlen(d->s[hint].key) == len && !memcmp(d->s[hint].key, key, len))
        return &d->s[hint++];
    for (size_t i = 0; i < d->n; i++)
        if (strlen(d->s[i].key) == len && !memcmp(d->s[i].key, key, len)) {
            hint = i + 1;
            return &d->s[i];
        }
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 256;
        d->s = realloc(d->s, d->cap * sizeof *d->s);
    }
    series *s = &d->s[d->n++];
    memset(s, 0, sizeof *s);
    s->key = strndup(key, len);
    hint = d->n;
    return s;
}

static void series_push(series *s, double v) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = v;
}

/* loadgen -dump output: "series value timestamp_ms" per line, real timestamps kept. */
static void load_lg(dataset *d, const char *file) {
    FILE *f = fopen(file, "r");
    if (!f) { perror(file); exit(1); }
    static char line[8192];
    while (fgets(line, sizeof line, f)) {
        char *sp2 = strrchr(line, ' ');
        if (!sp2 || sp2 == line) continue;
        *sp2 = 0;
        char *sp1 = strrchr(line, ' ');
        if (!sp1) continue;
        char *end;
        double v = strtod(sp1 + 1, &end);
        if (end == sp1 + 1) continue;
        long long t = strtoll(sp2 + 1, &end, 10);
        if (end == sp2 + 1) continue;
        /* dumps are all of host 0: key series by file too */
        static char key[8192 + 4096];
        int kl = snprintf(key, sizeof key, "%s|%.*s", file, (int)(sp1 - line), line);
        if (kl < 0 || (size_t)kl >= sizeof key) continue;
        series *s = series_get(d, key, (size_t)kl);
        size_t cap0 = s->cap;
        series_push(s, v);
        if (!s->t || cap0 != s->cap) s->t = realloc(s->t, s->cap * sizeof *s->t);
        s->t[s->n - 1] = (int64_t)t;
    }
    fclose(f);
}

static int cmpstr(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_scrapes(dataset *d, const char *dir, int stride) {
    DIR *dh = opendir(dir);
    if (!dh) { perror(dir); exit(1); }
    char **names = NULL;
    size_t nn = 0, nc = 0;
    struct dirent *e;
    while ((e = readdir(dh))) {
        if (e->d_name[0] == '.' || !strstr(e->d_name, ".txt")) continue;
        if (nn == nc) names = realloc(names, (nc = nc ? 2 * nc : 1024) * sizeof *names);
        names[nn++] = strdup(e->d_name);
    }
    closedir(dh);
    qsort(names, nn, sizeof *names, cmpstr);
    char path[4096], line[8192];
    for (size_t i = 0; i < nn; i++) {
        if (i % (size_t)stride == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            FILE *f = fopen(path, "r");
            while (f && fgets(line, sizeof line, f)) {
                if (line[0] == '#' || line[0] == '\n') continue;
                char *sp = strrchr(line, ' ');
                if (!sp) continue;
                char *end;
                double v = strtod(sp + 1, &end);
                if (end == sp + 1) continue;
                series_push(series_get(d, line, (size_t)(sp - line)), v);
            }
            if (f) fclose(f);
        }
        free(names[i]);
    }
    free(names);
}

static void load_csv(dataset *d, const char *file) {
    FILE *f = fopen(file, "r");
    if (!f) { perror(file); exit(1); }
    series *s = series_get(d, file, strlen(file));
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *c = strrchr(line, ',');
        if (!c) continue;
        char *end;
        double v = strtod(c + 1, &end);
        if (end != c + 1) series_push(s, v);
    }
    fclose(f);
}

static void load_m4(dataset *d, const char *file) {
    FILE *f = fopen(file, "r");
    if (!f) { perror(file); exit(1); }
    static char line[1 << 16];
    if (!fgets(line, sizeof line, f)) { fclose(f); return; } /* header */
    while (fgets(line, sizeof line, f)) {
        char *p = strchr(line, ',');
        if (!p) continue;
        series *s = series_get(d, line, (size_t)(p - line));
        while (p && *p) {
            p++;
            if (*p == '"') p++;
            char *end;
            double v = strtod(p, &end);
            if (end != p) series_push(s, v);
            p = strchr(p, ',');
        }
    }
    fclose(f);
}

static uint64_t rng_state = 12345;
static uint64_t rng(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); /* CPU time: the machine is shared */
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* Bytes of all chunks of size cs over the data set in one setting. */
static double measure(codec_ctx *c, dataset *d, int64_t **ts, size_t cs, ax_buf *b,
                      size_t *samples) {
    size_t bytes = 0, total = 0;
    for (size_t i = 0; i < d->n; i++) {
        series *s = &d->s[i];
        for (size_t off = 0; off < s->n; off += cs) {
            size_t n = s->n - off < cs ? s->n - off : cs;
            ax_buf_reset(b);
            if (codec_chunk_encode(c, b, ts[i] + off, s->v + off, n)) { fprintf(stderr, "encode failed\n"); exit(1); }
            bytes += b->len;
            total += n;
        }
    }
    *samples = total;
    return (double)bytes / (double)total;
}

/* Timestamp bitstream bytes per sample (the part of every chunk that is not values). */
static double ts_cost(dataset *d, int64_t **ts, size_t cs) {
    uint8_t *buf = malloc(CODEC__BODY_MAX(cs));
    size_t bytes = 0, total = 0;
    for (size_t i = 0; i < d->n; i++)
        for (size_t off = 0; off < d->s[i].n; off += cs) {
            size_t n = d->s[i].n - off < cs ? d->s[i].n - off : cs;
            codec__bw w = {buf, 0, 0};
            codec__ts_encode(&w, ts[i] + off, n);
            bytes += (size_t)(codec__bw_finish(&w) - buf);
            total += n;
        }
    free(buf);
    return (double)bytes / (double)total;
}

/* Grid timestamp section bytes per sample (zstd'd at the default level, as the codec
 * writes it), the new format's counterpart of ts_cost. */
static double ts_cost_grid(codec_ctx *c, dataset *d, int64_t **ts, size_t cs) {
    (void)c;
    uint8_t *buf = malloc(CODEC__BODY_MAX(cs)), *z = malloc(ZSTD_compressBound(CODEC__BODY_MAX(cs)));
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, CODEC__LEVEL);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_minMatch, 7); /* as codec.c's TS_MIN_MATCH */
    size_t bytes = 0, total = 0;
    for (size_t i = 0; i < d->n; i++)
        for (size_t off = 0; off < d->s[i].n; off += cs) {
            size_t n = d->s[i].n - off < cs ? d->s[i].n - off : cs;
            size_t len = (size_t)(codec__grid_write(buf, ts[i] + off, n) - buf);
            size_t zl = len >= CODEC__ZSTD_MIN ? ZSTD_compress2(cc, z, ZSTD_compressBound(CODEC__BODY_MAX(cs)), buf, len) : len;
            bytes += !ZSTD_isError(zl) && zl < len ? zl : len;
            total += n;
        }
    ZSTD_freeCCtx(cc);
    free(buf);
    free(z);
    return (double)bytes / (double)total;
}

static int t_enc = CODEC__AUTO, t_zstd = 1; /* what -t times: -e a|x|d|s, -z 0|1 */

static void timing(codec_ctx *c, dataset *d, int64_t **ts, size_t cs, int enc, int level,
                   double *enc_ns, double *dec_ns) {
    ax_buf b;
    ax_buf_init(&b, (size_t)1 << 30);
    size_t nchunks = 0, total = 0;
    size_t *offs = NULL, cap = 0;
    codec__ctx_tune(c, enc, level, t_zstd);
    double t0 = now_ns();
    for (size_t i = 0; i < d->n; i++)
        for (size_t off = 0; off < d->s[i].n; off += cs) {
            size_t n = d->s[i].n - off < cs ? d->s[i].n - off : cs;
            if (nchunks + 1 >= cap) offs = realloc(offs, (cap = cap ? 2 * cap : 4096) * sizeof *offs);
            offs[nchunks++] = b.len;
            codec_chunk_encode(c, &b, ts[i] + off, d->s[i].v + off, n);
            total += n;
        }
    double t1 = now_ns();
    offs[nchunks] = b.len;
    int64_t *ots = malloc(CODEC_MAX_SAMPLES * sizeof *ots);
    double *ov = malloc(CODEC_MAX_SAMPLES * sizeof *ov);
    size_t got = 0;
    double t2 = now_ns();
    for (size_t k = 0; k < nchunks; k++) {
        size_t n = 0;
        if (codec_chunk_decode(c, b.data + offs[k], offs[k + 1] - offs[k], ots, ov,
                               CODEC_MAX_SAMPLES, &n)) { fprintf(stderr, "decode failed\n"); exit(1); }
        got += n;
    }
    double t3 = now_ns();
    if (got != total) { fprintf(stderr, "decoded %zu of %zu\n", got, total); exit(1); }
    *enc_ns = (t1 - t0) / (double)total;
    *dec_ns = (t3 - t2) / (double)total;
    free(ots);
    free(ov);
    free(offs);
    ax_buf_free(&b);
}

int main(int argc, char **argv) {
    int stride = 1, jitter = 2, do_time = 0, argi = 1;
    for (; argi < argc && argv[argi][0] == '-'; argi++) {
        if (!strcmp(argv[argi], "-s") && argi + 1 < argc) stride = (int)strtol(argv[++argi], NULL, 10);
        else if (!strcmp(argv[argi], "-j") && argi + 1 < argc) jitter = (int)strtol(argv[++argi], NULL, 10);
        else if (!strcmp(argv[argi], "-t")) do_time = 1;
        else if (!strcmp(argv[argi], "-z") && argi + 1 < argc) t_zstd = argv[++argi][0] == '1';
        else if (!strcmp(argv[argi], "-e") && argi + 1 < argc) {
            char e = argv[++argi][0];
            t_enc = e == 'x' ? CODEC__ENC_XOR : e == 'd' ? CODEC__ENC_DEC : e == 'o' ? CODEC__AUTO_V1 : CODEC__AUTO;
        }
    }
    if (argi >= argc || stride < 1 || jitter < 0) {
        fprintf(stderr, "usage: codec_bench [-s stride] [-j jitter_ms] [-t] name:SOURCE...\n");
        return 2;
    }
    static const size_t sizes[] = {120, 256, 512, 1024, 2048, 4096, 8192};
    codec_ctx *c = codec_ctx_new();
    ax_buf b;
    ax_buf_init(&b, (size_t)1 << 26);
    printf("%-6s %5s %8s %5s | %6s %6s %6s %6s | %6s | %6s %6s | %6s %6s %6s | %6s %6s | %5s %5s %5s %5s\n",
           "data", "chunk", "samples", "ser", "xor", "xor+z", "dec", "dec+z", "old", "s-dec",
           "s-pl", "new1", "new3", "new9", "ts-old", "ts-new", "oenc", "odec", "enc", "dec");
    for (; argi < argc; argi++) {
        char *colon = strchr(argv[argi], ':');
        if (!colon) { fprintf(stderr, "want name:SOURCE, got %s\n", argv[argi]); return 2; }
        *colon = 0;
        const char *name = argv[argi], *src = colon + 1;
        dataset d = {0};
        DIR *probe = opendir(src);
        if (probe) { closedir(probe); load_scrapes(&d, src, stride); }
        else if (!strncmp(src, "m4:", 3)) load_m4(&d, src + 3);
        else if (!strncmp(src, "lg:", 3)) {
            /* several loadgen dumps separated by commas (e.g. one per -seed) */
            char *list = strdup(src + 3);
            for (char *f = list, *comma; f; f = comma ? comma + 1 : NULL) {
                comma = strchr(f, ',');
                if (comma) *comma = 0;
                if (*f) load_lg(&d, f);
            }
            free(list);
        }
        else {
            /* several CSVs separated by commas */
            char *list = strdup(src);
            for (char *f = list, *comma; f; f = comma ? comma + 1 : NULL) {
                comma = strchr(f, ',');
                if (comma) *comma = 0;
                if (*f) load_csv(&d, f);
            }
            free(list);
        }
        int64_t **ts = malloc(d.n * sizeof *ts);
        for (size_t i = 0; i < d.n; i++) {
            ts[i] = malloc((d.s[i].n ? d.s[i].n : 1) * sizeof **ts);
            for (size_t k = 0; k < d.s[i].n; k++)
                ts[i][k] = d.s[i].t ? d.s[i].t[k] : 1700000000000 + 15000 * (int64_t)k +
                           (jitter ? (int64_t)(rng() % (uint64_t)(2 * jitter + 1)) - jitter : 0);
        }
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            size_t cs = sizes[si], tot = 0;
            static const struct { int enc, vk, z, level; } cfg[] = {
                {CODEC__ENC_XOR, -1, 0, 1},    {CODEC__ENC_XOR, -1, 1, 1},
                {CODEC__ENC_DEC, -1, 0, 1},    {CODEC__ENC_DEC, -1, 1, 1},
                {CODEC__AUTO_V1, -1, 1, 1},    {CODEC__ENC_SPLIT, CODEC__V_DEC, 1, 3},
                {CODEC__ENC_SPLIT, CODEC__V_PLANES, 1, 3}, {CODEC__AUTO, -1, 1, 1},
                {CODEC__ENC_SPLIT, -1, 1, 3},  {CODEC__ENC_SPLIT, -1, 1, 9},
            };
            enum { NCFG = sizeof cfg / sizeof cfg[0] };
            double r[NCFG];
            for (int k = 0; k < NCFG; k++) {
                codec__ctx_tune(c, cfg[k].enc, cfg[k].level, cfg[k].z);
                codec__ctx_values(c, cfg[k].vk);
                r[k] = measure(c, &d, ts, cs, &b, &tot);
            }
            codec__ctx_values(c, CODEC__AUTO);
            double en = 0, de = 0, en1 = 0, de1 = 0;
            if (do_time) {
                timing(c, &d, ts, cs, CODEC__AUTO_V1, 1, &en1, &de1);
                timing(c, &d, ts, cs, t_enc, CODEC__LEVEL, &en, &de);
            }
            printf("%-6s %5zu %8zu %5zu | %6.3f %6.3f %6.3f %6.3f | %6.3f | %6.3f %6.3f | %6.3f %6.3f %6.3f | %6.3f %6.3f | %5.1f %5.1f %5.1f %5.1f\n",
                   name, cs, tot, d.n, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
                   ts_cost(&d, ts, cs), ts_cost_grid(c, &d, ts, cs), en1, de1, en, de);
        }
        for (size_t i = 0; i < d.n; i++) { free(ts[i]); free(d.s[i].v); free(d.s[i].t); free(d.s[i].key); }
        free(ts);
        free(d.s);
    }
    ax_buf_free(&b);
    codec_ctx_free(c);
    return 0;
}
