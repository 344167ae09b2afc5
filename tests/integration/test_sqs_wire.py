"""Wire-level checks with raw SigV4-signed requests, independent of the SDK:
the SQS JSON 1.0 protocol (X-Amz-Target) and the query protocol (Action=),
at ``/`` and at the queue URL path, success and error shapes."""

import json
import socket
import time
import unittest

import harness as h
from harness import SqsTestCase

SERVER = None


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


def queue_path(name):
    return "/%s/%s" % (h.ACCOUNT, name)


class WireBase(SqsTestCase):

    def new_queue(self, prefix="w", attrs=None):
        name = h.unique(prefix)
        r = h.json_request(self.server, "CreateQueue", {"QueueName": name, "Attributes": attrs or {}})
        self.assertEqual(r.status, 200, r)
        return name, r.json()["QueueUrl"]


class JsonProtocolTest(WireBase):

    def assertJsonOk(self, r):
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.header("Content-Type") or "").split(";")[0].strip(), h.JSON_CT)
        self.assertTrue(r.header("x-amzn-RequestId"), "x-amzn-RequestId header missing")
        return r.json()

    def assertJsonError(self, r, status, json_type, query_code, message=None):
        self.assertEqual(r.status, status, r)
        self.assertEqual((r.header("Content-Type") or "").split(";")[0].strip(), h.JSON_CT)
        self.assertTrue(r.header("x-amzn-RequestId"), "x-amzn-RequestId header missing")
        doc = r.json()
        self.assertEqual(doc.get("__type"), "com.amazonaws.sqs#" + json_type, doc)
        self.assertEqual(r.header("x-amzn-query-error"), query_code + ";Sender")
        self.assertIn("message", doc, "JSON errors carry a lower-case 'message'")
        if message is not None:
            self.assertEqual(doc["message"], message)
        return doc

    def test_create_queue_response(self):
        name = h.unique("jcreate")
        doc = self.assertJsonOk(h.json_request(self.server, "CreateQueue", {"QueueName": name}))
        self.assertEqual(doc, {"QueueUrl": self.server.queue_url(name)})

    def test_actions_without_input_send_empty_object(self):
        name, url = self.new_queue("jlist")
        doc = self.assertJsonOk(h.json_request(self.server, "ListQueues", {}))
        self.assertIn(url, doc["QueueUrls"])

    def test_query_mode_header_accepted(self):
        doc = self.assertJsonOk(h.json_request(self.server, "ListQueues", {},
                                               extra_headers={"x-amzn-query-mode": "true"}))
        self.assertIsInstance(doc.get("QueueUrls", []), list)

    def test_send_receive_shapes(self):
        name, url = self.new_queue("jmsg")
        doc = self.assertJsonOk(h.json_request(self.server, "SendMessage", {
            "QueueUrl": url, "MessageBody": "hi", "MessageAttributes": {
                "n": {"DataType": "Number", "StringValue": "1"},
                "b": {"DataType": "Binary", "BinaryValue": "AAEC"}}}))
        self.assertEqual(doc["MD5OfMessageBody"], h.md5_hex("hi"))
        expected_attrs = {"n": {"DataType": "Number", "StringValue": "1"},
                          "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02"}}
        self.assertEqual(doc["MD5OfMessageAttributes"], h.md5_of_attributes(expected_attrs))
        doc = self.assertJsonOk(h.json_request(self.server, "ReceiveMessage", {
            "QueueUrl": url, "AttributeNames": ["All"], "MessageAttributeNames": ["All"], "MaxNumberOfMessages": 1}))
        self.assertEqual(len(doc["Messages"]), 1)
        m = doc["Messages"][0]
        self.assertEqual(m["Body"], "hi")
        self.assertEqual(m["MessageAttributes"]["b"], {"DataType": "Binary", "BinaryValue": "AAEC"})
        self.assertEqual(m["MessageAttributes"]["n"], {"DataType": "Number", "StringValue": "1"})
        for k, v in m["Attributes"].items():
            self.assertIsInstance(v, str, "system attribute %s must be a string" % k)

    def test_attribute_values_are_strings(self):
        name, url = self.new_queue("jnum")
        doc = self.assertJsonOk(h.json_request(self.server, "GetQueueAttributes",
                                               {"QueueUrl": url, "AttributeNames": ["VisibilityTimeout"]}))
        self.assertEqual(doc["Attributes"], {"VisibilityTimeout": "30"})

    def test_request_at_queue_url_path(self):
        name, url = self.new_queue("jpath")
        doc = self.assertJsonOk(h.json_request(self.server, "SendMessage", {"QueueUrl": url, "MessageBody": "p"},
                                               path=queue_path(name)))
        self.assertEqual(doc["MD5OfMessageBody"], h.md5_hex("p"))
        doc = self.assertJsonOk(h.json_request(self.server, "ReceiveMessage", {"QueueUrl": url},
                                               path=queue_path(name)))
        self.assertEqual([m["Body"] for m in doc["Messages"]], ["p"])

    def test_queue_does_not_exist(self):
        r = h.json_request(self.server, "GetQueueUrl", {"QueueName": h.unique("nope")})
        self.assertJsonError(r, 400, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue",
                             "The specified queue does not exist.")

    def test_queue_name_exists(self):
        name = h.unique("jexists")
        h.json_request(self.server, "CreateQueue", {"QueueName": name, "Attributes": {"DelaySeconds": "1"}})
        r = h.json_request(self.server, "CreateQueue", {"QueueName": name, "Attributes": {"DelaySeconds": "2"}})
        self.assertJsonError(r, 400, "QueueNameExists", "QueueAlreadyExists")

    def test_invalid_parameter_value(self):
        name, url = self.new_queue("jipv")
        r = h.json_request(self.server, "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 21})
        self.assertJsonError(r, 400, "InvalidParameterValueException", "InvalidParameterValue",
                             "Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, "
                             "if provided.")

    def test_missing_parameter(self):
        name, url = self.new_queue("jmiss")
        r = h.json_request(self.server, "SendMessage", {"QueueUrl": url})
        self.assertJsonError(r, 400, "MissingRequiredParameterException", "MissingParameter")

    def test_batch_errors(self):
        name, url = self.new_queue("jbatch")
        r = h.json_request(self.server, "SendMessageBatch", {"QueueUrl": url, "Entries": []})
        self.assertJsonError(r, 400, "EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest")
        r = h.json_request(self.server, "SendMessageBatch", {"QueueUrl": url, "Entries": [
            {"Id": "a", "MessageBody": "1"}, {"Id": "a", "MessageBody": "2"}]})
        self.assertJsonError(r, 400, "BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")

    def test_purge_in_progress_is_403(self):
        name, url = self.new_queue("jpurge")
        self.assertJsonOk(h.json_request(self.server, "PurgeQueue", {"QueueUrl": url}))
        r = h.json_request(self.server, "PurgeQueue", {"QueueUrl": url})
        self.assertJsonError(r, 403, "PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress")

    def test_receipt_handle_invalid(self):
        name, url = self.new_queue("jrh")
        r = h.json_request(self.server, "DeleteMessage", {"QueueUrl": url, "ReceiptHandle": "garbage"})
        self.assertJsonError(r, 400, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid")

    def test_malformed_json(self):
        r = h.json_request(self.server, "ListQueues", raw_body="{not json")
        self.assertEqual(r.status, 400, r)
        self.assertTrue(r.header("x-amzn-RequestId"))
        doc = r.json()
        self.assertIn("__type", doc)

    def test_wrong_json_types(self):
        name, url = self.new_queue("jtypes")
        r = h.json_request(self.server, "ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": "ten"})
        self.assertEqual(r.status, 400, r)
        self.assertIn("__type", r.json())

    def test_unknown_target(self):
        r = h.json_request(self.server, "NoSuchAction", {})
        self.assertEqual(r.status, 400, r)
        doc = r.json()
        qe = r.header("x-amzn-query-error") or ""
        self.assertTrue("UnknownOperation" in doc.get("__type", "") or qe.startswith("InvalidAction;"),
                        "unknown action must be UnknownOperationException/InvalidAction: %r %r" % (doc, qe))

    def test_ignores_unknown_members(self):
        # SDKs newer than the server may send members it does not know
        doc = self.assertJsonOk(h.json_request(self.server, "ListQueues", {"SomeFutureField": 1}))
        self.assertIsInstance(doc.get("QueueUrls", []), list)


class QueryProtocolTest(WireBase):

    def assertXmlOk(self, r, action):
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.header("Content-Type") or "").split(";")[0].strip(), "text/xml")
        root = r.xml()
        self.assertEqual(root.tag, "{%s}%sResponse" % (h.XMLNS, action), r.body[:300])
        root = h.strip_ns(root)
        self.assertTrue(root.findtext("ResponseMetadata/RequestId"), "RequestId missing")
        result = root.find(action + "Result")
        return root, result

    def assertXmlError(self, r, status, code, message=None):
        self.assertEqual(r.status, status, r)
        self.assertEqual((r.header("Content-Type") or "").split(";")[0].strip(), "text/xml")
        typ, c, msg, rid = h.xml_error(r)
        self.assertEqual(typ, "Sender")
        self.assertEqual(c, code)
        self.assertTrue(rid, "RequestId missing from ErrorResponse")
        if message is not None:
            if isinstance(message, (tuple, list)):
                self.assertIn(msg, message)
            else:
                self.assertEqual(msg, message)
        return msg

    def test_create_queue_response(self):
        name = h.unique("qcreate")
        r = h.query_request(self.server, "CreateQueue", [("QueueName", name),
                                                         ("Attribute.1.Name", "VisibilityTimeout"),
                                                         ("Attribute.1.Value", "45")])
        root, res = self.assertXmlOk(r, "CreateQueue")
        self.assertEqual(res.findtext("QueueUrl"), self.server.queue_url(name))
        r = h.query_request(self.server, "GetQueueAttributes", [("QueueUrl", self.server.queue_url(name)),
                                                                ("AttributeName.1", "All")])
        root, res = self.assertXmlOk(r, "GetQueueAttributes")
        attrs = {a.findtext("Name"): a.findtext("Value") for a in res.findall("Attribute")}
        self.assertEqual(attrs["VisibilityTimeout"], "45")
        self.assertIn("QueueArn", attrs)

    def test_result_less_response(self):
        name, url = self.new_queue("qdel")
        r = h.query_request(self.server, "DeleteQueue", [("QueueUrl", url)])
        self.assertEqual(r.status, 200, r)
        root = h.strip_ns(r.xml())
        self.assertEqual(root.tag, "DeleteQueueResponse")
        self.assertTrue(root.findtext("ResponseMetadata/RequestId"))

    def test_list_queues(self):
        name, url = self.new_queue("qlist")
        r = h.query_request(self.server, "ListQueues", [("QueueNamePrefix", name)])
        root, res = self.assertXmlOk(r, "ListQueues")
        self.assertEqual([e.text for e in res.findall("QueueUrl")], [url])

    def test_get_method(self):
        name, url = self.new_queue("qget")
        r = h.query_request(self.server, "GetQueueUrl", [("QueueName", name)], method="GET")
        root, res = self.assertXmlOk(r, "GetQueueUrl")
        self.assertEqual(res.findtext("QueueUrl"), url)

    def test_send_receive_with_attributes(self):
        name, url = self.new_queue("qmsg")
        body = "xml <&> \"quotes\" 'apos' \r\n cr and \u00e9"
        r = h.query_request(self.server, "SendMessage", [
            ("QueueUrl", url), ("MessageBody", body),
            ("MessageAttribute.1.Name", "s"), ("MessageAttribute.1.Value.DataType", "String"),
            ("MessageAttribute.1.Value.StringValue", "v<1>"),
            ("MessageAttribute.2.Name", "b"), ("MessageAttribute.2.Value.DataType", "Binary"),
            ("MessageAttribute.2.Value.BinaryValue", "AAEC")])
        root, res = self.assertXmlOk(r, "SendMessage")
        attrs = {"s": {"DataType": "String", "StringValue": "v<1>"},
                 "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02"}}
        self.assertEqual(res.findtext("MD5OfMessageBody"), h.md5_hex(body))
        self.assertEqual(res.findtext("MD5OfMessageAttributes"), h.md5_of_attributes(attrs))
        msg_id = res.findtext("MessageId")
        r = h.query_request(self.server, "ReceiveMessage", [
            ("QueueUrl", url), ("AttributeName.1", "All"), ("MessageAttributeName.1", "All")])
        root, res = self.assertXmlOk(r, "ReceiveMessage")
        msgs = res.findall("Message")
        self.assertEqual(len(msgs), 1)
        m = msgs[0]
        self.assertEqual(m.findtext("MessageId"), msg_id)
        self.assertEqual(m.findtext("Body"), body, "body incl. CR must survive XML (escape \\r as &#xD;)")
        self.assertEqual(m.findtext("MD5OfBody"), h.md5_hex(body))
        self.assertTrue(m.findtext("ReceiptHandle"))
        sysattrs = {a.findtext("Name"): a.findtext("Value") for a in m.findall("Attribute")}
        self.assertEqual(set(sysattrs), {"SenderId", "SentTimestamp", "ApproximateReceiveCount",
                                         "ApproximateFirstReceiveTimestamp"})
        mattrs = {a.findtext("Name"): a.find("Value") for a in m.findall("MessageAttribute")}
        self.assertEqual(mattrs["s"].findtext("StringValue"), "v<1>")
        self.assertEqual(mattrs["s"].findtext("DataType"), "String")
        self.assertEqual(mattrs["b"].findtext("BinaryValue"), "AAEC")
        self.assertEqual(m.findtext("MD5OfMessageAttributes"), h.md5_of_attributes(attrs))

    def test_batch_shapes(self):
        name, url = self.new_queue("qbatch")
        r = h.query_request(self.server, "SendMessageBatch", [
            ("QueueUrl", url),
            ("SendMessageBatchRequestEntry.1.Id", "a"), ("SendMessageBatchRequestEntry.1.MessageBody", "one"),
            ("SendMessageBatchRequestEntry.2.Id", "b"), ("SendMessageBatchRequestEntry.2.MessageBody", "bad\x01"),
        ])
        root, res = self.assertXmlOk(r, "SendMessageBatch")
        ok = res.findall("SendMessageBatchResultEntry")
        self.assertEqual([e.findtext("Id") for e in ok], ["a"])
        self.assertEqual(ok[0].findtext("MD5OfMessageBody"), h.md5_hex("one"))
        failed = res.findall("BatchResultErrorEntry")
        self.assertEqual([(e.findtext("Id"), e.findtext("Code"), e.findtext("SenderFault")) for e in failed],
                         [("b", "InvalidMessageContents", "true")])

    def test_queue_url_path_without_queue_url_parameter(self):
        """Older SDKs post to the queue URL and leave QueueUrl out."""
        name, url = self.new_queue("qpath")
        r = h.query_request(self.server, "SendMessage", [("MessageBody", "via path")], path=queue_path(name))
        self.assertXmlOk(r, "SendMessage")
        r = h.query_request(self.server, "GetQueueAttributes", [("AttributeName.1", "ApproximateNumberOfMessages")],
                            path=queue_path(name))
        root, res = self.assertXmlOk(r, "GetQueueAttributes")
        self.assertEqual(res.findtext("Attribute/Value"), "1")
        r = h.query_request(self.server, "ReceiveMessage", [], path=queue_path(name))
        root, res = self.assertXmlOk(r, "ReceiveMessage")
        self.assertEqual(res.findtext("Message/Body"), "via path")

    def test_queue_url_path_with_queue_url_parameter(self):
        name, url = self.new_queue("qpath2")
        r = h.query_request(self.server, "SendMessage", [("QueueUrl", url), ("MessageBody", "x")],
                            path=queue_path(name))
        self.assertXmlOk(r, "SendMessage")

    def test_error_nonexistent_queue(self):
        r = h.query_request(self.server, "GetQueueUrl", [("QueueName", h.unique("nope"))])
        self.assertXmlError(r, 400, "AWS.SimpleQueueService.NonExistentQueue", h.NONEXISTENT_MESSAGES)
        root = r.xml()
        self.assertEqual(root.tag, "{%s}ErrorResponse" % h.XMLNS)

    def test_error_invalid_parameter(self):
        name, url = self.new_queue("qipv")
        r = h.query_request(self.server, "ReceiveMessage", [("QueueUrl", url), ("MaxNumberOfMessages", "11")])
        self.assertXmlError(r, 400, "InvalidParameterValue",
                            "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and "
                            "10, if provided.")

    def test_error_queue_already_exists(self):
        name = h.unique("qexists")
        h.query_request(self.server, "CreateQueue", [("QueueName", name), ("Attribute.1.Name", "DelaySeconds"),
                                                     ("Attribute.1.Value", "1")])
        r = h.query_request(self.server, "CreateQueue", [("QueueName", name), ("Attribute.1.Name", "DelaySeconds"),
                                                         ("Attribute.1.Value", "2")])
        self.assertXmlError(r, 400, "QueueAlreadyExists")

    def test_error_missing_parameter(self):
        r = h.query_request(self.server, "GetQueueUrl", [])
        self.assertXmlError(r, 400, "MissingParameter")

    def test_unknown_action(self):
        r = h.query_request(self.server, "NoSuchAction", [])
        self.assertXmlError(r, 400, "InvalidAction")

    def test_purge_in_progress_is_403(self):
        name, url = self.new_queue("qpurge")
        self.assertXmlOk(h.query_request(self.server, "PurgeQueue", [("QueueUrl", url)]), "PurgeQueue")
        r = h.query_request(self.server, "PurgeQueue", [("QueueUrl", url)])
        self.assertXmlError(r, 403, "AWS.SimpleQueueService.PurgeQueueInProgress")


