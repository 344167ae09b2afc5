"""SNS deliveries that leave the process: http/https and email/email-json
subscribers, through tweedle's durable outbox.

AWS facts asserted here (SNS developer guide: "HTTP/HTTPS headers",
"HTTP/HTTPS subscription confirmation JSON format", "HTTP/HTTPS notification
JSON format", "HTTP/HTTPS unsubscribe confirmation JSON format", "Amazon SNS
message delivery retries", "Verifying the signatures of Amazon SNS messages"):
* Every POST carries x-amz-sns-message-type (SubscriptionConfirmation |
  Notification | UnsubscribeConfirmation), x-amz-sns-message-id,
  x-amz-sns-topic-arn, Content-Type "text/plain; charset=UTF-8", User-Agent
  "Amazon Simple Notification Service Agent"; notifications (and the
  unsubscribe confirmation) add x-amz-sns-subscription-arn.
* The confirmation body: Type, MessageId, Token, TopicArn, Message ("You have
  chosen to subscribe to the topic ARN.\\nTo confirm the subscription, visit
  the SubscribeURL included in this message."), SubscribeURL, Timestamp,
  SignatureVersion, Signature, SigningCertURL; signed over Message,
  MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type.
* A 2xx answer is a success; anything else is retried per the effective
  delivery policy's healthyRetryPolicy (numRetries retries after the first
  attempt; numNoDelayRetries go at once; minDelayTarget >= 1 s), then the
  message goes to the subscription's RedrivePolicy dead-letter queue.
* After an http/https endpoint is unsubscribed, SNS POSTs an
  UnsubscribeConfirmation to it.
"""

import base64
import email
import email.policy
import http.server
import json
import os
import socket
import socketserver
import ssl
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request

import harness as h
from botocore.config import Config
from botocore.exceptions import ClientError

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    HAVE_CRYPTO = True
except ImportError:  # pragma: no cover - both interpreters have it here
    HAVE_CRYPTO = False


# ------------------------------------------------------------------------------
# local endpoints: an HTTP(S) receiver and an SMTP sink
# ------------------------------------------------------------------------------

