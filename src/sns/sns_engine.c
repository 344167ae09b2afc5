/* The SNS engine's state: topics and subscriptions in memory, loaded from the
 * store at start and again after a failed commit; the action table; shared
 * helpers (ARN checks, default policy, effective delivery policies). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "sns/sns_internal.h"
#include "store/pg_state.h"
#include "store/sns.h"

/* --- the action table --------------------------------------------------------- */

static const tw_sns_action actions[] = {
    {"AddPermission", sns_add_permission, 0},
    {"ConfirmSubscription", sns_confirm_subscription, 1},
    {"CreateTopic", sns_create_topic, 1},
    {"DeleteTopic", sns_delete_topic, 0},
    {"GetDataProtectionPolicy", sns_get_data_protection_policy, 1},
    {"GetSubscriptionAttributes", sns_get_subscription_attributes, 1},
    {"GetTopicAttributes", sns_get_topic_attributes, 1},
    {"ListSubscriptions", sns_list_subscriptions, 1},
    {"ListSubscriptionsByTopic", sns_list_subscriptions_by_topic, 1},
    {"ListTagsForResource", sns_list_tags_for_resource, 1},
    {"ListTopics", sns_list_topics, 1},
    {"Publish", sns_publish, 1},
    {"PublishBatch", sns_publish_batch, 1},
    {"PutDataProtectionPolicy", sns_put_data_protection_policy, 0},
    {"RemovePermission", sns_remove_permission, 0},
    {"SetSubscriptionAttributes", sns_set_subscription_attributes, 0},
    {"SetTopicAttributes", sns_set_topic_attributes, 0},
    {"Subscribe", sns_subscribe, 1},
    {"TagResource", sns_tag_resource, 1},
    {"Unsubscribe", sns_unsubscribe, 0},
    {"UntagResource", sns_untag_resource, 1},
};

const tw_sns_action *tw_sns_find_action(const char *name) {
  for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
    if (!strcmp(actions[i].name, name)) return &actions[i];
  return NULL;
}

int sns_fail(tw_sns_call *c, tw_err e, const char *fmt, ...) {
  c->err = e;
  c->msg[0] = 0;
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
  }
  return -1;
}

void tw_sns_execute(tw_sns_call *c) {
  tw_sns *s = c->sns;
  /* read before anything is looked at: if it moves before the answer, a
   * failed commit may have undone what the call saw */
  c->failures = tw_store_failures(s->store);
  if (!c->cluster_synced && sns_cluster_sync(s)) {
    sns_fail(c, TW_ERR_SERVICE_UNAVAILABLE, NULL);
    return;
  }
  if (atomic_load(&s->synced_failures) != c->failures) {
    sns_lock(s);
    sns_resync_if_needed(s);
    sns_unlock(s);
  }
  const tw_sns_action *a = tw_sns_find_action(c->action);
  if (!a) {
    sns_fail(c, TW_ERR_INVALID_ACTION, "Could not find operation %s for version 2010-03-31",
             c->action);
    return;
  }
  if (a->fn(c) != 0 && c->err == TW_ERR_OK) c->err = TW_ERR_INTERNAL;
  if (c->err != TW_ERR_OK && c->out) {
    json_decref(c->out);
    c->out = NULL;
  }
  /* whatever the answer reports (a topic that exists, a subscription already
   * gone, a deduplicated publish) may be another request's change that is not
   * durable yet: wait for everything appended so far */
  c->seen_ticket = tw_store_ticket(s->store);
}

/* --- helpers -------------------------------------------------------------------- */

const char *sns_in_str(const json_t *in, const char *key) {
  return json_string_value(json_object_get(in, key));
}

int sns_check_arn(tw_sns_call *c, const char *arn, const char *what) {
  if (!arn || !*arn)
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: %s Reason: no value for required parameter", what);
  int parts = 1;
  for (const char *p = arn; *p; p++) parts += *p == ':';
  if (parts < 6)
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: %s Reason: An ARN must have at least 6 elements, not %d",
                    what, parts);
  char prefix[160];
  snprintf(prefix, sizeof prefix, "arn:aws:sns:%s:", c->sns->region);
  if (strncmp(arn, prefix, strlen(prefix)))
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER, "Invalid parameter: %s", what);
  return 0;
}

