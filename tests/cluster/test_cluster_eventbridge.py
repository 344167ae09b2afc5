"""EventBridge in cluster mode: three tweedle nodes on one private PostgreSQL 15
(issue 14; docs/cluster.md "EventBridge on PostgreSQL").

What is asserted:
* A rule and its SQS target created on node A match an event put on B at
  once (B reads the "eventbridge" state counter before it serves), and the
  message is received on C (an SNS topic target too, fanned out to a queue;
  an object put on C in a bucket whose EventBridgeConfiguration was set on A
  matches a rule put on B); the rule deleted on A no longer matches on B
  right after; a bus, a rule and its targets are listed alike on every node.
* A FIFO queue target: events put on A, B and C reach the queue in order of
  their PutEvents, with the target's MessageGroupId.
* A scheduled rule (rate(1 minute), one minute of the schedule clock being
  MINUTE_MS: TWEEDLE_SCHEDULE_MINUTE_MS) fires once per tick with three
  nodes (one node leads, session advisory lock), and keeps firing, neither
  skipping nor doubling ticks, after kill -9 of the leading node.
* An API destination (a local http.server) gets each event exactly once with
  three nodes (outbox rows leased to one node); a node killed while its
  delivery hangs has that row delivered by another once its lease
  (TWEEDLE_EB_CLAIM_MS) ends.
* PostgreSQL restarted: a rule put on A (503 while it is away) matches on B,
  and one node leads the schedules again.
"""

import json
import os
import sys
import threading
import time
import unittest
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pg  # noqa: E402


MINUTE_MS = 1500  # one minute of schedule time
CLAIM_MS = 3000  # an outbox row's lease
PG = None
CLUSTER = None
LEAD_LINE = "eventbridge: this node fires the cluster's scheduled rules"


def setUpModule():
    global PG, CLUSTER
    PG, CLUSTER = pg.start_module(3, env={"TWEEDLE_SCHEDULE_MINUTE_MS": str(MINUTE_MS),
                                     "TWEEDLE_EB_CLAIM_MS": str(CLAIM_MS)})


def tearDownModule():
    pg.stop_module(PG, CLUSTER)


client = pg.client


def live_nodes():
    return [n for n in CLUSTER.nodes if n.alive()]


def psql(sql):
    return pg.psql(PG, sql)


def schedule_leaders():
    """The live nodes holding the scheduler's advisory lock (by the client
    port of the PostgreSQL session that holds it)."""
    rows = psql("SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted"
                " AND a.application_name = 'tweedle-eventbridge-schedule'")
    return [n for n in (owner_of(int(r[0])) for r in rows) if n is not None]


log_of = pg.log_of


def unique(p):
    return "%s-%s" % (p, uuid.uuid4().hex[:10])


wait_for = pg.wait_for


def drain(sqs, url, wait=1, until_empty=True, limit=1000):
    """Every message of the queue (deleted as read)."""
    out = []
    while len(out) < limit:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait,
                                AttributeNames=["All"])
        msgs = r.get("Messages", [])
        if not msgs:
            break
        for m in msgs:
            out.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if not until_empty:
            break
    return out


def entry(source, detail, bus=None):
    e = {"Source": source, "DetailType": "t", "Detail": json.dumps(detail)}
    if bus:
        e["EventBusName"] = bus
    return e


class Base(unittest.TestCase):
    maxDiff = 4000

    def setUp(self):
        nodes = live_nodes()
        self.a, self.b, self.c = nodes[0], nodes[1 % len(nodes)], nodes[2 % len(nodes)]
        self.eb = {n: client(n, "events") for n in (self.a, self.b, self.c)}
        self.sqs = {n: client(n, "sqs") for n in (self.a, self.b, self.c)}

    def queue(self, node, fifo=False):
        name = unique("ebq") + (".fifo" if fifo else "")
        attrs = {"FifoQueue": "true", "ContentBasedDeduplication": "true"} if fifo else {}
        url = self.sqs[node].create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        arn = self.sqs[node].get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn


