"""State-machine pipelines: the TweedleDeleteAndSend extension (one store
transaction deletes a received message and sends the next state), its errors,
exactly-once state transitions across kill -9, and `tweedle pipeline`."""

import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

import harness as h
from s3_harness import s3_client

TARGET = "TweedleDeleteAndSend"


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


def step(server, queue_url, handle, entries=None, **kw):
    payload = {"QueueUrl": queue_url, "ReceiptHandle": handle}
    if entries is not None:
        payload["Entries"] = entries
    return h.json_request(server, TARGET, payload, **kw)


class DeleteAndSendTest(h.SqsTestCase):

    def receive_one(self, url, **kw):
        msgs = self.receive(url, MaxNumberOfMessages=1, **kw)
        self.assertEqual(len(msgs), 1, msgs)
        return msgs[0]

    def count(self, url):
        a = self.attrs(url, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                             "ApproximateNumberOfMessagesDelayed"])
        return (int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"]),
                int(a["ApproximateNumberOfMessagesDelayed"]))

    def assertJsonError(self, resp, code, status=400, message_contains=None):
        self.assertEqual(resp.status, status, resp)
        body = resp.json()
        self.assertTrue(body["__type"].endswith("#" + h.JSON_TYPE.get(code, code)), body)
        if message_contains:
            self.assertIn(message_contains, body["message"])

    def test_delete_and_send_next_state(self):
        url = self.make_queue("pl")
        self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"stock_no": "STK1"}))
        m = self.receive_one(url)
        nxt = json.dumps({"stock_no": "STK1", "has_raw": True})
        r = step(self.server, url, m["ReceiptHandle"], [
            {"Id": "next", "MessageBody": nxt,
             "MessageAttributes": {"stage": {"DataType": "String", "StringValue": "has_raw"}}}])
        self.assertEqual(r.status, 200, r)
        out = r.json()
        self.assertEqual(len(out["Successful"]), 1)
        res = out["Successful"][0]
        self.assertEqual(res["Id"], "next")
        self.assertEqual(res["MD5OfMessageBody"], h.md5_hex(nxt))
        self.assertEqual(res["MD5OfMessageAttributes"],
                         h.md5_of_attributes({"stage": {"DataType": "String", "StringValue": "has_raw"}}))
        # the old state is gone (not in flight), only the new one is queued
        self.assertEqual(self.count(url), (1, 0, 0))
        got = self.receive_one(url, MessageAttributeNames=["All"])
        self.assertEqual(got["Body"], nxt)
        self.assertEqual(got["MessageId"], res["MessageId"])
        self.assertEqual(got["MessageAttributes"]["stage"]["StringValue"], "has_raw")
        # the old receipt handle is now invalid: nothing more is sent
        r = step(self.server, url, m["ReceiptHandle"], [{"Id": "again", "MessageBody": "x"}])
        self.assertJsonError(r, "ReceiptHandleIsInvalid")
        self.assertEqual(r.header("x-amzn-query-error"), "ReceiptHandleIsInvalid;Sender")
        self.assertEqual(self.count(url), (0, 1, 0))

    def test_no_entries_only_deletes(self):
        url = self.make_queue("pl")
        for entries in (None, []):
            self.sqs.send_message(QueueUrl=url, MessageBody="done")
            m = self.receive_one(url)
            r = step(self.server, url, m["ReceiptHandle"], entries)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json(), {"Successful": []})
            self.assertEqual(self.count(url), (0, 0, 0))

    def test_entries_to_other_queues_and_delay(self):
        src = self.make_queue("pl-src")
        a = self.make_queue("pl-a")
        b = self.make_queue("pl-b")
        self.sqs.send_message(QueueUrl=src, MessageBody="s0")
        m = self.receive_one(src)
        r = step(self.server, src, m["ReceiptHandle"], [
            {"Id": "a", "MessageBody": "to-a", "QueueUrl": a},
            {"Id": "b", "MessageBody": "to-b", "QueueUrl": b, "DelaySeconds": 1},
            {"Id": "same", "MessageBody": "to-src"}])
        self.assertEqual(r.status, 200, r)
        self.assertEqual([e["Id"] for e in r.json()["Successful"]], ["a", "b", "same"])
        self.assertEqual(self.receive_one(a)["Body"], "to-a")
        self.assertEqual(self.receive_one(src)["Body"], "to-src")
        self.assertEqual(self.count(b), (0, 0, 1))
        got = self.receive_all(b, 1, timeout=5)
        self.assertEqual([x["Body"] for x in got], ["to-b"])

    def test_invalid_handle_sends_nothing(self):
        url = self.make_queue("pl")
        dest = self.make_queue("pl-dest")
        self.sqs.send_message(QueueUrl=url, MessageBody="s0")
        m = self.receive_one(url)
        for bad in ("garbage", m["ReceiptHandle"][:-4] + "AAAA"):
            r = step(self.server, url, bad, [{"Id": "n", "MessageBody": "x", "QueueUrl": dest}])
            self.assertJsonError(r, "ReceiptHandleIsInvalid", message_contains="is not a valid receipt handle")
        # a handle of another queue
        other = self.make_queue("pl-other")
        self.sqs.send_message(QueueUrl=other, MessageBody="o")
        mo = self.receive_one(other)
        r = step(self.server, url, mo["ReceiptHandle"], [{"Id": "n", "MessageBody": "x", "QueueUrl": dest}])
        self.assertJsonError(r, "ReceiptHandleIsInvalid")
        r = step(self.server, url, "", [{"Id": "n", "MessageBody": "x"}])
        self.assertJsonError(r, "MissingParameter")
        self.assertEqual(self.count(dest), (0, 0, 0))
        self.assertEqual(self.count(url), (0, 1, 0))  # the message is still in flight
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def test_stale_handle_after_redelivery_sends_nothing(self):
        url = self.make_queue("pl")
        self.sqs.send_message(QueueUrl=url, MessageBody="s0")
        first = self.receive_one(url, VisibilityTimeout=0)
        second = self.receive_one(url)  # another worker got it: first handle is stale
        r = step(self.server, url, first["ReceiptHandle"], [{"Id": "n", "MessageBody": "from-first"}])
        self.assertJsonError(r, "ReceiptHandleIsInvalid", message_contains="received again")
        self.assertEqual(self.count(url), (0, 1, 0))
        r = step(self.server, url, second["ReceiptHandle"], [{"Id": "n", "MessageBody": "from-second"}])
        self.assertEqual(r.status, 200, r)
        self.assertEqual([x["Body"] for x in self.receive_all(url, 1, timeout=3)], ["from-second"])

    def test_invalid_entry_changes_nothing(self):
        url = self.make_queue("pl")
        fifo = self.make_queue("pl", fifo=True)
        small = self.make_queue("pl-small", attributes={"MaximumMessageSize": "1024"})
        self.sqs.send_message(QueueUrl=url, MessageBody="s0")
        m = self.receive_one(url)
        cases = [
            ([{"Id": "ok", "MessageBody": "fine"}, {"Id": "bad", "MessageBody": ""}],
             "MissingParameter", "Entry bad:"),
            ([{"Id": "ok", "MessageBody": "fine"}, {"Id": "bad", "MessageBody": "x", "QueueUrl": url + "-nope"}],
             h.NONEXISTENT, "Entry bad:"),
            ([{"Id": "ok", "MessageBody": "fine"}, {"Id": "f", "MessageBody": "x", "QueueUrl": fifo}],
             "MissingParameter", "MessageGroupId"),
            ([{"Id": "ok", "MessageBody": "fine"}, {"Id": "d", "MessageBody": "x", "DelaySeconds": 901}],
             "InvalidParameterValue", "Entry d:"),
            ([{"Id": "ok", "MessageBody": "fine"}, {"Id": "big", "MessageBody": "x" * 1500, "QueueUrl": small}],
             "InvalidParameterValue", "Entry big: One or more parameters are invalid. Reason: Message must be "
             "shorter than 1024 bytes."),
            ([{"Id": "ok", "MessageBody": "x" * 1048577}], "AWS.SimpleQueueService.BatchRequestTooLong", None),
            ([{"Id": "x", "MessageBody": "1"}, {"Id": "x", "MessageBody": "2"}], "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", None),
            ([{"Id": "i%d" % i, "MessageBody": "b"} for i in range(11)], "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", None),
            ([{"Id": "bad id!", "MessageBody": "b"}], "AWS.SimpleQueueService.InvalidBatchEntryId", None),
        ]
        for entries, code, msg in cases:
            with self.subTest(code=code):
                r = step(self.server, url, m["ReceiptHandle"], entries)
                self.assertJsonError(r, code, message_contains=msg)
        # nothing was sent and the message is still in flight under its handle
        self.assertEqual(self.count(url), (0, 1, 0))
        self.assertEqual(self.count(fifo), (0, 0, 0))
        r = step(self.server, url, m["ReceiptHandle"], [{"Id": "ok", "MessageBody": "fine"}])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.count(url), (1, 0, 0))

    def test_fifo_next_state_in_group(self):
        url = self.make_queue("pl", fifo=True)
        self.sqs.send_message(QueueUrl=url, MessageBody="a0", MessageGroupId="g", MessageDeduplicationId="a0")
        self.sqs.send_message(QueueUrl=url, MessageBody="b0", MessageGroupId="h", MessageDeduplicationId="b0")
        m = self.receive_one(url)
        self.assertEqual(m["Body"], "a0")
        r = step(self.server, url, m["ReceiptHandle"], [
            {"Id": "n", "MessageBody": "a1", "MessageGroupId": "g", "MessageDeduplicationId": "a1"}])
        self.assertEqual(r.status, 200, r)
        self.assertRegex(r.json()["Successful"][0]["SequenceNumber"], r"^\d{20}$")
        bodies = sorted(x["Body"] for x in self.receive_all(url, 2, timeout=3))
        self.assertEqual(bodies, ["a1", "b0"])

    def test_query_protocol(self):
        url = self.make_queue("pl")
        self.sqs.send_message(QueueUrl=url, MessageBody="s0")
        m = self.receive_one(url)
        r = h.query_request(self.server, TARGET, [
            ("QueueUrl", url), ("ReceiptHandle", m["ReceiptHandle"]),
            # flattened like SendMessageBatch's entries
            ("SendMessageBatchRequestEntry.1.Id", "n1"), ("SendMessageBatchRequestEntry.1.MessageBody", "q-next"),
            ("SendMessageBatchRequestEntry.1.MessageAttribute.1.Name", "k"),
            ("SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType", "String"),
            ("SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue", "v")])
        self.assertEqual(r.status, 200, r)
        root = h.strip_ns(r.xml())
        self.assertEqual(root.tag, "TweedleDeleteAndSendResponse")
        e = root.find("TweedleDeleteAndSendResult/TweedleDeleteAndSendResultEntry")
        self.assertIsNotNone(e, r)
        self.assertEqual(e.findtext("Id"), "n1")
        self.assertEqual(e.findtext("MD5OfMessageBody"), h.md5_hex("q-next"))
        got = self.receive_one(url, MessageAttributeNames=["All"])
        self.assertEqual(got["Body"], "q-next")
        self.assertEqual(got["MessageAttributes"]["k"]["StringValue"], "v")
        r = h.query_request(self.server, TARGET, [("QueueUrl", url), ("ReceiptHandle", "nope")])
        self.assertEqual(r.status, 400, r)
        self.assertIn("<Code>ReceiptHandleIsInvalid</Code>", r.body.decode())

    def test_unsigned_request_rejected(self):
        url = self.make_queue("pl")
        self.sqs.send_message(QueueUrl=url, MessageBody="s0")
        m = self.receive_one(url)
        r = step(self.server, url, m["ReceiptHandle"], [{"Id": "n", "MessageBody": "x"}], sign=False)
        self.assertEqual(r.status, 403, r)
        self.assertEqual(self.count(url), (0, 1, 0))


