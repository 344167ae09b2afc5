/* What both queue engines share (sqs_common.h). */
#include "sqs/sqs_common.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/policy.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "sqs/params.h"
#include "sqs/sqs_internal.h"

/* --- queue attributes ------------------------------------------------------ */

const char *const tw_sqs_settable[] = {"DelaySeconds",
                                       "MaximumMessageSize",
                                       "MessageRetentionPeriod",
                                       "Policy",
                                       "ReceiveMessageWaitTimeSeconds",
                                       "VisibilityTimeout",
                                       "RedrivePolicy",
                                       "RedriveAllowPolicy",
                                       "KmsMasterKeyId",
                                       "KmsDataKeyReusePeriodSeconds",
                                       "SqsManagedSseEnabled",
                                       "FifoQueue",
                                       "ContentBasedDeduplication",
                                       "DeduplicationScope",
                                       "FifoThroughputLimit",
                                       NULL};

/* GetQueueAttributes' names: "All" and every attribute. */
static const char *const all_names[] = {"All",
                                        "Policy",
                                        "VisibilityTimeout",
                                        "MaximumMessageSize",
                                        "MessageRetentionPeriod",
                                        "ApproximateNumberOfMessages",
                                        "ApproximateNumberOfMessagesNotVisible",
                                        "CreatedTimestamp",
                                        "LastModifiedTimestamp",
                                        "QueueArn",
                                        "ApproximateNumberOfMessagesDelayed",
                                        "DelaySeconds",
                                        "ReceiveMessageWaitTimeSeconds",
                                        "RedrivePolicy",
                                        "FifoQueue",
                                        "ContentBasedDeduplication",
                                        "KmsMasterKeyId",
                                        "KmsDataKeyReusePeriodSeconds",
                                        "DeduplicationScope",
                                        "FifoThroughputLimit",
                                        "RedriveAllowPolicy",
                                        "SqsManagedSseEnabled",
                                        NULL};

static int is_settable(const char *k) {
  for (int i = 0; tw_sqs_settable[i]; i++)
    if (strcmp(tw_sqs_settable[i], k) == 0) return 1;
  return 0;
}

const char *tw_sqs_attr_default(const char *k, int fifo) {
  static const char *d[][2] = {{"DelaySeconds", "0"},
                               {"MaximumMessageSize", "1048576"},
                               {"MessageRetentionPeriod", "345600"},
                               {"ReceiveMessageWaitTimeSeconds", "0"},
                               {"VisibilityTimeout", "30"},
                               {"SqsManagedSseEnabled", "true"}};
  for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
    if (!strcmp(d[i][0], k)) return d[i][1];
  if (fifo) {
    if (!strcmp(k, "FifoQueue")) return "true";
    if (!strcmp(k, "ContentBasedDeduplication")) return "false";
    if (!strcmp(k, "DeduplicationScope")) return "queue";
    if (!strcmp(k, "FifoThroughputLimit")) return "perQueue";
  } else if (!strcmp(k, "FifoQueue")) {
    return "false";
  }
  return "";
}

json_t *tw_sqs_attrs_as_strings(tw_sqs_call *c, json_t *in) {
  json_t *out = json_object();
  const char *k;
  json_t *v;
  json_object_foreach(in, k, v) {
    if (json_is_string(v)) {
      json_object_set(out, k, v);
    } else if (json_is_integer(v)) {
      char b[32];
      snprintf(b, sizeof b, "%lld", (long long)json_integer_value(v));
      json_object_set_new(out, k, json_string(b));
    } else if (json_is_boolean(v)) {
      json_object_set_new(out, k, json_string(json_is_true(v) ? "true" : "false"));
    } else {
      json_decref(out);
      tw_sqs_fail(c, TW_ERR_INVALID_ATTRIBUTE_VALUE, "Invalid value for the parameter %s.", k);
      return NULL;
    }
  }
  return out;
}

static int bad_value(tw_sqs_call *c, const char *k) {
  return tw_sqs_fail(c, TW_ERR_INVALID_ATTRIBUTE_VALUE, "Invalid value for the parameter %s.", k);
}

static int int_in(const char *v, long long lo, long long hi) {
  char *end;
  if (!v || !*v) return 0;
  long long x = strtoll(v, &end, 10);
  return !*end && x >= lo && x <= hi;
}

static int is_bool(const char *v) {
  return v && (!strcmp(v, "true") || !strcmp(v, "false"));
}

