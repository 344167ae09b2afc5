"""CloudWatch Logs (JSON 1.1, X-Amz-Target Logs_20140328.<Op>, SigV4 service
`logs`) with boto3's `logs` client (both interpreters: the Logs API is JSON 1.1
in every botocore) and aws-cli (`aws logs tail --follow`, bounded by timeout).

AWS facts asserted here (botocore's logs/2014-03-28/service-2.json and the
CloudWatch Logs API reference):
* errors: ResourceAlreadyExistsException, ResourceNotFoundException ("The
  specified log group does not exist."), InvalidParameterException, HTTP 400,
  JSON __type the bare exception name;
* retention: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
  1096, 1827, 2192, 2557, 2922, 3288, 3653 days;
* PutLogEvents: chronological order, 24 h span, 10,000 events, 1,048,576
  bytes counting 26 bytes per event; events older than 14 days (or than the
  retention) and more than 2 h ahead are rejected into rejectedLogEventsInfo;
  sequence tokens are accepted and ignored;
* GetLogEvents: nextForwardToken repeats when nothing is new;
  FilterLogEvents: events carry logStreamName and eventId, nextToken only when
  there is more; `aws logs tail --follow` polls FilterLogEvents.
"""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import unittest

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import harness as h

JSON11 = "application/x-amz-json-1.1"


def setUpModule():
    h.start_module_server(__name__, env={"TWEEDLE_LOGS_SWEEP_MS": "300"})


def tearDownModule():
    h.stop_module_server(__name__)


def logs_client(server):
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                 read_timeout=60)
    s = boto3.session.Session(aws_access_key_id=h.ACCESS_KEY, aws_secret_access_key=h.SECRET_KEY,
                              region_name=h.REGION)
    return s.client("logs", endpoint_url=server.endpoint, config=cfg)


def cw_client(server):
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    s = boto3.session.Session(aws_access_key_id=h.ACCESS_KEY, aws_secret_access_key=h.SECRET_KEY,
                              region_name=h.REGION)
    return s.client("cloudwatch", endpoint_url=server.endpoint, config=cfg)


def raw_logs(server, op, payload):
    return h.raw_request(server, "POST", "/", body=json.dumps(payload), service="logs",
                         headers={"Content-Type": JSON11, "X-Amz-Target": "Logs_20140328." + op})


def now_ms():
    return int(time.time() * 1000)


class LogsTestCase(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.server = sys.modules[__name__].SERVER
        cls.logs = logs_client(cls.server)

    def group(self, prefix="g"):
        name = "/test/" + h.unique(prefix)
        self.logs.create_log_group(logGroupName=name)
        return name

    def assertCode(self, cm, code, msg=None):
        err = cm.exception.response
        self.assertEqual(err["Error"]["Code"], code, err)
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], 400)
        if msg:
            self.assertIn(msg, err["Error"]["Message"])

    def put(self, g, s, events, **kw):
        return self.logs.put_log_events(logGroupName=g, logStreamName=s,
                                        logEvents=[{"timestamp": t, "message": m} for t, m in events],
                                        **kw)


