"""S3 versioning: Put/GetBucketVersioning, version ids on every write,
reads and deletes of a named version, delete markers, ListObjectVersions,
DeleteObjects with versions, events, lifecycle of noncurrent versions and
delete markers, durability across kill -9 and the migration of an old data
directory.

AWS facts asserted here (API reference PutBucketVersioning,
GetBucketVersioning, ListObjectVersions, DeleteObject, DeleteObjects,
GetObject, CopyObject and the user guide "Using versioning"; botocore's
service-2.json for where each field travels):
* A bucket that was never versioned answers GetBucketVersioning with an
  empty <VersioningConfiguration/> (no Status); Status is Enabled or
  Suspended once set (a bucket never goes back to unversioned).
* Every write to an Enabled bucket (PUT, POST, copy, CompleteMultipartUpload)
  answers x-amz-version-id; CopyObject also x-amz-copy-source-version-id.
* GET/HEAD with versionId: that version; a malformed id -> 400
  InvalidArgument "Invalid version id specified"; a well-formed unknown one
  -> 404 NoSuchVersion; the id of a delete marker -> 405 MethodNotAllowed
  with x-amz-delete-marker: true.  GET without versionId when the latest is
  a delete marker -> 404 NoSuchKey with x-amz-delete-marker: true and the
  marker's x-amz-version-id.
* DELETE without versionId in a versioned bucket adds a delete marker
  (x-amz-delete-marker: true, x-amz-version-id); with versionId it removes
  that version for good (a marker removed that way answers
  x-amz-delete-marker: true); the newest remaining version becomes current.
* Suspended: writes make the `null` version, replacing the previous null
  version (the Enabled-era versions stay); DELETE adds a `null` marker.
* ListObjectVersions: Version and DeleteMarker entries by key, newest first,
  IsLatest; KeyMarker/VersionIdMarker in, NextKeyMarker/NextVersionIdMarker
  out; prefix/delimiter/CommonPrefixes; an unversioned bucket lists every
  object with VersionId "null".  version-id-marker without key-marker ->
  400 InvalidArgument.
* DeleteObjects: <VersionId> per object; a delete that makes or removes a
  marker reports DeleteMarker and DeleteMarkerVersionId.
* Events: s3:ObjectRemoved:DeleteMarkerCreated for a marker; records carry
  s3.object.versionId.
* Lifecycle NoncurrentVersionExpiration (NoncurrentDays,
  NewerNoncurrentVersions), Expiration ExpiredObjectDeleteMarker, and an
  Expiration of a current version in a versioned bucket adds a delete marker.
* A bucket holding only versions or markers is not empty: DeleteBucket ->
  409 BucketNotEmpty.
"""

import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

from botocore.exceptions import BotoCoreError, ClientError

import harness as h
import s3_harness as s
from s3_harness import obj_path

DAY = 2  # --lifecycle-day-seconds: a lifecycle "day" lasts two seconds
DEADLINE = 30.0
AWS = shutil.which("aws")


def setUpModule():
    h.start_module_server(__name__, extra_args=["--lifecycle-day-seconds", str(DAY)])


def tearDownModule():
    h.stop_module_server(__name__)


def queue_arn(name):
    return "arn:aws:sqs:%s:%s:%s" % (s.REGION, s.ACCOUNT, name)


def md5(data):
    return hashlib.md5(data).hexdigest()


class Base(s.S3TestCase):

    def versioned_bucket(self, prefix="ver", status="Enabled"):
        b = self.make_bucket(prefix)
        self.s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": status})
        return b

    def all_versions(self, bucket, **kw):
        """Every Version and DeleteMarker, paging with the markers."""
        versions, markers, prefixes, pages = [], [], [], 0
        args = dict(Bucket=bucket, **kw)
        while True:
            r = self.s3.list_object_versions(**args)
            pages += 1
            versions += r.get("Versions", [])
            markers += r.get("DeleteMarkers", [])
            prefixes += [p["Prefix"] for p in r.get("CommonPrefixes", [])]
            if not r["IsTruncated"]:
                return versions, markers, prefixes, pages
            args["KeyMarker"] = r["NextKeyMarker"]
            if r.get("NextVersionIdMarker"):
                args["VersionIdMarker"] = r["NextVersionIdMarker"]
            else:
                args.pop("VersionIdMarker", None)
            self.assertLess(pages, 500, "pagination does not end")

    def raw_get(self, bucket, key, query=None, method="GET"):
        return self.raw(method, obj_path(bucket, key, query))


