"""CloudWatch metrics (SigV4 service `monitoring`): PutMetricData,
GetMetricStatistics, GetMetricData (MetricStat and metric math), ListMetrics,
with boto3's `cloudwatch` client -- JSON 1.0 under boto3 1.43, the query
protocol under Debian's boto3 1.26 -- and raw JSON 1.0 and query requests,
gzip bodies, aws-cli, and durability across a restart and kill -9.

AWS facts asserted here (botocore's cloudwatch/2010-08-01/service-2.json,
the CloudWatch API reference, error texts seen from AWS in client issues):
* JSON 1.0: X-Amz-Target GraniteServiceVersion20100801.<Op>, the service is
  awsQueryCompatible: errors carry x-amzn-query-error "<Code>;Sender" and
  __type "...#InvalidParameterValueException"; query protocol: XML in
  http://monitoring.amazonaws.com/doc/2010-08-01/, ErrorResponse/Error/Code.
* "The value AWS/EC2 for parameter Namespace is invalid." (InvalidParameterValue)
* "The parameters MetricData.member.1.Value and MetricData.member.1.StatisticValues
  are mutually exclusive and you have specified both." (InvalidParameterCombination)
* "The parameters MetricData.member.1.Value and MetricData.member.1.Values are
  mutually exclusive and you have specified both." (InvalidParameterValue)
* "The parameters MetricData.member.1.Values and MetricData.member.1.Counts
  must be of the same size." (InvalidParameterValue)
* "The value NaN for parameter MetricData.member.1.Value is invalid."
* "The parameter MetricData.member.1.Timestamp must specify a time within the
  past two weeks." -- several problems are listed one per line.
* "No metric may specify the same dimension name twice."
* GetMetricStatistics: "You have requested up to N datapoints, which exceeds
  the limit of 1440. You may reduce the datapoints requested by increasing
  Period, or decreasing the time range." (InvalidParameterCombination);
  "The parameter StartTime must not equal parameter EndTime."
* GetMetricData: ValidationError "The parameter StartTime must not equal
  parameter EndTime."; "The parameter EndTime must be greater than StartTime.";
  results carry Id, Label, Timestamps, Values, StatusCode; ScanBy defaults to
  TimestampDescending; MaxDatapoints pages with NextToken.
* Metric math (user guide): missing values count as 0 in arithmetic between
  series, a division by zero drops the point; SUM(TS) is a scalar, SUM(TS[])
  a series; FILL(m, value | REPEAT | LINEAR); RATE per second.
* ListMetrics: 500 per page with NextToken; RecentlyActive=PT3H.
"""

import datetime
import gzip
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
import unittest
import urllib.parse

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import harness as h

JSON_CT = "application/x-amz-json-1.0"
FORM_CT = "application/x-www-form-urlencoded; charset=utf-8"
XMLNS = "http://monitoring.amazonaws.com/doc/2010-08-01/"
UTC = datetime.timezone.utc


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


def cw_client(server, validate=True):
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                 read_timeout=60, parameter_validation=validate)
    session = boto3.session.Session(aws_access_key_id=h.ACCESS_KEY,
                                    aws_secret_access_key=h.SECRET_KEY, region_name=h.REGION)
    return session.client("cloudwatch", endpoint_url=server.endpoint, config=cfg)


def cw_json(server, op, payload, headers=None, gz=False, **kw):
    body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    if isinstance(body, str):
        body = body.encode()
    hdrs = {"Content-Type": JSON_CT, "X-Amz-Target": "GraniteServiceVersion20100801." + op}
    if gz:
        body = gzip.compress(body)
        hdrs["Content-Encoding"] = "gzip"
    hdrs.update(headers or {})
    return h.raw_request(server, "POST", "/", body=body, headers=hdrs, service="monitoring", **kw)


def cw_query(server, op, params, gz=False, **kw):
    items = [("Action", op), ("Version", "2010-08-01")] + list(params)
    body = urllib.parse.urlencode(items, quote_via=urllib.parse.quote).encode()
    hdrs = {"Content-Type": FORM_CT}
    if gz:
        body = gzip.compress(body)
        hdrs["Content-Encoding"] = "gzip"
    return h.raw_request(server, "POST", "/", body=body, headers=hdrs, service="monitoring", **kw)


def minute(t):
    return int(t) // 60 * 60


def dt(t):
    return datetime.datetime.fromtimestamp(t, UTC)


def exact_quantile(sorted_values, q):
    return sorted_values[int(math.floor(q * (len(sorted_values) - 1) + 0.5))]


_ns_counter = [0]


def fresh_ns(prefix="Test"):
    _ns_counter[0] += 1
    return "%s/%d-%d" % (prefix, os.getpid(), _ns_counter[0])


class CloudWatchTestCase(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = getattr(sys.modules[cls.__module__], "SERVER", None)
        if cls.server is None:
            raise unittest.SkipTest("module server not started")
        cls.cw = cw_client(cls.server)
        cls.cwnv = cw_client(cls.server, validate=False)
        cls.protocol = cls.cw.meta.service_model.protocol
        cls.json = cls.protocol != "query"

    def assertCwError(self, fn, code, message=None, status=400, contains=None):
        with self.assertRaises(ClientError) as cm:
            fn()
        err = cm.exception.response["Error"]
        self.assertEqual(err["Code"], code, err)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], status)
        if message is not None:
            self.assertEqual(err["Message"], message)
        if contains is not None:
            self.assertIn(contains, err["Message"])
        return err

    def stats(self, ns, name, start, end, period, dims=None, stats=None, ext=None, unit=None):
        kw = dict(Namespace=ns, MetricName=name, StartTime=dt(start), EndTime=dt(end),
                  Period=period, Dimensions=dims or [])
        if ext:
            kw["ExtendedStatistics"] = ext
        else:
            kw["Statistics"] = stats or ["SampleCount", "Sum", "Average", "Minimum", "Maximum"]
        if unit:
            kw["Unit"] = unit
        r = self.cw.get_metric_statistics(**kw)
        return sorted(r["Datapoints"], key=lambda d: (d["Timestamp"], d.get("Unit", ""))), r


