/* The queue engine: queues and messages in memory, every change logged to the
 * store under the same lock; receiving, receipt handles, loading at start-up.
 * Parked long polls and the ticker (visibility, delays, retention, long-poll
 * deadlines, message move tasks) are in engine_ticker.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "events/bus.h"
#include "sqs/sqs_common.h"
#include "sqs/sqs_internal.h"

/* --- small helpers --------------------------------------------------------- */

int tw_sqs_fail(tw_sqs_call *c, tw_err e, const char *fmt, ...) {
  c->err = e;
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
  } else {
    c->msg[0] = 0;
  }
  return -1;
}

static char *xstrdup(const char *s) {
  return s ? strdup(s) : NULL;
}

static const char *jstr(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

/* --- the heap of not-yet-visible messages ---------------------------------- */

static int heap_less(const tw_msg *a, const tw_msg *b) {
  if (a->visible_at_ms != b->visible_at_ms) return a->visible_at_ms < b->visible_at_ms;
  return a->seq < b->seq;
}

static void heap_set(tw_queue *q, size_t i, tw_msg *m) {
  q->heap[i] = m;
  m->heap_idx = (unsigned)i & TW_HEAP_NONE;
}

static void heap_up(tw_queue *q, size_t i) {
  tw_msg *m = q->heap[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!heap_less(m, q->heap[p])) break;
    heap_set(q, i, q->heap[p]);
    i = p;
  }
  heap_set(q, i, m);
}

static void heap_down(tw_queue *q, size_t i) {
  tw_msg *m = q->heap[i];
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, best = i;
    const tw_msg *bm = m;
    if (l < q->heap_len && heap_less(q->heap[l], bm)) best = l, bm = q->heap[l];
    if (r < q->heap_len && heap_less(q->heap[r], bm)) best = r;
    if (best == i) break;
    heap_set(q, i, q->heap[best]);
    i = best;
  }
  heap_set(q, i, m);
}

static void heap_push(tw_queue *q, tw_msg *m) {
  if (q->heap_len == q->heap_cap) {
    size_t n = q->heap_cap ? q->heap_cap * 2 : 64;
    tw_msg **h = realloc(q->heap, n * sizeof *h);
    if (!h) abort(); /* out of memory in the middle of a state change */
    q->heap = h;
    q->heap_cap = n;
  }
  heap_set(q, q->heap_len++, m);
  heap_up(q, m->heap_idx);
}

static void heap_remove(tw_queue *q, tw_msg *m) {
  size_t i = m->heap_idx;
  if (i == TW_HEAP_NONE) return;
  m->heap_idx = TW_HEAP_NONE;
  q->heap_len--;
  if (i == q->heap_len) return;
  heap_set(q, i, q->heap[q->heap_len]);
  heap_down(q, i);
  heap_up(q, q->heap[i]->heap_idx);
}

/* --- lists ----------------------------------------------------------------- */

static void ready_append(tw_queue *q, tw_msg *m) {
  m->next = NULL;
  m->prev = q->ready_tail;
  if (q->ready_tail)
    q->ready_tail->next = m;
  else
    q->ready_head = m;
  q->ready_tail = m;
}

static void ready_remove(tw_queue *q, tw_msg *m) {
  if (m->prev)
    m->prev->next = m->next;
  else
    q->ready_head = m->next;
  if (m->next)
    m->next->prev = m->prev;
  else
    q->ready_tail = m->prev;
  m->prev = m->next = NULL;
}

static tw_group *group_get(tw_queue *q, const char *id, int create) {
  tw_group *g = tw_map_get(&q->groups, id);
  if (g || !create) return g;
  g = calloc(1, sizeof *g);
  g->id = strdup(id);
  g->queue = q;
  tw_map_put(&q->groups, id, g);
  g->prev = q->groups_tail;
  if (q->groups_tail)
    q->groups_tail->next = g;
  else
    q->groups_head = g;
  q->groups_tail = g;
  return g;
}

static void group_drop_if_empty(tw_queue *q, tw_group *g) {
  if (g->head) return;
  tw_map_del(&q->groups, g->id);
  if (g->prev)
    g->prev->next = g->next;
  else
    q->groups_head = g->next;
  if (g->next)
    g->next->prev = g->prev;
  else
    q->groups_tail = g->prev;
  free(g->id);
  free(g);
}

