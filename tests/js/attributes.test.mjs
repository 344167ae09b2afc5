// Message attributes (with MD5 verification), queue attributes and tags.
//
// Note: @aws-sdk/client-sqs v3 itself only verifies MD5OfMessageBody (on send,
// batch send and receive); it does not check MD5OfMessageAttributes. These
// tests compute the attribute MD5 themselves (helpers.md5OfMessageAttributes,
// checked against AWS's samples in md5.test.mjs) and compare.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  SendMessageCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  SetQueueAttributesCommand,
  TagQueueCommand,
  UntagQueueCommand,
  ListQueueTagsCommand,
  InvalidAttributeName,
  InvalidAttributeValue,
} from "@aws-sdk/client-sqs";
import {
  startServer,
  withServer,
  makeClient,
  uniqueName,
  createQueue,
  md5Hex,
  md5OfMessageAttributes,
  receiveN,
  queueAttrs,
  expectReject,
  describeErr,
  ACCOUNT,
} from "./helpers.mjs";

let server;
let client;
withServer((s, c) => ((server = s), (client = c)));

const BIN = new Uint8Array([0, 1, 2, 3, 127, 128, 254, 255, 10, 13]);
const ATTRS = {
  str: { DataType: "String", StringValue: "hello ✓ 日本 \u{1F680}" },
  num: { DataType: "Number", StringValue: "-12.5" },
  bignum: { DataType: "Number", StringValue: "12345678901234567890" },
  bin: { DataType: "Binary", BinaryValue: BIN },
  "custom.str": { DataType: "String.custom-type", StringValue: "custom" },
  intnum: { DataType: "Number.int", StringValue: "42" },
  gif: { DataType: "Binary.gif", BinaryValue: new Uint8Array([0x47, 0x49, 0x46, 0x38, 0x39, 0x61]) },
};

function assertAttrsEqual(actual, expected) {
  assert.deepEqual(Object.keys(actual || {}).sort(), Object.keys(expected).sort(), "attribute names");
  for (const [k, v] of Object.entries(expected)) {
    const a = actual[k];
    assert.equal(a.DataType, v.DataType, `DataType of ${k}`);
    if (v.BinaryValue !== undefined) {
      assert.ok(a.BinaryValue, `${k}: BinaryValue missing (${JSON.stringify(a)})`);
      assert.deepEqual(Buffer.from(a.BinaryValue), Buffer.from(v.BinaryValue), `BinaryValue of ${k}`);
      assert.equal(a.StringValue, undefined, `${k}: unexpected StringValue`);
    } else {
      assert.equal(a.StringValue, v.StringValue, `StringValue of ${k}`);
      assert.equal(a.BinaryValue, undefined, `${k}: unexpected BinaryValue`);
    }
  }
}

