#!/usr/bin/env bash
# Runs each example under examples/ against a fresh tweedle, as a user would.
# Last line: SUMMARY passed=N failed=N skipped=N
set -u
cd "$(dirname "$0")/../.."
BIN=${TWEEDLE_BIN:-$PWD/build/tweedle}
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export TWEEDLE_ACCESS_KEY_ID=AKIDEXAMPLES TWEEDLE_SECRET_ACCESS_KEY=examples/secret
export AWS_ACCESS_KEY_ID=$TWEEDLE_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$TWEEDLE_SECRET_ACCESS_KEY
export AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL="http://127.0.0.1:$port"
# built-in metrics every 2 s and alarms checked every second: the jobs example
# shows its metrics and a 10-second alarm within its run
TWEEDLE_ALARM_TICK_MS=1000 "$BIN" serve --listen "127.0.0.1:$port" --data "$data" \
  --metrics-interval 2 >"$data/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  curl -sf "$AWS_ENDPOINT_URL/_/health" >/dev/null && break
  sleep 0.1
done
pass=0 fail=0
run() { # name, command...
  local name=$1; shift
  if timeout 300 "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; tail -20 "$data/server.log"; fi
}
run "producer-consumer (S0): 100 objects through presigned URLs and events" \
  bash examples/producer-consumer/run.sh 100
run "producer-consumer (S0) through the gateway: API keys only, no AWS credentials on the producers" \
  bash examples/producer-consumer/run.sh --gateway 100
run "pipeline (S4): records through has_raw -> size_100 -> size_200, libvips thumbnails" \
  bash examples/pipeline/run.sh 5
run "large-payloads (S1): a 50 MiB message through send -> worker -> handler" \
  bash examples/large-payloads/run.sh 50
run "jobs (S3): API key, curl submits, worker --jobs, presigned results, a poison job; its metrics, alarm and dashboard" \
  bash examples/jobs/run.sh 3
run "thumbnails (S2): S3 -> EventBridge -> queue with DLQ -> worker (libvips 64x64 PNG) -> lifecycle bucket -> SNS email and queue" \
  bash examples/thumbnails/run.sh 4
echo "SUMMARY passed=$pass failed=$fail skipped=0"
[ "$fail" -eq 0 ]
