"""S3 authentication: presigned URLs (SigV2 and SigV4 query auth) used
without credentials, and failing header auth.

AWS facts asserted here:
* boto3/aws-cli produce SigV2 query URLs (AWSAccessKeyId, Signature, Expires)
  for us-east-1 with an endpoint_url unless signature_version="s3v4".
* Expired URL -> 403 AccessDenied "Request has expired" (SigV4 responses
  also carry <X-Amz-Expires>, <Expires>, <ServerTime>); X-Amz-Date in the
  future -> 403 AccessDenied "Request is not yet valid".
* X-Amz-Expires above 604800 -> 403 AuthorizationQueryParametersError
  "X-Amz-Expires must be less than a week (in seconds); that is, the given
  X-Amz-Expires must be less than 604800 seconds" (ceph s3-tests
  test_object_raw_get_x_amz_expires_out_max_range expects 403, noobaa#8857);
  604800 itself is allowed.  X-Amz-Expires=0 -> 403 AccessDenied "Request
  has expired" (s3-tests ..._out_range_zero) even within the same second.
* Altered signature, other key, other method -> 403 SignatureDoesNotMatch.
* Unknown access key -> 403 InvalidAccessKeyId "The AWS Access Key Id you
  provided does not exist in our records."
* Anonymous request -> 403 AccessDenied "Access Denied".
* A region other than the server's in the credential scope -> 400
  AuthorizationHeaderMalformed / AuthorizationQueryParametersError.
* The JS SDK v3 signs x-amz-checksum-crc32=AAAAAA== (the CRC of an empty
  body) and x-amz-sdk-checksum-algorithm into presigned PUT URLs; S3 ignores
  them and stores the real body.
"""

import datetime
import unittest
import urllib.parse

import requests

import s3_harness as s
from s3_harness import obj_path


def setUpModule():
    s.start(__name__)


def tearDownModule():
    s.stop(__name__)


EXPIRES_MSG = ("X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires "
               "must be less than 604800 seconds")


def err(resp):
    """A requests.Response as a harness RawResponse (for assertS3Error)."""
    class _H(dict):
        def get(self, k, default=None):
            for kk, v in self.items():
                if kk.lower() == k.lower():
                    return v
            return default
    return s.RawResponse(resp.status_code, _H(resp.headers), resp.content)


