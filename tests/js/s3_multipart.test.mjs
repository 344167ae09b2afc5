// S3 multipart uploads with the JS SDK v3 (CreateMultipartUpload/UploadPart/
// Complete/ListParts/Abort and @aws-sdk/lib-storage's Upload), and bucket
// notifications delivered to an SQS queue read with @aws-sdk/client-sqs.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { randomBytes } from "node:crypto";
import {
  CreateBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  DeleteObjectCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  CompleteMultipartUploadCommand,
  AbortMultipartUploadCommand,
  ListPartsCommand,
  ListMultipartUploadsCommand,
  PutBucketNotificationConfigurationCommand,
  GetBucketNotificationConfigurationCommand,
  NoSuchUpload,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { DeleteMessageBatchCommand } from "@aws-sdk/client-sqs";
import {
  startServer,
  makeS3Client,
  makeClient,
  uniqueBucket,
  uniqueName,
  createQueue,
  receiveN,
  bodyBytes,
  crc32B64,
  s3Etag,
  multipartEtag,
  recordRequests,
  expectReject,
  withTimeout,
  waitFor,
  ACCOUNT,
  REGION,
} from "./helpers.mjs";

const MIB = 1024 * 1024;

let server;
let s3;

before(async () => {
  server = await startServer();
  s3 = makeS3Client(server);
});
after(async () => {
  s3?.destroy();
  await server?.stop();
});

async function newBucket(prefix = "mpu") {
  const name = uniqueBucket(prefix);
  await s3.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

function assertS3Err(e, name, status) {
  const ctx = JSON.stringify({ name: e?.name, message: e?.message, status: e?.$metadata?.httpStatusCode });
  assert.equal(e.name, name, ctx);
  assert.equal(e.$metadata?.httpStatusCode, status, ctx);
}

async function getAll(bucket, key, extra = {}) {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...extra }));
  return { out, data: await bodyBytes(out.Body) };
}

