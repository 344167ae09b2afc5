#!/usr/bin/env bash
# Runs the same SQS, SNS, CloudWatch and S3 workloads against tweedle and moto on this machine
# (and, for S3 GETs, against nginx serving the same files: the ceiling) and
# writes the comparison to bench/RESULTS.md (the tables: bench/report.py).
#
#   bash bench/compare.sh                          (or: make bench; about 5 minutes)
#   WORKLOADS="s3put s3get" bash bench/compare.sh
#
# Every server is started here (free ports, a temporary data directory) and
# stopped on exit. Knobs, all optional:
#   WORKLOADS="cycle send longpoll publish putmetric s3put s3get s3big worker"   any subset
#                      cycle, send: also run against nginx answering the same calls
#                      with canned replies (the HTTP ceiling), unless SKIP_NGINX=1
#                      s3put of 16 MiB and up: beside dd's fdatasync'd write (the disk ceiling)
#                      worker = bench/worker.sh --exec-persistent (WORKER_MESSAGES)
#                      s3big = one huge PUT to tweedle, watching its peak RSS
#                      publish = SNS Publish fanned out to FANOUT SQS queues
#                      putmetric = CloudWatch PutMetricData of DATUMS datums per call
#                      cluster = bench/cluster.py: cycle, send and 4 KiB PUT on 1, 2 and 3
#                      nodes on one private PostgreSQL, with the capacity model
#   DURATION=10        SQS: measured seconds per workload (after WARMUP)
#   WARMUP=1           unmeasured seconds before each measurement
#   CONNECTIONS=64     SQS: client connections for cycle and send
#   BODY_SIZE=100      SQS: message body in bytes
#   BATCH=10           SQS: messages per SendMessageBatch / DeleteMessageBatch (cycle)
#   WAIT=0             SQS: ReceiveMessage WaitTimeSeconds in the cycle workload
#   LP_CONNECTIONS=5000  parked long polls (tweedle only)
#   FANOUT=10          publish: queues subscribed to the topic
#   PUBLISH_MODES="raw enveloped"  publish: RawMessageDelivery on the subscriptions, or
#                      the signed JSON envelope (one RSA signature per publish)
#   MOTO_PUBLISH_CONNECTIONS=$CONNECTIONS  publish: moto's connections
#   DATUMS=20          putmetric: datums per PutMetricData (over METRIC_NAMES x 8 series)
#   METRIC_NAMES=10    putmetric: metric names the datums spread over
#   CW_PROTOCOL=json   putmetric: json (JSON 1.0, boto3 >= 1.42) or query, for both servers
#   MOTO_CW_PROTOCOL=$CW_PROTOCOL   putmetric: moto's, when it should differ
#   MOTO_CW_CONNECTIONS=$CONNECTIONS  putmetric: moto's connections
#   S3_SIZES="4096 1048576 67108864"   object sizes for s3put and s3get
#   S3_DURATION=5  S3_CONNECTIONS=64  S3_OBJECTS=100            objects under 16 MiB
#   S3_LARGE_DURATION=3  S3_LARGE_CONNECTIONS=4  S3_LARGE_OBJECTS=8   16 MiB and up
#   BIG_SIZE=5368709120  s3big's object (1 GiB when the disk lacks twice that + 2 GiB)
#   SKIP_MOTO=1  SKIP_NGINX=1
#   TWEEDLE_BIN=build/tweedle   MOTO_BIN=moto_server   NGINX_BIN=nginx
#   WORKER_MESSAGES=200000  worker: messages through the persistent handler
#   RESULTS=bench/RESULTS.md    KEEP=1 keeps the server logs
#   HISTORY=bench/history   every run's figures as JSON, one file a run (HISTORY= : none)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-64}
BODY_SIZE=${BODY_SIZE:-100}
BATCH=${BATCH:-10}
WAIT=${WAIT:-0}
LP_CONNECTIONS=${LP_CONNECTIONS:-5000}
FANOUT=${FANOUT:-10}
PUBLISH_MODES=${PUBLISH_MODES:-"raw enveloped"}
MOTO_PUBLISH_CONNECTIONS=${MOTO_PUBLISH_CONNECTIONS:-$CONNECTIONS}
DATUMS=${DATUMS:-20}
METRIC_NAMES=${METRIC_NAMES:-10}
CW_PROTOCOL=${CW_PROTOCOL:-json}
MOTO_CW_PROTOCOL=${MOTO_CW_PROTOCOL:-$CW_PROTOCOL}
MOTO_CW_CONNECTIONS=${MOTO_CW_CONNECTIONS:-$CONNECTIONS}
WORKLOADS=${WORKLOADS:-"cycle send longpoll publish putmetric s3put s3get s3big worker cluster"}
WORKER_MESSAGES=${WORKER_MESSAGES:-200000}
HISTORY=${HISTORY:-bench/history}
S3_SIZES=${S3_SIZES:-"4096 1048576 67108864"}
S3_DURATION=${S3_DURATION:-5}
S3_CONNECTIONS=${S3_CONNECTIONS:-64}
S3_OBJECTS=${S3_OBJECTS:-100}
S3_LARGE_DURATION=${S3_LARGE_DURATION:-3}
S3_LARGE_CONNECTIONS=${S3_LARGE_CONNECTIONS:-4}
S3_LARGE_OBJECTS=${S3_LARGE_OBJECTS:-8}
BIG_SIZE=${BIG_SIZE:-5368709120}
BUCKET=tweedle-bench
SKIP_MOTO=${SKIP_MOTO:-0}
SKIP_NGINX=${SKIP_NGINX:-0}
TWEEDLE_BIN=${TWEEDLE_BIN:-build/tweedle}
MOTO_BIN=${MOTO_BIN:-moto_server}
NGINX_BIN=${NGINX_BIN:-nginx}
RESULTS=${RESULTS:-bench/RESULTS.md}