sns_topic *sns_topic_lookup(tw_sns_call *c, const char *arn, const char *what) {
  if (sns_check_arn(c, arn, what)) return NULL;
  sns_topic *t = sns_topic_get(c->sns, arn);
  if (!t) sns_fail(c, TW_ERR_NOT_FOUND, "Topic does not exist");
  return t;
}

void sns_iso8601(int64_t ms, char out[32]) {
  time_t secs = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  size_t n = strftime(out, 24, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000) & 1023);
}

json_t *sns_default_policy(const tw_sns *s, const char *topic_arn) {
  return json_pack("{s:s,s:s,s:[{s:s,s:s,s:{s:s},s:[s,s,s,s,s,s,s,s],s:s,s:{s:{s:s}}}]}", "Version",
                   "2008-10-17", "Id", "__default_policy_ID", "Statement", "Sid",
                   "__default_statement_ID", "Effect", "Allow", "Principal", "AWS", "*", "Action",
                   "SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
                   "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe",
                   "SNS:ListSubscriptionsByTopic", "SNS:Publish", "Resource", topic_arn,
                   "Condition", "StringEquals", "AWS:SourceOwner", s->account);
}

static json_t *default_http_policy(void) {
  return json_pack("{s:{s:i,s:i,s:i,s:i,s:i,s:i,s:s},s:b,s:{s:s}}", "defaultHealthyRetryPolicy",
                   "minDelayTarget", 20, "maxDelayTarget", 20, "numRetries", 3,
                   "numMaxDelayRetries", 0, "numNoDelayRetries", 0, "numMinDelayRetries", 0,
                   "backoffFunction", "linear", "disableSubscriptionOverrides", 0,
                   "defaultRequestPolicy", "headerContentType", "text/plain; charset=UTF-8");
}

/* dst's members overridden by src's, one level of objects merged */
static void merge_into(json_t *dst, json_t *src) {
  const char *k;
  json_t *v;
  json_object_foreach(src, k, v) {
    json_t *d = json_object_get(dst, k);
    if (json_is_object(d) && json_is_object(v))
      json_object_update(d, v);
    else
      json_object_set(dst, k, v);
  }
}

static json_t *topic_http_policy(const sns_topic *t) {
  json_t *http = default_http_policy();
  const char *dp = sns_in_str(t->attrs, "DeliveryPolicy");
  json_t *doc = dp && *dp ? json_loads(dp, 0, NULL) : NULL;
  json_t *mine = json_object_get(doc, "http");
  if (json_is_object(mine)) merge_into(http, mine);
  json_decref(doc);
  return http;
}

char *sns_effective_delivery_policy(const sns_topic *t) {
  json_t *o = json_pack("{s:o}", "http", topic_http_policy(t));
  char *out = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return out;
}

char *sns_sub_effective_delivery_policy(const sns_sub *sub) {
  json_t *http = topic_http_policy(sub->topic);
  const char *dp = sns_in_str(sub->attrs, "DeliveryPolicy");
  json_t *mine = dp && *dp ? json_loads(dp, 0, NULL) : NULL;
  json_t *healthy = json_deep_copy(json_object_get(http, "defaultHealthyRetryPolicy"));
  json_t *v = json_object_get(mine, "healthyRetryPolicy");
  if (json_is_object(v) && json_is_object(healthy)) json_object_update(healthy, v);
  json_t *request = json_object_get(mine, "requestPolicy");
  if (!json_is_object(request)) request = json_object_get(http, "defaultRequestPolicy");
  json_t *throttle = json_object_get(mine, "throttlePolicy");
  if (!json_is_object(throttle)) throttle = json_object_get(http, "defaultThrottlePolicy");
  json_t *sickly = json_object_get(mine, "sicklyRetryPolicy");
  json_t *o =
      json_pack("{s:o,s:O,s:O,s:O,s:b}", "healthyRetryPolicy", healthy ? healthy : json_null(),
                "sicklyRetryPolicy", json_is_object(sickly) ? sickly : json_null(),
                "throttlePolicy", json_is_object(throttle) ? throttle : json_null(),
                "requestPolicy", request ? request : json_null(), "guaranteed",
                json_is_true(json_object_get(mine, "guaranteed")));
  char *out = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  json_decref(mine);
  json_decref(http);
  return out;
}

