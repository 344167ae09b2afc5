// SNS with the AWS SDK for JavaScript v3 (@aws-sdk/client-sns, query protocol):
// topics, subscriptions, publishing to SQS subscribers (enveloped and raw),
// FIFO topics, PublishBatch, errors, and signatures checked with node:crypto
// against the certificate the server serves at the SigningCertURL.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createVerify, X509Certificate } from "node:crypto";
import {
  SNSClient,
  CreateTopicCommand,
  DeleteTopicCommand,
  GetTopicAttributesCommand,
  SetTopicAttributesCommand,
  ListTopicsCommand,
  SubscribeCommand,
  UnsubscribeCommand,
  GetSubscriptionAttributesCommand,
  ListSubscriptionsByTopicCommand,
  PublishCommand,
  PublishBatchCommand,
  TagResourceCommand,
  ListTagsForResourceCommand,
  NotFoundException,
  InvalidParameterException,
  SNSServiceException,
  paginateListTopics,
} from "@aws-sdk/client-sns";
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { withServer, uniqueName, createQueue, receiveN, receiveNow, expectReject, describeErr, REGION } from "./helpers.mjs";

let server;
let sqs;
let sns;
withServer((s, c) => {
  server = s;
  sqs = c;
  sns = new SNSClient({
    region: REGION,
    endpoint: s.endpoint,
    credentials: s.credentials,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 5000, requestTimeout: 30_000 },
  });
});

async function topic(prefix = "t", attributes) {
  const res = await sns.send(new CreateTopicCommand({ Name: uniqueName(prefix), Attributes: attributes }));
  return res.TopicArn;
}

async function fifoTopic(prefix = "ft", attributes = {}) {
  const res = await sns.send(
    new CreateTopicCommand({ Name: `${uniqueName(prefix)}.fifo`, Attributes: { FifoTopic: "true", ...attributes } }),
  );
  return res.TopicArn;
}

async function queue(prefix = "q", attributes) {
  const url = await createQueue(sqs, attributes?.FifoQueue ? `${uniqueName(prefix)}.fifo` : uniqueName(prefix), attributes);
  const a = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }));
  return { url, arn: a.Attributes.QueueArn };
}

async function subscribe(topicArn, queueArn, attributes) {
  const res = await sns.send(
    new SubscribeCommand({ TopicArn: topicArn, Protocol: "sqs", Endpoint: queueArn, Attributes: attributes }),
  );
  return res.SubscriptionArn;
}

function stringToSign(env) {
  return ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    .filter((k) => k in env)
    .map((k) => `${k}\n${env[k]}\n`)
    .join("");
}

describe("topics", () => {
  it("creates, describes, changes, lists and deletes topics", async () => {
    const name = uniqueName("topic");
    const arn = (await sns.send(new CreateTopicCommand({ Name: name, Tags: [{ Key: "a", Value: "1" }] }))).TopicArn;
    assert.equal(arn, `arn:aws:sns:${REGION}:000000000000:${name}`);
    assert.equal((await sns.send(new CreateTopicCommand({ Name: name }))).TopicArn, arn);
    await sns.send(new SetTopicAttributesCommand({ TopicArn: arn, AttributeName: "DisplayName", AttributeValue: "JS" }));
    const a = (await sns.send(new GetTopicAttributesCommand({ TopicArn: arn }))).Attributes;
    assert.equal(a.DisplayName, "JS");
    assert.equal(a.TopicArn, arn);
    assert.equal(JSON.parse(a.Policy).Statement[0].Resource, arn);
    await sns.send(new TagResourceCommand({ ResourceArn: arn, Tags: [{ Key: "b", Value: "2" }] }));
    const tags = (await sns.send(new ListTagsForResourceCommand({ ResourceArn: arn }))).Tags;
    assert.deepEqual(tags, [
      { Key: "a", Value: "1" },
      { Key: "b", Value: "2" },
    ]);
    const listed = [];
    for await (const page of paginateListTopics({ client: sns }, {})) listed.push(...page.Topics.map((t) => t.TopicArn));
    assert.ok(listed.includes(arn));
    await sns.send(new DeleteTopicCommand({ TopicArn: arn }));
    const err = await expectReject(sns.send(new GetTopicAttributesCommand({ TopicArn: arn })));
    assert.ok(err instanceof NotFoundException, describeErr(err));
    assert.equal(err.$metadata.httpStatusCode, 404);
    assert.equal(err.message, "Topic does not exist");
  });

  it("answers InvalidParameter with AWS's message", async () => {
    const err = await expectReject(sns.send(new CreateTopicCommand({ Name: "bad name" })));
    assert.ok(err instanceof InvalidParameterException, describeErr(err));
    assert.equal(err.message, "Invalid parameter: Topic Name");
    assert.equal(err.$fault, "client");
  });

  it("refuses a wrong signature", async () => {
    const bad = new SNSClient({
      region: REGION,
      endpoint: server.endpoint,
      credentials: { accessKeyId: server.credentials.accessKeyId, secretAccessKey: "wrong" },
      maxAttempts: 1,
    });
    const err = await expectReject(bad.send(new ListTopicsCommand({})));
    assert.ok(err instanceof SNSServiceException, describeErr(err));
    assert.equal(err.name, "SignatureDoesNotMatch");
    assert.equal(err.$metadata.httpStatusCode, 403);
    bad.destroy();
  });
});

