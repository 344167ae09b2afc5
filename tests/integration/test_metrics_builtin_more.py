"""The built-in metrics of the gateway (AWS/ApiGateway), the job API
(tweedle/Jobs), the store (tweedle/Store) and the worker (tweedle/Worker,
sent by `tweedle worker --name` with PutMetricData), read back with boto3's
cloudwatch client (JSON 1.0 under boto3 1.43, query under Debian's botocore),
the job metrics in GET /_/metrics (checked with test_prometheus's strict
parser), and the built-in dashboard's widgets for them.

What is asserted (docs/observability.md, "Built-in metrics"):
* AWS/ApiGateway, ApiName=tweedle: Count (requests), 4XXError and 5XXError
  (one value per request, 1 or 0: Sum counts, Average is the rate), Latency
  and IntegrationLatency (ms; IntegrationLatency only for requests that reached
  their route's handler: not a 401 or an unknown route); per route also with
  Resource, Method, Stage=v1, for the gateway's fixed routes only.
* tweedle/Jobs: JobsSubmitted, JobsSucceeded, JobsFailed (totals without a
  dimension, and per JobType), JobDuration (ms from start to complete/fail),
  Jobs per Status (a gauge from the jobs table).
* tweedle/Store: CommitLatency (ms), BatchSize (operations), CommitFailures.
* tweedle/Worker, FunctionName=NAME: Invocations, Errors, Throttles, Duration,
  ConcurrentExecutions, BatchSize; a handler's EMF line becomes metrics too.
Each class runs its own server (--metrics-interval 1), so counts are exact.
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

import boto3
from botocore.config import Config

import harness as h
import test_prometheus as tp

API = "/_/api/v1"
PROM_TOKEN = "builtin-more-token"


def client(server, service):
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                 read_timeout=60)
    s = boto3.session.Session(aws_access_key_id=h.ACCESS_KEY, aws_secret_access_key=h.SECRET_KEY,
                              region_name=h.REGION)
    return s.client(service, endpoint_url=server.endpoint, config=cfg)


def call(server, method, path, body=None, key=None):
    hdrs = {"Content-Type": "application/json"}
    if key:
        hdrs["Authorization"] = "Bearer " + key
    data = json.dumps(body).encode() if body is not None else None
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw else None)
    finally:
        conn.close()


def make_key(server):
    r = h.raw_request(server, "POST", API + "/apikeys",
                      body=json.dumps({"name": h.unique("k"), "scopes": [{"actions": ["*"]}]}),
                      headers={"Content-Type": "application/json"}, service="execute-api")
    assert r.status == 201, r
    return r.json()["key"]


class MetricsCase(unittest.TestCase):
    ARGS = ["--metrics-interval", "1", "--metrics-token", PROM_TOKEN]
    ENV = {"TWEEDLE_ALARM_TICK_MS": "500"}

    @classmethod
    def setUpClass(cls):
        cls.server = h.Server(extra_args=cls.ARGS, env=cls.ENV)
        try:
            cls.server.start()
        except Exception:
            cls.server.cleanup()
            raise
        cls.cw = client(cls.server, "cloudwatch")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.server.cleanup()

    def stats(self, ns, name, dims, stats=("Sum", "SampleCount", "Maximum", "Minimum"),
              ext=None):
        now = time.time()
        kw = dict(Namespace=ns, MetricName=name, Dimensions=dims, StartTime=now - 900,
                  EndTime=now + 120, Period=3600)
        pts = self.cw.get_metric_statistics(Statistics=list(stats), **kw)["Datapoints"]
        if not pts:
            return None
        if ext:  # Statistics and ExtendedStatistics are exclusive, as in CloudWatch
            e = self.cw.get_metric_statistics(ExtendedStatistics=ext, **kw)["Datapoints"]
            pts[0]["ExtendedStatistics"] = e[0]["ExtendedStatistics"] if e else {}
        return pts[0]

    def wait_stats(self, ns, name, dims, ok, timeout=15, **kw):
        deadline = time.time() + timeout
        got = None
        while time.time() < deadline:
            got = self.stats(ns, name, dims, **kw)
            if got is not None and ok(got):
                return got
            time.sleep(0.3)
        self.fail("%s %s %s: %r" % (ns, name, dims, got))

    def latest(self, ns, name, dims, stat="Maximum"):
        """The newest 1-second value (the built-ins are kept per second at this interval)."""
        now = time.time()
        r = self.cw.get_metric_data(
            MetricDataQueries=[{"Id": "m", "MetricStat": {
                "Metric": {"Namespace": ns, "MetricName": name, "Dimensions": dims},
                "Period": 1, "Stat": stat}}],
            StartTime=now - 30, EndTime=now + 5, ScanBy="TimestampDescending")
        vals = r["MetricDataResults"][0]["Values"]
        return vals[0] if vals else None

    def prom(self):
        r = h.raw_request(self.server, "GET", "/_/metrics",
                          headers={"Authorization": "Bearer " + PROM_TOKEN}, sign=False)
        self.assertEqual(r.status, 200)
        return tp.parse(r.body.decode())


API_DIMS = [{"Name": "ApiName", "Value": "tweedle"}]


def route_dims(method, resource):
    return API_DIMS + [{"Name": "Resource", "Value": resource}, {"Name": "Method", "Value": method},
                       {"Name": "Stage", "Value": "v1"}]


class TestGatewayMetrics(MetricsCase):
    def test_counts_errors_latency(self):
        key = make_key(self.server)  # POST /apikeys (admin, 201)
        ids = []
        for i in range(3):
            st, doc = call(self.server, "POST", API + "/jobs", {"type": "gw", "payload": {"i": i}}, key)
            self.assertEqual(st, 202, doc)
            ids.append(doc["id"])
        st, _ = call(self.server, "POST", API + "/jobs", {"type": "bad type!"}, key)
        self.assertEqual(st, 400)
        st, _ = call(self.server, "GET", API + "/jobs/" + ids[0], None, key)
        self.assertEqual(st, 200)
        st, _ = call(self.server, "POST", API + "/jobs", {"type": "gw"})  # no key
        self.assertEqual(st, 401)
        st, _ = call(self.server, "GET", API + "/no-such-route", None, key)
        self.assertEqual(st, 404)
        total = 1 + 3 + 1 + 1 + 1 + 1
        jobs = route_dims("POST", "/jobs")
        # POST /jobs: 3 accepted, 1 refused (400), 1 unauthenticated (401)
        got = self.wait_stats("AWS/ApiGateway", "Count", jobs, lambda p: p["Sum"] >= 5)
        self.assertEqual(got["Sum"], 5.0)
        self.assertEqual(got["Unit"], "Count")
        e4 = self.stats("AWS/ApiGateway", "4XXError", jobs, stats=("Sum", "SampleCount", "Average"))
        self.assertEqual((e4["Sum"], e4["SampleCount"]), (2.0, 5.0))
        self.assertAlmostEqual(e4["Average"], 0.4)
        e5 = self.stats("AWS/ApiGateway", "5XXError", jobs)
        self.assertEqual((e5["Sum"], e5["SampleCount"]), (0.0, 5.0))
        lat = self.stats("AWS/ApiGateway", "Latency", jobs, ext=["p99"])
        self.assertEqual(lat["SampleCount"], 5.0)
        self.assertEqual(lat["Unit"], "Milliseconds")
        self.assertGreater(lat["Maximum"], 0)
        self.assertIn("p99", lat["ExtendedStatistics"])
        # the 401 never reached the handler: 4 integrations
        il = self.stats("AWS/ApiGateway", "IntegrationLatency", jobs)
        self.assertEqual(il["SampleCount"], 4.0)
        self.assertLessEqual(il["Maximum"], lat["Maximum"] * 1.02)
        # the whole API: every request, the 404 too
        got = self.wait_stats("AWS/ApiGateway", "Count", API_DIMS, lambda p: p["Sum"] >= total)
        self.assertEqual(got["Sum"], float(total))
        e4 = self.stats("AWS/ApiGateway", "4XXError", API_DIMS)
        self.assertEqual((e4["Sum"], e4["SampleCount"]), (3.0, float(total)))
        il = self.stats("AWS/ApiGateway", "IntegrationLatency", API_DIMS)
        self.assertEqual(il["SampleCount"], float(total - 2))  # not the 401, not the 404
        got = self.stats("AWS/ApiGateway", "Count", route_dims("GET", "/jobs/{id}"))
        self.assertEqual(got["Sum"], 1.0)
        got = self.stats("AWS/ApiGateway", "Count", route_dims("POST", "/apikeys"))
        self.assertEqual(got["Sum"], 1.0)
        # bounded: only the fixed routes become Resource dimensions
        resources = set()
        for m in self.cw.list_metrics(Namespace="AWS/ApiGateway")["Metrics"]:
            d = {x["Name"]: x["Value"] for x in m["Dimensions"]}
            self.assertEqual(d["ApiName"], "tweedle")
            if "Resource" in d:
                self.assertEqual(set(d), {"ApiName", "Resource", "Method", "Stage"})
                resources.add((d["Method"], d["Resource"]))
        self.assertEqual(resources, {("POST", "/jobs"), ("GET", "/jobs/{id}"), ("POST", "/apikeys")})


class TestJobsAndStoreMetrics(MetricsCase):
    def test_jobs_counts_duration_gauges_and_prometheus(self):
        key = make_key(self.server)
        s3 = client(self.server, "s3")
        bucket = h.unique("results")
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="out.json", Body=b"{}")

        def submit(t):
            st, doc = call(self.server, "POST", API + "/jobs", {"type": t}, key)
            self.assertEqual(st, 202, doc)
            return doc["id"]

        a1, a2, b1 = submit("alpha"), submit("alpha"), submit("beta")
        self.assertEqual(call(self.server, "POST", API + "/jobs/%s/start" % a1, None, key)[0], 200)
        self.assertEqual(call(self.server, "POST", API + "/jobs/%s/start" % b1, None, key)[0], 200)
        time.sleep(0.4)
        st, doc = call(self.server, "POST", API + "/jobs/%s/complete" % a1,
                       {"result": {"bucket": bucket, "key": "out.json"}}, key)
        self.assertEqual(st, 200, doc)
        st, doc = call(self.server, "POST", API + "/jobs/%s/fail" % b1, {"error": "boom"}, key)
        self.assertEqual(st, 200, doc)
        alpha = [{"Name": "JobType", "Value": "alpha"}]
        beta = [{"Name": "JobType", "Value": "beta"}]
        ns = "tweedle/Jobs"
        self.wait_stats(ns, "JobsFailed", [], lambda p: p["Sum"] >= 1)
        self.assertEqual(self.stats(ns, "JobsSubmitted", [])["Sum"], 3.0)
        self.assertEqual(self.stats(ns, "JobsSubmitted", alpha)["Sum"], 2.0)
        self.assertEqual(self.stats(ns, "JobsSubmitted", beta)["Sum"], 1.0)
        self.assertEqual(self.stats(ns, "JobsSucceeded", [])["Sum"], 1.0)
        self.assertEqual(self.stats(ns, "JobsSucceeded", alpha)["Sum"], 1.0)
        self.assertIsNone(self.stats(ns, "JobsSucceeded", beta))
        self.assertEqual(self.stats(ns, "JobsFailed", beta)["Sum"], 1.0)
        dur = self.stats(ns, "JobDuration", alpha)
        self.assertEqual(dur["SampleCount"], 1.0)
        self.assertEqual(dur["Unit"], "Milliseconds")
        self.assertGreaterEqual(dur["Maximum"], 390)
        self.assertLess(dur["Maximum"], 10000)
        self.assertEqual(self.stats(ns, "JobDuration", [])["SampleCount"], 2.0)
        # the gauges: a2 queued, a1 succeeded, b1 failed, none running
        want = {"queued": 1, "running": 0, "succeeded": 1, "failed": 1}
        deadline = time.time() + 10
        while True:
            got = {s: self.latest(ns, "Jobs", [{"Name": "Status", "Value": s}]) for s in want}
            if got == want or time.time() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(got, want)
        # Prometheus: the same counts, cumulative
        fams = self.prom()
        self.assertEqual(tp.sample(fams, "tweedle_jobs_submitted_total", type="alpha"), 2)
        self.assertEqual(tp.sample(fams, "tweedle_jobs_submitted_total", type="beta"), 1)
        self.assertEqual(tp.sample(fams, "tweedle_jobs_finished_total", type="alpha",
                                   outcome="succeeded"), 1)
        self.assertEqual(tp.sample(fams, "tweedle_jobs_finished_total", type="beta",
                                   outcome="failed"), 1)
        self.assertEqual(fams["tweedle_job_duration_seconds"]["type"], "histogram")
        self.assertEqual(tp.sample(fams, "tweedle_job_duration_seconds",
                                   "tweedle_job_duration_seconds_count", type="alpha"), 1)
        self.assertGreaterEqual(tp.sample(fams, "tweedle_job_duration_seconds",
                                          "tweedle_job_duration_seconds_sum", type="alpha"), 0.39)
        self.assertEqual(tp.sample(fams, "tweedle_job_duration_seconds",
                                   "tweedle_job_duration_seconds_bucket", type="alpha", le="0.25"), 0)
        self.assertEqual(tp.sample(fams, "tweedle_job_duration_seconds",
                                   "tweedle_job_duration_seconds_bucket", type="alpha", le="1"), 1)
        for s, v in want.items():
            self.assertEqual(tp.sample(fams, "tweedle_jobs", status=s), v, s)
        self.assertEqual(fams["tweedle_jobs"]["type"], "gauge")

    def test_store_metrics(self):
        ns = "tweedle/Store"
        lat = self.wait_stats(ns, "CommitLatency", [], lambda p: p["SampleCount"] >= 1,
                              ext=["p50"])
        self.assertEqual(lat["Unit"], "Milliseconds")
        self.assertGreater(lat["Maximum"], 0)
        bs = self.wait_stats(ns, "BatchSize", [], lambda p: p["SampleCount"] >= 1)
        self.assertEqual(bs["Unit"], "Count")
        self.assertGreaterEqual(bs["Minimum"], 1.0)
        self.assertEqual(bs["Minimum"], int(bs["Minimum"]))  # exact operation counts
        self.assertEqual(bs["SampleCount"], lat["SampleCount"])  # one value per batch
        self.assertEqual(self.stats(ns, "CommitFailures", [])["Sum"], 0.0)


HANDLER = textwrap.dedent("""\
    import json, sys, time
    ev = json.load(sys.stdin)
    bodies = [r["body"] for r in ev["Records"]]
    time.sleep(0.05)
    sys.stderr.write(json.dumps({"_aws": {"Timestamp": int(time.time() * 1000),
        "CloudWatchMetrics": [{"Namespace": "BuiltinMoreEmf", "Dimensions": [["Fn"]],
                               "Metrics": [{"Name": "Handled", "Unit": "Count"}]}]},
        "Fn": "emf", "Handled": len(bodies)}) + "\\n")
    sys.exit(1 if "bad" in bodies else 0)
