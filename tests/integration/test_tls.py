"""HTTPS (issue 17 part 1): tweedle serve --tls-cert/--tls-key with a test CA
made here with the openssl CLI.

Real clients over TLS, trusting the test CA: boto3 (SQS, S3, SNS) with
verify=ca.pem, curl --cacert, aws-cli --ca-bundle, the gateway's presigned URLs,
tweedle's own clients (worker, send/receive, apikey) with --ca-bundle. Clients
that do not trust the CA fail with a certificate error. URLs the server hands
out (queue URLs, presigned URLs, S3 Location, SNS SigningCertURL/UnsubscribeURL)
are https. Start-up refuses missing, unreadable, malformed or mismatched files.
SIGHUP swaps the certificate for new connections while an open keep-alive
connection carries on."""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import harness as h

import boto3
from botocore.config import Config
from botocore.exceptions import SSLError

SERIAL1, SERIAL2 = 0x1A01, 0x2B02

PKI = {}  # name -> path


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, **kw)


def make_pki(d):
    """A CA, two server certificates for 127.0.0.1/localhost (serials SERIAL1,
    SERIAL2), one for another name, and a key that belongs to none."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    p = lambda n: os.path.join(d, n)  # noqa: E731
    run(["openssl", "req", "-x509"] + ec + ["-keyout", p("ca.key"), "-out", p("ca.pem"),
         "-days", "2", "-subj", "/CN=tweedle test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"])

    def leaf(name, serial, san):
        ext = p(name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\n"
                    "authorityKeyIdentifier=keyid\n" % san)
        run(["openssl", "req"] + ec + ["-keyout", p(name + ".key"), "-out", p(name + ".csr"),
             "-subj", "/CN=" + name])
        run(["openssl", "x509", "-req", "-in", p(name + ".csr"), "-CA", p("ca.pem"),
             "-CAkey", p("ca.key"), "-set_serial", str(serial), "-days", "2",
             "-out", p(name + ".pem"), "-extfile", ext])
        PKI[name] = p(name + ".pem")
        PKI[name + ".key"] = p(name + ".key")

    leaf("srv1", SERIAL1, "IP:127.0.0.1,DNS:localhost")
    leaf("srv2", SERIAL2, "IP:127.0.0.1,DNS:localhost")
    leaf("other", 77, "DNS:other.example")
    run(["openssl", "genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-out", p("stray.key")])
    PKI["ca"] = p("ca.pem")
    PKI["stray.key"] = p("stray.key")
    with open(p("garbage.pem"), "w") as f:
        f.write("not a certificate\n")
    PKI["garbage"] = p("garbage.pem")


class TlsServer(h.Server):
    """A tweedle serving HTTPS with the certificate and key at cert/key (copies
    in its own directory, so a test may replace them and send SIGHUP)."""

    def __init__(self, cert="srv1", **kw):
        super().__init__(**kw)
        self.cert_path = self.data_dir.rstrip("/") + ".cert.pem"
        self.key_path = self.data_dir.rstrip("/") + ".key.pem"
        shutil.copy(PKI[cert], self.cert_path)
        shutil.copy(PKI[cert + ".key"], self.key_path)
        self.extra_args += ["--tls-cert", self.cert_path, "--tls-key", self.key_path]

    @property
    def endpoint(self):
        return "https://127.0.0.1:%d" % self.port

    def wait_healthy(self, timeout=h.HEALTH_TIMEOUT):
        deadline = time.monotonic() + timeout
        last = None
        ctx = ssl.create_default_context(cafile=PKI["ca"])
        ctx.check_hostname = False  # the certificate may name another host here
        ctx.verify_mode = ssl.CERT_NONE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise h.ServerError("tweedle exited with %s\n%s" % (self.proc.returncode, self.log_tail()))
            try:
                c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=1, context=ctx)
                c.request("GET", "/_/health")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    return
                last = "status %d" % r.status
            except OSError as e:
                last = repr(e)
            time.sleep(0.05)
        self.kill9()
        raise h.ServerError("not healthy (%s)\n%s" % (last, self.log_tail()))

    def cleanup(self):
        super().cleanup()
        for p in (self.cert_path, self.key_path):
            try:
                os.unlink(p)
            except OSError:
                pass

    def boto(self, service, verify=None):
        return boto3.session.Session(aws_access_key_id=h.ACCESS_KEY, aws_secret_access_key=h.SECRET_KEY,
                                     region_name=h.REGION).client(
            service, endpoint_url=self.endpoint, verify=PKI["ca"] if verify is None else verify,
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                          s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=30))


def ctx_ca():
    return ssl.create_default_context(cafile=PKI["ca"])


def peer_serial(conn):
    """The serial of the certificate an open HTTPSConnection got."""
    der = conn.sock.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"], input=der,
                         capture_output=True, check=True).stdout.decode()
    return int(out.strip().split("=")[1], 16)


def tool_env():
    env = dict(os.environ)
    env.update(AWS_ACCESS_KEY_ID=h.ACCESS_KEY, AWS_SECRET_ACCESS_KEY=h.SECRET_KEY,
               AWS_DEFAULT_REGION=h.REGION, AWS_REGION=h.REGION, AWS_MAX_ATTEMPTS="1", AWS_PAGER="")
    for v in ("AWS_CA_BUNDLE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_S3",
              "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        env.pop(v, None)
    return env


def server_side_inode(server_port, client_port):
    """The inode of the server's end of our connection (from /proc/net/tcp)."""
    want = ("0100007F:%04X" % server_port, "0100007F:%04X" % client_port)
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if (parts[1], parts[2]) == want and parts[9] != "0":
                return parts[9]
    return None


