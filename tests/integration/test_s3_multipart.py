"""S3 multipart uploads, and boto3's managed transfers that use them
(upload_file above 8 MiB, download_file with parallel ranged GETs).

Not in the first implementation groups, but `aws s3 cp` and boto3
`upload_file` of anything above 8 MiB depend on it.

AWS facts asserted here (API reference CreateMultipartUpload, UploadPart,
CompleteMultipartUpload, AbortMultipartUpload, ListParts and the error table):
* The ETag of a completed upload is the hex MD5 of the concatenated binary
  part MD5s, then "-<number of parts>"; each UploadPart ETag is the part's MD5.
* The object does not exist until CompleteMultipartUpload.
* Every part but the last must be at least 5 MiB -> 400 EntityTooSmall
  "Your proposed upload is smaller than the minimum allowed size".
* A part missing or with a wrong ETag -> 400 InvalidPart "One or more of the
  specified parts could not be found.  The part may not have been uploaded,
  or the specified entity tag may not match the part's entity tag."
* Parts not in ascending order -> 400 InvalidPartOrder "The list of parts was
  not in ascending order. ..." (the second sentence differs between sources).
* Unknown or aborted upload -> 404 NoSuchUpload "The specified upload does
  not exist. The upload ID may be invalid, or the upload may have been
  aborted or completed."
* Part numbers are 1..10000 -> otherwise 400 InvalidArgument "Part number
  must be an integer between 1 and 10000, inclusive".

GET/HEAD ?partNumber=N (API_GetObject "Effectively performs a 'ranged' GET
request for the part specified"; recorded S3 responses quoted in
versity/versitygw#2074, ceph/ceph#66764, boto/boto3#3137; OpenStack swift's
s3api tests run against S3):
* A completed multipart object: 206, exactly that part's bytes, Content-Range
  "bytes a-b/size", x-amz-mp-parts-count, the object's ETag.  A GET without
  partNumber carries no x-amz-mp-parts-count.
* An object put in one piece is its own part 1: 206 with Content-Range over the
  whole object, no parts count.
* N past the last part -> 416 InvalidPartNumber "The requested partnumber is
  not satisfiable"; N outside 1..10000 -> 400 InvalidArgument; with a Range
  header -> 400 InvalidRequest "Cannot specify both Range header and
  partNumber query parameter".
* With x-amz-checksum-mode: ENABLED a part GET returns that part's checksum.
* CopyObject makes a new single-part object: plain MD5 ETag, one part.

Multipart checksums (user guide "Checking object integrity"; messages from
swift's s3api functional tests recorded against S3):
* CreateMultipartUpload x-amz-checksum-algorithm / x-amz-checksum-type:
  COMPOSITE by default for CRC32, CRC32C, SHA1, SHA256; FULL_OBJECT only for
  CRC64NVME; SHA* cannot be FULL_OBJECT; the type needs an algorithm.  The
  response echoes both; ListMultipartUploads and ListParts name them.
* UploadPart must carry the upload's algorithm ("Checksum Type mismatch
  occurred, expected checksum Type: crc32, actual checksum Type: null"); for a
  FULL_OBJECT upload S3 computes a missing part checksum itself.
* CompleteMultipartUpload: a COMPOSITE upload needs each part's checksum ("The
  upload was created using a crc32 checksum. The complete request must include
  the checksum for each part. It was missing for part 1 in the request."); a
  malformed one is 400 InvalidArgument "Invalid Base64 or multiple checksums
  present in request"; a wrong one is InvalidPart.  The object's checksum:
  COMPOSITE = base64(alg(raw part checksums)) + "-N", FULL_OBJECT = the CRC of
  the whole object; a wrong x-amz-checksum-<alg> header -> 400 BadDigest "The
  crc32 you specified did not match the calculated checksum."
* An upload created without an algorithm gets S3's default FULL_OBJECT CRC64NVME.
"""

import base64
import hashlib
import json
import os
import tempfile
import time
import unittest
import zlib

import s3_harness as s
from s3_harness import obj_path

MIB = 1024 * 1024
PART = 5 * MIB
INVALID_PART = ("One or more of the specified parts could not be found.  The part may not have been uploaded, "
                "or the specified entity tag may not match the part's entity tag.")
PART_RANGE_MSG = "Part number must be an integer between 1 and 10000, inclusive"
NO_SUCH_UPLOAD = ("The specified upload does not exist. The upload ID may be invalid, or the upload may have "
                  "been aborted or completed.")


def setUpModule():
    s.start(__name__)


def tearDownModule():
    s.stop(__name__)


def multipart_etag(parts):
    return '"%s-%d"' % (hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest(), len(parts))


