"""Messages on standard queues: SendMessage(+Batch), ReceiveMessage,
DeleteMessage(+Batch), ChangeMessageVisibility(+Batch), PurgeQueue, visibility,
delays, dead-letter queues, system and user attributes, checksums, limits,
fair queues (MessageGroupId on a standard queue)."""

import json
import re
import time
import unittest

from botocore.exceptions import ClientError

import harness as h
from harness import SqsTestCase

SERVER = None


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


MIB = 1048576
UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
OVERSIZE = "One or more parameters are invalid. Reason: Message must be shorter than %d bytes."
BATCH_ID_MSG = ("A batch entry id can only contain alphanumeric characters, hyphens and underscores. "
                "It can be at most 80 letters long.")


def S(v):
    return {"DataType": "String", "StringValue": v}


class SendMessageTest(SqsTestCase):

    def test_send_returns_id_and_md5(self):
        url = self.make_queue("send")
        body = "hello \u00e9\u4e16\U0001f600"
        r = self.sqs.send_message(QueueUrl=url, MessageBody=body)
        self.assertRegex(r["MessageId"], UUID_RE)
        self.assertEqual(r["MD5OfMessageBody"], h.md5_hex(body))
        self.assertNotIn("MD5OfMessageAttributes", r)
        self.assertNotIn("SequenceNumber", r)
        m = self.receive(url)[0]
        self.assertEqual(m["Body"], body)
        self.assertEqual(m["MessageId"], r["MessageId"])
        self.assertEqual(m["MD5OfBody"], h.md5_hex(body))
        self.assertTrue(m["ReceiptHandle"])

    def test_message_attributes_md5_and_round_trip(self):
        url = self.make_queue("mattrs")
        attrs = {
            "str": S("v\u00e4lue \u4e16"),
            "num": {"DataType": "Number", "StringValue": "-12.5e3"},
            "bin": {"DataType": "Binary", "BinaryValue": bytes(range(256))},
            "custom": {"DataType": "String.custom-type", "StringValue": "c"},
            "numint": {"DataType": "Number.int", "StringValue": "42"},
            "binpng": {"DataType": "Binary.png", "BinaryValue": b"\x89PNG\r\n"},
            "Help.Me": S("dots are allowed"),
        }
        r = self.sqs.send_message(QueueUrl=url, MessageBody="m", MessageAttributes=attrs)
        self.assertEqual(r["MD5OfMessageAttributes"], h.md5_of_attributes(attrs))
        m = self.receive(url, MessageAttributeNames=["All"])[0]
        self.assertEqual(m["MessageAttributes"], attrs)
        self.assertEqual(m["MD5OfMessageAttributes"], h.md5_of_attributes(attrs))

    def test_message_attribute_name_filters(self):
        url = self.make_queue("mafilter", attributes={"VisibilityTimeout": "0"})
        attrs = {"General": S("Kenobi"), "Hello": S("There"), "Help.Me": S("Me")}
        self.sqs.send_message(QueueUrl=url, MessageBody="msg", MessageAttributes=attrs)
        cases = [
            (["All"], attrs),
            ([".*"], attrs),
            (["General", "Hello"], {"General": attrs["General"], "Hello": attrs["Hello"]}),
            (["Hel.*"], {"Hello": attrs["Hello"], "Help.Me": attrs["Help.Me"]}),
            (["Help.*"], {"Help.Me": attrs["Help.Me"]}),
            (["Hello", "NotThere"], {"Hello": attrs["Hello"]}),
            (["NotThere"], {}),
            (["AWS."], {}),
            (["..foo"], {}),
            ([], {}),
        ]
        for names, expected in cases:
            with self.subTest(names=names):
                kw = {"MessageAttributeNames": names} if names else {}
                msgs = self.receive(url, **kw)
                self.assertEqual(len(msgs), 1)
                m = msgs[0]
                self.assertEqual(m.get("MessageAttributes") or {}, expected)
                if expected:
                    self.assertEqual(m.get("MD5OfMessageAttributes"), h.md5_of_attributes(expected))
                else:
                    self.assertNotIn("MD5OfMessageAttributes", m)
        # known MD5s recorded from real SQS for these attributes
        self.assertEqual(h.md5_of_attributes(attrs), "4c360f3fdafd970e05fae2f149d997f5")

    def test_system_attribute_trace_header(self):
        url = self.make_queue("trace")
        sysattrs = {"AWSTraceHeader": S("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")}
        r = self.sqs.send_message(QueueUrl=url, MessageBody="t", MessageSystemAttributes=sysattrs)
        self.assertEqual(r["MD5OfMessageSystemAttributes"], h.md5_of_attributes(sysattrs))
        self.assertNotIn("MD5OfMessageAttributes", r)
        m = self.receive(url, AttributeNames=["All"])[0]
        self.assertEqual(m["Attributes"]["AWSTraceHeader"], sysattrs["AWSTraceHeader"]["StringValue"])

    def test_empty_string_attribute_rejected(self):
        url = self.make_queue("emptyattr")
        self.assertRaisesSqs(
            lambda: self.sqs.send_message(QueueUrl=url, MessageBody="x",
                                          MessageAttributes={"ErrorDetails": S("")}),
            "InvalidParameterValue", 400,
            message="Message (user) attribute 'ErrorDetails' must contain a non-empty value of type 'String'.")

    def test_invalid_message_attributes(self):
        url = self.make_queue("badattr")
        eleven = {"a%d" % i: S("v") for i in range(11)}
        cases = {
            "more than 10": eleven,
            "reserved AWS. prefix": {"AWS.x": S("v")},
            "reserved Amazon. prefix": {"Amazon.x": S("v")},
            "space in name": {"bad name": S("v")},
            "leading dot": {".x": S("v")},
            "trailing dot": {"x.": S("v")},
            "double dot": {"a..b": S("v")},
            "name too long": {"n" * 257: S("v")},
            "bad number": {"n": {"DataType": "Number", "StringValue": "abc"}},
            "unknown type": {"n": {"DataType": "Blob", "StringValue": "abc"}},
        }
        for label, attrs in cases.items():
            with self.subTest(case=label):
                self.assertRaisesSqs(lambda: self.sqs.send_message(QueueUrl=url, MessageBody="x",
                                                                   MessageAttributes=attrs),
                                     "InvalidParameterValue", 400)
        self.assertEqual(self.receive(url), [])
        ten = {"a%d" % i: S("v") for i in range(10)}
        self.sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=ten)

    def test_body_allowed_characters_round_trip(self):
        url = self.make_queue("chars")
        bodies = ["tab\tnl\ncr\rcrlf\r\n", " ", "\u00e4\u00f6\u00fc", "\ud7ff", "\ue000", "\ufffd",
                  "\U00010000", "\U0010ffff", "<xml attr=\"1\">&amp;</xml>'", "]]>", "\\u0000 not a nul",
                  "   leading and trailing   "]
        for body in bodies:
            with self.subTest(body=body):
                r = self.sqs.send_message(QueueUrl=url, MessageBody=body)
                self.assertEqual(r["MD5OfMessageBody"], h.md5_hex(body))
                m = self.receive(url)[0]
                self.assertEqual(m["Body"], body)
                self.assertEqual(m["MD5OfBody"], h.md5_hex(body))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def test_body_invalid_characters(self):
        url = self.make_queue("badchars")
        for ch in ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1f", "\ufffe", "\uffff"]:
            with self.subTest(char=hex(ord(ch))):
                self.assertRaisesSqs(lambda: self.sqs.send_message(QueueUrl=url, MessageBody="a" + ch + "b"),
                                     "InvalidMessageContents", 400, message_prefix="Invalid binary character")
        self.assertEqual(self.receive(url), [])

    def test_empty_body_rejected(self):
        url = self.make_queue("emptybody")
        self.assertRaisesSqs(lambda: self.sqs.send_message(QueueUrl=url, MessageBody=""),
                             "MissingParameter", 400,
                             message="The request must contain the parameter MessageBody.")

    def test_size_limit_1_mib(self):
        url = self.make_queue("size")
        ok = "a" * MIB
        r = self.sqs.send_message(QueueUrl=url, MessageBody=ok)
        self.assertEqual(r["MD5OfMessageBody"], h.md5_hex(ok))
        m = self.receive(url)[0]
        self.assertEqual(len(m["Body"]), MIB)
        self.assertEqual(m["MD5OfBody"], h.md5_hex(ok))
        self.assertRaisesSqs(lambda: self.sqs.send_message(QueueUrl=url, MessageBody="a" * (MIB + 1)),
                             "InvalidParameterValue", 400, message=OVERSIZE % MIB)

    def test_size_limit_counts_utf8_bytes(self):
        url = self.make_queue("sizeutf8")
        self.sqs.send_message(QueueUrl=url, MessageBody="\u00e9" * (MIB // 2))  # exactly 1 MiB of UTF-8
        self.assertRaisesSqs(lambda: self.sqs.send_message(QueueUrl=url, MessageBody="\u00e9" * (MIB // 2) + "a"),
                             "InvalidParameterValue", 400, message=OVERSIZE % MIB)

    def test_size_limit_counts_attributes(self):
        url = self.make_queue("sizeattr")
        attr = {"a": S("bcd")}  # 1 + 6 + 3 = 10 bytes
        self.sqs.send_message(QueueUrl=url, MessageBody="x" * (MIB - 10), MessageAttributes=attr)
        self.assertRaisesSqs(lambda: self.sqs.send_message(QueueUrl=url, MessageBody="x" * (MIB - 9),
                                                           MessageAttributes=attr),
                             "InvalidParameterValue", 400)

    def test_queue_maximum_message_size(self):
        url = self.make_queue("maxsize", attributes={"MaximumMessageSize": "1024"})
        self.sqs.send_message(QueueUrl=url, MessageBody="a" * 1024)
        self.assertRaisesSqs(lambda: self.sqs.send_message(QueueUrl=url, MessageBody="a" * 1025),
                             "InvalidParameterValue", 400, message=OVERSIZE % 1024)

    def test_delay_seconds_range(self):
        url = self.make_queue("delayrange")
        for v in (-1, 901):
            with self.subTest(DelaySeconds=v):
                self.assertRaisesSqs(lambda: self.sqs.send_message(QueueUrl=url, MessageBody="x", DelaySeconds=v),
                                     "InvalidParameterValue", 400)

    def test_deduplication_id_on_standard_queue_rejected(self):
        url = self.make_queue("stddedup")
        self.assertRaisesSqs(
            lambda: self.sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d1"),
            "InvalidParameterValue", 400,
            message="Value d1 for parameter MessageDeduplicationId is invalid. Reason: The request include "
                    "parameter that is not valid for this queue type.")


class BatchTest(SqsTestCase):

    def test_send_batch(self):
        url = self.make_queue("batch")
        entries = [{"Id": "m%d" % i, "MessageBody": "body %d \u00e9" % i} for i in range(10)]
        entries[3]["MessageAttributes"] = {"k": S("v"), "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}
        entries[4]["DelaySeconds"] = 0
        r = self.sqs.send_message_batch(QueueUrl=url, Entries=entries)
        self.assertEqual(r.get("Failed", []), [])
        ok = {e["Id"]: e for e in r["Successful"]}
        self.assertEqual(set(ok), {e["Id"] for e in entries})
        for e in entries:
            res = ok[e["Id"]]
            self.assertRegex(res["MessageId"], UUID_RE)
            self.assertEqual(res["MD5OfMessageBody"], h.md5_hex(e["MessageBody"]))
            if "MessageAttributes" in e:
                self.assertEqual(res["MD5OfMessageAttributes"], h.md5_of_attributes(e["MessageAttributes"]))
            else:
                self.assertNotIn("MD5OfMessageAttributes", res)
        self.assertEqual(len({e["MessageId"] for e in r["Successful"]}), 10)
        got = self.receive_all(url, 10, MessageAttributeNames=["All"])
        self.assertEqual(sorted(m["Body"] for m in got), sorted(e["MessageBody"] for e in entries))
        by_body = {m["Body"]: m for m in got}
        self.assertEqual(by_body[entries[3]["MessageBody"]]["MessageAttributes"], entries[3]["MessageAttributes"])

    def test_too_many_entries(self):
        url = self.make_queue("toomany")
        entries = [{"Id": "m%d" % i, "MessageBody": "x"} for i in range(11)]
        self.assertRaisesSqs(lambda: self.sqs.send_message_batch(QueueUrl=url, Entries=entries),
                             "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400,
                             message="Maximum number of entries per request are 10. You have sent 11.")
        self.assertEqual(self.receive(url), [])

    def test_empty_batch(self):
        url = self.make_queue("emptybatch")
        calls = {"SendMessageBatch": lambda: self.sqs.send_message_batch(QueueUrl=url, Entries=[]),
                 "DeleteMessageBatch": lambda: self.sqs.delete_message_batch(QueueUrl=url, Entries=[]),
                 "ChangeMessageVisibilityBatch":
                     lambda: self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=[])}
        for op, fn in calls.items():
            with self.subTest(op=op):
                self.assertRaisesSqs(fn, "AWS.SimpleQueueService.EmptyBatchRequest", 400)

    def test_ids_not_distinct(self):
        url = self.make_queue("dupids")
        self.assertRaisesSqs(
            lambda: self.sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": "same", "MessageBody": "1"}, {"Id": "same", "MessageBody": "2"}]),
            "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400)
        self.assertEqual(self.receive(url), [])

    def test_invalid_ids(self):
        url = self.make_queue("badids")
        for bad in ["", "has space", "colon:id", "dot.id", "x" * 81, "\u00e9"]:
            with self.subTest(id=bad):
                self.assertRaisesSqs(
                    lambda: self.sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": bad, "MessageBody": "x"}]),
                    "AWS.SimpleQueueService.InvalidBatchEntryId", 400, message=BATCH_ID_MSG)
        r = self.sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "A-z_0" + "9" * 75, "MessageBody": "x"}])
        self.assertEqual(len(r["Successful"]), 1)

    def test_batch_total_size(self):
        url = self.make_queue("bigbatch")
        half = 600000
        self.assertRaisesSqs(
            lambda: self.sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": "a", "MessageBody": "a" * half}, {"Id": "b", "MessageBody": "b" * half}]),
            "AWS.SimpleQueueService.BatchRequestTooLong", 400,
            message="Batch requests cannot be longer than 1048576 bytes. You have sent %d bytes." % (2 * half))
        self.assertEqual(self.receive(url), [])
        r = self.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "a", "MessageBody": "a" * (MIB // 2)}, {"Id": "b", "MessageBody": "b" * (MIB // 2)}])
        self.assertEqual(len(r["Successful"]), 2)

    def test_batch_partial_failure(self):
        url = self.make_queue("partial")
        r = self.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "good", "MessageBody": "fine"},
            {"Id": "bad", "MessageBody": "nul\x00"},
        ])
        self.assertEqual([e["Id"] for e in r["Successful"]], ["good"])
        self.assertEqual(len(r["Failed"]), 1)
        f = r["Failed"][0]
        self.assertEqual(f["Id"], "bad")
        self.assertEqual(f["Code"], "InvalidMessageContents")
        self.assertIs(f["SenderFault"], True)
        got = self.receive_all(url, 1, timeout=3)
        self.assertEqual([m["Body"] for m in got], ["fine"])

    def test_delete_batch(self):
        url = self.make_queue("delbatch")
        self.sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(5)])
        msgs = self.receive_all(url, 5, delete=False)
        self.assertEqual(len(msgs), 5)
        entries = [{"Id": "d%d" % i, "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
        entries.append({"Id": "junk", "ReceiptHandle": "not-a-receipt-handle"})
        r = self.sqs.delete_message_batch(QueueUrl=url, Entries=entries)
        self.assertEqual(sorted(e["Id"] for e in r["Successful"]), sorted("d%d" % i for i in range(5)))
        self.assertEqual(len(r["Failed"]), 1)
        self.assertEqual(r["Failed"][0]["Id"], "junk")
        self.assertEqual(r["Failed"][0]["Code"], "ReceiptHandleIsInvalid")
        self.assertIs(r["Failed"][0]["SenderFault"], True)
        a = self.attrs(url)
        self.assertEqual((a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"]), ("0", "0"))

    def test_delete_batch_limits(self):
        url = self.make_queue("delbatchlim")
        self.assertRaisesSqs(
            lambda: self.sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": "x"} for i in range(11)]),
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400,
            message="Maximum number of entries per request are 10. You have sent 11.")
        self.assertRaisesSqs(
            lambda: self.sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": "a", "ReceiptHandle": "x"}, {"Id": "a", "ReceiptHandle": "y"}]),
            "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400)
        self.assertRaisesSqs(
            lambda: self.sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "bad:id", "ReceiptHandle": "x"}]),
            "AWS.SimpleQueueService.InvalidBatchEntryId", 400, message=BATCH_ID_MSG)

    def test_change_visibility_batch(self):
        url = self.make_queue("cmvbatch")
        self.sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(3)])
        msgs = self.receive_all(url, 3, delete=False)
        self.assertEqual(len(msgs), 3)
        entries = [{"Id": "c%d" % i, "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                   for i, m in enumerate(msgs)]
        entries.append({"Id": "junk", "ReceiptHandle": "garbage", "VisibilityTimeout": 0})
        r = self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
        self.assertEqual(sorted(e["Id"] for e in r["Successful"]), ["c0", "c1", "c2"])
        self.assertEqual([(f["Id"], f["Code"], f["SenderFault"]) for f in r["Failed"]],
                         [("junk", "ReceiptHandleIsInvalid", True)])
        again = self.receive_all(url, 3, timeout=3, delete=False)
        self.assertEqual(sorted(m["MessageId"] for m in again), sorted(m["MessageId"] for m in msgs))
        self.assertRaisesSqs(
            lambda: self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": "x", "VisibilityTimeout": 1} for i in range(11)]),
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400,
            message="Maximum number of entries per request are 10. You have sent 11.")


class ReceiveTest(SqsTestCase):

    def test_max_number_of_messages(self):
        url = self.make_queue("maxn")
        for i in range(3):
            self.sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(j), "MessageBody": "%d-%d" % (i, j)} for j in range(5)])
        self.assertEqual(len(self.receive(url, MaxNumberOfMessages=1)), 1)
        got = self.receive(url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        self.assertTrue(1 <= len(got) <= 10)
        for v in (0, 11, -1):
            with self.subTest(MaxNumberOfMessages=v):
                self.assertRaisesSqs(
                    lambda: self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=v),
                    "InvalidParameterValue", 400,
                    message="Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 "
                            "and 10, if provided." % v)

    def test_default_is_one_message(self):
        url = self.make_queue("default1")
        self.sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": str(j)} for j in range(3)])
        self.assertEqual(len(self.receive(url)), 1)

    def test_receive_up_to_ten(self):
        url = self.make_queue("ten")
        self.sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": str(j)} for j in range(10)])
        got = self.receive_all(url, 10, delete=False)
        self.assertEqual(len({m["MessageId"] for m in got}), 10)

    def test_wait_time_range(self):
        url = self.make_queue("waitrange")
        for v in (21, -1):
            with self.subTest(WaitTimeSeconds=v):
                self.assertRaisesSqs(
                    lambda: self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=v),
                    "InvalidParameterValue", 400,
                    message="Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, "
                            "if provided." % v)

    def test_visibility_timeout_range(self):
        url = self.make_queue("visrange")
        for v in (43201, -1):
            with self.subTest(VisibilityTimeout=v):
                self.assertRaisesSqs(
                    lambda: self.sqs.receive_message(QueueUrl=url, VisibilityTimeout=v),
                    "InvalidParameterValue", 400,
                    message="Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and "
                            "<= 43200, if provided." % v)

    def test_system_attributes(self):
        url = self.make_queue("sysattrs", attributes={"VisibilityTimeout": "1"})
        t0 = int(time.time() * 1000)
        self.sqs.send_message(QueueUrl=url, MessageBody="s")
        m1 = self.receive(url, AttributeNames=["All"])[0]
        a1 = m1["Attributes"]
        self.assertEqual(set(a1), {"SenderId", "SentTimestamp", "ApproximateReceiveCount",
                                   "ApproximateFirstReceiveTimestamp"})
        self.assertTrue(a1["SenderId"])
        for k in ("SentTimestamp", "ApproximateFirstReceiveTimestamp"):
            self.assertRegex(a1[k], r"^\d{13}$", "%s must be epoch milliseconds" % k)
        sent = int(a1["SentTimestamp"])
        first = int(a1["ApproximateFirstReceiveTimestamp"])
        now = int(time.time() * 1000)
        self.assertTrue(t0 - 2000 <= sent <= now + 2000, (t0, sent, now))
        self.assertTrue(sent <= first <= now + 2000, (sent, first, now))
        self.assertEqual(a1["ApproximateReceiveCount"], "1")
        time.sleep(1.3)
        m2 = self.receive(url, AttributeNames=["All"], WaitTimeSeconds=2)[0]
        self.assertEqual(m2["MessageId"], m1["MessageId"])
        self.assertEqual(m2["Attributes"]["ApproximateReceiveCount"], "2")
        self.assertEqual(m2["Attributes"]["ApproximateFirstReceiveTimestamp"], a1["ApproximateFirstReceiveTimestamp"])
        self.assertEqual(m2["Attributes"]["SentTimestamp"], a1["SentTimestamp"])
        self.assertNotEqual(m2["ReceiptHandle"], m1["ReceiptHandle"])

    def test_selected_system_attributes(self):
        url = self.make_queue("selattrs", attributes={"VisibilityTimeout": "0"})
        self.sqs.send_message(QueueUrl=url, MessageBody="s")
        m = self.receive(url, AttributeNames=["SenderId"])[0]
        self.assertEqual(set(m["Attributes"]), {"SenderId"})
        m = self.receive(url, AttributeNames=["SentTimestamp", "ApproximateReceiveCount"])[0]
        self.assertEqual(set(m["Attributes"]), {"SentTimestamp", "ApproximateReceiveCount"})
        m = self.receive(url)[0]
        self.assertNotIn("Attributes", m)

    def test_message_system_attribute_names_parameter(self):
        if not self.is_json:
            self.skipTest("MessageSystemAttributeNames is not in botocore %s's model" % h.botocore.__version__)
        url = self.make_queue("msan", attributes={"VisibilityTimeout": "0"})
        self.sqs.send_message(QueueUrl=url, MessageBody="s")
        m = self.receive(url, MessageSystemAttributeNames=["All"])[0]
        self.assertEqual(set(m["Attributes"]), {"SenderId", "SentTimestamp", "ApproximateReceiveCount",
                                                "ApproximateFirstReceiveTimestamp"})
        m = self.receive(url, MessageSystemAttributeNames=["ApproximateReceiveCount"])[0]
        self.assertEqual(set(m["Attributes"]), {"ApproximateReceiveCount"})
        # sqs-consumer sends both parameters
        m = self.receive(url, AttributeNames=["SenderId"], MessageSystemAttributeNames=["SentTimestamp"])[0]
        self.assertTrue({"SentTimestamp"} <= set(m["Attributes"]))

    def test_empty_queue_returns_no_messages(self):
        url = self.make_queue("empty")
        r = self.sqs.receive_message(QueueUrl=url)
        self.assertEqual(r.get("Messages", []), [])


