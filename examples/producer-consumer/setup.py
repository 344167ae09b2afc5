"""Seed system S0: a bucket that announces every object under input/ on a queue
with a dead-letter queue, as in seeds 000 and 001 (maxReceiveCount 5, retention
14 days, visibility 360 s). Run against tweedle (or AWS) with the usual AWS_*
environment variables and AWS_ENDPOINT_URL."""
import json
import os

import boto3
from botocore.config import Config

BUCKET = os.environ.get("BUCKET", "uploads")
QUEUE = os.environ.get("QUEUE", "upload-events")
endpoint = os.environ.get("AWS_ENDPOINT_URL")
region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
cfg = Config(s3={"addressing_style": "path"})
s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region, config=cfg)
sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=region)

dlq_url = sqs.create_queue(QueueName=QUEUE + "-dlq",
                           Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
queue_url = sqs.create_queue(QueueName=QUEUE, Attributes={
    "VisibilityTimeout": "360",
    "MessageRetentionPeriod": "1209600",
    "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}),
})["QueueUrl"]
queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
s3.create_bucket(Bucket=BUCKET)
s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={
    "QueueConfigurations": [{
        "Id": "new-input",
        "QueueArn": queue_arn,
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "input/"}]}},
    }]})
print(json.dumps({"bucket": BUCKET, "queue_url": queue_url, "dlq_url": dlq_url}))
