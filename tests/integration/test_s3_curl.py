"""Plain curl against tweedle's S3: presigned URLs made by boto3 (SigV4 and
the botocore default, SigV2) used for uploads (--upload-file, -T, chunked
from stdin), downloads, ranges and HEAD; expired URLs and wrong methods; and
curl's own SigV4 signing (--aws-sigv4 "aws:amz:us-east-1:s3").

curl 7.88 facts these tests rely on (checked by hand against its source and
S3's rules):

* curl sends ``Expect: 100-continue`` for uploads above 1 MiB, and uses
  ``Transfer-Encoding: chunked`` for ``-T -`` (stdin of unknown length);
* with --aws-sigv4 it does not add ``x-amz-content-sha256``, which S3 requires
  for SigV4 (400 InvalidRequest "Missing required header for this request:
  x-amz-content-sha256"); passing it with -H gets it signed;
* it signs the query string as written (no sorting, no re-encoding), so a
  request whose query is not already canonical (sorted, '/' as %2F) gets
  SignatureDoesNotMatch from S3 (curl 8.x canonicalises it).
"""

import datetime
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

import s3_harness as s
from s3_harness import obj_path

CURL = shutil.which("curl")


def setUpModule():
    if not CURL:
        raise unittest.SkipTest("curl not found on PATH")
    s.start(__name__)


def tearDownModule():
    if CURL:
        s.stop(__name__)


MIB = 1024 * 1024


class Result:
    def __init__(self, status, headers, body, stderr):
        self.status = status
        self.headers = headers  # lower-cased names, the final response only
        self.body = body
        self.stderr = stderr

    def header(self, name):
        return self.headers.get(name.lower())

    def error(self):
        root = ET.fromstring(self.body)
        assert root.tag == "Error", self.body[:300]
        return {c.tag: (c.text or "") for c in root}

    def __repr__(self):
        return "<curl %d %r>" % (self.status, self.body[:400])