class HttpSink:
    """Records every POST. ``status_for(path, msg_type, n)`` decides the answer
    (n: how many POSTs that path got before this one)."""

    def __init__(self, tls_context=None):
        self.requests = []
        self.lock = threading.Lock()
        self.status_for = lambda path, kind, n: 200
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                kind = self.headers.get("x-amz-sns-message-type")
                with sink.lock:
                    count = sum(1 for r in sink.requests if r["path"] == self.path)
                    sink.requests.append({"t": time.monotonic(), "path": self.path,
                                          "headers": {k.lower(): v for k, v in self.headers.items()},
                                          "body": body})
                status = sink.status_for(self.path, kind, count)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        class Quiet(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # refused TLS handshakes, resets: the test looks at what arrived

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        if tls_context is not None:
            self.httpd.socket = tls_context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.scheme = "https" if tls_context is not None else "http"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "%s://127.0.0.1:%d%s" % (self.scheme, self.port, path)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def posts(self, path, kind=None):
        with self.lock:
            return [r for r in self.requests
                    if r["path"] == path and (kind is None or r["headers"].get("x-amz-sns-message-type") == kind)]

    def wait(self, path, kind, count=1, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.posts(path, kind)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError("%s got %d %s POSTs, wanted %d (all: %r)"
                             % (path, len(self.posts(path, kind)), kind, count,
                                [(r["path"], r["headers"].get("x-amz-sns-message-type")) for r in self.requests]))


class SmtpSink:
    """A tiny SMTP server: EHLO/HELO, MAIL, RCPT, DATA (dot-unstuffed), RSET,
    NOOP, QUIT. Keeps (mail_from, rcpts, email.message.EmailMessage, raw)."""

    def __init__(self):
        self.mails = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        f = conn.makefile("rb")

        def say(line):
            conn.sendall(line.encode() + b"\r\n")

        try:
            say("220 sink ESMTP")
            mail_from, rcpts = None, []
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.decode("utf-8", "replace").rstrip("\r\n")
                verb = cmd.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    say("250-sink")
                    say("250 8BITMIME")
                elif verb == "HELO":
                    say("250 sink")
                elif verb == "MAIL":
                    mail_from, rcpts = cmd[10:].strip().strip("<>"), []
                    say("250 OK")
                elif verb == "RCPT":
                    rcpts.append(cmd[8:].strip().strip("<>"))
                    say("250 OK")
                elif verb == "DATA":
                    say("354 go ahead")
                    data = []
                    while True:
                        l = f.readline()
                        if not l or l == b".\r\n":
                            break
                        if l.startswith(b"."):
                            l = l[1:]  # dot-unstuffing
                        data.append(l)
                    raw = b"".join(data)
                    msg = email.message_from_bytes(raw, policy=email.policy.default)
                    with self.lock:
                        self.mails.append((mail_from, rcpts, msg, raw))
                    say("250 queued")
                elif verb in ("RSET", "NOOP"):
                    say("250 OK")
                elif verb == "QUIT":
                    say("221 bye")
                    return
                else:
                    say("502 unknown")
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stopped = True
        self.sock.close()

    def to(self, rcpt):
        with self.lock:
            return [m for m in self.mails if rcpt in m[1]]

    def wait(self, rcpt, count=1, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.to(rcpt)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError("%s got %d mails, wanted %d" % (rcpt, len(self.to(rcpt)), count))


SMTP = None


def setUpModule():
    global SMTP
    SMTP = SmtpSink()
    h.start_module_server(__name__, extra_args=("--smtp-url", "smtp://127.0.0.1:%d" % SMTP.port,
                                                "--smtp-from", "alerts@tweedle.test"))


def tearDownModule():
    h.stop_module_server(__name__)
    if SMTP is not None:
        SMTP.close()


def sns_client(server):
    session = h.boto3.session.Session(aws_access_key_id=h.ACCESS_KEY, aws_secret_access_key=h.SECRET_KEY,
                                      region_name=h.REGION)
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=40)
    return session.client("sns", endpoint_url=server.endpoint, config=cfg)


NOTIFICATION_KEYS = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
CONFIRMATION_KEYS = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]


def verify_signature(server, env):
    """Checks env's Signature with the certificate at its SigningCertURL."""
    url = env["SigningCertURL"]
    assert url.startswith(server.endpoint), url
    pem = urllib.request.urlopen(url, timeout=10).read()
    cert = x509.load_pem_x509_certificate(pem)
    keys = NOTIFICATION_KEYS if env["Type"] == "Notification" else CONFIRMATION_KEYS
    sts = "".join("%s\n%s\n" % (k, env[k]) for k in keys if k in env).encode("utf-8")
    algo = hashes.SHA256() if env["SignatureVersion"] == "2" else hashes.SHA1()
    cert.public_key().verify(base64.b64decode(env["Signature"]), sts, padding.PKCS1v15(), algo)


class DeliveryTestCase(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.server = getattr(h.sys.modules[cls.__module__], "SERVER", None)
        if cls.server is None:
            raise unittest.SkipTest("module server not started")
        cls.sns = sns_client(cls.server)
        cls.sqs = cls.server.client()
        cls.sink = HttpSink()

    @classmethod
    def tearDownClass(cls):
        cls.sink.close()

    def topic(self, **attrs):
        kw = {"Name": h.unique("dt")}
        if attrs:
            kw["Attributes"] = attrs
        return self.sns.create_topic(**kw)["TopicArn"]

    def subscribe_http(self, topic, path, attributes=None, confirm="url"):
        """Subscribes the sink at path; confirms through the SubscribeURL (or
        ConfirmSubscription with the token). Returns (sub_arn, confirmation)."""
        kw = dict(TopicArn=topic, Protocol="http", Endpoint=self.sink.url(path), ReturnSubscriptionArn=True)
        if attributes:
            kw["Attributes"] = attributes
        sub = self.sns.subscribe(**kw)["SubscriptionArn"]
        conf = self.sink.wait(path, "SubscriptionConfirmation")[0]
        env = json.loads(conf["body"])
        if confirm == "url":
            r = urllib.request.urlopen(env["SubscribeURL"], timeout=10)
            self.assertEqual(r.status, 200)
        else:
            self.sns.confirm_subscription(TopicArn=topic, Token=env["Token"])
        a = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(a["PendingConfirmation"], "false")
        return sub, conf


class HttpDeliveryTest(DeliveryTestCase):

    def test_confirmation_message(self):
        topic = self.topic()
        sub = self.sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=self.sink.url("/conf?x=1"),
                                 ReturnSubscriptionArn=True)["SubscriptionArn"]
        conf = self.sink.wait("/conf?x=1", "SubscriptionConfirmation")[0]
        hd = conf["headers"]
        env = json.loads(conf["body"])
        self.assertEqual(list(env), ["Type", "MessageId", "Token", "TopicArn", "Message", "SubscribeURL",
                                     "Timestamp", "SignatureVersion", "Signature", "SigningCertURL"])
        self.assertEqual(env["Type"], "SubscriptionConfirmation")
        self.assertEqual(hd["x-amz-sns-message-type"], "SubscriptionConfirmation")
        self.assertEqual(hd["x-amz-sns-message-id"], env["MessageId"])
        self.assertEqual(hd["x-amz-sns-topic-arn"], topic)
        self.assertNotIn("x-amz-sns-subscription-arn", hd)
        self.assertEqual(hd["content-type"], "text/plain; charset=UTF-8")
        self.assertEqual(hd["user-agent"], "Amazon Simple Notification Service Agent")
        self.assertEqual(env["TopicArn"], topic)
        self.assertEqual(env["Message"], "You have chosen to subscribe to the topic %s.\nTo confirm the "
                         "subscription, visit the SubscribeURL included in this message." % topic)
        self.assertTrue(env["SubscribeURL"].startswith(self.server.endpoint + "/?Action=ConfirmSubscription&"))
        q = urllib.parse.parse_qs(urllib.parse.urlparse(env["SubscribeURL"]).query)
        self.assertEqual(q["TopicArn"], [topic])
        self.assertEqual(q["Token"], [env["Token"]])
        self.assertRegex(env["Timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        if HAVE_CRYPTO:
            verify_signature(self.server, env)
        # still pending: no notification goes out
        self.sns.publish(TopicArn=topic, Message="too early")
        # the link confirms (a plain GET, as AWS's)
        self.assertEqual(urllib.request.urlopen(env["SubscribeURL"], timeout=10).status, 200)
        a = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(a["PendingConfirmation"], "false")
        self.assertEqual(a["ConfirmationWasAuthenticated"], "false")
        self.sns.publish(TopicArn=topic, Message="after")
        got = self.sink.wait("/conf?x=1", "Notification")
        time.sleep(0.5)
        msgs = [json.loads(r["body"])["Message"] for r in self.sink.posts("/conf?x=1", "Notification")]
        self.assertEqual(msgs, ["after"])
        self.assertEqual(len(got), 1)

    def test_notification_headers_envelope_and_signature(self):
        topic = self.topic(DisplayName="Alerts")
        sub, _ = self.subscribe_http(topic, "/n1")
        r = self.sns.publish(TopicArn=topic, Message="hello \u2603\nsecond line", Subject="Greetings",
                             MessageAttributes={"color": {"DataType": "String", "StringValue": "blue"},
                                                "n": {"DataType": "Number", "StringValue": "5"}})
        post = self.sink.wait("/n1", "Notification")[0]
        hd = post["headers"]
        self.assertEqual(hd["x-amz-sns-message-type"], "Notification")
        self.assertEqual(hd["x-amz-sns-message-id"], r["MessageId"])
        self.assertEqual(hd["x-amz-sns-topic-arn"], topic)
        self.assertEqual(hd["x-amz-sns-subscription-arn"], sub)
        self.assertEqual(hd["content-type"], "text/plain; charset=UTF-8")
        self.assertEqual(hd["user-agent"], "Amazon Simple Notification Service Agent")
        env = json.loads(post["body"].decode("utf-8"))
        self.assertEqual(env["Type"], "Notification")
        self.assertEqual(env["MessageId"], r["MessageId"])
        self.assertEqual(env["TopicArn"], topic)
        self.assertEqual(env["Subject"], "Greetings")
        self.assertEqual(env["Message"], "hello \u2603\nsecond line")
        self.assertEqual(env["UnsubscribeURL"],
                         self.server.endpoint + "/?Action=Unsubscribe&SubscriptionArn=" + sub)
        self.assertEqual(env["MessageAttributes"], {"color": {"Type": "String", "Value": "blue"},
                                                    "n": {"Type": "Number", "Value": "5"}})
        if HAVE_CRYPTO:
            verify_signature(self.server, env)
            with self.assertRaises(Exception):
                verify_signature(self.server, dict(env, Message="tampered"))
        # SignatureVersion 2, and a MessageStructure with an "http" key
        self.sns.set_topic_attributes(TopicArn=topic, AttributeName="SignatureVersion", AttributeValue="2")
        self.sns.publish(TopicArn=topic, MessageStructure="json",
                         Message=json.dumps({"default": "for all", "sqs": "for queues", "http": "for http"}))
        env2 = json.loads(self.sink.wait("/n1", "Notification", 2)[1]["body"])
        self.assertEqual(env2["Message"], "for http")
        self.assertEqual(env2["SignatureVersion"], "2")
        self.assertNotIn("Subject", env2)
        if HAVE_CRYPTO:
            verify_signature(self.server, env2)

    def test_raw_delivery_and_filter_policy(self):
        topic = self.topic()
        sub, _ = self.subscribe_http(topic, "/raw", confirm="token", attributes={
            "RawMessageDelivery": "true", "FilterPolicy": json.dumps({"kind": ["keep"]}),
            "DeliveryPolicy": json.dumps({"requestPolicy": {"headerContentType": "application/json"}})})
        self.sns.publish(TopicArn=topic, Message="dropped by the filter",
                         MessageAttributes={"kind": {"DataType": "String", "StringValue": "other"}})
        self.sns.publish(TopicArn=topic, Message='{"raw": true}',
                         MessageAttributes={"kind": {"DataType": "String", "StringValue": "keep"}})
        post = self.sink.wait("/raw", "Notification")[0]
        self.assertEqual(post["body"], b'{"raw": true}')
        self.assertEqual(post["headers"]["x-amz-sns-subscription-arn"], sub)
        self.assertEqual(post["headers"].get("x-amz-sns-rawdelivery"), "true")
        self.assertEqual(post["headers"]["content-type"], "application/json")
        time.sleep(0.5)
        self.assertEqual(len(self.sink.posts("/raw", "Notification")), 1)

    def test_retries_per_policy_then_dead_letter_queue(self):
        topic = self.topic()
        dlq = self.sqs.create_queue(QueueName=h.unique("dlq"))["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = {"healthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 1, "numRetries": 2,
                                         "numNoDelayRetries": 0, "backoffFunction": "linear"}}
        self.sink.status_for = lambda path, kind, n: (500 if path == "/fails" and kind == "Notification"
                                                      else 200)
        sub, _ = self.subscribe_http(topic, "/fails", attributes={
            "DeliveryPolicy": json.dumps(policy), "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})})
        eff = json.loads(self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
                         ["EffectiveDeliveryPolicy"])
        self.assertEqual(eff["healthyRetryPolicy"]["numRetries"], 2)
        r = self.sns.publish(TopicArn=topic, Message="never accepted")
        got = self.sink.wait("/fails", "Notification", 3, timeout=20)
        # first attempt, then numRetries=2 retries about minDelayTarget apart
        gaps = [b["t"] - a["t"] for a, b in zip(got, got[1:])]
        for g in gaps:
            self.assertGreater(g, 0.8, gaps)
            self.assertLess(g, 4.0, gaps)
        deadline = time.monotonic() + 15
        msgs = []
        while not msgs and time.monotonic() < deadline:
            msgs = self.sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages", [])
        self.assertEqual(len(msgs), 1)
        env = json.loads(msgs[0]["Body"])
        self.assertEqual(env["MessageId"], r["MessageId"])
        self.assertEqual(env["Message"], "never accepted")
        # no attempt after the dead-lettering
        time.sleep(1.5)
        self.assertEqual(len(self.sink.posts("/fails", "Notification")), 3)

    def test_no_delay_retry_then_success_without_dlq(self):
        topic = self.topic()
        policy = {"healthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 2, "numRetries": 4,
                                         "numNoDelayRetries": 1, "backoffFunction": "exponential"}}
        self.sns.set_topic_attributes(TopicArn=topic, AttributeName="DeliveryPolicy",
                                      AttributeValue=json.dumps({"http": {"defaultHealthyRetryPolicy":
                                                                          policy["healthyRetryPolicy"]}}))
        self.sink.status_for = lambda path, kind, n: (503 if path == "/flaky" and kind == "Notification"
                                                      and n < 3 else 200)
        self.subscribe_http(topic, "/flaky")
        self.sns.publish(TopicArn=topic, Message="third time lucky")
        got = self.sink.wait("/flaky", "Notification", 3, timeout=20)
        # the no-delay retry comes at once, the next after minDelayTarget
        self.assertLess(got[1]["t"] - got[0]["t"], 0.8)
        self.assertGreater(got[2]["t"] - got[1]["t"], 0.8)
        time.sleep(3)
        self.assertEqual(len(self.sink.posts("/flaky", "Notification")), 3)

    def test_throttle_policy(self):
        topic = self.topic()
        self.subscribe_http(topic, "/slow", attributes={
            "DeliveryPolicy": json.dumps({"throttlePolicy": {"maxReceivesPerSecond": 2}})})
        for i in range(4):
            self.sns.publish(TopicArn=topic, Message="t%d" % i)
        got = self.sink.wait("/slow", "Notification", 4, timeout=15)
        # 2 per second: the 4th comes at least 1.5 s after the 1st
        self.assertGreater(got[3]["t"] - got[0]["t"], 1.3)
        self.assertEqual(sorted(json.loads(r["body"])["Message"] for r in got), ["t0", "t1", "t2", "t3"])

    def test_unsubscribe_confirmation(self):
        topic = self.topic()
        sub, _ = self.subscribe_http(topic, "/bye")
        self.sns.unsubscribe(SubscriptionArn=sub)
        post = self.sink.wait("/bye", "UnsubscribeConfirmation")[0]
        env = json.loads(post["body"])
        self.assertEqual(env["Type"], "UnsubscribeConfirmation")
        self.assertEqual(post["headers"]["x-amz-sns-subscription-arn"], sub)
        self.assertEqual(env["Message"], "You have chosen to deactivate subscription %s.\nTo cancel this "
                         "operation and restore the subscription, visit the SubscribeURL included in this "
                         "message." % sub)
        if HAVE_CRYPTO:
            verify_signature(self.server, env)
        self.sns.publish(TopicArn=topic, Message="nobody listens")
        time.sleep(0.7)
        self.assertEqual(self.sink.posts("/bye", "Notification"), [])


class EmailTest(DeliveryTestCase):

    def confirm_link(self, body):
        for line in body.splitlines():
            if "Action=ConfirmSubscription" in line:
                return line[line.index("http"):].strip()
        self.fail("no confirmation link in %r" % body)

    def test_email_confirmation_and_messages(self):
        topic = self.topic(DisplayName="Thumbs")
        rcpt = "%s@example.test" % h.unique("u")
        sub = self.sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=rcpt,
                                 ReturnSubscriptionArn=True)["SubscriptionArn"]
        mail_from, rcpts, msg, raw = SMTP.wait(rcpt)[0]
        self.assertEqual(mail_from, "alerts@tweedle.test")
        self.assertEqual(rcpts, [rcpt])
        self.assertEqual(msg["Subject"], "AWS Notification - Subscription Confirmation")
        self.assertIn("Thumbs", msg["From"])
        self.assertIn("alerts@tweedle.test", msg["From"])
        body = msg.get_content().replace("\r\n", "\n")
        self.assertIn(topic, body)
        link = self.confirm_link(body)
        self.assertEqual(urllib.request.urlopen(link, timeout=10).status, 200)
        self.assertEqual(self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
                         ["PendingConfirmation"], "false")
        text = "line one\n.starts with a dot\n..two dots\n.\nend \u00e9"
        self.sns.publish(TopicArn=topic, Message=text, Subject="Thumbnail ready")
        self.sns.publish(TopicArn=topic, Message="no subject")
        # deliveries run in parallel: no order between messages
        mails = [m[2] for m in SMTP.wait(rcpt, 3)[1:]]
        m1 = [m for m in mails if m["Subject"] == "Thumbnail ready"][0]
        m2 = [m for m in mails if m is not m1][0]
        self.assertEqual(m1["Subject"], "Thumbnail ready")
        c1 = m1.get_content().replace("\r\n", "\n")
        self.assertTrue(c1.startswith(text + "\n"), repr(c1))
        self.assertIn("/?Action=Unsubscribe&SubscriptionArn=" + sub, c1)
        self.assertEqual(m2["Subject"], "AWS Notification Message")
        self.assertTrue(m2.get_content().replace("\r\n", "\n").startswith("no subject"))
        # a long line goes base64 and arrives whole
        long = "x" * 5000
        self.sns.publish(TopicArn=topic, Message=long)
        m3 = SMTP.wait(rcpt, 4)[3][2]
        self.assertTrue(m3.get_content().replace("\r\n", "\n").startswith(long + "\n"))

    def test_email_json(self):
        topic = self.topic()
        rcpt = "%s@example.test" % h.unique("j")
        sub = self.sns.subscribe(TopicArn=topic, Protocol="email-json", Endpoint=rcpt,
                                 ReturnSubscriptionArn=True)["SubscriptionArn"]
        conf = json.loads(SMTP.wait(rcpt)[0][2].get_content().replace("\r\n", "\n"))
        self.assertEqual(conf["Type"], "SubscriptionConfirmation")
        if HAVE_CRYPTO:
            verify_signature(self.server, conf)
        self.sns.confirm_subscription(TopicArn=topic, Token=conf["Token"])
        r = self.sns.publish(TopicArn=topic, Message="as json", Subject="S")
        m = SMTP.wait(rcpt, 2)[1][2]
        env = json.loads(m.get_content().replace("\r\n", "\n"))
        self.assertEqual(env["Type"], "Notification")
        self.assertEqual(env["MessageId"], r["MessageId"])
        self.assertEqual(env["Message"], "as json")
        self.assertEqual(env["Subject"], "S")
        self.assertTrue(env["UnsubscribeURL"].endswith(sub))
        if HAVE_CRYPTO:
            verify_signature(self.server, env)


class NoRelayTest(h.FreshServerTestCase):

    def test_email_refused_without_relay(self):
        sns = sns_client(self.server)
        topic = sns.create_topic(Name="norelay")["TopicArn"]
        for proto in ("email", "email-json"):
            with self.assertRaises(ClientError) as cm:
                sns.subscribe(TopicArn=topic, Protocol=proto, Endpoint="a@example.test")
            err = cm.exception.response["Error"]
            self.assertEqual(err["Code"], "InvalidParameter")
            self.assertIn("--smtp-url", err["Message"])
        self.assertEqual(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"], [])


@unittest.skipUnless(HAVE_CRYPTO, "Python cryptography not importable")
class HttpsTest(unittest.TestCase):
    """https endpoints: the certificate is verified against AWS_CA_BUNDLE."""

    def setUp(self):
        import datetime
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID
        import ipaddress
        self.dir = tempfile.mkdtemp(prefix="tweedle-tls-")
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = datetime.datetime.utcnow()
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                               critical=False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        self.cert_path = os.path.join(self.dir, "cert.pem")
        key_path = os.path.join(self.dir, "key.pem")
        with open(self.cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption()))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_path, key_path)
        self.sink = HttpSink(tls_context=ctx)
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.cleanup()
        self.sink.close()
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, env):
        s = h.Server(env=env)
        self.servers.append(s)
        s.start()
        return s

    def test_https_verified_with_ca_bundle_and_refused_without(self):
        good = self.start({"AWS_CA_BUNDLE": self.cert_path})
        sns = sns_client(good)
        topic = sns.create_topic(Name="tls")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="https", Endpoint=self.sink.url("/tls"))
        env = json.loads(self.sink.wait("/tls", "SubscriptionConfirmation")[0]["body"])
        sns.confirm_subscription(TopicArn=topic, Token=env["Token"])
        sns.publish(TopicArn=topic, Message="over tls")
        self.assertEqual(json.loads(self.sink.wait("/tls", "Notification")[0]["body"])["Message"], "over tls")
        # a server that does not trust the certificate delivers nothing
        other = self.start({"AWS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt"})
        sns2 = sns_client(other)
        t2 = sns2.create_topic(Name="tls2")["TopicArn"]
        sns2.subscribe(TopicArn=t2, Protocol="https", Endpoint=self.sink.url("/untrusted"))
        time.sleep(1.5)
        self.assertEqual(self.sink.posts("/untrusted"), [])


