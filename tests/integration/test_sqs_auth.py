"""Authentication: every SQS request must carry a valid SigV4 signature."""

import datetime
import unittest

import harness as h
from harness import SqsTestCase

SERVER = None


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


class AuthTest(SqsTestCase):

    def error_code(self, r):
        """(status, code) of a JSON or query error response."""
        ctype = r.header("Content-Type") or ""
        if "json" in ctype:
            qe = r.header("x-amzn-query-error") or ""
            doc = r.json()
            code = qe.split(";", 1)[0] if qe else doc.get("__type", "").rsplit("#", 1)[-1]
            return r.status, code, doc.get("message", doc.get("Message"))
        typ, code, msg, _ = h.xml_error(r)
        return r.status, code, msg

    # -- unsigned ---------------------------------------------------------
    def test_unsigned_json(self):
        r = h.json_request(self.server, "ListQueues", {}, sign=False)
        status, code, _ = self.error_code(r)
        self.assertEqual(status, 403, r)
        self.assertIn(code, ("MissingAuthenticationToken", "AccessDenied"))

    def test_unsigned_query(self):
        r = h.query_request(self.server, "ListQueues", [], sign=False)
        self.assertEqual(r.status, 403, r)
        typ, code, msg, rid = h.xml_error(r)
        self.assertIn(code, ("MissingAuthenticationToken", "AccessDenied"))
        self.assertEqual(typ, "Sender")

    def test_unsigned_get(self):
        r = h.query_request(self.server, "ListQueues", [], method="GET", sign=False)
        self.assertEqual(r.status, 403, r)

    def test_unsigned_does_not_act(self):
        name = h.unique("unsigned")
        r = h.json_request(self.server, "CreateQueue", {"QueueName": name}, sign=False)
        self.assertEqual(r.status, 403, r)
        self.assertRaisesSqs(lambda: self.sqs.get_queue_url(QueueName=name), h.NONEXISTENT, 400)

    # -- bad credentials via the SDK -----------------------------------------
    def test_wrong_secret(self):
        bad = self.server.client(secret_key="not-the-secret")
        self.assertRaisesSqs(lambda: bad.list_queues(), "SignatureDoesNotMatch", 403, json_type="",
                             message_prefix="The request signature we calculated does not match the signature "
                                            "you provided.")

    def test_unknown_access_key(self):
        bad = self.server.client(access_key="AKIDUNKNOWNKEY000000")
        self.assertRaisesSqs(lambda: bad.list_queues(), "InvalidClientTokenId", 403, json_type="",
                             message="The security token included in the request is invalid.")

    def test_wrong_secret_does_not_act(self):
        name = h.unique("wrongsecret")
        bad = self.server.client(secret_key="not-the-secret")
        with self.assertRaises(h.ClientError):
            bad.create_queue(QueueName=name)
        self.assertRaisesSqs(lambda: self.sqs.get_queue_url(QueueName=name), h.NONEXISTENT, 400)

    # -- signature coverage ----------------------------------------------------
    def test_tampered_body(self):
        name = h.unique("tamper")

        def tamper(headers, body):
            return headers, body.replace(name.encode(), (name + "x").encode())

        r = h.json_request(self.server, "CreateQueue", {"QueueName": name}, tamper=tamper)
        status, code, _ = self.error_code(r)
        self.assertEqual((status, code), (403, "SignatureDoesNotMatch"), r)

    def test_tampered_target_header(self):
        def tamper(headers, body):
            headers = dict(headers)
            headers["X-Amz-Target"] = "AmazonSQS.ListQueues"
            return headers, body

        r = h.json_request(self.server, "GetQueueUrl", {"QueueName": "x"}, tamper=tamper)
        status, code, _ = self.error_code(r)
        self.assertEqual((status, code), (403, "SignatureDoesNotMatch"), r)

    def test_query_protocol_signed_ok_and_tampered(self):
        r = h.query_request(self.server, "ListQueues", [])
        self.assertEqual(r.status, 200, r)

        def tamper(headers, body):
            return headers, body + b"&QueueNamePrefix=x"

        r = h.query_request(self.server, "ListQueues", [], tamper=tamper)
        status, code, _ = self.error_code(r)
        self.assertEqual((status, code), (403, "SignatureDoesNotMatch"), r)

    def test_signed_get_with_query_string(self):
        r = h.query_request(self.server, "ListQueues", [("QueueNamePrefix", "a b+c")], method="GET")
        self.assertEqual(r.status, 200, r)

    def test_garbled_authorization_header(self):
        def tamper(headers, body):
            headers = dict(headers)
            headers["Authorization"] = "AWS4-HMAC-SHA256 garbage"
            return headers, body

        r = h.json_request(self.server, "ListQueues", {}, tamper=tamper)
        self.assertIn(r.status, (400, 403), r)
        self.assertNotEqual(r.status, 200)

    # -- clock skew ------------------------------------------------------------
    def test_date_skewed_past_rejected(self):
        when = h.utcnow() - datetime.timedelta(minutes=20)
        r = h.json_request(self.server, "ListQueues", {}, when=when)
        status, code, msg = self.error_code(r)
        self.assertEqual((status, code), (403, "SignatureDoesNotMatch"), r)
        self.assertTrue(msg and msg.startswith("Signature expired"), msg)

    def test_date_skewed_future_rejected(self):
        when = h.utcnow() + datetime.timedelta(minutes=20)
        r = h.query_request(self.server, "ListQueues", [], when=when)
        status, code, msg = self.error_code(r)
        self.assertEqual((status, code), (403, "SignatureDoesNotMatch"), r)

    def test_small_skew_accepted(self):
        for minutes in (-10, 10):
            with self.subTest(minutes=minutes):
                when = h.utcnow() + datetime.timedelta(minutes=minutes)
                r = h.json_request(self.server, "ListQueues", {}, when=when)
                self.assertEqual(r.status, 200, r)

    # -- health is open ----------------------------------------------------------
    def test_health_needs_no_signature(self):
        r = h.raw_request(self.server, "GET", "/_/health", sign=False)
        self.assertEqual(r.status, 200)


if __name__ == "__main__":
    unittest.main()
