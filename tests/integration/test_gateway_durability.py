"""Gateway answers that report state wait until that state is durable.

With slow commits (the store's test-only TWEEDLE_TEST_FAULTS hook sleeps
before each commit), the same change is sent twice at once: the first request
changes memory and waits for its commit; the second finds nothing to do. The
second must not be answered before the first's change is on disk, so the
server is killed (SIGKILL) the moment the first answer of the two arrives,
and after a restart the change must be there.
"""

import threading
import unittest

import gateway_harness as g
import harness as h
from gateway_harness import admin, create_key

COMMIT_DELAY_MS = 1500
ALL = ["jobs:submit", "jobs:read", "jobs:update"]


class SlowCommitGatewayTest(h.FaultServerTestCase):

    def slow_commits(self, on):
        self.fault("commit-delay-ms", COMMIT_DELAY_MS if on else None)

    def twice_then_kill(self, send):
        """Runs send() twice at once; SIGKILLs the server when the first
        answer arrives; returns the answers that came (status codes)."""
        first = threading.Event()
        answers = []
        lock = threading.Lock()

        def one():
            try:
                r = send()
                with lock:
                    answers.append(r.status)
            except Exception as e:  # noqa: BLE001 - a dropped connection after the kill
                with lock:
                    answers.append(repr(e))
            first.set()

        threads = [threading.Thread(target=one, daemon=True) for _ in range(2)]
        for t in threads:
            t.start()
        self.assertTrue(first.wait(30), "no answer within 30 s")
        self.server.kill9()
        for t in threads:
            t.join(10)
        self.slow_commits(False)
        self.server.start()
        return answers

    def test_repeated_revoke_is_durable_when_answered(self):
        k = create_key(self.server, "victim", [{"actions": ["jobs:read"]}])
        self.slow_commits(True)
        answers = self.twice_then_kill(lambda: admin(self.server, "DELETE", "/apikeys/" + k["id"], timeout=30))
        self.assertIn(200, answers, answers)
        keys = {x["id"]: x for x in admin(self.server, "GET", "/apikeys").json()["keys"]}
        self.assertIn(k["id"], keys)
        self.assertTrue(keys[k["id"]].get("revoked_at"),
                        "a revoke was acknowledged (%r) but the key is live after kill -9: %r"
                        % (answers, keys[k["id"]]))

    def test_job_conflict_reports_only_durable_state(self):
        key = create_key(self.server, "jobs", [{"actions": ALL}])["key"]
        r = g.bearer(self.server, "POST", "/jobs", key, {"type": "t", "payload": {}})
        self.assertEqual(r.status, 202, r)
        job = r.json()["id"]
        self.assertEqual(g.bearer(self.server, "POST", "/jobs/%s/start" % job, key, {}).status, 200)
        self.slow_commits(True)
        answers = self.twice_then_kill(
            lambda: g.bearer(self.server, "POST", "/jobs/%s/fail" % job, key, {"error": "boom"}, timeout=30))
        self.assertTrue(set(answers) & {200, 409}, answers)
        r = g.bearer(self.server, "GET", "/jobs/" + job, key)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["status"], "failed",
                         "a fail was acknowledged or reported (%r) but the job is %r after kill -9"
                         % (answers, r.json()["status"]))


if __name__ == "__main__":
    unittest.main()
