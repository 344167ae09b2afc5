// tweedle's web console. No framework and no build step: the DOM is built with
// createElement and every name, key and body goes in as text (textContent),
// never as HTML. The server holds the session; this page keeps only the CSRF
// token it is given, in memory.
'use strict';

const API = '/_/console/api';
let csrf = null;
let timers = [];

// --- helpers -----------------------------------------------------------------------

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of kids.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

function svg(tag, attrs) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  return el;
}

function status(msg, isError) {
  const s = document.getElementById('status');
  s.textContent = msg || '';
  s.className = isError ? 'error' : '';
  if (msg && !isError) setTimeout(() => { if (s.textContent === msg) s.textContent = ''; }, 4000);
}

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  if (method !== 'GET') opts.headers['X-CSRF-Token'] = csrf || '';
  const res = await fetch(API + path, opts);
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (res.status === 401 && path !== '/login') {
    showLogin();
    throw new Error('Your session ended: log in again.');
  }
  if (!res.ok) throw new Error((data && data.error && data.error.message) || res.statusText);
  return data;
}

function q(s) { return encodeURIComponent(s); }
function fmtBytes(n) {
  if (n === null || n === undefined) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}
function fmtAge(s) {
  if (s === null || s === undefined) return '–';
  if (s < 120) return s + ' s';
  if (s < 7200) return Math.round(s / 60) + ' min';
  if (s < 172800) return (s / 3600).toFixed(1) + ' h';
  return (s / 86400).toFixed(1) + ' d';
}
function fmtTime(ms) { return ms ? new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '–'; }
function every(ms, fn) { timers.push(setInterval(fn, ms)); }
function view() { return document.getElementById('view'); }
function render(...nodes) { view().replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false)); }
function table(headers, rows, empty) {
  if (!rows.length) return h('p', { class: 'muted' }, empty || 'Nothing here.');
  return h('table', {},
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col', class: x.endsWith(' ') ? 'num' : null }, x.trim())))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => (c instanceof Node && c.tagName === 'TD') ? c : h('td', {}, c))))));
}
function num(v) { return h('td', { class: 'num' }, v === undefined || v === null ? '–' : String(v)); }
function pre(v) { return h('pre', { class: 'box' }, typeof v === 'string' ? v : JSON.stringify(v, null, 2)); }
function stat(label, value) { return h('div', { class: 'card stat' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value)); }

// A button that asks again, inline (no dialog), before it runs `fn`.
function confirmButton(label, question, fn) {
  const wrap = h('span', {});
  const start = h('button', { type: 'button', class: 'danger', onclick: () => {
    const yes = h('button', { type: 'button', class: 'danger', onclick: async () => {
      wrap.replaceChildren(start);
      await fn();
    } }, 'Yes, ' + label.toLowerCase());
    const no = h('button', { type: 'button', onclick: () => wrap.replaceChildren(start) }, 'Cancel');
    wrap.replaceChildren(start, h('span', { class: 'confirm', role: 'group', 'aria-label': question }, question, yes, no));
    yes.focus();
  } }, label + '…');
  wrap.append(start);
  return wrap;
}

async function guarded(fn) {
  try { await fn(); } catch (e) { status(e.message, true); }
}

// --- charts (SVG) -------------------------------------------------------------------

const COLORS = ['#2455c3', '#c62828', '#1a7f37', '#9a6700', '#7b3fb0', '#00838f', '#d84315', '#5d4037'];

// series: [{label, points: [[t_ms, v], ...]}]
function chart(title, series) {
  const W = 600, H = 220, L = 48, R = 10, T = 10, B = 24;
  const box = h('figure', { class: 'card chart' }, h('figcaption', {}, h('strong', {}, title)));
  const all = series.flatMap((s) => s.points);
  if (!all.length) {
    box.append(h('p', { class: 'muted' }, 'No data points in this range yet.'));
    return box;
  }
  let t0 = Math.min(...all.map((p) => p[0])), t1 = Math.max(...all.map((p) => p[0]));
  if (t1 === t0) { t0 -= 60000; t1 += 60000; }
  let v1 = Math.max(...all.map((p) => p[1]), 0), v0 = Math.min(...all.map((p) => p[1]), 0);
  if (v1 === v0) v1 = v0 + 1;
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - (v - v0) / (v1 - v0)) * (H - T - B);
  const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title + ' chart' });
  for (let i = 0; i <= 4; i++) {
    const v = v0 + ((v1 - v0) * i) / 4, yy = y(v);
    s.append(svg('line', { x1: L, x2: W - R, y1: yy, y2: yy, stroke: '#e3e7ef' }));
    const lab = svg('text', { x: L - 6, y: yy + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#5b6475' });
    lab.textContent = Math.abs(v) >= 1000 ? v.toExponential(1) : +v.toFixed(2);
    s.append(lab);
  }
  for (const [t, anchor] of [[t0, 'start'], [t1, 'end']]) {
    const lab = svg('text', { x: x(t), y: H - 6, 'text-anchor': anchor, 'font-size': 11, fill: '#5b6475' });
    lab.textContent = new Date(t).toISOString().slice(11, 16) + 'Z';
    s.append(lab);
  }
  const legend = h('div', { class: 'legend' });
  series.forEach((se, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = se.points.slice().sort((a, b) => a[0] - b[0]);
    if (pts.length === 1) s.append(svg('circle', { cx: x(pts[0][0]), cy: y(pts[0][1]), r: 3, fill: color }));
    else s.append(svg('polyline', { fill: 'none', stroke: color, 'stroke-width': 2, points: pts.map((p) => x(p[0]).toFixed(1) + ',' + y(p[1]).toFixed(1)).join(' ') }));
    legend.append(h('span', {}, h('i', { style: null, 'data-c': i }), se.label + ' (' + pts.length + ')'));
  });
  // legend swatches are coloured through SVG, so no inline style is needed
  legend.querySelectorAll('i').forEach((el) => {
    const sw = svg('svg', { width: 10, height: 10, 'aria-hidden': 'true' });
    sw.append(svg('rect', { width: 10, height: 10, fill: COLORS[+el.dataset.c % COLORS.length] }));
    el.replaceWith(sw);
  });
  box.append(s, legend);
  return box;
}

// CloudWatch metric widget arrays: [ns, name, dim, val, ..., {opts}], "." repeats the previous row.
function widgetQueries(props) {
  const out = [];
  let prev = [];
  (props.metrics || []).forEach((row, i) => {
    const parts = row.filter((x) => typeof x !== 'object');
    const opts = row.find((x) => x && typeof x === 'object') || {};
    if (opts.expression) return;
    const full = parts.map((p, k) => (p === '.' || p === '...') ? prev[k] : p);
    prev = full;
    const dims = [];
    for (let k = 2; k + 1 < full.length; k += 2) dims.push({ Name: full[k], Value: full[k + 1] });
    out.push({
      Id: 'm' + i,
      Label: opts.label || [full[1]].concat(dims.map((d) => d.Value)).join(' '),
      MetricStat: { Metric: { Namespace: full[0], MetricName: full[1], Dimensions: dims },
        Period: opts.period || props.period || 60, Stat: opts.stat || props.stat || 'Average' },
    });
  });
  return out;
}

async function metricChart(title, queries, hours) {
  if (!queries.length) return chart(title, []);
  const end = Math.floor(Date.now() / 1000), start = end - (hours || 3) * 3600;
  const out = await api('POST', '/metric-data', { MetricDataQueries: queries, StartTime: start, EndTime: end });
  const series = (out.MetricDataResults || []).map((r) => ({
    label: r.Label || r.Id,
    points: (r.Timestamps || []).map((t, i) => [(typeof t === 'number' ? t * 1000 : Date.parse(t)), r.Values[i]]),
  }));
  return chart(title, series);
}

// --- session ---------------------------------------------------------------------------

function showLogin() {
  csrf = null;
  timers.forEach(clearInterval);
  timers = [];
  document.getElementById('login').hidden = false;
  document.getElementById('nav').hidden = true;
  document.getElementById('logout').hidden = true;
  document.getElementById('who').textContent = '';
  view().replaceChildren();
  document.getElementById('ak').focus();
}

function loggedIn(s) {
  csrf = s.csrf;
  document.getElementById('login').hidden = true;
  document.getElementById('nav').hidden = false;
  document.getElementById('logout').hidden = false;
  document.getElementById('who').textContent = s.principal;
  route();
}

async function login(body) {
  const err = document.getElementById('login-error');
  err.textContent = '';
  try {
    loggedIn(await api('POST', '/login', body));
  } catch (e) {
    err.textContent = e.message;
  }
}

// --- pages --------------------------------------------------------------------------------

async function pageOverview() {
  const [o, qs] = await Promise.all([api('GET', '/overview'), api('GET', '/queues')]);
  const queues = qs.queues;
  const depth = queues.reduce((a, x) => a + x.visible + x.in_flight + x.delayed, 0);
  const oldest = depth ? queues.reduce((a, x) => Math.max(a, x.oldest_age_s), 0) : null;
  const alarms = o.alarms.map((a) => [a.name, h('span', { class: 'state-' + a.state }, a.state), a.metric || '', a.reason || '']);
  const root = h('div', {},
    h('h1', {}, 'Overview'),
    h('div', { class: 'cards' },
      stat('Version', o.version),
      stat('Uptime', fmtAge(o.uptime_s)),
      stat('Data directory', fmtBytes(o.data.bytes) + (o.data.partial ? '+' : '')),
      stat('Free space', fmtBytes(o.data.free_bytes)),
      stat('Queues', String(queues.length)),
      stat('Messages', String(depth)),
      stat('Oldest message', fmtAge(oldest)),
      stat('Alarms in ALARM', String(o.alarms.filter((a) => a.state === 'ALARM').length))),
    h('p', { class: 'muted' }, 'Data in ', o.data.path, ' (', String(o.data.files), ' files) · region ', o.region, ' · account ', o.account),
    h('h2', {}, 'Alarms'),
    table(['Alarm', 'State', 'Metric', 'Reason'], alarms, 'No alarms.'),
    h('h2', {}, 'Traffic (last 3 hours)'),
    h('div', { id: 'ov-charts', class: 'grid2' }));
  render(root);
  const d = await api('GET', '/dashboards/tweedle');
  const charts = document.getElementById('ov-charts');
  for (const w of (d.body.widgets || []).filter((w) => w.type === 'metric').slice(0, 4)) {
    if (!document.body.contains(charts)) return;
    charts.append(await metricChart(w.properties.title || '', widgetQueries(w.properties), 3));
  }
}

async function pageQueues() {
  const { queues } = await api('GET', '/queues');
  const byArn = Object.fromEntries(queues.map((x) => [x.arn, x]));
  const sources = {};
  for (const x of queues) if (x.dlq_arn) (sources[x.dlq_arn] = sources[x.dlq_arn] || []).push(x);
  const rows = queues.map((x) => [
    h('a', { href: '#/queue/' + q(x.name) }, x.name),
    x.fifo ? 'FIFO' : 'standard',
    num(x.visible), num(x.in_flight), num(x.delayed), num(fmtAge(x.visible + x.in_flight + x.delayed ? x.oldest_age_s : null)),
    x.dlq_arn ? (byArn[x.dlq_arn] ? h('a', { href: '#/queue/' + q(byArn[x.dlq_arn].name) }, byArn[x.dlq_arn].name) : x.dlq_arn) : '–',
    (sources[x.arn] || []).length ? h('span', {}, 'DLQ of ', (sources[x.arn]).map((s, i) => [i ? ', ' : '', h('a', { href: '#/queue/' + q(s.name) }, s.name)])) : '',
  ]);
  render(h('h1', {}, 'Queues'),
    table(['Queue', 'Type', 'Visible ', 'In flight ', 'Delayed ', 'Oldest ', 'Dead-letter queue', 'Role'], rows, 'No queues yet.'));
}

async function pageQueue(name) {
  const [info, { queues }] = await Promise.all([api('GET', '/queues/' + q(name)), api('GET', '/queues')]);
  const me = queues.find((x) => x.name === name) || {};
  const a = info.attributes || {};
  const srcs = queues.filter((x) => x.dlq_arn === me.arn);
  const peekBox = h('div', { id: 'peek' });
  const tasksBox = h('div', { id: 'tasks' });
  const counts = h('div', { class: 'cards' });
  function showCounts(x) {
    counts.replaceChildren(
      stat('Visible', String(x.visible)),
      stat('In flight', String(x.in_flight)),
      stat('Delayed', String(x.delayed)),
      stat('Oldest message', fmtAge(x.visible + x.in_flight + x.delayed ? x.oldest_age_s : null)));
  }
  async function refreshCounts() {
    const now = (await api('GET', '/queues')).queues.find((x) => x.name === name);
    if (now) showCounts(now);
  }
  showCounts(me);
  let lastTasks = '';

  async function peek() {
    const max = document.getElementById('peek-max').value;
    const out = await api('GET', '/queues/' + q(name) + '/messages?max=' + q(max));
    peekBox.replaceChildren(h('p', { class: 'muted' }, 'Showing ', String(out.messages.length), ' of ', String(out.total), ' messages (a peek: nothing was received).'),
      table(['Message', 'State', 'Sent', 'Receives ', 'Body'], out.messages.map((m) => [
        h('div', {}, h('code', {}, m.MessageId), m.MessageGroupId ? h('div', { class: 'muted' }, 'group ', m.MessageGroupId) : null,
          m.DeadLetterQueueSourceArn ? h('div', { class: 'muted' }, 'from ', m.DeadLetterQueueSourceArn) : null),
        m.State.replace('_', ' '), fmtTime(m.SentTimestamp), num(m.ApproximateReceiveCount),
        h('div', {}, pre(m.Body), m.MessageAttributes ? h('details', {}, h('summary', {}, 'Attributes'), pre(m.MessageAttributes)) : null),
      ]), 'The queue is empty.'));
  }

  async function loadTasks() {
    const out = await api('GET', '/queues/' + q(name) + '/redrive');
    const list = out.Results || [];
    const sig = JSON.stringify(list.map((t) => [t.Status, t.ApproximateNumberOfMessagesMoved]));
    if (lastTasks && sig !== lastTasks) { await refreshCounts(); await peek(); }
    lastTasks = sig;
    tasksBox.replaceChildren(table(['Status', 'Moved ', 'To move ', 'Destination', 'Started', ''], list.map((t) => [
      t.Status, num(t.ApproximateNumberOfMessagesMoved), num(t.ApproximateNumberOfMessagesToMove),
      t.DestinationArn || 'back to the source queues', fmtTime(t.StartedTimestamp),
      t.Status === 'RUNNING' && t.TaskHandle ? h('button', { type: 'button', onclick: () => guarded(async () => {
        await api('POST', '/redrive/cancel', { task_handle: t.TaskHandle });
        status('Cancelling the redrive.');
        await loadTasks();
      }) }, 'Cancel') : '',
    ]), 'No redrive of this queue yet.'));
  }

  const sendForm = h('form', { id: 'send-form', onsubmit: (e) => { e.preventDefault(); guarded(async () => {
    const f = e.target;
    const body = { body: f.body.value };
    if (f.group_id && f.group_id.value) body.group_id = f.group_id.value;
    if (f.dedup_id && f.dedup_id.value) body.dedup_id = f.dedup_id.value;
    if (f.delay.value) body.delay_seconds = parseInt(f.delay.value, 10);
    const out = await api('POST', '/queues/' + q(name) + '/send', body);
    status('Sent message ' + out.MessageId + '.');
    f.body.value = '';
    await refreshCounts();
    await peek();
  }); } },
  h('label', { for: 'send-body' }, 'Message body'),
  h('textarea', { id: 'send-body', name: 'body', rows: 3, required: true }),
  me.fifo ? [h('label', { for: 'send-group' }, 'Message group id'), h('input', { id: 'send-group', name: 'group_id', required: true }),
    h('label', { for: 'send-dedup' }, 'Deduplication id (optional)'), h('input', { id: 'send-dedup', name: 'dedup_id' })] : null,
  h('label', { for: 'send-delay' }, 'Delay seconds (optional)'),
  h('input', { id: 'send-delay', name: 'delay', type: 'number', min: 0, max: 900, class: 'short' }),
  h('button', { type: 'submit' }, 'Send'));

  render(
    h('div', { class: 'crumbs' }, h('a', { href: '#/queues' }, 'Queues'), ' / ', h('span', {}, name)),
    h('h1', {}, name),
    counts,
    h('section', { class: 'card', 'aria-labelledby': 'peek-h' },
      h('h2', { id: 'peek-h' }, 'Messages'),
      h('div', { class: 'inline' },
        h('div', {}, h('label', { for: 'peek-max' }, 'How many'), h('input', { id: 'peek-max', type: 'number', min: 1, max: 100, value: 20 })),
        h('button', { type: 'button', id: 'peek-btn', onclick: () => guarded(peek) }, 'Peek'),
        confirmButton('Purge', 'Delete every message of ' + name + '?', () => guarded(async () => {
          await api('POST', '/queues/' + q(name) + '/purge', {});
          status('Purged ' + name + '.');
          await refreshCounts();
          await peek();
        }))),
      peekBox),
    srcs.length ? h('section', { class: 'card', 'aria-labelledby': 'redrive-h' },
      h('h2', { id: 'redrive-h' }, 'Redrive (dead-letter queue of ', srcs.map((s, i) => [i ? ', ' : '', s.name]), ')'),
      h('p', { class: 'muted' }, 'Moves the messages of this queue back to the queues they came from.'),
      h('button', { type: 'button', class: 'primary', id: 'redrive-btn', onclick: () => guarded(async () => {
        await api('POST', '/queues/' + q(name) + '/redrive', {});
        status('Redrive started.');
        await loadTasks();
      }) }, 'Start redrive'),
      tasksBox) : null,
    h('section', { class: 'card', 'aria-labelledby': 'send-h' }, h('h2', { id: 'send-h' }, 'Send a message'), sendForm),
    h('section', { class: 'card' }, h('h2', {}, 'Metrics (last 3 hours)'), h('div', { id: 'q-charts', class: 'grid2' })),
    h('section', { class: 'card', 'aria-labelledby': 'attrs-h' }, h('h2', { id: 'attrs-h' }, 'Attributes'),
      table(['Attribute', 'Value'], Object.entries(a).sort().map(([k, v]) => [k, k === 'RedrivePolicy' || k === 'Policy' || k === 'RedriveAllowPolicy' ? pre(v) : String(v)])),
      Object.keys(info.tags || {}).length ? [h('h2', {}, 'Tags'), table(['Tag', 'Value'], Object.entries(info.tags).map(([k, v]) => [k, v]))] : null));
  await peek();
  if (srcs.length) {
    await loadTasks();
    every(2000, () => guarded(loadTasks));
  }
  const dims = [{ Name: 'QueueName', Value: name }];
  const m = (id, metric, stat, label) => ({ Id: id, Label: label, MetricStat: { Metric: { Namespace: 'AWS/SQS', MetricName: metric, Dimensions: dims }, Period: 60, Stat: stat } });
  const charts = document.getElementById('q-charts');
  charts.append(await metricChart('Depth', [m('v', 'ApproximateNumberOfMessagesVisible', 'Maximum', 'visible'), m('n', 'ApproximateNumberOfMessagesNotVisible', 'Maximum', 'in flight')]));
  charts.append(await metricChart('Traffic', [m('s', 'NumberOfMessagesSent', 'Sum', 'sent'), m('r', 'NumberOfMessagesReceived', 'Sum', 'received'), m('d', 'NumberOfMessagesDeleted', 'Sum', 'deleted')]));
}

async function pageBuckets() {
  const { buckets } = await api('GET', '/buckets');
  render(h('h1', {}, 'Buckets'),
    table(['Bucket', 'Created'], buckets.map((b) => [h('a', { href: '#/bucket/' + q(b.name) }, b.name), fmtTime(b.created)]), 'No buckets yet.'));
}

async function pageBucket(bucket, params) {
  const prefix = params.get('prefix') || '';
  const cursor = params.get('cursor') || '';
  const limit = params.get('limit') || '50';
  let path = '/buckets/' + q(bucket) + '/objects?delimiter=%2F&limit=' + q(limit) + '&prefix=' + q(prefix);
  if (cursor) path += '&cursor=' + q(cursor);
  const [list, cfg] = await Promise.all([api('GET', path), api('GET', '/buckets/' + q(bucket) + '/config')]);
  const here = (p, c) => '#/bucket/' + q(bucket) + '?prefix=' + q(p) + (c ? '&cursor=' + q(c) : '') + '&limit=' + q(limit);
  const crumbs = [h('a', { href: '#/buckets' }, 'Buckets'), ' / ', h('a', { href: here('') }, bucket)];
  let acc = '';
  for (const part of prefix.split('/').filter(Boolean)) {
    acc += part + '/';
    crumbs.push(' / ', h('a', { href: here(acc) }, part));
  }
  const rows = [];
  for (const p of list.prefixes) rows.push([h('a', { href: here(p.prefix) }, p.prefix.slice(prefix.length)), 'folder', num(''), '']);
  for (const o of list.objects) {
    rows.push([
      o.key === null ? h('span', { class: 'muted' }, '(key not UTF-8: ' + o.key_hex + ')')
        : h('a', { href: '#/object/' + q(bucket) + '?key=' + q(o.key) }, o.key.slice(prefix.length)),
      fmtTime(o.modified), num(fmtBytes(o.size)), h('code', {}, o.etag)]);
  }
  const upload = h('form', { id: 'upload-form', onsubmit: (e) => { e.preventDefault(); guarded(async () => {
    const f = e.target;
    const file = f.file.files[0];
    if (!file) return;
    const key = (f.key.value || prefix + file.name);
    const { url } = await api('POST', '/buckets/' + q(bucket) + '/upload-url', { key });
    const res = await fetch(url, { method: 'PUT', body: file, headers: file.type ? { 'Content-Type': file.type } : {} });
    if (!res.ok) throw new Error('Upload failed: ' + res.status + ' ' + (await res.text()).slice(0, 200));
    status('Uploaded ' + key + '.');
    await pageBucket(bucket, params);
  }); } },
  h('div', { class: 'inline' },
    h('div', {}, h('label', { for: 'upload-file' }, 'File'), h('input', { id: 'upload-file', name: 'file', type: 'file', required: true })),
    h('div', {}, h('label', { for: 'upload-key' }, 'Key (default: prefix + file name)'), h('input', { id: 'upload-key', name: 'key', placeholder: prefix + 'name' })),
    h('button', { type: 'submit' }, 'Upload')));
  render(
    h('div', { class: 'crumbs' }, crumbs),
    h('h1', {}, bucket),
    h('section', { class: 'card', 'aria-labelledby': 'obj-h' }, h('h2', { id: 'obj-h' }, 'Objects', prefix ? ' under ' + prefix : ''),
      table(['Key', 'Modified', 'Size ', 'ETag'], rows, 'No objects here.'),
      h('div', { class: 'inline' },
        cursor ? h('a', { href: here(prefix) }, 'First page') : null,
        list.next_cursor ? h('a', { href: here(prefix, list.next_cursor), id: 'next-page' }, 'Next page') : null)),
    h('section', { class: 'card', 'aria-labelledby': 'up-h' }, h('h2', { id: 'up-h' }, 'Upload'), upload),
    h('section', { class: 'card' }, h('h2', {}, 'Configuration'),
      h('div', { class: 'grid2' },
        h('div', {}, h('h2', {}, 'Event notifications'), cfg.notification ? pre(cfg.notification) : h('p', { class: 'muted' }, 'None.')),
        h('div', {}, h('h2', {}, 'Lifecycle'), cfg.lifecycle ? pre(cfg.lifecycle) : h('p', { class: 'muted' }, 'None.')),
        h('div', {}, h('h2', {}, 'CORS'), cfg.cors ? pre(cfg.cors) : h('p', { class: 'muted' }, 'None.')),
        h('div', {}, h('h2', {}, 'Tags'), cfg.tags ? pre(cfg.tags) : h('p', { class: 'muted' }, 'None.')))));
}

async function pageObject(bucket, params) {
  const key = params.get('key') || '';
  const o = await api('GET', '/buckets/' + q(bucket) + '/object?key=' + q(key));
  const slash = key.lastIndexOf('/');
  const parent = slash >= 0 ? key.slice(0, slash + 1) : '';
  const back = '#/bucket/' + q(bucket) + '?prefix=' + q(parent);
  render(
    h('div', { class: 'crumbs' }, h('a', { href: '#/buckets' }, 'Buckets'), ' / ', h('a', { href: back }, bucket), ' / ', h('span', {}, key)),
    h('h1', {}, key),
    h('div', { class: 'card' },
      table(['Property', 'Value'], [
        ['Size', fmtBytes(o.size) + ' (' + o.size + ' bytes)'],
        ['Modified', fmtTime(o.modified)],
        ['ETag', h('code', {}, o.etag)],
        ['Content type', o.content_type || '–'],
        ['Checksum', o.checksum ? pre(o.checksum) : '–'],
      ]),
      h('h2', {}, 'Metadata'), o.metadata && Object.keys(o.metadata).length ? table(['Name', 'Value'], Object.entries(o.metadata)) : h('p', { class: 'muted' }, 'None.'),
      h('h2', {}, 'Tags'), o.tags && o.tags.length ? table(['Tag', 'Value'], o.tags.map((t) => [t[0], t[1]])) : h('p', { class: 'muted' }, 'None.'),
      h('h2', {}, 'Stored headers'), o.headers ? pre(o.headers) : h('p', { class: 'muted' }, 'None.'),
      h('div', { class: 'inline' },
        o.download_url ? h('a', { href: o.download_url, download: key.slice(slash + 1) || 'object', id: 'download' }, 'Download') : null,
        confirmButton('Delete', 'Delete ' + key + '?', () => guarded(async () => {
          const { url } = await api('POST', '/buckets/' + q(bucket) + '/delete-url', { key });
          const res = await fetch(url, { method: 'DELETE' });
          if (!res.ok) throw new Error('Delete failed: ' + res.status);
          status('Deleted ' + key + '.');
          location.hash = back;
        })))));
}

function prettyJson(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return String(text); }
}
function arnName(arn) { return String(arn || '').split(':').pop(); }

