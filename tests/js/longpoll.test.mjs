// Long polling: bounded waits, early return on arrival, queue default wait,
// concurrent pollers each get distinct messages.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { SendMessageCommand, ReceiveMessageCommand, DeleteMessageCommand } from "@aws-sdk/client-sqs";
import { startServer, withServer, makeClient, uniqueName, createQueue, sleep } from "./helpers.mjs";

let server;
let client;
withServer((s, c) => ((server = s), (client = c)));

async function timedReceive(params) {
  const t0 = Date.now();
  const res = await client.send(new ReceiveMessageCommand(params));
  return { msgs: res.Messages || [], ms: Date.now() - t0 };
}

describe("long polling", () => {
  it("WaitTimeSeconds 0 on an empty queue returns at once", async () => {
    const q = await createQueue(client, uniqueName("lp0"));
    const { msgs, ms } = await timedReceive({ QueueUrl: q, WaitTimeSeconds: 0 });
    assert.equal(msgs.length, 0);
    assert.ok(ms < 1000, `took ${ms} ms`);
  });

  it("WaitTimeSeconds 2 on an empty queue waits about 2 s and returns no messages", async () => {
    const q = await createQueue(client, uniqueName("lp2"));
    const { msgs, ms } = await timedReceive({ QueueUrl: q, WaitTimeSeconds: 2 });
    assert.equal(msgs.length, 0);
    assert.ok(ms >= 1800, `returned after ${ms} ms, before the wait time`);
    assert.ok(ms < 4500, `took ${ms} ms for a 2 s wait`);
  });

  it("returns as soon as a message arrives during the wait", async () => {
    const q = await createQueue(client, uniqueName("lpwake"));
    const pending = timedReceive({ QueueUrl: q, WaitTimeSeconds: 10 });
    await sleep(700);
    const sentAt = Date.now();
    await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "wake" }));
    const { msgs, ms } = await pending;
    assert.equal(msgs.length, 1, "long poll ended without the message");
    assert.equal(msgs[0].Body, "wake");
    const afterSend = Date.now() - sentAt;
    assert.ok(afterSend < 2000, `returned ${afterSend} ms after the send (total ${ms} ms)`);
  });

  it("uses the queue's ReceiveMessageWaitTimeSeconds when none is given", async () => {
    const q = await createQueue(client, uniqueName("lpq"), { ReceiveMessageWaitTimeSeconds: "2" });
    const { msgs, ms } = await timedReceive({ QueueUrl: q });
    assert.equal(msgs.length, 0);
    assert.ok(ms >= 1800 && ms < 4500, `queue default wait took ${ms} ms`);
  });

  it("an explicit WaitTimeSeconds 0 overrides the queue default", async () => {
    const q = await createQueue(client, uniqueName("lpq0"), { ReceiveMessageWaitTimeSeconds: "5" });
    const { ms } = await timedReceive({ QueueUrl: q, WaitTimeSeconds: 0 });
    assert.ok(ms < 1000, `took ${ms} ms`);
  });

  it("wakes for a message that becomes visible (delay) during the wait", async () => {
    const q = await createQueue(client, uniqueName("lpdelay"));
    await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "delayed", DelaySeconds: 1 }));
    const { msgs, ms } = await timedReceive({ QueueUrl: q, WaitTimeSeconds: 5 });
    assert.equal(msgs.length, 1, "delayed message not delivered to the waiting poller");
    assert.ok(ms >= 700 && ms < 3500, `took ${ms} ms`);
  });

  it("concurrent pollers each get distinct messages; none is delivered twice", async () => {
    const q = await createQueue(client, uniqueName("lpmany"));
    const pollers = Array.from({ length: 4 }, () =>
      timedReceive({ QueueUrl: q, WaitTimeSeconds: 5, MaxNumberOfMessages: 1, VisibilityTimeout: 30 }),
    );
    await sleep(500);
    for (let i = 0; i < 4; i++) {
      await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: `c${i}` }));
    }
    const results = await Promise.all(pollers);
    const bodies = results.flatMap((r) => r.msgs.map((m) => m.Body));
    assert.equal(new Set(bodies).size, bodies.length, `duplicate delivery: ${bodies}`);
    // Any message not handed to a poller must still be in the queue.
    const more = await client.send(
      new ReceiveMessageCommand({ QueueUrl: q, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    const all = [...bodies, ...(more.Messages || []).map((m) => m.Body)].sort();
    assert.deepEqual(all, ["c0", "c1", "c2", "c3"]);
    assert.ok(bodies.length >= 3, `only ${bodies.length} of 4 waiting pollers were served`);
  });

  it("many sequential long polls on one keep-alive client stay healthy", async () => {
    const q = await createQueue(client, uniqueName("lpseq"));
    for (let i = 0; i < 10; i++) {
      await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: `s${i}` }));
      const { msgs } = await timedReceive({ QueueUrl: q, WaitTimeSeconds: 1 });
      assert.equal(msgs[0]?.Body, `s${i}`);
      await client.send(new DeleteMessageCommand({ QueueUrl: q, ReceiptHandle: msgs[0].ReceiptHandle }));
    }
  });
});
