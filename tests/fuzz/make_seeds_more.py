#!/usr/bin/env python3
"""Writes the hand-made seeds of tests/fuzz/corpus/{log_filter,metric_math,emf,
gateway_json,sqs_json} from what the unit and integration tests send
(test_logs_filter.c, test_cloudwatch_logs.py, test_cloudwatch_metrics.py,
test_gateway*.py, test_sqs*.py). Run: python3 tests/fuzz/make_seeds_more.py"""
import json
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
NOW = 1700000000000  # the targets' clock (ms)


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- log_filter: pattern "\n\x01\n" message ----------------------------------------
DOC = ('{"level":"error","latency":12.5,"user":"bob","ok":false,"none":null,'
       '"req":{"path":"/api/jobs","ids":[7,8]},"status":500}')
filters = [
    ("ERROR", "an ERROR here"),
    ("ERROR -healthcheck", "ERROR healthcheck failed"),
    ('"connection reset"', "ERROR connection reset by peer"),
    ("?WARN ?disk", "WARN slow request on /jobs"),
    ('"GET /_/health"', '1.2.3.4 - - "GET /_/health HTTP/1.1" 200'),
    ("", "anything"),
    ("[ip, user, ts]", "1.2.3.4 bob 2023"),
    ('{ $.level = "error" }', DOC),
    ("{ $.latency > 5 }", DOC),
    ('{ $.latency >= 3 && $.user = "b*" }', DOC),
    ('{ $.user = "alice" || $.user = "bob" }', DOC),
    ('{ $.req.path = "*/jobs" }', DOC),
    ('{ ($.user = "alice" || $.user = "bob") && $.latency > 100 }', DOC),
    ("{ $.req.ids[1] = 8 }", DOC),
    ("{ $.ok IS FALSE && $.none IS NULL && $.missing NOT EXISTS }", DOC),
    ("{ $.status = 500 }", DOC),
    ("{ $.level = }", DOC),
    ('{ $.level > "a" }', DOC),
]
for i, (p, m) in enumerate(filters):
    write("log_filter", "f%02d" % i, p + "\n\x01\n" + m)

# --- metric_math: one expression a line (ids x1..x8), optional "#P S D" -------------
exprs = [
    "m1 + m2",
    "(m1 - 1) * 2 ^ 2\n-m1 + AVG(m1)\nm1 > 2 AND m2 == 10",
    "SUM(METRICS())\nAVG([m1, m2])\nMAX(METRICS(\"m\"))",
    "RATE(m1)\nFILL(m2, 0)\nFILL(m2, REPEAT)\nFILL(IF(m2, m1), LINEAR)",
    "IF(m2, m1)\nm1 / PERIOD(m1)\nm1 / SUM(m1) * 100",
    "METRICS() * 10",
    "m1 / m2\nLOG(m2)\nLOG10(ABS(m2))\nCEIL(m1 / 3) + FLOOR(m2)",
    "DIFF(m2)\nDIFF_TIME(m2)\nRUNNING_SUM(m1)\nSTDDEV(m1)\nDATAPOINT_COUNT([m1,m2])\nMETRIC_COUNT(METRICS())",
    "REMOVE_EMPTY([e1, m1, m2])\nFIRST([m1, m2])\nLAST(METRICS())\nTIME_SERIES(3)",
    "e1 + m1\nFILL(e1, 1)\ne1 * SUM(m1)\nx1 * 2",
    "#1 600 50\nm3 * 2\nFILL(m3, LINEAR)\nm3 + m1",
    "#60 86400 100\nTIME_SERIES(1) + m1\nMIN(METRICS()) + MAX([m1, p1])",
    "x2\nx1",
    "m9 + 1\nNOPE(1)\nSUM(m1",
    "(" * 150 + "m1" + ")" * 150,
    "m1 OR m2 || m1 && m2\nm1 != m2\nm1 <= 3\nm1 >= 3\nm1 < m2",
    "\u201cm\u201d\nMETRICS(\u201cm\u201d)",
]
for i, e in enumerate(exprs):
    write("metric_math", "e%02d" % i, e)

