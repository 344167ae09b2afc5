// Shared helpers for tweedle's JavaScript integration tests.
//
// Each test file starts its own tweedle server (own free port, own temp data
// dir) so files can run in parallel. Every wait here is bounded.

import { spawn } from "node:child_process";
import { before, after } from "node:test";
import zlib from "node:zlib";
import { createHash, createHmac, randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";

import {
  SQSClient,
  CreateQueueCommand,
  ReceiveMessageCommand,
  GetQueueAttributesCommand,
} from "@aws-sdk/client-sqs";
import { S3Client } from "@aws-sdk/client-s3";
// a dependency of the SDK clients above (in package-lock.json); signs admin gateway calls
import { SignatureV4 } from "@smithy/signature-v4";

export { sleep };

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, "..", "..");
export const TWEEDLE_BIN = process.env.TWEEDLE_BIN || path.join(REPO_ROOT, "build", "tweedle");
export const REGION = "us-east-1";
export const ACCOUNT = "000000000000";

const STARTUP_TIMEOUT_MS = 15_000;
const SHUTDOWN_TIMEOUT_MS = 10_000;

const TIMED_OUT = Symbol("timed out");
/**
 * Race `promise` against a timer that is cleared afterwards (a bare sleep() in a
 * race would keep the process alive until it fires). On timeout returns
 * onTimeout() (which may throw).
 */
