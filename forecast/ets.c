/* forecast/ets.c: exponential smoothing (ETS with additive errors), fitted and selected per
 * series in the manner of R's forecast::ets, on plain arrays.
 *
 * Models. Error additive; level l; trend none (N), additive (A) or additive damped (Ad, phi);
 * seasonality none (N), additive (A) or multiplicative (M) with period m = periods[0] (only
 * the first period is used; the seasonal state is a ring of m values, so m = 2016 is fine).
 * With lp = l[t-1] + phi b[t-1] (phi = 1 for A; b = 0 for N) and s = s[t-m]:
 *   A season:  yhat = lp + s        e = y - yhat
 *              l = lp + alpha e     b = phi b + beta e     s' = s + gamma e
 *   M season:  yhat = lp * s        e = y - yhat
 *              l = lp + alpha e/s   b = phi b + beta e/s   s' = s + gamma e/lp
 *   N season:  as A with s = 0 and no s'.
 * A missing y (NaN, or +-Inf) advances the state with the one-step prediction: l = lp,
 * b = phi b, s' = s, and adds nothing to the SSE. Forecast k = 1..h steps after the last
 * point: l + (phi + ... + phi^k) b, plus s (A) or times s (M) of that phase; the damping sum
 * is k for trend A.
 *
 * Initial state (heuristic, as R's initstate, then kept fixed). Leading missing values are
 * dropped; len is what remains. Seasonal: classical decomposition of the first K seasons,
 * K = min(floor(len/m), 4), less one when floor(len/m) >= 3 (so a season is left after the
 * window); K >= 2. A centred moving average of order m (2 x m for even m; missing values
 * skipped, needs half its weight) detrends y (y - ma, or y / ma for M); the detrended values
 * are averaged per phase and normalised to mean 0 (A) or, after clamping at 0.01, mean 1 (M).
 * Level and trend from the seasonally adjusted first max(10, 2m) points: l0 = their mean
 * (trend N), or l0, b0 = intercept (at t = 0, one step before y[0]) and slope of their
 * least-squares line (trends A, Ad).
 *
 * Fit. Parameters in R's "usual" region: alpha in [1e-4, 0.9999], beta in (0, alpha),
 * gamma in (0, 1 - alpha), phi in (0.8, 0.98), reached through logistic transforms of free
 * variables (beta = alpha sig(u), gamma = (1 - alpha) sig(v), phi = 0.8 + 0.18 sig(w)), so
 * the optimiser is unconstrained. Objective: SSE of the one-step errors over the finite y
 * (the Gaussian likelihood up to constants). Optimiser: Nelder-Mead (reflection 1, expansion
 * 2, contraction 1/2, shrink 1/2; initial simplex step 1.5 on the logit scale), stopped when
 * the vertices' SSEs agree within a relative 1e-4 and lie within 0.2 of each other (logit
 * scale), then restarted from the best vertex with a halved step (at most twice) while that
 * lowers the SSE by more than that; at most 20 passes per free parameter + 10 per variant.
 * A trial pass stops as soon as its running SSE reaches the value it must beat (Nelder-Mead
 * only needs the comparison). Starts: alpha
 * 0.2, beta/alpha 0.1, gamma/(1-alpha) 0.05, phi 0.95; M starts from A's optimum and each
 * trend variant from the previous variant's optimum.
 * Divergence: a pass whose one-step error exceeds 1e3 x (range + |mean|) of the data, whose
 * level before a multiplicative season is <= 1e-9 x that scale, or whose SSE or state is
 * not finite, is rejected (infinite SSE); multiplicative seasonal states are clipped to
 * [1e-3, 1e3]. A forecast value that is not finite is replaced by the last finite y. Series
 * whose largest |y| is beyond 2^+-100 are fitted divided by a power of two (exact) and the
 * forecast multiplied back, so squares and sums cannot overflow.
 *
 * Selection by AICc = nf log(SSE / nf) + 2k + 2k(k + 1) / (nf - k - 1), with
 *   k = #smoothing parameters + 1 (l0) + 1 (b0, if trend) + 1 (sigma) [+ (m - 1), see below].
 * Seasonal variants need m >= 2 and len >= 2m; M needs every finite y > 0. When a season or
 * more lies after the initialisation window (len >= (K + 1) m), every variant's SSE and nf
 * are taken over [K m, len) only, and the m - 1 seasonal states are not counted in k: they
 * were estimated on data that is not scored. Otherwise (2m <= len < 3m, or no season) the
 * whole series is scored and seasonal variants count m - 1 more, as R does. Scoring on the
 * window would let seasonal states fitted to the first K seasons' noise win on noise; with
 * R's count a smooth daily season at m = 288 loses to a local level on one-step errors.
 * Variants are eligible when n_f > k + 3 (n_f finite points); SSE is floored at
 * nf (1e-10 scale)^2, so a constant series ties everywhere and the simplest wins.
 * To keep a fit within a few ms the search is staged rather than R's full 9 variants:
 * (1) trend N with season N, A, M (as eligible) picks the season type; (2) trends A and Ad
 * with that season type; the lowest AICc of the (up to 5) fits wins. ETS(A,N,N) is always
 * fitted and wins when nothing else is eligible. Needs >= 4 finite values (else FC_EINVAL).
 */
