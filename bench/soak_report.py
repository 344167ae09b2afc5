#!/usr/bin/env python3
"""The soak's table and summary (bench/soak.sh runs this).

Reads $WORK (meta.txt, max-WL.json, mM-WL.json, sM.json, smaps-M.txt), prints
the markdown, writes it to $WORK/soak.md and, when $RESULTS is set, puts it in
that file as the section "## Soak (issue 16 item 4)" (replacing an earlier one,
leaving the rest). With SMOKE=1 it also checks that every minute has its
samples and results, without errors, near the target rates; exit status 1 if not.
"""
import json
import os
import re
import sys

W = os.environ["WORK"]
RESULTS = os.environ.get("RESULTS", "")
SMOKE = os.environ.get("SMOKE") == "1"
SECTION = "## Soak (issue 16 item 4)"

meta = {}
for line in open(f"{W}/meta.txt"):
    k, _, v = line.rstrip("\n").partition("=")
    meta[k] = v
WLS = meta["workloads"].split()
MINUTES = int(meta["soak_minutes"])
UNIT = {"cycle": "msgs/s", "fifo": "msgs/s", "jobs": "jobs/s", "s3put": "PUT/s", "s3get": "GET/s"}


def load(path):
    try:
        with open(path) as f:
            return json.loads(f.readline())
    except (OSError, ValueError):
        return None


def rate(wl, j):
    if not j:
        return None
    return j.get("objects_per_s") if wl.startswith("s3") else j.get("msgs_per_s")


def smaps(m):
    out = {}
    try:
        for line in open(f"{W}/smaps-{m}.txt"):
            g = re.match(r"(\w+):\s+(\d+) kB", line)
            if g:
                out[g.group(1)] = int(g.group(2))
    except OSError:
        pass
    return out


rows = []
for m in range(1, MINUTES + 1):
    s = load(f"{W}/s{m}.json")
    r = {wl: load(f"{W}/m{m}-{wl}.json") for wl in WLS}
    rows.append((m, s, r, smaps(m)))

mib = lambda kb: kb / 1024


def fmt(x, d=1):
    return "–" if x is None else f"{x:.{d}f}"


head = ["min", "load 1/5/15", "srv CPU %", "RSS MiB", "anon MiB", "HWM MiB", "fds", "thr", "data MiB", "WAL MiB",
        "queued std/fifo"]
for wl in WLS:
    head += [f"{wl} {UNIT[wl]}", f"{wl} p50/p99 ms"]
head += ["errors"]
table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
for m, s, r, sm in rows:
    if not s:
        table.append(f"| {m} | (no sample) |")
        continue
    qd = s.get("queue_depth", {})
    cpu = [j["server_cpu_s"] / j["duration_s"] * 100 for j in r.values()
           if j and j.get("server_cpu_s") is not None and j.get("duration_s")]
    cells = [str(m), s["load"].replace(" ", "/"), fmt(max(cpu) if cpu else None, 0),
             fmt(mib(s["rss_kb"])),
             fmt(mib(sm["Anonymous"])) if "Anonymous" in sm else "–", fmt(mib(s["hwm_kb"])),
             str(s["fds"]), str(s["threads"]), fmt(mib(s["data_kb"])), fmt(s["wal_bytes"] / 1048576),
             f'{qd.get("tweedle-soak", "–")}/{qd.get("tweedle-soak.fifo", "–")}']
    errs = 0
    for wl in WLS:
        j = r[wl]
        cells += [fmt(rate(wl, j), 0),
                  f'{fmt(j["p50_ms"], 2)}/{fmt(j["p99_ms"], 1)}' if j else "–"]
        if j:
            errs += j.get("errors", 0) + j.get("entry_errors", 0) + j.get("timeouts", 0)
        else:
            errs += 1
    cells.append(str(errs))
    table.append("| " + " | ".join(cells) + " |")


