"""S3 ownership and ACL basics: owners of buckets and objects, Object
Ownership (Put/Get/DeleteBucketOwnershipControls), Get/PutBucketAcl,
Get/PutObjectAcl, canned ACLs and grants on writes, and what ACLs let
anonymous callers and other users do -- composed with bucket policies and
PublicAccessBlock.

AWS facts asserted here (S3 API reference and user guide):
* CreateBucket of a name another account owns: 409 BucketAlreadyExists; your
  own in us-east-1: 200 (legacy; elsewhere 409 BucketAlreadyOwnedByYou).
* New buckets have ObjectOwnership BucketOwnerEnforced (since April 2023);
  GetBucketOwnershipControls after DeleteBucketOwnershipControls: 404
  OwnershipControlsNotFoundError.
* BucketOwnerEnforced: ACLs other than the owner's full control (private,
  bucket-owner-full-control) are refused 400 AccessControlListNotSupported
  "The bucket does not allow ACLs"; GetBucketAcl/GetObjectAcl show only the
  bucket owner's FULL_CONTROL; CreateBucket with a public ACL and no
  x-amz-object-ownership: 400 InvalidBucketAclWithObjectOwnership.
* ACLs enabled (ObjectWriter / BucketOwnerPreferred): public-read lets
  anonymous callers GET/HEAD the object (on the bucket: list it),
  public-read-write lets them write (PUT, POST upload), authenticated-read
  lets any authenticated user read. ObjectWriter: the writer owns what it
  writes; BucketOwnerPreferred + bucket-owner-full-control: the bucket owner.
* Canned ACL and x-amz-grant-* together: 400 InvalidRequest; email grantees:
  405 (discontinued October 2025).
* BlockPublicAcls: a public ACL on PutObject/PutObjectAcl/PutBucketAcl is
  403 AccessDenied; IgnorePublicAcls: public ACLs grant nothing. An explicit
  Deny in a bucket policy wins over an ACL grant.
"""

import json
import os
import shutil
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.request

import harness as h
import s3_harness as s
from s3_harness import ClientError, obj_path

