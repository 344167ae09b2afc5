"""GET /_/metrics: the Prometheus text format 0.0.4, checked line by line by
a strict parser written here (prometheus_client is not a dependency), and
the numbers it reports against what the test did: requests by service,
operation and status code, latency histograms, bytes, in-flight, queue
gauges, store commit histograms; access with a bearer token, SigV4, or
--metrics-public; bounded label cardinality.

Format facts (Prometheus exposition formats, text 0.0.4): `# HELP name text`,
`# TYPE name counter|gauge|histogram|summary|untyped` before the family's
samples, one family's samples together, `name{label="value",...} value`,
label values escape only backslash, double quote and newline, histograms
as `_bucket{le=...}` (cumulative, ending with le="+Inf" equal to `_count`),
`_sum`, `_count`; counters named `_total`; Content-Type
`text/plain; version=0.0.4`.
"""

import math
import re
import sys
import time
import unittest

import harness as h

TOKEN = "prom-test-token-123"


def setUpModule():
    h.start_module_server(__name__, extra_args=["--metrics-token", TOKEN])


def tearDownModule():
    h.stop_module_server(__name__)


NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
SAMPLE_RE = re.compile(r"^(%s)(\{(.*)\})? (\S+)( -?\d+)?$" % NAME)
LABEL_RE = re.compile(r'(%s)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)' % LABEL)
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class FormatError(AssertionError):
    pass


