/* Subscriptions: Subscribe, ConfirmSubscription, Unsubscribe, ListSubscriptions,
 * ListSubscriptionsByTopic, Get/SetSubscriptionAttributes.
 *
 * sqs subscriptions are confirmed at once; http, https, email and email-json
 * ones wait for ConfirmSubscription with the token (valid 2 days) that the
 * confirmation message carries. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "sns/sns_internal.h"
#include "store/sns.h"

static const char *settable[] = {"DeliveryPolicy",
                                 "FilterPolicy",
                                 "FilterPolicyScope",
                                 "RawMessageDelivery",
                                 "RedrivePolicy",
                                 "SubscriptionRoleArn",
                                 NULL};

static int is_settable(const char *name) {
  for (int i = 0; settable[i]; i++)
    if (!strcmp(settable[i], name)) return 1;
  return 0;
}

static int count_parts(const char *arn) {
  int parts = 1;
  for (const char *p = arn; *p; p++) parts += *p == ':';
  return parts;
}

/* arn:aws:sqs:REGION:ACCOUNT:NAME */
static int is_queue_arn(const char *arn) {
  if (!arn || strncmp(arn, "arn:aws:sqs:", 12) || count_parts(arn) != 6) return 0;
  const char *name = strrchr(arn, ':') + 1;
  return *name != 0;
}

static int is_fifo_name(const char *arn) {
  size_t n = arn ? strlen(arn) : 0;
  return n > 5 && !strcmp(arn + n - 5, ".fifo");
}

/* Checks one attribute; 0, or -1 with the reason (after "Invalid parameter: ")
 * in msg. */
static int check_attr(const sns_topic *t, const char *protocol, const char *endpoint,
                      const char *name, const char *value, char *msg, size_t n) {
  if (!value) value = "";
  if (!is_settable(name)) return snprintf(msg, n, "AttributeName"), -1;
  if (!strcmp(name, "RawMessageDelivery")) {
    if (strcasecmp(value, "true") && strcasecmp(value, "false"))
      return snprintf(msg, n, "RawMessageDelivery: Invalid value [%s]. Must be true or false.",
                      value),
             -1;
    if (strcmp(protocol, "sqs") && strcmp(protocol, "http") && strcmp(protocol, "https"))
      return snprintf(msg, n, "Delivery protocol [%s] does not support raw message delivery.",
                      protocol),
             -1;
  } else if (!strcmp(name, "FilterPolicyScope")) {
    if (strcmp(value, "MessageAttributes") && strcmp(value, "MessageBody"))
      return snprintf(msg, n,
                      "FilterPolicyScope: Invalid value [%s]. Please use either MessageBody or "
                      "MessageAttributes",
                      value),
             -1;
  } else if (!strcmp(name, "FilterPolicy")) {
    json_t *doc = *value ? json_loads(value, 0, NULL) : NULL;
    int bad = *value && !doc;
    json_decref(doc);
    if (bad) return snprintf(msg, n, "FilterPolicy: failed to parse JSON."), -1;
  } else if (!strcmp(name, "RedrivePolicy")) {
    if (!*value) return 0;
    json_t *doc = json_loads(value, 0, NULL);
    if (!json_is_object(doc)) {
      json_decref(doc);
      return snprintf(msg, n, "RedrivePolicy: failed to parse JSON."), -1;
    }
    const char *dlq = sns_in_str(doc, "deadLetterTargetArn");
    int ok = is_queue_arn(dlq);
    int fifo_bad = ok && t->fifo && is_fifo_name(endpoint) && !is_fifo_name(dlq);
    json_decref(doc);
    if (!ok) return snprintf(msg, n, "RedrivePolicy: deadLetterTargetArn is an invalid arn"), -1;
    if (fifo_bad)
      return snprintf(msg, n,
                      "RedrivePolicy: must use a FIFO queue as DLQ for a FIFO Subscription to a "
                      "FIFO Topic."),
             -1;
  } else if (!strcmp(name, "DeliveryPolicy")) {
    if (!*value) return 0;
    json_t *doc = json_loads(value, 0, NULL);
    int ok = json_is_object(doc);
    json_decref(doc);
    if (!ok) return snprintf(msg, n, "DeliveryPolicy: failed to parse JSON."), -1;
  }
  return 0;
}

/* Stores the attribute the way it reads back: RawMessageDelivery lower case;
 * empty optional policies removed. */
