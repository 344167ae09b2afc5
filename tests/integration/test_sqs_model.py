"""Randomized, model-based check of SQS message semantics.

A seeded sequence of operations (send, batch send, receive, delete with the
current / an older / a spent receipt handle, release with ChangeMessageVisibility
0 through a current or an older handle, attribute counts) runs against a standard
queue and a FIFO queue, each with a dead-letter queue, while a model of the
documented behaviour predicts every answer:

  - a received message is visible in the model, never one in flight; FIFO
    receives take the oldest messages of groups with nothing in flight, in order;
  - ApproximateReceiveCount counts receives; a message received maxReceiveCount
    times goes to the dead-letter queue instead of being received again;
  - a delete with the current handle removes the message; an older handle does
    nothing on a standard queue and fails "The receipt handle has expired" on a
    FIFO queue; a spent handle (message gone) succeeds;
  - ChangeMessageVisibility with an older handle answers 200 and changes nothing;
  - ApproximateNumberOfMessages / NotVisible match the model after every step.

Receives use a long visibility timeout, so nothing depends on the clock. At the
end both queues are drained: every message sent and not deleted is in exactly
one of them, byte for byte. The seed is printed on failure: replay with
SQS_MODEL_SEED=N (SQS_MODEL_STEPS sets the length)."""
import os
import random
import unittest

from botocore.exceptions import ClientError

import harness as h
from harness import SqsTestCase

STEPS = int(os.environ.get("SQS_MODEL_STEPS", "400"))
MAX_RECEIVES = 3
VIS = 600


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


class Msg:
    def __init__(self, mid, body, group, seq):
        self.id, self.body, self.group, self.seq = mid, body, group, seq
        self.state = "visible"  # visible | inflight | deleted | dlq | maybe-dlq
        self.count = 0
        self.handle = None
        self.old = []