class DeleteAndSendCrashTest(h.FreshServerTestCase):
    """kill -9 while pipeline workers step records: every (record, step) is
    carried by exactly one message (no state doubled), every record finishes
    (no state lost)."""

    RECORDS = 30
    FINAL = 15
    WORKERS = 4
    KILLS = 3

    def call(self, action, payload, timeout=5):
        r = h.json_request(self.server, action, payload, timeout=timeout)
        if r.status != 200:
            raise RuntimeError("%s: %d %r" % (action, r.status, r.body[:200]))
        return r.json()

    def test_kill9_exactly_once_transitions(self):
        sqs = self.server.client()
        name = h.unique("plcrash")
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "2"})
        path_url = "/%s/%s" % (h.ACCOUNT, name)  # host-independent: the port may change on restart
        sqs.send_message_batch(QueueUrl=self.server.queue_url(name), Entries=[
            {"Id": str(i), "MessageBody": json.dumps({"rec": i, "step": 0})} for i in range(10)])
        sqs.send_message_batch(QueueUrl=self.server.queue_url(name), Entries=[
            {"Id": str(i), "MessageBody": json.dumps({"rec": i, "step": 0})} for i in range(10, 20)])
        sqs.send_message_batch(QueueUrl=self.server.queue_url(name), Entries=[
            {"Id": str(i), "MessageBody": json.dumps({"rec": i, "step": 0})} for i in range(20, 30)])
        lock = threading.Lock()
        seen = {}  # (rec, step) -> set of MessageIds that carried it
        finished = set()  # records whose final delete was acknowledged
        steps_acked = [0]
        stop = threading.Event()
        errors = []

        def worker():
            while not stop.is_set():
                try:
                    out = self.call("ReceiveMessage", {"QueueUrl": path_url, "MaxNumberOfMessages": 10,
                                                       "WaitTimeSeconds": 1})
                except Exception:  # noqa: BLE001 - the server is being killed
                    time.sleep(0.05)
                    continue
                for m in out.get("Messages", []):
                    st = json.loads(m["Body"])
                    with lock:
                        seen.setdefault((st["rec"], st["step"]), set()).add(m["MessageId"])
                    entries = []
                    if st["step"] < self.FINAL:
                        entries = [{"Id": "next", "MessageBody": json.dumps(
                            {"rec": st["rec"], "step": st["step"] + 1})}]
                    try:
                        self.call(TARGET, {"QueueUrl": path_url, "ReceiptHandle": m["ReceiptHandle"],
                                           "Entries": entries})
                    except RuntimeError as e:
                        if "ReceiptHandleIsInvalid" not in str(e) and "ServiceUnavailable" not in str(e):
                            errors.append(str(e))
                        continue
                    except Exception:  # noqa: BLE001 - no answer: the step may or may not have happened
                        continue
                    with lock:
                        steps_acked[0] += 1
                        if not entries:
                            finished.add(st["rec"])

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(self.WORKERS)]
        for t in threads:
            t.start()
        total = self.RECORDS * (self.FINAL + 1)
        kills = 0
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with lock:
                done, acked = len(finished), steps_acked[0]
                all_final = all((r, self.FINAL) in seen for r in range(self.RECORDS))
            if kills == self.KILLS and (done == self.RECORDS or (all_final and sqs_attrs(self.server, name) == (0, 0, 0))):
                break
            # kill while steps are flowing: after roughly each quarter of the work
            if kills < self.KILLS and acked >= (kills + 1) * total // (self.KILLS + 2):
                time.sleep(random.uniform(0, 0.05))
                self.server.restart(kill=True)
                kills += 1
            time.sleep(0.01)
        stop.set()
        for t in threads:
            t.join(10)
        self.assertEqual(kills, self.KILLS, "the workers did not make enough progress to kill during it")
        self.assertEqual(errors, [])
        missing = set(range(self.RECORDS)) - finished
        # A record whose final step was committed but whose answer was lost in
        # a kill is finished too: its final state was seen and nothing is left.
        a = sqs_attrs(self.server, name)
        self.assertEqual(a, (0, 0, 0), "messages left in the queue")
        for rec in missing:
            self.assertIn((rec, self.FINAL), seen, "record %d lost its state" % rec)
        doubled = {k: v for k, v in seen.items() if len(v) != 1}
        self.assertEqual(doubled, {}, "a state carried by more than one message")
        for rec in range(self.RECORDS):
            for s in range(self.FINAL + 1):
                self.assertIn((rec, s), seen)



