/* forecast/seasonal.c: "seasonal", a Prophet-style additive regression fitted by direct
 * linear algebra (no sampler, no optimiser library).
 *
 * Model, on the finite points of y (NaN/Inf = gap, skipped), with time s = (i - i0) / (i1 - i0)
 * scaled to [0, 1] over the first..last finite index and y standardised to z = (y - mean) / sd:
 *   z(i) = a + b s + sum_j d_j (s - c_j)+ + sum_j g_j [s >= c_j]          trend
 *        + sum_q sum_{k<=K_q} (u_qk cos(2 pi k i / P_q) + v_qk sin(2 pi k i / P_q))  seasons
 *        + noise.
 * 1. Periods: each P in periods[] (steps) with P >= 3 and at least 1.5 cycles between the
 *    first and last finite point is used (at most FC_MAX_PERIODS); K_q <= min(10, (P-1)/2).
 *    (1.5, not 2: two weeks of data minus a few missing points must keep the weekly season;
 *    without it the changepoints chase the weekly swing and the slope extrapolates it.)
 *    A harmonic whose frequency k/P equals one of a shorter period (weekly k=7 = daily k=1) is
 *    left to the shorter period. All Fourier columns together are capped at m/4 (m = finite
 *    points), dropping the highest harmonics of the longest period first.
 * 2. Changepoints: 25 slope changes (hinges (s - c)+) at evenly spaced ranks of the finite
 *    points over the first 80% of them, and 25 level steps [s >= c] over the first 98% (but
 *    leaving >= 12 points after the last; m/20 of each when m < 500). Their coefficients carry
 *    an L1 penalty lambda_j |coef_j|, solved as an iteratively reweighted ridge
 *    (lambda_j / (2 |coef_j| + eps) on coef_j^2), lambda_j = 2 * 3 * sigma * sqrt(v a_j):
 *    a_j is the column's weighted sum of squares after projecting out the line [1, s], sigma
 *    the robust residual scale and v = (1 + rho) / (1 - rho) the long-run variance factor of
 *    the residuals' lag-1 autocorrelation rho (clipped to [0, 0.9]), so a change survives only
 *    when its partial t-statistic exceeds about 3 (autocorrelated noise does not fake shifts).
 *    The first pass uses the ridge a_j instead. After pass 3 each step with |coef| > sigma/4
 *    moves to the row between its neighbouring steps that best splits the partial residuals
 *    into two means, so a deploy between grid points is matched exactly. A step whose
 *    residual offset recurs one period earlier (same sign, >= half) is a seasonal misfit
 *    (a square weekend rounded off by the harmonics), not a shift, and is frozen at 0.
 * 3. Robustness: iteratively reweighted least squares with Huber weights w = min(1, 2 sigma /
 *    |r|), sigma = 1.4826 * median |r| of the previous pass (c = 2: ~99% Gaussian efficiency,
 *    a 50-sigma spike still gets w = 0.04). Weights are updated after passes 0-3 and 5.
 * 4. Each of the 8 passes solves (X'WX + Pen) beta = X'Wz with fc__solve_spd (Cholesky); the
 *    loop ends early once the coefficients settle. X'WX is never formed from X: the moments of
 *    the base row [1, s, Fourier..., z] (a p x p Gram, p <= 63) and its sums weighted by 1
 *    and s per segment between knots give every entry, since a hinge is (s - c) and a step 1
 *    on the suffix i >= knot (suffix sums). The Fourier x Fourier block is taken in closed form
 *    over the whole grid i0..i1 (Dirichlet sums, exact integer phases), minus the gap rows.
 *    Moments are linear in the weights, so a reweighting adds only the rows whose weight
 *    moved by more than 0.02. Cost: O(n p) + O(gaps p^2) + O(k^3) per pass, k = 2 + 50 +
 *    Fourier columns.
 * 5. Order selection (pass 5, once trend and weights have settled with every harmonic in):
 *    for each period in turn, with the others at their current order, the columns are ordered
 *    [trend, other seasons, this season by harmonic]; one Cholesky factor L of that system
 *    gives the penalised residual sum of squares of every prefix (RSS = z'Wz - |first rows of
 *    L^-1 X'Wz|^2), and K_q minimises BIC = m log(RSS / m) + 2 K_q log m (K_q = 0 drops it).
 * 6. Forecast: the fitted model at i = n .. n+h-1. The trend continues the last segment's line
 *    (every knot lies inside the history) undamped, as in Prophet: hinges stop at 80% of the
 *    points, so the final slope rests on at least the last 20% of the history. Seasons repeat.
 * Returns FC_EINVAL with fewer than 12 finite points (three times the 4 parameters of the
 * smallest variant: a line and one Fourier pair) or when the system cannot be solved; a
 * constant series forecasts its constant. Outputs are always finite on success.
 */
