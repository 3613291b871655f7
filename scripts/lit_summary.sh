#!/usr/bin/env bash
# Prints "N passed, N failed, N skipped" from lit summaries in a log (one
# or more lit runs: their counts add up). lit right-aligns the counts, so
# "  Unsupported:  41 (29.08%)" and "  Passed     : 100 (70.92%)" both count.
# MIN_FAILED (default 0) is the least failure count to print: .ci/run
# passes 1 when a step before lit (setup, configure, build) failed.
# Usage: lit_summary.sh LOG [MIN_FAILED]
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ] || [ ! -r "$1" ] ||
   ! [[ "${2:-0}" =~ ^[0-9]+$ ]]; then
  echo "usage: lit_summary.sh LOG [MIN_FAILED] (a readable file, a count)" >&2
  exit 2
fi
count() {
  sed -nE "s/^ +$1 *: +([0-9]+) .*/\1/p" "$2" | awk '{ n += $1 } END { print n + 0 }'
}
log=$1
passed=$(( $(count "Passed" "$log") + $(count "Passed With Retry" "$log") + $(count "Expectedly Failed" "$log") ))
failed=$(( $(count "Failed" "$log") + $(count "Unresolved" "$log") + $(count "Timed Out" "$log") + $(count "Unexpectedly Passed" "$log") ))
skipped=$(( $(count "Unsupported" "$log") + $(count "Skipped" "$log") + $(count "Excluded" "$log") ))
min=${2:-0}
echo "$passed passed, $(( failed > min ? failed : min )) failed, $skipped skipped"
