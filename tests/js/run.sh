#!/usr/bin/env bash
# Runs tweedle's JavaScript integration tests: SQS (AWS SDK v3 + sqs-consumer)
# and S3 (client-s3, s3-request-presigner, lib-storage, minio); the web console in
# Debian's chromium through playwright-core (console.test.mjs).
#
#   tests/js/run.sh [test files...]
#
# Env: TWEEDLE_BIN (default <repo>/build/tweedle), TWEEDLE_KEEP_DATA=1 keeps temp
# data dirs and server logs, TEST_CONCURRENCY (default 4 files at once).
# Last line of output is always: SUMMARY passed=N failed=M skipped=K
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
orig="$PWD"
cd "$here"

summary() { echo "SUMMARY passed=$1 failed=$2 skipped=$3"; }

if ! command -v node >/dev/null 2>&1; then
  echo "run.sh: node not found" >&2
  summary 0 1 0
  exit 1
fi

# npm ci when any module the tests import is missing (the lock file pins them all).
need_ci=0
for m in @aws-sdk/client-sqs sqs-consumer @aws-sdk/client-s3 @aws-sdk/s3-request-presigner @aws-sdk/client-sns \
  @aws-sdk/client-cloudwatch @aws-sdk/client-eventbridge @aws-sdk/lib-storage minio playwright-core; do
  [ -f "node_modules/$m/package.json" ] || need_ci=1
done
if [ "$need_ci" -eq 1 ]; then
  if ! npm ci --no-audit --no-fund --loglevel=error >/tmp/tweedle-js-npm-ci.$$.log 2>&1; then
    cat /tmp/tweedle-js-npm-ci.$$.log >&2
    rm -f /tmp/tweedle-js-npm-ci.$$.log
    echo "run.sh: npm ci failed" >&2
    summary 0 1 0
    exit 1
  fi
  rm -f /tmp/tweedle-js-npm-ci.$$.log
fi

# The SDK warns that releases after Jan 2027 need node 22; informational only.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

bin="${TWEEDLE_BIN:-$here/../../build/tweedle}"
if [ ! -x "$bin" ]; then
  echo "run.sh: tweedle binary not found or not executable: $bin (build it first, or set TWEEDLE_BIN)" >&2
  summary 0 1 0
  exit 1
fi
export TWEEDLE_BIN="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

# Arguments: test files (relative to the caller's directory or to tests/js) or
# globs over tests/js, e.g. `tests/js/run.sh 's3*.test.mjs'` from anywhere (an
# unquoted glob that matched nothing where it was typed arrives as-is).
files=()
for a in "$@"; do
  case "$a" in /*) p="$a" ;; *) p="$orig/$a" ;; esac
  if [ -f "$p" ]; then
    files+=("$p")
    continue
  fi
  matched=0
  for f in $a; do
    if [ -f "$f" ]; then
      files+=("$f")
      matched=1
    fi
  done
  if [ "$matched" -eq 0 ]; then
    echo "run.sh: no test file matches $a" >&2
    summary 0 1 0
    exit 1
  fi
done
[ ${#files[@]} -gt 0 ] || files=(*.test.mjs)

tap="$(mktemp /tmp/tweedle-js-tap.XXXXXX)"
trap 'rm -f "$tap"' EXIT

# Spec output to the terminal, TAP to a file for the totals. Hard cap well
# under 3 minutes; each test also has its own timeout.
timeout -k 5 170 node --test \
  --test-concurrency="${TEST_CONCURRENCY:-4}" \
  --test-timeout=60000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" \
  "${files[@]}"
rc=$?

num() { grep -E "^# $1 [0-9]+$" "$tap" | tail -1 | awk '{print $3}'; }
pass="$(num pass)"
fail="$(num fail)"
cancelled="$(num cancelled)"
skipped="$(num skipped)"
todo="$(num todo)"

if [ -z "$pass" ]; then
  # No totals (killed by the overall timeout?): count what the TAP shows.
  echo "run.sh: test run did not finish (exit $rc); counting partial results" >&2
  pass="$(grep -cE '^\s*ok [0-9]+ ' "$tap" || true)"
  fail="$(grep -cE '^\s*not ok [0-9]+ ' "$tap" || true)"
  [ "${fail:-0}" -eq 0 ] && fail=1
  cancelled=0 skipped=0 todo=0
fi

failed=$(( ${fail:-0} + ${cancelled:-0} ))
skipped=$(( ${skipped:-0} + ${todo:-0} ))
if [ "$failed" -eq 0 ] && [ "$rc" -ne 0 ]; then
  echo "run.sh: node --test exited $rc with no failed test" >&2
  failed=1
fi

summary "${pass:-0}" "$failed" "$skipped"
[ "$failed" -eq 0 ]
