// The gateway (/_/api/v1/) from JavaScript with nothing but fetch and an API
// key, as a producer or consumer without AWS credentials uses it (system S0):
// POST /presign with a bearer token, then PUT and GET the bytes with fetch
// through the returned URL and headers. Also what a caller sees when it gets
// something wrong: an upload that differs from the signed Content-Type or
// Content-Length, an expired URL, a request outside its scopes, a missing,
// unknown or revoked key, and throttling (429 with a Retry-After that holds).
// Keys are created by the admin with SigV4 (helpers.gatewayAdmin) and once
// with `tweedle apikey create`.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { CreateBucketCommand, HeadObjectCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import {
  startServer,
  makeS3Client,
  uniqueBucket,
  bodyBytes,
  s3Etag,
  xmlField,
  expectReject,
  sleep,
  createApiKey,
  gatewayAdmin,
  gatewayFetch,
  TWEEDLE_BIN,
} from "./helpers.mjs";

let server;
let s3;
let b;
let producer; // presign:put on b, input/, at most 1 MiB, URLs of at most 600 s
let consumer; // presign:get on b, input/

const MAX_BYTES = 1 << 20;
const MAX_EXPIRES = 600;

before(async () => {
  server = await startServer();
  s3 = makeS3Client(server);
  b = uniqueBucket("gw");
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  producer = await createApiKey(server, {
    name: "js-producer",
    scopes: [
      { actions: ["presign:put"], bucket: b, prefix: "input/", max_bytes: MAX_BYTES, max_expires_in: MAX_EXPIRES },
    ],
  });
  consumer = await createApiKey(server, {
    name: "js-consumer",
    scopes: [{ actions: ["presign:get"], bucket: b, prefix: "input/" }],
  });
});
after(async () => {
  s3?.destroy();
  await server?.stop();
});

function req(url, init = {}) {
  return fetch(url, { signal: AbortSignal.timeout(15_000), ...init });
}

/** POST /presign with `token`; asserts a 200 JSON answer and returns it. */
async function presign(token, fields) {
  const res = await gatewayFetch(server, token, "POST", "/presign", fields);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.match(res.headers.get("content-type") || "", /^application\/json/);
  return JSON.parse(text);
}

/** Asserts the gateway's JSON error {"error":{"code","message"}}; returns the message. */
async function assertGwError(res, status, code, message) {
  const text = await res.text();
  const ctx = `${res.status} ${text.slice(0, 500)}`;
  assert.equal(res.status, status, ctx);
  assert.match(res.headers.get("content-type") || "", /^application\/json/, ctx);
  const doc = JSON.parse(text);
  assert.deepEqual(Object.keys(doc), ["error"], ctx);
  assert.deepEqual(Object.keys(doc.error).sort(), ["code", "message"], ctx);
  assert.equal(doc.error.code, code, ctx);
  assert.equal(typeof doc.error.message, "string", ctx);
  assert.ok(doc.error.message.length > 0, ctx);
  if (message !== undefined) assert.equal(doc.error.message, message, ctx);
  return doc.error.message;
}

/** Asserts an S3 XML error; returns the body text. */
async function assertXmlError(res, code, status, message) {
  const text = await res.text();
  const ctx = `${res.status} ${text.slice(0, 500)}`;
  assert.equal(res.status, status, ctx);
  assert.match(res.headers.get("content-type") || "", /xml/, ctx);
  assert.equal(xmlField(text, "Code"), code, ctx);
  if (message !== undefined) assert.equal(xmlField(text, "Message"), message, ctx);
  return text;
}

async function assertNoObject(key) {
  const e = await expectReject(s3.send(new HeadObjectCommand({ Bucket: b, Key: key })), `HeadObject ${key}`);
  assert.equal(e.$metadata?.httpStatusCode, 404, `${key}: ${e.name}`);
}

/** Epoch ms of a presigned URL's X-Amz-Date (whole seconds). */
function signedAt(url) {
  const d = new URL(url).searchParams.get("X-Amz-Date");
  return Date.parse(d.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, "$1-$2-$3T$4:$5:$6Z"));
}

