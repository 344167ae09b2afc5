"""S3 completeness (issue 15): a retried CompleteMultipartUpload, bucket
tagging, ListBuckets pagination, GetObjectAttributes and exact answers to
edge cases.

AWS facts asserted here (API reference, botocore's service-2.json, and
responses of real S3 quoted in public issue trackers):
* CompleteMultipartUpload repeated after the upload completed (an SDK retry
  after a lost response) answers 200 with the completion's result (moto
  #8380 and minio #13318 record S3 doing so); another part list, or an upload
  that never existed, is 404 NoSuchUpload with <UploadId>.  tweedle keeps a
  completion for one (lifecycle) day; this module's day is DAY seconds.
* The other sections say what they assert above each test class.
"""

import time

import s3_harness as s
from s3_harness import obj_path

DAY = 3  # --lifecycle-day-seconds: how long a completion is remembered here

MSG_NO_SUCH_UPLOAD = ("The specified upload does not exist. The upload ID may be invalid, or the upload "
                      "may have been aborted or completed.")


def setUpModule():
    s.h.start_module_server(__name__, extra_args=["--lifecycle-day-seconds", str(DAY)])


def tearDownModule():
    s.stop(__name__)


def complete_xml(parts):
    return ("<CompleteMultipartUpload>%s</CompleteMultipartUpload>" % "".join(
        "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>" % (n, e) for n, e in parts)).encode()


class CompleteRetryTest(s.S3TestCase):
    def upload(self, bucket, key, bodies):
        up = self.s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        parts = []
        for i, body in enumerate(bodies, 1):
            e = self.s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=i, Body=body)["ETag"]
            parts.append({"PartNumber": i, "ETag": e})
        return up, parts

    def test_retried_complete_answers_the_same_result(self):
        b = self.make_bucket()
        body1, body2 = s.random_bytes(5 << 20, seed=1), b"tail"
        up, parts = self.upload(b, "k/big", [body1, body2])
        first = self.s3.complete_multipart_upload(Bucket=b, Key="k/big", UploadId=up,
                                                  MultipartUpload={"Parts": parts})
        again = self.s3.complete_multipart_upload(Bucket=b, Key="k/big", UploadId=up,
                                                  MultipartUpload={"Parts": parts})
        self.assertEqual(again["ResponseMetadata"]["HTTPStatusCode"], 200)
        for f in ("Location", "Bucket", "Key", "ETag"):
            self.assertEqual(again[f], first[f], f)
        self.assertTrue(first["ETag"].endswith('-2"'), first["ETag"])
        self.assertEqual(first.get("ChecksumCRC64NVME"), again.get("ChecksumCRC64NVME"))
        self.assertEqual(self.get_body(b, "k/big"), body1 + body2)
        # raw: quotes and case of the ETags do not matter, the numbers and ETags do
        raw_parts = [(p["PartNumber"], p["ETag"].strip('"').upper()) for p in parts]
        r = self.raw("POST", obj_path(b, "k/big", {"uploadId": up}), complete_xml(raw_parts))
        self.assertStatus(r, 200)
        doc = s.strip_ns(r.xml())
        self.assertEqual(doc.tag, "CompleteMultipartUploadResult")
        fields = {e.tag: e.text for e in doc}
        self.assertEqual(fields["ETag"], first["ETag"])
        self.assertEqual(fields["Bucket"], b)
        self.assertEqual(fields["Key"], "k/big")
        # the upload is not listed again, its parts are gone
        self.assertEqual(self.s3.list_multipart_uploads(Bucket=b).get("Uploads", []), [])
        self.assertRaisesS3(lambda: self.s3.list_parts(Bucket=b, Key="k/big", UploadId=up),
                            "NoSuchUpload", 404)

    def test_other_part_list_or_key_is_no_such_upload(self):
        b = self.make_bucket()
        up, parts = self.upload(b, "k", [b"only part"])
        self.s3.complete_multipart_upload(Bucket=b, Key="k", UploadId=up, MultipartUpload={"Parts": parts})
        wrong_etag = [{"PartNumber": 1, "ETag": '"%s"' % ("0" * 32)}]
        wrong_number = [{"PartNumber": 2, "ETag": parts[0]["ETag"]}]
        more = parts + [{"PartNumber": 2, "ETag": parts[0]["ETag"]}]
        for other in (wrong_etag, wrong_number, more):
            self.assertRaisesS3(lambda: self.s3.complete_multipart_upload(
                Bucket=b, Key="k", UploadId=up, MultipartUpload={"Parts": other}),
                "NoSuchUpload", 404, MSG_NO_SUCH_UPLOAD, UploadId=up)
        # another key, another bucket: not this upload
        b2 = self.make_bucket()
        for bucket, key in ((b, "other"), (b2, "k")):
            self.assertRaisesS3(lambda: self.s3.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=up, MultipartUpload={"Parts": parts}),
                "NoSuchUpload", 404, UploadId=up)
        # an upload id never given out
        self.assertRaisesS3(lambda: self.s3.complete_multipart_upload(
            Bucket=b, Key="k", UploadId="f" * 32, MultipartUpload={"Parts": parts}),
            "NoSuchUpload", 404, UploadId="f" * 32)
        # an aborted upload is not a completed one
        up2, parts2 = self.upload(b, "k2", [b"x"])
        self.s3.abort_multipart_upload(Bucket=b, Key="k2", UploadId=up2)
        self.assertRaisesS3(lambda: self.s3.complete_multipart_upload(
            Bucket=b, Key="k2", UploadId=up2, MultipartUpload={"Parts": parts2}), "NoSuchUpload", 404)
        # the same list still works after the refusals
        ok = self.s3.complete_multipart_upload(Bucket=b, Key="k", UploadId=up, MultipartUpload={"Parts": parts})
        self.assertEqual(ok["ETag"], '"%s-1"' % s.md5_hex(bytes.fromhex(parts[0]["ETag"].strip('"'))))
        self.assertEqual(self.get_body(b, "k"), b"only part")

    def test_concurrent_completions_all_succeed(self):
        # a retry that overtakes the first try: every one answers the completion
        b = self.make_bucket()
        bodies = [s.random_bytes(5 << 20, seed=7), s.random_bytes(5 << 20, seed=8), b"end"]
        for round_ in range(3):
            key = "race/%d" % round_
            up, parts = self.upload(b, key, bodies)
            clients = [s.s3_client(self.server) for _ in range(4)]
            results, errors, stuck = s.h.run_threads([
                (lambda c=c: c.complete_multipart_upload(Bucket=b, Key=key, UploadId=up,
                                                         MultipartUpload={"Parts": parts}))
                for c in clients], timeout=60)
            self.assertEqual(stuck, 0)
            self.assertEqual(errors, [None] * 4, errors)
            self.assertEqual(len({r["ETag"] for r in results}), 1, results)
            self.assertEqual(self.get_body(b, key), b"".join(bodies))

    def test_completion_is_remembered_across_restart_then_forgotten(self):
        b = self.make_bucket()
        up, parts = self.upload(b, "k", [b"abc"])
        first = self.s3.complete_multipart_upload(Bucket=b, Key="k", UploadId=up,
                                                  MultipartUpload={"Parts": parts})
        self.server.restart()
        c = type(self).s3 = s.s3_client(self.server)  # the port may change
        again = c.complete_multipart_upload(Bucket=b, Key="k", UploadId=up, MultipartUpload={"Parts": parts})
        self.assertEqual(again["ETag"], first["ETag"])
        time.sleep(DAY + 0.5)  # a (test) day later the completion is long gone
        self.assertRaisesS3(lambda: c.complete_multipart_upload(
            Bucket=b, Key="k", UploadId=up, MultipartUpload={"Parts": parts}), "NoSuchUpload", 404,
            UploadId=up)