class RulesAcrossNodes(Base):
    def test_rule_on_a_event_on_b_message_on_c_then_deleted(self):
        url, arn = self.queue(self.a)
        src = unique("app")
        rule = unique("r")
        self.eb[self.a].put_rule(Name=rule, EventPattern=json.dumps({"source": [src]}))
        self.eb[self.a].put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn}])
        # at once on B: no wait between A's answer and B's PutEvents
        r = self.eb[self.b].put_events(Entries=[entry(src, {"n": 1})])
        self.assertEqual(r["FailedEntryCount"], 0, r)
        msgs = drain(self.sqs[self.c], url)
        self.assertEqual(len(msgs), 1, msgs)
        ev = json.loads(msgs[0]["Body"])
        self.assertEqual(ev["source"], src)
        self.assertEqual(ev["detail"], {"n": 1})
        self.assertEqual(ev["id"], r["Entries"][0]["EventId"])
        # the rule and its target read alike on every node
        for n in (self.a, self.b, self.c):
            d = self.eb[n].describe_rule(Name=rule)
            self.assertEqual(json.loads(d["EventPattern"]), {"source": [src]})
            t = self.eb[n].list_targets_by_rule(Rule=rule)["Targets"]
            self.assertEqual([(x["Id"], x["Arn"]) for x in t], [("q", arn)])
        # deleted on A: B matches nothing right after
        self.eb[self.a].remove_targets(Rule=rule, Ids=["q"])
        self.eb[self.a].delete_rule(Name=rule)
        r = self.eb[self.b].put_events(Entries=[entry(src, {"n": 2})])
        self.assertEqual(r["FailedEntryCount"], 0, r)
        self.assertEqual(drain(self.sqs[self.c], url, wait=2), [])
        with self.assertRaises(self.eb[self.c].exceptions.ResourceNotFoundException):
            self.eb[self.c].describe_rule(Name=rule)

    def test_bus_rule_disabled_enabled_input_transformer(self):
        url, arn = self.queue(self.a)
        src = unique("app")
        bus = unique("bus")
        rule = unique("r")
        self.eb[self.a].create_event_bus(Name=bus)
        names = [b["Name"] for b in self.eb[self.c].list_event_buses()["EventBuses"]]
        self.assertIn(bus, names)
        self.eb[self.b].put_rule(Name=rule, EventBusName=bus,
                                 EventPattern=json.dumps({"source": [src]}))
        self.eb[self.c].put_targets(Rule=rule, EventBusName=bus, Targets=[{
            "Id": "q", "Arn": arn,
            "InputTransformer": {"InputPathsMap": {"n": "$.detail.n"},
                                 "InputTemplate": '{"got": <n>}'}}])
        self.eb[self.a].put_events(Entries=[entry(src, {"n": 7}, bus)])
        msgs = drain(self.sqs[self.b], url)
        self.assertEqual([json.loads(m["Body"]) for m in msgs], [{"got": 7}])
        self.eb[self.b].disable_rule(Name=rule, EventBusName=bus)
        self.eb[self.c].put_events(Entries=[entry(src, {"n": 8}, bus)])
        self.assertEqual(drain(self.sqs[self.a], url, wait=2), [])
        self.eb[self.c].enable_rule(Name=rule, EventBusName=bus)
        self.eb[self.a].put_events(Entries=[entry(src, {"n": 9}, bus)])
        msgs = drain(self.sqs[self.b], url)
        self.assertEqual([json.loads(m["Body"]) for m in msgs], [{"got": 9}])
        # the bus deleted on C (its rule first) is gone on A
        self.eb[self.c].remove_targets(Rule=rule, EventBusName=bus, Ids=["q"])
        self.eb[self.c].delete_rule(Name=rule, EventBusName=bus)
        self.eb[self.c].delete_event_bus(Name=bus)
        names = [b["Name"] for b in self.eb[self.a].list_event_buses()["EventBuses"]]
        self.assertNotIn(bus, names)

    def test_sns_topic_target_fans_out_to_a_queue(self):
        url, qarn = self.queue(self.a)
        sns = client(self.b, "sns")
        topic = sns.create_topic(Name=unique("t"))["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn,
                      Attributes={"RawMessageDelivery": "true"})
        src = unique("app")
        rule = unique("r")
        self.eb[self.c].put_rule(Name=rule, EventPattern=json.dumps({"source": [src]}))
        self.eb[self.a].put_targets(Rule=rule, Targets=[{"Id": "t", "Arn": topic}])
        r = self.eb[self.b].put_events(Entries=[entry(src, {"sns": 1})])
        self.assertEqual(r["FailedEntryCount"], 0, r)
        msgs = drain(self.sqs[self.c], url)
        self.assertEqual(len(msgs), 1, msgs)
        ev = json.loads(msgs[0]["Body"])
        self.assertEqual((ev["source"], ev["detail"]), (src, {"sns": 1}))

    def test_s3_events_to_the_default_bus(self):
        url, arn = self.queue(self.a)
        s3a, s3c = client(self.a, "s3"), client(self.c, "s3")
        bucket = unique("ebbk")
        s3a.create_bucket(Bucket=bucket)
        s3a.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}})
        rule = unique("r")
        self.eb[self.b].put_rule(Name=rule, EventPattern=json.dumps(
            {"source": ["aws.s3"], "detail": {"bucket": {"name": [bucket]}}}))
        self.eb[self.b].put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn}])
        s3c.put_object(Bucket=bucket, Key="k1", Body=b"x")
        msgs = drain(self.sqs[self.b], url)
        self.assertEqual(len(msgs), 1, msgs)
        ev = json.loads(msgs[0]["Body"])
        self.assertEqual((ev["detail-type"], ev["detail"]["object"]["key"]),
                         ("Object Created", "k1"))
        s3a.delete_object(Bucket=bucket, Key="k1")
        s3a.delete_bucket(Bucket=bucket)

    def test_fifo_queue_target_across_nodes(self):
        url, arn = self.queue(self.a, fifo=True)
        src = unique("app")
        rule = unique("r")
        self.eb[self.b].put_rule(Name=rule, EventPattern=json.dumps({"source": [src]}))
        self.eb[self.b].put_targets(Rule=rule, Targets=[{
            "Id": "f", "Arn": arn, "SqsParameters": {"MessageGroupId": "g1"}}])
        nodes = [self.a, self.b, self.c] * 3
        for i, n in enumerate(nodes):
            r = self.eb[n].put_events(Entries=[entry(src, {"i": i})])
            self.assertEqual(r["FailedEntryCount"], 0, r)
        got = []
        deadline = time.monotonic() + 20
        while len(got) < len(nodes) and time.monotonic() < deadline:
            got += drain(self.sqs[self.c], url, until_empty=False)
        self.assertEqual([json.loads(m["Body"])["detail"]["i"] for m in got],
                         list(range(len(nodes))))
        self.assertEqual({m["Attributes"]["MessageGroupId"] for m in got}, {"g1"})
        seqs = [int(m["Attributes"]["SequenceNumber"]) for m in got]
        self.assertEqual(seqs, sorted(seqs))


