/* The built-in metrics: AWS/SQS per QueueName, AWS/S3 per BucketName
 * (request metrics with FilterId=EntireBucket, and the storage metrics),
 * AWS/SNS per TopicName, AWS/ApiGateway (ApiName=tweedle, and per fixed
 * route with Resource, Method, Stage), tweedle/Jobs (per JobType and in
 * total, and jobs per Status) and tweedle/Store (commit latency, batch size),
 * published into the metrics engine every --metrics-interval seconds
 * (default 60; 0: off, neither the publisher nor the S3 / gateway request
 * hook runs, for measuring what they cost). The worker's tweedle/Worker metrics come from the
 * worker itself (src/worker/wmetrics.c).
 *
 * Counting happens at the source and costs next to nothing: the SQS and SNS
 * engines bump per-queue / per-topic counters under the lock they already
 * hold (sqs_metrics.c, sns_metrics.c; cluster mode's SQS: each node its own,
 * sqs_pg_metrics.c, and their Sums add up over the nodes); S3 requests are counted from the HTTP
 * server's request-finished hook (the service, the operation name, status,
 * latency and bytes of every request) into per-bucket counters here, and so
 * are gateway requests, per route (their IntegrationLatency from
 * r->t_handler, set when the gateway hands a request to its route). Jobs are
 * counted by the job API (tw_jobs_metrics), store batches by the store
 * writer's batch hook. The publisher sweeps all of them into one
 * tw_metrics_put per namespace and interval. */
#include "monitoring/builtin.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/map.h"
#include "gateway/gateway.h"
#include "http/service.h"
#include "monitoring/metrics.h"
#include "sns/sns.h"
#include "sqs/sqs.h"
#include "sqs/sqs_pg.h"
#include "store/s3_buckets.h"
#include "store/s3_objects.h"
#include "store/pg_cw.h"
#include "store/pg_state.h"
#include "store/store.h"

#define MAX_BUCKETS 10000 /* buckets counted per interval (more: not counted) */
#define LAT_MIN_K (-700)  /* latency buckets: 1.01^k ms, k in [LAT_MIN_K, LAT_MAX_K] */
#define LAT_MAX_K 1400
#define LAT_N TW_BUILTIN_LAT_N

int tw_builtin_lat_bucket(double v) {
  int k = v > 0 ? (int)lround(log(v) / log(1.01)) : LAT_MIN_K;
  if (k < LAT_MIN_K) k = LAT_MIN_K;
  if (k > LAT_MAX_K) k = LAT_MAX_K;
  return k - LAT_MIN_K;
}

double tw_builtin_lat_value(int i) {
  return pow(1.01, i + LAT_MIN_K);
}

typedef struct {
  uint64_t all, get, put, del, head, list, post, e4, e5;
  double down, up;
  uint32_t *lat; /* LAT_N counts: TotalRequestLatency */
  uint32_t *fb;  /* LAT_N counts: FirstByteLatency */
} s3_counts;

/* AWS/ApiGateway: the gateway's fixed routes (method, resource under
 * /_/api/v1, as the gateway names its requests in r->action); every other
 * request (unknown paths, OPTIONS) counts in the ApiName total only. */
static const char *const gw_routes[][2] = {
    {"POST", "/presign"},
    {"GET", "/apikeys"},
    {"POST", "/apikeys"},
    {"GET", "/apikeys/{id}"},
    {"DELETE", "/apikeys/{id}"},
    {"GET", "/access-log"},
    {"POST", "/jobs"},
    {"GET", "/jobs"},
    {"GET", "/jobs/{id}"},
    {"POST", "/jobs/{id}/start"},
    {"POST", "/jobs/{id}/complete"},
    {"POST", "/jobs/{id}/fail"},
};
#define GW_ROUTES (sizeof gw_routes / sizeof gw_routes[0])
#define GW_API_NAME "tweedle"
#define GW_STAGE "v1"

typedef struct {
  uint64_t count, e4, e5, integrations;
  uint32_t *lat, *ilat; /* LAT_N counts each, allocated on first use */
} gw_counts;

/* tweedle/Store: the store writer's batches (its hook) */
#define OPS_EXACT 4096 /* batch sizes below are counted exactly, above in buckets */
static struct {
  pthread_mutex_t mu;
  uint64_t commits, failures;
  uint32_t *lat;     /* LAT_N: commit latency, ms */
  uint32_t *ops;     /* OPS_EXACT: batch sizes */
  uint32_t *ops_big; /* LAT_N: batch sizes >= OPS_EXACT */
  void (*prev)(double seconds, size_t ops, int ok);
  int installed;
} g_store = {.mu = PTHREAD_MUTEX_INITIALIZER};

