/* The queue engine of cluster mode: SQS actions on PostgreSQL (sqs_pg.h).
 * Validation is the embedded engine's (params.c, tw_sqs_send_parse); replies
 * have the same shape; state lives only in the store (store/pg_sqs.h), so
 * every node answers every request. Receipt handles have the embedded
 * format (seq, nonce, queue id, HMAC) signed with the cluster's secret, kept
 * in PostgreSQL: any node verifies them, and as seq comes from a sequence and
 * the nonce changes on every receive, none is ever given out twice.
 * This file: dispatch, long polls, open/close; the actions are in
 * sqs_pg_queue.c and sqs_pg_message.c, what they share with the embedded
 * engine in sqs_common.c. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "sqs/params.h"
#include "sqs/sqs_internal.h"
#include "sqs/sqs_pg_internal.h"

uint64_t tw_pgq_gen(tw_sqs_pg *p, int64_t qid) {
  pthread_mutex_lock(&p->mu);
  uint64_t g = p->gen[(uint64_t)qid % GEN_BUCKETS];
  pthread_mutex_unlock(&p->mu);
  return g;
}

/* --- dispatch --------------------------------------------------------------------- */

static const struct {
  const char *name;
  int (*fn)(tw_sqs_pg *p, tw_sqs_call *c);
} actions[] = {
    {"CreateQueue", tw_sqs_pg_create_queue},
    {"GetQueueUrl", tw_sqs_pg_get_queue_url},
    {"ListQueues", tw_sqs_pg_list_queues},
    {"DeleteQueue", tw_sqs_pg_delete_queue},
    {"GetQueueAttributes", tw_sqs_pg_get_queue_attributes},
    {"SetQueueAttributes", tw_sqs_pg_set_queue_attributes},
    {"PurgeQueue", tw_sqs_pg_purge_queue},
    {"TagQueue", tw_sqs_pg_tag_queue},
    {"UntagQueue", tw_sqs_pg_untag_queue},
    {"ListQueueTags", tw_sqs_pg_list_queue_tags},
    {"SendMessage", tw_sqs_pg_send_message},
    {"SendMessageBatch", tw_sqs_pg_send_message_batch},
    {"ReceiveMessage", tw_sqs_pg_receive_message},
    {"DeleteMessage", tw_sqs_pg_delete_message},
    {"DeleteMessageBatch", tw_sqs_pg_delete_message_batch},
    {"ChangeMessageVisibility", tw_sqs_pg_change_message_visibility},
    {"ChangeMessageVisibilityBatch", tw_sqs_pg_change_message_visibility_batch},
    {"AddPermission", tw_sqs_pg_add_permission},
    {"RemovePermission", tw_sqs_pg_remove_permission},
    {"ListDeadLetterSourceQueues", tw_sqs_pg_list_dead_letter_source_queues},
    {"StartMessageMoveTask", tw_sqs_pg_start_message_move_task},
    {"CancelMessageMoveTask", tw_sqs_pg_cancel_message_move_task},
    {"ListMessageMoveTasks", tw_sqs_pg_list_message_move_tasks},
    {"TweedleDeleteAndSend", tw_sqs_pg_delete_and_send},
};

void tw_sqs_pg_execute(tw_sqs_pg *p, tw_sqs_call *c) {
  c->runs++;
  c->wants_wait = 0;
  if (!tw_sqs_find_action(c->action)) {
    tw_sqs_fail(c, TW_ERR_INVALID_ACTION, "The action %s is not valid for this endpoint.",
                c->action);
    return;
  }
  if (!json_is_object(c->in)) {
    tw_sqs_fail(c, TW_ERR_MALFORMED_JSON, NULL);
    return;
  }
  int (*fn)(tw_sqs_pg *, tw_sqs_call *) = NULL;
  for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
    if (!strcmp(actions[i].name, c->action)) fn = actions[i].fn;
  if (!fn) { /* a missing queue first, as the embedded engine answers */
    pq q;
    if (tw_p_str(c->in, "QueueUrl") && tw_pgq_resolve(p, c, &q)) return;
    if (tw_p_str(c->in, "QueueUrl")) tw_pgq_free(&q);
    tw_pgq_not_yet(c, c->action);
    return;
  }
  if (fn(p, c) != 0 && c->err == TW_ERR_OK) c->err = TW_ERR_INTERNAL;
  if (c->err != TW_ERR_OK && c->out) {
    json_decref(c->out);
    c->out = NULL;
  }
}

/* --- long polling ------------------------------------------------------------------- */

static void unlink_waiter(tw_sqs_pg *p, tw_sqs_waiter *w) {
  if (w->prev)
    w->prev->next = w->next;
  else
    p->head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    p->tail = w->prev;
  w->prev = w->next = NULL;
  w->parked = 0;
}

int tw_sqs_pg_park(tw_sqs_pg *p, const tw_sqs_call *c, tw_sqs_waiter *w) {
  pthread_mutex_lock(&p->mu);
  int rc = -1;
  if (!p->stop && tw_mono_ms() < c->deadline_mono_ms &&
      p->gen[(uint64_t)c->wait_queue_id % GEN_BUCKETS] == c->wake_gen) {
    w->queue_id = c->wait_queue_id;
    w->deadline_mono_ms = c->deadline_mono_ms;
    w->next = NULL;
    w->prev = p->tail;
    if (p->tail)
      p->tail->next = w;
    else
      p->head = w;
    p->tail = w;
    w->parked = 1;
    rc = 0;
  }
  pthread_mutex_unlock(&p->mu);
  return rc;
}

void tw_sqs_pg_unpark(tw_sqs_pg *p, tw_sqs_waiter *w) {
  pthread_mutex_lock(&p->mu);
  if (w->parked) unlink_waiter(p, w);
  pthread_mutex_unlock(&p->mu);
}

