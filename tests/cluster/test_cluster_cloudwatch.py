"""CloudWatch in cluster mode: three tweedle nodes on one private PostgreSQL 15.

What is asserted (issue 14; docs/cluster.md "CloudWatch on PostgreSQL"):
* PutMetricData on A, B and C into one metric: GetMetricStatistics (Sum,
  SampleCount, Minimum, Maximum) and GetMetricData on any node answer the
  total of the three at once (read-your-writes across nodes); percentiles
  merge across the nodes' rows.
* ListMetrics on C lists metrics put on A and B as soon as they answered.
* Dashboards put on A are read on B and listed on C; deleted on C, gone on A.
* An alarm put on A is described on B and C at once; its datapoints put on
  B, it goes to ALARM and back to OK: its history (read on C) holds exactly
  one StateUpdate per change and one Action item per change (not three: the
  evaluation runs on one node), and with SNS on PostgreSQL the topic's queue
  gets one notification per change.
* SetAlarmState on C is seen on A; DeleteAlarms on B is gone on A and C; a
  composite alarm put on B follows its child set on C (read on A), once.
* Exactly one session holds each lock ("cloudwatch-alarms", "cloudwatch-metrics";
  pg_locks) and one node logs that it leads the evaluation.
* The alarm-write fence: a PutMetricAlarm on another node while the evaluator
  is between its last check and the commit of a transition (a pause the test
  turns on for alarms named fence-pause-*) waits for that commit and is kept.
* Built-in AWS/SQS counters: sends on A and B, receives and deletes on C, an
  empty receive on A: each node publishes its own counts and the Sum on any
  node is the cluster's total (and stays so: nothing counted twice).
* kill -9 of the node that evaluates alarms (the one whose log says it leads
  "cloudwatch-alarms"): another node takes the lock and the alarm still
  transitions, once.
"""

import os
import re
import sys
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pg  # noqa: E402

from botocore.exceptions import ClientError  # noqa: E402

PG = None
CLUSTER = None
TICK_MS = "500"
PAUSE_MS = "1500"  # the evaluator's pause in a transition of an alarm named fence-pause-*
LEAD = "cloudwatch-alarms: this node leads it for the cluster"


def setUpModule():
    global PG, CLUSTER
    PG, CLUSTER = pg.start_module(3, env={"TWEEDLE_ALARM_TICK_MS": TICK_MS,
                                          "TWEEDLE_ALARM_FENCE_PAUSE_MS": PAUSE_MS},
                                  args=["--metrics-interval", "0"])  # only the test's metrics


def tearDownModule():
    pg.stop_module(PG, CLUSTER)


client = pg.client


def psql(sql):
    return pg.psql(PG, sql)


log_of = pg.log_of


def lead_key(name):
    """The advisory lock key of tw_store_pg_lead_open(s, name) (src/store/pg/pg_state.c)."""
    h = 2166136261
    for ch in name.encode():
        h = ((h ^ ch) * 16777619) & 0xffffffff
    return 0x7477, h


def lock_holders(name):
    """application_name of each session holding the lock `name`."""
    hi, lo = lead_key(name)
    return [r[0] for r in psql(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %d AND l.objid = %d"
        % (hi, lo))]


def unique(tag):
    return "%s-%s" % (tag, uuid.uuid4().hex[:10])


wait_for = pg.wait_for


