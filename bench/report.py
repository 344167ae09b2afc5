#!/usr/bin/env python3
"""Turns the JSON lines bench/compare.sh collected in $WORK into the tables it
prints and writes to $RESULTS (bench/RESULTS.md). Every input comes from the
environment compare.sh exports; run it through compare.sh."""
import datetime
import json
import os
import platform

E = os.environ
W = E["WORK"]


def load(name, tag):
    try:
        with open(f"{W}/{name}-{tag}.json") as f:
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


def rate(v):
    """objects/s: whole numbers once they are large, a decimal for big objects"""
    return "n/a" if v is None else f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def size_name(n):
    n = int(n)
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} B"


def cpu_per_obj(r):
    """server CPU microseconds per completed object: steadier than rates on a busy box"""
    if not r or r.get("server_cpu_s") is None or not r.get("completed"):
        return "n/a"
    return f'{1e6 * r["server_cpu_s"] / r["completed"]:,.0f}'


def table(head, rows):
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)) + " |"
    return [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows]


def g(r, k):
    return r.get(k) if r else None


def error_notes(name, tag, r):
    out = []
    if r and r.get("timeouts"):
        out.append(f"- {name} {tag}: {r['timeouts']} request(s) still unanswered 30 s after the window closed"
                   " (counted as errors).")
    if r and r.get("errors_by_status"):
        kinds = ", ".join(f"{k}: {v}" for k, v in r["errors_by_status"].items())
        out.append(f"- {name} {tag}: errors by status: {kinds}.")
    return out


# ---------- SQS ----------
sqs_wls = E.get("SQS_WORKLOADS", "").split()
sqs_table, notes = [], []
rows = []
for wl in sqs_wls:
    t, m, n = load("tweedle", wl), load("moto", wl), load("nginx", wl)
    ratio = (t["msgs_per_s"] / m["msgs_per_s"]) if t and m and m["msgs_per_s"] else None
    errs = f'{num(g(t, "errors"), "%d")} / {num(g(m, "errors"), "%d")}'
    cpu = (1e6 * t["server_cpu_s"] / (t["msgs_per_s"] * t["duration_s"])
           if t and t.get("server_cpu_s") and t["msgs_per_s"] else None)
    rows.append([wl, num(g(t, "msgs_per_s"), "%.0f"), num(g(t, "p50_ms"), "%.2f"), num(g(t, "p99_ms"), "%.2f"),
                 num(g(m, "msgs_per_s"), "%.0f"), num(g(m, "p50_ms"), "%.1f"), num(g(m, "p99_ms"), "%.1f"),
                 num(ratio, "%.0fx"), errs, num(cpu, "%.0f"), num(g(n, "msgs_per_s"), "%.0f"),
                 num(g(n, "p99_ms"), "%.2f"),
                 num(t["msgs_per_s"] / n["msgs_per_s"] if t and n and n["msgs_per_s"] else None, "%.2fx")])
    for name, r in (("tweedle", t), ("moto", m), ("nginx", n)):
        notes += error_notes(name, wl, r)
if rows:
    sqs_table = table(["workload", "tweedle msgs/s", "p50 ms", "p99 ms", "moto msgs/s", "p50 ms", "p99 ms", "ratio",
                       "errors tw/moto", "tweedle CPU us/msg", "nginx ceiling msgs/s", "nginx p99 ms",
                       "tweedle/nginx"], rows)
    sqs_table += ["", "nginx ceiling: nginx reading the same requests and answering each with a canned reply of the"
                  " right shape (X-Amz-Target mapped to a fixed JSON body; no SigV4, no storage): what HTTP on this"
                  " box costs."]

