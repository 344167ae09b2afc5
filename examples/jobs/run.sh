#!/usr/bin/env bash
# Seed S3 (003) queue-based ingestion end to end: an API key; curl submits jobs
# to the job API; `tweedle worker --jobs` runs a batch simulator that writes
# random weather data as each job's output; curl polls the job status until it
# succeeded and downloads the result through its presigned URL. One poison job
# fails on every try, goes to the dead-letter queue, and ends "failed". Needs a
# running tweedle (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)
# with the default job queue (tweedle-jobs, 3 tries, then tweedle-jobs-dlq).
#   ./run.sh [N]      N weather jobs (default 3); prints PASS or FAIL
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tweedle=${TWEEDLE_BIN:-$here/../../build/tweedle}
n=${1:-3}
: "${AWS_DEFAULT_REGION:=us-east-1}"
export AWS_DEFAULT_REGION
TW=${AWS_ENDPOINT_URL:?set AWS_ENDPOINT_URL}
results=weather-results-$(date +%s)-$$
work=$(mktemp -d)
worker_pid=
cleanup() {
  if [ -n "$worker_pid" ]; then kill -TERM "$worker_pid" 2>/dev/null; sleep 0.3; kill -TERM "$worker_pid" 2>/dev/null; wait "$worker_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
field() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[k] if d is not None else None
print("" if d is None else d)' "$1"; }
fail() { echo "FAIL jobs: $*"; tail -15 "$work/worker.log" 2>/dev/null; exit 1; }

# The operator: one API key for clients and the worker (a real deployment
# would give them separate keys: jobs:submit + jobs:read, and jobs:update).
KEY=$("$tweedle" apikey create --name "weather-$$" --scope 'jobs:*' --endpoint "$TW" 2>/dev/null | field key)
[ -n "$KEY" ] || fail "no API key"
AUTH="Authorization: Bearer $KEY"

# The worker: the job queue, the simulator as the handler, results to a bucket.
"$tweedle" worker --queue tweedle-jobs --jobs --api-key "$KEY" --results-bucket "$results" \
  --exec "python3 $here/simulator.py" --batch-size 1 --retry-delay 1 --metrics-interval 0 \
  2>"$work/worker.log" &
worker_pid=$!

# The clients: submit jobs with curl.
ids=()
for i in $(seq 1 "$n"); do
  city=$(echo Oslo Lima Perth Quito Dakar Hanoi | cut -d' ' -f$(((i - 1) % 6 + 1)))
  resp=$(curl -sf -X POST "$TW/_/api/v1/jobs" -H "$AUTH" -H 'Content-Type: application/json' \
    -d "{\"type\":\"weather-report\",\"payload\":{\"city\":\"$city\",\"days\":$((i + 2))}}")
  ids+=("$(field id <<<"$resp")")
done
poison=$(curl -sf -X POST "$TW/_/api/v1/jobs" -H "$AUTH" -H 'Content-Type: application/json' \
  -d '{"type":"weather-report","payload":{"city":"Atlantis","days":1}}' | field id)
echo "clients: submitted ${#ids[@]} jobs and a poison one"

# Poll each job until it is final (bounded), then fetch the result with plain curl.
wait_final() { # id -> prints the final status JSON
  local st
  for _ in $(seq 1 600); do
    st=$(curl -sf "$TW/_/api/v1/jobs/$1" -H "$AUTH")
    case "$(field status <<<"$st")" in succeeded | failed) echo "$st"; return 0 ;; esac
    sleep 0.1
  done
  echo "$st"
}
i=0
for id in "${ids[@]}"; do
  i=$((i + 1))
  st=$(wait_final "$id")
  [ "$(field status <<<"$st")" = succeeded ] || fail "job $id: $st"
  url=$(field result.url <<<"$st")
  curl -sf -o "$work/$id.json" "$url" || fail "job $id: presigned download"
  python3 - "$work/$id.json" "$id" "$((i + 2))" <<'PY' || fail "job $id: bad report"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["job"] == sys.argv[2] and len(r["forecast"]) == int(sys.argv[3]), r
assert all(-10 <= d["temperature_c"] <= 35 for d in r["forecast"]), r
PY
done
echo "clients: ${#ids[@]} jobs succeeded; reports downloaded through presigned URLs"

# The poison job: failed, and after maxReceiveCount tries its message is in the DLQ.
st=""
for _ in $(seq 1 300); do
  st=$(curl -sf "$TW/_/api/v1/jobs/$poison" -H "$AUTH")
  dlq=$(python3 -c '
import os, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_DEFAULT_REGION"])
url = sqs.get_queue_url(QueueName="tweedle-jobs-dlq")["QueueUrl"]
ids = set()
for _ in range(3):
    for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                 MessageAttributeNames=["All"]).get("Messages", []):
        ids.add(m["MessageAttributes"]["tweedle.job_id"]["StringValue"])
print(" ".join(sorted(ids)))')
  [ "$(field status <<<"$st")" = failed ] && [[ " $dlq " == *" $poison "* ]] && break
  sleep 0.2
done
[ "$(field status <<<"$st")" = failed ] || fail "poison job: $st"
[[ " $dlq " == *" $poison "* ]] || fail "poison job not in the dead-letter queue ($st)"
echo "poison job: $(field status <<<"$st") after $(field attempts <<<"$st") attempts, in the dead-letter queue"
echo "PASS jobs: $n weather reports, one poison job failed"
