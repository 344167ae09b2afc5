"""`tweedle bench --workload publish` against a real tweedle: the set-up
(topic, fan-out queues subscribed raw or enveloped), the load, and the
fan-out check it reports ("deliveries checked: X of Y") agree with what the
queues hold when read back with boto3."""

import json
import subprocess
import unittest

import harness as h

SERVER = None


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


def body_of(size):
    """The message bench publishes: --body-size characters of a-z0-9 repeated."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[i % 36] for i in range(size))


class BenchPublishTest(h.SqsTestCase):
    def bench(self, *args):
        cmd = [h.binary(), "bench", "--endpoint", self.server.endpoint, "--workload", "publish",
               "--access-key", h.ACCESS_KEY, "--secret-key", h.SECRET_KEY, "--region", h.REGION,
               "--json", *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        lines = p.stdout.strip().splitlines()
        self.assertTrue(lines, "no JSON line; stderr:\n" + p.stderr)
        return p.returncode, json.loads(lines[-1]), p.stderr

    def queue_urls(self, prefix, n):
        return [self.sqs.get_queue_url(QueueName="%s-%02d" % (prefix, i))["QueueUrl"] for i in range(n)]

    def count(self, url):
        return int(self.attrs(url, ["ApproximateNumberOfMessages"])["ApproximateNumberOfMessages"])

    def run_and_check(self, raw):
        topic, prefix = h.unique("bench-topic"), h.unique("bench-q")
        args = ["--topic", topic, "--queue", prefix, "--fanout", "3", "--messages", "150",
                "--connections", "4", "--body-size", "50"]
        rc, res, err = self.bench(*(args + (["--raw"] if raw else [])))
        self.assertEqual(rc, 0, err)
        self.assertEqual((res["workload"], res["fanout"], res["raw"]), ("publish", 3, raw))
        self.assertEqual(res["sent"], 150)
        self.assertEqual(res["published_total"], 150)
        self.assertEqual(res["errors"], 0)
        self.assertEqual((res["deliveries_expected"], res["deliveries_found"]), (450, 450))
        self.assertTrue(res["deliveries_ok"])
        self.assertIn("deliveries checked: 450 of 450", err)
        urls = self.queue_urls(prefix, 3)
        self.assertEqual([self.count(u) for u in urls], [150, 150, 150])
        msgs = self.receive(urls[1], MaxNumberOfMessages=1)
        self.assertEqual(len(msgs), 1)
        if raw:
            self.assertEqual(msgs[0]["Body"], body_of(50))
        else:
            env = json.loads(msgs[0]["Body"])
            self.assertEqual(env["Type"], "Notification")
            self.assertEqual(env["Message"], body_of(50))
            self.assertTrue(env["TopicArn"].endswith(":" + topic))
            self.assertTrue(env["Signature"])

        # Again on the same topic and queues: PurgeQueue is refused within a
        # minute, so the counts before the run are the baseline; the topic's
        # subscriptions are reused and switched to the other delivery mode.
        rc, res, err = self.bench(*(args + ([] if raw else ["--raw"])))
        self.assertEqual(rc, 0, err)
        self.assertEqual((res["deliveries_expected"], res["deliveries_found"]), (450, 450))
        self.assertIn("not purged", err)
        # the message received above is in flight, so not counted
        self.assertEqual([self.count(u) for u in urls], [300, 299, 300])
        sns = h.boto3.session.Session(
            aws_access_key_id=h.ACCESS_KEY, aws_secret_access_key=h.SECRET_KEY,
            region_name=h.REGION).client("sns", endpoint_url=self.server.endpoint)
        topic_arn = sns.create_topic(Name=topic)["TopicArn"]  # idempotent: the bench's topic
        arns = [s["SubscriptionArn"] for s in sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]]
        self.assertEqual(len(arns), 3)
        for arn in arns:
            got = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["RawMessageDelivery"]
            self.assertEqual(got, "false" if raw else "true")

    def test_publish_raw(self):
        self.run_and_check(raw=True)

    def test_publish_enveloped(self):
        self.run_and_check(raw=False)

    def test_bad_fanout(self):
        p = subprocess.run([h.binary(), "bench", "--endpoint", self.server.endpoint, "--workload", "publish",
                            "--access-key", h.ACCESS_KEY, "--secret-key", h.SECRET_KEY, "--fanout", "0"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("out of range", p.stderr)


if __name__ == "__main__":
    unittest.main()
