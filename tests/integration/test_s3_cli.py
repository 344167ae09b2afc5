"""aws-cli against tweedle's S3: `aws s3 mb/ls/cp/mv/sync/rm/rb/presign` and
`aws s3api ...`, shelled out with the pyenv aws-cli (v1) on PATH.

The CLI is what many users try first; `aws s3 cp` of a file above 8 MiB
uses multipart upload (CreateMultipartUpload/UploadPart/Complete), `sync`
relies on ListObjectsV2 (encoding-type=url) sizes and LastModified.
"""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import requests

import s3_harness as s

AWS = shutil.which("aws")


def setUpModule():
    if not AWS:
        raise unittest.SkipTest("aws-cli not found on PATH")
    s.start(__name__)


def tearDownModule():
    if AWS:
        s.stop(__name__)


MIB = 1024 * 1024


class CliTest(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="tweedle-cli-")
        cfg = os.path.join(cls.tmp, "config")
        with open(cfg, "w") as f:
            f.write("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
        env = dict(os.environ)
        env.update({
            "AWS_ACCESS_KEY_ID": s.ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": s.SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": cfg,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_RETRY_MODE": "standard",
            "AWS_PAGER": "",
        })
        for v in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
            env.pop(v, None)
        cls.env = env

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def aws(self, *args, input=None, check=True, timeout=120):
        # Bounded: a wedged server costs 20 s per command, not the CLI's 60 s default.
        cmd = [AWS, "--endpoint-url", self.server.endpoint, "--cli-read-timeout", "20",
               "--cli-connect-timeout", "5"] + list(args)
        p = subprocess.run(cmd, env=self.env, input=input, capture_output=True, timeout=timeout)
        if check and p.returncode != 0:
            self.fail("%s exited %d\nstdout: %s\nstderr: %s" % (" ".join(args), p.returncode,
                                                              p.stdout.decode(errors="replace")[-2000:],
                                                              p.stderr.decode(errors="replace")[-2000:]))
        return p

    def api(self, *args):
        p = self.aws("s3api", *args, "--output", "json")
        out = p.stdout.decode()
        return json.loads(out) if out.strip() else {}

    def write(self, rel, data):
        path = os.path.join(self.tmp, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def bucket(self):
        name = s.unique_bucket("cli")
        out = self.aws("s3", "mb", "s3://" + name).stdout.decode()
        self.assertIn("make_bucket: " + name, out)
        return name

    # -- aws s3 -------------------------------------------------------------
    def test_mb_ls_rb(self):
        b = self.bucket()
        self.assertIn(b, self.aws("s3", "ls").stdout.decode())
        out = self.aws("s3", "rb", "s3://" + b).stdout.decode()
        self.assertIn("remove_bucket: " + b, out)
        self.assertNotIn(b, self.aws("s3", "ls").stdout.decode())

    def test_cp_roundtrip(self):
        b = self.bucket()
        data = os.urandom(300 * 1024)
        src = self.write("cp/src.bin", data)
        self.aws("s3", "cp", src, "s3://%s/dir/file.bin" % b)
        dst = os.path.join(self.tmp, "cp/back.bin")
        self.aws("s3", "cp", "s3://%s/dir/file.bin" % b, dst)
        self.assertEqual(self.read(dst), data)
        out = self.aws("s3", "ls", "s3://%s/dir/" % b).stdout.decode()
        self.assertRegex(out, r"\s%d file\.bin" % len(data))

    def test_cp_large_file_multipart(self):
        b = self.bucket()
        data = os.urandom(20 * MIB + 123)
        src = self.write("big/src.bin", data)
        self.aws("s3", "cp", src, "s3://%s/big.bin" % b, timeout=300)
        dst = os.path.join(self.tmp, "big/back.bin")
        self.aws("s3", "cp", "s3://%s/big.bin" % b, dst, timeout=300)
        self.assertTrue(self.read(dst) == data, "multipart round-trip differs")
        head = self.api("head-object", "--bucket", b, "--key", "big.bin")
        self.assertEqual(head["ContentLength"], len(data))
        part = 8 * MIB
        digests = b"".join(hashlib.md5(data[i:i + part]).digest() for i in range(0, len(data), part))
        self.assertEqual(head["ETag"], '"%s-3"' % hashlib.md5(digests).hexdigest())

    def test_cp_with_metadata(self):
        b = self.bucket()
        src = self.write("meta/page.html", b"<h1>hi</h1>")
        self.aws("s3", "cp", src, "s3://%s/page.html" % b, "--content-type", "text/html; charset=utf-8",
                 "--metadata", "owner=tweedle,stage=test", "--cache-control", "max-age=60")
        head = self.api("head-object", "--bucket", b, "--key", "page.html")
        self.assertEqual(head["ContentType"], "text/html; charset=utf-8")
        self.assertEqual(head["Metadata"], {"owner": "tweedle", "stage": "test"})
        self.assertEqual(head["CacheControl"], "max-age=60")
        # an empty value is kept and answered (S3 does)
        self.api("put-object", "--bucket", b, "--key", "blank", "--metadata", '{"blank": "", "x": "1"}')
        self.assertEqual(self.api("head-object", "--bucket", b, "--key", "blank")["Metadata"],
                         {"blank": "", "x": "1"})

    def test_cp_guesses_content_type(self):
        b = self.bucket()
        src = self.write("guess/data.json", b'{"a": 1}')
        self.aws("s3", "cp", src, "s3://%s/data.json" % b)
        self.assertEqual(self.api("head-object", "--bucket", b, "--key", "data.json")["ContentType"],
                         "application/json")

    def test_cp_stdin_stdout(self):
        b = self.bucket()
        data = b"streamed through stdin\n" * 1000
        self.aws("s3", "cp", "-", "s3://%s/stream.txt" % b, input=data)
        out = self.aws("s3", "cp", "s3://%s/stream.txt" % b, "-").stdout
        self.assertEqual(out, data)

    def test_ls_prefixes_and_recursive(self):
        b = self.bucket()
        for k in ("a/1.txt", "a/2.txt", "a/sub/3.txt", "top.txt"):
            self.s3.put_object(Bucket=b, Key=k, Body=k.encode())
        out = self.aws("s3", "ls", "s3://%s/" % b).stdout.decode()
        self.assertRegex(out, r"PRE a/")
        self.assertRegex(out, r"\s7 top\.txt")
        self.assertNotIn("1.txt", out)
        rec = self.aws("s3", "ls", "--recursive", "s3://%s" % b).stdout.decode()
        for k in ("a/1.txt", "a/2.txt", "a/sub/3.txt", "top.txt"):
            self.assertIn(k, rec)

    def test_sync_up_and_down(self):
        b = self.bucket()
        root = os.path.join(self.tmp, "sync-src")
        files = {"a.txt": b"a", "dir/b.bin": os.urandom(5000), "dir/sub/c with space.txt": b"c",
                 "ünï/ключ.txt": "unicode".encode()}
        for rel, data in files.items():
            self.write(os.path.join("sync-src", rel), data)
        out = self.aws("s3", "sync", root, "s3://%s/tree" % b).stdout.decode()
        self.assertEqual(out.count("upload:"), len(files), out)
        out = self.aws("s3", "sync", root, "s3://%s/tree" % b).stdout.decode()
        self.assertEqual(out.strip(), "", "a second sync must upload nothing: %s" % out)
        self.write(os.path.join("sync-src", "dir/b.bin"), os.urandom(6000))
        files["dir/b.bin"] = self.read(os.path.join(root, "dir/b.bin"))
        out = self.aws("s3", "sync", root, "s3://%s/tree" % b).stdout.decode()
        self.assertEqual(out.count("upload:"), 1, out)
        dst = os.path.join(self.tmp, "sync-dst")
        self.aws("s3", "sync", "s3://%s/tree" % b, dst)
        for rel, data in files.items():
            self.assertEqual(self.read(os.path.join(dst, rel)), data, rel)
        os.unlink(os.path.join(root, "a.txt"))
        out = self.aws("s3", "sync", "--delete", root, "s3://%s/tree" % b).stdout.decode()
        self.assertIn("delete: s3://%s/tree/a.txt" % b, out)
        keys = [o["Key"] for o in self.s3.list_objects_v2(Bucket=b)["Contents"]]
        self.assertNotIn("tree/a.txt", keys)
        self.assertIn("tree/ünï/ключ.txt", keys)

    def test_mv_and_rm(self):
        b = self.bucket()
        src = self.write("mv/file.txt", b"moving")
        self.aws("s3", "mv", src, "s3://%s/one.txt" % b)
        self.assertFalse(os.path.exists(src))
        self.aws("s3", "mv", "s3://%s/one.txt" % b, "s3://%s/two.txt" % b)
        keys = [o["Key"] for o in self.s3.list_objects_v2(Bucket=b)["Contents"]]
        self.assertEqual(keys, ["two.txt"])
        self.aws("s3", "rm", "s3://%s/two.txt" % b)
        self.assertEqual(self.s3.list_objects_v2(Bucket=b)["KeyCount"], 0)

    def test_rm_recursive_and_rb_force(self):
        b = self.bucket()
        for i in range(30):
            self.s3.put_object(Bucket=b, Key="x/%d" % i, Body=b"x")
        out = self.aws("s3", "rm", "--recursive", "s3://%s/x/" % b).stdout.decode()
        self.assertEqual(out.count("delete:"), 30)
        self.assertEqual(self.s3.list_objects_v2(Bucket=b)["KeyCount"], 0)
        self.s3.put_object(Bucket=b, Key="left", Body=b"x")
        self.aws("s3", "rb", "--force", "s3://%s" % b)
        self.assertEqual(self.raw("HEAD", "/" + b).status, 404)

    def test_presign(self):
        b = self.bucket()
        self.s3.put_object(Bucket=b, Key="dir/shared file.txt", Body=b"shared")
        url = self.aws("s3", "presign", "s3://%s/dir/shared file.txt" % b, "--expires-in", "300").stdout.decode().strip()
        self.assertTrue(url.startswith(self.server.endpoint), url)
        r = requests.get(url, timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.content, b"shared")

    def test_ls_missing_bucket_fails(self):
        p = self.aws("s3", "ls", "s3://%s" % s.unique_bucket("nope"), check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("NoSuchBucket", p.stderr.decode())

    def test_presign_used_by_curl(self):
        if not shutil.which("curl"):
            self.skipTest("curl not found on PATH")
        b = self.bucket()
        data = os.urandom(50_000)
        self.s3.put_object(Bucket=b, Key="curl/obj.bin", Body=data)
        url = self.aws("s3", "presign", "s3://%s/curl/obj.bin" % b).stdout.decode().strip()
        out = os.path.join(self.tmp, "curl-obj.bin")

        def curl(*args):
            p = subprocess.run(["curl", "-sS", "--max-time", "30", "-o", out, "-w", "%{http_code}"] + list(args),
                               capture_output=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            return int(p.stdout.decode()), self.read(out)

        self.assertEqual(curl(url), (200, data))
        self.assertEqual(curl("-r", "10-19", url), (206, data[10:20]))
        status, body = curl("-X", "DELETE", url)  # the method is part of the signature
        self.assertEqual(status, 403)
        self.assertIn(b"<Code>SignatureDoesNotMatch</Code>", body)
        # One second of validity, used after it lapsed.
        url = self.aws("s3", "presign", "s3://%s/curl/obj.bin" % b, "--expires-in", "1").stdout.decode().strip()
        time.sleep(2.1)
        status, body = curl(url)
        self.assertEqual(status, 403)
        self.assertIn(b"<Code>AccessDenied</Code><Message>Request has expired</Message>", body)

    def test_cp_stdin_large_with_expected_size(self):
        # Above the 8 MiB threshold from a pipe: --expected-size lets the CLI
        # pick a part size and upload in parts as the data arrives.
        b = self.bucket()
        data = os.urandom(20 * MIB + 99)
        self.aws("s3", "cp", "-", "s3://%s/piped.bin" % b, "--expected-size", str(len(data)), input=data,
                 timeout=300)
        head = self.api("head-object", "--bucket", b, "--key", "piped.bin")
        self.assertEqual(head["ContentLength"], len(data))
        self.assertRegex(head["ETag"], r'^"[0-9a-f]{32}-\d+"$')
        out = self.aws("s3", "cp", "s3://%s/piped.bin" % b, "-", timeout=300).stdout
        self.assertEqual(hashlib.sha256(out).hexdigest(), hashlib.sha256(data).hexdigest())

    def test_multipart_threshold_and_chunksize_config(self):
        b = self.bucket()
        cfg = os.path.join(self.tmp, "config-5mb")
        with open(cfg, "w") as f:
            f.write("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n"
                    "    multipart_threshold = 5MB\n    multipart_chunksize = 5MB\n")
        env = self.env
        try:
            self.__class__.env = dict(env, AWS_CONFIG_FILE=cfg)
            data = os.urandom(12 * MIB)
            src = self.write("mp5/src.bin", data)
            self.aws("s3", "cp", src, "s3://%s/mp5.bin" % b, timeout=300)
            dst = os.path.join(self.tmp, "mp5/back.bin")
            self.aws("s3", "cp", "s3://%s/mp5.bin" % b, dst, timeout=300)
        finally:
            self.__class__.env = env
        self.assertTrue(self.read(dst) == data, "5 MiB-part round trip differs")
        part = 5 * MIB
        digests = b"".join(hashlib.md5(data[i:i + part]).digest() for i in range(0, len(data), part))
        head = self.api("head-object", "--bucket", b, "--key", "mp5.bin")
        self.assertEqual(head["ETag"], '"%s-3"' % hashlib.md5(digests).hexdigest())

    def test_cp_recursive_and_sync_down_idempotent(self):
        b = self.bucket()
        root = os.path.join(self.tmp, "rec-src")
        files = {"one.txt": b"1", "d/two.bin": os.urandom(3000), "d/e/three.txt": b"333", "skip.log": b"log"}
        for rel, data in files.items():
            self.write(os.path.join("rec-src", rel), data)
        out = self.aws("s3", "cp", "--recursive", "--exclude", "*.log", root, "s3://%s/rec" % b).stdout.decode()
        self.assertEqual(out.count("upload:"), 3, out)
        keys = sorted(o["Key"] for o in self.s3.list_objects_v2(Bucket=b)["Contents"])
        self.assertEqual(keys, ["rec/d/e/three.txt", "rec/d/two.bin", "rec/one.txt"])
        dst = os.path.join(self.tmp, "rec-dst")
        out = self.aws("s3", "cp", "--recursive", "s3://%s/rec" % b, dst).stdout.decode()
        self.assertEqual(out.count("download:"), 3, out)
        for rel, data in files.items():
            if rel != "skip.log":
                self.assertEqual(self.read(os.path.join(dst, rel)), data, rel)
        # sync down into the same directory: everything is current, nothing moves.
        out = self.aws("s3", "sync", "s3://%s/rec" % b, dst).stdout.decode()
        self.assertEqual(out.strip(), "", "a sync of an up-to-date tree must download nothing: %s" % out)
        # a remote change comes down on the next sync
        self.s3.put_object(Bucket=b, Key="rec/one.txt", Body=b"changed remotely")
        out = self.aws("s3", "sync", "s3://%s/rec" % b, dst).stdout.decode()
        self.assertEqual(out.count("download:"), 1, out)
        self.assertEqual(self.read(os.path.join(dst, "one.txt")), b"changed remotely")
        # sync --delete downwards removes the local file that is gone remotely
        self.s3.delete_object(Bucket=b, Key="rec/d/two.bin")
        out = self.aws("s3", "sync", "--delete", "s3://%s/rec" % b, dst).stdout.decode()
        self.assertIn("delete: ", out)
        self.assertFalse(os.path.exists(os.path.join(dst, "d/two.bin")))

    def test_ls_recursive_summarize(self):
        b = self.bucket()
        sizes = {"s/a": 10, "s/b/c": 2048, "s/b/d": 1, "t": 5}
        for k, n in sizes.items():
            self.s3.put_object(Bucket=b, Key=k, Body=b"x" * n)
        out = self.aws("s3", "ls", "--recursive", "--summarize", "s3://%s/s/" % b).stdout.decode()
        for k in ("s/a", "s/b/c", "s/b/d"):
            self.assertRegex(out, r"\s%d %s\n" % (sizes[k], k))
        self.assertNotIn(" t\n", out)
        self.assertIn("Total Objects: 3", out)
        self.assertIn("Total Size: %d" % (10 + 2048 + 1), out)

    def test_rm_recursive_with_filters(self):
        b = self.bucket()
        for k in ("r/keep.txt", "r/x.tmp", "r/sub/y.tmp", "other/z.tmp"):
            self.s3.put_object(Bucket=b, Key=k, Body=b"x")
        out = self.aws("s3", "rm", "--recursive", "s3://%s/r/" % b, "--exclude", "*", "--include", "*.tmp").stdout.decode()
        self.assertEqual(out.count("delete:"), 2, out)
        keys = sorted(o["Key"] for o in self.s3.list_objects_v2(Bucket=b)["Contents"])
        self.assertEqual(keys, ["other/z.tmp", "r/keep.txt"])

    def test_rb_non_empty_fails(self):
        b = self.bucket()
        self.s3.put_object(Bucket=b, Key="k", Body=b"x")
        p = self.aws("s3", "rb", "s3://" + b, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("BucketNotEmpty", p.stderr.decode())
        self.assertEqual(self.raw("HEAD", "/" + b).status, 200)

    # -- aws s3api ----------------------------------------------------------
    def test_s3api_object_roundtrip(self):
        b = self.bucket()
        data = os.urandom(4096)
        src = self.write("api/in.bin", data)
        put = self.api("put-object", "--bucket", b, "--key", "k/obj.bin", "--body", src,
                       "--metadata", "a=1", "--content-type", "application/x-test")
        self.assertEqual(put["ETag"], s.etag_of(data))
        dst = os.path.join(self.tmp, "api/out.bin")
        got = self.api("get-object", "--bucket", b, "--key", "k/obj.bin", dst)
        self.assertEqual(got["ContentLength"], len(data))
        self.assertEqual(got["ContentType"], "application/x-test")
        self.assertEqual(got["Metadata"], {"a": "1"})
        self.assertEqual(self.read(dst), data)
        lst = self.api("list-objects-v2", "--bucket", b, "--prefix", "k/")
        self.assertEqual([o["Key"] for o in lst["Contents"]], ["k/obj.bin"])
        self.api("delete-object", "--bucket", b, "--key", "k/obj.bin")
        p = self.aws("s3api", "head-object", "--bucket", b, "--key", "k/obj.bin", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("404", p.stderr.decode())

    def test_s3api_create_bucket_twice(self):
        name = s.unique_bucket("cli2")
        r1 = self.api("create-bucket", "--bucket", name)
        self.assertEqual(r1.get("Location"), "/" + name)
        self.api("create-bucket", "--bucket", name)
        self.assertIn(name, [x["Name"] for x in self.api("list-buckets")["Buckets"]])

    def test_s3api_get_missing_key(self):
        b = self.bucket()
        p = self.aws("s3api", "get-object", "--bucket", b, "--key", "nope", os.path.join(self.tmp, "nope"),
                     check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("NoSuchKey", p.stderr.decode())

    def test_s3api_notification_configuration(self):
        b = self.bucket()
        sqs = self.server.client()
        qname = s.h.unique("cliq")
        sqs.create_queue(QueueName=qname)
        cfg = {"QueueConfigurations": [{"Id": "cli", "Events": ["s3:ObjectCreated:*"],
                                        "QueueArn": "arn:aws:sqs:us-east-1:%s:%s" % (s.ACCOUNT, qname)}]}
        self.aws("s3api", "put-bucket-notification-configuration", "--bucket", b,
                 "--notification-configuration", json.dumps(cfg))
        got = self.api("get-bucket-notification-configuration", "--bucket", b)
        self.assertEqual(got["QueueConfigurations"][0]["Id"], "cli")


if __name__ == "__main__":
    unittest.main()
