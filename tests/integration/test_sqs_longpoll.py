"""Long polling: a waiting ReceiveMessage returns as soon as a message is
available, returns empty at its deadline, many concurrent waiters are all
served, waiters do not block the server, and aborted polls leave it healthy."""

import socket
import threading
import time
import unittest

import harness as h
from harness import SqsTestCase

SERVER = None


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


class LongPollTest(SqsTestCase):

    def parked_receive(self, payload):
        """A signed ReceiveMessage sent on a raw socket (left open: the caller closes it)."""
        body = payload.encode()
        req = h.AWSRequest(method="POST", url=self.server.endpoint + "/", data=body,
                           headers={"Content-Type": h.JSON_CT, "X-Amz-Target": "AmazonSQS.ReceiveMessage"})
        h.SigV4Auth(h.Credentials(h.ACCESS_KEY, h.SECRET_KEY), "sqs", h.REGION).add_auth(req)
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
        head = "POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n" % (self.server.port, len(body))
        head += "".join("%s: %s\r\n" % (k, v) for k, v in req.headers.items()) + "\r\n"
        s.sendall(head.encode() + body)
        return s

    def timed_receive(self, url, **kw):
        t0 = time.monotonic()
        msgs = self.sqs.receive_message(QueueUrl=url, **kw).get("Messages", [])
        return msgs, time.monotonic() - t0

    def send_later(self, url, delay, body="late", **kw):
        def run():
            time.sleep(delay)
            self.sqs.send_message(QueueUrl=url, MessageBody=body, **kw)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def test_returns_when_message_arrives(self):
        url = self.make_queue("lp")
        t = self.send_later(url, 1.0, "wake")
        msgs, took = self.timed_receive(url, WaitTimeSeconds=10)
        t.join(5)
        self.assertEqual([m["Body"] for m in msgs], ["wake"])
        self.assertGreaterEqual(took, 0.8)
        self.assertLess(took, 3.0, "a long poll must return soon after a message arrives, took %.2fs" % took)

    def test_returns_immediately_when_messages_are_there(self):
        url = self.make_queue("lpready")
        self.sqs.send_message(QueueUrl=url, MessageBody="ready")
        msgs, took = self.timed_receive(url, WaitTimeSeconds=10)
        self.assertEqual(len(msgs), 1)
        self.assertLess(took, 1.0)

    def test_empty_at_deadline(self):
        url = self.make_queue("lpempty")
        msgs, took = self.timed_receive(url, WaitTimeSeconds=2)
        self.assertEqual(msgs, [])
        self.assertGreaterEqual(took, 1.8, "returned before the wait time was over")
        self.assertLess(took, 4.0, "returned long after the wait time was over")

    def test_queue_default_wait_time(self):
        url = self.make_queue("lpdefault", attributes={"ReceiveMessageWaitTimeSeconds": "2"})
        msgs, took = self.timed_receive(url)
        self.assertEqual(msgs, [])
        self.assertGreaterEqual(took, 1.8)
        self.assertLess(took, 4.0)
        msgs, took = self.timed_receive(url, WaitTimeSeconds=0)
        self.assertEqual(msgs, [])
        self.assertLess(took, 1.0, "WaitTimeSeconds=0 overrides the queue's wait time")

    def test_wakes_on_delay_expiry(self):
        url = self.make_queue("lpdelay")
        self.sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=2)
        msgs, took = self.timed_receive(url, WaitTimeSeconds=8)
        self.assertEqual([m["Body"] for m in msgs], ["delayed"])
        self.assertGreaterEqual(took, 1.7)
        self.assertLess(took, 4.5)

    def test_wakes_on_visibility_expiry(self):
        url = self.make_queue("lpvis")
        self.sqs.send_message(QueueUrl=url, MessageBody="again")
        self.assertEqual(len(self.receive(url, VisibilityTimeout=2)), 1)
        msgs, took = self.timed_receive(url, WaitTimeSeconds=8)
        self.assertEqual([m["Body"] for m in msgs], ["again"])
        self.assertLess(took, 4.5)

    def test_batch_send_wakes_waiter(self):
        url = self.make_queue("lpbatch")

        def run():
            time.sleep(1.0)
            self.sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)}
                                                               for i in range(3)])
        t = threading.Thread(target=run, daemon=True)
        t.start()
        msgs, took = self.timed_receive(url, WaitTimeSeconds=10, MaxNumberOfMessages=10)
        t.join(5)
        self.assertGreaterEqual(len(msgs), 1)
        self.assertLess(took, 3.0)

    def test_fifo_waiter_wakes_when_group_unblocks(self):
        url = self.make_queue("lpfifo", fifo=True, attributes={"ContentBasedDeduplication": "true"})
        self.sqs.send_message(QueueUrl=url, MessageBody="first", MessageGroupId="g")
        self.sqs.send_message(QueueUrl=url, MessageBody="second", MessageGroupId="g")
        first = self.receive(url)[0]

        def delete_later():
            time.sleep(1.0)
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
        t = threading.Thread(target=delete_later, daemon=True)
        t.start()
        msgs, took = self.timed_receive(url, WaitTimeSeconds=10)
        t.join(5)
        self.assertEqual([m["Body"] for m in msgs], ["second"])
        self.assertLess(took, 3.0, "a waiter must wake when the group's in-flight message is deleted")

    def test_other_queue_does_not_wake(self):
        a = self.make_queue("lpa")
        b = self.make_queue("lpb")
        t = self.send_later(b, 0.5, "for b")
        msgs, took = self.timed_receive(a, WaitTimeSeconds=2)
        t.join(5)
        self.assertEqual(msgs, [])
        self.assertGreaterEqual(took, 1.8)
        self.assertEqual(len(self.receive(b)), 1)

    def test_waiters_do_not_block_other_requests(self):
        url = self.make_queue("lpblock")
        n = 50
        results, errors, stuck = [None], [None], [0]

        def waiters():
            results[0], errors[0], stuck[0] = h.run_threads(
                [lambda: self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=4) for _ in range(n)], timeout=15)

        t = threading.Thread(target=waiters, daemon=True)
        t.start()
        time.sleep(1.0)
        t0 = time.monotonic()
        self.sqs.list_queues(QueueNamePrefix="lpblock")
        other = self.make_queue("lpother")
        self.sqs.send_message(QueueUrl=other, MessageBody="x")
        self.assertEqual(len(self.receive(other)), 1)
        took = time.monotonic() - t0
        self.assertLess(took, 2.0, "requests were held up by %d waiting receives (%.2fs)" % (n, took))
        t.join(20)
        self.assertEqual(stuck[0], 0)
        self.assertEqual([e for e in errors[0] if e], [])

    def test_many_concurrent_waiters_all_served(self):
        url = self.make_queue("lpmany")
        n = 200
        sqs = self.server.client(pool=n + 10)
        started = threading.Barrier(n + 1, timeout=20)

        def waiter():
            started.wait()
            return sqs.receive_message(QueueUrl=url, WaitTimeSeconds=15, MaxNumberOfMessages=1).get("Messages", [])

        holder = {}

        def run_all():
            holder["r"] = h.run_threads([waiter for _ in range(n)], timeout=40)

        runner = threading.Thread(target=run_all, daemon=True)
        runner.start()
        started.wait()
        time.sleep(1.5)  # let all receives reach the server and park
        sent = set()
        t0 = time.monotonic()
        for i in range(0, n, 10):
            r = self.sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": "m%d" % (i + j)}
                                                                   for j in range(10)])
            sent.update(e["MessageId"] for e in r["Successful"])
        runner.join(45)
        took = time.monotonic() - t0
        self.assertIn("r", holder, "waiter threads did not finish")
        results, errors, stuck = holder["r"]
        self.assertEqual(stuck, 0, "%d receives never returned" % stuck)
        errs = [repr(e) for e in errors if e]
        self.assertEqual(errs, [], "%d receives failed, e.g. %s" % (len(errs), errs[:3]))
        got = [m["MessageId"] for msgs in results for m in (msgs or [])]
        self.assertEqual(len(got), len(set(got)), "a message was delivered to two waiters")
        self.assertEqual(len(got), n, "only %d of %d waiting receives got a message" % (len(got), n))
        self.assertEqual(set(got), sent)
        self.assertLess(took, 12.0, "serving %d waiters took %.1fs" % (n, took))

    def test_waiters_served_in_turn(self):
        """Messages sent one at a time go to distinct waiters, and no waiter
        is starved while others are served repeatedly."""
        url = self.make_queue("lpfair")
        n = 5
        sqs = self.server.client(pool=20)
        barrier = threading.Barrier(n + 1, timeout=10)

        def waiter():
            barrier.wait()
            return sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10, MaxNumberOfMessages=1).get("Messages", [])

        holder = {}
        runner = threading.Thread(target=lambda: holder.setdefault("r", h.run_threads([waiter] * n, timeout=20)),
                                  daemon=True)
        runner.start()
        barrier.wait()
        time.sleep(1.0)
        for i in range(n):
            self.sqs.send_message(QueueUrl=url, MessageBody="f%d" % i)
            time.sleep(0.2)
        runner.join(25)
        results, errors, stuck = holder["r"]
        self.assertEqual(stuck, 0)
        self.assertEqual([e for e in errors if e], [])
        counts = sorted(len(r or []) for r in results)
        self.assertEqual(counts, [1] * n, "each waiter should get exactly one message: %r" % counts)

    def test_aborted_long_polls_leave_server_healthy(self):
        url = self.make_queue("lpabort")
        name = url.rsplit("/", 1)[1]
        socks = []
        for _ in range(30):
            socks.append(self.parked_receive('{"QueueUrl": "%s", "WaitTimeSeconds": 20}' % url))
        time.sleep(0.5)
        for s in socks:
            s.close()
        time.sleep(0.5)
        self.assertTrue(self.server.alive(), "server died after clients dropped long polls")
        r = h.raw_request(self.server, "GET", "/_/health", sign=False, timeout=5)
        self.assertEqual(r.status, 200)
        self.sqs.send_message(QueueUrl=url, MessageBody="after abort")
        msgs, took = self.timed_receive(url, WaitTimeSeconds=5, VisibilityTimeout=0)
        self.assertLess(took, 5.5)
        self.assertTrue(self.server.alive())
        self.assertEqual(self.sqs.get_queue_url(QueueName=name)["QueueUrl"], url)

    def test_message_is_not_handed_to_a_hung_up_long_poll(self):
        # Consumers that hung up while parked must not take the next message:
        # it would stay in flight for its whole visibility timeout (60 s here).
        url = self.make_queue("lpgone")
        socks = []
        for _ in range(5):
            socks.append(self.parked_receive(
                '{"QueueUrl": "%s", "WaitTimeSeconds": 20, "VisibilityTimeout": 60}' % url))
        time.sleep(0.5)  # parked
        for s in socks:
            s.close()
        time.sleep(0.3)
        self.sqs.send_message(QueueUrl=url, MessageBody="for a live consumer")
        msgs, took = self.timed_receive(url, WaitTimeSeconds=5)
        self.assertEqual([m["Body"] for m in msgs], ["for a live consumer"])
        self.assertLess(took, 5.5)


if __name__ == "__main__":
    unittest.main()