class VersioningConfigurationTest(Base):

    def test_never_versioned_bucket_answers_empty_configuration(self):
        b = self.make_bucket("vcfg")
        r = self.s3.get_bucket_versioning(Bucket=b)
        self.assertNotIn("Status", r)
        self.assertNotIn("MFADelete", r)
        raw = self.raw("GET", obj_path(b, None, "versioning"))
        self.assertEqual(raw.status, 200)
        root = s.parse_xml(raw.body)
        self.assertTrue(root.tag.endswith("VersioningConfiguration"), raw.body)
        self.assertEqual(list(root), [], raw.body)

    def test_enable_then_suspend(self):
        b = self.make_bucket("vcfg")
        self.s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        self.assertEqual(self.s3.get_bucket_versioning(Bucket=b)["Status"], "Enabled")
        self.s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended",
                                                                         "MFADelete": "Disabled"})
        self.assertEqual(self.s3.get_bucket_versioning(Bucket=b)["Status"], "Suspended")

    def test_mfa_delete_refused_and_bad_status(self):
        b = self.make_bucket("vcfg")
        self.assertRaisesS3(lambda: self.s3.put_bucket_versioning(
            Bucket=b, VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"}),
            "AccessDenied", 403)
        self.assertNotIn("Status", self.s3.get_bucket_versioning(Bucket=b))
        body = (b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                b'<Status>On</Status></VersioningConfiguration>')
        r = self.raw("PUT", obj_path(b, None, "versioning"), body)
        self.assertS3Error(r, "MalformedXML", 400)
        self.assertNotIn("Status", self.s3.get_bucket_versioning(Bucket=b))

    def test_missing_bucket(self):
        name = s.unique_bucket("nobucket")
        self.assertRaisesS3(lambda: self.s3.get_bucket_versioning(Bucket=name), "NoSuchBucket", 404)
        self.assertRaisesS3(lambda: self.s3.put_bucket_versioning(
            Bucket=name, VersioningConfiguration={"Status": "Enabled"}), "NoSuchBucket", 404)


class VersionedObjectsTest(Base):

    def test_put_get_head_by_version(self):
        b = self.versioned_bucket()
        bodies = [b"first", b"second version", b"third!"]
        ids = [self.s3.put_object(Bucket=b, Key="k", Body=d)["VersionId"] for d in bodies]
        self.assertEqual(len(set(ids)), 3, ids)
        for vid in ids:
            self.assertRegex(vid, r"^[A-Za-z0-9._-]+$", "version ids are URL-safe")
        self.assertEqual(sorted(ids), ids[::-1], "ids sort newest first")
        for vid, data in zip(ids, bodies):
            g = self.s3.get_object(Bucket=b, Key="k", VersionId=vid)
            self.assertEqual(g["Body"].read(), data)
            self.assertEqual(g["VersionId"], vid)
            hd = self.s3.head_object(Bucket=b, Key="k", VersionId=vid)
            self.assertEqual(hd["ContentLength"], len(data))
            self.assertEqual(hd["VersionId"], vid)
        g = self.s3.get_object(Bucket=b, Key="k")
        self.assertEqual(g["Body"].read(), bodies[-1])
        self.assertEqual(g["VersionId"], ids[-1])
        # ListObjectsV2 shows the key once, the latest
        objs = self.s3.list_objects_v2(Bucket=b)["Contents"]
        self.assertEqual([(o["Key"], o["Size"]) for o in objs], [("k", len(bodies[-1]))])

    def test_bad_and_unknown_version_ids(self):
        b = self.versioned_bucket()
        vid = self.s3.put_object(Bucket=b, Key="k", Body=b"x")["VersionId"]
        r = self.raw_get(b, "k", "versionId=not-a-version")
        self.assertS3Error(r, "InvalidArgument", 400, "Invalid version id specified")
        unknown = "0" * len(vid)
        r = self.raw_get(b, "k", "versionId=" + unknown)
        self.assertS3Error(r, "NoSuchVersion", 404)
        self.assertRaisesS3(lambda: self.s3.get_object(Bucket=b, Key="k", VersionId=unknown),
                            "NoSuchVersion", 404)
        r = self.raw_get(b, "k", "versionId=" + unknown, method="HEAD")
        self.assertEqual(r.status, 404)
        # the null version does not exist in a bucket versioned from the start
        self.assertRaisesS3(lambda: self.s3.get_object(Bucket=b, Key="k", VersionId="null"),
                            "NoSuchVersion", 404)

    def test_delete_marker(self):
        b = self.versioned_bucket()
        v1 = self.s3.put_object(Bucket=b, Key="doc", Body=b"one")["VersionId"]
        d = self.s3.delete_object(Bucket=b, Key="doc")
        self.assertTrue(d["DeleteMarker"])
        marker = d["VersionId"]
        self.assertNotEqual(marker, v1)
        # GET of the key: 404 NoSuchKey with the marker's headers
        r = self.raw_get(b, "doc")
        self.assertS3Error(r, "NoSuchKey", 404)
        self.assertEqual(r.header("x-amz-delete-marker"), "true")
        self.assertEqual(r.header("x-amz-version-id"), marker)
        r = self.raw_get(b, "doc", method="HEAD")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.header("x-amz-delete-marker"), "true")
        # GET of the marker by id: 405
        r = self.raw_get(b, "doc", "versionId=" + marker)
        self.assertS3Error(r, "MethodNotAllowed", 405)
        self.assertEqual(r.header("x-amz-delete-marker"), "true")
        self.assertEqual(r.header("x-amz-version-id"), marker)
        r = self.raw_get(b, "doc", "versionId=" + marker, method="HEAD")
        self.assertEqual(r.status, 405)
        # the object is gone from listings, its version is still there
        self.assertNotIn("Contents", self.s3.list_objects_v2(Bucket=b))
        self.assertEqual(self.s3.get_object(Bucket=b, Key="doc", VersionId=v1)["Body"].read(), b"one")
        versions, markers, _, _ = self.all_versions(b)
        self.assertEqual([(v["VersionId"], v["IsLatest"]) for v in versions], [(v1, False)])
        self.assertEqual([(m["VersionId"], m["IsLatest"]) for m in markers], [(marker, True)])
        # removing the marker brings the object back
        d = self.s3.delete_object(Bucket=b, Key="doc", VersionId=marker)
        self.assertTrue(d["DeleteMarker"])
        self.assertEqual(d["VersionId"], marker)
        g = self.s3.get_object(Bucket=b, Key="doc")
        self.assertEqual((g["Body"].read(), g["VersionId"]), (b"one", v1))

    def test_delete_version_permanently(self):
        b = self.versioned_bucket()
        v1 = self.s3.put_object(Bucket=b, Key="k", Body=b"v1")["VersionId"]
        v2 = self.s3.put_object(Bucket=b, Key="k", Body=b"v2")["VersionId"]
        d = self.s3.delete_object(Bucket=b, Key="k", VersionId=v2)
        self.assertEqual(d["VersionId"], v2)
        self.assertNotIn("DeleteMarker", d)
        self.assertRaisesS3(lambda: self.s3.get_object(Bucket=b, Key="k", VersionId=v2),
                            "NoSuchVersion", 404)
        g = self.s3.get_object(Bucket=b, Key="k")
        self.assertEqual((g["Body"].read(), g["VersionId"]), (b"v1", v1))
        self.s3.delete_object(Bucket=b, Key="k", VersionId=v1)
        self.assertRaisesS3(lambda: self.s3.get_object(Bucket=b, Key="k"), "NoSuchKey", 404)
        self.assertEqual(self.all_versions(b)[:2], ([], []))
        # deleting a version that is not there: success, as S3
        self.s3.delete_object(Bucket=b, Key="k", VersionId=v1)
        # an empty bucket again
        self.s3.delete_bucket(Bucket=b)

    def test_bucket_with_versions_is_not_empty(self):
        b = self.versioned_bucket()
        self.s3.put_object(Bucket=b, Key="k", Body=b"x")
        self.s3.delete_object(Bucket=b, Key="k")
        self.assertRaisesS3(lambda: self.s3.delete_bucket(Bucket=b), "BucketNotEmpty", 409)

    def test_copy_from_a_version(self):
        b = self.versioned_bucket()
        v1 = self.s3.put_object(Bucket=b, Key="src", Body=b"old body")["VersionId"]
        self.s3.put_object(Bucket=b, Key="src", Body=b"new body")
        r = self.s3.copy_object(Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src", "VersionId": v1})
        self.assertEqual(r["CopySourceVersionId"], v1)
        self.assertTrue(r["VersionId"])
        g = self.s3.get_object(Bucket=b, Key="dst")
        self.assertEqual((g["Body"].read(), g["VersionId"]), (b"old body", r["VersionId"]))
        # restoring an old version onto its own key is allowed
        r2 = self.s3.copy_object(Bucket=b, Key="src", CopySource={"Bucket": b, "Key": "src", "VersionId": v1})
        self.assertEqual(self.s3.get_object(Bucket=b, Key="src")["Body"].read(), b"old body")
        self.assertEqual(len(self.all_versions(b, Prefix="src")[0]), 3)
        self.assertTrue(r2["VersionId"])
        # a marker by id is not a copy source; a missing version is NoSuchVersion
        m = self.s3.delete_object(Bucket=b, Key="gone")["VersionId"]
        self.assertRaisesS3(lambda: self.s3.copy_object(
            Bucket=b, Key="x", CopySource={"Bucket": b, "Key": "gone", "VersionId": m}), "InvalidRequest", 400)
        self.assertRaisesS3(lambda: self.s3.copy_object(
            Bucket=b, Key="x", CopySource={"Bucket": b, "Key": "gone"}), "NoSuchKey", 404)
        self.assertRaisesS3(lambda: self.s3.copy_object(
            Bucket=b, Key="x", CopySource={"Bucket": b, "Key": "src", "VersionId": "0" * len(v1)}),
            "NoSuchVersion", 404)

    def test_multipart_and_post_get_version_ids(self):
        b = self.versioned_bucket()
        up = self.s3.create_multipart_upload(Bucket=b, Key="mp")["UploadId"]
        part = b"p" * (5 * 1024 * 1024)
        e1 = self.s3.upload_part(Bucket=b, Key="mp", UploadId=up, PartNumber=1, Body=part)["ETag"]
        e2 = self.s3.upload_part(Bucket=b, Key="mp", UploadId=up, PartNumber=2, Body=b"tail")["ETag"]
        c = self.s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
        self.assertTrue(c["VersionId"])
        hd = self.s3.head_object(Bucket=b, Key="mp", VersionId=c["VersionId"])
        self.assertEqual(hd["ContentLength"], len(part) + 4)
        # a retried completion answers the same version
        again = self.s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
        self.assertEqual((again["ETag"], again["VersionId"]), (c["ETag"], c["VersionId"]))
        # once noncurrent, its parts are still addressable (?partNumber=)
        self.s3.put_object(Bucket=b, Key="mp", Body=b"small")
        p2 = self.s3.get_object(Bucket=b, Key="mp", VersionId=c["VersionId"], PartNumber=2)
        self.assertEqual((p2["Body"].read(), p2["PartsCount"]), (b"tail", 2))
        # UploadPartCopy from a named version
        up2 = self.s3.create_multipart_upload(Bucket=b, Key="mp2")["UploadId"]
        pc = self.s3.upload_part_copy(Bucket=b, Key="mp2", UploadId=up2, PartNumber=1,
                                      CopySource={"Bucket": b, "Key": "mp", "VersionId": c["VersionId"]},
                                      CopySourceRange="bytes=0-9")
        self.assertEqual(pc["CopyPartResult"]["ETag"], '"%s"' % md5(b"p" * 10))
        self.assertRaisesS3(lambda: self.s3.upload_part_copy(
            Bucket=b, Key="mp2", UploadId=up2, PartNumber=2,
            CopySource={"Bucket": b, "Key": "mp", "VersionId": "0" * 24}), "NoSuchVersion", 404)
        self.s3.abort_multipart_upload(Bucket=b, Key="mp2", UploadId=up2)
        # POST upload
        p = self.s3v4.generate_presigned_post(b, "posted")
        import test_s3_post as tp
        body, ctype = tp.form_body(list(p["fields"].items()), b"form bytes")
        r = tp.post(self.server, "/" + b, body, ctype)
        self.assertEqual(r.status, 204, r.body)
        vid = r.header("x-amz-version-id")
        self.assertTrue(vid)
        g = self.s3.get_object(Bucket=b, Key="posted", VersionId=vid)
        self.assertEqual(g["Body"].read(), b"form bytes")

    def test_tagging_and_attributes_of_a_version(self):
        b = self.versioned_bucket()
        v1 = self.s3.put_object(Bucket=b, Key="t", Body=b"one", Tagging="gen=1")["VersionId"]
        v2 = self.s3.put_object(Bucket=b, Key="t", Body=b"two!", Tagging="gen=2")["VersionId"]
        r = self.s3.put_object_tagging(Bucket=b, Key="t", VersionId=v1,
                                       Tagging={"TagSet": [{"Key": "gen", "Value": "old"}]})
        self.assertEqual(r["VersionId"], v1)
        g1 = self.s3.get_object_tagging(Bucket=b, Key="t", VersionId=v1)
        self.assertEqual((g1["TagSet"], g1["VersionId"]), ([{"Key": "gen", "Value": "old"}], v1))
        g2 = self.s3.get_object_tagging(Bucket=b, Key="t")
        self.assertEqual((g2["TagSet"], g2["VersionId"]), ([{"Key": "gen", "Value": "2"}], v2))
        self.assertRaisesS3(lambda: self.s3.get_object_tagging(Bucket=b, Key="t", VersionId="bad"),
                            "InvalidArgument", 400)
        if not hasattr(self.s3, "get_object_attributes"):
            self.skipTest("this botocore has no GetObjectAttributes")
        a = self.s3.get_object_attributes(Bucket=b, Key="t", VersionId=v1, ObjectAttributes=["ObjectSize", "ETag"])
        self.assertEqual((a["ObjectSize"], a["ETag"], a["VersionId"]), (3, md5(b"one"), v1))

    def test_conditional_writes_act_on_the_latest_version(self):
        b = self.versioned_bucket()
        self.s3.put_object(Bucket=b, Key="c", Body=b"one")
        r = self.raw("PUT", obj_path(b, "c"), b"two", {"If-None-Match": "*"})
        self.assertS3Error(r, "PreconditionFailed", 412)
        self.s3.delete_object(Bucket=b, Key="c")  # a marker is the latest: no object
        r = self.raw("PUT", obj_path(b, "c"), b"three", {"If-None-Match": "*"})
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.header("x-amz-version-id"))
        self.assertEqual(self.s3.get_object(Bucket=b, Key="c")["Body"].read(), b"three")
        # GET conditions read the latest version
        et = self.s3.head_object(Bucket=b, Key="c")["ETag"]
        r = self.raw("GET", obj_path(b, "c"), headers={"If-Match": '"%s"' % md5(b"one")})
        self.assertEqual(r.status, 412)
        r = self.raw("GET", obj_path(b, "c"), headers={"If-Match": et})
        self.assertEqual((r.status, r.body), (200, b"three"))

    def test_suspended_bucket_writes_the_null_version(self):
        b = self.versioned_bucket()
        v1 = self.s3.put_object(Bucket=b, Key="s", Body=b"enabled-era")["VersionId"]
        self.s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})
        r = self.s3.put_object(Bucket=b, Key="s", Body=b"null one")
        self.assertIn(r.get("VersionId"), (None, "null"))
        self.s3.put_object(Bucket=b, Key="s", Body=b"null two")
        versions, markers, _, _ = self.all_versions(b)
        self.assertEqual([(v["VersionId"], v["IsLatest"], v["Size"]) for v in versions],
                         [("null", True, 8), (v1, False, 11)])
        self.assertEqual(self.s3.get_object(Bucket=b, Key="s", VersionId="null")["Body"].read(), b"null two")
        g = self.s3.get_object(Bucket=b, Key="s")
        self.assertEqual((g["Body"].read(), g["VersionId"]), (b"null two", "null"))
        d = self.s3.delete_object(Bucket=b, Key="s")
        self.assertTrue(d["DeleteMarker"])
        self.assertEqual(d["VersionId"], "null")
        versions, markers, _, _ = self.all_versions(b)
        self.assertEqual([v["VersionId"] for v in versions], [v1])
        self.assertEqual([(m["VersionId"], m["IsLatest"]) for m in markers], [("null", True)])
        # Enabled again: new ids, the null marker stays a version
        self.s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        v3 = self.s3.put_object(Bucket=b, Key="s", Body=b"again")["VersionId"]
        self.assertNotEqual(v3, "null")
        versions, markers, _, _ = self.all_versions(b)
        self.assertEqual([v["VersionId"] for v in versions], [v3, v1])
        self.assertEqual([(m["VersionId"], m["IsLatest"]) for m in markers], [("null", False)])

    def test_unversioned_bucket_lists_null_versions(self):
        b = self.make_bucket("plain")
        for k in ("a", "b/c", "d"):
            self.s3.put_object(Bucket=b, Key=k, Body=k.encode())
        r = self.s3.list_object_versions(Bucket=b)
        self.assertEqual([(v["Key"], v["VersionId"], v["IsLatest"]) for v in r["Versions"]],
                         [("a", "null", True), ("b/c", "null", True), ("d", "null", True)])
        self.assertNotIn("DeleteMarkers", r)
        self.assertEqual(r["Versions"][0]["ETag"], '"%s"' % md5(b"a"))
        raw = self.raw_get(b, "a")
        self.assertEqual(raw.status, 200)
        self.assertIsNone(raw.header("x-amz-version-id"), "unversioned: no version header")
        self.assertEqual(self.s3.get_object(Bucket=b, Key="a", VersionId="null")["Body"].read(), b"a")
        # DELETE ?versionId=null removes it, no marker
        d = self.s3.delete_object(Bucket=b, Key="a", VersionId="null")
        self.assertNotIn("DeleteMarker", d)
        self.assertRaisesS3(lambda: self.s3.get_object(Bucket=b, Key="a"), "NoSuchKey", 404)
        # plain DELETE in an unversioned bucket: no marker either
        d = self.s3.delete_object(Bucket=b, Key="d")
        self.assertNotIn("DeleteMarker", d)
        self.assertEqual([v["Key"] for v in self.s3.list_object_versions(Bucket=b)["Versions"]], ["b/c"])

    def test_objects_from_before_versioning_become_the_null_version(self):
        b = self.make_bucket("pre")
        self.s3.put_object(Bucket=b, Key="k", Body=b"before")
        self.s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        v = self.s3.put_object(Bucket=b, Key="k", Body=b"after")["VersionId"]
        versions, _, _, _ = self.all_versions(b)
        self.assertEqual([(x["VersionId"], x["IsLatest"]) for x in versions], [(v, True), ("null", False)])
        self.assertEqual(self.s3.get_object(Bucket=b, Key="k", VersionId="null")["Body"].read(), b"before")


