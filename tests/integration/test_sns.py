"""SNS (query protocol, API 2010-03-31) against tweedle with boto3's sns client.

AWS facts asserted here (botocore's sns/2010-03-31/service-2.json, the SNS
developer guide, responses recorded against AWS in LocalStack's snapshot
tests):
* Errors are <ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
  <Error><Type>Sender</Type><Code>..</Code><Message>..</Message></Error>
  <RequestId>..</RequestId>; NotFound is 404 ("Topic does not exist",
  "Subscription does not exist"), InvalidParameter 400, AuthorizationError 403.
* Messages: "Invalid parameter: Topic Name", "Invalid parameter: Attributes
  Reason: Topic already exists with different attributes", "... Tags Reason:
  Topic already exists with different tags", "Invalid parameter: Empty
  message", "Invalid parameter: Subject", "Invalid parameter: Message too
  long", "Invalid parameter: Message Structure - No default entry in JSON
  message body", "Invalid parameter: The MessageGroupId parameter is required
  for FIFO topics", "Invalid parameter: SQS endpoint ARN", "Invalid parameter:
  Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to
  standard SNS topics", "Invalid parameter: RawMessageDelivery: Invalid value
  [x]. Must be true or false.", "Invalid parameter: SubscriptionId",
  "Invalid parameter: Statement already exists", batch errors
  (TooManyEntriesInBatchRequest, BatchEntryIdsNotDistinct, InvalidBatchEntryId,
  BatchRequestTooLong, EmptyBatchRequest), message attribute errors
  (ParameterValueInvalid), TagLimitExceeded after 50 tags.
* The SQS envelope: Type, MessageId, TopicArn, Subject (only when given),
  Message, Timestamp (ISO 8601, ms, Z), SignatureVersion, Signature,
  SigningCertURL, UnsubscribeURL, MessageAttributes {"n":{"Type","Value"}};
  FIFO topics put SequenceNumber after MessageId and sign nothing.
* Signatures: "Name\\nValue\\n" for Message, MessageId, Subject (if any),
  Timestamp, TopicArn, Type; SHA1withRSA (version 1) or SHA256withRSA (2).
* sqs subscriptions are confirmed at once; http/https/email wait for
  ConfirmSubscription ("pending confirmation" unless ReturnSubscriptionArn).
"""

import base64
import json
import os
import re
import sqlite3
import stat
import threading
import time
import unittest
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

import harness as h
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

SNS_XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"
TIME_RE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    HAVE_CRYPTO = True
except ImportError:  # pragma: no cover - both interpreters have it here
    HAVE_CRYPTO = False


def setUpModule():
    # an SMTP relay that refuses connections: email subscriptions are accepted,
    # their mails fail (test_sns_delivery.py delivers them to a sink)
    h.start_module_server(__name__, extra_args=("--smtp-url", "smtp://127.0.0.1:9"))


def tearDownModule():
    h.stop_module_server(__name__)


def sns_client(server, access_key=h.ACCESS_KEY, secret_key=h.SECRET_KEY):
    session = h.boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                      region_name=h.REGION)
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                 read_timeout=40, max_pool_connections=20)
    return session.client("sns", endpoint_url=server.endpoint, config=cfg)


def sns_query(server, action, params=(), sign=True, method="POST", **kw):
    """A raw query-protocol request signed for the sns service."""
    items = [("Action", action), ("Version", "2010-03-31")] + list(params)
    return h.query_request(server, action, items[1:], method=method, version=False,
                           service="sns", sign=sign, **kw)


def topic_arn(name):
    return "arn:aws:sns:%s:%s:%s" % (h.REGION, h.ACCOUNT, name)


def xml_find(resp, path):
    root = h.strip_ns(ET.fromstring(resp.body))
    return root.findtext(path)


class SnsTestCase(unittest.TestCase):
    maxDiff = 6000

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = getattr(h.sys.modules[cls.__module__], "SERVER", None)
        if cls.server is None:
            raise unittest.SkipTest("module server not started")
        cls.sns = sns_client(cls.server)
        cls.sqs = cls.server.client()

    # -- helpers -------------------------------------------------------------
    def make_topic(self, prefix="t", fifo=False, attributes=None, tags=None):
        name = h.unique(prefix) + (".fifo" if fifo else "")
        attrs = dict(attributes or {})
        if fifo:
            attrs["FifoTopic"] = "true"
        kw = {"Name": name}
        if attrs:
            kw["Attributes"] = attrs
        if tags:
            kw["Tags"] = tags
        return self.sns.create_topic(**kw)["TopicArn"]

    def make_queue(self, prefix="q", fifo=False, attributes=None):
        name = h.unique(prefix) + (".fifo" if fifo else "")
        attrs = dict(attributes or {})
        if fifo:
            attrs["FifoQueue"] = "true"
        kw = {"QueueName": name}
        if attrs:
            kw["Attributes"] = attrs
        url = self.sqs.create_queue(**kw)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    def subscribe_queue(self, topic, queue_arn, **attrs):
        kw = {"TopicArn": topic, "Protocol": "sqs", "Endpoint": queue_arn}
        if attrs:
            kw["Attributes"] = attrs
        return self.sns.subscribe(**kw)["SubscriptionArn"]

    def receive(self, url, n=10, wait=0, **kw):
        msgs = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=n, WaitTimeSeconds=wait,
                                        MessageAttributeNames=["All"], AttributeNames=["All"],
                                        **kw).get("Messages", [])
        for m in msgs:
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return msgs

    def receive_all(self, url, expected, timeout=5.0):
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < expected and time.monotonic() < deadline:
            got += self.receive(url, wait=1)
        return got

    def assertQuiet(self, url):
        self.assertEqual([m["Body"] for m in self.receive(url, wait=0)], [], "unexpected messages")

    def assertSnsError(self, err, code, status=400, message=None, message_re=None, sender=True):
        self.assertIsInstance(err, ClientError)
        r = err.response
        e = r.get("Error", {})
        ctx = "error response: %r" % (r,)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], status, ctx)
        self.assertEqual(e.get("Code"), code, ctx)
        self.assertEqual(e.get("Type"), "Sender" if sender else "Receiver", ctx)
        if message is not None:
            self.assertEqual(e.get("Message"), message, ctx)
        if message_re is not None:
            self.assertRegex(e.get("Message") or "", message_re, ctx)

    def assertRaisesSns(self, fn, code, status=400, **kw):
        with self.assertRaises(ClientError) as cm:
            fn()
        self.assertSnsError(cm.exception, code, status, **kw)
        return cm.exception

    def token_of(self, sub_arn, server=None):
        """The confirmation token of a pending subscription, read from the store.
        (Delivering the confirmation message itself is the outbox's job.)"""
        db = os.path.join((server or self.server).data_dir, "tweedle.db")
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
        try:
            row = con.execute("SELECT token FROM sns_subscriptions WHERE arn=?", (sub_arn,)).fetchone()
        finally:
            con.close()
        self.assertIsNotNone(row, "no row for %s" % sub_arn)
        return row[0]


# ------------------------------------------------------------------------------
# topics
# ------------------------------------------------------------------------------

