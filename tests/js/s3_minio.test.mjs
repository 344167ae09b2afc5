// The `minio` npm client against tweedle's S3: path style over plain HTTP,
// region detection (GetBucketLocation), objects, multipart streams, listings,
// presigned URLs, copies, files, versioning and bucket notifications.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { Readable, Writable } from "node:stream";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import * as Minio from "minio";
import { CreateQueueCommand } from "@aws-sdk/client-sqs";
import {
  startServer,
  makeS3Client,
  makeClient,
  minioOptions,
  uniqueBucket,
  uniqueName,
  receiveN,
  bodyBytes,
  md5Hex,
  multipartEtag,
  expectReject,
  withTimeout,
  ACCOUNT,
  REGION,
} from "./helpers.mjs";
import { GetObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";

const MIB = 1024 * 1024;

let server;
let mc;
let s3;
let tmp;

before(async () => {
  server = await startServer();
  // partSize at S3's 5 MiB minimum so a modest stream goes multipart.
  mc = new Minio.Client(minioOptions(server, { partSize: 5 * MIB }));
  s3 = makeS3Client(server);
  tmp = fs.mkdtempSync(path.join(server.workDir, "minio-"));
});
after(async () => {
  s3?.destroy();
  await server?.stop();
});

/** Collects a minio BucketStream into an array, bounded. */
function collect(stream, ms = 15_000) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const out = [];
      stream.on("data", (x) => out.push(x));
      stream.on("error", reject);
      stream.on("end", () => resolve(out));
    }),
    ms,
  );
}

async function readAll(stream) {
  return withTimeout(bodyBytes(stream), 30_000);
}