class ListVersionsTest(Base):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("lv")
        cls.s3.put_bucket_versioning(Bucket=cls.bucket, VersioningConfiguration={"Status": "Enabled"})
        cls.expect = []  # (key, version id, is marker), in S3's order
        per_key = {}
        for i in range(40):
            vid = cls.s3.put_object(Bucket=cls.bucket, Key="many", Body=b"%d" % i)["VersionId"]
            per_key.setdefault("many", []).append((vid, False))
        for k in ("a/1", "a/2", "b", "c/x/y", "z z+é"):
            for i in range(3):
                vid = cls.s3.put_object(Bucket=cls.bucket, Key=k, Body=b"%d" % i)["VersionId"]
                per_key.setdefault(k, []).append((vid, False))
            if k in ("b", "a/2"):
                vid = cls.s3.delete_object(Bucket=cls.bucket, Key=k)["VersionId"]
                per_key[k].append((vid, True))
        for k in sorted(per_key, key=lambda x: x.encode()):
            for vid, marker in reversed(per_key[k]):
                cls.expect.append((k, vid, marker))

    def flat(self, versions, markers):
        out = [(v["Key"], v["VersionId"], False, v["IsLatest"]) for v in versions] + \
              [(m["Key"], m["VersionId"], True, m["IsLatest"]) for m in markers]
        # interleave as S3 does: by key, then newest first (ids sort newest first)
        return sorted(out, key=lambda t: (t[0].encode(), t[1]))

    def test_full_listing_order_and_latest(self):
        r = self.s3.list_object_versions(Bucket=self.bucket)
        self.assertFalse(r["IsTruncated"])
        got = self.flat(r.get("Versions", []), r.get("DeleteMarkers", []))
        self.assertEqual([(k, v, m) for k, v, m, _ in got], self.expect)
        latest = {}
        for k, v, m, is_latest in got:
            if is_latest:
                self.assertNotIn(k, latest, "one latest per key")
                latest[k] = v
        self.assertEqual(set(latest), {k for k, _, _ in self.expect})
        for k, v, m in self.expect:
            if m:
                self.assertEqual(latest[k], v, "the marker is the latest of %r" % k)
        # the raw XML has Version and DeleteMarker entries in one sequence, by key
        raw = self.raw("GET", obj_path(self.bucket, None, "versions"))
        tags = re.findall(rb"<(Version|DeleteMarker)><Key>([^<]*)</Key>", raw.body)
        keys = [t[1] for t in tags]
        self.assertEqual(keys, sorted(keys), "entries by key")

    def test_pagination_across_many_versions(self):
        for page in (1, 3, 7, 40, 41):
            versions, markers, _, pages = self.all_versions(self.bucket, MaxKeys=page)
            got = self.flat(versions, markers)
            self.assertEqual([(k, v, m) for k, v, m, _ in got], self.expect, "page size %d" % page)
            self.assertEqual(pages, -(-len(self.expect) // page), "page size %d" % page)

    def test_markers_in_and_out(self):
        r = self.s3.list_object_versions(Bucket=self.bucket, MaxKeys=5, Prefix="many")
        self.assertTrue(r["IsTruncated"])
        self.assertEqual(r["NextKeyMarker"], "many")
        self.assertEqual(r["NextVersionIdMarker"], r["Versions"][-1]["VersionId"])
        r2 = self.s3.list_object_versions(Bucket=self.bucket, MaxKeys=5, Prefix="many",
                                          KeyMarker="many", VersionIdMarker=r["NextVersionIdMarker"])
        self.assertEqual(r2["KeyMarker"], "many")
        self.assertEqual(r2["VersionIdMarker"], r["NextVersionIdMarker"])
        many = [e for e in self.expect if e[0] == "many"]
        self.assertEqual([v["VersionId"] for v in r2["Versions"]], [e[1] for e in many[5:10]])
        # KeyMarker alone: after every version of that key
        r3 = self.s3.list_object_versions(Bucket=self.bucket, KeyMarker="many")
        keys = {v["Key"] for v in r3.get("Versions", [])} | {m["Key"] for m in r3.get("DeleteMarkers", [])}
        self.assertEqual(keys, {"z z+é"})
        e = self.assertRaisesS3(lambda: self.s3.list_object_versions(
            Bucket=self.bucket, VersionIdMarker=many[0][1]), "InvalidArgument", 400)
        self.assertIn("key marker", e.response["Error"]["Message"])

    def test_prefix_delimiter_and_common_prefixes(self):
        versions, markers, prefixes, _ = self.all_versions(self.bucket, Delimiter="/")
        self.assertEqual(prefixes, ["a/", "c/"])
        self.assertEqual({v["Key"] for v in versions}, {"b", "many", "z z+é"})
        self.assertEqual({m["Key"] for m in markers}, {"b"})
        # paged one entry at a time, a common prefix counts once
        versions1, markers1, prefixes1, _ = self.all_versions(self.bucket, Delimiter="/", MaxKeys=1)
        self.assertEqual(prefixes1, ["a/", "c/"])
        self.assertEqual(len(versions1) + len(markers1), len(versions) + len(markers))
        r = self.s3.list_object_versions(Bucket=self.bucket, Prefix="a/", Delimiter="/")
        self.assertEqual(r["Prefix"], "a/")
        self.assertEqual({v["Key"] for v in r["Versions"]}, {"a/1", "a/2"})
        self.assertEqual([m["Key"] for m in r["DeleteMarkers"]], ["a/2"])

    def test_encoding_type_url(self):
        raw = self.raw("GET", obj_path(self.bucket, None, "versions&encoding-type=url&prefix=z"))
        self.assertEqual(raw.status, 200, raw.body)
        self.assertIn(b"<Key>z%20z%2B%C3%A9</Key>", raw.body)
        self.assertIn(b"<EncodingType>url</EncodingType>", raw.body)
        # botocore asks for encoding-type=url itself and decodes what it names
        r = self.s3.list_object_versions(Bucket=self.bucket, Prefix="z")
        self.assertEqual({v["Key"] for v in r["Versions"]}, {"z z+é"})
        r = self.s3.list_object_versions(Bucket=self.bucket, KeyMarker="many", MaxKeys=1)
        self.assertEqual((r["Versions"][0]["Key"], r["NextKeyMarker"]), ("z z+é", "z z+é"))

    def test_max_keys_zero_and_bad(self):
        r = self.s3.list_object_versions(Bucket=self.bucket, MaxKeys=0)
        self.assertNotIn("Versions", r)
        raw = self.raw("GET", obj_path(self.bucket, None, "versions&max-keys=x"))
        self.assertS3Error(raw, "InvalidArgument", 400)

    def test_aws_cli_list_object_versions(self):
        if not AWS:
            self.skipTest("aws-cli not found on PATH")
        tmp = tempfile.mkdtemp(prefix="tweedle-ver-cli-")
        try:
            cfg = os.path.join(tmp, "config")
            with open(cfg, "w") as f:
                f.write("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
            env = dict(os.environ, AWS_ACCESS_KEY_ID=s.ACCESS_KEY, AWS_SECRET_ACCESS_KEY=s.SECRET_KEY,
                       AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=cfg,
                       AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_MAX_ATTEMPTS="1", AWS_PAGER="")
            for v in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
                env.pop(v, None)
            p = subprocess.run([AWS, "--endpoint-url", self.server.endpoint, "--cli-read-timeout", "20",
                                "s3api", "list-object-versions", "--bucket", self.bucket, "--page-size", "7",
                                "--output", "json"], env=env, capture_output=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace")[-2000:])
            out = json.loads(p.stdout.decode())
            got = self.flat(out.get("Versions", []), out.get("DeleteMarkers", []))
            self.assertEqual([(k, v, m) for k, v, m, _ in got], self.expect)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class DeleteObjectsTest(Base):

    def test_delete_objects_with_versions(self):
        b = self.versioned_bucket()
        v1 = self.s3.put_object(Bucket=b, Key="x", Body=b"1")["VersionId"]
        v2 = self.s3.put_object(Bucket=b, Key="x", Body=b"2")["VersionId"]
        self.s3.put_object(Bucket=b, Key="y", Body=b"y")
        r = self.s3.delete_objects(Bucket=b, Delete={"Objects": [
            {"Key": "x", "VersionId": v1}, {"Key": "y"}, {"Key": "x", "VersionId": "bad id"}]})
        deleted = {(d["Key"], d.get("VersionId")): d for d in r["Deleted"]}
        self.assertIn(("x", v1), deleted)
        self.assertNotIn("DeleteMarker", deleted[("x", v1)])
        ym = deleted[("y", None)]
        self.assertTrue(ym["DeleteMarker"])
        self.assertTrue(ym["DeleteMarkerVersionId"])
        self.assertEqual([(e["Key"], e["VersionId"]) for e in r.get("Errors", [])], [("x", "bad id")])
        self.assertRaisesS3(lambda: self.s3.get_object(Bucket=b, Key="y"), "NoSuchKey", 404)
        self.assertRaisesS3(lambda: self.s3.get_object(Bucket=b, Key="x", VersionId=v1), "NoSuchVersion", 404)
        self.assertEqual(self.s3.get_object(Bucket=b, Key="x")["VersionId"], v2)
        # removing the marker by id reports it
        r = self.s3.delete_objects(Bucket=b, Delete={"Objects": [
            {"Key": "y", "VersionId": ym["DeleteMarkerVersionId"]}]})
        d = r["Deleted"][0]
        self.assertTrue(d["DeleteMarker"])
        self.assertEqual(d["DeleteMarkerVersionId"], ym["DeleteMarkerVersionId"])
        self.assertEqual(self.s3.get_object(Bucket=b, Key="y")["Body"].read(), b"y")
        # quiet: only errors
        r = self.s3.delete_objects(Bucket=b, Delete={"Quiet": True, "Objects": [{"Key": "x", "VersionId": v2}]})
        self.assertNotIn("Deleted", r)
        self.assertRaisesS3(lambda: self.s3.get_object(Bucket=b, Key="x"), "NoSuchKey", 404)


class EventsTest(Base):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sqs = cls.server.client()

    def drain(self, url, expected, timeout=8.0):
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < expected and time.monotonic() < deadline:
            r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for m in r.get("Messages", []):
                got.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return got

    def test_records_carry_version_ids_and_marker_events(self):
        b = self.versioned_bucket("vev")
        qname = h.unique("vev")
        url = self.sqs.create_queue(QueueName=qname)["QueueUrl"]
        self.s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration={
            "QueueConfigurations": [{"Id": "all", "QueueArn": queue_arn(qname),
                                     "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]})
        self.assertEqual(self.drain(url, 1)[0].get("Event"), "s3:TestEvent")
        v1 = self.s3.put_object(Bucket=b, Key="e", Body=b"1")["VersionId"]
        m = self.s3.delete_object(Bucket=b, Key="e")["VersionId"]
        self.s3.delete_object(Bucket=b, Key="e", VersionId=v1)
        recs = [msg["Records"][0] for msg in self.drain(url, 3)]
        got = [(r["eventName"], r["s3"]["object"].get("versionId")) for r in recs]
        self.assertEqual(got, [("ObjectCreated:Put", v1), ("ObjectRemoved:DeleteMarkerCreated", m),
                               ("ObjectRemoved:Delete", v1)])


    def test_eventbridge_details_carry_version_ids(self):
        import test_eventbridge as te
        eb = te.events_client(self.server)
        b = self.versioned_bucket("vevb")
        self.s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration={
            "EventBridgeConfiguration": {}})
        qname = h.unique("vevb")
        url = self.sqs.create_queue(QueueName=qname)["QueueUrl"]
        rule = h.unique("vrule")
        eb.put_rule(Name=rule, EventPattern=json.dumps({"source": ["aws.s3"], "detail": {"bucket": {"name": [b]}}}))
        eb.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queue_arn(qname)}])
        v1 = self.s3.put_object(Bucket=b, Key="e", Body=b"1")["VersionId"]
        m = self.s3.delete_object(Bucket=b, Key="e")["VersionId"]
        got = sorted((d["detail-type"], d["detail"].get("deletion-type"), d["detail"]["object"].get("version-id"))
                     for d in self.drain(url, 2))
        self.assertEqual(got, [("Object Created", None, v1), ("Object Deleted", "Delete Marker Created", m)])


class LifecycleTest(Base):

    def put_rules(self, bucket, rules):
        self.s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})

    def wait_for(self, fn, want, what):
        deadline = time.monotonic() + DEADLINE
        got = fn()
        while got != want and time.monotonic() < deadline:
            time.sleep(0.25)
            got = fn()
        self.assertEqual(got, want, what)

    def ids(self, bucket):
        versions, markers, _, _ = self.all_versions(bucket)
        return sorted(v["VersionId"] for v in versions), sorted(m["VersionId"] for m in markers)

    def test_noncurrent_version_expiration_keeps_newer_ones(self):
        b = self.versioned_bucket("lcnc")
        ids = [self.s3.put_object(Bucket=b, Key="k", Body=b"%d" % i)["VersionId"] for i in range(4)]
        keep = self.s3.put_object(Bucket=b, Key="other", Body=b"o")["VersionId"]
        self.put_rules(b, [{"ID": "nc", "Status": "Enabled", "Filter": {"Prefix": "k"},
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 1}}])
        # the latest and the one newest noncurrent stay
        self.wait_for(lambda: self.ids(b), (sorted([ids[3], ids[2], keep]), []), "versions left")
        self.assertEqual(self.s3.get_object(Bucket=b, Key="k", VersionId=ids[2])["Body"].read(), b"2")

    def test_expired_object_delete_marker(self):
        b = self.versioned_bucket("lceodm")
        v = self.s3.put_object(Bucket=b, Key="m", Body=b"x")["VersionId"]
        self.s3.delete_object(Bucket=b, Key="m")
        self.s3.delete_object(Bucket=b, Key="m", VersionId=v)  # only the marker is left
        self.s3.put_object(Bucket=b, Key="n", Body=b"x")
        kept_marker = self.s3.delete_object(Bucket=b, Key="n")["VersionId"]  # a version behind it
        self.put_rules(b, [{"ID": "eodm", "Status": "Enabled", "Filter": {},
                            "Expiration": {"ExpiredObjectDeleteMarker": True}}])
        self.wait_for(lambda: self.ids(b)[1], [kept_marker], "markers left")
        self.s3.get_bucket_lifecycle_configuration(Bucket=b)

    def test_expiration_of_current_version_adds_a_marker(self):
        b = self.versioned_bucket("lccur")
        v = self.s3.put_object(Bucket=b, Key="old", Body=b"x")["VersionId"]
        self.put_rules(b, [{"ID": "d1", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}}])
        self.wait_for(lambda: len(self.ids(b)[1]), 1, "a delete marker")
        self.assertRaisesS3(lambda: self.s3.get_object(Bucket=b, Key="old"), "NoSuchKey", 404)
        self.assertEqual(self.s3.get_object(Bucket=b, Key="old", VersionId=v)["Body"].read(), b"x")


