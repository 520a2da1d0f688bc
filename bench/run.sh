#!/bin/sh
# bench/run.sh: see bench/README.md; all options are passed to bench/run.py.
exec python3 "$(dirname "$0")/run.py" "$@"
