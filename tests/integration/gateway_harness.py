"""Helpers for the gateway tests (test_gateway_*.py): requests to
/_/api/v1/ signed with SigV4 (admin) or carrying a bearer token, API keys,
presigned URLs used with curl, and ``GatewayTestCase.assertGwError`` for the
gateway's JSON errors ``{"error": {"code", "message"}}``.
"""

import json
import subprocess
import sys
import tempfile
import os
import time
import unittest

import harness as h
from harness import ACCESS_KEY, SECRET_KEY, REGION  # noqa: F401

API = "/_/api/v1"


def admin(server, method, path, body=None, query="", service="execute-api", **kw):
    """A SigV4-signed (admin) request to API + path."""
    data = b"" if body is None else (body if isinstance(body, (bytes, str)) else json.dumps(body))
    headers = {"Content-Type": "application/json"} if body is not None else {}
    return h.raw_request(server, method, API + path + (("?" + query) if query else ""), body=data,
                         headers=headers, service=service, **kw)


def bearer(server, method, path, token, body=None, headers=None, timeout=40):
    """A request with ``Authorization: Bearer token`` (token None: no header)."""
    data = b"" if body is None else (body if isinstance(body, (bytes, str)) else json.dumps(body))
    hdrs = {"Content-Type": "application/json"} if body is not None else {}
    if token is not None:
        hdrs["Authorization"] = "Bearer " + token
    hdrs.update(headers or {})
    return h.raw_request(server, method, API + path, body=data, headers=hdrs, sign=False, timeout=timeout)


def create_key(server, name="k", scopes=None, **fields):
    body = {"name": name, "scopes": scopes if scopes is not None else
            [{"actions": ["presign:put", "presign:get"]}]}
    body.update(fields)
    r = admin(server, "POST", "/apikeys", body)
    if r.status != 201:
        raise AssertionError("create key failed: %r" % (r,))
    return r.json()


def presign(server, token, **fields):
    return bearer(server, "POST", "/presign", token, fields)


def curl(args, data=None, timeout=30):
    """Runs curl -s; returns (status, body bytes, headers text)."""
    with tempfile.NamedTemporaryFile(delete=False) as hf:
        hpath = hf.name
    try:
        cmd = ["curl", "-s", "-S", "--max-time", str(timeout), "-D", hpath, "-o", "-"] + list(args)
        p = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout + 5)
        with open(hpath, "rb") as f:
            head = f.read().decode("latin-1")
    finally:
        os.unlink(hpath)
    if p.returncode != 0:
        raise AssertionError("curl failed (%d): %s" % (p.returncode, p.stderr.decode()))
    # the last status line (after 100 Continue)
    status = 0
    for line in head.splitlines():
        if line.startswith("HTTP/"):
            status = int(line.split()[1])
    return status, p.stdout, head


def curl_put(url, payload, headers=()):
    """PUT payload (bytes) to url with curl, as a file upload."""
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(payload)
        path = f.name
    try:
        args = ["-T", path]
        for k, v in headers:
            args += ["-H", "%s: %s" % (k, v)]
        return curl(args + [url])
    finally:
        os.unlink(path)


def s3_error_code(body):
    import xml.etree.ElementTree as ET
    root = ET.fromstring(body)
    return root.findtext("Code"), root.findtext("Message")


def wait_for(fn, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


class GatewayTestCase(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        srv = getattr(sys.modules[cls.__module__], "SERVER", None)
        if srv is None:
            raise unittest.SkipTest("module server not started")
        cls.server = srv

    def assertGwError(self, resp, status, code, message=None, contains=None):
        ctx = "response: %d %r" % (resp.status, resp.body[:600])
        self.assertEqual(resp.status, status, ctx)
        self.assertIn("application/json", resp.header("Content-Type") or "", ctx)
        doc = resp.json()
        self.assertEqual(set(doc), {"error"}, ctx)
        self.assertEqual(set(doc["error"]), {"code", "message"}, ctx)
        self.assertEqual(doc["error"]["code"], code, ctx)
        if message is not None:
            self.assertEqual(doc["error"]["message"], message, ctx)
        if contains is not None:
            self.assertIn(contains, doc["error"]["message"], ctx)
        return doc["error"]["message"]

    def assertStatus(self, resp, status):
        self.assertEqual(resp.status, status, "response: %d %r" % (resp.status, resp.body[:600]))