#include "forecast/forecast_int.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HARM 10                           /* harmonics per period */
#define MAX_SLOTS (FC_MAX_PERIODS * MAX_HARM) /* Fourier harmonics in all */
#define N_HINGE 25
#define N_STEP 25
#define MAX_KNOTS (N_HINGE + N_STEP)
#define HINGE_FRAC 0.80
#define STEP_FRAC 0.98   /* but the last step leaves >= STEP_TAIL points */
#define STEP_TAIL 12
#define MIN_POINTS 12
#define HUBER_C 2.0
#define W_MOVE 0.02   /* a weight change below this is not applied */
#define TAU 3.0       /* partial t-statistic a changepoint must beat */
#define N_PASSES 8
#define N_HUBER 4     /* Huber reweighting after passes 0 .. N_HUBER-1 and SELECT_PASS */
#define SELECT_PASS 5 /* order selection happens before this pass's solve */

enum { COL_BASE, COL_HINGE, COL_STEP };
/* moments: B but its Fourier x Fourier block; that block; the segment sums T and S */
enum { PART_LIN = 1, PART_FF = 2, PART_SEG = 4 };

typedef struct col {
    int type;   /* COL_* */
    size_t idx; /* base column (COL_BASE) or knot index */
} col;

typedef struct sfit {
    const double *y;
    size_t n, i0, i1, m;   /* m finite points in y[i0..i1] */
    double inv_span, mu, sd;
    size_t nper, per[FC_MAX_PERIODS];
    const double *feat[FC_MAX_PERIODS]; /* per phase: cos, sin of each slot of the period */
    size_t nslot, slot_q[MAX_SLOTS], slot_k[MAX_SLOTS]; /* grouped by period, k ascending */
    size_t nslot_q[FC_MAX_PERIODS], first_slot[FC_MAX_PERIODS], kq[FC_MAX_PERIODS];
    size_t p;              /* base row: 1, s, cos/sin per slot, z */
    size_t nk, kg[MAX_KNOTS];
    double kc[MAX_KNOTS];  /* knot row index and its s */
    size_t ntc;
    col tc[MAX_KNOTS];     /* trend change columns */
    unsigned char frozen[MAX_KNOTS]; /* step judged a seasonal misfit: held at 0 */
    double *B;             /* p x p, upper triangle: sum w x x' */
    double *T0, *T1;       /* nk x p: sum w x, sum w s x over rows of segment [kg_j, kg_j+1) */
    double *S0, *S1;       /* nk x p: suffix sums of T0, T1 (rows >= kg_j) */
    double *xb;            /* 4 x p row buffer */
} sfit;

/* Base row of grid index i; ph[q] = i mod per[q]. */
static void base_row(const sfit *f, size_t i, const size_t *ph, double *x) {
    x[0] = 1.0;
    x[1] = ((double)i - (double)f->i0) * f->inv_span;
    for (size_t q = 0; q < f->nper; q++) {
        size_t w = 2 * f->nslot_q[q];
        memcpy(x + 2 + 2 * f->first_slot[q], f->feat[q] + ph[q] * w, w * sizeof(double));
    }
    x[f->p - 1] = i < f->n && isfinite(f->y[i]) ? (f->y[i] - f->mu) / f->sd : 0.0;
}

static void phases_at(const sfit *f, size_t i, size_t *ph) {
    for (size_t q = 0; q < f->nper; q++) ph[q] = i % f->per[q];
}

static void phases_next(const sfit *f, size_t *ph) {
    for (size_t q = 0; q < f->nper; q++)
        if (++ph[q] == f->per[q]) ph[q] = 0;
}

/* B += sum_r w[r] x_r x_r' over the 4 rows of xb, upper triangle, entries of `parts`. */
static void rank4(double *B, const double *xb, const double *w, size_t p, int parts) {
    const double *x0 = xb, *x1 = xb + p, *x2 = xb + 2 * p, *x3 = xb + 3 * p;
    for (size_t a = 0; a < p; a++) {
        double u0 = w[0] * x0[a], u1 = w[1] * x1[a], u2 = w[2] * x2[a], u3 = w[3] * x3[a];
        double *Ba = B + a * p;
        size_t lo = a, hi = p; /* b in [lo, hi) */
        if (a >= 2 && a + 1 < p) { /* Fourier row: FF part [a, p-1), LIN part the z column */
            if (!(parts & PART_FF)) lo = p - 1;
            if (!(parts & PART_LIN)) hi = p - 1;
        } else if (!(parts & PART_LIN)) {
            continue;
        }
        for (size_t b = lo; b < hi; b++) Ba[b] += u0 * x0[b] + u1 * x1[b] + u2 * x2[b] + u3 * x3[b];
    }
}

/* Add the moments (`parts`) of the rows i in [i0, i1] with d[i] != 0, weighted by d[i].
 * PART_SEG adds to the segment sums T0, T1 and rebuilds the suffix sums S0, S1. */
