#!/usr/bin/env python3
"""Backlog benchmark (issue 16 item 2): server RAM per queued message, restart
time with a big backlog, and receive+delete throughput draining it.

    python3 bench/backlog.py --bin build/tweedle [--messages 2000000] [--body 1024]
                             [--procs 4] [--port 19555] [--data DIR] [--keep]

Steps: start `tweedle serve` on a fresh data directory; create a standard
queue; read VmRSS (the base); send --messages bodies of --body bytes with
SendMessageBatch (10 entries) from --procs processes, each on its own
keep-alive connection; read VmRSS again -> bytes per queued message; stop
the server (SIGTERM) and start it again on the same data: restart time is
from exec to the first 200 of /_/health, RSS after restart; then drain with
--procs processes looping ReceiveMessage(10) + DeleteMessageBatch until the
queue is empty -> messages per second; RSS at the end.

Requests are signed with SigV4 (JSON 1.0 protocol) by hand: no boto3, so the
client costs little CPU. Prints one line per figure and a JSON summary.
"""
import argparse
import datetime
import hashlib
import hmac
import http.client
import json
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

AK, SK, REGION = "AKIDBACKLOG", "backlogsecret", "us-east-1"


def sign(body, target, port):
    t = datetime.datetime.utcnow()
    amzdate = t.strftime("%Y%m%dT%H%M%SZ")
    day = amzdate[:8]
    ph = hashlib.sha256(body).hexdigest()
    host = "127.0.0.1:%d" % port
    hdrs = {"content-type": "application/x-amz-json-1.0", "host": host,
            "x-amz-date": amzdate, "x-amz-target": target}
    names = sorted(hdrs)
    canon = "POST\n/\n\n" + "".join("%s:%s\n" % (n, hdrs[n]) for n in names) + "\n" + \
        ";".join(names) + "\n" + ph
    scope = "%s/%s/sqs/aws4_request" % (day, REGION)
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (amzdate, scope, hashlib.sha256(canon.encode()).hexdigest())
    k = hmac.new(("AWS4" + SK).encode(), day.encode(), hashlib.sha256).digest()
    for p in (REGION, "sqs", "aws4_request"):
        k = hmac.new(k, p.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    hdrs["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        AK, scope, ";".join(names), sig)
    return hdrs


class Client:
    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, action, payload):
        body = json.dumps(payload).encode()
        for attempt in range(5):
            try:
                self.conn.request("POST", "/", body=body, headers=sign(body, "AmazonSQS." + action, self.port))
                r = self.conn.getresponse()
                data = r.read()
                if r.status != 200:
                    raise RuntimeError("%s: %d %s" % (action, r.status, data[:300]))
                return json.loads(data) if data else {}
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                time.sleep(0.2)
        raise RuntimeError("%s: gave up" % action)


def url(port):
    return "http://127.0.0.1:%d/000000000000/backlog" % port


def sender(port, n, body_size, idx):
    c = Client(port)
    body = ("m%d-" % idx).ljust(body_size, "x")
    sent = 0
    while sent < n:
        k = min(10, n - sent)
        out = c.call("SendMessageBatch", {"QueueUrl": url(port), "Entries": [
            {"Id": str(i), "MessageBody": body} for i in range(k)]})
        if out.get("Failed"):
            raise RuntimeError("failed entries: %s" % out["Failed"][:2])
        sent += k
    return sent


def drainer(port, idx):
    c = Client(port)
    got = 0
    empty = 0
    while empty < 3:
        out = c.call("ReceiveMessage", {"QueueUrl": url(port), "MaxNumberOfMessages": 10,
                                        "VisibilityTimeout": 300})
        msgs = out.get("Messages", [])
        if not msgs:
            empty += 1
            continue
        empty = 0
        for m in msgs:
            if len(m["Body"]) == 0 or hashlib.md5(m["Body"].encode()).hexdigest() != m["MD5OfBody"]:
                raise RuntimeError("bad body/MD5 for %s" % m["MessageId"])
        d = c.call("DeleteMessageBatch", {"QueueUrl": url(port), "Entries": [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]})
        if d.get("Failed"):
            raise RuntimeError("delete failed: %s" % d["Failed"][:2])
        got += len(msgs)
    return got


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def start(binary, port, data, env_extra):
    env = dict(os.environ)
    env.update({"TWEEDLE_ACCESS_KEY_ID": AK, "TWEEDLE_SECRET_ACCESS_KEY": SK})
    env.update(env_extra)
    log = open(os.path.join(data, "..", "server.log"), "ab")
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:%d" % port, "--data", data,
                          "--region", REGION], stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, env=env)
    while True:
        if p.poll() is not None:
            raise RuntimeError("server exited: %d" % p.returncode)
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/_/health")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
        time.sleep(0.02)
    return p, time.monotonic() - t0


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(120)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def count(port):
    out = Client(port).call("GetQueueAttributes", {"QueueUrl": url(port), "AttributeNames": ["All"]})
    a = out["Attributes"]
    return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--messages", type=int, default=2000000)
    ap.add_argument("--body", type=int, default=1024)
    ap.add_argument("--procs", type=int, default=4, help="drain processes (and senders)")
    ap.add_argument("--send-procs", type=int, default=0, help="senders (default: --procs)")
    ap.add_argument("--port", type=int, default=19555)
    ap.add_argument("--data")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    tmp = a.data or tempfile.mkdtemp(prefix="tweedle-backlog-")
    data = os.path.join(tmp, "data")
    os.makedirs(data, exist_ok=True)
    res = {"label": a.label, "bin": a.bin, "messages": a.messages, "body": a.body, "procs": a.procs,
           "send_procs": a.send_procs or a.procs}
    p, t = start(a.bin, a.port, data, {})
    try:
        Client(a.port).call("CreateQueue", {"QueueName": "backlog"})
        time.sleep(1)
        res["rss_base_kb"] = rss_kb(p.pid)
        print("base RSS %d KiB" % res["rss_base_kb"], flush=True)
        # two halves: RSS after the first gives the marginal cost of the second,
        # once the bounded caches (SQLite's page cache: 64 MiB) have filled
        half = a.messages // 2
        sent = 0
        t0 = time.monotonic()
        for part, n in ((1, half), (2, a.messages - half)):
            sp = a.send_procs or a.procs
            per = [n // sp + (1 if i < n % sp else 0) for i in range(sp)]
            with mp.Pool(sp) as pool:
                sent += sum(pool.starmap(sender, [(a.port, per[i], a.body, i) for i in range(sp)]))
            if part == 1:
                time.sleep(2)
                res["rss_half_kb"] = rss_kb(p.pid)
                print("RSS after %d: %d KiB" % (sent, res["rss_half_kb"]), flush=True)
        dt = time.monotonic() - t0
        res["send_s"] = round(dt, 1)
        res["send_msgs_per_s"] = round(sent / dt)
        print("sent %d in %.1f s (%d msgs/s)" % (sent, dt, sent / dt), flush=True)
        time.sleep(2)
        res["rss_full_kb"] = rss_kb(p.pid)
        res["bytes_per_msg"] = round((res["rss_full_kb"] - res["rss_base_kb"]) * 1024 / sent, 1)
        print("RSS with backlog %d KiB: %.1f bytes per queued message beyond the base" % (
            res["rss_full_kb"], res["bytes_per_msg"]), flush=True)
        res["bytes_per_msg_marginal"] = round((res["rss_full_kb"] - res["rss_half_kb"]) * 1024 /
                                              (a.messages - half), 1)
        print("marginal (second half): %.1f bytes per queued message" % res["bytes_per_msg_marginal"],
              flush=True)
        stop(p)
        p, t = start(a.bin, a.port, data, {})
        res["restart_s"] = round(t, 2)
        res["queued_after_restart"] = count(a.port)
        res["rss_restart_kb"] = rss_kb(p.pid)
        print("restart to healthy %.2f s; %d queued; RSS %d KiB" % (
            t, res["queued_after_restart"], res["rss_restart_kb"]), flush=True)
        t0 = time.monotonic()
        with mp.Pool(a.procs) as pool:
            got = sum(pool.starmap(drainer, [(a.port, i) for i in range(a.procs)]))
        dt = time.monotonic() - t0
        res["drained"] = got
        res["drain_s"] = round(dt, 1)
        res["drain_msgs_per_s"] = round(got / dt)
        res["rss_drained_kb"] = rss_kb(p.pid)
        print("drained %d in %.1f s (%d msgs/s); RSS %d KiB" % (got, dt, got / dt,
                                                               res["rss_drained_kb"]), flush=True)
    finally:
        stop(p)
        if not a.keep and not a.data:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