class TestProtocols(CloudWatchTestCase):
    def test_client_protocol(self):
        seen = []
        self.cw.meta.events.register("before-send.cloudwatch.ListMetrics",
                                     lambda request, **kw: seen.append(request))
        self.cw.list_metrics(Namespace=fresh_ns())
        req = seen[-1]
        if self.json:
            self.assertEqual(req.headers["X-Amz-Target"], b"GraniteServiceVersion20100801.ListMetrics")
            self.assertIn(b"application/x-amz-json-1.0", req.headers["Content-Type"])
        else:
            self.assertIn(b"Action=ListMetrics", req.body if isinstance(req.body, bytes) else req.body.encode())

    def test_raw_json_put_and_read(self):
        ns = fresh_ns()
        now = time.time()
        r = cw_json(self.server, "PutMetricData", {
            "Namespace": ns,
            "MetricData": [{"MetricName": "raw", "Value": 2.5, "Unit": "Seconds",
                            "Timestamp": now, "Dimensions": [{"Name": "k", "Value": "v"}]}]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), JSON_CT)
        self.assertEqual(r.json(), {})
        r = cw_json(self.server, "GetMetricStatistics", {
            "Namespace": ns, "MetricName": "raw", "Dimensions": [{"Name": "k", "Value": "v"}],
            "StartTime": now - 120, "EndTime": now + 120, "Period": 60, "Statistics": ["Sum"]})
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(doc["Label"], "raw")
        self.assertEqual(len(doc["Datapoints"]), 1)
        self.assertEqual(doc["Datapoints"][0]["Sum"], 2.5)
        self.assertEqual(doc["Datapoints"][0]["Unit"], "Seconds")
        self.assertEqual(doc["Datapoints"][0]["Timestamp"], minute(now))
        # doubles are written as reals, as AWS writes them
        r = cw_json(self.server, "PutMetricData", {"Namespace": ns, "MetricData": [
            {"MetricName": "int", "Value": 3, "Timestamp": now}]})
        self.assertEqual(r.status, 200)
        r = cw_json(self.server, "GetMetricStatistics", {
            "Namespace": ns, "MetricName": "int", "StartTime": now - 120, "EndTime": now + 120,
            "Period": 60, "Statistics": ["Sum", "SampleCount"]})
        self.assertIn(b'"Sum":3.0', r.body)
        self.assertIn(b'"SampleCount":1.0', r.body)

    def test_entity_metric_data(self):
        """EntityMetricData (JSON-only in current SDKs): its MetricData count
        like MetricData's; the entity itself is not kept."""
        ns = fresh_ns()
        now = time.time()
        r = cw_json(self.server, "PutMetricData", {
            "Namespace": ns, "StrictEntityValidation": False,
            "MetricData": [{"MetricName": "plain", "Value": 1.0, "Timestamp": now}],
            "EntityMetricData": [{"Entity": {"KeyAttributes": {"Type": "Service", "Name": "api",
                                                               "Environment": "prod"}},
                                  "MetricData": [{"MetricName": "ent", "Value": 2.0, "Timestamp": now}]}]})
        self.assertEqual(r.status, 200, r)
        names = sorted(m["MetricName"] for m in self.cw.list_metrics(Namespace=ns)["Metrics"])
        self.assertEqual(names, ["ent", "plain"])
        r = cw_json(self.server, "PutMetricData", {
            "Namespace": ns, "EntityMetricData": [{"MetricData": [{"MetricName": "ent"}]}]})
        self.assertEqual(r.status, 400)
        self.assertIn("EntityMetricData.member.1.MetricData.member.1.Value", r.json()["message"])

    def test_raw_json_errors(self):
        r = cw_json(self.server, "PutMetricData", {"Namespace": "AWS/EC2", "MetricData": [
            {"MetricName": "x", "Value": 1}]})
        self.assertEqual(r.status, 400)
        self.assertEqual(r.header("x-amzn-query-error"), "InvalidParameterValue;Sender")
        doc = r.json()
        self.assertEqual(doc["__type"], "com.amazonaws.cloudwatch#InvalidParameterValueException")
        self.assertEqual(doc["message"], "The value AWS/EC2 for parameter Namespace is invalid.")
        r = cw_json(self.server, "PutMetricData", {"MetricData": [{"MetricName": "x", "Value": 1}]})
        self.assertEqual(r.status, 400)
        self.assertEqual(r.header("x-amzn-query-error"), "MissingParameter;Sender")
        self.assertEqual(r.json()["message"], "The parameter Namespace is required.")
        r = cw_json(self.server, "NoSuchOperation", {})
        self.assertEqual(r.status, 400)
        self.assertIn("UnknownOperationException", r.json()["__type"])
        r = cw_json(self.server, "PutMetricData", b"{not json")
        self.assertEqual(r.status, 400)
        self.assertIn("SerializationException", r.json()["__type"])
        # NaN, as botocore writes it in JSON ("NaN" as a string)
        r = cw_json(self.server, "PutMetricData", {"Namespace": "N", "MetricData": [
            {"MetricName": "x", "Value": "NaN"}]})
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["message"],
                         "The value NaN for parameter MetricData.member.1.Value is invalid.")
        # unsigned, or signed with the wrong secret
        r = cw_json(self.server, "ListMetrics", {}, sign=False,
                    headers={"Authorization": "AWS4-HMAC-SHA256 Credential=AKIDX/20260101/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=00"})
        self.assertIn(r.status, (400, 403))
        r = cw_json(self.server, "ListMetrics", {}, secret_key="wrong")
        self.assertEqual(r.status, 403)
        self.assertIn("SignatureDoesNotMatch", r.header("x-amzn-query-error"))

    def test_raw_query_put_and_read(self):
        ns = fresh_ns()
        now = time.time()
        ts = dt(now).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        r = cw_query(self.server, "PutMetricData", [
            ("Namespace", ns), ("MetricData.member.1.MetricName", "q"),
            ("MetricData.member.1.Values.member.1", "1"), ("MetricData.member.1.Values.member.2", "3"),
            ("MetricData.member.1.Counts.member.1", "2"), ("MetricData.member.1.Counts.member.2", "1"),
            ("MetricData.member.1.Timestamp", ts), ("MetricData.member.1.Unit", "Count")])
        self.assertEqual(r.status, 200, r)
        root = r.xml()
        self.assertEqual(root.tag, "{%s}PutMetricDataResponse" % XMLNS)
        self.assertTrue(root.findtext("{%s}ResponseMetadata/{%s}RequestId" % (XMLNS, XMLNS)))
        r = cw_query(self.server, "GetMetricStatistics", [
            ("Namespace", ns), ("MetricName", "q"),
            ("StartTime", dt(now - 120).strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("EndTime", dt(now + 120).strftime("%Y-%m-%dT%H:%M:%SZ")), ("Period", "60"),
            ("Statistics.member.1", "Sum"), ("Statistics.member.2", "SampleCount")])
        self.assertEqual(r.status, 200, r)
        root = h.strip_ns(r.xml())
        self.assertEqual(root.tag, "GetMetricStatisticsResponse")
        dp = root.find("GetMetricStatisticsResult/Datapoints/member")
        self.assertEqual(float(dp.findtext("Sum")), 5.0)
        self.assertEqual(float(dp.findtext("SampleCount")), 3.0)
        self.assertEqual(dp.findtext("Unit"), "Count")
        self.assertEqual(dp.findtext("Timestamp"), dt(minute(now)).strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.assertEqual(root.findtext("GetMetricStatisticsResult/Label"), "q")
        # percentiles come back as a map of entry/key/value
        r = cw_query(self.server, "GetMetricStatistics", [
            ("Namespace", ns), ("MetricName", "q"),
            ("StartTime", dt(now - 120).strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("EndTime", dt(now + 120).strftime("%Y-%m-%dT%H:%M:%SZ")), ("Period", "60"),
            ("ExtendedStatistics.member.1", "p100")])
        root = h.strip_ns(r.xml())
        entry = root.find("GetMetricStatisticsResult/Datapoints/member/ExtendedStatistics/entry")
        self.assertEqual(entry.findtext("key"), "p100")
        self.assertEqual(float(entry.findtext("value")), 3.0)

    def test_raw_query_errors(self):
        r = cw_query(self.server, "PutMetricData", [
            ("Namespace", "AWS/Lambda"), ("MetricData.member.1.MetricName", "x"),
            ("MetricData.member.1.Value", "1")])
        self.assertEqual(r.status, 400)
        typ, code, msg, rid = h.xml_error(r)
        self.assertEqual((typ, code), ("Sender", "InvalidParameterValue"))
        self.assertEqual(msg, "The value AWS/Lambda for parameter Namespace is invalid.")
        self.assertTrue(rid)
        self.assertEqual(r.xml().tag, "{%s}ErrorResponse" % XMLNS)
        r = cw_query(self.server, "DescribeNothing", [])
        self.assertEqual(r.status, 400)
        self.assertEqual(h.xml_error(r)[1], "InvalidAction")

    def test_gzip_bodies(self):
        ns = fresh_ns()
        now = time.time()
        r = cw_json(self.server, "PutMetricData", {"Namespace": ns, "MetricData": [
            {"MetricName": "gz", "Value": float(i), "Timestamp": now} for i in range(1, 101)]},
            gz=True)
        self.assertEqual(r.status, 200, r)
        r = cw_query(self.server, "PutMetricData", [
            ("Namespace", ns), ("MetricData.member.1.MetricName", "gz"),
            ("MetricData.member.1.Value", "1000")], gz=True)
        self.assertEqual(r.status, 200, r)
        pts, _ = self.stats(ns, "gz", now - 120, now + 120, 60)
        self.assertEqual(len(pts), 1)
        self.assertEqual(pts[0]["SampleCount"], 101)
        self.assertEqual(pts[0]["Sum"], 5050 + 1000)
        # a body that is not gzip, and one cut short
        r = cw_json(self.server, "PutMetricData", b"plain", headers={"Content-Encoding": "gzip"})
        self.assertEqual(r.status, 400)
        cut = gzip.compress(json.dumps({"Namespace": ns, "MetricData": []}).encode())[:-6]
        r = h.raw_request(self.server, "POST", "/", body=cut, service="monitoring", headers={
            "Content-Type": JSON_CT, "Content-Encoding": "gzip",
            "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData"})
        self.assertEqual(r.status, 400)
        # boto3 compresses a large PutMetricData by itself
        seen = []
        self.cw.meta.events.register("before-send.cloudwatch.PutMetricData",
                                     lambda request, **kw: seen.append(request.headers.get("Content-Encoding")))
        self.cw.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "big", "Values": [float(v) for v in range(1, 151)], "Timestamp": dt(now)}
            for _ in range(20)])
        pts, _ = self.stats(ns, "big", now - 120, now + 120, 60)
        self.assertEqual(pts[0]["SampleCount"], 3000)
        if self.json:  # request compression (botocore >= 1.31)
            self.assertEqual(seen[-1], b"gzip")

    def test_body_limit(self):
        """A body over 1 MB is refused before it is sent (413, in JSON)."""
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        try:
            conn.putrequest("POST", "/")
            conn.putheader("Content-Type", JSON_CT)
            conn.putheader("X-Amz-Target", "GraniteServiceVersion20100801.PutMetricData")
            conn.putheader("Authorization", "AWS4-HMAC-SHA256 Credential=%s/20260101/us-east-1/"
                           "monitoring/aws4_request, SignedHeaders=host, Signature=00" % h.ACCESS_KEY)
            conn.putheader("Content-Length", str((1 << 20) + 1))
            conn.endheaders()
            r = conn.getresponse()
            body = r.read()
            self.assertEqual(r.status, 413)
            self.assertEqual(r.getheader("x-amzn-query-error"), "RequestEntityTooLarge;Sender")
            self.assertIn(b"RequestEntityTooLarge", body)
        finally:
            conn.close()
        # exactly at the limit is read (and then judged on its content)
        body = b'{"Namespace":"Lim","MetricData":[{"MetricName":"x","Value":1.0}]}'
        body = body + b" " * ((1 << 20) - len(body))
        r = cw_json(self.server, "PutMetricData", body)
        self.assertEqual(r.status, 200, r)

    def test_cbor_path_is_refused_clearly(self):
        r = h.raw_request(self.server, "POST",
                          "/service/GraniteServiceVersion20100801/operation/ListMetrics", body=b"\xa0",
                          headers={"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"},
                          service="monitoring")
        self.assertEqual(r.status, 400)
        self.assertIn(b"CBOR", r.body)