class MultipartTest(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("mpu")
        cls.c = s.s3_client(cls.server, checksum="when_required") if s.NEW_CHECKSUMS else cls.s3

    def upload(self, key, parts, **create_kw):
        c = self.c
        up = c.create_multipart_upload(Bucket=self.bucket, Key=key, **create_kw)
        uid = up["UploadId"]
        self.assertTrue(uid)
        self.assertEqual(up["Bucket"], self.bucket)
        self.assertEqual(up["Key"], key)
        done = []
        for i, data in enumerate(parts, 1):
            r = c.upload_part(Bucket=self.bucket, Key=key, UploadId=uid, PartNumber=i, Body=data)
            self.assertEqual(r["ETag"], s.etag_of(data))
            done.append({"PartNumber": i, "ETag": r["ETag"]})
        return uid, done

    def test_three_parts(self):
        parts = [os.urandom(PART), os.urandom(PART), os.urandom(123)]
        uid, done = self.upload("three", parts, ContentType="video/mp4", Metadata={"k": "v"})
        self.assertNoObject(self.bucket, "three")
        r = self.c.complete_multipart_upload(Bucket=self.bucket, Key="three", UploadId=uid,
                                             MultipartUpload={"Parts": done})
        self.assertEqual(r["ETag"], multipart_etag(parts))
        self.assertEqual(r["Key"], "three")
        self.assertEqual(r["Bucket"], self.bucket)
        g = self.s3.get_object(Bucket=self.bucket, Key="three")
        self.assertTrue(g["Body"].read() == b"".join(parts))
        self.assertEqual(g["ETag"], multipart_etag(parts))
        self.assertEqual(g["ContentLength"], sum(map(len, parts)))
        self.assertEqual(g["ContentType"], "video/mp4")
        self.assertEqual(g["Metadata"], {"k": "v"})
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="three")["Contents"][0]
        self.assertEqual(listed["ETag"], multipart_etag(parts))
        self.assertEqual(listed["Size"], sum(map(len, parts)))

    def test_single_small_part(self):
        uid, done = self.upload("single", [b"tiny"])
        r = self.c.complete_multipart_upload(Bucket=self.bucket, Key="single", UploadId=uid,
                                             MultipartUpload={"Parts": done})
        self.assertEqual(r["ETag"], multipart_etag([b"tiny"]))
        self.assertEqual(self.get_body(self.bucket, "single"), b"tiny")

    def test_range_across_part_boundary(self):
        parts = [os.urandom(PART), os.urandom(1000)]
        uid, done = self.upload("ranged", parts)
        self.c.complete_multipart_upload(Bucket=self.bucket, Key="ranged", UploadId=uid,
                                         MultipartUpload={"Parts": done})
        whole = b"".join(parts)
        g = self.s3.get_object(Bucket=self.bucket, Key="ranged", Range="bytes=%d-%d" % (PART - 10, PART + 9))
        self.assertEqual(g["Body"].read(), whole[PART - 10:PART + 10])

    def test_part_replaced_by_same_number(self):
        c = self.c
        uid = c.create_multipart_upload(Bucket=self.bucket, Key="replace")["UploadId"]
        c.upload_part(Bucket=self.bucket, Key="replace", UploadId=uid, PartNumber=1, Body=b"first")
        r = c.upload_part(Bucket=self.bucket, Key="replace", UploadId=uid, PartNumber=1, Body=b"second")
        c.complete_multipart_upload(Bucket=self.bucket, Key="replace", UploadId=uid,
                                    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]})
        self.assertEqual(self.get_body(self.bucket, "replace"), b"second")

    def test_entity_too_small(self):
        parts = [b"a" * 1024, b"b" * 1024]
        uid, done = self.upload("small", parts)
        self.assertRaisesS3(lambda: self.c.complete_multipart_upload(Bucket=self.bucket, Key="small", UploadId=uid,
                                                                     MultipartUpload={"Parts": done}),
                            "EntityTooSmall", 400, "Your proposed upload is smaller than the minimum allowed size")
        self.assertNoObject(self.bucket, "small")

    def test_invalid_part_etag(self):
        uid, done = self.upload("badetag", [b"x" * 100])
        done[0]["ETag"] = s.etag_of(b"something else")
        self.assertRaisesS3(lambda: self.c.complete_multipart_upload(Bucket=self.bucket, Key="badetag", UploadId=uid,
                                                                     MultipartUpload={"Parts": done}),
                            "InvalidPart", 400, INVALID_PART)

    def test_missing_part(self):
        uid, done = self.upload("missing", [b"x" * 100])
        done.append({"PartNumber": 2, "ETag": s.etag_of(b"never uploaded")})
        self.assertRaisesS3(lambda: self.c.complete_multipart_upload(Bucket=self.bucket, Key="missing", UploadId=uid,
                                                                     MultipartUpload={"Parts": done}),
                            "InvalidPart", 400, INVALID_PART)

    def test_invalid_part_order(self):
        parts = [os.urandom(PART), os.urandom(PART)]
        uid, done = self.upload("order", parts)
        self.assertRaisesS3(lambda: self.c.complete_multipart_upload(Bucket=self.bucket, Key="order", UploadId=uid,
                                                                     MultipartUpload={"Parts": done[::-1]}),
                            "InvalidPartOrder", 400,
                            message_prefix="The list of parts was not in ascending order.")

    def test_abort(self):
        uid, done = self.upload("abort", [b"x"])
        r = self.c.abort_multipart_upload(Bucket=self.bucket, Key="abort", UploadId=uid)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 204)
        self.assertRaisesS3(lambda: self.c.upload_part(Bucket=self.bucket, Key="abort", UploadId=uid, PartNumber=2,
                                                       Body=b"y"),
                            "NoSuchUpload", 404, NO_SUCH_UPLOAD, UploadId=uid)
        self.assertRaisesS3(lambda: self.c.complete_multipart_upload(Bucket=self.bucket, Key="abort", UploadId=uid,
                                                                     MultipartUpload={"Parts": done}),
                            "NoSuchUpload", 404, NO_SUCH_UPLOAD)
        self.assertNoObject(self.bucket, "abort")

    def test_unknown_upload_id(self):
        self.assertRaisesS3(lambda: self.c.upload_part(Bucket=self.bucket, Key="k", UploadId="no-such-upload",
                                                       PartNumber=1, Body=b"x"),
                            "NoSuchUpload", 404, NO_SUCH_UPLOAD, UploadId="no-such-upload")
        self.assertRaisesS3(lambda: self.c.list_parts(Bucket=self.bucket, Key="k", UploadId="no-such-upload"),
                            "NoSuchUpload", 404)

    def test_upload_id_bound_to_key(self):
        uid, done = self.upload("bound", [b"x"])
        self.assertRaisesS3(lambda: self.c.complete_multipart_upload(Bucket=self.bucket, Key="other-key", UploadId=uid,
                                                                     MultipartUpload={"Parts": done}),
                            "NoSuchUpload", 404)

    def test_part_number_range(self):
        uid = self.c.create_multipart_upload(Bucket=self.bucket, Key="range")["UploadId"]
        for n in (0, 10001):
            with self.subTest(part=n):
                r = self.raw("PUT", obj_path(self.bucket, "range", query=[("partNumber", n), ("uploadId", uid)]),
                             body=b"x")
                self.assertS3Error(r, "InvalidArgument", 400, message_prefix=PART_RANGE_MSG)

    def test_list_parts_and_uploads(self):
        uid, done = self.upload("listing", [os.urandom(PART), b"tail"])
        parts = self.c.list_parts(Bucket=self.bucket, Key="listing", UploadId=uid)
        self.assertEqual([(p["PartNumber"], p["ETag"], p["Size"]) for p in parts["Parts"]],
                         [(1, done[0]["ETag"], PART), (2, done[1]["ETag"], 4)])
        ups = self.c.list_multipart_uploads(Bucket=self.bucket, Prefix="listing")
        self.assertIn(uid, [u["UploadId"] for u in ups.get("Uploads", [])])
        self.c.complete_multipart_upload(Bucket=self.bucket, Key="listing", UploadId=uid,
                                         MultipartUpload={"Parts": done})
        ups = self.c.list_multipart_uploads(Bucket=self.bucket, Prefix="listing")
        self.assertNotIn(uid, [u["UploadId"] for u in ups.get("Uploads", [])])

    def test_complete_replaces_existing_object(self):
        self.s3.put_object(Bucket=self.bucket, Key="over", Body=b"old single-part object")
        uid, done = self.upload("over", [b"new"])
        self.c.complete_multipart_upload(Bucket=self.bucket, Key="over", UploadId=uid,
                                         MultipartUpload={"Parts": done})
        self.assertEqual(self.get_body(self.bucket, "over"), b"new")

    def test_complete_with_malformed_xml(self):
        uid = self.c.create_multipart_upload(Bucket=self.bucket, Key="malformed")["UploadId"]
        r = self.raw("POST", obj_path(self.bucket, "malformed", query=[("uploadId", uid)]),
                     body=b"<CompleteMultipartUpload><Part><PartNumber>1")
        self.assertS3Error(r, "MalformedXML", 400, s.MSG_MALFORMED_XML)


