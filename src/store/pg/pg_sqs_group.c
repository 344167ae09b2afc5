/* Group commit for standard-queue sends (cluster mode): the SendMessage and
 * SendMessageBatch calls that arrive on this node while a send is running
 * share the next statement — one INSERT over arrays, one transaction, one
 * NOTIFY per queue — instead of a transaction (and a NOTIFY, which PostgreSQL
 * serialises at commit) each. There is no added delay: the first caller runs
 * at once; who arrives meanwhile waits for the running one and goes next. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "store/pg/pg_internal.h"
#include "store/pg_sqs.h"

/* A statement carries at most this many messages or bytes of bodies; a
 * request never splits. */
#define GROUP_MAX_MSGS 1000
#define GROUP_MAX_BYTES (8u << 20)

typedef struct req {
  int64_t queue_id, now_ms;
  tw_pg_send_msg *m;
  int n, rc, done;
  struct req *next;
} req;

struct tw_pg_sendq {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  req *head, *tail;
  int busy; /* a caller is running a statement */
};

tw_pg_sendq *tw_pg_sendq_new(void) {
  tw_pg_sendq *q = calloc(1, sizeof *q);
  if (!q) return NULL;
  pthread_mutex_init(&q->mu, NULL);
  pthread_cond_init(&q->cv, NULL);
  return q;
}

void tw_pg_sendq_free(tw_pg_sendq *q) {
  if (!q) return;
  pthread_mutex_destroy(&q->mu);
  pthread_cond_destroy(&q->cv);
  free(q);
}

/* An element of a PostgreSQL text array literal: NULL, or quoted with \ and
 * " escaped (bodies may hold any character SQS accepts). */
static void elem(tw_buf *b, int first, const char *s, size_t n) {
  if (!first) tw_buf_putc(b, ',');
  if (!s) {
    tw_buf_puts(b, "NULL");
    return;
  }
  tw_buf_putc(b, '"');
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"' || s[i] == '\\') {
      tw_buf_append(b, s + run, i - run);
      tw_buf_putc(b, '\\');
      run = i;
    }
  }
  tw_buf_append(b, s + run, n - run);
  tw_buf_putc(b, '"');
}

static void elem_s(tw_buf *b, int first, const char *s) {
  elem(b, first, s, s ? strlen(s) : 0);
}

static void elem_i(tw_buf *b, int first, int64_t v) {
  tw_buf_printf(b, first ? "%" PRId64 : ",%" PRId64, v);
}

enum { A_QUEUE, A_ID, A_BODY, A_ATTRS, A_SYS, A_SENDER, A_SENT, A_VISIBLE, A_GROUP, A_NOTIFY, NA };

/* One statement for the requests from `from` (up to `end`): their rows and,
 * per queue, a NOTIFY with the count visible now. */
