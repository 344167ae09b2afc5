"""The external authorizer (--authorizer exec:CMD and http://URL): allow,
deny, timeout, crash, garbage, caching for the answer's ttl, and that a slow
authorizer never holds an HTTP thread (the request is parked).

The exec authorizer is a small Python script; the token says what it does:
  allow.<ttl>.<anything>   allow, presign:get on the test bucket, ttl seconds
  noscopes.<anything>      allow without scopes (nothing is permitted)
  deny.<ttl>.<anything>    deny
  slow.<anything>          sleeps 30 s (the server's timeout is TIMEOUT_MS)
  crash / garbage / kill / badscope   exit 3 / print junk / SIGKILL itself / invalid scopes
Every call is appended to a log file, so caching is observable.
"""

import json
import os
import subprocess
import tempfile
import textwrap
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gateway_harness as g
import harness as h
import s3_harness as s
from gateway_harness import admin, bearer, create_key, presign, curl

TIMEOUT_MS = 2500  # well above a python3 start on a loaded 2-core box

SCRIPT = textwrap.dedent("""\
    import json, os, sys, time
    req = json.load(sys.stdin)
    with open(os.environ["AUTHZ_LOG"], "a") as f:
        f.write(json.dumps(dict(req, env_secret=os.environ.get("TWEEDLE_SECRET_ACCESS_KEY"))) + "\\n")
    tok = req["token"]
    kind = tok.split(".")[0]
    ttl = int(tok.split(".")[1]) if kind in ("allow", "deny") else 0
    scopes = [{"actions": ["presign:get"], "bucket": os.environ["AUTHZ_BUCKET"]}]
    if kind == "allow":
        print(json.dumps({"principalId": "user-" + tok.split(".")[-1], "allow": True,
                          "scopes": scopes, "ttl": ttl}))
    elif kind == "noscopes":
        print(json.dumps({"principalId": "nobody", "allow": True}))
    elif kind == "deny":
        print(json.dumps({"allow": False, "ttl": ttl}))
    elif kind == "slow":
        time.sleep(30)
    elif kind == "crash":
        sys.exit(3)
    elif kind == "garbage":
        print("this is not json")
    elif kind == "kill":
        os.kill(os.getpid(), 9)
    elif kind == "badscope":
        print(json.dumps({"principalId": "x", "allow": True, "scopes": [{"actions": ["fly"]}]}))
    """)

TMP = None
BUCKET = None


def setUpModule():
    global TMP, BUCKET
    TMP = tempfile.mkdtemp(prefix="tweedle-authz-")
    with open(os.path.join(TMP, "authz.py"), "w") as f:
        f.write(SCRIPT)
    BUCKET = s.unique_bucket("az")
    env = {"AUTHZ_LOG": os.path.join(TMP, "calls.log"), "AUTHZ_BUCKET": BUCKET}
    # one HTTP thread: a blocked thread would stall every other request
    h.start_module_server(__name__, env=env, extra_args=[
        "--authorizer", "exec:python3 %s" % os.path.join(TMP, "authz.py"),
        "--authorizer-timeout-ms", str(TIMEOUT_MS), "--threads", "1"])
    s.s3_client(SERVER).create_bucket(Bucket=BUCKET)  # noqa: F821 - set by start_module_server


def tearDownModule():
    h.stop_module_server(__name__)
    import shutil
    shutil.rmtree(TMP, ignore_errors=True)


def calls():
    try:
        with open(os.path.join(TMP, "calls.log")) as f:
            # a line still being written has no newline yet
            return [json.loads(line) for line in f if line.endswith("\n")]
    except FileNotFoundError:
        return []


def calls_for(token):
    return [c for c in calls() if c["token"] == token]


def tok(kind, ttl=None):
    return "%s.%s%s" % (kind, "" if ttl is None else "%d." % ttl, uuid.uuid4().hex[:10])