class Sink:
    """A local HTTP endpoint recording each request's body; while `hang` is
    set, requests wait (unanswered) until it is cleared."""

    def __init__(self):
        self.bodies = []
        self.ports = []  # each request's client port (which node sent it)
        self.lock = threading.Lock()
        self.hang = threading.Event()
        self.hanging = threading.Event()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with sink.lock:
                    sink.bodies.append(body)
                    sink.ports.append(self.client_address[1])
                if sink.hang.is_set():
                    sink.hanging.set()
                    while sink.hang.is_set():
                        time.sleep(0.05)
                    return  # no answer: the connection closes
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def got(self):
        with self.lock:
            return [json.loads(b) for b in self.bodies]

    def close(self):
        self.hang.clear()
        self.httpd.shutdown()
        self.httpd.server_close()


class ApiDestination(Base):
    def setUp(self):
        super().setUp()
        self.sink = Sink()

    def tearDown(self):
        self.sink.close()

    def destination(self, node):
        conn = self.eb[node].create_connection(
            Name=unique("c"), AuthorizationType="API_KEY",
            AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "x-key",
                                                     "ApiKeyValue": "secret"}})
        dest = self.eb[node].create_api_destination(
            Name=unique("d"), ConnectionArn=conn["ConnectionArn"],
            InvocationEndpoint="http://127.0.0.1:%d/hook" % self.sink.port, HttpMethod="POST",
            InvocationRateLimitPerSecond=300)
        return dest["ApiDestinationArn"]

    def rule_to(self, node, dest_arn, src):
        rule = unique("r")
        self.eb[node].put_rule(Name=rule, EventPattern=json.dumps({"source": [src]}))
        self.eb[node].put_targets(Rule=rule, Targets=[{"Id": "d", "Arn": dest_arn,
                                                       "InputPath": "$.detail"}])
        return rule

    def test_each_event_delivered_exactly_once(self):
        src = unique("app")
        dest = self.destination(self.a)
        self.rule_to(self.b, dest, src)
        n = 30
        for i in range(n):
            node = (self.a, self.b, self.c)[i % 3]
            r = self.eb[node].put_events(Entries=[entry(src, {"i": i})])
            self.assertEqual(r["FailedEntryCount"], 0, r)
        wait_for(lambda: len(self.sink.got()) >= n, 30, "%d deliveries" % n)
        time.sleep(2 * CLAIM_MS / 1000.0)  # a second delivery would have come by now
        got = sorted(b["i"] for b in self.sink.got())
        self.assertEqual(got, list(range(n)))

    def test_killed_delivering_node_another_delivers(self):
        """The node whose delivery hangs is killed: after its lease another
        node delivers the row (the killed node is started again after)."""
        src = unique("app")
        dest = self.destination(self.a)
        self.rule_to(self.a, dest, src)
        self.sink.hang.set()
        self.eb[self.b].put_events(Entries=[entry(src, {"k": 1})])
        self.assertTrue(self.sink.hanging.wait(15), "the first delivery")
        owner = owner_of(self.sink.ports[0])
        self.assertIsNotNone(owner, "the node holding the delivery's connection")
        owner.kill9()
        try:
            self.sink.hang.clear()
            got = wait_for(lambda: len(self.sink.got()) >= 2, 30, "the event delivered again")
            time.sleep(2 * CLAIM_MS / 1000.0)
            self.assertEqual(self.sink.got(), [{"k": 1}, {"k": 1}])  # the dead node's, then one
            del got
        finally:
            owner.start(timeout=30)


