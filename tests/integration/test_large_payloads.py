"""Large payloads (system S1): `tweedle send` / `tweedle receive` and the
worker with bodies in the object store, in the format of AWS's SQS Extended
Client libraries, interoperable both ways:

* Java amazon-sqs-java-extended-client-lib writes the pointer body compact,
  ["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":..,
  "s3Key":..}], and the Number attribute ExtendedPayloadSize (the legacy
  SQSLargePayloadSize goes with com.amazon.sqs.javamessaging.MessageS3Pointer);
* the Python amazon-sqs-extended-client writes the same with json.dumps'
  default separators, a uuid4 key, and on receive asks for the attribute,
  requires a 2-element list whose second item is a dict, reads the object
  as UTF-8, drops the attribute and decorates the receipt handle as
  -..s3BucketName..-B-..s3BucketName..--..s3Key..-K-..s3Key..-HANDLE; its
  delete takes bucket and key from between the markers and the original
  handle from after the last -..s3Key..- marker.

The library itself is not installed here (PyPI is not reachable), so its
rules are applied by hand with boto3."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

import harness as h
import s3_harness as s

POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"
LEGACY_CLASS = "com.amazon.sqs.javamessaging.MessageS3Pointer"
BUCKET_MARKER = "-..s3BucketName..-"
KEY_MARKER = "-..s3Key..-"
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
# The RSS test's size: 2 GiB takes ~35 s here on an idle machine (see
# docs/pipelines.md); the suite uses 256 MiB unless told otherwise.
BIG_MB = int(os.environ.get("TWEEDLE_BIG_PAYLOAD_MB", "256"))


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


def cli_env(server):
    env = dict(os.environ)
    for k in ("AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "TWEEDLE_PAYLOAD_BUCKET"):
        env.pop(k, None)
    env.update(AWS_ACCESS_KEY_ID=h.ACCESS_KEY, AWS_SECRET_ACCESS_KEY=h.SECRET_KEY,
               AWS_REGION=h.REGION, AWS_ENDPOINT_URL=server.endpoint)
    return env


def text_payload(n, seed):
    """n bytes of printable text (what the libraries carry: UTF-8 strings)."""
    block = hashlib.sha256(seed.encode()).hexdigest().encode()
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(block + str(i).encode()).hexdigest().encode()
        i += 1
    return bytes(out[:n])


def peak_rss_run(args, env, stdout=None, timeout=120):
    """Runs args, polling /proc/PID/status; returns (returncode, stdout, stderr, VmHWM kB)."""
    p = subprocess.Popen(args, env=env, stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE)
    hwm = 0
    deadline = time.monotonic() + timeout
    while p.poll() is None:
        try:
            with open("/proc/%d/status" % p.pid) as f:
                m = re.search(r"VmHWM:\s+(\d+)", f.read())
                if m:
                    hwm = max(hwm, int(m.group(1)))
        except OSError:
            pass
        if time.monotonic() > deadline:
            p.kill()
            p.wait(5)
            raise AssertionError("%s did not finish within %ds" % (args[:2], timeout))
        time.sleep(0.02)
    out = p.stdout.read() if p.stdout else b""
    err = p.stderr.read()
    p.stdout and p.stdout.close()
    p.stderr.close()
    return p.returncode, out, err, hwm


class PayloadTestCase(h.SqsTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s3 = s.s3_client(cls.server)
        cls.env = cli_env(cls.server)
        cls.tmp = tempfile.mkdtemp(prefix="tw-payloads-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def cli(self, *args, input=None, expect=0, timeout=60):
        r = subprocess.run([h.binary()] + list(args), env=self.env, input=input,
                           capture_output=True, timeout=timeout)
        if expect is not None:
            self.assertEqual(r.returncode, expect, "tweedle %s: %s" % (" ".join(args[:3]), r.stderr.decode()))
        return r

    def send(self, *args, **kw):
        r = self.cli("send", *args, **kw)
        return json.loads(r.stdout) if r.returncode == 0 else r

    def receive_lines(self, *args, **kw):
        r = self.cli("receive", *args, **kw)
        return [json.loads(line) for line in r.stdout.decode().splitlines() if line.strip()]

    def bucket(self):
        b = s.unique_bucket("pl")
        self.s3.create_bucket(Bucket=b)
        return b

    def object_exists(self, bucket, key):
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
            return True
        except s.ClientError as e:
            if e.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                return False
            raise

    def write(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path


class SendTest(PayloadTestCase):

    def test_small_body_goes_inline(self):
        url = self.make_queue("lp")
        out = self.send("--queue", url, "--body", "hello", "--attr", "kind=greeting", "--bucket", "unused")
        self.assertNotIn("Payload", out)
        self.assertEqual(out["Size"], 5)
        m = self.receive(url, MessageAttributeNames=["All"])[0]
        self.assertEqual(m["MessageId"], out["MessageId"])
        self.assertEqual(m["Body"], "hello")
        self.assertEqual(set(m["MessageAttributes"]), {"kind"})

    def test_threshold_counts_body_and_attributes(self):
        # 262144 body bytes alone stay inline; with an attribute the total is above
        url = self.make_queue("lp")
        b = self.bucket()
        body = self.write("exact.txt", text_payload(262144, "exact"))
        out = self.send("--queue", url, "--file", body, "--bucket", b)
        self.assertNotIn("Payload", out)
        out = self.send("--queue", url, "--file", body, "--bucket", b, "--attr", "k=v")
        self.assertIn("Payload", out)
        out = self.send("--queue", url, "--body", "tiny", "--bucket", b, "--always-offload")
        self.assertIn("Payload", out)
        out = self.send("--queue", url, "--body", "x" * 101, "--bucket", b, "--offload-threshold", "100")
        self.assertIn("Payload", out)
        self.assertEqual(len(self.receive_all(url, 4, timeout=5)), 4)

    def test_offloaded_message_in_the_java_library_format(self):
        url = self.make_queue("lp")
        b = self.bucket()
        data = text_payload(300000, "java")
        out = self.send("--queue", url, "--file", self.write("j.txt", data), "--bucket", b,
                        "--attr", "origin=tweedle", "--key-prefix", "in/")
        key = out["Payload"]["Key"]
        self.assertEqual(out["Payload"]["Bucket"], b)
        self.assertRegex(key, "^in/" + UUID_RE + "$")
        self.assertEqual(out["Size"], len(data))
        m = self.receive(url, MessageAttributeNames=["All"])[0]
        self.assertEqual(m["Body"], '["%s",{"s3BucketName":"%s","s3Key":"%s"}]' % (POINTER_CLASS, b, key))
        self.assertEqual(m["MessageAttributes"]["ExtendedPayloadSize"],
                         {"DataType": "Number", "StringValue": str(len(data))})
        self.assertEqual(m["MessageAttributes"]["origin"]["StringValue"], "tweedle")
        self.assertEqual(self.s3.get_object(Bucket=b, Key=key)["Body"].read(), data)

    def test_readable_by_the_python_library_rules(self):
        url = self.make_queue("lp")
        b = self.bucket()
        data = ("caf\u00e9 " * 70000).encode("utf-8")  # multi-byte UTF-8: the size is in bytes
        out = self.send("--queue", url, "--file", self.write("py.txt", data), "--bucket", b)
        # receive_message as the Python extended client does it
        resp = self.sqs.receive_message(QueueUrl=url, MessageAttributeNames=["ExtendedPayloadSize"],
                                        WaitTimeSeconds=1)
        msg = resp["Messages"][0]
        attrs = msg.get("MessageAttributes", {})
        self.assertIn("ExtendedPayloadSize", attrs)
        self.assertEqual(attrs["ExtendedPayloadSize"]["DataType"], "Number")
        self.assertEqual(int(attrs["ExtendedPayloadSize"]["StringValue"]), len(data))
        body = json.loads(msg["Body"])
        self.assertTrue(isinstance(body, list) and len(body) == 2 and isinstance(body[1], dict))
        bucket, key = body[1]["s3BucketName"], body[1]["s3Key"]
        self.assertEqual((bucket, key), (b, out["Payload"]["Key"]))
        text = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        self.assertEqual(text.encode("utf-8"), data)
        handle = BUCKET_MARKER + bucket + BUCKET_MARKER + KEY_MARKER + key + KEY_MARKER + msg["ReceiptHandle"]
        # delete_message as the Python extended client does it (delete_payload_from_s3=True)
        first = handle.find(BUCKET_MARKER)
        got_bucket = handle[first + len(BUCKET_MARKER):handle.find(BUCKET_MARKER, first + len(BUCKET_MARKER))]
        first = handle.find(KEY_MARKER)
        got_key = handle[first + len(KEY_MARKER):handle.find(KEY_MARKER, first + len(KEY_MARKER))]
        r = self.s3.delete_object(Bucket=got_bucket, Key=got_key)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 204)
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=handle.split(KEY_MARKER)[-1])
        self.assertFalse(self.object_exists(b, key))
        self.assertEqual(self.attrs(url, ["ApproximateNumberOfMessagesNotVisible"]),
                         {"ApproximateNumberOfMessagesNotVisible": "0"})

    def test_stdin_and_fifo(self):
        url = self.make_queue("lp", fifo=True)
        b = self.bucket()
        data = text_payload(400000, "stdin")
        out = self.send("--queue", url, "--file", "-", "--bucket", b, "--group-id", "g",
                        "--dedup-id", "d1", input=data)
        self.assertIn("Payload", out)
        got = self.receive_lines("--queue", url, "--delete")
        self.assertEqual(got[0]["Body"].encode(), data)
        self.assertEqual(got[0]["Attributes"]["MessageGroupId"], "g")
        self.assertFalse(self.object_exists(b, out["Payload"]["Key"]))

    def test_send_errors_change_nothing(self):
        url = self.make_queue("lp")
        b = self.bucket()
        big = self.write("big.txt", text_payload(300000, "err"))
        cases = [
            (("--file", big), "name a bucket for payloads"),
            (("--file", big, "--bucket", b, "--attr", "ExtendedPayloadSize=1"),
             "Message attribute name ExtendedPayloadSize is reserved for use by SQS extended client."),
            (("--file", big, "--bucket", b, "--attr", "SQSLargePayloadSize=1"),
             "Message attribute name SQSLargePayloadSize is reserved"),
            (("--file", big, "--bucket", b) + sum((("--attr", "a%d=v" % i) for i in range(10)), ()),
             "Number of message attributes [10] exceeds the maximum allowed for large-payload messages [9]."),
            (("--file", os.path.join(self.tmp, "missing")), "No such file or directory"),
            # S3 refuses before the body (the exact code depends on the client reading
            # an answer sent before it finished writing)
            (("--file", big, "--bucket", "Bad_Bucket!"), "payload upload to s3://Bad_Bucket!/"),
        ]
        for args, msg in cases:
            with self.subTest(msg=msg):
                r = self.cli("send", "--queue", url, *args, expect=1)
                self.assertIn(msg, r.stderr.decode())
        r = self.cli("send", "--queue", url, expect=2)
        self.assertIn("--body or --file", r.stderr.decode())
        r = self.cli("send", "--queue", url + "-nope", "--body", "x", expect=1)
        self.assertIn("QueueDoesNotExist", r.stderr.decode())
        self.assertEqual(self.receive(url), [])
        self.assertEqual(self.s3.list_objects_v2(Bucket=b).get("KeyCount"), 0)

    def test_failed_send_removes_the_uploaded_payload(self):
        # the queue takes at most 1024 bytes; the pointer fits, but a body of
        # attributes pushes it over: the upload happened, the send fails
        url = self.make_queue("lp", attributes={"MaximumMessageSize": "1024"})
        b = self.bucket()
        attrs = sum((("--attr", "a%d=%s" % (i, "v" * 100)) for i in range(9)), ())
        r = self.cli("send", "--queue", url, "--body", "x" * 2000, "--bucket", b, "--always-offload", *attrs,
                     expect=1)
        self.assertIn("Message must be shorter than 1024 bytes", r.stderr.decode())
        self.assertEqual(self.s3.list_objects_v2(Bucket=b).get("KeyCount"), 0)


class ReceiveTest(PayloadTestCase):

    def python_style_message(self, url, bucket, data, legacy=False, extra_attrs=None):
        """What amazon-sqs-extended-client's send_message puts on the queue."""
        key = str(uuid.uuid4())
        self.s3.put_object(Bucket=bucket, Key=key, Body=data)
        attrs = dict(extra_attrs or {})
        name = "SQSLargePayloadSize" if legacy else "ExtendedPayloadSize"
        attrs[name] = {"DataType": "Number", "StringValue": str(len(data))}
        body = json.dumps([LEGACY_CLASS if legacy else POINTER_CLASS, {"s3BucketName": bucket, "s3Key": key}])
        mid = self.sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attrs)["MessageId"]
        return key, mid

    def test_resolves_the_python_library_format(self):
        url = self.make_queue("lp")
        b = self.bucket()
        data = text_payload(500000, "pyfmt")
        extra = {"trace": {"DataType": "String", "StringValue": "abc"}}
        key, mid = self.python_style_message(url, b, data, extra_attrs=extra)
        got = self.receive_lines("--queue", url)
        self.assertEqual(len(got), 1)
        m = got[0]
        self.assertEqual(m["MessageId"], mid)
        self.assertEqual(m["Body"].encode(), data)
        self.assertEqual(m["MD5OfBody"], hashlib.md5(data).hexdigest())
        self.assertEqual(m["MessageAttributes"], extra)  # the size attribute is dropped
        self.assertEqual(m["MD5OfMessageAttributes"], h.md5_of_attributes(extra))
        p = m["Payload"]
        self.assertEqual((p["Bucket"], p["Key"], p["Size"]), (b, key, len(data)))
        self.assertEqual(p["ExtendedReceiptHandle"],
                         BUCKET_MARKER + b + BUCKET_MARKER + KEY_MARKER + key + KEY_MARKER + m["ReceiptHandle"])
        # the raw handle is the queue's own: any SQS client can delete with it
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.assertTrue(self.object_exists(b, key))  # no --delete: the payload stays

    def test_resolves_the_legacy_format(self):
        url = self.make_queue("lp")
        b = self.bucket()
        data = text_payload(1000, "legacy")
        key, _ = self.python_style_message(url, b, data, legacy=True)
        m = self.receive_lines("--queue", url, "--delete")[0]
        self.assertEqual(m["Body"].encode(), data)
        self.assertNotIn("MessageAttributes", m)
        self.assertNotIn("MD5OfMessageAttributes", m)
        self.assertFalse(self.object_exists(b, key))

    def test_delete_and_keep_payloads(self):
        url = self.make_queue("lp")
        b = self.bucket()
        k1, _ = self.python_style_message(url, b, b"one" * 1000)
        k2, _ = self.python_style_message(url, b, b"two" * 1000)
        got = self.receive_lines("--queue", url, "--max", "1", "--delete", "--keep-payloads")
        self.assertEqual(len(got), 1)
        got += self.receive_lines("--queue", url, "--max", "5", "--wait", "1", "--delete")
        self.assertEqual(sorted(m["Body"][:3] for m in got), ["one", "two"])
        kept = got[0]["Payload"]["Key"]
        self.assertTrue(self.object_exists(b, kept))
        self.assertFalse(self.object_exists(b, ({k1, k2} - {kept}).pop()))
        self.assertEqual(self.receive(url), [])

    def test_out_dir_and_inline_messages(self):
        url = self.make_queue("lp")
        b = self.bucket()
        data = text_payload(700000, "outdir")
        key, mid = self.python_style_message(url, b, data)
        self.sqs.send_message(QueueUrl=url, MessageBody="plain \"quoted\"\n")
        out = tempfile.mkdtemp(dir=self.tmp)
        got = self.receive_lines("--queue", url, "--max", "10", "--wait", "1", "--out", out, "--delete")
        self.assertEqual(len(got), 2)
        by = {("Payload" in m): m for m in got}
        self.assertEqual(by[False]["Body"], "plain \"quoted\"\n")
        f = by[True]["BodyFile"]
        self.assertEqual(f, os.path.join(out, mid))
        self.assertNotIn("Body", by[True])
        with open(f, "rb") as fh:
            self.assertEqual(fh.read(), data)
        self.assertFalse(self.object_exists(b, key))

    def test_control_characters_survive_the_streamed_body(self):
        url = self.make_queue("lp")
        b = self.bucket()
        data = ("tab\tnl\ncr\r quote\" back\\ bell\x07 uni\u00e9\u4e2d " * 20000).encode()
        self.python_style_message(url, b, data)
        m = self.receive_lines("--queue", url, "--delete")[0]
        self.assertEqual(m["Body"].encode(), data)

    def test_broken_pointers(self):
        url = self.make_queue("lp")
        b = self.bucket()
        size = {"ExtendedPayloadSize": {"DataType": "Number", "StringValue": "10"}}
        self.sqs.send_message(QueueUrl=url, MessageBody="not a pointer", MessageAttributes=size)
        r = self.cli("receive", "--queue", url, "--delete", expect=1)
        self.assertIn("its body is not an S3 payload pointer", r.stderr.decode())
        url2 = self.make_queue("lp")
        body = json.dumps([POINTER_CLASS, {"s3BucketName": b, "s3Key": "missing"}])
        self.sqs.send_message(QueueUrl=url2, MessageBody=body, MessageAttributes=size)
        r = self.cli("receive", "--queue", url2, "--delete", expect=1)
        self.assertIn("NoSuchKey", r.stderr.decode())
        # a message that could not be resolved is neither printed nor deleted
        self.assertEqual(r.stdout, b"")
        self.assertEqual(self.attrs(url2, ["ApproximateNumberOfMessagesNotVisible"]),
                         {"ApproximateNumberOfMessagesNotVisible": "1"})

    def test_receive_errors(self):
        r = self.cli("receive", "--queue", "nope-" + uuid.uuid4().hex, expect=1)
        self.assertIn("QueueDoesNotExist", r.stderr.decode())
        for args in (("--max", "0"), ("--wait", "21"), ("--out", "/nonexistent/dir")):
            r = self.cli("receive", "--queue", "q", *args, expect=2)
            self.assertTrue(r.stderr)