class CrossProtocolTest(WireBase):

    def test_json_send_query_receive(self):
        name, url = self.new_queue("xp")
        h.json_request(self.server, "SendMessage", {"QueueUrl": url, "MessageBody": "from json"})
        r = h.query_request(self.server, "ReceiveMessage", [("QueueUrl", url)])
        self.assertEqual(r.status, 200, r)
        res = h.strip_ns(r.xml()).find("ReceiveMessageResult")
        rh = res.findtext("Message/ReceiptHandle")
        self.assertEqual(res.findtext("Message/Body"), "from json")
        r = h.json_request(self.server, "DeleteMessage", {"QueueUrl": url, "ReceiptHandle": rh})
        self.assertEqual(r.status, 200, r)

    def test_keep_alive_connection_serves_many_requests(self):
        """Several requests on one HTTP/1.1 connection (libmicrohttpd keep-alive trap)."""
        import http.client
        name, url = self.new_queue("ka")
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        try:
            for i in range(5):
                body = json.dumps({"QueueUrl": url, "MessageBody": "k%d" % i})
                req = h.AWSRequest(method="POST", url=self.server.endpoint + "/", data=body.encode(),
                                   headers={"Content-Type": h.JSON_CT, "X-Amz-Target": "AmazonSQS.SendMessage"})
                h.SigV4Auth(h.Credentials(h.ACCESS_KEY, h.SECRET_KEY), "sqs", h.REGION).add_auth(req)
                conn.request("POST", "/", body=body.encode(), headers=dict(req.headers.items()))
                resp = conn.getresponse()
                data = resp.read()
                self.assertEqual(resp.status, 200, data)
                self.assertFalse(resp.will_close, "server closed a keep-alive connection after request %d" % i)
        finally:
            conn.close()


