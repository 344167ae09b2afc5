/* Internals shared by the files of the queue engine (src/sqs/). Everything here
 * is guarded by tw_sqs.mu; front ends never touch these structs. */
#ifndef TW_SQS_INTERNAL_H
#define TW_SQS_INTERNAL_H
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/map.h"
#include "sqs/sqs.h"
#include "store/store.h"

enum { MSG_DELAYED, MSG_VISIBLE, MSG_INFLIGHT };

typedef struct tw_group tw_group;
typedef struct tw_queue tw_queue;

/* A message as the engine keeps it in memory: only what choosing, ordering
 * and receipt handles need (92 bytes). Its body, attributes, MD5s, sender,
 * group, deduplication id, dead-letter source and FIFO SequenceNumber stay in
 * the store and come back through the data cache (tw_msg_data, msg_mem.c).
 * Slab-allocated (msg_mem.c); s->msgs finds it by seq. */
typedef struct __attribute__((packed, aligned(4))) tw_msg {
  uint64_t seq;               /* our number: global, increasing; FIFO order within a group */
  struct tw_msg *prev, *next; /* standard: ready list; FIFO: its group's list */
  struct tw_msg *hnext;       /* s->msgs chain */
  uintptr_t owner;            /* tw_queue *, or tw_group * | 1 (FIFO; the group knows its queue) */
  int64_t sent_ms, visible_at_ms;
  uint8_t id[16]; /* MessageId: a UUID, binary */
  uint32_t nonce; /* changes on every receive: part of the receipt handle */
  uint32_t receive_count;
  unsigned heap_idx : 30, state : 2;
  uint32_t first_rel;    /* first receive - sent_ms + 1 (ms); 0: never received */
  uint32_t received_rel; /* the latest receive, same (memory only): caps the total visibility */
} tw_msg;
#define TW_HEAP_NONE ((1u << 30) - 1)

/* What a message carries beyond tw_msg: read from the store when receiving
 * (tw_sqs_fetch), held in the bounded cache of msg_mem.c; pinned there while
 * a write that the committed row does not show yet (its insert, a move) is in
 * flight. */
typedef struct tw_msg_data {
  uint64_t seq;
  char id[37];
  char *body;
  size_t body_len;
  json_t *attrs;     /* MessageAttributes (JSON-protocol shape) or NULL */
  json_t *sys_attrs; /* MessageSystemAttributes or NULL */
  char md5_body[33], md5_attrs[33], md5_sys[33];
  char *group_id, *dedup_id, *sender_id, *source_arn;
  uint64_t seqno; /* FIFO SequenceNumber */
  /* cache bookkeeping (msg_mem.c) */
  uint64_t pin; /* held until tw_store_committed reaches it; 0: not pinned */
  size_t bytes;
  int refs, pinned;
  struct tw_msg_data *prev, *next; /* LRU list, or the pinned list */
} tw_msg_data;

typedef struct {
  tw_msg *free;                     /* slab free list (through next) */
  void **chunks;                    /* slab chunks */
  size_t nchunks, cap_chunks, used; /* used: slots handed out of the last chunk */
} tw_msg_slab;

typedef struct {
  tw_msg **b;
  size_t nb, count;
} tw_msg_table;

typedef struct {
  tw_u64map map; /* seq -> tw_msg_data */
  tw_msg_data *lru_head, *lru_tail, *pin_head, *pin_tail;
  size_t bytes, limit;
  uint64_t hits, misses;
} tw_msg_cache;

struct tw_group { /* FIFO message group */
  char *id;
  tw_queue *queue;
  tw_msg *head, *tail;
  int inflight;
  tw_group *prev, *next; /* the queue's list of groups */
};

/* A FIFO receive that a retry with the same ReceiveRequestAttemptId repeats. */
typedef struct {
  int64_t expires_ms;
  int n;
  uint64_t seq[10];
  uint32_t nonce[10];
} tw_attempt;

typedef struct {
  char *key;
  char msg_id[37];
  uint64_t seqno;
  int64_t expires_ms;
} tw_dedup;

struct tw_queue {
  int64_t id;
  char *name;
  char arn[256];
  int fifo;
  int64_t created, modified;
  json_t *attrs; /* settable attributes as strings, exactly as stored */
  json_t *tags;
  json_t *policy; /* built by Add/RemovePermission, or set via Policy attribute */
  /* parsed attribute values */
  int delay, max_size, wait_time, visibility;
  int64_t retention;
  int content_dedup, dedup_scope_group;
  char *dlq_arn; /* from RedrivePolicy */
  int max_receive_count;
  uint64_t fifo_seqno;
  int64_t last_purge_ms;
  /* messages */
  tw_msg **heap; /* not-yet-visible messages (delayed, in flight) by visible_at */
  size_t heap_len, heap_cap;
  tw_msg *ready_head, *ready_tail; /* standard queues: visible messages */
  tw_map groups;                   /* FIFO: group id -> tw_group */
  tw_group *groups_head, *groups_tail;
  tw_map dedup;    /* FIFO: dedup key -> tw_dedup */
  tw_map attempts; /* FIFO: ReceiveRequestAttemptId -> tw_attempt */
  int n_visible, n_inflight, n_delayed;
  /* built-in metrics since the last sweep (sqs_metrics.c), under the lock */
  uint64_t m_sent, m_received, m_deleted, m_empty;
  double m_size_sum, m_size_min, m_size_max;
  /* no message is older than this (a lower bound; 0 = unknown): the ticker's
   * retention scan skips the queue until the cutoff passes it */
  int64_t min_sent_ms;
  /* parked ReceiveMessage calls */
  tw_sqs_waiter *waiters_head, *waiters_tail;
  int deleted;
  tw_queue *prev, *next; /* the engine's queue list, in creation order */
};