struct tw_builtin {
  tw_app *app;
  int interval_s;
  int off; /* --metrics-interval 0: no publisher thread, no request hook */
  int storage_every_s;
  int64_t next_storage_ms;
  pthread_t thread;
  pthread_mutex_t mu; /* the thread's sleep */
  pthread_cond_t cv;
  int stop;
  pthread_mutex_t s3_mu;       /* s3, gw */
  tw_map s3;                   /* bucket -> s3_counts */
  gw_counts gw[GW_ROUTES + 1]; /* per route; [GW_ROUTES]: the whole API */
  tw_pg_lead *lead;            /* cluster mode: the node that publishes the gauges */
};

static tw_builtin *g_builtin; /* the hook's target (one server per process) */

/* --- S3 requests, from the HTTP server's hook ------------------------------------------- */

static void bucket_of(const tw_request *r, char *out, size_t n) {
  out[0] = 0;
  const char *domain = r->app ? r->app->cfg.domain : "";
  const char *host = tw_req_header(r, "Host");
  if (domain && *domain && host) {
    size_t hl = strcspn(host, ":"), dl = strlen(domain);
    if (hl > dl + 1 && host[hl - dl - 1] == '.' && !strncasecmp(host + hl - dl, domain, dl)) {
      size_t bl = hl - dl - 1;
      if (bl >= n) bl = n - 1;
      memcpy(out, host, bl);
      out[bl] = 0;
      return;
    }
  }
  const char *p = r->path ? r->path : "";
  while (*p == '/') p++;
  size_t bl = strcspn(p, "/?");
  if (bl >= n) bl = n - 1;
  memcpy(out, p, bl);
  out[bl] = 0;
}

static void gw_note(gw_counts *c, int status, double ms, double ims) {
  c->count++;
  if (status >= 400 && status < 500) c->e4++;
  if (status >= 500) c->e5++;
  if (!c->lat) c->lat = calloc(LAT_N, sizeof *c->lat);
  if (c->lat) c->lat[tw_builtin_lat_bucket(ms)]++;
  if (ims >= 0) {
    c->integrations++;
    if (!c->ilat) c->ilat = calloc(LAT_N, sizeof *c->ilat);
    if (c->ilat) c->ilat[tw_builtin_lat_bucket(ims)]++;
  }
}

/* A gateway request: Latency from its first byte to its end, IntegrationLatency
 * from when its route's handler took it (authenticated, not throttled). */
static void on_gateway_request(tw_builtin *b, const tw_request *r, double ms) {
  int status = r->status ? r->status : 499;
  double ims = r->t_handler > 0 ? ms - (r->t_handler - r->t0) * 1000.0 : -1;
  if (r->t_handler > 0 && ims < 0) ims = 0;
  size_t route = GW_ROUTES;
  const char *sp = strchr(r->action, ' ');
  if (sp)
    for (size_t i = 0; i < GW_ROUTES; i++)
      if ((size_t)(sp - r->action) == strlen(gw_routes[i][0]) &&
          !strncmp(r->action, gw_routes[i][0], (size_t)(sp - r->action)) &&
          !strcmp(sp + 1, gw_routes[i][1])) {
        route = i;
        break;
      }
  pthread_mutex_lock(&b->s3_mu);
  gw_note(&b->gw[GW_ROUTES], status, ms, ims);
  if (route < GW_ROUTES) gw_note(&b->gw[route], status, ms, ims);
  pthread_mutex_unlock(&b->s3_mu);
}

static void on_request_done(const tw_request *r, double ms) {
  tw_builtin *b = g_builtin;
  if (!b || !r->service) return;
  if (!strcmp(r->service->name, "gateway")) {
    on_gateway_request(b, r, ms);
    return;
  }
  if (strcmp(r->service->name, "s3")) return;
  char bucket[256];
  bucket_of(r, bucket, sizeof bucket);
  if (!bucket[0] || bucket[0] == '_') return; /* the service itself, or /_/ */
  const char *op = r->action;
  int status = r->status ? r->status : 499;
  const char *cl = tw_req_header(r, "Content-Length");
  double up = (!strcmp(r->method, "PUT") || !strcmp(r->method, "POST")) && cl ? atof(cl) : 0;
  int k = tw_builtin_lat_bucket(ms) + LAT_MIN_K;
  /* FirstByteLatency, as AWS defines it: from the whole request being in to
   * the response starting (here: handed to the HTTP library), so the upload
   * and the body sent are not in it; never more than the total */
  int fbk = -1;
  if (r->t_received > 0 && r->t_queued > 0) {
    double fb = (r->t_queued - r->t_received) * 1000.0;
    fbk = tw_builtin_lat_bucket(fb < 0 ? 0 : fb > ms ? ms : fb);
  }
  pthread_mutex_lock(&b->s3_mu);
  s3_counts *c = tw_map_get(&b->s3, bucket);
  if (!c && b->s3.count < MAX_BUCKETS) {
    c = calloc(1, sizeof *c);
    if (c) tw_map_put(&b->s3, bucket, c);
  }
  if (c) {
    c->all++;
    if (!strcmp(op, "GetObject")) {
      c->get++;
      if (status < 300) c->down += (double)r->bytes_out;
    } else if (!strcmp(op, "HeadObject") || !strcmp(op, "HeadBucket")) {
      c->head++;
    } else if (!strcmp(op, "PutObject") || !strcmp(op, "UploadPart") || !strcmp(op, "CopyObject") ||
               !strcmp(op, "UploadPartCopy")) {
      c->put++;
    } else if (!strcmp(op, "DeleteObject") || !strcmp(op, "DeleteObjects")) {
      c->del++;
    } else if (!strncmp(op, "ListObject", 10) || !strcmp(op, "ListMultipartUploads") ||
               !strcmp(op, "ListParts")) {
      c->list++;
    } else if (!strcmp(r->method, "POST")) {
      c->post++;
    }
    if (status < 300) c->up += up;
    if (status >= 400 && status < 500) c->e4++;
    if (status >= 500) c->e5++;
    if (!c->lat) c->lat = calloc(LAT_N, sizeof *c->lat);
    if (c->lat) c->lat[k - LAT_MIN_K]++;
    if (fbk >= 0 && !c->fb) c->fb = calloc(LAT_N, sizeof *c->fb);
    if (fbk >= 0 && c->fb) c->fb[fbk]++;
  }
  pthread_mutex_unlock(&b->s3_mu);
}

