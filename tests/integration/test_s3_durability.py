"""S3 durability: kill -9 during a stream of PUTs/DELETEs, then restart on
the same data directory.

Contract (DESIGN.md): a request is acknowledged only after its effect is on
disk; object bodies go temp file -> fsync -> rename -> fsync dir, then the
metadata row commits; an event notification commits in the same transaction
as its object.  So after a crash:
* every acknowledged PUT reads back with the right MD5 (or a later write of
  the same key that was in flight);
* no object is listed that was never fully written (size and MD5 of every
  listed object match one of the bodies sent for that key);
* every acknowledged DELETE stays deleted (unless re-PUT later);
* every acknowledged PUT on a bucket with a notification rule has its event
  in the queue.
"""

import http.client
import json
import os
import random
import threading
import time
import unittest

from botocore.exceptions import BotoCoreError, ClientError

import harness as h
import s3_harness as s

WRITERS = 6
RUN_SECONDS = 3.0


class CrashTest(h.FreshServerTestCase):

    maxDiff = 4000

    def client(self):
        return s.s3_client(self.server, read_timeout=15, connect_timeout=3, pool=WRITERS * 2)

    def test_kill9_during_puts_loses_no_acknowledged_object(self):
        c = self.client()
        bucket = s.unique_bucket("crash")
        c.create_bucket(Bucket=bucket)

        # Keys are per writer thread, so the operations on one key form a
        # linear history: [kind ("put"/"delete"), md5 or None, acknowledged].
        history = {}
        sizes = {}
        lock = threading.Lock()
        stop = threading.Event()
        killing = threading.Event()
        early_errors = []

        def writer(idx):
            cl = self.client()
            rnd = random.Random(idx)
            n = 0
            while not stop.is_set():
                n += 1
                roll = rnd.random()
                if roll > 0.92 and n > 3:
                    key = "w%d/%05d" % (idx, rnd.randrange(1, n))
                    op = ["delete", None, False]
                    with lock:
                        history.setdefault(key, []).append(op)
                    try:
                        cl.delete_object(Bucket=bucket, Key=key)
                    except (ClientError, BotoCoreError) as e:
                        if not killing.is_set():
                            early_errors.append(repr(e))
                        continue
                    op[2] = True
                    continue
                if roll < 0.15 and n > 3:
                    key = "w%d/%05d" % (idx, rnd.randrange(1, n))  # overwrite an earlier key
                else:
                    key = "w%d/%05d" % (idx, n)
                size = rnd.choice([0, 1, 100, 4096, 65536, 300000, 1500000])
                body = os.urandom(size)
                md5 = s.md5_hex(body)
                op = ["put", md5, False]
                with lock:
                    history.setdefault(key, []).append(op)
                    sizes[md5] = size
                try:
                    r = cl.put_object(Bucket=bucket, Key=key, Body=body)
                except (ClientError, BotoCoreError) as e:
                    if not killing.is_set():
                        early_errors.append(repr(e))
                    continue
                if r.get("ETag") != '"%s"' % md5:
                    early_errors.append("ETag %s for %s, expected %s" % (r.get("ETag"), key, md5))
                op[2] = True

        threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(WRITERS)]
        for t in threads:
            t.start()
        def acked_count():
            with lock:
                return sum(1 for ops in history.values() for op in ops if op[0] == "put" and op[2])

        # At least RUN_SECONDS and 40 acknowledged PUTs (bounded: a loaded machine is slow).
        t0 = time.monotonic()
        while time.monotonic() - t0 < 15 and (time.monotonic() - t0 < RUN_SECONDS or acked_count() < 40):
            time.sleep(0.1)
        killing.set()
        self.server.kill9()
        stop.set()
        for t in threads:
            t.join(20)
        self.assertFalse(any(t.is_alive() for t in threads), "writer threads stuck")
        self.assertEqual(early_errors, [], "errors before the kill")
        acked_puts = sum(1 for ops in history.values() for op in ops if op[0] == "put" and op[2])
        self.assertGreater(acked_puts, 20, "too few acknowledged PUTs to mean anything")

        self.server.start()
        c = self.client()
        self.assertIn(bucket, [b["Name"] for b in c.list_buckets()["Buckets"]], "the bucket is gone after restart")
        listed = {}
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                listed[o["Key"]] = o

        def valid_states(ops):
            last = max([i for i, op in enumerate(ops) if op[2]], default=-1)
            states = set()
            states.add(None if last < 0 else ops[last][1])
            for op in ops[last + 1:]:
                states.add(op[1])
            return states

        problems = []
        for key in sorted(set(history) | set(listed)):
            if key not in history:
                problems.append("listed key never written: %r" % key)
                continue
            valid = valid_states(history[key])
            state = None
            if key in listed:
                state = listed[key]["ETag"].strip('"')
                if state in sizes and listed[key]["Size"] != sizes[state]:
                    problems.append("%r listed with size %d, body was %d" % (key, listed[key]["Size"], sizes[state]))
            if state not in valid:
                problems.append("%r is %s after restart; valid: %s (history %r)"
                                % (key, state or "absent", sorted(v or "absent" for v in valid), history[key]))
                continue
            if state is not None:
                try:
                    body = c.get_object(Bucket=bucket, Key=key)["Body"].read()
                except ClientError as e:
                    problems.append("%r listed but GET fails: %s" % (key, e.response["Error"].get("Code")))
                    continue
                if s.md5_hex(body) != state:
                    problems.append("%r body md5 %s differs from its ETag %s (partial object?)"
                                    % (key, s.md5_hex(body), state))
        self.assertEqual(problems[:20], [], "%d problems after kill -9 (%d acknowledged PUTs, %d listed)"
                         % (len(problems), acked_puts, len(listed)))

    def test_kill9_keeps_acknowledged_notifications(self):
        c = self.client()
        sqs = self.server.client(read_timeout=15, connect_timeout=3)
        bucket = s.unique_bucket("crashevt")
        c.create_bucket(Bucket=bucket)
        qname = h.unique("crashq")
        url = sqs.create_queue(QueueName=qname)["QueueUrl"]
        c.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
            {"Id": "crash", "QueueArn": "arn:aws:sqs:us-east-1:%s:%s" % (s.ACCOUNT, qname),
             "Events": ["s3:ObjectCreated:*"]}]})
        acked = set()
        lock = threading.Lock()
        stop = threading.Event()
        killing = threading.Event()
        early_errors = []

        def writer(idx):
            cl = self.client()
            n = 0
            while not stop.is_set():
                n += 1
                key = "e%d/%05d" % (idx, n)
                try:
                    cl.put_object(Bucket=bucket, Key=key, Body=os.urandom(2000))
                except (ClientError, BotoCoreError) as e:
                    if not killing.is_set():
                        early_errors.append(repr(e))
                    continue
                with lock:
                    acked.add(key)

        def list_acked():
            with lock:
                return list(acked)

        threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(4)]
        for t in threads:
            t.start()
        # At least 2 s and 20 acknowledged PUTs (bounded: a loaded machine is slow).
        t0 = time.monotonic()
        while time.monotonic() - t0 < 15 and (time.monotonic() - t0 < 2.0 or len(list_acked()) < 20):
            time.sleep(0.1)
        killing.set()
        self.server.kill9()
        stop.set()
        for t in threads:
            t.join(20)
        self.assertEqual(early_errors[:5], [], "%d PUTs failed before the kill" % len(early_errors))
        self.assertGreater(len(acked), 10)

        self.server.start()
        sqs = self.server.client(read_timeout=15, connect_timeout=3)
        self.assertIn(qname, [u.rsplit("/", 1)[-1] for u in sqs.list_queues().get("QueueUrls", [])],
                      "the queue is gone after restart")
        url = self.server.queue_url(qname)
        seen = set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            msgs = r.get("Messages", [])
            if not msgs and acked <= seen:
                break
            for m in msgs:
                doc = json.loads(m["Body"])
                for rec in doc.get("Records", []):
                    seen.add(rec["s3"]["object"]["key"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        missing = sorted(acked - seen)
        self.assertEqual(missing, [], "%d of %d acknowledged PUTs have no event after kill -9"
                         % (len(missing), len(acked)))
        c = self.client()
        listed = set()
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            listed.update(o["Key"] for o in page.get("Contents", []))
        self.assertEqual(sorted(seen - listed), [], "events for objects that do not exist")

    def test_readers_never_see_partial_overwrites(self):
        """Overwrites replace the object atomically: every GET returns one
        whole version whose MD5 matches the ETag header it came with."""
        c = self.client()
        bucket = s.unique_bucket("atomic")
        c.create_bucket(Bucket=bucket)
        versions = [os.urandom(2 * 1024 * 1024 + i * 4099) for i in range(3)]
        md5s = {s.md5_hex(v) for v in versions}
        c.put_object(Bucket=bucket, Key="hot", Body=versions[0])
        stop = threading.Event()
        problems = []
        reads = [0]

        def writer():
            cl = self.client()
            i = 0
            while not stop.is_set():
                i += 1
                cl.put_object(Bucket=bucket, Key="hot", Body=versions[i % len(versions)])

        def reader():
            while not stop.is_set():
                r = s.raw_s3(self.server, "GET", s.obj_path(bucket, "hot"), timeout=15)
                reads[0] += 1
                got = s.md5_hex(r.body)
                etag = (r.header("ETag") or "").strip('"')
                if r.status != 200 or got not in md5s or got != etag:
                    problems.append("status %d, body md5 %s, ETag %s, %d bytes" % (r.status, got, etag, len(r.body)))

        def ranged_reader():
            while not stop.is_set():
                r = s.raw_s3(self.server, "GET", s.obj_path(bucket, "hot"), headers={"Range": "bytes=1000-1999"},
                             timeout=15)
                etag = (r.header("ETag") or "").strip('"')
                match = [v for v in versions if s.md5_hex(v) == etag]
                if r.status != 206 or not match or r.body != match[0][1000:2000]:
                    problems.append("ranged read: status %d, ETag %s does not fit the bytes" % (r.status, etag))

        threads = [threading.Thread(target=f, daemon=True) for f in (writer, writer, reader, reader, ranged_reader)]
        for th in threads:
            th.start()
        time.sleep(3.0)
        stop.set()
        for th in threads:
            th.join(20)
        self.assertGreater(reads[0], 5)
        self.assertEqual(problems[:10], [], "%d torn reads" % len(problems))

    def test_stream_survives_overwrite_and_delete(self):
        """A GET already streaming keeps delivering the version it started
        with while the key is overwritten and then deleted."""
        c = self.client()
        bucket = s.unique_bucket("stream")
        c.create_bucket(Bucket=bucket)
        old = os.urandom(24 * 1024 * 1024)
        c.put_object(Bucket=bucket, Key="big", Body=old)
        path = s.obj_path(bucket, "big")
        hdrs, _ = s.sign_headers(self.server, "GET", path)
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            conn.request("GET", path, headers=hdrs)
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            first = resp.read(1024 * 1024)
            c.put_object(Bucket=bucket, Key="big", Body=b"replacement")
            time.sleep(0.2)
            rest = resp.read(4 * 1024 * 1024)
            c.delete_object(Bucket=bucket, Key="big")
            time.sleep(0.2)
            rest += resp.read()
        finally:
            conn.close()
        got = first + rest
        self.assertEqual(len(got), len(old))
        self.assertTrue(got == old, "the streamed body changed under the reader")
        with self.assertRaises(ClientError):
            c.get_object(Bucket=bucket, Key="big")

    def test_sigterm_restart_keeps_everything(self):
        c = self.client()
        bucket = s.unique_bucket("restart")
        c.create_bucket(Bucket=bucket)
        sqs = self.server.client()
        qname = h.unique("restartq")
        sqs.create_queue(QueueName=qname)
        cfg = {"QueueConfigurations": [{"Id": "keep", "QueueArn": "arn:aws:sqs:us-east-1:%s:%s" % (s.ACCOUNT, qname),
                                        "Events": ["s3:ObjectCreated:*"]}]}
        c.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=cfg)
        big = os.urandom(3 * 1024 * 1024)
        c.put_object(Bucket=bucket, Key="big", Body=big, ContentType="application/x-big",
                     Metadata={"kept": "yes"}, CacheControl="no-cache")
        c.put_object(Bucket=bucket, Key="ключ/日本", Body=b"unicode")
        c.put_object(Bucket=bucket, Key="deleted", Body=b"x")
        c.delete_object(Bucket=bucket, Key="deleted")
        rc, secs, killed = self.server.stop()
        self.assertFalse(killed, "tweedle did not exit on SIGTERM")
        self.assertEqual(rc, 0)
        self.server.start()
        c = self.client()
        self.assertIn(bucket, [b["Name"] for b in c.list_buckets()["Buckets"]])
        g = c.get_object(Bucket=bucket, Key="big")
        self.assertTrue(g["Body"].read() == big)
        self.assertEqual(g["ContentType"], "application/x-big")
        self.assertEqual(g["Metadata"], {"kept": "yes"})
        self.assertEqual(g["CacheControl"], "no-cache")
        self.assertEqual(g["ETag"], s.etag_of(big))
        self.assertEqual(c.get_object(Bucket=bucket, Key="ключ/日本")["Body"].read(), b"unicode")
        with self.assertRaises(ClientError):
            c.get_object(Bucket=bucket, Key="deleted")
        got = c.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
        self.assertEqual([x["Id"] for x in got], ["keep"])


if __name__ == "__main__":
    unittest.main()
