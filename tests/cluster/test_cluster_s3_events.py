"""S3 bucket event notifications in cluster mode: three tweedle nodes on one
private PostgreSQL 15 and one shared blob directory.

The notification configuration set on one node is stored in PostgreSQL and
read by the others; an object written on A is read on B and its event is
received on C (a receive parked on C is woken by the commit's notification);
deletes give ObjectRemoved records; prefix/suffix filters apply; a missing
queue is refused with AWS's error; the message of an event commits in the
object row's transaction, so after a kill -9 of the node that took the PUTs
every acknowledged object has its event, and every event names an object.
"""

import json
import os
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pg  # noqa: E402

from botocore.exceptions import ClientError  # noqa: E402

PG = None
CLUSTER = None
# parked receives look again only every 10 s (the default is 1 s): a wake
# within WAKE_S can only come from the event's notification
REPOLL_MS = "10000"
WAKE_S = 3.0
UNABLE = "Unable to validate the following destination configurations"


def setUpModule():
    global PG, CLUSTER
    PG, CLUSTER = pg.start_module(3, env={"TWEEDLE_PG_REPOLL_MS": REPOLL_MS})


def tearDownModule():
    pg.stop_module(PG, CLUSTER)


s3_of = pg.s3_client


name_of = pg.unique


def queue_arn(name):
    return "arn:aws:sqs:%s:%s:%s" % (pg.harness.REGION, pg.harness.ACCOUNT, name)


