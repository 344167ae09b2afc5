// Presigned URLs from @aws-sdk/s3-request-presigner used with Node's fetch:
// PUT with a body (Content-Type bound into the signature), GET, response
// overrides, expiry, tampering, wrong method.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  CreateBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  DeleteObjectCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import {
  startServer,
  makeS3Client,
  uniqueBucket,
  bodyBytes,
  s3Etag,
  xmlField,
  expectReject,
  sleep,
} from "./helpers.mjs";

let server;
let s3;
let b;

before(async () => {
  server = await startServer();
  s3 = makeS3Client(server);
  b = uniqueBucket("presign");
  await s3.send(new CreateBucketCommand({ Bucket: b }));
});
after(async () => {
  s3?.destroy();
  await server?.stop();
});

function req(url, init = {}) {
  return fetch(url, { signal: AbortSignal.timeout(15_000), ...init });
}

/** Asserts an S3 XML error response; returns the body text. */
async function assertXmlError(res, code, status, message) {
  const text = await res.text();
  const ctx = `${res.status} ${text.slice(0, 500)}`;
  assert.equal(res.status, status, ctx);
  assert.match(res.headers.get("content-type") || "", /xml/, ctx);
  assert.equal(xmlField(text, "Code"), code, ctx);
  if (message !== undefined) assert.equal(xmlField(text, "Message"), message, ctx);
  assert.ok(xmlField(text, "RequestId"), `no RequestId: ${ctx}`);
  return text;
}

async function objectText(key) {
  const out = await s3.send(new GetObjectCommand({ Bucket: b, Key: key }));
  return (await bodyBytes(out.Body)).toString("utf8");
}

describe("presigned PutObject", () => {
  it("PUT with body and the signed Content-Type stores the object", async () => {
    const key = "up/näme with space.txt";
    // The presigner leaves content-type unsigned unless asked to sign it.
    const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket: b, Key: key, ContentType: "text/plain" }), {
      expiresIn: 300,
      signableHeaders: new Set(["content-type"]),
    });
    const u = new URL(url);
    assert.equal(u.searchParams.get("X-Amz-Algorithm"), "AWS4-HMAC-SHA256");
    assert.equal(u.searchParams.get("X-Amz-Expires"), "300");
    assert.match(u.searchParams.get("X-Amz-SignedHeaders"), /(^|;)content-type(;|$)/);
    const body = "uploaded through a presigned URL";
    const res = await req(url, { method: "PUT", body, headers: { "Content-Type": "text/plain" } });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get("etag"), s3Etag(Buffer.from(body)));
    await res.arrayBuffer();
    const head = await s3.send(new HeadObjectCommand({ Bucket: b, Key: key }));
    assert.equal(head.ContentType, "text/plain");
    assert.equal(await objectText(key), body);
  });

  it("the SDK's checksum query parameters (CRC32 of an empty body) do not break the upload", async () => {
    const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket: b, Key: "ck.bin" }), { expiresIn: 300 });
    const data = randomBytes(50_000);
    const res = await req(url, { method: "PUT", body: data });
    assert.equal(res.status, 200, await res.clone().text());
    await res.arrayBuffer();
    const got = await bodyBytes((await s3.send(new GetObjectCommand({ Bucket: b, Key: "ck.bin" }))).Body);
    assert.ok(got.equals(data));
  });

  it("a different Content-Type than signed is SignatureDoesNotMatch and stores nothing", async () => {
    const key = "ct-mismatch";
    const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket: b, Key: key, ContentType: "image/png" }), {
      expiresIn: 300,
      signableHeaders: new Set(["content-type"]),
    });
    const res = await req(url, { method: "PUT", body: "x", headers: { "Content-Type": "text/html" } });
    await assertXmlError(res, "SignatureDoesNotMatch", 403);
    const e = await expectReject(s3.send(new HeadObjectCommand({ Bucket: b, Key: key })));
    assert.equal(e.$metadata.httpStatusCode, 404);
  });

  it("metadata hoisted into the query string is applied (as S3 does)", async () => {
    const key = "meta-query";
    const url = await getSignedUrl(
      s3,
      new PutObjectCommand({ Bucket: b, Key: key, Metadata: { origin: "presigned" } }),
      { expiresIn: 300 },
    );
    assert.equal(new URL(url).searchParams.get("x-amz-meta-origin"), "presigned");
    const res = await req(url, { method: "PUT", body: "m" });
    assert.equal(res.status, 200, await res.clone().text());
    await res.arrayBuffer();
    const head = await s3.send(new HeadObjectCommand({ Bucket: b, Key: key }));
    assert.deepEqual(head.Metadata, { origin: "presigned" });
  });

  it("an expired URL is 403 AccessDenied 'Request has expired' and stores nothing", async () => {
    const key = "expired-put";
    const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket: b, Key: key }), {
      expiresIn: 60,
      signingDate: new Date(Date.now() - 3600_000),
    });
    const res = await req(url, { method: "PUT", body: "late" });
    const text = await assertXmlError(res, "AccessDenied", 403, "Request has expired");
    assert.equal(xmlField(text, "X-Amz-Expires"), "60");
    const e = await expectReject(s3.send(new HeadObjectCommand({ Bucket: b, Key: key })));
    assert.equal(e.$metadata.httpStatusCode, 404);
  });
});

