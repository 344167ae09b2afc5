"""Virtual-hosted-style S3 (``--domain``): BUCKET.<domain> names the bucket.

The server runs with ``--domain s3.tweedle.test``. Names under that domain are
resolved to 127.0.0.1 inside this test process (socket.getaddrinfo is wrapped),
so boto3 with ``addressing_style: virtual`` talks to the server exactly as it
talks to AWS: the bucket in the Host header, the key alone in the path, SigV4
headers, and presigned URLs in both SigV2 and SigV4 (the string to sign of
SigV2 includes the bucket from the Host header)."""

import socket
import unittest
import urllib.error
import urllib.parse
import urllib.request

import boto3
from botocore.config import Config

import harness as h
import s3_harness as s3h
from s3_harness import ACCESS_KEY, SECRET_KEY, REGION, ClientError

DOMAIN = "s3.tweedle.test"
_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *args, **kw):
    if isinstance(host, str) and (host == DOMAIN or host.endswith("." + DOMAIN)):
        host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kw)


def setUpModule():
    socket.getaddrinfo = _getaddrinfo
    h.start_module_server(__name__, extra_args=["--domain", DOMAIN])


def tearDownModule():
    socket.getaddrinfo = _real_getaddrinfo
    h.stop_module_server(__name__)


def vhost_client(server, signature_version=None):
    kw = dict(s3={"addressing_style": "virtual"}, retries={"total_max_attempts": 1, "mode": "standard"})
    if signature_version:
        kw["signature_version"] = signature_version
    session = boto3.session.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                                    region_name=REGION)
    return session.client("s3", endpoint_url="http://%s:%d" % (DOMAIN, server.port), config=Config(**kw))


class VirtualHostedTest(s3h.S3TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.vs3 = vhost_client(cls.server)
        cls.vs3v4 = vhost_client(cls.server, "s3v4")

    def test_requests_name_the_bucket_in_the_host(self):
        seen = []
        self.vs3.meta.events.register("before-send.s3.PutObject", lambda request, **_: seen.append(request.url))
        bucket = s3h.unique_bucket("vh")
        self.vs3.create_bucket(Bucket=bucket)
        self.vs3.put_object(Bucket=bucket, Key="dir/a b+c.txt", Body=b"hello", ContentType="text/plain")
        self.assertTrue(seen and seen[0].startswith("http://%s.%s:" % (bucket, DOMAIN)), seen)
        self.assertTrue(seen[0].endswith("/dir/a%20b%2Bc.txt"), seen)
        got = self.vs3.get_object(Bucket=bucket, Key="dir/a b+c.txt")
        self.assertEqual(got["Body"].read(), b"hello")
        self.assertEqual(got["ContentType"], "text/plain")
        # the same object seen path-style: one store, two addressing styles
        self.assertEqual(self.s3.get_object(Bucket=bucket, Key="dir/a b+c.txt")["Body"].read(), b"hello")
        keys = [o["Key"] for o in self.vs3.list_objects_v2(Bucket=bucket)["Contents"]]
        self.assertEqual(keys, ["dir/a b+c.txt"])
        self.vs3.head_bucket(Bucket=bucket)
        self.vs3.delete_object(Bucket=bucket, Key="dir/a b+c.txt")
        self.vs3.delete_bucket(Bucket=bucket)
        with self.assertRaises(ClientError) as cm:
            self.s3.head_bucket(Bucket=bucket)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 404)

    def test_missing_bucket_in_host(self):
        with self.assertRaises(ClientError) as cm:
            self.vs3.get_object(Bucket=s3h.unique_bucket("nobkt"), Key="k")
        self.assertEqual(cm.exception.response["Error"]["Code"], "NoSuchBucket")

    def test_key_that_looks_like_a_bucket_path(self):
        # in virtual-hosted style the whole path is the key, slashes included
        bucket = self.make_bucket("vh")
        self.vs3.put_object(Bucket=bucket, Key="other-bucket/x", Body=b"1")
        self.assertEqual(self.s3.get_object(Bucket=bucket, Key="other-bucket/x")["Body"].read(), b"1")

    def test_presigned_urls_sigv2_and_sigv4(self):
        bucket = self.make_bucket("vh")
        for client in (self.vs3, self.vs3v4):
            put = client.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "p.bin"},
                                                ExpiresIn=300)
            self.assertIn(bucket + "." + DOMAIN, put)
            body = b"presigned " + client.meta.config.signature_version.encode() if client.meta.config.signature_version else b"presigned default"
            # http.client, not urllib: urllib adds a form Content-Type that SigV2 would sign
            u = urllib.parse.urlsplit(put)
            resp = s3h.send(self.server, "PUT", u.path + "?" + u.query, body, {"Host": u.netloc})
            self.assertEqual(resp.status, 200, resp.body)
            get = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p.bin"},
                                                ExpiresIn=300)
            with urllib.request.urlopen(get, timeout=20) as resp:
                self.assertEqual(resp.read(), body)
            # a signature made for one bucket does not open another
            other = self.make_bucket("vh")
            self.s3.put_object(Bucket=other, Key="p.bin", Body=b"secret")
            with self.assertRaises(urllib.error.HTTPError) as cm:
                urllib.request.urlopen(get.replace(bucket + ".", other + ".", 1), timeout=20)
            self.assertEqual(cm.exception.code, 403)

    def test_host_outside_the_domain_is_path_style(self):
        bucket = self.make_bucket("vh")
        self.s3.put_object(Bucket=bucket, Key="k", Body=b"v")
        # plain 127.0.0.1 Host: path-style still works next to virtual-hosted style
        resp = self.raw("GET", s3h.obj_path(bucket, "k"))
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, b"v")


if __name__ == "__main__":
    unittest.main()
