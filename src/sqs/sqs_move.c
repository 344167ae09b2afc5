/* Message move tasks: redrive a dead-letter queue back to its source queues or
 * to a destination, at a bounded rate, in the background. Plus the action table. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "sqs/params.h"
#include "sqs/sqs_actions.h"
#include "sqs/sqs_common.h"
#include "sqs/sqs_internal.h"
#include "store/space.h"

static const tw_sqs_action actions[] = {
#define TW_SQS_ROW(name, fn, flags) {#name, fn, flags},
    TW_SQS_ACTIONS(TW_SQS_ROW)
#undef TW_SQS_ROW
};

const tw_sqs_action *tw_sqs_find_action(const char *name) {
  for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
    if (!strcmp(actions[i].name, name)) return &actions[i];
  return NULL;
}

void tw_sqs_execute(tw_sqs_call *c) {
  /* read before anything is looked at: if it moves before the answer, a
   * failed commit may have undone what the call saw (sqs_http.c) */
  c->failures = tw_store_failures(c->sqs->store);
  if (atomic_load(&c->sqs->synced_failures) != c->failures) { /* reload first */
    pthread_mutex_lock(&c->sqs->mu);
    tw_sqs_resync_if_needed(c->sqs);
    pthread_mutex_unlock(&c->sqs->mu);
  }
  c->runs++;
  c->wants_wait = 0;
  const tw_sqs_action *a = tw_sqs_find_action(c->action);
  if (!a) {
    tw_sqs_fail(c, TW_ERR_INVALID_ACTION, "The action %s is not valid for this endpoint.",
                c->action);
    return;
  }
  if (!json_is_object(c->in)) {
    tw_sqs_fail(c, TW_ERR_MALFORMED_JSON, NULL);
    return;
  }
  /* A disk low on space takes no new messages, so that deletes and purges
   * still find room to commit (store/space.h). */
  if ((!strcmp(a->name, "SendMessage") || !strcmp(a->name, "SendMessageBatch") ||
       !strcmp(a->name, "TweedleDeleteAndSend")) &&
      tw_space_low()) {
    tw_sqs_fail(c, TW_ERR_SERVICE_UNAVAILABLE, NULL);
    return;
  }
  if (a->fn(c) != 0 && c->err == TW_ERR_OK) c->err = TW_ERR_INTERNAL;
  if (c->err != TW_ERR_OK && c->out) {
    json_decref(c->out);
    c->out = NULL;
  }
  /* Whatever the answer reports (a message already deleted, a deduplicated
   * send, a queue that exists, a missing queue) may be a change another request
   * just made in memory and the store has not committed yet. The answer waits
   * for everything appended so far: the state it saw is then on disk. Taken
   * after the handler ran, so every change it observed is already appended. */
  if (!c->wants_wait) c->seen_ticket = tw_store_ticket(c->sqs->store);
}

/* --- tasks ---------------------------------------------------------------- */

static json_t *task_json(const tw_move_task *t) {
  return tw_sqs_task_json(&TW_SQS_TASK_VIEW(t));
}

void tw_sqs_task_save(tw_sqs *s, const tw_move_task *t) {
  json_t *o = task_json(t);
  json_object_set_new(o, "MaxSeq", json_integer((json_int_t)t->max_seq));
  char *v = json_dumps(o, JSON_COMPACT);
  char key[128];
  snprintf(key, sizeof key, "movetask:%s", t->handle);
  tw_store_kv_put(s->store, key, v);
  free(v);
  json_decref(o);
}

static tw_move_task *task_add(tw_sqs *s) {
  if (s->ntasks == s->cap_tasks) {
    size_t n = s->cap_tasks ? s->cap_tasks * 2 : 8;
    tw_move_task *t = realloc(s->tasks, n * sizeof *t);
    if (!t) return NULL;
    s->tasks = t;
    s->cap_tasks = n;
  }
  tw_move_task *t = &s->tasks[s->ntasks++];
  memset(t, 0, sizeof *t);
  return t;
}

