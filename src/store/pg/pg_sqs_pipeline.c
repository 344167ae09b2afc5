/* TweedleDeleteAndSend on PostgreSQL (store/pg_sqs.h, sqs/sqs_pipeline.c
 * describes the action): the delete of the received message and the sends
 * to every target queue commit together or not at all, so a crash or a
 * failure between them can neither lose a pipeline's state nor run a step
 * twice. The delete comes first and takes the message's row: a concurrent
 * receive (FOR UPDATE SKIP LOCKED) passes it by, and a concurrent
 * DeleteAndSend with the same receipt waits and then finds it gone. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg/pg_sqs_internal.h"

int tw_pg_delete_and_send(tw_pg *pg, int64_t queue_id, int source_fifo, int64_t seq, uint32_t nonce,
                          tw_pg_send_to *to, int nto, int64_t now_ms) {
  tw_pg_slot *s = tw_pg_get(pg);
  if (!s) return TW_PG_UNAVAILABLE;
  int broken = 0;
  int rc = tw_pg_exec(s->conn, "BEGIN", "delete and send", &broken);
  if (!rc) {
    char b1[32], b2[32], b3[32];
    const char *p[] = {I64(b1, queue_id), I64(b2, seq), I64(b3, (int32_t)nonce)};
    PGresult *r;
    rc = tw_pg_sqs_q(s->conn, "delete and send: delete",
                     "DELETE FROM sqs_messages WHERE seq = $2 AND queue_id = $1 AND nonce = $3", 3,
                     p, PGRES_COMMAND_OK, &r, &broken);
    if (!rc && strcmp(PQcmdTuples(r), "1")) rc = TW_PG_CONFLICT; /* gone, or received again */
    PQclear(r);
  }
  /* the queues in id order: FIFO sends lock their queue's row */
  int order[16], k = 0;
  for (int i = 0; i < nto && i < 16; i++) {
    int j = k++;
    while (j > 0 && to[order[j - 1]].queue_id > to[i].queue_id) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = i;
  }
  for (int i = 0; i < k && !rc; i++) {
    tw_pg_send_to *t = &to[order[i]];
    int visible = 0;
    rc = t->fifo
             ? tw_pg_sqs_fifo_insert(s->conn, t->queue_id, t->m, t->n, now_ms, &visible, &broken)
             : tw_pg_sqs_insert_plain(s->conn, t->queue_id, t->m, t->n, now_ms, 0, &visible,
                                      &broken);
    if (!rc && visible) rc = tw_pg_sqs_notify(s->conn, t->queue_id, visible, &broken);
  }
  /* a FIFO group's next message may be served now */
  if (!rc && source_fifo) rc = tw_pg_sqs_notify(s->conn, queue_id, 1, &broken);
  rc = tw_pg_sqs_end(s->conn, rc, "delete and send commit", &broken);
  tw_pg_put(pg, s, broken);
  return rc;
}
