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
* The value must be exactly the base64 of the digest: "y/Q5Jh==" decodes to
  four bytes but is not canonical, so it is invalid like "not-base64!".  Two
  x-amz-checksum-* headers -> InvalidRequest "Expecting a single
  x-amz-checksum- header. Multiple checksum Types are not allowed."; a
  header plus an x-amz-trailer checksum -> the same without the second
  sentence.  x-amz-sdk-checksum-algorithm naming another algorithm than the
  header (or trailer) sent -> InvalidRequest "Value for
  x-amz-sdk-checksum-algorithm header is invalid." (versitygw#1598).
* Trailers: x-amz-trailer names one x-amz-checksum-<alg> ("The value
  specified in the x-amz-trailer header is not supported" otherwise); a
  checksum trailer other than the announced one -> MalformedTrailerError; an
  invalid trailer value -> InvalidRequest "Value for x-amz-checksum-crc32
  trailing header is invalid." (as Swift's s3api and versitygw answer).
* aws-chunked bodies (STREAMING-UNSIGNED-PAYLOAD-TRAILER,
  STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]) store only the decoded bytes;
  a bad chunk signature -> 403 SignatureDoesNotMatch.
"""

import base64
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


MALFORMED_TRAILER = ("The request contained trailing data that was not well-formed or did not conform "
                     "to our published schema.")


def non_canonical(value):
    """The same bytes in base64 with an unused low bit of the last character set."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    body = value.rstrip("=")
    assert value.endswith("="), "only a padded encoding has unused bits"
    last = alphabet[alphabet.index(body[-1]) ^ 1]
    return body[:-1] + last + value[len(body):]


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

    def test_sdk_algorithm_must_name_the_checksum_sent(self):
        # S3: "Value for x-amz-sdk-checksum-algorithm header is invalid." when it
        # disagrees with the x-amz-checksum-<alg> header (versitygw#1598, recorded).
        data = b"sdk algorithm"
        for sdk in ("CRC32C", "SHA256", "MD5", "x-amz-checksum-crc32"):
            with self.subTest(sdk=sdk):
                r = self.raw("PUT", obj_path(self.bucket, "sdk-mismatch"), body=data,
                             headers={"x-amz-checksum-crc32": s.crc32_b64(data),
                                      "x-amz-sdk-checksum-algorithm": sdk})
                self.assertS3Error(r, "InvalidRequest", 400,
                                   "Value for x-amz-sdk-checksum-algorithm header is invalid.")
                self.assertNoObject(self.bucket, "sdk-mismatch")
        r = self.raw("PUT", obj_path(self.bucket, "sdk-match"), body=data,
                     headers={"x-amz-checksum-crc32": s.crc32_b64(data), "x-amz-sdk-checksum-algorithm": "crc32"})
        self.assertStatus(r, 200)

    def test_sdk_algorithm_without_a_checksum_is_refused(self):
        # S3: the SDK's x-amz-sdk-checksum-algorithm with no x-amz-checksum-*
        # header or trailer is refused (versitygw#1593, recorded against S3)
        for sdk, msg in (("CRC32", "x-amz-sdk-checksum-algorithm specified, but no corresponding "
                                   "x-amz-checksum-* or x-amz-trailer headers were found."),
                         ("sha256", "x-amz-sdk-checksum-algorithm specified, but no corresponding "
                                    "x-amz-checksum-* or x-amz-trailer headers were found."),
                         ("BOGUS", "Value for x-amz-sdk-checksum-algorithm header is invalid.")):
            with self.subTest(sdk=sdk):
                r = self.raw("PUT", obj_path(self.bucket, "sdk-alone"), body=b"data",
                             headers={"x-amz-sdk-checksum-algorithm": sdk})
                self.assertS3Error(r, "InvalidRequest", 400, msg)
                self.assertNoObject(self.bucket, "sdk-alone")

    def test_non_canonical_checksum_value_is_invalid(self):
        # Base64 whose unused low bits are set decodes to the right number of
        # bytes but is not the checksum's encoding: S3 calls the header invalid.
        data = b"canonical only"
        for alg, fn in s.CHECKSUMS.items():
            hdr = "x-amz-checksum-" + alg.lower()
            with self.subTest(alg=alg):
                bad = non_canonical(fn(data))
                self.assertEqual(base64.b64decode(bad), base64.b64decode(fn(data)))
                r = self.raw("PUT", obj_path(self.bucket, "noncanon"), body=data, headers={hdr: bad})
                self.assertS3Error(r, "InvalidRequest", 400, "Value for %s header is invalid." % hdr)
                self.assertNoObject(self.bucket, "noncanon")
        r = self.raw("PUT", obj_path(self.bucket, "noncanon"), body=b"x", headers={"x-amz-checksum-crc32": "y/Q5Jh=="})
        self.assertS3Error(r, "InvalidRequest", 400, "Value for x-amz-checksum-crc32 header is invalid.")
        self.assertNoObject(self.bucket, "noncanon")

    def test_two_checksum_headers(self):
        data = b"two sums"
        r = self.raw("PUT", obj_path(self.bucket, "two-sums"), body=data,
                     headers={"x-amz-checksum-crc32": s.crc32_b64(data), "x-amz-checksum-sha256": s.sha256_b64(data)})
        self.assertS3Error(r, "InvalidRequest", 400,
                           "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
        self.assertNoObject(self.bucket, "two-sums")

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

    def unsigned_trailer_request(self, key, chunks, trailer_value=None, outer_chunked=False,
                                 trailer_name="x-amz-checksum-crc32", announce="x-amz-checksum-crc32",
                                 sdk="CRC32", extra_headers=None, extra_trailer=None):
        data = b"".join(chunks)
        value = trailer_value or s.crc32_b64(data)
        body = s.aws_chunked_unsigned_trailer(chunks, trailer_name, value)
        if extra_trailer:  # one more "name:value" line before the final blank line
            body = body[:-2] + ("%s:%s\r\n" % extra_trailer).encode() + b"\r\n"
        path = obj_path(self.bucket, key)
        headers = {
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(len(data)),
            "x-amz-trailer": announce,
            "x-amz-sdk-checksum-algorithm": sdk,
        }
        headers = {k: v for k, v in dict(headers, **(extra_headers or {})).items() if v is not None}
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

    def test_trailer_sdk_algorithm_mismatch(self):
        r = self.unsigned_trailer_request("trailer-sdk", [b"hello\n"], sdk="SHA256")
        self.assertS3Error(r, "InvalidRequest", 400, "Value for x-amz-sdk-checksum-algorithm header is invalid.")
        self.assertNoObject(self.bucket, "trailer-sdk")

    def test_trailer_other_than_announced(self):
        # x-amz-trailer names CRC32, a SHA256 trailer arrives instead (or beside it).
        data = b"hello\n"
        for name, extra in (("x-amz-checksum-sha256", None),
                            ("x-amz-checksum-crc32", ("x-amz-checksum-sha256", s.sha256_b64(data)))):
            with self.subTest(name=name, extra=extra):
                value = s.sha256_b64(data) if name.endswith("sha256") else None
                r = self.unsigned_trailer_request("trailer-other", [data], trailer_value=value,
                                                  trailer_name=name, extra_trailer=extra)
                self.assertS3Error(r, "MalformedTrailerError", 400, MALFORMED_TRAILER)
                self.assertNoObject(self.bucket, "trailer-other")

    def test_trailer_value_must_be_canonical_base64(self):
        data = b"hello\n"
        for value in (non_canonical(s.crc32_b64(data)), "not-base64!", s.b64(b"\x00" * 5)):
            with self.subTest(value=value):
                r = self.unsigned_trailer_request("trailer-invalid", [data], trailer_value=value)
                self.assertS3Error(r, "InvalidRequest", 400,
                                   "Value for x-amz-checksum-crc32 trailing header is invalid.")
                self.assertNoObject(self.bucket, "trailer-invalid")

    def test_signed_trailer_value_must_be_canonical_base64(self):
        data = b"signed\n"
        path = obj_path(self.bucket, "signed-trailer-invalid")
        hdrs, body = s.aws_chunked_signed(self.server, "PUT", path, [data],
                                          trailer=("x-amz-checksum-sha1", non_canonical(s.sha1_b64(data))))
        r = s.send(self.server, "PUT", path, body, hdrs)
        self.assertS3Error(r, "InvalidRequest", 400, "Value for x-amz-checksum-sha1 trailing header is invalid.")
        self.assertNoObject(self.bucket, "signed-trailer-invalid")

    def test_x_amz_trailer_names_one_checksum(self):
        data = b"hello\n"
        cases = [
            ("x-amz-checksum-crc32,x-amz-checksum-sha256", None,
             "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."),
            ("CRC32", None, "The value specified in the x-amz-trailer header is not supported"),
            ("x-amz-checksum-crc32, x-amz-meta-a", None,
             "The value specified in the x-amz-trailer header is not supported"),
            # a checksum header and a checksum trailer: S3's shorter wording
            ("x-amz-checksum-crc32", {"x-amz-checksum-crc32": s.crc32_b64(data)},
             "Expecting a single x-amz-checksum- header"),
        ]
        for announce, extra, msg in cases:
            with self.subTest(announce=announce, extra=extra):
                r = self.unsigned_trailer_request("trailer-names", [data], announce=announce, extra_headers=extra)
                self.assertS3Error(r, "InvalidRequest", 400, msg)
                self.assertNoObject(self.bucket, "trailer-names")
        r = self.unsigned_trailer_request("trailer-names", [data], announce=" x-amz-checksum-crc32 ,", sdk="crc32")
        self.assertStatus(r, 200)

    def test_trailer_announced_on_plain_body(self):
        # Only aws-chunked bodies carry trailers (this once dropped the connection).
        r = self.raw("PUT", obj_path(self.bucket, "plain-trailer"), body=b"abc",
                     headers={"x-amz-trailer": "x-amz-checksum-crc32"})
        self.assertS3Error(r, "MalformedTrailerError", 400, MALFORMED_TRAILER)
        self.assertNoObject(self.bucket, "plain-trailer")
        uid = self.s3.create_multipart_upload(Bucket=self.bucket, Key="plain-trailer")["UploadId"]
        r = self.raw("PUT", obj_path(self.bucket, "plain-trailer", query=[("partNumber", "1"), ("uploadId", uid)]),
                     body=b"abc", headers={"x-amz-trailer": "x-amz-checksum-crc32"})
        self.assertS3Error(r, "MalformedTrailerError", 400, MALFORMED_TRAILER)
        self.assertEqual(self.s3.list_parts(Bucket=self.bucket, Key="plain-trailer", UploadId=uid).get("Parts", []), [])
        self.s3.abort_multipart_upload(Bucket=self.bucket, Key="plain-trailer", UploadId=uid)

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