#include "forecast/forecast_int.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { TR_N, TR_A, TR_AD };
enum { SE_N, SE_A, SE_M };

#define A_LO 1e-4
#define A_HI 0.9999
#define PHI_LO 0.8
#define PHI_HI 0.98
#define SM_LO 1e-3 /* multiplicative seasonal state clip */
#define SM_HI 1e3
#define NM_EVALS_PER_DIM 20
#define NM_FTOL 1e-4
#define NM_XTOL 0.2 /* on the logit scale */
#define INIT_SEASONS 4

typedef struct par {
    double alpha, beta, gamma, phi;
} par;

/* One variant on one (trimmed) series. */
typedef struct fit_ctx {
    const double *y; /* y[0] is finite */
    size_t n, m;     /* m = 1 when the variant has no season */
    int trend, season;
    double l0, b0;
    const double *s0; /* m initial seasonal states (NULL for no season) */
    double *s;        /* m scratch, the running seasonal ring */
    double big;       /* |e| beyond this = divergence */
    double lp_min;    /* M season: level must stay above this */
    int n_eval;
} fit_ctx;

/* NaN marks a gap; +-Inf is treated the same way. */
static int missing(double v) { return !isfinite(v); }

static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }
static double logit(double p) { return log(p / (1.0 - p)); }

/* Free variables u[0..4) = (alpha, beta/alpha, gamma/(1-alpha), phi) on the logit scale. */
static par decode(const double *u, int trend, int season) {
    par p;
    p.alpha = A_LO + (A_HI - A_LO) * sig(u[0]);
    p.beta = trend == TR_N ? 0.0 : p.alpha * sig(u[1]);
    p.gamma = season == SE_N ? 0.0 : (1.0 - p.alpha) * sig(u[2]);
    p.phi = trend == TR_N ? 0.0 : trend == TR_A ? 1.0 : PHI_LO + (PHI_HI - PHI_LO) * sig(u[3]);
    return p;
}

/* The running state in the form the loops use: lp = l + phi b (the next one-step level
 * prediction) and pb = phi b. With u = y - s (A), y / s (M) or y (N), e' = u - lp (the error,
 * divided by s for M) and ca = alpha + phi beta, cb = phi beta:
 *   lp' = l + phi b' = (ca u + (1 - ca) lp) + phi pb,   pb' = (cb u + phi pb) - cb lp,
 * the recursion of the top comment with its terms regrouped so that each step's dependency
 * chain is one multiplication and one or two additions (the loop is latency-bound). */
