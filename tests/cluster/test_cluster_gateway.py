"""The gateway (/_/api/v1/) in cluster mode: three tweedle nodes on one private
PostgreSQL 15 and one shared blob directory.

What is asserted (issue 14; docs/gateway.md, docs/cluster.md):
* An API key created on node A works on node C at once (C reads the table on
  a miss) and is listed and readable on B; revoked on A, it is refused on B
  within 1 s (LISTEN tw_gw), and on C.
* A job submitted on A (its row and its SQS message in one PostgreSQL
  transaction) is received by a plain SQS consumer talking to B, started and
  completed through B's gateway, and polled on C with the final status and a
  presigned result URL that downloads through A.
* An Idempotency-Key used on A answers the same job on B (replayed) and 422
  for another request on C; the same key sent to all three nodes at once
  makes one job and one message.
* A transition checked on one node against a change made on another (409).
* A job whose message is dead-lettered (received maxReceiveCount times across
  nodes) is failed "dead-lettered".
* A URL presigned on one node uploads and downloads through the others.
* The access log of a request served by A is read on C.
"""

import hashlib
import json
import os
import sys
import tempfile
import threading
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pg  # noqa: E402

import gateway_harness as gw  # noqa: E402  (tests/integration, on pg's path)

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

API = "/_/api/v1"
PG = None
CLUSTER = None
CONFIG_DIR = None
MAX_RECEIVES = 2


def setUpModule():
    global PG, CLUSTER, CONFIG_DIR
    CONFIG_DIR = tempfile.mkdtemp(prefix="tweedle-gw-cfg-")
    path = os.path.join(CONFIG_DIR, "config.json")
    with open(path, "w") as f:
        json.dump({"jobs": {"max_receive_count": MAX_RECEIVES}}, f)
    PG, CLUSTER = pg.start_module(3, args=["--config", path])  # the job queues' maxReceiveCount


def tearDownModule():
    pg.stop_module(PG, CLUSTER)
    if CONFIG_DIR:
        import shutil
        shutil.rmtree(CONFIG_DIR, ignore_errors=True)


def call(node, method, path, body=None, key=None, headers=None, timeout=30):
    """A request to node with an API key (Bearer) or none."""
    return gw.bearer(node, method, path, key, body, headers, timeout)


admin = gw.admin


def make_key(node, actions, fields=None, **scope):
    s = {"actions": actions}
    s.update(scope)
    body = {"name": "k-" + uuid.uuid4().hex[:8], "scopes": [s]}
    body.update(fields or {})
    r = admin(node, "POST", "/apikeys", body)
    if r.status != 201:
        raise AssertionError("cannot create an API key: %r" % r)
    return r.json()


def client(node, service):
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                 read_timeout=30, **({"s3": {"addressing_style": "path"}} if service == "s3" else {}))
    return boto3.client(service, endpoint_url=node.endpoint, region_name=pg.harness.REGION,
                        aws_access_key_id=pg.harness.ACCESS_KEY,
                        aws_secret_access_key=pg.harness.SECRET_KEY, config=cfg)


def via(url_node, to_node):
    """curl options that send a request for url_node's address to to_node (a load balancer)."""
    return ["--connect-to", "127.0.0.1:%d:127.0.0.1:%d" % (url_node.port, to_node.port)]


def psql(sql):
    return pg.psql(PG, sql)