/* --- topics and subscriptions in memory --------------------------------------- */

void sns_lock(tw_sns *s) {
  pthread_mutex_lock(&s->mu);
}
void sns_unlock(tw_sns *s) {
  pthread_mutex_unlock(&s->mu);
}

sns_topic *sns_topic_get(tw_sns *s, const char *arn) {
  return arn ? tw_map_get(&s->topics, arn) : NULL;
}
sns_sub *sns_sub_get(tw_sns *s, const char *arn) {
  return arn ? tw_map_get(&s->subs, arn) : NULL;
}

void sns_topic_parse(const tw_sns *s, sns_topic *t) {
  /* the Policy, for sns_query.c's checks and deliveries from services; the
   * default one (its statement needs AWS:SourceOwner, which no user call has)
   * changes no decision and is not kept */
  tw_policy_free(t->policy);
  t->policy = NULL;
  const char *pol = sns_in_str(t->attrs, "Policy");
  json_t *doc = pol ? json_loads(pol, 0, NULL) : NULL;
  json_t *def = doc ? sns_default_policy(s, t->arn) : NULL;
  if (doc && !json_equal(doc, def)) {
    char why[256];
    t->policy = tw_policy_parse(pol, strlen(pol), TW_POLICY_RESOURCE, why, sizeof why);
    if (!t->policy) tw_warn("sns: topic %s: unreadable Policy ignored: %s", t->arn, why);
  }
  json_decref(doc);
  json_decref(def);
  const char *v = sns_in_str(t->attrs, "SignatureVersion");
  t->sigver = v && !strcmp(v, "2") ? 2 : 1;
  v = sns_in_str(t->attrs, "ContentBasedDeduplication");
  t->content_dedup = t->fifo && v && !strcmp(v, "true");
  v = sns_in_str(t->attrs, "FifoThroughputScope");
  t->dedup_by_group = t->fifo && v && !strcmp(v, "MessageGroup");
}

sns_topic *sns_topic_add(tw_sns *s, const char *arn, const char *name, int fifo, int64_t created_ms,
                         json_t *attrs, json_t *tags, uint64_t seqno) {
  sns_topic *t = calloc(1, sizeof *t);
  t->arn = strdup(arn);
  t->name = strdup(name);
  t->fifo = fifo;
  t->created_ms = created_ms;
  t->attrs = attrs ? attrs : json_object();
  t->tags = tags ? tags : json_object();
  t->seqno = seqno;
  tw_map_init(&t->dedup);
  sns_topic_parse(s, t);
  tw_map_put(&s->topics, t->arn, t);
  return t;
}

static void sub_free(sns_sub *sub) {
  free(sub->arn);
  free(sub->topic_arn);
  free(sub->protocol);
  free(sub->endpoint);
  free(sub->owner);
  free(sub->principal);
  json_decref(sub->attrs);
  free(sub->token);
  tw_pattern_free(sub->filter);
  free(sub->dlq_arn);
  free(sub);
}

static void topic_free(sns_topic *t) {
  const char *k;
  void *v;
  for (tw_map_entry *e = tw_map_next(&t->dedup, NULL, &k, &v); e;
       e = tw_map_next(&t->dedup, e, &k, &v))
    free(v);
  tw_map_free(&t->dedup);
  free(t->subs);
  tw_policy_free(t->policy);
  json_decref(t->attrs);
  json_decref(t->tags);
  free(t->arn);
  free(t->name);
  free(t);
}