class TestGroupsAndStreams(LogsTestCase):
    def test_create_describe_delete_group(self):
        g = self.group()
        with self.assertRaises(ClientError) as cm:
            self.logs.create_log_group(logGroupName=g)
        self.assertCode(cm, "ResourceAlreadyExistsException")
        got = self.logs.describe_log_groups(logGroupNamePrefix=g)["logGroups"]
        self.assertEqual(len(got), 1)
        lg = got[0]
        self.assertEqual(lg["logGroupName"], g)
        self.assertEqual(lg["arn"], "arn:aws:logs:%s:%s:log-group:%s:*" % (h.REGION, h.ACCOUNT, g))
        self.assertEqual(lg["storedBytes"], 0)
        self.assertNotIn("retentionInDays", lg)
        self.assertLess(abs(lg["creationTime"] - now_ms()), 60000)
        self.logs.delete_log_group(logGroupName=g)
        self.assertEqual(self.logs.describe_log_groups(logGroupNamePrefix=g)["logGroups"], [])
        with self.assertRaises(ClientError) as cm:
            self.logs.delete_log_group(logGroupName=g)
        self.assertCode(cm, "ResourceNotFoundException", "The specified log group does not exist.")

    def test_invalid_group_name(self):
        with self.assertRaises(ClientError) as cm:
            self.logs.create_log_group(logGroupName="bad name!")
        self.assertCode(cm, "InvalidParameterException")

    def test_describe_groups_paging(self):
        base = "/page/" + h.unique("p")
        names = ["%s/%02d" % (base, i) for i in range(7)]
        for n in names:
            self.logs.create_log_group(logGroupName=n)
        seen, token = [], None
        while True:
            kw = {"logGroupNamePrefix": base, "limit": 3}
            if token:
                kw["nextToken"] = token
            r = self.logs.describe_log_groups(**kw)
            self.assertLessEqual(len(r["logGroups"]), 3)
            seen += [x["logGroupName"] for x in r["logGroups"]]
            token = r.get("nextToken")
            if not token:
                break
        self.assertEqual(seen, names)
        pages = list(self.logs.get_paginator("describe_log_groups").paginate(
            logGroupNamePrefix=base, PaginationConfig={"PageSize": 2}))
        self.assertEqual([x["logGroupName"] for p in pages for x in p["logGroups"]], names)

    def test_retention(self):
        g = self.group()
        self.logs.put_retention_policy(logGroupName=g, retentionInDays=30)
        self.assertEqual(self.logs.describe_log_groups(logGroupNamePrefix=g)["logGroups"][0]
                         ["retentionInDays"], 30)
        for bad in (2, 0, 10000):
            with self.assertRaises(ClientError) as cm:
                self.logs.put_retention_policy(logGroupName=g, retentionInDays=bad)
            self.assertCode(cm, "InvalidParameterException", "retentionInDays")
        self.logs.delete_retention_policy(logGroupName=g)
        self.assertNotIn("retentionInDays",
                         self.logs.describe_log_groups(logGroupNamePrefix=g)["logGroups"][0])
        with self.assertRaises(ClientError) as cm:
            self.logs.put_retention_policy(logGroupName=g + "-none", retentionInDays=1)
        self.assertCode(cm, "ResourceNotFoundException")

    def test_retention_sweep_drops_old_events(self):
        g = self.group()
        self.logs.create_log_stream(logGroupName=g, logStreamName="s")
        old = now_ms() - 3 * 86400 * 1000
        self.put(g, "s", [(old, "old-1"), (old + 1, "old-2")])
        self.put(g, "s", [(now_ms(), "fresh")])
        self.assertEqual(len(self.logs.get_log_events(logGroupName=g, logStreamName="s",
                                                      startFromHead=True)["events"]), 3)
        self.logs.put_retention_policy(logGroupName=g, retentionInDays=1)
        # hidden at once, deleted by the sweep (TWEEDLE_LOGS_SWEEP_MS=300)
        ev = self.logs.get_log_events(logGroupName=g, logStreamName="s", startFromHead=True)["events"]
        self.assertEqual([e["message"] for e in ev], ["fresh"])
        deadline = time.time() + 10
        while time.time() < deadline:
            st = self.logs.describe_log_streams(logGroupName=g)["logStreams"][0]
            if st["storedBytes"] == len("fresh"):
                break
            time.sleep(0.2)
        self.assertEqual(st["storedBytes"], len("fresh"))
        # and they stay gone without the retention
        self.logs.delete_retention_policy(logGroupName=g)
        ev = self.logs.get_log_events(logGroupName=g, logStreamName="s", startFromHead=True)["events"]
        self.assertEqual([e["message"] for e in ev], ["fresh"])

    def test_streams(self):
        g = self.group()
        with self.assertRaises(ClientError) as cm:
            self.logs.create_log_stream(logGroupName=g + "-x", logStreamName="a")
        self.assertCode(cm, "ResourceNotFoundException")
        for s in ("b", "a", "c", "ab"):
            self.logs.create_log_stream(logGroupName=g, logStreamName=s)
        with self.assertRaises(ClientError) as cm:
            self.logs.create_log_stream(logGroupName=g, logStreamName="a")
        self.assertCode(cm, "ResourceAlreadyExistsException")
        r = self.logs.describe_log_streams(logGroupName=g)
        self.assertEqual([s["logStreamName"] for s in r["logStreams"]], ["a", "ab", "b", "c"])
        r = self.logs.describe_log_streams(logGroupName=g, logStreamNamePrefix="a")
        self.assertEqual([s["logStreamName"] for s in r["logStreams"]], ["a", "ab"])
        r = self.logs.describe_log_streams(logGroupName=g, descending=True, limit=3)
        self.assertEqual([s["logStreamName"] for s in r["logStreams"]], ["c", "b", "ab"])
        r2 = self.logs.describe_log_streams(logGroupName=g, descending=True, limit=3,
                                            nextToken=r["nextToken"])
        self.assertEqual([s["logStreamName"] for s in r2["logStreams"]], ["a"])
        self.assertNotIn("nextToken", r2)
        t = now_ms()
        self.put(g, "b", [(t - 3000, "x")])
        self.put(g, "a", [(t - 2000, "x")])
        self.put(g, "c", [(t - 1000, "x")])
        r = self.logs.describe_log_streams(logGroupName=g, orderBy="LastEventTime", descending=True)
        self.assertEqual([s["logStreamName"] for s in r["logStreams"]][:3], ["c", "a", "b"])
        a = [s for s in r["logStreams"] if s["logStreamName"] == "a"][0]
        self.assertEqual(a["firstEventTimestamp"], t - 2000)
        self.assertEqual(a["lastEventTimestamp"], t - 2000)
        self.assertEqual(a["storedBytes"], 1)
        with self.assertRaises(ClientError) as cm:
            self.logs.describe_log_streams(logGroupName=g, orderBy="LastEventTime",
                                           logStreamNamePrefix="a")
        self.assertCode(cm, "InvalidParameterException")
        self.logs.delete_log_stream(logGroupName=g, logStreamName="a")
        with self.assertRaises(ClientError) as cm:
            self.logs.delete_log_stream(logGroupName=g, logStreamName="a")
        self.assertCode(cm, "ResourceNotFoundException", "The specified log stream does not exist.")
        self.assertEqual(self.logs.describe_log_groups(logGroupNamePrefix=g)["logGroups"][0]
                         ["storedBytes"], 2)


