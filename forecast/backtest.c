/* forecast/backtest.c: replay a scaling rule on recorded demand (fc_backtest_n; fc_backtest
 * is its one-signal form).
 *
 * The replay is a closed loop: the policy never sees the load itself, only the signal it
 * would have measured, load / capacity, under the capacity its own earlier decisions put in
 * place. So the signal history is rebuilt step by step (sig[t] = load[t] / c(t), with c(t)
 * the capacity in effect at step t) and a policy's mistakes show up in what it sees later.
 *
 * Per step t in [from, n), at time now = t0 + t * step_s:
 *   1. due changes: every pending scale-up with eff <= now is due; of the due ones, the most
 *      recent decision (highest seq) is applied, unless a newer decision was applied already
 *      (then it is stale); all due ones leave the list. So the most recent decision wins.
 *   2. measure: sig[t] = load[t] / c for every signal; metrics use this c (the capacity
 *      the step ran on); the step is under-provisioned when any load[t] > c * target.
 *   3. check (when (t - from) % every == 0): the policy decides on sig[..t] only.
 *        scale-up to d, SCALE_UP_NOW or reactive: pending, eff = now + lead_s;
 *        scale-up to d, SCALE_UP_PREPARED: provisioning starts at act_at, so
 *          eff = max(act_at, now) + lead_s;
 *        scale-down to d: c = d at once (from step t + 1 on; step t was measured already).
 *      A decision is an action when d differs from the target (the capacity of the most
 *      recent decision, pending or applied); it then gets the next seq, cancels the pending
 *      changes whose provisioning has not started (start > now: a prepared scale-up not yet
 *      at its act_at; the ones already provisioning stay in the list) and starts the
 *      cooldown (last_action_at = now, the decision time, also for a prepared one). A
 *      scale-up to the target already pending only moves that change earlier if its eff
 *      is earlier (not an action).
 * Steps before `from` run on start_capacity, so the policy's first look has history.
 *
 * Predictive (FC_BT_PREDICTIVE): fc_decide on the last BT_TAIL_S seconds of every signal
 * (7 days, or 2 * horizon + 1 steps if that is longer): one fit per signal and check, and a
 * fit costs about linear time in the history, so the tail keeps a 14-day replay at a few
 * seconds. A signal without down_at (NaN) goes to fc_decide as it is: it neither allows
 * nor blocks a scale-down, and with no down_at at all there is none.
 * Reactive (FC_BT_REACTIVE), on the signals with a value at this step: any signal over its
 * up_at: scale up to the largest ceil(load / target); else, when every signal that has a
 * down_at has a value under it (and at least one has a down_at): scale down to that
 * largest ceil(load / target), at least cap_min. A signal without a value blocks a
 * scale-down if it has a down_at. cooldown_s after an action.
 * Both clamp to [cap_min, cap_max]; ceil forgives 1e-9 of rounding (7 / 0.7 is 10, not 11).
 * Action log: each action (decide_to with a new target) is appended to the caller's array
 * while there is room; the count goes on regardless.
 *
 * Returns 0, FC_EINVAL (NULL pointers, n_sig == 0, n == 0, from >= n, every == 0, step_s <= 0,
 * start_capacity <= 0, target <= 0, cap_min > cap_max, unknown policy, or fc_decide's
 * FC_EINVAL for the rule), FC_ENOMEM. *out is written only on success.
 */
#include "forecast/forecast.h"

#include <math.h>
#include <stdlib.h>

#define BT_TAIL_S (7.0 * 86400.0)

typedef struct pending {
    double start;         /* when provisioning starts (act_at for a prepared scale-up) */
    double eff;           /* when the new capacity is in place: start + lead_s */
    double cap;
    size_t seq;           /* decision order: higher = more recent */
} pending;

typedef struct replay {
    double c;             /* capacity in effect */
    double target_cap;    /* capacity of the most recent decision */
    double last_action_at;
    size_t seq, applied_seq, actions;
    pending *pend;
    size_t n_pend;
    double *caps;         /* capacity in effect at each step (the signal's measuring scale) */
    fc_bt_action *log;    /* the caller's action log (NULL: none), log_cap entries */
    size_t log_cap;
} replay;

static double clamp_cap(const fc_rule_cfg *r, double d) {
    if (d < r->cap_min) d = r->cap_min;
    if (d > r->cap_max) d = r->cap_max;
    return d;
}