class HttpEdgeTest(WireBase):
    """HTTP-level edge cases: pipelining, Expect: 100-continue, encodings, sizes."""

    def signed_bytes(self, action, payload, path="/"):
        body = json.dumps(payload).encode()
        req = h.AWSRequest(method="POST", url=self.server.endpoint + path, data=body,
                           headers={"Content-Type": h.JSON_CT, "X-Amz-Target": "AmazonSQS." + action})
        h.SigV4Auth(h.Credentials(h.ACCESS_KEY, h.SECRET_KEY), "sqs", h.REGION).add_auth(req)
        head = "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n" % (path, self.server.port, len(body))
        head += "".join("%s: %s\r\n" % (k, v) for k, v in req.headers.items()) + "\r\n"
        return head.encode() + body

    @staticmethod
    def read_responses(sock, count, timeout=10):
        sock.settimeout(timeout)
        data = b""
        statuses = []
        deadline = time.monotonic() + timeout
        while len(statuses) < count and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            # parse complete responses from the front of the buffer
            while True:
                end = data.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = data[:end].decode("latin-1")
                length = 0
                for line in head.split("\r\n")[1:]:
                    k, _, v = line.partition(":")
                    if k.strip().lower() == "content-length":
                        length = int(v.strip())
                if len(data) < end + 4 + length:
                    break
                statuses.append((int(head.split(" ")[1]), data[end + 4:end + 4 + length]))
                data = data[end + 4 + length:]
        return statuses

    def test_pipelined_requests(self):
        name, url = self.new_queue("pipe")
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        try:
            s.sendall(b"".join(self.signed_bytes("SendMessage", {"QueueUrl": url, "MessageBody": "p%d" % i})
                               for i in range(3)))
            got = self.read_responses(s, 3)
        finally:
            s.close()
        self.assertEqual([st for st, _ in got], [200, 200, 200], "pipelined requests were dropped: %r" % got)
        a = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        self.assertEqual(a["Attributes"]["ApproximateNumberOfMessages"], "3")

    def test_expect_100_continue(self):
        name, url = self.new_queue("expect")
        body = "e" * 300000
        r = h.json_request(self.server, "SendMessage", {"QueueUrl": url, "MessageBody": body},
                           extra_headers={"Expect": "100-continue"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["MD5OfMessageBody"], h.md5_hex(body))

    def test_json_lone_surrogate_rejected(self):
        name, url = self.new_queue("surrogate")
        raw = '{"QueueUrl": "%s", "MessageBody": "a\\ud800b"}' % url
        r = h.json_request(self.server, "SendMessage", raw_body=raw)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.header("x-amzn-query-error"), "InvalidMessageContents;Sender")

    def test_json_escaped_astral_character(self):
        name, url = self.new_queue("astral")
        raw = '{"QueueUrl": "%s", "MessageBody": "\\ud83d\\ude00"}' % url
        r = h.json_request(self.server, "SendMessage", raw_body=raw)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["MD5OfMessageBody"], h.md5_hex("\U0001f600"))

    def test_invalid_utf8_rejected(self):
        name, url = self.new_queue("badutf8")
        raw = b'{"QueueUrl": "' + url.encode() + b'", "MessageBody": "a\xff\xfeb"}'
        r = h.json_request(self.server, "SendMessage", raw_body=raw)
        self.assertEqual(r.status, 400, r)
        r = h.raw_request(self.server, "POST", "/", headers={"Content-Type": h.FORM_CT},
                          body=("Action=SendMessage&Version=2012-11-05&QueueUrl=%s&MessageBody=a%%FFb"
                                % h.urllib.parse.quote(url, safe="")).encode())
        self.assertEqual(r.status, 400, r)
        self.assertEqual(self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
                         ["Attributes"]["ApproximateNumberOfMessages"], "0")

    def test_oversized_request_body(self):
        name, url = self.new_queue("huge")
        body = "h" * (3 * 1048576)
        r = h.json_request(self.server, "SendMessage", {"QueueUrl": url, "MessageBody": body})
        self.assertIn(r.status, (400, 413), r)
        self.assertTrue(self.server.alive())
        self.assertEqual(h.raw_request(self.server, "GET", "/_/health", sign=False).status, 200)

    def test_query_special_characters_round_trip(self):
        name, url = self.new_queue("qchars")
        body = "a+b c%20d&e=f;g/h?i#j\u00e9"
        r = h.query_request(self.server, "SendMessage", [("QueueUrl", url), ("MessageBody", body)])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(h.strip_ns(r.xml()).findtext("SendMessageResult/MD5OfMessageBody"), h.md5_hex(body))
        r = h.query_request(self.server, "ReceiveMessage", [("QueueUrl", url)])
        self.assertEqual(h.strip_ns(r.xml()).findtext("ReceiveMessageResult/Message/Body"), body)


