"""EventBridge scheduled rules: ScheduleExpression validation (rate() and
cron(), AWS's syntax), scheduled rules only on the default bus, the
"Scheduled Event" a firing sends, and durability of the last fire across
restarts. The servers run with TWEEDLE_SCHEDULE_MINUTE_MS (one minute of
schedule time shrunk to a few hundred milliseconds; tests only).

AWS facts asserted here (EventBridge user guide "Schedule expressions";
PutRule API reference):
* An invalid expression is ValidationException "Parameter ScheduleExpression
  is not valid.": rate() needs a positive integer and the unit singular
  exactly for 1 (rate(1 minutes), rate(5 minute) are invalid); cron() has six
  fields, and exactly one of day-of-month and day-of-week is ?.
* A ScheduleExpression on another bus than default: ValidationException
  "ScheduleExpression is supported only on the default event bus."
* The event: source "aws.events", detail-type "Scheduled Event", resources
  [the rule ARN], detail {}.
"""

import calendar
import json
import sys
import time
import unittest

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import harness as h

MINUTE_MS = 400


def events_client(server):
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                 read_timeout=30)
    return boto3.session.Session(aws_access_key_id=h.ACCESS_KEY, aws_secret_access_key=h.SECRET_KEY,
                                 region_name=h.REGION).client("events", endpoint_url=server.endpoint,
                                                              config=cfg)


def setUpModule():
    h.start_module_server(__name__, env={"TWEEDLE_SCHEDULE_MINUTE_MS": str(MINUTE_MS)})


def tearDownModule():
    h.stop_module_server(__name__)


def unique(p):
    return "%s%d" % (p, int(time.time() * 1000000) % 10 ** 10)


VALID = [
    "rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(12 hours)", "rate(1 day)",
    "rate(7 days)",
    "cron(0 10 * * ? *)", "cron(15 12 * * ? *)", "cron(0 18 ? * MON-FRI *)",
    "cron(0 8 1 * ? *)", "cron(0/15 * * * ? *)", "cron(0/10 * ? * MON-FRI *)",
    "cron(0/5 8-17 ? * MON-FRI *)", "cron(0 9 ? * 2#1 *)", "cron(0 12 L * ? *)",
    "cron(0 12 LW * ? *)", "cron(0 12 15W * ? *)", "cron(0 12 ? * 6L *)",
    "cron(0 12 ? * L *)", "cron(5,35 14 * JAN,MAR ? 2027-2030)", "cron(* * * * ? *)",
    "cron(0 0 ? * SUN *)", "cron(30 2 1-15/2 * ? *)",
]

INVALID = [
    "rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "rate(-1 minutes)",
    "rate(1.5 hours)", "rate(5 seconds)", "rate(1 week)", "rate(5minutes)", "rate()",
    "rate(5 minutes", "cron(0 10 * * *)", "cron(0 10 * * ? * *)", "cron(0 10 * * * *)",
    "cron(0 10 ? * ? *)", "cron(60 10 * * ? *)", "cron(0 24 * * ? *)", "cron(0 10 32 * ? *)",
    "cron(0 10 * 13 ? *)", "cron(0 10 ? * 8 *)", "cron(0 10 ? * 2#6 *)",
    "cron(0 10 * * ? 1969)", "cron(0 10 * * ? 2200)", "cron(a b c d e f)", "every 5 minutes",
    "cron(0 10 5-1 * ? *)", "cron(0/0 10 * * ? *)", "",
]


class ScheduleValidation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.eb = events_client(sys.modules[__name__].SERVER)

    def test_valid_expressions_are_taken(self):
        for expr in VALID:
            with self.subTest(expr=expr):
                name = unique("v")
                self.eb.put_rule(Name=name, ScheduleExpression=expr, State="DISABLED")
                self.assertEqual(self.eb.describe_rule(Name=name)["ScheduleExpression"], expr)
                self.eb.delete_rule(Name=name)

    def test_invalid_expressions_are_refused(self):
        for expr in INVALID:
            with self.subTest(expr=expr):
                with self.assertRaises(ClientError) as cm:
                    self.eb.put_rule(Name=unique("i"), ScheduleExpression=expr)
                err = cm.exception.response["Error"]
                if expr == "":  # an empty string is as good as none
                    self.assertEqual(err["Code"], "ValidationException")
                    continue
                self.assertEqual((err["Code"], err["Message"]),
                                 ("ValidationException",
                                  "Parameter ScheduleExpression is not valid."))

    def test_only_on_the_default_bus(self):
        bus = unique("bus")
        self.eb.create_event_bus(Name=bus)
        with self.assertRaises(ClientError) as cm:
            self.eb.put_rule(Name=unique("s"), EventBusName=bus, ScheduleExpression="rate(1 day)")
        err = cm.exception.response["Error"]
        self.assertEqual((err["Code"], err["Message"]),
                         ("ValidationException",
                          "ScheduleExpression is supported only on the default event bus."))
        self.eb.delete_event_bus(Name=bus)


