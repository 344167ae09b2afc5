/* Inside the SQS repository on PostgreSQL: what pg_sqs.c, pg_sqs_more.c and
 * pg_sqs_move.c share. */
#ifndef TW_STORE_PG_SQS_INTERNAL_H
#define TW_STORE_PG_SQS_INTERNAL_H
#include <inttypes.h>
#include <stdio.h>

#include "store/pg/pg_internal.h"
#include "store/pg_sqs.h"

/* An integer as a statement parameter, in buf (char[32]); evaluates to buf. */
#define I64(buf, v) (snprintf(buf, sizeof buf, "%" PRId64, (int64_t)(v)), buf)

/* One statement on connection c; *out kept on success (pg_sqs_more.c). */
int tw_pg_sqs_q(PGconn *c, const char *what, const char *sql, int n, const char *const *p,
                ExecStatusType want, PGresult **out, int *broken);
/* A one-statement call on a connection of its own: *out receives the result
 * (the caller clears it) (pg_sqs.c). */
int tw_pg_sqs_run(tw_pg *pg, const char *what, const char *sql, int n, const char *const *p,
                  ExecStatusType want, PGresult **out);
/* "{a,b,...}" of n integers, malloc'd (NULL when out of memory) (pg_sqs.c). */
char *tw_pg_sqs_int_array(const int64_t *v, int n);
/* NOTIFY tw_sqs, 'QUEUE_ID:N' on c (pg_sqs_more.c). */
int tw_pg_sqs_notify(PGconn *c, int64_t qid, int n, int *broken);
/* Ends c's transaction: COMMIT when rc is 0 (what: for the log), else
 * ROLLBACK; nothing when the connection broke. The result (pg_sqs_more.c). */
int tw_pg_sqs_end(PGconn *c, int rc, const char *what, int *broken);

/* Standard-queue rows, one INSERT each (m[i].seq set): inside c's open
 * transaction, or alone (n == 1). notify: a message visible now notifies in
 * its own statement; else the caller notifies *visible (those visible now)
 * (pg_sqs.c). */
int tw_pg_sqs_insert_plain(PGconn *c, int64_t queue_id, tw_pg_send_msg *m, int n, int64_t now_ms,
                           int notify, int *visible, int *broken);

/* The FIFO send of tw_pg_send_fifo inside c's open transaction (the queue's
 * row locked until its end), without the NOTIFY: *visible is the number of
 * messages stored visible now (pg_sqs_more.c). */
int tw_pg_sqs_fifo_insert(PGconn *c, int64_t queue_id, tw_pg_send_msg *m, int n, int64_t now_ms,
                          int *visible, int *broken);

#endif
