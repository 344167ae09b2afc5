"""CloudWatch alarms, the built-in AWS/SQS, AWS/S3 and AWS/SNS metrics, and
dashboards, with boto3's `cloudwatch` client (JSON 1.0 under boto3 1.43, the
query protocol under Debian's boto3 1.26).

The server evaluates alarms every 0.5 s here (TWEEDLE_ALARM_TICK_MS; 10 s by
default) and publishes built-in metrics every second (--metrics-interval 1).

AWS facts asserted here (botocore's cloudwatch service-2.json, the
CloudWatch user guide "Using Amazon CloudWatch alarms", "Configuring how
CloudWatch alarms treat missing data", "Alarm events and EventBridge", SNS
alarm notifications seen from AWS):
* new alarms are INSUFFICIENT_DATA with StateReason "Unchecked: Initial alarm
  creation"; the ARN is arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME;
* an alarm goes to ALARM when DatapointsToAlarm of the last EvaluationPeriods
  datapoints breach; TreatMissingData breaching / notBreaching count missing
  periods as breaching / good, missing goes to INSUFFICIENT_DATA when every
  period is missing, ignore keeps the state;
* the SNS notification: Subject 'ALARM: "name" in US East (N. Virginia)', the
  Message a JSON document with AlarmName, AlarmDescription, AWSAccountId,
  NewStateValue, NewStateReason, StateChangeTime, Region, AlarmArn,
  OldStateValue, Trigger {MetricName, Namespace, StatisticType, Statistic
  (upper case), Unit, Dimensions [{value, name}], Period, EvaluationPeriods,
  ComparisonOperator, Threshold, TreatMissingData,
  EvaluateLowSampleCountPercentile};
* history items: ConfigurationUpdate ("Alarm \"x\" created"), StateUpdate
  ("Alarm updated from A to B", HistoryData {version, oldState, newState}),
  Action ("Successfully executed action arn:...");
* SetAlarmState on an unknown alarm: ResourceNotFound (404); DeleteDashboards
  of an unknown dashboard: ResourceNotFound; a bad body: InvalidParameterInput
  "The dashboard body is invalid, there are N validation errors: ..." with
  DashboardValidationMessages [{DataPath, Message}].
"""

import json
import os
import socket
import threading
import time
import unittest

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import harness as h

TICK_MS = "500"


def setUpModule():
    h.start_module_server(__name__, extra_args=["--metrics-interval", "1"],
                          env={"TWEEDLE_ALARM_TICK_MS": TICK_MS,
                               "TWEEDLE_S3_STORAGE_METRICS_SECONDS": "1"})


def tearDownModule():
    h.stop_module_server(__name__)


def client(server, service):
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                 read_timeout=60)
    session = boto3.session.Session(aws_access_key_id=h.ACCESS_KEY,
                                    aws_secret_access_key=h.SECRET_KEY, region_name=h.REGION)
    return session.client(service, endpoint_url=server.endpoint, config=cfg)


def put_series(cw, ns, name, values, period=10, dims=None, unit=None):
    """values[0] in the last complete period, values[1] the one before, ..."""
    now = time.time()
    end = int(now // period) * period
    data = []
    for i, v in enumerate(values):
        if v is None:
            continue
        d = {"MetricName": name, "Value": v, "Timestamp": end - (i + 1) * period + period / 2,
             "StorageResolution": 1}  # a 10-second period needs high-resolution data
        if dims:
            d["Dimensions"] = dims
        if unit:
            d["Unit"] = unit
        data.append(d)
    if data:
        cw.put_metric_data(Namespace=ns, MetricData=data)


class AlarmCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = SERVER
        cls.cw = client(cls.server, "cloudwatch")
        cls.sns = client(cls.server, "sns")
        cls.sqs = client(cls.server, "sqs")

    def alarm(self, name):
        got = self.cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        self.assertEqual(len(got), 1, name)
        return got[0]

    def wait_state(self, name, state, timeout=20):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = self.alarm(name)
            if last["StateValue"] == state:
                return last
            time.sleep(0.2)
        self.fail("alarm %s stayed %s (%s), wanted %s" % (name, last["StateValue"],
                                                          last.get("StateReason"), state))

    def put_alarm(self, name, **kw):
        args = dict(AlarmName=name, Namespace="AlarmTest", MetricName=name, Statistic="Maximum",
                    Period=10, EvaluationPeriods=1, Threshold=5.0,
                    ComparisonOperator="GreaterThanThreshold")
        args.update(kw)
        self.cw.put_metric_alarm(**args)

    def assertCwError(self, fn, code, status=400, message=None):
        with self.assertRaises(ClientError) as cm:
            fn()
        err = cm.exception.response["Error"]
        self.assertEqual(err["Code"], code, cm.exception.response)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], status)
        if message:
            self.assertIn(message, err["Message"])
        return cm.exception

    def topic_with_queue(self, prefix):
        topic = self.sns.create_topic(Name=h.unique(prefix))["TopicArn"]
        url = self.sqs.create_queue(QueueName=h.unique(prefix))["QueueUrl"]
        qarn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
        return topic, url

    def receive(self, url, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10)
            if r.get("Messages"):
                return r["Messages"]
        return []


