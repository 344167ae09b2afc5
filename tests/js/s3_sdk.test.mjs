// S3 with the AWS SDK for JavaScript v3 (@aws-sdk/client-s3): buckets, objects,
// metadata, ranges, conditions, default CRC32 checksums and response checksum
// validation, streamed bodies, CopyObject, DeleteObjects and listing paginators.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import {
  CreateBucketCommand,
  HeadBucketCommand,
  ListBucketsCommand,
  DeleteBucketCommand,
  GetBucketLocationCommand,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  DeleteObjectCommand,
  CopyObjectCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  ListObjectsCommand,
  paginateListObjectsV2,
  NoSuchBucket,
  NoSuchKey,
  NotFound,
} from "@aws-sdk/client-s3";
import {
  startServer,
  makeS3Client,
  uniqueBucket,
  bodyBytes,
  crc32B64,
  digestB64,
  s3Etag,
  recordRequests,
  captureRaw,
  expectReject,
  withTimeout,
} from "./helpers.mjs";

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

async function newBucket(prefix = "sdk") {
  const name = uniqueBucket(prefix);
  await s3.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

async function getBytes(bucket, key, extra = {}, client = s3) {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...extra }));
  return { out, data: await bodyBytes(out.Body) };
}

/** Asserts an SDK error: its name (the S3 error code) and HTTP status. */
function assertS3Err(e, name, status) {
  const ctx = JSON.stringify({ name: e?.name, message: e?.message, status: e?.$metadata?.httpStatusCode });
  assert.equal(e.name, name, ctx);
  assert.equal(e.$metadata?.httpStatusCode, status, ctx);
  assert.equal(e.$fault, status >= 500 ? "server" : "client", ctx);
}

describe("buckets", () => {
  it("create, head, list, location, delete", async () => {
    const name = uniqueBucket("life");
    const created = await s3.send(new CreateBucketCommand({ Bucket: name }));
    assert.equal(created.Location, `/${name}`);
    const head = await s3.send(new HeadBucketCommand({ Bucket: name }));
    assert.equal(head.$metadata.httpStatusCode, 200);
    assert.equal(head.BucketRegion, "us-east-1");
    const list = await s3.send(new ListBucketsCommand({}));
    const found = list.Buckets.find((b) => b.Name === name);
    assert.ok(found, `bucket ${name} missing from ListBuckets`);
    assert.ok(found.CreationDate instanceof Date && Math.abs(found.CreationDate - Date.now()) < 60_000);
    assert.ok(list.Owner?.ID, "ListBuckets has no Owner/ID");
    const loc = await s3.send(new GetBucketLocationCommand({ Bucket: name }));
    // us-east-1 is an empty LocationConstraint.
    assert.ok(!loc.LocationConstraint, `LocationConstraint ${loc.LocationConstraint}`);
    const del = await s3.send(new DeleteBucketCommand({ Bucket: name }));
    assert.equal(del.$metadata.httpStatusCode, 204);
    const e = await expectReject(s3.send(new HeadBucketCommand({ Bucket: name })));
    assertS3Err(e, "NotFound", 404);
    assert.ok(e instanceof NotFound);
  });

  it("DeleteBucket of a non-empty bucket is BucketNotEmpty and keeps the bucket", async () => {
    const b = await newBucket();
    await s3.send(new PutObjectCommand({ Bucket: b, Key: "x", Body: "x" }));
    const e = await expectReject(s3.send(new DeleteBucketCommand({ Bucket: b })));
    assertS3Err(e, "BucketNotEmpty", 409);
    assert.equal(e.BucketName, b);
    await s3.send(new HeadBucketCommand({ Bucket: b }));
    await s3.send(new DeleteObjectCommand({ Bucket: b, Key: "x" }));
    await s3.send(new DeleteBucketCommand({ Bucket: b }));
  });

  it("operations on a missing bucket are NoSuchBucket", async () => {
    const b = uniqueBucket("missing");
    for (const cmd of [
      new DeleteBucketCommand({ Bucket: b }),
      new PutObjectCommand({ Bucket: b, Key: "k", Body: "v" }),
      new GetObjectCommand({ Bucket: b, Key: "k" }),
      new ListObjectsV2Command({ Bucket: b }),
    ]) {
      const e = await expectReject(s3.send(cmd), cmd.constructor.name);
      assertS3Err(e, "NoSuchBucket", 404);
      assert.ok(e instanceof NoSuchBucket, `${cmd.constructor.name}: not a NoSuchBucket instance`);
      assert.equal(e.message, "The specified bucket does not exist");
      assert.equal(e.BucketName, b);
    }
  });

  it("an invalid bucket name is InvalidBucketName", async () => {
    const e = await expectReject(s3.send(new CreateBucketCommand({ Bucket: "ab" })));
    assertS3Err(e, "InvalidBucketName", 400);
  });
});

