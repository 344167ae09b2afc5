/* The SNS outbox on PostgreSQL (cluster mode): table sns_outbox (schema in
 * sns.c). Rows are appended in the publisher's batch; a node's delivery
 * dispatcher claims the rows that are due with one statement (FOR UPDATE SKIP
 * LOCKED, then a lease: lease_until and owner), so two nodes never deliver a
 * row at the same time; a row claimed by a node that died is claimed by
 * another once its lease ran out (TWEEDLE_SNS_LEASE_MS, 60 s by default:
 * longer than a delivery's timeout). Ids come from the table's sequence: the
 * caller's id is ignored (nodes would hand out the same ones). */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/log.h"
#include "store/pg/pg_s3_internal.h"
#include "store/sns_outbox.h"
#include "store/sns_rows.h"

static char node_id[33];
static pthread_once_t node_once = PTHREAD_ONCE_INIT;

static void make_node_id(void) {
  uint8_t raw[16];
  tw_random_bytes(raw, sizeof raw);
  tw_hex(raw, sizeof raw, node_id);
  tw_info("sns: this node claims outbox rows as %s", node_id);
}

static int64_t lease_ms(void) {
  const char *v = getenv("TWEEDLE_SNS_LEASE_MS");
  long long n = v && *v ? atoll(v) : 0;
  return n > 0 ? n : 60000;
}

static uint64_t put(tw_store *s, const tw_sns_outbox_row *r) {
  tw_sql_val v[TW_SNS_OUT_NCOLS];
  tw_sns_out_vals(r, v);
  return tw_store_exec(s,
                       "INSERT INTO sns_outbox (sub_arn, topic_arn, protocol, endpoint, kind,"
                       " msg_id, subject, from_name, raw, body, attempts, due_ms, created_ms)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                       v, TW_SNS_OUT_NCOLS);
}

static uint64_t reschedule(tw_store *s, uint64_t id, int attempts, int64_t due_ms) {
  tw_sql_val v[] = {TW_SQL_I(attempts), TW_SQL_I(due_ms), TW_SQL_I((int64_t)id)};
  /* the lease ends with the attempt: any node may take the retry */
  return tw_store_exec(s,
                       "UPDATE sns_outbox SET attempts = $1, due_ms = $2, lease_until = 0,"
                       " owner = NULL WHERE id = $3",
                       v, 3);
}

static uint64_t remove_row(tw_store *s, uint64_t id) {
  tw_sql_val v[] = {TW_SQL_I((int64_t)id)};
  return tw_store_exec(s, "DELETE FROM sns_outbox WHERE id = $1", v, 1);
}

static int max_id(tw_store *s, uint64_t *out) {
  (void)s;
  *out = 0; /* ids are the table's sequence */
  return 0;
}

/* Claims up to limit due rows: free ones, ones whose lease ran out, and this
 * node's own (their lease is renewed: a delivery in flight keeps its row). */
static int due(tw_store *s, int64_t now_ms, int limit,
               void (*fn)(void *ud, const tw_sns_outbox_row *row), void *ud) {
  pthread_once(&node_once, make_node_id);
  if (limit > 64) limit = 64; /* leave the rest to the other nodes */
  tw_sql_val v[] = {TW_SQL_I(now_ms), TW_SQL_I(limit), TW_SQL_I(now_ms + lease_ms()),
                    TW_SQL_S(node_id)};
  PGresult *r = tw_pg_s3_read(
      s,
      "WITH c AS (SELECT id FROM sns_outbox WHERE due_ms <= $1 AND (lease_until < $1 OR owner = $4)"
      " ORDER BY due_ms, id LIMIT $2 FOR UPDATE SKIP LOCKED)"
      " UPDATE sns_outbox o SET lease_until = $3, owner = $4 FROM c WHERE o.id = c.id"
      " RETURNING o.id, o.sub_arn, o.topic_arn, o.protocol, o.endpoint, o.kind, o.msg_id,"
      " o.subject, o.from_name, o.raw, o.body, o.attempts, o.due_ms, o.created_ms",
      v, 4);
  if (!r) return -1;
  int n = PQntuples(r);
  /* in due order, as the embedded store hands them out */
  int *order = malloc((size_t)(n ? n : 1) * sizeof *order);
  for (int i = 0; i < n; i++) order[i] = i;
  for (int i = 1; i < n; i++) { /* insertion sort: at most 64 rows */
    int k = order[i], j = i - 1;
    int64_t dk = tw_pg_i64(r, k, 12), ik = tw_pg_i64(r, k, 0);
    while (j >= 0 && (tw_pg_i64(r, order[j], 12) > dk ||
                      (tw_pg_i64(r, order[j], 12) == dk && tw_pg_i64(r, order[j], 0) > ik))) {
      order[j + 1] = order[j];
      j--;
    }
    order[j + 1] = k;
  }
  for (int x = 0; x < n; x++) {
    int i = order[x];
    size_t blen = 0;
    unsigned char *body = tw_pg_s3_bytes(r, i, 10, &blen);
    tw_sns_outbox_row row = {.id = (uint64_t)tw_pg_i64(r, i, 0),
                             .sub_arn = tw_pg_s3_text(r, i, 1),
                             .topic_arn = tw_pg_s3_text(r, i, 2),
                             .protocol = tw_pg_s3_text(r, i, 3),
                             .endpoint = tw_pg_s3_text(r, i, 4),
                             .kind = tw_pg_s3_text(r, i, 5),
                             .msg_id = tw_pg_s3_text(r, i, 6),
                             .subject = tw_pg_s3_text(r, i, 7),
                             .from_name = tw_pg_s3_text(r, i, 8),
                             .raw = (int)tw_pg_i64(r, i, 9),
                             .body = body ? (const void *)body : "",
                             .body_len = body ? blen : 0,
                             .attempts = (int)tw_pg_i64(r, i, 11),
                             .due_ms = tw_pg_i64(r, i, 12),
                             .created_ms = tw_pg_i64(r, i, 13)};
    if (row.sub_arn && row.topic_arn && row.protocol && row.endpoint && row.kind && row.msg_id)
      fn(ud, &row);
    free(body);
  }
  free(order);
  PQclear(r);
  return n;
}

static long count(tw_store *s) {
  PGresult *r = tw_pg_s3_read(s, "SELECT COUNT(*) FROM sns_outbox", NULL, 0);
  if (!r) return -1;
  long n = PQntuples(r) ? (long)tw_pg_i64(r, 0, 0) : -1;
  PQclear(r);
  return n;
}

const tw_sns_outbox_repo tw_pg_sns_outbox_repo = {
    .put = put,
    .reschedule = reschedule,
    .remove = remove_row,
    .max_id = max_id,
    .due = due,
    .count = count,
};