# --------------------------------------------------------------------------
# bucket tagging
# --------------------------------------------------------------------------
# PutBucketTagging / GetBucketTagging / DeleteBucketTagging (API reference):
# up to 50 tags ("Bucket tag count cannot be greater than 50", 400 BadRequest,
# as S3 answers and versitygw/cloudserver record); keys and values checked as
# object tags (InvalidTag); Content-MD5 or an x-amz-checksum-* is required
# (httpChecksumRequired / requestChecksumRequired in service-2.json); both
# writes answer 204; a bucket without tags is 404 NoSuchTagSet "The TagSet does
# not exist" with <BucketName>.

MSG_NO_TAG_SET = "The TagSet does not exist"
MSG_BUCKET_TOO_MANY = "Bucket tag count cannot be greater than 50"


def tagging_body(pairs):
    return ("<Tagging><TagSet>%s</TagSet></Tagging>" % "".join(
        "<Tag><Key>%s</Key><Value>%s</Value></Tag>" % kv for kv in pairs)).encode()


class BucketTaggingTest(s.S3TestCase):
    def tagset(self, pairs):
        return {"TagSet": [{"Key": k, "Value": v} for k, v in pairs]}

    def test_put_get_delete(self):
        b = self.make_bucket()
        self.assertRaisesS3(lambda: self.s3.get_bucket_tagging(Bucket=b), "NoSuchTagSet", 404,
                            MSG_NO_TAG_SET, BucketName=b)
        pairs = [("project", "tweedle"), ("cost center", "a:b/c=d+e-f@g_h.i"), ("empty", ""),
                 ("ünï", "ça va")]
        r = self.s3.put_bucket_tagging(Bucket=b, Tagging=self.tagset(pairs))
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 204)
        got = self.s3.get_bucket_tagging(Bucket=b)["TagSet"]
        self.assertEqual([(t["Key"], t["Value"]) for t in got], pairs)
        # replaced as a whole
        self.s3.put_bucket_tagging(Bucket=b, Tagging=self.tagset([("only", "one")]))
        self.assertEqual(self.s3.get_bucket_tagging(Bucket=b)["TagSet"], [{"Key": "only", "Value": "one"}])
        # objects keep their own tags
        self.s3.put_object(Bucket=b, Key="o", Body=b"x")
        self.assertEqual(self.s3.get_object_tagging(Bucket=b, Key="o")["TagSet"], [])
        r = self.s3.delete_bucket_tagging(Bucket=b)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 204)
        self.assertRaisesS3(lambda: self.s3.get_bucket_tagging(Bucket=b), "NoSuchTagSet", 404)
        # deleting none is fine too
        self.assertEqual(self.s3.delete_bucket_tagging(Bucket=b)["ResponseMetadata"]["HTTPStatusCode"], 204)
        # raw shape
        self.s3.put_bucket_tagging(Bucket=b, Tagging=self.tagset([("k", "v")]))
        resp = self.raw("GET", obj_path(b, query="tagging"))
        self.assertStatus(resp, 200)
        self.assertIn(b"<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet><Tag><Key>k</Key>"
                      b"<Value>v</Value></Tag></TagSet></Tagging>", resp.body)

    def test_fifty_tags_and_no_more(self):
        b = self.make_bucket()
        fifty = [("k%02d" % i, "v%d" % i) for i in range(50)]
        self.s3.put_bucket_tagging(Bucket=b, Tagging=self.tagset(fifty))
        self.assertEqual(len(self.s3.get_bucket_tagging(Bucket=b)["TagSet"]), 50)
        self.assertRaisesS3(lambda: self.s3.put_bucket_tagging(
            Bucket=b, Tagging=self.tagset(fifty + [("k50", "x")])), "BadRequest", 400, MSG_BUCKET_TOO_MANY)
        self.assertEqual(len(self.s3.get_bucket_tagging(Bucket=b)["TagSet"]), 50)

    def test_invalid_tags(self):
        b = self.make_bucket()
        self.s3.put_bucket_tagging(Bucket=b, Tagging=self.tagset([("keep", "me")]))
        cases = [
            ([("a", "1"), ("a", "2")], "Cannot provide multiple Tags with the same key", {"TagKey": "a"}),
            ([("bad#key", "1")], "The TagKey you have provided is invalid", {"TagKey": "bad#key"}),
            ([("k" * 129, "1")], "The TagKey you have provided is invalid", {}),
            ([("k", "v" * 257)], "The TagValue you have provided is invalid", {"TagKey": "k"}),
            ([("aws:cost", "1")], "System tags cannot be added/updated by requester", {}),
        ]
        for pairs, msg, fields in cases:
            self.assertRaisesS3(lambda: self.s3.put_bucket_tagging(Bucket=b, Tagging=self.tagset(pairs)),
                                "InvalidTag", 400, msg, **fields)
        self.assertEqual(self.s3.get_bucket_tagging(Bucket=b)["TagSet"], [{"Key": "keep", "Value": "me"}])

    def test_document_and_digest_errors(self):
        b = self.make_bucket()
        path = obj_path(b, query="tagging")
        good = tagging_body([("k", "v")])
        # no Content-MD5 and no x-amz-checksum-*: refused
        r = self.raw("PUT", path, good)
        self.assertStatus(r, 400)
        self.assertEqual(s.error_fields(r)["Code"], "InvalidRequest")
        self.assertIn("Content-MD5", s.error_fields(r)["Message"])
        # a wrong one
        r = self.raw("PUT", path, good, {"Content-MD5": s.md5_b64(b"other")})
        self.assertStatus(r, 400)
        self.assertEqual(s.error_fields(r)["Code"], "BadDigest")
        r = self.raw("PUT", path, good, {"x-amz-checksum-crc32": s.crc32_b64(b"other")})
        self.assertEqual(s.error_fields(r)["Code"], "BadDigest")
        # either one is enough
        r = self.raw("PUT", path, good, {"x-amz-checksum-crc32": s.crc32_b64(good)})
        self.assertStatus(r, 204)
        for body in (b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>", b"<Tagging/>",
                     b"<Other><TagSet/></Other>", b"<Tagging><TagSet>"):
            r = self.raw("PUT", path, body, {"Content-MD5": s.md5_b64(body)})
            self.assertStatus(r, 400)
            self.assertEqual(s.error_fields(r)["Code"], "MalformedXML", body)
        r = self.raw("PUT", path, b"", {"Content-MD5": s.md5_b64(b"")})
        self.assertEqual(s.error_fields(r)["Code"], "MissingRequestBodyError")
        self.assertEqual(self.s3.get_bucket_tagging(Bucket=b)["TagSet"], [{"Key": "k", "Value": "v"}])
        # an empty set clears them
        empty = b"<Tagging><TagSet></TagSet></Tagging>"
        self.assertStatus(self.raw("PUT", path, empty, {"Content-MD5": s.md5_b64(empty)}), 204)
        self.assertRaisesS3(lambda: self.s3.get_bucket_tagging(Bucket=b), "NoSuchTagSet", 404)

    def test_missing_bucket(self):
        b = s.unique_bucket()
        self.assertRaisesS3(lambda: self.s3.get_bucket_tagging(Bucket=b), "NoSuchBucket", 404, BucketName=b)
        self.assertRaisesS3(lambda: self.s3.put_bucket_tagging(Bucket=b, Tagging=self.tagset([("k", "v")])),
                            "NoSuchBucket", 404)
        self.assertRaisesS3(lambda: self.s3.delete_bucket_tagging(Bucket=b), "NoSuchBucket", 404)

    def test_tags_go_with_the_bucket(self):
        b = self.make_bucket()
        self.s3.put_bucket_tagging(Bucket=b, Tagging=self.tagset([("k", "v")]))
        self.s3.delete_bucket(Bucket=b)
        self.s3.create_bucket(Bucket=b)
        self.assertRaisesS3(lambda: self.s3.get_bucket_tagging(Bucket=b), "NoSuchTagSet", 404)


