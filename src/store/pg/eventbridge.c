/* EventBridge on PostgreSQL (cluster mode): the repositories of
 * store/eventbridge.h (buses, rules with their targets) and
 * store/eb_delivery.h (connections and API destinations, schedule marks, the
 * API destination outbox). Tables eb_buses, eb_rules, eb_objects, eb_marks,
 * eb_outbox.
 *
 * Every control-plane write (a bus, a rule, a connection or a destination)
 * bumps the "eventbridge" state counter (pg_state.h) in its own batch: every
 * node reloads its in-memory model when the counter moves. Schedule marks do
 * not bump it (only the node that runs the schedules reads them, when it takes
 * the lead). Outbox rows get their id from a sequence (the caller's id is a
 * node-local counter): out_claim leases due rows to one node (FOR UPDATE SKIP
 * LOCKED), so one node delivers a row, and another takes it once the lease
 * of a node that died has run out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "store/eb_delivery.h"
#include "store/eb_rows.h"
#include "store/eventbridge.h"
#include "store/pg/pg_eb_internal.h"
#include "store/pg/pg_s3_internal.h"
#include "store/pg_state.h"

const char *const tw_pg_eb_schema =
    "CREATE TABLE IF NOT EXISTS eb_buses (name text PRIMARY KEY, description text, tags text,"
    " created_ms bigint NOT NULL, modified_ms bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS eb_rules (bus text NOT NULL, name text NOT NULL, pattern text,"
    " schedule text, state text, description text, role_arn text, created_by text, tags text,"
    " targets text, created_ms bigint NOT NULL, modified_ms bigint NOT NULL,"
    " PRIMARY KEY (bus, name));"
    "CREATE TABLE IF NOT EXISTS eb_objects (kind text NOT NULL, name text NOT NULL,"
    " doc text NOT NULL, PRIMARY KEY (kind, name));"
    "CREATE TABLE IF NOT EXISTS eb_marks (bus text NOT NULL, rule text NOT NULL,"
    " last_ms bigint NOT NULL, PRIMARY KEY (bus, rule));"
    "CREATE TABLE IF NOT EXISTS eb_outbox (id bigserial PRIMARY KEY, rule_arn text NOT NULL,"
    " target text NOT NULL, request text NOT NULL, event text NOT NULL, body bytea NOT NULL,"
    " attempts integer NOT NULL DEFAULT 0, due_ms bigint NOT NULL, created_ms bigint NOT NULL);"
    "CREATE INDEX IF NOT EXISTS eb_outbox_due ON eb_outbox (due_ms, id);";

static uint64_t later(uint64_t a, uint64_t b) {
  return a > b ? a : b;
}

/* A control-plane row and the counter's bump, in one batch. */
static uint64_t changed(tw_store *s, const char *sql, const tw_sql_val *v, int n) {
  tw_store_hold(s);
  uint64_t t = tw_store_exec(s, sql, v, n);
  t = later(t, tw_store_pg_state_bump(s, TW_PG_EB_STATE));
  tw_store_release(s);
  return t;
}

/* --- buses and rules ------------------------------------------------------------ */

static uint64_t bus_put(tw_store *s, const tw_eb_bus_row *b) {
  tw_sql_val v[TW_EB_BUS_NCOLS];
  tw_eb_bus_vals(b, v);
  return changed(s,
                 "INSERT INTO eb_buses (name, description, tags, created_ms, modified_ms)"
                 " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET"
                 " description = EXCLUDED.description, tags = EXCLUDED.tags,"
                 " created_ms = EXCLUDED.created_ms, modified_ms = EXCLUDED.modified_ms",
                 v, TW_EB_BUS_NCOLS);
}

static uint64_t bus_delete(tw_store *s, const char *name) {
  tw_sql_val v[] = {TW_SQL_S(name)};
  return changed(s, "DELETE FROM eb_buses WHERE name = $1", v, 1);
}