class CurlTest(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("curl")
        cls.tmp = tempfile.mkdtemp(prefix="tweedle-curl-")
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    # -- helpers --------------------------------------------------------------
    def curl(self, *args, stdin=None, timeout=60):
        """Runs curl (bounded); returns the last response's status, headers, body."""
        CurlTest.n += 1
        hdr = os.path.join(self.tmp, "h%d" % self.n)
        out = os.path.join(self.tmp, "o%d" % self.n)
        cmd = [CURL, "-sS", "--max-time", "30", "-D", hdr, "-o", out, "-w", "%{http_code}"] + list(args)
        p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)
        self.assertEqual(p.returncode, 0, "curl %s failed: %s" % (" ".join(args), p.stderr.decode(errors="replace")))
        headers = {}
        with open(hdr, "rb") as f:
            blocks = f.read().decode("latin-1").split("\r\n\r\n")
        final = [b for b in blocks if b.startswith("HTTP/")][-1]  # after any 100 Continue
        for line in final.split("\r\n")[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        body = b""
        if os.path.exists(out):
            with open(out, "rb") as f:
                body = f.read()
        return Result(int(p.stdout.decode()[-3:]), headers, body, p.stderr.decode(errors="replace"))

    def file(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def presign(self, op, key, client=None, expires=300, **params):
        return (client or self.s3).generate_presigned_url(
            op, Params=dict(Bucket=self.bucket, Key=key, **params), ExpiresIn=expires)

    def clients(self):
        """(label, client): the botocore default (SigV2 URLs) and SigV4."""
        return (("sigv2", self.s3), ("sigv4", self.s3v4))

    def assertCurlError(self, res, code, status, message=None):
        self.assertEqual(res.status, status, res)
        self.assertIn("xml", res.header("content-type") or "", res)
        e = res.error()
        self.assertEqual(e.get("Code"), code, res)
        if message is not None:
            self.assertEqual(e.get("Message"), message, res)
        return e

    # -- presigned uploads -----------------------------------------------------
    def test_presigned_put_upload_file(self):
        data = os.urandom(2 * MIB + 5)  # above 1 MiB: curl waits for 100-continue
        path = self.file("up.bin", data)
        for label, c in self.clients():
            with self.subTest(label):
                key = "up/%s file.bin" % label
                url = self.presign("put_object", key, client=c)
                if label == "sigv2":
                    self.assertIn("Signature=", url)
                    self.assertIn("AWSAccessKeyId=", url)
                else:
                    self.assertIn("X-Amz-Signature=", url)
                r = self.curl("--upload-file", path, url)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("etag"), s.etag_of(data))
                self.assertEqual(self.get_body(self.bucket, key), data)

    def test_presigned_put_short_T_flag(self):
        data = b"small body via -T\n"
        path = self.file("t.txt", data)
        for label, c in self.clients():
            with self.subTest(label):
                key = "t/%s.txt" % label
                r = self.curl("-T", path, self.presign("put_object", key, client=c))
                self.assertEqual(r.status, 200, r)
                self.assertEqual(self.get_body(self.bucket, key), data)

    def test_presigned_put_chunked_from_stdin(self):
        data = os.urandom(3 * MIB + 11)
        for label, c in self.clients():
            with self.subTest(label, form="-H Transfer-Encoding"):
                key = "chunked/%s-a.bin" % label
                url = self.presign("put_object", key, client=c)
                r = self.curl("-v", "-X", "PUT", "-H", "Transfer-Encoding: chunked", "-H", "Content-Type:",
                              "--data-binary", "@-", url, stdin=data)
                self.assertIn("> Transfer-Encoding: chunked", r.stderr)
                self.assertNotIn("> Content-Length", r.stderr)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("etag"), s.etag_of(data))
                self.assertEqual(self.get_body(self.bucket, key), data)
            with self.subTest(label, form="-T -"):
                key = "chunked/%s-b.bin" % label
                r = self.curl("-v", "-T", "-", self.presign("put_object", key, client=c), stdin=data)
                self.assertIn("> Transfer-Encoding: chunked", r.stderr)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(self.get_body(self.bucket, key), data)

    def test_presigned_put_with_content_type(self):
        url = self.presign("put_object", "ct.html", client=self.s3v4, ContentType="text/html")
        self.assertIn("content-type", url.lower().split("x-amz-signedheaders=")[1].split("&")[0])
        r = self.curl("-H", "Content-Type: text/plain", "-T", self.file("ct.html", b"<p>"), url)
        self.assertCurlError(r, "SignatureDoesNotMatch", 403)
        self.assertNoObject(self.bucket, "ct.html")
        r = self.curl("-H", "Content-Type: text/html", "-T", self.file("ct.html", b"<p>"), url)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.s3.head_object(Bucket=self.bucket, Key="ct.html")["ContentType"], "text/html")

    def test_presigned_put_with_metadata(self):
        # SigV4 (boto3): x-amz-meta-* is a signed header the client must send.
        url = self.presign("put_object", "meta-v4", client=self.s3v4, Metadata={"origin": "curl"})
        r = self.curl("-T", self.file("m", b"m"), url)
        self.assertCurlError(r, "SignatureDoesNotMatch", 403)
        r = self.curl("-H", "x-amz-meta-origin: curl", "-T", self.file("m", b"m"), url)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.s3.head_object(Bucket=self.bucket, Key="meta-v4")["Metadata"], {"origin": "curl"})
        # SigV2 (botocore default): the metadata travels in the URL itself, and
        # S3 stores it from there.
        url = self.presign("put_object", "meta-v2", Metadata={"origin": "url"})
        self.assertIn("x-amz-meta-origin=url", url)
        r = self.curl("-T", self.file("m", b"m"), url)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.s3.head_object(Bucket=self.bucket, Key="meta-v2")["Metadata"], {"origin": "url"})
        # ... and counts toward the 2 KB metadata limit there too.
        url = self.presign("put_object", "meta-big", Metadata={"big": "v" * 2100})
        self.assertCurlError(self.curl("-T", self.file("m", b"m"), url), "MetadataTooLarge", 400)
        self.assertNoObject(self.bucket, "meta-big")

    # -- presigned downloads ------------------------------------------------------
    def test_presigned_get_range_and_head(self):
        data = os.urandom(100_000)
        self.s3.put_object(Bucket=self.bucket, Key="dl/obj.bin", Body=data, ContentType="application/x-dl")
        for label, c in self.clients():
            with self.subTest(label):
                url = self.presign("get_object", "dl/obj.bin", client=c)
                r = self.curl(url)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.body, data)
                self.assertEqual(r.header("content-type"), "application/x-dl")
                self.assertEqual(r.header("content-length"), str(len(data)))
                r = self.curl("-r", "100-199", url)
                self.assertEqual(r.status, 206, r)
                self.assertEqual(r.body, data[100:200])
                self.assertEqual(r.header("content-range"), "bytes 100-199/%d" % len(data))
                r = self.curl("-r", "-10", url)
                self.assertEqual(r.status, 206, r)
                self.assertEqual(r.body, data[-10:])
                # (with -I curl writes the headers where the body would go)
                r = self.curl("-I", self.presign("head_object", "dl/obj.bin", client=c))
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("content-length"), str(len(data)))
                self.assertEqual(r.header("etag"), s.etag_of(data))
                # A GET URL used for HEAD: the method is signed.
                r = self.curl("-I", url)
                self.assertEqual(r.status, 403, r)
                self.assertIsNone(r.header("etag"), r)

    def test_presigned_get_missing_key(self):
        r = self.curl(self.presign("get_object", "dl/none", client=self.s3v4))
        e = self.assertCurlError(r, "NoSuchKey", 404, s.MSG_NO_SUCH_KEY)
        self.assertEqual(e.get("Key"), "dl/none")

    def test_expired_urls(self):
        self.s3.put_object(Bucket=self.bucket, Key="exp", Body=b"old")
        past = s.now_utc() - datetime.timedelta(hours=1)
        urls = {
            "sigv4 get": s.presign_v4(self.server, "GET", obj_path(self.bucket, "exp"), expires=60, when=past),
            "sigv2 get": s.presign_v2(self.server, "GET", obj_path(self.bucket, "exp"), expires=-30),
        }
        for what, url in urls.items():
            with self.subTest(what):
                self.assertCurlError(self.curl(url), "AccessDenied", 403, s.MSG_EXPIRED)
        path = self.file("late", b"late")
        for what, url in {
            "sigv4 put": s.presign_v4(self.server, "PUT", obj_path(self.bucket, "exp"), expires=60, when=past),
            "sigv2 put": s.presign_v2(self.server, "PUT", obj_path(self.bucket, "exp"), expires=-30),
        }.items():
            with self.subTest(what):
                self.assertCurlError(self.curl("-T", path, url), "AccessDenied", 403, s.MSG_EXPIRED)
        self.assertEqual(self.get_body(self.bucket, "exp"), b"old")
        # A URL valid for two seconds: good at once, expired a second after its end
        # (X-Amz-Date has whole seconds).
        url = self.presign("get_object", "exp", client=self.s3v4, expires=2)
        self.assertEqual(self.curl(url).status, 200)
        signed = datetime.datetime.strptime(url.split("X-Amz-Date=")[1][:16], "%Y%m%dT%H%M%SZ")
        signed = signed.replace(tzinfo=datetime.timezone.utc)
        time.sleep(max(0.0, (signed - s.now_utc()).total_seconds() + 3.1))
        self.assertCurlError(self.curl(url), "AccessDenied", 403, s.MSG_EXPIRED)

    def test_wrong_method(self):
        self.s3.put_object(Bucket=self.bucket, Key="wm", Body=b"keep")
        path = self.file("wm", b"overwrite")
        for label, c in self.clients():
            with self.subTest(label):
                get_url = self.presign("get_object", "wm", client=c)
                self.assertCurlError(self.curl("-T", path, get_url), "SignatureDoesNotMatch", 403)
                self.assertCurlError(self.curl("-X", "DELETE", get_url), "SignatureDoesNotMatch", 403)
                put_url = self.presign("put_object", "wm", client=c)
                self.assertCurlError(self.curl(put_url), "SignatureDoesNotMatch", 403)
        self.assertEqual(self.get_body(self.bucket, "wm"), b"keep")

    # -- curl's own SigV4 ------------------------------------------------------------
    def sigv4(self, *args, sha="UNSIGNED-PAYLOAD", secret=s.SECRET_KEY):
        extra = ["--aws-sigv4", "aws:amz:us-east-1:s3", "--user", "%s:%s" % (s.ACCESS_KEY, secret)]
        if sha is not None:
            extra += ["-H", "x-amz-content-sha256: " + sha]
        return self.curl(*(extra + list(args)))

    def test_aws_sigv4_put_get_list_delete(self):
        base = self.server.endpoint + "/" + self.bucket
        data = os.urandom(200_000)
        path = self.file("sig.bin", data)
        r = self.sigv4("-T", path, base + "/sig/a.bin", sha=hashlib.sha256(data).hexdigest())
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("etag"), s.etag_of(data))
        r = self.sigv4("-T", path, base + "/sig/b.bin")  # UNSIGNED-PAYLOAD
        self.assertEqual(r.status, 200, r)
        r = self.sigv4(base + "/sig/a.bin", sha=s.EMPTY_SHA256)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, data)
        r = self.sigv4("-r", "0-9", base + "/sig/b.bin")
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.body, data[:10])
        # The query written in canonical order (see the module docstring).
        r = self.sigv4(base + "?delimiter=%2F&list-type=2&prefix=sig%2F")
        self.assertEqual(r.status, 200, r)
        root = s.strip_ns(ET.fromstring(r.body))
        self.assertEqual([k.text for k in root.iter("Key")], ["sig/a.bin", "sig/b.bin"])
        self.assertEqual(root.find("KeyCount").text, "2")
        r = self.sigv4("-X", "DELETE", base + "/sig/b.bin")
        self.assertEqual(r.status, 204, r)
        self.assertNoObject(self.bucket, "sig/b.bin")

    def test_aws_sigv4_errors(self):
        base = self.server.endpoint + "/" + self.bucket
        path = self.file("e", b"e")
        r = self.sigv4("-T", path, base + "/sig/nosha", sha=None)
        self.assertCurlError(r, "InvalidRequest", 400,
                             "Missing required header for this request: x-amz-content-sha256")
        r = self.sigv4("-T", path, base + "/sig/badsecret", secret="not-the-secret")
        self.assertCurlError(r, "SignatureDoesNotMatch", 403, s.MSG_SIGNATURE)
        # A payload hash that is not the body's.
        r = self.sigv4("-T", path, base + "/sig/badsha", sha=hashlib.sha256(b"other").hexdigest())
        self.assertCurlError(r, "XAmzContentSHA256Mismatch", 400)
        for k in ("sig/nosha", "sig/badsecret", "sig/badsha"):
            self.assertNoObject(self.bucket, k)


if __name__ == "__main__":
    unittest.main()
