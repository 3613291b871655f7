#!/usr/bin/env bash
# Prints "N passed, N failed, N skipped" from lit summaries in a log (one
# or more lit runs: their counts add up). lit right-aligns the counts, so
# "  Unsupported:  41 (29.08%)" and "  Passed     : 100 (70.92%)" both count.
# Usage: lit_summary.sh LOG
set -euo pipefail
if [ $# -ne 1 ] || [ ! -r "$1" ]; then
  echo "usage: lit_summary.sh LOG (a readable file)" >&2
  exit 2
fi
count() {
  sed -nE "s/^ +$1 *: +([0-9]+) .*/\1/p" "$2" | awk '{ n += $1 } END { print n + 0 }'
}
log=$1
passed=$(( $(count "Passed" "$log") + $(count "Passed With Retry" "$log") + $(count "Expectedly Failed" "$log") ))
failed=$(( $(count "Failed" "$log") + $(count "Unresolved" "$log") + $(count "Timed Out" "$log") + $(count "Unexpectedly Passed" "$log") ))
skipped=$(( $(count "Unsupported" "$log") + $(count "Skipped" "$log") + $(count "Excluded" "$log") ))
echo "$passed passed, $failed failed, $skipped skipped"
