#!/usr/bin/env bash
# Seed S2 (002), the thumbnail system, end to end on its own tweedle: HD images
# -> S3 -> EventBridge rule -> practiceQ (DLQ after 3 tries) -> `tweedle worker`
# making 64x64 PNGs with libvips -> thumbnails bucket (lifecycle) -> presigned
# URL -> SNS topic -> an email subscriber (a local SMTP sink) and a queue.
# Needs python3 with boto3 and vips (Debian libvips-tools).
#   ./run.sh [N]     N images (default 4); prints PASS or FAIL
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tweedle=${TWEEDLE_BIN:-$here/../../build/tweedle}
n=${1:-4}
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port) smtp=$(free_port)
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-AKIDTHUMBS} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-thumbs/secret}
export TWEEDLE_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID TWEEDLE_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_ENDPOINT_URL="http://127.0.0.1:$port"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
python3 "$here/smtp_sink.py" "$smtp" "$work/mail" &
pids+=($!)
# a lifecycle "day" of 5 seconds, so that the thumbnails expire during the run
"$tweedle" serve --listen "127.0.0.1:$port" --data "$work/data" --lifecycle-day-seconds 5 \
  --smtp-url "smtp://127.0.0.1:$smtp" --smtp-from thumbnails@tweedle.local >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -sf "$AWS_ENDPOINT_URL/_/health" >/dev/null && break; sleep 0.1; done
setup=$(DAYS=1 python3 "$here/setup.py")
topic=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["topic_arn"])' "$setup")
TOPIC_ARN=$topic "$tweedle" worker --queue practiceQ --exec "python3 $here/handler.py" \
  --batch-size 1 --retry-delay 0 >"$work/worker.log" 2>&1 &
pids+=($!)
if ! WORKER_LOG=$work/worker.log python3 "$here/check.py" "$setup" "$work/mail" "$n"; then
  echo "--- worker"; tail -20 "$work/worker.log"; echo "--- server"; tail -20 "$work/server.log"
  exit 1
fi
