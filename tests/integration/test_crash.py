"""Durability: kill -9 under load, then restart on the same data directory.

Every SendMessage/SendMessageBatch that was acknowledged must survive, and
every DeleteMessage that was acknowledged must stay deleted.  Also checks a
graceful SIGTERM restart keeps queues, attributes, tags, in-flight state and
the FIFO deduplication window."""

import json
import random
import sys
import threading
import time
import unittest

from botocore.exceptions import BotoCoreError, ClientError

import harness as h

SEND_SECONDS = 4.0
SENDERS = 4
RECEIVERS = 2
VISIBILITY = 2
CYCLES = 8


class CrashTest(h.FreshServerTestCase):

    def client(self):
        return self.server.client(read_timeout=10, connect_timeout=3, pool=20)

    def test_kill9_loses_no_acknowledged_message(self):
        sqs = self.client()
        name = h.unique("crash")
        url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(VISIBILITY)})["QueueUrl"]

        lock = threading.Lock()
        acked = {}            # MessageId -> body, for sends the server acknowledged
        attempted = set()     # every body ever sent (acknowledged or not)
        deleted = set()       # MessageIds whose DeleteMessage was acknowledged
        delete_unknown = set()  # MessageIds whose DeleteMessage got no answer
        stop = threading.Event()
        killing = threading.Event()
        errors_before_kill = []

        def sender(idx):
            c = self.client()
            n = 0
            while not stop.is_set():
                n += 1
                if n % 3 == 0:
                    bodies = ["s%d-%d-%d-%s" % (idx, n, j, "x" * random.randint(0, 200)) for j in range(5)]
                    with lock:
                        attempted.update(bodies)
                    try:
                        r = c.send_message_batch(QueueUrl=url, Entries=[
                            {"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies)])
                    except (ClientError, BotoCoreError) as e:
                        if not killing.is_set():
                            errors_before_kill.append(repr(e))
                        continue
                    with lock:
                        for e in r.get("Successful", []):
                            acked[e["MessageId"]] = bodies[int(e["Id"])]
                else:
                    body = "s%d-%d" % (idx, n)
                    with lock:
                        attempted.add(body)
                    try:
                        r = c.send_message(QueueUrl=url, MessageBody=body)
                    except (ClientError, BotoCoreError) as e:
                        if not killing.is_set():
                            errors_before_kill.append(repr(e))
                        continue
                    with lock:
                        acked[r["MessageId"]] = body

        def receiver():
            c = self.client()
            while not stop.is_set():
                try:
                    msgs = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                             WaitTimeSeconds=1).get("Messages", [])
                    received_at = time.monotonic()
                except (ClientError, BotoCoreError) as e:
                    if not killing.is_set():
                        errors_before_kill.append(repr(e))
                    continue
                for m in msgs:
                    if random.random() < 0.2:
                        continue  # leave some in flight at the crash
                    try:
                        c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                    except (ClientError, BotoCoreError):
                        with lock:
                            delete_unknown.add(m["MessageId"])
                        continue
                    with lock:
                        if time.monotonic() - received_at < VISIBILITY * 0.75:
                            deleted.add(m["MessageId"])
                        else:
                            # the handle may have been superseded: AWS lets such a
                            # delete succeed without deleting
                            delete_unknown.add(m["MessageId"])

        threads = [threading.Thread(target=sender, args=(i,), daemon=True) for i in range(SENDERS)]
        threads += [threading.Thread(target=receiver, daemon=True) for _ in range(RECEIVERS)]
        for t in threads:
            t.start()
        time.sleep(SEND_SECONDS)
        deadline = time.time() + 30  # a busy machine may need longer for enough load
        while time.time() < deadline:
            with lock:
                if len(acked) > 60:
                    break
            time.sleep(0.1)
        killing.set()
        self.server.kill9()          # while requests are in flight
        stop.set()
        for t in threads:
            t.join(15)
        self.assertFalse(any(t.is_alive() for t in threads), "load threads did not stop")
        self.assertEqual(errors_before_kill[:5], [], "requests failed before the crash")
        self.assertGreater(len(acked), 50, "too little load was acknowledged to test anything")
        self.assertGreater(len(deleted), 10, "too few deletes were acknowledged to test anything")

        with lock:
            acked_snapshot = dict(acked)
            deleted_snapshot = set(deleted)
            unknown_snapshot = set(delete_unknown)
        required = set(acked_snapshot) - deleted_snapshot - unknown_snapshot

        self.server.restart()
        sqs = self.client()
        self.assertEqual(sqs.get_queue_url(QueueName=name)["QueueUrl"], self.server.queue_url(name))
        url = self.server.queue_url(name)

        drained = {}
        deadline = time.monotonic() + 30
        quiet_since = None
        while time.monotonic() < deadline:
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            if msgs:
                quiet_since = None
                entries = []
                for i, m in enumerate(msgs):
                    drained.setdefault(m["MessageId"], m["Body"])
                    entries.append({"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]})
                sqs.delete_message_batch(QueueUrl=url, Entries=entries)
            else:
                if required <= set(drained):
                    # all required seen; wait past one visibility timeout for stragglers
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since > VISIBILITY + 1:
                        break

        sys.stderr.write("\n[crash] acked sends=%d, acked deletes=%d, unsure deletes=%d, required=%d, "
                         "drained after restart=%d\n" % (len(acked_snapshot), len(deleted_snapshot),
                                                          len(unknown_snapshot), len(required), len(drained)))
        missing = required - set(drained)
        self.assertEqual(len(missing), 0, "%d acknowledged messages lost after kill -9, e.g. %s"
                         % (len(missing), sorted(missing)[:5]))
        resurrected = deleted_snapshot & set(drained)
        self.assertEqual(len(resurrected), 0, "%d acknowledged deletes came back after kill -9, e.g. %s"
                         % (len(resurrected), sorted(resurrected)[:5]))
        for mid, body in drained.items():
            if mid in acked_snapshot:
                self.assertEqual(body, acked_snapshot[mid], "body changed for %s" % mid)
            else:
                self.assertIn(body, attempted, "a message nobody sent appeared: %r" % body[:80])
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        self.assertEqual(a["ApproximateNumberOfMessages"], "0")
        self.assertEqual(a["VisibilityTimeout"], str(VISIBILITY))

    def test_sigterm_exits_zero_and_keeps_state(self):
        sqs = self.client()
        dlq = sqs.create_queue(QueueName=h.unique("gdlq"))["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        name = h.unique("graceful")
        url = sqs.create_queue(QueueName=name, Attributes={
            "VisibilityTimeout": "600", "DelaySeconds": "0", "MessageRetentionPeriod": "3600",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})},
            tags={"team": "core"})["QueueUrl"]
        fifo = sqs.create_queue(QueueName=h.unique("gfifo") + ".fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        before = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        for i in range(5):
            sqs.send_message(QueueUrl=url, MessageBody="keep-%d" % i,
                             MessageAttributes={"i": {"DataType": "Number", "StringValue": str(i)}})
        inflight = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]
        sqs.send_message(QueueUrl=fifo, MessageBody="once", MessageGroupId="g", MessageDeduplicationId="d1")

        rc, secs, killed = self.server.stop()
        self.assertFalse(killed, "SIGTERM did not stop the server within %.0fs" % h.STOP_TIMEOUT)
        self.assertEqual(rc, 0, "graceful shutdown must exit 0\n" + self.server.log_tail())
        self.server.start()
        sqs = self.client()
        url = self.server.queue_url(name)

        after = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        for k in ("VisibilityTimeout", "MessageRetentionPeriod", "QueueArn", "CreatedTimestamp",
                  "LastModifiedTimestamp", "MaximumMessageSize"):
            self.assertEqual(after[k], before[k], k)
        self.assertEqual(json.loads(after["RedrivePolicy"])["deadLetterTargetArn"], dlq_arn)
        self.assertEqual(sqs.list_queue_tags(QueueUrl=url).get("Tags"), {"team": "core"})
        self.assertEqual(after["ApproximateNumberOfMessages"], "4")
        self.assertEqual(after["ApproximateNumberOfMessagesNotVisible"], "1", "in-flight state must survive")

        got = []
        for _ in range(10):
            got += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                       MessageAttributeNames=["All"]).get("Messages", [])
            if len(got) >= 4:
                break
        self.assertEqual(sorted(m["Body"] for m in got),
                         sorted("keep-%d" % i for i in range(5) if "keep-%d" % i != inflight["Body"]))
        for m in got:
            self.assertEqual(m["MessageAttributes"]["i"]["StringValue"], m["Body"].split("-")[1])
        # the old receipt handle still deletes the in-flight message
        sqs.delete_message(QueueUrl=url, ReceiptHandle=inflight["ReceiptHandle"])
        self.assertEqual(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessagesNotVisible"])["Attributes"]["ApproximateNumberOfMessagesNotVisible"], "4")

        # FIFO deduplication window survives the restart
        fifo = self.server.queue_url(fifo.rsplit("/", 1)[1])
        sqs.send_message(QueueUrl=fifo, MessageBody="once", MessageGroupId="g", MessageDeduplicationId="d1")
        fm = []
        for _ in range(3):
            fm += sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            if fm:
                sqs.delete_message(QueueUrl=fifo, ReceiptHandle=fm[-1]["ReceiptHandle"])
        self.assertEqual([m["Body"] for m in fm], ["once"])

    def test_sigterm_with_open_connections_and_waiting_receives(self):
        """Graceful stop while keep-alive connections are open, requests are
        arriving and long polls are parked: exit 0, promptly, every time."""
        name = h.unique("term")
        for cycle in range(CYCLES):
            sqs = self.client()
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody="c%d" % cycle)
            sqs.list_queues()
            waiter = self.server.client(read_timeout=25)
            # park a long poll on an empty queue
            empty = sqs.create_queue(QueueName=name + "-empty")["QueueUrl"]
            t = threading.Thread(target=self._swallow, args=(
                lambda: waiter.receive_message(QueueUrl=empty, WaitTimeSeconds=20),), daemon=True)
            t.start()
            # and keep requests coming while the signal lands
            busy = threading.Event()
            hammer_client = self.client()

            def hammer():
                while not busy.is_set():
                    try:
                        hammer_client.get_queue_url(QueueName=name)
                    except Exception:  # noqa: BLE001 - the server goes away under it
                        time.sleep(0.01)

            ht = threading.Thread(target=hammer, daemon=True)
            ht.start()
            time.sleep(0.3)
            rc, secs, killed = self.server.stop()
            busy.set()
            ht.join(10)
            self.assertFalse(killed, "cycle %d: SIGTERM did not stop the server within %.0fs" % (cycle, h.STOP_TIMEOUT))
            self.assertEqual(rc, 0, "cycle %d: exit status %s\n%s" % (cycle, rc, self.server.log_tail(8)))
            self.assertLess(secs, 5.0, "cycle %d: graceful stop took %.1fs with a parked receive" % (cycle, secs))
            t.join(25)
            self.server.start()
        sqs = self.client()
        url = self.server.queue_url(name)
        got = []
        for _ in range(5):
            got += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            if len(got) >= CYCLES:
                break
        self.assertEqual(sorted(m["Body"] for m in got), sorted("c%d" % i for i in range(CYCLES)))

    @staticmethod
    def _swallow(fn):
        try:
            fn()
        except Exception:  # noqa: BLE001 - the server goes away under it
            pass

    def test_kill9_idle_then_restart(self):
        sqs = self.client()
        name = h.unique("idle")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        r = sqs.send_message(QueueUrl=url, MessageBody="durable")
        self.server.kill9()
        self.server.restart()
        sqs = self.client()
        url = self.server.queue_url(name)
        msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
        self.assertEqual([(m["MessageId"], m["Body"]) for m in msgs], [(r["MessageId"], "durable")])


if __name__ == "__main__":
    unittest.main()
