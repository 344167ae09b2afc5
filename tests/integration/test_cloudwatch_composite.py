"""CloudWatch composite alarms with boto3's `cloudwatch` client (JSON 1.0
under boto3 1.43, the query protocol under Debian's boto3).

AWS facts asserted here (CloudWatch API reference: PutCompositeAlarm,
DescribeAlarms, DeleteAlarms, DescribeAlarmHistory, CompositeAlarm; errors
seen from AWS and quoted in public issue trackers):
* AlarmRule: ALARM(x), OK(x), INSUFFICIENT_DATA(x) with x an alarm name
  (quoted or not) or its ARN, TRUE, FALSE, NOT, AND, OR, parentheses; at most
  10240 characters and 100 referenced alarms;
* a rule naming alarms that do not exist: ValidationError "Could not save the
  composite alarm as alarms [...] in the alarm rule do not exist";
* a new composite alarm is INSUFFICIENT_DATA, then evaluated at once (ALARM
  when the rule is true, else OK) with its actions;
* DescribeAlarms returns composite alarms only with AlarmTypes
  [CompositeAlarm] (or ChildrenOfAlarmName / ParentsOfAlarmName);
  DescribeAlarmHistory likewise only with AlarmTypes;
* DeleteAlarms: ValidationError "Cannot delete X as there are composite
  alarm(s) depending on it.", and at most one composite alarm a call;
* the SNS message of a composite alarm carries AlarmRule and
  TriggeringChildren [{Arn, State {Value, Timestamp}}].
tweedle refuses rules that close a cycle (CloudWatch accepts them and stops
evaluating) and ActionsSuppressor (not implemented).
"""

import json
import threading
import time
import unittest

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import harness as h


def setUpModule():
    h.start_module_server(__name__, env={"TWEEDLE_ALARM_TICK_MS": "500"})


def tearDownModule():
    h.stop_module_server(__name__)


def client(server, service):
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                 read_timeout=60)
    session = boto3.session.Session(aws_access_key_id=h.ACCESS_KEY,
                                    aws_secret_access_key=h.SECRET_KEY, region_name=h.REGION)
    return session.client(service, endpoint_url=server.endpoint, config=cfg)


class Clients:
    def clients(self, server):
        self.cw = client(server, "cloudwatch")
        self.sns = client(server, "sns")
        self.sqs = client(server, "sqs")

    def metric_alarm(self, name, **kw):
        args = dict(AlarmName=name, Namespace="CompositeTest", MetricName=name,
                    Statistic="Maximum", Period=60, EvaluationPeriods=1, Threshold=5.0,
                    ComparisonOperator="GreaterThanThreshold", TreatMissingData="ignore")
        args.update(kw)
        self.cw.put_metric_alarm(**args)

    def set_state(self, name, state):
        self.cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test " + state)

    def composite(self, name):
        got = self.cw.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])
        self.assertEqual(got["MetricAlarms"], [])
        self.assertEqual(len(got["CompositeAlarms"]), 1, got)
        return got["CompositeAlarms"][0]

    def topic_with_queue(self, prefix):
        topic = self.sns.create_topic(Name=h.unique(prefix))["TopicArn"]
        url = self.sqs.create_queue(QueueName=h.unique(prefix))["QueueUrl"]
        qarn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn,
                           Attributes={"RawMessageDelivery": "true"})
        return topic, url

    def drain(self, url, wait=1):
        out = []
        while True:
            r = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=wait,
                                         MaxNumberOfMessages=10)
            if not r.get("Messages"):
                return out
            for m in r["Messages"]:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def assertCwError(self, fn, code, message=None):
        with self.assertRaises(ClientError) as cm:
            fn()
        err = cm.exception.response["Error"]
        self.assertEqual(err["Code"], code, cm.exception.response)
        if message:
            self.assertIn(message, err["Message"])
        return err


