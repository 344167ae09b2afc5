"""SQS in cluster mode, continued: FIFO queues, dead-letter queues, permissions,
the in-flight limit and retention deletes, across three nodes on one private
PostgreSQL 15 (same harness as test_cluster_sqs.py).

FIFO: deduplication (a duplicate sent to another node answers the first
MessageId and SequenceNumber), group order, and a group with a message in
flight is served to no one else, whichever node asks. DLQ: a message received
maxReceiveCount times moves to the dead-letter queue on the next receive, on
any node. Retention: expired rows are deleted by exactly one node (the holder
of an advisory lock); when that node dies another takes over.
"""

import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pg  # noqa: E402
import harness  # noqa: E402

from botocore.exceptions import ClientError  # noqa: E402

PG = None
CLUSTER = None
MAX_INFLIGHT = 20
BG_LINE = "runs the cluster's background work"
SWEEP_LINE = re.compile(r"deleted (\d+) messages past retention")


def setUpModule():
    global PG, CLUSTER
    PG, CLUSTER = pg.start_module(3, env={"TWEEDLE_PG_SWEEP_MS": "300",
                                     "TWEEDLE_MAX_INFLIGHT": str(MAX_INFLIGHT)})


def tearDownModule():
    pg.stop_module(PG, CLUSTER)


code_of = pg.code_of


def psql(sql):
    return pg.psql(PG, sql)


log_of = pg.log_of


uniq = pg.unique


class Base(unittest.TestCase):
    def setUp(self):
        self.a, self.b, self.c = CLUSTER.nodes
        self.ca, self.cb, self.cc = (n.client() for n in CLUSTER.nodes)

    def fifo(self, prefix, **attrs):
        name = uniq(prefix) + ".fifo"
        attrs = dict({"FifoQueue": "true"}, **{k: str(v) for k, v in attrs.items()})
        self.ca.create_queue(QueueName=name, Attributes=attrs)
        return name, [n.queue_url(name) for n in CLUSTER.nodes]

    def standard(self, prefix, **attrs):
        name = uniq(prefix)
        self.ca.create_queue(QueueName=name, Attributes={k: str(v) for k, v in attrs.items()})
        return name, [n.queue_url(name) for n in CLUSTER.nodes]