class VisibilityTest(SqsTestCase):

    def test_in_flight_then_redelivered(self):
        url = self.make_queue("vis")
        self.sqs.send_message(QueueUrl=url, MessageBody="v")
        m1 = self.receive(url, VisibilityTimeout=1)[0]
        self.assertEqual(self.receive(url), [])
        time.sleep(1.3)
        m2 = self.receive(url, WaitTimeSeconds=2)
        self.assertEqual([m["MessageId"] for m in m2], [m1["MessageId"]])
        self.assertNotEqual(m2[0]["ReceiptHandle"], m1["ReceiptHandle"])

    def test_queue_visibility_timeout_applies(self):
        url = self.make_queue("qvis", attributes={"VisibilityTimeout": "1"})
        self.sqs.send_message(QueueUrl=url, MessageBody="v")
        self.receive(url)
        self.assertEqual(self.receive(url), [])
        time.sleep(1.3)
        self.assertEqual(len(self.receive(url, WaitTimeSeconds=2)), 1)

    def test_visibility_zero_on_receive(self):
        url = self.make_queue("vis0")
        self.sqs.send_message(QueueUrl=url, MessageBody="v")
        self.receive(url, VisibilityTimeout=0)
        self.assertEqual(len(self.receive(url)), 1)

    def test_change_visibility(self):
        url = self.make_queue("cmv")
        self.sqs.send_message(QueueUrl=url, MessageBody="v")
        m = self.receive(url)[0]
        self.assertEqual(self.receive(url), [])
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        m2 = self.receive(url, VisibilityTimeout=1)
        self.assertEqual([x["MessageId"] for x in m2], [m["MessageId"]])
        # extend: stays hidden past its original 1 s timeout
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m2[0]["ReceiptHandle"], VisibilityTimeout=30)
        time.sleep(1.3)
        self.assertEqual(self.receive(url), [])

    def test_change_visibility_total_limit(self):
        url = self.make_queue("cmvtotal")
        self.sqs.send_message(QueueUrl=url, MessageBody="v")
        m = self.receive(url, VisibilityTimeout=43200)[0]
        self.assertRaisesSqs(
            lambda: self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"],
                                                       VisibilityTimeout=43200),
            "InvalidParameterValue", 400,
            message="Value 43200 for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for "
                    "the message is beyond the limit [43200 seconds]")

    def test_changed_visibility_does_not_stick(self):
        """The next receive uses the queue's timeout again, not the changed one."""
        url = self.make_queue("cmvrevert", attributes={"VisibilityTimeout": "1"})
        self.sqs.send_message(QueueUrl=url, MessageBody="v")
        m = self.receive(url)[0]
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=2)
        time.sleep(1.3)
        self.assertEqual(self.receive(url), [], "the changed 2 s timeout applies to this receive")
        time.sleep(1.0)
        self.assertEqual(len(self.receive(url, WaitTimeSeconds=2)), 1)
        time.sleep(1.3)
        self.assertEqual(len(self.receive(url, WaitTimeSeconds=2)), 1, "back to the queue's 1 s timeout")

    def test_change_visibility_range(self):
        url = self.make_queue("cmvrange")
        self.sqs.send_message(QueueUrl=url, MessageBody="v")
        m = self.receive(url)[0]
        for v in (-1, 43201):
            with self.subTest(VisibilityTimeout=v):
                self.assertRaisesSqs(
                    lambda: self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"],
                                                               VisibilityTimeout=v),
                    "InvalidParameterValue", 400)

    def test_change_visibility_deleted_message(self):
        url = self.make_queue("cmvdel")
        self.sqs.send_message(QueueUrl=url, MessageBody="v")
        m = self.receive(url)[0]
        rh = m["ReceiptHandle"]
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=rh)
        self.assertRaisesSqs(
            lambda: self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=rh, VisibilityTimeout=10),
            "InvalidParameterValue", 400,
            message="Value %s for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not "
                    "available for visibility timeout change." % rh)

    def test_change_visibility_malformed_handle(self):
        url = self.make_queue("cmvbad")
        self.assertRaisesSqs(
            lambda: self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle="garbage", VisibilityTimeout=1),
            "ReceiptHandleIsInvalid", 400,
            message_re=r'The input receipt handle "?garbage"? is not a valid receipt handle\.')

    def test_change_visibility_not_in_flight(self):
        """A receipt whose visibility ran out: recorded real-SQS runs answer
        200 and change nothing -- the message stays visible."""
        url = self.make_queue("notinflight")
        self.sqs.send_message(QueueUrl=url, MessageBody="v")
        m = self.receive(url, VisibilityTimeout=1)[0]
        time.sleep(1.3)
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=60)
        again = self.receive(url, WaitTimeSeconds=1)
        self.assertEqual([x["MessageId"] for x in again], [m["MessageId"]])
        # out-of-range values are still refused for such a receipt
        self.assertRaisesSqs(
            lambda: self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"],
                                                       VisibilityTimeout=43201),
            "InvalidParameterValue", 400)

    def test_change_visibility_stale_handle_changes_nothing(self):
        """An older receipt of a message now in flight under a newer one: 200,
        and the newer holder's lease is neither shortened nor extended."""
        for fifo in (False, True):
            with self.subTest(fifo=fifo):
                url = self.make_queue("stalecmv", fifo=fifo,
                                      attributes={"ContentBasedDeduplication": "true"} if fifo else None)
                kw = {"MessageGroupId": "g"} if fifo else {}
                self.sqs.send_message(QueueUrl=url, MessageBody="s", **kw)
                m1 = self.receive(url, VisibilityTimeout=1)[0]
                time.sleep(1.3)
                m2 = self.receive(url, VisibilityTimeout=30, WaitTimeSeconds=2)[0]
                self.assertEqual(m1["MessageId"], m2["MessageId"])
                self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m1["ReceiptHandle"],
                                                   VisibilityTimeout=0)
                self.assertEqual(self.receive(url), [])  # still hidden under m2
                r = self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
                    {"Id": "a", "ReceiptHandle": m1["ReceiptHandle"], "VisibilityTimeout": 0}])
                self.assertEqual([e["Id"] for e in r.get("Successful", [])], ["a"])
                self.assertEqual(r.get("Failed", []), [])
                self.assertEqual(self.receive(url), [])
                self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m2["ReceiptHandle"],
                                                   VisibilityTimeout=0)
                self.assertEqual(len(self.receive(url, WaitTimeSeconds=1)), 1)

    def test_fifo_delete_with_older_handle_fails(self):
        """FIFO: deleting with the receipt of an earlier receive, after the
        message was received again, fails "The receipt handle has expired" and
        deletes nothing; the current handle deletes it."""
        url = self.make_queue("fifodelold", fifo=True, attributes={"VisibilityTimeout": "1",
                                                                    "ContentBasedDeduplication": "true"})
        self.sqs.send_message(QueueUrl=url, MessageBody="f", MessageGroupId="g")
        h1 = self.receive(url)[0]["ReceiptHandle"]
        time.sleep(1.5)
        m2 = self.receive(url, VisibilityTimeout=30, WaitTimeSeconds=2)[0]
        self.assertRaisesSqs(lambda: self.sqs.delete_message(QueueUrl=url, ReceiptHandle=h1),
                             "InvalidParameterValue", 400,
                             message="Value %s for parameter ReceiptHandle is invalid. Reason: The receipt "
                                     "handle has expired." % h1)
        a = self.attrs(url)
        self.assertEqual(a["ApproximateNumberOfMessagesNotVisible"], "1")
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m2["ReceiptHandle"])
        a = self.attrs(url)
        self.assertEqual((a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"]), ("0", "0"))

    def test_first_receive_never_before_sent(self):
        """ApproximateFirstReceiveTimestamp >= SentTimestamp under concurrent
        sends and receives (the receive reads the clock under the queue lock)."""
        url = self.make_queue("frts")
        stop = time.time() + 3
        bad = []
        seen = [0]

        def producer():
            while time.time() < stop:
                self.sqs.send_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "MessageBody": "x"} for i in range(10)])

        def consumer():
            while time.time() < stop + 1:
                ms = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                              AttributeNames=["All"]).get("Messages", [])
                for m in ms:
                    seen[0] += 1
                    a = m["Attributes"]
                    if int(a["ApproximateFirstReceiveTimestamp"]) < int(a["SentTimestamp"]):
                        bad.append(a)
                if ms:
                    self.sqs.delete_message_batch(QueueUrl=url, Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(ms)])

        h.run_threads([producer, producer, consumer, consumer, consumer], timeout=30)
        self.assertGreater(seen[0], 100)
        self.assertEqual(bad, [])

    def test_delete_semantics(self):
        url = self.make_queue("delsem")
        self.sqs.send_message(QueueUrl=url, MessageBody="d")
        m1 = self.receive(url, VisibilityTimeout=1)[0]
        time.sleep(1.3)
        m2 = self.receive(url, WaitTimeSeconds=2)[0]
        self.assertEqual(m1["MessageId"], m2["MessageId"])
        # an older receipt handle: the call succeeds
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m1["ReceiptHandle"])
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m2["ReceiptHandle"])
        # deleting again succeeds too
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m2["ReceiptHandle"])
        time.sleep(1.2)
        self.assertEqual(self.receive(url), [])
        a = self.attrs(url)
        self.assertEqual((a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"]), ("0", "0"))

    def test_delete_malformed_handle(self):
        url = self.make_queue("delbad")
        for rh in ("garbage", "AQEB" + "A" * 40):
            with self.subTest(handle=rh):
                self.assertRaisesSqs(lambda: self.sqs.delete_message(QueueUrl=url, ReceiptHandle=rh),
                                     "ReceiptHandleIsInvalid", 400,
                                     message_re=r'The input receipt handle "?%s"? is not a valid receipt handle\.'
                                     % re.escape(rh))

    def test_receipt_handle_of_other_queue(self):
        a = self.make_queue("rha")
        b = self.make_queue("rhb")
        self.sqs.send_message(QueueUrl=a, MessageBody="x")
        m = self.receive(a)[0]
        self.assertRaisesSqs(lambda: self.sqs.delete_message(QueueUrl=b, ReceiptHandle=m["ReceiptHandle"]),
                             "ReceiptHandleIsInvalid", 400)


class DelayTest(SqsTestCase):

    def test_queue_delay(self):
        url = self.make_queue("qdelay", attributes={"DelaySeconds": "2"})
        t0 = time.monotonic()
        self.sqs.send_message(QueueUrl=url, MessageBody="late")
        self.assertEqual(self.receive(url), [])
        self.assertEqual(self.attrs(url)["ApproximateNumberOfMessagesDelayed"], "1")
        got = self.receive_all(url, 1, timeout=6)
        self.assertEqual(len(got), 1)
        self.assertGreaterEqual(time.monotonic() - t0, 1.8)

    def test_message_delay(self):
        url = self.make_queue("mdelay")
        t0 = time.monotonic()
        self.sqs.send_message(QueueUrl=url, MessageBody="late", DelaySeconds=2)
        self.sqs.send_message(QueueUrl=url, MessageBody="now")
        self.assertEqual([m["Body"] for m in self.receive(url, MaxNumberOfMessages=10)], ["now"])
        got = self.receive_all(url, 1, timeout=6)
        self.assertEqual([m["Body"] for m in got], ["late"])
        self.assertGreaterEqual(time.monotonic() - t0, 1.8)

    def test_message_delay_overrides_queue_delay(self):
        url = self.make_queue("override", attributes={"DelaySeconds": "60"})
        self.sqs.send_message(QueueUrl=url, MessageBody="now", DelaySeconds=0)
        self.assertEqual([m["Body"] for m in self.receive(url)], ["now"])

    def test_batch_entry_delay(self):
        url = self.make_queue("bdelay")
        self.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "a", "MessageBody": "now"}, {"Id": "b", "MessageBody": "later", "DelaySeconds": 30}])
        self.assertEqual([m["Body"] for m in self.receive(url, MaxNumberOfMessages=10)], ["now"])
        self.assertEqual(self.attrs(url)["ApproximateNumberOfMessagesDelayed"], "1")