int tw_sqs_attr_check(tw_sqs_call *c, const char *k, const char *v, int fifo, int existing,
                      json_t *cur, json_t *all) {
  if (!is_settable(k))
    return tw_sqs_fail(c, TW_ERR_INVALID_ATTRIBUTE_NAME, "Unknown Attribute %s.", k);
  if (!strcmp(k, "DelaySeconds")) return int_in(v, 0, 900) ? 0 : bad_value(c, k);
  if (!strcmp(k, "MaximumMessageSize")) return int_in(v, 1024, 1048576) ? 0 : bad_value(c, k);
  if (!strcmp(k, "MessageRetentionPeriod")) return int_in(v, 60, 1209600) ? 0 : bad_value(c, k);
  if (!strcmp(k, "ReceiveMessageWaitTimeSeconds")) return int_in(v, 0, 20) ? 0 : bad_value(c, k);
  if (!strcmp(k, "VisibilityTimeout")) return int_in(v, 0, 43200) ? 0 : bad_value(c, k);
  if (!strcmp(k, "KmsDataKeyReusePeriodSeconds")) return int_in(v, 60, 86400) ? 0 : bad_value(c, k);
  if (!strcmp(k, "SqsManagedSseEnabled")) return is_bool(v) ? 0 : bad_value(c, k);
  if (!strcmp(k, "KmsMasterKeyId")) return 0;
  if (!strcmp(k, "Policy")) { /* a resource policy (auth/policy.h), evaluated on each call */
    if (!*v) return 0;
    char why[300];
    tw_policy *p = tw_policy_parse(v, strlen(v), TW_POLICY_RESOURCE, why, sizeof why);
    tw_policy_free(p);
    return p ? 0
             : tw_sqs_fail(c, TW_ERR_INVALID_ATTRIBUTE_VALUE,
                           "Invalid value for the parameter Policy. Reason: %s.", why);
  }
  if (!strcmp(k, "FifoQueue")) {
    if (existing && !fifo)
      return tw_sqs_fail(c, TW_ERR_INVALID_ATTRIBUTE_NAME, "Unknown Attribute %s.", k);
    if (existing && strcmp(v, "true"))
      return tw_sqs_fail(c, TW_ERR_INVALID_ATTRIBUTE_VALUE,
                         "Invalid value for the parameter FifoQueue. Reason: Modifying queue type "
                         "is not supported.");
    return is_bool(v) ? 0 : bad_value(c, k);
  }
  if (!strcmp(k, "ContentBasedDeduplication") || !strcmp(k, "DeduplicationScope") ||
      !strcmp(k, "FifoThroughputLimit")) {
    if (!fifo) return tw_sqs_fail(c, TW_ERR_INVALID_ATTRIBUTE_NAME, "Unknown Attribute %s.", k);
    if (!strcmp(k, "ContentBasedDeduplication")) return is_bool(v) ? 0 : bad_value(c, k);
    if (!strcmp(k, "DeduplicationScope"))
      return !strcmp(v, "messageGroup") || !strcmp(v, "queue") ? 0 : bad_value(c, k);
    if (strcmp(v, "perQueue") && strcmp(v, "perMessageGroupId")) return bad_value(c, k);
    const char *scope = json_string_value(json_object_get(all, "DeduplicationScope"));
    if (!scope && cur) scope = json_string_value(json_object_get(cur, "DeduplicationScope"));
    if (!strcmp(v, "perMessageGroupId") && scope && !strcmp(scope, "queue"))
      return tw_sqs_fail(c, TW_ERR_INVALID_ATTRIBUTE_VALUE,
                         "Invalid value for the parameter FifoThroughputLimit. Reason: "
                         "perMessageGroupId is supported only when DeduplicationScope is "
                         "messageGroup.");
    return 0;
  }
  /* RedrivePolicy, RedriveAllowPolicy */
  return *v ? 1 : 0;
}

static void put_num(json_t *o, const char *k, long long v) {
  char b[32];
  snprintf(b, sizeof b, "%lld", v);
  json_object_set_new(o, k, json_string(b));
}

json_t *tw_sqs_queue_attrs_json(const tw_sqs_queue_view *q) {
  json_t *o = json_object();
  put_num(o, "ApproximateNumberOfMessages", q->visible);
  put_num(o, "ApproximateNumberOfMessagesNotVisible", q->inflight);
  put_num(o, "ApproximateNumberOfMessagesDelayed", q->delayed);
  put_num(o, "CreatedTimestamp", q->created);
  put_num(o, "LastModifiedTimestamp", q->modified);
  json_object_set_new(o, "QueueArn", json_string(q->arn));
  for (int i = 0; tw_sqs_settable[i]; i++) {
    const char *k = tw_sqs_settable[i];
    const char *v = json_string_value(json_object_get(q->attrs, k));
    if (!v) v = tw_sqs_attr_default(k, q->fifo);
    if (!strcmp(k, "Policy") && q->policy) v = q->policy;
    if (*v) json_object_set_new(o, k, json_string(v));
  }
  if (!q->fifo) json_object_del(o, "FifoQueue");
  return o;
}