# --------------------------------------------------------------------------
# tweedle pipeline
# --------------------------------------------------------------------------

ROUTER = r"""
import json, os, sys
mode = os.environ.get("MODE", "seed")
raw = sys.stdin.read()
rec = json.loads(raw)
def log(stage):
    with open(os.environ["LOG"], "a") as f:
        f.write(json.dumps({"id": rec.get("stock_no") or rec.get("id"), "stage": stage,
                            "msg": os.environ.get("TWEEDLE_MESSAGE_ID"),
                            "count": os.environ.get("TWEEDLE_RECEIVE_COUNT")}) + "\n")
if mode == "seed":
    # seed 004's router: the first missing property picks the mutation
    for stage in ("has_raw", "size_100", "size_200"):
        if not rec.get(stage):
            log(stage)
            rec[stage] = True
            print(json.dumps(rec))
            sys.exit(0)
    log("done")
    print("null")
elif mode == "poison":
    if rec.get("id") == "poison":
        log("poison")
        sys.stderr.write("cannot route a poison record\n")
        sys.exit(3)
    log("step%d" % rec.get("step", 0))
    if rec.get("step", 0) < 2:
        rec["step"] = rec.get("step", 0) + 1
        print(json.dumps(rec))
elif mode == "fanout":
    if "part" not in rec:
        log("split")
        print(json.dumps([dict(rec, part=1), dict(rec, part=2)]))
    else:
        log("part%d" % rec["part"])
elif mode == "bad":
    log("bad")
    print(os.environ["OUTPUT"])
elif mode == "size":
    log("size%d" % len(raw))
"""