# --- emf: log messages, one a line ---------------------------------------------------
def emf(ns="EmfTest", ts=NOW, dims=(("Service",), ("Service", "Op")), metrics=None, **vals):
    metrics = metrics or [{"Name": "Latency", "Unit": "Milliseconds"}, {"Name": "Hits", "Unit": "Count"}]
    d = {"_aws": {"Timestamp": ts, "CloudWatchMetrics": [{
        "Namespace": ns, "Dimensions": [list(x) for x in dims], "Metrics": metrics}]}}
    d.update({"Service": "api", "Op": "get", "Latency": [10, 20, 30], "Hits": 1, "other": "x"})
    d.update(vals)
    return json.dumps(d)

write("emf", "basic", emf() + "\nnot emf {\"_aws\": 1}\n" + json.dumps({"_aws": {"Timestamp": NOW}}))
write("emf", "edges", "\n".join([
    emf(ts=NOW - 21 * 86400 * 1000), emf(Service=5), emf(Hits="lots"), emf(Hits=7),
    emf(ns="AWS/Lambda"), emf(ns=""), emf(dims=()),
]))
write("emf", "highres", emf(metrics=[{"Name": "Hits", "Unit": "Count", "StorageResolution": 1},
                                     {"Name": "Latency", "Unit": "Bogus"}]))
write("emf", "values100", emf(Latency=list(range(100))) + "\n" + emf(Latency=list(range(101))))
write("emf", "many-dims", emf(dims=[["D%d" % i for i in range(30)]],
                              **{"D%d" % i: "v%d" % i for i in range(30)}))
write("emf", "many-datums", emf(dims=[["Service"]] * 30,
                                metrics=[{"Name": "N%d" % i} for i in range(40)],
                                **{"N%d" % i: [i, i + 1] for i in range(40)}))
write("emf", "two-directives", json.dumps({"_aws": {"Timestamp": NOW, "CloudWatchMetrics": [
    {"Namespace": "A", "Dimensions": [[]], "Metrics": [{"Name": "x"}]},
    {"Namespace": "B", "Metrics": [{"Name": "x", "Unit": "Seconds"}]}]}, "x": 1.5}))
write("emf", "lambda-stderr", "  \t" + emf(ns="Lambda"))