class TestPutAndStatistics(CloudWatchTestCase):
    def test_values_counts_and_statistics(self):
        ns = fresh_ns()
        now = time.time()
        t0 = minute(now) - 600
        dims = [{"Name": "Host", "Value": "a"}, {"Name": "Az", "Value": "1"}]
        self.cw.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "lat", "Dimensions": dims, "Timestamp": dt(t0 + 5), "Value": 10, "Unit": "Milliseconds"},
            {"MetricName": "lat", "Dimensions": dims, "Timestamp": dt(t0 + 25), "Values": [1, 2, 3],
             "Counts": [1, 2, 3], "Unit": "Milliseconds"},
            {"MetricName": "lat", "Dimensions": dims, "Timestamp": dt(t0 + 65),
             "StatisticValues": {"SampleCount": 4, "Sum": 40, "Minimum": 5, "Maximum": 20},
             "Unit": "Milliseconds"},
        ])
        pts, r = self.stats(ns, "lat", t0, t0 + 180, 60, dims=list(reversed(dims)))
        self.assertEqual(r["Label"], "lat")
        self.assertEqual(len(pts), 2)
        p = pts[0]
        self.assertEqual(p["Timestamp"], dt(t0))
        self.assertEqual(p["SampleCount"], 7)
        self.assertEqual(p["Sum"], 10 + 1 + 4 + 9)
        self.assertAlmostEqual(p["Average"], 24 / 7)
        self.assertEqual(p["Minimum"], 1)
        self.assertEqual(p["Maximum"], 10)
        self.assertEqual(p["Unit"], "Milliseconds")
        self.assertEqual(pts[1]["SampleCount"], 4)
        self.assertEqual(pts[1]["Sum"], 40)
        self.assertEqual((pts[1]["Minimum"], pts[1]["Maximum"]), (5, 20))
        # one 120-second period holds both
        pts, _ = self.stats(ns, "lat", t0, t0 + 120, 120)
        self.assertEqual(len(pts), 0)  # dimensions are part of the identity
        pts, _ = self.stats(ns, "lat", t0, t0 + 120, 120, dims=dims)
        self.assertEqual([p["SampleCount"] for p in pts], [11])
        # a statistic set of several values has no percentiles
        pts, _ = self.stats(ns, "lat", t0 + 60, t0 + 120, 60, dims=dims, ext=["p50"])
        self.assertEqual(len(pts), 1)
        self.assertNotIn("p50", pts[0].get("ExtendedStatistics", {}))

    def test_units_are_kept_apart(self):
        ns = fresh_ns()
        now = time.time()
        self.cw.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "size", "Value": 1, "Unit": "Bytes", "Timestamp": dt(now)},
            {"MetricName": "size", "Value": 2, "Unit": "Kilobytes", "Timestamp": dt(now)},
            {"MetricName": "size", "Value": 4, "Timestamp": dt(now)},
        ])
        pts, _ = self.stats(ns, "size", now - 120, now + 120, 60, stats=["Sum"])
        self.assertEqual(sorted((p["Unit"], p["Sum"]) for p in pts),
                         [("Bytes", 1), ("Kilobytes", 2), ("None", 4)])
        pts, _ = self.stats(ns, "size", now - 120, now + 120, 60, stats=["Sum"], unit="Kilobytes")
        self.assertEqual([(p["Unit"], p["Sum"]) for p in pts], [("Kilobytes", 2)])
        pts, _ = self.stats(ns, "size", now - 120, now + 120, 60, stats=["Sum"], unit="Percent")
        self.assertEqual(pts, [])

    def test_high_resolution(self):
        ns = fresh_ns()
        t0 = int(time.time()) - 100
        self.cw.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "hr", "Value": float(i), "Timestamp": dt(t0 + i + 0.5), "StorageResolution": 1}
            for i in range(30)])
        pts, _ = self.stats(ns, "hr", t0, t0 + 30, 1, stats=["Sum"])
        self.assertEqual(len(pts), 30)
        self.assertEqual([p["Sum"] for p in pts], [float(i) for i in range(30)])
        pts, _ = self.stats(ns, "hr", t0 - t0 % 10, t0 - t0 % 10 + 40, 10, stats=["SampleCount"])
        self.assertEqual(sum(p["SampleCount"] for p in pts), 30)
        # standard resolution keeps minutes: a 1-second period sees minute slots
        self.cw.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "std", "Value": 1.0, "Timestamp": dt(t0 + i)} for i in range(30)])
        pts, _ = self.stats(ns, "std", minute(t0), minute(t0) + 180, 1, stats=["SampleCount"])
        self.assertTrue(all(p["Timestamp"].second == 0 for p in pts))
        self.assertEqual(sum(p["SampleCount"] for p in pts), 30)

    def test_percentiles_within_one_percent(self):
        ns = fresh_ns()
        rnd = random.Random(12)
        values = [math.exp(rnd.gauss(3, 1.3)) for _ in range(3000)]
        rounded = [round(v, 3) for v in values]
        now = time.time()
        t = minute(now) - 120
        # 150 distinct values per datum with counts, as the API takes them
        data = []
        counts = {}
        for v in rounded:
            counts[v] = counts.get(v, 0) + 1
        items = sorted(counts.items())
        for i in range(0, len(items), 150):
            chunk = items[i:i + 150]
            data.append({"MetricName": "dist", "Timestamp": dt(t + 10), "Unit": "Milliseconds",
                         "Values": [v for v, _ in chunk], "Counts": [float(c) for _, c in chunk]})
        for i in range(0, len(data), 20):
            self.cw.put_metric_data(Namespace=ns, MetricData=data[i:i + 20])
        ordered = sorted(rounded)
        qs = ["p10", "p50", "p90", "p99", "p99.9", "p25.5"]
        pts, _ = self.stats(ns, "dist", t, t + 60, 60, ext=qs)
        self.assertEqual(len(pts), 1)
        ext = pts[0]["ExtendedStatistics"]
        for q in qs:
            want = exact_quantile(ordered, float(q[1:]) / 100)
            self.assertLess(abs(ext[q] - want) / want, 0.01, (q, ext[q], want))
        pts, _ = self.stats(ns, "dist", t, t + 60, 60, ext=["p0", "p100"])
        self.assertEqual(pts[0]["ExtendedStatistics"]["p0"], ordered[0])
        self.assertEqual(pts[0]["ExtendedStatistics"]["p100"], ordered[-1])
        # GetMetricData takes the same statistics, trimmed means too
        r = self.cw.get_metric_data(StartTime=dt(t), EndTime=dt(t + 60), MetricDataQueries=[
            {"Id": "p", "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "dist"},
                                       "Period": 60, "Stat": "p90"}},
            {"Id": "tm", "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "dist"},
                                        "Period": 60, "Stat": "TM(10%:90%)"}}])
        res = {x["Id"]: x for x in r["MetricDataResults"]}
        want = exact_quantile(ordered, 0.9)
        self.assertLess(abs(res["p"]["Values"][0] - want) / want, 0.01)
        lo, hi = int(len(ordered) * 0.1), int(len(ordered) * 0.9)
        tm = sum(ordered[lo:hi]) / (hi - lo)
        self.assertLess(abs(res["tm"]["Values"][0] - tm) / tm, 0.01)

    def test_old_timestamps(self):
        """Five hours old: kept per minute (level 1); a 10-second period sees
        nothing there, as CloudWatch answers; older than two weeks: refused."""
        ns = fresh_ns()
        t = minute(time.time() - 5 * 3600)
        self.cw.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "old", "Value": 5.0, "Timestamp": dt(t + 15), "StorageResolution": 1},
            {"MetricName": "old", "Value": 7.0, "Timestamp": dt(t + 45), "StorageResolution": 1}])
        pts, _ = self.stats(ns, "old", t, t + 60, 60)
        self.assertEqual(len(pts), 1)
        self.assertEqual((pts[0]["SampleCount"], pts[0]["Sum"]), (2, 12))
        pts, _ = self.stats(ns, "old", t, t + 60, 10)
        self.assertEqual(pts, [])
        ten_days = minute(time.time() - 10 * 86400)
        self.cw.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "old", "Value": 1.0, "Timestamp": dt(ten_days + 1)}])
        pts, _ = self.stats(ns, "old", ten_days, ten_days + 3600, 3600)
        self.assertEqual([p["Sum"] for p in pts], [1.0])

    def test_put_errors(self):
        now = time.time()
        ns = fresh_ns()
        self.assertCwError(lambda: self.cw.put_metric_data(Namespace="AWS/EC2", MetricData=[
            {"MetricName": "x", "Value": 1}]), "InvalidParameterValue",
            "The value AWS/EC2 for parameter Namespace is invalid.")
        self.assertCwError(lambda: self.cw.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "x", "Value": 1, "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1}}]),
            "InvalidParameterCombination",
            "The parameters MetricData.member.1.Value and MetricData.member.1.StatisticValues are "
            "mutually exclusive and you have specified both.")
        self.assertCwError(lambda: self.cw.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "x", "Value": 1}, {"MetricName": "y", "Value": 1, "Values": [1, 2]}]),
            "InvalidParameterValue",
            "The parameters MetricData.member.2.Value and MetricData.member.2.Values are mutually "
            "exclusive and you have specified both.")
        self.assertCwError(lambda: self.cw.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "x", "Values": [1, 2], "Counts": [1]}]), "InvalidParameterValue",
            "The parameters MetricData.member.1.Values and MetricData.member.1.Counts must be of "
            "the same size.")
        self.assertCwError(lambda: self.cw.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "x", "Value": 1, "Timestamp": dt(now - 15 * 86400)},
            {"MetricName": "x", "Value": 1, "Timestamp": dt(now - 16 * 86400)}]),
            "InvalidParameterValue",
            "The parameter MetricData.member.1.Timestamp must specify a time within the past two "
            "weeks.\nThe parameter MetricData.member.2.Timestamp must specify a time within the "
            "past two weeks.")
        self.assertCwError(lambda: self.cw.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "x", "Value": 1, "Timestamp": dt(now + 3 * 3600)}]),
            "InvalidParameterValue", contains="Timestamp")
        self.assertCwError(lambda: self.cw.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "x", "Value": 1, "Dimensions": [{"Name": "a", "Value": "1"}, {"Name": "a", "Value": "2"}]}]),
            "InvalidParameterValue", "No metric may specify the same dimension name twice.")
        self.assertCwError(lambda: self.cwnv.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "x", "Value": 1, "StorageResolution": 5}]), "InvalidParameterValue",
            "The value 5 for parameter MetricData.member.1.StorageResolution is invalid.")
        self.assertCwError(lambda: self.cwnv.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "x", "Value": 1, "Unit": "Parsecs"}]), "InvalidParameterValue",
            "The value Parsecs for parameter MetricData.member.1.Unit is invalid.")
        self.assertCwError(lambda: self.cw.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "x", "Value": 1e200}]), "InvalidParameterValue",
            contains="MetricData.member.1.Value is invalid")
        self.assertCwError(lambda: self.cw.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "x", "Value": float("inf")}]), "InvalidParameterValue",
            contains="MetricData.member.1.Value is invalid")
        dims = [{"Name": "d%d" % i, "Value": "v"} for i in range(31)]
        self.assertCwError(lambda: self.cwnv.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "x", "Value": 1, "Dimensions": dims}]), "InvalidParameterValue",
            contains="Dimensions")
        self.assertCwError(lambda: self.cwnv.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "x", "Values": [float(i) for i in range(151)]}]), "InvalidParameterValue",
            contains="Values")
        self.assertCwError(lambda: self.cwnv.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "m%d" % i, "Value": 1.0} for i in range(1001)]), "InvalidParameterValue",
            contains="1000")
        self.assertCwError(lambda: self.cwnv.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "x", "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1}}]),
            "MissingParameter",
            "The parameter MetricData.member.1.StatisticValues.Maximum is required.")
        # nothing of a refused put was kept
        self.assertEqual(self.cw.list_metrics(Namespace=ns)["Metrics"], [])

    def test_statistics_errors(self):
        ns = fresh_ns()
        now = time.time()
        base = dict(Namespace=ns, MetricName="x", StartTime=dt(now - 3600), EndTime=dt(now), Period=60)
        self.assertCwError(lambda: self.cw.get_metric_statistics(
            Statistics=["Sum"], ExtendedStatistics=["p99"], **base), "InvalidParameterCombination")
        self.assertCwError(lambda: self.cwnv.get_metric_statistics(**base),
                           "InvalidParameterCombination")
        b2 = dict(base, StartTime=dt(now - 86400 * 2), Period=60)
        err = self.assertCwError(lambda: self.cw.get_metric_statistics(Statistics=["Sum"], **b2),
                                 "InvalidParameterCombination")
        self.assertRegex(err["Message"], r"^You have requested up to 28\d\d datapoints, which "
                         r"exceeds the limit of 1440\. You may reduce the datapoints requested by "
                         r"increasing Period, or decreasing the time range\.$")
        self.assertCwError(lambda: self.cw.get_metric_statistics(
            Statistics=["Sum"], **dict(base, Period=7)), "InvalidParameterValue", contains="Period")
        self.assertCwError(lambda: self.cw.get_metric_statistics(
            Statistics=["Sum"], **dict(base, EndTime=dt(now - 3600))), "InvalidParameterValue",
            "The parameter StartTime must not equal parameter EndTime.")
        self.assertCwError(lambda: self.cwnv.get_metric_statistics(
            Statistics=["Median"], **base), "InvalidParameterValue", contains="Statistics.member.1")
        self.assertCwError(lambda: self.cw.get_metric_statistics(
            ExtendedStatistics=["p101"], **base), "InvalidParameterValue",
            contains="ExtendedStatistics.member.1")
        self.assertCwError(lambda: self.cwnv.get_metric_statistics(
            Statistics=["Sum"], **dict(base, Namespace=None) if False else
            {k: v for k, v in base.items() if k != "MetricName"}), "MissingParameter",
            "The parameter MetricName is required.")


