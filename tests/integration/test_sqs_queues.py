"""Queue management: CreateQueue, GetQueueUrl, ListQueues, DeleteQueue,
Get/SetQueueAttributes, tags, permissions, ListDeadLetterSourceQueues.

Expected values follow the AWS API reference and responses recorded from
real SQS; messages are asserted exactly where AWS's wording is known."""

import json
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


STANDARD_ALL = {
    "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed",
    "ApproximateNumberOfMessagesNotVisible", "CreatedTimestamp", "DelaySeconds",
    "LastModifiedTimestamp", "MaximumMessageSize", "MessageRetentionPeriod", "QueueArn",
    "ReceiveMessageWaitTimeSeconds", "SqsManagedSseEnabled", "VisibilityTimeout",
}
FIFO_EXTRA = {"FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}

# attribute -> (valid edge values, invalid values)
RANGES = {
    "VisibilityTimeout": (["0", "43200"], ["-1", "43201", "abc", ""]),
    "MessageRetentionPeriod": (["60", "1209600"], ["59", "1209601", "x"]),
    "DelaySeconds": (["0", "900"], ["-1", "901"]),
    "ReceiveMessageWaitTimeSeconds": (["0", "20"], ["-1", "21"]),
    "MaximumMessageSize": (["1024", "1048576"], ["1023", "1048577"]),
}


class CreateQueueTest(SqsTestCase):

    def test_create_returns_url_in_account_path(self):
        name = h.unique("create")
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        self.assertEqual(url, self.server.queue_url(name))

    def test_default_attributes_standard(self):
        t0 = int(time.time())
        url = self.make_queue("defaults")
        a = self.attrs(url)
        self.assertEqual(set(a), STANDARD_ALL)
        self.assertEqual(a["DelaySeconds"], "0")
        self.assertEqual(a["MaximumMessageSize"], "1048576")
        self.assertEqual(a["MessageRetentionPeriod"], "345600")
        self.assertEqual(a["ReceiveMessageWaitTimeSeconds"], "0")
        self.assertEqual(a["VisibilityTimeout"], "30")
        self.assertEqual(a["SqsManagedSseEnabled"], "true")
        self.assertEqual(a["ApproximateNumberOfMessages"], "0")
        self.assertEqual(a["ApproximateNumberOfMessagesNotVisible"], "0")
        self.assertEqual(a["ApproximateNumberOfMessagesDelayed"], "0")
        name = url.rsplit("/", 1)[1]
        self.assertEqual(a["QueueArn"], "arn:aws:sqs:us-east-1:000000000000:" + name)
        for k in ("CreatedTimestamp", "LastModifiedTimestamp"):
            self.assertRegex(a[k], r"^\d+$", "%s must be integer epoch seconds" % k)
            self.assertTrue(t0 - 5 <= int(a[k]) <= time.time() + 5, "%s=%s not near now" % (k, a[k]))

    def test_default_attributes_fifo(self):
        url = self.make_queue("fdefaults", fifo=True)
        a = self.attrs(url)
        self.assertEqual(set(a), STANDARD_ALL | FIFO_EXTRA)
        self.assertEqual(a["FifoQueue"], "true")
        self.assertEqual(a["ContentBasedDeduplication"], "false")
        self.assertEqual(a["DeduplicationScope"], "queue")
        self.assertEqual(a["FifoThroughputLimit"], "perQueue")

    def test_create_with_attributes(self):
        url = self.make_queue("withattrs", attributes={
            "VisibilityTimeout": "20", "MessageRetentionPeriod": "604800",
            "ReceiveMessageWaitTimeSeconds": "10", "DelaySeconds": "5", "MaximumMessageSize": "2048"})
        a = self.attrs(url)
        self.assertEqual(a["VisibilityTimeout"], "20")
        self.assertEqual(a["MessageRetentionPeriod"], "604800")
        self.assertEqual(a["ReceiveMessageWaitTimeSeconds"], "10")
        self.assertEqual(a["DelaySeconds"], "5")
        self.assertEqual(a["MaximumMessageSize"], "2048")

    def test_create_idempotent_same_attributes(self):
        name = h.unique("idem")
        attrs = {"VisibilityTimeout": "45", "DelaySeconds": "3"}
        u1 = self.sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        u2 = self.sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        self.assertEqual(u1, u2)
        # no attributes at all: the existing queue's URL
        u3 = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        self.assertEqual(u1, u3)
        urls = self.sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", [])
        self.assertEqual(urls, [u1])

    def test_create_existing_with_different_attributes(self):
        name = h.unique("diff")
        self.sqs.create_queue(QueueName=name, Attributes={"DelaySeconds": "1"})
        self.assertRaisesSqs(
            lambda: self.sqs.create_queue(QueueName=name, Attributes={"DelaySeconds": "2"}),
            "QueueAlreadyExists", 400,
            message="A queue already exists with the same name and a different value for attribute DelaySeconds")

    def test_create_fifo_existing_with_different_attributes(self):
        name = h.unique("fdiff") + ".fifo"
        self.sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})
        self.assertRaisesSqs(
            lambda: self.sqs.create_queue(QueueName=name, Attributes={
                "FifoQueue": "true", "ContentBasedDeduplication": "true"}),
            "QueueAlreadyExists", 400,
            message="A queue already exists with the same name and a different value for attribute "
                    "ContentBasedDeduplication")

    def test_invalid_queue_names(self):
        bad = ["", "a" * 81, "has space", "dot.name", "sl/ash", "caf\u00e9", "star*", "name.fifo"]
        for name in bad:
            with self.subTest(name=name):
                self.assertRaisesSqs(lambda: self.sqs.create_queue(QueueName=name), "InvalidParameterValue", 400)

    def test_valid_queue_names(self):
        for name in ["a", "A-b_c-1", "x" * 80]:
            with self.subTest(name=name):
                url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
                self.assertEqual(url, self.server.queue_url(name))

    def test_fifo_name_rules(self):
        # 80 characters including the .fifo suffix
        ok = "f" * 75 + ".fifo"
        url = self.sqs.create_queue(QueueName=ok, Attributes={"FifoQueue": "true"})["QueueUrl"]
        self.assertTrue(url.endswith("/" + ok))
        too_long = "f" * 76 + ".fifo"
        self.assertRaisesSqs(lambda: self.sqs.create_queue(QueueName=too_long, Attributes={"FifoQueue": "true"}),
                             "InvalidParameterValue", 400)
        # FifoQueue=true without the suffix
        self.assertRaisesSqs(lambda: self.sqs.create_queue(QueueName=h.unique("nosuffix"),
                                                           Attributes={"FifoQueue": "true"}),
                             "InvalidParameterValue", 400)
        # the suffix without FifoQueue=true
        self.assertRaisesSqs(lambda: self.sqs.create_queue(QueueName=h.unique("noattr") + ".fifo"),
                             "InvalidParameterValue", 400)

    def test_attribute_ranges_on_create(self):
        for attr, (good, bad) in RANGES.items():
            for v in good:
                with self.subTest(attr=attr, value=v):
                    url = self.make_queue("rng", attributes={attr: v})
                    self.assertEqual(self.attrs(url, [attr])[attr], v)
            for v in bad:
                with self.subTest(attr=attr, value=v):
                    self.assertRaisesSqs(
                        lambda: self.sqs.create_queue(QueueName=h.unique("rngbad"), Attributes={attr: v}),
                        "InvalidAttributeValue", 400,
                        message_prefix="Invalid value for the parameter %s" % attr)

    def test_enumerated_and_boolean_attribute_values(self):
        cases = [("DeduplicationScope", "foo"), ("FifoThroughputLimit", "foo"),
                 ("ContentBasedDeduplication", "maybe")]
        for attr, value in cases:
            with self.subTest(attr=attr):
                self.assertRaisesSqs(
                    lambda: self.sqs.create_queue(QueueName=h.unique("enum") + ".fifo",
                                                  Attributes={"FifoQueue": "true", attr: value}),
                    "InvalidAttributeValue", 400, message_prefix="Invalid value for the parameter %s" % attr)
        self.assertRaisesSqs(
            lambda: self.sqs.create_queue(QueueName=h.unique("sse"), Attributes={"SqsManagedSseEnabled": "x"}),
            "InvalidAttributeValue", 400, message_prefix="Invalid value for the parameter SqsManagedSseEnabled")

    def test_unknown_attribute_on_create(self):
        self.assertRaisesSqs(
            lambda: self.sqs.create_queue(QueueName=h.unique("unk"), Attributes={"Foo": "1"}),
            "InvalidAttributeName", 400, message_prefix="Unknown Attribute Foo")

    def test_fifo_only_attribute_on_standard_create(self):
        self.assertRaisesSqs(
            lambda: self.sqs.create_queue(QueueName=h.unique("cbd"),
                                          Attributes={"ContentBasedDeduplication": "true"}),
            "InvalidAttributeName", 400)

    def test_create_with_tags(self):
        url = self.make_queue("tagged", tags={"team": "core", "env": ""})
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url).get("Tags"), {"team": "core", "env": ""})

    def test_recreate_after_delete_is_refused_for_60s(self):
        name = h.unique("recent")
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        self.sqs.delete_queue(QueueUrl=url)
        self.assertRaisesSqs(
            lambda: self.sqs.create_queue(QueueName=name),
            "AWS.SimpleQueueService.QueueDeletedRecently", 400,
            message="You must wait 60 seconds after deleting a queue before you can create another "
                    "with the same name.")


