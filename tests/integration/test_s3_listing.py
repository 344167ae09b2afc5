"""S3 listing: ListObjectsV2 and ListObjects (v1).

AWS facts asserted here (API reference ListObjectsV2/ListObjects and
responses recorded against S3):
* Keys come back in UTF-8 binary order; at most 1000 per page by default.
* KeyCount counts keys plus CommonPrefixes.
* delimiter rolls keys up into CommonPrefixes; paging with a delimiter never
  repeats a common prefix.
* NextContinuationToken only when IsTruncated; start-after skips keys <= it.
* encoding-type=url encodes Key, Prefix, Delimiter, StartAfter (and
  CommonPrefixes/Prefix) and echoes <EncodingType>url</EncodingType>; botocore
  always asks for it and decodes with unquote_plus.
* ListObjectsV2 lists Owner only with fetch-owner=true; v1 always lists it.
* v1: NextMarker only when a delimiter was given and the result is truncated.
* An unparsable continuation token -> 400 InvalidArgument.
"""

import threading
import unittest
import urllib.parse

import s3_harness as s
from s3_harness import obj_path


def setUpModule():
    s.start(__name__)


def tearDownModule():
    s.stop(__name__)


TREE = ["a/1", "a/2", "a/b/3", "a/b/4", "b/1", "c", "d/e/f", "sp ace/x", "z"]
MANY = 2500


def put_many(client, bucket, keys, threads=16):
    errors = []
    it = iter(keys)
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                try:
                    k = next(it)
                except StopIteration:
                    return
            try:
                client.put_object(Bucket=bucket, Key=k, Body=k.encode())
            except Exception as e:  # noqa: BLE001
                errors.append((k, repr(e)))
                return

    ts = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    if errors:
        raise AssertionError("PUTs failed: %r" % errors[:5])