USERS = [
    {"name": "bob", "access_key_id": "AKIDACLBOB", "secret_access_key": "bob-secret"},
    # allowed nothing on buckets by its policy: only ACLs let it read
    {"name": "limited", "access_key_id": "AKIDACLLIMITED", "secret_access_key": "limited-secret",
     "policies": [{"Version": "2012-10-17", "Statement": [
         {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]}]},
]
KEYS = {u["name"]: (u["access_key_id"], u["secret_access_key"]) for u in USERS}
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTH_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
AWS = shutil.which("aws")


def setUpModule():
    global CFG_DIR
    CFG_DIR = tempfile.mkdtemp(prefix="tweedle-acl-cfg-")
    unittest.addModuleCleanup(shutil.rmtree, CFG_DIR, True)
    path = os.path.join(CFG_DIR, "config.json")
    with open(path, "w") as f:
        json.dump({"users": USERS}, f)
    h.start_module_server(__name__, extra_args=["--config", path])


def tearDownModule():
    h.stop_module_server(__name__)


def anon(method, path, data=None, headers=None):
    """(status, body) of an unsigned request."""
    req = urllib.request.Request(SERVER.endpoint + path, method=method, data=data,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class AclTestCase(s.S3TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bob = s.s3_client(SERVER, access_key=KEYS["bob"][0], secret_key=KEYS["bob"][1])
        cls.limited = s.s3_client(SERVER, access_key=KEYS["limited"][0],
                                  secret_key=KEYS["limited"][1])
        cls.admin_id = cls.s3.list_buckets()["Owner"]["ID"]
        cls.bob_id = cls.bob.list_buckets()["Owner"]["ID"]

    def acl_bucket(self, prefix="acl", ownership="ObjectWriter", client=None):
        name = s.unique_bucket(prefix)
        (client or self.s3).create_bucket(Bucket=name, ObjectOwnership=ownership)
        return name

    def assertAnon(self, method, path, status, data=None):
        got, body = anon(method, path, data)
        self.assertEqual(got, status, body[:400])
        return body


class OwnerTest(AclTestCase):

    def test_users_are_distinct_owners(self):
        self.assertRegex(self.admin_id, "^[0-9a-f]{64}$")
        self.assertRegex(self.bob_id, "^[0-9a-f]{64}$")
        self.assertNotEqual(self.admin_id, self.bob_id)
        self.assertEqual(self.bob.list_buckets()["Owner"]["DisplayName"], "bob")
        # stable: the same id on every call
        self.assertEqual(self.s3.list_buckets()["Owner"]["ID"], self.admin_id)

    def test_list_buckets_shows_only_the_callers(self):
        # ListBuckets lists the buckets the caller owns (S3: the sender's account)
        mine = self.make_bucket("mine")
        bobs = self.make_bucket("bobs", client=self.bob)
        names = lambda c: {b["Name"] for b in c.list_buckets()["Buckets"]}
        self.assertIn(mine, names(self.s3))
        self.assertNotIn(bobs, names(self.s3))
        self.assertIn(bobs, names(self.bob))
        self.assertNotIn(mine, names(self.bob))
        shape = self.bob.meta.service_model.operation_model("ListBuckets").input_shape
        if shape is not None and "MaxBuckets" in shape.members:  # botocore >= 1.34.x
            paged = self.bob.list_buckets(MaxBuckets=1000, Prefix="bobs")["Buckets"]
            self.assertEqual({b["Name"] for b in paged}, {bobs})
        self.assertEqual(names(self.limited), set())

    def test_create_another_users_bucket_is_bucket_already_exists(self):
        name = self.make_bucket("own", client=self.bob)
        self.assertRaisesS3(lambda: self.s3.create_bucket(Bucket=name), "BucketAlreadyExists", 409)
        # the owner's own re-create in us-east-1 stays 200
        r = self.bob.create_bucket(Bucket=name)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 200)
        acl = self.s3.get_bucket_acl(Bucket=name)
        self.assertEqual(acl["Owner"]["ID"], self.bob_id)
        self.assertEqual(acl["Owner"]["DisplayName"], "bob")

    def test_listing_owners_follow_the_writer_with_object_writer(self):
        b = self.acl_bucket("lw")
        self.s3.put_object(Bucket=b, Key="a-admin", Body=b"1")
        self.bob.put_object(Bucket=b, Key="b-bob", Body=b"2")
        got = self.s3.list_objects_v2(Bucket=b, FetchOwner=True)["Contents"]
        self.assertEqual([o["Owner"]["ID"] for o in got], [self.admin_id, self.bob_id])
        self.assertEqual(got[1]["Owner"]["DisplayName"], "bob")
        v1 = self.s3.list_objects(Bucket=b)["Contents"]
        self.assertEqual([o["Owner"]["ID"] for o in v1], [self.admin_id, self.bob_id])
        vs = self.s3.list_object_versions(Bucket=b)["Versions"]
        self.assertEqual(sorted(o["Owner"]["ID"] for o in vs), sorted([self.admin_id, self.bob_id]))
        self.assertEqual(self.s3.get_object_acl(Bucket=b, Key="b-bob")["Owner"]["ID"], self.bob_id)

    def test_enforced_bucket_owns_every_object(self):
        b = self.make_bucket("enf")
        self.bob.put_object(Bucket=b, Key="k", Body=b"x")
        got = self.s3.list_objects_v2(Bucket=b, FetchOwner=True)["Contents"]
        self.assertEqual(got[0]["Owner"]["ID"], self.admin_id)

    def test_bucket_owner_preferred(self):
        b = self.acl_bucket("pref", ownership="BucketOwnerPreferred")
        self.bob.put_object(Bucket=b, Key="full", Body=b"x", ACL="bucket-owner-full-control")
        self.bob.put_object(Bucket=b, Key="plain", Body=b"x")
        self.assertEqual(self.s3.get_object_acl(Bucket=b, Key="full")["Owner"]["ID"], self.admin_id)
        self.assertEqual(self.s3.get_object_acl(Bucket=b, Key="plain")["Owner"]["ID"], self.bob_id)
        # ObjectWriter: bucket-owner-full-control leaves the writer the owner, with a grant
        w = self.acl_bucket("wr")
        self.bob.put_object(Bucket=w, Key="full", Body=b"x", ACL="bucket-owner-full-control")
        acl = self.s3.get_object_acl(Bucket=w, Key="full")
        self.assertEqual(acl["Owner"]["ID"], self.bob_id)
        ids = sorted((g["Grantee"].get("ID"), g["Permission"]) for g in acl["Grants"])
        self.assertEqual(ids, sorted([(self.bob_id, "FULL_CONTROL"), (self.admin_id, "FULL_CONTROL")]))


class OwnershipControlsTest(AclTestCase):

    def rule(self, b):
        return self.s3.get_bucket_ownership_controls(Bucket=b)["OwnershipControls"]["Rules"]

    def test_default_put_delete(self):
        b = self.make_bucket("oc")
        self.assertEqual(self.rule(b), [{"ObjectOwnership": "BucketOwnerEnforced"}])
        self.s3.put_bucket_ownership_controls(
            Bucket=b, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
        self.assertEqual(self.rule(b), [{"ObjectOwnership": "ObjectWriter"}])
        r = self.s3.delete_bucket_ownership_controls(Bucket=b)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 204)
        self.assertRaisesS3(lambda: self.s3.get_bucket_ownership_controls(Bucket=b),
                            "OwnershipControlsNotFoundError", 404)
        # without controls ACLs work
        self.s3.put_object(Bucket=b, Key="p", Body=b"x", ACL="public-read")
        self.assertAnon("GET", obj_path(b, "p"), 200)

    def test_create_bucket_with_object_ownership_header(self):
        b = self.acl_bucket("och", ownership="BucketOwnerPreferred")
        self.assertEqual(self.rule(b), [{"ObjectOwnership": "BucketOwnerPreferred"}])
        r = self.raw("PUT", "/" + s.unique_bucket("ocbad"), headers={"x-amz-object-ownership": "Nope"})
        self.assertS3Error(r, "InvalidArgument", 400)

    def test_malformed_and_missing_bucket(self):
        b = self.make_bucket("ocm")
        body = b"<OwnershipControls><Rule><ObjectOwnership>Everyone</ObjectOwnership></Rule></OwnershipControls>"
        r = self.raw("PUT", "/%s?ownershipControls" % b, body=body,
                     headers={"Content-MD5": s.md5_b64(body)})
        self.assertS3Error(r, "MalformedXML", 400)
        self.assertRaisesS3(lambda: self.s3.get_bucket_ownership_controls(Bucket=s.unique_bucket("none")),
                            "NoSuchBucket", 404)

    def test_enforced_refused_while_the_bucket_has_a_public_acl(self):
        b = self.acl_bucket("ocacl")
        self.s3.put_bucket_acl(Bucket=b, ACL="public-read")
        self.assertRaisesS3(lambda: self.s3.put_bucket_ownership_controls(
            Bucket=b, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}),
            "InvalidBucketAclWithObjectOwnership", 400)
        self.s3.put_bucket_acl(Bucket=b, ACL="private")
        self.s3.put_bucket_ownership_controls(
            Bucket=b, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})