/* Inserts into the group's list in seq order (usually at the tail). */
static void group_insert(tw_group *g, tw_msg *m) {
  tw_msg *after = g->tail;
  while (after && after->seq > m->seq) after = after->prev;
  m->prev = after;
  m->next = after ? after->next : g->head;
  if (m->next)
    m->next->prev = m;
  else
    g->tail = m;
  if (after)
    after->next = m;
  else
    g->head = m;
  m->owner = (uintptr_t)g | 1;
}

static void group_unlink(tw_group *g, tw_msg *m) {
  if (m->prev)
    m->prev->next = m->next;
  else
    g->head = m->next;
  if (m->next)
    m->next->prev = m->prev;
  else
    g->tail = m->prev;
  m->prev = m->next = NULL;
}

/* --- message state --------------------------------------------------------- */

static void count_state(tw_queue *q, int state, int d) {
  if (state == MSG_VISIBLE)
    q->n_visible += d;
  else if (state == MSG_INFLIGHT)
    q->n_inflight += d;
  else
    q->n_delayed += d;
}

/* Takes a message out of whatever structure its state puts it in. */
static void detach(tw_queue *q, tw_msg *m) {
  heap_remove(q, m);
  if (q->fifo) {
    if (m->state == MSG_INFLIGHT && tw_msg_group(m)) tw_msg_group(m)->inflight--;
  } else if (m->state == MSG_VISIBLE) {
    ready_remove(q, m);
  }
  count_state(q, m->state, -1);
}

/* Puts a message in the structure for `state`. For FIFO it stays in its group. */
static void attach(tw_queue *q, tw_msg *m, int state) {
  m->state = state;
  if (m->sent_ms < q->min_sent_ms) q->min_sent_ms = m->sent_ms;
  count_state(q, state, +1);
  if (state == MSG_VISIBLE) {
    if (!q->fifo) ready_append(q, m);
  } else {
    heap_push(q, m);
    if (q->fifo && state == MSG_INFLIGHT) tw_msg_group(m)->inflight++;
  }
}

static void msg_free(tw_sqs *s, tw_msg *m) {
  tw_msg_slab_put(&s->slab, m);
}

tw_msg *tw_sqs_msg_new(tw_sqs *s, tw_queue *q) {
  tw_msg *m = tw_msg_slab_get(&s->slab);
  if (!m) return NULL;
  m->heap_idx = TW_HEAP_NONE;
  m->owner = (uintptr_t)q;
  return m;
}

/* The row of m; d: its data (NULL for a move, which changes no data column
 * but source_arn and seqno, passed by the caller). */
static void fill_row(const tw_msg *m, const tw_msg_data *d, tw_msg_row *r, char **attrs, char **sys,
                     char id[37]) {
  memset(r, 0, sizeof *r);
  *attrs = d && d->attrs ? json_dumps(d->attrs, JSON_COMPACT) : NULL;
  *sys = d && d->sys_attrs ? json_dumps(d->sys_attrs, JSON_COMPACT) : NULL;
  tw_msg_id_str(m, id);
  r->seq = m->seq;
  r->queue_id = tw_msg_queue(m)->id;
  r->msg_id = id;
  r->attrs_json = *attrs;
  r->sys_json = *sys;
  r->sent_ms = m->sent_ms;
  r->visible_at_ms = m->visible_at_ms;
  r->first_receive_ms = tw_msg_first_receive(m);
  r->receive_count = (int)m->receive_count;
  r->nonce = m->nonce;
  if (d) {
    r->body = d->body;
    r->body_len = d->body_len;
    r->group_id = d->group_id;
    r->dedup_id = d->dedup_id;
    r->sender_id = d->sender_id;
    r->source_arn = d->source_arn;
    r->seqno = d->seqno;
  }
}

/* Adds a filled-in message (seq assigned here when 0) to its queue. */
/* Sequence numbers are handed out in blocks whose end is saved before any
 * number of the block is: a restart continues after the block, so a number —
 * and with it a receipt handle — is never given twice, even when the message
 * that had it is gone. */
#define SEQ_BLOCK 65536

static void seq_next(tw_sqs *s, tw_msg *m) {
  m->seq = ++s->next_seq;
  if (m->seq <= s->seq_reserved) return;
  s->seq_reserved = m->seq + SEQ_BLOCK;
  char v[32];
  snprintf(v, sizeof v, "%" PRIu64, s->seq_reserved);
  tw_store_kv_put(s->store, "max_seq", v); /* appended first: same or earlier batch */
}

