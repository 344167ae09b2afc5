"""What bench/soak.sh needs from `tweedle bench`, against a real tweedle:
--rate caps what a run reports (cycle: messages, paced per batch; the other
workloads: requests), and a --queue whose name ends in .fifo is created as a
FIFO queue and cycled with a message group per connection and a deduplication
id per message, so nothing sent is dropped as a duplicate."""

import json
import subprocess
import unittest

import harness as h

SERVER = None


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


class BenchSoakTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = SERVER
        session = h.boto3.session.Session(aws_access_key_id=h.ACCESS_KEY,
                                          aws_secret_access_key=h.SECRET_KEY,
                                          region_name=h.REGION)
        cls.sqs = session.client("sqs", endpoint_url=cls.server.endpoint)

    def bench(self, *args):
        cmd = [h.binary(), "bench", "--endpoint", self.server.endpoint, "--access-key", h.ACCESS_KEY,
               "--secret-key", h.SECRET_KEY, "--region", h.REGION, "--json", *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        lines = p.stdout.strip().splitlines()
        self.assertTrue(lines, "no JSON line; stderr:\n" + p.stderr)
        return p.returncode, json.loads(lines[-1]), p.stderr

    def test_rate_caps_send(self):
        rc, res, err = self.bench("--workload", "send", "--queue", h.unique("rate"), "--connections",
                                  "8", "--duration", "3", "--warmup", "0.5", "--rate", "100")
        self.assertEqual(rc, 0, err)
        self.assertEqual(res["rate"], 100.0)
        # 8 connections would do far more than 100/s on any machine that runs this
        self.assertGreater(res["msgs_per_s"], 60, err)
        self.assertLessEqual(res["msgs_per_s"], 110, err)

    def test_rate_caps_cycle_messages(self):
        rc, res, err = self.bench("--workload", "cycle", "--queue", h.unique("rate"), "--connections",
                                  "8", "--duration", "3", "--warmup", "0.5", "--rate", "300")
        self.assertEqual(rc, 0, err)
        # 30 batches of 10 a second
        self.assertGreater(res["msgs_per_s"], 180, err)
        self.assertLessEqual(res["msgs_per_s"], 340, err)
        self.assertLessEqual(res["ops"]["SendMessageBatch"]["n"], 3 * 30 + 5, err)

    def test_rate_caps_s3put(self):
        rc, res, err = self.bench("--workload", "s3put", "--bucket", h.unique("rate").lower(),
                                  "--objects", "20", "--connections", "8", "--duration", "3",
                                  "--warmup", "0.5", "--rate", "50")
        self.assertEqual(rc, 0, err)
        self.assertEqual(res["rate"], 50.0)
        self.assertGreater(res["objects_per_s"], 30, err)
        self.assertLessEqual(res["objects_per_s"], 55, err)

    def test_no_rate_is_uncapped(self):
        rc, res, err = self.bench("--workload", "send", "--queue", h.unique("norate"), "--connections",
                                  "8", "--duration", "2", "--warmup", "0.5")
        self.assertEqual(rc, 0, err)
        self.assertEqual(res["rate"], 0.0)
        self.assertGreater(res["msgs_per_s"], 110, err)

    def test_negative_rate_refused(self):
        cmd = [h.binary(), "bench", "--endpoint", self.server.endpoint, "--rate", "-1"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_fifo_cycle(self):
        name = h.unique("soak") + ".fifo"
        rc, res, err = self.bench("--workload", "cycle", "--queue", name, "--connections", "4",
                                  "--messages", "200")
        self.assertEqual(rc, 0, err)
        self.assertEqual((res["sent"], res["deleted"], res["errors"], res["entry_errors"]),
                         (200, 200, 0, 0), err)
        url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        self.assertEqual(attrs["FifoQueue"], "true")
        self.assertEqual(attrs["ApproximateNumberOfMessages"], "0")
        self.assertEqual(attrs["ApproximateNumberOfMessagesNotVisible"], "0")
        # a second run in the same second sends new deduplication ids: none dropped
        rc, res, err = self.bench("--workload", "cycle", "--queue", name, "--connections", "4",
                                  "--messages", "100")
        self.assertEqual(rc, 0, err)
        self.assertEqual((res["sent"], res["deleted"]), (100, 100), err)

    def test_fifo_send_keeps_every_message(self):
        name = h.unique("soak") + ".fifo"
        rc, res, err = self.bench("--workload", "send", "--queue", name, "--connections", "2",
                                  "--messages", "50")
        self.assertEqual(rc, 0, err)
        self.assertEqual((res["sent"], res["errors"]), (50, 0), err)
        url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attrs = self.sqs.get_queue_attributes(QueueUrl=url,
                                              AttributeNames=["ApproximateNumberOfMessages"])
        self.assertEqual(attrs["Attributes"]["ApproximateNumberOfMessages"], "50")
        # two connections, two message groups, each in its own order
        groups, seen = {}, 0
        while seen < 50:
            msgs = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                            AttributeNames=["MessageGroupId", "SequenceNumber"]
                                            ).get("Messages", [])
            self.assertTrue(msgs)
            for m in msgs:
                g = m["Attributes"]["MessageGroupId"]
                seq = int(m["Attributes"]["SequenceNumber"])
                self.assertGreater(seq, groups.get(g, -1))
                groups[g] = seq
            self.sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
            seen += len(msgs)
        self.assertEqual(len(groups), 2)

    def test_fifo_only_for_sqs(self):
        cmd = [h.binary(), "bench", "--endpoint", self.server.endpoint, "--workload", "s3put",
               "--queue", "x.fifo", "--access-key", h.ACCESS_KEY, "--secret-key", h.SECRET_KEY]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(".fifo", p.stderr)


if __name__ == "__main__":
    unittest.main()