describe("minio client", () => {
  let b;

  before(async () => {
    b = uniqueBucket("minio");
    await mc.makeBucket(b);
  });

  it("detects the bucket's region with GetBucketLocation and uses it", async () => {
    // A fresh client without a region: its first bucket operation asks for the location.
    const c = new Minio.Client(minioOptions(server));
    let trace = "";
    c.traceOn(
      new Writable({
        write(chunk, _enc, cb) {
          trace += chunk.toString();
          cb();
        },
      }),
    );
    await c.putObject(b, "region-probe", "x");
    c.traceOff();
    assert.match(trace, new RegExp(`GET /${b}\\?location`), trace.slice(0, 2000));
    assert.equal(await c.getBucketRegionAsync(b), REGION);
    assert.match(trace, /Credential=[^/]+\/\d{8}\/us-east-1\/s3\/aws4_request/);
  });

  it("bucketExists, listBuckets", async () => {
    assert.equal(await mc.bucketExists(b), true);
    assert.equal(await mc.bucketExists(uniqueBucket("absent")), false);
    const buckets = await mc.listBuckets();
    const mine = buckets.find((x) => x.name === b);
    assert.ok(mine, "listBuckets misses the bucket");
    assert.ok(mine.creationDate instanceof Date);
  });

  it("putObject of a string and a Buffer with metadata; getObject, statObject", async () => {
    const s = await mc.putObject(b, "str.txt", "a string body", undefined, { "Content-Type": "text/plain" });
    assert.equal(s.etag, md5Hex("a string body"));
    const data = randomBytes(123_456);
    const r = await mc.putObject(b, "dir/buf.bin", data, data.length, {
      "Content-Type": "application/x-minio",
      "X-Amz-Meta-Origin": "minio-js",
      project: "tweedle",
    });
    assert.equal(r.etag, md5Hex(data));
    assert.ok((await readAll(await mc.getObject(b, "dir/buf.bin"))).equals(data));
    assert.equal((await readAll(await mc.getObject(b, "str.txt"))).toString(), "a string body");
    const st = await mc.statObject(b, "dir/buf.bin");
    assert.equal(st.size, data.length);
    assert.equal(st.etag, md5Hex(data));
    assert.ok(st.lastModified instanceof Date);
    assert.equal(st.metaData["content-type"], "application/x-minio");
    assert.equal(st.metaData.origin, "minio-js");
    assert.equal(st.metaData.project, "tweedle");
    const e = await expectReject(mc.statObject(b, "dir/none"));
    assert.equal(e.code, "NotFound", JSON.stringify(e));
    const g = await expectReject(mc.getObject(b, "dir/none"));
    assert.equal(g.code, "NoSuchKey", JSON.stringify(g));
  });

  it("a stream larger than the part size goes multipart and reads back", async () => {
    const data = randomBytes(11 * MIB + 5);
    const stream = Readable.from(
      (function* () {
        for (let i = 0; i < data.length; i += 1 << 20) yield data.subarray(i, i + (1 << 20));
      })(),
    );
    const r = await withTimeout(mc.putObject(b, "big/stream.bin", stream, data.length), 50_000);
    assert.equal(`"${r.etag}"`, multipartEtag(data, 5 * MIB));
    const head = await s3.send(new HeadObjectCommand({ Bucket: b, Key: "big/stream.bin" }));
    assert.equal(head.ContentLength, data.length);
    const back = await readAll(await mc.getObject(b, "big/stream.bin"));
    assert.ok(back.equals(data), "multipart stream round trip differs");
  });

  it("getPartialObject with offset and length, and offset to the end", async () => {
    const data = randomBytes(10_000);
    await mc.putObject(b, "partial.bin", data);
    assert.ok((await readAll(await mc.getPartialObject(b, "partial.bin", 100, 50))).equals(data.subarray(100, 150)));
    assert.ok((await readAll(await mc.getPartialObject(b, "partial.bin", 9990))).equals(data.subarray(9990)));
  });

  it("listObjectsV2: recursive, by prefix, with common prefixes", async () => {
    const lb = uniqueBucket("mlist");
    await mc.makeBucket(lb);
    const keys = ["a/1", "a/2", "a/b/3", "c", "d/4"];
    for (const k of keys) await mc.putObject(lb, k, k);
    const all = await collect(mc.listObjectsV2(lb, "", true));
    assert.deepEqual(all.map((o) => o.name), keys);
    assert.ok(all.every((o) => o.size === Buffer.byteLength(o.name) && o.etag && o.lastModified instanceof Date));
    const top = await collect(mc.listObjectsV2(lb, "", false));
    assert.deepEqual(top.map((o) => o.name || o.prefix).sort(), ["a/", "c", "d/"]);
    const underA = await collect(mc.listObjectsV2(lb, "a/", false));
    assert.deepEqual(underA.map((o) => o.name || o.prefix), ["a/1", "a/2", "a/b/"]);
    const v1 = await collect(mc.listObjects(lb, "a/", true));
    assert.deepEqual(v1.map((o) => o.name), ["a/1", "a/2", "a/b/3"]);
  });

  it("listObjectsV2 pages past 1000 keys", async () => {
    const lb = uniqueBucket("mpage");
    await mc.makeBucket(lb);
    const keys = Array.from({ length: 1105 }, (_, i) => `k/${String(i).padStart(5, "0")}`);
    // DeleteObjects-free fast fill: 8 uploads at a time.
    for (let i = 0; i < keys.length; i += 8) {
      await Promise.all(keys.slice(i, i + 8).map((k) => mc.putObject(lb, k, "")));
    }
    const all = await collect(mc.listObjectsV2(lb, "k/", true), 30_000);
    assert.equal(all.length, keys.length);
    assert.deepEqual(all.map((o) => o.name), keys);
    // removeObjects in one call (DeleteObjects, chunked by 1000 inside minio).
    const res = await mc.removeObjects(lb, keys);
    assert.ok(Array.isArray(res));
    assert.equal((await collect(mc.listObjectsV2(lb, "", true))).length, 0);
    await mc.removeBucket(lb);
    assert.equal(await mc.bucketExists(lb), false);
  });

  it("removeObject and removeObjects", async () => {
    await mc.putObject(b, "rm/1", "1");
    await mc.putObject(b, "rm/2", "2");
    await mc.putObject(b, "rm/3", "3");
    await mc.removeObject(b, "rm/1");
    const res = await mc.removeObjects(b, ["rm/2", { name: "rm/3" }, "rm/never"]);
    const errors = res.flat().filter((x) => x && (x.Code || x.code));
    assert.deepEqual(errors, []);
    assert.deepEqual(await collect(mc.listObjectsV2(b, "rm/", true)), []);
  });

  it("presignedPutObject and presignedGetObject through fetch", async () => {
    const put = await mc.presignedPutObject(b, "pre/up load.bin", 300);
    assert.match(put, /X-Amz-Signature=/);
    const data = randomBytes(30_000);
    let res = await fetch(put, { method: "PUT", body: data, signal: AbortSignal.timeout(15_000) });
    assert.equal(res.status, 200, await res.clone().text());
    await res.arrayBuffer();
    const get = await mc.presignedGetObject(b, "pre/up load.bin", 300, {
      "response-content-disposition": 'attachment; filename="x.bin"',
    });
    res = await fetch(get, { signal: AbortSignal.timeout(15_000) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-disposition"), 'attachment; filename="x.bin"');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(data));
    // An expired one (signed an hour ago for 60 s).
    const old = await mc.presignedGetObject(b, "pre/up load.bin", 60, {}, new Date(Date.now() - 3600_000));
    res = await fetch(old, { signal: AbortSignal.timeout(15_000) });
    assert.equal(res.status, 403);
    assert.match(await res.text(), /<Code>AccessDenied<\/Code><Message>Request has expired<\/Message>/);
  });

  it("copyObject (legacy and CopySourceOptions forms) with conditions", async () => {
    const data = randomBytes(4000);
    await mc.putObject(b, "cp/src", data, data.length, { "X-Amz-Meta-K": "v" });
    const r1 = await mc.copyObject(b, "cp/dst1", `/${b}/cp/src`, new Minio.CopyConditions());
    assert.equal(String(r1.etag).replace(/"/g, ""), md5Hex(data));
    const src = new Minio.CopySourceOptions({ Bucket: b, Object: "cp/src" });
    const dst = new Minio.CopyDestinationOptions({ Bucket: b, Object: "cp/dst2" });
    await mc.copyObject(src, dst);
    for (const k of ["cp/dst1", "cp/dst2"]) {
      assert.ok((await readAll(await mc.getObject(b, k))).equals(data), k);
      assert.equal((await mc.statObject(b, k)).metaData.k, "v", k);
    }
    const cond = new Minio.CopyConditions();
    cond.setMatchETag("0123456789abcdef0123456789abcdef");
    const e = await expectReject(mc.copyObject(b, "cp/dst3", `/${b}/cp/src`, cond));
    assert.equal(e.code, "PreconditionFailed", JSON.stringify(e));
  });

  it("fPutObject and fGetObject", async () => {
    const data = randomBytes(6 * MIB + 7);
    const src = path.join(tmp, "in.bin");
    const dst = path.join(tmp, "out.bin");
    fs.writeFileSync(src, data);
    const r = await withTimeout(mc.fPutObject(b, "files/in.bin", src, { "Content-Type": "application/x-file" }), 30_000);
    assert.equal(`"${r.etag}"`, multipartEtag(data, 5 * MIB));
    await withTimeout(mc.fGetObject(b, "files/in.bin", dst), 30_000);
    assert.ok(fs.readFileSync(dst).equals(data));
    const out = await s3.send(new GetObjectCommand({ Bucket: b, Key: "files/in.bin" }));
    assert.equal(out.ContentType, "application/x-file");
    await bodyBytes(out.Body);
  });

  it("setBucketNotification with an SQS queue ARN; events arrive", async () => {
    const nb = uniqueBucket("mnotify");
    await mc.makeBucket(nb);
    const sqs = makeClient(server);
    try {
      const qn = uniqueName("minioq");
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: qn }));
      const arn = Minio.buildARN("aws", "sqs", REGION, ACCOUNT, qn);
      const qc = new Minio.QueueConfig(arn);
      qc.addEvent(Minio.ObjectCreatedAll);
      qc.addFilterPrefix("up/");
      const cfg = new Minio.NotificationConfig();
      cfg.add(qc);
      await mc.setBucketNotification(nb, cfg);
      const got = await mc.getBucketNotification(nb);
      assert.equal(got.QueueConfiguration.length, 1, JSON.stringify(got));
      assert.equal(got.QueueConfiguration[0].Queue, arn);
      assert.deepEqual(got.QueueConfiguration[0].Event, ["s3:ObjectCreated:*"]);
      await mc.putObject(nb, "up/file.txt", "hello");
      await mc.putObject(nb, "other/file.txt", "ignored");
      const msgs = (await receiveN(sqs, QueueUrl, 2, { timeoutMs: 8000 })).map((m) => JSON.parse(m.Body));
      // Nothing more arrives for the filtered-out key.
      msgs.push(...(await receiveN(sqs, QueueUrl, 1, { timeoutMs: 1000 })).map((m) => JSON.parse(m.Body)));
      assert.ok(msgs.some((m) => m.Event === "s3:TestEvent"), "no s3:TestEvent");
      const recs = msgs.flatMap((m) => m.Records || []);
      assert.deepEqual(recs.map((r) => `${r.eventName} ${r.s3.object.key}`), ["ObjectCreated:Put up/file.txt"]);
      await mc.removeAllBucketNotification(nb);
      assert.deepEqual((await mc.getBucketNotification(nb)).QueueConfiguration, []);
    } finally {
      sqs.destroy();
    }
  });

  it("versioning: set/getBucketVersioning, versionId on put, stat, get and remove; listObjects with IncludeVersion", async () => {
    const vb = uniqueBucket("minio-ver");
    await mc.makeBucket(vb);
    // a never-versioned bucket answers an empty configuration, not an error
    const none = await mc.getBucketVersioning(vb);
    assert.ok(!none || !none.Status, JSON.stringify(none));
    await mc.setBucketVersioning(vb, { Status: "Enabled" });
    assert.equal((await mc.getBucketVersioning(vb)).Status, "Enabled");
    const v1 = await mc.putObject(vb, "doc", "first");
    const v2 = await mc.putObject(vb, "doc", "second");
    assert.ok(v1.versionId && v2.versionId && v1.versionId !== v2.versionId, JSON.stringify([v1, v2]));
    assert.equal((await mc.statObject(vb, "doc", { versionId: v1.versionId })).size, 5);
    assert.equal((await mc.statObject(vb, "doc")).versionId, v2.versionId);
    const old = await readAll(await mc.getObject(vb, "doc", { versionId: v1.versionId }));
    assert.equal(old.toString(), "first");
    // a delete without a version id adds a delete marker; both versions stay
    await mc.removeObject(vb, "doc");
    const gone = await expectReject(mc.statObject(vb, "doc"), "stat after the delete marker");
    assert.match(String(gone.code), /NotFound|NoSuchKey/, String(gone));
    const listed = await collect(mc.listObjects(vb, "", true, { IncludeVersion: true }));
    const versions = listed.filter((x) => x.name === "doc" && !x.isDeleteMarker).map((x) => x.versionId);
    assert.deepEqual(new Set(versions), new Set([v1.versionId, v2.versionId]));
    assert.equal(listed.filter((x) => x.isDeleteMarker).length, 1, JSON.stringify(listed));
    // removing a version by id removes just that one
    await mc.removeObject(vb, "doc", { versionId: v1.versionId });
    const noVersion = await expectReject(mc.statObject(vb, "doc", { versionId: v1.versionId }), "stat of a removed version");
    assert.match(String(noVersion.code), /NoSuchVersion|NotFound|BadRequest/, String(noVersion));
    assert.equal((await mc.statObject(vb, "doc", { versionId: v2.versionId })).size, 6);
    await mc.setBucketVersioning(vb, { Status: "Suspended" });
    assert.equal((await mc.getBucketVersioning(vb)).Status, "Suspended");
  });

  it("removeBucket: BucketNotEmpty, then empty and gone", async () => {
    const rb = uniqueBucket("mrb");
    await mc.makeBucket(rb);
    await mc.putObject(rb, "x", "x");
    const e = await expectReject(mc.removeBucket(rb));
    assert.equal(e.code, "BucketNotEmpty", JSON.stringify(e));
    await mc.removeObject(rb, "x");
    await mc.removeBucket(rb);
    assert.equal(await mc.bucketExists(rb), false);
    const e2 = await expectReject(mc.removeBucket(rb));
    assert.equal(e2.code, "NoSuchBucket");
  });
});
