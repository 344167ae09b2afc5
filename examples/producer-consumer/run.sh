#!/usr/bin/env bash
# Seed S0 end to end against a running tweedle (or AWS): set up the bucket,
# queue and DLQ, upload N objects with plain curl through presigned PUT URLs,
# and consume every event, downloading through presigned GET URLs.
#   AWS_ENDPOINT_URL=http://127.0.0.1:9324 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... ./run.sh [N]
# ./run.sh --gateway [N]: the same chain through tweedle's gateway, producers
# and consumer with API keys only (run-gateway.sh; see README.md).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" = --gateway ]; then
  shift
  exec bash "$here/run-gateway.sh" "$@"
fi
n=${1:-100}
: "${AWS_DEFAULT_REGION:=us-east-1}"
export AWS_DEFAULT_REGION
setup=$(python3 "$here/setup.py")
bucket=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["bucket"])' <<<"$setup")
queue=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["queue_url"])' <<<"$setup")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The producer: no credentials, only URLs from the API and curl.
keys=()
for i in $(seq 1 "$n"); do
  head -c $((RANDOM * 7 + i)) /dev/urandom >"$work/$i"
  keys+=("input/$(sha256sum "$work/$i" | cut -d' ' -f1).bin")
done
mapfile -t urls < <(python3 "$here/presign.py" put "$bucket" "${keys[@]}")
for i in $(seq 1 "$n"); do
  curl -sf -X PUT --data-binary @"$work/$i" "${urls[$((i - 1))]}" -o /dev/null
done
echo "producer: uploaded $n objects"
EXPECT=$n python3 "$here/consumer.py" "$queue"
