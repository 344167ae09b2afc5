"""Disk full: the data directory on a small tmpfs (64 MiB, mounted by the test;
skipped when mount is not allowed, e.g. not root).

* Filling it with S3 PUTs and SQS sends ends in clean AWS errors: S3
  InsufficientStorage (507), SQS ServiceUnavailable (503); never a 200 for
  data that was not kept, never a 500, never a hang or a crash.
* Nothing acknowledged is damaged: every acknowledged object reads back
  byte-identical (SHA-256), every acknowledged message is there, before and
  after a kill -9 and restart on the full disk.
* Once space is freed (objects deleted, a queue purged), writes succeed again
  without a restart.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import harness as h  # noqa: E402
import s3_harness as s3h  # noqa: E402
from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402

SIZE_MB = 64
OBJ = 1 << 20


def status_code(e):
    if isinstance(e, ClientError):
        return (e.response.get("ResponseMetadata", {}).get("HTTPStatusCode"), e.response.get("Error", {}).get("Code"))
    return (None, repr(e))


class DiskFullTest(unittest.TestCase):

    def setUp(self):
        self.mnt = tempfile.mkdtemp(prefix="tweedle-diskfull-")
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % SIZE_MB, "tmpfs", self.mnt],
                           capture_output=True, text=True)
        if p.returncode != 0:
            os.rmdir(self.mnt)
            raise unittest.SkipTest("cannot mount a %d MiB tmpfs for the data directory (needs root): %s"
                                    % (SIZE_MB, p.stderr.strip()))
        self.server = h.Server(data_dir=os.path.join(self.mnt, "data"))
        self.server.log_path = self.mnt.rstrip("/") + ".log"  # off the small file system
        self.server.start()
        self.s3 = s3h.s3_client(self.server, read_timeout=30, connect_timeout=3)
        self.sqs = self.server.client(read_timeout=30, connect_timeout=3)

    def tearDown(self):
        if self.server.alive():
            self.server.kill9()
        subprocess.run(["umount", "-l", self.mnt], capture_output=True)
        shutil.rmtree(self.mnt, ignore_errors=True)
        if os.environ.get("TWEEDLE_KEEP_DATA"):
            sys.stderr.write("[disk-full] kept %s\n" % self.server.log_path)
        else:
            try:
                os.unlink(self.server.log_path)
            except OSError:
                pass

    def df(self):
        st = os.statvfs(self.mnt)
        return st.f_bavail * st.f_frsize

    def reconnect(self):
        self.s3 = s3h.s3_client(self.server, read_timeout=30, connect_timeout=3)
        self.sqs = self.server.client(read_timeout=30, connect_timeout=3)

    # -- filling ---------------------------------------------------------
    def fill_s3(self, bucket, prefix, limit=200):
        """PUTs 1 MiB objects until refused; returns ({key: sha256}, refusal)."""
        acked = {}
        for i in range(limit):
            key = "%s%04d" % (prefix, i)
            body = os.urandom(OBJ)
            try:
                self.s3.put_object(Bucket=bucket, Key=key, Body=body)
            except (ClientError, BotoCoreError) as e:
                self.assertEqual(status_code(e), (507, "InsufficientStorage"),
                                 "a PUT on a full disk must be refused cleanly: %r\n%s" % (e, self.server.log_tail()))
                # the refused object is not there, not even in part
                with self.assertRaises(ClientError) as cm:
                    self.s3.head_object(Bucket=bucket, Key=key)
                self.assertEqual(status_code(cm.exception)[0], 404)
                return acked, e
            acked[key] = hashlib.sha256(body).hexdigest()
        self.fail("%d MiB stored on a %d MiB file system without a refusal" % (limit, SIZE_MB))

    def fill_sqs(self, url, limit=20000, size=20000):
        """Sends batches of 10 until refused; returns (acked bodies, refusal)."""
        acked = set()
        for i in range(limit):
            bodies = ["m%06d-%d %s" % (i, j, "x" * size) for j in range(10)]
            try:
                r = self.sqs.send_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies)])
            except (ClientError, BotoCoreError) as e:
                self.assertEqual(status_code(e), (503, "ServiceUnavailable"),
                                 "a send on a full disk must be refused cleanly: %r\n%s" % (e, self.server.log_tail()))
                return acked, e
            self.assertEqual(r.get("Failed", []), [], r)
            acked.update(bodies[int(x["Id"])].split(" ", 1)[0] for x in r["Successful"])
        self.fail("%d messages stored on a %d MiB file system without a refusal" % (len(acked), SIZE_MB))

    # -- checks ------------------------------------------------------------
    def check_objects(self, bucket, acked):
        for key, digest in acked.items():
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            self.assertEqual(hashlib.sha256(body).hexdigest(), digest, "object %s damaged" % key)

    def count(self, url):
        a = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])

    def eventually(self, fn, what, timeout=10):
        """fn() until it does not raise (writes come back once the freed space is seen)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return fn()
            except (ClientError, BotoCoreError) as e:
                if time.monotonic() > deadline:
                    self.fail("%s still refused %d s after space was freed: %r (%d KiB free)\n%s"
                              % (what, timeout, e, self.df() >> 10, self.server.log_tail()))
                time.sleep(0.2)

    # -- tests ---------------------------------------------------------------
    def test_s3_and_sqs_fill_refuse_cleanly_and_recover(self):
        bucket = "diskfull-%d" % os.getpid()
        self.s3.create_bucket(Bucket=bucket)
        url = self.sqs.create_queue(QueueName="diskfull")["QueueUrl"]
        objects, refusal = self.fill_s3(bucket, "a/")
        self.assertGreater(len(objects), SIZE_MB // 4, "too few objects before the refusal")
        msgs, refusal = self.fill_sqs(url, size=2000)
        # the server still answers reads, lists and receives
        self.assertTrue(self.server.alive())
        self.check_objects(bucket, objects)
        self.assertEqual(self.count(url), len(msgs))
        listed = self.s3.list_objects_v2(Bucket=bucket)["KeyCount"]
        self.assertEqual(listed, len(objects))

        # a crash on the full disk damages nothing
        self.server.kill9()
        self.server.start()
        self.reconnect()
        self.check_objects(bucket, objects)
        self.assertEqual(self.count(url), len(msgs))
        with self.assertRaises(ClientError) as cm:
            self.s3.put_object(Bucket=bucket, Key="still-full", Body=os.urandom(OBJ))
        self.assertEqual(status_code(cm.exception), (507, "InsufficientStorage"))

        # deleting objects frees space: PUTs work again, without a restart
        gone = sorted(objects)[: len(objects) // 2]
        for key in gone:
            self.s3.delete_object(Bucket=bucket, Key=key)
            del objects[key]
        body = os.urandom(OBJ)
        self.eventually(lambda: self.s3.put_object(Bucket=bucket, Key="again", Body=body), "PutObject")
        objects["again"] = hashlib.sha256(body).hexdigest()
        self.sqs.send_message(QueueUrl=url, MessageBody="again")
        # purging the queue frees its pages too; receiving and deleting work
        m = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        self.assertTrue(m)
        for x in m:
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=x["ReceiptHandle"])
        self.sqs.purge_queue(QueueUrl=url)
        self.check_objects(bucket, objects)
        for key in gone:
            with self.assertRaises(ClientError):
                self.s3.head_object(Bucket=bucket, Key=key)
        # and the data survives a graceful restart
        rc, _, killed = self.server.stop()
        self.assertFalse(killed, "no clean exit after SIGTERM")
        self.assertEqual(rc, 0)
        self.server.start()
        self.reconnect()
        self.check_objects(bucket, objects)

    def test_sqs_fill_then_purge_takes_messages_again(self):
        url = self.sqs.create_queue(QueueName="fill")["QueueUrl"]
        msgs, refusal = self.fill_sqs(url)
        self.assertGreater(len(msgs), 500)
        self.assertTrue(self.server.alive())
        # reads still work on the full disk, and so do receives and deletes
        self.assertIn(self.count(url) - len(msgs), range(0, 10))
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        self.assertEqual(len(got), 10)
        for x in got:
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=x["ReceiptHandle"])
        self.server.kill9()
        self.server.start()
        self.reconnect()
        # the refused batch may have left part of its entries (not acknowledged)
        n = self.count(url)
        self.assertTrue(len(msgs) - 10 <= n <= len(msgs), "%d acknowledged messages, 10 deleted, %d after kill -9"
                        % (len(msgs), n))
        self.sqs.purge_queue(QueueUrl=url)
        self.eventually(lambda: self.sqs.send_message(QueueUrl=url, MessageBody="after purge"), "SendMessage")
        # the space is usable again (less than at first: new rows reuse the
        # database's free pages but also grow the WAL until it wraps)
        more, _ = self.fill_sqs(url)
        self.assertGreater(len(more), 100, "only %d messages fit after the purge (%d before)" % (len(more), len(msgs)))
        print("disk full: %d messages of 20 kB before the refusal, %d after the purge" % (len(msgs), len(more)),
              file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
