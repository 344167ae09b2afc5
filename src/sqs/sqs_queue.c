/* Queue actions: create, look up, list, delete, attributes, purge, tags,
 * permissions, dead-letter sources. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/policy.h"
#include "core/clock.h"
#include "sqs/params.h"
#include "sqs/sqs_actions.h"
#include "sqs/sqs_common.h"
#include "sqs/sqs_internal.h"

/* A queue of this engine, for the shared redrive checks (sqs_common.h). */
static int dlq_lookup(void *ctx, tw_sqs_call *c, const char *arn, int *fifo, json_t **attrs) {
  (void)c;
  tw_queue *dlq = tw_sqs_queue_by_arn(ctx, arn);
  if (!dlq) return 1;
  *fifo = dlq->fifo;
  *attrs = json_incref(dlq->attrs);
  return 0;
}

/* Validates one attribute for a queue of kind fifo; q is NULL on creation.
 * The checks both engines make are tw_sqs_attr_check's and
 * tw_sqs_redrive_check's (sqs_common.c); the redrive target is looked up here. */
static int check_attr(tw_sqs_call *c, const char *k, const char *v, int fifo, tw_queue *q,
                      json_t *all) {
  int rc = tw_sqs_attr_check(c, k, v, fifo, q != NULL, q ? q->attrs : NULL, all);
  if (rc <= 0) return rc;
  return tw_sqs_redrive_check(c, k, v, fifo, dlq_lookup, c->sqs);
}

static int check_redrive_allow(tw_sqs_call *c, json_t *attrs, const char *source_arn) {
  return tw_sqs_redrive_allow_check(c, attrs, source_arn, dlq_lookup, c->sqs);
}

int tw_sqs_create_queue(tw_sqs_call *c) {
  const char *name = tw_p_str(c->in, "QueueName");
  if (!name)
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                       "The request must contain the parameter QueueName.");
  json_t *given = json_object_get(c->in, "Attributes");
  json_t *attrs = tw_sqs_attrs_as_strings(c, given ? given : json_object_get(c->in, "__none"));
  if (!attrs) return -1;
  const char *fq = json_string_value(json_object_get(attrs, "FifoQueue"));
  size_t nl = strlen(name);
  int fifo_name = nl > 5 && !strcmp(name + nl - 5, ".fifo");
  int fifo = fq && !strcmp(fq, "true");
  int rc = -1;
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
  pthread_mutex_lock(&c->sqs->mu);
  const char *k;
  json_t *v;
  json_object_foreach(attrs, k, v) {
    if (check_attr(c, k, json_string_value(v), fifo, NULL, attrs)) goto unlock;
  }
  char arn[300];
  snprintf(arn, sizeof arn, "arn:aws:sqs:%s:%s:%s", c->sqs->region, c->sqs->account, name);
  if (check_redrive_allow(c, attrs, arn)) goto unlock;
  tw_queue *q = tw_sqs_queue_by_name(c->sqs, name);
  if (q) {
    json_object_foreach(attrs, k, v) {
      const char *have = json_string_value(json_object_get(q->attrs, k));
      if (!have) have = tw_sqs_attr_default(k, q->fifo);
      json_t *nv = tw_sqs_attr_normalized(k, v);
      int differs = strcmp(have, json_string_value(nv)) != 0;
      json_decref(nv);
      if (differs) {
        tw_sqs_fail(c, TW_ERR_QUEUE_NAME_EXISTS,
                    "A queue already exists with the same name and a different value for "
                    "attribute %s",
                    k);
        goto unlock;
      }
    }
  } else {
    if (tw_map_get(&c->sqs->deleted_names, name)) {
      tw_sqs_fail(c, TW_ERR_QUEUE_DELETED_RECENTLY,
                  "You must wait 60 seconds after deleting a queue before you can create another "
                  "with the same name.");
      goto unlock;
    }
    json_t *stored = json_object();
    json_object_foreach(attrs, k, v) json_object_set_new(stored, k, tw_sqs_attr_normalized(k, v));
    if (fifo)
      json_object_set_new(stored, "FifoQueue", json_string("true"));
    else
      json_object_del(stored, "FifoQueue");
    json_t *tagcopy = json_object();
    if (json_is_object(tags)) json_object_update(tagcopy, tags);
    q = tw_sqs_queue_create(c->sqs, name, fifo, stored, tagcopy);
    json_decref(stored);
    json_decref(tagcopy);
    c->ticket = tw_sqs_queue_save(c->sqs, q);
  }
  char url[1024];
  tw_sqs_queue_url(c, q, url, sizeof url);
  c->out = json_object();
  json_object_set_new(c->out, "QueueUrl", json_string(url));
  rc = 0;
unlock:
  pthread_mutex_unlock(&c->sqs->mu);
done:
  json_decref(attrs);
  return rc;
}