lp = load("tweedle", "longpoll")
lp_lines = []
if lp:
    mbk = lambda k: lp["server_rss_kb"][k] / 1024.0
    lp_lines = [
        f'- {lp["parked"]:,} parked long polls (WaitTimeSeconds {lp["wait_time_s"]}): tweedle RSS '
        f'**{mbk("parked"):.1f} MB** (from {mbk("before"):.1f} MB idle).',
        f'- After {lp["received"]:,} messages woke them (all returned {lp["wake_all_ms"]:.0f} ms after the first send; '
        f'wake p50 {lp["wake_latency"]["p50_ms"]:.0f} ms, p99 {lp["wake_latency"]["p99_ms"]:.0f} ms): '
        f'RSS {mbk("after_wake"):.1f} MB; with the same {lp["reparked"]:,} connections parked again, as consumers do: '
        f'**{mbk("reparked"):.1f} MB**.',
        f'- Errors {lp["errors"]}, answered early {lp["answered_early"]}, timeouts {lp["timeouts"]}.',
    ]

# ---------- SNS publish ----------
wls = E.get("WORKLOADS", "").split()
pub_rows, pub_targets = [], []


def deliveries(r):
    if not r or r.get("deliveries_found") is None:
        return "n/a"
    ok = "" if r.get("deliveries_ok") else " **MISMATCH**"
    return f'{r["deliveries_found"]:,} of {r["deliveries_expected"]:,}{ok}'


if "publish" in wls:
    for mode in E.get("PUBLISH_MODES", "").split():
        tag = f"publish-{mode}"
        t, m = load("tweedle", tag), load("moto", tag)
        ratio = t["publishes_per_s"] / m["publishes_per_s"] if t and m and m["publishes_per_s"] else None
        cpu = (1e6 * t["server_cpu_s"] / t["sent"] if t and t.get("server_cpu_s") and t["sent"] else None)
        pub_rows.append([mode, num(g(t, "publishes_per_s"), "%.0f"), num(g(t, "deliveries_per_s"), "%.0f"),
                         num(g(t, "p50_ms"), "%.2f"), num(g(t, "p99_ms"), "%.2f"), num(cpu, "%.0f"),
                         num(g(m, "publishes_per_s"), "%.1f"), num(g(m, "p50_ms"), "%.1f"),
                         num(g(m, "p99_ms"), "%.1f"), num(ratio, "%.0fx"),
                         f"{deliveries(t)} / {deliveries(m)}",
                         f'{num(g(t, "errors"), "%d")} / {num(g(m, "errors"), "%d")}'])
        for name, r in (("tweedle", t), ("moto", m)):
            notes += error_notes(name, tag, r)
        if t:
            v = t["publishes_per_s"]
            met = v >= 10000 and not t["errors"] and t.get("deliveries_ok") and t["fanout"] >= 10
            pub_targets.append(f'- Publish fanned out to {t["fanout"]} queues ({mode}) >= 10,000/s, durable: '
                               f'{v:,.0f}/s (p99 {t["p99_ms"]:.1f} ms) - **{"met" if met else "missed"}**.')
pub_table = table(["subscriptions", "tweedle publishes/s", "deliveries/s", "p50 ms", "p99 ms",
                   "tweedle CPU us/publish", "moto publishes/s", "p50 ms", "p99 ms", "ratio",
                   "deliveries checked tw / moto", "errors tw / moto"], pub_rows) if pub_rows else []

# ---------- CloudWatch PutMetricData ----------
cw_table = []
if "putmetric" in wls:
    t, m = load("tweedle", "putmetric"), load("moto", "putmetric")
    ratio = t["datums_per_s"] / m["datums_per_s"] if t and m and m["datums_per_s"] else None
    cpu = lambda r: (1e6 * r["server_cpu_s"] / (r["sent"] * r["datums"])
                     if r and r.get("server_cpu_s") and r.get("sent") else None)
    cw_table = table(["server", "protocol", "calls/s", "datums/s", "p50 ms", "p90 ms", "p99 ms",
                      "server CPU us/datum", "errors"],
                     [[name, g(r, "protocol") or "n/a", num(g(r, "calls_per_s"), "%.0f"),
                       num(g(r, "datums_per_s"), "%.0f"), num(g(r, "p50_ms"), "%.2f"),
                       num(g(r, "p90_ms"), "%.2f"), num(g(r, "p99_ms"), "%.2f"), num(cpu(r), "%.1f"),
                       num(g(r, "errors"), "%d")] for name, r in (("tweedle", t), ("moto", m))
                      if r or name == "tweedle" or E.get("SKIP_MOTO") != "1"])
    if ratio is not None:
        cw_table += ["", f"tweedle / moto: {ratio:.0f}x the datums/s."]
    for name, r in (("tweedle", t), ("moto", m)):
        notes += error_notes(name, "putmetric", r)

