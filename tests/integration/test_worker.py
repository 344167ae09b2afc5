"""tweedle worker (--exec, one process per batch) against a tweedle server:
the Lambda SQS event it hands the handler, the result rules (all success,
partial batch failures, unknown identifiers and bad answers, non-zero exit,
crash, timeout), the heartbeat that keeps a slow batch invisible, FIFO
stop-at-first-failure, SIGTERM draining, and redrive to the DLQ.

Handlers are one small Python script (HANDLER) whose behaviour each message
body selects; it appends one JSON line per batch to $REC so the tests see
every delivery. test_worker_modes.py covers --exec-persistent, the C API,
--jobs and the command line."""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import harness as h
from harness import SqsTestCase

SERVER = None


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


# One handler for every test: the body says what to do. In "persistent" mode
# it reads one event per line and answers one line per event.
HANDLER = r'''
import json, os, signal, sys, time

REC = os.environ.get("REC")
DUMP = os.environ.get("DUMP")
MARKS = os.environ.get("MARKS")

def once(tag):
    """True the first time tag is seen (across processes)."""
    p = os.path.join(MARKS, tag)
    try:
        fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        os.close(fd)
        return True
    except FileExistsError:
        return False

def handle(ev, persistent):
    recs = ev["Records"]
    if DUMP:
        with open(DUMP, "a") as f:
            f.write(json.dumps(ev) + "\n")
    if REC:
        with open(REC, "a") as f:
            f.write(json.dumps({"pid": os.getpid(), "t": time.time(), "records": [
                [r["messageId"], r["body"], r["attributes"].get("ApproximateReceiveCount"),
                 r["attributes"].get("MessageGroupId")] for r in recs]}) + "\n")
    failures, code, answer = [], 0, None
    for r in recs:
        b = r["body"]
        print("handling %s" % b, file=sys.stderr, flush=True)
        if b.startswith("sleep:"):
            time.sleep(float(b.split(":")[1]))
        elif b.startswith("badonce"):
            if once("bad-" + r["messageId"]):
                failures.append(r["messageId"])
        elif b.startswith("bad"):
            failures.append(r["messageId"])
        elif b == "exit3":
            code = 3
        elif b == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        elif b == "dieonce":
            if once("die-" + r["messageId"]):
                sys.exit(1)
        elif b == "unknown-id":
            failures.append("00000000-0000-0000-0000-000000000000")
        elif b == "garbage":
            answer = "this is not json {"
        elif b == "error":
            answer = json.dumps({"errorMessage": "boom", "errorType": "Boom"})
    if answer is None:
        answer = json.dumps({"batchItemFailures": [{"itemIdentifier": i} for i in failures]}) \
            if failures else ("{}" if persistent else "")
    return answer, code

if len(sys.argv) > 1 and sys.argv[1] == "persistent":
    for line in sys.stdin:
        answer, code = handle(json.loads(line), True)
        if code:
            sys.exit(code)
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()
else:
    answer, code = handle(json.load(sys.stdin), False)
    sys.stdout.write(answer)
    sys.exit(code)
'''


def wait_until(fn, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


class Worker:
    """One `tweedle worker` process with its log in a file."""

    def __init__(self, server, queue, args, env=None, binary=None):
        self.log_path = tempfile.mktemp(prefix="tweedle-worker-", suffix=".log")
        e = dict(os.environ)
        e.update({"AWS_ACCESS_KEY_ID": h.ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": h.SECRET_KEY,
                  "AWS_REGION": h.REGION})
        e.update(env or {})
        e = {k: v for k, v in e.items() if v is not None}  # None: unset
        cmd = ([binary] if binary else [h.binary(), "worker"]) + \
            ["--queue", queue, "--endpoint", server.endpoint] + list(args)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=e)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, pattern, timeout=10):
        return wait_until(lambda: re.search(pattern, self.log()), timeout,
                          what="log line %r\n%s" % (pattern, self.log()[-3000:]))

    def stop(self, timeout=20, sig=signal.SIGTERM):
        """Signal, wait; returns (returncode, seconds)."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError("worker did not stop within %ss\n%s" % (timeout, self.log()[-3000:]))
        self._log.close()
        return self.proc.returncode, time.monotonic() - t0

    def wait(self, timeout=20):
        """Waits for the process to exit on its own; returns its returncode."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("worker still running after %ss\n%s" % (timeout, self.log()[-3000:]))
        self._log.close()
        return self.proc.returncode

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._log.close()
        if not os.environ.get("TWEEDLE_KEEP_DATA"):
            try:
                os.unlink(self.log_path)
            except OSError:
                pass