uint64_t tw_sqs_msg_add(tw_sqs *s, tw_queue *q, tw_msg *m, tw_msg_data *d, int persist) {
  if (!m->seq) seq_next(s, m);
  if (m->seq > s->next_seq) s->next_seq = m->seq;
  m->owner = (uintptr_t)q;
  tw_msg_table_put(&s->msgs, m);
  if (q->fifo) {
    tw_group *g = group_get(q, d && d->group_id ? d->group_id : "", 1);
    group_insert(g, m);
  }
  int64_t now = tw_now_ms();
  int state =
      m->visible_at_ms > now ? (m->receive_count > 0 ? MSG_INFLIGHT : MSG_DELAYED) : MSG_VISIBLE;
  attach(q, m, state);
  if (!persist) return 0;
  tw_sqs_metrics_sent(q, d->body_len);
  tw_msg_row r;
  char *a, *sy, id[37];
  d->seq = m->seq;
  fill_row(m, d, &r, &a, &sy, id);
  memcpy(d->id, id, sizeof d->id);
  uint64_t t = tw_store_msg_insert(s->store, &r);
  free(a);
  free(sy);
  /* until the insert commits, the data is only here */
  tw_sqs_cache_put(s, d, t);
  if (state == MSG_VISIBLE) tw_sqs_wake(s, q, 1);
  return t;
}

uint64_t tw_sqs_msg_delete(tw_sqs *s, tw_msg *m) {
  tw_queue *q = tw_msg_queue(m);
  detach(q, m);
  if (q->fifo && tw_msg_group(m)) {
    tw_group *g = tw_msg_group(m);
    int was_head = g->head == m;
    group_unlink(g, m);
    m->owner = (uintptr_t)q;
    group_drop_if_empty(q, g);
    if (was_head) tw_sqs_wake(s, q, 1);
  }
  tw_msg_table_del(&s->msgs, m);
  uint64_t t = tw_store_msg_delete(s->store, m->seq);
  tw_sqs_cache_drop(s, m->seq);
  msg_free(s, m);
  return t;
}

uint64_t tw_sqs_msg_set_visibility(tw_sqs *s, tw_msg *m, int64_t visible_at_ms) {
  tw_queue *q = tw_msg_queue(m);
  detach(q, m);
  m->visible_at_ms = visible_at_ms;
  int64_t now = tw_now_ms();
  attach(q, m, visible_at_ms > now ? MSG_INFLIGHT : MSG_VISIBLE);
  if (m->state == MSG_VISIBLE) tw_sqs_wake(s, q, 1);
  return tw_store_msg_update(s->store, m->seq, m->visible_at_ms, (int)m->receive_count,
                             tw_msg_first_receive(m), m->nonce);
}

/* Moves a message to another queue: dead-lettering and move tasks. The row
 * is updated in place (queue, times, source, SequenceNumber); the data, read
 * first, is changed the same way and pinned in the cache until the move
 * commits, so a receive from the new queue never reads the old row. */
uint64_t tw_sqs_msg_move(tw_sqs *s, tw_msg *m, tw_queue *to, const char *source_arn) {
  tw_queue *from = tw_msg_queue(m);
  tw_msg_data *d = NULL;
  tw_sqs_fetch(s, &m, 1, &d);
  if (!d) tw_warn("sqs: moving message %llu: its row is gone", (unsigned long long)m->seq);
  char group_buf[130] = "";
  const char *gid = d && d->group_id ? d->group_id : "";
  detach(from, m);
  if (from->fifo && tw_msg_group(m)) {
    tw_group *g = tw_msg_group(m);
    snprintf(group_buf, sizeof group_buf, "%s", g->id);
    gid = group_buf;
    group_unlink(g, m);
    m->owner = (uintptr_t)from;
    group_drop_if_empty(from, g);
  }
  uint64_t seqno = d ? d->seqno : 0;
  m->receive_count = 0;
  m->first_rel = 0;
  m->received_rel = 0;
  m->nonce++;
  int64_t now = tw_now_ms();
  m->visible_at_ms = now;
  if (to->fifo) seqno = ++to->fifo_seqno;
  /* A message keeps its SentTimestamp in a standard DLQ; a FIFO DLQ restarts it. */
  if (to->fifo) m->sent_ms = now;
  m->owner = (uintptr_t)to;
  if (to->fifo) group_insert(group_get(to, gid, 1), m);
  attach(to, m, MSG_VISIBLE);
  tw_msg_row r;
  char *a, *sy, id[37];
  fill_row(m, NULL, &r, &a, &sy, id);
  r.source_arn = source_arn;
  r.seqno = seqno;
  uint64_t t = tw_store_msg_move(s->store, &r);
  if (d) {
    free(d->source_arn);
    d->source_arn = xstrdup(source_arn);
    d->seqno = seqno;
    if (to->fifo && !d->group_id) d->group_id = strdup(gid);
    tw_sqs_cache_put(s, d, t);
  }
  tw_sqs_fetch_done(s, &d, 1);
  if (to->fifo) tw_sqs_queue_save(s, to);
  tw_sqs_wake(s, to, 1);
  return t;
}

