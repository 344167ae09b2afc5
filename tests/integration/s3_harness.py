"""Shared helpers for tweedle's S3 integration tests (test_s3_*.py).

Builds on ``harness`` (server process, RawResponse, XML helpers) and adds:

* boto3 S3 clients: path-style, us-east-1, SigV4 or the botocore default
  (SigV4 requests, SigV2 presigned URLs), optional
  ``request_checksum_calculation`` (botocore >= 1.36 only);
* raw S3 requests with http.client, signed with SigV4 for the ``s3`` service
  (header auth, a chosen payload hash, a chosen date), aws-chunked bodies
  with per-chunk signatures or unsigned trailers, and presigned URLs
  (SigV2 and SigV4 query auth) with a chosen date/expiry;
* CRC32, CRC32C, CRC64NVME, SHA1, SHA256 in the base64 form S3 uses;
* ``S3TestCase`` with ``assertS3Error`` (code, HTTP status, message and the
  extra <Error> fields such as Key, BucketName, Condition).

Expected codes and messages come from the Amazon S3 API reference and from
responses recorded against real S3 (see the comments next to each test).
"""

import base64
import binascii
import datetime
import hashlib
import hmac
import http.client
import os
import struct
import sys
import time
import unittest
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
import zlib

import harness as h
from harness import ACCESS_KEY, SECRET_KEY, REGION, ACCOUNT, RawResponse, strip_ns  # noqa: F401

import boto3  # noqa: E402
import botocore  # noqa: E402
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, HmacV1QueryAuth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402,F401

S3NS = "http://s3.amazonaws.com/doc/2006-03-01/"
BOTOCORE_VERSION = tuple(int(x) for x in botocore.__version__.split(".")[:3])
# botocore >= 1.36 computes CRC32 checksums by default and knows
# request_checksum_calculation / response_checksum_validation.
NEW_CHECKSUMS = "request_checksum_calculation" in Config.OPTION_DEFAULTS
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# Exact messages of real S3 (API reference error table and recorded responses).
MSG_NO_SUCH_KEY = "The specified key does not exist."
MSG_NO_SUCH_BUCKET = "The specified bucket does not exist"
MSG_BUCKET_NOT_EMPTY = "The bucket you tried to delete is not empty"
MSG_INVALID_BUCKET_NAME = "The specified bucket is not valid."
MSG_PRECONDITION = "At least one of the pre-conditions you specified did not hold"
MSG_INVALID_RANGE = "The requested range is not satisfiable"
MSG_BAD_DIGEST_MD5 = "The Content-MD5 you specified did not match what we received."
MSG_INVALID_DIGEST_MD5 = "The Content-MD5 you specified was invalid."
MSG_KEY_TOO_LONG = "Your key is too long"  # a prefix: sources differ on a final period
MSG_SIGNATURE = ("The request signature we calculated does not match the signature you provided. "
                 "Check your key and signing method.")
MSG_INVALID_KEY_ID = "The AWS Access Key Id you provided does not exist in our records."
MSG_ACCESS_DENIED = "Access Denied"
MSG_EXPIRED = "Request has expired"
MSG_MALFORMED_XML = ("The XML you provided was not well-formed or did not validate against "
                     "our published schema")


def checksum_mismatch_message(alg):
    """BadDigest message of a wrong x-amz-checksum-<alg> (recorded from S3:
    "The CRC32 you specified did not match the calculated checksum.")."""
    return "The %s you specified did not match the calculated checksum." % alg


# --------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------

def unique_bucket(prefix="tw"):
    return ("%s-%s" % (prefix, uuid.uuid4().hex[:16])).lower()


def quote_key(key):
    """Percent-encode an object key for a path, as the SDKs do (RFC 3986,
    '/' kept)."""
    if isinstance(key, str):
        key = key.encode("utf-8")
    return urllib.parse.quote(key, safe="/~")