static void accum(sfit *f, const double *d, int parts) {
    size_t p = f->p, nb = 0, seg = 0, ph[FC_MAX_PERIODS];
    double wb[4];
    phases_at(f, f->i0, ph);
    for (size_t i = f->i0; i <= f->i1; i++, phases_next(f, ph)) {
        if (d[i] == 0) continue;
        while (seg < f->nk && f->kg[seg] <= i) seg++;
        double *x = f->xb + nb * p;
        base_row(f, i, ph, x);
        wb[nb] = d[i];
        if (seg > 0 && (parts & PART_SEG)) {
            double *t0 = f->T0 + (seg - 1) * p, *t1 = f->T1 + (seg - 1) * p;
            double ws = d[i] * x[1];
            for (size_t a = 0; a < p; a++) {
                t0[a] += d[i] * x[a];
                t1[a] += ws * x[a];
            }
        }
        if ((parts & (PART_LIN | PART_FF)) && ++nb == 4) {
            rank4(f->B, f->xb, wb, p, parts);
            nb = 0;
        }
    }
    if (nb && (parts & (PART_LIN | PART_FF))) {
        for (size_t r = nb; r < 4; r++) {
            memset(f->xb + r * p, 0, p * sizeof(double));
            wb[r] = 0;
        }
        rank4(f->B, f->xb, wb, p, parts);
    }
    if (!(parts & PART_SEG)) return;
    for (size_t j = f->nk; j-- > 0;) {
        for (size_t a = 0; a < p; a++) {
            f->S0[j * p + a] = f->T0[j * p + a] + (j + 1 < f->nk ? f->S0[(j + 1) * p + a] : 0);
            f->S1[j * p + a] = f->T1[j * p + a] + (j + 1 < f->nk ? f->S1[(j + 1) * p + a] : 0);
        }
    }
}

/* sum_{i=i0..i1} cos and sin of 2 pi (num/den) i, num/den in (-1, 1), by the Dirichlet
 * kernel: sum = D e^(j w mid), D = sin(N w/2) / sin(w/2); phases reduced exactly in integers. */
static void dirichlet(int64_t num, int64_t den, size_t i0, size_t i1, double *C, double *S) {
    uint64_t N = (uint64_t)(i1 - i0 + 1);
    if (num == 0) {
        *C = (double)N;
        *S = 0;
        return;
    }
    double sgn = num < 0 ? -1.0 : 1.0;
    uint64_t a = (uint64_t)(num < 0 ? -num : num), d2 = 2 * (uint64_t)den;
    double half = M_PI * (double)a / (double)den;                         /* w/2 */
    double nhalf = M_PI * (double)((a * (N % d2)) % d2) / (double)den;     /* N w/2 */
    double mid = M_PI * (double)((a * ((uint64_t)(i0 + i1) % d2)) % d2) / (double)den; /* w mid */
    double D = sin(nhalf) / sin(half);
    *C = D * cos(mid);
    *S = sgn * D * sin(mid);
}

/* The Fourier x Fourier block of B for weight 1 on every grid row i0..i1. */
static void ff_closed(sfit *f) {
    size_t p = f->p;
    for (size_t s = 0; s < f->nslot; s++) {
        int64_t Ps = (int64_t)f->per[f->slot_q[s]], ks = (int64_t)f->slot_k[s];
        for (size_t t = s; t < f->nslot; t++) {
            int64_t Pt = (int64_t)f->per[f->slot_q[t]], kt = (int64_t)f->slot_k[t];
            double Cd, Sd, Cs, Ss; /* frequency difference and sum */
            dirichlet(ks * Pt - kt * Ps, Ps * Pt, f->i0, f->i1, &Cd, &Sd);
            dirichlet(ks * Pt + kt * Ps, Ps * Pt, f->i0, f->i1, &Cs, &Ss);
            size_t cs = 2 + 2 * s, ct = 2 + 2 * t;
            f->B[cs * p + ct] = 0.5 * (Cd + Cs);                   /* cos_s cos_t */
            f->B[(cs + 1) * p + ct + 1] = 0.5 * (Cd - Cs);         /* sin_s sin_t */
            f->B[cs * p + ct + 1] = 0.5 * (Ss - Sd);               /* cos_s sin_t */
            if (t > s) f->B[(cs + 1) * p + ct] = 0.5 * (Ss + Sd);  /* sin_s cos_t */
        }
    }
}

/* sum_i w_i X_u(i) X_v(i) for design columns u, v (base column p-1 is z: gives X'Wz). */
static double gram(const sfit *f, col u, col v) {
    size_t p = f->p;
    if (u.type != COL_BASE && v.type == COL_BASE) {
        col t = u;
        u = v;
        v = t;
    }
    if (u.type == COL_BASE) {
        size_t a = u.idx;
        if (v.type == COL_BASE) return a <= v.idx ? f->B[a * p + v.idx] : f->B[v.idx * p + a];
        const double *s0 = f->S0 + v.idx * p, *s1 = f->S1 + v.idx * p;
        return v.type == COL_STEP ? s0[a] : s1[a] - f->kc[v.idx] * s0[a];
    }
    size_t mk = u.idx > v.idx ? u.idx : v.idx; /* the later knot bounds the common suffix */
    const double *s0 = f->S0 + mk * p, *s1 = f->S1 + mk * p;
    double cu = f->kc[u.idx], cv = f->kc[v.idx];
    if (u.type == COL_STEP && v.type == COL_STEP) return s0[0];
    if (u.type == COL_STEP) return s0[1] - cv * s0[0];
    if (v.type == COL_STEP) return s0[1] - cu * s0[0];
    return s1[1] - (cu + cv) * s0[1] + cu * cv * s0[0];
}

