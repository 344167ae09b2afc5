// The web console (/_/console/) in a real browser: Debian's chromium, headless,
// driven by playwright-core (no browser download). Logs in with the server's
// key pair, sees a queue made with the SDK with its counts, peeks a message
// (its receive count stays), uploads a file with a hostile key through the
// console and sees it listed as text: no dialog, no injected element, no page
// error; an upload fires the bucket's event to its queue; a gateway job's status
// change shows on the jobs page; charts have points after traffic (the server
// publishes metrics every second); every input has a label and the nav works
// with Tab + Enter. Each test saves a screenshot to build/console/*.png (the
// first view also to /tmp/console.png).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutBucketNotificationConfigurationCommand,
} from "@aws-sdk/client-s3";
import {
  SendMessageCommand,
  ReceiveMessageCommand,
  GetQueueAttributesCommand,
} from "@aws-sdk/client-sqs";
import {
  startServer,
  makeClient,
  makeS3Client,
  createQueue,
  uniqueName,
  uniqueBucket,
  bodyBytes,
  createApiKey,
  gatewayFetch,
  REPO_ROOT,
  REGION,
  ACCOUNT,
} from "./helpers.mjs";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const HOSTILE = "<img src=x onerror=alert(1)>";
const SHOTS = path.join(REPO_ROOT, "build", "console");

let chromium = null;
try {
  ({ chromium } = await import("playwright-core"));
} catch {
  chromium = null;
}
const skip = !chromium
  ? "playwright-core is not installed (npm ci in tests/js)"
  : !fs.existsSync(CHROMIUM)
    ? `no chromium at ${CHROMIUM} (apt-get install chromium)`
    : false;

// Every test below has its own bound; the whole file stays well under 90 s.
const T = { timeout: 30_000 };