# ---------- S3 ----------
sizes = E.get("S3_SIZES", "").split()
s3_rows, lat_rows, srv_rows = [], [], []
for wl in ("s3put", "s3get"):
    if wl not in wls:
        continue
    for size in sizes:
        tag = f"{wl}-{size}"
        t, m, n = load("tweedle", tag), load("moto", tag), load("nginx", tag) if wl == "s3get" else None
        cell = lambda r, k, f: num(g(r, k), f) if r else "n/a"
        ratio_m = t["mb_per_s"] / m["mb_per_s"] if t and m and m["mb_per_s"] else None
        ratio_n = t["mb_per_s"] / n["mb_per_s"] if t and n and n["mb_per_s"] else None
        s3_rows.append([wl, size_name(size), rate(g(t, "objects_per_s")), cell(t, "mb_per_s", "%.1f"),
                        rate(g(m, "objects_per_s")), cell(m, "mb_per_s", "%.1f"),
                        rate(g(n, "objects_per_s")) if wl == "s3get" else "-",
                        cell(n, "mb_per_s", "%.1f") if wl == "s3get" else "-",
                        num(ratio_m, "%.1fx"), num(100 * ratio_n, "%.0f%%") if ratio_n is not None else
                        ("n/a" if wl == "s3get" else "-")])
        pl = lambda r: f'{r["p50_ms"]:.1f} / {r["p99_ms"]:.1f}' if r else "n/a"
        errs = " / ".join(num(g(r, "errors"), "%d") for r in (t, m)) + (
            " / " + num(g(n, "errors"), "%d") if wl == "s3get" else "")
        lat_rows.append([wl, size_name(size), pl(t), pl(m), pl(n) if wl == "s3get" else "-", errs])
        if t:
            el = t["duration_s"]
            cpu = t.get("server_cpu_s")
            mem = t.get("server_mem_kb") or {}
            mbm = lambda k: f'{mem[k] / 1024:.0f}' if mem.get(k, -1) >= 0 else "?"
            srv_rows.append([wl, size_name(size), num(100 * cpu / el if cpu is not None else None, "%.0f%%"),
                             cpu_per_obj(t), cpu_per_obj(m), cpu_per_obj(n) if wl == "s3get" else "-",
                             num(1e3 * cpu / (t["bytes"] / 1e6) if cpu is not None and t["bytes"] else None, "%.2f"),
                             f'{mbm("rss_before")} / {mbm("rss_max_sampled")} / {mbm("rss_after")}',
                             num(100 * t["client_cpu_s"] / el if t.get("client_cpu_s") is not None else None, "%.0f%%")])
        for name, r in (("tweedle", t), ("moto", m), ("nginx", n)):
            notes += error_notes(name, tag, r)

s3_lines = []
if s3_rows:
    s3_lines += table(["workload", "object", "tweedle obj/s", "MB/s", "moto obj/s", "MB/s", "nginx obj/s", "MB/s",
                       "tweedle/moto", "tweedle/nginx"], s3_rows)
    s3_lines += ["", "Latency per request, p50 / p99 in ms (a GET ends with the last body byte), and errors:", ""]
    s3_lines += table(["workload", "object", "tweedle", "moto", "nginx", "errors tw / moto / nginx"], lat_rows)
    if srv_rows:
        s3_lines += ["", "Server CPU (from /proc over the window; nginx: master and workers) per object, which"
                     " depends less than the rates on what else the box runs; and tweedle's CPU share, CPU per MB"
                     " and RSS in MB sampled before / max during / after:", ""]
        s3_lines += table(["workload", "object", "tweedle CPU", "tweedle us/obj", "moto us/obj", "nginx us/obj",
                           "tweedle ms/MB", "tweedle RSS MB", "client CPU"], srv_rows)