class EnforcedTest(AclTestCase):

    def test_acls_refused(self):
        b = self.make_bucket("enfacl")
        msg = "The bucket does not allow ACLs"
        for acl in ("public-read", "public-read-write", "authenticated-read", "log-delivery-write"):
            self.assertRaisesS3(lambda: self.s3.put_object(Bucket=b, Key="k", Body=b"x", ACL=acl),
                                "AccessControlListNotSupported", 400, message=msg)
        self.assertNoObject(b, "k")
        self.assertRaisesS3(lambda: self.s3.put_bucket_acl(Bucket=b, ACL="public-read"),
                            "AccessControlListNotSupported", 400, message=msg)
        self.assertRaisesS3(lambda: self.s3.put_object(Bucket=b, Key="k", Body=b"x",
                                                       GrantRead='uri="%s"' % ALL_USERS),
                            "AccessControlListNotSupported", 400)
        self.assertRaisesS3(lambda: self.s3.create_multipart_upload(Bucket=b, Key="m", ACL="public-read"),
                            "AccessControlListNotSupported", 400)
        # the owner's full control is accepted
        self.s3.put_object(Bucket=b, Key="k", Body=b"x", ACL="bucket-owner-full-control")
        self.s3.put_object(Bucket=b, Key="k2", Body=b"x", ACL="private")
        self.s3.put_bucket_acl(Bucket=b, ACL="private")
        self.s3.put_object_acl(Bucket=b, Key="k", ACL="bucket-owner-full-control")
        self.assertRaisesS3(lambda: self.s3.put_object_acl(Bucket=b, Key="k", ACL="public-read"),
                            "AccessControlListNotSupported", 400)
        self.assertAnon("GET", obj_path(b, "k"), 403)

    def test_get_acls_show_the_owner_only(self):
        b = self.make_bucket("enfget")
        self.bob.put_object(Bucket=b, Key="k", Body=b"x")
        for acl in (self.s3.get_bucket_acl(Bucket=b), self.s3.get_object_acl(Bucket=b, Key="k")):
            self.assertEqual(acl["Owner"]["ID"], self.admin_id)
            self.assertEqual(len(acl["Grants"]), 1, acl["Grants"])
            g = acl["Grants"][0]
            self.assertEqual(g["Permission"], "FULL_CONTROL")
            self.assertEqual(g["Grantee"]["Type"], "CanonicalUser")
            self.assertEqual(g["Grantee"]["ID"], self.admin_id)

    def test_create_bucket_with_public_acl_needs_acls_enabled(self):
        name = s.unique_bucket("cpub")
        self.assertRaisesS3(lambda: self.s3.create_bucket(Bucket=name, ACL="public-read"),
                            "InvalidBucketAclWithObjectOwnership", 400)
        self.s3.create_bucket(Bucket=name, ACL="public-read", ObjectOwnership="ObjectWriter")
        self.assertEqual(anon("GET", "/" + name)[0], 200)
        self.s3.create_bucket(Bucket=s.unique_bucket("cpriv"), ACL="private")


