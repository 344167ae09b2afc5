/* Cluster mode's queue actions (sqs_pg.h): create, look up, list, delete,
 * attributes, purge, tags; queues live in PostgreSQL (store/pg_sqs.h). The
 * attribute names, defaults and checks are the embedded engine's
 * (sqs_common.h). */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/policy.h"
#include "core/clock.h"
#include "sqs/params.h"
#include "sqs/sqs_common.h"
#include "sqs/sqs_internal.h"
#include "sqs/sqs_pg_internal.h"

int tw_pgq_fail_rc(tw_sqs_call *c, int rc) {
  if (rc == TW_PG_NOT_FOUND) /* deleted by a concurrent request */
    return tw_sqs_fail(c, TW_ERR_QUEUE_DOES_NOT_EXIST, "The specified queue does not exist.");
  if (rc == TW_PG_UNAVAILABLE)
    return tw_sqs_fail(c, TW_ERR_SERVICE_UNAVAILABLE,
                       "The queue store (PostgreSQL) is unavailable; try again.");
  return tw_sqs_fail(c, TW_ERR_INTERNAL, NULL);
}

int tw_pgq_not_yet(tw_sqs_call *c, const char *what) {
  return tw_sqs_fail(c, TW_ERR_S3_NOT_IMPLEMENTED, "%s is not available in cluster mode yet.",
                     what);
}

static int attr_int(json_t *a, const char *k, int dflt) {
  const char *v = json_string_value(json_object_get(a, k));
  return v ? atoi(v) : dflt;
}

void tw_pgq_free(pq *q) {
  tw_pg_queue_free(&q->row);
  json_decref(q->attrs);
  json_decref(q->tags);
  memset(q, 0, sizeof *q);
}

static void pq_parse(tw_sqs_pg *p, pq *q) {
  q->attrs = json_loads(q->row.attrs_json ? q->row.attrs_json : "{}", 0, NULL);
  if (!q->attrs) q->attrs = json_object();
  q->tags = json_loads(q->row.tags_json ? q->row.tags_json : "{}", 0, NULL);
  if (!q->tags) q->tags = json_object();
  snprintf(q->arn, sizeof q->arn, "arn:aws:sqs:%s:%s:%s", p->region, p->account, q->row.name);
  q->delay = attr_int(q->attrs, "DelaySeconds", 0);
  q->max_size = attr_int(q->attrs, "MaximumMessageSize", 1048576);
  q->wait_time = attr_int(q->attrs, "ReceiveMessageWaitTimeSeconds", 0);
  q->visibility = attr_int(q->attrs, "VisibilityTimeout", 30);
  const char *r = json_string_value(json_object_get(q->attrs, "MessageRetentionPeriod"));
  q->retention = r ? atoll(r) : 345600;
  const char *cbd = json_string_value(json_object_get(q->attrs, "ContentBasedDeduplication"));
  q->content_dedup = cbd && !strcmp(cbd, "true");
  const char *scope = json_string_value(json_object_get(q->attrs, "DeduplicationScope"));
  q->dedup_scope_group = scope && !strcmp(scope, "messageGroup");
  const char *rp = json_string_value(json_object_get(q->attrs, "RedrivePolicy"));
  json_t *pol = rp && *rp ? json_loads(rp, 0, NULL) : NULL;
  const char *arn = json_string_value(json_object_get(pol, "deadLetterTargetArn"));
  json_t *mrc = json_object_get(pol, "maxReceiveCount");
  snprintf(q->dlq_arn, sizeof q->dlq_arn, "%s", arn ? arn : "");
  q->max_receive_count = json_is_integer(mrc)  ? (int)json_integer_value(mrc)
                         : json_is_string(mrc) ? atoi(json_string_value(mrc))
                                               : 0;
  json_decref(pol);
}

