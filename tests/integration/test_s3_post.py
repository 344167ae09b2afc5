"""S3 POST Object: browser uploads with a signed POST policy (multipart/form-data).

Forms come from boto3's generate_presigned_post (SigV4 with an s3v4 client,
SigV2 with the default client on us-east-1), from policies built here, and
from AWS's published SigV4 POST example; they are sent with a hand-built
multipart body over http.client, with ``curl -F``, and byte by byte.

AWS facts asserted here (developer guide "POST Object", "POST Policy",
"Browser-Based Uploads Using POST", "sigv4-post-example", and responses
recorded against S3 by LocalStack's validated tests and in issue trackers):
* Default answer 204 with ETag and Location (the key percent-encoded, '/' as
  %2F); success_action_status 200 -> 200 empty, 201 -> <PostResponse> with
  Location, Bucket, Key, ETag; any other value -> 204; success_action_redirect
  (or the old `redirect`) -> 303 to the URL with bucket, key, etag (quoted,
  form-encoded) added to its query; a relative redirect is ignored (204).
* ${filename} in a field becomes the file's name (after the last / or \\); a
  file part without a filename parameter leaves it literal.
* Fields after the file are ignored; field and condition names compare without
  case, values with case; repeated fields are matched comma-joined.
* No signature fields: 403 AccessDenied "Access Denied". A missing companion
  field: 400 InvalidArgument "Bucket POST must contain a field named
  'X-Amz-Signature'.  If it is specified, please check the order of the
  fields." (two spaces). Missing key: the same naming 'key'. No file: 400
  InvalidArgument "POST requires exactly one file upload per request."
  (ArgumentName file, ArgumentValue 0).
* Bad signature: 403 SignatureDoesNotMatch with StringToSign = the policy.
  Another region: 400 InvalidArgument "the region 'x' is wrong; expecting
  'us-east-1'" with <Region>.
* Policy: 403 AccessDenied "Invalid according to Policy: Policy expired." /
  "... Policy Condition failed: [\\"eq\\", \\"$key\\", \\"v\\"]" (simple
  conditions printed as eq) / "... Extra input fields: <name>"; a condition on
  a field the form lacks fails, also starts-with "". Malformed policies: 400
  InvalidPolicyDocument "Invalid Policy: Invalid JSON." etc.
* content-length-range (inclusive, numbers or digit strings): 400
  EntityTooLarge "Your proposed upload exceeds the maximum allowed size" with
  ProposedSize/MaxSizeAllowed, EntityTooSmall "... smaller than the minimum
  allowed size" with ProposedSize/MinSizeAllowed.
* Not multipart: 412 PreconditionFailed, Condition "Bucket POST must be of the
  enclosure-type multipart/form-data"; no boundary / broken body: 400
  MalformedPOSTRequest; more than 20480 bytes before the file: 400
  MaxPostPreDataLengthExceeded with MaxPostPreDataLengthBytes 20480.
"""

import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import shutil
import socket
import subprocess
import time
import unittest
import urllib.parse
import uuid

import harness as h
import s3_harness as s
from s3_harness import ACCESS_KEY, SECRET_KEY, REGION, obj_path

DOMAIN = "s3.tweedle.test"
MSG_KEY = ("Bucket POST must contain a field named 'key'.  If it is specified, please check the "
           "order of the fields.")
MSG_NO_FILE = "POST requires exactly one file upload per request."
MSG_EXPIRED = "Invalid according to Policy: Policy expired."
FAILED = "Invalid according to Policy: Policy Condition failed: "
EXTRA = "Invalid according to Policy: Extra input fields: "
MSG_TOO_LARGE = "Your proposed upload exceeds the maximum allowed size"
MSG_TOO_SMALL = "Your proposed upload is smaller than the minimum allowed size"
MSG_MALFORMED = "The body of your POST request is not well-formed multipart/form-data."
MSG_PRE_DATA = "Your POST request fields preceeding the upload file was too large."
NOT_MULTIPART = "Bucket POST must be of the enclosure-type multipart/form-data"

# AWS's example (sigv4-post-example), with its credentials; the policy has CRLF line ends.
EX_ACCESS = "AKIAIOSFODNN7EXAMPLE"
EX_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
EX_POLICY = (
    '{ "expiration": "2015-12-30T12:00:00.000Z",\r\n  "conditions": [\r\n'
    '    {"bucket": "sigv4examplebucket"},\r\n'
    '    ["starts-with", "$key", "user/user1/"],\r\n'
    '    {"acl": "public-read"},\r\n'
    '    {"success_action_redirect": "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"},\r\n'
    '    ["starts-with", "$Content-Type", "image/"],\r\n'
    '    {"x-amz-meta-uuid": "14365123651274"},\r\n'
    '    {"x-amz-server-side-encryption": "AES256"},\r\n'
    '    ["starts-with", "$x-amz-meta-tag", ""],\r\n\r\n'
    '    {"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"},\r\n'
    '    {"x-amz-algorithm": "AWS4-HMAC-SHA256"},\r\n'
    '    {"x-amz-date": "20151229T000000Z" }\r\n  ]\r\n}')
EX_SIGNATURE = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
# botocore's generate_presigned_post for the same credentials at 2015-12-29T00:00:00Z.
BOTO_POLICY = ('{"expiration": "2015-12-29T01:00:00Z", "conditions": [{"bucket": "sigv4examplebucket"}, '
               '{"key": "user/user1/photo.jpg"}, {"x-amz-algorithm": "AWS4-HMAC-SHA256"}, '
               '{"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"}, '
               '{"x-amz-date": "20151229T000000Z"}]}')
BOTO_SIGNATURE = "3364624b39010d9b06f5d9b8c9a18a6e478d261c048159c92f2fd6fa885f14e6"


def setUpModule():
    h.start_module_server(__name__, extra_args=["--domain", DOMAIN])


def tearDownModule():
    s.stop(__name__)


# --------------------------------------------------------------------------
# forms
# --------------------------------------------------------------------------

def _b(v):
    return v if isinstance(v, bytes) else str(v).encode("utf-8")


def form_body(fields, file=None, filename="upload.bin", file_ctype=None, after=(), boundary=None,
              close=True):
    """multipart/form-data body: ``fields`` (name, value) in order, then the
    file part (``filename`` None: no filename parameter), then ``after``.
    Returns (body, Content-Type)."""
    boundary = boundary or "----twpost" + uuid.uuid4().hex
    B = boundary.encode()
    out = b""
    for name, value in fields:
        out += b"--" + B + b"\r\nContent-Disposition: form-data; name=\"" + _b(name) + b"\"\r\n\r\n"
        out += _b(value) + b"\r\n"
    if file is not None:
        disp = b"form-data; name=\"file\""
        if filename is not None:
            disp += b"; filename=\"" + _b(filename) + b"\""
        out += b"--" + B + b"\r\nContent-Disposition: " + disp + b"\r\n"
        if file_ctype:
            out += b"Content-Type: " + _b(file_ctype) + b"\r\n"
        out += b"\r\n" + file + b"\r\n"
    for name, value in after:
        out += b"--" + B + b"\r\nContent-Disposition: form-data; name=\"" + _b(name) + b"\"\r\n\r\n"
        out += _b(value) + b"\r\n"
    if close:
        out += b"--" + B + b"--\r\n"
    return out, "multipart/form-data; boundary=" + boundary


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def v4_auth(conditions, expiration=None, when=None, access=ACCESS_KEY, secret=SECRET_KEY,
            region=REGION, auth_conditions=True, policy=None):
    """SigV4 fields for a policy of ``conditions`` (plus the x-amz-* ones)."""
    when = when or h.utcnow()
    date = s.amz_date(when)
    cred = "%s/%s/%s/s3/aws4_request" % (access, date[:8], region)
    conds = list(conditions)
    if auth_conditions:
        conds += [{"x-amz-algorithm": "AWS4-HMAC-SHA256"}, {"x-amz-credential": cred}, {"x-amz-date": date}]
    if policy is None:
        exp = expiration or iso(h.utcnow() + datetime.timedelta(hours=1))
        policy = base64.b64encode(json.dumps({"expiration": exp, "conditions": conds}).encode()).decode()
    sig = hmac.new(s.signing_key(secret, date[:8], region), policy.encode(), hashlib.sha256).hexdigest()
    return [("x-amz-algorithm", "AWS4-HMAC-SHA256"), ("x-amz-credential", cred), ("x-amz-date", date),
            ("policy", policy), ("x-amz-signature", sig)]