class CrashTest(h.FreshServerTestCase):
    """kill -9 while versions are written and deleted: every acknowledged
    version reads back by id with its bytes after the restart (whose start-up
    blob sweep must count every version's body), and no acknowledged
    version delete comes back."""

    def test_kill9_loses_no_acknowledged_version(self):
        c = s.s3_client(self.server, read_timeout=15, connect_timeout=3, pool=12)
        b = s.unique_bucket("vcrash")
        c.create_bucket(Bucket=b)
        c.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        acked = {}    # (key, vid) -> md5
        removed = set()
        attempted = set()
        lock = threading.Lock()
        stop, killing = threading.Event(), threading.Event()

        def writer(n):
            i = 0
            while not stop.is_set():
                key = "w%d/k%d" % (n, i % 3)
                data = os.urandom(100 + (i * 37) % 3000)
                try:
                    if i % 5 == 4:
                        with lock:
                            mine = [kv for kv in acked if kv[0] == key and kv not in removed]
                        if mine:
                            with lock:  # in flight at the kill: may or may not be done
                                if killing.is_set():
                                    break  # no new request once the kill has begun
                                attempted.add(mine[0])
                            c.delete_object(Bucket=b, Key=key, VersionId=mine[0][1])
                            with lock:
                                removed.add(mine[0])
                    else:
                        vid = c.put_object(Bucket=b, Key=key, Body=data)["VersionId"]
                        with lock:
                            acked[(key, vid)] = md5(data)
                except (ClientError, BotoCoreError, OSError):
                    pass
                i += 1

        with concurrent.futures.ThreadPoolExecutor(6) as ex:
            futs = [ex.submit(writer, n) for n in range(6)]
            time.sleep(2.0)
            killing.set()
            self.server.kill9()
            stop.set()
            for f in futs:
                f.result(timeout=60)
        self.server.start()
        c = s.s3_client(self.server, read_timeout=15, connect_timeout=3)
        self.assertGreater(len(acked), 20, "too few acknowledged writes to mean anything")
        # each writer had at most one delete in flight when the server died
        self.assertLessEqual(len(attempted - removed), 6, "unacknowledged deletes")
        problems = []
        listed = set()
        versions = []
        kw = {"Bucket": b}
        while True:
            r = c.list_object_versions(**kw)
            versions += r.get("Versions", [])
            if not r["IsTruncated"]:
                break
            kw.update(KeyMarker=r["NextKeyMarker"], VersionIdMarker=r["NextVersionIdMarker"])
        for v in versions:
            listed.add((v["Key"], v["VersionId"]))
        for (key, vid), digest in sorted(acked.items()):
            if (key, vid) in removed:
                if (key, vid) in listed:
                    problems.append("%s %s: deleted, listed again" % (key, vid))
                continue
            if (key, vid) in attempted and (key, vid) not in listed:
                continue  # its delete was in flight at the kill and took effect
            try:
                got = c.get_object(Bucket=b, Key=key, VersionId=vid)["Body"].read()
            except ClientError as e:
                problems.append("%s %s: %s" % (key, vid, e.response["Error"]["Code"]))
                continue
            if md5(got) != digest:
                problems.append("%s %s: wrong bytes" % (key, vid))
            if (key, vid) not in listed:
                problems.append("%s %s: not listed" % (key, vid))
        # every listed version reads back whole (no row without its body)
        for v in versions:
            try:
                got = c.get_object(Bucket=b, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
                self.assertEqual(len(got), v["Size"])
            except ClientError as e:
                problems.append("listed %s %s: %s" % (v["Key"], v["VersionId"], e.response["Error"]["Code"]))
        self.assertEqual(problems[:20], [], "%d problems (%d acknowledged)" % (len(problems), len(acked)))


class MigrationTest(unittest.TestCase):
    """A data directory from before versioning: its objects table has no
    version columns and there is no object_versions table. It opens, its
    objects are the null version, and versioning works on top of them."""

    def test_old_data_directory_opens(self):
        srv = h.Server()
        try:
            srv.start()
            c = s.s3_client(srv)
            b = s.unique_bucket("mig")
            c.create_bucket(Bucket=b)
            c.put_object(Bucket=b, Key="old", Body=b"from before")
            srv.stop()
            db = sqlite3.connect(os.path.join(srv.data_dir, "tweedle.db"))
            cols = [r[1] for r in db.execute("PRAGMA table_info(objects)")]
            self.assertIn("version_id", cols)
            # make it look like a data directory of the previous release
            db.execute("DROP TABLE object_versions")
            db.execute("ALTER TABLE objects DROP COLUMN version_id")
            db.execute("ALTER TABLE objects DROP COLUMN vseq")
            db.execute("ALTER TABLE buckets DROP COLUMN versioning")
            db.commit()
            db.close()
            srv.start()
            c = s.s3_client(srv)
            self.assertEqual(c.get_object(Bucket=b, Key="old")["Body"].read(), b"from before")
            self.assertNotIn("Status", c.get_bucket_versioning(Bucket=b))
            r = c.list_object_versions(Bucket=b)
            self.assertEqual([(v["Key"], v["VersionId"]) for v in r["Versions"]], [("old", "null")])
            c.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
            vid = c.put_object(Bucket=b, Key="old", Body=b"new")["VersionId"]
            r = c.list_object_versions(Bucket=b)
            self.assertEqual([(v["VersionId"], v["IsLatest"]) for v in r["Versions"]],
                             [(vid, True), ("null", False)])
            self.assertEqual(c.get_object(Bucket=b, Key="old", VersionId="null")["Body"].read(), b"from before")
        finally:
            srv.stop()
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()
