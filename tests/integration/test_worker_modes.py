"""tweedle worker beyond --exec: --exec-persistent (one process, a line per
batch, restarted when it dies or times out), the C API (the example program
examples/c-handler built against build/libtweedle-worker.a), --jobs (the
gateway's job API: start, complete with the uploaded output, fail), and the
command line (bad options, a missing queue, no credentials)."""

import json
import os
import urllib.request
import subprocess
import time
import unittest

import harness as h
from test_worker import WorkerTestCase, wait_until

SERVER = None


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


def c_handler():
    return os.path.join(os.path.dirname(os.path.abspath(h.BIN)), "examples", "c-handler")


class PersistentTest(WorkerTestCase):

    def test_one_process_many_batches(self):
        url = self.make_queue("pers")
        bodies = ["p%02d" % i for i in range(30)]
        for i in range(0, 30, 10):
            self.sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i:i + 10])])
        w = self.start(url, "--batch-size", "3", persistent=True)
        self.wait_bodies(lambda b: len(b) >= 30)
        self.wait_empty(url)
        self.stop_ok(w)
        d = self.deliveries()
        self.assertEqual(sorted(x[1] for x in d), bodies)
        self.assertEqual(len({x[4] for x in d}), 1, "one handler process for every batch")
        self.assertGreaterEqual(len({x[5] for x in d}), 10)  # batches of at most 3

    def test_partial_failures_per_line(self):
        url = self.make_queue("persp")
        self.send(url, "ok1", "bad1", "ok2")
        w = self.start(url, "--batch-size", "10", "--batch-window", "1",
                       "--report-batch-item-failures", "--retry-delay", "1", persistent=True)
        wait_until(lambda: any(d[1] == "bad1" and d[2] >= 2 for d in self.deliveries()), 15,
                   what="bad1 redelivered: %r" % (self.deliveries(),))
        self.stop_ok(w)
        self.assertEqual(sorted(d[1] for d in self.deliveries() if d[1] != "bad1"), ["ok1", "ok2"])

    def test_error_answer_fails_the_batch(self):
        url = self.make_queue("perse")
        self.send(url, "ok-e", "error")
        w = self.start(url, "--batch-size", "10", "--batch-window", "1", "--retry-delay", "0",
                       persistent=True)
        wait_until(lambda: any(d[1] == "ok-e" and d[2] >= 2 for d in self.deliveries()), 15,
                   what="ok-e redelivered")
        self.stop_ok(w)
        self.assertIn("handler error: boom", w.log())
        self.assertEqual(len({d[4] for d in self.deliveries()}), 1)  # an answer, not a death

    def test_restarted_after_it_dies(self):
        url = self.make_queue("persd")
        self.send(url, "first")
        w = self.start(url, "--retry-delay", "0", persistent=True)
        self.wait_bodies(lambda b: b == ["first"])
        self.send(url, "dieonce")
        self.wait_bodies(lambda b: b.count("dieonce") == 2)  # failed, then retried
        self.send(url, "after")
        self.wait_bodies(lambda b: "after" in b)
        self.wait_empty(url)
        self.stop_ok(w)
        d = self.deliveries()
        pids = [x[4] for x in d]
        self.assertEqual(pids[0], pids[1], d)  # the same process until it died
        self.assertNotEqual(pids[1], pids[2], d)  # a new one after
        self.assertEqual(pids[2], pids[3], d)
        self.assertIn("will be restarted", w.log())
        self.assertRegex(w.log(), r"slot 0 started handler pid=\d+[\s\S]*slot 0 started handler pid=")

    def test_timeout_restarts_the_process(self):
        url = self.make_queue("perst")
        self.send(url, "sleep:30")
        w = self.start(url, "--timeout", "1", "--kill-grace", "1", "--retry-delay", "60",
                       persistent=True)
        self.wait_bodies(lambda b: b == ["sleep:30"])
        w.wait_log(r"timed out after", 10)
        self.send(url, "next")
        self.wait_bodies(lambda b: "next" in b, 10)
        self.stop_ok(w)
        d = self.deliveries()
        self.assertNotEqual(d[0][4], d[-1][4], d)

    def test_sigterm_stops_the_handler(self):
        url = self.make_queue("perss")
        self.send(url, "x")
        w = self.start(url, persistent=True)
        self.wait_bodies(lambda b: b == ["x"])
        pid = self.deliveries()[0][4]
        self.stop_ok(w, 10)
        wait_until(lambda: not os.path.exists("/proc/%d" % pid) or
                   open("/proc/%d/stat" % pid).read().split()[2] == "Z", 5,
                   what="the persistent handler to exit")