export async function withTimeout(promise, ms, onTimeout = () => {
  throw new Error(`timed out after ${ms} ms`);
}) {
  let timer;
  const t = new Promise((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    const r = await Promise.race([promise, t]);
    return r === TIMED_OUT ? onTimeout() : r;
  } finally {
    clearTimeout(timer);
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort() {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const liveServers = new Set();
process.on("exit", () => {
  for (const s of liveServers) {
    try {
      s.proc.kill("SIGKILL");
    } catch {
      /* already gone */
    }
  }
});

function tail(file, maxBytes = 4000) {
  try {
    const buf = fs.readFileSync(file);
    return buf.subarray(Math.max(0, buf.length - maxBytes)).toString("utf8");
  } catch {
    return "(no log)";
  }
}

/**
 * Start tweedle. Options:
 *   dataDir   reuse a data directory (default: a fresh temp dir)
 *   port      listen port (default: a free one)
 * Returns { port, endpoint, dataDir, credentials, proc, logFile, stop(), logTail() }.
 */
export async function startServer(opts = {}) {
  if (!fs.existsSync(TWEEDLE_BIN)) {
    throw new Error(`tweedle binary not found at ${TWEEDLE_BIN} (build it, or set TWEEDLE_BIN)`);
  }
  const workDir = opts.workDir || fs.mkdtempSync(path.join(os.tmpdir(), "tweedle-js-"));
  const dataDir = opts.dataDir || path.join(workDir, "data");
  fs.mkdirSync(dataDir, { recursive: true });
  const port = opts.port || (await freePort());
  const credentials = opts.credentials || {
    accessKeyId: "AKIDTWEEDLE" + randomBytes(5).toString("hex").toUpperCase(),
    secretAccessKey: randomBytes(20).toString("base64"),
  };
  const logFile = path.join(workDir, `server-${port}-${Date.now()}.log`);
  const logFd = fs.openSync(logFile, "a");
  const proc = spawn(
    TWEEDLE_BIN,
    ["serve", "--listen", `127.0.0.1:${port}`, "--data", dataDir],
    {
      env: {
        ...process.env,
        TWEEDLE_ACCESS_KEY_ID: credentials.accessKeyId,
        TWEEDLE_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      },
      stdio: ["ignore", logFd, logFd],
    },
  );
  fs.closeSync(logFd);

  let exited = null;
  const exitPromise = new Promise((resolve) => {
    proc.on("exit", (code, signal) => {
      exited = { code, signal };
      liveServers.delete(server);
      resolve(exited);
    });
    proc.on("error", (err) => {
      exited = { code: null, signal: null, error: err };
      liveServers.delete(server);
      resolve(exited);
    });
  });

  const endpoint = `http://127.0.0.1:${port}`;
  const server = {
    port,
    endpoint,
    dataDir,
    workDir,
    credentials,
    proc,
    logFile,
    exitPromise,
    get exited() {
      return exited;
    },
    logTail: () => tail(logFile),
    queueUrl: (name) => `${endpoint}/${ACCOUNT}/${name}`,
    queueArn: (name) => `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`,
    /** SIGTERM, wait (bounded), SIGKILL if needed. Resolves to {code, signal, killed, ms}. */
    async stop({ cleanup = true } = {}) {
      const t0 = Date.now();
      let killed = false;
      if (!exited) {
        proc.kill("SIGTERM");
        const r = await withTimeout(exitPromise, SHUTDOWN_TIMEOUT_MS, () => null);
        if (!r) {
          killed = true;
          proc.kill("SIGKILL");
          await withTimeout(exitPromise, 5000, () => null);
        }
      }
      const res = { ...(exited || {}), killed, ms: Date.now() - t0 };
      if (cleanup && !opts.dataDir && !process.env.TWEEDLE_KEEP_DATA) {
        fs.rmSync(workDir, { recursive: true, force: true });
      }
      return res;
    },
  };
  liveServers.add(server);

  // Wait for GET /_/health -> 200, bounded.
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let lastErr = "";
  while (Date.now() < deadline) {
    if (exited) {
      throw new Error(
        `tweedle exited during startup (code=${exited.code} signal=${exited.signal}${exited.error ? " " + exited.error.message : ""})\n--- server log ---\n${server.logTail()}`,
      );
    }
    try {
      const res = await fetch(`${endpoint}/_/health`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return server;
      lastErr = `status ${res.status}`;
    } catch (e) {
      lastErr = e.cause?.code || e.message;
    }
    await sleep(100);
  }
  proc.kill("SIGKILL");
  throw new Error(
    `tweedle did not become healthy within ${STARTUP_TIMEOUT_MS} ms (last: ${lastErr})\n--- server log ---\n${server.logTail()}`,
  );
}

const quietLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** An SQS client for a server. Retries off so failures surface at once. */
/* One server and SQS client for a test file: set(server, client) once both are up. */
export function withServer(set, opts = {}) {
  let server;
  let client;
  before(async () => {
    server = await startServer(opts);
    client = makeClient(server);
    set(server, client);
  });
  after(async () => {
    client?.destroy();
    await server?.stop();
  });
}

export function makeClient(server, overrides = {}) {
  return new SQSClient({
    region: REGION,
    endpoint: server.endpoint,
    credentials: server.credentials,
    maxAttempts: 1,
    logger: quietLogger,
    requestHandler: { connectionTimeout: 5000, requestTimeout: 30_000 },
    ...overrides,
  });
}

/**
 * Adds a middleware innermost in the stack (after the HTTP response, before the
 * SDK deserializes it) that records the raw response: status, headers, body text.
 * Optional `mutate(response)` can alter the raw response before the SDK sees it.
 * Returns an object whose `.last` is the latest { statusCode, headers, body } and
 * `.all` is every one recorded.
 */
export function captureRaw(client, mutate) {
  const rec = { last: null, all: [] };
  client.middlewareStack.add(
    (next) => async (args) => {
      const out = await next(args);
      const response = out.response;
      let bodyBuf = Buffer.alloc(0);
      const b = response.body;
      if (b instanceof Uint8Array) {
        bodyBuf = Buffer.from(b);
      } else if (typeof b === "string") {
        bodyBuf = Buffer.from(b, "utf8");
      } else if (b && typeof b[Symbol.asyncIterator] === "function") {
        const chunks = [];
        for await (const c of b) chunks.push(Buffer.from(c));
        bodyBuf = Buffer.concat(chunks);
      }
      response.body = new Uint8Array(bodyBuf);
      const entry = {
        statusCode: response.statusCode,
        headers: { ...response.headers },
        body: bodyBuf.toString("utf8"),
        target: args.request?.headers?.["x-amz-target"],
      };
      rec.last = entry;
      rec.all.push(entry);
      if (mutate) mutate(response);
      return out;
    },
    { step: "deserialize", priority: "low", name: "tweedleCaptureRaw" },
  );
  return rec;
}

let nameCounter = 0;
/** A queue name unique within this process (and very likely across runs). */
export function uniqueName(prefix = "q") {
  nameCounter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${nameCounter}`;
}

export async function createQueue(client, name, attributes, tags) {
  const res = await client.send(
    new CreateQueueCommand({ QueueName: name, Attributes: attributes, tags }),
  );
  return res.QueueUrl;
}

export function md5Hex(data) {
  return createHash("md5").update(data).digest("hex");
}

function lengthPrefixed(buf) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(buf.length, 0);
  return Buffer.concat([len, buf]);
}

/**
 * MD5OfMessageAttributes as AWS computes it: attributes sorted by name; for each,
 * length-prefixed name, length-prefixed DataType (incl. custom suffix), one
 * transport byte (1 = String/Number, 2 = Binary), length-prefixed value
 * (UTF-8 string, or the raw binary bytes).
 */
export function md5OfMessageAttributes(attrs) {
  const names = Object.keys(attrs || {}).sort((a, b) =>
    Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")),
  );
  const parts = [];
  for (const name of names) {
    const v = attrs[name];
    parts.push(lengthPrefixed(Buffer.from(name, "utf8")));
    parts.push(lengthPrefixed(Buffer.from(v.DataType, "utf8")));
    if (v.StringValue !== undefined && v.StringValue !== null) {
      parts.push(Buffer.from([1]));
      parts.push(lengthPrefixed(Buffer.from(v.StringValue, "utf8")));
    } else if (v.BinaryValue !== undefined && v.BinaryValue !== null) {
      parts.push(Buffer.from([2]));
      parts.push(lengthPrefixed(Buffer.from(v.BinaryValue)));
    } else {
      throw new Error(`attribute ${name} has no StringValue/BinaryValue`);
    }
  }
  return md5Hex(Buffer.concat(parts));
}

/** Poll `fn` until it returns a truthy value or the timeout passes (then throws). */
export async function waitFor(fn, { timeoutMs = 10_000, intervalMs = 100, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * Receive until `count` messages were collected or `timeoutMs` passed. Uses
 * short long-polls so the overall wait stays bounded. Returns the messages.
 */
export async function receiveN(client, queueUrl, count, { timeoutMs = 10_000, extra = {} } = {}) {
  const out = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count && Date.now() < deadline) {
    const left = Math.max(0, Math.min(2, Math.floor((deadline - Date.now()) / 1000)));
    const res = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: Math.min(10, count - out.length),
        WaitTimeSeconds: left,
        ...extra,
      }),
    );
    out.push(...(res.Messages || []));
    if (left === 0 && !(res.Messages || []).length) await sleep(100);
  }
  return out;
}

/** Receive once without waiting. */
export async function receiveNow(client, queueUrl, extra = {}) {
  const res = await client.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, ...extra }),
  );
  return res.Messages || [];
}

export async function queueAttrs(client, queueUrl, names = ["All"]) {
  const res = await client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: names }));
  return res.Attributes || {};
}

/** Await a promise that must reject; returns the error (fails if it resolves). */
export async function expectReject(promise, what = "request") {
  try {
    const v = await promise;
    throw Object.assign(new Error(`expected ${what} to fail, but it succeeded: ${JSON.stringify(v)?.slice(0, 300)}`), {
      __notRejected: true,
    });
  } catch (e) {
    if (e && e.__notRejected) throw e;
    return e;
  }
}

/** Compact description of an SDK error for assertion messages. */
export function describeErr(e) {
  if (!e) return String(e);
  return JSON.stringify({
    name: e.name,
    message: e.message,
    Code: e.Code,
    Type: e.Type,
    status: e.$metadata?.httpStatusCode,
    fault: e.$fault,
    queryError: e.$response?.headers?.["x-amzn-query-error"],
  });
}

// ---------------------------------------------------------------------------
// S3

/** An S3 client for a server: path style, us-east-1, retries off. */
export function makeS3Client(server, overrides = {}) {
  return new S3Client({
    region: REGION,
    endpoint: server.endpoint,
    forcePathStyle: true,
    credentials: server.credentials,
    maxAttempts: 1,
    logger: quietLogger,
    requestHandler: { connectionTimeout: 5000, requestTimeout: 30_000 },
    ...overrides,
  });
}

/** Options for the `minio` npm client (no region: it must detect it). */
export function minioOptions(server, extra = {}) {
  return {
    endPoint: "127.0.0.1",
    port: server.port,
    useSSL: false,
    pathStyle: true,
    accessKey: server.credentials.accessKeyId,
    secretKey: server.credentials.secretAccessKey,
    ...extra,
  };
}

/** A valid bucket name unique within this process (lowercase, <= 63 chars). */
export function uniqueBucket(prefix = "js") {
  nameCounter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${nameCounter}`.toLowerCase().slice(0, 63);
}

/** The whole body of a GetObject (SDK stream, web stream, Buffer) as a Buffer. */
export async function bodyBytes(body) {
  if (!body) return Buffer.alloc(0);
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (typeof body.transformToByteArray === "function") return Buffer.from(await body.transformToByteArray());
  const chunks = [];
  for await (const c of body) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

export function crc32B64(buf) {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(zlib.crc32(buf) >>> 0, 0);
  return out.toString("base64");
}

export function digestB64(alg, buf) {
  return createHash(alg).update(buf).digest("base64");
}

/** The ETag S3 gives a single-PUT object. */
export function s3Etag(buf) {
  return `"${md5Hex(buf)}"`;
}

/** The ETag S3 gives an object uploaded in parts of `partSize` bytes. */
export function multipartEtag(buf, partSize) {
  const digests = [];
  for (let i = 0; i < buf.length; i += partSize) {
    digests.push(createHash("md5").update(buf.subarray(i, i + partSize)).digest());
  }
  return `"${md5Hex(Buffer.concat(digests))}-${digests.length}"`;
}

let recorderCount = 0;
/**
 * Records every request the client sends after signing (method, path, query,
 * headers with lowercased names). Returns { all, last, clear(), stop() }.
 */
export function recordRequests(client) {
  const name = `tweedleRecordRequests${++recorderCount}`;
  const rec = {
    all: [],
    get last() {
      return this.all[this.all.length - 1];
    },
    clear() {
      this.all.length = 0;
    },
    /** Removes the middleware (for a client shared across tests). */
    stop() {
      client.middlewareStack.remove(name);
    },
  };
  client.middlewareStack.add(
    (next) => async (args) => {
      const req = args.request;
      if (req) {
        const headers = {};
        for (const [k, v] of Object.entries(req.headers || {})) headers[k.toLowerCase()] = v;
        rec.all.push({ method: req.method, path: req.path, query: { ...(req.query || {}) }, headers });
      }
      return next(args);
    },
    { step: "deserialize", priority: "low", name },
  );
  return rec;
}

/** Text of the first <tag>...</tag> in an XML string (undefined if absent). */
export function xmlField(xml, tag) {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  return m ? m[1] : undefined;
}

// ---------------------------------------------------------------------------
// Gateway (/_/api/v1/)

export const GATEWAY_API = "/_/api/v1";

/** node:crypto behind the Checksum interface @smithy/signature-v4 wants. */
class NodeSha256 {
  constructor(secret) {
    this.h = secret ? createHmac("sha256", secret) : createHash("sha256");
  }
  update(data) {
    this.h.update(data);
  }
  async digest() {
    return new Uint8Array(this.h.digest());
  }
}

/**
 * An admin request to GATEWAY_API + apiPath, SigV4-signed (service execute-api)
 * with the server's credential, sent with fetch. Resolves to the Response.
 */
export async function gatewayAdmin(server, method, apiPath, body) {
  const signer = new SignatureV4({
    credentials: server.credentials,
    region: REGION,
    service: "execute-api",
    sha256: NodeSha256,
  });
  const host = `127.0.0.1:${server.port}`;
  const text = body === undefined ? undefined : JSON.stringify(body);
  const headers = { host };
  if (text !== undefined) headers["content-type"] = "application/json";
  const signed = await signer.sign({
    method,
    protocol: "http:",
    hostname: "127.0.0.1",
    port: server.port,
    path: GATEWAY_API + apiPath,
    query: {},
    headers,
    body: text,
  });
  const out = { ...signed.headers };
  delete out.host; // fetch sends the same Host itself
  return fetch(`${server.endpoint}${GATEWAY_API}${apiPath}`, {
    method,
    headers: out,
    body: text,
    signal: AbortSignal.timeout(15_000),
  });
}

/** Creates an API key (admin); resolves to the create answer (with .key, shown once). */
export async function createApiKey(server, fields) {
  const res = await gatewayAdmin(server, "POST", "/apikeys", fields);
  const text = await res.text();
  if (res.status !== 201) throw new Error(`create API key: ${res.status} ${text}`);
  return JSON.parse(text);
}

/** A request to GATEWAY_API + apiPath with `Authorization: Bearer token` (null: none). */
export function gatewayFetch(server, token, method, apiPath, body, headers = {}) {
  const h = { ...headers };
  if (token !== null) h.authorization = `Bearer ${token}`;
  if (body !== undefined) h["content-type"] = "application/json";
  return fetch(`${server.endpoint}${GATEWAY_API}${apiPath}`, {
    method,
    headers: h,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
}
