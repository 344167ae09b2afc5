// Batch actions: SendMessageBatch, DeleteMessageBatch, ChangeMessageVisibilityBatch
// and their request-level errors.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  SendMessageBatchCommand,
  DeleteMessageBatchCommand,
  ChangeMessageVisibilityBatchCommand,
  ReceiveMessageCommand,
  TooManyEntriesInBatchRequest,
  BatchEntryIdsNotDistinct,
  EmptyBatchRequest,
  InvalidBatchEntryId,
  BatchRequestTooLong,
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
  receiveNow,
  expectReject,
  describeErr,
} from "./helpers.mjs";

let server;
let client;
withServer((s, c) => ((server = s), (client = c)));

function entries(n, prefix = "e") {
  return Array.from({ length: n }, (_, i) => ({ Id: `${prefix}${i}`, MessageBody: `${prefix}-body-${i}` }));
}

describe("SendMessageBatch", () => {
  it("sends 10 entries; every entry's MD5s match", async () => {
    const q = await createQueue(client, uniqueName("sb"));
    const es = entries(10);
    es[3].MessageAttributes = {
      kind: { DataType: "String", StringValue: "three" },
      n: { DataType: "Number", StringValue: "3" },
      raw: { DataType: "Binary", BinaryValue: new Uint8Array([3, 3, 3]) },
    };
    es[7].MessageBody = "seven ✓ \u{1F40D}";
    const res = await client.send(new SendMessageBatchCommand({ QueueUrl: q, Entries: es }));
    assert.equal((res.Failed || []).length, 0, JSON.stringify(res.Failed));
    assert.equal(res.Successful.length, 10);
    const byId = Object.fromEntries(res.Successful.map((s) => [s.Id, s]));
    for (const e of es) {
      const s = byId[e.Id];
      assert.ok(s, `no result for ${e.Id}`);
      assert.ok(s.MessageId);
      assert.equal(s.MD5OfMessageBody, md5Hex(e.MessageBody), `MD5OfMessageBody of ${e.Id}`);
      if (e.MessageAttributes) {
        assert.equal(s.MD5OfMessageAttributes, md5OfMessageAttributes(e.MessageAttributes), `attr MD5 of ${e.Id}`);
      } else {
        assert.equal(s.MD5OfMessageAttributes, undefined);
      }
    }
    assert.equal(new Set(res.Successful.map((s) => s.MessageId)).size, 10, "MessageIds must be distinct");

    const got = await receiveN(client, q, 10, { timeoutMs: 8000, extra: { MessageAttributeNames: ["All"] } });
    assert.deepEqual(got.map((m) => m.Body).sort(), es.map((e) => e.MessageBody).sort());
    const three = got.find((m) => m.Body === es[3].MessageBody);
    assert.equal(three.MD5OfMessageAttributes, md5OfMessageAttributes(es[3].MessageAttributes));
    assert.deepEqual(Buffer.from(three.MessageAttributes.raw.BinaryValue), Buffer.from([3, 3, 3]));
  });

  it("per-entry DelaySeconds is honoured", async () => {
    const q = await createQueue(client, uniqueName("sbdelay"));
    await client.send(
      new SendMessageBatchCommand({
        QueueUrl: q,
        Entries: [
          { Id: "now", MessageBody: "now" },
          { Id: "later", MessageBody: "later", DelaySeconds: 2 },
        ],
      }),
    );
    const first = await receiveN(client, q, 1, { timeoutMs: 3000 });
    assert.deepEqual(first.map((m) => m.Body), ["now"]);
    assert.equal((await receiveNow(client, q)).length, 0, "delayed entry visible too early");
    const later = await receiveN(client, q, 1, { timeoutMs: 6000 });
    assert.deepEqual(later.map((m) => m.Body), ["later"]);
  });

  it("more than 10 entries fails with TooManyEntriesInBatchRequest", async () => {
    const q = await createQueue(client, uniqueName("sb11"));
    const err = await expectReject(client.send(new SendMessageBatchCommand({ QueueUrl: q, Entries: entries(11) })));
    assert.ok(err instanceof TooManyEntriesInBatchRequest, describeErr(err));
    assert.equal(err.Code, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", describeErr(err));
    assert.equal((await receiveNow(client, q)).length, 0, "nothing may be sent from a rejected batch");
  });

  it("duplicate entry ids fail with BatchEntryIdsNotDistinct", async () => {
    const q = await createQueue(client, uniqueName("sbdup"));
    const es = entries(3);
    es[2].Id = es[0].Id;
    const err = await expectReject(client.send(new SendMessageBatchCommand({ QueueUrl: q, Entries: es })));
    assert.ok(err instanceof BatchEntryIdsNotDistinct, describeErr(err));
    assert.equal(err.Code, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", describeErr(err));
  });

  it("an empty batch fails with EmptyBatchRequest", async () => {
    const q = await createQueue(client, uniqueName("sbempty"));
    const err = await expectReject(client.send(new SendMessageBatchCommand({ QueueUrl: q, Entries: [] })));
    assert.ok(err instanceof EmptyBatchRequest, describeErr(err));
    assert.equal(err.Code, "AWS.SimpleQueueService.EmptyBatchRequest", describeErr(err));
  });

  it("an invalid entry id fails with InvalidBatchEntryId", async () => {
    const q = await createQueue(client, uniqueName("sbbadid"));
    for (const badId of ["has space", "x".repeat(81), "dot.id"]) {
      const err = await expectReject(
        client.send(new SendMessageBatchCommand({ QueueUrl: q, Entries: [{ Id: badId, MessageBody: "b" }] })),
      );
      assert.ok(err instanceof InvalidBatchEntryId, `id ${JSON.stringify(badId)}: ${describeErr(err)}`);
    }
    // The longest valid id (80 chars of the allowed alphabet) is accepted.
    const okId = "A-b_9".repeat(16);
    const res = await client.send(
      new SendMessageBatchCommand({ QueueUrl: q, Entries: [{ Id: okId, MessageBody: "ok" }] }),
    );
    assert.equal(res.Successful?.[0]?.Id, okId);
  });

  it("a batch whose total payload exceeds 1 MiB fails with BatchRequestTooLong", async () => {
    const q = await createQueue(client, uniqueName("sblong"), { MaximumMessageSize: "1048576" });
    const big = "y".repeat(600 * 1024);
    const err = await expectReject(
      client.send(
        new SendMessageBatchCommand({
          QueueUrl: q,
          Entries: [
            { Id: "a", MessageBody: big },
            { Id: "b", MessageBody: big },
          ],
        }),
      ),
    );
    assert.ok(err instanceof BatchRequestTooLong, describeErr(err));
    assert.equal((await receiveNow(client, q)).length, 0);
  });
});

describe("DeleteMessageBatch", () => {
  it("deletes all entries", async () => {
    const q = await createQueue(client, uniqueName("db"));
    await client.send(new SendMessageBatchCommand({ QueueUrl: q, Entries: entries(6) }));
    const got = await receiveN(client, q, 6, { timeoutMs: 8000, extra: { VisibilityTimeout: 2 } });
    assert.equal(got.length, 6);
    const res = await client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: q,
        Entries: got.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })),
      }),
    );
    assert.equal(res.Successful.length, 6);
    assert.equal((res.Failed || []).length, 0);
    // Even after their visibility timeout would have expired, they stay gone.
    const after = await receiveN(client, q, 1, { timeoutMs: 3000 });
    assert.equal(after.length, 0, "deleted messages came back");
  });

  it("reports an invalid receipt handle per entry, deleting the rest", async () => {
    const q = await createQueue(client, uniqueName("dbpart"));
    await client.send(new SendMessageBatchCommand({ QueueUrl: q, Entries: entries(2) }));
    const got = await receiveN(client, q, 2, { timeoutMs: 5000, extra: { VisibilityTimeout: 1 } });
    assert.equal(got.length, 2);
    const res = await client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: q,
        Entries: [
          { Id: "good0", ReceiptHandle: got[0].ReceiptHandle },
          { Id: "bad", ReceiptHandle: "this-is-not-a-receipt-handle" },
          { Id: "good1", ReceiptHandle: got[1].ReceiptHandle },
        ],
      }),
    );
    assert.deepEqual(res.Successful.map((s) => s.Id).sort(), ["good0", "good1"]);
    assert.equal(res.Failed?.length, 1, JSON.stringify(res));
    assert.equal(res.Failed[0].Id, "bad");
    assert.equal(res.Failed[0].Code, "ReceiptHandleIsInvalid");
    assert.equal(res.Failed[0].SenderFault, true);
    const after = await receiveN(client, q, 1, { timeoutMs: 2500 });
    assert.equal(after.length, 0);
  });

  it("more than 10 entries fails with TooManyEntriesInBatchRequest", async () => {
    const q = await createQueue(client, uniqueName("db11"));
    const es = Array.from({ length: 11 }, (_, i) => ({ Id: `x${i}`, ReceiptHandle: "rh" }));
    const err = await expectReject(client.send(new DeleteMessageBatchCommand({ QueueUrl: q, Entries: es })));
    assert.ok(err instanceof TooManyEntriesInBatchRequest, describeErr(err));
  });
});

