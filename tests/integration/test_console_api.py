"""The web console's JSON API under /_/console/api/ (docs/console.md): log in
with a key pair or a gateway API key with the `console` scope, the session
cookie's flags, CSRF refusal, 401 without a session, failed-login limits,
queues (list, peek that leaves ApproximateReceiveCount alone, send, purge,
redrive), buckets (browse with a delimiter and pagination, object details,
presigned upload/delete), a gateway job's status and timeline, topics and
subscriptions, rules and targets, hostile names returned as JSON strings (with
no '<' in the body), the static pages' Content-Security-Policy, and
`--console off` / TWEEDLE_CONSOLE=off.
"""

import http.client
import json
import sys
import time
import unittest
import urllib.parse
import uuid

import harness as h
import s3_harness as s3h
from gateway_harness import create_key

API = "/_/console/api"
HOSTILE = "<img src=x onerror=alert(1)>"


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)


def call(server, method, path, body=None, cookie=None, csrf=None, headers=None, raw=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    hdrs = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    if cookie:
        hdrs["Cookie"] = cookie
    if csrf:
        hdrs["X-CSRF-Token"] = csrf
    conn.request(method, path, body=data, headers=hdrs)
    r = conn.getresponse()
    out = Resp(r.status, r.getheaders(), r.read())
    conn.close()
    return out


class Session:
    """A logged-in console session (cookie + CSRF token)."""

    def __init__(self, server, **login):
        self.server = server
        body = login or {"access_key_id": h.ACCESS_KEY, "secret_access_key": h.SECRET_KEY}
        r = call(server, "POST", API + "/login", body)
        if r.status != 200:
            raise AssertionError("login failed: %d %r" % (r.status, r.body))
        self.login_resp = r
        self.cookie = r.header("Set-Cookie").split(";")[0]
        self.csrf = r.json()["csrf"]

    def get(self, path):
        return call(self.server, "GET", API + path, cookie=self.cookie)

    def post(self, path, body=None, csrf=True):
        return call(self.server, "POST", API + path, body if body is not None else {},
                    cookie=self.cookie, csrf=self.csrf if csrf else None)


class ConsoleCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = sys.modules[__name__].SERVER
        cls.sqs = cls.server.client()
        cls.s = Session(cls.server)


class TestLogin(ConsoleCase):
    def test_cookie_flags(self):
        c = self.s.login_resp.header("Set-Cookie")
        self.assertRegex(c, r"^tweedle_console=[0-9a-f]{64}; ")
        for flag in ("HttpOnly", "SameSite=Strict", "Path=/_/console/", "Max-Age="):
            self.assertIn(flag, c)
        self.assertNotIn(h.SECRET_KEY, self.s.login_resp.body.decode())
        self.assertEqual(self.s.login_resp.header("Cache-Control"), "no-store")

    def test_session_and_logout(self):
        s = Session(self.server)
        r = s.get("/session")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["principal"], h.ACCESS_KEY)
        self.assertEqual(r.json()["csrf"], s.csrf)
        self.assertEqual(s.post("/logout").status, 200)
        self.assertEqual(s.get("/session").status, 401)
        self.assertEqual(s.get("/queues").status, 401)

    def test_bad_login(self):
        r = call(self.server, "POST", API + "/login",
                 {"access_key_id": h.ACCESS_KEY, "secret_access_key": "wrong"})
        self.assertEqual(r.status, 401)
        self.assertIsNone(r.header("Set-Cookie"))
        r = call(self.server, "POST", API + "/login", {"access_key_id": "nobody", "secret_access_key": "x"})
        self.assertEqual(r.status, 401)
        # a form (not JSON) is refused: a cross-site form cannot log anyone in
        r = call(self.server, "POST", API + "/login",
                 raw=b"access_key_id=a&secret_access_key=b",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 415)

    def test_unauthenticated_401(self):
        for method, path in [("GET", "/queues"), ("GET", "/overview"), ("GET", "/buckets"),
                             ("GET", "/queues/x/messages"), ("POST", "/queues/x/purge"),
                             ("GET", "/jobs"), ("GET", "/dashboards"), ("POST", "/logout")]:
            r = call(self.server, method, API + path, {} if method == "POST" else None)
            self.assertEqual(r.status, 401, path)
            self.assertEqual(r.json()["error"]["code"], "Unauthenticated")
        r = call(self.server, "GET", API + "/queues", cookie="tweedle_console=" + "0" * 64)
        self.assertEqual(r.status, 401)

    def test_csrf_refused(self):
        q = h.unique("csrf")
        self.sqs.create_queue(QueueName=q)
        self.sqs.send_message(QueueUrl=self.server.queue_url(q), MessageBody="keep")
        r = self.s.post("/queues/%s/purge" % q, csrf=False)
        self.assertEqual(r.status, 403)
        self.assertEqual(r.json()["error"]["code"], "InvalidCsrfToken")
        r = call(self.server, "POST", API + "/queues/%s/purge" % q, {}, cookie=self.s.cookie,
                 csrf="f" * 64)
        self.assertEqual(r.status, 403)
        # the right token from another origin
        r = call(self.server, "POST", API + "/queues/%s/purge" % q, {}, cookie=self.s.cookie,
                 csrf=self.s.csrf, headers={"Origin": "http://evil.example"})
        self.assertEqual(r.status, 403)
        a = self.sqs.get_queue_attributes(QueueUrl=self.server.queue_url(q),
                                          AttributeNames=["ApproximateNumberOfMessages"])
        self.assertEqual(a["Attributes"]["ApproximateNumberOfMessages"], "1")

    def test_api_key_login(self):
        k = create_key(self.server, "console-user", [{"actions": ["console"]}])
        s = Session(self.server, api_key=k["key"])
        self.assertEqual(s.get("/session").json()["principal"], "apikey:console-user")
        other = create_key(self.server, "uploader-" + uuid.uuid4().hex[:6], [{"actions": ["presign:put"]}])
        r = call(self.server, "POST", API + "/login", {"api_key": other["key"]})
        self.assertEqual(r.status, 401)

    def test_failed_logins_limited(self):
        # a fresh server: the limit is per client address, and every test here shares 127.0.0.1
        srv = h.Server().start()
        try:
            codes = [call(srv, "POST", API + "/login",
                          {"access_key_id": h.ACCESS_KEY, "secret_access_key": "bad%d" % i}).status
                     for i in range(6)]
            self.assertEqual(codes[:5], [401] * 5)
            self.assertEqual(codes[5], 429)
            r = call(srv, "POST", API + "/login",
                     {"access_key_id": h.ACCESS_KEY, "secret_access_key": h.SECRET_KEY})
            self.assertEqual(r.status, 429)  # even the right secret waits
            self.assertTrue(r.header("Retry-After"))
        finally:
            srv.stop()
            srv.cleanup()


