"""Trace propagation: an SQS message sent with X-Amzn-Trace-Id or W3C
traceparent carries the caller's trace as the AWSTraceHeader system
attribute (unless the sender gave one: SQS's rule is that the system
attribute overrides the header), and `tweedle worker` hands it to an --exec
handler as _X_AMZN_TRACE_ID, as Lambda does.

traceparent maps to X-Ray as the OpenTelemetry X-Ray propagator maps it:
00-<trace id 32 hex>-<parent 16 hex>-<flags> ->
Root=1-<trace id[:8]>-<trace id[8:]>;Parent=<parent>;Sampled=<flags & 1>.

The trace follows a message through tweedle the way X-Ray follows it through
AWS: an S3 event notification (to a queue, through an SNS topic, through
EventBridge), an SNS delivery to a queue (enveloped and raw), an EventBridge
delivery (the request's trace, or the entry's TraceHeader), and a job message
(POST /jobs) carry the caller's trace as AWSTraceHeader. ReceiveMessage
returns it when AttributeNames or MessageSystemAttributeNames ask for it (or
All); the worker hands it to --exec handlers as _X_AMZN_TRACE_ID, to
--exec-persistent ones in each record's attributes (Lambda's SQS event), and
writes it in its log lines about a batch.
"""

import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

import boto3
from botocore.config import Config

import harness as h
import s3_harness as s3h

XRAY = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACEPARENT_XRAY = "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1"


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