has() { case " $WORKLOADS " in *" $1 "*) return 0 ;; esac; return 1; }
SQS_WORKLOADS=
for wl in $WORKLOADS; do
  case $wl in
    cycle | send) SQS_WORKLOADS="$SQS_WORKLOADS $wl" ;;
    longpoll | publish | putmetric | s3put | s3get | s3big | worker | cluster) ;;
    *) echo "compare.sh: unknown workload $wl" >&2; exit 2 ;;
  esac
done
has longpoll || LP_CONNECTIONS=0

if [ ! -x "$TWEEDLE_BIN" ]; then make -s all; fi
if [ "$SKIP_MOTO" != 1 ] && ! command -v "$MOTO_BIN" >/dev/null; then
  echo "compare.sh: $MOTO_BIN not found (pip install 'moto[server]', or SKIP_MOTO=1)" >&2
  exit 2
fi
# nginx serving the same files is the ceiling for GETs; installed when missing
if { has s3get || [ -n "$SQS_WORKLOADS" ]; } && [ "$SKIP_NGINX" != 1 ] && ! command -v "$NGINX_BIN" >/dev/null; then
  if [ -x /usr/sbin/nginx ]; then
    NGINX_BIN=/usr/sbin/nginx
  else
    SUDO=
    [ "$(id -u)" = 0 ] || SUDO=sudo
    echo "compare.sh: installing nginx for the GET ceiling (SKIP_NGINX=1 to go without)" >&2
    { $SUDO apt-get install -y nginx-light || $SUDO apt-get install -y nginx ||
      { $SUDO apt-get update && $SUDO apt-get install -y nginx-light; }; } >/dev/null 2>&1 || true
    [ -x /usr/sbin/nginx ] && NGINX_BIN=/usr/sbin/nginx
  fi
  if ! command -v "$NGINX_BIN" >/dev/null; then
    echo "compare.sh: nginx could not be installed (or run with SKIP_NGINX=1)" >&2
    exit 2
  fi
fi

WORK=$(mktemp -d /tmp/tweedle-bench.XXXXXX)
TW_PID= MOTO_PID= NG_PID=
COMMANDS=()
cleanup() {
  [ -n "$TW_PID" ] && kill "$TW_PID" 2>/dev/null && wait "$TW_PID" 2>/dev/null || true
  [ -n "$MOTO_PID" ] && kill "$MOTO_PID" 2>/dev/null && wait "$MOTO_PID" 2>/dev/null || true
  [ -n "$NG_PID" ] && kill "$NG_PID" 2>/dev/null && wait "$NG_PID" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # url: any HTTP answer means the server is up
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null -m 1 "$1"; then return 0; fi
    sleep 0.1
  done
  echo "compare.sh: nothing answers at $1" >&2
  return 1
}

