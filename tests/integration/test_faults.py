"""Failed commits (the store's test-only TWEEDLE_TEST_FAULTS hook fails the
next batch): the client hears the protocol's 5xx error, nothing the failed
batch held shows afterwards — in memory or after a restart — nothing is half
applied (an object without its event, a job without its message), and the
server keeps serving.

A background batch (the queue engine's housekeeping, the access log) may take
the injected failure instead of the request under test: each case tries a few
times until its own request was the one refused."""

import json
import time

from botocore.exceptions import ClientError

import gateway_harness as g
import harness as h
import s3_harness as s

TRIES = 5


class FailedCommitTest(h.FaultServerTestCase):

    def setUp(self):
        super().setUp()
        self.sqs = self.server.client(read_timeout=20)
        # let the engines' first housekeeping commits pass
        time.sleep(1.5)

    def refused(self, fn):
        """Runs fn with the next commit failing until fn itself is refused
        (5xx); returns the error."""
        for _ in range(TRIES):
            self.fail_commits(1)
            try:
                fn()
            except ClientError as e:
                status = e.response["ResponseMetadata"]["HTTPStatusCode"]
                self.assertGreaterEqual(status, 500, e.response)
                self.assertIn(e.response["Error"]["Code"], ("ServiceUnavailable", "InternalError"))
                return e
            time.sleep(0.2)  # a background batch took the failure: again
        self.fail("the request was never the one whose commit failed in %d tries" % TRIES)

    def visible(self, url):
        a = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])

    def bodies(self, url, n_expected, timeout=5):
        got = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                         VisibilityTimeout=30)
            got += [m["Body"] for m in r.get("Messages", [])]
            if len(got) >= n_expected:
                break
        return sorted(got)

    def test_failed_send_is_not_received(self):
        url = self.sqs.create_queue(QueueName=h.unique("fs"))["QueueUrl"]
        self.sqs.send_message(QueueUrl=url, MessageBody="kept")
        n = [0]

        def send():
            n[0] += 1
            self.sqs.send_message(QueueUrl=url, MessageBody="lost-%d" % n[0])
        self.refused(send)
        # the sends that got through before the refused one are kept
        expect = ["kept"] + ["lost-%d" % i for i in range(1, n[0])]
        self.assertEqual(self.visible(url), (len(expect), 0))
        self.assertEqual(self.bodies(url, len(expect)), sorted(expect))
        # and the server goes on
        self.sqs.send_message(QueueUrl=url, MessageBody="after")
        self.server.restart(kill=True)
        self.sqs = self.server.client(read_timeout=20)
        self.assertEqual(self.visible(url)[0] + self.visible(url)[1], len(expect) + 1)

    def test_failed_delete_keeps_the_message(self):
        url = self.sqs.create_queue(QueueName=h.unique("fd"))["QueueUrl"]
        for i in range(TRIES):
            self.sqs.send_message(QueueUrl=url, MessageBody="stay-%d" % i)
            m = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, VisibilityTimeout=1)["Messages"][0]
            self.fail_commits(1)
            try:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            except ClientError as e:
                self.assertEqual(e.response["Error"]["Code"], "ServiceUnavailable")
                break
            time.sleep(0.2)
        else:
            self.fail("the delete was never the one whose commit failed")
        # the refused delete left the message: it comes back, in memory and after a restart
        self.assertEqual(self.bodies(url, 1), ["stay-%d" % i])
        self.server.restart(kill=True)
        self.sqs = self.server.client(read_timeout=20)
        self.assertEqual(sum(self.visible(url)), 1)

    def test_answer_that_saw_a_failing_change_fails_too(self):
        # the same DeleteMessage twice while the first one's batch is slow and
        # then fails: the second found the message gone (the first's change in
        # memory) and must not report success
        import threading
        url = self.sqs.create_queue(QueueName=h.unique("fs2"))["QueueUrl"]
        self.sqs.send_message(QueueUrl=url, MessageBody="survivor")
        m = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, VisibilityTimeout=2)["Messages"][0]
        other = self.server.client(read_timeout=20)
        self.fault("commit-delay-ms", 1000)
        self.fail_commits(1)
        first = []
        t = threading.Thread(target=lambda: first.append(self._delete(other, url, m)), daemon=True)
        t.start()
        time.sleep(0.3)
        second = self._delete(self.sqs, url, m)
        t.join(20)
        self.fault("commit-delay-ms", None)
        self.assertEqual((first, second), (["ServiceUnavailable"], "ServiceUnavailable"))
        self.assertEqual(self.bodies(url, 1), ["survivor"])

    @staticmethod
    def _delete(c, url, m):
        try:
            c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            return "ok"
        except ClientError as e:
            return e.response["Error"]["Code"]

    def test_failed_fifo_send_can_be_retried(self):
        url = self.sqs.create_queue(QueueName=h.unique("ff") + ".fifo",
                                    Attributes={"FifoQueue": "true"})["QueueUrl"]
        ids = []

        def send():
            ids.append(h.unique("d"))
            self.sqs.send_message(QueueUrl=url, MessageBody="once", MessageGroupId="g",
                                  MessageDeduplicationId=ids[-1])
        self.refused(send)
        # the refused send left no deduplication entry: the retry is enqueued, durably
        self.sqs.send_message(QueueUrl=url, MessageBody="once", MessageGroupId="g",
                              MessageDeduplicationId=ids[-1])
        self.server.restart(kill=True)
        self.sqs = self.server.client(read_timeout=20)
        self.assertEqual(sum(self.visible(url)), len(ids))

    def test_failed_put_has_no_event(self):
        c3 = s.s3_client(self.server)
        b = s.unique_bucket("fev")
        c3.create_bucket(Bucket=b)
        url = self.sqs.create_queue(QueueName=h.unique("ev"))["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        c3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
        # the configuration's test event
        self.bodies(url, 1)
        keys = []

        def put():
            keys.append("k%d" % len(keys))
            c3.put_object(Bucket=b, Key=keys[-1], Body=b"x")
        self.refused(put)
        failed = keys[-1]
        with self.assertRaises(ClientError):
            c3.head_object(Bucket=b, Key=failed)
        time.sleep(0.5)
        events = []
        for body in self.bodies(url, len(keys) - 1, timeout=3):
            for rec in json.loads(body).get("Records", []):
                events.append(rec["s3"]["object"]["key"])
        self.assertNotIn(failed, events, "an event for an object whose commit failed")
        self.assertEqual(sorted(events), sorted(keys[:-1]))
        c3.put_object(Bucket=b, Key="after", Body=b"y")
        self.assertEqual(c3.get_object(Bucket=b, Key="after")["Body"].read(), b"y")


class FailedJobCommitTest(h.FaultServerTestCase):

    def test_failed_submit_leaves_no_job_and_no_message(self):
        time.sleep(1.5)
        key = g.create_key(self.server, "jobs", [{"actions": ["jobs:submit", "jobs:read"]}])["key"]
        sqs = self.server.client(read_timeout=20)
        url = sqs.get_queue_url(QueueName="tweedle-jobs")["QueueUrl"]
        accepted = []
        for _ in range(TRIES):
            self.fail_commits(1)
            r = g.bearer(self.server, "POST", "/jobs", key, {"type": "t", "payload": {"n": len(accepted)}})
            if r.status == 202:
                accepted.append(r.json()["id"])
                time.sleep(0.2)
                continue
            self.assertEqual(r.status, 500, r)
            self.assertEqual(r.json()["error"]["code"], "InternalError")
            break
        else:
            self.fail("the submit was never the one whose commit failed")
        listed = g.bearer(self.server, "GET", "/jobs", key).json()["jobs"]
        self.assertEqual(sorted(j["id"] for j in listed), sorted(accepted))
        msgs = []
        deadline = time.monotonic() + 5
        while len(msgs) < len(accepted) and time.monotonic() < deadline:
            msgs += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        time.sleep(0.3)
        msgs += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        self.assertEqual(sorted(json.loads(m["Body"])["id"] for m in msgs), sorted(accepted),
                         "a job message without its job (or the reverse)")
        r = g.bearer(self.server, "POST", "/jobs", key, {"type": "t", "payload": {}})
        self.assertEqual(r.status, 202, r)


def blob_files(data_dir):
    """Body files under DATA/blobs (not the temp directory)."""
    import os
    out = []
    root = os.path.join(data_dir, "blobs")
    for d in os.listdir(root):
        if d == "tmp" or not os.path.isdir(os.path.join(root, d)):
            continue
        out += os.listdir(os.path.join(root, d))
    return out


class FailedDiskWriteTest(h.FaultServerTestCase):
    """A body write or the file-system sync before a commit fails: the upload
    is refused with InternalError, no object, no body file and no temp file
    remains, and the next upload works."""

    def setUp(self):
        super().setUp()
        self.c = s.s3_client(self.server)
        self.b = s.unique_bucket("disk")
        self.c.create_bucket(Bucket=self.b)
        time.sleep(1.5)

    def assertNothingLeft(self, key):
        import os
        with self.assertRaises(ClientError):
            self.c.head_object(Bucket=self.b, Key=key)
        self.assertEqual(os.listdir(os.path.join(self.server.data_dir, "blobs", "tmp")), [])
        self.assertEqual(blob_files(self.server.data_dir), [])

    def put_refused(self, fault, key):
        self.fault(fault, 1)
        with self.assertRaises(ClientError) as cm:
            self.c.put_object(Bucket=self.b, Key=key, Body=b"z" * (1 << 20))
        self.assertEqual(cm.exception.response["Error"]["Code"], "InternalError", cm.exception.response)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 500)

    def test_failed_body_write(self):
        self.put_refused("fail-blob-writes", "w")
        self.assertNothingLeft("w")
        self.c.put_object(Bucket=self.b, Key="ok", Body=b"fine")
        self.assertEqual(self.c.get_object(Bucket=self.b, Key="ok")["Body"].read(), b"fine")

    def test_failed_syncfs(self):
        self.put_refused("fail-syncfs", "f")
        self.assertNothingLeft("f")
        self.c.put_object(Bucket=self.b, Key="ok", Body=b"fine")
        self.assertEqual(self.c.get_object(Bucket=self.b, Key="ok")["Body"].read(), b"fine")