void sns_topic_remove(tw_sns *s, sns_topic *t) {
  for (size_t i = 0; i < t->nsubs; i++) {
    tw_map_del(&s->subs, t->subs[i]->arn);
    sub_free(t->subs[i]);
  }
  t->nsubs = 0;
  tw_map_del(&s->topics, t->arn);
  topic_free(t);
}

int sns_sub_parse(sns_sub *sub, json_t *attrs, char *err, size_t errlen) {
  const char *raw = sns_in_str(attrs, "RawMessageDelivery");
  const char *scope = sns_in_str(attrs, "FilterPolicyScope");
  const char *policy = sns_in_str(attrs, "FilterPolicy");
  const char *redrive = sns_in_str(attrs, "RedrivePolicy");
  int body = scope && !strcmp(scope, "MessageBody");
  tw_pattern *filter = NULL;
  if (policy && *policy) {
    char msg[900] = "";
    filter =
        tw_pattern_compile(policy, strlen(policy),
                           body ? TW_PATTERN_SNS_BODY : TW_PATTERN_SNS_ATTRIBUTES, msg, sizeof msg);
    if (!filter) {
      snprintf(err, errlen, "%s", msg[0] ? msg : "Invalid parameter: FilterPolicy");
      return -1;
    }
  }
  char *dlq = NULL;
  if (redrive && *redrive) {
    json_t *doc = json_loads(redrive, 0, NULL);
    const char *arn = sns_in_str(doc, "deadLetterTargetArn");
    if (arn && *arn) dlq = strdup(arn);
    json_decref(doc);
  }
  tw_pattern_free(sub->filter);
  sub->filter = filter;
  sub->blocked = 0;
  free(sub->dlq_arn);
  sub->dlq_arn = dlq;
  sub->raw = raw && !strcasecmp(raw, "true");
  sub->body_scope = body;
  return 0;
}

sns_sub *sns_sub_add(tw_sns *s, sns_topic *t, const char *arn, const char *protocol,
                     const char *endpoint, json_t *attrs) {
  sns_sub *sub = calloc(1, sizeof *sub);
  char err[1024];
  if (sns_sub_parse(sub, attrs, err, sizeof err)) {
    free(sub);
    json_decref(attrs);
    return NULL;
  }
  sub->attrs = attrs;
  sub->arn = strdup(arn);
  sub->topic_arn = strdup(t->arn);
  sub->protocol = strdup(protocol);
  sub->endpoint = strdup(endpoint ? endpoint : "");
  sub->owner = strdup(s->account);
  sub->principal = strdup("");
  sub->topic = t;
  if (t->nsubs == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 4;
    t->subs = realloc(t->subs, t->cap * sizeof *t->subs);
  }
  t->subs[t->nsubs++] = sub;
  tw_map_put(&s->subs, sub->arn, sub);
  return sub;
}

void sns_sub_remove(tw_sns *s, sns_sub *sub) {
  sns_topic *t = sub->topic;
  for (size_t i = 0; t && i < t->nsubs; i++) {
    if (t->subs[i] != sub) continue;
    memmove(t->subs + i, t->subs + i + 1, (t->nsubs - i - 1) * sizeof *t->subs);
    t->nsubs--;
    break;
  }
  tw_map_del(&s->subs, sub->arn);
  sub_free(sub);
}

/* --- persistence --------------------------------------------------------------- */

uint64_t sns_topic_save(tw_sns *s, const sns_topic *t) {
  char *attrs = json_dumps(t->attrs, JSON_COMPACT);
  char *tags = json_dumps(t->tags, JSON_COMPACT);
  tw_sns_topic_row row = {.arn = t->arn,
                          .name = t->name,
                          .fifo = t->fifo,
                          .created_ms = t->created_ms,
                          .attrs_json = attrs,
                          .tags_json = tags,
                          .seqno = t->seqno};
  uint64_t ticket = tw_store_sns(s->store)->topic_save(s->store, &row);
  free(attrs);
  free(tags);
  return ticket;
}

