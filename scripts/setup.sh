#!/bin/sh
# Install what auspex needs to build, test and benchmark, from Debian packages.
# Idempotent: packages already present are not fetched again. Run as root (or with sudo).
set -eu

BUILD="build-essential cmake pkg-config liblmdb-dev libuv1-dev node-llhttp libzstd-dev
libcjson-dev libsnappy-dev libcurl4-openssl-dev libyaml-dev zlib1g-dev"
# peers and tools used by the integration tests and the benchmark
TEST="python3 curl prometheus prometheus-node-exporter victoria-metrics"
# headless Chromium and its WebDriver, for the web UI's browser test (tests/integration/test_ui.py)
UI_TEST="chromium chromium-driver"
# clang's libFuzzer and sanitizer runtimes, for bench/fuzz.sh (CI runs every target for 30 s)
FUZZ="clang libclang-rt-14-dev"

missing=""
for p in $BUILD $TEST $UI_TEST $FUZZ; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    echo "setup: installing:$missing"
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
# Debian's packages start their services where systemd runs; the tests start their own
# instances on free loopback ports, so stop the packaged ones if they got started.
for svc in prometheus prometheus-node-exporter victoria-metrics; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
        systemctl stop "$svc" || true
    fi
done
echo "setup: ok"
