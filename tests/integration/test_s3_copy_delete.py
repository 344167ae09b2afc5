"""S3 CopyObject and DeleteObjects.

AWS facts asserted here (API reference CopyObject/DeleteObjects and recorded
responses):
* x-amz-metadata-directive COPY (default) keeps the source's metadata and
  ignores metadata in the request; REPLACE takes the request's.
* Copying an object onto itself without changing anything -> 400
  InvalidRequest "This copy request is illegal because it is trying to copy
  an object to itself without changing the object's metadata, storage class,
  website redirect location or encryption attributes."
* A missing source key -> 404 NoSuchKey; a missing source bucket -> 404
  NoSuchBucket.
* x-amz-copy-source-if-match failing -> 412 PreconditionFailed with
  Condition "x-amz-copy-source-If-Match".
* DeleteObjects reports keys that did not exist as Deleted; Quiet mode lists
  only errors; more than 1000 keys or bad XML -> 400 MalformedXML; the body
  must carry Content-MD5 or an x-amz-checksum-* header.
"""

import datetime
import time
import unittest

import s3_harness as s
from s3_harness import obj_path

COPY_SELF_MSG = ("This copy request is illegal because it is trying to copy an object to itself without "
                 "changing the object's metadata, storage class, website redirect location or encryption "
                 "attributes.")


def setUpModule():
    s.start(__name__)


def tearDownModule():
    s.stop(__name__)