class GetQueueUrlTest(SqsTestCase):

    def test_get_queue_url(self):
        name = h.unique("geturl")
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        self.assertEqual(self.sqs.get_queue_url(QueueName=name)["QueueUrl"], url)
        self.assertEqual(self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=h.ACCOUNT)["QueueUrl"], url)

    def test_get_queue_url_fifo(self):
        url = self.make_queue("geturlf", fifo=True)
        name = url.rsplit("/", 1)[1]
        self.assertEqual(self.sqs.get_queue_url(QueueName=name)["QueueUrl"], url)

    def test_get_queue_url_nonexistent(self):
        self.assertRaisesSqs(lambda: self.sqs.get_queue_url(QueueName=h.unique("nope")),
                             h.NONEXISTENT, 400, messages=h.NONEXISTENT_MESSAGES)

    def test_names_are_case_sensitive(self):
        name = h.unique("Case")
        self.sqs.create_queue(QueueName=name)
        self.assertRaisesSqs(lambda: self.sqs.get_queue_url(QueueName=name.lower()), h.NONEXISTENT, 400)


class ListQueuesTest(SqsTestCase):

    def test_prefix(self):
        prefix = h.unique("lp")
        urls = sorted(self.sqs.create_queue(QueueName="%s-%d" % (prefix, i))["QueueUrl"] for i in range(5))
        self.make_queue("other")
        got = self.sqs.list_queues(QueueNamePrefix=prefix)
        self.assertEqual(sorted(got["QueueUrls"]), urls)
        self.assertNotIn("NextToken", got)
        # prefix matching is case-sensitive
        self.assertEqual(self.sqs.list_queues(QueueNamePrefix=prefix.upper()).get("QueueUrls", []), [])

    def test_no_match_has_no_urls(self):
        got = self.sqs.list_queues(QueueNamePrefix=h.unique("none"))
        self.assertEqual(got.get("QueueUrls", []), [])

    def test_all_queues_listed(self):
        url = self.make_queue("listall")
        self.assertIn(url, self.sqs.list_queues()["QueueUrls"])

    def test_pagination(self):
        prefix = h.unique("pg")
        urls = sorted(self.sqs.create_queue(QueueName="%s-%02d" % (prefix, i))["QueueUrl"] for i in range(7))
        seen = []
        kw = {"QueueNamePrefix": prefix, "MaxResults": 3}
        pages = 0
        while True:
            r = self.sqs.list_queues(**kw)
            pages += 1
            page = r.get("QueueUrls", [])
            self.assertLessEqual(len(page), 3)
            seen.extend(page)
            if "NextToken" not in r:
                break
            self.assertTrue(r["NextToken"])
            kw["NextToken"] = r["NextToken"]
            self.assertLess(pages, 10, "pagination does not terminate")
        self.assertEqual(sorted(seen), urls)
        self.assertEqual(len(seen), len(set(seen)), "duplicates across pages")
        self.assertGreaterEqual(pages, 3)

    def test_max_results_exact_fit_first_page(self):
        prefix = h.unique("fit")
        for i in range(2):
            self.sqs.create_queue(QueueName="%s-%d" % (prefix, i))
        r = self.sqs.list_queues(QueueNamePrefix=prefix, MaxResults=1)
        self.assertEqual(len(r["QueueUrls"]), 1)
        self.assertIn("NextToken", r)

    def test_max_results_range(self):
        for v in (0, 1001):
            with self.subTest(MaxResults=v):
                self.assertRaisesSqs(lambda: self.sqs.list_queues(MaxResults=v), "InvalidParameterValue", 400)