class Fifo(Base):
    def test_dedup_across_nodes_answers_the_first_send(self):
        name, (ua, ub, uc) = self.fifo("dedup")
        first = self.ca.send_message(QueueUrl=ua, MessageBody="one", MessageGroupId="g",
                                     MessageDeduplicationId="d1")
        dup = self.cb.send_message(QueueUrl=ub, MessageBody="other body", MessageGroupId="g",
                                   MessageDeduplicationId="d1")
        self.assertEqual(dup["MessageId"], first["MessageId"])
        self.assertEqual(dup["SequenceNumber"], first["SequenceNumber"])
        self.assertEqual(len(first["SequenceNumber"]), 20)
        second = self.cc.send_message(QueueUrl=uc, MessageBody="two", MessageGroupId="g",
                                      MessageDeduplicationId="d2")
        self.assertGreater(int(second["SequenceNumber"]), int(first["SequenceNumber"]))
        # a batch: a key repeated inside it and one sent before are not stored again
        r = self.cb.send_message_batch(QueueUrl=ub, Entries=[
            {"Id": "x", "MessageBody": "three", "MessageGroupId": "g",
             "MessageDeduplicationId": "d3"},
            {"Id": "y", "MessageBody": "three again", "MessageGroupId": "g",
             "MessageDeduplicationId": "d3"},
            {"Id": "z", "MessageBody": "one again", "MessageGroupId": "g",
             "MessageDeduplicationId": "d1"}])
        ok = {e["Id"]: e for e in r["Successful"]}
        self.assertEqual(ok["x"]["MessageId"], ok["y"]["MessageId"])
        self.assertEqual(ok["z"]["MessageId"], first["MessageId"])
        got = self.cc.receive_message(QueueUrl=uc, MaxNumberOfMessages=10,
                                      AttributeNames=["All"])["Messages"]
        self.assertEqual([m["Body"] for m in got], ["one", "two", "three"])
        self.assertEqual([m["Attributes"]["SequenceNumber"] for m in got],
                         [first["SequenceNumber"], second["SequenceNumber"],
                          ok["x"]["SequenceNumber"]])
        self.assertEqual(got[0]["Attributes"]["MessageDeduplicationId"], "d1")
        self.assertEqual(got[0]["Attributes"]["MessageGroupId"], "g")
        rows = psql("SELECT count(*) FROM sqs_messages m JOIN sqs_queues q ON q.id = m.queue_id "
                    "WHERE q.name = '%s'" % name)
        self.assertEqual(rows[0][0], "3")

    def test_content_based_dedup_and_group_scope(self):
        _, (ua, ub, _) = self.fifo("cbd", ContentBasedDeduplication="true")
        x = self.ca.send_message(QueueUrl=ua, MessageBody="same", MessageGroupId="g")
        y = self.cb.send_message(QueueUrl=ub, MessageBody="same", MessageGroupId="h")
        self.assertEqual(x["MessageId"], y["MessageId"])  # scope: the queue
        _, (ua, ub, _) = self.fifo("scope", ContentBasedDeduplication="true",
                                   DeduplicationScope="messageGroup",
                                   FifoThroughputLimit="perMessageGroupId")
        x = self.ca.send_message(QueueUrl=ua, MessageBody="same", MessageGroupId="g")
        y = self.cb.send_message(QueueUrl=ub, MessageBody="same", MessageGroupId="h")
        z = self.cb.send_message(QueueUrl=ub, MessageBody="same", MessageGroupId="g")
        self.assertNotEqual(x["MessageId"], y["MessageId"])
        self.assertEqual(x["MessageId"], z["MessageId"])
        with self.assertRaises(ClientError) as e:  # neither an id nor content-based dedup
            _, (u, _, _) = self.fifo("nodedup")
            self.ca.send_message(QueueUrl=u, MessageBody="b", MessageGroupId="g")
        self.assertEqual(code_of(e.exception), "InvalidParameterValue")
        with self.assertRaises(ClientError) as e:
            self.ca.send_message(QueueUrl=ua, MessageBody="no group")
        self.assertEqual(code_of(e.exception), "MissingParameter")

    def test_group_in_flight_is_blocked_on_every_node(self):
        _, (ua, ub, uc) = self.fifo("groups", ContentBasedDeduplication="true")
        for body in ("g1-a", "g1-b", "g1-c"):
            self.ca.send_message(QueueUrl=ua, MessageBody=body, MessageGroupId="g1")
        self.cb.send_message(QueueUrl=ub, MessageBody="g2-a", MessageGroupId="g2")
        first = self.cb.receive_message(QueueUrl=ub, MaxNumberOfMessages=1,
                                        VisibilityTimeout=60)["Messages"]
        self.assertEqual([m["Body"] for m in first], ["g1-a"])
        # g1 has a message in flight: C gets only g2, whatever it asks for
        other = self.cc.receive_message(QueueUrl=uc, MaxNumberOfMessages=10,
                                        VisibilityTimeout=60)["Messages"]
        self.assertEqual([m["Body"] for m in other], ["g2-a"])
        self.assertNotIn("Messages", self.ca.receive_message(QueueUrl=ua, MaxNumberOfMessages=10))
        self.cb.delete_message(QueueUrl=ub, ReceiptHandle=first[0]["ReceiptHandle"])
        rest = self.ca.receive_message(QueueUrl=ua, MaxNumberOfMessages=10,
                                       VisibilityTimeout=0)["Messages"]
        self.assertEqual([m["Body"] for m in rest], ["g1-b"])  # visibility 0: one per group
        again = self.cc.receive_message(QueueUrl=uc, MaxNumberOfMessages=10,
                                        VisibilityTimeout=60)["Messages"]
        self.assertEqual([m["Body"] for m in again], ["g1-b", "g1-c"])
        # A's receipt is older than C's (received again since): FIFO refuses it
        with self.assertRaises(ClientError) as e:
            self.ca.delete_message(QueueUrl=ua, ReceiptHandle=rest[0]["ReceiptHandle"])
        self.assertEqual(code_of(e.exception), "InvalidParameterValue")
        self.assertIn("expired", e.exception.response["Error"]["Message"])

    def test_receive_request_attempt_id_repeats_the_answer(self):
        _, (ua, ub, _) = self.fifo("attempt", ContentBasedDeduplication="true")
        for i in range(3):
            self.ca.send_message(QueueUrl=ua, MessageBody="m%d" % i, MessageGroupId="g%d" % i)
        one = self.ca.receive_message(QueueUrl=ua, MaxNumberOfMessages=2,
                                      ReceiveRequestAttemptId="att-1")["Messages"]
        two = self.cb.receive_message(QueueUrl=ub, MaxNumberOfMessages=2,
                                      ReceiveRequestAttemptId="att-1")["Messages"]
        self.assertEqual([(m["MessageId"], m["ReceiptHandle"]) for m in one],
                         [(m["MessageId"], m["ReceiptHandle"]) for m in two])
        three = self.cb.receive_message(QueueUrl=ub, MaxNumberOfMessages=2)["Messages"]
        self.assertEqual([m["Body"] for m in three], ["m2"])

    def test_concurrent_consumers_on_two_nodes_keep_group_order(self):
        _, urls = self.fifo("order", ContentBasedDeduplication="true")
        groups, per = 5, 8
        for i in range(per):
            self.ca.send_message_batch(QueueUrl=urls[0], Entries=[
                {"Id": "e%d" % g, "MessageBody": "%d:%d" % (g, i), "MessageGroupId": "g%d" % g}
                for g in range(groups)])
        seen, lock, errors = [], threading.Lock(), []
        deadline = time.monotonic() + 60

        def consume(node_index):
            cl = CLUSTER.nodes[node_index].client()
            url = urls[node_index]
            try:
                while time.monotonic() < deadline:
                    with lock:
                        if len(seen) >= groups * per:
                            return
                    got = cl.receive_message(QueueUrl=url, MaxNumberOfMessages=3,
                                             VisibilityTimeout=30, WaitTimeSeconds=1)
                    msgs = got.get("Messages", [])
                    with lock:  # recorded before the delete that unblocks the group
                        for m in msgs:
                            g, i = map(int, m["Body"].split(":"))
                            seen.append((g, i))
                    for m in msgs:
                        cl.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=consume, args=(i,)) for i in (1, 1, 2, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        self.assertEqual(errors, [])
        self.assertEqual(len(seen), groups * per)
        for g in range(groups):
            self.assertEqual([i for gg, i in seen if gg == g], list(range(per)))


class DeadLetters(Base):
    def test_redrive_across_nodes(self):
        dname, (da, db, dc) = self.standard("dlq")
        darn = self.ca.get_queue_attributes(QueueUrl=da, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        sname, (sa, sb, sc) = self.standard(
            "src", RedrivePolicy='{"deadLetterTargetArn":"%s","maxReceiveCount":"2"}' % darn)
        pol = self.cc.get_queue_attributes(QueueUrl=sc, AttributeNames=["RedrivePolicy"])[
            "Attributes"]["RedrivePolicy"]
        self.assertIn('"maxReceiveCount":2', pol)  # stored as a number
        sarn = "%s:%s" % (darn.rsplit(":", 1)[0], sname)
        sent = self.ca.send_message(QueueUrl=sa, MessageBody="poison")
        for cl, u in ((self.cb, sb), (self.cc, sc)):
            m = cl.receive_message(QueueUrl=u, VisibilityTimeout=0)["Messages"][0]
            self.assertEqual(m["MessageId"], sent["MessageId"])
        # received twice: the third receive (node A) moves it instead
        self.assertNotIn("Messages", self.ca.receive_message(QueueUrl=sa))
        m = self.cb.receive_message(QueueUrl=db, AttributeNames=["All"],
                                    WaitTimeSeconds=2)["Messages"][0]
        self.assertEqual(m["MessageId"], sent["MessageId"])
        self.assertEqual(m["Body"], "poison")
        self.assertEqual(m["Attributes"]["DeadLetterQueueSourceArn"], sarn)
        self.assertEqual(m["Attributes"]["ApproximateReceiveCount"], "1")
        srcs = self.cc.list_dead_letter_source_queues(QueueUrl=dc)["queueUrls"]
        self.assertEqual(srcs, [self.c.queue_url(sname)])

    def test_redrive_allow_policy_and_checks(self):
        dname, (da, _, _) = self.standard("deny", RedriveAllowPolicy='{"redrivePermission":"denyAll"}')
        darn = self.ca.get_queue_attributes(QueueUrl=da, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        _, (sa, sb, _) = self.standard("src2")
        with self.assertRaises(ClientError) as e:
            self.cb.set_queue_attributes(QueueUrl=sb, Attributes={
                "RedrivePolicy": '{"deadLetterTargetArn":"%s","maxReceiveCount":3}' % darn})
        self.assertIn("does not allow", e.exception.response["Error"]["Message"])
        with self.assertRaises(ClientError) as e:
            self.cb.set_queue_attributes(QueueUrl=sb, Attributes={
                "RedrivePolicy": '{"deadLetterTargetArn":"%s-nope","maxReceiveCount":3}' % darn})
        self.assertIn("does not exist", e.exception.response["Error"]["Message"])
        _, (fa, _, _) = self.fifo("fdlq", ContentBasedDeduplication="true")
        farn = self.ca.get_queue_attributes(QueueUrl=fa, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        with self.assertRaises(ClientError) as e:
            self.cb.set_queue_attributes(QueueUrl=sb, Attributes={
                "RedrivePolicy": '{"deadLetterTargetArn":"%s","maxReceiveCount":3}' % farn})
        self.assertIn("same type", e.exception.response["Error"]["Message"])

    def test_fifo_redrive_keeps_the_group(self):
        _, (da, db, _) = self.fifo("fdlq2", ContentBasedDeduplication="true")
        darn = self.ca.get_queue_attributes(QueueUrl=da, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        _, (sa, sb, sc) = self.fifo(
            "fsrc", ContentBasedDeduplication="true",
            RedrivePolicy='{"deadLetterTargetArn":"%s","maxReceiveCount":1}' % darn)
        self.ca.send_message(QueueUrl=sa, MessageBody="bad", MessageGroupId="g")
        self.ca.send_message(QueueUrl=sa, MessageBody="good", MessageGroupId="g")
        m = self.cb.receive_message(QueueUrl=sb, VisibilityTimeout=0)["Messages"][0]
        self.assertEqual(m["Body"], "bad")
        # the next receive moves "bad" and serves the group's next message
        nxt = self.cc.receive_message(QueueUrl=sc, VisibilityTimeout=30)["Messages"]
        self.assertEqual([x["Body"] for x in nxt], ["good"])
        d = self.cb.receive_message(QueueUrl=db, AttributeNames=["All"])["Messages"][0]
        self.assertEqual(d["Body"], "bad")
        self.assertEqual(d["Attributes"]["MessageGroupId"], "g")
        self.assertEqual(len(d["Attributes"]["SequenceNumber"]), 20)

    def test_move_task_started_on_one_node_runs_once(self):
        if not hasattr(self.cb, "start_message_move_task"):
            self.skipTest("this botocore has no StartMessageMoveTask")
        _, (da, db, dc) = self.standard("mvdlq")
        darn = self.ca.get_queue_attributes(QueueUrl=da, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        sname, (sa, _, _) = self.standard(
            "mvsrc", RedrivePolicy='{"deadLetterTargetArn":"%s","maxReceiveCount":1}' % darn)
        n = 25
        for i in range(0, n, 5):
            self.ca.send_message_batch(QueueUrl=sa, Entries=[
                {"Id": str(j), "MessageBody": "m%d" % (i + j)} for j in range(5)])
        psql("UPDATE sqs_messages SET receive_count = 1 WHERE queue_id = "
             "(SELECT id FROM sqs_queues WHERE name = '%s')" % sname)
        # each receive now dead-letters what it finds
        while self.ca.receive_message(QueueUrl=sa, MaxNumberOfMessages=10).get("Messages"):
            pass
        self.assertEqual(self.dlq_count(darn), n)
        h = self.cb.start_message_move_task(SourceArn=darn)["TaskHandle"]
        with self.assertRaises(ClientError) as e:  # one active task per source, cluster-wide
            self.cc.start_message_move_task(SourceArn=darn)
        self.assertIn("already a task running", e.exception.response["Error"]["Message"])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            t = self.cc.list_message_move_tasks(SourceArn=darn)["Results"][0]
            if t["Status"] != "RUNNING":
                break
            time.sleep(0.3)
        self.assertEqual(t["Status"], "COMPLETED")
        self.assertEqual(t["ApproximateNumberOfMessagesMoved"], n)
        self.assertEqual(t["ApproximateNumberOfMessagesToMove"], n)
        self.assertEqual(self.dlq_count(darn), 0)
        bodies = []
        while True:
            got = self.cc.receive_message(QueueUrl=self.c.queue_url(sname),
                                          MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                break
            bodies += [m["Body"] for m in got]
            self.cc.delete_message_batch(QueueUrl=self.c.queue_url(sname), Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
        self.assertEqual(sorted(bodies), sorted("m%d" % i for i in range(n)))
        with self.assertRaises(ClientError) as e:
            self.ca.cancel_message_move_task(TaskHandle=h)
        self.assertIn("UnsupportedOperation", code_of(e.exception))

    def dlq_count(self, arn):
        return int(psql("SELECT count(*) FROM sqs_messages WHERE queue_id = (SELECT id FROM "
                        "sqs_queues WHERE name = '%s')" % arn.rsplit(":", 1)[1])[0][0])


class Permissions(Base):
    def test_add_and_remove_permission_across_nodes(self):
        _, (ua, ub, uc) = self.standard("perm")
        self.ca.add_permission(QueueUrl=ua, Label="one", AWSAccountIds=["111122223333"],
                               Actions=["SendMessage"])
        self.cb.add_permission(QueueUrl=ub, Label="two", AWSAccountIds=["111122223333"],
                               Actions=["ReceiveMessage", "DeleteMessage"])
        with self.assertRaises(ClientError) as e:
            self.cc.add_permission(QueueUrl=uc, Label="one", AWSAccountIds=["1"],
                                   Actions=["SendMessage"])
        self.assertIn("Already exists", e.exception.response["Error"]["Message"])
        pol = self.cc.get_queue_attributes(QueueUrl=uc, AttributeNames=["Policy"])[
            "Attributes"]["Policy"]
        self.assertEqual([s["Sid"] for s in __import__("json").loads(pol)["Statement"]],
                         ["one", "two"])
        self.cc.remove_permission(QueueUrl=uc, Label="one")
        self.ca.remove_permission(QueueUrl=ua, Label="two")
        attrs = self.cb.get_queue_attributes(QueueUrl=ub, AttributeNames=["All"])["Attributes"]
        self.assertNotIn("Policy", attrs)
        with self.assertRaises(ClientError) as e:
            self.cb.remove_permission(QueueUrl=ub, Label="one")
        self.assertIn("can't find label", e.exception.response["Error"]["Message"])

    def test_in_flight_limit(self):
        _, (ua, ub, uc) = self.standard("limit")
        for i in range(3):
            self.ca.send_message_batch(QueueUrl=ua, Entries=[
                {"Id": str(j), "MessageBody": "m"} for j in range(10)])
        got = 0
        for cl, u in ((self.ca, ua), (self.cb, ub)):
            got += len(cl.receive_message(QueueUrl=u, MaxNumberOfMessages=10,
                                          VisibilityTimeout=60)["Messages"])
        self.assertEqual(got, MAX_INFLIGHT)
        with self.assertRaises(ClientError) as e:
            self.cc.receive_message(QueueUrl=uc, MaxNumberOfMessages=10)
        self.assertEqual(code_of(e.exception), "OverLimit")


class Pipeline(Base):
    """TweedleDeleteAndSend: the delete and the sends in one PostgreSQL
    transaction, whichever node answers."""

    def step(self, node, url, handle, entries=None):
        payload = {"QueueUrl": url, "ReceiptHandle": handle}
        if entries is not None:
            payload["Entries"] = entries
        return harness.json_request(node, "TweedleDeleteAndSend", payload)

    def rows(self, name):
        return int(psql("SELECT count(*) FROM sqs_messages WHERE queue_id = "
                        "(SELECT id FROM sqs_queues WHERE name = '%s')" % name)[0][0])

    def test_delete_on_one_node_send_seen_on_another(self):
        src, (sa, sb, sc) = self.standard("pl-src")
        dst, (da, db, _) = self.standard("pl-dst")
        fdst, (fa, fb, _) = self.fifo("pl-fifo")
        self.cb.send_message(QueueUrl=sb, MessageBody="state-1")
        m = self.cc.receive_message(QueueUrl=sc, VisibilityTimeout=60)["Messages"][0]
        # a long poll parked on B for the target queue: woken by the commit on A
        box = {}

        def poll():
            t0 = time.monotonic()
            box["got"] = self.cb.receive_message(QueueUrl=db, WaitTimeSeconds=10).get("Messages", [])
            box["took"] = time.monotonic() - t0
        t = threading.Thread(target=poll, daemon=True)
        t.start()
        time.sleep(0.5)
        r = self.step(self.a, sa, m["ReceiptHandle"], [
            {"Id": "again", "MessageBody": "state-2"},
            {"Id": "out", "MessageBody": "to-dst", "QueueUrl": da,
             "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
            {"Id": "f1", "MessageBody": "fifo-1", "QueueUrl": fa, "MessageGroupId": "g",
             "MessageDeduplicationId": "d1"},
            {"Id": "f2", "MessageBody": "fifo-2", "QueueUrl": fa, "MessageGroupId": "g",
             "MessageDeduplicationId": "d2"}])
        self.assertEqual(r.status, 200, r)
        ok = {e["Id"]: e for e in r.json()["Successful"]}
        self.assertEqual(sorted(ok), ["again", "f1", "f2", "out"])
        self.assertEqual(ok["out"]["MD5OfMessageBody"], harness.md5_hex("to-dst"))
        self.assertIn("MD5OfMessageAttributes", ok["out"])
        self.assertLess(int(ok["f1"]["SequenceNumber"]), int(ok["f2"]["SequenceNumber"]))
        t.join(15)
        self.assertFalse(t.is_alive())
        self.assertEqual([x["Body"] for x in box["got"]], ["to-dst"])
        self.assertEqual(box["got"][0]["MessageId"], ok["out"]["MessageId"])
        self.assertLess(box["took"], 5)
        # the old state is gone, the new one is queued: one row, visible on B
        self.assertEqual(self.rows(src), 1)
        got = self.cb.receive_message(QueueUrl=sb, MaxNumberOfMessages=10)["Messages"]
        self.assertEqual([x["Body"] for x in got], ["state-2"])
        fifo = self.cb.receive_message(QueueUrl=fb, MaxNumberOfMessages=10)["Messages"]
        self.assertEqual([x["Body"] for x in fifo], ["fifo-1", "fifo-2"])
        # the FIFO deduplication id holds across nodes
        dup = self.cc.send_message(QueueUrl=fb, MessageBody="x", MessageGroupId="g",
                                   MessageDeduplicationId="d1")
        self.assertEqual(dup["MessageId"], ok["f1"]["MessageId"])
        # no entries: only the delete ("the record is finished")
        g = got[0]
        r = self.step(self.c, sc, g["ReceiptHandle"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"Successful": []})
        self.assertEqual(self.rows(src), 0)

    def test_stale_receipt_fails_and_sends_nothing(self):
        src, (sa, sb, sc) = self.standard("pl-stale")
        dst, (da, _, _) = self.standard("pl-stale-dst")
        self.ca.send_message(QueueUrl=sa, MessageBody="s")
        old = self.ca.receive_message(QueueUrl=sa, VisibilityTimeout=0)["Messages"][0]
        new = self.cb.receive_message(QueueUrl=sb, VisibilityTimeout=60)["Messages"][0]
        self.assertEqual(old["MessageId"], new["MessageId"])
        # received again on B since: A's handle is stale on every node
        for node, url in ((self.c, sc), (self.a, sa)):
            r = self.step(node, url, old["ReceiptHandle"],
                          [{"Id": "n", "MessageBody": "must not exist", "QueueUrl": da}])
            self.assertEqual(r.status, 400, r)
            self.assertTrue(r.json()["__type"].endswith("#ReceiptHandleIsInvalid"), r)
            self.assertIn("received again", r.json()["message"])
        self.assertEqual((self.rows(src), self.rows(dst)), (1, 0))
        # an entry that fails (its queue does not exist): nothing deleted either
        r = self.step(self.a, sa, new["ReceiptHandle"], [
            {"Id": "ok", "MessageBody": "x", "QueueUrl": da},
            {"Id": "bad", "MessageBody": "x", "QueueUrl": sa + "-nope"}])
        self.assertEqual(r.status, 400, r)
        self.assertIn("Entry bad:", r.json()["message"])
        self.assertEqual((self.rows(src), self.rows(dst)), (1, 0))
        # the current handle works once; then it is stale too
        r = self.step(self.c, sc, new["ReceiptHandle"], [{"Id": "n", "MessageBody": "next",
                                                          "QueueUrl": da}])
        self.assertEqual(r.status, 200, r)
        r = self.step(self.b, sb, new["ReceiptHandle"], [{"Id": "n", "MessageBody": "twice",
                                                          "QueueUrl": da}])
        self.assertEqual(r.status, 400, r)
        self.assertEqual((self.rows(src), self.rows(dst)), (0, 1))

    def test_same_receipt_on_three_nodes_at_once_steps_once(self):
        for _ in range(5):
            src, (sa, _, _) = self.standard("pl-race")
            dst, (da, _, _) = self.standard("pl-race-dst")
            self.ca.send_message(QueueUrl=sa, MessageBody="s")
            m = self.ca.receive_message(QueueUrl=sa, VisibilityTimeout=60)["Messages"][0]
            barrier = threading.Barrier(3)
            codes = []

            def go(node, url):
                barrier.wait(5)
                codes.append(self.step(node, url, m["ReceiptHandle"],
                                       [{"Id": "n", "MessageBody": "next", "QueueUrl": da}]).status)
            ts = [threading.Thread(target=go, args=(n, n.queue_url(src)), daemon=True)
                  for n in CLUSTER.nodes]
            for t in ts:
                t.start()
            for t in ts:
                t.join(20)
            self.assertEqual(sorted(codes), [200, 400, 400])
            self.assertEqual((self.rows(src), self.rows(dst)), (0, 1))


USERS = [{"name": "sender", "access_key_id": "AKIDSENDER", "secret_access_key": "sender-secret",
          "policies": [{"Version": "2012-10-17", "Statement": [
              {"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"}]}]},
         {"name": "ops", "access_key_id": "AKIDOPS", "secret_access_key": "ops-secret"}]


class Policies(Base):
    """Queue policies (SetQueueAttributes Policy, AddPermission) set on one
    node decide on the others: two more nodes with users (--config)."""

    @classmethod
    def setUpClass(cls):
        cls.cfg = tempfile.mkdtemp(prefix="tweedle-pol-")
        path = os.path.join(cls.cfg, "config.json")
        with open(path, "w") as f:
            json.dump({"users": USERS}, f)
        cls.extra = [harness.Server(extra_args=["--store", PG.url, "--blobs", CLUSTER.blobs,
                                                "--config", path]) for _ in range(2)]
        for n in cls.extra:
            n.start(timeout=30)

    @classmethod
    def tearDownClass(cls):
        for n in cls.extra:
            n.cleanup()
        shutil.rmtree(cls.cfg, ignore_errors=True)

    def as_user(self, node, name):
        u = [x for x in USERS if x["name"] == name][0]
        return node.client(access_key=u["access_key_id"], secret_key=u["secret_access_key"])

    def policy(self, name, principal, action, effect="Allow"):
        return json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": effect, "Principal": principal, "Action": action,
            "Resource": "arn:aws:sqs:%s:%s:%s" % (harness.REGION, harness.ACCOUNT, name)}]})

    def assertDenied(self, fn):
        with self.assertRaises(ClientError) as e:
            fn()
        self.assertEqual(code_of(e.exception), "AccessDenied", e.exception.response)

    def test_queue_policy_set_on_one_node_decides_on_another(self):
        p, q = self.extra
        admin = p.client()
        name = uniq("pol")
        url = admin.create_queue(QueueName=name)["QueueUrl"]
        sender_q = self.as_user(q, "sender")
        self.assertDenied(lambda: sender_q.send_message(QueueUrl=url, MessageBody="before"))
        arn_sender = "arn:aws:iam::%s:user/sender" % harness.ACCOUNT
        admin.set_queue_attributes(QueueUrl=url, Attributes={
            "Policy": self.policy(name, {"AWS": arn_sender}, "sqs:SendMessage")})
        sender_q.send_message(QueueUrl=url, MessageBody="granted")
        self.assertDenied(lambda: sender_q.receive_message(QueueUrl=url))
        # an explicit Deny binds a user without policies, set here, checked there
        self.cb.set_queue_attributes(QueueUrl=url, Attributes={
            "Policy": self.policy(name, "*", "sqs:PurgeQueue", effect="Deny")})
        self.assertDenied(lambda: self.as_user(p, "ops").purge_queue(QueueUrl=url))
        self.assertDenied(lambda: q.client().purge_queue(QueueUrl=url))
        self.as_user(q, "ops").send_message(QueueUrl=url, MessageBody="ops")
        self.assertDenied(lambda: sender_q.send_message(QueueUrl=url, MessageBody="no longer"))
        # the policy removed on one node: denied (the sender) and allowed (root) on the other
        admin.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
        q.client().purge_queue(QueueUrl=url)
        # AddPermission on a node of the first cluster grants the account
        self.ca.add_permission(QueueUrl=url, Label="acct", AWSAccountIds=[harness.ACCOUNT],
                               Actions=["SendMessage"])
        sender_q.send_message(QueueUrl=url, MessageBody="via AddPermission")
        self.as_user(p, "sender").send_message(QueueUrl=url, MessageBody="on P too")
        self.assertDenied(lambda: sender_q.receive_message(QueueUrl=url))

    def test_delete_and_send_checks_every_target_queue(self):
        p, q = self.extra
        admin = p.client()
        src, dst = uniq("pol-src"), uniq("pol-dst")
        su = admin.create_queue(QueueName=src)["QueueUrl"]
        du = admin.create_queue(QueueName=dst)["QueueUrl"]
        arn_sender = "arn:aws:iam::%s:user/sender" % harness.ACCOUNT
        admin.set_queue_attributes(QueueUrl=su, Attributes={"Policy": self.policy(
            src, {"AWS": arn_sender}, ["sqs:ReceiveMessage", "sqs:DeleteMessage",
                                       "sqs:SendMessage"])})
        admin.send_message(QueueUrl=su, MessageBody="s")
        m = self.as_user(q, "sender").receive_message(QueueUrl=su)["Messages"][0]
        u = USERS[0]

        def step(entries):
            return harness.json_request(q, "TweedleDeleteAndSend", {
                "QueueUrl": su, "ReceiptHandle": m["ReceiptHandle"], "Entries": entries},
                access_key=u["access_key_id"], secret_key=u["secret_access_key"])
        r = step([{"Id": "n", "MessageBody": "x", "QueueUrl": du}])
        self.assertEqual(r.status, 403, r)
        self.assertIn("sqs:SendMessage", r.json()["message"])
        self.assertEqual(admin.get_queue_attributes(QueueUrl=su, AttributeNames=[
            "ApproximateNumberOfMessagesNotVisible"])["Attributes"],
            {"ApproximateNumberOfMessagesNotVisible": "1"})
        self.cc.set_queue_attributes(QueueUrl=du, Attributes={"Policy": self.policy(
            dst, {"AWS": arn_sender}, "sqs:SendMessage")})
        r = step([{"Id": "n", "MessageBody": "x", "QueueUrl": du}])
        self.assertEqual(r.status, 200, r)
        got = admin.receive_message(QueueUrl=du)["Messages"]
        self.assertEqual([x["Body"] for x in got], ["x"])


class ZRetention(Base):
    """Last (classes run by name): it kills the node doing background work."""

    def age(self, name, ms):
        psql("UPDATE sqs_messages SET sent_ms = sent_ms - %d WHERE queue_id = "
             "(SELECT id FROM sqs_queues WHERE name = '%s')" % (ms, name))

    def count(self, name):
        return int(psql("SELECT count(*) FROM sqs_messages WHERE queue_id = "
                        "(SELECT id FROM sqs_queues WHERE name = '%s')" % name)[0][0])

    def wait_gone(self, name, timeout=10):
        deadline = time.monotonic() + timeout
        while self.count(name) and time.monotonic() < deadline:
            time.sleep(0.2)
        return self.count(name)

    def test_expired_rows_deleted_by_one_node_then_another_takes_over(self):
        name, (ua, ub, _) = self.standard("ret", MessageRetentionPeriod=60)
        self.ca.send_message_batch(QueueUrl=ua, Entries=[
            {"Id": str(j), "MessageBody": "old"} for j in range(5)])
        self.cb.send_message(QueueUrl=ub, MessageBody="young")
        self.assertEqual(self.count(name), 6)
        psql("UPDATE sqs_messages SET sent_ms = sent_ms - 61000 WHERE body = 'old' AND queue_id = "
             "(SELECT id FROM sqs_queues WHERE name = '%s')" % name)
        deadline = time.monotonic() + 10
        while self.count(name) != 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.count(name), 1)  # the young one stays
        owners = [n for n in CLUSTER.nodes if BG_LINE in log_of(n)]
        self.assertEqual(len(owners), 1)
        sweepers = [n for n in CLUSTER.nodes if SWEEP_LINE.search(log_of(n))]
        self.assertEqual(sweepers, owners)
        holders = psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                       "AND objid = %d" % (0x747765656432 & 0xffffffff))
        self.assertEqual(holders[0][0], "1")
        # the owner dies: another node takes the lock and deletes what expires next
        owner = owners[0]
        owner.kill9()
        rest = [n for n in CLUSTER.nodes if n is not owner]
        cl = rest[0].client()
        cl.send_message(QueueUrl=rest[0].queue_url(name), MessageBody="later")
        self.age(name, 61000)
        self.assertEqual(self.wait_gone(name, 20), 0)
        new_owners = [n for n in rest if BG_LINE in log_of(n)]
        self.assertEqual(len(new_owners), 1)


if __name__ == "__main__":
    unittest.main()
