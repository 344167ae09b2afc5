"""S3 bucket lifecycle: Put/Get/DeleteBucketLifecycleConfiguration, the
x-amz-expiration and x-amz-abort-* headers, and the sweeper that expires
objects and aborts incomplete multipart uploads.

The module's server runs with --lifecycle-day-seconds 2: a lifecycle "day"
lasts two seconds, so "Days: 1" comes due within seconds.  Every wait is
bounded (EXPIRY_DEADLINE).

AWS facts asserted here (API reference PutBucketLifecycleConfiguration,
LifecycleRule, LifecycleRuleFilter, LifecycleExpiration,
AbortIncompleteMultipartUpload, GetObject/HeadObject/PutObject
x-amz-expiration; User Guide "Lifecycle configuration elements", "Configuring
S3 Lifecycle event notifications"; answers recorded against S3 and quoted in
public issue trackers):
* Due time: creation + Days, rounded up to the next midnight UTC (here: the
  next multiple of the lifecycle day); a Date rule applies from that
  midnight on, to existing and new objects.
* GET without a configuration -> 404 NoSuchLifecycleConfiguration "The
  lifecycle configuration does not exist" with <BucketName>; DELETE -> 204,
  with or without one.  A rule sent without an ID gets one (48 characters,
  base64 of a UUID).  GET gives the rules back as sent: a rule-level Prefix
  stays one.
* PUT needs Content-MD5 or an x-amz-checksum-* header: "Missing required
  header for this request: Content-MD5 OR x-amz-checksum-*" (400
  InvalidRequest).  botocore >= 1.36 sends CRC32 only, older ones Content-MD5.
* Errors: Days <= 0 -> InvalidArgument "'Days' for Expiration action must be
  a positive integer"; DaysAfterInitiation <= 0 -> "'DaysAfterInitiation' for
  AbortIncompleteMultipartUpload action must be a positive integer"; a Date
  not at midnight -> InvalidArgument "'Date' must be at midnight GMT"
  (ArgumentName Date); an ID over 255 characters -> InvalidArgument "ID length
  should not exceed allowed limit of 255"; a repeated ID -> InvalidArgument
  "Rule ID must be unique. Found same ID for more than one rule"; a rule
  without an action -> InvalidRequest "At least one action needs to be
  specified in a rule"; more than 1000 rules / none -> InvalidRequest; a
  Status other than Enabled/Disabled, neither or both of Filter and Prefix,
  two predicates in a Filter, an And of one predicate, Days with
  ExpiredObjectDeleteMarker, XML that is not well formed -> MalformedXML;
  duplicate tag keys in an And -> InvalidRequest "Duplicate Tag Keys are not
  allowed."; size bounds -> InvalidRequest "'ObjectSizeLessThan' should be
  between 1 and 1099511627776000." / "'ObjectSizeLessThan' has to be a value
  greater than 'ObjectSizeGreaterThan'."; AbortIncompleteMultipartUpload with
  a tag or size filter -> InvalidRequest "... cannot be specified with Tags." /
  "... with Object Size."; rule-level prefixes mixed with filters and
  overlapping rule-level prefixes -> InvalidRequest.
* x-amz-expiration: expiry-date="<HTTP date>", rule-id="<ID>".
  CreateMultipartUpload answers x-amz-abort-date and x-amz-abort-rule-id.
* Expiry events: eventName "LifecycleExpiration:Delete", eventVersion "2.3",
  userIdentity.principalId and requestParameters.sourceIPAddress
  "s3.amazonaws.com", s3.object with key and sequencer; sent only to
  configurations for s3:LifecycleExpiration:*, never as ObjectRemoved.
"""

import base64
import calendar
import datetime
import json
import re
import threading
import time
import uuid

import s3_harness as s
from s3_harness import obj_path

DAY = 2  # seconds in a lifecycle day on the module's server
EXPIRY_DEADLINE = 20.0
UTC = datetime.timezone.utc
MISSING_DIGEST = "Missing required header for this request: Content-MD5 OR x-amz-checksum-*"
EXPIRATION_RE = re.compile(r'^expiry-date="([^"]+)", rule-id="([^"]*)"$')


def setUpModule():
    s.h.start_module_server(__name__, extra_args=["--lifecycle-day-seconds", str(DAY)])


def tearDownModule():
    s.stop(__name__)


def queue_arn(name):
    return "arn:aws:sqs:%s:%s:%s" % (s.REGION, s.ACCOUNT, name)


def epoch(http_date):
    return calendar.timegm(s.parse_http_date(http_date).timetuple())


