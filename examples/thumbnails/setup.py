"""Seed system S2 (002): HD images uploaded to a bucket whose events go to the
default EventBridge bus; a rule (HD-image-upload-trigger) sends "Object
Created" events of that bucket to queue practiceQ, whose dead-letter queue
practiceDLQ takes what failed three times; thumbnails go to a second bucket
that expires them by lifecycle; topic thumbnails-ready tells an email
subscriber and a queue (thumbnails-feed). Run with the usual AWS_* variables
and AWS_ENDPOINT_URL; EMAIL names the subscriber, DAYS the thumbnails' life."""
import json
import os

import boto3
from botocore.config import Config

endpoint = os.environ.get("AWS_ENDPOINT_URL")
region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
HD, THUMBS = os.environ.get("HD_BUCKET", "hd-images"), os.environ.get("THUMB_BUCKET", "thumbnails")
EMAIL = os.environ.get("EMAIL", "thumbnails@example.com")
s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region, config=Config(s3={"addressing_style": "path"}))
sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=region)
events = boto3.client("events", endpoint_url=endpoint, region_name=region)
sns = boto3.client("sns", endpoint_url=endpoint, region_name=region)


def arn_of(url):
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


s3.create_bucket(Bucket=HD)
s3.create_bucket(Bucket=THUMBS)
# the thumbnails bucket has a lifecycle of its own
s3.put_bucket_lifecycle_configuration(Bucket=THUMBS, LifecycleConfiguration={"Rules": [{
    "ID": "expire-thumbnails", "Status": "Enabled", "Filter": {"Prefix": "thumbs/"},
    "Expiration": {"Days": int(os.environ.get("DAYS", "7"))}}]})
# every event of the HD bucket goes to the default EventBridge bus
s3.put_bucket_notification_configuration(Bucket=HD, NotificationConfiguration={"EventBridgeConfiguration": {}})

dlq = sqs.create_queue(QueueName="practiceDLQ")["QueueUrl"]
rule_arn = "arn:aws:events:%s:%s:rule/HD-image-upload-trigger" % (region, arn_of(dlq).split(":")[4])
queue = sqs.create_queue(QueueName="practiceQ", Attributes={
    "VisibilityTimeout": "30",
    "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn_of(dlq), "maxReceiveCount": 3}),
})["QueueUrl"]
queue_arn = arn_of(queue)
# the access policy the seed gives the queue (EventBridge may send for the rule)
sqs.set_queue_attributes(QueueUrl=queue, Attributes={"Policy": json.dumps({
    "Version": "2012-10-17",
    "Statement": [{
        "Sid": "AWSEvents_HD-image-upload-trigger",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
    }]})})
events.put_rule(Name="HD-image-upload-trigger", EventPattern=json.dumps({
    "source": ["aws.s3"], "detail-type": ["Object Created"], "detail": {"bucket": {"name": [HD]}}}))
events.put_targets(Rule="HD-image-upload-trigger", Targets=[{"Id": "practiceQ", "Arn": queue_arn}])

topic = sns.create_topic(Name="thumbnails-ready", Attributes={"DisplayName": "Thumbnails"})["TopicArn"]
feed = sqs.create_queue(QueueName="thumbnails-feed")["QueueUrl"]
sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn_of(feed))
sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=EMAIL)
print(json.dumps({"queue_url": queue, "dlq_url": dlq, "feed_url": feed, "topic_arn": topic,
                  "hd_bucket": HD, "thumb_bucket": THUMBS}))
