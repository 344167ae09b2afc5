"""The API side of S0: hands out presigned URLs (PUT for producers, GET for
consumers), so producers and consumers never hold AWS credentials.
Usage: presign.py put|get BUCKET KEY [KEY...]   (one URL per line)"""
import os
import sys

import boto3
from botocore.config import Config

_s3 = None


def presign(method, bucket, key, seconds=300):
    global _s3
    if _s3 is None:
        _s3 = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
                           region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                           config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
    op = {"put": "put_object", "get": "get_object"}[method]
    return _s3.generate_presigned_url(op, Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds)


if __name__ == "__main__":
    for key in sys.argv[3:]:
        print(presign(sys.argv[1], sys.argv[2], key))