describe("multipart with the low-level commands", () => {
  let b;
  before(async () => {
    b = await newBucket();
  });

  it("create, upload 3 parts, list them, complete; ETag is md5-of-md5s-3", async () => {
    const data = randomBytes(11 * MIB + 333);
    const parts = [data.subarray(0, 5 * MIB), data.subarray(5 * MIB, 10 * MIB), data.subarray(10 * MIB)];
    const key = "big/obj.bin";
    const created = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: b, Key: key, ContentType: "application/x-mpu", Metadata: { m: "1" } }),
    );
    assert.equal(created.Bucket, b);
    assert.equal(created.Key, key);
    assert.ok(created.UploadId);
    const UploadId = created.UploadId;

    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: b }));
    assert.ok(
      (uploads.Uploads || []).some((u) => u.UploadId === UploadId && u.Key === key),
      `upload missing from ListMultipartUploads: ${JSON.stringify(uploads.Uploads)}`,
    );

    const etags = [];
    // Parts out of order and in parallel, as lib-storage does.
    await Promise.all(
      [2, 0, 1].map(async (i) => {
        const r = await s3.send(
          new UploadPartCommand({ Bucket: b, Key: key, UploadId, PartNumber: i + 1, Body: parts[i] }),
        );
        assert.equal(r.ETag, s3Etag(parts[i]));
        assert.equal(r.ChecksumCRC32, crc32B64(parts[i]), "UploadPart does not echo the SDK's CRC32");
        etags[i] = r.ETag;
      }),
    );

    const lp = await s3.send(new ListPartsCommand({ Bucket: b, Key: key, UploadId }));
    assert.deepEqual(
      lp.Parts.map((p) => [p.PartNumber, p.ETag, p.Size]),
      parts.map((p, i) => [i + 1, etags[i], p.length]),
    );
    assert.ok(lp.Parts.every((p) => p.LastModified instanceof Date));
    assert.equal(lp.IsTruncated, false);
    // Paged ListParts.
    const p1 = await s3.send(new ListPartsCommand({ Bucket: b, Key: key, UploadId, MaxParts: 2 }));
    assert.deepEqual(p1.Parts.map((p) => p.PartNumber), [1, 2]);
    assert.equal(p1.IsTruncated, true);
    assert.equal(String(p1.NextPartNumberMarker), "2");
    const p2 = await s3.send(
      new ListPartsCommand({ Bucket: b, Key: key, UploadId, MaxParts: 2, PartNumberMarker: p1.NextPartNumberMarker }),
    );
    assert.deepEqual(p2.Parts.map((p) => p.PartNumber), [3]);
    assert.equal(p2.IsTruncated, false);

    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: b,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }),
    );
    assert.equal(done.ETag, multipartEtag(data, 5 * MIB));
    assert.equal(done.Bucket, b);
    assert.equal(done.Key, key);
    assert.ok(done.Location, "no Location in CompleteMultipartUploadResult");

    const { out, data: got } = await getAll(b, key);
    assert.ok(got.equals(data), "completed object differs");
    assert.equal(out.ETag, done.ETag);
    assert.equal(out.ContentType, "application/x-mpu");
    assert.deepEqual(out.Metadata, { m: "1" });
    // The upload is gone.
    const e = await expectReject(s3.send(new ListPartsCommand({ Bucket: b, Key: key, UploadId })));
    assertS3Err(e, "NoSuchUpload", 404);
  });

  // Java SDK v2's multipart download and the CRT read objects part by part this way.
  it("GetObject PartNumber gives that part (206, PartsCount)", async () => {
    const data = randomBytes(5 * MIB + 100);
    const key = "partget.bin";
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: key }));
    const p1 = await s3.send(
      new UploadPartCommand({ Bucket: b, Key: key, UploadId, PartNumber: 1, Body: data.subarray(0, 5 * MIB) }),
    );
    const p2 = await s3.send(
      new UploadPartCommand({ Bucket: b, Key: key, UploadId, PartNumber: 2, Body: data.subarray(5 * MIB) }),
    );
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: b,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.ETag }] },
      }),
    );
    const part2 = await getAll(b, key, { PartNumber: 2 });
    assert.equal(part2.out.$metadata.httpStatusCode, 206);
    assert.equal(part2.out.PartsCount, 2);
    assert.equal(part2.out.ContentRange, `bytes ${5 * MIB}-${data.length - 1}/${data.length}`);
    assert.ok(part2.data.equals(data.subarray(5 * MIB)));
    const head = await s3.send(new HeadObjectCommand({ Bucket: b, Key: key, PartNumber: 1 }));
    assert.equal(head.ContentLength, 5 * MIB);
    assert.equal(head.PartsCount, 2);
    // The whole object: 200, no PartsCount; past the last part: 416 InvalidPartNumber.
    const whole = await getAll(b, key);
    assert.equal(whole.out.$metadata.httpStatusCode, 200);
    assert.equal(whole.out.PartsCount, undefined);
    const e = await expectReject(s3.send(new GetObjectCommand({ Bucket: b, Key: key, PartNumber: 3 })));
    assertS3Err(e, "InvalidPartNumber", 416);
    assert.equal(e.message, "The requested partnumber is not satisfiable");
    const r = await expectReject(s3.send(new GetObjectCommand({ Bucket: b, Key: key, PartNumber: 1, Range: "bytes=0-1" })));
    assertS3Err(r, "InvalidRequest", 400);
  });

  it("ChecksumAlgorithm CRC32 upload: parts echo CRC32, GET with checksum mode validates", async () => {
    const data = randomBytes(5 * MIB + 1000);
    const key = "ck-plain.bin";
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: b, Key: key, ChecksumAlgorithm: "CRC32" }),
    );
    const parts = [data.subarray(0, 5 * MIB), data.subarray(5 * MIB)];
    const done = [];
    for (let i = 0; i < parts.length; i++) {
      const r = await s3.send(
        new UploadPartCommand({ Bucket: b, Key: key, UploadId, PartNumber: i + 1, Body: parts[i], ChecksumAlgorithm: "CRC32" }),
      );
      assert.equal(r.ChecksumCRC32, crc32B64(parts[i]));
      done.push({ PartNumber: i + 1, ETag: r.ETag, ChecksumCRC32: r.ChecksumCRC32 });
    }
    const c = await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: b, Key: key, UploadId, MultipartUpload: { Parts: done } }),
    );
    assert.equal(c.ETag, multipartEtag(data, 5 * MIB));
    const { data: got } = await getAll(b, key, { ChecksumMode: "ENABLED" });
    assert.ok(got.equals(data));
  });

  it("ChecksumAlgorithm CRC32: composite checksum on Complete and GET", async () => {
    const data = randomBytes(5 * MIB + 1000);
    const key = "ck.bin";
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: b, Key: key, ChecksumAlgorithm: "CRC32" }),
    );
    const parts = [data.subarray(0, 5 * MIB), data.subarray(5 * MIB)];
    const done = [];
    for (let i = 0; i < parts.length; i++) {
      const r = await s3.send(
        new UploadPartCommand({ Bucket: b, Key: key, UploadId, PartNumber: i + 1, Body: parts[i], ChecksumAlgorithm: "CRC32" }),
      );
      assert.equal(r.ChecksumCRC32, crc32B64(parts[i]));
      done.push({ PartNumber: i + 1, ETag: r.ETag, ChecksumCRC32: r.ChecksumCRC32 });
    }
    const c = await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: b, Key: key, UploadId, MultipartUpload: { Parts: done } }),
    );
    const partCrcs = Buffer.concat(parts.map((p) => Buffer.from(crc32B64(p), "base64")));
    assert.equal(c.ChecksumCRC32, `${crc32B64(partCrcs)}-2`);
    assert.equal(c.ChecksumType, "COMPOSITE");
    const { out, data: got } = await getAll(b, key, { ChecksumMode: "ENABLED" });
    assert.equal(out.ChecksumCRC32, c.ChecksumCRC32);
    assert.equal(out.ChecksumType, "COMPOSITE");
    assert.ok(got.equals(data));
    // One part with checksum mode: that part's own CRC32, which the SDK validates.
    const p2 = await getAll(b, key, { PartNumber: 2, ChecksumMode: "ENABLED" });
    assert.equal(p2.out.ChecksumCRC32, crc32B64(parts[1]));
    assert.ok(p2.data.equals(parts[1]));
  });

  it("a part without the upload's checksum is refused (COMPOSITE)", async () => {
    const key = "ck-missing.bin";
    const { UploadId, ChecksumType } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: b, Key: key, ChecksumAlgorithm: "SHA256" }),
    );
    assert.equal(ChecksumType, "COMPOSITE");
    // The SDK's own default for UploadPart is CRC32: not the upload's SHA256.
    const e = await expectReject(
      s3.send(new UploadPartCommand({ Bucket: b, Key: key, UploadId, PartNumber: 1, Body: randomBytes(100) })),
    );
    assertS3Err(e, "InvalidRequest", 400);
    assert.equal(e.message, "Checksum Type mismatch occurred, expected checksum Type: sha256, actual checksum Type: crc32");
    await s3.send(new AbortMultipartUploadCommand({ Bucket: b, Key: key, UploadId }));
  });

  it("abort discards the parts: NoSuchUpload afterwards, no object", async () => {
    const key = "aborted";
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: key }));
    await s3.send(new UploadPartCommand({ Bucket: b, Key: key, UploadId, PartNumber: 1, Body: randomBytes(1000) }));
    const a = await s3.send(new AbortMultipartUploadCommand({ Bucket: b, Key: key, UploadId }));
    assert.equal(a.$metadata.httpStatusCode, 204);
    let e = await expectReject(s3.send(new ListPartsCommand({ Bucket: b, Key: key, UploadId })));
    assertS3Err(e, "NoSuchUpload", 404);
    assert.ok(e instanceof NoSuchUpload);
    e = await expectReject(
      s3.send(new UploadPartCommand({ Bucket: b, Key: key, UploadId, PartNumber: 2, Body: "x" })),
    );
    assertS3Err(e, "NoSuchUpload", 404);
    e = await expectReject(
      s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: b,
          Key: key,
          UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"x"' }] },
        }),
      ),
    );
    assertS3Err(e, "NoSuchUpload", 404);
    e = await expectReject(s3.send(new HeadObjectCommand({ Bucket: b, Key: key })));
    assertS3Err(e, "NotFound", 404);
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: b, Prefix: key }));
    assert.equal((uploads.Uploads || []).length, 0);
  });

  it("a small non-last part is EntityTooSmall; a wrong ETag is InvalidPart", async () => {
    const key = "small";
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: key }));
    const r1 = await s3.send(new UploadPartCommand({ Bucket: b, Key: key, UploadId, PartNumber: 1, Body: "tiny" }));
    const r2 = await s3.send(new UploadPartCommand({ Bucket: b, Key: key, UploadId, PartNumber: 2, Body: "end" }));
    let e = await expectReject(
      s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: b,
          Key: key,
          UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: r1.ETag }, { PartNumber: 2, ETag: r2.ETag }] },
        }),
      ),
    );
    assertS3Err(e, "EntityTooSmall", 400);
    e = await expectReject(
      s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: b,
          Key: key,
          UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"00000000000000000000000000000000"' }] },
        }),
      ),
    );
    assertS3Err(e, "InvalidPart", 400);
    // A single (last) small part completes.
    const ok = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: b,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 2, ETag: r2.ETag }] },
      }),
    );
    assert.equal(ok.ETag, multipartEtag(Buffer.from("end"), 5 * MIB));
    assert.equal((await getAll(b, key)).data.toString(), "end");
  });
});

