"""S3 object tagging: PutObjectTagging, GetObjectTagging, DeleteObjectTagging,
x-amz-tagging on PutObject / CreateMultipartUpload / CopyObject
(x-amz-tagging-directive), x-amz-tagging-count on GET and HEAD.

AWS facts asserted here (API reference PutObjectTagging, GetObjectTagging,
PutObject, CopyObject; User Guide "Categorizing your storage using tags";
responses recorded against S3 and quoted in public issue trackers):
* Up to 10 tags per object; a key 1-128 and a value 0-256 Unicode
  characters of letters, numbers, white space and _ . : / = + - @.
* 11 tags -> 400 BadRequest "Object tags cannot be greater than 10" (the
  document and the header alike).
* Two tags with one key -> 400 InvalidTag "Cannot provide multiple Tags with
  the same key" with <TagKey>.  A key that is too long, empty or holds other
  characters -> 400 InvalidTag "The TagKey you have provided is invalid" with
  <TagKey>; such a value -> "The TagValue you have provided is invalid" with
  <TagKey> and <TagValue>.  A key starting "aws:" -> 400 InvalidTag "System
  tags cannot be added/updated by requester".
* A document without a TagSet, a Tag without Value, another root, or XML that
  is not well formed -> 400 MalformedXML; no body -> 400
  MissingRequestBodyError.  Content-MD5 is optional for PutObjectTagging,
  but a wrong one -> 400 BadDigest.
* The header is URL query parameters ('+' a space, a key without '=' the
  empty value), given back in key order; a duplicate or empty key or bytes
  that are not UTF-8 -> 400 InvalidArgument "The header 'x-amz-tagging' shall
  be encoded as UTF-8 then URLEncoded URL query parameters without tag name
  duplicates." with ArgumentName x-amz-tagging and ArgumentValue.
* GetObjectTagging of an untagged object -> an empty TagSet; the tagging
  operations on a missing key -> 404 NoSuchKey; DeleteObjectTagging -> 204.
* CopyObject: x-amz-tagging-directive COPY (the default) copies the source's
  tags, REPLACE takes the request's x-amz-tagging; another value -> 400
  InvalidArgument.
"""


import s3_harness as s
from s3_harness import obj_path

TOO_MANY = "Object tags cannot be greater than 10"
DUP_KEY = "Cannot provide multiple Tags with the same key"
BAD_KEY = "The TagKey you have provided is invalid"
BAD_VALUE = "The TagValue you have provided is invalid"
SYSTEM = "System tags cannot be added/updated by requester"
BAD_HEADER = ("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters "
              "without tag name duplicates.")


def setUpModule():
    s.start(__name__)


def tearDownModule():
    s.stop(__name__)


def tagset(pairs):
    return {"TagSet": [{"Key": k, "Value": v} for k, v in pairs]}


def tagging_xml(pairs):
    items = "".join("<Tag><Key>%s</Key><Value>%s</Value></Tag>" % (k, v) for k, v in pairs)
    return ('<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>%s</TagSet></Tagging>'
            % items).encode()


