"""S3 objects: PutObject / GetObject / HeadObject / DeleteObject.

Bytes round-trip, ETag, system and user metadata, Last-Modified, NoSuchKey,
Range GETs, conditional GET/HEAD/PUT, Content-MD5, hostile keys, key length,
Expect: 100-continue and chunked transfer encoding.

AWS facts asserted here (API reference GetObject/PutObject/HeadObject and the
error table, plus responses recorded against S3):
* ETag of a single PUT is the quoted hex MD5 of the body.
* Without Content-Type the object's type is binary/octet-stream.
* User metadata names come back lower-case; non-ASCII values travel RFC 2047
  encoded ("Values ... are character decoded as per RFC 2047 before storing
  and encoded as per RFC 2047 ... before returning").
* NoSuchKey: 404, "The specified key does not exist.", <Key>, <RequestId>.
  HEAD of a missing key: 404 with no body.
* Range: 206 + Content-Range "bytes a-b/size"; an unsatisfiable range is 416
  InvalidRange "The requested range is not satisfiable" with <RangeRequested>
  and <ActualObjectSize>; a syntactically invalid Range is ignored (200).
* If-Match fails -> 412 PreconditionFailed (Condition If-Match);
  If-None-Match matches -> 304; If-Modified-Since not modified -> 304;
  If-Unmodified-Since fails -> 412; If-Match true + If-Unmodified-Since false
  -> 200; If-None-Match false + If-Modified-Since true -> 304.
* Conditional writes: If-None-Match: * on an existing key -> 412
  PreconditionFailed (Condition If-None-Match); If-Match with a wrong ETag ->
  412; If-Match on a missing key -> 404 NoSuchKey.
* Content-MD5 that does not match -> 400 BadDigest "The Content-MD5 you
  specified did not match what we received." with <ExpectedDigest> (hex) and
  <CalculatedDigest> (base64); malformed -> 400 InvalidDigest "The Content-MD5
  you specified was invalid."
* Keys are up to 1024 UTF-8 bytes; longer -> 400 KeyTooLongError "Your key is
  too long" (<Size>, <MaxSizeAllowed>).
* DeleteObject of a missing key -> 204.
"""

import datetime
import email.header
import gzip
import hashlib
import http.client
import os
import socket
import time
import unittest

import s3_harness as s
from s3_harness import ClientError, obj_path


def setUpModule():
    s.start(__name__)


def tearDownModule():
    s.stop(__name__)


MIB = 1024 * 1024


