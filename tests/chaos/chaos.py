#!/usr/bin/env python3
"""Chaos: mixed load against one tweedle, kill -9 at random moments, restart on
the same data directory, and check a ledger of every acknowledged effect.

Load (one thread each unless said): SQS standard senders (2) and consumers (2),
FIFO senders (one per group, 3 groups) and a consumer, S3 writers (2: single
PUTs of random sizes, multipart uploads, DELETEs) on a bucket whose
ObjectCreated events go to a queue (drained by an events consumer), gateway
jobs (submit, start, fail), and a pipeline step (TweedleDeleteAndSend from one
queue to another).

Ledger and checks (after every restart, load paused, and at the end):
* every acknowledged send is received at least once or still in the queue;
  nothing whose DeleteMessage was acknowledged (with a fresh handle) comes back;
  queue counts lie between what must and what may be there;
* FIFO: per group, a message is first received only after every earlier
  acknowledged send of its group (the sends of one group are sequential);
* every S3 key holds the result of its last acknowledged operation or of a
  later unacknowledged one, byte-identical (SHA-256) to one of the bodies sent,
  never partial; an acknowledged DELETE stays deleted;
* every acknowledged PUT / CompleteMultipartUpload has its ObjectCreated event;
* a job's status and attempts are those of its last acknowledged transition or
  of a later unacknowledged one (never older), and its message is on the queue;
* a pipeline step acknowledged: the input is gone and the output exists.
Unacknowledged operations (the connection died) may have happened or not.

Environment: CHAOS_SECONDS (default 60), CHAOS_SEED (default random; printed),
CHAOS_KILL_MIN / CHAOS_KILL_MAX (seconds between kills, default 3 / 9),
CHAOS_TAMPER=1 (lose a few acknowledged effects behind the ledger's back
before the final check: the run must fail), TWEEDLE_BIN. Last line: SUMMARY passed=N failed=N skipped=0.
"""

import hashlib
import json
import os
import random
import sys
import threading
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import harness as h  # noqa: E402
import s3_harness as s3h  # noqa: E402
from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402

VIS = 6  # visibility timeout of the test queues (s)
MIN_PART = 5 << 20
API = "/_/api/v1"
JOB_QUEUE = "tweedle-jobs"


def sha(b):
    return hashlib.sha256(b).hexdigest()


def md5(b):
    return hashlib.md5(b).hexdigest()


def mpu_etag(parts):
    return "%s-%d" % (hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest(), len(parts))


class Failures:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, msg):
        with self.lock:
            self.items.append(msg)
            if len(self.items) <= 50:
                print("FAIL: " + msg, flush=True)


class Gate:
    """Load threads call enter()/leave() around each operation; pause() waits
    until none is inside."""

    def __init__(self):
        self.cv = threading.Condition()
        self.paused = False
        self.inside = 0
        self.stop = False

    def enter(self):
        with self.cv:
            while self.paused and not self.stop:
                self.cv.wait(0.2)
            if self.stop:
                return False
            self.inside += 1
            return True

    def leave(self):
        with self.cv:
            self.inside -= 1
            self.cv.notify_all()

    def pause(self, timeout=60):
        with self.cv:
            self.paused = True
            deadline = time.monotonic() + timeout
            while self.inside > 0 and time.monotonic() < deadline:
                self.cv.wait(0.2)
            return self.inside == 0

    def resume(self):
        with self.cv:
            self.paused = False
            self.cv.notify_all()