dd = load("dd", "write") if "s3put" in wls else None
if dd and s3_lines:
    large = [z for z in sizes if int(z) >= 16 << 20]
    tl = load("tweedle", f"s3put-{large[0]}") if large else None
    s3_lines += ["", f'Disk ceiling for large PUTs: `dd if=/dev/zero bs=1M count=512 conv=fdatasync` on the data'
                 f' disk wrote {dd["mb_per_s"]:,.0f} MB/s'
                 + (f'; tweedle PUT {size_name(large[0])}: {tl["mb_per_s"]:,.0f} MB/s ='
                    f' {tl["mb_per_s"] / dd["mb_per_s"]:.2f}x dd.' if tl and dd["mb_per_s"] else ".")]

wk = load("tweedle", "worker-persistent") if "worker" in wls else None
worker_lines = []
if wk:
    worker_lines = [f'- `tweedle worker --exec-persistent` (a no-op Python handler, batches of 10, bench/worker.sh):'
                    f' {wk["messages"]:,} messages in {wk["seconds"]:.2f} s = **{wk["msgs_per_s"]:,.0f} msgs/s**;'
                    f' worker CPU {wk["worker_cpu_us_per_msg"]:.0f} us/msg, server {wk["server_cpu_us_per_msg"]:.0f}'
                    f' us/msg, handler {wk["handler_cpu_us_per_msg"]:.0f} us/msg.']

big = load("tweedle", "s3big") if "s3big" in wls else None
big_lines = []
if big:
    mem = big.get("server_mem_kb") or {}
    mbm = lambda k: mem[k] / 1024 if mem.get(k, -1) >= 0 else None
    big_lines = [
        f'- One PutObject of {size_name(big["object_size"])} ({big["object_size"]:,} bytes, UNSIGNED-PAYLOAD, one'
        f' connection): {"**failed**" if big["errors"] or not big["completed"] else "200"} after'
        f' {big["duration_s"]:.1f} s ({big["mb_per_s"]:.0f} MB/s).',
        f'- tweedle peak RSS (VmHWM) {num(mbm("hwm_before"), "%.1f")} MB before the upload, '
        f'**{num(mbm("hwm_after"), "%.1f")} MB** after it; RSS {num(mbm("rss_before"), "%.1f")} MB before, '
        f'{num(mbm("rss_max_sampled"), "%.1f")} MB max sampled during, {num(mbm("rss_after"), "%.1f")} MB after.',
    ]
    if E.get("BIG_NOTE"):
        big_lines.append(f'- Note: {E["BIG_NOTE"]}.')
    notes += error_notes("tweedle", "s3big", big)

# ---------- targets ----------
targets = list(pub_targets)
t4 = load("tweedle", "s3put-4096") if "s3put" in wls else None
if t4:
    v = t4["objects_per_s"]
    targets.append(f'- 4 KiB PUT >= 10,000 objects/s, durable: {v:,.0f}/s (p99 {t4["p99_ms"]:.1f} ms) - '
                   f'**{"met" if v >= 10000 and not t4["errors"] else "missed"}**.')