int tw_sqs_create_tags(tw_sqs_call *c, const char *name, json_t **tags) {
  *tags = json_object_get(c->in, "tags");
  if (!*tags) *tags = json_object_get(c->in, "Tags");
  if (*tags && json_object_size(*tags) > 50)
    return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE, "Too many tags added for queue %s.",
                       name);
  return 0;
}

int tw_sqs_check_attribute_names(tw_sqs_call *c, json_t *names) {
  size_t i;
  json_t *n;
  json_array_foreach(names, i, n) {
    const char *s = json_string_value(n);
    int known = 0;
    for (int j = 0; s && all_names[j]; j++)
      if (!strcmp(all_names[j], s)) known = 1;
    if (!known)
      return tw_sqs_fail(c, TW_ERR_INVALID_ATTRIBUTE_NAME, "Unknown Attribute %s.", s ? s : "");
  }
  return 0;
}

void tw_sqs_attributes_reply(tw_sqs_call *c, json_t *names, json_t *all) {
  size_t i;
  json_t *n;
  json_t *out = json_object();
  int want_all = 0;
  json_array_foreach(names, i, n) if (!strcmp(json_string_value(n), "All")) want_all = 1;
  if (want_all) {
    json_object_update(out, all);
  } else {
    json_array_foreach(names, i, n) {
      json_t *v = json_object_get(all, json_string_value(n));
      if (v) json_object_set(out, json_string_value(n), v);
    }
  }
  json_decref(all);
  c->out = json_object();
  if (json_object_size(out))
    json_object_set_new(c->out, "Attributes", out);
  else
    json_decref(out);
}

const char *tw_sqs_queue_name_of(tw_sqs_call *c, char buf[512]) {
  const char *url = tw_p_str(c->in, "QueueUrl");
  const char *path = url;
  if (!url || !*url) {
    if (!c->path || strlen(c->path) <= 1) {
      tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER, "The request must contain the parameter QueueUrl.");
      return NULL;
    }
    path = c->path;
  }
  const char *scheme = strstr(path, "://");
  if (scheme) {
    path = strchr(scheme + 3, '/');
    if (!path) path = "";
  }
  snprintf(buf, 512, "%s", path);
  size_t len = strlen(buf);
  while (len && buf[len - 1] == '/') buf[--len] = 0;
  char *name = strrchr(buf, '/');
  return name ? name + 1 : buf;
}

/* --- ListQueues ------------------------------------------------------------------ */

/* Pagination token: the name to continue after, hex-encoded. */
static void token_encode(const char *name, char *out, size_t n) {
  size_t j = 0;
  for (size_t i = 0; name[i] && j + 3 < n; i++)
    j += (size_t)snprintf(out + j, n - j, "%02x", (unsigned char)name[i]);
  out[j] = 0;
}

static int token_decode(const char *tok, char *out, size_t n) {
  size_t len = strlen(tok);
  if (len % 2 || len / 2 >= n) return -1;
  for (size_t i = 0; i < len / 2; i++) {
    unsigned v;
    if (sscanf(tok + 2 * i, "%2x", &v) != 1) return -1;
    out[i] = (char)v;
  }
  out[len / 2] = 0;
  return 0;
}

int tw_sqs_page_parse(tw_sqs_call *c, tw_sqs_page *pg) {
  pg->max = 1000;
  pg->after[0] = 0;
  pg->has_max = tw_p_int(c, c->in, "MaxResults", &pg->max);
  if (pg->has_max < 0) return -1;
  if (pg->has_max &&
      tw_p_range(c, "MaxResults", pg->max, 1, 1000, "Must be between 1 and 1000, if provided."))
    return -1;
  const char *tok = tw_p_str(c->in, "NextToken");
  if (tok && *tok && token_decode(tok, pg->after, sizeof pg->after))
    return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE, "Invalid NextToken value.");
  return 0;
}

void tw_sqs_page_reply(tw_sqs_call *c, const tw_sqs_page *pg, const char *const *names, size_t n,
                       const char *account, const char *key) {
  json_t *urls = json_array();
  size_t i = 0;
  if (pg->after[0])
    while (i < n && strcmp(names[i], pg->after) <= 0) i++;
  for (; i < n && (long long)json_array_size(urls) < pg->max; i++) {
    char url[1024];
    snprintf(url, sizeof url, "%s/%s/%s", c->base_url, account, names[i]);
    json_array_append_new(urls, json_string(url));
  }
  c->out = json_object();
  if (json_array_size(urls))
    json_object_set_new(c->out, key, urls);
  else
    json_decref(urls);
  if (pg->has_max && i < n && i > 0) {
    char t[600];
    token_encode(names[i - 1], t, sizeof t);
    json_object_set_new(c->out, "NextToken", json_string(t));
  }
}