describe("@aws-sdk/lib-storage Upload", () => {
  let b;
  before(async () => {
    b = await newBucket("lib");
  });

  it("12 MiB Buffer in 5 MiB parts, 2 at a time, with progress events", async () => {
    const data = randomBytes(12 * MIB);
    const rec = recordRequests(s3);
    const up = new Upload({
      client: s3,
      params: { Bucket: b, Key: "lib/12mib.bin", Body: data, ContentType: "application/x-lib" },
      partSize: 5 * MIB,
      queueSize: 2,
    });
    const progress = [];
    up.on("httpUploadProgress", (p) => progress.push(p.loaded));
    let res;
    try {
      res = await withTimeout(up.done(), 50_000);
    } finally {
      rec.stop();
    }
    assert.equal(res.ETag, multipartEtag(data, 5 * MIB));
    assert.equal(rec.all.filter((r) => r.method === "PUT" && r.query.partNumber).length, 3);
    assert.equal(Math.max(...progress), data.length);
    const { out, data: got } = await getAll(b, "lib/12mib.bin", { ChecksumMode: "ENABLED" });
    assert.ok(got.equals(data));
    assert.equal(out.ContentType, "application/x-lib");
    assert.equal(out.ContentLength, data.length);
  });

  it("ChecksumAlgorithm CRC64NVME: a FULL_OBJECT checksum the SDK validates on GET", async () => {
    const data = randomBytes(11 * MIB + 17);
    const up = new Upload({
      client: s3,
      params: { Bucket: b, Key: "lib/nvme.bin", Body: data, ChecksumAlgorithm: "CRC64NVME" },
      partSize: 5 * MIB,
    });
    const res = await withTimeout(up.done(), 50_000);
    assert.equal(res.ChecksumType, "FULL_OBJECT");
    assert.ok(res.ChecksumCRC64NVME);
    // The SDK computes CRC64NVME over the body and throws on a mismatch.
    const { out, data: got } = await getAll(b, "lib/nvme.bin", { ChecksumMode: "ENABLED" });
    assert.ok(got.equals(data));
    assert.equal(out.ChecksumCRC64NVME, res.ChecksumCRC64NVME);
    assert.equal(out.ChecksumType, "FULL_OBJECT");
  });

  it("a Readable of unknown length is split into parts", async () => {
    const data = randomBytes(11 * MIB);
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < data.length; i += 256 * 1024) yield data.subarray(i, i + 256 * 1024);
      })(),
    );
    const up = new Upload({ client: s3, params: { Bucket: b, Key: "lib/stream.bin", Body: body }, partSize: 5 * MIB });
    const res = await withTimeout(up.done(), 50_000);
    assert.equal(res.ETag, multipartEtag(data, 5 * MIB));
    assert.ok((await getAll(b, "lib/stream.bin")).data.equals(data));
  });

  it("a body under one part is a single PutObject", async () => {
    const data = randomBytes(100_000);
    const rec = recordRequests(s3);
    let res;
    try {
      res = await new Upload({ client: s3, params: { Bucket: b, Key: "lib/small", Body: data } }).done();
    } finally {
      rec.stop();
    }
    assert.equal(res.ETag, s3Etag(data));
    assert.ok(!rec.all.some((r) => "uploads" in r.query), "a small Upload started a multipart upload");
    assert.ok((await getAll(b, "lib/small")).data.equals(data));
  });

  it("abort() of an Upload leaves no object and no upload", async () => {
    const data = randomBytes(15 * MIB);
    const up = new Upload({ client: s3, params: { Bucket: b, Key: "lib/aborted", Body: data }, partSize: 5 * MIB, queueSize: 1 });
    let started = false;
    up.on("httpUploadProgress", () => {
      if (!started) {
        started = true;
        up.abort();
      }
    });
    const e = await expectReject(withTimeout(up.done(), 30_000));
    assert.match(String(e.name), /Abort/, String(e));
    // done() rejects at once; the Upload sends AbortMultipartUpload after its in-flight part.
    await waitFor(
      async () => {
        const l = await s3.send(new ListMultipartUploadsCommand({ Bucket: b, Prefix: "lib/aborted" }));
        return (l.Uploads || []).length === 0;
      },
      { timeoutMs: 10_000, what: "the aborted upload to disappear" },
    );
    const h = await expectReject(s3.send(new HeadObjectCommand({ Bucket: b, Key: "lib/aborted" })));
    assertS3Err(h, "NotFound", 404);
  });
});

