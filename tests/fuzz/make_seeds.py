#!/usr/bin/env python3
"""Writes the signed seeds of tests/fuzz/corpus/{sigv4,sigv2,chunked} with
botocore's signers at 2013-05-24T00:00:00Z (the `now` of the fuzz targets) and
the key pair of fuzz_util.h, so that the seeds reach the signature check.
The other seeds are written by hand. Run: python3 tests/fuzz/make_seeds.py"""
import datetime
import os
import time
from unittest import mock
from urllib.parse import urlsplit

import botocore.auth as auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

NOW = datetime.datetime(2013, 5, 24, 0, 0, 0)
CREDS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def request(method, url, headers=None, body=b""):
    r = AWSRequest(method=method, url=url, headers=headers or {}, data=body)
    r.context = {}
    return r


def lines(req, extra, s3=None):
    u = urlsplit(req.url)
    out = [req.method, u.path or "/", u.query] + extra
    hs = dict(req.headers)
    hs.setdefault("host", u.netloc)
    for k, v in hs.items():
        out.append("%s:%s" % (k, v.decode() if isinstance(v, bytes) else v))
    return ("\n".join(out)).encode()


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


with mock.patch("botocore.auth.get_current_datetime", return_value=NOW), \
        mock.patch("time.time", return_value=NOW.replace(tzinfo=datetime.timezone.utc).timestamp()):
    # SigV4, header: SQS JSON, S3 with a query, S3 streaming (aws-chunked)
    body = b'{"QueueName":"q1","Attributes":{"VisibilityTimeout":"30"}}'
    r = request("POST", "http://localhost:4566/", {"X-Amz-Target": "AmazonSQS.CreateQueue",
                "Content-Type": "application/x-amz-json-1.0"}, body)
    auth.SigV4Auth(CREDS, "sqs", "us-east-1").add_auth(r)
    write("sigv4", "sqs-json", lines(r, [auth.sha256(body).hexdigest(), "0"]))
    r = request("GET", "http://localhost:4566/bkt/a%20b/c~d.txt?list-type=2&prefix=x%2Fy&delimiter=%2F")
    auth.S3SigV4Auth(CREDS, "s3", "us-east-1").add_auth(r)
    write("sigv4", "s3-get", lines(r, ["-", "1"]))
    r = request("PUT", "http://localhost:4566/bkt/key", {"Content-Encoding": "aws-chunked",
                "x-amz-decoded-content-length": "11", "x-amz-trailer": "x-amz-checksum-crc32",
                "X-Amz-Content-SHA256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"})
    auth.S3SigV4Auth(CREDS, "s3", "us-east-1").add_auth(r)
    write("sigv4", "s3-streaming", lines(r, ["-", "1"]))
    # SigV4, presigned
    r = request("GET", "http://localhost:4566/bkt/photo%2B1.jpg?versionId=abc")
    auth.S3SigV4QueryAuth(CREDS, "s3", "us-east-1", expires=3600).add_auth(r)
    write("sigv4", "s3-presigned", lines(r, ["-", "1"]))
    r = request("GET", "http://localhost:4566/000000000000/q1?Action=ReceiveMessage&WaitTimeSeconds=1")
    auth.SigV4QueryAuth(CREDS, "sqs", "us-east-1", expires=60).add_auth(r)
    write("sigv4", "sqs-presigned", lines(r, [auth.sha256(b"").hexdigest(), "0"]))

    # SigV2: header and query
    r = request("PUT", "http://localhost:4566/bkt/key?tagging", {"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg==",
                "Content-Type": "text/plain", "x-amz-meta-a": "b", "x-amz-acl": "private"})
    r.auth_path = "/bkt/key"
    auth.HmacV1Auth(CREDS).add_auth(r)
    write("sigv2", "header", lines(r, [""]))
    r = request("GET", "http://bkt.localhost:4566/key?response-content-type=text%2Fplain")
    r.auth_path = "/bkt/key"
    auth.HmacV1QueryAuth(CREDS, expires=3600).add_auth(r)
    write("sigv2", "query-vhost", lines(r, ["bkt"]))

# aws-chunked bodies (fuzz_chunked: mode byte, piece-size byte, x-amz-trailer line, body)
import hashlib
import hmac

KEY = bytes([1, 2, 3] + [0] * 29)
DATE, SCOPE = "20130524T000000Z", "20130524/us-east-1/s3/aws4_request"
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
EMPTY = hashlib.sha256(b"").hexdigest()


def hsig(sts):
    return hmac.new(KEY, sts.encode(), hashlib.sha256).hexdigest()


