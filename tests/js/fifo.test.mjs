// FIFO queues: group ordering, group blocking, deduplication, sequence numbers.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  CreateQueueCommand,
  SendMessageCommand,
  SendMessageBatchCommand,
  ReceiveMessageCommand,
  DeleteMessageCommand,
  SQSServiceException,
} from "@aws-sdk/client-sqs";
import {
  startServer,
  withServer,
  makeClient,
  uniqueName,
  createQueue,
  md5Hex,
  receiveN,
  receiveNow,
  queueAttrs,
  expectReject,
  describeErr,
} from "./helpers.mjs";

let server;
let client;
withServer((s, c) => ((server = s), (client = c)));

const fifoName = (p) => `${uniqueName(p)}.fifo`;

async function fifoQueue(p, attrs = {}) {
  return await createQueue(client, fifoName(p), { FifoQueue: "true", ...attrs });
}

describe("FIFO queue creation", () => {
  it("creates a .fifo queue and reports FIFO attributes", async () => {
    const name = fifoName("fc");
    const q = await createQueue(client, name, { FifoQueue: "true", ContentBasedDeduplication: "true" });
    assert.ok(q.endsWith(`/${name}`));
    const a = await queueAttrs(client, q);
    assert.equal(a.FifoQueue, "true");
    assert.equal(a.ContentBasedDeduplication, "true");
  });

  it("rejects FifoQueue=true on a name without .fifo", async () => {
    const err = await expectReject(
      client.send(new CreateQueueCommand({ QueueName: uniqueName("nofifo"), Attributes: { FifoQueue: "true" } })),
    );
    assert.ok(err instanceof SQSServiceException, describeErr(err));
    assert.equal(err.$metadata.httpStatusCode, 400, describeErr(err));
  });

  it("accepts DeduplicationScope and FifoThroughputLimit", async () => {
    const q = await fifoQueue("fht", { DeduplicationScope: "messageGroup", FifoThroughputLimit: "perMessageGroupId" });
    const a = await queueAttrs(client, q, ["DeduplicationScope", "FifoThroughputLimit"]);
    assert.equal(a.DeduplicationScope, "messageGroup");
    assert.equal(a.FifoThroughputLimit, "perMessageGroupId");
  });
});

describe("FIFO send", () => {
  it("requires MessageGroupId", async () => {
    const q = await fifoQueue("fnogrp", { ContentBasedDeduplication: "true" });
    const err = await expectReject(client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "x" })));
    assert.equal(err.name, "MissingParameter", describeErr(err));
    assert.equal(err.$metadata.httpStatusCode, 400);
  });

  it("requires a deduplication id without ContentBasedDeduplication", async () => {
    const q = await fifoQueue("fnodedup");
    const err = await expectReject(
      client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "x", MessageGroupId: "g" })),
    );
    assert.equal(err.name, "InvalidParameterValue", describeErr(err));
  });

  it("rejects per-message DelaySeconds", async () => {
    const q = await fifoQueue("fdelay", { ContentBasedDeduplication: "true" });
    const err = await expectReject(
      client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "x", MessageGroupId: "g", DelaySeconds: 5 })),
    );
    assert.equal(err.name, "InvalidParameterValue", describeErr(err));
  });

  it("returns increasing SequenceNumbers", async () => {
    const q = await fifoQueue("fseq");
    let prev = -1n;
    for (let i = 0; i < 4; i++) {
      const r = await client.send(
        new SendMessageCommand({ QueueUrl: q, MessageBody: `s${i}`, MessageGroupId: "g", MessageDeduplicationId: `d${i}` }),
      );
      assert.match(String(r.SequenceNumber), /^\d+$/, `SequenceNumber=${r.SequenceNumber}`);
      const n = BigInt(r.SequenceNumber);
      assert.ok(n > prev, `SequenceNumber ${n} not greater than ${prev}`);
      prev = n;
      assert.equal(r.MD5OfMessageBody, md5Hex(`s${i}`));
    }
  });
});

