#!/usr/bin/env bash
# Seed S1 (001) large payloads: a message far above SQS's size limit goes
# through `tweedle send` (the body to the object store, a pointer in the
# message, as AWS's SQS Extended Client libraries do), `tweedle worker` (the
# pointer resolved before the handler runs) and a Lambda-style handler that
# checks the body's sha256. The payload object is gone afterwards. Needs a
# running tweedle (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
#   ./run.sh [MiB]     payload size (default 50); prints PASS or FAIL
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tweedle=${TWEEDLE_BIN:-$here/../../build/tweedle}
mib=${1:-50}
: "${AWS_DEFAULT_REGION:=us-east-1}"
export AWS_DEFAULT_REGION AWS_REGION=${AWS_REGION:-$AWS_DEFAULT_REGION}
run_id=$(date +%s)-$$
bucket=payloads-$run_id
work=$(mktemp -d)
export RESULTS=$work/results
mkdir -p "$RESULTS"
worker_pid=
cleanup() {
  if [ -n "$worker_pid" ]; then kill -TERM "$worker_pid" 2>/dev/null; sleep 0.3; kill -TERM "$worker_pid" 2>/dev/null; wait "$worker_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
queue=$(python3 -c '
import os, sys, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"), region_name=os.environ["AWS_DEFAULT_REGION"])
print(sqs.create_queue(QueueName="big-" + sys.argv[1], Attributes={"VisibilityTimeout": "120"})["QueueUrl"])' "$run_id")
# A text payload (what the Extended Client libraries carry: a UTF-8 string).
head -c $((mib * 786432)) /dev/urandom | base64 -w 0 >"$work/payload.txt"
sha=$(sha256sum "$work/payload.txt" | cut -d' ' -f1)
sent=$("$tweedle" send --queue "$queue" --file "$work/payload.txt" --bucket "$bucket" --attr "sha256=$sha")
echo "producer: $sent"
key=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["Payload"]["Key"])' "$sent")
"$tweedle" worker --queue "$queue" --exec "python3 $here/handler.py" --metrics-interval 0 2>"$work/worker.log" &
worker_pid=$!
for _ in $(seq 1 600); do
  [ -n "$(ls -A "$RESULTS")" ] && break
  kill -0 "$worker_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$(ls -A "$RESULTS")" ]; then
  tail -20 "$work/worker.log"; echo "FAIL large-payloads: the handler did not accept the payload"; exit 1
fi
# The worker deletes the message, then the payload object.
gone=0
for _ in $(seq 1 100); do
  if ! python3 -c '
import os, sys, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"), region_name=os.environ["AWS_DEFAULT_REGION"], config=Config(s3={"addressing_style": "path"}))
s3.head_object(Bucket=sys.argv[1], Key=sys.argv[2])' "$bucket" "$key" 2>/dev/null; then gone=1; break; fi
  sleep 0.1
done
[ "$gone" = 1 ] || { tail -20 "$work/worker.log"; echo "FAIL large-payloads: the payload object is still there"; exit 1; }
echo "PASS large-payloads: $(cat "$RESULTS"/*| cut -d' ' -f1) bytes through send -> worker -> handler, sha256 checked, payload removed"