class CopyObjectTest(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("copy")
        cls.data = b"source bytes " * 100
        cls.s3.put_object(Bucket=cls.bucket, Key="src", Body=cls.data, ContentType="text/plain",
                          Metadata={"origin": "source", "n": "1"}, CacheControl="no-store")

    def test_copy_default_directive_keeps_metadata(self):
        r = self.s3.copy_object(Bucket=self.bucket, Key="dst-copy", CopySource={"Bucket": self.bucket, "Key": "src"})
        self.assertEqual(r["CopyObjectResult"]["ETag"], s.etag_of(self.data))
        self.assertIn("LastModified", r["CopyObjectResult"])
        g = self.s3.get_object(Bucket=self.bucket, Key="dst-copy")
        self.assertEqual(g["Body"].read(), self.data)
        self.assertEqual(g["Metadata"], {"origin": "source", "n": "1"})
        self.assertEqual(g["ContentType"], "text/plain")
        self.assertEqual(g["CacheControl"], "no-store")

    def test_copy_with_checksum_algorithm_computes_it(self):
        """x-amz-checksum-algorithm on CopyObject: the copy gets a new checksum
        of that kind over its bytes, named in CopyObjectResult and HEAD."""
        import base64
        import hashlib
        want = base64.b64encode(hashlib.sha256(self.data).digest()).decode()
        r = self.s3.copy_object(Bucket=self.bucket, Key="dst-sum", ChecksumAlgorithm="SHA256",
                                CopySource={"Bucket": self.bucket, "Key": "src"})
        self.assertEqual(r["CopyObjectResult"].get("ChecksumSHA256"), want)
        hd = self.s3.head_object(Bucket=self.bucket, Key="dst-sum", ChecksumMode="ENABLED")
        self.assertEqual(hd.get("ChecksumSHA256"), want)
        r = self.s3.copy_object(Bucket=self.bucket, Key="dst-sum32", ChecksumAlgorithm="CRC32",
                                CopySource={"Bucket": self.bucket, "Key": "src"})
        self.assertEqual(r["CopyObjectResult"].get("ChecksumCRC32"), s.crc32_b64(self.data))
        bad = self.raw("PUT", obj_path(self.bucket, "dst-badsum"),
                       headers={"x-amz-copy-source": "/%s/src" % self.bucket,
                                "x-amz-checksum-algorithm": "MD5"})
        self.assertS3Error(bad, "InvalidRequest", 400, "Value for x-amz-checksum-algorithm header is invalid.")
        self.assertNoObject(self.bucket, "dst-badsum")

    def test_copy_directive_copy_ignores_request_metadata(self):
        self.s3.copy_object(Bucket=self.bucket, Key="dst-ignore", CopySource={"Bucket": self.bucket, "Key": "src"},
                            Metadata={"new": "value"}, MetadataDirective="COPY", ContentType="image/png")
        hd = self.s3.head_object(Bucket=self.bucket, Key="dst-ignore")
        self.assertEqual(hd["Metadata"], {"origin": "source", "n": "1"})
        self.assertEqual(hd["ContentType"], "text/plain")

    def test_copy_directive_replace(self):
        self.s3.copy_object(Bucket=self.bucket, Key="dst-replace", CopySource={"Bucket": self.bucket, "Key": "src"},
                            Metadata={"new": "value"}, MetadataDirective="REPLACE", ContentType="image/png")
        g = self.s3.get_object(Bucket=self.bucket, Key="dst-replace")
        self.assertEqual(g["Body"].read(), self.data)
        self.assertEqual(g["Metadata"], {"new": "value"})
        self.assertEqual(g["ContentType"], "image/png")
        self.assertIsNone(g.get("CacheControl"), "REPLACE drops the source's Cache-Control")

    def test_copy_xml_response(self):
        r = self.raw("PUT", obj_path(self.bucket, "dst-raw"), headers={"x-amz-copy-source": "/%s/src" % self.bucket})
        self.assertStatus(r, 200)
        root = s.parse_xml(r.body)
        self.assertEqual(root.tag, "{%s}CopyObjectResult" % s.S3NS)
        root = s.strip_ns(root)
        self.assertEqual(root.findtext("ETag"), s.etag_of(self.data))
        self.assertRegex(root.findtext("LastModified"), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

    def test_copy_source_without_leading_slash_and_encoded(self):
        self.s3.put_object(Bucket=self.bucket, Key="sp ace/ü+?", Body=b"odd source")
        r = self.raw("PUT", obj_path(self.bucket, "dst-enc"),
                     headers={"x-amz-copy-source": "%s/%s" % (self.bucket, s.quote_key("sp ace/ü+?"))})
        self.assertStatus(r, 200)
        self.assertEqual(self.get_body(self.bucket, "dst-enc"), b"odd source")

    def test_copy_across_buckets(self):
        other = self.make_bucket("copy2")
        self.s3.copy_object(Bucket=other, Key="x/y", CopySource={"Bucket": self.bucket, "Key": "src"})
        self.assertEqual(self.get_body(other, "x/y"), self.data)
        self.assertEqual(self.get_body(self.bucket, "src"), self.data, "the source is unchanged")

    def test_copy_onto_itself_requires_replace(self):
        self.s3.put_object(Bucket=self.bucket, Key="self", Body=b"me", Metadata={"v": "1"})
        self.assertRaisesS3(lambda: self.s3.copy_object(Bucket=self.bucket, Key="self",
                                                        CopySource={"Bucket": self.bucket, "Key": "self"}),
                            "InvalidRequest", 400, COPY_SELF_MSG)
        self.assertRaisesS3(lambda: self.s3.copy_object(Bucket=self.bucket, Key="self",
                                                        CopySource={"Bucket": self.bucket, "Key": "self"},
                                                        MetadataDirective="COPY"),
                            "InvalidRequest", 400, COPY_SELF_MSG)
        before = self.s3.head_object(Bucket=self.bucket, Key="self")["LastModified"]
        time.sleep(1.1)
        self.s3.copy_object(Bucket=self.bucket, Key="self", CopySource={"Bucket": self.bucket, "Key": "self"},
                            MetadataDirective="REPLACE", Metadata={"v": "2"})
        hd = self.s3.head_object(Bucket=self.bucket, Key="self")
        self.assertEqual(hd["Metadata"], {"v": "2"})
        self.assertGreater(hd["LastModified"], before)
        self.assertEqual(self.get_body(self.bucket, "self"), b"me")

    def test_copy_missing_source_key(self):
        self.assertRaisesS3(lambda: self.s3.copy_object(Bucket=self.bucket, Key="dst-none",
                                                        CopySource={"Bucket": self.bucket, "Key": "no-such"}),
                            "NoSuchKey", 404, s.MSG_NO_SUCH_KEY)
        self.assertNoObject(self.bucket, "dst-none")

    def test_copy_missing_source_bucket(self):
        self.assertRaisesS3(lambda: self.s3.copy_object(Bucket=self.bucket, Key="dst-nob",
                                                        CopySource={"Bucket": s.unique_bucket("nob"), "Key": "k"}),
                            "NoSuchBucket", 404, s.MSG_NO_SUCH_BUCKET)

    def test_copy_to_missing_bucket(self):
        self.assertRaisesS3(lambda: self.s3.copy_object(Bucket=s.unique_bucket("nodst"), Key="k",
                                                        CopySource={"Bucket": self.bucket, "Key": "src"}),
                            "NoSuchBucket", 404, s.MSG_NO_SUCH_BUCKET)

    def test_copy_source_if_match(self):
        self.assertRaisesS3(lambda: self.s3.copy_object(Bucket=self.bucket, Key="dst-cond",
                                                        CopySource={"Bucket": self.bucket, "Key": "src"},
                                                        CopySourceIfMatch='"0000"'),
                            "PreconditionFailed", 412, s.MSG_PRECONDITION, Condition="x-amz-copy-source-If-Match")
        self.s3.copy_object(Bucket=self.bucket, Key="dst-cond", CopySource={"Bucket": self.bucket, "Key": "src"},
                            CopySourceIfMatch=s.etag_of(self.data))
        self.assertEqual(self.get_body(self.bucket, "dst-cond"), self.data)

    def test_copy_source_if_unmodified_since(self):
        past = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
        self.assertRaisesS3(lambda: self.s3.copy_object(Bucket=self.bucket, Key="dst-cond2",
                                                        CopySource={"Bucket": self.bucket, "Key": "src"},
                                                        CopySourceIfUnmodifiedSince=past),
                            "PreconditionFailed", 412, s.MSG_PRECONDITION,
                            Condition="x-amz-copy-source-If-Unmodified-Since")

    def test_copy_large_object(self):
        import os
        data = os.urandom(6 * 1024 * 1024 + 5)
        self.s3.put_object(Bucket=self.bucket, Key="big-src", Body=data)
        r = self.s3.copy_object(Bucket=self.bucket, Key="big-dst", CopySource={"Bucket": self.bucket, "Key": "big-src"})
        self.assertEqual(r["CopyObjectResult"]["ETag"], s.etag_of(data))
        self.assertEqual(self.get_body(self.bucket, "big-dst"), data)

    def test_overwrite_source_after_copy_does_not_change_copy(self):
        self.s3.put_object(Bucket=self.bucket, Key="snap-src", Body=b"v1")
        self.s3.copy_object(Bucket=self.bucket, Key="snap-dst", CopySource={"Bucket": self.bucket, "Key": "snap-src"})
        self.s3.put_object(Bucket=self.bucket, Key="snap-src", Body=b"v2")
        self.s3.delete_object(Bucket=self.bucket, Key="snap-src")
        self.assertEqual(self.get_body(self.bucket, "snap-dst"), b"v1")


class DeleteObjectsTest(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("multidel")

    def fill(self, keys):
        for k in keys:
            self.s3.put_object(Bucket=self.bucket, Key=k, Body=k.encode())

    def remaining(self):
        return [o["Key"] for o in self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])]

    def test_verbose_reports_missing_keys_as_deleted(self):
        keys = ["v/1", "v/2", "v/3"]
        self.fill(keys)
        r = self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys + ["v/missing", "v/gone"]]})
        self.assertEqual(sorted(d["Key"] for d in r["Deleted"]), sorted(keys + ["v/missing", "v/gone"]))
        self.assertEqual(r.get("Errors", []), [])
        self.assertEqual([k for k in self.remaining() if k.startswith("v/")], [])

    def test_quiet_lists_nothing(self):
        keys = ["q/1", "q/2"]
        self.fill(keys)
        r = self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
        self.assertEqual(r.get("Deleted", []), [])
        self.assertEqual(r.get("Errors", []), [])
        self.assertEqual([k for k in self.remaining() if k.startswith("q/")], [])

    def test_odd_keys(self):
        keys = ["o/a&b", "o/<tag>", "o/sp ace", "o/ü", "o/quote\"'", "o/tab\t"]
        self.fill(keys)
        r = self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys]})
        self.assertEqual(sorted(d["Key"] for d in r["Deleted"]), sorted(keys))
        self.assertEqual([k for k in self.remaining() if k.startswith("o/")], [])

    def test_raw_xml(self):
        self.fill(["r/1"])
        body = ('<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>r/1</Key></Object>'
                '<Object><Key>r/none</Key></Object></Delete>').encode()
        r = self.raw("POST", obj_path(self.bucket, query=[("delete", None)]), body=body,
                     headers={"Content-MD5": s.md5_b64(body), "Content-Type": "application/xml"})
        self.assertStatus(r, 200)
        root = s.parse_xml(r.body)
        self.assertEqual(root.tag, "{%s}DeleteResult" % s.S3NS)
        root = s.strip_ns(root)
        self.assertEqual(sorted(d.findtext("Key") for d in root.findall("Deleted")), ["r/1", "r/none"])

    def test_checksum_instead_of_md5(self):
        self.fill(["c/1"])
        body = b"<Delete><Object><Key>c/1</Key></Object></Delete>"
        r = self.raw("POST", obj_path(self.bucket, query=[("delete", None)]), body=body,
                     headers={"x-amz-checksum-crc32": s.crc32_b64(body), "x-amz-sdk-checksum-algorithm": "CRC32"})
        self.assertStatus(r, 200)
        self.assertNotIn("c/1", self.remaining())

    def test_missing_content_md5(self):
        self.fill(["m/1"])
        body = b"<Delete><Object><Key>m/1</Key></Object></Delete>"
        r = self.raw("POST", obj_path(self.bucket, query=[("delete", None)]), body=body)
        self.assertS3Error(r, "InvalidRequest", 400)
        self.assertIn("m/1", self.remaining())

    def test_wrong_content_md5(self):
        self.fill(["w/1"])
        body = b"<Delete><Object><Key>w/1</Key></Object></Delete>"
        r = self.raw("POST", obj_path(self.bucket, query=[("delete", None)]), body=body,
                     headers={"Content-MD5": s.md5_b64(b"other")})
        self.assertS3Error(r, "BadDigest", 400, s.MSG_BAD_DIGEST_MD5)
        self.assertIn("w/1", self.remaining())

    def test_malformed_xml(self):
        body = b"<Delete><Object><Key>unclosed"
        r = self.raw("POST", obj_path(self.bucket, query=[("delete", None)]), body=body,
                     headers={"Content-MD5": s.md5_b64(body)})
        self.assertS3Error(r, "MalformedXML", 400, s.MSG_MALFORMED_XML)

    def test_more_than_1000_keys(self):
        objs = [{"Key": "many/%d" % i} for i in range(1001)]
        self.assertRaisesS3(lambda: self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": objs}),
                            "MalformedXML", 400, s.MSG_MALFORMED_XML)

    def test_exactly_1000_keys(self):
        objs = [{"Key": "thousand/%d" % i} for i in range(1000)]
        self.s3.put_object(Bucket=self.bucket, Key="thousand/7", Body=b"x")
        r = self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": objs, "Quiet": True})
        self.assertEqual(r.get("Errors", []), [])
        self.assertNotIn("thousand/7", self.remaining())

    def test_missing_bucket(self):
        self.assertRaisesS3(lambda: self.s3.delete_objects(Bucket=s.unique_bucket("nodel"),
                                                           Delete={"Objects": [{"Key": "k"}]}),
                            "NoSuchBucket", 404, s.MSG_NO_SUCH_BUCKET)


