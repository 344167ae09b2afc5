"""Trace propagation: an SQS message sent with X-Amzn-Trace-Id or W3C
traceparent carries the caller's trace as the AWSTraceHeader system
attribute (unless the sender gave one: SQS's rule is that the system
attribute overrides the header), and `tweedle worker` hands it to an --exec
handler as _X_AMZN_TRACE_ID, as Lambda does.

traceparent maps to X-Ray as the OpenTelemetry X-Ray propagator maps it:
00-<trace id 32 hex>-<parent 16 hex>-<flags> ->
Root=1-<trace id[:8]>-<trace id[8:]>;Parent=<parent>;Sampled=<flags & 1>.
"""

import os
import subprocess
import sys
import tempfile
import time
import unittest

import harness as h

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


if __name__ == "__main__":
    unittest.main()