class ManagedTransferTest(s.S3TestCase):
    """boto3's s3transfer: what most Python producers actually call."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("xfer")
        cls.tmp = tempfile.mkdtemp(prefix="tweedle-xfer-")

    @classmethod
    def tearDownClass(cls):
        import shutil
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def test_upload_file_and_download_file(self):
        from boto3.s3.transfer import TransferConfig
        data = os.urandom(20 * MIB + 7)
        src = os.path.join(self.tmp, "src.bin")
        with open(src, "wb") as f:
            f.write(data)
        cfg = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB, max_concurrency=4)
        self.s3.upload_file(src, self.bucket, "big.bin", Config=cfg)
        head = self.s3.head_object(Bucket=self.bucket, Key="big.bin")
        self.assertEqual(head["ContentLength"], len(data))
        self.assertTrue(head["ETag"].endswith('-3"'), head["ETag"])
        dst = os.path.join(self.tmp, "dst.bin")
        self.s3.download_file(self.bucket, "big.bin", dst, Config=cfg)  # parallel ranged GETs
        with open(dst, "rb") as f:
            self.assertTrue(f.read() == data, "download_file returned different bytes")

    def test_small_upload_file(self):
        src = os.path.join(self.tmp, "small.txt")
        with open(src, "wb") as f:
            f.write(b"small file")
        self.s3.upload_file(src, self.bucket, "small.txt", ExtraArgs={"ContentType": "text/plain"})
        self.assertEqual(self.get_body(self.bucket, "small.txt"), b"small file")
        self.assertEqual(self.s3.head_object(Bucket=self.bucket, Key="small.txt")["ContentType"], "text/plain")

    def test_upload_fileobj_stream(self):
        import io
        data = os.urandom(9 * MIB)
        self.s3.upload_fileobj(io.BytesIO(data), self.bucket, "stream.bin")
        buf = io.BytesIO()
        self.s3.download_fileobj(self.bucket, "stream.bin", buf)
        self.assertTrue(buf.getvalue() == data)


class MultipartNotificationTest(s.S3TestCase):

    def test_complete_multipart_event(self):
        sqs = self.server.client()
        bucket = self.make_bucket("mpuevt")
        qname = s.h.unique("mpuq")
        url = sqs.create_queue(QueueName=qname)["QueueUrl"]
        self.s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "QueueConfigurations": [{"Id": "mpu", "Events": ["s3:ObjectCreated:*"],
                                     "QueueArn": "arn:aws:sqs:us-east-1:%s:%s" % (s.ACCOUNT, qname)}]})
        parts = [os.urandom(PART), b"end"]
        c = self.s3
        uid = c.create_multipart_upload(Bucket=bucket, Key="mp/obj")["UploadId"]
        done = []
        for i, p in enumerate(parts, 1):
            done.append({"PartNumber": i, "ETag": c.upload_part(Bucket=bucket, Key="mp/obj", UploadId=uid,
                                                                 PartNumber=i, Body=p)["ETag"]})
        c.complete_multipart_upload(Bucket=bucket, Key="mp/obj", UploadId=uid, MultipartUpload={"Parts": done})
        records = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not records:
            r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for m in r.get("Messages", []):
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                records.extend(json.loads(m["Body"]).get("Records", []))
        self.assertEqual(len(records), 1, records)
        rec = records[0]
        self.assertEqual(rec["eventName"], "ObjectCreated:CompleteMultipartUpload")
        self.assertEqual(rec["s3"]["object"]["key"], "mp/obj")
        self.assertEqual(rec["s3"]["object"]["size"], PART + 3)
        self.assertEqual(rec["s3"]["object"]["eTag"], multipart_etag(parts).strip('"'))


# --------------------------------------------------------------------------
# GET / HEAD ?partNumber=
# --------------------------------------------------------------------------

INVALID_PART_NUMBER = "The requested partnumber is not satisfiable"
RANGE_AND_PART = "Cannot specify both Range header and partNumber query parameter"


def raw_upload(test, bucket, key, parts, create_headers=None, part_headers=None, complete_headers=None,
               part_checksums=None):
    """CreateMultipartUpload, UploadPart per part, Complete, all as raw signed
    requests; returns (upload id, complete response, [part responses])."""
    r = test.raw("POST", obj_path(bucket, key, query=[("uploads", None)]), headers=create_headers or {})
    test.assertStatus(r, 200)
    uid = s.strip_ns(s.parse_xml(r.body)).findtext("UploadId")
    got = []
    for i, data in enumerate(parts, 1):
        h = part_headers(i, data) if part_headers else {}
        pr = test.raw("PUT", obj_path(bucket, key, query=[("partNumber", i), ("uploadId", uid)]), body=data,
                      headers=h)
        test.assertStatus(pr, 200)
        got.append(pr)
    xml = complete_xml([(i, pr.header("ETag"), part_checksums(i, parts[i - 1]) if part_checksums else None)
                        for i, pr in enumerate(got, 1)])
    c = test.raw("POST", obj_path(bucket, key, query=[("uploadId", uid)]), body=xml,
                 headers=complete_headers or {})
    return uid, c, got


def complete_xml(parts):
    """parts: [(number, etag, {"CRC32": value} or None)]."""
    out = ["<CompleteMultipartUpload>"]
    for n, etag, sums in parts:
        out.append("<Part><PartNumber>%d</PartNumber><ETag>%s</ETag>" % (n, etag))
        for alg, v in (sums or {}).items():
            out.append("<Checksum%s>%s</Checksum%s>" % (alg, v, alg))
        out.append("</Part>")
    out.append("</CompleteMultipartUpload>")
    return "".join(out).encode()


def checksum_headers(resp):
    return {k.lower(): v for k, v in resp.headers.items() if k.lower().startswith("x-amz-checksum-")}


class PartNumberGetTest(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("pnum")
        cls.c = s.s3_client(cls.server, checksum="when_required") if s.NEW_CHECKSUMS else cls.s3
        cls.parts = [os.urandom(PART), os.urandom(PART + 3), os.urandom(1001)]
        cls.whole = b"".join(cls.parts)
        c = cls.c
        uid = c.create_multipart_upload(Bucket=cls.bucket, Key="three")["UploadId"]
        done = []
        for i, data in enumerate(cls.parts, 1):
            r = c.upload_part(Bucket=cls.bucket, Key="three", UploadId=uid, PartNumber=i, Body=data)
            done.append({"PartNumber": i, "ETag": r["ETag"]})
        c.complete_multipart_upload(Bucket=cls.bucket, Key="three", UploadId=uid, MultipartUpload={"Parts": done})

    def test_each_part_with_boto3(self):
        start = 0
        for i, data in enumerate(self.parts, 1):
            with self.subTest(part=i):
                g = self.c.get_object(Bucket=self.bucket, Key="three", PartNumber=i)
                self.assertEqual(g["ResponseMetadata"]["HTTPStatusCode"], 206)
                self.assertTrue(g["Body"].read() == data, "part %d differs" % i)
                self.assertEqual(g["ContentLength"], len(data))
                self.assertEqual(g["ContentRange"], "bytes %d-%d/%d" % (start, start + len(data) - 1, len(self.whole)))
                self.assertEqual(g["PartsCount"], 3)
                self.assertEqual(g["ETag"], multipart_etag(self.parts))
                hd = self.c.head_object(Bucket=self.bucket, Key="three", PartNumber=i)
                self.assertEqual(hd["ResponseMetadata"]["HTTPStatusCode"], 206)
                self.assertEqual(hd["ContentLength"], len(data))
                self.assertEqual(hd["PartsCount"], 3)
                start += len(data)

    def test_download_part_by_part(self):
        # What the Java SDK v2 and the CRT do: part 1, then the count says how many more.
        first = self.raw("GET", obj_path(self.bucket, "three", query=[("partNumber", 1)]))
        self.assertStatus(first, 206)
        count = int(first.header("x-amz-mp-parts-count"))
        self.assertEqual(count, 3)
        got = [first.body]
        for n in range(2, count + 1):
            r = self.raw("GET", obj_path(self.bucket, "three", query=[("partNumber", n)]))
            self.assertStatus(r, 206)
            got.append(r.body)
        self.assertTrue(b"".join(got) == self.whole)

    def test_whole_object_has_no_parts_count(self):
        r = self.raw("GET", obj_path(self.bucket, "three"))
        self.assertStatus(r, 200)
        self.assertIsNone(r.header("x-amz-mp-parts-count"))
        self.assertIsNone(r.header("Content-Range"))

    def test_part_past_the_last(self):
        r = self.raw("GET", obj_path(self.bucket, "three", query=[("partNumber", 4)]))
        self.assertS3Error(r, "InvalidPartNumber", 416, INVALID_PART_NUMBER, PartNumberRequested="4",
                           ActualPartCount="3")
        self.assertRaisesS3(lambda: self.c.get_object(Bucket=self.bucket, Key="three", PartNumber=10000),
                            "InvalidPartNumber", 416, INVALID_PART_NUMBER)
        r = self.raw("HEAD", obj_path(self.bucket, "three", query=[("partNumber", 4)]))
        self.assertEqual(r.status, 416)
        self.assertEqual(r.body, b"")

    def test_invalid_part_numbers(self):
        for v in ("0", "10001", "-1", "abc", "", "1.5", " 1", "99999999999999999999"):
            with self.subTest(partNumber=v):
                r = self.raw("GET", obj_path(self.bucket, "three", query=[("partNumber", v)]))
                self.assertS3Error(r, "InvalidArgument", 400, PART_RANGE_MSG, ArgumentName="partNumber",
                                   ArgumentValue=v)
        r = self.raw("HEAD", obj_path(self.bucket, "three", query=[("partNumber", 0)]))
        self.assertEqual(r.status, 400)

    def test_part_number_with_range(self):
        for n in (1, 0):  # the Range rule comes first, even for a bad number
            with self.subTest(partNumber=n):
                r = self.raw("GET", obj_path(self.bucket, "three", query=[("partNumber", n)]),
                             headers={"Range": "bytes=0-9"})
                self.assertS3Error(r, "InvalidRequest", 400, RANGE_AND_PART)
        self.assertRaisesS3(lambda: self.c.get_object(Bucket=self.bucket, Key="three", PartNumber=1,
                                                      Range="bytes=0-1"),
                            "InvalidRequest", 400, RANGE_AND_PART)

    def test_missing_key(self):
        r = self.raw("GET", obj_path(self.bucket, "no-such-key", query=[("partNumber", 1)]))
        self.assertS3Error(r, "NoSuchKey", 404)

    def test_single_put_object_is_its_own_part_one(self):
        self.c.put_object(Bucket=self.bucket, Key="single", Body=b"0123456789")
        g = self.c.get_object(Bucket=self.bucket, Key="single", PartNumber=1)
        self.assertEqual(g["ResponseMetadata"]["HTTPStatusCode"], 206)
        self.assertEqual(g["Body"].read(), b"0123456789")
        self.assertEqual(g["ContentRange"], "bytes 0-9/10")
        self.assertNotIn("PartsCount", g)
        r = self.raw("GET", obj_path(self.bucket, "single", query=[("partNumber", 2)]))
        self.assertS3Error(r, "InvalidPartNumber", 416, INVALID_PART_NUMBER, ActualPartCount="1")
        self.c.put_object(Bucket=self.bucket, Key="empty", Body=b"")
        r = self.raw("GET", obj_path(self.bucket, "empty", query=[("partNumber", 1)]))
        self.assertStatus(r, 200)
        self.assertEqual(r.body, b"")
        self.assertIsNone(r.header("Content-Range"))

    def test_overwrite_forgets_the_parts(self):
        parts = [os.urandom(PART), b"tail"]
        self._upload("overwritten", parts)
        self.c.put_object(Bucket=self.bucket, Key="overwritten", Body=b"now one piece")
        r = self.raw("GET", obj_path(self.bucket, "overwritten", query=[("partNumber", 2)]))
        self.assertS3Error(r, "InvalidPartNumber", 416, INVALID_PART_NUMBER)
        r = self.raw("GET", obj_path(self.bucket, "overwritten", query=[("partNumber", 1)]))
        self.assertStatus(r, 206)
        self.assertEqual(r.body, b"now one piece")
        self.assertIsNone(r.header("x-amz-mp-parts-count"))

    def _upload(self, key, parts):
        c = self.c
        uid = c.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        done = [{"PartNumber": i, "ETag": c.upload_part(Bucket=self.bucket, Key=key, UploadId=uid, PartNumber=i,
                                                        Body=d)["ETag"]} for i, d in enumerate(parts, 1)]
        c.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": done})
        return uid, done

    def test_copy_is_a_single_part_object(self):
        r = self.c.copy_object(Bucket=self.bucket, Key="copied", CopySource={"Bucket": self.bucket, "Key": "three"})
        self.assertEqual(r["CopyObjectResult"]["ETag"], s.etag_of(self.whole))
        hd = self.c.head_object(Bucket=self.bucket, Key="copied")
        self.assertEqual(hd["ETag"], s.etag_of(self.whole))
        g = self.raw("GET", obj_path(self.bucket, "copied", query=[("partNumber", 1)]))
        self.assertStatus(g, 206)
        self.assertTrue(g.body == self.whole)
        self.assertIsNone(g.header("x-amz-mp-parts-count"))
        r = self.raw("GET", obj_path(self.bucket, "copied", query=[("partNumber", 2)]))
        self.assertS3Error(r, "InvalidPartNumber", 416, INVALID_PART_NUMBER)
        # the source keeps its parts
        self.assertEqual(self.raw("HEAD", obj_path(self.bucket, "three", query=[("partNumber", 3)])).status, 206)


# --------------------------------------------------------------------------
# multipart checksums
# --------------------------------------------------------------------------

def crc32_int(data):
    return zlib.crc32(data) & 0xFFFFFFFF


def composite(alg, parts):
    """S3's COMPOSITE checksum: the algorithm over the raw part checksums, "-N"."""
    raw = b"".join(base64.b64decode(s.CHECKSUMS[alg](p)) for p in parts)
    return "%s-%d" % (s.CHECKSUMS[alg](raw), len(parts))


