#!/usr/bin/env python3
"""RAM per stored item beyond the queue engine (issue 16 item 2): server RSS
before and after N small S3 objects, then after P multipart parts of one
upload, on a fresh data directory.

    python3 bench/items_rss.py --bin build/tweedle [--objects 100000] [--parts 5000]
                               [--threads 16] [--port 19556]

VmRSS from /proc/PID/status; PUTs signed with SigV4 (UNSIGNED-PAYLOAD).
"""
import argparse
import datetime
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import tempfile
import threading
import time

import backlog  # same directory: start/stop/rss_kb

AK, SK, REGION = backlog.AK, backlog.SK, backlog.REGION


def sign_s3(method, path, query, port):
    t = datetime.datetime.utcnow()
    amzdate = t.strftime("%Y%m%dT%H%M%SZ")
    day = amzdate[:8]
    hdrs = {"host": "127.0.0.1:%d" % port, "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
            "x-amz-date": amzdate}
    names = sorted(hdrs)
    canon = "%s\n%s\n%s\n%s\n%s\nUNSIGNED-PAYLOAD" % (
        method, path, query, "".join("%s:%s\n" % (n, hdrs[n]) for n in names), ";".join(names))
    scope = "%s/%s/s3/aws4_request" % (day, REGION)
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (amzdate, scope, hashlib.sha256(canon.encode()).hexdigest())
    k = hmac.new(("AWS4" + SK).encode(), day.encode(), hashlib.sha256).digest()
    for p in (REGION, "s3", "aws4_request"):
        k = hmac.new(k, p.encode(), hashlib.sha256).digest()
    hdrs["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        AK, scope, ";".join(names), hmac.new(k, sts.encode(), hashlib.sha256).hexdigest())
    return hdrs


def req(conn, port, method, path, query="", body=b""):
    conn.request(method, path + ("?" + query if query else ""), body=body,
                 headers=sign_s3(method, path, query, port))
    r = conn.getresponse()
    data = r.read()
    if r.status not in (200, 204):
        raise RuntimeError("%s %s: %d %s" % (method, path, r.status, data[:200]))
    return r, data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--objects", type=int, default=100000)
    ap.add_argument("--parts", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--port", type=int, default=19556)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="tweedle-items-")
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    res = {"objects": a.objects, "parts": a.parts}
    p, _ = backlog.start(a.bin, a.port, data, {})
    try:
        c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
        req(c, a.port, "PUT", "/items")
        time.sleep(1)
        res["rss_base_kb"] = backlog.rss_kb(p.pid)
        body = b"x" * 100

        def put_range(lo, hi):
            cc = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
            for i in range(lo, hi):
                req(cc, a.port, "PUT", "/items/obj-%07d" % i, body=body)

        step = (a.objects + a.threads - 1) // a.threads
        ths = [threading.Thread(target=put_range, args=(i * step, min(a.objects, (i + 1) * step)))
               for i in range(a.threads)]
        t0 = time.monotonic()
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        res["put_s"] = round(time.monotonic() - t0, 1)
        time.sleep(2)
        res["rss_objects_kb"] = backlog.rss_kb(p.pid)
        res["bytes_per_object"] = round((res["rss_objects_kb"] - res["rss_base_kb"]) * 1024 / a.objects, 1)
        print("%d objects: RSS %d -> %d KiB, %.1f bytes per object" % (
            a.objects, res["rss_base_kb"], res["rss_objects_kb"], res["bytes_per_object"]), flush=True)
        c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)  # the old one idled out
        _, x = req(c, a.port, "POST", "/items/big", "uploads=")
        upload = re.search(rb"<UploadId>([^<]+)</UploadId>", x).group(1).decode()
        before = backlog.rss_kb(p.pid)
        part = b"y" * 1024

        def part_range(lo, hi):
            cc = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
            for n in range(lo, hi):
                req(cc, a.port, "PUT", "/items/big", "partNumber=%d&uploadId=%s" % (n, upload), part)

        step = (a.parts + a.threads - 1) // a.threads
        ths = [threading.Thread(target=part_range, args=(1 + i * step, 1 + min(a.parts, (i + 1) * step)))
               for i in range(a.threads)]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        time.sleep(2)
        res["rss_parts_kb"] = backlog.rss_kb(p.pid)
        res["bytes_per_part"] = round((res["rss_parts_kb"] - before) * 1024 / a.parts, 1)
        print("%d parts: RSS %d -> %d KiB, %.1f bytes per part" % (
            a.parts, before, res["rss_parts_kb"], res["bytes_per_part"]), flush=True)
    finally:
        backlog.stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
