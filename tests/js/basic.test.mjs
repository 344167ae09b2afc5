// Queue lifecycle and the basic send / receive / delete path with the JS SDK v3.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  SQSClient,
  CreateQueueCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  DeleteQueueCommand,
  SendMessageCommand,
  ReceiveMessageCommand,
  DeleteMessageCommand,
  PurgeQueueCommand,
  QueueDoesNotExist,
  QueueNameExists,
  PurgeQueueInProgress,
  paginateListQueues,
} from "@aws-sdk/client-sqs";
import {
  startServer,
  withServer,
  makeClient,
  captureRaw,
  uniqueName,
  createQueue,
  md5Hex,
  receiveN,
  receiveNow,
  queueAttrs,
  expectReject,
  describeErr,
  sleep,
  ACCOUNT,
} from "./helpers.mjs";

let server;
let client;
withServer((s, c) => ((server = s), (client = c)));

describe("server", () => {
  it("GET /_/health answers 200", async () => {
    const res = await fetch(`${server.endpoint}/_/health`, { signal: AbortSignal.timeout(3000) });
    await res.arrayBuffer();
    assert.equal(res.status, 200);
  });

  it("responses carry JSON 1.0 content type and x-amzn-RequestId", async () => {
    const c = makeClient(server);
    const raw = captureRaw(c);
    try {
      const out = await c.send(new ListQueuesCommand({}));
      assert.equal(raw.last.statusCode, 200);
      assert.match(String(raw.last.headers["content-type"]), /^application\/x-amz-json-1\.0/);
      assert.ok(raw.last.headers["x-amzn-requestid"], `no x-amzn-RequestId header: ${JSON.stringify(raw.last.headers)}`);
      assert.equal(out.$metadata.requestId, raw.last.headers["x-amzn-requestid"]);
      JSON.parse(raw.last.body); // must be JSON
    } finally {
      c.destroy();
    }
  });
});

describe("queue lifecycle", () => {
  it("CreateQueue returns a reachable queue URL on the server's host", async () => {
    const name = uniqueName("life");
    const url = await createQueue(client, name);
    assert.equal(url, `http://127.0.0.1:${server.port}/${ACCOUNT}/${name}`);
  });

  it("CreateQueue is idempotent with identical attributes", async () => {
    const name = uniqueName("idem");
    const a = await createQueue(client, name, { VisibilityTimeout: "40" });
    const b = await createQueue(client, name, { VisibilityTimeout: "40" });
    assert.equal(a, b);
  });

  it("CreateQueue with different attributes fails with QueueNameExists", async () => {
    const name = uniqueName("conflict");
    await createQueue(client, name, { VisibilityTimeout: "40" });
    const err = await expectReject(
      client.send(new CreateQueueCommand({ QueueName: name, Attributes: { VisibilityTimeout: "50" } })),
    );
    assert.ok(err instanceof QueueNameExists, describeErr(err));
    assert.equal(err.name, "QueueNameExists");
    assert.equal(err.Code, "QueueAlreadyExists", describeErr(err));
    assert.equal(err.$metadata.httpStatusCode, 400);
  });

  it("GetQueueUrl finds an existing queue", async () => {
    const name = uniqueName("geturl");
    const url = await createQueue(client, name);
    const res = await client.send(new GetQueueUrlCommand({ QueueName: name }));
    assert.equal(res.QueueUrl, url);
  });

  it("GetQueueUrl with QueueOwnerAWSAccountId of the account works", async () => {
    const name = uniqueName("owner");
    const url = await createQueue(client, name);
    const res = await client.send(new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: ACCOUNT }));
    assert.equal(res.QueueUrl, url);
  });

  it("ListQueues filters by prefix and paginates with MaxResults/NextToken", async () => {
    const prefix = uniqueName("lst");
    const urls = [];
    for (const s of ["a", "b", "c"]) urls.push(await createQueue(client, `${prefix}-${s}`));
    await createQueue(client, uniqueName("other"));

    const all = await client.send(new ListQueuesCommand({ QueueNamePrefix: prefix }));
    assert.deepEqual([...all.QueueUrls].sort(), [...urls].sort());
    assert.equal(all.NextToken, undefined, "no NextToken without MaxResults");

    const p1 = await client.send(new ListQueuesCommand({ QueueNamePrefix: prefix, MaxResults: 2 }));
    assert.equal(p1.QueueUrls.length, 2);
    assert.ok(p1.NextToken, "expected a NextToken on the first page");
    const p2 = await client.send(
      new ListQueuesCommand({ QueueNamePrefix: prefix, MaxResults: 2, NextToken: p1.NextToken }),
    );
    assert.equal(p2.QueueUrls.length, 1);
    assert.ok(!p2.NextToken, "no NextToken on the last page");
    assert.deepEqual([...p1.QueueUrls, ...p2.QueueUrls].sort(), [...urls].sort());

    // The SDK paginator must terminate and see all three.
    const seen = [];
    for await (const page of paginateListQueues({ client, pageSize: 1 }, { QueueNamePrefix: prefix })) {
      seen.push(...(page.QueueUrls || []));
      assert.ok(seen.length <= 3, "paginator did not terminate");
    }
    assert.deepEqual(seen.sort(), [...urls].sort());

    const none = await client.send(new ListQueuesCommand({ QueueNamePrefix: uniqueName("nomatch") }));
    assert.equal((none.QueueUrls || []).length, 0);
  });

  it("DeleteQueue removes the queue", async () => {
    const name = uniqueName("del");
    const url = await createQueue(client, name);
    await client.send(new DeleteQueueCommand({ QueueUrl: url }));
    const err = await expectReject(client.send(new GetQueueUrlCommand({ QueueName: name })));
    assert.ok(err instanceof QueueDoesNotExist, describeErr(err));
    const err2 = await expectReject(client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "x" })));
    assert.ok(err2 instanceof QueueDoesNotExist, describeErr(err2));
  });
});

