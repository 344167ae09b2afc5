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

import concurrent.futures
import glob
import http.client
import json
import os
import random
import shutil
import sqlite3
import tempfile
import threading
import time
import unittest
import uuid

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


def body_files(data_dir):
    """Object bodies (blob id -> path), temp files not included: the files, and
    the small bodies kept in the store's blob_inline table (path None)."""
    out = {}
    for p in glob.glob(os.path.join(data_dir, "blobs", "??", "*")):
        if len(os.path.basename(p)) == 36:  # a UUID: other files are not bodies
            out[os.path.basename(p)] = p
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(data_dir, "tweedle.db"), uri=True, timeout=10)
    try:
        out.update((r[0], None) for r in db.execute("SELECT id FROM blob_inline"))
    except sqlite3.OperationalError:  # no table yet
        pass
    finally:
        db.close()
    return out


def settled_bodies(data_dir, ok, timeout=5.0):
    """body_files once `ok` holds of them, or after `timeout` s. A small body
    lives in the store (blob_inline): its removal is an operation of the
    store's next batch, so it can trail by a commit or two the response that
    left it unreferenced (a file is unlinked at once)."""
    deadline = time.monotonic() + timeout
    while True:
        b = body_files(data_dir)
        if ok(b) or time.monotonic() > deadline:
            return b
        time.sleep(0.05)


def temp_files(data_dir):
    return os.listdir(os.path.join(data_dir, "blobs", "tmp"))


def referenced_blobs(data_dir):
    """Every body a committed object or part row names (read-only, beside the server)."""
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(data_dir, "tweedle.db"), uri=True, timeout=10)
    try:
        rows = db.execute("SELECT blob FROM objects UNION ALL SELECT blob FROM parts").fetchall()
    finally:
        db.close()
    return {r[0] for r in rows if r[0]}


