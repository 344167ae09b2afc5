"""The consumer of S0: long-polls the queue for ObjectCreated events, downloads
each new object through a presigned GET (plain HTTP, no credentials), checks its
bytes against the sha256 the producer put in the name, and deletes the message.
Stops after EXPECT objects or when the queue stays empty for IDLE seconds."""
import hashlib
import json
import os
import sys
import urllib.parse
import urllib.request

import boto3

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from presign import presign  # noqa: E402  (the API's presign, in-process)

queue_url = sys.argv[1]
expect = int(os.environ.get("EXPECT", "100"))
idle_limit = int(os.environ.get("IDLE", "10"))
sqs = boto3.client("sqs", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
                   region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
seen, idle, bad = set(), 0, 0
while len(seen) < expect and idle < idle_limit:
    msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    if not msgs:
        idle += 1
        continue
    idle = 0
    for m in msgs:
        body = json.loads(m["Body"])
        for rec in body.get("Records", []):  # an s3:TestEvent has no Records
            bucket = rec["s3"]["bucket"]["name"]
            key = urllib.parse.unquote_plus(rec["s3"]["object"]["key"])
            url = presign("get", bucket, key)
            data = urllib.request.urlopen(url, timeout=10).read()
            want = key.rsplit("/", 1)[-1].split(".")[0]
            if hashlib.sha256(data).hexdigest() != want or len(data) != rec["s3"]["object"]["size"]:
                bad += 1
                print("MISMATCH", key, file=sys.stderr)
            if key in seen:
                print("duplicate delivery (allowed, at least once):", key, file=sys.stderr)
            seen.add(key)
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
print(json.dumps({"received": len(seen), "bad": bad}))
sys.exit(0 if len(seen) == expect and bad == 0 else 1)