class TestAlarmApi(AlarmCase):
    def test_lifecycle(self):
        name = h.unique("life")
        self.put_alarm(name, AlarmDescription="too many", Unit="Count",
                       Dimensions=[{"Name": "Queue", "Value": "q1"}], DatapointsToAlarm=1,
                       TreatMissingData="notBreaching", Tags=[{"Key": "team", "Value": "ops"}])
        a = self.alarm(name)
        self.assertEqual(a["AlarmArn"], "arn:aws:cloudwatch:%s:%s:alarm:%s" % (h.REGION, h.ACCOUNT, name))
        self.assertEqual(a["StateReason"], "Unchecked: Initial alarm creation")
        self.assertEqual(a["AlarmDescription"], "too many")
        self.assertEqual(a["Period"], 10)
        self.assertEqual(a["Threshold"], 5.0)
        self.assertEqual(a["Unit"], "Count")
        self.assertEqual(a["Dimensions"], [{"Name": "Queue", "Value": "q1"}])
        self.assertEqual(a["TreatMissingData"], "notBreaching")
        self.assertTrue(a["ActionsEnabled"])
        self.assertIn("AlarmConfigurationUpdatedTimestamp", a)
        self.assertIn("StateUpdatedTimestamp", a)
        tags = self.cw.list_tags_for_resource(ResourceARN=a["AlarmArn"])["Tags"]
        self.assertEqual(tags, [{"Key": "team", "Value": "ops"}])
        self.cw.tag_resource(ResourceARN=a["AlarmArn"], Tags=[{"Key": "env", "Value": "dev"}])
        self.cw.untag_resource(ResourceARN=a["AlarmArn"], TagKeys=["team"])
        tags = self.cw.list_tags_for_resource(ResourceARN=a["AlarmArn"])["Tags"]
        self.assertEqual(tags, [{"Key": "env", "Value": "dev"}])
        self.assertCwError(lambda: self.cw.list_tags_for_resource(
            ResourceARN=a["AlarmArn"] + "-nope"), "ResourceNotFoundException", 404)
        # an update keeps the state, changes the configuration
        self.put_alarm(name, Threshold=7.5, TreatMissingData="notBreaching")
        self.assertEqual(self.alarm(name)["Threshold"], 7.5)
        # for metric
        got = self.cw.describe_alarms_for_metric(MetricName=name, Namespace="AlarmTest")
        self.assertEqual([x["AlarmName"] for x in got["MetricAlarms"]], [name])
        got = self.cw.describe_alarms_for_metric(MetricName=name, Namespace="AlarmTest",
                                                 Statistic="Average")
        self.assertEqual(got["MetricAlarms"], [])
        self.cw.delete_alarms(AlarmNames=[name])
        self.assertEqual(self.cw.describe_alarms(AlarmNames=[name])["MetricAlarms"], [])
        self.assertCwError(lambda: self.cw.delete_alarms(AlarmNames=[name]), "ResourceNotFound", 404)

    def test_describe_filters_and_paging(self):
        prefix = h.unique("page")
        for i in range(5):
            self.put_alarm("%s-%d" % (prefix, i), AlarmActions=["arn:aws:sns:%s:%s:t%d" % (
                h.REGION, h.ACCOUNT, i % 2)])
        names = []
        token = None
        while True:
            kw = {"AlarmNamePrefix": prefix, "MaxRecords": 2}
            if token:
                kw["NextToken"] = token
            r = self.cw.describe_alarms(**kw)
            self.assertLessEqual(len(r["MetricAlarms"]), 2)
            names += [a["AlarmName"] for a in r["MetricAlarms"]]
            token = r.get("NextToken")
            if not token:
                break
        self.assertEqual(names, ["%s-%d" % (prefix, i) for i in range(5)])
        r = self.cw.describe_alarms(AlarmNamePrefix=prefix,
                                    ActionPrefix="arn:aws:sns:%s:%s:t1" % (h.REGION, h.ACCOUNT))
        self.assertEqual([a["AlarmName"] for a in r["MetricAlarms"]],
                         ["%s-1" % prefix, "%s-3" % prefix])
        self.cw.set_alarm_state(AlarmName="%s-2" % prefix, StateValue="OK", StateReason="test")
        r = self.cw.describe_alarms(AlarmNamePrefix=prefix, StateValue="OK")
        self.assertEqual([a["AlarmName"] for a in r["MetricAlarms"]], ["%s-2" % prefix])
        r = self.cw.describe_alarms(AlarmNamePrefix=prefix, AlarmTypes=["CompositeAlarm"])
        self.assertEqual(r["MetricAlarms"], [])
        self.assertEqual(r["CompositeAlarms"], [])
        self.assertCwError(lambda: self.cw.describe_alarms(NextToken="garbage"), "InvalidNextToken")
        self.cw.delete_alarms(AlarmNames=["%s-%d" % (prefix, i) for i in range(5)])

    def test_validation(self):
        n = h.unique("bad")
        self.assertCwError(lambda: self.put_alarm(n, Period=5), "ValidationError",
                           message="Period must be 10, 30 or a multiple of 60")
        self.assertCwError(lambda: self.put_alarm(n, Period=10, EvaluationPeriods=10000),
                           "ValidationError", message="more than a day")
        self.assertCwError(lambda: self.put_alarm(n, ExtendedStatistic="p99"),
                           "InvalidParameterCombination")
        self.assertCwError(lambda: self.put_alarm(n, EvaluationPeriods=2, DatapointsToAlarm=3),
                           "ValidationError")
        self.assertCwError(lambda: self.put_alarm(n, TreatMissingData="sometimes"),
                           "ValidationError")
        self.assertCwError(lambda: self.put_alarm(
            n, ComparisonOperator="LessThanLowerOrGreaterThanUpperThreshold"), "ValidationError")
        self.assertCwError(lambda: self.put_alarm(n, AlarmActions=["arn:aws:automate:us-east-1:ec2:stop"]),
                           "ValidationError")
        self.assertCwError(lambda: self.cw.set_alarm_state(AlarmName=n, StateValue="OK",
                                                           StateReason="x"),
                           "ResourceNotFound", 404)
        self.put_alarm(n)
        self.assertCwError(lambda: self.cw.set_alarm_state(AlarmName=n, StateValue="OK",
                                                           StateReason="x",
                                                           StateReasonData="{not json"),
                           "InvalidFormat")
        self.cw.delete_alarms(AlarmNames=[n])