class TestTracing(h.SqsTestCase):
    def client_with(self, headers):
        c = self.server.client()

        def add(request, **kw):
            for k, v in headers.items():
                request.headers[k] = v

        c.meta.events.register("before-sign.sqs.*", add)
        return c

    def received_trace(self, url):
        kw = {"QueueUrl": url, "WaitTimeSeconds": 1, "AttributeNames": ["AWSTraceHeader"]}
        msgs = self.sqs.receive_message(**kw).get("Messages", [])
        self.assertEqual(len(msgs), 1)
        return msgs[0].get("Attributes", {}).get("AWSTraceHeader")

    def test_x_amzn_trace_id(self):
        url = self.make_queue("tr")
        r = self.client_with({"X-Amzn-Trace-Id": XRAY}).send_message(QueueUrl=url, MessageBody="a")
        self.assertNotIn("MD5OfMessageSystemAttributes", r)  # the sender gave none
        self.assertEqual(self.received_trace(url), XRAY)

    def test_traceparent(self):
        url = self.make_queue("tr")
        self.client_with({"traceparent": TRACEPARENT}).send_message(QueueUrl=url, MessageBody="a")
        self.assertEqual(self.received_trace(url), TRACEPARENT_XRAY)

    def test_batch_and_invalid(self):
        url = self.make_queue("tr")
        c = self.client_with({"traceparent": "00-zz-bad"})
        c.send_message(QueueUrl=url, MessageBody="a")
        self.assertIsNone(self.received_trace(url))
        url2 = self.make_queue("tr")
        self.client_with({"X-Amzn-Trace-Id": XRAY}).send_message_batch(
            QueueUrl=url2, Entries=[{"Id": "1", "MessageBody": "x"}])
        self.assertEqual(self.received_trace(url2), XRAY)

    def test_message_system_attribute_wins(self):
        url = self.make_queue("tr")
        mine = "Root=1-00000001-000000000000000000000001;Parent=0000000000000001;Sampled=0"
        try:
            self.client_with({"X-Amzn-Trace-Id": XRAY}).send_message(
                QueueUrl=url, MessageBody="a",
                MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String", "StringValue": mine}})
        except Exception as e:  # old botocore without MessageSystemAttributes
            if "MessageSystemAttributes" in str(e):
                self.skipTest("this botocore lacks MessageSystemAttributes")
            raise
        self.assertEqual(self.received_trace(url), mine)

    def test_worker_gives_the_handler_the_trace(self):
        url = self.make_queue("trw")
        out = tempfile.mktemp(prefix="tweedle-trace-")
        cmd = "sh -c 'cat >/dev/null; printf %%s \"$_X_AMZN_TRACE_ID\" > %s'" % out
        env = dict(os.environ, AWS_ACCESS_KEY_ID=h.ACCESS_KEY, AWS_SECRET_ACCESS_KEY=h.SECRET_KEY,
                   AWS_REGION=h.REGION)
        env.pop("_X_AMZN_TRACE_ID", None)
        p = subprocess.Popen([h.binary(), "worker", "--queue", url, "--endpoint", self.server.endpoint,
                              "--poll-wait", "1", "--exec", cmd], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.client_with({"X-Amzn-Trace-Id": XRAY}).send_message(QueueUrl=url, MessageBody="a")
            deadline = time.time() + 15
            while time.time() < deadline and not (os.path.exists(out) and os.path.getsize(out)):
                time.sleep(0.1)
            with open(out) as f:
                self.assertEqual(f.read(), XRAY)
        finally:
            p.terminate()
            p.wait(20)
            if os.path.exists(out):
                os.unlink(out)


def with_headers(c, headers):
    """c with headers added to every request it sends (before signing)."""
    def add(request, **kw):
        for k, v in headers.items():
            request.headers[k] = v
    c.meta.events.register("before-sign.*.*", add)
    return c


class TestPropagation(h.SqsTestCase):
    """Every way tweedle itself puts a message on a queue keeps the trace."""

    def setUp(self):
        super().setUp()
        self.s3 = s3h.s3_client(self.server)
        self.sns = self.aws("sns")
        self.events = self.aws("events")

    def aws(self, service, headers=None):
        session = boto3.session.Session(aws_access_key_id=h.ACCESS_KEY,
                                        aws_secret_access_key=h.SECRET_KEY, region_name=h.REGION)
        c = session.client(service, endpoint_url=self.server.endpoint,
                           config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
        return with_headers(c, headers) if headers else c

    def queue(self, prefix):
        url = self.make_queue(prefix)
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        return url, arn

    def traces(self, url, n, names=("AWSTraceHeader",), timeout=10):
        """The AWSTraceHeader of the next n messages (None when absent), with their bodies."""
        got = []
        deadline = time.time() + timeout
        while len(got) < n and time.time() < deadline:
            r = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10,
                                         AttributeNames=list(names))
            for m in r.get("Messages", []):
                got.append((m.get("Attributes", {}).get("AWSTraceHeader"), m["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.assertEqual(len(got), n, got)
        return got

    def test_s3_notification_to_queue(self):
        url, arn = self.queue("trs3")
        b = s3h.unique_bucket("trs3")
        self.s3.create_bucket(Bucket=b)
        self.s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*",
                                                                  "s3:ObjectRemoved:*",
                                                                  "s3:ObjectTagging:*"]}]})
        self.traces(url, 1)  # the s3:TestEvent
        s3 = with_headers(s3h.s3_client(self.server), {"X-Amzn-Trace-Id": XRAY})
        s3.put_object(Bucket=b, Key="k", Body=b"x")
        s3.put_object_tagging(Bucket=b, Key="k", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
        with_headers(s3h.s3_client(self.server), {"traceparent": TRACEPARENT}).delete_object(
            Bucket=b, Key="k")
        got = self.traces(url, 3)
        events = [json.loads(body)["Records"][0]["eventName"] for _, body in got]
        self.assertEqual(events, ["ObjectCreated:Put", "ObjectTagging:Put", "ObjectRemoved:Delete"])
        self.assertEqual([t for t, _ in got], [XRAY, XRAY, TRACEPARENT_XRAY])
        self.s3.put_object(Bucket=b, Key="untraced", Body=b"x")  # no header, no trace
        self.assertEqual([t for t, _ in self.traces(url, 1)], [None])

    def test_s3_through_sns_and_eventbridge(self):
        url, arn = self.queue("trs3b")
        raw_url, raw_arn = self.queue("trs3r")
        topic = self.sns.create_topic(Name=h.unique("trs3t"))["TopicArn"]
        self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=raw_arn,
                           Attributes={"RawMessageDelivery": "true"})
        eb_url, eb_arn = self.queue("trs3e")
        b = s3h.unique_bucket("trs3b")
        rule = h.unique("trs3")
        self.events.put_rule(Name=rule, EventPattern=json.dumps(
            {"source": ["aws.s3"], "detail": {"bucket": {"name": [b]}}}))
        self.events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": eb_arn}])
        self.s3.create_bucket(Bucket=b)
        self.s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration={
            "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}],
            "EventBridgeConfiguration": {}})
        self.traces(url, 1)
        self.traces(raw_url, 1)
        with_headers(s3h.s3_client(self.server), {"X-Amzn-Trace-Id": XRAY}).put_object(
            Bucket=b, Key="k", Body=b"x")
        (t, body), = self.traces(url, 1)
        self.assertEqual(t, XRAY)
        self.assertEqual(json.loads(json.loads(body)["Message"])["Records"][0]["eventName"],
                         "ObjectCreated:Put")
        self.assertEqual(self.traces(raw_url, 1)[0][0], XRAY)
        (t, body), = self.traces(eb_url, 1)
        self.assertEqual((t, json.loads(body)["detail-type"]), (XRAY, "Object Created"))

    def test_sns_publish_to_queues(self):
        url, arn = self.queue("trsns")
        raw_url, raw_arn = self.queue("trsnsr")
        topic = self.sns.create_topic(Name=h.unique("trsns"))["TopicArn"]
        self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=raw_arn,
                           Attributes={"RawMessageDelivery": "true"})
        sns = self.aws("sns", {"traceparent": TRACEPARENT})
        sns.publish(TopicArn=topic, Message="hello")
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": "1", "Message": "batched"}])
        got = self.traces(url, 2)
        self.assertEqual([t for t, _ in got], [TRACEPARENT_XRAY] * 2)
        self.assertEqual(sorted(json.loads(b)["Message"] for _, b in got), ["batched", "hello"])
        got = self.traces(raw_url, 2, names=("All",))
        self.assertEqual([t for t, _ in got], [TRACEPARENT_XRAY] * 2)
        self.sns.publish(TopicArn=topic, Message="plain")
        self.assertEqual(self.traces(raw_url, 1)[0], (None, "plain"))

    def test_eventbridge_to_queue(self):
        url, arn = self.queue("treb")
        rule = h.unique("treb")
        self.events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["tr.test"]}))
        self.events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn}])
        ev = self.aws("events", {"X-Amzn-Trace-Id": XRAY})
        mine = "Root=1-00000002-000000000000000000000002;Parent=0000000000000002;Sampled=1"
        ev.put_events(Entries=[
            {"Source": "tr.test", "DetailType": "a", "Detail": "{}"},
            {"Source": "tr.test", "DetailType": "b", "Detail": "{}", "TraceHeader": mine}])
        got = {json.loads(b)["detail-type"]: t for t, b in self.traces(url, 2)}
        self.assertEqual(got, {"a": XRAY, "b": mine})

    def test_receive_asks_for_it(self):
        url = self.make_queue("trrecv")
        self.client_with({"X-Amzn-Trace-Id": XRAY}).send_message(QueueUrl=url, MessageBody="a")
        r = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1,
                                     AttributeNames=["SentTimestamp"])
        self.assertNotIn("AWSTraceHeader", r["Messages"][0].get("Attributes", {}))
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=r["Messages"][0][
            "ReceiptHandle"], VisibilityTimeout=0)
        try:
            r = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1,
                                         MessageSystemAttributeNames=["All"])
        except Exception as e:  # noqa: BLE001 - old botocore
            if "MessageSystemAttributeNames" not in str(e):
                raise
            r = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, AttributeNames=["All"])
        self.assertEqual(r["Messages"][0]["Attributes"]["AWSTraceHeader"], XRAY)

    client_with = TestTracing.client_with