/* --- receipt handles --------------------------------------------------------- */

static void receipt_mac(const uint8_t secret[32], uint64_t seq, uint32_t nonce, int64_t qid,
                        char out[17]) {
  char buf[64];
  int n = snprintf(buf, sizeof buf, "%" PRIu64 ":%" PRIu32 ":%" PRId64, seq, nonce, qid);
  uint8_t mac[32];
  tw_hmac_sha256(secret, 32, buf, (size_t)n, mac);
  tw_hex(mac, 8, out);
}

void tw_sqs_receipt_make(const uint8_t secret[32], uint64_t seq, uint32_t nonce, int64_t qid,
                         char out[80]) {
  char mac[17];
  receipt_mac(secret, seq, nonce, qid, mac);
  snprintf(out, 80, "%016" PRIx64 "%08" PRIx32 "%08" PRIx64 "%s", seq, nonce, (uint64_t)qid, mac);
}

static int parse_hex(const char *p, size_t n, uint64_t *out) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return -1;
    v = v << 4 | (uint64_t)d;
  }
  *out = v;
  return 0;
}

int tw_sqs_receipt_read(const uint8_t secret[32], const char *h, uint64_t *seq, uint32_t *nonce,
                        int64_t *qid) {
  if (!h || strlen(h) != 48) return -1;
  uint64_t a, b, c;
  if (parse_hex(h, 16, &a) || parse_hex(h + 16, 8, &b) || parse_hex(h + 24, 8, &c)) return -1;
  char mac[17];
  receipt_mac(secret, a, (uint32_t)b, (int64_t)c, mac);
  if (memcmp(mac, h + 32, 16) != 0) return -1;
  *seq = a;
  *nonce = (uint32_t)b;
  *qid = (int64_t)c;
  return 0;
}

int tw_sqs_receipt_check(tw_sqs_call *c, const uint8_t secret[32], int64_t qid, const char *h,
                         uint64_t *seq, uint32_t *nonce) {
  if (!h || !*h)
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                       "The request must contain the parameter ReceiptHandle.");
  int64_t hq;
  if (tw_sqs_receipt_read(secret, h, seq, nonce, &hq))
    return tw_sqs_fail(c, TW_ERR_RECEIPT_HANDLE_INVALID,
                       "The input receipt handle \"%s\" is not a valid receipt handle.", h);
  if (hq != qid)
    return tw_sqs_fail(c, TW_ERR_RECEIPT_HANDLE_INVALID,
                       "The input receipt handle \"%s\" is not a valid for this queue.", h);
  return 0;
}

/* --- receiving --------------------------------------------------------------- */

int tw_sqs_receive_params(tw_sqs_call *c, long long *max, long long *vis, long long *wait) {
  int h;
  *max = 1;
  *vis = *wait = -1;
  if ((h = tw_p_int(c, c->in, "MaxNumberOfMessages", max)) < 0) return -1;
  if (h &&
      tw_p_range(c, "MaxNumberOfMessages", *max, 1, 10, "Must be between 1 and 10, if provided."))
    return -1;
  if ((h = tw_p_int(c, c->in, "VisibilityTimeout", vis)) < 0) return -1;
  if (h &&
      tw_p_range(c, "VisibilityTimeout", *vis, 0, 43200, "Must be >= 0 and <= 43200, if provided."))
    return -1;
  if ((h = tw_p_int(c, c->in, "WaitTimeSeconds", wait)) < 0) return -1;
  if (h && tw_p_range(c, "WaitTimeSeconds", *wait, 0, 20, "Must be >= 0 and <= 20, if provided."))
    return -1;
  return 0;
}

void tw_sqs_receive_reply(tw_sqs_call *c, json_t *list, int n, long long wait, int stopping,
                          int64_t qid) {
  if (n == 0 && wait > 0 && !stopping) {
    int64_t mono = tw_mono_ms();
    if (c->runs == 1) c->deadline_mono_ms = mono + wait * 1000;
    if (mono < c->deadline_mono_ms) {
      c->wants_wait = 1;
      c->wait_queue_id = qid;
      json_decref(list);
      return;
    }
  }
  c->out = json_object();
  if (json_array_size(list))
    json_object_set_new(c->out, "Messages", list);
  else
    json_decref(list);
}