async function pageTopics() {
  const { topics, subscriptions } = await api('GET', '/topics');
  const byTopic = {};
  for (const s of subscriptions) (byTopic[s.TopicArn] = byTopic[s.TopicArn] || []).push(s);
  render(h('h1', {}, 'Topics'),
    table(['Topic', 'Subscriptions'], topics.map((t) => [
      h('div', {}, h('strong', {}, arnName(t.TopicArn)), h('div', { class: 'muted' }, t.TopicArn)),
      (byTopic[t.TopicArn] || []).length
        ? table(['Protocol', 'Endpoint', 'Subscription'], byTopic[t.TopicArn].map((s) => [
          s.Protocol, s.Protocol === 'sqs' ? h('a', { href: '#/queue/' + q(arnName(s.Endpoint)) }, s.Endpoint) : s.Endpoint,
          h('code', {}, s.SubscriptionArn === 'PendingConfirmation' ? 'pending confirmation' : arnName(s.SubscriptionArn))]))
        : h('span', { class: 'muted' }, 'none'),
    ]), 'No topics.'));
}

async function pageRules() {
  const { buses } = await api('GET', '/rules');
  render(h('h1', {}, 'Event rules'),
    buses.map((b) => h('section', { class: 'card', 'aria-label': 'Event bus ' + b.name },
      h('h2', {}, 'Bus ', b.name),
      table(['Rule', 'State', 'Pattern or schedule', 'Targets'], b.rules.map((r) => [
        h('strong', {}, r.Name), r.State || '',
        r.EventPattern ? pre(prettyJson(r.EventPattern)) : (r.ScheduleExpression || ''),
        r.targets.length ? h('ul', {}, r.targets.map((t) => h('li', {}, h('code', {}, t.Id), ' → ',
          t.Arn && t.Arn.startsWith('arn:aws:sqs:') ? h('a', { href: '#/queue/' + q(arnName(t.Arn)) }, t.Arn) : t.Arn)))
          : h('span', { class: 'muted' }, 'none'),
      ]), 'No rules on this bus.'))));
}

