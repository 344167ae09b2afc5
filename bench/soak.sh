#!/usr/bin/env bash
# Soak test (issue 16 item 4): one tweedle server under mixed load at about half
# of its measured capacity for SOAK_MINUTES minutes, sampled every minute, with
# the table and a first-vs-last-10-minutes summary (bench/soak_report.py)
# written to RESULTS under "Soak (issue 16 item 4)".
#
#   bash bench/soak.sh                       # 60 minutes, writes bench/RESULTS.md
#   SOAK_MINUTES=1 bash bench/soak.sh        # smoke: 5 s max runs, 1 minute, checks the
#                                            # tool works; writes $WORK/soak.md only
#
# 1. The maximum: each workload alone for MAX_SECONDS on MAX_CONNECTIONS
#    connections against the fresh server.
# 2. The soak: every minute, all workloads at once as `tweedle bench --json
#    --duration 55 --rate R_i` processes (restarted each minute), where
#    R_i = SOAK_FRACTION * max_i / (number of workloads): together they ask
#    about SOAK_FRACTION of what the server can do. In minute k, at second
#    SAMPLE_AT, the server's VmRSS, VmHWM, open fds, threads, the data
#    directory's size, the SQS queues' depth (/_/metrics) and the load
#    average are sampled; throughput and p50/p99 come from the benches' JSON.
#
# Workloads (SOAK_WORKLOADS, any subset of "cycle fifo s3put s3get jobs"):
#   cycle  SQS standard queue: SendMessageBatch(10) -> ReceiveMessage -> DeleteMessageBatch
#   fifo   the same on a .fifo queue (a message group per connection, a
#          deduplication id per message)
#   s3put  4 KiB PutObject, overwriting S3_KEYS keys (a bounded data set, so the
#          data directory should stay flat)
#   s3get  4 KiB GetObject over 100 keys
#   jobs   POST /_/api/v1/jobs; not in the default set: nothing consumes the
#          jobs, so their queue and job rows grow by design
#
# Knobs: SOAK_MINUTES=60 SOAK_WORKLOADS="cycle fifo s3put s3get" SOAK_FRACTION=0.5
#   MAX_SECONDS=20 MAX_CONNECTIONS=64 SOAK_CONNECTIONS=16 S3_KEYS=1000 SAMPLE_AT=50
#   TWEEDLE_BIN=build/tweedle RESULTS=bench/RESULTS.md SOAK_TMP=/tmp/tweedle-soak KEEP=1
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
# the knobs given, for the command line in the report
declare -A ENV_SET
for v in SOAK_MINUTES SOAK_WORKLOADS SOAK_FRACTION MAX_SECONDS MAX_CONNECTIONS SOAK_CONNECTIONS \
  S3_KEYS SAMPLE_AT TWEEDLE_BIN; do
  [ -n "${!v+x}" ] && ENV_SET[$v]=1
done
SOAK_MINUTES=${SOAK_MINUTES:-60}
SMOKE=0
[ "$SOAK_MINUTES" -le 1 ] && SMOKE=1
SOAK_WORKLOADS=${SOAK_WORKLOADS:-"cycle fifo s3put s3get"}
SOAK_FRACTION=${SOAK_FRACTION:-0.5}
if [ "$SMOKE" = 1 ]; then MAX_SECONDS=${MAX_SECONDS:-5}; else MAX_SECONDS=${MAX_SECONDS:-20}; fi
MAX_CONNECTIONS=${MAX_CONNECTIONS:-64}
SOAK_CONNECTIONS=${SOAK_CONNECTIONS:-16}
S3_KEYS=${S3_KEYS:-1000}
SAMPLE_AT=${SAMPLE_AT:-50}
BENCH_SECONDS=55
TWEEDLE_BIN=${TWEEDLE_BIN:-build/tweedle}
SOAK_TMP=${SOAK_TMP:-/tmp/tweedle-soak}
if [ "$SMOKE" = 1 ]; then RESULTS=${RESULTS:-}; else RESULTS=${RESULTS:-bench/RESULTS.md}; fi

for wl in $SOAK_WORKLOADS; do
  case $wl in cycle | fifo | s3put | s3get | jobs) ;; *)
    echo "soak.sh: unknown workload $wl (cycle fifo s3put s3get jobs)" >&2
    exit 2
    ;;
  esac
