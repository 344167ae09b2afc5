// EventBridge with @aws-sdk/client-eventbridge: buses, rules, targets, PutEvents
// delivered to SQS (standard and FIFO), input transformers, errors as the SDK
// models them, and S3 -> EventBridge -> SQS.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  EventBridgeClient,
  CreateEventBusCommand,
  DescribeEventBusCommand,
  ListEventBusesCommand,
  DeleteEventBusCommand,
  PutRuleCommand,
  DescribeRuleCommand,
  ListRulesCommand,
  DisableRuleCommand,
  EnableRuleCommand,
  DeleteRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
  ListTargetsByRuleCommand,
  PutEventsCommand,
  TestEventPatternCommand,
  TagResourceCommand,
  ListTagsForResourceCommand,
  CreateConnectionCommand,
  DescribeConnectionCommand,
  CreateApiDestinationCommand,
  ResourceNotFoundException,
  ResourceAlreadyExistsException,
  InvalidEventPatternException,
  LimitExceededException,
} from "@aws-sdk/client-eventbridge";
import http from "node:http";
import { PutBucketNotificationConfigurationCommand, CreateBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import {
  withServer,
  createQueue,
  receiveN,
  receiveNow,
  expectReject,
  describeErr,
  uniqueName,
  uniqueBucket,
  makeS3Client,
  REGION,
  ACCOUNT,
} from "./helpers.mjs";

let server;
let sqs;
withServer((s, c) => ((server = s), (sqs = c)));

const quietLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

function events() {
  return new EventBridgeClient({
    region: REGION,
    endpoint: server.endpoint,
    credentials: server.credentials,
    maxAttempts: 1,
    logger: quietLogger,
    requestHandler: { connectionTimeout: 5000, requestTimeout: 30_000 },
  });
}

const queueArn = (name) => `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`;
const busArn = (name) => `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/${name}`;

async function routeToQueue(eb, pattern, { bus, fifo = false, target = {} } = {}) {
  const qname = uniqueName("ebjs") + (fifo ? ".fifo" : "");
  const url = await createQueue(sqs, qname, fifo ? { FifoQueue: "true" } : undefined);
  const rule = uniqueName("rule");
  await eb.send(new PutRuleCommand({ Name: rule, EventPattern: JSON.stringify(pattern), EventBusName: bus }));
  const t = { Id: "q", Arn: queueArn(qname), ...target };
  if (fifo) t.SqsParameters = { MessageGroupId: "g1" };
  const r = await eb.send(new PutTargetsCommand({ Rule: rule, EventBusName: bus, Targets: [t] }));
  assert.equal(r.FailedEntryCount, 0, JSON.stringify(r.FailedEntries));
  return { rule, url };
}

describe("event buses", () => {
  it("default exists; custom buses are created, listed, described, deleted", async () => {
    const eb = events();
    try {
      const d = await eb.send(new DescribeEventBusCommand({}));
      assert.equal(d.Name, "default");
      assert.equal(d.Arn, busArn("default"));
      const name = uniqueName("bus");
      const c = await eb.send(new CreateEventBusCommand({ Name: name }));
      assert.equal(c.EventBusArn, busArn(name));
      const l = await eb.send(new ListEventBusesCommand({ NamePrefix: name }));
      assert.deepEqual(l.EventBuses.map((b) => b.Name), [name]);
      assert.ok(l.EventBuses[0].CreationTime instanceof Date);
      const e = await expectReject(eb.send(new CreateEventBusCommand({ Name: name })));
      assert.ok(e instanceof ResourceAlreadyExistsException, describeErr(e));
      assert.equal(e.message, `Event bus ${name} already exists.`);
      await eb.send(new DeleteEventBusCommand({ Name: name }));
      const gone = await expectReject(eb.send(new DescribeEventBusCommand({ Name: name })));
      assert.ok(gone instanceof ResourceNotFoundException, describeErr(gone));
      assert.equal(gone.$metadata.httpStatusCode, 400);
    } finally {
      eb.destroy();
    }
  });
});

describe("rules and targets", () => {
  it("PutRule, DescribeRule, ListRules, Disable/Enable, tags, errors", async () => {
    const eb = events();
    try {
      const name = uniqueName("rule");
      const r = await eb.send(new PutRuleCommand({ Name: name, EventPattern: '{"source":["js.test"]}' }));
      assert.equal(r.RuleArn, `arn:aws:events:${REGION}:${ACCOUNT}:rule/${name}`);
      await eb.send(new DisableRuleCommand({ Name: name }));
      let d = await eb.send(new DescribeRuleCommand({ Name: name }));
      assert.equal(d.State, "DISABLED");
      assert.equal(d.EventBusName, "default");
      await eb.send(new EnableRuleCommand({ Name: name }));
      d = await eb.send(new DescribeRuleCommand({ Name: name }));
      assert.equal(d.State, "ENABLED");
      const l = await eb.send(new ListRulesCommand({ NamePrefix: name }));
      assert.deepEqual(l.Rules.map((x) => x.Name), [name]);
      await eb.send(new TagResourceCommand({ ResourceARN: r.RuleArn, Tags: [{ Key: "a", Value: "b" }] }));
      const tags = await eb.send(new ListTagsForResourceCommand({ ResourceARN: r.RuleArn }));
      assert.deepEqual(tags.Tags, [{ Key: "a", Value: "b" }]);
      const bad = await expectReject(eb.send(new PutRuleCommand({ Name: uniqueName("r"), EventPattern: "nope" })));
      assert.ok(bad instanceof InvalidEventPatternException, describeErr(bad));
      const missing = await expectReject(eb.send(new DescribeRuleCommand({ Name: uniqueName("none") })));
      assert.ok(missing instanceof ResourceNotFoundException, describeErr(missing));
      await eb.send(new DeleteRuleCommand({ Name: name }));
    } finally {
      eb.destroy();
    }
  });

  it("targets: list, the five-target limit, remove", async () => {
    const eb = events();
    try {
      const qname = uniqueName("t");
      await createQueue(sqs, qname);
      const rule = uniqueName("rule");
      await eb.send(new PutRuleCommand({ Name: rule, EventPattern: '{"source":["js.t"]}' }));
      const targets = [0, 1, 2, 3, 4].map((i) => ({ Id: `t${i}`, Arn: queueArn(qname) }));
      await eb.send(new PutTargetsCommand({ Rule: rule, Targets: targets }));
      const l = await eb.send(new ListTargetsByRuleCommand({ Rule: rule }));
      assert.deepEqual(l.Targets.map((t) => t.Id), ["t0", "t1", "t2", "t3", "t4"]);
      const e = await expectReject(
        eb.send(new PutTargetsCommand({ Rule: rule, Targets: [{ Id: "t5", Arn: queueArn(qname) }] })),
      );
      assert.ok(e instanceof LimitExceededException, describeErr(e));
      const rm = await eb.send(new RemoveTargetsCommand({ Rule: rule, Ids: ["t0", "t1", "t2", "t3", "t4"] }));
      assert.equal(rm.FailedEntryCount, 0);
      await eb.send(new DeleteRuleCommand({ Name: rule }));
    } finally {
      eb.destroy();
    }
  });
});

describe("PutEvents", () => {
  it("delivers the envelope to a matching rule's queue and reports per-entry errors", async () => {
    const eb = events();
    try {
      const bus = uniqueName("bus");
      await eb.send(new CreateEventBusCommand({ Name: bus }));
      const { url } = await routeToQueue(eb, { source: ["js.orders"], detail: { total: [{ numeric: [">", 100] }] } }, { bus });
      const r = await eb.send(
        new PutEventsCommand({
          Entries: [
            { EventBusName: bus, Source: "js.orders", DetailType: "Order Placed", Detail: '{"total": 250}' },
            { EventBusName: bus, Source: "js.orders", DetailType: "Order Placed", Detail: '{"total": 5}' },
            { EventBusName: bus, Source: "js.orders", DetailType: "Order Placed", Detail: "not json" },
          ],
        }),
      );
      assert.equal(r.FailedEntryCount, 1);
      assert.equal(r.Entries[2].ErrorCode, "MalformedDetail");
      const msgs = await receiveN(sqs, url, 1);
      assert.equal(msgs.length, 1);
      const ev = JSON.parse(msgs[0].Body);
      assert.equal(ev.id, r.Entries[0].EventId);
      assert.equal(ev["detail-type"], "Order Placed");
      assert.deepEqual(ev.detail, { total: 250 });
      assert.deepEqual(await receiveNow(sqs, url), []);
    } finally {
      eb.destroy();
    }
  });

  it("FIFO targets get the MessageGroupId; transformers shape the body", async () => {
    const eb = events();
    try {
      const { url } = await routeToQueue(eb, { source: ["js.fifo"] }, {
        fifo: true,
        target: {
          InputTransformer: {
            InputPathsMap: { who: "$.detail.user", n: "$.detail.n" },
            InputTemplate: '{"user": <who>, "count": <n>, "text": "<who> x <n>"}',
          },
        },
      });
      for (let i = 0; i < 3; i++) {
        await eb.send(new PutEventsCommand({
          Entries: [{ Source: "js.fifo", DetailType: "T", Detail: JSON.stringify({ user: "ann", n: i }) }],
        }));
      }
      const msgs = await receiveN(sqs, url, 3, { extra: { MessageSystemAttributeNames: ["All"] } });
      assert.deepEqual(msgs.map((m) => JSON.parse(m.Body)), [0, 1, 2].map((i) => ({ user: "ann", count: i, text: `ann x ${i}` })));
      assert.deepEqual([...new Set(msgs.map((m) => m.Attributes.MessageGroupId))], ["g1"]);
    } finally {
      eb.destroy();
    }
  });

  it("TestEventPattern", async () => {
    const eb = events();
    try {
      const event = JSON.stringify({ id: "1", account: ACCOUNT, source: "js", time: "2024-01-01T00:00:00Z",
        region: REGION, "detail-type": "x", resources: [], detail: { a: "b" } });
      const yes = await eb.send(new TestEventPatternCommand({ EventPattern: '{"detail":{"a":["b"]}}', Event: event }));
      const no = await eb.send(new TestEventPatternCommand({ EventPattern: '{"detail":{"a":["c"]}}', Event: event }));
      assert.equal(yes.Result, true);
      assert.equal(no.Result, false);
    } finally {
      eb.destroy();
    }
  });
});

describe("S3 -> EventBridge", () => {
  it("an object upload reaches the queue as Object Created", async () => {
    const eb = events();
    const s3 = makeS3Client(server);
    try {
      const bucket = uniqueBucket("ebjs");
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      await s3.send(new PutBucketNotificationConfigurationCommand({
        Bucket: bucket, NotificationConfiguration: { EventBridgeConfiguration: {} },
      }));
      const { url } = await routeToQueue(eb, { source: ["aws.s3"], "detail-type": ["Object Created"],
        detail: { bucket: { name: [bucket] } } });
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "in/pic.jpg", Body: "12345" }));
      const msgs = await receiveN(sqs, url, 1);
      assert.equal(msgs.length, 1);
      const ev = JSON.parse(msgs[0].Body);
      assert.equal(ev.source, "aws.s3");
      assert.deepEqual(ev.resources, [`arn:aws:s3:::${bucket}`]);
      assert.equal(ev.detail.object.key, "in/pic.jpg");
      assert.equal(ev.detail.object.size, 5);
      assert.equal(ev.detail.reason, "PutObject");
    } finally {
      eb.destroy();
      s3.destroy();
    }
  });
});

