"""EventBridge (JSON 1.1, X-Amz-Target AWSEvents.*, SigV4 service `events`)
with boto3's `events` client: buses, rules, targets, PutEvents delivered to
SQS queues (FIFO too) in the PutEvents' own store batch, input transformers,
S3 -> EventBridge, S3 -> SNS, and durability across kill -9.

AWS facts asserted here (EventBridge API reference; responses recorded
against AWS in LocalStack's validated snapshots; S3 User Guide "EventBridge
event message structure"):
* Errors are {"__type": "<Code>", "message": ...} with HTTP 400:
  ResourceNotFoundException "Event bus X does not exist." / "Rule X does not
  exist on EventBus Y.", ResourceAlreadyExistsException "Event bus X already
  exists.", ValidationException "Cannot delete event bus default.", "Rule
  can't be deleted since it has targets.", "EventBus can't be deleted since
  it has rules.", LimitExceededException "The requested resource exceeds the
  maximum number allowed." (6th target), "Only one of Input, InputPath, or
  InputTransformer must be provided for target X.", "InputTemplate for target
  X contains invalid placeholder Y.", "Total size of the entries in the
  request is over the limit.", "Parameter Event is not valid.".
* Rule ARNs: arn:aws:events:REGION:ACCOUNT:rule/NAME on the default bus,
  rule/BUS/NAME on others; DescribeRule has CreatedBy (the account).
* PutEvents entry errors: InvalidArgument "Parameter Source is not valid.
  Reason: Source is a required argument." (DetailType, Detail alike),
  MalformedDetail "Detail is malformed.".
* The event a target receives: {"version":"0","id","detail-type","source",
  "account","time":"YYYY-MM-DDTHH:MM:SSZ","region","resources","detail"};
  InputPath "$.detail" sends the detail, a string value is sent as a JSON
  string; InputTransformer templates: JSON templates get JSON values
  (missing paths as ""), text templates get raw strings and objects without
  quotes ({acc_id:x,sf_id:y}); <aws.events.event> is the event without
  detail and with "detailType".
* S3 events on the default bus: source aws.s3, detail-type "Object Created" /
  "Object Deleted" / "Object Tags Added" / "Object Tags Deleted", resources
  ["arn:aws:s3:::BUCKET"], detail {version "0", bucket.name, object {key,
  size, etag, sequencer} (deletions: key, sequencer), request-id, requester,
  source-ip-address, reason "PutObject" | "CopyObject" |
  "CompleteMultipartUpload" | "DeleteObject", deletion-type "Permanently
  Deleted"}.
* S3 -> SNS: a topic that does not exist -> InvalidArgument "Unable to
  validate the following destination configurations", ArgumentValue1 "The
  destination topic does not exist"; deliveries are published with Subject
  "Amazon S3 Notification".
"""

import json
import sys
import threading
import time
import unittest

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import harness as h
import s3_harness as s

TIME_RE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"
UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
EB_CT = "application/x-amz-json-1.1"


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


def events_client(server, validate=True, **kw):
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                 read_timeout=30, parameter_validation=validate)
    session = boto3.session.Session(aws_access_key_id=kw.get("access_key", h.ACCESS_KEY),
                                    aws_secret_access_key=kw.get("secret_key", h.SECRET_KEY),
                                    region_name=h.REGION)
    return session.client("events", endpoint_url=server.endpoint, config=cfg)


def client_of(server, service):
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                 read_timeout=30)
    return boto3.session.Session(aws_access_key_id=h.ACCESS_KEY, aws_secret_access_key=h.SECRET_KEY,
                                 region_name=h.REGION).client(service, endpoint_url=server.endpoint,
                                                              config=cfg)


def has_member(client, op, member, output=False):
    """Whether this botocore's model knows a member of an operation's input
    (or output)."""
    model = client.meta.service_model.operation_model(op)
    shape = model.output_shape if output else model.input_shape
    return shape is not None and member in shape.members


def eb_raw(server, op, payload, **kw):
    """A raw AWSEvents request (for what botocore would not send)."""
    body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    return h.raw_request(server, "POST", "/", body=body,
                         headers={"Content-Type": EB_CT, "X-Amz-Target": "AWSEvents." + op},
                         service="events", **kw)


def bus_arn(name):
    return "arn:aws:events:%s:%s:event-bus/%s" % (h.REGION, h.ACCOUNT, name)


def rule_arn(name, bus="default"):
    if bus == "default":
        return "arn:aws:events:%s:%s:rule/%s" % (h.REGION, h.ACCOUNT, name)
    return "arn:aws:events:%s:%s:rule/%s/%s" % (h.REGION, h.ACCOUNT, bus, name)


def queue_arn(name):
    return "arn:aws:sqs:%s:%s:%s" % (h.REGION, h.ACCOUNT, name)


class EventBridgeTestCase(unittest.TestCase):
    maxDiff = 6000

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = getattr(sys.modules[cls.__module__], "SERVER", None)
        if cls.server is None:
            raise unittest.SkipTest("module server not started")
        cls.eb = events_client(cls.server)
        cls.sqs = cls.server.client()

    # -- helpers ------------------------------------------------------------------------
    def assertEbError(self, fn, code, message=None, status=400, message_re=None):
        with self.assertRaises(ClientError) as cm:
            fn()
        r = cm.exception.response
        ctx = "error response: %r" % (r,)
        self.assertEqual(r["Error"]["Code"], code, ctx)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], status, ctx)
        if message is not None:
            self.assertEqual(r["Error"]["Message"], message, ctx)
        if message_re is not None:
            self.assertRegex(r["Error"]["Message"], message_re, ctx)
        return cm.exception

    def make_queue(self, prefix="ebq", fifo=False, attrs=None):
        name = h.unique(prefix)
        attributes = dict(attrs or {})
        if fifo:
            name += ".fifo"
            attributes["FifoQueue"] = "true"
        kw = {"QueueName": name}
        if attributes:
            kw["Attributes"] = attributes
        url = self.sqs.create_queue(**kw)["QueueUrl"]
        return queue_arn(name), url

    def make_bus(self, prefix="bus"):
        name = h.unique(prefix)
        self.eb.create_event_bus(Name=name)
        return name

    def make_rule(self, pattern, bus=None, name=None, **kw):
        name = name or h.unique("rule")
        args = {"Name": name, "EventPattern": json.dumps(pattern) if not isinstance(pattern, str) else pattern}
        if bus:
            args["EventBusName"] = bus
        args.update(kw)
        self.eb.put_rule(**args)
        return name

    def route(self, pattern, bus=None, fifo=False, target_extra=None):
        """A rule with one SQS target: (rule name, queue url)."""
        arn, url = self.make_queue(fifo=fifo)
        name = self.make_rule(pattern, bus=bus)
        target = {"Id": "q", "Arn": arn}
        if fifo:
            target["SqsParameters"] = {"MessageGroupId": "grp-1"}
        target.update(target_extra or {})
        kw = {"Rule": name, "Targets": [target]}
        if bus:
            kw["EventBusName"] = bus
        r = self.eb.put_targets(**kw)
        self.assertEqual(r["FailedEntryCount"], 0, r)
        return name, url

    def receive(self, url, expected, timeout=5.0, **kw):
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < expected and time.monotonic() < deadline:
            wait = max(0, min(1, int(deadline - time.monotonic())))
            msgs = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait,
                                            AttributeNames=["All"], MessageAttributeNames=["All"],
                                            **kw).get("Messages", [])
            for m in msgs:
                got.append(m)
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return got

    def bodies(self, url, expected, timeout=5.0):
        return [m["Body"] for m in self.receive(url, expected, timeout)]

    def assertQuiet(self, url, wait=1):
        msgs = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                        WaitTimeSeconds=wait).get("Messages", [])
        self.assertEqual([m["Body"] for m in msgs], [], "unexpected messages")

    def put(self, source="tw.test", detail_type="Test", detail=None, **kw):
        entry = {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail or {"k": "v"})}
        entry.update(kw)
        r = self.eb.put_events(Entries=[entry])
        self.assertEqual(r["FailedEntryCount"], 0, r)
        return r["Entries"][0]["EventId"]