def obj_path(bucket, key=None, query=None):
    path = "/" + bucket
    if key is not None:
        path += "/" + quote_key(key)
    if query:
        if isinstance(query, dict):
            query = list(query.items())
        if isinstance(query, (list, tuple)):
            query = "&".join(
                urllib.parse.quote(k, safe="-_.~") + ("" if v is None else "=" + urllib.parse.quote(str(v), safe="-_.~"))
                for k, v in query)
        path += "?" + query
    return path


# --------------------------------------------------------------------------
# checksums
# --------------------------------------------------------------------------

def _table(poly, width):
    top = (1 << width) - 1
    out = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ (poly if crc & 1 else 0)
        out.append(crc & top)
    return out


_CRC32C_TABLE = _table(0x82F63B78, 32)
_CRC64NVME_TABLE = _table(0x9A6C9329AC4BC9B5, 64)


def crc32c_int(data):
    crc = 0xFFFFFFFF
    t = _CRC32C_TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc64nvme_int(data):
    crc = 0xFFFFFFFFFFFFFFFF
    t = _CRC64NVME_TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFFFFFFFFF


assert crc32c_int(b"123456789") == 0xE3069283
assert crc64nvme_int(b"123456789") == 0xAE8B14860A799888


def b64(raw):
    return base64.b64encode(raw).decode("ascii")


def crc32_b64(data):
    return b64(struct.pack(">I", zlib.crc32(data) & 0xFFFFFFFF))


def crc32c_b64(data):
    return b64(struct.pack(">I", crc32c_int(data)))


def crc64nvme_b64(data):
    return b64(struct.pack(">Q", crc64nvme_int(data)))


def sha1_b64(data):
    return b64(hashlib.sha1(data).digest())


def sha256_b64(data):
    return b64(hashlib.sha256(data).digest())


def md5_b64(data):
    return b64(hashlib.md5(data).digest())


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


def etag_of(data):
    return '"%s"' % md5_hex(data)


CHECKSUMS = {
    "CRC32": crc32_b64,
    "CRC32C": crc32c_b64,
    "CRC64NVME": crc64nvme_b64,
    "SHA1": sha1_b64,
    "SHA256": sha256_b64,
}


# --------------------------------------------------------------------------
# boto3 clients
# --------------------------------------------------------------------------

def s3_client(server, signature_version=None, checksum=None, access_key=ACCESS_KEY,
              secret_key=SECRET_KEY, read_timeout=20, connect_timeout=5, pool=50, region=REGION,
              **cfg):
    """A boto3 S3 client for ``server`` (path-style, one attempt).

    ``signature_version``: None (botocore default: SigV4 requests, SigV2
    presigned URLs for us-east-1 with an endpoint_url) or "s3v4".
    ``checksum``: None (the client's default) or "when_required" /
    "when_supported" for both request_checksum_calculation and
    response_checksum_validation (raises SkipTest on old botocore)."""
    kw = dict(s3={"addressing_style": "path"},
              retries={"total_max_attempts": 1, "mode": "standard"},
              connect_timeout=connect_timeout, read_timeout=read_timeout,
              max_pool_connections=pool)
    if signature_version:
        kw["signature_version"] = signature_version
    if checksum:
        if not NEW_CHECKSUMS:
            raise unittest.SkipTest("botocore %s has no request_checksum_calculation" % botocore.__version__)
        kw["request_checksum_calculation"] = checksum
        kw["response_checksum_validation"] = checksum
    kw.update(cfg)
    session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                    region_name=region)
    return session.client("s3", endpoint_url=server.endpoint, config=Config(**kw))


def capture_headers(client, operation):
    """Record the headers of each request ``operation`` sends (list of dicts)."""
    seen = []

    def hook(request, **_):
        seen.append({k.lower(): (v.decode("latin-1") if isinstance(v, bytes) else v)
                     for k, v in request.headers.items()})

    client.meta.events.register("before-send.s3.%s" % operation, hook)
    return seen


# --------------------------------------------------------------------------
# raw signed requests
# --------------------------------------------------------------------------

def amz_date(when):
    return when.strftime("%Y%m%dT%H%M%SZ")


