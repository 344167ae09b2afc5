/* EventBridge's buses and rules in SQLite: the eb_buses and eb_rules tables
 * (schema.c, tw_sqlite_schema_events). */
#include <sqlite3.h>
#include <stdio.h>

#include "core/log.h"
#include "store/eb_rows.h"
#include "store/eventbridge.h"
#include "store/sqlite/sqlite_internal.h"

static uint64_t bus_put(tw_store *s, const tw_eb_bus_row *b) {
  tw_sql_val vals[TW_EB_BUS_NCOLS];
  tw_eb_bus_vals(b, vals);
  return tw_store_exec(s,
                       "INSERT OR REPLACE INTO eb_buses(name,description,tags,created_ms,"
                       "modified_ms) VALUES(?,?,?,?,?)",
                       vals, TW_EB_BUS_NCOLS);
}

static uint64_t bus_delete(tw_store *s, const char *name) {
  tw_sql_val vals[] = {TW_SQL_S(name)};
  return tw_store_exec(s, "DELETE FROM eb_buses WHERE name=?", vals, 1);
}

static uint64_t rule_put(tw_store *s, const tw_eb_rule_row *r) {
  tw_sql_val vals[TW_EB_RULE_NCOLS];
  tw_eb_rule_vals(r, vals);
  return tw_store_exec(s,
                       "INSERT OR REPLACE INTO eb_rules(bus,name,pattern,schedule,state,"
                       "description,role_arn,created_by,tags,targets,created_ms,modified_ms) "
                       "VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
                       vals, TW_EB_RULE_NCOLS);
}

static uint64_t rule_delete(tw_store *s, const char *bus, const char *name) {
  tw_sql_val vals[] = {TW_SQL_S(bus), TW_SQL_S(name)};
  return tw_store_exec(s, "DELETE FROM eb_rules WHERE bus=? AND name=?", vals, 2);
}

static const char *col(sqlite3_stmt *st, int i) {
  return (const char *)sqlite3_column_text(st, i);
}

static int load(tw_store *s, int (*bus)(void *ud, const tw_eb_bus_row *row),
                int (*rule)(void *ud, const tw_eb_rule_row *row), void *ud) {
  /* read at start and after a failed commit: prepared here, not cached */
  sqlite3 *db = tw_store_reader(s);
  if (!db) return -1;
  if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
    tw_error("store: cannot read the event buses: %s", sqlite3_errmsg(db));
    return -1;
  }
  int result = -1, rc = SQLITE_DONE;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db,
                         "SELECT name,description,tags,created_ms,modified_ms FROM eb_buses "
                         "ORDER BY name",
                         -1, &st, NULL) != SQLITE_OK)
    goto fail;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    tw_eb_bus_row b = {.name = col(st, 0),
                       .description = col(st, 1),
                       .tags_json = col(st, 2),
                       .created_ms = sqlite3_column_int64(st, 3),
                       .modified_ms = sqlite3_column_int64(st, 4)};
    if (bus(ud, &b)) {
      rc = SQLITE_ABORT;
      break;
    }
  }
  sqlite3_finalize(st);
  st = NULL;
  if (rc != SQLITE_DONE) goto fail;
  if (sqlite3_prepare_v2(db,
                         "SELECT bus,name,pattern,schedule,state,description,role_arn,created_by,"
                         "tags,targets,created_ms,modified_ms FROM eb_rules ORDER BY bus,name",
                         -1, &st, NULL) != SQLITE_OK)
    goto fail;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    tw_eb_rule_row r = {.bus = col(st, 0),
                        .name = col(st, 1),
                        .pattern = col(st, 2),
                        .schedule = col(st, 3),
                        .state = col(st, 4),
                        .description = col(st, 5),
                        .role_arn = col(st, 6),
                        .created_by = col(st, 7),
                        .tags_json = col(st, 8),
                        .targets_json = col(st, 9),
                        .created_ms = sqlite3_column_int64(st, 10),
                        .modified_ms = sqlite3_column_int64(st, 11)};
    if (rule(ud, &r)) {
      rc = SQLITE_ABORT;
      break;
    }
  }
  if (rc == SQLITE_DONE) result = 0;
fail:
  if (result && rc != SQLITE_ABORT)
    tw_error("store: cannot read the event buses and rules: %s", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  return result;
}

static const tw_eb_repo repo = {.bus_put = bus_put,
                                .bus_delete = bus_delete,
                                .rule_put = rule_put,
                                .rule_delete = rule_delete,
                                .load = load};

const tw_eb_repo *tw_store_eventbridge(tw_store *s) {
  const tw_store_repos *other = tw_store_repos_of(s); /* another backend's (backend.h) */
  return other && other->eventbridge ? other->eventbridge : &repo;
}
