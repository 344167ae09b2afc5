#!/usr/bin/env bash
# Two tweedle builds back to back on the same workloads, alternating A B A B,
# each on a fresh server: what a change did to throughput and latency.
#   bash bench/ab.sh OLD_BINARY NEW_BINARY [ROUNDS]
# Workloads: SQS cycle (batches of 10), SendMessage (64 connections), S3 PUT
# 4 KiB, S3 GET 1 MiB (s3put64, s3get64: 64 MiB on 4 connections); DURATION seconds
# each (default 5); WL="cycle send" picks some; CLIENT=BIN sets the load generator.
set -euo pipefail
A=$1 B=$2 ROUNDS=${3:-2} DURATION=${DURATION:-5}
CLIENT=${CLIENT:-$B} # one load generator for both servers (the new build's `tweedle bench`)
# WORKLOADS="cycle send" to pick some; the S3 ones take their sizes here
declare -A ARGS=([cycle]="cycle" [send]="send" [s3put]="s3put --object-size 4096"
                 [s3get]="s3get --object-size 1048576 --objects 50"
                 [s3put64]="s3put --object-size 67108864 --connections 4"
                 [s3get64]="s3get --object-size 67108864 --objects 8 --connections 4")
WORKLOADS=()
for w in ${WORKLOADS_LIST:-${WL:-cycle send s3put s3get}}; do WORKLOADS+=("${ARGS[$w]}"); done
export TWEEDLE_ACCESS_KEY_ID=AKIDBENCH TWEEDLE_SECRET_ACCESS_KEY=benchsecret
export AWS_ACCESS_KEY_ID=$TWEEDLE_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$TWEEDLE_SECRET_ACCESS_KEY
port=$((20000 + RANDOM % 20000))
run() { # binary label
  local bin=$1 label=$2 dir pid
  dir=$(mktemp -d)
  "$bin" serve --listen 127.0.0.1:$port --data "$dir" >"$dir.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/_/health" >/dev/null && break; sleep 0.05; done
  local ep="--endpoint http://127.0.0.1:$port --server-pid $pid --duration $DURATION"
  local w
  for w in "${WORKLOADS[@]}"; do
    printf '%s\t%s\t' "$label" "${w%% *}"
    "$CLIENT" bench $ep --workload $w |
      grep -E '^  [0-9.]+ (msgs|requests|objects)/s|^  (server CPU)|^  (all requests|PutObject|GetObject) ' |
      sed -E 's/^ +//; s/ \(.*//; s/^(all requests|PutObject|GetObject) +n=[0-9]+ +(p50 +[0-9.]+) +p90 +[0-9.]+ +(p99 +[0-9.]+).*/\2 \3 ms/' |
      paste -sd ';' -
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir" "$dir.log"
}
for i in $(seq "$ROUNDS"); do
  run "$A" before
  run "$B" after
done