async function pageJobs(params) {
  const st = params.get('status') || '', ty = params.get('type') || '';
  const out = await api('GET', '/jobs?status=' + q(st) + '&type=' + q(ty));
  const form = h('form', { class: 'inline', onsubmit: (e) => {
    e.preventDefault();
    location.hash = '#/jobs?status=' + q(e.target.status.value) + '&type=' + q(e.target.type.value);
  } },
  h('div', {}, h('label', { for: 'job-status' }, 'Status'),
    h('select', { id: 'job-status', name: 'status' }, ['', 'queued', 'running', 'succeeded', 'failed'].map((s) => h('option', { value: s, selected: s === st }, s || 'any')))),
  h('div', {}, h('label', { for: 'job-type' }, 'Type'), h('input', { id: 'job-type', name: 'type', value: ty })),
  h('button', { type: 'submit' }, 'Filter'));
  render(h('h1', {}, 'Jobs'), form,
    table(['Job', 'Type', 'Status', 'Attempts ', 'Created', 'Error'], out.jobs.map((j) => [
      h('a', { href: '#/job/' + q(j.id) }, j.id), j.type, h('span', { class: 'st-' + j.status }, j.status), num(j.attempts), fmtTime(j.created), j.error || '',
    ]), 'No jobs.'));
}