/* Moves messages whose time has come from the heap to visible. */
void tw_sqs_sweep(tw_sqs *s, tw_queue *q, int64_t now_ms) {
  int woke = 0;
  while (q->heap_len && q->heap[0]->visible_at_ms <= now_ms) {
    tw_msg *m = q->heap[0];
    detach(q, m);
    attach(q, m, MSG_VISIBLE);
    woke++;
  }
  if (woke) tw_sqs_wake(s, q, woke);
}

/* --- receipt handles -------------------------------------------------------- */

void tw_sqs_receipt(tw_sqs *s, const tw_msg *m, char out[80]) {
  tw_sqs_receipt_make(s->secret, m->seq, m->nonce, tw_msg_queue(m)->id, out);
}

/* --- receiving --------------------------------------------------------------- */

static int redrive_if_due(tw_sqs *s, tw_queue *q, tw_msg *m, uint64_t *ticket) {
  if (!q->dlq_arn || q->max_receive_count <= 0 || (int)m->receive_count < q->max_receive_count)
    return 0;
  tw_queue *dlq = tw_sqs_queue_by_arn(s, q->dlq_arn);
  if (!dlq || dlq == q) return 0;
  /* one transaction: the move and whatever the hook records about it */
  tw_store_hold(s->store);
  uint64_t t = tw_sqs_msg_move(s, m, dlq, q->arn);
  if (s->events) {
    tw_msg_data *d = NULL;
    tw_sqs_fetch(s, &m, 1, &d); /* pinned by the move: in the cache */
    char id[37];
    tw_msg_id_str(m, id);
    tw_event e = {.source = "aws.sqs",
                  .type = "MessageDeadLettered",
                  .resource = q->arn,
                  .subject = id,
                  .attributes = d ? d->attrs : NULL,
                  .body = "",
                  .len = 0};
    tw_event_publish(s->events, &e);
    tw_sqs_fetch_done(s, &d, 1);
  }
  uint64_t t2 = tw_store_ticket(s->store);
  tw_store_release(s->store);
  if (t2 > t) t = t2;
  if (t > *ticket) *ticket = t;
  return 1;
}

static int expire_if_old(tw_sqs *s, tw_queue *q, tw_msg *m, int64_t now, uint64_t *ticket) {
  if (m->sent_ms + q->retention * 1000 > now) return 0;
  uint64_t t = tw_sqs_msg_delete(s, m);
  if (t > *ticket) *ticket = t;
  return 1;
}

static void mark_received(tw_sqs *s, tw_queue *q, tw_msg *m, int vis, int64_t now,
                          uint64_t *ticket) {
  detach(q, m);
  m->receive_count++;
  if (!m->first_rel) m->first_rel = tw_msg_rel(m, now);
  m->nonce++;
  m->received_rel = tw_msg_rel(m, now);
  m->visible_at_ms = now + (int64_t)vis * 1000;
  /* Visibility 0 still counts as a receive; the message is visible again at once. */
  attach(q, m, vis > 0 ? MSG_INFLIGHT : MSG_VISIBLE);
  uint64_t t = tw_store_msg_update(s->store, m->seq, m->visible_at_ms, (int)m->receive_count,
                                   tw_msg_first_receive(m), m->nonce);
  if (t > *ticket) *ticket = t;
}

