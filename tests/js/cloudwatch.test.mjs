// CloudWatch metrics and alarms with @aws-sdk/client-cloudwatch (JSON 1.0,
// awsQueryCompatible): PutMetricData (gzip-compressed when large), the three
// reads, metric math, AWS's errors as the SDK's exception classes; metric and
// composite alarms, their SNS notifications, history and deletion rules.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  CloudWatchClient,
  PutMetricDataCommand,
  GetMetricStatisticsCommand,
  GetMetricDataCommand,
  ListMetricsCommand,
  InvalidParameterValueException,
  InvalidParameterCombinationException,
  paginateListMetrics,
  PutMetricAlarmCommand,
  PutCompositeAlarmCommand,
  DescribeAlarmsCommand,
  DescribeAlarmHistoryCommand,
  SetAlarmStateCommand,
  DeleteAlarmsCommand,
  ResourceNotFound,
} from "@aws-sdk/client-cloudwatch";
import { SNSClient, CreateTopicCommand, SubscribeCommand } from "@aws-sdk/client-sns";
import { CreateQueueCommand, DeleteMessageCommand } from "@aws-sdk/client-sqs";
import { startServer, REGION, ACCOUNT, makeClient, receiveN } from "./helpers.mjs";

let server;
let cw;
const sent = [];

before(async () => {
  server = await startServer();
  cw = new CloudWatchClient({
    region: REGION,
    endpoint: server.endpoint,
    credentials: server.credentials,
    maxAttempts: 1,
  });
  cw.middlewareStack.add(
    (next) => async (args) => {
      sent.push({ headers: { ...args.request.headers }, path: args.request.path });
      return next(args);
    },
    { step: "finalizeRequest", name: "recordRequests", priority: "low" },
  );
});

after(async () => {
  cw?.destroy();
  await server?.stop();
});

const ns = `Js/${process.pid}`;
const minute = (t) => Math.floor(t / 60) * 60;

