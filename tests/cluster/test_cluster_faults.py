"""Faults in cluster mode under a mixed load (issue 14's fault contract).

Three tweedle nodes on one private PostgreSQL 15. Client threads, each bound
to a node, run SQS sends (single and batch), receives and deletes (single and
batch, some messages left in flight), S3 PUTs of several sizes (over and under
16 KiB), overwrites, deletes, GETs and multipart uploads, and gateway jobs
(submitted, then taken from the job queue, started and finished). Every effect is
written to a ledger: acknowledged, or "unknown" when the client got no answer
(or a 503) and the effect may or may not have happened.

- kill -9 of one node mid-load: its clients move to the other nodes; the other
  nodes keep serving (no error answers at all); afterwards nothing
  acknowledged is lost, no acknowledged delete is undone, every object reads
  back byte-identical, in-flight messages come back after their visibility
  timeout; the killed node restarts and serves, and requests written all at
  once right after a node's start (48 on open sockets, then 24 clients) find
  the connection pools ready (none answers 503).
- PostgreSQL stopped and started under the same load: while it is away every
  answer is a success or 503 in the protocol's shape (never a 500, never a
  hang beyond the client's read timeout), the nodes recover within a bound,
  the listeners are back (a send on one node wakes a poll parked on another;
  a bucket setting reaches another node), and the same ledger check holds.
"""

import hashlib
import http.client
import os
import random
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pg  # noqa: E402

import gateway_harness as gw  # noqa: E402  (tests/integration, on pg's path)

import boto3  # noqa: E402
from botocore.auth import S3SigV4Auth, SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

PG = None
CLUSTER = None
WORKERS = 6
VIS = 3  # visibility timeout of the load's receives (s): in-flight messages come back soon
READ_TIMEOUT = 10  # no request may take longer (the bound on a hang)
RECOVER_S = 15  # the nodes serve again within this after PostgreSQL is back
SIZES = (0, 100, 5000, 16 * 1024 + 1, 70000, 300000)
PART = 5 << 20  # S3's smallest part but the last
# parked polls look again every 5 s: a faster wake can only come from LISTEN
REPOLL_MS = "5000"


def setUpModule():
    global PG, CLUSTER
    why = pg.pg_missing()
    if why:
        raise unittest.SkipTest(why)
    PG = pg.PgServer().start()
    note("PostgreSQL started\n")
    # 16 HTTP threads (the default is one per core): many requests reach the
    # connection pools at once, as on a bigger machine
    CLUSTER = pg.Cluster(PG, 3, env={"TWEEDLE_PG_REPOLL_MS": REPOLL_MS,
                                     "TWEEDLE_THREADS": "16"})
    # the first creates the schema; the others start together (time)
    CLUSTER.nodes[0].start(timeout=30)
    errors = []

    def start(node):
        try:
            node.start(timeout=30)
        except Exception as e:  # noqa: BLE001 - raised below
            errors.append(e)

    ths = [threading.Thread(target=start, args=(n,)) for n in CLUSTER.nodes[1:]]
    for t in ths:
        t.start()
    for t in ths:
        t.join(60)
    if errors:
        raise errors[0]
    note("nodes started\n")


def tearDownModule():
    if CLUSTER:
        CLUSTER.stop()
    if PG:
        PG.stop()


T0 = time.monotonic()


def note(msg):
    sys.stderr.write("[faults %5.1f s] %s" % (time.monotonic() - T0, msg))


def _cfg(**kw):
    return Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=2,
                  read_timeout=READ_TIMEOUT, max_pool_connections=32, **kw)


_CLIENTS, _CLIENTS_LOCK = {}, threading.Lock()


def _client(kind, node):
    """One client per service and node, shared by the threads (botocore
    clients are thread-safe; making one costs a lot of CPU here)."""
    with _CLIENTS_LOCK:
        k = (kind, node.port)
        if k not in _CLIENTS:
            extra = {"s3": {"addressing_style": "path"}} if kind == "s3" else {}
            _CLIENTS[k] = boto3.session.Session().client(
                kind, endpoint_url=node.endpoint, region_name=pg.harness.REGION,
                aws_access_key_id=pg.harness.ACCESS_KEY,
                aws_secret_access_key=pg.harness.SECRET_KEY, config=_cfg(**extra))
        return _CLIENTS[k]


def sqs_of(node):
    return _client("sqs", node)


def s3_of(node):
    return _client("s3", node)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def md5(b):
    return hashlib.md5(b).hexdigest()


