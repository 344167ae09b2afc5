"""S3 event notifications to tweedle's own SQS queues.

AWS facts asserted here (S3 User Guide "Event message structure",
API reference PutBucketNotificationConfiguration, responses recorded
against S3):
* After a configuration is stored, S3 sends an s3:TestEvent message
  {"Service":"Amazon S3","Event":"s3:TestEvent","Time":...,"Bucket":...,
   "RequestId":...,"HostId":...}.
* One message per event: {"Records":[ one record ]} with eventVersion "2.1",
  eventSource "aws:s3", awsRegion, eventTime "YYYY-MM-DDTHH:MM:SS.mmmZ",
  eventName "ObjectCreated:Put" / "ObjectCreated:Copy" /
  "ObjectRemoved:Delete", userIdentity.principalId,
  requestParameters.sourceIPAddress, responseElements (x-amz-request-id of
  the request that caused the event, x-amz-id-2), s3.s3SchemaVersion "1.0",
  s3.configurationId, s3.bucket {name, ownerIdentity.principalId, arn
  "arn:aws:s3:::<bucket>"}, s3.object {key (URL-encoded, space as '+', '/'
  kept, '@' -> %40), size, eTag (no quotes), sequencer (hex)}.  Delete records
  carry no size/eTag.  Sequencers of one key increase.
* Filter rule names come back as "Prefix"/"Suffix".
* Errors, all 400 InvalidArgument: a queue that does not exist -> "Unable to
  validate the following destination configurations" with <ArgumentName1> =
  the ARN and <ArgumentValue1> "The destination queue does not exist"; an
  unparsable ARN -> "The ARN could not be parsed"; a filter name other than
  prefix/suffix -> "filter rule name must be either prefix or suffix"; two
  unfiltered rules sharing an event type -> "Configurations overlap.
  Configurations on the same bucket cannot share a common event type.";
  overlapping prefixes -> "Configuration is ambiguously defined. Cannot have
  overlapping suffixes in two rules if the prefixes are overlapping for the
  same event type."; FIFO queues are not supported as destinations.
"""

import json
import time
import unittest
import urllib.parse

import s3_harness as s
from s3_harness import ClientError, obj_path

UNABLE = "Unable to validate the following destination configurations"
OVERLAP = "Configurations overlap. Configurations on the same bucket cannot share a common event type."
AMBIGUOUS = ("Configuration is ambiguously defined. Cannot have overlapping suffixes in two rules if the "
             "prefixes are overlapping for the same event type.")
TIME_RE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


def setUpModule():
    s.start(__name__)


def tearDownModule():
    s.stop(__name__)


def queue_arn(name):
    return "arn:aws:sqs:%s:%s:%s" % (s.REGION, s.ACCOUNT, name)


