"""Waits until every record went through has_raw -> size_100 -> size_200 and
checks the pictures: a raw 800x600 PNG and thumbnails whose longest side is
100 and 200 pixels. Exits 0 when all is well."""
import json
import os
import subprocess
import sys
import tempfile
import time

import boto3
from botocore.config import Config

from mutations import BUCKET, raw_key, thumb_key

stocks = sys.argv[1:]
endpoint = os.environ.get("AWS_ENDPOINT_URL")
region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region,
                  config=Config(s3={"addressing_style": "path"}))
sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=region)
queue, dlq = os.environ["QUEUE_URL"], os.environ["DLQ_URL"]


def keys():
    out = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        out.update(o["Key"] for o in page.get("Contents", []))
    return out


def pending(url):
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return sum(int(a[k]) for k in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                   "ApproximateNumberOfMessagesDelayed"))


want = {k for s in stocks for k in (raw_key(s), thumb_key(s, 100), thumb_key(s, 200))}
deadline = time.monotonic() + 90
while time.monotonic() < deadline and not (want <= keys() and pending(queue) == 0):
    time.sleep(0.5)
missing = sorted(want - keys())
if missing or pending(queue):
    sys.exit("FAIL: not finished in time: missing %s, %d messages left" % (missing[:5], pending(queue)))
if pending(dlq):
    sys.exit("FAIL: %d records in the dead-letter queue" % pending(dlq))
with tempfile.TemporaryDirectory() as d:
    for s in stocks:
        for key, box in ((raw_key(s), None), (thumb_key(s, 100), 100), (thumb_key(s, 200), 200)):
            path = os.path.join(d, "img.png")
            s3.download_file(BUCKET, key, path)
            w, hgt = (int(subprocess.run(["vipsheader", "-f", f, path], capture_output=True, check=True,
                                         text=True).stdout) for f in ("width", "height"))
            ok = (w, hgt) == (800, 600) if box is None else max(w, hgt) == box
            if not ok:
                sys.exit("FAIL: %s is %dx%d" % (key, w, hgt))
print(json.dumps({"records": len(stocks), "images": len(want)}))