class TestEvents(LogsTestCase):
    def setUp(self):
        self.g = self.group("ev")
        self.logs.create_log_stream(logGroupName=self.g, logStreamName="s1")
        self.logs.create_log_stream(logGroupName=self.g, logStreamName="s2")

    def test_put_and_get(self):
        t = now_ms() - 10000
        r = self.put(self.g, "s1", [(t + i, "line %d" % i) for i in range(5)])
        self.assertIn("nextSequenceToken", r)
        self.assertNotIn("rejectedLogEventsInfo", r)
        # an old sequence token is accepted and ignored
        self.put(self.g, "s1", [(t + 5, "line 5")], sequenceToken="12345")
        ev = self.logs.get_log_events(logGroupName=self.g, logStreamName="s1",
                                      startFromHead=True)
        self.assertEqual([e["message"] for e in ev["events"]], ["line %d" % i for i in range(6)])
        self.assertEqual(ev["events"][0]["timestamp"], t)
        self.assertIn("ingestionTime", ev["events"][0])
        # default (startFromHead false): the newest `limit`, oldest first
        ev = self.logs.get_log_events(logGroupName=self.g, logStreamName="s1", limit=2)
        self.assertEqual([e["message"] for e in ev["events"]], ["line 4", "line 5"])
        back = self.logs.get_log_events(logGroupName=self.g, logStreamName="s1", limit=2,
                                        nextToken=ev["nextBackwardToken"])
        self.assertEqual([e["message"] for e in back["events"]], ["line 2", "line 3"])
        # time window: start inclusive, end exclusive
        ev = self.logs.get_log_events(logGroupName=self.g, logStreamName="s1", startTime=t + 1,
                                      endTime=t + 3, startFromHead=True)
        self.assertEqual([e["message"] for e in ev["events"]], ["line 1", "line 2"])

    def test_forward_polling(self):
        t = now_ms()
        self.put(self.g, "s2", [(t, "a"), (t + 1, "b")])
        r = self.logs.get_log_events(logGroupName=self.g, logStreamName="s2", startFromHead=True,
                                     limit=1)
        self.assertEqual([e["message"] for e in r["events"]], ["a"])
        r = self.logs.get_log_events(logGroupName=self.g, logStreamName="s2",
                                     nextToken=r["nextForwardToken"])
        self.assertEqual([e["message"] for e in r["events"]], ["b"])
        tok = r["nextForwardToken"]
        r = self.logs.get_log_events(logGroupName=self.g, logStreamName="s2", nextToken=tok)
        self.assertEqual(r["events"], [])
        self.assertEqual(r["nextForwardToken"], tok)  # the same token: nothing new
        self.put(self.g, "s2", [(t + 2, "c")])
        r = self.logs.get_log_events(logGroupName=self.g, logStreamName="s2", nextToken=tok)
        self.assertEqual([e["message"] for e in r["events"]], ["c"])

    def test_put_validation(self):
        t = now_ms()
        with self.assertRaises(ClientError) as cm:
            self.put(self.g, "s1", [(t, "b"), (t - 1, "a")])
        self.assertCode(cm, "InvalidParameterException", "chronological order")
        with self.assertRaises(ClientError) as cm:
            self.put(self.g, "s1", [(t - 25 * 3600 * 1000, "a"), (t, "b")])
        self.assertCode(cm, "InvalidParameterException", "24 hours")
        with self.assertRaises(ClientError) as cm:
            self.put(self.g, "nostream", [(t, "a")])
        self.assertCode(cm, "ResourceNotFoundException", "log stream does not exist")
        # 1,048,576 bytes counting 26 per event
        big = "x" * (1048576 - 26)
        self.put(self.g, "s1", [(t, big)])
        with self.assertRaises(ClientError) as cm:
            self.put(self.g, "s1", [(t, big + "y")])
        self.assertCode(cm, "InvalidParameterException")
        with self.assertRaises(ClientError) as cm:
            self.put(self.g, "s1", [(t, "m")] * 10001)
        self.assertCode(cm, "InvalidParameterException")
        self.put(self.g, "s1", [(t, "m")] * 10000)

    def test_rejected_events(self):
        t = now_ms()
        day = 86400 * 1000
        hour = 3600 * 1000
        r = self.put(self.g, "s2", [(t - 14 * day - hour, "too old"),
                                    (t - 14 * day - hour + 1, "too old 2"),
                                    (t - 14 * day + hour, "ok old")])
        self.assertEqual(r["rejectedLogEventsInfo"], {"tooOldLogEventEndIndex": 1})
        r = self.put(self.g, "s2", [(t, "now"), (t + 3 * 3600 * 1000, "too new")])
        self.assertEqual(r["rejectedLogEventsInfo"], {"tooNewLogEventStartIndex": 1})
        g = self.group("exp")
        self.logs.create_log_stream(logGroupName=g, logStreamName="s")
        self.logs.put_retention_policy(logGroupName=g, retentionInDays=1)
        r = self.put(g, "s", [(t - day - 3600 * 1000, "expired"), (t - 7200 * 1000, "kept")])
        self.assertEqual(r["rejectedLogEventsInfo"], {"expiredLogEventEndIndex": 0})
        ev = self.logs.get_log_events(logGroupName=self.g, logStreamName="s2", startFromHead=True)
        self.assertEqual([e["message"] for e in ev["events"]], ["ok old", "now"])
        ev = self.logs.get_log_events(logGroupName=g, logStreamName="s", startFromHead=True)
        self.assertEqual([e["message"] for e in ev["events"]], ["kept"])