int tw_pgq_by_arn(tw_sqs_pg *p, const char *arn, tw_pg_queue *row) {
  const char *name = strrchr(arn ? arn : "", ':');
  if (!name || !name[1]) return TW_PG_NOT_FOUND;
  char want[400];
  snprintf(want, sizeof want, "arn:aws:sqs:%s:%s:%s", p->region, p->account, name + 1);
  if (strcmp(want, arn)) return TW_PG_NOT_FOUND;
  return tw_pg_queue_get(p->pg, name + 1, row);
}

/* The queue named by QueueUrl (any host), else by the request path. 0 or -1
 * with c->err (QueueDoesNotExist, 503). */
int tw_pgq_resolve(tw_sqs_pg *p, tw_sqs_call *c, pq *q) {
  memset(q, 0, sizeof *q);
  char buf[512];
  const char *name = tw_sqs_queue_name_of(c, buf);
  if (!name) return -1;
  tw_pg_queue *kept = c->pg_row; /* read by the authorization check just before */
  c->pg_row = NULL;
  int rc;
  if (kept && *name && !strcmp(kept->name, name)) {
    q->row = *kept;
    free(kept);
    rc = TW_PG_OK;
  } else {
    tw_sqs_pg_row_free(kept);
    rc = *name ? tw_pg_queue_get(p->pg, name, &q->row) : TW_PG_NOT_FOUND;
  }
  if (rc == TW_PG_NOT_FOUND)
    return tw_sqs_fail(c, TW_ERR_QUEUE_DOES_NOT_EXIST, "The specified queue does not exist.");
  if (rc) return tw_pgq_fail_rc(c, rc);
  pq_parse(p, q);
  return 0;
}

void tw_pgq_url(tw_sqs_pg *p, const tw_sqs_call *c, const char *name, char *out, size_t n) {
  snprintf(out, n, "%s/%s/%s", c->base_url, p->account, name);
}

/* The embedded engine's checks (tw_sqs_attr_check); the redrive policies,
 * which need the other queues, in sqs_pg_redrive.c. */
static int check_attr(tw_sqs_pg *p, tw_sqs_call *c, const char *k, const char *v, int fifo,
                      json_t *cur, json_t *all) {
  int rc = tw_sqs_attr_check(c, k, v, fifo, cur != NULL, cur, all);
  return rc > 0 ? tw_pgq_check_redrive(p, c, k, v, fifo) : rc;
}

static char *dump(json_t *o) {
  return json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
}