def signing_key(secret, datestamp, region=REGION, service="s3"):
    k = hmac.new(("AWS4" + secret).encode(), datestamp.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


class _S3Signer(S3SigV4Auth):
    """SigV4 for S3 with an optional fixed date and payload hash."""

    def __init__(self, credentials, region, when=None, payload_hash=None):
        super().__init__(credentials, "s3", region)
        self._when = when
        self._payload_hash = payload_hash

    def payload(self, request):
        if self._payload_hash is not None:
            return self._payload_hash
        return super().payload(request)

    def add_auth(self, request):
        when = self._when or h.utcnow()
        request.context["timestamp"] = amz_date(when)
        self._modify_request_before_signing(request)
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        signature = self.signature(string_to_sign, request)
        self._inject_signature_to_request(request, signature)
        request.context["signature"] = signature


def sign_headers(server, method, path, body=b"", headers=None, access_key=ACCESS_KEY,
                 secret_key=SECRET_KEY, region=REGION, when=None, payload_hash=None):
    """Return (headers, signature) of a SigV4 header-signed S3 request."""
    req = AWSRequest(method=method, url=server.endpoint + path, data=body if isinstance(body, bytes) else b"",
                     headers=dict(headers or {}))
    signer = _S3Signer(Credentials(access_key, secret_key), region, when=when, payload_hash=payload_hash)
    signer.add_auth(req)
    return {k: v for k, v in req.headers.items()}, req.context["signature"]


def send(server, method, path, body=b"", headers=None, timeout=60, chunked=False):
    """Send one request with http.client; returns harness.RawResponse."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        if chunked:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for k, v in (headers or {}).items():
                conn.putheader(k, v)
            conn.endheaders()
            for piece in body:
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.send(b"0\r\n\r\n")
        else:
            send_body = body if (body or method not in ("GET", "HEAD", "DELETE")) else None
            conn.request(method, path, body=send_body, headers=dict(headers or {}))
        resp = conn.getresponse()
        data = resp.read()
        return RawResponse(resp.status, resp.headers, data)
    finally:
        conn.close()


def raw_s3(server, method, path, body=b"", headers=None, sign=True, access_key=ACCESS_KEY,
           secret_key=SECRET_KEY, region=REGION, when=None, payload_hash=None, timeout=60):
    """A SigV4 (header auth) S3 request; ``path`` is already percent-encoded
    and may carry a query string."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    hdrs = dict(headers or {})
    if sign:
        hdrs, _ = sign_headers(server, method, path, body, hdrs, access_key, secret_key, region, when,
                               payload_hash)
    return send(server, method, path, body, hdrs, timeout=timeout)


def aws_chunked_signed(server, method, path, chunks, headers=None, trailer=None, when=None,
                       access_key=ACCESS_KEY, secret_key=SECRET_KEY, region=REGION, corrupt_chunk=None,
                       decoded_length=None):
    """Build a STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] request.

    ``chunks``: list of bytes (the final empty chunk is added).  ``trailer``:
    optional (name, value) sent as a signed trailer.  ``corrupt_chunk``: index
    of a chunk whose signature is altered.  Returns (headers, body)."""
    when = when or h.utcnow()
    decoded = b"".join(chunks)
    hdrs = dict(headers or {})
    hdrs["Content-Encoding"] = "aws-chunked"
    hdrs["x-amz-decoded-content-length"] = str(len(decoded) if decoded_length is None else decoded_length)
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    if trailer:
        mode += "-TRAILER"
        hdrs["x-amz-trailer"] = trailer[0]
    # The Content-Length must be known before signing: compute the body
    # length with placeholder (fixed-size) signatures first.
    def frame(sigs, trailer_sig):
        out = b""
        for piece, sig in zip(list(chunks) + [b""], sigs):
            out += b"%x;chunk-signature=%s\r\n%s" % (len(piece), sig.encode(), piece)
            if piece or not trailer:
                out += b"\r\n"
        if trailer:
            out += ("%s:%s\r\n" % trailer).encode()
            out += ("x-amz-trailer-signature:%s\r\n" % trailer_sig).encode()
            out += b"\r\n"
        return out

    placeholder = frame(["0" * 64] * (len(chunks) + 1), "0" * 64)
    hdrs["Content-Length"] = str(len(placeholder))
    signed, seed = sign_headers(server, method, path, b"", hdrs, access_key, secret_key, region, when,
                                payload_hash=mode)
    ts = amz_date(when)
    scope = "%s/%s/s3/aws4_request" % (ts[:8], region)
    key = signing_key(secret_key, ts[:8], region)
    prev = seed
    sigs = []
    for i, piece in enumerate(list(chunks) + [b""]):
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", ts, scope, prev, EMPTY_SHA256,
                         hashlib.sha256(piece).hexdigest()])
        sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        if corrupt_chunk == i:
            sig = ("0" if sig[0] != "0" else "1") + sig[1:]
        sigs.append(sig)
        prev = sig
    trailer_sig = ""
    if trailer:
        canon = ("%s:%s\n" % trailer).encode()
        sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", ts, scope, prev, hashlib.sha256(canon).hexdigest()])
        trailer_sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    body = frame(sigs, trailer_sig)
    assert len(body) == len(placeholder)
    return signed, body


