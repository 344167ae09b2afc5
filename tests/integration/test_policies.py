"""Identity policies (config users' "policies"), SQS queue policies and S3
bucket policies, against real clients (boto3, raw SigV4 requests in both SQS
protocols, unsigned urllib GETs).

Users of the module's server (config file):
  * the harness's key (env): no policies -> full access (today's behaviour);
  * "ops": in the config without policies -> full access;
  * "reader": read-only SQS (ReceiveMessage, GetQueue*, ListQueues), an
    explicit Deny on sqs:PurgeQueue beside an Allow sqs:Get*;
  * "s3user": s3:ListBucket on the shared bucket only with s3:prefix
    home/s3user/..., Get/PutObject under home/${aws:username}/;
  * "sender": policies that grant nothing on SQS (a queue Policy must);
  * "mixed": sqs:* allowed, sqs:DeleteQueue explicitly denied.

Wire shapes (AWS): SQS JSON AccessDenied is HTTP 403 with
x-amzn-query-error "AccessDenied;Sender"; SQS query is 403 <ErrorResponse>
<Type>Sender</Type><Code>AccessDenied</Code>; S3 is 403 <Error><Code>
AccessDenied</Code><Message>Access Denied</Message>; SNS is 403
AuthorizationError; a missing bucket policy is 404 NoSuchBucketPolicy; a
malformed one 400 MalformedPolicy; a malformed queue Policy 400
InvalidAttributeValue.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import harness as h
import s3_harness as s3h
from botocore.exceptions import ClientError

SERVER = None
ACCOUNT = h.ACCOUNT


def arn_user(name):
    return "arn:aws:iam::%s:user/%s" % (ACCOUNT, name)


BUCKET = "pol-shared-" + h.unique("b").lower()[-8:]

USERS = [
    {"name": "ops", "access_key_id": "AKIDOPS", "secret_access_key": "ops-secret"},
    {"name": "reader", "access_key_id": "AKIDREADER", "secret_access_key": "reader-secret",
     "policies": [
         {"Version": "2012-10-17", "Statement": [
             {"Sid": "read", "Effect": "Allow",
              "Action": ["sqs:ReceiveMessage", "sqs:Get*", "sqs:ListQueues"],
              "Resource": "*"}]},
         {"Version": "2012-10-17", "Statement": {
             "Effect": "Deny", "Action": "sqs:PurgeQueue", "Resource": "*"}}]},
    {"name": "s3user", "access_key_id": "AKIDS3USER", "secret_access_key": "s3user-secret",
     "policies": [{"Version": "2012-10-17", "Statement": [
         {"Effect": "Allow", "Action": "s3:ListBucket",
          "Resource": "arn:aws:s3:::" + BUCKET,
          "Condition": {"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}}},
         {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
          "Resource": "arn:aws:s3:::" + BUCKET + "/home/${aws:username}/*"}]}]},
    {"name": "sender", "access_key_id": "AKIDSENDER", "secret_access_key": "sender-secret",
     "policies": [{"Version": "2012-10-17", "Statement": [
         {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"},
         {"Effect": "Allow", "Action": "sqs:ListQueues",
          "Resource": "arn:aws:sqs:*:%s:*" % h.ACCOUNT}]}]},
    {"name": "mixed", "access_key_id": "AKIDMIXED", "secret_access_key": "mixed-secret",
     "policies": [{"Version": "2012-10-17", "Statement": [
         {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"},
         {"Effect": "Deny", "Action": "sqs:DeleteQueue",
          "Resource": "arn:aws:sqs:*:*:*"}]}]},
]
KEYS = {u["name"]: (u["access_key_id"], u["secret_access_key"]) for u in USERS}


def setUpModule():
    global CFG_DIR
    CFG_DIR = tempfile.mkdtemp(prefix="tweedle-pol-cfg-")
    unittest.addModuleCleanup(shutil.rmtree, CFG_DIR, True)
    path = os.path.join(CFG_DIR, "config.json")
    with open(path, "w") as f:
        json.dump({"users": USERS}, f)
    h.start_module_server(__name__, extra_args=["--config", path])


def tearDownModule():
    h.stop_module_server(__name__)


def sqs_as(name):
    ak, sk = KEYS[name]
    return SERVER.client(access_key=ak, secret_key=sk)


def s3_as(name=None):
    if name is None:
        return s3h.s3_client(SERVER)
    ak, sk = KEYS[name]
    return s3h.s3_client(SERVER, access_key=ak, secret_key=sk)


def unsigned_get(path, method="GET", data=None):
    """(status, body) of an unsigned request, as curl or a browser sends it."""
    req = urllib.request.Request(SERVER.endpoint + path, method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class PolicyTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = SERVER
        cls.admin = SERVER.client()

    def make_queue(self, prefix="pol"):
        return self.admin.create_queue(QueueName=h.unique(prefix))["QueueUrl"]

    def assertDenied(self, fn, code="AccessDenied", status=403):
        with self.assertRaises(ClientError) as cm:
            fn()
        err = cm.exception.response
        self.assertEqual(err["Error"]["Code"], code, err)
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], status, err)
        return err


class SqsIdentityPolicyTest(PolicyTestCase):
    def test_users_without_policies_keep_full_access(self):
        for c in (self.admin, sqs_as("ops")):
            url = c.create_queue(QueueName=h.unique("free"))["QueueUrl"]
            c.send_message(QueueUrl=url, MessageBody="x")
            c.purge_queue(QueueUrl=url)
            c.delete_queue(QueueUrl=url)

    def test_read_only_user_reads_but_cannot_write(self):
        url = self.make_queue()
        self.admin.send_message(QueueUrl=url, MessageBody="hello")
        reader = sqs_as("reader")
        self.assertIn(url, reader.list_queues(QueueNamePrefix="pol").get("QueueUrls", []))
        self.assertEqual(reader.get_queue_url(QueueName=url.rsplit("/", 1)[1])["QueueUrl"], url)
        msgs = reader.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
        self.assertEqual([m["Body"] for m in msgs], ["hello"])
        err = self.assertDenied(lambda: reader.send_message(QueueUrl=url, MessageBody="no"))
        msg = err["Error"]["Message"]
        self.assertIn("User: %s is not authorized to perform: sqs:SendMessage" % arn_user("reader"),
                      msg)
        self.assertIn("arn:aws:sqs:%s:%s:%s" % (h.REGION, ACCOUNT, url.rsplit("/", 1)[1]), msg)
        self.assertDenied(lambda: reader.delete_message(QueueUrl=url,
                                                        ReceiptHandle=msgs[0]["ReceiptHandle"]))
        self.assertDenied(lambda: reader.create_queue(QueueName=h.unique("nope")))
        # nothing changed: the message is still there for the admin
        self.admin.change_message_visibility(QueueUrl=url, ReceiptHandle=msgs[0]["ReceiptHandle"],
                                             VisibilityTimeout=0)
        got = self.admin.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
        self.assertEqual([m["Body"] for m in got], ["hello"])

    def test_list_queues_is_checked_on_the_account(self):
        sqs_as("sender").list_queues()  # arn:aws:sqs:*:ACCOUNT:* covers every queue
        self.assertDenied(lambda: sqs_as("s3user").list_queues())

    def test_explicit_deny_in_a_second_policy_wins(self):
        url = self.make_queue()
        reader = sqs_as("reader")
        reader.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])  # Allow sqs:Get*
        self.assertDenied(lambda: reader.purge_queue(QueueUrl=url))

    def test_explicit_deny_beats_allow_in_one_policy(self):
        mixed = sqs_as("mixed")
        url = mixed.create_queue(QueueName=h.unique("mixed"))["QueueUrl"]
        mixed.send_message(QueueUrl=url, MessageBody="x")
        self.assertDenied(lambda: mixed.delete_queue(QueueUrl=url))
        self.admin.get_queue_attributes(QueueUrl=url)  # still there
        self.admin.delete_queue(QueueUrl=url)

    def test_json_protocol_shape(self):
        url = self.make_queue()
        ak, sk = KEYS["reader"]
        r = h.json_request(SERVER, "SendMessage", {"QueueUrl": url, "MessageBody": "x"},
                           access_key=ak, secret_key=sk)
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.header("x-amzn-query-error"), "AccessDenied;Sender")
        doc = r.json()
        self.assertTrue(doc["__type"].endswith("#AccessDeniedException"), doc)
        self.assertIn("sqs:SendMessage", doc["message"])

    def test_query_protocol_shape(self):
        url = self.make_queue()
        ak, sk = KEYS["reader"]
        r = h.query_request(SERVER, "SendMessage", {"QueueUrl": url, "MessageBody": "x"},
                            access_key=ak, secret_key=sk)
        self.assertEqual(r.status, 403, r)
        typ, code, msg, rid = h.xml_error(r)
        self.assertEqual((typ, code), ("Sender", "AccessDenied"))
        self.assertIn("is not authorized to perform: sqs:SendMessage", msg)
        # the queue URL path form (no QueueUrl parameter) names the same queue
        path = "/" + url.split("/", 3)[3]
        r = h.query_request(SERVER, "SendMessage", {"MessageBody": "x"}, path=path,
                            access_key=ak, secret_key=sk)
        self.assertEqual(r.status, 403, r)
        r = h.query_request(SERVER, "GetQueueAttributes", {"AttributeName.1": "All"}, path=path,
                            access_key=ak, secret_key=sk)
        self.assertEqual(r.status, 200, r)


class SqsQueuePolicyTest(PolicyTestCase):
    def policy_for(self, url, principal, action="sqs:SendMessage", effect="Allow"):
        name = url.rsplit("/", 1)[1]
        return json.dumps({"Version": "2012-10-17", "Id": "p", "Statement": [{
            "Sid": "s", "Effect": effect, "Principal": principal, "Action": action,
            "Resource": "arn:aws:sqs:%s:%s:%s" % (h.REGION, ACCOUNT, name)}]})

    def test_queue_policy_lets_a_named_user_send(self):
        url = self.make_queue()
        sender = sqs_as("sender")
        self.assertDenied(lambda: sender.send_message(QueueUrl=url, MessageBody="before"))
        self.admin.set_queue_attributes(QueueUrl=url, Attributes={
            "Policy": self.policy_for(url, {"AWS": arn_user("sender")})})
        stored = self.admin.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
        self.assertIn(arn_user("sender"), stored["Attributes"]["Policy"])
        sender.send_message(QueueUrl=url, MessageBody="granted")
        # only what the policy names: no receive
        self.assertDenied(lambda: sender.receive_message(QueueUrl=url))
        # another user with policies of its own is not named
        self.assertDenied(lambda: sqs_as("reader").send_message(QueueUrl=url, MessageBody="x"))
        got = self.admin.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
        self.assertEqual([m["Body"] for m in got], ["granted"])
        # the policy removed: denied again
        self.admin.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
        self.assertDenied(lambda: sender.send_message(QueueUrl=url, MessageBody="after"))

    def test_queue_policy_deny_beats_an_unrestricted_user(self):
        url = self.make_queue()
        self.admin.set_queue_attributes(QueueUrl=url, Attributes={
            "Policy": self.policy_for(url, "*", action="sqs:PurgeQueue", effect="Deny")})
        self.assertDenied(lambda: sqs_as("ops").purge_queue(QueueUrl=url))
        sqs_as("ops").send_message(QueueUrl=url, MessageBody="still fine")

    def test_seed_eventbridge_policy_is_accepted_as_written(self):
        # examples/thumbnails/setup.py: a service principal with an aws:SourceArn condition
        url = self.make_queue()
        name = url.rsplit("/", 1)[1]
        policy = {"Version": "2012-10-17", "Statement": [{
            "Sid": "AWSEvents_HD-image-upload-trigger", "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": "arn:aws:sqs:%s:%s:%s" % (h.REGION, ACCOUNT, name),
            "Condition": {"ArnEquals": {"aws:SourceArn":
                                        "arn:aws:events:%s:%s:rule/HD" % (h.REGION, ACCOUNT)}}}]}
        self.admin.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        got = self.admin.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
        self.assertEqual(json.loads(got["Attributes"]["Policy"]), policy)
        self.admin.send_message(QueueUrl=url, MessageBody="admin")  # no policies: full access
        # the service principal names no user
        self.assertDenied(lambda: sqs_as("sender").send_message(QueueUrl=url, MessageBody="x"))

    def test_add_permission_grants_the_account(self):
        url = self.make_queue()
        sender = sqs_as("sender")
        self.assertDenied(lambda: sender.send_message(QueueUrl=url, MessageBody="x"))
        self.admin.add_permission(QueueUrl=url, Label="acct", AWSAccountIds=[ACCOUNT],
                                  Actions=["SendMessage"])
        sender.send_message(QueueUrl=url, MessageBody="via AddPermission")
        self.assertDenied(lambda: sender.receive_message(QueueUrl=url))

    def test_malformed_queue_policy(self):
        url = self.make_queue()
        for bad in ('{"Statement": []}', "not json",
                    json.dumps({"Version": "2012-10-17", "Statement": {
                        "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}}),
                    json.dumps({"Version": "2012-10-17", "Statement": {
                        "Effect": "Maybe", "Principal": "*", "Action": "sqs:SendMessage"}})):
            with self.assertRaises(ClientError) as cm:
                self.admin.set_queue_attributes(QueueUrl=url, Attributes={"Policy": bad})
            err = cm.exception.response
            self.assertEqual(err["Error"]["Code"], "InvalidAttributeValue", (bad, err))
            self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], 400)


class ConsoleTest(PolicyTestCase):
    def login(self, name):
        ak, sk = KEYS[name]
        body = json.dumps({"access_key_id": ak, "secret_access_key": sk}).encode()
        req = urllib.request.Request(SERVER.endpoint + "/_/console/api/login", data=body,
                                     method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def test_users_with_policies_stay_out_of_the_console(self):
        # the console calls the engines directly: it would bypass the policies
        status, doc = self.login("reader")
        self.assertEqual(status, 403, doc)
        self.assertIn("policies", json.dumps(doc))
        self.assertEqual(self.login("ops")[0], 200)


class SnsAndOthersTest(PolicyTestCase):
    def test_sns_publish_denied_is_authorization_error(self):
        ak, sk = KEYS["reader"]
        admin_sns = SERVER_client("sns")
        topic = admin_sns.create_topic(Name=h.unique("poltopic"))["TopicArn"]
        reader_sns = SERVER_client("sns", ak, sk)
        err = self.assertDenied(lambda: reader_sns.publish(TopicArn=topic, Message="x"),
                                code="AuthorizationError")
        self.assertIn("sns:Publish", err["Error"]["Message"])
        admin_sns.publish(TopicArn=topic, Message="x")
        ops_sns = SERVER_client("sns", *KEYS["ops"])
        ops_sns.publish(TopicArn=topic, Message="y")

    def test_topic_policy_decides_publish(self):
        admin_sns = SERVER_client("sns")
        topic = admin_sns.create_topic(Name=h.unique("poltopic"))["TopicArn"]
        sender_sns = SERVER_client("sns", *KEYS["sender"])  # its policies grant nothing on SNS
        reader_sns = SERVER_client("sns", *KEYS["reader"])
        self.assertDenied(lambda: sender_sns.publish(TopicArn=topic, Message="x"),
                          code="AuthorizationError")
        admin_sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy",
                                       AttributeValue=json.dumps({
                                           "Version": "2012-10-17", "Statement": [{
                                               "Effect": "Allow",
                                               "Principal": {"AWS": arn_user("sender")},
                                               "Action": "sns:Publish", "Resource": topic}]}))
        sender_sns.publish(TopicArn=topic, Message="granted by the topic policy")
        self.assertDenied(lambda: sender_sns.delete_topic(TopicArn=topic),
                          code="AuthorizationError")
        self.assertDenied(lambda: reader_sns.publish(TopicArn=topic, Message="x"),
                          code="AuthorizationError")
        admin_sns.publish(TopicArn=topic, Message="admin still")
        # an explicit Deny binds even users without policies
        admin_sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy",
                                       AttributeValue=json.dumps({
                                           "Version": "2012-10-17", "Statement": [{
                                               "Effect": "Deny", "Principal": "*",
                                               "Action": "SNS:Publish", "Resource": topic}]}))
        err = self.assertDenied(lambda: admin_sns.publish(TopicArn=topic, Message="x"),
                                code="AuthorizationError")
        self.assertIn("sns:Publish", err["Error"]["Message"])
        self.assertDenied(lambda: sender_sns.publish(TopicArn=topic, Message="x"),
                          code="AuthorizationError")
        admin_sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy",
                                       AttributeValue=json.dumps({
                                           "Version": "2012-10-17", "Statement": [{
                                               "Effect": "Allow", "Principal": {"AWS": "*"},
                                               "Action": "sns:GetTopicAttributes",
                                               "Resource": topic}]}))
        admin_sns.publish(TopicArn=topic, Message="open again")
        self.assertDenied(lambda: sender_sns.publish(TopicArn=topic, Message="x"),
                          code="AuthorizationError")

    def test_eventbridge_and_logs_denied(self):
        ak, sk = KEYS["reader"]
        ev = SERVER_client("events", ak, sk)
        self.assertDenied(lambda: ev.put_events(Entries=[{
            "Source": "s", "DetailType": "d", "Detail": "{}"}]), code="AccessDeniedException",
            status=400)
        SERVER_client("events").put_events(Entries=[{"Source": "s", "DetailType": "d",
                                                     "Detail": "{}"}])
        logs = SERVER_client("logs", ak, sk)
        self.assertDenied(lambda: logs.create_log_group(logGroupName=h.unique("g")),
                          code="AccessDeniedException", status=400)


def SERVER_client(service, ak=h.ACCESS_KEY, sk=h.SECRET_KEY):
    import boto3
    from botocore.config import Config
    return boto3.session.Session(aws_access_key_id=ak, aws_secret_access_key=sk,
                                 region_name=h.REGION).client(
        service, endpoint_url=SERVER.endpoint,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


class S3PolicyTest(PolicyTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s3 = s3_as()
        try:
            cls.s3.create_bucket(Bucket=BUCKET)
        except ClientError:
            pass

    def test_prefix_user(self):
        me = s3_as("s3user")
        me.put_object(Bucket=BUCKET, Key="home/s3user/a.txt", Body=b"mine")
        self.s3.put_object(Bucket=BUCKET, Key="home/other/b.txt", Body=b"theirs")
        got = me.list_objects_v2(Bucket=BUCKET, Prefix="home/s3user/")
        keys = [o["Key"] for o in got.get("Contents", [])]
        self.assertIn("home/s3user/a.txt", keys)
        self.assertTrue(all(k.startswith("home/s3user/") for k in keys), keys)
        me.list_objects(Bucket=BUCKET, Prefix="home/s3user/")  # V1 too
        self.assertEqual(me.get_object(Bucket=BUCKET, Key="home/s3user/a.txt")["Body"].read(),
                         b"mine")
        err = self.assertDenied(lambda: me.list_objects_v2(Bucket=BUCKET))
        self.assertEqual(err["Error"]["Message"], s3h.MSG_ACCESS_DENIED)
        self.assertDenied(lambda: me.list_objects_v2(Bucket=BUCKET, Prefix="home/other/"))
        self.assertDenied(lambda: me.get_object(Bucket=BUCKET, Key="home/other/b.txt"))
        self.assertDenied(lambda: me.put_object(Bucket=BUCKET, Key="home/other/c", Body=b"x"))
        self.assertDenied(lambda: me.delete_object(Bucket=BUCKET, Key="home/s3user/a.txt"))
        self.assertDenied(lambda: me.list_buckets())
        self.assertDenied(lambda: me.create_bucket(Bucket=h.unique("nb").lower()))
        # nothing was written by the denied PUT
        self.assertDenied(lambda: self.s3.head_object(Bucket=BUCKET, Key="home/other/c"),
                          code="404", status=404)

    def test_post_policy_upload_is_checked_as_put_object(self):
        ak, sk = KEYS["s3user"]
        me = s3h.s3_client(SERVER, signature_version="s3v4", access_key=ak, secret_key=sk)

        def upload(key):
            p = me.generate_presigned_post(BUCKET, key)
            boundary = "----twpol" + h.unique("x")
            body = b""
            for k, v in list(p["fields"].items()) + [("file", "data")]:
                extra = '; filename="f.bin"' if k == "file" else ""
                body += ('--%s\r\nContent-Disposition: form-data; name="%s"%s\r\n\r\n%s\r\n'
                         % (boundary, k, extra, v)).encode()
            body += ("--%s--\r\n" % boundary).encode()
            req = urllib.request.Request(p["url"], data=body, method="POST", headers={
                "Content-Type": "multipart/form-data; boundary=" + boundary})
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    return resp.status
            except urllib.error.HTTPError as e:
                return e.code

        self.assertEqual(upload("home/s3user/post.bin"), 204)
        self.assertEqual(upload("home/other/post.bin"), 403)
        self.assertDenied(lambda: self.s3.head_object(Bucket=BUCKET, Key="home/other/post.bin"),
                          code="404", status=404)

    def test_bucket_policy_public_prefix(self):
        b = "pol-pub-" + h.unique("b").lower()[-8:]
        self.s3.create_bucket(Bucket=b)
        self.s3.put_object(Bucket=b, Key="public/site.css", Body=b"body{}")
        self.s3.put_object(Bucket=b, Key="private/secret", Body=b"s3cr3t")
        # no policy yet
        err = self.assertDenied(lambda: self.s3.get_bucket_policy(Bucket=b),
                                code="NoSuchBucketPolicy", status=404)
        self.assertEqual(err["Error"]["Message"], "The bucket policy does not exist")
        self.assertEqual(unsigned_get("/%s/public/site.css" % b)[0], 403)
        policy = {"Version": "2012-10-17", "Statement": [{
            "Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::%s/public/*" % b}]}
        self.s3.put_bucket_policy(Bucket=b, Policy=json.dumps(policy))
        self.assertEqual(json.loads(self.s3.get_bucket_policy(Bucket=b)["Policy"]), policy)
        status = self.s3.get_bucket_policy_status(Bucket=b)["PolicyStatus"]
        self.assertTrue(status["IsPublic"])
        # anonymous: the public prefix only, reads only
        self.assertEqual(unsigned_get("/%s/public/site.css" % b), (200, b"body{}"))
        self.assertEqual(unsigned_get("/%s/public/site.css" % b, method="HEAD")[0], 200)
        st, body = unsigned_get("/%s/private/secret" % b)
        self.assertEqual(st, 403)
        self.assertIn(b"<Code>AccessDenied</Code>", body)
        self.assertEqual(unsigned_get("/%s?list-type=2" % b)[0], 403)
        self.assertEqual(unsigned_get("/%s/public/new" % b, method="PUT", data=b"x")[0], 403)
        self.assertEqual(unsigned_get("/%s/public/site.css" % b, method="DELETE")[0], 403)
        self.assertEqual(unsigned_get("/")[0], 403)
        self.s3.head_object(Bucket=b, Key="public/site.css")
        self.assertDenied(lambda: self.s3.head_object(Bucket=b, Key="public/new"),
                          code="404", status=404)
        # a narrower policy is not public; deleting it closes the prefix again
        policy["Statement"][0]["Condition"] = {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
        self.s3.put_bucket_policy(Bucket=b, Policy=json.dumps(policy))
        self.assertFalse(self.s3.get_bucket_policy_status(Bucket=b)["PolicyStatus"]["IsPublic"])
        self.assertEqual(unsigned_get("/%s/public/site.css" % b)[0], 403)
        self.s3.delete_bucket_policy(Bucket=b)
        self.assertDenied(lambda: self.s3.get_bucket_policy(Bucket=b),
                          code="NoSuchBucketPolicy", status=404)
        self.assertEqual(unsigned_get("/%s/public/site.css" % b)[0], 403)

    def test_bucket_policy_grants_and_denies_users(self):
        b = "pol-usr-" + h.unique("b").lower()[-8:]
        self.s3.create_bucket(Bucket=b)
        self.s3.put_object(Bucket=b, Key="k", Body=b"v")
        sender = s3_as("sender")  # its own policies grant no object access
        self.assertDenied(lambda: sender.get_object(Bucket=b, Key="k"))
        self.s3.put_bucket_policy(Bucket=b, Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": arn_user("sender")},
                 "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::%s/*" % b},
                {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:DeleteObject",
                 "Resource": "arn:aws:s3:::%s/*" % b}]}))
        self.assertEqual(sender.get_object(Bucket=b, Key="k")["Body"].read(), b"v")
        self.assertFalse(self.s3.get_bucket_policy_status(Bucket=b)["PolicyStatus"]["IsPublic"])
        # explicit Deny in the bucket policy holds even for a user without policies
        self.assertDenied(lambda: self.s3.delete_object(Bucket=b, Key="k"))
        self.s3.delete_bucket_policy(Bucket=b)
        self.s3.delete_object(Bucket=b, Key="k")

    def test_malformed_bucket_policy(self):
        b = "pol-bad-" + h.unique("b").lower()[-8:]
        self.s3.create_bucket(Bucket=b)
        for bad in ("nope", '{"Version":"2012-10-17","Statement":[]}',
                    json.dumps({"Version": "2012-10-17", "Statement": {
                        "Effect": "Allow", "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::%s/*" % b}}),
                    json.dumps({"Version": "2012-10-17", "Statement": {
                        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                        "Resource": "*", "Condition": {"StringAlmost": {"a": "b"}}}})):
            self.assertDenied(lambda: self.s3.put_bucket_policy(Bucket=b, Policy=bad),
                              code="MalformedPolicy", status=400)
        self.assertDenied(lambda: self.s3.get_bucket_policy(Bucket=b),
                          code="NoSuchBucketPolicy", status=404)
        self.assertDenied(lambda: self.s3.get_bucket_policy(Bucket=b + "-none"),
                          code="NoSuchBucket", status=404)


class PublicAccessBlockTest(PolicyTestCase):
    """Put/Get/DeletePublicAccessBlock: NoSuchPublicAccessBlockConfiguration
    (404) without one; BlockPublicPolicy refuses a public PutBucketPolicy with
    403 AccessDenied; RestrictPublicBuckets makes a public policy grant nothing
    to anonymous callers while the account's users keep their access."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s3 = s3_as()

    def public_policy(self, b, prefix="public/"):
        return json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::%s/%s*" % (b, prefix)}]})

    def test_put_get_delete(self):
        b = "pol-pab-" + h.unique("b").lower()[-8:]
        self.s3.create_bucket(Bucket=b)
        err = self.assertDenied(lambda: self.s3.get_public_access_block(Bucket=b),
                                code="NoSuchPublicAccessBlockConfiguration", status=404)
        self.assertEqual(err["Error"]["Message"],
                         "The public access block configuration was not found")
        cfg = {"BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
               "RestrictPublicBuckets": True}
        self.s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration=cfg)
        got = self.s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"]
        self.assertEqual(got, cfg)
        # absent flags are false
        self.s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
            "IgnorePublicAcls": True})
        got = self.s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"]
        self.assertEqual(got, {"BlockPublicAcls": False, "IgnorePublicAcls": True,
                               "BlockPublicPolicy": False, "RestrictPublicBuckets": False})
        self.s3.delete_public_access_block(Bucket=b)
        self.assertDenied(lambda: self.s3.get_public_access_block(Bucket=b),
                          code="NoSuchPublicAccessBlockConfiguration", status=404)
        self.s3.delete_public_access_block(Bucket=b)  # idempotent, as S3
        self.assertDenied(lambda: self.s3.get_public_access_block(Bucket=b + "-none"),
                          code="NoSuchBucket", status=404)
        self.assertDenied(lambda: self.s3.put_public_access_block(
            Bucket=b + "-none", PublicAccessBlockConfiguration={"BlockPublicAcls": True}),
            code="NoSuchBucket", status=404)
        # a user whose policies do not grant the actions is refused
        sender = s3_as("sender")
        self.assertDenied(lambda: sender.get_public_access_block(Bucket=b))
        self.assertDenied(lambda: sender.put_public_access_block(
            Bucket=b, PublicAccessBlockConfiguration={"BlockPublicAcls": False}))

    def test_block_public_policy(self):
        b = "pol-bpp-" + h.unique("b").lower()[-8:]
        self.s3.create_bucket(Bucket=b)
        self.s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
            "BlockPublicPolicy": True})
        err = self.assertDenied(lambda: self.s3.put_bucket_policy(
            Bucket=b, Policy=self.public_policy(b)))
        self.assertEqual(err["Error"]["Message"], s3h.MSG_ACCESS_DENIED)
        self.assertDenied(lambda: self.s3.get_bucket_policy(Bucket=b),
                          code="NoSuchBucketPolicy", status=404)
        # a policy that is not public is still accepted
        private = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": arn_user("sender")},
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::%s/*" % b}]})
        self.s3.put_bucket_policy(Bucket=b, Policy=private)
        self.assertFalse(self.s3.get_bucket_policy_status(Bucket=b)["PolicyStatus"]["IsPublic"])
        # without the block, the public policy goes in
        self.s3.delete_public_access_block(Bucket=b)
        self.s3.put_bucket_policy(Bucket=b, Policy=self.public_policy(b))
        self.assertTrue(self.s3.get_bucket_policy_status(Bucket=b)["PolicyStatus"]["IsPublic"])

    def test_restrict_public_buckets(self):
        b = "pol-rpb-" + h.unique("b").lower()[-8:]
        self.s3.create_bucket(Bucket=b)
        self.s3.put_object(Bucket=b, Key="public/a.txt", Body=b"hello")
        self.s3.put_bucket_policy(Bucket=b, Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                 "Resource": "arn:aws:s3:::%s/public/*" % b},
                {"Effect": "Allow", "Principal": {"AWS": arn_user("sender")},
                 "Action": "s3:GetObject", "Resource": "arn:aws:s3:::%s/*" % b}]}))
        self.assertEqual(unsigned_get("/%s/public/a.txt" % b), (200, b"hello"))
        self.s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
            "RestrictPublicBuckets": True})
        st, body = unsigned_get("/%s/public/a.txt" % b)
        self.assertEqual(st, 403)
        self.assertIn(b"<Code>AccessDenied</Code>", body)
        # the account's users keep what the policy grants them
        sender = s3_as("sender")
        self.assertEqual(sender.get_object(Bucket=b, Key="public/a.txt")["Body"].read(), b"hello")
        self.assertEqual(self.s3.get_object(Bucket=b, Key="public/a.txt")["Body"].read(), b"hello")
        # other flags do not restrict
        self.s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": False})
        self.assertEqual(unsigned_get("/%s/public/a.txt" % b), (200, b"hello"))
        self.s3.delete_public_access_block(Bucket=b)
        self.assertEqual(unsigned_get("/%s/public/a.txt" % b), (200, b"hello"))


class DeliveryPolicyTest(PolicyTestCase):
    """Queue policies written for service principals, as AWS's docs have them (S3
    and EventBridge with aws:SourceArn), decide the deliveries."""

    def service_policy(self, url, service, source_arn):
        name = url.rsplit("/", 1)[1]
        return json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": service}, "Action": "sqs:SendMessage",
            "Resource": "arn:aws:sqs:%s:%s:%s" % (h.REGION, ACCOUNT, name),
            "Condition": {"ArnLike": {"aws:SourceArn": source_arn}}}]})

    def bodies(self, url, wait=2):
        got = self.admin.receive_message(QueueUrl=url, WaitTimeSeconds=wait,
                                         MaxNumberOfMessages=10).get("Messages", [])
        for m in got:
            self.admin.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return [m["Body"] for m in got]

    def test_s3_notifications_honour_source_arn(self):
        s3 = s3_as()
        url = self.make_queue("notif")
        arn = "arn:aws:sqs:%s:%s:%s" % (h.REGION, ACCOUNT, url.rsplit("/", 1)[1])
        good = "pol-ok-" + h.unique("b").lower()[-8:]
        bad = "pol-no-" + h.unique("b").lower()[-8:]
        self.admin.set_queue_attributes(QueueUrl=url, Attributes={
            "Policy": self.service_policy(url, "s3.amazonaws.com", "arn:aws:s3:::" + good)})
        for b in (good, bad):
            s3.create_bucket(Bucket=b)
            s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
        self.bodies(url, wait=1)  # test events, if any
        s3.put_object(Bucket=good, Key="a", Body=b"x")
        s3.put_object(Bucket=bad, Key="b", Body=b"x")
        got = [json.loads(b) for b in self.bodies(url)]
        buckets = [r["s3"]["bucket"]["name"] for d in got for r in d.get("Records", [])]
        self.assertEqual(buckets, [good], got)

    def test_s3_to_sns_honours_the_topic_policy(self):
        s3 = s3_as()
        sns = SERVER_client("sns")
        topic = sns.create_topic(Name=h.unique("poltop"))["TopicArn"]
        url = self.make_queue("snsq")
        qarn = "arn:aws:sqs:%s:%s:%s" % (h.REGION, ACCOUNT, url.rsplit("/", 1)[1])
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn,
                      Attributes={"RawMessageDelivery": "true"})
        good = "pol-tok-" + h.unique("b").lower()[-8:]
        bad = "pol-tno-" + h.unique("b").lower()[-8:]
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "SNS:Publish", "Resource": topic,
                "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:*:*:" + good},
                              "StringEquals": {"aws:SourceAccount": ACCOUNT}}}]}))
        for b in (good, bad):
            s3.create_bucket(Bucket=b)
            s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration={
                "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]})
        self.bodies(url, wait=1)  # test events, if any
        s3.put_object(Bucket=good, Key="a", Body=b"x")
        s3.put_object(Bucket=bad, Key="b", Body=b"x")
        got = [json.loads(b) for b in self.bodies(url)]
        buckets = [r["s3"]["bucket"]["name"] for d in got for r in d.get("Records", [])]
        self.assertEqual(buckets, [good], got)
        # a topic policy that does not name S3 takes every bucket's events
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": arn_user("sender")},
                "Action": "sns:Publish", "Resource": topic}]}))
        s3.put_object(Bucket=bad, Key="c", Body=b"x")
        got = [json.loads(b) for b in self.bodies(url)]
        buckets = [r["s3"]["bucket"]["name"] for d in got for r in d.get("Records", [])]
        self.assertEqual(buckets, [bad], got)

    def test_eventbridge_seed_policy_works_as_written(self):
        ev = SERVER_client("events")
        url = self.make_queue("ebq")
        arn = "arn:aws:sqs:%s:%s:%s" % (h.REGION, ACCOUNT, url.rsplit("/", 1)[1])
        rule_ok, rule_no = h.unique("ok"), h.unique("no")
        rule_arn = ev.put_rule(Name=rule_ok, EventPattern=json.dumps({"source": ["pol.ok"]}))[
            "RuleArn"]
        ev.put_rule(Name=rule_no, EventPattern=json.dumps({"source": ["pol.no"]}))
        for r in (rule_ok, rule_no):
            ev.put_targets(Rule=r, Targets=[{"Id": "q", "Arn": arn}])
        self.admin.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Sid": "AWSEvents_seed", "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
                "Resource": arn, "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}]})})
        ev.put_events(Entries=[{"Source": "pol.ok", "DetailType": "d", "Detail": "{}"},
                               {"Source": "pol.no", "DetailType": "d", "Detail": "{}"}])
        got = [json.loads(b)["source"] for b in self.bodies(url)]
        self.assertEqual(got, ["pol.ok"])


class DurabilityAndConfigTest(unittest.TestCase):
    def test_bucket_policy_survives_a_restart(self):
        srv = h.Server()
        try:
            srv.start()
            s3 = s3h.s3_client(srv)
            s3.create_bucket(Bucket="durable-pol")
            s3.put_object(Bucket="durable-pol", Key="public/x", Body=b"x")
            s3.put_bucket_policy(Bucket="durable-pol", Policy=json.dumps({
                "Version": "2012-10-17", "Statement": {
                    "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::durable-pol/public/*"}}))
            srv.restart()
            req = urllib.request.Request(srv.endpoint + "/durable-pol/public/x")
            with urllib.request.urlopen(req, timeout=10) as resp:
                self.assertEqual(resp.read(), b"x")
            # a PublicAccessBlock is durable too, and restricts after the restart
            s3 = s3h.s3_client(srv)
            s3.put_public_access_block(Bucket="durable-pol", PublicAccessBlockConfiguration={
                "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
            srv.restart()
            s3 = s3h.s3_client(srv)
            self.assertEqual(s3.get_public_access_block(Bucket="durable-pol")[
                "PublicAccessBlockConfiguration"], {
                    "BlockPublicAcls": False, "IgnorePublicAcls": False,
                    "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
            with self.assertRaises(urllib.error.HTTPError) as cm:
                urllib.request.urlopen(urllib.request.Request(
                    srv.endpoint + "/durable-pol/public/x"), timeout=10)
            self.assertEqual(cm.exception.code, 403)
            s3.delete_public_access_block(Bucket="durable-pol")
            # a deleted bucket's policy does not come back with a new bucket
            s3 = s3h.s3_client(srv)
            s3.delete_object(Bucket="durable-pol", Key="public/x")
            s3.delete_bucket(Bucket="durable-pol")
            s3.create_bucket(Bucket="durable-pol")
            s3.put_object(Bucket="durable-pol", Key="public/x", Body=b"x")
            with self.assertRaises(urllib.error.HTTPError) as cm:
                urllib.request.urlopen(urllib.request.Request(srv.endpoint + "/durable-pol/public/x"),
                                       timeout=10)
            self.assertEqual(cm.exception.code, 403)
        finally:
            srv.stop()
            srv.cleanup()

    def test_malformed_user_policy_refuses_to_start(self):
        d = tempfile.mkdtemp(prefix="tweedle-pol-bad-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "config.json")
        with open(path, "w") as f:
            json.dump({"users": [{"name": "broken", "access_key_id": "AKIDBROKEN",
                                  "secret_access_key": "x", "policies": [
                                      {"Version": "2012-10-17", "Statement": {
                                          "Effect": "Allow", "Action": "sqs:SendMessage"}}]}]}, f)
        env = dict(os.environ, TWEEDLE_ACCESS_KEY_ID=h.ACCESS_KEY,
                   TWEEDLE_SECRET_ACCESS_KEY=h.SECRET_KEY)
        p = subprocess.run([h.binary(), "serve", "--listen", "127.0.0.1:%d" % h.free_port(),
                            "--data", d, "--config", path], env=env, capture_output=True,
                           timeout=20)
        out = (p.stdout + p.stderr).decode()
        self.assertNotEqual(p.returncode, 0, out)
        self.assertIn("broken", out)
        self.assertIn("Resource", out)


if __name__ == "__main__":
    unittest.main()