unsigned tw_sqs_sys_attr_mask(json_t *in) {
  static const struct {
    const char *n;
    unsigned bit;
  } names[] = {{"All", TW_SA_ALL},
               {"SenderId", TW_SA_SENDER},
               {"SentTimestamp", TW_SA_SENT},
               {"ApproximateReceiveCount", TW_SA_COUNT},
               {"ApproximateFirstReceiveTimestamp", TW_SA_FIRST},
               {"SequenceNumber", TW_SA_SEQ},
               {"MessageDeduplicationId", TW_SA_DEDUP},
               {"MessageGroupId", TW_SA_GROUP},
               {"AWSTraceHeader", TW_SA_TRACE},
               {"DeadLetterQueueSourceArn", TW_SA_DLQ_SRC}};
  unsigned mask = 0;
  const char *keys[] = {"AttributeNames", "MessageSystemAttributeNames"};
  for (int k = 0; k < 2; k++) {
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(in, keys[k]), i, v) {
      const char *s = json_string_value(v);
      for (size_t j = 0; s && j < sizeof names / sizeof names[0]; j++)
        if (!strcmp(s, names[j].n)) mask |= names[j].bit;
    }
  }
  return mask;
}

json_t *tw_sqs_filter_attrs(json_t *attrs, json_t *names) {
  if (!attrs || !json_array_size(names)) return NULL;
  json_t *out = json_object();
  const char *k;
  json_t *v;
  json_object_foreach(attrs, k, v) {
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
      const char *p = json_string_value(n);
      if (!p) continue;
      size_t pl = strlen(p);
      if (!strcmp(p, "All") || !strcmp(p, ".*") || !strcmp(p, k) ||
          (pl >= 2 && !strcmp(p + pl - 2, ".*") && !strncmp(k, p, pl - 2))) {
        json_object_set(out, k, v);
        break;
      }
    }
  }
  if (!json_object_size(out)) {
    json_decref(out);
    return NULL;
  }
  return out;
}

/* --- batches ----------------------------------------------------------------- */

void tw_sqs_batch_failed(json_t *failed, const char *id, tw_err e, const char *msg) {
  const tw_err_info *info = tw_err_get(e);
  json_t *f = json_object();
  json_object_set_new(f, "Id", json_string(id));
  json_object_set_new(f, "SenderFault", json_boolean(info->sender));
  json_object_set_new(f, "Code", json_string(info->code));
  json_object_set_new(f, "Message", json_string(msg && *msg ? msg : info->message));
  json_array_append_new(failed, f);
}

/* --- sending ----------------------------------------------------------------- */

int tw_sqs_send_queue_check(tw_sqs_call *c, const struct tw_sqs_send_req *r, int max_size, int fifo,
                            int content_dedup) {
  if ((long long)r->size > max_size)
    return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                       "One or more parameters are invalid. Reason: Message must be shorter than "
                       "%d bytes.",
                       max_size);
  if (fifo) {
    if (!r->group)
      return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                         "The request must contain the parameter MessageGroupId.");
    if (r->has_delay && r->delay != 0)
      return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                         "Value %lld for parameter DelaySeconds is invalid. Reason: The request "
                         "include parameter that is not valid for this queue type.",
                         r->delay);
    if (!r->dedup && !content_dedup)
      return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                         "The queue should either have ContentBasedDeduplication enabled or "
                         "MessageDeduplicationId provided explicitly");
    return 0;
  }
  if (r->dedup)
    return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                       "Value %s for parameter MessageDeduplicationId is invalid. Reason: The "
                       "request include parameter that is not valid for this queue type.",
                       r->dedup);
  return 0;
}

/* --- dead-letter queues -------------------------------------------------------- */