static uint64_t rule_put(tw_store *s, const tw_eb_rule_row *r) {
  tw_sql_val v[TW_EB_RULE_NCOLS];
  tw_eb_rule_vals(r, v);
  return changed(s,
                 "INSERT INTO eb_rules (bus, name, pattern, schedule, state, description,"
                 " role_arn, created_by, tags, targets, created_ms, modified_ms) VALUES ($1, $2,"
                 " $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (bus, name) DO UPDATE"
                 " SET pattern = EXCLUDED.pattern, schedule = EXCLUDED.schedule,"
                 " state = EXCLUDED.state, description = EXCLUDED.description,"
                 " role_arn = EXCLUDED.role_arn, created_by = EXCLUDED.created_by,"
                 " tags = EXCLUDED.tags, targets = EXCLUDED.targets,"
                 " created_ms = EXCLUDED.created_ms, modified_ms = EXCLUDED.modified_ms",
                 v, TW_EB_RULE_NCOLS);
}

static uint64_t rule_delete(tw_store *s, const char *bus, const char *name) {
  tw_sql_val v[] = {TW_SQL_S(bus), TW_SQL_S(name)};
  return changed(s, "DELETE FROM eb_rules WHERE bus = $1 AND name = $2", v, 2);
}

static const char *text(const PGresult *r, int row, int c) {
  return PQgetisnull(r, row, c) ? NULL : PQgetvalue(r, row, c);
}

/* Runs one SELECT of the snapshot transaction on c; NULL after an error. */
static PGresult *snap_read(PGconn *c, const char *sql, int *broken) {
  PGresult *r = PQexec(c, sql);
  if (tw_pg_check(c, &r, PGRES_TUPLES_OK, sql, broken)) return NULL;
  return r;
}

/* Buses and rules in one snapshot (REPEATABLE READ) on one pooled connection. */
static int load(tw_store *s, int (*bus)(void *ud, const tw_eb_bus_row *row),
                int (*rule)(void *ud, const tw_eb_rule_row *row), void *ud) {
  tw_pg *pg = tw_pg_s3_pool(s);
  tw_pg_slot *slot = tw_pg_get(pg);
  if (!slot) {
    tw_warn("eventbridge: cannot read the buses and rules: PostgreSQL is away");
    return -1;
  }
  int broken = 0, rc = -1;
  PGresult *buses = NULL, *rules = NULL;
  if (tw_pg_exec(slot->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "eb load", &broken))
    goto out;
  buses = snap_read(slot->conn,
                    "SELECT name, description, tags, created_ms, modified_ms FROM eb_buses"
                    " ORDER BY name",
                    &broken);
  rules = buses ? snap_read(slot->conn,
                            "SELECT bus, name, pattern, schedule, state, description, role_arn,"
                            " created_by, tags, targets, created_ms, modified_ms FROM eb_rules"
                            " ORDER BY bus, name",
                            &broken)
                : NULL;
  if (!broken) tw_pg_exec(slot->conn, "COMMIT", "eb load", &broken);
  if (!rules) goto out;
  rc = 0;
  for (int i = 0; i < PQntuples(buses) && !rc; i++) {
    tw_eb_bus_row b = {.name = text(buses, i, 0),
                       .description = text(buses, i, 1),
                       .tags_json = text(buses, i, 2),
                       .created_ms = tw_pg_i64(buses, i, 3),
                       .modified_ms = tw_pg_i64(buses, i, 4)};
    if (bus(ud, &b)) rc = -1;
  }
  for (int i = 0; i < PQntuples(rules) && !rc; i++) {
    tw_eb_rule_row r = {.bus = text(rules, i, 0),
                        .name = text(rules, i, 1),
                        .pattern = text(rules, i, 2),
                        .schedule = text(rules, i, 3),
                        .state = text(rules, i, 4),
                        .description = text(rules, i, 5),
                        .role_arn = text(rules, i, 6),
                        .created_by = text(rules, i, 7),
                        .tags_json = text(rules, i, 8),
                        .targets_json = text(rules, i, 9),
                        .created_ms = tw_pg_i64(rules, i, 10),
                        .modified_ms = tw_pg_i64(rules, i, 11)};
    if (rule(ud, &r)) rc = -1;
  }
out:
  if (!rules && !broken) tw_pg_exec(slot->conn, "ROLLBACK", "eb load", &broken);
  PQclear(buses);
  PQclear(rules);
  tw_pg_put(pg, slot, broken);
  return rc;
}

