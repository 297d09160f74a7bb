#!/usr/bin/env bash
# The test suite as `make test` runs it: the tests marked `waits` (minutes of wall-clock outages
# and partitions, little CPU) run in a second pytest process beside all the others, so the suite
# takes about as long as its busy part. Both must pass; the second one's output follows the first.
set -u
BIN=${BIN:-.venv/bin}
root=$(mktemp -d /tmp/eventguard-tests-XXXXXX)
"$BIN/pytest" -q -p no:cacheprovider -m waits --basetemp="$root/waits" "$@" >"$root/waits.log" 2>&1 &
waiting=$!
"$BIN/pytest" -q -p no:cacheprovider -m "not waits" --basetemp="$root/main" "$@"
main=$?
wait "$waiting"
waits=$?
echo "---- tests marked 'waits' (ran beside the others) ----"
cat "$root/waits.log"
rm -rf "$root"
if [ "$main" -ne 0 ] || [ "$waits" -ne 0 ]; then
  echo "make test: failed (others: exit $main, waits: exit $waits)" >&2
  exit 1
fi
