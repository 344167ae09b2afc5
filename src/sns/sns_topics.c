/* Topics: CreateTopic, DeleteTopic, ListTopics, Get/SetTopicAttributes, tags,
 * Add/RemovePermission (kept in the Policy attribute) and the data protection
 * policy (stored, not enforced). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "sns/sns_internal.h"
#include "store/sns.h"

static int valid_name(const char *name, int fifo) {
  size_t n = strlen(name);
  if (fifo) {
    if (n < 6 || strcmp(name + n - 5, ".fifo")) return 0;
    n -= 5;
  }
  if (n < 1 || n > 256) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)name[i];
    if (!isalnum(ch) && ch != '_' && ch != '-') return 0;
  }
  return 1;
}

static int is_json_object(const char *v) {
  json_t *doc = v ? json_loads(v, 0, NULL) : NULL;
  int ok = json_is_object(doc);
  json_decref(doc);
  return ok;
}

static int is_bool(const char *v) {
  return v && (!strcasecmp(v, "true") || !strcasecmp(v, "false"));
}

/* Delivery status logging attributes: <Protocol><Success|Failure>FeedbackRoleArn
 * and <Protocol>SuccessFeedbackSampleRate. */
static int feedback_attr(const char *name, int *is_rate) {
  static const char *protocols[] = {"Application", "HTTP", "Lambda", "SQS", "Firehose", NULL};
  for (int i = 0; protocols[i]; i++) {
    size_t n = strlen(protocols[i]);
    if (strncmp(name, protocols[i], n)) continue;
    const char *rest = name + n;
    *is_rate = !strcmp(rest, "SuccessFeedbackSampleRate");
    if (*is_rate || !strcmp(rest, "SuccessFeedbackRoleArn") ||
        !strcmp(rest, "FailureFeedbackRoleArn"))
      return 1;
  }
  return 0;
}

/* Checks one settable attribute. 0, or -1 with the reason (after "Invalid
 * parameter: ") in msg; unknown names: *unknown = 1. */
static int check_attr(int fifo, int creating, const char *name, const char *value, char *msg,
                      size_t n, int *unknown) {
  *unknown = 0;
  int rate = 0;
  if (!value) value = "";
  if (!strcmp(name, "DisplayName")) {
    if (strlen(value) > 100)
      return snprintf(msg, n, "DisplayName Reason: must be at most 100 characters long"), -1;
  } else if (!strcmp(name, "Policy")) {
    if (!is_json_object(value)) return snprintf(msg, n, "Policy Error: null"), -1;
  } else if (!strcmp(name, "DeliveryPolicy")) {
    if (*value && !is_json_object(value))
      return snprintf(msg, n, "DeliveryPolicy: failed to parse JSON."), -1;
  } else if (!strcmp(name, "SignatureVersion")) {
    if (strcmp(value, "1") && strcmp(value, "2"))
      return snprintf(msg, n, "SignatureVersion Reason: must be 1 or 2"), -1;
  } else if (!strcmp(name, "TracingConfig")) {
    if (strcmp(value, "PassThrough") && strcmp(value, "Active"))
      return snprintf(msg, n, "TracingConfig Reason: must be PassThrough or Active"), -1;
  } else if (!strcmp(name, "KmsMasterKeyId")) {
    /* stored; tweedle does not encrypt at rest with KMS */
  } else if (!strcmp(name, "ContentBasedDeduplication")) {
    if (!fifo)
      return snprintf(msg, n,
                      "ContentBasedDeduplication Reason: Content-based deduplication can "
                      "only be set for FIFO topics"),
             -1;
    if (!is_bool(value))
      return snprintf(msg, n, "ContentBasedDeduplication Reason: must be true or false"), -1;
  } else if (!strcmp(name, "FifoTopic")) {
    if (!creating) return snprintf(msg, n, "AttributeName"), -1;
    if (!is_bool(value)) return snprintf(msg, n, "FifoTopic Reason: must be true or false"), -1;
  } else if (!strcmp(name, "FifoThroughputScope")) {
    if (!fifo)
      return snprintf(msg, n, "FifoThroughputScope Reason: can only be set for FIFO topics"), -1;
    if (strcmp(value, "Topic") && strcmp(value, "MessageGroup"))
      return snprintf(msg, n, "FifoThroughputScope Reason: must be Topic or MessageGroup"), -1;
  } else if (!strcmp(name, "ArchivePolicy")) {
    if (!fifo) return snprintf(msg, n, "ArchivePolicy Reason: can only be set for FIFO topics"), -1;
    if (*value && !is_json_object(value))
      return snprintf(msg, n, "ArchivePolicy: failed to parse JSON."), -1;
  } else if (feedback_attr(name, &rate)) {
    if (rate) {
      char *end = NULL;
      long v = strtol(value, &end, 10);
      if (!*value || *end || v < 0 || v > 100)
        return snprintf(msg, n, "%s Reason: must be an integer from 0 to 100", name), -1;
    }
  } else {
    *unknown = 1;
    return -1;
  }
  return 0;
}