# ---------------------------------------------------------------------------------------
class WireTest(EventBridgeTestCase):

    def test_json_1_1_shapes(self):
        r = eb_raw(self.server, "DescribeEventBus", {})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), EB_CT)
        self.assertRegex(r.header("x-amzn-RequestId"), UUID_RE)  # one, not repeated
        self.assertEqual(r.json()["Name"], "default")
        r = eb_raw(self.server, "DescribeEventBus", {"Name": "nope-" + h.unique()})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["__type"], "ResourceNotFoundException")
        self.assertRegex(r.json()["message"], r"^Event bus nope-.* does not exist\.$")

    def test_unknown_operation(self):
        r = eb_raw(self.server, "CreateArchive", {})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["__type"], "UnknownOperationException")

    def test_malformed_json(self):
        r = eb_raw(self.server, "ListRules", b"{not json")
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["__type"], "SerializationException")

    def test_wrong_secret_and_unknown_key(self):
        bad = events_client(self.server, secret_key="wrong")
        self.assertEbError(lambda: bad.list_event_buses(), "InvalidSignatureException")
        unknown = events_client(self.server, access_key="AKIDUNKNOWN")
        self.assertEbError(lambda: unknown.list_event_buses(), "UnrecognizedClientException")
        r = eb_raw(self.server, "ListEventBuses", {}, sign=False)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["__type"], "MissingAuthenticationTokenException")


# ---------------------------------------------------------------------------------------
class BusTest(EventBridgeTestCase):

    def test_default_bus(self):
        d = self.eb.describe_event_bus()
        self.assertEqual(d["Name"], "default")
        self.assertEqual(d["Arn"], bus_arn("default"))
        if has_member(self.eb, "DescribeEventBus", "CreationTime", output=True):
            self.assertIn("CreationTime", d)
        self.assertEqual(self.eb.describe_event_bus(Name=bus_arn("default"))["Name"], "default")
        names = [b["Name"] for b in self.eb.list_event_buses()["EventBuses"]]
        self.assertIn("default", names)

    def test_create_describe_list_delete(self):
        name = h.unique("bus")
        # Description came to CreateEventBus in 2024 (botocore 1.34): Debian's botocore lacks it
        described = has_member(self.eb, "CreateEventBus", "Description")
        kw = {"Description": "test bus"} if described else {}
        r = self.eb.create_event_bus(Name=name, Tags=[{"Key": "team", "Value": "core"}], **kw)
        self.assertEqual(r["EventBusArn"], bus_arn(name))
        d = self.eb.describe_event_bus(Name=name)
        self.assertEqual((d["Name"], d["Arn"]), (name, bus_arn(name)))
        if described:
            self.assertEqual(r["Description"], "test bus")
            self.assertEqual(d["Description"], "test bus")
            self.assertIn("LastModifiedTime", d)
        listed = self.eb.list_event_buses(NamePrefix=name)["EventBuses"]
        self.assertEqual([b["Name"] for b in listed], [name])
        self.assertEqual(self.eb.list_tags_for_resource(ResourceARN=bus_arn(name))["Tags"],
                         [{"Key": "team", "Value": "core"}])
        self.eb.delete_event_bus(Name=name)
        self.assertEqual(self.eb.list_event_buses(NamePrefix=name)["EventBuses"], [])
        # the wire shape, whatever this botocore knows
        other = h.unique("bus")
        r = eb_raw(self.server, "CreateEventBus", {"Name": other, "Description": "raw bus"})
        self.assertEqual(r.json(), {"EventBusArn": bus_arn(other), "Description": "raw bus"})
        d = eb_raw(self.server, "DescribeEventBus", {"Name": other}).json()
        self.assertEqual((d["Name"], d["Description"]), (other, "raw bus"))
        self.assertIsInstance(d["CreationTime"], (int, float))
        self.assertIsInstance(d["LastModifiedTime"], (int, float))
        self.assertEbError(lambda: self.eb.describe_event_bus(Name=name), "ResourceNotFoundException",
                           "Event bus %s does not exist." % name)

    def test_errors(self):
        name = self.make_bus()
        self.assertEbError(lambda: self.eb.create_event_bus(Name=name), "ResourceAlreadyExistsException",
                           "Event bus %s already exists." % name)
        self.assertEbError(lambda: self.eb.delete_event_bus(Name="default"), "ValidationException",
                           "Cannot delete event bus default.")
        missing = h.unique("missing")
        self.assertEbError(lambda: self.eb.delete_event_bus(Name=missing), "ResourceNotFoundException",
                           "Event bus %s does not exist." % missing)
        self.assertEbError(lambda: self.eb.create_event_bus(Name="bad name!"), "ValidationException",
                           message_re=r"regular expression pattern")
        self.make_rule({"source": ["x"]}, bus=name)
        self.assertEbError(lambda: self.eb.delete_event_bus(Name=name), "ValidationException",
                           "EventBus can't be deleted since it has rules.")

    def test_paging(self):
        prefix = h.unique("page")
        names = ["%s-%d" % (prefix, i) for i in range(5)]
        for n in names:
            self.eb.create_event_bus(Name=n)
        r1 = self.eb.list_event_buses(NamePrefix=prefix, Limit=3)
        self.assertEqual([b["Name"] for b in r1["EventBuses"]], names[:3])
        self.assertIn("NextToken", r1)
        r2 = self.eb.list_event_buses(NamePrefix=prefix, Limit=3, NextToken=r1["NextToken"])
        self.assertEqual([b["Name"] for b in r2["EventBuses"]], names[3:])
        self.assertNotIn("NextToken", r2)
        self.assertEbError(lambda: self.eb.list_event_buses(NextToken="zz-not-a-token"),
                           "ValidationException")


