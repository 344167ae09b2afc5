"""The gateway under /_/api/v1/: routes and their errors, API keys (admin
only, shown once, hashed), presigned URLs used with curl, every denial, the
throttle and the access log.

Facts asserted (tweedle's documented API, docs/gateway.md):
* errors are {"error":{"code","message"}} with 400 BadRequest, 401
  Unauthorized (+ WWW-Authenticate: Bearer), 403 AccessDenied, 404 NotFound /
  NoSuchBucket, 405 MethodNotAllowed (+ Allow), 413 RequestEntityTooLarge,
  429 TooManyRequests (+ Retry-After);
* a presigned PUT binds content_type and content_length as signed headers:
  S3 answers SignatureDoesNotMatch (403) when the upload differs;
* an expired presigned URL gets S3's 403 AccessDenied "Request has expired".
"""

import hashlib
import json
import re
import time
import urllib.parse
import uuid

import gateway_harness as g
import harness as h
import s3_harness as s
from gateway_harness import admin, bearer, create_key, presign, curl, curl_put


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


class Base(g.GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s3 = s.s3_client(cls.server)
        cls.bucket = s.unique_bucket("gw")
        cls.other = s.unique_bucket("gwo")
        cls.s3.create_bucket(Bucket=cls.bucket)
        cls.s3.create_bucket(Bucket=cls.other)

    def key(self, scopes, **kw):
        return create_key(self.server, name="t-" + uuid.uuid4().hex[:8], scopes=scopes, **kw)


class RouteTest(Base):
    def test_unknown_route_404(self):
        r = bearer(self.server, "GET", "/nothing-here", None)
        self.assertGwError(r, 404, "NotFound", "No such route: GET /_/api/v1/nothing-here.")
        r = bearer(self.server, "GET", "/presign/", None)
        self.assertGwError(r, 404, "NotFound")

    def test_wrong_method_405(self):
        for method, path, allow in (("GET", "/presign", "POST"), ("PUT", "/apikeys", "GET, POST"),
                                    ("POST", "/apikeys/ak_x", "GET, DELETE"),
                                    ("DELETE", "/access-log", "GET")):
            r = bearer(self.server, method, path, None)
            self.assertGwError(r, 405, "MethodNotAllowed")
            self.assertEqual(r.header("Allow"), allow)

    def test_body_too_large_413(self):
        k = self.key([{"actions": ["presign:put"]}])
        big = json.dumps({"method": "PUT", "filename": "x" * (1 << 20)}).encode()
        auth = ["-H", "Authorization: Bearer " + k["key"], "-H", "Content-Type: application/json"]
        url = self.server.endpoint + g.API + "/presign"
        # announced: refused before the body is sent (curl waits for 100-continue)
        st, body, _ = curl(auth + ["--data-binary", "@-", url], data=big)
        self.assertEqual(st, 413, body)
        self.assertEqual(json.loads(body)["error"]["code"], "RequestEntityTooLarge")
        # chunked: refused once read
        st, body, _ = curl(auth + ["-H", "Transfer-Encoding: chunked", "--data-binary", "@-", url], data=big)
        self.assertEqual(st, 413, body)
        self.assertEqual(json.loads(body)["error"]["code"], "RequestEntityTooLarge")

    def test_malformed_json_400(self):
        k = self.key([{"actions": ["presign:put"]}])
        for body in (b"{", b"[1,2]", b"", b'"x"', b'{"method":"PUT","method":"GET"}'):
            r = bearer(self.server, "POST", "/presign", k["key"], body)
            self.assertGwError(r, 400, "BadRequest")

    def test_health_still_served(self):
        st, body, _ = curl([self.server.endpoint + "/_/health"])
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(body), {"status": "ok"})


