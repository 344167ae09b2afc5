"""SNS in cluster mode: three tweedle nodes on one private PostgreSQL 15.

What is asserted (issue 14; docs/cluster.md "SNS on PostgreSQL"):
* A topic created on node A is listed on B and C at once (read-your-writes
  across nodes: each node compares the "sns" change counter before it
  answers); attributes and tags changed on one node read back on another;
  a topic deleted on C is gone on A.
* A queue subscribed on B gets what is published on C, received on A: the
  envelope as on one node (Type, MessageId = Publish's, TopicArn, Message,
  Signature verifiable against the SigningCertURL, whichever node serves
  it: one key pair for the cluster); raw delivery too.
* FIFO topic -> FIFO queue, publishes spread over the nodes (and at once
  from three threads): SequenceNumbers unique and increasing in commit order,
  a duplicate published on B after A answers with A's MessageId and
  SequenceNumber, and the queue gets each message once, in group order.
* A filter policy set on A is honoured by a publish on B right after.
* An HTTP endpoint subscription (a local http.server): the confirmation
  arrives once, is confirmed through another node, and each of the messages
  published over the three nodes is POSTed exactly once.
* kill -9 of the node delivering an outbox row (the endpoint hangs): another
  node delivers the row after its lease (TWEEDLE_SNS_LEASE_MS).
"""

import base64
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pg  # noqa: E402

import boto3  # noqa: E402
import harness as h  # noqa: E402  (pg.py puts tests/integration on the path)
from botocore.config import Config  # noqa: E402

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    HAVE_CRYPTO = True
except ImportError:  # pragma: no cover
    HAVE_CRYPTO = False

PG = None
CLUSTER = None
LEASE_MS = 3000
CLIENTS = {}


def setUpModule():
    global PG, CLUSTER
    PG, CLUSTER = pg.start_module(3, env={"TWEEDLE_SNS_LEASE_MS": str(LEASE_MS)})


def tearDownModule():
    pg.stop_module(PG, CLUSTER)


def psql(sql):
    out = subprocess.run([os.path.join(pg.PG_BIN, "psql"), "-h", "127.0.0.1", "-p", str(PG.port),
                          "-U", PG.user, "-d", PG.dbname, "-At", "-c", sql],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if out.returncode:
        raise AssertionError(out.stderr.decode())
    return out.stdout.decode().strip()


def sns_client(node):
    session = boto3.session.Session(aws_access_key_id=h.ACCESS_KEY, aws_secret_access_key=h.SECRET_KEY,
                                    region_name=h.REGION)
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                 read_timeout=40)
    return session.client("sns", endpoint_url=node.endpoint, config=cfg)


NOTIFICATION_KEYS = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
CONFIRMATION_KEYS = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]


def verify_signature(env):
    """env's Signature checks out with the certificate at its SigningCertURL,
    and every node serves that same certificate."""
    url = env["SigningCertURL"]
    pem = urllib.request.urlopen(url, timeout=10).read()
    path = url[url.index("/_/sns/"):]
    for n in CLUSTER.nodes:
        if n.alive():
            assert urllib.request.urlopen(n.endpoint + path, timeout=10).read() == pem, n.endpoint
    cert = x509.load_pem_x509_certificate(pem)
    keys = NOTIFICATION_KEYS if env["Type"] == "Notification" else CONFIRMATION_KEYS
    sts = "".join("%s\n%s\n" % (k, env[k]) for k in keys if k in env).encode("utf-8")
    algo = hashes.SHA256() if env["SignatureVersion"] == "2" else hashes.SHA1()
    cert.public_key().verify(base64.b64decode(env["Signature"]), sts, padding.PKCS1v15(), algo)