# first vs last 10 minutes (a third of the run each when it is shorter than 30 minutes)
n = len(rows)
k = 10 if n >= 30 else max(1, n // 3)
first, last = rows[:k], rows[-k:]


def mean(vals):
    vals = [v for v in vals if v is not None]
    return sum(vals) / len(vals) if vals else None


def drift(a, b):
    return None if a is None or b is None or a == 0 else 100.0 * (b - a) / a


# and, from 30 minutes on, the second 10 against the last: past the warm-up, e.g. a FIFO
# queue's 5-minute deduplication window filling up
second = rows[k:2 * k] if n >= 3 * k and n >= 30 else []
if second:
    summary = ["| figure | minutes 1–%d | minutes %d–%d | last %d | first → last | second → last |"
               % (k, k + 1, 2 * k, k), "|---|---|---|---|---|---|"]
else:
    summary = ["| figure | first %d min | last %d min | change |" % (k, k), "|---|---|---|---|"]
verdict, verdict2 = {}, {}
pct = lambda v: "–" if v is None else f"{v:+.1f} %"


def add(name, getter, d=1, key=None):
    a = mean([getter(x) for x in first])
    b = mean([getter(x) for x in last])
    dr = drift(a, b)
    if key:
        verdict[key] = dr
    if second:
        c = mean([getter(x) for x in second])
        dr2 = drift(c, b)
        if key:
            verdict2[key] = dr2
        summary.append(f"| {name} | {fmt(a, d)} | {fmt(c, d)} | {fmt(b, d)} | {pct(dr)} | {pct(dr2)} |")
    else:
        summary.append(f"| {name} | {fmt(a, d)} | {fmt(b, d)} | {pct(dr)} |")


add("server RSS (MiB)", lambda x: mib(x[1]["rss_kb"]) if x[1] else None, key="rss")
add("  of it anonymous (MiB)", lambda x: mib(x[3]["Anonymous"]) if "Anonymous" in x[3] else None)
add("peak RSS, VmHWM (MiB)", lambda x: mib(x[1]["hwm_kb"]) if x[1] else None)
add("open fds", lambda x: x[1]["fds"] if x[1] else None, key="fds")
add("threads", lambda x: x[1]["threads"] if x[1] else None)
add("data directory (MiB)", lambda x: mib(x[1]["data_kb"]) if x[1] else None)
add("server CPU (% of one core)", lambda x: max([j["server_cpu_s"] / j["duration_s"] * 100 for j in x[2].values()
    if j and j.get("server_cpu_s") is not None and j.get("duration_s")] or [None], key=lambda v: v or 0), 0)
add("load average (1 min)", lambda x: float(x[1]["load"].split()[0]) if x[1] else None, 2)
for wl in WLS:
    add(f"{wl} {UNIT[wl]}", lambda x, wl=wl: rate(wl, x[2][wl]), 0)
    add(f"{wl} p50 ms", lambda x, wl=wl: x[2][wl]["p50_ms"] if x[2][wl] else None, 2)
    add(f"{wl} p99 ms", lambda x, wl=wl: x[2][wl]["p99_ms"] if x[2][wl] else None, 2)

flat = {key: v is not None and abs(v) <= 10 for key, v in verdict.items()}
flat2 = {key: v is not None and abs(v) <= 10 for key, v in verdict2.items()}
total_errors = sum(
    (j.get("errors", 0) + j.get("entry_errors", 0) + j.get("timeouts", 0)) if j else 0
    for _, _, r, _ in rows for j in r.values())
rss_max = max((x[1]["rss_kb"] for x in rows if x[1]), default=0)
rss_min = min((x[1]["rss_kb"] for x in rows if x[1]), default=0)
fd_max = max((x[1]["fds"] for x in rows if x[1]), default=0)
fd_min = min((x[1]["fds"] for x in rows if x[1]), default=0)

md = [SECTION, ""]
md += [f"{MINUTES} minute(s) of mixed load on one tweedle server ({meta['version']}, git {meta['git_rev']}), "
       f"{meta['started']} to {meta.get('finished', '?')}, on a shared 2-core machine (the load "
       "average per minute shows the other users). Made by:", "",
       "```", meta["command"], "```", ""]
md += [f"First the maximum: each workload alone for {meta['max_seconds']} s on "
       f"{meta['max_connections']} connections (load average then {meta['load_at_max']}); then "
       f"every minute all of them at once, each at {meta['fraction']} × its maximum ÷ {len(WLS)} "
       f"(so together about {float(meta['fraction']) * 100:.0f} % of what the server managed) with "
       f"`--rate`, on {meta['soak_connections']} connections each, restarted each minute "
       "(55 s measured after 1 s warm-up). The server's figures are sampled at second 50 of each minute: "
       "VmRSS and VmHWM (/proc/PID/status), Anonymous (/proc/PID/smaps_rollup), open fds "
       "(/proc/PID/fd), threads, `du` of the data directory, the size of tweedle.db-wal, and the "
       "SQS queues' depth (visible + in flight + delayed, from /_/metrics).", ""]
md += ["| workload | maximum | soak rate |", "|---|---|---|"]
for wl in WLS:
    md.append(f"| {wl} | {float(meta['max_' + wl]):.0f} {UNIT[wl]} | {meta['rate_' + wl]} {UNIT[wl]} |")
md += ["", "Server: `" + meta["server_cmd"].replace(W, "$TMP") + "`", "", "Load, per minute:", ""]
for wl in WLS:
    md.append("- `" + re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT",
                              meta["cmd_" + wl].replace(W, "$TMP")) + "`")