/* Fill G (k x k, full) and rhs, add pen[] to the trend-change diagonal (design columns
 * 2 .. 2+ntc), solve. OUT: beta[0..k), G = Cholesky factor. */
static int solve(const sfit *f, const col *cols, size_t k, const double *pen, double *G,
                 double *beta) {
    col zc = {COL_BASE, f->p - 1};
    double ridge = 1e-10 * f->B[0]; /* B[0] = sum of weights */
    for (int attempt = 0; attempt < 2; attempt++) {
        for (size_t a = 0; a < k; a++) {
            for (size_t b = 0; b <= a; b++) G[a * k + b] = G[b * k + a] = gram(f, cols[a], cols[b]);
            beta[a] = gram(f, cols[a], zc);
        }
        for (size_t j = 0; j < f->ntc; j++) G[(2 + j) * k + 2 + j] += pen[j];
        if (fc__solve_spd(G, beta, k, ridge) == 0) return 0;
        ridge = 1e-6 * f->B[0];
    }
    return FC_EINVAL;
}

/* Design columns: line, trend changes, then the first kq[q] harmonics of every period but
 * `last`, then all harmonics of `last` (when last < nper). OUT: cols; returns k. */
static size_t design(const sfit *f, size_t last, col *cols) {
    size_t k = 0;
    cols[k++] = (col){COL_BASE, 0};
    cols[k++] = (col){COL_BASE, 1};
    for (size_t j = 0; j < f->ntc; j++) cols[k++] = f->tc[j];
    for (size_t q = 0; q < f->nper; q++) {
        if (q == last) continue;
        for (size_t j = 0; j < f->kq[q]; j++) {
            size_t s = f->first_slot[q] + j;
            cols[k++] = (col){COL_BASE, 2 + 2 * s};
            cols[k++] = (col){COL_BASE, 3 + 2 * s};
        }
    }
    if (last < f->nper) {
        for (size_t j = 0; j < f->nslot_q[last]; j++) {
            size_t s = f->first_slot[last] + j;
            cols[k++] = (col){COL_BASE, 2 + 2 * s};
            cols[k++] = (col){COL_BASE, 3 + 2 * s};
        }
    }
    return k;
}

/* Choose kq[q] for each period by BIC over prefixes of one factorisation (file comment, 5). */
static void select_orders(sfit *f, const double *pen, col *cols, double *G, double *beta,
                          double *z) {
    double m = (double)f->m, zwz = f->B[(f->p - 1) * f->p + f->p - 1];
    for (size_t q = 0; q < f->nper; q++) {
        size_t k = design(f, q, cols);
        if (solve(f, cols, k, pen, G, beta)) continue;
        for (size_t i = 0; i < k; i++) { /* z = L' beta = L^-1 X'Wz */
            double s = 0;
            for (size_t l = i; l < k; l++) s += G[l * k + i] * beta[l];
            z[i] = s;
        }
        size_t k0 = k - 2 * f->nslot_q[q];
        double rss = zwz;
        for (size_t i = 0; i < k0; i++) rss -= z[i] * z[i];
        double best = HUGE_VAL;
        for (size_t K = 0; K <= f->nslot_q[q]; K++) {
            if (K) rss -= z[k0 + 2 * K - 2] * z[k0 + 2 * K - 2] + z[k0 + 2 * K - 1] * z[k0 + 2 * K - 1];
            double crit = m * log(fmax(rss, 1e-12 * zwz + 1e-300) / m) + 2.0 * (double)K * log(m);
            if (crit < best) {
                best = crit;
                f->kq[q] = K;
            }
        }
    }
}

/* Per-knot change of the trend line from the trend coefficients beta[2..2+ntc). */
static void knot_deltas(const sfit *f, const double *beta, double *dlev, double *dslope) {
    for (size_t j = 0; j < f->nk; j++) dlev[j] = dslope[j] = 0;
    for (size_t j = 0; j < f->ntc; j++) {
        size_t kn = f->tc[j].idx;
        if (f->tc[j].type == COL_STEP) {
            dlev[kn] += beta[2 + j];
        } else {
            dslope[kn] += beta[2 + j];
            dlev[kn] -= beta[2 + j] * f->kc[kn];
        }
    }
}

