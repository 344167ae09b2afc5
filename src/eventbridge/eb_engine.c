/* The EventBridge engine: buses and rules in memory, loaded from the store at
 * start and reloaded after a failed commit; rows appended under the engine
 * lock so the log order is the memory order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "eventbridge/eb_internal.h"
#include "store/eb_delivery.h"
#include "store/eventbridge.h"
#include "store/pg_state.h"

/* --- model --------------------------------------------------------------------- */

eb_bus *eb_bus_new(const char *name, const char *description, int64_t now_ms) {
  eb_bus *b = calloc(1, sizeof *b);
  b->name = strdup(name);
  b->description = description ? strdup(description) : NULL;
  b->tags = json_array();
  b->created_ms = b->modified_ms = now_ms;
  tw_map_init(&b->rules);
  return b;
}

void eb_rule_free(eb_rule *r) {
  if (!r) return;
  for (size_t i = 0; i < r->ntargets; i++) json_decref(r->targets[i].json);
  tw_pattern_free(r->pattern);
  eb_schedule_free(r->sched);
  free(r->name);
  free(r->bus);
  free(r->pattern_text);
  free(r->schedule);
  free(r->state);
  free(r->description);
  free(r->role_arn);
  free(r->created_by);
  json_decref(r->tags);
  free(r);
}

void eb_bus_free(eb_bus *b) {
  if (!b) return;
  const char *k;
  void *v;
  for (tw_map_entry *it = tw_map_next(&b->rules, NULL, &k, &v); it;
       it = tw_map_next(&b->rules, it, &k, &v))
    eb_rule_free(v);
  tw_map_free(&b->rules);
  free(b->name);
  free(b->description);
  json_decref(b->tags);
  free(b);
}

eb_bus *eb_bus_get(tw_eventbridge *eb, const char *name) {
  return tw_map_get(&eb->buses, name);
}