void tw_sqs_task_load(tw_sqs *s, const char *key, const char *value) {
  (void)key;
  json_t *o = json_loads(value, 0, NULL);
  if (!o) return;
  tw_move_task *t = task_add(s);
  if (t) {
    snprintf(t->handle, sizeof t->handle, "%s", tw_p_str(o, "TaskHandle") ?: "");
    snprintf(t->status, sizeof t->status, "%s", tw_p_str(o, "Status") ?: "FAILED");
    snprintf(t->source_arn, sizeof t->source_arn, "%s", tw_p_str(o, "SourceArn") ?: "");
    snprintf(t->dest_arn, sizeof t->dest_arn, "%s", tw_p_str(o, "DestinationArn") ?: "");
    snprintf(t->failure, sizeof t->failure, "%s", tw_p_str(o, "FailureReason") ?: "");
    t->rate = (int)json_integer_value(json_object_get(o, "MaxNumberOfMessagesPerSecond"));
    t->moved = json_integer_value(json_object_get(o, "ApproximateNumberOfMessagesMoved"));
    t->to_move = json_integer_value(json_object_get(o, "ApproximateNumberOfMessagesToMove"));
    t->started_ms = json_integer_value(json_object_get(o, "StartedTimestamp"));
    t->max_seq = (uint64_t)json_integer_value(json_object_get(o, "MaxSeq"));
    if (!strcmp(t->status, "CANCELLING")) snprintf(t->status, sizeof t->status, "CANCELLED");
  }
  json_decref(o);
}

static int is_active(const tw_move_task *t) {
  return !strcmp(t->status, "RUNNING") || !strcmp(t->status, "CANCELLING");
}

static void task_finish(tw_sqs *s, tw_move_task *t, const char *status, const char *why) {
  snprintf(t->status, sizeof t->status, "%s", status);
  if (why) snprintf(t->failure, sizeof t->failure, "%s", why);
  tw_sqs_task_save(s, t);
}

/* Oldest message of q with seq <= max_seq that is not in flight. */
static tw_msg *next_to_move(tw_queue *q, uint64_t max_seq) {
  tw_msg *best = NULL;
  if (!q->fifo) {
    for (tw_msg *m = q->ready_head; m; m = m->next)
      if (m->seq <= max_seq && (!best || m->seq < best->seq)) best = m;
    for (size_t i = 0; i < q->heap_len; i++) {
      tw_msg *m = q->heap[i];
      if (m->state == MSG_DELAYED && m->seq <= max_seq && (!best || m->seq < best->seq)) best = m;
    }
    return best;
  }
  for (tw_group *g = q->groups_head; g; g = g->next)
    for (tw_msg *m = g->head; m; m = m->next)
      if (m->state != MSG_INFLIGHT && m->seq <= max_seq && (!best || m->seq < best->seq)) best = m;
  return best;
}

void tw_sqs_move_tasks_tick(tw_sqs *s, int64_t now_ms, double dt) {
  (void)now_ms;
  for (size_t i = 0; i < s->ntasks; i++) {
    tw_move_task *t = &s->tasks[i];
    if (!is_active(t)) continue;
    if (!strcmp(t->status, "CANCELLING")) {
      task_finish(s, t, "CANCELLED", NULL);
      continue;
    }
    tw_queue *src = tw_sqs_queue_by_arn(s, t->source_arn);
    if (!src) {
      task_finish(s, t, "FAILED", "AWS.SimpleQueueService.NonExistentQueue");
      continue;
    }
    int limit = t->rate > 0 ? 0 : 500;
    if (t->rate > 0) {
      t->budget += t->rate * dt;
      if (t->budget > t->rate) t->budget = t->rate;
      limit = (int)t->budget;
    }
    int moved = 0;
    while (moved < limit) {
      tw_msg *m = next_to_move(src, t->max_seq);
      if (!m) break;
      tw_queue *dst = NULL;
      if (t->dest_arn[0]) {
        dst = tw_sqs_queue_by_arn(s, t->dest_arn);
      } else { /* back to its source: the dead-letter source is in the message's data */
        tw_msg_data *d = NULL;
        tw_sqs_fetch(s, &m, 1, &d);
        if (d && d->source_arn) dst = tw_sqs_queue_by_arn(s, d->source_arn);
        tw_sqs_fetch_done(s, &d, 1);
      }
      if (!dst) {
        task_finish(s, t, "FAILED", "AWS.SimpleQueueService.NonExistentQueue");
        break;
      }
      tw_sqs_msg_move(s, m, dst, NULL);
      moved++;
    }
    if (!is_active(t)) continue;
    if (t->rate > 0) t->budget -= moved;
    t->moved += moved;
    if (!next_to_move(src, t->max_seq))
      task_finish(s, t, "COMPLETED", NULL);
    else if (moved)
      tw_sqs_task_save(s, t);
  }
}