static void attr_store(json_t *attrs, const char *name, const char *value) {
  /* optional JSON-valued attributes are removed by an empty value */
  if ((!value || !*value) && (!strcmp(name, "DeliveryPolicy") || !strcmp(name, "KmsMasterKeyId") ||
                              !strcmp(name, "ArchivePolicy"))) {
    json_object_del(attrs, name);
    return;
  }
  if (!strcmp(name, "ContentBasedDeduplication") || !strcmp(name, "FifoTopic")) {
    json_object_set_new(attrs, name, json_string(!strcasecmp(value, "true") ? "true" : "false"));
    return;
  }
  json_object_set_new(attrs, name, json_string(value ? value : ""));
}

/* Tags from [{Key, Value}, ...]: checks keys and values; -1 with the error set. */
static int check_tags(tw_sns_call *c, json_t *list) {
  size_t i, j;
  json_t *t, *u;
  json_array_foreach(list, i, t) {
    const char *k = sns_in_str(t, "Key"), *v = sns_in_str(t, "Value");
    if (!k || !*k || strlen(k) > 128)
      return sns_fail(
          c, TW_ERR_SNS_INVALID_PARAMETER,
          "Invalid parameter: Tags Reason: Tag key must be between 1 and 128 characters");
    if (strlen(v ? v : "") > 256)
      return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                      "Invalid parameter: Tags Reason: Tag value must be at most 256 characters");
    if (!strncasecmp(k, "aws:", 4))
      return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                      "Invalid parameter: Tags Reason: Tag keys must not start with 'aws:'");
    json_array_foreach(list, j, u) {
      if (j >= i) break;
      if (!strcmp(k, sns_in_str(u, "Key") ? sns_in_str(u, "Key") : ""))
        return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                        "Invalid parameter: Duplicated keys are not allowed.");
    }
  }
  if (json_array_size(list) > SNS_MAX_TAGS) return sns_fail(c, TW_ERR_SNS_TAG_LIMIT_EXCEEDED, NULL);
  return 0;
}

static json_t *list_of(json_t *in, const char *key) {
  json_t *v = json_object_get(in, key);
  return json_is_array(v) ? v : NULL;
}

/* --- CreateTopic -------------------------------------------------------------- */

