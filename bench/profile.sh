#!/usr/bin/env bash
# Profiles a tweedle server under one bench workload with perf and prints
# where its CPU time goes (top symbols, then bench/perf_summary.py's groups).
#
#   bash bench/profile.sh [cycle|send|s3put|s3get] [seconds]
#
# Env: CONNECTIONS=64, TWEEDLE_BIN=build/tweedle, KEEP=1 keeps perf.data;
# S3: OBJECT_SIZE=4096, OBJECTS=100 (s3get reads them round-robin; they are
# put before the recording starts), PAYLOAD_HASH=1 signs the body's SHA-256.
set -euo pipefail
cd "$(dirname "$0")/.."
WL=${1:-cycle}
SECS=${2:-5}
CONNECTIONS=${CONNECTIONS:-64}
OBJECT_SIZE=${OBJECT_SIZE:-4096}
OBJECTS=${OBJECTS:-100}
TWEEDLE_BIN=${TWEEDLE_BIN:-build/tweedle}
command -v perf >/dev/null || { echo "profile.sh: perf is not installed" >&2; exit 2; }
[ -x "$TWEEDLE_BIN" ] || make -s all

WORK=$(mktemp -d /tmp/tweedle-prof.XXXXXX)
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK/perf.data" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export TWEEDLE_ACCESS_KEY_ID=tweedle-prof TWEEDLE_SECRET_ACCESS_KEY=tweedle-prof-secret
"$TWEEDLE_BIN" serve --listen "127.0.0.1:$PORT" --data "$WORK/data" 2>"$WORK/server.log" &
PID=$!
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/_/health" && break; sleep 0.1; done

BENCH=("$TWEEDLE_BIN" bench --endpoint "http://127.0.0.1:$PORT" --connections "$CONNECTIONS" --server-pid "$PID")
EXTRA=()
case $WL in
  s3put | s3get)
    EXTRA=(--object-size "$OBJECT_SIZE")
    [ "${PAYLOAD_HASH:-0}" = 1 ] && EXTRA+=(--payload-hash)
    if [ "$WL" = s3get ]; then
      # the objects go in first, so that the recording sees only GETs
      "${BENCH[@]}" --workload s3put "${EXTRA[@]}" --objects "$OBJECTS" --messages "$OBJECTS" >/dev/null
      EXTRA+=(--objects "$OBJECTS" --no-populate)
    fi
    ;;
esac

# record the middle of the run: after the warm-up, before the tail
( sleep 2; perf record -q -F 999 --call-graph dwarf,16384 -p "$PID" -o "$WORK/perf.data" -- sleep "$SECS" \
    >/dev/null 2>&1 ) &
REC=$!
"${BENCH[@]}" --workload "$WL" --duration $((SECS + 3)) "${EXTRA[@]}"
wait "$REC" || true

echo
echo "== top symbols (self time)"
perf report -i "$WORK/perf.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -25 || true
echo
echo "== grouped"
perf script -i "$WORK/perf.data" -F comm,tid,ip,sym 2>/dev/null | python3 bench/perf_summary.py