int tw_sqs_receive(tw_sqs *s, tw_queue *q, int max, int vis, int64_t now, tw_msg **out,
                   uint64_t *ticket) {
  int n = 0;
  tw_sqs_sweep(s, q, now);
  if (!q->fifo) {
    /* A visibility of 0 re-appends a message at the tail: stop at the old tail so
     * none is handed out twice. */
    tw_msg *m = q->ready_head, *last = q->ready_tail;
    while (m && n < max) {
      tw_msg *next = m == last ? NULL : m->next;
      if (expire_if_old(s, q, m, now, ticket) || redrive_if_due(s, q, m, ticket)) {
        m = next;
        continue;
      }
      mark_received(s, q, m, vis, now, ticket);
      out[n++] = m;
      m = next;
    }
    return n;
  }
  /* FIFO: whole groups in order; a group with a message in flight is blocked. */
  tw_group *g = q->groups_head;
  while (g && n < max) {
    tw_group *gnext = g->next;
    if (g->inflight == 0) {
      tw_msg *m = g->head;
      while (m && n < max && m->state == MSG_VISIBLE) {
        tw_msg *next = m->next;
        int only = !m->prev && !m->next; /* removing it frees the group */
        if (expire_if_old(s, q, m, now, ticket) || redrive_if_due(s, q, m, ticket)) {
          if (only) break;
          m = next;
          continue;
        }
        mark_received(s, q, m, vis, now, ticket);
        out[n++] = m;
        if (vis <= 0) break; /* still visible: don't give the same group twice */
        m = next;
      }
    }
    g = gnext;
  }
  return n;
}

/* --- queues ------------------------------------------------------------------ */

tw_queue *tw_sqs_queue_by_name(tw_sqs *s, const char *name) {
  return tw_map_get(&s->queues_by_name, name);
}

tw_queue *tw_sqs_queue_by_arn(tw_sqs *s, const char *arn) {
  const char *p = strrchr(arn ? arn : "", ':');
  if (!p) return NULL;
  tw_queue *q = tw_sqs_queue_by_name(s, p + 1);
  return q && strcmp(q->arn, arn) == 0 ? q : NULL;
}

tw_queue *tw_sqs_queue_by_id(tw_sqs *s, int64_t id) {
  for (tw_queue *q = s->queues_head; q; q = q->next)
    if (q->id == id) return q;
  return NULL;
}

static int attr_int(json_t *attrs, const char *k, int dflt) {
  const char *v = jstr(attrs, k);
  return v ? atoi(v) : dflt;
}

/* Parses the stored attribute strings into the fields the engine uses. */
void tw_sqs_queue_apply_attrs(tw_queue *q) {
  q->delay = attr_int(q->attrs, "DelaySeconds", 0);
  q->max_size = attr_int(q->attrs, "MaximumMessageSize", 1048576);
  q->wait_time = attr_int(q->attrs, "ReceiveMessageWaitTimeSeconds", 0);
  q->visibility = attr_int(q->attrs, "VisibilityTimeout", 30);
  const char *r = jstr(q->attrs, "MessageRetentionPeriod");
  q->retention = r ? atoll(r) : 345600;
  const char *cbd = jstr(q->attrs, "ContentBasedDeduplication");
  q->content_dedup = cbd && strcmp(cbd, "true") == 0;
  const char *scope = jstr(q->attrs, "DeduplicationScope");
  q->dedup_scope_group = scope && strcmp(scope, "messageGroup") == 0;
  free(q->dlq_arn);
  q->dlq_arn = NULL;
  q->max_receive_count = 0;
  const char *rp = jstr(q->attrs, "RedrivePolicy");
  if (rp && *rp) {
    json_t *p = json_loads(rp, 0, NULL);
    const char *arn = jstr(p, "deadLetterTargetArn");
    json_t *mrc = json_object_get(p, "maxReceiveCount");
    if (arn) q->dlq_arn = strdup(arn);
    if (json_is_integer(mrc))
      q->max_receive_count = (int)json_integer_value(mrc);
    else if (json_is_string(mrc))
      q->max_receive_count = atoi(json_string_value(mrc));
    json_decref(p);
  }
}