describe("cloudwatch metrics", () => {
  it("puts and reads statistics over JSON 1.0", async () => {
    const now = Date.now() / 1000;
    await cw.send(
      new PutMetricDataCommand({
        Namespace: ns,
        MetricData: [
          { MetricName: "lat", Value: 10, Unit: "Milliseconds", Timestamp: new Date(now * 1000),
            Dimensions: [{ Name: "Svc", Value: "api" }] },
          { MetricName: "lat", Values: [1, 2, 3], Counts: [1, 1, 2], Unit: "Milliseconds",
            Timestamp: new Date(now * 1000), Dimensions: [{ Name: "Svc", Value: "api" }] },
        ],
      }),
    );
    const last = sent[sent.length - 1];
    assert.equal(last.headers["x-amz-target"], "GraniteServiceVersion20100801.PutMetricData");
    assert.match(last.headers["content-type"], /application\/x-amz-json-1\.0/);
    assert.equal(last.path, "/");
    const r = await cw.send(
      new GetMetricStatisticsCommand({
        Namespace: ns,
        MetricName: "lat",
        Dimensions: [{ Name: "Svc", Value: "api" }],
        StartTime: new Date((now - 120) * 1000),
        EndTime: new Date((now + 120) * 1000),
        Period: 60,
        Statistics: ["Sum", "SampleCount", "Maximum"],
      }),
    );
    assert.equal(r.Label, "lat");
    assert.equal(r.Datapoints.length, 1);
    const p = r.Datapoints[0];
    assert.equal(p.Sum, 10 + 1 + 2 + 6);
    assert.equal(p.SampleCount, 5);
    assert.equal(p.Maximum, 10);
    assert.equal(p.Unit, "Milliseconds");
    assert.ok(p.Timestamp instanceof Date);
    assert.equal(p.Timestamp.getTime() / 1000, minute(now));
  });

  it("sends large puts gzip-compressed, and they count", async () => {
    const now = new Date();
    const MetricData = [];
    for (let i = 0; i < 40; i++)
      MetricData.push({ MetricName: "big", Values: Array.from({ length: 150 }, (_, k) => k + 1), Timestamp: now });
    await cw.send(new PutMetricDataCommand({ Namespace: ns, MetricData }));
    assert.equal(sent[sent.length - 1].headers["content-encoding"], "gzip");
    const r = await cw.send(
      new GetMetricStatisticsCommand({
        Namespace: ns, MetricName: "big",
        StartTime: new Date(now.getTime() - 120_000), EndTime: new Date(now.getTime() + 120_000),
        Period: 60, Statistics: ["SampleCount", "Sum"], ExtendedStatistics: undefined,
      }),
    );
    assert.equal(r.Datapoints[0].SampleCount, 6000);
    assert.equal(r.Datapoints[0].Sum, 40 * (150 * 151) / 2);
  });

  it("runs GetMetricData with metric math", async () => {
    const t0 = minute(Date.now() / 1000) - 300;
    await cw.send(
      new PutMetricDataCommand({
        Namespace: ns,
        MetricData: [0, 1, 2, 3, 4].flatMap((i) => [
          { MetricName: "ok", Value: 10, Timestamp: new Date((t0 + 60 * i + 5) * 1000) },
          { MetricName: "err", Value: i, Timestamp: new Date((t0 + 60 * i + 5) * 1000) },
        ]),
      }),
    );
    const stat = (id, name) => ({
      Id: id, ReturnData: false,
      MetricStat: { Metric: { Namespace: ns, MetricName: name }, Period: 60, Stat: "Sum" },
    });
    const r = await cw.send(
      new GetMetricDataCommand({
        StartTime: new Date(t0 * 1000),
        EndTime: new Date((t0 + 300) * 1000),
        ScanBy: "TimestampAscending",
        MetricDataQueries: [
          stat("ok", "ok"), stat("err", "err"),
          { Id: "rate", Expression: "100 * err / (ok + err)", Label: "error rate" },
        ],
      }),
    );
    assert.equal(r.MetricDataResults.length, 1);
    const res = r.MetricDataResults[0];
    assert.equal(res.Id, "rate");
    assert.equal(res.Label, "error rate");
    assert.equal(res.StatusCode, "Complete");
    assert.deepEqual(res.Values, [0, 1, 2, 3, 4].map((i) => (100 * i) / (10 + i)));
    assert.deepEqual(res.Timestamps.map((d) => d.getTime() / 1000), [0, 1, 2, 3, 4].map((i) => t0 + 60 * i));
  });

  it("lists metrics with the paginator", async () => {
    const names = [];
    for await (const page of paginateListMetrics({ client: cw }, { Namespace: ns }))
      for (const m of page.Metrics) names.push(m.MetricName);
    assert.deepEqual(names.sort(), ["big", "err", "lat", "ok"]);
    const r = await cw.send(new ListMetricsCommand({ Namespace: ns, Dimensions: [{ Name: "Svc" }] }));
    assert.deepEqual(r.Metrics, [{ Namespace: ns, MetricName: "lat", Dimensions: [{ Name: "Svc", Value: "api" }] }]);
  });

  it("raises AWS's errors as the SDK's exception classes", async () => {
    await assert.rejects(
      cw.send(new PutMetricDataCommand({ Namespace: "AWS/EC2", MetricData: [{ MetricName: "x", Value: 1 }] })),
      (e) => {
        assert.ok(e instanceof InvalidParameterValueException, e.name);
        assert.equal(e.message, "The value AWS/EC2 for parameter Namespace is invalid.");
        assert.equal(e.$metadata.httpStatusCode, 400);
        return true;
      },
    );
    await assert.rejects(
      cw.send(
        new PutMetricDataCommand({
          Namespace: ns,
          MetricData: [{ MetricName: "x", Value: 1, StatisticValues: { SampleCount: 1, Sum: 1, Minimum: 1, Maximum: 1 } }],
        }),
      ),
      (e) => e instanceof InvalidParameterCombinationException,
    );
    const now = Date.now();
    await assert.rejects(
      cw.send(
        new GetMetricStatisticsCommand({
          Namespace: ns, MetricName: "lat", StartTime: new Date(now - 2 * 86400_000), EndTime: new Date(now),
          Period: 60, Statistics: ["Sum"],
        }),
      ),
      (e) => e instanceof InvalidParameterCombinationException && /exceeds the limit of 1440/.test(e.message),
    );
  });
});

