"""S3 flexible checksums and aws-chunked uploads.

AWS facts asserted here:
* botocore >= 1.36 (boto3 1.43 here) sends x-amz-checksum-crc32 with every
  PutObject by default; request_checksum_calculation="when_required" turns
  that off.  S3 verifies the value, stores it and returns it on GET/HEAD
  only with x-amz-checksum-mode: ENABLED (plus x-amz-checksum-type:
  FULL_OBJECT for a single PUT).
* An object uploaded without any checksum gets S3's default CRC64NVME
  ("...or if it was uploaded without a checksum (and Amazon S3 added the
  default checksum, CRC64NVME, to the uploaded object)" -- API_Checksum).
* A wrong checksum -> 400 BadDigest "The CRC32 you specified did not match
  the calculated checksum." (same pattern for CRC32C, SHA1, SHA256, recorded
  against S3), nothing stored.  A value that is not a valid base64 checksum
  of the right size -> 400 InvalidRequest "Value for x-amz-checksum-crc32
  header is invalid."
* Ranged GETs carry no full-object checksum (botocore would otherwise fail
  its response validation).
* aws-chunked bodies (STREAMING-UNSIGNED-PAYLOAD-TRAILER,
  STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]) store only the decoded bytes;
  a bad chunk signature -> 403 SignatureDoesNotMatch.
"""

import os
import unittest

import s3_harness as s
from s3_harness import obj_path


def setUpModule():
    s.start(__name__)


def tearDownModule():
    s.stop(__name__)


def checksum_headers(resp):
    return {k.lower(): v for k, v in resp.headers.items() if k.lower().startswith("x-amz-checksum-")}