eb_rule *eb_rule_get(eb_bus *b, const char *name) {
  return b ? tw_map_get(&b->rules, name) : NULL;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **eb_names_sorted(tw_map *m, size_t *n) {
  const char **out = calloc(m->count + 1, sizeof *out);
  size_t k = 0;
  const char *key;
  void *v;
  for (tw_map_entry *it = tw_map_next(m, NULL, &key, &v); it; it = tw_map_next(m, it, &key, &v))
    out[k++] = key;
  qsort(out, k, sizeof *out, cmp_str);
  *n = k;
  return out;
}

const char **eb_bus_names(tw_eventbridge *eb, size_t *n) {
  return eb_names_sorted(&eb->buses, n);
}
const char **eb_rule_names(eb_bus *b, size_t *n) {
  return eb_names_sorted(&b->rules, n);
}

void eb_bus_arn(tw_eventbridge *eb, const char *bus, char *out, size_t n) {
  snprintf(out, n, "arn:aws:events:%s:%s:event-bus/%s", eb->region, eb->account, bus);
}

void eb_rule_arn(tw_eventbridge *eb, const char *bus, const char *rule, char *out, size_t n) {
  if (!strcmp(bus, "default"))
    snprintf(out, n, "arn:aws:events:%s:%s:rule/%s", eb->region, eb->account, rule);
  else
    snprintf(out, n, "arn:aws:events:%s:%s:rule/%s/%s", eb->region, eb->account, bus, rule);
}

int eb_bus_param(tw_eventbridge *eb, const char *v, char *out, size_t n) {
  if (!v || !*v) {
    snprintf(out, n, "default");
    return 0;
  }
  if (strncmp(v, "arn:", 4)) {
    snprintf(out, n, "%s", v);
    return 0;
  }
  char prefix[200];
  snprintf(prefix, sizeof prefix, "arn:aws:events:%s:%s:event-bus/", eb->region, eb->account);
  size_t pl = strlen(prefix);
  if (strncmp(v, prefix, pl) || !v[pl]) return -1;
  snprintf(out, n, "%s", v + pl);
  return 0;
}

/* --- targets ---------------------------------------------------------------------- */

static const char *str_of(json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

int eb_target_parse(tw_eventbridge *eb, json_t *json, eb_target *t, char *msg, size_t msglen) {
  memset(t, 0, sizeof *t);
  t->json = json;
  t->id = str_of(json, "Id");
  t->arn = str_of(json, "Arn");
  if (!t->id || !t->arn) {
    snprintf(msg, msglen, "Target Id and Arn are required.");
    return -1;
  }
  char prefix[200];
  if (!strncmp(t->arn, "arn:aws:sqs:", 12)) {
    t->kind = EB_T_SQS;
    size_t n = strlen(t->arn);
    t->fifo = n > 5 && !strcmp(t->arn + n - 5, ".fifo");
  } else if (!strncmp(t->arn, "arn:aws:sns:", 12)) {
    t->kind = EB_T_SNS;
  } else if (strstr(t->arn, ":api-destination/")) {
    char name[128];
    if (eb_api_dest_name(eb, t->arn, name, sizeof name)) {
      snprintf(msg, msglen,
               "Target %s: %s is not an API destination ARN of this account and region.", t->id,
               t->arn);
      return -1;
    }
    t->kind = EB_T_API;
  } else {
    snprintf(prefix, sizeof prefix, "arn:aws:events:%s:%s:event-bus/", eb->region, eb->account);
    if (strncmp(t->arn, prefix, strlen(prefix))) {
      const char *svc = !strncmp(t->arn, "arn:aws:", 8) ? t->arn + 8 : NULL;
      const char *end = svc ? strchr(svc, ':') : NULL;
      snprintf(msg, msglen,
               "tweedle delivers to SQS queues, SNS topics, event buses and API destinations of "
               "this account and region only: target %s (%.*s) is not supported.",
               t->id, end ? (int)(end - svc) : 7, end ? svc : "unknown");
      return -1;
    }
    t->kind = EB_T_BUS;
  }
  json_t *sqs = json_object_get(json, "SqsParameters");
  t->group_id = str_of(sqs, "MessageGroupId");
  t->input = str_of(json, "Input");
  t->input_path = str_of(json, "InputPath");
  json_t *tr = json_object_get(json, "InputTransformer");
  if (tr) {
    t->template = str_of(tr, "InputTemplate");
    t->paths_map = json_object_get(tr, "InputPathsMap");
  }
  t->dlq_arn = str_of(json_object_get(json, "DeadLetterConfig"), "Arn");
  json_t *rp = json_object_get(json, "RetryPolicy");
  json_t *mr = json_object_get(rp, "MaximumRetryAttempts"),
         *ma = json_object_get(rp, "MaximumEventAgeInSeconds");
  t->max_retries = json_is_integer(mr) ? (int)json_integer_value(mr) : EB_DEFAULT_RETRIES;
  t->max_age_s = json_is_integer(ma) ? (int)json_integer_value(ma) : EB_DEFAULT_MAX_AGE;
  t->http_params = json_object_get(json, "HttpParameters");
  return 0;
}

/* --- rows --------------------------------------------------------------------------- */

static char *dump_or_null(const json_t *j) {
  return j ? json_dumps(j, JSON_COMPACT) : NULL;
}

uint64_t eb_save_bus(tw_eventbridge *eb, const eb_bus *b) {
  char *tags = dump_or_null(b->tags);
  tw_eb_bus_row row = {.name = b->name,
                       .description = b->description,
                       .tags_json = tags,
                       .created_ms = b->created_ms,
                       .modified_ms = b->modified_ms};
  uint64_t t = tw_store_eventbridge(eb->store)->bus_put(eb->store, &row);
  free(tags);
  return t;
}

uint64_t eb_save_rule(tw_eventbridge *eb, const eb_rule *r) {
  char *tags = dump_or_null(r->tags);
  json_t *targets = json_array();
  for (size_t i = 0; i < r->ntargets; i++) json_array_append(targets, r->targets[i].json);
  char *tj = json_dumps(targets, JSON_COMPACT);
  json_decref(targets);
  tw_eb_rule_row row = {.bus = r->bus,
                        .name = r->name,
                        .pattern = r->pattern_text,
                        .schedule = r->schedule,
                        .state = r->state,
                        .description = r->description,
                        .role_arn = r->role_arn,
                        .created_by = r->created_by,
                        .tags_json = tags,
                        .targets_json = tj,
                        .created_ms = r->created_ms,
                        .modified_ms = r->modified_ms};
  uint64_t t = tw_store_eventbridge(eb->store)->rule_put(eb->store, &row);
  free(tags);
  free(tj);
  return t;
}

/* --- loading ------------------------------------------------------------------------ */

static char *dup_or_null(const char *s) {
  return s && *s ? strdup(s) : NULL;
}

static json_t *tags_of(const char *text) {
  json_t *j = text && *text ? json_loads(text, 0, NULL) : NULL;
  if (!json_is_array(j)) {
    json_decref(j);
    j = json_array();
  }
  return j;
}

static int load_bus(void *ud, const tw_eb_bus_row *row) {
  tw_eventbridge *eb = ud;
  eb_bus *b = eb_bus_new(row->name, row->description && *row->description ? row->description : NULL,
                         row->created_ms);
  b->modified_ms = row->modified_ms;
  json_decref(b->tags);
  b->tags = tags_of(row->tags_json);
  eb_bus_free(tw_map_del(&eb->buses, b->name));
  tw_map_put(&eb->buses, b->name, b);
  return 0;
}

static int load_rule(void *ud, const tw_eb_rule_row *row) {
  tw_eventbridge *eb = ud;
  eb_bus *b = eb_bus_get(eb, row->bus);
  if (!b) {
    tw_warn("eventbridge: rule %s names a bus that is gone (%s): skipped", row->name, row->bus);
    return 0;
  }
  eb_rule *r = calloc(1, sizeof *r);
  r->name = strdup(row->name);
  r->bus = strdup(row->bus);
  r->pattern_text = dup_or_null(row->pattern);
  r->schedule = dup_or_null(row->schedule);
  r->state = strdup(row->state && *row->state ? row->state : "ENABLED");
  r->description = dup_or_null(row->description);
  r->role_arn = dup_or_null(row->role_arn);
  r->created_by = dup_or_null(row->created_by);
  r->tags = tags_of(row->tags_json);
  r->created_ms = row->created_ms;
  r->modified_ms = row->modified_ms;
  if (r->pattern_text) {
    char err[512];
    r->pattern = tw_pattern_compile(r->pattern_text, strlen(r->pattern_text),
                                    TW_PATTERN_EVENTBRIDGE, err, sizeof err);
    if (!r->pattern)
      tw_warn("eventbridge: the pattern of rule %s on %s no longer compiles: %s", r->name, r->bus,
              err);
  }
  if (r->schedule) {
    r->sched = eb_schedule_parse(r->schedule);
    if (!r->sched)
      tw_warn("eventbridge: the schedule of rule %s no longer parses: %s", r->name, r->schedule);
    r->sched_last_ms = r->modified_ms;
  }
  json_t *targets = row->targets_json ? json_loads(row->targets_json, 0, NULL) : NULL;
  size_t i;
  json_t *t;
  json_array_foreach(targets, i, t) {
    char msg[256];
    if (r->ntargets == EB_MAX_TARGETS) break;
    if (eb_target_parse(eb, json_incref(t), &r->targets[r->ntargets], msg, sizeof msg)) {
      json_decref(t);
      tw_warn("eventbridge: rule %s: a stored target is unusable: %s", r->name, msg);
      continue;
    }
    r->ntargets++;
  }
  json_decref(targets);
  eb_rule_free(tw_map_del(&b->rules, r->name));
  tw_map_put(&b->rules, r->name, r);
  return 0;
}

static void free_state(tw_eventbridge *eb) {
  const char *k;
  void *v;
  eb_api_free(eb);
  for (tw_map_entry *it = tw_map_next(&eb->buses, NULL, &k, &v); it;
       it = tw_map_next(&eb->buses, it, &k, &v))
    eb_bus_free(v);
  tw_map_free(&eb->buses);
  tw_map_init(&eb->buses);
}

/* Fills memory from the committed rows; creates the default bus when the
 * store has none (appended: it commits with the next batch). */
static int load_mark(void *ud, const char *bus, const char *rule, int64_t last_ms) {
  eb_rule *r = eb_rule_get(eb_bus_get(ud, bus), rule);
  if (r && r->sched) r->sched_last_ms = last_ms;
  return 0;
}

static int load_all(tw_eventbridge *eb) {
  free_state(eb);
  if (tw_store_eventbridge(eb->store)->load(eb->store, load_bus, load_rule, eb)) return -1;
  if (tw_store_eb_delivery(eb->store)->mark_load(eb->store, load_mark, eb)) return -1;
  if (eb_api_load(eb)) return -1;
  if (!eb_bus_get(eb, "default")) {
    eb_bus *b = eb_bus_new("default", NULL, tw_now_ms());
    tw_map_put(&eb->buses, b->name, b);
    eb_save_bus(eb, b);
  }
  return 0;
}

/* --- cluster mode ------------------------------------------------------------------ */

typedef struct {
  char *key; /* "BUS\nRULE" */
  int64_t last_ms;
} fired;

/* Cluster mode: the model again from PostgreSQL, at the counter's value read
 * first (the state read is at least that new). The schedule marks of this
 * node's rules are kept where they are later than the committed ones (a fire
 * whose batch has not committed yet). Lock held. 0, or -1 (behind stays set). */
static int cluster_reload(tw_eventbridge *eb) {
  int64_t v = tw_store_pg_state_read(eb->store, TW_EB_STATE);
  if (v < 0) {
    atomic_store(&eb->behind, 1);
    return -1;
  }
  atomic_store(&eb->behind, 0);
  size_t nf = 0, cap = 0;
  fired *f = NULL;
  const char *k, *rk;
  void *v1, *v2;
  for (tw_map_entry *it = tw_map_next(&eb->buses, NULL, &k, &v1); it;
       it = tw_map_next(&eb->buses, it, &k, &v1)) {
    eb_bus *b = v1;
    for (tw_map_entry *jt = tw_map_next(&b->rules, NULL, &rk, &v2); jt;
         jt = tw_map_next(&b->rules, jt, &rk, &v2)) {
      eb_rule *r = v2;
      if (!r->sched) continue;
      if (nf == cap) {
        cap = cap ? cap * 2 : 16;
        f = realloc(f, cap * sizeof *f);
      }
      size_t n = strlen(b->name) + strlen(r->name) + 2;
      f[nf].key = malloc(n);
      snprintf(f[nf].key, n, "%s\n%s", b->name, r->name);
      f[nf++].last_ms = r->sched_last_ms;
    }
  }
  int rc = load_all(eb);
  for (size_t i = 0; i < nf; i++) {
    char *nl = strchr(f[i].key, '\n');
    *nl = 0;
    eb_rule *r = eb_rule_get(eb_bus_get(eb, f[i].key), nl + 1);
    if (r && r->sched && r->sched_last_ms < f[i].last_ms) r->sched_last_ms = f[i].last_ms;
    free(f[i].key);
  }
  free(f);
  if (rc) {
    atomic_store(&eb->behind, 1);
    tw_warn("eventbridge: reloading the buses and rules from PostgreSQL failed");
    return -1;
  }
  atomic_store(&eb->version, v);
  return 0;
}

void eb_mark_behind(tw_eventbridge *eb) {
  atomic_store(&eb->behind, 1);
}

int eb_sync(tw_eventbridge *eb) {
  if (!eb->cluster) return 0;
  int64_t v = tw_store_pg_state_read(eb->store, TW_EB_STATE);
  if (v < 0) return -1;
  if (v <= atomic_load(&eb->version) && !atomic_load(&eb->behind)) return 0;
  eb_lock(eb);
  int rc = 0;
  if (v > atomic_load(&eb->version) || atomic_load(&eb->behind)) rc = cluster_reload(eb);
  eb_unlock(eb);
  return rc;
}

void eb_catch_up(tw_eventbridge *eb) {
  if (!eb->cluster) return;
  int64_t v = tw_store_pg_state_read(eb->store, TW_EB_STATE);
  if (v < 0) return; /* the batch it would join most likely fails as well */
  if (v > atomic_load(&eb->version) || atomic_load(&eb->behind)) cluster_reload(eb);
}

/* The state listener (a PostgreSQL connection's thread): another node (or
 * this one) committed a change, or the listener reconnected. */
static void heard(void *ud) {
  tw_eventbridge *eb = ud;
  eb_mark_behind(eb);
  if (eb_sync(eb)) tw_warn("eventbridge: a change was heard of but could not be loaded yet");
}

/* Memory becomes the store's state again after a failed commit: what was
 * appended since is let commit first (it came from the memory about to go),
 * then buses and rules are read back. Lock held. */
static void resync(tw_eventbridge *eb) {
  atomic_store(&eb->stale, 0);
  atomic_store(&eb->synced_failures, tw_store_failures(eb->store));
  uint64_t t = tw_store_ticket(eb->store);
  int64_t until = tw_mono_ms() + 30000;
  while (tw_store_committed(eb->store) < t && tw_mono_ms() < until) usleep(1000);
  if (eb->cluster ? cluster_reload(eb) : load_all(eb))
    tw_error("eventbridge: reloading the buses and rules failed");
  tw_warn("eventbridge: a commit failed: buses and rules reloaded from the store (%zu buses)",
          eb->buses.count);
}

void eb_lock(tw_eventbridge *eb) {
  pthread_mutex_lock(&eb->mu);
  if (atomic_load(&eb->stale) || atomic_load(&eb->synced_failures) != tw_store_failures(eb->store))
    resync(eb);
}

void eb_unlock(tw_eventbridge *eb) {
  pthread_mutex_unlock(&eb->mu);
}

tw_eventbridge *tw_eventbridge_open(tw_store *store, tw_events *bus, const char *region,
                                    const char *account, char *err, size_t errlen) {
  tw_eventbridge *eb = calloc(1, sizeof *eb);
  if (!eb) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  /* recursive: callers nest tw_events_lock (CompleteMultipartUpload holds it
   * around tw_s3_save_row, which takes it again), as the queue engine's is */
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&eb->mu, &ma);
  pthread_mutexattr_destroy(&ma);
  eb->store = store;
  eb->events = bus;
  snprintf(eb->region, sizeof eb->region, "%s", region);
  snprintf(eb->account, sizeof eb->account, "%s", account);
  tw_map_init(&eb->buses);
  tw_map_init(&eb->connections);
  tw_map_init(&eb->destinations);
  pthread_mutex_init(&eb->sched_mu, NULL);
  pthread_cond_init(&eb->sched_cv, NULL);
  const char *mm = getenv("TWEEDLE_SCHEDULE_MINUTE_MS");
  eb->minute_ms = mm && atoll(mm) > 0 ? atoll(mm) : 60000;
  atomic_store(&eb->synced_failures, tw_store_failures(store));
  /* cluster mode: the scheduler's lead, and the model at a counter value */
  eb->sched_lead = tw_store_pg_lead_open(store, "eventbridge-schedule");
  eb->cluster = eb->sched_lead != NULL;
  const char *cm = getenv("TWEEDLE_EB_CLAIM_MS");
  eb->claim_ms = cm && atoll(cm) > 0 ? atoll(cm) : 60000;
  if (eb->cluster ? cluster_reload(eb) : load_all(eb)) {
    snprintf(err, errlen, "eventbridge: cannot load the event buses and rules");
    tw_eventbridge_close(eb);
    return NULL;
  }
  if (eb_outbox_open(eb)) {
    snprintf(err, errlen, "eventbridge: cannot read the API destination outbox");
    tw_eventbridge_close(eb);
    return NULL;
  }
  if (eb_join_events(eb)) {
    snprintf(err, errlen, "eventbridge: the event bus takes no more targets");
    tw_eventbridge_close(eb);
    return NULL;
  }
  return eb;
}

void tw_eventbridge_commit_failed(tw_eventbridge *eb) {
  /* the writer thread: no lock here (a reload waits for the writer) */
  if (eb) atomic_store(&eb->stale, 1);
}

int tw_eventbridge_start(tw_eventbridge *eb) {
  if (!eb) return 0;
  if (eb->cluster && tw_store_pg_state_listen(eb->store, TW_EB_STATE, heard, eb)) {
    tw_error("eventbridge: cannot listen for changes made by other nodes");
    return -1;
  }
  if (eb->minute_ms != 60000)
    tw_info("eventbridge: one schedule minute is %lld ms (TWEEDLE_SCHEDULE_MINUTE_MS)",
            (long long)eb->minute_ms);
  return eb_outbox_start(eb) || eb_schedule_start(eb) ? -1 : 0;
}

void tw_eventbridge_stop(tw_eventbridge *eb) {
  if (!eb) return;
  eb_schedule_stop(eb);
  eb_outbox_stop(eb);
}

void tw_eventbridge_close(tw_eventbridge *eb) {
  if (!eb) return;
  tw_eventbridge_stop(eb);
  eb_outbox_close(eb);
  tw_store_pg_lead_close(eb->sched_lead);
  free_state(eb);
  tw_map_free(&eb->buses);
  tw_map_free(&eb->connections);
  tw_map_free(&eb->destinations);
  pthread_mutex_destroy(&eb->sched_mu);
  pthread_cond_destroy(&eb->sched_cv);
  pthread_mutex_destroy(&eb->mu);
  free(eb);
}