tg, ng = (load("tweedle", "s3get-1048576"), load("nginx", "s3get-1048576")) if "s3get" in wls else (None, None)
if tg and ng and ng["mb_per_s"]:
    r = tg["mb_per_s"] / ng["mb_per_s"]
    targets.append(f'- 1 MiB GET >= 95% of nginx serving the same files: {tg["mb_per_s"]:,.0f} vs '
                   f'{ng["mb_per_s"]:,.0f} MB/s = {100 * r:.0f}% - **{"met" if r >= 0.95 and not tg["errors"] else "missed"}**'
                   f' (server CPU per object: tweedle {cpu_per_obj(tg)} us, nginx {cpu_per_obj(ng)} us).')
tc = load("tweedle", "cycle") if "cycle" in wls else None
if tc:
    v = tc["msgs_per_s"]
    targets.append(f'- SQS cycle (batches of 10, durable) >= 50,000 msgs/s: {v:,.0f} - '
                   f'**{"met" if v >= 50000 and not tc["errors"] else "missed"}**.')
ts, ns = (load("tweedle", "send"), load("nginx", "send")) if "send" in wls else (None, None)
if ts and ns and ns["msgs_per_s"]:
    r = ts["msgs_per_s"] / ns["msgs_per_s"]
    ok = r >= 0.5 and ts["p99_ms"] <= 5 and not ts["errors"]
    targets.append(f'- SendMessage >= 0.5x nginx with p99 <= 5 ms: {ts["msgs_per_s"]:,.0f}/s vs {ns["msgs_per_s"]:,.0f}/s'
                   f' = {r:.2f}x, p99 {ts["p99_ms"]:.1f} ms - **{"met" if ok else "missed"}**.')
l64 = load("tweedle", "s3put-67108864") if "s3put" in wls else None
if l64 and dd and dd["mb_per_s"]:
    r = l64["mb_per_s"] / dd["mb_per_s"]
    targets.append(f'- 64 MiB PUT >= 0.75x dd (fdatasync) in the same run: {l64["mb_per_s"]:,.0f} vs'
                   f' {dd["mb_per_s"]:,.0f} MB/s = {r:.2f}x - **{"met" if r >= 0.75 and not l64["errors"] else "missed"}**.')
if wk:
    targets.append(f'- worker --exec-persistent, batches of 10 >= 25,000 msgs/s: {wk["msgs_per_s"]:,.0f} - '
                   f'**{"met" if wk["msgs_per_s"] >= 25000 else "missed"}**.')
if big:
    mem = big.get("server_mem_kb") or {}
    grow = (mem.get("hwm_after", -1) - mem.get("hwm_before", -1)) / 1024 if mem.get("hwm_before", -1) >= 0 else None
    ok = grow is not None and grow < 64 and not big["errors"] and big["completed"] == 1
    targets.append(f'- {size_name(big["object_size"])} PUT with flat memory: peak RSS grew by '
                   f'{num(grow, "%.1f")} MB - **{"met" if ok else "missed"}**'
                   + (" (1 GiB, not 5 GiB: see the note above)" if E.get("BIG_NOTE") else "") + ".")

# ---------- the page ----------
nproc = os.cpu_count()
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
commands = open(f"{W}/commands.txt").read().strip().splitlines()
moto = E.get("MOTO_VERSION") or "not run"
md = [
    "# tweedle vs moto (and nginx): SQS, SNS, CloudWatch and S3 on one machine",
    "",
    f"Generated by `bench/compare.sh` on {now} (the whole run took {E.get('ELAPSED', '?')} s).",
    "",
    f"- Machine: {nproc} CPU(s), {cpu_model()}; {E.get('MEM_TOTAL', '?')} RAM; Linux {platform.release()};"
    f" data disk {E.get('DISK', '?')}. Client and servers share it.",
    f"- Load average (1/5/15 min) before: {E['LOAD_BEFORE']}; after: {E['LOAD_AFTER']} (other work on the box skews"
    " results).",
    f"- tweedle {E['TW_VERSION'].replace('tweedle ', '')} (git {E['GIT_REV']}): durable (SQLite WAL, synchronous=FULL,"
    " group commit; every request answered after its commit; an object's body file is written, renamed into place"
    f" and made durable by one syncfs per commit batch before its row commits). moto {moto}: in memory, werkzeug (a connection per request)."
    + (f" nginx {E['NGINX_VERSION']}: static files, the ceiling for GETs." if E.get("NGINX_VERSION") else ""),
    "",
]
if sqs_table or lp_lines:
    md += ["## SQS", ""]
