/* The logs engine: the catalog of groups and streams (memory + store), the
 * operations of the Logs API, and the retention sweep. Lock order: l->mu,
 * then the store's hold. Events are numbered (seq) under the store's hold, so
 * the order of numbers is the order of commits: a reader that saw event N
 * has seen every event numbered below N.
 *
 * Cluster mode (a store whose repository keeps the catalog: l->db, the
 * PostgreSQL store): no catalog in memory; every operation reads and writes
 * the database directly (cw_logs.h, "the catalog in the database"), each
 * change committed before it answers, so every node answers alike at once.
 * Event numbers come from the database (unique, not in commit order across
 * nodes). The retention sweep runs on the node that holds the "logs
 * retention" lock (pg_state.h). */
#include "logs/logs.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/cw_logs.h"
#include "store/pg_state.h"

typedef struct {
  int64_t id;
  char *name;
  int64_t created_ms, first_ts, last_ts, last_ingest_ms, stored_bytes;
  uint64_t token; /* uploadSequenceToken (accepted, never required) */
  int swept;      /* the retention sweep changed stored_bytes */
} lstream;

typedef struct {
  int64_t id;
  char *name;
  int64_t created_ms;
  int retention_days;
  lstream **streams; /* sorted by name */
  size_t nstreams, capstreams;
} lgroup;

struct tw_logs {
  tw_store *store;
  const tw_logs_repo *repo;
  struct tw_metrics *metrics;
  char region[64], account[32];
  pthread_mutex_t mu;
  lgroup **groups; /* sorted by name */
  size_t ngroups, capgroups;
  int64_t next_id;
  uint64_t next_seq;
  /* the sweep */
  pthread_t th;
  int running, stop;
  pthread_mutex_t smu;
  pthread_cond_t scv;
  int kick;
  int sweep_ms;
  /* cluster mode */
  int db;           /* the catalog is the repository's (no memory copy) */
  tw_pg_lead *lead; /* the sweep runs where this is held */
  char server_stream[512];
};

static const int k_days[] = {1,   3,   5,   7,   14,   30,   60,   90,   120,  150,  180,
                             365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653};

static int64_t now_ms(void) {
  return tw_now_ms();
}

/* --- the catalog ---------------------------------------------------------- */

static void stream_free(lstream *s) {
  if (!s) return;
  free(s->name);
  free(s);
}

static void group_free(lgroup *g) {
  if (!g) return;
  for (size_t i = 0; i < g->nstreams; i++) stream_free(g->streams[i]);
  free(g->streams);
  free(g->name);
  free(g);
}

/* Binary search over an array of pointers to structs kept sorted by their
 * `char *name` member at name_off: the index of name, or where it would go
 * (*found 0). Groups and streams both use it. */
static size_t name_pos(void *const *items, size_t n, size_t name_off, const char *name,
                       int *found) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(*(char *const *)((const char *)items[mid] + name_off), name);
    if (!c) {
      *found = 1;
      return mid;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = 0;
  return lo;
}

static size_t group_pos(const tw_logs *l, const char *name, int *found) {
  return name_pos((void *const *)l->groups, l->ngroups, offsetof(lgroup, name), name, found);
}

static lgroup *group_find(const tw_logs *l, const char *name) {
  int f;
  size_t i = group_pos(l, name, &f);
  return f ? l->groups[i] : NULL;
}

static size_t stream_pos(const lgroup *g, const char *name, int *found) {
  return name_pos((void *const *)g->streams, g->nstreams, offsetof(lstream, name), name, found);
}

static lstream *stream_find(const lgroup *g, const char *name) {
  int f;
  size_t i = stream_pos(g, name, &f);
  return f ? g->streams[i] : NULL;
}

static lgroup *group_add(tw_logs *l, int64_t id, const char *name, int64_t created, int days) {
  int f;
  size_t i = group_pos(l, name, &f);
  if (f) return l->groups[i];
  if (l->ngroups == l->capgroups) {
    size_t cap = l->capgroups ? 2 * l->capgroups : 16;
    lgroup **n = realloc(l->groups, cap * sizeof *n);
    if (!n) return NULL;
    l->groups = n;
    l->capgroups = cap;
  }
  lgroup *g = calloc(1, sizeof *g);
  if (!g || !(g->name = strdup(name))) {
    free(g);
    return NULL;
  }
  g->id = id;
  g->created_ms = created;
  g->retention_days = days;
  memmove(&l->groups[i + 1], &l->groups[i], (l->ngroups - i) * sizeof *l->groups);
  l->groups[i] = g;
  l->ngroups++;
  if (id >= l->next_id) l->next_id = id + 1;
  return g;
}

static lstream *stream_add(tw_logs *l, lgroup *g, const tw_log_stream_row *r) {
  int f;
  size_t i = stream_pos(g, r->name, &f);
  if (f) return g->streams[i];
  if (g->nstreams == g->capstreams) {
    size_t cap = g->capstreams ? 2 * g->capstreams : 8;
    lstream **n = realloc(g->streams, cap * sizeof *n);
    if (!n) return NULL;
    g->streams = n;
    g->capstreams = cap;
  }
  lstream *s = calloc(1, sizeof *s);
  if (!s || !(s->name = strdup(r->name))) {
    free(s);
    return NULL;
  }
  s->id = r->id;
  s->created_ms = r->created_ms;
  s->first_ts = r->first_ts;
  s->last_ts = r->last_ts;
  s->last_ingest_ms = r->last_ingest_ms;
  s->stored_bytes = r->stored_bytes;
  s->token = 1;
  memmove(&g->streams[i + 1], &g->streams[i], (g->nstreams - i) * sizeof *g->streams);
  g->streams[i] = s;
  g->nstreams++;
  if (r->id >= l->next_id) l->next_id = r->id + 1;
  return s;
}

static void group_remove(tw_logs *l, const char *name) {
  int f;
  size_t i = group_pos(l, name, &f);
  if (!f) return;
  group_free(l->groups[i]);
  memmove(&l->groups[i], &l->groups[i + 1], (l->ngroups - i - 1) * sizeof *l->groups);
  l->ngroups--;
}

static void stream_remove(lgroup *g, const char *name) {
  int f;
  size_t i = stream_pos(g, name, &f);
  if (!f) return;
  stream_free(g->streams[i]);
  memmove(&g->streams[i], &g->streams[i + 1], (g->nstreams - i - 1) * sizeof *g->streams);
  g->nstreams--;
}

static void stream_row(const lgroup *g, const lstream *s, tw_log_stream_row *r) {
  *r = (tw_log_stream_row){.id = s->id,
                           .group_id = g->id,
                           .name = s->name,
                           .created_ms = s->created_ms,
                           .first_ts = s->first_ts,
                           .last_ts = s->last_ts,
                           .last_ingest_ms = s->last_ingest_ms,
                           .stored_bytes = s->stored_bytes};
}

static int64_t group_bytes(const lgroup *g) {
  int64_t b = 0;
  for (size_t i = 0; i < g->nstreams; i++) b += g->streams[i]->stored_bytes;
  return b;
}

/* --- loading -------------------------------------------------------------- */

typedef struct {
  tw_logs *l;
  lgroup **by_id; /* scratch: groups in load order */
  size_t n, cap;
} loader;

static void ld_group(void *ud, const tw_log_group_row *r) {
  loader *x = ud;
  lgroup *g = group_add(x->l, r->id, r->name, r->created_ms, r->retention_days);
  if (!g) return;
  if (x->n == x->cap) {
    size_t cap = x->cap ? 2 * x->cap : 16;
    lgroup **n = realloc(x->by_id, cap * sizeof *n);
    if (!n) return;
    x->by_id = n;
    x->cap = cap;
  }
  x->by_id[x->n++] = g;
}

static void ld_stream(void *ud, const tw_log_stream_row *r) {
  loader *x = ud;
  /* groups come in id order */
  size_t lo = 0, hi = x->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (x->by_id[mid]->id < r->group_id)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < x->n && x->by_id[lo]->id == r->group_id) stream_add(x->l, x->by_id[lo], r);
}

static int load_locked(tw_logs *l) {
  for (size_t i = 0; i < l->ngroups; i++) group_free(l->groups[i]);
  l->ngroups = 0;
  loader x = {.l = l};
  uint64_t max_seq = 0;
  tw_logs_loader ld = {.group = ld_group, .stream = ld_stream};
  int rc = l->repo->load(l->store, &ld, &x, &max_seq);
  free(x.by_id);
  if (max_seq >= l->next_seq) l->next_seq = max_seq + 1;
  return rc;
}