def signed_body(chunks, trailers=None):
    prev, out = SEED, b""
    for c in chunks + [b""]:
        prev = hsig("\n".join(["AWS4-HMAC-SHA256-PAYLOAD", DATE, SCOPE, prev, EMPTY,
                                hashlib.sha256(c).hexdigest()]))
        out += b"%x;chunk-signature=%s\r\n" % (len(c), prev.encode()) + c + (b"\r\n" if c else b"")
    if trailers is not None:
        text = "".join("%s:%s\n" % kv for kv in sorted(trailers))
        ts = hsig("\n".join(["AWS4-HMAC-SHA256-TRAILER", DATE, SCOPE, prev,
                             hashlib.sha256(text.encode()).hexdigest()]))
        for k, v in trailers:
            out += ("%s:%s\r\n" % (k, v)).encode()
        out += ("x-amz-trailer-signature:%s\r\n" % ts).encode()
    out += b"\r\n"
    return out


write("chunked", "unsigned-trailer",
      b"\x00\x07x-amz-checksum-crc32\nb\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n")
write("chunked", "unsigned-js-sdk", b"\x00\xff\n5\r\nhello\r\n0\r\n")
write("chunked", "unsigned-two-trailers",
      b"\x00\x02x-amz-checksum-sha256,x-amz-meta-a\n3\r\nabc\r\n2\r\nde\r\n0\r\n"
      b"x-amz-checksum-sha256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=\r\nx-amz-meta-a: b \r\n\r\n")
write("chunked", "signed", b"\x01\x10\n" + signed_body([b"a" * 40, b"bcd"]))
write("chunked", "signed-trailer", b"\x02\x20x-amz-checksum-crc32\n" +
      signed_body([b"hello world"], [("x-amz-checksum-crc32", "DUoRhQ==")]))
write("chunked", "signed-min-size", b"\x05\x00\n" + signed_body([b"x" * 10, b"y"]))

# S3 POST (fuzz_s3_post): forms (byte 0 < 0x80) and bare policies (byte 0 >= 0x80)
import base64
import json

POLICY = {"expiration": "2099-01-01T00:00:00.000Z",
          "conditions": [{"bucket": "bkt"}, ["starts-with", "$key", "uploads/"],
                         {"success_action_status": "201"}, ["eq", "$acl", "public-read"],
                         ["starts-with", "$Content-Type", "image/"], ["content-length-range", 1, 1048576],
                         {"x-amz-algorithm": "AWS4-HMAC-SHA256"}, {"x-amz-credential": "AKIDEXAMPLE/20130524/us-east-1/s3/aws4_request"},
                         {"x-amz-date": "20130524T000000Z"}, ["starts-with", "$x-amz-meta-tag", ""]]}


def form(fields, boundary, file_name="a.png", file_data=b"\x89PNG...", piece=0xff):
    b = boundary.encode()
    out = b""
    for k, v in fields:
        out += b"--" + b + b'\r\nContent-Disposition: form-data; name="' + k.encode() + b'"\r\n\r\n' + v.encode() + b"\r\n"
    out += (b"--" + b + b'\r\nContent-Disposition: form-data; name="file"; filename="' + file_name.encode() +
            b'"\r\nContent-Type: image/png\r\n\r\n' + file_data + b"\r\n--" + b + b"--\r\n")
    return bytes([0, piece]) + b"multipart/form-data; boundary=" + b + b"\n" + out


pol = base64.b64encode(json.dumps(POLICY).encode()).decode()
write("s3_post", "form-v4", form([("key", "uploads/${filename}"), ("acl", "public-read"),
                                  ("Content-Type", "image/png"), ("success_action_status", "201"),
                                  ("x-amz-meta-tag", "t1"), ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                                  ("X-Amz-Credential", "AKIDEXAMPLE/20130524/us-east-1/s3/aws4_request"),
                                  ("X-Amz-Date", "20130524T000000Z"), ("Policy", pol),
                                  ("X-Amz-Signature", "0" * 64)], "----WebKitFormBoundary7MA4YWxkTrZu0gW", piece=6))
write("s3_post", "form-v2-quoted", form([("key", "k"), ("AWSAccessKeyId", "AKIDEXAMPLE"), ("policy", pol),
                                         ("signature", "abc="), ("x-ignore-me", "1"), ("key", "again")],
                                        "b'()+_,-./:=?", file_name="C:\\dir\\x.txt"))
write("s3_post", "form-no-file", b"\x00\x03multipart/form-data; charset=utf-8; boundary=\"q b\"\n"
      b"preamble\r\n--q b  \r\ncontent-disposition: form-data; name=key\r\n\r\nk\r\n--q b--\r\nepilogue")
write("s3_post", "policy-full", b"\x80" + json.dumps(POLICY).encode())
write("s3_post", "policy-v2-extra", b"\x81" + json.dumps({"expiration": "2099-01-01T00:00:00Z", "conditions": [
    ["starts-with", "$key", ""], {"acl": "public-read"}, ["content-length-range", "0", "10"],
    ["eq", "$Content-Type", "image/png, image/jpeg"]]}).encode())
write("s3_post", "policy-bad", b"\x80" + b'{"expiration": 5, "conditions": [["starts-with"], {"a": 1, "b": 2}, []]}')
