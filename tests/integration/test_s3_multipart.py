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
"""

import hashlib
import json
import os
import tempfile
import time
import unittest

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


if __name__ == "__main__":
    unittest.main()