uint64_t sns_sub_save(tw_sns *s, const sns_sub *sub) {
  char *attrs = json_dumps(sub->attrs, JSON_COMPACT);
  tw_sns_sub_row row = {.arn = sub->arn,
                        .topic_arn = sub->topic_arn,
                        .protocol = sub->protocol,
                        .endpoint = sub->endpoint,
                        .owner = sub->owner,
                        .principal = sub->principal,
                        .attrs_json = attrs,
                        .pending = sub->pending,
                        .authenticated = sub->authenticated,
                        .auth_unsubscribe = sub->auth_unsubscribe,
                        .token = sub->token,
                        .token_expires_ms = sub->token_expires_ms,
                        .created_ms = sub->created_ms};
  uint64_t ticket = tw_store_sns(s->store)->sub_save(s->store, &row);
  free(attrs);
  return ticket;
}

static json_t *load_object(const char *text) {
  json_t *o = text && *text ? json_loads(text, 0, NULL) : NULL;
  if (!json_is_object(o)) {
    json_decref(o);
    o = json_object();
  }
  return o;
}

static void load_topic(void *ud, const tw_sns_topic_row *r) {
  sns_topic_add(ud, r->arn, r->name, r->fifo, r->created_ms, load_object(r->attrs_json),
                load_object(r->tags_json), r->seqno);
}

static void load_sub(void *ud, const tw_sns_sub_row *r) {
  tw_sns *s = ud;
  sns_topic *t = sns_topic_get(s, r->topic_arn);
  if (!t) return; /* the topic is gone (deleted with its subscriptions) */
  json_t *attrs = load_object(r->attrs_json);
  sns_sub *sub = sns_sub_add(s, t, r->arn, r->protocol, r->endpoint, attrs);
  if (!sub) {
    /* a filter policy this build cannot compile: keep the subscription, but
     * deliver nothing to it rather than what it filtered out */
    tw_error(
        "sns: subscription %s: its filter policy no longer compiles; it receives nothing "
        "until the policy is set again",
        r->arn);
    json_t *kept = load_object(r->attrs_json);
    json_t *blocked = json_deep_copy(kept);
    json_object_del(blocked, "FilterPolicy");
    sub = sns_sub_add(s, t, r->arn, r->protocol, r->endpoint, blocked);
    if (!sub) {
      json_decref(kept);
      return;
    }
    json_decref(sub->attrs);
    sub->attrs = kept;
    sub->blocked = 1;
  }
  free(sub->owner);
  sub->owner = strdup(r->owner ? r->owner : s->account);
  free(sub->principal);
  sub->principal = strdup(r->principal ? r->principal : "");
  sub->pending = r->pending;
  sub->authenticated = r->authenticated;
  sub->auth_unsubscribe = r->auth_unsubscribe;
  sub->token = r->token && *r->token ? strdup(r->token) : NULL;
  sub->token_expires_ms = r->token_expires_ms;
  sub->created_ms = r->created_ms;
}

static void load_dedup(void *ud, const tw_sns_dedup_row *r) {
  sns_topic *t = sns_topic_get(ud, r->topic_arn);
  if (!t) return;
  sns_dedup *d = calloc(1, sizeof *d);
  snprintf(d->msg_id, sizeof d->msg_id, "%s", r->msg_id);
  d->seqno = r->seqno;
  d->expires_ms = r->expires_ms;
  free(tw_map_del(&t->dedup, r->key));
  tw_map_put(&t->dedup, r->key, d);
}

static void free_state(tw_sns *s) {
  const char *k;
  void *v;
  tw_map_entry *e;
  while ((e = tw_map_next(&s->topics, NULL, &k, &v))) sns_topic_remove(s, v);
  tw_map_free(&s->topics);
  tw_map_free(&s->subs);
}

static void load_version(void *ud, int64_t version) {
  tw_sns *s = ud;
  atomic_store(&s->loaded_version, version);
}