describe("presigned URLs from the gateway, used with fetch", () => {
  it("PUT with the returned headers, then GET through the consumer's URL", async () => {
    const data = randomBytes(70_001);
    const t0 = Date.now();
    const p = await presign(producer.key, {
      method: "PUT",
      content_type: "image/png",
      content_length: data.length,
      filename: "Cat Photo.PNG",
    });
    // bucket from the scope, key <prefix><uuid><ext from the filename>, lifetime capped by the scope
    assert.equal(p.method, "PUT");
    assert.equal(p.bucket, b);
    assert.match(p.key, /^input\/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.png$/);
    assert.equal(p.expires_in, MAX_EXPIRES);
    const expAt = Date.parse(p.expires_at);
    assert.ok(Math.abs(expAt - (t0 + MAX_EXPIRES * 1000)) < 5000, p.expires_at);
    assert.deepEqual(p.headers, { "Content-Type": "image/png", "Content-Length": String(data.length) });
    const u = new URL(p.url);
    assert.equal(`${u.protocol}//${u.host}`, server.endpoint);
    assert.equal(u.pathname, `/${b}/${p.key}`);
    assert.equal(u.searchParams.get("X-Amz-Algorithm"), "AWS4-HMAC-SHA256");
    assert.equal(u.searchParams.get("X-Amz-SignedHeaders"), "content-length;content-type;host");
    assert.equal(u.searchParams.get("X-Amz-Expires"), String(MAX_EXPIRES));
    assert.match(u.searchParams.get("X-Amz-Credential"), /^[^/]+\/\d{8}\/us-east-1\/s3\/aws4_request$/);

    const put = await req(p.url, { method: p.method, headers: p.headers, body: data });
    assert.equal(put.status, 200, await put.clone().text());
    assert.equal(put.headers.get("etag"), s3Etag(data));
    await put.arrayBuffer();
    const head = await s3.send(new HeadObjectCommand({ Bucket: b, Key: p.key }));
    assert.equal(head.ContentType, "image/png");
    assert.equal(head.ContentLength, data.length);

    const g = await presign(consumer.key, { method: "GET", key: p.key });
    assert.equal(g.method, "GET");
    assert.equal(g.bucket, b);
    assert.equal(g.key, p.key);
    assert.equal(g.expires_in, 900); // the default: the consumer's scope has no cap
    assert.deepEqual(g.headers, {});
    assert.equal(new URL(g.url).searchParams.get("X-Amz-SignedHeaders"), "host");
    const get = await req(g.url);
    assert.equal(get.status, 200);
    assert.equal(get.headers.get("content-type"), "image/png");
    assert.equal(get.headers.get("etag"), s3Etag(data));
    assert.ok(Buffer.from(await get.arrayBuffer()).equals(data), "downloaded bytes differ");

    // the method is part of the signature: the GET URL does not upload
    await assertXmlError(await req(g.url, { method: "PUT", body: "overwrite" }), "SignatureDoesNotMatch", 403);
    const after = await s3.send(new GetObjectCommand({ Bucket: b, Key: p.key }));
    assert.ok((await bodyBytes(after.Body)).equals(data));
  });

  it("an explicit key with spaces, '+' and non-ASCII characters round-trips", async () => {
    const key = "input/näme with space+plus (1).txt";
    const body = "presigned by the gateway, uploaded by fetch";
    const p = await presign(producer.key, {
      method: "PUT",
      bucket: b,
      key,
      content_type: "text/plain; charset=utf-8",
      content_length: Buffer.byteLength(body),
    });
    assert.equal(p.key, key);
    assert.ok(new URL(p.url).pathname.includes("n%C3%A4me%20with%20space%2Bplus%20%281%29.txt"), p.url);
    const put = await req(p.url, { method: "PUT", headers: p.headers, body });
    assert.equal(put.status, 200, await put.clone().text());
    await put.arrayBuffer();
    const g = await presign(consumer.key, { method: "GET", bucket: b, key });
    const get = await req(g.url);
    assert.equal(get.status, 200);
    assert.equal(get.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(await get.text(), body);
  });

  it("an upload that differs from the signed Content-Type or Content-Length: 403 SignatureDoesNotMatch", async () => {
    const data = randomBytes(4096);
    const p = await presign(producer.key, {
      method: "PUT",
      content_type: "application/pdf",
      content_length: data.length,
    });
    assert.match(p.key, /^input\/.+\.pdf$/);
    const attempts = [
      ["another Content-Type", { "content-type": "application/octet-stream" }, data],
      ["no Content-Type", {}, data],
      ["a longer body", { "content-type": "application/pdf" }, Buffer.concat([data, Buffer.from("x")])],
      ["a shorter body", { "content-type": "application/pdf" }, data.subarray(1)],
    ];
    for (const [what, headers, body] of attempts) {
      const res = await req(p.url, { method: "PUT", headers, body });
      const text = await assertXmlError(res, "SignatureDoesNotMatch", 403);
      assert.ok(xmlField(text, "RequestId"), `${what}: no RequestId`);
      await assertNoObject(p.key);
    }
    // the same URL with exactly the signed headers works
    const ok = await req(p.url, { method: "PUT", headers: p.headers, body: data });
    assert.equal(ok.status, 200, await ok.clone().text());
    await ok.arrayBuffer();
    const head = await s3.send(new HeadObjectCommand({ Bucket: b, Key: p.key }));
    assert.equal(head.ContentType, "application/pdf");
    assert.equal(head.ContentLength, data.length);
  });

  it("an expired URL: 200 while valid, then 403 AccessDenied 'Request has expired'", async () => {
    const first = Buffer.from("first upload");
    const p = await presign(producer.key, {
      method: "PUT",
      content_type: "text/plain",
      content_length: first.length,
      expires_in: 3,
    });
    assert.equal(p.expires_in, 3);
    assert.equal(new URL(p.url).searchParams.get("X-Amz-Expires"), "3");
    const put = await req(p.url, { method: "PUT", headers: p.headers, body: first });
    assert.equal(put.status, 200, await put.clone().text());
    await put.arrayBuffer();
    const g = await presign(consumer.key, { method: "GET", key: p.key, expires_in: 3 });
    const ok = await req(g.url);
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), "first upload");

    // X-Amz-Date has whole seconds: wait until a full second past the later end
    await sleep(Math.max(0, Math.max(signedAt(p.url), signedAt(g.url)) + 4100 - Date.now()));
    await assertXmlError(await req(g.url), "AccessDenied", 403, "Request has expired");
    const second = Buffer.from("second uploa"); // same length: only the expiry is wrong
    await assertXmlError(
      await req(p.url, { method: "PUT", headers: p.headers, body: second }),
      "AccessDenied",
      403,
      "Request has expired",
    );
    const cur = await s3.send(new GetObjectCommand({ Bucket: b, Key: p.key }));
    assert.equal((await bodyBytes(cur.Body)).toString(), "first upload");
  });
});