class DeleteQueueTest(SqsTestCase):

    def test_delete(self):
        name = h.unique("del")
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        self.sqs.send_message(QueueUrl=url, MessageBody="x")
        self.sqs.delete_queue(QueueUrl=url)
        self.assertRaisesSqs(lambda: self.sqs.get_queue_url(QueueName=name), h.NONEXISTENT, 400)
        self.assertRaisesSqs(lambda: self.sqs.send_message(QueueUrl=url, MessageBody="x"), h.NONEXISTENT, 400)
        self.assertRaisesSqs(lambda: self.sqs.receive_message(QueueUrl=url), h.NONEXISTENT, 400)
        self.assertNotIn(url, self.sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", []))
        self.assertRaisesSqs(lambda: self.sqs.delete_queue(QueueUrl=url), h.NONEXISTENT, 400)

    def test_operations_on_unknown_queue(self):
        url = self.server.queue_url(h.unique("ghost"))
        calls = {
            "get_queue_attributes": lambda: self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]),
            "set_queue_attributes": lambda: self.sqs.set_queue_attributes(QueueUrl=url,
                                                                          Attributes={"DelaySeconds": "1"}),
            "send_message": lambda: self.sqs.send_message(QueueUrl=url, MessageBody="x"),
            "send_message_batch": lambda: self.sqs.send_message_batch(
                QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "x"}]),
            "receive_message": lambda: self.sqs.receive_message(QueueUrl=url),
            "purge_queue": lambda: self.sqs.purge_queue(QueueUrl=url),
            "tag_queue": lambda: self.sqs.tag_queue(QueueUrl=url, Tags={"a": "b"}),
            "untag_queue": lambda: self.sqs.untag_queue(QueueUrl=url, TagKeys=["a"]),
            "list_queue_tags": lambda: self.sqs.list_queue_tags(QueueUrl=url),
            "list_dead_letter_source_queues": lambda: self.sqs.list_dead_letter_source_queues(QueueUrl=url),
            "add_permission": lambda: self.sqs.add_permission(QueueUrl=url, Label="l", AWSAccountIds=[h.ACCOUNT],
                                                              Actions=["SendMessage"]),
        }
        for name, fn in calls.items():
            with self.subTest(op=name):
                self.assertRaisesSqs(fn, h.NONEXISTENT, 400)