class HttpSink:
    """Records every POST; a path in `hang` keeps its first Notification POST
    waiting until `release` is set."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        self.hang = set()
        self.release = threading.Event()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                kind = self.headers.get("x-amz-sns-message-type")
                with sink.lock:
                    first = not any(r["path"] == self.path and r["kind"] == kind for r in sink.requests)
                    sink.requests.append({"path": self.path, "kind": kind, "body": body})
                if self.path in sink.hang and kind == "Notification" and first:
                    sink.release.wait(30)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass

            def log_message(self, *a):
                pass

        class Quiet(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def posts(self, path, kind):
        with self.lock:
            return [r for r in self.requests if r["path"] == path and r["kind"] == kind]

    def wait(self, path, kind, count=1, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.posts(path, kind)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError("%s got %d %s POSTs, wanted %d" % (path, len(self.posts(path, kind)), kind, count))


class ClusterSnsTest(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.nodes = CLUSTER.nodes
        cls.sink = HttpSink()

    @classmethod
    def tearDownClass(cls):
        cls.sink.close()

    def sns(self, i):
        key = ("sns", i, self.nodes[i].port)
        if key not in CLIENTS:
            CLIENTS[key] = sns_client(self.nodes[i])
        return CLIENTS[key]

    def sqs(self, i):
        key = ("sqs", i, self.nodes[i].port)
        if key not in CLIENTS:
            CLIENTS[key] = self.nodes[i].client()
        return CLIENTS[key]

    def queue(self, fifo=False):
        name = h.unique("snsq") + (".fifo" if fifo else "")
        attrs = {"FifoQueue": "true"} if fifo else {}
        url = self.sqs(0).create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        arn = self.sqs(0).get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    def receive_all(self, node, url, want, timeout=15.0):
        got = []
        deadline = time.monotonic() + timeout
        c = self.sqs(node)
        while len(got) < want and time.monotonic() < deadline:
            r = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                  MessageAttributeNames=["All"], AttributeNames=["All"])
            for m in r.get("Messages", []):
                got.append(m)
                c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return got

    # -- control plane ------------------------------------------------------------

    def test_topic_created_on_a_is_seen_on_b_and_c_at_once(self):
        name = h.unique("ct")
        arn = self.sns(0).create_topic(Name=name, Tags=[{"Key": "team", "Value": "a"}])["TopicArn"]
        for i in (1, 2):
            arns = []
            kw = {}
            while True:  # pages of 100
                r = self.sns(i).list_topics(**kw)
                arns += [t["TopicArn"] for t in r["Topics"]]
                if not r.get("NextToken"):
                    break
                kw = {"NextToken": r["NextToken"]}
            self.assertIn(arn, arns, "node %d" % i)
        self.sns(1).set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Bee")
        self.assertEqual(self.sns(2).get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"], "Bee")
        self.assertEqual(self.sns(1).list_tags_for_resource(ResourceArn=arn)["Tags"],
                         [{"Key": "team", "Value": "a"}])
        self.sns(2).tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "c"}])
        tags = {t["Key"]: t["Value"] for t in self.sns(0).list_tags_for_resource(ResourceArn=arn)["Tags"]}
        self.assertEqual(tags, {"team": "a", "env": "c"})
        # same name on another node: the same topic (CreateTopic is idempotent)
        self.assertEqual(self.sns(2).create_topic(Name=name)["TopicArn"], arn)
        self.sns(2).delete_topic(TopicArn=arn)
        with self.assertRaises(Exception) as cm:
            self.sns(0).get_topic_attributes(TopicArn=arn)
        self.assertEqual(cm.exception.response["Error"]["Code"], "NotFound")

    # -- fan-out to queues ----------------------------------------------------------

    def test_subscribe_on_b_publish_on_c_receive_on_a(self):
        topic = self.sns(0).create_topic(Name=h.unique("fan"))["TopicArn"]
        url, qarn = self.queue()
        raw_url, raw_arn = self.queue()
        sub = self.sns(1).subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn,
                                    ReturnSubscriptionArn=True)["SubscriptionArn"]
        self.sns(1).subscribe(TopicArn=topic, Protocol="sqs", Endpoint=raw_arn,
                              Attributes={"RawMessageDelivery": "true"})
        subs = self.sns(2).list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        self.assertEqual(len(subs), 2)
        r = self.sns(2).publish(TopicArn=topic, Message="hello cluster", Subject="Hi",
                                MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})
        msgs = self.receive_all(0, url, 1)
        self.assertEqual(len(msgs), 1)
        env = json.loads(msgs[0]["Body"])
        self.assertEqual(env["Type"], "Notification")
        self.assertEqual(env["MessageId"], r["MessageId"])
        self.assertEqual(env["TopicArn"], topic)
        self.assertEqual(env["Message"], "hello cluster")
        self.assertEqual(env["Subject"], "Hi")
        self.assertEqual(env["MessageAttributes"], {"k": {"Type": "String", "Value": "v"}})
        self.assertIn("SubscriptionArn=" + sub, env["UnsubscribeURL"])
        self.assertTrue(env["SigningCertURL"].startswith(self.nodes[2].endpoint), env["SigningCertURL"])
        if HAVE_CRYPTO:
            verify_signature(env)
        raw = self.receive_all(1, raw_url, 1)
        self.assertEqual([m["Body"] for m in raw], ["hello cluster"])
        self.assertEqual(raw[0]["MessageAttributes"]["k"]["StringValue"], "v")

    def test_filter_policy_set_on_a_is_honoured_on_b_at_once(self):
        topic = self.sns(0).create_topic(Name=h.unique("flt"))["TopicArn"]
        url, qarn = self.queue()
        sub = self.sns(2).subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn,
                                    ReturnSubscriptionArn=True)["SubscriptionArn"]
        self.sns(0).set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy",
                                                AttributeValue=json.dumps({"color": ["red"]}))
        self.sns(1).publish(TopicArn=topic, Message="blue",
                            MessageAttributes={"color": {"DataType": "String", "StringValue": "blue"}})
        self.sns(1).publish(TopicArn=topic, Message="red",
                            MessageAttributes={"color": {"DataType": "String", "StringValue": "red"}})
        msgs = self.receive_all(2, url, 2, timeout=4)
        self.assertEqual([json.loads(m["Body"])["Message"] for m in msgs], ["red"])

    # -- FIFO ---------------------------------------------------------------------------

    def test_fifo_topic_sequence_numbers_and_dedup_across_nodes(self):
        topic = self.sns(0).create_topic(Name=h.unique("ff") + ".fifo",
                                         Attributes={"FifoTopic": "true"})["TopicArn"]
        url, qarn = self.queue(fifo=True)
        self.sns(1).subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
        answers = []
        for k in range(6):
            r = self.sns(k % 3).publish(TopicArn=topic, Message="m%d" % k, MessageGroupId="g",
                                        MessageDeduplicationId="d%d" % k)
            answers.append(r)
        seqs = [int(r["SequenceNumber"]) for r in answers]
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len(set(seqs)), 6)
        # a duplicate on B of what A published: A's answer, nothing delivered
        dup = self.sns(1).publish(TopicArn=topic, Message="again", MessageGroupId="g",
                                  MessageDeduplicationId="d0")
        self.assertEqual(dup["MessageId"], answers[0]["MessageId"])
        self.assertEqual(dup["SequenceNumber"], answers[0]["SequenceNumber"])
        dup = self.sns(2).publish(TopicArn=topic, Message="again", MessageGroupId="g",
                                  MessageDeduplicationId="d4")
        self.assertEqual(dup["MessageId"], answers[4]["MessageId"])
        # three nodes at once
        results, lock = [], threading.Lock()

        def publisher(i):
            c = self.sns(i)
            for k in range(8):
                r = c.publish(TopicArn=topic, Message="p%d-%d" % (i, k), MessageGroupId="g%d" % i,
                              MessageDeduplicationId="p%d-%d" % (i, k))
                with lock:
                    results.append((i, k, int(r["SequenceNumber"]), r["MessageId"]))

        ts = [threading.Thread(target=publisher, args=(i,)) for i in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        self.assertEqual(len(results), 24)
        cseqs = [r[2] for r in results]
        self.assertEqual(len(set(cseqs)), 24, "unique")
        self.assertTrue(min(cseqs) > max(seqs))
        for i in range(3):  # per publisher (its own order): increasing
            mine = [r[2] for r in sorted(results) if r[0] == i]
            self.assertEqual(mine, sorted(mine))
        msgs = self.receive_all(0, url, 30, timeout=30)
        bodies = [json.loads(m["Body"]) for m in msgs]
        self.assertEqual(len(bodies), 30, [b["Message"] for b in bodies])
        self.assertEqual([b["Message"] for b in bodies if not b["Message"].startswith("p")],
                         ["m%d" % k for k in range(6)])
        for i in range(3):
            self.assertEqual([b["Message"] for b in bodies if b["Message"].startswith("p%d-" % i)],
                             ["p%d-%d" % (i, k) for k in range(8)])
        by_id = {b["MessageId"]: int(b["SequenceNumber"]) for b in bodies}
        for r in answers:
            self.assertEqual(by_id[r["MessageId"]], int(r["SequenceNumber"]))

    # -- S3 bucket notifications to a topic --------------------------------------------

    def test_s3_notifications_to_a_topic_across_nodes(self):
        s3 = [boto3.client("s3", endpoint_url=n.endpoint, region_name=h.REGION,
                           aws_access_key_id=h.ACCESS_KEY, aws_secret_access_key=h.SECRET_KEY,
                           config=Config(s3={"addressing_style": "path"},
                                         retries={"total_max_attempts": 1, "mode": "standard"}))
              for n in self.nodes]
        topic = self.sns(1).create_topic(Name=h.unique("s3t"))["TopicArn"]
        url, qarn = self.queue()
        self.sns(2).subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn,
                              Attributes={"RawMessageDelivery": "true"})
        bk = h.unique("snsbk")
        s3[0].create_bucket(Bucket=bk)
        s3[0].put_bucket_notification_configuration(Bucket=bk, NotificationConfiguration={
            "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]})
        got = s3[2].get_bucket_notification_configuration(Bucket=bk)["TopicConfigurations"]
        self.assertEqual(got[0]["TopicArn"], topic)
        test = self.receive_all(0, url, 1)
        self.assertEqual([json.loads(m["Body"])["Event"] for m in test], ["s3:TestEvent"])
        s3[1].put_object(Bucket=bk, Key="k1", Body=b"x")
        msgs = self.receive_all(2, url, 1)
        self.assertEqual(len(msgs), 1)
        rec = json.loads(msgs[0]["Body"])["Records"][0]
        self.assertEqual((rec["eventName"], rec["s3"]["object"]["key"]), ("ObjectCreated:Put", "k1"))
        # a FIFO topic is refused, as on one node
        ftopic = self.sns(0).create_topic(Name=h.unique("s3f") + ".fifo",
                                          Attributes={"FifoTopic": "true"})["TopicArn"]
        with self.assertRaises(Exception) as cm:
            s3[2].put_bucket_notification_configuration(Bucket=bk, NotificationConfiguration={
                "TopicConfigurations": [{"TopicArn": ftopic, "Events": ["s3:ObjectCreated:*"]}]})
        self.assertEqual(cm.exception.response["Error"]["Code"], "InvalidArgument")

    # -- HTTP endpoints through the outbox -----------------------------------------------

    def subscribe_http(self, topic, path, node=0):
        sub = self.sns(node).subscribe(TopicArn=topic, Protocol="http", Endpoint=self.sink.url(path),
                                       ReturnSubscriptionArn=True)["SubscriptionArn"]
        conf = self.sink.wait(path, "SubscriptionConfirmation")[0]
        env = json.loads(conf["body"])
        if HAVE_CRYPTO:
            verify_signature(env)
        # confirmed through another node than the one that made the token
        self.sns((node + 1) % 3).confirm_subscription(TopicArn=topic, Token=env["Token"])
        a = self.sns((node + 2) % 3).get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(a["PendingConfirmation"], "false")
        return sub

    def test_http_subscription_delivered_exactly_once(self):
        topic = self.sns(0).create_topic(Name=h.unique("http"))["TopicArn"]
        self.subscribe_http(topic, "/once", node=0)
        ids = []
        for k in range(12):
            ids.append(self.sns(k % 3).publish(TopicArn=topic, Message="n%d" % k)["MessageId"])
        self.sink.wait("/once", "Notification", count=12)
        time.sleep(LEASE_MS / 1000.0 + 1.5)  # no second delivery after a lease either
        self.assertEqual(len(self.sink.posts("/once", "SubscriptionConfirmation")), 1)
        got = [json.loads(r["body"]) for r in self.sink.posts("/once", "Notification")]
        self.assertEqual(sorted(e["MessageId"] for e in got), sorted(ids))
        if HAVE_CRYPTO:
            for e in got[:3]:
                verify_signature(e)
        self.assertEqual(psql("SELECT count(*) FROM sns_outbox WHERE topic_arn = '%s'" % topic), "0")

    def test_zz_kill9_of_the_delivering_node_another_delivers(self):
        topic = self.sns(0).create_topic(Name=h.unique("kill"))["TopicArn"]
        self.sink.hang.add("/hang")
        self.subscribe_http(topic, "/hang", node=1)
        mid = self.sns(2).publish(TopicArn=topic, Message="survive")["MessageId"]
        first = self.sink.wait("/hang", "Notification", count=1)[0]
        self.assertEqual(json.loads(first["body"])["MessageId"], mid)
        owner = psql("SELECT owner FROM sns_outbox WHERE topic_arn = '%s'" % topic)
        self.assertTrue(owner, "the row is claimed while its delivery hangs")
        victim = None
        for i, n in enumerate(self.nodes):
            with open(n.log_path, "rb") as f:
                if owner.encode() in f.read():
                    victim = i
        self.assertIsNotNone(victim, owner)
        t0 = time.monotonic()
        self.nodes[victim].kill9()
        try:
            again = self.sink.wait("/hang", "Notification", count=2, timeout=LEASE_MS / 1000.0 + 15)
            took = time.monotonic() - t0
            self.assertEqual(json.loads(again[1]["body"])["MessageId"], mid)
            sys.stderr.write("[redelivered %.1f s after kill -9 of node %d]\n" % (took, victim))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and psql(
                    "SELECT count(*) FROM sns_outbox WHERE topic_arn = '%s'" % topic) != "0":
                time.sleep(0.1)
            self.assertEqual(psql("SELECT count(*) FROM sns_outbox WHERE topic_arn = '%s'" % topic), "0")
        finally:
            self.sink.release.set()
            self.nodes[victim].start(timeout=30)


if __name__ == "__main__":
    unittest.main()
