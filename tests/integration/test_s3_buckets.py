"""S3 buckets: CreateBucket, HeadBucket, ListBuckets, DeleteBucket,
GetBucketLocation and bucket-name validation.

AWS facts asserted here:
* Re-creating a bucket you own in us-east-1 returns 200 OK (legacy
  behaviour; every other region answers 409 BucketAlreadyOwnedByYou) --
  BucketAlreadyOwnedByYou in the API reference.
* CreateBucket with LocationConstraint=us-east-1 sent to us-east-1:
  400 InvalidLocationConstraint "The specified location-constraint is not valid".
* HeadBucket: 200 with x-amz-bucket-region; 404 with an empty body when missing.
* DeleteBucket: 204; 409 BucketNotEmpty; 404 NoSuchBucket (with <BucketName>).
* GetBucketLocation of a us-east-1 bucket: an empty <LocationConstraint/>.
* Bucket names: 3-63 chars of lowercase letters, digits, '.', '-'; begin and
  end with a letter or digit; no '..'; not an IP address; not 'xn--...',
  'sthree-...', '...-s3alias', '...--ol-s3' -> 400 InvalidBucketName
  "The specified bucket is not valid." with <BucketName>.
"""

import datetime
import unittest

import s3_harness as s
from s3_harness import ClientError, obj_path


def setUpModule():
    s.start(__name__)


def tearDownModule():
    s.stop(__name__)