/* --- datums -------------------------------------------------------------------------- */

typedef struct {
  char name[48];
  char dn[4][16], dv[4][264];
  int nd, unit;
  double *vals, *cnts; /* owned */
  size_t nv;
  tw_metric_statset st;
  int has_st;
} odatum;

typedef struct {
  odatum *d;
  size_t n, cap;
  const char *ns;
  int high_res; /* StorageResolution 1 */
} batch;

static odatum *add(batch *b, const char *name, const char *d1n, const char *d1v, const char *d2n,
                   const char *d2v, int unit) {
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 64;
    odatum *d = realloc(b->d, cap * sizeof *d);
    if (!d) return NULL;
    b->d = d;
    b->cap = cap;
  }
  odatum *o = &b->d[b->n++];
  memset(o, 0, sizeof *o);
  snprintf(o->name, sizeof o->name, "%s", name);
  o->unit = unit;
  if (!d1n) return o; /* no dimensions */
  snprintf(o->dn[0], sizeof o->dn[0], "%s", d1n);
  snprintf(o->dv[0], sizeof o->dv[0], "%s", d1v);
  o->nd = 1;
  if (d2n) {
    snprintf(o->dn[1], sizeof o->dn[1], "%s", d2n);
    snprintf(o->dv[1], sizeof o->dv[1], "%s", d2v);
    o->nd = 2;
  }
  o->unit = unit;
  return o;
}

static void add_value(batch *b, const char *name, const char *dn, const char *dv, double v,
                      int unit) {
  odatum *o = add(b, name, dn, dv, NULL, NULL, unit);
  if (!o) return;
  o->vals = malloc(sizeof *o->vals);
  if (o->vals) {
    o->vals[0] = v;
    o->nv = 1;
  }
}

static void add_stats(batch *b, const char *name, const char *dn, const char *dv, double count,
                      double sum, double min, double max, int unit) {
  odatum *o = add(b, name, dn, dv, NULL, NULL, unit);
  if (!o) return;
  o->st = (tw_metric_statset){count, sum, min, max};
  o->has_st = 1;
}

/* n values of one per request (counts): Sum and SampleCount are the number of
 * requests; 4xx/5xx add zeros for the rest, so Average is the error rate. */
static void add_requests(batch *b, const char *name, const char *bucket, double ones,
                         double zeros) {
  odatum *o = add(b, name, "BucketName", bucket, "FilterId", "EntireBucket", TW_UNIT_COUNT);
  if (!o) return;
  o->vals = malloc(2 * sizeof *o->vals);
  o->cnts = malloc(2 * sizeof *o->cnts);
  if (!o->vals || !o->cnts) return;
  o->vals[0] = 1;
  o->cnts[0] = ones;
  o->nv = 1;
  if (zeros > 0) {
    o->vals[1] = 0;
    o->cnts[1] = zeros;
    o->nv = 2;
  }
  if (ones == 0) { /* only zeros */
    o->vals[0] = 0;
    o->cnts[0] = zeros;
    o->nv = 1;
  }
}