class TestGetMetricData(CloudWatchTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ns = fresh_ns("Gmd")
        now = time.time()
        cls.t0 = minute(now) - 10 * 60
        # a: 1..10 each minute; b: 2 at even minutes only; c: 0 at minute 3
        data = []
        for i in range(10):
            data.append({"MetricName": "a", "Value": float(i + 1), "Timestamp": dt(cls.t0 + 60 * i + 1)})
            if i % 2 == 0:
                data.append({"MetricName": "b", "Value": 2.0, "Timestamp": dt(cls.t0 + 60 * i + 2)})
            data.append({"MetricName": "c", "Value": 0.0 if i == 3 else 1.0, "Timestamp": dt(cls.t0 + 60 * i + 3)})
        cls.cw.put_metric_data(Namespace=cls.ns, MetricData=data)

    def mq(self, id, name, stat="Sum", period=60, **kw):
        q = {"Id": id, "MetricStat": {"Metric": {"Namespace": self.ns, "MetricName": name},
                                      "Period": period, "Stat": stat}}
        q.update(kw)
        return q

    def gmd(self, queries, **kw):
        kw.setdefault("StartTime", dt(self.t0))
        kw.setdefault("EndTime", dt(self.t0 + 600))
        r = self.cw.get_metric_data(MetricDataQueries=queries, **kw)
        return r, {x["Id"]: x for x in r["MetricDataResults"]}

    def series(self, res):
        return [(int(t.timestamp()) - self.t0, v) for t, v in zip(res["Timestamps"], res["Values"])]

    def test_metric_stat_and_order(self):
        r, res = self.gmd([self.mq("m1", "a")])
        a = res["m1"]
        self.assertEqual(a["StatusCode"], "Complete")
        self.assertEqual(a["Label"], "a")
        # TimestampDescending by default
        self.assertEqual(self.series(a), [(60 * i, float(i + 1)) for i in reversed(range(10))])
        r, res = self.gmd([self.mq("m1", "a", Label="A!")], ScanBy="TimestampAscending")
        self.assertEqual(self.series(res["m1"]), [(60 * i, float(i + 1)) for i in range(10)])
        self.assertEqual(res["m1"]["Label"], "A!")
        r, res = self.gmd([self.mq("m1", "a", period=300, stat="Maximum")], ScanBy="TimestampAscending")
        self.assertEqual(self.series(res["m1"]), [(0, 5.0), (300, 10.0)])

    def test_arithmetic_and_missing_values(self):
        qs = [self.mq("a", "a", ReturnData=False), self.mq("b", "b", ReturnData=False),
              self.mq("c", "c", ReturnData=False),
              {"Id": "sum", "Expression": "a + b"},
              {"Id": "ratio", "Expression": "a / c", "Label": "ratio"},
              {"Id": "scaled", "Expression": "(a - 1) * 2 ^ 2"},
              {"Id": "neg", "Expression": "-a + AVG(a)"},
              {"Id": "cmp", "Expression": "a > 5 AND c == 1"}]
        r, res = self.gmd(qs, ScanBy="TimestampAscending")
        self.assertEqual(set(res), {"sum", "ratio", "scaled", "neg", "cmp"})
        # missing b counts as 0
        self.assertEqual(self.series(res["sum"]),
                         [(60 * i, (i + 1) + (2.0 if i % 2 == 0 else 0)) for i in range(10)])
        # a division by zero drops the point
        self.assertEqual([t for t, _ in self.series(res["ratio"])], [60 * i for i in range(10) if i != 3])
        self.assertEqual(res["ratio"]["Label"], "ratio")
        self.assertEqual(res["sum"]["Label"], "sum")
        self.assertEqual([v for _, v in self.series(res["scaled"])], [4.0 * i for i in range(10)])
        self.assertEqual([v for _, v in self.series(res["neg"])], [5.5 - (i + 1) for i in range(10)])
        self.assertEqual([v for _, v in self.series(res["cmp"])],
                         [1.0 if (i + 1) > 5 and i != 3 else 0.0 for i in range(10)])

    def test_functions(self):
        qs = [self.mq("ma", "a", ReturnData=False), self.mq("mb", "b", ReturnData=False),
              {"Id": "total", "Expression": "SUM(METRICS())"},
              {"Id": "avg", "Expression": "AVG([ma, mb])"},
              {"Id": "mx", "Expression": "MAX(METRICS(\"b\"))"},
              {"Id": "rate", "Expression": "RATE(ma)"},
              {"Id": "fill0", "Expression": "FILL(mb, 0)"},
              {"Id": "rep", "Expression": "FILL(mb, REPEAT)"},
              {"Id": "lin", "Expression": "FILL(IF(mb, ma), LINEAR)"},
              {"Id": "odd", "Expression": "IF(mb, ma)"},
              {"Id": "per", "Expression": "ma / PERIOD(ma)"},
              {"Id": "share", "Expression": "ma / SUM(ma) * 100"}]
        r, res = self.gmd(qs, ScanBy="TimestampAscending")
        self.assertEqual([v for _, v in self.series(res["total"])],
                         [(i + 1) + (2.0 if i % 2 == 0 else 0) for i in range(10)])
        self.assertEqual([v for _, v in self.series(res["avg"])],
                         [((i + 1) + (2.0 if i % 2 == 0 else 0)) / 2 for i in range(10)])
        self.assertEqual(self.series(res["mx"]), [(60 * i, 2.0) for i in range(0, 10, 2)])
        self.assertEqual(self.series(res["rate"]), [(60 * i, 1 / 60) for i in range(1, 10)])
        self.assertEqual([v for _, v in self.series(res["fill0"])],
                         [2.0 if i % 2 == 0 else 0.0 for i in range(10)])
        self.assertEqual(len(self.series(res["rep"])), 10)
        self.assertTrue(all(v == 2.0 for _, v in self.series(res["rep"])))
        # IF(mb, ma): a where b has a (true) value: 1, 3, 5, 7, 9 at even minutes
        self.assertEqual(self.series(res["odd"]), [(60 * i, float(i + 1)) for i in range(0, 10, 2)])
        lin = dict(self.series(res["lin"]))
        self.assertEqual(lin[60], 2.0)  # halfway between 1 (minute 0) and 3 (minute 2)
        self.assertEqual(lin[420], 8.0)
        self.assertNotIn(540, lin)  # a gap at the end stays
        self.assertEqual([v for _, v in self.series(res["per"])], [(i + 1) / 60 for i in range(10)])
        self.assertAlmostEqual(sum(v for _, v in self.series(res["share"])), 100.0)

    def test_array_results(self):
        qs = [self.mq("ma", "a", ReturnData=False, Label="A"), self.mq("mb", "b", ReturnData=False, Label="B"),
              {"Id": "e", "Expression": "METRICS() * 10", "Label": "x10"}]
        r, res = self.gmd(qs)
        results = [x for x in r["MetricDataResults"] if x["Id"] == "e"]
        self.assertEqual(sorted(x["Label"] for x in results), ["x10 A", "x10 B"])

    def test_paging(self):
        qs = [self.mq("m1", "a"), self.mq("m2", "c")]
        full, fres = self.gmd(qs)
        self.assertNotIn("NextToken", full)
        got = {"m1": [], "m2": []}
        token, pages = None, 0
        while True:
            kw = {"MaxDatapoints": 3}
            if token:
                kw["NextToken"] = token
            r, _ = self.gmd(qs, **kw)
            pages += 1
            n = 0
            for x in r["MetricDataResults"]:
                got[x["Id"]] += self.series(x)
                n += len(x["Values"])
            self.assertLessEqual(n, 3)
            token = r.get("NextToken")
            if not token:
                break
            self.assertTrue(any(x["StatusCode"] == "PartialData" for x in r["MetricDataResults"]))
        self.assertEqual(pages, 7)
        self.assertEqual(got["m1"], self.series(fres["m1"]))
        self.assertEqual(got["m2"], self.series(fres["m2"]))
        self.assertCwError(lambda: self.gmd(qs, NextToken="nonsense"), "InvalidNextToken")
        r, _ = self.gmd(qs, MaxDatapoints=3)
        self.assertCwError(lambda: self.gmd([self.mq("m1", "b")], NextToken=r["NextToken"]),
                           "InvalidNextToken")

    def test_errors(self):
        self.assertCwError(lambda: self.gmd([self.mq("m1", "a"), self.mq("m1", "b")]),
                           "ValidationError", contains="m1")
        self.assertCwError(lambda: self.gmd([self.mq("M1", "a")]), "ValidationError", contains="M1")
        self.assertCwError(lambda: self.gmd([{"Id": "e1", "Expression": "m9 + 1"}]),
                           "ValidationError", contains="m9")
        self.assertCwError(lambda: self.gmd([{"Id": "e1", "Expression": "NOPE(1)"}]),
                           "ValidationError", contains="NOPE")
        self.assertCwError(lambda: self.gmd([{"Id": "e1", "Expression": "e2"}, {"Id": "e2", "Expression": "e1"}]),
                           "ValidationError")
        self.assertCwError(lambda: self.gmd([self.mq("m1", "a"), {"Id": "e1", "Expression": "SUM(m1)"}]),
                           "ValidationError", contains="time series")
        self.assertCwError(lambda: self.gmd([self.mq("m1", "a")], EndTime=dt(self.t0)),
                           "ValidationError", "The parameter StartTime must not equal parameter EndTime.")
        self.assertCwError(lambda: self.gmd([self.mq("m1", "a")], EndTime=dt(self.t0 - 60)),
                           "ValidationError", "The parameter EndTime must be greater than StartTime.")
        q = self.mq("m1", "a")
        q["Expression"] = "1"
        self.assertCwError(lambda: self.gmd([q]), "ValidationError", contains="mutually exclusive")
        self.assertCwError(lambda: self.gmd([self.mq("m1", "a", stat="Median")]), "ValidationError",
                           contains="Stat")
        self.assertCwError(lambda: self.gmd([self.mq("m1", "a", period=1, ReturnData=False),
                                             {"Id": "f", "Expression": "FILL(m1, 0)"}],
                                            StartTime=dt(self.t0 - 5 * 86400)),
                           "ValidationError", contains="more than 100800 datapoints")
        self.assertCwError(lambda: self.gmd([{"Id": "e1", "Expression": "(" * 500 + "1" + ")" * 500}]),
                           "ValidationError", contains="nests too deeply")


class TestListMetrics(CloudWatchTestCase):
    def test_filters(self):
        ns = fresh_ns()
        now = dt(time.time())
        self.cw.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "req", "Value": 1.0, "Timestamp": now, "Dimensions": [{"Name": "Svc", "Value": "s3"}]},
            {"MetricName": "req", "Value": 1.0, "Timestamp": now, "Dimensions": [{"Name": "Svc", "Value": "sqs"}, {"Name": "Op", "Value": "Send"}]},
            {"MetricName": "err", "Value": 1.0, "Timestamp": now, "Dimensions": [{"Name": "Svc", "Value": "sqs"}]},
            {"MetricName": "err", "Value": 1.0, "Timestamp": now},
        ])
        other = fresh_ns()
        self.cw.put_metric_data(Namespace=other, MetricData=[{"MetricName": "req", "Value": 1.0}])

        def listed(**kw):
            out = []
            for page in self.cw.get_paginator("list_metrics").paginate(**kw):
                for m in page["Metrics"]:
                    out.append((m["Namespace"], m["MetricName"],
                                tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"]))))
            return sorted(out)

        self.assertEqual(len(listed(Namespace=ns)), 4)
        self.assertEqual(listed(Namespace=ns, MetricName="err"),
                         [(ns, "err", ()), (ns, "err", (("Svc", "sqs"),))])
        self.assertEqual(listed(Namespace=ns, Dimensions=[{"Name": "Svc", "Value": "sqs"}]),
                         [(ns, "err", (("Svc", "sqs"),)), (ns, "req", (("Op", "Send"), ("Svc", "sqs")))])
        self.assertEqual(len(listed(Namespace=ns, Dimensions=[{"Name": "Svc"}])), 3)
        self.assertEqual(len(listed(Namespace=ns, Dimensions=[{"Name": "Op"}, {"Name": "Svc"}])), 1)
        self.assertEqual(len(listed(Namespace=ns, RecentlyActive="PT3H")), 4)
        self.assertEqual(listed(MetricName="req", Namespace=other), [(other, "req", ())])
        all_ns = {m[0] for m in listed()}
        self.assertTrue({ns, other} <= all_ns)
        r = self.cw.list_metrics(Namespace=ns, IncludeLinkedAccounts=True)
        if "OwningAccounts" in r or self.json:
            self.assertEqual(r["OwningAccounts"], [h.ACCOUNT] * len(r["Metrics"]))
        self.assertCwError(lambda: self.cwnv.list_metrics(RecentlyActive="PT1H"), "InvalidParameterValue")
        self.assertCwError(lambda: self.cw.list_metrics(NextToken="bogus"), "InvalidParameterValue")

    def test_paging(self):
        ns = fresh_ns()
        for part in range(3):
            self.cw.put_metric_data(Namespace=ns, MetricData=[
                {"MetricName": "m", "Value": 1.0, "Dimensions": [{"Name": "i", "Value": "%d-%d" % (part, i)}]}
                for i in range(400)])
        pages = list(self.cw.get_paginator("list_metrics").paginate(Namespace=ns))
        self.assertEqual([len(p["Metrics"]) for p in pages], [500, 500, 200])
        self.assertTrue(pages[0].get("NextToken"))
        self.assertNotIn("NextToken", pages[-1])
        seen = {m["Dimensions"][0]["Value"] for p in pages for m in p["Metrics"]}
        self.assertEqual(len(seen), 1200)


class TestCli(CloudWatchTestCase):
    def test_aws_cli(self):
        aws = shutil.which("aws")
        if not aws:
            self.skipTest("aws-cli not installed")
        ns = fresh_ns("Cli")
        env = dict(os.environ, AWS_ACCESS_KEY_ID=h.ACCESS_KEY, AWS_SECRET_ACCESS_KEY=h.SECRET_KEY,
                   AWS_DEFAULT_REGION=h.REGION, AWS_MAX_ATTEMPTS="1", AWS_PAGER="")
        env.pop("AWS_ENDPOINT_URL", None)

        def run(*args):
            return subprocess.run([aws, "--endpoint-url", self.server.endpoint, "cloudwatch"] + list(args),
                                  env=env, capture_output=True, text=True, timeout=60)

        now = time.time()
        for v in ("3", "4"):
            p = run("put-metric-data", "--namespace", ns, "--metric-name", "cli", "--unit", "Count",
                    "--value", v, "--dimensions", "Host=a")
            self.assertEqual(p.returncode, 0, p.stderr)
        p = run("get-metric-statistics", "--namespace", ns, "--metric-name", "cli",
                "--dimensions", "Name=Host,Value=a", "--statistics", "Sum", "Maximum",
                "--period", "60", "--start-time", dt(now - 120).isoformat(),
                "--end-time", dt(now + 120).isoformat(), "--output", "json")
        self.assertEqual(p.returncode, 0, p.stderr)
        pts = json.loads(p.stdout)["Datapoints"]
        self.assertEqual(sum(d["Sum"] for d in pts), 7.0)
        self.assertEqual(max(d["Maximum"] for d in pts), 4.0)
        p = run("list-metrics", "--namespace", ns, "--output", "json")
        self.assertEqual(json.loads(p.stdout)["Metrics"][0]["MetricName"], "cli")
        p = run("put-metric-data", "--namespace", "AWS/S3", "--metric-name", "x", "--value", "1")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("InvalidParameterValue", p.stderr)


class TestDurability(CloudWatchTestCase):
    """Its own server: restarts and kill -9 keep every acknowledged datapoint."""

    @classmethod
    def setUpClass(cls):
        cls.own = h.Server().start()
        cls.server = cls.own
        cls.cw = cw_client(cls.own)
        cls.cwnv = cw_client(cls.own, validate=False)
        cls.protocol = cls.cw.meta.service_model.protocol
        cls.json = cls.protocol != "query"

    @classmethod
    def tearDownClass(cls):
        cls.own.cleanup()

    def test_restart_and_kill9(self):
        ns = fresh_ns()
        now = time.time()
        t = minute(now) - 60
        self.cw.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "d", "Value": float(v), "Timestamp": dt(t + 1), "Dimensions": [{"Name": "x", "Value": "1"}]}
            for v in range(1, 101)])
        self.own.restart()
        self.cw = cw_client(self.own)
        pts, _ = self.stats(ns, "d", t, t + 60, 60, dims=[{"Name": "x", "Value": "1"}])
        self.assertEqual((pts[0]["SampleCount"], pts[0]["Sum"]), (100, 5050))
        self.assertEqual(len(self.cw.list_metrics(Namespace=ns)["Metrics"]), 1)
        # acknowledged, then killed: still there, and the merge continues
        self.cw.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "d", "Value": 1000.0, "Timestamp": dt(t + 2), "Dimensions": [{"Name": "x", "Value": "1"}]},
            {"MetricName": "e", "Value": 1.0, "Timestamp": dt(t + 2)}])
        self.own.restart(kill=True)
        self.cw = cw_client(self.own)
        pts, _ = self.stats(ns, "d", t, t + 60, 60, dims=[{"Name": "x", "Value": "1"}])
        self.assertEqual((pts[0]["SampleCount"], pts[0]["Sum"], pts[0]["Maximum"]), (101, 6050, 1000))
        pts, _ = self.stats(ns, "d", t, t + 60, 60, dims=[{"Name": "x", "Value": "1"}], ext=["p50", "p100"])
        self.assertLess(abs(pts[0]["ExtendedStatistics"]["p50"] - 51) / 51, 0.01)
        self.assertEqual(pts[0]["ExtendedStatistics"]["p100"], 1000)
        self.assertEqual(len(self.cw.list_metrics(Namespace=ns)["Metrics"]), 2)

    def test_metric_cap(self):
        srv = h.Server(env={"TWEEDLE_METRICS_MAX": "5"}).start()
        try:
            cw = cw_client(srv)
            cw.put_metric_data(Namespace="Cap", MetricData=[{"MetricName": "m%d" % i, "Value": 1.0} for i in range(5)])
            with self.assertRaises(ClientError) as cm:
                cw.put_metric_data(Namespace="Cap", MetricData=[{"MetricName": "m9", "Value": 1.0}])
            self.assertEqual(cm.exception.response["Error"]["Code"], "LimitExceeded")
            self.assertIn("at most 5", cm.exception.response["Error"]["Message"])
            cw.put_metric_data(Namespace="Cap", MetricData=[{"MetricName": "m1", "Value": 2.0}])
            self.assertEqual(len(cw.list_metrics(Namespace="Cap")["Metrics"]), 5)
        finally:
            srv.cleanup()