class TestJobsAndWorker(h.SqsTestCase):
    def test_job_message_carries_the_trace(self):
        r = h.raw_request(self.server, "POST", "/_/api/v1/apikeys", body=json.dumps(
            {"name": h.unique("trkey"), "scopes": [{"actions": ["jobs:submit"], "bucket": "*",
                                                    "prefix": ""}]}),
            headers={"Content-Type": "application/json"}, service="execute-api")
        self.assertIn(r.status, (200, 201), r.body)
        key = json.loads(r.body)["key"]
        ids = []
        for hdr in ({"X-Amzn-Trace-Id": XRAY}, {"traceparent": TRACEPARENT}, {}):
            conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
            headers = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
            headers.update(hdr)
            conn.request("POST", "/_/api/v1/jobs", body=json.dumps({"type": "trace.test"}),
                         headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            self.assertEqual(resp.status, 202, body)
            ids.append(json.loads(body)["id"])
        url = self.server.queue_url("tweedle-jobs")
        got = {}
        deadline = time.time() + 10
        while len(got) < 3 and time.time() < deadline:
            r = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10,
                                         AttributeNames=["AWSTraceHeader"])
            for m in r.get("Messages", []):
                got[json.loads(m["Body"])["id"]] = m.get("Attributes", {}).get("AWSTraceHeader")
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.assertEqual([got.get(i, "missing") for i in ids], [XRAY, TRACEPARENT_XRAY, None])

    def run_worker(self, url, args):
        env = dict(os.environ, AWS_ACCESS_KEY_ID=h.ACCESS_KEY, AWS_SECRET_ACCESS_KEY=h.SECRET_KEY,
                   AWS_REGION=h.REGION)
        env.pop("_X_AMZN_TRACE_ID", None)
        log = tempfile.NamedTemporaryFile(prefix="tweedle-trace-log-", delete=False)
        p = subprocess.Popen([h.binary(), "worker", "--queue", url, "--endpoint",
                              self.server.endpoint, "--poll-wait", "1"] + args, env=env,
                             stdout=subprocess.DEVNULL, stderr=log)
        return p, log

    def stop_worker(self, p, log):
        p.terminate()
        p.wait(20)
        log.close()
        with open(log.name) as f:
            text = f.read()
        os.unlink(log.name)
        return text

    def test_persistent_handler_gets_it_in_the_record(self):
        url = self.make_queue("trp")
        out = tempfile.mktemp(prefix="tweedle-trace-")
        handler = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
        handler.write(
            "import json, sys\n"
            "for line in sys.stdin:\n"
            "    ev = json.loads(line)\n"
            "    with open(%r, 'a') as f:\n"
            "        for r in ev['Records']:\n"
            "            f.write(r['attributes'].get('AWSTraceHeader', '-') + '\\n')\n"
            "    print('{}', flush=True)\n" % out)
        handler.close()
        p, log = self.run_worker(url, ["--exec-persistent", "%s %s" % (sys.executable,
                                                                       handler.name)])
        try:
            TestTracing.client_with(self, {"X-Amzn-Trace-Id": XRAY}).send_message(
                QueueUrl=url, MessageBody="a")
            deadline = time.time() + 15
            while time.time() < deadline and not (os.path.exists(out) and os.path.getsize(out)):
                time.sleep(0.1)
            with open(out) as f:
                self.assertEqual(f.read(), XRAY + "\n")
        finally:
            self.stop_worker(p, log)
            os.unlink(handler.name)
            if os.path.exists(out):
                os.unlink(out)

    def test_worker_log_lines_carry_it(self):
        url = self.make_queue("trl")
        p, log = self.run_worker(url, ["--exec", "sh -c 'cat >/dev/null; exit 3'"])
        try:
            TestTracing.client_with(self, {"traceparent": TRACEPARENT}).send_message(
                QueueUrl=url, MessageBody="a")
            deadline = time.time() + 15
            text = ""
            while time.time() < deadline and "trace=" not in text:
                time.sleep(0.2)
                with open(log.name) as f:
                    text = f.read()
        finally:
            text = self.stop_worker(p, log)
        lines = [ln for ln in text.splitlines() if "batch of 1 failed" in ln]
        self.assertTrue(lines, text)
        self.assertIn("trace=" + TRACEPARENT_XRAY, lines[0])


if __name__ == "__main__":
    unittest.main()