static void put_batch(tw_builtin *b, batch *bt) {
  if (!bt->n) return;
  tw_metric_datum *d = calloc(bt->n, sizeof *d);
  tw_metric_dim *dims = calloc(bt->n * 4, sizeof *dims);
  if (d && dims) {
    double now = (double)tw_metrics_now_ms(b->app->metrics) / 1000.0;
    for (size_t i = 0; i < bt->n; i++) {
      odatum *o = &bt->d[i];
      for (int k = 0; k < o->nd; k++) dims[4 * i + k] = (tw_metric_dim){o->dn[k], o->dv[k]};
      d[i] = (tw_metric_datum){.ns = bt->ns,
                               .name = o->name,
                               .dims = &dims[4 * i],
                               .ndims = (size_t)o->nd,
                               .unit = o->unit,
                               .ts = now,
                               .high_res = bt->high_res,
                               .values = o->has_st ? NULL : o->vals,
                               .counts = o->has_st ? NULL : o->cnts,
                               .nvalues = o->has_st ? 0 : o->nv,
                               .stats = o->has_st ? &o->st : NULL};
    }
    uint64_t ticket;
    char msg[512];
    for (size_t i = 0; i < bt->n; i += TW_METRICS_MAX_DATUMS) {
      size_t n = bt->n - i < TW_METRICS_MAX_DATUMS ? bt->n - i : TW_METRICS_MAX_DATUMS;
      tw_err e = tw_metrics_put(b->app->metrics, d + i, n, &ticket, msg, sizeof msg);
      if (e != TW_ERR_OK)
        tw_warn("metrics: the built-in %s metrics were not kept: %s", bt->ns, msg);
    }
  }
  free(d);
  free(dims);
  for (size_t i = 0; i < bt->n; i++) {
    free(bt->d[i].vals);
    free(bt->d[i].cnts);
  }
  free(bt->d);
  bt->d = NULL;
  bt->n = bt->cap = 0;
}

/* A distribution kept in latency buckets (LAT_N counts) as datums of like
 * `t` (name, dimensions, unit), at most 150 values each. */
static void add_dist(batch *b, const odatum *t, const uint32_t *lat) {
  odatum *o = NULL;
  for (int k = 0; k < LAT_N; k++) {
    if (!lat[k]) continue;
    if (!o || o->nv == TW_METRICS_MAX_VALUES) {
      if (!(o = add(b, t->name, NULL, NULL, NULL, NULL, t->unit))) return;
      memcpy(o->dn, t->dn, sizeof o->dn);
      memcpy(o->dv, t->dv, sizeof o->dv);
      o->nd = t->nd;
      o->vals = malloc(TW_METRICS_MAX_VALUES * sizeof *o->vals);
      o->cnts = malloc(TW_METRICS_MAX_VALUES * sizeof *o->cnts);
      if (!o->vals || !o->cnts) return;
    }
    o->vals[o->nv] = tw_builtin_lat_value(k);
    o->cnts[o->nv] = lat[k];
    o->nv++;
  }
}

/* --- the sweeps ------------------------------------------------------------------------ */

/* A queue's counts (sent, received, deleted, empty receives, SentMessageSize). */
static void sqs_counts(batch *b, const char *q, const tw_sqs_queue_metrics *m) {
  add_value(b, "NumberOfMessagesSent", "QueueName", q, (double)m->sent, TW_UNIT_COUNT);
  add_value(b, "NumberOfMessagesReceived", "QueueName", q, (double)m->received, TW_UNIT_COUNT);
  add_value(b, "NumberOfMessagesDeleted", "QueueName", q, (double)m->deleted, TW_UNIT_COUNT);
  add_value(b, "NumberOfEmptyReceives", "QueueName", q, (double)m->empty_receives, TW_UNIT_COUNT);
  if (m->sent)
    add_stats(b, "SentMessageSize", "QueueName", q, (double)m->sent, m->size_sum, m->size_min,
              m->size_max, TW_UNIT_BYTES);
}

static void sqs_one(void *ud, const tw_sqs_queue_metrics *m) {
  batch *b = ud;
  const char *q = m->name;
  sqs_counts(b, q, m);
  add_value(b, "ApproximateNumberOfMessagesVisible", "QueueName", q, m->visible, TW_UNIT_COUNT);
  add_value(b, "ApproximateNumberOfMessagesNotVisible", "QueueName", q, m->not_visible,
            TW_UNIT_COUNT);
  add_value(b, "ApproximateNumberOfMessagesDelayed", "QueueName", q, m->delayed, TW_UNIT_COUNT);
  add_value(b, "ApproximateAgeOfOldestMessage", "QueueName", q, m->oldest_age_s, TW_UNIT_SECONDS);
  if (m->fifo)
    add_value(b, "ApproximateNumberOfGroupsWithInflightMessages", "QueueName", q,
              m->groups_inflight, TW_UNIT_COUNT);
}

static void sns_one(void *ud, const tw_sns_topic_metrics *m) {
  batch *b = ud;
  if (!m->published && !m->delivered && !m->failed) return;
  const char *t = m->name;
  add_value(b, "NumberOfMessagesPublished", "TopicName", t, (double)m->published, TW_UNIT_COUNT);
  add_value(b, "NumberOfNotificationsDelivered", "TopicName", t, (double)m->delivered,
            TW_UNIT_COUNT);
  add_value(b, "NumberOfNotificationsFailed", "TopicName", t, (double)m->failed, TW_UNIT_COUNT);
  if (m->published)
    add_stats(b, "PublishSize", "TopicName", t, (double)m->published, m->size_sum, m->size_min,
              m->size_max, TW_UNIT_BYTES);
}