class HeaderLimitTest(h.FaultServerTestCase):

    def test_too_many_headers_refused_in_the_services_protocol(self):
        import socket
        extra = "".join("X-H%d: v\r\n" % i for i in range(170))
        for target, expect in ((None, b"<Code>RequestHeaderSectionTooLarge</Code>"),
                               ("AmazonSQS.ListQueues", b"RequestHeaderSectionTooLarge")):
            sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
            try:
                head = "GET /some-bucket HTTP/1.1\r\nHost: x\r\n" if not target else \
                    "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: %s\r\nContent-Length: 0\r\n" % target
                sock.sendall((head + extra + "\r\n").encode())
                data = b""
                while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < 20:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            finally:
                sock.close()
            self.assertTrue(data.startswith(b"HTTP/1.1 400"), data[:200])
            self.assertIn(expect, data)
        self.assertEqual(h.raw_request(self.server, "GET", "/_/health", sign=False).status, 200)


class FailedKeyCommitTest(h.FaultServerTestCase):
    """API keys live in memory too: a create or revoke whose commit failed is
    taken back, so memory and the store agree again."""

    def setUp(self):
        super().setUp()
        time.sleep(1.5)

    def names(self):
        return sorted(k["name"] for k in g.admin(self.server, "GET", "/apikeys").json()["keys"])

    def test_failed_create_and_revoke_are_taken_back(self):
        live = g.create_key(self.server, "live", [{"actions": ["jobs:read"]}])
        made = []
        for i in range(TRIES):
            self.fail_commits(1)
            r = g.admin(self.server, "POST", "/apikeys", {"name": "ghost-%d" % i, "scopes": [{"actions": ["jobs:read"]}]})
            if r.status == 500:
                break
            self.assertEqual(r.status, 201, r)
            made.append("ghost-%d" % i)
            time.sleep(0.2)
        else:
            self.fail("the create was never the one whose commit failed")
        want = sorted(["live"] + made)
        self.assertEqual(g.wait_for(lambda: self.names() == want, 3), True, self.names())
        for _ in range(TRIES):
            self.fail_commits(1)
            r = g.admin(self.server, "DELETE", "/apikeys/" + live["id"])
            if r.status == 500:
                break
            self.fail("a background batch took the failure; the key is revoked now")
        # the revocation did not commit: the key works again
        ok = g.wait_for(lambda: g.bearer(self.server, "GET", "/jobs/none", live["key"]).status != 401, 3)
        self.assertTrue(ok, "a key whose revocation failed stays revoked in memory")
        self.server.restart(kill=True)
        self.assertEqual(self.names(), want)
