"""kill -9 torture: mixed load, SIGKILL at a random moment, restart, and every
acknowledged effect checked -- round after round on one data directory.

Each round, client threads (boto3 and raw HTTP, one attempt, no retries) run
for about TORTURE_SECONDS against one server:

* SQS standard queue: SendMessage / SendMessageBatch; receives whose
  messages are deleted (single, batch, or the same DeleteMessage sent twice
  concurrently), hidden with ChangeMessageVisibility(60 s), or left in
  flight; and, after the first restart, DeleteMessage /
  ChangeMessageVisibility with receipt handles of messages deleted before
  an earlier restart (they must never touch a new message).
* SQS FIFO queue: SendMessage with an explicit MessageDeduplicationId,
  sometimes the same send twice concurrently.
* CreateQueue of a new name twice concurrently.
* S3 (bucket with ObjectCreated:* -> SQS notifications): PUT, overwrite races
  on shared keys, multipart upload (create, 2 parts, complete), CopyObject,
  DeleteObject.
* Gateway jobs: POST /jobs, sometimes twice concurrently under one
  Idempotency-Key.

Rounds run with the store's test-only commit delay (TWEEDLE_TEST_FAULTS,
TORTURE_COMMIT_DELAYS_MS, default 0,50,20 ms in turn) to act like a slow disk.
Then SIGKILL, restart on the same data directory, and the ledger is checked:
acknowledged sends exist (exactly once, same MessageId and SequenceNumber for
FIFO), acknowledged deletes stay deleted, acknowledged visibility changes
hold, no receipt handle is ever given to two messages, FIFO SequenceNumbers
only grow across restarts, acknowledged CreateQueue exists, every S3 key is in
a state some allowed write left it in (an acknowledged write is only replaced
by a write that was not acknowledged before it started), no partial body,
every acknowledged S3 write has its event, every acknowledged job exists with
its message.  Once everything is drained the server is restarted idle
(SIGTERM and kill -9 in turn), where sequence numbers and receipt handles of
deleted messages could come back.  After the last round: nothing in
blobs/tmp and exactly one blob file per blob the database references.

TORTURE_ROUNDS (default 3), TORTURE_SECONDS (default 2) and TORTURE_SEED set
the run; `TORTURE_ROUNDS=30 python3 tests/integration/run.py -k test_torture`
is the long run.  Per-round figures and a summary line go to stderr.

SlowCommitReproTest: deterministic reproductions of issue 9 with the store's
test-only hook (TWEEDLE_TEST_FAULTS=<dir>: commit-delay-ms, fail-commits):
the same DeleteMessage / DeleteMessageBatch / FIFO send / CreateQueue twice
at once, kill -9 at the second answer; receipt handles and FIFO
SequenceNumbers after SIGTERM and kill -9 restarts; S3 answers after a failed
commit; orphaned bodies after concurrent PUTs of one key; temp files and
uncommitted bodies after a crash.
"""

import collections
import concurrent.futures
import hashlib
import http.client
import json
import os
import random
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import uuid

import harness as h
import s3_harness as s

ROUNDS = int(os.environ.get("TORTURE_ROUNDS", "3"))
SECONDS = float(os.environ.get("TORTURE_SECONDS", "2.0"))
SEED = os.environ.get("TORTURE_SEED")
# commit delay (test fault hook) of round 1, 2, 3, ...: a slow disk widens the
# window between a request's answer and its commit
DELAYS = [int(x) for x in os.environ.get("TORTURE_COMMIT_DELAYS_MS", "0,50,20").split(",")]
VIS = 2            # VisibilityTimeout of the standard queue (seconds)
HIDE = 60          # ChangeMessageVisibility that hides a message past the round
SURE = 0.6 * VIS   # a delete/hide acknowledged this soon after its receive began is certain
PART = 5 * 1024 * 1024
API = "/_/api/v1"
JOBS_QUEUE = "tweedle-jobs"
mono = time.monotonic


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def short(x, n=24):
    x = str(x)
    return x if len(x) <= n else x[:n] + "..."


def mpu_etag(parts):
    return hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + "-%d" % len(parts)


def http_call(server, method, path, body=None, key=None, headers=None, timeout=15):
    hdrs = dict(headers or {})
    if key:
        hdrs["Authorization"] = "Bearer " + key
    data = json.dumps(body).encode() if body is not None else None
    if data is not None:
        hdrs["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def blob_census(data_dir):
    """(tmp files, blob files {id: path}, referenced blob ids) of a data directory."""
    root = os.path.join(data_dir, "blobs")
    tmp = sorted(os.listdir(os.path.join(root, "tmp"))) if os.path.isdir(os.path.join(root, "tmp")) else []
    files = {}
    for d in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        p = os.path.join(root, d)
        if d == "tmp" or len(d) != 2 or not os.path.isdir(p):
            continue
        for f in os.listdir(p):
            files[f] = os.path.join(p, f)
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(data_dir, "tweedle.db"), uri=True, timeout=10)
    try:
        refs = set()
        for table in ("objects", "parts"):
            for (b,) in db.execute("SELECT blob FROM %s" % table):
                if b:
                    refs.add(b)
        try:  # small bodies kept in the store itself count as bodies
            for (b, n) in db.execute("SELECT id, length(data) FROM blob_inline"):
                files[b] = None
        except sqlite3.OperationalError:
            pass
    finally:
        db.close()
    return tmp, files, refs


def blob_problems(data_dir):
    tmp, files, refs = blob_census(data_dir)
    out = []
    if tmp:
        out.append("%d file(s) left in blobs/tmp: %s" % (len(tmp), tmp[:8]))
    orphans = sorted(set(files) - refs)
    if orphans:
        size = sum(os.path.getsize(files[f]) for f in orphans if files[f] and os.path.exists(files[f]))
        out.append("%d orphaned blob file(s) (%d bytes) that no objects/parts row references: %s"
                   % (len(orphans), size, orphans[:8]))
    missing = sorted(refs - set(files))
    if missing:
        out.append("%d referenced blob(s) missing on disk (data loss): %s" % (len(missing), missing[:8]))
    return out, len(files), len(refs), len(tmp)


def wait_blobs_clean(data_dir, timeout):
    deadline = mono() + timeout
    while True:
        probs, nfiles, nrefs, ntmp = blob_problems(data_dir)
        if not probs or mono() >= deadline:
            return probs, nfiles, nrefs, ntmp
        time.sleep(0.25)


# --------------------------------------------------------------------------
# the ledger
# --------------------------------------------------------------------------

