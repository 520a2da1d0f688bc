#!/bin/sh
# Install the peers of the forecasting benchmark (bench/forecast_run.sh): R's forecast package
# (forecast::ets, forecast::auto.arima; the reference implementation bench/forecast_peers.R
# compares auspex's forecaster with) and python3-statsmodels (ETS/SARIMAX, an alternative).
# Idempotent: packages already present are not fetched again. Run as root (or with sudo).
set -eu

PKGS="r-base-core r-cran-forecast python3-statsmodels"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    echo "setup_bench: installing:$missing"
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
Rscript -e 'suppressMessages(library(forecast)); cat("setup_bench: R", R.version.string, "forecast", as.character(packageVersion("forecast")), "\n")'
echo "setup_bench: ok"