class QueueAttributesTest(SqsTestCase):

    def test_each_attribute_individually(self):
        url = self.make_queue("indiv")
        all_attrs = self.attrs(url)
        for name in sorted(STANDARD_ALL):
            with self.subTest(attribute=name):
                got = self.attrs(url, [name])
                self.assertEqual(set(got), {name})
                if not name.startswith("Approximate"):
                    self.assertEqual(got[name], all_attrs[name])

    def test_no_attribute_names_returns_nothing(self):
        url = self.make_queue("noattrnames")
        r = self.sqs.get_queue_attributes(QueueUrl=url)
        self.assertEqual(r.get("Attributes", {}), {})

    def test_unknown_attribute_name(self):
        url = self.make_queue("unkget")
        self.assertRaisesSqs(lambda: self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Foo"]),
                             "InvalidAttributeName", 400, message_prefix="Unknown Attribute Foo")

    def test_set_and_get_every_settable_attribute(self):
        url = self.make_queue("setall")
        values = {"VisibilityTimeout": "69", "MaximumMessageSize": "2048", "MessageRetentionPeriod": "86400",
                  "DelaySeconds": "420", "ReceiveMessageWaitTimeSeconds": "7", "SqsManagedSseEnabled": "false"}
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes=values)
        a = self.attrs(url)
        for k, v in values.items():
            self.assertEqual(a[k], v, k)

    def test_set_ranges(self):
        url = self.make_queue("setrng")
        for attr, (good, bad) in RANGES.items():
            for v in good:
                with self.subTest(attr=attr, value=v):
                    self.sqs.set_queue_attributes(QueueUrl=url, Attributes={attr: v})
                    self.assertEqual(self.attrs(url, [attr])[attr], v)
            for v in bad:
                with self.subTest(attr=attr, value=v):
                    self.assertRaisesSqs(
                        lambda: self.sqs.set_queue_attributes(QueueUrl=url, Attributes={attr: v}),
                        "InvalidAttributeValue", 400,
                        message_prefix="Invalid value for the parameter %s" % attr)

    def test_invalid_set_changes_nothing(self):
        url = self.make_queue("atomic", attributes={"VisibilityTimeout": "11", "DelaySeconds": "2"})
        with self.assertRaises(ClientError):
            self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "12",
                                                                    "DelaySeconds": "901"})
        a = self.attrs(url)
        self.assertEqual(a["VisibilityTimeout"], "11")
        self.assertEqual(a["DelaySeconds"], "2")

    def test_set_read_only_or_unknown_attribute(self):
        url = self.make_queue("ro")
        for name, value in [("QueueArn", "arn:aws:sqs:us-east-1:000000000000:x"),
                            ("ApproximateNumberOfMessages", "5"), ("CreatedTimestamp", "1"), ("Bogus", "1")]:
            with self.subTest(attribute=name):
                self.assertRaisesSqs(
                    lambda: self.sqs.set_queue_attributes(QueueUrl=url, Attributes={name: value}),
                    "InvalidAttributeName", 400)

    def test_queue_type_cannot_change(self):
        std = self.make_queue("typestd")
        self.assertRaisesSqs(lambda: self.sqs.set_queue_attributes(QueueUrl=std, Attributes={"FifoQueue": "true"}),
                             "InvalidAttributeName", 400, message="Unknown Attribute FifoQueue.")
        fifo = self.make_queue("typefifo", fifo=True)
        self.assertRaisesSqs(lambda: self.sqs.set_queue_attributes(QueueUrl=fifo, Attributes={"FifoQueue": "false"}),
                             "InvalidAttributeValue", 400,
                             message="Invalid value for the parameter FifoQueue. Reason: Modifying queue type is "
                                     "not supported.")

    def test_fifo_attributes_settable(self):
        url = self.make_queue("fset", fifo=True)
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={
            "ContentBasedDeduplication": "true", "DeduplicationScope": "messageGroup",
            "FifoThroughputLimit": "perMessageGroupId"})
        a = self.attrs(url)
        self.assertEqual(a["ContentBasedDeduplication"], "true")
        self.assertEqual(a["DeduplicationScope"], "messageGroup")
        self.assertEqual(a["FifoThroughputLimit"], "perMessageGroupId")

    def test_last_modified_timestamp_moves(self):
        url = self.make_queue("lastmod")
        before = self.attrs(url, ["CreatedTimestamp", "LastModifiedTimestamp"])
        time.sleep(1.2)
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "31"})
        after = self.attrs(url, ["CreatedTimestamp", "LastModifiedTimestamp"])
        self.assertEqual(after["CreatedTimestamp"], before["CreatedTimestamp"])
        self.assertGreater(int(after["LastModifiedTimestamp"]), int(before["LastModifiedTimestamp"]))

    def test_redrive_policy_round_trip(self):
        dlq = self.make_queue("rdlq")
        dlq_arn = self.arn_of(dlq)
        src = self.make_queue("rsrc")
        self.sqs.set_queue_attributes(QueueUrl=src, Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})})
        pol = json.loads(self.attrs(src, ["RedrivePolicy"])["RedrivePolicy"])
        self.assertEqual(pol["deadLetterTargetArn"], dlq_arn)
        self.assertEqual(int(pol["maxReceiveCount"]), 5)
        self.assertIn("RedrivePolicy", self.attrs(src))
        # an empty string removes the policy
        self.sqs.set_queue_attributes(QueueUrl=src, Attributes={"RedrivePolicy": ""})
        self.assertNotIn("RedrivePolicy", self.attrs(src))

    def test_redrive_policy_max_receive_count_is_a_number(self):
        """SQS accepts maxReceiveCount as a string but returns a JSON number."""
        dlq_arn = self.arn_of(self.make_queue("ndlq"))
        src = self.make_queue("nsrc")
        self.sqs.set_queue_attributes(QueueUrl=src, Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})})
        pol = json.loads(self.attrs(src, ["RedrivePolicy"])["RedrivePolicy"])
        self.assertEqual(pol["maxReceiveCount"], 5)

    def test_redrive_policy_on_create(self):
        dlq_arn = self.arn_of(self.make_queue("cdlq"))
        src = self.make_queue("csrc", attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})})
        pol = json.loads(self.attrs(src, ["RedrivePolicy"])["RedrivePolicy"])
        self.assertEqual(pol, {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})

    def test_redrive_policy_malformed_arn(self):
        url = self.make_queue("rbadarn")
        raw = json.dumps({"deadLetterTargetArn": "dummy", "maxReceiveCount": 42})
        self.assertRaisesSqs(
            lambda: self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": raw}),
            "InvalidParameterValue", 400,
            message="Value %s for parameter RedrivePolicy is invalid. Reason: Invalid value for "
                    "deadLetterTargetArn." % raw)

    def test_redrive_policy_invalid(self):
        url = self.make_queue("rbad")
        dlq_arn = self.arn_of(self.make_queue("rbaddlq"))
        bad = [
            "not json",
            json.dumps({"maxReceiveCount": 3}),
            json.dumps({"deadLetterTargetArn": dlq_arn}),
            json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 0}),
            json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1001}),
            json.dumps({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:" + h.unique("missing"),
                        "maxReceiveCount": 3}),
        ]
        for v in bad:
            with self.subTest(policy=v):
                self.assertRaisesSqs(
                    lambda: self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": v}),
                    "InvalidParameterValue", 400)
        self.assertNotIn("RedrivePolicy", self.attrs(url))

    def test_fifo_queue_needs_fifo_dlq(self):
        std_arn = self.arn_of(self.make_queue("stddlq"))
        fifo = self.make_queue("fsrc", fifo=True)
        self.assertRaisesSqs(
            lambda: self.sqs.set_queue_attributes(QueueUrl=fifo, Attributes={
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": std_arn, "maxReceiveCount": 3})}),
            "InvalidParameterValue", 400)

    def test_redrive_allow_policy_round_trip(self):
        src_arn = self.arn_of(self.make_queue("rapsrc"))
        dlq = self.make_queue("rapdlq")
        for policy in [{"redrivePermission": "allowAll"},
                       {"redrivePermission": "denyAll"},
                       {"redrivePermission": "byQueue", "sourceQueueArns": [src_arn]}]:
            with self.subTest(policy=policy):
                self.sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"RedriveAllowPolicy": json.dumps(policy)})
                got = json.loads(self.attrs(dlq, ["RedriveAllowPolicy"])["RedriveAllowPolicy"])
                self.assertEqual(got, policy)

    def test_redrive_allow_policy_enforced(self):
        deny = self.make_queue("denydlq", attributes={
            "RedriveAllowPolicy": json.dumps({"redrivePermission": "denyAll"})})
        allowed_src = self.make_queue("allowedsrc")
        only = self.make_queue("bydlq", attributes={"RedriveAllowPolicy": json.dumps({
            "redrivePermission": "byQueue", "sourceQueueArns": [self.arn_of(allowed_src)]})})
        other = self.make_queue("othersrc")
        for dlq in (deny, only):
            with self.subTest(dlq=dlq.rsplit("/", 1)[1]):
                self.assertRaisesSqs(lambda: self.sqs.set_queue_attributes(QueueUrl=other, Attributes={
                    "RedrivePolicy": json.dumps({"deadLetterTargetArn": self.arn_of(dlq), "maxReceiveCount": 3})}),
                    "InvalidParameterValue", 400)
        self.sqs.set_queue_attributes(QueueUrl=allowed_src, Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": self.arn_of(only), "maxReceiveCount": 3})})

    def test_policy_round_trip(self):
        url = self.make_queue("pol")
        arn = self.arn_of(url)
        policy = {"Version": "2012-10-17", "Id": "p1", "Statement": [{
            "Sid": "s1", "Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": "sqs:SendMessage", "Resource": arn}]}
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        self.assertEqual(json.loads(self.attrs(url, ["Policy"])["Policy"]), policy)
        self.assertIn("Policy", self.attrs(url))
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
        self.assertNotIn("Policy", self.attrs(url))

    def test_approximate_counts(self):
        url = self.make_queue("counts")
        self.sqs.send_message(QueueUrl=url, MessageBody="a")
        self.sqs.send_message(QueueUrl=url, MessageBody="b")
        self.sqs.send_message(QueueUrl=url, MessageBody="c", DelaySeconds=60)
        a = self.attrs(url)
        self.assertEqual((a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"],
                          a["ApproximateNumberOfMessagesDelayed"]), ("2", "0", "1"))
        msgs = self.receive(url, MaxNumberOfMessages=1)
        self.assertEqual(len(msgs), 1)
        a = self.attrs(url)
        self.assertEqual((a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"],
                          a["ApproximateNumberOfMessagesDelayed"]), ("1", "1", "1"))
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=msgs[0]["ReceiptHandle"])
        a = self.attrs(url)
        self.assertEqual((a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"],
                          a["ApproximateNumberOfMessagesDelayed"]), ("1", "0", "1"))