uint64_t tw_sqs_queue_save(tw_sqs *s, tw_queue *q) {
  char *attrs = json_dumps(q->attrs, JSON_COMPACT | JSON_SORT_KEYS);
  char *tags = json_dumps(q->tags, JSON_COMPACT | JSON_SORT_KEYS);
  char *policy = q->policy ? json_dumps(q->policy, JSON_COMPACT) : NULL;
  tw_queue_row r = {.id = q->id,
                    .name = q->name,
                    .fifo = q->fifo,
                    .created = q->created,
                    .modified = q->modified,
                    .attrs_json = attrs,
                    .tags_json = tags,
                    .policy_json = policy,
                    .fifo_seqno = q->fifo_seqno,
                    .last_purge_ms = q->last_purge_ms};
  uint64_t t = tw_store_queue_save(s->store, &r);
  free(attrs);
  free(tags);
  free(policy);
  return t;
}

static tw_queue *queue_new(tw_sqs *s, int64_t id, const char *name, int fifo) {
  tw_queue *q = calloc(1, sizeof *q);
  q->id = id;
  q->name = strdup(name);
  q->fifo = fifo;
  snprintf(q->arn, sizeof q->arn, "arn:aws:sqs:%s:%s:%s", s->region, s->account, name);
  tw_map_init(&q->groups);
  tw_map_init(&q->dedup);
  tw_map_init(&q->attempts);
  q->prev = s->queues_tail;
  if (s->queues_tail)
    s->queues_tail->next = q;
  else
    s->queues_head = q;
  s->queues_tail = q;
  tw_map_put(&s->queues_by_name, name, q);
  if (id >= s->next_queue_id) s->next_queue_id = id + 1;
  return q;
}

tw_queue *tw_sqs_queue_create(tw_sqs *s, const char *name, int fifo, json_t *attrs, json_t *tags) {
  tw_queue *q = queue_new(s, s->next_queue_id, name, fifo);
  q->attrs = json_incref(attrs);
  q->tags = tags ? json_incref(tags) : json_object();
  q->created = q->modified = (int64_t)time(NULL);
  tw_sqs_queue_apply_attrs(q);
  tw_map_del(&s->deleted_names, name);
  char v[32];
  snprintf(v, sizeof v, "%" PRId64, s->next_queue_id);
  tw_store_kv_put(s->store, "max_queue_id", v);
  return q;
}

static void queue_free(tw_queue *q) {
  const char *k;
  void *v;
  for (tw_map_entry *e = tw_map_next(&q->dedup, NULL, &k, &v); e;
       e = tw_map_next(&q->dedup, e, &k, &v)) {
    tw_dedup *d = v;
    free(d->key);
    free(d);
  }
  tw_map_free(&q->dedup);
  for (tw_map_entry *e = tw_map_next(&q->attempts, NULL, &k, &v); e;
       e = tw_map_next(&q->attempts, e, &k, &v))
    free(v);
  tw_map_free(&q->attempts);
  tw_map_free(&q->groups);
  free(q->heap);
  json_decref(q->attrs);
  json_decref(q->tags);
  json_decref(q->policy);
  free(q->dlq_arn);
  free(q->name);
  free(q);
}

/* Deletes every message of q (the whole queue, or a purge). */
static uint64_t drop_messages(tw_sqs *s, tw_queue *q) {
  uint64_t t = 0;
  while (q->heap_len) t = tw_sqs_msg_delete(s, q->heap[0]);
  while (q->ready_head) t = tw_sqs_msg_delete(s, q->ready_head);
  while (q->groups_head) t = tw_sqs_msg_delete(s, q->groups_head->head);
  return t;
}

uint64_t tw_sqs_queue_delete(tw_sqs *s, tw_queue *q) {
  drop_messages(s, q);
  /* parked receives on it answer now (empty) */
  while (q->waiters_head) tw_sqs_wake(s, q, 1);
  uint64_t t = tw_store_queue_delete(s->store, q->id);
  tw_map_del(&s->queues_by_name, q->name);
  tw_map_put(&s->deleted_names, q->name, (void *)(intptr_t)time(NULL));
  if (q->prev)
    q->prev->next = q->next;
  else
    s->queues_head = q->next;
  if (q->next)
    q->next->prev = q->prev;
  else
    s->queues_tail = q->prev;
  queue_free(q);
  return t;
}

uint64_t tw_sqs_queue_purge(tw_sqs *s, tw_queue *q) {
  drop_messages(s, q);
  q->last_purge_ms = tw_now_ms();
  return tw_sqs_queue_save(s, q);
}

