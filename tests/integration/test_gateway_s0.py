"""System S0 (seeds 000/001) driven through the gateway only: a producer
holding nothing but an API key gets a presigned PUT URL and uploads with curl;
S3 puts the ObjectCreated event (prefix input/) on a queue with a DLQ
(maxReceiveCount 5, retention 14 days, visibility 360 s); the consumer reads
the event, and, holding nothing but its API key, gets a presigned GET URL and
downloads the same bytes with curl. The admin sets the stack up with boto3.
"""

import json
import os
import urllib.parse
import urllib.request

import gateway_harness as g
import harness as h
import s3_harness as s
from gateway_harness import create_key, curl, curl_put


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


def api_post(server, token, path, doc):
    """What a producer/consumer does: plain HTTP, no AWS SDK, no credentials."""
    req = urllib.request.Request(server.endpoint + g.API + path, data=json.dumps(doc).encode(), method="POST",
                                 headers={"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=20) as resp:
        return json.load(resp)


class S0ChainTest(g.GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        srv = cls.server
        cls.s3 = s.s3_client(srv)
        cls.sqs = srv.client()
        cls.bucket = s.unique_bucket("s0")
        cls.s3.create_bucket(Bucket=cls.bucket)
        dlq = cls.sqs.create_queue(QueueName=h.unique("s0-dlq"),
                                   Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
        dlq_arn = cls.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        cls.queue = cls.sqs.create_queue(QueueName=h.unique("s0-content"), Attributes={
            "MessageRetentionPeriod": "1209600", "VisibilityTimeout": "360",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})})["QueueUrl"]
        arn = cls.sqs.get_queue_attributes(QueueUrl=cls.queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        cls.s3.put_bucket_notification_configuration(Bucket=cls.bucket, NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
                                     "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "input/"}]}}}]})
        # drop the s3:TestEvent
        for m in cls.sqs.receive_message(QueueUrl=cls.queue, WaitTimeSeconds=2).get("Messages", []):
            cls.sqs.delete_message(QueueUrl=cls.queue, ReceiptHandle=m["ReceiptHandle"])
        cls.producer = create_key(srv, "producer", [{"actions": ["presign:put"], "bucket": cls.bucket,
                                                     "prefix": "input/", "max_bytes": 10 << 20,
                                                     "max_expires_in": 900}])["key"]
        cls.consumer = create_key(srv, "consumer", [{"actions": ["presign:get"], "bucket": cls.bucket,
                                                     "prefix": "input/"}])["key"]

    def events(self, want, timeout=10):
        got = []
        deadline = h.time.monotonic() + timeout
        while len(got) < want and h.time.monotonic() < deadline:
            for m in self.sqs.receive_message(QueueUrl=self.queue, WaitTimeSeconds=1,
                                              MaxNumberOfMessages=10).get("Messages", []):
                for rec in json.loads(m["Body"]).get("Records", []):
                    got.append(rec)
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])
        return got

    def test_chain(self):
        uploads = {}
        for i in range(5):
            data = os.urandom(1000 + i * 7919)
            p = api_post(self.server, self.producer, "/presign",
                         {"method": "PUT", "content_type": "application/octet-stream",
                          "content_length": len(data), "filename": "doc%d.bin" % i})
            self.assertTrue(p["key"].startswith("input/") and p["key"].endswith(".bin"), p)
            st, body, _ = curl_put(p["url"], data, list(p["headers"].items()))
            self.assertEqual(st, 200, body)
            uploads[p["key"]] = data
        # the producer cannot read, nor write outside input/
        with self.assertRaises(urllib.error.HTTPError) as cm:
            api_post(self.server, self.producer, "/presign", {"method": "GET", "key": "input/x"})
        self.assertEqual(cm.exception.code, 403)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            api_post(self.server, self.producer, "/presign", {"method": "PUT", "key": "other/x",
                                                              "content_length": 1})
        self.assertEqual(cm.exception.code, 403)

        records = self.events(len(uploads))
        self.assertEqual(len(records), len(uploads))
        seen = {}
        for rec in records:
            self.assertEqual(rec["eventSource"], "aws:s3")
            self.assertEqual(rec["eventName"], "ObjectCreated:Put")
            self.assertEqual(rec["s3"]["bucket"]["name"], self.bucket)
            key = urllib.parse.unquote_plus(rec["s3"]["object"]["key"])
            self.assertEqual(rec["s3"]["object"]["size"], len(uploads[key]))
            # the consumer, with its API key only, fetches the object
            p = api_post(self.server, self.consumer, "/presign", {"method": "GET", "key": key})
            st, body, _ = curl([p["url"]])
            self.assertEqual(st, 200)
            seen[key] = body
        self.assertEqual(seen, uploads)  # every object, once, byte for byte
        self.assertEqual(self.events(1, timeout=1.5), [])  # nothing more
