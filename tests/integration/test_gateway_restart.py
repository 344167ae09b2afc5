"""Gateway state across restarts and over time: API keys survive a restart
(revoked ones stay revoked), the access log survives and is pruned after
--access-log-days, and the `tweedle apikey` CLI against a running server.
"""

import json
import os
import subprocess
import tempfile
import time
import uuid

import gateway_harness as g
import harness as h
import s3_harness as s
from gateway_harness import admin, create_key, presign

RETENTION_DAYS = 3.0 / 86400  # three seconds


def setUpModule():
    h.start_module_server(__name__, extra_args=["--access-log-days", repr(RETENTION_DAYS)])


def tearDownModule():
    h.stop_module_server(__name__)


class RestartTest(g.GatewayTestCase):
    def test_keys_survive_restart(self):
        bucket = s.unique_bucket("rs")
        s.s3_client(self.server).create_bucket(Bucket=bucket)
        scopes = [{"actions": ["presign:get"], "bucket": bucket, "prefix": "p/", "max_expires_in": 60}]
        live = create_key(self.server, "live", scopes, rate=100, burst=7)
        dead = create_key(self.server, "dead", scopes)
        later = create_key(self.server, "later", scopes, expires_in=3600)
        self.assertStatus(admin(self.server, "DELETE", "/apikeys/" + dead["id"]), 200)
        before = {k["id"]: k for k in admin(self.server, "GET", "/apikeys").json()["keys"]}
        self.server.restart()  # SIGTERM, same data directory
        after = {k["id"]: k for k in admin(self.server, "GET", "/apikeys").json()["keys"]}
        self.assertEqual(after, before)
        r = presign(self.server, live["key"], method="GET", bucket=bucket, key="p/x")
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["expires_in"], 60)  # the scope's limit caps the default
        self.assertGwError(presign(self.server, live["key"], method="GET", bucket=bucket, key="q/x"),
                           403, "AccessDenied")
        self.assertGwError(presign(self.server, dead["key"], method="GET", bucket=bucket, key="p/x"),
                           401, "Unauthorized", "The API key has been revoked.")
        self.assertStatus(presign(self.server, later["key"], method="GET", bucket=bucket, key="p/x"), 200)
        self.assertEqual(after[later["id"]]["expires_at"], later["expires_at"])
        self.assertEqual((after[live["id"]]["rate"], after[live["id"]]["burst"]), (100, 7))

    def test_keys_survive_kill9(self):
        k = create_key(self.server, "crash-safe", [{"actions": ["jobs:read"]}])
        self.server.restart(kill=True)  # acknowledged means durable
        ids = [x["id"] for x in admin(self.server, "GET", "/apikeys").json()["keys"]]
        self.assertIn(k["id"], ids)


class AccessLogRetentionTest(g.GatewayTestCase):
    def test_pruned_after_retention(self):
        marker = "/_/api/v1/marker-" + uuid.uuid4().hex[:8]
        h.raw_request(self.server, "GET", marker, sign=False)

        def logged():
            r = admin(self.server, "GET", "/access-log", query="limit=1000")
            return [e for e in r.json()["entries"] if e["path"] == marker]

        self.assertEqual(len(logged()), 1)
        self.assertEqual(logged()[0]["status"], 404)
        # pruned within the retention plus the pruning period (1 s here)
        self.assertTrue(g.wait_for(lambda: not logged(), 10, 0.25), "entry still there after 10 s")


