/* What the queue engine keeps per message, kept small: the slab the tw_msg
 * structs come from, the seq -> message table, and the bounded cache of what
 * stays on disk (bodies, attributes: tw_msg_data).
 *
 * The cache holds up to TWEEDLE_SQS_CACHE_BYTES (default 8 MiB) of message
 * data in LRU order, plus the pinned entries: a message whose insert (or
 * move) is appended but not committed yet is only in memory, and another
 * consumer may receive it before the commit, so its data stays pinned until
 * tw_store_committed() reaches the ticket of that write. Everything here runs
 * under tw_sqs.mu. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/log.h"
#include "sqs/msg_digest.h"
#include "sqs/sqs_internal.h"

/* --- ids and relative times ------------------------------------------------- */

static int hexval(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

void tw_msg_id_set(tw_msg *m, const char *id) {
  memset(m->id, 0, sizeof m->id);
  if (!id) return;
  size_t j = 0;
  for (const char *p = id; *p && j < 32; p++) {
    if (*p == '-') continue;
    int h = hexval(*p), l = p[1] ? hexval(p[1]) : -1;
    if (h < 0 || l < 0) break;
    m->id[j / 2] = (uint8_t)(h << 4 | l);
    j += 2;
    p++;
  }
  if (j != 32) tw_warn("sqs: message %llu: id %s is not a UUID", (unsigned long long)m->seq, id);
}

void tw_msg_id_str(const tw_msg *m, char out[37]) {
  char hex[33];
  tw_hex(m->id, 16, hex);
  memcpy(out, hex, 8);
  out[8] = '-';
  memcpy(out + 9, hex + 8, 4);
  out[13] = '-';
  memcpy(out + 14, hex + 12, 4);
  out[18] = '-';
  memcpy(out + 19, hex + 16, 4);
  out[23] = '-';
  memcpy(out + 24, hex + 20, 12);
  out[36] = 0;
}

uint32_t tw_msg_rel(const tw_msg *m, int64_t ms) {
  if (!ms) return 0;
  int64_t d = ms - m->sent_ms;
  if (d < 0) d = 0;
  if (d >= (int64_t)UINT32_MAX - 1) d = (int64_t)UINT32_MAX - 2;
  return (uint32_t)d + 1;
}

/* --- the slab ------------------------------------------------------------------ */

#define SLAB_CHUNK 8192 /* messages per chunk (736 KiB) */

tw_msg *tw_msg_slab_get(tw_msg_slab *sl) {
  tw_msg *m = sl->free;
  if (m) {
    sl->free = m->next;
  } else {
    if (!sl->nchunks || sl->used == SLAB_CHUNK) {
      if (sl->nchunks == sl->cap_chunks) {
        size_t n = sl->cap_chunks ? sl->cap_chunks * 2 : 16;
        void **c = realloc(sl->chunks, n * sizeof *c);
        if (!c) return NULL;
        sl->chunks = c;
        sl->cap_chunks = n;
      }
      void *chunk = malloc(SLAB_CHUNK * sizeof(tw_msg));
      if (!chunk) return NULL;
      sl->chunks[sl->nchunks++] = chunk;
      sl->used = 0;
    }
    m = (tw_msg *)sl->chunks[sl->nchunks - 1] + sl->used++;
  }
  memset(m, 0, sizeof *m);
  return m;
}

void tw_msg_slab_put(tw_msg_slab *sl, tw_msg *m) {
  m->next = sl->free;
  sl->free = m;
}

void tw_msg_slab_free(tw_msg_slab *sl) {
  for (size_t i = 0; i < sl->nchunks; i++) free(sl->chunks[i]);
  free(sl->chunks);
  memset(sl, 0, sizeof *sl);
}

/* --- seq -> message: chained through tw_msg.hnext, up to 4 per bucket ----------- */

static size_t bucket(const tw_msg_table *t, uint64_t seq) {
  uint64_t h = seq * 0x9E3779B97F4A7C15ull;
  return (size_t)(h >> 20) & (t->nb - 1);
}

void tw_msg_table_init(tw_msg_table *t) {
  t->nb = 1024;
  t->count = 0;
  t->b = calloc(t->nb, sizeof *t->b);
  if (!t->b) abort();
}

void tw_msg_table_free(tw_msg_table *t) {
  free(t->b);
  memset(t, 0, sizeof *t);
}

tw_msg *tw_msg_table_get(const tw_msg_table *t, uint64_t seq) {
  for (tw_msg *m = t->b[bucket(t, seq)]; m; m = m->hnext)
    if (m->seq == seq) return m;
  return NULL;
}

static void table_grow(tw_msg_table *t) {
  size_t onb = t->nb;
  tw_msg **ob = t->b;
  tw_msg **nbk = calloc(onb * 2, sizeof *nbk);
  if (!nbk) return; /* longer chains, still correct */
  t->b = nbk;
  t->nb = onb * 2;
  for (size_t i = 0; i < onb; i++)
    for (tw_msg *m = ob[i], *n; m; m = n) {
      n = m->hnext;
      size_t k = bucket(t, m->seq);
      m->hnext = t->b[k];
      t->b[k] = m;
    }
  free(ob);
}

void tw_msg_table_put(tw_msg_table *t, tw_msg *m) {
  if (t->count >= t->nb * 4) table_grow(t);
  size_t k = bucket(t, m->seq);
  m->hnext = t->b[k];
  t->b[k] = m;
  t->count++;
}

void tw_msg_table_del(tw_msg_table *t, tw_msg *m) {
  size_t k = bucket(t, m->seq);
  tw_msg *prev = NULL;
  for (tw_msg *x = t->b[k]; x; prev = x, x = x->hnext)
    if (x == m) {
      if (prev)
        prev->hnext = m->hnext;
      else
        t->b[k] = m->hnext;
      m->hnext = NULL;
      t->count--;
      return;
    }
}

/* --- message data ----------------------------------------------------------------- */

tw_msg_data *tw_msg_data_new(void) {
  return calloc(1, sizeof(tw_msg_data));
}

void tw_msg_data_free(tw_msg_data *d) {
  if (!d) return;
  free(d->body);
  json_decref(d->attrs);
  json_decref(d->sys_attrs);
  free(d->group_id);
  free(d->dedup_id);
  free(d->sender_id);
  free(d->source_arn);
  free(d);
}

void tw_sqs_data_digests(tw_msg_data *d) {
  d->md5_attrs[0] = d->md5_sys[0] = 0;
  if (d->attrs && json_object_size(d->attrs)) tw_sqs_md5_message_attributes(d->attrs, d->md5_attrs);
  if (d->sys_attrs && json_object_size(d->sys_attrs))
    tw_sqs_md5_system_attributes(d->sys_attrs, d->md5_sys);
}

static size_t slen(const char *p) {
  return p ? strlen(p) : 0;
}

/* What an entry costs: its allocations, roughly (jansson's objects counted
 * by their serialized size, times two). */
static size_t data_bytes(const tw_msg_data *d) {
  size_t n = sizeof *d + d->body_len + 1 + slen(d->group_id) + slen(d->dedup_id) +
             slen(d->sender_id) + slen(d->source_arn) + 64;
  if (d->attrs) n += 2 * json_dumpb(d->attrs, NULL, 0, JSON_COMPACT) + 128;
  if (d->sys_attrs) n += 2 * json_dumpb(d->sys_attrs, NULL, 0, JSON_COMPACT) + 128;
  return n;
}

/* --- the cache ----------------------------------------------------------------------- */

void tw_sqs_cache_init(tw_sqs *s) {
  tw_msg_cache *c = &s->cache;
  memset(c, 0, sizeof *c);
  tw_u64map_init(&c->map);
  c->limit = 8u << 20;
  const char *e = getenv("TWEEDLE_SQS_CACHE_BYTES");
  if (e && *e) {
    char *end;
    unsigned long long v = strtoull(e, &end, 10);
    if (*end == 'k' || *end == 'K') v <<= 10;
    if (*end == 'm' || *end == 'M') v <<= 20;
    if (*end == 'g' || *end == 'G') v <<= 30;
    c->limit = (size_t)v;
  }
}

static void list_remove(tw_msg_data **head, tw_msg_data **tail, tw_msg_data *d) {
  if (d->prev)
    d->prev->next = d->next;
  else
    *head = d->next;
  if (d->next)
    d->next->prev = d->prev;
  else
    *tail = d->prev;
  d->prev = d->next = NULL;
}

static void list_append(tw_msg_data **head, tw_msg_data **tail, tw_msg_data *d) {
  d->next = NULL;
  d->prev = *tail;
  if (*tail)
    (*tail)->next = d;
  else
    *head = d;
  *tail = d;
}

static void unlink_entry(tw_msg_cache *c, tw_msg_data *d) {
  if (d->pinned)
    list_remove(&c->pin_head, &c->pin_tail, d);
  else
    list_remove(&c->lru_head, &c->lru_tail, d);
}

static void drop_entry(tw_msg_cache *c, tw_msg_data *d) {
  unlink_entry(c, d);
  tw_u64map_del(&c->map, d->seq);
  c->bytes -= d->bytes;
  tw_msg_data_free(d);
}

/* Entries whose write has committed join the LRU list (most recent end). */
static void unpin_committed(tw_sqs *s) {
  tw_msg_cache *c = &s->cache;
  if (!c->pin_head) return;
  uint64_t done = tw_store_committed(s->store);
  while (c->pin_head && c->pin_head->pin <= done) {
    tw_msg_data *d = c->pin_head;
    list_remove(&c->pin_head, &c->pin_tail, d);
    d->pinned = 0;
    d->pin = 0;
    list_append(&c->lru_head, &c->lru_tail, d);
  }
}

static void evict(tw_sqs *s) {
  tw_msg_cache *c = &s->cache;
  unpin_committed(s);
  tw_msg_data *d = c->lru_head;
  while (d && c->bytes > c->limit) {
    tw_msg_data *n = d->next;
    if (!d->refs) drop_entry(c, d);
    d = n;
  }
}

void tw_sqs_cache_clear(tw_sqs *s) {
  tw_msg_cache *c = &s->cache;
  while (c->pin_head) drop_entry(c, c->pin_head);
  while (c->lru_head) drop_entry(c, c->lru_head);
}

static void place(tw_msg_cache *c, tw_msg_data *d, uint64_t pin) {
  if (pin) {
    d->pinned = 1;
    if (pin > d->pin) d->pin = pin;
    list_append(&c->pin_head, &c->pin_tail, d); /* tickets only grow: stays in order */
  } else {
    d->pinned = 0;
    list_append(&c->lru_head, &c->lru_tail, d);
  }
}

void tw_sqs_cache_put(tw_sqs *s, tw_msg_data *d, uint64_t pin) {
  tw_msg_cache *c = &s->cache;
  tw_msg_data *old = tw_u64map_get(&c->map, d->seq);
  if (old == d) { /* changed in place (a move): new size, new pin */
    unlink_entry(c, d);
    c->bytes -= d->bytes;
    d->bytes = data_bytes(d);
    c->bytes += d->bytes;
    place(c, d, pin ? pin : d->pin);
    evict(s);
    return;
  }
  if (old) drop_entry(c, old);
  d->pin = 0;
  d->bytes = data_bytes(d);
  c->bytes += d->bytes;
  tw_u64map_put(&c->map, d->seq, d);
  place(c, d, pin);
  evict(s);
}

void tw_sqs_cache_drop(tw_sqs *s, uint64_t seq) {
  tw_msg_data *d = tw_u64map_get(&s->cache.map, seq);
  if (d && !d->refs) drop_entry(&s->cache, d);
}

typedef struct {
  tw_sqs *s;
} read_ctx;

static char *dup_or_null(const char *p) {
  return p ? strdup(p) : NULL;
}

static void on_row(void *ud, const tw_msg_row *r) {
  read_ctx *x = ud;
  tw_msg_data *d = tw_msg_data_new();
  if (!d) return;
  d->seq = r->seq;
  snprintf(d->id, sizeof d->id, "%s", r->msg_id ? r->msg_id : "");
  d->body = malloc(r->body_len + 1);
  if (!d->body) {
    free(d);
    return;
  }
  if (r->body_len) memcpy(d->body, r->body, r->body_len);
  d->body[r->body_len] = 0;
  d->body_len = r->body_len;
  tw_md5_hex(d->body, d->body_len, d->md5_body);
  d->attrs = r->attrs_json ? json_loads(r->attrs_json, 0, NULL) : NULL;
  d->sys_attrs = r->sys_json ? json_loads(r->sys_json, 0, NULL) : NULL;
  tw_sqs_data_digests(d);
  d->group_id = dup_or_null(r->group_id);
  d->dedup_id = dup_or_null(r->dedup_id);
  d->sender_id = dup_or_null(r->sender_id);
  d->source_arn = dup_or_null(r->source_arn);
  d->seqno = r->seqno;
  tw_msg_cache *c = &x->s->cache;
  tw_msg_data *old = tw_u64map_get(&c->map, d->seq);
  if (old) { /* cannot happen (misses only are read); keep what memory has */
    tw_msg_data_free(d);
    return;
  }
  d->bytes = data_bytes(d);
  c->bytes += d->bytes;
  tw_u64map_put(&c->map, d->seq, d);
  place(c, d, 0);
}

int tw_sqs_fetch(tw_sqs *s, tw_msg *const *msgs, int n, tw_msg_data **out) {
  tw_msg_cache *c = &s->cache;
  uint64_t miss[64];
  int nmiss = 0, found = 0;
  for (int i = 0; i < n; i++) {
    out[i] = tw_u64map_get(&c->map, msgs[i]->seq);
    if (out[i]) {
      out[i]->refs++;
      c->hits++;
      continue;
    }
    c->misses++;
    miss[nmiss++] = msgs[i]->seq;
    if (nmiss == 64 || i == n - 1) {
      read_ctx x = {s};
      if (tw_store_msg_read(s->store, miss, (size_t)nmiss, on_row, &x) < 0)
        tw_error("sqs: reading message data failed");
      nmiss = 0;
    }
  }
  if (nmiss) {
    read_ctx x = {s};
    if (tw_store_msg_read(s->store, miss, (size_t)nmiss, on_row, &x) < 0)
      tw_error("sqs: reading message data failed");
  }
  for (int i = 0; i < n; i++) {
    if (!out[i]) {
      out[i] = tw_u64map_get(&c->map, msgs[i]->seq);
      if (out[i]) out[i]->refs++;
    }
    if (out[i]) found++;
  }
  return found;
}

void tw_sqs_fetch_done(tw_sqs *s, tw_msg_data **d, int n) {
  for (int i = 0; i < n; i++)
    if (d[i]) d[i]->refs--;
  evict(s);
}
