"""A Lambda-style SQS handler: the record's body is the whole payload (the
worker fetched it from the object store), and its sha256 must match the one
the producer put in a message attribute. Exit 0 = the batch succeeded."""
import hashlib
import json
import os
import sys

event = json.load(sys.stdin)
for record in event["Records"]:
    body = record["body"].encode("utf-8")
    want = record["messageAttributes"]["sha256"]["stringValue"]
    got = hashlib.sha256(body).hexdigest()
    if got != want or hashlib.md5(body).hexdigest() != record["md5OfBody"]:
        sys.stderr.write("record %s: %d bytes, sha256 %s, wanted %s\n" % (record["messageId"], len(body), got, want))
        sys.exit(1)
    with open(os.path.join(os.environ["RESULTS"], record["messageId"]), "w") as f:
        f.write("%d %s\n" % (len(body), got))
