"""The job API (/_/api/v1/jobs, system S3 of the seeds) end to end.

What is asserted (docs/gateway.md, "Jobs"):
* POST /jobs {"type","payload"} -> 202 {"id","status":"queued","status_url"};
  the job's message {"id","type","payload"} with the String message attribute
  tweedle.job_id is on the job type's queue (config "jobs.types", else
  tweedle-jobs), an ordinary SQS queue created at start with a dead-letter
  queue <queue>-dlq (RedrivePolicy maxReceiveCount 3, DLQ retention 14 days).
* GET /jobs/{id} -> {"id","type","status","attempts","created_at",
  "started_at","finished_at","error","result"}; result {"bucket","key","size",
  "url"} with a presigned GET URL that curl downloads, while the object exists.
* Transitions: start (queued|running|failed -> running, attempts + 1),
  complete (running -> succeeded, the result object must exist), fail
  (running -> failed); anything else 409 Conflict, the job unchanged.
* A job whose message the redrive policy moves to the DLQ is failed with
  error "dead-lettered" (queued or running jobs only; a finished job stays).
* Idempotency-Key: the same request again -> 202 with the same job and
  Idempotent-Replayed: true; another request under the same key -> 422;
  keys are per caller.
* GET /jobs?status&type&limit&cursor: newest first, pages of limit (1..100,
  default 20), next_cursor null on the last page.
* Scopes: jobs:submit / jobs:read / jobs:update (with bucket/prefix for the
  result of complete); 401 without a key.
* Bad input -> 400 / 413 / 404 / 405, nothing recorded or enqueued.
* kill -9: every acknowledged job is there after a restart, with its message,
  and no job exists without its message or message without its job.
"""

import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request
import uuid

import harness as h
import s3_harness as s3h

API = "/_/api/v1"
ISO_MS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
ROUTES = {"lifecycle": "jobs-lifecycle", "deadletter": "jobs-deadletter"}
CONFIG = {"jobs": {"types": ROUTES, "max_receive_count": 3}}
CONFIG_DIR = None