class TopicTest(SnsTestCase):

    def test_create_is_idempotent_and_get_attributes(self):
        name = h.unique("topic")
        arn = self.sns.create_topic(Name=name)["TopicArn"]
        self.assertEqual(arn, topic_arn(name))
        self.assertEqual(self.sns.create_topic(Name=name)["TopicArn"], arn)
        a = self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        self.assertEqual(a["TopicArn"], arn)
        self.assertEqual(a["Owner"], h.ACCOUNT)
        self.assertEqual(a["DisplayName"], "")
        self.assertEqual((a["SubscriptionsConfirmed"], a["SubscriptionsPending"], a["SubscriptionsDeleted"]),
                         ("0", "0", "0"))
        self.assertNotIn("FifoTopic", a)
        policy = json.loads(a["Policy"])
        self.assertEqual(policy["Version"], "2008-10-17")
        self.assertEqual(policy["Id"], "__default_policy_ID")
        st = policy["Statement"][0]
        self.assertEqual(st["Sid"], "__default_statement_ID")
        self.assertEqual(st["Resource"], arn)
        self.assertEqual(st["Condition"], {"StringEquals": {"AWS:SourceOwner": h.ACCOUNT}})
        self.assertIn("SNS:Publish", st["Action"])
        eff = json.loads(a["EffectiveDeliveryPolicy"])
        self.assertEqual(eff["http"]["defaultHealthyRetryPolicy"],
                         {"minDelayTarget": 20, "maxDelayTarget": 20, "numRetries": 3, "numMaxDelayRetries": 0,
                          "numNoDelayRetries": 0, "numMinDelayRetries": 0, "backoffFunction": "linear"})
        self.assertEqual(eff["http"]["defaultRequestPolicy"], {"headerContentType": "text/plain; charset=UTF-8"})
        self.assertIs(eff["http"]["disableSubscriptionOverrides"], False)

    def test_create_with_attributes_and_conflicts(self):
        name = h.unique("attrs")
        arn = self.sns.create_topic(Name=name, Attributes={"DisplayName": "Hello", "SignatureVersion": "2"},
                                    Tags=[{"Key": "team", "Value": "a"}])["TopicArn"]
        a = self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        self.assertEqual(a["DisplayName"], "Hello")
        self.assertEqual(a["SignatureVersion"], "2")
        # same attributes and tags: the same topic
        self.assertEqual(self.sns.create_topic(Name=name, Attributes={"DisplayName": "Hello"},
                                               Tags=[{"Key": "team", "Value": "a"}])["TopicArn"], arn)
        self.assertRaisesSns(lambda: self.sns.create_topic(Name=name, Attributes={"DisplayName": "Other"}),
                             "InvalidParameter", message="Invalid parameter: Attributes Reason: Topic already "
                             "exists with different attributes")
        self.assertRaisesSns(lambda: self.sns.create_topic(Name=name, Tags=[{"Key": "team", "Value": "b"}]),
                             "InvalidParameter",
                             message="Invalid parameter: Tags Reason: Topic already exists with different tags")

    def test_names(self):
        for bad in ("", "a b", "dot.name", "x" * 257, "slash/name", "no.fifo"):
            with self.subTest(name=bad):
                self.assertRaisesSns(lambda: self.sns.create_topic(Name=bad), "InvalidParameter",
                                     message="Invalid parameter: Topic Name")
        # a FIFO topic's name ends in .fifo
        self.assertRaisesSns(lambda: self.sns.create_topic(Name=h.unique("f"), Attributes={"FifoTopic": "true"}),
                             "InvalidParameter", message="Invalid parameter: Topic Name")
        ok = "A-z_0-9" + "x" * 249
        self.assertEqual(len(ok), 256)
        self.assertEqual(self.sns.create_topic(Name=ok)["TopicArn"], topic_arn(ok))
        self.sns.delete_topic(TopicArn=topic_arn(ok))

    def test_fifo_topic_attributes(self):
        arn = self.make_topic(fifo=True, attributes={"ContentBasedDeduplication": "true"})
        a = self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        self.assertEqual(a["FifoTopic"], "true")
        self.assertEqual(a["ContentBasedDeduplication"], "true")
        arn2 = self.make_topic(fifo=True)
        self.assertEqual(self.sns.get_topic_attributes(TopicArn=arn2)["Attributes"]["ContentBasedDeduplication"],
                         "false")
        self.sns.set_topic_attributes(TopicArn=arn2, AttributeName="ContentBasedDeduplication", AttributeValue="true")
        self.assertEqual(self.sns.get_topic_attributes(TopicArn=arn2)["Attributes"]["ContentBasedDeduplication"],
                         "true")
        self.sns.set_topic_attributes(TopicArn=arn2, AttributeName="FifoThroughputScope",
                                      AttributeValue="MessageGroup")
        self.assertRaisesSns(lambda: self.sns.set_topic_attributes(TopicArn=arn2, AttributeName="FifoTopic",
                                                                   AttributeValue="false"),
                             "InvalidParameter", message="Invalid parameter: AttributeName")

    def test_set_topic_attributes(self):
        arn = self.make_topic()
        self.sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Shown")
        self.sns.set_topic_attributes(TopicArn=arn, AttributeName="TracingConfig", AttributeValue="Active")
        dp = {"http": {"defaultHealthyRetryPolicy": {"numRetries": 5}, "disableSubscriptionOverrides": False,
                       "defaultRequestPolicy": {"headerContentType": "application/json"}}}
        self.sns.set_topic_attributes(TopicArn=arn, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(dp))
        a = self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        self.assertEqual(a["DisplayName"], "Shown")
        self.assertEqual(a["TracingConfig"], "Active")
        self.assertEqual(json.loads(a["DeliveryPolicy"]), dp)
        eff = json.loads(a["EffectiveDeliveryPolicy"])["http"]
        self.assertEqual(eff["defaultHealthyRetryPolicy"]["numRetries"], 5)
        self.assertEqual(eff["defaultHealthyRetryPolicy"]["minDelayTarget"], 20)
        self.assertEqual(eff["defaultRequestPolicy"], {"headerContentType": "application/json"})
        for name, value, msg in (
                ("SignatureVersion", "3", None), ("TracingConfig", "Sometimes", None),
                ("Policy", "not json", None), ("DeliveryPolicy", "{", None),
                ("ContentBasedDeduplication", "true", None),
                ("NoSuchAttribute", "x", "Invalid parameter: AttributeName"),
                ("FifoTopic", "true", "Invalid parameter: AttributeName")):
            with self.subTest(attribute=name):
                err = self.assertRaisesSns(lambda: self.sns.set_topic_attributes(
                    TopicArn=arn, AttributeName=name, AttributeValue=value), "InvalidParameter", message=msg)
                self.assertTrue(err.response["Error"]["Message"].startswith("Invalid parameter: "))
        self.sns.set_topic_attributes(TopicArn=arn, AttributeName="SignatureVersion", AttributeValue="2")
        self.assertEqual(self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]["SignatureVersion"], "2")

    def test_not_found_and_bad_arns(self):
        missing = topic_arn(h.unique("missing"))
        self.assertRaisesSns(lambda: self.sns.get_topic_attributes(TopicArn=missing), "NotFound", 404,
                             message="Topic does not exist")
        self.assertRaisesSns(lambda: self.sns.set_topic_attributes(TopicArn=missing, AttributeName="DisplayName",
                                                                   AttributeValue="x"), "NotFound", 404)
        self.assertRaisesSns(lambda: self.sns.publish(TopicArn=missing, Message="x"), "NotFound", 404,
                             message="Topic does not exist")
        self.assertRaisesSns(lambda: self.sns.list_subscriptions_by_topic(TopicArn=missing), "NotFound", 404)
        self.assertRaisesSns(lambda: self.sns.get_topic_attributes(TopicArn="not-an-arn"), "InvalidParameter",
                             message="Invalid parameter: TopicArn Reason: An ARN must have at least 6 "
                             "elements, not 1")
        self.assertRaisesSns(lambda: self.sns.get_topic_attributes(TopicArn="arn:aws:sns:us-east-1:000000000000"),
                             "InvalidParameter", message="Invalid parameter: TopicArn Reason: An ARN must "
                             "have at least 6 elements, not 5")
        self.assertRaisesSns(lambda: self.sns.get_topic_attributes(TopicArn="arn:aws:sns:eu-west-9:1:x"),
                             "InvalidParameter", message="Invalid parameter: TopicArn")

    def test_delete_topic_deletes_its_subscriptions(self):
        arn = self.make_topic()
        url, qarn = self.make_queue()
        sub = self.subscribe_queue(arn, qarn)
        self.sns.delete_topic(TopicArn=arn)
        self.sns.delete_topic(TopicArn=arn)  # no error the second time
        self.assertRaisesSns(lambda: self.sns.get_topic_attributes(TopicArn=arn), "NotFound", 404)
        self.assertRaisesSns(lambda: self.sns.get_subscription_attributes(SubscriptionArn=sub), "NotFound", 404,
                             message="Subscription does not exist")
        all_subs = [s["SubscriptionArn"] for s in self.sns.list_subscriptions()["Subscriptions"]]
        self.assertNotIn(sub, all_subs)
        # a topic created again under the name starts without them
        self.sns.create_topic(Name=arn.rsplit(":", 1)[1])
        self.assertEqual(self.sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"], [])
        self.sns.publish(TopicArn=arn, Message="after")
        self.assertQuiet(url)

    def test_list_topics_pages(self):
        prefix = h.unique("page")
        mine = set()
        for i in range(105):
            mine.add(self.sns.create_topic(Name="%s-%03d" % (prefix, i))["TopicArn"])
        seen, pages, token = [], 0, None
        while True:
            kw = {"NextToken": token} if token else {}
            r = self.sns.list_topics(**kw)
            pages += 1
            self.assertLessEqual(len(r["Topics"]), 100)
            seen += [t["TopicArn"] for t in r["Topics"]]
            token = r.get("NextToken")
            if not token:
                break
        self.assertGreaterEqual(pages, 2)
        self.assertEqual(len(seen), len(set(seen)), "a topic listed twice")
        self.assertTrue(mine <= set(seen))
        paginator = self.sns.get_paginator("list_topics")
        listed = [t["TopicArn"] for p in paginator.paginate() for t in p["Topics"]]
        self.assertTrue(mine <= set(listed))
        for arn in mine:
            self.sns.delete_topic(TopicArn=arn)


class TagPermissionTest(SnsTestCase):

    def test_tags(self):
        arn = self.make_topic(tags=[{"Key": "a", "Value": "1"}])
        self.sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "3"}])
        tags = self.sns.list_tags_for_resource(ResourceArn=arn)["Tags"]
        self.assertEqual({t["Key"]: t["Value"] for t in tags}, {"a": "3", "b": "2"})
        self.sns.untag_resource(ResourceArn=arn, TagKeys=["a", "nope"])
        self.assertEqual(self.sns.list_tags_for_resource(ResourceArn=arn)["Tags"], [{"Key": "b", "Value": "2"}])
        self.assertRaisesSns(lambda: self.sns.tag_resource(ResourceArn=arn, Tags=[
            {"Key": "d", "Value": "1"}, {"Key": "d", "Value": "2"}]), "InvalidParameter",
            message="Invalid parameter: Duplicated keys are not allowed.")
        many = [{"Key": "k%02d" % i, "Value": "v"} for i in range(49)]
        self.sns.tag_resource(ResourceArn=arn, Tags=many)  # 50 in all
        self.assertRaisesSns(lambda: self.sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "one-more", "Value": ""}]),
                             "TagLimitExceeded", message="Could not complete request: tag quota of per resource "
                             "exceeded")
        self.assertEqual(len(self.sns.list_tags_for_resource(ResourceArn=arn)["Tags"]), 50)
        missing = topic_arn(h.unique("none"))
        for fn in (lambda: self.sns.list_tags_for_resource(ResourceArn=missing),
                   lambda: self.sns.tag_resource(ResourceArn=missing, Tags=[{"Key": "a", "Value": "b"}]),
                   lambda: self.sns.untag_resource(ResourceArn=missing, TagKeys=["a"])):
            self.assertRaisesSns(fn, "ResourceNotFound", 404, message="Resource does not exist")
        too_many = [{"Key": "k%02d" % i, "Value": "v"} for i in range(51)]
        self.assertRaisesSns(lambda: self.sns.create_topic(Name=h.unique("tags"), Tags=too_many), "TagLimitExceeded")

    def test_permissions(self):
        arn = self.make_topic()
        self.sns.add_permission(TopicArn=arn, Label="share", AWSAccountId=["111122223333"], ActionName=["Publish"])
        self.sns.add_permission(TopicArn=arn, Label="two", AWSAccountId=["111122223333", "444455556666"],
                                ActionName=["Publish", "Subscribe"])
        policy = json.loads(self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])
        by_sid = {s["Sid"]: s for s in policy["Statement"]}
        self.assertIn("__default_statement_ID", by_sid)
        self.assertEqual(by_sid["share"], {"Sid": "share", "Effect": "Allow",
                                           "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                                           "Action": "SNS:Publish", "Resource": arn})
        self.assertEqual(by_sid["two"]["Action"], ["SNS:Publish", "SNS:Subscribe"])
        self.assertEqual(by_sid["two"]["Principal"]["AWS"], ["arn:aws:iam::111122223333:root",
                                                            "arn:aws:iam::444455556666:root"])
        self.assertRaisesSns(lambda: self.sns.add_permission(TopicArn=arn, Label="share", AWSAccountId=["1"],
                                                             ActionName=["Publish"]),
                             "InvalidParameter", message="Invalid parameter: Statement already exists")
        self.assertRaisesSns(lambda: self.sns.add_permission(TopicArn=arn, Label="bad", AWSAccountId=["1"],
                                                             ActionName=["CreateTopic"]),
                             "InvalidParameter", message="Invalid parameter: Policy statement action out of "
                             "service scope!")
        self.sns.remove_permission(TopicArn=arn, Label="share")
        policy = json.loads(self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])
        self.assertEqual(sorted(s["Sid"] for s in policy["Statement"]), ["__default_statement_ID", "two"])
        self.assertRaisesSns(lambda: self.sns.add_permission(TopicArn=topic_arn(h.unique("x")), Label="l",
                                                             AWSAccountId=["1"], ActionName=["Publish"]),
                             "NotFound", 404)

    @unittest.skipUnless(hasattr(h.boto3.client("sns", region_name="us-east-1"), "put_data_protection_policy"),
                         "this botocore lacks the data protection policy operations")
    def test_data_protection_policy(self):
        arn = self.make_topic()
        doc = json.dumps({"Name": "p", "Version": "2021-06-01", "Statement": []})
        self.sns.put_data_protection_policy(ResourceArn=arn, DataProtectionPolicy=doc)
        self.assertEqual(self.sns.get_data_protection_policy(ResourceArn=arn)["DataProtectionPolicy"], doc)


# ------------------------------------------------------------------------------
# subscriptions
# ------------------------------------------------------------------------------

class SubscriptionTest(SnsTestCase):

    def test_sqs_subscription_confirmed_at_once_and_idempotent(self):
        topic = self.make_topic()
        url, qarn = self.make_queue()
        sub = self.subscribe_queue(topic, qarn)
        self.assertTrue(sub.startswith(topic + ":"), sub)
        self.assertRegex(sub.rsplit(":", 1)[1], r"^[0-9a-f-]{36}$")
        self.assertEqual(self.subscribe_queue(topic, qarn), sub)
        a = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(a["PendingConfirmation"], "false")
        self.assertEqual(a["ConfirmationWasAuthenticated"], "true")
        self.assertEqual(a["Protocol"], "sqs")
        self.assertEqual(a["Endpoint"], qarn)
        self.assertEqual(a["TopicArn"], topic)
        self.assertEqual(a["SubscriptionArn"], sub)
        self.assertEqual(a["Owner"], h.ACCOUNT)
        self.assertEqual(a["RawMessageDelivery"], "false")
        self.assertTrue(a["SubscriptionPrincipal"].startswith("arn:aws:iam::%s:" % h.ACCOUNT))
        self.assertNotIn("EffectiveDeliveryPolicy", a)
        self.assertRaisesSns(lambda: self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn,
                                                        Attributes={"RawMessageDelivery": "true"}),
                             "InvalidParameter", message="Invalid parameter: Attributes Reason: Subscription "
                             "already exists with different attributes")
        ta = self.sns.get_topic_attributes(TopicArn=topic)["Attributes"]
        self.assertEqual((ta["SubscriptionsConfirmed"], ta["SubscriptionsPending"]), ("1", "0"))

    def test_subscribe_validation(self):
        topic = self.make_topic()
        fifo_topic = self.make_topic(fifo=True)
        cases = [
            (dict(Protocol="sqs", Endpoint="not-an-arn"), "Invalid parameter: SQS endpoint ARN"),
            (dict(Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:q.fifo"),
             "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to "
             "standard SNS topics"),
            (dict(Protocol="carrier-pigeon", Endpoint="x"),
             "Invalid parameter: Amazon SNS does not support this protocol string: carrier-pigeon"),
            (dict(Protocol="http", Endpoint="https://example.com/hook"), None),
            (dict(Protocol="email", Endpoint="not-an-address"), "Invalid parameter: Email address"),
            (dict(Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:q",
                  Attributes={"RawMessageDelivery": "maybe"}),
             "Invalid parameter: Attributes Reason: RawMessageDelivery: Invalid value [maybe]. Must be true or "
             "false."),
            (dict(Protocol="email", Endpoint="a@example.com", Attributes={"RawMessageDelivery": "true"}),
             "Invalid parameter: Attributes Reason: Delivery protocol [email] does not support raw message "
             "delivery."),
            (dict(Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:q",
                  Attributes={"NoSuchThing": "1"}), "Invalid parameter: Attributes Reason: AttributeName"),
            (dict(Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:q",
                  Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": "fake"})}),
             "Invalid parameter: Attributes Reason: RedrivePolicy: deadLetterTargetArn is an invalid arn"),
        ]
        for kw, msg in cases:
            with self.subTest(kw=kw):
                self.assertRaisesSns(lambda: self.sns.subscribe(TopicArn=topic, **kw), "InvalidParameter",
                                     message=msg)
        self.assertRaisesSns(lambda: self.sns.subscribe(TopicArn=fifo_topic, Protocol="sqs",
                                                        Endpoint="arn:aws:sqs:us-east-1:000000000000:q.fifo",
                                                        Attributes={"RedrivePolicy": json.dumps({
                                                            "deadLetterTargetArn":
                                                                "arn:aws:sqs:us-east-1:000000000000:dlq"})}),
                             "InvalidParameter", message="Invalid parameter: Attributes Reason: RedrivePolicy: "
                             "must use a FIFO queue as DLQ for a FIFO Subscription to a FIFO Topic.")
        self.assertRaisesSns(lambda: self.sns.subscribe(TopicArn=topic_arn(h.unique("none")), Protocol="sqs",
                                                        Endpoint="arn:aws:sqs:us-east-1:000000000000:q"),
                             "NotFound", 404)
        # a queue that does not exist yet may be subscribed (delivery fails later)
        self.assertTrue(self.sns.subscribe(TopicArn=topic, Protocol="sqs",
                                           Endpoint="arn:aws:sqs:us-east-1:000000000000:%s" % h.unique("later"))
                        ["SubscriptionArn"].startswith(topic))

    def test_http_subscription_pending_then_confirmed(self):
        topic = self.make_topic()
        r = self.sns.subscribe(TopicArn=topic, Protocol="https", Endpoint="https://example.com/a")
        self.assertEqual(r["SubscriptionArn"], "pending confirmation")
        r = self.sns.subscribe(TopicArn=topic, Protocol="https", Endpoint="https://example.com/a",
                               ReturnSubscriptionArn=True)
        sub = r["SubscriptionArn"]
        self.assertTrue(sub.startswith(topic + ":"))
        a = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(a["PendingConfirmation"], "true")
        self.assertEqual(a["ConfirmationWasAuthenticated"], "false")
        eff = json.loads(a["EffectiveDeliveryPolicy"])
        self.assertEqual(eff["healthyRetryPolicy"]["numRetries"], 3)
        self.assertEqual(eff["requestPolicy"], {"headerContentType": "text/plain; charset=UTF-8"})
        listed = self.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        self.assertEqual(listed, [{"SubscriptionArn": "PendingConfirmation", "Owner": h.ACCOUNT, "Protocol": "https",
                                   "Endpoint": "https://example.com/a", "TopicArn": topic}])
        ta = self.sns.get_topic_attributes(TopicArn=topic)["Attributes"]
        self.assertEqual((ta["SubscriptionsConfirmed"], ta["SubscriptionsPending"]), ("0", "1"))
        token = self.token_of(sub)
        self.assertRegex(token, r"^[0-9a-f]{64,}$")
        self.assertRaisesSns(lambda: self.sns.confirm_subscription(TopicArn=topic, Token="0" * len(token)),
                             "InvalidParameter", message="Invalid parameter: Token")
        self.assertRaisesSns(lambda: self.sns.confirm_subscription(TopicArn="bad", Token=token),
                             "InvalidParameter", message="Invalid parameter: Topic")
        self.assertEqual(self.sns.confirm_subscription(TopicArn=topic, Token=token)["SubscriptionArn"], sub)
        self.assertEqual(self.sns.confirm_subscription(TopicArn=topic, Token=token)["SubscriptionArn"], sub)
        a = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(a["PendingConfirmation"], "false")
        self.assertEqual(a["ConfirmationWasAuthenticated"], "true")
        self.assertEqual(self.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"][0]["SubscriptionArn"],
                         sub)

    def test_unsigned_confirmation_link_and_unsubscribe_link(self):
        topic = self.make_topic()
        sub = self.sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="someone@example.com",
                                 ReturnSubscriptionArn=True)["SubscriptionArn"]
        token = self.token_of(sub)
        # the SubscribeURL a confirmation message carries: a plain GET
        q = urllib.parse.urlencode({"Action": "ConfirmSubscription", "TopicArn": topic, "Token": token})
        r = h.raw_request(self.server, "GET", "/?" + q, sign=False)
        self.assertEqual(r.status, 200, r.body)
        root = ET.fromstring(r.body)
        self.assertEqual(root.tag, "{%s}ConfirmSubscriptionResponse" % SNS_XMLNS)
        self.assertEqual(xml_find(r, "ConfirmSubscriptionResult/SubscriptionArn"), sub)
        a = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(a["PendingConfirmation"], "false")
        self.assertEqual(a["ConfirmationWasAuthenticated"], "false")
        # the UnsubscribeURL: a plain GET too
        q = urllib.parse.urlencode({"Action": "Unsubscribe", "SubscriptionArn": sub})
        r = h.raw_request(self.server, "GET", "/?" + q, sign=False)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(ET.fromstring(r.body).tag, "{%s}UnsubscribeResponse" % SNS_XMLNS)
        self.assertRaisesSns(lambda: self.sns.get_subscription_attributes(SubscriptionArn=sub), "NotFound", 404)
        # other actions are not taken unsigned
        q = urllib.parse.urlencode({"Action": "ListTopics"})
        r = h.raw_request(self.server, "GET", "/?" + q, sign=False)
        self.assertNotEqual(r.status, 200)

    def test_authenticate_on_unsubscribe(self):
        topic = self.make_topic()
        sub = self.sns.subscribe(TopicArn=topic, Protocol="http", Endpoint="http://example.com/x",
                                 ReturnSubscriptionArn=True)["SubscriptionArn"]
        self.sns.confirm_subscription(TopicArn=topic, Token=self.token_of(sub), AuthenticateOnUnsubscribe="true")
        q = urllib.parse.urlencode({"Action": "Unsubscribe", "SubscriptionArn": sub})
        r = h.raw_request(self.server, "GET", "/?" + q, sign=False)
        self.assertEqual(r.status, 403, r.body)
        typ, code, _, _ = h.xml_error(r)
        self.assertEqual((typ, code), ("Sender", "AuthorizationError"))
        self.sns.get_subscription_attributes(SubscriptionArn=sub)
        self.sns.unsubscribe(SubscriptionArn=sub)  # signed: allowed
        self.assertRaisesSns(lambda: self.sns.get_subscription_attributes(SubscriptionArn=sub), "NotFound", 404)

    def test_unsubscribe(self):
        topic = self.make_topic()
        url, qarn = self.make_queue()
        sub = self.subscribe_queue(topic, qarn)
        self.sns.unsubscribe(SubscriptionArn=sub)
        self.sns.unsubscribe(SubscriptionArn=sub)  # idempotent
        self.sns.publish(TopicArn=topic, Message="gone")
        self.assertQuiet(url)
        self.assertRaisesSns(lambda: self.sns.unsubscribe(SubscriptionArn=topic), "InvalidParameter",
                             message="Invalid parameter: SubscriptionId")
        self.assertRaisesSns(lambda: self.sns.unsubscribe(SubscriptionArn="nope"), "InvalidParameter",
                             message="Invalid parameter: SubscriptionArn Reason: An ARN must have at least 6 "
                             "elements, not 1")
        self.assertRaisesSns(lambda: self.sns.get_subscription_attributes(SubscriptionArn=sub + "x"), "NotFound",
                             404, message="Subscription does not exist")

    def test_subscription_attributes(self):
        topic = self.make_topic()
        url, qarn = self.make_queue()
        dlq_url, dlq_arn = self.make_queue("dlq")
        sub = self.subscribe_queue(topic, qarn)
        self.sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RawMessageDelivery",
                                             AttributeValue="TRUE")
        self.sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RedrivePolicy",
                                             AttributeValue=json.dumps({"deadLetterTargetArn": dlq_arn}))
        self.sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="SubscriptionRoleArn",
                                             AttributeValue="arn:aws:iam::000000000000:role/x")
        a = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(a["RawMessageDelivery"], "true")
        self.assertEqual(json.loads(a["RedrivePolicy"]), {"deadLetterTargetArn": dlq_arn})
        self.assertEqual(a["SubscriptionRoleArn"], "arn:aws:iam::000000000000:role/x")
        self.assertNotIn("FilterPolicy", a)
        self.assertNotIn("FilterPolicyScope", a)
        for name, value, msg in (
                ("RawMessageDelivery", "yes", "Invalid parameter: RawMessageDelivery: Invalid value [yes]. Must be "
                                              "true or false."),
                ("FilterPolicyScope", "Everything", "Invalid parameter: FilterPolicyScope: Invalid value "
                                                    "[Everything]. Please use either MessageBody or "
                                                    "MessageAttributes"),
                ("RedrivePolicy", "{not json", "Invalid parameter: RedrivePolicy: failed to parse JSON."),
                ("RedrivePolicy", json.dumps({"deadLetterTargetArn": "x"}),
                 "Invalid parameter: RedrivePolicy: deadLetterTargetArn is an invalid arn"),
                ("FilterPolicy", "{not json", "Invalid parameter: FilterPolicy: failed to parse JSON."),
                ("Protocol", "http", "Invalid parameter: AttributeName"),
                ("PendingConfirmation", "false", "Invalid parameter: AttributeName")):
            with self.subTest(attribute=name, value=value):
                self.assertRaisesSns(lambda: self.sns.set_subscription_attributes(
                    SubscriptionArn=sub, AttributeName=name, AttributeValue=value), "InvalidParameter", message=msg)
        self.sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RedrivePolicy", AttributeValue="")
        self.assertNotIn("RedrivePolicy", self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"])
        self.assertRaisesSns(lambda: self.sns.set_subscription_attributes(
            SubscriptionArn=sub + "0", AttributeName="RawMessageDelivery", AttributeValue="true"), "NotFound", 404)

    def test_list_subscriptions_pages(self):
        topic = self.make_topic()
        mine = set()
        for i in range(103):
            mine.add(self.subscribe_queue(topic, "arn:aws:sqs:us-east-1:000000000000:%s-%d" % (h.unique("p"), i)))
        seen, token, pages = [], None, 0
        while True:
            kw = {"NextToken": token} if token else {}
            r = self.sns.list_subscriptions_by_topic(TopicArn=topic, **kw)
            pages += 1
            self.assertLessEqual(len(r["Subscriptions"]), 100)
            seen += [s["SubscriptionArn"] for s in r["Subscriptions"]]
            token = r.get("NextToken")
            if not token:
                break
        self.assertEqual(pages, 2)
        self.assertEqual(set(seen), mine)
        everything = [s["SubscriptionArn"] for p in self.sns.get_paginator("list_subscriptions").paginate()
                      for s in p["Subscriptions"]]
        self.assertTrue(mine <= set(everything))
        self.assertEqual(len(everything), len(set(everything)))
        self.sns.delete_topic(TopicArn=topic)


# ------------------------------------------------------------------------------
# publishing
# ------------------------------------------------------------------------------

ENVELOPE_KEYS = ["Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion",
                 "Signature", "SigningCertURL", "UnsubscribeURL", "MessageAttributes"]


class PublishTest(SnsTestCase):

    def test_envelope(self):
        topic = self.make_topic()
        url, qarn = self.make_queue()
        sub = self.subscribe_queue(topic, qarn)
        attrs = {"s": {"DataType": "String", "StringValue": "text"},
                 "n": {"DataType": "Number", "StringValue": "12.5"},
                 "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
                 "arr": {"DataType": "String.Array", "StringValue": '["a", 1, true]'}}
        r = self.sns.publish(TopicArn=topic, Message='hello "world" \u00e9', Subject="Greeting",
                             MessageAttributes=attrs)
        self.assertRegex(r["MessageId"], r"^[0-9a-f-]{36}$")
        self.assertNotIn("SequenceNumber", r)
        # delivered before the publish was acknowledged: no waiting
        msgs = self.receive(url)
        self.assertEqual(len(msgs), 1)
        body = msgs[0]["Body"]
        self.assertTrue(body.startswith('{\n  "Type" : "Notification",\n  "MessageId" : '), body)
        env = json.loads(body)
        self.assertEqual(list(env), ENVELOPE_KEYS)
        self.assertEqual(env["Type"], "Notification")
        self.assertEqual(env["MessageId"], r["MessageId"])
        self.assertEqual(env["TopicArn"], topic)
        self.assertEqual(env["Subject"], "Greeting")
        self.assertEqual(env["Message"], 'hello "world" \u00e9')
        self.assertRegex(env["Timestamp"], TIME_RE)
        self.assertEqual(env["SignatureVersion"], "1")
        self.assertRegex(env["SigningCertURL"],
                         r"^%s/_/sns/SimpleNotificationService-[0-9a-f]{32}\.pem$" % re.escape(self.server.endpoint))
        self.assertEqual(env["UnsubscribeURL"],
                         "%s/?Action=Unsubscribe&SubscriptionArn=%s" % (self.server.endpoint, sub))
        self.assertEqual(env["MessageAttributes"], {
            "s": {"Type": "String", "Value": "text"},
            "n": {"Type": "Number", "Value": "12.5"},
            "b": {"Type": "Binary", "Value": base64.b64encode(b"\x00\x01\xff").decode()},
            "arr": {"Type": "String.Array", "Value": '["a", 1, true]'}})
        self.assertNotIn("MessageAttributes", msgs[0], "attributes stay in the envelope")
        # no Subject, no attributes: the keys are left out
        self.sns.publish(TargetArn=topic, Message="plain")
        env = json.loads(self.receive(url)[0]["Body"])
        self.assertEqual(list(env), [k for k in ENVELOPE_KEYS if k not in ("Subject", "MessageAttributes")])

    def test_fan_out_to_every_queue(self):
        topic = self.make_topic()
        queues = [self.make_queue("fan") for _ in range(5)]
        for _, qarn in queues:
            self.subscribe_queue(topic, qarn)
        ids = [self.sns.publish(TopicArn=topic, Message="m%d" % i)["MessageId"] for i in range(3)]
        for url, _ in queues:
            got = self.receive(url)
            self.assertEqual(sorted(json.loads(m["Body"])["MessageId"] for m in got), sorted(ids))

    def test_raw_delivery(self):
        topic = self.make_topic()
        url, qarn = self.make_queue()
        self.subscribe_queue(topic, qarn, RawMessageDelivery="true")
        attrs = {"s": {"DataType": "String", "StringValue": "v"},
                 "n": {"DataType": "Number", "StringValue": "42"},
                 "b": {"DataType": "Binary", "BinaryValue": b"\x02\x03\x04"},
                 "custom": {"DataType": "String.Array", "StringValue": '["x","y"]'}}
        self.sns.publish(TopicArn=topic, Message="bare body", MessageAttributes=attrs, Subject="ignored")
        m = self.receive(url)[0]
        self.assertEqual(m["Body"], "bare body")
        got = m["MessageAttributes"]
        self.assertEqual(got["s"], {"DataType": "String", "StringValue": "v"})
        self.assertEqual(got["n"], {"DataType": "Number", "StringValue": "42"})
        self.assertEqual(got["b"]["DataType"], "Binary")
        self.assertEqual(got["b"]["BinaryValue"], b"\x02\x03\x04")
        self.assertEqual(got["custom"], {"DataType": "String.Array", "StringValue": '["x","y"]'})
        self.assertEqual(m["MD5OfMessageAttributes"], h.md5_of_attributes(
            {k: ({"DataType": v["DataType"], "BinaryValue": v["BinaryValue"]} if "BinaryValue" in v else v)
             for k, v in got.items()}))

    def test_raw_delivery_with_more_than_10_attributes_fails_to_dlq(self):
        topic = self.make_topic()
        url, qarn = self.make_queue()
        dlq_url, dlq_arn = self.make_queue("dlq")
        raw_only = self.make_queue("nodlq")
        self.subscribe_queue(topic, qarn, RawMessageDelivery="true",
                             RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn}))
        self.subscribe_queue(topic, raw_only[1], RawMessageDelivery="true")
        env_url, env_arn = self.make_queue("env")
        self.subscribe_queue(topic, env_arn)
        attrs = {"a%d" % i: {"DataType": "String", "StringValue": str(i)} for i in range(11)}
        self.sns.publish(TopicArn=topic, Message="eleven", MessageAttributes=attrs)
        self.assertQuiet(url)
        self.assertQuiet(raw_only[0])
        dead = self.receive(dlq_url)
        self.assertEqual([m["Body"] for m in dead], ["eleven"])
        # the enveloped subscription is not limited
        self.assertEqual(len(json.loads(self.receive(env_url)[0]["Body"])["MessageAttributes"]), 11)
        # ten attributes still go through
        attrs.pop("a10")
        self.sns.publish(TopicArn=topic, Message="ten", MessageAttributes=attrs)
        self.assertEqual(len(self.receive(url)[0]["MessageAttributes"]), 10)

    def test_missing_queue_goes_to_dlq(self):
        topic = self.make_topic()
        dlq_url, dlq_arn = self.make_queue("dlq")
        gone = "arn:aws:sqs:%s:%s:%s" % (h.REGION, h.ACCOUNT, h.unique("gone"))
        self.subscribe_queue(topic, gone, RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn}))
        other = "arn:aws:sqs:%s:%s:%s" % (h.REGION, h.ACCOUNT, h.unique("gone"))
        self.subscribe_queue(topic, other)  # no DLQ: dropped, the publish still succeeds
        r = self.sns.publish(TopicArn=topic, Message="to nowhere", MessageAttributes={
            "k": {"DataType": "String", "StringValue": "v"}})
        dead = self.receive(dlq_url)
        self.assertEqual(len(dead), 1)
        env = json.loads(dead[0]["Body"])
        self.assertEqual(env["MessageId"], r["MessageId"])
        self.assertEqual(env["Message"], "to nowhere")
        self.assertEqual(env["MessageAttributes"], {"k": {"Type": "String", "Value": "v"}})

    def test_message_structure_json(self):
        topic = self.make_topic()
        url, qarn = self.make_queue()
        self.subscribe_queue(topic, qarn)
        self.sns.publish(TopicArn=topic, MessageStructure="json",
                         Message=json.dumps({"default": "for everyone", "sqs": "for queues", "email": "mail"}))
        self.assertEqual(json.loads(self.receive(url)[0]["Body"])["Message"], "for queues")
        self.sns.publish(TopicArn=topic, MessageStructure="json",
                         Message=json.dumps({"default": "fallback", "http": "web", "sqs": {"not": "a string"}}))
        self.assertEqual(json.loads(self.receive(url)[0]["Body"])["Message"], "fallback")
        self.assertRaisesSns(lambda: self.sns.publish(TopicArn=topic, MessageStructure="json",
                                                      Message=json.dumps({"sqs": "x"})),
                             "InvalidParameter", message="Invalid parameter: Message Structure - No default entry "
                             "in JSON message body")
        self.assertRaisesSns(lambda: self.sns.publish(TopicArn=topic, MessageStructure="json", Message="{nope"),
                             "InvalidParameter", message="Invalid parameter: Message Structure - JSON message body "
                             "failed to parse")
        self.assertQuiet(url)

    def test_publish_validation(self):
        topic = self.make_topic()
        url, qarn = self.make_queue()
        self.subscribe_queue(topic, qarn)
        P = lambda **kw: self.sns.publish(TopicArn=topic, **kw)  # noqa: E731
        self.assertRaisesSns(lambda: P(Message=""), "InvalidParameter", message="Invalid parameter: Empty message")
        for subject in ("", "x" * 101, "line\nbreak", "caf\u00e9"):
            with self.subTest(subject=subject):
                self.assertRaisesSns(lambda: P(Message="m", Subject=subject), "InvalidParameter",
                                     message="Invalid parameter: Subject")
        P(Message="m", Subject="y" * 100)
        self.assertRaisesSns(lambda: P(Message="x" * (262144 + 1)), "InvalidParameter",
                             message="Invalid parameter: Message too long")
        P(Message="x" * 262144)
        # attributes count towards the limit: name + type + value
        self.assertRaisesSns(lambda: P(Message="x" * (262144 - 10), MessageAttributes={
            "attr": {"DataType": "String", "StringValue": "v"}}), "InvalidParameter",
            message="Invalid parameter: Message too long")
        P(Message="x" * (262144 - 11), MessageAttributes={"attr": {"DataType": "String", "StringValue": "v"}})
        self.assertRaisesSns(lambda: P(Message="m", MessageDeduplicationId="d"), "InvalidParameter",
                             message="Invalid parameter: MessageDeduplicationId Reason: The request includes "
                             "MessageDeduplicationId parameter that is not valid for this topic type")
        PVI = "ParameterValueInvalid"
        for attrs, msg in (
                ({".a": {"DataType": "String", "StringValue": "v"}},
                 "Invalid message attribute name starting with character '.' was found."),
                ({"a.": {"DataType": "String", "StringValue": "v"}},
                 "Invalid message attribute name ending with character '.' was found."),
                ({"a..b": {"DataType": "String", "StringValue": "v"}},
                 "Message attribute name can not have successive '.' character."),
                ({"a^b": {"DataType": "String", "StringValue": "v"}},
                 "Invalid non-alphanumeric character '#x5E' was found in the message attribute name. Can only "
                 "include alphanumeric characters, hyphens, underscores, or dots."),
                ({"a" * 257: {"DataType": "String", "StringValue": "v"}},
                 "Length of message attribute name must be less than 256 bytes."),
                ({"attr1": {"DataType": "Float", "StringValue": "1"}},
                 "The message attribute 'attr1' has an invalid message attribute type, the set of supported type "
                 "prefixes is Binary, Number, and String."),
                ({"attr1": {"DataType": "String", "StringValue": ""}},
                 "The message attribute 'attr1' must contain non-empty message attribute value for message "
                 "attribute type 'String'."),
                ({"attr1": {"DataType": "String", "BinaryValue": b"x"}},
                 "The message attribute 'attr1' with type 'String' must use field 'String'."),
                ({"attr1": {"DataType": "Binary", "StringValue": "x"}},
                 "The message attribute 'attr1' with type 'Binary' must use field 'Binary'."),
                ({"attr1": {"DataType": "Number", "StringValue": "twelve"}},
                 "Could not cast message attribute 'attr1' value to number.")):
            with self.subTest(attrs=list(attrs)[0][:20]):
                self.assertRaisesSns(lambda: P(Message="m", MessageAttributes=attrs), PVI, message=msg)
        # DataType is required (botocore checks it too: a raw request)
        r = sns_query(self.server, "Publish", [("TopicArn", topic), ("Message", "m"),
                                               ("MessageAttributes.entry.1.Name", "attr1"),
                                               ("MessageAttributes.entry.1.Value.StringValue", "v")])
        self.assertEqual(r.status, 400)
        self.assertEqual(h.xml_error(r)[1:3], ("ValidationError", "1 validation error detected: Value null at "
                                               "'messageAttributes.attr1.member.dataType' failed to satisfy "
                                               "constraint: Member must not be null"))
        r = sns_query(self.server, "Publish", [("Message", "m")])
        self.assertEqual(h.xml_error(r)[1:3], ("InvalidParameter", "Invalid parameter: TopicArn or TargetArn "
                                               "Reason: no value for required parameter"))
        self.assertEqual(len(self.receive(url)), 3, "only the valid publishes were delivered")

    def test_query_wire_shapes(self):
        topic = self.make_topic()
        r = sns_query(self.server, "Publish", [("TopicArn", topic), ("Message", "wire")])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "text/xml")
        root = ET.fromstring(r.body)
        self.assertEqual(root.tag, "{%s}PublishResponse" % SNS_XMLNS)
        self.assertRegex(xml_find(r, "PublishResult/MessageId"), r"^[0-9a-f-]{36}$")
        self.assertEqual(xml_find(r, "ResponseMetadata/RequestId"), r.header("x-amzn-RequestId"))
        r = sns_query(self.server, "GetTopicAttributes", [("TopicArn", topic)])
        root = h.strip_ns(ET.fromstring(r.body))
        entries = root.findall("GetTopicAttributesResult/Attributes/entry")
        self.assertIn("TopicArn", [e.findtext("key") for e in entries])
        r = sns_query(self.server, "DeleteTopic", [("TopicArn", h.unique("x"))])
        self.assertEqual(h.xml_error(r)[1], "InvalidParameter")
        err = ET.fromstring(r.body)
        self.assertEqual(err.tag, "{%s}ErrorResponse" % SNS_XMLNS)
        self.assertEqual(err.find("{%s}Error/{%s}Type" % (SNS_XMLNS, SNS_XMLNS)).text, "Sender")
        self.assertIsNotNone(err.find("{%s}RequestId" % SNS_XMLNS))
        r = sns_query(self.server, "CreatePlatformApplication", [("Name", "x")])
        self.assertEqual((r.status, h.xml_error(r)[1]), (400, "InvalidAction"))
        r = sns_query(self.server, "DeleteTopic", [("TopicArn", topic)], method="GET")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(ET.fromstring(r.body).tag, "{%s}DeleteTopicResponse" % SNS_XMLNS)

    def test_bad_signature(self):
        bad = sns_client(self.server, secret_key="wrong-secret")
        self.assertRaisesSns(lambda: bad.list_topics(), "SignatureDoesNotMatch", 403)
        unknown = sns_client(self.server, access_key="AKIDUNKNOWN")
        self.assertRaisesSns(lambda: unknown.list_topics(), "InvalidClientTokenId", 403)
        r = sns_query(self.server, "ListTopics", secret_key="wrong")
        self.assertEqual(r.status, 403)
        root = ET.fromstring(r.body)
        self.assertEqual(root.tag, "{%s}ErrorResponse" % SNS_XMLNS)
        self.assertEqual(h.xml_error(r)[:2], ("Sender", "SignatureDoesNotMatch"))