class ModelTest(SqsTestCase):
    def run_model(self, fifo, seed):
        rnd = random.Random(seed)
        attrs = {"VisibilityTimeout": str(VIS)}
        if fifo:
            attrs["ContentBasedDeduplication"] = "false"
        dlq = self.make_queue("modeldlq", fifo=fifo, attributes=dict(attrs))
        attrs["RedrivePolicy"] = '{"deadLetterTargetArn":"%s","maxReceiveCount":"%d"}' % (
            self.arn_of(dlq), MAX_RECEIVES)
        url = self.make_queue("model", fifo=fifo, attributes=attrs)
        msgs = {}
        order = []  # send order
        seq = [0]

        def send(n):
            entries = []
            for _ in range(n):
                seq[0] += 1
                e = {"Id": "e%d" % len(entries), "MessageBody": "m%d-%s" % (seq[0], "x" * rnd.randint(0, 40))}
                if fifo:
                    e["MessageGroupId"] = "g%d" % rnd.randint(0, 2)
                    e["MessageDeduplicationId"] = "d%d" % seq[0]
                entries.append(e)
            if n == 1 and rnd.random() < 0.5:
                e = dict(entries[0])
                del e["Id"]
                mids = [self.sqs.send_message(QueueUrl=url, **e)["MessageId"]]
            else:
                r = self.sqs.send_message_batch(QueueUrl=url, Entries=entries)
                self.assertEqual(r.get("Failed", []), [])
                by_id = {x["Id"]: x["MessageId"] for x in r["Successful"]}
                mids = [by_id[e["Id"]] for e in entries]
            for e, mid in zip(entries, mids):
                m = Msg(mid, e["MessageBody"], e.get("MessageGroupId"), seq[0])
                msgs[mid] = m
                order.append(m)

        def live(states):
            return [m for m in order if m.state in states]

        def receive():
            want = rnd.randint(1, 10)
            got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=want, VisibilityTimeout=VIS,
                                           AttributeNames=["All"]).get("Messages", [])
            self.assertLessEqual(len(got), want)
            visible = live(("visible",))
            if fifo:  # a group with a message in flight is blocked
                blocked = {m.group for m in live(("inflight",))}
                visible = [m for m in visible if m.group not in blocked]
            if visible and not any(m.count >= MAX_RECEIVES for m in live(("visible", "maybe-dlq"))):
                self.assertGreater(len(got), 0, "visible messages but an empty receive")
            got_ids = [g["MessageId"] for g in got]
            for g in got:
                m = msgs.get(g["MessageId"])
                self.assertIsNotNone(m, "unknown message")
                self.assertIn(m.state, ("visible", "maybe-dlq"), "received a message that is %s" % m.state)
                self.assertLess(m.count, MAX_RECEIVES, "received past maxReceiveCount")
                self.assertEqual(g["Body"], m.body)
                m.count += 1
                self.assertEqual(int(g["Attributes"]["ApproximateReceiveCount"]), m.count)
                if m.handle:
                    m.old.append(m.handle)
                m.handle, m.state = g["ReceiptHandle"], "inflight"
            if fifo:
                # per group: what came back is the group's oldest waiting messages,
                # after those that went to the DLQ; nothing from a blocked group
                for grp in {msgs[i].group for i in got_ids}:
                    members = [m for m in order if m.group == grp and m.state not in ("deleted", "dlq")]
                    returned = [m for m in members if m.id in got_ids]
                    first = members.index(returned[0])
                    for m in members[:first]:  # skipped: must have been moved
                        self.assertGreaterEqual(m.count, MAX_RECEIVES, "FIFO order broken in %s" % grp)
                        m.state = "dlq"
                    self.assertEqual(members[first:first + len(returned)], returned, "FIFO order in %s" % grp)
            # visible messages that reached maxReceiveCount may have been moved now
            for m in live(("visible",)):
                if m.count >= MAX_RECEIVES:
                    m.state = "maybe-dlq"

        def delete():
            # (not a message that may or may not have gone to the DLQ yet)
            cands = live(("inflight", "visible", "dlq")) + [m for m in order if m.state == "deleted"][-3:]
            cands = [m for m in cands if m.handle]
            if not cands:
                return
            m = rnd.choice(cands)
            kind = rnd.choice(["current", "current", "old"]) if m.old else "current"
            h = m.handle if kind == "current" else rnd.choice(m.old)
            try:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=h)
                ok = True
            except ClientError as e:
                ok = False
                err = e
            if m.state in ("deleted", "dlq"):
                self.assertTrue(ok, "delete of a message that is gone must succeed")
            elif kind == "old":
                if fifo:
                    self.assertFalse(ok, "FIFO delete with an older handle must fail")
                    self.assertEqual(err.response["Error"]["Code"], "InvalidParameterValue")
                    self.assertIn("The receipt handle has expired", err.response["Error"]["Message"])
                else:
                    self.assertTrue(ok)
            elif m.state == "visible":  # current handle, released
                if fifo:
                    self.assertFalse(ok, "FIFO delete of a released message must fail")
                else:
                    self.assertTrue(ok)
                    m.state = "deleted"
            else:
                self.assertTrue(ok, "delete with the current handle failed: %r" % (None if ok else err,))
                m.state = "deleted"

        def release():
            cands = [m for m in order if m.handle and m.state in ("inflight", "visible")]
            if not cands:
                return
            m = rnd.choice(cands)
            h = rnd.choice(m.old) if m.old and rnd.random() < 0.4 else m.handle
            self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=h, VisibilityTimeout=0)
            if h == m.handle and m.state == "inflight":
                m.state = "visible"
                if m.count >= MAX_RECEIVES:
                    m.state = "maybe-dlq"

        def check_counts():
            a = self.attrs(url)
            nv = int(a["ApproximateNumberOfMessagesNotVisible"])
            self.assertEqual(nv, len(live(("inflight",))), "in-flight count")
            vis = int(a["ApproximateNumberOfMessages"])
            lo, hi = len(live(("visible",))), len(live(("visible", "maybe-dlq")))
            self.assertTrue(lo <= vis <= hi, "visible count %d not in [%d, %d]" % (vis, lo, hi))

        ops = [(lambda: send(1), 3), (lambda: send(rnd.randint(2, 10)), 2), (receive, 5), (delete, 3),
               (release, 3), (check_counts, 1)]
        weights = [w for _, w in ops]
        for _ in range(STEPS):
            rnd.choices(ops, weights)[0][0]()
        check_counts()

        # drain: release everything in flight, then take what each queue holds
        for m in live(("inflight",)):
            self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m.handle, VisibilityTimeout=0)

        def drain(q):
            out = {}
            for _ in range(200):
                got = self.sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, VisibilityTimeout=VIS,
                                               WaitTimeSeconds=0).get("Messages", [])
                if not got:
                    break
                for g in got:
                    self.assertNotIn(g["MessageId"], out, "received twice while in flight")
                    out[g["MessageId"]] = g["Body"]
                    self.sqs.delete_message(QueueUrl=q, ReceiptHandle=g["ReceiptHandle"])
            return out

        main, dead = drain(url), drain(dlq)
        for m in order:
            where = "main" if m.id in main else "dlq" if m.id in dead else None
            self.assertFalse(m.id in main and m.id in dead)
            if m.state == "deleted":
                self.assertIsNone(where, "a deleted message came back")
            elif m.state == "dlq":
                self.assertEqual(where, "dlq")
            elif m.state == "maybe-dlq":
                self.assertIsNotNone(where, "message lost")
            else:
                self.assertIsNotNone(where, "message lost (%s)" % m.state)
            if where:
                self.assertEqual((main.get(m.id) or dead.get(m.id)), m.body)
                if where == "dlq":
                    self.assertGreaterEqual(m.count, MAX_RECEIVES)
        self.assertEqual(set(main) | set(dead), {m.id for m in order if m.id in main or m.id in dead})

    def _run(self, fifo):
        seed = int(os.environ.get("SQS_MODEL_SEED") or random.randrange(1 << 30))
        try:
            self.run_model(fifo, seed)
        except AssertionError as e:
            raise AssertionError("%s (replay: SQS_MODEL_SEED=%d)" % (e, seed)) from None

    def test_standard_queue_with_dlq(self):
        self._run(False)

    def test_fifo_queue_with_dlq(self):
        self._run(True)


if __name__ == "__main__":
    unittest.main()