class AclEnabledTest(AclTestCase):

    def test_public_read_object(self):
        b = self.acl_bucket("pr")
        self.s3.put_object(Bucket=b, Key="pub", Body=b"hello", ACL="public-read")
        self.s3.put_object(Bucket=b, Key="priv", Body=b"secret")
        self.assertEqual(self.assertAnon("GET", obj_path(b, "pub"), 200), b"hello")
        self.assertAnon("HEAD", obj_path(b, "pub"), 200)
        self.assertAnon("GET", obj_path(b, "priv"), 403)
        self.assertAnon("GET", "/" + b, 403)  # the bucket is not listable
        self.assertAnon("PUT", obj_path(b, "new"), 403, data=b"x")
        self.assertAnon("DELETE", obj_path(b, "pub"), 403)
        self.assertAnon("GET", obj_path(b, "pub") + "?acl", 403)
        acl = self.s3.get_object_acl(Bucket=b, Key="pub")
        grants = sorted((g["Grantee"]["Type"], g["Grantee"].get("URI") or g["Grantee"].get("ID"),
                         g["Permission"]) for g in acl["Grants"])
        self.assertEqual(grants, [("CanonicalUser", self.admin_id, "FULL_CONTROL"),
                                  ("Group", ALL_USERS, "READ")])
        # PutObjectAcl makes the private one public, then private again
        self.s3.put_object_acl(Bucket=b, Key="priv", ACL="public-read")
        self.assertAnon("GET", obj_path(b, "priv"), 200)
        self.s3.put_object_acl(Bucket=b, Key="priv", ACL="private")
        self.assertAnon("GET", obj_path(b, "priv"), 403)

    def test_public_read_bucket_lists(self):
        b = self.acl_bucket("prb")
        self.s3.put_object(Bucket=b, Key="k", Body=b"x")
        self.s3.put_bucket_acl(Bucket=b, ACL="public-read")
        self.assertIn(b"<Key>k</Key>", self.assertAnon("GET", "/" + b, 200))
        self.assertIn(b"<Key>k</Key>", self.assertAnon("GET", "/%s?list-type=2" % b, 200))
        self.assertAnon("GET", obj_path(b, "k"), 403)  # objects keep their own ACL
        self.assertAnon("PUT", obj_path(b, "w"), 403, data=b"x")
        acl = self.s3.get_bucket_acl(Bucket=b)
        self.assertIn({"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"},
                      acl["Grants"])

    def test_public_read_write_bucket_takes_anonymous_writes(self):
        b = self.acl_bucket("prw")
        self.s3.put_bucket_acl(Bucket=b, ACL="public-read-write")
        self.assertAnon("PUT", obj_path(b, "anon"), 200, data=b"from nobody")
        self.assertEqual(self.get_body(b, "anon"), b"from nobody")
        # a POST upload without any signature
        boundary = "----twacl"
        body = ("--%s\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nposted\r\n"
                "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\n"
                "Content-Type: text/plain\r\n\r\nposted body\r\n--%s--\r\n"
                % (boundary, boundary, boundary)).encode()
        st, out = anon("POST", "/" + b, data=body,
                       headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
        self.assertEqual(st, 204, out)
        self.assertEqual(self.get_body(b, "posted"), b"posted body")
        self.assertAnon("DELETE", obj_path(b, "anon"), 204)
        # a private bucket takes no anonymous POST
        p = self.acl_bucket("prwno")
        st, _ = anon("POST", "/" + p, data=body,
                     headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
        self.assertEqual(st, 403)

    def test_authenticated_read(self):
        b = self.acl_bucket("ar")
        self.s3.put_object(Bucket=b, Key="k", Body=b"for users", ACL="authenticated-read")
        self.s3.put_object(Bucket=b, Key="p", Body=b"private")
        self.assertEqual(self.get_body(b, "k", client=self.limited), b"for users")
        self.assertRaisesS3(lambda: self.limited.get_object(Bucket=b, Key="p"), "AccessDenied", 403)
        self.assertAnon("GET", obj_path(b, "k"), 403)
        self.assertRaisesS3(lambda: self.limited.list_objects_v2(Bucket=b), "AccessDenied", 403)
        self.s3.put_bucket_acl(Bucket=b, ACL="authenticated-read")
        self.assertEqual(self.limited.list_objects_v2(Bucket=b)["KeyCount"], 2)

    def test_grant_headers(self):
        b = self.acl_bucket("gh")
        self.s3.put_object(Bucket=b, Key="k", Body=b"x", GrantRead='uri="%s"' % ALL_USERS,
                           GrantFullControl='id="%s"' % self.admin_id)
        self.assertAnon("GET", obj_path(b, "k"), 200)
        limited_id = self.limited.list_buckets()["Owner"]["ID"]
        self.s3.put_object_acl(Bucket=b, Key="k", GrantRead='id="%s", id="%s"' % (limited_id, self.bob_id))
        self.assertEqual(self.get_body(b, "k", client=self.limited), b"x")
        self.assertAnon("GET", obj_path(b, "k"), 403)
        acl = self.s3.get_object_acl(Bucket=b, Key="k")
        self.assertEqual(sorted(g["Grantee"]["DisplayName"] for g in acl["Grants"]), ["bob", "limited"])
        self.assertRaisesS3(lambda: self.s3.put_object_acl(Bucket=b, Key="k", GrantRead='id="%s"' % ("0" * 64)),
                            "InvalidArgument", 400)
        self.assertRaisesS3(lambda: self.s3.put_object_acl(Bucket=b, Key="k",
                                                           GrantRead='emailAddress="a@example.com"'),
                            "MethodNotAllowed", 405)
        self.assertRaisesS3(lambda: self.s3.put_object(Bucket=b, Key="k", Body=b"x", ACL="public-read",
                                                       GrantRead='uri="%s"' % ALL_USERS),
                            "InvalidRequest", 400)
        self.assertRaisesS3(lambda: self.s3.put_object(Bucket=b, Key="k", Body=b"x", ACL="world"),
                            "InvalidArgument", 400)

    def test_access_control_policy_body(self):
        b = self.acl_bucket("body")
        self.s3.put_object(Bucket=b, Key="k", Body=b"x")
        self.s3.put_object_acl(Bucket=b, Key="k", AccessControlPolicy={
            "Owner": {"ID": self.admin_id},
            "Grants": [
                {"Grantee": {"Type": "CanonicalUser", "ID": self.admin_id}, "Permission": "FULL_CONTROL"},
                {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"}]})
        self.assertAnon("GET", obj_path(b, "k"), 200)
        got = self.s3.get_object_acl(Bucket=b, Key="k")["Grants"]
        self.assertIn({"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"}, got)
        self.s3.put_bucket_acl(Bucket=b, AccessControlPolicy={
            "Owner": {"ID": self.admin_id},
            "Grants": [{"Grantee": {"Type": "Group", "URI": AUTH_USERS}, "Permission": "READ"}]})
        self.assertEqual(self.limited.list_objects_v2(Bucket=b)["KeyCount"], 1)
        bad = (b"<AccessControlPolicy><AccessControlList><Grant><Grantee><URI>%s</URI></Grantee>"
               b"<Permission>EVERYTHING</Permission></Grant></AccessControlList></AccessControlPolicy>"
               % ALL_USERS.encode())
        r = self.raw("PUT", obj_path(b, "k") + "?acl", body=bad, headers={"Content-MD5": s.md5_b64(bad)})
        self.assertS3Error(r, "MalformedACLError", 400)
        r = self.raw("PUT", obj_path(b, "k") + "?acl")
        self.assertS3Error(r, "MissingSecurityHeader", 400)
        self.assertRaisesS3(lambda: self.s3.get_object_acl(Bucket=b, Key="missing"), "NoSuchKey", 404)

    def test_multipart_and_copy_carry_the_acl(self):
        b = self.acl_bucket("mpu")
        up = self.s3.create_multipart_upload(Bucket=b, Key="m", ACL="public-read")["UploadId"]
        e = self.s3.upload_part(Bucket=b, Key="m", UploadId=up, PartNumber=1, Body=b"part")["ETag"]
        self.s3.complete_multipart_upload(Bucket=b, Key="m", UploadId=up,
                                          MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
        self.assertEqual(self.assertAnon("GET", obj_path(b, "m"), 200), b"part")
        # the marker of the pending ACL does not leak into the object's headers
        head = self.s3.head_object(Bucket=b, Key="m")["ResponseMetadata"]["HTTPHeaders"]
        self.assertNotIn("x-tw-acl", head)
        self.s3.copy_object(Bucket=b, Key="c", CopySource={"Bucket": b, "Key": "m"}, ACL="public-read")
        self.s3.copy_object(Bucket=b, Key="c2", CopySource={"Bucket": b, "Key": "m"})
        self.assertAnon("GET", obj_path(b, "c"), 200)
        self.assertAnon("GET", obj_path(b, "c2"), 403)

    def test_versions_keep_their_acl(self):
        b = self.acl_bucket("ver")
        self.s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        v1 = self.s3.put_object(Bucket=b, Key="k", Body=b"one", ACL="public-read")["VersionId"]
        self.s3.put_object(Bucket=b, Key="k", Body=b"two")
        self.assertAnon("GET", obj_path(b, "k"), 403)
        self.assertEqual(self.assertAnon("GET", obj_path(b, "k") + "?versionId=" + v1, 200), b"one")
        got = self.s3.get_object_acl(Bucket=b, Key="k", VersionId=v1)["Grants"]
        self.assertIn({"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"}, got)


class ComposeTest(AclTestCase):

    def pab(self, b, **flags):
        cfg = {"BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
               "RestrictPublicBuckets": False}
        cfg.update(flags)
        self.s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration=cfg)

    def test_block_public_acls(self):
        b = self.acl_bucket("bpa")
        self.pab(b, BlockPublicAcls=True)
        self.assertRaisesS3(lambda: self.s3.put_object(Bucket=b, Key="k", Body=b"x", ACL="public-read"),
                            "AccessDenied", 403)
        self.assertNoObject(b, "k")
        self.s3.put_object(Bucket=b, Key="k", Body=b"x")
        self.assertRaisesS3(lambda: self.s3.put_object_acl(Bucket=b, Key="k", ACL="authenticated-read"),
                            "AccessDenied", 403)
        self.assertRaisesS3(lambda: self.s3.put_bucket_acl(Bucket=b, ACL="public-read"), "AccessDenied", 403)
        self.s3.put_object_acl(Bucket=b, Key="k", ACL="private")

    def test_ignore_public_acls(self):
        b = self.acl_bucket("ipa")
        self.s3.put_object(Bucket=b, Key="k", Body=b"x", ACL="public-read")
        self.assertAnon("GET", obj_path(b, "k"), 200)
        self.pab(b, IgnorePublicAcls=True)
        self.assertAnon("GET", obj_path(b, "k"), 403)
        self.s3.delete_public_access_block(Bucket=b)
        self.assertAnon("GET", obj_path(b, "k"), 200)

    def test_policy_deny_wins_and_policy_allow_adds(self):
        b = self.acl_bucket("pol")
        self.s3.put_object(Bucket=b, Key="open/k", Body=b"x", ACL="public-read")
        self.s3.put_object(Bucket=b, Key="closed/k", Body=b"x", ACL="public-read")
        self.s3.put_object(Bucket=b, Key="policy/k", Body=b"x")
        self.s3.put_bucket_policy(Bucket=b, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::%s/closed/*" % b},
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::%s/policy/*" % b}]}))
        self.assertAnon("GET", obj_path(b, "open/k"), 200)
        self.assertAnon("GET", obj_path(b, "closed/k"), 403)
        self.assertAnon("GET", obj_path(b, "policy/k"), 200)  # allowed by the policy alone


class RestartTest(unittest.TestCase):
    """Owners, ownership controls and ACLs are kept across a restart."""

    def test_kept_across_restart(self):
        srv = h.Server(extra_args=["--config", os.path.join(CFG_DIR, "config.json")])
        srv.start()
        try:
            admin = s.s3_client(srv)
            bob = s.s3_client(srv, access_key=KEYS["bob"][0], secret_key=KEYS["bob"][1])
            b = s.unique_bucket("rst")
            bob.create_bucket(Bucket=b, ObjectOwnership="ObjectWriter")
            bob.put_bucket_acl(Bucket=b, ACL="public-read")
            admin.put_object(Bucket=b, Key="k", Body=b"kept", ACL="public-read")
            e = s.unique_bucket("rste")
            admin.create_bucket(Bucket=e)
            admin.delete_bucket_ownership_controls(Bucket=e)
            srv.restart()
            admin = s.s3_client(srv)
            bob_id = bob.list_buckets()["Owner"]["ID"]
            self.assertEqual(admin.get_bucket_acl(Bucket=b)["Owner"]["ID"], bob_id)
            rules = admin.get_bucket_ownership_controls(Bucket=b)["OwnershipControls"]["Rules"]
            self.assertEqual(rules, [{"ObjectOwnership": "ObjectWriter"}])
            with self.assertRaises(ClientError) as cm:
                admin.get_bucket_ownership_controls(Bucket=e)
            self.assertEqual(cm.exception.response["Error"]["Code"], "OwnershipControlsNotFoundError")
            self.assertEqual(admin.get_object_acl(Bucket=b, Key="k")["Owner"]["ID"],
                             admin.list_buckets()["Owner"]["ID"])
            with urllib.request.urlopen("%s/%s/k" % (srv.endpoint, b), timeout=10) as resp:
                self.assertEqual(resp.read(), b"kept")
            with urllib.request.urlopen("%s/%s" % (srv.endpoint, b), timeout=10) as resp:
                self.assertIn(b"<Key>k</Key>", resp.read())
            with self.assertRaises(ClientError) as cm:
                admin.create_bucket(Bucket=b)
            self.assertEqual(cm.exception.response["Error"]["Code"], "BucketAlreadyExists")
        finally:
            srv.cleanup()


@unittest.skipUnless(AWS, "aws-cli not found on PATH")
class CliAclTest(AclTestCase):

    def aws(self, *args):
        env = dict(os.environ)
        env.update({"AWS_ACCESS_KEY_ID": s.ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": s.SECRET_KEY,
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
                    "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_MAX_ATTEMPTS": "1", "AWS_PAGER": ""})
        for v in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
            env.pop(v, None)
        p = subprocess.run([AWS, "--endpoint-url", self.server.endpoint, "--cli-read-timeout", "20",
                            "--output", "json"] + list(args), env=env, capture_output=True, timeout=120)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def test_cli_ownership_and_acls(self):
        b = s.unique_bucket("cli")
        rc, out, err = self.aws("s3api", "create-bucket", "--bucket", b, "--object-ownership", "ObjectWriter")
        self.assertEqual(rc, 0, err)
        rc, out, err = self.aws("s3api", "get-bucket-ownership-controls", "--bucket", b)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["OwnershipControls"]["Rules"], [{"ObjectOwnership": "ObjectWriter"}])
        path = os.path.join(tempfile.mkdtemp(prefix="tweedle-acl-cli-"), "f.txt")
        self.addCleanup(shutil.rmtree, os.path.dirname(path), True)
        with open(path, "wb") as f:
            f.write(b"cli public")
        rc, out, err = self.aws("s3", "cp", path, "s3://%s/f.txt" % b, "--acl", "public-read")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.assertAnon("GET", obj_path(b, "f.txt"), 200), b"cli public")
        rc, out, err = self.aws("s3api", "get-object-acl", "--bucket", b, "--key", "f.txt")
        self.assertEqual(rc, 0, err)
        self.assertIn({"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"},
                      json.loads(out)["Grants"])
        rc, out, err = self.aws("s3api", "put-object-acl", "--bucket", b, "--key", "f.txt", "--acl", "private")
        self.assertEqual(rc, 0, err)
        self.assertAnon("GET", obj_path(b, "f.txt"), 403)
        rc, out, err = self.aws("s3api", "delete-bucket-ownership-controls", "--bucket", b)
        self.assertEqual(rc, 0, err)
        rc, out, err = self.aws("s3api", "get-bucket-ownership-controls", "--bucket", b)
        self.assertNotEqual(rc, 0)
        self.assertIn("OwnershipControlsNotFoundError", err)
        e = s.unique_bucket("clienf")
        self.assertEqual(self.aws("s3", "mb", "s3://" + e)[0], 0)
        rc, out, err = self.aws("s3", "cp", path, "s3://%s/f.txt" % e, "--acl", "public-read")
        self.assertNotEqual(rc, 0)
        self.assertIn("AccessControlListNotSupported", err)


if __name__ == "__main__":
    unittest.main()