int tw_sqs_pg_create_queue(tw_sqs_pg *p, tw_sqs_call *c) {
  const char *name = tw_p_str(c->in, "QueueName");
  if (!name)
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                       "The request must contain the parameter QueueName.");
  json_t *given = json_object_get(c->in, "Attributes");
  json_t *attrs = tw_sqs_attrs_as_strings(c, given ? given : json_object_get(c->in, "__none"));
  if (!attrs) return -1;
  int rc = -1;
  const char *fq = json_string_value(json_object_get(attrs, "FifoQueue"));
  size_t nl = strlen(name);
  int fifo_name = nl > 5 && !strcmp(name + nl - 5, ".fifo");
  int fifo = fq && !strcmp(fq, "true");
  if (fifo && !tw_p_valid_queue_name(name, 1)) {
    tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or "
                "underscores, must end with .fifo suffix and be 1 to 80 in length.");
    goto done;
  }
  if (!fifo && !tw_p_valid_queue_name(name, 0)) {
    tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                fifo_name ? "The name of a FIFO queue can only include alphanumeric characters, "
                            "hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in "
                            "length."
                          : "Can only include alphanumeric characters, hyphens, or underscores. 1 "
                            "to 80 in length");
    goto done;
  }
  json_t *tags;
  if (tw_sqs_create_tags(c, name, &tags)) goto done;
  const char *k;
  json_t *v;
  json_object_foreach(attrs, k, v) {
    if (check_attr(p, c, k, json_string_value(v), fifo, NULL, attrs)) goto done;
  }
  char arn[300];
  snprintf(arn, sizeof arn, "arn:aws:sqs:%s:%s:%s", p->region, p->account, name);
  if (tw_pgq_check_redrive_allow(p, c, attrs, arn)) goto done;
  json_object_foreach(attrs, k, v) json_object_set_new(attrs, k, tw_sqs_attr_normalized(k, v));
  if (fifo)
    json_object_set_new(attrs, "FifoQueue", json_string("true"));
  else
    json_object_del(attrs, "FifoQueue");
  json_t *pol = json_object_get(attrs, "Policy");
  int64_t now = tw_now_ms();
  tw_pg_queue row = {
      .name = strdup(name), .fifo = fifo, .created = now / 1000, .modified = now / 1000};
  row.policy_json = pol && *json_string_value(pol) ? strdup(json_string_value(pol)) : NULL;
  json_object_del(attrs, "Policy");
  row.attrs_json = dump(attrs);
  json_t *tagcopy = json_object();
  if (json_is_object(tags)) json_object_update(tagcopy, tags);
  row.tags_json = dump(tagcopy);
  json_decref(tagcopy);
  int r = tw_pg_queue_create(p->pg, &row, now);
  if (r == TW_PG_EXISTS) {
    json_t *have = json_loads(row.attrs_json ? row.attrs_json : "{}", 0, NULL);
    json_t *want = json_object_get(c->in, "Attributes");
    json_t *all = tw_sqs_attrs_as_strings(c, want ? want : json_object_get(c->in, "__none"));
    json_object_foreach(all, k, v) {
      const char *hv = json_string_value(json_object_get(have, k));
      if (!strcmp(k, "Policy")) hv = row.policy_json ? row.policy_json : "";
      if (!hv) hv = tw_sqs_attr_default(k, row.fifo);
      json_t *nv = tw_sqs_attr_normalized(k, v);
      int differs = strcmp(hv, json_string_value(nv)) != 0;
      json_decref(nv);
      if (differs) {
        tw_sqs_fail(c, TW_ERR_QUEUE_NAME_EXISTS,
                    "A queue already exists with the same name and a different value for "
                    "attribute %s",
                    k);
        break;
      }
    }
    json_decref(all);
    json_decref(have);
    if (c->err != TW_ERR_OK) {
      tw_pg_queue_free(&row);
      goto done;
    }
  } else if (r == TW_PG_DELETED_RECENTLY) {
    tw_sqs_fail(c, TW_ERR_QUEUE_DELETED_RECENTLY,
                "You must wait 60 seconds after deleting a queue before you can create another "
                "with the same name.");
    tw_pg_queue_free(&row);
    goto done;
  } else if (r) {
    tw_pgq_fail_rc(c, r);
    tw_pg_queue_free(&row);
    goto done;
  }
  char url[1024];
  tw_pgq_url(p, c, name, url, sizeof url);
  tw_pg_queue_free(&row);
  c->out = json_pack("{s:s}", "QueueUrl", url);
  rc = 0;
done:
  json_decref(attrs);
  return rc;
}

int tw_sqs_pg_get_queue_url(tw_sqs_pg *p, tw_sqs_call *c) {
  const char *name = tw_p_str(c->in, "QueueName");
  if (!name)
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                       "The request must contain the parameter QueueName.");
  const char *owner = tw_p_str(c->in, "QueueOwnerAWSAccountId");
  tw_pg_queue row = {0};
  int rc =
      owner && strcmp(owner, p->account) ? TW_PG_NOT_FOUND : tw_pg_queue_get(p->pg, name, &row);
  if (rc == TW_PG_NOT_FOUND)
    return tw_sqs_fail(c, TW_ERR_QUEUE_DOES_NOT_EXIST, "The specified queue does not exist.");
  if (rc) return tw_pgq_fail_rc(c, rc);
  char url[1024];
  tw_pgq_url(p, c, name, url, sizeof url);
  tw_pg_queue_free(&row);
  c->out = json_pack("{s:s}", "QueueUrl", url);
  return 0;
}