# tweedle: fixed bench credentials, request log to a file, and a fresh
# process and data directory per workload, as moto gets below.
export TWEEDLE_ACCESS_KEY_ID=tweedle-bench TWEEDLE_SECRET_ACCESS_KEY=tweedle-bench-secret
TW_RUN=0
start_tweedle() {
  TW_RUN=$((TW_RUN + 1))
  TW_PORT=$(free_port)
  TW_CMD="$TWEEDLE_BIN serve --listen 127.0.0.1:$TW_PORT --data $WORK/data$TW_RUN"
  $TW_CMD 2>>"$WORK/tweedle.log" &
  TW_PID=$!
  COMMANDS+=("$TW_CMD &")
  wait_http "http://127.0.0.1:$TW_PORT/_/health"
}
stop_tweedle() {
  kill "$TW_PID" 2>/dev/null && wait "$TW_PID" 2>/dev/null || true
  TW_PID=
  rm -rf "$WORK/data$TW_RUN"
}

# moto gets a fresh process per workload: requests it has not answered when a
# run ends would otherwise keep it busy during the next one.
start_moto() {
  MOTO_PORT=$(free_port)
  MOTO_CMD="$MOTO_BIN -p $MOTO_PORT"
  $MOTO_CMD >>"$WORK/moto.log" 2>&1 &
  MOTO_PID=$!
  COMMANDS+=("$MOTO_CMD &")
  wait_http "http://127.0.0.1:$MOTO_PORT/"
}
stop_moto() {
  kill "$MOTO_PID" 2>/dev/null && wait "$MOTO_PID" 2>/dev/null || true
  MOTO_PID=
}

# nginx serves $WORK/www, holding the same object files the S3 GET runs read,
# with a minimal static-file config. NG_PIDS lists the master and its workers
# so that the bench sums their CPU time and memory.
# NG_MODE=files: static files (the GET ceiling); NG_MODE=sqs: fixed answers to
# the SQS JSON calls the bench makes (the HTTP ceiling for cycle and send:
# nginx reads each request and writes a canned reply of the same shape).
NG_MODE=files
nginx_server_block() {
  if [ "$NG_MODE" = files ]; then
    printf '  server {\n    listen 127.0.0.1:%s;\n    root %s/www;\n  }\n' "$NG_PORT" "$WORK"
    return
  fi
  local rh='AQEBexampleReceiptHandle0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyzAB'
  local msgs= ok= i
  for i in 0 1 2 3 4 5 6 7 8 9; do
    [ -n "$msgs" ] && msgs="$msgs," && ok="$ok,"
    msgs="$msgs{\\\"MessageId\\\":\\\"5fea7756-0ea4-451a-a703-a558b933e27$i\\\",\\\"ReceiptHandle\\\":\\\"$rh$i\\\",\\\"MD5OfBody\\\":\\\"fafb00f5732ab283681e124bf8747ed1\\\",\\\"Body\\\":\\\"$(head -c "$BODY_SIZE" /dev/zero | tr '\0' x)\\\"}"
    ok="$ok{\\\"Id\\\":\\\"e$i\\\",\\\"MessageId\\\":\\\"5fea7756-0ea4-451a-a703-a558b933e27$i\\\",\\\"MD5OfMessageBody\\\":\\\"fafb00f5732ab283681e124bf8747ed1\\\"}"
  done
  cat <<BLOCK
  map \$http_x_amz_target \$sqs_reply {
    default "{}";
    AmazonSQS.GetQueueUrl "{\\"QueueUrl\\":\\"http://127.0.0.1:$NG_PORT/000000000000/q\\"}";
    AmazonSQS.CreateQueue "{\\"QueueUrl\\":\\"http://127.0.0.1:$NG_PORT/000000000000/q\\"}";
    AmazonSQS.SendMessage "{\\"MessageId\\":\\"5fea7756-0ea4-451a-a703-a558b933e27a\\",\\"MD5OfMessageBody\\":\\"fafb00f5732ab283681e124bf8747ed1\\"}";
    AmazonSQS.SendMessageBatch "{\\"Successful\\":[$ok],\\"Failed\\":[]}";
    AmazonSQS.ReceiveMessage "{\\"Messages\\":[$msgs]}";
    AmazonSQS.DeleteMessageBatch "{\\"Successful\\":[$(echo "$ok" | sed 's/,\\"MessageId[^}]*//g')],\\"Failed\\":[]}";
  }
  server {
    listen 127.0.0.1:$NG_PORT;
    client_body_buffer_size 1m;
    location / {
      default_type application/x-amz-json-1.0;
      return 200 \$sqs_reply;
    }
  }