class CApiTest(WorkerTestCase):

    def setUp(self):
        super().setUp()
        if not os.path.exists(c_handler()):
            self.fail("%s is missing: run make" % c_handler())
        self.out = os.path.join(self.tmp, "c.out")

    def c_lines(self):
        try:
            with open(self.out) as f:
                return [l.rstrip("\n").split(" ", 3) for l in f]
        except FileNotFoundError:
            return []

    def start_c(self, url, *args):
        return self.start(url, *args, binary=c_handler(), env={"C_HANDLER_OUT": self.out})

    def test_c_handler_partial_failures(self):
        url = self.make_queue("capi")
        self.send(url, "ok one", MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})
        self.send(url, "fail two", "ok three")
        w = self.start_c(url, "--batch-size", "10", "--batch-window", "1",
                         "--report-batch-item-failures", "--retry-delay", "1")
        wait_until(lambda: any(l[3] == "fail two" and l[1] == "2" for l in self.c_lines()), 15,
                   what="fail two redelivered: %r" % (self.c_lines(),))
        self.stop_ok(w)
        lines = self.c_lines()
        oks = [l for l in lines if l[3].startswith("ok")]
        self.assertEqual(sorted(l[3] for l in oks), ["ok one", "ok three"])
        self.assertEqual([l[2] for l in lines if l[3] == "ok one"], ["1"])  # one attribute
        self.assertEqual(sum(self.counts(url)), 1)
        self.assertRegex(w.log(), r"\] record [0-9a-f-]+: 8 bytes|record [0-9a-f-]+: \d+ bytes")
        self.assertRegex(w.log(), r"in-process handler, batch 10")

    def test_c_handler_whole_batch_failures(self):
        for poison in ("error", "fail-other"):
            with self.subTest(poison=poison):
                url = self.make_queue("capiw")
                self.send(url, "ok-" + poison, poison)
                w = self.start_c(url, "--batch-size", "10", "--batch-window", "1",
                                 "--report-batch-item-failures", "--retry-delay", "0")
                wait_until(lambda: any(l[3] == "ok-" + poison and l[1] == "2" for l in self.c_lines()),
                           15, what="ok-%s redelivered" % poison)
                self.stop_ok(w)
                self.assertRegex(w.log(), "returned 1|not in the batch")

    def test_c_handler_timeout(self):
        url = self.make_queue("capit")
        self.send(url, "sleep 2")
        w = self.start_c(url, "--timeout", "0.5", "--retry-delay", "0")
        wait_until(lambda: [l[1] for l in self.c_lines()] == ["1", "2"], 15,
                   what="a second delivery: %r" % (self.c_lines(),))
        self.stop_ok(w, 15)
        self.assertIn("in-process handler timed out", w.log())

    def test_c_handler_rejects_exec(self):
        r = subprocess.run([c_handler(), "--queue", "q", "--exec", "true"], capture_output=True,
                           timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"unknown or invalid option --exec", r.stderr)


JOB_HANDLER = r'''
import json, os, sys, urllib.request
ev = json.load(sys.stdin)
for r in ev["Records"]:
    job = json.loads(r["body"])
    # the job is already marked running when the handler gets it
    req = urllib.request.Request(os.environ["JOBS_URL"] + "/" + job["id"],
                                 headers={"Authorization": "Bearer " + os.environ["READ_KEY"]})
    status = json.load(urllib.request.urlopen(req, timeout=10))["status"]
    if job["payload"].get("fail"):
        print("cannot do job %s" % job["id"], file=sys.stderr)
        sys.exit(1)
    if job["payload"].get("output", True):
        with open(os.environ["TWEEDLE_JOB_OUTPUT"], "w") as f:
            json.dump({"city": job["payload"]["city"], "status_seen": status,
                       "attribute": r["messageAttributes"]["tweedle.job_id"]["stringValue"]}, f)
'''