# ------------------------------------------------------------------------------
# FIFO
# ------------------------------------------------------------------------------

class FifoTest(SnsTestCase):

    def test_fifo_topic_to_fifo_queue(self):
        topic = self.make_topic(fifo=True)
        url, qarn = self.make_queue(fifo=True)
        std_url, std_arn = self.make_queue("std")
        sub = self.subscribe_queue(topic, qarn)
        self.subscribe_queue(topic, std_arn)  # standard queues may subscribe to FIFO topics
        seqs, ids = [], []
        for i in range(6):
            r = self.sns.publish(TopicArn=topic, Message="m%d" % i, MessageGroupId="g%d" % (i % 2),
                                 MessageDeduplicationId="d%d" % i)
            self.assertRegex(r["SequenceNumber"], r"^\d{20}$")
            seqs.append(int(r["SequenceNumber"]))
            ids.append(r["MessageId"])
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len(set(seqs)), 6)
        got = []
        deadline = time.monotonic() + 5
        while len(got) < 6 and time.monotonic() < deadline:
            got += self.receive(url, wait=1)
        self.assertEqual(len(got), 6)
        envs = [json.loads(m["Body"]) for m in got]
        for g in ("g0", "g1"):
            order = [e["Message"] for m, e in zip(got, envs) if m["Attributes"]["MessageGroupId"] == g]
            self.assertEqual(order, ["m%d" % i for i in range(6) if "g%d" % (i % 2) == g])
        e = envs[0]
        self.assertEqual(list(e), ["Type", "MessageId", "SequenceNumber", "TopicArn", "Message", "Timestamp",
                                   "UnsubscribeURL"])
        self.assertEqual(e["UnsubscribeURL"], "%s/?Action=Unsubscribe&SubscriptionArn=%s" % (self.server.endpoint,
                                                                                                 sub))
        self.assertEqual(sorted(int(x["SequenceNumber"]) for x in envs), seqs)
        self.assertEqual(sorted(x["MessageId"] for x in envs), sorted(ids))
        self.assertEqual(len(self.receive_all(std_url, 6)), 6)

    def test_deduplication(self):
        topic = self.make_topic(fifo=True)
        url, qarn = self.make_queue(fifo=True)
        self.subscribe_queue(topic, qarn)
        a = self.sns.publish(TopicArn=topic, Message="one", MessageGroupId="g", MessageDeduplicationId="same")
        b = self.sns.publish(TopicArn=topic, Message="two", MessageGroupId="g", MessageDeduplicationId="same")
        self.assertEqual(a["MessageId"], b["MessageId"])
        self.assertEqual(a["SequenceNumber"], b["SequenceNumber"])
        got = self.receive_all(url, 2, timeout=2)
        self.assertEqual([json.loads(m["Body"])["Message"] for m in got], ["one"])
        # content-based
        self.assertRaisesSns(lambda: self.sns.publish(TopicArn=topic, Message="x", MessageGroupId="g"),
                             "InvalidParameter", message="Invalid parameter: The topic should either have "
                             "ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
        self.sns.set_topic_attributes(TopicArn=topic, AttributeName="ContentBasedDeduplication",
                                      AttributeValue="true")
        c = self.sns.publish(TopicArn=topic, Message="body", MessageGroupId="g")
        d = self.sns.publish(TopicArn=topic, Message="body", MessageGroupId="other")
        e = self.sns.publish(TopicArn=topic, Message="body2", MessageGroupId="g")
        self.assertEqual(c["MessageId"], d["MessageId"])
        self.assertNotEqual(c["MessageId"], e["MessageId"])
        got = self.receive_all(url, 3, timeout=2)
        self.assertEqual(sorted(json.loads(m["Body"])["Message"] for m in got), ["body", "body2"])
        # deduplication per message group
        self.sns.set_topic_attributes(TopicArn=topic, AttributeName="FifoThroughputScope",
                                      AttributeValue="MessageGroup")
        f = self.sns.publish(TopicArn=topic, Message="scoped", MessageGroupId="g1", MessageDeduplicationId="x")
        g = self.sns.publish(TopicArn=topic, Message="scoped", MessageGroupId="g2", MessageDeduplicationId="x")
        self.assertNotEqual(f["MessageId"], g["MessageId"])

    def test_fifo_rules(self):
        topic = self.make_topic(fifo=True, attributes={"ContentBasedDeduplication": "true"})
        self.assertRaisesSns(lambda: self.sns.publish(TopicArn=topic, Message="x"), "InvalidParameter",
                             message="Invalid parameter: The MessageGroupId parameter is required for FIFO topics")
        self.assertRaisesSns(lambda: self.sns.subscribe(TopicArn=topic, Protocol="https",
                                                        Endpoint="https://example.com"), "InvalidParameter")
        ok = self.sns.publish(TopicArn=topic, Message="x", MessageGroupId="g")
        self.assertRegex(ok["SequenceNumber"], r"^\d{20}$")


# ------------------------------------------------------------------------------
# PublishBatch
# ------------------------------------------------------------------------------

class BatchTest(SnsTestCase):

    def test_publish_batch(self):
        topic = self.make_topic()
        url, qarn = self.make_queue()
        self.subscribe_queue(topic, qarn)
        r = self.sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": "a", "Message": "first", "Subject": "S"},
            {"Id": "b", "Message": "second", "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
            {"Id": "bad-subject", "Message": "third", "Subject": "bad\nsubject"},
            {"Id": "c", "Message": json.dumps({"default": "d", "sqs": "q"}), "MessageStructure": "json"}])
        ok = {e["Id"]: e for e in r["Successful"]}
        self.assertEqual(sorted(ok), ["a", "b", "c"])
        self.assertEqual(r["Failed"], [{"Id": "bad-subject", "Code": "InvalidParameter",
                                        "Message": "Invalid parameter: Subject", "SenderFault": True}])
        got = {json.loads(m["Body"])["MessageId"]: json.loads(m["Body"]) for m in self.receive(url)}
        self.assertEqual(set(got), {e["MessageId"] for e in ok.values()})
        self.assertEqual(got[ok["a"]["MessageId"]]["Subject"], "S")
        self.assertEqual(got[ok["b"]["MessageId"]]["MessageAttributes"], {"k": {"Type": "String", "Value": "v"}})
        self.assertEqual(got[ok["c"]["MessageId"]]["Message"], "q")

    def test_batch_errors(self):
        topic = self.make_topic()
        E = lambda entries: self.sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)  # noqa
        self.assertRaisesSns(lambda: E([{"Id": str(i), "Message": "m"} for i in range(11)]),
                             "TooManyEntriesInBatchRequest",
                             message="The batch request contains more entries than permissible.")
        self.assertRaisesSns(lambda: E([{"Id": "x", "Message": "m"}, {"Id": "x", "Message": "n"}]),
                             "BatchEntryIdsNotDistinct",
                             message="Two or more batch entries in the request have the same Id.")
        self.assertRaisesSns(lambda: E([{"Id": "a" * 81, "Message": "m"}]), "InvalidBatchEntryId",
                             message="The Id of a batch entry in the batch request is too long: " + "a" * 81)
        self.assertRaisesSns(lambda: E([{"Id": "msg@1", "Message": "m"}]), "InvalidBatchEntryId",
                             message="The Id of a batch entry in the batch request contains an impermissible "
                             "character: msg@1")
        self.assertRaisesSns(lambda: E([{"Id": "1", "Message": "x" * 140000}, {"Id": "2", "Message": "y" * 140000}]),
                             "BatchRequestTooLong",
                             message="The length of all the messages put together is more than the limit.")
        self.assertRaisesSns(lambda: E([]), "EmptyBatchRequest")
        r = sns_query(self.server, "PublishBatch", [("TopicArn", topic)])
        self.assertEqual(h.xml_error(r)[1], "EmptyBatchRequest")
        self.assertRaisesSns(lambda: self.sns.publish_batch(TopicArn=topic_arn(h.unique("none")),
                                                            PublishBatchRequestEntries=[{"Id": "a", "Message": "m"}]),
                             "NotFound", 404)
        self.assertRaisesSns(lambda: E([{"Id": "a", "Message": "m", "MessageAttributes": {
            "x": {"DataType": "Nope", "StringValue": "1"}}}]), "ParameterValueInvalid")

    def test_fifo_batch(self):
        topic = self.make_topic(fifo=True, attributes={"ContentBasedDeduplication": "true"})
        url, qarn = self.make_queue(fifo=True)
        self.subscribe_queue(topic, qarn)
        r = self.sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": str(i), "Message": "m%d" % i, "MessageGroupId": "g"} for i in range(5)])
        seqs = [int(e["SequenceNumber"]) for e in sorted(r["Successful"], key=lambda e: int(e["Id"]))]
        self.assertEqual(seqs, sorted(seqs))
        got = self.receive_all(url, 5)
        self.assertEqual([json.loads(m["Body"])["Message"] for m in got], ["m%d" % i for i in range(5)])
        self.assertRaisesSns(lambda: self.sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": "1", "Message": "m"}]), "InvalidParameter",
            message="Invalid parameter: The MessageGroupId parameter is required for FIFO topics")