describe("objects", () => {
  let b;
  before(async () => {
    b = await newBucket("obj");
  });

  it("PutObject/GetObject/HeadObject with metadata and standard headers", async () => {
    const data = randomBytes(70_000);
    const key = "dir/ünïcode key+with spaces&more.bin";
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: b,
        Key: key,
        Body: data,
        ContentType: "application/x-tweedle",
        CacheControl: "max-age=30",
        ContentDisposition: 'attachment; filename="a.bin"',
        ContentLanguage: "en",
        // ASCII only: the SDK signs header values as UTF-8 while Node sends a
        // Buffer-bodied request's headers as latin-1 (S3 says metadata is US-ASCII).
        // an empty value comes back empty (S3 keeps it)
        Metadata: { owner: "js-sdk", "Mixed-Case": "Value X", blank: "" },
      }),
    );
    assert.equal(put.ETag, s3Etag(data));
    const { out, data: got } = await getBytes(b, key);
    assert.ok(got.equals(data), "GetObject body differs");
    assert.equal(out.ContentLength, data.length);
    assert.equal(out.ContentType, "application/x-tweedle");
    assert.equal(out.CacheControl, "max-age=30");
    assert.equal(out.ContentDisposition, 'attachment; filename="a.bin"');
    assert.equal(out.ContentLanguage, "en");
    assert.equal(out.ETag, put.ETag);
    assert.equal(out.AcceptRanges, "bytes");
    assert.deepEqual(out.Metadata, { owner: "js-sdk", "mixed-case": "Value X", blank: "" });
    assert.ok(out.LastModified instanceof Date && Math.abs(out.LastModified - Date.now()) < 60_000);
    const head = await s3.send(new HeadObjectCommand({ Bucket: b, Key: key }));
    assert.equal(head.ContentLength, data.length);
    assert.equal(head.ETag, put.ETag);
    assert.equal(head.ContentType, "application/x-tweedle");
    assert.deepEqual(head.Metadata, out.Metadata);
    assert.equal(head.LastModified.getTime(), out.LastModified.getTime());
  });

  it("an empty object and a string body", async () => {
    await s3.send(new PutObjectCommand({ Bucket: b, Key: "empty", Body: "" }));
    const e = await getBytes(b, "empty");
    assert.equal(e.data.length, 0);
    assert.equal(e.out.ContentLength, 0);
    assert.equal(e.out.ETag, '"d41d8cd98f00b204e9800998ecf8427e"');
    await s3.send(new PutObjectCommand({ Bucket: b, Key: "str", Body: "héllo wörld" }));
    assert.equal((await getBytes(b, "str")).data.toString("utf8"), "héllo wörld");
  });

  it("GetObject/HeadObject of a missing key: NoSuchKey / NotFound", async () => {
    const e = await expectReject(s3.send(new GetObjectCommand({ Bucket: b, Key: "no/such key" })));
    assertS3Err(e, "NoSuchKey", 404);
    assert.ok(e instanceof NoSuchKey);
    assert.equal(e.Key, "no/such key");
    assert.equal(e.message, "The specified key does not exist.");
    const h = await expectReject(s3.send(new HeadObjectCommand({ Bucket: b, Key: "no/such key" })));
    assertS3Err(h, "NotFound", 404);
  });

  it("DeleteObject removes the object; deleting a missing key is 204 too", async () => {
    await s3.send(new PutObjectCommand({ Bucket: b, Key: "del-me", Body: "x" }));
    const d = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: "del-me" }));
    assert.equal(d.$metadata.httpStatusCode, 204);
    const e = await expectReject(s3.send(new HeadObjectCommand({ Bucket: b, Key: "del-me" })));
    assertS3Err(e, "NotFound", 404);
    const d2 = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: "del-me" }));
    assert.equal(d2.$metadata.httpStatusCode, 204);
  });

  it("Range: first bytes, middle, suffix, open end, and 416 InvalidRange", async () => {
    const data = randomBytes(1000);
    await s3.send(new PutObjectCommand({ Bucket: b, Key: "range", Body: data }));
    const cases = [
      ["bytes=0-9", 0, 10],
      ["bytes=100-199", 100, 200],
      ["bytes=-5", 995, 1000],
      ["bytes=990-", 990, 1000],
      ["bytes=900-5000", 900, 1000],
    ];
    for (const [range, from, to] of cases) {
      const { out, data: got } = await getBytes(b, "range", { Range: range });
      assert.equal(out.$metadata.httpStatusCode, 206, range);
      assert.equal(out.ContentRange, `bytes ${from}-${to - 1}/1000`, range);
      assert.equal(out.ContentLength, to - from, range);
      assert.ok(got.equals(data.subarray(from, to)), `${range}: wrong bytes`);
    }
    const e = await expectReject(s3.send(new GetObjectCommand({ Bucket: b, Key: "range", Range: "bytes=1000-" })));
    assertS3Err(e, "InvalidRange", 416);
    assert.equal(e.message, "The requested range is not satisfiable");
  });

  it("conditional GET: 304 Not Modified and 412 PreconditionFailed", async () => {
    const put = await s3.send(new PutObjectCommand({ Bucket: b, Key: "cond", Body: "conditional" }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: b, Key: "cond" }));
    // S3 answers 304 with no body, so SDK v3 cannot read an error code: it
    // rejects with httpStatusCode 304 and a generic name ("Unknown" in this
    // version, "304" in some; aws-sdk-js-v3#5860), never a modeled error.
    const c = makeS3Client(server);
    const raw = captureRaw(c);
    let e;
    try {
      e = await expectReject(c.send(new GetObjectCommand({ Bucket: b, Key: "cond", IfNoneMatch: put.ETag })));
    } finally {
      c.destroy();
    }
    assert.equal(e.$metadata.httpStatusCode, 304, JSON.stringify(e));
    assert.equal(raw.last.statusCode, 304);
    assert.equal(raw.last.body, "");
    // RFC 9110 15.4.5: a 304 carries the ETag a 200 would have.
    assert.equal(raw.last.headers.etag, put.ETag);
    e = await expectReject(
      s3.send(new GetObjectCommand({ Bucket: b, Key: "cond", IfModifiedSince: new Date(head.LastModified.getTime() + 5000) })),
    );
    assert.equal(e.$metadata.httpStatusCode, 304);
    e = await expectReject(s3.send(new HeadObjectCommand({ Bucket: b, Key: "cond", IfNoneMatch: put.ETag })));
    assert.equal(e.$metadata.httpStatusCode, 304);
    e = await expectReject(s3.send(new GetObjectCommand({ Bucket: b, Key: "cond", IfMatch: '"0123456789abcdef0123456789abcdef"' })));
    assertS3Err(e, "PreconditionFailed", 412);
    assert.equal(e.Condition, "If-Match");
    e = await expectReject(
      s3.send(new GetObjectCommand({ Bucket: b, Key: "cond", IfUnmodifiedSince: new Date(head.LastModified.getTime() - 86_400_000) })),
    );
    assertS3Err(e, "PreconditionFailed", 412);
    // Conditions that hold give the object.
    const ok = await getBytes(b, "cond", { IfMatch: put.ETag, IfNoneMatch: '"other"', IfModifiedSince: new Date(0) });
    assert.equal(ok.data.toString(), "conditional");
  });

  it("PUT with If-None-Match: * creates once, then PreconditionFailed and the object is kept", async () => {
    const key = "create-once";
    await s3.send(new PutObjectCommand({ Bucket: b, Key: key, Body: "first", IfNoneMatch: "*" }));
    const e = await expectReject(s3.send(new PutObjectCommand({ Bucket: b, Key: key, Body: "second", IfNoneMatch: "*" })));
    assertS3Err(e, "PreconditionFailed", 412);
    assert.equal((await getBytes(b, key)).data.toString(), "first");
    // If-Match with the current ETag overwrites; a stale one fails.
    const cur = await s3.send(new HeadObjectCommand({ Bucket: b, Key: key }));
    await s3.send(new PutObjectCommand({ Bucket: b, Key: key, Body: "third", IfMatch: cur.ETag }));
    const e2 = await expectReject(s3.send(new PutObjectCommand({ Bucket: b, Key: key, Body: "fourth", IfMatch: cur.ETag })));
    assertS3Err(e2, "PreconditionFailed", 412);
    assert.equal((await getBytes(b, key)).data.toString(), "third");
  });
});