class TestFilter(LogsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.g = "/filter/" + h.unique("f")
        cls.logs.create_log_group(logGroupName=cls.g)
        for s in ("app-1", "app-2", "web"):
            cls.logs.create_log_stream(logGroupName=cls.g, logStreamName=s)
        t = cls.t = now_ms() - 60000
        lines = {
            "app-1": [(t, "ERROR disk full"), (t + 10, "INFO started"),
                      (t + 20, json.dumps({"level": "error", "latency": 12, "user": "alice"}))],
            "app-2": [(t + 5, "WARN slow request on /jobs"), (t + 15, "ERROR connection reset by peer"),
                      (t + 25, json.dumps({"level": "info", "latency": 3, "user": "bob",
                                           "req": {"path": "/api/jobs"}}))],
            "web": [(t + 1, "GET /health 200"), (t + 30, "ERROR healthcheck failed")],
        }
        for s, ev in lines.items():
            cls.logs.put_log_events(logGroupName=cls.g, logStreamName=s,
                                    logEvents=[{"timestamp": a, "message": b} for a, b in ev])

    def f(self, **kw):
        out = []
        for p in self.logs.get_paginator("filter_log_events").paginate(logGroupName=self.g, **kw):
            out += p["events"]
        return out

    def msgs(self, **kw):
        return [e["message"] for e in self.f(**kw)]

    def test_interleaved_all(self):
        ev = self.f()
        self.assertEqual(len(ev), 8)
        self.assertEqual([e["timestamp"] for e in ev], sorted(e["timestamp"] for e in ev))
        self.assertEqual(ev[0]["logStreamName"], "app-1")
        self.assertEqual(ev[1]["logStreamName"], "web")
        self.assertEqual(len({e["eventId"] for e in ev}), 8)

    def test_terms(self):
        self.assertEqual(self.msgs(filterPattern="ERROR"),
                         ["ERROR disk full", "ERROR connection reset by peer", "ERROR healthcheck failed"])
        self.assertEqual(self.msgs(filterPattern="ERROR -healthcheck"),
                         ["ERROR disk full", "ERROR connection reset by peer"])
        self.assertEqual(self.msgs(filterPattern='"connection reset"'),
                         ["ERROR connection reset by peer"])
        self.assertEqual(self.msgs(filterPattern="?WARN ?disk"),
                         ["ERROR disk full", "WARN slow request on /jobs"])
        self.assertEqual(self.msgs(filterPattern="ERROR full"), ["ERROR disk full"])
        self.assertEqual(self.msgs(filterPattern="Disk"), [])  # case-sensitive

    def test_json(self):
        self.assertEqual([json.loads(m)["user"] for m in self.msgs(filterPattern='{ $.level = "error" }')],
                         ["alice"])
        self.assertEqual([json.loads(m)["user"] for m in self.msgs(filterPattern="{ $.latency > 5 }")],
                         ["alice"])
        self.assertEqual(len(self.msgs(filterPattern='{ $.latency >= 3 && $.user = "b*" }')), 1)
        self.assertEqual(len(self.msgs(filterPattern='{ $.user = "alice" || $.user = "bob" }')), 2)
        self.assertEqual(len(self.msgs(filterPattern='{ $.req.path = "*/jobs" }')), 1)
        self.assertEqual(len(self.msgs(filterPattern='{ $.level != "error" }')), 1)
        self.assertEqual(len(self.msgs(filterPattern='{ $.missing NOT EXISTS && $.latency < 100 }')), 2)
        with self.assertRaises(ClientError) as cm:
            self.logs.filter_log_events(logGroupName=self.g, filterPattern="{ $.level = }")
        self.assertCode(cm, "InvalidParameterException")

    def test_streams_and_time(self):
        self.assertEqual(len(self.f(logStreamNames=["web"])), 2)
        self.assertEqual(len(self.f(logStreamNamePrefix="app-")), 6)
        self.assertEqual(len(self.f(startTime=self.t + 10, endTime=self.t + 25)), 3)
        with self.assertRaises(ClientError) as cm:
            self.logs.filter_log_events(logGroupName=self.g, logStreamNames=["web"],
                                        logStreamNamePrefix="a")
        self.assertCode(cm, "InvalidParameterException")

    def test_paging(self):
        r = self.logs.filter_log_events(logGroupName=self.g, limit=3)
        self.assertEqual(len(r["events"]), 3)
        seen = [e["eventId"] for e in r["events"]]
        while "nextToken" in r:
            r = self.logs.filter_log_events(logGroupName=self.g, limit=3, nextToken=r["nextToken"])
            seen += [e["eventId"] for e in r["events"]]
        self.assertEqual(seen, [e["eventId"] for e in self.f()])
        r = self.logs.filter_log_events(logGroupName=self.g)
        self.assertNotIn("nextToken", r)

    def test_group_identifier_arn(self):
        arn = "arn:aws:logs:%s:%s:log-group:%s" % (h.REGION, h.ACCOUNT, self.g)
        op = self.logs.meta.service_model.operation_model("FilterLogEvents")
        if "logGroupIdentifier" not in op.input_shape.members or "logGroupName" in op.input_shape.required_members:
            self.skipTest("this botocore lacks logGroupIdentifier (or requires logGroupName)")
        r = self.logs.filter_log_events(logGroupIdentifier=arn)
        self.assertEqual(len(r["events"]), 8)


class TestWire(LogsTestCase):
    def test_raw_json11(self):
        r = raw_logs(self.server, "DescribeLogGroups", {"logGroupNamePrefix": "/nothing-here"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), JSON11)
        self.assertEqual(r.json(), {"logGroups": []})
        r = raw_logs(self.server, "CreateLogStream", {"logGroupName": "/missing", "logStreamName": "x"})
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["__type"], "ResourceNotFoundException")
        r = raw_logs(self.server, "NoSuchOp", {})
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["__type"], "UnknownOperationException")
        r = h.raw_request(self.server, "POST", "/", body="{}", sign=False,
                          headers={"Content-Type": JSON11, "X-Amz-Target": "Logs_20140328.DescribeLogGroups"})
        self.assertEqual(r.status, 403)


