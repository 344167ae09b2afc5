"""S3 in cluster mode: three tweedle nodes on one private PostgreSQL 15 and one
shared blob directory.

Objects written on one node are read, listed and deleted on the others;
multipart uploads span nodes; bucket policy and CORS set on one node take
effect on the others (LISTEN/NOTIFY reloads their caches); versioning works
across nodes; a node killed with -9 during PUTs loses no acknowledged object;
lifecycle: test_cluster_s3_lifecycle.py; bucket notifications:
test_cluster_s3_events.py.
"""

import hashlib
import http.client
import json
import os
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pg  # noqa: E402

from botocore.exceptions import ClientError  # noqa: E402

PG = None
CLUSTER = None
# how long a settings change may take to reach another node's cache
PROPAGATE_S = 2.0


def setUpModule():
    global PG, CLUSTER
    PG, CLUSTER = pg.start_module(3)


def tearDownModule():
    pg.stop_module(PG, CLUSTER)


s3_of = pg.s3_client


code_of = pg.code_of


def status_of(e):
    return e.response["ResponseMetadata"]["HTTPStatusCode"]


def raw(node, method, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, r, body


bucket_name = pg.unique


def wait_for(pred, timeout=PROPAGATE_S):
    """Seconds until pred() held (polled every 10 ms), or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return time.monotonic() - t0
        time.sleep(0.01)
    return None


class ClusterS3(unittest.TestCase):
    def setUp(self):
        self.a, self.b, self.c = CLUSTER.nodes
        self.sa, self.sb, self.sc = (s3_of(n) for n in CLUSTER.nodes)

    def test_put_on_a_read_list_on_b_and_c(self):
        bk = bucket_name("xnode")
        self.sa.create_bucket(Bucket=bk)
        self.assertIn(bk, [b["Name"] for b in self.sb.list_buckets()["Buckets"]])
        self.sc.head_bucket(Bucket=bk)
        keys = {"a.txt": b"alpha", "dir/b.bin": os.urandom(70000), "dir/sub/c": b"",
                "\u00e9t\u00e9 + space": b"unicode key"}
        etags = {}
        for k, body in keys.items():
            r = self.sa.put_object(Bucket=bk, Key=k, Body=body, ContentType="text/x-test",
                                   Metadata={"who": "node-a"})
            etags[k] = r["ETag"]
            self.assertEqual(r["ETag"], '"%s"' % hashlib.md5(body).hexdigest())
        for s in (self.sb, self.sc):
            for k, body in keys.items():
                g = s.get_object(Bucket=bk, Key=k)
                self.assertEqual(g["Body"].read(), body)
                self.assertEqual(g["ETag"], etags[k])
                self.assertEqual(g["ContentType"], "text/x-test")
                self.assertEqual(g["Metadata"], {"who": "node-a"})
                h = s.head_object(Bucket=bk, Key=k)
                self.assertEqual(h["ContentLength"], len(body))
            rng = s.get_object(Bucket=bk, Key="dir/b.bin", Range="bytes=10-19")
            self.assertEqual(rng["Body"].read(), keys["dir/b.bin"][10:20])
        listed = self.sc.list_objects_v2(Bucket=bk)
        self.assertEqual([o["Key"] for o in listed["Contents"]], sorted(keys, key=lambda k: k.encode()))
        d = self.sb.list_objects_v2(Bucket=bk, Delimiter="/")
        self.assertEqual([p["Prefix"] for p in d["CommonPrefixes"]], ["dir/"])
        page = self.sb.list_objects_v2(Bucket=bk, MaxKeys=2)
        rest = self.sc.list_objects_v2(Bucket=bk, ContinuationToken=page["NextContinuationToken"])
        self.assertEqual(len(page["Contents"]) + len(rest["Contents"]), len(keys))
        # a bucket with objects cannot go, on any node
        with self.assertRaises(ClientError) as e:
            self.sc.delete_bucket(Bucket=bk)
        self.assertEqual(code_of(e.exception), "BucketNotEmpty")

    def test_delete_on_b_gone_on_a_and_overwrite_across_nodes(self):
        bk = bucket_name("del")
        self.sa.create_bucket(Bucket=bk)
        self.sa.put_object(Bucket=bk, Key="k", Body=b"first")
        self.sc.put_object(Bucket=bk, Key="k", Body=b"second")
        self.assertEqual(self.sa.get_object(Bucket=bk, Key="k")["Body"].read(), b"second")
        self.sb.delete_object(Bucket=bk, Key="k")
        with self.assertRaises(ClientError) as e:
            self.sa.get_object(Bucket=bk, Key="k")
        self.assertEqual(code_of(e.exception), "NoSuchKey")
        self.assertEqual(self.sc.list_objects_v2(Bucket=bk)["KeyCount"], 0)
        self.sa.put_object(Bucket=bk, Key="x1", Body=b"1")
        self.sa.put_object(Bucket=bk, Key="x2", Body=b"2")
        r = self.sb.delete_objects(Bucket=bk, Delete={"Objects": [{"Key": "x1"}, {"Key": "x2"}]})
        self.assertEqual(len(r["Deleted"]), 2)
        self.assertEqual(self.sc.list_objects_v2(Bucket=bk)["KeyCount"], 0)
        self.sc.delete_bucket(Bucket=bk)
        with self.assertRaises(ClientError) as e:
            self.sa.head_bucket(Bucket=bk)
        self.assertEqual(status_of(e.exception), 404)

    def test_multipart_started_on_a_parts_on_b_completed_on_c(self):
        bk = bucket_name("mpu")
        self.sa.create_bucket(Bucket=bk)
        up = self.sa.create_multipart_upload(Bucket=bk, Key="big", ContentType="application/x-big")
        uid = up["UploadId"]
        p1, p2 = os.urandom(5 * 1024 * 1024), os.urandom(123457)
        e1 = self.sb.upload_part(Bucket=bk, Key="big", UploadId=uid, PartNumber=1, Body=p1)["ETag"]
        e2 = self.sb.upload_part(Bucket=bk, Key="big", UploadId=uid, PartNumber=2, Body=p2)["ETag"]
        parts = self.sa.list_parts(Bucket=bk, Key="big", UploadId=uid)["Parts"]
        self.assertEqual([(p["PartNumber"], p["Size"]) for p in parts], [(1, len(p1)), (2, len(p2))])
        ups = self.sc.list_multipart_uploads(Bucket=bk).get("Uploads", [])
        self.assertEqual([u["UploadId"] for u in ups], [uid])
        done = self.sc.complete_multipart_upload(
            Bucket=bk, Key="big", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
        self.assertTrue(done["ETag"].endswith('-2"'))
        g = self.sa.get_object(Bucket=bk, Key="big")
        self.assertEqual(hashlib.md5(g["Body"].read()).hexdigest(), hashlib.md5(p1 + p2).hexdigest())
        self.assertEqual(g["ContentType"], "application/x-big")
        h = self.sb.head_object(Bucket=bk, Key="big", PartNumber=2)
        self.assertEqual(h["ContentLength"], len(p2))
        self.assertEqual(self.sb.list_multipart_uploads(Bucket=bk).get("Uploads", []), [])
        # an abort on one node is seen on the others
        uid2 = self.sb.create_multipart_upload(Bucket=bk, Key="gone")["UploadId"]
        self.sc.abort_multipart_upload(Bucket=bk, Key="gone", UploadId=uid2)
        with self.assertRaises(ClientError) as e:
            self.sa.upload_part(Bucket=bk, Key="gone", UploadId=uid2, PartNumber=1, Body=b"x")
        self.assertEqual(code_of(e.exception), "NoSuchUpload")

    def test_bucket_policy_set_on_a_takes_effect_on_b(self):
        bk = bucket_name("pol")
        self.sa.create_bucket(Bucket=bk)
        self.sa.put_object(Bucket=bk, Key="pub.txt", Body=b"public now")
        path = "/%s/pub.txt" % bk
        self.assertEqual(raw(self.b, "GET", path)[0], 403)  # anonymous: denied
        self.sa.put_public_access_block(Bucket=bk, PublicAccessBlockConfiguration={
            "BlockPublicAcls": False, "IgnorePublicAcls": False,
            "BlockPublicPolicy": False, "RestrictPublicBuckets": False})
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::%s/*" % bk}]}
        self.sa.put_bucket_policy(Bucket=bk, Policy=json.dumps(policy))
        took = wait_for(lambda: raw(self.b, "GET", path)[0] == 200)
        self.assertIsNotNone(took, "the policy set on A did not reach B within %.1f s" % PROPAGATE_S)
        sys.stderr.write("[policy A->B in %.0f ms] " % (took * 1000))
        self.assertIsNotNone(wait_for(lambda: raw(self.c, "GET", path)[0] == 200),
                             "the policy set on A did not reach C")
        self.assertEqual(raw(self.c, "GET", path)[2], b"public now")
        self.sc.delete_bucket_policy(Bucket=bk)
        for n in (self.a, self.b):  # each node hears of it on its own listener
            self.assertIsNotNone(wait_for(lambda: raw(n, "GET", path)[0] == 403),
                                 "the policy deleted on C stayed in force on %s" % n.endpoint)

    def test_cors_set_on_a_takes_effect_on_b(self):
        bk = bucket_name("cors")
        self.sa.create_bucket(Bucket=bk)
        pre = {"Origin": "https://app.example", "Access-Control-Request-Method": "PUT"}
        path = "/%s/obj" % bk
        self.assertEqual(raw(self.b, "OPTIONS", path, pre)[0], 403)
        self.sa.put_bucket_cors(Bucket=bk, CORSConfiguration={"CORSRules": [{
            "AllowedOrigins": ["https://app.example"], "AllowedMethods": ["PUT", "GET"],
            "AllowedHeaders": ["*"], "MaxAgeSeconds": 60}]})
        took = wait_for(lambda: raw(self.b, "OPTIONS", path, pre)[0] == 200)
        self.assertIsNotNone(took, "the CORS rules set on A did not reach B within %.1f s" % PROPAGATE_S)
        sys.stderr.write("[cors A->B in %.0f ms] " % (took * 1000))
        # C hears of it on its own listener
        self.assertIsNotNone(wait_for(lambda: raw(self.c, "OPTIONS", path, pre)[0] == 200),
                             "the CORS rules set on A did not reach C")
        st, r, _ = raw(self.c, "OPTIONS", path, pre)
        self.assertEqual(st, 200)
        self.assertEqual(r.getheader("Access-Control-Allow-Origin"), "https://app.example")
        self.assertEqual(len(self.sc.get_bucket_cors(Bucket=bk)["CORSRules"]), 1)
        self.sb.delete_bucket_cors(Bucket=bk)
        self.assertIsNotNone(wait_for(lambda: raw(self.a, "OPTIONS", path, pre)[0] == 403),
                             "the CORS rules deleted on B stayed in force on A")

    def test_versioning_across_nodes(self):
        bk = bucket_name("ver")
        self.sa.create_bucket(Bucket=bk)
        self.sa.put_bucket_versioning(Bucket=bk, VersioningConfiguration={"Status": "Enabled"})
        self.assertEqual(self.sc.get_bucket_versioning(Bucket=bk).get("Status"), "Enabled")
        v1 = self.sb.put_object(Bucket=bk, Key="doc", Body=b"v1")["VersionId"]
        v2 = self.sc.put_object(Bucket=bk, Key="doc", Body=b"v2")["VersionId"]
        self.assertNotEqual(v1, v2)
        vs = self.sa.list_object_versions(Bucket=bk)["Versions"]
        self.assertEqual([(v["VersionId"], v["IsLatest"]) for v in vs], [(v2, True), (v1, False)])
        self.assertEqual(self.sa.get_object(Bucket=bk, Key="doc", VersionId=v1)["Body"].read(), b"v1")
        self.assertEqual(self.sb.get_object(Bucket=bk, Key="doc")["Body"].read(), b"v2")
        marker = self.sa.delete_object(Bucket=bk, Key="doc")
        self.assertTrue(marker.get("DeleteMarker"))
        with self.assertRaises(ClientError) as e:
            self.sc.get_object(Bucket=bk, Key="doc")
        self.assertEqual(status_of(e.exception), 404)
        # the marker removed on B: v2 is the latest again everywhere
        self.sb.delete_object(Bucket=bk, Key="doc", VersionId=marker["VersionId"])
        self.assertEqual(self.sc.get_object(Bucket=bk, Key="doc")["Body"].read(), b"v2")
        self.sc.delete_object(Bucket=bk, Key="doc", VersionId=v2)
        self.assertEqual(self.sa.get_object(Bucket=bk, Key="doc")["Body"].read(), b"v1")


class CompletionAcrossNodes(unittest.TestCase):
    """CompleteMultipartUpload retried on another node answers as S3 does (200,
    the same ETag: the completion record is in PostgreSQL), and concurrent
    completions of one upload on every node all answer it."""

    def setUp(self):
        self.a, self.b, self.c = CLUSTER.nodes
        self.sa, self.sb, self.sc = (s3_of(n) for n in CLUSTER.nodes)

    def upload(self, bk, key, bodies):
        uid = self.sa.create_multipart_upload(Bucket=bk, Key=key)["UploadId"]
        parts = []
        for i, body in enumerate(bodies, 1):
            e = self.sb.upload_part(Bucket=bk, Key=key, UploadId=uid, PartNumber=i, Body=body)["ETag"]
            parts.append({"PartNumber": i, "ETag": e})
        return uid, parts

    def test_retry_on_other_nodes_answers_the_completion(self):
        bk = bucket_name("mpu-retry")
        self.sa.create_bucket(Bucket=bk)
        p1, p2 = os.urandom(5 << 20), b"tail"
        uid, parts = self.upload(bk, "k", [p1, p2])
        first = self.sa.complete_multipart_upload(Bucket=bk, Key="k", UploadId=uid,
                                                  MultipartUpload={"Parts": parts})
        self.assertTrue(first["ETag"].endswith('-2"'))
        for s in (self.sb, self.sc, self.sa):
            again = s.complete_multipart_upload(Bucket=bk, Key="k", UploadId=uid,
                                                MultipartUpload={"Parts": parts})
            self.assertEqual(again["ResponseMetadata"]["HTTPStatusCode"], 200)
            self.assertEqual((again["ETag"], again["Key"], again["Bucket"]),
                             (first["ETag"], first["Key"], first["Bucket"]))
        # another part list is not a retry, on any node
        with self.assertRaises(ClientError) as e:
            self.sc.complete_multipart_upload(Bucket=bk, Key="k", UploadId=uid,
                                              MultipartUpload={"Parts": parts[:1]})
        self.assertEqual(code_of(e.exception), "NoSuchUpload")
        self.assertEqual(self.sb.get_object(Bucket=bk, Key="k")["Body"].read(), p1 + p2)

    def test_concurrent_completions_on_every_node(self):
        bk = bucket_name("mpu-race")
        self.sa.create_bucket(Bucket=bk)
        bodies = [os.urandom(5 << 20), os.urandom(5 << 20), b"end"]
        for rnd in range(3):
            key = "race/%d" % rnd
            uid, parts = self.upload(bk, key, bodies)
            clients = [s3_of(n) for n in CLUSTER.nodes] * 2
            results, errors = [None] * len(clients), [None] * len(clients)

            def complete(i):
                try:
                    results[i] = clients[i].complete_multipart_upload(
                        Bucket=bk, Key=key, UploadId=uid, MultipartUpload={"Parts": parts})
                except Exception as e:  # noqa: BLE001 (reported below)
                    errors[i] = e
            ts = [threading.Thread(target=complete, args=(i,)) for i in range(len(clients))]
            for t in ts:
                t.start()
            for t in ts:
                t.join(60)
            self.assertFalse(any(t.is_alive() for t in ts), "a completion hangs")
            self.assertEqual(errors, [None] * len(clients), "round %d" % rnd)
            self.assertEqual(len({r["ETag"] for r in results}), 1, results)
            body = self.sc.get_object(Bucket=bk, Key=key)["Body"].read()
            self.assertEqual(hashlib.md5(body).hexdigest(), hashlib.md5(b"".join(bodies)).hexdigest())
        self.assertEqual(self.sb.list_multipart_uploads(Bucket=bk).get("Uploads", []), [])


class SettingsReadYourWrites(unittest.TestCase):
    """A bucket setting acknowledged by one node is in force for the very next
    request on another (no wait): the request reads the bucket's settings
    version first and reloads the bucket when its cache is older. Rounds: the
    notification alone (asynchronous, 1-30 ms) loses some of these races."""
    ROUNDS = 12

    @classmethod
    def setUpClass(cls):
        # KillS3 (before this class: unittest runs classes by name) restarts
        # PostgreSQL and then uses only nodes A and B. A node that met the
        # restart in the background answers 503 until its reconnect backoff
        # (at most 2 s) runs out: these rounds start once every node answers.
        clients = [s3_of(n) for n in CLUSTER.nodes]

        def all_up():
            for c in clients:
                try:
                    c.list_buckets()
                except ClientError:
                    return False
            return True
        if wait_for(all_up, 15) is None:
            raise AssertionError("a node still answers 503 15 s after PostgreSQL came back")

    def setUp(self):
        self.a, self.b, self.c = CLUSTER.nodes
        self.sa, self.sb, self.sc = (s3_of(n) for n in CLUSTER.nodes)

    def test_policy_and_public_access_block(self):
        bk = bucket_name("ryw-pol")
        self.sa.create_bucket(Bucket=bk)
        self.sa.put_object(Bucket=bk, Key="o", Body=b"x")
        path = "/%s/o" % bk
        policy = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::%s/*" % bk}]})
        open_pab = {"BlockPublicAcls": False, "IgnorePublicAcls": False,
                    "BlockPublicPolicy": False, "RestrictPublicBuckets": False}
        for i in range(self.ROUNDS):
            w, rn = (self.sa, self.b) if i % 2 else (self.sb, self.c)
            w.put_public_access_block(Bucket=bk, PublicAccessBlockConfiguration=open_pab)
            w.put_bucket_policy(Bucket=bk, Policy=policy)
            self.assertEqual(raw(rn, "GET", path)[0], 200, "round %d: policy not in force" % i)
            w.delete_bucket_policy(Bucket=bk)
            self.assertEqual(raw(rn, "GET", path)[0], 403, "round %d: deleted policy in force" % i)
            # RestrictPublicBuckets: a public policy grants anonymous callers nothing
            w.put_bucket_policy(Bucket=bk, Policy=policy)
            w.put_public_access_block(Bucket=bk, PublicAccessBlockConfiguration=dict(
                open_pab, RestrictPublicBuckets=True))
            self.assertEqual(raw(rn, "GET", path)[0], 403, "round %d: PublicAccessBlock ignored" % i)
            w.delete_bucket_policy(Bucket=bk)

    def test_cors_rules_and_their_deletion(self):
        bk = bucket_name("ryw-cors")
        self.sa.create_bucket(Bucket=bk)
        pre = {"Origin": "https://app.example", "Access-Control-Request-Method": "PUT"}
        path = "/%s/obj" % bk
        for i in range(self.ROUNDS):
            w, rn, rs = (self.sa, self.b, self.sb) if i % 2 else (self.sc, self.a, self.sa)
            origin = "https://app%d.example" % i
            w.put_bucket_cors(Bucket=bk, CORSConfiguration={"CORSRules": [{
                "AllowedOrigins": [origin, "https://app.example"], "AllowedMethods": ["PUT"],
                "AllowedHeaders": ["*"], "MaxAgeSeconds": i + 1}]})
            self.assertEqual(rs.get_bucket_cors(Bucket=bk)["CORSRules"][0]["MaxAgeSeconds"], i + 1)
            st, r, _ = raw(rn, "OPTIONS", path, dict(pre, Origin=origin))
            self.assertEqual(st, 200, "round %d: new rules not in force" % i)
            w.delete_bucket_cors(Bucket=bk)
            self.assertEqual(raw(rn, "OPTIONS", path, pre)[0], 403, "round %d: deleted rules" % i)
            with self.assertRaises(ClientError) as e:
                rs.get_bucket_cors(Bucket=bk)
            self.assertEqual(code_of(e.exception), "NoSuchCORSConfiguration")
        # rules of a bucket deleted on A are not applied by B
        w = self.sa
        w.put_bucket_cors(Bucket=bk, CORSConfiguration={"CORSRules": [{
            "AllowedOrigins": ["https://app.example"], "AllowedMethods": ["PUT"]}]})
        self.assertEqual(raw(self.b, "OPTIONS", path, pre)[0], 200)
        w.delete_bucket(Bucket=bk)
        self.assertNotEqual(raw(self.b, "OPTIONS", path, pre)[0], 200)

    def test_acl_and_ownership(self):
        bk = bucket_name("ryw-acl")
        self.sa.create_bucket(Bucket=bk)
        self.sa.put_public_access_block(Bucket=bk, PublicAccessBlockConfiguration={
            "BlockPublicAcls": False, "IgnorePublicAcls": False,
            "BlockPublicPolicy": False, "RestrictPublicBuckets": False})
        list_path = "/%s?list-type=2" % bk
        for i in range(self.ROUNDS):
            w, rn, rs = (self.sa, self.c, self.sc) if i % 2 else (self.sb, self.a, self.sa)
            w.put_bucket_ownership_controls(Bucket=bk, OwnershipControls={
                "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
            got = rs.get_bucket_ownership_controls(Bucket=bk)
            self.assertEqual(got["OwnershipControls"]["Rules"][0]["ObjectOwnership"],
                             "BucketOwnerPreferred", "round %d" % i)
            w.put_bucket_acl(Bucket=bk, ACL="public-read")
            self.assertEqual(raw(rn, "GET", list_path)[0], 200, "round %d: public-read ignored" % i)
            grants = rs.get_bucket_acl(Bucket=bk)["Grants"]
            self.assertEqual(len(grants), 2, "round %d: %r" % (i, grants))
            w.put_bucket_acl(Bucket=bk, ACL="private")
            self.assertEqual(raw(rn, "GET", list_path)[0], 403, "round %d: private ignored" % i)
            w.put_bucket_ownership_controls(Bucket=bk, OwnershipControls={
                "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
            with self.assertRaises(ClientError) as e:  # ACLs disabled now
                rs.put_bucket_acl(Bucket=bk, ACL="public-read")
            self.assertEqual(code_of(e.exception), "AccessControlListNotSupported", "round %d" % i)

    def test_lifecycle_rules(self):
        bk = bucket_name("ryw-lc")
        self.sa.create_bucket(Bucket=bk)
        for i in range(self.ROUNDS):
            w, rs = (self.sa, self.sb) if i % 2 else (self.sc, self.sa)
            w.put_bucket_lifecycle_configuration(Bucket=bk, LifecycleConfiguration={"Rules": [{
                "ID": "r%d" % i, "Status": "Enabled", "Filter": {"Prefix": "p/"},
                "Expiration": {"Days": i + 1}}]})
            rules = rs.get_bucket_lifecycle_configuration(Bucket=bk)["Rules"]
            self.assertEqual([r["ID"] for r in rules], ["r%d" % i])
            rs.put_object(Bucket=bk, Key="p/k", Body=b"x")
            h = rs.head_object(Bucket=bk, Key="p/k")
            self.assertIn('rule-id="r%d"' % i, h["ResponseMetadata"]["HTTPHeaders"].get(
                "x-amz-expiration", ""), "round %d" % i)
            w.delete_bucket_lifecycle(Bucket=bk)
            h = rs.head_object(Bucket=bk, Key="p/k")
            self.assertNotIn("x-amz-expiration", h["ResponseMetadata"]["HTTPHeaders"], "round %d" % i)


class KillS3(unittest.TestCase):
    """Runs after ClusterS3 (unittest orders classes by name: K > C)."""

    def test_kill9_node_during_puts_keeps_every_acknowledged_object(self):
        a, b, c = CLUSTER.nodes
        bk = bucket_name("kill")
        s3_of(a).create_bucket(Bucket=bk)
        acked, lock, stop = {}, threading.Lock(), threading.Event()

        def writer(wid):
            s = s3_of(c)
            i = 0
            while not stop.is_set():
                key = "w%d/%06d" % (wid, i)
                body = os.urandom(1000 + (i * 7919) % 60000)
                try:
                    s.put_object(Bucket=bk, Key=key, Body=body)
                except Exception:  # the node died under it: not acknowledged
                    return
                with lock:
                    acked[key] = hashlib.md5(body).hexdigest()
                i += 1

        ts = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
        for t in ts:
            t.start()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with lock:
                    if len(acked) >= 60:
                        break
                time.sleep(0.05)
            c.kill9()
        finally:
            stop.set()
            for t in ts:
                t.join(30)
        try:
            self.assertGreaterEqual(len(acked), 20, "too few PUTs acknowledged before the kill")
            sa = s3_of(a)
            for key, md5 in sorted(acked.items()):
                got = sa.get_object(Bucket=bk, Key=key)["Body"].read()
                self.assertEqual(hashlib.md5(got).hexdigest(), md5, key)
            listed = set()
            for page in sa.get_paginator("list_objects_v2").paginate(Bucket=bk):
                listed |= {o["Key"] for o in page.get("Contents", [])}
            self.assertTrue(set(acked) <= listed)
        finally:
            c.start(timeout=30)
        # the restarted node serves them too (its start-up sweep kept every body)
        sc = s3_of(c)
        for key, md5 in sorted(acked.items())[:20]:
            self.assertEqual(hashlib.md5(sc.get_object(Bucket=bk, Key=key)["Body"].read()).hexdigest(), md5)

    def test_postgres_restart_answers_503_then_recovers(self):
        a, b = CLUSTER.nodes[0], CLUSTER.nodes[1]
        sa, sb = s3_of(a), s3_of(b)
        bk = bucket_name("pgdown")
        sa.create_bucket(Bucket=bk)
        sa.put_object(Bucket=bk, Key="before", Body=b"before")
        PG._stop_postgres()
        try:
            with self.assertRaises(ClientError) as e:
                sa.put_object(Bucket=bk, Key="while-away", Body=b"x")
            self.assertEqual((status_of(e.exception), code_of(e.exception)),
                             (503, "ServiceUnavailable"))
            with self.assertRaises(ClientError) as e:
                sb.get_object(Bucket=bk, Key="before")
            self.assertEqual(status_of(e.exception), 503)
        finally:
            PG._start_postgres()
        deadline, ok = time.monotonic() + 15, False
        while time.monotonic() < deadline and not ok:
            try:
                sa.put_object(Bucket=bk, Key="after", Body=b"after")
                ok = True
            except ClientError:
                time.sleep(0.2)
        self.assertTrue(ok, "the node did not reconnect within 15 s")
        self.assertEqual(sb.get_object(Bucket=bk, Key="after")["Body"].read(), b"after")
        self.assertEqual(sb.get_object(Bucket=bk, Key="before")["Body"].read(), b"before")
        keys = [o["Key"] for o in sb.list_objects_v2(Bucket=bk)["Contents"]]
        self.assertEqual(keys, ["after", "before"])  # the refused PUT left no row
        # the listener reconnected too: settings still reach the other nodes
        sa.put_bucket_cors(Bucket=bk, CORSConfiguration={"CORSRules": [{
            "AllowedOrigins": ["https://x.example"], "AllowedMethods": ["GET"]}]})
        pre = {"Origin": "https://x.example", "Access-Control-Request-Method": "GET"}
        self.assertIsNotNone(wait_for(lambda: raw(b, "OPTIONS", "/%s/k" % bk, pre)[0] == 200, 5),
                             "CORS set after the restart did not reach B")


if __name__ == "__main__":
    unittest.main()