describe("message attributes", () => {
  it("String, Number, Binary and custom types round-trip with correct MD5s", async () => {
    const q = await createQueue(client, uniqueName("mattr"));
    const body = "with attributes";
    const sent = await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: body, MessageAttributes: ATTRS }));
    assert.equal(sent.MD5OfMessageBody, md5Hex(body));
    assert.equal(sent.MD5OfMessageAttributes, md5OfMessageAttributes(ATTRS), "send: MD5OfMessageAttributes");

    const [m] = await receiveN(client, q, 1, { timeoutMs: 5000, extra: { MessageAttributeNames: ["All"] } });
    assert.ok(m, "not received");
    assert.equal(m.Body, body);
    assertAttrsEqual(m.MessageAttributes, ATTRS);
    assert.equal(m.MD5OfMessageAttributes, md5OfMessageAttributes(ATTRS), "receive: MD5OfMessageAttributes");
  });

  it("receiving selected names returns only those, with the MD5 over the returned ones", async () => {
    const q = await createQueue(client, uniqueName("msel"));
    await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "sel", MessageAttributes: ATTRS }));
    const [m] = await receiveN(client, q, 1, {
      timeoutMs: 5000,
      extra: { MessageAttributeNames: ["str", "bin", "does-not-exist"] },
    });
    assert.ok(m, "not received");
    const want = { str: ATTRS.str, bin: ATTRS.bin };
    assertAttrsEqual(m.MessageAttributes, want);
    assert.equal(m.MD5OfMessageAttributes, md5OfMessageAttributes(want));
  });

  it("receiving with a 'prefix.*' pattern returns the matching attributes", async () => {
    const q = await createQueue(client, uniqueName("mpre"));
    const attrs = {
      "pre.a": { DataType: "String", StringValue: "A" },
      "pre.b": { DataType: "Number", StringValue: "2" },
      other: { DataType: "String", StringValue: "O" },
    };
    await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "pre", MessageAttributes: attrs }));
    const [m] = await receiveN(client, q, 1, { timeoutMs: 5000, extra: { MessageAttributeNames: ["pre.*"] } });
    assert.ok(m, "not received");
    const want = { "pre.a": attrs["pre.a"], "pre.b": attrs["pre.b"] };
    assertAttrsEqual(m.MessageAttributes, want);
    assert.equal(m.MD5OfMessageAttributes, md5OfMessageAttributes(want));
  });

  it("ten attributes (the maximum) are accepted", async () => {
    const q = await createQueue(client, uniqueName("m10"));
    const attrs = {};
    for (let i = 0; i < 10; i++) attrs[`a${i}`] = { DataType: "String", StringValue: `v${i}` };
    const sent = await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "ten", MessageAttributes: attrs }));
    assert.equal(sent.MD5OfMessageAttributes, md5OfMessageAttributes(attrs));
  });

  it("AWSTraceHeader system attribute round-trips with MD5OfMessageSystemAttributes", async () => {
    const q = await createQueue(client, uniqueName("trace"));
    const trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    const sys = { AWSTraceHeader: { DataType: "String", StringValue: trace } };
    const sent = await client.send(
      new SendMessageCommand({ QueueUrl: q, MessageBody: "traced", MessageSystemAttributes: sys }),
    );
    assert.equal(sent.MD5OfMessageSystemAttributes, md5OfMessageAttributes(sys), "MD5OfMessageSystemAttributes");
    assert.equal(sent.MD5OfMessageAttributes, undefined, "system attributes must not count as message attributes");
    const [m] = await receiveN(client, q, 1, {
      timeoutMs: 5000,
      extra: { MessageSystemAttributeNames: ["AWSTraceHeader"], MessageAttributeNames: ["All"] },
    });
    assert.ok(m, "not received");
    assert.equal(m.Attributes?.AWSTraceHeader, trace);
    assert.ok(!m.MessageAttributes || Object.keys(m.MessageAttributes).length === 0);
  });
});