class BigPayloadTest(PayloadTestCase):
    """A payload of BIG_MB MiB through send and receive with flat memory."""

    LIMIT_KB = 64 * 1024

    def test_big_payload_bounded_rss(self):
        url = self.make_queue("lp")
        b = self.bucket()
        path = os.path.join(self.tmp, "big.bin")
        h256 = hashlib.sha256()
        chunk = text_payload(1 << 20, "big")
        with open(path, "wb") as f:
            for i in range(BIG_MB):
                piece = chunk[:-8] + b"%08d" % i
                f.write(piece)
                h256.update(piece)
        size = BIG_MB << 20
        t0 = time.monotonic()
        rc, out, err, hwm = peak_rss_run([h.binary(), "send", "--queue", url, "--file", path, "--bucket", b],
                                         self.env)
        t_send = time.monotonic() - t0
        self.assertEqual(rc, 0, err)
        sent = json.loads(out)
        self.assertEqual(sent["Size"], size)
        self.assertLess(hwm, self.LIMIT_KB, "send of %d MiB peaked at %d kB" % (BIG_MB, hwm))
        os.unlink(path)
        outdir = tempfile.mkdtemp(dir=self.tmp)
        t0 = time.monotonic()
        rc, out, err, hwm = peak_rss_run([h.binary(), "receive", "--queue", url, "--out", outdir,
                                          "--delete", "--visibility", "300"], self.env)
        t_recv = time.monotonic() - t0
        self.assertEqual(rc, 0, err)
        self.assertLess(hwm, self.LIMIT_KB, "receive of %d MiB peaked at %d kB" % (BIG_MB, hwm))
        m = json.loads(out)
        self.assertEqual(m["Payload"]["Size"], size)
        got = hashlib.sha256()
        with open(m["BodyFile"], "rb") as f:
            for piece in iter(lambda: f.read(1 << 20), b""):
                got.update(piece)
        self.assertEqual(got.hexdigest(), h256.hexdigest())
        self.assertFalse(self.object_exists(b, sent["Payload"]["Key"]))
        print("  [%d MiB: send %.1f s, receive %.1f s]" % (BIG_MB, t_send, t_recv))

    def test_streamed_json_body_bounded_rss(self):
        url = self.make_queue("lp")
        b = self.bucket()
        data = text_payload(64 << 20, "stream")
        path = self.write("s.txt", data)
        self.send("--queue", url, "--file", path, "--bucket", b)
        with open(os.path.join(self.tmp, "s.json"), "wb") as f:
            rc, _, err, hwm = peak_rss_run([h.binary(), "receive", "--queue", url, "--delete"], self.env, stdout=f)
        self.assertEqual(rc, 0, err)
        # held in memory, the 64 MiB body alone would exceed the limit (ASan builds need ~20 MB)
        self.assertLess(hwm, 48 * 1024, "streaming a 64 MiB body peaked at %d kB" % hwm)
        with open(os.path.join(self.tmp, "s.json"), "rb") as f:
            m = json.loads(f.read())
        self.assertEqual(m["Body"].encode(), data)