describe("publishing to queues", () => {
  it("delivers a signed envelope that verifies with the served certificate", async () => {
    const t = await topic("sig");
    const q = await queue("sig");
    const sub = await subscribe(t, q.arn);
    const pub = await sns.send(
      new PublishCommand({
        TopicArn: t,
        Message: "hello from js",
        Subject: "JS",
        MessageAttributes: { kind: { DataType: "String", StringValue: "greeting" } },
      }),
    );
    const [m] = await receiveNow(sqs, q.url);
    assert.ok(m, "the copy is in the queue when Publish returns");
    const env = JSON.parse(m.Body);
    assert.deepEqual(Object.keys(env), [
      "Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion", "Signature",
      "SigningCertURL", "UnsubscribeURL", "MessageAttributes",
    ]);
    assert.equal(env.MessageId, pub.MessageId);
    assert.equal(env.UnsubscribeURL, `${server.endpoint}/?Action=Unsubscribe&SubscriptionArn=${sub}`);
    assert.deepEqual(env.MessageAttributes, { kind: { Type: "String", Value: "greeting" } });
    const res = await fetch(env.SigningCertURL);
    assert.equal(res.status, 200);
    const pem = await res.text();
    const cert = new X509Certificate(pem);
    const v = createVerify("RSA-SHA1");
    v.update(stringToSign(env), "utf8");
    assert.ok(v.verify(cert.publicKey, env.Signature, "base64"), "signature version 1 verifies");

    await sns.send(new SetTopicAttributesCommand({ TopicArn: t, AttributeName: "SignatureVersion", AttributeValue: "2" }));
    await sns.send(new PublishCommand({ TopicArn: t, Message: "two" }));
    const [m2] = await receiveNow(sqs, q.url);
    const env2 = JSON.parse(m2.Body);
    assert.equal(env2.SignatureVersion, "2");
    const v2 = createVerify("RSA-SHA256");
    v2.update(stringToSign(env2), "utf8");
    assert.ok(v2.verify(cert.publicKey, env2.Signature, "base64"), "signature version 2 verifies");
    await sns.send(new UnsubscribeCommand({ SubscriptionArn: sub }));
  });

  it("delivers raw messages with SQS message attributes", async () => {
    const t = await topic("raw");
    const q = await queue("raw");
    const sub = await subscribe(t, q.arn, { RawMessageDelivery: "true" });
    const a = (await sns.send(new GetSubscriptionAttributesCommand({ SubscriptionArn: sub }))).Attributes;
    assert.equal(a.RawMessageDelivery, "true");
    assert.equal(a.PendingConfirmation, "false");
    await sns.send(
      new PublishCommand({
        TopicArn: t,
        Message: "bare",
        MessageAttributes: {
          n: { DataType: "Number", StringValue: "7" },
          b: { DataType: "Binary", BinaryValue: Buffer.from([1, 2, 3]) },
        },
      }),
    );
    const [m] = await receiveNow(sqs, q.url, { MessageAttributeNames: ["All"] });
    assert.equal(m.Body, "bare");
    assert.deepEqual(m.MessageAttributes.n, { DataType: "Number", StringValue: "7" });
    assert.equal(m.MessageAttributes.b.DataType, "Binary");
    assert.deepEqual(Buffer.from(m.MessageAttributes.b.BinaryValue), Buffer.from([1, 2, 3]));
  });

  it("FIFO topic to FIFO queue: sequence numbers, order, deduplication", async () => {
    const t = await fifoTopic("f", { ContentBasedDeduplication: "true" });
    const q = await queue("f", { FifoQueue: "true" });
    await subscribe(t, q.arn);
    const seqs = [];
    for (let i = 0; i < 4; i++) {
      const r = await sns.send(new PublishCommand({ TopicArn: t, Message: `m${i}`, MessageGroupId: "g" }));
      assert.match(r.SequenceNumber, /^\d{20}$/);
      seqs.push(BigInt(r.SequenceNumber));
    }
    const dup = await sns.send(new PublishCommand({ TopicArn: t, Message: "m0", MessageGroupId: "g" }));
    assert.equal(BigInt(dup.SequenceNumber), seqs[0]);
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1]);
    const got = await receiveN(sqs, q.url, 4, { timeoutMs: 5000 });
    assert.deepEqual(
      got.map((m) => JSON.parse(m.Body).Message),
      ["m0", "m1", "m2", "m3"],
    );
    const env = JSON.parse(got[0].Body);
    assert.equal(BigInt(env.SequenceNumber), seqs[0]);
    assert.equal(env.Signature, undefined);
    const err = await expectReject(sns.send(new PublishCommand({ TopicArn: t, Message: "x" })));
    assert.ok(err instanceof InvalidParameterException, describeErr(err));
    assert.equal(err.message, "Invalid parameter: The MessageGroupId parameter is required for FIFO topics");
  });

  it("PublishBatch answers per entry", async () => {
    const t = await topic("batch");
    const q = await queue("batch");
    await subscribe(t, q.arn);
    const r = await sns.send(
      new PublishBatchCommand({
        TopicArn: t,
        PublishBatchRequestEntries: [
          { Id: "one", Message: "1" },
          { Id: "two", Message: "2", Subject: "S" },
          { Id: "bad", Message: "3", Subject: "x".repeat(101) },
        ],
      }),
    );
    assert.deepEqual(r.Successful.map((e) => e.Id).sort(), ["one", "two"]);
    assert.deepEqual(r.Failed, [{ Id: "bad", Code: "InvalidParameter", Message: "Invalid parameter: Subject", SenderFault: true }]);
    const got = await receiveN(sqs, q.url, 2, { timeoutMs: 3000 });
    assert.deepEqual(got.map((m) => JSON.parse(m.Body).Message).sort(), ["1", "2"]);
    const err = await expectReject(
      sns.send(
        new PublishBatchCommand({
          TopicArn: t,
          PublishBatchRequestEntries: Array.from({ length: 11 }, (_, i) => ({ Id: `e${i}`, Message: "m" })),
        }),
      ),
    );
    assert.equal(err.name, "TooManyEntriesInBatchRequestException", describeErr(err));
  });

  it("lists a topic's subscriptions", async () => {
    const t = await topic("subs");
    const q1 = await queue("s1");
    const q2 = await queue("s2");
    const a = await subscribe(t, q1.arn);
    const b = await subscribe(t, q2.arn);
    const res = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: t }));
    assert.deepEqual(res.Subscriptions.map((s) => s.SubscriptionArn).sort(), [a, b].sort());
    assert.ok(res.Subscriptions.every((s) => s.Protocol === "sqs" && s.TopicArn === t));
  });
});