def lifecycle_xml(rules_xml):
    return ('<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">%s'
            '</LifecycleConfiguration>' % "".join(rules_xml)).encode()


def rule_xml(inner, rid="r", status="Enabled", filt="<Filter></Filter>"):
    rid_xml = "" if rid is None else "<ID>%s</ID>" % rid
    status_xml = "" if status is None else "<Status>%s</Status>" % status
    return "<Rule>%s%s%s%s</Rule>" % (rid_xml, filt, status_xml, inner)


DAYS1 = "<Expiration><Days>1</Days></Expiration>"


class LifecycleBase(s.S3TestCase):

    def put_rules(self, bucket, rules, client=None):
        return (client or self.s3).put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={"Rules": rules})

    def rules(self, bucket, client=None):
        return (client or self.s3).get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]

    def raw_put(self, bucket, body, md5=True, headers=None):
        hdrs = dict(headers or {})
        if md5:
            hdrs["Content-MD5"] = s.md5_b64(body)
        return self.raw("PUT", obj_path(bucket, None, "lifecycle"), body, hdrs)

    def keys(self, bucket):
        return sorted(o["Key"] for o in self.s3.list_objects_v2(Bucket=bucket).get("Contents", []))

    def wait_keys(self, bucket, want, timeout=EXPIRY_DEADLINE):
        """Polls ListObjectsV2 until exactly `want` is left (bounded)."""
        want = sorted(want)
        deadline = time.monotonic() + timeout
        keys = self.keys(bucket)
        while keys != want and time.monotonic() < deadline:
            time.sleep(0.25)
            keys = self.keys(bucket)
        self.assertEqual(keys, want, "objects left after %.0fs" % timeout)