typedef struct run_state {
    double lp, pb;
    size_t j; /* phase of the next point in the seasonal ring */
} run_state;

/* Run the recursions over y[t0..t1) from *st (updated). Returns the SSE of those steps, or
 * INFINITY when the run diverges or its SSE reaches `bound`. */
static double run_seg(const fit_ctx *c, const par *p, run_state *st, size_t t0, size_t t1,
                      double bound) {
    const double *y = c->y;
    const double phi = p->phi, gamma = p->gamma, ca = p->alpha + phi * p->beta;
    const double cb = phi * p->beta, ca1 = 1.0 - ca, big = c->big;
    double lp = st->lp, pb = st->pb, sse = 0.0;
    size_t m = c->m, j = st->j;
    double *S = c->s;
    if (c->season == SE_N) {
        for (size_t t = t0; t < t1; t++) {
            double yt = y[t];
            if (missing(yt)) { lp += phi * pb; pb = phi * pb; continue; }
            double e = yt - lp;
            if (!(fabs(e) <= big)) return INFINITY;
            sse += e * e;
            double nlp = (ca * yt + ca1 * lp) + phi * pb;
            pb = (cb * yt + phi * pb) - cb * lp;
            lp = nlp;
            if (sse >= bound) return INFINITY;
        }
    } else if (c->season == SE_A) {
        for (size_t t = t0; t < t1; t++) {
            double yt = y[t], s = S[j];
            if (missing(yt)) {
                lp += phi * pb; pb = phi * pb;
            } else {
                double u = yt - s, e = u - lp;
                if (!(fabs(e) <= big)) return INFINITY;
                sse += e * e;
                S[j] = s + gamma * e;
                double nlp = (ca * u + ca1 * lp) + phi * pb;
                pb = (cb * u + phi * pb) - cb * lp;
                lp = nlp;
                if (sse >= bound) return INFINITY;
            }
            if (++j == m) j = 0;
        }
    } else {
        const double lp_min = c->lp_min;
        for (size_t t = t0; t < t1; t++) {
            double yt = y[t], s = S[j];
            if (missing(yt)) {
                lp += phi * pb; pb = phi * pb;
            } else {
                if (!(lp > lp_min)) return INFINITY;
                double u = yt / s; /* r = e / s = u - lp; the division is off the chain */
                double e = yt - lp * s;
                if (!(fabs(e) <= big)) return INFINITY;
                sse += e * e;
                double sn = s + gamma * e / lp;
                S[j] = sn < SM_LO ? SM_LO : sn > SM_HI ? SM_HI : sn;
                double nlp = (ca * u + ca1 * lp) + phi * pb;
                pb = (cb * u + phi * pb) - cb * lp;
                lp = nlp;
                if (sse >= bound) return INFINITY;
            }
            if (++j == m) j = 0;
        }
    }
    if (!isfinite(sse) || !isfinite(lp) || !isfinite(pb)) return INFINITY;
    st->lp = lp; st->pb = pb; st->j = j;
    return sse;
}

/* One pass over y[0..n) from the initial state. Returns the SSE over the finite y, or
 * INFINITY (divergence, or SSE >= bound). OUT (when not NULL): *st = the final state,
 * *sse_from = the SSE of the steps t >= from. c->s holds the final seasonal ring. */
static double ets_pass(fit_ctx *c, const par *p, double bound, size_t from, run_state *st,
                       double *sse_from) {
    run_state r = {c->l0 + p->phi * c->b0, p->phi * c->b0, 0};
    if (c->trend == TR_N) r.lp = c->l0, r.pb = 0;
    c->n_eval++;
    if (c->season != SE_N) memcpy(c->s, c->s0, c->m * sizeof *c->s);
    if (from > c->n) from = c->n;
    double s1 = run_seg(c, p, &r, 0, from, bound);
    if (!isfinite(s1)) return INFINITY;
    double s2 = run_seg(c, p, &r, from, c->n, bound - s1);
    if (!isfinite(s2)) return INFINITY;
    if (st) *st = r;
    if (sse_from) *sse_from = s2;
    return s1 + s2;
}

