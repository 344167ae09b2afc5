"""`tweedle bench --workload putmetric` against a real tweedle, over JSON 1.0
and the query protocol: the calls it reports as acknowledged put exactly
their datums, spread over --metric-names x 8 Shard series, as read back
with boto3's cloudwatch client (ListMetrics, GetMetricStatistics)."""

import json
import subprocess
import time
import unittest

import harness as h

SERVER = None


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


class BenchPutMetricTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = SERVER
        session = h.boto3.session.Session(aws_access_key_id=h.ACCESS_KEY,
                                          aws_secret_access_key=h.SECRET_KEY,
                                          region_name=h.REGION)
        cls.cw = session.client("cloudwatch", endpoint_url=cls.server.endpoint)

    def bench(self, *args):
        cmd = [h.binary(), "bench", "--endpoint", self.server.endpoint, "--workload", "putmetric",
               "--access-key", h.ACCESS_KEY, "--secret-key", h.SECRET_KEY, "--region", h.REGION,
               "--json", *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        lines = p.stdout.strip().splitlines()
        self.assertTrue(lines, "no JSON line; stderr:\n" + p.stderr)
        return p.returncode, json.loads(lines[-1]), p.stderr

    def series(self, ns):
        out, token = [], None
        while True:
            kw = {"Namespace": ns}
            if token:
                kw["NextToken"] = token
            r = self.cw.list_metrics(**kw)
            out += r["Metrics"]
            token = r.get("NextToken")
            if not token:
                return out

    def samples(self, ns, metric):
        now = time.time()
        pts = self.cw.get_metric_statistics(Namespace=ns, MetricName=metric["MetricName"],
                                            Dimensions=metric["Dimensions"],
                                            StartTime=now - 900, EndTime=now + 60, Period=60,
                                            Statistics=["SampleCount", "Maximum"])["Datapoints"]
        for p in pts:
            self.assertEqual(p["Unit"], "Milliseconds")
            self.assertLess(p["Maximum"], 500)
        return sum(p["SampleCount"] for p in pts)

    def run_and_check(self, protocol):
        ns = "bench/" + h.unique("pm")
        rc, res, err = self.bench("--cw-protocol", protocol, "--namespace", ns, "--messages", "60",
                                  "--datums", "20", "--metric-names", "5", "--connections", "4")
        self.assertEqual(rc, 0, err)
        self.assertEqual((res["workload"], res["protocol"], res["datums"]), ("putmetric", protocol, 20))
        self.assertEqual((res["sent"], res["errors"]), (60, 0))
        self.assertIn("datums/s", err)
        # 20 datums over m00..m04 x Shard s0..s3: 20 series, each given one
        # datum per call (60 measured + the one checked before the run)
        got = self.series(ns)
        names = sorted({m["MetricName"] for m in got})
        shards = sorted({d["Value"] for m in got for d in m["Dimensions"] if d["Name"] == "Shard"})
        self.assertEqual(names, ["m00", "m01", "m02", "m03", "m04"])
        self.assertEqual(shards, ["s0", "s1", "s2", "s3"])
        self.assertEqual(len(got), 20)
        for m in got[:4]:
            self.assertEqual(self.samples(ns, m), 61.0, m)

    def test_json(self):
        self.run_and_check("json")

    def test_query(self):
        self.run_and_check("query")

    def test_refused_endpoint_fails_fast(self):
        """An AWS/ namespace is refused (as CloudWatch does): the check before
        the run reports it and the exit status is 1, with no load run."""
        cmd = [h.binary(), "bench", "--endpoint", self.server.endpoint, "--workload", "putmetric",
               "--access-key", h.ACCESS_KEY, "--secret-key", h.SECRET_KEY, "--namespace", "AWS/EC2"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("the first PutMetricData (JSON 1.0 protocol) failed: 400", p.stderr)


if __name__ == "__main__":
    unittest.main()