BLOCK
}
start_nginx() {
  NG_PORT=$(free_port)
  mkdir -p "$WORK/nginx-tmp"
  cat >"$WORK/nginx.conf" <<CONF
worker_processes 2;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  client_body_temp_path $WORK/nginx-tmp/body;
  proxy_temp_path $WORK/nginx-tmp/proxy;
  fastcgi_temp_path $WORK/nginx-tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx-tmp/uwsgi;
  scgi_temp_path $WORK/nginx-tmp/scgi;
  default_type application/octet-stream;
$(nginx_server_block)
}
CONF
  local cmd="$NGINX_BIN -c $WORK/nginx.conf -p $WORK -e $WORK/nginx-error.log"
  $cmd 2>>"$WORK/nginx-error.log" &
  NG_PID=$!
  COMMANDS+=("$cmd &")
  wait_http "http://127.0.0.1:$NG_PORT/"
  for _ in $(seq 1 50); do
    [ "$(pgrep -P "$NG_PID" | wc -l)" -ge 2 ] && break
    sleep 0.1
  done
  NG_PIDS=$NG_PID
  for p in $(pgrep -P "$NG_PID"); do NG_PIDS="$NG_PIDS,$p"; done
}
stop_nginx() {
  kill "$NG_PID" 2>/dev/null && wait "$NG_PID" 2>/dev/null || true
  NG_PID=
}

# The N object files nginx serves, named and sized like bench's s3get keys.
make_files() { # size count
  local dir="$WORK/www/$BUCKET"
  rm -rf "$WORK/www"
  mkdir -p "$dir"
  head -c "$1" /dev/urandom >"$dir/obj-000000"
  for i in $(seq 1 $(($2 - 1))); do cp "$dir/obj-000000" "$dir/$(printf 'obj-%06d' "$i")"; done
  # nginx's workers run as nobody when root starts it
  chmod -R a+rX "$WORK/www"
  chmod a+x "$WORK"
}

COMMON="--connections $CONNECTIONS --duration $DURATION --warmup $WARMUP --body-size $BODY_SIZE"

# run NAME WORKLOAD ENDPOINT PID KEY SECRET [extra args]: one JSON line in $WORK/NAME-WORKLOAD.json
run() {
  local name=$1 wl=$2 ep=$3 pid=$4 ak=$5 sk=$6
  shift 6
  local args="--endpoint $ep --workload $wl --server-pid $pid --json $*"
  [ "$wl" = cycle ] && args="$args --batch $BATCH --wait $WAIT"
  echo "== $name $wl" >&2
  COMMANDS+=("tweedle bench $args")
  # a failed run (errors counted) still leaves its JSON line
  "$TWEEDLE_BIN" bench $args --access-key "$ak" --secret-key "$sk" \
    >"$WORK/$name-$wl.json" 2>"$WORK/$name-$wl.txt" || true
  cat "$WORK/$name-$wl.txt" >&2
}

# run_s3 NAME TAG ENDPOINT PIDS KEY SECRET [bench args]: one JSON line in $WORK/NAME-TAG.json
run_s3() {
  local name=$1 tag=$2 ep=$3 pids=$4 ak=$5 sk=$6
  shift 6
  local args="--endpoint $ep --server-pid $pids --bucket $BUCKET --json $*"
  echo "== $name $tag" >&2
  COMMANDS+=("tweedle bench $args")
  "$TWEEDLE_BIN" bench $args --access-key "$ak" --secret-key "$sk" \
    >"$WORK/$name-$tag.json" 2>"$WORK/$name-$tag.txt" || true
  cat "$WORK/$name-$tag.txt" >&2
}