describe("cloudwatch alarms", () => {
  const tag = `js${process.pid}`;
  let sns, sqs, topic, url;

  before(async () => {
    sns = new SNSClient({ region: REGION, endpoint: server.endpoint, credentials: server.credentials, maxAttempts: 1 });
    sqs = makeClient(server);
    topic = (await sns.send(new CreateTopicCommand({ Name: `${tag}-alarms` }))).TopicArn;
    url = (await sqs.send(new CreateQueueCommand({ QueueName: `${tag}-alarms` }))).QueueUrl;
    await sns.send(
      new SubscribeCommand({
        TopicArn: topic, Protocol: "sqs", Endpoint: `arn:aws:sqs:${REGION}:${ACCOUNT}:${tag}-alarms`,
        Attributes: { RawMessageDelivery: "true" },
      }),
    );
  });

  after(() => {
    sns?.destroy();
    sqs?.destroy();
  });

  const notifications = async (n) => {
    const msgs = await receiveN(sqs, url, n, { timeoutMs: 8000 });
    for (const m of msgs) await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
    return msgs.map((m) => JSON.parse(m.Body));
  };

  it("a metric alarm and a composite alarm: states, notifications, history, deletion", async () => {
    const child = `${tag}-child`;
    const parent = `${tag}-parent`;
    await cw.send(
      new PutMetricAlarmCommand({
        AlarmName: child, Namespace: ns, MetricName: "lat", Statistic: "Average", Period: 60,
        EvaluationPeriods: 1, Threshold: 100, ComparisonOperator: "GreaterThanThreshold",
        TreatMissingData: "ignore", AlarmActions: [topic],
      }),
    );
    let r = await cw.send(new DescribeAlarmsCommand({ AlarmNames: [child] }));
    assert.equal(r.MetricAlarms[0].StateValue, "INSUFFICIENT_DATA");
    assert.equal(r.MetricAlarms[0].AlarmArn, `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:${child}`);
    await cw.send(
      new PutCompositeAlarmCommand({
        AlarmName: parent, AlarmRule: `ALARM("${child}") AND NOT FALSE`, AlarmActions: [topic],
        AlarmDescription: "from js",
      }),
    );
    r = await cw.send(new DescribeAlarmsCommand({ AlarmNames: [parent], AlarmTypes: ["CompositeAlarm"] }));
    assert.equal(r.CompositeAlarms.length, 1);
    assert.equal(r.CompositeAlarms[0].StateValue, "OK");
    assert.equal(r.CompositeAlarms[0].AlarmRule, `ALARM("${child}") AND NOT FALSE`);
    assert.ok(r.CompositeAlarms[0].StateUpdatedTimestamp instanceof Date);
    r = await cw.send(new DescribeAlarmsCommand({ AlarmNames: [parent] }));
    assert.deepEqual([r.MetricAlarms, r.CompositeAlarms], [[], []]); // metric alarms only by default

    await cw.send(new SetAlarmStateCommand({ AlarmName: child, StateValue: "ALARM", StateReason: "js says so" }));
    const got = await notifications(2);
    const byName = Object.fromEntries(got.map((m) => [m.AlarmName, m]));
    assert.deepEqual(Object.keys(byName).sort(), [child, parent].sort());
    assert.equal(byName[child].NewStateReason, "js says so");
    assert.equal(byName[child].Trigger.MetricName, "lat");
    assert.equal(byName[parent].NewStateValue, "ALARM");
    assert.equal(byName[parent].OldStateValue, "OK");
    assert.equal(byName[parent].AlarmDescription, "from js");
    assert.equal(byName[parent].TriggeringChildren[0].Arn, `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:${child}`);
    assert.equal(byName[parent].TriggeringChildren[0].State.Value, "ALARM");

    r = await cw.send(new DescribeAlarmsCommand({ ParentsOfAlarmName: child }));
    assert.deepEqual(r.CompositeAlarms.map((a) => [a.AlarmName, a.StateValue]), [[parent, "ALARM"]]);
    r = await cw.send(new DescribeAlarmsCommand({ ChildrenOfAlarmName: parent }));
    assert.deepEqual(r.MetricAlarms.map((a) => a.AlarmName), [child]);

    const h = await cw.send(new DescribeAlarmHistoryCommand({ AlarmName: parent, AlarmTypes: ["CompositeAlarm"] }));
    const summaries = h.AlarmHistoryItems.map((i) => i.HistorySummary);
    assert.ok(summaries.includes("Alarm updated from OK to ALARM"), summaries.join(" | "));
    assert.ok(summaries.includes(`Successfully executed action ${topic}`), summaries.join(" | "));
    assert.ok(h.AlarmHistoryItems.every((i) => i.AlarmType === "CompositeAlarm"));
    assert.ok(h.AlarmHistoryItems[0].Timestamp instanceof Date);

    await assert.rejects(
      cw.send(new PutCompositeAlarmCommand({ AlarmName: `${tag}-bad`, AlarmRule: "ALARM(nope)" })),
      (e) => {
        assert.equal(e.name, "ValidationException"); // the JSON __type; the query code is ValidationError
        assert.equal(e.$metadata.httpStatusCode, 400);
        assert.match(e.message, /Could not save the composite alarm as alarms \[nope\]/);
        return true;
      },
    );
    await assert.rejects(cw.send(new DeleteAlarmsCommand({ AlarmNames: [child] })), (e) => {
      assert.equal(e.name, "ValidationException"); // the JSON __type; the query code is ValidationError
      assert.equal(e.message, `Cannot delete ${child} as there are composite alarm(s) depending on it.`);
      return true;
    });
    await cw.send(new DeleteAlarmsCommand({ AlarmNames: [parent, child] }));
    await assert.rejects(
      cw.send(new SetAlarmStateCommand({ AlarmName: child, StateValue: "OK", StateReason: "gone" })),
      (e) => e instanceof ResourceNotFound,
    );
  });
});