describe("API destinations", () => {
  it("CreateConnection, CreateApiDestination and PutTargets deliver with the API key", async () => {
    const eb = events();
    const seen = [];
    const sink = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        seen.push({ method: req.method, url: req.url, headers: req.headers, body });
        res.writeHead(200, { "Content-Length": "0" });
        res.end();
      });
    });
    await new Promise((r) => sink.listen(0, "127.0.0.1", r));
    try {
      const port = sink.address().port;
      const conn = await eb.send(new CreateConnectionCommand({
        Name: uniqueName("conn"), AuthorizationType: "API_KEY",
        AuthParameters: { ApiKeyAuthParameters: { ApiKeyName: "x-api-key", ApiKeyValue: "js-secret" } },
      }));
      assert.equal(conn.ConnectionState, "AUTHORIZED");
      assert.match(conn.ConnectionArn, /^arn:aws:events:us-east-1:000000000000:connection\//);
      const name = conn.ConnectionArn.split("/")[1];
      const desc = await eb.send(new DescribeConnectionCommand({ Name: name }));
      assert.deepEqual(desc.AuthParameters.ApiKeyAuthParameters, { ApiKeyName: "x-api-key" });
      const dest = await eb.send(new CreateApiDestinationCommand({
        Name: uniqueName("dest"), ConnectionArn: conn.ConnectionArn,
        InvocationEndpoint: `http://127.0.0.1:${port}/js/*`, HttpMethod: "POST",
      }));
      assert.equal(dest.ApiDestinationState, "ACTIVE");
      const rule = uniqueName("apirule");
      const source = uniqueName("js.api");
      await eb.send(new PutRuleCommand({ Name: rule, EventPattern: JSON.stringify({ source: [source] }) }));
      const put = await eb.send(new PutTargetsCommand({
        Rule: rule,
        Targets: [{ Id: "api", Arn: dest.ApiDestinationArn, InputPath: "$.detail",
          HttpParameters: { PathParameterValues: ["p1"], QueryStringParameters: { k: "v" } },
          RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 600 } }],
      }));
      assert.equal(put.FailedEntryCount, 0);
      await eb.send(new PutEventsCommand({ Entries: [{ Source: source, DetailType: "t", Detail: '{"n":7}' }] }));
      const deadline = Date.now() + 15_000;
      while (seen.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(seen.length, 1);
      assert.equal(seen[0].method, "POST");
      assert.equal(seen[0].url, "/js/p1?k=v");
      assert.equal(seen[0].headers["x-api-key"], "js-secret");
      assert.deepEqual(JSON.parse(seen[0].body), { n: 7 });
    } finally {
      eb.destroy();
      sink.close();
    }
  });
});