class Ledger:
    def __init__(self):
        self.lock = threading.RLock()
        self.violations = []                 # (kind, text)
        self.early_errors = []               # errors answered before the kill
        self.acked = collections.Counter()   # this round, by kind
        self.total = collections.Counter()
        self.checked = collections.Counter()
        # SQS standard queue
        self.q_attempted = set()             # bodies
        self.q_acked = {}                    # mid -> (body, round)
        self.q_outstanding = set()           # acked mids not yet resolved by a verification
        self.q_del_sure = {}                 # mid -> (how, round, ack time)
        self.q_del_unsure = set()
        self.q_hide_sure = {}                # mid -> handle
        self.q_hide_unsure = {}              # mid -> handle
        self.handles = {}                    # receipt handle -> (mid, lifetime)
        self.deleted_handles = []            # (handle, lifetime) of messages deleted for sure
        self.stale_used = set()              # handles the stale-handle thread sent
        self.reused_to = collections.defaultdict(set)  # reused handle -> the later messages given it
        # FIFO
        self.f_msgs = {}                     # dedup id -> dict
        self.f_outstanding = set()           # dedup ids (sent this round) to find
        self.f_seq_owner = {}                # SequenceNumber -> dedup id
        self.f_round_seqs = collections.defaultdict(list)
        # all queues: MessageIds deleted for sure by the verifier
        self.verify_deleted = {}             # mid -> (queue, round)
        # CreateQueue
        self.queues_acked = {}               # name -> round
        # S3
        self.s3_ops = collections.defaultdict(list)   # key -> [op dicts]
        self.events = collections.defaultdict(set)    # key -> {etag}
        # jobs
        self.jobs_acked = {}                 # id -> round
        self.jobs_round = []
        self.job_msgs = set()

    def violate(self, kind, text):
        with self.lock:
            self.violations.append((kind, text))

    def check(self, kind, n):
        with self.lock:
            self.checked[kind] += n

    def ack(self, kind, n=1):
        with self.lock:
            self.acked[kind] += n
            self.total[kind] += n

    def note_handle(self, handle, mid, lifetime, where):
        with self.lock:
            prev = self.handles.get(handle)
            if prev is None:
                self.handles[handle] = (mid, lifetime)
            elif prev[0] != mid:
                self.reused_to[handle].add(mid)
                self.violate("receipt handle reused",
                             "%s: message %s got receipt handle %s, which was already given to message %s "
                             "(in server lifetime %d; that message was %s) -- a DeleteMessage/"
                             "ChangeMessageVisibility retried with the old handle hits the new message"
                             % (where, mid, short(handle, 40), prev[0], prev[1],
                                "deleted" if prev[0] in self.q_del_sure or prev[0] in self.verify_deleted
                                else "not deleted"))


# --------------------------------------------------------------------------
# the torture test
# --------------------------------------------------------------------------