class RoundTripTest(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("rt")

    def roundtrip(self, data, key, client=None):
        c = client or self.s3
        r = c.put_object(Bucket=self.bucket, Key=key, Body=data)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(r["ETag"], s.etag_of(data))
        g = c.get_object(Bucket=self.bucket, Key=key)
        body = g["Body"].read()
        self.assertEqual(len(body), len(data))
        self.assertTrue(body == data, "body differs (md5 %s vs %s)" % (s.md5_hex(body), s.md5_hex(data)))
        self.assertEqual(g["ContentLength"], len(data))
        self.assertEqual(g["ETag"], s.etag_of(data))
        hd = c.head_object(Bucket=self.bucket, Key=key)
        self.assertEqual(hd["ContentLength"], len(data))
        self.assertEqual(hd["ETag"], s.etag_of(data))

    def test_empty_object(self):
        self.roundtrip(b"", "empty")
        r = self.raw("GET", obj_path(self.bucket, "empty"))
        self.assertStatus(r, 200)
        self.assertEqual(r.header("Content-Length"), "0")
        self.assertEqual(r.header("ETag"), '"d41d8cd98f00b204e9800998ecf8427e"')

    def test_one_byte(self):
        self.roundtrip(b"\x00", "one-byte")

    def test_all_byte_values(self):
        self.roundtrip(bytes(range(256)) * 4, "bytes-256")

    def test_one_mib(self):
        self.roundtrip(os.urandom(MIB), "one-mib")

    def test_twenty_mib_random(self):
        self.roundtrip(os.urandom(20 * MIB), "twenty-mib")

    def test_roundtrip_sigv4_client(self):
        self.roundtrip(os.urandom(70000), "sigv4", client=self.s3v4)

    def test_overwrite_replaces_body_and_metadata(self):
        self.s3.put_object(Bucket=self.bucket, Key="ow", Body=b"first", Metadata={"a": "1"},
                           ContentType="text/plain")
        self.s3.put_object(Bucket=self.bucket, Key="ow", Body=b"second!", Metadata={"b": "2"})
        g = self.s3.get_object(Bucket=self.bucket, Key="ow")
        self.assertEqual(g["Body"].read(), b"second!")
        self.assertEqual(g["Metadata"], {"b": "2"})
        self.assertEqual(g["ContentType"], "binary/octet-stream")
        self.assertEqual(g["ETag"], s.etag_of(b"second!"))

    def test_raw_get_headers(self):
        data = b"hello raw world"
        put = self.raw("PUT", obj_path(self.bucket, "raw-hdrs"), body=data)
        self.assertStatus(put, 200)
        self.assertEqual(put.header("ETag"), s.etag_of(data))
        self.assertTrue(put.header("x-amz-request-id"))
        r = self.raw("GET", obj_path(self.bucket, "raw-hdrs"))
        self.assertStatus(r, 200)
        self.assertEqual(r.body, data)
        self.assertEqual(r.header("Content-Length"), str(len(data)))
        self.assertEqual(r.header("Content-Type"), "binary/octet-stream")
        self.assertEqual(r.header("Accept-Ranges"), "bytes")
        self.assertEqual(r.header("ETag"), s.etag_of(data))
        self.assertTrue(r.header("x-amz-request-id"))
        self.assertTrue(r.header("Last-Modified"))
        h = self.raw("HEAD", obj_path(self.bucket, "raw-hdrs"))
        self.assertStatus(h, 200)
        self.assertEqual(h.body, b"")
        self.assertEqual(h.header("Content-Length"), str(len(data)))
        self.assertEqual(h.header("ETag"), s.etag_of(data))

    def test_put_with_transfer_encoding_chunked(self):
        # Clients that stream (curl -T -, Java/JS SDKs with unknown length) send
        # Transfer-Encoding: chunked without Content-Length.
        pieces = [os.urandom(1000), os.urandom(70000), b"tail"]
        data = b"".join(pieces)
        path = obj_path(self.bucket, "te-chunked")
        hdrs, _ = s.sign_headers(self.server, "PUT", path, b"", {"Transfer-Encoding": "chunked"},
                                 payload_hash="UNSIGNED-PAYLOAD")
        r = s.send(self.server, "PUT", path, pieces, hdrs, chunked=True)
        self.assertStatus(r, 200)
        self.assertEqual(r.header("ETag"), s.etag_of(data))
        self.assertEqual(self.get_body(self.bucket, "te-chunked"), data)

    def test_put_with_wrong_payload_sha256(self):
        path = obj_path(self.bucket, "bad-sha")
        hdrs, _ = s.sign_headers(self.server, "PUT", path, b"", {},
                                 payload_hash=hashlib.sha256(b"something else").hexdigest())
        r = s.send(self.server, "PUT", path, b"the real body", hdrs)
        self.assertS3Error(r, "XAmzContentSHA256Mismatch", 400,
                           "The provided 'x-amz-content-sha256' header does not match what was computed.")
        self.assertNoObject(self.bucket, "bad-sha")

    def test_objects_are_per_bucket(self):
        other = self.make_bucket("rt2")
        self.s3.put_object(Bucket=self.bucket, Key="shared-name", Body=b"one")
        self.s3.put_object(Bucket=other, Key="shared-name", Body=b"two")
        self.assertEqual(self.get_body(self.bucket, "shared-name"), b"one")
        self.assertEqual(self.get_body(other, "shared-name"), b"two")


class MetadataTest(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("meta")

    def test_system_metadata_stored_and_returned(self):
        expires = datetime.datetime(2037, 1, 1, 0, 0, 0, tzinfo=datetime.timezone.utc)
        body = gzip.compress(b"compressed content " * 50)
        self.s3.put_object(Bucket=self.bucket, Key="sys", Body=body,
                           ContentType="text/csv; charset=utf-8",
                           CacheControl="max-age=3600, public",
                           ContentDisposition='attachment; filename="report.csv"',
                           ContentEncoding="gzip",
                           ContentLanguage="de-CH",
                           Expires=expires)
        want = {
            "Content-Type": "text/csv; charset=utf-8",
            "Cache-Control": "max-age=3600, public",
            "Content-Disposition": 'attachment; filename="report.csv"',
            "Content-Encoding": "gzip",
            "Content-Language": "de-CH",
            "Expires": "Thu, 01 Jan 2037 00:00:00 GMT",
        }
        for method in ("GET", "HEAD"):
            r = self.raw(method, obj_path(self.bucket, "sys"))
            self.assertStatus(r, 200)
            for k, v in want.items():
                with self.subTest(method=method, header=k):
                    self.assertEqual(r.header(k), v)
            if method == "GET":
                self.assertEqual(r.body, body, "a gzip Content-Encoding must not be decoded by the store")
        g = self.s3.get_object(Bucket=self.bucket, Key="sys")
        self.assertEqual(g["ContentType"], "text/csv; charset=utf-8")
        self.assertEqual(g["CacheControl"], "max-age=3600, public")
        self.assertEqual(g["ContentDisposition"], 'attachment; filename="report.csv"')
        self.assertEqual(g["ContentEncoding"], "gzip")
        self.assertEqual(g["ContentLanguage"], "de-CH")
        self.assertEqual(g["Body"].read(), body)

    def test_default_content_type(self):
        r = self.raw("PUT", obj_path(self.bucket, "no-type"), body=b"x")
        self.assertStatus(r, 200)
        self.assertEqual(self.s3.head_object(Bucket=self.bucket, Key="no-type")["ContentType"],
                         "binary/octet-stream")

    def test_user_metadata_names_lowercased(self):
        self.s3.put_object(Bucket=self.bucket, Key="user", Body=b"x",
                           Metadata={"Color": "Blue", "x-Multi-Dash": "a b  c", "UPPER": "V@lue=1;2"})
        want = {"color": "Blue", "x-multi-dash": "a b  c", "upper": "V@lue=1;2"}
        self.assertEqual(self.s3.head_object(Bucket=self.bucket, Key="user")["Metadata"], want)
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="user")["Metadata"], want)
        r = self.raw("HEAD", obj_path(self.bucket, "user"))
        names = [k.lower() for k in r.headers.keys() if k.lower().startswith("x-amz-meta-")]
        self.assertEqual(sorted(names), ["x-amz-meta-color", "x-amz-meta-upper", "x-amz-meta-x-multi-dash"])

    def test_user_metadata_raw_headers(self):
        r = self.raw("PUT", obj_path(self.bucket, "raw-meta"), body=b"x",
                     headers={"X-Amz-Meta-Project": "tweedle", "x-amz-meta-Spaces": " inner space "})
        self.assertStatus(r, 200)
        hd = self.raw("HEAD", obj_path(self.bucket, "raw-meta"))
        self.assertEqual(hd.header("x-amz-meta-project"), "tweedle")
        self.assertEqual(hd.header("x-amz-meta-spaces"), "inner space")

    def test_unicode_metadata_rfc2047(self):
        text = "ключ 日本 ü"
        encoded = "=?UTF-8?B?%s?=" % s.b64(text.encode("utf-8"))
        self.s3.put_object(Bucket=self.bucket, Key="uni-meta", Body=b"x", Metadata={"title": encoded})
        r = self.raw("HEAD", obj_path(self.bucket, "uni-meta"))
        value = r.header("x-amz-meta-title")
        self.assertIsNotNone(value)
        value.encode("ascii")  # must be mail-safe ASCII on the wire
        parts = email.header.decode_header(value)
        decoded = "".join(p.decode(cs or "ascii") if isinstance(p, bytes) else p for p, cs in parts)
        self.assertEqual(decoded, text)

    def test_last_modified(self):
        before = s.now_utc().replace(microsecond=0) - datetime.timedelta(seconds=2)
        self.s3.put_object(Bucket=self.bucket, Key="lm", Body=b"x")
        after = s.now_utc() + datetime.timedelta(seconds=2)
        hd = self.s3.head_object(Bucket=self.bucket, Key="lm")
        lm = hd["LastModified"]
        self.assertTrue(before <= lm <= after, "LastModified %s not within %s..%s" % (lm, before, after))
        raw = self.raw("HEAD", obj_path(self.bucket, "lm"))
        self.assertRegex(raw.header("Last-Modified"),
                         r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                         r"\d{4} \d\d:\d\d:\d\d GMT$")
        listed = [o for o in self.s3.list_objects_v2(Bucket=self.bucket, Prefix="lm")["Contents"] if o["Key"] == "lm"]
        self.assertEqual(listed[0]["LastModified"].replace(microsecond=0), lm)

    def test_response_header_overrides(self):
        self.s3.put_object(Bucket=self.bucket, Key="override", Body=b"a,b\n", ContentType="text/plain")
        g = self.s3.get_object(Bucket=self.bucket, Key="override", ResponseContentType="text/csv",
                               ResponseContentDisposition='attachment; filename="x.csv"',
                               ResponseCacheControl="no-cache", ResponseContentLanguage="fr",
                               ResponseContentEncoding="identity")
        self.assertEqual(g["ContentType"], "text/csv")
        self.assertEqual(g["ContentDisposition"], 'attachment; filename="x.csv"')
        self.assertEqual(g["CacheControl"], "no-cache")
        self.assertEqual(g["ContentLanguage"], "fr")
        self.assertEqual(g["ContentEncoding"], "identity")
        self.assertEqual(self.s3.head_object(Bucket=self.bucket, Key="override")["ContentType"], "text/plain")