def put_now(cw, ns, name, value, after=None):
    """One datapoint in the middle of the last complete 10-second period (a
    period after `after`, waiting for it); returns that period's start."""
    end = int(time.time() // 10) * 10
    while after is not None and end - 10 <= after:
        time.sleep(0.2)
        end = int(time.time() // 10) * 10
    cw.put_metric_data(Namespace=ns, MetricData=[{
        "MetricName": name, "Value": value, "Timestamp": end - 5, "StorageResolution": 1}])
    return end - 10


class Base(unittest.TestCase):
    def setUp(self):
        self.nodes = CLUSTER.nodes[:3]
        self.cw = [client(n, "cloudwatch") for n in self.nodes]

    def alarm(self, cw, name):
        got = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        return got[0] if got else None

    def history(self, cw, name, kind, types=("MetricAlarm",)):
        items = cw.describe_alarm_history(AlarmName=name, HistoryItemType=kind,
                                          AlarmTypes=list(types),
                                          MaxRecords=100)["AlarmHistoryItems"]
        return items

    def wait_state(self, cw, name, state, timeout=30):
        return wait_for(lambda: (self.alarm(cw, name) or {}).get("StateValue") == state,
                        timeout, "alarm %s to %s" % (name, state))


class ClusterMetrics(Base):
    def test_put_on_three_nodes_statistics_on_any_node_are_the_total(self):
        ns, name = "ClusterTest", unique("m")
        now = time.time()
        for cw, v in zip(self.cw, (1.0, 2.0, 4.0)):
            cw.put_metric_data(Namespace=ns, MetricData=[
                {"MetricName": name, "Value": v, "Timestamp": now, "Unit": "Count"}])
        for cw in self.cw:  # at once: each put answered after its commit
            got = cw.get_metric_statistics(
                Namespace=ns, MetricName=name, StartTime=now - 600, EndTime=now + 120,
                Period=3600, Statistics=["Sum", "SampleCount", "Minimum", "Maximum"],
                Unit="Count")["Datapoints"]
            self.assertEqual(len(got), 1, got)
            self.assertEqual(got[0]["Sum"], 7.0)
            self.assertEqual(got[0]["SampleCount"], 3.0)
            self.assertEqual(got[0]["Minimum"], 1.0)
            self.assertEqual(got[0]["Maximum"], 4.0)
            self.assertEqual(got[0]["Unit"], "Count")
            got = cw.get_metric_statistics(
                Namespace=ns, MetricName=name, StartTime=now - 600, EndTime=now + 120,
                Period=3600, ExtendedStatistics=["p50", "p100"])["Datapoints"]
            self.assertEqual(got[0]["ExtendedStatistics"]["p100"], 4.0)
            self.assertAlmostEqual(got[0]["ExtendedStatistics"]["p50"], 2.0, delta=0.05)
        r = self.cw[1].get_metric_data(
            MetricDataQueries=[{"Id": "s", "MetricStat": {
                "Metric": {"Namespace": ns, "MetricName": name}, "Period": 60, "Stat": "Sum"}}],
            StartTime=now - 600, EndTime=now + 120)["MetricDataResults"][0]
        self.assertEqual(sum(r["Values"]), 7.0)

    def test_many_puts_from_three_nodes_add_up(self):
        ns, name = "ClusterTest", unique("many")
        now = time.time()
        for i in range(30):
            self.cw[i % 3].put_metric_data(Namespace=ns, MetricData=[
                {"MetricName": name, "Values": [1.0, 2.0], "Counts": [1.0, 3.0],
                 "Timestamp": now}])
        for cw in self.cw:
            got = cw.get_metric_statistics(Namespace=ns, MetricName=name, StartTime=now - 600,
                                           EndTime=now + 120, Period=3600,
                                           Statistics=["Sum", "SampleCount"])["Datapoints"]
            self.assertEqual(got[0]["Sum"], 30 * 7.0)
            self.assertEqual(got[0]["SampleCount"], 30 * 4.0)

    def test_list_metrics_on_c_lists_what_a_and_b_put(self):
        ns = unique("ns")
        self.cw[0].put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "fromA", "Value": 1.0, "Dimensions": [{"Name": "Node", "Value": "a"}]}])
        self.cw[1].put_metric_data(Namespace=ns, MetricData=[{"MetricName": "fromB", "Value": 1.0}])
        got = self.cw[2].list_metrics(Namespace=ns)["Metrics"]
        self.assertEqual(sorted(m["MetricName"] for m in got), ["fromA", "fromB"])
        a = [m for m in got if m["MetricName"] == "fromA"][0]
        self.assertEqual(a["Dimensions"], [{"Name": "Node", "Value": "a"}])
        got = self.cw[2].list_metrics(Namespace=ns, Dimensions=[{"Name": "Node"}])["Metrics"]
        self.assertEqual([m["MetricName"] for m in got], ["fromA"])

    def test_rows_are_in_postgresql(self):
        ns, name = "ClusterTest", unique("pg")
        self.cw[0].put_metric_data(Namespace=ns, MetricData=[{"MetricName": name, "Value": 3.0}])
        rows = psql("SELECT count(*) FROM cw_metrics WHERE namespace = 'ClusterTest' "
                    "AND name = '%s'" % name)
        self.assertEqual(rows[0][0], "1")