md += ["", "### Per minute", ""] + table
md += ["", "### Summary", ""] + summary
md += ["", f"RSS ranged {mib(rss_min):.1f}–{mib(rss_max):.1f} MiB, open fds {fd_min}–{fd_max}; "
       f"{total_errors} failed requests or batch entries in all. "
       f"RSS is {'flat' if flat.get('rss') else 'NOT flat'} within 10 % and open fds are "
       f"{'flat' if flat.get('fds') else 'NOT flat'} within 10 % (first vs last {k} minutes)" +
       (f"; from minute {k + 1} on, RSS is {'flat' if flat2.get('rss') else 'NOT flat'} and fds "
        f"{'flat' if flat2.get('fds') else 'NOT flat'} within 10 % (minutes {k + 1}–{2 * k} vs the "
        f"last {k})." if second else "."), ""]
out = "\n".join(md)
print(out)
with open(f"{W}/soak.md", "w") as f:
    f.write(out + "\n")

if RESULTS:
    try:
        old = open(RESULTS).read()
    except OSError:
        old = ""
    if SECTION in old:
        i = old.index(SECTION)
        rest = old[i + len(SECTION):]
        j = rest.find("\n## ")
        new = old[:i] + out + ("\n" + rest[j + 1:] if j >= 0 else "\n")
    else:
        new = old.rstrip("\n") + "\n\n" + out + "\n"
    with open(RESULTS, "w") as f:
        f.write(new)
    print(f"\nwritten to {RESULTS}", file=sys.stderr)

if SMOKE:
    bad = []
    for m, s, r, _ in rows:
        if not s:
            bad.append(f"minute {m}: no server sample")
        for wl in WLS:
            j = r[wl]
            if not j:
                bad.append(f"minute {m}: no result from {wl}")
                continue
            if j.get("errors") or j.get("entry_errors") or j.get("timeouts"):
                bad.append(f"minute {m}: {wl} had errors")
            target = float(meta["rate_" + wl])
            got = rate(wl, j) or 0
            if got < 0.5 * target:
                bad.append(f"minute {m}: {wl} made {got:.0f} of its {target:.0f} {UNIT[wl]}")
            if got > 1.1 * target:
                bad.append(f"minute {m}: {wl} made {got:.0f}, over its cap of {target:.0f} {UNIT[wl]}")
    if bad:
        print("soak smoke: FAILED\n  " + "\n  ".join(bad), file=sys.stderr)
        sys.exit(1)
    print("soak smoke: ok", file=sys.stderr)