static void sweep_s3(tw_builtin *b, batch *bt) {
  pthread_mutex_lock(&b->s3_mu);
  tw_map m = b->s3;
  tw_map_init(&b->s3);
  pthread_mutex_unlock(&b->s3_mu);
  const char *bucket;
  void *v;
  for (tw_map_entry *it = tw_map_next(&m, NULL, &bucket, &v); it;
       it = tw_map_next(&m, it, &bucket, &v)) {
    s3_counts *c = v;
    double all = (double)c->all;
    add_requests(bt, "AllRequests", bucket, all, 0);
    const char *names[] = {"GetRequests",  "PutRequests",  "DeleteRequests",
                           "HeadRequests", "ListRequests", "PostRequests"};
    uint64_t counts[] = {c->get, c->put, c->del, c->head, c->list, c->post};
    for (int i = 0; i < 6; i++)
      if (counts[i]) add_requests(bt, names[i], bucket, (double)counts[i], 0);
    if (c->get) {
      odatum *o = add(bt, "BytesDownloaded", "BucketName", bucket, "FilterId", "EntireBucket",
                      TW_UNIT_BYTES);
      if (o && (o->vals = malloc(sizeof *o->vals))) o->vals[0] = c->down, o->nv = 1;
    }
    if (c->up > 0) {
      odatum *o =
          add(bt, "BytesUploaded", "BucketName", bucket, "FilterId", "EntireBucket", TW_UNIT_BYTES);
      if (o && (o->vals = malloc(sizeof *o->vals))) o->vals[0] = c->up, o->nv = 1;
    }
    add_requests(bt, "4xxErrors", bucket, (double)c->e4, all - (double)c->e4);
    add_requests(bt, "5xxErrors", bucket, (double)c->e5, all - (double)c->e5);
    if (c->lat) {
      odatum t = {.nd = 2, .unit = TW_UNIT_MILLISECONDS};
      snprintf(t.name, sizeof t.name, "TotalRequestLatency");
      snprintf(t.dn[0], sizeof t.dn[0], "BucketName");
      snprintf(t.dv[0], sizeof t.dv[0], "%s", bucket);
      snprintf(t.dn[1], sizeof t.dn[1], "FilterId");
      snprintf(t.dv[1], sizeof t.dv[1], "EntireBucket");
      add_dist(bt, &t, c->lat);
      if (c->fb) {
        snprintf(t.name, sizeof t.name, "FirstByteLatency");
        add_dist(bt, &t, c->fb);
      }
    }
    free(c->lat);
    free(c->fb);
    free(c);
  }
  tw_map_free(&m);
}

typedef struct {
  tw_store *store;
  batch *bt;
} storage_ctx;

static int storage_one(void *ud, const tw_s3_bucket_row *row) {
  storage_ctx *x = ud;
  int64_t count = 0, bytes = 0;
  if (tw_store_s3_objects(x->store)->totals(x->store, row->name, &count, &bytes)) return 0;
  odatum *o = add(x->bt, "BucketSizeBytes", "BucketName", row->name, "StorageType",
                  "StandardStorage", TW_UNIT_BYTES);
  if (o && (o->vals = malloc(sizeof *o->vals))) o->vals[0] = (double)bytes, o->nv = 1;
  o = add(x->bt, "NumberOfObjects", "BucketName", row->name, "StorageType", "AllStorageTypes",
          TW_UNIT_COUNT);
  if (o && (o->vals = malloc(sizeof *o->vals))) o->vals[0] = (double)count, o->nv = 1;
  return 0;
}

/* --- AWS/ApiGateway ----------------------------------------------------------------------- */

/* A datum with ApiName, and with Resource, Method, Stage for a route. */
static odatum *gw_add(batch *bt, const char *name, size_t route, int unit) {
  odatum *o = add(bt, name, "ApiName", GW_API_NAME, NULL, NULL, unit);
  if (o && route < GW_ROUTES) {
    snprintf(o->dn[1], sizeof o->dn[1], "Resource");
    snprintf(o->dv[1], sizeof o->dv[1], "%s", gw_routes[route][1]);
    snprintf(o->dn[2], sizeof o->dn[2], "Method");
    snprintf(o->dv[2], sizeof o->dv[2], "%s", gw_routes[route][0]);
    snprintf(o->dn[3], sizeof o->dn[3], "Stage");
    snprintf(o->dv[3], sizeof o->dv[3], GW_STAGE);
    o->nd = 4;
  }
  return o;
}

/* ones of 1 and zeros of 0: Sum counts, Average is the rate (4XXError, 5XXError) */
static void set_ones(odatum *o, double ones, double zeros) {
  if (!o) return;
  o->vals = malloc(2 * sizeof *o->vals);
  o->cnts = malloc(2 * sizeof *o->cnts);
  if (!o->vals || !o->cnts) return;
  if (ones > 0) {
    o->vals[o->nv] = 1, o->cnts[o->nv] = ones, o->nv++;
  }
  if (zeros > 0 || ones == 0) {
    o->vals[o->nv] = 0, o->cnts[o->nv] = zeros, o->nv++;
  }
}