def checksum_mismatch(alg):
    return "The %s you specified did not match the calculated checksum." % alg.lower()


def type_mismatch(want, got):
    return "Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s" % (want, got)


class MultipartChecksumTest(s.S3TestCase):
    """Raw signed requests: the same on every botocore."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("mpck")

    def create(self, key, alg=None, ctype=None):
        h = {}
        if alg:
            h["x-amz-checksum-algorithm"] = alg
        if ctype:
            h["x-amz-checksum-type"] = ctype
        return self.raw("POST", obj_path(self.bucket, key, query=[("uploads", None)]), headers=h)

    def upload_id(self, key, alg=None, ctype=None):
        r = self.create(key, alg, ctype)
        self.assertStatus(r, 200)
        return s.strip_ns(s.parse_xml(r.body)).findtext("UploadId")

    def part(self, key, uid, n, data, headers=None):
        return self.raw("PUT", obj_path(self.bucket, key, query=[("partNumber", n), ("uploadId", uid)]), body=data,
                        headers=headers or {})

    def complete(self, key, uid, parts, headers=None):
        return self.raw("POST", obj_path(self.bucket, key, query=[("uploadId", uid)]), body=complete_xml(parts),
                        headers=headers or {})

    def with_sum(self, alg, data):
        return {"x-amz-checksum-" + alg.lower(): s.CHECKSUMS[alg](data)}

    def list_parts(self, key, uid):
        r = self.raw("GET", obj_path(self.bucket, key, query=[("uploadId", uid)]))
        self.assertStatus(r, 200)
        return s.strip_ns(s.parse_xml(r.body))

    def test_create_echoes_algorithm_and_type(self):
        cases = [("CRC32", None, "COMPOSITE"), ("CRC32C", None, "COMPOSITE"), ("SHA1", None, "COMPOSITE"),
                 ("SHA256", None, "COMPOSITE"), ("CRC64NVME", None, "FULL_OBJECT"),
                 ("CRC32", "FULL_OBJECT", "FULL_OBJECT"), ("CRC32C", "FULL_OBJECT", "FULL_OBJECT"),
                 ("CRC64NVME", "FULL_OBJECT", "FULL_OBJECT"), ("SHA256", "COMPOSITE", "COMPOSITE")]
        for alg, asked, want in cases:
            with self.subTest(alg=alg, type=asked):
                key = "create-%s-%s" % (alg, asked)
                r = self.create(key, alg, asked)
                self.assertStatus(r, 200)
                self.assertEqual(r.header("x-amz-checksum-algorithm"), alg)
                self.assertEqual(r.header("x-amz-checksum-type"), want)
                uid = s.strip_ns(s.parse_xml(r.body)).findtext("UploadId")
                lp = self.list_parts(key, uid)
                self.assertEqual((lp.findtext("ChecksumAlgorithm"), lp.findtext("ChecksumType")), (alg, want))
                lu = self.raw("GET", obj_path(self.bucket, query=[("uploads", None), ("prefix", key)]))
                up = s.strip_ns(s.parse_xml(lu.body)).findall("Upload")
                self.assertEqual([(u.findtext("UploadId"), u.findtext("ChecksumAlgorithm"), u.findtext("ChecksumType"))
                                  for u in up], [(uid, alg, want)])
        r = self.create("create-none")
        self.assertStatus(r, 200)
        self.assertIsNone(r.header("x-amz-checksum-algorithm"))

    def test_create_errors(self):
        cases = [
            (None, "FULL_OBJECT", "The x-amz-checksum-type header can only be used with the "
                                  "x-amz-checksum-algorithm header."),
            (None, "COMPOSITE", "The x-amz-checksum-type header can only be used with the "
                                "x-amz-checksum-algorithm header."),
            ("MD4", None, "Checksum algorithm provided is unsupported. Please try again with any of the valid "
                          "types: [CRC32, CRC32C, SHA1, SHA256]"),
            ("CRC32", "BADCHECKSUM", "Value for x-amz-checksum-type header is invalid."),
            ("SHA1", "FULL_OBJECT", "The FULL_OBJECT checksum type cannot be used with the sha1 checksum algorithm."),
            ("SHA256", "FULL_OBJECT",
             "The FULL_OBJECT checksum type cannot be used with the sha256 checksum algorithm."),
            ("CRC64NVME", "COMPOSITE",
             "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm."),
        ]
        for alg, ctype, msg in cases:
            with self.subTest(alg=alg, type=ctype):
                r = self.create("bad-create", alg, ctype)
                self.assertS3Error(r, "InvalidRequest", 400, msg)
        lu = self.raw("GET", obj_path(self.bucket, query=[("uploads", None), ("prefix", "bad-create")]))
        self.assertEqual(s.strip_ns(s.parse_xml(lu.body)).findall("Upload"), [], "a refused create made an upload")

    def test_upload_part_must_carry_the_upload_algorithm(self):
        uid = self.upload_id("part-rules", "CRC32")
        data = b"part data"
        r = self.part("part-rules", uid, 1, data)
        self.assertS3Error(r, "InvalidRequest", 400, type_mismatch("crc32", "null"))
        r = self.part("part-rules", uid, 1, data, self.with_sum("SHA1", data))
        self.assertS3Error(r, "InvalidRequest", 400, type_mismatch("crc32", "sha1"))
        r = self.part("part-rules", uid, 1, data, {"x-amz-sdk-checksum-algorithm": "SHA256"})
        self.assertS3Error(r, "InvalidRequest", 400, type_mismatch("crc32", "sha256"))
        h = dict(self.with_sum("CRC32", data), **{"x-amz-sdk-checksum-algorithm": "CRC32C"})
        r = self.part("part-rules", uid, 1, data, h)
        self.assertS3Error(r, "InvalidRequest", 400, "Value for x-amz-sdk-checksum-algorithm header is invalid.")
        r = self.part("part-rules", uid, 1, data, {"x-amz-checksum-crc32": s.crc32_b64(b"other")})
        self.assertS3Error(r, "BadDigest", 400)
        self.assertEqual(self.list_parts("part-rules", uid).findall("Part"), [], "a refused part was kept")
        r = self.part("part-rules", uid, 1, data, self.with_sum("CRC32", data))
        self.assertStatus(r, 200)
        self.assertEqual(r.header("x-amz-checksum-crc32"), s.crc32_b64(data))
        parts = self.list_parts("part-rules", uid).findall("Part")
        self.assertEqual([(p.findtext("PartNumber"), p.findtext("ChecksumCRC32")) for p in parts],
                         [("1", s.crc32_b64(data))])

    def test_full_object_part_without_checksum_gets_one(self):
        uid = self.upload_id("full-nosum", "CRC32", "FULL_OBJECT")
        data = os.urandom(1000)
        r = self.part("full-nosum", uid, 1, data)
        self.assertStatus(r, 200)
        self.assertEqual(r.header("x-amz-checksum-crc32"), s.crc32_b64(data))
        r = self.part("full-nosum", uid, 2, data, self.with_sum("CRC32C", data))
        self.assertS3Error(r, "InvalidRequest", 400, type_mismatch("crc32", "crc32c"))

    def test_composite_for_each_algorithm(self):
        parts = [os.urandom(PART), os.urandom(777)]
        for alg in ("CRC32", "CRC32C", "SHA1", "SHA256"):
            with self.subTest(alg=alg):
                key = "composite-" + alg
                uid, c, got = raw_upload(self, self.bucket, key, parts, {"x-amz-checksum-algorithm": alg},
                                         part_headers=lambda i, d: self.with_sum(alg, d),
                                         part_checksums=lambda i, d: {alg: s.CHECKSUMS[alg](d)})
                self.assertStatus(c, 200)
                want = composite(alg, parts)
                root = s.strip_ns(s.parse_xml(c.body))
                self.assertEqual(root.findtext("Checksum" + alg), want)
                self.assertEqual(root.findtext("ChecksumType"), "COMPOSITE")
                self.assertEqual(root.findtext("ETag"), multipart_etag(parts))
                hd = self.raw("HEAD", obj_path(self.bucket, key), headers={"x-amz-checksum-mode": "ENABLED"})
                self.assertEqual(checksum_headers(hd), {"x-amz-checksum-" + alg.lower(): want,
                                                        "x-amz-checksum-type": "COMPOSITE"})
                self.assertEqual(checksum_headers(self.raw("HEAD", obj_path(self.bucket, key))), {})
                # a part GET carries that part's own checksum
                g = self.raw("GET", obj_path(self.bucket, key, query=[("partNumber", 2)]),
                             headers={"x-amz-checksum-mode": "ENABLED"})
                self.assertStatus(g, 206)
                self.assertEqual(g.body, parts[1])
                self.assertEqual(g.header("x-amz-checksum-" + alg.lower()), s.CHECKSUMS[alg](parts[1]))
                lo = self.raw("GET", obj_path(self.bucket, query=[("list-type", "2"), ("prefix", key)]))
                item = s.strip_ns(s.parse_xml(lo.body)).find("Contents")
                self.assertEqual((item.findtext("ChecksumAlgorithm"), item.findtext("ChecksumType")),
                                 (alg, "COMPOSITE"))

    def test_full_object_crc_is_the_whole_objects(self):
        # Uneven parts: the stored CRC is combined from the part CRCs, never re-read.
        parts = [os.urandom(PART + 1), os.urandom(PART + 12345), os.urandom(PART + 3), os.urandom(70000)]
        whole = b"".join(parts)
        uid, c, _ = raw_upload(self, self.bucket, "full-crc32", parts,
                               {"x-amz-checksum-algorithm": "CRC32", "x-amz-checksum-type": "FULL_OBJECT"},
                               part_headers=lambda i, d: self.with_sum("CRC32", d),
                               complete_headers={"x-amz-checksum-crc32": s.crc32_b64(whole),
                                                 "x-amz-checksum-type": "FULL_OBJECT"})
        self.assertStatus(c, 200)
        root = s.strip_ns(s.parse_xml(c.body))
        self.assertEqual((root.findtext("ChecksumCRC32"), root.findtext("ChecksumType")),
                         (s.crc32_b64(whole), "FULL_OBJECT"))
        g = self.raw("GET", obj_path(self.bucket, "full-crc32"), headers={"x-amz-checksum-mode": "ENABLED"})
        self.assertTrue(g.body == whole)
        self.assertEqual(checksum_headers(g), {"x-amz-checksum-crc32": s.crc32_b64(whole),
                                               "x-amz-checksum-type": "FULL_OBJECT"})

    def test_full_object_crc32c_and_crc64nvme(self):
        parts = [os.urandom(PART), os.urandom(4321)]
        whole = b"".join(parts)
        for alg in ("CRC32C", "CRC64NVME"):
            with self.subTest(alg=alg):
                key = "full-" + alg
                uid, c, _ = raw_upload(self, self.bucket, key, parts,
                                       {"x-amz-checksum-algorithm": alg, "x-amz-checksum-type": "FULL_OBJECT"},
                                       part_headers=lambda i, d: self.with_sum(alg, d))
                self.assertStatus(c, 200)
                root = s.strip_ns(s.parse_xml(c.body))
                self.assertEqual(root.findtext("Checksum" + alg), s.CHECKSUMS[alg](whole))
                hd = self.raw("HEAD", obj_path(self.bucket, key), headers={"x-amz-checksum-mode": "ENABLED"})
                self.assertEqual(hd.header("x-amz-checksum-" + alg.lower()), s.CHECKSUMS[alg](whole))

    def test_wrong_full_object_checksum_is_bad_digest(self):
        parts = [os.urandom(PART), b"end"]
        uid, c, got = raw_upload(self, self.bucket, "full-bad", parts,
                                 {"x-amz-checksum-algorithm": "CRC32", "x-amz-checksum-type": "FULL_OBJECT"},
                                 part_headers=lambda i, d: self.with_sum("CRC32", d),
                                 complete_headers={"x-amz-checksum-crc32": s.crc32_b64(b"not it")})
        self.assertS3Error(c, "BadDigest", 400, checksum_mismatch("CRC32"))
        self.assertNoObject(self.bucket, "full-bad")
        # nothing changed: the same upload still completes
        c = self.complete("full-bad", uid, [(i, r.header("ETag"), None) for i, r in enumerate(got, 1)])
        self.assertStatus(c, 200)
        self.assertEqual(self.get_body(self.bucket, "full-bad"), b"".join(parts))

    def test_complete_part_checksum_errors(self):
        data = b"123456789"
        uid = self.upload_id("ck-errors", "CRC32")
        etag = self.part("ck-errors", uid, 1, data, self.with_sum("CRC32", data)).header("ETag")
        r = self.complete("ck-errors", uid, [(1, etag, None)])
        self.assertS3Error(r, "InvalidRequest", 400,
                           "The upload was created using a crc32 checksum. The complete request must include the "
                           "checksum for each part. It was missing for part 1 in the request.")
        for bad in ("y/Q5Jh==", "not base64!", s.b64(b"\x00" * 5)):
            with self.subTest(value=bad):
                r = self.complete("ck-errors", uid, [(1, etag, {"CRC32": bad})])
                self.assertS3Error(r, "InvalidArgument", 400, "Invalid Base64 or multiple checksums present in request",
                                   ArgumentName="Checksum", ArgumentValue="CRC32:%s;" % bad)
        r = self.complete("ck-errors", uid, [(1, etag, {"CRC32": "z/Q5Jg=="})])
        self.assertS3Error(r, "InvalidPart", 400, INVALID_PART, UploadId=uid, PartNumber="1", ETag=etag.strip('"'))
        self.assertNoObject(self.bucket, "ck-errors")
        r = self.complete("ck-errors", uid, [(1, etag, {"CRC32": "y/Q5Jg=="})])
        self.assertStatus(r, 200)
        # S3's own vector (swift s3api tests): CRC32 of one part "123456789" -> 7kxlUA==-1
        self.assertEqual(s.strip_ns(s.parse_xml(r.body)).findtext("ChecksumCRC32"), "7kxlUA==-1")

    def test_complete_object_checksum_header(self):
        parts = [os.urandom(PART), b"last"]
        want = composite("CRC32", parts)
        bare = want.split("-")[0]
        bad = [({"x-amz-checksum-crc32": bare + "-3"}, "BadDigest", checksum_mismatch("CRC32")),
               ({"x-amz-checksum-crc32": s.crc32_b64(b"x")}, "BadDigest", checksum_mismatch("CRC32")),
               ({"x-amz-checksum-crc32": bare + "-a"}, "InvalidRequest",
                "Value for x-amz-checksum-crc32 header is invalid."),
               ({"x-amz-checksum-sha256": s.sha256_b64(b"x")}, "InvalidRequest", type_mismatch("crc32", "sha256")),
               ({"x-amz-checksum-type": "FULL_OBJECT"}, "InvalidRequest",
                "The upload was created using the COMPOSITE checksum mode. The complete request must use the "
                "same checksum mode.")]
        def fresh():
            uid = self.upload_id("ck-header", "CRC32")
            listed = []
            for i, d in enumerate(parts, 1):
                r = self.part("ck-header", uid, i, d, self.with_sum("CRC32", d))
                self.assertStatus(r, 200)
                listed.append((i, r.header("ETag"), {"CRC32": s.crc32_b64(d)}))
            return uid, listed

        uid, listed = fresh()
        for headers, code, msg in bad:
            with self.subTest(headers=headers):
                r = self.complete("ck-header", uid, listed, headers)
                self.assertS3Error(r, code, 400, msg)
        self.assertNoObject(self.bucket, "ck-header")
        for n, header in enumerate((bare, want)):  # with or without the part count
            with self.subTest(header=header):
                if n:
                    uid, listed = fresh()
                r = self.complete("ck-header", uid, listed, {"x-amz-checksum-crc32": header,
                                                             "x-amz-checksum-type": "COMPOSITE"})
                self.assertStatus(r, 200)
                self.assertEqual(s.strip_ns(s.parse_xml(r.body)).findtext("ChecksumCRC32"), want)

    def test_upload_without_algorithm_gets_crc64nvme(self):
        # Part 1 carries the CRC32 botocore adds by default, part 2 nothing.
        parts = [os.urandom(PART), os.urandom(999)]
        whole = b"".join(parts)
        uid, c, got = raw_upload(self, self.bucket, "default-ck", parts,
                                 part_headers=lambda i, d: self.with_sum("CRC32", d) if i == 1 else {},
                                 complete_headers={"x-amz-checksum-crc32": "AAAAAA=="})  # ignored, as S3 does
        self.assertStatus(c, 200)
        self.assertEqual(got[0].header("x-amz-checksum-crc32"), s.crc32_b64(parts[0]))
        self.assertEqual(got[1].header("x-amz-checksum-crc64nvme"), s.crc64nvme_b64(parts[1]))
        root = s.strip_ns(s.parse_xml(c.body))
        self.assertEqual((root.findtext("ChecksumCRC64NVME"), root.findtext("ChecksumType")),
                         (s.crc64nvme_b64(whole), "FULL_OBJECT"))
        hd = self.raw("HEAD", obj_path(self.bucket, "default-ck"), headers={"x-amz-checksum-mode": "ENABLED"})
        self.assertEqual(checksum_headers(hd), {"x-amz-checksum-crc64nvme": s.crc64nvme_b64(whole),
                                                "x-amz-checksum-type": "FULL_OBJECT"})
        lp = self.raw("GET", obj_path(self.bucket, query=[("list-type", "2"), ("prefix", "default-ck")]))
        item = s.strip_ns(s.parse_xml(lp.body)).find("Contents")
        self.assertEqual((item.findtext("ChecksumAlgorithm"), item.findtext("ChecksumType")),
                         ("CRC64NVME", "FULL_OBJECT"))

    def test_upload_part_copy_checksum(self):
        src = os.urandom(PART + 500)
        self.s3.put_object(Bucket=self.bucket, Key="copy-src", Body=src)
        uid = self.upload_id("copy-dst", "SHA256")
        r = self.raw("PUT", obj_path(self.bucket, "copy-dst", query=[("partNumber", 1), ("uploadId", uid)]),
                     headers={"x-amz-copy-source": "/%s/copy-src" % self.bucket,
                              "x-amz-copy-source-range": "bytes=0-%d" % (PART - 1)})
        self.assertStatus(r, 200)
        root = s.strip_ns(s.parse_xml(r.body))
        self.assertEqual(root.findtext("ChecksumSHA256"), s.sha256_b64(src[:PART]))
        tail = src[PART:]
        e2 = self.part("copy-dst", uid, 2, tail, self.with_sum("SHA256", tail)).header("ETag")
        c = self.complete("copy-dst", uid, [(1, root.findtext("ETag"), {"SHA256": s.sha256_b64(src[:PART])}),
                                            (2, e2, {"SHA256": s.sha256_b64(tail)})])
        self.assertStatus(c, 200)
        self.assertEqual(s.strip_ns(s.parse_xml(c.body)).findtext("ChecksumSHA256"),
                         composite("SHA256", [src[:PART], tail]))

    def test_copy_object_remakes_composite_checksum(self):
        parts = [os.urandom(PART), b"copy me"]
        raw_upload(self, self.bucket, "comp-src", parts, {"x-amz-checksum-algorithm": "SHA256"},
                   part_headers=lambda i, d: self.with_sum("SHA256", d),
                   part_checksums=lambda i, d: {"SHA256": s.sha256_b64(d)})
        whole = b"".join(parts)
        self.s3.copy_object(Bucket=self.bucket, Key="comp-copy", CopySource={"Bucket": self.bucket, "Key": "comp-src"})
        hd = self.raw("HEAD", obj_path(self.bucket, "comp-copy"), headers={"x-amz-checksum-mode": "ENABLED"})
        self.assertEqual(checksum_headers(hd), {"x-amz-checksum-sha256": s.sha256_b64(whole),
                                                "x-amz-checksum-type": "FULL_OBJECT"})
        self.assertEqual(hd.header("ETag"), s.etag_of(whole))

    def test_mp_object_size(self):
        parts = [os.urandom(PART), b"xyz"]
        uid, c, got = raw_upload(self, self.bucket, "mpsize", parts,
                                 complete_headers={"x-amz-mp-object-size": str(PART + 4)})
        self.assertS3Error(c, "InvalidRequest", 400,
                           "The provided 'x-amz-mp-object-size' header value %d does not match what was computed: %d"
                           % (PART + 4, PART + 3))
        c = self.complete("mpsize", uid, [(i, r.header("ETag"), None) for i, r in enumerate(got, 1)],
                          {"x-amz-mp-object-size": str(PART + 3)})
        self.assertStatus(c, 200)


class MultipartChecksumSdkTest(s.S3TestCase):
    """What current SDKs send by default (boto3 1.43; skipped on older botocore)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not s.NEW_CHECKSUMS:
            raise unittest.SkipTest("botocore %s predates ChecksumType and default checksums" % s.botocore.__version__)
        cls.bucket = cls.class_bucket("mpsdk")
        cls.tmp = tempfile.mkdtemp(prefix="tweedle-mpsdk-")

    @classmethod
    def tearDownClass(cls):
        import shutil
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def test_upload_file_default_crc32_composite(self):
        from boto3.s3.transfer import TransferConfig
        data = os.urandom(20 * MIB + 5)
        src = os.path.join(self.tmp, "src.bin")
        with open(src, "wb") as f:
            f.write(data)
        cfg = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB, max_concurrency=4)
        seen = s.capture_headers(self.s3, "CreateMultipartUpload")
        self.s3.upload_file(src, self.bucket, "xfer.bin", Config=cfg)
        self.assertEqual(seen[-1].get("x-amz-checksum-algorithm"), "CRC32", "s3transfer asks for CRC32")
        chunks = [data[i:i + 8 * MIB] for i in range(0, len(data), 8 * MIB)]
        hd = self.s3.head_object(Bucket=self.bucket, Key="xfer.bin", ChecksumMode="ENABLED")
        self.assertEqual(hd["ChecksumCRC32"], composite("CRC32", chunks))
        self.assertEqual(hd["ChecksumType"], "COMPOSITE")
        g = self.s3.get_object(Bucket=self.bucket, Key="xfer.bin", PartNumber=2, ChecksumMode="ENABLED")
        self.assertEqual(g["ChecksumCRC32"], s.crc32_b64(chunks[1]))
        self.assertTrue(g["Body"].read() == chunks[1])  # botocore checks the part's CRC32 while reading
        dst = os.path.join(self.tmp, "dst.bin")
        self.s3.download_file(self.bucket, "xfer.bin", dst, Config=cfg)
        with open(dst, "rb") as f:
            self.assertTrue(f.read() == data)

    def test_upload_file_full_object_crc32(self):
        # A caller-supplied whole-object CRC32 makes s3transfer ask for FULL_OBJECT.
        from boto3.s3.transfer import TransferConfig
        data = os.urandom(17 * MIB + 1)
        src = os.path.join(self.tmp, "full.bin")
        with open(src, "wb") as f:
            f.write(data)
        cfg = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=6 * MIB)
        self.s3.upload_file(src, self.bucket, "full.bin", Config=cfg, ExtraArgs={"ChecksumCRC32": s.crc32_b64(data)})
        hd = self.s3.head_object(Bucket=self.bucket, Key="full.bin", ChecksumMode="ENABLED")
        self.assertEqual((hd["ChecksumCRC32"], hd["ChecksumType"]), (s.crc32_b64(data), "FULL_OBJECT"))
        g = self.s3.get_object(Bucket=self.bucket, Key="full.bin", ChecksumMode="ENABLED")
        self.assertTrue(g["Body"].read() == data)  # validated against the whole-object CRC32

    def test_low_level_sha256(self):
        c = self.s3
        up = c.create_multipart_upload(Bucket=self.bucket, Key="sha", ChecksumAlgorithm="SHA256")
        self.assertEqual((up["ChecksumAlgorithm"], up["ChecksumType"]), ("SHA256", "COMPOSITE"))
        parts = [os.urandom(PART), b"sha tail"]
        done = []
        for i, d in enumerate(parts, 1):
            r = c.upload_part(Bucket=self.bucket, Key="sha", UploadId=up["UploadId"], PartNumber=i, Body=d,
                              ChecksumAlgorithm="SHA256")
            self.assertEqual(r["ChecksumSHA256"], s.sha256_b64(d))
            done.append({"PartNumber": i, "ETag": r["ETag"], "ChecksumSHA256": r["ChecksumSHA256"]})
        lp = c.list_parts(Bucket=self.bucket, Key="sha", UploadId=up["UploadId"])
        self.assertEqual([p["ChecksumSHA256"] for p in lp["Parts"]], [s.sha256_b64(d) for d in parts])
        self.assertEqual((lp["ChecksumAlgorithm"], lp["ChecksumType"]), ("SHA256", "COMPOSITE"))
        r = c.complete_multipart_upload(Bucket=self.bucket, Key="sha", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": done})
        self.assertEqual((r["ChecksumSHA256"], r["ChecksumType"]), (composite("SHA256", parts), "COMPOSITE"))
        g = c.get_object(Bucket=self.bucket, Key="sha", ChecksumMode="ENABLED")
        self.assertEqual((g["ChecksumSHA256"], g["ChecksumType"]), (composite("SHA256", parts), "COMPOSITE"))
        self.assertTrue(g["Body"].read() == b"".join(parts))

    def test_low_level_crc64nvme_full_object(self):
        c = self.s3
        up = c.create_multipart_upload(Bucket=self.bucket, Key="nvme", ChecksumAlgorithm="CRC64NVME",
                                       ChecksumType="FULL_OBJECT")
        self.assertEqual(up["ChecksumType"], "FULL_OBJECT")
        parts = [os.urandom(PART), b"nvme tail"]
        done = []
        for i, d in enumerate(parts, 1):
            # botocore without awscrt cannot compute CRC64NVME: send the part's own value
            r = c.upload_part(Bucket=self.bucket, Key="nvme", UploadId=up["UploadId"], PartNumber=i, Body=d,
                              ChecksumCRC64NVME=s.crc64nvme_b64(d))
            done.append({"PartNumber": i, "ETag": r["ETag"]})
        whole = b"".join(parts)
        r = c.complete_multipart_upload(Bucket=self.bucket, Key="nvme", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": done}, ChecksumType="FULL_OBJECT",
                                        ChecksumCRC64NVME=s.crc64nvme_b64(whole), MpuObjectSize=len(whole))
        self.assertEqual((r["ChecksumCRC64NVME"], r["ChecksumType"]), (s.crc64nvme_b64(whole), "FULL_OBJECT"))

if __name__ == "__main__":
    unittest.main()