describe("checksums", () => {
  let b;
  before(async () => {
    b = await newBucket("ck");
  });

  it("the SDK's default CRC32 on PUT is accepted, echoed and stored", async () => {
    const c = makeS3Client(server);
    const rec = recordRequests(c);
    try {
      const data = randomBytes(40_000);
      const put = await c.send(new PutObjectCommand({ Bucket: b, Key: "crc", Body: data }));
      const h = rec.last.headers;
      // Sent either as a header or as an aws-chunked trailer.
      assert.ok(
        h["x-amz-checksum-crc32"] === crc32B64(data) || h["x-amz-trailer"] === "x-amz-checksum-crc32",
        `no CRC32 on the PUT: ${JSON.stringify(h)}`,
      );
      assert.equal(put.ChecksumCRC32, crc32B64(data));
      const get = await c.send(new GetObjectCommand({ Bucket: b, Key: "crc", ChecksumMode: "ENABLED" }));
      assert.equal(get.ChecksumCRC32, crc32B64(data));
      // Reading the body runs the SDK's validation; a mismatch would throw here.
      assert.ok((await bodyBytes(get.Body)).equals(data));
      const head = await c.send(new HeadObjectCommand({ Bucket: b, Key: "crc", ChecksumMode: "ENABLED" }));
      assert.equal(head.ChecksumCRC32, crc32B64(data));
      // Without checksum mode no checksum is returned.
      const plain = await c.send(new HeadObjectCommand({ Bucket: b, Key: "crc" }));
      assert.equal(plain.ChecksumCRC32, undefined);
    } finally {
      c.destroy();
    }
  });

  it("the SDK really validates: a corrupted x-amz-checksum-crc32 makes the read fail", async () => {
    // Proves the test above can fail: same flow, the response header altered.
    const data = randomBytes(2000);
    await s3.send(new PutObjectCommand({ Bucket: b, Key: "tamper", Body: data }));
    const c = makeS3Client(server);
    captureRaw(c, (response) => {
      if (response.headers["x-amz-checksum-crc32"]) response.headers["x-amz-checksum-crc32"] = "AAAAAA==";
    });
    try {
      const e = await expectReject(
        (async () => {
          const out = await c.send(new GetObjectCommand({ Bucket: b, Key: "tamper", ChecksumMode: "ENABLED" }));
          return bodyBytes(out.Body);
        })(),
      );
      assert.match(String(e.message), /checksum/i, String(e));
    } finally {
      c.destroy();
    }
  });

  for (const [alg, field, hash] of [
    ["CRC32C", "ChecksumCRC32C", null],
    ["SHA1", "ChecksumSHA1", "sha1"],
    ["SHA256", "ChecksumSHA256", "sha256"],
    ["CRC64NVME", "ChecksumCRC64NVME", null],
  ]) {
    it(`ChecksumAlgorithm ${alg} round trip with validation`, async () => {
      const data = randomBytes(10_000);
      const key = `alg-${alg}`;
      const put = await s3.send(new PutObjectCommand({ Bucket: b, Key: key, Body: data, ChecksumAlgorithm: alg }));
      assert.ok(put[field], `PutObject did not return ${field}`);
      if (hash) assert.equal(put[field], digestB64(hash, data));
      const get = await s3.send(new GetObjectCommand({ Bucket: b, Key: key, ChecksumMode: "ENABLED" }));
      assert.equal(get[field], put[field]);
      assert.ok((await bodyBytes(get.Body)).equals(data));
    });
  }

  it("a wrong explicit checksum is BadDigest and stores nothing", async () => {
    const e = await expectReject(
      s3.send(new PutObjectCommand({ Bucket: b, Key: "bad", Body: "payload", ChecksumCRC32: crc32B64(Buffer.from("other")) })),
    );
    assertS3Err(e, "BadDigest", 400);
    const h = await expectReject(s3.send(new HeadObjectCommand({ Bucket: b, Key: "bad" })));
    assertS3Err(h, "NotFound", 404);
  });

  it("objects sent without a checksum get CRC64NVME, validated by the SDK", async () => {
    const c = makeS3Client(server, { requestChecksumCalculation: "WHEN_REQUIRED" });
    const rec = recordRequests(c);
    try {
      const data = randomBytes(5000);
      await c.send(new PutObjectCommand({ Bucket: b, Key: "nock", Body: data }));
      assert.equal(Object.keys(rec.last.headers).filter((k) => k.startsWith("x-amz-checksum-")).length, 0);
      const get = await c.send(new GetObjectCommand({ Bucket: b, Key: "nock", ChecksumMode: "ENABLED" }));
      assert.ok(get.ChecksumCRC64NVME, "no CRC64NVME returned");
      assert.equal(get.ChecksumType, "FULL_OBJECT");
      assert.ok((await bodyBytes(get.Body)).equals(data));
    } finally {
      c.destroy();
    }
  });

  it("a ranged GET with checksum mode passes validation (no whole-object checksum on a part)", async () => {
    const data = randomBytes(4096);
    await s3.send(new PutObjectCommand({ Bucket: b, Key: "rk", Body: data }));
    const { out, data: got } = await getBytes(b, "rk", { Range: "bytes=100-299", ChecksumMode: "ENABLED" });
    assert.equal(out.$metadata.httpStatusCode, 206);
    assert.ok(got.equals(data.subarray(100, 300)));
  });
});