describe("presigned GetObject", () => {
  const data = randomBytes(20_000);
  before(async () => {
    await s3.send(new PutObjectCommand({ Bucket: b, Key: "dl/file.bin", Body: data, ContentType: "application/x-dl" }));
  });

  it("GET returns the bytes and headers; Range works on the URL", async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: b, Key: "dl/file.bin" }), { expiresIn: 120 });
    let res = await req(url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/x-dl");
    assert.equal(res.headers.get("content-length"), String(data.length));
    assert.equal(res.headers.get("etag"), s3Etag(data));
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(data));
    // Range is not signed: S3 allows extra unsigned headers on presigned requests.
    res = await req(url, { headers: { Range: "bytes=10-19" } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get("content-range"), `bytes 10-19/${data.length}`);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(data.subarray(10, 20)));
  });

  it("response-content-type / response-content-disposition overrides", async () => {
    const url = await getSignedUrl(
      s3,
      new GetObjectCommand({
        Bucket: b,
        Key: "dl/file.bin",
        ResponseContentType: "text/csv",
        ResponseContentDisposition: 'attachment; filename="report.csv"',
        ResponseCacheControl: "no-cache",
      }),
      { expiresIn: 120 },
    );
    const res = await req(url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/csv");
    assert.equal(res.headers.get("content-disposition"), 'attachment; filename="report.csv"');
    assert.equal(res.headers.get("cache-control"), "no-cache");
    await res.arrayBuffer();
  });

  it("a URL that expires while waiting: 200 first, then 403 Request has expired", async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: b, Key: "dl/file.bin" }), { expiresIn: 2 });
    const ok = await req(url);
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    // X-Amz-Date has whole seconds: wait until a full second past the end.
    const signed = new URL(url).searchParams.get("X-Amz-Date");
    const signedMs = Date.parse(signed.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, "$1-$2-$3T$4:$5:$6Z"));
    await sleep(Math.max(0, signedMs + 3100 - Date.now()));
    await assertXmlError(await req(url), "AccessDenied", 403, "Request has expired");
  });

  it("tampered signature, key, expiry or date: SignatureDoesNotMatch", async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: b, Key: "dl/file.bin" }), { expiresIn: 120 });
    const u = new URL(url);
    const sig = u.searchParams.get("X-Amz-Signature");
    const variants = [];
    const flip = new URL(url);
    flip.searchParams.set("X-Amz-Signature", (sig[0] === "0" ? "1" : "0") + sig.slice(1));
    variants.push(["signature", flip]);
    const otherKey = new URL(url);
    otherKey.pathname = `/${b}/dl/other.bin`;
    variants.push(["key", otherKey]);
    const longer = new URL(url);
    longer.searchParams.set("X-Amz-Expires", "3600");
    variants.push(["expiry", longer]);
    const extra = new URL(url);
    extra.searchParams.set("response-content-type", "text/html");
    variants.push(["added override", extra]);
    for (const [what, v] of variants) {
      const res = await req(v.toString());
      await assertXmlError(res, "SignatureDoesNotMatch", 403).catch((e) => {
        throw new Error(`${what}: ${e.message}`);
      });
    }
  });

  it("a GET URL used for PUT or DELETE is refused and changes nothing", async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: b, Key: "dl/file.bin" }), { expiresIn: 120 });
    await assertXmlError(await req(url, { method: "PUT", body: "overwrite" }), "SignatureDoesNotMatch", 403);
    await assertXmlError(await req(url, { method: "DELETE" }), "SignatureDoesNotMatch", 403);
    const got = await bodyBytes((await s3.send(new GetObjectCommand({ Bucket: b, Key: "dl/file.bin" }))).Body);
    assert.ok(got.equals(data));
  });

  it("a missing key is 404 NoSuchKey through a valid URL", async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: b, Key: "dl/none" }), { expiresIn: 120 });
    const text = await assertXmlError(await req(url), "NoSuchKey", 404, "The specified key does not exist.");
    assert.equal(xmlField(text, "Key"), "dl/none");
  });

  it("presigned DeleteObject deletes", async () => {
    await s3.send(new PutObjectCommand({ Bucket: b, Key: "dl/del", Body: "x" }));
    const url = await getSignedUrl(s3, new DeleteObjectCommand({ Bucket: b, Key: "dl/del" }), { expiresIn: 120 });
    const res = await req(url, { method: "DELETE" });
    assert.equal(res.status, 204);
    await res.arrayBuffer();
    const e = await expectReject(s3.send(new HeadObjectCommand({ Bucket: b, Key: "dl/del" })));
    assert.equal(e.$metadata.httpStatusCode, 404);
  });
});