class TestEvaluation(AlarmCase):
    def test_every_comparison_operator(self):
        cases = [("GreaterThanOrEqualToThreshold", 5, "ALARM"),
                 ("GreaterThanOrEqualToThreshold", 6, "OK"),
                 ("GreaterThanThreshold", 5, "OK"), ("GreaterThanThreshold", 4, "ALARM"),
                 ("LessThanThreshold", 5, "OK"), ("LessThanThreshold", 6, "ALARM"),
                 ("LessThanOrEqualToThreshold", 5, "ALARM"),
                 ("LessThanOrEqualToThreshold", 4, "OK")]
        metric = h.unique("cmp")
        put_series(self.cw, "AlarmTest", metric, [5.0] * 6)
        names = []
        for i, (op, thr, _) in enumerate(cases):
            n = "%s-%d" % (metric, i)
            names.append(n)
            self.put_alarm(n, MetricName=metric, ComparisonOperator=op, Threshold=float(thr))
        for n, (op, thr, want) in zip(names, cases):
            a = self.wait_state(n, want)
            self.assertIn("Threshold Crossed", a["StateReason"])
            data = json.loads(a["StateReasonData"])
            self.assertEqual(data["recentDatapoints"][0], 5.0)
            self.assertEqual(data["threshold"], float(thr))
        self.cw.delete_alarms(AlarmNames=names)

    def test_m_of_n(self):
        base = h.unique("mofn")
        # most recent first: breach, ok, breach -> 2 of 3 breach
        put_series(self.cw, "AlarmTest", base + "-a", [9.0, 1.0, 9.0])
        put_series(self.cw, "AlarmTest", base + "-b", [9.0, 1.0, 1.0])
        self.put_alarm(base + "-a", EvaluationPeriods=3, DatapointsToAlarm=2)
        self.put_alarm(base + "-b", EvaluationPeriods=3, DatapointsToAlarm=2)
        self.put_alarm(base + "-c", MetricName=base + "-a", EvaluationPeriods=3)  # 3 of 3
        a = self.wait_state(base + "-a", "ALARM")
        self.assertIn("2 out of the last 3 datapoints", a["StateReason"])
        self.wait_state(base + "-b", "OK")
        self.wait_state(base + "-c", "OK")
        self.cw.delete_alarms(AlarmNames=[base + "-a", base + "-b", base + "-c"])

    def test_treat_missing_data(self):
        base = h.unique("tmd")
        self.put_alarm(base + "-breaching", TreatMissingData="breaching")
        self.put_alarm(base + "-notbreaching", TreatMissingData="notBreaching")
        self.put_alarm(base + "-missing", TreatMissingData="missing")
        self.put_alarm(base + "-ignore", TreatMissingData="ignore")
        a = self.wait_state(base + "-breaching", "ALARM")
        self.assertIn("Threshold Crossed", a["StateReason"])
        self.wait_state(base + "-notbreaching", "OK")
        for n in ("-missing", "-ignore"):
            self.cw.set_alarm_state(AlarmName=base + n, StateValue="OK", StateReason="by hand")
        a = self.wait_state(base + "-missing", "INSUFFICIENT_DATA")
        self.assertEqual(a["StateReason"], "Insufficient Data: 1 datapoint was unknown.")
        time.sleep(2.0)  # several evaluations
        a = self.alarm(base + "-ignore")
        self.assertEqual((a["StateValue"], a["StateReason"]), ("OK", "by hand"))
        self.cw.delete_alarms(AlarmNames=[base + s for s in
                                          ("-breaching", "-notbreaching", "-missing", "-ignore")])

    def test_metric_math_alarm(self):
        base = h.unique("math")
        put_series(self.cw, "AlarmTest", base + "-x", [6.0] * 4)
        put_series(self.cw, "AlarmTest", base + "-y", [6.0] * 4)

        def stat(i, m):
            return {"Id": i, "ReturnData": False,
                    "MetricStat": {"Metric": {"Namespace": "AlarmTest", "MetricName": m},
                                   "Period": 10, "Stat": "Sum"}}
        metrics = [stat("m1", base + "-x"), stat("m2", base + "-y"),
                   {"Id": "e1", "Expression": "m1 + m2", "Label": "total", "ReturnData": True}]
        self.cw.put_metric_alarm(AlarmName=base, EvaluationPeriods=1, Threshold=10.0,
                                 ComparisonOperator="GreaterThanThreshold", Metrics=metrics)
        self.cw.put_metric_alarm(AlarmName=base + "-hi", EvaluationPeriods=1, Threshold=13.0,
                                 ComparisonOperator="GreaterThanThreshold", Metrics=metrics)
        a = self.wait_state(base, "ALARM")
        self.assertEqual([m["Id"] for m in a["Metrics"]], ["m1", "m2", "e1"])
        self.assertEqual(a["Metrics"][0]["MetricStat"]["Period"], 10)
        self.assertIs(a["Metrics"][2]["ReturnData"], True)
        self.assertNotIn("MetricName", a)
        self.wait_state(base + "-hi", "OK")
        self.assertCwError(lambda: self.cw.put_metric_alarm(
            AlarmName=base + "-bad", EvaluationPeriods=1, Threshold=1.0,
            ComparisonOperator="GreaterThanThreshold",
            Metrics=[dict(m, ReturnData=True) for m in metrics]), "ValidationError")
        self.cw.delete_alarms(AlarmNames=[base, base + "-hi"])

    def test_notification_arrives_in_subscribed_queue(self):
        topic, url = self.topic_with_queue("alarmtopic")
        name = h.unique("notify")
        put_series(self.cw, "AlarmTest", name, [7.0] * 4,
                   dims=[{"Name": "QueueName", "Value": "jobs"}], unit="Count")
        self.put_alarm(name, AlarmDescription="jobs are failing", AlarmActions=[topic],
                       OKActions=[topic], Dimensions=[{"Name": "QueueName", "Value": "jobs"}],
                       Unit="Count", Statistic="Average", TreatMissingData="missing")
        self.wait_state(name, "ALARM")
        msgs = self.receive(url)
        self.assertEqual(len(msgs), 1, msgs)
        env = json.loads(msgs[0]["Body"])
        self.assertEqual(env["Type"], "Notification")
        self.assertEqual(env["TopicArn"], topic)
        self.assertEqual(env["Subject"], 'ALARM: "%s" in US East (N. Virginia)' % name)
        m = json.loads(env["Message"])
        self.assertEqual(m["AlarmName"], name)
        self.assertEqual(m["AlarmDescription"], "jobs are failing")
        self.assertEqual(m["AWSAccountId"], h.ACCOUNT)
        self.assertEqual(m["NewStateValue"], "ALARM")
        self.assertEqual(m["OldStateValue"], "INSUFFICIENT_DATA")
        self.assertIn("Threshold Crossed", m["NewStateReason"])
        self.assertRegex(m["StateChangeTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
        self.assertEqual(m["Region"], "US East (N. Virginia)")
        self.assertEqual(m["AlarmArn"], self.alarm(name)["AlarmArn"])
        self.assertEqual(m["AlarmActions"], [topic])
        t = m["Trigger"]
        self.assertEqual(t["MetricName"], name)
        self.assertEqual(t["Namespace"], "AlarmTest")
        self.assertEqual(t["StatisticType"], "Statistic")
        self.assertEqual(t["Statistic"], "AVERAGE")
        self.assertEqual(t["Unit"], "Count")
        self.assertEqual(t["Dimensions"], [{"value": "jobs", "name": "QueueName"}])
        self.assertEqual(t["Period"], 10)
        self.assertEqual(t["EvaluationPeriods"], 1)
        self.assertEqual(t["ComparisonOperator"], "GreaterThanThreshold")
        self.assertEqual(t["Threshold"], 5.0)
        self.assertEqual(t["TreatMissingData"], "missing")
        self.assertIn("EvaluateLowSampleCountPercentile", t)
        # history: created, state update, action
        items = self.cw.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
        types = [i["HistoryItemType"] for i in items]
        self.assertEqual(types[-1], "ConfigurationUpdate")  # newest first
        self.assertIn("StateUpdate", types)
        self.assertIn("Action", types)
        act = [i for i in items if i["HistoryItemType"] == "Action"][0]
        self.assertEqual(act["HistorySummary"], "Successfully executed action %s" % topic)
        su = [i for i in items if i["HistoryItemType"] == "StateUpdate"][0]
        self.assertEqual(su["HistorySummary"], "Alarm updated from INSUFFICIENT_DATA to ALARM")
        hd = json.loads(su["HistoryData"])
        self.assertEqual(hd["oldState"]["stateValue"], "INSUFFICIENT_DATA")
        self.assertEqual(hd["newState"]["stateValue"], "ALARM")
        self.assertEqual(items[-1]["HistorySummary"], 'Alarm "%s" created' % name)
        # back to OK by hand: the OK action runs
        self.cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="fixed",
                                StateReasonData=json.dumps({"by": "test"}))
        msgs = self.receive(url)
        self.assertEqual(len(msgs), 1)
        env = json.loads(msgs[0]["Body"])
        self.assertEqual(env["Subject"], 'OK: "%s" in US East (N. Virginia)' % name)
        m = json.loads(env["Message"])
        self.assertEqual((m["NewStateValue"], m["OldStateValue"], m["NewStateReason"]),
                         ("OK", "ALARM", "fixed"))
        a = self.alarm(name)
        self.assertEqual(json.loads(a["StateReasonData"]), {"by": "test"})
        self.cw.delete_alarms(AlarmNames=[name])

    def test_history_filters_and_paging(self):
        name = h.unique("hist")
        self.put_alarm(name, TreatMissingData="ignore")
        for s in ("OK", "ALARM", "OK", "ALARM"):
            self.cw.set_alarm_state(AlarmName=name, StateValue=s, StateReason="step " + s)
        r = self.cw.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")
        self.assertEqual([i["HistorySummary"] for i in r["AlarmHistoryItems"]],
                         ["Alarm updated from OK to ALARM", "Alarm updated from ALARM to OK",
                          "Alarm updated from OK to ALARM",
                          "Alarm updated from INSUFFICIENT_DATA to OK"])
        got, token = [], None
        while True:
            kw = dict(AlarmName=name, MaxRecords=2, ScanBy="TimestampAscending")
            if token:
                kw["NextToken"] = token
            r = self.cw.describe_alarm_history(**kw)
            got += r["AlarmHistoryItems"]
            token = r.get("NextToken")
            if not token:
                break
        self.assertEqual(len(got), 5)
        self.assertEqual(got[0]["HistoryItemType"], "ConfigurationUpdate")
        self.assertEqual(got[-1]["HistorySummary"], "Alarm updated from OK to ALARM")
        self.cw.delete_alarms(AlarmNames=[name])

    def test_actions_disabled(self):
        topic, url = self.topic_with_queue("quiet")
        name = h.unique("quiet")
        self.put_alarm(name, AlarmActions=[topic], TreatMissingData="ignore")
        self.cw.disable_alarm_actions(AlarmNames=[name])
        self.assertFalse(self.alarm(name)["ActionsEnabled"])
        self.cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="silent")
        self.assertEqual(self.receive(url, timeout=2), [])
        types = [i["HistoryItemType"] for i in
                 self.cw.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]]
        self.assertNotIn("Action", types)
        self.cw.enable_alarm_actions(AlarmNames=[name])
        self.cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="loud")
        self.cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="loud")
        msgs = self.receive(url)
        self.assertEqual(len(msgs), 1)
        self.assertEqual(json.loads(json.loads(msgs[0]["Body"])["Message"])["NewStateReason"],
                         "loud")
        self.cw.delete_alarms(AlarmNames=[name])

    def test_action_to_missing_topic_is_recorded(self):
        name = h.unique("missingtopic")
        topic = "arn:aws:sns:%s:%s:%s" % (h.REGION, h.ACCOUNT, h.unique("nope"))
        self.put_alarm(name, AlarmActions=[topic], TreatMissingData="ignore")
        self.cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="x")
        items = self.cw.describe_alarm_history(AlarmName=name,
                                               HistoryItemType="Action")["AlarmHistoryItems"]
        self.assertEqual(len(items), 1)
        self.assertEqual(items[0]["HistorySummary"], "Failed to execute action %s" % topic)
        self.assertEqual(json.loads(items[0]["HistoryData"])["actionState"], "Failed")
        self.cw.delete_alarms(AlarmNames=[name])