/* Which of u[0..4) are free for this variant: alpha always, then beta, gamma, phi. */
static int free_vars(int trend, int season, int *idx) {
    int k = 0;
    idx[k++] = 0;
    if (trend != TR_N) idx[k++] = 1;
    if (season != SE_N) idx[k++] = 2;
    if (trend == TR_AD) idx[k++] = 3;
    return k;
}

typedef struct nm_prob {
    fit_ctx *c;
    double u[4]; /* fixed values of the variables that are not free */
    int idx[4], k;
} nm_prob;

static double nm_f(nm_prob *pr, const double *x, double bound) {
    double u[4];
    memcpy(u, pr->u, sizeof u);
    for (int i = 0; i < pr->k; i++) u[pr->idx[i]] = x[i];
    par p = decode(u, pr->c->trend, pr->c->season);
    return ets_pass(pr->c, &p, bound, 0, NULL, NULL);
}

/* Nelder-Mead on x[0..k) from the simplex x, x + step e_i; at most max_eval passes.
 * Trial points are evaluated against the value they must beat (see ets_pass). OUT: x = best
 * vertex. Returns its SSE (INFINITY when every vertex diverged). */
static double nm_run(nm_prob *pr, double *x, double step, int max_eval) {
    enum { K = 4 };
    double v[K + 1][K], f[K + 1], cen[K], xr[K], xe[K], xc[K];
    int k = pr->k, used = 0;
    for (int i = 0; i <= k; i++) {
        memcpy(v[i], x, (size_t)k * sizeof *x);
        if (i > 0) v[i][i - 1] += step;
        f[i] = nm_f(pr, v[i], INFINITY);
        used++;
    }
    for (;;) {
        /* order vertices: best first (insertion sort, k <= 4) */
        for (int i = 1; i <= k; i++) {
            for (int q = i; q > 0 && f[q] < f[q - 1]; q--) {
                double tf = f[q], tv[K];
                f[q] = f[q - 1]; f[q - 1] = tf;
                memcpy(tv, v[q], sizeof tv); memcpy(v[q], v[q - 1], sizeof tv);
                memcpy(v[q - 1], tv, sizeof tv);
            }
        }
        if (used >= max_eval || !isfinite(f[0])) break;
        if (isfinite(f[k]) && f[k] - f[0] <= NM_FTOL * f[0] + 1e-300) {
            double spread = 0; /* equal values can straddle the minimum: check the size too */
            for (int i = 1; i <= k; i++)
                for (int d = 0; d < k; d++) spread = fmax(spread, fabs(v[i][d] - v[0][d]));
            if (spread <= NM_XTOL) break;
        }
        for (int d = 0; d < k; d++) {
            cen[d] = 0;
            for (int i = 0; i < k; i++) cen[d] += v[i][d];
            cen[d] /= k;
        }
        for (int d = 0; d < k; d++) xr[d] = cen[d] + (cen[d] - v[k][d]);
        double fr = nm_f(pr, xr, f[k]);
        used++;
        if (fr < f[0]) {
            for (int d = 0; d < k; d++) xe[d] = cen[d] + 2.0 * (cen[d] - v[k][d]);
            double fe = nm_f(pr, xe, fr);
            used++;
            if (fe < fr) { memcpy(v[k], xe, sizeof xe); f[k] = fe; }
            else { memcpy(v[k], xr, sizeof xr); f[k] = fr; }
            continue;
        }
        if (fr < f[k - 1]) { memcpy(v[k], xr, sizeof xr); f[k] = fr; continue; }
        double fc;
        if (fr < f[k]) { /* outside contraction: must beat the reflected point */
            for (int d = 0; d < k; d++) xc[d] = cen[d] + 0.5 * (xr[d] - cen[d]);
            fc = nm_f(pr, xc, fr);
            used++;
            if (fc < fr) { memcpy(v[k], xc, sizeof xc); f[k] = fc; continue; }
            if (fr < f[k]) { memcpy(v[k], xr, sizeof xr); f[k] = fr; }
        } else { /* inside contraction: must beat the worst vertex */
            for (int d = 0; d < k; d++) xc[d] = cen[d] + 0.5 * (v[k][d] - cen[d]);
            fc = nm_f(pr, xc, f[k]);
            used++;
            if (fc < f[k]) { memcpy(v[k], xc, sizeof xc); f[k] = fc; continue; }
        }
        /* shrink towards the best vertex */
        for (int i = 1; i <= k; i++) {
            for (int d = 0; d < k; d++) v[i][d] = v[0][d] + 0.5 * (v[i][d] - v[0][d]);
            f[i] = nm_f(pr, v[i], INFINITY);
            used++;
        }
    }
    memcpy(x, v[0], (size_t)k * sizeof *x);
    return f[0];
}

