"""EventBridge connections, API destinations and their HTTP deliveries
through the durable outbox, with boto3's `events` client and a local HTTP
sink (a stdlib server in this test).

AWS facts asserted here (EventBridge API reference and user guide, "API
destinations"; botocore's events service-2.json):
* CreateConnection answers ConnectionArn arn:aws:events:REGION:ACCOUNT:
  connection/NAME/UUID and ConnectionState; DescribeConnection shows the
  AuthParameters without secrets (ApiKeyAuthParameters {ApiKeyName},
  BasicAuthParameters {Username}); a missing connection is
  ResourceNotFoundException; a second CreateConnection of a name is
  ResourceAlreadyExistsException.
* CreateApiDestination answers ApiDestinationArn arn:aws:events:REGION:
  ACCOUNT:api-destination/NAME/UUID and ApiDestinationState ACTIVE;
  InvocationRateLimitPerSecond defaults to 300.
* Deliveries: the connection's API key goes as the header ApiKeyName:
  ApiKeyValue, BASIC as Authorization: Basic; `*` in InvocationEndpoint takes
  the target's HttpParameters.PathParameterValues in order; HeaderParameters
  and QueryStringParameters are added (values may be JSONPaths into the
  event); the body is the event after Input/InputPath/InputTransformer.
* Retries: 401, 407, 409, 429, 5xx and connection errors are retried
  (exponential backoff); other 4xx are not; RetryPolicy
  MaximumRetryAttempts 0-185 (default 185), MaximumEventAgeInSeconds 60-86400
  (default 86400); a delivery given up goes to DeadLetterConfig's queue with
  the message attributes RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE
  (and EXHAUSTED_RETRY_CONDITION, RETRY_ATTEMPTS when retries ran out).
"""

import base64
import json
import sys
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import harness as h

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


def events_client(server, validate=True):
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                 read_timeout=30, parameter_validation=validate)
    return boto3.session.Session(aws_access_key_id=h.ACCESS_KEY, aws_secret_access_key=h.SECRET_KEY,
                                 region_name=h.REGION).client("events", endpoint_url=server.endpoint,
                                                              config=cfg)