describe("notifications to SQS", () => {
  let b;
  let sqs;
  let queueUrl;
  let queueName;

  before(async () => {
    b = await newBucket("ntf");
    sqs = makeClient(server);
    queueName = uniqueName("s3events");
    queueUrl = await createQueue(sqs, queueName);
  });
  after(() => sqs?.destroy());

  async function drain(n, timeoutMs = 8000) {
    const msgs = await receiveN(sqs, queueUrl, n, { timeoutMs });
    if (msgs.length) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
    }
    return msgs.map((m) => JSON.parse(m.Body));
  }

  it("configuration round trip, TestEvent, then ObjectCreated/ObjectRemoved records", async () => {
    const arn = `arn:aws:sqs:${REGION}:${ACCOUNT}:${queueName}`;
    const config = {
      QueueConfigurations: [
        {
          Id: "created-in",
          QueueArn: arn,
          Events: ["s3:ObjectCreated:*"],
          Filter: { Key: { FilterRules: [{ Name: "Prefix", Value: "in/" }] } },
        },
        {
          Id: "removed",
          QueueArn: arn,
          Events: ["s3:ObjectRemoved:Delete"],
          Filter: { Key: { FilterRules: [{ Name: "Suffix", Value: ".txt" }] } },
        },
      ],
    };
    await s3.send(new PutBucketNotificationConfigurationCommand({ Bucket: b, NotificationConfiguration: config }));
    const got = await s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: b }));
    assert.equal(got.QueueConfigurations.length, 2);
    const byId = Object.fromEntries(got.QueueConfigurations.map((q) => [q.Id, q]));
    assert.equal(byId["created-in"].QueueArn, arn);
    assert.deepEqual(byId["created-in"].Events, ["s3:ObjectCreated:*"]);
    assert.deepEqual(byId["created-in"].Filter.Key.FilterRules.map((r) => [r.Name.toLowerCase(), r.Value]), [
      ["prefix", "in/"],
    ]);
    assert.deepEqual(byId.removed.Events, ["s3:ObjectRemoved:Delete"]);

    const test = await drain(1);
    assert.equal(test.length, 1, "no s3:TestEvent");
    assert.equal(test[0].Event, "s3:TestEvent");
    assert.equal(test[0].Service, "Amazon S3");
    assert.equal(test[0].Bucket, b);

    const data = Buffer.from("event body");
    const put = await s3.send(new PutObjectCommand({ Bucket: b, Key: "in/hello world.txt", Body: data }));
    await s3.send(new PutObjectCommand({ Bucket: b, Key: "out/ignored.bin", Body: "x" }));
    await s3.send(new CopyObjectCommand({ Bucket: b, Key: "in/copy.bin", CopySource: `${b}/out/ignored.bin` }));
    const mpuData = randomBytes(6 * MIB);
    await new Upload({ client: s3, params: { Bucket: b, Key: "in/mpu.bin", Body: mpuData }, partSize: 5 * MIB }).done();
    await s3.send(new DeleteObjectCommand({ Bucket: b, Key: "in/hello world.txt" }));
    await s3.send(new DeleteObjectCommand({ Bucket: b, Key: "out/ignored.bin" }));

    const events = (await drain(4)).flatMap((m) => m.Records || []);
    const seen = events.map((r) => `${r.eventName} ${r.s3.object.key}`).sort();
    assert.deepEqual(seen, [
      "ObjectCreated:CompleteMultipartUpload in/mpu.bin",
      "ObjectCreated:Copy in/copy.bin",
      "ObjectCreated:Put in/hello+world.txt",
      "ObjectRemoved:Delete in/hello+world.txt",
    ]);
    const rec = events.find((r) => r.eventName === "ObjectCreated:Put");
    assert.equal(rec.eventSource, "aws:s3");
    assert.equal(rec.awsRegion, REGION);
    assert.equal(rec.s3.bucket.name, b);
    assert.equal(rec.s3.bucket.arn, `arn:aws:s3:::${b}`);
    assert.equal(rec.s3.configurationId, "created-in");
    assert.equal(rec.s3.object.size, data.length);
    assert.equal(`"${rec.s3.object.eTag}"`, put.ETag);
    assert.match(rec.s3.object.sequencer, /^[0-9A-F]+$/);
    assert.ok(!Number.isNaN(Date.parse(rec.eventTime)));
    const mpu = events.find((r) => r.eventName === "ObjectCreated:CompleteMultipartUpload");
    assert.equal(mpu.s3.object.size, mpuData.length);
    assert.equal(`"${mpu.s3.object.eTag}"`, multipartEtag(mpuData, 5 * MIB));
    // Nothing else arrives (out/ objects and the .bin delete are filtered out).
    const extra = await drain(1, 1500);
    assert.deepEqual(extra, []);
  });

  it("an unknown queue is InvalidArgument and keeps the old configuration", async () => {
    const bad = {
      QueueConfigurations: [
        { Id: "x", QueueArn: `arn:aws:sqs:${REGION}:${ACCOUNT}:no-such-queue-${Date.now()}`, Events: ["s3:ObjectCreated:*"] },
      ],
    };
    const before = await s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: b }));
    const e = await expectReject(
      s3.send(new PutBucketNotificationConfigurationCommand({ Bucket: b, NotificationConfiguration: bad })),
    );
    assertS3Err(e, "InvalidArgument", 400);
    assert.match(e.message, /Unable to validate the following destination configurations/);
    const after = await s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: b }));
    assert.deepEqual(after.QueueConfigurations, before.QueueConfigurations);
  });
});
