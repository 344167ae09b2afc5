// Process lifecycle: SIGTERM exits; queues, attributes, tags and messages
// survive a restart on the same --data directory.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  SendMessageCommand,
  ReceiveMessageCommand,
  GetQueueUrlCommand,
  ListQueueTagsCommand,
  DeleteMessageCommand,
} from "@aws-sdk/client-sqs";
import {
  startServer,
  makeClient,
  uniqueName,
  createQueue,
  md5Hex,
  md5OfMessageAttributes,
  receiveN,
  queueAttrs,
  withTimeout,
  sleep,
} from "./helpers.mjs";

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "tweedle-js-persist-"));
const dataDir = path.join(workDir, "data");
const started = [];

after(async () => {
  for (const s of started) await s.stop({ cleanup: false });
  if (!process.env.TWEEDLE_KEEP_DATA) fs.rmSync(workDir, { recursive: true, force: true });
});

async function start(port) {
  const s = await startServer({ workDir, dataDir, port, credentials });
  started.push(s);
  return s;
}

const credentials = { accessKeyId: "AKIDPERSIST000000000", secretAccessKey: "persist-secret-key-for-tests-only" };

describe("persistence and shutdown", () => {
  it("SIGTERM exits promptly; state survives a restart on the same data dir", async () => {
    const s1 = await start();
    const c1 = makeClient(s1);
    const name = uniqueName("persist");
    const fifo = `${uniqueName("persistf")}.fifo`;
    const attrs = { k: { DataType: "String", StringValue: "v" }, b: { DataType: "Binary", BinaryValue: new Uint8Array([1, 2]) } };
    let q;
    let fq;
    try {
      q = await createQueue(c1, name, { VisibilityTimeout: "17", DelaySeconds: "0" }, { keep: "me" });
      fq = await createQueue(c1, fifo, { FifoQueue: "true", ContentBasedDeduplication: "true" });
      for (let i = 0; i < 3; i++) {
        await c1.send(new SendMessageCommand({ QueueUrl: q, MessageBody: `durable-${i}`, MessageAttributes: attrs }));
      }
      for (let i = 0; i < 3; i++) {
        await c1.send(new SendMessageCommand({ QueueUrl: fq, MessageBody: `fifo-${i}`, MessageGroupId: "g" }));
      }
    } finally {
      c1.destroy();
    }
    const stopped = await s1.stop({ cleanup: false });
    assert.equal(stopped.killed, false, `did not exit within 10 s of SIGTERM`);
    assert.ok(stopped.code === 0 || stopped.signal === "SIGTERM", `exit: ${JSON.stringify(stopped)}`);
    if (stopped.code !== 0) console.error(`note: tweedle exited by signal ${stopped.signal}, not code 0`);

    const s2 = await start(s1.port);
    const c2 = makeClient(s2);
    try {
      const url = (await c2.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
      assert.equal(url, q);
      const a = await queueAttrs(c2, q);
      assert.equal(a.VisibilityTimeout, "17");
      assert.equal(a.ApproximateNumberOfMessages, "3");
      const tags = await c2.send(new ListQueueTagsCommand({ QueueUrl: q }));
      assert.deepEqual(tags.Tags, { keep: "me" });
      const msgs = await receiveN(c2, q, 3, { timeoutMs: 5000, extra: { MessageAttributeNames: ["All"] } });
      assert.deepEqual(msgs.map((m) => m.Body).sort(), ["durable-0", "durable-1", "durable-2"]);
      for (const m of msgs) {
        assert.equal(m.MD5OfBody, md5Hex(m.Body));
        assert.equal(m.MD5OfMessageAttributes, md5OfMessageAttributes(attrs));
        await c2.send(new DeleteMessageCommand({ QueueUrl: q, ReceiptHandle: m.ReceiptHandle }));
      }
      const fa = await queueAttrs(c2, fq, ["FifoQueue", "ContentBasedDeduplication"]);
      assert.deepEqual(fa, { FifoQueue: "true", ContentBasedDeduplication: "true" });
      const fm = await receiveN(c2, fq, 3, { timeoutMs: 5000 });
      assert.deepEqual(fm.map((m) => m.Body), ["fifo-0", "fifo-1", "fifo-2"]);
      // Dedup state survives too: re-sending fifo-0 within 5 minutes is dropped.
      for (const m of fm) await c2.send(new DeleteMessageCommand({ QueueUrl: fq, ReceiptHandle: m.ReceiptHandle }));
      await c2.send(new SendMessageCommand({ QueueUrl: fq, MessageBody: "fifo-0", MessageGroupId: "g" }));
      const dup = await c2.send(new ReceiveMessageCommand({ QueueUrl: fq, WaitTimeSeconds: 1 }));
      assert.equal((dup.Messages || []).length, 0, "FIFO dedup window lost across restart");
    } finally {
      c2.destroy();
    }
  });

  it("in-flight messages stay invisible across a restart and then come back", async () => {
    const s = await start();
    const c = makeClient(s);
    let q;
    try {
      q = await createQueue(c, uniqueName("inflight"));
      await c.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "in-flight" }));
      const [m] = await receiveN(c, q, 1, { timeoutMs: 5000, extra: { VisibilityTimeout: 3 } });
      assert.ok(m);
    } finally {
      c.destroy();
    }
    const t0 = Date.now();
    await s.stop({ cleanup: false });
    const s2 = await start(s.port);
    const c2 = makeClient(s2);
    try {
      if (Date.now() - t0 < 2000) {
        const early = await c2.send(new ReceiveMessageCommand({ QueueUrl: q, WaitTimeSeconds: 0 }));
        assert.equal((early.Messages || []).length, 0, "in-flight message became visible at restart");
      }
      const [back] = await receiveN(c2, q, 1, { timeoutMs: 6000 });
      assert.equal(back?.Body, "in-flight");
    } finally {
      c2.destroy();
    }
  });

  it("SIGTERM during a long poll still exits within 10 s", async () => {
    const s = await start();
    const c = makeClient(s);
    const q = await createQueue(c, uniqueName("lpterm"));
    const poll = c.send(new ReceiveMessageCommand({ QueueUrl: q, WaitTimeSeconds: 20 })).then(
      (r) => ({ ok: r }),
      (e) => ({ err: e }),
    );
    await sleep(500);
    const r = await s.stop({ cleanup: false });
    c.destroy();
    assert.equal(r.killed, false, `server ignored SIGTERM for 10 s with a long poll open (${r.ms} ms)`);
    const outcome = await withTimeout(poll, 3000, () => ({ hung: true }));
    assert.ok(!outcome.hung, "the long-poll request hung after the server exited");
  });
});
