#!/usr/bin/env bash
# Runs the same SQS workloads against tweedle and moto on this machine and
# writes the comparison to bench/RESULTS.md.
#
#   bash bench/compare.sh            (or: make bench)
#
# Both servers are started here (free ports, a temporary data directory) and
# stopped on exit. Knobs, all optional:
#   DURATION=10        measured seconds per workload (after WARMUP)
#   WARMUP=1           unmeasured seconds before each measurement
#   CONNECTIONS=64     client connections for cycle and send
#   BODY_SIZE=100      message body in bytes
#   BATCH=10           messages per SendMessageBatch / DeleteMessageBatch (cycle)
#   WAIT=0             ReceiveMessage WaitTimeSeconds in the cycle workload
#   LP_CONNECTIONS=5000  parked long polls (tweedle only)
#   WORKLOADS="cycle send"
#   SKIP_MOTO=1        tweedle only
#   TWEEDLE_BIN=build/tweedle   MOTO_BIN=moto_server
#   RESULTS=bench/RESULTS.md    KEEP=1 keeps the server logs
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
WORKLOADS=${WORKLOADS:-"cycle send"}
SKIP_MOTO=${SKIP_MOTO:-0}
TWEEDLE_BIN=${TWEEDLE_BIN:-build/tweedle}
MOTO_BIN=${MOTO_BIN:-moto_server}
RESULTS=${RESULTS:-bench/RESULTS.md}

if [ ! -x "$TWEEDLE_BIN" ]; then make -s all; fi
if [ "$SKIP_MOTO" != 1 ] && ! command -v "$MOTO_BIN" >/dev/null; then
  echo "compare.sh: $MOTO_BIN not found (pip install 'moto[server]', or SKIP_MOTO=1)" >&2
  exit 2
fi