# --------------------------------------------------------------------------
# ListBuckets pagination
# --------------------------------------------------------------------------
# ListBuckets (API reference, service-2.json): max-buckets 1..10000,
# continuation-token (opaque), prefix, bucket-region; with any of them the
# page is at most max-buckets (10000 by default), each <Bucket> carries
# <BucketRegion>, <ContinuationToken> comes when more buckets follow, and
# <Prefix> echoes the request's.  Without them every bucket is listed.

class ListBucketsTest(s.S3TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.prefix = "lb-%s-" % s.unique_bucket("p")[-8:]
        cls.names = sorted(cls.prefix + n for n in ("a", "b", "c", "d", "e"))
        for n in cls.names:
            cls.s3.create_bucket(Bucket=n)

    def raw_list(self, query):
        r = self.raw("GET", "/?" + query if query else "/")
        self.assertStatus(r, 200)
        doc = s.strip_ns(r.xml())
        names = [b.findtext("Name") for b in doc.iter("Bucket")]
        regions = [b.findtext("BucketRegion") for b in doc.iter("Bucket")]
        return doc, names, regions

    def test_pages_raw(self):
        import urllib.parse
        seen, token, pages = [], None, 0
        while True:
            q = "max-buckets=2&prefix=" + urllib.parse.quote(self.prefix)
            if token:
                q += "&continuation-token=" + urllib.parse.quote(token, safe="")
            doc, names, regions = self.raw_list(q)
            pages += 1
            self.assertEqual(doc.findtext("Prefix"), self.prefix)
            self.assertEqual(regions, [s.REGION] * len(names))
            self.assertLessEqual(len(names), 2)
            seen += names
            token = doc.findtext("ContinuationToken")
            if not token:
                break
            self.assertNotIn(token, "".join(self.names), "the token is opaque")
        self.assertEqual(seen, self.names)
        self.assertEqual(pages, 3)
        # without parameters: every bucket, no BucketRegion, no token
        doc, names, regions = self.raw_list("")
        self.assertTrue(set(self.names) <= set(names))
        self.assertEqual(set(regions), {None})
        self.assertIsNone(doc.find("ContinuationToken"))
        self.assertIsNone(doc.find("Prefix"))
        # a prefix alone: all of them (page of 10000), with regions
        doc, names, regions = self.raw_list("prefix=" + self.prefix)
        self.assertEqual(names, self.names)
        self.assertEqual(regions, [s.REGION] * 5)
        # bucket-region filters
        doc, names, _ = self.raw_list("bucket-region=%s&prefix=%s" % (s.REGION, self.prefix))
        self.assertEqual(names, self.names)
        doc, names, _ = self.raw_list("bucket-region=eu-west-3&prefix=" + self.prefix)
        self.assertEqual(names, [])
        # exactly max-buckets left: no token
        doc, names, _ = self.raw_list("max-buckets=5&prefix=" + self.prefix)
        self.assertEqual(names, self.names)
        self.assertIsNone(doc.find("ContinuationToken"))

    def test_bad_arguments(self):
        for v in ("0", "10001", "-1", "x", ""):
            r = self.raw("GET", "/?max-buckets=" + v)
            self.assertStatus(r, 400)
            f = s.error_fields(r)
            self.assertEqual(f["Code"], "InvalidArgument", v)
            self.assertEqual(f.get("ArgumentName"), "max-buckets")
        self.raw_list("max-buckets=10000")
        r = self.raw("GET", "/?continuation-token=%21%21%21")
        self.assertStatus(r, 400)
        self.assertEqual(s.error_fields(r)["Code"], "InvalidArgument")

    def test_boto3_pagination(self):
        shape = self.s3.meta.service_model.operation_model("ListBuckets").input_shape
        if shape is None or "MaxBuckets" not in shape.members:
            self.skipTest("botocore %s has no ListBuckets MaxBuckets (raw requests cover it)" % s.botocore.__version__)
        out = self.s3.list_buckets(MaxBuckets=3, Prefix=self.prefix)
        self.assertEqual([b["Name"] for b in out["Buckets"]], self.names[:3])
        self.assertEqual({b["BucketRegion"] for b in out["Buckets"]}, {s.REGION})
        self.assertEqual(out["Prefix"], self.prefix)
        out2 = self.s3.list_buckets(MaxBuckets=3, Prefix=self.prefix, ContinuationToken=out["ContinuationToken"])
        self.assertEqual([b["Name"] for b in out2["Buckets"]], self.names[3:])
        self.assertNotIn("ContinuationToken", out2)
        pages = self.s3.get_paginator("list_buckets").paginate(Prefix=self.prefix, PaginationConfig={"PageSize": 2})
        self.assertEqual([b["Name"] for p in pages for b in p["Buckets"]], self.names)
        out = self.s3.list_buckets(BucketRegion=s.REGION, Prefix=self.prefix)
        self.assertEqual([b["Name"] for b in out["Buckets"]], self.names)


# --------------------------------------------------------------------------
# GetObjectAttributes
# --------------------------------------------------------------------------
# GetObjectAttributes (API reference, service-2.json): GET ?attributes with
# x-amz-object-attributes (ETag, Checksum, ObjectParts, StorageClass,
# ObjectSize); Last-Modified header; ETag unquoted in the body; ObjectParts
# only for a multipart object, with PartsCount, the parts' sizes and
# checksums, paged by x-amz-max-parts / x-amz-part-number-marker
# (NextPartNumberMarker, IsTruncated); a missing or empty header -> 400
# InvalidRequest, another name -> 400 InvalidArgument "Invalid attribute name
# specified."; a missing key -> 404 NoSuchKey; conditions as GetObject.

ALL_ATTRS = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]