static void store_attr(json_t *attrs, const char *name, const char *value) {
  if (!value) value = "";
  if (!strcmp(name, "RawMessageDelivery")) {
    json_object_set_new(attrs, name, json_string(!strcasecmp(value, "true") ? "true" : "false"));
  } else if (!*value && strcmp(name, "FilterPolicyScope")) {
    json_object_del(attrs, name);
  } else {
    json_object_set_new(attrs, name, json_string(value));
  }
}

/* The filter policy attrs describe compiles in its scope; -1 with the
 * engine's message (AWS's "Invalid parameter: FilterPolicy: ..."). */
static int check_filter(json_t *attrs, char *msg, size_t n) {
  const char *policy = sns_in_str(attrs, "FilterPolicy");
  if (!policy || !*policy) return 0;
  const char *scope = sns_in_str(attrs, "FilterPolicyScope");
  msg[0] = 0;
  tw_pattern *p = tw_pattern_compile(
      policy, strlen(policy),
      scope && !strcmp(scope, "MessageBody") ? TW_PATTERN_SNS_BODY : TW_PATTERN_SNS_ATTRIBUTES, msg,
      n);
  if (p) {
    tw_pattern_free(p);
    return 0;
  }
  if (!msg[0]) snprintf(msg, n, "Invalid parameter: FilterPolicy");
  return -1;
}

static const char *known_protocols[] = {"sms", "lambda", "application", "firehose", NULL};

static int check_endpoint(tw_sns_call *c, const sns_topic *t, const char *protocol,
                          const char *endpoint) {
  int ours = !strcmp(protocol, "sqs") || !strcmp(protocol, "http") || !strcmp(protocol, "https") ||
             !strcmp(protocol, "email") || !strcmp(protocol, "email-json");
  if (!ours) {
    for (int i = 0; known_protocols[i]; i++)
      if (!strcmp(protocol, known_protocols[i]))
        return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                        "Invalid parameter: tweedle does not deliver to protocol %s (it delivers "
                        "to sqs, http, https, email and email-json)",
                        protocol);
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: Amazon SNS does not support this protocol string: %s",
                    protocol);
  }
  if (!endpoint || !*endpoint)
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: Endpoint Reason: no value for required parameter");
  if (!strcmp(protocol, "sqs")) {
    if (!is_queue_arn(endpoint))
      return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER, "Invalid parameter: SQS endpoint ARN");
    if (!t->fifo && is_fifo_name(endpoint))
      return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                      "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can "
                      "not be subscribed to standard SNS topics");
  } else if (!strcmp(protocol, "http") || !strcmp(protocol, "https")) {
    size_t pl = strlen(protocol);
    const char *host = endpoint + pl + 3;
    if (strncasecmp(endpoint, protocol, pl) || strncmp(endpoint + pl, "://", 3) || !*host ||
        *host == '/' || strpbrk(endpoint, " \t\r\n"))
      return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                      "Invalid parameter: Endpoint must match the specified protocol");
  } else { /* email, email-json */
    const char *at = strchr(endpoint, '@');
    if (!at || at == endpoint || !at[1] || strchr(at + 1, '@') || strpbrk(endpoint, " \t\r\n<>,"))
      return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER, "Invalid parameter: Email address");
  }
  if (t->fifo && strcmp(protocol, "sqs"))
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: Endpoint Reason: FIFO topics only deliver to SQS queues");
  return 0;
}

static const char *subscription_answer(const sns_sub *sub, int return_arn) {
  return sub->pending && !return_arn ? "pending confirmation" : sub->arn;
}

/* --- Subscribe -------------------------------------------------------------------- */