class ListTestBase(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tree = cls.class_bucket("tree")
        for k in TREE:
            cls.s3.put_object(Bucket=cls.tree, Key=k, Body=k.encode())


class ListObjectsV2Test(ListTestBase):

    def test_basic(self):
        r = self.s3.list_objects_v2(Bucket=self.tree)
        self.assertEqual([o["Key"] for o in r["Contents"]], TREE)
        self.assertEqual(r["KeyCount"], len(TREE))
        self.assertFalse(r["IsTruncated"])
        self.assertEqual(r["MaxKeys"], 1000)
        self.assertEqual(r["Name"], self.tree)
        self.assertNotIn("NextContinuationToken", r)
        for o in r["Contents"]:
            self.assertEqual(o["Size"], len(o["Key"].encode()))
            self.assertEqual(o["ETag"], s.etag_of(o["Key"].encode()))
            self.assertEqual(o["StorageClass"], "STANDARD")
            self.assertIn("LastModified", o)
            self.assertNotIn("Owner", o, "Owner only with FetchOwner")

    def test_xml_shape(self):
        r = self.raw("GET", obj_path(self.tree, query=[("list-type", "2"), ("prefix", "a/")]))
        self.assertStatus(r, 200)
        root = s.parse_xml(r.body)
        self.assertEqual(root.tag, "{%s}ListBucketResult" % s.S3NS)
        root = s.strip_ns(root)
        self.assertEqual(root.findtext("Name"), self.tree)
        self.assertEqual(root.findtext("Prefix"), "a/")
        self.assertEqual(root.findtext("KeyCount"), "4")
        self.assertEqual(root.findtext("MaxKeys"), "1000")
        self.assertEqual(root.findtext("IsTruncated"), "false")
        self.assertIsNone(root.find("EncodingType"))
        first = root.find("Contents")
        self.assertEqual(first.findtext("Key"), "a/1")
        self.assertEqual(first.findtext("ETag"), s.etag_of(b"a/1"))
        self.assertEqual(first.findtext("Size"), "3")
        self.assertEqual(first.findtext("StorageClass"), "STANDARD")
        self.assertRegex(first.findtext("LastModified"), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

    def test_prefix(self):
        r = self.s3.list_objects_v2(Bucket=self.tree, Prefix="a/b")
        self.assertEqual([o["Key"] for o in r["Contents"]], ["a/b/3", "a/b/4"])
        self.assertEqual(r["Prefix"], "a/b")
        r = self.s3.list_objects_v2(Bucket=self.tree, Prefix="nothing-here")
        self.assertEqual(r["KeyCount"], 0)
        self.assertNotIn("Contents", r)

    def test_delimiter(self):
        r = self.s3.list_objects_v2(Bucket=self.tree, Delimiter="/")
        self.assertEqual([o["Key"] for o in r.get("Contents", [])], ["c", "z"])
        self.assertEqual([p["Prefix"] for p in r["CommonPrefixes"]], ["a/", "b/", "d/", "sp ace/"])
        self.assertEqual(r["KeyCount"], 6)
        self.assertEqual(r["Delimiter"], "/")

    def test_prefix_and_delimiter(self):
        r = self.s3.list_objects_v2(Bucket=self.tree, Prefix="a/", Delimiter="/")
        self.assertEqual([o["Key"] for o in r["Contents"]], ["a/1", "a/2"])
        self.assertEqual([p["Prefix"] for p in r["CommonPrefixes"]], ["a/b/"])
        self.assertEqual(r["KeyCount"], 3)
        r = self.s3.list_objects_v2(Bucket=self.tree, Prefix="a", Delimiter="/")
        self.assertNotIn("Contents", r)
        self.assertEqual([p["Prefix"] for p in r["CommonPrefixes"]], ["a/"])

    def test_other_delimiter(self):
        r = self.s3.list_objects_v2(Bucket=self.tree, Delimiter="b")
        self.assertEqual([p["Prefix"] for p in r["CommonPrefixes"]], ["a/b", "b"])
        self.assertEqual([o["Key"] for o in r["Contents"]], ["a/1", "a/2", "c", "d/e/f", "sp ace/x", "z"])

    def test_max_keys_and_continuation(self):
        seen = []
        token = None
        pages = 0
        while True:
            kw = {"Bucket": self.tree, "MaxKeys": 2}
            if token:
                kw["ContinuationToken"] = token
            r = self.s3.list_objects_v2(**kw)
            pages += 1
            self.assertEqual(r["MaxKeys"], 2)
            self.assertLessEqual(r["KeyCount"], 2)
            seen.extend(o["Key"] for o in r.get("Contents", []))
            if token:
                self.assertEqual(r.get("ContinuationToken"), token)
            if not r["IsTruncated"]:
                self.assertNotIn("NextContinuationToken", r)
                break
            token = r["NextContinuationToken"]
            self.assertTrue(token)
            self.assertLess(pages, 20)
        self.assertEqual(seen, TREE)
        self.assertEqual(pages, 5)

    def test_delimiter_paging_never_repeats_prefixes(self):
        entries = []
        token = None
        for _ in range(20):
            kw = {"Bucket": self.tree, "MaxKeys": 1, "Delimiter": "/"}
            if token:
                kw["ContinuationToken"] = token
            r = self.s3.list_objects_v2(**kw)
            self.assertEqual(r["KeyCount"], 1, r)
            entries.extend(o["Key"] for o in r.get("Contents", []))
            entries.extend(p["Prefix"] for p in r.get("CommonPrefixes", []))
            if not r["IsTruncated"]:
                break
            token = r["NextContinuationToken"]
        self.assertEqual(entries, ["a/", "b/", "c", "d/", "sp ace/", "z"])

    def test_start_after(self):
        r = self.s3.list_objects_v2(Bucket=self.tree, StartAfter="a/b/3")
        self.assertEqual([o["Key"] for o in r["Contents"]], TREE[3:])
        self.assertEqual(r["StartAfter"], "a/b/3")
        r = self.s3.list_objects_v2(Bucket=self.tree, StartAfter="zzz")
        self.assertEqual(r["KeyCount"], 0)
        r = self.s3.list_objects_v2(Bucket=self.tree, StartAfter="b")
        self.assertEqual([o["Key"] for o in r["Contents"]], TREE[4:])

    def test_fetch_owner(self):
        r = self.s3.list_objects_v2(Bucket=self.tree, FetchOwner=True, MaxKeys=3)
        for o in r["Contents"]:
            self.assertTrue(o["Owner"]["ID"])
        owner = self.s3.list_buckets()["Owner"]["ID"]
        self.assertEqual(r["Contents"][0]["Owner"]["ID"], owner)

    def test_invalid_continuation_token(self):
        r = self.raw("GET", obj_path(self.tree, query=[("list-type", "2"), ("continuation-token", "not-a-token!!")]))
        self.assertS3Error(r, "InvalidArgument", 400, "The continuation token provided is incorrect")

    def test_invalid_max_keys(self):
        for v in ("-1", "abc"):
            with self.subTest(max_keys=v):
                r = self.raw("GET", obj_path(self.tree, query=[("list-type", "2"), ("max-keys", v)]))
                self.assertS3Error(r, "InvalidArgument", 400)

    def test_missing_bucket(self):
        self.assertRaisesS3(lambda: self.s3.list_objects_v2(Bucket=s.unique_bucket("nolist")),
                            "NoSuchBucket", 404, s.MSG_NO_SUCH_BUCKET)


class PagingManyTest(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("many")
        cls.keys = ["k-%05d" % i for i in range(MANY)]
        put_many(cls.s3, cls.bucket, cls.keys)

    def test_continuation_through_2500_keys(self):
        sizes = []
        seen = []
        token = None
        for _ in range(10):
            kw = {"Bucket": self.bucket}
            if token:
                kw["ContinuationToken"] = token
            r = self.s3.list_objects_v2(**kw)
            sizes.append(r["KeyCount"])
            seen.extend(o["Key"] for o in r["Contents"])
            if not r["IsTruncated"]:
                break
            token = r["NextContinuationToken"]
        self.assertEqual(sizes, [1000, 1000, 500])
        self.assertEqual(seen, self.keys)

    def test_paginator(self):
        seen = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                      PaginationConfig={"PageSize": 700}):
            seen.extend(o["Key"] for o in page["Contents"])
        self.assertEqual(seen, self.keys)

    def test_max_keys_above_1000_is_capped(self):
        r = self.s3.list_objects_v2(Bucket=self.bucket, MaxKeys=5000)
        self.assertEqual(r["KeyCount"], 1000)
        self.assertTrue(r["IsTruncated"])

    def test_start_after_middle(self):
        r = self.s3.list_objects_v2(Bucket=self.bucket, StartAfter="k-01999", MaxKeys=10)
        self.assertEqual([o["Key"] for o in r["Contents"]], self.keys[2000:2010])

    def test_v1_marker_paging(self):
        seen = []
        marker = ""
        for _ in range(10):
            r = self.s3.list_objects(Bucket=self.bucket, Marker=marker)
            keys = [o["Key"] for o in r["Contents"]]
            seen.extend(keys)
            self.assertEqual(r.get("Marker", ""), marker)
            self.assertNotIn("NextMarker", r, "NextMarker only with a delimiter")
            if not r["IsTruncated"]:
                break
            marker = keys[-1]
        self.assertEqual(seen, self.keys)

    def test_v1_paginator(self):
        seen = []
        for page in self.s3.get_paginator("list_objects").paginate(Bucket=self.bucket,
                                                                   PaginationConfig={"PageSize": 900}):
            seen.extend(o["Key"] for o in page["Contents"])
        self.assertEqual(seen, self.keys)


ODD_KEYS = ["sp ace", "plus+sign", "ünï/cødé", "ctl\x01char", "amp&lt<gt>", "pct%41%", "new\nline",
            "slash/inner", "tab\there", "quote\"'", "emoji😀"]


class EncodingTest(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("enc")
        for k in ODD_KEYS:
            cls.s3.put_object(Bucket=cls.bucket, Key=k, Body=b"x")

    def test_boto3_roundtrips_odd_keys(self):
        r = self.s3.list_objects_v2(Bucket=self.bucket)
        self.assertEqual([o["Key"] for o in r["Contents"]], sorted(ODD_KEYS, key=lambda k: k.encode()))
        self.assertEqual(r.get("EncodingType"), "url")
        r1 = self.s3.list_objects(Bucket=self.bucket)
        self.assertEqual([o["Key"] for o in r1["Contents"]], sorted(ODD_KEYS, key=lambda k: k.encode()))

    def check_encoded(self, text, original):
        self.assertEqual(urllib.parse.unquote_plus(text), original, "encoded %r" % text)
        for ch in text:
            self.assertTrue(ch.isascii() and ch.isprintable() and ch not in " &<>\"'",
                            "character %r left unencoded in %r" % (ch, text))

    def test_raw_encoding_type_url_v2(self):
        r = self.raw("GET", obj_path(self.bucket, query=[("list-type", "2"), ("encoding-type", "url"),
                                                         ("prefix", "")]))
        self.assertStatus(r, 200)
        root = s.strip_ns(s.parse_xml(r.body))
        self.assertEqual(root.findtext("EncodingType"), "url")
        texts = [c.findtext("Key") for c in root.findall("Contents")]
        self.assertEqual(len(texts), len(ODD_KEYS))
        for text, key in zip(texts, sorted(ODD_KEYS, key=lambda k: k.encode())):
            with self.subTest(key=key):
                self.check_encoded(text, key)

    def test_raw_encoding_type_url_prefix_delimiter_start_after(self):
        r = self.raw("GET", obj_path(self.bucket, query=[("list-type", "2"), ("encoding-type", "url"),
                                                         ("prefix", "ünï/"), ("delimiter", "/"),
                                                         ("start-after", "ünï/a b")]))
        self.assertStatus(r, 200)
        root = s.strip_ns(s.parse_xml(r.body))
        self.check_encoded(root.findtext("Prefix"), "ünï/")
        self.check_encoded(root.findtext("StartAfter"), "ünï/a b")
        self.assertEqual(root.findtext("Delimiter"), "/")
        self.check_encoded(root.find("Contents").findtext("Key"), "ünï/cødé")

    def test_raw_encoded_common_prefixes(self):
        r = self.raw("GET", obj_path(self.bucket, query=[("list-type", "2"), ("encoding-type", "url"),
                                                         ("delimiter", "/")]))
        root = s.strip_ns(s.parse_xml(r.body))
        prefixes = [p.findtext("Prefix") for p in root.findall("CommonPrefixes")]
        self.assertEqual(len(prefixes), 2, r.body[:1000])
        self.check_encoded(prefixes[0], "slash/")
        self.check_encoded(prefixes[1], "ünï/")

    def test_raw_without_encoding_escapes_xml(self):
        b = self.make_bucket("xmlesc")
        keys = ["a&b", "c<d>e", "quote\"'", "ü space"]
        for k in keys:
            self.s3.put_object(Bucket=b, Key=k, Body=b"x")
        r = self.raw("GET", obj_path(b, query=[("list-type", "2")]))
        self.assertStatus(r, 200)
        root = s.strip_ns(s.parse_xml(r.body))
        self.assertEqual([c.findtext("Key") for c in root.findall("Contents")], sorted(keys, key=lambda k: k.encode()))

    def test_invalid_encoding_type(self):
        r = self.raw("GET", obj_path(self.bucket, query=[("list-type", "2"), ("encoding-type", "base64")]))
        self.assertS3Error(r, "InvalidArgument", 400, "Invalid Encoding Method specified in Request",
                           ArgumentName="encoding-type", ArgumentValue="base64")

    def test_binary_order(self):
        b = self.make_bucket("order")
        keys = ["a", "B", "é", "z", "~", "A", "0", "ä", "Z", "_"]
        for k in keys:
            self.s3.put_object(Bucket=b, Key=k, Body=b"x")
        got = [o["Key"] for o in self.s3.list_objects_v2(Bucket=b)["Contents"]]
        self.assertEqual(got, sorted(keys, key=lambda k: k.encode("utf-8")))


class ListObjectsV1Test(ListTestBase):

    def test_basic_v1_with_owner(self):
        r = self.s3.list_objects(Bucket=self.tree)
        self.assertEqual([o["Key"] for o in r["Contents"]], TREE)
        self.assertFalse(r["IsTruncated"])
        for o in r["Contents"]:
            self.assertTrue(o.get("Owner", {}).get("ID"), "v1 lists the Owner: %r" % o)
        self.assertEqual(r.get("Marker", ""), "")

    def test_v1_xml_shape(self):
        r = self.raw("GET", obj_path(self.tree, query=[("max-keys", "2")]))
        self.assertStatus(r, 200)
        root = s.strip_ns(s.parse_xml(r.body))
        self.assertEqual(root.tag, "ListBucketResult")
        self.assertEqual(root.findtext("IsTruncated"), "true")
        self.assertEqual(root.findtext("MaxKeys"), "2")
        self.assertIsNotNone(root.find("Marker"))
        self.assertIsNone(root.find("NextMarker"))
        self.assertIsNone(root.find("KeyCount"))

    def test_v1_marker(self):
        r = self.s3.list_objects(Bucket=self.tree, Marker="b/1")
        self.assertEqual([o["Key"] for o in r["Contents"]], TREE[5:])
        self.assertEqual(r["Marker"], "b/1")

    def test_v1_next_marker_with_delimiter(self):
        r = self.s3.list_objects(Bucket=self.tree, Delimiter="/", MaxKeys=2)
        self.assertTrue(r["IsTruncated"])
        self.assertEqual([p["Prefix"] for p in r["CommonPrefixes"]], ["a/", "b/"])
        self.assertEqual(r["NextMarker"], "b/")
        r2 = self.s3.list_objects(Bucket=self.tree, Delimiter="/", MaxKeys=2, Marker=r["NextMarker"])
        self.assertEqual([o["Key"] for o in r2.get("Contents", [])], ["c"])
        self.assertEqual([p["Prefix"] for p in r2.get("CommonPrefixes", [])], ["d/"])
        self.assertEqual(r2["NextMarker"], "d/")

    def test_v1_no_next_marker_without_delimiter(self):
        r = self.s3.list_objects(Bucket=self.tree, MaxKeys=3)
        self.assertTrue(r["IsTruncated"])
        self.assertNotIn("NextMarker", r)

    def test_v1_paginator_with_delimiter(self):
        entries = []
        for page in self.s3.get_paginator("list_objects").paginate(Bucket=self.tree, Delimiter="/",
                                                                   PaginationConfig={"PageSize": 1}):
            entries.extend(o["Key"] for o in page.get("Contents", []))
            entries.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
            self.assertLess(len(entries), 50, "paginator loops: %r" % entries[:20])
        self.assertEqual(sorted(entries), ["a/", "b/", "c", "d/", "sp ace/", "z"])


if __name__ == "__main__":
    unittest.main()