def holds_socket(pid, inode):
    target = "socket:[%s]" % inode
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == target:
                return True
        except OSError:
            pass
    return False


def wait_until(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


SERVER = None
TMP = None


def setUpModule():
    global SERVER, TMP
    if not shutil.which("openssl"):
        raise unittest.SkipTest("no openssl command to make a test CA")
    TMP = tempfile.mkdtemp(prefix="tweedle-tls-")
    make_pki(TMP)
    SERVER = TlsServer().start()


def tearDownModule():
    if SERVER:
        SERVER.cleanup()
    if TMP:
        shutil.rmtree(TMP, ignore_errors=True)


class Boto3Test(unittest.TestCase):
    def test_sqs_queue_urls_are_https(self):
        sqs = SERVER.boto("sqs")
        url = sqs.create_queue(QueueName="tls-q")["QueueUrl"]
        self.assertEqual(url, SERVER.endpoint + "/000000000000/tls-q")
        self.assertIn(url, sqs.list_queues(QueueNamePrefix="tls-")["QueueUrls"])
        sqs.send_message(QueueUrl=url, MessageBody="over tls")
        m = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
        self.assertEqual(m[0]["Body"], "over tls")

    def test_s3_objects_and_multipart_location(self):
        s3 = SERVER.boto("s3")
        s3.create_bucket(Bucket="tls-bucket")
        s3.put_object(Bucket="tls-bucket", Key="a.txt", Body=b"x" * 100000)
        self.assertEqual(s3.get_object(Bucket="tls-bucket", Key="a.txt")["Body"].read(), b"x" * 100000)
        up = s3.create_multipart_upload(Bucket="tls-bucket", Key="big")
        part = s3.upload_part(Bucket="tls-bucket", Key="big", UploadId=up["UploadId"], PartNumber=1,
                              Body=b"y" * 1000)
        done = s3.complete_multipart_upload(
            Bucket="tls-bucket", Key="big", UploadId=up["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
        self.assertTrue(done["Location"].startswith(SERVER.endpoint + "/"), done["Location"])
        # a presigned GET made by boto3 for the https endpoint works with the CA
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "tls-bucket", "Key": "a.txt"})
        self.assertTrue(url.startswith("https://"), url)
        with urllib.request.urlopen(url, context=ctx_ca(), timeout=10) as r:
            self.assertEqual(r.read(), b"x" * 100000)

    def test_long_poll_woken_and_large_object_over_tls(self):
        sqs, s3 = SERVER.boto("sqs"), SERVER.boto("s3")
        url = sqs.create_queue(QueueName="tls-lp")["QueueUrl"]
        got = {}

        def poll():
            t0 = time.monotonic()
            got["m"] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=15).get("Messages", [])
            got["t"] = time.monotonic() - t0

        th = threading.Thread(target=poll)
        th.start()
        time.sleep(0.5)
        SERVER.boto("sqs").send_message(QueueUrl=url, MessageBody="wake")
        th.join(20)
        self.assertEqual([m["Body"] for m in got["m"]], ["wake"])
        self.assertLess(got["t"], 5)
        data = os.urandom(6 << 20)
        s3.create_bucket(Bucket="tls-big")
        s3.put_object(Bucket="tls-big", Key="big", Body=data)
        self.assertEqual(s3.get_object(Bucket="tls-big", Key="big")["Body"].read(), data)
        part = s3.get_object(Bucket="tls-big", Key="big", Range="bytes=1000000-1000099")["Body"].read()
        self.assertEqual(part, data[1000000:1000100])

    def test_hung_up_long_poll_is_freed(self):
        """A client that sends close_notify then FIN while its long poll is
        parked: the server frees the connection and the poll takes no message."""
        sqs = SERVER.boto("sqs")
        url = sqs.create_queue(QueueName="tls-hang")["QueueUrl"]
        body = json.dumps({"QueueUrl": url, "WaitTimeSeconds": 20, "VisibilityTimeout": 60}).encode()
        req = h.AWSRequest(method="POST", url=SERVER.endpoint + "/", data=body,
                           headers={"Content-Type": h.JSON_CT, "X-Amz-Target": "AmazonSQS.ReceiveMessage"})
        h.SigV4Auth(h.Credentials(h.ACCESS_KEY, h.SECRET_KEY), "sqs", h.REGION).add_auth(req)
        head = "POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n" % (SERVER.port, len(body))
        head += "".join("%s: %s\r\n" % (k, v) for k, v in req.headers.items()) + "\r\n"
        s = ctx_ca().wrap_socket(socket.create_connection(("127.0.0.1", SERVER.port), timeout=10),
                                 server_hostname="127.0.0.1")
        s.sendall(head.encode() + body)
        pid = SERVER.proc.pid
        inode = wait_until(lambda: server_side_inode(SERVER.port, s.getsockname()[1]), 5)
        self.assertTrue(inode)
        time.sleep(0.5)  # parked
        self.assertTrue(holds_socket(pid, inode))
        s.setblocking(False)
        try:
            s.unwrap()  # sends close_notify; the peer's never comes
        except (ssl.SSLWantReadError, OSError):
            pass
        s.close()
        self.assertTrue(wait_until(lambda: not holds_socket(pid, inode), 5),
                        "the hung-up TLS poll's connection is still open")
        sqs.send_message(QueueUrl=url, MessageBody="for the living")
        time.sleep(0.3)
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        self.assertEqual((a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"]),
                         ("1", "0"), "a vanished client took the message")

    def test_sns_urls_are_https(self):
        sns, sqs = SERVER.boto("sns"), SERVER.boto("sqs")
        q = sqs.create_queue(QueueName="tls-sns-q")["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        topic = sns.create_topic(Name="tls-topic")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
        sns.publish(TopicArn=topic, Message="hi")
        msgs = sqs.receive_message(QueueUrl=q, WaitTimeSeconds=5)["Messages"]
        env = json.loads(msgs[0]["Body"])
        self.assertTrue(env["SigningCertURL"].startswith(SERVER.endpoint + "/_/sns/"), env)
        self.assertTrue(env["UnsubscribeURL"].startswith(SERVER.endpoint + "/?Action=Unsubscribe"), env)
        with urllib.request.urlopen(env["SigningCertURL"], context=ctx_ca(), timeout=10) as r:
            self.assertIn(b"BEGIN CERTIFICATE", r.read())

    def test_client_without_the_ca_fails(self):
        sqs = SERVER.boto("sqs", verify=True)  # the system store: the test CA is not in it
        with self.assertRaises(SSLError) as cm:
            sqs.list_queues()
        self.assertIn("CERTIFICATE_VERIFY_FAILED", str(cm.exception))
        with self.assertRaises(ssl.SSLCertVerificationError):
            c = http.client.HTTPSConnection("127.0.0.1", SERVER.port, timeout=5,
                                            context=ssl.create_default_context())
            c.request("GET", "/_/health")

    def test_plain_http_on_the_tls_port_gets_no_answer(self):
        c = http.client.HTTPConnection("127.0.0.1", SERVER.port, timeout=5)
        with self.assertRaises((OSError, http.client.HTTPException)):
            c.request("GET", "/_/health")
            r = c.getresponse()
            r.read()
            if r.status == 200:
                self.fail("plain HTTP answered on the HTTPS port")
            raise OSError("status %d" % r.status)


class CurlAndCliTest(unittest.TestCase):
    def test_curl_cacert(self):
        ok = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", PKI["ca"],
                             SERVER.endpoint + "/_/health"], capture_output=True)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertEqual(json.loads(ok.stdout), {"status": "ok"})
        # localhost is in the certificate too
        ok = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", PKI["ca"],
                             "https://localhost:%d/_/health" % SERVER.port], capture_output=True)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        bad = subprocess.run(["curl", "-sS", "--max-time", "10", SERVER.endpoint + "/_/health"],
                             capture_output=True, env=tool_env())
        self.assertEqual(bad.returncode, 60, bad.stderr)  # CURLE_PEER_FAILED_VERIFICATION

    @unittest.skipUnless(shutil.which("aws"), "no aws-cli")
    def test_aws_cli_ca_bundle(self):
        cmd = ["aws", "--endpoint-url", SERVER.endpoint, "sqs", "create-queue", "--queue-name",
               "tls-cli", "--query", "QueueUrl", "--output", "text"]
        ok = subprocess.run(cmd + ["--ca-bundle", PKI["ca"]], capture_output=True, env=tool_env(),
                            timeout=60)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertEqual(ok.stdout.decode().strip(), SERVER.endpoint + "/000000000000/tls-cli")
        ok = subprocess.run(["aws", "--endpoint-url", SERVER.endpoint, "--ca-bundle", PKI["ca"], "s3",
                             "ls"], capture_output=True, env=tool_env(), timeout=60)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        bad = subprocess.run(cmd, capture_output=True, env=tool_env(), timeout=60)
        self.assertNotEqual(bad.returncode, 0)
        self.assertRegex(bad.stderr.decode(), r"(?i)ssl|certificate")