describe("ChangeMessageVisibilityBatch", () => {
  it("makes selected in-flight messages visible again and extends others", async () => {
    const q = await createQueue(client, uniqueName("cvb"));
    await client.send(new SendMessageBatchCommand({ QueueUrl: q, Entries: entries(3) }));
    const got = await receiveN(client, q, 3, { timeoutMs: 5000, extra: { VisibilityTimeout: 2 } });
    assert.equal(got.length, 3);
    const [a, b, c] = got;
    const res = await client.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: q,
        Entries: [
          { Id: "a", ReceiptHandle: a.ReceiptHandle, VisibilityTimeout: 0 },
          { Id: "b", ReceiptHandle: b.ReceiptHandle, VisibilityTimeout: 0 },
          { Id: "c", ReceiptHandle: c.ReceiptHandle, VisibilityTimeout: 30 },
        ],
      }),
    );
    assert.deepEqual(res.Successful.map((s) => s.Id).sort(), ["a", "b", "c"]);
    assert.equal((res.Failed || []).length, 0);
    const again = await receiveN(client, q, 2, { timeoutMs: 3000 });
    assert.deepEqual(again.map((m) => m.MessageId).sort(), [a.MessageId, b.MessageId].sort());
    // c was extended to 30 s: still hidden after its original 2 s.
    const res2 = await client.send(new ReceiveMessageCommand({ QueueUrl: q, WaitTimeSeconds: 3 }));
    assert.equal((res2.Messages || []).length, 0, "extended message reappeared");
  });

  it("reports an invalid receipt handle per entry", async () => {
    const q = await createQueue(client, uniqueName("cvbbad"));
    await client.send(new SendMessageBatchCommand({ QueueUrl: q, Entries: entries(1) }));
    const [m] = await receiveN(client, q, 1, { timeoutMs: 5000 });
    const res = await client.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: q,
        Entries: [
          { Id: "ok", ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 },
          { Id: "bad", ReceiptHandle: "garbage", VisibilityTimeout: 0 },
        ],
      }),
    );
    assert.deepEqual((res.Successful || []).map((s) => s.Id), ["ok"]);
    assert.equal(res.Failed?.[0]?.Id, "bad", JSON.stringify(res));
    assert.equal(res.Failed[0].Code, "ReceiptHandleIsInvalid");
    assert.equal(res.Failed[0].SenderFault, true);
  });
});