class LimitsAndConnectionTest(s.S3TestCase):
    """User-metadata size limit, interrupted uploads, keep-alive after errors."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("limits")

    def test_user_metadata_limit_2kb(self):
        # "The size of user-defined metadata is measured by taking the sum of
        # the number of bytes in the UTF-8 encoding of each key and value";
        # at most 2 KB.
        ok = {"a": "x" * 2000, "b": "y" * 46}                      # 1+2000 + 1+46 = 2048
        self.s3.put_object(Bucket=self.bucket, Key="meta-2048", Body=b"x", Metadata=ok)
        self.assertEqual(self.s3.head_object(Bucket=self.bucket, Key="meta-2048")["Metadata"], ok)
        big = {"a": "x" * 2000, "b": "y" * 47}                     # 2049
        self.assertRaisesS3(lambda: self.s3.put_object(Bucket=self.bucket, Key="meta-2049", Body=b"x", Metadata=big),
                            "MetadataTooLarge", 400, "Your metadata headers exceed the maximum allowed metadata size.")
        self.assertNoObject(self.bucket, "meta-2049")

    def test_interrupted_upload_stores_nothing(self):
        path = obj_path(self.bucket, "interrupted")
        body = os.urandom(300000)
        hdrs, _ = s.sign_headers(self.server, "PUT", path, b"", {}, payload_hash="UNSIGNED-PAYLOAD")
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        head = "PUT %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n" % (path, self.server.port, len(body))
        for k, v in hdrs.items():
            head += "%s: %s\r\n" % (k, v)
        sock.sendall(head.encode() + b"\r\n" + body[:50000])
        time.sleep(0.3)
        sock.close()
        time.sleep(0.5)
        self.assertNoObject(self.bucket, "interrupted")
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="interrupted").get("Contents", [])
        self.assertEqual(listed, [])

    def test_interrupted_overwrite_keeps_old_version(self):
        self.s3.put_object(Bucket=self.bucket, Key="keep-old", Body=b"old version")
        path = obj_path(self.bucket, "keep-old")
        hdrs, _ = s.sign_headers(self.server, "PUT", path, b"", {}, payload_hash="UNSIGNED-PAYLOAD")
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        head = "PUT %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 1000000\r\n" % (path, self.server.port)
        for k, v in hdrs.items():
            head += "%s: %s\r\n" % (k, v)
        sock.sendall(head.encode() + b"\r\n" + b"N" * 100000)
        time.sleep(0.3)
        sock.close()
        time.sleep(0.5)
        self.assertEqual(self.get_body(self.bucket, "keep-old"), b"old version")

    def test_keep_alive_after_refused_put(self):
        """A PUT refused before its body was read must not poison the
        connection: either the server closes it (Connection: close) or the
        next request on it gets its own, correct answer."""
        self.s3.put_object(Bucket=self.bucket, Key="ka", Body=b"keep-alive target")
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        try:
            body = os.urandom(200000)
            path = obj_path(self.bucket, "ka-bad")
            hdrs, _ = s.sign_headers(self.server, "PUT", path, body, {}, secret_key="wrong-secret")
            conn.request("PUT", path, body=body, headers=hdrs)
            r1 = conn.getresponse()
            r1.read()
            self.assertEqual(r1.status, 403)
            closing = (r1.getheader("Connection") or "").lower() == "close"
            path2 = obj_path(self.bucket, "ka")
            hdrs2, _ = s.sign_headers(self.server, "GET", path2)
            try:
                conn.request("GET", path2, headers=hdrs2)
                r2 = conn.getresponse()
                data = r2.read()
            except (http.client.HTTPException, OSError) as e:
                self.assertTrue(closing, "connection dropped without Connection: close: %r" % e)
                return
            self.assertEqual((r2.status, data), (200, b"keep-alive target"))
        finally:
            conn.close()

    def test_keep_alive_many_requests_one_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        try:
            for i in range(50):
                path = obj_path(self.bucket, "ka-loop/%d" % i)
                body = ("body %d" % i).encode()
                hdrs, _ = s.sign_headers(self.server, "PUT", path, body)
                conn.request("PUT", path, body=body, headers=hdrs)
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
                hdrs, _ = s.sign_headers(self.server, "GET", path)
                conn.request("GET", path, headers=hdrs)
                r = conn.getresponse()
                self.assertEqual(r.read(), body)
                hdrs, _ = s.sign_headers(self.server, "GET", obj_path(self.bucket, "ka-loop/missing"))
                conn.request("GET", obj_path(self.bucket, "ka-loop/missing"), headers=hdrs)
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, 404)
        finally:
            conn.close()

    def test_parallel_uploads(self):
        bodies = {"par/%02d" % i: os.urandom(512 * 1024 + i) for i in range(24)}
        fns = [lambda k=k, b=b: self.s3.put_object(Bucket=self.bucket, Key=k, Body=b) for k, b in bodies.items()]
        _, errors, stuck = s.h.run_threads(fns, timeout=60)
        self.assertEqual(stuck, 0)
        self.assertEqual([e for e in errors if e], [])
        fns = [lambda k=k: self.get_body(self.bucket, k) for k in bodies]
        results, errors, stuck = s.h.run_threads(fns, timeout=60)
        self.assertEqual([e for e in errors if e], [])
        self.assertTrue(all(r == b for r, b in zip(results, bodies.values())))


class MissingAndDeleteTest(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("del")

    def test_get_missing_key(self):
        self.assertRaisesS3(lambda: self.s3.get_object(Bucket=self.bucket, Key="no/such key"),
                            "NoSuchKey", 404, s.MSG_NO_SUCH_KEY, Key="no/such key")

    def test_get_missing_key_raw_xml(self):
        r = self.raw("GET", obj_path(self.bucket, "missing-ü"))
        e = self.assertS3Error(r, "NoSuchKey", 404, s.MSG_NO_SUCH_KEY, Key="missing-ü")
        self.assertIn("HostId", e)
        self.assertTrue(r.header("x-amz-request-id"))
        self.assertTrue(r.header("x-amz-id-2"))

    def test_head_missing_key_404_no_body(self):
        with self.assertRaises(ClientError) as cm:
            self.s3.head_object(Bucket=self.bucket, Key="nothing")
        self.assertS3Error(cm.exception, "404", 404)
        r = self.raw("HEAD", obj_path(self.bucket, "nothing"))
        self.assertEqual(r.status, 404)
        self.assertEqual(r.body, b"")

    def test_prefix_of_existing_key_is_not_an_object(self):
        self.s3.put_object(Bucket=self.bucket, Key="dir/file", Body=b"x")
        self.assertRaisesS3(lambda: self.s3.get_object(Bucket=self.bucket, Key="dir/"), "NoSuchKey", 404)
        self.assertRaisesS3(lambda: self.s3.get_object(Bucket=self.bucket, Key="dir"), "NoSuchKey", 404)

    def test_delete_existing(self):
        self.s3.put_object(Bucket=self.bucket, Key="gone", Body=b"x")
        r = self.s3.delete_object(Bucket=self.bucket, Key="gone")
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 204)
        self.assertRaisesS3(lambda: self.s3.get_object(Bucket=self.bucket, Key="gone"), "NoSuchKey", 404)
        self.assertNotIn("gone", [o["Key"] for o in self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])])

    def test_delete_missing_key_is_204(self):
        r = self.s3.delete_object(Bucket=self.bucket, Key="never-existed")
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 204)
        raw = self.raw("DELETE", obj_path(self.bucket, "never-existed-2"))
        self.assertEqual(raw.status, 204)
        self.assertEqual(raw.body, b"")

    def test_delete_twice(self):
        self.s3.put_object(Bucket=self.bucket, Key="twice", Body=b"x")
        self.s3.delete_object(Bucket=self.bucket, Key="twice")
        r = self.s3.delete_object(Bucket=self.bucket, Key="twice")
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 204)


class RangeTest(s.S3TestCase):

    DATA = bytes((i * 7 + 3) % 256 for i in range(100))

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("range")
        cls.s3.put_object(Bucket=cls.bucket, Key="obj", Body=cls.DATA)

    def get_range(self, rng):
        return self.raw("GET", obj_path(self.bucket, "obj"), headers={"Range": rng})

    def check(self, rng, start, end):
        r = self.get_range(rng)
        self.assertStatus(r, 206)
        self.assertEqual(r.body, self.DATA[start:end + 1])
        self.assertEqual(r.header("Content-Range"), "bytes %d-%d/%d" % (start, end, len(self.DATA)))
        self.assertEqual(r.header("Content-Length"), str(end - start + 1))
        self.assertEqual(r.header("ETag"), s.etag_of(self.DATA))

    def test_first_ten(self):
        self.check("bytes=0-9", 0, 9)

    def test_from_offset(self):
        self.check("bytes=10-", 10, 99)

    def test_suffix(self):
        self.check("bytes=-5", 95, 99)

    def test_suffix_longer_than_object(self):
        self.check("bytes=-500", 0, 99)

    def test_end_beyond_size_is_clamped(self):
        self.check("bytes=95-200", 95, 99)

    def test_single_last_byte(self):
        self.check("bytes=99-99", 99, 99)

    def test_boto3_range(self):
        g = self.s3.get_object(Bucket=self.bucket, Key="obj", Range="bytes=20-29")
        self.assertEqual(g["Body"].read(), self.DATA[20:30])
        self.assertEqual(g["ContentRange"], "bytes 20-29/100")
        self.assertEqual(g["ResponseMetadata"]["HTTPStatusCode"], 206)

    def test_start_beyond_end_is_416(self):
        r = self.get_range("bytes=100-")
        self.assertS3Error(r, "InvalidRange", 416, s.MSG_INVALID_RANGE, RangeRequested="bytes=100-",
                           ActualObjectSize="100")
        self.assertRaisesS3(lambda: self.s3.get_object(Bucket=self.bucket, Key="obj", Range="bytes=200-300"),
                            "InvalidRange", 416, s.MSG_INVALID_RANGE)

    def test_invalid_range_syntax_is_ignored(self):
        # "bytes= -3-5": a signed start (found by tests/fuzz) was taken as -3
        for rng in ("bytes=abc", "pages=0-1", "bytes=9-3", "bytes= -3-5", "bytes=--5", "bytes=1--5"):
            with self.subTest(range=rng):
                r = self.get_range(rng)
                self.assertStatus(r, 200)
                self.assertEqual(r.body, self.DATA)
                self.assertIsNone(r.header("Content-Range"))

    def test_head_with_range(self):
        r = self.raw("HEAD", obj_path(self.bucket, "obj"), headers={"Range": "bytes=0-9"})
        self.assertStatus(r, 206)
        self.assertEqual(r.header("Content-Length"), "10")
        self.assertEqual(r.header("Content-Range"), "bytes 0-9/100")

    def test_range_on_large_object(self):
        data = os.urandom(3 * MIB + 17)
        self.s3.put_object(Bucket=self.bucket, Key="big", Body=data)
        for start, end in ((0, 0), (MIB - 1, MIB + 1), (3 * MIB, 3 * MIB + 16)):
            with self.subTest(start=start):
                r = self.raw("GET", obj_path(self.bucket, "big"), headers={"Range": "bytes=%d-%d" % (start, end)})
                self.assertStatus(r, 206)
                self.assertEqual(r.body, data[start:end + 1])


class ConditionalReadTest(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("cond")
        cls.data = b"conditional body"
        cls.etag = s.etag_of(cls.data)
        cls.s3.put_object(Bucket=cls.bucket, Key="obj", Body=cls.data)
        cls.lm = cls.s3.head_object(Bucket=cls.bucket, Key="obj")["LastModified"]

    def req(self, method, headers):
        return self.raw(method, obj_path(self.bucket, "obj"), headers=headers)

    def day(self, n):
        return s.rfc1123(self.lm.astimezone(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(days=n))

    def test_if_match(self):
        self.assertStatus(self.req("GET", {"If-Match": self.etag}), 200)
        self.assertStatus(self.req("GET", {"If-Match": self.etag.strip('"')}), 200)
        r = self.req("GET", {"If-Match": '"0123456789abcdef0123456789abcdef"'})
        self.assertS3Error(r, "PreconditionFailed", 412, s.MSG_PRECONDITION, Condition="If-Match")
        self.assertRaisesS3(lambda: self.s3.get_object(Bucket=self.bucket, Key="obj", IfMatch='"nope"'),
                            "PreconditionFailed", 412, s.MSG_PRECONDITION, Condition="If-Match")

    def test_if_none_match(self):
        r = self.req("GET", {"If-None-Match": self.etag})
        self.assertEqual(r.status, 304)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.header("ETag"), self.etag)
        self.assertStatus(self.req("GET", {"If-None-Match": '"other"'}), 200)
        with self.assertRaises(ClientError) as cm:
            self.s3.get_object(Bucket=self.bucket, Key="obj", IfNoneMatch=self.etag)
        self.assertS3Error(cm.exception, "304", 304)

    def test_if_modified_since(self):
        r = self.req("GET", {"If-Modified-Since": self.day(1)})
        self.assertEqual(r.status, 304)
        self.assertEqual(r.body, b"")
        r = self.req("GET", {"If-Modified-Since": s.rfc1123(self.lm.astimezone(datetime.timezone.utc).replace(tzinfo=None))})
        self.assertEqual(r.status, 304, "not modified since its own Last-Modified")
        self.assertStatus(self.req("GET", {"If-Modified-Since": self.day(-1)}), 200)

    def test_if_unmodified_since(self):
        r = self.req("GET", {"If-Unmodified-Since": self.day(-1)})
        self.assertS3Error(r, "PreconditionFailed", 412, s.MSG_PRECONDITION, Condition="If-Unmodified-Since")
        self.assertStatus(self.req("GET", {"If-Unmodified-Since": self.day(1)}), 200)

    def test_if_match_true_and_if_unmodified_since_false_is_200(self):
        r = self.req("GET", {"If-Match": self.etag, "If-Unmodified-Since": self.day(-1)})
        self.assertStatus(r, 200)
        self.assertEqual(r.body, self.data)

    def test_if_none_match_false_and_if_modified_since_true_is_304(self):
        r = self.req("GET", {"If-None-Match": self.etag, "If-Modified-Since": self.day(-1)})
        self.assertEqual(r.status, 304)

    def test_head_conditions(self):
        r = self.req("HEAD", {"If-Match": '"nope"'})
        self.assertEqual(r.status, 412)
        self.assertEqual(r.body, b"")
        r = self.req("HEAD", {"If-None-Match": self.etag})
        self.assertEqual(r.status, 304)
        r = self.req("HEAD", {"If-Unmodified-Since": self.day(-1)})
        self.assertEqual(r.status, 412)
        with self.assertRaises(ClientError) as cm:
            self.s3.head_object(Bucket=self.bucket, Key="obj", IfMatch='"nope"')
        self.assertS3Error(cm.exception, "412", 412)

    def test_conditions_on_missing_key(self):
        r = self.raw("GET", obj_path(self.bucket, "missing"), headers={"If-None-Match": self.etag})
        self.assertS3Error(r, "NoSuchKey", 404, s.MSG_NO_SUCH_KEY)


class ConditionalWriteTest(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("cw")

    def test_if_none_match_star_on_new_key(self):
        r = self.raw("PUT", obj_path(self.bucket, "new"), body=b"created", headers={"If-None-Match": "*"})
        self.assertStatus(r, 200)
        self.assertEqual(self.get_body(self.bucket, "new"), b"created")

    def test_if_none_match_star_on_existing_key(self):
        self.s3.put_object(Bucket=self.bucket, Key="exists", Body=b"original")
        r = self.raw("PUT", obj_path(self.bucket, "exists"), body=b"replacement", headers={"If-None-Match": "*"})
        self.assertS3Error(r, "PreconditionFailed", 412, s.MSG_PRECONDITION, Condition="If-None-Match")
        self.assertEqual(self.get_body(self.bucket, "exists"), b"original")

    def test_if_none_match_boto3(self):
        if "IfNoneMatch" not in self.s3.meta.service_model.operation_model("PutObject").input_shape.members:
            self.skipTest("botocore %s has no PutObject IfNoneMatch" % s.botocore.__version__)
        self.s3.put_object(Bucket=self.bucket, Key="b3", Body=b"one", IfNoneMatch="*")
        self.assertRaisesS3(lambda: self.s3.put_object(Bucket=self.bucket, Key="b3", Body=b"two", IfNoneMatch="*"),
                            "PreconditionFailed", 412, s.MSG_PRECONDITION)
        self.assertEqual(self.get_body(self.bucket, "b3"), b"one")

    def test_if_match_on_put(self):
        self.s3.put_object(Bucket=self.bucket, Key="cas", Body=b"v1")
        r = self.raw("PUT", obj_path(self.bucket, "cas"), body=b"v2", headers={"If-Match": s.etag_of(b"other")})
        self.assertS3Error(r, "PreconditionFailed", 412, s.MSG_PRECONDITION, Condition="If-Match")
        self.assertEqual(self.get_body(self.bucket, "cas"), b"v1")
        r = self.raw("PUT", obj_path(self.bucket, "cas"), body=b"v2", headers={"If-Match": s.etag_of(b"v1")})
        self.assertStatus(r, 200)
        self.assertEqual(self.get_body(self.bucket, "cas"), b"v2")

    def test_if_match_on_put_missing_key(self):
        r = self.raw("PUT", obj_path(self.bucket, "cas-missing"), body=b"v", headers={"If-Match": s.etag_of(b"v")})
        self.assertS3Error(r, "NoSuchKey", 404, s.MSG_NO_SUCH_KEY)
        self.assertNoObject(self.bucket, "cas-missing")


class ContentMD5Test(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("md5")

    def test_correct_content_md5(self):
        data = b"digest me"
        r = self.raw("PUT", obj_path(self.bucket, "ok"), body=data, headers={"Content-MD5": s.md5_b64(data)})
        self.assertStatus(r, 200)
        self.assertEqual(self.get_body(self.bucket, "ok"), data)

    def test_content_md5_mismatch(self):
        data = b"the body that was sent"
        claimed = hashlib.md5(b"a different body").digest()
        r = self.raw("PUT", obj_path(self.bucket, "bad"), body=data, headers={"Content-MD5": s.b64(claimed)})
        self.assertS3Error(r, "BadDigest", 400, s.MSG_BAD_DIGEST_MD5, ExpectedDigest=claimed.hex(),
                           CalculatedDigest=s.md5_b64(data))
        self.assertNoObject(self.bucket, "bad")

    def test_content_md5_mismatch_keeps_previous_version(self):
        self.s3.put_object(Bucket=self.bucket, Key="keep", Body=b"previous")
        r = self.raw("PUT", obj_path(self.bucket, "keep"), body=b"new bytes",
                     headers={"Content-MD5": s.md5_b64(b"not these bytes")})
        self.assertS3Error(r, "BadDigest", 400, s.MSG_BAD_DIGEST_MD5)
        self.assertEqual(self.get_body(self.bucket, "keep"), b"previous")

    def test_content_md5_mismatch_boto3(self):
        self.assertRaisesS3(lambda: self.s3.put_object(Bucket=self.bucket, Key="b3bad", Body=b"abc",
                                                       ContentMD5=s.md5_b64(b"xyz")),
                            "BadDigest", 400, s.MSG_BAD_DIGEST_MD5)
        self.assertNoObject(self.bucket, "b3bad")

    def test_content_md5_mismatch_large_body(self):
        data = os.urandom(5 * MIB)
        r = self.raw("PUT", obj_path(self.bucket, "bigbad"), body=data,
                     headers={"Content-MD5": s.md5_b64(data[:-1] + b"\x00")})
        self.assertS3Error(r, "BadDigest", 400, s.MSG_BAD_DIGEST_MD5)
        self.assertNoObject(self.bucket, "bigbad")

    def test_invalid_content_md5(self):
        for value in ("not base64!!", s.b64(b"\x01" * 15)):
            with self.subTest(value=value):
                r = self.raw("PUT", obj_path(self.bucket, "invalid"), body=b"x", headers={"Content-MD5": value})
                self.assertS3Error(r, "InvalidDigest", 400, s.MSG_INVALID_DIGEST_MD5)
        self.assertNoObject(self.bucket, "invalid")


HOSTILE_KEYS = [
    "../x",
    "a/../../b",
    "../../../../../../tmp/tweedle-escape-probe",
    "//double",
    "/leading-slash",
    "trailing-slash/",
    "a//b///c",
    "./dot-segment",
    "a/./b",
    "dir/..",
    "with space",
    "  surrounding spaces  ",
    "ключ/日本",
    "emoji-😀-ü-ß",
    "ctrl-\x01-\x02-\x1f-\x7f",
    "tab\tkey",
    "new\nline",
    "carriage\rreturn",
    "plus+sign+",
    "percent%",
    "percent%2Fencoded",
    "percent%20space%zz",
    "question?mark=1&x",
    "hash#fragment",
    "amp&eq=semi;colon",
    "quotes\"'`",
    "<xml>&amp;</xml>",
    "back\\slash\\..\\x",
    "colon:star*pipe|",
    "tilde~caret^brackets[]{}",
    "dots...",
    "..leading-dots",
    "comma,at@dollar$excl!",
    "x",
    "b",
]


class HostileKeyTest(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("keys")

    def test_hostile_keys_roundtrip_exactly(self):
        bucket = self.make_bucket("hostile")
        data_dir = os.path.abspath(self.server.data_dir)
        parent = os.path.dirname(data_dir)
        before = set(os.listdir(parent))
        bodies = {}
        for i, key in enumerate(HOSTILE_KEYS):
            body = ("body #%d for %r" % (i, key)).encode("utf-8")
            bodies[key] = body
            with self.subTest(key=key, step="put"):
                r = self.s3.put_object(Bucket=bucket, Key=key, Body=body)
                self.assertEqual(r["ETag"], s.etag_of(body))
        for key, body in bodies.items():
            with self.subTest(key=key, step="get"):
                self.assertEqual(self.get_body(bucket, key), body)
                self.assertEqual(self.s3.head_object(Bucket=bucket, Key=key)["ContentLength"], len(body))
        listed = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            listed.extend(o["Key"] for o in page.get("Contents", []))
        self.assertEqual(sorted(listed), sorted(bodies), "listing must show every key exactly as written")
        self.assertEqual(listed, sorted(listed, key=lambda k: k.encode("utf-8")), "UTF-8 binary order")
        # Nothing was written outside the data directory.
        new = set(os.listdir(parent)) - before
        probes = {"x", "b", "tweedle-escape-probe", "double", "leading-slash"}
        self.assertEqual(new & probes, set(), "files escaped the data dir into %s: %r" % (parent, new & probes))
        self.assertFalse(os.path.exists("/tmp/tweedle-escape-probe"))
        for root, dirs, files in os.walk(data_dir):
            for n in dirs + files:
                p = os.path.join(root, n)
                if os.path.islink(p):
                    self.assertTrue(os.path.realpath(p).startswith(data_dir + os.sep), "symlink out: %s" % p)
        for key in HOSTILE_KEYS:
            with self.subTest(key=key, step="delete"):
                self.s3.delete_object(Bucket=bucket, Key=key)
                self.assertNoObject(bucket, key)
                if key.isprintable():  # XML 1.0 cannot carry control characters in <Key>
                    self.assertRaisesS3(lambda: self.s3.get_object(Bucket=bucket, Key=key), "NoSuchKey", 404,
                                        s.MSG_NO_SUCH_KEY, Key=key)

    def test_hostile_keys_sigv2_presigned(self):
        # Sent with http.client: requests/urllib3 would remove the dot segments.
        for key in ("../x-presigned", "a b+c%d?e#f", "ключ/日本-presigned", "//double-presigned"):
            with self.subTest(key=key):
                url = self.s3.generate_presigned_url("put_object", Params={"Bucket": self.bucket, "Key": key})
                r = s.send(self.server, "PUT", s.url_path(url), b"presigned " + key.encode())
                self.assertStatus(r, 200)
                self.assertEqual(self.get_body(self.bucket, key), b"presigned " + key.encode())

    def signed_alternate_path(self, canonical_path, wire_path, body):
        """Sign for the SDK encoding of the key, send another encoding of the
        same key (S3 canonicalizes the decoded key)."""
        hdrs, _ = s.sign_headers(self.server, "PUT", canonical_path, body)
        return s.send(self.server, "PUT", wire_path, body, hdrs)

    def test_literal_plus_in_path_is_a_plus(self):
        r = self.signed_alternate_path(obj_path(self.bucket, "lit+plus sign"),
                                       "/" + self.bucket + "/lit+plus%20sign", b"plus")
        self.assertStatus(r, 200)
        self.assertEqual(self.get_body(self.bucket, "lit+plus sign"), b"plus")
        self.assertRaisesS3(lambda: self.s3.get_object(Bucket=self.bucket, Key="lit plus sign"), "NoSuchKey", 404)

    def test_percent_encoded_dot_segments(self):
        r = self.signed_alternate_path(obj_path(self.bucket, "../raw-dotdot"),
                                       "/%s/%%2E%%2E/raw-dotdot" % self.bucket, b"dd")
        self.assertStatus(r, 200)
        self.assertEqual(self.get_body(self.bucket, "../raw-dotdot"), b"dd")
        self.assertRaisesS3(lambda: self.s3.get_object(Bucket=self.bucket, Key="raw-dotdot"), "NoSuchKey", 404)

    def test_dot_dot_keys_do_not_alias(self):
        self.s3.put_object(Bucket=self.bucket, Key="alias/target", Body=b"target")
        self.s3.put_object(Bucket=self.bucket, Key="alias/sub/../target", Body=b"dotdot")
        self.assertEqual(self.get_body(self.bucket, "alias/target"), b"target")
        self.assertEqual(self.get_body(self.bucket, "alias/sub/../target"), b"dotdot")

    def test_key_length_limits(self):
        ok = ["k" * 1024, "é" * 512, "k" * 1022 + "é"]
        for key in ok:
            with self.subTest(length=len(key.encode())):
                self.assertEqual(len(key.encode("utf-8")), 1024)
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=b"max")
                self.assertEqual(self.get_body(self.bucket, key), b"max")
        for key in ("k" * 1025, "é" * 513, "k" * 1023 + "é"):
            size = len(key.encode("utf-8"))
            with self.subTest(length=size):
                self.assertRaisesS3(lambda: self.s3.put_object(Bucket=self.bucket, Key=key, Body=b"x"),
                                    "KeyTooLongError", 400, message_prefix=s.MSG_KEY_TOO_LONG, Size=str(size),
                                    MaxSizeAllowed="1024")


class ExpectContinueTest(s.S3TestCase):
    """``Expect: 100-continue``: refuse before the body when the answer is
    already known (missing bucket, bad signature); otherwise 100 then 200."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("expect")

    def exchange(self, path, body, secret=s.SECRET_KEY, wait=3.0):
        host = "127.0.0.1:%d" % self.server.port
        hdrs, _ = s.sign_headers(self.server, "PUT", path, body, {"Expect": "100-continue"}, secret_key=secret)
        head = "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n" % (path, host, len(body))
        for k, v in hdrs.items():
            if k.lower() != "host":
                head += "%s: %s\r\n" % (k, v)
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        try:
            sock.sendall(head.encode() + b"\r\n")
            sock.settimeout(wait)
            buf = b""
            try:
                while b"\r\n\r\n" not in buf:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
            except socket.timeout:
                pass
            got_100 = buf.startswith(b"HTTP/1.1 100")
            if got_100 or not buf:
                buf = buf.split(b"\r\n\r\n", 1)[1] if got_100 else b""
                sock.sendall(body)
            sock.settimeout(10)
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
            head_part, _, rest = buf.partition(b"\r\n\r\n")
            while head_part.startswith(b"HTTP/1.1 1"):  # interim 1xx after the body
                got_100 = True
                buf = rest
                while b"\r\n\r\n" not in buf:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
                head_part, _, rest = buf.partition(b"\r\n\r\n")
            lines = head_part.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            length = 0
            for line in lines[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "content-length":
                    length = int(v.strip())
            while len(rest) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
            return got_100, status, rest[:length]
        finally:
            sock.close()

    def test_expect_continue_success(self):
        body = os.urandom(200000)
        got_100, status, _ = self.exchange(obj_path(self.bucket, "expect-ok"), body)
        self.assertEqual(status, 200)
        self.assertEqual(self.get_body(self.bucket, "expect-ok"), body)

    def test_expect_continue_missing_bucket_refused_before_body(self):
        got_100, status, body = self.exchange(obj_path(s.unique_bucket("nobucket"), "k"), os.urandom(100000))
        self.assertFalse(got_100, "no 100 Continue for a missing bucket")
        self.assertEqual(status, 404)
        self.assertIn(b"NoSuchBucket", body)

    def test_expect_continue_bad_signature_refused_before_body(self):
        got_100, status, body = self.exchange(obj_path(self.bucket, "expect-badsig"), os.urandom(100000),
                                              secret="wrong-secret")
        self.assertFalse(got_100, "no 100 Continue for a bad signature")
        self.assertEqual(status, 403)
        self.assertIn(b"SignatureDoesNotMatch", body)
        self.assertNoObject(self.bucket, "expect-badsig")


if __name__ == "__main__":
    unittest.main()
