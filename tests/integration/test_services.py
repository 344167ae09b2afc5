"""The service registry: requests go to the service they name (the SigV4
credential scope, then X-Amz-Target, then paths); a request naming a service
tweedle does not serve gets a clear error in its own protocol instead of being
read as SQS or S3; errors the HTTP layer decides (shutting down, body too
large) come in the protocol of the service that owns the request."""

import socket
import time
import unittest

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import harness as h
import s3_harness as s


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


def client(service):
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                 read_timeout=20)
    return boto3.session.Session(aws_access_key_id=h.ACCESS_KEY, aws_secret_access_key=h.SECRET_KEY,
                                 region_name=h.REGION).client(service, endpoint_url=SERVER.endpoint,
                                                              config=cfg)


class RegistryTest(unittest.TestCase):

    def test_unserved_query_service_is_refused_clearly(self):
        # a query-protocol service (IAM) signed with its own scope: not
        # swallowed by SQS's query protocol (which would answer InvalidAction
        # for ListUsers without naming why)
        r = h.raw_request(SERVER, "POST", "/", body="Action=ListUsers&Version=2010-05-08",
                          headers={"Content-Type": "application/x-www-form-urlencoded"},
                          service="iam")
        self.assertEqual(r.status, 400, r)
        _, code, message, _ = h.xml_error(r)
        self.assertEqual(code, "InvalidAction", r)
        self.assertIn('"iam"', message)
        self.assertIn("does not serve", message)

    def test_unserved_json_target_is_refused_clearly(self):
        # (DynamoDB: a JSON protocol tweedle has no plans to serve)
        for service, target in (("dynamodb", "DynamoDB_20120810.ListTables"),
                                (None, "DynamoDB_20120810.ListTables")):
            hdrs = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target}
            r = h.raw_request(SERVER, "POST", "/", body="{}", headers=hdrs,
                              service=service or "sqs", sign=service is not None)
            self.assertEqual(r.status, 400, r)
            doc = r.json()
            self.assertEqual(doc["__type"], "UnknownOperationException", doc)
            self.assertIn("does not serve", doc["message"])

    def test_boto3_clients_of_unserved_services_get_errors(self):
        with self.assertRaises(ClientError) as cm:
            client("iam").list_users()
        self.assertEqual(cm.exception.response["Error"]["Code"], "InvalidAction")
        self.assertIn("does not serve", cm.exception.response["Error"]["Message"])

    def test_scope_beats_heuristics(self):
        # an S3-signed form POST to / is S3's (ListBuckets does not take POST),
        # not the SQS query protocol's
        r = h.raw_request(SERVER, "POST", "/", body="Action=ListQueues",
                          headers={"Content-Type": "application/x-www-form-urlencoded"},
                          service="s3")
        self.assertIn(b"<Error>", r.body, r)
        self.assertNotIn(b"ErrorResponse", r.body, r)

    def test_served_services_still_route(self):
        sqs = SERVER.client()
        url = sqs.create_queue(QueueName=h.unique("reg"))["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="x")
        s3c = s.s3_client(SERVER)
        b = s.unique_bucket("reg")
        s3c.create_bucket(Bucket=b)
        s3c.put_object(Bucket=b, Key="k", Body=b"v")
        self.assertEqual(s3c.get_object(Bucket=b, Key="k")["Body"].read(), b"v")
        r = h.raw_request(SERVER, "GET", "/_/health", sign=False)
        self.assertEqual(r.status, 200)

    def test_start_output_version_and_server_header(self):
        """The start prints what to do next; `tweedle --version` and every
        answer's Server header (own routes, SQS, S3) name the same version."""
        import subprocess
        with open(SERVER.log_path, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        for want in ("is ready:", "  endpoint  " + SERVER.endpoint, "  health    " + SERVER.endpoint + "/_/health",
                     "  data      ", "  stop      Ctrl-C or SIGTERM"):
            self.assertIn(want, log)
        out = subprocess.run([h.binary(), "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
        self.assertRegex(out, r"^tweedle \d+\.\d+\.\d+$")
        version = out.split()[1]
        servers = [h.raw_request(SERVER, "GET", "/_/health", sign=False).header("Server"),
                   h.json_request(SERVER, "ListQueues").header("Server"),
                   h.raw_request(SERVER, "GET", "/", service="s3").header("Server")]
        self.assertEqual(servers, ["tweedle/" + version] * 3)

    def test_log_lines_name_the_operation(self):
        s3c = s.s3_client(SERVER)
        b = s.unique_bucket("ops")
        s3c.create_bucket(Bucket=b)
        s3c.put_object(Bucket=b, Key="a/b", Body=b"x")
        s3c.list_objects_v2(Bucket=b, Prefix="a/")
        s3c.copy_object(Bucket=b, Key="c", CopySource={"Bucket": b, "Key": "a/b"})
        s3c.head_object(Bucket=b, Key="c")
        sqs = SERVER.client()
        url = sqs.create_queue(QueueName=h.unique("ops"))["QueueUrl"]
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "m"}])
        deadline = time.monotonic() + 5
        want = ["CreateBucket", "PutObject", "ListObjectsV2", "CopyObject", "HeadObject",
                "CreateQueue", "SendMessageBatch"]
        while True:
            with open(SERVER.log_path, "rb") as f:
                log = f.read().decode("utf-8", "replace")
            missing = [w for w in want if (" %s " % w) not in log]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(missing, [], "operations not named in the request log")
        self.assertNotIn(" s3:PUT ", log)

    def test_oversize_body_error_in_the_services_protocol(self):
        # announcing a 9 MiB body with Expect: 100-continue gets the error at once
        for target, ctype, expect in (("AmazonSQS.ListQueues", "application/x-amz-json-1.0", b"__type"),
                                      ("AWSEvents.PutEvents", "application/x-amz-json-1.1", b"__type"),
                                      (None, "application/x-www-form-urlencoded", b"ErrorResponse")):
            status, body = announce_oversize(SERVER.port, target, ctype)
            self.assertEqual(status, 413, body)
            self.assertIn(expect, body)


def announce_oversize(port, target, ctype):
    """Sends only the headers of a POST announcing 9 MiB and expecting
    100-continue; returns the status and body the server answers at once."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        head = ["POST / HTTP/1.1", "Host: 127.0.0.1:%d" % port, "Content-Type: " + ctype,
                "Content-Length: %d" % (9 << 20), "Expect: 100-continue"]
        if target:
            head.append("X-Amz-Target: " + target)
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        header, _, rest = data.partition(b"\r\n\r\n")
        status = int(header.split()[1])
        length = 0
        for line in header.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return status, rest
    finally:
        sock.close()


if __name__ == "__main__":
    unittest.main()