class BlobReclaimTest(h.FaultServerTestCase):
    """Bodies no row names do not pile up: concurrent overwrites of one key
    unlink every replaced body, the start-up sweep removes temp files and
    bodies left by a crash, and a failed commit (the store's test-only
    TWEEDLE_TEST_FAULTS hook) is answered with an error and leaves nothing."""

    def setUp(self):
        t0 = time.monotonic()
        super().setUp()
        self.c = s.s3_client(self.server, read_timeout=60, pool=100)
        self.bucket = s.unique_bucket("reclaim")
        self.c.create_bucket(Bucket=self.bucket)
        # The queue engine's first housekeeping commit comes soon after start
        # (then once a minute): let it pass, or it may take an injected failure.
        time.sleep(max(0.0, 1.5 - (time.monotonic() - t0)))

    def bodies(self, ok=lambda b: True, timeout=5.0):
        return settled_bodies(self.server.data_dir, ok, timeout)

    def assertNoOrphans(self):
        self.bodies(lambda b: set(b) == referenced_blobs(self.server.data_dir))
        files = set(body_files(self.server.data_dir))
        refs = referenced_blobs(self.server.data_dir)
        self.assertEqual(sorted(files - refs), [], "%d body file(s) no row names (%d files, %d rows)"
                         % (len(files - refs), len(files), len(refs)))
        self.assertEqual(sorted(refs - files), [], "rows name missing bodies")

    def run_concurrently(self, fns, timeout=120):
        results, errors, stuck = h.run_threads(fns, timeout)
        self.assertEqual(stuck, 0, "requests stuck")
        self.assertEqual([repr(e) for e in errors if e is not None][:5], [])
        return results

    def assertFailsInternal(self, fn):
        """fn (one request) meets a failed commit: S3's InternalError, 500."""
        self.fault("fail-commits", 1)
        try:
            with self.assertRaises(ClientError) as cm:
                fn()
        finally:
            self.fault("fail-commits", None)
        self.assertEqual(cm.exception.response["Error"]["Code"], "InternalError")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 500)

    def get(self, key):
        return self.c.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def assertAbsent(self, key):
        with self.assertRaises(ClientError) as cm:
            self.c.head_object(Bucket=self.bucket, Key=key)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 404)

    # --- races --------------------------------------------------------------

    def test_concurrent_puts_of_one_key_leave_one_body(self):
        self.fault("commit-delay-ms", 20)  # many batches, each a window
        bodies = [os.urandom(20000 + i) for i in range(80)]
        clients = [s.s3_client(self.server, read_timeout=60) for _ in range(8)]
        self.run_concurrently([lambda i=i: clients[i % 8].put_object(Bucket=self.bucket, Key="hot", Body=bodies[i])
                               for i in range(80)])
        self.fault("commit-delay-ms", None)
        n = len(self.bodies(lambda b: len(b) == 1))
        self.assertEqual(n, 1, "80 PUTs of one key left %d body files" % n)
        self.assertIn(self.get("hot"), bodies)
        self.assertNoOrphans()

    def test_concurrent_copy_post_and_complete_of_one_key_leave_one_body(self):
        from test_s3_post import form_body, post
        self.fault("commit-delay-ms", 20)
        self.c.put_object(Bucket=self.bucket, Key="src", Body=b"source" * 1000)
        uploads = []
        for i in range(6):
            up = self.c.create_multipart_upload(Bucket=self.bucket, Key="hot")["UploadId"]
            etag = self.c.upload_part(Bucket=self.bucket, Key="hot", UploadId=up, PartNumber=1,
                                      Body=b"mpu%d" % i)["ETag"]
            uploads.append((up, etag))
        form = s.s3_client(self.server, signature_version="s3v4").generate_presigned_post(self.bucket, "hot")
        clients = [s.s3_client(self.server, read_timeout=60) for _ in range(6)]

        def copy(i):
            return clients[i % 6].copy_object(Bucket=self.bucket, Key="hot", CopySource={"Bucket": self.bucket, "Key": "src"},
                                              MetadataDirective="REPLACE", Metadata={"n": str(i)})

        def complete(i):
            up, etag = uploads[i]
            return clients[i % 6].complete_multipart_upload(
                Bucket=self.bucket, Key="hot", UploadId=up,
                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})

        def form_post(i):
            body, ctype = form_body(list(form["fields"].items()), b"post%d" % i)
            r = post(self.server, "/" + self.bucket, body, ctype)
            if r.status != 204:
                raise AssertionError("POST answered %d: %r" % (r.status, r.body[:300]))

        fns = [lambda i=i: copy(i) for i in range(20)] + [lambda i=i: complete(i) for i in range(6)] + \
              [lambda i=i: form_post(i) for i in range(20)]
        random.Random(7).shuffle(fns)
        self.run_concurrently(fns)
        self.fault("commit-delay-ms", None)
        refs = referenced_blobs(self.server.data_dir)
        self.assertEqual(len(refs), 2, "src and hot")
        self.assertNoOrphans()
        self.assertEqual(self.c.list_multipart_uploads(Bucket=self.bucket).get("Uploads", []), [])

    def test_concurrent_uploads_of_one_part_leave_one_body(self):
        self.fault("commit-delay-ms", 20)
        up = self.c.create_multipart_upload(Bucket=self.bucket, Key="big")["UploadId"]
        bodies = [os.urandom(10000 + i) for i in range(30)]
        clients = [s.s3_client(self.server, read_timeout=60) for _ in range(6)]
        self.run_concurrently([lambda i=i: clients[i % 6].upload_part(Bucket=self.bucket, Key="big", UploadId=up,
                                                                      PartNumber=1, Body=bodies[i])
                               for i in range(30)])
        self.fault("commit-delay-ms", None)
        self.assertEqual(len(self.bodies(lambda b: len(b) == 1)), 1)
        self.assertNoOrphans()
        parts = self.c.list_parts(Bucket=self.bucket, Key="big", UploadId=up)["Parts"]
        self.c.complete_multipart_upload(Bucket=self.bucket, Key="big", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": parts[0]["ETag"]}]})
        self.assertIn(self.get("big"), bodies)
        self.assertEqual(len(self.bodies(lambda b: len(b) == 1)), 1)
        self.assertNoOrphans()

    def test_put_racing_delete_leaves_no_body(self):
        self.fault("commit-delay-ms", 20)
        clients = [s.s3_client(self.server, read_timeout=60) for _ in range(8)]
        fns = []
        for i in range(40):
            fns.append(lambda i=i: clients[i % 8].put_object(Bucket=self.bucket, Key="k", Body=os.urandom(5000)))
            fns.append(lambda i=i: clients[(i + 1) % 8].delete_object(Bucket=self.bucket, Key="k"))
        self.run_concurrently(fns)
        self.fault("commit-delay-ms", None)
        self.c.delete_object(Bucket=self.bucket, Key="k")
        self.assertEqual(self.bodies(lambda b: not b), {})
        self.assertNoOrphans()

    # --- the sweep ------------------------------------------------------------

    def test_startup_sweep_removes_temp_files_and_unreferenced_bodies(self):
        self.c.put_object(Bucket=self.bucket, Key="kept", Body=b"kept body")
        self.server.stop()
        d = self.server.data_dir
        tmp = os.path.join(d, "blobs", "tmp")
        with open(os.path.join(tmp, str(uuid.uuid4())), "wb") as f:  # an upload cut off by a crash
            f.write(b"x" * 100000)
        with open(os.path.join(tmp, "stray"), "wb") as f:
            f.write(b"y" * 10)
        orphan = str(uuid.uuid4())  # a body whose row never committed
        os.makedirs(os.path.join(d, "blobs", orphan[:2]), exist_ok=True)
        with open(os.path.join(d, "blobs", orphan[:2], orphan), "wb") as f:
            f.write(b"z" * 5000)
        old = time.time() - 3600
        os.utime(os.path.join(d, "blobs", orphan[:2], orphan), (old, old))
        foreign = os.path.join(d, "blobs", orphan[:2], "README")  # not a body name: left alone
        with open(foreign, "w") as f:
            f.write("not ours")
        self.server.start()
        self.assertEqual(temp_files(d), [])
        self.assertNotIn(orphan, body_files(d))
        self.assertTrue(os.path.exists(foreign))
        self.assertEqual(self.get("kept"), b"kept body")
        self.assertNoOrphans()
        with open(self.server.log_path, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        self.assertRegex(log, r"start-up sweep removed 2 temp file\(s\) \(100010 bytes\) and 1 body file\(s\)"
                              r" no object or part names \(5000 bytes\)")

    def test_body_published_before_a_crash_is_reclaimed_at_restart(self):
        self.c.put_object(Bucket=self.bucket, Key="kept", Body=b"kept body")
        before = set(body_files(self.server.data_dir))
        self.fault("commit-delay-ms", 5000)
        done = threading.Event()

        def put():
            try:
                s.s3_client(self.server, read_timeout=30).put_object(Bucket=self.bucket, Key="lost",
                                                                      Body=os.urandom(300000))
            except Exception:  # noqa: BLE001 - the connection dies with the server
                pass
            done.set()

        threading.Thread(target=put, daemon=True).start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (set(body_files(self.server.data_dir)) - before):
            time.sleep(0.005)
        self.assertTrue(set(body_files(self.server.data_dir)) - before, "the body was never published")
        self.assertFalse(done.is_set(), "answered before its commit")
        self.server.kill9()
        self.fault("commit-delay-ms", None)
        self.server.start()
        self.assertAbsent("lost")
        self.assertEqual(set(body_files(self.server.data_dir)), before)
        self.assertEqual(temp_files(self.server.data_dir), [])
        self.assertNoOrphans()

    def test_running_sweep_spares_bodies_of_writes_in_flight(self):
        """With a sweep every second (test-only knob), sustained overwrites
        stay readable and a stale orphan still goes."""
        self.server.stop()
        self.server.env["TWEEDLE_TEST_BLOB_SWEEP_MS"] = "1000"
        self.server.start()
        orphan = str(uuid.uuid4())
        os.makedirs(os.path.join(self.server.data_dir, "blobs", orphan[:2]), exist_ok=True)
        path = os.path.join(self.server.data_dir, "blobs", orphan[:2], orphan)
        with open(path, "wb") as f:
            f.write(b"z" * 100)
        old = time.time() - 60
        os.utime(path, (old, old))
        self.fault("commit-delay-ms", 300)  # rows commit well after their bodies
        stop = threading.Event()
        problems = []

        def writer(i):
            cl = s.s3_client(self.server, read_timeout=60)
            n = 0
            while not stop.is_set():
                n += 1
                body = b"%d-%d" % (i, n) * 100
                cl.put_object(Bucket=self.bucket, Key="w%d" % i, Body=body)
                got = cl.get_object(Bucket=self.bucket, Key="w%d" % i)["Body"].read()
                if got != body:
                    problems.append("w%d: read back %r" % (i, got[:20]))

        threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(4)
        stop.set()
        for t in threads:
            t.join(30)
        self.fault("commit-delay-ms", None)
        self.assertEqual(problems, [])
        self.assertFalse(os.path.exists(path), "the running sweep left a stale orphan")
        self.assertNoOrphans()

    # --- failed commits -------------------------------------------------------

    def test_failed_put_is_an_error_and_leaves_nothing(self):
        self.c.put_object(Bucket=self.bucket, Key="k", Body=b"old")
        self.assertFailsInternal(lambda: self.c.put_object(Bucket=self.bucket, Key="k", Body=b"new"))
        self.assertEqual(self.get("k"), b"old")
        self.assertFailsInternal(lambda: self.c.put_object(Bucket=self.bucket, Key="fresh", Body=b"x"))
        self.assertAbsent("fresh")
        self.assertEqual(len(self.bodies(lambda b: len(b) == 1)), 1)
        self.assertNoOrphans()
        self.c.put_object(Bucket=self.bucket, Key="k", Body=b"newer")  # still serving
        self.assertEqual(self.get("k"), b"newer")
        self.assertNoOrphans()

    def test_failed_post_is_an_error_and_leaves_nothing(self):
        from test_s3_post import form_body, post
        self.c.put_object(Bucket=self.bucket, Key="p", Body=b"old")
        form = s.s3_client(self.server, signature_version="s3v4").generate_presigned_post(self.bucket, "p")
        body, ctype = form_body(list(form["fields"].items()), b"new")
        self.fault("fail-commits", 1)
        r = post(self.server, "/" + self.bucket, body, ctype)
        self.fault("fail-commits", None)
        self.assertEqual(r.status, 500, r.body)
        self.assertIn(b"<Code>InternalError</Code>", r.body)
        self.assertEqual(self.get("p"), b"old")
        self.assertNoOrphans()

    def test_failed_delete_keeps_the_object(self):
        self.c.put_object(Bucket=self.bucket, Key="k", Body=b"still here")
        self.assertFailsInternal(lambda: self.c.delete_object(Bucket=self.bucket, Key="k"))
        self.assertEqual(self.get("k"), b"still here")
        self.assertFailsInternal(lambda: self.c.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": "k"}]}))
        self.assertEqual(self.get("k"), b"still here")
        self.assertNoOrphans()
        self.c.delete_object(Bucket=self.bucket, Key="k")
        self.assertAbsent("k")
        self.assertEqual(self.bodies(lambda b: not b), {})

    def test_failed_copy_is_an_error_and_leaves_nothing(self):
        self.c.put_object(Bucket=self.bucket, Key="src", Body=b"source")
        self.c.put_object(Bucket=self.bucket, Key="dst", Body=b"old")
        self.assertFailsInternal(lambda: self.c.copy_object(Bucket=self.bucket, Key="dst",
                                                            CopySource={"Bucket": self.bucket, "Key": "src"}))
        self.assertEqual(self.get("dst"), b"old")
        self.assertNoOrphans()
        self.c.copy_object(Bucket=self.bucket, Key="dst", CopySource={"Bucket": self.bucket, "Key": "src"})
        self.assertEqual(self.get("dst"), b"source")
        self.assertNoOrphans()

    def test_failed_multipart_steps_are_errors_and_leave_nothing(self):
        self.c.put_object(Bucket=self.bucket, Key="m", Body=b"old")
        self.assertFailsInternal(lambda: self.c.create_multipart_upload(Bucket=self.bucket, Key="m"))
        self.assertEqual(self.c.list_multipart_uploads(Bucket=self.bucket).get("Uploads", []), [])
        up = self.c.create_multipart_upload(Bucket=self.bucket, Key="m")["UploadId"]
        self.assertFailsInternal(lambda: self.c.upload_part(Bucket=self.bucket, Key="m", UploadId=up,
                                                            PartNumber=1, Body=b"part"))
        self.assertEqual(self.c.list_parts(Bucket=self.bucket, Key="m", UploadId=up).get("Parts", []), [])
        self.assertNoOrphans()
        etag = self.c.upload_part(Bucket=self.bucket, Key="m", UploadId=up, PartNumber=1, Body=b"part")["ETag"]
        done = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
        self.assertFailsInternal(lambda: self.c.complete_multipart_upload(Bucket=self.bucket, Key="m", UploadId=up,
                                                                          MultipartUpload=done))
        self.assertEqual(self.get("m"), b"old")
        self.assertNoOrphans()
        self.assertFailsInternal(lambda: self.c.abort_multipart_upload(Bucket=self.bucket, Key="m", UploadId=up))
        self.c.complete_multipart_upload(Bucket=self.bucket, Key="m", UploadId=up, MultipartUpload=done)
        self.assertEqual(self.get("m"), b"part")
        self.assertEqual(len(self.bodies(lambda b: len(b) == 1)), 1)
        self.assertNoOrphans()

    def test_failed_bucket_changes_are_errors(self):
        name = s.unique_bucket("failed")
        self.assertFailsInternal(lambda: self.c.create_bucket(Bucket=name))
        with self.assertRaises(ClientError) as cm:
            self.c.head_bucket(Bucket=name)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 404)
        self.c.create_bucket(Bucket=name)
        self.assertFailsInternal(lambda: self.c.delete_bucket(Bucket=name))
        self.c.head_bucket(Bucket=name)
        self.c.put_object(Bucket=self.bucket, Key="t", Body=b"x")
        self.assertFailsInternal(lambda: self.c.put_object_tagging(Bucket=self.bucket, Key="t", Tagging={
            "TagSet": [{"Key": "a", "Value": "b"}]}))
        self.assertEqual(self.c.get_object_tagging(Bucket=self.bucket, Key="t")["TagSet"], [])


if __name__ == "__main__":
    unittest.main()


class InlineBodiesTest(unittest.TestCase):
    """Small objects (up to TWEEDLE_S3_INLINE_MAX bytes, 16 KiB by default)
    are kept in the store itself (the blob_inline table) instead of a file:
    same answers, ranges and copies; removed with their object; kept across
    a restart and a kill -9; TWEEDLE_S3_INLINE_MAX=0 turns it off."""

    def start(self, env=None):
        self.server = h.Server(env=env)
        self.server.start()
        self.c = s.s3_client(self.server, read_timeout=30)
        self.bucket = s.unique_bucket("inline")
        self.c.create_bucket(Bucket=self.bucket)

    def tearDown(self):
        if self.server.alive():
            self.server.stop()
        self.server.cleanup()

    def bodies(self, ok, timeout=5.0):
        return settled_bodies(self.server.data_dir, ok, timeout)

    def body_of(self, key):
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.server.data_dir, "tweedle.db"), uri=True,
                             timeout=10)
        try:
            return db.execute("SELECT blob FROM objects WHERE bucket=? AND key=?",
                              (self.bucket, key.encode())).fetchone()[0]
        finally:
            db.close()

    def test_small_bodies_live_in_the_store_and_large_ones_in_files(self):
        self.start()
        sizes = {"zero": 0, "one": 1, "small": 4096, "limit": 16384, "over": 16385, "big": 300000}
        data = {k: os.urandom(n) for k, n in sizes.items()}
        for k, b in data.items():
            self.assertEqual(self.c.put_object(Bucket=self.bucket, Key=k, Body=b)["ETag"], s.etag_of(b))
        files = body_files(self.server.data_dir)
        for k in data:
            blob = self.body_of(k)
            inline = sizes[k] <= 16384
            self.assertIn(blob, files, k)
            self.assertEqual(files[blob] is None, inline, "%s (%d bytes): inline=%s" % (k, sizes[k], inline))
        for k, b in data.items():
            g = self.c.get_object(Bucket=self.bucket, Key=k)
            self.assertEqual(g["Body"].read(), b, k)
            self.assertEqual(g["ContentLength"], len(b))
        self.assertEqual(self.c.get_object(Bucket=self.bucket, Key="small", Range="bytes=100-199")["Body"].read(),
                         data["small"][100:200])
        self.assertEqual(self.c.head_object(Bucket=self.bucket, Key="limit")["ContentLength"], 16384)
        # a copy of a small object is small too, and independent of its source
        self.c.copy_object(Bucket=self.bucket, Key="copy", CopySource={"Bucket": self.bucket, "Key": "small"})
        self.assertIsNone(body_files(self.server.data_dir)[self.body_of("copy")])
        self.c.delete_object(Bucket=self.bucket, Key="small")
        self.assertEqual(self.c.get_object(Bucket=self.bucket, Key="copy")["Body"].read(), data["small"])
        # overwrites and deletes take the old body away
        self.c.put_object(Bucket=self.bucket, Key="one", Body=b"2")
        for k in ("zero", "limit", "over", "copy"):
            self.c.delete_object(Bucket=self.bucket, Key=k)
        left = {self.body_of(k) for k in ("one", "big")}
        self.assertEqual(set(self.bodies(lambda b: set(b) == left)), left)

    def test_small_bodies_survive_restart_and_kill9(self):
        self.start()
        body = os.urandom(1000)
        self.c.put_object(Bucket=self.bucket, Key="k", Body=body)
        self.server.stop()
        self.server.start()
        self.c = s.s3_client(self.server, read_timeout=30)
        self.assertEqual(self.c.get_object(Bucket=self.bucket, Key="k")["Body"].read(), body)
        bodies = {"k%d" % i: os.urandom(i * 37) for i in range(50)}
        for k, b in bodies.items():
            self.c.put_object(Bucket=self.bucket, Key=k, Body=b)
        self.server.kill9()
        self.server.start()
        self.c = s.s3_client(self.server, read_timeout=30)
        for k, b in bodies.items():
            self.assertEqual(self.c.get_object(Bucket=self.bucket, Key=k)["Body"].read(), b, k)

    def test_zero_turns_it_off(self):
        self.start(env={"TWEEDLE_S3_INLINE_MAX": "0"})
        self.c.put_object(Bucket=self.bucket, Key="k", Body=b"tiny")
        self.assertIsNotNone(body_files(self.server.data_dir)[self.body_of("k")])
        self.assertEqual(self.c.get_object(Bucket=self.bucket, Key="k")["Body"].read(), b"tiny")