""")


class TestJobTypeBound(MetricsCase):
    def test_at_most_50_job_types_then_other(self):
        key = make_key(self.server)
        types = ["t%02d" % i for i in range(52)]
        for t in types + ["t51"]:
            st, doc = call(self.server, "POST", API + "/jobs", {"type": t}, key)
            self.assertEqual(st, 202, doc)
        ns = "tweedle/Jobs"
        self.wait_stats(ns, "JobsSubmitted", [], lambda p: p["Sum"] >= 53)
        got = self.wait_stats(ns, "JobsSubmitted", [{"Name": "JobType", "Value": "other"}],
                              lambda p: p["Sum"] >= 3)
        self.assertEqual(got["Sum"], 3.0)  # t50, t51, t51
        listed = set()
        kw = dict(Namespace=ns, MetricName="JobsSubmitted")
        while True:
            r = self.cw.list_metrics(**kw)
            for m in r["Metrics"]:
                for d in m["Dimensions"]:
                    if d["Name"] == "JobType":
                        listed.add(d["Value"])
            if not r.get("NextToken"):
                break
            kw["NextToken"] = r["NextToken"]
        self.assertEqual(listed, set(types[:50]) | {"other"})
        fams = self.prom()
        self.assertEqual(tp.sample(fams, "tweedle_jobs_submitted_total", type="other"), 3)
        self.assertEqual(len(fams["tweedle_jobs_submitted_total"]["samples"]), 51)


class TestWorkerMetrics(MetricsCase):
    def test_worker_publishes_lambda_style_metrics(self):
        sqs = client(self.server, "sqs")
        url = sqs.create_queue(QueueName=h.unique("wm"),
                               Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
        for b in ["a", "b", "bad", "c", "d"]:
            sqs.send_message(QueueUrl=url, MessageBody=b)
        d = tempfile.mkdtemp(prefix="tweedle-wm-")
        hp = os.path.join(d, "handler.py")
        with open(hp, "w") as f:
            f.write(HANDLER)
        fn = h.unique("fn")
        env = dict(os.environ, AWS_ACCESS_KEY_ID=h.ACCESS_KEY, AWS_SECRET_ACCESS_KEY=h.SECRET_KEY,
                   AWS_REGION=h.REGION)
        log = open(os.path.join(d, "worker.log"), "wb")
        w = subprocess.Popen([h.binary(), "worker", "--queue", url, "--exec",
                              "%s %s" % (sys.executable, hp), "--batch-size", "1",
                              "--concurrency", "2", "--poll-wait", "1", "--name", fn,
                              "--metrics-interval", "1"],
                             stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            dims = [{"Name": "FunctionName", "Value": fn}]
            ns = "tweedle/Worker"
            inv = self.wait_stats(ns, "Invocations", dims, lambda p: p["Sum"] >= 5, timeout=30)
            self.assertEqual(inv["Sum"], 5.0)
            self.assertEqual(inv["Unit"], "Count")
            self.assertEqual(self.stats(ns, "Errors", dims)["Sum"], 1.0)
            self.assertEqual(self.stats(ns, "Throttles", dims)["Sum"], 0.0)
            dur = self.stats(ns, "Duration", dims, ext=["p99"])
            self.assertEqual(dur["SampleCount"], 5.0)
            self.assertEqual(dur["Unit"], "Milliseconds")
            self.assertGreaterEqual(dur["Minimum"], 45)
            bs = self.stats(ns, "BatchSize", dims)
            self.assertEqual((bs["Sum"], bs["SampleCount"], bs["Maximum"]), (5.0, 5.0, 1.0))
            ce = self.stats(ns, "ConcurrentExecutions", dims)
            self.assertGreaterEqual(ce["Maximum"], 1.0)
            self.assertLessEqual(ce["Maximum"], 2.0)
            # the handler's EMF lines (stderr, to /tweedle/worker/NAME) became metrics too
            emf = self.wait_stats("BuiltinMoreEmf", "Handled", [{"Name": "Fn", "Value": "emf"}],
                                  lambda p: p["Sum"] >= 5)
            self.assertEqual(emf["Sum"], 5.0)
            # the built-in dashboard draws this worker's series
            body = json.loads(self.cw.get_dashboard(DashboardName="tweedle")["DashboardBody"])
            byt = {wd["properties"].get("title"): wd["properties"] for wd in body["widgets"]}
            for t, metric in (("Worker Invocations", "Invocations"), ("Worker Errors", "Errors"),
                              ("Worker Duration", "Duration")):
                self.assertIn([ns, metric, "FunctionName", fn], byt[t]["metrics"], t)
        finally:
            w.send_signal(signal.SIGTERM)
            try:
                w.wait(15)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()
            log.close()
        self.assertEqual(w.returncode, 0)
        # the last interval was sent at exit: nothing counted twice
        self.assertEqual(self.stats(ns, "Invocations", dims)["Sum"], 5.0)


class TestDashboard(MetricsCase):
    def test_builtin_dashboard_names_the_published_metrics(self):
        key = make_key(self.server)
        call(self.server, "POST", API + "/jobs", {"type": "dash"}, key)
        deadline = time.time() + 15
        while True:
            body = json.loads(self.cw.get_dashboard(DashboardName="tweedle")["DashboardBody"])
            byt = {wd["properties"].get("title"): wd["properties"] for wd in body["widgets"]
                   if wd["type"] == "metric"}
            req = byt["Requests per service"]["metrics"]
            if ["AWS/ApiGateway", "Count", "ApiName", "tweedle"] in req or time.time() > deadline:
                break
            time.sleep(0.5)
        self.assertIn(["AWS/ApiGateway", "Count", "ApiName", "tweedle"], req)
        # the API's totals only, not one series per route
        self.assertFalse([m for m in req if "Resource" in m], req)
        errs = byt["Errors per service"]["metrics"]
        for m in ("4XXError", "5XXError"):
            self.assertIn(["AWS/ApiGateway", m, "ApiName", "tweedle"], errs)
        self.assertIn(["AWS/ApiGateway", "Latency", "ApiName", "tweedle", {"stat": "p99"}],
                      byt["Latency (p99, ms)"]["metrics"])
        jobs = byt["Jobs submitted, succeeded, failed"]["metrics"]
        self.assertEqual(jobs, [["tweedle/Jobs", "JobsSubmitted"], ["tweedle/Jobs", "JobsSucceeded"],
                                ["tweedle/Jobs", "JobsFailed"]])
        st = byt["Jobs by status"]["metrics"]
        self.assertEqual(st, [["tweedle/Jobs", "Jobs", "Status", s]
                              for s in ("queued", "running", "succeeded", "failed")])
        # every metric the widgets name exists (published), except workers not yet seen
        listed = {(m["Namespace"], m["MetricName"]) for ns in ("tweedle/Jobs", "AWS/ApiGateway")
                  for m in self.cw.list_metrics(Namespace=ns)["Metrics"]}
        for row in jobs + st + req:
            if row[0] in ("tweedle/Jobs", "AWS/ApiGateway"):
                self.assertIn((row[0], row[1]), listed, row)


if __name__ == "__main__":
    unittest.main()