tw_logs *tw_logs_open(tw_store *s, const tw_logs_opts *o, char *err, size_t errlen) {
  tw_logs *l = calloc(1, sizeof *l);
  if (!l) {
    snprintf(err, errlen, "logs: out of memory");
    return NULL;
  }
  l->store = s;
  l->repo = tw_store_logs(s);
  l->metrics = o ? o->metrics : NULL;
  snprintf(l->region, sizeof l->region, "%s", o && o->region ? o->region : "us-east-1");
  snprintf(l->account, sizeof l->account, "%s", o && o->account ? o->account : "000000000000");
  l->next_id = 1;
  l->next_seq = 1;
  l->sweep_ms = o && o->sweep_ms ? o->sweep_ms : 0;
  if (!l->sweep_ms) {
    const char *e = getenv("TWEEDLE_LOGS_SWEEP_MS");
    l->sweep_ms = e && atoi(e) > 0 ? atoi(e) : 60000;
  }
  pthread_mutex_init(&l->mu, NULL);
  pthread_mutex_init(&l->smu, NULL);
  pthread_cond_init(&l->scv, NULL);
  l->db = l->repo->group_create != NULL;
  snprintf(l->server_stream, sizeof l->server_stream, "server");
  if (l->db) { /* one stream per node: host, address and process */
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) || !host[0]) snprintf(host, sizeof host, "host");
    snprintf(l->server_stream, sizeof l->server_stream, "server-%s-%s-%ld", host,
             o && o->listen && o->listen[0] ? o->listen : "node", (long)getpid());
    for (char *p = l->server_stream; *p; p++)
      if (*p == ':' || *p == '*') *p = '_';
  }
  if (!l->db && load_locked(l)) {
    snprintf(err, errlen, "logs: cannot read the log groups from the store");
    tw_logs_close(l);
    return NULL;
  }
  return l;
}

const char *tw_logs_server_stream(const tw_logs *l) {
  return l ? l->server_stream : "server";
}

void tw_logs_commit_failed(tw_logs *l) {
  if (!l || l->db) return; /* cluster mode: nothing in memory, nothing in its batches */
  pthread_mutex_lock(&l->mu);
  if (load_locked(l)) tw_error("logs: cannot reload the log groups after a failed commit");
  pthread_mutex_unlock(&l->mu);
}

/* --- the retention sweep -------------------------------------------------- */

typedef struct {
  lgroup *g;
  int any;
} size_ctx;

/* Under l->mu (held by the sweep): a stream's expired bytes leave its count. */
static void sub_bytes(void *ud, int64_t stream_id, int64_t bytes) {
  size_ctx *x = ud;
  x->any = 1;
  for (size_t k = 0; k < x->g->nstreams; k++) {
    lstream *s = x->g->streams[k];
    if (s->id != stream_id) continue;
    s->stored_bytes -= bytes;
    if (s->stored_bytes < 0) s->stored_bytes = 0;
    s->swept = 1;
  }
}

static void db_sweep(tw_logs *l);

void tw_logs_sweep(tw_logs *l) {
  if (l->db) {
    db_sweep(l);
    return;
  }
  int64_t now = now_ms();
  pthread_mutex_lock(&l->mu);
  for (size_t i = 0; i < l->ngroups; i++) {
    lgroup *g = l->groups[i];
    if (!g->retention_days) continue;
    int64_t cutoff = now - (int64_t)g->retention_days * 86400000LL;
    int old = 0;
    for (size_t k = 0; k < g->nstreams; k++)
      if (g->streams[k]->first_ts && g->streams[k]->first_ts < cutoff) old = 1;
    if (!old) continue;
    /* first/last event times stay what they were, as in CloudWatch; the
     * stored bytes drop by what expires */
    size_ctx x = {g, 0};
    if (l->repo->prune_sizes(l->store, g->id, cutoff, sub_bytes, &x) || !x.any) continue;
    tw_store_hold(l->store);
    l->repo->events_prune(l->store, g->id, cutoff);
    for (size_t k = 0; k < g->nstreams; k++) {
      lstream *s = g->streams[k];
      if (!s->swept) continue;
      s->swept = 0;
      tw_log_stream_row r;
      stream_row(g, s, &r);
      l->repo->stream_save(l->store, &r);
    }
    tw_store_release(l->store);
  }
  pthread_mutex_unlock(&l->mu);
}

#define EXPIRE_CHUNK 5000 /* events deleted per statement (one transaction) */
#define EXPIRE_ROUNDS 20  /* statements per group per pass */

typedef struct {
  tw_log_group_row *v;
  size_t n, cap;
} retained_list;

static void db_retained(void *ud, const tw_log_group_row *g) {
  retained_list *x = ud;
  if (x->n == x->cap) {
    size_t cap = x->cap ? 2 * x->cap : 16;
    tw_log_group_row *nv = realloc(x->v, cap * sizeof *nv);
    if (!nv) return;
    x->v = nv;
    x->cap = cap;
  }
  x->v[x->n++] = *g;
}

/* Cluster mode: one node at a time (the "logs retention" lock) deletes the
 * events past their group's retention, in chunks; readers hide them
 * already (retention_floor), so the sweep only frees their space. */
static void db_sweep(tw_logs *l) {
  if (tw_store_pg_lead(l->lead) != 1) return;
  retained_list x = {0};
  if (l->repo->group_retained(l->store, db_retained, &x)) {
    free(x.v);
    return;
  }
  /* the appends' figures into their streams' rows first */
  for (int round = 0; l->repo->streams_fold && round < EXPIRE_ROUNDS; round++)
    if (l->repo->streams_fold(l->store, EXPIRE_CHUNK * 10) < EXPIRE_CHUNK * 10) break;
  int64_t now = now_ms(), total = 0;
  for (size_t i = 0; i < x.n; i++) {
    int64_t cutoff = now - (int64_t)x.v[i].retention_days * 86400000LL;
    for (int round = 0; round < EXPIRE_ROUNDS; round++) {
      int64_t k = l->repo->events_expire(l->store, x.v[i].id, cutoff, EXPIRE_CHUNK);
      if (k > 0) total += k;
      if (k < EXPIRE_CHUNK) break;
    }
  }
  free(x.v);
  if (total)
    tw_info("logs retention: %lld expired events deleted (this node sweeps for the cluster)",
            (long long)total);
}

static void *sweeper(void *arg) {
  tw_logs *l = arg;
  pthread_mutex_lock(&l->smu);
  while (!l->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = (int64_t)ts.tv_nsec + (int64_t)l->sweep_ms * 1000000LL;
    ts.tv_sec += ns / 1000000000LL;
    ts.tv_nsec = ns % 1000000000LL;
    while (!l->stop && !l->kick)
      if (pthread_cond_timedwait(&l->scv, &l->smu, &ts)) break;
    l->kick = 0;
    if (l->stop) break;
    pthread_mutex_unlock(&l->smu);
    tw_logs_sweep(l);
    pthread_mutex_lock(&l->smu);
  }
  pthread_mutex_unlock(&l->smu);
  return NULL;
}

static void kick_sweep(tw_logs *l) {
  pthread_mutex_lock(&l->smu);
  l->kick = 1;
  pthread_cond_signal(&l->scv);
  pthread_mutex_unlock(&l->smu);
}

int tw_logs_start(tw_logs *l) {
  if (l->db && !(l->lead = tw_store_pg_lead_open(l->store, "logs retention"))) return -1;
  if (pthread_create(&l->th, NULL, sweeper, l)) return -1;
  l->running = 1;
  return 0;
}

void tw_logs_stop(tw_logs *l) {
  if (!l || !l->running) return;
  pthread_mutex_lock(&l->smu);
  l->stop = 1;
  pthread_cond_signal(&l->scv);
  pthread_mutex_unlock(&l->smu);
  pthread_join(l->th, NULL);
  l->running = 0;
  tw_store_pg_lead_close(l->lead); /* another node may sweep now */
  l->lead = NULL;
}

void tw_logs_close(tw_logs *l) {
  if (!l) return;
  tw_logs_stop(l);
  for (size_t i = 0; i < l->ngroups; i++) group_free(l->groups[i]);
  free(l->groups);
  pthread_mutex_destroy(&l->mu);
  pthread_mutex_destroy(&l->smu);
  pthread_cond_destroy(&l->scv);
  free(l);
}

/* --- helpers for the operations -------------------------------------------- */

static tw_err fail(tw_logs_call *c, tw_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static tw_err fail(tw_logs_call *c, tw_err e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->msg, sizeof c->msg, fmt, ap);
  va_end(ap);
  c->err = e;
  return e;
}