class ConfigurationTest(LifecycleBase):

    def test_round_trip(self):
        bucket = self.make_bucket("lc")
        date = datetime.datetime(2030, 1, 1, tzinfo=UTC)
        rules = [
            {"ID": "prefix-days", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 30}},
            {"ID": "tag-date", "Filter": {"Tag": {"Key": "class", "Value": "tmp"}}, "Status": "Disabled",
             "Expiration": {"Date": date}},
            {"ID": "and", "Filter": {"And": {"Prefix": "a/", "Tags": [{"Key": "k", "Value": "v"},
                                                                       {"Key": "k2", "Value": ""}],
                                             "ObjectSizeGreaterThan": 10, "ObjectSizeLessThan": 1000}},
             "Status": "Enabled", "Expiration": {"Days": 7}},
            {"ID": "bigger", "Filter": {"ObjectSizeGreaterThan": 100}, "Status": "Enabled", "Expiration": {"Days": 1}},
            {"ID": "noncurrent", "Filter": {"ObjectSizeLessThan": 5}, "Status": "Enabled",
             "NoncurrentVersionExpiration": {"NoncurrentDays": 3, "NewerNoncurrentVersions": 2}},
            {"ID": "everything", "Filter": {}, "Status": "Enabled", "Expiration": {"ExpiredObjectDeleteMarker": True},
             "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3}},
        ]
        r = self.put_rules(bucket, rules)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(self.rules(bucket), rules)
        raw = self.raw("GET", obj_path(bucket, None, "lifecycle"))
        self.assertStatus(raw, 200)
        root = s.parse_xml(raw.body)
        self.assertEqual(root.tag, "{%s}LifecycleConfiguration" % s.S3NS)
        first = [c.tag.split("}")[1] for c in root.find("{%s}Rule" % s.S3NS)]
        self.assertEqual(first, ["ID", "Filter", "Status", "Expiration"])  # S3's element order

    def test_rule_level_prefix_comes_back_as_sent(self):
        bucket = self.make_bucket("lc")
        rules = [{"ID": "v1", "Prefix": "docs/", "Status": "Enabled", "Expiration": {"Days": 5}},
                 {"ID": "v1b", "Prefix": "img/", "Status": "Disabled", "AbortIncompleteMultipartUpload":
                  {"DaysAfterInitiation": 2}}]
        self.put_rules(bucket, rules)
        self.assertEqual(self.rules(bucket), rules)

    def test_generated_id(self):
        bucket = self.make_bucket("lc")
        self.put_rules(bucket, [{"Filter": {"Prefix": "x/"}, "Status": "Enabled", "Expiration": {"Days": 3}},
                                {"ID": "", "Filter": {"Prefix": "y/"}, "Status": "Enabled", "Expiration": {"Days": 3}}])
        ids = [r["ID"] for r in self.rules(bucket)]
        self.assertEqual(len(set(ids)), 2)
        for rid in ids:
            self.assertEqual(len(rid), 48)
            uuid.UUID(base64.b64decode(rid).decode())

    def test_replace_get_and_delete(self):
        bucket = self.make_bucket("lc")
        e = self.assertRaisesS3(lambda: self.rules(bucket), "NoSuchLifecycleConfiguration", 404,
                                "The lifecycle configuration does not exist", BucketName=bucket)
        self.assertIsNotNone(e)
        self.put_rules(bucket, [{"ID": "a", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 9}}])
        second = [{"ID": "b", "Filter": {"Prefix": "b/"}, "Status": "Enabled", "Expiration": {"Days": 8}}]
        self.put_rules(bucket, second)
        self.assertEqual(self.rules(bucket), second)
        r = self.s3.delete_bucket_lifecycle(Bucket=bucket)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 204)
        self.assertRaisesS3(lambda: self.rules(bucket), "NoSuchLifecycleConfiguration", 404)
        r = self.s3.delete_bucket_lifecycle(Bucket=bucket)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 204)

    def test_missing_bucket(self):
        missing = s.unique_bucket("nolc")
        rules = [{"ID": "a", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 9}}]
        for fn in (lambda: self.rules(missing), lambda: self.put_rules(missing, rules),
                   lambda: self.s3.delete_bucket_lifecycle(Bucket=missing)):
            self.assertRaisesS3(fn, "NoSuchBucket", 404, s.MSG_NO_SUCH_BUCKET)

    def test_checksum_headers_this_botocore_sends(self):
        bucket = self.make_bucket("lc")
        seen = s.capture_headers(self.s3, "PutBucketLifecycleConfiguration")
        self.put_rules(bucket, [{"ID": "a", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 9}}])
        if s.NEW_CHECKSUMS:
            self.assertIn("x-amz-checksum-crc32", seen[-1])
        else:
            self.assertIn("content-md5", seen[-1])
        self.assertEqual(len(self.rules(bucket)), 1)

    def test_a_thousand_rules(self):
        bucket = self.make_bucket("lc")
        rules = [{"ID": "r%04d" % i, "Filter": {"Prefix": "p%04d/" % i}, "Status": "Enabled",
                  "Expiration": {"Days": 1 + i}} for i in range(1000)]
        self.put_rules(bucket, rules)
        self.assertEqual(self.rules(bucket), rules)
        r = self.raw_put(bucket, lifecycle_xml([rule_xml(DAYS1, rid="r%d" % i) for i in range(1001)]))
        self.assertS3Error(r, "InvalidRequest", 400,
                           "The number of lifecycle rules must not exceed the allowed limit of 1000 rules.")
        self.assertEqual(len(self.rules(bucket)), 1000)

    def test_id_of_255_characters(self):
        bucket = self.make_bucket("lc")
        self.put_rules(bucket, [{"ID": "\u00e9" * 255, "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 2}}])
        self.assertEqual(self.rules(bucket)[0]["ID"], "\u00e9" * 255)

    def test_errors_change_nothing(self):
        bucket = self.make_bucket("lc")
        keep = [{"ID": "keep", "Filter": {"Prefix": "k/"}, "Status": "Enabled", "Expiration": {"Days": 4}}]
        self.put_rules(bucket, keep)
        pos = "must be a positive integer"
        tag = "<Tag><Key>%s</Key><Value>%s</Value></Tag>"
        cases = [
            ([rule_xml("<Expiration><Days>0</Days></Expiration>")], "InvalidArgument",
             "'Days' for Expiration action " + pos, {}),
            ([rule_xml("<Expiration><Days>-3</Days></Expiration>")], "InvalidArgument",
             "'Days' for Expiration action " + pos, {}),
            ([rule_xml("<Expiration><Days>x</Days></Expiration>")], "MalformedXML", s.MSG_MALFORMED_XML, {}),
            ([rule_xml("<Expiration><Days>99999999999</Days></Expiration>")], "MalformedXML", s.MSG_MALFORMED_XML, {}),
            ([rule_xml("<Expiration><Date>2030-01-01T12:00:00Z</Date></Expiration>")], "InvalidArgument",
             "'Date' must be at midnight GMT", {"ArgumentName": "Date", "ArgumentValue": "2030-01-01T12:00:00Z"}),
            ([rule_xml("<Expiration><Date>Fri, 01 Jan 2016 00:00:00 GMT</Date></Expiration>")], "MalformedXML",
             s.MSG_MALFORMED_XML, {}),
            ([rule_xml("<Expiration></Expiration>")], "MalformedXML", s.MSG_MALFORMED_XML, {}),
            ([rule_xml("<Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker>"
                       "</Expiration>")], "MalformedXML", s.MSG_MALFORMED_XML, {}),
            ([rule_xml("<AbortIncompleteMultipartUpload><DaysAfterInitiation>0</DaysAfterInitiation>"
                       "</AbortIncompleteMultipartUpload>")], "InvalidArgument",
             "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action " + pos, {}),
            ([rule_xml(DAYS1, rid="i" * 256)], "InvalidArgument", "ID length should not exceed allowed limit of 255", {}),
            ([rule_xml(DAYS1, rid="same"), rule_xml(DAYS1, rid="same")], "InvalidArgument",
             "Rule ID must be unique. Found same ID for more than one rule", {}),
            ([rule_xml(DAYS1, status="enabled")], "MalformedXML", s.MSG_MALFORMED_XML, {}),
            ([rule_xml(DAYS1, status=None)], "MalformedXML", s.MSG_MALFORMED_XML, {}),
            ([rule_xml("")], "InvalidRequest", "At least one action needs to be specified in a rule", {}),
            ([rule_xml(DAYS1, filt="")], "MalformedXML", s.MSG_MALFORMED_XML, {}),
            ([rule_xml(DAYS1, filt="<Prefix>a</Prefix><Filter></Filter>")], "MalformedXML", s.MSG_MALFORMED_XML, {}),
            ([rule_xml(DAYS1, filt="<Filter><Prefix>a</Prefix>%s</Filter>" % (tag % ("k", "v")))], "MalformedXML",
             s.MSG_MALFORMED_XML, {}),
            ([rule_xml(DAYS1, filt="<Filter><And>%s</And></Filter>" % (tag % ("k", "v")))], "MalformedXML",
             s.MSG_MALFORMED_XML, {}),
            ([rule_xml(DAYS1, filt="<Filter><And>%s%s</And></Filter>" % (tag % ("k", "1"), tag % ("k", "2")))],
             "InvalidRequest", "Duplicate Tag Keys are not allowed.", {}),
            ([rule_xml(DAYS1, filt="<Filter><ObjectSizeLessThan>0</ObjectSizeLessThan></Filter>")], "InvalidRequest",
             "'ObjectSizeLessThan' should be between 1 and 1099511627776000.", {}),
            ([rule_xml(DAYS1, filt="<Filter><And><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan>"
                                   "<ObjectSizeLessThan>10</ObjectSizeLessThan></And></Filter>")], "InvalidRequest",
             "'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'.", {}),
            ([rule_xml("<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>"
                       "</AbortIncompleteMultipartUpload>", filt="<Filter>%s</Filter>" % (tag % ("k", "v")))],
             "InvalidRequest", "AbortIncompleteMultipartUpload cannot be specified with Tags.", {}),
            ([rule_xml("<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>"
                       "</AbortIncompleteMultipartUpload>",
                       filt="<Filter><ObjectSizeGreaterThan>5</ObjectSizeGreaterThan></Filter>")],
             "InvalidRequest", "AbortIncompleteMultipartUpload cannot be specified with Object Size.", {}),
            ([rule_xml(DAYS1, rid="a", filt="<Prefix>a/</Prefix>"), rule_xml(DAYS1, rid="b")], "InvalidRequest",
             "Filter element can only be used in Lifecycle V2.", {}),
            ([rule_xml(DAYS1, rid="a"), rule_xml(DAYS1, rid="b", filt="<Prefix>a/</Prefix>")], "InvalidRequest",
             "Base level prefix cannot be used in Lifecycle V2, prefixes are only supported in the Filter.", {}),
            ([rule_xml(DAYS1, rid="a", filt="<Prefix>a</Prefix>"), rule_xml(DAYS1, rid="b", filt="<Prefix>ab</Prefix>")],
             "InvalidRequest", "Found overlapping prefixes 'a' and 'ab' for same action type 'Expiration'", {}),
            ([rule_xml(DAYS1, filt="<Filter></Filter><Bogus>1</Bogus>")], "MalformedXML", s.MSG_MALFORMED_XML, {}),
            ([], "InvalidRequest", "At least one lifecycle rule must be specified.", {}),
        ]
        for rules, code, msg, fields in cases:
            with self.subTest(rules=rules[:2]):
                self.assertS3Error(self.raw_put(bucket, lifecycle_xml(rules)), code, 400, msg, **fields)
                self.assertEqual(self.rules(bucket), keep)
        for body in [b"<LifecycleConfiguration><Rule>", b"<Other></Other>", b"", b"not xml"]:
            with self.subTest(body=body):
                self.assertS3Error(self.raw_put(bucket, body), "MalformedXML", 400, s.MSG_MALFORMED_XML)
        r = self.raw_put(bucket, lifecycle_xml([rule_xml(DAYS1)]), md5=False)
        self.assertS3Error(r, "InvalidRequest", 400, MISSING_DIGEST)
        r = self.raw_put(bucket, lifecycle_xml([rule_xml(DAYS1)]), md5=False,
                         headers={"Content-MD5": s.md5_b64(b"other")})
        self.assertS3Error(r, "BadDigest", 400, s.MSG_BAD_DIGEST_MD5)
        r = self.raw_put(bucket, lifecycle_xml([rule_xml(DAYS1)]), md5=False,
                         headers={"x-amz-checksum-crc32": s.crc32_b64(b"other")})
        self.assertS3Error(r, "BadDigest", 400, s.checksum_mismatch_message("CRC32"))
        self.assertRaisesS3(lambda: self.put_rules(bucket, [{"ID": "t", "Filter": {}, "Status": "Enabled",
                                                             "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}]}]),
                            "NotImplemented", 501)
        self.assertEqual(self.rules(bucket), keep)
        # the raw helper itself is right: the same request with a good digest is taken
        r = self.raw_put(bucket, lifecycle_xml([rule_xml(DAYS1, rid="ok")]))
        self.assertStatus(r, 200)
        self.assertEqual([x["ID"] for x in self.rules(bucket)], ["ok"])


class HeadersTest(LifecycleBase):

    def check_expiration(self, value, rule_id, modified_http, days):
        m = EXPIRATION_RE.match(value or "")
        self.assertTrue(m, "x-amz-expiration %r" % value)
        self.assertEqual(m.group(2), rule_id)
        when = epoch(m.group(1))
        created = epoch(modified_http)  # whole seconds; the object's time is within the next second
        self.assertEqual(when % DAY, 0, value)
        self.assertGreaterEqual(when, created + days * DAY)
        self.assertLessEqual(when, created + 1 + days * DAY + DAY)
        return when

    def test_expiration_header(self):
        bucket = self.make_bucket("lch")
        self.put_rules(bucket, [
            {"ID": "long", "Filter": {"Prefix": "hdr/"}, "Status": "Enabled", "Expiration": {"Days": 40}},
            {"ID": "short id with spaces", "Filter": {"Prefix": "hdr/short"}, "Status": "Enabled",
             "Expiration": {"Days": 30}},
            {"ID": "off", "Filter": {"Prefix": "hdr/"}, "Status": "Disabled", "Expiration": {"Days": 20}},
            {"ID": "dated", "Filter": {"Prefix": "dated/"}, "Status": "Enabled",
             "Expiration": {"Date": datetime.datetime(2031, 5, 6, tzinfo=UTC)}},
        ])
        put = self.s3.put_object(Bucket=bucket, Key="hdr/a", Body=b"x")
        head = self.s3.head_object(Bucket=bucket, Key="hdr/a")
        modified = head["ResponseMetadata"]["HTTPHeaders"]["last-modified"]
        when = self.check_expiration(put.get("Expiration"), "long", modified, 40)
        self.assertEqual(head.get("Expiration"), put["Expiration"])
        self.assertEqual(self.s3.get_object(Bucket=bucket, Key="hdr/a").get("Expiration"), put["Expiration"])
        self.assertEqual(epoch(EXPIRATION_RE.match(head["Expiration"]).group(1)), when)
        # the earliest of the rules that apply
        put = self.s3.put_object(Bucket=bucket, Key="hdr/short", Body=b"x")
        self.check_expiration(put.get("Expiration"), "short id with spaces",
                              self.s3.head_object(Bucket=bucket, Key="hdr/short")["ResponseMetadata"]
                              ["HTTPHeaders"]["last-modified"], 30)
        put = self.s3.put_object(Bucket=bucket, Key="dated/a", Body=b"x")
        self.assertEqual(put.get("Expiration"), 'expiry-date="Tue, 06 May 2031 00:00:00 GMT", rule-id="dated"')
        put = self.s3.put_object(Bucket=bucket, Key="other", Body=b"x")
        self.assertNotIn("Expiration", put)
        self.assertNotIn("Expiration", self.s3.head_object(Bucket=bucket, Key="other"))
        copy = self.s3.copy_object(Bucket=bucket, Key="hdr/copy", CopySource={"Bucket": bucket, "Key": "other"})
        self.assertTrue(EXPIRATION_RE.match(copy.get("Expiration", "")), copy)
        up = self.s3.create_multipart_upload(Bucket=bucket, Key="hdr/mp")
        part = self.s3.upload_part(Bucket=bucket, Key="hdr/mp", UploadId=up["UploadId"], PartNumber=1, Body=b"x")
        done = self.s3.complete_multipart_upload(Bucket=bucket, Key="hdr/mp", UploadId=up["UploadId"],
                                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
        self.assertTrue(EXPIRATION_RE.match(done.get("Expiration", "")), done)

    def test_tag_rule_header_follows_the_tags(self):
        bucket = self.make_bucket("lch")
        self.put_rules(bucket, [{"ID": "tagged", "Filter": {"And": {"Tags": [{"Key": "a", "Value": "1"},
                                                                               {"Key": "b", "Value": "2"}]}},
                                 "Status": "Enabled", "Expiration": {"Days": 50}}])
        self.s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="a=1")
        self.assertNotIn("Expiration", self.s3.head_object(Bucket=bucket, Key="t"))
        self.s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [
            {"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}, {"Key": "c", "Value": "3"}]})
        self.assertIn("rule-id=\"tagged\"", self.s3.head_object(Bucket=bucket, Key="t")["Expiration"])

    def test_abort_headers(self):
        bucket = self.make_bucket("lch")
        self.put_rules(bucket, [{"ID": "abort-up", "Filter": {"Prefix": "up/"}, "Status": "Enabled",
                                 "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 30}}])
        before = time.time()
        up = self.s3.create_multipart_upload(Bucket=bucket, Key="up/a")
        after = time.time()
        self.assertEqual(up.get("AbortRuleId"), "abort-up")
        when = calendar.timegm(up["AbortDate"].utctimetuple())
        self.assertEqual(when % DAY, 0)
        self.assertGreaterEqual(when, int(before) + 30 * DAY)
        self.assertLessEqual(when, after + 31 * DAY)
        other = self.s3.create_multipart_upload(Bucket=bucket, Key="down/a")
        self.assertNotIn("AbortRuleId", other)
        self.assertNotIn("AbortDate", other)


class ExpirationTest(LifecycleBase):

    def test_filters(self):
        bucket = self.make_bucket("lce")
        self.put_rules(bucket, [
            {"ID": "tmp", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled", "Expiration": {"Days": 1}},
            {"ID": "scratch", "Filter": {"Tag": {"Key": "class", "Value": "scratch"}}, "Status": "Enabled",
             "Expiration": {"Days": 1}},
            {"ID": "big", "Filter": {"And": {"Prefix": "big/", "ObjectSizeGreaterThan": 10}}, "Status": "Enabled",
             "Expiration": {"Days": 1}},
            {"ID": "off", "Filter": {"Prefix": "keep/"}, "Status": "Disabled", "Expiration": {"Days": 1}},
            {"ID": "later", "Filter": {"Prefix": "later/"}, "Status": "Enabled", "Expiration": {"Days": 1000}},
        ])
        put = lambda key, body=b"x", **kw: self.s3.put_object(Bucket=bucket, Key=key, Body=body, **kw)  # noqa: E731
        put("tmp/a")
        put("tmp/deeper/b", b"")
        put("tmpfile")
        put("tagged", Tagging="class=scratch&other=1")
        put("tagged-other", Tagging="class=keep")
        put("big/large", b"x" * 11)
        put("big/ten", b"x" * 10)
        put("keep/x")
        put("later/x")
        survivors = ["tmpfile", "tagged-other", "big/ten", "keep/x", "later/x"]
        self.wait_keys(bucket, survivors)
        # more passes leave them alone
        time.sleep(1.5 * DAY)
        self.assertEqual(self.keys(bucket), sorted(survivors))
        for key in ("tmp/a", "tagged", "big/large"):
            self.assertNoObject(bucket, key)

    def test_tagging_an_object_makes_it_due(self):
        bucket = self.make_bucket("lce")
        self.put_rules(bucket, [{"ID": "t", "Filter": {"Tag": {"Key": "gone", "Value": "yes"}}, "Status": "Enabled",
                                 "Expiration": {"Days": 1}}])
        self.s3.put_object(Bucket=bucket, Key="obj", Body=b"x")
        time.sleep(2.5 * DAY)
        self.assertEqual(self.keys(bucket), ["obj"])
        self.s3.put_object_tagging(Bucket=bucket, Key="obj", Tagging={"TagSet": [{"Key": "gone", "Value": "yes"}]})
        self.wait_keys(bucket, [])

    def test_date_rules(self):
        bucket = self.make_bucket("lce")
        today = datetime.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        for key in ("past/a", "past/b", "future/a", "elsewhere"):
            self.s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        self.put_rules(bucket, [
            {"ID": "past", "Filter": {"Prefix": "past/"}, "Status": "Enabled", "Expiration": {"Date": today}},
            {"ID": "future", "Filter": {"Prefix": "future/"}, "Status": "Enabled",
             "Expiration": {"Date": today + datetime.timedelta(days=3650)}},
        ])
        self.wait_keys(bucket, ["elsewhere", "future/a"])
        # a date rule goes on applying to objects written later
        self.s3.put_object(Bucket=bucket, Key="past/new", Body=b"x")
        self.wait_keys(bucket, ["elsewhere", "future/a"])

    def test_abort_incomplete_uploads(self):
        bucket = self.make_bucket("lce")
        self.put_rules(bucket, [{"ID": "abort", "Filter": {"Prefix": "up/"}, "Status": "Enabled",
                                 "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}])
        up = self.s3.create_multipart_upload(Bucket=bucket, Key="up/a")
        self.assertEqual(up.get("AbortRuleId"), "abort")
        self.s3.upload_part(Bucket=bucket, Key="up/a", UploadId=up["UploadId"], PartNumber=1, Body=b"part")
        other = self.s3.create_multipart_upload(Bucket=bucket, Key="down/b")
        self.s3.put_object(Bucket=bucket, Key="up/object", Body=b"x")  # objects are not uploads
        deadline = time.monotonic() + EXPIRY_DEADLINE
        left = None
        while time.monotonic() < deadline:
            left = [u["Key"] for u in self.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
            if left == ["down/b"]:
                break
            time.sleep(0.25)
        self.assertEqual(left, ["down/b"])
        self.assertRaisesS3(lambda: self.s3.upload_part(Bucket=bucket, Key="up/a", UploadId=up["UploadId"],
                                                        PartNumber=2, Body=b"late"), "NoSuchUpload", 404)
        self.assertEqual(self.keys(bucket), ["up/object"])
        self.s3.abort_multipart_upload(Bucket=bucket, Key="down/b", UploadId=other["UploadId"])

    def test_newer_writes_survive(self):
        """Each key is written again once its first version is due, while
        sweeps run: a sweep that decided on the old version must not remove
        the new one, which is there until its own due time."""
        bucket = self.make_bucket("lce")
        self.put_rules(bucket, [{"ID": "race", "Filter": {"Prefix": "race/"}, "Status": "Enabled",
                                 "Expiration": {"Days": 1}}])
        keys = ["race/%03d" % i for i in range(160)]
        due = 0
        for k in keys:
            put = self.s3.put_object(Bucket=bucket, Key=k, Body=b"old")
            due = max(due, epoch(EXPIRATION_RE.match(put["Expiration"]).group(1)))
        while time.time() < due:  # every first version is due: sweeps remove them from now on
            time.sleep(0.02)
        errors, new_due = [], {}

        def writer(part):
            try:
                for k in part:
                    put = self.s3.put_object(Bucket=bucket, Key=k, Body=b"new")
                    new_due[k] = epoch(EXPIRATION_RE.match(put["Expiration"]).group(1))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=writer, args=(keys[i::8],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(errors, [])
        lost, checked = [], 0
        for k in keys:
            before = time.time()
            status = self.raw("HEAD", obj_path(bucket, k)).status
            if before < new_due[k] - 0.2:  # not due yet: it must be there
                checked += 1
                if status != 200:
                    lost.append(k)
        self.assertEqual(lost, [])
        self.assertGreater(checked, 0, "every new version was due before it could be checked")


class EventsTest(LifecycleBase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sqs = cls.server.client()

    def drain(self, url, expected, timeout):
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < expected and time.monotonic() < deadline:
            r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for m in r.get("Messages", []):
                got.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return got

    def test_expiration_events(self):
        bucket = self.make_bucket("lcev")
        names = [s.h.unique("lifecycle"), s.h.unique("removed")]
        urls = [self.sqs.create_queue(QueueName=n)["QueueUrl"] for n in names]
        self.s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
            {"Id": "lc", "QueueArn": queue_arn(names[0]), "Events": ["s3:LifecycleExpiration:*"]},
            {"Id": "rm", "QueueArn": queue_arn(names[1]), "Events": ["s3:ObjectRemoved:*"]},
        ]})
        for url in urls:
            test = self.drain(url, 1, 5)
            self.assertEqual([m.get("Event") for m in test], ["s3:TestEvent"])
        self.s3.put_object(Bucket=bucket, Key="ev/a b", Body=b"payload")
        self.s3.put_object(Bucket=bucket, Key="stays", Body=b"x")
        self.put_rules(bucket, [{"ID": "ev", "Filter": {"Prefix": "ev/"}, "Status": "Enabled",
                                 "Expiration": {"Days": 1}}])
        msgs = self.drain(urls[0], 1, EXPIRY_DEADLINE)
        self.assertEqual(len(msgs), 1, msgs)
        self.assertEqual(len(msgs[0]["Records"]), 1)
        rec = msgs[0]["Records"][0]
        self.assertEqual(rec["eventName"], "LifecycleExpiration:Delete")
        self.assertEqual(rec["eventVersion"], "2.3")
        self.assertEqual(rec["eventSource"], "aws:s3")
        self.assertEqual(rec["awsRegion"], s.REGION)
        self.assertRegex(rec["eventTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(rec["userIdentity"], {"principalId": "s3.amazonaws.com"})
        self.assertEqual(rec["requestParameters"], {"sourceIPAddress": "s3.amazonaws.com"})
        self.assertRegex(rec["responseElements"]["x-amz-request-id"], r"^[0-9A-F]{16}$")
        self.assertEqual(rec["s3"]["s3SchemaVersion"], "1.0")
        self.assertEqual(rec["s3"]["configurationId"], "lc")
        self.assertEqual(rec["s3"]["bucket"]["name"], bucket)
        self.assertEqual(rec["s3"]["bucket"]["arn"], "arn:aws:s3:::" + bucket)
        self.assertEqual(rec["s3"]["object"]["key"], "ev/a+b")
        self.assertRegex(rec["s3"]["object"]["sequencer"], r"^[0-9A-F]+$")
        self.assertNotIn("size", rec["s3"]["object"])
        self.assertNoObject(bucket, "ev/a b")
        # no ObjectRemoved for an expiry; a client's delete still gives one, and no lifecycle event
        self.assertEqual(self.drain(urls[1], 1, 1.5), [])
        self.s3.delete_object(Bucket=bucket, Key="stays")
        removed = self.drain(urls[1], 1, 5)
        self.assertEqual([m["Records"][0]["eventName"] for m in removed], ["ObjectRemoved:Delete"])
        self.assertEqual(self.drain(urls[0], 1, 1.5), [])


class RestartAndDeleteTest(LifecycleBase):

    def test_rules_survive_restart(self):
        srv = s.h.Server(extra_args=["--lifecycle-day-seconds", str(DAY)])
        try:
            srv.start()
            s3 = s.s3_client(srv)
            bucket = s.unique_bucket("lcr")
            s3.create_bucket(Bucket=bucket)
            rules = [{"ID": "persist", "Filter": {"Prefix": "p/"}, "Status": "Enabled", "Expiration": {"Days": 1}},
                     {"ID": "off", "Filter": {"Prefix": "q/"}, "Status": "Disabled", "Expiration": {"Days": 1}}]
            self.put_rules(bucket, rules, client=s3)
            rc, _, killed = srv.stop()
            self.assertEqual((rc, killed), (0, False))
            srv.start()
            s3 = s.s3_client(srv)
            self.assertEqual(self.rules(bucket, client=s3), rules)
            s3.put_object(Bucket=bucket, Key="p/a", Body=b"x")
            s3.put_object(Bucket=bucket, Key="q/a", Body=b"x")
            deadline = time.monotonic() + EXPIRY_DEADLINE
            keys = None
            while time.monotonic() < deadline:
                keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
                if keys == ["q/a"]:
                    break
                time.sleep(0.25)
            self.assertEqual(keys, ["q/a"])
            # a prompt, clean stop with the sweeper running
            t0 = time.monotonic()
            rc, _, killed = srv.stop()
            self.assertEqual((rc, killed), (0, False))
            self.assertLess(time.monotonic() - t0, 5)
        finally:
            srv.stop()
            srv.cleanup()

    def test_bucket_delete_removes_rules(self):
        bucket = self.make_bucket("lcd")
        self.put_rules(bucket, [{"ID": "x", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 30}}])
        self.s3.delete_bucket(Bucket=bucket)
        self.s3.create_bucket(Bucket=bucket)
        self.assertRaisesS3(lambda: self.rules(bucket), "NoSuchLifecycleConfiguration", 404)
        self.assertNotIn("Expiration", self.s3.put_object(Bucket=bucket, Key="k", Body=b"x"))
        self.assertNotIn("Expiration", self.s3.head_object(Bucket=bucket, Key="k"))