int sns_subscribe(tw_sns_call *c) {
  tw_sns *s = c->sns;
  const char *topic_arn = sns_in_str(c->in, "TopicArn");
  const char *protocol = sns_in_str(c->in, "Protocol");
  const char *endpoint = sns_in_str(c->in, "Endpoint");
  const char *ret = sns_in_str(c->in, "ReturnSubscriptionArn");
  int return_arn = ret && !strcasecmp(ret, "true");
  json_t *given = json_object_get(c->in, "Attributes");
  if (!json_is_object(given)) given = NULL;
  if (sns_check_arn(c, topic_arn, "TopicArn")) return -1;
  if (!protocol || !*protocol)
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: Protocol Reason: no value for required parameter");
  sns_lock(s);
  sns_topic *t = sns_topic_lookup(c, topic_arn, "TopicArn");
  if (!t || check_endpoint(c, t, protocol, endpoint)) {
    sns_unlock(s);
    return -1;
  }
  /* the attributes, in the order a scope must come before its policy */
  json_t *attrs = json_object();
  const char *k;
  json_t *v;
  json_object_foreach(given, k, v) {
    char why[600];
    if (check_attr(t, protocol, endpoint, k, json_string_value(v), why, sizeof why)) {
      json_decref(attrs);
      sns_unlock(s);
      return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER, "Invalid parameter: Attributes Reason: %s",
                      why);
    }
    store_attr(attrs, k, json_string_value(v));
  }
  char why[1000];
  if (check_filter(attrs, why, sizeof why)) {
    json_decref(attrs);
    sns_unlock(s);
    /* "Invalid parameter: FilterPolicy: ..." -> "Invalid parameter: Attributes Reason:
     * FilterPolicy: ..." */
    const char *rest = !strncmp(why, "Invalid parameter: ", 19) ? why + 19 : why;
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER, "Invalid parameter: Attributes Reason: %s",
                    rest);
  }
  if ((!strcmp(protocol, "email") || !strcmp(protocol, "email-json")) && !s->smtp_host[0]) {
    json_decref(attrs);
    sns_unlock(s);
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: Endpoint Reason: tweedle has no SMTP relay to deliver "
                    "email with: start it with --smtp-url smtp://HOST:PORT (TWEEDLE_SMTP_URL)");
  }
  /* one subscription per topic, protocol and endpoint */
  for (size_t i = 0; i < t->nsubs; i++) {
    sns_sub *old = t->subs[i];
    if (strcmp(old->protocol, protocol) || strcmp(old->endpoint, endpoint)) continue;
    json_object_foreach(attrs, k, v) {
      const char *have = sns_in_str(old->attrs, k);
      if (!have && !strcmp(k, "RawMessageDelivery")) have = "false";
      if (!have && !strcmp(k, "FilterPolicyScope")) have = "MessageAttributes";
      if (!have || strcmp(have, json_string_value(v))) {
        json_decref(attrs);
        sns_unlock(s);
        return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                        "Invalid parameter: Attributes Reason: Subscription already exists with "
                        "different attributes");
      }
    }
    json_decref(attrs);
    /* subscribing again while the confirmation is pending sends it again (as AWS) */
    if (old->pending && old->token) {
      tw_store_hold(s->store);
      c->ticket = sns_outbox_confirmation(s, t, old, "SubscriptionConfirmation");
      tw_store_release(s->store);
    }
    c->out = json_pack("{s:s}", "SubscriptionArn", subscription_answer(old, return_arn));
    sns_unlock(s);
    return 0;
  }
  char uuid[37], arn[700];
  tw_uuid4(uuid);
  snprintf(arn, sizeof arn, "%s:%s", t->arn, uuid);
  sns_sub *sub = sns_sub_add(s, t, arn, protocol, endpoint, attrs);
  if (!sub) {
    sns_unlock(s);
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: Attributes Reason: FilterPolicy");
  }
  sub->created_ms = tw_now_ms();
  char principal[300];
  snprintf(principal, sizeof principal, "arn:aws:iam::%s:user/%s", s->account,
           c->principal && *c->principal ? c->principal : "anonymous");
  free(sub->principal);
  sub->principal = strdup(principal);
  if (!strcmp(protocol, "sqs")) {
    sub->authenticated = 1;
  } else {
    uint8_t raw[64];
    char hex[129];
    tw_random_bytes(raw, sizeof raw);
    tw_hex(raw, sizeof raw, hex);
    sub->pending = 1;
    sub->token = strdup(hex);
    sub->token_expires_ms = sub->created_ms + SNS_TOKEN_TTL_MS;
  }
  /* the subscription and its confirmation message commit together */
  tw_store_hold(s->store);
  c->ticket = sns_sub_save(s, sub);
  if (sub->pending) {
    uint64_t t2 = sns_outbox_confirmation(s, t, sub, "SubscriptionConfirmation");
    if (t2 > c->ticket) c->ticket = t2;
  }
  tw_store_release(s->store);
  c->out = json_pack("{s:s}", "SubscriptionArn", subscription_answer(sub, return_arn));
  sns_unlock(s);
  return 0;
}

/* --- ConfirmSubscription ------------------------------------------------------------ */