/* A string member: 0 absent, 1 read, -1 wrong type (error set). */
static int get_str(tw_logs_call *c, const char *key, const char **out) {
  json_t *v = json_object_get(c->in, key);
  *out = NULL;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_string(v)) {
    fail(c, TW_ERR_MALFORMED_JSON, "Unexpected value type for %s.", key);
    return -1;
  }
  *out = json_string_value(v);
  return 1;
}

static int get_int(tw_logs_call *c, const char *key, long long *out) {
  json_t *v = json_object_get(c->in, key);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_integer(v)) {
    fail(c, TW_ERR_MALFORMED_JSON, "Unexpected value type for %s.", key);
    return -1;
  }
  *out = json_integer_value(v);
  return 1;
}

static int get_bool(tw_logs_call *c, const char *key, int *out) {
  json_t *v = json_object_get(c->in, key);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_boolean(v)) {
    fail(c, TW_ERR_MALFORMED_JSON, "Unexpected value type for %s.", key);
    return -1;
  }
  *out = json_is_true(v);
  return 1;
}

static int valid_group_name(const char *n) {
  size_t len = strlen(n);
  if (len < 1 || len > 512) return 0;
  for (const char *p = n; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          strchr("._-/#", *p)))
      return 0;
  return 1;
}

static int valid_stream_name(const char *n) {
  size_t len = strlen(n);
  return len >= 1 && len <= 512 && !strchr(n, ':') && !strchr(n, '*');
}

/* "logGroupName" (required unless the operation takes logGroupIdentifier:
 * a name or an ARN arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]). */
static int group_name_arg(tw_logs_call *c, int identifier_ok, char *out, size_t n) {
  const char *name = NULL, *ident = NULL;
  if (get_str(c, "logGroupName", &name) < 0) return -1;
  if (identifier_ok && get_str(c, "logGroupIdentifier", &ident) < 0) return -1;
  if (name && ident) {
    fail(c, TW_ERR_LOGS_INVALID_PARAMETER,
         "LogGroup name and LogGroup ARN are mutually exclusive parameters.");
    return -1;
  }
  if (ident) {
    const char *p = strstr(ident, ":log-group:");
    if (!strncmp(ident, "arn:", 4) && p) {
      snprintf(out, n, "%s", p + 11);
      size_t len = strlen(out);
      if (len >= 2 && !strcmp(out + len - 2, ":*")) out[len - 2] = 0;
    } else {
      snprintf(out, n, "%s", ident);
    }
  } else if (name) {
    snprintf(out, n, "%s", name);
  } else {
    fail(c, TW_ERR_LOGS_INVALID_PARAMETER,
         "Either logGroupName or logGroupIdentifier must be specified.");
    return -1;
  }
  if (!valid_group_name(out)) {
    fail(c, TW_ERR_LOGS_INVALID_PARAMETER,
         "1 validation error detected: Value '%.512s' at 'logGroupName' failed to satisfy "
         "constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
         out);
    return -1;
  }
  return 0;
}

static int stream_name_arg(tw_logs_call *c, const char **out) {
  if (get_str(c, "logStreamName", out) < 0) return -1;
  if (!*out) {
    fail(c, TW_ERR_LOGS_INVALID_PARAMETER, "logStreamName is required.");
    return -1;
  }
  if (!valid_stream_name(*out)) {
    fail(c, TW_ERR_LOGS_INVALID_PARAMETER,
         "1 validation error detected: Value '%.512s' at 'logStreamName' failed to satisfy "
         "constraint: Member must satisfy regular expression pattern: [^:*]*",
         *out);
    return -1;
  }
  return 0;
}

static tw_err no_group(tw_logs_call *c) {
  return fail(c, TW_ERR_LOGS_RESOURCE_NOT_FOUND, "The specified log group does not exist.");
}

static tw_err no_stream(tw_logs_call *c) {
  return fail(c, TW_ERR_LOGS_RESOURCE_NOT_FOUND, "The specified log stream does not exist.");
}

/* A group's answer from its fields (memory or database). */
static json_t *group_json_of(const tw_logs *l, const char *name, int64_t created_ms, int days,
                             int64_t stored_bytes) {
  char arn[800];
  snprintf(arn, sizeof arn, "arn:aws:logs:%s:%s:log-group:%s", l->region, l->account, name);
  json_t *o = json_object();
  json_object_set_new(o, "logGroupName", json_string(name));
  json_object_set_new(o, "creationTime", json_integer(created_ms));
  if (days) json_object_set_new(o, "retentionInDays", json_integer(days));
  json_object_set_new(o, "metricFilterCount", json_integer(0));
  json_object_set_new(o, "logGroupArn", json_string(arn));
  strcat(arn, ":*");
  json_object_set_new(o, "arn", json_string(arn));
  json_object_set_new(o, "storedBytes", json_integer(stored_bytes));
  json_object_set_new(o, "logGroupClass", json_string("STANDARD"));
  return o;
}

static json_t *group_json(const tw_logs *l, const lgroup *g) {
  return group_json_of(l, g->name, g->created_ms, g->retention_days, group_bytes(g));
}

/* A stream's answer from its row (memory or database). */
static json_t *stream_json_of(const tw_logs *l, const char *group, const tw_log_stream_row *s,
                              uint64_t token) {
  char arn[1200];
  snprintf(arn, sizeof arn, "arn:aws:logs:%s:%s:log-group:%s:log-stream:%s", l->region, l->account,
           group, s->name);
  json_t *o = json_object();
  json_object_set_new(o, "logStreamName", json_string(s->name));
  json_object_set_new(o, "creationTime", json_integer(s->created_ms));
  if (s->first_ts) {
    json_object_set_new(o, "firstEventTimestamp", json_integer(s->first_ts));
    json_object_set_new(o, "lastEventTimestamp", json_integer(s->last_ts));
    json_object_set_new(o, "lastIngestionTime", json_integer(s->last_ingest_ms));
  }
  char tok[32];
  snprintf(tok, sizeof tok, "%" PRIu64, token);
  json_object_set_new(o, "uploadSequenceToken", json_string(tok));
  json_object_set_new(o, "arn", json_string(arn));
  json_object_set_new(o, "storedBytes", json_integer(s->stored_bytes));
  return o;
}

static json_t *stream_json(const tw_logs *l, const lgroup *g, const lstream *s) {
  tw_log_stream_row r;
  stream_row(g, s, &r);
  return stream_json_of(l, g->name, &r, s->token);
}

static tw_err unavailable(tw_logs_call *c) {
  return fail(c, TW_ERR_LOGS_SERVICE_UNAVAILABLE, "The log store could not be reached.");
}

/* --- groups ---------------------------------------------------------------- */

static tw_err op_create_group(tw_logs_call *c) {
  tw_logs *l = c->logs;
  char name[600];
  if (group_name_arg(c, 0, name, sizeof name)) return c->err;
  const char *cls = NULL;
  if (get_str(c, "logGroupClass", &cls) < 0) return c->err;
  if (cls && strcmp(cls, "STANDARD") && strcmp(cls, "INFREQUENT_ACCESS") && strcmp(cls, "DELIVERY"))
    return fail(c, TW_ERR_LOGS_INVALID_PARAMETER, "Invalid logGroupClass: %.64s", cls);
  if (l->db) {
    int rc = l->repo->group_create(l->store, name, now_ms());
    if (rc < 0) return unavailable(c);
    if (!rc) return fail(c, TW_ERR_LOGS_RESOURCE_EXISTS, "The specified log group already exists");
    return TW_ERR_OK;
  }
  pthread_mutex_lock(&l->mu);
  if (group_find(l, name)) {
    pthread_mutex_unlock(&l->mu);
    return fail(c, TW_ERR_LOGS_RESOURCE_EXISTS, "The specified log group already exists");
  }
  lgroup *g = group_add(l, l->next_id, name, now_ms(), 0);
  if (!g) {
    pthread_mutex_unlock(&l->mu);
    return fail(c, TW_ERR_INTERNAL, "Out of memory.");
  }
  tw_log_group_row r = {.id = g->id, .name = g->name, .created_ms = g->created_ms};
  c->ticket = l->repo->group_save(l->store, &r);
  pthread_mutex_unlock(&l->mu);
  return TW_ERR_OK;
}

static tw_err op_delete_group(tw_logs_call *c) {
  tw_logs *l = c->logs;
  char name[600];
  if (group_name_arg(c, 0, name, sizeof name)) return c->err;
  if (l->db) {
    int rc = l->repo->group_drop(l->store, name);
    return rc < 0 ? unavailable(c) : !rc ? no_group(c) : TW_ERR_OK;
  }
  pthread_mutex_lock(&l->mu);
  lgroup *g = group_find(l, name);
  if (!g) {
    pthread_mutex_unlock(&l->mu);
    return no_group(c);
  }
  c->ticket = l->repo->group_delete(l->store, g->id);
  group_remove(l, name);
  pthread_mutex_unlock(&l->mu);
  return TW_ERR_OK;
}