# ------------------------------------------------------------------------------
# filter policies (the pattern engine, src/events/pattern.c)
# ------------------------------------------------------------------------------

class FilterPolicyTest(SnsTestCase):

    def publish_and_collect(self, topic, url, messages):
        for body, attrs in messages:
            kw = {"TopicArn": topic, "Message": body}
            if attrs:
                kw["MessageAttributes"] = attrs
            self.sns.publish(**kw)
        return sorted(json.loads(m["Body"])["Message"] for m in self.receive_all(url, len(messages), timeout=1.5))

    def test_attribute_policy(self):
        topic = self.make_topic()
        url, qarn = self.make_queue()
        policy = {"color": ["red", {"prefix": "bl"}], "size": [{"numeric": [">", 10, "<=", 20]}]}
        sub = self.subscribe_queue(topic, qarn, FilterPolicy=json.dumps(policy))
        a = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(json.loads(a["FilterPolicy"]), policy)
        self.assertEqual(a["FilterPolicyScope"], "MessageAttributes")
        S = lambda v: {"DataType": "String", "StringValue": v}  # noqa: E731
        N = lambda v: {"DataType": "Number", "StringValue": v}  # noqa: E731
        got = self.publish_and_collect(topic, url, [
            ("red15", {"color": S("red"), "size": N("15")}),
            ("blue20", {"color": S("blue"), "size": N("20")}),
            ("green15", {"color": S("green"), "size": N("15")}),
            ("red25", {"color": S("red"), "size": N("25")}),
            ("nosize", {"color": S("red")}),
            ("none", None)])
        self.assertEqual(got, ["blue20", "red15"])
        # changed, and removed
        self.sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy",
                                             AttributeValue=json.dumps({"color": [{"anything-but": "red"}]}))
        self.assertEqual(self.publish_and_collect(topic, url, [("r", {"color": S("red")}),
                                                               ("g", {"color": S("green")})]), ["g"])
        self.sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue="")
        self.assertEqual(self.publish_and_collect(topic, url, [("any", None)]), ["any"])

    def test_body_policy(self):
        topic = self.make_topic()
        url, qarn = self.make_queue()
        sub = self.subscribe_queue(topic, qarn, FilterPolicyScope="MessageBody",
                                   FilterPolicy=json.dumps({"order": {"status": ["paid"]}}))
        self.assertEqual(self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
                         ["FilterPolicyScope"], "MessageBody")
        got = self.publish_and_collect(topic, url, [
            (json.dumps({"order": {"status": "paid", "n": 1}}), None),
            (json.dumps({"order": {"status": "open"}}), None),
            ("not json at all", None)])
        self.assertEqual([json.loads(g)["order"]["n"] for g in got], [1])

    def test_invalid_policies(self):
        topic = self.make_topic()
        url, qarn = self.make_queue()
        err = self.assertRaisesSns(lambda: self.sns.subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=qarn,
            Attributes={"FilterPolicy": json.dumps({"a": [{"numeric": [">", "x"]}]})}), "InvalidParameter")
        self.assertTrue(err.response["Error"]["Message"].startswith(
            "Invalid parameter: Attributes Reason: FilterPolicy: "), err.response["Error"]["Message"])
        sub = self.subscribe_queue(topic, qarn)
        err = self.assertRaisesSns(lambda: self.sns.set_subscription_attributes(
            SubscriptionArn=sub, AttributeName="FilterPolicy",
            AttributeValue=json.dumps({"a": [{"nosuchop": 1}]})), "InvalidParameter")
        self.assertTrue(err.response["Error"]["Message"].startswith("Invalid parameter: FilterPolicy: "),
                        err.response["Error"]["Message"])
        # nested keys are for the MessageBody scope only
        self.assertRaisesSns(lambda: self.sns.set_subscription_attributes(
            SubscriptionArn=sub, AttributeName="FilterPolicy",
            AttributeValue=json.dumps({"a": {"b": ["c"]}})), "InvalidParameter")


