#!/usr/bin/env python3
"""Cluster benchmark (issue 14): the same SQS and S3 workloads against the
embedded single node (SQLite) and against 1, 2 and 3 tweedle nodes on one
private PostgreSQL 15, in one run, with what PostgreSQL spent per message and
per object (statements, transactions, WAL bytes, CPU): the capacity model.

    python3 bench/cluster.py                      (make bench runs it; ~3 minutes)
    NODES="1 3" WORKLOADS="cycle" python3 bench/cluster.py

Each (configuration, workload) gets fresh nodes and, on PostgreSQL, a fresh
database. The load comes from one `tweedle bench` process per node, each with
CONNECTIONS/N connections to its own node (as a load balancer would spread
them); throughputs add up, latency figures are the worst process's.

Environment (all optional):
  WORKLOADS="cycle send s3put" (also s3get)   NODES="1 2 3"   SQLITE=1 (the single-node row)
  DURATION=8  CONNECTIONS=64  BATCH=10  BODY_SIZE=100  OBJECT_SIZE=4096
  PG_CORES=16 PG_UTIL=0.75 NODE_CORES=2   the projection's machine sizes
  TWEEDLE_BIN=build/tweedle  OUT=FILE (markdown, default stdout)  JSON_OUT=FILE
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
for k in ("TWEEDLE_TEST_STORE", "TWEEDLE_TEST_NODES"):  # harness: plain servers here
    os.environ.pop(k, None)
os.environ.setdefault("TWEEDLE_BIN", os.path.join(ROOT, "build", "tweedle"))
os.environ["TWEEDLE_BIN_SNAPSHOT"] = "0"

import pg  # noqa: E402  (puts tests/integration on the path)
import harness  # noqa: E402

BIN = os.environ["TWEEDLE_BIN"]
WORKLOADS = os.environ.get("WORKLOADS", "cycle send s3put").split()
NODES = [int(n) for n in os.environ.get("NODES", "1 2 3").split()]
SQLITE = os.environ.get("SQLITE", "1") != "0"
DURATION = float(os.environ.get("DURATION", "8"))
CONNECTIONS = int(os.environ.get("CONNECTIONS", "64"))
BATCH = int(os.environ.get("BATCH", "10"))
BODY_SIZE = int(os.environ.get("BODY_SIZE", "100"))
OBJECT_SIZE = int(os.environ.get("OBJECT_SIZE", "4096"))
PG_CORES = int(os.environ.get("PG_CORES", "16"))
PG_UTIL = float(os.environ.get("PG_UTIL", "0.75"))
NODE_CORES = int(os.environ.get("NODE_CORES", "2"))
TICK = os.sysconf("SC_CLK_TCK")
UNIT = {"cycle": "msgs", "send": "msgs", "s3put": "objects", "s3get": "objects"}
COMMANDS = []


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def cpu_of(pids):
    """CPU seconds (user + system) of these processes, 0 for those gone."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / TICK


def pg_pids(srv):
    """The postmaster and its children (backends, WAL writer, checkpointer...)."""
    root = srv.proc.pid
    out = [root]
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == root:
            out.append(int(d))
    return out