describe("FIFO ordering and groups", () => {
  it("delivers one group's messages in send order", async () => {
    const q = await fifoQueue("ford");
    const bodies = Array.from({ length: 8 }, (_, i) => `o${i}`);
    for (const [i, b] of bodies.entries()) {
      await client.send(
        new SendMessageCommand({ QueueUrl: q, MessageBody: b, MessageGroupId: "grp", MessageDeduplicationId: `o${i}` }),
      );
    }
    const got = [];
    while (got.length < bodies.length) {
      const msgs = await receiveNow(client, q);
      assert.ok(msgs.length > 0, `stalled after ${got.length} messages`);
      for (const m of msgs) {
        got.push(m.Body);
        await client.send(new DeleteMessageCommand({ QueueUrl: q, ReceiptHandle: m.ReceiptHandle }));
      }
    }
    assert.deepEqual(got, bodies);
  });

  it("blocks a group while one of its messages is in flight; other groups proceed", async () => {
    const q = await fifoQueue("fblock");
    const send = (body, g) =>
      client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: body, MessageGroupId: g, MessageDeduplicationId: body }));
    await send("A1", "A");
    await send("A2", "A");
    await send("B1", "B");

    const r1 = await client.send(new ReceiveMessageCommand({ QueueUrl: q, MaxNumberOfMessages: 1 }));
    assert.equal(r1.Messages?.length, 1);
    const first = r1.Messages[0];
    assert.ok(["A1", "B1"].includes(first.Body), `first message ${first.Body} breaks group order`);

    // Everything visible now must come from the other group only.
    const r2 = await receiveNow(client, q);
    const bodies2 = r2.map((m) => m.Body);
    if (first.Body === "A1") {
      assert.deepEqual(bodies2, ["B1"], "group A must be blocked while A1 is in flight");
    } else {
      assert.deepEqual(bodies2, ["A1", "A2"]);
    }
    // Deleting unblocks.
    await client.send(new DeleteMessageCommand({ QueueUrl: q, ReceiptHandle: first.ReceiptHandle }));
    for (const m of r2) await client.send(new DeleteMessageCommand({ QueueUrl: q, ReceiptHandle: m.ReceiptHandle }));
    const rest = await receiveNow(client, q);
    const left = first.Body === "A1" ? ["A2"] : [];
    assert.deepEqual(rest.map((m) => m.Body), left);
  });

  it("redelivers the same head message after its visibility timeout", async () => {
    const q = await fifoQueue("fredeliver");
    for (const b of ["h1", "h2"]) {
      await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: b, MessageGroupId: "g", MessageDeduplicationId: b }));
    }
    const r1 = await client.send(new ReceiveMessageCommand({ QueueUrl: q, MaxNumberOfMessages: 1, VisibilityTimeout: 1 }));
    assert.equal(r1.Messages?.[0]?.Body, "h1");
    const [again] = await receiveN(client, q, 1, { timeoutMs: 5000, extra: { MaxNumberOfMessages: 1 } });
    assert.equal(again?.Body, "h1", "after the timeout, the group's head must come back first");
  });

  it("returns FIFO system attributes", async () => {
    const q = await fifoQueue("fattrs");
    const sent = await client.send(
      new SendMessageCommand({ QueueUrl: q, MessageBody: "fa", MessageGroupId: "grp-x", MessageDeduplicationId: "dd-1" }),
    );
    const [m] = await receiveN(client, q, 1, { timeoutMs: 5000, extra: { MessageSystemAttributeNames: ["All"] } });
    assert.ok(m);
    assert.equal(m.Attributes?.MessageGroupId, "grp-x");
    assert.equal(m.Attributes?.MessageDeduplicationId, "dd-1");
    assert.equal(m.Attributes?.SequenceNumber, sent.SequenceNumber);
  });

  it("SendMessageBatch keeps order within a group across a batch", async () => {
    const q = await fifoQueue("fbatch");
    const Entries = Array.from({ length: 10 }, (_, i) => ({
      Id: `b${i}`,
      MessageBody: `batch-${i}`,
      MessageGroupId: i % 2 ? "odd" : "even",
      MessageDeduplicationId: `bd${i}`,
    }));
    const res = await client.send(new SendMessageBatchCommand({ QueueUrl: q, Entries }));
    assert.equal(res.Successful?.length, 10, JSON.stringify(res.Failed));
    for (const s of res.Successful) assert.match(String(s.SequenceNumber), /^\d+$/);
    const got = await receiveN(client, q, 10, { timeoutMs: 5000, extra: { MessageSystemAttributeNames: ["MessageGroupId"] } });
    assert.equal(got.length, 10);
    const even = got.filter((m) => m.Attributes?.MessageGroupId === "even").map((m) => m.Body);
    const odd = got.filter((m) => m.Attributes?.MessageGroupId === "odd").map((m) => m.Body);
    assert.deepEqual(even, ["batch-0", "batch-2", "batch-4", "batch-6", "batch-8"]);
    assert.deepEqual(odd, ["batch-1", "batch-3", "batch-5", "batch-7", "batch-9"]);
  });
});