class TaggingBase(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = cls.class_bucket("tags")

    def tags_of(self, key, bucket=None):
        r = self.s3.get_object_tagging(Bucket=bucket or self.bucket, Key=key)
        return [(t["Key"], t["Value"]) for t in r["TagSet"]]

    def head_count(self, key):
        h = self.s3.head_object(Bucket=self.bucket, Key=key)["ResponseMetadata"]["HTTPHeaders"]
        return h.get("x-amz-tagging-count")

    def put_raw_tagging(self, key, body, md5=True, headers=None):
        hdrs = dict(headers or {})
        if md5:
            hdrs["Content-MD5"] = s.md5_b64(body)
        return self.raw("PUT", obj_path(self.bucket, key, "tagging"), body, hdrs)


class ObjectTaggingTest(TaggingBase):

    def test_round_trip(self):
        self.s3.put_object(Bucket=self.bucket, Key="rt", Body=b"hello")
        self.assertEqual(self.tags_of("rt"), [])
        self.assertIsNone(self.head_count("rt"))
        ten = [("key-%d" % i, "value-%d" % i) for i in range(7)]
        ten += [("b c+d-e=f.g_h:i/j@k", "2 + 2 = 4"), ("empty", ""), ("\U0001d49c" * 128, "\u6587" * 256)]
        r = self.s3.put_object_tagging(Bucket=self.bucket, Key="rt", Tagging=tagset(ten))
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(self.tags_of("rt"), ten)  # the order they were given in
        self.assertEqual(self.head_count("rt"), "10")
        g = self.s3.get_object(Bucket=self.bucket, Key="rt")
        self.assertEqual(g["TagCount"], 10)
        self.assertEqual(g["Body"].read(), b"hello")
        # a new set replaces the old one; the object is unchanged
        self.s3.put_object_tagging(Bucket=self.bucket, Key="rt", Tagging=tagset([("only", "one")]))
        self.assertEqual(self.tags_of("rt"), [("only", "one")])
        self.assertEqual(self.head_count("rt"), "1")
        self.assertEqual(self.s3.head_object(Bucket=self.bucket, Key="rt")["ETag"], s.etag_of(b"hello"))
        r = self.s3.delete_object_tagging(Bucket=self.bucket, Key="rt")
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 204)
        self.assertEqual(self.tags_of("rt"), [])
        self.assertIsNone(self.head_count("rt"))
        self.assertNotIn("TagCount", self.s3.get_object(Bucket=self.bucket, Key="rt"))

    def test_empty_tag_set_removes_tags(self):
        self.s3.put_object(Bucket=self.bucket, Key="empty-set", Body=b"x", Tagging="a=1")
        self.s3.put_object_tagging(Bucket=self.bucket, Key="empty-set", Tagging={"TagSet": []})
        self.assertEqual(self.tags_of("empty-set"), [])
        r = self.put_raw_tagging("empty-set", b"<Tagging><TagSet/></Tagging>")
        self.assertStatus(r, 200)
        self.assertEqual(self.tags_of("empty-set"), [])

    def test_get_tagging_xml_shape(self):
        self.s3.put_object(Bucket=self.bucket, Key="shape", Body=b"x", Tagging="k=v%2Fw+x")
        r = self.raw("GET", obj_path(self.bucket, "shape", "tagging"))
        self.assertStatus(r, 200)
        root = s.parse_xml(r.body)
        self.assertEqual(root.tag, "{%s}Tagging" % s.S3NS)
        tags = root.findall("{%s}TagSet/{%s}Tag" % (s.S3NS, s.S3NS))
        self.assertEqual([(t.find("{%s}Key" % s.S3NS).text, t.find("{%s}Value" % s.S3NS).text) for t in tags],
                         [("k", "v/w x")])

    def test_put_without_content_md5_is_accepted(self):
        self.s3.put_object(Bucket=self.bucket, Key="nomd5", Body=b"x")
        r = self.put_raw_tagging("nomd5", tagging_xml([("a", "1")]), md5=False)
        self.assertStatus(r, 200)
        self.assertEqual(self.tags_of("nomd5"), [("a", "1")])

    def test_bad_digests(self):
        self.s3.put_object(Bucket=self.bucket, Key="digest", Body=b"x", Tagging="keep=me")
        body = tagging_xml([("a", "1")])
        r = self.put_raw_tagging("digest", body, md5=False, headers={"Content-MD5": s.md5_b64(b"other")})
        self.assertS3Error(r, "BadDigest", 400, s.MSG_BAD_DIGEST_MD5)
        r = self.put_raw_tagging("digest", body, md5=False, headers={"x-amz-checksum-crc32": s.crc32_b64(b"other")})
        self.assertS3Error(r, "BadDigest", 400, s.checksum_mismatch_message("CRC32"))
        r = self.put_raw_tagging("digest", body, md5=False, headers={"x-amz-checksum-crc32": s.crc32_b64(body)})
        self.assertStatus(r, 200)
        self.assertEqual(self.tags_of("digest"), [("a", "1")])

    def test_missing_key_and_bucket(self):
        for fn in (lambda: self.s3.get_object_tagging(Bucket=self.bucket, Key="absent"),
                   lambda: self.s3.delete_object_tagging(Bucket=self.bucket, Key="absent"),
                   lambda: self.s3.put_object_tagging(Bucket=self.bucket, Key="absent", Tagging=tagset([("a", "1")]))):
            self.assertRaisesS3(fn, "NoSuchKey", 404, s.MSG_NO_SUCH_KEY)
        self.assertNoObject(self.bucket, "absent")
        missing = s.unique_bucket("none")
        self.assertRaisesS3(lambda: self.s3.get_object_tagging(Bucket=missing, Key="k"), "NoSuchBucket", 404,
                            s.MSG_NO_SUCH_BUCKET)
        self.assertRaisesS3(lambda: self.s3.put_object_tagging(Bucket=missing, Key="k", Tagging=tagset([])),
                            "NoSuchBucket", 404, s.MSG_NO_SUCH_BUCKET)

    def test_document_errors_change_nothing(self):
        self.s3.put_object(Bucket=self.bucket, Key="errs", Body=b"x", Tagging="keep=me")
        eleven = [("k%d" % i, "") for i in range(11)]
        cases = [
            (eleven, "BadRequest", TOO_MANY, {}),
            ([("a", "1"), ("a", "2")], "InvalidTag", DUP_KEY, {"TagKey": "a"}),
            ([("k" * 129, "")], "InvalidTag", BAD_KEY, {"TagKey": "k" * 129}),
            ([("k", "v" * 257)], "InvalidTag", BAD_VALUE, {"TagKey": "k", "TagValue": "v" * 257}),
            ([("aws:cost", "v")], "InvalidTag", SYSTEM, {"TagKey": "aws:cost"}),
            ([("AWS:cost", "v")], "InvalidTag", SYSTEM, {"TagKey": "AWS:cost"}),
        ]
        for bad in ["a,b", "a;b", "a?b", "a!b", "a*b", "a#b", "a%b", "a(b)", "a\tb", "\U0001f600"]:
            cases.append(([(bad, "v")], "InvalidTag", BAD_KEY, {"TagKey": bad}))
            cases.append(([("k", bad)], "InvalidTag", BAD_VALUE, {"TagKey": "k", "TagValue": bad}))
        for pairs, code, msg, fields in cases:
            with self.subTest(pairs=pairs[:2]):
                self.assertRaisesS3(lambda: self.s3.put_object_tagging(Bucket=self.bucket, Key="errs",
                                                                       Tagging=tagset(pairs)),
                                    code, 400, msg, **fields)
                self.assertEqual(self.tags_of("errs"), [("keep", "me")])

    def test_malformed_documents(self):
        self.s3.put_object(Bucket=self.bucket, Key="malformed", Body=b"x", Tagging="keep=me")
        for body in [b"<Tagging><TagSet>", b"<Tagging></Tagging>",
                     b"<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>",
                     b"<Tagging><TagSet><Tag><Value>a</Value></Tag></TagSet></Tagging>",
                     b"<Tags><TagSet></TagSet></Tags>", b"not xml"]:
            with self.subTest(body=body):
                self.assertS3Error(self.put_raw_tagging("malformed", body), "MalformedXML", 400, s.MSG_MALFORMED_XML)
        # botocore refuses an empty key itself
        self.assertS3Error(self.put_raw_tagging("malformed", tagging_xml([("", "v")])), "InvalidTag", 400, BAD_KEY,
                           TagKey="")
        self.assertS3Error(self.put_raw_tagging("malformed", b""), "MissingRequestBodyError", 400,
                           "Request Body is empty")
        self.assertEqual(self.tags_of("malformed"), [("keep", "me")])