class ApiKeyTest(Base):
    def test_create_shows_key_once_and_lists_without_it(self):
        k = self.key([{"actions": ["presign:put"], "bucket": self.bucket, "prefix": "in/",
                       "max_bytes": 1000, "max_expires_in": 600}], rate=5, burst=10)
        self.assertRegex(k["key"], r"^twk_[A-Za-z0-9_-]{43}$")
        self.assertRegex(k["id"], r"^ak_[0-9a-f]{16}$")
        self.assertEqual(k["status"], "active")
        self.assertEqual(k["key_prefix"], k["key"][:10])
        self.assertIsNone(k["expires_at"])
        self.assertIsNone(k["revoked_at"])
        self.assertEqual(k["rate"], 5)
        self.assertEqual(k["burst"], 10)
        self.assertRegex(k["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        lst = admin(self.server, "GET", "/apikeys")
        self.assertStatus(lst, 200)
        mine = [x for x in lst.json()["keys"] if x["id"] == k["id"]]
        self.assertEqual(len(mine), 1)
        self.assertNotIn("key", mine[0])
        self.assertEqual(mine[0]["scopes"], k["scopes"])
        one = admin(self.server, "GET", "/apikeys/" + k["id"])
        self.assertStatus(one, 200)
        self.assertEqual(one.json()["name"], k["name"])
        self.assertNotIn("key", one.json())

    def test_only_the_hash_is_stored(self):
        k = self.key([{"actions": ["presign:get"]}])
        with open(self.server.data_dir + "/tweedle.db", "rb") as f:
            db = f.read()
        for name in ("tweedle.db-wal",):
            try:
                with open(self.server.data_dir + "/" + name, "rb") as f:
                    db += f.read()
            except OSError:
                pass
        self.assertNotIn(k["key"].encode(), db)
        self.assertIn(hashlib.sha256(k["key"].encode()).hexdigest().encode(), db)

    def test_admin_only(self):
        k = self.key([{"actions": ["*"]}])
        r = bearer(self.server, "GET", "/apikeys", None)
        self.assertGwError(r, 401, "Unauthorized")
        self.assertEqual(r.header("WWW-Authenticate"), "Bearer")
        r = bearer(self.server, "POST", "/apikeys", k["key"], {"name": "x", "scopes": []})
        self.assertGwError(r, 403, "AccessDenied")
        r = bearer(self.server, "GET", "/access-log", k["key"])
        self.assertGwError(r, 403, "AccessDenied")
        r = admin(self.server, "GET", "/apikeys", secret_key="wrong")
        self.assertGwError(r, 403, "SignatureDoesNotMatch")
        r = admin(self.server, "GET", "/apikeys", access_key="AKIDUNKNOWN")
        self.assertGwError(r, 403, "InvalidClientTokenId")
        # the scope's service name is free: "tweedle" works as well as "execute-api"
        self.assertStatus(admin(self.server, "GET", "/apikeys", service="tweedle"), 200)

    def test_curl_sigv4_admin(self):
        """The admin calls of docs/gateway.md, with curl signing them itself."""
        sig = ["--aws-sigv4", "aws:amz:us-east-1:execute-api", "--user", "%s:%s" % (h.ACCESS_KEY, h.SECRET_KEY)]
        url = self.server.endpoint + g.API
        st, body, _ = curl(sig + ["-H", "Content-Type: application/json", url + "/apikeys", "-d",
                                  json.dumps({"name": "via-curl", "scopes": [{"actions": ["presign:get"]}]})])
        self.assertEqual(st, 201, body)
        k = json.loads(body)
        st, body, _ = curl(sig + [url + "/apikeys"])
        self.assertEqual(st, 200, body)
        self.assertIn(k["id"], [x["id"] for x in json.loads(body)["keys"]])
        st, body, _ = curl(sig + [url + "/access-log?limit=2&since=2020-01-01T00%3A00%3A00Z"])
        self.assertEqual(st, 200, body)
        self.assertEqual(len(json.loads(body)["entries"]), 2)
        st, body, _ = curl(sig + ["-X", "DELETE", url + "/apikeys/" + k["id"]])
        self.assertEqual((st, json.loads(body)["status"]), (200, "revoked"))
        st, body, _ = curl(["--aws-sigv4", "aws:amz:us-east-1:execute-api", "--user",
                            h.ACCESS_KEY + ":wrong", url + "/apikeys"])
        self.assertEqual(st, 403)

    def test_create_validation(self):
        cases = [
            ({}, "name is required"),
            ({"name": "x"}, "scopes is required"),
            ({"name": "", "scopes": [{"actions": ["*"]}]}, "name is required"),
            ({"name": "x" * 101, "scopes": [{"actions": ["*"]}]}, "name is required"),
            ({"name": "x", "scopes": []}, "at least one scope"),
            ({"name": "x", "scopes": {}}, "scopes must be an array"),
            ({"name": "x", "scopes": [{"actions": []}]}, "non-empty"),
            ({"name": "x", "scopes": [{"actions": ["presign:delete"]}]}, "is not an action"),
            ({"name": "x", "scopes": [{"bucket": "b1b"}]}, "actions is required"),
            ({"name": "x", "scopes": [{"actions": ["*"], "bucket": "No_Such"}]}, "bucket must be"),
            ({"name": "x", "scopes": [{"actions": ["*"], "max_bytes": -1}]}, "max_bytes"),
            ({"name": "x", "scopes": [{"actions": ["*"], "max_expires_in": 604801}]}, "max_expires_in"),
            ({"name": "x", "scopes": [{"actions": ["*"], "colour": "red"}]}, "unknown field"),
            ({"name": "x", "scopes": [{"actions": ["*"]}], "rate": -1}, "rate must be"),
            ({"name": "x", "scopes": [{"actions": ["*"]}], "burst": 0}, "burst must be"),
            ({"name": "x", "scopes": [{"actions": ["*"]}], "expires_in": 0}, "expires_in"),
            ({"name": "x", "scopes": [{"actions": ["*"]}], "expires_at": "2001-01-01T00:00:00Z"},
             "in the future"),
            ({"name": "x", "scopes": [{"actions": ["*"]}], "expires_at": "soon"}, "expires_at must"),
            ({"name": "x", "scopes": [{"actions": ["*"]}], "expires_at": "2099-01-01T00:00:00Z",
              "expires_in": 5}, "not both"),
            ({"name": "x", "scopes": [{"actions": ["*"]}], "owner": "me"}, "Unknown field"),
        ]
        before = len(admin(self.server, "GET", "/apikeys").json()["keys"])
        for body, text in cases:
            with self.subTest(body=body):
                r = admin(self.server, "POST", "/apikeys", body)
                self.assertGwError(r, 400, "BadRequest")
                self.assertIn(text.lower(), r.json()["error"]["message"].lower())
        self.assertEqual(len(admin(self.server, "GET", "/apikeys").json()["keys"]), before)

    def test_revoke(self):
        k = self.key([{"actions": ["presign:put"], "bucket": self.bucket}])
        self.assertStatus(presign(self.server, k["key"], method="PUT", key="a"), 200)
        r = admin(self.server, "DELETE", "/apikeys/" + k["id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["status"], "revoked")
        self.assertRegex(r.json()["revoked_at"], r"Z$")
        r2 = presign(self.server, k["key"], method="PUT", key="a")
        self.assertGwError(r2, 401, "Unauthorized", "The API key has been revoked.")
        again = admin(self.server, "DELETE", "/apikeys/" + k["id"])
        self.assertStatus(again, 200)
        self.assertEqual(again.json()["revoked_at"], r.json()["revoked_at"])
        self.assertGwError(admin(self.server, "DELETE", "/apikeys/ak_0000000000000000"), 404, "NotFound")
        self.assertGwError(admin(self.server, "GET", "/apikeys/nope"), 404, "NotFound")

    def test_expired_key(self):
        k = self.key([{"actions": ["presign:get"], "bucket": self.bucket}], expires_in=1)
        self.assertRegex(k["expires_at"], r"Z$")
        self.assertStatus(presign(self.server, k["key"], method="GET", key="a"), 200)
        time.sleep(1.2)
        r = presign(self.server, k["key"], method="GET", key="a")
        self.assertGwError(r, 401, "Unauthorized", "The API key has expired.")
        lst = admin(self.server, "GET", "/apikeys/" + k["id"]).json()
        self.assertEqual(lst["status"], "expired")

    def test_unknown_missing_and_malformed_tokens(self):
        r = presign(self.server, "twk_" + "A" * 43, method="GET", bucket=self.bucket, key="a")
        self.assertGwError(r, 401, "Unauthorized", "Invalid API key.")
        r = presign(self.server, None, method="GET", bucket=self.bucket, key="a")
        self.assertGwError(r, 401, "Unauthorized", "Missing Authorization header: send "
                           "'Authorization: Bearer <API key>'.")
        self.assertEqual(r.header("WWW-Authenticate"), "Bearer")
        r = bearer(self.server, "POST", "/presign", None, {"method": "GET"},
                   headers={"Authorization": "Basic dXNlcjpwYXNz"})
        self.assertGwError(r, 401, "Unauthorized", contains="Unsupported authorization scheme")
        r = bearer(self.server, "POST", "/presign", None, {"method": "GET"},
                   headers={"Authorization": "Bearer "})
        self.assertGwError(r, 401, "Unauthorized")


class PresignTest(Base):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.k = create_key(cls.server, "uploader", [
            {"actions": ["presign:put"], "bucket": cls.bucket, "prefix": "in/", "max_bytes": 1000,
             "max_expires_in": 600},
            {"actions": ["presign:get"], "bucket": cls.bucket, "prefix": "in/"}])["key"]

    def test_put_then_get_round_trip_with_curl(self):
        data = b"\x00hello gateway\xff" * 10
        r = presign(self.server, self.k, method="PUT", bucket=self.bucket, key="in/round.bin",
                    content_type="application/octet-stream", content_length=len(data), expires_in=300)
        self.assertStatus(r, 200)
        doc = r.json()
        self.assertEqual(set(doc), {"url", "method", "bucket", "key", "expires_at", "expires_in", "headers"})
        self.assertEqual(doc["method"], "PUT")
        self.assertEqual(doc["bucket"], self.bucket)
        self.assertEqual(doc["key"], "in/round.bin")
        self.assertEqual(doc["headers"], {"Content-Type": "application/octet-stream",
                                          "Content-Length": str(len(data))})
        self.assertTrue(doc["url"].startswith(self.server.endpoint + "/%s/in/round.bin?" % self.bucket))
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(doc["url"]).query)
        self.assertEqual(q["X-Amz-Expires"], ["300"])
        self.assertEqual(q["X-Amz-SignedHeaders"], ["content-length;content-type;host"])
        exp = time.mktime(time.strptime(doc["expires_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        self.assertLess(abs(exp - (time.time() + 300)), 5)
        st, body, _ = curl_put(doc["url"], data, [("Content-Type", "application/octet-stream")])
        self.assertEqual(st, 200, body)
        g_ = presign(self.server, self.k, method="GET", bucket=self.bucket, key="in/round.bin")
        self.assertStatus(g_, 200)
        self.assertEqual(g_.json()["headers"], {})
        st, body, _ = curl([g_.json()["url"]])
        self.assertEqual(st, 200)
        self.assertEqual(body, data)

    def test_content_type_and_length_are_bound(self):
        r = presign(self.server, self.k, method="PUT", bucket=self.bucket, key="in/bound.txt",
                    content_type="text/plain", content_length=5)
        url = r.json()["url"]
        st, body, _ = curl_put(url, b"hello", [("Content-Type", "image/png")])
        self.assertEqual(st, 403)
        self.assertEqual(g.s3_error_code(body)[0], "SignatureDoesNotMatch")
        st, body, _ = curl_put(url, b"hello!", [("Content-Type", "text/plain")])
        self.assertEqual(st, 403)
        self.assertEqual(g.s3_error_code(body)[0], "SignatureDoesNotMatch")
        s.wait_until(lambda: True, 0)
        self.assertEqual(self.s3.list_objects_v2(Bucket=self.bucket, Prefix="in/bound").get("KeyCount"), 0)
        st, body, _ = curl_put(url, b"hello", [("Content-Type", "text/plain")])
        self.assertEqual(st, 200, body)
        obj = self.s3.get_object(Bucket=self.bucket, Key="in/bound.txt")
        self.assertEqual(obj["ContentType"], "text/plain")
        self.assertEqual(obj["Body"].read(), b"hello")

    def test_generated_key(self):
        cases = [({"content_type": "image/png"}, ".png"), ({"filename": "Photo.JPEG"}, ".jpeg"),
                 ({"filename": "a.tar.gz", "content_type": "image/png"}, ".gz"),
                 ({"content_type": "application/x-unknown"}, ""), ({}, "")]
        for fields, ext in cases:
            with self.subTest(fields=fields):
                r = presign(self.server, self.k, method="PUT", bucket=self.bucket, content_length=3, **fields)
                self.assertStatus(r, 200)
                self.assertRegex(r.json()["key"], r"^in/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                                 r"[0-9a-f]{12}" + re.escape(ext) + "$")
        # the bucket may be left out when the scope names one
        r = presign(self.server, self.k, method="PUT", content_length=3)
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["bucket"], self.bucket)
        st, _, _ = curl_put(r.json()["url"], b"abc")
        self.assertEqual(st, 200)

    def test_odd_keys_are_encoded(self):
        key = "in/sp ace/ü+%?#&=.txt"
        r = presign(self.server, self.k, method="PUT", bucket=self.bucket, key=key, content_length=2)
        self.assertStatus(r, 200)
        self.assertIn("/in/sp%20ace/%C3%BC%2B%25%3F%23%26%3D.txt?", r.json()["url"])
        st, body, _ = curl_put(r.json()["url"], b"ok")
        self.assertEqual(st, 200, body)
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read(), b"ok")

    def test_denials(self):
        cases = [
            (dict(method="GET", bucket=self.bucket, key="out/x"), "outside the prefixes"),
            (dict(method="PUT", bucket=self.other, key="in/x", content_length=1), "in bucket"),
            (dict(method="PUT", bucket=self.bucket, key="in/x", content_length=1001),
             "content_length 1001 exceeds the largest upload the caller may presign (1000 bytes)."),
            (dict(method="PUT", bucket=self.bucket, key="in/x"), "content_length is required"),
            (dict(method="PUT", bucket=self.bucket, key="in/x", content_length=1, expires_in=601),
             "expires_in 601 exceeds the longest URL lifetime the caller may presign (600 seconds)."),
        ]
        for fields, text in cases:
            with self.subTest(fields=fields):
                r = presign(self.server, self.k, **fields)
                self.assertGwError(r, 403, "AccessDenied", contains=text)
        getter = create_key(self.server, "getter", [{"actions": ["presign:get"]}])["key"]
        r = presign(self.server, getter, method="PUT", bucket=self.bucket, key="in/x")
        self.assertGwError(r, 403, "AccessDenied", "The caller is not allowed to presign:put.")
        jobs = create_key(self.server, "jobs", [{"actions": ["jobs:*"]}])["key"]
        r = presign(self.server, jobs, method="GET", bucket=self.bucket, key="in/x")
        self.assertGwError(r, 403, "AccessDenied", "The caller is not allowed to presign:get.")

    def test_bad_requests(self):
        cases = [
            dict(), dict(method="DELETE", bucket=self.bucket, key="in/x"),
            dict(method="GET", bucket=self.bucket),
            dict(method="PUT", bucket=self.bucket, key="in/x", expires_in=604801),
            dict(method="PUT", bucket=self.bucket, key="in/x", expires_in=0),
            dict(method="PUT", bucket=self.bucket, key="in/x", expires_in="60"),
            dict(method="PUT", bucket=self.bucket, key="in/x", content_length=-1),
            dict(method="PUT", bucket=self.bucket, key="in/x", content_length=5368709121),
            dict(method="PUT", bucket=self.bucket, key="in/x", content_type="a\nb"),
            dict(method="PUT", bucket=self.bucket, key=""),
            dict(method="PUT", bucket=self.bucket, key="in/" + "k" * 1022),
            dict(method="GET", bucket=self.bucket, key="in/x", content_type="text/plain"),
            dict(method="PUT", bucket="Bad_Name", key="in/x"),
            dict(method="PUT", bucket=self.bucket, key="in/x", colour="red"),
        ]
        for fields in cases:
            with self.subTest(fields=fields):
                self.assertGwError(presign(self.server, self.k, **fields), 400, "BadRequest")
        anyb = create_key(self.server, "anyb", [{"actions": ["presign:get"]}])["key"]
        self.assertGwError(presign(self.server, anyb, method="GET", key="x"), 400, "BadRequest",
                           "bucket is required.")

    def test_missing_bucket_404(self):
        anyb = create_key(self.server, "anyb", [{"actions": ["presign:*"]}])["key"]
        r = presign(self.server, anyb, method="PUT", bucket="no-such-bucket-" + uuid.uuid4().hex[:8], key="x")
        self.assertGwError(r, 404, "NoSuchBucket", "The specified bucket does not exist")
        # a caller without rights on that bucket learns nothing about it
        r = presign(self.server, self.k, method="PUT", bucket="no-such-bucket-zz", key="in/x",
                    content_length=1)
        self.assertGwError(r, 403, "AccessDenied")

    def test_expired_url(self):
        self.s3.put_object(Bucket=self.bucket, Key="in/soon", Body=b"x")
        r = presign(self.server, self.k, method="GET", bucket=self.bucket, key="in/soon", expires_in=1)
        url = r.json()["url"]
        st, body, _ = curl([url])
        self.assertEqual((st, body), (200, b"x"))
        time.sleep(2.1)
        st, body, _ = curl([url])
        self.assertEqual(st, 403)
        self.assertEqual(g.s3_error_code(body), ("AccessDenied", "Request has expired"))

    def test_admin_sigv4_may_presign(self):
        r = admin(self.server, "POST", "/presign", {"method": "GET", "bucket": self.other, "key": "any"})
        self.assertStatus(r, 200)
        self.assertTrue(r.json()["url"].startswith(self.server.endpoint + "/" + self.other + "/any?"))


class ThrottleTest(Base):
    def test_token_bucket_429_with_retry_after(self):
        k = self.key([{"actions": ["presign:get"], "bucket": self.bucket}], rate=0.5, burst=2)
        ok = [presign(self.server, k["key"], method="GET", key="a") for _ in range(2)]
        for r in ok:
            self.assertStatus(r, 200)
        r = presign(self.server, k["key"], method="GET", key="a")
        self.assertGwError(r, 429, "TooManyRequests")
        self.assertEqual(r.header("Retry-After"), "2")
        # another key is not affected
        other = self.key([{"actions": ["presign:get"], "bucket": self.bucket}], rate=0.5, burst=2)
        self.assertStatus(presign(self.server, other["key"], method="GET", key="a"), 200)
        time.sleep(2.1)  # one token back
        self.assertStatus(presign(self.server, k["key"], method="GET", key="a"), 200)
        self.assertGwError(presign(self.server, k["key"], method="GET", key="a"), 429, "TooManyRequests")


class AccessLogTest(Base):
    def test_requests_are_logged(self):
        k = self.key([{"actions": ["presign:get"], "bucket": self.bucket}])
        since = int(time.time() * 1000)
        presign(self.server, k["key"], method="GET", key="logged")
        presign(self.server, k["key"], method="PUT", bucket=self.bucket, key="logged")  # 403
        presign(self.server, "twk_nope", method="GET", key="logged")  # 401
        r = admin(self.server, "GET", "/access-log", query="since=%d&limit=1000" % since)
        self.assertStatus(r, 200)
        doc = r.json()
        self.assertFalse(doc["truncated"])
        ours = [e for e in doc["entries"] if e["route"] == "POST /presign"]
        self.assertEqual([e["status"] for e in ours], [401, 403, 200])  # newest first
        e = ours[2]
        self.assertEqual(e["principal"], k["name"])
        self.assertEqual(e["auth"], "apikey")
        self.assertEqual(e["method"], "POST")
        self.assertEqual(e["path"], "/_/api/v1/presign")
        self.assertEqual(e["source_ip"], "127.0.0.1")
        self.assertGreater(e["bytes_out"], 100)
        self.assertGreater(e["bytes_in"], 10)
        self.assertGreaterEqual(e["latency_ms"], 0)
        self.assertRegex(e["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertRegex(e["request_id"], r"^[0-9a-f-]{36}$")
        self.assertEqual((ours[0]["auth"], ours[0]["principal"]), ("none", ""))

    def test_limit_since_and_validation(self):
        for _ in range(3):
            bearer(self.server, "GET", "/nope", None)
        r = admin(self.server, "GET", "/access-log", query="limit=2")
        self.assertStatus(r, 200)
        self.assertEqual(len(r.json()["entries"]), 2)
        self.assertTrue(r.json()["truncated"])
        future = admin(self.server, "GET", "/access-log", query="since=2099-01-01T00%3A00%3A00Z")
        self.assertEqual(future.json(), {"entries": [], "truncated": False})
        for q in ("limit=0", "limit=1001", "limit=x", "since=yesterday"):
            self.assertGwError(admin(self.server, "GET", "/access-log", query=q), 400, "BadRequest")
        # the admin's own reads are logged too
        r = admin(self.server, "GET", "/access-log", query="limit=5")
        self.assertIn("GET /access-log", [e["route"] for e in r.json()["entries"]])
        self.assertIn("sigv4", [e["auth"] for e in r.json()["entries"]])
