#!/usr/bin/env bash
# The cluster suite: three tweedle nodes on a private PostgreSQL 15
# (tests/cluster/pg.py), SQS across nodes, kill -9 of a node, PostgreSQL
# restarted. Skipped (with the reason) when PostgreSQL's binaries are missing.
# Last line: SUMMARY passed=N failed=N skipped=N
set -u
cd "$(dirname "$0")/../.."
py=${PYTHON:-python3}
export PYTHONDONTWRITEBYTECODE=1 # keep __pycache__ out of the work tree
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$py" -m unittest -v tests/cluster/test_cluster_*.py 2>&1 | tee "$out"
ran=$(sed -nE 's/^Ran ([0-9]+) tests?.*/\1/p' "$out" | tail -n 1)
ran=${ran:-0}
# unittest's own tally (a test may print between "..." and FAIL)
f=$(grep -a -c -E '^(FAIL|ERROR): ' "$out")
s=$(grep -a -c -E '\.\.\. skipped|^setUpModule .* skipped' "$out")
if [ "$ran" -eq 0 ] && [ "$s" -eq 0 ]; then
  echo "SUMMARY passed=0 failed=1 skipped=0" # the module did not load
  exit 1
fi
pass=$((ran - f - s)); [ "$pass" -lt 0 ] && pass=0
[ "$ran" -eq 0 ] && s=1
echo "SUMMARY passed=$pass failed=$f skipped=$s"
[ "$f" -eq 0 ]
