// Error mapping as the JS SDK v3 sees it (JSON 1.0 + awsQueryCompatible):
// exception classes, name, Code/Type from x-amzn-query-error, status codes,
// and authentication failures.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  GetQueueUrlCommand,
  SendMessageCommand,
  ReceiveMessageCommand,
  DeleteMessageCommand,
  CreateQueueCommand,
  ListQueuesCommand,
  GetQueueAttributesCommand,
  SQSServiceException,
  QueueDoesNotExist,
  ReceiptHandleIsInvalid,
  InvalidMessageContents,
} from "@aws-sdk/client-sqs";
import {
  startServer,
  makeClient,
  captureRaw,
  uniqueName,
  createQueue,
  expectReject,
  describeErr,
} from "./helpers.mjs";

let server;
let client;
let q;

before(async () => {
  server = await startServer();
  client = makeClient(server);
  q = await createQueue(client, uniqueName("errq"));
});
after(async () => {
  client?.destroy();
  await server?.stop();
});

function assertInvalidParameterValue(err, messagePattern) {
  assert.ok(err instanceof SQSServiceException, describeErr(err));
  assert.equal(err.name, "InvalidParameterValue", describeErr(err));
  assert.equal(err.Code, "InvalidParameterValue", describeErr(err));
  assert.equal(err.$metadata.httpStatusCode, 400, describeErr(err));
  assert.equal(err.$fault, "client");
  if (messagePattern) assert.match(err.message, messagePattern, describeErr(err));
}

describe("QueueDoesNotExist", () => {
  it("GetQueueUrl of a missing queue throws the SDK's QueueDoesNotExist with Code and Type", async () => {
    const err = await expectReject(client.send(new GetQueueUrlCommand({ QueueName: uniqueName("missing") })));
    assert.ok(err instanceof QueueDoesNotExist, `not a QueueDoesNotExist instance: ${describeErr(err)}`);
    assert.ok(err instanceof SQSServiceException);
    assert.equal(err.name, "QueueDoesNotExist");
    assert.equal(err.Code, "AWS.SimpleQueueService.NonExistentQueue", describeErr(err));
    assert.equal(err.Type, "Sender", describeErr(err));
    assert.equal(err.Error?.Code, "AWS.SimpleQueueService.NonExistentQueue");
    assert.equal(err.$metadata.httpStatusCode, 400);
    assert.equal(err.$fault, "client");
    assert.ok(err.message && err.message !== "UnknownError", `message: ${err.message}`);
    assert.ok(err.$metadata.requestId, "error responses need x-amzn-RequestId too");
  });

  it("the raw error has the __type body and the x-amzn-query-error header", async () => {
    const c = makeClient(server);
    const raw = captureRaw(c);
    try {
      await expectReject(c.send(new GetQueueUrlCommand({ QueueName: uniqueName("missing") })));
      const r = raw.last;
      assert.equal(r.statusCode, 400);
      assert.equal(r.headers["x-amzn-query-error"], "AWS.SimpleQueueService.NonExistentQueue;Sender");
      assert.match(String(r.headers["content-type"]), /^application\/x-amz-json-1\.0/);
      const body = JSON.parse(r.body);
      assert.equal(body.__type, "com.amazonaws.sqs#QueueDoesNotExist", r.body);
      assert.ok(typeof body.message === "string" && body.message.length > 0, r.body);
    } finally {
      c.destroy();
    }
  });

  it("is also mapped from __type alone (header stripped client-side)", async () => {
    const c = makeClient(server);
    captureRaw(c, (response) => {
      for (const k of Object.keys(response.headers)) {
        if (k.toLowerCase() === "x-amzn-query-error") delete response.headers[k];
      }
    });
    try {
      const err = await expectReject(c.send(new GetQueueUrlCommand({ QueueName: uniqueName("missing") })));
      assert.ok(err instanceof QueueDoesNotExist, describeErr(err));
    } finally {
      c.destroy();
    }
  });

  it("operations on a missing queue URL throw QueueDoesNotExist", async () => {
    const missing = server.queueUrl(uniqueName("gone"));
    for (const cmd of [
      new SendMessageCommand({ QueueUrl: missing, MessageBody: "x" }),
      new ReceiveMessageCommand({ QueueUrl: missing }),
      new GetQueueAttributesCommand({ QueueUrl: missing, AttributeNames: ["All"] }),
    ]) {
      const err = await expectReject(client.send(cmd), cmd.constructor.name);
      assert.ok(err instanceof QueueDoesNotExist, `${cmd.constructor.name}: ${describeErr(err)}`);
    }
  });
});