const tw_eb_repo tw_pg_eb_repo = {.bus_put = bus_put,
                                  .bus_delete = bus_delete,
                                  .rule_put = rule_put,
                                  .rule_delete = rule_delete,
                                  .load = load};

/* --- connections, API destinations, marks ------------------------------------------- */

static uint64_t object_put(tw_store *s, const char *kind, const char *name, const char *doc) {
  tw_sql_val v[] = {TW_SQL_S(kind), TW_SQL_S(name), TW_SQL_S(doc)};
  return changed(s,
                 "INSERT INTO eb_objects (kind, name, doc) VALUES ($1, $2, $3)"
                 " ON CONFLICT (kind, name) DO UPDATE SET doc = EXCLUDED.doc",
                 v, 3);
}

static uint64_t object_delete(tw_store *s, const char *kind, const char *name) {
  tw_sql_val v[] = {TW_SQL_S(kind), TW_SQL_S(name)};
  return changed(s, "DELETE FROM eb_objects WHERE kind = $1 AND name = $2", v, 2);
}

static int object_load(tw_store *s,
                       int (*fn)(void *ud, const char *kind, const char *name, const char *doc),
                       void *ud) {
  PGresult *r =
      tw_pg_s3_read(s, "SELECT kind, name, doc FROM eb_objects ORDER BY kind, name", NULL, 0);
  if (!r) return -1;
  int rc = 0;
  for (int i = 0; i < PQntuples(r) && !rc; i++)
    if (fn(ud, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2))) rc = -1;
  PQclear(r);
  return rc;
}

static uint64_t mark_put(tw_store *s, const char *bus, const char *rule, int64_t last_ms) {
  tw_sql_val v[] = {TW_SQL_S(bus), TW_SQL_S(rule), TW_SQL_I(last_ms)};
  return tw_store_exec(s,
                       "INSERT INTO eb_marks (bus, rule, last_ms) VALUES ($1, $2, $3)"
                       " ON CONFLICT (bus, rule) DO UPDATE SET last_ms = EXCLUDED.last_ms",
                       v, 3);
}

static uint64_t mark_delete(tw_store *s, const char *bus, const char *rule) {
  tw_sql_val v[] = {TW_SQL_S(bus), TW_SQL_S(rule)};
  return tw_store_exec(s, "DELETE FROM eb_marks WHERE bus = $1 AND rule = $2", v, 2);
}

static int mark_load(tw_store *s,
                     int (*fn)(void *ud, const char *bus, const char *rule, int64_t last_ms),
                     void *ud) {
  PGresult *r = tw_pg_s3_read(s, "SELECT bus, rule, last_ms FROM eb_marks", NULL, 0);
  if (!r) return -1;
  int rc = 0;
  for (int i = 0; i < PQntuples(r) && !rc; i++)
    if (fn(ud, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), tw_pg_i64(r, i, 2))) rc = -1;
  PQclear(r);
  return rc;
}

/* --- the outbox -------------------------------------------------------------------- */

