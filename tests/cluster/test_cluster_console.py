"""The web console (/_/console/api/) in cluster mode: three tweedle nodes on
one private PostgreSQL 15 and one shared blob directory.

What is asserted (issue 14; docs/console.md, docs/cluster.md):
* A login on node A is a session on B and C: the session lives in
  PostgreSQL (table console_sessions), which holds the SHA-256 of the id only.
* On B: the queue list shows a queue created and filled through SQS on C
  with its counts and DLQ; a queue's attributes; a peek that receives nothing
  (receive counts stay 0, a consumer on A then gets every message); a send
  (with the CSRF token; refused without it) that a consumer on C receives;
  a purge; buckets and objects made through S3 on A; SNS topics and
  subscriptions made on C; alarms (overview) made on A; rules; jobs.
* A logout on C ends the session on A and B (401).
* Expiry as on one node: a session unused for more than its idle limit is
  refused (and its row deleted); its use is written at most once a minute.
* A node started with --console off answers 404 under /_/console/ (as one node).
"""

import hashlib
import http.client
import json
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pg  # noqa: E402

import harness  # noqa: E402  (tests/integration, on pg's path)

API = "/_/console/api"
PG = None
CLUSTER = None


def setUpModule():
    global PG, CLUSTER
    PG, CLUSTER = pg.start_module(3)


def tearDownModule():
    pg.stop_module(PG, CLUSTER)


def call(node, method, path, body=None, cookie=None, csrf=None):
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=20)
    hdrs = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if cookie:
        hdrs["Cookie"] = cookie
    if csrf:
        hdrs["X-CSRF-Token"] = csrf
    conn.request(method, API + path, body=data, headers=hdrs)
    r = conn.getresponse()
    status, headers, raw = r.status, r.getheaders(), r.read()
    conn.close()
    return status, headers, raw


def get(node, path, cookie):
    status, _, raw = call(node, "GET", path, cookie=cookie)
    return status, json.loads(raw) if raw else None


def login(node):
    status, headers, raw = call(node, "POST", "/login",
                                {"access_key_id": harness.ACCESS_KEY,
                                 "secret_access_key": harness.SECRET_KEY})
    if status != 200:
        raise AssertionError("login failed: %d %r" % (status, raw))
    cookie = [v for k, v in headers if k.lower() == "set-cookie"][0].split(";")[0]
    return cookie, json.loads(raw)["csrf"]


def client(node, service):
    return harness.boto3.client(service, endpoint_url=node.endpoint, region_name=harness.REGION,
                                aws_access_key_id=harness.ACCESS_KEY,
                                aws_secret_access_key=harness.SECRET_KEY)


def session_rows(sql_where="true"):
    return pg.psql(PG, "SELECT id_hash, used_ms FROM console_sessions WHERE " + sql_where)