# ------------------------------------------------------------------------------
# signatures
# ------------------------------------------------------------------------------

def string_to_sign(env):
    keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    return "".join("%s\n%s\n" % (k, env[k]) for k in keys if k in env).encode("utf-8")


def fetch_cert(server, url):
    assert url.startswith(server.endpoint), url
    r = h.raw_request(server, "GET", url[len(server.endpoint):], sign=False)
    assert r.status == 200, r
    return r.body


@unittest.skipUnless(HAVE_CRYPTO, "Python cryptography not importable")
class SignatureTest(SnsTestCase):

    def verify(self, env, cert_pem):
        cert = x509.load_pem_x509_certificate(cert_pem)
        algo = hashes.SHA256() if env["SignatureVersion"] == "2" else hashes.SHA1()
        cert.public_key().verify(base64.b64decode(env["Signature"]), string_to_sign(env), padding.PKCS1v15(), algo)

    def test_signatures_verify_with_the_served_certificate(self):
        topic = self.make_topic()
        url, qarn = self.make_queue()
        self.subscribe_queue(topic, qarn)
        self.sns.publish(TopicArn=topic, Message="signed \u2603 message\nwith lines", Subject="Sub ject")
        self.sns.publish(TopicArn=topic, Message="no subject")
        self.sns.set_topic_attributes(TopicArn=topic, AttributeName="SignatureVersion", AttributeValue="2")
        self.sns.publish(TopicArn=topic, Message="version two", Subject="v2")
        envs = [json.loads(m["Body"]) for m in self.receive_all(url, 3)]
        self.assertEqual(sorted(e["SignatureVersion"] for e in envs), ["1", "1", "2"])
        cert_url = envs[0]["SigningCertURL"]
        pem = fetch_cert(self.server, cert_url)
        self.assertTrue(pem.startswith(b"-----BEGIN CERTIFICATE-----"))
        for env in envs:
            self.assertEqual(env["SigningCertURL"], cert_url)
            self.verify(env, pem)
            tampered = dict(env, Message=env["Message"] + "!")
            with self.assertRaises(Exception):
                self.verify(tampered, pem)
        cert = x509.load_pem_x509_certificate(pem)
        self.assertEqual(cert.public_key().key_size, 2048)
        # other names under /_/sns/ are not found
        r = h.raw_request(self.server, "GET", "/_/sns/SimpleNotificationService-0.pem", sign=False)
        self.assertEqual(r.status, 404)