int tw_sqs_pg_list_queues(tw_sqs_pg *p, tw_sqs_call *c) {
  tw_sqs_page pg;
  if (tw_sqs_page_parse(c, &pg)) return -1;
  char **names;
  size_t n;
  int rc = tw_pg_queue_list(p->pg, tw_p_str(c->in, "QueueNamePrefix"), &names, &n);
  if (rc) return tw_pgq_fail_rc(c, rc);
  tw_sqs_page_reply(c, &pg, (const char *const *)names, n, p->account, "QueueUrls");
  for (size_t j = 0; j < n; j++) free(names[j]);
  free(names);
  return 0;
}

int tw_sqs_pg_delete_queue(tw_sqs_pg *p, tw_sqs_call *c) {
  pq q;
  if (tw_pgq_resolve(p, c, &q)) return -1;
  int rc = tw_pg_queue_delete(p->pg, q.row.id, q.row.name, tw_now_ms());
  tw_pgq_free(&q);
  if (rc) return tw_pgq_fail_rc(c, rc);
  c->out = json_object();
  return 0;
}

int tw_sqs_pg_get_queue_attributes(tw_sqs_pg *p, tw_sqs_call *c) {
  json_t *names = json_object_get(c->in, "AttributeNames");
  if (tw_sqs_check_attribute_names(c, names)) return -1;
  pq q;
  if (tw_pgq_resolve(p, c, &q)) return -1;
  int64_t vis = 0, inflight = 0, delayed = 0, now = tw_now_ms();
  int rc =
      tw_pg_queue_counts(p->pg, q.row.id, now, now - q.retention * 1000, &vis, &inflight, &delayed);
  if (rc) {
    tw_pgq_free(&q);
    return tw_pgq_fail_rc(c, rc);
  }
  /* the policy is kept apart from the attributes (row.policy_json) */
  tw_sqs_queue_view v = {.attrs = q.attrs,
                         .policy = q.row.policy_json,
                         .fifo = q.row.fifo,
                         .arn = q.arn,
                         .created = q.row.created,
                         .modified = q.row.modified,
                         .visible = vis,
                         .inflight = inflight,
                         .delayed = delayed};
  json_t *all = tw_sqs_queue_attrs_json(&v);
  tw_pgq_free(&q);
  tw_sqs_attributes_reply(c, names, all);
  return 0;
}

/* Saves q's attrs/tags (policy: as in q->row) with a new modified time. */
int tw_pgq_save(tw_sqs_pg *p, tw_sqs_call *c, pq *q) {
  free(q->row.attrs_json);
  free(q->row.tags_json);
  q->row.attrs_json = dump(q->attrs);
  q->row.tags_json = dump(q->tags);
  int rc = tw_pg_queue_update(p->pg, &q->row);
  if (rc == TW_PG_NOT_FOUND)
    return tw_sqs_fail(c, TW_ERR_QUEUE_DOES_NOT_EXIST, "The specified queue does not exist.");
  return rc ? tw_pgq_fail_rc(c, rc) : 0;
}

int tw_sqs_pg_set_queue_attributes(tw_sqs_pg *p, tw_sqs_call *c) {
  json_t *given = json_object_get(c->in, "Attributes");
  if (!given)
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                       "The request must contain the parameter Attributes.");
  json_t *attrs = tw_sqs_attrs_as_strings(c, given);
  if (!attrs) return -1;
  pq q;
  int rc = -1;
  if (tw_pgq_resolve(p, c, &q)) goto done0;
  const char *k;
  json_t *v;
  json_object_foreach(attrs, k, v) {
    if (check_attr(p, c, k, json_string_value(v), q.row.fifo, q.attrs, attrs)) goto done;
  }
  if (tw_pgq_check_redrive_allow(p, c, attrs, q.arn)) goto done;
  json_object_foreach(attrs, k, v) {
    const char *s = json_string_value(v);
    if (!strcmp(k, "Policy")) {
      free(q.row.policy_json);
      q.row.policy_json = *s ? strdup(s) : NULL;
    } else if (!*s && (!strcmp(k, "RedrivePolicy") || !strcmp(k, "RedriveAllowPolicy"))) {
      json_object_del(q.attrs, k);
    } else {
      json_object_set_new(q.attrs, k, tw_sqs_attr_normalized(k, v));
    }
  }
  q.row.modified = (int64_t)time(NULL);
  rc = tw_pgq_save(p, c, &q);
  if (!rc) c->out = json_object();