def wait_for(fn, timeout, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


class GatewayClusterTest(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.a, cls.b, cls.c = CLUSTER.nodes
        cls.jobs_key = make_key(cls.a, ["jobs:submit", "jobs:read", "jobs:update"])["key"]

    def bucket(self):
        name = "gw-%s" % uuid.uuid4().hex[:12]
        client(self.a, "s3").create_bucket(Bucket=name)
        return name

    def queue_url(self, node, name="tweedle-jobs"):
        return client(node, "sqs").get_queue_url(QueueName=name)["QueueUrl"]

    def receive_job(self, node, job_id, timeout=10.0, visibility=30):
        """Receives from the job queue through node until job_id's message comes (bounded)."""
        sqs = client(node, "sqs")
        url = self.queue_url(node)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                         VisibilityTimeout=visibility, MessageAttributeNames=["All"],
                                         AttributeNames=["All"]).get("Messages", []):
                if m.get("MessageAttributes", {}).get("tweedle.job_id", {}).get("StringValue") == job_id:
                    return m
                # someone else's job: let it be seen again at once
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"],
                                              VisibilityTimeout=0)
        self.fail("the message of job %s did not arrive through %s" % (job_id, node.endpoint))

    def job(self, node, job_id):
        r = call(node, "GET", "/jobs/" + job_id, key=self.jobs_key)
        self.assertEqual(r.status, 200, r)
        return r.json()

    # -- API keys ------------------------------------------------------------
    def test_key_created_on_a_used_on_c_listed_on_b(self):
        bucket = self.bucket()
        k = make_key(self.a, ["presign:get"], bucket=bucket)
        # at once, on another node (no wait for the notification)
        r = call(self.c, "POST", "/presign", {"method": "GET", "bucket": bucket, "key": "x"},
                 key=k["key"])
        self.assertEqual(r.status, 200, r)
        got = admin(self.b, "GET", "/apikeys/" + k["id"])
        self.assertEqual(got.status, 200, got)
        self.assertEqual((got.json()["name"], got.json()["status"]), (k["name"], "active"))
        listed = admin(self.b, "GET", "/apikeys")
        self.assertIn(k["id"], [x["id"] for x in listed.json()["keys"]])
        self.assertNotIn("key", listed.json()["keys"][0])
        # PostgreSQL keeps the key's SHA-256, never the key
        rows = psql("SELECT hash, prefix FROM gw_apikeys WHERE id = '%s'" % k["id"])
        self.assertEqual(rows, [[hashlib.sha256(k["key"].encode()).hexdigest(), k["key"][:10]]])
        self.assertEqual(psql("SELECT count(*) FROM gw_apikeys WHERE scopes LIKE '%%%s%%' OR name = '%s'"
                              % (k["key"][4:], k["key"])), [["0"]])
        # an unknown token is still refused everywhere
        bad = call(self.b, "POST", "/presign", {"method": "GET", "bucket": bucket, "key": "x"},
                   key="twk_" + "A" * 43)
        self.assertEqual(bad.status, 401, bad)

    def test_revoke_on_a_refused_on_b_within_1s(self):
        bucket = self.bucket()
        k = make_key(self.a, ["presign:get"], bucket=bucket)
        body = {"method": "GET", "bucket": bucket, "key": "x"}
        # B and C have the key in memory now
        for n in (self.b, self.c):
            self.assertEqual(call(n, "POST", "/presign", body, key=k["key"]).status, 200)
        r = admin(self.a, "DELETE", "/apikeys/" + k["id"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["status"], "revoked")
        t0 = time.monotonic()
        refused = wait_for(lambda: call(self.b, "POST", "/presign", body, key=k["key"]).status == 401, 1.0)
        took = time.monotonic() - t0
        self.assertTrue(refused, "a key revoked on A was still accepted on B after 1 s")
        sys.stderr.write("[revoke on A refused on B after %.0f ms] " % (took * 1000))
        # C heard the same notification (independently of B): bounded as well
        self.assertTrue(wait_for(lambda: call(self.c, "POST", "/presign", body,
                                              key=k["key"]).status == 401, 1.0),
                        "a key revoked on A was still accepted on C after 1 s")
        r = call(self.c, "POST", "/presign", body, key=k["key"])
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json()["error"]["message"], "The API key has been revoked.")
        # C shows it revoked, with A's time; revoking again on C keeps it
        again = admin(self.c, "DELETE", "/apikeys/" + k["id"])
        self.assertEqual(again.status, 200, again)
        self.assertEqual((again.json()["status"], again.json()["revoked_at"]),
                         ("revoked", r_json_revoked_at(admin(self.a, "GET", "/apikeys/" + k["id"]))))

    # -- jobs ------------------------------------------------------------------
    def test_job_submitted_on_a_run_through_b_polled_on_c(self):
        bucket = self.bucket()
        worker = make_key(self.c, ["jobs:read", "jobs:update"], bucket=bucket, prefix="out/")["key"]
        payload = {"city": "Zürich", "n": 3}
        r = call(self.a, "POST", "/jobs", {"type": "forecast", "payload": payload}, key=self.jobs_key)
        self.assertEqual(r.status, 202, r)
        job_id = r.json()["id"]
        self.assertEqual(r.json()["status"], "queued")
        # the row and its message, committed together
        rows = psql("SELECT j.status, j.queue, count(m.seq) FROM gw_jobs j LEFT JOIN sqs_messages m"
                    " ON m.attrs LIKE '%%' || j.id || '%%' WHERE j.id = '%s' GROUP BY 1, 2" % job_id)
        self.assertEqual(rows, [["queued", "tweedle-jobs", "1"]])
        # the message, through B
        m = self.receive_job(self.b, job_id)
        self.assertEqual(json.loads(m["Body"]), {"id": job_id, "type": "forecast", "payload": payload})
        self.assertEqual(m["MessageAttributes"]["tweedle.job_id"],
                         {"StringValue": job_id, "DataType": "String"})
        self.assertEqual(self.job(self.c, job_id)["status"], "queued")
        # the worker reports through B
        st = call(self.b, "POST", "/jobs/%s/start" % job_id, key=worker)
        self.assertEqual(st.status, 200, st)
        self.assertEqual((st.json()["status"], st.json()["attempts"]), ("running", 1))
        self.assertEqual(self.job(self.c, job_id)["status"], "running")
        data = json.dumps({"job": job_id}).encode()
        client(self.b, "s3").put_object(Bucket=bucket, Key="out/%s.json" % job_id, Body=data)
        done = call(self.b, "POST", "/jobs/%s/complete" % job_id,
                    {"result": {"bucket": bucket, "key": "out/%s.json" % job_id}}, key=worker)
        self.assertEqual(done.status, 200, done)
        client(self.b, "sqs").delete_message(QueueUrl=self.queue_url(self.b),
                                             ReceiptHandle=m["ReceiptHandle"])
        # polled on C: the final status, a result URL that downloads through A
        j = self.job(self.c, job_id)
        self.assertEqual((j["status"], j["attempts"], j["error"]), ("succeeded", 1, None))
        self.assertEqual((j["result"]["bucket"], j["result"]["size"]), (bucket, len(data)))
        code, body, _ = gw.curl(via(self.c, self.a) + [j["result"]["url"]])
        self.assertEqual((code, body), (200, data))
        # a finished job cannot be completed again, on any node
        again = call(self.a, "POST", "/jobs/%s/fail" % job_id, {"error": "late"}, key=worker)
        self.assertEqual(again.status, 409, again)
        self.assertEqual(self.job(self.b, job_id)["status"], "succeeded")
        # listed on every node
        for n in (self.a, self.b, self.c):
            r = call(n, "GET", "/jobs?type=forecast&limit=100", key=self.jobs_key)
            self.assertIn(job_id, [x["id"] for x in r.json()["jobs"]])

    def test_queued_job_started_elsewhere_conflicts(self):
        r = call(self.a, "POST", "/jobs", {"type": "conflict"}, key=self.jobs_key)
        job_id = r.json()["id"]
        # not started yet: B refuses to complete it
        r = call(self.b, "POST", "/jobs/%s/fail" % job_id, {"error": "x"}, key=self.jobs_key)
        self.assertEqual(r.status, 409, r)
        self.assertEqual(call(self.c, "POST", "/jobs/%s/start" % job_id, key=self.jobs_key).status, 200)
        r = call(self.a, "POST", "/jobs/%s/fail" % job_id, {"error": "boom"}, key=self.jobs_key)
        self.assertEqual(r.status, 200, r)
        j = self.job(self.b, job_id)
        self.assertEqual((j["status"], j["error"]), ("failed", "boom"))
        self.assertEqual(call(self.b, "GET", "/jobs/nope-%s" % job_id[:8], key=self.jobs_key).status, 404)
        m = self.receive_job(self.c, job_id)
        client(self.c, "sqs").delete_message(QueueUrl=self.queue_url(self.c), ReceiptHandle=m["ReceiptHandle"])

    def test_concurrent_changes_of_one_job_take_turns(self):
        """Nodes changing one job at the same instant are serialised on its
        row: concurrent starts each count an attempt of their own, and of
        concurrent finishes exactly one wins, the others answer 409."""
        job_id = call(self.a, "POST", "/jobs", {"type": "race"}, key=self.jobs_key).json()["id"]
        nodes = [self.a, self.b, self.c] * 3

        def race(path, body_of):
            out, go = [None] * len(nodes), threading.Barrier(len(nodes))

            def one(i):
                go.wait(10)
                out[i] = call(nodes[i], "POST", path, body_of(i), key=self.jobs_key)
            ths = [threading.Thread(target=one, args=(i,)) for i in range(len(nodes))]
            for t in ths:
                t.start()
            for t in ths:
                t.join(30)
            return out

        starts = race("/jobs/%s/start" % job_id, lambda i: None)
        self.assertEqual([r.status for r in starts], [200] * len(nodes), starts)
        self.assertEqual(sorted(r.json()["attempts"] for r in starts),
                         list(range(1, len(nodes) + 1)))
        self.assertEqual(self.job(self.b, job_id)["attempts"], len(nodes))
        fails = race("/jobs/%s/fail" % job_id, lambda i: {"error": "by %d" % i})
        won = [i for i, r in enumerate(fails) if r.status == 200]
        self.assertEqual(len(won), 1, [r.status for r in fails])
        self.assertEqual(sorted(r.status for r in fails), [200] + [409] * (len(nodes) - 1))
        j = self.job(self.c, job_id)
        self.assertEqual((j["status"], j["error"]), ("failed", "by %d" % won[0]))
        m = self.receive_job(self.a, job_id)
        client(self.a, "sqs").delete_message(QueueUrl=self.queue_url(self.a),
                                             ReceiptHandle=m["ReceiptHandle"])

    def test_idempotency_key_across_nodes(self):
        ikey = "idem-" + uuid.uuid4().hex
        body = {"type": "idem", "payload": {"x": 1}}
        r1 = call(self.a, "POST", "/jobs", body, key=self.jobs_key, headers={"Idempotency-Key": ikey})
        self.assertEqual(r1.status, 202, r1)
        r2 = call(self.b, "POST", "/jobs", body, key=self.jobs_key, headers={"Idempotency-Key": ikey})
        self.assertEqual(r2.status, 202, r2)
        self.assertEqual(r2.json()["id"], r1.json()["id"])
        self.assertEqual(r2.header("Idempotent-Replayed"), "true")
        r3 = call(self.c, "POST", "/jobs", {"type": "idem", "payload": {"x": 2}}, key=self.jobs_key,
                  headers={"Idempotency-Key": ikey})
        self.assertEqual(r3.status, 422, r3)
        # the same key on all three nodes at once: one job
        ikey2 = "race-" + uuid.uuid4().hex
        jtype = "race-" + uuid.uuid4().hex[:8]
        out = []

        def send(node):
            out.append(call(node, "POST", "/jobs", {"type": jtype}, key=self.jobs_key,
                            headers={"Idempotency-Key": ikey2}))

        ts = [threading.Thread(target=send, args=(n,)) for n in (self.a, self.b, self.c) * 3]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        self.assertEqual(len(out), 9)
        self.assertEqual([r.status for r in out], [202] * 9, out)
        ids = {r.json()["id"] for r in out}
        self.assertEqual(len(ids), 1, out)
        self.assertEqual(sum(1 for r in out if r.header("Idempotent-Replayed") == "true"), 8)
        listed = call(self.c, "GET", "/jobs?type=%s" % jtype, key=self.jobs_key).json()["jobs"]
        self.assertEqual([x["id"] for x in listed], list(ids))
        # and one message
        job_id = ids.pop()
        m = self.receive_job(self.b, job_id)
        client(self.b, "sqs").delete_message(QueueUrl=self.queue_url(self.b), ReceiptHandle=m["ReceiptHandle"])
        sqs = client(self.a, "sqs")
        extra = []
        for _ in range(3):
            for x in sqs.receive_message(QueueUrl=self.queue_url(self.a), MaxNumberOfMessages=10,
                                         WaitTimeSeconds=1, VisibilityTimeout=0,
                                         MessageAttributeNames=["All"]).get("Messages", []):
                if x["MessageAttributes"]["tweedle.job_id"]["StringValue"] == job_id:
                    extra.append(x)
        self.assertEqual(extra, [], "a second message for one Idempotency-Key")

    def test_dead_lettered_job_fails(self):
        r = call(self.a, "POST", "/jobs", {"type": "poison"}, key=self.jobs_key)
        job_id = r.json()["id"]
        # received maxReceiveCount times (through B, then C), never deleted
        nodes = [self.b, self.c]
        for i in range(MAX_RECEIVES):
            self.receive_job(nodes[i % 2], job_id, visibility=1)
            time.sleep(1.1)
        # a receive that finds it moves it to the dead-letter queue, in its transaction
        sqs = client(self.a, "sqs")
        url = self.queue_url(self.a)

        def failed():
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                         VisibilityTimeout=5, MessageAttributeNames=["All"]).get("Messages", []):
                if m["MessageAttributes"]["tweedle.job_id"]["StringValue"] == job_id:
                    self.fail("received a %d-th time instead of dead-lettered" % (MAX_RECEIVES + 1))
            d = self.job(self.c, job_id)
            return d if d["status"] == "failed" else None

        j = wait_for(failed, 10, 0.1)
        self.assertTrue(j, self.job(self.c, job_id))
        self.assertEqual(j["error"], "dead-lettered")
        dlq = self.queue_url(self.b, "tweedle-jobs-dlq")
        got = [m for m in client(self.b, "sqs").receive_message(
            QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1,
            MessageAttributeNames=["All"]).get("Messages", [])
            if m["MessageAttributes"]["tweedle.job_id"]["StringValue"] == job_id]
        self.assertEqual(len(got), 1)

    # -- presigned URLs, the access log ------------------------------------------
    def test_presign_on_a_put_through_b_get_through_c(self):
        bucket = self.bucket()
        k = make_key(self.b, ["presign:put", "presign:get"], bucket=bucket, prefix="in/")["key"]
        data = b"\x00cluster gateway\xff" * 100
        r = call(self.a, "POST", "/presign", {"method": "PUT", "bucket": bucket, "key": "in/x.bin",
                                              "content_type": "application/octet-stream",
                                              "content_length": len(data)}, key=k)
        self.assertEqual(r.status, 200, r)
        code, body, _ = gw.curl(via(self.a, self.b) + ["-X", "PUT", "--data-binary", "@-", "-H",
                                                 "Content-Type: application/octet-stream",
                                                 r.json()["url"]], data=data)
        self.assertEqual(code, 200, body)
        g = call(self.a, "POST", "/presign", {"method": "GET", "bucket": bucket, "key": "in/x.bin"}, key=k)
        self.assertEqual(g.status, 200, g)
        code, body, _ = gw.curl(via(self.a, self.c) + [g.json()["url"]])
        self.assertEqual((code, body), (200, data))
        self.assertEqual(client(self.c, "s3").get_object(Bucket=bucket, Key="in/x.bin")["Body"].read(), data)

    def test_one_key_one_rate_across_nodes(self):
        """A key's rate and burst hold for the cluster, not per node: its
        token bucket is in PostgreSQL."""
        bucket = self.bucket()
        k = make_key(self.a, ["presign:get"], {"rate": 0.2, "burst": 4}, bucket=bucket)["key"]
        got = [call(n, "POST", "/presign", {"method": "GET", "bucket": bucket, "key": "x"}, key=k)
               for n in (self.a, self.b, self.c) * 3]
        self.assertEqual([r.status for r in got], [200] * 4 + [429] * 5, got)
        self.assertEqual(got[-1].header("Retry-After"), "5")
        self.assertEqual(got[-1].json()["error"]["code"], "TooManyRequests")

    def test_access_log_of_a_read_on_c(self):
        since = int(time.time() * 1000) - 1
        path = "/nope-%s" % uuid.uuid4().hex[:10]
        self.assertEqual(call(self.a, "GET", path).status, 404)

        def seen():
            r = admin(self.c, "GET", "/access-log", query="since=%d&limit=1000" % since)
            self.assertEqual(r.status, 200, r)
            return [e for e in r.json()["entries"] if e["path"] == API + path]

        got = wait_for(seen, 5, 0.1)
        self.assertEqual(len(got), 1, got)
        self.assertEqual((got[0]["status"], got[0]["method"], got[0]["auth"]), (404, "GET", "none"))


def r_json_revoked_at(resp):
    return resp.json()["revoked_at"]


if __name__ == "__main__":
    unittest.main()