def owner_of(port):
    """The live node whose process has the TCP connection from local port."""
    inodes = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if int(parts[1].split(":")[1], 16) == port:
                        inodes.add(parts[9])
        except OSError:
            pass
    for n in live_nodes():
        fd_dir = "/proc/%d/fd" % n.proc.pid
        try:
            for fd in os.listdir(fd_dir):
                try:
                    link = os.readlink(os.path.join(fd_dir, fd))
                except OSError:
                    continue
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return n
        except OSError:
            pass
    return None


class Schedule(Base):
    """Kills the leading node (started again after)."""

    def test_rate_rule_fires_once_per_tick_and_after_kill9_of_the_leader(self):
        url, arn = self.queue(self.a)
        rule = unique("sched")
        self.eb[self.a].put_rule(Name=rule, ScheduleExpression="rate(1 minute)")
        self.eb[self.b].put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn}])
        leaders = wait_for(schedule_leaders, 15, "a leading node")
        self.assertEqual(len(leaders), 1, leaders)
        leader = leaders[0]
        # 8 shrunk minutes: one event per tick, each slot once
        time.sleep(8 * MINUTE_MS / 1000.0)
        msgs = drain(self.sqs[self.c], url, wait=0)
        times = sorted(json.loads(m["Body"])["time"] for m in msgs)
        self.assertGreaterEqual(len(msgs), 6, times)
        self.assertLessEqual(len(msgs), 9, times)
        self.assertEqual(len(set(times)), len(times), times)
        # kill -9 the leader: another node takes the lead and the rule keeps
        # firing, from the committed last fire (no tick twice)
        rest = [n for n in live_nodes() if n is not leader]
        leader.kill9()
        try:
            t0 = time.monotonic()
            new = wait_for(schedule_leaders, 15, "a new leader")
            self.assertEqual(len(new), 1, new)
            self.assertIn(new[0], rest)
            self.assertIn(LEAD_LINE, log_of(new[0]))
            time.sleep(max(0.0, 8 * MINUTE_MS / 1000.0 - (time.monotonic() - t0)))
            sqs = client(rest[0], "sqs")
            after = []
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                got = drain(sqs, url, wait=1)
                after += got
                if not got and len(after) >= 5:
                    break
            times2 = sorted(json.loads(m["Body"])["time"] for m in after)
            self.assertGreaterEqual(len(after), 5, times2)
            every = times + times2
            self.assertEqual(len(set(every)), len(every), every)  # no slot fired twice
            rid = {json.loads(m["Body"])["resources"][0] for m in msgs + after}
            self.assertEqual(len(rid), 1)
            self.assertTrue(rid.pop().endswith(":rule/" + rule))
            self.eb[rest[0]].remove_targets(Rule=rule, Ids=["q"])
            self.eb[rest[0]].delete_rule(Name=rule)
        finally:
            leader.start(timeout=30)


class ZPostgresRestart(Base):
    """Runs last (classes run by name): restarts PostgreSQL."""

    def retried(self, fn, what):
        """fn() until it answers something other than 503 (PostgreSQL away)."""
        from botocore.exceptions import ClientError, EndpointConnectionError
        deadline = time.monotonic() + 30
        while True:
            try:
                return fn()
            except (ClientError, EndpointConnectionError) as e:
                code = getattr(e, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
                if time.monotonic() > deadline or code not in (None, 500, 503):
                    raise AssertionError("%s: %r" % (what, e))
                time.sleep(0.3)

    def test_postgres_restarted_rules_still_reach_every_node(self):
        url, arn = self.queue(self.a)
        PG.restart(down_seconds=1.0)
        src = unique("app")
        rule = unique("r")
        self.retried(lambda: self.eb[self.a].put_rule(
            Name=rule, EventPattern=json.dumps({"source": [src]})), "PutRule after the restart")
        self.retried(lambda: self.eb[self.a].put_targets(
            Rule=rule, Targets=[{"Id": "q", "Arn": arn}]), "PutTargets")
        r = self.retried(lambda: self.eb[self.b].put_events(Entries=[entry(src, {"r": 1})]),
                         "PutEvents")
        self.assertEqual(r["FailedEntryCount"], 0, r)
        msgs = self.retried(lambda: drain(self.sqs[self.c], url), "ReceiveMessage")
        self.assertEqual([json.loads(m["Body"])["detail"] for m in msgs], [{"r": 1}])
        # the scheduler's lock is taken again by one node
        wait_for(lambda: len(schedule_leaders()) == 1, 15, "one schedule leader")


if __name__ == "__main__":
    unittest.main()
