"""S3 bucket lifecycle in cluster mode: three tweedle nodes on one private
PostgreSQL 15 and one shared blob directory, a lifecycle "day" of DAY
seconds (TWEEDLE_LIFECYCLE_DAY_SECONDS) on every node.

A configuration put on one node is read on the others and their
x-amz-expiration headers follow it (LISTEN/NOTIFY reloads their caches);
removing it on one node removes it everywhere.  The rules run once across the
cluster: the node holding the lifecycle advisory lock sweeps, the others do
not, so a versioned object gets exactly one delete marker (not one per node);
expired bodies are released; incomplete multipart uploads are aborted; when
the sweeping node is killed with -9, another node takes the lock and finishes
the work; after a PostgreSQL restart a node takes the lock again and sweeps.
Every wait is bounded.
"""

import os
import re
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pg  # noqa: E402

from botocore.exceptions import ClientError  # noqa: E402

PG = None
CLUSTER = None
DAY = 2  # seconds in a lifecycle day on every node
PROPAGATE_S = 5.0  # a settings change reaches the other nodes' caches
EXPIRY_S = 30.0  # due after 2-4 s; sweeps every DAY/4 s on the node holding the lock
LEAD_LINE = "s3-lifecycle: this node leads it for the cluster"
EXPIRED_LINE = r"lifecycle: %s: (\d+) object\(s\) expired"
ABORTED_LINE = r"lifecycle: %s: (\d+) incomplete multipart upload\(s\) aborted"
BODY = b"x" * (160 * 1024)  # large enough for a file of its own (not kept in the store)


def setUpModule():
    global PG, CLUSTER
    PG, CLUSTER = pg.start_module(3, env={"TWEEDLE_LIFECYCLE_DAY_SECONDS": str(DAY)})


def tearDownModule():
    pg.stop_module(PG, CLUSTER)


s3_of = pg.s3_client


def psql(sql):
    return pg.psql(PG, sql)


log_of = pg.log_of


def logged(node, pattern, bucket):
    """The sum of the counts node logged for bucket with pattern."""
    return sum(int(m) for m in re.findall(pattern % re.escape(bucket), log_of(node)))


bucket_name = pg.unique


code_of = pg.code_of


def lock_holders():
    # the lock's sessions are named after it (src/store/pg/pg_state.c)
    rows = psql("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted"
                " AND a.application_name = 'tweedle-s3-lifecycle'")
    return int(rows[0][0])


def body_files():
    """The body files in the shared blob directory (not temporary ones)."""
    out = set()
    for root, dirs, files in os.walk(CLUSTER.blobs):
        dirs[:] = [d for d in dirs if d != "tmp"]
        out.update(os.path.join(root, f) for f in files)
    return out


def expiry_rule(prefix, days=1, rid="exp"):
    return {"ID": rid, "Status": "Enabled", "Filter": {"Prefix": prefix},
            "Expiration": {"Days": days}}


wait_for = pg.wait_for


class Base(unittest.TestCase):
    def setUp(self):
        self.a, self.b, self.c = CLUSTER.nodes[:3]
        self.sa, self.sb, self.sc = (s3_of(n) for n in CLUSTER.nodes[:3])

    def keys(self, client, bucket, prefix=""):
        return sorted(o["Key"] for o in
                      client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))

    def versions(self, client, bucket):
        r = client.list_object_versions(Bucket=bucket)
        return r.get("Versions", []), r.get("DeleteMarkers", [])


