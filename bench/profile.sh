#!/usr/bin/env bash
# Profiles a tweedle server under one bench workload with perf and prints
# where its CPU time goes (top symbols, then bench/perf_summary.py's groups).
#
#   bash bench/profile.sh [cycle|send] [seconds]
#
# Env: CONNECTIONS=64, TWEEDLE_BIN=build/tweedle, KEEP=1 keeps perf.data.
set -euo pipefail
cd "$(dirname "$0")/.."
WL=${1:-cycle}
SECS=${2:-5}
CONNECTIONS=${CONNECTIONS:-64}
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

# record the middle of the run: after the warm-up, before the tail
( sleep 2; perf record -q -F 999 --call-graph dwarf,16384 -p "$PID" -o "$WORK/perf.data" -- sleep "$SECS" \
    >/dev/null 2>&1 ) &
REC=$!
"$TWEEDLE_BIN" bench --endpoint "http://127.0.0.1:$PORT" --workload "$WL" --connections "$CONNECTIONS" \
  --duration $((SECS + 3)) --server-pid "$PID"
wait "$REC" || true

echo
echo "== top symbols (self time)"
perf report -i "$WORK/perf.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -25 || true
echo
echo "== grouped"
perf script -i "$WORK/perf.data" -F comm,tid,ip,sym 2>/dev/null | python3 bench/perf_summary.py
