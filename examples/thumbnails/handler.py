"""The thumbnail worker's handler (seed 002), run by `tweedle worker --exec`:
each SQS record is an EventBridge "Object Created" event for the HD bucket.
Downloads the image, makes a 64x64 PNG with libvips (vipsthumbnail, cropped to
the centre), uploads it to the thumbnails bucket, presigns a GET for it and
publishes {"image", "thumbnail_url"} to the topic. An image libvips cannot
read fails the batch (exit 1): the message comes back and, after three
receives, goes to the dead-letter queue."""
import json
import os
import subprocess
import sys
import tempfile

import boto3
from botocore.config import Config

endpoint = os.environ.get("AWS_ENDPOINT_URL")
region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region,
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
sns = boto3.client("sns", endpoint_url=endpoint, region_name=region)
THUMBS = os.environ.get("THUMB_BUCKET", "thumbnails")
TOPIC = os.environ["TOPIC_ARN"]

event = json.load(sys.stdin)
for record in event["Records"]:
    ev = json.loads(record["body"])
    bucket = ev["detail"]["bucket"]["name"]
    key = ev["detail"]["object"]["key"]
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "source")
        out = os.path.join(tmp, "thumb.png")
        s3.download_file(bucket, key, src)
        r = subprocess.run(["vipsthumbnail", src, "--size", "64x64", "--smartcrop", "centre", "-o", out],
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.stderr.write("cannot make a thumbnail of s3://%s/%s: %s\n" % (bucket, key, r.stderr.strip()))
            sys.exit(1)
        thumb_key = "thumbs/%s.png" % key
        s3.upload_file(out, THUMBS, thumb_key, ExtraArgs={"ContentType": "image/png"})
    url = s3.generate_presigned_url("get_object", Params={"Bucket": THUMBS, "Key": thumb_key}, ExpiresIn=3600)
    sns.publish(TopicArn=TOPIC, Subject="Thumbnail ready",
                Message=json.dumps({"image": "s3://%s/%s" % (bucket, key), "thumbnail_url": url}))