class KillDuringDeliveryTest(unittest.TestCase):
    """kill -9 with deliveries pending: every acknowledged publish reaches the
    endpoint at least once after the restart."""

    def setUp(self):
        self.sink = HttpSink()
        self.server = h.Server()
        self.server.start()

    def tearDown(self):
        self.server.cleanup()
        self.sink.close()

    def test_kill9_with_pending_deliveries(self):
        sns = sns_client(self.server)
        topic = sns.create_topic(Name="durable")["TopicArn"]
        policy = {"healthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 1, "numRetries": 50}}
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=self.sink.url("/d"),
                      Attributes={"DeliveryPolicy": json.dumps(policy)})
        env = json.loads(self.sink.wait("/d", "SubscriptionConfirmation")[0]["body"])
        sns.confirm_subscription(TopicArn=topic, Token=env["Token"])
        # the endpoint is down while we publish: everything stays in the outbox
        self.sink.status_for = lambda path, kind, n: 500
        acked = []
        stop = threading.Event()

        def publisher(k):
            c = sns_client(self.server)
            i = 0
            while not stop.is_set():
                try:
                    acked.append(c.publish(TopicArn=topic, Message="m-%d-%d" % (k, i))["MessageId"])
                except Exception:
                    return
                i += 1

        threads = [threading.Thread(target=publisher, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        # kill once a fair number is acknowledged (bounded: a loaded machine is slow)
        deadline = time.monotonic() + 15
        while len(acked) <= 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.server.kill9()
        stop.set()
        for t in threads:
            t.join(10)
        self.assertGreater(len(acked), 10)
        self.sink.status_for = lambda path, kind, n: 200
        self.server.restart()
        want = set(acked)
        deadline = time.monotonic() + 60
        seen = set()
        while time.monotonic() < deadline and not want <= seen:
            seen = {r["headers"]["x-amz-sns-message-id"] for r in self.sink.posts("/d", "Notification")}
            time.sleep(0.2)
        missing = want - seen
        self.assertFalse(missing, "%d of %d acknowledged publishes never reached the endpoint"
                         % (len(missing), len(want)))


if __name__ == "__main__":
    unittest.main()