def aws_chunked_unsigned_trailer(chunks, trailer_name, trailer_value):
    """Body of a STREAMING-UNSIGNED-PAYLOAD-TRAILER request (as the JS SDK and
    botocore over HTTPS send it)."""
    out = b""
    for piece in chunks:
        if piece:
            out += b"%x\r\n%s\r\n" % (len(piece), piece)
    out += b"0\r\n" + ("%s:%s\r\n" % (trailer_name, trailer_value)).encode() + b"\r\n"
    return out


# --------------------------------------------------------------------------
# presigned URLs
# --------------------------------------------------------------------------

class _FixedDateQueryAuth(S3SigV4QueryAuth):
    def __init__(self, credentials, region, expires, when):
        super().__init__(credentials, "s3", region, expires=expires)
        self._when = when

    def add_auth(self, request):
        request.context["timestamp"] = amz_date(self._when)
        self._modify_request_before_signing(request)
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        signature = self.signature(string_to_sign, request)
        self._inject_signature_to_request(request, signature)


def presign_v4(server, method, path, expires=300, when=None, headers=None, access_key=ACCESS_KEY,
               secret_key=SECRET_KEY, region=REGION):
    """A SigV4 query-signed URL (path may carry extra query parameters, which
    are signed too)."""
    when = when or h.utcnow()
    req = AWSRequest(method=method, url=server.endpoint + path, headers=dict(headers or {}))
    _FixedDateQueryAuth(Credentials(access_key, secret_key), region, expires, when).add_auth(req)
    return req.url


def presign_v2(server, method, path, expires=300, headers=None, access_key=ACCESS_KEY,
               secret_key=SECRET_KEY):
    """A SigV2 query-signed URL (AWSAccessKeyId, Signature, Expires);
    ``expires`` is relative to now and may be negative."""
    req = AWSRequest(method=method, url=server.endpoint + path, headers=dict(headers or {}))
    HmacV1QueryAuth(Credentials(access_key, secret_key), expires=expires).add_auth(req)
    return req.url


def url_path(url):
    p = urllib.parse.urlsplit(url)
    return p.path + ("?" + p.query if p.query else "")


# --------------------------------------------------------------------------
# XML
# --------------------------------------------------------------------------

def parse_xml(body):
    return ET.fromstring(body)


def error_fields(resp):
    """Children of an S3 <Error> body as a dict (tag -> text)."""
    root = ET.fromstring(resp.body)
    if root.tag != "Error":
        raise AssertionError("expected an <Error> document, got <%s>: %r" % (root.tag, resp.body[:400]))
    return {child.tag: (child.text or "") for child in root}


def rfc1123(dt):
    return dt.strftime("%a, %d %b %Y %H:%M:%S GMT")