static double units_for(const fc_rule_cfg *r, double load) {
    return clamp_cap(r, ceil(load / r->target - 1e-9));
}

static void apply_due(replay *s, double now) {
    size_t best = 0, keep = 0;
    int found = 0;
    for (size_t i = 0; i < s->n_pend; i++) {
        pending *p = &s->pend[i];
        if (p->eff <= now) {
            if (!found || p->seq > s->pend[best].seq) best = i, found = 1;
        }
    }
    if (found && s->pend[best].seq > s->applied_seq) {
        s->c = s->pend[best].cap;
        s->applied_seq = s->pend[best].seq;
    }
    for (size_t i = 0; i < s->n_pend; i++)
        if (s->pend[i].eff > now) s->pend[keep++] = s->pend[i];
    s->n_pend = keep;
}

/* A decision to capacity d at `now`: immediate (scale-down) or provisioning from `start`,
 * in place at `eff`. A new decision cancels the pending changes whose provisioning has not
 * started yet; those already provisioning complete unless a newer one was applied first. */
static void decide_to(replay *s, double d, double now, double start, double eff, int immediate,
                      int kind) {
    if (d == s->target_cap) {
        pending *p = s->n_pend ? &s->pend[s->n_pend - 1] : NULL;
        if (!immediate && p && p->seq == s->seq && s->seq > s->applied_seq && eff < p->eff)
            p->start = start, p->eff = eff;
        return;
    }
    size_t keep = 0;
    for (size_t i = 0; i < s->n_pend; i++)
        if (s->pend[i].start <= now) s->pend[keep++] = s->pend[i];
    s->n_pend = keep;
    if (s->log && s->actions < s->log_cap)
        s->log[s->actions] = (fc_bt_action){now, s->c, d, immediate ? now : eff, kind};
    s->seq++;
    s->actions++;
    s->target_cap = d;
    s->last_action_at = now;
    if (immediate) {
        s->c = d;
        s->applied_seq = s->seq;
    } else {
        s->pend[s->n_pend++] = (pending){start, eff, d, s->seq};
    }
}

/* The reactive policy at step t (see the file comment). */
static void reactive_check(const fc_rule_cfg *r, replay *s, const fc_bt_signal *sg, size_t n_sig,
                           size_t t, double now) {
    if (isfinite(s->last_action_at) && now - s->last_action_at < r->cooldown_s) return;
    int any = 0, up = 0, low = 1, has_down = 0;
    double d = -INFINITY;
    for (size_t i = 0; i < n_sig; i++) {
        double load = sg[i].load[t], sig = load / s->c;
        int ok = isfinite(load) && isfinite(sig);
        if (!isnan(sg[i].down_at)) {
            has_down = 1;
            if (!ok || !(sig < sg[i].down_at)) low = 0;
        }
        if (!ok) continue;
        any = 1;
        if (sig > sg[i].up_at) up = 1;
        double u = units_for(r, load);
        if (u > d) d = u;
    }
    if (!any) return;
    if (up) {
        if (d > s->c) decide_to(s, d, now, now, now + r->lead_s, 0, FC_DEC_SCALE_UP_NOW);
    } else if (low && has_down) {
        if (d < s->c) decide_to(s, d, now, now, now, 1, FC_DEC_SCALE_DOWN);
    }
}

/* The predictive policy at step t: fc_decide on each signal's tail. fs: n_sig entries with
 * thresholds set; sig: n_sig rows of n. */
static int predictive_check(const fc_rule_cfg *r, replay *s, fc_signal *fs, size_t n_sig,
                            const double *sig, size_t n, size_t t, size_t tail, double now) {
    size_t lo = t + 1 > tail ? t + 1 - tail : 0;
    for (size_t i = 0; i < n_sig; i++) {
        fs[i].y = sig + i * n + lo;
        fs[i].n = t + 1 - lo;
        fs[i].cap = s->caps + lo;
    }
    fc_decision dec;
    int rc = fc_decide(r, fs, n_sig, s->c, now, s->last_action_at, &dec, NULL);
    if (rc) return rc;
    if (!isfinite(dec.desired)) return 0;
    double d = clamp_cap(r, dec.desired);
    switch (dec.kind) {
    case FC_DEC_SCALE_UP_NOW:
        if (d > s->c) decide_to(s, d, now, now, now + r->lead_s, 0, dec.kind);
        break;
    case FC_DEC_SCALE_UP_PREPARED: {
        double start = isfinite(dec.act_at) && dec.act_at > now ? dec.act_at : now;
        if (d > s->c) decide_to(s, d, now, start, start + r->lead_s, 0, dec.kind);
        break;
    }
    case FC_DEC_SCALE_DOWN:
        if (d < s->c) decide_to(s, d, now, now, now, 1, dec.kind);
        break;
    default:
        break;
    }
    return 0;
}