describe("streams", () => {
  let b;
  let tmp;
  before(async () => {
    b = await newBucket("stream");
    tmp = fs.mkdtempSync(path.join(server.workDir, "streams-"));
  });

  function chunked(buf, size) {
    return Readable.from(
      (function* () {
        for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
      })(),
    );
  }

  it("PUT of a Readable with ContentLength, GET streamed to a file", async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const rec = recordRequests(s3);
    let put;
    try {
      put = await s3.send(
        new PutObjectCommand({ Bucket: b, Key: "big.bin", Body: chunked(data, 64 * 1024), ContentLength: data.length }),
      );
    } finally {
      rec.stop();
    }
    // A stream goes as aws-chunked with the CRC32 in a trailer, after 100-continue.
    const h = rec.last.headers;
    assert.equal(h["x-amz-content-sha256"], "STREAMING-UNSIGNED-PAYLOAD-TRAILER", JSON.stringify(h));
    assert.equal(h["content-encoding"], "aws-chunked");
    assert.equal(h["x-amz-trailer"], "x-amz-checksum-crc32");
    assert.equal(h["x-amz-decoded-content-length"], String(data.length));
    assert.equal(put.ETag, s3Etag(data));
    assert.equal(put.ChecksumCRC32, crc32B64(data));
    const out = await s3.send(new GetObjectCommand({ Bucket: b, Key: "big.bin", ChecksumMode: "ENABLED" }));
    const file = path.join(tmp, "big.bin");
    await withTimeout(pipeline(out.Body, fs.createWriteStream(file)), 30_000);
    const back = fs.readFileSync(file);
    assert.equal(back.length, data.length);
    assert.equal(createHash("sha256").update(back).digest("hex"), createHash("sha256").update(data).digest("hex"));
  });

  it("a stream PUT into a missing bucket is NoSuchBucket (refused before the body)", async () => {
    const data = randomBytes(4 * 1024 * 1024);
    const e = await expectReject(
      withTimeout(
        s3.send(
          new PutObjectCommand({
            Bucket: uniqueBucket("gone"),
            Key: "k",
            Body: chunked(data, 64 * 1024),
            ContentLength: data.length,
          }),
        ),
        20_000,
      ),
    );
    assertS3Err(e, "NoSuchBucket", 404);
  });

  it("PUT of a Readable of unknown length (Transfer-Encoding: chunked)", async () => {
    // With its default CRC32 the SDK needs the length (x-amz-decoded-content-length);
    // without checksums it streams a chunked, UNSIGNED-PAYLOAD request.
    const c = makeS3Client(server, { requestChecksumCalculation: "WHEN_REQUIRED" });
    const rec = recordRequests(c);
    const data = randomBytes(300_000);
    let put;
    try {
      put = await c.send(new PutObjectCommand({ Bucket: b, Key: "unknown-len", Body: chunked(data, 10_000) }));
    } finally {
      c.destroy();
    }
    assert.equal(rec.last.headers["content-length"], undefined, JSON.stringify(rec.last.headers));
    assert.equal(put.ETag, s3Etag(data));
    const { out, data: got } = await getBytes(b, "unknown-len");
    assert.equal(out.ContentLength, data.length);
    assert.ok(got.equals(data));
  });

  it("PUT of a file stream", async () => {
    const data = randomBytes(200_000);
    const file = path.join(tmp, "src.bin");
    fs.writeFileSync(file, data);
    await s3.send(
      new PutObjectCommand({ Bucket: b, Key: "from-file", Body: fs.createReadStream(file), ContentLength: data.length }),
    );
    assert.ok((await getBytes(b, "from-file")).data.equals(data));
  });
});