class ChecksumTest(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("ck")

    def head_checksums(self, key, mode=True):
        r = self.raw("HEAD", obj_path(self.bucket, key),
                     headers={"x-amz-checksum-mode": "ENABLED"} if mode else {})
        self.assertStatus(r, 200)
        return checksum_headers(r)

    # -- what boto3 sends -------------------------------------------------
    def test_boto3_default_crc32(self):
        if not s.NEW_CHECKSUMS:
            self.skipTest("botocore %s does not send CRC32 by default" % s.botocore.__version__)
        c = s.s3_client(self.server)
        seen = s.capture_headers(c, "PutObject")
        data = os.urandom(100000)
        r = c.put_object(Bucket=self.bucket, Key="default-crc32", Body=data)
        self.assertEqual(seen[-1].get("x-amz-checksum-crc32"), s.crc32_b64(data), "the client sent CRC32")
        self.assertEqual(r.get("ChecksumCRC32"), s.crc32_b64(data))
        hd = c.head_object(Bucket=self.bucket, Key="default-crc32", ChecksumMode="ENABLED")
        self.assertEqual(hd.get("ChecksumCRC32"), s.crc32_b64(data))
        self.assertEqual(hd.get("ChecksumType"), "FULL_OBJECT")
        g = c.get_object(Bucket=self.bucket, Key="default-crc32", ChecksumMode="ENABLED")
        self.assertEqual(g["Body"].read(), data)  # botocore validates the CRC32 while reading
        self.assertEqual(g.get("ChecksumCRC32"), s.crc32_b64(data))

    def test_checksums_only_with_checksum_mode(self):
        data = b"mode matters"
        self.raw("PUT", obj_path(self.bucket, "mode"), body=data,
                 headers={"x-amz-checksum-crc32": s.crc32_b64(data)})
        self.assertEqual(self.head_checksums("mode", mode=False), {})
        got = self.head_checksums("mode")
        self.assertEqual(got.get("x-amz-checksum-crc32"), s.crc32_b64(data))
        self.assertEqual(got.get("x-amz-checksum-type"), "FULL_OBJECT")
        r = self.raw("GET", obj_path(self.bucket, "mode"), headers={"x-amz-checksum-mode": "ENABLED"})
        self.assertEqual(checksum_headers(r).get("x-amz-checksum-crc32"), s.crc32_b64(data))

    def test_when_required_sends_no_checksum_and_s3_adds_crc64nvme(self):
        data = b"no client checksum here"
        if s.NEW_CHECKSUMS:
            c = s.s3_client(self.server, checksum="when_required")
            seen = s.capture_headers(c, "PutObject")
            c.put_object(Bucket=self.bucket, Key="when-required", Body=data)
            self.assertFalse([k for k in seen[-1] if k.startswith("x-amz-checksum-")], seen[-1])
            self.assertEqual(c.get_object(Bucket=self.bucket, Key="when-required")["Body"].read(), data)
        else:
            self.s3.put_object(Bucket=self.bucket, Key="when-required", Body=data)
        got = self.head_checksums("when-required")
        self.assertEqual(got.get("x-amz-checksum-crc64nvme"), s.crc64nvme_b64(data), got)
        self.assertEqual(got.get("x-amz-checksum-type"), "FULL_OBJECT")

    def test_checksum_algorithms_through_boto3(self):
        data = os.urandom(33333)
        for alg, attr in (("SHA256", "ChecksumSHA256"), ("SHA1", "ChecksumSHA1"), ("CRC32", "ChecksumCRC32")):
            with self.subTest(alg=alg):
                key = "alg-" + alg
                r = self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ChecksumAlgorithm=alg)
                want = s.CHECKSUMS[alg](data)
                self.assertEqual(r.get(attr), want)
                hd = self.s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
                self.assertEqual(hd.get(attr), want)
                self.assertEqual(self.head_checksums(key).get("x-amz-checksum-" + alg.lower()), want)

    def test_precomputed_checksums_raw(self):
        data = os.urandom(4096) + b"tail"
        for alg, fn in s.CHECKSUMS.items():
            with self.subTest(alg=alg):
                key = "raw-" + alg
                hdr = "x-amz-checksum-" + alg.lower()
                r = self.raw("PUT", obj_path(self.bucket, key), body=data,
                             headers={hdr: fn(data), "x-amz-sdk-checksum-algorithm": alg})
                self.assertStatus(r, 200)
                self.assertEqual(r.header(hdr), fn(data))
                got = self.head_checksums(key)
                self.assertEqual(got.get(hdr), fn(data), got)
                others = {k for k in got if k not in (hdr, "x-amz-checksum-type")}
                self.assertEqual(others, set(), "only the uploaded algorithm is returned")

    def test_crc32c_precomputed_through_boto3(self):
        data = b"crc32c via boto3"
        r = self.s3.put_object(Bucket=self.bucket, Key="b3-crc32c", Body=data, ChecksumCRC32C=s.crc32c_b64(data))
        self.assertEqual(r.get("ChecksumCRC32C"), s.crc32c_b64(data))
        self.assertEqual(self.head_checksums("b3-crc32c").get("x-amz-checksum-crc32c"), s.crc32c_b64(data))

    def test_wrong_checksum_is_bad_digest(self):
        data = b"hello\n"
        wrong = {"CRC32": "AAAAAA==", "CRC32C": "AAAAAA==", "SHA1": s.sha1_b64(b"other"),
                 "SHA256": s.sha256_b64(b"other"), "CRC64NVME": "AAAAAAAAAAA="}
        for alg, value in wrong.items():
            with self.subTest(alg=alg):
                key = "wrong-" + alg
                r = self.raw("PUT", obj_path(self.bucket, key), body=data,
                             headers={"x-amz-checksum-" + alg.lower(): value})
                self.assertS3Error(r, "BadDigest", 400, s.checksum_mismatch_message(alg))
                self.assertNoObject(self.bucket, key)

    def test_wrong_checksum_through_boto3(self):
        self.assertRaisesS3(lambda: self.s3.put_object(Bucket=self.bucket, Key="b3-wrong", Body=b"hello\n",
                                                       ChecksumCRC32="AAAAAA=="),
                            "BadDigest", 400, s.checksum_mismatch_message("CRC32"))
        self.assertNoObject(self.bucket, "b3-wrong")

    def test_wrong_checksum_keeps_previous_object(self):
        self.s3.put_object(Bucket=self.bucket, Key="keep", Body=b"previous")
        r = self.raw("PUT", obj_path(self.bucket, "keep"), body=os.urandom(2 * 1024 * 1024),
                     headers={"x-amz-checksum-sha256": s.sha256_b64(b"nope")})
        self.assertS3Error(r, "BadDigest", 400, s.checksum_mismatch_message("SHA256"))
        self.assertEqual(self.get_body(self.bucket, "keep"), b"previous")

    def test_malformed_checksum_value(self):
        for value in ("not-base64!", s.b64(b"\x00" * 5)):
            with self.subTest(value=value):
                r = self.raw("PUT", obj_path(self.bucket, "malformed"), body=b"x",
                             headers={"x-amz-checksum-crc32": value})
                self.assertS3Error(r, "InvalidRequest", 400, "Value for x-amz-checksum-crc32 header is invalid.")
        self.assertNoObject(self.bucket, "malformed")

    def test_content_md5_and_checksum_together(self):
        data = b"both digests"
        r = self.raw("PUT", obj_path(self.bucket, "both"), body=data,
                     headers={"Content-MD5": s.md5_b64(data), "x-amz-checksum-crc32": s.crc32_b64(data)})
        self.assertStatus(r, 200)
        r = self.raw("PUT", obj_path(self.bucket, "both-bad"), body=data,
                     headers={"Content-MD5": s.md5_b64(data), "x-amz-checksum-crc32": "AAAAAA=="})
        self.assertS3Error(r, "BadDigest", 400)
        self.assertNoObject(self.bucket, "both-bad")

    def test_ranged_get_has_no_full_object_checksum(self):
        data = os.urandom(10000)
        self.raw("PUT", obj_path(self.bucket, "ranged"), body=data,
                 headers={"x-amz-checksum-crc32": s.crc32_b64(data)})
        r = self.raw("GET", obj_path(self.bucket, "ranged"),
                     headers={"Range": "bytes=0-99", "x-amz-checksum-mode": "ENABLED"})
        self.assertStatus(r, 206)
        self.assertEqual({k for k in checksum_headers(r) if k != "x-amz-checksum-type"}, set())
        # boto3 1.43 validates response checksums by default: a ranged GET must work.
        g = self.s3.get_object(Bucket=self.bucket, Key="ranged", Range="bytes=100-199")
        self.assertEqual(g["Body"].read(), data[100:200])

    def test_checksum_survives_copy(self):
        data = b"copy my checksum"
        self.raw("PUT", obj_path(self.bucket, "ck-src"), body=data,
                 headers={"x-amz-checksum-sha256": s.sha256_b64(data)})
        self.s3.copy_object(Bucket=self.bucket, Key="ck-dst", CopySource={"Bucket": self.bucket, "Key": "ck-src"})
        got = self.head_checksums("ck-dst")
        self.assertEqual(got.get("x-amz-checksum-sha256"), s.sha256_b64(data), got)


