"""MessageRetentionPeriod: messages older than the retention period are
deleted, visible or in flight.  60 s is the smallest period SQS allows, so
this module waits about a minute (all its queues share the one wait)."""

import time
import unittest

import harness as h
from harness import SqsTestCase

SERVER = None


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


class RetentionTest(SqsTestCase):

    def test_messages_expire_after_retention_period(self):
        std = self.make_queue("ret", attributes={"MessageRetentionPeriod": "60"})
        fifo = self.make_queue("retf", fifo=True, attributes={"MessageRetentionPeriod": "60",
                                                              "ContentBasedDeduplication": "true"})
        keep = self.make_queue("retkeep", attributes={"MessageRetentionPeriod": "120"})
        t0 = time.monotonic()
        for url in (std, keep):
            self.sqs.send_message(QueueUrl=url, MessageBody="visible")
            self.sqs.send_message(QueueUrl=url, MessageBody="in flight")
        self.sqs.send_message(QueueUrl=fifo, MessageBody="f1", MessageGroupId="g")
        self.sqs.send_message(QueueUrl=fifo, MessageBody="f2", MessageGroupId="g")
        self.assertEqual(len(self.receive(std, MaxNumberOfMessages=1, VisibilityTimeout=600)), 1)
        self.assertEqual(len(self.receive(fifo, MaxNumberOfMessages=1, VisibilityTimeout=600)), 1)
        self.assertEqual(self.attrs(std)["ApproximateNumberOfMessages"], "1")

        time.sleep(max(0.0, 61.0 - (time.monotonic() - t0)))

        for url in (std, fifo):
            with self.subTest(queue=url.rsplit("/", 1)[1]):
                self.assertEqual(self.receive(url, MaxNumberOfMessages=10, WaitTimeSeconds=1), [])
                # allow a few seconds for a periodic sweeper
                deadline = time.monotonic() + 5
                while True:
                    a = self.attrs(url)
                    counts = (a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"],
                              a["ApproximateNumberOfMessagesDelayed"])
                    if counts == ("0", "0", "0") or time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
                self.assertEqual(counts, ("0", "0", "0"), "visible, in-flight and delayed messages all expire")
        # a queue with a longer period still has its messages
        self.assertEqual(self.attrs(keep)["ApproximateNumberOfMessages"], "2")


if __name__ == "__main__":
    unittest.main()