class ObjectAttributesTest(s.S3TestCase):
    def test_single_object(self):
        b = self.make_bucket()
        body = b"hello attributes"
        put = self.s3.put_object(Bucket=b, Key="one", Body=body, ChecksumAlgorithm="CRC32")
        out = self.s3.get_object_attributes(Bucket=b, Key="one", ObjectAttributes=ALL_ATTRS)
        self.assertEqual(out["ETag"], s.md5_hex(body))  # unquoted here
        self.assertEqual(put["ETag"], '"%s"' % out["ETag"])
        self.assertEqual(out["Checksum"]["ChecksumCRC32"], s.crc32_b64(body))
        if "ChecksumType" in self.s3.meta.service_model.shape_for("Checksum").members:
            self.assertEqual(out["Checksum"]["ChecksumType"], "FULL_OBJECT")
        self.assertEqual(out["StorageClass"], "STANDARD")
        self.assertEqual(out["ObjectSize"], len(body))
        self.assertNotIn("ObjectParts", out)
        head = self.s3.head_object(Bucket=b, Key="one")
        self.assertEqual(out["LastModified"], head["LastModified"])
        # only what is asked for
        out = self.s3.get_object_attributes(Bucket=b, Key="one", ObjectAttributes=["ObjectSize"])
        self.assertEqual(out["ObjectSize"], len(body))
        for k in ("ETag", "Checksum", "StorageClass"):
            self.assertNotIn(k, out)
        # raw: the document, the Last-Modified header
        r = self.raw("GET", obj_path(b, "one", "attributes"), headers={"x-amz-object-attributes": "ETag, ObjectSize"})
        self.assertStatus(r, 200)
        doc = s.strip_ns(r.xml())
        self.assertEqual(doc.tag, "GetObjectAttributesResponse")
        self.assertEqual([e.tag for e in doc], ["ETag", "ObjectSize"])
        self.assertEqual(r.header("Last-Modified"), head["ResponseMetadata"]["HTTPHeaders"]["last-modified"])

    def test_multipart_parts_and_pages(self):
        b = self.make_bucket()
        bodies = [s.random_bytes(5 << 20, seed=3), s.random_bytes(5 << 20, seed=4), b"last part"]
        up = self.s3.create_multipart_upload(Bucket=b, Key="mp", ChecksumAlgorithm="CRC32")["UploadId"]
        parts = []
        for i, body in enumerate(bodies, 1):
            r = self.s3.upload_part(Bucket=b, Key="mp", UploadId=up, PartNumber=i, Body=body,
                                    ChecksumAlgorithm="CRC32")
            self.assertEqual(r["ChecksumCRC32"], s.crc32_b64(body))
            parts.append({"PartNumber": i, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
        done = self.s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up, MultipartUpload={"Parts": parts})
        out = self.s3.get_object_attributes(Bucket=b, Key="mp", ObjectAttributes=ALL_ATTRS)
        self.assertEqual('"%s"' % out["ETag"], done["ETag"])
        self.assertEqual(out["Checksum"]["ChecksumCRC32"], done["ChecksumCRC32"])
        self.assertTrue(out["Checksum"]["ChecksumCRC32"].endswith("-3"), out["Checksum"])
        self.assertEqual(out["ObjectSize"], sum(map(len, bodies)))
        op = out["ObjectParts"]
        self.assertEqual(op["TotalPartsCount"], 3)
        self.assertFalse(op["IsTruncated"])
        self.assertEqual([(p["PartNumber"], p["Size"], p["ChecksumCRC32"]) for p in op["Parts"]],
                         [(i, len(body), s.crc32_b64(body)) for i, body in enumerate(bodies, 1)])
        # pages
        p1 = self.s3.get_object_attributes(Bucket=b, Key="mp", ObjectAttributes=["ObjectParts"],
                                           MaxParts=2)["ObjectParts"]
        self.assertEqual([p["PartNumber"] for p in p1["Parts"]], [1, 2])
        self.assertTrue(p1["IsTruncated"])
        self.assertEqual(p1["NextPartNumberMarker"], 2)
        self.assertEqual(p1["MaxParts"], 2)
        p2 = self.s3.get_object_attributes(Bucket=b, Key="mp", ObjectAttributes=["ObjectParts"],
                                           MaxParts=2, PartNumberMarker=2)["ObjectParts"]
        self.assertEqual([p["PartNumber"] for p in p2["Parts"]], [3])
        self.assertFalse(p2["IsTruncated"])
        self.assertEqual(p2["PartNumberMarker"], 2)
        self.assertEqual(p2["TotalPartsCount"], 3)
        p3 = self.s3.get_object_attributes(Bucket=b, Key="mp", ObjectAttributes=["ObjectParts"],
                                           PartNumberMarker=3)["ObjectParts"]
        self.assertEqual(p3.get("Parts", []), [])
        self.assertFalse(p3["IsTruncated"])

    def test_multipart_with_the_default_checksum(self):
        # no algorithm named: S3's FULL_OBJECT CRC64NVME, and each part's CRC64NVME
        b = self.make_bucket()
        bodies = [s.random_bytes(5 << 20, seed=5), b"tail"]
        c = s.s3_client(self.server, checksum="when_required") if s.NEW_CHECKSUMS else self.s3
        up = c.create_multipart_upload(Bucket=b, Key="d")["UploadId"]
        parts = [{"PartNumber": i, "ETag": c.upload_part(Bucket=b, Key="d", UploadId=up, PartNumber=i,
                                                        Body=body)["ETag"]}
                 for i, body in enumerate(bodies, 1)]
        c.complete_multipart_upload(Bucket=b, Key="d", UploadId=up, MultipartUpload={"Parts": parts})
        out = self.s3.get_object_attributes(Bucket=b, Key="d", ObjectAttributes=ALL_ATTRS)
        op = out["ObjectParts"]
        self.assertEqual(op["TotalPartsCount"], 2)
        self.assertEqual([(p["PartNumber"], p["Size"]) for p in op["Parts"]],
                         [(1, len(bodies[0])), (2, len(bodies[1]))])
        if "ChecksumCRC64NVME" in self.s3.meta.service_model.shape_for("ObjectPart").members:
            self.assertEqual([p["ChecksumCRC64NVME"] for p in op["Parts"]], [s.crc64nvme_b64(x) for x in bodies])
            self.assertEqual(out["Checksum"]["ChecksumCRC64NVME"], s.crc64nvme_b64(b"".join(bodies)))
            self.assertEqual(out["Checksum"]["ChecksumType"], "FULL_OBJECT")
        r = self.raw("GET", obj_path(b, "d", "attributes"), headers={"x-amz-object-attributes": "ObjectParts"})
        self.assertIn(b"<ChecksumCRC64NVME>%s</ChecksumCRC64NVME><PartNumber>1</PartNumber>"
                      % s.crc64nvme_b64(bodies[0]).encode(), r.body)

    def test_errors_and_conditions(self):
        b = self.make_bucket()
        self.s3.put_object(Bucket=b, Key="k", Body=b"x")
        path = obj_path(b, "k", "attributes")
        r = self.raw("GET", path)
        self.assertStatus(r, 400)
        f = s.error_fields(r)
        self.assertEqual((f["Code"], f["Message"]), (
            "InvalidRequest", "The x-amz-object-attributes header specifying the attributes to be retrieved "
            "is either missing or empty"))
        r = self.raw("GET", path, headers={"x-amz-object-attributes": "ETag,Owner"})
        self.assertStatus(r, 400)
        f = s.error_fields(r)
        self.assertEqual((f["Code"], f["Message"]), ("InvalidArgument", "Invalid attribute name specified."))
        r = self.raw("GET", path, headers={"x-amz-object-attributes": "ETag", "x-amz-max-parts": "-1"})
        self.assertEqual(s.error_fields(r)["Code"], "InvalidArgument")
        self.assertRaisesS3(lambda: self.s3.get_object_attributes(Bucket=b, Key="nope", ObjectAttributes=["ETag"]),
                            "NoSuchKey", 404)
        self.assertRaisesS3(lambda: self.s3.get_object_attributes(Bucket=s.unique_bucket(), Key="k",
                                                                  ObjectAttributes=["ETag"]), "NoSuchBucket", 404)
        etag = s.md5_hex(b"x")
        r = self.raw("GET", path, headers={"x-amz-object-attributes": "ETag", "If-Match": '"%s"' % ("0" * 32)})
        self.assertStatus(r, 412)
        self.assertEqual(s.error_fields(r)["Code"], "PreconditionFailed")
        r = self.raw("GET", path, headers={"x-amz-object-attributes": "ETag", "If-None-Match": '"%s"' % etag})
        self.assertStatus(r, 304)
        r = self.raw("GET", path, headers={"x-amz-object-attributes": "ETag", "If-Match": '"%s"' % etag})
        self.assertStatus(r, 200)
        r = self.raw("PUT", path, b"", headers={"x-amz-object-attributes": "ETag"})
        self.assertStatus(r, 405)


# --------------------------------------------------------------------------
# exact answers to edge cases
# --------------------------------------------------------------------------
# * A checksum that does not match (header or aws-chunked trailer) -> 400
#   BadDigest "The CRC32 you specified did not match the calculated checksum."
# * UploadPartCopy with x-amz-copy-source-range past the source's end -> 400
#   InvalidArgument "Range specified is not valid for source object of size:
#   N" (versitygw's tests, run against S3: CreateExceedingRangeErr; ceph
#   s3-tests test_multipart_copy_invalid_range takes InvalidArgument or
#   InvalidRange); a range that is not bytes=first-last stays the form error.
# * Content-Encoding: aws-chunked is framing: "aws-chunked,gzip" is stored and
#   given back as "gzip", "aws-chunked" alone not at all.
# * x-amz-expiration names the rule: expiry-date="...", rule-id="...".
# * User metadata values are given back byte for byte (UTF-8 and RFC 2047
#   encoded words alike).

MSG_CRC32_MISMATCH = "The CRC32 you specified did not match the calculated checksum."
TRAILER_SHA = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


def chunked_put_headers(body_len, decoded_len, encoding="aws-chunked"):
    return {"x-amz-content-sha256": TRAILER_SHA, "Content-Encoding": encoding,
            "x-amz-decoded-content-length": str(decoded_len), "x-amz-trailer": "x-amz-checksum-crc32",
            "Content-Length": str(body_len)}


class EdgeCaseTest(s.S3TestCase):
    def test_checksum_mismatch_is_bad_digest(self):
        b = self.make_bucket()
        r = self.raw("PUT", obj_path(b, "h"), b"hello", {"x-amz-checksum-crc32": s.crc32_b64(b"other")})
        self.assertS3Error(r, "BadDigest", 400, MSG_CRC32_MISMATCH)
        body = s.aws_chunked_unsigned_trailer([b"hello"], "x-amz-checksum-crc32", s.crc32_b64(b"other"))
        r = self.raw("PUT", obj_path(b, "t"), body, chunked_put_headers(len(body), 5), payload_hash=TRAILER_SHA)
        self.assertS3Error(r, "BadDigest", 400, MSG_CRC32_MISMATCH)
        up = self.s3.create_multipart_upload(Bucket=b, Key="p")["UploadId"]
        r = self.raw("PUT", obj_path(b, "p", {"partNumber": 1, "uploadId": up}), b"part",
                     {"x-amz-checksum-crc32": s.crc32_b64(b"other")})
        self.assertS3Error(r, "BadDigest", 400, MSG_CRC32_MISMATCH)
        self.assertNoObject(b, "h")
        self.assertNoObject(b, "t")

    def test_copy_source_range_past_the_end(self):
        b = self.make_bucket()
        self.s3.put_object(Bucket=b, Key="src", Body=b"0123456789")
        up = self.s3.create_multipart_upload(Bucket=b, Key="dst")["UploadId"]
        for rng in ("bytes=5-10", "bytes=20-30", "bytes=0-9999999"):
            self.assertRaisesS3(lambda: self.s3.upload_part_copy(
                Bucket=b, Key="dst", UploadId=up, PartNumber=1, CopySource={"Bucket": b, "Key": "src"},
                CopySourceRange=rng), "InvalidArgument", 400,
                "Range specified is not valid for source object of size: 10")
        self.assertRaisesS3(lambda: self.s3.upload_part_copy(
            Bucket=b, Key="dst", UploadId=up, PartNumber=1, CopySource={"Bucket": b, "Key": "src"},
            CopySourceRange="bytes=5-2"), "InvalidArgument", 400,
            message_prefix="The x-amz-copy-source-range value must be of the form")
        r = self.s3.upload_part_copy(Bucket=b, Key="dst", UploadId=up, PartNumber=1,
                                     CopySource={"Bucket": b, "Key": "src"}, CopySourceRange="bytes=5-9")
        self.assertEqual(r["CopyPartResult"]["ETag"], '"%s"' % s.md5_hex(b"56789"))

    def test_content_encoding_drops_aws_chunked(self):
        b = self.make_bucket()
        body = s.aws_chunked_unsigned_trailer([b"hello"], "x-amz-checksum-crc32", s.crc32_b64(b"hello"))
        for key, sent, stored in (("a", "aws-chunked,gzip", "gzip"), ("b", "gzip, aws-chunked", "gzip"),
                                  ("c", "aws-chunked", None), ("d", "AWS-CHUNKED , br", "br")):
            r = self.raw("PUT", obj_path(b, key), body, chunked_put_headers(len(body), 5, sent),
                         payload_hash=TRAILER_SHA)
            self.assertStatus(r, 200)
            head = self.raw("HEAD", obj_path(b, key))
            self.assertEqual(head.header("Content-Encoding"), stored, sent)
            self.assertEqual(self.s3.get_object(Bucket=b, Key=key).get("ContentEncoding"), stored)
            self.assertEqual(self.get_body(b, key), b"hello")
        # a plain upload keeps what it sent, as sent
        self.s3.put_object(Bucket=b, Key="e", Body=b"x", ContentEncoding="gzip, br")
        self.assertEqual(self.s3.head_object(Bucket=b, Key="e")["ContentEncoding"], "gzip, br")

    def test_expiration_names_the_rule(self):
        b = self.make_bucket()
        self.s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": [
            {"ID": "expire logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}}]})
        put = self.s3.put_object(Bucket=b, Key="logs/a", Body=b"x")
        self.assertRegex(put["Expiration"], r'^expiry-date="[^"]+ GMT", rule-id="expire logs"$')
        self.assertEqual(self.s3.head_object(Bucket=b, Key="logs/a")["Expiration"], put["Expiration"])
        self.assertNotIn("Expiration", self.s3.put_object(Bucket=b, Key="other", Body=b"x"))

    def test_utf8_metadata_round_trips_byte_for_byte(self):
        b = self.make_bucket()
        values = {"utf8": "ça va ☃ 日本", "encoded": "=?UTF-8?B?w6dhIHZh?=", "latin": "Hello World\u00e9"}
        signed, _ = s.sign_headers(self.server, "PUT", obj_path(b, "m"), b"x",
                                   {"x-amz-meta-" + k: v for k, v in values.items()})
        wire = {k: (v.encode("utf-8") if k.lower().startswith("x-amz-meta-") else v) for k, v in signed.items()}
        self.assertStatus(s.send(self.server, "PUT", obj_path(b, "m"), b"x", wire), 200)
        for method in ("GET", "HEAD"):
            r = self.raw(method, obj_path(b, "m"))
            self.assertStatus(r, 200)
            for k, v in values.items():  # http.client reads header bytes as latin-1
                self.assertEqual(r.header("x-amz-meta-" + k).encode("latin-1"), v.encode("utf-8"), (method, k))
        # boto3 (its ASCII check off, as s3-tests do) sends UTF-8 and gets the same bytes back
        from botocore.handlers import validate_ascii_metadata
        c = s.s3_client(self.server)
        c.meta.events.unregister("before-parameter-build.s3.PutObject", validate_ascii_metadata)
        c.put_object(Bucket=b, Key="n", Body=b"x", Metadata={"meta1": values["latin"]})
        got = c.get_object(Bucket=b, Key="n")["Metadata"]["meta1"]
        self.assertEqual(got.encode("latin-1"), values["latin"].encode("utf-8"))
        # a copy keeps them
        self.s3.copy_object(Bucket=b, Key="m2", CopySource={"Bucket": b, "Key": "m"})
        r = self.raw("HEAD", obj_path(b, "m2"))
        self.assertEqual(r.header("x-amz-meta-utf8").encode("latin-1"), values["utf8"].encode("utf-8"))

    def test_empty_metadata_values_come_back(self):
        # S3 keeps x-amz-meta-x: "" and answers it on GET/HEAD, a copy and a POST upload;
        # libmicrohttpd 0.9.75 refuses empty response header values, so tweedle writes
        # "x-amz-meta-x:  " (one space of OWS, which every HTTP parser strips)
        b = self.make_bucket()
        self.s3.put_object(Bucket=b, Key="e", Body=b"x", Metadata={"empty": "", "full": "v"})
        for call in (self.s3.head_object, self.s3.get_object):
            self.assertEqual(call(Bucket=b, Key="e")["Metadata"], {"empty": "", "full": "v"}, call)
        r = self.raw("HEAD", obj_path(b, "e"))
        self.assertEqual(r.header("x-amz-meta-empty"), "")
        self.s3.copy_object(Bucket=b, Key="e2", CopySource={"Bucket": b, "Key": "e"})
        self.assertEqual(self.s3.head_object(Bucket=b, Key="e2")["Metadata"], {"empty": "", "full": "v"})
        self.s3.copy_object(Bucket=b, Key="e3", CopySource={"Bucket": b, "Key": "e"},
                            MetadataDirective="REPLACE", Metadata={"blank": ""})
        self.assertEqual(self.s3.head_object(Bucket=b, Key="e3")["Metadata"], {"blank": ""})
        # a whitespace-only value is trimmed to empty, as S3 does
        signed, _ = s.sign_headers(self.server, "PUT", obj_path(b, "w"), b"x", {"x-amz-meta-ws": "   "})
        self.assertStatus(s.send(self.server, "PUT", obj_path(b, "w"), b"x", signed), 200)
        self.assertEqual(self.s3.head_object(Bucket=b, Key="w")["Metadata"], {"ws": ""})
