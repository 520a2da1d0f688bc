# bench/forecast_peers.R: R's forecast package on exactly the splits forecast_bench scores.
#
#   Rscript bench/forecast_peers.R SPLITS_DIR [--cores N] [--m4-limit N] [--models a,b,...]
#                                 [--arima-every N] [--scores FILE] [--sections nab,m4,speed]
#
# SPLITS_DIR holds nab_splits.csv, m4_splits.csv and speed_series.csv written by
# `forecast_bench --splits DIR` (one split a line: set,group,id,origin,period,mase_lag,h,
# n_train, then n_train training values and h actuals). Every model is fitted on the training
# values and forecasts h steps; sMAPE, MASE and MAPE are computed with the same formulas as
# forecast_bench.c (MAPE skips actuals below 1% of the training window's mean |y|).
#
# Models (forecast 8.x):
#   ets          forecast::ets(ts(y, frequency = period)). ets() refuses seasonality above
#                frequency 24 ("Seasonality will be ignored"), so on the 5-minute NAB traces
#                (period 288) it is a non-seasonal ETS; on M4 hourly (24) a seasonal one.
#   auto.arima   forecast::auto.arima(ts(y, frequency = period)) on M4 (seasonal ARIMA, m = 24).
#                On NAB a seasonal ARIMA with m = 288 is impractical (hours per fit), so there
#                it is auto.arima(y, seasonal = FALSE, xreg = fourier(K = 4)): the dynamic
#                harmonic regression forecast's authors recommend for long periods.
#   stlf         forecast::stlf (STL decomposition + ETS on the seasonally adjusted series),
#                the package's answer for high-frequency seasonality.
#   snaive       forecast::snaive: cross-checks forecast_bench's own seasonal naive.
#   naive2       M4's Naive2 (the M4-methods benchmark code: SeasonalityTest + decompose,
#                multiplicative): cross-checks forecast_bench's Naive2 (M4 only).
# Cost caps: auto.arima with m = 24 takes 20-150 s per M4 series here (about 9 hours for the
# 414), so on M4 it runs on every --arima-every'th series only (default 40: 11 series, ids
# H1, H41, ...); forecast_run.py compares it with auspex on that same subset. ets takes ~4 s
# per M4 series and runs on all of them.
# --scores FILE: one line per split and model (set, id, origin, model, sMAPE, MASE) for that.
# Time per series: CPU seconds (user + system) of fit + forecast, per call, in the worker that
# ran it (parallel::mclapply over --cores forked workers, default 2; each fit is
# single-threaded, Debian's reference BLAS); like forecast_bench, CPU rather than wall time
# because the machine is shared.
# Output: `result ...` lines like forecast_bench's (impl=R), plus a progress log on stderr.