static int flush(tw_pg *pg, req *from, req *end) {
  tw_buf a[NA];
  for (int k = 0; k < NA; k++) {
    tw_buf_init(&a[k], 64u << 20); /* a ceiling, not an allocation */
    tw_buf_putc(&a[k], '{');
  }
  int first = 1, nmsg = 0, nnotify = 0;
  for (req *r = from; r != end; r = r->next) {
    int visible = 0;
    for (int i = 0; i < r->n; i++, first = 0, nmsg++) {
      const tw_pg_send_msg *m = &r->m[i];
      elem_i(&a[A_QUEUE], first, r->queue_id);
      elem_s(&a[A_ID], first, m->msg_id);
      elem(&a[A_BODY], first, m->body, m->body_len);
      elem_s(&a[A_ATTRS], first, m->attrs_json);
      elem_s(&a[A_SYS], first, m->sys_json);
      elem_s(&a[A_SENDER], first, m->sender_id);
      elem_i(&a[A_SENT], first, m->sent_ms);
      elem_i(&a[A_VISIBLE], first, m->visible_at_ms);
      elem_s(&a[A_GROUP], first, m->group_id);
      if (m->visible_at_ms <= r->now_ms) visible++;
    }
    if (visible) {
      char pl[64];
      snprintf(pl, sizeof pl, "%" PRId64 ":%d", r->queue_id, visible);
      elem_s(&a[A_NOTIFY], nnotify++ == 0, pl);
    }
  }
  const char *p[NA];
  int overflow = 0;
  for (int k = 0; k < NA; k++) {
    tw_buf_putc(&a[k], '}');
    p[k] = tw_buf_cstr(&a[k]);
    overflow |= a[k].overflow;
  }
  int rc = TW_PG_ERROR; /* too big for one statement: the callers go one by one */
  tw_pg_slot *s = overflow ? NULL : tw_pg_get(pg);
  if (!overflow && !s) rc = TW_PG_UNAVAILABLE;
  if (s) {
    int broken = 0;
    /* every data-changing CTE runs; n is read so its NOTIFYs run too */
    PGresult *r = PQexecParams(
        s->conn,
        "WITH i AS (INSERT INTO sqs_messages (queue_id, msg_id, body, attrs, sys, sender_id, "
        "sent_ms, visible_at_ms, group_id) SELECT * FROM unnest($1::bigint[], $2::text[], "
        "$3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::text[]) "
        "RETURNING msg_id, seq), "
        "n AS (SELECT pg_notify('tw_sqs', x) FROM unnest($10::text[]) AS x) "
        "SELECT msg_id, seq, (SELECT count(*) FROM n) FROM i",
        NA, NULL, p, NULL, NULL, 0);
    rc = tw_pg_check(s->conn, &r, PGRES_TUPLES_OK, "grouped send", &broken);
    if (!rc && PQntuples(r) != nmsg) rc = TW_PG_ERROR;
    /* rows come back in insertion order in practice; matched by id regardless */
    for (int row = 0; !rc && row < nmsg; row++) {
      const char *id = PQgetvalue(r, row, 0);
      int64_t seq = tw_pg_i64(r, row, 1);
      int found = 0;
      for (req *q = from; q != end && !found; q = q->next)
        for (int i = 0; i < q->n && !found; i++)
          if (!strcmp(q->m[i].msg_id, id)) {
            q->m[i].seq = seq;
            found = 1;
          }
      if (!found) rc = TW_PG_ERROR;
    }
    if (r) PQclear(r);
    tw_pg_put(pg, s, broken);
  }
  for (int k = 0; k < NA; k++) tw_buf_free(&a[k]);
  return rc;
}

int tw_pg_send(tw_pg *pg, int64_t queue_id, tw_pg_send_msg *m, int n, int64_t now_ms) {
  tw_pg_sendq *q = pg->sendq;
  if (!q) return tw_pg_send_one(pg, queue_id, m, n, now_ms);
  req me = {.queue_id = queue_id, .now_ms = now_ms, .m = m, .n = n};
  pthread_mutex_lock(&q->mu);
  if (q->tail)
    q->tail->next = &me;
  else
    q->head = &me;
  q->tail = &me;
  while (!me.done) {
    if (q->busy || q->head != &me) { /* another caller's statement runs, or goes first */
      pthread_cond_wait(&q->cv, &q->mu);
      continue;
    }
    /* this caller leads: it takes the queue from its own request on */
    q->busy = 1;
    req *end = q->head;
    int msgs = 0;
    size_t bytes = 0;
    do {
      for (int i = 0; i < end->n; i++) bytes += end->m[i].body_len;
      msgs += end->n;
      end = end->next;
    } while (end && msgs + end->n <= GROUP_MAX_MSGS && bytes < GROUP_MAX_BYTES);
    req *from = q->head;
    q->head = end;
    if (!end) q->tail = NULL;
    pthread_mutex_unlock(&q->mu);
    int rc = from->next == end ? tw_pg_send_one(pg, from->queue_id, from->m, from->n, from->now_ms)
                               : flush(pg, from, end);
    /* a shared statement failed (one queue deleted meanwhile, say): each
     * request on its own, so one cannot fail another */
    if (rc != TW_PG_OK && rc != TW_PG_UNAVAILABLE && from->next != end)
      for (req *r = from; r != end; r = r->next)
        r->rc = tw_pg_send_one(pg, r->queue_id, r->m, r->n, r->now_ms);
    else
      for (req *r = from; r != end; r = r->next) r->rc = rc;
    pthread_mutex_lock(&q->mu);
    for (req *r = from; r != end;) {
      req *next = r->next; /* r may go away once done */
      r->done = 1;
      r = next;
    }
    q->busy = 0;
    pthread_cond_broadcast(&q->cv);
  }
  pthread_mutex_unlock(&q->mu);
  return me.rc;
}