class TestBuiltinMetrics(AlarmCase):
    def stat(self, ns, name, dims, stat, unit=None):
        now = time.time()
        kw = dict(Namespace=ns, MetricName=name, Dimensions=dims, Statistics=[stat],
                  StartTime=now - 600, EndTime=now + 120, Period=3600)
        if unit:
            kw["Unit"] = unit
        pts = self.cw.get_metric_statistics(**kw)["Datapoints"]
        return pts[0][stat] if pts else None, pts[0]["Unit"] if pts else None

    def wait_stat(self, ns, name, dims, stat, want, timeout=20, unit=None):
        deadline = time.time() + timeout
        got = None
        while time.time() < deadline:
            got, u = self.stat(ns, name, dims, stat, unit)
            if got is not None and want(got):
                return got, u
            time.sleep(0.3)
        self.fail("%s %s %s %s: %r" % (ns, name, dims, stat, got))

    def test_sqs_metrics(self):
        url = self.sqs.create_queue(QueueName=h.unique("mq"))["QueueUrl"]
        empty = self.sqs.create_queue(QueueName=h.unique("mqempty"))["QueueUrl"]
        q, qe = url.rsplit("/", 1)[1], empty.rsplit("/", 1)[1]
        for body in ("a" * 10, "b" * 20, "c" * 30):
            self.sqs.send_message(QueueUrl=url, MessageBody=body)
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
        self.sqs.receive_message(QueueUrl=empty, WaitTimeSeconds=0)
        self.sqs.receive_message(QueueUrl=empty, WaitTimeSeconds=1)
        d = [{"Name": "QueueName", "Value": q}]
        self.assertEqual(self.wait_stat("AWS/SQS", "NumberOfMessagesSent", d, "Sum",
                                        lambda v: v >= 3), (3.0, "Count"))
        self.assertEqual(self.wait_stat("AWS/SQS", "NumberOfMessagesReceived", d, "Sum",
                                        lambda v: v >= 1)[0], 1.0)
        self.assertEqual(self.wait_stat("AWS/SQS", "NumberOfMessagesDeleted", d, "Sum",
                                        lambda v: v >= 1)[0], 1.0)
        self.assertEqual(self.wait_stat("AWS/SQS", "SentMessageSize", d, "Maximum",
                                        lambda v: v > 0), (30.0, "Bytes"))
        self.assertEqual(self.stat("AWS/SQS", "SentMessageSize", d, "Minimum")[0], 10.0)
        self.assertEqual(self.stat("AWS/SQS", "SentMessageSize", d, "SampleCount")[0], 3.0)
        self.assertEqual(self.wait_stat("AWS/SQS", "ApproximateNumberOfMessagesVisible", d,
                                        "Maximum", lambda v: v >= 2)[0], 2.0)
        self.wait_stat("AWS/SQS", "ApproximateNumberOfMessagesNotVisible", d, "Maximum",
                       lambda v: v == 0)
        self.wait_stat("AWS/SQS", "ApproximateNumberOfMessagesDelayed", d, "Maximum",
                       lambda v: v == 0)
        age, unit = self.wait_stat("AWS/SQS", "ApproximateAgeOfOldestMessage", d, "Maximum",
                                   lambda v: v >= 1)
        self.assertEqual(unit, "Seconds")
        de = [{"Name": "QueueName", "Value": qe}]
        self.assertEqual(self.wait_stat("AWS/SQS", "NumberOfEmptyReceives", de, "Sum",
                                        lambda v: v >= 2)[0], 2.0)
        names = {m["MetricName"] for m in self.cw.list_metrics(Namespace="AWS/SQS",
                                                               Dimensions=d)["Metrics"]}
        self.assertLessEqual({"NumberOfMessagesSent", "ApproximateAgeOfOldestMessage"}, names)

    def test_s3_metrics(self):
        s3 = client(self.server, "s3")
        bucket = h.unique("mb")
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k", Body=b"x" * 100)
        s3.get_object(Bucket=bucket, Key="k")["Body"].read()
        s3.get_object(Bucket=bucket, Key="k")["Body"].read()
        s3.head_object(Bucket=bucket, Key="k")
        s3.list_objects_v2(Bucket=bucket)
        with self.assertRaises(ClientError):
            s3.get_object(Bucket=bucket, Key="missing")
        s3.delete_object(Bucket=bucket, Key="gone")
        d = [{"Name": "BucketName", "Value": bucket}, {"Name": "FilterId", "Value": "EntireBucket"}]
        self.assertEqual(self.wait_stat("AWS/S3", "AllRequests", d, "Sum", lambda v: v >= 8),
                         (8.0, "Count"))
        self.assertEqual(self.stat("AWS/S3", "GetRequests", d, "Sum")[0], 3.0)
        self.assertEqual(self.stat("AWS/S3", "PutRequests", d, "Sum")[0], 1.0)
        self.assertEqual(self.stat("AWS/S3", "HeadRequests", d, "Sum")[0], 1.0)
        self.assertEqual(self.stat("AWS/S3", "ListRequests", d, "Sum")[0], 1.0)
        self.assertEqual(self.stat("AWS/S3", "DeleteRequests", d, "Sum")[0], 1.0)
        self.assertEqual(self.stat("AWS/S3", "BytesDownloaded", d, "Sum"), (200.0, "Bytes"))
        self.assertEqual(self.stat("AWS/S3", "BytesUploaded", d, "Sum")[0], 100.0)
        self.assertEqual(self.stat("AWS/S3", "4xxErrors", d, "Sum")[0], 1.0)
        self.assertEqual(self.stat("AWS/S3", "4xxErrors", d, "Average")[0], 1.0 / 8)
        self.assertEqual(self.stat("AWS/S3", "5xxErrors", d, "Sum")[0], 0.0)
        lat, unit = self.stat("AWS/S3", "TotalRequestLatency", d, "SampleCount")
        self.assertEqual((lat, unit), (8.0, "Milliseconds"))
        self.assertGreater(self.stat("AWS/S3", "TotalRequestLatency", d, "Maximum")[0], 0)
        sd = [{"Name": "BucketName", "Value": bucket},
              {"Name": "StorageType", "Value": "StandardStorage"}]
        self.assertEqual(self.wait_stat("AWS/S3", "BucketSizeBytes", sd, "Maximum",
                                        lambda v: v >= 100), (100.0, "Bytes"))
        nd = [{"Name": "BucketName", "Value": bucket},
              {"Name": "StorageType", "Value": "AllStorageTypes"}]
        self.assertEqual(self.wait_stat("AWS/S3", "NumberOfObjects", nd, "Maximum",
                                        lambda v: v >= 1)[0], 1.0)

    def test_s3_first_byte_latency(self):
        """FirstByteLatency (AWS: "from the complete request being received to
        when the response starts to be returned") leaves out the response body:
        a GET whose reader stalls 2 s mid-body has a TotalRequestLatency over
        1.5 s, while every request's FirstByteLatency stays well under it."""
        s3 = client(self.server, "s3")
        bucket = h.unique("fb")
        s3.create_bucket(Bucket=bucket)
        size = 32 << 20  # far more than the socket buffers hold
        s3.put_object(Bucket=bucket, Key="big", Body=b"\x5a" * size)
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "big"})
        path = url.split(str(self.server.port), 1)[1]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.settimeout(60)
        sock.connect(("127.0.0.1", self.server.port))
        try:
            sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n"
                          % (path, self.server.port)).encode())
            got = sock.recv(65536)
            self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:200])
            time.sleep(2)  # the reader stalls with most of the body unsent
            n = len(got)
            while True:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                n += len(chunk)
            self.assertGreater(n, size)
        finally:
            sock.close()
        d = [{"Name": "BucketName", "Value": bucket}, {"Name": "FilterId", "Value": "EntireBucket"}]
        self.assertEqual(self.wait_stat("AWS/S3", "AllRequests", d, "Sum", lambda v: v >= 3)[0], 3.0)
        total = {s: self.wait_stat("AWS/S3", "TotalRequestLatency", d, s, lambda v: True)[0]
                 for s in ("SampleCount", "Minimum", "Maximum", "Sum")}
        fb, unit = self.wait_stat("AWS/S3", "FirstByteLatency", d, "SampleCount", lambda v: v >= 3)
        self.assertEqual((fb, unit), (3.0, "Milliseconds"))
        first = {s: self.stat("AWS/S3", "FirstByteLatency", d, s)[0]
                 for s in ("Minimum", "Maximum", "Sum")}
        self.assertEqual(total["SampleCount"], 3.0)
        self.assertGreaterEqual(total["Maximum"], 1500.0)  # the stalled GET
        for s in ("Minimum", "Maximum", "Sum"):
            self.assertGreaterEqual(first[s], 0.0, s)
            self.assertLessEqual(first[s], total[s], s)
        # the stall is in the total only (the slowest request's first byte is
        # the 32 MiB PUT's commit or the GET's file open, both far below it)
        self.assertLess(first["Maximum"], total["Maximum"] - 1000.0, (first, total))

    def test_sns_metrics(self):
        topic, url = self.topic_with_queue("mt")
        name = topic.rsplit(":", 1)[1]
        self.sns.publish(TopicArn=topic, Message="hello")
        self.sns.publish(TopicArn=topic, Message="hello world")
        d = [{"Name": "TopicName", "Value": name}]
        self.assertEqual(self.wait_stat("AWS/SNS", "NumberOfMessagesPublished", d, "Sum",
                                        lambda v: v >= 2), (2.0, "Count"))
        self.assertEqual(self.wait_stat("AWS/SNS", "NumberOfNotificationsDelivered", d, "Sum",
                                        lambda v: v >= 2)[0], 2.0)
        self.assertEqual(self.stat("AWS/SNS", "NumberOfNotificationsFailed", d, "Sum")[0], 0.0)
        self.assertEqual(self.stat("AWS/SNS", "PublishSize", d, "Maximum"), (11.0, "Bytes"))
        self.assertEqual(self.stat("AWS/SNS", "PublishSize", d, "SampleCount")[0], 2.0)

    def test_alarm_on_builtin_metric(self):
        """An alarm on a queue's depth fires from the built-in metrics alone."""
        url = self.sqs.create_queue(QueueName=h.unique("deep"))["QueueUrl"]
        q = url.rsplit("/", 1)[1]
        name = h.unique("depth")
        self.cw.put_metric_alarm(AlarmName=name, Namespace="AWS/SQS",
                                 MetricName="ApproximateNumberOfMessagesVisible",
                                 Dimensions=[{"Name": "QueueName", "Value": q}],
                                 Statistic="Maximum", Period=60, EvaluationPeriods=1,
                                 Threshold=1.0, ComparisonOperator="GreaterThanThreshold",
                                 TreatMissingData="notBreaching")
        for i in range(3):
            self.sqs.send_message(QueueUrl=url, MessageBody="m%d" % i)
        # the minute must end before the alarm sees it (complete periods only)
        self.wait_state(name, "ALARM", timeout=75)
        self.cw.delete_alarms(AlarmNames=[name])