class ExecAuthorizerTest(g.GatewayTestCase):
    def get(self, token, key="k"):
        return presign(self.server, token, method="GET", bucket=BUCKET, key=key)

    def test_allow_and_request_shape(self):
        t = tok("allow", 0)
        r = self.get(t)
        self.assertStatus(r, 200)
        self.assertIn("/%s/k?" % BUCKET, r.json()["url"])
        c = calls_for(t)
        self.assertEqual(len(c), 1)
        self.assertEqual(c[0], {"token": t, "method": "POST", "path": "/_/api/v1/presign",
                                "sourceIp": "127.0.0.1", "env_secret": None})  # our keys stay ours
        # the answer's scopes apply
        r = presign(self.server, t, method="PUT", bucket=BUCKET, key="k")
        self.assertGwError(r, 403, "AccessDenied", "The caller is not allowed to presign:put.")
        # the access log names the principal
        log = admin(self.server, "GET", "/access-log", query="limit=20").json()["entries"]
        self.assertIn(("authorizer", "user-" + t.split(".")[-1]), [(e["auth"], e["principal"]) for e in log])

    def test_deny(self):
        r = self.get(tok("deny", 0))
        self.assertGwError(r, 403, "AccessDenied", "The authorizer denied the request.")

    def test_allow_without_scopes_permits_nothing(self):
        r = self.get(tok("noscopes"))
        self.assertGwError(r, 403, "AccessDenied", "The caller is not allowed to presign:get.")

    def test_answers_cached_for_ttl(self):
        t = tok("allow", 2)
        for _ in range(3):
            self.assertStatus(self.get(t), 200)
        self.assertEqual(len(calls_for(t)), 1)
        time.sleep(2.2)
        self.assertStatus(self.get(t), 200)
        self.assertEqual(len(calls_for(t)), 2)
        # ttl 0: asked every time
        t0 = tok("allow", 0)
        self.get(t0)
        self.get(t0)
        self.assertEqual(len(calls_for(t0)), 2)
        # denials are cached too
        d = tok("deny", 60)
        self.get(d)
        self.assertGwError(self.get(d), 403, "AccessDenied")
        self.assertEqual(len(calls_for(d)), 1)

    def test_concurrent_requests_share_one_question(self):
        t = tok("allow", 30)
        res, errs, stuck = h.run_threads([lambda: self.get(t) for _ in range(8)], timeout=20)
        self.assertEqual((errs, stuck), ([None] * 8, 0))
        self.assertEqual([r.status for r in res], [200] * 8)
        self.assertEqual(len(calls_for(t)), 1)

    def test_timeout_denies_and_never_blocks_the_server(self):
        apikey = create_key(self.server, "fast", [{"actions": ["presign:get"], "bucket": BUCKET}])["key"]
        t = tok("slow")
        out = {}

        def slow():
            t0 = time.monotonic()
            out["r"] = self.get(t)
            out["secs"] = time.monotonic() - t0

        th = threading.Thread(target=slow, daemon=True)
        th.start()
        g.wait_for(lambda: calls_for(t), 5)
        # the only HTTP thread is free: an API key request answers at once
        t0 = time.monotonic()
        self.assertStatus(self.get(apikey), 200)
        self.assertLess(time.monotonic() - t0, 0.5)
        th.join(10)
        self.assertFalse(th.is_alive())
        self.assertGwError(out["r"], 403, "AccessDenied",
                           "The authorizer did not answer within %d ms." % TIMEOUT_MS)
        self.assertGreaterEqual(out["secs"], TIMEOUT_MS / 1000.0 - 0.05)
        self.assertLess(out["secs"], TIMEOUT_MS / 1000.0 + 2.0)
        # failures are not cached: the next request asks again
        self.get(t)
        self.assertEqual(len(calls_for(t)), 2)

    def test_failures_deny(self):
        for kind, msg in (("crash", "The authorizer exited with status 3."),
                          ("kill", "The authorizer was killed by signal 9."),
                          ("garbage", "The authorizer's answer is not a JSON object."),
                          ("badscope", "The authorizer's scopes are invalid")):
            with self.subTest(kind=kind):
                r = self.get(tok(kind))
                self.assertGwError(r, 403, "AccessDenied", contains=msg)

    def test_api_keys_do_not_go_to_the_authorizer(self):
        k = create_key(self.server, "direct", [{"actions": ["presign:get"], "bucket": BUCKET}])
        n = len(calls())
        self.assertStatus(self.get(k["key"]), 200)
        admin(self.server, "DELETE", "/apikeys/" + k["id"])
        self.assertGwError(self.get(k["key"]), 401, "Unauthorized", "The API key has been revoked.")
        self.assertEqual(len(calls()), n)
        # a token that is not a key does
        t = "twk_" + "Q" * 43
        r = self.get(t)  # the script has nothing to say about it
        self.assertGwError(r, 403, "AccessDenied", "The authorizer's answer is not a JSON object.")
        self.assertEqual(len(calls_for(t)), 1)

    def test_missing_header_still_401(self):
        r = presign(self.server, None, method="GET", bucket=BUCKET, key="k")
        self.assertGwError(r, 401, "Unauthorized")


class _Handler(BaseHTTPRequestHandler):
    seen = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Handler.seen.append((self.path, self.headers.get("Content-Type"), body))
        kind = body["token"].split(".")[0]
        if kind == "slow":
            time.sleep(5)
        if kind == "500":
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        doc = {"principalId": "http-user", "allow": kind == "allow", "ttl": 0,
               "scopes": [{"actions": ["presign:get"], "bucket": BUCKET}]}
        data = json.dumps(doc).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server gave up on a slow answer: expected

    def log_message(self, *a):
        pass


