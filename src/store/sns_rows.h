/* SNS's rows as statement values (backend.h), the same whichever store
 * writes them: src/store/sqlite/sns.c, sqlite/sns_outbox.c, pg/sns.c and
 * pg/sns_outbox.c bind these in the column order their INSERTs name. Inside
 * src/store/ only. */
#ifndef TW_STORE_SNS_ROWS_H
#define TW_STORE_SNS_ROWS_H

#include "store/backend.h"
#include "store/sns.h"
#include "store/sns_outbox.h"

/* arn, name, fifo, created_ms, attrs, tags, seqno */
#define TW_SNS_TOPIC_NCOLS 7
static inline void tw_sns_topic_vals(const tw_sns_topic_row *t, tw_sql_val *v) {
  v[0] = TW_SQL_S(t->arn);
  v[1] = TW_SQL_S(t->name);
  v[2] = TW_SQL_I(t->fifo);
  v[3] = TW_SQL_I(t->created_ms);
  v[4] = TW_SQL_S(t->attrs_json);
  v[5] = TW_SQL_S(t->tags_json);
  v[6] = TW_SQL_I((int64_t)t->seqno);
}

/* arn, topic_arn, protocol, endpoint, owner, principal, attrs, pending,
 * authenticated, auth_unsubscribe, token, token_expires_ms, created_ms */
#define TW_SNS_SUB_NCOLS 13
static inline void tw_sns_sub_vals(const tw_sns_sub_row *r, tw_sql_val *v) {
  v[0] = TW_SQL_S(r->arn);
  v[1] = TW_SQL_S(r->topic_arn);
  v[2] = TW_SQL_S(r->protocol);
  v[3] = TW_SQL_S(r->endpoint);
  v[4] = TW_SQL_S(r->owner);
  v[5] = TW_SQL_S(r->principal);
  v[6] = TW_SQL_S(r->attrs_json);
  v[7] = TW_SQL_I(r->pending);
  v[8] = TW_SQL_I(r->authenticated);
  v[9] = TW_SQL_I(r->auth_unsubscribe);
  v[10] = TW_SQL_S(r->token);
  v[11] = TW_SQL_I(r->token_expires_ms);
  v[12] = TW_SQL_I(r->created_ms);
}

/* topic_arn, key, msg_id, seqno, expires_ms */
#define TW_SNS_DEDUP_NCOLS 5
static inline void tw_sns_dedup_vals(const tw_sns_dedup_row *d, tw_sql_val *v) {
  v[0] = TW_SQL_S(d->topic_arn);
  v[1] = TW_SQL_S(d->key);
  v[2] = TW_SQL_S(d->msg_id);
  v[3] = TW_SQL_I((int64_t)d->seqno);
  v[4] = TW_SQL_I(d->expires_ms);
}

/* sub_arn, topic_arn, protocol, endpoint, kind, msg_id, subject, from_name,
 * raw, body, attempts, due_ms, created_ms: the outbox row without its id
 * (SQLite binds the id before these, PostgreSQL takes it from a sequence) */
#define TW_SNS_OUT_NCOLS 13
static inline void tw_sns_out_vals(const tw_sns_outbox_row *r, tw_sql_val *v) {
  v[0] = TW_SQL_S(r->sub_arn);
  v[1] = TW_SQL_S(r->topic_arn);
  v[2] = TW_SQL_S(r->protocol);
  v[3] = TW_SQL_S(r->endpoint);
  v[4] = TW_SQL_S(r->kind);
  v[5] = TW_SQL_S(r->msg_id);
  v[6] = TW_SQL_S(r->subject);
  v[7] = TW_SQL_S(r->from_name);
  v[8] = TW_SQL_I(r->raw);
  v[9] = TW_SQL_B(r->body, r->body_len);
  v[10] = TW_SQL_I(r->attempts);
  v[11] = TW_SQL_I(r->due_ms);
  v[12] = TW_SQL_I(r->created_ms);
}

#endif