static int load_state(tw_sns *s) {
  tw_sns_loader ld = {load_topic, load_sub, load_dedup, load_version};
  return tw_store_sns(s->store)->load(s->store, tw_now_ms(), &ld, s);
}

/* The state in `fresh` (loaded at a newer counter) becomes s's; the old
 * state goes to `fresh` to be freed. With mu. */
static void adopt(tw_sns *s, tw_sns *fresh) {
  /* the built-in metrics counted since the last sweep stay with their topic */
  const char *k;
  void *v;
  for (tw_map_entry *e = tw_map_next(&fresh->topics, NULL, &k, &v); e;
       e = tw_map_next(&fresh->topics, e, &k, &v)) {
    sns_topic *nt = v, *ot = tw_map_get(&s->topics, k);
    if (!ot) continue;
    nt->m_published = ot->m_published;
    nt->m_delivered = ot->m_delivered;
    nt->m_failed = ot->m_failed;
    nt->m_size_sum = ot->m_size_sum;
    nt->m_size_min = ot->m_size_min;
    nt->m_size_max = ot->m_size_max;
  }
  tw_map t = s->topics, u = s->subs;
  s->topics = fresh->topics;
  s->subs = fresh->subs;
  fresh->topics = t;
  fresh->subs = u;
  atomic_store(&s->loaded_version, atomic_load(&fresh->loaded_version));
}

/* PostgreSQL's committed state, loaded into an engine of its own (no lock
 * of s held: the other requests and the bus go on meanwhile); NULL on
 * failure. */
static tw_sns *load_fresh(tw_sns *s) {
  tw_sns *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  f->store = s->store;
  f->cluster = 1;
  snprintf(f->region, sizeof f->region, "%s", s->region);
  snprintf(f->account, sizeof f->account, "%s", s->account);
  tw_map_init(&f->topics);
  tw_map_init(&f->subs);
  if (load_state(f)) {
    free_state(f);
    free(f);
    return NULL;
  }
  return f;
}

static void drop_fresh(tw_sns *f) {
  free_state(f);
  free(f);
}

int sns_cluster_sync(tw_sns *s) {
  if (!s->cluster) return 0;
  int64_t v = tw_store_pg_state_read(s->store, "sns");
  if (v < 0) return -1;
  if (v <= atomic_load(&s->loaded_version)) return 0;
  /* one load at a time (the others wait for it), outside mu */
  pthread_mutex_lock(&s->reload_mu);
  int rc = 0;
  if (v > atomic_load(&s->loaded_version)) {
    tw_sns *f = load_fresh(s);
    if (!f) {
      rc = -1;
    } else {
      sns_lock(s);
      if (atomic_load(&f->loaded_version) > atomic_load(&s->loaded_version)) adopt(s, f);
      sns_unlock(s);
      drop_fresh(f);
    }
  }
  pthread_mutex_unlock(&s->reload_mu);
  return rc;
}

int sns_cluster_sync_locked(tw_sns *s) {
  if (!s->cluster) return 0;
  int64_t v = tw_store_pg_state_read(s->store, "sns");
  if (v < 0) return -1;
  if (v <= atomic_load(&s->loaded_version)) return 0;
  tw_sns *f = load_fresh(s);
  if (!f) return -1;
  if (atomic_load(&f->loaded_version) > atomic_load(&s->loaded_version)) adopt(s, f);
  drop_fresh(f);
  return 0;
}

/* Cluster mode: a node committed a change (or the listener reconnected). */
static void on_changed(void *ud) {
  tw_sns *s = ud;
  if (sns_cluster_sync(s)) tw_warn("sns: cannot reload topics and subscriptions from PostgreSQL");
}

/* Memory becomes the store's state again after a failed commit: what was
 * appended since is let commit first (it was derived from the memory about to
 * go), then topics, subscriptions and dedup entries are read back. */