class TestEmf(LogsTestCase):
    def test_put_log_events_emf_becomes_metrics(self):
        g = self.group("emf")
        self.logs.create_log_stream(logGroupName=g, logStreamName="s")
        ns = "EmfTest" + h.unique("n").replace("-", "")
        t = now_ms()
        doc = {"_aws": {"Timestamp": t, "CloudWatchMetrics": [{
            "Namespace": ns, "Dimensions": [["Service"], ["Service", "Op"]],
            "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}, {"Name": "Hits", "Unit": "Count"}]}]},
            "Service": "api", "Op": "get", "Latency": [10, 20, 30], "Hits": 1, "other": "x"}
        self.put(g, "s", [(t, json.dumps(doc)), (t + 1, "not emf {\"_aws\": 1}"),
                          (t + 2, json.dumps({"_aws": {"Timestamp": t}}))])
        cw = cw_client(self.server)
        import datetime
        start = datetime.datetime.fromtimestamp(t / 1000 - 120, datetime.timezone.utc)
        end = datetime.datetime.fromtimestamp(t / 1000 + 120, datetime.timezone.utc)
        st = cw.get_metric_statistics(Namespace=ns, MetricName="Latency",
                                      Dimensions=[{"Name": "Service", "Value": "api"}],
                                      StartTime=start, EndTime=end, Period=300,
                                      Statistics=["SampleCount", "Sum", "Maximum"])["Datapoints"]
        self.assertEqual(len(st), 1, st)
        self.assertEqual(st[0]["SampleCount"], 3)
        self.assertEqual(st[0]["Sum"], 60)
        self.assertEqual(st[0]["Unit"], "Milliseconds")
        st = cw.get_metric_statistics(Namespace=ns, MetricName="Hits",
                                      Dimensions=[{"Name": "Service", "Value": "api"},
                                                  {"Name": "Op", "Value": "get"}],
                                      StartTime=start, EndTime=end, Period=300,
                                      Statistics=["Sum"])["Datapoints"]
        self.assertEqual([d["Sum"] for d in st], [1])
        # the log events are all kept, EMF or not
        ev = self.logs.get_log_events(logGroupName=g, logStreamName="s", startFromHead=True)["events"]
        self.assertEqual(len(ev), 3)
        names = {m["MetricName"] for m in cw.list_metrics(Namespace=ns)["Metrics"]}
        self.assertEqual(names, {"Latency", "Hits"})


class TestEmfEdges(LogsTestCase):
    def test_bad_documents_do_not_spoil_good_ones(self):
        import datetime
        g = self.group("emf2")
        self.logs.create_log_stream(logGroupName=g, logStreamName="s")
        ns = "EmfEdge" + h.unique("n").replace("-", "")
        t = now_ms()

        def doc(ts, **extra):
            d = {"_aws": {"Timestamp": ts, "CloudWatchMetrics": [{
                "Namespace": ns, "Dimensions": [["D"]], "Metrics": [{"Name": "M", "Unit": "Count"}]}]},
                "D": "x", "M": 1}
            d.update(extra)
            return json.dumps(d)

        self.put(g, "s", [
            (t, doc(t - 21 * 86400 * 1000)),   # three weeks old: refused by the metrics engine
            (t + 1, doc(t, D=5)),               # a dimension value that is not a string
            (t + 2, doc(t, M="lots")),          # a value that is not a number: nothing put
            (t + 3, doc(t, M=7)),               # good
        ])
        cw = cw_client(self.server)
        start = datetime.datetime.fromtimestamp(t / 1000 - 600, datetime.timezone.utc)
        end = datetime.datetime.fromtimestamp(t / 1000 + 600, datetime.timezone.utc)
        pts = cw.get_metric_statistics(Namespace=ns, MetricName="M", Dimensions=[{"Name": "D", "Value": "x"}],
                                       StartTime=start, EndTime=end, Period=1200,
                                       Statistics=["Sum", "SampleCount"])["Datapoints"]
        self.assertEqual([(p["Sum"], p["SampleCount"]) for p in pts], [(7.0, 1.0)])
        self.assertEqual(len(self.logs.get_log_events(logGroupName=g, logStreamName="s",
                                                      startFromHead=True)["events"]), 4)


class TestSources(LogsTestCase):
    def test_server_log_group(self):
        # the server's own lines (not the per-request ones): its start line at least
        marker = "tweedle listening on 127.0.0.1:%d" % self.server.port
        deadline = time.time() + 10
        ev = []
        while time.time() < deadline and not ev:
            try:
                ev = self.logs.filter_log_events(logGroupName="/tweedle/server",
                                                 filterPattern='"%s"' % marker)["events"]
            except ClientError:
                pass
            time.sleep(0.2)
        self.assertEqual(len(ev), 1, ev)
        self.assertEqual(ev[0]["logStreamName"], "server")
        self.assertIn(" info  " + marker, ev[0]["message"])
        lg = self.logs.describe_log_groups(logGroupNamePrefix="/tweedle/server")["logGroups"]
        self.assertEqual(lg[0]["retentionInDays"], 30)
        # request lines stay on stderr only
        h.raw_request(self.server, "GET", "/_/health", sign=False)
        time.sleep(1.2)
        ev = self.logs.filter_log_events(logGroupName="/tweedle/server",
                                         filterPattern='"GET /_/health"')["events"]
        self.assertEqual(ev, [])

    def test_gateway_access_log_group(self):
        import gateway_harness as gh
        bad = gh.bearer(self.server, "GET", "/access-log", "not-a-key")
        self.assertIn(bad.status, (401, 403))
        r = gh.admin(self.server, "GET", "/access-log", query="limit=5")
        self.assertEqual(r.status, 200, r)
        deadline = time.time() + 10
        ev = []
        while time.time() < deadline:
            try:
                ev = self.logs.filter_log_events(logGroupName="/tweedle/gateway/access",
                                                 filterPattern="{ $.status = %d }" % bad.status)["events"]
            except ClientError:
                ev = []
            if ev:
                break
            time.sleep(0.3)
        self.assertTrue(ev, "no %d in /tweedle/gateway/access" % bad.status)
        doc = json.loads(ev[-1]["message"])
        self.assertEqual(doc["httpMethod"], "GET")
        self.assertEqual(doc["path"], "/_/api/v1/access-log")
        self.assertEqual(ev[-1]["logStreamName"], "access")
        for k in ("requestId", "requestTime", "sourceIp", "routeKey", "responseLatency",
                  "responseLength"):
            self.assertIn(k, doc)
        lg = self.logs.describe_log_groups(logGroupNamePrefix="/tweedle/gateway/access")["logGroups"]
        self.assertEqual(lg[0]["retentionInDays"], 30)


WORKER_HANDLER = r"""
import json, sys, time
ev = json.load(sys.stdin)
for r in ev["Records"]:
    body = r["body"]
    print("stdout line for " + body)
    sys.stderr.write("stderr line for %s\n" % body)
    sys.stderr.flush()
    print(json.dumps({"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
        "Namespace": sys.argv[1], "Dimensions": [["Fn"]],
        "Metrics": [{"Name": "Work", "Unit": "Count"}]}]}, "Fn": "h", "Work": 2}))
"""


class TestWorkerLogs(LogsTestCase):
    def test_worker_name_sends_handler_output(self):
        import tempfile
        import signal
        sqs = self.server.client()
        url = sqs.create_queue(QueueName=h.unique("wl"))["QueueUrl"]
        name = h.unique("w")
        ns = "WorkerEmf" + name.replace("-", "")
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
            f.write(WORKER_HANDLER)
            script = f.name
        env = dict(os.environ, AWS_ACCESS_KEY_ID=h.ACCESS_KEY, AWS_SECRET_ACCESS_KEY=h.SECRET_KEY,
                   AWS_REGION=h.REGION)
        logf = tempfile.TemporaryFile()
        p = subprocess.Popen([h.binary(), "worker", "--queue", url, "--endpoint", self.server.endpoint,
                              "--name", name, "--poll-wait", "1",
                              "--exec", "%s %s %s" % (sys.executable, script, ns)],
                             env=env, stdout=logf, stderr=subprocess.STDOUT)
        try:
            for b in ("m1", "m2"):
                sqs.send_message(QueueUrl=url, MessageBody=b)
            group = "/tweedle/worker/" + name
            want = {"stdout line for m1", "stdout line for m2", "stderr line for m1", "stderr line for m2"}
            deadline = time.time() + 20
            got = set()
            while time.time() < deadline and not want <= got:
                try:
                    got = {e["message"] for e in self.logs.filter_log_events(logGroupName=group)["events"]}
                except ClientError:
                    pass
                time.sleep(0.3)
            self.assertLessEqual(want, got)
            streams = self.logs.describe_log_streams(logGroupName=group)["logStreams"]
            self.assertEqual(len(streams), 1)
            # the EMF lines became metrics
            cw = cw_client(self.server)
            import datetime
            now = datetime.datetime.now(datetime.timezone.utc)
            pts = cw.get_metric_statistics(Namespace=ns, MetricName="Work",
                                           Dimensions=[{"Name": "Fn", "Value": "h"}],
                                           StartTime=now - datetime.timedelta(minutes=5),
                                           EndTime=now + datetime.timedelta(minutes=5),
                                           Period=600, Statistics=["Sum"])["Datapoints"]
            self.assertEqual([d["Sum"] for d in pts], [4.0])
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            os.unlink(script)
            logf.seek(0)
            out = logf.read().decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, out[-3000:])


class TestDurability(LogsTestCase):
    def test_restart_keeps_groups_and_events(self):
        srv = h.Server(env={"TWEEDLE_LOGS_SWEEP_MS": "300"})
        try:
            srv.start()
            c = logs_client(srv)
            c.create_log_group(logGroupName="/dur/g")
            c.put_retention_policy(logGroupName="/dur/g", retentionInDays=7)
            c.create_log_stream(logGroupName="/dur/g", logStreamName="s")
            t = now_ms()
            c.put_log_events(logGroupName="/dur/g", logStreamName="s",
                             logEvents=[{"timestamp": t + i, "message": "m%d" % i} for i in range(3)])
            srv.kill9()
            srv.start()
            c = logs_client(srv)
            lg = c.describe_log_groups(logGroupNamePrefix="/dur/")["logGroups"]
            self.assertEqual([(x["logGroupName"], x["retentionInDays"], x["storedBytes"]) for x in lg],
                             [("/dur/g", 7, 6)])
            ev = c.get_log_events(logGroupName="/dur/g", logStreamName="s", startFromHead=True)["events"]
            self.assertEqual([e["message"] for e in ev], ["m0", "m1", "m2"])
            c.put_log_events(logGroupName="/dur/g", logStreamName="s",
                             logEvents=[{"timestamp": t + 5, "message": "m5"}])
            ev = c.filter_log_events(logGroupName="/dur/g")["events"]
            self.assertEqual([e["message"] for e in ev], ["m0", "m1", "m2", "m5"])
            self.assertEqual(len({e["eventId"] for e in ev}), 4)
        finally:
            srv.stop()
            srv.cleanup()


class TestFailedCommits(h.FaultServerTestCase):
    """A batch that fails: the client hears ServiceUnavailableException (5xx)
    and nothing the batch held shows afterwards, in memory or after a restart."""

    def refused(self, fn):
        for _ in range(5):
            self.fail_commits(1)
            try:
                fn()
            except ClientError as e:
                self.assertGreaterEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 500)
                self.assertEqual(e.response["Error"]["Code"], "ServiceUnavailableException")
                return
            time.sleep(0.3)  # a background batch took the failure
        self.fail("never refused")

    def test_failed_commits_leave_nothing(self):
        time.sleep(1.5)
        c = logs_client(self.server)
        c.create_log_group(logGroupName="/f/keep")
        c.create_log_stream(logGroupName="/f/keep", logStreamName="s")
        made = []

        def create():
            n = "/f/g%d" % len(made)
            made.append(n)
            c.create_log_group(logGroupName=n)

        self.refused(create)
        self.assertEqual(c.describe_log_groups(logGroupNamePrefix=made[-1])["logGroups"], [])
        t = now_ms()
        sent = []

        def put():
            m = "lost-%d" % len(sent)
            sent.append(m)
            c.put_log_events(logGroupName="/f/keep", logStreamName="s",
                             logEvents=[{"timestamp": t, "message": m}])

        self.refused(put)
        c.put_log_events(logGroupName="/f/keep", logStreamName="s",
                         logEvents=[{"timestamp": t, "message": "kept"}])
        msgs = [e["message"] for e in c.get_log_events(logGroupName="/f/keep", logStreamName="s",
                                                       startFromHead=True)["events"]]
        self.assertNotIn(sent[-1], msgs)
        self.assertIn("kept", msgs)
        self.server.restart()
        c = logs_client(self.server)
        self.assertEqual(c.describe_log_groups(logGroupNamePrefix=made[-1])["logGroups"], [])
        msgs = [e["message"] for e in c.filter_log_events(logGroupName="/f/keep")["events"]]
        self.assertNotIn(sent[-1], msgs)
        self.assertIn("kept", msgs)


class TestCliTail(LogsTestCase):
    def test_aws_logs_tail_follow(self):
        # `aws logs tail` is aws-cli v2 (Debian's awscli package); v1 has no tail
        aws = None
        for cand in ("/usr/bin/aws", shutil.which("aws")):
            if cand and os.path.exists(cand):
                v = subprocess.run([cand, "--version"], capture_output=True, text=True).stdout
                if v.startswith("aws-cli/2."):
                    aws = cand
                    break
        if not aws:
            self.skipTest("aws-cli v2 (aws logs tail) not installed: scripts/deps.sh test")
        g = self.group("tail")
        self.logs.create_log_stream(logGroupName=g, logStreamName="s")
        t = now_ms()
        self.put(g, "s", [(t - 1000, "before-1"), (t - 500, "before-2")])
        env = dict(os.environ, AWS_ACCESS_KEY_ID=h.ACCESS_KEY, AWS_SECRET_ACCESS_KEY=h.SECRET_KEY,
                   AWS_DEFAULT_REGION=h.REGION, AWS_MAX_ATTEMPTS="1", AWS_PAGER="")
        p = subprocess.Popen(["timeout", "25", aws, "--endpoint-url", self.server.endpoint, "logs",
                              "tail", g, "--follow", "--since", "5m", "--format", "short"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        got = []
        reader = threading.Thread(target=lambda: got.extend(iter(p.stdout.readline, "")), daemon=True)
        reader.start()
        try:
            time.sleep(3)
            self.put(g, "s", [(now_ms(), "after-1")])
            time.sleep(1)
            self.put(g, "s", [(now_ms(), "after-2")])
            deadline = time.time() + 15
            while time.time() < deadline and not any("after-2" in l for l in got):
                time.sleep(0.2)
        finally:
            p.terminate()
            try:
                rest, err = p.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                rest, err = p.communicate()
        reader.join(5)
        out = "".join(got)
        lines = [l.split(" ", 1)[1] for l in out.splitlines() if " " in l]
        self.assertEqual(lines, ["before-1", "before-2", "after-1", "after-2"], (out, err))


if __name__ == "__main__":
    unittest.main()