class Psql:
    def __init__(self, srv):
        self.srv = srv

    def q(self, db, sql):
        argv = [os.path.join(pg.PG_BIN, "psql"), "-h", "127.0.0.1", "-p", str(self.srv.port),
                "-U", self.srv.user, "-d", db, "-XAtq", "-c", sql]
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        if r.returncode:
            raise RuntimeError("psql: %s" % r.stderr.decode(errors="replace"))
        return r.stdout.decode().strip()

    def createdb(self, name):
        self.q(self.srv.dbname, "CREATE DATABASE %s" % name)
        self.q(name, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    def snapshot(self, db):
        """Counters of database db: transactions, rows, statements, WAL position."""
        row = self.q(db, "SELECT d.xact_commit + d.xact_rollback, d.tup_inserted, "
                         "d.tup_updated, d.tup_deleted, "
                         "(SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s "
                         " WHERE s.dbid = d.datid), "
                         "pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') "
                         "FROM pg_stat_database d WHERE d.datname = current_database()")
        x = [float(v) for v in row.split("|")]
        return {"xacts": x[0], "inserted": x[1], "updated": x[2], "deleted": x[3],
                "statements": x[4], "wal_bytes": x[5]}


def bench_args(wl, endpoint, pid, conns, tag):
    a = ["--endpoint", endpoint, "--workload", wl, "--duration", str(DURATION), "--warmup", "0",
         "--connections", str(conns), "--server-pid", str(pid), "--json"]
    if wl == "cycle":
        a += ["--batch", str(BATCH), "--queue", "bench-cycle", "--body-size", str(BODY_SIZE)]
    elif wl == "send":
        a += ["--queue", "bench-send", "--body-size", str(BODY_SIZE)]
    elif wl in ("s3put", "s3get"):
        a += ["--bucket", "bench-cluster", "--object-size", str(OBJECT_SIZE)]
    return a


def run_load(wl, nodes):
    """One bench process per node, started together; their JSON results."""
    per = max(1, CONNECTIONS // len(nodes))
    procs = []
    for i, n in enumerate(nodes):
        args = bench_args(wl, n.endpoint, n.proc.pid, per, i)
        if i == 0:  # the same for every run but the node's address and pid
            shown = bench_args(wl, "http://NODE:PORT", "NODE_PID", per, i)
            COMMANDS.append("tweedle bench " + " ".join(shown) + "   (one per node)")
        p = subprocess.Popen([BIN, "bench"] + args + ["--access-key", harness.ACCESS_KEY,
                                                      "--secret-key", harness.SECRET_KEY],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(p)
    results = []
    for p in procs:
        out, err = p.communicate(timeout=DURATION + 120)
        try:
            results.append(json.loads(out.decode().strip().splitlines()[-1]))
        except (ValueError, IndexError):
            raise RuntimeError("bench failed: %s" % err.decode(errors="replace")[-1500:])
    return results


def combine(wl, results):
    rate_key = "objects_per_s" if wl.startswith("s3") else "msgs_per_s"
    done_key = "completed" if wl.startswith("s3") else ("deleted" if wl == "cycle" else "sent")
    return {"rate": sum(r[rate_key] for r in results),
            "done": sum(r[done_key] for r in results),
            "p50_ms": max(r["p50_ms"] for r in results),
            "p99_ms": max(r["p99_ms"] for r in results),
            "errors": sum(r["errors"] + r.get("entry_errors", 0) for r in results)}


def measure(label, wl, nodes, psql=None, db=None, pgsrv=None):
    # a first unmeasured call creates the queue/bucket, so every process finds it
    pids = [n.proc.pid for n in nodes]
    before_pg = psql.snapshot(db) if psql else None
    pg_cpu0 = cpu_of(pg_pids(pgsrv)) if pgsrv else 0
    node_cpu0 = cpu_of(pids)
    results = run_load(wl, nodes)
    node_cpu = cpu_of(pids) - node_cpu0
    row = combine(wl, results)
    row.update(config=label, workload=wl, nodes=len(nodes), node_cpu_s=node_cpu)
    if psql:
        after = psql.snapshot(db)
        row["pg_cpu_s"] = cpu_of(pg_pids(pgsrv)) - pg_cpu0
        row["pg"] = {k: after[k] - before_pg[k] for k in after}
        row["pg"]["statements"] -= 1  # the snapshot's own query
    log("  %-9s %-6s %8.0f %s/s  p99 %6.1f ms  errors %d" % (
        label, wl, row["rate"], UNIT[wl], row["p99_ms"], row["errors"]))
    return row


def start_nodes(n, extra, env=None):
    nodes = []
    for _ in range(n):
        s = harness.Server(extra_args=extra, env=env)
        s.start(timeout=30)
        nodes.append(s)
    return nodes


def stop_nodes(nodes):
    for s in nodes:
        s.cleanup()


def main():
    missing = pg.pg_missing()
    rows = []
    if SQLITE:
        for wl in WORKLOADS:
            nodes = start_nodes(1, [])
            try:
                rows.append(measure("sqlite-1", wl, nodes))
            finally:
                stop_nodes(nodes)
    if missing:
        log("cluster: skipped: %s" % missing)
    else:
        srv = pg.PgServer(conf=["shared_preload_libraries=pg_stat_statements",
                                "shared_buffers=128MB", "pg_stat_statements.track=all"])
        srv.start()
        psql = Psql(srv)
        seq = 0
        try:
            for n in NODES:
                for wl in WORKLOADS:
                    seq += 1
                    db = "bench_%d" % seq
                    psql.createdb(db)
                    url = "postgres://%s@127.0.0.1:%d/%s" % (srv.user, srv.port, db)
                    blobs = tempfile.mkdtemp(prefix="tweedle-bench-blobs-")
                    nodes = start_nodes(n, ["--store", url, "--blobs", blobs])
                    try:
                        rows.append(measure("pg-%d" % n, wl, nodes, psql, db, srv))
                    finally:
                        stop_nodes(nodes)
                        shutil.rmtree(blobs, ignore_errors=True)
        finally:
            srv.stop()
    md = report(rows, missing)
    out = os.environ.get("OUT")
    if out:
        with open(out, "w") as f:
            f.write(md)
    else:
        sys.stdout.write(md)
    if os.environ.get("JSON_OUT"):
        with open(os.environ["JSON_OUT"], "w") as f:
            json.dump({"rows": rows, "commands": COMMANDS}, f)  # one line: bench/history


def report(rows, missing):
    L = []
    L.append("## Cluster: 1, 2 and 3 nodes on one PostgreSQL (issue 14)\n")
    L.append("`python3 bench/cluster.py` (DURATION=%g s, CONNECTIONS=%d spread over the nodes, "
             "cycle batch %d, body %d B, objects %d B), %s, %d cores, load average %s. Every "
             "node, PostgreSQL and the load generators share this machine's cores, so more "
             "nodes do not mean more CPU here: the rows show the cost of the cluster path "
             "and that it scales out without errors, not what N machines do.\n" % (
                 DURATION, CONNECTIONS, BATCH, BODY_SIZE, OBJECT_SIZE,
                 time.strftime("%Y-%m-%d", time.gmtime()), os.cpu_count(),
                 " ".join("%.1f" % x for x in os.getloadavg())))
    L.append("| configuration | workload | rate | p50 ms | p99 ms | errors | node CPU µs/op "
             "| PG CPU µs/op | PG statements/op | PG xacts/op | WAL bytes/op |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ops = max(r["done"], 1)
        pgc = r.get("pg")
        L.append("| %s | %s | %.0f %s/s | %.1f | %.1f | %d | %.0f | %s | %s | %s | %s |" % (
            r["config"], r["workload"], r["rate"], UNIT[r["workload"]], r["p50_ms"],
            r["p99_ms"], r["errors"], 1e6 * r["node_cpu_s"] / ops,
            "%.0f" % (1e6 * r["pg_cpu_s"] / ops) if pgc else "–",
            "%.2f" % (pgc["statements"] / ops) if pgc else "–",
            "%.2f" % (pgc["xacts"] / ops) if pgc else "–",
            "%.0f" % (pgc["wal_bytes"] / ops) if pgc else "–"))
    if missing:
        L.append("\nPostgreSQL rows skipped: %s\n" % missing)
    L.append("")
    proj = [r for r in rows if r.get("pg") and r["nodes"] == max(NODES)]
    if proj:
        L.append("### Capacity model\n")
        L.append("From the %d-node rows: per operation, PostgreSQL's CPU and WAL, and a "
                 "node's CPU. A %d-core PostgreSQL kept at %d%% CPU serves "
                 "%d×%.2f / (PG CPU per op) operations a second; a node of %d cores at "
                 "the same utilisation serves %d×%.2f / (node CPU per op); the nodes needed "
                 "is the ratio. WAL rate at that throughput is what the PostgreSQL disk and "
                 "any replica must absorb. Measured on a shared 2-core machine: the CPU "
                 "figures include contention, so they overstate the cost.\n" % (
                     max(NODES), PG_CORES, int(PG_UTIL * 100), PG_CORES, PG_UTIL,
                     NODE_CORES, NODE_CORES, PG_UTIL))
        L.append("| workload | PG CPU µs/op | node CPU µs/op | %d-core PG ceiling | ops/s per "
                 "%d-core node | nodes to reach it | WAL at ceiling | commits/s at ceiling |"
                 % (PG_CORES, NODE_CORES))
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in proj:
            ops = max(r["done"], 1)
            pg_us = 1e6 * r["pg_cpu_s"] / ops
            node_us = 1e6 * r["node_cpu_s"] / ops
            ceiling = PG_CORES * PG_UTIL * 1e6 / max(pg_us, 1e-9)
            per_node = NODE_CORES * PG_UTIL * 1e6 / max(node_us, 1e-9)
            wal = r["pg"]["wal_bytes"] / ops * ceiling
            commits = r["pg"]["xacts"] / ops * ceiling
            L.append("| %s | %.0f | %.0f | %.0f %s/s | %.0f | %d | %.1f MB/s | %.0f |" % (
                r["workload"], pg_us, node_us, ceiling, UNIT[r["workload"]], per_node,
                -(-ceiling // per_node), wal / 1e6, commits))
        L.append("")
    L.append("Commands:\n")
    L.append("```")
    L.extend(dict.fromkeys(COMMANDS))
    L.append("```\n")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    main()