class TestComposite(Clients, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = SERVER  # noqa: F821 - set by start_module_server

    def setUp(self):
        self.clients(self.server)

    def test_state_follows_children(self):
        a, b = h.unique("ca"), h.unique("cb")
        self.metric_alarm(a)
        self.metric_alarm(b)
        arn_b = self.cw.describe_alarms(AlarmNames=[b])["MetricAlarms"][0]["AlarmArn"]
        top = h.unique("ctop")
        # both children INSUFFICIENT_DATA: ALARM(a) false -> OK at once
        self.cw.put_composite_alarm(AlarmName=top,
                                    AlarmRule='ALARM("%s") AND NOT OK(%s)' % (a, arn_b))
        c = self.composite(top)
        self.assertEqual(c["StateValue"], "OK")
        self.assertEqual(c["AlarmRule"], 'ALARM("%s") AND NOT OK(%s)' % (a, arn_b))
        self.assertEqual(c["AlarmArn"], arn_b.rsplit(":", 1)[0] + ":" + top)
        self.assertTrue(c["ActionsEnabled"])
        self.set_state(a, "ALARM")
        c = self.composite(top)
        self.assertEqual(c["StateValue"], "ALARM")
        self.assertIn("alarm:%s transitioned to ALARM at " % a, c["StateReason"])
        rd = json.loads(c["StateReasonData"])
        self.assertEqual(rd["triggeringAlarms"][0]["state"]["value"], "ALARM")
        self.set_state(b, "OK")
        self.assertEqual(self.composite(top)["StateValue"], "OK")
        # a composite of a composite, OR, parentheses, TRUE/FALSE, INSUFFICIENT_DATA()
        outer = h.unique("couter")
        self.cw.put_composite_alarm(
            AlarmName=outer,
            AlarmRule="(ALARM(%s) OR FALSE) OR (TRUE AND INSUFFICIENT_DATA(%s))" % (top, b))
        self.assertEqual(self.composite(outer)["StateValue"], "OK")
        self.set_state(b, "INSUFFICIENT_DATA")  # top -> ALARM (a ALARM, b not OK), outer too
        self.assertEqual(self.composite(top)["StateValue"], "ALARM")
        self.assertEqual(self.composite(outer)["StateValue"], "ALARM")
        self.set_state(a, "OK")
        self.assertEqual(self.composite(top)["StateValue"], "OK")
        self.assertEqual(self.composite(outer)["StateValue"], "ALARM")  # b INSUFFICIENT_DATA
        self.set_state(b, "OK")
        self.assertEqual(self.composite(outer)["StateValue"], "OK")
        # an update re-evaluates with the new rule, keeping the rest
        self.cw.put_composite_alarm(AlarmName=outer, AlarmRule="TRUE")
        self.assertEqual(self.composite(outer)["StateValue"], "ALARM")
        self.cw.delete_alarms(AlarmNames=[outer])
        self.cw.delete_alarms(AlarmNames=[top])
        self.cw.delete_alarms(AlarmNames=[a, b])

    def test_rule_validation(self):
        a = h.unique("va")
        self.metric_alarm(a)
        bad = ["ALARM(%s) AND" % a, "ALARM(%s" % a, "FOO(%s)" % a, "ALARM()", "ALARM(%s) OK" % a,
               "(TRUE", "NOT", 'ALARM("%s)' % a]
        for rule in bad:
            self.assertCwError(lambda: self.cw.put_composite_alarm(AlarmName=h.unique("v"),
                                                                   AlarmRule=rule),
                               "ValidationError", "Error in alarm rule")
        self.assertCwError(lambda: self.cw.put_composite_alarm(
            AlarmName=h.unique("v"), AlarmRule="ALARM(nope1) OR OK(%s) OR OK(nope2)" % a),
            "ValidationError",
            "Could not save the composite alarm as alarms [nope1, nope2] in the alarm rule do not "
            "exist")
        long_rule = "(" * 5000 + "TRUE" + ")" * 5000 + " OR " + "TRUE OR " * 40 + "TRUE"
        self.assertGreater(len(long_rule), 10240)
        self.assertCwError(lambda: self.cw.put_composite_alarm(AlarmName=h.unique("v"),
                                                               AlarmRule=long_rule),
                           "InvalidParameterValue", "10240")
        # a metric alarm's name is taken, and a composite alarm's
        self.assertCwError(lambda: self.cw.put_composite_alarm(AlarmName=a, AlarmRule="TRUE"),
                           "ValidationError", "metric alarm")
        taken = h.unique("taken")
        self.cw.put_composite_alarm(AlarmName=taken, AlarmRule="TRUE")
        self.assertCwError(lambda: self.metric_alarm(taken), "ValidationError", "composite alarm")
        self.cw.delete_alarms(AlarmNames=[taken])
        # cycles: itself, and through another composite alarm
        x, y = h.unique("cx"), h.unique("cy")
        self.assertCwError(lambda: self.cw.put_composite_alarm(AlarmName=x,
                                                               AlarmRule="ALARM(%s)" % x),
                           "ValidationError")  # x does not exist yet
        self.cw.put_composite_alarm(AlarmName=x, AlarmRule="ALARM(%s)" % a)
        self.assertCwError(lambda: self.cw.put_composite_alarm(AlarmName=x,
                                                               AlarmRule="ALARM(%s)" % x),
                           "ValidationError", "cycle")
        self.cw.put_composite_alarm(AlarmName=y, AlarmRule="ALARM(%s)" % x)
        self.assertCwError(lambda: self.cw.put_composite_alarm(AlarmName=x,
                                                               AlarmRule="ALARM(%s)" % y),
                           "ValidationError", "cycle")
        self.assertEqual(self.composite(x)["AlarmRule"], "ALARM(%s)" % a)  # unchanged
        # actions: SNS topics only; ActionsSuppressor refused
        self.assertCwError(lambda: self.cw.put_composite_alarm(
            AlarmName=h.unique("v"), AlarmRule="TRUE",
            AlarmActions=["arn:aws:lambda:us-east-1:000000000000:function:f"]), "ValidationError")
        self.assertCwError(lambda: self.cw.put_composite_alarm(
            AlarmName=h.unique("v"), AlarmRule="TRUE", ActionsSuppressor=a,
            ActionsSuppressorWaitPeriod=60, ActionsSuppressorExtensionPeriod=60),
            "ValidationError", "ActionsSuppressor")
        self.cw.delete_alarms(AlarmNames=[y])
        self.cw.delete_alarms(AlarmNames=[x])
        self.cw.delete_alarms(AlarmNames=[a])

    def test_at_most_100_alarms(self):
        names = [h.unique("m%d-" % i) for i in range(101)]
        for n in names:
            self.metric_alarm(n)
        rule = " OR ".join("ALARM(%s)" % n for n in names)
        self.assertCwError(lambda: self.cw.put_composite_alarm(AlarmName=h.unique("big"),
                                                               AlarmRule=rule),
                           "ValidationError", "at most 100")
        ok = h.unique("big")
        self.cw.put_composite_alarm(AlarmName=ok, AlarmRule=" OR ".join(
            "ALARM(%s)" % n for n in names[:100]))
        kids = self.cw.describe_alarms(ChildrenOfAlarmName=ok, MaxRecords=100)
        self.assertEqual(len(kids["MetricAlarms"]), 100)
        self.cw.delete_alarms(AlarmNames=[ok])
        for i in range(0, 101, 50):
            self.cw.delete_alarms(AlarmNames=names[i:i + 50])

    def test_notification_and_history(self):
        topic, url = self.topic_with_queue("comptopic")
        a = h.unique("na")
        self.metric_alarm(a)
        name = h.unique("ncomp")
        self.cw.put_composite_alarm(AlarmName=name, AlarmRule="ALARM(%s)" % a,
                                    AlarmDescription="both down", AlarmActions=[topic],
                                    OKActions=[topic], InsufficientDataActions=[topic])
        first = self.drain(url)  # created: INSUFFICIENT_DATA -> OK, the OK action
        self.assertEqual(len(first), 1, first)
        self.assertEqual((first[0]["NewStateValue"], first[0]["OldStateValue"]),
                         ("OK", "INSUFFICIENT_DATA"))
        self.set_state(a, "ALARM")
        msgs = self.drain(url)
        self.assertEqual(len(msgs), 1, msgs)
        m = msgs[0]
        arn_a = self.cw.describe_alarms(AlarmNames=[a])["MetricAlarms"][0]["AlarmArn"]
        self.assertEqual(m["AlarmName"], name)
        self.assertEqual(m["AlarmDescription"], "both down")
        self.assertEqual(m["AWSAccountId"], h.ACCOUNT)
        self.assertEqual((m["NewStateValue"], m["OldStateValue"]), ("ALARM", "OK"))
        self.assertEqual(m["AlarmRule"], "ALARM(%s)" % a)
        self.assertEqual(m["Region"], "US East (N. Virginia)")
        self.assertEqual(m["AlarmActions"], [topic])
        self.assertEqual(len(m["TriggeringChildren"]), 1)
        tc = m["TriggeringChildren"][0]
        self.assertEqual(tc["Arn"], arn_a)
        self.assertEqual(tc["State"]["Value"], "ALARM")
        self.assertRegex(tc["State"]["Timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
        self.assertIn(arn_a + " transitioned to ALARM at ", m["NewStateReason"])
        self.assertRegex(m["StateChangeTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
        # history: only with AlarmTypes=[CompositeAlarm]
        items = self.cw.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
        self.assertEqual(items, [])
        items = self.cw.describe_alarm_history(AlarmName=name, AlarmTypes=["CompositeAlarm"])[
            "AlarmHistoryItems"]
        self.assertEqual({i["AlarmType"] for i in items}, {"CompositeAlarm"})
        summaries = [i["HistorySummary"] for i in items]
        self.assertEqual(summaries[-1], 'Alarm "%s" created' % name)
        self.assertIn("Alarm updated from INSUFFICIENT_DATA to OK", summaries)
        self.assertIn("Alarm updated from OK to ALARM", summaries)
        self.assertIn("Successfully executed action %s" % topic, summaries)
        # ActionsEnabled false: the state changes, nothing is sent
        self.cw.put_composite_alarm(AlarmName=name, AlarmRule="ALARM(%s)" % a,
                                    ActionsEnabled=False, AlarmActions=[topic], OKActions=[topic])
        self.set_state(a, "OK")
        self.assertEqual(self.composite(name)["StateValue"], "OK")
        self.assertEqual(self.drain(url), [])
        self.cw.delete_alarms(AlarmNames=[name])
        self.cw.delete_alarms(AlarmNames=[a])

    def test_describe_and_delete(self):
        a, b = h.unique("da"), h.unique("db")
        self.metric_alarm(a)
        self.metric_alarm(b)
        p1, p2 = h.unique("dp1"), h.unique("dp2")
        self.cw.put_composite_alarm(AlarmName=p1, AlarmRule="ALARM(%s) OR ALARM(%s)" % (a, b))
        self.cw.put_composite_alarm(AlarmName=p2, AlarmRule="OK(%s) AND ALARM(%s)" % (a, p1))
        # default: metric alarms only
        got = self.cw.describe_alarms(AlarmNames=[a, p1])
        self.assertEqual([x["AlarmName"] for x in got["MetricAlarms"]], [a])
        self.assertEqual(got["CompositeAlarms"], [])
        got = self.cw.describe_alarms(AlarmNames=[a, p1], AlarmTypes=["MetricAlarm",
                                                                     "CompositeAlarm"])
        self.assertEqual([x["AlarmName"] for x in got["MetricAlarms"]], [a])
        self.assertEqual([x["AlarmName"] for x in got["CompositeAlarms"]], [p1])
        kids = self.cw.describe_alarms(ChildrenOfAlarmName=p2)
        self.assertEqual([x["AlarmName"] for x in kids["MetricAlarms"]], [a])
        self.assertEqual([x["AlarmName"] for x in kids["CompositeAlarms"]], [p1])
        parents = self.cw.describe_alarms(ParentsOfAlarmName=a)
        self.assertEqual(parents["MetricAlarms"], [])
        self.assertEqual(sorted(x["AlarmName"] for x in parents["CompositeAlarms"]),
                         sorted([p1, p2]))
        self.assertEqual(self.cw.describe_alarms(ParentsOfAlarmName=p2)["CompositeAlarms"], [])
        # deleting a child some composite alarm keeps depending on: refused
        self.assertCwError(lambda: self.cw.delete_alarms(AlarmNames=[b]), "ValidationError",
                           "Cannot delete %s as there are composite alarm(s) depending on it." % b)
        self.assertCwError(lambda: self.cw.delete_alarms(AlarmNames=[p1, p2]), "ValidationError")
        self.assertEqual(len(self.cw.describe_alarms(AlarmNames=[a, b])["MetricAlarms"]), 2)
        self.cw.delete_alarms(AlarmNames=[p2])
        self.cw.delete_alarms(AlarmNames=[p1, a, b])  # the parent goes with its children
        got = self.cw.describe_alarms(AlarmNames=[a, b, p1, p2],
                                      AlarmTypes=["MetricAlarm", "CompositeAlarm"])
        self.assertEqual((got["MetricAlarms"], got["CompositeAlarms"]), ([], []))

    def test_tags_and_state_by_hand(self):
        name = h.unique("tagged")
        self.cw.put_composite_alarm(AlarmName=name, AlarmRule="FALSE",
                                    Tags=[{"Key": "team", "Value": "ops"}])
        arn = self.composite(name)["AlarmArn"]
        self.assertEqual(self.cw.list_tags_for_resource(ResourceARN=arn)["Tags"],
                         [{"Key": "team", "Value": "ops"}])
        self.set_state(name, "ALARM")  # SetAlarmState works on composite alarms too
        self.assertEqual(self.composite(name)["StateValue"], "ALARM")
        self.cw.delete_alarms(AlarmNames=[name])


class TestCompositeCrash(Clients, h.FaultServerTestCase):
    """A child's state change, its composite parent's change and the parent's
    notification commit in one batch: a kill -9 keeps all or none."""

    def setup_alarms(self):
        self.clients(self.server)
        topic, url = self.topic_with_queue("crash")
        self.metric_alarm("child", AlarmActions=[topic])
        self.cw.put_composite_alarm(AlarmName="parent", AlarmRule="ALARM(child)",
                                    AlarmActions=[topic])
        self.assertEqual(self.composite("parent")["StateValue"], "OK")
        return url

    def check_after_restart(self, url):
        self.clients(self.server)
        child = self.cw.describe_alarms(AlarmNames=["child"])["MetricAlarms"][0]["StateValue"]
        parent = self.composite("parent")["StateValue"]
        msgs = self.drain(url)
        return child, parent, msgs

    def test_kill_during_the_commit_keeps_none_or_all(self):
        url = self.setup_alarms()
        self.set_delay(1500)
        self.answered = False
        t = threading.Thread(target=self._try_set)
        t.start()
        time.sleep(0.7)  # the batch is in the writer's hands, not committed
        self.server.kill9()
        t.join(30)
        self.assertFalse(self.answered)  # killed before the change was acknowledged
        self.fault("commit-delay-ms", None)
        self.server.start()
        child, parent, msgs = self.check_after_restart(url)
        names = sorted(m["AlarmName"] for m in msgs)
        if child == "ALARM":
            self.assertEqual((parent, names), ("ALARM", ["child", "parent"]))
        else:
            self.assertEqual((child, parent, names), ("INSUFFICIENT_DATA", "OK", []))

    def _try_set(self):
        try:
            self.set_state("child", "ALARM")
            self.answered = True
        except Exception:  # noqa: BLE001 - the server dies under it
            pass

    def test_kill_after_the_answer_loses_neither(self):
        url = self.setup_alarms()
        self.set_state("child", "ALARM")  # answered once committed
        self.server.kill9()
        self.server.start()
        child, parent, msgs = self.check_after_restart(url)
        self.assertEqual((child, parent), ("ALARM", "ALARM"))
        by_name = {m["AlarmName"]: m for m in msgs}
        self.assertEqual(sorted(by_name), ["child", "parent"])
        self.assertEqual(by_name["child"]["NewStateValue"], "ALARM")
        self.assertEqual(by_name["parent"]["NewStateValue"], "ALARM")
        self.assertEqual(by_name["parent"]["TriggeringChildren"][0]["State"]["Value"], "ALARM")


if __name__ == "__main__":
    unittest.main()