# run_publish NAME MODE ENDPOINT PID KEY SECRET CONNECTIONS: one JSON line in $WORK/NAME-publish-MODE.json
run_publish() {
  local name=$1 mode=$2 ep=$3 pid=$4 ak=$5 sk=$6 conns=$7
  local args="--endpoint $ep --workload publish --server-pid $pid --json --fanout $FANOUT"
  args="$args --connections $conns --duration $DURATION --warmup $WARMUP --body-size $BODY_SIZE"
  [ "$mode" = raw ] && args="$args --raw"
  echo "== $name publish ($mode)" >&2
  COMMANDS+=("tweedle bench $args")
  "$TWEEDLE_BIN" bench $args --access-key "$ak" --secret-key "$sk" \
    >"$WORK/$name-publish-$mode.json" 2>"$WORK/$name-publish-$mode.txt" || true
  cat "$WORK/$name-publish-$mode.txt" >&2
}

# run_putmetric NAME ENDPOINT PID KEY SECRET PROTOCOL CONNECTIONS: one JSON line in $WORK/NAME-putmetric.json
run_putmetric() {
  local name=$1 ep=$2 pid=$3 ak=$4 sk=$5 proto=$6 conns=$7
  local args="--endpoint $ep --workload putmetric --server-pid $pid --json --datums $DATUMS"
  args="$args --metric-names $METRIC_NAMES --cw-protocol $proto --connections $conns"
  args="$args --duration $DURATION --warmup $WARMUP"
  echo "== $name putmetric ($proto)" >&2
  COMMANDS+=("tweedle bench $args")
  "$TWEEDLE_BIN" bench $args --access-key "$ak" --secret-key "$sk" \
    >"$WORK/$name-putmetric.json" 2>"$WORK/$name-putmetric.txt" || true
  cat "$WORK/$name-putmetric.txt" >&2
}

# Large objects get fewer connections, keys and seconds: 64 connections each
# moving 64 MiB would finish few requests inside a short window.
large() { [ "$1" -ge 16777216 ]; }
s3_args() { # size
  if large "$1"; then
    echo "--object-size $1 --connections $S3_LARGE_CONNECTIONS --duration $S3_LARGE_DURATION --warmup $WARMUP"
  else
    echo "--object-size $1 --connections $S3_CONNECTIONS --duration $S3_DURATION --warmup $WARMUP"
  fi
}
s3_objects() { if large "$1"; then echo "$S3_LARGE_OBJECTS"; else echo "$S3_OBJECTS"; fi; }

# s3big: the object has to fit on the data disk, with room to spare
BIG_NOTE=
if has s3big; then
  avail=$(df -B1 --output=avail "$WORK" | tail -1 | tr -d ' ')
  if [ "$avail" -lt $((2 * BIG_SIZE + (2 << 30))) ]; then
    BIG_NOTE="only $((avail >> 30)) GiB free on the data disk, too little for $BIG_SIZE bytes: 1 GiB was used instead"
    BIG_SIZE=1073741824
  fi
fi

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$(date +%s)
# tweedle first, then moto, so neither runs while the other is still busy
for wl in $SQS_WORKLOADS; do
  start_tweedle
  run tweedle "$wl" "http://127.0.0.1:$TW_PORT" "$TW_PID" "$TWEEDLE_ACCESS_KEY_ID" "$TWEEDLE_SECRET_ACCESS_KEY" $COMMON
  stop_tweedle
done
if [ "$LP_CONNECTIONS" -gt 0 ]; then
  start_tweedle
  run tweedle longpoll "http://127.0.0.1:$TW_PORT" "$TW_PID" "$TWEEDLE_ACCESS_KEY_ID" "$TWEEDLE_SECRET_ACCESS_KEY" \
    --connections "$LP_CONNECTIONS"
  stop_tweedle
fi
if [ "$SKIP_MOTO" != 1 ]; then
  for wl in $SQS_WORKLOADS; do
    start_moto
    run moto "$wl" "http://127.0.0.1:$MOTO_PORT" "$MOTO_PID" bench-key bench-secret $COMMON
    stop_moto
  done
