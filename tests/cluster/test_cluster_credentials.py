"""Access keys in cluster mode: the users are kept in PostgreSQL (tw_users).

What is asserted (issue 14; docs/cluster.md "Access keys on PostgreSQL"):
* The first node started without keys on an empty cluster generates a pair,
  prints it and writes DATA/credentials.json (0600); a node started later
  without keys accepts that pair (SQS and S3), prints nothing and writes no
  file; both nodes treat its user as the first user (bucket owner).
* Keys given to a node through the environment, and the config file's users
  with their identity policies, are accepted by a node that was already
  running (it reads the table before refusing a key it does not know) and by
  the others; a policy stored with its user is enforced on every node.
* A restarted generating node keeps the cluster's pair (its credentials.json
  is the same pair); two nodes started at once without keys on an empty
  cluster store one pair between them.
* An unknown key is refused on every node.
"""

import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pg  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

PG = None
NO_KEYS = {"TWEEDLE_ACCESS_KEY_ID": "", "TWEEDLE_SECRET_ACCESS_KEY": ""}
_DB = [0]


def setUpModule():
    global PG
    why = pg.pg_missing()
    if why:
        raise unittest.SkipTest(why)
    PG = pg.PgServer().start()


def tearDownModule():
    if PG:
        PG.stop()


