#!/bin/sh
# Run every libFuzzer target for a given time and report executions and crashes per target.
#
#   sh bench/fuzz.sh [SECONDS] [TARGET...]      (default 60 s each, every tests/fuzz/fuzz_*.c)
#
# Builds the targets with clang, ASan and UBSan in build-fuzz/ (-DAUSPEX_FUZZ=ON), then runs
# each on a copy of its seed corpus (tests/fuzz/corpus/<name>/: the repository's corpus is
# not modified), nproc targets at a time, with leak detection on. A crash, leak, sanitizer
# report or timeout leaves its input in build-fuzz/crashes/<name>/ and makes the script exit
# 1; add such an input to the target's corpus as a regression seed once fixed.
# Environment: FUZZ_JOBS (targets at once, default nproc), FUZZ_BUILD (default build-fuzz),
# FUZZ_SEED (libFuzzer -seed: the same seed walks the same inputs in the same order, so a
# shorter run explores a prefix of a longer one; CI uses a fixed seed for that reason).
set -eu
cd "$(dirname "$0")/.."
SECS=${1:-60}
[ $# -gt 0 ] && shift
BUILD=${FUZZ_BUILD:-build-fuzz}
JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}

if [ $# -gt 0 ]; then
    TARGETS="$*"
else
    TARGETS=$(for f in tests/fuzz/fuzz_*.c; do basename "$f" .c; done)
fi

CC=clang cmake -S . -B "$BUILD" -DAUSPEX_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# shellcheck disable=SC2086
cmake --build "$BUILD" -j"$JOBS" --target $TARGETS >/dev/null

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT INT TERM
mkdir -p "$BUILD/crashes"

run_one() { # name -> writes $WORK/<name>.result: "name runs status"
    name=$1
    parser=${name#fuzz_}
    corpus="$WORK/corpus-$parser"
    mkdir -p "$corpus" "$BUILD/crashes/$parser"
    [ -d "tests/fuzz/corpus/$parser" ] && cp -R "tests/fuzz/corpus/$parser/." "$corpus/"
    status=ok
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$BUILD/fuzz/$name" -max_total_time="$SECS" -timeout=25 -rss_limit_mb=2048 ${FUZZ_SEED:+-seed=$FUZZ_SEED} \
        -artifact_prefix="$BUILD/crashes/$parser/" -print_final_stats=1 "$corpus" \
        >"$WORK/$name.log" 2>&1 || status=FAILED
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/$name.log" | tail -1)
    echo "$name ${runs:-0} $status" >"$WORK/$name.result"
    if [ "$status" != ok ]; then
        echo "== $name failed; the end of its log:" >&2
        tail -40 "$WORK/$name.log" >&2
    fi
}

echo "fuzz: $(echo "$TARGETS" | wc -w) targets, ${SECS}s each, $JOBS at a time"
running=0
for t in $TARGETS; do # in batches of JOBS (POSIX sh has no wait -n)
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait
        running=0
    fi
done
wait

fail=0
printf '%-24s %14s  %s\n' target executions result
for t in $TARGETS; do
    read -r name runs status <"$WORK/$t.result"
    printf '%-24s %14s  %s\n' "$name" "$runs" "$status"
    [ "$status" = ok ] || fail=1
done
exit $fail