# --- sqs_json: action line, JSON body ------------------------------------------------
Q = "http://127.0.0.1:9324/000000000000/"
ARN = "arn:aws:sqs:us-east-1:000000000000:"
sqs = [
    ("CreateQueue", {"QueueName": "new", "Attributes": {"DelaySeconds": "5", "VisibilityTimeout": "30",
                                                        "MaximumMessageSize": "2048",
                                                        "MessageRetentionPeriod": "86400",
                                                        "ReceiveMessageWaitTimeSeconds": "0"},
                     "tags": {"env": "test"}}),
    ("CreateQueue", {"QueueName": "n.fifo", "Attributes": {"FifoQueue": "true", "DeduplicationScope": "messageGroup",
                                                           "FifoThroughputLimit": "perMessageGroupId"}}),
    ("GetQueueUrl", {"QueueName": "q", "QueueOwnerAWSAccountId": "000000000000"}),
    ("ListQueues", {"QueueNamePrefix": "q", "MaxResults": 1, "NextToken": "x"}),
    ("GetQueueAttributes", {"QueueUrl": Q + "q", "AttributeNames": ["All"]}),
    ("SetQueueAttributes", {"QueueUrl": Q + "q", "Attributes": {
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": ARN + "dlq", "maxReceiveCount": 5}),
        "Policy": json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                                                                      "Action": "sqs:SendMessage",
                                                                      "Resource": ARN + "q"}]})}}),
    ("SetQueueAttributes", {"QueueUrl": Q + "dlq", "Attributes": {
        "RedriveAllowPolicy": json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [ARN + "q"]})}}),
    ("PurgeQueue", {"QueueUrl": Q + "q"}),
    ("TagQueue", {"QueueUrl": Q + "q", "Tags": {"a": "1", "b": ""}}),
    ("UntagQueue", {"QueueUrl": Q + "q", "TagKeys": ["a"]}),
    ("ListQueueTags", {"QueueUrl": Q + "q"}),
    ("ListDeadLetterSourceQueues", {"QueueUrl": Q + "dlq", "MaxResults": 10}),
    ("AddPermission", {"QueueUrl": Q + "q", "Label": "l1", "AWSAccountIds": ["111122223333"],
                       "Actions": ["SendMessage", "ReceiveMessage"]}),
    ("RemovePermission", {"QueueUrl": Q + "q", "Label": "l1"}),
    ("SendMessage", {"QueueUrl": Q + "q", "MessageBody": "hi", "DelaySeconds": 0,
                     "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "1.5"},
                                           "b": {"DataType": "Binary", "BinaryValue": "AAEC"},
                                           "c": {"DataType": "String.custom", "StringValue": "x"}},
                     "MessageSystemAttributes": {"AWSTraceHeader": {"DataType": "String",
                                                                    "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}}}),
    ("SendMessage", {"QueueUrl": Q + "f.fifo", "MessageBody": "x", "MessageGroupId": "g",
                     "MessageDeduplicationId": "d"}),
    ("SendMessageBatch", {"QueueUrl": Q + "q", "Entries": [
        {"Id": "a", "MessageBody": "1"}, {"Id": "b", "MessageBody": "2", "DelaySeconds": 3},
        {"Id": "c", "MessageBody": "\ud7ff"}]}),
    ("ReceiveMessage", {"QueueUrl": Q + "q", "MaxNumberOfMessages": 10, "VisibilityTimeout": 0,
                        "WaitTimeSeconds": 0, "AttributeNames": ["All"], "MessageAttributeNames": ["All"],
                        "MessageSystemAttributeNames": ["SentTimestamp"], "ReceiveRequestAttemptId": "r"}),
    ("DeleteMessage", {"QueueUrl": Q + "q", "ReceiptHandle": "AQEB-bogus"}),
    ("DeleteMessageBatch", {"QueueUrl": Q + "q", "Entries": [{"Id": "a", "ReceiptHandle": "x"}]}),
    ("ChangeMessageVisibility", {"QueueUrl": Q + "q", "ReceiptHandle": "x", "VisibilityTimeout": 10}),
    ("ChangeMessageVisibilityBatch", {"QueueUrl": Q + "q", "Entries": [
        {"Id": "a", "ReceiptHandle": "x", "VisibilityTimeout": 43201}]}),
    ("StartMessageMoveTask", {"SourceArn": ARN + "dlq", "DestinationArn": ARN + "q",
                              "MaxNumberOfMessagesPerSecond": 10}),
    ("ListMessageMoveTasks", {"SourceArn": ARN + "dlq", "MaxResults": 10}),
    ("CancelMessageMoveTask", {"TaskHandle": "eyJ0YXNrSWQiOiJ4In0="}),
    ("TweedleDeleteAndSend", {"ReceiptHandle": "x", "Entries": [
        {"Id": "a", "QueueUrl": Q + "dlq", "MessageBody": "next"}]}),
    ("DeleteQueue", {"QueueUrl": Q + "dlq"}),
]
for i, (a, body) in enumerate(sqs):
    write("sqs_json", "%02d-%s" % (i, a), a + "\n" + json.dumps(body))
write("sqs_json", "empty-body", "ListQueues\n")

# --- gateway_json: route line, then per route (see fuzz_gateway_json.c) -------------------
A = [{"actions": ["*"]}]
keys = [
    {}, {"name": "x"}, {"name": "", "scopes": A}, {"name": "x", "scopes": []}, {"name": "x", "scopes": {}},
    {"name": "x", "scopes": [{"actions": []}]}, {"name": "x", "scopes": [{"actions": ["presign:delete"]}]},
    {"name": "x", "scopes": [{"bucket": "b1b"}]},
    {"name": "x", "scopes": [{"actions": ["*"], "bucket": "No_Such"}]},
    {"name": "x", "scopes": [{"actions": ["*"], "max_bytes": -1}]},
    {"name": "x", "scopes": [{"actions": ["*"], "max_expires_in": 604801}]},
    {"name": "x", "scopes": [{"actions": ["*"], "colour": "red"}]},
    {"name": "x", "scopes": A, "rate": -1}, {"name": "x", "scopes": A, "burst": 0},
    {"name": "x", "scopes": A, "expires_in": 0},
    {"name": "x", "scopes": A, "expires_at": "2001-01-01T00:00:00Z"},
    {"name": "x", "scopes": A, "expires_at": "soon"},
    {"name": "x", "scopes": A, "expires_at": "2099-01-01T00:00:00Z", "expires_in": 5},
    {"name": "x", "scopes": A, "owner": "me"},
    {"name": "uploader", "scopes": [{"actions": ["presign:put"], "bucket": "b1", "prefix": "in/",
                                     "max_bytes": 1048576, "max_expires_in": 300},
                                    {"actions": ["jobs:*", "presign:get"], "bucket": "*"}],
     "expires_at": "2030-01-31T12:00:00.250Z", "rate": 10.5, "burst": 20},
    {"name": "worker", "scopes": [{"actions": ["jobs:read", "jobs:update", "console"]}],
     "expires_in": 3600},
]
for i, k in enumerate(keys):
    write("gateway_json", "apikey-%02d" % i, "apikey\n" + json.dumps(k))
SC = json.dumps([{"actions": ["presign:put"], "bucket": "b1", "prefix": "in/", "max_bytes": 1000,
                  "max_expires_in": 300}, {"actions": ["presign:get"], "bucket": "b1"}])
pres = [
    ("-", {"method": "GET", "bucket": "b1", "key": "any"}),
    ("-", {"method": "GET"}),
    (SC, {"method": "PUT", "content_type": "image/png", "content_length": 500, "filename": "cat.JPEG"}),
    (SC, {"method": "PUT", "bucket": "b1", "key": "in/a/../b", "expires_in": 60}),
    (SC, {"method": "put", "key": "in/x", "content_length": 5000}),
    (SC, {"method": "GET", "key": "out/x", "expires_in": 604800}),
    (SC, {"method": "GET", "key": "in/x", "content_type": "text/plain"}),
    (SC, {"method": "PUT", "content_type": "application/x-ndjson; charset=utf-8", "filename": "a/b."}),
    (SC, {"method": "DELETE", "key": "x"}),
    (SC, {"method": "PUT", "bucket": "Bad_Bucket"}),
    (SC, {"method": "PUT", "key": "a\u0000b"}),
]
for i, (s, b) in enumerate(pres):
    write("gateway_json", "presign-%02d" % i, "presign\n" + s + "\n" + json.dumps(b))
jobs = [
    ("-", {"type": "thumbnail", "payload": {"bucket": "b1", "key": "in/cat.png", "sizes": [64, 128]}}),
    ("req-1", {"type": "a.b:c-d_e"}),
    ("-", {"type": "-bad"}),
    ("-", {"type": "x" * 65}),
    ("-", {"type": "t", "payload": [1]}),
    ("\u00e9", {"type": "t"}),
    ("-", {"type": "t", "payload": {"s": "\ufffe\uffff\u2028 \U0001f600", "n": 1e300, "z": None}}),
]
for i, (k, b) in enumerate(jobs):
    write("gateway_json", "jobs-%02d" % i, "jobs\n" + k + "\n" + json.dumps(b, ensure_ascii=False))
write("gateway_json", "jobs-dup-key", 'jobs\n-\n{"type":"a","type":"b"}')
import base64
for i, c in enumerate(["j1:42", "j1:0", "j1:+5", "x1:9", "j1:99999999999999999999999999999"]):
    write("gateway_json", "cursor-%d" % i, "cursor\n" + base64.urlsafe_b64encode(c.encode()).decode().rstrip("="))