/* Fitted z at grid rows lo..hi-1 (ascending): trend line updated at each knot, plus one
 * table lookup per period (the season, tabulated per phase from the coefficients bf[] of
 * the base columns). OUT: out[i - lo]; with resid, r[i] = z_i - fit for finite y[i]. */
static void evaluate(const sfit *f, const double *beta, const double *bf, const double *dlev,
                     const double *dslope, double *seas, size_t lo, size_t hi, int resid,
                     double *out) {
    const double *tab[FC_MAX_PERIODS];
    for (size_t q = 0; q < f->nper; q++) {
        size_t w = 2 * f->nslot_q[q];
        const double *c = bf + 2 + 2 * f->first_slot[q];
        for (size_t ph = 0; ph < f->per[q]; ph++) {
            const double *x = f->feat[q] + ph * w;
            double v = 0;
            for (size_t a = 0; a < w; a++) v += c[a] * x[a];
            seas[ph] = v;
        }
        tab[q] = seas;
        seas += f->per[q];
    }
    double ta = beta[0], tb = beta[1];
    size_t kp = 0, ph[FC_MAX_PERIODS];
    phases_at(f, lo, ph);
    for (size_t i = lo; i < hi; i++, phases_next(f, ph)) {
        while (kp < f->nk && f->kg[kp] <= i) {
            ta += dlev[kp];
            tb += dslope[kp];
            kp++;
        }
        if (resid && !isfinite(f->y[i])) continue;
        double v = ta + tb * (((double)i - (double)f->i0) * f->inv_span);
        for (size_t q = 0; q < f->nper; q++) v += tab[q][ph[q]];
        if (resid) out[i] = (f->y[i] - f->mu) / f->sd - v;
        else out[i - lo] = v;
    }
}

/* Move each clear level step (|coef| > sigma / 4) to the row between its neighbouring steps
 * that best splits the partial residuals e = r + coef [i >= knot] into two weighted means
 * (the deploy need not sit on the grid), then restore the knot order. Returns how many moved. */
static size_t refine_steps(sfit *f, const double *beta, const double *r, const double *w,
                           double sigma, size_t g_tail) {
    size_t moved = 0, prev = f->i0;
    for (size_t j = 0; j < f->ntc; j++) {
        if (f->tc[j].type != COL_STEP) continue;
        size_t kn = f->tc[j].idx, g0 = f->kg[kn], next = g_tail + 1;
        for (size_t l = j + 1; l < f->ntc && next == g_tail + 1; l++)
            if (f->tc[l].type == COL_STEP) next = f->kg[f->tc[l].idx];
        double c = beta[2 + j];
        size_t lo = prev;
        prev = g0;
        if (!(fabs(c) > 0.25 * sigma)) continue;
        double sw = 0, swe = 0; /* window rows lo < i < next, split: i < g | i >= g */
        for (size_t i = lo + 1; i < next; i++)
            if (isfinite(f->y[i])) {
                sw += w[i];
                swe += w[i] * (r[i] + (i >= g0 ? c : 0));
            }
        double lw = 0, lwe = 0, best = -1;
        size_t gbest = g0;
        for (size_t i = lo + 1; i < next; i++) {
            if (!isfinite(f->y[i])) continue;
            if (lw > 0 && sw - lw > 0) { /* split before row i */
                double rw = sw - lw, rwe = swe - lwe, between = lwe * lwe / lw + rwe * rwe / rw;
                if (between > best) best = between, gbest = i;
            }
            lw += w[i];
            lwe += w[i] * (r[i] + (i >= g0 ? c : 0));
        }
        if (gbest != g0) {
            f->kg[kn] = gbest;
            f->kc[kn] = ((double)gbest - (double)f->i0) * f->inv_span;
            prev = gbest;
            moved++;
        }
    }
    if (!moved) return 0;
    size_t order[MAX_KNOTS], pos[MAX_KNOTS]; /* sort knots by row, remap the columns */
    for (size_t a = 0; a < f->nk; a++) order[a] = a;
    for (size_t a = 1; a < f->nk; a++)
        for (size_t b = a; b > 0 && f->kg[order[b - 1]] > f->kg[order[b]]; b--) {
            size_t t = order[b];
            order[b] = order[b - 1];
            order[b - 1] = t;
        }
    size_t kg[MAX_KNOTS];
    double kc[MAX_KNOTS];
    for (size_t a = 0; a < f->nk; a++) {
        kg[a] = f->kg[order[a]];
        kc[a] = f->kc[order[a]];
        pos[order[a]] = a;
    }
    memcpy(f->kg, kg, sizeof kg);
    memcpy(f->kc, kc, sizeof kc);
    for (size_t j = 0; j < f->ntc; j++) f->tc[j].idx = pos[f->tc[j].idx];
    return moved;
}

/* A step whose partial residuals e = r + coef on the rows after it (at most one period)
 * recur one period P earlier (same sign, at least half the mean) is a misfit of the season
 * (e.g. a square weekend the harmonics round off), not a level shift: freeze it at 0. */