class TagsTest(SqsTestCase):

    def test_tag_untag_list(self):
        url = self.make_queue("tags")
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url).get("Tags", {}), {})
        self.sqs.tag_queue(QueueUrl=url, Tags={"tag1": "value1", "tag2": "value2", "tag3": ""})
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url)["Tags"],
                         {"tag1": "value1", "tag2": "value2", "tag3": ""})
        self.sqs.tag_queue(QueueUrl=url, Tags={"tag1": "changed"})
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url)["Tags"]["tag1"], "changed")
        self.sqs.untag_queue(QueueUrl=url, TagKeys=["tag1", "tag3", "never-set"])
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url)["Tags"], {"tag2": "value2"})
        self.sqs.untag_queue(QueueUrl=url, TagKeys=["tag2"])
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url).get("Tags", {}), {})

    def test_unicode_tags(self):
        url = self.make_queue("utags")
        self.sqs.tag_queue(QueueUrl=url, Tags={"k\u00e9y": "v\u00e2l \u00fc"})
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url)["Tags"], {"k\u00e9y": "v\u00e2l \u00fc"})


class PermissionsTest(SqsTestCase):

    def _policy(self, url):
        a = self.attrs(url, ["Policy"])
        return json.loads(a["Policy"]) if "Policy" in a else None

    def test_permission_policy_document(self):
        url = self.make_queue("permdoc")
        arn = self.arn_of(url)
        self.sqs.add_permission(QueueUrl=url, Label="l1", AWSAccountIds=[h.ACCOUNT], Actions=["SendMessage"])
        pol = self._policy(url)
        self.assertEqual(pol["Version"], "2008-10-17")
        self.assertEqual(pol["Id"], arn + "/SQSDefaultPolicy")

    def test_permission_beside_a_single_object_statement(self):
        """A Policy may give Statement as one object, not a list: AddPermission
        adds beside it (the policy becomes a list of both), RemovePermission
        finds a label in it."""
        url = self.make_queue("permone")
        arn = self.arn_of(url)
        own = {"Sid": "own", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
               "Action": "SQS:SendMessage", "Resource": arn}
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(
            {"Version": "2012-10-17", "Statement": own})})
        self.sqs.add_permission(QueueUrl=url, Label="added", AWSAccountIds=[h.ACCOUNT], Actions=["ReceiveMessage"])
        pol = self._policy(url)
        self.assertEqual([x["Sid"] for x in pol["Statement"]], ["own", "added"])
        self.assertEqual(pol["Statement"][0], own)
        self.sqs.remove_permission(QueueUrl=url, Label="own")
        self.assertEqual([x["Sid"] for x in self._policy(url)["Statement"]], ["added"])

    def test_permission_lifecycle(self):
        url = self.make_queue("perm")
        arn = self.arn_of(url)
        self.sqs.add_permission(QueueUrl=url, Label="crossaccountpermission",
                                AWSAccountIds=[h.ACCOUNT], Actions=["ReceiveMessage"])
        pol = self._policy(url)
        self.assertIsNotNone(pol, "AddPermission must show in the Policy attribute")
        self.assertEqual(pol["Statement"], [{
            "Sid": "crossaccountpermission", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
            "Action": "SQS:ReceiveMessage", "Resource": arn}])

        self.assertRaisesSqs(
            lambda: self.sqs.add_permission(QueueUrl=url, Label="crossaccountpermission",
                                            AWSAccountIds=[h.ACCOUNT], Actions=["SendMessage"]),
            "InvalidParameterValue", 400,
            message="Value crossaccountpermission for parameter Label is invalid. Reason: Already exists.")

        self.sqs.add_permission(QueueUrl=url, Label="second", AWSAccountIds=[h.ACCOUNT, "111122223333"],
                                Actions=["SendMessage", "DeleteMessage"])
        pol = self._policy(url)
        self.assertEqual([s["Sid"] for s in pol["Statement"]], ["crossaccountpermission", "second"])
        second = pol["Statement"][1]
        self.assertEqual(sorted(second["Principal"]["AWS"]),
                         ["arn:aws:iam::000000000000:root", "arn:aws:iam::111122223333:root"])
        self.assertEqual(sorted(second["Action"]), ["SQS:DeleteMessage", "SQS:SendMessage"])

        self.sqs.remove_permission(QueueUrl=url, Label="crossaccountpermission")
        self.assertEqual([s["Sid"] for s in self._policy(url)["Statement"]], ["second"])
        self.sqs.remove_permission(QueueUrl=url, Label="second")
        self.assertIsNone(self._policy(url), "Policy must disappear with its last statement")

        self.assertRaisesSqs(
            lambda: self.sqs.remove_permission(QueueUrl=url, Label="second"),
            "InvalidParameterValue", 400,
            message="Value second for parameter Label is invalid. Reason: can't find label.")