class TestRestart(unittest.TestCase):
    def test_alarms_and_history_survive_restart(self):
        srv = h.Server(env={"TWEEDLE_ALARM_TICK_MS": TICK_MS})
        srv.start()
        try:
            cw = client(srv, "cloudwatch")
            cw.put_metric_alarm(AlarmName="durable", Namespace="AlarmTest", MetricName="d",
                                Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
                                ComparisonOperator="GreaterThanThreshold",
                                TreatMissingData="ignore", Tags=[{"Key": "k", "Value": "v"}])
            cw.set_alarm_state(AlarmName="durable", StateValue="ALARM", StateReason="kept")
            cw.put_dashboard(DashboardName="kept", DashboardBody=json.dumps(
                {"widgets": [{"type": "text", "properties": {"markdown": "hi"}}]}))
            srv.restart(kill=True)
            cw = client(srv, "cloudwatch")
            a = cw.describe_alarms(AlarmNames=["durable"])["MetricAlarms"][0]
            self.assertEqual((a["StateValue"], a["StateReason"]), ("ALARM", "kept"))
            self.assertEqual(cw.list_tags_for_resource(ResourceARN=a["AlarmArn"])["Tags"],
                             [{"Key": "k", "Value": "v"}])
            items = cw.describe_alarm_history(AlarmName="durable")["AlarmHistoryItems"]
            self.assertEqual([i["HistoryItemType"] for i in items],
                             ["StateUpdate", "ConfigurationUpdate"])
            self.assertIn('"markdown"', cw.get_dashboard(DashboardName="kept")["DashboardBody"])
        finally:
            srv.stop()
            srv.cleanup()