class TaggingHeaderTest(TaggingBase):

    def test_header_forms(self):
        cases = [
            ("a=1&b=2", [("a", "1"), ("b", "2")]),
            ("a&b=", [("a", ""), ("b", "")]),
            ("a%20b=c%2Bd&e+f=g=h", [("a b", "c+d"), ("e f", "g=h")]),
            ("%C3%BC=%E6%96%87", [("\u00fc", "\u6587")]),
            ("foo=bar&bar", [("bar", ""), ("foo", "bar")]),  # key order
            ("", []),
        ]
        for i, (header, want) in enumerate(cases):
            with self.subTest(header=header):
                key = "hdr-%d" % i
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=b"x", Tagging=header)
                self.assertEqual(self.tags_of(key), want)
                self.assertEqual(self.head_count(key), str(len(want)) if want else None)

    def test_overwrite_replaces_tags(self):
        self.s3.put_object(Bucket=self.bucket, Key="over", Body=b"1", Tagging="a=1")
        self.s3.put_object(Bucket=self.bucket, Key="over", Body=b"2")
        self.assertEqual(self.tags_of("over"), [])
        self.s3.put_object(Bucket=self.bucket, Key="over", Body=b"3", Tagging="b=2")
        self.assertEqual(self.tags_of("over"), [("b", "2")])

    def test_header_errors_store_nothing(self):
        eleven = "&".join("k%d=" % i for i in range(11))
        cases = [
            ("a=1&a=2", "InvalidArgument", BAD_HEADER, {"ArgumentName": "x-amz-tagging", "ArgumentValue": "a=1&a=2"}),
            ("=1", "InvalidArgument", BAD_HEADER, {"ArgumentName": "x-amz-tagging", "ArgumentValue": "=1"}),
            ("a=%FF", "InvalidArgument", BAD_HEADER, {"ArgumentName": "x-amz-tagging", "ArgumentValue": "a=%FF"}),
            (eleven, "BadRequest", TOO_MANY, {}),
            ("a,b=1", "InvalidTag", BAD_KEY, {"TagKey": "a,b"}),
            ("aws:cost=1", "InvalidTag", SYSTEM, {"TagKey": "aws:cost"}),
        ]
        for header, code, msg, fields in cases:
            with self.subTest(header=header):
                self.assertRaisesS3(lambda: self.s3.put_object(Bucket=self.bucket, Key="hdr-bad", Body=b"x",
                                                               Tagging=header),
                                    code, 400, msg, **fields)
                self.assertNoObject(self.bucket, "hdr-bad")
                self.assertRaisesS3(lambda: self.s3.create_multipart_upload(Bucket=self.bucket, Key="hdr-bad",
                                                                            Tagging=header), code, 400, msg)
        self.assertEqual(self.s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", []), [])

    def test_copy_directives(self):
        self.s3.put_object(Bucket=self.bucket, Key="src", Body=b"data", Tagging="from=source")
        src = {"Bucket": self.bucket, "Key": "src"}
        self.s3.copy_object(Bucket=self.bucket, Key="c-default", CopySource=src, Tagging="ignored=yes")
        self.assertEqual(self.tags_of("c-default"), [("from", "source")])
        self.s3.copy_object(Bucket=self.bucket, Key="c-copy", CopySource=src, TaggingDirective="COPY")
        self.assertEqual(self.tags_of("c-copy"), [("from", "source")])
        self.s3.copy_object(Bucket=self.bucket, Key="c-replace", CopySource=src, TaggingDirective="REPLACE",
                            Tagging="new=tag&x=y")
        self.assertEqual(self.tags_of("c-replace"), [("new", "tag"), ("x", "y")])
        self.s3.copy_object(Bucket=self.bucket, Key="c-none", CopySource=src, TaggingDirective="REPLACE")
        self.assertEqual(self.tags_of("c-none"), [])
        r = self.raw("PUT", obj_path(self.bucket, "c-bad"),
                     headers={"x-amz-copy-source": "/%s/src" % self.bucket, "x-amz-tagging-directive": "MERGE"})
        self.assertS3Error(r, "InvalidArgument", 400, "Unknown tagging directive.")
        self.assertNoObject(self.bucket, "c-bad")
        self.assertRaisesS3(lambda: self.s3.copy_object(Bucket=self.bucket, Key="c-bad", CopySource=src,
                                                        TaggingDirective="REPLACE", Tagging="a=1&a=2"),
                            "InvalidArgument", 400, BAD_HEADER)
        self.assertNoObject(self.bucket, "c-bad")

    def test_multipart_upload_keeps_its_tags(self):
        up = self.s3.create_multipart_upload(Bucket=self.bucket, Key="mp", Tagging="stage=raw&n=1")
        part = self.s3.upload_part(Bucket=self.bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"tail")
        self.s3.complete_multipart_upload(Bucket=self.bucket, Key="mp", UploadId=up["UploadId"],
                                          MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
        self.assertEqual(self.tags_of("mp"), [("n", "1"), ("stage", "raw")])
        self.assertEqual(self.head_count("mp"), "2")

    def test_presigned_put_carries_tagging_in_the_query(self):
        url = s.presign_v4(self.server, "PUT", obj_path(self.bucket, "presigned", {"x-amz-tagging": "a=b&c=d"}))
        r = s.send(self.server, "PUT", s.url_path(url), b"body")
        self.assertStatus(r, 200)
        self.assertEqual(self.tags_of("presigned"), [("a", "b"), ("c", "d")])


class TaggingDurabilityTest(TaggingBase):

    def test_tags_survive_restart(self):
        self.s3.put_object(Bucket=self.bucket, Key="durable", Body=b"x", Tagging="a=1")
        self.s3.put_object_tagging(Bucket=self.bucket, Key="durable", Tagging=tagset([("z", "9"), ("y", "8")]))
        self.server.restart()
        s3 = s.s3_client(self.server)
        r = s3.get_object_tagging(Bucket=self.bucket, Key="durable")
        self.assertEqual(r["TagSet"], tagset([("z", "9"), ("y", "8")])["TagSet"])
        type(self).s3 = s3
        type(self).s3v4 = s.s3_client(self.server, signature_version="s3v4")


class MigrationTest(s.S3TestCase):
    """A data directory from before tags (no objects.tags / uploads.tags)
    still opens, keeps its objects and takes tags."""

    def test_old_data_directory_opens(self):
        import sqlite3
        srv = s.h.Server()
        try:
            srv.start()
            s3 = s.s3_client(srv)
            s3.create_bucket(Bucket="old-bucket")
            s3.put_object(Bucket="old-bucket", Key="old", Body=b"from before")
            srv.stop()
            db = sqlite3.connect("%s/tweedle.db" % srv.data_dir)
            db.execute("DROP INDEX IF EXISTS objects_age")
            db.execute("DROP INDEX IF EXISTS uploads_age")
            db.execute("ALTER TABLE objects DROP COLUMN tags")
            db.execute("ALTER TABLE uploads DROP COLUMN tags")
            db.commit()
            self.assertNotIn("tags", [row[1] for row in db.execute("PRAGMA table_info(objects)")])
            db.close()
            srv.start()
            s3 = s.s3_client(srv)
            self.assertEqual(s3.get_object(Bucket="old-bucket", Key="old")["Body"].read(), b"from before")
            self.assertEqual(s3.get_object_tagging(Bucket="old-bucket", Key="old")["TagSet"], [])
            s3.put_object_tagging(Bucket="old-bucket", Key="old", Tagging=tagset([("a", "1")]))
            self.assertEqual(s3.get_object_tagging(Bucket="old-bucket", Key="old")["TagSet"],
                             tagset([("a", "1")])["TagSet"])
        finally:
            srv.stop()
            srv.cleanup()