int tw_sqs_get_queue_url(tw_sqs_call *c) {
  const char *name = tw_p_str(c->in, "QueueName");
  if (!name)
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                       "The request must contain the parameter QueueName.");
  const char *owner = tw_p_str(c->in, "QueueOwnerAWSAccountId");
  pthread_mutex_lock(&c->sqs->mu);
  tw_queue *q = tw_sqs_queue_by_name(c->sqs, name);
  if (owner && strcmp(owner, c->sqs->account)) q = NULL;
  if (q) {
    char url[1024];
    tw_sqs_queue_url(c, q, url, sizeof url);
    c->out = json_object();
    json_object_set_new(c->out, "QueueUrl", json_string(url));
  }
  pthread_mutex_unlock(&c->sqs->mu);
  if (!q) return tw_sqs_fail(c, TW_ERR_QUEUE_DOES_NOT_EXIST, "The specified queue does not exist.");
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Lists queue names (sorted here), paginated into key `key`. */
static int list_paged(tw_sqs_call *c, const char **names, size_t n, const char *key) {
  tw_sqs_page pg;
  if (tw_sqs_page_parse(c, &pg)) return -1;
  qsort(names, n, sizeof *names, cmp_str);
  tw_sqs_page_reply(c, &pg, names, n, c->sqs->account, key);
  return 0;
}

int tw_sqs_list_queues(tw_sqs_call *c) {
  const char *prefix = tw_p_str(c->in, "QueueNamePrefix");
  pthread_mutex_lock(&c->sqs->mu);
  size_t n = 0, cap = c->sqs->queues_by_name.count + 1;
  const char **names = malloc(cap * sizeof *names);
  for (tw_queue *q = c->sqs->queues_head; q; q = q->next)
    if (!prefix || !strncmp(q->name, prefix, strlen(prefix))) names[n++] = q->name;
  int rc = list_paged(c, names, n, "QueueUrls");
  pthread_mutex_unlock(&c->sqs->mu);
  free(names);
  return rc;
}

int tw_sqs_list_dead_letter_source_queues(tw_sqs_call *c) {
  pthread_mutex_lock(&c->sqs->mu);
  tw_queue *dlq = tw_sqs_resolve_queue(c);
  int rc = -1;
  if (dlq) {
    size_t n = 0;
    const char **names = malloc((c->sqs->queues_by_name.count + 1) * sizeof *names);
    for (tw_queue *q = c->sqs->queues_head; q; q = q->next)
      if (q->dlq_arn && !strcmp(q->dlq_arn, dlq->arn)) names[n++] = q->name;
    rc = list_paged(c, names, n, "queueUrls");
    free(names);
  }
  pthread_mutex_unlock(&c->sqs->mu);
  return rc;
}

int tw_sqs_delete_queue(tw_sqs_call *c) {
  pthread_mutex_lock(&c->sqs->mu);
  tw_queue *q = tw_sqs_resolve_queue(c);
  if (q) c->ticket = tw_sqs_queue_delete(c->sqs, q);
  pthread_mutex_unlock(&c->sqs->mu);
  if (!q) return -1;
  c->out = json_object();
  return 0;
}

static json_t *queue_attrs(tw_sqs *s, tw_queue *q) {
  tw_sqs_sweep(s, q, tw_now_ms());
  char *policy = q->policy ? json_dumps(q->policy, JSON_COMPACT) : NULL;
  tw_sqs_queue_view v = {.attrs = q->attrs,
                         .policy = policy,
                         .fifo = q->fifo,
                         .arn = q->arn,
                         .created = q->created,
                         .modified = q->modified,
                         .visible = q->n_visible,
                         .inflight = q->n_inflight,
                         .delayed = q->n_delayed};
  json_t *o = tw_sqs_queue_attrs_json(&v);
  free(policy);
  return o;
}

int tw_sqs_get_queue_attributes(tw_sqs_call *c) {
  json_t *names = json_object_get(c->in, "AttributeNames");
  if (tw_sqs_check_attribute_names(c, names)) return -1;
  pthread_mutex_lock(&c->sqs->mu);
  tw_queue *q = tw_sqs_resolve_queue(c);
  json_t *all = q ? queue_attrs(c->sqs, q) : NULL;
  pthread_mutex_unlock(&c->sqs->mu);
  if (!q) return -1;
  tw_sqs_attributes_reply(c, names, all);
  return 0;
}

int tw_sqs_set_queue_attributes(tw_sqs_call *c) {
  json_t *given = json_object_get(c->in, "Attributes");
  if (!given)
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                       "The request must contain the parameter Attributes.");
  json_t *attrs = tw_sqs_attrs_as_strings(c, given);
  if (!attrs) return -1;
  int rc = -1;
  pthread_mutex_lock(&c->sqs->mu);
  tw_queue *q = tw_sqs_resolve_queue(c);
  if (!q) goto unlock;
  const char *k;
  json_t *v;
  json_object_foreach(attrs, k,
                      v) if (check_attr(c, k, json_string_value(v), q->fifo, q, attrs)) goto unlock;
  if (check_redrive_allow(c, attrs, q->arn)) goto unlock;
  json_object_foreach(attrs, k, v) {
    if (!strcmp(k, "Policy")) {
      json_decref(q->policy);
      q->policy = *json_string_value(v) ? json_loads(json_string_value(v), 0, NULL) : NULL;
      continue;
    }
    if (!*json_string_value(v) && (!strcmp(k, "RedrivePolicy") || !strcmp(k, "RedriveAllowPolicy")))
      json_object_del(q->attrs, k);
    else
      json_object_set_new(q->attrs, k, tw_sqs_attr_normalized(k, v));
  }
  q->modified = (int64_t)time(NULL);
  tw_sqs_queue_apply_attrs(q);
  c->ticket = tw_sqs_queue_save(c->sqs, q);
  c->out = json_object();
  rc = 0;