describe("parameter validation", () => {
  it("WaitTimeSeconds 21 -> InvalidParameterValue with AWS's message", async () => {
    const err = await expectReject(client.send(new ReceiveMessageCommand({ QueueUrl: q, WaitTimeSeconds: 21 })));
    assertInvalidParameterValue(err);
    assert.equal(
      err.message,
      "Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.",
    );
  });

  it("the raw InvalidParameterValue error carries the query-error header", async () => {
    const c = makeClient(server);
    const raw = captureRaw(c);
    try {
      await expectReject(c.send(new ReceiveMessageCommand({ QueueUrl: q, WaitTimeSeconds: 21 })));
      assert.equal(raw.last.statusCode, 400);
      assert.equal(raw.last.headers["x-amzn-query-error"], "InvalidParameterValue;Sender");
      const body = JSON.parse(raw.last.body);
      assert.match(body.__type, /InvalidParameterValue/, raw.last.body);
    } finally {
      c.destroy();
    }
  });

  it("MaxNumberOfMessages outside 1..10 -> InvalidParameterValue", async () => {
    for (const n of [0, 11]) {
      const err = await expectReject(client.send(new ReceiveMessageCommand({ QueueUrl: q, MaxNumberOfMessages: n })));
      assertInvalidParameterValue(err);
    }
  });

  it("receive VisibilityTimeout above 43200 -> InvalidParameterValue", async () => {
    const err = await expectReject(client.send(new ReceiveMessageCommand({ QueueUrl: q, VisibilityTimeout: 43201 })));
    assertInvalidParameterValue(err);
  });

  it("send DelaySeconds above 900 -> InvalidParameterValue", async () => {
    const err = await expectReject(
      client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "d", DelaySeconds: 901 })),
    );
    assertInvalidParameterValue(err);
  });

  it("invalid characters in the body -> InvalidMessageContents", async () => {
    for (const body of ["nul \u0000 byte", "bell \u0007", "noncharacter \uFFFF"]) {
      const err = await expectReject(client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: body })));
      assert.ok(err instanceof InvalidMessageContents, `${JSON.stringify(body)}: ${describeErr(err)}`);
      assert.equal(err.$metadata.httpStatusCode, 400);
    }
  });

  it("a body over the queue's MaximumMessageSize is rejected", async () => {
    const small = await createQueue(client, uniqueName("small"), { MaximumMessageSize: "1024" });
    await client.send(new SendMessageCommand({ QueueUrl: small, MessageBody: "a".repeat(1024) }));
    const err = await expectReject(client.send(new SendMessageCommand({ QueueUrl: small, MessageBody: "a".repeat(1025) })));
    assertInvalidParameterValue(err);
  });

  it("an empty body is rejected", async () => {
    const err = await expectReject(client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "" })));
    assert.ok(err instanceof SQSServiceException, describeErr(err));
    assert.equal(err.$metadata.httpStatusCode, 400, describeErr(err));
  });

  it("more than 10 message attributes are rejected", async () => {
    const attrs = {};
    for (let i = 0; i < 11; i++) attrs[`a${i}`] = { DataType: "String", StringValue: "v" };
    const err = await expectReject(
      client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: "x", MessageAttributes: attrs })),
    );
    assert.ok(err instanceof SQSServiceException, describeErr(err));
    assert.equal(err.$metadata.httpStatusCode, 400, describeErr(err));
  });

  it("a message attribute with an empty value is rejected", async () => {
    const err = await expectReject(
      client.send(
        new SendMessageCommand({
          QueueUrl: q,
          MessageBody: "x",
          MessageAttributes: { empty: { DataType: "String", StringValue: "" } },
        }),
      ),
    );
    assert.equal(err.$metadata.httpStatusCode, 400, describeErr(err));
  });

  it("invalid queue names are rejected with InvalidParameterValue", async () => {
    for (const name of ["bad name", "x".repeat(81), "slash/name", ""]) {
      const err = await expectReject(client.send(new CreateQueueCommand({ QueueName: name })), `CreateQueue(${name})`);
      assert.equal(err.$metadata.httpStatusCode, 400, `${JSON.stringify(name)}: ${describeErr(err)}`);
      if (name !== "") assert.equal(err.name, "InvalidParameterValue", `${JSON.stringify(name)}: ${describeErr(err)}`);
    }
    // 80 characters is fine.
    await createQueue(client, "N".repeat(80));
  });

  it("a malformed receipt handle -> ReceiptHandleIsInvalid", async () => {
    const err = await expectReject(
      client.send(new DeleteMessageCommand({ QueueUrl: q, ReceiptHandle: "definitely-not-valid" })),
    );
    assert.ok(err instanceof ReceiptHandleIsInvalid, describeErr(err));
    assert.equal(err.name, "ReceiptHandleIsInvalid");
    assert.equal(err.Code, "ReceiptHandleIsInvalid", describeErr(err));
  });
});

describe("authentication", () => {
  it("a wrong secret key is rejected with 403", async () => {
    const bad = makeClient(server, {
      credentials: { accessKeyId: server.credentials.accessKeyId, secretAccessKey: "wrong-secret-key-000000000000" },
    });
    try {
      const err = await expectReject(bad.send(new ListQueuesCommand({})));
      assert.equal(err.$metadata?.httpStatusCode, 403, describeErr(err));
      assert.ok(["SignatureDoesNotMatch", "InvalidClientTokenId", "AccessDenied"].includes(err.name), describeErr(err));
    } finally {
      bad.destroy();
    }
  });

  it("an unknown access key is rejected with 403", async () => {
    const bad = makeClient(server, {
      credentials: { accessKeyId: "AKIDUNKNOWN000000000", secretAccessKey: server.credentials.secretAccessKey },
    });
    try {
      const err = await expectReject(bad.send(new ListQueuesCommand({})));
      assert.equal(err.$metadata?.httpStatusCode, 403, describeErr(err));
      assert.ok(["InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "AccessDenied"].includes(err.name), describeErr(err));
    } finally {
      bad.destroy();
    }
  });

  it("a request without a signature is rejected with 403", async () => {
    const res = await fetch(`${server.endpoint}/`, {
      method: "POST",
      headers: {
        "content-type": "application/x-amz-json-1.0",
        "x-amz-target": "AmazonSQS.ListQueues",
        "x-amzn-query-mode": "true",
      },
      body: "{}",
      signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    assert.equal(res.status, 403, text);
  });

  it("the failed requests did not break the server for signed clients", async () => {
    const out = await client.send(new ListQueuesCommand({}));
    assert.ok(Array.isArray(out.QueueUrls));
  });
});