typedef struct {
  tw_logs *l;
  json_t *list;
  long long limit;
  int more;
} db_groups;

static void db_group(void *ud, const tw_log_group_row *g, int64_t stored_bytes) {
  db_groups *x = ud;
  if ((long long)json_array_size(x->list) == x->limit) {
    x->more = 1;
    return;
  }
  json_array_append_new(
      x->list, group_json_of(x->l, g->name, g->created_ms, g->retention_days, stored_bytes));
}

/* Cluster mode: a page of groups read from the database. */
static tw_err db_describe_groups(tw_logs_call *c, const char *prefix, const char *pattern,
                                 const char *token, long long limit) {
  db_groups x = {.l = c->logs, .list = json_array(), .limit = limit};
  if (c->logs->repo->group_list(c->logs->store, token, prefix, pattern, (int)limit + 1, db_group,
                                &x)) {
    json_decref(x.list);
    return unavailable(c);
  }
  c->out = json_pack("{s:o}", "logGroups", x.list);
  if (x.more) {
    json_t *last = json_array_get(x.list, json_array_size(x.list) - 1);
    json_object_set(c->out, "nextToken", json_object_get(last, "logGroupName"));
  }
  return TW_ERR_OK;
}

static tw_err op_describe_groups(tw_logs_call *c) {
  tw_logs *l = c->logs;
  const char *prefix = NULL, *pattern = NULL, *token = NULL;
  long long limit = 50;
  if (get_str(c, "logGroupNamePrefix", &prefix) < 0 ||
      get_str(c, "logGroupNamePattern", &pattern) < 0 || get_str(c, "nextToken", &token) < 0 ||
      get_int(c, "limit", &limit) < 0)
    return c->err;
  if (prefix && pattern)
    return fail(c, TW_ERR_LOGS_INVALID_PARAMETER,
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive "
                "parameters.");
  if (limit < 1 || limit > 50)
    return fail(c, TW_ERR_LOGS_INVALID_PARAMETER,
                "1 validation error detected: Value '%lld' at 'limit' failed to satisfy "
                "constraint: Member must have value less than or equal to 50",
                limit);
  if (l->db) return db_describe_groups(c, prefix, pattern, token, limit);
  json_t *list = json_array();
  size_t plen = prefix ? strlen(prefix) : 0;
  pthread_mutex_lock(&l->mu);
  size_t i = 0;
  if (token) { /* the name of the last group of the previous page */
    int f;
    i = group_pos(l, token, &f);
    if (f) i++;
  } else if (prefix) {
    int f;
    i = group_pos(l, prefix, &f);
  }
  const char *next = NULL;
  for (; i < l->ngroups; i++) {
    lgroup *g = l->groups[i];
    if (prefix && strncmp(g->name, prefix, plen)) break; /* sorted: past the prefix */
    if (pattern && !strstr(g->name, pattern)) continue;
    if ((long long)json_array_size(list) == limit) {
      next = "";
      break;
    }
    json_array_append_new(list, group_json(l, g));
  }
  c->out = json_pack("{s:o}", "logGroups", list);
  if (next) {
    json_t *last = json_array_get(list, json_array_size(list) - 1);
    json_object_set(c->out, "nextToken", json_object_get(last, "logGroupName"));
  }
  pthread_mutex_unlock(&l->mu);
  c->seen_ticket = tw_store_ticket(l->store);
  return TW_ERR_OK;
}

static tw_err op_put_retention(tw_logs_call *c) {
  tw_logs *l = c->logs;
  char name[600];
  if (group_name_arg(c, 0, name, sizeof name)) return c->err;
  long long days = 0;
  int have = get_int(c, "retentionInDays", &days);
  if (have < 0) return c->err;
  if (!have) return fail(c, TW_ERR_LOGS_INVALID_PARAMETER, "retentionInDays is required.");
  int ok = 0;
  for (size_t i = 0; i < sizeof k_days / sizeof *k_days; i++) ok |= k_days[i] == days;
  if (!ok)
    return fail(c, TW_ERR_LOGS_INVALID_PARAMETER,
                "1 validation error detected: Value '%lld' at 'retentionInDays' failed to "
                "satisfy constraint: Member must satisfy enum value set: [1, 3, 5, 7, 14, 30, "
                "60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, "
                "3653]",
                days);
  if (l->db) {
    int rc = l->repo->group_retention(l->store, name, (int)days);
    if (rc <= 0) return rc < 0 ? unavailable(c) : no_group(c);
    kick_sweep(l);
    return TW_ERR_OK;
  }
  pthread_mutex_lock(&l->mu);
  lgroup *g = group_find(l, name);
  if (!g) {
    pthread_mutex_unlock(&l->mu);
    return no_group(c);
  }
  g->retention_days = (int)days;
  tw_log_group_row r = {
      .id = g->id, .name = g->name, .created_ms = g->created_ms, .retention_days = (int)days};
  c->ticket = l->repo->group_save(l->store, &r);
  pthread_mutex_unlock(&l->mu);
  kick_sweep(l);
  return TW_ERR_OK;
}

static tw_err op_delete_retention(tw_logs_call *c) {
  tw_logs *l = c->logs;
  char name[600];
  if (group_name_arg(c, 0, name, sizeof name)) return c->err;
  if (l->db) {
    int rc = l->repo->group_retention(l->store, name, 0);
    return rc < 0 ? unavailable(c) : !rc ? no_group(c) : TW_ERR_OK;
  }
  pthread_mutex_lock(&l->mu);
  lgroup *g = group_find(l, name);
  if (!g) {
    pthread_mutex_unlock(&l->mu);
    return no_group(c);
  }
  g->retention_days = 0;
  tw_log_group_row r = {.id = g->id, .name = g->name, .created_ms = g->created_ms};
  c->ticket = l->repo->group_save(l->store, &r);
  pthread_mutex_unlock(&l->mu);
  return TW_ERR_OK;
}

/* --- streams --------------------------------------------------------------- */

static tw_err op_create_stream(tw_logs_call *c) {
  tw_logs *l = c->logs;
  char name[600];
  const char *sname;
  if (group_name_arg(c, 0, name, sizeof name) || stream_name_arg(c, &sname)) return c->err;
  if (l->db) {
    int rc = l->repo->stream_create(l->store, name, sname, now_ms());
    if (rc == TW_LOGS_NO_GROUP) return no_group(c);
    if (rc < 0) return unavailable(c);
    if (!rc) return fail(c, TW_ERR_LOGS_RESOURCE_EXISTS, "The specified log stream already exists");
    return TW_ERR_OK;
  }
  pthread_mutex_lock(&l->mu);
  lgroup *g = group_find(l, name);
  if (!g) {
    pthread_mutex_unlock(&l->mu);
    return no_group(c);
  }
  if (stream_find(g, sname)) {
    pthread_mutex_unlock(&l->mu);
    return fail(c, TW_ERR_LOGS_RESOURCE_EXISTS, "The specified log stream already exists");
  }
  tw_log_stream_row r = {
      .id = l->next_id, .group_id = g->id, .name = sname, .created_ms = now_ms()};
  if (!stream_add(l, g, &r)) {
    pthread_mutex_unlock(&l->mu);
    return fail(c, TW_ERR_INTERNAL, "Out of memory.");
  }
  c->ticket = l->repo->stream_save(l->store, &r);
  pthread_mutex_unlock(&l->mu);
  return TW_ERR_OK;
}

static tw_err op_delete_stream(tw_logs_call *c) {
  tw_logs *l = c->logs;
  char name[600];
  const char *sname;
  if (group_name_arg(c, 0, name, sizeof name) || stream_name_arg(c, &sname)) return c->err;
  if (l->db) {
    int rc = l->repo->stream_drop(l->store, name, sname);
    if (rc == TW_LOGS_NO_GROUP) return no_group(c);
    return rc < 0 ? unavailable(c) : !rc ? no_stream(c) : TW_ERR_OK;
  }
  pthread_mutex_lock(&l->mu);
  lgroup *g = group_find(l, name);
  lstream *s = g ? stream_find(g, sname) : NULL;
  if (!s) {
    pthread_mutex_unlock(&l->mu);
    return g ? no_stream(c) : no_group(c);
  }
  c->ticket = l->repo->stream_delete(l->store, s->id);
  stream_remove(g, sname);
  pthread_mutex_unlock(&l->mu);
  return TW_ERR_OK;
}