class NotificationTestBase(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sqs = cls.server.client()

    def make_queue(self, prefix="events", fifo=False):
        name = s.h.unique(prefix)
        attrs = {}
        if fifo:
            name += ".fifo"
            attrs["FifoQueue"] = "true"
        url = self.sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"] if attrs else \
            self.sqs.create_queue(QueueName=name)["QueueUrl"]
        return name, url

    def configure(self, bucket, configs):
        return self.s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"QueueConfigurations": configs})

    def drain(self, url, expected, timeout=5.0):
        """Receive and delete up to ``expected`` messages (bounded)."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < expected and time.monotonic() < deadline:
            wait = max(0, min(1, int(deadline - time.monotonic())))
            r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
            for m in r.get("Messages", []):
                got.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return got

    def assertQuiet(self, url, wait=1):
        r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
        self.assertEqual([json.loads(m["Body"]) for m in r.get("Messages", [])], [], "unexpected messages")

    def setup_bucket_queue(self, events=("s3:ObjectCreated:*", "s3:ObjectRemoved:*"), filter_rules=None,
                           config_id="cfg-1"):
        bucket = self.make_bucket("notif")
        qname, url = self.make_queue()
        cfg = {"Id": config_id, "QueueArn": queue_arn(qname), "Events": list(events)}
        if filter_rules:
            cfg["Filter"] = {"Key": {"FilterRules": filter_rules}}
        self.configure(bucket, [cfg])
        test = self.drain(url, 1)
        self.assertEqual(len(test), 1, "expected the s3:TestEvent message")
        self.assertEqual(test[0].get("Event"), "s3:TestEvent")
        return bucket, qname, url

    def records(self, url, expected, timeout=5.0):
        msgs = self.drain(url, expected, timeout)
        out = []
        for m in msgs:
            self.assertIn("Records", m, m)
            self.assertEqual(len(m["Records"]), 1, "one record per message: %r" % m)
            out.append(m["Records"][0])
        return out


class ConfigurationTest(NotificationTestBase):

    def test_empty_configuration(self):
        b = self.make_bucket("empty")
        r = self.s3.get_bucket_notification_configuration(Bucket=b)
        self.assertNotIn("QueueConfigurations", r)
        raw = self.raw("GET", obj_path(b, query=[("notification", None)]))
        self.assertStatus(raw, 200)
        root = s.parse_xml(raw.body)
        self.assertEqual(root.tag, "{%s}NotificationConfiguration" % s.S3NS)
        self.assertEqual(len(list(root)), 0)

    def test_roundtrip(self):
        b = self.make_bucket("rt")
        q1, _ = self.make_queue()
        q2, _ = self.make_queue()
        configs = [
            {"Id": "created-jpg", "QueueArn": queue_arn(q1), "Events": ["s3:ObjectCreated:*"],
             "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "input/"},
                                                {"Name": "suffix", "Value": ".jpg"}]}}},
            {"Id": "removed", "QueueArn": queue_arn(q2), "Events": ["s3:ObjectRemoved:*"]},
        ]
        self.configure(b, configs)
        got = self.s3.get_bucket_notification_configuration(Bucket=b)["QueueConfigurations"]
        got = sorted(got, key=lambda c: c["Id"])
        self.assertEqual(got[0]["Id"], "created-jpg")
        self.assertEqual(got[0]["QueueArn"], queue_arn(q1))
        self.assertEqual(got[0]["Events"], ["s3:ObjectCreated:*"])
        self.assertEqual(sorted((r["Name"], r["Value"]) for r in got[0]["Filter"]["Key"]["FilterRules"]),
                         [("Prefix", "input/"), ("Suffix", ".jpg")])
        self.assertEqual(got[1], {"Id": "removed", "QueueArn": queue_arn(q2), "Events": ["s3:ObjectRemoved:*"]})

    def test_id_assigned_when_missing(self):
        b = self.make_bucket("noid")
        q, _ = self.make_queue()
        self.configure(b, [{"QueueArn": queue_arn(q), "Events": ["s3:ObjectCreated:Put"]}])
        got = self.s3.get_bucket_notification_configuration(Bucket=b)["QueueConfigurations"]
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0].get("Id"), "S3 assigns an Id: %r" % got)

    def test_replace_and_clear(self):
        b = self.make_bucket("clear")
        q, url = self.make_queue()
        self.configure(b, [{"Id": "a", "QueueArn": queue_arn(q), "Events": ["s3:ObjectCreated:*"]}])
        self.drain(url, 1)
        self.s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration={})
        self.assertNotIn("QueueConfigurations", self.s3.get_bucket_notification_configuration(Bucket=b))
        self.s3.put_object(Bucket=b, Key="after-clear", Body=b"x")
        self.assertQuiet(url)

    def test_configuration_does_not_survive_bucket_recreate(self):
        b = self.make_bucket("recreate")
        q, url = self.make_queue()
        self.configure(b, [{"Id": "old", "QueueArn": queue_arn(q), "Events": ["s3:ObjectCreated:*"]}])
        self.drain(url, 1)
        self.s3.delete_bucket(Bucket=b)
        self.s3.create_bucket(Bucket=b)
        self.assertNotIn("QueueConfigurations", self.s3.get_bucket_notification_configuration(Bucket=b))
        self.s3.put_object(Bucket=b, Key="after-recreate", Body=b"x")
        self.assertQuiet(url)

    def test_missing_bucket(self):
        self.assertRaisesS3(lambda: self.s3.get_bucket_notification_configuration(Bucket=s.unique_bucket("nb")),
                            "NoSuchBucket", 404, s.MSG_NO_SUCH_BUCKET)

    def test_nonexistent_queue(self):
        b = self.make_bucket("noq")
        arn = queue_arn("does-not-exist-" + s.uuid.uuid4().hex[:8])
        e = self.assertRaisesS3(lambda: self.configure(b, [{"Id": "x", "QueueArn": arn,
                                                             "Events": ["s3:ObjectCreated:*"]}]),
                                "InvalidArgument", 400, UNABLE)
        self.assertEqual(e.response["Error"].get("ArgumentName1"), arn)
        self.assertEqual(e.response["Error"].get("ArgumentValue1"), "The destination queue does not exist")
        self.assertNotIn("QueueConfigurations", self.s3.get_bucket_notification_configuration(Bucket=b))

    def test_unparsable_arn(self):
        b = self.make_bucket("badarn")
        self.assertRaisesS3(lambda: self.configure(b, [{"Id": "x", "QueueArn": "invalid-queue",
                                                         "Events": ["s3:ObjectCreated:*"]}]),
                            "InvalidArgument", 400, "The ARN could not be parsed", ArgumentName="Queue",
                            ArgumentValue="invalid-queue")

    def test_fifo_queue_refused(self):
        b = self.make_bucket("fifo")
        q, url = self.make_queue(fifo=True)
        self.assertRaisesS3(lambda: self.configure(b, [{"Id": "x", "QueueArn": queue_arn(q),
                                                         "Events": ["s3:ObjectCreated:*"]}]),
                            "InvalidArgument", 400)
        self.assertNotIn("QueueConfigurations", self.s3.get_bucket_notification_configuration(Bucket=b))
        self.assertQuiet(url, wait=0)

    def test_overlapping_rules(self):
        b = self.make_bucket("overlap")
        q1, _ = self.make_queue()
        q2, _ = self.make_queue()
        self.assertRaisesS3(lambda: self.configure(b, [
            {"Id": "one", "QueueArn": queue_arn(q1), "Events": ["s3:ObjectCreated:*"]},
            {"Id": "two", "QueueArn": queue_arn(q2), "Events": ["s3:ObjectCreated:Put"]}]),
            "InvalidArgument", 400, OVERLAP)

    def test_overlapping_prefix_rules(self):
        b = self.make_bucket("ambig")
        q1, _ = self.make_queue()
        q2, _ = self.make_queue()
        self.assertRaisesS3(lambda: self.configure(b, [
            {"Id": "one", "QueueArn": queue_arn(q1), "Events": ["s3:ObjectCreated:*"],
             "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "images/"}]}}},
            {"Id": "two", "QueueArn": queue_arn(q2), "Events": ["s3:ObjectCreated:*"],
             "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "images/raw/"}]}}}]),
            "InvalidArgument", 400, AMBIGUOUS)

    def test_non_overlapping_rules_accepted(self):
        b = self.make_bucket("disjoint")
        q1, _ = self.make_queue()
        q2, _ = self.make_queue()
        self.configure(b, [
            {"Id": "jpg", "QueueArn": queue_arn(q1), "Events": ["s3:ObjectCreated:*"],
             "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".jpg"}]}}},
            {"Id": "png", "QueueArn": queue_arn(q2), "Events": ["s3:ObjectCreated:*"],
             "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".png"}]}}},
            {"Id": "del", "QueueArn": queue_arn(q1), "Events": ["s3:ObjectRemoved:*"]}])
        self.assertEqual(len(self.s3.get_bucket_notification_configuration(Bucket=b)["QueueConfigurations"]), 3)

    def test_invalid_filter_rule_name(self):
        b = self.make_bucket("badfilter")
        q, _ = self.make_queue()
        self.assertRaisesS3(lambda: self.configure(b, [
            {"Id": "x", "QueueArn": queue_arn(q), "Events": ["s3:ObjectCreated:*"],
             "Filter": {"Key": {"FilterRules": [{"Name": "INVALID", "Value": "a"}]}}}]),
            "InvalidArgument", 400, "filter rule name must be either prefix or suffix",
            ArgumentName="FilterRule.Name", ArgumentValue="INVALID")

    def test_invalid_event_name(self):
        b = self.make_bucket("badevent")
        q, _ = self.make_queue()
        self.assertRaisesS3(lambda: self.configure(b, [{"Id": "x", "QueueArn": queue_arn(q),
                                                         "Events": ["s3:ObjectExploded:*"]}]),
                            "InvalidArgument", 400)

    def test_failed_update_keeps_previous_configuration(self):
        b = self.make_bucket("keepcfg")
        q, url = self.make_queue()
        self.configure(b, [{"Id": "good", "QueueArn": queue_arn(q), "Events": ["s3:ObjectCreated:*"]}])
        self.drain(url, 1)
        with self.assertRaises(ClientError):
            self.configure(b, [{"Id": "bad", "QueueArn": queue_arn("missing-" + s.uuid.uuid4().hex[:6]),
                                "Events": ["s3:ObjectCreated:*"]}])
        got = self.s3.get_bucket_notification_configuration(Bucket=b)["QueueConfigurations"]
        self.assertEqual([c["Id"] for c in got], ["good"])
        self.s3.put_object(Bucket=b, Key="still-notified", Body=b"x")
        recs = self.records(url, 1)
        self.assertEqual([r["s3"]["object"]["key"] for r in recs], ["still-notified"])


class EventTest(NotificationTestBase):

    def test_test_event_message(self):
        b = self.make_bucket("testevent")
        q, url = self.make_queue()
        self.configure(b, [{"Id": "t", "QueueArn": queue_arn(q), "Events": ["s3:ObjectCreated:*"]}])
        msgs = self.drain(url, 1)
        self.assertEqual(len(msgs), 1)
        m = msgs[0]
        self.assertEqual(m["Service"], "Amazon S3")
        self.assertEqual(m["Event"], "s3:TestEvent")
        self.assertEqual(m["Bucket"], b)
        self.assertRegex(m["Time"], TIME_RE)
        self.assertTrue(m.get("RequestId"))
        self.assertIn("HostId", m)
        self.assertQuiet(url, wait=0)

    def test_put_event_record(self):
        bucket, qname, url = self.setup_bucket_queue(config_id="put-cfg")
        data = b"event body"
        t0 = time.time()
        r = self.s3.put_object(Bucket=bucket, Key="input/photo.jpg", Body=data)
        recs = self.records(url, 1)
        self.assertEqual(len(recs), 1)
        rec = recs[0]
        self.assertEqual(rec["eventVersion"], "2.1")
        self.assertEqual(rec["eventSource"], "aws:s3")
        self.assertEqual(rec["awsRegion"], "us-east-1")
        self.assertEqual(rec["eventName"], "ObjectCreated:Put")
        self.assertRegex(rec["eventTime"], TIME_RE)
        import calendar
        ts = calendar.timegm(time.strptime(rec["eventTime"][:19], "%Y-%m-%dT%H:%M:%S"))
        self.assertLess(abs(ts - t0), 60)
        self.assertTrue(rec["userIdentity"]["principalId"])
        self.assertEqual(rec["requestParameters"]["sourceIPAddress"], "127.0.0.1")
        self.assertEqual(rec["responseElements"]["x-amz-request-id"], r["ResponseMetadata"]["RequestId"])
        self.assertIn("x-amz-id-2", rec["responseElements"])
        s3 = rec["s3"]
        self.assertEqual(s3["s3SchemaVersion"], "1.0")
        self.assertEqual(s3["configurationId"], "put-cfg")
        self.assertEqual(s3["bucket"]["name"], bucket)
        self.assertEqual(s3["bucket"]["arn"], "arn:aws:s3:::" + bucket)
        self.assertTrue(s3["bucket"]["ownerIdentity"]["principalId"])
        obj = s3["object"]
        self.assertEqual(obj["key"], "input/photo.jpg")
        self.assertEqual(obj["size"], len(data))
        self.assertIsInstance(obj["size"], int)
        self.assertEqual(obj["eTag"], s.md5_hex(data))
        self.assertRegex(obj["sequencer"], r"^[0-9A-F]+$")
        self.assertQuiet(url)

    def test_key_encoding(self):
        bucket, qname, url = self.setup_bucket_queue()
        keys = ["dir/my file+1.txt", "a@b", "ключ/日本 x", "x~y*z(1)!'", "semi;colon&amp=eq?q#h%25"]
        for k in keys:
            self.s3.put_object(Bucket=bucket, Key=k, Body=b"k")
        recs = self.records(url, len(keys))
        got = [r["s3"]["object"]["key"] for r in recs]
        self.assertEqual(sorted(urllib.parse.unquote_plus(k) for k in got), sorted(keys))
        self.assertIn("dir/my+file%2B1.txt", got)
        self.assertIn("a%40b", got)
        self.assertIn("%D0%BA%D0%BB%D1%8E%D1%87/%E6%97%A5%E6%9C%AC+x", got)

    def test_delete_event(self):
        bucket, qname, url = self.setup_bucket_queue()
        self.s3.put_object(Bucket=bucket, Key="to delete", Body=b"abc")
        created = self.records(url, 1)
        r = self.s3.delete_object(Bucket=bucket, Key="to delete")
        recs = self.records(url, 1)
        self.assertEqual(len(recs), 1)
        rec = recs[0]
        self.assertEqual(rec["eventName"], "ObjectRemoved:Delete")
        self.assertEqual(rec["s3"]["object"]["key"], "to+delete")
        self.assertNotIn("size", rec["s3"]["object"])
        self.assertNotIn("eTag", rec["s3"]["object"])
        self.assertEqual(rec["responseElements"]["x-amz-request-id"], r["ResponseMetadata"]["RequestId"])
        self.assertGreater(int(rec["s3"]["object"]["sequencer"], 16), int(created[0]["s3"]["object"]["sequencer"], 16))

    def test_copy_event(self):
        bucket, qname, url = self.setup_bucket_queue()
        self.s3.put_object(Bucket=bucket, Key="src", Body=b"copy me")
        self.records(url, 1)
        self.s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
        recs = self.records(url, 1)
        self.assertEqual([(r["eventName"], r["s3"]["object"]["key"]) for r in recs], [("ObjectCreated:Copy", "dst")])
        self.assertEqual(recs[0]["s3"]["object"]["size"], 7)
        self.assertEqual(recs[0]["s3"]["object"]["eTag"], s.md5_hex(b"copy me"))

    def test_delete_objects_events(self):
        bucket, qname, url = self.setup_bucket_queue()
        keys = ["m/1", "m/2", "m/3"]
        for k in keys:
            self.s3.put_object(Bucket=bucket, Key=k, Body=b"x")
        self.records(url, 3)
        self.s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
        recs = self.records(url, 3)
        self.assertEqual(sorted((r["eventName"], r["s3"]["object"]["key"]) for r in recs),
                         [("ObjectRemoved:Delete", k) for k in keys])

    def test_exactly_one_record_per_put(self):
        bucket, qname, url = self.setup_bucket_queue()
        n = 12
        for i in range(n):
            self.s3.put_object(Bucket=bucket, Key="many/%02d" % i, Body=b"x" * i)
        recs = self.records(url, n + 5, timeout=4.0)
        self.assertEqual(sorted(r["s3"]["object"]["key"] for r in recs), ["many/%02d" % i for i in range(n)])

    def test_sequencer_increases_for_a_key(self):
        bucket, qname, url = self.setup_bucket_queue()
        for i in range(5):
            self.s3.put_object(Bucket=bucket, Key="same", Body=b"v%d" % i)
        self.s3.delete_object(Bucket=bucket, Key="same")
        recs = self.records(url, 6)
        self.assertEqual(len(recs), 6)
        by_etag = {s.md5_hex(b"v%d" % i): i for i in range(5)}
        puts = sorted((by_etag[r["s3"]["object"]["eTag"]], int(r["s3"]["object"]["sequencer"], 16))
                      for r in recs if r["eventName"] == "ObjectCreated:Put")
        seqs = [q for _, q in puts]
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len(set(seqs)), 5)
        dele = [int(r["s3"]["object"]["sequencer"], 16) for r in recs if r["eventName"] == "ObjectRemoved:Delete"]
        self.assertEqual(len(dele), 1)
        self.assertGreater(dele[0], max(seqs))

    def test_prefix_suffix_filter(self):
        bucket, qname, url = self.setup_bucket_queue(
            events=("s3:ObjectCreated:*",),
            filter_rules=[{"Name": "prefix", "Value": "input/"}, {"Name": "suffix", "Value": ".jpg"}])
        for k in ("input/a.png", "other/a.jpg", "input.jpg", "INPUT/b.jpg", "input/b.JPG"):
            self.s3.put_object(Bucket=bucket, Key=k, Body=b"no")
        self.s3.put_object(Bucket=bucket, Key="input/deep/ok.jpg", Body=b"yes")
        recs = self.records(url, 1)
        self.assertEqual([r["s3"]["object"]["key"] for r in recs], ["input/deep/ok.jpg"])
        self.s3.delete_object(Bucket=bucket, Key="input/deep/ok.jpg")
        self.assertQuiet(url)

    def test_specific_event_type(self):
        bucket, qname, url = self.setup_bucket_queue(events=("s3:ObjectCreated:Put",))
        self.s3.put_object(Bucket=bucket, Key="p", Body=b"x")
        self.s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "p"})
        self.s3.delete_object(Bucket=bucket, Key="p")
        recs = self.records(url, 3, timeout=3.0)
        self.assertEqual([(r["eventName"], r["s3"]["object"]["key"]) for r in recs], [("ObjectCreated:Put", "p")])

    def test_object_tagging_events(self):
        """s3:ObjectTagging:Put / :Delete reach a queue configured for them (and
        only for them: the PUT that creates the object is not sent)."""
        bucket, qname, url = self.setup_bucket_queue(events=("s3:ObjectTagging:*",))
        self.s3.put_object(Bucket=bucket, Key="t", Body=b"x")
        self.assertQuiet(url)
        self.s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
        self.s3.delete_object_tagging(Bucket=bucket, Key="t")
        recs = self.records(url, 2)
        self.assertEqual([(r["eventName"], r["s3"]["object"]["key"]) for r in recs],
                         [("ObjectTagging:Put", "t"), ("ObjectTagging:Delete", "t")])
        bucket2, _, url2 = self.setup_bucket_queue(events=("s3:ObjectTagging:Delete",))
        self.s3.put_object(Bucket=bucket2, Key="u", Body=b"x")
        self.s3.put_object_tagging(Bucket=bucket2, Key="u", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
        self.s3.delete_object_tagging(Bucket=bucket2, Key="u")
        self.assertEqual([r["eventName"] for r in self.records(url2, 1)], ["ObjectTagging:Delete"])

    def test_removed_only(self):
        bucket, qname, url = self.setup_bucket_queue(events=("s3:ObjectRemoved:*",))
        self.s3.put_object(Bucket=bucket, Key="r", Body=b"x")
        self.assertQuiet(url)
        self.s3.delete_object(Bucket=bucket, Key="r")
        recs = self.records(url, 1)
        self.assertEqual([r["eventName"] for r in recs], ["ObjectRemoved:Delete"])

    def test_two_rules_route_to_two_queues(self):
        bucket = self.make_bucket("route")
        qa, url_a = self.make_queue("qa")
        qb, url_b = self.make_queue("qb")
        self.configure(bucket, [
            {"Id": "a", "QueueArn": queue_arn(qa), "Events": ["s3:ObjectCreated:*"],
             "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "a/"}]}}},
            {"Id": "b", "QueueArn": queue_arn(qb), "Events": ["s3:ObjectCreated:*"],
             "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "b/"}]}}}])
        self.drain(url_a, 1)
        self.drain(url_b, 1)
        self.s3.put_object(Bucket=bucket, Key="a/1", Body=b"x")
        self.s3.put_object(Bucket=bucket, Key="b/1", Body=b"x")
        ra = self.records(url_a, 1)
        rb = self.records(url_b, 1)
        self.assertEqual([(r["s3"]["configurationId"], r["s3"]["object"]["key"]) for r in ra], [("a", "a/1")])
        self.assertEqual([(r["s3"]["configurationId"], r["s3"]["object"]["key"]) for r in rb], [("b", "b/1")])
        self.assertQuiet(url_a, wait=0)
        self.assertQuiet(url_b, wait=0)

    def test_other_bucket_does_not_notify(self):
        bucket, qname, url = self.setup_bucket_queue()
        other = self.make_bucket("quiet")
        self.s3.put_object(Bucket=other, Key="k", Body=b"x")
        self.assertQuiet(url)

    def test_failed_put_does_not_notify(self):
        bucket, qname, url = self.setup_bucket_queue()
        r = self.raw("PUT", obj_path(bucket, "bad-md5"), body=b"abc", headers={"Content-MD5": s.md5_b64(b"xyz")})
        self.assertEqual(r.status, 400)
        r = self.raw("PUT", obj_path(bucket, "bad-crc"), body=b"abc", headers={"x-amz-checksum-crc32": "AAAAAA=="})
        self.assertEqual(r.status, 400)
        self.assertQuiet(url)

    def test_presigned_put_notifies(self):
        import requests
        bucket, qname, url = self.setup_bucket_queue()
        put_url = self.s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "input/upload.bin"})
        resp = requests.put(put_url, data=b"from a producer", timeout=30)
        self.assertEqual(resp.status_code, 200, resp.text)
        recs = self.records(url, 1)
        self.assertEqual([(r["eventName"], r["s3"]["object"]["key"], r["s3"]["object"]["size"]) for r in recs],
                         [("ObjectCreated:Put", "input/upload.bin", 15)])
        self.assertEqual(recs[0]["responseElements"]["x-amz-request-id"], resp.headers.get("x-amz-request-id"))

    def test_event_message_body_is_plain_json(self):
        bucket, qname, url = self.setup_bucket_queue()
        self.s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
        r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=2,
                                     AttributeNames=["All"], MessageAttributeNames=["All"])
        msgs = r.get("Messages", [])
        self.assertEqual(len(msgs), 1)
        body = msgs[0]["Body"]
        self.assertEqual(msgs[0]["MD5OfBody"], s.md5_hex(body.encode()))
        doc = json.loads(body)
        self.assertEqual(list(doc), ["Records"])


if __name__ == "__main__":
    unittest.main()