void tw_sqs_queue_url(const tw_sqs_call *c, const tw_queue *q, char *out, size_t n) {
  snprintf(out, n, "%s/%s/%s", c->base_url, c->sqs->account, q->name);
}

/* QueueUrl (any host; path ends in /<account>/<name>), else the request path. */
tw_queue *tw_sqs_resolve_queue(tw_sqs_call *c) {
  char buf[512];
  const char *name = tw_sqs_queue_name_of(c, buf);
  if (!name) return NULL;
  tw_queue *q = *name ? tw_sqs_queue_by_name(c->sqs, name) : NULL;
  if (!q) {
    tw_sqs_fail(c, TW_ERR_QUEUE_DOES_NOT_EXIST, "The specified queue does not exist.");
    return NULL;
  }
  return q;
}

/* --- loading ------------------------------------------------------------------ */

static void load_queue(void *ud, const tw_queue_row *r) {
  tw_sqs *s = ud;
  tw_queue *q = queue_new(s, r->id, r->name, r->fifo);
  q->created = r->created;
  q->modified = r->modified;
  q->attrs = r->attrs_json ? json_loads(r->attrs_json, 0, NULL) : NULL;
  if (!q->attrs) q->attrs = json_object();
  q->tags = r->tags_json ? json_loads(r->tags_json, 0, NULL) : NULL;
  if (!q->tags) q->tags = json_object();
  q->policy = r->policy_json ? json_loads(r->policy_json, 0, NULL) : NULL;
  q->fifo_seqno = r->fifo_seqno;
  q->last_purge_ms = r->last_purge_ms;
  tw_sqs_queue_apply_attrs(q);
}

/* Only what the engine needs: bodies and attributes stay in the store. */
static void load_message(void *ud, const tw_msg_row *r) {
  tw_sqs *s = ud;
  tw_queue *q = tw_sqs_queue_by_id(s, r->queue_id);
  if (!q) return;
  tw_msg *m = tw_sqs_msg_new(s, q);
  if (!m) return;
  m->seq = r->seq;
  tw_msg_id_set(m, r->msg_id);
  m->sent_ms = r->sent_ms;
  m->visible_at_ms = r->visible_at_ms;
  m->first_rel = tw_msg_rel(m, r->first_receive_ms);
  m->receive_count = r->receive_count > 0 ? (uint32_t)r->receive_count : 0;
  m->nonce = r->nonce;
  tw_msg_data g = {.group_id = (char *)r->group_id}; /* only its group is read */
  tw_sqs_msg_add(s, q, m, &g, 0);
}

static void load_dedup(void *ud, int64_t qid, const char *key, const char *msg_id, uint64_t seqno,
                       int64_t expires_ms) {
  tw_sqs *s = ud;
  tw_queue *q = tw_sqs_queue_by_id(s, qid);
  if (!q || !key) return;
  tw_dedup *d = calloc(1, sizeof *d);
  d->key = strdup(key);
  snprintf(d->msg_id, sizeof d->msg_id, "%s", msg_id ? msg_id : "");
  d->seqno = seqno;
  d->expires_ms = expires_ms;
  tw_map_put(&q->dedup, key, d);
}

static void load_kv(void *ud, const char *key, const char *value) {
  tw_sqs *s = ud;
  if (strcmp(key, "receipt_secret") == 0 && value && strlen(value) == 64) {
    for (int i = 0; i < 32; i++) {
      unsigned v;
      sscanf(value + 2 * i, "%2x", &v);
      s->secret[i] = (uint8_t)v;
    }
  } else if (strncmp(key, "movetask:", 9) == 0 && value) {
    tw_sqs_task_load(s, key, value);
  }
}