describe("gateway denials seen from fetch", () => {
  it("outside the key's scopes: 403 AccessDenied JSON", async () => {
    const other = uniqueBucket("gw-other");
    await s3.send(new CreateBucketCommand({ Bucket: other }));
    const cases = [
      ["the consumer asks for a PUT", consumer.key, { method: "PUT", bucket: b, key: "input/x", content_length: 1 }],
      ["the producer asks for a GET", producer.key, { method: "GET", bucket: b, key: "input/x" }],
      ["a key outside the prefix", producer.key, { method: "PUT", key: "other/x", content_length: 1 }],
      ["another bucket", producer.key, { method: "PUT", bucket: other, key: "input/x", content_length: 1 }],
      ["a bucket that does not exist", producer.key, { method: "PUT", bucket: "no-such-gw-bucket", content_length: 1 }],
      ["over max_bytes", producer.key, { method: "PUT", content_length: MAX_BYTES + 1 }],
      ["no content_length under max_bytes", producer.key, { method: "PUT", content_type: "text/plain" }],
      ["over max_expires_in", producer.key, { method: "PUT", content_length: 1, expires_in: MAX_EXPIRES + 1 }],
      ["GET outside the prefix", consumer.key, { method: "GET", bucket: b, key: "inputs/x" }],
    ];
    for (const [what, token, fields] of cases) {
      const res = await gatewayFetch(server, token, "POST", "/presign", fields);
      await assertGwError(res, 403, "AccessDenied").catch((e) => {
        e.message = `${what}: ${e.message}`;
        throw e;
      });
    }
    // the same requests inside the scopes pass (so the 403s above are the scopes')
    await presign(producer.key, { method: "PUT", key: "input/x", content_length: 1, expires_in: MAX_EXPIRES });
    await presign(consumer.key, { method: "GET", bucket: b, key: "input/x" });
  });

  it("a scope naming a bucket that does not exist: 404 NoSuchBucket", async () => {
    const k = await createApiKey(server, {
      name: "js-nobucket",
      scopes: [{ actions: ["presign:get"], bucket: "gw-missing-bucket" }],
    });
    const res = await gatewayFetch(server, k.key, "POST", "/presign", { method: "GET", key: "a" });
    await assertGwError(res, 404, "NoSuchBucket", "The specified bucket does not exist");
  });

  it("no key, an unknown key, a revoked key: 401 Unauthorized", async () => {
    const none = await gatewayFetch(server, null, "POST", "/presign", { method: "GET", bucket: b, key: "input/x" });
    assert.match(none.headers.get("www-authenticate") || "", /^Bearer/);
    await assertGwError(none, 401, "Unauthorized");
    const bogus = `twk_${randomBytes(32).toString("base64url")}`;
    await assertGwError(
      await gatewayFetch(server, bogus, "POST", "/presign", { method: "GET", bucket: b, key: "input/x" }),
      401,
      "Unauthorized",
      "Invalid API key.",
    );
    const k = await createApiKey(server, { name: "js-revoked", scopes: [{ actions: ["presign:get"], bucket: b }] });
    await presign(k.key, { method: "GET", key: "input/x" });
    const del = await gatewayAdmin(server, "DELETE", `/apikeys/${k.id}`);
    assert.equal(del.status, 200, await del.clone().text());
    assert.equal((await del.json()).status, "revoked");
    await assertGwError(
      await gatewayFetch(server, k.key, "POST", "/presign", { method: "GET", key: "input/x" }),
      401,
      "Unauthorized",
      "The API key has been revoked.",
    );
  });

  it("throttled: 429 TooManyRequests with a Retry-After that is long enough", async () => {
    const k = await createApiKey(server, {
      name: "js-throttled",
      scopes: [{ actions: ["presign:get"], bucket: b }],
      rate: 0.5,
      burst: 2,
    });
    const ask = () => gatewayFetch(server, k.key, "POST", "/presign", { method: "GET", key: "input/t" });
    for (let i = 0; i < 2; i++) {
      const res = await ask();
      assert.equal(res.status, 200, `burst request ${i + 1}: ${await res.clone().text()}`);
      await res.arrayBuffer();
    }
    const res = await ask();
    const retry = res.headers.get("retry-after");
    await assertGwError(res, 429, "TooManyRequests");
    // whole seconds until a token is back: at most 1/rate
    assert.match(retry || "", /^[12]$/, `Retry-After: ${retry}`);
    // other keys are not affected
    await presign(consumer.key, { method: "GET", bucket: b, key: "input/t" });
    await sleep(Number(retry) * 1000 + 100);
    const later = await ask();
    assert.equal(later.status, 200, await later.clone().text());
    await later.arrayBuffer();
  });

  it("a key from `tweedle apikey create` works the same", async () => {
    await s3.send(new PutObjectCommand({ Bucket: b, Key: "input/from-cli.txt", Body: "read with a CLI-made key" }));
    const { stdout } = await promisify(execFile)(
      TWEEDLE_BIN,
      ["apikey", "create", "--name", "js-cli", "--scope", "presign:get", "--bucket", b, "--prefix", "input/",
        "--max-expires-in", "60", "--endpoint", server.endpoint],
      {
        timeout: 15_000,
        env: {
          ...process.env,
          AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
          AWS_DEFAULT_REGION: "us-east-1",
        },
      },
    );
    const k = JSON.parse(stdout);
    assert.match(k.key, /^twk_[A-Za-z0-9_-]{43}$/);
    const g = await presign(k.key, { method: "GET", key: "input/from-cli.txt" });
    assert.equal(g.bucket, b);
    assert.equal(g.expires_in, 60);
    const get = await req(g.url);
    assert.equal(get.status, 200);
    assert.equal(await get.text(), "read with a CLI-made key");
    await assertGwError(
      await gatewayFetch(server, k.key, "POST", "/presign", { method: "GET", key: "input/a", expires_in: 61 }),
      403,
      "AccessDenied",
    );
  });
});