void sns_resync_if_needed(tw_sns *s) {
  uint64_t failures = tw_store_failures(s->store);
  if (atomic_load(&s->synced_failures) == failures) return;
  atomic_store(&s->synced_failures, failures);
  uint64_t t = tw_store_ticket(s->store);
  int64_t until = tw_mono_ms() + 30000;
  while (tw_store_committed(s->store) < t && tw_mono_ms() < until) usleep(1000);
  free_state(s);
  tw_map_init(&s->topics);
  tw_map_init(&s->subs);
  if (load_state(s)) tw_error("sns: reloading topics and subscriptions failed");
  tw_warn(
      "sns: a commit failed: topics and subscriptions reloaded from the store (%zu topics, "
      "%zu subscriptions)",
      s->topics.count, s->subs.count);
}

void tw_sns_commit_failed(tw_sns *s) {
  /* on the writer thread: nothing here may take the engine lock (a reload
   * holds it while it waits for the writer); the next call reloads */
  (void)s;
}

/* --- open and close -------------------------------------------------------------- */

static void base_url(const tw_config *cfg, char *out, size_t n) {
  if (cfg->sns_base_url[0])
    snprintf(out, n, "%s", cfg->sns_base_url);
  else if (cfg->public_url[0])
    snprintf(out, n, "%s", cfg->public_url);
  else {
    /* a wildcard listen address is no address to hand to clients */
    const char *l = cfg->listen;
    const char *scheme = cfg->tls_cert[0] ? "https" : "http";
    if (!strncmp(l, "0.0.0.0:", 8))
      snprintf(out, n, "%s://127.0.0.1:%s", scheme, l + 8);
    else if (!strncmp(l, "[::]:", 5))
      snprintf(out, n, "%s://[::1]:%s", scheme, l + 5);
    else
      snprintf(out, n, "%s://%s", scheme, l);
  }
  size_t len = strlen(out);
  while (len && out[len - 1] == '/') out[--len] = 0;
}

tw_sns *tw_sns_open(tw_store *store, const tw_config *cfg, char *err, size_t errlen) {
  tw_sns *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&s->mu, &ma);
  pthread_mutexattr_destroy(&ma);
  pthread_mutex_init(&s->reload_mu, NULL);
  s->store = store;
  snprintf(s->region, sizeof s->region, "%s", cfg->region);
  snprintf(s->account, sizeof s->account, "%s", cfg->account);
  base_url(cfg, s->base_url, sizeof s->base_url);
  tw_map_init(&s->topics);
  tw_map_init(&s->subs);
  atomic_store(&s->synced_failures, tw_store_failures(store));
  s->cluster = tw_store_sns(store)->fifo_begin != NULL; /* PostgreSQL's repository */
  if (sns_signing_open(s, cfg->data_dir, err, errlen)) goto fail;
  if (load_state(s)) {
    snprintf(err, errlen, "sns: cannot load topics and subscriptions from the store");
    goto fail;
  }
  if (sns_outbox_open(s, cfg, err, errlen)) goto fail;
  if (s->cluster && tw_store_pg_state_listen(store, "sns", on_changed, s)) {
    snprintf(err, errlen, "sns: cannot listen for the cluster's changes");
    goto fail;
  }
  tw_info("sns: %zu topics, %zu subscriptions; notifications point at %s", s->topics.count,
          s->subs.count, s->base_url);
  return s;
fail:
  tw_sns_close(s);
  return NULL;
}

int tw_sns_join_events(tw_sns *s, struct tw_events *bus) {
  s->bus = bus;
  return sns_join_bus(s);
}

void tw_sns_get_stats(tw_sns *s, tw_sns_stats *out) {
  sns_lock(s);
  *out = s->stats;
  sns_unlock(s);
}

int tw_sns_start(tw_sns *s) {
  return sns_outbox_start(s);
}

void tw_sns_stop(tw_sns *s) {
  if (s) sns_outbox_stop(s);
}

void tw_sns_close(tw_sns *s) {
  if (!s) return;
  sns_outbox_close(s);
  free_state(s);
  sns_signing_close(s);
  pthread_mutex_destroy(&s->mu);
  pthread_mutex_destroy(&s->reload_mu);
  free(s);
}