typedef struct {
  char handle[64];
  char source_arn[256];
  char dest_arn[256]; /* empty: each message goes back to its source queue */
  int rate;           /* messages per second, 0 = as fast as possible */
  char status[16];    /* RUNNING, COMPLETED, CANCELLING, CANCELLED, FAILED */
  int64_t started_ms;
  int64_t moved, to_move;
  uint64_t max_seq; /* move only what was in the queue when the task started */
  char failure[256];
  double budget;
} tw_move_task;

struct tw_sqs {
  pthread_mutex_t mu;
  tw_store *store;
  char region[64], account[32];
  uint8_t secret[32]; /* signs receipt handles */
  tw_map queues_by_name;
  tw_msg_table msgs; /* seq -> tw_msg */
  tw_msg_slab slab;
  tw_msg_cache cache;
  tw_queue *queues_head, *queues_tail;
  int64_t next_queue_id;
  uint64_t next_seq;
  uint64_t seq_reserved; /* numbers up to this are saved as used ("max_seq" in kv) */
  tw_map deleted_names;  /* name -> (intptr_t) deletion time in seconds */
  tw_move_task *tasks;
  size_t ntasks, cap_tasks;
  int max_inflight;
  struct tw_events *events; /* dead-letter moves are announced here (sqs_events.c) */
  /* ticker */
  pthread_t ticker;
  pthread_cond_t tick_cv;
  int stop;
  atomic_uint_fast64_t synced_failures; /* tw_store_failures when memory was last reloaded */
};

/* engine.c (parked receives and the ticker: engine_ticker.c) */
/* Reloads the state from the store if a commit failed since the last reload
 * (lock held). */
void tw_sqs_resync_if_needed(tw_sqs *s);
tw_queue *tw_sqs_queue_by_name(tw_sqs *s, const char *name);
tw_queue *tw_sqs_queue_by_id(tw_sqs *s, int64_t id);
tw_queue *tw_sqs_queue_by_arn(tw_sqs *s, const char *arn);
void tw_sqs_queue_apply_attrs(tw_queue *q);
uint64_t tw_sqs_queue_save(tw_sqs *s, tw_queue *q);
tw_queue *tw_sqs_queue_create(tw_sqs *s, const char *name, int fifo, json_t *attrs, json_t *tags);
uint64_t tw_sqs_queue_delete(tw_sqs *s, tw_queue *q);
uint64_t tw_sqs_queue_purge(tw_sqs *s, tw_queue *q);
void tw_sqs_sweep(tw_sqs *s, tw_queue *q, int64_t now_ms);
tw_msg *tw_sqs_msg_new(tw_sqs *s, tw_queue *q);
/* Adds m to q; persist: logs the insert of d (owned by the cache afterwards). */
uint64_t tw_sqs_msg_add(tw_sqs *s, tw_queue *q, tw_msg *m, tw_msg_data *d, int persist);
uint64_t tw_sqs_msg_delete(tw_sqs *s, tw_msg *m);
uint64_t tw_sqs_msg_set_visibility(tw_sqs *s, tw_msg *m, int64_t visible_at_ms);
uint64_t tw_sqs_msg_move(tw_sqs *s, tw_msg *m, tw_queue *to, const char *source_arn);
/* Picks up to max messages to receive (marks them in flight for vis seconds). */
int tw_sqs_receive(tw_sqs *s, tw_queue *q, int max, int vis, int64_t now_ms, tw_msg **out,
                   uint64_t *ticket);
/* m's receipt handle (tw_sqs_receipt_make, sqs_common.h); tw_sqs_by_receipt reads it */
void tw_sqs_receipt(tw_sqs *s, const tw_msg *m, char out[80]);
void tw_sqs_wake(tw_sqs *s, tw_queue *q, int n);
void tw_sqs_queue_url(const tw_sqs_call *c, const tw_queue *q, char *out, size_t n);
void tw_sqs_move_tasks_tick(tw_sqs *s, int64_t now_ms, double dt);
void tw_sqs_task_save(tw_sqs *s, const tw_move_task *t);
void tw_sqs_task_load(tw_sqs *s, const char *key, const char *value);