describe("CopyObject", () => {
  let b;
  let b2;
  before(async () => {
    b = await newBucket("copy");
    b2 = await newBucket("copy2");
  });

  it("copies bytes and metadata (COPY), replaces them (REPLACE), across buckets", async () => {
    const data = randomBytes(9000);
    const src = "src dir/ñame?.bin";
    await s3.send(
      new PutObjectCommand({ Bucket: b, Key: src, Body: data, ContentType: "image/x-a", Metadata: { a: "1" } }),
    );
    const cs = `${b}/${encodeURIComponent(src)}`;
    const c1 = await s3.send(new CopyObjectCommand({ Bucket: b2, Key: "copy1", CopySource: cs }));
    assert.equal(c1.CopyObjectResult.ETag, s3Etag(data));
    assert.ok(c1.CopyObjectResult.LastModified instanceof Date);
    const g1 = await getBytes(b2, "copy1");
    assert.ok(g1.data.equals(data));
    assert.equal(g1.out.ContentType, "image/x-a");
    assert.deepEqual(g1.out.Metadata, { a: "1" });
    await s3.send(
      new CopyObjectCommand({
        Bucket: b,
        Key: "copy2",
        CopySource: cs,
        MetadataDirective: "REPLACE",
        ContentType: "text/x-b",
        Metadata: { b: "2" },
      }),
    );
    const h2 = await s3.send(new HeadObjectCommand({ Bucket: b, Key: "copy2" }));
    assert.equal(h2.ContentType, "text/x-b");
    assert.deepEqual(h2.Metadata, { b: "2" });
    assert.equal(h2.ETag, s3Etag(data));
  });

  it("copy conditions and a missing source", async () => {
    await s3.send(new PutObjectCommand({ Bucket: b, Key: "c-src", Body: "abc" }));
    const e = await expectReject(
      s3.send(new CopyObjectCommand({ Bucket: b, Key: "c-dst", CopySource: `${b}/c-src`, CopySourceIfMatch: '"nope"' })),
    );
    assertS3Err(e, "PreconditionFailed", 412);
    const h = await expectReject(s3.send(new HeadObjectCommand({ Bucket: b, Key: "c-dst" })));
    assertS3Err(h, "NotFound", 404);
    const m = await expectReject(s3.send(new CopyObjectCommand({ Bucket: b, Key: "c-dst", CopySource: `${b}/missing` })));
    assertS3Err(m, "NoSuchKey", 404);
  });
});

