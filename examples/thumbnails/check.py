"""Drives the thumbnail system end to end and checks what the seed promises:
  1. the email subscription is confirmed through the link in its mail;
  2. every uploaded JPEG/PNG yields a 64x64 PNG whose presigned URL, found in
     the notification mail, downloads it; the queue subscriber gets each too;
  3. a corrupt image goes to practiceDLQ after three receives and no mail is
     sent for it;
  4. the thumbnails expire by the bucket's lifecycle.
    python3 check.py SETUP_JSON MAIL_DIR N_IMAGES"""
import email
import glob
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import boto3
from botocore.config import Config

cfg = json.loads(sys.argv[1])
MAIL_DIR, N = sys.argv[2], int(sys.argv[3])
endpoint = os.environ.get("AWS_ENDPOINT_URL")
region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region, config=Config(s3={"addressing_style": "path"}))
sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=region)
sns = boto3.client("sns", endpoint_url=endpoint, region_name=region)


def fail(msg):
    print("FAIL thumbnails: " + msg)
    sys.exit(1)


def wait(what, fn, timeout):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    fail("timed out after %d s waiting for %s" % (timeout, what))


def mails():
    out = []
    for path in sorted(glob.glob(os.path.join(MAIL_DIR, "*.eml"))):
        with open(path, "rb") as f:
            m = email.message_from_binary_file(f)
        parts = [p for p in m.walk() if not p.is_multipart()]
        body = "".join((p.get_payload(decode=True) or b"").decode("utf-8", "replace") for p in parts)
        out.append((m.get("Subject", ""), body))
    return out


# 1. confirm the email subscription with the link its mail carries
def confirmation():
    for subject, body in mails():
        m = re.search(r"(https?://\S*Action=ConfirmSubscription\S*)", body)
        if m:
            return m.group(1).rstrip(".>)\"'")
    return None


link = wait("the subscription confirmation mail", confirmation, 30)
with urllib.request.urlopen(link, timeout=10) as r:
    if r.status != 200:
        fail("confirming through %s answered %d" % (link, r.status))
subs = sns.list_subscriptions_by_topic(TopicArn=cfg["topic_arn"])["Subscriptions"]
if any(s["SubscriptionArn"] == "PendingConfirmation" for s in subs):
    fail("the email subscription is still pending after its link was followed: %r" % subs)
before = len(mails())

# 2. real images (JPEG and PNG, 1280x720) and one that is not an image
work = tempfile.mkdtemp()
images = []
for i in range(N):
    ext = "jpg" if i % 2 == 0 else "png"
    raw = os.path.join(work, "raw%d.v" % i)
    subprocess.run(["vips", "perlin", raw, "1280", "720", "--cell-size", str(64 + 16 * i)], check=True)
    path = os.path.join(work, "hd-%d.%s" % (i, ext))
    subprocess.run(["vips", "linear", raw, path + "[Q=85]" if ext == "jpg" else path, "128", "128", "--uchar"],
                   check=True)
    key = "uploads/hd-%d.%s" % (i, ext)
    s3.upload_file(path, cfg["hd_bucket"], key)
    images.append(key)
s3.put_object(Bucket=cfg["hd_bucket"], Key="uploads/corrupt.jpg", Body=b"\xff\xd8\xff\xe0 this is not a JPEG")


def notices():
    got = {}
    for subject, body in mails()[before:]:
        m = re.search(r"\{.*\"thumbnail_url\".*\}", body, re.S)
        if m:
            doc = json.loads(m.group(0))
            got[doc["image"]] = doc["thumbnail_url"]
    return got if len(got) >= N else None


got = wait("%d notification mails" % N, notices, 120)
for key in images:
    url = got.get("s3://%s/%s" % (cfg["hd_bucket"], key))
    if not url:
        fail("no mail for %s (mails for %s)" % (key, sorted(got)))
    with urllib.request.urlopen(url, timeout=10) as r:
        png = r.read()
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        fail("%s: the thumbnail is not a PNG" % key)
    w, h = struct.unpack(">II", png[16:24])
    if (w, h) != (64, 64):
        fail("%s: the thumbnail is %dx%d, not 64x64" % (key, w, h))
if any("corrupt" in img for img in got):
    fail("a mail was sent for the corrupt image")

# the queue subscriber got every notice too, in SNS's envelope
feed = {}
end = time.time() + 30
while len(feed) < N and time.time() < end:
    for m in sqs.receive_message(QueueUrl=cfg["feed_url"], MaxNumberOfMessages=10,
                                 WaitTimeSeconds=1).get("Messages", []):
        env = json.loads(m["Body"])
        if env.get("Type") != "Notification" or env.get("TopicArn") != cfg["topic_arn"]:
            fail("the queue subscriber got %r" % env)
        feed[json.loads(env["Message"])["image"]] = True
        sqs.delete_message(QueueUrl=cfg["feed_url"], ReceiptHandle=m["ReceiptHandle"])
if len(feed) != N:
    fail("the queue subscriber got %d of %d notices" % (len(feed), N))

# 3. the corrupt image: three receives, then the dead-letter queue
def dead():
    ms = sqs.receive_message(QueueUrl=cfg["dlq_url"], MaxNumberOfMessages=10, WaitTimeSeconds=1,
                             AttributeNames=["All"]).get("Messages", [])
    return ms or None


dl = wait("the corrupt image in practiceDLQ", dead, 90)
ev = json.loads(dl[0]["Body"])
if ev["detail"]["object"]["key"] != "uploads/corrupt.jpg" or ev["detail-type"] != "Object Created":
    fail("practiceDLQ holds %r" % ev)
# the handler tried it three times (maxReceiveCount), no more
log = os.environ.get("WORKER_LOG")
if log:
    with open(log, errors="replace") as f:
        tries = f.read().count("cannot make a thumbnail of s3://%s/uploads/corrupt.jpg" % cfg["hd_bucket"])
    if tries != 3:
        fail("the corrupt image was tried %d times before the dead-letter queue, not 3" % tries)
time.sleep(1)
if any("corrupt" in body for _, body in mails()[before:]):
    fail("a mail mentions the corrupt image")

# 4. the thumbnails expire by lifecycle
def expired():
    return "Contents" not in s3.list_objects_v2(Bucket=cfg["thumb_bucket"], Prefix="thumbs/")


wait("the thumbnails to expire by lifecycle", expired, 60)
try:
    urllib.request.urlopen(next(iter(got.values())), timeout=10)
    fail("an expired thumbnail still downloads")
except urllib.error.HTTPError as e:
    if e.code != 404:
        fail("an expired thumbnail answered %d" % e.code)
print("PASS thumbnails: %d images -> 64x64 PNGs, mailed with working presigned URLs and queued; "
      "the corrupt one dead-lettered after 3 receives with no mail; thumbnails expired by lifecycle" % N)