JS_DIR = os.path.join(h.REPO, "tests", "js")
JS_CHECK = r"""
import { SQSClient, CreateQueueCommand, SendMessageCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand } from "@aws-sdk/client-s3";
const cfg = { endpoint: process.env.EP, region: "us-east-1", maxAttempts: 1,
  credentials: { accessKeyId: process.env.AK, secretAccessKey: process.env.SK } };
try {
  const sqs = new SQSClient(cfg);
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: "tls-js" }));
  await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "from js" }));
  const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 2 }));
  const s3 = new S3Client({ ...cfg, forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: "tls-js" }));
  await s3.send(new PutObjectCommand({ Bucket: "tls-js", Key: "k", Body: "js body" }));
  const o = await s3.send(new GetObjectCommand({ Bucket: "tls-js", Key: "k" }));
  console.log(JSON.stringify({ QueueUrl, body: r.Messages[0].Body, object: await o.Body.transformToString() }));
} catch (e) {
  console.log(JSON.stringify({ error: String(e.code || e.name), message: String(e.message) }));
}
"""


@unittest.skipUnless(shutil.which("node") and os.path.isdir(os.path.join(JS_DIR, "node_modules", "@aws-sdk", "client-sqs")),
                     "node or the JS SDK (tests/js: npm ci) missing")