describe("DeleteObjects", () => {
  let b;
  before(async () => {
    b = await newBucket("dels");
  });

  async function putKeys(keys) {
    await Promise.all(keys.map((k) => s3.send(new PutObjectCommand({ Bucket: b, Key: k, Body: k }))));
  }

  it("verbose mode lists every key, missing ones too", async () => {
    const keys = ["a", "b/c", "d e", "ü"];
    await putKeys(keys);
    const rec = recordRequests(s3);
    let out;
    try {
      out = await s3.send(
        new DeleteObjectsCommand({ Bucket: b, Delete: { Objects: [...keys, "never-existed"].map((Key) => ({ Key })) } }),
      );
    } finally {
      rec.stop();
    }
    // DeleteObjects requires an integrity header (Content-MD5 or a checksum).
    const h = rec.all.find((r) => "delete" in r.query)?.headers || {};
    assert.ok(h["content-md5"] || Object.keys(h).some((k) => k.startsWith("x-amz-checksum-")), JSON.stringify(h));
    assert.deepEqual(out.Deleted.map((d) => d.Key).sort(), [...keys, "never-existed"].sort());
    assert.equal(out.Errors, undefined);
    const list = await s3.send(new ListObjectsV2Command({ Bucket: b }));
    assert.equal(list.KeyCount, 0);
  });

  it("quiet mode returns no Deleted entries and deletes", async () => {
    const keys = Array.from({ length: 20 }, (_, i) => `q/${i}`);
    await putKeys(keys);
    const out = await s3.send(
      new DeleteObjectsCommand({ Bucket: b, Delete: { Quiet: true, Objects: keys.map((Key) => ({ Key })) } }),
    );
    assert.equal(out.Deleted, undefined);
    assert.equal(out.Errors, undefined);
    const list = await s3.send(new ListObjectsV2Command({ Bucket: b, Prefix: "q/" }));
    assert.equal(list.KeyCount, 0);
  });

  it("over 1000 keys is MalformedXML and deletes nothing", async () => {
    await putKeys(["keep"]);
    const objs = Array.from({ length: 1001 }, (_, i) => ({ Key: i === 0 ? "keep" : `k${i}` }));
    const e = await expectReject(s3.send(new DeleteObjectsCommand({ Bucket: b, Delete: { Objects: objs } })));
    assertS3Err(e, "MalformedXML", 400);
    await s3.send(new HeadObjectCommand({ Bucket: b, Key: "keep" }));
  });
});