class ListingChecksumTest(s.S3TestCase):
    """ListObjectsV2 names each object's checksum algorithm and type (recorded
    S3 responses: "ChecksumAlgorithm": ["CRC32"], "ChecksumType":
    "FULL_OBJECT"; objects stored without a checksum carry S3's default
    CRC64NVME)."""

    def test_listing_reports_checksum_algorithm(self):
        b = self.make_bucket("lck")
        self.raw("PUT", obj_path(b, "crc32"), body=b"a", headers={"x-amz-checksum-crc32": s.crc32_b64(b"a")})
        self.raw("PUT", obj_path(b, "sha256"), body=b"b", headers={"x-amz-checksum-sha256": s.sha256_b64(b"b")})
        self.raw("PUT", obj_path(b, "none"), body=b"c")
        r = self.raw("GET", obj_path(b, query=[("list-type", "2")]))
        self.assertStatus(r, 200)
        root = s.strip_ns(s.parse_xml(r.body))
        got = {c.findtext("Key"): (c.findtext("ChecksumAlgorithm"), c.findtext("ChecksumType"))
               for c in root.findall("Contents")}
        self.assertEqual(got, {"crc32": ("CRC32", "FULL_OBJECT"), "sha256": ("SHA256", "FULL_OBJECT"),
                               "none": ("CRC64NVME", "FULL_OBJECT")})


