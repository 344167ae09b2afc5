"""PutLogEvents rate: client threads put batches of events to one log stream
(or one stream per thread) through every node, for a fixed time.

  TWEEDLE_BIN=build/X/tweedle python3 bench/logs_put.py [--nodes N] [--single]
      [--threads T] [--batch B] [--size BYTES] [--duration S] [--streams shared|own]

--nodes N (default 3): a private PostgreSQL 15 and N nodes on it
(tests/cluster/pg.py); --single: one node on its embedded store instead.
Threads are spread over the nodes; each request is a PutLogEvents of B events
of BYTES bytes. Prints events/s, requests/s, latency p50/p99 and errors, and
checks afterwards that every acknowledged event is there (count per stream).
The client (boto3, one process) can bound the rate on a small machine.
"""

import argparse
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "cluster"))

import pg  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402


def client(node):
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                 read_timeout=60, max_pool_connections=64)
    return boto3.client("logs", endpoint_url=node.endpoint, region_name=pg.harness.REGION,
                        aws_access_key_id=pg.harness.ACCESS_KEY,
                        aws_secret_access_key=pg.harness.SECRET_KEY, config=cfg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--single", action="store_true")
    ap.add_argument("--threads", type=int, default=12)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--streams", choices=("shared", "own"), default="shared")
    a = ap.parse_args()
    env = {"TWEEDLE_SERVER_LOG_GROUP": "0"}
    srv = None
    if a.single:
        srv = pg.harness.Server(env=env).start()
        nodes = [srv]
        what = "1 node (embedded store)"
    else:
        why = pg.pg_missing()
        if why:
            sys.exit(why)
        srv = pg.PgServer().start()
        cl = pg.Cluster(srv, a.nodes, env=env).start()
        nodes = cl.nodes
        what = "%d nodes on PostgreSQL 15" % a.nodes
    try:
        setup = client(nodes[0])
        g = "/bench/put-%d" % os.getpid()
        setup.create_log_group(logGroupName=g)
        names = ["shared"] if a.streams == "shared" else ["t%d" % i for i in range(a.threads)]
        for s in names:
            setup.create_log_stream(logGroupName=g, logStreamName=s)
        msg = "x" * a.size
        lat, errors, acked = [], [0], {s: 0 for s in names}
        mu = threading.Lock()
        stop = time.monotonic() + a.duration

        def worker(i):
            c = client(nodes[i % len(nodes)])
            s = names[0] if a.streams == "shared" else names[i]
            mine, n = [], 0
            while time.monotonic() < stop:
                t = int(time.time() * 1000)
                evs = [{"timestamp": t, "message": msg} for _ in range(a.batch)]
                t0 = time.monotonic()
                try:
                    c.put_log_events(logGroupName=g, logStreamName=s, logEvents=evs)
                    n += a.batch
                    mine.append(time.monotonic() - t0)
                except Exception:  # noqa: BLE001
                    with mu:
                        errors[0] += 1
            with mu:
                lat.extend(mine)
                acked[s] += n

        t0 = time.monotonic()
        th = [threading.Thread(target=worker, args=(i,)) for i in range(a.threads)]
        for x in th:
            x.start()
        for x in th:
            x.join()
        secs = time.monotonic() - t0
        lat.sort()
        total = sum(acked.values())
        p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: 0)
        print("%s, %d threads, batch %d x %d B, %s streams, %.1f s: %.0f events/s, %.0f requests/s,"
              " p50 %.1f ms, p99 %.1f ms, errors %d"
              % (what, a.threads, a.batch, a.size, a.streams, secs, total / secs, len(lat) / secs,
                 p(0.5), p(0.99), errors[0]))
        # every acknowledged event is there
        for s in names:
            st = setup.describe_log_streams(logGroupName=g, logStreamNamePrefix=s)["logStreams"]
            stored = [x["storedBytes"] for x in st if x["logStreamName"] == s][0]
            if stored != acked[s] * a.size:
                print("MISMATCH stream %s: stored %d bytes, acknowledged %d" % (s, stored,
                                                                             acked[s] * a.size))
                sys.exit(1)
        print("check: storedBytes of every stream = acknowledged events x size")
    finally:
        if a.single:
            srv.cleanup()
        else:
            cl.stop()
            srv.stop()


if __name__ == "__main__":
    main()