async function pageJob(id) {
  const j = await api('GET', '/jobs/' + q(id));
  render(h('div', { class: 'crumbs' }, h('a', { href: '#/jobs' }, 'Jobs'), ' / ', h('span', {}, id)),
    h('h1', {}, 'Job ', h('code', {}, id)),
    h('div', { class: 'cards' }, stat('Type', j.type), stat('Status', j.status), stat('Attempts', String(j.attempts))),
    h('section', { class: 'card' }, h('h2', {}, 'Timeline'),
      h('ol', { class: 'timeline' }, j.timeline.map((t) => h('li', {}, h('strong', { class: 'st-' + t.event }, t.event), ' ', t.at,
        t.attempt ? ' (attempt ' + t.attempt + ')' : '', t.error ? h('div', { class: 'error' }, t.error) : null)))),
    j.result ? h('section', { class: 'card' }, h('h2', {}, 'Output'),
      h('a', { href: '#/object/' + q(j.result.bucket) + '?key=' + q(j.result.key || '') }, j.result.bucket + '/' + (j.result.key || ''))) : null);
}

async function pageDashboards(name) {
  const { dashboards } = await api('GET', '/dashboards');
  name = name || dashboards[0];
  const d = await api('GET', '/dashboards/' + q(name));
  const grid = h('div', { class: 'grid2', id: 'dash' });
  render(h('h1', {}, 'Dashboards'),
    h('div', { class: 'inline' }, h('div', {}, h('label', { for: 'dash-pick' }, 'Dashboard'),
      h('select', { id: 'dash-pick', onchange: (e) => { location.hash = '#/dashboards/' + q(e.target.value); } },
        dashboards.map((n) => h('option', { value: n, selected: n === name }, n))))),
    grid);
  async function draw() {
    const nodes = [];
    for (const w of d.body.widgets || []) {
      if (w.type === 'text') nodes.push(h('div', { class: 'card' }, pre((w.properties && w.properties.markdown) || '')));
      else if (w.type === 'metric') nodes.push(await metricChart((w.properties && w.properties.title) || 'metrics', widgetQueries(w.properties || {}), 3));
    }
    grid.replaceChildren(...nodes);
  }
  await draw();
  every(60000, () => guarded(draw));
}