static uint64_t out_put(tw_store *s, const tw_eb_outbox_row *o) {
  /* the id: the sequence's (o->id counts on this node only) */
  tw_sql_val v[TW_EB_OUT_NCOLS];
  tw_eb_out_vals(o, v);
  return tw_store_exec(s,
                       "INSERT INTO eb_outbox (rule_arn, target, request, event, body, attempts,"
                       " due_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                       v, TW_EB_OUT_NCOLS);
}

static uint64_t out_reschedule(tw_store *s, uint64_t id, int attempts, int64_t due_ms) {
  tw_sql_val v[] = {TW_SQL_I(attempts), TW_SQL_I(due_ms), TW_SQL_I((int64_t)id)};
  return tw_store_exec(s, "UPDATE eb_outbox SET attempts = $1, due_ms = $2 WHERE id = $3", v, 3);
}

static uint64_t out_remove(tw_store *s, uint64_t id) {
  tw_sql_val v[] = {TW_SQL_I((int64_t)id)};
  return tw_store_exec(s, "DELETE FROM eb_outbox WHERE id = $1", v, 1);
}

static int out_max_id(tw_store *s, uint64_t *out) {
  PGresult *r = tw_pg_s3_read(s, "SELECT COALESCE(MAX(id), 0) FROM eb_outbox", NULL, 0);
  if (!r) return -1;
  *out = (uint64_t)tw_pg_i64(r, 0, 0);
  PQclear(r);
  return 0;
}

static int each_out(PGresult *r, void (*fn)(void *ud, const tw_eb_outbox_row *row), void *ud) {
  int n = 0;
  for (int i = 0; i < PQntuples(r); i++) {
    size_t len = 0;
    unsigned char *body = tw_pg_s3_bytes(r, i, 5, &len);
    if (!body) continue;
    tw_eb_outbox_row o = {.id = (uint64_t)tw_pg_i64(r, i, 0),
                          .rule_arn = PQgetvalue(r, i, 1),
                          .target = PQgetvalue(r, i, 2),
                          .request = PQgetvalue(r, i, 3),
                          .event = PQgetvalue(r, i, 4),
                          .body = body,
                          .body_len = len,
                          .attempts = (int)tw_pg_i64(r, i, 6),
                          .due_ms = tw_pg_i64(r, i, 7),
                          .created_ms = tw_pg_i64(r, i, 8)};
    fn(ud, &o);
    free(body);
    n++;
  }
  return n;
}

static int out_due(tw_store *s, int64_t now_ms, int limit,
                   void (*fn)(void *ud, const tw_eb_outbox_row *row), void *ud) {
  tw_sql_val v[] = {TW_SQL_I(now_ms), TW_SQL_I(limit)};
  PGresult *r = tw_pg_s3_read(s,
                              "SELECT id, rule_arn, target, request, event, body, attempts,"
                              " due_ms, created_ms FROM eb_outbox WHERE due_ms <= $1"
                              " ORDER BY due_ms, id LIMIT $2",
                              v, 2);
  if (!r) return -1;
  int n = each_out(r, fn, ud);
  PQclear(r);
  return n;
}

/* Leases up to limit due rows to this node until now_ms + lease_ms (their
 * due time moves there: no other node reads them before), in one statement. */
static int out_claim(tw_store *s, int64_t now_ms, int64_t lease_ms, int limit,
                     void (*fn)(void *ud, const tw_eb_outbox_row *row), void *ud) {
  tw_sql_val v[] = {TW_SQL_I(now_ms), TW_SQL_I(limit), TW_SQL_I(now_ms + lease_ms)};
  PGresult *r = tw_pg_s3_read(s,
                              "UPDATE eb_outbox SET due_ms = $3 WHERE id IN (SELECT id FROM"
                              " eb_outbox WHERE due_ms <= $1 ORDER BY due_ms, id LIMIT $2"
                              " FOR UPDATE SKIP LOCKED) RETURNING id, rule_arn, target, request,"
                              " event, body, attempts, due_ms, created_ms",
                              v, 3);
  if (!r) return -1;
  int n = each_out(r, fn, ud);
  PQclear(r);
  return n;
}

static long out_count(tw_store *s) {
  PGresult *r = tw_pg_s3_read(s, "SELECT COUNT(*) FROM eb_outbox", NULL, 0);
  if (!r) return -1;
  long n = (long)tw_pg_i64(r, 0, 0);
  PQclear(r);
  return n;
}

const tw_eb_delivery_repo tw_pg_eb_delivery_repo = {
    .object_put = object_put,
    .object_delete = object_delete,
    .object_load = object_load,
    .mark_put = mark_put,
    .mark_delete = mark_delete,
    .mark_load = mark_load,
    .out_put = out_put,
    .out_reschedule = out_reschedule,
    .out_remove = out_remove,
    .out_max_id = out_max_id,
    .out_due = out_due,
    .out_claim = out_claim,
    .out_count = out_count,
};
