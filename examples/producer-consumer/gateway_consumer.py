"""The consumer of S0 through the gateway. It long-polls the queue for the
ObjectCreated events (with an SQS client: like the seed's consumer, it has its
own AWS identity for the queue), and fetches every object only through a GET
URL the gateway presigns for its API key: it holds no S3 client and never
signs an S3 request. It checks each download against the event's size, deletes
the message, and prints "<key> <sha256>" for each new object.
Stops after EXPECT objects or when the queue stays empty for IDLE seconds.
   GATEWAY_URL=http://127.0.0.1:9324 CONSUMER_KEY=twk_... gateway_consumer.py QUEUE_URL"""
import hashlib
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

import boto3

queue_url = sys.argv[1]
gateway = os.environ["GATEWAY_URL"].rstrip("/")
api_key = os.environ["CONSUMER_KEY"]
expect = int(os.environ.get("EXPECT", "100"))
idle_limit = int(os.environ.get("IDLE", "10"))
sqs = boto3.client("sqs", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
                   region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))


def presigned_get(bucket, key):
    """A GET URL for bucket/key from POST /_/api/v1/presign, with the API key only."""
    req = urllib.request.Request(gateway + "/_/api/v1/presign", method="POST",
                                 data=json.dumps({"method": "GET", "bucket": bucket, "key": key}).encode(),
                                 headers={"Authorization": "Bearer " + api_key,
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)["url"]
    except urllib.error.HTTPError as e:  # {"error": {"code", "message"}}
        sys.exit("presign %s: %d %s" % (key, e.code, e.read().decode(errors="replace")))


seen, idle, bad = set(), 0, 0
while len(seen) < expect and idle < idle_limit:
    msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    if not msgs:
        idle += 1
        continue
    idle = 0
    for m in msgs:
        for rec in json.loads(m["Body"]).get("Records", []):  # an s3:TestEvent has no Records
            bucket = rec["s3"]["bucket"]["name"]
            key = urllib.parse.unquote_plus(rec["s3"]["object"]["key"])
            with urllib.request.urlopen(presigned_get(bucket, key), timeout=10) as resp:
                data = resp.read()
            if len(data) != rec["s3"]["object"]["size"]:
                bad += 1
                print("SIZE MISMATCH", key, len(data), rec["s3"]["object"]["size"], file=sys.stderr)
            if key in seen:
                print("duplicate delivery (allowed, at least once):", key, file=sys.stderr)
            else:
                seen.add(key)
                print(key, hashlib.sha256(data).hexdigest(), flush=True)
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
print(json.dumps({"received": len(seen), "bad": bad}), file=sys.stderr)
sys.exit(0 if len(seen) == expect and bad == 0 else 1)