static void sweep_gateway(tw_builtin *b, batch *bt) {
  gw_counts c[GW_ROUTES + 1];
  pthread_mutex_lock(&b->s3_mu);
  memcpy(c, b->gw, sizeof c);
  memset(b->gw, 0, sizeof b->gw);
  pthread_mutex_unlock(&b->s3_mu);
  for (size_t i = 0; i <= GW_ROUTES; i++) {
    if (c[i].count) {
      double n = (double)c[i].count;
      odatum *o = gw_add(bt, "Count", i, TW_UNIT_COUNT);
      if (o && (o->vals = malloc(sizeof *o->vals))) o->vals[0] = n, o->nv = 1;
      set_ones(gw_add(bt, "4XXError", i, TW_UNIT_COUNT), (double)c[i].e4, n - (double)c[i].e4);
      set_ones(gw_add(bt, "5XXError", i, TW_UNIT_COUNT), (double)c[i].e5, n - (double)c[i].e5);
      odatum *t = gw_add(bt, "Latency", i, TW_UNIT_MILLISECONDS);
      if (t && c[i].lat) {
        odatum tmpl = *t;
        bt->n--; /* the template is not a datum */
        add_dist(bt, &tmpl, c[i].lat);
      } else if (t) {
        bt->n--;
      }
      if (c[i].ilat && (t = gw_add(bt, "IntegrationLatency", i, TW_UNIT_MILLISECONDS))) {
        odatum tmpl = *t;
        bt->n--;
        add_dist(bt, &tmpl, c[i].ilat);
      }
    }
    free(c[i].lat);
    free(c[i].ilat);
  }
}

/* --- tweedle/Store --------------------------------------------------------------------------- */

static void store_batch(double seconds, size_t ops, int ok) {
  pthread_mutex_lock(&g_store.mu);
  if (!g_store.lat) g_store.lat = calloc(LAT_N, sizeof *g_store.lat);
  if (!g_store.ops) g_store.ops = calloc(OPS_EXACT, sizeof *g_store.ops);
  g_store.commits++;
  if (!ok) g_store.failures++;
  if (g_store.lat) g_store.lat[tw_builtin_lat_bucket(seconds * 1000.0)]++;
  if (ops < OPS_EXACT) {
    if (g_store.ops) g_store.ops[ops]++;
  } else {
    if (!g_store.ops_big) g_store.ops_big = calloc(LAT_N, sizeof *g_store.ops_big);
    if (g_store.ops_big) g_store.ops_big[tw_builtin_lat_bucket((double)ops)]++;
  }
  void (*prev)(double, size_t, int) = g_store.prev;
  pthread_mutex_unlock(&g_store.mu);
  if (prev) prev(seconds, ops, ok);
}

void tw_builtin_install_store(void) {
  pthread_mutex_lock(&g_store.mu);
  if (!g_store.installed) {
    g_store.prev = tw_store_batch_hook;
    tw_store_batch_hook = store_batch;
    g_store.installed = 1;
  }
  pthread_mutex_unlock(&g_store.mu);
}

static void sweep_store(batch *bt) {
  pthread_mutex_lock(&g_store.mu);
  uint64_t commits = g_store.commits, failures = g_store.failures;
  uint32_t *lat = g_store.lat, *ops = g_store.ops, *big = g_store.ops_big;
  g_store.commits = g_store.failures = 0;
  g_store.lat = g_store.ops = g_store.ops_big = NULL;
  pthread_mutex_unlock(&g_store.mu);
  if (commits) {
    odatum t = {.unit = TW_UNIT_MILLISECONDS};
    snprintf(t.name, sizeof t.name, "CommitLatency");
    if (lat) add_dist(bt, &t, lat);
    odatum *o = NULL;
    for (size_t k = 0; ops && k < OPS_EXACT; k++) {
      if (!ops[k]) continue;
      if (!o || o->nv == TW_METRICS_MAX_VALUES) {
        if (!(o = add(bt, "BatchSize", NULL, NULL, NULL, NULL, TW_UNIT_COUNT))) break;
        o->vals = malloc(TW_METRICS_MAX_VALUES * sizeof *o->vals);
        o->cnts = malloc(TW_METRICS_MAX_VALUES * sizeof *o->cnts);
        if (!o->vals || !o->cnts) break;
      }
      o->vals[o->nv] = (double)k;
      o->cnts[o->nv] = ops[k];
      o->nv++;
    }
    if (big) {
      odatum tb = {.unit = TW_UNIT_COUNT};
      snprintf(tb.name, sizeof tb.name, "BatchSize");
      add_dist(bt, &tb, big);
    }
    o = add(bt, "CommitFailures", NULL, NULL, NULL, NULL, TW_UNIT_COUNT);
    if (o && (o->vals = malloc(sizeof *o->vals))) o->vals[0] = (double)failures, o->nv = 1;
  }
  free(lat);
  free(ops);
  free(big);
}

/* --- tweedle/Jobs ------------------------------------------------------------------------------
 */