fi

# nginx's canned SQS answers: the HTTP ceiling for the same calls
if [ "$SKIP_NGINX" != 1 ] && [ -n "$SQS_WORKLOADS" ]; then
  NG_MODE=sqs
  start_nginx
  cp "$WORK/nginx.conf" "$WORK/nginx-sqs.conf"
  for wl in $SQS_WORKLOADS; do
    run nginx "$wl" "http://127.0.0.1:$NG_PORT" "$NG_PIDS" - - $COMMON
  done
  stop_nginx
  NG_MODE=files
fi

# SNS publish, per mode: tweedle, then moto, each fresh and alone.
if has publish; then
  for mode in $PUBLISH_MODES; do
    case $mode in raw | enveloped) ;; *) echo "compare.sh: PUBLISH_MODES: raw or enveloped, not $mode" >&2; exit 2 ;; esac
    start_tweedle
    run_publish tweedle "$mode" "http://127.0.0.1:$TW_PORT" "$TW_PID" "$TWEEDLE_ACCESS_KEY_ID" \
      "$TWEEDLE_SECRET_ACCESS_KEY" "$CONNECTIONS"
    stop_tweedle
    if [ "$SKIP_MOTO" != 1 ]; then
      start_moto
      run_publish moto "$mode" "http://127.0.0.1:$MOTO_PORT" "$MOTO_PID" bench-key bench-secret \
        "$MOTO_PUBLISH_CONNECTIONS"
      stop_moto
    fi
  done
fi

# CloudWatch PutMetricData: tweedle, then moto, each fresh and alone.
if has putmetric; then
  for p in "$CW_PROTOCOL" "$MOTO_CW_PROTOCOL"; do
    case $p in json | query) ;; *) echo "compare.sh: CW_PROTOCOL: json or query, not $p" >&2; exit 2 ;; esac
  done
  start_tweedle
  run_putmetric tweedle "http://127.0.0.1:$TW_PORT" "$TW_PID" "$TWEEDLE_ACCESS_KEY_ID" \
    "$TWEEDLE_SECRET_ACCESS_KEY" "$CW_PROTOCOL" "$CONNECTIONS"
  stop_tweedle
  if [ "$SKIP_MOTO" != 1 ]; then
    start_moto
    run_putmetric moto "http://127.0.0.1:$MOTO_PORT" "$MOTO_PID" bench-key bench-secret "$MOTO_CW_PROTOCOL" \
      "$MOTO_CW_CONNECTIONS"
    stop_moto
  fi
fi

# S3, per size: tweedle, moto, then for GETs nginx on the same files; every
# server fresh and alone.
TWK=$TWEEDLE_ACCESS_KEY_ID
TWS=$TWEEDLE_SECRET_ACCESS_KEY
for size in $S3_SIZES; do
  if has s3put; then
    start_tweedle
    run_s3 tweedle "s3put-$size" "http://127.0.0.1:$TW_PORT" "$TW_PID" "$TWK" "$TWS" --workload s3put $(s3_args "$size")
    stop_tweedle
    if [ "$SKIP_MOTO" != 1 ]; then
      start_moto
      run_s3 moto "s3put-$size" "http://127.0.0.1:$MOTO_PORT" "$MOTO_PID" bench-key bench-secret \
        --workload s3put $(s3_args "$size")
      stop_moto
    fi
  fi
  if has s3get; then
    n=$(s3_objects "$size")
    start_tweedle
    run_s3 tweedle "s3get-$size" "http://127.0.0.1:$TW_PORT" "$TW_PID" "$TWK" "$TWS" --workload s3get \
      --objects "$n" $(s3_args "$size")
    stop_tweedle
    if [ "$SKIP_MOTO" != 1 ]; then
      start_moto
      run_s3 moto "s3get-$size" "http://127.0.0.1:$MOTO_PORT" "$MOTO_PID" bench-key bench-secret \
        --workload s3get --objects "$n" $(s3_args "$size")
      stop_moto
    fi
    if [ "$SKIP_NGINX" != 1 ]; then
      make_files "$size" "$n"
      start_nginx
      run_s3 nginx "s3get-$size" "http://127.0.0.1:$NG_PORT" "$NG_PIDS" - - --workload s3get --no-sign \
        --objects "$n" $(s3_args "$size")
      stop_nginx
      rm -rf "$WORK/www"
    fi
  fi
