/* The gateway's API keys in SQLite: the apikeys table (schema.c). */
#include <sqlite3.h>
#include <stdio.h>

#include "core/log.h"
#include "store/gw_rows.h"
#include "store/sqlite/sqlite_internal.h"

static uint64_t insert(tw_store *s, const tw_gw_apikey_row *k) {
  /* rate and burst go in as text: the REAL column reads them back as numbers */
  tw_gw_apikey_nums nums;
  tw_sql_val vals[TW_GW_APIKEY_NCOLS];
  tw_gw_apikey_vals(k, &nums, vals);
  return tw_store_exec(s,
                       "INSERT INTO apikeys(id,hash,name,prefix,scopes,created_ms,expires_ms,"
                       "revoked_ms,rate,burst) VALUES(?,?,?,?,?,?,?,NULL,?,?)",
                       vals, 9);
}

static uint64_t revoke(tw_store *s, const char *id, int64_t revoked_ms) {
  tw_sql_val vals[] = {TW_SQL_I(revoked_ms), TW_SQL_S(id)};
  return tw_store_exec(s, "UPDATE apikeys SET revoked_ms=? WHERE id=?", vals, 2);
}

static const char *col(sqlite3_stmt *st, int i) {
  const char *v = (const char *)sqlite3_column_text(st, i);
  return v ? v : "";
}

static int list(tw_store *s, int (*fn)(void *ud, const tw_gw_apikey_row *row), void *ud) {
  /* read once, at start: prepared here rather than kept in the reader's cache */
  sqlite3 *db = tw_store_reader(s);
  sqlite3_stmt *st = NULL;
  if (!db ||
      sqlite3_prepare_v2(db,
                         "SELECT id,hash,name,prefix,scopes,created_ms,expires_ms,revoked_ms,"
                         "rate,burst FROM apikeys ORDER BY created_ms,id",
                         -1, &st, NULL) != SQLITE_OK) {
    tw_error("store: cannot read the API keys: %s", db ? sqlite3_errmsg(db) : "no reader");
    sqlite3_finalize(st);
    return -1;
  }
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    tw_gw_apikey_row k = {
        .id = col(st, 0),
        .hash = col(st, 1),
        .name = col(st, 2),
        .prefix = col(st, 3),
        .scopes_json = col(st, 4),
        .created_ms = sqlite3_column_int64(st, 5),
        .expires_ms = sqlite3_column_int64(st, 6),
        .revoked_ms = sqlite3_column_int64(st, 7),
        .rate = sqlite3_column_type(st, 8) != SQLITE_NULL ? sqlite3_column_double(st, 8) : -1,
        .burst = sqlite3_column_type(st, 9) != SQLITE_NULL ? sqlite3_column_double(st, 9) : -1,
    };
    if (fn(ud, &k)) break;
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static const tw_gw_apikeys_repo repo = {.insert = insert, .revoke = revoke, .list = list};

const tw_gw_apikeys_repo *tw_store_gw_apikeys(tw_store *s) {
  const tw_store_repos *other = tw_store_repos_of(s); /* another backend's (backend.h) */
  return other && other->gw_apikeys ? other->gw_apikeys : &repo;
}