class ClusterDashboards(Base):
    def test_dashboard_put_on_a_read_on_b_listed_on_c_deleted_on_c(self):
        name = unique("dash")
        body = '{"widgets":[{"type":"text","x":0,"y":0,"width":6,"height":3,' \
               '"properties":{"markdown":"hi"}}]}'
        self.cw[0].put_dashboard(DashboardName=name, DashboardBody=body)
        got = self.cw[1].get_dashboard(DashboardName=name)
        self.assertEqual(got["DashboardName"], name)
        self.assertIn("markdown", got["DashboardBody"])
        names = [d["DashboardName"] for d in self.cw[2].list_dashboards()["DashboardEntries"]]
        self.assertIn(name, names)
        self.cw[2].delete_dashboards(DashboardNames=[name])
        with self.assertRaises(ClientError) as cm:
            self.cw[0].get_dashboard(DashboardName=name)
        self.assertEqual(cm.exception.response["Error"]["Code"], "ResourceNotFound")


class ClusterAlarmRace(Base):
    def test_a_change_on_another_node_during_a_transition_is_kept(self):
        # the evaluator pauses (TWEEDLE_ALARM_FENCE_PAUSE_MS) after its last check
        # and before appending the transition: a PutMetricAlarm on another node
        # in that window waits for the transition's commit (the fence) and is
        # kept; without the fence the transition's save overwrote it
        leaders = wait_for(lambda: [n for n in self.nodes if LEAD in log_of(n)], 20,
                           "a node leading the alarm evaluation")
        leader = leaders[0]
        other = [i for i, n in enumerate(self.nodes) if n is not leader][0]
        name, ns = "fence-pause-" + uuid.uuid4().hex[:10], "ClusterAlarm"
        args = dict(AlarmName=name, Namespace=ns, MetricName=name, Statistic="Maximum",
                    Period=10, EvaluationPeriods=1, Threshold=5.0, TreatMissingData="ignore",
                    ComparisonOperator="GreaterThanThreshold")
        self.cw[0].put_metric_alarm(AlarmDescription="first", **args)
        put_now(self.cw[1], ns, name, 9.0)
        wait_for(lambda: "fenced transition of %s" % name in log_of(leader), 30,
                 "the evaluator's fenced transition")
        t0 = time.monotonic()
        self.cw[other].put_metric_alarm(AlarmDescription="second", **args)
        waited = time.monotonic() - t0
        wait_for(lambda: (self.alarm(self.cw[2], name) or {}).get("AlarmDescription") == "second"
                 and self.alarm(self.cw[2], name)["StateValue"] == "ALARM", 30,
                 "the new description kept and the alarm in ALARM")
        time.sleep(1)
        got = self.alarm(self.cw[1], name)
        self.assertEqual((got["AlarmDescription"], got["StateValue"]), ("second", "ALARM"))
        ups = self.history(self.cw[0], name, "ConfigurationUpdate")
        self.assertEqual(len(ups), 2, ups)
        self.assertGreater(waited, 0.3)  # it waited for the transition's commit