# ---------------------------------------------------------------------------------------
class RuleTest(EventBridgeTestCase):
    PATTERN = {"source": ["tw.test"], "detail-type": ["Test"]}

    def test_put_describe_list(self):
        name = h.unique("rule")
        pattern = json.dumps(self.PATTERN)
        r = self.eb.put_rule(Name=name, EventPattern=pattern, Description="d")
        self.assertEqual(r["RuleArn"], rule_arn(name))
        d = self.eb.describe_rule(Name=name)
        self.assertEqual(d["Name"], name)
        self.assertEqual(d["Arn"], rule_arn(name))
        self.assertEqual(json.loads(d["EventPattern"]), self.PATTERN)
        self.assertEqual(d["State"], "ENABLED")
        self.assertEqual(d["Description"], "d")
        self.assertEqual(d["EventBusName"], "default")
        self.assertEqual(d["CreatedBy"], h.ACCOUNT)
        rules = self.eb.list_rules(NamePrefix=name)["Rules"]
        self.assertEqual(len(rules), 1)
        self.assertEqual(rules[0]["Name"], name)
        self.assertEqual(rules[0]["EventBusName"], "default")
        self.assertNotIn("CreatedBy", rules[0])

    def test_custom_bus_rule_arn_and_bus_by_arn(self):
        bus = self.make_bus()
        name = h.unique("rule")
        r = self.eb.put_rule(Name=name, EventPattern=json.dumps(self.PATTERN), EventBusName=bus_arn(bus))
        self.assertEqual(r["RuleArn"], rule_arn(name, bus))
        self.assertEqual(self.eb.describe_rule(Name=name, EventBusName=bus)["EventBusName"], bus)
        self.assertEqual([x["Name"] for x in self.eb.list_rules(EventBusName=bus)["Rules"]], [name])
        self.assertEqual(self.eb.list_rules(NamePrefix=name)["Rules"], [])  # not on default
        self.assertEbError(lambda: self.eb.describe_rule(Name=name), "ResourceNotFoundException",
                           "Rule %s does not exist on EventBus default." % name)

    def test_enable_disable(self):
        name = self.make_rule(self.PATTERN, State="DISABLED")
        self.assertEqual(self.eb.describe_rule(Name=name)["State"], "DISABLED")
        self.eb.enable_rule(Name=name)
        self.assertEqual(self.eb.describe_rule(Name=name)["State"], "ENABLED")
        self.eb.disable_rule(Name=name)
        self.assertEqual(self.eb.describe_rule(Name=name)["State"], "DISABLED")
        missing = h.unique("nope")
        self.assertEbError(lambda: self.eb.enable_rule(Name=missing), "ResourceNotFoundException",
                           "Rule %s does not exist on EventBus default." % missing)

    def test_delete(self):
        arn, _ = self.make_queue()
        name = self.make_rule(self.PATTERN)
        self.eb.put_targets(Rule=name, Targets=[{"Id": "t1", "Arn": arn}])
        self.assertEbError(lambda: self.eb.delete_rule(Name=name), "ValidationException",
                           "Rule can't be deleted since it has targets.")
        self.eb.remove_targets(Rule=name, Ids=["t1"])
        self.eb.delete_rule(Name=name)
        self.eb.delete_rule(Name=name)  # again: AWS answers success
        self.assertEbError(lambda: self.eb.describe_rule(Name=name), "ResourceNotFoundException")

    def test_update_keeps_targets(self):
        arn, _ = self.make_queue()
        name = self.make_rule(self.PATTERN)
        self.eb.put_targets(Rule=name, Targets=[{"Id": "t1", "Arn": arn}])
        self.eb.put_rule(Name=name, EventPattern=json.dumps({"source": ["other"]}))
        self.assertEqual(json.loads(self.eb.describe_rule(Name=name)["EventPattern"]), {"source": ["other"]})
        self.assertEqual(self.eb.list_targets_by_rule(Rule=name)["Targets"], [{"Id": "t1", "Arn": arn}])

    def test_validation(self):
        self.assertEbError(lambda: self.eb.put_rule(Name=h.unique("r")), "ValidationException",
                           "Parameter(s) EventPattern or ScheduleExpression must be specified.")
        self.assertEbError(lambda: self.eb.put_rule(Name=h.unique("r"), ScheduleExpression="rate(5 minute)"),
                           "ValidationException", "Parameter ScheduleExpression is not valid.")
        self.assertEbError(lambda: self.eb.put_rule(Name=h.unique("r"), EventPattern="this is not json"),
                           "InvalidEventPatternException", message_re=r"^Event pattern is not valid\.")
        self.assertEbError(lambda: self.eb.put_rule(Name="bad name", EventPattern=json.dumps(self.PATTERN)),
                           "ValidationException", message_re=r"at 'name' failed to satisfy constraint")
        self.assertEbError(lambda: self.eb.put_rule(Name=h.unique("r"), EventPattern=json.dumps(self.PATTERN),
                                                    State="SLEEPING"),
                           "ValidationException", message_re=r"enum value set")
        missing = h.unique("nobus")
        self.assertEbError(lambda: self.eb.put_rule(Name=h.unique("r"), EventPattern=json.dumps(self.PATTERN),
                                                    EventBusName=missing),
                           "ResourceNotFoundException", "Event bus %s does not exist." % missing)

    def test_paging(self):
        bus = self.make_bus()
        names = ["r-%d" % i for i in range(5)]
        for n in names:
            self.make_rule(self.PATTERN, bus=bus, name=n)
        r1 = self.eb.list_rules(EventBusName=bus, Limit=2)
        r2 = self.eb.list_rules(EventBusName=bus, Limit=2, NextToken=r1["NextToken"])
        r3 = self.eb.list_rules(EventBusName=bus, Limit=2, NextToken=r2["NextToken"])
        self.assertEqual([x["Name"] for x in r1["Rules"] + r2["Rules"] + r3["Rules"]], names)
        self.assertNotIn("NextToken", r3)

    def test_tags(self):
        name = self.make_rule(self.PATTERN, Tags=[{"Key": "a", "Value": "1"}])
        arn = rule_arn(name)
        self.eb.tag_resource(ResourceARN=arn, Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "3"}])
        tags = sorted((t["Key"], t["Value"]) for t in self.eb.list_tags_for_resource(ResourceARN=arn)["Tags"])
        self.assertEqual(tags, [("a", "3"), ("b", "2")])
        self.eb.untag_resource(ResourceARN=arn, TagKeys=["a", "zz"])
        self.assertEqual(self.eb.list_tags_for_resource(ResourceARN=arn)["Tags"], [{"Key": "b", "Value": "2"}])
        self.eb.tag_resource(ResourceARN=bus_arn("default"), Tags=[{"Key": "d", "Value": "x"}])
        self.assertIn({"Key": "d", "Value": "x"},
                      self.eb.list_tags_for_resource(ResourceARN=bus_arn("default"))["Tags"])
        missing = h.unique("gone")
        self.assertEbError(lambda: self.eb.list_tags_for_resource(ResourceARN=rule_arn(missing)),
                           "ResourceNotFoundException",
                           "Rule %s does not exist on EventBus default." % missing)
        self.assertEbError(lambda: self.eb.tag_resource(ResourceARN=bus_arn(missing),
                                                        Tags=[{"Key": "k", "Value": "v"}]),
                           "ResourceNotFoundException", "Event bus %s does not exist." % missing)