done
NWL=$(wc -w <<<"$SOAK_WORKLOADS")
[ -x "$TWEEDLE_BIN" ] || { echo "soak.sh: $TWEEDLE_BIN not built (make all)" >&2; exit 2; }
TWEEDLE_BIN=$(realpath "$TWEEDLE_BIN")

WORK=$(mktemp -d "$SOAK_TMP.XXXXXX")
DATA=$WORK/data
TW_PID=
BENCH_PIDS=()
cleanup() {
  for p in "${BENCH_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$TW_PID" ] && kill "$TW_PID" 2>/dev/null && wait "$TW_PID" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "soak.sh: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

export TWEEDLE_ACCESS_KEY_ID=tweedle-bench TWEEDLE_SECRET_ACCESS_KEY=tweedle-bench-secret
PORT=$(free_port)
EP=http://127.0.0.1:$PORT
METRICS_TOKEN=soak-$RANDOM$RANDOM
SERVER_CMD="$TWEEDLE_BIN serve --listen 127.0.0.1:$PORT --data $DATA --metrics-token $METRICS_TOKEN"
mkdir -p "$DATA"
# the per-request log goes to a file outside the data directory
$SERVER_CMD 2>"$WORK/server.log" >/dev/null &
TW_PID=$!
for _ in $(seq 1 100); do
  curl -s -o /dev/null -m 1 "$EP/_/health" && break
  kill -0 "$TW_PID" 2>/dev/null || { echo "soak.sh: the server died" >&2; tail "$WORK/server.log" >&2; exit 1; }
  sleep 0.1
done

# bench_args WORKLOAD: the tweedle bench options of a workload (without timing and rate)
bench_args() {
  case $1 in
    cycle) echo "--workload cycle --queue tweedle-soak" ;;
    fifo) echo "--workload cycle --queue tweedle-soak.fifo" ;;
    s3put) echo "--workload s3put --object-size 4096 --objects $S3_KEYS --bucket tweedle-soak" ;;
    s3get) echo "--workload s3get --object-size 4096 --objects 100 --bucket tweedle-soak" ;;
    jobs) echo "--workload jobs" ;;
  esac
}
# the rate unit of each workload's JSON line
rate_key() { case $1 in cycle | fifo | jobs) echo msgs_per_s ;; *) echo objects_per_s ;; esac; }
json_get() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline()).get(sys.argv[2], 0))' "$@"; }

BENCH="$TWEEDLE_BIN bench --endpoint $EP --server-pid $TW_PID --json"

# 1. the maximum, each workload alone
echo "soak.sh: server $TW_PID on $EP, work dir $WORK; measuring the maximum (${MAX_SECONDS} s each)" >&2
LOAD_MAX=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A MAX RATE
for wl in $SOAK_WORKLOADS; do
  # shellcheck disable=SC2046 # bench_args is a list of options
  $BENCH $(bench_args "$wl") --connections "$MAX_CONNECTIONS" --duration "$MAX_SECONDS" \
    >"$WORK/max-$wl.json" 2>"$WORK/max-$wl.txt" || true
  if ! [ -s "$WORK/max-$wl.json" ]; then
    echo "soak.sh: the maximum run of $wl failed:" >&2
    cat "$WORK/max-$wl.txt" >&2
    exit 1
  fi
  MAX[$wl]=$(json_get "$WORK/max-$wl.json" "$(rate_key "$wl")")
  RATE[$wl]=$(python3 -c "print(max(1, round($SOAK_FRACTION * ${MAX[$wl]} / $NWL)))")
  echo "  $wl: max ${MAX[$wl]} /s -> soak rate ${RATE[$wl]} /s" >&2
done

# 2. the soak
{
  echo "soak_minutes=$SOAK_MINUTES"
  echo "workloads=$SOAK_WORKLOADS"
  echo "fraction=$SOAK_FRACTION"
  echo "max_seconds=$MAX_SECONDS"
  echo "max_connections=$MAX_CONNECTIONS"
  echo "soak_connections=$SOAK_CONNECTIONS"
  echo "s3_keys=$S3_KEYS"
  echo "server_cmd=$SERVER_CMD"
  echo "load_at_max=$LOAD_MAX"
  for wl in $SOAK_WORKLOADS; do
    echo "max_$wl=${MAX[$wl]}"
    echo "rate_$wl=${RATE[$wl]}"
    echo "cmd_$wl=tweedle bench --endpoint $EP --server-pid $TW_PID --json $(bench_args "$wl") --connections $SOAK_CONNECTIONS --duration $BENCH_SECONDS --warmup 1 --rate ${RATE[$wl]}"
  done
  # SOAK_GIT_REV: what the binary was built from, when it is not this tree
  echo "git_rev=${SOAK_GIT_REV:-$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+local changes')}"
  knobs=
  for v in SOAK_MINUTES SOAK_WORKLOADS SOAK_FRACTION MAX_SECONDS MAX_CONNECTIONS SOAK_CONNECTIONS \
    S3_KEYS SAMPLE_AT TWEEDLE_BIN; do
    [ -n "${!v+x}" ] && [ -n "${ENV_SET[$v]:-}" ] && knobs="$knobs $v=\"${!v}\""
  done
  echo "command=${knobs# } bash bench/soak.sh"
  echo "version=$("$TWEEDLE_BIN" version 2>/dev/null | head -1 || echo '?')"
  echo "started=$(date -u +%FT%TZ)"
} >"$WORK/meta.txt"

