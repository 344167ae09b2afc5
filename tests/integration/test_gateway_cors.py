"""CORS on the gateway (/_/api/v1/): off unless --gateway-cors-origins names the
origins whose browser pages may call it, as API Gateway's CORS setting."""

import unittest
import uuid

import gateway_harness as g
import harness as h
import s3_harness as s
from gateway_harness import bearer, create_key

ORIGINS = "https://app.example.com,https://*.tweedle.test"


def setUpModule():
    h.start_module_server(__name__, extra_args=["--gateway-cors-origins", ORIGINS])


def tearDownModule():
    h.stop_module_server(__name__)


class GatewayCorsTest(g.GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = s.unique_bucket("gwc")
        s.s3_client(cls.server).create_bucket(Bucket=cls.bucket)
        cls.token = create_key(cls.server, name="c-" + uuid.uuid4().hex[:6],
                               scopes=[{"actions": ["presign:put"], "bucket": cls.bucket}])["key"]

    def preflight(self, origin, method="POST", path="/presign"):
        hdrs = {"Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "authorization,content-type"}
        if origin:
            hdrs["Origin"] = origin
        return bearer(self.server, "OPTIONS", path, None, headers=hdrs)

    def test_preflight_allowed_origins(self):
        for origin in ("https://app.example.com", "https://shop.tweedle.test"):
            r = self.preflight(origin)
            self.assertEqual(r.status, 204, r.body)
            self.assertEqual(r.header("Access-Control-Allow-Origin"), origin)
            self.assertEqual(r.header("Access-Control-Allow-Methods"), "POST, OPTIONS")
            self.assertIn("Authorization", r.header("Access-Control-Allow-Headers"))
            self.assertEqual(r.header("Vary"), "Origin")
        r = self.preflight("https://app.example.com", method="GET", path="/jobs")
        self.assertEqual(r.status, 204)

    def test_preflight_other_origin_refused(self):
        for origin in ("https://evil.example.com", "http://app.example.com", "https://tweedle.test.evil"):
            r = self.preflight(origin)
            self.assertGwError(r, 403, "AccessDenied")
            self.assertIsNone(r.header("Access-Control-Allow-Origin"))

    def test_options_without_preflight_headers_is_405(self):
        r = bearer(self.server, "OPTIONS", "/presign", None)
        self.assertGwError(r, 405, "MethodNotAllowed")

    def test_actual_requests_carry_the_headers(self):
        body = {"method": "PUT", "bucket": self.bucket, "content_type": "text/plain", "content_length": 3}
        r = bearer(self.server, "POST", "/presign", self.token, body=body,
                   headers={"Origin": "https://app.example.com"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "https://app.example.com")
        self.assertIn("Retry-After", r.header("Access-Control-Expose-Headers"))
        # errors too, so a page can read them
        r = bearer(self.server, "POST", "/presign", "twk_unknown", body=body,
                   headers={"Origin": "https://app.example.com"})
        self.assertEqual(r.status, 401)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "https://app.example.com")
        r = bearer(self.server, "POST", "/presign", self.token, body=body,
                   headers={"Origin": "https://evil.example.com"})
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))

    def test_dot_segments_refused(self):
        # curl and browsers rewrite /./ and /../ before sending: such a URL could never work
        tok = create_key(self.server, name="d-" + uuid.uuid4().hex[:6],
                         scopes=[{"actions": ["presign:*"], "bucket": self.bucket}])["key"]
        for key in ("in/../x", "./a", "a/.", "a/./b", ".."):
            r = bearer(self.server, "POST", "/presign", tok, body={"method": "PUT", "bucket": self.bucket, "key": key})
            self.assertGwError(r, 400, "BadRequest")
        for key in ("a..b", ".hidden", "a/.../b", "x./y"):
            r = bearer(self.server, "POST", "/presign", tok, body={"method": "PUT", "bucket": self.bucket, "key": key})
            self.assertEqual(r.status, 200, (key, r.body))


class GatewayNoCorsTest(unittest.TestCase):
    """Without the setting, no origin is allowed (the default)."""

    def test_default_off(self):
        srv = h.Server()
        srv.start()
        try:
            r = bearer(srv, "OPTIONS", "/presign", None,
                       headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"})
            self.assertEqual(r.status, 403)
            self.assertIsNone(r.header("Access-Control-Allow-Origin"))
        finally:
            srv.stop()
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()