static int by_last_event(const void *a, const void *b) {
  const lstream *x = *(lstream *const *)a, *y = *(lstream *const *)b;
  if (x->last_ts != y->last_ts) return x->last_ts < y->last_ts ? -1 : 1;
  return strcmp(x->name, y->name);
}

typedef struct {
  tw_logs *l;
  const char *group;
  json_t *list;
  long long limit;
  int more;
} db_streams;

static void db_stream(void *ud, const tw_log_stream_row *r, uint64_t token) {
  db_streams *x = ud;
  if ((long long)json_array_size(x->list) == x->limit) {
    x->more = 1;
    return;
  }
  json_array_append_new(x->list, stream_json_of(x->l, x->group, r, token));
}

/* Cluster mode: a page of a group's streams read from the database (the
 * token: how many came before, as on one node). */
static tw_err db_describe_streams(tw_logs_call *c, const char *name, const char *prefix,
                                  int by_time, int desc, long long skip, long long limit) {
  tw_logs *l = c->logs;
  tw_log_group_row g;
  int rc = l->repo->group_get(l->store, name, &g, NULL);
  if (rc <= 0) return rc < 0 ? unavailable(c) : no_group(c);
  db_streams x = {.l = l, .group = name, .list = json_array(), .limit = limit};
  if (l->repo->stream_list(l->store, g.id, prefix, by_time, desc, skip, (int)limit + 1, db_stream,
                           &x)) {
    json_decref(x.list);
    return unavailable(c);
  }
  c->out = json_pack("{s:o}", "logStreams", x.list);
  if (x.more) {
    char t[32];
    snprintf(t, sizeof t, "%lld", skip + (long long)json_array_size(x.list));
    json_object_set_new(c->out, "nextToken", json_string(t));
  }
  return TW_ERR_OK;
}

static tw_err op_describe_streams(tw_logs_call *c) {
  tw_logs *l = c->logs;
  char name[600];
  const char *prefix = NULL, *order = NULL, *token = NULL;
  long long limit = 50;
  int desc = 0;
  if (group_name_arg(c, 1, name, sizeof name) || get_str(c, "logStreamNamePrefix", &prefix) < 0 ||
      get_str(c, "orderBy", &order) < 0 || get_str(c, "nextToken", &token) < 0 ||
      get_int(c, "limit", &limit) < 0 || get_bool(c, "descending", &desc) < 0)
    return c->err;
  int by_time = 0;
  if (order && !strcmp(order, "LastEventTime"))
    by_time = 1;
  else if (order && strcmp(order, "LogStreamName"))
    return fail(c, TW_ERR_LOGS_INVALID_PARAMETER,
                "1 validation error detected: Value '%.64s' at 'orderBy' failed to satisfy "
                "constraint: Member must satisfy enum value set: [LogStreamName, LastEventTime]",
                order);
  if (by_time && prefix)
    return fail(c, TW_ERR_LOGS_INVALID_PARAMETER,
                "Cannot order by LastEventTime with a logStreamNamePrefix.");
  if (limit < 1 || limit > 50)
    return fail(c, TW_ERR_LOGS_INVALID_PARAMETER,
                "1 validation error detected: Value '%lld' at 'limit' failed to satisfy "
                "constraint: Member must have value less than or equal to 50",
                limit);
  long long skip = 0;
  if (token) {
    char *end;
    skip = strtoll(token, &end, 10);
    if (!*token || *end || skip < 0)
      return fail(c, TW_ERR_LOGS_INVALID_PARAMETER, "The specified nextToken is invalid.");
  }
  if (l->db) return db_describe_streams(c, name, prefix, by_time, desc, skip, limit);
  pthread_mutex_lock(&l->mu);
  lgroup *g = group_find(l, name);
  if (!g) {
    pthread_mutex_unlock(&l->mu);
    return no_group(c);
  }
  /* the streams in the order asked for, then the page */
  size_t n = 0, plen = prefix ? strlen(prefix) : 0;
  lstream **v = malloc((g->nstreams + 1) * sizeof *v);
  if (!v) {
    pthread_mutex_unlock(&l->mu);
    return fail(c, TW_ERR_INTERNAL, "Out of memory.");
  }
  for (size_t i = 0; i < g->nstreams; i++)
    if (!prefix || !strncmp(g->streams[i]->name, prefix, plen)) v[n++] = g->streams[i];
  if (by_time) qsort(v, n, sizeof *v, by_last_event);
  json_t *list = json_array();
  size_t k = (size_t)skip;
  for (; k < n && (long long)json_array_size(list) < limit; k++)
    json_array_append_new(list, stream_json(l, g, v[desc ? n - 1 - k : k]));
  c->out = json_pack("{s:o}", "logStreams", list);
  if (k < n) {
    char t[32];
    snprintf(t, sizeof t, "%zu", k);
    json_object_set_new(c->out, "nextToken", json_string(t));
  }
  free(v);
  pthread_mutex_unlock(&l->mu);
  c->seen_ticket = tw_store_ticket(l->store);
  return TW_ERR_OK;
}

/* --- events ---------------------------------------------------------------- */

/* Appends accepted events under l->mu: numbers them under the store's hold. */
static uint64_t append_locked(tw_logs *l, lgroup *g, lstream *s, const tw_log_input *ev, size_t n) {
  if (!n) return 0;
  int64_t ingest = now_ms();
  tw_log_event_row *rows = malloc(n * sizeof *rows);
  if (!rows) return 0;
  tw_store_hold(l->store);
  for (size_t i = 0; i < n; i++) {
    rows[i] = (tw_log_event_row){.seq = l->next_seq++,
                                 .group_id = g->id,
                                 .stream_id = s->id,
                                 .ts = ev[i].ts,
                                 .ingest_ms = ingest,
                                 .msg = ev[i].msg,
                                 .msg_len = ev[i].len};
    if (!s->first_ts || ev[i].ts < s->first_ts) s->first_ts = ev[i].ts;
    if (ev[i].ts > s->last_ts) s->last_ts = ev[i].ts;
    s->stored_bytes += (int64_t)ev[i].len;
  }
  s->last_ingest_ms = ingest;
  s->token++;
  uint64_t t = l->repo->events_append(l->store, rows, n);
  tw_log_stream_row r;
  stream_row(g, s, &r);
  uint64_t t2 = l->repo->stream_save(l->store, &r);
  tw_store_release(l->store);
  free(rows);
  return t > t2 ? t : t2;
}

/* Cluster mode: appends events to a stream in the database (one
 * transaction with the stream's counters). 1, 0 the stream is gone, -1. */
static int db_append(tw_logs *l, int64_t stream_id, const tw_log_input *ev, size_t n,
                     uint64_t *token) {
  tw_log_event_row *rows = malloc(n * sizeof *rows);
  if (!rows) return -1;
  for (size_t i = 0; i < n; i++)
    rows[i] = (tw_log_event_row){.ts = ev[i].ts, .msg = ev[i].msg, .msg_len = ev[i].len};
  int rc = l->repo->events_put(l->store, stream_id, rows, n, now_ms(), token);
  free(rows);
  return rc;
}

/* Cluster mode: PutLogEvents after its checks (ev: in order; freed here). */
static tw_err db_put_events(tw_logs_call *c, const char *name, const char *sname, tw_log_input *ev,
                            size_t n) {
  tw_logs *l = c->logs;
  tw_log_group_row g;
  tw_log_stream_row st;
  uint64_t token = 0;
  int rc = l->repo->stream_get(l->store, name, sname, &g, &st, &token);
  if (rc != 1) {
    free(ev);
    return rc == TW_LOGS_NO_GROUP ? no_group(c) : rc < 0 ? unavailable(c) : no_stream(c);
  }
  /* as on one node: too old ones lead, too new ones trail */
  int64_t now = now_ms();
  long too_old = -1, expired = -1, too_new = -1;
  int64_t keep_from = g.retention_days ? now - (int64_t)g.retention_days * 86400000LL : INT64_MIN;
  for (size_t i = 0; i < n; i++) {
    if (ev[i].ts < now - TW_LOGS_PAST_MS) too_old = (long)i;
    if (ev[i].ts < keep_from) expired = (long)i;
    if (too_new < 0 && ev[i].ts > now + TW_LOGS_FUTURE_MS) too_new = (long)i;
  }
  size_t from = (size_t)((too_old > expired ? too_old : expired) + 1);
  size_t to = too_new >= 0 ? (size_t)too_new : n;
  if (from < to) {
    rc = db_append(l, st.id, ev + from, to - from, &token);
    if (rc != 1) {
      free(ev);
      return rc < 0 ? unavailable(c) : no_stream(c);
    }
  }
  char tok[32];
  snprintf(tok, sizeof tok, "%" PRIu64, token);
  uint64_t mt = from < to && l->metrics ? tw_logs_emf_put(l->metrics, ev + from, to - from) : 0;
  free(ev);
  c->ticket = mt;
  c->out = json_pack("{s:s}", "nextSequenceToken", tok);
  if (too_old >= 0 || expired >= 0 || too_new >= 0) {
    json_t *rj = json_object();
    if (too_old >= 0) json_object_set_new(rj, "tooOldLogEventEndIndex", json_integer(too_old));
    if (expired >= 0) json_object_set_new(rj, "expiredLogEventEndIndex", json_integer(expired));
    if (too_new >= 0) json_object_set_new(rj, "tooNewLogEventStartIndex", json_integer(too_new));
    json_object_set_new(c->out, "rejectedLogEventsInfo", rj);
  }
  return TW_ERR_OK;
}