async function pageLogs(params) {
  const { logGroups } = await api('GET', '/log-groups');
  const group = params.get('group') || (logGroups[0] && logGroups[0].logGroupName) || '';
  const filter = params.get('filter') || '';
  const minutes = params.get('minutes') || '60';
  const out = h('div', {});
  const form = h('form', { class: 'inline', onsubmit: (e) => {
    e.preventDefault();
    const f = e.target;
    location.hash = '#/logs?group=' + q(f.group.value) + '&filter=' + q(f.filter.value) + '&minutes=' + q(f.minutes.value);
  } },
  h('div', {}, h('label', { for: 'log-group' }, 'Log group'),
    h('select', { id: 'log-group', name: 'group' }, logGroups.map((g) => h('option', { value: g.logGroupName, selected: g.logGroupName === group }, g.logGroupName)))),
  h('div', {}, h('label', { for: 'log-filter' }, 'Filter pattern'), h('input', { id: 'log-filter', name: 'filter', value: filter })),
  h('div', {}, h('label', { for: 'log-min' }, 'Minutes'), h('input', { id: 'log-min', name: 'minutes', type: 'number', min: 1, value: minutes })),
  h('button', { type: 'submit' }, 'Show'));
  render(h('h1', {}, 'Logs'), form, out);
  async function tail() {
    if (!group) { out.replaceChildren(h('p', { class: 'muted' }, 'No log groups.')); return; }
    const r = await api('GET', '/logs?group=' + q(group) + '&filter=' + q(filter) + '&minutes=' + q(minutes));
    const ev = (r.events || []).slice(-200).reverse();
    out.replaceChildren(table(['Time', 'Stream', 'Message'], ev.map((e) => [fmtTime(e.timestamp), e.logStreamName, pre(e.message)]), 'No events in this range.'));
  }
  await tail();
  every(5000, () => guarded(tail));
}