class PresignTest(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("presign")
        cls.data = b"presigned content \x00\xff"
        cls.s3.put_object(Bucket=cls.bucket, Key="obj", Body=cls.data)

    def url(self, method, key, client=None, expires=300, **params):
        c = client or self.s3
        params.update({"Bucket": self.bucket, "Key": key})
        return c.generate_presigned_url(method, Params=params, ExpiresIn=expires)

    # -- happy paths ------------------------------------------------------
    def test_default_client_presigns_sigv2(self):
        url = self.url("get_object", "obj")
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        self.assertEqual(sorted(q), ["AWSAccessKeyId", "Expires", "Signature"], url)

    def test_get_sigv2(self):
        r = requests.get(self.url("get_object", "obj"), timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.content, self.data)
        self.assertEqual(r.headers.get("ETag"), s.etag_of(self.data))

    def test_get_sigv4(self):
        url = self.url("get_object", "obj", client=self.s3v4)
        self.assertIn("X-Amz-Signature=", url)
        r = requests.get(url, timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.content, self.data)

    def test_head_sigv4(self):
        r = requests.head(self.url("head_object", "obj", client=self.s3v4), timeout=30)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.headers.get("Content-Length"), str(len(self.data)))

    def test_put_sigv2(self):
        body = b"uploaded with a SigV2 URL"
        r = requests.put(self.url("put_object", "up-v2"), data=body, timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.headers.get("ETag"), s.etag_of(body))
        self.assertEqual(self.get_body(self.bucket, "up-v2"), body)

    def test_put_sigv4(self):
        body = b"uploaded with a SigV4 URL" * 1000
        r = requests.put(self.url("put_object", "up-v4", client=self.s3v4), data=body, timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(self.get_body(self.bucket, "up-v4"), body)

    def test_put_with_signed_content_type(self):
        for name, client in (("v2", self.s3), ("v4", self.s3v4)):
            with self.subTest(sig=name):
                key = "typed-" + name
                url = self.url("put_object", key, client=client, ContentType="image/png")
                r = requests.put(url, data=b"\x89PNG", headers={"Content-Type": "image/png"}, timeout=30)
                self.assertEqual(r.status_code, 200, r.text)
                self.assertEqual(self.s3.head_object(Bucket=self.bucket, Key=key)["ContentType"], "image/png")

    def test_presigned_unicode_key(self):
        key = "dir with space/ключ+?.txt"
        for name, client in (("v2", self.s3), ("v4", self.s3v4)):
            with self.subTest(sig=name):
                r = requests.put(self.url("put_object", key + name, client=client), data=b"u", timeout=30)
                self.assertEqual(r.status_code, 200, r.text)
                r = requests.get(self.url("get_object", key + name, client=client), timeout=30)
                self.assertEqual(r.status_code, 200, r.text)
                self.assertEqual(r.content, b"u")

    def test_presigned_get_with_response_overrides(self):
        url = self.url("get_object", "obj", client=self.s3v4, ResponseContentDisposition='attachment; filename="a.bin"',
                       ResponseContentType="application/x-test")
        r = requests.get(url, timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.headers.get("Content-Disposition"), 'attachment; filename="a.bin"')
        self.assertEqual(r.headers.get("Content-Type"), "application/x-test")

    def test_max_expiry_604800_allowed(self):
        url = s.presign_v4(self.server, "GET", obj_path(self.bucket, "obj"), expires=604800)
        r = requests.get(url, timeout=30)
        self.assertEqual(r.status_code, 200, r.text)

    def test_js_sdk_checksum_query_params_are_ignored_sigv4(self):
        path = obj_path(self.bucket, "js-upload") + "?x-amz-checksum-crc32=AAAAAA%3D%3D&x-amz-sdk-checksum-algorithm=CRC32"
        url = s.presign_v4(self.server, "PUT", path)
        self.assertIn("x-amz-checksum-crc32=AAAAAA%3D%3D", url)
        body = b"hello from a browser"
        r = requests.put(url, data=body, timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(self.get_body(self.bucket, "js-upload"), body)
        hd = self.raw("HEAD", obj_path(self.bucket, "js-upload"), headers={"x-amz-checksum-mode": "ENABLED"})
        self.assertNotEqual(hd.header("x-amz-checksum-crc32"), "AAAAAA==")

    # -- failures -----------------------------------------------------------
    def test_expired_sigv2(self):
        url = s.presign_v2(self.server, "GET", obj_path(self.bucket, "obj"), expires=-5)
        r = requests.get(url, timeout=30)
        e = self.assertS3Error(err(r), "AccessDenied", 403, s.MSG_EXPIRED)
        self.assertTrue(e.get("Expires"))
        self.assertTrue(e.get("ServerTime"))

    def test_expired_sigv4(self):
        when = s.h.utcnow() - datetime.timedelta(seconds=120)
        url = s.presign_v4(self.server, "GET", obj_path(self.bucket, "obj"), expires=60, when=when)
        r = requests.get(url, timeout=30)
        e = self.assertS3Error(err(r), "AccessDenied", 403, s.MSG_EXPIRED)
        self.assertEqual(e.get("X-Amz-Expires"), "60")
        self.assertTrue(e.get("Expires"))
        self.assertTrue(e.get("ServerTime"))

    def test_expired_sigv4_put_stores_nothing(self):
        when = s.h.utcnow() - datetime.timedelta(hours=2)
        url = s.presign_v4(self.server, "PUT", obj_path(self.bucket, "late-put"), expires=3600, when=when)
        r = requests.put(url, data=b"late", timeout=30)
        self.assertS3Error(err(r), "AccessDenied", 403, s.MSG_EXPIRED)
        self.assertNoObject(self.bucket, "late-put")

    def test_not_yet_valid_sigv4(self):
        when = s.h.utcnow() + datetime.timedelta(hours=1)
        url = s.presign_v4(self.server, "GET", obj_path(self.bucket, "obj"), expires=60, when=when)
        r = requests.get(url, timeout=30)
        self.assertS3Error(err(r), "AccessDenied", 403, "Request is not yet valid")

    def test_expires_above_a_week(self):
        url = s.presign_v4(self.server, "GET", obj_path(self.bucket, "obj"), expires=604801)
        r = requests.get(url, timeout=30)
        self.assertS3Error(err(r), "AuthorizationQueryParametersError", 403, EXPIRES_MSG)
        url = self.url("get_object", "obj", client=self.s3v4, expires=604801)
        self.assertS3Error(err(requests.get(url, timeout=30)), "AuthorizationQueryParametersError", 403, EXPIRES_MSG)
        url = s.presign_v4(self.server, "PUT", obj_path(self.bucket, "obj"), expires=10 ** 12)
        self.assertS3Error(err(requests.put(url, data=b"x", timeout=30)), "AuthorizationQueryParametersError", 403,
                           EXPIRES_MSG)

    def test_expires_zero_is_expired(self):
        for method, call in (("GET", requests.get), ("PUT", requests.put)):
            url = s.presign_v4(self.server, method, obj_path(self.bucket, "obj"), expires=0)
            r = call(url, timeout=30)  # within the second it was signed in, or the next
            self.assertS3Error(err(r), "AccessDenied", 403, s.MSG_EXPIRED)
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="obj")["Body"].read(), self.data)

    def test_tampered_signature_sigv4(self):
        url = self.url("get_object", "obj", client=self.s3v4)
        p = urllib.parse.urlsplit(url)
        q = urllib.parse.parse_qsl(p.query)
        q = [(k, (("0" if v[0] != "0" else "1") + v[1:]) if k == "X-Amz-Signature" else v) for k, v in q]
        bad = urllib.parse.urlunsplit((p.scheme, p.netloc, p.path, urllib.parse.urlencode(q), ""))
        self.assertS3Error(err(requests.get(bad, timeout=30)), "SignatureDoesNotMatch", 403, s.MSG_SIGNATURE)

    def test_tampered_signature_sigv2(self):
        url = self.url("get_object", "obj")
        p = urllib.parse.urlsplit(url)
        q = urllib.parse.parse_qsl(p.query)
        q = [(k, ("A" if v[0] != "A" else "B") + v[1:]) if k == "Signature" else (k, v) for k, v in q]
        bad = urllib.parse.urlunsplit((p.scheme, p.netloc, p.path, urllib.parse.urlencode(q), ""))
        self.assertS3Error(err(requests.get(bad, timeout=30)), "SignatureDoesNotMatch", 403, s.MSG_SIGNATURE)

    def test_url_for_other_key(self):
        self.s3.put_object(Bucket=self.bucket, Key="secret", Body=b"secret")
        for name, client in (("v2", self.s3), ("v4", self.s3v4)):
            with self.subTest(sig=name):
                url = self.url("get_object", "obj", client=client).replace("/obj?", "/secret?")
                self.assertS3Error(err(requests.get(url, timeout=30)), "SignatureDoesNotMatch", 403)

    def test_get_url_used_for_put(self):
        self.s3.put_object(Bucket=self.bucket, Key="guarded", Body=b"guarded")
        for name, client in (("v2", self.s3), ("v4", self.s3v4)):
            with self.subTest(sig=name):
                url = self.url("get_object", "guarded", client=client)
                r = requests.put(url, data=b"overwrite attempt", timeout=30)
                self.assertS3Error(err(r), "SignatureDoesNotMatch", 403)
        self.assertEqual(self.get_body(self.bucket, "guarded"), b"guarded")

    def test_tampered_expiry(self):
        url = self.url("get_object", "obj")
        p = urllib.parse.urlsplit(url)
        q = [(k, str(int(v) + 3600) if k == "Expires" else v) for k, v in urllib.parse.parse_qsl(p.query)]
        bad = urllib.parse.urlunsplit((p.scheme, p.netloc, p.path, urllib.parse.urlencode(q), ""))
        self.assertS3Error(err(requests.get(bad, timeout=30)), "SignatureDoesNotMatch", 403)

    def test_unknown_access_key(self):
        other2 = s.s3_client(self.server, access_key="AKIDUNKNOWN0000", secret_key="whatever")
        other4 = s.s3_client(self.server, signature_version="s3v4", access_key="AKIDUNKNOWN0000",
                             secret_key="whatever")
        for name, client in (("v2", other2), ("v4", other4)):
            with self.subTest(sig=name):
                url = self.url("get_object", "obj", client=client)
                self.assertS3Error(err(requests.get(url, timeout=30)), "InvalidAccessKeyId", 403,
                                   s.MSG_INVALID_KEY_ID, AWSAccessKeyId="AKIDUNKNOWN0000")

    def test_incomplete_sigv4_query(self):
        url = s.presign_v4(self.server, "GET", obj_path(self.bucket, "obj"))
        p = urllib.parse.urlsplit(url)
        msg = ("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
               "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
        for drop in ("X-Amz-Signature", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires"):
            with self.subTest(missing=drop):
                q = [(k, v) for k, v in urllib.parse.parse_qsl(p.query) if k != drop]
                bad = urllib.parse.urlunsplit((p.scheme, p.netloc, p.path, urllib.parse.urlencode(q), ""))
                self.assertS3Error(err(requests.get(bad, timeout=30)), "AuthorizationQueryParametersError", 400, msg)

    def test_wrong_region_in_query_credential(self):
        url = s.presign_v4(self.server, "GET", obj_path(self.bucket, "obj"), region="eu-west-1")
        r = requests.get(url, timeout=30)
        self.assertS3Error(err(r), "AuthorizationQueryParametersError", 400,
                           "Error parsing the X-Amz-Credential parameter; the region 'eu-west-1' is wrong; "
                           "expecting 'us-east-1'", Region="us-east-1")


class CurlTest(s.S3TestCase):
    """The S0 producer: plain curl against presigned URLs (curl sends
    Expect: 100-continue for large uploads)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        import shutil
        cls.curl = shutil.which("curl")
        if not cls.curl:
            raise unittest.SkipTest("curl not installed")
        cls.bucket = cls.class_bucket("curl")

    def run_curl(self, *args):
        import subprocess
        p = subprocess.run([self.curl, "-sS", "--max-time", "30", "-o", "-", "-w", "\n%{http_code}"] + list(args),
                           capture_output=True, timeout=60)
        out = p.stdout
        body, _, code = out.rpartition(b"\n")
        return int(code or 0), body, p.stderr

    def test_curl_put_and_get(self):
        import os
        import tempfile
        data = os.urandom(3 * 1024 * 1024)
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(data)
            src = f.name
        try:
            for name, client in (("v2", self.s3), ("v4", self.s3v4)):
                with self.subTest(sig=name):
                    key = "input/curl-%s.bin" % name
                    put = client.generate_presigned_url("put_object", Params={"Bucket": self.bucket, "Key": key},
                                                        ExpiresIn=300)
                    code, body, err = self.run_curl("-T", src, put)
                    self.assertEqual(code, 200, (body, err))
                    self.assertEqual(self.get_body(self.bucket, key), data)
                    get = client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key},
                                                        ExpiresIn=300)
                    code, body, err = self.run_curl(get)
                    self.assertEqual(code, 200, err)
                    self.assertTrue(body == data)
        finally:
            os.unlink(src)


class SigV2HeaderAuthTest(s.S3TestCase):
    """Header SigV2 ("Authorization: AWS key:signature"), botocore
    signature_version="s3"; still used by old tools (s3cmd, boto2)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.v2 = s.s3_client(cls.server, signature_version="s3")
        cls.bucket = cls.class_bucket("sigv2")

    def test_roundtrip(self):
        self.v2.put_object(Bucket=self.bucket, Key="dir/v2 key+ü", Body=b"sigv2", ContentType="text/plain",
                           Metadata={"a": "b"})
        g = self.v2.get_object(Bucket=self.bucket, Key="dir/v2 key+ü")
        self.assertEqual(g["Body"].read(), b"sigv2")
        self.assertEqual(g["Metadata"], {"a": "b"})
        self.assertEqual([o["Key"] for o in self.v2.list_objects_v2(Bucket=self.bucket)["Contents"]], ["dir/v2 key+ü"])
        self.v2.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": "dir/v2 key+ü"}]})
        self.assertNoObject(self.bucket, "dir/v2 key+ü")

    def test_wrong_secret(self):
        bad = s.s3_client(self.server, signature_version="s3", secret_key="wrong")
        self.assertRaisesS3(lambda: bad.get_object(Bucket=self.bucket, Key="x"), "SignatureDoesNotMatch", 403,
                            s.MSG_SIGNATURE)

    def test_unknown_key(self):
        bad = s.s3_client(self.server, signature_version="s3", access_key="AKIDNOPE", secret_key="x")
        self.assertRaisesS3(lambda: bad.list_objects_v2(Bucket=self.bucket), "InvalidAccessKeyId", 403,
                            s.MSG_INVALID_KEY_ID, AWSAccessKeyId="AKIDNOPE")


class HeaderAuthTest(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("auth")
        cls.s3.put_object(Bucket=cls.bucket, Key="obj", Body=b"private")

    def test_anonymous_get(self):
        r = s.send(self.server, "GET", obj_path(self.bucket, "obj"))
        self.assertS3Error(r, "AccessDenied", 403, s.MSG_ACCESS_DENIED)
        r = requests.get(self.server.endpoint + obj_path(self.bucket, "obj"), timeout=30)
        self.assertS3Error(err(r), "AccessDenied", 403, s.MSG_ACCESS_DENIED)

    def test_anonymous_put_stores_nothing(self):
        r = s.send(self.server, "PUT", obj_path(self.bucket, "anon"), b"anonymous")
        self.assertS3Error(r, "AccessDenied", 403, s.MSG_ACCESS_DENIED)
        self.assertNoObject(self.bucket, "anon")

    def test_anonymous_list_buckets(self):
        r = s.send(self.server, "GET", "/")
        self.assertS3Error(r, "AccessDenied", 403, s.MSG_ACCESS_DENIED)

    def test_anonymous_create_bucket(self):
        name = s.unique_bucket("anon")
        r = s.send(self.server, "PUT", "/" + name)
        self.assertS3Error(r, "AccessDenied", 403, s.MSG_ACCESS_DENIED)
        self.assertEqual(self.raw("HEAD", "/" + name).status, 404)

    def test_wrong_secret(self):
        c = s.s3_client(self.server, secret_key="not-the-secret")
        self.assertRaisesS3(lambda: c.get_object(Bucket=self.bucket, Key="obj"), "SignatureDoesNotMatch", 403,
                            s.MSG_SIGNATURE)
        self.assertRaisesS3(lambda: c.put_object(Bucket=self.bucket, Key="obj", Body=b"evil"),
                            "SignatureDoesNotMatch", 403, s.MSG_SIGNATURE)
        self.assertEqual(self.get_body(self.bucket, "obj"), b"private")

    def test_unknown_key_header_auth(self):
        c = s.s3_client(self.server, access_key="AKIDNOBODY", secret_key="x")
        self.assertRaisesS3(lambda: c.list_buckets(), "InvalidAccessKeyId", 403, s.MSG_INVALID_KEY_ID,
                            AWSAccessKeyId="AKIDNOBODY")

    def test_tampered_header_after_signing(self):
        path = obj_path(self.bucket, "tamper")
        hdrs, _ = s.sign_headers(self.server, "PUT", path, b"body", {"x-amz-meta-a": "1"})
        hdrs["x-amz-meta-a"] = "2"
        r = s.send(self.server, "PUT", path, b"body", hdrs)
        self.assertS3Error(r, "SignatureDoesNotMatch", 403, s.MSG_SIGNATURE)
        self.assertNoObject(self.bucket, "tamper")

    def test_wrong_region_in_header_credential(self):
        r = self.raw("GET", obj_path(self.bucket, "obj"), region="us-west-2")
        self.assertS3Error(r, "AuthorizationHeaderMalformed", 400,
                           "The authorization header is malformed; the region 'us-west-2' is wrong; "
                           "expecting 'us-east-1'", Region="us-east-1")

    def test_request_time_too_skewed(self):
        when = s.h.utcnow() - datetime.timedelta(minutes=20)
        r = self.raw("GET", obj_path(self.bucket, "obj"), when=when)
        self.assertS3Error(r, "RequestTimeTooSkewed", 403,
                           "The difference between the request time and the current time is too large.")

    def test_sigv4_header_auth_small_skew_ok(self):
        when = s.h.utcnow() - datetime.timedelta(minutes=5)
        r = self.raw("GET", obj_path(self.bucket, "obj"), when=when)
        self.assertStatus(r, 200)


if __name__ == "__main__":
    unittest.main()