typedef struct {
  batch *bt;
  uint64_t submitted, succeeded, failed;
} jobs_ctx;

static void jobs_one(void *ud, const tw_jobs_type_stats *s) {
  jobs_ctx *x = ud;
  batch *bt = x->bt;
  const char *t = s->type;
  x->submitted += s->iv_submitted;
  x->succeeded += s->iv_succeeded;
  x->failed += s->iv_failed;
  struct {
    const char *name;
    uint64_t v;
  } counts[] = {{"JobsSubmitted", s->iv_submitted},
                {"JobsSucceeded", s->iv_succeeded},
                {"JobsFailed", s->iv_failed}};
  for (int i = 0; i < 3; i++) {
    if (!counts[i].v) continue;
    add_value(bt, counts[i].name, "JobType", t, (double)counts[i].v, TW_UNIT_COUNT);
  }
  if (s->iv_dur) {
    odatum tm = {.nd = 1, .unit = TW_UNIT_MILLISECONDS};
    snprintf(tm.name, sizeof tm.name, "JobDuration");
    snprintf(tm.dn[0], sizeof tm.dn[0], "JobType");
    snprintf(tm.dv[0], sizeof tm.dv[0], "%s", t);
    add_dist(bt, &tm, s->iv_dur);
    tm.nd = 0; /* and the total over every type */
    add_dist(bt, &tm, s->iv_dur);
  }
}

/* gauges: 0 in cluster mode on a node that does not publish the cluster's
 * gauges (the job counts by status are the cluster's, read from PostgreSQL:
 * one node publishes them, or a Sum over the nodes would count them N times). */
static void sweep_jobs(batch *bt, int gauges) {
  jobs_ctx t = {.bt = bt};
  /* the totals (no dimension: alarms watch these) are published every interval, zero or
   * not, once the job API runs; the per-type datums only for types with traffic */
  int64_t st[4];
  if (tw_jobs_status_counts(st)) return; /* the job API is not running */
  tw_jobs_metrics(1, jobs_one, &t);
  add_value(bt, "JobsSubmitted", NULL, NULL, (double)t.submitted, TW_UNIT_COUNT);
  add_value(bt, "JobsSucceeded", NULL, NULL, (double)t.succeeded, TW_UNIT_COUNT);
  add_value(bt, "JobsFailed", NULL, NULL, (double)t.failed, TW_UNIT_COUNT);
  const char *statuses[] = {"queued", "running", "succeeded", "failed"};
  for (int i = 0; i < 4 && gauges; i++)
    if (st[i] >= 0) add_value(bt, "Jobs", "Status", statuses[i], (double)st[i], TW_UNIT_COUNT);
}

/* Cluster mode: this node's counts of each queue it served (sqs/sqs_pg.h),
 * taken out of the map as the gauges' node publishes them with the gauges. */
typedef struct {
  batch *b;
  tw_map counts; /* queue name -> tw_sqs_queue_metrics (name not set) */
} sqs_cluster;

static void sqs_count_one(void *ud, const tw_sqs_queue_metrics *m) {
  sqs_cluster *x = ud;
  tw_sqs_queue_metrics *c = malloc(sizeof *c);
  if (!c) return;
  *c = *m;
  c->name = NULL;
  if (tw_map_put(&x->counts, m->name, c)) free(c);
}

/* Cluster mode: a queue's gauges as PostgreSQL has them, and this node's
 * counts of it (zeros when it served none: every queue has its counters each
 * interval, as on one node; they add up over the nodes). */
static void sqs_gauge_one(void *ud, const tw_pg_cw_queue_gauges *g) {
  sqs_cluster *x = ud;
  batch *b = x->b;
  tw_sqs_queue_metrics zero = {0}, *c = tw_map_del(&x->counts, g->name);
  sqs_counts(b, g->name, c ? c : &zero);
  free(c);
  add_value(b, "ApproximateNumberOfMessagesVisible", "QueueName", g->name, (double)g->visible,
            TW_UNIT_COUNT);
  add_value(b, "ApproximateNumberOfMessagesNotVisible", "QueueName", g->name, (double)g->inflight,
            TW_UNIT_COUNT);
  add_value(b, "ApproximateNumberOfMessagesDelayed", "QueueName", g->name, (double)g->delayed,
            TW_UNIT_COUNT);
  add_value(b, "ApproximateAgeOfOldestMessage", "QueueName", g->name, (double)g->oldest_age_s,
            TW_UNIT_SECONDS);
}

/* Cluster mode: 1 when this node publishes the cluster's gauges (one node at
 * a time, store/pg_state.h's lock; it moves on when that node dies). */
static int gauges_here(tw_builtin *b) {
  if (!b->lead) b->lead = tw_store_pg_lead_open(b->app->pg_store, "cloudwatch-gauges");
  return tw_store_pg_lead(b->lead) == 1;
}

