/* The inline bodies on SQLite (blob_inline.h): one row a body. A rowid table,
 * not WITHOUT ROWID: bodies of several KiB would make the key's b-tree pages
 * spill into overflow chains. */
#include "store/blob_inline.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite/sqlite_internal.h"

uint64_t tw_store_blob_inline_put(tw_store *s, const char *id, const void *data, size_t n,
                                  int64_t created_ms) {
  tw_sql_val v[] = {TW_SQL_S(id), TW_SQL_I(created_ms), TW_SQL_B(data ? data : "", n)};
  return tw_store_exec(s, "INSERT OR REPLACE INTO blob_inline(id, created_ms, data) VALUES(?,?,?)",
                       v, 3);
}

uint64_t tw_store_blob_inline_delete(tw_store *s, const char *id) {
  tw_sql_val v[] = {TW_SQL_S(id)};
  return tw_store_exec(s, "DELETE FROM blob_inline WHERE id=?", v, 1);
}

int tw_store_blob_inline_get(tw_store *s, const char *id, void **data, size_t *n) {
  *data = NULL;
  *n = 0;
  sqlite3_stmt *st = tw_store_read_stmt(s, "SELECT data FROM blob_inline WHERE id=?");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st), found = -1;
  if (rc == SQLITE_ROW) {
    const void *p = sqlite3_column_blob(st, 0);
    size_t len = (size_t)sqlite3_column_bytes(st, 0);
    *data = malloc(len ? len : 1);
    if (*data) {
      if (len) memcpy(*data, p, len);
      *n = len;
      found = 1;
    }
  } else if (rc == SQLITE_DONE) {
    found = 0;
  }
  tw_store_read_done(st);
  return found;
}

int tw_store_blob_inline_list(tw_store *s, int64_t before_ms,
                              void (*fn)(void *ud, const char *id, uint64_t size), void *ud) {
  sqlite3_stmt *st = tw_store_read_stmt(
      s, "SELECT id, length(data) FROM blob_inline WHERE ?1 = 0 OR created_ms < ?1");
  if (!st) return -1;
  sqlite3_bind_int64(st, 1, before_ms);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(st, 0);
    if (id) fn(ud, id, (uint64_t)sqlite3_column_int64(st, 1));
  }
  tw_store_read_done(st);
  return rc == SQLITE_DONE ? 0 : -1;
}