static int is_dlq(tw_sqs *s, tw_queue *q) {
  for (tw_queue *x = s->queues_head; x; x = x->next)
    if (x->dlq_arn && !strcmp(x->dlq_arn, q->arn)) return 1;
  return 0;
}

int tw_sqs_start_message_move_task(tw_sqs_call *c) {
  const char *src, *dst;
  long long rate;
  if (tw_sqs_move_start_params(c, &src, &dst, &rate)) return -1;
  tw_sqs *s = c->sqs;
  int rc = -1;
  pthread_mutex_lock(&s->mu);
  tw_queue *q = tw_sqs_queue_by_arn(s, src);
  tw_queue *d = dst ? tw_sqs_queue_by_arn(s, dst) : NULL;
  if (!q) {
    tw_sqs_move_fail(c, TW_MOVE_NO_SOURCE);
  } else if (dst && !d) {
    tw_sqs_move_fail(c, TW_MOVE_NO_DESTINATION);
  } else if (!is_dlq(s, q)) {
    tw_sqs_move_fail(c, TW_MOVE_NOT_DLQ);
  } else {
    int busy = 0;
    for (size_t i = 0; i < s->ntasks; i++)
      if (is_active(&s->tasks[i]) && !strcmp(s->tasks[i].source_arn, src)) busy = 1;
    if (busy) {
      tw_sqs_move_fail(c, TW_MOVE_BUSY);
    } else {
      tw_move_task *t = task_add(s);
      tw_sqs_move_handle(src, t->handle);
      snprintf(t->source_arn, sizeof t->source_arn, "%s", src);
      snprintf(t->dest_arn, sizeof t->dest_arn, "%s", dst ? dst : "");
      snprintf(t->status, sizeof t->status, "RUNNING");
      t->rate = (int)rate;
      t->started_ms = tw_now_ms();
      t->max_seq = s->next_seq;
      t->to_move = q->n_visible + q->n_delayed + q->n_inflight;
      tw_sqs_task_save(s, t);
      c->ticket = tw_store_ticket(s->store);
      c->out = json_object();
      json_object_set_new(c->out, "TaskHandle", json_string(t->handle));
      rc = 0;
    }
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int tw_sqs_cancel_message_move_task(tw_sqs_call *c) {
  const char *h = tw_sqs_move_cancel_param(c);
  if (!h) return -1;
  tw_sqs *s = c->sqs;
  int rc = -1;
  pthread_mutex_lock(&s->mu);
  tw_move_task *t = NULL;
  for (size_t i = 0; i < s->ntasks; i++)
    if (!strcmp(s->tasks[i].handle, h)) t = &s->tasks[i];
  if (!t) {
    tw_sqs_move_fail(c, TW_MOVE_BAD_HANDLE);
  } else if (strcmp(t->status, "RUNNING")) {
    tw_sqs_move_fail(c, TW_MOVE_NOT_RUNNING);
  } else {
    snprintf(t->status, sizeof t->status, "CANCELLING");
    tw_sqs_task_save(s, t);
    c->ticket = tw_store_ticket(s->store);
    c->out = json_object();
    json_object_set_new(c->out, "ApproximateNumberOfMessagesMoved", json_integer(t->moved));
    rc = 0;
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int tw_sqs_list_message_move_tasks(tw_sqs_call *c) {
  const char *src;
  long long max;
  if (tw_sqs_move_list_params(c, &src, &max)) return -1;
  tw_sqs *s = c->sqs;
  pthread_mutex_lock(&s->mu);
  tw_queue *q = tw_sqs_queue_by_arn(s, src);
  int rc = -1;
  if (!q) {
    tw_sqs_move_fail(c, TW_MOVE_NO_SOURCE);
  } else {
    json_t *res = json_array();
    for (size_t i = s->ntasks; i-- > 0 && (long long)json_array_size(res) < max;) {
      tw_move_task *t = &s->tasks[i];
      if (strcmp(t->source_arn, src)) continue;
      json_t *o = task_json(t);
      if (strcmp(t->status, "RUNNING")) json_object_del(o, "TaskHandle");
      json_array_append_new(res, o);
    }
    c->out = json_object();
    json_object_set_new(c->out, "Results", res);
    rc = 0;
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}
