#!/usr/bin/env bash
# Seed S0 end to end through tweedle's gateway (/_/api/v1/), the way the seed's
# API Gateway + Lambda serve it: only the admin step holds AWS credentials.
#   1. admin: bucket, queue + DLQ, the ObjectCreated notification (setup.py),
#      and two API keys (`tweedle apikey create`): the producer's may presign
#      PUTs under input/, the consumer's GETs under input/.
#   2. producers (producer.sh): run with an empty environment but for the
#      gateway's URL and their key; they get PUT URLs from POST /presign and
#      upload with plain curl.
#   3. the consumer (gateway_consumer.py): reads the S3 events from the queue
#      with an SQS client, gets a GET URL for each object from the gateway with
#      its key, downloads it over plain HTTP and checks it.
# The producers' receipts (key, sha256) must equal what the consumer fetched.
#   AWS_ENDPOINT_URL=http://127.0.0.1:9324 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... ./run-gateway.sh [N]
# (also: ./run.sh --gateway [N]). N objects (default 100) from 4 producers.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tweedle=${TWEEDLE_BIN:-$here/../../build/tweedle}
n=${1:-100}
: "${AWS_DEFAULT_REGION:=us-east-1}"
export AWS_DEFAULT_REGION
TW=${AWS_ENDPOINT_URL:?set AWS_ENDPOINT_URL to the tweedle server}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# 1. The admin (AWS credentials).
setup=$(BUCKET=${BUCKET:-gateway-uploads} QUEUE=${QUEUE:-gateway-upload-events} python3 "$here/setup.py")
bucket=$(field bucket <<<"$setup")
queue=$(field queue_url <<<"$setup")
apikey() { # create options... -> the key (shown once)
  local out
  out=$("$tweedle" apikey create --endpoint "$TW" "$@" 2>"$work/apikey.err") || { cat "$work/apikey.err" >&2; return 1; }
  field key <<<"$out"
}
producer_key=$(apikey --name s0-producer --scope presign:put --bucket "$bucket" --prefix input/ \
  --max-bytes 10485760 --max-expires-in 900)
consumer_key=$(apikey --name s0-consumer --scope presign:get --bucket "$bucket" --prefix input/ \
  --max-expires-in 300)
echo "admin: bucket $bucket, queue $queue, a producer key and a consumer key"

# 2. Producers: nothing in the environment but the gateway and their key.
for i in $(seq 1 "$n"); do
  head -c $((RANDOM * 7 + i)) /dev/urandom >"$work/$i.bin"
done
pids=()
for p in 0 1 2 3; do
  files=()
  for i in $(seq $((p + 1)) 4 "$n"); do files+=("$work/$i.bin"); done
  [ ${#files[@]} -gt 0 ] || continue
  env -i PATH="$PATH" GATEWAY_URL="$TW" PRODUCER_KEY="$producer_key" \
    bash "$here/producer.sh" "${files[@]}" >"$work/receipts.$p" &
  pids+=($!)
done
for i in "${!pids[@]}"; do # on a failure, stop the producers not yet waited for
  wait "${pids[$i]}" || { echo "FAIL: a producer failed"; kill "${pids[@]:$((i + 1))}" 2>/dev/null; exit 1; }
done
cat "$work"/receipts.* | sort >"$work/produced"
echo "producers: uploaded $(wc -l <"$work/produced") objects through presigned PUT URLs"

# 3. The consumer: SQS for the events, the gateway and its key for the objects.
if ! GATEWAY_URL="$TW" CONSUMER_KEY="$consumer_key" EXPECT=$n \
  python3 "$here/gateway_consumer.py" "$queue" >"$work/consumed.raw"; then
  echo "FAIL: the consumer did not get all $n objects intact"
  exit 1
fi
sort "$work/consumed.raw" >"$work/consumed"
if ! diff "$work/produced" "$work/consumed" >"$work/diff"; then
  echo "FAIL: what the consumer fetched differs from what the producers uploaded:"
  head -20 "$work/diff"
  exit 1
fi
echo "PASS: $n objects, producer -> presigned PUT -> event -> presigned GET -> consumer, byte for byte"
