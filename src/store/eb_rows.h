/* EventBridge's rows as statement values (backend.h), the same whichever
 * store writes them: src/store/sqlite/eventbridge.c, sqlite/eb_delivery.c and
 * pg/eventbridge.c bind these in the column order their INSERTs name. Inside
 * src/store/ only. */
#ifndef TW_STORE_EB_ROWS_H
#define TW_STORE_EB_ROWS_H

#include "store/backend.h"
#include "store/eb_delivery.h"
#include "store/eventbridge.h"

/* name, description, tags, created_ms, modified_ms */
#define TW_EB_BUS_NCOLS 5
static inline void tw_eb_bus_vals(const tw_eb_bus_row *b, tw_sql_val *v) {
  v[0] = TW_SQL_S(b->name);
  v[1] = TW_SQL_S(b->description);
  v[2] = TW_SQL_S(b->tags_json);
  v[3] = TW_SQL_I(b->created_ms);
  v[4] = TW_SQL_I(b->modified_ms);
}

/* bus, name, pattern, schedule, state, description, role_arn, created_by,
 * tags, targets, created_ms, modified_ms */
#define TW_EB_RULE_NCOLS 12
static inline void tw_eb_rule_vals(const tw_eb_rule_row *r, tw_sql_val *v) {
  v[0] = TW_SQL_S(r->bus);
  v[1] = TW_SQL_S(r->name);
  v[2] = TW_SQL_S(r->pattern);
  v[3] = TW_SQL_S(r->schedule);
  v[4] = TW_SQL_S(r->state);
  v[5] = TW_SQL_S(r->description);
  v[6] = TW_SQL_S(r->role_arn);
  v[7] = TW_SQL_S(r->created_by);
  v[8] = TW_SQL_S(r->tags_json);
  v[9] = TW_SQL_S(r->targets_json);
  v[10] = TW_SQL_I(r->created_ms);
  v[11] = TW_SQL_I(r->modified_ms);
}

/* rule_arn, target, request, event, body, attempts, due_ms, created_ms: the
 * outbox row without its id (SQLite binds the id before these, PostgreSQL
 * takes it from a sequence) */
#define TW_EB_OUT_NCOLS 8
static inline void tw_eb_out_vals(const tw_eb_outbox_row *o, tw_sql_val *v) {
  v[0] = TW_SQL_S(o->rule_arn);
  v[1] = TW_SQL_S(o->target);
  v[2] = TW_SQL_S(o->request);
  v[3] = TW_SQL_S(o->event);
  v[4] = TW_SQL_B(o->body, o->body_len);
  v[5] = TW_SQL_I(o->attempts);
  v[6] = TW_SQL_I(o->due_ms);
  v[7] = TW_SQL_I(o->created_ms);
}

#endif
