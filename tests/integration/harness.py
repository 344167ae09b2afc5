"""Integration-test harness for tweedle's SQS API.

Starts the real binary on a free loopback port with a fresh data directory,
waits for ``GET /_/health``, and stops it with SIGTERM (bounded) or SIGKILL.
Builds boto3 clients pointed at it and sends raw SigV4-signed requests for
wire-level tests.  Works with both boto3 1.43 (SQS JSON 1.0 protocol) and
Debian's boto3 1.26 / botocore 1.29 (SQS query protocol).

Environment:
  TWEEDLE_BIN        path of the binary (default <repo>/build/tweedle)
  TWEEDLE_KEEP_DATA  keep data directories and server logs after the run
  TWEEDLE_TEST_STORE postgres://USER@HOST:PORT/DB: run every server in cluster
                     mode, each on a fresh database created beside DB
                     (tests/cluster/pg.py starts a PostgreSQL); the tests
                     listed in tests/cluster/suites_skip.txt are skipped
                     with the reason written there
  TWEEDLE_TEST_NODES N (with TWEEDLE_TEST_STORE): every Server is N tweedle
                     processes on its one database and one shared --blobs
                     directory; each boto3 client (and each raw request)
                     talks to a node chosen at random, with the first
                     node's Host header, as behind a load balancer
  TWEEDLE_TEST_SEED  the seed of those choices (printed when not given)
  TWEEDLE_TEST_SKIP_FILE  another skip list instead of suites_skip.txt
"""

import atexit
import datetime
import hashlib
import http.client
import json
import fnmatch
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

