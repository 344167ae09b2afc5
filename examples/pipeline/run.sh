#!/usr/bin/env bash
# Seed S4 (004) end to end: records {"stock_no": ...} go through the states
# has_raw -> size_100 -> size_200 with `tweedle pipeline`; the mutations make a
# raw picture and real 100 px and 200 px thumbnails with libvips. Needs a
# running tweedle (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY),
# python3 with boto3, and vips (Debian libvips-tools).
#   ./run.sh [N]      N records (default 5); prints PASS or FAIL
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tweedle=${TWEEDLE_BIN:-$here/../../build/tweedle}
n=${1:-5}
: "${AWS_DEFAULT_REGION:=us-east-1}"
export AWS_DEFAULT_REGION AWS_REGION=${AWS_REGION:-$AWS_DEFAULT_REGION}
run_id=$(date +%s)-$$
export BUCKET=thumbnails-$run_id
work=$(mktemp -d)
pipeline_pid=
cleanup() {
  if [ -n "$pipeline_pid" ]; then kill -TERM "$pipeline_pid" 2>/dev/null; sleep 0.3; kill -TERM "$pipeline_pid" 2>/dev/null; wait "$pipeline_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
# The queue (visibility 1 minute, as in the seed) with a dead-letter queue, and the bucket.
read -r QUEUE_URL DLQ_URL < <(python3 - <<PY
import json, os, boto3
from botocore.config import Config
ep, rg = os.environ.get("AWS_ENDPOINT_URL"), os.environ["AWS_DEFAULT_REGION"]
sqs = boto3.client("sqs", endpoint_url=ep, region_name=rg)
s3 = boto3.client("s3", endpoint_url=ep, region_name=rg, config=Config(s3={"addressing_style": "path"}))
dlq = sqs.create_queue(QueueName="records-dlq-$run_id")["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
q = sqs.create_queue(QueueName="records-$run_id", Attributes={"VisibilityTimeout": "60",
    "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 3})})["QueueUrl"]
s3.create_bucket(Bucket=os.environ["BUCKET"])
print(q, dlq)
PY
)
export QUEUE_URL DLQ_URL
# The runtime: the author wrote only router.py and mutations.py.
PYTHONPATH=$here "$tweedle" pipeline --queue "$QUEUE_URL" --exec "python3 $here/router.py" \
  --concurrency 4 --metrics-interval 0 2>"$work/pipeline.log" &
pipeline_pid=$!
# The producer: the initial state of each record.
stocks=()
for i in $(seq 1 "$n"); do
  stock=STK$((650000 + i))
  stocks+=("$stock")
  "$tweedle" send --queue "$QUEUE_URL" --body "{\"stock_no\":\"$stock\"}" >/dev/null
done
echo "producer: $n records queued"
if PYTHONPATH=$here python3 "$here/check.py" "${stocks[@]}"; then
  grep -q "at-least-once" "$work/pipeline.log" && { echo "FAIL: the steps were not atomic"; exit 1; }
  echo "PASS pipeline: $n records through has_raw -> size_100 -> size_200, thumbnails checked"
else
  tail -20 "$work/pipeline.log"
  echo "FAIL pipeline"
  exit 1
fi