done:
  tw_pgq_free(&q);
done0:
  json_decref(attrs);
  return rc;
}

int tw_sqs_pg_purge_queue(tw_sqs_pg *p, tw_sqs_call *c) {
  pq q;
  if (tw_pgq_resolve(p, c, &q)) return -1;
  int rc = tw_pg_queue_purge(p->pg, q.row.id, tw_now_ms());
  if (rc == TW_PG_TOO_SOON)
    tw_sqs_fail(c, TW_ERR_PURGE_IN_PROGRESS,
                "Only one PurgeQueue operation on %s is allowed every 60 seconds.", q.row.name);
  else if (rc)
    tw_pgq_fail_rc(c, rc);
  tw_pgq_free(&q);
  if (rc) return -1;
  c->out = json_object();
  return 0;
}

int tw_sqs_pg_tag_queue(tw_sqs_pg *p, tw_sqs_call *c) {
  json_t *tags = json_object_get(c->in, "Tags");
  if (!json_is_object(tags) || !json_object_size(tags))
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER, "The request must contain the parameter Tags.");
  pq q;
  if (tw_pgq_resolve(p, c, &q)) return -1;
  json_object_update(q.tags, tags);
  int rc = json_object_size(q.tags) > 50
               ? tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE, "Too many tags added for queue %s.",
                             q.row.name)
               : tw_pgq_save(p, c, &q);
  tw_pgq_free(&q);
  if (!rc) c->out = json_object();
  return rc;
}

int tw_sqs_pg_untag_queue(tw_sqs_pg *p, tw_sqs_call *c) {
  json_t *keys = json_object_get(c->in, "TagKeys");
  if (!json_is_array(keys) || !json_array_size(keys))
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                       "The request must contain the parameter TagKeys.");
  pq q;
  if (tw_pgq_resolve(p, c, &q)) return -1;
  size_t i;
  json_t *k;
  json_array_foreach(keys, i, k) if (json_string_value(k))
      json_object_del(q.tags, json_string_value(k));
  int rc = tw_pgq_save(p, c, &q);
  tw_pgq_free(&q);
  if (!rc) c->out = json_object();
  return rc;
}

int tw_sqs_pg_list_queue_tags(tw_sqs_pg *p, tw_sqs_call *c) {
  pq q;
  if (tw_pgq_resolve(p, c, &q)) return -1;
  c->out = json_object();
  if (json_object_size(q.tags)) json_object_set(c->out, "Tags", q.tags);
  tw_pgq_free(&q);
  return 0;
}

/* This thread's request and the first queue row its authorization read. */
static _Thread_local struct {
  char rid[40];
  tw_pg_queue *row;
} memo;

void tw_sqs_pg_row_free(void *row) {
  if (!row) return;
  tw_pg_queue_free(row);
  free(row);
}

void tw_sqs_pg_row_reset(void) {
  tw_sqs_pg_row_free(memo.row);
  memo.row = NULL;
  memo.rid[0] = 0;
}

void *tw_sqs_pg_row_take(const char *request_id) {
  tw_pg_queue *row = memo.row;
  memo.row = NULL;
  if (row && request_id && !strcmp(memo.rid, request_id)) return row;
  tw_sqs_pg_row_free(row);
  return NULL;
}

char *tw_sqs_pg_queue_policy(tw_sqs_pg *p, const char *request_id, const char *name, int *rc) {
  tw_pg_queue *row = calloc(1, sizeof *row);
  *rc = row ? tw_pg_queue_get(p->pg, name, row) : TW_PG_ERROR;
  if (*rc) {
    free(row);
    return NULL;
  }
  char *pol = row->policy_json ? strdup(row->policy_json) : NULL;
  if (!memo.row && request_id) { /* the first queue the request names: its action's */
    memo.row = row;
    snprintf(memo.rid, sizeof memo.rid, "%s", request_id);
  } else {
    tw_sqs_pg_row_free(row);
  }
  return pol;
}
