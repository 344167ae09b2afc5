#!/usr/bin/env bash
# The chaos suite: a short chaos run (kill -9 under mixed load, ledger checked
# after every restart) and the disk-full tests (a 64 MiB tmpfs as the data
# directory; skipped when mount is not allowed).
#   CHAOS_SECONDS  load time of the chaos run (default 45 here; by hand:
#                  CHAOS_SECONDS=600 python3 tests/chaos/chaos.py)
#   CHAOS_SEED     replay a run (its seed is printed first)
# Last line: SUMMARY passed=N failed=N skipped=N
set -u
cd "$(dirname "$0")/../.."
py=${PYTHON:-python3}
pass=0 fail=0 skip=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

CHAOS_SECONDS=${CHAOS_SECONDS:-45} "$py" tests/chaos/chaos.py 2>&1 | tee "$out"
line=$(grep -a -E '^SUMMARY passed=[0-9]+ failed=[0-9]+' "$out" | tail -n 1)
if [ -n "$line" ] && [ "$(sed -E 's/.*failed=([0-9]+).*/\1/' <<<"$line")" -eq 0 ]; then
  pass=$((pass + 1))
else
  fail=$((fail + 1))
fi

"$py" -m unittest -v tests/chaos/test_disk_full.py 2>&1 | tee "$out"
ran=$(sed -nE 's/^Ran ([0-9]+) tests?.*/\1/p' "$out" | tail -n 1)
ran=${ran:-0}
f=$(grep -a -c -E '\.\.\. (FAIL|ERROR)$' "$out")
s=$(grep -a -c -E '\.\.\. skipped' "$out")
if [ "$ran" -eq 0 ]; then
  fail=$((fail + 1)) # no test ran: the module did not load
else
  pass=$((pass + ran - f - s)); fail=$((fail + f)); skip=$((skip + s))
fi
echo "SUMMARY passed=$pass failed=$fail skipped=$skip"
[ "$fail" -eq 0 ]