class ClusterAlarms(Base):
    def sns_topic_with_queue(self):
        """(topic ARN, queue URL, sqs client), or None when SNS is not on PostgreSQL yet."""
        sns, sqs = client(self.nodes[0], "sns"), client(self.nodes[1], "sqs")
        try:
            topic = sns.create_topic(Name=unique("alarm-topic"))["TopicArn"]
        except ClientError as e:
            if e.response["ResponseMetadata"]["HTTPStatusCode"] == 501:
                return None
            raise
        url = sqs.create_queue(QueueName=unique("alarm-q"))["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn,
                      Attributes={"RawMessageDelivery": "true"})
        return topic, url, sqs

    def drain(self, sqs, url, seconds):
        got = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for m in r.get("Messages", []):
                got.append(m["Body"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return got

    def test_alarm_evaluated_once_across_the_cluster(self):
        name, ns = unique("al"), "ClusterAlarm"
        sns = self.sns_topic_with_queue()
        topic = sns[0] if sns else "arn:aws:sns:%s:%s:not-on-postgres-yet" % (
            pg.harness.REGION, "000000000000")
        self.cw[0].put_metric_alarm(
            AlarmName=name, Namespace=ns, MetricName=name, Statistic="Maximum", Period=10,
            EvaluationPeriods=1, Threshold=5.0, ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="ignore", AlarmActions=[topic], OKActions=[topic])
        for cw in self.cw:  # described everywhere at once
            self.assertEqual(self.alarm(cw, name)["StateValue"], "INSUFFICIENT_DATA")
        p = put_now(self.cw[1], ns, name, 9.0)
        self.wait_state(self.cw[2], name, "ALARM")
        time.sleep(3)  # six more ticks on every node: a second evaluator would add a change
        put_now(self.cw[2], ns, name, 1.0, after=p)
        self.wait_state(self.cw[0], name, "OK")
        time.sleep(3)
        ups = self.history(self.cw[2], name, "StateUpdate")
        self.assertEqual(sorted(i["HistorySummary"] for i in ups),
                         ["Alarm updated from ALARM to OK",
                          "Alarm updated from INSUFFICIENT_DATA to ALARM"], ups)
        acts = self.history(self.cw[1], name, "Action")
        self.assertEqual(len(acts), 2, acts)
        if not sns:
            sys.stderr.write("[cloudwatch] SNS answers 501: actions checked in the history only\n")
        else:
            got = self.drain(sns[2], sns[1], 4)
            self.assertEqual(len(got), 2, got)
            self.assertEqual(sorted(re.search(r'"NewStateValue":"(\w+)"', b).group(1)
                                    for b in got), ["ALARM", "OK"])

    def test_set_state_and_delete_on_other_nodes(self):
        name = unique("set")
        self.cw[0].put_metric_alarm(
            AlarmName=name, Namespace="ClusterAlarm", MetricName=name, Statistic="Sum",
            Period=60, EvaluationPeriods=1, Threshold=5.0, TreatMissingData="ignore",
            ComparisonOperator="GreaterThanThreshold")
        self.cw[2].set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
        self.assertEqual(self.alarm(self.cw[0], name)["StateValue"], "ALARM")
        self.assertEqual(self.alarm(self.cw[1], name)["StateReason"], "test")
        self.cw[1].delete_alarms(AlarmNames=[name])
        self.assertIsNone(self.alarm(self.cw[0], name))
        self.assertIsNone(self.alarm(self.cw[2], name))

    def test_composite_alarm_across_nodes(self):
        child = unique("child")
        comp = unique("comp")
        self.cw[0].put_metric_alarm(
            AlarmName=child, Namespace="ClusterAlarm", MetricName=child, Statistic="Sum",
            Period=60, EvaluationPeriods=1, Threshold=5.0, TreatMissingData="ignore",
            ComparisonOperator="GreaterThanThreshold")
        self.cw[1].put_composite_alarm(AlarmName=comp, AlarmRule='ALARM("%s")' % child)
        self.cw[2].set_alarm_state(AlarmName=child, StateValue="ALARM", StateReason="test")
        got = self.cw[0].describe_alarms(AlarmNames=[comp], AlarmTypes=["CompositeAlarm"])
        self.assertEqual(got["CompositeAlarms"][0]["StateValue"], "ALARM")
        ups = self.history(self.cw[1], comp, "StateUpdate", ("CompositeAlarm",))
        self.assertEqual(sorted(i["HistorySummary"] for i in ups),
                         ["Alarm updated from INSUFFICIENT_DATA to OK",
                          "Alarm updated from OK to ALARM"], ups)


class ClusterLocks(Base):
    def test_one_node_evaluates_and_one_sweeps(self):
        # the evaluator takes its lock at its first tick, the metrics sweep at start
        wait_for(lambda: lock_holders("cloudwatch-alarms"), 10, "the alarm lock taken")
        wait_for(lambda: lock_holders("cloudwatch-metrics"), 10, "the metrics lock taken")
        self.assertEqual(lock_holders("cloudwatch-alarms"), ["tweedle-cloudwatch-alarms"])
        self.assertEqual(lock_holders("cloudwatch-metrics"), ["tweedle-cloudwatch-metrics"])
        leaders = [n for n in self.nodes if LEAD in log_of(n)]
        self.assertEqual(len(leaders), 1, [n.endpoint for n in leaders])


class ClusterSqsMetrics(unittest.TestCase):
    """The built-in AWS/SQS counters: three nodes of their own on the module's
    PostgreSQL, publishing built-in metrics every second (the module's nodes
    publish none)."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = pg.Cluster(PG, 3)
        for n in cls.cluster.nodes:
            n.extra_args += ["--metrics-interval", "1"]
        cls.cluster.start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def stat(self, cw, name, dims, stat):
        now = time.time()
        pts = cw.get_metric_statistics(Namespace="AWS/SQS", MetricName=name, Dimensions=dims,
                                       StartTime=now - 600, EndTime=now + 120, Period=3600,
                                       Statistics=[stat])["Datapoints"]
        return pts[0][stat] if pts else None

    def test_counters_of_each_node_add_up(self):
        nodes = self.cluster.nodes
        sqs = [client(n, "sqs") for n in nodes]
        cw = [client(n, "cloudwatch") for n in nodes]
        name = unique("mq")
        url = sqs[0].create_queue(QueueName=name)["QueueUrl"]
        for _ in range(3):  # on A
            sqs[0].send_message(QueueUrl=url, MessageBody="a" * 10)
        sqs[1].send_message_batch(QueueUrl=url, Entries=[  # on B
            {"Id": str(i), "MessageBody": "b" * (20 + i)} for i in range(4)])
        got, empty = [], 0
        deadline = time.monotonic() + 20
        while len(got) < 7 and time.monotonic() < deadline:  # on C
            r = sqs[2].receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            got += r.get("Messages", [])
            empty += not r.get("Messages")
        self.assertEqual(len(got), 7)
        for m in got[:5]:
            sqs[2].delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.assertNotIn("Messages", sqs[0].receive_message(QueueUrl=url, WaitTimeSeconds=0))
        empty += 1
        d = [{"Name": "QueueName", "Value": name}]
        want = {"NumberOfMessagesSent": 7.0, "NumberOfMessagesReceived": 7.0,
                "NumberOfMessagesDeleted": 5.0, "NumberOfEmptyReceives": float(empty)}
        for i, (metric, v) in enumerate(sorted(want.items())):
            wait_for(lambda: self.stat(cw[i % 3], metric, d, "Sum") == v, 20,
                     "%s Sum %s (last %r)" % (metric, v, self.stat(cw[i % 3], metric, d, "Sum")))
        self.assertEqual(self.stat(cw[2], "SentMessageSize", d, "SampleCount"), 7.0)
        self.assertEqual(self.stat(cw[0], "SentMessageSize", d, "Sum"), 30.0 + 20 + 21 + 22 + 23)
        self.assertEqual(self.stat(cw[1], "SentMessageSize", d, "Minimum"), 10.0)
        self.assertEqual(self.stat(cw[1], "SentMessageSize", d, "Maximum"), 23.0)
        time.sleep(2.5)  # more intervals on every node: nothing is counted twice
        for metric, v in want.items():
            self.assertEqual(self.stat(cw[1], metric, d, "Sum"), v, metric)
        # the gauges: one node publishes them (5 deleted of 7: 2 in flight)
        wait_for(lambda: self.stat(cw[0], "ApproximateNumberOfMessagesNotVisible", d,
                                   "Minimum") is not None, 10, "the gauges published")
        self.assertEqual(self.stat(cw[0], "ApproximateNumberOfMessagesNotVisible", d, "Maximum"),
                         2.0)


class ZKillEvaluator(Base):
    """Runs last (classes run by name): kills the evaluating node."""

    def test_kill9_of_the_evaluating_node_another_evaluates(self):
        leaders = wait_for(lambda: [n for n in self.nodes if LEAD in log_of(n)], 20,
                           "a node leading the alarm evaluation")
        self.assertEqual(len(leaders), 1, [n.endpoint for n in leaders])
        leader = leaders[0]
        others = [i for i, n in enumerate(self.nodes) if n is not leader]
        cw = self.cw[others[0]]
        name, ns = unique("kill"), "ClusterAlarm"
        cw.put_metric_alarm(
            AlarmName=name, Namespace=ns, MetricName=name, Statistic="Maximum", Period=10,
            EvaluationPeriods=1, Threshold=5.0, ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="ignore")
        leader.kill9()
        try:
            put_now(cw, ns, name, 9.0)
            self.wait_state(self.cw[others[1]], name, "ALARM", timeout=30)
            new = [self.nodes[i] for i in others if LEAD in log_of(self.nodes[i])]
            self.assertEqual(len(new), 1)
            time.sleep(2)
            ups = self.history(cw, name, "StateUpdate")
            self.assertEqual(len(ups), 1, ups)
        finally:
            leader.start(timeout=30)


if __name__ == "__main__":
    unittest.main()
