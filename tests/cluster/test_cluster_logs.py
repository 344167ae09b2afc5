"""CloudWatch Logs in cluster mode: three tweedle nodes on one private
PostgreSQL 15 (issue 14; docs/cluster.md "CloudWatch Logs on PostgreSQL").

What is asserted:
* A group created on A, its stream created on B, events put on C are read
  on A at once: GetLogEvents (startFromHead, nextForwardToken paging, the
  default newest-first page), FilterLogEvents with a pattern and its
  nextToken paging, DescribeLogStreams (first/last event timestamps,
  storedBytes) and DescribeLogGroups (storedBytes, retention); a second
  CreateLogGroup / CreateLogStream of the same name on another node answers
  ResourceAlreadyExistsException.
* Concurrent PutLogEvents from the three nodes to one stream: every event is
  there exactly once and GetLogEvents answers them in timestamp order;
  storedBytes and the stream's first/last timestamps count every batch.
* Retention: events older than a retention put on B are hidden at once on C
  and deleted by one node only (the "logs retention" lock): exactly one
  node's server log stream reports the deletion, and storedBytes drops by
  their bytes once.
* DeleteLogGroup on A: gone on B and C at once (no group, no stream, no
  events; recreated empty); a stream deleted while two other nodes put to
  it leaves no event behind in PostgreSQL.
* The server's own log group /tweedle/server holds one stream per node, each
  with that node's own start line.
* EMF documents put on one node become CloudWatch metrics read on another
  (when CloudWatch runs in cluster mode).
* PostgreSQL stopped: Logs calls answer ServiceUnavailableException (500)
  at once; started again: puts go on, nothing acknowledged before is lost.
"""

import datetime
import json
import os
import sys
import threading
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pg  # noqa: E402

from botocore.exceptions import ClientError  # noqa: E402

PG = None
CLUSTER = None


def setUpModule():
    global PG, CLUSTER
    PG, CLUSTER = pg.start_module(3, env={"TWEEDLE_LOGS_SWEEP_MS": "300"})


def tearDownModule():
    pg.stop_module(PG, CLUSTER)


def client(node, service="logs"):
    return pg.client(node, service, read_timeout=60)


def psql(sql):
    return pg.psql(PG, sql)


def now_ms():
    return int(time.time() * 1000)


def unique(prefix):
    return "/cluster/%s-%s" % (prefix, uuid.uuid4().hex[:10])


def put(c, g, s, events):
    return c.put_log_events(logGroupName=g, logStreamName=s,
                            logEvents=[{"timestamp": t, "message": m} for t, m in events])


def read_all(c, g, s, limit=100):
    """Every event of a stream, oldest first, by nextForwardToken pages."""
    out = []
    r = c.get_log_events(logGroupName=g, logStreamName=s, startFromHead=True, limit=limit)
    for _ in range(10000):
        out += r["events"]
        if not r["events"]:
            return out
        r = c.get_log_events(logGroupName=g, logStreamName=s, limit=limit,
                             nextToken=r["nextForwardToken"])
    raise AssertionError("paging did not end")