static int redrive_policy(tw_sqs_call *c, const char *v, int fifo, tw_sqs_dlq_lookup lookup,
                          void *ctx) {
  json_t *p = json_loads(v, 0, NULL);
  if (!json_is_object(p)) {
    json_decref(p);
    return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                       "Value %s for parameter RedrivePolicy is invalid. Reason: Invalid value "
                       "for the parameter RedrivePolicy.",
                       v);
  }
  const char *arn = json_string_value(json_object_get(p, "deadLetterTargetArn"));
  json_t *mrc = json_object_get(p, "maxReceiveCount");
  long long n = json_is_integer(mrc)  ? json_integer_value(mrc)
                : json_is_string(mrc) ? atoll(json_string_value(mrc))
                                      : -1;
  int rc = 0;
  if (!arn || !mrc) {
    rc = tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                     "Value %s for parameter RedrivePolicy is invalid. Reason: Redrive policy "
                     "does not contain mandatory attribute: %s.",
                     v, !arn ? "deadLetterTargetArn" : "maxReceiveCount");
  } else if (n < 1 || n > 1000) {
    rc = tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                     "Value %s for parameter RedrivePolicy is invalid. Reason: Invalid value for "
                     "maxReceiveCount: %lld, valid values are from 1 to 1000 both inclusive.",
                     v, n);
  } else if (strncmp(arn, "arn:", 4) || !strstr(arn + 4, ":sqs:")) {
    rc = tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                     "Value %s for parameter RedrivePolicy is invalid. Reason: Invalid value "
                     "for deadLetterTargetArn.",
                     v);
  } else {
    int dlq_fifo = 0;
    json_t *dlq_attrs = NULL;
    int r = lookup(ctx, c, arn, &dlq_fifo, &dlq_attrs);
    json_decref(dlq_attrs);
    if (r > 0)
      rc = tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                       "Value %s for parameter RedrivePolicy is invalid. Reason: Dead-letter "
                       "target does not exist.",
                       v);
    else if (r < 0)
      rc = -1;
    else if (dlq_fifo != fifo)
      rc = tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                       "Value %s for parameter RedrivePolicy is invalid. Reason: Dead-letter "
                       "target must be the same type of queue as the source (standard or FIFO).",
                       v);
  }
  json_decref(p);
  return rc;
}

static int redrive_allow_policy(tw_sqs_call *c, const char *v) {
  json_t *p = json_loads(v, 0, NULL);
  const char *perm = json_string_value(json_object_get(p, "redrivePermission"));
  json_t *srcs = json_object_get(p, "sourceQueueArns");
  int rc = 0;
  if (!perm || (strcmp(perm, "allowAll") && strcmp(perm, "denyAll") && strcmp(perm, "byQueue")))
    rc = tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                     "Value %s for parameter RedriveAllowPolicy is invalid. Reason: Invalid "
                     "value for redrivePermission.",
                     v);
  else if (!strcmp(perm, "byQueue") &&
           (!json_is_array(srcs) || json_array_size(srcs) == 0 || json_array_size(srcs) > 10))
    rc = tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                     "Value %s for parameter RedriveAllowPolicy is invalid. Reason: "
                     "sourceQueueArns must contain 1 to 10 ARNs when redrivePermission is "
                     "byQueue.",
                     v);
  else if (strcmp(perm, "byQueue") && srcs)
    rc = tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                     "Value %s for parameter RedriveAllowPolicy is invalid. Reason: "
                     "sourceQueueArns is allowed only when redrivePermission is byQueue.",
                     v);
  json_decref(p);
  return rc;
}

int tw_sqs_redrive_check(tw_sqs_call *c, const char *k, const char *v, int fifo,
                         tw_sqs_dlq_lookup lookup, void *ctx) {
  if (!v || !*v) return 0;
  if (!strcmp(k, "RedrivePolicy")) return redrive_policy(c, v, fifo, lookup, ctx);
  if (!strcmp(k, "RedriveAllowPolicy")) return redrive_allow_policy(c, v);
  return 0;
}

/* Whether a dead-letter queue's attributes (its RedriveAllowPolicy) let
 * source_arn use it. */
static int redrive_allowed(json_t *dlq_attrs, const char *source_arn) {
  const char *v = json_string_value(json_object_get(dlq_attrs, "RedriveAllowPolicy"));
  if (!v || !*v) return 1;
  json_t *p = json_loads(v, 0, NULL);
  const char *perm = json_string_value(json_object_get(p, "redrivePermission"));
  int ok = 1;
  if (perm && !strcmp(perm, "denyAll")) ok = 0;
  if (perm && !strcmp(perm, "byQueue")) {
    ok = 0;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(p, "sourceQueueArns"), i, a) {
      if (json_string_value(a) && !strcmp(json_string_value(a), source_arn)) ok = 1;
    }
  }
  json_decref(p);
  return ok;
}

int tw_sqs_redrive_allow_check(tw_sqs_call *c, json_t *attrs, const char *source_arn,
                               tw_sqs_dlq_lookup lookup, void *ctx) {
  const char *rp = json_string_value(json_object_get(attrs, "RedrivePolicy"));
  if (!rp || !*rp) return 0;
  json_t *p = json_loads(rp, 0, NULL);
  const char *arn = json_string_value(json_object_get(p, "deadLetterTargetArn"));
  int fifo = 0;
  json_t *dlq_attrs = NULL;
  int r = lookup(ctx, c, arn, &fifo, &dlq_attrs), rc = 0;
  if (r < 0)
    rc = -1;
  else if (!r && !redrive_allowed(dlq_attrs, source_arn))
    rc = tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                     "Value %s for parameter RedrivePolicy is invalid. Reason: Queue %s does not "
                     "allow this queue to use it as dead-letter queue.",
                     rp, arn);
  json_decref(dlq_attrs);
  json_decref(p);
  return rc;
}