if sqs_table:
    md += [f"Parameters: {E['CONNECTIONS']} connections, {E['WARMUP']} s warm-up + {E['DURATION']} s measured per"
           f" workload, {E['BODY_SIZE']}-byte bodies; cycle = SendMessageBatch({E['BATCH']}) -> ReceiveMessage(10,"
           f" WaitTimeSeconds {E['WAIT']}) -> DeleteMessageBatch, counting messages deleted; send = one SendMessage per"
           " request. Latency is per HTTP request as the client sees it; msgs/s counts messages (cycle: fully cycled).",
           "", *sqs_table, ""]
if lp_lines:
    md += ["Long polling (tweedle):", "", *lp_lines, ""]
if sqs_table or lp_lines:
    md += ["SQS targets (durable, client on the same 2-core box): cycle with batches of 10 >= 50,000 msgs/s;"
           " single SendMessage >= 15,000/s at 64 connections with p99 <= 5 ms; 5,000 parked long polls < 200 MB RSS.",
           ""]
if pub_table:
    md += ["## SNS publish", "",
           f"Parameters: one topic with {E.get('FANOUT', '?')} SQS queues subscribed; every connection repeats Publish"
           f" (query protocol, a {E['BODY_SIZE']}-byte message); {E['CONNECTIONS']} connections for tweedle,"
           f" {E.get('MOTO_PUBLISH_CONNECTIONS', '?')} for moto; {E['WARMUP']} s warm-up + {E['DURATION']} s measured;"
           " a fresh server per row. raw = RawMessageDelivery=true on every subscription; enveloped = the JSON"
           " notification envelope, signed (SHA1withRSA, one signature per publish). tweedle answers a Publish after"
           " the commit that holds every queue's copy. Deliveries checked: after the run, the sum of the queues'"
           " ApproximateNumberOfMessages against queues x acknowledged publishes (warm-up and tail included).",
           "", *pub_table, ""]
if cw_table:
    md += ["## CloudWatch PutMetricData", "",
           f"Parameters: every connection repeats PutMetricData with {E.get('DATUMS', '?')} datums (unit"
           f" Milliseconds, no Timestamp) spread over {E.get('METRIC_NAMES', '?')} metric names x 8 values of one"
           f" dimension; {E['CONNECTIONS']} connections for tweedle, {E.get('MOTO_CW_CONNECTIONS', '?')} for moto,"
           f" {E['WARMUP']} s warm-up + {E['DURATION']} s measured; a fresh"
           " server per row; SigV4 for service monitoring; protocol json = JSON 1.0 (X-Amz-Target"
           " GraniteServiceVersion20100801.PutMetricData, what boto3 >= 1.42 sends), query = Action=PutMetricData."
           " tweedle answers after the datums are committed to its store; moto keeps them in memory.",
           "", *cw_table, ""]
if s3_lines or big_lines:
    md += ["## S3", ""]
if s3_lines:
    md += [f"Parameters: path-style PutObject / GetObject, SigV4 (UNSIGNED-PAYLOAD for PUT bodies; nginx unsigned);"
           f" objects under 16 MiB: {E['S3_CONNECTIONS']} connections, {E['WARMUP']} s warm-up + {E['S3_DURATION']} s,"
           f" GETs round-robin over {E['S3_OBJECTS']} objects; 16 MiB and up: {E['S3_LARGE_CONNECTIONS']} connections,"
           f" {E['WARMUP']} s + {E['S3_LARGE_DURATION']} s, {E['S3_LARGE_OBJECTS']} objects. The GET objects are put"
           " first (unmeasured); nginx serves files of the same names and sizes. obj/s counts requests completed inside"
           " the window; MB/s (10^6 bytes) counts body bytes that crossed the socket inside it (sent for PUT, received"
           " for GET), so large objects in flight at the edges count for what moved. Ratios are of MB/s.",
           "", *s3_lines, ""]