class TestConsoleCluster(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a, cls.b, cls.c = CLUSTER.nodes

    def test_session_across_nodes(self):
        a, b, c = self.a, self.b, self.c
        cookie, csrf = login(a)
        sid = cookie.split("=", 1)[1]
        digest = hashlib.sha256(sid.encode()).hexdigest()
        hashes = [r[0] for r in session_rows()]
        self.assertIn(digest, hashes)
        self.assertNotIn(sid, hashes)  # only a hash of the id is stored
        for node in (a, b, c):
            status, doc = get(node, "/session", cookie)
            self.assertEqual(status, 200, doc)
            self.assertEqual(doc["principal"], harness.ACCESS_KEY)
            self.assertEqual(doc["csrf"], csrf)
        # a state-changing call on B needs the token
        status, _, _ = call(b, "POST", "/redrive/cancel", {"task_handle": "x"}, cookie=cookie)
        self.assertEqual(status, 403)
        self.assertEqual(get(b, "/session", "tweedle_console=" + "0" * 64)[0], 401)
        # logout on C: refused on A and B, the row is gone
        status, _, _ = call(c, "POST", "/logout", {}, cookie=cookie, csrf=csrf)
        self.assertEqual(status, 200)
        for node in (a, b, c):
            self.assertEqual(get(node, "/session", cookie)[0], 401)
            self.assertEqual(get(node, "/queues", cookie)[0], 401)
        self.assertEqual(session_rows("id_hash = '%s'" % digest), [])

    def test_expiry_and_use(self):
        cookie, _ = login(self.a)
        digest = hashlib.sha256(cookie.split("=", 1)[1].encode()).hexdigest()
        now = int(time.time() * 1000)
        # used 90 s ago: a call on B writes its use again
        pg.psql(PG, "UPDATE console_sessions SET used_ms = %d WHERE id_hash = '%s'"
                % (now - 90000, digest))
        self.assertEqual(get(self.b, "/session", cookie)[0], 200)
        used = int(session_rows("id_hash = '%s'" % digest)[0][1])
        self.assertGreaterEqual(used, now - 5000)
        # used 10 s ago: not written again (at most once a minute)
        pg.psql(PG, "UPDATE console_sessions SET used_ms = %d WHERE id_hash = '%s'"
                % (now - 10000, digest))
        self.assertEqual(get(self.c, "/session", cookie)[0], 200)
        self.assertEqual(int(session_rows("id_hash = '%s'" % digest)[0][1]), now - 10000)
        # unused for 3 hours (the idle limit is 2): refused everywhere, row deleted
        pg.psql(PG, "UPDATE console_sessions SET used_ms = %d WHERE id_hash = '%s'"
                % (now - 3 * 3600 * 1000, digest))
        self.assertEqual(get(self.b, "/session", cookie)[0], 401)
        self.assertEqual(session_rows("id_hash = '%s'" % digest), [])
        self.assertEqual(get(self.a, "/session", cookie)[0], 401)
        # created 13 hours ago (the lifetime is 12): refused
        cookie, _ = login(self.b)
        digest = hashlib.sha256(cookie.split("=", 1)[1].encode()).hexdigest()
        pg.psql(PG, "UPDATE console_sessions SET created_ms = %d WHERE id_hash = '%s'"
                % (now - 13 * 3600 * 1000, digest))
        self.assertEqual(get(self.c, "/session", cookie)[0], 401)

    def test_queues(self):
        a, b, c = self.a, self.b, self.c
        cookie, csrf = login(a)
        sqs_c, sqs_a = client(c, "sqs"), client(a, "sqs")
        dlq = pg.unique("cdlq")
        dlq_url = sqs_c.create_queue(QueueName=dlq)["QueueUrl"]
        dlq_arn = "arn:aws:sqs:%s:%s:%s" % (harness.REGION, harness.ACCOUNT, dlq)
        q = pg.unique("cq")
        url = sqs_c.create_queue(QueueName=q, Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})})["QueueUrl"]
        for i in range(3):
            sqs_c.send_message(QueueUrl=url, MessageBody="m%d" % i)
        sqs_c.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
        status, doc = get(b, "/queues", cookie)
        self.assertEqual(status, 200, doc)
        mine = {x["name"]: x for x in doc["queues"]}
        self.assertIn(dlq, mine)
        row = mine[q]
        self.assertEqual((row["visible"], row["in_flight"], row["delayed"]), (3, 0, 1))
        self.assertEqual((row["dlq_arn"], row["max_receive_count"]), (dlq_arn, 3))
        self.assertFalse(row["fifo"])
        self.assertTrue(row["arn"].endswith(":" + q))
        self.assertGreater(row["created"], 0)
        status, doc = get(b, "/queues/" + q, cookie)
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["attributes"]["ApproximateNumberOfMessages"], "3")
        status, doc = get(b, "/queues/nosuch-" + q, cookie)  # the engine's error, as on one node
        self.assertEqual((status, doc["error"]["code"]), (400, "QueueDoesNotExist"))
        # a peek receives nothing, twice
        for _ in range(2):
            status, doc = get(b, "/queues/%s/messages?max=10" % q, cookie)
            self.assertEqual(status, 200, doc)
            self.assertEqual(doc["total"], 4)
            self.assertEqual([m["Body"] for m in doc["messages"]], ["m0", "m1", "m2", "later"])
            self.assertEqual([m["ApproximateReceiveCount"] for m in doc["messages"]], [0] * 4)
            self.assertEqual([m["State"] for m in doc["messages"]],
                             ["visible"] * 3 + ["delayed"])
        self.assertEqual(get(b, "/queues/nosuch-%s/messages" % q, cookie)[0], 404)
        got = []
        deadline = time.time() + 20
        while len(got) < 3 and time.time() < deadline:
            r = sqs_a.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                      AttributeNames=["ApproximateReceiveCount"])
            got += r.get("Messages", [])
        self.assertEqual(sorted(m["Body"] for m in got), ["m0", "m1", "m2"])
        self.assertEqual({m["Attributes"]["ApproximateReceiveCount"] for m in got}, {"1"})
        status, doc = get(b, "/queues", cookie)
        row = {x["name"]: x for x in doc["queues"]}[q]
        self.assertEqual((row["visible"], row["in_flight"], row["delayed"]), (0, 3, 1))
        # send on B, received on C
        self.assertEqual(call(b, "POST", "/queues/%s/send" % q, {"body": "x"}, cookie=cookie)[0],
                         403)
        status, _, raw = call(b, "POST", "/queues/%s/send" % q, {"body": "from-console"},
                              cookie=cookie, csrf=csrf)
        self.assertEqual(status, 200, raw)
        self.assertIn("MessageId", json.loads(raw))
        deadline = time.time() + 20
        bodies = []
        while "from-console" not in bodies and time.time() < deadline:
            r = sqs_c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            bodies += [m["Body"] for m in r.get("Messages", [])]
        self.assertIn("from-console", bodies)
        # redrive tasks of the DLQ, then a purge through B
        status, doc = get(b, "/queues/%s/redrive" % dlq, cookie)
        self.assertEqual(status, 200, doc)
        status, _, raw = call(b, "POST", "/queues/%s/purge" % q, {}, cookie=cookie, csrf=csrf)
        self.assertEqual(status, 200, raw)
        deadline = time.time() + 10
        total = None
        while total != 0 and time.time() < deadline:
            total = get(c, "/queues/%s/messages" % q, cookie)[1]["total"]
            if total:
                time.sleep(0.2)
        self.assertEqual(total, 0)
        sqs_c.delete_queue(QueueUrl=url)
        sqs_c.delete_queue(QueueUrl=dlq_url)

    def test_buckets_topics_alarms_rules_jobs(self):
        a, b, c = self.a, self.b, self.c
        cookie, _ = login(c)
        bucket = pg.unique("cbkt")
        s3 = pg.s3_client(a)
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="dir/one.txt", Body=b"hello")
        status, doc = get(b, "/buckets", cookie)
        self.assertEqual(status, 200, doc)
        self.assertIn(bucket, [x["name"] for x in doc["buckets"]])
        status, doc = get(b, "/buckets/%s/objects?prefix=dir%%2F" % bucket, cookie)
        self.assertEqual(status, 200, doc)
        self.assertIn("dir/one.txt", json.dumps(doc))
        status, doc = get(b, "/buckets/%s/object?key=dir%%2Fone.txt" % bucket, cookie)
        self.assertEqual(status, 200, doc)
        # the download URL presigned on B works on A (behind one Host, as
        # through a load balancer: the URL signs the Host it was asked on)
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=20)
        conn.request("GET", doc["download_url"], headers={"Host": "127.0.0.1:%d" % b.port})
        r = conn.getresponse()
        self.assertEqual((r.status, r.read()), (200, b"hello"))
        conn.close()
        self.assertEqual(get(b, "/buckets/%s/objects" % pg.unique("nosuch"), cookie)[0], 404)

        sns = client(c, "sns")
        topic = sns.create_topic(Name=pg.unique("ctopic"))["TopicArn"]
        q = pg.unique("ctq")
        client(c, "sqs").create_queue(QueueName=q)
        qarn = "arn:aws:sqs:%s:%s:%s" % (harness.REGION, harness.ACCOUNT, q)
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
        status, doc = get(b, "/topics", cookie)
        self.assertEqual(status, 200, doc)
        self.assertIn(topic, [x["TopicArn"] for x in doc["topics"]])
        self.assertEqual([x["Endpoint"] for x in doc["subscriptions"] if x["TopicArn"] == topic],
                         [qarn])

        alarm = pg.unique("calarm")
        client(a, "cloudwatch").put_metric_alarm(
            AlarmName=alarm, Namespace="Test", MetricName="M", Statistic="Sum", Period=60,
            EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
        status, doc = get(b, "/overview", cookie)
        self.assertEqual(status, 200, doc)
        self.assertIn(alarm, [x["name"] for x in doc["alarms"]])

        rule = pg.unique("crule")
        events = client(a, "events")
        events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["x"]}))
        events.put_targets(Rule=rule, Targets=[{"Id": "t1", "Arn": qarn}])
        status, doc = get(b, "/rules", cookie)
        self.assertEqual(status, 200, doc)
        bus = [x for x in doc["buses"] if x["name"] == "default"][0]
        self.assertIn(rule, [x["Name"] for x in bus["rules"]])

        status, doc = get(b, "/jobs", cookie)
        self.assertEqual(status, 200, doc)
        self.assertIsInstance(doc["jobs"], list)
        status, doc = get(b, "/dashboards", cookie)
        self.assertEqual(status, 200, doc)
        status, doc = get(b, "/log-groups", cookie)
        self.assertEqual(status, 200, doc)


class TestConsoleOffCluster(unittest.TestCase):
    def test_off(self):
        # a node started with --console off on the same cluster serves no console
        node = harness.Server(extra_args=["--store", PG.url, "--blobs", CLUSTER.blobs,
                                          "--console", "off"])
        node.start(timeout=30)
        try:
            status, _, raw = call(node, "POST", "/login",
                                  {"access_key_id": harness.ACCESS_KEY,
                                   "secret_access_key": harness.SECRET_KEY})
            self.assertEqual(status, 404, raw)
            cookie, _ = login(CLUSTER.nodes[0])
            self.assertEqual(call(node, "GET", "/session", cookie=cookie)[0], 404)
        finally:
            node.cleanup()


if __name__ == "__main__":
    unittest.main()