int sns_create_topic(tw_sns_call *c) {
  tw_sns *s = c->sns;
  const char *name = sns_in_str(c->in, "Name");
  json_t *given = json_object_get(c->in, "Attributes");
  if (given && !json_is_object(given)) given = NULL;
  json_t *tags = list_of(c->in, "Tags");
  const char *fifo_attr = sns_in_str(given, "FifoTopic");
  int fifo = fifo_attr && !strcasecmp(fifo_attr, "true");
  if (!name || !valid_name(name, fifo))
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER, "Invalid parameter: Topic Name");
  /* every attribute checked before anything changes */
  const char *k;
  json_t *v;
  json_object_foreach(given, k, v) {
    char why[300];
    int unknown;
    if (check_attr(fifo, 1, k, json_string_value(v), why, sizeof why, &unknown))
      return unknown ? sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                                "Invalid parameter: Attributes Reason: Unknown attribute %s", k)
                     : sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                                "Invalid parameter: Attributes Reason: %s", why);
  }
  if (tags && check_tags(c, tags)) return -1;
  const char *dpp = sns_in_str(c->in, "DataProtectionPolicy");
  if (dpp && *dpp && !is_json_object(dpp))
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: DataProtectionPolicy Reason: not a JSON object");
  char arn[512];
  snprintf(arn, sizeof arn, "arn:aws:sns:%s:%s:%s", s->region, s->account, name);
  sns_lock(s);
  sns_topic *t = sns_topic_get(s, arn);
  if (t) {
    /* idempotent when every given attribute and tag is what the topic has */
    json_object_foreach(given, k, v) {
      const char *have = sns_in_str(t->attrs, k), *want = json_string_value(v);
      if (!strcmp(k, "FifoTopic") && !fifo && !t->fifo) continue;
      if (!strcmp(k, "FifoTopic") || !strcmp(k, "ContentBasedDeduplication")) {
        if (have && want && !strcasecmp(have, want)) continue;
      } else if (have && want && !strcmp(have, want)) {
        continue;
      }
      sns_unlock(s);
      return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                      "Invalid parameter: Attributes Reason: Topic already exists with different "
                      "attributes");
    }
    size_t i;
    json_t *tag;
    json_array_foreach(tags, i, tag) {
      const char *have = sns_in_str(t->tags, sns_in_str(tag, "Key"));
      const char *want = sns_in_str(tag, "Value");
      if (!have || strcmp(have, want ? want : "")) {
        sns_unlock(s);
        return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                        "Invalid parameter: Tags Reason: Topic already exists with different tags");
      }
    }
    sns_unlock(s);
    c->out = json_pack("{s:s}", "TopicArn", arn);
    return 0;
  }
  json_t *attrs = json_object();
  json_t *policy = sns_default_policy(s, arn);
  char *ptext = json_dumps(policy, JSON_COMPACT);
  json_decref(policy);
  json_object_set_new(attrs, "Policy", json_string(ptext));
  free(ptext);
  json_object_set_new(attrs, "DisplayName", json_string(""));
  if (fifo) {
    json_object_set_new(attrs, "FifoTopic", json_string("true"));
    json_object_set_new(attrs, "ContentBasedDeduplication", json_string("false"));
  }
  json_object_foreach(given, k, v) {
    if (!strcmp(k, "FifoTopic")) continue;
    attr_store(attrs, k, json_string_value(v));
  }
  if (dpp && *dpp) json_object_set_new(attrs, "DataProtectionPolicy", json_string(dpp));
  json_t *tagobj = json_object();
  size_t i;
  json_t *tag;
  json_array_foreach(tags, i, tag) {
    const char *tv = sns_in_str(tag, "Value");
    json_object_set_new(tagobj, sns_in_str(tag, "Key"), json_string(tv ? tv : ""));
  }
  t = sns_topic_add(s, arn, name, fifo, tw_now_ms(), attrs, tagobj, 0);
  c->ticket = sns_topic_save(s, t);
  sns_unlock(s);
  c->out = json_pack("{s:s}", "TopicArn", arn);
  return 0;
}

/* --- DeleteTopic ---------------------------------------------------------------- */

int sns_delete_topic(tw_sns_call *c) {
  tw_sns *s = c->sns;
  const char *arn = sns_in_str(c->in, "TopicArn");
  if (sns_check_arn(c, arn, "TopicArn")) return -1;
  sns_lock(s);
  sns_topic *t = sns_topic_get(s, arn);
  if (t) { /* deleting a topic that does not exist is no error */
    c->ticket = tw_store_sns(s->store)->topic_delete(s->store, arn);
    sns_topic_remove(s, t);
  }
  sns_unlock(s);
  return 0;
}

/* --- ListTopics ----------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* NextToken: the base64 of the last ARN of the page before. */
int sns_decode_token(tw_sns_call *c, const char *token, char *out, size_t n) {
  out[0] = 0;
  if (!token || !*token) return 0;
  size_t len = strlen(token);
  if (len > 2048) return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER, "Invalid parameter: NextToken");
  uint8_t *buf = malloc(len + 4);
  long dl = tw_base64_decode(token, len, buf);
  if (dl <= 0 || (size_t)dl >= n || memchr(buf, 0, (size_t)dl)) {
    free(buf);
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER, "Invalid parameter: NextToken");
  }
  memcpy(out, buf, (size_t)dl);
  out[dl] = 0;
  free(buf);
  return 0;
}

json_t *sns_next_token(const char *last) {
  size_t n = strlen(last);
  char *b = malloc(4 * ((n + 2) / 3) + 1);
  tw_base64_encode((const uint8_t *)last, n, b);
  json_t *v = json_string(b);
  free(b);
  return v;
}