/* Cluster mode: tw_logs_append (the group and stream made when missing). */
static uint64_t db_append_named(tw_logs *l, const char *group, int retention_days,
                                const char *stream, const tw_log_input *ev, size_t n) {
  tw_log_group_row g;
  tw_log_stream_row st;
  int rc = l->repo->stream_get(l->store, group, stream, &g, &st, NULL);
  if (rc == TW_LOGS_NO_GROUP) {
    int made = l->repo->group_create(l->store, group, now_ms());
    if (made < 0) return 0;
    if (made && retention_days) l->repo->group_retention(l->store, group, retention_days);
  }
  if (rc != 1) {
    if (l->repo->stream_create(l->store, group, stream, now_ms()) < 0) return 0;
    if (l->repo->stream_get(l->store, group, stream, &g, &st, NULL) != 1) return 0;
  }
  uint64_t token;
  if (db_append(l, st.id, ev, n, &token) != 1) return 0;
  uint64_t t = l->metrics ? tw_logs_emf_put(l->metrics, ev, n) : 0;
  return t ? t : tw_store_ticket(l->store);
}

static tw_err op_put_events(tw_logs_call *c) {
  tw_logs *l = c->logs;
  char name[600];
  const char *sname, *seqtok;
  if (group_name_arg(c, 0, name, sizeof name) || stream_name_arg(c, &sname) ||
      get_str(c, "sequenceToken", &seqtok) < 0)
    return c->err; /* sequence tokens are accepted and ignored, as AWS does now */
  json_t *arr = json_object_get(c->in, "logEvents");
  if (!json_is_array(arr)) return fail(c, TW_ERR_LOGS_INVALID_PARAMETER, "logEvents is required.");
  size_t n = json_array_size(arr);
  if (n < 1)
    return fail(c, TW_ERR_LOGS_INVALID_PARAMETER,
                "1 validation error detected: Value '[]' at 'logEvents' failed to satisfy "
                "constraint: Member must have length greater than or equal to 1");
  if (n > TW_LOGS_MAX_EVENTS)
    return fail(c, TW_ERR_LOGS_INVALID_PARAMETER,
                "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: "
                "Member must have length less than or equal to %d",
                TW_LOGS_MAX_EVENTS);
  tw_log_input *ev = malloc(n * sizeof *ev);
  if (!ev) return fail(c, TW_ERR_INTERNAL, "Out of memory.");
  size_t bytes = 0;
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(arr, i);
    json_t *ts = json_object_get(e, "timestamp"), *m = json_object_get(e, "message");
    if (!json_is_integer(ts) || !json_is_string(m)) {
      free(ev);
      return fail(c, TW_ERR_LOGS_INVALID_PARAMETER,
                  "Each log event needs an integer timestamp and a string message.");
    }
    ev[i].ts = json_integer_value(ts);
    ev[i].msg = json_string_value(m);
    ev[i].len = json_string_length(m);
    if (ev[i].len < 1) {
      free(ev);
      return fail(c, TW_ERR_LOGS_INVALID_PARAMETER,
                  "1 validation error detected: Value '' at 'logEvents.%zu.member.message' "
                  "failed to satisfy constraint: Member must have length greater than or equal "
                  "to 1",
                  i + 1);
    }
    bytes += ev[i].len + TW_LOGS_EVENT_OVERHEAD;
    if (i && ev[i].ts < ev[i - 1].ts) {
      free(ev);
      return fail(c, TW_ERR_LOGS_INVALID_PARAMETER,
                  "Log events in a single PutLogEvents request must be in chronological "
                  "order.");
    }
  }
  if (bytes > TW_LOGS_MAX_BATCH_BYTES) {
    free(ev);
    return fail(c, TW_ERR_LOGS_INVALID_PARAMETER, "Upload too large: %zu bytes exceeds limit of %d",
                bytes, TW_LOGS_MAX_BATCH_BYTES);
  }
  if (ev[n - 1].ts - ev[0].ts > TW_LOGS_MAX_SPAN_MS) {
    free(ev);
    return fail(c, TW_ERR_LOGS_INVALID_PARAMETER,
                "The batch of log events in a single PutLogEvents request cannot span more "
                "than 24 hours.");
  }
  if (l->db) return db_put_events(c, name, sname, ev, n);
  int64_t now = now_ms();
  pthread_mutex_lock(&l->mu);
  lgroup *g = group_find(l, name);
  lstream *s = g ? stream_find(g, sname) : NULL;
  if (!s) {
    pthread_mutex_unlock(&l->mu);
    free(ev);
    return g ? no_stream(c) : no_group(c);
  }
  /* events are in order: too old ones lead, too new ones trail */
  long too_old = -1, expired = -1, too_new = -1;
  int64_t keep_from = g->retention_days ? now - (int64_t)g->retention_days * 86400000LL : INT64_MIN;
  for (size_t i = 0; i < n; i++) {
    if (ev[i].ts < now - TW_LOGS_PAST_MS) too_old = (long)i;
    if (ev[i].ts < keep_from) expired = (long)i;
    if (too_new < 0 && ev[i].ts > now + TW_LOGS_FUTURE_MS) too_new = (long)i;
  }
  size_t from = (size_t)((too_old > expired ? too_old : expired) + 1);
  size_t to = too_new >= 0 ? (size_t)too_new : n;
  uint64_t t = from < to ? append_locked(l, g, s, ev + from, to - from) : 0;
  if (from < to && !t) {
    pthread_mutex_unlock(&l->mu);
    free(ev);
    return fail(c, TW_ERR_INTERNAL, "Out of memory.");
  }
  char tok[32];
  snprintf(tok, sizeof tok, "%" PRIu64, s->token);
  pthread_mutex_unlock(&l->mu);
  /* EMF documents become metrics (their own batch, waited for as well) */
  uint64_t mt = from < to && l->metrics ? tw_logs_emf_put(l->metrics, ev + from, to - from) : 0;
  free(ev);
  c->ticket = t > mt ? t : mt;
  c->out = json_pack("{s:s}", "nextSequenceToken", tok);
  if (too_old >= 0 || expired >= 0 || too_new >= 0) {
    json_t *rj = json_object();
    if (too_old >= 0) json_object_set_new(rj, "tooOldLogEventEndIndex", json_integer(too_old));
    if (expired >= 0) json_object_set_new(rj, "expiredLogEventEndIndex", json_integer(expired));
    if (too_new >= 0) json_object_set_new(rj, "tooNewLogEventStartIndex", json_integer(too_new));
    json_object_set_new(c->out, "rejectedLogEventsInfo", rj);
  }
  if (!c->ticket) c->seen_ticket = tw_store_ticket(l->store);
  return TW_ERR_OK;
}

uint64_t tw_logs_append(tw_logs *l, const char *group, int retention_days, const char *stream,
                        const tw_log_input *ev, size_t n) {
  if (!l || !n || !valid_group_name(group) || !valid_stream_name(stream)) return 0;
  if (l->db) return db_append_named(l, group, retention_days, stream, ev, n);
  pthread_mutex_lock(&l->mu);
  lgroup *g = group_find(l, group);
  if (!g) {
    g = group_add(l, l->next_id, group, now_ms(), retention_days);
    if (!g) goto fail;
    tw_log_group_row r = {.id = g->id,
                          .name = g->name,
                          .created_ms = g->created_ms,
                          .retention_days = retention_days};
    l->repo->group_save(l->store, &r);
  }
  lstream *s = stream_find(g, stream);
  if (!s) {
    tw_log_stream_row r = {
        .id = l->next_id, .group_id = g->id, .name = stream, .created_ms = now_ms()};
    s = stream_add(l, g, &r);
    if (!s) goto fail;
    l->repo->stream_save(l->store, &r);
  }
  uint64_t t = append_locked(l, g, s, ev, n);
  pthread_mutex_unlock(&l->mu);
  if (l->metrics) {
    uint64_t mt = tw_logs_emf_put(l->metrics, ev, n);
    if (mt > t) t = mt;
  }
  return t;
fail:
  pthread_mutex_unlock(&l->mu);
  return 0;
}