class JsSdkTest(unittest.TestCase):
    def js(self, extra_env):
        env = dict(tool_env(), EP=SERVER.endpoint, AK=h.ACCESS_KEY, SK=h.SECRET_KEY)
        env.pop("NODE_EXTRA_CA_CERTS", None)
        env.update(extra_env)
        r = subprocess.run(["node", "--input-type=module", "-e", JS_CHECK], cwd=JS_DIR, env=env,
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout.decode().strip().splitlines()[-1])

    def test_js_sdk_with_node_extra_ca_certs(self):
        out = self.js({"NODE_EXTRA_CA_CERTS": PKI["ca"]})
        self.assertEqual(out, {"QueueUrl": SERVER.endpoint + "/000000000000/tls-js", "body": "from js",
                               "object": "js body"})
        out = self.js({})
        self.assertIn("error", out)
        self.assertRegex(out["error"] + out["message"], "(?i)certificate|UNABLE_TO_VERIFY")


def tw(args, timeout=60, **kw):
    return subprocess.run([h.binary()] + args, capture_output=True, env=tool_env(), timeout=timeout, **kw)


class TweedleClientsTest(unittest.TestCase):
    def test_send_receive_ca_bundle(self):
        ep = ["--endpoint", SERVER.endpoint]
        SERVER.boto("sqs").create_queue(QueueName="tls-send")
        r = tw(["send", "--queue", "tls-send", "--body", "hello"] + ep + ["--ca-bundle", PKI["ca"]])
        self.assertEqual(r.returncode, 0, r.stderr)
        r = tw(["receive", "--queue", "tls-send", "--wait", "2", "--delete"] + ep + ["--ca-bundle", PKI["ca"]])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout.decode().splitlines()[0])["Body"], "hello")
        # AWS_CA_BUNDLE does the same
        env = tool_env()
        env["AWS_CA_BUNDLE"] = PKI["ca"]
        r = subprocess.run([h.binary(), "send", "--queue", "tls-send", "--body", "b"] + ep,
                           capture_output=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        # without the CA: a clear certificate error, never a silent success
        r = tw(["send", "--queue", "tls-send", "--body", "c"] + ep)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("certificate verify failed", r.stderr.decode())
        self.assertIn("--ca-bundle", r.stderr.decode())
        r = tw(["send", "--queue", "tls-send", "--body", "c", "--ca-bundle", "/nonexistent.pem"] + ep)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("/nonexistent.pem", r.stderr.decode())

    def test_apikey_cli_and_presigned_urls(self):
        SERVER.boto("s3").create_bucket(Bucket="tls-presign")
        r = tw(["apikey", "create", "--name", "tls", "--scope", "presign:put", "--scope", "presign:get",
                "--bucket", "tls-presign", "--endpoint", SERVER.endpoint, "--ca-bundle", PKI["ca"]])
        self.assertEqual(r.returncode, 0, r.stderr)
        key = json.loads(r.stdout)["key"]
        r = tw(["apikey", "list", "--endpoint", SERVER.endpoint])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("certificate verify failed", r.stderr.decode())

        def api(body):
            req = urllib.request.Request(SERVER.endpoint + "/_/api/v1/presign", data=json.dumps(body).encode(),
                                         headers={"Authorization": "Bearer " + key,
                                                  "Content-Type": "application/json"}, method="POST")
            with urllib.request.urlopen(req, context=ctx_ca(), timeout=10) as resp:
                return json.loads(resp.read())

        p = api({"method": "PUT", "key": "up/a.bin", "content_type": "application/octet-stream",
                 "content_length": 5})
        self.assertTrue(p["url"].startswith(SERVER.endpoint + "/"), p)
        req = urllib.request.Request(p["url"], data=b"hello", headers=p["headers"], method="PUT")
        with urllib.request.urlopen(req, context=ctx_ca(), timeout=10) as resp:
            self.assertEqual(resp.status, 200)
        g = api({"method": "GET", "key": "up/a.bin"})
        self.assertTrue(g["url"].startswith("https://"), g)
        st = subprocess.run(["curl", "-sS", "--cacert", PKI["ca"], g["url"]], capture_output=True)
        self.assertEqual(st.stdout, b"hello", st.stderr)

    def test_worker_ca_bundle(self):
        sqs = SERVER.boto("sqs")
        url = sqs.create_queue(QueueName="tls-worker")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="work over tls")
        out = os.path.join(TMP, "worker-out.json")
        handler = "cat > %s" % out
        w = subprocess.Popen([h.binary(), "worker", "--queue", "tls-worker", "--endpoint", SERVER.endpoint,
                              "--ca-bundle", PKI["ca"], "--exec", handler, "--poll-wait", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=tool_env())
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not os.path.exists(out):
                time.sleep(0.1)
            time.sleep(0.3)
            with open(out) as f:
                ev = json.load(f)
            self.assertEqual(ev["Records"][0]["body"], "work over tls")
            # deleted after success
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
                if a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0":
                    break
                time.sleep(0.2)
            self.assertEqual(a["ApproximateNumberOfMessagesNotVisible"], "0", a)
        finally:
            w.send_signal(signal.SIGTERM)
            w.communicate(timeout=30)
        # without the CA the worker says why and does not consume
        sqs.send_message(QueueUrl=url, MessageBody="never")
        w = subprocess.Popen([h.binary(), "worker", "--queue", "tls-worker", "--endpoint", SERVER.endpoint,
                              "--exec", "cat >/dev/null", "--poll-wait", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=tool_env())
        try:
            _, err = w.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            w.send_signal(signal.SIGTERM)
            _, err = w.communicate(timeout=30)
        self.assertIn("certificate verify failed", err.decode(), err.decode()[-2000:])
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        self.assertEqual(a["ApproximateNumberOfMessages"], "1", a)

    def test_hostname_is_verified(self):
        s = TlsServer(cert="other").start()  # a certificate for other.example, from the trusted CA
        try:
            r = tw(["send", "--queue", "x", "--body", "b", "--endpoint", s.endpoint, "--ca-bundle", PKI["ca"]])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("certificate verify failed", r.stderr.decode())
            self.assertRegex(r.stderr.decode(), "(?i)mismatch")
            bad = subprocess.run(["curl", "-sS", "--cacert", PKI["ca"], s.endpoint + "/_/health"],
                                 capture_output=True)
            self.assertNotEqual(bad.returncode, 0)
        finally:
            s.cleanup()


class StartupErrorsTest(unittest.TestCase):
    def serve(self, *args):
        d = tempfile.mkdtemp(prefix="tweedle-it-")
        try:
            return subprocess.run([h.binary(), "serve", "--listen", "127.0.0.1:%d" % h.free_port(),
                                   "--data", d] + list(args), capture_output=True, timeout=30,
                                  env=dict(tool_env(), TWEEDLE_ACCESS_KEY_ID=h.ACCESS_KEY,
                                           TWEEDLE_SECRET_ACCESS_KEY=h.SECRET_KEY))
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def assertRefused(self, args, *needles):
        r = self.serve(*args)
        self.assertNotEqual(r.returncode, 0, r.stderr)
        err = r.stderr.decode()
        for n in needles:
            self.assertIn(n, err)

    def test_refusals(self):
        self.assertRefused(["--tls-cert", PKI["srv1"]], "needs both --tls-cert and --tls-key")
        self.assertRefused(["--tls-cert", "/no/such.pem", "--tls-key", PKI["srv1.key"]],
                           "/no/such.pem", "No such file")
        self.assertRefused(["--tls-cert", PKI["srv1"], "--tls-key", PKI["stray.key"]],
                           "does not belong to the certificate")
        self.assertRefused(["--tls-cert", PKI["garbage"], "--tls-key", PKI["srv1.key"]],
                           "no PEM certificate")
        self.assertRefused(["--tls-cert", PKI["srv1"], "--tls-key", PKI["garbage"]],
                           "no unencrypted PEM private key")
        if os.geteuid() != 0:  # root reads anything
            unreadable = os.path.join(TMP, "unreadable.pem")
            shutil.copy(PKI["srv1"], unreadable)
            os.chmod(unreadable, 0)
            self.assertRefused(["--tls-cert", unreadable, "--tls-key", PKI["srv1.key"]], "Permission denied")

    def test_env_and_ready_line(self):
        port = h.free_port()
        d = tempfile.mkdtemp(prefix="tweedle-it-")
        env = dict(tool_env(), TWEEDLE_ACCESS_KEY_ID=h.ACCESS_KEY, TWEEDLE_SECRET_ACCESS_KEY=h.SECRET_KEY,
                   TWEEDLE_TLS_CERT=PKI["srv1"], TWEEDLE_TLS_KEY=PKI["srv1.key"])
        p = subprocess.Popen([h.binary(), "serve", "--listen", "127.0.0.1:%d" % port, "--data", d],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        try:
            lines = []
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                line = p.stderr.readline().decode()
                lines.append(line)
                if "listening on" in line or not line:
                    break
            text = "".join(lines)
            self.assertIn("endpoint  https://127.0.0.1:%d" % port, text)
            self.assertIn("over HTTPS", text)
            self.assertIn("serial %x" % SERIAL1, text)
        finally:
            p.send_signal(signal.SIGTERM)
            p.communicate(timeout=20)
            shutil.rmtree(d, ignore_errors=True)


class ReloadTest(unittest.TestCase):
    def wait_log(self, s, needle, count, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(s.log_path, "rb") as f:
                if f.read().decode("utf-8", "replace").count(needle) >= count:
                    return
            time.sleep(0.05)
        self.fail("no %r in the log\n%s" % (needle, s.log_tail()))

    def test_sighup_swaps_the_certificate(self):
        s = TlsServer(cert="srv1").start()
        try:
            old = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=10, context=ctx_ca())
            old.request("GET", "/_/health")
            self.assertEqual(old.getresponse().read(), b'{"status":"ok"}')
            self.assertEqual(peer_serial(old), SERIAL1)
            # a bad pair: refused, the old certificate stays
            shutil.copy(PKI["stray.key"], s.key_path)
            s.proc.send_signal(signal.SIGHUP)
            self.wait_log(s, "not reloaded", 1)
            self.assertTrue(s.alive())
            c = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=10, context=ctx_ca())
            c.request("GET", "/_/health")
            c.getresponse().read()
            self.assertEqual(peer_serial(c), SERIAL1)
            c.close()
            # the new pair
            shutil.copy(PKI["srv2"], s.cert_path)
            shutil.copy(PKI["srv2.key"], s.key_path)
            s.proc.send_signal(signal.SIGHUP)
            self.wait_log(s, "TLS certificate reloaded", 1)
            c = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=10, context=ctx_ca())
            c.request("GET", "/_/health")
            self.assertEqual(c.getresponse().read(), b'{"status":"ok"}')
            self.assertEqual(peer_serial(c), SERIAL2)
            c.close()
            # the connection opened before the reload is still served, on the old certificate
            sock = old.sock
            old.request("GET", "/_/health")
            self.assertEqual(old.getresponse().read(), b'{"status":"ok"}')
            self.assertIs(old.sock, sock, "the keep-alive connection was reopened")
            self.assertEqual(peer_serial(old), SERIAL1)
            old.close()
            self.assertTrue(s.alive())
        finally:
            s.cleanup()

    def test_sighup_without_tls_still_stops(self):
        s = h.Server().start()
        try:
            s.proc.send_signal(signal.SIGHUP)
            s.proc.wait(15)
            self.assertEqual(s.proc.returncode, 0)
        finally:
            s.cleanup()


if __name__ == "__main__":
    unittest.main()