describe("send / receive / delete", () => {
  let url;
  before(async () => {
    url = await createQueue(client, uniqueName("srd"));
  });

  it("round-trips a message; MD5OfBody verified by the SDK and by the test", async () => {
    const body = `hello ${Date.now()}`;
    const sent = await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body }));
    assert.ok(sent.MessageId);
    assert.equal(sent.MD5OfMessageBody, md5Hex(body));
    assert.equal(sent.MD5OfMessageAttributes, undefined, "no attribute MD5 when no attributes were sent");

    const msgs = await receiveN(client, url, 1, { timeoutMs: 5000 });
    assert.equal(msgs.length, 1);
    const m = msgs[0];
    assert.equal(m.Body, body);
    assert.equal(m.MessageId, sent.MessageId);
    assert.equal(m.MD5OfBody, md5Hex(body));
    assert.ok(m.ReceiptHandle);
    await client.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
    assert.equal((await receiveNow(client, url)).length, 0);
  });

  it("preserves Unicode bodies byte-exactly (BMP, astral, CR/LF/tab)", async () => {
    const body = "Grüße 日本語 \u{1F600}\u{10FFFF} tab\there\r\nnew line \uE000\uFFFD";
    const sent = await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body }));
    assert.equal(sent.MD5OfMessageBody, md5Hex(Buffer.from(body, "utf8")));
    const [m] = await receiveN(client, url, 1, { timeoutMs: 5000 });
    assert.ok(m, "message not received");
    assert.equal(m.Body, body);
    assert.equal(m.MD5OfBody, md5Hex(Buffer.from(body, "utf8")));
    await client.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
  });

  it("handles a JSON-looking body and a body with quotes/backslashes", async () => {
    const body = JSON.stringify({ a: 1, s: 'quote " backslash \\ slash /', nested: { x: [1, 2, 3] } });
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body }));
    const [m] = await receiveN(client, url, 1, { timeoutMs: 5000 });
    assert.equal(m?.Body, body);
    await client.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
  });

  it("accepts a 600 KiB body on a queue with MaximumMessageSize 1 MiB", async () => {
    const big = await createQueue(client, uniqueName("big"), { MaximumMessageSize: "1048576" });
    const body = "x".repeat(600 * 1024 - 3) + "end";
    const sent = await client.send(new SendMessageCommand({ QueueUrl: big, MessageBody: body }));
    assert.equal(sent.MD5OfMessageBody, md5Hex(body));
    const [m] = await receiveN(client, big, 1, { timeoutMs: 5000 });
    assert.ok(m, "big message not received");
    assert.equal(m.Body.length, body.length);
    assert.equal(m.Body, body);
  });

  it("returns system attributes (All) as strings with epoch-millisecond timestamps", async () => {
    const q = await createQueue(client, uniqueName("sysattr"));
    const before = Date.now();
    await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "sys" }));
    const [m] = await receiveN(client, q, 1, { timeoutMs: 5000, extra: { MessageSystemAttributeNames: ["All"] } });
    const after = Date.now();
    assert.ok(m, "not received");
    const a = m.Attributes || {};
    assert.equal(a.ApproximateReceiveCount, "1", JSON.stringify(a));
    for (const k of ["SentTimestamp", "ApproximateFirstReceiveTimestamp"]) {
      assert.match(String(a[k]), /^\d{13}$/, `${k}=${a[k]}`);
      const v = Number(a[k]);
      assert.ok(v >= before - 2000 && v <= after + 2000, `${k}=${v} not within [${before}, ${after}]`);
    }
    assert.ok(a.SenderId, "SenderId missing");
  });

  it("accepts the legacy AttributeNames parameter", async () => {
    const q = await createQueue(client, uniqueName("legacyattr"));
    await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "legacy" }));
    const [m] = await receiveN(client, q, 1, {
      timeoutMs: 5000,
      extra: { AttributeNames: ["ApproximateReceiveCount", "SentTimestamp"] },
    });
    assert.ok(m, "not received");
    assert.equal(m.Attributes?.ApproximateReceiveCount, "1", JSON.stringify(m.Attributes));
    assert.ok(m.Attributes?.SentTimestamp);
  });

  it("returns no Attributes/MessageAttributes when none are asked for", async () => {
    const q = await createQueue(client, uniqueName("noattr"));
    await client.send(
      new SendMessageCommand({
        QueueUrl: q,
        MessageBody: "plain",
        MessageAttributes: { k: { DataType: "String", StringValue: "v" } },
      }),
    );
    const [m] = await receiveN(client, q, 1, { timeoutMs: 5000 });
    assert.ok(m, "not received");
    assert.ok(!m.Attributes || Object.keys(m.Attributes).length === 0, JSON.stringify(m.Attributes));
    assert.ok(!m.MessageAttributes || Object.keys(m.MessageAttributes).length === 0);
    assert.equal(m.MD5OfMessageAttributes, undefined);
  });

  it("receives up to MaxNumberOfMessages and each message only once while in flight", async () => {
    const q = await createQueue(client, uniqueName("many"));
    for (let i = 0; i < 15; i++) {
      await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: `m${i}` }));
    }
    const first = await client.send(
      new ReceiveMessageCommand({ QueueUrl: q, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    assert.ok(first.Messages.length >= 1 && first.Messages.length <= 10, `got ${first.Messages?.length}`);
    const rest = await receiveN(client, q, 15 - first.Messages.length, { timeoutMs: 8000 });
    const bodies = [...first.Messages, ...rest].map((m) => m.Body).sort();
    assert.deepEqual(bodies, Array.from({ length: 15 }, (_, i) => `m${i}`).sort());
    assert.equal((await receiveNow(client, q)).length, 0, "in-flight messages must not be redelivered");
  });

  it("100 concurrent SendMessage calls all succeed and are all delivered", async () => {
    const q = await createQueue(client, uniqueName("conc"));
    const bodies = Array.from({ length: 100 }, (_, i) => `conc-${i}`);
    const sent = await Promise.all(
      bodies.map((b) => client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: b }))),
    );
    assert.equal(new Set(sent.map((s) => s.MessageId)).size, 100, "MessageIds must be unique");
    const got = await receiveN(client, q, 100, { timeoutMs: 15_000 });
    assert.deepEqual(got.map((m) => m.Body).sort(), [...bodies].sort());
  });

  it("DelaySeconds hides a message until the delay passes", async () => {
    const q = await createQueue(client, uniqueName("delay"));
    await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "later", DelaySeconds: 2 }));
    assert.equal((await receiveNow(client, q)).length, 0, "delayed message visible too early");
    const attrs = await queueAttrs(client, q, ["ApproximateNumberOfMessagesDelayed", "ApproximateNumberOfMessages"]);
    assert.equal(attrs.ApproximateNumberOfMessagesDelayed, "1", JSON.stringify(attrs));
    assert.equal(attrs.ApproximateNumberOfMessages, "0", JSON.stringify(attrs));
    const t0 = Date.now();
    const msgs = await receiveN(client, q, 1, { timeoutMs: 6000 });
    assert.equal(msgs.length, 1, "delayed message never became visible");
    assert.equal(msgs[0].Body, "later");
    assert.ok(Date.now() - t0 >= 1000, "message became visible well before its delay");
  });

  it("queue-level DelaySeconds applies to messages without their own delay", async () => {
    const q = await createQueue(client, uniqueName("qdelay"), { DelaySeconds: "2" });
    await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "qd" }));
    assert.equal((await receiveNow(client, q)).length, 0, "visible despite queue DelaySeconds");
    const msgs = await receiveN(client, q, 1, { timeoutMs: 6000 });
    assert.equal(msgs.length, 1);
  });

  it("counts messages in ApproximateNumberOfMessages / NotVisible", async () => {
    const q = await createQueue(client, uniqueName("counts"));
    for (let i = 0; i < 3; i++) await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: `c${i}` }));
    let a = await queueAttrs(client, q, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]);
    assert.equal(a.ApproximateNumberOfMessages, "3", JSON.stringify(a));
    assert.equal(a.ApproximateNumberOfMessagesNotVisible, "0", JSON.stringify(a));
    const got = await client.send(new ReceiveMessageCommand({ QueueUrl: q, MaxNumberOfMessages: 1 }));
    assert.equal(got.Messages?.length, 1);
    a = await queueAttrs(client, q, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]);
    assert.equal(a.ApproximateNumberOfMessages, "2", JSON.stringify(a));
    assert.equal(a.ApproximateNumberOfMessagesNotVisible, "1", JSON.stringify(a));
    await client.send(new DeleteMessageCommand({ QueueUrl: q, ReceiptHandle: got.Messages[0].ReceiptHandle }));
    a = await queueAttrs(client, q, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]);
    assert.equal(a.ApproximateNumberOfMessagesNotVisible, "0", JSON.stringify(a));
  });

  it("PurgeQueue empties the queue", async () => {
    const q = await createQueue(client, uniqueName("purge"));
    for (let i = 0; i < 5; i++) await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: `p${i}` }));
    await client.send(new PurgeQueueCommand({ QueueUrl: q }));
    await sleep(200);
    assert.equal((await receiveNow(client, q)).length, 0, "messages survived the purge");
    const a = await queueAttrs(client, q, ["ApproximateNumberOfMessages"]);
    assert.equal(a.ApproximateNumberOfMessages, "0");
    // A message sent after the purge is delivered.
    await client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "after-purge" }));
  });

  it("a second PurgeQueue within 60 s fails with PurgeQueueInProgress", async () => {
    const q = await createQueue(client, uniqueName("purge2"));
    await client.send(new PurgeQueueCommand({ QueueUrl: q }));
    const err = await expectReject(client.send(new PurgeQueueCommand({ QueueUrl: q })));
    assert.ok(err instanceof PurgeQueueInProgress, describeErr(err));
    assert.equal(err.Code, "AWS.SimpleQueueService.PurgeQueueInProgress", describeErr(err));
    assert.equal(err.$metadata.httpStatusCode, 403);
  });
});

describe("QueueUrl routing", () => {
  it("a client with no endpoint configured sends to the QueueUrl's host", async () => {
    const name = uniqueName("route");
    const url = await createQueue(client, name);
    // Safety: only ever let the endpoint-less client talk to this machine.
    assert.equal(new URL(url).origin, server.endpoint, "queue URL must point at the local server");
    const bare = new SQSClient({
      region: "us-east-1",
      credentials: server.credentials,
      maxAttempts: 1,
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {} },
      requestHandler: { connectionTimeout: 3000, requestTimeout: 10_000 },
    });
    try {
      const sent = await bare.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "routed" }));
      assert.ok(sent.MessageId);
      const got = await bare.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 1 }));
      assert.equal(got.Messages?.[0]?.Body, "routed");
      await bare.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: got.Messages[0].ReceiptHandle }));
    } finally {
      bare.destroy();
    }
  });
});