// --- routing ---------------------------------------------------------------------------------

async function route() {
  if (!csrf) return;
  timers.forEach(clearInterval);
  timers = [];
  const hash = location.hash.slice(1) || '/overview';
  const [path, query] = hash.split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').slice(1).map(decodeURIComponent);
  document.querySelectorAll('#nav a').forEach((a) => {
    if (a.getAttribute('href') === '#/' + parts[0] || (a.getAttribute('href') === '#/queues' && parts[0] === 'queue') ||
        (a.getAttribute('href') === '#/buckets' && (parts[0] === 'bucket' || parts[0] === 'object')) ||
        (a.getAttribute('href') === '#/jobs' && parts[0] === 'job')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  const pages = {
    overview: () => pageOverview(),
    queues: () => pageQueues(),
    queue: () => pageQueue(parts[1]),
    buckets: () => pageBuckets(),
    bucket: () => pageBucket(parts[1], params),
    object: () => pageObject(parts[1], params),
    topics: () => pageTopics(),
    rules: () => pageRules(),
    jobs: () => pageJobs(params),
    job: () => pageJob(parts[1]),
    dashboards: () => pageDashboards(parts[1]),
    logs: () => pageLogs(params),
  };
  const page = pages[parts[0]] || pages.overview;
  await guarded(page);
  const h1 = view().querySelector('h1');
  if (h1) document.title = h1.textContent + ' · tweedle console';
}

window.addEventListener('hashchange', route);
document.addEventListener('DOMContentLoaded', async () => {
  document.getElementById('login-keys').addEventListener('submit', (e) => {
    e.preventDefault();
    const f = e.target;
    login({ access_key_id: f.access_key_id.value.trim(), secret_access_key: f.secret_access_key.value });
    f.secret_access_key.value = '';
  });
  document.getElementById('login-apikey').addEventListener('submit', (e) => {
    e.preventDefault();
    login({ api_key: e.target.api_key.value.trim() });
    e.target.api_key.value = '';
  });
  document.getElementById('logout').addEventListener('click', () => guarded(async () => {
    await api('POST', '/logout', {});
    showLogin();
  }));
  try {
    const s = await fetch(API + '/session', { credentials: 'same-origin' });
    if (s.ok) loggedIn(await s.json());
    else showLogin();
  } catch (e) {
    showLogin();
  }
});
