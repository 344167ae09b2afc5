// Visibility timeouts, receipt handles, ChangeMessageVisibility and redrive to a DLQ.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  SendMessageCommand,
  ReceiveMessageCommand,
  DeleteMessageCommand,
  ChangeMessageVisibilityCommand,
  ListDeadLetterSourceQueuesCommand,
  SQSServiceException,
} from "@aws-sdk/client-sqs";
import {
  startServer,
  withServer,
  makeClient,
  uniqueName,
  createQueue,
  receiveN,
  receiveNow,
  queueAttrs,
  expectReject,
  describeErr,
  sleep,
} from "./helpers.mjs";

let server;
let client;
withServer((s, c) => ((server = s), (client = c)));

async function sendOne(q, body = "v") {
  return await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: body }));
}

describe("visibility timeout", () => {
  it("hides a received message, then redelivers it with a new receipt handle and count 2", async () => {
    const q = await createQueue(client, uniqueName("vt"));
    const sent = await sendOne(q, "vis");
    const [m1] = await receiveN(client, q, 1, {
      timeoutMs: 5000,
      extra: { VisibilityTimeout: 1, MessageSystemAttributeNames: ["ApproximateReceiveCount"] },
    });
    assert.ok(m1);
    assert.equal(m1.Attributes?.ApproximateReceiveCount, "1");
    assert.equal((await receiveNow(client, q)).length, 0, "visible while in flight");
    const [m2] = await receiveN(client, q, 1, {
      timeoutMs: 5000,
      extra: { MessageSystemAttributeNames: ["ApproximateReceiveCount"] },
    });
    assert.ok(m2, "not redelivered after the visibility timeout");
    assert.equal(m2.MessageId, sent.MessageId);
    assert.notEqual(m2.ReceiptHandle, m1.ReceiptHandle, "each receive must issue a new receipt handle");
    assert.equal(m2.Attributes?.ApproximateReceiveCount, "2");
  });

  it("uses the queue's VisibilityTimeout when the receive gives none", async () => {
    const q = await createQueue(client, uniqueName("qvt"), { VisibilityTimeout: "1" });
    await sendOne(q);
    const [m1] = await receiveN(client, q, 1, { timeoutMs: 5000 });
    assert.ok(m1);
    const t0 = Date.now();
    const [m2] = await receiveN(client, q, 1, { timeoutMs: 5000 });
    assert.ok(m2, "not redelivered after the queue's 1 s visibility timeout");
    assert.ok(Date.now() - t0 >= 500, "redelivered before the visibility timeout");
  });

  it("a message deleted with the latest receipt handle is gone", async () => {
    const q = await createQueue(client, uniqueName("vtdel"));
    await sendOne(q);
    const [m] = await receiveN(client, q, 1, { timeoutMs: 5000, extra: { VisibilityTimeout: 1 } });
    await client.send(new DeleteMessageCommand({ QueueUrl: q, ReceiptHandle: m.ReceiptHandle }));
    const again = await receiveN(client, q, 1, { timeoutMs: 2500 });
    assert.equal(again.length, 0);
  });

  it("deleting with an older receipt handle succeeds; deleting twice succeeds", async () => {
    const q = await createQueue(client, uniqueName("oldrh"));
    await sendOne(q);
    const [m1] = await receiveN(client, q, 1, { timeoutMs: 5000, extra: { VisibilityTimeout: 1 } });
    const [m2] = await receiveN(client, q, 1, { timeoutMs: 5000, extra: { VisibilityTimeout: 5 } });
    assert.ok(m1 && m2);
    await client.send(new DeleteMessageCommand({ QueueUrl: q, ReceiptHandle: m1.ReceiptHandle }));
    await client.send(new DeleteMessageCommand({ QueueUrl: q, ReceiptHandle: m2.ReceiptHandle }));
    await client.send(new DeleteMessageCommand({ QueueUrl: q, ReceiptHandle: m2.ReceiptHandle }));
  });
});

