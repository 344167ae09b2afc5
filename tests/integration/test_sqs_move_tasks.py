"""Message move tasks: StartMessageMoveTask, ListMessageMoveTasks,
CancelMessageMoveTask (DLQ redrive).

botocore 1.29 (the query-protocol interpreter) predates these actions, so
there they are sent as raw signed query requests and the XML is parsed here;
with boto3 1.43 they go through the SDK (JSON protocol)."""

import json
import time
import unittest

import harness as h
from harness import SqsTestCase

SERVER = None


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


INT_FIELDS = ("MaxNumberOfMessagesPerSecond", "ApproximateNumberOfMessagesMoved",
              "ApproximateNumberOfMessagesToMove", "StartedTimestamp")


class MoveTaskTest(SqsTestCase):

    # -- transport --------------------------------------------------------
    def _query(self, action, params):
        resp = h.query_request(self.server, action, params)
        if resp.status != 200:
            raise h.client_error_from_raw(resp, action)
        root = h.strip_ns(resp.xml())
        self.assertEqual(root.tag, action + "Response")
        self.assertTrue(root.findtext("ResponseMetadata/RequestId"))
        return root.find(action + "Result")

    def start(self, **kw):
        if hasattr(self.sqs, "start_message_move_task"):
            return self.sqs.start_message_move_task(**kw)
        res = self._query("StartMessageMoveTask", kw)
        return {"TaskHandle": res.findtext("TaskHandle")}

    def list(self, **kw):
        if hasattr(self.sqs, "list_message_move_tasks"):
            return self.sqs.list_message_move_tasks(**kw)
        res = self._query("ListMessageMoveTasks", kw)
        out = []
        for e in res.findall("ListMessageMoveTasksResultEntry"):
            d = {c.tag: c.text for c in e}
            for k in INT_FIELDS:
                if k in d:
                    d[k] = int(d[k])
            out.append(d)
        return {"Results": out}

    def cancel(self, **kw):
        if hasattr(self.sqs, "cancel_message_move_task"):
            return self.sqs.cancel_message_move_task(**kw)
        res = self._query("CancelMessageMoveTask", kw)
        return {"ApproximateNumberOfMessagesMoved": int(res.findtext("ApproximateNumberOfMessagesMoved"))}

    # -- fixtures ---------------------------------------------------------
    def dlq_pair(self, prefix="mv"):
        dlq = self.make_queue(prefix + "dlq")
        dlq_arn = self.arn_of(dlq)
        src = self.make_queue(prefix + "src", attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})})
        return src, self.arn_of(src), dlq, dlq_arn

    def wait_status(self, source_arn, statuses, timeout=15):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            res = self.list(SourceArn=source_arn)["Results"]
            if res and res[0]["Status"] in statuses:
                return res[0]
            last = res
            time.sleep(0.2)
        self.fail("move task did not reach %s within %ss; last: %r" % (statuses, timeout, last))

    # -- tests -----------------------------------------------------------
    def test_redrive_to_explicit_destination(self):
        src, src_arn, dlq, dlq_arn = self.dlq_pair("exp")
        bodies = ["m%d" % i for i in range(5)]
        for b in bodies:
            self.sqs.send_message(QueueUrl=dlq, MessageBody=b)
        t0 = int(time.time() * 1000)
        handle = self.start(SourceArn=dlq_arn, DestinationArn=src_arn)["TaskHandle"]
        self.assertTrue(handle)
        task = self.wait_status(dlq_arn, {"COMPLETED"})
        self.assertEqual(task["SourceArn"], dlq_arn)
        self.assertEqual(task["DestinationArn"], src_arn)
        self.assertEqual(task["ApproximateNumberOfMessagesMoved"], 5)
        self.assertEqual(task["ApproximateNumberOfMessagesToMove"], 5)
        self.assertIsInstance(task["StartedTimestamp"], int)
        self.assertTrue(t0 - 5000 <= task["StartedTimestamp"] <= time.time() * 1000 + 5000,
                        "StartedTimestamp must be epoch milliseconds")
        self.assertNotIn("TaskHandle", task, "TaskHandle is only listed while the task is running")
        got = self.receive_all(src, 5, timeout=5)
        self.assertEqual(sorted(m["Body"] for m in got), bodies)
        self.assertEqual(self.receive(dlq), [])

    def test_redrive_back_to_original_source(self):
        src, src_arn, dlq, dlq_arn = self.dlq_pair("orig")
        self.sqs.send_message(QueueUrl=src, MessageBody="poison")
        self.assertEqual(len(self.receive(src, WaitTimeSeconds=2)), 1)
        time.sleep(1.2)
        self.assertEqual(self.receive(src, WaitTimeSeconds=1), [])
        self.assertEqual(len(self.receive_all(dlq, 1, timeout=5, delete=False, VisibilityTimeout=0)), 1)
        self.start(SourceArn=dlq_arn)
        task = self.wait_status(dlq_arn, {"COMPLETED"})
        self.assertEqual(task["ApproximateNumberOfMessagesMoved"], 1)
        got = self.receive_all(src, 1, timeout=5)
        self.assertEqual([m["Body"] for m in got], ["poison"])

    def test_source_must_be_a_dlq(self):
        plain_arn = self.arn_of(self.make_queue("plain"))
        self.assertRaisesSqs(lambda: self.start(SourceArn=plain_arn), "InvalidParameterValue", 400,
                             message="Source queue must be configured as a Dead Letter Queue.")

    def test_destination_must_exist(self):
        src, src_arn, dlq, dlq_arn = self.dlq_pair("nodest")
        missing = "arn:aws:sqs:us-east-1:000000000000:" + h.unique("missing")
        self.assertRaisesSqs(lambda: self.start(SourceArn=dlq_arn, DestinationArn=missing),
                             "ResourceNotFoundException", 404,
                             message="The resource that you specified for the DestinationArn parameter doesn't "
                                     "exist.")

    def test_source_must_exist(self):
        missing = "arn:aws:sqs:us-east-1:000000000000:" + h.unique("missing")
        self.assertRaisesSqs(lambda: self.start(SourceArn=missing), "ResourceNotFoundException", 404)

    def test_cancel_invalid_handle(self):
        self.assertRaisesSqs(lambda: self.cancel(TaskHandle="not-a-task-handle"), "InvalidParameterValue", 400,
                             message="Value for parameter TaskHandle is invalid.")

    def test_only_one_active_task_per_source(self):
        src, src_arn, dlq, dlq_arn = self.dlq_pair("single")
        self.sqs.send_message_batch(QueueUrl=dlq, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(10)])
        handle = self.start(SourceArn=dlq_arn, DestinationArn=src_arn, MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
        try:
            self.assertRaisesSqs(lambda: self.start(SourceArn=dlq_arn, DestinationArn=src_arn),
                                 "InvalidParameterValue", 400,
                                 message="There is already a task running. Only one active task is allowed for a "
                                         "source queue arn at a given time.")
        finally:
            self.cancel(TaskHandle=handle)

    def test_list_without_tasks(self):
        src, src_arn, dlq, dlq_arn = self.dlq_pair("empty")
        self.assertEqual(self.list(SourceArn=dlq_arn).get("Results", []), [])

    def test_cancel_running_task(self):
        src, src_arn, dlq, dlq_arn = self.dlq_pair("cancel")
        self.sqs.send_message_batch(QueueUrl=dlq, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(10)])
        handle = self.start(SourceArn=dlq_arn, DestinationArn=src_arn, MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
        running = self.list(SourceArn=dlq_arn)["Results"]
        self.assertEqual(len(running), 1)
        t = running[0]
        self.assertEqual(t["Status"], "RUNNING")
        self.assertEqual(t["TaskHandle"], handle)
        self.assertEqual(t["MaxNumberOfMessagesPerSecond"], 1)
        self.assertEqual(t["ApproximateNumberOfMessagesToMove"], 10)
        time.sleep(1.0)
        res = self.cancel(TaskHandle=handle)
        self.assertIsInstance(res["ApproximateNumberOfMessagesMoved"], int)
        done = self.wait_status(dlq_arn, {"CANCELLED"})
        moved = done["ApproximateNumberOfMessagesMoved"]
        self.assertLess(moved, 10, "1 message/s cannot have moved all 10 messages")
        time.sleep(1.5)
        in_src = self.receive_all(src, 10, timeout=2)
        self.assertLess(len(in_src), 10)
        in_dlq = self.receive_all(dlq, 10 - len(in_src), timeout=5)
        self.assertEqual(len(in_src) + len(in_dlq), 10, "cancelling must not lose or duplicate messages")
        # a finished task lets a new one start, listed first
        self.sqs.send_message(QueueUrl=dlq, MessageBody="again")
        self.start(SourceArn=dlq_arn, DestinationArn=src_arn)
        latest = self.wait_status(dlq_arn, {"COMPLETED"})
        self.assertEqual(latest["ApproximateNumberOfMessagesMoved"], 1)
        # newest first; the default MaxResults is 1
        self.assertEqual([r["Status"] for r in self.list(SourceArn=dlq_arn)["Results"]], ["COMPLETED"])
        self.assertEqual([r["Status"] for r in self.list(SourceArn=dlq_arn, MaxResults=10)["Results"]],
                         ["COMPLETED", "CANCELLED"])


if __name__ == "__main__":
    unittest.main()