class ClusterLifecycle(Base):

    def test_config_put_on_one_node_is_read_and_applied_on_the_others(self):
        bk = bucket_name("lcconf")
        self.sa.create_bucket(Bucket=bk)
        rules = [expiry_rule("logs/", days=30, rid="logs30"),
                 {"ID": "mpu", "Status": "Enabled", "Filter": {"Prefix": ""},
                  "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]
        self.sa.put_bucket_lifecycle_configuration(
            Bucket=bk, LifecycleConfiguration={"Rules": rules})
        for cl in (self.sa, self.sb, self.sc):
            got = cl.get_bucket_lifecycle_configuration(Bucket=bk)["Rules"]
            self.assertEqual([r["ID"] for r in got], ["logs30", "mpu"])
            self.assertEqual(got[0]["Expiration"], {"Days": 30})
            self.assertEqual(got[0]["Filter"], {"Prefix": "logs/"})
            self.assertEqual(got[1]["AbortIncompleteMultipartUpload"], {"DaysAfterInitiation": 7})
        # the x-amz-expiration header comes from each node's cache of the rules
        self.sa.put_object(Bucket=bk, Key="logs/one", Body=b"1")

        def expiration_on(cl):
            return cl.head_object(Bucket=bk, Key="logs/one").get("Expiration")

        for cl in (self.sb, self.sc):
            exp = wait_for(lambda: expiration_on(cl), PROPAGATE_S, "x-amz-expiration")
            self.assertIn('rule-id="logs30"', exp)
        up = self.sc.create_multipart_upload(Bucket=bk, Key="big")
        self.assertEqual(up.get("AbortRuleId"), "mpu")
        self.sc.abort_multipart_upload(Bucket=bk, Key="big", UploadId=up["UploadId"])
        # removed on B: gone on every node, headers included
        self.sb.delete_bucket_lifecycle(Bucket=bk)
        for cl in (self.sa, self.sb, self.sc):
            with self.assertRaises(ClientError) as e:
                cl.get_bucket_lifecycle_configuration(Bucket=bk)
            self.assertEqual(code_of(e.exception), "NoSuchLifecycleConfiguration")
        for cl in (self.sa, self.sc):
            wait_for(lambda: expiration_on(cl) is None, PROPAGATE_S, "header gone")
        self.sa.delete_object(Bucket=bk, Key="logs/one")
        self.sa.delete_bucket(Bucket=bk)

    def test_one_node_holds_the_lock_and_only_it_sweeps(self):
        wait_for(lambda: lock_holders() == 1, EXPIRY_S, "a node holds the lifecycle lock")
        owners = wait_for(lambda: [n for n in CLUSTER.nodes if LEAD_LINE in log_of(n)], EXPIRY_S,
                          "the lock holder's log line")
        self.assertEqual(len(owners), 1)
        self.assertEqual(lock_holders(), 1)

    def test_versioned_objects_expire_once_one_marker_each(self):
        bk = bucket_name("lcver")
        self.sa.create_bucket(Bucket=bk)
        self.sa.put_bucket_versioning(Bucket=bk, VersioningConfiguration={"Status": "Enabled"})
        nodes = (self.sa, self.sb, self.sc)
        exp = ["exp/%02d" % i for i in range(12)]
        keep = ["keep/%02d" % i for i in range(3)]
        for i, k in enumerate(exp + keep):
            nodes[i % 3].put_object(Bucket=bk, Key=k, Body=b"v-" + k.encode())
        self.sb.put_bucket_lifecycle_configuration(
            Bucket=bk, LifecycleConfiguration={"Rules": [expiry_rule("exp/")]})
        wait_for(lambda: self.keys(self.sc, bk) == keep, EXPIRY_S, "current versions expired")
        # a few more sweeps of every node's cadence: nothing more may happen
        time.sleep(3 * DAY)
        versions, markers = self.versions(self.sa, bk)
        self.assertEqual(sorted(m["Key"] for m in markers), exp)  # one marker per key, not three
        self.assertTrue(all(m["IsLatest"] for m in markers))
        self.assertEqual(sorted(v["Key"] for v in versions), sorted(exp + keep))
        self.assertTrue(all(not v["IsLatest"] for v in versions if v["Key"].startswith("exp/")))
        # the bodies stay (noncurrent versions)
        for k in exp[:2]:
            v = [x for x in versions if x["Key"] == k][0]
            self.assertEqual(self.sc.get_object(Bucket=bk, Key=k, VersionId=v["VersionId"])
                             ["Body"].read(), b"v-" + k.encode())
        # one node did it: the one that holds the lock
        counts = [logged(n, EXPIRED_LINE, bk) for n in CLUSTER.nodes]
        self.assertEqual(sum(counts), len(exp), counts)
        self.assertEqual(len([c for c in counts if c]), 1, counts)
        sweeper = CLUSTER.nodes[[bool(c) for c in counts].index(True)]
        self.assertIn(LEAD_LINE, log_of(sweeper))

    def test_objects_and_uploads_expire_and_their_bodies_go(self):
        bk = bucket_name("lcplain")
        self.sa.create_bucket(Bucket=bk)
        self.sa.put_object(Bucket=bk, Key="stay", Body=b"stay")
        before = body_files()
        exp = ["tmp/%02d" % i for i in range(6)]
        for i, k in enumerate(exp):
            (self.sa, self.sb, self.sc)[i % 3].put_object(Bucket=bk, Key=k, Body=BODY)
        up = self.sb.create_multipart_upload(Bucket=bk, Key="tmp/mpu")
        self.sc.upload_part(Bucket=bk, Key="tmp/mpu", UploadId=up["UploadId"], PartNumber=1,
                            Body=BODY)
        up2 = self.sa.create_multipart_upload(Bucket=bk, Key="other/mpu")
        new = body_files() - before
        self.assertGreaterEqual(len(new), len(exp) + 1)  # the objects' and the part's files
        self.sc.put_bucket_lifecycle_configuration(Bucket=bk, LifecycleConfiguration={"Rules": [
            {"ID": "exp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"},
             "Expiration": {"Days": 1}, "AbortIncompleteMultipartUpload": {
                 "DaysAfterInitiation": 1}}]})

        def uploads():
            return sorted(u["Key"] for u in
                          self.sa.list_multipart_uploads(Bucket=bk).get("Uploads", []))

        wait_for(lambda: self.keys(self.sb, bk) == ["stay"], EXPIRY_S, "objects expired")
        wait_for(lambda: uploads() == ["other/mpu"], EXPIRY_S, "upload aborted")
        with self.assertRaises(ClientError) as e:
            self.sa.list_parts(Bucket=bk, Key="tmp/mpu", UploadId=up["UploadId"])
        self.assertEqual(code_of(e.exception), "NoSuchUpload")
        # the expired objects' and the aborted part's files are removed
        wait_for(lambda: not (new & body_files()), EXPIRY_S, "bodies removed")
        counts = [logged(n, EXPIRED_LINE, bk) for n in CLUSTER.nodes]
        self.assertEqual(sum(counts), len(exp), counts)
        aborted = [logged(n, ABORTED_LINE, bk) for n in CLUSTER.nodes]
        self.assertEqual(sum(aborted), 1, aborted)
        self.assertEqual([bool(c) for c in counts], [bool(c) for c in aborted])
        self.sa.abort_multipart_upload(Bucket=bk, Key="other/mpu", UploadId=up2["UploadId"])


class TakeOver(Base):
    """Runs after ClusterLifecycle (classes run by name): it kills the node
    that sweeps, then restarts PostgreSQL."""

    def test_kill9_of_the_sweeping_node_another_finishes_the_work(self):
        owners = wait_for(lambda: [n for n in CLUSTER.nodes if LEAD_LINE in log_of(n)], EXPIRY_S,
                          "the lock holder's log line")
        self.assertEqual(len(owners), 1)
        owner = owners[0]
        rest = [n for n in CLUSTER.nodes if n is not owner]
        s0, s1 = s3_of(rest[0]), s3_of(rest[1])
        bk = bucket_name("lckill")
        s0.create_bucket(Bucket=bk)
        s0.put_bucket_versioning(Bucket=bk, VersioningConfiguration={"Status": "Enabled"})
        first = ["a/%02d" % i for i in range(5)]
        for k in first:
            s1.put_object(Bucket=bk, Key=k, Body=b"1")
        s0.put_bucket_lifecycle_configuration(
            Bucket=bk, LifecycleConfiguration={"Rules": [expiry_rule("a/")]})
        # the owner expires the first ones, then dies before the next are due
        wait_for(lambda: self.keys(s1, bk) == [], EXPIRY_S, "first objects expired")
        self.assertEqual(logged(owner, EXPIRED_LINE, bk), len(first))
        later = ["a/later-%02d" % i for i in range(5)]
        for k in later:
            s0.put_object(Bucket=bk, Key=k, Body=b"2")
        owner.kill9()
        wait_for(lambda: self.keys(s0, bk) == [], EXPIRY_S, "later objects expired")
        new_owners = [n for n in rest if LEAD_LINE in log_of(n)]
        self.assertEqual(len(new_owners), 1)
        self.assertEqual(logged(new_owners[0], EXPIRED_LINE, bk), len(later))
        self.assertEqual(wait_for(lambda: lock_holders() == 1, EXPIRY_S, "one holder"), True)
        time.sleep(2 * DAY)
        versions, markers = self.versions(s1, bk)
        self.assertEqual(sorted(m["Key"] for m in markers), sorted(first + later))
        self.assertEqual(len(versions), len(first + later))

    def test_postgres_restarted_the_lock_is_taken_again(self):
        live = [n for n in CLUSTER.nodes if n.alive()]
        leads_before = sum(log_of(n).count(LEAD_LINE) for n in live)
        PG.restart(down_seconds=1.0)
        wait_for(lambda: lock_holders() == 1, EXPIRY_S, "the lock taken again")
        self.assertGreater(sum(log_of(n).count(LEAD_LINE) for n in live), leads_before)
        s0 = s3_of(live[0])
        bk = bucket_name("lcpgre")

        def created():  # the node's pool reconnects with backoff: 503 meanwhile
            try:
                s0.create_bucket(Bucket=bk)
                return True
            except ClientError as e:
                if e.response["ResponseMetadata"]["HTTPStatusCode"] != 503:
                    raise
                return False

        wait_for(created, EXPIRY_S, "bucket created after the restart")
        for i in range(4):
            s0.put_object(Bucket=bk, Key="p/%d" % i, Body=b"x")
        s0.put_bucket_lifecycle_configuration(
            Bucket=bk, LifecycleConfiguration={"Rules": [expiry_rule("p/")]})
        wait_for(lambda: self.keys(s0, bk) == [], EXPIRY_S, "objects expired after the restart")
        self.assertEqual(sum(logged(n, EXPIRED_LINE, bk) for n in live), 4)


if __name__ == "__main__":
    unittest.main()