json_t *tw_sqs_attr_normalized(const char *k, json_t *v) {
  if (strcmp(k, "RedrivePolicy") || !*json_string_value(v)) return json_incref(v);
  json_t *p = json_loads(json_string_value(v), 0, NULL);
  json_t *mrc = json_object_get(p, "maxReceiveCount");
  if (json_is_string(mrc))
    json_object_set_new(p, "maxReceiveCount", json_integer(atoll(json_string_value(mrc))));
  char *s = p ? json_dumps(p, JSON_COMPACT) : NULL;
  json_t *out = json_string(s ? s : json_string_value(v));
  free(s);
  json_decref(p);
  return out;
}

/* --- permissions ------------------------------------------------------------------- */

int tw_sqs_permission_check(tw_sqs_call *c) {
  const char *label = tw_p_str(c->in, "Label");
  json_t *accounts = json_object_get(c->in, "AWSAccountIds");
  json_t *actions = json_object_get(c->in, "Actions");
  if (!label)
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                       "The request must contain the parameter Label.");
  if (!json_array_size(accounts))
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                       "The request must contain the parameter AWSAccountIds.");
  if (!json_array_size(actions))
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                       "The request must contain the parameter Actions.");
  static const char *ok[] = {"*",
                             "SendMessage",
                             "ReceiveMessage",
                             "DeleteMessage",
                             "ChangeMessageVisibility",
                             "GetQueueAttributes",
                             "GetQueueUrl",
                             "ListDeadLetterSourceQueues",
                             "PurgeQueue",
                             "ListQueueTags",
                             NULL};
  size_t i;
  json_t *a;
  json_array_foreach(actions, i, a) {
    const char *s = json_string_value(a);
    int found = 0;
    for (int j = 0; s && ok[j]; j++)
      if (!strcmp(ok[j], s)) found = 1;
    if (!found)
      return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                         "Value SQS:%s for parameter ActionName is invalid. Reason: Please refer "
                         "to the appropriate WSDL for a list of valid actions.",
                         s ? s : "");
  }
  return 0;
}

int tw_sqs_permission_label_free(tw_sqs_call *c, json_t *st, const char *label) {
  size_t i;
  json_t *x;
  json_array_foreach(st, i, x) {
    if (!strcmp(json_string_value(json_object_get(x, "Sid")) ?: "", label))
      return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                         "Value %s for parameter Label is invalid. Reason: Already exists.", label);
  }
  return 0;
}

json_t *tw_sqs_permission_statement(tw_sqs_call *c, const char *arn) {
  json_t *accounts = json_object_get(c->in, "AWSAccountIds");
  json_t *actions = json_object_get(c->in, "Actions");
  size_t i;
  json_t *x;
  json_t *s = json_object();
  json_object_set_new(s, "Sid", json_string(tw_p_str(c->in, "Label")));
  json_object_set_new(s, "Effect", json_string("Allow"));
  json_t *principals = json_array();
  json_array_foreach(accounts, i, x) {
    char pr[128];
    snprintf(pr, sizeof pr, "arn:aws:iam::%s:root", json_string_value(x) ?: "");
    json_array_append_new(principals, json_string(pr));
  }
  json_t *pr = json_object();
  json_object_set_new(pr, "AWS",
                      json_array_size(principals) == 1 ? json_incref(json_array_get(principals, 0))
                                                       : json_incref(principals));
  json_decref(principals);
  json_object_set_new(s, "Principal", pr);
  json_t *acts = json_array();
  json_array_foreach(actions, i, x) {
    char a[128];
    snprintf(a, sizeof a, "SQS:%s", json_string_value(x));
    json_array_append_new(acts, json_string(a));
  }
  json_object_set_new(
      s, "Action",
      json_array_size(acts) == 1 ? json_incref(json_array_get(acts, 0)) : json_incref(acts));
  json_decref(acts);
  json_object_set_new(s, "Resource", json_string(arn));
  return s;
}

json_t *tw_sqs_policy_statements(json_t **doc, const char *arn) {
  if (!*doc) {
    if (!arn) return NULL;
    char id[320];
    snprintf(id, sizeof id, "%s/SQSDefaultPolicy", arn);
    *doc = json_pack("{s:s,s:s,s:[]}", "Version", "2008-10-17", "Id", id, "Statement");
  }
  json_t *st = json_object_get(*doc, "Statement");
  if (json_is_array(st)) return st;
  json_t *list = json_array();
  if (json_is_object(st)) json_array_append(list, st);
  json_object_set_new(*doc, "Statement", list);
  return list;
}