class PurgeTest(SqsTestCase):

    def test_purge(self):
        url = self.make_queue("purge")
        name = url.rsplit("/", 1)[1]
        for i in range(3):
            self.sqs.send_message(QueueUrl=url, MessageBody=str(i))
        self.receive(url)
        self.sqs.purge_queue(QueueUrl=url)
        self.assertEqual(self.receive(url, MaxNumberOfMessages=10, WaitTimeSeconds=1), [])
        a = self.attrs(url)
        self.assertEqual((a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"],
                          a["ApproximateNumberOfMessagesDelayed"]), ("0", "0", "0"))
        self.assertRaisesSqs(lambda: self.sqs.purge_queue(QueueUrl=url),
                             "AWS.SimpleQueueService.PurgeQueueInProgress", 403,
                             message="Only one PurgeQueue operation on %s is allowed every 60 seconds." % name)


class DeadLetterTest(SqsTestCase):

    def test_moves_to_dlq_after_max_receive_count(self):
        dlq = self.make_queue("dlq")
        dlq_arn = self.arn_of(dlq)
        src = self.make_queue("dlqsrc", attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})
        src_arn = self.arn_of(src)
        sent = self.sqs.send_message(QueueUrl=src, MessageBody="poison",
                                     MessageAttributes={"k": S("v")})
        for attempt in (1, 2):
            msgs = self.receive(src, WaitTimeSeconds=3, AttributeNames=["All"])
            self.assertEqual(len(msgs), 1, "receive #%d" % attempt)
            self.assertEqual(msgs[0]["Attributes"]["ApproximateReceiveCount"], str(attempt))
            time.sleep(1.2)
        self.assertEqual(self.receive(src, WaitTimeSeconds=1), [], "message must not be received a 3rd time")
        got = self.receive_all(dlq, 1, timeout=5, delete=False, AttributeNames=["All"],
                               MessageAttributeNames=["All"])
        self.assertEqual(len(got), 1)
        m = got[0]
        self.assertEqual(m["MessageId"], sent["MessageId"])
        self.assertEqual(m["Body"], "poison")
        self.assertEqual(m["MessageAttributes"], {"k": S("v")})
        self.assertEqual(m["Attributes"].get("DeadLetterQueueSourceArn"), src_arn)
        a = self.attrs(src)
        self.assertEqual((a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"]), ("0", "0"))


class FairQueueTest(SqsTestCase):

    def test_message_group_id_on_standard_queue(self):
        url = self.make_queue("fair")
        r = self.sqs.send_message(QueueUrl=url, MessageBody="t1", MessageGroupId="tenant-a")
        self.assertNotIn("SequenceNumber", r)
        self.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "1", "MessageBody": "t2", "MessageGroupId": "tenant-b"}])
        got = self.receive_all(url, 2, AttributeNames=["All"])
        groups = {m["Body"]: m["Attributes"].get("MessageGroupId") for m in got}
        self.assertEqual(groups, {"t1": "tenant-a", "t2": "tenant-b"})

    def test_group_not_blocked_on_standard_queue(self):
        url = self.make_queue("fair2")
        for i in range(3):
            self.sqs.send_message(QueueUrl=url, MessageBody=str(i), MessageGroupId="g")
        got = self.receive_all(url, 3, delete=False, timeout=5)
        self.assertEqual(len(got), 3, "a standard queue does not block a group while one message is in flight")


if __name__ == "__main__":
    unittest.main()