class TestPages(ConsoleCase):
    def test_index_and_csp(self):
        r = call(self.server, "GET", "/_/console/")
        self.assertEqual(r.status, 200)
        self.assertIn("text/html", r.header("Content-Type"))
        csp = r.header("Content-Security-Policy")
        self.assertIn("script-src 'self'", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertNotIn("unsafe-eval", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertNotIn(b"<script>", r.body)  # no inline script
        self.assertNotIn(b"style=", r.body)
        js = call(self.server, "GET", "/_/console/console.js")
        self.assertEqual(js.status, 200)
        self.assertIn("javascript", js.header("Content-Type"))
        self.assertNotIn(b"innerHTML", js.body)
        self.assertEqual(call(self.server, "GET", "/_/console").status, 302)
        self.assertEqual(call(self.server, "GET", "/_/console/nope.js").status, 404)

    def test_overview(self):
        r = self.s.get("/overview")
        self.assertEqual(r.status, 200)
        o = r.json()
        self.assertRegex(o["version"], r"^\d+\.\d+")
        self.assertGreaterEqual(o["uptime_s"], 0)
        self.assertGreater(o["data"]["bytes"], 0)
        self.assertGreater(o["data"]["free_bytes"], 0)
        self.assertIsInstance(o["alarms"], list)


class TestQueues(ConsoleCase):
    def url(self, q):
        return self.server.queue_url(q)

    def test_list_with_counts_and_dlq(self):
        dlq = h.unique("dlq")
        src = h.unique("src")
        dlq_url = self.sqs.create_queue(QueueName=dlq)["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        self.sqs.create_queue(QueueName=src, Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})
        for i in range(3):
            self.sqs.send_message(QueueUrl=self.url(src), MessageBody="m%d" % i)
        self.sqs.send_message(QueueUrl=self.url(src), MessageBody="later", DelaySeconds=60)
        self.sqs.receive_message(QueueUrl=self.url(src), MaxNumberOfMessages=1, VisibilityTimeout=60)
        qs = {q["name"]: q for q in self.s.get("/queues").json()["queues"]}
        self.assertEqual((qs[src]["visible"], qs[src]["in_flight"], qs[src]["delayed"]), (2, 1, 1))
        self.assertEqual(qs[src]["dlq_arn"], dlq_arn)
        self.assertEqual(qs[src]["max_receive_count"], 2)
        self.assertEqual(qs[dlq]["arn"], dlq_arn)
        self.assertNotIn("dlq_arn", qs[dlq])
        r = self.s.get("/queues/" + src)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["attributes"]["ApproximateNumberOfMessagesDelayed"], "1")
        self.assertEqual(self.s.get("/queues/nope-" + uuid.uuid4().hex[:6]).status, 400)

    def test_peek_leaves_receive_counts(self):
        q = h.unique("peek")
        self.sqs.create_queue(QueueName=q)
        self.sqs.send_message(QueueUrl=self.url(q), MessageBody="first",
                              MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})
        self.sqs.send_message(QueueUrl=self.url(q), MessageBody="second")
        got = self.sqs.receive_message(QueueUrl=self.url(q), MaxNumberOfMessages=1,
                                       VisibilityTimeout=0)["Messages"]
        self.assertEqual(len(got), 1)
        for _ in range(3):
            r = self.s.get("/queues/%s/messages?max=10" % q)
            self.assertEqual(r.status, 200)
        peek = r.json()
        self.assertEqual(peek["total"], 2)
        bodies = [m["Body"] for m in peek["messages"]]
        self.assertEqual(bodies, ["first", "second"])
        counts = {m["Body"]: m["ApproximateReceiveCount"] for m in peek["messages"]}
        self.assertEqual(counts, {"first": 1, "second": 0})
        self.assertEqual(peek["messages"][0]["MessageAttributes"]["k"]["StringValue"], "v")
        self.assertNotIn("ReceiptHandle", peek["messages"][0])
        # the receive counts SQS reports did not move, and both are still visible
        msgs = self.sqs.receive_message(QueueUrl=self.url(q), MaxNumberOfMessages=10,
                                        AttributeNames=["ApproximateReceiveCount"],
                                        VisibilityTimeout=30)["Messages"]
        self.assertEqual(sorted((m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in msgs),
                         [("first", "2"), ("second", "1")])
        r = self.s.get("/queues/%s/messages" % ("missing-" + uuid.uuid4().hex[:6]))
        self.assertEqual(r.status, 404)

    def test_send_and_purge(self):
        q = h.unique("send")
        self.sqs.create_queue(QueueName=q)
        r = self.s.post("/queues/%s/send" % q, {"body": HOSTILE})
        self.assertEqual(r.status, 200, r.body)
        mid = r.json()["MessageId"]
        msgs = self.sqs.receive_message(QueueUrl=self.url(q), WaitTimeSeconds=1)["Messages"]
        self.assertEqual((msgs[0]["MessageId"], msgs[0]["Body"]), (mid, HOSTILE))
        self.assertEqual(self.s.post("/queues/%s/send" % q, {"body": 5}).status, 400)
        self.s.post("/queues/%s/send" % q, {"body": "two"})
        r = self.s.post("/queues/%s/purge" % q)
        self.assertEqual(r.status, 200, r.body)
        a = self.sqs.get_queue_attributes(QueueUrl=self.url(q), AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        self.assertEqual(a["ApproximateNumberOfMessages"], "0")
        self.assertEqual(a["ApproximateNumberOfMessagesNotVisible"], "0")

    def test_redrive(self):
        dlq, src = h.unique("rdlq"), h.unique("rsrc")
        dlq_url = self.sqs.create_queue(QueueName=dlq)["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        self.sqs.create_queue(QueueName=src, Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})})
        self.sqs.send_message(QueueUrl=self.url(src), MessageBody="poison")
        self.sqs.receive_message(QueueUrl=self.url(src), VisibilityTimeout=0)
        # the second receive moves it to the DLQ
        self.sqs.receive_message(QueueUrl=self.url(src), VisibilityTimeout=0)
        peek = self.s.get("/queues/%s/messages" % dlq).json()
        self.assertEqual([m["Body"] for m in peek["messages"]], ["poison"])
        r = self.s.post("/queues/%s/redrive" % dlq)
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.json()["TaskHandle"])
        deadline = time.time() + 10
        while time.time() < deadline:
            tasks = self.s.get("/queues/%s/redrive" % dlq).json()["Results"]
            if tasks and tasks[0]["Status"] == "COMPLETED":
                break
            time.sleep(0.2)
        self.assertEqual(tasks[0]["Status"], "COMPLETED")
        self.assertEqual(tasks[0]["ApproximateNumberOfMessagesMoved"], 1)
        got = self.sqs.receive_message(QueueUrl=self.url(src), WaitTimeSeconds=2)["Messages"]
        self.assertEqual(got[0]["Body"], "poison")
        r = self.s.post("/redrive/cancel", {"task_handle": "nonsense"})
        self.assertIn(r.status, (400, 404))


class TestBuckets(ConsoleCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s3 = s3h.s3_client(cls.server)

    def test_browse_pagination(self):
        b = s3h.unique_bucket("con")
        self.s3.create_bucket(Bucket=b)
        keys = ["a.txt", "b.txt", "c.txt", "dir1/x", "dir1/y", "dir2/z", "e.txt"]
        for k in keys:
            self.s3.put_object(Bucket=b, Key=k, Body=b"x")
        self.assertIn(b, [x["name"] for x in self.s.get("/buckets").json()["buckets"]])
        seen, cursor, pages = [], None, 0
        while True:
            path = "/buckets/%s/objects?delimiter=%%2F&limit=2" % b
            if cursor:
                path += "&cursor=" + cursor
            r = self.s.get(path)
            self.assertEqual(r.status, 200, r.body)
            page = r.json()
            items = [o["key"] for o in page["objects"]] + [p["prefix"] for p in page["prefixes"]]
            self.assertLessEqual(len(items), 2)
            seen += items
            pages += 1
            cursor = page.get("next_cursor")
            if not cursor:
                break
        self.assertEqual(sorted(seen), ["a.txt", "b.txt", "c.txt", "dir1/", "dir2/", "e.txt"])
        self.assertEqual(pages, 3)
        r = self.s.get("/buckets/%s/objects?prefix=dir1%%2F&delimiter=%%2F" % b).json()
        self.assertEqual([o["key"] for o in r["objects"]], ["dir1/x", "dir1/y"])
        self.assertNotIn("next_cursor", r)
        self.assertEqual(self.s.get("/buckets/%s/objects?cursor=zz" % b).status, 400)
        self.assertEqual(self.s.get("/buckets/nosuch-%s/objects" % uuid.uuid4().hex[:6]).status, 404)

    def test_hostile_key_details_upload_delete(self):
        b = s3h.unique_bucket("conx")
        self.s3.create_bucket(Bucket=b)
        self.s3.put_object(Bucket=b, Key=HOSTILE, Body=b"<script>alert(1)</script>",
                           ContentType="text/html", Metadata={"who": HOSTILE},
                           Tagging="t=" + urllib.parse.quote("a = b/c", safe=""))
        r = self.s.get("/buckets/%s/objects" % b)
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
        self.assertNotIn(b"<img", r.body)  # escaped in the JSON text (\u003c)
        self.assertEqual(r.json()["objects"][0]["key"], HOSTILE)
        d = self.s.get("/buckets/%s/object?key=%s" % (b, urllib.parse.quote(HOSTILE, safe="")))
        self.assertEqual(d.status, 200, d.body)
        o = d.json()
        self.assertEqual(o["key"], HOSTILE)
        self.assertEqual(o["metadata"], {"who": HOSTILE})
        self.assertEqual(o["tags"], [["t", "a = b/c"]])
        self.assertEqual(o["size"], 25)
        # the download is forced to a file, never rendered on the console's origin
        self.assertTrue(o["download_url"].startswith("/%s/" % b))
        g = call(self.server, "GET", o["download_url"])
        self.assertEqual(g.status, 200)
        self.assertEqual(g.body, b"<script>alert(1)</script>")
        self.assertIn("attachment", g.header("Content-Disposition"))
        self.assertEqual(g.header("Content-Type"), "application/octet-stream")
        # upload through the presigned PUT the console hands out
        r = self.s.post("/buckets/%s/upload-url" % b, {"key": "up/" + HOSTILE})
        self.assertEqual(r.status, 200, r.body)
        u = r.json()["url"]
        self.assertTrue(u.startswith("/"))
        p = call(self.server, "PUT", u, raw=b"uploaded", headers={"Content-Type": "text/plain"})
        self.assertEqual(p.status, 200, p.body)
        self.assertEqual(self.s3.get_object(Bucket=b, Key="up/" + HOSTILE)["Body"].read(), b"uploaded")
        self.assertEqual(self.s.post("/buckets/%s/upload-url" % b, {"key": "k"}, csrf=False).status, 403)
        r = self.s.post("/buckets/%s/delete-url" % b, {"key": "up/" + HOSTILE})
        self.assertEqual(call(self.server, "DELETE", r.json()["url"]).status, 204)
        self.assertEqual(self.s.get("/buckets/%s/object?key=%s" % (
            b, urllib.parse.quote("up/" + HOSTILE, safe=""))).status, 404)

    def test_config(self):
        b = s3h.unique_bucket("conc")
        self.s3.create_bucket(Bucket=b)
        self.s3.put_bucket_cors(Bucket=b, CORSConfiguration={"CORSRules": [
            {"AllowedMethods": ["GET"], "AllowedOrigins": ["https://a.example"]}]})
        c = self.s.get("/buckets/%s/config" % b).json()
        self.assertIsNone(c["notification"])
        self.assertIsNone(c["lifecycle"])
        self.assertIn("a.example", json.dumps(c["cors"]))


class TestOthers(ConsoleCase):
    def test_jobs_dashboards_logs(self):
        r = self.s.get("/jobs?status=failed")
        self.assertEqual(r.status, 200)
        self.assertIsInstance(r.json()["jobs"], list)
        self.assertEqual(self.s.get("/jobs/" + str(uuid.uuid4())).status, 404)
        d = self.s.get("/dashboards").json()["dashboards"]
        self.assertEqual(d[0], "tweedle")
        body = self.s.get("/dashboards/tweedle").json()["body"]
        self.assertTrue(any(w["type"] == "metric" for w in body["widgets"]))
        g = self.s.get("/log-groups")
        self.assertEqual(g.status, 200)
        self.assertEqual(self.s.get("/logs").status, 400)
        now = int(time.time())
        m = self.s.post("/metric-data", {"MetricDataQueries": [{"Id": "a", "MetricStat": {
            "Metric": {"Namespace": "AWS/SQS", "MetricName": "NumberOfMessagesSent"},
            "Period": 60, "Stat": "Sum"}}], "StartTime": now - 3600, "EndTime": now})
        self.assertEqual(m.status, 200, m.body)
        self.assertIn("MetricDataResults", m.json())


class TestJobs(ConsoleCase):
    def test_job_status_and_timeline(self):
        k = create_key(self.server, "jobs-" + uuid.uuid4().hex[:6],
                       [{"actions": ["jobs:submit", "jobs:update", "jobs:read"]}])["key"]
        auth = {"Authorization": "Bearer " + k}
        jtype = "console." + uuid.uuid4().hex[:8]
        r = call(self.server, "POST", "/_/api/v1/jobs", {"type": jtype, "payload": {"x": HOSTILE}},
                 headers=auth)
        self.assertEqual(r.status, 202, r.body)
        job = r.json()["id"]
        listed = self.s.get("/jobs?type=" + urllib.parse.quote(jtype)).json()["jobs"]
        self.assertEqual([(j["id"], j["status"], j["attempts"]) for j in listed], [(job, "queued", 0)])
        self.assertEqual(call(self.server, "POST", "/_/api/v1/jobs/%s/start" % job, {}, headers=auth).status, 200)
        r = call(self.server, "POST", "/_/api/v1/jobs/%s/fail" % job, {"error": HOSTILE}, headers=auth)
        self.assertEqual(r.status, 200, r.body)
        failed = self.s.get("/jobs?status=failed&type=" + urllib.parse.quote(jtype))
        self.assertNotIn(b"<img", failed.body)
        self.assertEqual([(j["id"], j["error"]) for j in failed.json()["jobs"]], [(job, HOSTILE)])
        self.assertEqual(self.s.get("/jobs?status=queued&type=" + urllib.parse.quote(jtype)).json()["jobs"], [])
        one = self.s.get("/jobs/" + job).json()
        self.assertEqual((one["status"], one["attempts"]), ("failed", 1))
        self.assertEqual([e["event"] for e in one["timeline"]], ["queued", "running", "failed"])
        self.assertEqual(one["timeline"][1]["attempt"], 1)
        self.assertEqual(one["timeline"][2]["error"], HOSTILE)


class TestTopicsRules(ConsoleCase):
    def client(self, service):
        return h.boto3.client(service, endpoint_url=self.server.endpoint, region_name=h.REGION,
                              aws_access_key_id=h.ACCESS_KEY, aws_secret_access_key=h.SECRET_KEY)

    def test_topics_and_rules(self):
        sns, events = self.client("sns"), self.client("events")
        q = h.unique("tq")
        self.sqs.create_queue(QueueName=q)
        qarn = "arn:aws:sqs:%s:%s:%s" % (h.REGION, h.ACCOUNT, q)
        t = sns.create_topic(Name=h.unique("topic"))["TopicArn"]
        sns.subscribe(TopicArn=t, Protocol="sqs", Endpoint=qarn)
        r = self.s.get("/topics")
        self.assertEqual(r.status, 200, r.body)
        doc = r.json()
        self.assertIn(t, [x["TopicArn"] for x in doc["topics"]])
        subs = [x for x in doc["subscriptions"] if x["TopicArn"] == t]
        self.assertEqual([(x["Protocol"], x["Endpoint"]) for x in subs], [("sqs", qarn)])
        rule = h.unique("rule")
        events.put_rule(Name=rule, EventPattern=json.dumps({"source": [HOSTILE]}))
        events.put_targets(Rule=rule, Targets=[{"Id": "t1", "Arn": qarn}])
        r = self.s.get("/rules")
        self.assertEqual(r.status, 200, r.body)
        bus = [b for b in r.json()["buses"] if b["name"] == "default"][0]
        mine = [x for x in bus["rules"] if x["Name"] == rule][0]
        self.assertEqual(json.loads(mine["EventPattern"]), {"source": [HOSTILE]})
        self.assertEqual([(x["Id"], x["Arn"]) for x in mine["targets"]], [("t1", qarn)])
        self.assertNotIn(b"<img", r.body)
        self.assertEqual(call(self.server, "GET", API + "/rules").status, 401)


class TestConsoleOff(unittest.TestCase):
    def test_off(self):
        for kw in ({"extra_args": ["--console", "off"]}, {"env": {"TWEEDLE_CONSOLE": "off"}}):
            srv = h.Server(**kw).start()
            try:
                for path in ("/_/console/", API + "/login"):
                    r = call(srv, "POST" if "login" in path else "GET", path,
                             {"access_key_id": h.ACCESS_KEY, "secret_access_key": h.SECRET_KEY}
                             if "login" in path else None)
                    self.assertEqual(r.status, 404, (kw, path))
                    self.assertNotIn(b"tweedle console", r.body)
            finally:
                srv.stop()
                srv.cleanup()


if __name__ == "__main__":
    unittest.main()