class TortureTest(h.FaultServerTestCase):
    maxDiff = None

    def setUp(self):
        super().setUp()
        seed = SEED or str(random.randrange(1 << 30))
        self.seed = seed
        self.rnd = random.Random(seed)

    # -- clients ----------------------------------------------------------
    # Building a boto3 client takes ~0.15 s of CPU: they are made before the
    # load starts and kept while the port stays the same.
    _clients = None

    def clients(self, kind, n):
        if self._clients is None or self._clients[0] != self.server.port:
            self._clients = (self.server.port, {})
        cache = self._clients[1]
        if (kind, n) not in cache:
            if kind == "sqs":
                cache[kind, n] = self.server.client(read_timeout=15, connect_timeout=2, pool=10)
            else:
                kw = {"checksum": "when_required"} if s.NEW_CHECKSUMS else {}
                cache[kind, n] = s.s3_client(self.server, read_timeout=20, connect_timeout=2, pool=10, **kw)
        return cache[kind, n]

    def sqs(self, n=0):
        return self.clients("sqs", n)

    def s3c(self, n=0):
        return self.clients("s3", n)

    def url(self, name):
        return self.server.queue_url(name)

    # -- the run -----------------------------------------------------------
    def test_kill9_torture(self):
        L = self.L = Ledger()
        sqs = self.sqs()
        tag = uuid.uuid4().hex[:8]
        self.q = "tort-%s" % tag
        self.fq = "tort-%s.fifo" % tag
        self.eq = "tort-ev-%s" % tag
        sqs.create_queue(QueueName=self.q, Attributes={"VisibilityTimeout": str(VIS)})
        sqs.create_queue(QueueName=self.fq, Attributes={"FifoQueue": "true", "VisibilityTimeout": str(VIS)})
        sqs.create_queue(QueueName=self.eq)
        self.bucket = s.unique_bucket("tort")
        c = self.s3c()
        c.create_bucket(Bucket=self.bucket)
        c.put_bucket_notification_configuration(Bucket=self.bucket, NotificationConfiguration={
            "QueueConfigurations": [{"Id": "torture", "Events": ["s3:ObjectCreated:*"],
                                     "QueueArn": "arn:aws:sqs:%s:%s:%s" % (h.REGION, h.ACCOUNT, self.eq)}]})
        r = h.raw_request(self.server, "POST", API + "/apikeys", service="execute-api",
                          body=json.dumps({"name": "torture", "scopes": [{"actions": ["jobs:submit", "jobs:read"]}]}),
                          headers={"Content-Type": "application/json"})
        self.assertIn(r.status, (200, 201), r)
        self.job_key = r.json()["key"]
        log("\n[torture] seed=%s rounds=%d seconds=%.1f data=%s" % (self.seed, ROUNDS, SECONDS, self.server.data_dir))

        t_start = mono()
        for rnd in range(1, ROUNDS + 1):
            self.round = rnd
            L.acked.clear()
            L.checked.clear()
            L.jobs_round = []
            nviol = len(L.violations)
            delay = DELAYS[(rnd - 1) % len(DELAYS)]
            self.set_delay(delay)
            kill_at = self.run_load()
            self.set_delay(0)
            self.server.start()
            t0 = mono()
            self.verify()
            # Every queue is drained now: an idle restart (SIGTERM or kill -9) is where
            # sequence numbers and receipt handles of deleted messages used to come back.
            idle = "SIGTERM" if rnd % 2 else "kill -9"
            self.server.restart(kill=(idle != "SIGTERM"))
            log("[torture] round %d/%d: commit delay %d ms, kill -9 at %.2fs; acked %s; checked %s; verify %.1fs; "
                "idle %s restart; violations %d"
                % (rnd, ROUNDS, delay, kill_at, self.fmt(L.acked), self.fmt(L.checked), mono() - t0, idle,
                   len(L.violations) - nviol))

        # after the last restart (and the sweep it may run): no temp file, no orphan
        probs, nfiles, nrefs, ntmp = wait_blobs_clean(self.server.data_dir, 5.0)
        for p in probs:
            L.violate("blobs after final restart", p + " (blob files %d, distinct blobs referenced by "
                      "objects+parts %d, temp files %d, after a 5 s wait for the sweep)" % (nfiles, nrefs, ntmp))
        log("[torture] SUMMARY seed=%s rounds=%d kill9=%d wall=%.0fs acked: %s (total %d); blobs: files=%d "
            "referenced=%d tmp=%d; violations=%d"
            % (self.seed, self.round, self.round, mono() - t_start, self.fmt(L.total), sum(L.total.values()),
               nfiles, nrefs, ntmp, len(L.violations)))
        if L.early_errors:
            L.violate("requests failed before the kill", "%d, e.g.:\n      %s"
                      % (len(L.early_errors), "\n      ".join(L.early_errors[:5])))
        if L.violations:
            by_kind = collections.OrderedDict()
            for k, t in L.violations:
                by_kind.setdefault(k, []).append(t)
            lines = []
            for k, ts in by_kind.items():
                lines.append("== %s: %d" % (k, len(ts)))
                lines += ["   " + t for t in ts[:8]]
                if len(ts) > 8:
                    lines.append("   ... and %d more" % (len(ts) - 8))
            self.fail("%d violation(s) in %d round(s) (seed %s):\n%s"
                      % (len(L.violations), self.round, self.seed, "\n".join(lines)))

    @staticmethod
    def fmt(counter):
        return " ".join("%s=%d" % kv for kv in sorted(counter.items())) or "-"

    # -- load --------------------------------------------------------------
    def run_load(self):
        self.stop = threading.Event()
        self.killing = threading.Event()
        workers = [(self.sqs_sender, 0), (self.sqs_sender, 1), (self.sqs_receiver, 0), (self.sqs_receiver, 1),
                   (self.fifo_sender, 0), (self.fifo_sender, 1), (self.queue_creator, 0),
                   (self.s3_writer, 0), (self.s3_writer, 1), (self.s3_writer, 2), (self.job_submitter, 0)]
        if self.round > 1:
            workers.append((self.stale_handles, 0))
        for n in range(12):
            self.sqs(n)
        for n in range(4):
            self.s3c(n)
        threads = [threading.Thread(target=self.guard, args=(fn, i), daemon=True) for fn, i in workers]
        t0 = mono()
        for t in threads:
            t.start()
        kill_at = self.rnd.uniform(0.5 * SECONDS, 1.5 * SECONDS)
        time.sleep(max(0.0, kill_at - (mono() - t0)))
        self.killing.set()
        self.server.kill9()
        self.kill_time = mono()
        self.stop.set()
        for t in threads:
            t.join(max(0.1, 30 - (mono() - self.kill_time)))
        stuck = [t for t in threads if t.is_alive()]
        self.assertEqual(stuck, [], "load threads did not stop within 30 s of the kill")
        return kill_at

    def guard(self, fn, idx):
        try:
            fn(idx)
        except Exception:  # noqa: BLE001 - a bug in the test itself
            import traceback
            self.L.violate("test thread crashed", "%s: %s" % (fn.__name__, traceback.format_exc()[-1500:]))

    def failed(self, what, e, expected=()):
        """A request got no (or an error) answer: an error before the kill is recorded."""
        if self.killing.is_set():
            return
        code = getattr(e, "response", {}).get("Error", {}).get("Code") if hasattr(e, "response") else None
        if code in expected:
            return
        with self.L.lock:
            self.L.early_errors.append("round %d %s: %r" % (self.round, what, e))

    def lifetime(self):
        return self.server.starts

    # SQS standard ----------------------------------------------------------
    def sqs_sender(self, idx):
        c, url, L, rnd, n = self.sqs(idx), self.url(self.q), self.L, random.Random(), 0
        while not self.stop.is_set():
            n += 1
            if rnd.random() < 0.25:
                bodies = ["q-r%d-t%d-%d-%d-%s" % (self.round, idx, n, j, "x" * rnd.randrange(50)) for j in range(5)]
                with L.lock:
                    L.q_attempted.update(bodies)
                try:
                    r = c.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": b}
                                                                    for j, b in enumerate(bodies)])
                except Exception as e:  # noqa: BLE001
                    self.failed("SendMessageBatch", e)
                    continue
                with L.lock:
                    for e in r.get("Successful", []):
                        L.q_acked[e["MessageId"]] = (bodies[int(e["Id"])], self.round)
                        L.q_outstanding.add(e["MessageId"])
                L.ack("sqs.send_batch_msgs", len(r.get("Successful", [])))
            else:
                body = "q-r%d-t%d-%d" % (self.round, idx, n)
                with L.lock:
                    L.q_attempted.add(body)
                try:
                    r = c.send_message(QueueUrl=url, MessageBody=body)
                except Exception as e:  # noqa: BLE001
                    self.failed("SendMessage", e)
                    continue
                with L.lock:
                    L.q_acked[r["MessageId"]] = (body, self.round)
                    L.q_outstanding.add(r["MessageId"])
                L.ack("sqs.send")

    def sqs_receiver(self, idx):
        c, url, L, rnd = self.sqs(2 + idx), self.url(self.q), self.L, random.Random()
        c2 = self.sqs(4 + idx)
        life = self.lifetime()
        while not self.stop.is_set():
            t0 = mono()
            try:
                msgs = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            except Exception as e:  # noqa: BLE001
                self.failed("ReceiveMessage", e)
                continue
            batch = []
            for m in msgs:
                mid, hd = m["MessageId"], m["ReceiptHandle"]
                L.note_handle(hd, mid, life, "receive during round %d" % self.round)
                with L.lock:
                    d = L.q_del_sure.get(mid)
                    if d and d[2] < t0:
                        L.violate("acknowledged delete undone (live)",
                                  "message %s (%r) received in round %d after its %s was acknowledged"
                                  % (mid, L.q_acked.get(mid, ("?",))[0], self.round, d[0]))
                roll = rnd.random()
                if roll < 0.08:
                    continue                                    # left in flight at the crash
                if roll < 0.18:
                    self.hide(c, url, mid, hd, t0)
                elif roll < 0.33:
                    self.delete_twice(c, c2, url, mid, hd, t0)
                elif roll < 0.50:
                    batch.append(m)
                else:
                    self.delete_one(c, url, mid, hd, t0)
            if batch and not self.stop.is_set():
                with L.lock:
                    L.q_del_unsure.update(m["MessageId"] for m in batch)
                try:
                    r = c.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                                      for i, m in enumerate(batch)])
                except Exception as e:  # noqa: BLE001
                    self.failed("DeleteMessageBatch", e)
                    continue
                self.deleted([batch[int(e["Id"])] for e in r.get("Successful", [])], "DeleteMessageBatch", t0)
                L.ack("sqs.delete_batch_msgs", len(r.get("Successful", [])))

    def deleted(self, msgs, how, t0):
        L, now, life = self.L, mono(), self.lifetime()
        with L.lock:
            for m in msgs:
                if now - t0 < SURE:
                    L.q_del_sure[m["MessageId"]] = (how + " (round %d)" % self.round, self.round, now)
                    L.q_del_unsure.discard(m["MessageId"])
                    L.deleted_handles.append((m["ReceiptHandle"], life))
                else:
                    L.q_del_unsure.add(m["MessageId"])

    def delete_one(self, c, url, mid, hd, t0):
        with self.L.lock:
            self.L.q_del_unsure.add(mid)
        try:
            c.delete_message(QueueUrl=url, ReceiptHandle=hd)
        except Exception as e:  # noqa: BLE001
            self.failed("DeleteMessage", e)
            return
        self.deleted([{"MessageId": mid, "ReceiptHandle": hd}], "DeleteMessage", t0)
        self.L.ack("sqs.delete")

    def delete_twice(self, c, c2, url, mid, hd, t0):
        """The same DeleteMessage twice at once: either acknowledged => deleted."""
        with self.L.lock:
            self.L.q_del_unsure.add(mid)
        res, errs, stuck = h.run_threads([lambda: c.delete_message(QueueUrl=url, ReceiptHandle=hd),
                                          lambda: c2.delete_message(QueueUrl=url, ReceiptHandle=hd)], 20)
        for e in errs:
            if e is not None:
                self.failed("DeleteMessage (twice)", e)
        if any(e is None for e in errs) and not stuck:
            self.deleted([{"MessageId": mid, "ReceiptHandle": hd}], "DeleteMessage sent twice concurrently", t0)
            self.L.ack("sqs.delete_twice")

    def hide(self, c, url, mid, hd, t0):
        L = self.L
        with L.lock:
            L.q_hide_unsure[mid] = hd
        try:
            c.change_message_visibility(QueueUrl=url, ReceiptHandle=hd, VisibilityTimeout=HIDE)
        except Exception as e:  # noqa: BLE001
            if mono() - t0 < SURE:
                self.failed("ChangeMessageVisibility", e)
            return
        if mono() - t0 < SURE:
            with L.lock:
                L.q_hide_sure[mid] = hd
                L.q_hide_unsure.pop(mid, None)
        L.ack("sqs.change_visibility")

    def stale_handles(self, idx):
        """DeleteMessage / ChangeMessageVisibility(0) with handles of messages
        deleted before an earlier restart: must never touch a live message."""
        c, url, L, rnd = self.sqs(0), self.url(self.q), self.L, random.Random()
        life = self.lifetime()
        with L.lock:
            pool = [hd for hd, lt in L.deleted_handles if lt < life]
        while pool and not self.stop.is_set():
            hd = rnd.choice(pool)
            try:
                if rnd.random() < 0.5:
                    c.delete_message(QueueUrl=url, ReceiptHandle=hd)
                else:
                    c.change_message_visibility(QueueUrl=url, ReceiptHandle=hd, VisibilityTimeout=0)
            except Exception:  # noqa: BLE001 - refusing a stale handle is fine
                pass
            with L.lock:
                L.stale_used.add(hd)
            L.ack("sqs.stale_handle_ops")
            time.sleep(0.01)

    # FIFO ------------------------------------------------------------------
    def fifo_sender(self, idx):
        c, url, L, rnd, n = self.sqs(6 + idx), self.url(self.fq), self.L, random.Random(), 0
        c2 = self.sqs(8 + idx)
        last_seq = 0
        while not self.stop.is_set():
            n += 1
            dedup = "r%d-t%d-%d-%s" % (self.round, idx, n, uuid.uuid4().hex[:6])
            group = "g%d" % rnd.randrange(4)
            body = "f-" + dedup
            twice = rnd.random() < 0.25
            with L.lock:
                L.f_msgs[dedup] = {"body": body, "group": group, "round": self.round, "acks": [], "twice": twice}
            kw = dict(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=dedup)
            if twice:
                res, errs, _ = h.run_threads([lambda: c.send_message(**kw), lambda: c2.send_message(**kw)], 20)
            else:
                try:
                    res, errs = [c.send_message(**kw)], [None]
                except Exception as e:  # noqa: BLE001
                    res, errs = [None], [e]
            acks = []
            for r, e in zip(res, errs):
                if e is not None:
                    self.failed("SendMessage (FIFO)", e)
                elif r is not None:
                    acks.append((r["MessageId"], int(r["SequenceNumber"])))
            if not acks:
                continue
            with L.lock:
                m = L.f_msgs[dedup]
                m["acks"] = acks
                L.f_outstanding.add(dedup)
                if len({a for a in acks}) > 1:
                    L.violate("FIFO duplicate send answered differently",
                              "dedup id %s sent twice concurrently, acknowledged as %s" % (dedup, acks))
                mid, seq = acks[0]
                owner = L.f_seq_owner.setdefault(seq, dedup)
                if owner != dedup:
                    L.violate("FIFO SequenceNumber reused",
                              "SequenceNumber %d given to %s (round %d) and to %s (round %d)"
                              % (seq, owner, L.f_msgs[owner]["round"], dedup, self.round))
                if seq <= last_seq:
                    L.violate("FIFO SequenceNumber not increasing",
                              "thread %d: %s got SequenceNumber %d after %d" % (idx, dedup, seq, last_seq))
                last_seq = seq
                L.f_round_seqs[self.round].append(seq)
            L.ack("fifo.send_twice" if twice else "fifo.send")

    # CreateQueue -------------------------------------------------------------
    def queue_creator(self, idx):
        c, c2, L, n = self.sqs(10), self.sqs(11), self.L, 0
        while not self.stop.is_set() and n < 12:
            n += 1
            name = "tort-cq-r%d-%d-%s" % (self.round, n, uuid.uuid4().hex[:6])
            res, errs, _ = h.run_threads([lambda: c.create_queue(QueueName=name),
                                          lambda: c2.create_queue(QueueName=name)], 20)
            for e in errs:
                if e is not None:
                    self.failed("CreateQueue (twice)", e)
            if any(e is None for e in errs):
                with L.lock:
                    L.queues_acked[name] = self.round
                L.ack("sqs.create_queue_twice")
            time.sleep(0.1)

    # S3 --------------------------------------------------------------------
    def s3_op(self, key, kind, md5=None, etag=None, size=None):
        op = {"kind": kind, "md5": md5, "etag": etag, "size": size, "start": mono(), "end": None,
              "acked": False, "round": self.round}
        with self.L.lock:
            self.L.s3_ops[key].append(op)
        return op

    def s3_done(self, op):
        op["end"] = mono()
        op["acked"] = True

    def s3_writer(self, idx):
        c, L, rnd, b = self.s3c(idx), self.L, random.Random(), self.bucket
        mine = {}      # this thread's keys -> (md5, size) of the current (acknowledged) body, or None
        n = 0
        mpu_done = False
        while not self.stop.is_set():
            n += 1
            roll = rnd.random()
            own = [k for k, v in mine.items() if v is not None]
            try:
                if roll < 0.25:                                   # overwrite race on a shared key
                    key = "hot/%d" % rnd.randrange(2)
                    if rnd.random() < 0.1:
                        op = self.s3_op(key, "delete")
                        c.delete_object(Bucket=b, Key=key)
                        self.s3_done(op)
                        L.ack("s3.delete_hot")
                    else:
                        body = os.urandom(rnd.choice([1, 1000, 30000, 200000]))
                        md5 = s.md5_hex(body)
                        op = self.s3_op(key, "put", md5, md5, len(body))
                        r = c.put_object(Bucket=b, Key=key, Body=body)
                        self.check_etag(key, r, md5)
                        self.s3_done(op)
                        L.ack("s3.put_hot")
                elif roll < 0.33 and own:                         # copy one of mine to a new key
                    src = rnd.choice(own)
                    md5, size = mine[src]
                    key = "r%d/t%d/copy-%d" % (self.round, idx, n)
                    op = self.s3_op(key, "copy", md5, md5, size)
                    mine[key] = None
                    r = c.copy_object(Bucket=b, Key=key, CopySource={"Bucket": b, "Key": src})
                    self.check_etag(key, r["CopyObjectResult"], md5)
                    self.s3_done(op)
                    mine[key] = (md5, size)
                    L.ack("s3.copy")
                elif roll < 0.43 and own:                         # delete one of mine
                    key = rnd.choice(own)
                    op = self.s3_op(key, "delete")
                    mine[key] = None
                    c.delete_object(Bucket=b, Key=key)
                    self.s3_done(op)
                    L.ack("s3.delete")
                elif roll < 0.47 and not mpu_done:                # multipart upload
                    mpu_done = True
                    key = "r%d/t%d/mpu-%d" % (self.round, idx, n)
                    parts = [os.urandom(PART), os.urandom(rnd.randrange(1, 100000))]
                    up = c.create_multipart_upload(Bucket=b, Key=key)["UploadId"]
                    L.ack("s3.mpu_create")
                    done = []
                    for i, p in enumerate(parts, 1):
                        r = c.upload_part(Bucket=b, Key=key, UploadId=up, PartNumber=i, Body=p)
                        done.append({"PartNumber": i, "ETag": r["ETag"]})
                        L.ack("s3.mpu_part")
                    whole = b"".join(parts)
                    md5, etag = s.md5_hex(whole), mpu_etag(parts)
                    op = self.s3_op(key, "mpu", md5, etag, len(whole))
                    mine[key] = None
                    r = c.complete_multipart_upload(Bucket=b, Key=key, UploadId=up,
                                                    MultipartUpload={"Parts": done})
                    self.check_etag(key, r, etag)
                    self.s3_done(op)
                    mine[key] = (md5, len(whole))
                    L.ack("s3.mpu_complete")
                else:                                             # PUT: a new key or one of mine again
                    key = rnd.choice(own) if own and rnd.random() < 0.2 else "r%d/t%d/%d" % (self.round, idx, n)
                    size = rnd.choice([0, 1, 100, 4096, 65536, 300000]) if rnd.random() > 0.03 else 1500000
                    body = os.urandom(size)
                    md5 = s.md5_hex(body)
                    op = self.s3_op(key, "put", md5, md5, size)
                    mine[key] = None
                    r = c.put_object(Bucket=b, Key=key, Body=body)
                    self.check_etag(key, r, md5)
                    self.s3_done(op)
                    mine[key] = (md5, size)
                    L.ack("s3.put")
            except Exception as e:  # noqa: BLE001
                self.failed("S3 op", e)
                if not self.killing.is_set():
                    time.sleep(0.05)

    def check_etag(self, key, r, etag):
        got = (r.get("ETag") or "").strip('"')
        if got != etag:
            self.L.violate("S3 wrong ETag in answer", "%s: answered ETag %s, expected %s" % (key, got, etag))

    # jobs ------------------------------------------------------------------
    def job_submitter(self, idx):
        L, n = self.L, 0
        while not self.stop.is_set():
            n += 1
            body = {"type": "torture", "payload": {"r": self.round, "i": n}}
            twice = n % 5 == 0
            call = (lambda: http_call(self.server, "POST", API + "/jobs", body, key=self.job_key,
                                      headers={"Idempotency-Key": "idem-r%d-%d" % (self.round, n)} if twice else None))
            res, errs, _ = h.run_threads([call, call] if twice else [call], 20)
            ids = []
            for r, e in zip(res, errs):
                if e is not None:
                    self.failed("POST /jobs", e)
                elif r[0] == 202:
                    ids.append(json.loads(r[2])["id"])
                elif not (twice and r[0] == 409):
                    self.failed("POST /jobs", "HTTP %d %r" % (r[0], r[2][:200]))
            if not ids:
                continue
            if len(set(ids)) > 1:
                L.violate("jobs: one Idempotency-Key, two jobs", "%s" % ids)
            with L.lock:
                for j in set(ids):
                    L.jobs_acked[j] = self.round
                    L.jobs_round.append(j)
            L.ack("jobs.submit_twice" if twice else "jobs.submit")

    # -- verification ------------------------------------------------------
    def verify(self):
        for n in range(5):
            self.sqs(n)
        self.s3c(0)
        checks = [self.verify_queue, self.verify_fifo, self.verify_created_queues, self.verify_s3,
                  self.verify_jobs]
        res, errs, stuck = h.run_threads(checks, 90)
        for fn, e in zip(checks, errs):
            if e is not None:
                import traceback
                self.fail("round %d: %s raised %s\n%s" % (self.round, fn.__name__, "".join(
                    traceback.format_exception(type(e), e, e.__traceback__))[-3000:], self.server.log_tail(20)))
        self.assertEqual(stuck, 0, "round %d: verification did not finish within 90 s" % self.round)
        # events are checked after the S3 check (which read every acknowledged write)
        self.verify_events()

    def drain(self, c, url, queue, stop_when, deadline, attrs=False, on_msg=None, msg_attrs=False):
        """Receive and delete everything (bounded); returns [messages]."""
        L, life, got, empty = self.L, self.lifetime(), [], 0
        while mono() < deadline:
            kw = {"AttributeNames": ["All"]} if attrs else {}
            if msg_attrs:
                kw["MessageAttributeNames"] = ["All"]
            msgs = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, **kw).get("Messages", [])
            if not msgs:
                empty += 1
                if stop_when(empty):
                    break
                time.sleep(0.2)
                continue
            empty = 0
            for m in msgs:
                L.note_handle(m["ReceiptHandle"], m["MessageId"], life, "%s drain after restart %d" % (queue, self.round))
                with L.lock:
                    if m["MessageId"] in L.verify_deleted:
                        q, r = L.verify_deleted[m["MessageId"]]
                        L.violate("acknowledged delete undone",
                                  "%s: message %s (%r) is back after restart %d; the verifier's DeleteMessageBatch "
                                  "of it was acknowledged after restart %d"
                                  % (queue, m["MessageId"], short(m.get("Body"), 60), self.round, r))
                got.append(m)
                if on_msg:
                    on_msg(m)
            r = c.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                              for i, m in enumerate(msgs)])
            with L.lock:
                for e in r.get("Successful", []):
                    L.verify_deleted[msgs[int(e["Id"])]["MessageId"]] = (queue, self.round)
        return got

    def verify_queue(self):
        L, c, url, rnd = self.L, self.sqs(), self.url(self.q), self.round
        with L.lock:
            outstanding = set(L.q_outstanding)
            del_any = set(L.q_del_sure) | L.q_del_unsure
            hidden = dict(L.q_hide_unsure)
            hidden.update(L.q_hide_sure)
            hide_sure = dict(L.q_hide_sure)
            del_sure = dict(L.q_del_sure)
        must = outstanding - del_any - set(hidden)
        seen = {}
        visible_after = self.kill_time + VIS + 0.5   # everything in flight at the kill is visible again

        def check(m):
            seen[m["MessageId"]] = m

        self.drain(c, url, self.q, lambda empty: mono() > visible_after and must <= set(seen) and empty >= 1,
                   mono() + 15, on_msg=check)
        for mid, m in seen.items():
            if mid in L.q_acked:
                if m["Body"] != L.q_acked[mid][0]:
                    L.violate("SQS body changed", "%s: body %r, acknowledged %r" % (mid, m["Body"], L.q_acked[mid][0]))
            elif m["Body"] not in L.q_attempted:
                L.violate("SQS message nobody sent", "%s: %r" % (mid, short(m["Body"], 80)))
            if mid in del_sure:
                L.violate("acknowledged delete undone",
                          "message %s (%r, sent in round %s) received again after restart %d; its %s was acknowledged"
                          % (mid, m["Body"], L.q_acked.get(mid, ("?", "?"))[1], rnd, del_sure[mid][0]))
            if mid in hide_sure:
                L.violate("acknowledged ChangeMessageVisibility undone",
                          "message %s (%r) visible after restart %d; ChangeMessageVisibility(%d s) was acknowledged "
                          "in round %d" % (mid, m["Body"], rnd, HIDE, rnd))
        with L.lock:
            stale_hits = {m for hd in L.stale_used for m in L.reused_to.get(hd, ())}
        for mid in sorted(must - set(seen)):
            L.violate("acknowledged send lost",
                      "message %s (%r, acknowledged in round %d, never deleted) not received after restart %d%s"
                      % (mid, L.q_acked[mid][0], L.q_acked[mid][1], rnd,
                         "; a stale receipt handle identical to one of its own (first given to a deleted message) "
                         "was sent with DeleteMessage/ChangeMessageVisibility" if mid in stale_hits else ""))
        # hidden messages: still in flight; the receipt handle from before the restart releases them
        released = {}
        for mid, hd in sorted(hidden.items()):
            if mid in seen or mid in del_any:
                continue
            try:
                c.change_message_visibility(QueueUrl=url, ReceiptHandle=hd, VisibilityTimeout=0)
                released[mid] = hd
            except Exception as e:  # noqa: BLE001
                if mid in hide_sure:
                    L.violate("acknowledged send lost",
                              "message %s (%r) hidden by an acknowledged ChangeMessageVisibility(%d s) in round %d: "
                              "not visible after restart, and its receipt handle is refused: %s"
                              % (mid, L.q_acked[mid][0], HIDE, rnd, e))
                else:
                    L.violate("acknowledged send lost",
                              "message %s (%r) not visible after restart %d and its last receipt handle is refused: %s"
                              % (mid, L.q_acked[mid][0], rnd, e))
        if released:
            seen2 = {}
            self.drain(c, url, self.q, lambda empty: set(released) <= set(seen2) and empty >= 1, mono() + 10,
                       on_msg=lambda m: seen2.__setitem__(m["MessageId"], m))
            for mid in sorted(set(released) - set(seen2)):
                L.violate("acknowledged send lost", "message %s (%r) released with its old handle but not received"
                          % (mid, L.q_acked[mid][0]))
            seen.update(seen2)
        with L.lock:
            L.q_outstanding -= outstanding
            L.q_hide_sure.clear()
            L.q_hide_unsure.clear()
            L.q_del_unsure.clear()
        L.check("sqs.required", len(must) + len(hide_sure))
        L.check("sqs.received", len(seen))

    def verify_fifo(self):
        L, c, url, rnd = self.L, self.sqs(1), self.url(self.fq), self.round
        with L.lock:
            outstanding = set(L.f_outstanding)
            body_to_dedup = {m["body"]: d for d, m in L.f_msgs.items()}
        seen = collections.defaultdict(list)   # dedup -> [(mid, seq)]
        last_in_group = {}

        def check(m):
            a = m.get("Attributes", {})
            d = a.get("MessageDeduplicationId") or body_to_dedup.get(m["Body"])
            seq = int(a.get("SequenceNumber", "0"))
            g = a.get("MessageGroupId")
            if d not in L.f_msgs or L.f_msgs[d]["body"] != m["Body"]:
                L.violate("FIFO message nobody sent", "%s: dedup %r body %r" % (m["MessageId"], d, short(m["Body"], 60)))
                return
            seen[d].append((m["MessageId"], seq))
            if g in last_in_group and seq <= last_in_group[g]:
                L.violate("FIFO order", "group %s: SequenceNumber %d received after %d" % (g, seq, last_in_group[g]))
            last_in_group[g] = seq

        self.drain(c, url, self.fq, lambda empty: outstanding <= set(seen) and empty >= 2, mono() + 20,
                   attrs=True, on_msg=check)
        for d, got in seen.items():
            if len(got) > 1:
                L.violate("FIFO message duplicated", "dedup id %s received %d times: %s" % (d, len(got), got))
        for d in sorted(outstanding):
            m = L.f_msgs[d]
            mid, seq = m["acks"][0]
            if d not in seen:
                L.violate("acknowledged send lost",
                          "FIFO message %s (dedup id %s, SequenceNumber %d, %s, round %d) not received after restart %d"
                          % (mid, d, seq, "sent twice concurrently, both acknowledged" if len(m["acks"]) > 1
                             else ("sent twice concurrently" if m["twice"] else "sent once"), m["round"], rnd))
            elif seen[d][0] != (mid, seq):
                L.violate("FIFO message changed", "dedup id %s acknowledged as %s, received as %s" % (d, (mid, seq), seen[d][0]))
        # SequenceNumbers only grow across restarts
        with L.lock:
            mine = L.f_round_seqs.get(rnd, [])
            before = [x for r, v in L.f_round_seqs.items() if r < rnd for x in v]
            L.f_outstanding -= outstanding
        if mine and before and min(mine) <= max(before):
            L.violate("FIFO SequenceNumber reused after restart",
                      "round %d acknowledged SequenceNumber %d, not above %d acknowledged before restart %d"
                      % (rnd, min(mine), max(before), rnd - 1))
        L.check("fifo.required", len(outstanding))

    def verify_created_queues(self):
        L, c = self.L, self.sqs(2)
        with L.lock:
            names = dict(L.queues_acked)
        for name, r in sorted(names.items()):
            try:
                c.get_queue_url(QueueName=name)
            except Exception as e:  # noqa: BLE001
                L.violate("acknowledged CreateQueue undone",
                          "queue %s (CreateQueue sent twice concurrently in round %d, acknowledged) missing after "
                          "restart %d: %s" % (name, r, self.round, e))
        L.check("sqs.queues", len(names))

    def allowed(self, ops):
        """Ops (and the initial absence) a key may be left in: X is allowed unless an
        acknowledged op Y began after X's answer (then Y's effect replaced X's)."""
        acked_starts = [o["start"] for o in ops if o["acked"]]
        latest_start = max(acked_starts) if acked_starts else None
        out = [] if acked_starts else [None]
        for o in ops:
            end = o["end"] if o["end"] is not None else float("inf")
            if latest_start is None or latest_start <= end:
                out.append(o)
        return out

    def verify_s3(self):
        L, c, b = self.L, self.s3c(), self.bucket
        listed = {}
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=b):
            for o in page.get("Contents", []):
                listed[o["Key"]] = (o["Size"], o["ETag"].strip('"'))
        with L.lock:
            for lst in L.s3_ops.values():
                for o in lst:
                    if o["end"] is None:        # unanswered at the kill: it took effect by then or never
                        o["end"] = self.kill_time
            ops = {k: list(v) for k, v in L.s3_ops.items()}
        for k in sorted(set(listed) - set(ops)):
            L.violate("S3 object nobody wrote", "%r listed (size %d, ETag %s)" % (k, listed[k][0], listed[k][1]))

        def state(key):
            last = ops[key][-1]
            if last["kind"] == "observed" and last["size"] > (1 << 20):
                # big and untouched since the last check: its last byte and ETag (whole bodies of
                # every multipart object every round would dominate a long run)
                r = s.raw_s3(self.server, "GET", s.obj_path(b, key), headers={"Range": "bytes=-1"}, timeout=30)
                if (r.status == 206 and (r.header("ETag") or "").strip('"') == last["etag"]
                        and (r.header("Content-Range") or "").endswith("/%d" % last["size"])):
                    return (last["md5"], last["etag"], last["size"])
            r = s.raw_s3(self.server, "GET", s.obj_path(b, key), timeout=30)
            if r.status == 404:
                return None
            if r.status != 200:
                return ("error", r.status, r.body[:200])
            return (s.md5_hex(r.body), (r.header("ETag") or "").strip('"'), len(r.body))

        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            states = dict(zip(sorted(ops), ex.map(state, sorted(ops))))
        for key in sorted(ops):
            st = states[key]
            if st is not None and st[0] == "error":
                L.violate("S3 GET failed", "%r after restart %d: HTTP %d %r" % (key, self.round, st[1], st[2]))
                continue
            allowed = self.allowed(ops[key])
            attempted = {o["md5"] for o in ops[key] if o["md5"]}
            acked = [o for o in ops[key] if o["acked"]]
            last = max(acked, key=lambda o: o["start"]) if acked else None

            def desc(o):
                if o is None:
                    return "absent (never written)"
                return "%s%s r%d %s" % (o["kind"], "" if o["acked"] else " (unacknowledged)", o["round"],
                                        ("md5 %s size %d" % (o["md5"], o["size"])) if o["md5"] else "")
            if st is not None:
                md5, etag, size = st
                if key in listed and listed[key] != (size, etag):
                    L.violate("S3 listing differs", "%r listed %s, GET gives size %d ETag %s" % (key, listed[key], size, etag))
                if md5 not in attempted:
                    L.violate("S3 partial/corrupt object",
                              "%r: GET body (md5 %s, %d bytes, ETag %s) is none of the %d bodies written to it"
                              % (key, md5, size, etag, len(attempted)))
                    continue
            elif key in listed:
                L.violate("S3 listing differs", "%r listed %s but GET gives 404" % (key, listed[key]))
            ok = False
            for o in allowed:
                if o is None or o["kind"] in ("delete", "observed absent"):
                    ok = ok or st is None
                elif st is not None and st[0] == o["md5"]:
                    ok = True
                    if st[1] != o["etag"]:
                        L.violate("S3 wrong ETag", "%r: body md5 %s served with ETag %s, expected %s"
                                  % (key, st[0], st[1], o["etag"]))
            if not ok:
                got = "absent" if st is None else "md5 %s size %d" % (st[0], st[2])
                kind = ("acknowledged delete undone" if st is not None and last and last["kind"] == "delete"
                        else "acknowledged write lost")
                L.violate(kind, "S3 %r after restart %d: %s; last acknowledged: %s; allowed: %s"
                          % (key, self.round, got, desc(last), "; ".join(desc(o) for o in allowed)))
            # what was seen is the key's state from now on (a later round must keep it or show a later write)
            now = mono()
            with L.lock:
                if st is None:
                    L.s3_ops[key].append({"kind": "observed absent", "md5": None, "etag": None, "size": None,
                                          "start": now, "end": now, "acked": True, "round": self.round})
                else:
                    L.s3_ops[key].append({"kind": "observed", "md5": st[0], "etag": st[1], "size": st[2],
                                          "start": now, "end": now, "acked": True, "round": self.round})
        L.check("s3.keys", len(ops))

    def verify_events(self):
        L, c = self.L, self.sqs(3)

        def on(m):
            try:
                doc = json.loads(m["Body"])
            except ValueError:
                L.violate("S3 event not JSON", short(m["Body"], 80))
                return
            for rec in doc.get("Records", []):
                o = rec["s3"]["object"]
                with L.lock:
                    L.events[urllib.parse.unquote_plus(o["key"])].add(o.get("eTag"))

        self.drain(c, self.url(self.eq), self.eq, lambda empty: empty >= 2, mono() + 20, on_msg=on)
        n = 0
        with L.lock:
            ops = {k: list(v) for k, v in L.s3_ops.items()}
        for key, lst in sorted(ops.items()):
            for o in lst:
                if o["acked"] and o["kind"] in ("put", "copy", "mpu") and o["round"] == self.round:
                    n += 1
                    if o["etag"] not in L.events.get(key, ()):
                        L.violate("acknowledged S3 event lost",
                                  "%s of %r (ETag %s, round %d) acknowledged, no ObjectCreated event in the queue "
                                  "after restart %d" % (o["kind"], key, o["etag"], o["round"], self.round))
        L.check("s3.events", n)

    def verify_jobs(self):
        L, c = self.L, self.sqs(4)

        def on(m):
            a = m.get("MessageAttributes", {}).get("tweedle.job_id", {}).get("StringValue")
            jid = a or json.loads(m["Body"]).get("id")
            with L.lock:
                L.job_msgs.add(jid)

        self.drain(c, self.url(JOBS_QUEUE), JOBS_QUEUE, lambda empty: empty >= 2, mono() + 20, on_msg=on,
                   msg_attrs=True)
        with L.lock:
            mine = list(L.jobs_round)
        for jid in mine:
            st, _, body = http_call(self.server, "GET", API + "/jobs/" + jid, key=self.job_key)
            if st != 200:
                L.violate("acknowledged job lost", "job %s (POST /jobs answered 202 in round %d): GET gives %d %r"
                          % (jid, self.round, st, body[:200]))
            if jid not in L.job_msgs:
                L.violate("acknowledged job message lost", "job %s (round %d): no message on %s after restart %d"
                          % (jid, self.round, JOBS_QUEUE, self.round))
        L.check("jobs", len(mine))