class HttpAuthorizerTest(g.GatewayTestCase):
    """Its own server, asking an HTTP authorizer, with a low default throttle."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        cls.httpd.daemon_threads = True
        threading.Thread(target=cls.httpd.serve_forever, daemon=True).start()
        url = "http://127.0.0.1:%d/authorize" % cls.httpd.server_address[1]
        cls.srv = h.Server(extra_args=["--authorizer", url, "--authorizer-timeout-ms", str(TIMEOUT_MS),
                                       "--throttle-rate", "1", "--throttle-burst", "3"])
        cls.srv.start()
        s.s3_client(cls.srv).create_bucket(Bucket=BUCKET)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()
        cls.httpd.shutdown()
        cls.httpd.server_close()
        super().tearDownClass()

    def get(self, token):
        return presign(self.srv, token, method="GET", bucket=BUCKET, key="k")

    def test_allow_deny_timeout_error(self):
        _Handler.seen.clear()
        self.assertStatus(self.get("allow.1"), 200)
        path, ctype, body = _Handler.seen[0]
        self.assertEqual((path, ctype), ("/authorize", "application/json"))
        self.assertEqual(body, {"token": "allow.1", "method": "POST", "path": "/_/api/v1/presign",
                                "sourceIp": "127.0.0.1"})
        self.assertGwError(self.get("deny.1"), 403, "AccessDenied", "The authorizer denied the request.")
        t0 = time.monotonic()
        self.assertGwError(self.get("slow.1"), 403, "AccessDenied",
                           "The authorizer did not answer within %d ms." % TIMEOUT_MS)
        self.assertLess(time.monotonic() - t0, TIMEOUT_MS / 1000.0 + 2.0)
        self.assertGwError(self.get("500.1"), 403, "AccessDenied", "The authorizer answered HTTP 500.")

    def test_principal_throttled(self):
        time.sleep(3.1)  # other tests' requests spent tokens (rate 1, burst 3)
        codes = [self.get("allow.%d" % i).status for i in range(4)]  # one principal, many tokens
        self.assertEqual(codes, [200, 200, 200, 429])
        r = self.get("allow.x")
        self.assertGwError(r, 429, "TooManyRequests")
        self.assertEqual(r.header("Retry-After"), "1")

    def test_authorizer_down(self):
        srv = h.Server(extra_args=["--authorizer", "http://127.0.0.1:%d/x" % h.free_port(),
                                   "--authorizer-timeout-ms", "2000"])
        srv.start()
        try:
            t0 = time.monotonic()
            r = presign(srv, "allow.1", method="GET", bucket=BUCKET, key="k")
            self.assertGwError(r, 403, "AccessDenied", contains="Cannot reach the authorizer")
            self.assertLess(time.monotonic() - t0, 1.5)
        finally:
            srv.stop()
            srv.cleanup()

    def test_bad_authorizer_flags(self):
        for spec in ("https://auth.example/x", "ftp://x", "exec:", "http://"):
            with tempfile.TemporaryDirectory(prefix="tweedle-bad-") as d:
                p = subprocess.run([h.binary(), "serve", "--listen", "127.0.0.1:%d" % h.free_port(),
                                    "--data", d, "--authorizer", spec],
                                   capture_output=True, timeout=20)
            self.assertEqual(p.returncode, 1, spec)
            self.assertIn(b"--authorizer", p.stderr, spec)


class ShutdownTest(g.GatewayTestCase):
    def test_waiting_request_answered_on_sigterm(self):
        """A request parked for a slow authorizer is answered (503) at shutdown,
        and the server exits without waiting for the authorizer."""
        srv = h.Server(env={"AUTHZ_LOG": os.path.join(TMP, "calls.log"), "AUTHZ_BUCKET": BUCKET},
                       extra_args=["--authorizer", "exec:python3 %s" % os.path.join(TMP, "authz.py"),
                                   "--authorizer-timeout-ms", "20000"])
        srv.start()
        try:
            t = tok("slow")
            out = {}
            th = threading.Thread(target=lambda: out.update(r=presign(srv, t, method="GET", bucket=BUCKET,
                                                                      key="k")), daemon=True)
            th.start()
            self.assertTrue(g.wait_for(lambda: calls_for(t), 5))
            rc, secs, killed = srv.stop(timeout=10)
            th.join(5)
            self.assertFalse(killed)
            self.assertEqual(rc, 0)
            self.assertLess(secs, 3)
            self.assertGwError(out["r"], 503, "ServiceUnavailable", "The server is shutting down.")
        finally:
            srv.cleanup()
