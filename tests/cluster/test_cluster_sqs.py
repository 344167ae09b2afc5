"""SQS in cluster mode: three tweedle nodes on one private PostgreSQL 15.

Cross-node behaviour: a queue created on one node is used from the others; a
long poll parked on B is woken by a send on A (LISTEN/NOTIFY); concurrent
receivers on two nodes never hold the same message; visibility timeouts bring
messages back on another node; a node killed with -9 loses nothing
acknowledged; PostgreSQL away means 503, and the nodes reconnect.
"""

import os
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pg  # noqa: E402

from botocore.exceptions import ClientError, EndpointConnectionError  # noqa: E402

PG = None
CLUSTER = None
# parked polls look again every 3 s (the default is 1 s): a wake within the
# bounds below can only come from the send's notification
REPOLL_MS = "3000"


def setUpModule():
    global PG, CLUSTER
    PG, CLUSTER = pg.start_module(3, env={"TWEEDLE_PG_REPOLL_MS": REPOLL_MS})


def tearDownModule():
    pg.stop_module(PG, CLUSTER)


code_of = pg.code_of


class ClusterSQS(unittest.TestCase):
    def setUp(self):
        self.a, self.b, self.c = CLUSTER.nodes
        self.ca, self.cb, self.cc = (n.client() for n in CLUSTER.nodes)

    def queue(self, name, **attrs):
        name = "%s-%d" % (name, int(time.time() * 1000) % 10**9)
        url = self.ca.create_queue(QueueName=name,
                                   Attributes={k: str(v) for k, v in attrs.items()})["QueueUrl"]
        return name, url

    def url_on(self, node, name):
        return node.queue_url(name)

    def test_create_send_receive_delete_across_nodes(self):
        name, ua = self.queue("xnode")
        ub, uc = self.url_on(self.b, name), self.url_on(self.c, name)
        self.assertEqual(self.cc.get_queue_url(QueueName=name)["QueueUrl"], uc)
        self.assertIn(ub, self.cb.list_queues(QueueNamePrefix=name).get("QueueUrls", []))
        attrs = {"k": {"DataType": "String", "StringValue": "v"},
                 "n": {"DataType": "Number", "StringValue": "42"}}
        sent = self.ca.send_message(QueueUrl=ua, MessageBody="hello cluster",
                                    MessageAttributes=attrs)
        got = self.cb.receive_message(QueueUrl=ub, MessageAttributeNames=["All"],
                                      AttributeNames=["All"], VisibilityTimeout=30)["Messages"]
        self.assertEqual(len(got), 1)
        m = got[0]
        self.assertEqual(m["MessageId"], sent["MessageId"])
        self.assertEqual(m["Body"], "hello cluster")
        self.assertEqual(m["MD5OfBody"], sent["MD5OfMessageBody"])
        self.assertEqual(m["MD5OfMessageAttributes"], sent["MD5OfMessageAttributes"])
        self.assertEqual(m["MessageAttributes"], attrs)
        self.assertEqual(m["Attributes"]["ApproximateReceiveCount"], "1")
        # invisible everywhere while in flight
        self.assertNotIn("Messages", self.cc.receive_message(QueueUrl=uc))
        n = self.ca.get_queue_attributes(QueueUrl=ua, AttributeNames=["All"])["Attributes"]
        self.assertEqual((n["ApproximateNumberOfMessages"],
                          n["ApproximateNumberOfMessagesNotVisible"]), ("0", "1"))
        # a forged handle is refused on any node
        bad = m["ReceiptHandle"][:-1] + ("0" if m["ReceiptHandle"][-1] != "0" else "1")
        with self.assertRaises(ClientError) as e:
            self.cc.delete_message(QueueUrl=uc, ReceiptHandle=bad)
        self.assertEqual(code_of(e.exception), "ReceiptHandleIsInvalid")
        self.cc.delete_message(QueueUrl=uc, ReceiptHandle=m["ReceiptHandle"])
        n = self.cb.get_queue_attributes(QueueUrl=ub, AttributeNames=["All"])["Attributes"]
        self.assertEqual((n["ApproximateNumberOfMessages"],
                          n["ApproximateNumberOfMessagesNotVisible"]), ("0", "0"))
        # batch send on C, batch delete on A
        r = self.cc.send_message_batch(QueueUrl=uc, Entries=[
            {"Id": "e%d" % i, "MessageBody": "b%d" % i} for i in range(10)])
        self.assertEqual(len(r["Successful"]), 10)
        handles = []
        while len(handles) < 10:
            ms = self.cb.receive_message(QueueUrl=ub, MaxNumberOfMessages=10).get("Messages", [])
            self.assertTrue(ms)
            handles += [x["ReceiptHandle"] for x in ms]
        r = self.ca.delete_message_batch(QueueUrl=ua, Entries=[
            {"Id": "d%d" % i, "ReceiptHandle": h} for i, h in enumerate(handles)])
        self.assertEqual(len(r["Successful"]), 10)
        self.cc.delete_queue(QueueUrl=uc)
        with self.assertRaises(ClientError) as e:
            self.ca.get_queue_url(QueueName=name)
        self.assertIn(code_of(e.exception), ("AWS.SimpleQueueService.NonExistentQueue",
                                             "QueueDoesNotExist"))

    def test_long_poll_on_b_woken_by_send_on_a(self):
        name, ua = self.queue("wake")
        ub = self.url_on(self.b, name)
        for round_ in range(3):
            res = {}

            def poll():
                r = self.cb.receive_message(QueueUrl=ub, WaitTimeSeconds=15)
                res["t"] = time.monotonic()
                res["m"] = r.get("Messages", [])

            th = threading.Thread(target=poll)
            th.start()
            time.sleep(0.7 + 0.3 * round_)  # parked on B by now
            t0 = time.monotonic()
            self.ca.send_message(QueueUrl=ua, MessageBody="wake %d" % round_)
            th.join(20)
            self.assertFalse(th.is_alive())
            latency = res["t"] - t0
            sys.stderr.write("[cluster] send on A -> poll on B answered in %.0f ms\n"
                             % (latency * 1000))
            self.assertEqual(len(res["m"]), 1)
            self.assertLess(latency, 0.5)  # the target is 100 ms; CI boxes are slow
            self.cb.delete_message(QueueUrl=ub, ReceiptHandle=res["m"][0]["ReceiptHandle"])

    def test_delayed_message_wakes_a_parked_poll(self):
        name, ua = self.queue("delay")
        self.ca.send_message(QueueUrl=ua, MessageBody="later", DelaySeconds=1)
        t0 = time.monotonic()
        r = self.cb.receive_message(QueueUrl=self.url_on(self.b, name), WaitTimeSeconds=10)
        self.assertEqual(len(r.get("Messages", [])), 1)
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)

    def test_concurrent_receivers_on_two_nodes_never_share_a_message(self):
        name, ua = self.queue("share")
        total = 300
        for i in range(0, total, 10):
            self.ca.send_message_batch(QueueUrl=ua, Entries=[
                {"Id": "e%d" % j, "MessageBody": "m%d" % (i + j)} for j in range(10)])
        got, lock, errors = [], threading.Lock(), []

        def consume(node):
            cl = node.client()
            url = node.queue_url(name)
            empty = 0
            try:
                while empty < 3:
                    ms = cl.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                            VisibilityTimeout=120).get("Messages", [])
                    if not ms:
                        empty += 1
                        continue
                    empty = 0
                    with lock:
                        got.extend(m["Body"] for m in ms)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        ths = [threading.Thread(target=consume, args=(n,))
               for n in (self.b, self.c, self.b, self.c)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(len(got), total, "some messages were received twice or not at all")
        self.assertEqual(len(set(got)), total)

    def test_visibility_timeout_brings_message_back_on_another_node(self):
        name, ua = self.queue("vis")
        ub = self.url_on(self.b, name)
        self.ca.send_message(QueueUrl=ua, MessageBody="again")
        first = self.ca.receive_message(QueueUrl=ua, VisibilityTimeout=1)["Messages"][0]
        self.assertNotIn("Messages", self.cb.receive_message(QueueUrl=ub))
        deadline, again = time.monotonic() + 10, None
        while time.monotonic() < deadline and not again:
            time.sleep(0.2)
            again = self.cb.receive_message(QueueUrl=ub, AttributeNames=["All"]).get("Messages")
        self.assertTrue(again, "the message did not come back")
        self.assertEqual(again[0]["MessageId"], first["MessageId"])
        self.assertEqual(again[0]["Attributes"]["ApproximateReceiveCount"], "2")
        self.assertNotEqual(again[0]["ReceiptHandle"], first["ReceiptHandle"])
        # the stale handle changes nothing; the current one deletes
        self.ca.delete_message(QueueUrl=ua, ReceiptHandle=first["ReceiptHandle"])
        n = self.cc.get_queue_attributes(QueueUrl=self.url_on(self.c, name),
                                         AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
        self.assertEqual(n["Attributes"]["ApproximateNumberOfMessagesNotVisible"], "1")
        self.cb.change_message_visibility(QueueUrl=ub, ReceiptHandle=again[0]["ReceiptHandle"],
                                          VisibilityTimeout=0)
        back = self.cc.receive_message(QueueUrl=self.url_on(self.c, name))["Messages"][0]
        self.cc.delete_message(QueueUrl=self.url_on(self.c, name),
                               ReceiptHandle=back["ReceiptHandle"])

    def test_visibility_timeout_wakes_a_poll_parked_on_another_node(self):
        name, ua = self.queue("visw")
        self.ca.send_message(QueueUrl=ua, MessageBody="lease")
        first = self.ca.receive_message(QueueUrl=ua, VisibilityTimeout=1)["Messages"][0]
        t0 = time.monotonic()
        r = self.cb.receive_message(QueueUrl=self.url_on(self.b, name), WaitTimeSeconds=15)
        elapsed = time.monotonic() - t0
        self.assertEqual([m["MessageId"] for m in r.get("Messages", [])], [first["MessageId"]])
        # woken by the node's look for expired timeouts (every 3 s here), not the deadline
        self.assertLess(elapsed, 8)

    def test_delete_and_send_checks_its_input(self):
        name, ua = self.queue("nyi")
        # TweedleDeleteAndSend runs on PostgreSQL (test_cluster_sqs_more.Pipeline)
        r = pg.harness.json_request(self.a, "TweedleDeleteAndSend", {"QueueUrl": ua})
        self.assertEqual(r.status, 400, r)
        self.assertIn("ReceiptHandle", r.json()["message"])


class KillAndRestart(unittest.TestCase):
    """Runs after ClusterSQS (unittest orders classes by name: K > C)."""

    def test_kill9_node_with_inflight_messages(self):
        a, b, c = CLUSTER.nodes
        ca, cc = a.client(), c.client()
        name = "kill-%d" % (int(time.time() * 1000) % 10**9)
        ua = ca.create_queue(QueueName=name)["QueueUrl"]
        uc = c.queue_url(name)
        sent = set()
        for i in range(0, 40, 10):
            r = cc.send_message_batch(QueueUrl=uc, Entries=[
                {"Id": "e%d" % j, "MessageBody": "k%d" % (i + j)} for j in range(10)])
            self.assertEqual(len(r["Successful"]), 10)
            sent |= {"k%d" % (i + j) for j in range(10)}
        deleted = set()
        while len(deleted) < 10:  # acknowledged deletes on the node about to die
            for m in cc.receive_message(QueueUrl=uc, MaxNumberOfMessages=10).get("Messages", []):
                if len(deleted) < 10:
                    cc.delete_message(QueueUrl=uc, ReceiptHandle=m["ReceiptHandle"])
                    deleted.add(m["Body"])
                else:
                    cc.change_message_visibility(QueueUrl=uc, ReceiptHandle=m["ReceiptHandle"],
                                                 VisibilityTimeout=0)
        inflight = set()
        while len(inflight) < 15:
            ms = cc.receive_message(QueueUrl=uc, MaxNumberOfMessages=10,
                                    VisibilityTimeout=2).get("Messages", [])
            inflight |= {m["Body"] for m in ms}
        c.kill9()
        try:
            seen, deadline = set(), time.monotonic() + 20
            while time.monotonic() < deadline and seen != sent - deleted:
                for m in ca.receive_message(QueueUrl=ua, MaxNumberOfMessages=10,
                                            WaitTimeSeconds=1).get("Messages", []):
                    self.assertNotIn(m["Body"], deleted, "a deleted message came back")
                    seen.add(m["Body"])
                    ca.delete_message(QueueUrl=ua, ReceiptHandle=m["ReceiptHandle"])
            self.assertEqual(seen, sent - deleted)
            self.assertTrue(inflight <= seen)
        finally:
            c.start(timeout=30)

    def test_postgres_restart_answers_503_then_recovers(self):
        a = CLUSTER.nodes[0]
        ca = a.client()
        name = "pgdown-%d" % (int(time.time() * 1000) % 10**9)
        ua = ca.create_queue(QueueName=name)["QueueUrl"]
        ca.send_message(QueueUrl=ua, MessageBody="before")
        PG._stop_postgres()
        try:
            with self.assertRaises(ClientError) as e:
                ca.send_message(QueueUrl=ua, MessageBody="while away")
            self.assertEqual(e.exception.response["ResponseMetadata"]["HTTPStatusCode"], 503)
            self.assertEqual(code_of(e.exception), "ServiceUnavailable")
        finally:
            PG._start_postgres()
        deadline, ok = time.monotonic() + 15, False
        while time.monotonic() < deadline and not ok:
            try:
                ca.send_message(QueueUrl=ua, MessageBody="after")
                ok = True
            except (ClientError, EndpointConnectionError):
                time.sleep(0.2)
        self.assertTrue(ok, "the node did not reconnect within 15 s")
        bodies = set()
        for _ in range(5):
            for m in ca.receive_message(QueueUrl=ua, MaxNumberOfMessages=10).get("Messages", []):
                bodies.add(m["Body"])
        self.assertEqual(bodies, {"before", "after"})


if __name__ == "__main__":
    unittest.main(verbosity=2)