/* msg_mem.c: the slab, the seq table and the data cache (lock held) */
static inline tw_queue *tw_msg_queue(const tw_msg *m) {
  return m->owner & 1 ? ((tw_group *)(m->owner & ~(uintptr_t)1))->queue : (tw_queue *)m->owner;
}
static inline tw_group *tw_msg_group(const tw_msg *m) {
  return m->owner & 1 ? (tw_group *)(m->owner & ~(uintptr_t)1) : NULL;
}
static inline int64_t tw_msg_first_receive(const tw_msg *m) {
  return m->first_rel ? m->sent_ms + (int64_t)m->first_rel - 1 : 0;
}
static inline int64_t tw_msg_received(const tw_msg *m) {
  return m->received_rel ? m->sent_ms + (int64_t)m->received_rel - 1 : 0;
}
uint32_t tw_msg_rel(const tw_msg *m, int64_t ms); /* for first_rel, received_rel */
void tw_msg_id_str(const tw_msg *m, char out[37]);
void tw_msg_id_set(tw_msg *m, const char *id);
tw_msg *tw_msg_slab_get(tw_msg_slab *sl);
void tw_msg_slab_put(tw_msg_slab *sl, tw_msg *m);
void tw_msg_slab_free(tw_msg_slab *sl);
void tw_msg_table_init(tw_msg_table *t);
void tw_msg_table_free(tw_msg_table *t);
tw_msg *tw_msg_table_get(const tw_msg_table *t, uint64_t seq);
void tw_msg_table_put(tw_msg_table *t, tw_msg *m);
void tw_msg_table_del(tw_msg_table *t, tw_msg *m);
tw_msg_data *tw_msg_data_new(void);
void tw_msg_data_free(tw_msg_data *d);
/* MD5OfMessageAttributes / MD5OfMessageSystemAttributes of d's attributes. */
void tw_sqs_data_digests(tw_msg_data *d);
/* Budget from TWEEDLE_SQS_CACHE_BYTES (default 8 MiB). */
void tw_sqs_cache_init(tw_sqs *s);
void tw_sqs_cache_clear(tw_sqs *s);
/* Takes d (replacing an entry of the same seq); pin: the ticket of the write
 * the committed row does not show yet (0: none). */
void tw_sqs_cache_put(tw_sqs *s, tw_msg_data *d, uint64_t pin);
void tw_sqs_cache_drop(tw_sqs *s, uint64_t seq);
/* The data of msgs[0..n): from the cache, the rest read from the store in
 * batches. out[i] NULL when the row is gone. Held until tw_sqs_fetch_done. */
int tw_sqs_fetch(tw_sqs *s, tw_msg *const *msgs, int n, tw_msg_data **out);
void tw_sqs_fetch_done(tw_sqs *s, tw_msg_data **d, int n);

/* sqs_metrics.c: counts for the built-in metrics (lock held) */
void tw_sqs_metrics_sent(tw_queue *q, size_t bytes);
/* Messages a scan of one queue (its oldest message, a console peek) visits
 * at most. */
#define TW_SQS_SCAN_MAX 200000
/* The send time (ms) of q's oldest message, 0 when empty; a queue holding
 * more is scanned TW_SQS_SCAN_MAX far (a lower bound on the age then). */
int64_t tw_sqs_oldest_sent(const tw_queue *q);

/* helpers for actions */
int tw_sqs_fail(tw_sqs_call *c, tw_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Finds the queue named by QueueUrl (or the request path); sets QueueDoesNotExist. */
tw_queue *tw_sqs_resolve_queue(tw_sqs_call *c);

/* sqs_message.c: the pieces of SendMessage(Batch) and DeleteMessage that
 * TweedleDeleteAndSend (sqs_pipeline.c) runs in one transaction. */
typedef struct tw_sqs_send_req {
  const char *body;
  size_t body_len;
  json_t *attrs, *sys;
  long long delay;
  int has_delay;
  const char *group, *dedup;
  char md5_body[33], md5_attrs[33], md5_sys[33];
  size_t size;
} tw_sqs_send_req;
/* Validation that needs no queue (no lock). 0 or -1 with c->err. */
int tw_sqs_send_parse(tw_sqs_call *c, json_t *in, tw_sqs_send_req *r);
/* The checks that depend on the queue, without changing anything. Lock held. */
int tw_sqs_send_check(tw_sqs_call *c, tw_queue *q, const tw_sqs_send_req *r);
/* Checks, then enqueues; fills res with MessageId, MD5s. Lock held. */
int tw_sqs_send_one(tw_sqs_call *c, tw_queue *q, tw_sqs_send_req *r, json_t *res);
/* A batch request's Entries: 1..10, ids valid and distinct; NULL with c->err. */
json_t *tw_sqs_batch_entries(tw_sqs_call *c, const char *what);
/* The message a receipt handle names in q. Lock held. 0 found (*m set), 1 valid
 * handle but the message is gone, -1 malformed (c->err). *current: the handle
 * is the latest one given out for the message. */
int tw_sqs_by_receipt(tw_sqs_call *c, tw_queue *q, const char *h, tw_msg **m, int *current);

#endif