suppressPackageStartupMessages({
  library(forecast)
  library(parallel)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 1) stop("usage: forecast_peers.R SPLITS_DIR [--cores N] [--m4-limit N] [--models a,b]")
dir <- args[1]
opt <- function(name, default) {
  i <- match(name, args)
  if (is.na(i) || i == length(args)) default else args[i + 1]
}
cores <- as.integer(opt("--cores", "2"))
m4_limit <- as.integer(opt("--m4-limit", "100000"))
models <- strsplit(opt("--models", "ets,auto.arima,stlf,snaive,naive2"), ",")[[1]]
arima_every <- as.integer(opt("--arima-every", "40"))
sections <- strsplit(opt("--sections", "nab,m4,speed"), ",")[[1]]
scores_path <- opt("--scores", "")
scores_con <- if (nzchar(scores_path)) file(scores_path, "w") else NULL
write_scores <- function(set, model, splits, rs) {
  if (is.null(scores_con)) return(invisible())
  for (i in seq_along(splits)) {
    r <- rs[[i]]; s <- splits[[i]]
    writeLines(sprintf("split set=%s group=%s id=%s origin=%d model=%s impl=R smape=%.6f mase=%.6f t_ms=%.3f",
                       set, s$group, s$id, s$origin, model,
                       if (r$ok) r$smape else NaN, if (r$ok && !is.na(r$mase)) r$mase else NaN,
                       1e3 * r$t), scores_con)
  }
}

read_splits <- function(path) {
  lines <- readLines(path)
  lapply(lines, function(l) {
    f <- strsplit(l, ",", fixed = TRUE)[[1]]
    n <- as.integer(f[8]); h <- as.integer(f[7])
    v <- as.numeric(f[-(1:8)])
    list(set = f[1], group = f[2], id = f[3], origin = as.integer(f[4]),
         period = as.integer(f[5]), lag = as.integer(f[6]), h = h,
         train = v[seq_len(n)], test = if (h > 0 && length(v) >= n + h) v[n + seq_len(h)] else NULL)
  })
}

smape <- function(y, f) { d <- abs(y) + abs(f); 200 * mean(ifelse(d > 0, abs(y - f) / d, 0)) }
mase <- function(tr, m, y, f) {
  n <- length(tr)
  if (m == 0 || n <= m) return(NA_real_)
  sc <- mean(abs(tr[(m + 1):n] - tr[1:(n - m)]))
  if (!(sc > 0)) return(NA_real_)
  mean(abs(y - f)) / sc
}
ape <- function(tr, y, f) {   # returns c(sum, count) of APE over the kept actuals
  lvl <- mean(abs(tr))
  keep <- abs(y) >= 0.01 * lvl & y != 0
  c(sum(100 * abs(y[keep] - f[keep]) / abs(y[keep])), sum(keep))
}

# M4-methods' benchmark code (Benchmarks and Evaluation.R), verbatim in substance.
seasonality_test <- function(input, ppy) {
  tcrit <- 1.645
  if (length(input) < 3 * ppy) return(FALSE)
  xacf <- acf(input, plot = FALSE)$acf[-1, 1, 1]
  clim <- tcrit / sqrt(length(input)) * sqrt(cumsum(c(1, 2 * xacf^2)))
  r <- abs(xacf[ppy]) > clim[ppy]
  if (is.na(r)) FALSE else r
}
naive2 <- function(y, ppy, h) {
  x <- ts(y, frequency = ppy)
  if (seasonality_test(x, ppy)) {
    dec <- decompose(x, type = "multiplicative")$seasonal
    si_in <- as.numeric(dec)
    si_out <- head(rep(si_in[(length(si_in) - ppy + 1):length(si_in)], h), h)
  } else {
    si_in <- rep(1, length(y)); si_out <- rep(1, h)
  }
  as.numeric(naive(y / si_in, h = h)$mean) * si_out
}

fit_one <- function(model, s) {
  y <- s$train; h <- s$h; p <- s$period
  x <- ts(y, frequency = p)
  switch(model,
    ets = as.numeric(forecast(ets(x), h = h)$mean),
    auto.arima = if (p > 24) {
      K <- 4
      fit <- auto.arima(x, seasonal = FALSE, xreg = fourier(x, K = K))
      as.numeric(forecast(fit, xreg = fourier(x, K = K, h = h), h = h)$mean)
    } else {
      as.numeric(forecast(auto.arima(x), h = h)$mean)
    },
    stlf = as.numeric(stlf(x, h = h)$mean),
    snaive = as.numeric(snaive(x, h = h)$mean),
    naive2 = naive2(y, p, h),
    stop("unknown model ", model))
}

cpu_s <- function() { p <- proc.time(); p[["user.self"]] + p[["sys.self"]] }
run_one <- function(model, s) {
  t0 <- cpu_s()
  f <- tryCatch(suppressWarnings(fit_one(model, s)), error = function(e) {
    message(sprintf("  %s %s origin %d: %s", model, s$id, s$origin, conditionMessage(e))); NULL })
  dt <- cpu_s() - t0
  ok <- !is.null(f) && length(f) == s$h && all(is.finite(f))
  if (!ok || is.null(s$test)) return(list(ok = ok, t = dt))
  a <- ape(s$train, s$test, f)
  list(ok = TRUE, t = dt, smape = smape(s$test, f), mase = mase(s$train, s$lag, s$test, f),
       ape_sum = a[1], ape_n = a[2])
}

emit <- function(set, group, model, rs, extra = "") {
  ok <- rs[sapply(rs, function(r) isTRUE(r$ok))]
  g <- function(k) as.numeric(vapply(ok, function(r) as.numeric(r[[k]]), 0))
  t <- sapply(rs, function(r) r$t)
  t <- t[!is.na(t)]
  m <- g("mase")
  cat(sprintf(paste0("result set=%s group=%s model=%s impl=R n=%d fail=%d smape=%.6f mase=%.6f ",
                     "mape=%.6f t_med_ms=%.4f t_mean_ms=%.4f%s\n"),
              set, group, model, length(ok), length(rs) - length(ok), mean(g("smape")),
              mean(m[!is.na(m)]), sum(g("ape_sum")) / sum(g("ape_n")),
              1e3 * median(t), 1e3 * mean(t), extra))
}

# A worker that died or raised returns NULL or a try-error from mclapply: count it as a failed
# split (fail= in the result line) and say so on stderr.
par_map <- function(xs, f) {
  rs <- if (cores > 1) mclapply(xs, f, mc.cores = cores, mc.preschedule = FALSE) else lapply(xs, f)
  bad <- !sapply(rs, function(r) is.list(r) && isTRUE(r$ok) || is.list(r) && identical(r$ok, FALSE))
  if (any(bad)) {
    message(sprintf("  %d of %d results lost (worker error: %s)", sum(bad), length(rs),
                    paste(unique(sapply(rs[bad], function(r) substr(paste(as.character(r), collapse = " "), 1, 120))), collapse = " | ")))
    rs[bad] <- list(list(ok = FALSE, t = NA_real_))
  }
  rs
}

# Record which splits these results belong to (forecast_run.py --peers-from checks it).
writeLines(paste(unname(tools::md5sum(file.path(dir, c("nab_splits.csv", "m4_splits.csv", "speed_series.csv")))),
                 collapse = " "), file.path(dir, "splits.md5"))

wall0 <- proc.time()[["elapsed"]]
log_msg <- function(...) message(sprintf("[%6.1fs] ", proc.time()[["elapsed"]] - wall0), ...)

# NAB: every model except naive2.
if ("nab" %in% sections) {
nab <- read_splits(file.path(dir, "nab_splits.csv"))
groups <- unique(sapply(nab, function(s) s$group))
for (model in setdiff(models, "naive2")) {
  t0 <- proc.time()[["elapsed"]]
  rs <- par_map(nab, function(s) run_one(model, s))
  log_msg(sprintf("nab %s: %d splits in %.1f s", model, length(nab), proc.time()[["elapsed"]] - t0))
  write_scores("nab", model, nab, rs)
  for (g in groups) {
    sel <- sapply(nab, function(s) s$group == g)
    emit("nab", g, model, rs[sel])
  }
  emit("nab", "all", model, rs)
}
}

# M4 hourly.
if ("m4" %in% sections) {
m4 <- read_splits(file.path(dir, "m4_splits.csv"))
if (length(m4) > m4_limit) m4 <- m4[seq_len(m4_limit)]
m4res <- list()
for (model in models) {
  t0 <- proc.time()[["elapsed"]]
  sub <- if (model == "auto.arima") m4[seq(1, length(m4), by = arima_every)] else m4
  m4res[[model]] <- par_map(sub, function(s) run_one(model, s))
  log_msg(sprintf("m4 %s: %d series in %.1f s", model, length(sub), proc.time()[["elapsed"]] - t0))
  write_scores("m4", model, sub, m4res[[model]])
}
# OWA relative to Naive2 (this script's own, as M4's code computes it) on the same series.
n2 <- lapply(m4, function(s) run_one("naive2", s))
names(n2) <- sapply(m4, function(s) s$id)
for (model in names(m4res)) {
  rs <- m4res[[model]]
  ids <- if (model == "auto.arima") sapply(m4[seq(1, length(m4), by = arima_every)], function(s) s$id) else names(n2)
  n2s <- mean(sapply(n2[ids], function(r) r$smape)); n2m <- mean(sapply(n2[ids], function(r) r$mase))
  ok <- rs[sapply(rs, function(r) isTRUE(r$ok))]
  owa <- 0.5 * (mean(sapply(ok, function(r) r$smape)) / n2s + mean(sapply(ok, function(r) r$mase)) / n2m)
  emit("m4", "hourly", model, rs, sprintf(" owa=%.6f", owa))
}
}

# Speed: the 4,032-point windows forecast_bench times (one call each, sequential).
sp_path <- file.path(dir, "speed_series.csv")
if ("speed" %in% sections && file.exists(sp_path)) {
  sp <- read_splits(sp_path)
  for (model in intersect(models, c("ets", "auto.arima", "stlf"))) {
    t <- sapply(sp, function(s) { s$h <- 48L; run_one(model, s)$t })
    cat(sprintf("result set=speed group=4032pts model=%s impl=R n=%d t_med_ms=%.4f t_mean_ms=%.4f t_max_ms=%.4f\n",
                model, length(t), 1e3 * median(t), 1e3 * mean(t), 1e3 * max(t)))
  }
}
if (!is.null(scores_con)) close(scores_con)
log_msg("done")
