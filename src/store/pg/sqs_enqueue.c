/* Messages from other services to the cluster's SQS queues (pg_enqueue.h):
 * each one statement appended to the PostgreSQL store's open batch, so it
 * commits in the same transaction as what causes it (an object row, a
 * publish, a PutEvents), with the pg_notify('tw_sqs', ...) that wakes the
 * receives parked on that queue on every node. Columns as pg_sqs.c's
 * tw_pg_send and pg_sqs_more.c's FIFO send write them. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "store/pg/pg_s3_internal.h"
#include "store/pg_enqueue.h"

int tw_store_pg_queue(tw_store *s, const char *name, tw_pg_queue_info *out) {
  if (out) memset(out, 0, sizeof *out);
  tw_sql_val v[] = {TW_SQL_S(name)};
  PGresult *r =
      tw_pg_s3_read(s,
                    "SELECT fifo, policy, COALESCE(NULLIF(attrs::json->>'MaximumMessageSize', ''),"
                    " '1048576')::bigint FROM sqs_queues WHERE name = $1",
                    v, 1);
  if (!r) return -1;
  int rc = PQntuples(r) == 1;
  if (rc && out) {
    out->fifo = PQgetvalue(r, 0, 0)[0] == 't';
    out->policy = PQgetisnull(r, 0, 1) ? NULL : strdup(PQgetvalue(r, 0, 1));
    out->max_size = (long)tw_pg_i64(r, 0, 2);
  }
  PQclear(r);
  return rc;
}

/* The AWSTraceHeader system attribute, as SendMessage stores it (malloc'd). */
static char *sys_of(const char *trace) {
  if (!trace || !*trace) return NULL;
  json_t *j =
      json_pack("{s:{s:s,s:s}}", "AWSTraceHeader", "DataType", "String", "StringValue", trace);
  char *sys = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  return sys;
}

uint64_t tw_store_pg_enqueue(tw_store *s, const tw_pg_enqueue_msg *m) {
  char id[37];
  tw_uuid4(id);
  char *sys = sys_of(m->trace);
  /* tw_store_exec copies the values (text NUL-terminated) */
  tw_sql_val text = {.type = TW_SQL_TEXT, .s = m->body, .n = m->len};
  uint64_t t;
  if (!m->group_id) {
    tw_sql_val v[] = {TW_SQL_S(m->queue),     TW_SQL_S(id),        text,
                      TW_SQL_S(sys),          TW_SQL_S(m->sender), TW_SQL_I(m->now_ms),
                      TW_SQL_S(m->attrs_json)};
    /* The queue row is locked (FOR KEY SHARE) so that a concurrent
     * DeleteQueue either ran before (no row: nothing inserted) or waits for
     * this commit; a foreign-key failure would roll back every write of the
     * batch. The notification's payload is 'QUEUE_ID:1:MESSAGE_ID':
     * PostgreSQL folds identical payloads of one transaction into one, and a
     * batch may carry several messages to one queue; the SQS listener reads
     * 'QUEUE_ID:COUNT' and ignores the rest. */
    t = tw_store_exec(
        s,
        "WITH q AS (SELECT id, COALESCE(NULLIF(attrs::json->>'DelaySeconds', ''), '0')::bigint"
        " AS d FROM sqs_queues WHERE name = $1 AND NOT fifo FOR KEY SHARE),"
        " i AS (INSERT INTO sqs_messages (queue_id, msg_id, body, attrs, sys, sender_id, sent_ms,"
        " visible_at_ms) SELECT id, $2::text, $3::text, $7::text, $4::text, $5::text, $6::bigint,"
        " $6::bigint + d * 1000 FROM q"
        " RETURNING queue_id, visible_at_ms)"
        " SELECT pg_notify('tw_sqs', queue_id || ':1:' || $2::text) FROM i"
        " WHERE visible_at_ms <= $6::bigint",
        v, 7);
  } else {
    tw_sql_val v[] = {TW_SQL_S(m->queue),      TW_SQL_S(id),          text,
                      TW_SQL_S(sys),           TW_SQL_S(m->sender),   TW_SQL_I(m->now_ms),
                      TW_SQL_S(m->attrs_json), TW_SQL_S(m->group_id), TW_SQL_S(m->dedup_id)};
    /* A FIFO queue: sends to it take turns on its row (FOR UPDATE: this
     * statement sees the latest fifo_seq), as pg_sqs_more.c's FIFO send does.
     * The deduplication entry is claimed first: ON CONFLICT looks at the
     * latest committed entry (waiting for one in progress), so a live
     * duplicate, even one committed after this statement began, leaves `u`
     * empty and nothing is inserted; an expired entry is taken over. The
     * message gets the next sequence number. (`s` runs although nothing
     * reads it: PostgreSQL runs every data-modifying CTE to completion.) */
    t = tw_store_exec(
        s,
        "WITH q AS (SELECT id, fifo_seq,"
        " COALESCE(NULLIF(attrs::json->>'DelaySeconds', ''), '0')::bigint AS d,"
        " CASE WHEN attrs::json->>'DeduplicationScope' = 'messageGroup'"
        " THEN $8::text || chr(31) || $9::text ELSE $9::text END AS k"
        " FROM sqs_queues WHERE name = $1 AND fifo FOR UPDATE),"
        " u AS (INSERT INTO sqs_dedup (queue_id, key, msg_id, seqno, expires_ms)"
        " SELECT id, k, $2::text, fifo_seq + 1, $6::bigint + 300000 FROM q"
        " ON CONFLICT (queue_id, key) DO UPDATE SET msg_id = EXCLUDED.msg_id,"
        " seqno = EXCLUDED.seqno, expires_ms = EXCLUDED.expires_ms"
        " WHERE sqs_dedup.expires_ms <= $6::bigint RETURNING queue_id, seqno),"
        " s AS (UPDATE sqs_queues SET fifo_seq = u.seqno FROM u WHERE sqs_queues.id = u.queue_id"
        " RETURNING 1),"
        " i AS (INSERT INTO sqs_messages (queue_id, msg_id, body, attrs, sys, sender_id, sent_ms,"
        " visible_at_ms, group_id, seqno, dedup_id) SELECT u.queue_id, $2::text, $3::text,"
        " $7::text, $4::text, $5::text, $6::bigint, $6::bigint + q.d * 1000, $8::text, u.seqno,"
        " $9::text FROM u, q RETURNING queue_id, visible_at_ms)"
        " SELECT pg_notify('tw_sqs', queue_id || ':1:' || $2::text) FROM i"
        " WHERE visible_at_ms <= $6::bigint",
        v, 9);
  }
  free(sys);
  return t;
}