int tw_sqs_permission_remove(tw_sqs_call *c, json_t **doc) {
  const char *label = tw_p_str(c->in, "Label");
  json_t *st = tw_sqs_policy_statements(doc, NULL);
  size_t i;
  json_t *x;
  int found = -1;
  json_array_foreach(st, i, x) {
    if (!strcmp(json_string_value(json_object_get(x, "Sid")) ?: "", label)) found = (int)i;
  }
  if (found < 0)
    return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                       "Value %s for parameter Label is invalid. Reason: can't find label.", label);
  json_array_remove(st, (size_t)found);
  if (!json_array_size(st)) {
    json_decref(*doc);
    *doc = NULL;
  }
  return 0;
}

/* --- message move tasks ------------------------------------------------------------ */

json_t *tw_sqs_task_json(const tw_sqs_task_view *t) {
  json_t *o = json_object();
  json_object_set_new(o, "TaskHandle", json_string(t->handle));
  json_object_set_new(o, "Status", json_string(t->status));
  json_object_set_new(o, "SourceArn", json_string(t->source_arn));
  if (t->dest_arn[0]) json_object_set_new(o, "DestinationArn", json_string(t->dest_arn));
  if (t->rate) json_object_set_new(o, "MaxNumberOfMessagesPerSecond", json_integer(t->rate));
  json_object_set_new(o, "ApproximateNumberOfMessagesMoved", json_integer(t->moved));
  json_object_set_new(o, "ApproximateNumberOfMessagesToMove", json_integer(t->to_move));
  if (t->failure[0]) json_object_set_new(o, "FailureReason", json_string(t->failure));
  json_object_set_new(o, "StartedTimestamp", json_integer(t->started_ms));
  return o;
}

int tw_sqs_move_start_params(tw_sqs_call *c, const char **src, const char **dst, long long *rate) {
  *src = tw_p_str(c->in, "SourceArn");
  *dst = tw_p_str(c->in, "DestinationArn");
  *rate = 0;
  int hr;
  if (!*src)
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                       "The request must contain the parameter SourceArn.");
  if ((hr = tw_p_int(c, c->in, "MaxNumberOfMessagesPerSecond", rate)) < 0) return -1;
  if (hr && tw_p_range(c, "MaxNumberOfMessagesPerSecond", *rate, 1, 500,
                       "Must be between 1 and 500, if provided."))
    return -1;
  return 0;
}

int tw_sqs_move_list_params(tw_sqs_call *c, const char **src, long long *max) {
  *src = tw_p_str(c->in, "SourceArn");
  *max = 1;
  int hm;
  if (!*src)
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                       "The request must contain the parameter SourceArn.");
  if ((hm = tw_p_int(c, c->in, "MaxResults", max)) < 0) return -1;
  if (hm && tw_p_range(c, "MaxResults", *max, 1, 10, "Must be between 1 and 10, if provided."))
    return -1;
  return 0;
}

const char *tw_sqs_move_cancel_param(tw_sqs_call *c) {
  const char *h = tw_p_str(c->in, "TaskHandle");
  if (!h)
    tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER, "The request must contain the parameter TaskHandle.");
  return h;
}

void tw_sqs_move_handle(const char *src, char out[64]) {
  char uuid[37];
  tw_uuid4(uuid);
  json_t *h = json_pack("{s:s,s:s}", "taskId", uuid, "sourceArn", src);
  char *hs = json_dumps(h, JSON_COMPACT);
  json_decref(h);
  char b64[512];
  tw_base64_encode((const uint8_t *)hs, strlen(hs) < 360 ? strlen(hs) : 360, b64);
  free(hs);
  snprintf(out, 64, "%.63s", b64);
}

int tw_sqs_move_fail(tw_sqs_call *c, int why) {
  switch (why) {
    case TW_MOVE_NO_SOURCE:
    case TW_MOVE_NO_DESTINATION:
      return tw_sqs_fail(c, TW_ERR_RESOURCE_NOT_FOUND,
                         "The resource that you specified for the %s parameter doesn't exist.",
                         why == TW_MOVE_NO_SOURCE ? "SourceArn" : "DestinationArn");
    case TW_MOVE_NOT_DLQ:
      return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                         "Source queue must be configured as a Dead Letter Queue.");
    case TW_MOVE_BUSY:
      return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                         "There is already a task running. Only one active task is allowed for a "
                         "source queue arn at a given time.");
    case TW_MOVE_BAD_HANDLE:
      return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                         "Value for parameter TaskHandle is invalid.");
    default:
      return tw_sqs_fail(c, TW_ERR_UNSUPPORTED_OPERATION,
                         "Only tasks in RUNNING status can be cancelled.");
  }
}