describe("volume", () => {
  it("1000 messages sent in parallel batches are received exactly once by 5 concurrent receivers", async () => {
    const q = await createQueue(client, uniqueName("volume"));
    const N = 1000;
    const all = Array.from({ length: N }, (_, i) => `v${i}`);
    const chunks = [];
    for (let i = 0; i < N; i += 10) chunks.push(all.slice(i, i + 10));
    for (let i = 0; i < chunks.length; i += 10) {
      await Promise.all(
        chunks.slice(i, i + 10).map(async (chunk) => {
          const res = await client.send(
            new SendMessageBatchCommand({ QueueUrl: q, Entries: chunk.map((b) => ({ Id: b, MessageBody: b })) }),
          );
          assert.equal(res.Successful?.length, chunk.length, JSON.stringify(res.Failed));
        }),
      );
    }
    const seen = new Map();
    const deadline = Date.now() + 30_000;
    const worker = async () => {
      let emptyStreak = 0;
      while (Date.now() < deadline && emptyStreak < 2) {
        const res = await client.send(
          new ReceiveMessageCommand({ QueueUrl: q, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 60 }),
        );
        const msgs = res.Messages || [];
        emptyStreak = msgs.length ? 0 : emptyStreak + 1;
        for (const m of msgs) seen.set(m.Body, (seen.get(m.Body) || 0) + 1);
        if (msgs.length) {
          const del = await client.send(
            new DeleteMessageBatchCommand({
              QueueUrl: q,
              Entries: msgs.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })),
            }),
          );
          assert.equal((del.Failed || []).length, 0, JSON.stringify(del.Failed));
        }
      }
    };
    await Promise.all(Array.from({ length: 5 }, worker));
    const dups = [...seen].filter(([, n]) => n > 1).map(([b]) => b);
    assert.deepEqual(dups, [], "messages delivered more than once while in flight");
    const missing = all.filter((b) => !seen.has(b));
    assert.deepEqual(missing.slice(0, 20), [], `${missing.length} messages never received`);
  });
});