/* Tokens: "f/<ts>/<seq>" reads after that position, "b/<ts>/<seq>" before it. */
static int parse_pos(const char *tok, char *dir, int64_t *ts, uint64_t *seq) {
  long long a;
  unsigned long long b;
  char d;
  int used = 0;
  if (sscanf(tok, "%c/%lld/%llu%n", &d, &a, &b, &used) != 3 || tok[used] || (d != 'f' && d != 'b'))
    return -1;
  *dir = d;
  *ts = a;
  *seq = b;
  return 0;
}

static json_t *pos_token(char dir, int64_t ts, uint64_t seq) {
  char t[80];
  snprintf(t, sizeof t, "%c/%lld/%llu", dir, (long long)ts, (unsigned long long)seq);
  return json_string(t);
}

typedef struct {
  json_t *events;
  long long limit;
  size_t bytes;
  int64_t first_ts, last_ts;
  uint64_t first_seq, last_seq;
  size_t n;
  /* FilterLogEvents */
  const tw_log_filter *filter;
  const int64_t *ids; /* the streams searched, sorted; NULL: all */
  char **names;       /* their names, same order */
  size_t nids;
  size_t scanned;
  int more;
  int with_stream;
} collect;

static int collect_get(void *ud, const tw_log_event_row *e) {
  collect *x = ud;
  if ((long long)x->n == x->limit || x->bytes + e->msg_len > TW_LOGS_MAX_BATCH_BYTES) {
    x->more = 1;
    return 1;
  }
  json_t *o = json_object();
  json_object_set_new(o, "timestamp", json_integer(e->ts));
  json_object_set_new(o, "message", json_stringn(e->msg, e->msg_len));
  json_object_set_new(o, "ingestionTime", json_integer(e->ingest_ms));
  json_array_append_new(x->events, o);
  if (!x->n) {
    x->first_ts = e->ts;
    x->first_seq = e->seq;
  }
  x->last_ts = e->ts;
  x->last_seq = e->seq;
  x->n++;
  x->bytes += e->msg_len + TW_LOGS_EVENT_OVERHEAD;
  return 0;
}

static int time_args(tw_logs_call *c, int64_t *start, int64_t *end, long long *limit) {
  long long a = 0, b = 0;
  int ha = get_int(c, "startTime", &a), hb = get_int(c, "endTime", &b);
  if (ha < 0 || hb < 0 || get_int(c, "limit", limit) < 0) return -1;
  *start = ha ? a : INT64_MIN + 1;
  *end = hb ? b : INT64_MAX;
  if (*limit < 1 || *limit > 10000) {
    fail(c, TW_ERR_LOGS_INVALID_PARAMETER,
         "1 validation error detected: Value '%lld' at 'limit' failed to satisfy constraint: "
         "Member must have value between 1 and 10000",
         *limit);
    return -1;
  }
  return 0;
}

/* Events older than the group's retention are not shown, swept or not yet. */
static int64_t retention_floor(int retention_days, int64_t start) {
  if (!retention_days) return start;
  int64_t f = now_ms() - (int64_t)retention_days * 86400000LL;
  return start > f ? start : f;
}

static tw_err op_get_events(tw_logs_call *c) {
  tw_logs *l = c->logs;
  char name[600];
  const char *sname, *token = NULL;
  int64_t start, end;
  long long limit = 10000;
  int head = 0;
  if (group_name_arg(c, 1, name, sizeof name) || stream_name_arg(c, &sname) ||
      get_str(c, "nextToken", &token) < 0 || get_bool(c, "startFromHead", &head) < 0 ||
      time_args(c, &start, &end, &limit))
    return c->err;
  char dir = head ? 'f' : 'b';
  int64_t cts = head ? INT64_MIN : INT64_MAX;
  uint64_t cseq = head ? 0 : UINT64_MAX >> 1;
  if (token && parse_pos(token, &dir, &cts, &cseq))
    return fail(c, TW_ERR_LOGS_INVALID_PARAMETER, "The specified nextToken is invalid.");
  tw_log_scan q = {.end = end, .desc = dir == 'b', .cur_ts = cts, .cur_seq = cseq};
  if (l->db) { /* cluster mode: the ids from the database */
    tw_log_group_row gr;
    tw_log_stream_row sr;
    int rc = l->repo->stream_get(l->store, name, sname, &gr, &sr, NULL);
    if (rc != 1)
      return rc == TW_LOGS_NO_GROUP ? no_group(c) : rc < 0 ? unavailable(c) : no_stream(c);
    q.group_id = gr.id;
    q.stream_id = sr.id;
    q.start = retention_floor(gr.retention_days, start);
  } else {
    pthread_mutex_lock(&l->mu);
    lgroup *g = group_find(l, name);
    lstream *s = g ? stream_find(g, sname) : NULL;
    if (!s) {
      pthread_mutex_unlock(&l->mu);
      return g ? no_stream(c) : no_group(c);
    }
    q.group_id = g->id;
    q.stream_id = s->id;
    q.start = retention_floor(g->retention_days, start);
    pthread_mutex_unlock(&l->mu);
  }
  collect x = {.events = json_array(), .limit = limit};
  if (l->repo->scan(l->store, &q, collect_get, &x)) {
    json_decref(x.events);
    return fail(c, TW_ERR_LOGS_SERVICE_UNAVAILABLE, "Cannot read the log events.");
  }
  if (dir == 'b') { /* read newest first: answer oldest first */
    json_t *r = json_array();
    for (size_t i = json_array_size(x.events); i-- > 0;)
      json_array_append(r, json_array_get(x.events, i));
    json_decref(x.events);
    x.events = r;
    int64_t t = x.first_ts;
    uint64_t sq = x.first_seq;
    x.first_ts = x.last_ts, x.first_seq = x.last_seq;
    x.last_ts = t, x.last_seq = sq;
  }
  c->out = json_pack("{s:o}", "events", x.events);
  if (x.n) {
    json_object_set_new(c->out, "nextForwardToken", pos_token('f', x.last_ts, x.last_seq));
    json_object_set_new(c->out, "nextBackwardToken", pos_token('b', x.first_ts, x.first_seq));
  } else if (dir == 'f') { /* nothing new: the same token again, so polling goes on */
    json_object_set_new(c->out, "nextForwardToken", pos_token('f', cts, cseq));
    json_object_set_new(c->out, "nextBackwardToken", pos_token('b', cts, cseq + 1));
  } else {
    json_object_set_new(c->out, "nextBackwardToken", pos_token('b', cts, cseq));
    json_object_set_new(c->out, "nextForwardToken",
                        pos_token('f', cts == INT64_MAX ? INT64_MIN : cts, cseq ? cseq - 1 : 0));
  }
  return TW_ERR_OK;
}

#define FILTER_SCAN_MAX 200000 /* events looked at per FilterLogEvents call */

static int collect_filter(void *ud, const tw_log_event_row *e) {
  collect *x = ud;
  if (x->scanned++ == FILTER_SCAN_MAX) { /* answer what was found; the token goes on */
    x->more = 1;
    return 1;
  }
  size_t lo = 0, hi = x->nids;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (x->ids[mid] < e->stream_id)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == x->nids || x->ids[lo] != e->stream_id) goto skip;
  if (x->filter && !tw_log_filter_match(x->filter, e->msg, e->msg_len)) goto skip;
  if ((long long)x->n == x->limit || x->bytes + e->msg_len > TW_LOGS_MAX_BATCH_BYTES) {
    x->more = 1;
    return 1;
  }
  json_t *o = json_object();
  json_object_set_new(o, "logStreamName", json_string(x->names[lo]));
  json_object_set_new(o, "timestamp", json_integer(e->ts));
  json_object_set_new(o, "message", json_stringn(e->msg, e->msg_len));
  json_object_set_new(o, "ingestionTime", json_integer(e->ingest_ms));
  char id[32];
  snprintf(id, sizeof id, "%020llu", (unsigned long long)e->seq);
  json_object_set_new(o, "eventId", json_string(id));
  json_array_append_new(x->events, o);
  x->n++;
  x->bytes += e->msg_len + TW_LOGS_EVENT_OVERHEAD;