class Firing(unittest.TestCase):
    """rate(1 minute) with a minute of MINUTE_MS: fires into a queue."""

    def setUp(self):
        self.server = h.Server(env={"TWEEDLE_SCHEDULE_MINUTE_MS": str(MINUTE_MS)})
        self.server.start()
        self.eb = events_client(self.server)
        self.sqs = self.server.client()

    def tearDown(self):
        if self.server.alive():
            self.server.stop()
        self.server.cleanup()

    def queue(self):
        url = self.sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        return url, arn

    def drain(self, url, seconds):
        got = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for m in r.get("Messages", []):
                got.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return got

    def test_rate_rule_fires_scheduled_events(self):
        url, arn = self.queue()
        name = unique("tick")
        rule_arn = self.eb.put_rule(Name=name, ScheduleExpression="rate(1 minute)")["RuleArn"]
        self.eb.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
        t0 = time.monotonic()
        got = self.drain(url, 4.0)
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(len(got), 3, got)
        # at most one per shrunk minute (plus the one in progress)
        self.assertLessEqual(len(got), elapsed * 1000 / MINUTE_MS + 2)
        ev = got[0]
        self.assertEqual((ev["source"], ev["detail-type"], ev["resources"], ev["detail"]),
                         ("aws.events", "Scheduled Event", [rule_arn], {}))
        self.assertEqual(len({e["id"] for e in got}), len(got))

    def test_disabled_rule_does_not_fire(self):
        url, arn = self.queue()
        name = unique("off")
        self.eb.put_rule(Name=name, ScheduleExpression="rate(1 minute)", State="DISABLED")
        self.eb.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
        self.assertEqual(self.drain(url, 2.0), [])

    def test_restart_does_not_fire_twice(self):
        # rate(10 minutes): one slot every 10 x MINUTE_MS
        period = 10 * MINUTE_MS / 1000.0
        url, arn = self.queue()
        name = unique("once")
        self.eb.put_rule(Name=name, ScheduleExpression="rate(10 minutes)")
        self.eb.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
        first = self.drain_until(url, 1, period * 3)
        self.assertEqual(len(first), 1)
        # restart (SIGTERM), then kill -9, right after the fire: that slot is
        # not fired again, and the next ones come once each
        self.server.restart()
        self.server.restart(kill=True)
        self.sqs = self.server.client()
        later = self.drain(url, period * 1.5)
        times = [calendar.timegm(time.strptime(e["time"], "%Y-%m-%dT%H:%M:%SZ"))
                 for e in first + later]
        self.assertGreaterEqual(len(later), 1, "the schedule stopped after the restarts")
        self.assertEqual(len(times), len(set(times)), times)  # no slot twice
        gaps = [b - a for a, b in zip(times, times[1:])]
        self.assertTrue(all(g >= period - 1 for g in gaps), (times, period))

    def test_missed_slots_fire_once_late(self):
        # a server of its own with a 1-second minute: rate(2 minutes) is a
        # slot every 2 s, and slots have distinct event times (seconds)
        self.server.stop()
        self.server.cleanup()
        self.server = h.Server(env={"TWEEDLE_SCHEDULE_MINUTE_MS": "1000"})
        self.server.start()
        self.eb = events_client(self.server)
        self.sqs = self.server.client()
        url, arn = self.queue()
        name = unique("late")
        self.eb.put_rule(Name=name, ScheduleExpression="rate(2 minutes)")
        self.eb.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
        self.assertEqual(len(self.drain_until(url, 1, 8)), 1)
        self.server.stop()
        t_stop = time.time()
        time.sleep(9)  # about four slots missed
        t_start = time.time()
        self.server.start()
        t_up = time.time()
        self.sqs = self.server.client()
        times = [calendar.timegm(time.strptime(e["time"], "%Y-%m-%dT%H:%M:%SZ"))
                 for e in self.drain(url, 3.0)]
        self.assertEqual(len(times), len(set(times)), times)
        missed = [t for t in times if t_stop + 1 < t < t_start - 1]
        late = [t for t in times if t_stop + 1 < t <= t_up + 1]
        self.assertLessEqual(len(missed), 1, (times, t_stop, t_start))  # not one per slot
        self.assertGreaterEqual(len(late), 1, (times, t_stop, t_up))    # but not skipped

    def drain_until(self, url, n, seconds):
        got = []
        deadline = time.monotonic() + seconds
        while len(got) < n and time.monotonic() < deadline:
            r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for m in r.get("Messages", []):
                got.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return got


if __name__ == "__main__":
    unittest.main()