describe("queue attributes", () => {
  it("a new queue has the documented defaults", async () => {
    const name = uniqueName("defaults");
    const q = await createQueue(client, name);
    const t = Math.floor(Date.now() / 1000);
    const a = await queueAttrs(client, q);
    assert.equal(a.VisibilityTimeout, "30");
    assert.equal(a.MessageRetentionPeriod, "345600");
    assert.equal(a.DelaySeconds, "0");
    assert.equal(a.ReceiveMessageWaitTimeSeconds, "0");
    assert.ok(["262144", "1048576"].includes(a.MaximumMessageSize), `MaximumMessageSize=${a.MaximumMessageSize}`);
    assert.equal(a.ApproximateNumberOfMessages, "0");
    assert.equal(a.ApproximateNumberOfMessagesNotVisible, "0");
    assert.equal(a.ApproximateNumberOfMessagesDelayed, "0");
    assert.equal(a.QueueArn, `arn:aws:sqs:us-east-1:${ACCOUNT}:${name}`);
    for (const k of ["CreatedTimestamp", "LastModifiedTimestamp"]) {
      assert.match(String(a[k]), /^\d{10}$/, `${k} must be integer epoch seconds, got ${a[k]}`);
      assert.ok(Math.abs(Number(a[k]) - t) < 120, `${k}=${a[k]} far from now=${t}`);
    }
    assert.equal(a.FifoQueue, undefined, "standard queues do not report FifoQueue");
  });

  it("CreateQueue attributes are stored and returned", async () => {
    const q = await createQueue(client, uniqueName("cattr"), {
      VisibilityTimeout: "45",
      MessageRetentionPeriod: "3600",
      DelaySeconds: "3",
      MaximumMessageSize: "2048",
      ReceiveMessageWaitTimeSeconds: "5",
    });
    const a = await queueAttrs(client, q);
    assert.equal(a.VisibilityTimeout, "45");
    assert.equal(a.MessageRetentionPeriod, "3600");
    assert.equal(a.DelaySeconds, "3");
    assert.equal(a.MaximumMessageSize, "2048");
    assert.equal(a.ReceiveMessageWaitTimeSeconds, "5");
  });

  it("GetQueueAttributes returns only the requested names", async () => {
    const q = await createQueue(client, uniqueName("gattr"));
    const res = await client.send(
      new GetQueueAttributesCommand({ QueueUrl: q, AttributeNames: ["VisibilityTimeout", "QueueArn"] }),
    );
    assert.deepEqual(Object.keys(res.Attributes).sort(), ["QueueArn", "VisibilityTimeout"]);
  });

  it("SetQueueAttributes updates values", async () => {
    const q = await createQueue(client, uniqueName("sattr"));
    await client.send(
      new SetQueueAttributesCommand({
        QueueUrl: q,
        Attributes: { VisibilityTimeout: "60", DelaySeconds: "1", ReceiveMessageWaitTimeSeconds: "2" },
      }),
    );
    const a = await queueAttrs(client, q, ["VisibilityTimeout", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"]);
    assert.deepEqual(a, { VisibilityTimeout: "60", DelaySeconds: "1", ReceiveMessageWaitTimeSeconds: "2" });
  });

  it("SetQueueAttributes with an out-of-range value fails with InvalidAttributeValue", async () => {
    const q = await createQueue(client, uniqueName("badattr"));
    const err = await expectReject(
      client.send(new SetQueueAttributesCommand({ QueueUrl: q, Attributes: { VisibilityTimeout: "43201" } })),
    );
    assert.ok(err instanceof InvalidAttributeValue, describeErr(err));
    assert.equal(err.$metadata.httpStatusCode, 400);
    const a = await queueAttrs(client, q, ["VisibilityTimeout"]);
    assert.equal(a.VisibilityTimeout, "30", "failed update must not change the value");
  });

  it("GetQueueAttributes with an unknown name fails with InvalidAttributeName", async () => {
    const q = await createQueue(client, uniqueName("badname"));
    const err = await expectReject(
      client.send(new GetQueueAttributesCommand({ QueueUrl: q, AttributeNames: ["NoSuchAttribute"] })),
    );
    assert.ok(err instanceof InvalidAttributeName, describeErr(err));
    assert.equal(err.$metadata.httpStatusCode, 400);
  });

  it("RedrivePolicy is stored and returned as JSON", async () => {
    const dlqName = uniqueName("dlq");
    await createQueue(client, dlqName);
    const policy = { deadLetterTargetArn: server.queueArn(dlqName), maxReceiveCount: 3 };
    const q = await createQueue(client, uniqueName("src"), { RedrivePolicy: JSON.stringify(policy) });
    const a = await queueAttrs(client, q, ["RedrivePolicy"]);
    const got = JSON.parse(a.RedrivePolicy);
    assert.equal(got.deadLetterTargetArn, policy.deadLetterTargetArn);
    assert.equal(Number(got.maxReceiveCount), 3);
  });
});

describe("tags", () => {
  it("CreateQueue tags, TagQueue, UntagQueue and ListQueueTags", async () => {
    const q = await createQueue(client, uniqueName("tags"), undefined, { env: "test", owner: "js" });
    let t = await client.send(new ListQueueTagsCommand({ QueueUrl: q }));
    assert.deepEqual(t.Tags, { env: "test", owner: "js" });

    await client.send(new TagQueueCommand({ QueueUrl: q, Tags: { team: "queues", env: "prod" } }));
    t = await client.send(new ListQueueTagsCommand({ QueueUrl: q }));
    assert.deepEqual(t.Tags, { env: "prod", owner: "js", team: "queues" });

    await client.send(new UntagQueueCommand({ QueueUrl: q, TagKeys: ["owner", "env", "not-there"] }));
    t = await client.send(new ListQueueTagsCommand({ QueueUrl: q }));
    assert.deepEqual(t.Tags, { team: "queues" });
  });

  it("an untagged queue lists no tags", async () => {
    const q = await createQueue(client, uniqueName("notags"));
    const t = await client.send(new ListQueueTagsCommand({ QueueUrl: q }));
    assert.equal(Object.keys(t.Tags || {}).length, 0);
  });
});

describe("receive with attributes and delete", () => {
  it("message attributes survive a visibility-timeout redelivery", async () => {
    const q = await createQueue(client, uniqueName("redeliv"));
    await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "again", MessageAttributes: ATTRS }));
    const [m1] = await receiveN(client, q, 1, {
      timeoutMs: 5000,
      extra: { MessageAttributeNames: ["All"], VisibilityTimeout: 1 },
    });
    assert.ok(m1);
    const [m2] = await receiveN(client, q, 1, { timeoutMs: 6000, extra: { MessageAttributeNames: ["All"] } });
    assert.ok(m2, "not redelivered");
    assert.equal(m2.MessageId, m1.MessageId);
    assertAttrsEqual(m2.MessageAttributes, ATTRS);
    assert.equal(m2.MD5OfMessageAttributes, md5OfMessageAttributes(ATTRS));
    await client.send(new DeleteMessageCommand({ QueueUrl: q, ReceiptHandle: m2.ReceiptHandle }));
  });
});