tw_sqs *tw_sqs_open(tw_store *store, const char *region, const char *account, char *err,
                    size_t errlen) {
  tw_sqs *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  /* recursive: other parts take it (tw_sqs_lock) around calls that take it again */
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&s->mu, &ma);
  pthread_mutexattr_destroy(&ma);
  pthread_cond_init(&s->tick_cv, NULL);
  s->store = store;
  snprintf(s->region, sizeof s->region, "%s", region);
  snprintf(s->account, sizeof s->account, "%s", account);
  tw_map_init(&s->queues_by_name);
  tw_map_init(&s->deleted_names);
  tw_msg_table_init(&s->msgs);
  tw_sqs_cache_init(s);
  s->max_inflight = 120000; /* AWS's; TWEEDLE_MAX_INFLIGHT lowers it (tests, small boxes) */
  const char *mi = getenv("TWEEDLE_MAX_INFLIGHT");
  if (mi && atoi(mi) > 0) s->max_inflight = atoi(mi);
  s->next_queue_id = tw_store_max_queue_id(store) + 1;
  s->next_seq = tw_store_max_seq(store);
  tw_random_bytes(s->secret, sizeof s->secret);
  int have_secret = 0;
  tw_store_loader ld = {load_queue, load_message, load_dedup, load_kv};
  /* the secret is in kv, loaded last; messages do not depend on it */
  if (tw_store_load(store, &ld, s)) {
    snprintf(err, errlen, "cannot load the queue state");
    tw_sqs_close(s);
    return NULL;
  }
  s->seq_reserved = s->next_seq; /* the next number reserves a new block */
  atomic_store(&s->synced_failures, tw_store_failures(store));
  for (int i = 0; i < 32; i++) have_secret |= s->secret[i];
  (void)have_secret;
  char hex[65];
  tw_hex(s->secret, 32, hex);
  tw_store_kv_put(store, "receipt_secret", hex);
  return s;
}

/* Frees every queue, message and move task (not the lock, the ticker, the
 * names deleted recently). */
static void free_state(tw_sqs *s) {
  while (s->queues_head) {
    tw_queue *q = s->queues_head;
    s->queues_head = q->next;
    /* the messages are in the slab, freed below */
    for (tw_group *g = q->groups_head; g;) {
      tw_group *gn = g->next;
      free(g->id);
      free(g);
      g = gn;
    }
    queue_free(q);
  }
  s->queues_tail = NULL;
  tw_map_free(&s->queues_by_name);
  tw_msg_table_free(&s->msgs);
  tw_msg_slab_free(&s->slab);
  tw_sqs_cache_clear(s);
  free(s->tasks);
  s->tasks = NULL;
  s->ntasks = s->cap_tasks = 0;
}

/* A commit failed: what it held is not on disk, yet memory shows it (a send,
 * a delete, a receive count, an event of an object that does not exist).
 * Memory becomes the store's state again: everything appended so far is let
 * commit first (it was derived from the memory about to go), parked receives
 * leave their queues (they run again on the new state), then queues and
 * messages are reloaded from the committed rows. Lock held: no request sees
 * the state in between. */
static void resync(tw_sqs *s) {
  atomic_store(&s->synced_failures, tw_store_failures(s->store));
  uint64_t t = tw_store_ticket(s->store);
  int64_t until = tw_mono_ms() + 30000;
  while (tw_store_committed(s->store) < t && tw_mono_ms() < until) usleep(1000);
  for (tw_queue *q = s->queues_head; q; q = q->next)
    while (q->waiters_head) tw_sqs_wake(s, q, 1);
  uint64_t next_seq = s->next_seq;
  free_state(s);
  tw_map_init(&s->queues_by_name);
  tw_msg_table_init(&s->msgs);
  tw_store_loader ld = {load_queue, load_message, load_dedup, load_kv};
  if (tw_store_load(s->store, &ld, s)) tw_error("sqs: reloading the queue state failed");
  if (s->next_seq < next_seq) s->next_seq = next_seq; /* numbers handed out stay used */
  s->seq_reserved = s->next_seq; /* the failed batch may have held the last reservation */
  size_t nq = 0;
  for (tw_queue *q = s->queues_head; q; q = q->next) nq++;
  tw_warn("sqs: a commit failed: queue state reloaded from the store (%zu queues, %zu messages)",
          nq, s->msgs.count);
}

void tw_sqs_commit_failed(tw_sqs *s) {
  /* called on the store's writer thread: no engine lock here (a reload holds
   * it while it waits for the writer); the ticker reloads soon, or the next
   * call first */
  pthread_cond_signal(&s->tick_cv);
}

void tw_sqs_resync_if_needed(tw_sqs *s) {
  if (atomic_load(&s->synced_failures) != tw_store_failures(s->store)) resync(s);
}

void tw_sqs_close(tw_sqs *s) {
  if (!s) return;
  free_state(s);
  tw_u64map_free(&s->cache.map);
  tw_map_free(&s->deleted_names);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->tick_cv);
  free(s);
}