skip:
  x->last_ts = e->ts;
  x->last_seq = e->seq;
  return 0;
}

typedef struct {
  int64_t id;
  char *name;
} idname;

static int by_id(const void *a, const void *b) {
  const idname *x = a, *y = b;
  return x->id < y->id ? -1 : x->id > y->id;
}

typedef struct {
  json_t *names; /* logStreamNames, or NULL */
  idname *v;
  size_t n, cap;
  int oom;
} db_pick;

static void db_pick_stream(void *ud, const tw_log_stream_row *r, uint64_t token) {
  (void)token;
  db_pick *x = ud;
  if (x->oom) return;
  if (json_is_array(x->names)) {
    int want = 0;
    size_t k;
    json_t *nm;
    json_array_foreach(x->names, k, nm) {
      if (json_is_string(nm) && !strcmp(json_string_value(nm), r->name)) want = 1;
    }
    if (!want) return;
  }
  if (x->n == x->cap) {
    size_t cap = x->cap ? 2 * x->cap : 16;
    idname *nv = realloc(x->v, (cap + 1) * sizeof *nv);
    if (!nv) {
      x->oom = 1;
      return;
    }
    x->v = nv;
    x->cap = cap;
  }
  x->v[x->n].id = r->id;
  x->v[x->n].name = strdup(r->name);
  if (x->v[x->n].name) x->n++;
}

/* Cluster mode: the streams FilterLogEvents searches, read from the database;
 * one stream is scanned by its own index rather than the group's. */
static tw_err db_filter_streams(tw_logs_call *c, const char *name, const char *prefix,
                                json_t *names, int64_t start, tw_log_scan *q, idname **v,
                                size_t *nv) {
  tw_logs *l = c->logs;
  tw_log_group_row g;
  int rc = l->repo->group_get(l->store, name, &g, NULL);
  if (rc <= 0) return rc < 0 ? unavailable(c) : no_group(c);
  db_pick x = {.names = names};
  x.v = calloc(1, sizeof *x.v);
  if (!x.v) return fail(c, TW_ERR_INTERNAL, "Out of memory.");
  if (l->repo->stream_list(l->store, g.id, prefix, 0, 0, 0, 1000000, db_pick_stream, &x) || x.oom) {
    for (size_t i = 0; i < x.n; i++) free(x.v[i].name);
    free(x.v);
    return x.oom ? fail(c, TW_ERR_INTERNAL, "Out of memory.") : unavailable(c);
  }
  q->group_id = g.id;
  q->start = retention_floor(g.retention_days, start);
  if (x.n == 1) q->stream_id = x.v[0].id;
  *v = x.v;
  *nv = x.n;
  return TW_ERR_OK;
}

static tw_err op_filter_events(tw_logs_call *c) {
  tw_logs *l = c->logs;
  char name[600];
  const char *prefix = NULL, *pattern = NULL, *token = NULL;
  int64_t start, end;
  long long limit = 10000;
  int inter = 0;
  if (group_name_arg(c, 1, name, sizeof name) || get_str(c, "logStreamNamePrefix", &prefix) < 0 ||
      get_str(c, "filterPattern", &pattern) < 0 || get_str(c, "nextToken", &token) < 0 ||
      get_bool(c, "interleaved", &inter) < 0 || time_args(c, &start, &end, &limit))
    return c->err;
  json_t *names = json_object_get(c->in, "logStreamNames");
  if (names && !json_is_null(names) && !json_is_array(names))
    return fail(c, TW_ERR_MALFORMED_JSON, "Unexpected value type for logStreamNames.");
  if (json_is_array(names) && prefix)
    return fail(c, TW_ERR_LOGS_INVALID_PARAMETER,
                "You cannot specify both logStreamNames and logStreamNamePrefix.");
  if (json_is_array(names) && (json_array_size(names) < 1 || json_array_size(names) > 100))
    return fail(c, TW_ERR_LOGS_INVALID_PARAMETER,
                "logStreamNames must name between 1 and 100 log streams.");
  char dir = 'f';
  int64_t cts = INT64_MIN;
  uint64_t cseq = 0;
  if (token && (parse_pos(token, &dir, &cts, &cseq) || dir != 'f'))
    return fail(c, TW_ERR_LOGS_INVALID_PARAMETER, "The specified nextToken is invalid.");
  tw_log_filter *f = NULL;
  if (pattern && *pattern) {
    f = tw_log_filter_compile(pattern, c->msg, sizeof c->msg);
    if (!f) return fail(c, TW_ERR_LOGS_INVALID_PARAMETER, "%s", c->msg);
  }
  idname *v = NULL;
  size_t nv = 0;
  tw_log_scan q = {.end = end, .cur_ts = cts, .cur_seq = cseq};
  if (l->db) {
    tw_err e = db_filter_streams(c, name, prefix, names, start, &q, &v, &nv);
    if (e != TW_ERR_OK) {
      tw_log_filter_free(f);
      return e;
    }
  } else {
    pthread_mutex_lock(&l->mu);
    lgroup *g = group_find(l, name);
    if (!g) {
      pthread_mutex_unlock(&l->mu);
      tw_log_filter_free(f);
      return no_group(c);
    }
    v = calloc(g->nstreams + 1, sizeof *v);
    size_t plen = prefix ? strlen(prefix) : 0;
    for (size_t i = 0; v && i < g->nstreams; i++) {
      lstream *s = g->streams[i];
      int want = 1;
      if (prefix) want = !strncmp(s->name, prefix, plen);
      if (json_is_array(names)) {
        want = 0;
        size_t k;
        json_t *nm;
        json_array_foreach(names, k, nm) if (json_is_string(nm) &&
                                             !strcmp(json_string_value(nm), s->name)) want = 1;
      }
      if (want) {
        v[nv].id = s->id;
        v[nv].name = strdup(s->name);
        nv++;
      }
    }
    q.group_id = g->id;
    q.start = retention_floor(g->retention_days, start);
    pthread_mutex_unlock(&l->mu);
  }
  if (!v) {
    tw_log_filter_free(f);
    return fail(c, TW_ERR_INTERNAL, "Out of memory.");
  }
  qsort(v, nv, sizeof *v, by_id);
  int64_t *ids = malloc((nv + 1) * sizeof *ids);
  char **nms = malloc((nv + 1) * sizeof *nms);
  for (size_t i = 0; ids && nms && i < nv; i++) {
    ids[i] = v[i].id;
    nms[i] = v[i].name;
  }
  collect x = {.events = json_array(),
               .limit = limit,
               .filter = f,
               .ids = ids,
               .names = nms,
               .nids = nv,
               .last_ts = cts,
               .last_seq = cseq};
  int rc = ids && nms && nv ? l->repo->scan(l->store, &q, collect_filter, &x) : 0;
  for (size_t i = 0; i < nv; i++) free(v[i].name);
  free(v);
  free(ids);
  free(nms);
  tw_log_filter_free(f);
  if (rc) {
    json_decref(x.events);
    return fail(c, TW_ERR_LOGS_SERVICE_UNAVAILABLE, "Cannot read the log events.");
  }
  c->out = json_pack("{s:o,s:[]}", "events", x.events, "searchedLogStreams");
  if (x.more) {
    /* after the last event answered (or looked at) */
    int64_t ts = x.last_ts;
    uint64_t sq = x.last_seq;
    json_object_set_new(c->out, "nextToken", pos_token('f', ts, sq));
  }
  return TW_ERR_OK;
}

/* --- the table -------------------------------------------------------------- */

typedef struct {
  const char *name;
  tw_err (*run)(tw_logs_call *c);
} logs_op;

static const logs_op k_ops[] = {
    {"CreateLogGroup", op_create_group},
    {"DeleteLogGroup", op_delete_group},
    {"DescribeLogGroups", op_describe_groups},
    {"PutRetentionPolicy", op_put_retention},
    {"DeleteRetentionPolicy", op_delete_retention},
    {"CreateLogStream", op_create_stream},
    {"DeleteLogStream", op_delete_stream},
    {"DescribeLogStreams", op_describe_streams},
    {"PutLogEvents", op_put_events},
    {"GetLogEvents", op_get_events},
    {"FilterLogEvents", op_filter_events},
};

int tw_logs_run(tw_logs_call *c, const char *name) {
  for (size_t i = 0; i < sizeof k_ops / sizeof *k_ops; i++)
    if (!strcmp(k_ops[i].name, name)) {
      c->err = TW_ERR_OK;
      k_ops[i].run(c);
      return 0;
    }
  return -1;
}