# the server's figures, one JSON line
sample() { # minute
  local m=$1 st fds dsz wal log metrics
  st=$(cat "/proc/$TW_PID/status")
  fds=$(ls "/proc/$TW_PID/fd" | wc -l)
  dsz=$(du -sk "$DATA" | cut -f1)
  wal=$(stat -c %s "$DATA/tweedle.db-wal" 2>/dev/null || echo 0)
  log=$(stat -c %s "$WORK/server.log")
  metrics=$(curl -s -m 5 -H "Authorization: Bearer $METRICS_TOKEN" "$EP/_/metrics" || true)
  cp /proc/$TW_PID/smaps_rollup "$WORK/smaps-$m.txt" 2>/dev/null || true
  cp /proc/$TW_PID/smaps "$WORK/smaps-full-$m.txt" 2>/dev/null || true
  python3 - "$m" "$fds" "$dsz" "$wal" "$log" "$(cut -d' ' -f1-3 /proc/loadavg)" "$st" "$metrics" <<'PY'
import json, re, sys
m, fds, dsz, wal, log, load, st, metrics = sys.argv[1:9]
kb = lambda k: int(re.search(r"^%s:\s+(\d+)" % k, st, re.M).group(1))
depth = {}
for line in metrics.splitlines():
    g = re.match(r'tweedle_sqs_messages_(visible|in_flight|delayed)\{queue="(tweedle-soak[^"]*)"\}\s+(\S+)', line)
    if g:
        depth[g.group(2)] = depth.get(g.group(2), 0) + int(float(g.group(3)))
print(json.dumps({"minute": int(m), "rss_kb": kb("VmRSS"), "hwm_kb": kb("VmHWM"),
                  "threads": kb("Threads"), "fds": int(fds), "data_kb": int(dsz),
                  "wal_bytes": int(wal), "log_bytes": int(log), "load": load, "queue_depth": depth}))
PY
}

T0=$(date +%s)
for m in $(seq 1 "$SOAK_MINUTES"); do
  start=$((T0 + (m - 1) * 60))
  now=$(date +%s)
  [ "$now" -lt "$start" ] && sleep $((start - now))
  BENCH_PIDS=()
  for wl in $SOAK_WORKLOADS; do
    extra=
    [ "$wl" = s3get ] && [ "$m" -gt 1 ] && extra=--no-populate
    # shellcheck disable=SC2046 # bench_args is a list of options
    $BENCH $(bench_args "$wl") $extra --connections "$SOAK_CONNECTIONS" --duration "$BENCH_SECONDS" \
      --warmup 1 --rate "${RATE[$wl]}" >"$WORK/m$m-$wl.json" 2>"$WORK/m$m-$wl.txt" &
    BENCH_PIDS+=($!)
  done
  now=$(date +%s)
  [ "$now" -lt $((start + SAMPLE_AT)) ] && sleep $((start + SAMPLE_AT - now))
  kill -0 "$TW_PID" 2>/dev/null || { echo "soak.sh: the server died in minute $m" >&2; tail "$WORK/server.log" >&2; exit 1; }
  sample "$m" >"$WORK/s$m.json"
  for p in "${BENCH_PIDS[@]}"; do wait "$p" || true; done
  BENCH_PIDS=()
  echo "  minute $m: $(cat "$WORK/s$m.json")" >&2
done
echo "finished=$(date -u +%FT%TZ)" >>"$WORK/meta.txt"
# after the load: the server idle for a moment, for comparison
sleep 5
sample 0 >"$WORK/s-idle.json"

export WORK RESULTS SMOKE
python3 "$ROOT/bench/soak_report.py"