static void freeze_seasonal_steps(sfit *f, const double *beta, const double *r, double sigma) {
    for (size_t j = 0; j < f->ntc; j++) {
        double c = beta[2 + j];
        if (f->tc[j].type != COL_STEP || f->frozen[j] || !(fabs(c) > 0.25 * sigma)) continue;
        size_t g = f->kg[f->tc[j].idx];
        for (size_t q = 0; q < f->nper && !f->frozen[j]; q++) {
            size_t P = f->per[q];
            if (g < f->i0 + P) continue;
            double st = 0, se = 0;
            size_t nt = 0, ne = 0;
            for (size_t i = g; i <= f->i1 && i < g + P; i++) {
                if (isfinite(f->y[i])) st += r[i] + c, nt++;
                if (isfinite(f->y[i - P])) se += r[i - P], ne++;
            }
            if (!nt || !ne) continue;
            double mt = st / (double)nt, me = se / (double)ne;
            if (mt * me > 0 && fabs(me) >= 0.5 * fabs(mt)) f->frozen[j] = 1;
        }
    }
}

static double kth_smallest(double *a, size_t n, size_t k) { /* quickselect, a reordered */
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double piv = a[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < piv) i++;
            while (a[j] > piv) j--;
            if (i <= j) {
                double t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return a[k];
    }
    return a[k];
}

/* Place `cnt` knots at evenly spaced ranks of the finite points over the first `frac`. */
static size_t place_knots(const double *y, size_t i0, size_t i1, size_t m, size_t cnt,
                          double frac, size_t *g) {
    size_t rank = 0, j = 1, out = 0;
    size_t want = cnt ? (size_t)floor(frac * (double)(m - 1) / (double)cnt + 0.5) : 0;
    for (size_t i = i0; i <= i1 && j <= cnt; i++) {
        if (!isfinite(y[i])) continue;
        if (rank == want) {
            if (rank > 0 && (out == 0 || g[out - 1] != i)) g[out++] = i;
            j++;
            want = (size_t)floor((double)j * frac * (double)(m - 1) / (double)cnt + 0.5);
        }
        rank++;
    }
    return out;
}