/* Fit the variant in c starting from u[0..4) (logit scale); OUT: u = optimum. Returns SSE. */
static double fit_variant(fit_ctx *c, double *u) {
    nm_prob pr = {.c = c};
    memcpy(pr.u, u, sizeof pr.u);
    pr.k = free_vars(c->trend, c->season, pr.idx);
    double x[4];
    for (int i = 0; i < pr.k; i++) x[i] = u[pr.idx[i]];
    int budget = NM_EVALS_PER_DIM * pr.k + 10;
    int start = c->n_eval;
    double step = 1.5;
    double best = nm_run(&pr, x, step, budget);
    for (int r = 0; r < 2 && isfinite(best); r++) {
        int left = budget - (c->n_eval - start);
        if (left < 2 * pr.k + 2) break;
        step *= 0.5;
        double x2[4];
        memcpy(x2, x, sizeof x2);
        double f2 = nm_run(&pr, x2, step, left);
        if (!(f2 < best)) break;
        int better = f2 < best * (1.0 - NM_FTOL);
        best = f2;
        memcpy(x, x2, sizeof x);
        if (!better) break;
    }
    for (int i = 0; i < pr.k; i++) u[pr.idx[i]] = x[i];
    return best;
}

/* Classical decomposition of y[0..w) (w a multiple of m, >= 2m): seasonal indices per phase,
 * additive (mult = 0) or multiplicative. scratch: 2 (w + 1) + m doubles. OUT: s0[0..m). */
static void decompose(const double *y, size_t w, size_t m, int mult, double *scratch,
                      double *s0) {
    double *ps = scratch, *pc = scratch + (w + 1); /* prefix sums of finite values / counts */
    ps[0] = pc[0] = 0;
    for (size_t t = 0; t < w; t++) {
        int ok = !missing(y[t]);
        ps[t + 1] = ps[t] + (ok ? y[t] : 0.0);
        pc[t + 1] = pc[t] + ok;
    }
    size_t half = m / 2;
    double *cnt = pc + (w + 1); /* per phase: s0 sums, cnt counts the detrended values */
    for (size_t j = 0; j < m; j++) s0[j] = cnt[j] = 0;
    for (size_t t = half; t + half < w; t++) {
        if (missing(y[t])) continue;
        double sum, wt;
        if (m % 2 == 0) { /* 2 x m: weights 1/2 at both ends, 1 inside */
            sum = ps[t + half] - ps[t - half + 1];
            wt = pc[t + half] - pc[t - half + 1];
            if (!missing(y[t - half])) { sum += 0.5 * y[t - half]; wt += 0.5; }
            if (!missing(y[t + half])) { sum += 0.5 * y[t + half]; wt += 0.5; }
        } else {
            sum = ps[t + half + 1] - ps[t - half];
            wt = pc[t + half + 1] - pc[t - half];
        }
        if (wt < 0.5 * (double)m) continue;
        double ma = sum / wt, d;
        if (mult) {
            if (!(ma > 0)) continue;
            d = y[t] / ma;
        } else {
            d = y[t] - ma;
        }
        s0[t % m] += d;
        cnt[t % m] += 1;
    }
    double mean = 0;
    for (size_t j = 0; j < m; j++) {
        s0[j] = cnt[j] > 0 ? s0[j] / cnt[j] : (mult ? 1.0 : 0.0);
        if (mult) s0[j] = fmax(s0[j], 0.01);
        mean += s0[j];
    }
    mean /= (double)m;
    for (size_t j = 0; j < m; j++) {
        if (mult) s0[j] = mean > 0 ? s0[j] / mean : 1.0;
        else s0[j] -= mean;
    }
}