class Chaos:
    def __init__(self, seconds, seed):
        self.seconds = seconds
        self.seed = seed
        self.rng = random.Random(seed)
        self.fail = Failures()
        self.gate = Gate()
        self.lock = threading.Lock()
        self.srv = h.Server()
        self.epoch = 0           # bumped at every kill
        self.up = False
        self.stats = {k: 0 for k in (
            "std_sent", "std_deleted", "pipe_in", "fifo_sent", "fifo_deleted", "s3_put", "s3_mpu", "s3_delete",
            "events", "jobs_submitted", "jobs_transitions", "pipe_steps", "unknown", "kills",
            "checked_objects", "checked_messages", "checked_jobs", "checked_events", "received")}
        # SQS ledger: token -> dict(sent: True/None, del: True/None/False, recv: n)
        self.msgs = {"std": {}, "fifo": {}, "pa": {}, "pb": {}}
        self.resurrected = []
        # FIFO: group -> [(n, acked)], first receipts per group
        self.fifo_first = {}
        # S3: key -> list of [kind, sha or None, etag or None, size, acked]
        self.keys = {}
        self.bodies_sha = {}
        self.event_acked = set()   # (key, etag) acknowledged
        self.event_seen = set()
        # jobs: id -> list of [status, attempts, acked]
        self.jobs = {}
        self.unexpected = []

    # -- helpers ---------------------------------------------------------
    def bump(self, k, n=1):
        with self.lock:
            self.stats[k] += n

    def sqs(self):
        return self.srv.client(read_timeout=15, connect_timeout=2, pool=4)

    def s3(self):
        return s3h.s3_client(self.srv, read_timeout=30, connect_timeout=2, pool=4)

    def url(self, name):
        return self.srv.queue_url(name)

    def op(self, fn):
        """Runs fn() inside the gate. Returns (ok, result). An error while the
        server was up the whole time (same epoch, not killed) is unexpected."""
        ep = self.epoch
        try:
            return True, fn()
        except (ClientError, BotoCoreError, OSError) as e:
            if ep == self.epoch and self.up:
                status = getattr(e, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode") if isinstance(
                    e, ClientError) else None
                if status is None or status >= 500:
                    # the kill may land between the two reads of epoch: look again shortly
                    time.sleep(0.3)
                    if ep == self.epoch and self.up:
                        self.unexpected.append("%s: %r" % (getattr(fn, "__name__", "op"), e))
            return False, e

    def steps(self):
        """The iterations of a load thread, each inside the gate (a kill's
        check waits until no iteration is running)."""
        while True:
            if not self.gate.enter():
                return
            try:
                yield
            finally:
                self.gate.leave()

    def thread(self, fn, *args):
        def run():
            try:
                fn(*args)
            except Exception:  # noqa: BLE001 - a bug in the driver or an answer it did not expect
                self.fail.add("load thread %s: %s" % (fn.__name__, traceback.format_exc()))
        return threading.Thread(target=run, daemon=True, name=fn.__name__)

    # -- setup -----------------------------------------------------------
    def setup(self):
        self.srv.start()
        self.up = True
        sqs = self.sqs()
        attrs = {"VisibilityTimeout": str(VIS)}
        for q in ("chaos-std", "chaos-events", "chaos-pa", "chaos-pb"):
            sqs.create_queue(QueueName=q, Attributes=attrs)
        sqs.create_queue(QueueName="chaos-fifo.fifo", Attributes=dict(attrs, FifoQueue="true"))
        s3 = self.s3()
        self.bucket = "chaos-%d" % (self.seed % 100000)
        s3.create_bucket(Bucket=self.bucket)
        s3.put_bucket_notification_configuration(Bucket=self.bucket, NotificationConfiguration={
            "QueueConfigurations": [{"Id": "chaos", "QueueArn": "arn:aws:sqs:%s:%s:chaos-events" % (h.REGION, h.ACCOUNT),
                                     "Events": ["s3:ObjectCreated:*"]}]})
        r = h.raw_request(self.srv, "POST", API + "/apikeys", service="execute-api",
                          body=json.dumps({"name": "chaos", "scopes": [
                              {"actions": ["jobs:submit", "jobs:read", "jobs:update"]}]}),
                          headers={"Content-Type": "application/json"})
        if r.status not in (200, 201):
            raise RuntimeError("cannot create an API key: %r" % r)
        self.api_key = r.json()["key"]

    def job_call(self, method, path, body=None):
        r = h.raw_request(self.srv, method, API + path, sign=False, timeout=15,
                          body=json.dumps(body) if body is not None else b"",
                          headers={"Authorization": "Bearer " + self.api_key, "Content-Type": "application/json"})
        return r

    # -- SQS standard ----------------------------------------------------
    def std_sender(self, idx, qkey="std", qname="chaos-std"):
        c, port = self.sqs(), self.srv.port
        rng = random.Random("%d-%s-%d" % (self.seed, qkey, idx))
        n = 0
        for _ in self.steps():
            if self.srv.port != port:
                c, port = self.sqs(), self.srv.port
            n += 1
            batch = rng.random() < 0.3
            toks = ["%s:%d:%d:%d" % (qkey, idx, n, j) for j in range(5 if batch else 1)]
            ledger = self.msgs[qkey]
            with self.lock:
                for t in toks:
                    ledger[t] = {"sent": None, "del": False, "recv": 0, "t_del": None}
            pad = "x" * rng.randint(0, 2000)
            if batch:
                def send():
                    return c.send_message_batch(QueueUrl=self.url(qname), Entries=[
                        {"Id": str(j), "MessageBody": t + " " + pad} for j, t in enumerate(toks)])
            else:
                def send():
                    return c.send_message(QueueUrl=self.url(qname), MessageBody=toks[0] + " " + pad)
            ok, r = self.op(send)
            if ok:
                good = [toks[int(e["Id"])] for e in r.get("Successful", [])] if batch else toks
                with self.lock:
                    for t in good:
                        ledger[t]["sent"] = True
                self.bump("std_sent" if qkey == "std" else "pipe_in", len(good))
            else:
                self.bump("unknown")

    def note_receipt(self, qkey, tok):
        """Records a receipt; a message whose delete was acknowledged must not come back."""
        with self.lock:
            e = self.msgs[qkey].get(tok)
            if e is None:
                self.fail.add("%s: received %r, which was never sent" % (qkey, tok))
                return None
            e["recv"] += 1
            self.stats["received"] += 1
            if e["del"] is True:
                self.resurrected.append((qkey, tok))
                self.fail.add("%s: %s received again after its DeleteMessage was acknowledged" % (qkey, tok))
            return e

    def std_consumer(self, qkey="std", qname="chaos-std"):
        c, port = self.sqs(), self.srv.port
        for _ in self.steps():
            if self.srv.port != port:
                c, port = self.sqs(), self.srv.port
            ok, r = self.op(lambda: c.receive_message(QueueUrl=self.url(qname), MaxNumberOfMessages=10,
                                                      WaitTimeSeconds=1))
            t_recv = time.monotonic()
            if not ok:
                continue
            for m in r.get("Messages", []):
                tok = m["Body"].split(" ", 1)[0]
                if self.note_receipt(qkey, tok) is None:
                    continue
                self.delete(c, qkey, qname, tok, m["ReceiptHandle"], t_recv)

    def delete(self, c, qkey, qname, tok, handle, t_recv):
        ok, _ = self.op(lambda: c.delete_message(QueueUrl=self.url(qname), ReceiptHandle=handle))
        fresh = time.monotonic() - t_recv < VIS * 0.5
        with self.lock:
            e = self.msgs[qkey][tok]
            if ok and fresh:
                e["del"] = True
                self.stats[qkey + "_deleted"] = self.stats.get(qkey + "_deleted", 0) + 1
            elif e["del"] is not True:
                e["del"] = None  # may or may not be deleted
        return ok

    # -- FIFO ------------------------------------------------------------
    def fifo_sender(self, group):
        c, port = self.sqs(), self.srv.port
        rng = random.Random("%d-fifo-%d" % (self.seed, group))
        n = 0
        with self.lock:
            self.fifo_first[group] = []
        for _ in self.steps():
            if self.srv.port != port:
                c, port = self.sqs(), self.srv.port
            n += 1
            tok = "fifo:%d:%d" % (group, n)
            with self.lock:
                self.msgs["fifo"][tok] = {"sent": None, "del": False, "recv": 0, "n": n, "g": group}
            body = tok + " " + "f" * rng.randint(0, 500)
            ok, r = self.op(lambda: c.send_message(QueueUrl=self.url("chaos-fifo.fifo"), MessageBody=body,
                                                   MessageGroupId="g%d" % group, MessageDeduplicationId=tok))
            if ok:
                with self.lock:
                    self.msgs["fifo"][tok]["sent"] = True
                self.bump("fifo_sent")
            else:
                self.bump("unknown")
            time.sleep(rng.random() * 0.02)

    def fifo_consumer(self):
        c, port = self.sqs(), self.srv.port
        for _ in self.steps():
            if self.srv.port != port:
                c, port = self.sqs(), self.srv.port
            ok, r = self.op(lambda: c.receive_message(QueueUrl=self.url("chaos-fifo.fifo"), MaxNumberOfMessages=10,
                                                      WaitTimeSeconds=1))
            t_recv = time.monotonic()
            if not ok:
                continue
            for m in r.get("Messages", []):
                tok = m["Body"].split(" ", 1)[0]
                self.fifo_order(tok)
                if self.note_receipt("fifo", tok) is None:
                    continue
                self.delete(c, "fifo", "chaos-fifo.fifo", tok, m["ReceiptHandle"], t_recv)

    def fifo_order(self, tok):
        _, g, n = tok.split(":")
        g, n = int(g), int(n)
        with self.lock:
            e = self.msgs["fifo"].get(tok)
            if e is None or e["recv"] > 0:
                return
            led = self.msgs["fifo"]
            # every acknowledged earlier send of the group must have been received first
            for k in range(max(1, n - 200), n):
                p = led.get("fifo:%d:%d" % (g, k))
                if p is not None and p["sent"] is True and p["recv"] == 0:
                    self.fail.add("fifo: group %d: %s first received before the acknowledged %s" % (g, tok, k))
                    break
            self.fifo_first[g].append(n)

    # -- pipeline (TweedleDeleteAndSend pa -> pb) -------------------------
    def pipe_worker(self):
        c, port = self.sqs(), self.srv.port
        for _ in self.steps():
            if self.srv.port != port:
                c, port = self.sqs(), self.srv.port
            ok, r = self.op(lambda: c.receive_message(QueueUrl=self.url("chaos-pa"), MaxNumberOfMessages=5,
                                                      WaitTimeSeconds=1))
            t_recv = time.monotonic()
            if not ok:
                continue
            for m in r.get("Messages", []):
                tok = m["Body"].split(" ", 1)[0]
                if self.note_receipt("pa", tok) is None:
                    continue
                out = "pb" + tok[2:] + ":%d" % self.msgs["pa"][tok]["recv"]
                with self.lock:
                    self.msgs["pb"][out] = {"sent": None, "del": False, "recv": 0, "src": tok}
                doc = {"QueueUrl": self.url("chaos-pa"), "ReceiptHandle": m["ReceiptHandle"],
                       "Entries": [{"Id": "o", "MessageBody": out + " step", "QueueUrl": self.url("chaos-pb")}]}

                def step():
                    r = h.json_request(self.srv, "TweedleDeleteAndSend", doc, timeout=15)
                    if r.status != 200:
                        raise h.client_error_from_raw(r, "TweedleDeleteAndSend")
                    return r
                ok2, _ = self.op(step)
                fresh = time.monotonic() - t_recv < VIS * 0.5
                with self.lock:
                    e = self.msgs["pa"][tok]
                    if ok2 and fresh:
                        e["del"] = True
                        self.msgs["pb"][out]["sent"] = True
                        self.stats["pipe_steps"] += 1
                    elif e["del"] is not True:
                        e["del"] = None

    def pb_consumer(self):
        self.std_consumer("pb", "chaos-pb")

    # -- S3 --------------------------------------------------------------
    def s3_writer(self, idx):
        c, port = self.s3(), self.srv.port
        rng = random.Random("%d-s3-%d" % (self.seed, idx))
        n = 0
        for _ in self.steps():
            if self.srv.port != port:
                c, port = self.s3(), self.srv.port
            n += 1
            roll = rng.random()
            if roll < 0.12 and n > 3:
                key = "w%d/%04d" % (idx, rng.randrange(1, n))
                rec = ["delete", None, None, 0, None]
                with self.lock:
                    self.keys.setdefault(key, []).append(rec)
                ok, _ = self.op(lambda: c.delete_object(Bucket=self.bucket, Key=key))
                rec[4] = bool(ok) or None
                self.bump("s3_delete" if ok else "unknown")
                continue
            # overwrite an older key now and then
            key = "w%d/%04d" % (idx, rng.randrange(1, n) if roll < 0.25 and n > 3 else n)
            if roll > 0.96:
                parts = [rng.randbytes(MIN_PART), rng.randbytes(rng.randint(1, 300000))]
                body = b"".join(parts)
                rec = ["put", sha(body), mpu_etag(parts), len(body), None]
                with self.lock:
                    self.keys.setdefault(key, []).append(rec)
                ok, _ = self.op(lambda: self.mpu(c, key, parts))
                kind = "s3_mpu"
            else:
                size = rng.choice([0, 1, rng.randint(2, 4096), rng.randint(4096, 65536), rng.randint(65536, 1 << 20)])
                body = rng.randbytes(size)
                rec = ["put", sha(body), md5(body), len(body), None]
                with self.lock:
                    self.keys.setdefault(key, []).append(rec)
                ok, _ = self.op(lambda: c.put_object(Bucket=self.bucket, Key=key, Body=body))
                kind = "s3_put"
            if ok:
                rec[4] = True
                with self.lock:
                    self.event_acked.add((key, rec[2]))
                self.bump(kind)
            else:
                self.bump("unknown")

    def mpu(self, c, key, parts):
        up = c.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        done = []
        for i, p in enumerate(parts, 1):
            e = c.upload_part(Bucket=self.bucket, Key=key, UploadId=up, PartNumber=i, Body=p)["ETag"]
            done.append({"PartNumber": i, "ETag": e})
        return c.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=up,
                                           MultipartUpload={"Parts": done})

    def events_consumer(self):
        c, port = self.sqs(), self.srv.port
        for _ in self.steps():
            if self.srv.port != port:
                c, port = self.sqs(), self.srv.port
            self.drain_events(c, wait=1, once=True)

    def drain_events(self, c, wait=1, once=False):
        got = 0
        while True:
            ok, r = self.op(lambda: c.receive_message(QueueUrl=self.url("chaos-events"), MaxNumberOfMessages=10,
                                                      WaitTimeSeconds=wait))
            if not ok:
                return got
            msgs = r.get("Messages", [])
            for m in msgs:
                try:
                    doc = json.loads(m["Body"])
                except ValueError:
                    self.fail.add("events: a body that is not JSON: %r" % m["Body"][:200])
                    continue
                for rec in doc.get("Records", []):
                    o = rec["s3"]["object"]
                    k = urllib.parse.unquote_plus(o["key"])
                    with self.lock:
                        self.event_seen.add((k, o.get("eTag", "").strip('"')))
                        self.stats["events"] += 1
                self.op(lambda: c.delete_message(QueueUrl=self.url("chaos-events"), ReceiptHandle=m["ReceiptHandle"]))
                got += 1
            if once or not msgs:
                return got

    # -- jobs --------------------------------------------------------------
    def jobs_worker(self):
        """Submits jobs and moves them (start, fail). A job's history is a list
        of [verb, status, attempts, acked]; status and attempts are the
        server's answer when acknowledged."""
        rng = random.Random("%d-jobs" % self.seed)
        for _ in self.steps():
            with self.lock:
                ids = list(self.jobs)
            if not ids or rng.random() < 0.4:
                def submit():
                    r = self.job_call("POST", "/jobs", {"type": "chaos", "payload": {"n": len(ids)}})
                    if r.status != 202:
                        raise h.client_error_from_raw(r, "SubmitJob") if r.status >= 500 else RuntimeError(repr(r))
                    return r.json()["id"]
                ok, jid = self.op(submit)
                if ok:
                    with self.lock:
                        self.jobs[jid] = [["submit", "queued", 0, True]]
                    self.bump("jobs_submitted")
                else:
                    self.bump("unknown")
            else:
                jid = rng.choice(ids)
                with self.lock:
                    hist = self.jobs[jid]
                    status = hist[-1][1]
                verb = "fail" if status == "running" and rng.random() < 0.5 else "start"
                rec = [verb, None, None, None]
                with self.lock:
                    hist.append(rec)

                def act():
                    r = self.job_call("POST", "/jobs/%s/%s" % (jid, verb), {"error": "chaos"} if verb == "fail" else {})
                    if r.status >= 500:
                        raise h.client_error_from_raw(r, "Job" + verb)
                    return r
                ok, r = self.op(act)
                with self.lock:
                    if ok and r.status == 200:
                        d = r.json()
                        rec[1], rec[2], rec[3] = d["status"], d["attempts"], True
                        self.stats["jobs_transitions"] += 1
                    elif ok:
                        rec[3] = False  # refused: nothing changed
                        if r.status != 409:
                            self.fail.add("jobs: %s %s answered %r" % (verb, jid, r))
                    else:
                        self.stats["unknown"] += 1
            time.sleep(rng.random() * 0.05)

    @staticmethod
    def job_states(hist):
        """The (status, attempts) a job may show: its last acknowledged state,
        then each later unacknowledged transition applied or not."""
        last = max(i for i, x in enumerate(hist) if x[3] is True)
        states = {(hist[last][1], hist[last][2])}
        for verb, _, _, acked in hist[last + 1:]:
            if acked is False:
                continue
            nxt = set(states)
            for st, att in states:
                if verb == "start" and st in ("queued", "running", "failed"):
                    nxt.add(("running", att + 1))
                elif verb == "fail" and st == "running":
                    nxt.add(("failed", att))
            states = nxt
        return states

    # -- verification ----------------------------------------------------
    def verify_counts(self, sqs):
        for qkey, qname in (("std", "chaos-std"), ("fifo", "chaos-fifo.fifo"), ("pa", "chaos-pa"), ("pb", "chaos-pb")):
            count = self.queue_count(sqs, qname)
            with self.lock:
                led = self.msgs[qkey]
                must = sum(1 for e in led.values() if e["sent"] is True and e["del"] is False)
                may = sum(1 for e in led.values() if e["del"] is not True)
            if not must <= count <= may:
                self.fail.add("%s: %d messages in the queue after restart; between %d (acknowledged, not deleted) "
                              "and %d (sent or maybe sent, no acknowledged delete) expected" % (qkey, count, must, may))

    def verify_s3(self, s3, full):
        """Lists the bucket and checks each key against its history; GETs (SHA-256)
        every key changed since the last check (every key when full)."""
        listed = {}
        kw = {"Bucket": self.bucket}
        while True:
            r = s3.list_objects_v2(**kw)
            for o in r.get("Contents", []):
                listed[o["Key"]] = (o["ETag"].strip('"'), o["Size"])
            if not r.get("IsTruncated"):
                break
            kw["ContinuationToken"] = r["NextContinuationToken"]
        with self.lock:
            keys = {k: list(v) for k, v in self.keys.items()}
        for k in listed:
            if k not in keys:
                self.fail.add("s3: %s is listed but was never written" % k)
        for key, hist in keys.items():
            last = max((i for i, r in enumerate(hist) if r[4] is True), default=-1)
            cands = [hist[last]] if last >= 0 else [["delete", None, None, 0, True]]
            cands += hist[last + 1:]
            allowed = {(r[2], r[3]) if r[0] == "put" else None for r in cands}
            got = listed.get(key)
            if got not in allowed:
                self.fail.add("s3: %s is %s after restart; allowed %s (history %s)" % (
                    key, got, sorted(map(str, allowed)), [(r[0], r[2], r[4]) for r in hist]))
                continue
            changed = len(hist) > 1 or full
            if got is not None and changed:
                body = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                shas = {r[1] for r in cands if r[0] == "put" and r[2] == got[0]}
                if sha(body) not in shas:
                    self.fail.add("s3: %s body (SHA-256 %s, %d bytes) is none of the bodies sent" % (
                        key, sha(body), len(body)))
                    continue
            self.bump("checked_objects")
            # the state seen is durable: it is the new base of the key's history
            state = next((r for r in cands if r[0] == "put" and (r[2], r[3]) == got), None) if got else None
            base = [state[0], state[1], state[2], state[3], True] if state else ["delete", None, None, 0, True]
            with self.lock:
                cur = self.keys[key]
                del cur[:len(hist)]
                cur.insert(0, base)

    def verify_jobs(self):
        with self.lock:
            jobs = {j: [list(x) for x in hist] for j, hist in self.jobs.items()}
        for jid, hist in jobs.items():
            r = self.job_call("GET", "/jobs/" + jid)
            if r.status != 200:
                self.fail.add("jobs: acknowledged job %s answers %r after restart" % (jid, r))
                continue
            d = r.json()
            allowed = self.job_states(hist)
            if (d["status"], d["attempts"]) not in allowed:
                self.fail.add("jobs: %s is (%s, %d) after restart; allowed %s (history %s)" % (
                    jid, d["status"], d["attempts"], sorted(allowed), hist))
                continue
            self.bump("checked_jobs")
            with self.lock:
                cur = self.jobs[jid]
                del cur[:len(hist)]
                cur.insert(0, ["seen", d["status"], d["attempts"], True])

    def verify_after_restart(self, full=False):
        sqs, s3 = self.sqs(), self.s3()
        self.verify_counts(sqs)
        self.verify_s3(s3, full)
        self.verify_jobs()

    def queue_count(self, sqs, qname):
        a = sqs.get_queue_attributes(QueueUrl=self.url(qname), AttributeNames=["All"])["Attributes"]
        return sum(int(a[k]) for k in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                       "ApproximateNumberOfMessagesDelayed"))

    def drain(self, sqs, qkey, qname, limit=120):
        """Receives and deletes until the queue holds nothing (messages left in
        flight by the last crash come back after the visibility timeout)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            msgs = sqs.receive_message(QueueUrl=self.url(qname), MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       MessageAttributeNames=["All"]).get("Messages", [])
            for m in msgs:
                yield m
                sqs.delete_message(QueueUrl=self.url(qname), ReceiptHandle=m["ReceiptHandle"])
            if not msgs and self.queue_count(sqs, qname) == 0:
                return
        self.fail.add("%s: not drained within %d s" % (qkey, limit))

    def tamper(self, sqs, s3):
        """CHAOS_TAMPER=1: loses what the checks must notice (an acknowledged
        object, message, job message and event), to show that they can fail."""
        with self.lock:
            key = next(k for k, hist in self.keys.items() if hist[-1][0] == "put" and hist[-1][4] is True)
            self.msgs["std"]["std:tampered"] = {"sent": True, "del": False, "recv": 0}
            self.event_acked.add(("tampered", "0"))
        print("chaos: tampering: deleting %s behind the ledger's back, inventing a message" % key, flush=True)
        s3.delete_object(Bucket=self.bucket, Key=key)
        sqs.purge_queue(QueueUrl=self.url(JOB_QUEUE))

    def final_checks(self):
        sqs, s3 = self.sqs(), self.s3()
        if os.environ.get("CHAOS_TAMPER") == "1":
            self.tamper(sqs, s3)
        self.verify_counts(sqs)
        self.verify_s3(s3, full=True)
        self.verify_jobs()
        for qkey, qname in (("std", "chaos-std"), ("pa", "chaos-pa"), ("pb", "chaos-pb")):
            for m in self.drain(sqs, qkey, qname):
                tok = m["Body"].split(" ", 1)[0]
                e = self.note_receipt(qkey, tok)
                if e is not None:
                    e["del"] = True
            with self.lock:
                for tok, e in self.msgs[qkey].items():
                    if e["sent"] is True and e["recv"] == 0:
                        self.fail.add("%s: acknowledged message %s was never received" % (qkey, tok))
                    self.stats["checked_messages"] += 1
        for m in self.drain(sqs, "fifo", "chaos-fifo.fifo"):
            tok = m["Body"].split(" ", 1)[0]
            self.fifo_order(tok)
            e = self.note_receipt("fifo", tok)
            if e is not None:
                e["del"] = True
        with self.lock:
            for tok, e in self.msgs["fifo"].items():
                if e["sent"] is True and e["recv"] == 0:
                    self.fail.add("fifo: acknowledged message %s was never received" % tok)
                self.stats["checked_messages"] += 1
        # pipeline: an acknowledged step's input never comes back (checked by
        # note_receipt) and its output was received
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not self.drain_events(sqs, wait=1) and self.queue_count(sqs, "chaos-events") == 0:
                break
        with self.lock:
            missing = self.event_acked - self.event_seen
            self.stats["checked_events"] = len(self.event_acked)
        for k in sorted(missing)[:20]:
            self.fail.add("events: no ObjectCreated event for the acknowledged write %s (ETag %s)" % k)
        # every acknowledged job has its message on the job queue
        seen = set()
        for m in self.drain(sqs, "jobs", JOB_QUEUE):
            a = m.get("MessageAttributes", {}).get("tweedle.job_id", {}).get("StringValue")
            seen.add(a)
        with self.lock:
            for jid in self.jobs:
                if jid not in seen:
                    self.fail.add("jobs: acknowledged job %s has no message on %s" % (jid, JOB_QUEUE))

    # -- main ------------------------------------------------------------
    def run(self):
        print("chaos: seed %d (CHAOS_SEED=%d to replay), %d s, binary %s" % (
            self.seed, self.seed, self.seconds, h.BIN), flush=True)
        self.setup()
        threads = [self.thread(self.std_sender, i) for i in range(2)]
        threads += [self.thread(self.std_consumer) for _ in range(2)]
        threads += [self.thread(self.fifo_sender, g) for g in range(3)]
        threads += [self.thread(self.fifo_consumer), self.thread(self.std_sender, 9, "pa", "chaos-pa"),
                    self.thread(self.pipe_worker), self.thread(self.pb_consumer)]
        threads += [self.thread(self.s3_writer, i) for i in range(2)]
        threads += [self.thread(self.events_consumer), self.thread(self.jobs_worker)]
        for t in threads:
            t.start()
        kmin = float(os.environ.get("CHAOS_KILL_MIN", "3"))
        kmax = float(os.environ.get("CHAOS_KILL_MAX", "9"))
        end = time.monotonic() + self.seconds
        try:
            while time.monotonic() < end:
                time.sleep(min(self.rng.uniform(kmin, kmax), max(0.1, end - time.monotonic())))
                if time.monotonic() >= end - 0.5:
                    break
                self.up = False
                self.epoch += 1
                self.srv.kill9()
                self.stats["kills"] += 1
                if not self.gate.pause():
                    self.fail.add("load threads still busy 60 s after the kill")
                self.srv.restart()  # (the kill already happened: a plain start)
                self.up = True
                t0 = time.monotonic()
                self.verify_after_restart()
                print("chaos: kill %d at +%.1f s, verified in %.1f s; %s" % (
                    self.stats["kills"], self.seconds - (end - time.monotonic()), time.monotonic() - t0,
                    self.brief()), flush=True)
                self.gate.resume()
            self.gate.stop = True
            self.gate.pause()
            for t in threads:
                t.join(30)
            # a last crash with nothing in flight, then the full check
            self.up = False
            self.epoch += 1
            self.srv.kill9()
            self.srv.restart()
            self.up = True
            self.gate.stop = False
            self.gate.resume()
            self.final_checks()
        finally:
            self.gate.stop = True
            self.srv.stop()
        for e in self.unexpected[:20]:
            self.fail.add("an error while the server was up: " + e)
        print("chaos: " + self.brief(), flush=True)
        return not self.fail.items

    def brief(self):
        s = self.stats
        return ("%(kills)d kills; acknowledged: %(std_sent)d std sends, %(std_deleted)d std deletes, "
                "%(fifo_sent)d FIFO sends, %(fifo_deleted)d FIFO deletes, %(pipe_in)d pipeline inputs, %(s3_put)d PUTs, %(s3_mpu)d multipart, "
                "%(s3_delete)d DELETEs, %(jobs_submitted)d jobs, %(jobs_transitions)d job transitions, "
                "%(pipe_steps)d pipeline steps; %(unknown)d unacknowledged; %(events)d events, "
                "%(received)d receipts; verified %(checked_objects)d object states, %(checked_messages)d messages, "
                "%(checked_events)d events, %(checked_jobs)d job states" % s)


def main():
    seconds = float(os.environ.get("CHAOS_SECONDS", "60"))
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1, 1 << 31))
    c = Chaos(seconds, seed)
    ok = False
    try:
        ok = c.run()
    except Exception:  # noqa: BLE001 - reported as a failure
        traceback.print_exc()
        print(c.srv.log_tail(), flush=True)
    finally:
        if ok:
            c.srv.cleanup()
        else:
            print("chaos: FAILED (seed %d); data kept in %s, log %s" % (seed, c.srv.data_dir, c.srv.log_path))
    print("SUMMARY passed=%d failed=%d skipped=0" % (1 if ok else 0, 0 if ok else 1), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