if __name__ == "__main__":
    unittest.main()


class CopyOffHttpThreadTest(unittest.TestCase):
    """A long copy runs on a copy thread while its request waits parked: with
    a single HTTP thread, other requests are still answered meanwhile."""

    MB = int(__import__("os").environ.get("TWEEDLE_COPY_TEST_MB", "512"))

    @classmethod
    def setUpClass(cls):
        import harness
        cls.server = harness.Server(extra_args=["--threads", "1"])
        cls.server.start()
        cls.s3 = s.s3_client(cls.server, read_timeout=60)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.server.cleanup()

    def health_seconds(self):
        import http.client
        t0 = time.monotonic()
        c = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            c.request("GET", "/_/health")
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
        finally:
            c.close()
        return time.monotonic() - t0

    def test_health_answers_during_long_copy(self):
        import threading
        b = "copylong"
        self.s3.create_bucket(Bucket=b)
        seed = 128
        self.s3.put_object(Bucket=b, Key="seed", Body=b"\x5a" * (seed << 20))
        # a big multipart object made server-side: CopyObject remakes its ETag
        # and its COMPOSITE SHA256 over the bytes, so copying it takes a while
        up = self.s3.create_multipart_upload(Bucket=b, Key="big",
                                             ChecksumAlgorithm="SHA256")["UploadId"]
        parts = []
        for n in range(1, self.MB // seed + 1):
            r = self.s3.upload_part_copy(Bucket=b, Key="big", UploadId=up, PartNumber=n,
                                         CopySource={"Bucket": b, "Key": "seed"})
            parts.append({"PartNumber": n, "ETag": r["CopyPartResult"]["ETag"],
                          "ChecksumSHA256": r["CopyPartResult"]["ChecksumSHA256"]})
        self.s3.complete_multipart_upload(Bucket=b, Key="big", UploadId=up,
                                          MultipartUpload={"Parts": parts})
        result = {}

        def copy():
            t0 = time.monotonic()
            result["r"] = self.s3.copy_object(Bucket=b, Key="copy",
                                              CopySource={"Bucket": b, "Key": "big"})
            result["secs"] = time.monotonic() - t0

        t = threading.Thread(target=copy, daemon=True)
        t.start()
        time.sleep(0.15)  # the copy is under way
        worst = 0.0
        checks = 0
        while t.is_alive() and checks < 20:
            worst = max(worst, self.health_seconds())
            checks += 1
            time.sleep(0.05)
        t.join(60)
        self.assertIn("r", result)
        self.assertGreater(checks, 0, "the copy finished too fast to test (%.2fs)" % result["secs"])
        self.assertLess(worst, 0.5, "GET /_/health took %.2fs during a %.2fs copy" %
                        (worst, result["secs"]))
        head = self.s3.head_object(Bucket=b, Key="copy")
        self.assertEqual(head["ContentLength"], self.MB << 20)
        self.assertRegex(head["ETag"], r'^"[0-9a-f]{32}"$')  # remade: one piece now
        print("copy %d MiB: %.2fs, %d health checks, slowest %.3fs" %
              (self.MB, result["secs"], checks, worst))