def parse_http_date(s):
    return datetime.datetime.strptime(s, "%a, %d %b %Y %H:%M:%S GMT")


# --------------------------------------------------------------------------
# base test case
# --------------------------------------------------------------------------

class S3TestCase(unittest.TestCase):
    """Base class; the module provides ``SERVER`` (harness.start_module_server)."""

    maxDiff = 6000

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        srv = getattr(sys.modules[cls.__module__], "SERVER", None)
        if srv is None:
            raise unittest.SkipTest("module server not started")
        cls.server = srv
        cls.s3 = s3_client(srv)
        cls.s3v4 = s3_client(srv, signature_version="s3v4")

    # -- helpers ----------------------------------------------------------
    def make_bucket(self, prefix="tw", client=None):
        name = unique_bucket(prefix)
        (client or self.s3).create_bucket(Bucket=name)
        return name

    @classmethod
    def class_bucket(cls, prefix="tw"):
        name = unique_bucket(prefix)
        cls.s3.create_bucket(Bucket=name)
        return name

    def raw(self, method, path, body=b"", headers=None, **kw):
        return raw_s3(self.server, method, path, body, headers, **kw)

    def assertS3Error(self, err, code, status, message=None, message_prefix=None, **fields):
        """``err`` is a botocore ClientError or a RawResponse."""
        if isinstance(err, RawResponse):
            ctx = "raw response: %d %r" % (err.status, err.body[:600])
            self.assertEqual(err.status, status, ctx)
            e = error_fields(err)
            self.assertEqual(e.get("Code"), code, ctx)
            self.assertTrue(e.get("RequestId"), "no RequestId in the error; " + ctx)
            rid = err.header("x-amz-request-id")
            if rid is not None:
                self.assertEqual(e.get("RequestId"), rid, "RequestId differs from x-amz-request-id; " + ctx)
            ctype = (err.header("Content-Type") or "")
            self.assertIn("xml", ctype, "error Content-Type; " + ctx)
        else:
            self.assertIsInstance(err, ClientError)
            r = err.response
            e = r.get("Error", {})
            ctx = "error response: %r" % (r,)
            self.assertEqual(r.get("ResponseMetadata", {}).get("HTTPStatusCode"), status, ctx)
            self.assertEqual(e.get("Code"), code, ctx)
        if message is not None:
            self.assertEqual(e.get("Message"), message, ctx)
        if message_prefix is not None:
            msg = e.get("Message") or ""
            self.assertTrue(msg.startswith(message_prefix), "message %r does not start with %r; %s"
                            % (msg, message_prefix, ctx))
        for k, v in fields.items():
            self.assertEqual(e.get(k), v, "<%s>; %s" % (k, ctx))
        return e

    def assertRaisesS3(self, fn, code, status, message=None, message_prefix=None, **fields):
        with self.assertRaises(ClientError) as cm:
            fn()
        self.assertS3Error(cm.exception, code, status, message, message_prefix, **fields)
        return cm.exception

    def assertStatus(self, resp, status):
        self.assertEqual(resp.status, status, "response: %d %r" % (resp.status, resp.body[:600]))

    def assertNoObject(self, bucket, key):
        r = self.raw("HEAD", obj_path(bucket, key))
        self.assertEqual(r.status, 404, "object %r should not exist (HEAD gave %d)" % (key, r.status))

    def get_body(self, bucket, key, client=None):
        return (client or self.s3).get_object(Bucket=bucket, Key=key)["Body"].read()


def start(module_name):
    return h.start_module_server(module_name)


def stop(module_name):
    return h.stop_module_server(module_name)


def random_bytes(n, seed=None):
    if seed is None:
        return os.urandom(n)
    import random
    rnd = random.Random(seed)
    return bytes(rnd.getrandbits(8) for _ in range(n))


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def wait_until(fn, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def b64decode_ok(s):
    try:
        base64.b64decode(s, validate=True)
        return True
    except (binascii.Error, ValueError):
        return False