class CreateBucketTest(s.S3TestCase):

    def test_create_bucket_returns_location(self):
        name = s.unique_bucket("create")
        r = self.s3.create_bucket(Bucket=name)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(r.get("Location"), "/" + name)
        self.s3.head_bucket(Bucket=name)

    def test_create_bucket_sigv4_client(self):
        name = s.unique_bucket("create4")
        self.s3v4.create_bucket(Bucket=name)
        self.assertIn(name, [b["Name"] for b in self.s3v4.list_buckets()["Buckets"]])

    def test_recreate_owned_bucket_in_us_east_1_is_200_and_a_no_op(self):
        name = self.make_bucket("again")
        self.s3.put_object(Bucket=name, Key="keep", Body=b"still here")
        r = self.s3.create_bucket(Bucket=name)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(self.get_body(name, "keep"), b"still here")
        names = [b["Name"] for b in self.s3.list_buckets()["Buckets"]]
        self.assertEqual(names.count(name), 1)

    def test_create_bucket_with_us_east_1_location_constraint(self):
        name = s.unique_bucket("loc")
        self.assertRaisesS3(
            lambda: self.s3.create_bucket(Bucket=name,
                                          CreateBucketConfiguration={"LocationConstraint": "us-east-1"}),
            "InvalidLocationConstraint", 400, "The specified location-constraint is not valid")
        self.assertNoBucket(name)

    def test_create_bucket_raw_response(self):
        name = s.unique_bucket("raw")
        r = self.raw("PUT", "/" + name)
        self.assertStatus(r, 200)
        self.assertEqual(r.header("Location"), "/" + name)
        self.assertTrue(r.header("x-amz-request-id"))

    def test_create_bucket_with_empty_configuration_body(self):
        name = s.unique_bucket("cfg")
        body = ('<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                '</CreateBucketConfiguration>')
        r = self.raw("PUT", "/" + name, body=body)
        self.assertStatus(r, 200)
        self.s3.head_bucket(Bucket=name)

    def test_create_bucket_malformed_configuration(self):
        name = s.unique_bucket("badcfg")
        r = self.raw("PUT", "/" + name, body="<CreateBucketConfiguration><oops")
        self.assertS3Error(r, "MalformedXML", 400, s.MSG_MALFORMED_XML)
        self.assertNoBucket(name)

    def assertNoBucket(self, name):
        r = self.raw("HEAD", "/" + name)
        self.assertEqual(r.status, 404, "bucket %s should not exist" % name)


class BucketNameTest(s.S3TestCase):

    INVALID = [
        "UpperCase",          # uppercase
        "ab",                 # too short
        "a" * 64,             # too long
        "192.168.5.4",        # IP address
        "my..bucket",         # adjacent periods
        "-starts-with-dash",  # must begin with a letter or digit
        "ends-with-dash-",    # must end with a letter or digit
        ".starts-with-dot",
        "ends-with-dot.",
        "under_score",        # underscore
        "spa ce",             # space
        "xn--punycode",       # reserved prefix
        "sthree-reserved",    # reserved prefix
        "name-s3alias",       # reserved suffix
        "name--ol-s3",        # reserved suffix
    ]

    def test_invalid_bucket_names(self):
        before = {b["Name"] for b in self.s3.list_buckets()["Buckets"]}
        for name in self.INVALID:
            with self.subTest(name=name):
                r = self.raw("PUT", "/" + urllib_quote(name))
                self.assertS3Error(r, "InvalidBucketName", 400, s.MSG_INVALID_BUCKET_NAME, BucketName=name)
        after = {b["Name"] for b in self.s3.list_buckets()["Buckets"]}
        self.assertEqual(after - before, set(), "invalid names must not create buckets")

    def test_invalid_bucket_name_through_boto3(self):
        for name in ("UpperCase", "ab", "192.168.5.4", "my..bucket", "-dash"):
            with self.subTest(name=name):
                self.assertRaisesS3(lambda: self.s3.create_bucket(Bucket=name), "InvalidBucketName", 400,
                                    s.MSG_INVALID_BUCKET_NAME, BucketName=name)

    def test_valid_edge_names(self):
        suffix = s.unique_bucket("x")[-8:]
        names = [
            "a" + suffix[:2],                     # 3 chars
            ("n" + suffix + "z" * 63)[:63],       # 63 chars
            "dots.and-dashes." + suffix,
            "1.2.3." + suffix,                    # digits and dots, not an IP
            "0" + suffix,                         # starts with a digit
        ]
        self.assertEqual(len(names[0]), 3)
        self.assertEqual(len(names[1]), 63)
        for name in names:
            with self.subTest(name=name):
                r = self.raw("PUT", "/" + name)
                self.assertStatus(r, 200)
                self.s3.head_bucket(Bucket=name)
                self.s3.put_object(Bucket=name, Key="k", Body=b"v")
                self.assertEqual(self.get_body(name, "k"), b"v")


def urllib_quote(name):
    import urllib.parse
    return urllib.parse.quote(name, safe="")


class HeadBucketTest(s.S3TestCase):

    def test_head_bucket(self):
        name = self.make_bucket("head")
        r = self.s3.head_bucket(Bucket=name)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 200)
        raw = self.raw("HEAD", "/" + name)
        self.assertStatus(raw, 200)
        self.assertEqual(raw.header("x-amz-bucket-region"), "us-east-1")
        self.assertEqual(raw.body, b"")

    def test_head_missing_bucket_is_404_without_body(self):
        name = s.unique_bucket("nohead")
        with self.assertRaises(ClientError) as cm:
            self.s3.head_bucket(Bucket=name)
        self.assertS3Error(cm.exception, "404", 404)
        raw = self.raw("HEAD", "/" + name)
        self.assertEqual(raw.status, 404)
        self.assertEqual(raw.body, b"")