WORK=$(mktemp -d /tmp/tweedle-bench.XXXXXX)
TW_PID= MOTO_PID=
COMMANDS=()
cleanup() {
  [ -n "$TW_PID" ] && kill "$TW_PID" 2>/dev/null && wait "$TW_PID" 2>/dev/null || true
  [ -n "$MOTO_PID" ] && kill "$MOTO_PID" 2>/dev/null && wait "$MOTO_PID" 2>/dev/null || true
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

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
# tweedle first, then moto, so neither runs while the other is still busy
for wl in $WORKLOADS; do
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
  for wl in $WORKLOADS; do
    start_moto
    run moto "$wl" "http://127.0.0.1:$MOTO_PORT" "$MOTO_PID" bench-key bench-secret $COMMON
    stop_moto
  done
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# The table, on the terminal and in RESULTS.md.
export WORK RESULTS WORKLOADS SKIP_MOTO DURATION WARMUP CONNECTIONS BODY_SIZE BATCH WAIT LP_CONNECTIONS
export LOAD_BEFORE LOAD_AFTER
export MOTO_VERSION=$( [ "$SKIP_MOTO" = 1 ] || python3 -c 'import moto; print(moto.__version__)' 2>/dev/null || echo '?')
export TW_VERSION=$("$TWEEDLE_BIN" version 2>/dev/null || echo '?')
export GIT_REV=$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+local changes')
printf '%s\n' "${COMMANDS[@]}" >"$WORK/commands.txt"
python3 - <<'PY'
import json, os, platform, datetime

W = os.environ["WORK"]
def load(name, wl):
    try:
        with open(f"{W}/{name}-{wl}.json") as f:
            return json.loads(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return None

def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"

def num(v, fmt):
    return fmt % v if v is not None else "n/a"

rows = []
for wl in os.environ["WORKLOADS"].split():
    t, m = load("tweedle", wl), load("moto", wl)
    g = lambda r, k: r.get(k) if r else None
    ratio = (t["msgs_per_s"] / m["msgs_per_s"]) if t and m and m["msgs_per_s"] else None
    errs = f'{num(g(t, "errors"), "%d")} / {num(g(m, "errors"), "%d")}'
    cpu = (1e6 * t["server_cpu_s"] / (t["msgs_per_s"] * t["duration_s"])) if t and t.get("server_cpu_s") and t["msgs_per_s"] else None
    rows.append([wl, num(g(t, "msgs_per_s"), "%.0f"), num(g(t, "p50_ms"), "%.2f"), num(g(t, "p99_ms"), "%.2f"),
                 num(g(m, "msgs_per_s"), "%.0f"), num(g(m, "p50_ms"), "%.1f"), num(g(m, "p99_ms"), "%.1f"),
                 num(ratio, "%.0fx"), errs, num(cpu, "%.0f")])
head = ["workload", "tweedle msgs/s", "p50 ms", "p99 ms", "moto msgs/s", "p50 ms", "p99 ms", "ratio",
        "errors tw/moto", "tweedle CPU us/msg"]
widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
line = lambda r: "| " + " | ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)) + " |"
table = [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows]
notes = []
for wl in os.environ["WORKLOADS"].split():
    for name in ("tweedle", "moto"):
        r = load(name, wl)
        if r and r.get("timeouts"):
            notes.append(f"- {name} {wl}: {r['timeouts']} request(s) still unanswered 30 s after the window closed"
                         " (counted as errors).")
        if r and r.get("errors_by_status"):
            kinds = ", ".join(f"{k}: {v}" for k, v in r["errors_by_status"].items())
            notes.append(f"- {name} {wl}: errors by status: {kinds}.")

lp = load("tweedle", "longpoll")
lp_lines = []
if lp:
    mb = lambda k: lp["server_rss_kb"][k] / 1024.0
    lp_lines = [
        f'- {lp["parked"]:,} parked long polls (WaitTimeSeconds {lp["wait_time_s"]}): tweedle RSS '
        f'**{mb("parked"):.1f} MB** (from {mb("before"):.1f} MB idle).',
        f'- After {lp["received"]:,} messages woke them (all returned {lp["wake_all_ms"]:.0f} ms after the first send; '
        f'wake p50 {lp["wake_latency"]["p50_ms"]:.0f} ms, p99 {lp["wake_latency"]["p99_ms"]:.0f} ms): RSS {mb("after_wake"):.1f} MB; '
        f'with the same {lp["reparked"]:,} connections parked again, as consumers do: **{mb("reparked"):.1f} MB**.',
        f'- Errors {lp["errors"]}, answered early {lp["answered_early"]}, timeouts {lp["timeouts"]}.',
    ]

nproc = os.cpu_count()
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
commands = open(f"{W}/commands.txt").read().strip().splitlines()
E = os.environ
md = [
    "# tweedle vs moto: SQS throughput on one machine",
    "",
    f"Generated by `bench/compare.sh` on {now}.",
    "",
    f"- Machine: {nproc} CPU(s), {cpu_model()}; Linux {platform.release()}. Client and servers share it.",
    f"- Load average (1/5/15 min) before: {E['LOAD_BEFORE']}; after: {E['LOAD_AFTER']} (other work on the box skews results).",
    f"- tweedle {E['TW_VERSION'].replace('tweedle ', '')} (git {E['GIT_REV']}): durable (SQLite WAL, synchronous=FULL, group commit; every"
    " request answered after its commit). moto " + (E["MOTO_VERSION"] or "not run") + ": in memory, werkzeug (a connection per request).",
    f"- Parameters: {E['CONNECTIONS']} connections, {E['WARMUP']} s warm-up + {E['DURATION']} s measured per workload,"
    f" {E['BODY_SIZE']}-byte bodies; cycle = SendMessageBatch({E['BATCH']}) -> ReceiveMessage(10, WaitTimeSeconds {E['WAIT']})"
    " -> DeleteMessageBatch, counting messages deleted; send = one SendMessage per request.",
    "- Latency is per HTTP request as the client sees it; msgs/s counts messages (cycle: fully cycled).",
    "",
    *table,
    "",
    *notes,
    *([""] if notes else []),
]
if lp_lines:
    md += ["Long polling (tweedle):", "", *lp_lines, ""]
md += ["Targets (durable, client on the same 2-core box): cycle with batches of 10 >= 50,000 msgs/s;"
       " single SendMessage >= 15,000/s at 64 connections with p99 <= 5 ms; 5,000 parked long polls < 200 MB RSS.", ""]
md += ["Commands, in order (a fresh server per workload, each stopped before the next starts; $TMP is a temporary directory):",
       "", "```", *[c.replace(W, "$TMP") for c in commands], "```", "",
       "Credentials were passed with --access-key/--secret-key (tweedle's from TWEEDLE_ACCESS_KEY_ID/"
       "TWEEDLE_SECRET_ACCESS_KEY; moto accepts any). See bench/README.md for the profile of where tweedle spends its time.", ""]
out = "\n".join(md)
with open(E["RESULTS"], "w") as f:
    f.write(out)
print()
print("\n".join(table))
if notes:
    print("\n".join(notes))
if lp_lines:
    print("\n".join(lp_lines))
print(f"\nwritten to {E['RESULTS']}")
PY