PERSISTENT_ROUTER = r"""
import json, os, sys
for line in sys.stdin:
    rec = json.loads(line)
    with open(os.environ["LOG"], "a") as f:
        f.write(json.dumps({"id": rec["id"], "stage": rec.get("n", 0), "pid": os.getpid()}) + "\n")
    n = rec.get("n", 0)
    print(json.dumps(dict(rec, n=n + 1)) if n < 3 else "null", flush=True)
"""


class PipelineBase(h.SqsTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="tw-pipeline-")
        cls.router = os.path.join(cls.tmp, "router.py")
        with open(cls.router, "w") as f:
            f.write(ROUTER)
        cls.persistent = os.path.join(cls.tmp, "persistent.py")
        with open(cls.persistent, "w") as f:
            f.write(PERSISTENT_ROUTER)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        self.log = os.path.join(self.tmp, "log-%s" % uuid.uuid4().hex)
        open(self.log, "w").close()
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)

    def env(self, endpoint=None, **extra):
        env = dict(os.environ)
        for k in ("AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
            env.pop(k, None)
        env.update(AWS_ACCESS_KEY_ID=h.ACCESS_KEY, AWS_SECRET_ACCESS_KEY=h.SECRET_KEY,
                   AWS_REGION=h.REGION, AWS_ENDPOINT_URL=endpoint or self.server.endpoint,
                   LOG=self.log, **extra)
        return env

    def start(self, url, *args, endpoint=None, mode="seed", router=None, **extra):
        errf = tempfile.TemporaryFile()
        cmd = [h.binary(), "pipeline", "--queue", url, "--metrics-interval", "0"]
        if not any(a.startswith("--exec") for a in args):
            cmd += ["--exec", "%s %s" % (sys.executable, router or self.router)]
        p = subprocess.Popen(cmd + list(args), env=self.env(endpoint, MODE=mode, **extra),
                             stdout=subprocess.DEVNULL, stderr=errf)
        p.errf = errf
        self.procs.append(p)
        return p

    def stop(self, p, timeout=30):
        # a first SIGTERM lets the long poll in progress run out (up to 20 s);
        # a second one ends it now (nothing is in flight when tests stop)
        p.terminate()
        time.sleep(0.3)
        if p.poll() is None:
            p.terminate()
        rc = p.wait(timeout)
        p.errf.seek(0)
        log = p.errf.read().decode("utf-8", "replace")
        p.errf.close()
        self.assertEqual(rc, 0, log)
        return log

    def entries(self):
        with open(self.log) as f:
            return [json.loads(line) for line in f if line.strip()]

    def wait_for(self, cond, timeout=30, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.1)
        self.fail("timed out waiting for %s; log: %r" % (what, self.entries()[-20:]))

    def queue_counts(self, url):
        a = self.attrs(url, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                             "ApproximateNumberOfMessagesDelayed"])
        return tuple(int(a[k]) for k in ("ApproximateNumberOfMessages",
                                         "ApproximateNumberOfMessagesNotVisible",
                                         "ApproximateNumberOfMessagesDelayed"))