class AwsChunkedTest(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("chunk")

    def unsigned_trailer_request(self, key, chunks, trailer_value=None, outer_chunked=False):
        data = b"".join(chunks)
        value = trailer_value or s.crc32_b64(data)
        body = s.aws_chunked_unsigned_trailer(chunks, "x-amz-checksum-crc32", value)
        path = obj_path(self.bucket, key)
        headers = {
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(len(data)),
            "x-amz-trailer": "x-amz-checksum-crc32",
            "x-amz-sdk-checksum-algorithm": "CRC32",
        }
        if outer_chunked:
            headers["Transfer-Encoding"] = "chunked"
        hdrs, _ = s.sign_headers(self.server, "PUT", path, b"", headers,
                                 payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        if outer_chunked:
            pieces = [body[i:i + 7000] for i in range(0, len(body), 7000)]
            return s.send(self.server, "PUT", path, pieces, hdrs, chunked=True)
        hdrs["Content-Length"] = str(len(body))
        return s.send(self.server, "PUT", path, body, hdrs)

    def test_unsigned_payload_trailer(self):
        chunks = [os.urandom(65536), os.urandom(65536), os.urandom(1234)]
        data = b"".join(chunks)
        r = self.unsigned_trailer_request("trailer", chunks)
        self.assertStatus(r, 200)
        self.assertEqual(r.header("ETag"), s.etag_of(data))
        self.assertEqual(r.header("x-amz-checksum-crc32"), s.crc32_b64(data))
        g = self.s3.get_object(Bucket=self.bucket, Key="trailer")
        self.assertEqual(g["Body"].read(), data, "only the decoded bytes are stored")
        self.assertEqual(g["ContentLength"], len(data))
        self.assertNotEqual(g.get("ContentEncoding"), "aws-chunked")
        hd = self.raw("HEAD", obj_path(self.bucket, "trailer"), headers={"x-amz-checksum-mode": "ENABLED"})
        self.assertEqual(hd.header("x-amz-checksum-crc32"), s.crc32_b64(data))
        self.assertIsNone(hd.header("Content-Encoding"), "aws-chunked is not a stored content encoding")

    def test_unsigned_payload_trailer_over_transfer_encoding_chunked(self):
        # What the JS SDK v3 sends for a stream: no Content-Length at all.
        chunks = [os.urandom(20000), os.urandom(30000)]
        r = self.unsigned_trailer_request("trailer-te", chunks, outer_chunked=True)
        self.assertStatus(r, 200)
        self.assertEqual(self.get_body(self.bucket, "trailer-te"), b"".join(chunks))

    def test_unsigned_payload_trailer_wrong_checksum(self):
        r = self.unsigned_trailer_request("trailer-bad", [b"hello\n"], trailer_value="AAAAAA==")
        self.assertS3Error(r, "BadDigest", 400, s.checksum_mismatch_message("CRC32"))
        self.assertNoObject(self.bucket, "trailer-bad")

    def test_empty_body_trailer(self):
        r = self.unsigned_trailer_request("trailer-empty", [])
        self.assertStatus(r, 200)
        self.assertEqual(self.get_body(self.bucket, "trailer-empty"), b"")

    def test_signed_chunks(self):
        chunks = [os.urandom(65536), os.urandom(10000)]
        path = obj_path(self.bucket, "signed-chunks")
        hdrs, body = s.aws_chunked_signed(self.server, "PUT", path, chunks)
        r = s.send(self.server, "PUT", path, body, hdrs)
        self.assertStatus(r, 200)
        self.assertEqual(r.header("ETag"), s.etag_of(b"".join(chunks)))
        self.assertEqual(self.get_body(self.bucket, "signed-chunks"), b"".join(chunks))

    def test_signed_chunks_with_trailer(self):
        chunks = [os.urandom(8192), b"end"]
        data = b"".join(chunks)
        path = obj_path(self.bucket, "signed-trailer")
        hdrs, body = s.aws_chunked_signed(self.server, "PUT", path, chunks,
                                          trailer=("x-amz-checksum-crc32", s.crc32_b64(data)))
        r = s.send(self.server, "PUT", path, body, hdrs)
        self.assertStatus(r, 200)
        self.assertEqual(self.get_body(self.bucket, "signed-trailer"), data)
        hd = self.raw("HEAD", path, headers={"x-amz-checksum-mode": "ENABLED"})
        self.assertEqual(hd.header("x-amz-checksum-crc32"), s.crc32_b64(data))

    def test_bad_chunk_signature(self):
        chunks = [os.urandom(65536), os.urandom(100)]
        path = obj_path(self.bucket, "bad-chunk-sig")
        hdrs, body = s.aws_chunked_signed(self.server, "PUT", path, chunks, corrupt_chunk=1)
        r = s.send(self.server, "PUT", path, body, hdrs)
        self.assertS3Error(r, "SignatureDoesNotMatch", 403)
        self.assertNoObject(self.bucket, "bad-chunk-sig")

    def test_tampered_chunk_data(self):
        chunks = [b"A" * 70000]
        path = obj_path(self.bucket, "tampered-chunk")
        hdrs, body = s.aws_chunked_signed(self.server, "PUT", path, chunks)
        body = body.replace(b"A" * 10, b"B" * 10, 1)
        r = s.send(self.server, "PUT", path, body, hdrs)
        self.assertS3Error(r, "SignatureDoesNotMatch", 403)
        self.assertNoObject(self.bucket, "tampered-chunk")

    def test_decoded_length_mismatch(self):
        # x-amz-decoded-content-length (signed) disagrees with the chunks:
        # the server must refuse rather than store a truncated/padded object.
        path = obj_path(self.bucket, "short")
        hdrs, body = s.aws_chunked_signed(self.server, "PUT", path, [b"12345"], decoded_length=6)
        r = s.send(self.server, "PUT", path, body, hdrs)
        self.assertEqual(r.status, 400, r)
        self.assertNoObject(self.bucket, "short")


if __name__ == "__main__":
    unittest.main()
