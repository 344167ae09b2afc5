"""Secrets at rest: the files of the data directory that hold secrets
(credentials.json with the generated key pair, sns-signing-key.pem, the store
tweedle.db with the receipt-handle secret) are created 0600 in a 0700
directory whatever the umask, and the server refuses to start, naming the file
and the fix (chmod 600 FILE), when one is accessible by group or others, as
ssh does with a private key."""

import os
import shutil
import stat
import subprocess
import tempfile
import time
import unittest
import urllib.request

import harness as h

SECRETS = ["credentials.json", "sns-signing-key.pem", "tweedle.db"]
REFUSED = ["credentials.json", "sns-signing-key.pem"]  # the store's own files are tightened instead


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class Secrets(unittest.TestCase):
    def setUp(self):
        self.parent = tempfile.mkdtemp(prefix="tweedle-it-secrets-")
        self.data = os.path.join(self.parent, "data")  # made by the server
        self.proc = None

    def tearDown(self):
        self.stop()
        shutil.rmtree(self.parent, ignore_errors=True)

    def start(self, umask=0):
        """Starts the server without the harness's key (so it writes
        credentials.json) under ``umask``: (healthy, output)."""
        env = dict(os.environ)
        env.pop("TWEEDLE_ACCESS_KEY_ID", None)
        env.pop("TWEEDLE_SECRET_ACCESS_KEY", None)
        port = h.free_port()
        log = os.path.join(self.parent, "log")
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [h.binary(), "serve", "--listen", "127.0.0.1:%d" % port, "--data", self.data,
                 "--region", h.REGION], stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=env, preexec_fn=lambda: os.umask(umask))
        deadline = time.monotonic() + 20
        healthy = False
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/_/health" % port, timeout=1) as r:
                    if r.status == 200:
                        healthy = True
                        break
            except OSError:
                time.sleep(0.05)
        with open(log, "rb") as f:
            return healthy, f.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                self.proc.wait(15)
            self.proc = None

    def test_modes_refusal_and_fix(self):
        # umask 0: without an explicit mode the files would be 0666, the directory 0777
        ok, out = self.start(umask=0)
        self.assertTrue(ok, out)
        self.stop()
        self.assertEqual(mode(self.data), 0o700)
        for name in SECRETS:
            self.assertEqual(mode(os.path.join(self.data, name)), 0o600, name)
        for name in ("tweedle.db-wal", "tweedle.db-shm"):
            p = os.path.join(self.data, name)
            if os.path.exists(p):
                self.assertEqual(mode(p) & 0o077, 0, name)
        # the store made by an older tweedle under the umask (0644): tightened, with a warning
        db = os.path.join(self.data, "tweedle.db")
        os.chmod(db, 0o644)
        ok, out = self.start(umask=0o022)
        self.assertTrue(ok, out)
        self.assertIn("%s was accessible by group or others (mode 0644): now 0600" % db, out)
        self.stop()
        self.assertEqual(mode(db), 0o600)
        # each key file made readable by others: refused, the file and the fix named
        for name in REFUSED:
            p = os.path.join(self.data, name)
            os.chmod(p, 0o644)
            ok, out = self.start(umask=0o022)
            self.assertFalse(ok, name)
            self.assertNotEqual(self.proc.returncode, 0)
            self.assertIn(p, out)
            self.assertIn("chmod 600 %s" % p, out)
            self.proc = None
            os.chmod(p, 0o600)
        # group-writable only is refused too
        p = os.path.join(self.data, "credentials.json")
        os.chmod(p, 0o620)
        ok, out = self.start(umask=0o022)
        self.assertFalse(ok)
        self.assertIn("chmod 600 %s" % p, out)
        self.proc = None
        os.chmod(p, 0o600)
        # a data directory others may write to: refused, with its fix
        os.chmod(self.data, 0o777)
        ok, out = self.start(umask=0o022)
        self.assertFalse(ok)
        self.assertIn("chmod 700 %s" % self.data, out)
        self.proc = None
        os.chmod(self.data, 0o700)
        # fixed: starts, and keeps the same generated key pair
        with open(os.path.join(self.data, "credentials.json")) as f:
            before = f.read()
        ok, out = self.start(umask=0o022)
        self.assertTrue(ok, out)
        with open(os.path.join(self.data, "credentials.json")) as f:
            self.assertEqual(f.read(), before)


if __name__ == "__main__":
    unittest.main()