unlock:
  pthread_mutex_unlock(&c->sqs->mu);
  json_decref(attrs);
  return rc;
}

int tw_sqs_purge_queue(tw_sqs_call *c) {
  pthread_mutex_lock(&c->sqs->mu);
  tw_queue *q = tw_sqs_resolve_queue(c);
  int rc = -1;
  if (q) {
    int64_t now = tw_now_ms();
    if (q->last_purge_ms && now - q->last_purge_ms < 60000) {
      tw_sqs_fail(c, TW_ERR_PURGE_IN_PROGRESS,
                  "Only one PurgeQueue operation on %s is allowed every 60 seconds.", q->name);
    } else {
      c->ticket = tw_sqs_queue_purge(c->sqs, q);
      rc = 0;
    }
  }
  pthread_mutex_unlock(&c->sqs->mu);
  if (!rc) c->out = json_object();
  return rc;
}

int tw_sqs_tag_queue(tw_sqs_call *c) {
  json_t *tags = json_object_get(c->in, "Tags");
  if (!json_is_object(tags) || !json_object_size(tags))
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER, "The request must contain the parameter Tags.");
  pthread_mutex_lock(&c->sqs->mu);
  tw_queue *q = tw_sqs_resolve_queue(c);
  int rc = -1;
  if (q) {
    json_t *merged = json_deep_copy(q->tags);
    json_object_update(merged, tags);
    if (json_object_size(merged) > 50) {
      tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE, "Too many tags added for queue %s.", q->name);
      json_decref(merged);
    } else {
      json_decref(q->tags);
      q->tags = merged;
      c->ticket = tw_sqs_queue_save(c->sqs, q);
      rc = 0;
    }
  }
  pthread_mutex_unlock(&c->sqs->mu);
  if (!rc) c->out = json_object();
  return rc;
}

int tw_sqs_untag_queue(tw_sqs_call *c) {
  json_t *keys = json_object_get(c->in, "TagKeys");
  if (!json_is_array(keys) || !json_array_size(keys))
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                       "The request must contain the parameter TagKeys.");
  pthread_mutex_lock(&c->sqs->mu);
  tw_queue *q = tw_sqs_resolve_queue(c);
  if (q) {
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) if (json_string_value(k))
        json_object_del(q->tags, json_string_value(k));
    c->ticket = tw_sqs_queue_save(c->sqs, q);
  }
  pthread_mutex_unlock(&c->sqs->mu);
  if (!q) return -1;
  c->out = json_object();
  return 0;
}

int tw_sqs_list_queue_tags(tw_sqs_call *c) {
  pthread_mutex_lock(&c->sqs->mu);
  tw_queue *q = tw_sqs_resolve_queue(c);
  json_t *tags = q ? json_deep_copy(q->tags) : NULL;
  pthread_mutex_unlock(&c->sqs->mu);
  if (!q) return -1;
  c->out = json_object();
  if (json_object_size(tags))
    json_object_set_new(c->out, "Tags", tags);
  else
    json_decref(tags);
  return 0;
}

int tw_sqs_add_permission(tw_sqs_call *c) {
  if (tw_sqs_permission_check(c)) return -1;
  const char *label = tw_p_str(c->in, "Label");
  pthread_mutex_lock(&c->sqs->mu);
  tw_queue *q = tw_sqs_resolve_queue(c);
  int rc = -1;
  if (q) {
    json_t *st = tw_sqs_policy_statements(&q->policy, q->arn);
    if (!tw_sqs_permission_label_free(c, st, label)) {
      json_array_append_new(st, tw_sqs_permission_statement(c, q->arn));
      c->ticket = tw_sqs_queue_save(c->sqs, q);
      rc = 0;
    }
  }
  pthread_mutex_unlock(&c->sqs->mu);
  if (!rc) c->out = json_object();
  return rc;
}

int tw_sqs_remove_permission(tw_sqs_call *c) {
  if (!tw_p_str(c->in, "Label"))
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                       "The request must contain the parameter Label.");
  pthread_mutex_lock(&c->sqs->mu);
  tw_queue *q = tw_sqs_resolve_queue(c);
  int rc = -1;
  if (q && !tw_sqs_permission_remove(c, &q->policy)) {
    c->ticket = tw_sqs_queue_save(c->sqs, q);
    rc = 0;
  }
  pthread_mutex_unlock(&c->sqs->mu);
  if (!rc) c->out = json_object();
  return rc;
}