class ClusterLogsTest(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.a, cls.b, cls.c = [client(n) for n in CLUSTER.nodes]

    def assertCode(self, cm, code):
        self.assertEqual(cm.exception.response["Error"]["Code"], code, cm.exception.response)

    def test_group_on_a_stream_on_b_events_on_c_read_on_a(self):
        g = unique("g")
        self.a.create_log_group(logGroupName=g)
        self.b.create_log_stream(logGroupName=g, logStreamName="s")
        with self.assertRaises(ClientError) as cm:
            self.c.create_log_group(logGroupName=g)
        self.assertCode(cm, "ResourceAlreadyExistsException")
        with self.assertRaises(ClientError) as cm:
            self.a.create_log_stream(logGroupName=g, logStreamName="s")
        self.assertCode(cm, "ResourceAlreadyExistsException")
        t = now_ms() - 60000
        msgs = ["line %02d %s" % (i, "ERROR disk" if i % 5 == 0 else "ok") for i in range(25)]
        r = put(self.c, g, "s", [(t + i, m) for i, m in enumerate(msgs)])
        self.assertNotIn("rejectedLogEventsInfo", r)
        # read on A at once: forward pages of 7
        ev = read_all(self.a, g, "s", limit=7)
        self.assertEqual([e["message"] for e in ev], msgs)
        self.assertEqual([e["timestamp"] for e in ev], [t + i for i in range(25)])
        # the default page: the newest, oldest first; then backwards
        r = self.a.get_log_events(logGroupName=g, logStreamName="s", limit=3)
        self.assertEqual([e["message"] for e in r["events"]], msgs[-3:])
        r = self.b.get_log_events(logGroupName=g, logStreamName="s", limit=3,
                                  nextToken=r["nextBackwardToken"])
        self.assertEqual([e["message"] for e in r["events"]], msgs[-6:-3])
        # FilterLogEvents with a pattern, on B, paged by nextToken on A
        r = self.b.filter_log_events(logGroupName=g, filterPattern="ERROR", limit=2)
        got = [e["message"] for e in r["events"]]
        self.assertEqual([e["logStreamName"] for e in r["events"]], ["s", "s"])
        while "nextToken" in r:
            r = self.a.filter_log_events(logGroupName=g, filterPattern="ERROR", limit=2,
                                         nextToken=r["nextToken"])
            got += [e["message"] for e in r["events"]]
        self.assertEqual(got, [m for m in msgs if "ERROR" in m])
        # the stream's and the group's figures, on every node
        size = sum(len(m) for m in msgs)
        for c in (self.a, self.b, self.c):
            st = c.describe_log_streams(logGroupName=g)["logStreams"]
            self.assertEqual([s["logStreamName"] for s in st], ["s"])
            self.assertEqual(st[0]["firstEventTimestamp"], t)
            self.assertEqual(st[0]["lastEventTimestamp"], t + 24)
            self.assertEqual(st[0]["storedBytes"], size)
            self.assertIn("lastIngestionTime", st[0])
            grp = c.describe_log_groups(logGroupNamePrefix=g)["logGroups"]
            self.assertEqual([x["logGroupName"] for x in grp], [g])
            self.assertEqual(grp[0]["storedBytes"], size)

    def test_listings_page_across_nodes(self):
        base = unique("p")
        names = [base + "-%d" % i for i in range(5)]
        for i, n in enumerate(names):
            (self.a, self.b, self.c)[i % 3].create_log_group(logGroupName=n)
        got, token = [], None
        clients = [self.b, self.c, self.a]
        for i in range(10):
            kw = {"logGroupNamePrefix": base, "limit": 2}
            if token:
                kw["nextToken"] = token
            r = clients[i % 3].describe_log_groups(**kw)
            got += [x["logGroupName"] for x in r["logGroups"]]
            token = r.get("nextToken")
            if not token:
                break
        self.assertEqual(got, names)
        g = names[0]
        for i, s in enumerate(["b", "a", "c", "ab"]):
            (self.a, self.b, self.c)[i % 3].create_log_stream(logGroupName=g, logStreamName=s)
        r = self.c.describe_log_streams(logGroupName=g, descending=True, limit=3)
        self.assertEqual([s["logStreamName"] for s in r["logStreams"]], ["c", "b", "ab"])
        r = self.a.describe_log_streams(logGroupName=g, descending=True, limit=3,
                                        nextToken=r["nextToken"])
        self.assertEqual([s["logStreamName"] for s in r["logStreams"]], ["a"])
        self.assertNotIn("nextToken", r)
        t = now_ms()
        put(self.a, g, "b", [(t - 3000, "x")])
        put(self.b, g, "a", [(t - 2000, "x")])
        put(self.c, g, "c", [(t - 1000, "x")])
        r = self.b.describe_log_streams(logGroupName=g, orderBy="LastEventTime", descending=True)
        self.assertEqual([s["logStreamName"] for s in r["logStreams"]][:3], ["c", "a", "b"])

    def test_concurrent_puts_to_one_stream(self):
        g = unique("conc")
        self.a.create_log_group(logGroupName=g)
        self.a.create_log_stream(logGroupName=g, logStreamName="shared")
        nodes = [client(n) for n in CLUSTER.nodes]
        batches, per = 20, 25
        base = now_ms() - 120000
        errors = []

        def writer(k):
            try:
                for b in range(batches):
                    # the nodes' batches interleave in time: node k's events sit
                    # between the others'
                    evs = [(base + (b * per + i) * 3 + k, "n%d-b%02d-e%02d" % (k, b, i))
                           for i in range(per)]
                    put(nodes[k], g, "shared", evs)
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        th = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
        for x in th:
            x.start()
        for x in th:
            x.join(120)
        self.assertFalse(any(x.is_alive() for x in th), "writers did not finish")
        self.assertEqual(errors, [])
        ev = read_all(self.b, g, "shared", limit=500)
        msgs = [e["message"] for e in ev]
        want = sorted("n%d-b%02d-e%02d" % (k, b, i) for k in range(3) for b in range(batches)
                      for i in range(per))
        self.assertEqual(len(msgs), len(want))
        self.assertEqual(sorted(msgs), want)  # every event once
        ts = [e["timestamp"] for e in ev]
        self.assertEqual(ts, sorted(ts))  # in timestamp order
        self.assertEqual(ts, [base + j * 3 + k for j in range(batches * per) for k in range(3)])
        st = self.c.describe_log_streams(logGroupName=g)["logStreams"][0]
        self.assertEqual(st["storedBytes"], sum(len(m) for m in want))
        self.assertEqual(st["firstEventTimestamp"], base)
        self.assertEqual(st["lastEventTimestamp"], base + (batches * per - 1) * 3 + 2)
        # the appends' figures are folded into the stream's row by the node that
        # sweeps (every 300 ms here): the same answer before and after
        pending = ("SELECT count(*) FROM cw_log_stream_puts p JOIN cw_log_streams s"
                   " ON s.id = p.stream_id JOIN cw_log_groups g ON g.id = s.group_id"
                   " WHERE g.name = '%s'" % g)
        deadline = time.time() + 10
        while psql(pending) != [["0"]] and time.time() < deadline:
            time.sleep(0.2)
        self.assertEqual(psql(pending), [["0"]])
        row = psql("SELECT s.stored_bytes, s.first_ts, s.last_ts FROM cw_log_streams s JOIN"
                   " cw_log_groups g ON g.id = s.group_id WHERE g.name = '%s'" % g)
        self.assertEqual(row, [[str(st["storedBytes"]), str(base),
                                str(st["lastEventTimestamp"])]])
        st2 = self.a.describe_log_streams(logGroupName=g)["logStreams"][0]
        for k in ("storedBytes", "firstEventTimestamp", "lastEventTimestamp",
                  "lastIngestionTime"):
            self.assertEqual(st2[k], st[k], k)

    def test_retention_applied_once(self):
        g = unique("ret")
        self.a.create_log_group(logGroupName=g)
        self.a.create_log_stream(logGroupName=g, logStreamName="s")
        old = now_ms() - 3 * 86400 * 1000
        put(self.a, g, "s", [(old + i, "old-%d" % i) for i in range(40)])
        put(self.c, g, "s", [(now_ms(), "fresh")])
        self.assertEqual(len(read_all(self.b, g, "s")), 41)
        self.b.put_retention_policy(logGroupName=g, retentionInDays=1)
        # hidden at once on another node
        ev = self.c.get_log_events(logGroupName=g, logStreamName="s", startFromHead=True)["events"]
        self.assertEqual([e["message"] for e in ev], ["fresh"])
        self.assertEqual(self.a.describe_log_groups(logGroupNamePrefix=g)["logGroups"][0]
                         ["retentionInDays"], 1)
        # deleted by the sweep (300 ms on the node holding the lock): their bytes once
        deadline = time.time() + 15
        while time.time() < deadline:
            st = self.a.describe_log_streams(logGroupName=g)["logStreams"][0]
            if st["storedBytes"] == len("fresh"):
                break
            time.sleep(0.2)
        self.assertEqual(st["storedBytes"], len("fresh"))
        # one node swept: its own server log stream says so, no other's
        deadline = time.time() + 10
        streams = set()
        while time.time() < deadline:
            r = self.b.filter_log_events(logGroupName="/tweedle/server",
                                         filterPattern='"this node sweeps for the cluster"')
            streams = {e["logStreamName"] for e in r["events"]}
            if streams:
                break
            time.sleep(0.3)
        self.assertEqual(len(streams), 1, streams)
        r = self.b.filter_log_events(logGroupName="/tweedle/server",
                                     filterPattern='"logs retention: this node leads it"')
        self.assertEqual({e["logStreamName"] for e in r["events"]}, streams)
        # still gone without the retention
        self.c.delete_retention_policy(logGroupName=g)
        ev = self.a.get_log_events(logGroupName=g, logStreamName="s", startFromHead=True)["events"]
        self.assertEqual([e["message"] for e in ev], ["fresh"])

    def test_delete_group_gone_everywhere_at_once(self):
        g = unique("del")
        self.a.create_log_group(logGroupName=g)
        self.b.create_log_stream(logGroupName=g, logStreamName="s")
        put(self.c, g, "s", [(now_ms(), "before")])
        self.a.delete_log_group(logGroupName=g)
        self.assertEqual(self.b.describe_log_groups(logGroupNamePrefix=g)["logGroups"], [])
        with self.assertRaises(ClientError) as cm:
            self.b.get_log_events(logGroupName=g, logStreamName="s")
        self.assertCode(cm, "ResourceNotFoundException")
        with self.assertRaises(ClientError) as cm:
            put(self.c, g, "s", [(now_ms(), "after")])
        self.assertCode(cm, "ResourceNotFoundException")
        with self.assertRaises(ClientError) as cm:
            self.c.delete_log_group(logGroupName=g)
        self.assertCode(cm, "ResourceNotFoundException")
        # recreated: empty
        self.c.create_log_group(logGroupName=g)
        self.assertEqual(self.a.describe_log_streams(logGroupName=g)["logStreams"], [])
        self.assertEqual(self.b.filter_log_events(logGroupName=g)["events"], [])
        # a stream deleted on B is gone on C, its events too
        self.a.create_log_stream(logGroupName=g, logStreamName="t")
        put(self.a, g, "t", [(now_ms(), "t1")])
        self.b.delete_log_stream(logGroupName=g, logStreamName="t")
        with self.assertRaises(ClientError) as cm:
            self.c.get_log_events(logGroupName=g, logStreamName="t")
        self.assertCode(cm, "ResourceNotFoundException")
        self.c.create_log_stream(logGroupName=g, logStreamName="t")
        self.assertEqual(read_all(self.a, g, "t"), [])

    def test_delete_stream_during_puts_leaves_no_events(self):
        g = unique("race")
        self.a.create_log_group(logGroupName=g)
        self.a.create_log_stream(logGroupName=g, logStreamName="s")
        sid = psql("SELECT s.id FROM cw_log_streams s JOIN cw_log_groups g ON g.id = s.group_id"
                   " WHERE g.name = '%s'" % g)[0][0]
        deadline = time.monotonic() + 30
        outcomes = {"ok": 0, "gone": 0, "other": []}
        mu = threading.Lock()

        def writer(c):
            while time.monotonic() < deadline:  # until it sees the stream gone
                try:
                    put(c, g, "s", [(now_ms(), "m%d" % i) for i in range(50)])
                    key = "ok"
                except ClientError as e:
                    code = e.response["Error"]["Code"]
                    key = "gone" if code == "ResourceNotFoundException" else None
                    if key is None:
                        with mu:
                            outcomes["other"].append(code)
                        continue
                with mu:
                    outcomes[key] += 1
                if key == "gone":
                    return

        th = [threading.Thread(target=writer, args=(c,)) for c in (self.b, self.c)]
        for x in th:
            x.start()
        time.sleep(1.0)
        self.a.delete_log_stream(logGroupName=g, logStreamName="s")
        for x in th:
            x.join(40)
        self.assertGreater(outcomes["ok"], 0, outcomes)
        self.assertEqual(outcomes["gone"], 2, outcomes)  # each writer saw the stream go
        self.assertEqual(outcomes["other"], [])
        # no event of the deleted stream is left behind (an append in flight
        # either committed before the delete, which removed it, or inserted nothing)
        self.assertEqual(psql("SELECT count(*) FROM cw_log_events WHERE stream_id = %s" % sid),
                         [["0"]])

    def test_server_log_group_one_stream_per_node(self):
        ports = [n.port for n in CLUSTER.nodes]
        deadline = time.time() + 15
        found = {}
        while time.time() < deadline and len(found) < 3:
            for p in ports:
                if p in found:
                    continue
                marker = "tweedle listening on 127.0.0.1:%d" % p
                try:
                    r = self.a.filter_log_events(logGroupName="/tweedle/server",
                                                 filterPattern='"%s"' % marker)
                except ClientError:
                    continue
                if r["events"]:
                    found[p] = [e["logStreamName"] for e in r["events"]]
            time.sleep(0.3)
        self.assertEqual(sorted(found), sorted(ports), found)
        for p, streams in found.items():
            self.assertEqual(len(streams), 1, streams)  # the line once
            self.assertIn("127.0.0.1_%d" % p, streams[0])
        self.assertEqual(len({s[0] for s in found.values()}), 3, found)
        st = [s["logStreamName"] for s in self.b.describe_log_streams(
            logGroupName="/tweedle/server")["logStreams"]]
        for streams in found.values():
            self.assertIn(streams[0], st)
        lg = self.c.describe_log_groups(logGroupNamePrefix="/tweedle/server")["logGroups"]
        self.assertEqual(lg[0]["retentionInDays"], 30)

    def test_emf_metrics_from_one_node_read_on_another(self):
        cw = client(CLUSTER.nodes[1], "cloudwatch")
        try:
            cw.list_metrics(Namespace="Nothing")
        except ClientError as e:
            if e.response["ResponseMetadata"]["HTTPStatusCode"] == 501:
                self.skipTest("CloudWatch is not served in cluster mode in this build")
            raise
        g = unique("emf")
        self.a.create_log_group(logGroupName=g)
        self.a.create_log_stream(logGroupName=g, logStreamName="s")
        ns = "EmfCluster" + uuid.uuid4().hex[:8]
        t = now_ms()
        doc = {"_aws": {"Timestamp": t, "CloudWatchMetrics": [{
            "Namespace": ns, "Dimensions": [["Service"]],
            "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}]}]},
            "Service": "api", "Latency": [10, 20, 30]}
        put(self.c, g, "s", [(t, json.dumps(doc))])
        start = datetime.datetime.fromtimestamp(t / 1000 - 120, datetime.timezone.utc)
        end = datetime.datetime.fromtimestamp(t / 1000 + 120, datetime.timezone.utc)
        st = cw.get_metric_statistics(Namespace=ns, MetricName="Latency",
                                      Dimensions=[{"Name": "Service", "Value": "api"}],
                                      StartTime=start, EndTime=end, Period=300,
                                      Statistics=["SampleCount", "Sum"])["Datapoints"]
        self.assertEqual([(d["SampleCount"], d["Sum"]) for d in st], [(3.0, 60.0)])

    def test_zz_postgres_away_then_back(self):
        """Last in the module (it stops and starts PostgreSQL)."""
        a, b = client(CLUSTER.nodes[0]), client(CLUSTER.nodes[1])
        g = unique("fault")
        a.create_log_group(logGroupName=g)
        a.create_log_stream(logGroupName=g, logStreamName="s")
        put(a, g, "s", [(now_ms(), "before")])
        PG._stop_postgres()
        try:
            t0 = time.monotonic()
            with self.assertRaises(ClientError) as cm:
                put(b, g, "s", [(now_ms(), "while away")])
            err = cm.exception.response
            self.assertEqual(err["Error"]["Code"], "ServiceUnavailableException", err)
            self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], 500)
            with self.assertRaises(ClientError) as cm:
                a.describe_log_streams(logGroupName=g)
            self.assertEqual(cm.exception.response["Error"]["Code"],
                             "ServiceUnavailableException")
            self.assertLess(time.monotonic() - t0, 15)  # answered, not hung
        finally:
            PG._start_postgres()
        deadline = time.time() + 20
        while True:
            try:
                put(b, g, "s", [(now_ms(), "after")])
                break
            except ClientError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        # the third node's first request since the restart may still find its
        # pooled connections dead (503) until it has reconnected: bounded
        c = client(CLUSTER.nodes[2])
        while True:
            try:
                msgs = [e["message"] for e in read_all(c, g, "s")]
                break
            except ClientError as e:
                if e.response["Error"]["Code"] != "ServiceUnavailableException" or \
                        time.time() > deadline:
                    raise
                time.sleep(0.2)
        self.assertEqual(msgs, ["before", "after"])


if __name__ == "__main__":
    unittest.main()