void tw_builtin_publish(tw_builtin *b) {
  tw_app *app = b->app;
  /* one node: everything. Cluster mode: every node its own counters (requests,
   * store batches, jobs it ran: their Sums add up over the nodes), one node the
   * gauges computed from PostgreSQL (queue depths, bucket sizes, jobs by status) */
  int cluster = app->pg_store != NULL, gauges = !cluster || gauges_here(b);
  batch sqs = {.ns = "AWS/SQS"}, s3 = {.ns = "AWS/S3"}, sns = {.ns = "AWS/SNS"};
  /* tweedle's own namespaces are kept per second when published more often than
   * every minute: an alarm on JobsFailed can then use a 10-second period */
  int hr = b->interval_s < 60;
  batch gw = {.ns = "AWS/ApiGateway"}, jobs = {.ns = "tweedle/Jobs", .high_res = hr},
        store = {.ns = "tweedle/Store", .high_res = hr};
  if (app->sqs && !cluster) tw_sqs_metrics_sweep(app->sqs, sqs_one, &sqs);
  if (cluster) { /* this node's counts; the gauges (and zero counts) on one node */
    sqs_cluster x = {.b = &sqs};
    tw_map_init(&x.counts);
    tw_sqs_pg_metrics_sweep(app->sqs_pg, sqs_count_one, &x);
    if (gauges && tw_store_pg_cw_sqs_gauges(app->pg_store, tw_now_ms(), sqs_gauge_one, &x))
      tw_warn("metrics: cannot read the queue gauges from PostgreSQL");
    const char *q;
    void *v;
    for (tw_map_entry *it = tw_map_next(&x.counts, NULL, &q, &v); it;
         it = tw_map_next(&x.counts, it, &q, &v)) {
      sqs_counts(&sqs, q, v); /* the queues the gauges did not list */
      free(v);
    }
    tw_map_free(&x.counts);
  }
  if (app->sns) tw_sns_metrics_sweep(app->sns, sns_one, &sns);
  sweep_s3(b, &s3);
  sweep_gateway(b, &gw);
  sweep_jobs(&jobs, gauges);
  sweep_store(&store);
  int64_t now = tw_now_ms();
  if (now >= b->next_storage_ms && gauges) {
    b->next_storage_ms = now + (int64_t)b->storage_every_s * 1000;
    tw_store *st = cluster ? app->pg_store : app->store; /* S3's */
    storage_ctx x = {st, &s3};
    tw_store_s3_buckets(st)->list(st, storage_one, &x);
  }
  put_batch(b, &sqs);
  put_batch(b, &s3);
  put_batch(b, &sns);
  put_batch(b, &gw);
  put_batch(b, &jobs);
  put_batch(b, &store);
}

static void *run(void *ud) {
  tw_builtin *b = ud;
  pthread_mutex_lock(&b->mu);
  while (!b->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += b->interval_s;
    pthread_cond_timedwait(&b->cv, &b->mu, &ts);
    if (b->stop) break;
    pthread_mutex_unlock(&b->mu);
    tw_builtin_publish(b);
    pthread_mutex_lock(&b->mu);
  }
  pthread_mutex_unlock(&b->mu);
  return NULL;
}

tw_builtin *tw_builtin_start(tw_app *app) {
  tw_builtin *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  b->app = app;
  b->interval_s = app->cfg.metrics_interval > 0 ? app->cfg.metrics_interval : 60;
  b->off = app->cfg.metrics_interval == 0;
  const char *se = getenv("TWEEDLE_S3_STORAGE_METRICS_SECONDS");
  b->storage_every_s = se && atoi(se) > 0 ? atoi(se) : 86400;
  pthread_mutex_init(&b->mu, NULL);
  pthread_cond_init(&b->cv, NULL);
  pthread_mutex_init(&b->s3_mu, NULL);
  tw_map_init(&b->s3);
  if (b->off) return b; /* nothing counted here, nothing published */
  g_builtin = b;
  if (tw_http_observe_requests(on_request_done) || pthread_create(&b->thread, NULL, run, b)) {
    tw_http_unobserve_requests(on_request_done);
    g_builtin = NULL;
    free(b);
    return NULL;
  }
  return b;
}

void tw_builtin_stop(tw_builtin *b) {
  if (!b) return;
  if (!b->off) {
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    tw_http_unobserve_requests(on_request_done); /* the HTTP server has stopped */
    g_builtin = NULL;
  }
  tw_store_pg_lead_close(b->lead);
  batch s3 = {.ns = "AWS/S3"};
  sweep_s3(b, &s3); /* frees the counts (not published: the store may be closing) */
  for (size_t i = 0; i < s3.n; i++) {
    free(s3.d[i].vals);
    free(s3.d[i].cnts);
  }
  free(s3.d);
  for (size_t i = 0; i <= GW_ROUTES; i++) {
    free(b->gw[i].lat);
    free(b->gw[i].ilat);
  }
  pthread_mutex_destroy(&b->s3_mu);
  pthread_mutex_destroy(&b->mu);
  pthread_cond_destroy(&b->cv);
  free(b);
}
