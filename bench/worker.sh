#!/usr/bin/env bash
# Messages per second through `tweedle worker` with a no-op handler, against a
# tweedle server started here (free port, temporary data directory):
#   persistent  --exec-persistent, a Python handler answering each event line
#               with an empty line (bytes I/O), batches of 10
#   exec        --exec 'true', one process per batch of 10
# The queue is filled first (tweedle bench --workload send); the clock runs
# from the worker's start until the queue is empty (every message deleted).
#
#   bash bench/worker.sh                   (about a minute)
#   MODES="exec" MESSAGES=20000 CONCURRENCY=4 bash bench/worker.sh
#
# Knobs: MODES="persistent exec"  PERSISTENT_MESSAGES=200000  EXEC_MESSAGES=40000
#        CONCURRENCY=8 (worker slots)  BODY_SIZE=100  TWEEDLE_BIN=build/tweedle  KEEP=1
#        WORKER_JSON=PREFIX: also writes PREFIX-MODE.json (bench/compare.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${TWEEDLE_BIN:-build/tweedle}
MODES=${MODES:-"persistent exec"}
PERSISTENT_MESSAGES=${PERSISTENT_MESSAGES:-${MESSAGES:-200000}}
EXEC_MESSAGES=${EXEC_MESSAGES:-${MESSAGES:-40000}}
CONCURRENCY=${CONCURRENCY:-8}
BODY_SIZE=${BODY_SIZE:-100}

[ -x "$BIN" ] || { echo "build first: make" >&2; exit 1; }
WORK=$(mktemp -d /tmp/tweedle-wbench-XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export AWS_ACCESS_KEY_ID=AKIDWORKERBENCH AWS_SECRET_ACCESS_KEY=worker-bench-secret
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
EP=http://127.0.0.1:$PORT
SERVER_PID=
WORKER_PID=
cleanup() {
  [ -n "$WORKER_PID" ] && kill "$WORKER_PID" 2>/dev/null || true
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

TWEEDLE_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID TWEEDLE_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
  "$BIN" serve --listen 127.0.0.1:$PORT --data "$WORK/data" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do curl -sf "$EP/_/health" >/dev/null 2>&1 && break; sleep 0.1; done

# Waits until the queue is empty (nothing visible, nothing in flight) while the
# worker lives; prints the wall-clock time then (epoch seconds).
wait_empty() { # queue worker-pid
  python3 - "$EP" "$1" "$2" <<'PY'
import os, sys, time, boto3
c = boto3.client("sqs", endpoint_url=sys.argv[1])
url = c.get_queue_url(QueueName=sys.argv[2])["QueueUrl"]
names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
while True:
    a = c.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    if a[names[0]] == "0" and a[names[1]] == "0":
        print("%.3f" % time.time())
        break
    try:
        os.kill(int(sys.argv[3]), 0)
    except OSError:
        sys.exit("the worker died")
    time.sleep(0.05)
PY
}

# CPU seconds (user + system) a process has used so far.
cpu_secs() {
  awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}

run() { # mode messages handler-flag handler
  local mode=$1 n=$2 flag=$3 handler=$4 q=wbench-$1
  "$BIN" bench --endpoint "$EP" --workload send --queue "$q" --messages "$n" --batch 10 \
    --body-size "$BODY_SIZE" --connections 16 >"$WORK/fill-$mode.log" 2>&1
  local t0 t1 s0
  s0=$(cpu_secs "$SERVER_PID")
  t0=$(date +%s.%N)
  "$BIN" worker --queue "$q" --endpoint "$EP" "$flag" "$handler" --batch-size 10 \
    --concurrency "$CONCURRENCY" --poll-wait 1 --metrics-interval 0 >"$WORK/worker-$mode.log" 2>&1 &
  WORKER_PID=$!
  t1=$(wait_empty "$q" "$WORKER_PID") || { tail "$WORK/worker-$mode.log" >&2; exit 1; }
  local wcpu scpu hcpu=0 c
  wcpu=$(cpu_secs "$WORKER_PID" self)
  # the handler processes (persistent mode: they live as long as the worker)
  for c in $(cat /proc/"$WORKER_PID"/task/*/children 2>/dev/null); do
    hcpu=$(echo "$hcpu + $(cpu_secs "$c")" | bc)
  done
  kill "$WORKER_PID"; wait "$WORKER_PID" || true; WORKER_PID=
  scpu=$(cpu_secs "$SERVER_PID" self)
  local stats
  stats=$(grep -o 'processed=[0-9]* failed=[0-9]*.*handler_p99_ms=[0-9.]*' "$WORK/worker-$mode.log" | tail -1)
  python3 - "$n" "$(echo "$t1 - $t0" | bc)" "$mode" "$wcpu" "$(echo "$scpu - $s0" | bc)" "$stats" "$hcpu" <<'PY'
import sys
n, t, mode, wcpu, scpu, stats = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
hcpu = float(sys.argv[7])
print("%-11s %8d messages %7.2f s %9.0f msg/s  worker CPU %4.0f us/msg  server CPU %4.0f us/msg" % (mode, n, t, n / t, wcpu * 1e6 / n, scpu * 1e6 / n))
if hcpu:
    print("            handler CPU %4.0f us/msg (persistent handler processes)" % (hcpu * 1e6 / n))
print("            %s" % stats)
import json, os
if os.environ.get("WORKER_JSON"):  # bench/compare.sh's worker row
    with open(os.environ["WORKER_JSON"] + "-" + mode + ".json", "w") as f:
        json.dump({"mode": mode, "messages": n, "seconds": t, "msgs_per_s": n / t,
                   "worker_cpu_us_per_msg": wcpu * 1e6 / n, "server_cpu_us_per_msg": scpu * 1e6 / n,
                   "handler_cpu_us_per_msg": hcpu * 1e6 / n, "stats": stats}, f)
PY
}

# The no-op persistent handler: an empty answer line per event line. Bytes in,
# one unbuffered write out: no UTF-8 decoding of the event or flush machinery,
# so the figure measures the worker and the server more than Python's text I/O.
cat >"$WORK/noop.py" <<'PY'
import os, sys
for line in sys.stdin.buffer:
    os.write(1, b"\n")
PY

echo "# tweedle worker: batches of 10, concurrency $CONCURRENCY, $BODY_SIZE-byte bodies, $(nproc) cores"
for m in $MODES; do
  case $m in
    persistent) run persistent "$PERSISTENT_MESSAGES" --exec-persistent "python3 $WORK/noop.py" ;;
    exec) run exec "$EXEC_MESSAGES" --exec true ;;
    *) echo "unknown mode $m" >&2; exit 2 ;;
  esac
done