int fc_backtest(const fc_rule_cfg *r, const double *load, size_t n, double t0, size_t from,
                size_t every, double up_at, double down_at, double start_capacity, int policy,
                fc_bt_result *out) {
    fc_bt_signal sg = {load, up_at, down_at};
    return fc_backtest_n(r, &sg, 1, n, t0, from, every, start_capacity, policy, out, NULL, 0);
}

int fc_backtest_n(const fc_rule_cfg *r, const fc_bt_signal *sg, size_t n_sig, size_t n,
                  double t0, size_t from, size_t every, double start_capacity, int policy,
                  fc_bt_result *out, fc_bt_action *acts, size_t max_acts) {
    if (!r || !sg || n_sig == 0 || !out || n == 0 || from >= n || every == 0) return FC_EINVAL;
    if (n_sig > SIZE_MAX / sizeof(double) / n) return FC_EINVAL;
    for (size_t i = 0; i < n_sig; i++)
        if (!sg[i].load) return FC_EINVAL;
    if (!(r->step_s > 0) || !(start_capacity > 0) || !(r->target > 0) ||
        !(r->cap_min <= r->cap_max) || !(r->lead_s >= 0) || !(r->cooldown_s >= 0))
        return FC_EINVAL;
    if (policy != FC_BT_PREDICTIVE && policy != FC_BT_REACTIVE) return FC_EINVAL;

    size_t n_checks = (n - from + every - 1) / every;
    double *sig = malloc(n_sig * n * sizeof *sig), *caps = malloc(n * sizeof *caps);
    pending *pend = malloc((n_checks + 1) * sizeof *pend);
    fc_signal *fs = calloc(n_sig, sizeof *fs);
    if (!sig || !pend || !caps || !fs) {
        free(sig);
        free(caps);
        free(pend);
        free(fs);
        return FC_ENOMEM;
    }
    size_t tail = (size_t)(BT_TAIL_S / r->step_s);
    size_t hz_min = 2 * r->horizon + 1;
    if (tail < hz_min) tail = hz_min;
    for (size_t i = 0; i < n_sig; i++) {
        fs[i].up_at = sg[i].up_at;
        fs[i].down_at = sg[i].down_at;
    }

    replay s = {start_capacity, start_capacity, NAN, 0, 0, 0, pend, 0, caps, acts, acts ? max_acts : 0};
    for (size_t t = 0; t < from; t++) {
        for (size_t i = 0; i < n_sig; i++) sig[i * n + t] = sg[i].load[t] / start_capacity;
        caps[t] = start_capacity;
    }

    double sum_c = 0;
    size_t under = 0;
    int rc = 0;
    for (size_t t = from; t < n; t++) {
        double now = t0 + (double)t * r->step_s;
        apply_due(&s, now);
        int is_under = 0;
        for (size_t i = 0; i < n_sig; i++) {
            sig[i * n + t] = sg[i].load[t] / s.c;
            if (sg[i].load[t] > s.c * r->target) is_under = 1;
        }
        caps[t] = s.c;
        sum_c += s.c;
        under += (size_t)is_under;
        if ((t - from) % every) continue;
        if (policy == FC_BT_REACTIVE) {
            reactive_check(r, &s, sg, n_sig, t, now);
        } else {
            rc = predictive_check(r, &s, fs, n_sig, sig, n, t, tail, now);
            if (rc) break;
        }
    }
    free(sig);
    free(caps);
    free(pend);
    free(fs);
    if (rc) return rc;
    out->actions = s.actions;
    out->minutes_under = (double)under * r->step_s / 60.0;
    out->mean_capacity = sum_c / (double)(n - from);
    out->steps = n - from;
    return 0;
}