# ---------------------------------------------------------------------------------------
class TargetTest(EventBridgeTestCase):
    PATTERN = {"source": ["tw.targets"]}

    def test_put_list_remove(self):
        a1, _ = self.make_queue()
        a2, _ = self.make_queue()
        name = self.make_rule(self.PATTERN)
        r = self.eb.put_targets(Rule=name, Targets=[{"Id": "one", "Arn": a1, "InputPath": "$.detail"},
                                                    {"Id": "two", "Arn": a2}])
        self.assertEqual((r["FailedEntryCount"], r["FailedEntries"]), (0, []))
        got = self.eb.list_targets_by_rule(Rule=name)["Targets"]
        self.assertEqual(got, [{"Id": "one", "Arn": a1, "InputPath": "$.detail"}, {"Id": "two", "Arn": a2}])
        # the same Id replaces
        self.eb.put_targets(Rule=name, Targets=[{"Id": "one", "Arn": a2}])
        got = self.eb.list_targets_by_rule(Rule=name)["Targets"]
        self.assertEqual(sorted((t["Id"], t["Arn"]) for t in got), [("one", a2), ("two", a2)])
        self.assertEqual(self.eb.list_rule_names_by_target(TargetArn=a2)["RuleNames"], [name])
        self.assertEqual(self.eb.list_rule_names_by_target(TargetArn=a1)["RuleNames"], [])
        r = self.eb.remove_targets(Rule=name, Ids=["one", "missing"])
        self.assertEqual(r["FailedEntryCount"], 1)
        self.assertEqual(r["FailedEntries"][0]["TargetId"], "missing")
        self.assertEqual(r["FailedEntries"][0]["ErrorCode"], "ResourceNotFoundException")
        self.assertEqual([t["Id"] for t in self.eb.list_targets_by_rule(Rule=name)["Targets"]], ["two"])

    def test_target_limit(self):
        arn, _ = self.make_queue()
        name = self.make_rule(self.PATTERN)
        self.eb.put_targets(Rule=name, Targets=[{"Id": "t%d" % i, "Arn": arn} for i in range(5)])
        self.assertEbError(lambda: self.eb.put_targets(Rule=name, Targets=[{"Id": "t5", "Arn": arn}]),
                           "LimitExceededException",
                           "The requested resource exceeds the maximum number allowed.")
        # replacing an existing one is no new target
        self.eb.put_targets(Rule=name, Targets=[{"Id": "t4", "Arn": arn, "Input": "{}"}])
        r1 = self.eb.list_targets_by_rule(Rule=name, Limit=3)
        r2 = self.eb.list_targets_by_rule(Rule=name, Limit=3, NextToken=r1["NextToken"])
        self.assertEqual([t["Id"] for t in r1["Targets"] + r2["Targets"]], ["t%d" % i for i in range(5)])

    def test_validation(self):
        arn, _ = self.make_queue()
        name = self.make_rule(self.PATTERN)
        self.assertEbError(lambda: self.eb.put_targets(Rule=name, Targets=[{"Id": "!@#$", "Arn": arn}]),
                           "ValidationException",
                           "1 validation error detected: Value '!@#$' at 'targets.1.member.id' failed to "
                           "satisfy constraint: Member must satisfy regular expression pattern: "
                           "[\\.\\-_A-Za-z0-9]+")
        self.assertEbError(lambda: self.eb.put_targets(Rule=name, Targets=[
            {"Id": "x", "Arn": arn, "Input": "{}", "InputPath": "$.detail"}]),
            "ValidationException", "Only one of Input, InputPath, or InputTransformer must be provided for target x.")
        self.assertEbError(lambda: self.eb.put_targets(Rule=name, Targets=[
            {"Id": "x", "Arn": arn, "InputTransformer": {"InputPathsMap": {"a": "$.detail.a"},
                                                         "InputTemplate": '"<a> and <notdefinedkey>"'}}]),
            "ValidationException", "InputTemplate for target x contains invalid placeholder notdefinedkey.")
        self.assertEbError(lambda: self.eb.put_targets(Rule=name, Targets=[{"Id": "x", "Arn": arn,
                                                                            "Input": "not json"}]),
                           "ValidationException")
        missing = h.unique("nope")
        self.assertEbError(lambda: self.eb.put_targets(Rule=missing, Targets=[{"Id": "x", "Arn": arn}]),
                           "ResourceNotFoundException", "Rule %s does not exist on EventBus default." % missing)
        self.assertEqual(self.eb.list_targets_by_rule(Rule=name)["Targets"], [])

    def test_per_entry_failures(self):
        arn, _ = self.make_queue()
        farn, _ = self.make_queue(fifo=True)
        name = self.make_rule(self.PATTERN)
        r = self.eb.put_targets(Rule=name, Targets=[
            {"Id": "ok", "Arn": arn},
            {"Id": "lambda", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:f"},
            {"Id": "fifo", "Arn": farn}])
        self.assertEqual(r["FailedEntryCount"], 2, r)
        failed = {e["TargetId"]: e for e in r["FailedEntries"]}
        self.assertEqual(failed["fifo"]["ErrorMessage"],
                         "Parameter(s) SqsParameters must be specified for target: fifo.")
        self.assertIn("not supported", failed["lambda"]["ErrorMessage"])
        self.assertEqual([t["Id"] for t in self.eb.list_targets_by_rule(Rule=name)["Targets"]], ["ok"])


# ---------------------------------------------------------------------------------------
class PutEventsTest(EventBridgeTestCase):

    def test_entry_errors(self):
        r = self.eb.put_events(Entries=[
            {"DetailType": "t", "Detail": "{}"},
            {"Source": "s", "Detail": "{}"},
            {"Source": "s", "DetailType": "t"},
            {"Source": "s", "DetailType": "t", "Detail": "[1,2]"},
            {"Source": "s", "DetailType": "t", "Detail": "{\"ok\":1}"},
            {"Source": "s", "DetailType": "t", "Detail": "{}", "EventBusName": "no-such-" + h.unique()},
        ])
        self.assertEqual(r["FailedEntryCount"], 5, r)
        e = r["Entries"]
        self.assertEqual((e[0]["ErrorCode"], e[0]["ErrorMessage"]),
                         ("InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument."))
        self.assertEqual(e[1]["ErrorMessage"],
                         "Parameter DetailType is not valid. Reason: DetailType is a required argument.")
        self.assertEqual(e[2]["ErrorMessage"], "Parameter Detail is not valid. Reason: Detail is a required argument.")
        self.assertEqual((e[3]["ErrorCode"], e[3]["ErrorMessage"]), ("MalformedDetail", "Detail is malformed."))
        self.assertRegex(e[4]["EventId"], UUID_RE)
        self.assertEqual(e[5]["ErrorCode"], "ResourceNotFoundException")

    def test_request_limits(self):
        loose = events_client(self.server, validate=False)
        self.assertEbError(lambda: loose.put_events(Entries=[{"Source": "s", "DetailType": "t", "Detail": "{}"}] * 11),
                           "ValidationException", message_re=r"less than or equal to 10")
        big = json.dumps({"x": "y" * (130 * 1024)})
        self.assertEbError(lambda: self.eb.put_events(Entries=[{"Source": "s", "DetailType": "t", "Detail": big}] * 2),
                           "ValidationException", "Total size of the entries in the request is over the limit.")

    def test_envelope_reaches_queue(self):
        name, url = self.route({"source": ["tw.env"], "detail-type": ["Thing Happened"]})
        when = 1700000000
        eid = self.put(source="tw.env", detail_type="Thing Happened", detail={"n": 1, "s": "x"},
                       Resources=["arn:aws:s3:::r"], Time=when)
        bodies = self.bodies(url, 1)
        self.assertEqual(len(bodies), 1)
        ev = json.loads(bodies[0])
        self.assertEqual(list(ev), ["version", "id", "detail-type", "source", "account", "time", "region",
                                    "resources", "detail"])
        self.assertEqual(ev["version"], "0")
        self.assertEqual(ev["id"], eid)
        self.assertEqual(ev["detail-type"], "Thing Happened")
        self.assertEqual(ev["source"], "tw.env")
        self.assertEqual(ev["account"], h.ACCOUNT)
        self.assertEqual(ev["time"], "2023-11-14T22:13:20Z")
        self.assertEqual(ev["region"], h.REGION)
        self.assertEqual(ev["resources"], ["arn:aws:s3:::r"])
        self.assertEqual(ev["detail"], {"n": 1, "s": "x"})

    def test_only_matching_and_enabled_rules_deliver(self):
        name, url = self.route({"source": ["tw.match"], "detail": {"level": ["high"]}})
        self.put(source="tw.match", detail={"level": "low"})
        self.put(source="tw.other", detail={"level": "high"})
        self.assertQuiet(url)
        self.put(source="tw.match", detail={"level": "high"})
        self.assertEqual(len(self.bodies(url, 1)), 1)
        self.eb.disable_rule(Name=name)
        self.put(source="tw.match", detail={"level": "high"})
        self.assertQuiet(url)
        self.eb.enable_rule(Name=name)
        self.put(source="tw.match", detail={"level": "high"})
        self.assertEqual(len(self.bodies(url, 1)), 1)

    def test_custom_bus_by_name_and_arn(self):
        bus = self.make_bus()
        _, url = self.route({"source": ["tw.bus"]}, bus=bus)
        _, default_url = self.route({"source": ["tw.bus"]})
        self.put(source="tw.bus", EventBusName=bus)
        self.put(source="tw.bus", EventBusName=bus_arn(bus))
        self.assertEqual(len(self.bodies(url, 2)), 2)
        self.assertQuiet(default_url, wait=0)

    def test_several_rules_and_targets(self):
        a1, u1 = self.make_queue()
        a2, u2 = self.make_queue()
        r1 = self.make_rule({"source": ["tw.fan"]})
        r2 = self.make_rule({"detail-type": ["Fan"]})
        self.eb.put_targets(Rule=r1, Targets=[{"Id": "a", "Arn": a1}, {"Id": "b", "Arn": a2}])
        self.eb.put_targets(Rule=r2, Targets=[{"Id": "a", "Arn": a1}])
        self.put(source="tw.fan", detail_type="Fan")
        self.assertEqual(len(self.bodies(u1, 2)), 2)
        self.assertEqual(len(self.bodies(u2, 1)), 1)

    def test_fifo_target(self):
        _, url = self.route({"source": ["tw.fifo"]}, fifo=True)
        ids = [self.put(source="tw.fifo", detail={"i": i}) for i in range(3)]
        msgs = self.receive(url, 3)
        self.assertEqual([json.loads(m["Body"])["detail"]["i"] for m in msgs], [0, 1, 2])
        self.assertEqual({m["Attributes"]["MessageGroupId"] for m in msgs}, {"grp-1"})
        self.assertEqual([m["Attributes"]["MessageDeduplicationId"] for m in msgs], ids)

    def test_event_bus_target(self):
        other = self.make_bus()
        _, url = self.route({"source": ["tw.fwd"]}, bus=other)
        name = self.make_rule({"source": ["tw.fwd"]})
        self.eb.put_targets(Rule=name, Targets=[{"Id": "bus", "Arn": bus_arn(other)}])
        eid = self.put(source="tw.fwd", detail={"via": "default"})
        bodies = self.bodies(url, 1)
        self.assertEqual(len(bodies), 1)
        ev = json.loads(bodies[0])
        self.assertEqual((ev["id"], ev["detail"]), (eid, {"via": "default"}))

    def test_dead_letter_queue_for_missing_target(self):
        dlq_arn, dlq_url = self.make_queue("dlq")
        name = self.make_rule({"source": ["tw.dlq"]})
        missing = queue_arn(h.unique("gone"))
        self.eb.put_targets(Rule=name, Targets=[{"Id": "t", "Arn": missing,
                                                 "DeadLetterConfig": {"Arn": dlq_arn}}])
        eid = self.put(source="tw.dlq")
        msgs = self.receive(dlq_url, 1)
        self.assertEqual(len(msgs), 1)
        self.assertEqual(json.loads(msgs[0]["Body"])["id"], eid)
        attrs = msgs[0]["MessageAttributes"]
        self.assertEqual(attrs["RULE_ARN"]["StringValue"], rule_arn(name))
        self.assertEqual(attrs["TARGET_ARN"]["StringValue"], missing)
        self.assertIn("ERROR_CODE", attrs)

    def test_test_event_pattern(self):
        event = {"id": "1", "account": h.ACCOUNT, "source": "tw.t", "time": "2024-01-01T00:00:00Z",
                 "region": h.REGION, "detail-type": "T", "resources": [], "detail": {"a": 5}}
        self.assertTrue(self.eb.test_event_pattern(EventPattern=json.dumps({"source": ["tw.t"]}),
                                                   Event=json.dumps(event))["Result"])
        self.assertFalse(self.eb.test_event_pattern(EventPattern=json.dumps({"detail": {"a": [6]}}),
                                                    Event=json.dumps(event))["Result"])
        self.assertEbError(lambda: self.eb.test_event_pattern(EventPattern=json.dumps({"source": ["x"]}),
                                                              Event=json.dumps({"source": "x"})),
                           "ValidationException", "Parameter Event is not valid.")
        self.assertEbError(lambda: self.eb.test_event_pattern(EventPattern="not json",
                                                              Event=json.dumps(event)),
                           "InvalidEventPatternException")


# ---------------------------------------------------------------------------------------
class InputTest(EventBridgeTestCase):
    DETAIL = {"command": "update-account", "payload": {"acc_id": "0a787ecb-4015", "sf_id": "baz"},
              "listsingle": ["HIGH"], "listmulti": ["ACTIVE", "INACTIVE"], "valid": True}

    def deliver(self, target_extra):
        src = h.unique("tw.in")
        _, url = self.route({"source": [src]}, target_extra=target_extra)
        eid = self.put(source=src, detail_type="core.update", detail=self.DETAIL)
        bodies = self.bodies(url, 1)
        return eid, bodies

    def test_input_constant(self):
        _, bodies = self.deliver({"Input": '{"fixed": true}'})
        self.assertEqual(bodies, ['{"fixed": true}'])

    def test_input_path(self):
        _, bodies = self.deliver({"InputPath": "$.detail.payload"})
        self.assertEqual(json.loads(bodies[0]), self.DETAIL["payload"])
        _, bodies = self.deliver({"InputPath": "$.detail.payload.sf_id"})
        self.assertEqual(bodies, ['"baz"'])

    def paths(self):
        return {"userId": "$.detail.payload.acc_id", "payload": "$.detail.payload",
                "missing": "$.detail.notthere", "listsingle": "$.detail.listsingle",
                "listmulti": "$.detail.listmulti", "valid": "$.detail.valid", "dt": "$.detail-type"}

    def transform(self, template):
        _, bodies = self.deliver({"InputTransformer": {"InputPathsMap": self.paths(), "InputTemplate": template}})
        return bodies

    def test_json_template(self):
        b = self.transform('{"method": "PUT", "path": "users/<userId>", "id": <userId>, "body": <payload>, '
                           '"missing": <missing>, "list": <listsingle>, "ok": <valid>}')
        self.assertEqual(json.loads(b[0]), {"method": "PUT", "path": "users/0a787ecb-4015", "id": "0a787ecb-4015",
                                            "body": self.DETAIL["payload"], "missing": "",
                                            "list": ["HIGH"], "ok": True})

    def test_text_template(self):
        b = self.transform('"Payload of <payload> with <userId>, <listmulti>, <missing>; <valid>!"')
        self.assertEqual(b, ['"Payload of {acc_id:0a787ecb-4015,sf_id:baz} with 0a787ecb-4015, '
                             '[ACTIVE,INACTIVE], ; true!"'])
        b = self.transform('<dt> happened to <userId>')
        self.assertEqual(b, ["core.update happened to 0a787ecb-4015"])

    def test_object_inside_json_string_sends_nothing(self):
        b = self.transform('{"payload": "<payload>"}')
        self.assertEqual(b, [])

    def test_predefined_variables(self):
        src = h.unique("tw.pre")
        arn, url = self.make_queue()
        name = self.make_rule({"source": [src]})
        self.eb.put_targets(Rule=name, Targets=[{"Id": "t", "Arn": arn, "InputTransformer": {
            "InputTemplate": '{"rule": <aws.events.rule-name>, "arn": "<aws.events.rule-arn>", '
                             '"at": <aws.events.event.ingestion-time>, "ev": <aws.events.event>, '
                             '"full": <aws.events.event.json>}'}}])
        eid = self.put(source=src, detail_type="T", detail={"a": 1})
        got = json.loads(self.bodies(url, 1)[0])
        self.assertEqual(got["rule"], name)
        self.assertEqual(got["arn"], rule_arn(name))
        self.assertRegex(got["at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
        self.assertEqual(got["ev"]["id"], eid)
        self.assertEqual(got["ev"]["detailType"], "T")
        self.assertNotIn("detail", got["ev"])
        self.assertEqual(got["full"]["detail"], {"a": 1})


# ---------------------------------------------------------------------------------------
class S3EventBridgeTest(EventBridgeTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s3 = s.s3_client(cls.server)

    def setup_bucket(self, detail_types=None):
        bucket = s.unique_bucket("ebs3")
        self.s3.create_bucket(Bucket=bucket)
        self.s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}})
        pattern = {"source": ["aws.s3"], "detail": {"bucket": {"name": [bucket]}}}
        if detail_types:
            pattern["detail-type"] = detail_types
        _, url = self.route(pattern)
        return bucket, url

    def events(self, url, n, timeout=5.0):
        return [json.loads(b) for b in self.bodies(url, n, timeout)]

    def test_configuration_roundtrip(self):
        bucket = s.unique_bucket("ebcfg")
        self.s3.create_bucket(Bucket=bucket)
        qname = h.unique("s3q")
        self.sqs.create_queue(QueueName=qname)
        self.s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "EventBridgeConfiguration": {},
            "QueueConfigurations": [{"Id": "q", "QueueArn": queue_arn(qname), "Events": ["s3:ObjectCreated:*"]}]})
        got = self.s3.get_bucket_notification_configuration(Bucket=bucket)
        self.assertEqual(got.get("EventBridgeConfiguration"), {})
        self.assertEqual([c["Id"] for c in got["QueueConfigurations"]], ["q"])
        self.s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
        self.assertNotIn("EventBridgeConfiguration", self.s3.get_bucket_notification_configuration(Bucket=bucket))

    def test_object_created_and_deleted(self):
        bucket, url = self.setup_bucket()
        r = self.s3.put_object(Bucket=bucket, Key="photos/a b.jpg", Body=b"hello")
        created = self.events(url, 1)
        self.assertEqual(len(created), 1)
        ev = created[0]
        self.assertEqual(ev["source"], "aws.s3")
        self.assertEqual(ev["detail-type"], "Object Created")
        self.assertEqual(ev["resources"], ["arn:aws:s3:::%s" % bucket])
        self.assertEqual((ev["account"], ev["region"]), (h.ACCOUNT, h.REGION))
        self.assertRegex(ev["time"], TIME_RE)
        d = ev["detail"]
        self.assertEqual(d["version"], "0")
        self.assertEqual(d["bucket"], {"name": bucket})
        self.assertEqual(d["object"]["key"], "photos/a+b.jpg")
        self.assertEqual(d["object"]["size"], 5)
        self.assertEqual(d["object"]["etag"], s.md5_hex(b"hello"))
        self.assertRegex(d["object"]["sequencer"], r"^[0-9A-F]+$")
        self.assertEqual(d["request-id"], r["ResponseMetadata"]["RequestId"])
        self.assertEqual(d["requester"], h.ACCOUNT)
        self.assertEqual(d["source-ip-address"], "127.0.0.1")
        self.assertEqual(d["reason"], "PutObject")
        self.s3.delete_object(Bucket=bucket, Key="photos/a b.jpg")
        deleted = self.events(url, 1)
        self.assertEqual(deleted[0]["detail-type"], "Object Deleted")
        d = deleted[0]["detail"]
        self.assertEqual(d["reason"], "DeleteObject")
        self.assertEqual(d["deletion-type"], "Permanently Deleted")
        self.assertEqual(set(d["object"]), {"key", "sequencer"})
        self.assertGreater(int(d["object"]["sequencer"], 16), int(ev["detail"]["object"]["sequencer"], 16))

    def test_copy_multipart_and_tags(self):
        bucket, url = self.setup_bucket()
        self.s3.put_object(Bucket=bucket, Key="src", Body=b"x")
        self.s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
        mpu = self.s3.create_multipart_upload(Bucket=bucket, Key="big")
        part = self.s3.upload_part(Bucket=bucket, Key="big", UploadId=mpu["UploadId"], PartNumber=1, Body=b"p")
        self.s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=mpu["UploadId"],
                                          MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
        self.s3.put_object_tagging(Bucket=bucket, Key="src", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
        self.s3.delete_object_tagging(Bucket=bucket, Key="src")
        evs = self.events(url, 5)
        got = [(e["detail-type"], e["detail"]["object"]["key"], e["detail"].get("reason")) for e in evs]
        self.assertEqual(got, [("Object Created", "src", "PutObject"), ("Object Created", "dst", "CopyObject"),
                               ("Object Created", "big", "CompleteMultipartUpload"),
                               ("Object Tags Added", "src", None), ("Object Tags Deleted", "src", None)])

    def test_rule_on_detail_type(self):
        bucket, url = self.setup_bucket(detail_types=["Object Deleted"])
        self.s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        self.assertQuiet(url)
        self.s3.delete_object(Bucket=bucket, Key="k")
        self.assertEqual([e["detail-type"] for e in self.events(url, 1)], ["Object Deleted"])

    def test_no_events_without_configuration(self):
        bucket = s.unique_bucket("ebnone")
        self.s3.create_bucket(Bucket=bucket)
        _, url = self.route({"source": ["aws.s3"], "detail": {"bucket": {"name": [bucket]}}})
        self.s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        self.assertQuiet(url)


class S3LifecycleEventBridgeTest(unittest.TestCase):
    """A lifecycle expiration on the default bus: Object Deleted, reason
    "Lifecycle Expiration", requester s3.amazonaws.com, no source address."""

    def setUp(self):
        self.server = h.Server(extra_args=["--lifecycle-day-seconds", "1"])
        self.server.start()

    def tearDown(self):
        self.server.stop()
        self.server.cleanup()

    def test_lifecycle_expiration(self):
        eb, sqs, s3 = events_client(self.server), self.server.client(), s.s3_client(self.server)
        bucket = s.unique_bucket("eblc")
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_notification_configuration(Bucket=bucket,
                                                 NotificationConfiguration={"EventBridgeConfiguration": {}})
        qname = h.unique("lcq")
        url = sqs.create_queue(QueueName=qname)["QueueUrl"]
        eb.put_rule(Name="lc", EventPattern=json.dumps({"source": ["aws.s3"], "detail-type": ["Object Deleted"]}))
        eb.put_targets(Rule="lc", Targets=[{"Id": "q", "Arn": queue_arn(qname)}])
        s3.put_object(Bucket=bucket, Key="old/x", Body=b"x")
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
            {"ID": "exp", "Status": "Enabled", "Filter": {"Prefix": "old/"}, "Expiration": {"Days": 1}}]})
        deadline = time.monotonic() + 20
        msgs = []
        while not msgs and time.monotonic() < deadline:
            msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
        self.assertEqual(len(msgs), 1, "no Object Deleted event from the lifecycle sweeper")
        d = json.loads(msgs[0]["Body"])["detail"]
        self.assertEqual((d["reason"], d["deletion-type"], d["requester"]),
                         ("Lifecycle Expiration", "Permanently Deleted", "s3.amazonaws.com"))
        self.assertEqual(d["object"]["key"], "old/x")
        self.assertNotIn("source-ip-address", d)