class WorkerTestCase(SqsTestCase):
    """Helpers: a temp dir with the handler, workers that are always stopped."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tweedle-wt-")
        self.handler = os.path.join(self.tmp, "handler.py")
        with open(self.handler, "w") as f:
            f.write(HANDLER)
        self.rec = os.path.join(self.tmp, "rec.jsonl")
        self.marks = os.path.join(self.tmp, "marks")
        os.mkdir(self.marks)
        self.workers = []

    def tearDown(self):
        for w in self.workers:
            w.cleanup()
        import shutil
        shutil.rmtree(self.tmp, ignore_errors=True)

    def handler_cmd(self, persistent=False):
        return "%s %s%s" % (sys.executable, self.handler, " persistent" if persistent else "")

    def start(self, url, *args, persistent=False, env=None, binary=None, exec_arg=True):
        e = {"REC": self.rec, "MARKS": self.marks}
        e.update(env or {})
        a = list(args)
        if "--poll-wait" not in a:  # a stop waits for the poll in progress: keep it short
            a += ["--poll-wait", "1"]
        if exec_arg and binary is None:
            a = ["--exec-persistent" if persistent else "--exec", self.handler_cmd(persistent)] + a
        w = Worker(self.server, url, a, env=e, binary=binary)
        self.workers.append(w)
        return w

    def deliveries(self):
        """Every record delivered so far: [(id, body, receive_count, group, pid, batch_no)]."""
        out = []
        try:
            with open(self.rec) as f:
                for n, line in enumerate(f):
                    d = json.loads(line)
                    for mid, body, count, group in d["records"]:
                        out.append((mid, body, int(count), group, d["pid"], n))
        except FileNotFoundError:
            pass
        return out

    def bodies(self):
        return [d[1] for d in self.deliveries()]

    def wait_bodies(self, pred, timeout=15, what="deliveries"):
        return wait_until(lambda: pred(self.bodies()), timeout,
                          what="%s; seen %r" % (what, self.bodies()))

    def counts(self, url):
        a = self.attrs(url, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
        return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])

    def wait_empty(self, url, timeout=15):
        wait_until(lambda: self.counts(url) == (0, 0), timeout, what="an empty queue")

    def send(self, url, *bodies, **kw):
        ids = []
        for b in bodies:
            ids.append(self.sqs.send_message(QueueUrl=url, MessageBody=b, **kw)["MessageId"])
        return ids

    def stop_ok(self, w, timeout=20):
        rc, secs = w.stop(timeout)
        self.assertEqual(rc, 0, w.log()[-3000:])
        return secs


class EventShapeTest(WorkerTestCase):

    def test_event_matches_lambda_sqs_event(self):
        url = self.make_queue("ev")
        arn = self.arn_of(url)
        attrs = {"s": {"DataType": "String", "StringValue": "héllo"},
                 "n": {"DataType": "Number", "StringValue": "42"},
                 "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xfe"},
                 "c": {"DataType": "String.custom", "StringValue": "x"}}
        body1 = 'first "quoted" body\nwith a newline and ünïcode'
        id1 = self.send(url, body1, MessageAttributes=attrs)[0]
        id2 = self.send(url, "plain")[0]
        dump = os.path.join(self.tmp, "dump.jsonl")
        w = self.start(url, "--batch-size", "10", "--batch-window", "1", env={"DUMP": dump})
        self.wait_bodies(lambda b: len(b) == 2)
        self.wait_empty(url)
        self.stop_ok(w)
        records = []
        with open(dump) as f:
            for line in f:
                ev = json.loads(line)
                self.assertEqual(list(ev), ["Records"])
                records += ev["Records"]
        self.assertEqual(len(records), 2)
        by_id = {r["messageId"]: r for r in records}
        r1, r2 = by_id[id1], by_id[id2]
        # key order as in Lambda's documented event
        self.assertEqual(list(r1), ["messageId", "receiptHandle", "body", "attributes",
                                    "messageAttributes", "md5OfBody", "md5OfMessageAttributes",
                                    "eventSource", "eventSourceARN", "awsRegion"])
        self.assertEqual(list(r2), ["messageId", "receiptHandle", "body", "attributes",
                                    "messageAttributes", "md5OfBody", "eventSource",
                                    "eventSourceARN", "awsRegion"])
        self.assertEqual(r1["body"], body1)
        self.assertEqual(r1["md5OfBody"], h.md5_hex(body1))
        self.assertEqual(r1["md5OfMessageAttributes"], h.md5_of_attributes(attrs))
        self.assertEqual(r1["eventSource"], "aws:sqs")
        self.assertEqual(r1["eventSourceARN"], arn)
        self.assertEqual(r1["awsRegion"], h.REGION)
        self.assertTrue(r1["receiptHandle"])
        a = r1["attributes"]
        self.assertEqual(list(a)[:4], ["ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                       "ApproximateFirstReceiveTimestamp"])
        self.assertEqual(a["ApproximateReceiveCount"], "1")
        self.assertTrue(a["SentTimestamp"].isdigit() and a["ApproximateFirstReceiveTimestamp"].isdigit())
        self.assertEqual(r1["messageAttributes"], {
            "s": {"stringValue": "héllo", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
            "n": {"stringValue": "42", "stringListValues": [], "binaryListValues": [], "dataType": "Number"},
            "b": {"binaryValue": "AAH+", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
            "c": {"stringValue": "x", "stringListValues": [], "binaryListValues": [], "dataType": "String.custom"},
        })
        self.assertEqual(r2["messageAttributes"], {})
        self.assertEqual(r2["body"], "plain")

    def test_fifo_event_attributes(self):
        url = self.make_queue("evf", fifo=True, attributes={"ContentBasedDeduplication": "true"})
        dump = os.path.join(self.tmp, "dump.jsonl")
        self.send(url, "f1", MessageGroupId="g1")
        w = self.start(url, env={"DUMP": dump})
        self.wait_bodies(lambda b: b == ["f1"])
        self.stop_ok(w)
        with open(dump) as f:
            r = json.loads(f.readline())["Records"][0]
        a = r["attributes"]
        self.assertEqual(list(a)[:7], ["ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                       "ApproximateFirstReceiveTimestamp", "SequenceNumber",
                                       "MessageGroupId", "MessageDeduplicationId"])
        self.assertEqual(a["MessageGroupId"], "g1")
        self.assertTrue(a["SequenceNumber"].isdigit())


class ResultRulesTest(WorkerTestCase):

    def test_all_success_deletes_everything(self):
        url = self.make_queue("ok")
        bodies = ["m%02d" % i for i in range(25)]
        for i in range(0, 25, 10):
            self.sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i:i + 10])])
        w = self.start(url, "--batch-size", "10", "--metrics-interval", "0.5")
        self.wait_bodies(lambda b: len(b) >= 25)
        self.wait_empty(url)
        time.sleep(0.5)
        self.assertEqual(sorted(self.bodies()), bodies)  # each exactly once
        # a batch is never larger than asked
        self.assertLessEqual(max(len([d for d in self.deliveries() if d[5] == n])
                                 for n in {d[5] for d in self.deliveries()}), 10)
        w.wait_log(r"worker metrics: processed=\d+")
        self.stop_ok(w)
        log = w.log()
        self.assertRegex(log, r"worker stopped: processed=25 failed=0 retried=0 released=0 "
                              r"batches=\d+ failed_batches=0 extended=0 handler_p50_ms=[\d.]+ "
                              r"handler_p99_ms=[\d.]+")
        # the handler's stderr, one tagged line each
        self.assertRegex(log, r"\[handler pid=\d+\] handling m07\n")

    def test_partial_batch_failures(self):
        url = self.make_queue("part")
        self.send(url, "ok1", "bad1", "ok2", "bad2", "ok3")
        w = self.start(url, "--batch-size", "10", "--batch-window", "1",
                       "--report-batch-item-failures", "--retry-delay", "1")
        # the failed ones come back (receive count 2); the good ones never do
        wait_until(lambda: sum(1 for d in self.deliveries() if d[1].startswith("bad") and d[2] >= 2) >= 2,
                   15, what="bad messages redelivered: %r" % (self.deliveries(),))
        self.stop_ok(w)
        ok = [d for d in self.deliveries() if d[1].startswith("ok")]
        self.assertEqual(sorted(d[1] for d in ok), ["ok1", "ok2", "ok3"])
        self.assertEqual(sum(self.counts(url)), 2)  # only the bad ones remain
        self.assertRegex(w.log(), r"failed=[1-9]\d* retried=[1-9]")

    def test_item_failures_ignored_without_the_flag(self):
        url = self.make_queue("noflag")
        self.send(url, "ok1", "bad1")
        w = self.start(url, "--batch-size", "10", "--batch-window", "1")
        self.wait_bodies(lambda b: len(b) >= 2)
        self.wait_empty(url)
        self.stop_ok(w)
        self.assertEqual(sorted(self.bodies()), ["bad1", "ok1"])

    def _whole_batch_fails(self, poison, *extra):
        url = self.make_queue("whole")
        self.send(url, "ok-" + poison, poison)
        w = self.start(url, "--batch-size", "10", "--batch-window", "1", "--retry-delay", "0",
                       "--report-batch-item-failures", *extra)
        # the innocent message is delivered again: the whole batch failed
        wait_until(lambda: any(d[1] == "ok-" + poison and d[2] >= 2 for d in self.deliveries()),
                   15, what="redelivery of ok-%s: %r" % (poison, self.deliveries()))
        self.stop_ok(w)
        return w

    def test_unknown_identifier_fails_the_batch(self):
        w = self._whole_batch_fails("unknown-id")
        self.assertIn("not in the batch", w.log())

    def test_malformed_answer_fails_the_batch(self):
        w = self._whole_batch_fails("garbage")
        self.assertIn("not JSON", w.log())

    def test_function_error_answer_fails_the_batch(self):
        w = self._whole_batch_fails("error")
        self.assertIn("handler error: boom", w.log())

    def test_nonzero_exit_fails_the_batch(self):
        w = self._whole_batch_fails("exit3")
        self.assertIn("exit status 3", w.log())

    def test_crash_fails_the_batch(self):
        w = self._whole_batch_fails("crash")
        self.assertIn("killed by signal 9", w.log())

    def test_timeout_kills_and_fails_the_batch(self):
        url = self.make_queue("slow")
        self.send(url, "sleep:30")
        t0 = time.monotonic()
        w = self.start(url, "--timeout", "1", "--kill-grace", "1", "--retry-delay", "0")
        wait_until(lambda: sum(1 for d in self.deliveries() if d[1] == "sleep:30") >= 2, 15,
                   what="a second delivery after the timeout")
        self.assertLess(time.monotonic() - t0, 10)
        self.stop_ok(w)
        self.assertIn("timed out after", w.log())


class HeartbeatTest(WorkerTestCase):

    def test_slow_handler_is_not_delivered_twice(self):
        # visibility 4 s, handler 7 s: without the heartbeat the message would
        # reappear at 4 s and the second slot would take it
        url = self.make_queue("hb", attributes={"VisibilityTimeout": "4"})
        self.send(url, "sleep:7")
        w = self.start(url, "--concurrency", "2")
        self.wait_bodies(lambda b: b == ["sleep:7"], 10)
        w.wait_log(r"heartbeat: batch on slot \d running [\d.]+ s; visibility of 1 messages "
                   r"extended by 4 s", 10)
        self.wait_empty(url, 15)
        time.sleep(1.0)
        self.stop_ok(w)
        self.assertEqual(self.bodies(), ["sleep:7"])
        self.assertRegex(w.log(), r"extended=[1-9]")


class FifoTest(WorkerTestCase):

    def test_stop_at_first_failure_in_a_group(self):
        url = self.make_queue("fifo", fifo=True, attributes={"ContentBasedDeduplication": "true"})
        for b in ("a1", "badonce-a2", "a3"):
            self.send(url, b, MessageGroupId="A")
        for b in ("b1", "b2"):
            self.send(url, b, MessageGroupId="B")
        w = self.start(url, "--batch-size", "10", "--batch-window", "1",
                       "--report-batch-item-failures", "--retry-delay", "1")
        self.wait_empty(url, 20)
        self.stop_ok(w)
        d = self.deliveries()
        a = [x[1] for x in d if x[3] == "A"]
        b = [x[1] for x in d if x[3] == "B"]
        # a1 was deleted; a2 failed; a3 (after the failure) was handed back and
        # came again only behind a2's retry
        self.assertEqual(a.count("a1"), 1, d)
        self.assertEqual(a.count("badonce-a2"), 2, d)
        last_a2 = max(i for i, x in enumerate(d) if x[1] == "badonce-a2")
        last_a3 = max(i for i, x in enumerate(d) if x[1] == "a3")
        self.assertGreater(last_a3, last_a2, d)
        self.assertEqual(b, ["b1", "b2"], d)  # the other group is not held back
        self.assertRegex(w.log(), r"worker stopped: processed=5 failed=1 retried=\d+ released=1")


class ShutdownTest(WorkerTestCase):

    def test_sigterm_lets_the_running_handler_finish(self):
        url = self.make_queue("drain")
        self.send(url, "sleep:2.5")
        w = self.start(url, "--concurrency", "2")
        self.wait_bodies(lambda b: b == ["sleep:2.5"], 10)
        t0 = time.monotonic()
        rc, secs = w.stop(15)
        self.assertEqual(rc, 0, w.log()[-2000:])
        self.assertGreater(secs, 1.5)  # it waited for the handler
        self.assertLess(secs, 8)
        self.assertEqual(self.counts(url), (0, 0))  # and deleted its message
        self.assertIn("SIGTERM: no more polling", w.log())
        self.assertLess(time.monotonic() - t0, 10)

    def test_sigterm_releases_unstarted_messages(self):
        # a 20 s batch window holds the received message before any handler runs
        url = self.make_queue("rel", attributes={"VisibilityTimeout": "60"})
        self.send(url, "waiting")
        w = self.start(url, "--batch-size", "10", "--batch-window", "20")
        wait_until(lambda: self.counts(url) == (0, 1), 10, what="the worker to hold the message")
        secs = self.stop_ok(w)
        self.assertLess(secs, 5)
        self.assertEqual(self.bodies(), [])  # never started
        # visible again at once, not after the 60 s visibility timeout
        msgs = self.receive(url, WaitTimeSeconds=2)
        self.assertEqual([m["Body"] for m in msgs], ["waiting"])
        self.assertRegex(w.log(), r"released=1")

    def test_sigint_works_too(self):
        url = self.make_queue("int")
        w = self.start(url)
        w.wait_log("worker: queue ")
        rc, secs = w.stop(10, sig=signal.SIGINT)
        self.assertEqual(rc, 0)
        self.assertLess(secs, 5)

    def test_message_arriving_during_the_stop_is_released(self):
        # The poll in progress is not aborted (SQS would hand a message to the
        # abandoned poll and hide it for a visibility timeout): it returns the
        # message, which goes straight back.
        url = self.make_queue("race", attributes={"VisibilityTimeout": "60"})
        w = self.start(url, "--poll-wait", "20")
        w.wait_log("worker: queue ")
        time.sleep(0.3)  # the first long poll is parked
        t0 = time.monotonic()
        w.proc.send_signal(signal.SIGTERM)
        w.wait_log("SIGTERM: no more polling")
        self.send(url, "late")
        rc = w.wait(15)  # no second signal: that would abort the poll
        self.assertEqual(rc, 0, w.log()[-2000:])
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(self.bodies(), [])
        # visible again at once, not after the 60 s visibility timeout
        self.assertEqual([m["Body"] for m in self.receive(url, WaitTimeSeconds=2)], ["late"])
        self.assertRegex(w.log(), r"released=1")

    def test_second_signal_stops_at_once(self):
        url = self.make_queue("twice")
        w = self.start(url, "--poll-wait", "20")
        w.wait_log("worker: queue ")
        time.sleep(0.3)
        t0 = time.monotonic()
        w.proc.send_signal(signal.SIGTERM)
        w.wait_log("SIGTERM: no more polling")
        w.proc.send_signal(signal.SIGTERM)
        rc, _ = w.stop(15)
        self.assertEqual(rc, 0)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIn("SIGTERM again: aborting polls", w.log())


class RedriveTest(WorkerTestCase):

    def test_poison_message_reaches_the_dlq(self):
        dlq = self.make_queue("dlq")
        url = self.make_queue("src", attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": self.arn_of(dlq), "maxReceiveCount": "2"})})
        self.send(url, "exit3")
        w = self.start(url, "--retry-delay", "0")
        wait_until(lambda: self.counts(dlq)[0] == 1, 15, what="the message in the DLQ")
        self.stop_ok(w)
        self.assertEqual([d[2] for d in self.deliveries()], [1, 2])
        self.assertEqual(self.counts(url), (0, 0))


if __name__ == "__main__":
    unittest.main()
