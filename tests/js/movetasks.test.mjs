// DLQ redrive through message move tasks, as the JS SDK v3 sees them
// (StartMessageMoveTask / ListMessageMoveTasks / CancelMessageMoveTask).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  SendMessageCommand,
  SendMessageBatchCommand,
  StartMessageMoveTaskCommand,
  ListMessageMoveTasksCommand,
  CancelMessageMoveTaskCommand,
  ResourceNotFoundException,
  SQSServiceException,
} from "@aws-sdk/client-sqs";
import {
  startServer,
  withServer,
  makeClient,
  uniqueName,
  createQueue,
  receiveN,
  receiveNow,
  waitFor,
  expectReject,
  describeErr,
} from "./helpers.mjs";

let server;
let client;
withServer((s, c) => ((server = s), (client = c)));

async function dlqPair(prefix) {
  const dlqName = uniqueName(`${prefix}dlq`);
  const srcName = uniqueName(`${prefix}src`);
  const dlq = await createQueue(client, dlqName);
  const src = await createQueue(client, srcName, {
    VisibilityTimeout: "1",
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: server.queueArn(dlqName), maxReceiveCount: 1 }),
  });
  return { dlq, dlqArn: server.queueArn(dlqName), src, srcArn: server.queueArn(srcName) };
}

async function waitStatus(sourceArn, statuses) {
  let last;
  return await waitFor(
    async () => {
      const res = await client.send(new ListMessageMoveTasksCommand({ SourceArn: sourceArn }));
      last = res.Results;
      const t = res.Results?.[0];
      return t && statuses.includes(t.Status) ? t : null;
    },
    { timeoutMs: 15_000, intervalMs: 200, what: `move task status ${statuses} (last ${JSON.stringify(last)})` },
  );
}

describe("message move tasks", () => {
  it("redrives DLQ messages to an explicit destination; list shows typed fields", async () => {
    const { dlq, dlqArn, src, srcArn } = await dlqPair("mvexp");
    const bodies = ["m0", "m1", "m2", "m3", "m4"];
    await client.send(
      new SendMessageBatchCommand({ QueueUrl: dlq, Entries: bodies.map((b, i) => ({ Id: `i${i}`, MessageBody: b })) }),
    );
    const t0 = Date.now();
    const started = await client.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn, DestinationArn: srcArn }));
    assert.ok(typeof started.TaskHandle === "string" && started.TaskHandle.length > 0);
    const task = await waitStatus(dlqArn, ["COMPLETED"]);
    assert.equal(task.SourceArn, dlqArn);
    assert.equal(task.DestinationArn, srcArn);
    assert.equal(task.ApproximateNumberOfMessagesMoved, 5);
    assert.equal(task.ApproximateNumberOfMessagesToMove, 5);
    assert.equal(typeof task.StartedTimestamp, "number", `StartedTimestamp: ${JSON.stringify(task.StartedTimestamp)}`);
    assert.ok(
      task.StartedTimestamp >= t0 - 5000 && task.StartedTimestamp <= Date.now() + 5000,
      `StartedTimestamp ${task.StartedTimestamp} is not epoch milliseconds near ${t0}`,
    );
    assert.equal(task.TaskHandle, undefined, "TaskHandle is listed only while the task runs");
    const got = await receiveN(client, src, 5, { timeoutMs: 5000 });
    assert.deepEqual(got.map((m) => m.Body).sort(), bodies);
    assert.equal((await receiveNow(client, dlq)).length, 0);
  });

  it("redrives a dead-lettered message back to its original source", async () => {
    const { dlq, dlqArn, src } = await dlqPair("mvorig");
    await client.send(new SendMessageCommand({ QueueUrl: src, MessageBody: "poison" }));
    const [m] = await receiveN(client, src, 1, { timeoutMs: 3000, extra: { VisibilityTimeout: 0 } });
    assert.ok(m);
    await receiveNow(client, src); // exceeds maxReceiveCount 1: moves it to the DLQ
    await waitFor(async () => (await receiveNow(client, dlq, { VisibilityTimeout: 0 })).length === 1, {
      timeoutMs: 5000,
      what: "message in the DLQ",
    });
    await client.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn }));
    const task = await waitStatus(dlqArn, ["COMPLETED"]);
    assert.equal(task.ApproximateNumberOfMessagesMoved, 1);
    const back = await receiveN(client, src, 1, { timeoutMs: 5000 });
    assert.deepEqual(back.map((x) => x.Body), ["poison"]);
  });

  it("cancels a rate-limited running task without losing messages", async () => {
    const { dlq, dlqArn, src, srcArn } = await dlqPair("mvcancel");
    await client.send(
      new SendMessageBatchCommand({
        QueueUrl: dlq,
        Entries: Array.from({ length: 10 }, (_, i) => ({ Id: `c${i}`, MessageBody: `c${i}` })),
      }),
    );
    const { TaskHandle } = await client.send(
      new StartMessageMoveTaskCommand({ SourceArn: dlqArn, DestinationArn: srcArn, MaxNumberOfMessagesPerSecond: 1 }),
    );
    const listed = await client.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn }));
    assert.equal(listed.Results?.[0]?.Status, "RUNNING");
    assert.equal(listed.Results[0].TaskHandle, TaskHandle);
    assert.equal(listed.Results[0].MaxNumberOfMessagesPerSecond, 1);
    const cancelled = await client.send(new CancelMessageMoveTaskCommand({ TaskHandle }));
    assert.equal(typeof cancelled.ApproximateNumberOfMessagesMoved, "number");
    const done = await waitStatus(dlqArn, ["CANCELLED"]);
    assert.ok(done.ApproximateNumberOfMessagesMoved < 10);
    const inSrc = await receiveN(client, src, 10, { timeoutMs: 1500 });
    const inDlq = await receiveN(client, dlq, 10 - inSrc.length, { timeoutMs: 4000 });
    assert.equal(inSrc.length + inDlq.length, 10, "cancelling must not lose or duplicate messages");
    assert.equal(new Set([...inSrc, ...inDlq].map((m) => m.Body)).size, 10);
  });

  it("a source queue that is not a DLQ is rejected", async () => {
    const plainName = uniqueName("mvplain");
    await createQueue(client, plainName);
    const err = await expectReject(client.send(new StartMessageMoveTaskCommand({ SourceArn: server.queueArn(plainName) })));
    assert.ok(err instanceof SQSServiceException, describeErr(err));
    assert.equal(err.name, "InvalidParameterValue", describeErr(err));
  });

  it("a missing source queue -> ResourceNotFoundException", async () => {
    const err = await expectReject(
      client.send(new StartMessageMoveTaskCommand({ SourceArn: server.queueArn(uniqueName("mvmissing")) })),
    );
    assert.ok(err instanceof ResourceNotFoundException, describeErr(err));
    assert.equal(err.$metadata.httpStatusCode, 404);
  });
});