# --------------------------------------------------------------------------
# deterministic reproductions (slow commits)
# --------------------------------------------------------------------------

class SlowCommitReproTest(h.FaultServerTestCase):
    """Issue 9, each bug alone.  Commits are made slow (commit-delay-ms) so a
    request's window between its answer and its commit is wide; the server
    is killed right after the answer under test."""

    DELAY_MS = 1500

    def sqs(self):
        return self.server.client(read_timeout=20, connect_timeout=2)

    def twice_then_kill(self, fn):
        """fn(client) in the background, then fn(another client) once the first is
        on its way; kill -9 as soon as the second is answered.  Returns the second
        answer and how long it took."""
        c1, c2 = self.sqs(), self.sqs()
        self.set_delay(self.DELAY_MS)
        first = threading.Thread(target=lambda: self._swallow(lambda: fn(c1)), daemon=True)
        first.start()
        time.sleep(0.3)          # the first request has changed memory and waits for its commit
        t0 = mono()
        try:
            second = fn(c2)
        finally:
            took = mono() - t0
            self.server.kill9()
            self.set_delay(0)
            first.join(20)
        sys.stderr.write("[repro] second answer after %.2fs (commit delay %.1fs)\n" % (took, self.DELAY_MS / 1000))
        self.server.start()
        return second, took

    @staticmethod
    def _swallow(fn):
        try:
            fn()
        except Exception:  # noqa: BLE001 - the server is killed under it
            pass

    def counts(self, sqs, url):
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])

    def test_1_duplicate_delete_then_kill9(self):
        sqs = self.sqs()
        name = h.unique("dupdel")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        sent = sqs.send_message(QueueUrl=url, MessageBody="delete me once")["MessageId"]
        m = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1, WaitTimeSeconds=1)["Messages"][0]
        self.twice_then_kill(lambda c: c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"]))
        sqs = self.sqs()
        url = self.server.queue_url(name)
        time.sleep(1.2)          # past the receive's visibility timeout
        back = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
        self.assertEqual(([(x["MessageId"], x["Body"]) for x in back], self.counts(sqs, url)), ([], (0, 0)),
                         "DeleteMessage of %s was acknowledged (the second of two identical concurrent requests), "
                         "yet the message is back after kill -9" % sent)

    def test_1b_duplicate_delete_batch_then_kill9(self):
        sqs = self.sqs()
        name = h.unique("dupdelb")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="delete me once (batch)")
        m = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1, WaitTimeSeconds=1)["Messages"][0]
        r, _ = self.twice_then_kill(lambda c: c.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": "a", "ReceiptHandle": m["ReceiptHandle"]}]))
        self.assertEqual([e["Id"] for e in r.get("Successful", [])], ["a"], r)
        sqs = self.sqs()
        url = self.server.queue_url(name)
        time.sleep(1.2)
        back = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
        self.assertEqual(([x["MessageId"] for x in back], self.counts(sqs, url)), ([], (0, 0)),
                         "DeleteMessageBatch entry acknowledged, yet message %s is back after kill -9" % m["MessageId"])

    def test_2_duplicate_fifo_send_then_kill9(self):
        sqs = self.sqs()
        name = h.unique("dupsend") + ".fifo"
        url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]
        kw = dict(QueueUrl=url, MessageBody="exactly once", MessageGroupId="g", MessageDeduplicationId="d-1")
        r, _ = self.twice_then_kill(lambda c: c.send_message(**kw))
        sqs = self.sqs()
        url = self.server.queue_url(name)
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        self.assertEqual([(x["MessageId"], x["Body"]) for x in got], [(r["MessageId"], "exactly once")],
                         "FIFO SendMessage (dedup id d-1, the second of two identical concurrent sends) was "
                         "acknowledged as %s, but the message is not there after kill -9" % r["MessageId"])

    def test_3_duplicate_create_queue_then_kill9(self):
        name = h.unique("dupcreate")
        r, _ = self.twice_then_kill(lambda c: c.create_queue(QueueName=name))
        self.assertTrue(r["QueueUrl"].endswith("/" + name))
        try:
            self.sqs().get_queue_url(QueueName=name)
        except h.ClientError as e:
            self.fail("CreateQueue %s (the second of two identical concurrent requests) was acknowledged, but the "
                      "queue is gone after kill -9: %s" % (name, e.response["Error"]))

    def _handle_reuse(self, kill):
        sqs = self.sqs()
        name = h.unique("stale")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="A")
        a = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"][0]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=a["ReceiptHandle"])
        self.server.restart(kill=kill)
        sqs = self.sqs()
        url = self.server.queue_url(name)
        b_id = sqs.send_message(QueueUrl=url, MessageBody="B")["MessageId"]
        b = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"][0]
        self.assertEqual((b["MessageId"], b["Body"]), (b_id, "B"))
        problems = []
        if b["ReceiptHandle"] == a["ReceiptHandle"]:
            problems.append("B's receipt handle is byte-identical to deleted message A's (%s)" % short(a["ReceiptHandle"], 40))
        for what, fn in (("ChangeMessageVisibility(A's handle, 0)",
                          lambda: sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=a["ReceiptHandle"],
                                                                VisibilityTimeout=0)),
                         ("DeleteMessage(A's handle)",
                          lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle=a["ReceiptHandle"]))):
            try:
                fn()
                answer = "succeeded"
            except h.ClientError as e:
                answer = "refused (%s)" % e.response["Error"].get("Code")
            n = self.counts(sqs, url)
            if n != (0, 1):
                problems.append("%s %s and changed B: visible/in flight %s, expected (0, 1)" % (what, answer, n))
                break
        self.assertEqual(problems, [], "after a %s restart: %s" % ("kill -9" if kill else "SIGTERM", problems))
        # B is still there and its own handle works
        sqs.delete_message(QueueUrl=url, ReceiptHandle=b["ReceiptHandle"])
        self.assertEqual(self.counts(sqs, url), (0, 0))

    def test_4_receipt_handle_not_reused_after_sigterm(self):
        self._handle_reuse(kill=False)

    def test_4b_receipt_handle_not_reused_after_kill9(self):
        self._handle_reuse(kill=True)

    def test_4c_fifo_sequence_numbers_not_reused(self):
        sqs = self.sqs()
        name = h.unique("seqno") + ".fifo"
        url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]
        seqs = []
        for kill in (True, False):
            r = sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g",
                                 MessageDeduplicationId=uuid.uuid4().hex)
            seqs.append(int(r["SequenceNumber"]))
            m = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"][0]
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            self.server.restart(kill=kill)
            sqs = self.sqs()
            url = self.server.queue_url(name)
        r = sqs.send_message(QueueUrl=url, MessageBody="y", MessageGroupId="g", MessageDeduplicationId=uuid.uuid4().hex)
        seqs.append(int(r["SequenceNumber"]))
        self.assertEqual(seqs, sorted(set(seqs)), "FIFO SequenceNumbers across a kill -9 and a SIGTERM restart "
                                                  "must strictly increase")

    # -- S3 (issue 9, items 3 and 4) ------------------------------------------
    def s3(self):
        kw = {"checksum": "when_required"} if s.NEW_CHECKSUMS else {}
        return s.s3_client(self.server, read_timeout=20, connect_timeout=2, pool=50, **kw)

    def test_5_s3_failed_commit_is_not_acknowledged(self):
        c = self.s3()
        b = s.unique_bucket("failc")
        c.create_bucket(Bucket=b)
        c.put_object(Bucket=b, Key="old", Body=b"old body")
        c.put_object(Bucket=b, Key="src", Body=b"source")
        problems = []
        for what, fn, key, want in (
                ("PUT", lambda: c.put_object(Bucket=b, Key="new", Body=b"new body"), "new", b"new body"),
                ("overwrite PUT", lambda: c.put_object(Bucket=b, Key="old", Body=b"newer"), "old", b"newer"),
                ("CopyObject", lambda: c.copy_object(Bucket=b, Key="copy", CopySource={"Bucket": b, "Key": "src"}),
                 "copy", b"source"),
                ("DeleteObject", lambda: c.delete_object(Bucket=b, Key="src"), "src", None)):
            self.fail_commits(1)
            try:
                fn()
                answered = True
            except h.ClientError as e:
                answered = False
                code = e.response["ResponseMetadata"]["HTTPStatusCode"]
                if code < 500:
                    problems.append("%s refused with %d, expected a 5xx" % (what, code))
            self.fail_commits(0)
            try:
                body = c.get_object(Bucket=b, Key=key)["Body"].read()
            except h.ClientError:
                body = None
            if answered and body != want:
                problems.append("%s answered success while its commit failed (forced by fail-commits): %r now "
                                "reads %r" % (what, key, body if body is None else body[:40]))
        self.assertEqual(problems, [])

    def test_6_concurrent_puts_of_one_key_leave_no_orphan(self):
        c = self.s3()
        b = s.unique_bucket("orph")
        c.create_bucket(Bucket=b)
        bodies = [os.urandom(100000) for _ in range(40)]
        res, errs, stuck = h.run_threads([(lambda x=x: c.put_object(Bucket=b, Key="k", Body=x)) for x in bodies], 60)
        self.assertEqual((stuck, [e for e in errs if e]), (0, []))
        probs, nfiles, nrefs, ntmp = wait_blobs_clean(self.server.data_dir, 3.0)
        self.assertEqual(probs, [], "after 40 concurrent PUTs of one key (no crash): %d blob files, %d referenced"
                         % (nfiles, nrefs))

    def test_7_crash_leaves_no_temp_file_or_uncommitted_body(self):
        c = self.s3()
        b = s.unique_bucket("crashorph")
        c.create_bucket(Bucket=b)
        c.put_object(Bucket=b, Key="kept", Body=b"kept")
        # a PUT whose body is half sent (temp file in blobs/tmp) ...
        path = s.obj_path(b, "half")
        hdrs, _ = s.sign_headers(self.server, "PUT", path, b"", {"Content-Length": str(4 << 20)},
                                 payload_hash="UNSIGNED-PAYLOAD")
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        try:
            req = "PUT %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (path, self.server.port)
            req += "".join("%s: %s\r\n" % kv for kv in hdrs.items() if kv[0].lower() != "host") + "\r\n"
            sock.sendall(req.encode() + os.urandom(1 << 20))
            # ... and a PUT whose body is written but whose row is not committed yet
            self.set_delay(3000)
            t = threading.Thread(target=lambda: self._swallow(
                lambda: s.s3_client(self.server).put_object(Bucket=b, Key="uncommitted", Body=os.urandom(200000))),
                daemon=True)
            t.start()
            deadline = mono() + 5
            while mono() < deadline and not os.listdir(os.path.join(self.server.data_dir, "blobs", "tmp")):
                time.sleep(0.05)
            time.sleep(0.8)
            tmp_before = os.listdir(os.path.join(self.server.data_dir, "blobs", "tmp"))
            self.server.kill9()
        finally:
            sock.close()
            self.set_delay(0)
        t.join(20)
        self.assertTrue(tmp_before, "the test did not get a temp file in place before the kill")
        self.server.start()
        probs, nfiles, nrefs, ntmp = wait_blobs_clean(self.server.data_dir, 5.0)
        self.assertEqual(probs, [], "after kill -9 with an upload half sent and one uncommitted, restart and 5 s: "
                         "%d blob files, %d referenced, %d temp files" % (nfiles, nrefs, ntmp))
        self.assertEqual(self.s3().get_object(Bucket=b, Key="kept")["Body"].read(), b"kept")


if __name__ == "__main__":
    unittest.main()