def write_config(cfg):
    d = tempfile.mkdtemp(prefix="tweedle-jobs-cfg-")
    path = os.path.join(d, "config.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return d, path


def setUpModule():
    global CONFIG_DIR
    CONFIG_DIR, path = write_config(CONFIG)
    h.start_module_server(__name__, extra_args=["--config", path])


def tearDownModule():
    h.stop_module_server(__name__)
    shutil.rmtree(CONFIG_DIR, ignore_errors=True)


# --------------------------------------------------------------------------
# HTTP helpers
# --------------------------------------------------------------------------

class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def header(self, name):
        return self.headers.get(name)

    def __repr__(self):
        return "<Resp %d %r>" % (self.status, self.body[:400])


def call(server, method, path, body=None, key=None, headers=None, raw=None, timeout=30):
    """One request with an API key (Bearer) or none."""
    hdrs = dict(headers or {})
    if key:
        hdrs["Authorization"] = "Bearer " + key
    data = raw if raw is not None else (json.dumps(body).encode("utf-8") if body is not None else None)
    if isinstance(data, str):
        data = data.encode("utf-8")
    if data is not None:
        hdrs.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        return Resp(r.status, r.headers, r.read())
    finally:
        conn.close()


def admin(server, method, path, body=None):
    """A request signed with SigV4 by the server's (admin) credential."""
    data = json.dumps(body) if body is not None else ""
    r = h.raw_request(server, method, path, body=data, headers={"Content-Type": "application/json"},
                      service="execute-api")
    return Resp(r.status, r.headers, r.body)


def make_key(server, actions, bucket="*", prefix=""):
    r = admin(server, "POST", API + "/apikeys",
              {"name": h.unique("key"), "scopes": [{"actions": actions, "bucket": bucket, "prefix": prefix}]})
    if r.status not in (200, 201):
        raise AssertionError("cannot create an API key: %r" % r)
    return r.json()["key"]


ALL = ["jobs:submit", "jobs:read", "jobs:update"]


def curl_get(url):
    """Downloads url with curl (plain HTTP, no credentials); urllib if curl is missing."""
    if shutil.which("curl"):
        p = subprocess.run(["curl", "-sS", "-f", "--max-time", "20", url], capture_output=True, timeout=30)
        if p.returncode:
            raise AssertionError("curl failed (%d): %s" % (p.returncode, p.stderr.decode()))
        return p.stdout
    with urllib.request.urlopen(url, timeout=20) as f:
        return f.read()


class JobsTestCase(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.server = sys_module_server()
        cls.key = make_key(cls.server, ALL)
        cls.sqs = cls.server.client()
        cls.s3 = s3h.s3_client(cls.server)

    # -- API --------------------------------------------------------------
    def submit(self, type_, payload=None, key=None, headers=None, body=None):
        doc = body if body is not None else ({"type": type_, "payload": payload} if payload is not None
                                             else {"type": type_})
        return call(self.server, "POST", API + "/jobs", doc, key=key or self.key, headers=headers)

    def submit_ok(self, type_, payload=None, **kw):
        r = self.submit(type_, payload if payload is not None else {"n": 1}, **kw)
        self.assertEqual(r.status, 202, r)
        return r.json()["id"]

    def get(self, job_id, key=None):
        return call(self.server, "GET", API + "/jobs/" + job_id, key=key or self.key)

    def job(self, job_id):
        r = self.get(job_id)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def act(self, job_id, verb, body=None, key=None, raw=None):
        return call(self.server, "POST", "%s/jobs/%s/%s" % (API, job_id, verb), body, key=key or self.key,
                    raw=raw)

    def act_ok(self, job_id, verb, body=None, key=None):
        r = self.act(job_id, verb, body, key=key)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def list(self, key=None, **params):
        q = "&".join("%s=%s" % (k, urllib.request.quote(str(v), safe="")) for k, v in params.items())
        return call(self.server, "GET", API + "/jobs" + ("?" + q if q else ""), key=key or self.key)

    def assertError(self, r, status, code, message_re=None):
        self.assertEqual(r.status, status, r)
        self.assertTrue((r.header("Content-Type") or "").startswith("application/json"), r)
        err = r.json()["error"]
        self.assertEqual(err["code"], code, r)
        self.assertTrue(err["message"], r)
        if message_re:
            self.assertRegex(err["message"], message_re)

    # -- queues -----------------------------------------------------------
    def queue_url(self, name):
        return self.server.queue_url(name)

    def receive_job(self, queue, job_id, timeout=10.0, **kw):
        """Receives from queue until job_id's message comes (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msgs = self.sqs.receive_message(QueueUrl=self.queue_url(queue), MaxNumberOfMessages=10,
                                            WaitTimeSeconds=1, MessageAttributeNames=["All"],
                                            AttributeNames=["All"], **kw).get("Messages", [])
            for m in msgs:
                if m.get("MessageAttributes", {}).get("tweedle.job_id", {}).get("StringValue") == job_id:
                    return m
        self.fail("the message of job %s did not arrive on %s" % (job_id, queue))

    def queue_count(self, queue):
        a = self.sqs.get_queue_attributes(QueueUrl=self.queue_url(queue), AttributeNames=["All"])["Attributes"]
        return (int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"]) +
                int(a["ApproximateNumberOfMessagesDelayed"]))

    def count_type(self, type_):
        r = self.list(type=type_, limit=100)
        self.assertEqual(r.status, 200, r)
        return len(r.json()["jobs"])

    def make_bucket(self):
        name = s3h.unique_bucket("jobs")
        self.s3.create_bucket(Bucket=name)
        return name


def sys_module_server():
    srv = globals().get("SERVER")
    if srv is None:
        raise unittest.SkipTest("module server not started")
    return srv


def new_type(prefix="t"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


# --------------------------------------------------------------------------
# the queues made at start
# --------------------------------------------------------------------------

class JobQueuesTest(JobsTestCase):

    def arn(self, name):
        return "arn:aws:sqs:%s:%s:%s" % (h.REGION, h.ACCOUNT, name)

    def test_queues_with_dead_letter_queues(self):
        for q in ["tweedle-jobs"] + sorted(ROUTES.values()):
            a = self.sqs.get_queue_attributes(QueueUrl=self.queue_url(q), AttributeNames=["All"])["Attributes"]
            rp = json.loads(a["RedrivePolicy"])
            self.assertEqual(rp["deadLetterTargetArn"], self.arn(q + "-dlq"))
            self.assertEqual(int(rp["maxReceiveCount"]), 3)
            d = self.sqs.get_queue_attributes(QueueUrl=self.queue_url(q + "-dlq"),
                                              AttributeNames=["All"])["Attributes"]
            self.assertEqual(d["MessageRetentionPeriod"], "1209600")
            self.assertNotIn("RedrivePolicy", d)
            # the DLQ knows its source, like any queue
            src = self.sqs.list_dead_letter_source_queues(QueueUrl=self.queue_url(q + "-dlq"))
            self.assertIn(self.queue_url(q), src.get("queueUrls", []))


# --------------------------------------------------------------------------
# the whole life of a job
# --------------------------------------------------------------------------

class LifecycleTest(JobsTestCase):

    def test_submit_consume_complete_download(self):
        bucket = self.make_bucket()
        worker = make_key(self.server, ["jobs:read", "jobs:update"], bucket=bucket, prefix="out/")
        reader = make_key(self.server, ["jobs:read"])
        # U+FFFF may not appear in an SQS body: it travels escaped, like all non-ASCII
        payload = {"city": "Zürich", "odd": "\uffff \U0001F600", "days": 3, "nested": {"list": [1, 2.5, None, True]}}
        r = self.submit("lifecycle", payload)
        self.assertEqual(r.status, 202, r)
        doc = r.json()
        self.assertEqual(set(doc), {"id", "status", "status_url"})
        job_id = doc["id"]
        self.assertRegex(job_id, r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertEqual(doc["status"], "queued")
        self.assertEqual(doc["status_url"], "%s%s/jobs/%s" % (self.server.endpoint, API, job_id))

        j = self.job(job_id)
        self.assertEqual(j["id"], job_id)
        self.assertEqual(j["type"], "lifecycle")
        self.assertEqual(j["status"], "queued")
        self.assertEqual(j["attempts"], 0)
        self.assertRegex(j["created_at"], ISO_MS)
        for k in ("started_at", "finished_at", "error", "result"):
            self.assertIsNone(j[k], k)

        # a plain SQS consumer on the type's queue
        m = self.receive_job(ROUTES["lifecycle"], job_id)
        self.assertEqual(json.loads(m["Body"]), {"id": job_id, "type": "lifecycle", "payload": payload})
        self.assertTrue(m["Body"].isascii())
        self.assertEqual(m["MessageAttributes"]["tweedle.job_id"], {"StringValue": job_id, "DataType": "String"})
        self.assertEqual(m["Attributes"]["ApproximateReceiveCount"], "1")

        started = self.act_ok(job_id, "start", key=worker)
        self.assertEqual(started["status"], "running")
        self.assertEqual(started["attempts"], 1)
        self.assertRegex(started["started_at"], ISO_MS)
        self.assertIsNone(started["finished_at"])
        self.assertEqual(self.job(job_id)["status"], "running")

        data = json.dumps({"forecast": [1, 2, 3], "job": job_id}).encode()
        key = "out/%s.json" % job_id
        self.s3.put_object(Bucket=bucket, Key=key, Body=data)
        done = self.act_ok(job_id, "complete", {"result": {"bucket": bucket, "key": key}}, key=worker)
        self.assertEqual(done["status"], "succeeded")
        self.assertEqual(done["result"]["size"], len(data))
        self.sqs.delete_message(QueueUrl=self.queue_url(ROUTES["lifecycle"]), ReceiptHandle=m["ReceiptHandle"])

        r = call(self.server, "GET", doc["status_url"][len(self.server.endpoint):], key=reader)
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual(j["status"], "succeeded")
        self.assertEqual(j["attempts"], 1)
        self.assertIsNone(j["error"])
        self.assertRegex(j["finished_at"], ISO_MS)
        self.assertGreaterEqual(j["finished_at"], j["started_at"])
        self.assertGreaterEqual(j["started_at"], j["created_at"])
        res = j["result"]
        self.assertEqual((res["bucket"], res["key"], res["size"]), (bucket, key, len(data)))
        self.assertTrue(res["url"].startswith(self.server.endpoint + "/"), res["url"])
        self.assertIn("X-Amz-Signature=", res["url"])
        self.assertEqual(curl_get(res["url"]), data)
        # every GET signs a fresh URL
        time.sleep(1.1)
        self.assertNotEqual(self.job(job_id)["result"]["url"], res["url"])

        # the output goes away: no size, no URL any more
        self.s3.delete_object(Bucket=bucket, Key=key)
        res = self.job(job_id)["result"]
        self.assertEqual((res["bucket"], res["key"]), (bucket, key))
        self.assertIsNone(res["size"])
        self.assertIsNone(res["url"])

    def test_default_queue_and_empty_payload(self):
        t = new_type("plain")
        r = self.submit(t)  # no payload: an empty one
        self.assertEqual(r.status, 202, r)
        job_id = r.json()["id"]
        m = self.receive_job("tweedle-jobs", job_id)
        self.assertEqual(json.loads(m["Body"]), {"id": job_id, "type": t, "payload": {}})
        self.sqs.delete_message(QueueUrl=self.queue_url("tweedle-jobs"), ReceiptHandle=m["ReceiptHandle"])

    def test_admin_sigv4_caller(self):
        r = admin(self.server, "POST", API + "/jobs", {"type": new_type("admin"), "payload": {}})
        self.assertEqual(r.status, 202, r)
        job_id = r.json()["id"]
        r = admin(self.server, "GET", API + "/jobs/" + job_id)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["status"], "queued")


# --------------------------------------------------------------------------
# transitions
# --------------------------------------------------------------------------

class TransitionsTest(JobsTestCase):

    def test_fail_then_retry_then_succeed(self):
        job_id = self.submit_ok(new_type("retry"))
        self.act_ok(job_id, "start")
        f = self.act_ok(job_id, "fail", {"error": "upstream timed out"})
        self.assertEqual(f["status"], "failed")
        self.assertEqual(f["error"], "upstream timed out")
        self.assertRegex(f["finished_at"], ISO_MS)
        j = self.job(job_id)
        self.assertEqual((j["status"], j["error"], j["attempts"]), ("failed", "upstream timed out", 1))
        bucket = self.make_bucket()
        self.s3.put_object(Bucket=bucket, Key="r", Body=b"ok")
        # a failed job is not completed nor failed again...
        self.assertError(self.act(job_id, "complete", {"result": {"bucket": bucket, "key": "r"}}), 409,
                         "Conflict", "already failed")
        self.assertError(self.act(job_id, "fail", {"error": "again"}), 409, "Conflict", "already failed")
        # ...but a retry starts it again and counts the attempt
        s = self.act_ok(job_id, "start")
        self.assertEqual((s["status"], s["attempts"], s["error"], s["finished_at"]), ("running", 2, None, None))
        d = self.act_ok(job_id, "complete", {"result": {"bucket": bucket, "key": "r"}})
        self.assertEqual((d["status"], d["attempts"]), ("succeeded", 2))
        self.assertEqual(self.job(job_id)["status"], "succeeded")

    def test_queued_job_cannot_finish(self):
        job_id = self.submit_ok(new_type("queued"))
        bucket = self.make_bucket()
        self.s3.put_object(Bucket=bucket, Key="r", Body=b"x")
        self.assertError(self.act(job_id, "complete", {"result": {"bucket": bucket, "key": "r"}}), 409, "Conflict",
                         "is queued: only a running job can be completed")
        self.assertError(self.act(job_id, "fail", {"error": "x"}), 409, "Conflict",
                         "is queued: only a running job can be failed")
        j = self.job(job_id)
        self.assertEqual((j["status"], j["attempts"], j["error"], j["result"]), ("queued", 0, None, None))

    def test_succeeded_job_is_final(self):
        job_id = self.submit_ok(new_type("final"))
        self.act_ok(job_id, "start")
        bucket = self.make_bucket()
        self.s3.put_object(Bucket=bucket, Key="r", Body=b"x")
        self.act_ok(job_id, "complete", {"result": {"bucket": bucket, "key": "r"}})
        self.assertError(self.act(job_id, "complete", {"result": {"bucket": bucket, "key": "r"}}), 409,
                         "Conflict", "already succeeded")
        self.assertError(self.act(job_id, "fail", {"error": "late"}), 409, "Conflict", "already succeeded")
        self.assertError(self.act(job_id, "start"), 409, "Conflict", "already succeeded")
        j = self.job(job_id)
        self.assertEqual((j["status"], j["attempts"], j["error"]), ("succeeded", 1, None))

    def test_redelivered_start_counts_attempts(self):
        job_id = self.submit_ok(new_type("redeliver"))
        self.assertEqual(self.act_ok(job_id, "start")["attempts"], 1)
        first = self.job(job_id)["started_at"]
        time.sleep(0.01)
        s = self.act_ok(job_id, "start", {})
        self.assertEqual((s["status"], s["attempts"]), ("running", 2))
        self.assertGreaterEqual(s["started_at"], first)

    def test_concurrent_starts_all_count(self):
        job_id = self.submit_ok(new_type("conc"))
        n = 24
        res, errs, stuck = h.run_threads([lambda: self.act(job_id, "start")] * n, timeout=30)
        self.assertEqual(stuck, 0)
        self.assertEqual([e for e in errs if e], [])
        self.assertEqual(sorted(r.status for r in res), [200] * n)
        self.assertEqual(sorted(r.json()["attempts"] for r in res), list(range(1, n + 1)))
        self.assertEqual(self.job(job_id)["attempts"], n)

    def test_racing_complete_and_fail_one_wins(self):
        bucket = self.make_bucket()
        self.s3.put_object(Bucket=bucket, Key="r", Body=b"x")
        for _ in range(8):
            job_id = self.submit_ok(new_type("race"))
            self.act_ok(job_id, "start")
            fns = [lambda: self.act(job_id, "complete", {"result": {"bucket": bucket, "key": "r"}}),
                   lambda: self.act(job_id, "fail", {"error": "lost"})] * 3
            res, errs, stuck = h.run_threads(fns, timeout=30)
            self.assertEqual(stuck, 0)
            self.assertEqual([e for e in errs if e], [])
            codes = [r.status for r in res]
            self.assertEqual(codes.count(200), 1, res)
            self.assertEqual(codes.count(409), len(fns) - 1, res)
            winner = res[codes.index(200)].json()["status"]
            self.assertEqual(self.job(job_id)["status"], winner)

    def test_transition_bodies(self):
        job_id = self.submit_ok(new_type("bodies"))
        self.act_ok(job_id, "start")
        bucket = self.make_bucket()
        cases = [
            ("fail", None, None, 400, "BadRequest"),
            ("fail", {"error": ""}, None, 400, "BadRequest"),
            ("fail", {"error": 5}, None, 400, "BadRequest"),
            ("fail", {"error": "x" * 4097}, None, 400, "BadRequest"),
            ("fail", None, "{not json", 400, "BadRequest"),
            ("complete", {}, None, 400, "BadRequest"),
            ("complete", {"result": "s3://b/k"}, None, 400, "BadRequest"),
            ("complete", {"result": {"bucket": bucket}}, None, 400, "BadRequest"),
            ("complete", {"result": {"bucket": bucket, "key": ""}}, None, 400, "BadRequest"),
            ("complete", {"result": {"bucket": bucket, "key": "k" * 1025}}, None, 400, "BadRequest"),
            ("complete", {"result": {"key": "k"}}, None, 400, "BadRequest"),  # no results bucket configured
            ("complete", {"result": {"bucket": bucket, "key": "missing"}}, None, 404, "NoSuchKey"),
            ("complete", {"result": {"bucket": s3h.unique_bucket("none"), "key": "k"}}, None, 404, "NoSuchBucket"),
            ("start", None, "[1]", 400, "BadRequest"),
        ]
        for verb, body, raw, status, code in cases:
            with self.subTest(verb=verb, body=body, raw=raw):
                self.assertError(self.act(job_id, verb, body, raw=raw), status, code)
        j = self.job(job_id)
        self.assertEqual((j["status"], j["attempts"], j["error"], j["result"]), ("running", 1, None, None))


# --------------------------------------------------------------------------
# dead-lettering
# --------------------------------------------------------------------------

class DeadLetterTest(JobsTestCase):
    """jobs-deadletter: maxReceiveCount 3. Receiving a message three times
    without deleting it sends it to jobs-deadletter-dlq on the next receive."""

    Q = ROUTES["deadletter"]

    def exhaust(self, job_id):
        for i in range(3):
            m = self.receive_job(self.Q, job_id, VisibilityTimeout=0)
            self.assertEqual(m["Attributes"]["ApproximateReceiveCount"], str(i + 1))
        # the fourth receive moves it to the DLQ instead of handing it out
        msgs = self.sqs.receive_message(QueueUrl=self.queue_url(self.Q), MaxNumberOfMessages=10,
                                        WaitTimeSeconds=0).get("Messages", [])
        self.assertEqual(msgs, [])
        return self.receive_job(self.Q + "-dlq", job_id)

    def test_dead_lettered_jobs(self):
        # queued
        a = self.submit_ok("deadletter", {"n": "a"})
        dl = self.exhaust(a)
        self.assertEqual(json.loads(dl["Body"])["id"], a)
        ja = self.job(a)
        self.assertEqual((ja["status"], ja["error"], ja["attempts"]), ("failed", "dead-lettered", 0))
        self.assertRegex(ja["finished_at"], ISO_MS)
        # running (the worker started it, then kept crashing)
        b = self.submit_ok("deadletter", {"n": "b"})
        self.act_ok(b, "start")
        self.act_ok(b, "start")
        self.exhaust(b)
        jb = self.job(b)
        self.assertEqual((jb["status"], jb["error"], jb["attempts"]), ("failed", "dead-lettered", 2))
        # succeeded, but the worker never deleted the message: stays succeeded
        c = self.submit_ok("deadletter", {"n": "c"})
        self.act_ok(c, "start")
        bucket = self.make_bucket()
        self.s3.put_object(Bucket=bucket, Key="c", Body=b"c")
        self.act_ok(c, "complete", {"result": {"bucket": bucket, "key": "c"}})
        self.exhaust(c)
        jc = self.job(c)
        self.assertEqual((jc["status"], jc["error"]), ("succeeded", None))
        # a dead-lettered job may be retried (e.g. after a DLQ redrive)
        self.assertEqual(self.act_ok(a, "start")["attempts"], 1)
        # messages without the attribute dead-letter as usual
        self.sqs.send_message(QueueUrl=self.queue_url(self.Q), MessageBody="not a job")
        for _ in range(4):
            self.sqs.receive_message(QueueUrl=self.queue_url(self.Q), VisibilityTimeout=0, WaitTimeSeconds=0)
        deadline = time.monotonic() + 5
        bodies = []
        while time.monotonic() < deadline and "not a job" not in bodies:
            bodies += [m["Body"] for m in self.sqs.receive_message(
                QueueUrl=self.queue_url(self.Q + "-dlq"), MaxNumberOfMessages=10,
                WaitTimeSeconds=1).get("Messages", [])]
        self.assertIn("not a job", bodies)


# --------------------------------------------------------------------------
# Idempotency-Key
# --------------------------------------------------------------------------

class IdempotencyTest(JobsTestCase):

    def test_same_key_same_job(self):
        t = new_type("idem")
        hdr = {"Idempotency-Key": "order-" + uuid.uuid4().hex}
        r1 = self.submit(t, {"a": 1, "b": [1, 2]}, headers=hdr)
        self.assertEqual(r1.status, 202, r1)
        self.assertIsNone(r1.header("Idempotent-Replayed"))
        job_id = r1.json()["id"]
        # the same request (key order and spacing do not matter)
        raw = '{ "payload" : {"b":[1,2],   "a":1}, "type":"%s" }' % t
        r2 = call(self.server, "POST", API + "/jobs", raw=raw, key=self.key, headers=hdr)
        self.assertEqual(r2.status, 202, r2)
        self.assertEqual(r2.header("Idempotent-Replayed"), "true")
        self.assertEqual(r2.json(), r1.json())
        # the replay shows the job as it is now
        self.act_ok(job_id, "start")
        r3 = self.submit(t, {"a": 1, "b": [1, 2]}, headers=hdr)
        self.assertEqual((r3.status, r3.json()["id"], r3.json()["status"]), (202, job_id, "running"))
        self.assertEqual(self.count_type(t), 1)
        # one message only
        self.receive_job("tweedle-jobs", job_id)
        # another request under the same key
        r4 = self.submit(t, {"a": 2}, headers=hdr)
        self.assertError(r4, 422, "IdempotencyKeyMismatch")
        r5 = self.submit(t + "x", {"a": 1, "b": [1, 2]}, headers=hdr)
        self.assertError(r5, 422, "IdempotencyKeyMismatch")
        self.assertEqual(self.count_type(t), 1)
        self.assertEqual(self.count_type(t + "x"), 0)
        # keys belong to their caller
        other = make_key(self.server, ["jobs:submit", "jobs:read"])
        r6 = self.submit(t, {"a": 1, "b": [1, 2]}, headers=hdr, key=other)
        self.assertEqual(r6.status, 202, r6)
        self.assertIsNone(r6.header("Idempotent-Replayed"))
        self.assertNotEqual(r6.json()["id"], job_id)
        self.assertEqual(self.count_type(t), 2)

    def test_bad_keys(self):
        t = new_type("idembad")
        for k in ["x" * 256, "tab\there", "\u00e9t\u00e9"]:
            with self.subTest(key=k):
                self.assertError(self.submit(t, {}, headers={"Idempotency-Key": k}), 400, "BadRequest")
        self.assertEqual(self.count_type(t), 0)

    def test_concurrent_same_key_one_job(self):
        t = new_type("idemconc")
        hdr = {"Idempotency-Key": uuid.uuid4().hex}
        n = 16
        res, errs, stuck = h.run_threads([lambda: self.submit(t, {"x": 1}, headers=hdr)] * n, timeout=30)
        self.assertEqual(stuck, 0)
        self.assertEqual([e for e in errs if e], [])
        ok = [r for r in res if r.status == 202]
        busy = [r for r in res if r.status == 409]
        self.assertEqual(len(ok) + len(busy), n, res)
        self.assertGreaterEqual(len(ok), 1)
        self.assertEqual(len({r.json()["id"] for r in ok}), 1)
        self.assertEqual(len([r for r in ok if r.header("Idempotent-Replayed") is None]), 1)
        for r in busy:
            self.assertError(r, 409, "Conflict")
        self.assertEqual(self.count_type(t), 1)


# --------------------------------------------------------------------------
# listing
# --------------------------------------------------------------------------

class ListTest(JobsTestCase):

    def test_pages_newest_first(self):
        t = new_type("list")
        ids = [self.submit_ok(t, {"i": i}) for i in range(7)]
        newest_first = list(reversed(ids))
        seen, cursor, pages = [], None, 0
        while True:
            params = {"type": t, "limit": 3}
            if cursor:
                params["cursor"] = cursor
            r = self.list(**params)
            self.assertEqual(r.status, 200, r)
            doc = r.json()
            pages += 1
            self.assertLessEqual(len(doc["jobs"]), 3)
            seen += [j["id"] for j in doc["jobs"]]
            for j in doc["jobs"]:
                self.assertEqual((j["type"], j["status"]), (t, "queued"))
            cursor = doc["next_cursor"]
            if cursor is None:
                break
            self.assertLess(pages, 5)
        self.assertEqual(seen, newest_first)
        self.assertEqual(pages, 3)
        # default limit 20, all of them here
        r = self.list(type=t)
        self.assertEqual([j["id"] for j in r.json()["jobs"]], newest_first)
        self.assertIsNone(r.json()["next_cursor"])
        # exactly one page: no cursor
        r = self.list(type=t, limit=7)
        self.assertEqual(len(r.json()["jobs"]), 7)
        self.assertIsNone(r.json()["next_cursor"])

    def test_status_filter(self):
        t = new_type("liststatus")
        ids = [self.submit_ok(t) for _ in range(5)]
        self.act_ok(ids[1], "start")
        self.act_ok(ids[3], "start")
        self.act_ok(ids[3], "fail", {"error": "e"})
        r = self.list(type=t, status="running")
        self.assertEqual([j["id"] for j in r.json()["jobs"]], [ids[1]])
        r = self.list(type=t, status="failed")
        self.assertEqual([(j["id"], j["error"]) for j in r.json()["jobs"]], [(ids[3], "e")])
        r = self.list(type=t, status="queued")
        self.assertEqual([j["id"] for j in r.json()["jobs"]], [ids[4], ids[2], ids[0]])
        self.assertEqual(self.list(type=t, status="succeeded").json()["jobs"], [])
        # status alone covers every type: ours are among them
        r = self.list(status="failed", limit=100)
        self.assertIn(ids[3], [j["id"] for j in r.json()["jobs"]])
        self.assertTrue(all(j["status"] == "failed" for j in r.json()["jobs"]))

    def test_bad_parameters(self):
        for params in [{"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"limit": ""}, {"status": "done"},
                       {"type": "bad type"}, {"cursor": "nope!"}, {"cursor": "AAAA"}]:
            with self.subTest(params=params):
                self.assertError(self.list(**params), 400, "BadRequest")


# --------------------------------------------------------------------------
# who may do what
# --------------------------------------------------------------------------

class ScopesTest(JobsTestCase):

    def test_scopes(self):
        t = new_type("scope")
        reader = make_key(self.server, ["jobs:read"])
        submitter = make_key(self.server, ["jobs:submit"])
        bucket = self.make_bucket()
        worker = make_key(self.server, ["jobs:update"], bucket=bucket, prefix="out/")
        self.assertError(self.submit(t, {}, key=reader), 403, "AccessDenied")
        self.assertEqual(self.count_type(t), 0)
        job_id = self.submit_ok(t, key=submitter)
        self.assertError(self.get(job_id, key=submitter), 403, "AccessDenied")
        self.assertError(self.list(key=submitter), 403, "AccessDenied")
        self.assertEqual(self.get(job_id, key=reader).status, 200)
        self.assertError(self.act(job_id, "start", key=reader), 403, "AccessDenied")
        self.assertError(self.act(job_id, "start", key=submitter), 403, "AccessDenied")
        self.act_ok(job_id, "start", key=worker)
        # the result must be where the worker's scope allows
        other = self.make_bucket()
        self.s3.put_object(Bucket=other, Key="out/r", Body=b"x")
        self.s3.put_object(Bucket=bucket, Key="elsewhere/r", Body=b"x")
        self.s3.put_object(Bucket=bucket, Key="out/r", Body=b"x")
        self.assertError(self.act(job_id, "complete", {"result": {"bucket": other, "key": "out/r"}}, key=worker),
                         403, "AccessDenied")
        self.assertError(self.act(job_id, "complete", {"result": {"bucket": bucket, "key": "elsewhere/r"}},
                                  key=worker), 403, "AccessDenied")
        self.assertEqual(self.job(job_id)["status"], "running")
        self.act_ok(job_id, "complete", {"result": {"bucket": bucket, "key": "out/r"}}, key=worker)
        # no key, a wrong key
        self.assertEqual(call(self.server, "GET", API + "/jobs/" + job_id).status, 401)
        self.assertEqual(call(self.server, "POST", API + "/jobs", {"type": t}).status, 401)
        self.assertEqual(self.get(job_id, key="twk_not-a-key").status, 401)
        self.assertEqual(self.count_type(t), 1)


# --------------------------------------------------------------------------
# 404, 405, bad requests
# --------------------------------------------------------------------------

class BadRequestTest(JobsTestCase):

    def test_unknown_jobs_and_routes(self):
        unknown = str(uuid.uuid4())
        self.assertError(self.get(unknown), 404, "NotFound", unknown)
        self.assertError(self.get("x" * 100), 404, "NotFound")
        self.assertError(self.act(unknown, "start"), 404, "NotFound")
        self.assertError(self.act(unknown, "fail", {"error": "e"}), 404, "NotFound")
        bucket = self.make_bucket()
        self.s3.put_object(Bucket=bucket, Key="r", Body=b"x")
        self.assertError(self.act(unknown, "complete", {"result": {"bucket": bucket, "key": "r"}}), 404, "NotFound")
        job_id = self.submit_ok(new_type("routes"))
        self.assertError(self.act(job_id, "cancel"), 404, "NotFound")
        r = call(self.server, "DELETE", API + "/jobs/" + job_id, key=self.key)
        self.assertError(r, 405, "MethodNotAllowed")
        self.assertEqual(r.header("Allow"), "GET")
        r = call(self.server, "GET", "%s/jobs/%s/start" % (API, job_id), key=self.key)
        self.assertError(r, 405, "MethodNotAllowed")
        self.assertEqual(r.header("Allow"), "POST")
        r = call(self.server, "PUT", API + "/jobs", {"type": "x"}, key=self.key)
        self.assertError(r, 405, "MethodNotAllowed")
        self.assertEqual(r.header("Allow"), "GET, POST")
        self.assertEqual(self.job(job_id)["status"], "queued")

    def test_bad_submissions_change_nothing(self):
        t = new_type("bad")
        before = self.queue_count("tweedle-jobs")
        cases = [
            ("not json", 400, "BadRequest"),
            ("[]", 400, "BadRequest"),
            ('"job"', 400, "BadRequest"),
            ("{}", 400, "BadRequest"),
            (json.dumps({"payload": {}}), 400, "BadRequest"),
            (json.dumps({"type": 7}), 400, "BadRequest"),
            (json.dumps({"type": ""}), 400, "BadRequest"),
            (json.dumps({"type": "a b"}), 400, "BadRequest"),
            (json.dumps({"type": "-lead"}), 400, "BadRequest"),
            (json.dumps({"type": "x" * 65}), 400, "BadRequest"),
            (json.dumps({"type": t, "payload": [1, 2]}), 400, "BadRequest"),
            (json.dumps({"type": t, "payload": "text"}), 400, "BadRequest"),
            (json.dumps({"type": t, "payload": {"blob": "x" * (256 * 1024)}}), 413, "PayloadTooLarge"),
        ]
        for raw, status, code in cases:
            with self.subTest(body=raw[:60]):
                r = call(self.server, "POST", API + "/jobs", raw=raw, key=self.key)
                self.assertError(r, status, code)
        self.assertEqual(self.count_type(t), 0)
        self.assertEqual(self.queue_count("tweedle-jobs"), before)
        # the largest body that fits is accepted
        pad = 256 * 1024 - len(json.dumps({"type": t, "payload": {"blob": ""}}))
        r = call(self.server, "POST", API + "/jobs", raw=json.dumps({"type": t, "payload": {"blob": "x" * pad}}),
                 key=self.key)
        self.assertEqual(r.status, 202, r)
        job_id = r.json()["id"]
        m = self.receive_job("tweedle-jobs", job_id)
        self.assertEqual(len(json.loads(m["Body"])["payload"]["blob"]), pad)
        self.sqs.delete_message(QueueUrl=self.queue_url("tweedle-jobs"), ReceiptHandle=m["ReceiptHandle"])


# --------------------------------------------------------------------------
# crashes and restarts (a fresh server each)
# --------------------------------------------------------------------------

class DurabilityTest(h.FreshServerTestCase):

    def list_all(self, key):
        ids, cursor = [], None
        for _ in range(1000):
            path = API + "/jobs?limit=100" + ("&cursor=" + cursor if cursor else "")
            r = call(self.server, "GET", path, key=key)
            assert r.status == 200, r
            doc = r.json()
            ids += [j["id"] for j in doc["jobs"]]
            cursor = doc["next_cursor"]
            if not cursor:
                return ids
        raise AssertionError("listing does not end")

    def drain(self, sqs, url, timeout=20.0):
        ids = []
        deadline = time.monotonic() + timeout
        idle = 0
        while time.monotonic() < deadline and idle < 2:
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       MessageAttributeNames=["All"]).get("Messages", [])
            idle = 0 if msgs else idle + 1
            for m in msgs:
                ids.append(m["MessageAttributes"]["tweedle.job_id"]["StringValue"])
                self.assertEqual(json.loads(m["Body"])["id"], ids[-1])
        return ids

    def test_kill9_keeps_every_acknowledged_job(self):
        key = make_key(self.server, ALL)
        idem_id = None
        r = call(self.server, "POST", API + "/jobs", {"type": "crash", "payload": {"first": True}}, key=key,
                 headers={"Idempotency-Key": "before-crash"})
        self.assertEqual(r.status, 202, r)
        idem_id = r.json()["id"]
        acked, lock, stop = [idem_id], threading.Lock(), threading.Event()

        def producer(n):
            i = 0
            while not stop.is_set():
                try:
                    r = call(self.server, "POST", API + "/jobs", {"type": "crash", "payload": {"p": n, "i": i}},
                             key=key, timeout=10)
                except OSError:
                    return
                if r.status == 202:
                    with lock:
                        acked.append(r.json()["id"])
                i += 1

        threads = [threading.Thread(target=producer, args=(n,), daemon=True) for n in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while len(acked) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.server.kill9()  # mid-flight
        stop.set()
        for t in threads:
            t.join(15)
        self.assertGreater(len(acked), 100)
        self.server.start()

        listed = self.list_all(key)
        self.assertEqual(len(listed), len(set(listed)))
        missing = set(acked) - set(listed)
        self.assertEqual(missing, set(), "acknowledged jobs lost")
        for job_id in acked[:20]:
            r = call(self.server, "GET", API + "/jobs/" + job_id, key=key)
            self.assertEqual((r.status, r.json()["status"]), (200, "queued"))
        sqs = self.server.client()
        queued = self.drain(sqs, self.server.queue_url("tweedle-jobs"))
        self.assertEqual(len(queued), len(set(queued)))
        # the row and its message commit together: neither exists without the other
        self.assertEqual(set(queued), set(listed))
        # the Idempotency-Key survived too
        r = call(self.server, "POST", API + "/jobs", {"type": "crash", "payload": {"first": True}}, key=key,
                 headers={"Idempotency-Key": "before-crash"})
        self.assertEqual((r.status, r.json()["id"], r.header("Idempotent-Replayed")), (202, idem_id, "true"))

    def test_transitions_and_dead_letter_survive_restart(self):
        key = make_key(self.server, ALL)
        sqs = self.server.client()
        url = self.server.queue_url("tweedle-jobs")
        a = call(self.server, "POST", API + "/jobs", {"type": "t", "payload": {}}, key=key).json()["id"]
        b = call(self.server, "POST", API + "/jobs", {"type": "t", "payload": {}}, key=key).json()["id"]
        self.assertEqual(call(self.server, "POST", "%s/jobs/%s/start" % (API, b), key=key).status, 200)
        self.assertEqual(call(self.server, "POST", "%s/jobs/%s/fail" % (API, b), {"error": "x"}, key=key).status,
                         200)
        for _ in range(3):  # a's and b's messages, received three times each
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                      WaitTimeSeconds=0).get("Messages", [])
            self.assertEqual(len(got), 2)
        self.assertEqual(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", []), [])
        self.server.kill9()
        self.server.start()
        ja = call(self.server, "GET", API + "/jobs/" + a, key=key).json()
        jb = call(self.server, "GET", API + "/jobs/" + b, key=key).json()
        self.assertEqual((ja["status"], ja["error"]), ("failed", "dead-lettered"))
        self.assertEqual((jb["status"], jb["error"], jb["attempts"]), ("failed", "x", 1))
        sqs = self.server.client()
        dlq = self.drain(sqs, self.server.queue_url("tweedle-jobs-dlq"))
        self.assertEqual(sorted(dlq), sorted([a, b]))


class ResultsBucketTest(unittest.TestCase):
    """jobs.results_bucket (TWEEDLE_JOBS_RESULTS_BUCKET): results default to
    it and must be in it."""

    def setUp(self):
        self.server = h.Server(env={"TWEEDLE_JOBS_RESULTS_BUCKET": "job-results"})
        self.server.start()

    def tearDown(self):
        self.server.cleanup()

    def test_results_bucket(self):
        key = make_key(self.server, ALL)
        s3 = s3h.s3_client(self.server)
        s3.create_bucket(Bucket="job-results")
        s3.create_bucket(Bucket="elsewhere")
        s3.put_object(Bucket="job-results", Key="a.txt", Body=b"abc")
        s3.put_object(Bucket="elsewhere", Key="a.txt", Body=b"abc")
        job_id = call(self.server, "POST", API + "/jobs", {"type": "t"}, key=key).json()["id"]
        self.assertEqual(call(self.server, "POST", "%s/jobs/%s/start" % (API, job_id), key=key).status, 200)
        r = call(self.server, "POST", "%s/jobs/%s/complete" % (API, job_id),
                 {"result": {"bucket": "elsewhere", "key": "a.txt"}}, key=key)
        self.assertEqual(r.status, 400, r)
        self.assertIn("job-results", r.json()["error"]["message"])
        r = call(self.server, "POST", "%s/jobs/%s/complete" % (API, job_id), {"result": {"key": "a.txt"}}, key=key)
        self.assertEqual(r.status, 200, r)
        res = r.json()["result"]
        self.assertEqual((res["bucket"], res["key"], res["size"]), ("job-results", "a.txt", 3))
        self.assertEqual(curl_get(res["url"]), b"abc")


if __name__ == "__main__":
    unittest.main()