int sns_confirm_subscription(tw_sns_call *c) {
  tw_sns *s = c->sns;
  const char *topic_arn = sns_in_str(c->in, "TopicArn");
  const char *token = sns_in_str(c->in, "Token");
  const char *aou = sns_in_str(c->in, "AuthenticateOnUnsubscribe");
  if (!topic_arn || count_parts(topic_arn) < 6 || strncmp(topic_arn, "arn:aws:sns:", 12))
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER, "Invalid parameter: Topic");
  if (!token || !*token)
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER, "Invalid parameter: Token");
  sns_lock(s);
  sns_topic *t = sns_topic_get(s, topic_arn);
  if (!t) {
    sns_unlock(s);
    return sns_fail(c, TW_ERR_NOT_FOUND, "Topic does not exist");
  }
  sns_sub *sub = NULL;
  for (size_t i = 0; i < t->nsubs && !sub; i++)
    if (t->subs[i]->token && !strcmp(t->subs[i]->token, token)) sub = t->subs[i];
  if (!sub || (sub->pending && tw_now_ms() > sub->token_expires_ms)) {
    sns_unlock(s);
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER, "Invalid parameter: Token");
  }
  if (sub->pending) { /* confirming again answers the same */
    sub->pending = 0;
    sub->authenticated = !c->anonymous;
    sub->auth_unsubscribe = aou && !strcasecmp(aou, "true");
    c->ticket = sns_sub_save(s, sub);
  }
  c->out = json_pack("{s:s}", "SubscriptionArn", sub->arn);
  sns_unlock(s);
  return 0;
}

/* --- Unsubscribe --------------------------------------------------------------------- */

static int check_sub_arn(tw_sns_call *c, const char *arn) {
  if (!arn || !*arn)
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: SubscriptionArn Reason: no value for required parameter");
  int parts = count_parts(arn);
  if (parts < 6)
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: SubscriptionArn Reason: An ARN must have at least 6 "
                    "elements, not %d",
                    parts);
  if (parts == 6)
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER, "Invalid parameter: SubscriptionId");
  return 0;
}

int sns_unsubscribe(tw_sns_call *c) {
  tw_sns *s = c->sns;
  const char *arn = sns_in_str(c->in, "SubscriptionArn");
  if (check_sub_arn(c, arn)) return -1;
  sns_lock(s);
  sns_sub *sub = sns_sub_get(s, arn);
  if (sub && c->anonymous && sub->auth_unsubscribe) {
    sns_unlock(s);
    return sns_fail(c, TW_ERR_SNS_AUTHORIZATION_ERROR,
                    "This subscription was confirmed with AuthenticateOnUnsubscribe: only a signed "
                    "Unsubscribe request removes it");
  }
  if (sub) { /* unsubscribing twice is no error */
    tw_store_hold(s->store);
    c->ticket = tw_store_sns(s->store)->sub_delete(s->store, arn);
    /* AWS tells a confirmed http/https endpoint it was unsubscribed */
    if (!sub->pending && (!strcmp(sub->protocol, "http") || !strcmp(sub->protocol, "https"))) {
      uint64_t t2 = sns_outbox_confirmation(s, sub->topic, sub, "UnsubscribeConfirmation");
      if (t2 > c->ticket) c->ticket = t2;
    }
    tw_store_release(s->store);
    sns_sub_remove(s, sub);
  }
  sns_unlock(s);
  return 0;
}

/* --- listings -------------------------------------------------------------------------- */

static int cmp_sub(const void *a, const void *b) {
  return strcmp((*(sns_sub *const *)a)->arn, (*(sns_sub *const *)b)->arn);
}

static int list(tw_sns_call *c, sns_topic *only) {
  tw_sns *s = c->sns;
  char after[1100];
  if (sns_decode_token(c, sns_in_str(c->in, "NextToken"), after, sizeof after)) return -1;
  size_t n = only ? only->nsubs : s->subs.count, k = 0;
  sns_sub **subs = malloc((n + 1) * sizeof *subs);
  if (only) {
    for (size_t i = 0; i < n; i++)
      if (strcmp(only->subs[i]->arn, after) > 0) subs[k++] = only->subs[i];
  } else {
    const char *key;
    void *val;
    for (tw_map_entry *e = tw_map_next(&s->subs, NULL, &key, &val); e;
         e = tw_map_next(&s->subs, e, &key, &val))
      if (strcmp(key, after) > 0) subs[k++] = val;
  }
  qsort(subs, k, sizeof *subs, cmp_sub);
  json_t *out = json_array();
  for (size_t i = 0; i < k && i < SNS_PAGE; i++) {
    sns_sub *sub = subs[i];
    json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s,s:s}", "SubscriptionArn",
                                         sub->pending ? "PendingConfirmation" : sub->arn, "Owner",
                                         sub->owner, "Protocol", sub->protocol, "Endpoint",
                                         sub->endpoint, "TopicArn", sub->topic_arn));
  }
  c->out = json_pack("{s:o}", "Subscriptions", out);
  if (k > SNS_PAGE)
    json_object_set_new(c->out, "NextToken", sns_next_token(subs[SNS_PAGE - 1]->arn));
  free(subs);
  return 0;
}