class PipelineCliTest(PipelineBase):

    def test_seed_records_through_every_state_once(self):
        url = self.make_queue("pipe")
        n = 8
        for i in range(n):
            self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"stock_no": "STK%d" % i}))
        p = self.start(url, "--concurrency", "3")
        self.wait_for(lambda: len(self.entries()) >= n * 4, what="all states")
        self.wait_for(lambda: self.queue_counts(url) == (0, 0, 0), what="an empty queue")
        log = self.stop(p)
        got = sorted((e["id"], e["stage"]) for e in self.entries())
        want = sorted(("STK%d" % i, st) for i in range(n) for st in ("has_raw", "size_100", "size_200", "done"))
        self.assertEqual(got, want, log)
        self.assertEqual({e["count"] for e in self.entries()}, {"1"})  # no step was retried
        self.assertIn("steps atomic when the server supports it", log)
        self.assertNotIn("at-least-once", log)
        self.assertNotIn("step failed", log)

    def test_router_failure_goes_to_the_dead_letter_queue(self):
        dlq = self.make_queue("pipe-dlq")
        url = self.make_queue("pipe", attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": self.arn_of(dlq), "maxReceiveCount": "2"})})
        self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": "good"}))
        poison = json.dumps({"id": "poison", "note": "keeps its body"})
        self.sqs.send_message(QueueUrl=url, MessageBody=poison)
        p = self.start(url, mode="poison")
        self.wait_for(lambda: int(self.attrs(dlq, ["ApproximateNumberOfMessages"])["ApproximateNumberOfMessages"]) == 1,
                      timeout=30, what="the poison record in the DLQ")
        self.wait_for(lambda: self.queue_counts(url) == (0, 0, 0), what="an empty queue")
        log = self.stop(p)
        stages = [(e["id"], e["stage"]) for e in self.entries()]
        self.assertEqual([s for s in stages if s[0] == "good"], [("good", "step0"), ("good", "step1"), ("good", "step2")])
        self.assertEqual(stages.count(("poison", "poison")), 2)  # maxReceiveCount tries
        self.assertIn("exit status 3", log)
        self.assertIn("cannot route a poison record", log)
        m = self.receive(dlq)[0]
        self.assertEqual(m["Body"], poison)

    def test_fan_out(self):
        url = self.make_queue("pipe")
        self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": "whole"}))
        p = self.start(url, mode="fanout")
        self.wait_for(lambda: len(self.entries()) >= 3, what="both parts")
        self.wait_for(lambda: self.queue_counts(url) == (0, 0, 0), what="an empty queue")
        self.stop(p)
        self.assertEqual(sorted(e["stage"] for e in self.entries()), ["part1", "part2", "split"])

    def test_bad_router_output_leaves_the_message(self):
        for output, why in (("not json", "router output is not JSON"),
                            ("42", "router output must be a JSON object")):
            with self.subTest(output=output):
                open(self.log, "w").close()
                url = self.make_queue("pipe", attributes={"VisibilityTimeout": "1"})
                body = json.dumps({"id": "x"})
                self.sqs.send_message(QueueUrl=url, MessageBody=body)
                p = self.start(url, mode="bad", OUTPUT=output)
                self.wait_for(lambda: len(self.entries()) >= 2, what="a retry")
                log = self.stop(p)
                self.assertIn(why, log)
                self.assertEqual({e["msg"] for e in self.entries()}, {self.entries()[0]["msg"]})
                got = self.receive_all(url, 1, timeout=5)
                self.assertEqual([m["Body"] for m in got], [body])  # nothing else was sent

    def test_persistent_router(self):
        url = self.make_queue("pipe")
        for i in range(4):
            self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": i}))
        p = self.start(url, "--exec-persistent", "%s %s" % (sys.executable, self.persistent))
        self.wait_for(lambda: len(self.entries()) >= 16, what="all states")
        self.wait_for(lambda: self.queue_counts(url) == (0, 0, 0), what="an empty queue")
        log = self.stop(p)
        self.assertEqual(sorted((e["id"], e["stage"]) for e in self.entries()),
                         sorted((i, n) for i in range(4) for n in range(4)))
        self.assertEqual(len({e["pid"] for e in self.entries()}), 1, log)  # one process for all
        self.assertEqual(log.count("started router pid="), 1, log)

    def test_fifo_groups_keep_their_order(self):
        url = self.make_queue("pipe", fifo=True)
        for g in ("a", "b"):
            for i in range(3):
                self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": "%s%d" % (g, i)}),
                                      MessageGroupId=g, MessageDeduplicationId="%s%d" % (g, i))
        p = self.start(url, "--exec-persistent", "%s %s" % (sys.executable, self.persistent))
        self.wait_for(lambda: len(self.entries()) >= 24, what="all states")
        self.wait_for(lambda: self.queue_counts(url) == (0, 0, 0), what="an empty queue")
        self.stop(p)
        seen = [(e["id"], e["stage"]) for e in self.entries()]
        self.assertEqual(len(seen), 24)
        self.assertEqual(len(set(seen)), 24)
        # within a group, record i starts before record i+1 (it was sent first)
        for g in ("a", "b"):
            first = [seen.index(("%s%d" % (g, i), 0)) for i in range(3)]
            self.assertEqual(first, sorted(first))

    def test_offloaded_record_is_resolved_and_its_payload_removed(self):
        url = self.make_queue("pipe")
        s3 = s3_client(self.server)
        bucket = "pl-" + uuid.uuid4().hex[:10]
        rec = json.dumps({"id": "big", "blob": "z" * 300000})
        path = os.path.join(self.tmp, "big-record.json")
        with open(path, "w") as f:
            f.write(rec)
        env = self.env()
        r = subprocess.run([h.binary(), "send", "--queue", url, "--file", path, "--bucket", bucket],
                           env=env, capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        key = json.loads(r.stdout)["Payload"]["Key"]
        p = self.start(url, mode="size")
        self.wait_for(lambda: len(self.entries()) >= 1, what="the router")
        self.wait_for(lambda: self.queue_counts(url) == (0, 0, 0), what="an empty queue")
        self.stop(p)
        self.assertEqual([e["stage"] for e in self.entries()], ["size%d" % len(rec)])
        self.assertEqual(s3.list_objects_v2(Bucket=bucket).get("KeyCount"), 0, key)


C_ROUTER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tweedle/pipeline.h>

/* {"id":"x","n":k} -> {"id":"x","n":k+1} until n is 3; {"id":"boom"} fails */
static int route(const char *record, size_t len, char **next) {
  (void)len;
  const char *id = strstr(record, "\"id\":\"");
  const char *n = strstr(record, "\"n\":");
  if (!id) return 1;
  if (strstr(record, "boom")) return 7;
  int k = n ? atoi(n + 4) : 0;
  FILE *log = fopen(getenv("LOG"), "a");
  fprintf(log, "{\"id\": \"%.*s\", \"stage\": %d}\n", (int)(strchr(id + 6, '"') - id - 6), id + 6, k);
  fclose(log);
  if (k >= 3) return 0;
  *next = malloc(256);
  snprintf(*next, 256, "{\"id\":\"%.*s\",\"n\":%d}", (int)(strchr(id + 6, '"') - id - 6), id + 6, k + 1);
  return 0;
}

int main(int argc, char **argv) { return tw_pipeline_run_main(argc, argv, route); }
"""


class PipelineCApiTest(PipelineBase):

    def build_router(self):
        bindir = os.path.dirname(os.path.realpath(os.environ.get("TWEEDLE_BIN") or h.BIN))
        lib = os.path.join(bindir, "libtweedle-worker.a")
        if not os.path.exists(lib):
            self.fail("%s is missing: `make` builds it" % lib)
        src = os.path.join(self.tmp, "router.c")
        with open(src, "w") as f:
            f.write(C_ROUTER)
        exe = os.path.join(self.tmp, "c-router")
        flags = ["-fsanitize=address,undefined"] if os.path.basename(bindir) == "san" else []
        libs = subprocess.run(["pkg-config", "--libs", "jansson", "libssl", "libcrypto"],
                              capture_output=True, text=True, check=True).stdout.split()
        r = subprocess.run(["cc", "-std=c11", "-I", os.path.join(h.REPO, "include")] + flags +
                           ["-o", exe, src, lib] + libs + ["-lpthread", "-lm"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return exe

    def test_in_process_router(self):
        exe = self.build_router()
        dlq = self.make_queue("pipe-dlq")
        url = self.make_queue("pipe", attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": self.arn_of(dlq), "maxReceiveCount": "2"})})
        for i in range(3):
            self.sqs.send_message(QueueUrl=url, MessageBody='{"id":"r%d"}' % i)
        self.sqs.send_message(QueueUrl=url, MessageBody='{"id":"boom"}')
        errf = tempfile.TemporaryFile()
        p = subprocess.Popen([exe, "--queue", url, "--concurrency", "2", "--metrics-interval", "0"],
                             env=self.env(), stdout=subprocess.DEVNULL, stderr=errf)
        p.errf = errf
        self.procs.append(p)
        self.wait_for(lambda: len(self.entries()) >= 12, what="all states")
        self.wait_for(lambda: int(self.attrs(dlq, ["ApproximateNumberOfMessages"])["ApproximateNumberOfMessages"]) == 1,
                      what="the failing record in the DLQ")
        self.wait_for(lambda: self.queue_counts(url) == (0, 0, 0), what="an empty queue")
        log = self.stop(p)
        self.assertEqual(sorted((e["id"], e["stage"]) for e in self.entries()),
                         sorted(("r%d" % i, n) for i in range(3) for n in range(4)))
        self.assertIn("router in-process", log)
        self.assertIn("the router returned 7", log)
        r = subprocess.run([exe, "--queue", url, "--exec", "true"], env=self.env(), capture_output=True,
                           timeout=10)
        self.assertEqual(r.returncode, 2)  # no --exec for in-process routers


class UnknownOperationProxy:
    """Forwards requests to tweedle, but answers TweedleDeleteAndSend the way
    AWS SQS answers an operation it does not have."""

    def __init__(self, upstream_port):
        import http.server

        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                if self.headers.get("X-Amz-Target") == "AmazonSQS." + TARGET:
                    proxy.rejected += 1
                    out = b'{"__type":"com.amazon.coral.service#UnknownOperationException"}'
                    self.send_response(400)
                    self.send_header("Content-Type", "application/x-amz-json-1.0")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                    return
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                try:
                    conn.request("POST", self.path, body=body, headers=dict(self.headers.items()))
                    r = conn.getresponse()
                    data = r.read()
                finally:
                    conn.close()
                try:
                    self.send_response(r.status)
                    for k, v in r.getheaders():
                        if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client went away (a pipeline stopped mid-poll)
                    self.close_connection = True

        self.rejected = 0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class PipelineFallbackTest(PipelineBase):

    def test_other_servers_get_send_then_delete(self):
        proxy = UnknownOperationProxy(self.server.port)
        try:
            endpoint = "http://127.0.0.1:%d" % proxy.port
            url = self.make_queue("pipe")
            for i in range(3):
                self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"stock_no": "P%d" % i}))
            p = self.start(url, endpoint=endpoint)
            self.wait_for(lambda: len(self.entries()) >= 12, what="all states")
            self.wait_for(lambda: self.queue_counts(url) == (0, 0, 0), what="an empty queue")
            log = self.stop(p)
            self.assertEqual(sorted((e["id"], e["stage"]) for e in self.entries()),
                             sorted(("P%d" % i, st) for i in range(3) for st in ("has_raw", "size_100", "size_200", "done")))
            self.assertEqual(proxy.rejected, 1)  # asked once, then remembered
            self.assertEqual(log.count("does not support TweedleDeleteAndSend"), 1, log)
            self.assertIn("at-least-once", log)
            # --atomic always: no fallback, the step fails and nothing is sent
            open(self.log, "w").close()
            url = self.make_queue("pipe", attributes={"VisibilityTimeout": "1"})
            self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"stock_no": "S"}))
            p = self.start(url, "--atomic", "always", endpoint=endpoint)
            self.wait_for(lambda: len(self.entries()) >= 2, what="a retry")
            log = self.stop(p)
            self.assertIn("--atomic always forbids send-then-delete", log)
            self.assertEqual({e["stage"] for e in self.entries()}, {"has_raw"})
            got = self.receive_all(url, 1, timeout=5)
            self.assertEqual([json.loads(m["Body"]) for m in got], [{"stock_no": "S"}])
        finally:
            proxy.close()

    def test_atomic_never_and_bad_options(self):
        url = self.make_queue("pipe")
        self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"stock_no": "N"}))
        p = self.start(url, "--atomic", "never")
        self.wait_for(lambda: len(self.entries()) >= 4, what="all states")
        self.wait_for(lambda: self.queue_counts(url) == (0, 0, 0), what="an empty queue")
        log = self.stop(p)
        self.assertIn("send-then-delete (at-least-once)", log)
        for args in (("--atomic", "sometimes"), ("--report-batch-item-failures",), ("--bogus",)):
            r = subprocess.run([h.binary(), "pipeline", "--queue", url, "--exec", "true"] + list(args),
                               env=self.env(), capture_output=True, timeout=10)
            self.assertEqual(r.returncode, 2, args)
        r = subprocess.run([h.binary(), "pipeline", "--help"], capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"--atomic", r.stdout)


def sqs_attrs(server, name):
    """(visible, in flight, delayed) of a queue."""
    a = server.client().get_queue_attributes(
        QueueUrl=server.queue_url(name),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                        "ApproximateNumberOfMessagesDelayed"])["Attributes"]
    return (int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"]),
            int(a["ApproximateNumberOfMessagesDelayed"]))


if __name__ == "__main__":
    unittest.main()