class RestartTest(h.FreshServerTestCase):
    """State across SIGTERM and kill -9; the signing key across restarts."""

    def clients(self):
        return sns_client(self.server), self.server.client()

    def queue(self, sqs, name, fifo=False):
        attrs = {"FifoQueue": "true"} if fifo else {}
        url = sqs.create_queue(QueueName=name, **({"Attributes": attrs} if attrs else {}))["QueueUrl"]
        return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def snapshot(self, sns):
        topics = sorted(t["TopicArn"] for p in sns.get_paginator("list_topics").paginate() for t in p["Topics"])
        subs = sorted((s["SubscriptionArn"], s["Endpoint"]) for p in
                      sns.get_paginator("list_subscriptions").paginate() for s in p["Subscriptions"])
        attrs = {t: sns.get_topic_attributes(TopicArn=t)["Attributes"] for t in topics}
        tags = {t: sns.list_tags_for_resource(ResourceArn=t)["Tags"] for t in topics}
        return topics, subs, attrs, tags

    def test_state_survives_sigterm_and_kill9(self):
        sns, sqs = self.clients()
        t1 = sns.create_topic(Name="keep", Attributes={"DisplayName": "Kept", "SignatureVersion": "2"},
                              Tags=[{"Key": "k", "Value": "v"}])["TopicArn"]
        t2 = sns.create_topic(Name="keep.fifo", Attributes={"FifoTopic": "true",
                                                            "ContentBasedDeduplication": "true"})["TopicArn"]
        url, qarn = self.queue(sqs, "q1")
        furl, fqarn = self.queue(sqs, "q1.fifo", fifo=True)
        sub = sns.subscribe(TopicArn=t1, Protocol="sqs", Endpoint=qarn, Attributes={
            "RawMessageDelivery": "true", "FilterPolicy": json.dumps({"k": [{"exists": True}]})})["SubscriptionArn"]
        fsub = sns.subscribe(TopicArn=t2, Protocol="sqs", Endpoint=fqarn)["SubscriptionArn"]
        pending = sns.subscribe(TopicArn=t1, Protocol="http", Endpoint="http://example.com/h",
                                ReturnSubscriptionArn=True)["SubscriptionArn"]
        sns.add_permission(TopicArn=t1, Label="l1", AWSAccountId=["123456789012"], ActionName=["Publish"])
        first = sns.publish(TopicArn=t2, Message="before", MessageGroupId="g")
        before = self.snapshot(sns)
        sub_attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(json.loads(sqs.receive_message(QueueUrl=furl, WaitTimeSeconds=1)["Messages"][0]["Body"])
                         ["Message"], "before")
        for kill in (False, True):
            with self.subTest(kill=kill):
                self.server.restart(kill=kill)
                sns, sqs = self.clients()
                self.assertEqual(self.snapshot(sns), before)
                self.assertEqual(sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"], sub_attrs)
                self.assertEqual(sns.get_subscription_attributes(SubscriptionArn=pending)["Attributes"]
                                 ["PendingConfirmation"], "true")
                self.assertEqual(sns.get_subscription_attributes(SubscriptionArn=fsub)["Attributes"]["Endpoint"],
                                 fqarn)
        # the deduplication window and the sequence survive too
        again = sns.publish(TopicArn=t2, Message="before", MessageGroupId="g")
        self.assertEqual(again["MessageId"], first["MessageId"])
        later = sns.publish(TopicArn=t2, Message="after", MessageGroupId="g")
        self.assertGreater(int(later["SequenceNumber"]), int(first["SequenceNumber"]))
        # the confirmation still works with the stored token
        db = os.path.join(self.server.data_dir, "tweedle.db")
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        token = con.execute("SELECT token FROM sns_subscriptions WHERE arn=?", (pending,)).fetchone()[0]
        con.close()
        self.assertEqual(sns.confirm_subscription(TopicArn=t1, Token=token)["SubscriptionArn"], pending)
        # the raw, filtered subscription still filters and delivers raw
        sns.publish(TopicArn=t1, Message="dropped by the filter")
        sns.publish(TopicArn=t1, Message="raw", MessageAttributes={"k": {"DataType": "String", "StringValue": "1"}})
        msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", [])
        self.assertEqual([m["Body"] for m in msgs], ["raw"])

    @unittest.skipUnless(HAVE_CRYPTO, "Python cryptography not importable")
    def test_signing_key_is_kept(self):
        sns, sqs = self.clients()
        topic = sns.create_topic(Name="signed")["TopicArn"]
        url, qarn = self.queue(sqs, "sq")
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
        sns.publish(TopicArn=topic, Message="one")
        env1 = json.loads(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"][0]["Body"])
        key = os.path.join(self.server.data_dir, "sns-signing-key.pem")
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        pem1 = fetch_cert(self.server, env1["SigningCertURL"])
        self.server.restart(kill=True)
        sns, sqs = self.clients()
        sns.publish(TopicArn=topic, Message="two")
        msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10)["Messages"]
        env2 = [json.loads(m["Body"]) for m in msgs if json.loads(m["Body"])["Message"] == "two"][0]
        self.assertEqual(env1["SigningCertURL"].rsplit("/", 1)[1], env2["SigningCertURL"].rsplit("/", 1)[1])
        pem2 = fetch_cert(self.server, env2["SigningCertURL"])
        self.assertEqual(pem1, pem2)
        cert = x509.load_pem_x509_certificate(pem2)
        cert.public_key().verify(base64.b64decode(env2["Signature"]), string_to_sign(env2), padding.PKCS1v15(),
                                 hashes.SHA1())

    def test_kill9_under_publish_load(self):
        sns, sqs = self.clients()
        topic = sns.create_topic(Name="load")["TopicArn"]
        ftopic = sns.create_topic(Name="load.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
        queues = {}
        for name, raw in (("env", False), ("raw", True)):
            url, arn = self.queue(sqs, "load-" + name)
            queues[name] = url
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                          Attributes={"RawMessageDelivery": "true" if raw else "false"})
        furl, farn = self.queue(sqs, "load.fifo", fifo=True)
        sns.subscribe(TopicArn=ftopic, Protocol="sqs", Endpoint=farn)
        lock = threading.Lock()
        acked, facked, errors = set(), set(), []
        stop, killing = threading.Event(), threading.Event()

        def publisher(idx):
            c = sns_client(self.server)
            n = 0
            while not stop.is_set():
                n += 1
                msg = "p%d-%d-%s" % (idx, n, uuid.uuid4().hex[:6])
                try:
                    if n % 4 == 0:
                        r = c.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
                            {"Id": str(j), "Message": "%s-%d" % (msg, j)} for j in range(3)])
                        with lock:
                            acked.update("%s-%s" % (msg, e["Id"]) for e in r["Successful"])
                    elif n % 4 == 1:
                        c.publish(TopicArn=ftopic, Message=msg, MessageGroupId="g%d" % idx,
                                  MessageDeduplicationId=msg)
                        with lock:
                            facked.add(msg)
                    else:
                        c.publish(TopicArn=topic, Message=msg)
                        with lock:
                            acked.add(msg)
                except (ClientError, BotoCoreError) as e:
                    if not killing.is_set():
                        errors.append(repr(e))

        threads = [threading.Thread(target=publisher, args=(i,), daemon=True) for i in range(4)]
        for t in threads:
            t.start()
        # at least 3 s of load and 40 acknowledged publishes (a busy machine may need longer)
        deadline = time.time() + 30
        time.sleep(3)
        while time.time() < deadline:
            with lock:
                if len(acked) >= 40:
                    break
            time.sleep(0.1)
        killing.set()
        self.server.kill9()
        stop.set()
        for t in threads:
            t.join(15)
        self.assertEqual(errors[:3], [], "publishes failed before the crash")
        self.assertGreater(len(acked), 30, "too little load to test anything")
        with lock:
            want, fwant = set(acked), set(facked)
        self.server.restart()
        sqs = self.server.client()

        def drain(url, parse):
            seen = set()
            deadline, quiet = time.monotonic() + 30, 0
            while time.monotonic() < deadline and quiet < 2:
                msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                    "Messages", [])
                quiet = 0 if msgs else quiet + 1
                for m in msgs:
                    seen.add(parse(m["Body"]))
                if msgs:
                    sqs.delete_message_batch(QueueUrl=url, Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
            return seen

        env = drain(queues["env"], lambda b: json.loads(b)["Message"])
        raw = drain(queues["raw"], lambda b: b)
        fifo = drain(furl, lambda b: json.loads(b)["Message"])
        self.assertEqual(want - env, set(), "acknowledged publishes missing from the enveloped queue")
        self.assertEqual(want - raw, set(), "acknowledged publishes missing from the raw queue")
        self.assertEqual(fwant - fifo, set(), "acknowledged FIFO publishes missing from the FIFO queue")


class FailedCommitTest(h.FaultServerTestCase):
    """A batch that fails to commit (TWEEDLE_TEST_FAULTS): the client hears
    503, and nothing the batch held is left in memory (the engine reloads
    topics and subscriptions from the store) or in the queues."""

    def setUp(self):
        super().setUp()
        self.sns, self.sqs = sns_client(self.server), self.server.client(read_timeout=20)
        time.sleep(1.5)  # let the engines' first housekeeping commits pass

    def refused(self, fn):
        for _ in range(5):
            self.fail_commits(1)
            try:
                fn()
            except ClientError as e:
                self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 503, e.response)
                self.assertEqual(e.response["Error"]["Code"], "ServiceUnavailable")
                return True
            time.sleep(0.2)  # a background batch took the failure: again
        self.fail("the request was never the one whose commit failed")

    def test_nothing_of_a_failed_batch_remains(self):
        names = []

        def create():
            names.append(h.unique("failed"))
            self.sns.create_topic(Name=names[-1])
        self.refused(create)
        self.assertRaisesRegex(ClientError, "NotFound", self.sns.get_topic_attributes,
                               TopicArn=topic_arn(names[-1]))
        self.assertNotIn(topic_arn(names[-1]), [t["TopicArn"] for t in self.sns.list_topics()["Topics"]])

        topic = self.sns.create_topic(Name="kept")["TopicArn"]
        url = self.sqs.create_queue(QueueName="kq")["QueueUrl"]
        qarn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.refused(lambda: self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn))
        self.assertEqual(self.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"], [])
        self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)

        self.refused(lambda: self.sns.publish(TopicArn=topic, Message="lost"))
        self.sns.publish(TopicArn=topic, Message="kept")
        bodies = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            msgs = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", [])
            bodies += [json.loads(m["Body"])["Message"] for m in msgs]
        self.assertEqual(bodies, ["kept"])

        ftopic = self.sns.create_topic(Name="f.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
        first = self.sns.publish(TopicArn=ftopic, Message="a", MessageGroupId="g", MessageDeduplicationId="a")
        self.refused(lambda: self.sns.publish(TopicArn=ftopic, Message="b", MessageGroupId="g",
                                              MessageDeduplicationId="b"))
        # the refused publish left no deduplication entry: the same id publishes anew
        again = self.sns.publish(TopicArn=ftopic, Message="b", MessageGroupId="g", MessageDeduplicationId="b")
        self.assertGreater(int(again["SequenceNumber"]), int(first["SequenceNumber"]))
        self.server.restart()
        sns = sns_client(self.server)
        later = sns.publish(TopicArn=ftopic, Message="c", MessageGroupId="g", MessageDeduplicationId="c")
        self.assertGreater(int(later["SequenceNumber"]), int(again["SequenceNumber"]))
        self.assertEqual(sns.publish(TopicArn=ftopic, Message="b", MessageGroupId="g",
                                     MessageDeduplicationId="b")["MessageId"], again["MessageId"])


class CertHostTest(h.FreshServerTestCase):
    server_args = ("--sns-base-url", "https://sns.example.test/")

    def test_configured_base_url(self):
        sns, sqs = sns_client(self.server), self.server.client()
        topic = sns.create_topic(Name="hosted")["TopicArn"]
        url = sqs.create_queue(QueueName="hq")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
        sns.publish(TopicArn=topic, Message="m")
        env = json.loads(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"][0]["Body"])
        self.assertRegex(env["SigningCertURL"],
                         r"^https://sns\.example\.test/_/sns/SimpleNotificationService-[0-9a-f]{32}\.pem$")
        self.assertEqual(env["UnsubscribeURL"],
                         "https://sns.example.test/?Action=Unsubscribe&SubscriptionArn=" + sub)
        # served here under the same path
        path = urllib.parse.urlparse(env["SigningCertURL"]).path
        self.assertEqual(h.raw_request(self.server, "GET", path, sign=False).status, 200)


if __name__ == "__main__":
    unittest.main()