done
# the disk's ceiling for large PUTs: the same bytes written by dd and fdatasync'd
if has s3put; then
  for size in $S3_SIZES; do
    if large "$size"; then
      COMMANDS+=("dd if=/dev/zero of=\$TMP/dd.bin bs=1M count=512 conv=fdatasync")
      dd if=/dev/zero of="$WORK/dd.bin" bs=1M count=512 conv=fdatasync 2>"$WORK/dd.txt" || true
      rm -f "$WORK/dd.bin"
      python3 - "$WORK/dd.txt" >"$WORK/dd-write.json" <<'PY' || true
import json, re, sys
t = open(sys.argv[1]).read()
m = re.search(r"^(\d+) bytes .* copied, ([\d.]+) s", t, re.M)
print(json.dumps({"bytes": int(m.group(1)), "seconds": float(m.group(2)),
                  "mb_per_s": int(m.group(1)) / float(m.group(2)) / 1e6}))
PY
      cat "$WORK/dd.txt" >&2
      break
    fi
  done
fi
if has worker; then
  echo "== tweedle worker --exec-persistent" >&2
  COMMANDS+=("MODES=persistent PERSISTENT_MESSAGES=$WORKER_MESSAGES bash bench/worker.sh")
  MODES=persistent PERSISTENT_MESSAGES=$WORKER_MESSAGES TWEEDLE_BIN=$TWEEDLE_BIN WORKER_JSON="$WORK/tweedle-worker" \
    bash bench/worker.sh >&2 || true
fi
if has cluster; then # 1, 2 and 3 nodes on one private PostgreSQL beside the single node
  COMMANDS+=("TWEEDLE_BIN=$TWEEDLE_BIN python3 bench/cluster.py")
  TWEEDLE_BIN=$TWEEDLE_BIN OUT="$WORK/cluster.md" JSON_OUT="$WORK/cluster-rows.json" \
    python3 bench/cluster.py >&2 || echo "cluster: bench/cluster.py failed" >&2
fi
if has s3big; then
  start_tweedle
  run_s3 tweedle s3big "http://127.0.0.1:$TW_PORT" "$TW_PID" "$TWK" "$TWS" --workload s3put \
    --object-size "$BIG_SIZE" --messages 1 --connections 1
  stop_tweedle
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - T_START))

# The tables, on the terminal and in RESULTS.md.
export WORK RESULTS WORKLOADS SQS_WORKLOADS SKIP_MOTO SKIP_NGINX DURATION WARMUP CONNECTIONS BODY_SIZE BATCH WAIT
export FANOUT PUBLISH_MODES MOTO_PUBLISH_CONNECTIONS DATUMS METRIC_NAMES CW_PROTOCOL MOTO_CW_PROTOCOL MOTO_CW_CONNECTIONS
export LP_CONNECTIONS S3_SIZES S3_DURATION S3_CONNECTIONS S3_OBJECTS S3_LARGE_DURATION S3_LARGE_CONNECTIONS
export S3_LARGE_OBJECTS BIG_SIZE BIG_NOTE LOAD_BEFORE LOAD_AFTER ELAPSED HISTORY
export MOTO_VERSION=$( [ "$SKIP_MOTO" = 1 ] || python3 -c 'import moto; print(moto.__version__)' 2>/dev/null || echo '?')
export NGINX_VERSION=$( { [ "$SKIP_NGINX" = 1 ] || ! has s3get; } || "$NGINX_BIN" -v 2>&1 | sed 's|.*/||')
export TW_VERSION=$("$TWEEDLE_BIN" version 2>/dev/null || echo '?')
export GIT_REV=$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+local changes')
export DISK=$(df -h --output=source,size,avail "$WORK" | tail -1 | awk '{print $1 ", " $2 ", " $3 " free"}')
export MEM_TOTAL=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
printf '%s\n' "${COMMANDS[@]}" >"$WORK/commands.txt"
python3 "$ROOT/bench/report.py"
