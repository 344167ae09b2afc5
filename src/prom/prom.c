/* The Prometheus endpoint (see prom.h). */
#include "prom/prom.h"

#include <math.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "core/buf.h"
#include "core/clock.h"
#include "gateway/gateway.h"
#include "http/server.h"
#include "sns/sns.h"
#include "sqs/sqs.h"
#include "store/store.h"

/* request latency, seconds */
static const double k_lat[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                               0.25,   0.5,   1,      2.5,   5,    10,    30};
#define NLAT (sizeof k_lat / sizeof *k_lat)
/* store batch duration, seconds */
static const double k_commit[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                  0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
#define NCOMMIT (sizeof k_commit / sizeof *k_commit)
/* store batch size, operations */
static const double k_ops[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};
#define NOPS (sizeof k_ops / sizeof *k_ops)

typedef struct {
  char svc[32], op[64];
  int used;
  int codes[TW_PROM_MAX_CODES]; /* 0: the "other" slot when full */
  uint64_t code_counts[TW_PROM_MAX_CODES + 1];
  int ncodes;
  uint64_t lat[NLAT + 1]; /* per bucket (not cumulative); last: above every bound */
  double lat_sum;
  uint64_t count, bytes_in, bytes_out;
} opstat;

#define SLOTS 8192 /* open addressing; more than MAX_SERVICES * (MAX_OPS + 1) */
#define MAX_SERVICES 32

static struct {
  pthread_mutex_t mu;
  opstat *ops; /* SLOTS */
  size_t nops;
  struct {
    char name[32];
    size_t ops;
  } svcs[MAX_SERVICES];
  size_t nsvcs;
  uint64_t commit_b[NCOMMIT + 1], ops_b[NOPS + 1];
  double commit_sum, ops_sum;
  uint64_t commits, commit_failures;
  double started;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void (*prev_batch)(double seconds, size_t ops, int ok);

static uint64_t hash2(const char *a, const char *b) {
  uint64_t h = 1469598103934665603ull;
  for (; *a; a++) h = (h ^ (unsigned char)*a) * 1099511628211ull;
  h = (h ^ 0xff) * 1099511628211ull;
  for (; *b; b++) h = (h ^ (unsigned char)*b) * 1099511628211ull;
  return h;
}

/* Under g.mu: the slot of (svc, op), made when there is room. */
static opstat *slot(const char *svc, const char *op, int create) {
  size_t i = hash2(svc, op) % SLOTS;
  for (size_t k = 0; k < SLOTS; k++, i = (i + 1) % SLOTS) {
    opstat *s = &g.ops[i];
    if (!s->used) {
      if (!create) return NULL;
      snprintf(s->svc, sizeof s->svc, "%s", svc);
      snprintf(s->op, sizeof s->op, "%s", op);
      s->used = 1;
      g.nops++;
      return s;
    }
    if (!strcmp(s->svc, svc) && !strcmp(s->op, op)) return s;
  }
  return NULL;
}

static void bucket(uint64_t *b, const double *bounds, size_t n, double v) {
  size_t i = 0;
  while (i < n && v > bounds[i]) i++;
  b[i]++;
}

static void request_done(const tw_request *r, double ms) {
  if (!g.ops) return;
  const char *svc = r->service && r->service->name ? r->service->name : "none";
  char op[64];
  snprintf(op, sizeof op, "%s", r->action[0] ? r->action : "none");
  int status = r->status ? r->status : 499;
  uint64_t in = r->body.len;
  if (!in) {
    const char *cl = tw_req_header(r, "Content-Length");
    if (cl) in = strtoull(cl, NULL, 10);
  }
  pthread_mutex_lock(&g.mu);
  opstat *s = slot(svc, op, 0);
  if (!s) { /* a new operation: counted by name while its service has room */
    size_t i = 0;
    while (i < g.nsvcs && strcmp(g.svcs[i].name, svc)) i++;
    if (i == g.nsvcs && i < MAX_SERVICES) {
      snprintf(g.svcs[i].name, sizeof g.svcs[i].name, "%s", svc);
      g.nsvcs++;
    }
    if (i < g.nsvcs && g.svcs[i].ops < TW_PROM_MAX_OPS && (s = slot(svc, op, 1))) g.svcs[i].ops++;
    if (!s) s = slot(i < g.nsvcs ? svc : "other", "other", 1);
  }
  if (s) {
    int k = 0;
    while (k < s->ncodes && s->codes[k] != status) k++;
    if (k == s->ncodes && s->ncodes < TW_PROM_MAX_CODES) s->codes[s->ncodes++] = status;
    s->code_counts[k < s->ncodes ? k : TW_PROM_MAX_CODES]++;
    bucket(s->lat, k_lat, NLAT, ms / 1000.0);
    s->lat_sum += ms / 1000.0;
    s->count++;
    s->bytes_in += in;
    s->bytes_out += r->bytes_out;
  }
  pthread_mutex_unlock(&g.mu);
}

static void batch_done(double seconds, size_t ops, int ok) {
  if (prev_batch) prev_batch(seconds, ops, ok);
  pthread_mutex_lock(&g.mu);
  bucket(g.commit_b, k_commit, NCOMMIT, seconds);
  bucket(g.ops_b, k_ops, NOPS, (double)ops);
  g.commit_sum += seconds;
  g.ops_sum += (double)ops;
  g.commits++;
  if (!ok) g.commit_failures++;
  pthread_mutex_unlock(&g.mu);
}

static void setup_locked(void) {
  if (!g.ops) g.ops = calloc(SLOTS, sizeof *g.ops);
  if (!g.started) g.started = (double)time(NULL);
}

void tw_prom_install_store(void) {
  pthread_mutex_lock(&g.mu);
  setup_locked();
  if (tw_store_batch_hook != batch_done) {
    prev_batch = tw_store_batch_hook;
    tw_store_batch_hook = batch_done;
  }
  pthread_mutex_unlock(&g.mu);
}

void tw_prom_install_http(void) {
  pthread_mutex_lock(&g.mu);
  setup_locked();
  tw_http_observe_requests(request_done);
  pthread_mutex_unlock(&g.mu);
}

/* --- rendering --------------------------------------------------------------- */

static void label(tw_buf *b, const char *v) {
  for (; *v; v++) {
    if (*v == '\\')
      tw_buf_puts(b, "\\\\");
    else if (*v == '"')
      tw_buf_puts(b, "\\\"");
    else if (*v == '\n')
      tw_buf_puts(b, "\\n");
    else
      tw_buf_putc(b, *v);
  }
}

/* The shortest form that reads back as the same double. */
static void num(tw_buf *b, double v) {
  if (isinf(v)) {
    tw_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    return;
  }
  if (v == floor(v) && fabs(v) < 1e15) {
    tw_buf_printf(b, "%.0f", v);
    return;
  }
  char s[40];
  for (int p = 6; p <= 17; p++) {
    snprintf(s, sizeof s, "%.*g", p, v);
    if (strtod(s, NULL) == v) break;
  }
  tw_buf_puts(b, s);
}

static void head(tw_buf *b, const char *name, const char *type, const char *help) {
  tw_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name_bucket{labels,le=...} lines, then _sum and _count. labels: "" or
 * `a="x",b="y"` (already escaped). */
static void histogram(tw_buf *b, const char *name, const char *labels, const uint64_t *bk,
                      const double *bounds, size_t n, double sum) {
  uint64_t cum = 0;
  const char *sep = labels[0] ? "," : "";
  for (size_t i = 0; i <= n; i++) {
    cum += bk[i];
    tw_buf_printf(b, "%s_bucket{%s%sle=\"", name, labels, sep);
    num(b, i < n ? bounds[i] : INFINITY);
    tw_buf_printf(b, "\"} %llu\n", (unsigned long long)cum);
  }
  tw_buf_printf(b, "%s_sum%s%s%s ", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "");
  num(b, sum);
  tw_buf_printf(b, "\n%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels,
                labels[0] ? "}" : "", (unsigned long long)cum);
}

static int by_name(const void *a, const void *b) {
  const opstat *x = *(opstat *const *)a, *y = *(opstat *const *)b;
  int c = strcmp(x->svc, y->svc);
  return c ? c : strcmp(x->op, y->op);
}

typedef struct {
  char *name;
  long long visible, in_flight, delayed;
} qrow;

typedef struct {
  qrow *rows;
  size_t n;
  qrow other;
  int have_other;
} qset;

static void gauge_cb(void *ud, const char *name, int visible, int in_flight, int delayed) {
  qset *q = ud;
  if (q->n < TW_PROM_MAX_QUEUES) {
    q->rows[q->n++] = (qrow){strdup(name), visible, in_flight, delayed};
  } else {
    q->have_other = 1;
    q->other.visible += visible;
    q->other.in_flight += in_flight;
    q->other.delayed += delayed;
  }
}

static int qcmp(const void *a, const void *b) {
  return strcmp(((const qrow *)a)->name, ((const qrow *)b)->name);
}

/* The job API: counters and the run-time histogram per job type (at most
 * TW_JOBS_METRIC_TYPES types by name, then "other"), jobs per status. */
typedef struct {
  tw_jobs_type_stats *v;
  char (*names)[72];
  size_t n;
} jobs_snap;

static void jobs_cb(void *ud, const tw_jobs_type_stats *s) {
  jobs_snap *j = ud;
  if (j->n > TW_JOBS_METRIC_TYPES) return;
  snprintf(j->names[j->n], sizeof j->names[j->n], "%s", s->type);
  j->v[j->n] = *s;
  j->v[j->n].type = j->names[j->n];
  j->v[j->n].iv_dur = NULL;
  j->n++;
}

static void render_jobs(tw_buf *b) {
  int64_t st[4];
  if (tw_jobs_status_counts(st)) return; /* the job API is not running */
  tw_jobs_type_stats v[TW_JOBS_METRIC_TYPES + 1];
  char names[TW_JOBS_METRIC_TYPES + 1][72];
  jobs_snap j = {v, names, 0};
  tw_jobs_metrics(0, jobs_cb, &j);
  head(b, "tweedle_jobs_submitted_total", "counter", "Jobs accepted by POST /jobs, by job type.");
  for (size_t i = 0; i < j.n; i++) {
    tw_buf_puts(b, "tweedle_jobs_submitted_total{type=\"");
    label(b, v[i].type);
    tw_buf_printf(b, "\"} %llu\n", (unsigned long long)v[i].submitted);
  }
  head(b, "tweedle_jobs_finished_total", "counter",
       "Job attempts that ended, by job type and outcome (succeeded, failed).");
  for (size_t i = 0; i < j.n; i++)
    for (int k = 0; k < 2; k++) {
      tw_buf_puts(b, "tweedle_jobs_finished_total{type=\"");
      label(b, v[i].type);
      tw_buf_printf(b, "\",outcome=\"%s\"} %llu\n", k ? "failed" : "succeeded",
                    (unsigned long long)(k ? v[i].failed : v[i].succeeded));
    }
  head(b, "tweedle_job_duration_seconds", "histogram",
       "Run time of finished job attempts (start to complete or fail), by job type.");
  tw_buf lb;
  tw_buf_init(&lb, 1024);
  for (size_t i = 0; i < j.n; i++) {
    lb.len = 0;
    tw_buf_puts(&lb, "type=\"");
    label(&lb, v[i].type);
    tw_buf_putc(&lb, '"');
    histogram(b, "tweedle_job_duration_seconds", tw_buf_cstr(&lb), v[i].dur_b, tw_jobs_prom_bounds,
              TW_JOBS_PROM_NB, v[i].dur_sum_s);
  }
  tw_buf_free(&lb);
  head(b, "tweedle_jobs", "gauge", "Jobs in the jobs table, by status.");
  const char *statuses[] = {"queued", "running", "succeeded", "failed"};
  for (int k = 0; k < 4; k++)
    tw_buf_printf(b, "tweedle_jobs{status=\"%s\"} %lld\n", statuses[k], (long long)st[k]);
}

static void render(tw_request *r, tw_buf *b) {
  tw_app *app = r->app;
  /* copy under the lock, write after */
  pthread_mutex_lock(&g.mu);
  opstat *snap = malloc((g.nops + 1) * sizeof *snap);
  size_t n = 0;
  for (size_t i = 0; snap && i < SLOTS; i++)
    if (g.ops[i].used) snap[n++] = g.ops[i];
  uint64_t commit_b[NCOMMIT + 1], ops_b[NOPS + 1];
  memcpy(commit_b, g.commit_b, sizeof commit_b);
  memcpy(ops_b, g.ops_b, sizeof ops_b);
  double commit_sum = g.commit_sum, ops_sum = g.ops_sum;
  uint64_t failures = g.commit_failures;
  pthread_mutex_unlock(&g.mu);
  opstat **v = malloc((n + 1) * sizeof *v);
  for (size_t i = 0; v && i < n; i++) v[i] = &snap[i];
  if (v)
    qsort(v, n, sizeof *v, by_name);
  else
    n = 0;

  head(b, "tweedle_http_requests_total", "counter",
       "HTTP requests answered, by service, operation and status code.");
  for (size_t i = 0; i < n; i++) {
    opstat *s = v[i];
    for (int k = 0; k <= TW_PROM_MAX_CODES; k++) {
      if (k < TW_PROM_MAX_CODES && k >= s->ncodes) continue;
      if (k == TW_PROM_MAX_CODES && !s->code_counts[k]) continue;
      tw_buf_puts(b, "tweedle_http_requests_total{service=\"");
      label(b, s->svc);
      tw_buf_puts(b, "\",operation=\"");
      label(b, s->op);
      if (k < TW_PROM_MAX_CODES)
        tw_buf_printf(b, "\",code=\"%d\"} %llu\n", s->codes[k],
                      (unsigned long long)s->code_counts[k]);
      else
        tw_buf_printf(b, "\",code=\"other\"} %llu\n", (unsigned long long)s->code_counts[k]);
    }
  }
  head(b, "tweedle_http_request_duration_seconds", "histogram",
       "Time from a request's first byte to its answer, by service and operation.");
  tw_buf lb;
  tw_buf_init(&lb, 4096);
  for (size_t i = 0; i < n; i++) {
    lb.len = 0;
    tw_buf_puts(&lb, "service=\"");
    label(&lb, v[i]->svc);
    tw_buf_puts(&lb, "\",operation=\"");
    label(&lb, v[i]->op);
    tw_buf_putc(&lb, '"');
    histogram(b, "tweedle_http_request_duration_seconds", tw_buf_cstr(&lb), v[i]->lat, k_lat, NLAT,
              v[i]->lat_sum);
  }
  head(b, "tweedle_http_request_bytes_total", "counter",
       "Request body bytes received, by service and operation.");
  for (size_t i = 0; i < n; i++) {
    tw_buf_puts(b, "tweedle_http_request_bytes_total{service=\"");
    label(b, v[i]->svc);
    tw_buf_puts(b, "\",operation=\"");
    label(b, v[i]->op);
    tw_buf_printf(b, "\"} %llu\n", (unsigned long long)v[i]->bytes_in);
  }
  head(b, "tweedle_http_response_bytes_total", "counter",
       "Response body bytes sent, by service and operation.");
  for (size_t i = 0; i < n; i++) {
    tw_buf_puts(b, "tweedle_http_response_bytes_total{service=\"");
    label(b, v[i]->svc);
    tw_buf_puts(b, "\",operation=\"");
    label(b, v[i]->op);
    tw_buf_printf(b, "\"} %llu\n", (unsigned long long)v[i]->bytes_out);
  }
  tw_buf_free(&lb);
  free(v);
  free(snap);
  head(b, "tweedle_http_requests_in_flight", "gauge",
       "Requests received and not yet answered (this scrape included).");
  tw_buf_printf(b, "tweedle_http_requests_in_flight %d\n", tw_http_active(app->http));

  if (app->sqs) {
    qset q = {.rows = malloc(TW_PROM_MAX_QUEUES * sizeof *q.rows)};
    if (q.rows) tw_sqs_gauges(app->sqs, gauge_cb, &q);
    qsort(q.rows, q.n, sizeof *q.rows, qcmp);
    const char *names[] = {"tweedle_sqs_messages_visible", "tweedle_sqs_messages_in_flight",
                           "tweedle_sqs_messages_delayed"};
    const char *helps[] = {"Messages available for retrieval, by queue.",
                           "Messages received and neither deleted nor visible again, by queue.",
                           "Messages sent with a delay that are not yet visible, by queue."};
    for (int k = 0; k < 3; k++) {
      head(b, names[k], "gauge", helps[k]);
      for (size_t i = 0; i <= q.n; i++) {
        qrow *x = i < q.n ? &q.rows[i] : (q.have_other ? &q.other : NULL);
        if (!x) continue;
        tw_buf_printf(b, "%s{queue=\"", names[k]);
        label(b, i < q.n ? x->name : "other");
        tw_buf_printf(b, "\"} %lld\n", k == 0 ? x->visible : k == 1 ? x->in_flight : x->delayed);
      }
    }
    for (size_t i = 0; i < q.n; i++) free(q.rows[i].name);
    free(q.rows);
  }

  if (app->sns) {
    tw_sns_stats st;
    tw_sns_get_stats(app->sns, &st);
    head(b, "tweedle_sns_messages_published_total", "counter",
         "Messages accepted by Publish, PublishBatch and the event bus.");
    tw_buf_printf(b, "tweedle_sns_messages_published_total %llu\n",
                  (unsigned long long)st.published);
    head(b, "tweedle_sns_deliveries_total", "counter",
         "Notification copies by outcome: delivered, retried (an attempt failed and was "
         "rescheduled), filtered, dead_lettered, dropped.");
    const char *oc[] = {"delivered", "retried", "filtered", "dead_lettered", "dropped"};
    uint64_t ov[] = {st.delivered, st.retried, st.filtered, st.dead_lettered, st.dropped};
    for (int k = 0; k < 5; k++)
      tw_buf_printf(b, "tweedle_sns_deliveries_total{outcome=\"%s\"} %llu\n", oc[k],
                    (unsigned long long)ov[k]);
  }
  render_jobs(b);
  head(b, "tweedle_store_commit_duration_seconds", "histogram",
       "Time the store's writer took per batch, from BEGIN to COMMIT (fsync included).");
  histogram(b, "tweedle_store_commit_duration_seconds", "", commit_b, k_commit, NCOMMIT,
            commit_sum);
  head(b, "tweedle_store_commit_batch_operations", "histogram",
       "Operations per store batch (group commit).");
  histogram(b, "tweedle_store_commit_batch_operations", "", ops_b, k_ops, NOPS, ops_sum);
  head(b, "tweedle_store_commit_failures_total", "counter", "Store batches that failed.");
  tw_buf_printf(b, "tweedle_store_commit_failures_total %llu\n", (unsigned long long)failures);
  head(b, "tweedle_process_start_time_seconds", "gauge",
       "When the server started, seconds since the epoch.");
  tw_buf_puts(b, "tweedle_process_start_time_seconds ");
  num(b, g.started);
  tw_buf_putc(b, '\n');
}

/* --- the route ----------------------------------------------------------------- */

static void text_error(tw_request *r, int status, const char *msg) {
  tw_req_respond(r, status, "text/plain; charset=utf-8", msg, strlen(msg));
}

static void prom_error(tw_request *r, tw_err e, const char *msg) {
  const tw_err_info *info = tw_err_get(e);
  text_error(r, info->http_status, msg && *msg ? msg : info->message);
}

static int allowed(tw_request *r) {
  const tw_config *cfg = &r->app->cfg;
  if (cfg->metrics_public) return 1;
  const char *auth = tw_req_header(r, "Authorization");
  if (!auth) return 0;
  if (!strncasecmp(auth, "Bearer ", 7)) {
    const char *t = auth + 7;
    size_t n = strlen(t), m = strlen(cfg->metrics_token);
    return m && n == m && CRYPTO_memcmp(t, cfg->metrics_token, n) == 0;
  }
  char msg[512];
  return tw_req_authenticate(r, msg, sizeof msg) == TW_ERR_OK;
}

static void serve(tw_request *r) {
  snprintf(r->action, sizeof r->action, "Metrics");
  if (strcmp(r->path, "/_/metrics")) {
    text_error(r, 404, "No such route.\n");
    return;
  }
  if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD")) {
    text_error(r, 405, "GET /_/metrics\n");
    tw_req_add_header(r, "Allow", "GET, HEAD");
    return;
  }
  if (!allowed(r)) {
    text_error(r, 401,
               "GET /_/metrics needs 'Authorization: Bearer <--metrics-token>' or a SigV4 "
               "signature (or the server's --metrics-public).\n");
    tw_req_add_header(r, "WWW-Authenticate", "Bearer realm=\"tweedle metrics\"");
    return;
  }
  tw_buf b;
  tw_buf_init(&b, 64u << 20);
  render(r, &b);
  if (b.overflow) {
    tw_buf_free(&b);
    text_error(r, 500, "The metrics do not fit in one answer.\n");
    return;
  }
  size_t len;
  char *body = tw_buf_detach(&b, &len);
  tw_req_respond_owned(r, 200, "text/plain; version=0.0.4; charset=utf-8", body, len);
}

const tw_service tw_prom_service = {
    .name = "metrics",
    .path_prefix = "/_/metrics",
    .serve = serve,
    .error = prom_error,
};