class JobsTest(WorkerTestCase):

    def api(self, method, path, body=None, key=None):
        hdrs = {"Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else b""
        if key is None:  # an admin call: SigV4
            r = h.raw_request(self.server, method, path, body=data, headers=hdrs, service="execute-api")
            return r.status, json.loads(r.body or b"null")
        hdrs["Authorization"] = "Bearer " + key
        req = urllib.request.Request(self.server.endpoint + path, data=data if method != "GET" else None,
                                     headers=hdrs, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.load(resp)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def setUp(self):
        super().setUp()
        st, doc = self.api("POST", "/_/api/v1/apikeys", {"name": "worker-test",
                                                         "scopes": [{"actions": ["jobs:*"]}]})
        self.assertIn(st, (200, 201), doc)
        self.key = doc["key"]
        self.job_handler = os.path.join(self.tmp, "job.py")
        with open(self.job_handler, "w") as f:
            f.write(JOB_HANDLER)

    def job(self, jid):
        st, doc = self.api("GET", "/_/api/v1/jobs/" + jid, key=self.key)
        self.assertEqual(st, 200, doc)
        return doc

    def start_jobs_worker(self, *args, api_key=True):
        import sys
        env = {"TWEEDLE_API_KEY": self.key if api_key else None, "READ_KEY": self.key,
               "JOBS_URL": self.server.endpoint + "/_/api/v1/jobs"}
        return self.start(self.server.queue_url("tweedle-jobs"), "--jobs", "--retry-delay", "0",
                          "--exec", "%s %s" % (sys.executable, self.job_handler), *args,
                          env=env, exec_arg=False)

    def test_job_lifecycle_with_output(self):
        st, doc = self.api("POST", "/_/api/v1/jobs", {"type": "weather", "payload": {"city": "Oslo"}},
                           key=self.key)
        self.assertEqual(st, 202, doc)
        jid = doc["id"]
        st, doc2 = self.api("POST", "/_/api/v1/jobs", {"type": "weather",
                                                       "payload": {"city": "Bergen", "output": False}},
                            key=self.key)
        jid2 = doc2["id"]
        w = self.start_jobs_worker()
        done = wait_until(lambda: self.job(jid)["status"] == "succeeded" and
                          self.job(jid2)["status"] == "succeeded" and self.job(jid), 20,
                          what="the jobs to succeed")
        self.stop_ok(w)
        self.assertEqual(done["attempts"], 1)
        res = done["result"]
        self.assertEqual((res["bucket"], res["key"]), ("tweedle-results", "jobs/%s/output" % jid))
        with urllib.request.urlopen(res["url"], timeout=10) as r:
            out = json.load(r)
        self.assertEqual(out, {"city": "Oslo", "status_seen": "running", "attribute": jid})
        # a job without output gets an empty result object
        res2 = self.job(jid2)["result"]
        self.assertEqual(res2["size"], 0)

    def test_jobs_without_api_key_sign_with_aws_credentials(self):
        """No API key: the worker reports with SigV4 and its AWS credentials,
        which the gateway accepts as admin; wrong credentials are refused."""
        st, doc = self.api("POST", "/_/api/v1/jobs", {"type": "weather", "payload": {"city": "Rome"}},
                           key=self.key)
        jid = doc["id"]
        w = self.start_jobs_worker(api_key=False)
        done = wait_until(lambda: self.job(jid)["status"] == "succeeded" and self.job(jid), 20,
                          what="the job to succeed without an API key")
        self.stop_ok(w)
        self.assertEqual(done["attempts"], 1)
        self.assertNotIn("needs an API key", w.log())

    def test_failing_job_ends_failed(self):
        st, doc = self.api("POST", "/_/api/v1/jobs", {"type": "weather", "payload": {"fail": True}},
                           key=self.key)
        jid = doc["id"]
        w = self.start_jobs_worker()
        # three tries (the job queue's maxReceiveCount), then the DLQ
        wait_until(lambda: self.job(jid)["attempts"] == 3 and self.job(jid)["status"] == "failed", 20,
                   what="three failed attempts: %r" % (self.job(jid),))
        self.stop_ok(w)
        j = self.job(jid)
        self.assertIn("exit status 1", j["error"])
        self.assertRegex(w.log(), r"\[handler pid=\d+\] cannot do job " + jid)


class TlsProxy:
    """A TLS-terminating forwarder to the server (a self-signed certificate
    for 127.0.0.1): what an https:// endpoint such as AWS looks like."""

    def __init__(self, server, tmp):
        import socket
        import ssl
        import threading
        self.cert = os.path.join(tmp, "cert.pem")
        keyf = os.path.join(tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", keyf, "-out", self.cert], check=True, capture_output=True,
                       timeout=30)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, keyf)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.closed = False

        def pipe(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
            except OSError:
                pass
            for x in (a, b):
                try:
                    x.close()
                except OSError:
                    pass

        def serve():
            while not self.closed:
                try:
                    c, _ = self.sock.accept()
                except OSError:
                    return
                try:
                    t = ctx.wrap_socket(c, server_side=True)
                except (OSError, ssl.SSLError):
                    c.close()
                    continue
                u = socket.create_connection(("127.0.0.1", server.port))
                threading.Thread(target=pipe, args=(t, u), daemon=True).start()
                threading.Thread(target=pipe, args=(u, t), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()

    def close(self):
        self.closed = True
        self.sock.close()


class TlsTest(WorkerTestCase):

    def test_https_endpoint(self):
        proxy = TlsProxy(self.server, self.tmp)
        self.addCleanup(proxy.close)
        url = self.make_queue("tls")
        name = url.rsplit("/", 1)[1]
        self.send(url, "over-tls")
        ep = "https://127.0.0.1:%d" % proxy.port
        # the certificate is not trusted without AWS_CA_BUNDLE
        r = subprocess.run([h.binary(), "worker", "--queue", name, "--endpoint", ep, "--exec", "true"],
                           capture_output=True, timeout=20,
                           env=dict(os.environ, AWS_ACCESS_KEY_ID=h.ACCESS_KEY,
                                    AWS_SECRET_ACCESS_KEY=h.SECRET_KEY, AWS_REGION=h.REGION))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"certificate verify failed", r.stderr)
        e = {"REC": self.rec, "MARKS": self.marks, "AWS_CA_BUNDLE": proxy.cert,
             "AWS_ENDPOINT_URL_SQS": ep}
        p = subprocess.Popen([h.binary(), "worker", "--queue", name, "--exec", self.handler_cmd(),
                              "--poll-wait", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=dict(os.environ, AWS_ACCESS_KEY_ID=h.ACCESS_KEY,
                                      AWS_SECRET_ACCESS_KEY=h.SECRET_KEY, AWS_REGION=h.REGION, **e))
        try:
            self.wait_bodies(lambda b: b == ["over-tls"])
            self.wait_empty(url)
        finally:
            p.terminate()
            _, err = p.communicate(timeout=15)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn(b"at https://127.0.0.1:%d" % proxy.port, err)


class CommandLineTest(WorkerTestCase):

    def run_worker(self, *args, env=None, timeout=15):
        e = dict(os.environ)
        e.update({"AWS_ACCESS_KEY_ID": h.ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": h.SECRET_KEY,
                  "AWS_REGION": h.REGION})
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        return subprocess.run([h.binary(), "worker"] + list(args), capture_output=True,
                              timeout=timeout, env=e)

    def test_bad_options(self):
        cases = [
            ((), "--queue is required"),
            (("--queue", "q"), "give --exec CMD or --exec-persistent CMD"),
            (("--queue", "q", "--exec", "a", "--exec-persistent", "b"), "once"),
            (("--queue", "q", "--exec", "true", "--batch-size", "11"), "--batch-size must be"),
            (("--queue", "q", "--exec", "true", "--batch-size", "0"), "--batch-size must be"),
            (("--queue", "q", "--exec", "true", "--timeout", "x"), "--timeout must be"),
            (("--queue", "q", "--exec", "true", "--bogus"), "unknown or invalid option --bogus"),
            (("--queue", "q", "--exec"), "--exec needs a value"),
            (("--queue", "q", "--exec", "true", "--jobs", "--batch-size", "5"), "--batch-size 1"),
        ]
        for args, msg in cases:
            with self.subTest(args=args):
                r = self.run_worker(*args, env={"TWEEDLE_API_KEY": None})
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(msg, r.stderr.decode())

    def test_help(self):
        r = self.run_worker("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"--exec-persistent", r.stdout)
        self.assertIn(b"--report-batch-item-failures", r.stdout)

    def test_missing_queue(self):
        r = self.run_worker("--queue", "no-such-queue-xyz", "--endpoint", self.server.endpoint,
                            "--exec", "true")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"QueueDoesNotExist", r.stderr)

    def test_no_credentials(self):
        r = self.run_worker("--queue", "q", "--endpoint", self.server.endpoint, "--exec", "true",
                            env={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None})
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"no credentials", r.stderr)

    def test_wrong_secret(self):
        r = self.run_worker("--queue", "q", "--endpoint", self.server.endpoint, "--exec", "true",
                            env={"AWS_SECRET_ACCESS_KEY": "wrong"})
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"SignatureDoesNotMatch", r.stderr)

    def test_queue_url_and_endpoint_from_environment(self):
        url = self.make_queue("envq")
        self.send(url, "via-url")
        # no --endpoint: the queue URL's host is used; then AWS_ENDPOINT_URL_SQS
        for env in ({}, {"AWS_ENDPOINT_URL_SQS": self.server.endpoint}):
            with self.subTest(env=env):
                e = {"REC": self.rec, "MARKS": self.marks}
                e.update(env)
                args = ["--queue", url if not env else url.rsplit("/", 1)[1], "--exec",
                        self.handler_cmd(), "--poll-wait", "1"]
                p = subprocess.Popen([h.binary(), "worker"] + args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE,
                                     env=dict(os.environ, AWS_ACCESS_KEY_ID=h.ACCESS_KEY,
                                              AWS_SECRET_ACCESS_KEY=h.SECRET_KEY,
                                              AWS_REGION=h.REGION, **e))
                try:
                    self.wait_empty(url)
                finally:
                    p.terminate()
                    p.wait(10)
                self.assertEqual(p.returncode, 0)
                self.send(url, "via-url")
        self.assertEqual(self.bodies(), ["via-url", "via-url"])


if __name__ == "__main__":
    unittest.main()