def v2_auth(conditions, expiration=None, access=ACCESS_KEY, secret=SECRET_KEY):
    exp = expiration or iso(h.utcnow() + datetime.timedelta(hours=1))
    policy = base64.b64encode(json.dumps({"expiration": exp, "conditions": conditions}).encode())
    sig = base64.b64encode(hmac.new(secret.encode(), policy, hashlib.sha1).digest()).decode()
    return [("AWSAccessKeyId", access), ("policy", policy.decode()), ("signature", sig)]


def raw_policy_fields(doc_bytes):
    """SigV4 fields whose policy is exactly ``doc_bytes`` (base64'd, signed)."""
    return v4_auth([], policy=base64.b64encode(doc_bytes).decode())


def post(server, path, body, ctype, headers=None, timeout=60):
    hdrs = {"Content-Type": ctype}
    hdrs.update(headers or {})
    return s.send(server, "POST", path, body, hdrs, timeout=timeout)


def drip(server, path, body, ctype, piece=1, pause=0.0005, timeout=60):
    """POST with the body sent ``piece`` bytes at a time, with a pause between
    sends, so the server takes it in tiny reads."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                "Connection: close\r\n\r\n" % (path, server.port, ctype, len(body)))
        sock.sendall(head.encode())
        for i in range(0, len(body), piece):
            sock.sendall(body[i:i + piece])
            if pause:
                time.sleep(pause)
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        data = resp.read()
        return h.RawResponse(resp.status, resp.headers, data)
    finally:
        sock.close()


class PostTestBase(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("post")

    def upload(self, key, data=b"hello", conditions=(), fields=(), bucket=None, file_ctype=None,
               filename="upload.bin", after=(), auth=None, extra_conditions=True):
        """POST a SigV4 form: key + ``fields`` + auth; the policy covers the
        bucket, the key and ``conditions``."""
        bucket = bucket or self.bucket
        conds = [{"bucket": bucket}, ["starts-with", "$key", ""]] if extra_conditions else []
        conds += list(conditions)
        form = ([("key", key)] if key is not None else []) + list(fields)
        form += auth if auth is not None else v4_auth(conds)
        body, ctype = form_body(form, data, filename=filename, file_ctype=file_ctype, after=after)
        return post(self.server, "/" + bucket, body, ctype)

    def assertPostError(self, resp, code, status, message=None, **fields):
        return self.assertS3Error(resp, code, status, message=message, **fields)

    def head(self, bucket, key):
        return self.s3.head_object(Bucket=bucket, Key=key)


# --------------------------------------------------------------------------
# SDK-generated forms
# --------------------------------------------------------------------------

class PresignedPostTest(PostTestBase):

    def fields_of(self, presigned):
        return list(presigned["fields"].items())

    def test_boto3_sigv4_form(self):
        data = os.urandom(3000)
        p = self.s3v4.generate_presigned_post(self.bucket, "sdk/v4.bin")
        self.assertIn("x-amz-signature", p["fields"])
        self.assertEqual(p["url"], self.server.endpoint + "/" + self.bucket)
        body, ctype = form_body(self.fields_of(p), data)
        r = post(self.server, s.url_path(p["url"]), body, ctype)
        self.assertStatus(r, 204)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.header("ETag"), s.etag_of(data))
        self.assertEqual(r.header("Location"), "%s/%s/sdk%%2Fv4.bin" % (self.server.endpoint, self.bucket))
        self.assertEqual(r.header("x-amz-checksum-crc64nvme"), s.crc64nvme_b64(data))
        self.assertEqual(r.header("x-amz-checksum-type"), "FULL_OBJECT")
        self.assertEqual(self.get_body(self.bucket, "sdk/v4.bin"), data)
        hd = self.head(self.bucket, "sdk/v4.bin")
        self.assertEqual(hd["ContentLength"], len(data))
        self.assertEqual(hd["ContentType"], "binary/octet-stream")

    def test_boto3_default_client_form(self):
        # botocore's default for us-east-1 with an endpoint_url: SigV2 (AWSAccessKeyId,
        # signature) on older releases, SigV4 on some; either must work.
        p = self.s3.generate_presigned_post(self.bucket, "sdk/default.txt",
                                            Fields={"Content-Type": "text/plain"},
                                            Conditions=[{"Content-Type": "text/plain"}])
        body, ctype = form_body(self.fields_of(p), b"default client")
        r = post(self.server, s.url_path(p["url"]), body, ctype)
        self.assertStatus(r, 204)
        obj = self.s3.get_object(Bucket=self.bucket, Key="sdk/default.txt")
        self.assertEqual(obj["Body"].read(), b"default client")
        self.assertEqual(obj["ContentType"], "text/plain")

    def test_boto3_filename_prefix_and_201(self):
        p = self.s3v4.generate_presigned_post(
            self.bucket, "uploads/${filename}", Fields={"success_action_status": "201"},
            Conditions=[{"success_action_status": "201"}])
        body, ctype = form_body(self.fields_of(p), b"<b>x</b>", filename="C:\\Users\\me\\page one.html")
        r = post(self.server, s.url_path(p["url"]), body, ctype)
        self.assertStatus(r, 201)
        root = s.parse_xml(r.body)
        self.assertEqual(root.tag, "PostResponse")  # no namespace, as S3 sends it
        got = {c.tag: c.text for c in root}
        self.assertEqual(got["Bucket"], self.bucket)
        self.assertEqual(got["Key"], "uploads/page one.html")
        self.assertEqual(got["ETag"], s.etag_of(b"<b>x</b>"))
        self.assertEqual(got["Location"], "%s/%s/uploads%%2Fpage%%20one.html" % (self.server.endpoint, self.bucket))
        self.assertEqual(r.header("Location"), got["Location"])
        self.assertEqual(r.header("ETag"), got["ETag"])
        self.assertEqual(self.get_body(self.bucket, "uploads/page one.html"), b"<b>x</b>")

    def test_curl_form(self):
        curl = shutil.which("curl")
        if not curl:
            raise unittest.SkipTest("curl not installed")
        p = self.s3v4.generate_presigned_post(self.bucket, "curl/${filename}",
                                              Fields={"x-amz-meta-from": "curl"},
                                              Conditions=[{"x-amz-meta-from": "curl"}])
        path = os.path.join(self.server.data_dir + ".curl-upload.txt")
        data = b"curl says hi\r\n--not-a-boundary\r\n" * 50
        with open(path, "wb") as f:
            f.write(data)
        try:
            args = [curl, "-s", "-S", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30"]
            for k, v in p["fields"].items():
                args += ["--form-string", "%s=%s" % (k, v)]
            args += ["-F", "file=@%s;type=text/plain" % path, p["url"]]
            out = subprocess.run(args, capture_output=True, text=True, timeout=60)
        finally:
            os.unlink(path)
        self.assertEqual(out.stdout, "204", out.stderr)
        key = "curl/" + os.path.basename(path)
        obj = self.s3.get_object(Bucket=self.bucket, Key=key)
        self.assertEqual(obj["Body"].read(), data)
        self.assertEqual(obj["Metadata"], {"from": "curl"})
        # no Content-Type field: the file part's own type
        self.assertEqual(obj["ContentType"], "text/plain")

    def test_aws_published_sigv4_examples(self):
        """AWS's sigv4-post-example and botocore's form for the example
        credentials: the signatures are accepted (the policies have long expired),
        one changed character is not."""
        srv = h.Server(env={"TWEEDLE_ACCESS_KEY_ID": EX_ACCESS, "TWEEDLE_SECRET_ACCESS_KEY": EX_SECRET})
        srv.start()
        try:
            s.s3_client(srv, access_key=EX_ACCESS, secret_key=EX_SECRET).create_bucket(Bucket="sigv4examplebucket")
            example = [("key", "user/user1/${filename}"), ("acl", "public-read"),
                       ("success_action_redirect", "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"),
                       ("Content-Type", "image/jpeg"), ("x-amz-meta-uuid", "14365123651274"),
                       ("x-amz-server-side-encryption", "AES256"),
                       ("X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"),
                       ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Date", "20151229T000000Z"),
                       ("x-amz-meta-tag", ""), ("Policy", base64.b64encode(EX_POLICY.encode()).decode())]
            botoform = [("key", "user/user1/photo.jpg"), ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
                        ("x-amz-credential", "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"),
                        ("x-amz-date", "20151229T000000Z"),
                        ("policy", base64.b64encode(BOTO_POLICY.encode()).decode())]
            for form, sig, signame in ((example, EX_SIGNATURE, "X-Amz-Signature"),
                                       (botoform, BOTO_SIGNATURE, "x-amz-signature")):
                body, ctype = form_body(form + [(signame, sig)], b"\xff\xd8 jpeg", filename="photo.jpg")
                r = post(srv, "/sigv4examplebucket", body, ctype)
                self.assertS3Error(r, "AccessDenied", 403, message=MSG_EXPIRED)
                bad = ("0" if sig[0] != "0" else "1") + sig[1:]
                body, ctype = form_body(form + [(signame, bad)], b"\xff\xd8 jpeg", filename="photo.jpg")
                r = post(srv, "/sigv4examplebucket", body, ctype)
                e = self.assertS3Error(r, "SignatureDoesNotMatch", 403, message=s.MSG_SIGNATURE,
                                       AWSAccessKeyId=EX_ACCESS, SignatureProvided=bad)
                policy_b64 = dict((k.lower(), v) for k, v in form)["policy"]
                self.assertEqual(e["StringToSign"], policy_b64)
                self.assertEqual(e["StringToSignBytes"], " ".join("%02x" % c for c in policy_b64.encode()))
        finally:
            srv.stop()
            srv.cleanup()


# --------------------------------------------------------------------------
# the answer
# --------------------------------------------------------------------------

class ResponseTest(PostTestBase):

    def test_success_action_status(self):
        for status, want in (("200", 200), ("201", 201), ("204", 204), ("404", 204), ("", 204)):
            key = "status/%s" % (status or "empty")
            r = self.upload(key, b"s" + status.encode(), conditions=[{"success_action_status": status}],
                            fields=[("success_action_status", status)])
            self.assertStatus(r, want)
            self.assertEqual(r.header("ETag"), s.etag_of(b"s" + status.encode()))
            if want != 201:
                self.assertEqual(r.body, b"")
            self.assertEqual(self.get_body(self.bucket, key), b"s" + status.encode())

    def test_redirect(self):
        url = "https://app.example.com/done?session=a%20b"
        r = self.upload("redir/a b+c.txt", b"redirected",
                        conditions=[["starts-with", "$success_action_redirect", "https://app.example.com/"]],
                        fields=[("success_action_redirect", url)])
        self.assertStatus(r, 303)
        self.assertEqual(r.body, b"")
        want = url + "&bucket=%s&key=redir%%2Fa+b%%2Bc.txt&etag=%%22%s%%22" % (self.bucket, s.md5_hex(b"redirected"))
        self.assertEqual(r.header("Location"), want)
        self.assertEqual(r.header("ETag"), s.etag_of(b"redirected"))
        self.assertEqual(self.get_body(self.bucket, "redir/a b+c.txt"), b"redirected")

    def test_old_redirect_field_and_fragment(self):
        r = self.upload("redir/old", b"old", conditions=[["starts-with", "$redirect", ""]],
                        fields=[("redirect", "http://example.com/landing#top")])
        self.assertStatus(r, 303)
        self.assertEqual(r.header("Location"), "http://example.com/landing?bucket=%s&key=redir%%2Fold&etag=%%22%s%%22#top"
                         % (self.bucket, s.md5_hex(b"old")))

    def test_relative_redirect_is_ignored(self):
        # URLs S3 cannot use are ignored: relative, no scheme, control characters
        for i, url in enumerate(("/wrong/redirect/relative", "abc", "http:/x", "://x", "http://",
                                 "http://a\r\nSet-Cookie: x=1")):
            key = "redir/relative-%d" % i
            r = self.upload(key, b"rel", conditions=[["starts-with", "$success_action_redirect", ""]],
                            fields=[("success_action_redirect", url)])
            self.assertStatus(r, 204)
            self.assertIsNone(r.header("Set-Cookie"))
            self.assertEqual(self.get_body(self.bucket, key), b"rel")

    def test_metadata_and_headers_round_trip(self):
        fields = [("Content-Type", "image/png"), ("Cache-Control", "max-age=60"),
                  ("Content-Disposition", 'attachment; filename="x.png"'), ("Content-Encoding", "identity"),
                  ("x-amz-meta-Owner", "  Ann  "), ("x-amz-meta-TEST-2", "two"),
                  ("x-amz-website-redirect-location", "/elsewhere")]
        conds = [{name: value} for name, value in fields]
        r = self.upload("meta/obj.png", b"\x89PNG", conditions=conds, fields=fields, file_ctype="text/plain")
        self.assertStatus(r, 204)
        obj = self.s3.get_object(Bucket=self.bucket, Key="meta/obj.png")
        self.assertEqual(obj["Body"].read(), b"\x89PNG")
        self.assertEqual(obj["ContentType"], "image/png")  # the field wins over the part's type
        self.assertEqual(obj["CacheControl"], "max-age=60")
        self.assertEqual(obj["ContentDisposition"], 'attachment; filename="x.png"')
        self.assertEqual(obj["ContentEncoding"], "identity")
        self.assertEqual(obj["WebsiteRedirectLocation"], "/elsewhere")
        self.assertEqual(obj["Metadata"], {"owner": "Ann", "test-2": "two"})

    def test_non_ascii_metadata_is_rfc2047_encoded(self):
        # as S3 answered in LocalStack's validated recordings
        values = [("x-amz-meta-a", "ÄMÄZÕÑ S3"), ("x-amz-meta-b", "\x00\x01\x02\x03\x04"),
                  ("x-amz-meta-c", "=?UTF-8?Q?already?="), ("x-amz-meta-d", "plain ascii")]
        r = self.upload("meta/2047", conditions=[{k: v} for k, v in values], fields=values)
        self.assertStatus(r, 204)
        self.assertEqual(self.head(self.bucket, "meta/2047")["Metadata"],
                         {"a": "=?UTF-8?Q?=C3=84M=C3=84Z=C3=95=C3=91_S3?=", "b": "=?UTF-8?B?AAECAwQ=?=",
                          "c": "=?UTF-8?Q?already?=", "d": "plain ascii"})

    def test_repeated_fields_join_with_commas(self):
        r = self.upload("meta/repeated", b"r", conditions=[{"x-amz-meta-tag": "Ninja,Stallman"}],
                        fields=[("x-amz-meta-tag", "Ninja"), ("x-amz-meta-tag", "Stallman")])
        self.assertStatus(r, 204)
        self.assertEqual(self.head(self.bucket, "meta/repeated")["Metadata"], {"tag": "Ninja,Stallman"})

    def test_fields_after_the_file_are_ignored(self):
        r = self.upload("after/file", b"first", after=[("x-amz-meta-late", "1"), ("not-covered", "x"),
                                                       ("key", "other")])
        self.assertStatus(r, 204)
        self.assertEqual(self.head(self.bucket, "after/file")["Metadata"], {})
        self.assertNoObject(self.bucket, "other")

    def test_overwrite_and_empty_file(self):
        self.assertStatus(self.upload("over/x", b"one"), 204)
        r = self.upload("over/x", b"")
        self.assertStatus(r, 204)
        self.assertEqual(r.header("ETag"), s.etag_of(b""))
        self.assertEqual(self.get_body(self.bucket, "over/x"), b"")

    def test_filename_variable(self):
        # a path in the file name: only its last element
        r = self.upload("fn/${filename}", b"1", filename="dir/sub\\name.txt")
        self.assertStatus(r, 204)
        self.assertEqual(self.get_body(self.bucket, "fn/name.txt"), b"1")
        # expanded in every field, before the policy is checked
        r = self.upload("fn2/${filename}", b"2", filename="pic.jpg",
                        conditions=[{"x-amz-meta-name": "pic.jpg"}], fields=[("x-amz-meta-name", "${filename}")])
        self.assertStatus(r, 204)
        self.assertEqual(self.head(self.bucket, "fn2/pic.jpg")["Metadata"], {"name": "pic.jpg"})
        # no filename parameter: left as it is (as S3 did in LocalStack's recording)
        r = self.upload("fn3-${filename}", b"3", filename=None)
        self.assertStatus(r, 204)
        self.assertEqual(self.get_body(self.bucket, "fn3-${filename}"), b"3")
        # an empty file name: empty
        r = self.upload("fn4/${filename}", b"4", filename="")
        self.assertStatus(r, 204)
        self.assertEqual(self.get_body(self.bucket, "fn4/"), b"4")

    def test_file_part_content_type_and_default(self):
        self.assertStatus(self.upload("ct/part", b"{}", file_ctype="application/json"), 204)
        self.assertEqual(self.head(self.bucket, "ct/part")["ContentType"], "application/json")
        self.assertStatus(self.upload("ct/none", b"{}"), 204)
        self.assertEqual(self.head(self.bucket, "ct/none")["ContentType"], "binary/octet-stream")

    def test_hostile_keys_stored_exactly(self):
        probe = "../../../../../../tmp/tweedle-post-escape-" + uuid.uuid4().hex
        for key in ("../x", "a/../../b", probe, "sp ace/ü/#?%", "//lead"):
            r = self.upload(key, key.encode())
            self.assertStatus(r, 204)
            self.assertEqual(self.get_body(self.bucket, key), key.encode())
        self.assertFalse(os.path.exists("/tmp/" + probe.rsplit("/", 1)[1]))
        keys = [o["Key"] for o in self.s3.list_objects_v2(Bucket=self.bucket, Prefix="../")["Contents"]]
        self.assertIn("../x", keys)

    def test_virtual_hosted_bucket(self):
        bucket = self.make_bucket("vpost")
        form = [("key", "v/h.txt")] + v4_auth([{"bucket": bucket}, {"key": "v/h.txt"}])
        body, ctype = form_body(form, b"vhost")
        host = "%s.%s:%d" % (bucket, DOMAIN, self.server.port)
        r = post(self.server, "/", body, ctype, headers={"Host": host})
        self.assertStatus(r, 204)
        self.assertEqual(r.header("Location"), "http://%s/v%%2Fh.txt" % host)
        self.assertEqual(self.get_body(bucket, "v/h.txt"), b"vhost")


# --------------------------------------------------------------------------
# the policy
# --------------------------------------------------------------------------

class PolicyTest(PostTestBase):

    def denied(self, r, message, key=None):
        self.assertS3Error(r, "AccessDenied", 403, message=message)
        if key:
            self.assertNoObject(self.bucket, key)

    def test_eq_and_simple_conditions(self):
        ok = self.upload("eq/k", conditions=[["eq", "$x-amz-meta-a", "v"], {"x-amz-meta-b": "w"}],
                         fields=[("x-amz-meta-a", "v"), ("x-amz-meta-b", "w")])
        self.assertStatus(ok, 204)
        r = self.upload("eq/k2", conditions=[["eq", "$x-amz-meta-a", "v"]], fields=[("x-amz-meta-a", "V")])
        self.denied(r, FAILED + '["eq", "$x-amz-meta-a", "v"]', "eq/k2")
        # simple conditions are printed as eq, with the policy's spelling
        r = self.upload("eq/k3", conditions=[{"X-Amz-Meta-B": "w"}], fields=[("x-amz-meta-b", "nope")])
        self.denied(r, FAILED + '["eq", "$X-Amz-Meta-B", "w"]', "eq/k3")
        # the key is one of the fields
        r = self.upload("eq/other", extra_conditions=False, conditions=[{"bucket": self.bucket}, {"key": "eq/k4"}])
        self.denied(r, FAILED + '["eq", "$key", "eq/k4"]', "eq/other")

    def test_starts_with(self):
        self.assertStatus(self.upload("sw/user/1", extra_conditions=False,
                                      conditions=[{"bucket": self.bucket}, ["starts-with", "$key", "sw/user/"]]), 204)
        r = self.upload("sw/other/1", extra_conditions=False,
                        conditions=[{"bucket": self.bucket}, ["starts-with", "$key", "sw/user/"]])
        self.denied(r, FAILED + '["starts-with", "$key", "sw/user/"]', "sw/other/1")
        r = self.upload("SW/user/2", extra_conditions=False,
                        conditions=[{"bucket": self.bucket}, ["starts-with", "$key", "sw/"]])
        self.denied(r, FAILED + '["starts-with", "$key", "sw/"]', "SW/user/2")
        # starts-with "" allows anything, but the field must be there
        self.assertStatus(self.upload("sw/any", conditions=[["starts-with", "$x-amz-meta-any", ""]],
                                      fields=[("x-amz-meta-any", "whatever")]), 204)
        r = self.upload("sw/absent", conditions=[["starts-with", "$Content-Type", ""]])
        self.denied(r, FAILED + '["starts-with", "$Content-Type", ""]', "sw/absent")

    def test_content_type_lists(self):
        cond = [["starts-with", "$Content-Type", "image/"]]
        self.assertStatus(self.upload("ctl/ok", conditions=cond, fields=[("Content-Type", "image/jpg,image/png")]), 204)
        r = self.upload("ctl/bad", conditions=cond, fields=[("Content-Type", "image/jpg,text/plain")])
        self.denied(r, FAILED + '["starts-with", "$Content-Type", "image/"]', "ctl/bad")
        # other fields are plain strings, commas and all
        self.assertStatus(self.upload("ctl/meta", conditions=[["starts-with", "$x-amz-meta-l", "a"]],
                                      fields=[("x-amz-meta-l", "a,b")]), 204)

    def test_names_without_case_values_with_case(self):
        r = self.upload("case/k", extra_conditions=False,
                        conditions=[{"BuCkEt": self.bucket}, ["StArTs-WiTh", "$KeY", "case/"],
                                    ["eq", "$content-TYPE", "Text/Plain"]],
                        fields=[("CONTENT-type", "Text/Plain")])
        self.assertStatus(r, 204)
        self.assertEqual(self.head(self.bucket, "case/k")["ContentType"], "Text/Plain")
        r = self.upload("case/k2", conditions=[["eq", "$Content-Type", "Text/Plain"]],
                        fields=[("Content-Type", "text/plain")])
        self.denied(r, FAILED + '["eq", "$Content-Type", "Text/Plain"]', "case/k2")
        # a condition without "$" names no field and fails
        r = self.upload("case/k3", conditions=[["eq", "x-amz-meta-q", "1"]], fields=[("x-amz-meta-q", "1")])
        self.denied(r, FAILED + '["eq", "x-amz-meta-q", "1"]', "case/k3")

    def test_bucket_condition_is_the_url_bucket(self):
        other = self.make_bucket("postother")
        form = [("key", "b/x")] + v4_auth([{"bucket": self.bucket}, ["starts-with", "$key", ""]])
        body, ctype = form_body(form, b"b")
        r = post(self.server, "/" + other, body, ctype)
        self.assertS3Error(r, "AccessDenied", 403, message=FAILED + '["eq", "$bucket", "%s"]' % self.bucket)
        self.assertNoObject(other, "b/x")

    def test_extra_input_fields(self):
        r = self.upload("extra/1", fields=[("x-custom", "1")])
        self.denied(r, EXTRA + "x-custom", "extra/1")
        # named as sent
        r = self.upload("extra/2", fields=[("StorageClass", "STANDARD")])
        self.denied(r, EXTRA + "StorageClass", "extra/2")
        # a bucket field needs its condition too
        r = self.upload("extra/3", extra_conditions=False, conditions=[["starts-with", "$key", ""]],
                        fields=[("bucket", self.bucket)])
        self.denied(r, EXTRA + "bucket", "extra/3")
        # checksums are fields like any other
        r = self.upload("extra/4", b"x", fields=[("x-amz-checksum-crc32", s.crc32_b64(b"x"))])
        self.denied(r, EXTRA + "x-amz-checksum-crc32", "extra/4")
        # x-ignore-* and the signature fields need none
        self.assertStatus(self.upload("extra/5", fields=[("x-ignore-tracker", "1"), ("X-Ignore-Other", "2")]), 204)

    def test_expired(self):
        past = iso(h.utcnow() - datetime.timedelta(seconds=5))
        form = [("key", "exp/1")] + v4_auth([{"bucket": self.bucket}, ["starts-with", "$key", ""]], expiration=past)
        body, ctype = form_body(form, b"e")
        r = post(self.server, "/" + self.bucket, body, ctype)
        self.denied(r, MSG_EXPIRED, "exp/1")
        # milliseconds are accepted too
        future = (h.utcnow() + datetime.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.123Z")
        form = [("key", "exp/2")] + v4_auth([{"bucket": self.bucket}, ["starts-with", "$key", ""]],
                                             expiration=future)
        body, ctype = form_body(form, b"e")
        self.assertStatus(post(self.server, "/" + self.bucket, body, ctype), 204)

    def test_content_length_range(self):
        rng = [["content-length-range", 5, 10]]
        for n in (5, 7, 10):
            self.assertStatus(self.upload("len/%d" % n, b"x" * n, conditions=rng), 204)
        r = self.upload("len/12", b"x" * 12, conditions=rng)
        self.assertS3Error(r, "EntityTooLarge", 400, message=MSG_TOO_LARGE, ProposedSize="12", MaxSizeAllowed="10")
        self.assertNoObject(self.bucket, "len/12")
        r = self.upload("len/1", b"x", conditions=rng)
        self.assertS3Error(r, "EntityTooSmall", 400, message=MSG_TOO_SMALL, ProposedSize="1", MinSizeAllowed="5")
        self.assertNoObject(self.bucket, "len/1")
        # bounds as strings
        self.assertStatus(self.upload("len/s", b"x" * 6, conditions=[["content-length-range", "5", "10"]]), 204)
        r = self.upload("len/t", b"x" * 6, conditions=[["content-length-range", "test", "10"]])
        self.denied(r, FAILED + '["content-length-range", "test", "10"]', "len/t")

    def test_large_file_over_the_range_stops_early(self):
        # 2 MiB against a 1 KiB limit: refused before the whole body is stored
        data = b"z" * (2 << 20)
        r = self.upload("len/big", data, conditions=[["content-length-range", 0, 1024]])
        e = self.assertS3Error(r, "EntityTooLarge", 400, message=MSG_TOO_LARGE, MaxSizeAllowed="1024")
        self.assertGreater(int(e["ProposedSize"]), 1024)
        self.assertLessEqual(int(e["ProposedSize"]), len(data))
        self.assertNoObject(self.bucket, "len/big")

    def test_policy_documents_that_do_not_parse(self):
        cases = [
            (b"not json", "Invalid Policy: Invalid JSON."),
            (b'["expiration"]', "Invalid Policy: Invalid JSON."),
            (b'{"conditions": []}', "Invalid Policy: Policy missing expiration."),
            (b'{"expiration": "2099-01-01T00:00:00Z"}', "Invalid Policy: Policy missing conditions."),
            (b'{"expiration": "2099-01-01T00:00:00Z", "CONDITIONS": []}', "Invalid Policy: Unexpected: 'conditions'"),
            (b'{"expiration": "2099-01-01 00:00:00 UTC", "conditions": []}',
             "Invalid Policy: Invalid 'expiration' value: '2099-01-01 00:00:00 UTC'"),
            (b'{"expiration": "2099-01-01T00:00:00+02:00", "conditions": []}',
             "Invalid Policy: Invalid 'expiration' value: '2099-01-01T00:00:00+02:00'"),
            (b'{"expiration": "2099-01-01T00:00:00Z", "conditions": {}}',
             "Invalid Policy: Invalid 'conditions' value: must be a List."),
            (b'{"expiration": "2099-01-01T00:00:00Z", "conditions": [{}]}',
             "Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly one property specified."),
            (b'{"expiration": "2099-01-01T00:00:00Z", "conditions": [{"a": "1", "b": "2"}]}',
             "Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly one property specified."),
            (b'{"expiration": "2099-01-01T00:00:00Z", "conditions": [{"Content-Length": 6199034}]}',
             "Invalid Policy: Invalid Simple-Condition: value must be a string."),
            (b'{"expiration": "2099-01-01T00:00:00Z", "conditions": [{"success_action_redirect": null}]}',
             "Invalid Policy: Invalid JSON."),
            (b'{"expiration": "2099-01-01T00:00:00Z", "conditions": [["content-length-range", 0, 512.0]]}',
             "Invalid Policy: Invalid JSON."),
            (b'{"expiration": "2099-01-01T00:00:00Z", "conditions": [[]]}',
             "Invalid Policy: Invalid Condition: missing operation identifier."),
            (b'{"expiration": "2099-01-01T00:00:00Z", "conditions": [["ends-with", "$key", "x"]]}',
             "Invalid Policy: Invalid Condition: unknown operation 'ends-with'."),
            (b'{"expiration": "2099-01-01T00:00:00Z", "conditions": [["content-length-range", 0]]}',
             "Invalid Policy: Invalid content-length-range: wrong number of arguments."),
        ]
        for i, (doc, message) in enumerate(cases):
            key = "bad-policy/%d" % i
            body, ctype = form_body([("key", key)] + raw_policy_fields(doc), b"p")
            r = post(self.server, "/" + self.bucket, body, ctype)
            self.assertS3Error(r, "InvalidPolicyDocument", 400, message=message)
            self.assertNoObject(self.bucket, key)
        # not base64 at all (the signature is over the text as sent)
        fields = v4_auth([], policy="%%%not-base64%%%")
        body, ctype = form_body([("key", "bad-policy/b64")] + fields, b"p")
        r = post(self.server, "/" + self.bucket, body, ctype)
        self.assertS3Error(r, "InvalidPolicyDocument", 400)

    def test_integrity_fields(self):
        data = b"integrity" * 100
        conds = [["starts-with", "$x-amz-checksum-sha256", ""]]
        r = self.upload("int/sha", data, conditions=conds, fields=[("x-amz-checksum-sha256", s.sha256_b64(data))])
        self.assertStatus(r, 204)
        self.assertEqual(r.header("x-amz-checksum-sha256"), s.sha256_b64(data))
        r = self.upload("int/sha-bad", data, conditions=conds,
                        fields=[("x-amz-checksum-sha256", s.sha256_b64(b"other"))])
        self.assertS3Error(r, "BadDigest", 400, message=s.checksum_mismatch_message("SHA256"))
        self.assertNoObject(self.bucket, "int/sha-bad")
        conds = [["starts-with", "$Content-MD5", ""]]
        self.assertStatus(self.upload("int/md5", data, conditions=conds, fields=[("Content-MD5", s.md5_b64(data))]), 204)
        r = self.upload("int/md5-bad", data, conditions=conds, fields=[("Content-MD5", s.md5_b64(b"x"))])
        self.assertS3Error(r, "BadDigest", 400, message=s.MSG_BAD_DIGEST_MD5)
        self.assertNoObject(self.bucket, "int/md5-bad")
        r = self.upload("int/md5-invalid", data, conditions=conds, fields=[("Content-MD5", "nope")])
        self.assertS3Error(r, "InvalidDigest", 400)

    def test_metadata_size_limit(self):
        fields = [("x-amz-meta-big", "v" * 2100)]
        r = self.upload("meta/too-big", conditions=[{"x-amz-meta-big": "v" * 2100}], fields=fields)
        self.assertS3Error(r, "MetadataTooLarge", 400, Size=str(3 + 2100), MaxSizeAllowed="2048")
        self.assertNoObject(self.bucket, "meta/too-big")


# --------------------------------------------------------------------------
# authentication
# --------------------------------------------------------------------------

class AuthTest(PostTestBase):

    def test_no_signature_is_anonymous(self):
        # a private bucket: a form without signature fields is denied, policy or not
        for form in ([("key", "anon/1")],
                     [("key", "anon/2"), ("policy", base64.b64encode(b'{"expiration":"2099-01-01T00:00:00Z","conditions":[]}').decode())]):
            body, ctype = form_body(form, b"a")
            r = post(self.server, "/" + self.bucket, body, ctype)
            self.assertS3Error(r, "AccessDenied", 403, message=s.MSG_ACCESS_DENIED)
        self.assertNoObject(self.bucket, "anon/1")

    def test_missing_companion_fields(self):
        full = dict(v4_auth([{"bucket": self.bucket}]))
        for drop, named in ((("x-amz-signature",), "X-Amz-Signature"),
                            (("x-amz-algorithm", "x-amz-credential"), "X-Amz-Algorithm"),
                            (("x-amz-date",), "X-Amz-Date"),
                            (("policy",), "Policy")):
            form = [("key", "miss/x")] + [(k, v) for k, v in full.items() if k not in drop]
            body, ctype = form_body(form, b"m")
            r = post(self.server, "/" + self.bucket, body, ctype)
            self.assertS3Error(r, "InvalidArgument", 400,
                               message="Bucket POST must contain a field named '%s'.  If it is specified, "
                                       "please check the order of the fields." % named,
                               ArgumentName=named, ArgumentValue="")
        v2 = dict(v2_auth([{"bucket": self.bucket}]))
        del v2["signature"]
        body, ctype = form_body([("key", "miss/y")] + list(v2.items()), b"m")
        r = post(self.server, "/" + self.bucket, body, ctype)
        self.assertS3Error(r, "InvalidArgument", 400, ArgumentName="Signature")
        self.assertNoObject(self.bucket, "miss/x")

    def test_bad_signature_v4(self):
        fields = v4_auth([{"bucket": self.bucket}, ["starts-with", "$key", ""]], secret="wrong-secret")
        body, ctype = form_body([("key", "sig/v4")] + fields, b"s")
        r = post(self.server, "/" + self.bucket, body, ctype)
        f = dict(fields)
        e = self.assertS3Error(r, "SignatureDoesNotMatch", 403, message=s.MSG_SIGNATURE, AWSAccessKeyId=ACCESS_KEY,
                               SignatureProvided=f["x-amz-signature"], StringToSign=f["policy"])
        self.assertTrue(e["StringToSignBytes"].startswith("%02x " % ord(f["policy"][0])))
        self.assertNoObject(self.bucket, "sig/v4")

    def test_tampered_policy(self):
        fields = dict(v4_auth([{"bucket": self.bucket}, ["starts-with", "$key", "safe/"]]))
        doc = json.loads(base64.b64decode(fields["policy"]))
        doc["conditions"][1] = ["starts-with", "$key", ""]
        fields["policy"] = base64.b64encode(json.dumps(doc).encode()).decode()
        body, ctype = form_body([("key", "unsafe/x")] + list(fields.items()), b"t")
        r = post(self.server, "/" + self.bucket, body, ctype)
        self.assertS3Error(r, "SignatureDoesNotMatch", 403)
        self.assertNoObject(self.bucket, "unsafe/x")

    def test_v2_signatures(self):
        conds = [{"bucket": self.bucket}, ["starts-with", "$key", "v2/"]]
        body, ctype = form_body([("key", "v2/ok")] + v2_auth(conds), b"v2")
        self.assertStatus(post(self.server, "/" + self.bucket, body, ctype), 204)
        self.assertEqual(self.get_body(self.bucket, "v2/ok"), b"v2")
        # field names in any case
        form = [("KEY", "v2/case")] + [(k.upper(), v) for k, v in v2_auth(conds)]
        body, ctype = form_body(form, b"v2c")
        self.assertStatus(post(self.server, "/" + self.bucket, body, ctype), 204)
        body, ctype = form_body([("key", "v2/bad")] + v2_auth(conds, secret="nope"), b"v2")
        r = post(self.server, "/" + self.bucket, body, ctype)
        self.assertS3Error(r, "SignatureDoesNotMatch", 403, AWSAccessKeyId=ACCESS_KEY)
        self.assertNoObject(self.bucket, "v2/bad")

    def test_unknown_access_key(self):
        for fields in (v4_auth([{"bucket": self.bucket}], access="AKIDUNKNOWN"),
                       v2_auth([{"bucket": self.bucket}], access="AKIDUNKNOWN")):
            body, ctype = form_body([("key", "who/x")] + fields, b"k")
            r = post(self.server, "/" + self.bucket, body, ctype)
            self.assertS3Error(r, "InvalidAccessKeyId", 403, message=s.MSG_INVALID_KEY_ID, AWSAccessKeyId="AKIDUNKNOWN")
        self.assertNoObject(self.bucket, "who/x")

    def test_credential_scope(self):
        fields = v4_auth([{"bucket": self.bucket}], region="us-west-2")
        cred = dict(fields)["x-amz-credential"]
        body, ctype = form_body([("key", "scope/x")] + fields, b"r")
        r = post(self.server, "/" + self.bucket, body, ctype)
        self.assertS3Error(r, "InvalidArgument", 400, message="the region 'us-west-2' is wrong; expecting '%s'" % REGION,
                           ArgumentName="X-Amz-Credential", ArgumentValue=cred, Region=REGION)
        good = dict(v4_auth([{"bucket": self.bucket}]))
        for bad_cred in ("justakey", ACCESS_KEY + "/2015/us-east-1/s3/aws4_request",
                         ACCESS_KEY + "/20151229/us-east-1/sqs/aws4_request",
                         ACCESS_KEY + "/20151229/us-east-1/s3/aws5_request", "/20151229/us-east-1/s3/aws4_request"):
            f = dict(good)
            f["x-amz-credential"] = bad_cred
            body, ctype = form_body([("key", "scope/y")] + list(f.items()), b"r")
            r = post(self.server, "/" + self.bucket, body, ctype)
            self.assertS3Error(r, "InvalidArgument", 400, ArgumentName="X-Amz-Credential", ArgumentValue=bad_cred)
        f = dict(good)
        f["x-amz-date"] = "2015-12-29"
        body, ctype = form_body([("key", "scope/z")] + list(f.items()), b"r")
        r = post(self.server, "/" + self.bucket, body, ctype)
        self.assertS3Error(r, "InvalidArgument", 400, ArgumentName="X-Amz-Date", ArgumentValue="2015-12-29")
        self.assertNoObject(self.bucket, "scope/x")


# --------------------------------------------------------------------------
# the form itself
# --------------------------------------------------------------------------

class FormTest(PostTestBase):

    def test_missing_key(self):
        r = self.upload(None)
        self.assertS3Error(r, "InvalidArgument", 400, message=MSG_KEY, ArgumentName="key", ArgumentValue="")
        # a key after the file does not count
        r = self.upload(None, after=[("key", "late/key")])
        self.assertS3Error(r, "InvalidArgument", 400, message=MSG_KEY)
        self.assertNoObject(self.bucket, "late/key")

    def test_key_limits(self):
        r = self.upload("")
        self.assertS3Error(r, "InvalidArgument", 400, message="User key must have a length greater than 0.")
        r = self.upload("k" * 1025)
        self.assertS3Error(r, "KeyTooLongError", 400, Size="1025", MaxSizeAllowed="1024")
        self.assertStatus(self.upload("k" * 1024), 204)

    def test_no_file(self):
        form = [("key", "nofile/x")] + v4_auth([{"bucket": self.bucket}, ["starts-with", "$key", ""]])
        body, ctype = form_body(form)
        r = post(self.server, "/" + self.bucket, body, ctype)
        self.assertS3Error(r, "InvalidArgument", 400, message=MSG_NO_FILE, ArgumentName="file", ArgumentValue="0")
        # a part with a filename but another name is a field, not the file
        body, ctype = form_body(form)
        b = ctype.split("boundary=")[1]
        body = body.replace(b"--" + b.encode() + b"--", b"--" + b.encode() +
                            b"\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"a.txt\"\r\n\r\nzz\r\n--" +
                            b.encode() + b"--")
        r = post(self.server, "/" + self.bucket, body, ctype)
        self.assertS3Error(r, "AccessDenied", 403, message=EXTRA + "upload")
        self.assertNoObject(self.bucket, "nofile/x")

    def test_not_multipart(self):
        # (a form-urlencoded POST to / or to a queue URL is SQS's query protocol; to a bucket, S3)
        for ctype in ("application/x-www-form-urlencoded", "text/plain", "multipart/mixed; boundary=abc", "multipart/form-datax; boundary=abc"):
            r = post(self.server, "/" + self.bucket, b"key=x", ctype)
            self.assertS3Error(r, "PreconditionFailed", 412, message=s.MSG_PRECONDITION, Condition=NOT_MULTIPART)
        r = s.send(self.server, "POST", "/" + self.bucket, b"", {})
        self.assertS3Error(r, "PreconditionFailed", 412, Condition=NOT_MULTIPART)
        for ctype in ("multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=" + "b" * 71):
            r = post(self.server, "/" + self.bucket, b"--x\r\n", ctype)
            self.assertS3Error(r, "MalformedPOSTRequest", 400, message=MSG_MALFORMED)

    def test_no_such_bucket(self):
        form = [("key", "x")] + v4_auth([])
        body, ctype = form_body(form, b"x")
        r = post(self.server, "/tw-no-such-bucket-%s" % uuid.uuid4().hex[:8], body, ctype)
        self.assertS3Error(r, "NoSuchBucket", 404, message=s.MSG_NO_SUCH_BUCKET)

    def test_truncated_bodies(self):
        form = [("key", "trunc/x")] + v4_auth([{"bucket": self.bucket}, ["starts-with", "$key", ""]])
        body, ctype = form_body(form, b"0123456789" * 100)
        b = ctype.split("boundary=")[1].encode()
        cuts = [
            body[:body.index(b"0123456789") + 500],               # inside the file
            body[:-len(b"\r\n--" + b + b"--\r\n")],               # no delimiter after the file
            body[:-len(b"--\r\n")] + b"\r\n",                     # a delimiter, then nothing
            body[:body.index(b"policy") + 3],                     # inside the fields
            body[:len(b"--" + b) - 3],                            # inside the first boundary
            b"",                                                   # nothing
            b"garbage without any boundary at all",
        ]
        for i, cut in enumerate(cuts):
            r = post(self.server, "/" + self.bucket, cut, ctype)
            if i == 2:  # the file's delimiter arrived: it is complete (what follows is ignored)
                self.assertStatus(r, 204)
                self.s3.delete_object(Bucket=self.bucket, Key="trunc/x")
                continue
            self.assertS3Error(r, "MalformedPOSTRequest", 400, message=MSG_MALFORMED)
            self.assertNoObject(self.bucket, "trunc/x")
        # garbage after a boundary
        bad = body.replace(b"--" + b + b"\r\nContent-Disposition: form-data; name=\"policy\"",
                           b"--" + b + b"XX\r\nContent-Disposition: form-data; name=\"policy\"")
        r = post(self.server, "/" + self.bucket, bad, ctype)
        self.assertS3Error(r, "MalformedPOSTRequest", 400)
        self.assertNoObject(self.bucket, "trunc/x")

    def test_connection_dropped_mid_file(self):
        form = [("key", "drop/x")] + v4_auth([{"bucket": self.bucket}, ["starts-with", "$key", ""]])
        body, ctype = form_body(form, os.urandom(200000))
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        head = ("POST /%s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                % (self.bucket, ctype, len(body)))
        sock.sendall(head.encode() + body[:120000])
        # let the server take the bytes in before the FIN: a FIN that arrives with
        # unread data leaves the connection to MHD's 60 s timeout (PUT too)
        time.sleep(0.3)
        sock.close()
        # the server goes on, with no object
        self.assertStatus(self.upload("drop/after", b"ok"), 204)
        self.assertNoObject(self.bucket, "drop/x")
        tmp = os.path.join(self.server.data_dir, "blobs", "tmp")
        self.assertTrue(s.wait_until(lambda: not os.path.isdir(tmp) or not os.listdir(tmp), 5),
                        "a temporary blob stayed behind: %r" % (os.listdir(tmp),))

    def test_pre_file_data_limit(self):
        base = [("key", "pre/x")] + v4_auth([{"bucket": self.bucket}, ["starts-with", "$key", ""]])
        small, _ = form_body(base, None, close=False)
        room = 20480 - len(small)
        # fill the room up to about the limit with one field (its part header counts too)
        over = [("x-ignore-pad", "p" * room)]
        body, ctype = form_body(base + over, b"f")
        r = post(self.server, "/" + self.bucket, body, ctype)
        self.assertS3Error(r, "MaxPostPreDataLengthExceeded", 400, message=MSG_PRE_DATA,
                           MaxPostPreDataLengthBytes="20480")
        self.assertNoObject(self.bucket, "pre/x")
        # a file-sized field named otherwise counts as form data
        body, ctype = form_body(base + [("upload", "u" * 100000)], b"f")
        r = post(self.server, "/" + self.bucket, body, ctype)
        self.assertS3Error(r, "MaxPostPreDataLengthExceeded", 400)
        # everything before the file's content counts, its part header too: 20480 is allowed
        def with_pad(n):
            body, ctype = form_body(base + [("x-ignore-pad", "p" * n)], b"f")
            return body, ctype, body.index(b'filename="upload.bin"\r\n\r\n') + 25
        _, _, pre0 = with_pad(0)
        body, ctype, pre = with_pad(20480 - pre0)
        self.assertEqual(pre, 20480)
        self.assertStatus(post(self.server, "/" + self.bucket, body, ctype), 204)
        body, ctype, pre = with_pad(20481 - pre0)
        r = post(self.server, "/" + self.bucket, body, ctype)
        self.assertS3Error(r, "MaxPostPreDataLengthExceeded", 400, MaxPostPreDataLengthBytes="20480")

    def test_filename_expansion_is_bounded(self):
        # 1,500 ${filename} and a 10 KB name would be 15 MB once expanded
        form = [("key", "exp/${filename}"), ("x-ignore-many", "${filename}" * 1500)]
        form += v4_auth([{"bucket": self.bucket}, ["starts-with", "$key", ""]])
        body, ctype = form_body(form, b"f", filename="n" * 2000)
        self.assertLess(body.index(b"n" * 2000 + b'"\r\n\r\n') + 2004, 20480)  # the form itself is small enough
        r = post(self.server, "/" + self.bucket, body, ctype)
        self.assertS3Error(r, "MaxPostPreDataLengthExceeded", 400, MaxPostPreDataLengthBytes="20480")
        # a few are fine
        form[1] = ("x-ignore-many", "${filename}" * 3)
        body, ctype = form_body(form, b"f", filename="n" * 200)
        self.assertStatus(post(self.server, "/" + self.bucket, body, ctype), 204)
        self.assertEqual(self.get_body(self.bucket, "exp/" + "n" * 200), b"f")

    def test_tiny_chunks(self):
        boundary = "xyzBOUNDARYxyz"
        # content that keeps starting the delimiter without completing it
        data = (b"\r\n--xyzBOUNDARYxy\r\r\n--xyzBOUND\r\n-\r\n--\r\r\n--xyzBOUNDARYx" + bytes(range(256)) +
                b"\r\n--xyzBOUNDARYxyZ" * 3 + b"--xyzBOUNDARYxyz" + b"\r")
        # field values that start the delimiter too (a key may hold CR LF)
        conds = [{"bucket": self.bucket}, ["starts-with", "$key", "tiny/"], {"x-amz-meta-n": "1\r\n--xyz"}]
        form = [("key", "tiny/${filename}\r\n--xyz"), ("x-amz-meta-n", "1\r\n--xyz")] + v4_auth(conds)
        body, ctype = form_body(form, data, filename="drip.bin", boundary=boundary,
                                after=[("ignored", "x")])
        r = drip(self.server, "/" + self.bucket, body, ctype, piece=1)
        self.assertStatus(r, 204)
        self.assertEqual(r.header("ETag"), s.etag_of(data))
        self.assertEqual(self.get_body(self.bucket, "tiny/drip.bin\r\n--xyz"), data)
        self.assertEqual(self.head(self.bucket, "tiny/drip.bin\r\n--xyz")["Metadata"],
                         {"n": "=?UTF-8?Q?1=0D=0A--xyz?="})
        # odd piece sizes too
        for piece in (3, 7, 64):
            form = [("key", "tiny/p%d" % piece), ("x-amz-meta-n", "1\r\n--xyz")] + v4_auth(conds)
            body, ctype = form_body(form, data, boundary=boundary)
            r = drip(self.server, "/" + self.bucket, body, ctype, piece=piece, pause=0.0002)
            self.assertStatus(r, 204)
            self.assertEqual(self.get_body(self.bucket, "tiny/p%d" % piece), data)

    def test_boundary_forms(self):
        # a quoted boundary, other parameters, a preamble, padding after the boundaries
        boundary = "a'()+_,-./:=?b"
        form = [("key", "bnd/x")] + v4_auth([{"bucket": self.bucket}, ["starts-with", "$key", ""]])
        body, _ = form_body(form, b"payload", boundary=boundary)
        body = b"preamble text\r\n" + body.replace(b"--" + boundary.encode() + b"\r\n",
                                                   b"--" + boundary.encode() + b" \t\r\n")
        r = post(self.server, "/" + self.bucket, body, 'multipart/form-data; charset=utf-8; boundary="%s"' % boundary)
        self.assertStatus(r, 204)
        self.assertEqual(self.get_body(self.bucket, "bnd/x"), b"payload")


# --------------------------------------------------------------------------
# events and memory
# --------------------------------------------------------------------------

class EventTest(PostTestBase):

    def test_object_created_post_event(self):
        sqs = self.server.client()
        qname = h.unique("postevents")
        url = sqs.create_queue(QueueName=qname)["QueueUrl"]
        bucket = self.make_bucket("postev")
        arn = "arn:aws:sqs:%s:%s:%s" % (REGION, s.ACCOUNT, qname)
        self.s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
                {"Id": "posts", "QueueArn": arn, "Events": ["s3:ObjectCreated:Post"]}]})

        def receive(n, timeout=5.0):
            got, deadline = [], time.monotonic() + timeout
            while len(got) < n and time.monotonic() < deadline:
                r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
                for m in r.get("Messages", []):
                    got.append(json.loads(m["Body"]))
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            return got

        self.assertEqual(receive(1)[0].get("Event"), "s3:TestEvent")
        data = b"event body"
        r = self.upload("ev/a b.txt", data, bucket=bucket)
        self.assertStatus(r, 204)
        self.s3.put_object(Bucket=bucket, Key="ev/put.txt", Body=b"not a post")
        msgs = receive(1)
        self.assertEqual(len(msgs), 1, msgs)
        rec = msgs[0]["Records"][0]
        self.assertEqual(rec["eventName"], "ObjectCreated:Post")
        self.assertEqual(rec["s3"]["bucket"]["name"], bucket)
        self.assertEqual(rec["s3"]["object"]["key"], "ev/a+b.txt")
        self.assertEqual(rec["s3"]["object"]["size"], len(data))
        self.assertEqual(rec["s3"]["object"]["eTag"], s.md5_hex(data))
        self.assertTrue(rec["userIdentity"]["principalId"])
        self.assertEqual(rec["responseElements"]["x-amz-request-id"], r.header("x-amz-request-id"))
        self.assertEqual(receive(1, timeout=1.5), [], "only the POST matches s3:ObjectCreated:Post")
        # a refused POST sends nothing
        r = self.upload("ev/refused", data, bucket=bucket, fields=[("x-uncovered", "1")])
        self.assertStatus(r, 403)
        self.assertEqual(receive(1, timeout=1.5), [])


def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


class StreamingTest(unittest.TestCase):
    """A 20 MiB upload on a fresh server: the file streams to disk, the
    server's peak memory does not grow by anything near its size."""

    def setUp(self):
        self.server = h.Server()
        self.server.start()

    def tearDown(self):
        self.server.stop()
        self.server.cleanup()

    def test_20_mib_upload_in_constant_memory(self):
        if not os.path.exists("/proc/self/status"):
            raise unittest.SkipTest("no /proc")
        s3c = s.s3_client(self.server)
        s3c.create_bucket(Bucket="bigpost")
        pid = self.server.proc.pid
        # warm up the request path so the baseline includes it
        form = [("key", "warm")] + v4_auth([{"bucket": "bigpost"}, ["starts-with", "$key", ""]])
        body, ctype = form_body(form, b"w" * 100000)
        self.assertEqual(post(self.server, "/bigpost", body, ctype).status, 204)
        before = vm_kib(pid, "VmHWM")
        size = 20 << 20
        block = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB
        md5 = hashlib.md5()
        head, ctype = form_body(form[:0] + [("key", "big/20m")] + form[1:], None, close=False)
        boundary = ctype.split("boundary=")[1].encode()
        part = b"--" + boundary + b"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n"
        tail = b"\r\n--" + boundary + b"--\r\n"
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=120)
        try:
            conn.putrequest("POST", "/bigpost")
            conn.putheader("Content-Type", ctype)
            conn.putheader("Content-Length", str(len(head) + len(part) + size + len(tail)))
            conn.endheaders()
            conn.send(head + part)
            sent = 0
            while sent < size:
                conn.send(block)
                md5.update(block)
                sent += len(block)
            conn.send(tail)
            resp = conn.getresponse()
            resp.read()
            self.assertEqual(resp.status, 204)
            self.assertEqual(resp.getheader("ETag"), '"%s"' % md5.hexdigest())
        finally:
            conn.close()
        after = vm_kib(pid, "VmHWM")
        self.assertLess(after - before, 8 * 1024,
                        "peak RSS grew by %d KiB for a 20 MiB upload" % (after - before))
        got = s3c.get_object(Bucket="bigpost", Key="big/20m")
        m = hashlib.md5()
        n = 0
        for chunk in got["Body"].iter_chunks(1 << 20):
            m.update(chunk)
            n += len(chunk)
        self.assertEqual((n, m.hexdigest()), (size, md5.hexdigest()))


if __name__ == "__main__":
    unittest.main()