describe("FIFO receive request attempt id", () => {
  it("retrying a receive with the same ReceiveRequestAttemptId returns the same messages", async () => {
    const q = await fifoQueue("fattempt");
    for (const b of ["r1", "r2", "r3"]) {
      await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: b, MessageGroupId: "g", MessageDeduplicationId: b }));
    }
    const attempt = { QueueUrl: q, MaxNumberOfMessages: 2, ReceiveRequestAttemptId: "attempt-1" };
    const first = await client.send(new ReceiveMessageCommand(attempt));
    assert.deepEqual((first.Messages || []).map((m) => m.Body), ["r1", "r2"]);
    const retry = await client.send(new ReceiveMessageCommand(attempt));
    assert.deepEqual(
      (retry.Messages || []).map((m) => m.MessageId),
      first.Messages.map((m) => m.MessageId),
      "a retried attempt must return the same messages",
    );
  });
});

describe("FIFO deduplication", () => {
  it("drops a message with a repeated MessageDeduplicationId", async () => {
    const q = await fifoQueue("fdedup");
    const first = await client.send(
      new SendMessageCommand({ QueueUrl: q, MessageBody: "one", MessageGroupId: "g", MessageDeduplicationId: "same" }),
    );
    const second = await client.send(
      new SendMessageCommand({ QueueUrl: q, MessageBody: "two", MessageGroupId: "g", MessageDeduplicationId: "same" }),
    );
    assert.ok(first.MessageId && second.MessageId, "duplicates are accepted, not rejected");
    const got = await receiveN(client, q, 2, { timeoutMs: 2500 });
    assert.deepEqual(got.map((m) => m.Body), ["one"]);
  });

  it("ContentBasedDeduplication drops identical bodies and keeps different ones", async () => {
    const q = await fifoQueue("fcbd", { ContentBasedDeduplication: "true" });
    for (const b of ["same", "same", "different"]) {
      await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: b, MessageGroupId: "g" }));
    }
    const got = await receiveN(client, q, 3, { timeoutMs: 2500 });
    assert.deepEqual(got.map((m) => m.Body), ["same", "different"]);
  });

  it("remembers a deduplication id after the message was deleted", async () => {
    const q = await fifoQueue("fdeldedup");
    const send = () =>
      client.send(
        new SendMessageCommand({ QueueUrl: q, MessageBody: "once", MessageGroupId: "g", MessageDeduplicationId: "keep" }),
      );
    await send();
    const [m] = await receiveN(client, q, 1, { timeoutMs: 5000 });
    await client.send(new DeleteMessageCommand({ QueueUrl: q, ReceiptHandle: m.ReceiptHandle }));
    await send();
    const again = await receiveN(client, q, 1, { timeoutMs: 2000 });
    assert.equal(again.length, 0, "message re-sent within the 5-minute dedup window was delivered again");
  });

  it("dedup in a batch: repeated ids within one batch deliver once", async () => {
    const q = await fifoQueue("fbdedup");
    const res = await client.send(
      new SendMessageBatchCommand({
        QueueUrl: q,
        Entries: [
          { Id: "a", MessageBody: "x1", MessageGroupId: "g", MessageDeduplicationId: "dup" },
          { Id: "b", MessageBody: "x2", MessageGroupId: "g", MessageDeduplicationId: "dup" },
          { Id: "c", MessageBody: "x3", MessageGroupId: "g", MessageDeduplicationId: "uniq" },
        ],
      }),
    );
    assert.equal(res.Successful?.length, 3, JSON.stringify(res));
    const got = await receiveN(client, q, 3, { timeoutMs: 2500 });
    assert.deepEqual(got.map((m) => m.Body), ["x1", "x3"]);
  });
});

describe("FIFO receipt handles", () => {
  it("deleting after the visibility timeout expired fails with InvalidParameterValue", async () => {
    const q = await fifoQueue("fexpired");
    await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "exp", MessageGroupId: "g", MessageDeduplicationId: "e" }));
    const [m] = await receiveN(client, q, 1, { timeoutMs: 5000, extra: { VisibilityTimeout: 1 } });
    assert.ok(m);
    await new Promise((r) => setTimeout(r, 1600));
    const err = await expectReject(client.send(new DeleteMessageCommand({ QueueUrl: q, ReceiptHandle: m.ReceiptHandle })));
    assert.equal(err.name, "InvalidParameterValue", describeErr(err));
    assert.match(err.message, /receipt handle has expired/i, describeErr(err));
  });
});