describe("listing", () => {
  let b;
  const keys = [];
  before(async () => {
    b = await newBucket("list");
    for (let i = 0; i < 23; i++) keys.push(`dir/file-${String(i).padStart(2, "0")}`);
    keys.push("dir/sub1/x", "dir/sub1/y", "dir/sub2/z", "other/q", "top", "tóp-ü");
    await Promise.all(keys.map((k) => s3.send(new PutObjectCommand({ Bucket: b, Key: k, Body: k }))));
    keys.sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  });

  it("paginateListObjectsV2 walks every key in order, pageSize at a time", async () => {
    const seen = [];
    let pages = 0;
    for await (const page of paginateListObjectsV2({ client: s3, pageSize: 7 }, { Bucket: b })) {
      pages += 1;
      assert.ok(page.KeyCount <= 7, `KeyCount ${page.KeyCount}`);
      assert.equal(page.KeyCount, (page.Contents || []).length);
      for (const o of page.Contents || []) {
        seen.push(o.Key);
        assert.equal(o.Size, Buffer.byteLength(o.Key));
        assert.equal(o.ETag, s3Etag(Buffer.from(o.Key)));
        assert.equal(o.StorageClass, "STANDARD");
      }
      assert.ok(pages < 20, "paginator does not end");
    }
    assert.deepEqual(seen, keys);
    assert.equal(pages, Math.ceil(keys.length / 7));
  });

  it("delimiter and prefix give CommonPrefixes, paged too", async () => {
    const contents = [];
    const prefixes = [];
    for await (const page of paginateListObjectsV2(
      { client: s3, pageSize: 5 },
      { Bucket: b, Prefix: "dir/", Delimiter: "/" },
    )) {
      contents.push(...(page.Contents || []).map((o) => o.Key));
      prefixes.push(...(page.CommonPrefixes || []).map((p) => p.Prefix));
      assert.equal(page.Prefix, "dir/");
      assert.equal(page.Delimiter, "/");
      assert.ok(prefixes.length + contents.length < 100);
    }
    assert.deepEqual(contents, keys.filter((k) => /^dir\/file-/.test(k)));
    assert.deepEqual(prefixes, ["dir/sub1/", "dir/sub2/"]);
    const top = await s3.send(new ListObjectsV2Command({ Bucket: b, Delimiter: "/" }));
    assert.deepEqual(top.CommonPrefixes.map((p) => p.Prefix), ["dir/", "other/"]);
    assert.deepEqual(top.Contents.map((o) => o.Key), ["top", "tóp-ü"]);
    assert.equal(top.KeyCount, 4);
  });

  it("StartAfter, and ListObjects (v1) with Marker", async () => {
    const after = await s3.send(new ListObjectsV2Command({ Bucket: b, StartAfter: "dir/sub2/z" }));
    assert.deepEqual(after.Contents.map((o) => o.Key), ["other/q", "top", "tóp-ü"]);
    const v1 = await s3.send(new ListObjectsCommand({ Bucket: b, MaxKeys: 3, Marker: "dir/file-20" }));
    assert.deepEqual(v1.Contents.map((o) => o.Key), ["dir/file-21", "dir/file-22", "dir/sub1/x"]);
    assert.equal(v1.IsTruncated, true);
  });
});
