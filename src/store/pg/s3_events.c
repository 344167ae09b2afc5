/* Cluster mode: S3 bucket event notifications to SQS queues on PostgreSQL
 * (pg_s3.h). The destination queues are the rows of sqs_queues (pg_sqs.c);
 * an event becomes an sqs_messages row appended to the S3 store's open batch,
 * so it commits in the same transaction as the object row that causes it,
 * with the pg_notify('tw_sqs', ...) that wakes the receives parked on that
 * queue on every node. Columns as pg_sqs.c's tw_pg_send writes them for a
 * SendMessage without message attributes. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "store/pg/pg_s3_internal.h"
#include "store/pg_s3.h"

int tw_store_pg_s3_queue(tw_store *s, const char *name, int *fifo, char **policy) {
  if (policy) *policy = NULL;
  tw_sql_val v[] = {TW_SQL_S(name)};
  PGresult *r = tw_pg_s3_read(s, "SELECT fifo, policy FROM sqs_queues WHERE name = $1", v, 1);
  if (!r) return -1;
  int rc = PQntuples(r) == 1;
  if (rc && fifo) *fifo = PQgetvalue(r, 0, 0)[0] == 't';
  if (rc && policy && !PQgetisnull(r, 0, 1)) *policy = strdup(PQgetvalue(r, 0, 1));
  PQclear(r);
  return rc;
}

uint64_t tw_store_pg_s3_enqueue(tw_store *s, const char *queue, const char *body, size_t len,
                                const char *sender, const char *trace, int64_t now_ms) {
  char id[37];
  tw_uuid4(id);
  /* sys: the AWSTraceHeader system attribute, as SendMessage stores it */
  char *sys = NULL;
  if (trace && *trace) {
    json_t *j =
        json_pack("{s:{s:s,s:s}}", "AWSTraceHeader", "DataType", "String", "StringValue", trace);
    sys = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
  }
  /* tw_store_exec copies the values (text NUL-terminated) */
  tw_sql_val text = {.type = TW_SQL_TEXT, .s = body, .n = len};
  tw_sql_val v[] = {TW_SQL_S(queue), TW_SQL_S(id),     text,
                    TW_SQL_S(sys),   TW_SQL_S(sender), TW_SQL_I(now_ms)};
  /* One statement. The queue row is locked (FOR KEY SHARE) so that a
   * concurrent DeleteQueue either ran before (no row: nothing inserted, as the
   * embedded engine drops an event to a missing queue) or waits for this
   * commit; a foreign-key failure would roll back every write of the batch.
   * Standard queues only (S3 refuses FIFO destinations). The queue's
   * DelaySeconds applies, as to any send. The notification's payload is
   * 'QUEUE_ID:1:MESSAGE_ID': PostgreSQL folds identical payloads of one
   * transaction into one, and a batch may carry several events to one queue;
   * the SQS listener reads 'QUEUE_ID:COUNT' and ignores the rest. */
  uint64_t t = tw_store_exec(
      s,
      "WITH q AS (SELECT id, COALESCE(NULLIF(attrs::json->>'DelaySeconds', ''), '0')::bigint AS d"
      " FROM sqs_queues WHERE name = $1 AND NOT fifo FOR KEY SHARE),"
      " i AS (INSERT INTO sqs_messages (queue_id, msg_id, body, attrs, sys, sender_id, sent_ms,"
      " visible_at_ms) SELECT id, $2::text, $3::text, NULL, $4::text, $5::text, $6::bigint,"
      " $6::bigint + d * 1000 FROM q"
      " RETURNING queue_id, visible_at_ms)"
      " SELECT pg_notify('tw_sqs', queue_id || ':1:' || $2::text) FROM i"
      " WHERE visible_at_ms <= $6::bigint",
      v, 6);
  free(sys);
  return t;
}
