"""The in-flight limit: a standard queue answers OverLimit once the limit of
messages in flight is reached; a FIFO queue just returns nothing more. The limit
(120,000 in AWS) is lowered with TWEEDLE_MAX_INFLIGHT so the test stays small."""
import unittest

from botocore.exceptions import ClientError

import harness as h

LIMIT = 5


class InFlightLimitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = h.Server(env={"TWEEDLE_MAX_INFLIGHT": str(LIMIT)})
        cls.server.start()
        cls.sqs = cls.server.client()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def fill(self, url, fifo=False):
        for i in range(LIMIT + 2):
            kw = {"MessageGroupId": "g%d" % i, "MessageDeduplicationId": "d%d" % i} if fifo else {}
            self.sqs.send_message(QueueUrl=url, MessageBody="m%d" % i, **kw)
        got = 0
        while got < LIMIT:
            got += len(self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=LIMIT - got,
                                                VisibilityTimeout=300).get("Messages", []))

    def test_standard_queue_over_limit(self):
        url = self.sqs.create_queue(QueueName="limit-std")["QueueUrl"]
        self.fill(url)
        with self.assertRaises(ClientError) as cm:
            self.sqs.receive_message(QueueUrl=url, VisibilityTimeout=300)
        self.assertEqual(cm.exception.response["Error"]["Code"], "OverLimit")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        self.assertEqual(attrs["ApproximateNumberOfMessagesNotVisible"], str(LIMIT))
        self.assertEqual(attrs["ApproximateNumberOfMessages"], "2")

    def test_fifo_queue_returns_nothing_more(self):
        url = self.sqs.create_queue(QueueName="limit.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        self.fill(url, fifo=True)
        self.assertEqual(self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []), [])


if __name__ == "__main__":
    unittest.main()