def signed_bytes(node, service, method, path, body=b"", headers=None):
    """One signed HTTP/1.1 request as bytes, to be written later all at once."""
    h = dict(headers or {})
    if service == "s3":
        h["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    req = AWSRequest(method=method, url=node.endpoint + path, data=body, headers=h)
    auth = S3SigV4Auth if service == "s3" else SigV4Auth
    auth(Credentials(pg.harness.ACCESS_KEY, pg.harness.SECRET_KEY), service,
         pg.harness.REGION).add_auth(req)
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1:%d" % node.port,
             "Content-Length: %d" % len(body), "Connection: close"]
    lines += ["%s: %s" % (k, v) for k, v in req.headers.items() if k.lower() != "host"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def status_of_raw(sock):
    """The status code of the answer on sock (read to its end, bounded by the
    socket's timeout), or None without one."""
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    parts = data.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


class HttpError(Exception):
    """An error answer of the job API (not an AWS protocol)."""

    def __init__(self, status, code):
        super().__init__("%s %s" % (status, code))
        self.status, self.code = status, code


class Outcome:
    """How one request ended: ok, an HTTP error answer, or no answer (conn)."""

    def __init__(self, exc=None):
        self.kind, self.status, self.code = "ok", 200, None
        if exc is None:
            return
        if isinstance(exc, HttpError):
            self.kind, self.status = "http", exc.status
            self.code = "ServiceUnavailable" if exc.status == 503 else exc.code
        elif isinstance(exc, ClientError):
            self.kind = "http"
            self.status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            self.code = exc.response.get("Error", {}).get("Code")
        else:  # connection refused or reset, read timeout, a body cut short
            self.kind, self.status, self.code = "conn", None, type(exc).__name__

    @property
    def ok(self):
        return self.kind == "ok"

    @property
    def unavailable(self):
        """503 in the protocol's shape (the code parsed from JSON or XML)."""
        return self.kind == "http" and self.status == 503 and self.code in (
            "ServiceUnavailable", "SlowDown")

    def __repr__(self):
        return "%s/%s/%s" % (self.kind, self.status, self.code)


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.jobs = set()  # ids of acknowledged job submissions
        self.jobs_done = set()  # ids whose final status change was acknowledged
        self.sent = {}  # body -> (message id, md5) acknowledged
        self.maybe_sent = set()  # bodies of sends without an answer
        self.valid_deletes = set()  # bodies whose delete was acknowledged before the handle expired
        self.maybe_deleted = set()  # deletes without an answer, or acknowledged too late to tell
        self.received = {}  # body -> receives seen by the load (for the diagnosis)
        self.last_receive = 0.0  # monotonic time of the last receive of the load
        self.keys = {}  # key -> [(state, acked)], state: sha256 of the body or None (deleted)
        self.ops = []  # (t0, t1, node index, op name, Outcome)
        self.bad = []  # answers the contract forbids, with the reason

    def op(self, t0, node, name, out):
        with self.lock:
            self.ops.append((t0, time.monotonic(), node, name, out))

    def key_op(self, key, state, acked):
        with self.lock:
            self.keys.setdefault(key, []).append((state, acked))

    def possible(self, key):
        """States the key may be in: the last acknowledged one's, or any later unknown one's."""
        hist = self.keys.get(key, [])
        last = max([i for i, (_, a) in enumerate(hist) if a], default=-1)
        base = {hist[last][0]} if last >= 0 else {None}
        return base | {s for s, _ in hist[last + 1:]}


class Worker(threading.Thread):
    """One client: a node it talks to (the next live one when it gets no
    answer), its own S3 keys, the shared queue and bucket."""

    def __init__(self, wid, ledger, queue, bucket, stop, node, rng_seed):
        super().__init__(daemon=True)
        self.wid, self.ld, self.queue, self.bucket, self.stop = wid, ledger, queue, bucket, stop
        self.node = node
        self.rng = random.Random(rng_seed)
        self.n = 0
        self.error = None

    def cl(self, kind):
        node = CLUSTER.nodes[self.node]
        return sqs_of(node) if kind == "sqs" else s3_of(node)

    def url(self):
        return CLUSTER.nodes[self.node].queue_url(self.queue)

    def call(self, name, fn):
        """Runs fn(); returns (result, Outcome) and moves on to another node
        when this one gave no answer."""
        node, t0 = self.node, time.monotonic()
        try:
            res, out = fn(), Outcome()
        except Exception as e:  # noqa: BLE001 - classified
            res, out = None, Outcome(e)
        self.ld.op(t0, node, name, out)
        if out.kind == "conn":
            self.node = (self.node + 1) % len(CLUSTER.nodes)
        elif not out.ok and not out.unavailable:
            with self.ld.lock:
                self.ld.bad.append("%s on node %d: %r" % (name, node, out))
        return res, out

    def body(self, size):
        self.n += 1
        head = "w%d-%d-" % (self.wid, self.n)
        return head + "x" * max(0, size - len(head))

    # -- SQS ------------------------------------------------------------------
    def send(self):
        b = self.body(self.rng.choice((10, 200, 3000)))
        r, out = self.call("send", lambda: self.cl("sqs").send_message(QueueUrl=self.url(),
                                                                        MessageBody=b))
        with self.ld.lock:
            if out.ok:
                self.ld.sent[b] = (r["MessageId"], r["MD5OfMessageBody"])
            else:
                self.ld.maybe_sent.add(b)

    def send_batch(self):
        bodies = {"e%d" % i: self.body(self.rng.choice((10, 500))) for i in range(
            self.rng.randint(2, 10))}
        r, out = self.call("send_batch", lambda: self.cl("sqs").send_message_batch(
            QueueUrl=self.url(), Entries=[{"Id": k, "MessageBody": v} for k, v in bodies.items()]))
        with self.ld.lock:
            done = set()
            for e in (r or {}).get("Successful", []):
                self.ld.sent[bodies[e["Id"]]] = (e["MessageId"], e["MD5OfMessageBody"])
                done.add(e["Id"])
            for k, v in bodies.items():
                if k not in done:
                    self.ld.maybe_sent.add(v)
            if r and r.get("Failed"):
                self.ld.bad.append("send_batch entries failed: %r" % r["Failed"])

    def receive_delete(self):
        t0 = time.monotonic()
        r, out = self.call("receive", lambda: self.cl("sqs").receive_message(
            QueueUrl=self.url(), MaxNumberOfMessages=10, VisibilityTimeout=VIS,
            WaitTimeSeconds=self.rng.choice((0, 0, 1))))
        ms = (r or {}).get("Messages", [])
        with self.ld.lock:
            self.ld.last_receive = max(self.ld.last_receive, time.monotonic())
            for m in ms:
                self.ld.received[m["Body"]] = self.ld.received.get(m["Body"], 0) + 1
        # some stay in flight: they must come back after VIS
        ms = [m for m in ms if self.rng.random() >= 0.15]
        if not ms:
            return
        if self.rng.random() < 0.5:
            for m in ms:
                _, o = self.call("delete", lambda: self.cl("sqs").delete_message(
                    QueueUrl=self.url(), ReceiptHandle=m["ReceiptHandle"]))
                with self.ld.lock:
                    if o.ok and time.monotonic() < t0 + VIS:
                        self.ld.valid_deletes.add(m["Body"])
                    else:
                        self.ld.maybe_deleted.add(m["Body"])
        else:
            ids = {"d%d" % i: m for i, m in enumerate(ms)}
            r, o = self.call("delete_batch", lambda: self.cl("sqs").delete_message_batch(
                QueueUrl=self.url(), Entries=[{"Id": k, "ReceiptHandle": m["ReceiptHandle"]}
                                              for k, m in ids.items()]))
            in_time = time.monotonic() < t0 + VIS
            with self.ld.lock:
                ok = {e["Id"] for e in (r or {}).get("Successful", [])} if in_time else set()
                for k, m in ids.items():
                    (self.ld.valid_deletes if k in ok else self.ld.maybe_deleted).add(m["Body"])
                if r and r.get("Failed"):
                    self.ld.bad.append("delete_batch entries failed: %r" % r["Failed"])

    # -- gateway jobs ------------------------------------------------------------
    def gw_call(self, name, method, path, body=None):
        """A job API request: (JSON answer or None, Outcome). 409 is an answer
        the load expects (a redelivered job someone already moved on)."""
        def fn():
            r = gw.bearer(CLUSTER.nodes[self.node], method, path, self.ld.job_key, body,
                          timeout=READ_TIMEOUT)
            if r.status >= 300 and r.status != 409:
                code = None
                try:
                    code = r.json().get("code") or r.json().get("error", {}).get("code")
                except Exception:  # noqa: BLE001 - not JSON
                    pass
                raise HttpError(r.status, code or str(r.status))
            return r.json() if r.status < 300 else None
        return self.call(name, fn)

    def submit_job(self):
        r, out = self.gw_call("job_submit", "POST", "/jobs",
                              {"type": self.ld.job_type, "payload": {"w": self.wid, "n": self.n}})
        self.n += 1
        if out.ok and r:
            with self.ld.lock:
                self.ld.jobs.add(r["id"])

    def run_jobs(self):
        """A job worker's round: take messages from the job queue, start and
        finish their jobs, delete the messages."""
        url = CLUSTER.nodes[self.node].queue_url("tweedle-jobs")
        r, out = self.call("job_receive", lambda: self.cl("sqs").receive_message(
            QueueUrl=url, MaxNumberOfMessages=5, VisibilityTimeout=VIS,
            MessageAttributeNames=["All"]))
        for m in (r or {}).get("Messages", []):
            jid = m.get("MessageAttributes", {}).get("tweedle.job_id", {}).get("StringValue")
            if not jid or jid not in self.ld.jobs:
                continue  # another load's job: its visibility runs out
            _, o = self.gw_call("job_start", "POST", "/jobs/%s/start" % jid)
            if not o.ok:
                continue
            done, o = self.gw_call("job_finish", "POST", "/jobs/%s/fail" % jid,
                                   {"error": "finished by worker %d" % self.wid})
            if o.ok and done:
                with self.ld.lock:
                    self.ld.jobs_done.add(jid)
            self.call("job_delete", lambda: self.cl("sqs").delete_message(
                QueueUrl=url, ReceiptHandle=m["ReceiptHandle"]))

    # -- S3 -------------------------------------------------------------------
    def key(self):
        return "w%d/k%d" % (self.wid, self.rng.randrange(6))

    def put(self):
        k, data = self.key(), os.urandom(self.rng.choice(SIZES))
        r, out = self.call("put", lambda: self.cl("s3").put_object(Bucket=self.bucket, Key=k,
                                                                    Body=data))
        if out.ok and r["ETag"] != '"%s"' % md5(data):
            with self.ld.lock:
                self.ld.bad.append("put %s: ETag %s for %s" % (k, r["ETag"], md5(data)))
        self.ld.key_op(k, sha(data), out.ok)

    def delete_object(self):
        k = self.key()
        _, out = self.call("delete_object", lambda: self.cl("s3").delete_object(
            Bucket=self.bucket, Key=k))
        self.ld.key_op(k, None, out.ok)

    def get(self):
        k = self.key()
        with self.ld.lock:
            want = self.ld.possible(k)

        def fn():
            try:
                return sha(self.cl("s3").get_object(Bucket=self.bucket, Key=k)["Body"].read())
            except ClientError as e:
                if e.response["Error"]["Code"] == "NoSuchKey":
                    return None
                raise
        got, out = self.call("get", fn)
        if out.ok and got not in want:
            with self.ld.lock:
                self.ld.bad.append("get %s read %s, expected one of %s" % (k, got, want))

    def multipart(self):
        k = self.key()
        parts = [os.urandom(PART) for _ in range(self.rng.randint(1, 2))]
        parts.append(os.urandom(self.rng.choice((1, 20000))))
        s3 = lambda: self.cl("s3")  # noqa: E731 - the current node's client
        r, out = self.call("mpu_create", lambda: s3().create_multipart_upload(
            Bucket=self.bucket, Key=k))
        if not out.ok:
            return
        uid, done = r["UploadId"], []
        for i, p in enumerate(parts, 1):
            r, out = self.call("mpu_part", lambda: s3().upload_part(
                Bucket=self.bucket, Key=k, UploadId=uid, PartNumber=i, Body=p))
            if not out.ok:
                return  # abandoned: the object is not written
            done.append({"PartNumber": i, "ETag": r["ETag"]})
        r, out = self.call("mpu_complete", lambda: s3().complete_multipart_upload(
            Bucket=self.bucket, Key=k, UploadId=uid, MultipartUpload={"Parts": done}))
        self.ld.key_op(k, sha(b"".join(parts)), out.ok)

    def run(self):
        ops = [(self.send, 5), (self.send_batch, 2), (self.receive_delete, 6), (self.put, 5),
               (self.delete_object, 1), (self.get, 2), (self.multipart, 0.3),
               (self.submit_job, 2.5), (self.run_jobs, 1.5)]
        fns, weights = [f for f, _ in ops], [w for _, w in ops]
        try:
            while not self.stop.is_set():
                self.rng.choices(fns, weights)[0]()
        except Exception as e:  # noqa: BLE001 - a bug in the test itself
            self.error = repr(e)


class MixedLoad:
    """WORKERS threads on random nodes, one queue, one bucket, one ledger."""

    def __init__(self, tag):
        self.ledger = Ledger()
        suffix = "%d-%d" % (os.getpid(), int(time.time() * 1000) % 10**8)
        self.queue, self.bucket = "%s-%s" % (tag, suffix), "%s-%s" % (tag, suffix)
        a = CLUSTER.nodes[0]
        sqs_of(a).create_queue(QueueName=self.queue)
        s3_of(a).create_bucket(Bucket=self.bucket)
        self.ledger.job_type = "%s-%s" % (tag, suffix)
        self.ledger.job_key = gw.create_key(a, name=self.ledger.job_type, scopes=[
            {"actions": ["jobs:submit", "jobs:read", "jobs:update"]}])["key"]
        self.stop = threading.Event()
        seed = random.randrange(1 << 30)
        note("%s: seed %d\n" % (tag, seed))
        rng = random.Random(seed)
        first = rng.randrange(len(CLUSTER.nodes))  # two workers a node
        self.workers = [Worker(i, self.ledger, self.queue, self.bucket, self.stop,
                               (first + i) % len(CLUSTER.nodes), rng.randrange(1 << 30))
                        for i in range(WORKERS)]

    def start(self):
        for w in self.workers:
            w.start()

    def finish(self):
        self.stop.set()
        for w in self.workers:
            w.join(READ_TIMEOUT * 4 + 10)
        return [w.wid for w in self.workers if w.is_alive()], [w.error for w in self.workers
                                                                 if w.error]

    def counts(self, since=0.0, node=None):
        out = {}
        for t0, _, n, name, o in list(self.ledger.ops):
            if t0 >= since and (node is None or n == node):
                out[repr(o) if not o.ok else "ok"] = out.get(repr(o) if not o.ok else "ok", 0) + 1
        return out


def acked(load):
    return sum(1 for o in list(load.ledger.ops) if o[4].ok)


def wait_acked(load, n, timeout=20):
    """Until n more operations were acknowledged (bounded)."""
    n += acked(load)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if acked(load) >= n:
            return True
        time.sleep(0.05)
    return False


class Faults(unittest.TestCase):
    def check_ledger(self, load, node):
        """Drains the queue through node and reads every key back."""
        ld = load.ledger
        sqs, s3 = sqs_of(node), s3_of(node)
        url = node.queue_url(load.queue)
        expected = set(ld.sent) - ld.valid_deletes - ld.maybe_deleted
        allowed = (set(ld.sent) | ld.maybe_sent) - ld.valid_deletes
        seen, resurrected, phantom = {}, [], []
        # messages left in flight come back VIS after their last receive
        settle = ld.last_receive + VIS + 1.5
        deadline = time.monotonic() + VIS + 25
        empty = 0
        while time.monotonic() < deadline:
            ms = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                     AttributeNames=["All"]).get("Messages", [])
            for m in ms:
                b = m["Body"]
                if b in ld.valid_deletes:
                    resurrected.append(b)
                elif b not in allowed or b in seen:
                    phantom.append(b)
                elif b in ld.sent:
                    self.assertEqual((m["MessageId"], m["MD5OfBody"]), ld.sent[b], b)
                seen[b] = m["MessageId"]
            if ms:
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(ms)])
                empty = 0
                continue
            empty += 1
            if expected <= set(seen) and time.monotonic() > settle and empty >= 2:
                break
            time.sleep(0.2)
        lost = expected - set(seen)
        note("queue: %d sends acknowledged, %d unknown, %d deletes "
                         "acknowledged, %d unknown, %d drained, %d lost, %d resurrected\n"
                         % (len(ld.sent), len(ld.maybe_sent), len(ld.valid_deletes),
                            len(ld.maybe_deleted - ld.valid_deletes), len(seen), len(lost),
                            len(resurrected)))
        self.assertEqual([(b[:12], ld.received.get(b, 0)) for b in sorted(lost)][:10], [],
                         "acknowledged messages lost (body, receives by the load)")
        self.assertEqual(resurrected[:10], [], "messages whose delete was acknowledged came back")
        self.assertEqual(phantom[:10], [], "messages never sent, or drained twice")
        self.assertGreater(len(ld.sent), 50, "too few sends acknowledged to mean anything")
        self.assertGreater(len(ld.valid_deletes), 20, "too few deletes acknowledged")
        # objects: the last acknowledged write of each key, or a later unknown one
        present, wrong = set(), []
        for k in sorted(ld.keys):
            try:
                got = sha(s3.get_object(Bucket=load.bucket, Key=k)["Body"].read())
                present.add(k)
            except ClientError as e:
                self.assertEqual(e.response["Error"]["Code"], "NoSuchKey", k)
                got = None
            if got not in ld.possible(k):
                wrong.append((k, got, ld.possible(k)))
        listed = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=load.bucket):
            listed |= {o["Key"] for o in page.get("Contents", [])}
        acked_puts = sum(1 for h in ld.keys.values() for s, a in h if a and s)
        acked_dels = sum(1 for h in ld.keys.values() for s, a in h if a and not s)
        note("bucket: %d keys, %d PUTs/completes and %d deletes "
                         "acknowledged, %d present\n" % (len(ld.keys), acked_puts, acked_dels,
                                                         len(present)))
        self.assertEqual(wrong, [], "objects not as acknowledged")
        self.assertEqual(listed, present, "the listing disagrees with the objects")
        self.assertGreater(acked_puts, 20, "too few PUTs acknowledged to mean anything")
        self.check_jobs(load, node)

    def check_jobs(self, load, node):
        """Every acknowledged job exists on node; one whose finish was
        acknowledged is failed (the load's finish); every other one is
        finished, or its message is still in the job queue (each job row and
        its message were committed together)."""
        ld = load.ledger
        status, missing = {}, []
        for jid in sorted(ld.jobs):
            r = gw.bearer(node, "GET", "/jobs/" + jid, ld.job_key)
            if r.status != 200:
                missing.append((jid, r.status))
            else:
                status[jid] = r.json()["status"]
        self.assertEqual(missing, [], "acknowledged jobs lost")
        undone = [j for j in ld.jobs_done if status.get(j) != "failed"]
        self.assertEqual(undone, [], "acknowledged finishes undone")
        waiting = {j for j, st in status.items() if st in ("queued", "running")}
        sqs, url = sqs_of(node), node.queue_url("tweedle-jobs")
        seen, deadline = set(), time.monotonic() + VIS + 20
        while waiting - seen and time.monotonic() < deadline:
            ms = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                     WaitTimeSeconds=1, MessageAttributeNames=["All"]
                                     ).get("Messages", [])
            for m in ms:
                seen.add(m.get("MessageAttributes", {}).get("tweedle.job_id", {})
                         .get("StringValue"))
        note("jobs: %d submissions acknowledged, %d finishes acknowledged, %d still waiting, "
             "their messages found: %d\n" % (len(ld.jobs), len(ld.jobs_done), len(waiting),
                                              len(waiting & seen)))
        self.assertEqual(sorted(waiting - seen)[:10], [], "waiting jobs without their message")
        self.assertGreater(len(ld.jobs), 10, "too few jobs acknowledged to mean anything")

    def test_kill9_one_node_under_mixed_load(self):
        load = MixedLoad("fkill")
        victim = 2
        load.start()
        try:
            self.assertTrue(wait_acked(load, 150), "the load did not get going")
            t_kill = time.monotonic()
            CLUSTER.nodes[victim].kill9()
            note("node %d killed after %d operations\n"
                             % (victim, len(load.ledger.ops)))
            self.assertTrue(wait_acked(load, 150), "the other nodes did not keep serving")
        finally:
            stuck, errors = load.finish()
        try:
            self.assertEqual(stuck, [], "workers hung")
            self.assertEqual(errors, [])
            after = load.counts(since=t_kill)
            note("after the kill: %r\n" % after)
            # the survivors answered everything: no error answer at all
            self.assertEqual(load.ledger.bad, [])
            for n in range(len(CLUSTER.nodes)):
                if n != victim:
                    c = load.counts(since=t_kill, node=n)
                    self.assertEqual(set(c), {"ok"}, "node %d: %r" % (n, c))
            self.assertGreater(after.get("ok", 0), 150)
            moved = sum(1 for _, _, n, _, o in load.ledger.ops if n == victim and o.kind == "conn")
            self.assertGreater(moved, 0, "no client was talking to the killed node")
            self.check_ledger(load, CLUSTER.nodes[0])
        finally:
            CLUSTER.nodes[victim].start(timeout=30)
            note("victim started\n")
        # the restarted node serves: a queue and an object written before the kill
        node = CLUSTER.nodes[victim]
        sqs_of(node).send_message(QueueUrl=node.queue_url(load.queue), MessageBody="back")
        got = sqs_of(node).receive_message(QueueUrl=node.queue_url(load.queue),
                                           WaitTimeSeconds=2).get("Messages", [])
        self.assertEqual([m["Body"] for m in got], ["back"])
        s3 = s3_of(node)
        for k in sorted(load.ledger.keys):
            want = load.ledger.possible(k)
            if len(want) == 1 and None not in want:
                self.assertEqual(sha(s3.get_object(Bucket=load.bucket, Key=k)["Body"].read()),
                                 next(iter(want)), k)
        self.burst_right_after_start(node, load)

    def raw_burst_right_after_start(self, node, load, n=48):
        """n requests written at once on n open sockets to a node that has
        just started (SQS sends, receives and attributes; S3 GETs): none
        finds PostgreSQL "unavailable" (the pool is connected at start, and
        a request waits for a free connection rather than fail)."""
        import json
        import socket
        url = node.queue_url(load.queue)
        reqs = []
        for i in range(n):
            kind = i % 4
            if kind == 3:
                reqs.append(signed_bytes(node, "s3", "GET", "/%s/burst-raw" % load.bucket))
                continue
            action, payload = [("SendMessage", {"QueueUrl": url, "MessageBody": "raw-%d" % i}),
                               ("ReceiveMessage", {"QueueUrl": url, "VisibilityTimeout": 60}),
                               ("GetQueueAttributes", {"QueueUrl": url,
                                                       "AttributeNames": ["All"]})][kind]
            reqs.append(signed_bytes(node, "sqs", "POST", "/", json.dumps(payload).encode(), {
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": "AmazonSQS." + action}))
        socks = []
        try:
            for _ in range(n):
                socks.append(socket.create_connection(("127.0.0.1", node.port), timeout=15))
            t0 = time.monotonic()
            for sk, r in zip(socks, reqs):
                sk.sendall(r)
            got = [status_of_raw(sk) for sk in socks]
        finally:
            for sk in socks:
                sk.close()
        note("%d requests at once right after a start: %r in %.2f s\n"
                         % (n, {c: got.count(c) for c in set(got)}, time.monotonic() - t0))
        self.assertEqual(got, [200] * n)

    def burst_right_after_start(self, node, load):
        """Many concurrent clients' first requests to a node that has just
        started: sends, PUTs, GETs, all answered."""
        results, lock = [], threading.Lock()
        go = threading.Barrier(25)

        def one(i):
            sq, s3 = sqs_of(node), s3_of(node)
            try:
                go.wait(60)
            except threading.BrokenBarrierError:  # the test failed before the burst
                return
            t0 = time.monotonic()
            for name, fn in (("send", lambda: sq.send_message(
                    QueueUrl=node.queue_url(load.queue), MessageBody="burst-%d" % i)),
                    ("put", lambda: s3.put_object(Bucket=load.bucket, Key="burst/%d" % i,
                                                  Body=b"b" * i)),
                    ("get", lambda: s3.get_object(Bucket=load.bucket, Key="burst/%d" % i))):
                try:
                    fn()
                    o = Outcome()
                except Exception as e:  # noqa: BLE001 - classified
                    o = Outcome(e)
                with lock:
                    results.append((name, o, time.monotonic() - t0))

        ths = [threading.Thread(target=one, args=(i,)) for i in range(24)]
        for t in ths:  # their clients made
            t.start()
        try:
            s3_of(node).put_object(Bucket=load.bucket, Key="burst-raw", Body=b"raw")
            note("stop: %r\n" % (node.stop(),))
            node.start(timeout=30)
            note("started\n")
            self.raw_burst_right_after_start(node, load)
            note("stop: %r\n" % (node.stop(),))
            node.start(timeout=30)
            note("started\n")
        except BaseException:
            go.abort()
            raise
        go.wait(60)  # and all at once
        for t in ths:
            t.join(60)
        self.assertFalse(any(t.is_alive() for t in ths))
        bad = [(n, o) for n, o, _ in results if not o.ok]
        note("burst of 24 clients right after a start: %d requests, %d "
                         "failed, slowest %.2f s\n" % (len(results), len(bad),
                                                      max(d for _, _, d in results)))
        self.assertEqual(len(results), 72)
        self.assertEqual(bad, [])

    def test_postgres_restart_under_mixed_load(self):
        load = MixedLoad("fpg")
        a, b = CLUSTER.nodes[0], CLUSTER.nodes[1]
        load.start()
        t_down = t_up = None
        recovered = {}
        try:
            clients = [(sqs_of(n), s3_of(n)) for n in CLUSTER.nodes]
            self.assertTrue(wait_acked(load, 150), "the load did not get going")
            t_down = time.monotonic()
            PG._stop_postgres()
            time.sleep(2.0)  # away under load
            t_back = time.monotonic()
            PG._start_postgres()
            t_up = time.monotonic()
            # every node serves again, SQS and S3, within a bound
            deadline = t_up + RECOVER_S

            def probe(i, node, sq, s3):
                while time.monotonic() < deadline and i not in recovered:
                    try:
                        body = "probe-%d-%.3f" % (i, time.monotonic())
                        with load.ledger.lock:
                            load.ledger.maybe_sent.add(body)
                        r = sq.send_message(QueueUrl=node.queue_url(load.queue), MessageBody=body)
                        with load.ledger.lock:
                            load.ledger.sent[body] = (r["MessageId"], r["MD5OfMessageBody"])
                        s3.put_object(Bucket=load.bucket, Key="probe/%d" % i, Body=b"p")
                        load.ledger.key_op("probe/%d" % i, sha(b"p"), True)
                        recovered[i] = time.monotonic() - t_up
                    except Exception:  # noqa: BLE001 - still recovering
                        time.sleep(0.1)

            probes = [threading.Thread(target=probe, args=(i, n) + clients[i])
                      for i, n in enumerate(CLUSTER.nodes)]
            for t in probes:
                t.start()
            for t in probes:
                t.join(RECOVER_S + READ_TIMEOUT + 5)
            note("PostgreSQL away %.1f s (restart took %.1f s); nodes "
                             "serve again %s s after it is back\n"
                             % (t_up - t_down, t_up - t_back,
                                {k: round(v, 2) for k, v in recovered.items()}))
            self.assertTrue(wait_acked(load, 100), "the load did not go on after the restart")
        finally:
            stuck, errors = load.finish()
        self.assertEqual(stuck, [], "workers hung")
        self.assertEqual(errors, [])
        self.assertEqual(sorted(recovered), [0, 1, 2], "nodes did not recover within %d s"
                         % RECOVER_S)
        during = load.counts(since=t_down)
        slowest = max(t1 - t0 for t0, t1, _, _, _ in load.ledger.ops if t0 >= t_down)
        note("from the stop on: %r, slowest answer %.2f s\n"
                         % (during, slowest))
        # only successes and 503s in the protocol's shape, no dropped connection
        self.assertEqual(load.ledger.bad, [])
        for _, t1, n, name, o in load.ledger.ops:
            self.assertNotEqual(o.kind, "conn", "%s on node %d: no answer (%r)" % (name, n, o))
        self.assertGreater(sum(1 for t0, _, _, _, o in load.ledger.ops
                               if o.unavailable and t0 >= t_down), 0, "no 503 while away?")
        # after recovery nothing answers 503 any more
        late = [(name, n, o) for t0, _, n, name, o in load.ledger.ops
                if t0 > t_up + max(recovered.values()) + 1 and not o.ok]
        self.assertEqual(late, [])
        self.check_ledger(load, a)
        # the listeners are back: a send on A wakes a poll parked on B; a
        # bucket setting made on A reaches B
        url_b = b.queue_url(load.queue)
        res = {}

        def poll():
            r = sqs_of(b).receive_message(QueueUrl=url_b, WaitTimeSeconds=10)
            res["t"], res["m"] = time.monotonic(), r.get("Messages", [])

        th = threading.Thread(target=poll)
        th.start()
        time.sleep(1.0)
        t0 = time.monotonic()
        sqs_of(a).send_message(QueueUrl=a.queue_url(load.queue), MessageBody="wake")
        th.join(15)
        self.assertFalse(th.is_alive())
        self.assertEqual([m["Body"] for m in res["m"]], ["wake"])
        self.assertLess(res["t"] - t0, 2.0, "woken by the re-poll, not a notification")
        s3_of(a).put_bucket_cors(Bucket=load.bucket, CORSConfiguration={"CORSRules": [{
            "AllowedOrigins": ["https://f.example"], "AllowedMethods": ["GET"]}]})
        pre = {"Origin": "https://f.example", "Access-Control-Request-Method": "GET"}
        deadline, ok = time.monotonic() + 5, False
        while time.monotonic() < deadline and not ok:
            c = http.client.HTTPConnection("127.0.0.1", b.port, timeout=5)
            c.request("OPTIONS", "/%s/k" % load.bucket, headers=pre)
            ok = c.getresponse().status == 200
            c.close()
            time.sleep(0.05)
        self.assertTrue(ok, "a CORS change on A did not reach B after the restart")


if __name__ == "__main__":
    unittest.main(verbosity=2)