# ---------------------------------------------------------------------------------------
class S3SnsTest(EventBridgeTestCase):
    """S3 -> SNS topic -> SQS queue (needs the SNS service)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s3 = s.s3_client(cls.server)
        cls.sns = client_of(cls.server, "sns")
        try:
            cls.sns.list_topics()
        except ClientError as e:
            raise unittest.SkipTest("this tweedle serves no SNS yet: %s" % e.response["Error"].get("Message"))

    def topic_to_queue(self):
        topic = self.sns.create_topic(Name=h.unique("s3topic"))["TopicArn"]
        qarn, url = self.make_queue("snsq")
        self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
        return topic, url

    def notifications(self, url, n):
        out = []
        for b in self.bodies(url, n):
            env = json.loads(b)
            self.assertEqual(env["Type"], "Notification", env)
            out.append(env)
        return out

    def test_topic_configuration(self):
        topic, url = self.topic_to_queue()
        bucket = s.unique_bucket("s3sns")
        self.s3.create_bucket(Bucket=bucket)
        self.s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "TopicConfigurations": [{"Id": "t", "TopicArn": topic, "Events": ["s3:ObjectCreated:*"],
                                     "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}]}}}]})
        got = self.s3.get_bucket_notification_configuration(Bucket=bucket)["TopicConfigurations"]
        self.assertEqual(got[0]["TopicArn"], topic)
        self.assertEqual(got[0]["Filter"]["Key"]["FilterRules"], [{"Name": "Prefix", "Value": "in/"}])
        test = self.notifications(url, 1)
        self.assertEqual(test[0]["Subject"], "Amazon S3 Notification")
        self.assertEqual(json.loads(test[0]["Message"])["Event"], "s3:TestEvent")
        self.s3.put_object(Bucket=bucket, Key="out/skip", Body=b"x")
        self.s3.put_object(Bucket=bucket, Key="in/a", Body=b"x")
        msgs = self.notifications(url, 2)
        self.assertEqual(len(msgs), 1)
        self.assertEqual(msgs[0]["TopicArn"], topic)
        self.assertEqual(msgs[0]["Subject"], "Amazon S3 Notification")
        rec = json.loads(msgs[0]["Message"])["Records"][0]
        self.assertEqual((rec["eventName"], rec["s3"]["object"]["key"], rec["s3"]["configurationId"]),
                         ("ObjectCreated:Put", "in/a", "t"))

    def test_rule_target_topic(self):
        topic, url = self.topic_to_queue()
        src = h.unique("tw.sns")
        name = self.make_rule({"source": [src]})
        r = self.eb.put_targets(Rule=name, Targets=[{"Id": "topic", "Arn": topic}])
        self.assertEqual(r["FailedEntryCount"], 0, r)
        eid = self.put(source=src, detail={"via": "sns"})
        msgs = self.notifications(url, 1)
        self.assertEqual(len(msgs), 1)
        self.assertEqual(msgs[0]["TopicArn"], topic)
        self.assertNotIn("Subject", msgs[0])
        ev = json.loads(msgs[0]["Message"])
        self.assertEqual((ev["id"], ev["detail"]), (eid, {"via": "sns"}))

    def test_missing_topic(self):
        bucket = s.unique_bucket("s3snsx")
        self.s3.create_bucket(Bucket=bucket)
        arn = "arn:aws:sns:%s:%s:%s" % (h.REGION, h.ACCOUNT, h.unique("none"))
        with self.assertRaises(ClientError) as cm:
            self.s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
                "TopicConfigurations": [{"TopicArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
        e = cm.exception.response["Error"]
        self.assertEqual((e["Code"], e["Message"]),
                         ("InvalidArgument", "Unable to validate the following destination configurations"))
        self.assertEqual(e.get("ArgumentName1"), arn)
        self.assertEqual(e.get("ArgumentValue1"), "The destination topic does not exist")


# ---------------------------------------------------------------------------------------
class DurabilityTest(h.FreshServerTestCase):

    def clients(self):
        return events_client(self.server), self.server.client()

    def test_rules_survive_kill9(self):
        eb, sqs = self.clients()
        qname = h.unique("durq")
        url = sqs.create_queue(QueueName=qname)["QueueUrl"]
        eb.create_event_bus(Name="orders", Tags=[{"Key": "k", "Value": "v"}])
        eb.put_rule(Name="r1", EventBusName="orders", EventPattern=json.dumps({"source": ["tw.dur"]}),
                    State="DISABLED", Description="kept")
        eb.put_targets(Rule="r1", EventBusName="orders", Targets=[
            {"Id": "t", "Arn": queue_arn(qname), "InputPath": "$.detail"}])
        eb.enable_rule(Name="r1", EventBusName="orders")
        self.server.restart(kill=True)
        eb, sqs = self.clients()
        url = sqs.get_queue_url(QueueName=qname)["QueueUrl"]
        d = eb.describe_rule(Name="r1", EventBusName="orders")
        self.assertEqual((d["State"], d["Description"]), ("ENABLED", "kept"))
        self.assertEqual(eb.list_targets_by_rule(Rule="r1", EventBusName="orders")["Targets"],
                         [{"Id": "t", "Arn": queue_arn(qname), "InputPath": "$.detail"}])
        self.assertEqual(eb.list_tags_for_resource(ResourceARN=bus_arn("orders"))["Tags"],
                         [{"Key": "k", "Value": "v"}])
        eb.put_events(Entries=[{"Source": "tw.dur", "DetailType": "t", "Detail": '{"n": 7}',
                                "EventBusName": "orders"}])
        msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])
        self.assertEqual([json.loads(m["Body"]) for m in msgs], [{"n": 7}])

    def test_acknowledged_events_survive_kill9(self):
        eb, sqs = self.clients()
        qname = h.unique("ackq")
        sqs.create_queue(QueueName=qname)
        eb.put_rule(Name="ack", EventPattern=json.dumps({"source": ["tw.ack"]}))
        eb.put_targets(Rule="ack", Targets=[{"Id": "t", "Arn": queue_arn(qname)}])
        acked = set()
        lock = threading.Lock()
        stop = threading.Event()

        def producer(k):
            c = events_client(self.server)
            i = 0
            while not stop.is_set():
                try:
                    r = c.put_events(Entries=[{"Source": "tw.ack", "DetailType": "t",
                                               "Detail": json.dumps({"p": k, "i": i + j})} for j in range(5)])
                except Exception:
                    return
                with lock:
                    for e in r["Entries"]:
                        if "EventId" in e:
                            acked.add(e["EventId"])
                i += 5

        threads = [threading.Thread(target=producer, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        # Kill under load: once the producers have had some publishes acknowledged
        # (a loaded machine may take seconds just to build the clients), bounded.
        deadline = time.time() + 30
        while time.time() < deadline:
            with lock:
                if len(acked) >= 50:
                    break
            time.sleep(0.05)
        time.sleep(0.3)
        with lock:
            before = len(acked)
        self.server.kill9()
        stop.set()
        for t in threads:
            t.join(30)
        self.assertGreater(before, 0, "no PutEvents was acknowledged before the kill")
        self.server.restart()
        sqs = self.server.client()
        url = sqs.get_queue_url(QueueName=qname)["QueueUrl"]
        seen = set()
        idle = 0
        while idle < 2:
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            if not msgs:
                idle += 1
                continue
            idle = 0
            for m in msgs:
                seen.add(json.loads(m["Body"])["id"])
            sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                                                            for n, m in enumerate(msgs)])
        missing = acked - seen
        self.assertEqual(missing, set(), "%d of %d acknowledged events lost" % (len(missing), len(acked)))


class FailedCommitTest(h.FaultServerTestCase):
    """A batch that fails to commit: the request whose change it held hears
    InternalException (500) and the engine takes its state back from the store,
    so nothing the failed batch held is served afterwards."""

    TRIES = 5

    def setUp(self):
        super().setUp()
        self.eb = events_client(self.server)
        self.sqs = self.server.client(read_timeout=20)
        time.sleep(1.5)  # the engines' first housekeeping commits

    def refused(self, fn):
        for _ in range(self.TRIES):
            self.fail_commits(1)
            try:
                fn()
            except ClientError as e:
                self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 500, e.response)
                self.assertEqual(e.response["Error"]["Code"], "InternalException", e.response)
                return e
            time.sleep(0.2)  # a background batch took the failure: again
        self.fail("the request was never the one whose commit failed in %d tries" % self.TRIES)

    def test_failed_put_rule_is_not_kept(self):
        names = []

        def put():
            names.append(h.unique("fr"))
            self.eb.put_rule(Name=names[-1], EventPattern=json.dumps({"source": ["x"]}))

        self.refused(put)
        self.assertEqual([r["Name"] for r in self.eb.list_rules(NamePrefix=names[-1])["Rules"]], [])
        self.eb.put_rule(Name=names[-1], EventPattern=json.dumps({"source": ["x"]}))
        self.assertEqual(self.eb.describe_rule(Name=names[-1])["Name"], names[-1])

    def test_failed_put_events_delivers_nothing(self):
        qname = h.unique("fq")
        url = self.sqs.create_queue(QueueName=qname)["QueueUrl"]
        self.eb.put_rule(Name="f", EventPattern=json.dumps({"source": ["tw.fail"]}))
        self.eb.put_targets(Rule="f", Targets=[{"Id": "t", "Arn": queue_arn(qname)}])
        self.refused(lambda: self.eb.put_events(Entries=[{"Source": "tw.fail", "DetailType": "t",
                                                          "Detail": "{}"}]))
        msgs = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
        self.assertEqual(msgs, [])
        self.eb.put_events(Entries=[{"Source": "tw.fail", "DetailType": "t", "Detail": '{"ok": 1}'}])
        msgs = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])
        self.assertEqual([json.loads(m["Body"])["detail"] for m in msgs], [{"ok": 1}])


if __name__ == "__main__":
    unittest.main()