class CliTest(g.GatewayTestCase):
    def run_cli(self, *args, env=None, ok=True):
        e = dict(os.environ)
        for v in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "TWEEDLE_ENDPOINT", "TWEEDLE_DATA"):
            e.pop(v, None)
        e.update(env or {})
        p = subprocess.run([h.binary(), "apikey"] + list(args), capture_output=True, env=e, timeout=60)
        if ok and p.returncode != 0:
            raise AssertionError("tweedle apikey %s: %d %s" % (args, p.returncode, p.stderr.decode()))
        return p

    def creds_env(self):
        return {"AWS_ACCESS_KEY_ID": h.ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": h.SECRET_KEY,
                "TWEEDLE_ENDPOINT": self.server.endpoint}

    def test_create_list_revoke(self):
        bucket = s.unique_bucket("cli")
        s.s3_client(self.server).create_bucket(Bucket=bucket)
        p = self.run_cli("create", "--name", "cli-producer", "--scope", "presign:put", "--scope",
                         "presign:get", "--bucket", bucket, "--prefix", "input/", "--max-bytes", "2048",
                         "--max-expires-in", "300", "--rate", "50", "--burst", "5", "--expires-in", "3600",
                         env=self.creds_env())
        k = json.loads(p.stdout)
        self.assertIn(b"not shown again", p.stderr)
        self.assertEqual(k["scopes"], [{"actions": ["presign:put", "presign:get"], "bucket": bucket,
                                        "prefix": "input/", "max_bytes": 2048, "max_expires_in": 300}])
        self.assertEqual((k["rate"], k["burst"]), (50, 5))
        self.assertIsNotNone(k["expires_at"])
        self.assertStatus(presign(self.server, k["key"], method="PUT", key="input/a", content_length=10), 200)
        lst = json.loads(self.run_cli("list", env=self.creds_env()).stdout)
        self.assertIn(k["id"], [x["id"] for x in lst["keys"]])
        self.assertNotIn("key", lst["keys"][0])
        shown = json.loads(self.run_cli("show", k["id"], env=self.creds_env()).stdout)
        self.assertEqual(shown["status"], "active")
        rv = json.loads(self.run_cli("revoke", k["id"], "--endpoint", self.server.endpoint,
                                     env={"AWS_ACCESS_KEY_ID": h.ACCESS_KEY,
                                          "AWS_SECRET_ACCESS_KEY": h.SECRET_KEY}).stdout)
        self.assertEqual(rv["status"], "revoked")
        self.assertGwError(presign(self.server, k["key"], method="PUT", key="input/a", content_length=10),
                           401, "Unauthorized", "The API key has been revoked.")

    def test_credentials_from_data_dir(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "credentials.json"), "w") as f:
                json.dump({"access_key_id": h.ACCESS_KEY, "secret_access_key": h.SECRET_KEY}, f)
            p = self.run_cli("create", "--name", "from-file", "--scopes-json",
                             '[{"actions":["jobs:submit","jobs:read"]}]', "--data", d,
                             "--endpoint", self.server.endpoint)
            self.assertEqual(json.loads(p.stdout)["scopes"], [{"actions": ["jobs:submit", "jobs:read"]}])
            with open(os.path.join(d, "credentials.json"), "w") as f:
                json.dump({"access_key_id": h.ACCESS_KEY, "secret_access_key": "wrong"}, f)
            p = self.run_cli("list", "--data", d, "--endpoint", self.server.endpoint, ok=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn(b"HTTP 403 SignatureDoesNotMatch", p.stderr)

    def test_errors(self):
        env = self.creds_env()
        p = self.run_cli("create", "--name", "x", env=env, ok=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"--scope", p.stderr)
        p = self.run_cli("create", "--scope", "presign:get", env=env, ok=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"--name is required", p.stderr)
        p = self.run_cli("create", "--name", "x", "--scope", "presign:fly", env=env, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"HTTP 400 BadRequest", p.stderr)
        p = self.run_cli("revoke", "ak_0000000000000000", env=env, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"HTTP 404 NotFound", p.stderr)
        p = self.run_cli("frobnicate", env=env, ok=False)
        self.assertEqual(p.returncode, 2)
        with tempfile.TemporaryDirectory() as d:
            p = self.run_cli("list", "--data", d, env={"TWEEDLE_ENDPOINT": self.server.endpoint}, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"no credentials", p.stderr)
        p = self.run_cli("list", env=dict(env, TWEEDLE_ENDPOINT="http://127.0.0.1:%d" % h.free_port()),
                         ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"cannot reach", p.stderr)


class ConfigTest(g.GatewayTestCase):
    def test_config_file_and_environment(self):
        """throttle_* from the config file (the key has no rate of its own),
        overridden by TWEEDLE_THROTTLE_BURST; flags override both."""
        with tempfile.TemporaryDirectory() as d:
            cfg = os.path.join(d, "tweedle.json")
            with open(cfg, "w") as f:
                json.dump({"throttle_rate": 0.01, "throttle_burst": 5, "access_log_days": 1,
                           "authorizer_timeout_ms": 500}, f)
            for env, args, allowed in (({"TWEEDLE_THROTTLE_BURST": "2"}, [], 2),
                                       ({"TWEEDLE_THROTTLE_BURST": "2"}, ["--throttle-burst", "3"], 3),
                                       ({}, [], 5)):
                srv = h.Server(env=env, extra_args=["--config", cfg] + args)
                srv.start()
                try:
                    k = create_key(srv, "cfg", [{"actions": ["presign:get"]}])["key"]
                    codes = [presign(srv, k, method="GET", bucket="no-such-bkt", key="x").status
                             for _ in range(allowed + 1)]
                    self.assertEqual(codes, [404] * allowed + [429], (env, args))
                finally:
                    srv.stop()
                    srv.cleanup()

    def test_bad_values_refused(self):
        for args in (["--throttle-rate", "-1"], ["--access-log-days", "0"],
                     ["--authorizer-timeout-ms", "0"], ["--throttle-rate", "5", "--throttle-burst", "0"]):
            with tempfile.TemporaryDirectory() as d:
                p = subprocess.run([h.binary(), "serve", "--listen", "127.0.0.1:%d" % h.free_port(),
                                    "--data", d] + args, capture_output=True, timeout=20)
            self.assertEqual(p.returncode, 2, args)
