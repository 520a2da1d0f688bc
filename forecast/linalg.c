/* forecast/linalg.c: the small dense linear algebra the regression models need.
 *
 * fc__solve_spd solves A x = b for a symmetric positive definite A of a few dozen rows (the
 * normal equations X'WX of forecast/seasonal.c) by Cholesky factorisation A = L L', then
 * forward and back substitution. O(k^3 / 6) multiply-adds; no allocation.
 *
 * Storage: A is k x k, row-major. Only the lower triangle (row >= column) is read; it is
 * overwritten by L (so after a successful call A[i*k + j], i >= j, holds L[i][j] and callers
 * may reuse the factor, e.g. to form L'x). The strict upper triangle is never touched.
 * `ridge` is added to the diagonal first (Tikhonov regularisation / numerical jitter).
 * A pivot that is not positive, not finite, or below 1e-13 of its diagonal entry (so A is
 * singular or indefinite to working precision) fails with FC_EINVAL; A and b are then
 * partly overwritten and must not be used.
 */
#include "forecast/forecast_int.h"

#include <math.h>

/* sum_{l<n} a[l] b[l] with four partial sums (breaks the add latency chain). */
static double dot(const double *a, const double *b, size_t n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t l = 0;
    for (; l + 4 <= n; l += 4) {
        s0 += a[l] * b[l];
        s1 += a[l + 1] * b[l + 1];
        s2 += a[l + 2] * b[l + 2];
        s3 += a[l + 3] * b[l + 3];
    }
    for (; l < n; l++) s0 += a[l] * b[l];
    return (s0 + s1) + (s2 + s3);
}

int fc__solve_spd(double *A, double *b, size_t k, double ridge) {
    if (!A || !b || !isfinite(ridge)) return FC_EINVAL;
    for (size_t j = 0; j < k; j++) {
        double *Lj = A + j * k;
        double ajj = Lj[j] + ridge;
        double d = ajj - dot(Lj, Lj, j);
        if (!(d > 0) || !isfinite(d) || d <= 1e-13 * fabs(ajj)) return FC_EINVAL;
        double ljj = sqrt(d);
        Lj[j] = ljj;
        for (size_t i = j + 1; i < k; i++) {
            double *Li = A + i * k;
            Li[j] = (Li[j] - dot(Li, Lj, j)) / ljj;
        }
    }
    /* L z = b (forward), then L' x = z (backward), both in place in b. */
    for (size_t i = 0; i < k; i++) {
        const double *Li = A + i * k;
        b[i] = (b[i] - dot(Li, b, i)) / Li[i];
    }
    for (size_t i = k; i-- > 0;) { /* x_i final once rows below are done; push it up row i */
        const double *Li = A + i * k;
        b[i] /= Li[i];
        for (size_t l = 0; l < i; l++) b[l] -= Li[l] * b[i];
    }
    for (size_t i = 0; i < k; i++)
        if (!isfinite(b[i])) return FC_EINVAL;
    return FC_OK;
}