# Keep a developer's ~/.aws configuration out of the tests.
os.environ.setdefault("AWS_CONFIG_FILE", os.devnull)
os.environ.setdefault("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
for _v in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
    os.environ.pop(_v, None)

import boto3  # noqa: E402
import botocore  # noqa: E402,F401 - version shown by tests
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("TWEEDLE_BIN") or os.path.join(REPO, "build", "tweedle")

ACCESS_KEY = "AKIDTWEEDLETEST"
SECRET_KEY = "secret/tweedle+test"
REGION = "us-east-1"
ACCOUNT = "000000000000"
XMLNS = "http://queue.amazonaws.com/doc/2012-11-05/"
JSON_CT = "application/x-amz-json-1.0"
FORM_CT = "application/x-www-form-urlencoded; charset=utf-8"

_SNAPSHOT = {}


def binary():
    """A private copy of the binary, made once per test run, so that a rebuild
    during the run does not mix two builds (TWEEDLE_BIN_SNAPSHOT=0 disables)."""
    if os.environ.get("TWEEDLE_BIN_SNAPSHOT", "1") == "0":
        return BIN
    if "path" not in _SNAPSHOT:
        d = tempfile.mkdtemp(prefix="tweedle-bin-")
        dst = os.path.join(d, "tweedle")
        shutil.copy2(BIN, dst)
        _SNAPSHOT["path"] = dst
        atexit.register(shutil.rmtree, d, True)
    return _SNAPSHOT["path"]


HEALTH_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


# --------------------------------------------------------------------------
# the server process
# --------------------------------------------------------------------------

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ServerError(Exception):
    pass


def cluster_nodes():
    """Processes per Server: TWEEDLE_TEST_NODES with TWEEDLE_TEST_STORE, else 1."""
    if not os.environ.get("TWEEDLE_TEST_STORE"):
        return 1
    try:
        return max(1, int(os.environ.get("TWEEDLE_TEST_NODES", "1")))
    except ValueError:
        return 1


_RNG = {}


def _rng():
    if "r" not in _RNG:
        seed = os.environ.get("TWEEDLE_TEST_SEED")
        if not seed:
            seed = str(int(time.time() * 1000) % 1000000)
            sys.stderr.write("[harness] %d nodes per server, TWEEDLE_TEST_SEED=%s\n"
                             % (cluster_nodes(), seed))
        _RNG["r"] = random.Random(seed + ":" + str(os.getpid()))
    return _RNG["r"]


# Servers of several nodes by the first node's endpoint: the boto3 clients
# built for that endpoint are spread over the nodes.
_CLUSTERS = {}


def _spread(client, server):
    """Sends every request of this boto3 client to one node of server chosen
    at random now (by index: a node's port may change on restart), with the
    Host header of the endpoint it was built for (what was signed)."""
    idx = server.nodes.index(server.pick())

    def before_send(request, **_):
        if idx == 0 or idx >= len(server.nodes):
            return None
        parts = urllib.parse.urlsplit(request.url)
        node = server.nodes[idx]
        if parts.netloc != "127.0.0.1:%d" % server.port:
            return None
        if not any(k.lower() == "host" for k in request.headers.keys()):
            request.headers["Host"] = parts.netloc
        request.url = urllib.parse.urlunsplit(parts._replace(netloc="127.0.0.1:%d" % node.port))
        return None

    client.meta.events.register("before-send", before_send)
    client._tweedle_node = idx
    return client


def _spread_clients():
    """From the first Server of several nodes on: every boto3 client built
    for such a server's endpoint is spread (_spread)."""
    if getattr(boto3.session.Session.client, "_tweedle_spread", False):
        return
    session_client = boto3.session.Session.client

    def client_on_a_node(self, *args, **kw):
        c = session_client(self, *args, **kw)
        srv = _CLUSTERS.get((kw.get("endpoint_url") or "").rstrip("/"))
        return _spread(c, srv) if srv is not None else c

    client_on_a_node._tweedle_spread = True
    boto3.session.Session.client = client_on_a_node


# --------------------------------------------------------------------------
# tests that cannot pass in cluster mode yet: tests/cluster/suites_skip.txt
# --------------------------------------------------------------------------

def load_cluster_skips(path=None):
    """[(pattern, reason)] of the skip list: one "PATTERN | reason" a line
    (# comments); PATTERN is a test id (module.Class.test), a prefix of one
    ending at a dot, or a glob."""
    path = path or os.environ.get("TWEEDLE_TEST_SKIP_FILE") or \
        os.path.join(REPO, "tests", "cluster", "suites_skip.txt")
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            pat, sep, why = line.partition("|")
            if not sep or not pat.strip() or not why.strip():
                raise ValueError("%s:%d: expected 'PATTERN | reason'" % (path, n))
            out.append((pat.strip(), why.strip()))
    return out


def cluster_skip_reason(test_id, skips):
    for pat, why in skips:
        if test_id == pat or test_id.startswith(pat + ".") or fnmatch.fnmatchcase(test_id, pat):
            return "cluster mode: " + why
    return None


def _skip_listed_tests():
    """Makes unittest's loader skip the listed tests (with their reason):
    a listed test's method is replaced on its instance by a skipped one; a
    class whose every test is listed is skipped whole (no setUpClass), and a
    module whose every test is listed does not start its server."""
    skips = load_cluster_skips()
    load_case = unittest.TestLoader.loadTestsFromTestCase
    load_module = unittest.TestLoader.loadTestsFromModule

    def skipped(reason):
        @unittest.skip(reason)
        def listed():
            pass
        return listed

    def from_case(self, cls):
        suite = load_case(self, cls)
        tests = list(suite)
        whys = [cluster_skip_reason(t.id(), skips) if isinstance(t, unittest.TestCase) else None
                for t in tests]
        for t, why in zip(tests, whys):
            if why:
                setattr(t, t._testMethodName, skipped(why))
        if tests and all(whys) and "__unittest_skip__" not in cls.__dict__:
            cls.__unittest_skip__ = True
            cls.__unittest_skip_why__ = whys[0]
        return suite

    def from_module(self, module, *args, **kw):
        suite = load_module(self, module, *args, **kw)

        def ids(s):
            for t in s:
                if isinstance(t, unittest.TestSuite):
                    yield from ids(t)
                else:
                    yield t.id()
        all_ids = list(ids(suite))
        if all_ids and all(cluster_skip_reason(i, skips) for i in all_ids):
            module.setUpModule = lambda: None
            module.tearDownModule = lambda: None
        return suite

    unittest.TestLoader.loadTestsFromTestCase = from_case
    unittest.TestLoader.loadTestsFromModule = from_module


if os.environ.get("TWEEDLE_TEST_STORE") and not getattr(unittest.TestLoader, "_tweedle_skips", False):
    _skip_listed_tests()
    unittest.TestLoader._tweedle_skips = True


def _test_store(server):
    """A fresh PostgreSQL database for this server (kept across its restarts)."""
    if getattr(server, "_store_url", None):
        return server._store_url
    base = os.environ["TWEEDLE_TEST_STORE"]
    root, _, _ = base.rpartition("/")
    name = "tw_%s" % uuid.uuid4().hex[:16]
    createdb = os.path.join(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"), "createdb")
    subprocess.run([createdb, "--maintenance-db=" + base, name], check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    server._store_url = "%s/%s" % (root, name)
    return server._store_url


class Server:
    """One tweedle process.  ``restart()`` keeps the data directory.

    With TWEEDLE_TEST_NODES=N (and TWEEDLE_TEST_STORE) it is N processes on
    one database and one --blobs directory: this object is the first node
    (``port``, ``endpoint``, ``proc``, ``log_path`` are its), ``peers`` the
    others; start, stop, kill9 and restart act on every node."""

    def __init__(self, data_dir=None, extra_args=(), env=None, port=None):
        self.owns_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="tweedle-it-")
        self.log_path = self.data_dir.rstrip("/") + ".log"
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        self.port = port or free_port()
        self.proc = None
        self._log = None
        self.starts = 0
        self.peers = []
        self._blobs = None

    # -- lifecycle --------------------------------------------------------
    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def queue_url(self, name):
        return "%s/%s/%s" % (self.endpoint, ACCOUNT, name)

    def start(self, timeout=HEALTH_TIMEOUT):
        if not os.path.exists(BIN):
            raise ServerError("tweedle binary not found at %s (set TWEEDLE_BIN or build it)" % BIN)
        env = dict(os.environ)
        env["TWEEDLE_ACCESS_KEY_ID"] = ACCESS_KEY
        env["TWEEDLE_SECRET_ACCESS_KEY"] = SECRET_KEY
        env.update(self.env)
        args = [binary(), "serve", "--listen", "127.0.0.1:%d" % self.port,
                "--data", self.data_dir, "--region", REGION] + self.extra_args
        cluster = os.environ.get("TWEEDLE_TEST_STORE") and "--store" not in self.extra_args
        if cluster:
            args += ["--store", _test_store(self)]
        if cluster and cluster_nodes() > 1:
            if self._blobs is None:
                self._blobs = tempfile.mkdtemp(prefix="tweedle-it-blobs-")
                if not os.environ.get("TWEEDLE_KEEP_DATA"):  # a test that never cleans up
                    atexit.register(shutil.rmtree, self._blobs, True)
                shared = self.extra_args + ["--store", self._store_url, "--blobs", self._blobs]
                if "--sns-base-url" not in shared and "--public-url" not in shared:
                    # SNS links (SigningCertURL, UnsubscribeURL) name the first
                    # node, as they would the load balancer
                    shared += ["--sns-base-url", self.endpoint]
                self.peers = [Server(extra_args=shared, env=self.env)
                              for _ in range(cluster_nodes() - 1)]
            args += ["--blobs", self._blobs]
            _CLUSTERS[self.endpoint] = self
            _spread_clients()
        self._log = open(self.log_path, "ab")
        self._log.write(("\n=== start #%d: %s\n" % (self.starts + 1, " ".join(args))).encode())
        self._log.flush()
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        self.starts += 1
        self.wait_healthy(timeout)
        for p in self.peers:
            if p.alive():
                continue
            try:
                p.start(timeout)
            except ServerError:
                if p.proc is not None:
                    p.kill9()
                p.port = free_port()  # its port may still be held
                p.start(timeout)
        return self

    @property
    def nodes(self):
        return [self] + self.peers

    def pick(self):
        """A node chosen at random (this one when there are no peers)."""
        return _rng().choice(self.nodes) if self.peers else self

    def wait_healthy(self, timeout=HEALTH_TIMEOUT):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError("tweedle exited with %s before becoming healthy\n%s"
                                  % (self.proc.returncode, self.log_tail()))
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/_/health")
                resp = conn.getresponse()
                resp.read()
                conn.close()
                if resp.status == 200:
                    return
                last = "status %d" % resp.status
            except OSError as e:
                last = repr(e)
            time.sleep(0.05)
        self.kill9()
        raise ServerError("tweedle not healthy within %.0fs (%s)\n%s" % (timeout, last, self.log_tail()))

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait up to ``timeout``, then SIGKILL.  Returns (returncode, seconds, killed)."""
        if self.peers:
            t0 = time.monotonic()
            res = [p.stop(timeout) for p in self.peers]
            rc, secs, killed = self._stop_one(timeout)
            return (rc, time.monotonic() - t0, killed or any(r[2] for r in res))
        return self._stop_one(timeout)

    def _stop_one(self, timeout):
        if self.proc is None:
            return (None, 0.0, False)
        t0 = time.monotonic()
        killed = False
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                killed = True
                self.proc.kill()
                self.proc.wait(5)
        rc = self.proc.returncode
        self.proc = None
        self._close_log()
        return (rc, time.monotonic() - t0, killed)

    def kill9(self):
        for p in self.peers:
            p.kill9()
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        rc = self.proc.returncode
        self.proc = None
        self._close_log()
        return rc

    def restart(self, kill=False, timeout=HEALTH_TIMEOUT):
        if kill:
            self.kill9()
        else:
            self.stop()
        try:
            self.start(timeout)
            return self
        except ServerError:
            # The same port may still be held; a new one keeps the test going
            # (queue URLs then carry the new port).
            if self.proc is not None:
                self.kill9()
            self.port = free_port()
            return self.start(timeout)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cleanup(self):
        if self.proc is not None or self.peers:
            self.stop()
        for p in self.peers:
            p.cleanup()
        if self._blobs and not os.environ.get("TWEEDLE_KEEP_DATA"):
            shutil.rmtree(self._blobs, ignore_errors=True)
        _CLUSTERS.pop(self.endpoint, None)
        if os.environ.get("TWEEDLE_KEEP_DATA"):
            sys.stderr.write("[harness] kept %s and %s\n" % (self.data_dir, self.log_path))
            return
        if self.owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            try:
                os.unlink(self.log_path)
            except OSError:
                pass

    def _close_log(self):
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "--- server log (%s), last %d lines ---\n%s" % (self.log_path, n, "\n".join(lines[-n:]))
        except OSError:
            return "(no server log)"

    # -- clients ----------------------------------------------------------
    def client(self, access_key=ACCESS_KEY, secret_key=SECRET_KEY, read_timeout=40, pool=50,
               connect_timeout=5, **cfg):
        session = boto3.session.Session(aws_access_key_id=access_key,
                                        aws_secret_access_key=secret_key,
                                        region_name=REGION)
        config = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                        connect_timeout=connect_timeout, read_timeout=read_timeout,
                        max_pool_connections=pool, **cfg)
        return session.client("sqs", endpoint_url=self.endpoint, config=config)


def protocol_of(client):
    return client.meta.service_model.protocol


# --------------------------------------------------------------------------
# raw signed requests
# --------------------------------------------------------------------------

class FixedDateSigV4(SigV4Auth):
    """SigV4 with a chosen timestamp (for clock-skew tests)."""

    def __init__(self, credentials, service, region, when):
        super().__init__(credentials, service, region)
        self._when = when

    def add_auth(self, request):
        request.context["timestamp"] = self._when.strftime("%Y%m%dT%H%M%SZ")
        self._modify_request_before_signing(request)
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        signature = self.signature(string_to_sign, request)
        self._inject_signature_to_request(request, signature)


class RawResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage: case-insensitive .get()
        self.body = body

    def header(self, name):
        return self.headers.get(name)

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def xml(self):
        return ET.fromstring(self.body)

    def __repr__(self):
        return "<RawResponse %d %r>" % (self.status, self.body[:300])


def raw_request(server, method, path, body=b"", headers=None, sign=True,
                access_key=ACCESS_KEY, secret_key=SECRET_KEY, region=REGION,
                service="sqs", when=None, timeout=40, tamper=None):
    """Send one request with http.client; sign it with SigV4 unless sign=False.

    ``path`` may carry a query string.  ``tamper(headers, body)`` may change
    the request after signing and returns (headers, body)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    url = server.endpoint + path
    hdrs = dict(headers or {})
    if sign:
        req = AWSRequest(method=method, url=url, data=body, headers=hdrs)
        creds = Credentials(access_key, secret_key)
        signer = FixedDateSigV4(creds, service, region, when) if when else SigV4Auth(creds, service, region)
        signer.add_auth(req)
        hdrs = {k: v for k, v in req.headers.items()}
    if tamper is not None:
        hdrs, body = tamper(hdrs, body)
    node = server.pick() if getattr(server, "peers", None) else server
    if node is not server and not any(k.lower() == "host" for k in hdrs):
        hdrs["Host"] = "127.0.0.1:%d" % server.port  # as signed
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=timeout)
    try:
        conn.request(method, path, body=body if (body or method not in ("GET", "HEAD")) else None, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return RawResponse(resp.status, resp.headers, data)
    finally:
        conn.close()


def json_request(server, action, payload=None, path="/", extra_headers=None, raw_body=None, **kw):
    headers = {"Content-Type": JSON_CT, "X-Amz-Target": "AmazonSQS." + action}
    if extra_headers:
        headers.update(extra_headers)
    body = raw_body if raw_body is not None else json.dumps(payload if payload is not None else {})
    return raw_request(server, "POST", path, body=body, headers=headers, **kw)


def query_request(server, action, params=(), path="/", method="POST", version=True, **kw):
    items = [("Action", action)]
    if version:
        items.append(("Version", "2012-11-05"))
    if isinstance(params, dict):
        params = list(params.items())
    items.extend(params)
    qs = urllib.parse.urlencode(items, quote_via=urllib.parse.quote)
    if method == "GET":
        return raw_request(server, "GET", path + "?" + qs, **kw)
    return raw_request(server, "POST", path, body=qs, headers={"Content-Type": FORM_CT}, **kw)


def strip_ns(elem):
    """Copy of an ElementTree element with namespaces removed from tags."""
    for e in elem.iter():
        if isinstance(e.tag, str) and e.tag.startswith("{"):
            e.tag = e.tag.split("}", 1)[1]
    return elem


def xml_error(resp):
    """(Type, Code, Message, RequestId) of a query-protocol ErrorResponse."""
    root = strip_ns(resp.xml())
    if root.tag != "ErrorResponse":
        raise AssertionError("expected <ErrorResponse>, got <%s>: %r" % (root.tag, resp.body[:300]))
    return (root.findtext("Error/Type"), root.findtext("Error/Code"),
            root.findtext("Error/Message"), root.findtext("RequestId"))


def client_error_from_raw(resp, operation):
    """Turn a raw query/JSON error response into a botocore ClientError."""
    ctype = resp.header("Content-Type") or ""
    err = {"Error": {"Code": None, "Message": None}, "ResponseMetadata": {"HTTPStatusCode": resp.status}}
    if "json" in ctype:
        doc = resp.json()
        qe = resp.header("x-amzn-query-error")
        jtype = doc.get("__type", "").rsplit("#", 1)[-1]
        if qe and ";" in qe:
            code, typ = qe.split(";", 1)
            err["Error"].update(Code=code, Type=typ, QueryErrorCode=jtype)
        else:
            err["Error"]["Code"] = jtype
        err["Error"]["Message"] = doc.get("message", doc.get("Message"))
    else:
        typ, code, msg, _ = xml_error(resp)
        err["Error"].update(Code=code, Message=msg, Type=typ)
    return ClientError(err, operation)


# --------------------------------------------------------------------------
# checksums
# --------------------------------------------------------------------------

def md5_hex(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.md5(data).hexdigest()


def _len_prefixed(b):
    return struct.pack(">I", len(b)) + b


def md5_of_attributes(attrs):
    """MD5OfMessageAttributes as SQS computes it (also MD5OfMessageSystemAttributes)."""
    buf = b""
    for name in sorted(attrs):
        a = attrs[name]
        buf += _len_prefixed(name.encode("utf-8"))
        buf += _len_prefixed(a["DataType"].encode("utf-8"))
        if a.get("StringValue") is not None:
            buf += b"\x01" + _len_prefixed(a["StringValue"].encode("utf-8"))
        elif a.get("BinaryValue") is not None:
            v = a["BinaryValue"]
            if isinstance(v, str):
                v = v.encode("utf-8")
            buf += b"\x02" + _len_prefixed(v)
        else:
            raise ValueError("attribute %s has no value" % name)
    return hashlib.md5(buf).hexdigest()


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------

# Legacy (query) error code -> the shape name that JSON puts in __type.
JSON_TYPE = {
    "AWS.SimpleQueueService.NonExistentQueue": "QueueDoesNotExist",
    "QueueAlreadyExists": "QueueNameExists",
    "InvalidParameterValue": "InvalidParameterValueException",
    "MissingParameter": "MissingRequiredParameterException",
    "AWS.SimpleQueueService.BatchEntryIdsNotDistinct": "BatchEntryIdsNotDistinct",
    "AWS.SimpleQueueService.TooManyEntriesInBatchRequest": "TooManyEntriesInBatchRequest",
    "AWS.SimpleQueueService.EmptyBatchRequest": "EmptyBatchRequest",
    "AWS.SimpleQueueService.BatchRequestTooLong": "BatchRequestTooLong",
    "AWS.SimpleQueueService.InvalidBatchEntryId": "InvalidBatchEntryId",
    "AWS.SimpleQueueService.MessageNotInflight": "MessageNotInflight",
    "AWS.SimpleQueueService.PurgeQueueInProgress": "PurgeQueueInProgress",
    "AWS.SimpleQueueService.QueueDeletedRecently": "QueueDeletedRecently",
    "AWS.SimpleQueueService.UnsupportedOperation": "UnsupportedOperation",
    "ReceiptHandleIsInvalid": "ReceiptHandleIsInvalid",
    "InvalidAttributeName": "InvalidAttributeName",
    "InvalidAttributeValue": "InvalidAttributeValue",
    "InvalidMessageContents": "InvalidMessageContents",
    "ResourceNotFoundException": "ResourceNotFoundException",
    "OverLimit": "OverLimit",
}

NONEXISTENT = "AWS.SimpleQueueService.NonExistentQueue"
NONEXISTENT_MESSAGES = ("The specified queue does not exist.",
                        "The specified queue does not exist for this wsdl version.")


# --------------------------------------------------------------------------
# base test case
# --------------------------------------------------------------------------

def unique(prefix="q"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


class SqsTestCase(unittest.TestCase):
    """Base class; the test module provides a module-global ``SERVER``."""

    maxDiff = 4000

    @classmethod
    def module_server(cls):
        srv = getattr(sys.modules[cls.__module__], "SERVER", None)
        if srv is None:
            raise unittest.SkipTest("module server not started")
        return srv

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = cls.module_server()
        cls.sqs = cls.server.client()
        cls.protocol = protocol_of(cls.sqs)

    # -- helpers ----------------------------------------------------------
    @property
    def is_json(self):
        return self.protocol == "json"

    def make_queue(self, prefix="q", attributes=None, fifo=False, tags=None, name=None):
        name = name or unique(prefix)
        attrs = dict(attributes or {})
        if fifo:
            if not name.endswith(".fifo"):
                name += ".fifo"
            attrs.setdefault("FifoQueue", "true")
        kw = {"QueueName": name}
        if attrs:
            kw["Attributes"] = attrs
        if tags:
            kw["tags"] = tags
        url = self.sqs.create_queue(**kw)["QueueUrl"]
        return url

    def arn_of(self, url):
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def attrs(self, url, names=("All",)):
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names)).get("Attributes", {})

    def receive(self, url, **kw):
        kw.setdefault("WaitTimeSeconds", 0)
        return self.sqs.receive_message(QueueUrl=url, **kw).get("Messages", [])

    def receive_all(self, url, expected, timeout=10.0, delete=True, **kw):
        """Receive until ``expected`` messages were seen or ``timeout`` passed."""
        got = []
        deadline = time.monotonic() + timeout
        kw.setdefault("MaxNumberOfMessages", 10)
        while len(got) < expected and time.monotonic() < deadline:
            wait = max(0, min(1, int(deadline - time.monotonic())))
            msgs = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=wait, **kw).get("Messages", [])
            for m in msgs:
                got.append(m)
                if delete:
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return got

    def assertSqsError(self, err, code, status=400, json_type=None, message=None,
                       message_prefix=None, message_re=None, messages=None, sender=True):
        """Check a ClientError against the AWS code/status/message for the protocol in use.

        ``code`` is the legacy query code (the one botocore reports as
        Error.Code for both protocols; for JSON it comes from the
        x-amzn-query-error header).  For JSON the __type shape
        (botocore's QueryErrorCode) is checked too."""
        self.assertIsInstance(err, ClientError)
        r = err.response
        e = r.get("Error", {})
        ctx = "error response: %r" % (r,)
        self.assertEqual(r.get("ResponseMetadata", {}).get("HTTPStatusCode"), status, ctx)
        self.assertEqual(e.get("Code"), code, ctx)
        if self.protocol == "json":
            jt = json_type if json_type is not None else JSON_TYPE.get(code)
            if jt:
                self.assertEqual(e.get("QueryErrorCode"), jt, "JSON __type shape; " + ctx)
        if sender:
            self.assertEqual(e.get("Type"), "Sender", ctx)
        msg = e.get("Message")
        if message is not None:
            self.assertEqual(msg, message, ctx)
        if messages is not None:
            self.assertIn(msg, messages, ctx)
        if message_prefix is not None:
            self.assertTrue(msg is not None and msg.startswith(message_prefix),
                            "message %r does not start with %r" % (msg, message_prefix))
        if message_re is not None:
            self.assertTrue(msg is not None and re.fullmatch(message_re, msg),
                            "message %r does not match %r" % (msg, message_re))

    def assertRaisesSqs(self, fn, code, status=400, **kw):
        with self.assertRaises(ClientError) as cm:
            fn()
        self.assertSqsError(cm.exception, code, status, **kw)
        return cm.exception


class FreshServerTestCase(unittest.TestCase):
    """A new server (fresh data dir) for every test: crash and restart tests."""

    server_args = ()

    def setUp(self):
        self.server = Server(extra_args=self.server_args)
        self.server.start()

    def tearDown(self):
        if self.server.alive():
            self.server.stop()
        self.server.cleanup()


class FaultServerTestCase(unittest.TestCase):
    """A new server per test with the store's test-only fault hook on
    (TWEEDLE_TEST_FAULTS): ``fault("commit-delay-ms", 1500)`` makes every
    commit slow, ``fault("fail-commits", 1)`` fails the next batch,
    ``fault(name, None)`` turns one off.  The files are read before each batch."""

    server_env = {}
    # Background writers that commit on their own (the alarm evaluator's tick,
    # the built-in metrics, the server's log group) would take an injected
    # failure meant for the request under test: quiet them unless a test asks.
    quiet_env = {"TWEEDLE_ALARM_TICK_MS": "100000000", "TWEEDLE_METRICS_INTERVAL": "3600",
                 "TWEEDLE_SERVER_LOG_GROUP": "0", "TWEEDLE_METRICS_TOKEN": "fault-tests"}

    def setUp(self):
        self.faults = tempfile.mkdtemp(prefix="tweedle-faults-")
        env = dict(self.quiet_env)
        env.update(self.server_env)
        env["TWEEDLE_TEST_FAULTS"] = self.faults
        self.server = Server(env=env)
        self.server.start()
        self.wait_store_idle()

    def store_commits(self):
        """Batches the store has committed so far (Prometheus), or None."""
        try:
            r = raw_request(self.server, "GET", "/_/metrics", sign=False,
                            headers={"Authorization": "Bearer fault-tests"})
            m = re.search(rb"^tweedle_store_commit_duration_seconds_count (\d+)", r.body, re.M)
            return int(m.group(1)) if m else None
        except Exception:  # noqa: BLE001 - only a wait
            return None

    def wait_store_idle(self, quiet=0.6, limit=8.0):
        """Waits (bounded) until no batch committed for `quiet` seconds: the
        start-up's own commits are behind us before a fault is armed."""
        deadline = time.monotonic() + limit
        last, since = self.store_commits(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            n = self.store_commits()
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return

    def tearDown(self):
        if self.server.alive():
            self.server.stop()
        self.server.cleanup()
        shutil.rmtree(self.faults, ignore_errors=True)

    def fault(self, name, value):
        path = os.path.join(self.faults, name)
        if value is None:
            if os.path.exists(path):
                os.unlink(path)
            return
        with open(path, "w") as f:
            f.write("%d\n" % value)

    def set_delay(self, ms):
        self.fault("commit-delay-ms", ms)

    def fail_commits(self, n):
        self.fault("fail-commits", n)


def start_module_server(module_name, **kw):
    """Start a server for a test module (call from setUpModule)."""
    mod = sys.modules[module_name]
    srv = Server(**kw)
    try:
        srv.start()
    except Exception:
        srv.cleanup()
        raise
    mod.SERVER = srv
    return srv


def stop_module_server(module_name):
    mod = sys.modules[module_name]
    srv = getattr(mod, "SERVER", None)
    if srv is not None:
        rc, secs, killed = srv.stop()
        srv.cleanup()
        mod.SERVER = None
        if killed:
            raise AssertionError("tweedle did not exit within %.0fs of SIGTERM" % STOP_TIMEOUT)


def run_threads(fns, timeout):
    """Run callables in threads; return (results, errors) lists, bounded by timeout."""
    results = [None] * len(fns)
    errors = [None] * len(fns)

    def wrap(i, fn):
        try:
            results[i] = fn()
        except BaseException as e:  # noqa: BLE001 - reported to the test
            errors[i] = e

    threads = [threading.Thread(target=wrap, args=(i, fn), daemon=True) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    stuck = sum(1 for t in threads if t.is_alive())
    return results, errors, stuck


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
