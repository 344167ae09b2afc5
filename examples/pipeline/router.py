"""The router of seed 004: the first state the record lacks picks the mutation;
null when the record is finished. tweedle pipeline gives it the record on
stdin and sends what it prints as the next state."""
import json
import sys

from mutations import create_raw, thumbnail

record = json.load(sys.stdin)
if not record.get("has_raw"):
    record = create_raw(record)
elif not record.get("size_100"):
    record = thumbnail(record, 100)
elif not record.get("size_200"):
    record = thumbnail(record, 200)
else:
    record = None
print(json.dumps(record))