class TestCrash(h.FaultServerTestCase):
    """A state change and its SNS notification commit in one batch: a kill -9
    between them (the batch delayed in the writer) loses neither alone."""

    def test_kill_between_state_change_and_notification(self):
        cw, sns, sqs = (client(self.server, s) for s in ("cloudwatch", "sns", "sqs"))
        topic = sns.create_topic(Name="crash")["TopicArn"]
        url = sqs.create_queue(QueueName="crash")["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn,
                      Attributes={"RawMessageDelivery": "true"})
        for round_ in range(2):
            name = "crash%d" % round_
            cw.put_metric_alarm(AlarmName=name, Namespace="AlarmTest", MetricName=name,
                                Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
                                ComparisonOperator="GreaterThanThreshold",
                                TreatMissingData="ignore", AlarmActions=[topic])
            answered = []
            if round_ == 0:  # killed while the batch waits in the writer
                self.set_delay(1500)

                def set_state():
                    try:
                        cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="x")
                        answered.append(1)
                    except Exception:  # noqa: BLE001 - the server dies under it
                        pass
                t = threading.Thread(target=set_state)
                t.start()
                time.sleep(0.7)
                self.server.kill9()
                t.join(30)
                self.assertEqual(answered, [])
                self.fault("commit-delay-ms", None)
            else:  # killed right after the answer
                cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="x")
                self.server.kill9()
            self.server.start()
            cw, sqs = client(self.server, "cloudwatch"), client(self.server, "sqs")
            state = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]
            got = []
            while True:
                r = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10)
                if not r.get("Messages"):
                    break
                for m in r["Messages"]:
                    got.append(json.loads(m["Body"])["AlarmName"])
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            if round_ == 1 or state == "ALARM":
                self.assertEqual((state, got), ("ALARM", [name]))
            else:
                self.assertEqual((state, got), ("INSUFFICIENT_DATA", []))