class Base(unittest.TestCase):

    def setUp(self):
        self.a, self.b, self.c = CLUSTER.nodes
        self.s3a, self.s3b, self.s3c = (s3_of(n) for n in CLUSTER.nodes)
        self.sqa, self.sqb, self.sqc = (n.client() for n in CLUSTER.nodes)

    def bucket(self, tag):
        bk = name_of(tag)
        self.s3a.create_bucket(Bucket=bk)
        return bk

    def queue(self, tag, **attrs):
        name = name_of(tag)
        if attrs:
            url = self.sqa.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        else:
            url = self.sqa.create_queue(QueueName=name)["QueueUrl"]
        return name, url

    def configure(self, s3, bk, configs):
        s3.put_bucket_notification_configuration(
            Bucket=bk, NotificationConfiguration={"QueueConfigurations": configs})

    def drain(self, sqs, url, expected, timeout=10.0):
        """Receives and deletes up to `expected` messages (bounded)."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < expected and time.monotonic() < deadline:
            wait = max(0, min(2, int(deadline - time.monotonic())))
            r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait,
                                    AttributeNames=["All"])
            for m in r.get("Messages", []):
                got.append(m)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return got

    def records(self, sqs, url, expected, timeout=10.0):
        out = []
        for m in self.drain(sqs, url, expected, timeout):
            body = json.loads(m["Body"])
            self.assertEqual(len(body["Records"]), 1, body)
            out.append(body["Records"][0])
        return out

    def quiet(self, sqs, url, wait=1):
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
        self.assertEqual([m["Body"] for m in r.get("Messages", [])], [], "unexpected messages")

    def setup_pair(self, tag, events=("s3:ObjectCreated:*", "s3:ObjectRemoved:*"), rules=None):
        """A bucket configured on A to a queue; the test event drained on B."""
        bk = self.bucket(tag)
        q, url = self.queue(tag)
        cfg = {"Id": "cfg-" + tag, "QueueArn": queue_arn(q), "Events": list(events)}
        if rules:
            cfg["Filter"] = {"Key": {"FilterRules": rules}}
        self.configure(self.s3a, bk, [cfg])
        test = self.drain(self.sqb, url, 1)
        self.assertEqual(len(test), 1, "expected the s3:TestEvent message")
        body = json.loads(test[0]["Body"])
        self.assertEqual((body["Service"], body["Event"], body["Bucket"]),
                         ("Amazon S3", "s3:TestEvent", bk))
        return bk, q, url


class ClusterS3Events(Base):

    def test_configuration_on_a_read_on_b_and_c(self):
        bk = self.bucket("cfg")
        q, url = self.queue("cfg")
        self.configure(self.s3a, bk, [{"Id": "one", "QueueArn": queue_arn(q),
                                       "Events": ["s3:ObjectCreated:Put"],
                                       "Filter": {"Key": {"FilterRules": [
                                           {"Name": "prefix", "Value": "in/"}]}}}])
        for s3 in (self.s3b, self.s3c):
            got = s3.get_bucket_notification_configuration(Bucket=bk)["QueueConfigurations"]
            self.assertEqual(len(got), 1)
            self.assertEqual(got[0]["Id"], "one")
            self.assertEqual(got[0]["QueueArn"], queue_arn(q))
            self.assertEqual(got[0]["Events"], ["s3:ObjectCreated:Put"])
            self.assertEqual(got[0]["Filter"]["Key"]["FilterRules"],
                             [{"Name": "Prefix", "Value": "in/"}])
        # cleared on C: gone on A, and no more events
        self.s3c.put_bucket_notification_configuration(Bucket=bk, NotificationConfiguration={})
        self.assertNotIn("QueueConfigurations",
                         self.s3a.get_bucket_notification_configuration(Bucket=bk))
        self.drain(self.sqa, url, 1, timeout=2)  # the test event
        self.s3b.put_object(Bucket=bk, Key="in/x", Body=b"x")
        self.quiet(self.sqc, url)

    def test_put_on_a_get_on_b_event_received_on_c(self):
        bk, q, url = self.setup_pair("xnode")
        got, errs = [], []

        def poll():
            try:
                t0 = time.monotonic()
                r = self.sqc.receive_message(QueueUrl=url, MaxNumberOfMessages=1,
                                             WaitTimeSeconds=8, AttributeNames=["All"])
                got.append((time.monotonic() - t0, r.get("Messages", [])))
            except Exception as e:  # noqa: BLE001
                errs.append(e)

        t = threading.Thread(target=poll)
        t.start()
        time.sleep(1.0)  # the receive is parked on C
        data = b"cluster event body" * 10
        t_put = time.monotonic()
        put = self.s3a.put_object(Bucket=bk, Key="dir/a b@c.txt", Body=data)
        t.join(15)
        self.assertFalse(errs, errs)
        self.assertEqual(len(got), 1)
        self.assertEqual(self.s3b.get_object(Bucket=bk, Key="dir/a b@c.txt")["Body"].read(), data)
        _, msgs = got[0]
        self.assertEqual(len(msgs), 1, "the parked receive on C got no event")
        woke = time.monotonic() - t_put
        self.assertLess(woke, WAKE_S, "woken %.2f s after the PUT (not by a notification)" % woke)
        sys.stderr.write("[event on C %.0f ms after the PUT on A was sent] " % (woke * 1000))
        m = msgs[0]
        self.assertEqual(m["Attributes"]["SenderId"], pg.harness.ACCESS_KEY)
        self.assertLess(abs(int(m["Attributes"]["SentTimestamp"]) / 1000 - time.time()), 60)
        rec = json.loads(m["Body"])["Records"][0]
        self.assertEqual(rec["eventVersion"], "2.1")
        self.assertEqual(rec["eventSource"], "aws:s3")
        self.assertEqual(rec["eventName"], "ObjectCreated:Put")
        self.assertEqual(rec["awsRegion"], pg.harness.REGION)
        self.assertEqual(rec["responseElements"]["x-amz-request-id"],
                         put["ResponseMetadata"]["RequestId"])
        s3 = rec["s3"]
        self.assertEqual(s3["configurationId"], "cfg-xnode")
        self.assertEqual(s3["bucket"]["name"], bk)
        self.assertEqual(s3["bucket"]["arn"], "arn:aws:s3:::" + bk)
        self.assertEqual(s3["object"]["key"], "dir/a+b%40c.txt")
        self.assertEqual(s3["object"]["size"], len(data))
        self.assertEqual('"%s"' % s3["object"]["eTag"], put["ETag"])
        self.assertRegex(s3["object"]["sequencer"], r"^[0-9A-F]{16,}$")
        self.sqc.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.quiet(self.sqa, url, wait=0)

    def test_sequencers_of_a_key_increase_across_nodes(self):
        bk, q, url = self.setup_pair("seq", events=("s3:ObjectCreated:*",))
        # the i-th write has size i+1: records in write order by size
        for i, s3 in enumerate((self.s3a, self.s3b, self.s3c, self.s3a)):
            s3.put_object(Bucket=bk, Key="k", Body=b"v" * (i + 1))
            time.sleep(0.01)
        recs = self.records(self.sqb, url, 4)
        self.assertEqual(len(recs), 4)
        recs.sort(key=lambda r: r["s3"]["object"]["size"])
        self.assertEqual([r["s3"]["object"]["size"] for r in recs], [1, 2, 3, 4])
        seqs = [int(r["s3"]["object"]["sequencer"], 16) for r in recs]
        self.assertEqual(seqs, sorted(set(seqs)), "sequencers of one key in write order")

    def test_delete_copy_and_multipart_events(self):
        bk, q, url = self.setup_pair("kinds")
        self.s3a.put_object(Bucket=bk, Key="src", Body=b"s")
        self.s3b.copy_object(Bucket=bk, Key="dst", CopySource={"Bucket": bk, "Key": "src"})
        mpu = self.s3c.create_multipart_upload(Bucket=bk, Key="big")
        part = self.s3a.upload_part(Bucket=bk, Key="big", UploadId=mpu["UploadId"], PartNumber=1,
                                    Body=b"p" * 1000)
        self.s3b.complete_multipart_upload(
            Bucket=bk, Key="big", UploadId=mpu["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
        self.s3c.delete_object(Bucket=bk, Key="src")
        recs = self.records(self.sqa, url, 4)
        got = sorted((r["eventName"], r["s3"]["object"]["key"]) for r in recs)
        self.assertEqual(got, [("ObjectCreated:CompleteMultipartUpload", "big"),
                               ("ObjectCreated:Copy", "dst"), ("ObjectCreated:Put", "src"),
                               ("ObjectRemoved:Delete", "src")])
        removed = [r for r in recs if r["eventName"] == "ObjectRemoved:Delete"][0]
        self.assertNotIn("size", removed["s3"]["object"])
        self.assertNotIn("eTag", removed["s3"]["object"])
        # a delete of a missing key removes nothing and announces nothing
        self.s3b.delete_object(Bucket=bk, Key="never-there")
        self.quiet(self.sqc, url)

    def test_versioned_delete_marker_event(self):
        bk, q, url = self.setup_pair("ver", events=("s3:ObjectRemoved:*",))
        self.s3a.put_bucket_versioning(Bucket=bk, VersioningConfiguration={"Status": "Enabled"})
        v = self.s3b.put_object(Bucket=bk, Key="doc", Body=b"1")["VersionId"]
        marker = self.s3c.delete_object(Bucket=bk, Key="doc")
        self.s3a.delete_object(Bucket=bk, Key="doc", VersionId=v)
        recs = self.records(self.sqb, url, 2)
        got = sorted((r["eventName"], r["s3"]["object"].get("versionId")) for r in recs)
        self.assertEqual(got, sorted([("ObjectRemoved:DeleteMarkerCreated", marker["VersionId"]),
                                      ("ObjectRemoved:Delete", v)]))

    def test_prefix_suffix_filter(self):
        bk, q, url = self.setup_pair("filt", events=("s3:ObjectCreated:*",), rules=[
            {"Name": "prefix", "Value": "images/"}, {"Name": "suffix", "Value": ".jpg"}])
        for s3, key in ((self.s3a, "images/a.jpg"), (self.s3b, "images/b.png"),
                        (self.s3c, "docs/c.jpg"), (self.s3b, "images/sub/d.jpg")):
            s3.put_object(Bucket=bk, Key=key, Body=b"x")
        recs = self.records(self.sqc, url, 2)
        self.assertEqual(sorted(r["s3"]["object"]["key"] for r in recs),
                         ["images/a.jpg", "images/sub/d.jpg"])
        self.quiet(self.sqa, url)

    def test_missing_queue_refused_as_aws(self):
        bk = self.bucket("noq")
        arn = queue_arn(name_of("does-not-exist"))
        with self.assertRaises(ClientError) as e:
            self.configure(self.s3b, bk, [{"Id": "x", "QueueArn": arn,
                                           "Events": ["s3:ObjectCreated:*"]}])
        err = e.exception.response["Error"]
        self.assertEqual((e.exception.response["ResponseMetadata"]["HTTPStatusCode"],
                          err["Code"], err["Message"]), (400, "InvalidArgument", UNABLE))
        self.assertEqual(err.get("ArgumentName1"), arn)
        self.assertEqual(err.get("ArgumentValue1"), "The destination queue does not exist")
        self.assertNotIn("QueueConfigurations",
                         self.s3c.get_bucket_notification_configuration(Bucket=bk))
        # a queue of another account or region does not exist either
        q, url = self.queue("other")
        other = "arn:aws:sqs:eu-west-3:%s:%s" % (pg.harness.ACCOUNT, q)
        with self.assertRaises(ClientError) as e:
            self.configure(self.s3b, bk, [{"QueueArn": other, "Events": ["s3:ObjectCreated:*"]}])
        self.assertEqual(e.exception.response["Error"].get("ArgumentName1"), other)

    def test_fifo_queue_refused(self):
        bk = self.bucket("fifo")
        q, url = self.queue("fifo-dest")
        fq = q + ".fifo"
        furl = self.sqa.create_queue(QueueName=fq, Attributes={"FifoQueue": "true"})["QueueUrl"]
        with self.assertRaises(ClientError) as e:
            self.configure(self.s3c, bk, [{"QueueArn": queue_arn(fq),
                                           "Events": ["s3:ObjectCreated:*"]}])
        err = e.exception.response["Error"]
        self.assertEqual((err["Code"], err["Message"]), ("InvalidArgument", UNABLE))
        self.assertEqual(err.get("ArgumentValue1"),
                         "FIFO SQS queues are not supported as event notification destinations")
        self.quiet(self.sqa, furl, wait=0)

    def test_missing_topic_destination_is_refused(self):
        # topics are SNS's, on PostgreSQL (tests/cluster/test_cluster_sns.py
        # delivers to one); a topic that does not exist is refused as on one node
        bk = self.bucket("topic")
        with self.assertRaises(ClientError) as e:
            self.s3a.put_bucket_notification_configuration(
                Bucket=bk, NotificationConfiguration={"TopicConfigurations": [{
                    "TopicArn": "arn:aws:sns:%s:%s:t" % (pg.harness.REGION, pg.harness.ACCOUNT),
                    "Events": ["s3:ObjectCreated:*"]}]})
        err = e.exception.response["Error"]
        self.assertEqual((err["Code"], err["Message"]), ("InvalidArgument", UNABLE))
        self.assertEqual(err.get("ArgumentValue1"), "The destination topic does not exist")

    def test_queue_deleted_after_configuration_puts_still_succeed(self):
        bk, q, url = self.setup_pair("gone")
        self.sqb.delete_queue(QueueUrl=url)
        self.s3c.put_object(Bucket=bk, Key="after", Body=b"still stored")
        self.assertEqual(self.s3a.get_object(Bucket=bk, Key="after")["Body"].read(),
                         b"still stored")

    def test_queue_delay_applies(self):
        bk = self.bucket("delay")
        q, url = self.queue("delay", DelaySeconds="2")
        self.configure(self.s3a, bk, [{"QueueArn": queue_arn(q), "Events": ["s3:ObjectCreated:*"]}])
        self.drain(self.sqa, url, 1, timeout=6)  # the test event (delayed too)
        t0 = time.monotonic()
        self.s3b.put_object(Bucket=bk, Key="late", Body=b"x")
        self.quiet(self.sqc, url, wait=0)
        recs = self.records(self.sqc, url, 1, timeout=15)
        self.assertEqual([r["s3"]["object"]["key"] for r in recs], ["late"])
        self.assertGreaterEqual(time.monotonic() - t0, 1.5)


class KillS3Events(Base):
    """Runs after ClusterS3Events (unittest orders classes by name: K > C)."""

    def test_kill9_every_acknowledged_put_has_its_event(self):
        bk = self.bucket("kill")
        q, url = self.queue("kill")
        self.configure(self.s3a, bk, [{"Id": "k", "QueueArn": queue_arn(q),
                                       "Events": ["s3:ObjectCreated:*"]}])
        self.drain(self.sqa, url, 1)  # the test event
        acked, lock, stop = set(), threading.Lock(), threading.Event()

        def writer(wid):
            s = s3_of(self.c)
            i = 0
            while not stop.is_set():
                key = "w%d/%06d" % (wid, i)
                try:
                    s.put_object(Bucket=bk, Key=key, Body=os.urandom(200 + i % 3000))
                except Exception:  # the node died under it: not acknowledged
                    return
                with lock:
                    acked.add(key)
                i += 1

        ts = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
        for t in ts:
            t.start()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with lock:
                    if len(acked) >= 60:
                        break
                time.sleep(0.05)
            self.c.kill9()
        finally:
            stop.set()
            for t in ts:
                t.join(30)
        try:
            self.assertGreaterEqual(len(acked), 20, "too few PUTs acknowledged before the kill")
            listed = set()
            for page in self.s3a.get_paginator("list_objects_v2").paginate(Bucket=bk):
                listed |= {o["Key"] for o in page.get("Contents", [])}
            self.assertTrue(acked <= listed)
            # every event, received on A and B until the queue is quiet
            events = []
            for sqs in (self.sqa, self.sqb):
                while True:
                    got = self.drain(sqs, url, 10, timeout=2)
                    if not got:
                        break
                    events += [json.loads(m["Body"])["Records"][0]["s3"]["object"]["key"]
                               for m in got]
            keys = set(events)
            self.assertEqual(len(keys), len(events), "an event delivered twice")
            self.assertEqual(acked - keys, set(), "acknowledged PUTs without their event")
            # and no event for a write that did not commit
            self.assertEqual(keys - listed, set(), "events of objects that are not stored")
            sys.stderr.write("[%d acknowledged PUTs, %d stored, %d events] "
                             % (len(acked), len(listed), len(events)))
        finally:
            self.c.start(timeout=30)


if __name__ == "__main__":
    unittest.main()