if big_lines:
    md += ["Single large upload (tweedle):", "", *big_lines, ""]
if worker_lines:
    md += ["## Worker", "", *worker_lines, ""]
if notes:
    md += ["Errors:", "", *notes, ""]
if targets:
    md += ["## Targets", "", *targets, ""]
try:  # bench/cluster.py's section (WORKLOADS with "cluster")
    md += [open(f"{W}/cluster.md").read().rstrip("\n"), ""]
except OSError:
    pass
md += ["## Commands", "",
       "In order; a fresh server per workload, each stopped before the next starts; $TMP is a temporary directory:",
       "", "```", *[c.replace(W, "$TMP") for c in commands], "```", "",
       "Credentials were passed with --access-key/--secret-key (tweedle's from TWEEDLE_ACCESS_KEY_ID/"
       "TWEEDLE_SECRET_ACCESS_KEY; moto accepts any; nginx gets unsigned requests). nginx's config: worker_processes 2,"
       " access_log off, sendfile on, tcp_nopush on, keepalive_requests 1000000, root $TMP/www. See bench/README.md"
       " for where tweedle spends its time.", ""]
try:
    conf = open(f"{W}/nginx.conf").read().strip().replace(W, "$TMP")
    md += ["nginx.conf (the GET ceiling):", "", "```nginx", conf, "```", ""]
except OSError:
    pass
# the sections made by hand (bench/soak.sh: an hour; bench/backlog.py: 2 M
# messages) survive a new comparison: everything from the first of them on
KEPT = ("## Before and after (issue 18)", "## Soak (issue 16 item 4)", "## Backlog")
try:
    old = open(E["RESULTS"]).read()
    at = [old.index(k) for k in KEPT if k in old]
    if at:
        md += [old[min(at):].rstrip("\n"), ""]
except OSError:
    pass
with open(E["RESULTS"], "w") as f:
    f.write("\n".join(md))
print()
# every figure of the run as JSON, one file a run, to compare runs over time
if E.get("HISTORY"):
    import glob
    os.makedirs(E["HISTORY"], exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    rev = E["GIT_REV"].split("+")[0]
    runs = {}
    for path in sorted(glob.glob(f"{W}/*.json")):
        try:
            with open(path) as f:
                runs[os.path.basename(path)[:-5]] = json.loads(f.read().strip().splitlines()[-1])
        except (OSError, ValueError, IndexError):
            pass
    doc = {"generated": stamp, "git": E["GIT_REV"], "tweedle": E.get("TW_VERSION"), "cpus": nproc,
           "cpu": cpu_model(), "load_before": E["LOAD_BEFORE"], "load_after": E["LOAD_AFTER"],
           "elapsed_s": E.get("ELAPSED"), "moto": E.get("MOTO_VERSION"), "nginx": E.get("NGINX_VERSION"),
           "settings": {k: E.get(k) for k in ("WORKLOADS", "DURATION", "WARMUP", "CONNECTIONS", "BODY_SIZE", "BATCH",
                                              "WAIT", "S3_SIZES", "S3_DURATION", "S3_CONNECTIONS",
                                              "S3_LARGE_CONNECTIONS", "S3_LARGE_DURATION")},
           "commands": [c.replace(W, "$TMP") for c in commands], "runs": runs}
    hist = f'{E["HISTORY"]}/{stamp}-{rev}.json'
    with open(hist, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"figures as JSON: {hist}")
for block in (sqs_table, lp_lines, pub_table, cw_table, s3_lines, big_lines, worker_lines, notes, targets):
    if block:
        print("\n".join(block))
        print()
print(f"written to {E['RESULTS']}")
