// sqs-consumer against tweedle: handleMessage, handleMessageBatch, failures
// becoming visible again, DLQ after maxReceiveCount, heartbeats, stop().
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { Consumer } from "sqs-consumer";
import { SendMessageCommand, SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import {
  startServer,
  makeClient,
  uniqueName,
  createQueue,
  md5OfMessageAttributes,
  receiveN,
  receiveNow,
  queueAttrs,
  waitFor,
  withTimeout,
  sleep,
} from "./helpers.mjs";

let server;
let client;
const running = new Set();

before(async () => {
  server = await startServer();
  client = makeClient(server);
});
after(async () => {
  for (const c of running) c.stop({ abort: true });
  client?.destroy();
  await server?.stop();
});

/** Creates a consumer with an error listener attached (an unhandled 'error' would throw). */
function makeConsumer(opts) {
  const errors = [];
  const consumer = Consumer.create({ sqs: client, waitTimeSeconds: 1, suppressFifoWarning: true, ...opts });
  consumer.on("error", (err) => errors.push(err));
  consumer.errors = errors;
  running.add(consumer);
  return consumer;
}

async function stopConsumer(consumer, opts) {
  const stopped = once(consumer, "stopped");
  consumer.stop(opts);
  await withTimeout(stopped, 5000, () => {
    throw new Error("consumer did not emit 'stopped' within 5 s");
  });
  running.delete(consumer);
}

async function sendBatch(q, bodies, extra = () => ({})) {
  for (let i = 0; i < bodies.length; i += 10) {
    const chunk = bodies.slice(i, i + 10);
    const res = await client.send(
      new SendMessageBatchCommand({
        QueueUrl: q,
        Entries: chunk.map((b, j) => ({ Id: `m${i + j}`, MessageBody: b, ...extra(i + j) })),
      }),
    );
    assert.equal(res.Successful?.length, chunk.length, JSON.stringify(res.Failed));
  }
}

function errorSummary(consumer) {
  return consumer.errors.map((e) => `${e.name}: ${e.message}`).join("; ");
}

describe("sqs-consumer", () => {
  it("handleMessage consumes and deletes N messages", async () => {
    const q = await createQueue(client, uniqueName("cons"));
    const N = 20;
    const bodies = Array.from({ length: N }, (_, i) => `msg-${i}`);
    await sendBatch(q, bodies);
    const seen = [];
    const processed = new Set();
    const c = makeConsumer({
      queueUrl: q,
      batchSize: 5,
      handleMessage: async (m) => {
        seen.push(m.Body);
        return m;
      },
    });
    c.on("message_processed", (m) => processed.add(m.MessageId));
    c.start();
    try {
      await waitFor(() => processed.size >= N, {
        timeoutMs: 20_000,
        what: `${N} processed messages (have ${processed.size}; errors: ${errorSummary(c)})`,
      });
    } finally {
      await stopConsumer(c);
    }
    assert.deepEqual([...seen].sort(), [...bodies].sort());
    assert.equal(c.errors.length, 0, errorSummary(c));
    const a = await queueAttrs(client, q, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]);
    assert.deepEqual(a, { ApproximateNumberOfMessages: "0", ApproximateNumberOfMessagesNotVisible: "0" });
  });

  it("handleMessageBatch consumes N messages in batches of up to batchSize", async () => {
    const q = await createQueue(client, uniqueName("consb"));
    const N = 25;
    const bodies = Array.from({ length: N }, (_, i) => `b-${i}`);
    await sendBatch(q, bodies);
    const batches = [];
    let processed = 0;
    const c = makeConsumer({
      queueUrl: q,
      batchSize: 10,
      handleMessageBatch: async (msgs) => {
        batches.push(msgs.map((m) => m.Body));
        return msgs;
      },
    });
    c.on("message_processed", () => processed++);
    c.start();
    try {
      await waitFor(() => processed >= N, {
        timeoutMs: 20_000,
        what: `${N} processed (have ${processed}; errors: ${errorSummary(c)})`,
      });
    } finally {
      await stopConsumer(c);
    }
    assert.deepEqual(batches.flat().sort(), [...bodies].sort());
    assert.ok(batches.every((b) => b.length >= 1 && b.length <= 10));
    assert.ok(batches.some((b) => b.length > 1), "never got more than one message per receive");
    assert.equal(c.errors.length, 0, errorSummary(c));
    const a = await queueAttrs(client, q, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]);
    assert.deepEqual(a, { ApproximateNumberOfMessages: "0", ApproximateNumberOfMessagesNotVisible: "0" });
  });

  it("handleMessageBatch acknowledging a subset leaves the rest for redelivery", async () => {
    const q = await createQueue(client, uniqueName("conspart"), { VisibilityTimeout: "1" });
    await sendBatch(q, ["keep-0", "ack-1", "keep-2", "ack-3"]);
    const deliveries = [];
    const c = makeConsumer({
      queueUrl: q,
      batchSize: 10,
      attributeNames: ["ApproximateReceiveCount"],
      messageSystemAttributeNames: ["ApproximateReceiveCount"],
      handleMessageBatch: async (msgs) => {
        deliveries.push(...msgs.map((m) => `${m.Body}#${m.Attributes?.ApproximateReceiveCount}`));
        // ack "ack-*" at once, "keep-*" only on their second delivery
        return msgs.filter((m) => m.Body.startsWith("ack") || m.Attributes?.ApproximateReceiveCount === "2");
      },
    });
    c.start();
    try {
      await waitFor(() => deliveries.filter((d) => d.endsWith("#2")).length >= 2, {
        timeoutMs: 15_000,
        what: `redelivery of unacknowledged messages (deliveries: ${deliveries}; errors: ${errorSummary(c)})`,
      });
      await sleep(300);
    } finally {
      await stopConsumer(c);
    }
    const second = deliveries.filter((d) => d.endsWith("#2")).sort();
    assert.deepEqual(second, ["keep-0#2", "keep-2#2"]);
    assert.ok(!deliveries.some((d) => d.startsWith("ack") && d.endsWith("#2")), `acked message came back: ${deliveries}`);
    const a = await queueAttrs(client, q, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]);
    assert.deepEqual(a, { ApproximateNumberOfMessages: "0", ApproximateNumberOfMessagesNotVisible: "0" });
  });

  it("a throwing handler makes the message visible again (terminateVisibilityTimeout)", async () => {
    const q = await createQueue(client, uniqueName("consthrow"));
    await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "flaky" }));
    const attempts = [];
    const processingErrors = [];
    let done = false;
    const c = makeConsumer({
      queueUrl: q,
      terminateVisibilityTimeout: true,
      messageSystemAttributeNames: ["ApproximateReceiveCount"],
      handleMessage: async (m) => {
        attempts.push(m.Attributes?.ApproximateReceiveCount);
        if (attempts.length === 1) throw new Error("boom");
        return m;
      },
    });
    c.on("processing_error", (err) => processingErrors.push(err));
    c.on("message_processed", () => {
      done = true;
    });
    c.start();
    try {
      await waitFor(() => done, {
        timeoutMs: 10_000,
        what: `second attempt (attempts: ${attempts}; errors: ${errorSummary(c)})`,
      });
    } finally {
      await stopConsumer(c);
    }
    assert.deepEqual(attempts, ["1", "2"]);
    assert.equal(processingErrors.length, 1);
    assert.match(processingErrors[0].message, /boom/);
    assert.equal(c.errors.length, 0, `ChangeMessageVisibility/Delete failed: ${errorSummary(c)}`);
  });

  it("a throwing handler without terminateVisibilityTimeout gets the message back after the queue's timeout", async () => {
    const q = await createQueue(client, uniqueName("consvt"), { VisibilityTimeout: "1" });
    await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "retry-later" }));
    const times = [];
    let done = false;
    const c = makeConsumer({
      queueUrl: q,
      handleMessage: async (m) => {
        times.push(Date.now());
        if (times.length === 1) throw new Error("first try fails");
        return m;
      },
    });
    c.on("processing_error", () => {});
    c.on("message_processed", () => {
      done = true;
    });
    c.start();
    try {
      await waitFor(() => done, { timeoutMs: 10_000, what: `redelivery (attempts ${times.length})` });
    } finally {
      await stopConsumer(c);
    }
    assert.equal(times.length, 2);
    assert.ok(times[1] - times[0] >= 700, `redelivered after ${times[1] - times[0]} ms, before the 1 s timeout`);
  });

  it("a handler that always throws sends the message to the DLQ after maxReceiveCount", async () => {
    const dlqName = uniqueName("consdlq");
    const dlq = await createQueue(client, dlqName);
    const q = await createQueue(client, uniqueName("conssrc"), {
      VisibilityTimeout: "1",
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: server.queueArn(dlqName), maxReceiveCount: 2 }),
    });
    const sent = await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "poison-pill" }));
    let attempts = 0;
    const c = makeConsumer({
      queueUrl: q,
      terminateVisibilityTimeout: true,
      handleMessage: async () => {
        attempts++;
        throw new Error("always fails");
      },
    });
    c.on("processing_error", () => {});
    c.start();
    try {
      await waitFor(
        async () => (await queueAttrs(client, dlq, ["ApproximateNumberOfMessages"])).ApproximateNumberOfMessages === "1",
        { timeoutMs: 15_000, intervalMs: 250, what: `message in DLQ (attempts so far ${attempts}; errors: ${errorSummary(c)})` },
      );
      await sleep(1200); // let the consumer poll the now-empty source a little longer
    } finally {
      await stopConsumer(c);
    }
    assert.equal(attempts, 2, "handler must run exactly maxReceiveCount times");
    const [d] = await receiveN(client, dlq, 1, { timeoutMs: 3000 });
    assert.equal(d?.Body, "poison-pill");
    assert.equal(d?.MessageId, sent.MessageId);
    const a = await queueAttrs(client, q, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]);
    assert.deepEqual(a, { ApproximateNumberOfMessages: "0", ApproximateNumberOfMessagesNotVisible: "0" });
  });

  it("heartbeatInterval keeps a slow message invisible while it is handled", async () => {
    const q = await createQueue(client, uniqueName("conshb"));
    await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "slow" }));
    let calls = 0;
    let done = false;
    let peek = null;
    const c = makeConsumer({
      queueUrl: q,
      visibilityTimeout: 2,
      heartbeatInterval: 1,
      handleMessage: async (m) => {
        calls++;
        await sleep(2800);
        peek = await receiveNow(client, q); // past the original 2 s: must still be hidden
        return m;
      },
    });
    c.on("message_processed", () => {
      done = true;
    });
    c.start();
    try {
      await waitFor(() => done, { timeoutMs: 12_000, what: `slow message processed (errors: ${errorSummary(c)})` });
    } finally {
      await stopConsumer(c);
    }
    assert.equal(calls, 1);
    assert.deepEqual(peek, [], "message reappeared although heartbeats extended its visibility");
    assert.equal(c.errors.length, 0, errorSummary(c));
  });

  it("passes message attributes through (messageAttributeNames: All)", async () => {
    const q = await createQueue(client, uniqueName("consattr"));
    const attrs = {
      kind: { DataType: "String", StringValue: "order" },
      qty: { DataType: "Number", StringValue: "3" },
      blob: { DataType: "Binary", BinaryValue: new Uint8Array([9, 8, 7]) },
    };
    await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "attrs", MessageAttributes: attrs }));
    let got = null;
    const c = makeConsumer({
      queueUrl: q,
      messageAttributeNames: ["All"],
      handleMessage: async (m) => {
        got = m;
        return m;
      },
    });
    c.start();
    try {
      await waitFor(() => got, { timeoutMs: 8000, what: "message with attributes" });
    } finally {
      await stopConsumer(c);
    }
    assert.equal(got.MessageAttributes?.kind?.StringValue, "order");
    assert.equal(got.MessageAttributes?.qty?.StringValue, "3");
    assert.deepEqual(Buffer.from(got.MessageAttributes?.blob?.BinaryValue ?? []), Buffer.from([9, 8, 7]));
    assert.equal(got.MD5OfMessageAttributes, md5OfMessageAttributes(attrs));
  });

  it("consumes a FIFO queue in group order", async () => {
    const q = await createQueue(client, `${uniqueName("consfifo")}.fifo`, {
      FifoQueue: "true",
      ContentBasedDeduplication: "true",
    });
    const bodies = Array.from({ length: 12 }, (_, i) => `f-${String(i).padStart(2, "0")}`);
    await sendBatch(q, bodies, () => ({ MessageGroupId: "only" }));
    const order = [];
    const c = makeConsumer({
      queueUrl: q,
      batchSize: 4,
      handleMessageBatch: async (msgs) => {
        order.push(...msgs.map((m) => m.Body));
        return msgs;
      },
    });
    c.start();
    try {
      await waitFor(() => order.length >= bodies.length, {
        timeoutMs: 15_000,
        what: `12 FIFO messages (have ${order.length}; errors: ${errorSummary(c)})`,
      });
    } finally {
      await stopConsumer(c);
    }
    assert.deepEqual(order, bodies);
  });

  it("stop() stops polling: messages sent afterwards stay in the queue", async () => {
    const q = await createQueue(client, uniqueName("consstop"));
    let handled = 0;
    const c = makeConsumer({
      queueUrl: q,
      handleMessage: async (m) => {
        handled++;
        return m;
      },
    });
    const empty = once(c, "empty");
    c.start();
    assert.equal(c.status.isRunning, true);
    await withTimeout(empty, 5000, () => assert.fail("no empty poll within 5 s"));
    await stopConsumer(c);
    assert.equal(c.status.isRunning, false);
    await sleep(1500); // any poll in flight at stop() (waitTimeSeconds 1) has ended
    await sendBatch(q, ["s1", "s2", "s3"]);
    await sleep(1500);
    assert.equal(handled, 0, "the stopped consumer handled messages");
    const left = await receiveN(client, q, 3, { timeoutMs: 5000 });
    assert.equal(left.length, 3);
  });

  it("stop({abort: true}) ends a 20 s long poll promptly and loses no messages", async () => {
    const q = await createQueue(client, uniqueName("consabort"), { VisibilityTimeout: "2" });
    let handled = 0;
    const c = makeConsumer({
      queueUrl: q,
      waitTimeSeconds: 20,
      handleMessage: async (m) => {
        handled++;
        return m;
      },
    });
    c.start();
    await sleep(500); // the long poll is now waiting on the server
    assert.equal(c.status.isPolling, true, "consumer is not polling");
    const t0 = Date.now();
    const aborted = once(c, "aborted");
    await stopConsumer(c, { abort: true });
    await withTimeout(aborted, 1000, () => null);
    assert.ok(Date.now() - t0 < 2000, "stop with abort took too long");
    // Server must still serve requests, and messages sent now must all be delivered
    // (at the latest after the 2 s visibility timeout, should an abandoned poll have taken one).
    await sendBatch(q, ["x1", "x2", "x3"]);
    const got = await receiveN(client, q, 3, { timeoutMs: 6000 });
    assert.deepEqual(got.map((m) => m.Body).sort(), ["x1", "x2", "x3"]);
    assert.equal(handled, 0);
  });
});