describe("ChangeMessageVisibility", () => {
  it("VisibilityTimeout 0 makes the message visible at once", async () => {
    const q = await createQueue(client, uniqueName("cmv0"));
    const sent = await sendOne(q);
    const [m] = await receiveN(client, q, 1, { timeoutMs: 5000, extra: { VisibilityTimeout: 30 } });
    await client.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: q, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }),
    );
    const again = await receiveNow(client, q);
    assert.equal(again.length, 1, "not visible after ChangeMessageVisibility 0");
    assert.equal(again[0].MessageId, sent.MessageId);
  });

  it("extending the timeout keeps the message hidden past its original timeout", async () => {
    const q = await createQueue(client, uniqueName("cmvext"));
    await sendOne(q);
    const [m] = await receiveN(client, q, 1, { timeoutMs: 5000, extra: { VisibilityTimeout: 1 } });
    await client.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: q, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 10 }),
    );
    const res = await client.send(new ReceiveMessageCommand({ QueueUrl: q, WaitTimeSeconds: 2 }));
    assert.equal((res.Messages || []).length, 0, "message reappeared despite the extension");
    const a = await queueAttrs(client, q, ["ApproximateNumberOfMessagesNotVisible"]);
    assert.equal(a.ApproximateNumberOfMessagesNotVisible, "1");
  });

  it("shortening the timeout makes the message reappear sooner", async () => {
    const q = await createQueue(client, uniqueName("cmvshort"));
    await sendOne(q);
    const [m] = await receiveN(client, q, 1, { timeoutMs: 5000, extra: { VisibilityTimeout: 60 } });
    await client.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: q, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 1 }),
    );
    const again = await receiveN(client, q, 1, { timeoutMs: 4000 });
    assert.equal(again.length, 1);
  });

  it("on a deleted message fails with InvalidParameterValue", async () => {
    const q = await createQueue(client, uniqueName("cmvdel"));
    await sendOne(q);
    const [m] = await receiveN(client, q, 1, { timeoutMs: 5000 });
    await client.send(new DeleteMessageCommand({ QueueUrl: q, ReceiptHandle: m.ReceiptHandle }));
    const err = await expectReject(
      client.send(
        new ChangeMessageVisibilityCommand({ QueueUrl: q, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 5 }),
      ),
    );
    assert.ok(err instanceof SQSServiceException, describeErr(err));
    assert.equal(err.name, "InvalidParameterValue", describeErr(err));
    assert.equal(err.$metadata.httpStatusCode, 400);
  });

  it("with an out-of-range timeout fails with InvalidParameterValue", async () => {
    const q = await createQueue(client, uniqueName("cmvrange"));
    await sendOne(q);
    const [m] = await receiveN(client, q, 1, { timeoutMs: 5000 });
    const err = await expectReject(
      client.send(
        new ChangeMessageVisibilityCommand({ QueueUrl: q, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 43201 }),
      ),
    );
    assert.equal(err.name, "InvalidParameterValue", describeErr(err));
  });
});

describe("dead-letter queue", () => {
  it("moves a message to the DLQ after maxReceiveCount receives, keeping id and body", async () => {
    const dlqName = uniqueName("dlq");
    const dlq = await createQueue(client, dlqName);
    const src = await createQueue(client, uniqueName("src"), {
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: server.queueArn(dlqName), maxReceiveCount: 2 }),
    });
    const sent = await sendOne(src, "poison");
    for (let i = 1; i <= 2; i++) {
      const [m] = await receiveN(client, src, 1, {
        timeoutMs: 5000,
        extra: { VisibilityTimeout: 0, MessageSystemAttributeNames: ["ApproximateReceiveCount"] },
      });
      assert.ok(m, `receive #${i} got nothing`);
      assert.equal(m.Attributes?.ApproximateReceiveCount, String(i));
    }
    // The third attempt must not deliver it from the source queue.
    const third = await client.send(new ReceiveMessageCommand({ QueueUrl: src, WaitTimeSeconds: 1 }));
    assert.equal((third.Messages || []).length, 0, "message delivered more than maxReceiveCount times");
    const [d] = await receiveN(client, dlq, 1, { timeoutMs: 5000 });
    assert.ok(d, "message not found in the DLQ");
    assert.equal(d.Body, "poison");
    assert.equal(d.MessageId, sent.MessageId);
  });

  it("marks moved messages with DeadLetterQueueSourceArn", async () => {
    const dlqName = uniqueName("dlqarn");
    const dlq = await createQueue(client, dlqName);
    const srcName = uniqueName("srcarn");
    const src = await createQueue(client, srcName, {
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: server.queueArn(dlqName), maxReceiveCount: 1 }),
    });
    await sendOne(src, "marked");
    const [m] = await receiveN(client, src, 1, { timeoutMs: 5000, extra: { VisibilityTimeout: 0 } });
    assert.ok(m);
    await receiveNow(client, src); // triggers the move
    const [d] = await receiveN(client, dlq, 1, {
      timeoutMs: 5000,
      extra: { MessageSystemAttributeNames: ["DeadLetterQueueSourceArn"] },
    });
    assert.ok(d, "message not found in the DLQ");
    assert.equal(d.Attributes?.DeadLetterQueueSourceArn, server.queueArn(srcName));
  });

  it("ListDeadLetterSourceQueues lists the queues that redrive into a DLQ", async () => {
    const dlqName = uniqueName("dlqlist");
    const dlq = await createQueue(client, dlqName);
    const rp = JSON.stringify({ deadLetterTargetArn: server.queueArn(dlqName), maxReceiveCount: 5 });
    const a = await createQueue(client, uniqueName("srca"), { RedrivePolicy: rp });
    const b = await createQueue(client, uniqueName("srcb"), { RedrivePolicy: rp });
    await createQueue(client, uniqueName("unrelated"));
    const res = await client.send(new ListDeadLetterSourceQueuesCommand({ QueueUrl: dlq }));
    assert.deepEqual([...(res.queueUrls || [])].sort(), [a, b].sort());
  });
});

describe("timing sanity", () => {
  it("an in-flight message does not reappear before its timeout", async () => {
    const q = await createQueue(client, uniqueName("early"));
    await sendOne(q);
    const [m] = await receiveN(client, q, 1, { timeoutMs: 5000, extra: { VisibilityTimeout: 3 } });
    assert.ok(m);
    await sleep(1500);
    assert.equal((await receiveNow(client, q)).length, 0, "reappeared after half its visibility timeout");
  });
});