def psql(db, sql):
    out = subprocess.run([os.path.join(pg.PG_BIN, "psql"), "-h", "127.0.0.1", "-p", str(PG.port),
                          "-U", PG.user, "-d", db, "-XAtq", "-c", sql],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if out.returncode:
        raise RuntimeError(out.stderr.decode(errors="replace"))
    return out.stdout.decode().strip()


def fresh_db():
    _DB[0] += 1
    name = "creds_%d_%d" % (os.getpid(), _DB[0])
    psql(PG.dbname, "CREATE DATABASE %s" % name)
    return name


class Nodes:
    """Nodes of one cluster (one database, one blob directory), started one by one."""

    def __init__(self, db):
        self.db = db
        self.url = "postgres://%s@127.0.0.1:%d/%s" % (PG.user, PG.port, db)
        self.blobs = tempfile.mkdtemp(prefix="tweedle-blobs-")
        self.nodes = []

    def node(self, env=None, extra=(), start=True):
        s = pg.harness.Server(extra_args=["--store", self.url, "--blobs", self.blobs] + list(extra),
                              env=env)
        self.nodes.append(s)
        if start:
            s.start(timeout=60)
        return s

    def stop(self):
        for s in self.nodes:
            s.cleanup()
        import shutil
        shutil.rmtree(self.blobs, ignore_errors=True)


def log_of(node):
    with open(node.log_path, errors="replace") as f:
        return f.read()


def generated_pair(node):
    """The pair the node printed as generated, or None."""
    text = log_of(node)
    ak = re.search(r"export AWS_ACCESS_KEY_ID=(\S+)", text)
    sk = re.search(r"export AWS_SECRET_ACCESS_KEY=(\S+)", text)
    return (ak.group(1), sk.group(1)) if ak and sk else None


def client(service, node, ak, sk):
    return boto3.client(service, endpoint_url=node.endpoint, region_name=pg.harness.REGION,
                        aws_access_key_id=ak, aws_secret_access_key=sk,
                        config=Config(s3={"addressing_style": "path"},
                                      retries={"total_max_attempts": 1, "mode": "standard"},
                                      connect_timeout=5, read_timeout=30))


def accepted(node, ak, sk):
    """The pair signs S3 and SQS requests on the node."""
    client("s3", node, ak, sk).list_buckets()
    client("sqs", node, ak, sk).list_queues()
    return True


def refused(node, ak, sk):
    try:
        client("s3", node, ak, sk).list_buckets()
    except ClientError as e:
        return e.response["Error"]["Code"] in ("InvalidAccessKeyId", "SignatureDoesNotMatch")
    return False


class ClusterCredentials(unittest.TestCase):
    def setUp(self):
        self.c = Nodes(fresh_db())

    def tearDown(self):
        self.c.stop()

    def test_b_without_keys_accepts_the_pair_a_generated(self):
        a = self.c.node(env=NO_KEYS)
        pair = generated_pair(a)
        self.assertIsNotNone(pair, "A printed no generated pair:\n" + log_of(a)[-2000:])
        path = os.path.join(a.data_dir, "credentials.json")
        with open(path) as f:
            stored = json.load(f)
        self.assertEqual((stored["access_key_id"], stored["secret_access_key"]), pair)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(psql(self.c.db, "SELECT access_key, name FROM tw_users"), "%s|admin" % pair[0])
        b = self.c.node(env=NO_KEYS)
        self.assertIsNone(generated_pair(b), "B generated a pair of its own")
        self.assertFalse(os.path.exists(os.path.join(b.data_dir, "credentials.json")))
        self.assertTrue(accepted(b, *pair))
        self.assertTrue(accepted(a, *pair))
        # the same first user on both: a bucket made on B is owned by A's admin
        client("s3", b, *pair).create_bucket(Bucket="owned-by-first")
        acl = client("s3", a, *pair).get_bucket_acl(Bucket="owned-by-first")
        self.assertEqual(acl["Owner"]["DisplayName"], "admin")
        self.assertTrue(refused(b, "TWUNKNOWNKEY00000000", "x" * 40))
        # A restarted: the same pair (its credentials.json), nothing new generated
        a.restart()
        self.assertTrue(accepted(a, *pair))
        self.assertEqual(psql(self.c.db, "SELECT count(*) FROM tw_users"), "1")

    def test_env_keys_of_a_node_are_accepted_on_a_running_one(self):
        a = self.c.node(env=NO_KEYS)
        first = generated_pair(a)
        b = self.c.node(env=NO_KEYS)
        ak, sk = "AKIDCLUSTERENV", "env/secret+key"
        self.assertTrue(refused(b, ak, sk))
        self.c.node(env={"TWEEDLE_ACCESS_KEY_ID": ak, "TWEEDLE_SECRET_ACCESS_KEY": sk})
        # no wait: B reads the table when it meets a key it does not know
        self.assertTrue(accepted(b, ak, sk))
        self.assertTrue(accepted(a, ak, sk))
        self.assertTrue(accepted(b, *first))
        # the generated pair stays the first user; the env pair is another one
        self.assertEqual(psql(self.c.db, "SELECT access_key FROM tw_users ORDER BY ord"),
                         "%s\n%s" % (first[0], ak))
        # the listener: a node that never met the key has it within a second too
        d = self.c.node(env=NO_KEYS)
        self.assertTrue(accepted(d, ak, sk))

    def test_config_users_and_their_policies_on_every_node(self):
        cfg_dir = tempfile.mkdtemp(prefix="tweedle-creds-cfg-")
        cfg = os.path.join(cfg_dir, "config.json")
        with open(cfg, "w") as f:
            json.dump({"users": [{"name": "reader", "access_key_id": "AKIDREADER",
                                  "secret_access_key": "reader-secret",
                                  "policies": [{"Version": "2012-10-17", "Statement": [
                                      {"Effect": "Allow", "Action": "s3:ListAllMyBuckets",
                                       "Resource": "*"}]}]}]}, f)
        a = self.c.node()  # the harness's env pair: the first user
        b = self.c.node(env=NO_KEYS)
        self.assertIsNone(generated_pair(b))
        self.assertTrue(accepted(b, pg.harness.ACCESS_KEY, pg.harness.SECRET_KEY))
        self.c.node(env=NO_KEYS, extra=["--config", cfg])
        for n in (a, b):
            s3 = client("s3", n, "AKIDREADER", "reader-secret")
            s3.list_buckets()  # allowed by its policy
            with self.assertRaises(ClientError) as e:  # anything else is not
                s3.create_bucket(Bucket="not-for-readers")
            self.assertEqual(e.exception.response["Error"]["Code"], "AccessDenied")
        self.assertEqual(psql(self.c.db, "SELECT count(*) FROM tw_users"), "2")

    def test_two_nodes_starting_at_once_store_one_pair(self):
        a = self.c.node(env=NO_KEYS, start=False)
        b = self.c.node(env=NO_KEYS, start=False)
        errs = []

        def start(n):
            try:
                n.start(timeout=60)
            except Exception as e:  # noqa: BLE001 (asserted below)
                errs.append(e)
        ts = [threading.Thread(target=start, args=(n,)) for n in (a, b)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(90)
        self.assertEqual(errs, [])
        pairs = [p for p in (generated_pair(a), generated_pair(b)) if p]
        self.assertEqual(len(pairs), 1, "generated: %r" % pairs)
        self.assertEqual(psql(self.c.db, "SELECT count(*) FROM tw_users"), "1")
        for n in (a, b):
            self.assertTrue(accepted(n, *pairs[0]))


if __name__ == "__main__":
    unittest.main()