class WorkerPayloadTest(PayloadTestCase):
    """The worker resolves pointers before the handler sees the record and
    removes the payload object after success."""

    def setUp(self):
        r = subprocess.run([h.binary(), "worker", "--help"], capture_output=True, timeout=10)
        if b"--keep-payloads" not in r.stdout:
            self.skipTest("tweedle worker has no --keep-payloads yet: payload hooks not wired")

    def run_worker(self, url, handler, expect_files, extra=()):
        out = tempfile.mkdtemp(dir=self.tmp)
        env = dict(self.env, OUT=out)
        p = subprocess.Popen([h.binary(), "worker", "--queue", url, "--exec", handler,
                              "--metrics-interval", "0"] + list(extra),
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(os.listdir(out)) < expect_files:
                time.sleep(0.1)
            time.sleep(0.5)  # let the runtime delete what succeeded
        finally:
            p.terminate()
            _, err = p.communicate(timeout=30)
        return out, err.decode()

    def test_handler_sees_payload_and_object_goes(self):
        url = self.make_queue("lp", attributes={"VisibilityTimeout": "30"})
        b = self.bucket()
        data = text_payload(3 << 20, "worker")
        sent = self.send("--queue", url, "--file", self.write("w.txt", data), "--bucket", b,
                         "--attr", "who=me")
        handler = self.write("handler.py", (
            "import hashlib, json, os, sys\n"
            "ev = json.load(sys.stdin)\n"
            "for r in ev['Records']:\n"
            "    body = r['body'].encode()\n"
            "    ok = hashlib.md5(body).hexdigest() == r['md5OfBody']\n"
            "    open(os.path.join(os.environ['OUT'], r['messageId']), 'w').write(json.dumps({\n"
            "        'sha': hashlib.sha256(body).hexdigest(), 'md5ok': ok,\n"
            "        'attrs': sorted(r['messageAttributes'])}))\n").encode())
        out, log = self.run_worker(url, "%s %s" % (sys.executable, handler), 1)
        with open(os.path.join(out, sent["MessageId"])) as f:
            seen = json.load(f)
        self.assertEqual(seen, {"sha": hashlib.sha256(data).hexdigest(), "md5ok": True, "attrs": ["who"]}, log)
        self.assertFalse(self.object_exists(b, sent["Payload"]["Key"]), log)
        self.assertEqual(self.receive(url), [])


if __name__ == "__main__":
    unittest.main()