/* Wakes up to n waiters of queue qid (0: every waiter). Lock held. */
static void wake(tw_sqs_pg *p, int64_t qid, int n) {
  for (tw_sqs_waiter *w = p->head; w && (qid == 0 || n > 0);) {
    tw_sqs_waiter *next = w->next;
    if (qid == 0 || w->queue_id == qid) {
      unlink_waiter(p, w);
      w->wake(w);
      n--;
    }
    w = next;
  }
}

static void on_notify(void *ud, int64_t qid, int n) {
  tw_sqs_pg *p = ud;
  pthread_mutex_lock(&p->mu);
  if (qid == 0)
    for (int i = 0; i < GEN_BUCKETS; i++) p->gen[i]++;
  else
    p->gen[(uint64_t)qid % GEN_BUCKETS]++;
  wake(p, qid, n);
  pthread_mutex_unlock(&p->mu);
}

#define CHECK_MAX 1000 /* queues with parked receives looked at per check */

/* Wakes the receives parked on queue qid and makes any about to park look
 * again. Lock held. */
static void wake_queue(tw_sqs_pg *p, int64_t qid) {
  p->gen[(uint64_t)qid % GEN_BUCKETS]++;
  wake(p, qid, INT32_MAX);
}

/* Deadlines; and every repoll period one query for the queues with parked
 * receives: those where a message became visible without a send (a delay or
 * a visibility timeout ran out) since the last look are woken. If the query
 * fails, every parked receive looks for itself. */
static void on_idle(void *ud) {
  tw_sqs_pg *p = ud;
  int64_t now = tw_mono_ms();
  int64_t qids[CHECK_MAX];
  int nq = 0;
  pthread_mutex_lock(&p->mu);
  int check = now - p->last_repoll_ms >= p->repoll_ms;
  if (check) p->last_repoll_ms = now;
  for (tw_sqs_waiter *w = p->head; w;) {
    tw_sqs_waiter *next = w->next;
    if (w->deadline_mono_ms <= now) {
      unlink_waiter(p, w);
      w->wake(w);
    } else if (check) {
      int seen = 0;
      for (int i = 0; i < nq && !seen; i++) seen = qids[i] == w->queue_id;
      if (!seen && nq < CHECK_MAX) qids[nq++] = w->queue_id;
    }
    w = next;
  }
  /* one period of overlap: a receive that looked just before the message
   * became visible and parked just after the last look is not in that look */
  int64_t from = p->last_check_ms ? p->last_check_ms - p->repoll_ms : 0;
  pthread_mutex_unlock(&p->mu);
  if (!check) return;
  int64_t to = tw_now_ms();
  if (!from) from = to - 2 * (int64_t)p->repoll_ms;
  int64_t *due = NULL;
  int ndue = 0;
  int rc = nq ? tw_pg_queues_becoming_visible(p->pg, qids, nq, from, to, &due, &ndue) : 0;
  pthread_mutex_lock(&p->mu);
  p->last_check_ms = to;
  if (rc) {
    wake(p, 0, 0);
  } else {
    for (int i = 0; i < ndue; i++) wake_queue(p, due[i]);
  }
  pthread_mutex_unlock(&p->mu);
  free(due);
}

tw_sqs_pg *tw_sqs_pg_open(const char *url, const char *region, const char *account, int pool,
                          char *err, size_t errlen) {
  tw_sqs_pg *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  pthread_mutex_init(&p->mu, NULL);
  pthread_mutex_init(&p->inflight_mu, NULL);
  pthread_mutex_init(&p->metrics_mu, NULL);
  tw_map_init(&p->metrics);
  snprintf(p->region, sizeof p->region, "%s", region);
  snprintf(p->account, sizeof p->account, "%s", account);
  /* AWS's; TWEEDLE_MAX_INFLIGHT lowers it (tests), as for the embedded engine */
  const char *mi = getenv("TWEEDLE_MAX_INFLIGHT");
  p->max_inflight = mi && atoi(mi) > 0 ? atoi(mi) : 120000;
  p->pg = tw_pg_open(url, pool, err, errlen);
  if (!p->pg || tw_pg_secret(p->pg, p->secret)) {
    if (p->pg) snprintf(err, errlen, "cannot read the receipt secret from PostgreSQL");
    tw_sqs_pg_close(p);
    return NULL;
  }
  return p;
}

int tw_sqs_pg_start(tw_sqs_pg *p) {
  p->last_repoll_ms = tw_mono_ms();
  /* tests set it high to show that a send's notification alone wakes a poll */
  const char *e = getenv("TWEEDLE_PG_REPOLL_MS");
  p->repoll_ms = e && atoi(e) > 0 ? atoi(e) : REPOLL_MS;
  /* retention deletes, expired dedup ids: once across the cluster */
  const char *sw = getenv("TWEEDLE_PG_SWEEP_MS");
  if (tw_pg_bg_start(p->pg, sw && atoi(sw) > 0 ? atoi(sw) : SWEEP_MS)) return -1;
  return tw_pg_listen_start(p->pg, on_notify, on_idle, p);
}

void tw_sqs_pg_stop(tw_sqs_pg *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  wake(p, 0, 0);
  pthread_mutex_unlock(&p->mu);
}

void tw_sqs_pg_close(tw_sqs_pg *p) {
  if (!p) return;
  tw_pg_bg_stop(p->pg);
  tw_pg_close(p->pg);
  pthread_mutex_destroy(&p->mu);
  pthread_mutex_destroy(&p->inflight_mu);
  tw_pgq_metrics_free(p);
  pthread_mutex_destroy(&p->metrics_mu);
  free(p);
}