def parse_value(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.match(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$", s):
        raise FormatError("bad value %r" % s)
    return float(s)


def parse_labels(s, line):
    out = {}
    pos = 0
    while pos < len(s):
        m = LABEL_RE.match(s, pos)
        if not m:
            raise FormatError("bad labels in %r" % line)
        name, val = m.group(1), m.group(2)
        if name in out:
            raise FormatError("label %s twice in %r" % (name, line))
        out[name] = val.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        pos = m.end()
    return out


def parse(text):
    """Strict text-format 0.0.4 parser: {family: {"type", "help", "samples": [(name, labels, value)]}}."""
    if not text.endswith("\n"):
        raise FormatError("the exposition must end with a newline")
    fams = {}
    current = None
    done = set()
    seen = set()
    for line in text.split("\n")[:-1]:
        if line == "":
            raise FormatError("empty line")
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) < 3 or parts[0] != "#" or parts[1] not in ("HELP", "TYPE"):
                raise FormatError("bad comment %r" % line)
            fam = parts[2]
            if not re.match("^%s$" % NAME, fam):
                raise FormatError("bad family name %r" % fam)
            if fam in done:
                raise FormatError("family %s interleaved with another" % fam)
            if current and current != fam:
                done.add(current)
            current = fam
            f = fams.setdefault(fam, {"type": None, "help": None, "samples": []})
            if parts[1] == "TYPE":
                if f["type"] is not None or f["samples"]:
                    raise FormatError("TYPE of %s repeated or after samples" % fam)
                if len(parts) != 4 or parts[3] not in TYPES:
                    raise FormatError("bad TYPE %r" % line)
                f["type"] = parts[3]
            else:
                if f["help"] is not None:
                    raise FormatError("HELP of %s repeated" % fam)
                f["help"] = parts[3] if len(parts) == 4 else ""
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise FormatError("bad sample line %r" % line)
        name, labels, value = m.group(1), parse_labels(m.group(3) or "", line), parse_value(m.group(4))
        fam = name
        if current and current in fams and fams[current]["type"] == "histogram":
            for suf in ("_bucket", "_sum", "_count"):
                if name == current + suf:
                    fam = current
        if fam != current:
            raise FormatError("sample %s outside its family (current %s)" % (name, current))
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise FormatError("duplicate series %r" % (key,))
        seen.add(key)
        fams[fam]["samples"].append((name, labels, value))
    for fam, f in fams.items():
        if f["type"] is None:
            raise FormatError("family %s has no TYPE" % fam)
        if f["type"] == "counter" and not fam.endswith("_total"):
            raise FormatError("counter %s does not end in _total" % fam)
        if f["type"] == "histogram":
            check_histogram(fam, f["samples"])
    return fams


def check_histogram(fam, samples):
    series = {}
    for name, labels, value in samples:
        base = {k: v for k, v in labels.items() if k != "le"}
        key = tuple(sorted(base.items()))
        s = series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if name == fam + "_bucket":
            if "le" not in labels:
                raise FormatError("bucket without le in %s" % fam)
            s["buckets"].append((parse_value(labels["le"]), value))
        elif name == fam + "_sum":
            s["sum"] = value
        elif name == fam + "_count":
            s["count"] = value
        else:
            raise FormatError("sample %s in histogram %s" % (name, fam))
    for key, s in series.items():
        b = s["buckets"]
        if not b or b[-1][0] != math.inf:
            raise FormatError("%s%r lacks the +Inf bucket" % (fam, key))
        les = [x[0] for x in b]
        if les != sorted(les) or len(set(les)) != len(les):
            raise FormatError("%s%r buckets out of order" % (fam, key))
        counts = [x[1] for x in b]
        if counts != sorted(counts):
            raise FormatError("%s%r buckets not cumulative" % (fam, key))
        if s["count"] is None or s["sum"] is None or s["count"] != counts[-1]:
            raise FormatError("%s%r: _count must equal the +Inf bucket" % (fam, key))


class ParserSelfTest(unittest.TestCase):
    """The parser refuses what Prometheus refuses (so the checks below can fail)."""

    def test_rejects(self):
        ok = "# HELP a_total x\n# TYPE a_total counter\na_total{x=\"1\"} 3\n"
        parse(ok)
        bad = [
            ok.rstrip("\n"),
            ok.replace("counter", "countr"),
            "# TYPE a counter\na 1\n",                                    # counter without _total
            ok + 'a_total{x="1"} 4\n',                                   # duplicate series
            ok + "# TYPE b gauge\nb 1\na_total{x=\"2\"} 1\n",           # interleaved
            "# TYPE a_total counter\na_total{x=\"a\"b\"} 1\n",          # bad escape
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 1\nh_count 2\n",  # no +Inf
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
            "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
            "# TYPE g gauge\ng one\n",
        ]
        for b in bad:
            with self.assertRaises(FormatError, msg=b):
                parse(b)


def get_metrics(server, headers=None, sign=False):
    return h.raw_request(server, "GET", "/_/metrics", headers=headers or {}, sign=sign,
                         service="monitoring")


def sample(fams, fam, name=None, **labels):
    for n, l, v in fams[fam]["samples"]:
        if n == (name or fam) and all(l.get(k) == str(val) for k, val in labels.items()):
            return v
    return None


class TestPrometheus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = sys.modules[__name__].SERVER
        cls.sqs = cls.server.client()

    def scrape(self):
        r = get_metrics(self.server, {"Authorization": "Bearer " + TOKEN})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        text = r.body.decode("utf-8")
        fams = parse(text)
        for fam in fams:
            self.assertTrue(fam.startswith("tweedle_"), fam)
        return fams

    def scrape_until(self, pred, timeout=3):
        deadline = time.time() + timeout
        while True:
            fams = self.scrape()
            if pred(fams) or time.time() > deadline:
                return fams
            time.sleep(0.05)

    def test_access(self):
        self.assertEqual(get_metrics(self.server).status, 401)
        r = get_metrics(self.server, {"Authorization": "Bearer wrong"})
        self.assertEqual(r.status, 401)
        self.assertIn("Bearer", r.header("WWW-Authenticate"))
        self.assertEqual(get_metrics(self.server, {"Authorization": "Bearer " + TOKEN}).status, 200)
        self.assertEqual(get_metrics(self.server, sign=True).status, 200)
        bad = h.raw_request(self.server, "GET", "/_/metrics", sign=True, service="monitoring",
                            secret_key="wrong-secret")
        self.assertEqual(bad.status, 401)

    def test_public(self):
        srv = h.Server(extra_args=["--metrics-public"])
        try:
            srv.start()
            r = get_metrics(srv)
            self.assertEqual(r.status, 200)
            parse(r.body.decode())
        finally:
            srv.stop()
            srv.cleanup()

    def test_requests_queues_store(self):
        name = h.unique("prom")
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        for i in range(3):
            self.sqs.send_message(QueueUrl=url, MessageBody="x" * 100)
        self.sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
        self.assertEqual(len(got), 1)
        with self.assertRaises(Exception):
            self.sqs.get_queue_url(QueueName=name + "-missing")
        # a request is counted as its connection finishes with it: just after the answer
        fams = self.scrape_until(lambda f: sample(f, "tweedle_http_requests_total", service="sqs",
                                                  operation="GetQueueUrl", code=400))
        sends = sample(fams, "tweedle_http_requests_total", service="sqs", operation="SendMessage",
                       code=200)
        self.assertGreaterEqual(sends, 4)
        self.assertGreaterEqual(sample(fams, "tweedle_http_requests_total", service="sqs",
                                       operation="GetQueueUrl", code=400), 1)
        cnt = sample(fams, "tweedle_http_request_duration_seconds",
                     "tweedle_http_request_duration_seconds_count", service="sqs",
                     operation="SendMessage")
        total = sum(v for n, l, v in fams["tweedle_http_requests_total"]["samples"]
                    if l["service"] == "sqs" and l["operation"] == "SendMessage")
        self.assertEqual(cnt, total)
        self.assertGreaterEqual(sample(fams, "tweedle_http_request_bytes_total", service="sqs",
                                       operation="SendMessage"), 400)
        self.assertGreater(sample(fams, "tweedle_http_response_bytes_total", service="sqs",
                                  operation="SendMessage"), 0)
        self.assertGreaterEqual(sample(fams, "tweedle_http_requests_in_flight"), 1)
        self.assertEqual(sample(fams, "tweedle_sqs_messages_visible", queue=name), 2)
        self.assertEqual(sample(fams, "tweedle_sqs_messages_in_flight", queue=name), 1)
        self.assertEqual(sample(fams, "tweedle_sqs_messages_delayed", queue=name), 1)
        self.assertEqual(fams["tweedle_store_commit_duration_seconds"]["type"], "histogram")
        self.assertGreater(sample(fams, "tweedle_store_commit_duration_seconds",
                                  "tweedle_store_commit_duration_seconds_count"), 0)
        self.assertGreaterEqual(sample(fams, "tweedle_store_commit_batch_operations",
                                       "tweedle_store_commit_batch_operations_sum"), 5)
        self.assertEqual(sample(fams, "tweedle_store_commit_failures_total"), 0)
        # counters only grow
        self.sqs.send_message(QueueUrl=url, MessageBody="y")
        fams2 = self.scrape_until(lambda f: sample(f, "tweedle_http_requests_total", service="sqs",
                                                   operation="SendMessage", code=200) > sends)
        self.assertEqual(sample(fams2, "tweedle_http_requests_total", service="sqs",
                                operation="SendMessage", code=200), sends + 1)

    def test_sns_deliveries(self):
        import boto3
        sns = boto3.client("sns", endpoint_url=self.server.endpoint, region_name=h.REGION,
                           aws_access_key_id=h.ACCESS_KEY, aws_secret_access_key=h.SECRET_KEY)
        before = self.scrape()
        b_pub = sample(before, "tweedle_sns_messages_published_total")
        b_del = sample(before, "tweedle_sns_deliveries_total", outcome="delivered")
        topic = sns.create_topic(Name=h.unique("promt"))["TopicArn"]
        url = self.sqs.create_queue(QueueName=h.unique("promq"))["QueueUrl"]
        qarn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
        sns.publish(TopicArn=topic, Message="hello")
        after = self.scrape_until(
            lambda f: sample(f, "tweedle_sns_deliveries_total", outcome="delivered") > b_del, timeout=10)
        self.assertEqual(sample(after, "tweedle_sns_messages_published_total"), b_pub + 1)
        self.assertEqual(sample(after, "tweedle_sns_deliveries_total", outcome="delivered"), b_del + 1)

    def test_operation_labels_are_bounded(self):
        # the CloudWatch CBOR path names the operation in the URL: any string
        for i in range(300):
            h.raw_request(self.server, "POST",
                          "/service/GraniteServiceVersion20100801/operation/Op%04d" % i,
                          body=b"", service="monitoring",
                          headers={"smithy-protocol": "rpc-v2-cbor"})
        fams = self.scrape_until(lambda f: sample(f, "tweedle_http_requests_total", service="monitoring",
                                                  operation="other", code=400) == 300 - 256)
        pairs = {(l["service"], l["operation"]) for n, l, v in fams["tweedle_http_requests_total"]["samples"]}
        self.assertLessEqual(len({p for p in pairs if p[0] == "monitoring"}), 256 + 1)
        other = sample(fams, "tweedle_http_requests_total", service="monitoring", operation="other",
                       code=400)
        self.assertIsNotNone(other, sorted(pairs)[-5:])
        self.assertEqual(other, 300 - 256)


if __name__ == "__main__":
    unittest.main()