class ListBucketsTest(s.S3TestCase):

    def test_list_buckets_owner_and_creation_date(self):
        t0 = s.now_utc().replace(microsecond=0) - datetime.timedelta(seconds=2)
        name = self.make_bucket("list")
        t1 = s.now_utc() + datetime.timedelta(seconds=2)
        r = self.s3.list_buckets()
        self.assertTrue(r["Owner"]["ID"], "Owner.ID must be present: %r" % r.get("Owner"))
        mine = [b for b in r["Buckets"] if b["Name"] == name]
        self.assertEqual(len(mine), 1, r["Buckets"])
        created = mine[0]["CreationDate"]
        self.assertIsNotNone(created.tzinfo)
        self.assertTrue(t0 - datetime.timedelta(seconds=60) <= created <= t1 + datetime.timedelta(seconds=60),
                        "CreationDate %s not near now (%s..%s)" % (created, t0, t1))
        names = [b["Name"] for b in r["Buckets"]]
        self.assertEqual(names, sorted(names), "ListBuckets is sorted by name")

    def test_list_buckets_xml_shape(self):
        name = self.make_bucket("xml")
        r = self.raw("GET", "/")
        self.assertStatus(r, 200)
        self.assertIn("xml", r.header("Content-Type") or "")
        root = s.parse_xml(r.body)
        self.assertEqual(root.tag, "{%s}ListAllMyBucketsResult" % s.S3NS)
        root = s.strip_ns(root)
        self.assertTrue(root.findtext("Owner/ID"))
        found = [b for b in root.findall("Buckets/Bucket") if b.findtext("Name") == name]
        self.assertEqual(len(found), 1)
        self.assertRegex(found[0].findtext("CreationDate"), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")

    def test_list_buckets_owner_is_stable(self):
        a = self.s3.list_buckets()["Owner"]["ID"]
        b = self.s3v4.list_buckets()["Owner"]["ID"]
        self.assertEqual(a, b)

    def test_list_buckets_sigv4_unsigned_payload(self):
        r = self.raw("GET", "/", payload_hash="UNSIGNED-PAYLOAD")
        self.assertStatus(r, 200)


class DeleteBucketTest(s.S3TestCase):

    def test_delete_empty_bucket(self):
        name = self.make_bucket("del")
        r = self.s3.delete_bucket(Bucket=name)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 204)
        self.assertNotIn(name, [b["Name"] for b in self.s3.list_buckets()["Buckets"]])
        self.assertEqual(self.raw("HEAD", "/" + name).status, 404)

    def test_delete_non_empty_bucket(self):
        name = self.make_bucket("full")
        self.s3.put_object(Bucket=name, Key="a/b", Body=b"x")
        self.assertRaisesS3(lambda: self.s3.delete_bucket(Bucket=name), "BucketNotEmpty", 409,
                            s.MSG_BUCKET_NOT_EMPTY, BucketName=name)
        self.assertEqual(self.get_body(name, "a/b"), b"x")
        self.s3.delete_object(Bucket=name, Key="a/b")
        self.s3.delete_bucket(Bucket=name)

    def test_delete_missing_bucket(self):
        name = s.unique_bucket("gone")
        self.assertRaisesS3(lambda: self.s3.delete_bucket(Bucket=name), "NoSuchBucket", 404,
                            s.MSG_NO_SUCH_BUCKET, BucketName=name)
        r = self.raw("DELETE", "/" + name)
        self.assertS3Error(r, "NoSuchBucket", 404, s.MSG_NO_SUCH_BUCKET, BucketName=name)

    def test_recreate_after_delete_is_empty(self):
        name = self.make_bucket("reuse")
        self.s3.put_object(Bucket=name, Key="k", Body=b"1")
        self.s3.delete_object(Bucket=name, Key="k")
        self.s3.delete_bucket(Bucket=name)
        self.s3.create_bucket(Bucket=name)
        self.assertEqual(self.s3.list_objects_v2(Bucket=name)["KeyCount"], 0)
        self.assertRaisesS3(lambda: self.s3.get_object(Bucket=name, Key="k"), "NoSuchKey", 404)

    def test_operations_on_missing_bucket(self):
        name = s.unique_bucket("missing")
        ops = {
            "PutObject": lambda: self.s3.put_object(Bucket=name, Key="k", Body=b"x"),
            "GetObject": lambda: self.s3.get_object(Bucket=name, Key="k"),
            "ListObjectsV2": lambda: self.s3.list_objects_v2(Bucket=name),
            "ListObjects": lambda: self.s3.list_objects(Bucket=name),
            "DeleteObject": lambda: self.s3.delete_object(Bucket=name, Key="k"),
            "GetBucketLocation": lambda: self.s3.get_bucket_location(Bucket=name),
        }
        for op, fn in ops.items():
            with self.subTest(op=op):
                self.assertRaisesS3(fn, "NoSuchBucket", 404, s.MSG_NO_SUCH_BUCKET, BucketName=name)
        self.assertEqual(self.raw("HEAD", "/" + name).status, 404, "PutObject must not create the bucket")


class BucketLocationTest(s.S3TestCase):

    def test_get_bucket_location_us_east_1(self):
        name = self.make_bucket("where")
        r = self.s3.get_bucket_location(Bucket=name)
        self.assertIsNone(r.get("LocationConstraint"))
        raw = self.raw("GET", obj_path(name, query=[("location", None)]))
        self.assertStatus(raw, 200)
        root = s.parse_xml(raw.body)
        self.assertEqual(root.tag, "{%s}LocationConstraint" % s.S3NS)
        self.assertFalse((root.text or "").strip())


if __name__ == "__main__":
    unittest.main()