class QueueUrlHostTest(WireBase):
    """Queue URLs come from --public-url, else from the request's Host."""

    PUBLIC = "http://sqs.example.test:9999"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.public = h.Server(extra_args=["--public-url", cls.PUBLIC])
        try:
            cls.public.start()
        except Exception:
            cls.public.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.public.stop()
        cls.public.cleanup()
        super().tearDownClass()

    def test_public_url_in_responses(self):
        sqs = self.public.client()
        name = h.unique("pub")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        self.assertEqual(url, "%s/%s/%s" % (self.PUBLIC, h.ACCOUNT, name))
        self.assertEqual(sqs.get_queue_url(QueueName=name)["QueueUrl"], url)
        self.assertIn(url, sqs.list_queues(QueueNamePrefix=name)["QueueUrls"])
        # requests go to the real endpoint but name the public URL: routed by path
        sqs.send_message(QueueUrl=url, MessageBody="via public url")
        msgs = sqs.receive_message(QueueUrl=url).get("Messages", [])
        self.assertEqual([m["Body"] for m in msgs], ["via public url"])

    def test_host_header_used_without_public_url(self):
        sqs = self.server.client()
        sqs_localhost = h.boto3.session.Session(
            aws_access_key_id=h.ACCESS_KEY, aws_secret_access_key=h.SECRET_KEY, region_name=h.REGION).client(
            "sqs", endpoint_url="http://localhost:%d" % self.server.port,
            config=h.Config(retries={"total_max_attempts": 1, "mode": "standard"}))
        name = h.unique("host")
        url = sqs_localhost.create_queue(QueueName=name)["QueueUrl"]
        self.assertEqual(url, "http://localhost:%d/%s/%s" % (self.server.port, h.ACCOUNT, name))
        self.assertEqual(sqs.get_queue_url(QueueName=name)["QueueUrl"], self.server.queue_url(name))


if __name__ == "__main__":
    unittest.main()