/* Level and trend from the seasonally adjusted first max(10, 2m) points of y[0..n). OUT: the
 * mean *lmean, the line's intercept (at t = 0, one step before y[0]) *l0 and slope *b0. */
static void init_level(const double *y, size_t n, size_t m, int season, const double *s0,
                       double *lmean, double *l0, double *b0) {
    size_t mx = 2 * m > 10 ? 2 * m : 10;
    if (mx > n) mx = n;
    double sx = 0, sy = 0, sxx = 0, sxy = 0, cnt = 0;
    for (size_t t = 0; t < mx; t++) {
        double v = y[t];
        if (missing(v)) continue;
        if (season == SE_A) v -= s0[t % m];
        else if (season == SE_M) v /= s0[t % m];
        double x = (double)(t + 1);
        sx += x; sy += v; sxx += x * x; sxy += x * v; cnt += 1;
    }
    /* y[0] is finite, so cnt >= 1 */
    *lmean = sy / cnt;
    double den = cnt * sxx - sx * sx;
    if (cnt >= 2 && den > 0) {
        *b0 = (cnt * sxy - sx * sy) / den;
        *l0 = (sy - *b0 * sx) / cnt;
    } else {
        *b0 = 0;
        *l0 = *lmean;
    }
}

/* Variant selection state shared by the fits of one call. */
typedef struct sel_ctx {
    const double *y;
    size_t len, m, from, n_f;
    double nf, sse_floor, big, lp_min;
    double lmean[3], l0[3], b0[3];
    const double *s0[3];
    double *ring;
    int best_tr, best_se, have_best;
    double best_aicc, best_u[4];
} sel_ctx;

/* Fit variant (tr, se) from u (logit scale; OUT: u = its optimum), score it by AICc on
 * [from, len) and keep it in sc when it beats the best so far. Returns its AICc (INFINITY
 * when ineligible or divergent). */
static double try_variant(sel_ctx *sc, int tr, int se, double *u) {
    size_t mm = se == SE_N ? 1 : sc->m;
    int n_par = 1 + (tr != TR_N) + (se != SE_N) + (tr == TR_AD);
    double k = n_par + 1.0 + (tr != TR_N) + 1.0, nf = sc->nf;
    if (se != SE_N && sc->from == 0) k += (double)(mm - 1); /* states fitted in-sample */
    int always = tr == TR_N && se == SE_N;
    if (!always && !((double)sc->n_f > k + 3.0)) return INFINITY;
    fit_ctx c = {.y = sc->y, .n = sc->len, .m = mm, .trend = tr, .season = se,
                 .l0 = tr == TR_N ? sc->lmean[se] : sc->l0[se], .b0 = sc->b0[se],
                 .s0 = sc->s0[se], .s = sc->ring, .big = sc->big, .lp_min = sc->lp_min};
    if (!isfinite(fit_variant(&c, u))) return INFINITY;
    par q = decode(u, tr, se);
    double sse = 0, aicc = INFINITY;
    if (!isfinite(ets_pass(&c, &q, INFINITY, sc->from, NULL, &sse))) return INFINITY;
    if (nf - k - 1.0 > 0)
        aicc = nf * log(fmax(sse, sc->sse_floor) / nf) + 2.0 * k +
               2.0 * k * (k + 1.0) / (nf - k - 1.0);
    if (!sc->have_best || aicc < sc->best_aicc) {
        sc->have_best = 1;
        sc->best_aicc = aicc;
        sc->best_tr = tr;
        sc->best_se = se;
        memcpy(sc->best_u, u, sizeof sc->best_u);
    }
    return aicc;
}