class Sink:
    """A local HTTP endpoint recording every request; `script(path)` returns
    the status to answer (default 200)."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        self.script = lambda req: 200
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                u = urlsplit(self.path)
                req = {"method": self.command, "path": u.path, "query": parse_qs(u.query),
                       "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                with sink.lock:
                    sink.requests.append(req)
                status = sink.script(req)
                req["status"] = status
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_POST = do_PUT = do_GET = do_PATCH = do_DELETE = _any

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def on(self, prefix):
        with self.lock:
            return [r for r in self.requests if r["path"].startswith(prefix)]

    def wait(self, prefix, n, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.on(prefix)
            if len(got) >= n:
                return got
            time.sleep(0.05)
        return self.on(prefix)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def unique(p):
    return "%s%d" % (p, int(time.time() * 1000000) % 10 ** 10)


class ApiDestinationBase(unittest.TestCase):
    maxDiff = 6000

    def setup_server(self, server):
        self.server = server
        self.eb = events_client(server)
        self.eb_raw = events_client(server, validate=False)
        self.sqs = server.client()

    def make_conn(self, auth_type="API_KEY", auth=None, name=None):
        name = name or unique("c")
        auth = auth or {"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "s3cret"}}
        r = self.eb.create_connection(Name=name, AuthorizationType=auth_type, AuthParameters=auth)
        return name, r["ConnectionArn"]

    def make_dest(self, conn_arn, endpoint, method="POST", name=None):
        name = name or unique("d")
        r = self.eb.create_api_destination(Name=name, ConnectionArn=conn_arn,
                                           InvocationEndpoint=endpoint, HttpMethod=method)
        return name, r["ApiDestinationArn"]

    def make_rule(self, source, targets):
        name = unique("r")
        self.eb.put_rule(Name=name, EventPattern=json.dumps({"source": [source]}))
        r = self.eb.put_targets(Rule=name, Targets=targets)
        self.assertEqual(r["FailedEntryCount"], 0, r)
        return name

    def put(self, source, detail):
        r = self.eb.put_events(Entries=[{"Source": source, "DetailType": "t",
                                         "Detail": json.dumps(detail)}])
        self.assertEqual(r["FailedEntryCount"], 0, r)
        return r["Entries"][0]["EventId"]

    def make_queue(self):
        url = self.sqs.create_queue(QueueName=unique("dlq"))["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        return url, arn

    def receive(self, url, n=1, timeout=20.0):
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                         MessageAttributeNames=["All"])
            got += r.get("Messages", [])
        return got

    def assertEbError(self, fn, code, message_re=None):
        with self.assertRaises(ClientError) as cm:
            fn()
        err = cm.exception.response["Error"]
        self.assertEqual(err["Code"], code, cm.exception.response)
        if message_re:
            self.assertRegex(err["Message"], message_re)
        return err


class ConnectionsAndDestinations(ApiDestinationBase):
    @classmethod
    def setUpClass(cls):
        cls.srv = sys.modules[__name__].SERVER

    def setUp(self):
        self.setup_server(self.srv)

    def test_connection_lifecycle_hides_secrets(self):
        name, arn = self.make_conn()
        self.assertRegex(arn, r"^arn:aws:events:%s:%s:connection/%s/%s$" % (h.REGION, h.ACCOUNT,
                                                                          name, UUID))
        d = self.eb.describe_connection(Name=name)
        self.assertEqual(d["ConnectionState"], "AUTHORIZED")
        self.assertEqual(d["AuthorizationType"], "API_KEY")
        self.assertEqual(d["AuthParameters"]["ApiKeyAuthParameters"], {"ApiKeyName": "x-api-key"})
        self.assertNotIn("s3cret", json.dumps(d, default=str))
        names = [c["Name"] for c in self.eb.list_connections(NamePrefix=name)["Connections"]]
        self.assertEqual(names, [name])
        u = self.eb.update_connection(Name=name, Description="changed")
        self.assertEqual(u["ConnectionArn"], arn)
        self.assertEqual(self.eb.describe_connection(Name=name)["Description"], "changed")
        self.assertEbError(lambda: self.make_conn(name=name), "ResourceAlreadyExistsException")
        r = self.eb.delete_connection(Name=name)
        self.assertEqual(r["ConnectionState"], "DELETING")
        self.assertEbError(lambda: self.eb.describe_connection(Name=name),
                           "ResourceNotFoundException", name)

    def test_basic_connection_hides_password(self):
        name, _ = self.make_conn("BASIC", {"BasicAuthParameters": {"Username": "u1",
                                                                  "Password": "pw-xyz"}})
        d = self.eb.describe_connection(Name=name)
        self.assertEqual(d["AuthParameters"]["BasicAuthParameters"], {"Username": "u1"})
        self.assertNotIn("pw-xyz", json.dumps(d, default=str))

    def test_oauth_and_bad_types_refused(self):
        self.assertEbError(lambda: self.eb.create_connection(
            Name=unique("o"), AuthorizationType="OAUTH_CLIENT_CREDENTIALS",
            AuthParameters={"OAuthParameters": {
                "ClientParameters": {"ClientID": "a", "ClientSecret": "b"},
                "AuthorizationEndpoint": "https://example.com/token", "HttpMethod": "POST"}}),
            "ValidationException", "OAUTH_CLIENT_CREDENTIALS")
        self.assertEbError(lambda: self.eb.create_connection(
            Name=unique("o"), AuthorizationType="API_KEY", AuthParameters={}),
            "ValidationException")

    def test_api_destination_lifecycle(self):
        _, conn = self.make_conn()
        name, arn = self.make_dest(conn, "https://example.com/hook/*")
        self.assertRegex(arn, r"^arn:aws:events:%s:%s:api-destination/%s/%s$" % (
            h.REGION, h.ACCOUNT, name, UUID))
        d = self.eb.describe_api_destination(Name=name)
        self.assertEqual((d["ApiDestinationState"], d["ConnectionArn"], d["HttpMethod"],
                          d["InvocationEndpoint"], d["InvocationRateLimitPerSecond"]),
                         ("ACTIVE", conn, "POST", "https://example.com/hook/*", 300))
        self.eb.update_api_destination(Name=name, HttpMethod="PUT", InvocationRateLimitPerSecond=5)
        d = self.eb.describe_api_destination(Name=name)
        self.assertEqual((d["HttpMethod"], d["InvocationRateLimitPerSecond"]), ("PUT", 5))
        listed = self.eb.list_api_destinations(NamePrefix=name)["ApiDestinations"]
        self.assertEqual([x["Name"] for x in listed], [name])
        self.assertEbError(lambda: self.make_dest(conn + "x", "https://example.com/"),
                           "ResourceNotFoundException")
        self.assertEbError(lambda: self.eb_raw.create_api_destination(
            Name=unique("d"), ConnectionArn=conn, InvocationEndpoint="https://example.com/",
            HttpMethod="FETCH"), "ValidationException", "httpMethod")
        self.eb.delete_api_destination(Name=name)
        self.assertEbError(lambda: self.eb.describe_api_destination(Name=name),
                           "ResourceNotFoundException")

    def test_retry_policy_bounds(self):
        rule = unique("r")
        self.eb.put_rule(Name=rule, EventPattern=json.dumps({"source": ["x"]}))
        _, q = self.make_queue()
        for rp, field in (({"MaximumRetryAttempts": 186}, "maximumRetryAttempts"),
                          ({"MaximumEventAgeInSeconds": 59}, "maximumEventAgeInSeconds")):
            self.assertEbError(lambda: self.eb_raw.put_targets(
                Rule=rule, Targets=[{"Id": "t", "Arn": q, "RetryPolicy": rp}]),
                "ValidationException", field)
        self.assertEbError(lambda: self.eb.put_targets(
            Rule=rule, Targets=[{"Id": "t", "Arn": q,
                                 "DeadLetterConfig": {"Arn": "arn:aws:sns:%s:%s:x" % (
                                     h.REGION, h.ACCOUNT)}}]), "ValidationException")
        r = self.eb.put_targets(Rule=rule, Targets=[{"Id": "t", "Arn": q, "RetryPolicy": {
            "MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}}])
        self.assertEqual(r["FailedEntryCount"], 0)
        t = self.eb.list_targets_by_rule(Rule=rule)["Targets"][0]
        self.assertEqual(t["RetryPolicy"], {"MaximumRetryAttempts": 0,
                                            "MaximumEventAgeInSeconds": 60})


class Deliveries(ApiDestinationBase):
    @classmethod
    def setUpClass(cls):
        cls.srv = sys.modules[__name__].SERVER
        cls.sink = Sink()

    @classmethod
    def tearDownClass(cls):
        cls.sink.close()

    def setUp(self):
        self.setup_server(self.srv)

    def test_api_key_headers_path_query_and_body(self):
        p = "/" + unique("k")
        _, conn = self.make_conn(auth={
            "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "s3cret"},
            "InvocationHttpParameters": {"HeaderParameters": [
                {"Key": "X-Conn", "Value": "from-connection", "IsValueSecret": False}]}})
        _, dest = self.make_dest(conn, self.sink.url(p + "/*/items/*"))
        src = unique("src.")
        self.make_rule(src, [{"Id": "api", "Arn": dest, "InputPath": "$.detail",
                              "HttpParameters": {
                                  "PathParameterValues": ["$.detail.id", "fixed"],
                                  "HeaderParameters": {"X-Static": "v1", "X-Dyn": "$.detail.id"},
                                  "QueryStringParameters": {"q": "a b", "who": "$.source"}}}])
        self.put(src, {"id": "o-17", "n": 3})
        got = self.sink.wait(p, 1)
        self.assertEqual(len(got), 1, got)
        r = got[0]
        self.assertEqual(r["method"], "POST")
        self.assertEqual(r["path"], p + "/o-17/items/fixed")
        self.assertEqual(r["query"], {"q": ["a b"], "who": [src]})
        self.assertEqual(r["headers"]["x-api-key"], "s3cret")
        self.assertEqual(r["headers"]["x-conn"], "from-connection")
        self.assertEqual(r["headers"]["x-static"], "v1")
        self.assertEqual(r["headers"]["x-dyn"], "o-17")
        self.assertTrue(r["headers"]["content-type"].startswith("application/json"))
        self.assertEqual(json.loads(r["body"]), {"id": "o-17", "n": 3})

    def test_basic_auth_and_method(self):
        p = "/" + unique("b")
        _, conn = self.make_conn("BASIC", {"BasicAuthParameters": {"Username": "alice",
                                                                  "Password": "pw:1"}})
        _, dest = self.make_dest(conn, self.sink.url(p), method="PUT")
        src = unique("src.")
        self.make_rule(src, [{"Id": "api", "Arn": dest}])
        eid = self.put(src, {"k": 1})
        got = self.sink.wait(p, 1)
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["method"], "PUT")
        self.assertEqual(got[0]["headers"]["authorization"],
                         "Basic " + base64.b64encode(b"alice:pw:1").decode())
        ev = json.loads(got[0]["body"])
        self.assertEqual((ev["id"], ev["source"], ev["detail"]), (eid, src, {"k": 1}))

    def test_retries_on_500_then_success(self):
        p = "/" + unique("r")
        seen = []

        def script(req):
            if req["path"] != p:
                return 200
            seen.append(1)
            return 500 if len(seen) <= 2 else 200
        old = self.sink.script
        self.sink.script = script
        try:
            _, conn = self.make_conn()
            _, dest = self.make_dest(conn, self.sink.url(p))
            src = unique("src.")
            self.make_rule(src, [{"Id": "api", "Arn": dest}])
            self.put(src, {"x": 1})
            got = self.sink.wait(p, 3, timeout=30)
            self.assertEqual(len(got), 3)
            time.sleep(2.5)  # no 4th attempt after the success
            self.assertEqual(len(self.sink.on(p)), 3)
            self.assertEqual(len({r["body"] for r in got}), 1)  # the same event each time
        finally:
            self.sink.script = old

    def test_4xx_goes_to_dead_letter_queue_at_once(self):
        p = "/" + unique("f")
        old = self.sink.script
        self.sink.script = lambda req: 400 if req["path"] == p else old(req)
        try:
            _, conn = self.make_conn()
            _, dest = self.make_dest(conn, self.sink.url(p))
            qurl, qarn = self.make_queue()
            src = unique("src.")
            rule = self.make_rule(src, [{"Id": "api", "Arn": dest, "InputPath": "$.detail",
                                         "DeadLetterConfig": {"Arn": qarn}}])
            eid = self.put(src, {"bad": True})
            msgs = self.receive(qurl, 1)
            self.assertEqual(len(msgs), 1)
            self.assertEqual(len(self.sink.on(p)), 1)  # not retried
            attrs = {k: v["StringValue"] for k, v in msgs[0]["MessageAttributes"].items()}
            self.assertEqual(attrs["RULE_ARN"], "arn:aws:events:%s:%s:rule/%s" % (
                h.REGION, h.ACCOUNT, rule))
            self.assertEqual(attrs["TARGET_ARN"], dest)
            self.assertEqual(attrs["ERROR_CODE"], "400")
            self.assertIn("400", attrs["ERROR_MESSAGE"])
            self.assertEqual(json.loads(msgs[0]["Body"])["id"], eid)  # the event itself
        finally:
            self.sink.script = old

    def test_exhausted_retries_go_to_dead_letter_queue(self):
        p = "/" + unique("e")
        old = self.sink.script
        self.sink.script = lambda req: 503 if req["path"] == p else old(req)
        try:
            _, conn = self.make_conn()
            _, dest = self.make_dest(conn, self.sink.url(p))
            qurl, qarn = self.make_queue()
            src = unique("src.")
            self.make_rule(src, [{"Id": "api", "Arn": dest, "DeadLetterConfig": {"Arn": qarn},
                                  "RetryPolicy": {"MaximumRetryAttempts": 1}}])
            self.put(src, {"y": 1})
            msgs = self.receive(qurl, 1, timeout=30)
            self.assertEqual(len(msgs), 1)
            self.assertEqual(len(self.sink.on(p)), 2)  # the first try and one retry
            attrs = {k: v["StringValue"] for k, v in msgs[0]["MessageAttributes"].items()}
            self.assertEqual(attrs["ERROR_CODE"], "503")
            self.assertEqual(attrs["EXHAUSTED_RETRY_CONDITION"], "MaximumRetryAttempts")
            self.assertEqual(attrs["RETRY_ATTEMPTS"], "1")
        finally:
            self.sink.script = old

    def test_deleted_destination_goes_to_dead_letter_queue(self):
        _, conn = self.make_conn()
        name, dest = self.make_dest(conn, self.sink.url("/gone"))
        qurl, qarn = self.make_queue()
        src = unique("src.")
        self.make_rule(src, [{"Id": "api", "Arn": dest, "DeadLetterConfig": {"Arn": qarn}}])
        self.eb.delete_api_destination(Name=name)
        self.put(src, {"z": 1})
        msgs = self.receive(qurl, 1)
        self.assertEqual(len(msgs), 1)
        attrs = {k: v["StringValue"] for k, v in msgs[0]["MessageAttributes"].items()}
        self.assertEqual(attrs["ERROR_CODE"], "ResourceNotFoundException")


class Durability(ApiDestinationBase):
    """kill -9 with undelivered events: every acknowledged event reaches the
    endpoint after the restart (at least once)."""

    def setUp(self):
        self.own = h.Server()
        self.own.start()
        self.setup_server(self.own)
        self.sink = Sink()

    def tearDown(self):
        self.sink.close()
        if self.own.alive():
            self.own.stop()
        self.own.cleanup()

    def test_kill9_with_undelivered_events(self):
        up = threading.Event()
        self.sink.script = lambda req: 200 if up.is_set() else 503
        _, conn = self.make_conn()
        _, dest = self.make_dest(conn, self.sink.url("/dur"))
        src = unique("src.")
        self.make_rule(src, [{"Id": "api", "Arn": dest}])
        ids = set()
        for i in range(4):
            r = self.eb.put_events(Entries=[{"Source": src, "DetailType": "t",
                                             "Detail": json.dumps({"i": i * 10 + k})}
                                            for k in range(10)])
            self.assertEqual(r["FailedEntryCount"], 0)
            ids |= {e["EventId"] for e in r["Entries"]}
        self.assertEqual(len(ids), 40)
        self.sink.wait("/dur", 10)  # attempts under way, all refused
        self.own.kill9()
        up.set()
        self.own.start()
        deadline = time.monotonic() + 60
        delivered = set()
        while time.monotonic() < deadline and not ids <= delivered:
            delivered = {json.loads(r["body"])["id"] for r in self.sink.on("/dur")
                         if r.get("status") == 200}
            time.sleep(0.2)
        self.assertEqual(ids - delivered, set(), self.own.log_tail())
        # delivered rows are deleted: nothing comes again
        n = len(self.sink.on("/dur"))
        time.sleep(1.5)
        self.assertEqual(len(self.sink.on("/dur")), n)


if __name__ == "__main__":
    unittest.main()