describe("web console in chromium", { skip, timeout: 85_000 }, () => {
  let server, sqs, s3, browser, page;
  const dialogs = [];
  const errors = [];

  async function shot(name) {
    fs.mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, name + ".png"), fullPage: true });
  }

  before(async () => {
    // metrics published every second, so charts have points within the run
    const prevInterval = process.env.TWEEDLE_METRICS_INTERVAL;
    process.env.TWEEDLE_METRICS_INTERVAL = "1";
    try {
      server = await startServer();
    } finally {
      if (prevInterval === undefined) delete process.env.TWEEDLE_METRICS_INTERVAL;
      else process.env.TWEEDLE_METRICS_INTERVAL = prevInterval;
    }
    sqs = makeClient(server);
    s3 = makeS3Client(server);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
      timeout: 20_000,
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(10_000);
    page.on("dialog", async (d) => {
      dialogs.push(d.message());
      await d.dismiss();
    });
    page.on("pageerror", (e) => errors.push("pageerror: " + e.message));
    // failed requests by URL: only the two 401s of the first visit and the
    // wrong password are expected
    page.on("response", (r) => {
      if (r.status() >= 400) errors.push(r.status() + " " + r.request().method() + " " + new URL(r.url()).pathname);
    });
    page.on("console", (m) => {
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push("console: " + m.text());
    });
  });

  after(async () => {
    await browser?.close();
    sqs?.destroy();
    s3?.destroy();
    await server?.stop();
  });

  let q, url, bucket;

  it("logs in (a wrong secret is refused; the cookie is HttpOnly, SameSite=Strict)", T, async () => {
    q = uniqueName("console");
    url = await createQueue(sqs, q);
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: HOSTILE }));
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "second message" }));
    bucket = uniqueBucket("console");
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));

    // a wrong secret is refused on the page
    await page.goto(server.endpoint + "/_/console/");
    await page.fill("#ak", server.credentials.accessKeyId);
    await page.fill("#sk", "not-the-secret");
    await page.click("#login-keys button[type=submit]");
    await page.waitForFunction(() => document.getElementById("login-error").textContent.length > 0);
    assert.equal(await page.isVisible("#nav"), false);

    await page.fill("#ak", server.credentials.accessKeyId);
    await page.fill("#sk", server.credentials.secretAccessKey);
    await page.click("#login-keys button[type=submit]");
    await page.waitForSelector("#nav", { state: "visible" });
    await page.waitForSelector("text=Data directory");
    // the cookie is out of the page's reach
    assert.equal(await page.evaluate(() => document.cookie), "");
    const cookies = await page.context().cookies();
    const c = cookies.find((x) => x.name === "tweedle_console");
    assert.ok(c && c.httpOnly && c.sameSite === "Strict", JSON.stringify(cookies));
    await shot("overview");
  });

  it("a queue shows its counts; peek leaves receive counts alone; send and purge work", T, async () => {
    await page.click("#nav a[href='#/queues']");
    const row = page.locator("tr", { has: page.locator(`a:text-is("${q}")`) });
    await row.waitFor();
    const cells = await row.locator("td").allTextContents();
    assert.deepEqual(cells.slice(1, 5), ["standard", "2", "0", "0"]);

    // the queue page: peek shows both messages, the hostile body as text
    await row.locator("a").first().click();
    await page.waitForSelector("#peek table");
    assert.doesNotMatch(await page.locator("#view").textContent(), /\b(null|undefined|NaN)\b|\[object /);
    await page.click("#peek-btn");
    await page.waitForSelector("#peek table");
    const bodies = await page.locator("#peek pre.box").allTextContents();
    assert.ok(bodies.includes(HOSTILE), JSON.stringify(bodies));
    assert.equal(await page.locator("#peek img").count(), 0);
    await shot("queue");
    await page.screenshot({ path: "/tmp/console.png" }); // what a user sees first
    const got = await sqs.send(new ReceiveMessageCommand({
      QueueUrl: url, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ["ApproximateReceiveCount"],
      AttributeNames: ["ApproximateReceiveCount"],
    }));
    assert.equal(got.Messages.length, 2);
    for (const m of got.Messages) assert.equal(m.Attributes.ApproximateReceiveCount, "1", "peek did not receive");

    // send from the console
    await page.fill("#send-body", "from the console");
    await page.click("#send-form button[type=submit]");
    await page.waitForSelector("#peek pre.box:text-is('from the console')");

    // purge, confirmed inline (no dialog): the SDK then sees an empty queue
    await page.click("text=Purge…");
    await page.click("text=Yes, purge");
    await page.waitForSelector("#peek >> text=The queue is empty.");
    await shot("purge");
    const attrs = await sqs.send(new GetQueueAttributesCommand({
      QueueUrl: url, AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }));
    assert.equal(attrs.Attributes.ApproximateNumberOfMessages, "0");
    assert.equal(attrs.Attributes.ApproximateNumberOfMessagesNotVisible, "0");
  });

  it("a DLQ's page redrives its message back to the source queue", T, async () => {
    const dlq = uniqueName("console-dlq");
    const dlqUrl = await createQueue(sqs, dlq);
    const src = uniqueName("console-src");
    const srcUrl = await createQueue(sqs, src, {
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: server.queueArn(dlq), maxReceiveCount: 1 }),
    });
    await sqs.send(new SendMessageCommand({ QueueUrl: srcUrl, MessageBody: "poison" }));
    for (let i = 0; i < 2; i++) {
      await sqs.send(new ReceiveMessageCommand({ QueueUrl: srcUrl, VisibilityTimeout: 0 }));
    }
    await page.goto(server.endpoint + "/_/console/#/queue/" + dlq);
    await page.waitForSelector("#peek pre.box:text-is('poison')");
    await page.click("#redrive-btn");
    await page.waitForSelector("#tasks td:text-is('COMPLETED')");
    await page.waitForSelector("#peek >> text=The queue is empty."); // the page follows the task
    await shot("redrive");
    const back = await sqs.send(new ReceiveMessageCommand({ QueueUrl: srcUrl, WaitTimeSeconds: 2 }));
    assert.equal(back.Messages?.[0]?.Body, "poison");
    const left = await sqs.send(new GetQueueAttributesCommand({
      QueueUrl: dlqUrl, AttributeNames: ["ApproximateNumberOfMessages"],
    }));
    assert.equal(left.Attributes.ApproximateNumberOfMessages, "0");
  });

  it("an upload with a hostile key stays text and fires the bucket's event to its queue", T, async () => {
    // the bucket notifies a queue of every created object
    const evq = uniqueName("console-events");
    const evUrl = await createQueue(sqs, evq);
    await s3.send(new PutBucketNotificationConfigurationCommand({
      Bucket: bucket,
      NotificationConfiguration: {
        QueueConfigurations: [{ Id: "console-upload", QueueArn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${evq}`, Events: ["s3:ObjectCreated:*"] }],
      },
    }));

    await page.goto(server.endpoint + "/_/console/#/bucket/" + bucket);
    await page.waitForSelector("#upload-form");
    await page.setInputFiles("#upload-file", {
      name: "hello.txt",
      mimeType: "text/plain",
      buffer: Buffer.from("hello from the browser"),
    });
    await page.fill("#upload-key", HOSTILE);
    await page.click("#upload-form button[type=submit]");
    const link = page.locator(`#view a:text-is("${HOSTILE}")`);
    await link.waitFor();
    assert.equal(await page.locator("#view img").count(), 0, "no injected element");
    const obj = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: HOSTILE }));
    assert.equal(Buffer.from(await bodyBytes(obj.Body)).toString(), "hello from the browser");
    await shot("bucket");

    // the event: an s3:TestEvent first (from the configuration), then the upload's record
    const records = [];
    const until = Date.now() + 10_000;
    while (!records.length && Date.now() < until) {
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: evUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      for (const m of r.Messages || []) records.push(...(JSON.parse(m.Body).Records || []));
    }
    assert.equal(records.length, 1, JSON.stringify(records));
    assert.equal(records[0].eventName, "ObjectCreated:Put");
    assert.equal(records[0].s3.bucket.name, bucket);
    assert.equal(records[0].s3.configurationId, "console-upload");
    assert.equal(decodeURIComponent(records[0].s3.object.key.replace(/\+/g, " ")), HOSTILE);
    assert.equal(records[0].s3.object.size, "hello from the browser".length);

    // the object's page names it as text too
    await link.click();
    await page.waitForSelector("#download");
    assert.equal(await page.locator("#view h1").textContent(), HOSTILE);
    assert.equal(await page.locator("#view img").count(), 0);
    await shot("object");
  });

  /** Waits (bounded) until the locator's text is exactly `text`. */
  async function waitText(loc, text, timeoutMs = 10_000) {
    const until = Date.now() + timeoutMs;
    let last;
    while (Date.now() < until) {
      last = await loc.textContent({ timeout: Math.max(1, until - Date.now()) }).catch(() => null);
      if (last === text) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`expected ${JSON.stringify(text)}, last saw ${JSON.stringify(last)}`);
  }

  it("a job submitted through the gateway shows its status change on the jobs page", T, async () => {
    const key = await createApiKey(server, { name: "console-jobs", scopes: [{ actions: ["jobs:*"] }] });
    const res = await gatewayFetch(server, key.key, "POST", "/jobs", { type: "console-test", payload: { n: 1 } });
    const text = await res.text();
    assert.equal(res.status, 202, text);
    const { id } = JSON.parse(text);
    const row = page.locator("tr", { has: page.locator(`a:text-is("${id}")`) });

    await page.click("#nav a[href='#/jobs']");
    await page.waitForSelector("#view h1:text-is('Jobs')");
    await row.waitFor();
    assert.equal(await row.locator("td").nth(1).textContent(), "console-test");
    assert.equal(await row.locator("td").nth(2).textContent(), "queued");
    await shot("jobs-queued");

    // a worker takes it: running
    let r = await gatewayFetch(server, key.key, "POST", `/jobs/${id}/start`);
    assert.equal(r.status, 200, await r.text());
    await page.reload();
    await waitText(row.locator("td").nth(2), "running");

    // and fails it: failed, with its error
    r = await gatewayFetch(server, key.key, "POST", `/jobs/${id}/fail`, { error: "upstream timed out" });
    assert.equal(r.status, 200, await r.text());
    await page.selectOption("#job-status", "failed");
    await page.click("#view form button[type=submit]");
    await waitText(row.locator("td").nth(2), "failed");
    assert.equal(await row.locator("td").nth(5).textContent(), "upstream timed out");
    await shot("jobs-failed");

    // the job's page: its timeline queued → running → failed
    await row.locator("a").first().click();
    await page.waitForSelector("#view ol.timeline");
    const events = await page.locator("#view ol.timeline li strong").allTextContents();
    assert.deepEqual(events, ["queued", "running", "failed"]);
    assert.match(await page.locator("#view ol.timeline").textContent(), /upstream timed out/);
    await shot("job");
  });

  it("a dashboard chart has points after traffic", T, async () => {
    const tq = uniqueName("console-traffic");
    const tUrl = await createQueue(sqs, tq);
    for (let i = 0; i < 20; i++) await sqs.send(new SendMessageCommand({ QueueUrl: tUrl, MessageBody: "m" + i }));
    await sqs.send(new ReceiveMessageCommand({ QueueUrl: tUrl, MaxNumberOfMessages: 10 }));
    // wait for a publish (every second) then draw; retry a few times within the bound
    const countPoints = () => page.evaluate(() => {
      const figs = [...document.querySelectorAll("#view figure.chart svg[role=img]")];
      return figs.reduce((a, s) => a + s.querySelectorAll("polyline, path, circle").length, 0);
    });
    // the traffic queue's own series (its legend entry counts its points)
    const sentSeries = () => page.evaluate((name) => {
      for (const f of document.querySelectorAll("#dash figure.chart")) {
        for (const sp of f.querySelectorAll(".legend span")) {
          const m = sp.textContent.match(/^NumberOfMessagesSent (\S+) \((\d+)\)$/);
          if (m && m[1] === name) return { n: +m[2], svgPoints: f.querySelectorAll("svg[role=img] polyline, svg[role=img] path, svg[role=img] circle").length };
        }
      }
      return null;
    }, tq);
    let seen = null;
    const until = Date.now() + 15_000;
    await page.goto(server.endpoint + "/_/console/#/dashboards/tweedle");
    for (let i = 0; Date.now() < until; i++) {
      if (i) await page.reload(); // a goto to the same hash would not redraw
      await page.waitForSelector("#view h1:text-is('Dashboards')");
      await page.waitForSelector("#dash figure.chart");
      seen = await sentSeries();
      if (seen && seen.n > 0) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const legends = await page.locator("#dash .legend span").allTextContents();
    assert.ok(seen && seen.n > 0, "the traffic queue's NumberOfMessagesSent series has points: " + JSON.stringify(seen) + " " + JSON.stringify(legends));
    assert.ok(seen.svgPoints > 0, "its chart draws a line or a point");
    await shot("dashboard");

    await page.click("#nav a[href='#/overview']");
    await page.waitForSelector("#view h1:text-is('Overview')");
    await page.waitForSelector("#ov-charts figure.chart svg[role=img]");
    assert.ok(await countPoints() > 0, "an overview chart has points");
    await shot("overview-traffic");
  });

  it("accessibility: every input has a label, the nav works with Tab + Enter", T, async () => {
    for (const [hash, title] of [["#/queues", "Queues"], ["#/topics", "Topics"], ["#/rules", "Event rules"], ["#/jobs", "Jobs"],
      ["#/dashboards", "Dashboards"], ["#/logs", "Logs"], ["#/buckets", "Buckets"], ["#/overview", "Overview"]]) {
      await page.click(`#nav a[href='${hash}']`);
      await page.waitForSelector(`#view h1:text-is('${title}')`);
      assert.doesNotMatch(await page.locator("#view").textContent(), /\b(null|undefined|NaN)\b|\[object /, hash);
      const unlabelled = await page.evaluate(() => [...document.querySelectorAll("input, select, textarea")]
        .filter((e) => e.type !== "hidden" && !e.closest("[hidden]") && !e.labels.length && !e.getAttribute("aria-label"))
        .map((e) => e.outerHTML));
      assert.deepEqual(unlabelled, [], hash);
    }
    // the bucket and queue pages have forms too
    for (const hash of ["#/bucket/" + bucket, "#/queue/" + q]) {
      await page.goto(server.endpoint + "/_/console/" + hash);
      await page.waitForSelector("#view form");
      const unlabelled = await page.evaluate(() => [...document.querySelectorAll("#view input, #view select, #view textarea")]
        .filter((e) => e.type !== "hidden" && !e.labels.length && !e.getAttribute("aria-label")).map((e) => e.outerHTML));
      assert.deepEqual(unlabelled, [], hash);
    }

    // keyboard only: Tab walks the nav in order, Enter follows the focused link
    await page.click("#nav a[href='#/overview']");
    await page.waitForSelector("#view h1:text-is('Overview')");
    const hrefs = await page.locator("#nav a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
    await page.focus("#nav a[href='#/overview']");
    for (let i = 1; i < hrefs.length; i++) {
      await page.keyboard.press("Tab");
      assert.equal(await page.evaluate(() => document.activeElement.getAttribute("href")), hrefs[i], "Tab " + i);
    }
    const titles = { "#/queues": "Queues", "#/buckets": "Buckets", "#/jobs": "Jobs", "#/dashboards": "Dashboards" };
    for (const [hash, title] of Object.entries(titles)) {
      await page.focus(`#nav a[href='${hash}']`);
      await page.keyboard.press("Enter");
      await page.waitForSelector(`#view h1:text-is('${title}')`);
      assert.equal(await page.evaluate(() => location.hash), hash);
      // the current section is announced
      assert.equal(await page.getAttribute(`#nav a[href='${hash}']`, "aria-current"), "page");
    }
    // a form is usable from the keyboard: Tab into the jobs filter, submit with Enter
    await page.focus("#nav a[href='#/jobs']");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#view h1:text-is('Jobs')");
    await page.focus("#job-type");
    await page.keyboard.type("console-test");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => location.hash.includes("type=console-test"), null, { timeout: 5000 });
    await page.waitForSelector("#view td:text-is('console-test')");
    const focusVisible = await page.evaluate(() => {
      const a = document.querySelector("#nav a");
      a.focus();
      const st = getComputedStyle(a);
      return st.outlineStyle !== "none" || st.boxShadow !== "none";
    });
    assert.ok(focusVisible, "focused nav links are visibly outlined");
    await shot("keyboard");
  });

  it("no console errors, page errors, dialogs or failed requests over the whole run", T, async () => {
    assert.deepEqual(dialogs, [], "no dialog opened");
    assert.deepEqual(errors, ["401 GET /_/console/api/session", "401 POST /_/console/api/login"],
      "no page errors, no failed request but the first visit's and the wrong secret's");
    await shot("final");
  });
});