int sns_list_topics(tw_sns_call *c) {
  tw_sns *s = c->sns;
  char after[1100];
  if (sns_decode_token(c, sns_in_str(c->in, "NextToken"), after, sizeof after)) return -1;
  sns_lock(s);
  size_t n = s->topics.count, k = 0;
  char **arns = malloc((n + 1) * sizeof *arns);
  const char *key;
  void *val;
  for (tw_map_entry *e = tw_map_next(&s->topics, NULL, &key, &val); e;
       e = tw_map_next(&s->topics, e, &key, &val))
    if (strcmp(key, after) > 0) arns[k++] = strdup(key);
  sns_unlock(s);
  qsort(arns, k, sizeof *arns, cmp_str);
  json_t *list = json_array();
  for (size_t i = 0; i < k && i < SNS_PAGE; i++)
    json_array_append_new(list, json_pack("{s:s}", "TopicArn", arns[i]));
  c->out = json_pack("{s:o}", "Topics", list);
  if (k > SNS_PAGE) json_object_set_new(c->out, "NextToken", sns_next_token(arns[SNS_PAGE - 1]));
  for (size_t i = 0; i < k; i++) free(arns[i]);
  free(arns);
  return 0;
}

/* --- attributes ------------------------------------------------------------------- */

int sns_get_topic_attributes(tw_sns_call *c) {
  tw_sns *s = c->sns;
  sns_lock(s);
  sns_topic *t = sns_topic_lookup(c, sns_in_str(c->in, "TopicArn"), "TopicArn");
  if (!t) {
    sns_unlock(s);
    return -1;
  }
  size_t confirmed = 0, pending = 0;
  for (size_t i = 0; i < t->nsubs; i++) {
    if (t->subs[i]->pending)
      pending++;
    else
      confirmed++;
  }
  char num[32];
  json_t *a = json_object();
  json_object_set(a, "Policy", json_object_get(t->attrs, "Policy"));
  json_object_set_new(a, "Owner", json_string(s->account));
  snprintf(num, sizeof num, "%zu", pending);
  json_object_set_new(a, "SubscriptionsPending", json_string(num));
  json_object_set_new(a, "TopicArn", json_string(t->arn));
  char *eff = sns_effective_delivery_policy(t);
  json_object_set_new(a, "EffectiveDeliveryPolicy", json_string(eff));
  free(eff);
  snprintf(num, sizeof num, "%zu", confirmed);
  json_object_set_new(a, "SubscriptionsConfirmed", json_string(num));
  json_object_set(a, "DisplayName", json_object_get(t->attrs, "DisplayName"));
  json_object_set_new(a, "SubscriptionsDeleted", json_string("0"));
  const char *k;
  json_t *v;
  json_object_foreach(t->attrs, k, v) {
    if (json_object_get(a, k) || !strcmp(k, "DataProtectionPolicy")) continue;
    json_object_set(a, k, v);
  }
  sns_unlock(s);
  c->out = json_pack("{s:o}", "Attributes", a);
  return 0;
}

int sns_set_topic_attributes(tw_sns_call *c) {
  tw_sns *s = c->sns;
  const char *name = sns_in_str(c->in, "AttributeName");
  const char *value = sns_in_str(c->in, "AttributeValue");
  if (!name || !*name)
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: AttributeName Reason: no value for required parameter");
  sns_lock(s);
  sns_topic *t = sns_topic_lookup(c, sns_in_str(c->in, "TopicArn"), "TopicArn");
  if (!t) {
    sns_unlock(s);
    return -1;
  }
  char why[300];
  int unknown;
  if (check_attr(t->fifo, 0, name, value, why, sizeof why, &unknown)) {
    sns_unlock(s);
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER, "Invalid parameter: %s",
                    unknown ? "AttributeName" : why);
  }
  attr_store(t->attrs, name, value);
  sns_topic_parse(s, t);
  c->ticket = sns_topic_save(s, t);
  sns_unlock(s);
  return 0;
}

/* --- tags ------------------------------------------------------------------------- */

static sns_topic *tagged_topic(tw_sns_call *c) {
  const char *arn = sns_in_str(c->in, "ResourceArn");
  sns_topic *t = sns_topic_get(c->sns, arn);
  if (!t) sns_fail(c, TW_ERR_SNS_RESOURCE_NOT_FOUND, NULL);
  return t;
}