int fc__seasonal(const double *y, size_t n, const size_t *periods, size_t n_periods, size_t h,
                 double *out) {
    if (!y || (h && !out) || (n_periods && !periods)) return FC_EINVAL;
    sfit F;
    memset(&F, 0, sizeof F);
    sfit *f = &F;
    f->y = y;
    f->n = n;
    size_t m = 0, i0 = 0, i1 = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i])) continue;
        if (!m) i0 = i;
        i1 = i;
        m++;
        sum += y[i];
    }
    if (m < MIN_POINTS) return FC_EINVAL;
    double mu = sum / (double)m, ss = 0;
    for (size_t i = i0; i <= i1; i++)
        if (isfinite(y[i])) ss += (y[i] - mu) * (y[i] - mu);
    double sd = sqrt(ss / (double)m);
    if (!isfinite(mu) || !isfinite(sd)) return FC_EINVAL;
    if (sd == 0 || sd <= 1e-13 * fabs(mu)) { /* constant (to rounding) */
        for (size_t j = 0; j < h; j++) out[j] = mu;
        return FC_OK;
    }
    f->m = m;
    f->i0 = i0;
    f->i1 = i1;
    f->mu = mu;
    f->sd = sd;
    f->inv_span = 1.0 / (double)(i1 - i0);
    size_t span = i1 - i0 + 1;

    /* 1. periods: usable ones, ascending, then harmonic slots without repeated frequencies */
    size_t per[FC_MAX_PERIODS], np = 0;
    for (size_t q = 0; q < n_periods && np < FC_MAX_PERIODS; q++) {
        size_t P = periods[q];
        if (P < 3 || 2 * span < 3 * P) continue; /* 1.5 cycles */
        int dup = 0;
        for (size_t r = 0; r < np; r++) dup |= per[r] == P;
        if (!dup) per[np++] = P;
    }
    for (size_t a = 1; a < np; a++) /* insertion sort, ascending */
        for (size_t b = a; b > 0 && per[b - 1] > per[b]; b--) {
            size_t t = per[b];
            per[b] = per[b - 1];
            per[b - 1] = t;
        }
    size_t budget = m / 8; /* Fourier pairs: m/4 columns */
    for (size_t q = 0; q < np; q++) {
        size_t P = per[q], hmax = (P - 1) / 2, q2 = f->nper;
        if (hmax > MAX_HARM) hmax = MAX_HARM;
        f->first_slot[q2] = f->nslot;
        for (size_t k = 1; k <= hmax && f->nslot < budget; k++) {
            int dup = 0; /* k/P == k'/P' for a slot k' of a shorter period */
            for (size_t s = 0; s < f->nslot; s++)
                dup |= k * f->per[f->slot_q[s]] == f->slot_k[s] * P;
            if (dup) continue;
            f->slot_q[f->nslot] = q2;
            f->slot_k[f->nslot] = k;
            f->nslot++;
            f->nslot_q[q2]++;
        }
        if (f->nslot_q[q2]) {
            f->per[q2] = P;
            f->kq[q2] = f->nslot_q[q2];
            f->nper++;
        }
    }
    f->p = 3 + 2 * f->nslot;

    /* 2. knots: hinge and step candidates, merged into one sorted list */
    size_t cnt = m / 20;
    if (cnt > N_HINGE) cnt = N_HINGE;
    size_t gh[N_HINGE], gs[N_STEP];
    size_t nh = place_knots(y, i0, i1, m, cnt, HINGE_FRAC, gh);
    double sfrac = fmin(STEP_FRAC, 1.0 - (double)STEP_TAIL / (double)m);
    size_t ns = place_knots(y, i0, i1, m, cnt < N_STEP ? cnt : N_STEP, sfrac, gs);
    for (size_t a = 0, b = 0; a < nh || b < ns; f->nk++, f->ntc++) { /* one knot a column */
        int hinge = b >= ns || (a < nh && gh[a] <= gs[b]);
        size_t g = hinge ? gh[a++] : gs[b++];
        f->tc[f->ntc] = (col){hinge ? COL_HINGE : COL_STEP, f->nk};
        f->kg[f->nk] = g;
        f->kc[f->nk] = ((double)g - (double)i0) * f->inv_span;
    }
    size_t g_tail = i1; /* steps may move up to the row leaving STEP_TAIL finite rows after */
    for (size_t i = i1, left = 0; i > i0 && left < STEP_TAIL; i--)
        if (isfinite(y[i])) g_tail = i, left++;

    /* scratch: one block of doubles, one of column descriptors */
    size_t p = f->p, kmax = 2 + f->ntc + 2 * f->nslot, nk1 = f->nk ? f->nk : 1;
    size_t nfeat = 0, nseas = 0;
    for (size_t q = 0; q < f->nper; q++) {
        nfeat += f->per[q] * 2 * f->nslot_q[q];
        nseas += f->per[q];
    }
    size_t total = p * p + 4 * nk1 * p + 4 * p + kmax * kmax + 3 * kmax + 4 * n + m + p +
                   2 * nk1 + 3 * f->ntc + nfeat + nseas + 1;
    double *mem = calloc(total, sizeof(double));
    col *cols = malloc(kmax * sizeof(col));
    int rc = FC_OK;
    if (!mem || !cols) {
        rc = FC_ENOMEM;
        goto done;
    }
    double *cur = mem;
    f->B = cur, cur += p * p;
    f->T0 = cur, cur += nk1 * p;
    f->T1 = cur, cur += nk1 * p;
    f->S0 = cur, cur += nk1 * p;
    f->S1 = cur, cur += nk1 * p;
    f->xb = cur, cur += 4 * p;
    double *G = cur;
    cur += kmax * kmax;
    double *beta = cur, *bprev = cur + kmax, *zv = cur + 2 * kmax;
    cur += 3 * kmax;
    double *w = cur, *d = cur + n, *r = cur + 2 * n, *gap = cur + 3 * n;
    cur += 4 * n;
    double *absr = cur;
    cur += m;
    double *bf = cur; /* coefficient per base column */
    cur += p;
    double *dlev = cur, *dslope = cur + nk1;
    cur += 2 * nk1;
    double *pen = cur, *lam = cur + f->ntc, *eps = cur + 2 * f->ntc;
    cur += 3 * f->ntc;
    double *seas = cur;
    cur += nseas;
    for (size_t q = 0; q < f->nper; q++) { /* feature tables: harmonics by angle addition */
        size_t P = f->per[q], wq = 2 * f->nslot_q[q];
        double hc[MAX_HARM + 1], hs[MAX_HARM + 1];
        for (size_t ph = 0; ph < P; ph++) {
            double ang = 2.0 * M_PI * (double)ph / (double)P;
            hc[1] = cos(ang);
            hs[1] = sin(ang);
            size_t ktop = f->slot_k[f->first_slot[q] + f->nslot_q[q] - 1];
            for (size_t k = 2; k <= ktop; k++) {
                hc[k] = hc[k - 1] * hc[1] - hs[k - 1] * hs[1];
                hs[k] = hs[k - 1] * hc[1] + hc[k - 1] * hs[1];
            }
            for (size_t j = 0; j < f->nslot_q[q]; j++) {
                size_t k = f->slot_k[f->first_slot[q] + j];
                cur[ph * wq + 2 * j] = hc[k];
                cur[ph * wq + 2 * j + 1] = hs[k];
            }
        }
        f->feat[q] = cur;
        cur += P * wq;
    }

    /* moments at weight 1: all but Fourier x Fourier from the finite rows, that block in
     * closed form over the grid minus the gap rows */
    for (size_t i = i0; i <= i1; i++) {
        w[i] = isfinite(y[i]) ? 1.0 : 0.0;
        gap[i] = w[i] - 1.0;
    }
    accum(f, w, PART_LIN | PART_SEG);
    if (f->nslot) {
        ff_closed(f);
        if (m < span) accum(f, gap, PART_FF);
    }

    size_t k = 0;
    double sigma = 1.0, lrv = 1.0; /* robust residual scale; long-run variance factor */
    for (int pass = 0; pass < N_PASSES; pass++) {
        /* penalties of the trend changes (file comment, 2) */
        double b00 = f->B[0], b01 = f->B[1], b11 = f->B[p + 1], det = b00 * b11 - b01 * b01;
        for (size_t j = 0; j < f->ntc; j++) {
            col cj = f->tc[j];
            double g0 = gram(f, cj, (col){COL_BASE, 0}), g1 = gram(f, cj, (col){COL_BASE, 1});
            double a = gram(f, cj, cj);
            if (det > 0) a -= (b11 * g0 * g0 - 2 * b01 * g0 * g1 + b00 * g1 * g1) / det;
            a = fmax(a, 1e-12 * b00);
            lam[j] = 2.0 * TAU * sigma * sqrt(lrv * a);
            eps[j] = 1e-4 * sigma / sqrt(a);
            pen[j] = pass == 0 ? a : lam[j] / (2.0 * fabs(bprev[2 + j]) + eps[j]);
            if (f->frozen[j]) pen[j] = 1e8 * a;
        }
        if (pass == SELECT_PASS && f->nper) select_orders(f, pen, cols, G, beta, zv);
        size_t knew = design(f, f->nper, cols);
        if (solve(f, cols, knew, pen, G, beta)) {
            if (!k) {
                rc = FC_EINVAL;
                goto done;
            }
            break; /* keep the last good fit (bprev, bf) */
        }
        double change = knew == k ? 0 : HUGE_VAL;
        for (size_t j = 0; j < knew && change < HUGE_VAL; j++)
            change = fmax(change, fabs(beta[j] - bprev[j]));
        k = knew;
        memcpy(bprev, beta, k * sizeof(double));
        memset(bf, 0, p * sizeof(double));
        for (size_t j = 2 + f->ntc; j < k; j++) bf[cols[j].idx] = beta[j];
        if (pass > SELECT_PASS && change < 1e-6) break;
        if (pass >= N_HUBER && pass != SELECT_PASS) continue;

        /* residuals, robust scale, Huber reweighting (file comment, 3) */
        knot_deltas(f, bprev, dlev, dslope);
        evaluate(f, bprev, bf, dlev, dslope, seas, i0, i1 + 1, 1, r);
        size_t na = 0;
        for (size_t i = i0; i <= i1; i++)
            if (isfinite(y[i])) absr[na++] = fabs(r[i]);
        sigma = fmax(1.4826 * kth_smallest(absr, na, na / 2), 1e-8);
        freeze_seasonal_steps(f, bprev, r, sigma);
        double c0 = 0, c1 = 0, prevr = NAN; /* lag-1 autocorrelation of clipped residuals */
        for (size_t i = i0; i <= i1; i++) {
            if (!isfinite(y[i])) {
                prevr = NAN;
                continue;
            }
            double ri = fmax(-HUBER_C * sigma, fmin(HUBER_C * sigma, r[i]));
            c0 += ri * ri;
            if (!isnan(prevr)) c1 += ri * prevr;
            prevr = ri;
        }
        double rho = c0 > 0 ? fmax(0.0, fmin(0.9, c1 / c0)) : 0.0;
        lrv = (1 + rho) / (1 - rho);
        size_t moved = 0;
        for (size_t i = i0; i <= i1; i++) {
            d[i] = 0;
            if (!isfinite(y[i])) continue;
            double wn = fabs(r[i]) <= HUBER_C * sigma ? 1.0 : HUBER_C * sigma / fabs(r[i]);
            if (fabs(wn - w[i]) > W_MOVE) {
                d[i] = wn - w[i];
                w[i] = wn;
                moved++;
            }
        }
        if (moved) accum(f, d, PART_LIN | PART_FF | PART_SEG); /* moments are linear in w */
        if (pass + 1 == N_HUBER && refine_steps(f, bprev, r, w, sigma, g_tail)) {
            memset(f->T0, 0, f->nk * p * sizeof(double)); /* knots moved: redo the segments */
            memset(f->T1, 0, f->nk * p * sizeof(double));
            accum(f, w, PART_SEG);
        }
    }

    /* 6. forecast */
    knot_deltas(f, bprev, dlev, dslope);
    evaluate(f, bprev, bf, dlev, dslope, seas, n, n + h, 0, out);
    for (size_t j = 0; j < h; j++) {
        out[j] = mu + sd * out[j];
        if (!isfinite(out[j])) rc = FC_EINVAL;
    }
done:
    free(cols);
    free(mem);
    return rc;
}