int sns_list_subscriptions(tw_sns_call *c) {
  sns_lock(c->sns);
  int rc = list(c, NULL);
  sns_unlock(c->sns);
  return rc;
}

int sns_list_subscriptions_by_topic(tw_sns_call *c) {
  sns_lock(c->sns);
  sns_topic *t = sns_topic_lookup(c, sns_in_str(c->in, "TopicArn"), "TopicArn");
  int rc = t ? list(c, t) : -1;
  sns_unlock(c->sns);
  return rc;
}

/* --- attributes -------------------------------------------------------------------------- */

static sns_sub *find_sub(tw_sns_call *c) {
  const char *arn = sns_in_str(c->in, "SubscriptionArn");
  if (check_sub_arn(c, arn)) return NULL;
  sns_sub *sub = sns_sub_get(c->sns, arn);
  if (!sub) sns_fail(c, TW_ERR_NOT_FOUND, "Subscription does not exist");
  return sub;
}

int sns_get_subscription_attributes(tw_sns_call *c) {
  sns_lock(c->sns);
  sns_sub *sub = find_sub(c);
  if (!sub) {
    sns_unlock(c->sns);
    return -1;
  }
  json_t *a = json_object();
  json_object_set_new(a, "ConfirmationWasAuthenticated",
                      json_string(sub->authenticated ? "true" : "false"));
  json_object_set_new(a, "Endpoint", json_string(sub->endpoint));
  json_object_set_new(a, "Owner", json_string(sub->owner));
  json_object_set_new(a, "PendingConfirmation", json_string(sub->pending ? "true" : "false"));
  json_object_set_new(a, "Protocol", json_string(sub->protocol));
  json_object_set_new(a, "RawMessageDelivery", json_string(sub->raw ? "true" : "false"));
  json_object_set_new(a, "SubscriptionArn", json_string(sub->arn));
  json_object_set_new(a, "SubscriptionPrincipal", json_string(sub->principal));
  json_object_set_new(a, "TopicArn", json_string(sub->topic_arn));
  const char *k;
  json_t *v;
  json_object_foreach(sub->attrs, k, v) {
    if (!strcmp(k, "RawMessageDelivery")) continue;
    /* a scope without a policy is not shown */
    if (!strcmp(k, "FilterPolicyScope") && !sns_in_str(sub->attrs, "FilterPolicy")) continue;
    json_object_set(a, k, v);
  }
  if (sns_in_str(sub->attrs, "FilterPolicy") && !json_object_get(a, "FilterPolicyScope"))
    json_object_set_new(a, "FilterPolicyScope", json_string("MessageAttributes"));
  if (!strcmp(sub->protocol, "http") || !strcmp(sub->protocol, "https")) {
    char *eff = sns_sub_effective_delivery_policy(sub);
    json_object_set_new(a, "EffectiveDeliveryPolicy", json_string(eff));
    free(eff);
  }
  sns_unlock(c->sns);
  c->out = json_pack("{s:o}", "Attributes", a);
  return 0;
}

int sns_set_subscription_attributes(tw_sns_call *c) {
  tw_sns *s = c->sns;
  const char *name = sns_in_str(c->in, "AttributeName");
  const char *value = sns_in_str(c->in, "AttributeValue");
  if (!name || !*name)
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: AttributeName Reason: no value for required parameter");
  sns_lock(s);
  sns_sub *sub = find_sub(c);
  if (!sub) {
    sns_unlock(s);
    return -1;
  }
  char why[1000];
  if (check_attr(sub->topic, sub->protocol, sub->endpoint, name, value, why, sizeof why)) {
    sns_unlock(s);
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER, "Invalid parameter: %s", why);
  }
  json_t *attrs = json_deep_copy(sub->attrs);
  store_attr(attrs, name, value);
  if (check_filter(attrs, why, sizeof why) || sns_sub_parse(sub, attrs, why, sizeof why)) {
    json_decref(attrs);
    sns_unlock(s);
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER, "%s", why);
  }
  json_decref(sub->attrs);
  sub->attrs = attrs;
  c->ticket = sns_sub_save(s, sub);
  sns_unlock(s);
  return 0;
}