int sns_tag_resource(tw_sns_call *c) {
  tw_sns *s = c->sns;
  json_t *tags = list_of(c->in, "Tags");
  if (!tags || !json_array_size(tags))
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: Tags Reason: no value for required parameter");
  if (check_tags(c, tags)) return -1;
  sns_lock(s);
  sns_topic *t = tagged_topic(c);
  if (!t) {
    sns_unlock(s);
    return -1;
  }
  size_t added = 0, i;
  json_t *tag;
  json_array_foreach(tags, i, tag) added += !json_object_get(t->tags, sns_in_str(tag, "Key"));
  if (json_object_size(t->tags) + added > SNS_MAX_TAGS) {
    sns_unlock(s);
    return sns_fail(c, TW_ERR_SNS_TAG_LIMIT_EXCEEDED, NULL);
  }
  json_array_foreach(tags, i, tag) {
    const char *v = sns_in_str(tag, "Value");
    json_object_set_new(t->tags, sns_in_str(tag, "Key"), json_string(v ? v : ""));
  }
  c->ticket = sns_topic_save(s, t);
  sns_unlock(s);
  c->out = json_object();
  return 0;
}

int sns_untag_resource(tw_sns_call *c) {
  tw_sns *s = c->sns;
  json_t *keys = list_of(c->in, "TagKeys");
  sns_lock(s);
  sns_topic *t = tagged_topic(c);
  if (!t) {
    sns_unlock(s);
    return -1;
  }
  size_t i;
  json_t *k;
  int changed = 0;
  json_array_foreach(keys, i, k) {
    const char *key = json_string_value(k);
    if (key && json_object_get(t->tags, key)) {
      json_object_del(t->tags, key);
      changed = 1;
    }
  }
  if (changed) c->ticket = sns_topic_save(s, t);
  sns_unlock(s);
  c->out = json_object();
  return 0;
}

int sns_list_tags_for_resource(tw_sns_call *c) {
  tw_sns *s = c->sns;
  sns_lock(s);
  sns_topic *t = tagged_topic(c);
  if (!t) {
    sns_unlock(s);
    return -1;
  }
  json_t *list = json_array();
  const char *k;
  json_t *v;
  json_object_foreach(t->tags, k, v)
      json_array_append_new(list, json_pack("{s:s,s:O}", "Key", k, "Value", v));
  sns_unlock(s);
  c->out = json_pack("{s:o}", "Tags", list);
  return 0;
}

/* --- permissions ---------------------------------------------------------------- */

static const char *policy_actions[] = {"GetTopicAttributes",
                                       "SetTopicAttributes",
                                       "AddPermission",
                                       "RemovePermission",
                                       "DeleteTopic",
                                       "Subscribe",
                                       "ListSubscriptionsByTopic",
                                       "Publish",
                                       "Receive",
                                       NULL};

static json_t *topic_policy(tw_sns *s, sns_topic *t) {
  json_t *p =
      json_loads(sns_in_str(t->attrs, "Policy") ? sns_in_str(t->attrs, "Policy") : "", 0, NULL);
  if (!json_is_object(p)) {
    json_decref(p);
    p = sns_default_policy(s, t->arn);
  }
  if (!json_is_array(json_object_get(p, "Statement")))
    json_object_set_new(p, "Statement", json_array());
  return p;
}

static void set_policy(sns_topic *t, json_t *p) {
  char *text = json_dumps(p, JSON_COMPACT);
  json_object_set_new(t->attrs, "Policy", json_string(text));
  free(text);
}