int fc__ets(const double *y, size_t n, const size_t *periods, size_t n_periods, size_t h,
            double *out) {
    if (!y || !out || h == 0) return FC_EINVAL;
    /* Values near the ends of the double range are fitted scaled by a power of two (exact),
     * so that squares and sums cannot overflow or underflow. */
    double amax = 0;
    for (size_t t = 0; t < n; t++)
        if (!missing(y[t])) amax = fmax(amax, fabs(y[t]));
    if (amax > 0x1p100 || (amax > 0 && amax < 0x1p-100)) {
        int ex;
        frexp(amax, &ex);
        double *ys = malloc(n * sizeof *ys);
        if (!ys) return FC_ENOMEM;
        for (size_t t = 0; t < n; t++) ys[t] = ldexp(y[t], -ex);
        int rc = fc__ets(ys, n, periods, n_periods, h, out);
        free(ys);
        if (rc) return rc;
        double lastv = NAN;
        for (size_t t = n; t-- > 0 && isnan(lastv);)
            if (!missing(y[t])) lastv = y[t];
        for (size_t k = 0; k < h; k++) {
            double f = ldexp(out[k], ex);
            out[k] = isfinite(f) ? f : lastv;
        }
        return 0;
    }
    size_t f0 = 0;
    while (f0 < n && missing(y[f0])) f0++;
    const double *yy = y + f0;
    size_t len = n - f0, n_f = 0;
    double lo = INFINITY, hi = -INFINITY, sum = 0, last = NAN;
    for (size_t t = 0; t < len; t++) {
        if (missing(yy[t])) continue;
        n_f++; sum += yy[t]; last = yy[t];
        lo = fmin(lo, yy[t]); hi = fmax(hi, yy[t]);
    }
    if (n_f < 4) return FC_EINVAL;
    double mean = sum / (double)n_f;
    double scale = (hi - lo) + fabs(mean);
    if (!(scale > 0)) scale = 1.0; /* all zeros */

    size_t m = n_periods > 0 ? periods[0] : 0;
    int seasonal = m >= 2 && len >= 2 * m;
    int positive = lo > 0;

    /* Seasonal initialisation window w = K seasons, and the part of the series the variants
     * are compared on: [from, len) when at least one season lies after the window. */
    double *mem = NULL;
    size_t w = 0, from = 0;
    if (seasonal) {
        size_t k = len / m;
        if (k >= 3) k--; /* keep a season after the window */
        if (k > INIT_SEASONS) k = INIT_SEASONS;
        w = k * m;
        if (len >= w + m) from = w;
        /* s0 A, s0 M, the ring, decomposition scratch (2 (w + 1) + m) */
        mem = malloc((4 * m + 2 * (w + 1)) * sizeof *mem);
        if (!mem) return FC_ENOMEM;
    }
    double *s0a = mem, *s0m = mem ? mem + m : NULL, *ring = mem ? mem + 2 * m : NULL;
    double *scr = mem ? mem + 3 * m : NULL;
    size_t n_sel = 0; /* finite points compared on */
    for (size_t t = from; t < len; t++) n_sel += !missing(yy[t]);

    /* Initial states per season type. */
    double lmean[3], l0[3], b0[3];
    init_level(yy, len, 1, SE_N, NULL, &lmean[SE_N], &l0[SE_N], &b0[SE_N]);
    if (seasonal) {
        decompose(yy, w, m, 0, scr, s0a);
        init_level(yy, len, m, SE_A, s0a, &lmean[SE_A], &l0[SE_A], &b0[SE_A]);
        if (positive) {
            decompose(yy, w, m, 1, scr, s0m);
            init_level(yy, len, m, SE_M, s0m, &lmean[SE_M], &l0[SE_M], &b0[SE_M]);
        }
    }

    sel_ctx sc = {.y = yy, .len = len, .m = m, .from = from, .n_f = n_f,
                  .nf = (double)n_sel, .big = 1e3 * scale, .lp_min = 1e-9 * scale,
                  .s0 = {NULL, s0a, s0m}, .ring = ring, .best_aicc = INFINITY};
    sc.sse_floor = sc.nf * (1e-10 * scale) * (1e-10 * scale);
    memcpy(sc.lmean, lmean, sizeof lmean);
    memcpy(sc.l0, l0, sizeof l0);
    memcpy(sc.b0, b0, sizeof b0);
    /* Stage 1: the season type, with no trend. Start: alpha 0.2, beta/alpha 0.1,
     * gamma/(1 - alpha) 0.05, phi 0.95; M starts from A's optimum. */
    double u0[4] = {logit((0.2 - A_LO) / (A_HI - A_LO)), logit(0.1), logit(0.05),
                    logit((0.95 - PHI_LO) / (PHI_HI - PHI_LO))};
    double u[3][4];
    double aicc_se[3] = {INFINITY, INFINITY, INFINITY};
    for (int se = SE_N; se <= SE_M; se++) {
        memcpy(u[se], se == SE_M ? u[SE_A] : u0, sizeof u0);
        if (se != SE_N && !seasonal) break;
        if (se == SE_M && !positive) break;
        aicc_se[se] = try_variant(&sc, TR_N, se, u[se]);
    }
    int se1 = SE_N;
    for (int se = SE_A; se <= SE_M; se++)
        if (aicc_se[se] < aicc_se[se1]) se1 = se;
    /* Stage 2: additive, then damped trend with that season type. */
    double ut[4];
    memcpy(ut, u[se1], sizeof ut);
    try_variant(&sc, TR_A, se1, ut);
    try_variant(&sc, TR_AD, se1, ut);
    int best_tr = sc.best_tr, best_se = sc.best_se, have_best = sc.have_best;
    double best_u[4];
    memcpy(best_u, sc.best_u, sizeof best_u);

    /* Final pass with the chosen variant: its last state gives the forecast. */
    run_state st = {last, 0, 0};
    par p = decode(best_u, best_tr, best_se);
    if (have_best) {
        size_t mm = best_se == SE_N ? 1 : m;
        fit_ctx c = {.y = yy, .n = len, .m = mm, .trend = best_tr, .season = best_se,
                     .l0 = best_tr == TR_N ? lmean[best_se] : l0[best_se], .b0 = b0[best_se],
                     .s0 = best_se == SE_A ? s0a : best_se == SE_M ? s0m : NULL, .s = ring,
                     .big = 1e3 * scale, .lp_min = 1e-9 * scale};
        if (!isfinite(ets_pass(&c, &p, INFINITY, 0, &st, NULL))) have_best = 0;
    }
    if (!have_best) { /* every variant diverged: the last value */
        st.lp = last; st.pb = 0;
        best_se = SE_N; best_tr = TR_N;
    }
    /* k steps ahead: l + (phi + ... + phi^k) b = lp + pb (1 + phi + ... + phi^(k-2)) */
    double damp = 0, pk = 1;
    for (size_t k = 0; k < h; k++) {
        if (k > 0) {
            if (best_tr == TR_A) damp += 1.0;
            else if (best_tr == TR_AD) { damp += pk; pk *= p.phi; }
        }
        double f = st.lp + damp * st.pb;
        if (best_se != SE_N) {
            double s = ring[(st.j + k) % m];
            f = best_se == SE_A ? f + s : f * s;
        }
        out[k] = isfinite(f) ? f : last;
    }
    free(mem);
    return FC_OK;
}