class TestDashboards(AlarmCase):
    BODY = {"widgets": [
        {"type": "metric", "x": 0, "y": 0, "width": 12, "height": 6,
         "properties": {"metrics": [["AWS/SQS", "NumberOfMessagesSent", "QueueName", "q"]],
                        "period": 300, "stat": "Sum", "region": "us-east-1", "title": "sent"}},
        {"type": "text", "x": 12, "y": 0, "width": 12, "height": 6,
         "properties": {"markdown": "# hello"}}]}

    def test_put_get_list_delete(self):
        name = h.unique("dash")
        r = self.cw.put_dashboard(DashboardName=name, DashboardBody=json.dumps(self.BODY))
        self.assertEqual(r["DashboardValidationMessages"], [])
        g = self.cw.get_dashboard(DashboardName=name)
        self.assertEqual(json.loads(g["DashboardBody"]), self.BODY)
        self.assertEqual(g["DashboardArn"], "arn:aws:cloudwatch::%s:dashboard/%s" % (h.ACCOUNT, name))
        entries = self.cw.list_dashboards(DashboardNamePrefix=name)["DashboardEntries"]
        self.assertEqual([e["DashboardName"] for e in entries], [name])
        self.assertEqual(entries[0]["Size"], len(json.dumps(self.BODY)))
        self.assertIn("LastModified", entries[0])
        self.assertCwError(lambda: self.cw.delete_dashboards(DashboardNames=[name, name + "-x"]),
                           "ResourceNotFound", 404)
        self.cw.get_dashboard(DashboardName=name)  # nothing was deleted
        self.cw.delete_dashboards(DashboardNames=[name])
        self.assertCwError(lambda: self.cw.get_dashboard(DashboardName=name),
                           "ResourceNotFound", 404)

    def test_validation_errors(self):
        name = h.unique("dash")
        bad = {"widgets": [{"type": "metric", "properties": {"metrics": [["AWS/SQS"]]}},
                           {"type": "chart", "properties": {}},
                           {"properties": {}},
                           {"type": "text", "width": 30, "properties": {}}]}
        e = self.assertCwError(lambda: self.cw.put_dashboard(DashboardName=name,
                                                             DashboardBody=json.dumps(bad)),
                               "InvalidParameterInput")
        msg = e.response["Error"]["Message"]
        self.assertIn("The dashboard body is invalid, there are 5 validation errors", msg)
        self.assertIn('"dataPath": "/widgets/1/type"', msg)
        self.assertIn("Should have required property 'type'", msg)
        self.assertIn('"dataPath": "/widgets/3/width"', msg)
        if h.protocol_of(self.cw) != "query":  # JSON: DashboardInvalidInputError's member
            got = e.response["dashboardValidationMessages"]
            self.assertEqual(len(got), 5)
            self.assertIn({"DataPath": "/widgets/1/type",
                           "Message": "Should be equal to one of the allowed values"}, got)
        self.assertCwError(lambda: self.cw.put_dashboard(DashboardName=name, DashboardBody="[1"),
                           "InvalidParameterInput")
        self.assertCwError(lambda: self.cw.put_dashboard(DashboardName=name,
                                                         DashboardBody=json.dumps({"w": []})),
                           "InvalidParameterInput", message="required property 'widgets'")
        self.assertCwError(lambda: self.cw.put_dashboard(DashboardName="bad name!",
                                                         DashboardBody=json.dumps(self.BODY)),
                           "InvalidParameterInput")
        self.assertCwError(lambda: self.cw.get_dashboard(DashboardName=name),
                           "ResourceNotFound", 404)

    def test_builtin_dashboard(self):
        url = self.sqs.create_queue(QueueName=h.unique("dashq"))["QueueUrl"]
        self.sqs.send_message(QueueUrl=url, MessageBody="x")
        qname = url.rsplit("/", 1)[1]
        deadline = time.time() + 15
        while True:
            g = self.cw.get_dashboard(DashboardName="tweedle")
            body = json.loads(g["DashboardBody"])
            titles = [w["properties"].get("title") for w in body["widgets"]]
            depth = [w for w in body["widgets"] if w["properties"].get("title") == "Queue depth"][0]
            if any(qname in m for m in depth["properties"]["metrics"]) or time.time() > deadline:
                break
            time.sleep(0.5)
        for t in ("Requests per service", "Errors per service", "Latency (p99, ms)", "Queue depth",
                  "Age of oldest message (s)", "Jobs by status", "Worker Invocations",
                  "Worker Errors", "Worker Duration"):
            self.assertIn(t, titles)
        self.assertTrue(any(qname in m for m in depth["properties"]["metrics"]), depth)
        names = [e["DashboardName"] for e in self.cw.list_dashboards()["DashboardEntries"]]
        self.assertIn("tweedle", names)


if __name__ == "__main__":
    unittest.main()