class TestFailedCommit(h.FaultServerTestCase):
    """A PutMetricData whose batch fails answers 5xx and leaves nothing: no
    datapoint, no metric in ListMetrics, before or after a restart."""

    def test_failed_put_leaves_nothing(self):
        cw = cw_client(self.server)
        now = time.time()
        time.sleep(1.0)  # let the engines' first housekeeping commits pass
        for attempt in range(5):
            name = "lost%d" % attempt
            self.fail_commits(1)
            try:
                cw.put_metric_data(Namespace="Fault", MetricData=[
                    {"MetricName": name, "Value": 1.0, "Timestamp": dt(now)}])
            except ClientError as e:
                self.assertGreaterEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 500)
                self.assertEqual(e.response["Error"]["Code"], "ServiceUnavailable")
                break
            time.sleep(0.2)  # a background batch took the failure: again
        else:
            self.fail("the put was never the refused one")
        self.fault("fail-commits", None)
        names = [m["MetricName"] for m in cw.list_metrics(Namespace="Fault")["Metrics"]]
        self.assertNotIn(name, names)
        r = cw.get_metric_statistics(Namespace="Fault", MetricName=name, StartTime=dt(now - 120),
                                     EndTime=dt(now + 120), Period=60, Statistics=["SampleCount"])
        self.assertEqual(r["Datapoints"], [])
        # the server serves on: the same put again is kept, and survives a restart
        cw.put_metric_data(Namespace="Fault", MetricData=[{"MetricName": name, "Value": 2.0, "Timestamp": dt(now)}])
        self.server.restart()
        cw = cw_client(self.server)
        self.assertIn(name, [m["MetricName"] for m in cw.list_metrics(Namespace="Fault")["Metrics"]])
        r = cw.get_metric_statistics(Namespace="Fault", MetricName=name, StartTime=dt(now - 120),
                                     EndTime=dt(now + 120), Period=60, Statistics=["Sum", "SampleCount"])
        self.assertEqual([(p["SampleCount"], p["Sum"]) for p in r["Datapoints"]], [(1.0, 2.0)])


if __name__ == "__main__":
    unittest.main()