class DeadLetterSourceQueuesTest(SqsTestCase):

    def test_list_sources(self):
        dlq = self.make_queue("dlqsrc")
        dlq_arn = self.arn_of(dlq)
        pol = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
        s1 = self.make_queue("src1", attributes={"RedrivePolicy": pol})
        s2 = self.make_queue("src2")
        self.sqs.set_queue_attributes(QueueUrl=s2, Attributes={"RedrivePolicy": pol})
        self.make_queue("unrelated")
        got = self.sqs.list_dead_letter_source_queues(QueueUrl=dlq)
        self.assertEqual(sorted(got["queueUrls"]), sorted([s1, s2]))
        # paging
        p1 = self.sqs.list_dead_letter_source_queues(QueueUrl=dlq, MaxResults=1)
        self.assertEqual(len(p1["queueUrls"]), 1)
        self.assertIn("NextToken", p1)
        p2 = self.sqs.list_dead_letter_source_queues(QueueUrl=dlq, MaxResults=1, NextToken=p1["NextToken"])
        self.assertEqual(sorted(p1["queueUrls"] + p2["queueUrls"]), sorted([s1, s2]))
        # removing the policy removes the source
        self.sqs.set_queue_attributes(QueueUrl=s2, Attributes={"RedrivePolicy": ""})
        self.assertEqual(self.sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"], [s1])

    def test_no_sources(self):
        url = self.make_queue("nosrc")
        self.assertEqual(self.sqs.list_dead_letter_source_queues(QueueUrl=url).get("queueUrls", []), [])


if __name__ == "__main__":
    unittest.main()
