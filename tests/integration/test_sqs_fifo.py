"""FIFO queues: ordering within a group, group blocking while in flight,
deduplication (explicit and content-based, also after delete), sequence
numbers, parameter rules, high-throughput settings, FIFO dead-letter queues."""

import hashlib
import json
import time
import unittest

import harness as h
from harness import SqsTestCase

SERVER = None


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


FIFO_MSG_ATTRS = {"ApproximateFirstReceiveTimestamp", "ApproximateReceiveCount", "MessageDeduplicationId",
                  "MessageGroupId", "SenderId", "SentTimestamp", "SequenceNumber"}


class FifoTest(SqsTestCase):

    def fifo(self, prefix="f", cbd=False, **attrs):
        if cbd:
            attrs["ContentBasedDeduplication"] = "true"
        return self.make_queue(prefix, fifo=True, attributes=attrs)

    def send(self, url, body, group="g", dedup=None, **kw):
        kw["MessageGroupId"] = group
        if dedup is not None:
            kw["MessageDeduplicationId"] = dedup
        return self.sqs.send_message(QueueUrl=url, MessageBody=body, **kw)

    # -- parameter rules ---------------------------------------------------
    def test_group_id_required(self):
        url = self.fifo("nogroup", cbd=True)
        self.assertRaisesSqs(lambda: self.sqs.send_message(QueueUrl=url, MessageBody="x"),
                             "MissingParameter", 400,
                             message="The request must contain the parameter MessageGroupId.")

    def test_group_id_required_in_batch(self):
        url = self.fifo("nogroupb", cbd=True)
        r = None
        try:
            r = self.sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "x"}])
        except h.ClientError as e:
            # real SQS rejects the whole batch with InvalidParameterValue
            self.assertSqsError(e, "InvalidParameterValue", 400,
                                message="The request must contain the parameter MessageGroupId.")
        if r is not None:
            self.assertEqual(r.get("Successful", []), [])
            self.assertEqual(len(r["Failed"]), 1)
        self.assertEqual(self.receive(url), [])

    def test_dedup_id_required_without_content_based(self):
        url = self.fifo("nodedup")
        self.assertRaisesSqs(lambda: self.sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g"),
                             "InvalidParameterValue", 400,
                             message="The queue should either have ContentBasedDeduplication enabled or "
                                     "MessageDeduplicationId provided explicitly")

    def test_per_message_delay_rejected(self):
        url = self.fifo("delay", cbd=True)
        self.assertRaisesSqs(lambda: self.send(url, "x", DelaySeconds=2), "InvalidParameterValue", 400,
                             message="Value 2 for parameter DelaySeconds is invalid. Reason: The request include "
                                     "parameter that is not valid for this queue type.")

    def test_queue_delay_allowed(self):
        url = self.fifo("qdelay", cbd=True, DelaySeconds="1")
        self.send(url, "x")
        self.assertEqual(self.receive(url), [])
        self.assertEqual(len(self.receive_all(url, 1, timeout=5)), 1)

    # -- ordering and groups -----------------------------------------------
    def test_order_within_group(self):
        url = self.fifo("order", cbd=True)
        bodies = ["m%02d" % i for i in range(20)]
        for b in bodies:
            self.send(url, b)
        got = self.receive_all(url, 20)
        self.assertEqual([m["Body"] for m in got], bodies)

    def test_group_blocked_while_in_flight(self):
        url = self.fifo("block", cbd=True)
        for b in ("a1", "a2", "a3"):
            self.send(url, b, group="A")
        first = self.receive(url, MaxNumberOfMessages=1)
        self.assertEqual([m["Body"] for m in first], ["a1"])
        self.assertEqual(self.receive(url, MaxNumberOfMessages=10), [], "group A must be blocked while a1 is in flight")
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
        nxt = self.receive(url, MaxNumberOfMessages=1)
        self.assertEqual([m["Body"] for m in nxt], ["a2"])

    def test_other_groups_not_blocked(self):
        url = self.fifo("groups", cbd=True)
        self.send(url, "a1", group="A")
        self.send(url, "a2", group="A")
        self.send(url, "b1", group="B")
        self.send(url, "b2", group="B")
        m = self.receive(url, MaxNumberOfMessages=1)
        self.assertEqual(len(m), 1)
        held = m[0]["Body"][0]
        other = {"a": "b", "b": "a"}[held]
        m2 = self.receive(url, MaxNumberOfMessages=1)
        self.assertEqual([x["Body"] for x in m2], [other + "1"])
        self.assertEqual(self.receive(url, MaxNumberOfMessages=10), [])

    def test_receive_many_keeps_group_order(self):
        url = self.fifo("many", cbd=True)
        for i in range(4):
            for g in "ABC":
                self.send(url, "%s%d" % (g, i), group=g)
        got = self.receive_all(url, 12, AttributeNames=["MessageGroupId"])
        self.assertEqual(len(got), 12)
        for g in "ABC":
            self.assertEqual([m["Body"] for m in got if m["Attributes"]["MessageGroupId"] == g],
                             ["%s%d" % (g, i) for i in range(4)])

    def test_visibility_expiry_redelivers_in_order(self):
        url = self.fifo("fvis", cbd=True)
        self.send(url, "one")
        self.send(url, "two")
        m = self.receive(url, VisibilityTimeout=1)
        self.assertEqual([x["Body"] for x in m], ["one"])
        time.sleep(1.3)
        m2 = self.receive(url, WaitTimeSeconds=2, AttributeNames=["ApproximateReceiveCount"])
        self.assertEqual([x["Body"] for x in m2], ["one"])
        self.assertEqual(m2[0]["Attributes"]["ApproximateReceiveCount"], "2")

    def test_batch_order(self):
        url = self.fifo("fbatch")
        entries = [{"Id": "e%d" % i, "MessageBody": "b%d" % i, "MessageGroupId": "g",
                    "MessageDeduplicationId": "d%d" % i} for i in range(10)]
        r = self.sqs.send_message_batch(QueueUrl=url, Entries=entries)
        self.assertEqual(r.get("Failed", []), [])
        seqs = {e["Id"]: int(e["SequenceNumber"]) for e in r["Successful"]}
        ordered = [seqs["e%d" % i] for i in range(10)]
        self.assertEqual(ordered, sorted(ordered))
        self.assertEqual(len(set(ordered)), 10)
        got = self.receive_all(url, 10)
        self.assertEqual([m["Body"] for m in got], ["b%d" % i for i in range(10)])

    # -- sequence numbers and attributes -------------------------------------
    def test_sequence_numbers_and_attributes(self):
        url = self.fifo("seq")
        r1 = self.send(url, "one", group="grp-1", dedup="dedup-1")
        r2 = self.send(url, "two", group="grp-1", dedup="dedup-2")
        for r in (r1, r2):
            self.assertRegex(r["SequenceNumber"], r"^\d+$")
            self.assertGreaterEqual(len(r["SequenceNumber"]), 20)
            self.assertEqual(r["MD5OfMessageBody"], h.md5_hex("one" if r is r1 else "two"))
        self.assertGreater(int(r2["SequenceNumber"]), int(r1["SequenceNumber"]))
        m = self.receive(url, AttributeNames=["All"])[0]
        a = m["Attributes"]
        self.assertEqual(set(a), FIFO_MSG_ATTRS)
        self.assertEqual(a["MessageGroupId"], "grp-1")
        self.assertEqual(a["MessageDeduplicationId"], "dedup-1")
        self.assertEqual(a["SequenceNumber"], r1["SequenceNumber"])
        self.assertEqual(m["MessageId"], r1["MessageId"])

    def test_sequence_numbers_increase_across_groups(self):
        url = self.fifo("seq2", cbd=True)
        seqs = [int(self.send(url, "b%d" % i, group="g%d" % (i % 3))["SequenceNumber"]) for i in range(9)]
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len(set(seqs)), 9)

    # -- deduplication --------------------------------------------------------
    def test_dedup_explicit_id(self):
        url = self.fifo("dedup")
        r1 = self.send(url, "first", dedup="same")
        r2 = self.send(url, "second body, same id", dedup="same")
        self.assertTrue(r2["MessageId"])
        got = self.receive_all(url, 2, timeout=2)
        self.assertEqual([m["Body"] for m in got], ["first"])
        self.assertEqual(got[0]["MessageId"], r1["MessageId"])

    def test_dedup_content_based(self):
        url = self.fifo("cbd", cbd=True)
        self.send(url, '{"foo": "bar"}')
        self.send(url, '{"foo": "bar"}')
        self.send(url, '{"foo": "baz"}')
        got = self.receive_all(url, 3, timeout=2)
        self.assertEqual([m["Body"] for m in got], ['{"foo": "bar"}', '{"foo": "baz"}'])

    def test_content_based_dedup_id_is_sha256(self):
        url = self.fifo("cbdsha", cbd=True)
        body = "content based"
        self.send(url, body)
        m = self.receive(url, AttributeNames=["MessageDeduplicationId"])[0]
        self.assertEqual(m["Attributes"]["MessageDeduplicationId"], hashlib.sha256(body.encode()).hexdigest())

    def test_explicit_id_overrides_content(self):
        url = self.fifo("cbdexplicit", cbd=True)
        self.send(url, "same body", dedup="x1")
        self.send(url, "same body", dedup="x2")
        self.assertEqual(len(self.receive_all(url, 2, timeout=2)), 2)

    def test_dedup_after_delete(self):
        for cbd in (True, False):
            with self.subTest(content_based=cbd):
                url = self.fifo("dedupdel", cbd=cbd)
                dedup = None if cbd else "d-1"
                self.send(url, '{"foo": "bar"}', dedup=dedup)
                got = self.receive_all(url, 1, timeout=2)
                self.assertEqual(len(got), 1)
                self.send(url, '{"foo": "bar"}', dedup=dedup)
                self.assertEqual(self.receive(url, WaitTimeSeconds=1), [],
                                 "a duplicate sent within 5 minutes must not be delivered after the delete")

    def test_dedup_scope_queue_spans_groups(self):
        url = self.fifo("scopeq")
        self.send(url, "x", group="g1", dedup="d")
        self.send(url, "y", group="g2", dedup="d")
        self.assertEqual([m["Body"] for m in self.receive_all(url, 2, timeout=2)], ["x"])

    def test_dedup_scope_message_group(self):
        url = self.fifo("scopeg", DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")
        self.send(url, "x", group="g1", dedup="d")
        self.send(url, "y", group="g2", dedup="d")
        self.send(url, "z", group="g2", dedup="d")
        self.assertEqual(sorted(m["Body"] for m in self.receive_all(url, 3, timeout=2)), ["x", "y"])

    def test_dedup_in_batch(self):
        url = self.fifo("dedupbatch")
        r = self.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "a", "MessageBody": "1", "MessageGroupId": "g", "MessageDeduplicationId": "same"},
            {"Id": "b", "MessageBody": "2", "MessageGroupId": "g", "MessageDeduplicationId": "same"}])
        self.assertEqual(sorted(e["Id"] for e in r["Successful"]), ["a", "b"])
        self.assertEqual([m["Body"] for m in self.receive_all(url, 2, timeout=2)], ["1"])

    def test_receive_request_attempt_id_retry(self):
        """A retried ReceiveMessage with the same ReceiveRequestAttemptId, while
        the messages are in flight, returns the same messages and handles."""
        url = self.fifo("attempt", cbd=True)
        self.send(url, "r1")
        self.send(url, "r2")
        first = self.receive(url, MaxNumberOfMessages=10, ReceiveRequestAttemptId="attempt-1")
        self.assertEqual([m["Body"] for m in first], ["r1", "r2"])
        again = self.receive(url, MaxNumberOfMessages=10, ReceiveRequestAttemptId="attempt-1")
        self.assertEqual([(m["MessageId"], m["ReceiptHandle"]) for m in again],
                         [(m["MessageId"], m["ReceiptHandle"]) for m in first])
        self.assertEqual(self.receive(url, MaxNumberOfMessages=10, ReceiveRequestAttemptId="attempt-2"), [])

    # -- receipt handles -------------------------------------------------------
    def test_delete_with_expired_receipt_handle(self):
        url = self.fifo("expired", cbd=True)
        self.send(url, "g1-m1")
        m = self.receive(url, VisibilityTimeout=1)[0]
        time.sleep(1.5)
        rh = m["ReceiptHandle"]
        self.assertRaisesSqs(lambda: self.sqs.delete_message(QueueUrl=url, ReceiptHandle=rh),
                             "InvalidParameterValue", 400,
                             message="Value %s for parameter ReceiptHandle is invalid. Reason: The receipt handle "
                                     "has expired." % rh)

    # -- FIFO dead-letter queue ------------------------------------------------
    def test_fifo_dlq(self):
        dlq = self.fifo("fdlq")
        dlq_arn = self.arn_of(dlq)
        src = self.fifo("fdlqsrc", cbd=True, VisibilityTimeout="1",
                        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}))
        self.send(src, "poison", group="p")
        self.send(src, "next", group="p")
        first = self.receive(src, WaitTimeSeconds=2)
        self.assertEqual([m["Body"] for m in first], ["poison"])
        time.sleep(1.3)
        got = self.receive(src, WaitTimeSeconds=2)
        self.assertEqual([m["Body"] for m in got], ["next"], "poison must move to the DLQ, unblocking its group")
        moved = self.receive_all(dlq, 1, timeout=5, AttributeNames=["All"])
        self.assertEqual([m["Body"] for m in moved], ["poison"])
        self.assertEqual(moved[0]["Attributes"]["MessageGroupId"], "p")


if __name__ == "__main__":
    unittest.main()