int sns_add_permission(tw_sns_call *c) {
  tw_sns *s = c->sns;
  const char *label = sns_in_str(c->in, "Label");
  json_t *accounts = list_of(c->in, "AWSAccountId");
  json_t *acts = list_of(c->in, "ActionName");
  if (!label || !*label)
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: Label Reason: no value for required parameter");
  if (!json_array_size(accounts))
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: AWSAccountId Reason: no value for required parameter");
  if (!json_array_size(acts))
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: ActionName Reason: no value for required parameter");
  sns_lock(s);
  sns_topic *t = sns_topic_lookup(c, sns_in_str(c->in, "TopicArn"), "TopicArn");
  if (!t) {
    sns_unlock(s);
    return -1;
  }
  json_t *p = topic_policy(s, t);
  json_t *stmts = json_object_get(p, "Statement");
  size_t i;
  json_t *x;
  json_array_foreach(stmts, i, x) {
    const char *sid = sns_in_str(x, "Sid");
    if (sid && !strcmp(sid, label)) {
      json_decref(p);
      sns_unlock(s);
      return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                      "Invalid parameter: Statement already exists");
    }
  }
  json_t *principals = json_array(), *actions = json_array();
  json_array_foreach(acts, i, x) {
    const char *a = json_string_value(x);
    int ok = 0;
    for (int j = 0; a && policy_actions[j]; j++) ok |= !strcmp(a, policy_actions[j]);
    if (!ok) {
      json_decref(principals);
      json_decref(actions);
      json_decref(p);
      sns_unlock(s);
      return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                      "Invalid parameter: Policy statement action out of service scope!");
    }
    char buf[128];
    snprintf(buf, sizeof buf, "SNS:%s", a);
    json_array_append_new(actions, json_string(buf));
  }
  json_array_foreach(accounts, i, x) {
    char buf[128];
    snprintf(buf, sizeof buf, "arn:aws:iam::%s:root",
             json_string_value(x) ? json_string_value(x) : "");
    json_array_append_new(principals, json_string(buf));
  }
  json_t *st = json_object();
  json_object_set_new(st, "Sid", json_string(label));
  json_object_set_new(st, "Effect", json_string("Allow"));
  json_object_set_new(
      st, "Principal",
      json_pack("{s:O}", "AWS",
                json_array_size(principals) == 1 ? json_array_get(principals, 0) : principals));
  json_object_set(st, "Action",
                  json_array_size(actions) == 1 ? json_array_get(actions, 0) : actions);
  json_object_set_new(st, "Resource", json_string(t->arn));
  json_array_append_new(stmts, st);
  json_decref(principals);
  json_decref(actions);
  set_policy(t, p);
  sns_topic_parse(s, t);
  json_decref(p);
  c->ticket = sns_topic_save(s, t);
  sns_unlock(s);
  return 0;
}

int sns_remove_permission(tw_sns_call *c) {
  tw_sns *s = c->sns;
  const char *label = sns_in_str(c->in, "Label");
  if (!label || !*label)
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: Label Reason: no value for required parameter");
  sns_lock(s);
  sns_topic *t = sns_topic_lookup(c, sns_in_str(c->in, "TopicArn"), "TopicArn");
  if (!t) {
    sns_unlock(s);
    return -1;
  }
  json_t *p = topic_policy(s, t);
  json_t *stmts = json_object_get(p, "Statement"), *kept = json_array();
  size_t i;
  json_t *x;
  json_array_foreach(stmts, i, x) {
    const char *sid = sns_in_str(x, "Sid");
    if (!sid || strcmp(sid, label)) json_array_append(kept, x);
  }
  if (json_array_size(kept) != json_array_size(stmts)) {
    json_object_set_new(p, "Statement", kept);
    set_policy(t, p);
    sns_topic_parse(s, t);
    c->ticket = sns_topic_save(s, t);
  } else {
    json_decref(kept);
  }
  json_decref(p);
  sns_unlock(s);
  return 0;
}

/* --- data protection policy ------------------------------------------------------- */

int sns_get_data_protection_policy(tw_sns_call *c) {
  tw_sns *s = c->sns;
  sns_lock(s);
  sns_topic *t = sns_topic_lookup(c, sns_in_str(c->in, "ResourceArn"), "ResourceArn");
  if (!t) {
    sns_unlock(s);
    return -1;
  }
  const char *p = sns_in_str(t->attrs, "DataProtectionPolicy");
  c->out = json_object();
  if (p) json_object_set_new(c->out, "DataProtectionPolicy", json_string(p));
  sns_unlock(s);
  return 0;
}

int sns_put_data_protection_policy(tw_sns_call *c) {
  tw_sns *s = c->sns;
  const char *p = sns_in_str(c->in, "DataProtectionPolicy");
  if (!p || (*p && !is_json_object(p)))
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: DataProtectionPolicy Reason: not a JSON object");
  sns_lock(s);
  sns_topic *t = sns_topic_lookup(c, sns_in_str(c->in, "ResourceArn"), "ResourceArn");
  if (!t) {
    sns_unlock(s);
    return -1;
  }
  if (*p)
    json_object_set_new(t->attrs, "DataProtectionPolicy", json_string(p));
  else
    json_object_del(t->attrs, "DataProtectionPolicy");
  c->ticket = sns_topic_save(s, t);
  sns_unlock(s);
  return 0;
}
