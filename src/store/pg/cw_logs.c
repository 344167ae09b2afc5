/* CloudWatch Logs on PostgreSQL (cluster mode): tables cw_log_groups,
 * cw_log_streams and cw_log_events. Every call is committed when it returns
 * (autocommit statements on the pool, or one transaction on a pooled
 * connection), not through the store's batches: the Logs engine keeps no
 * catalog in memory in cluster mode, so what a call answers must already be
 * what every node reads (cw_logs.h, "the catalog in the database").
 *
 * Concurrency: an append to a stream takes a KEY SHARE lock on the stream's
 * row (appends do not wait for each other, even on one stream from several
 * nodes) and, in the statement that inserts its events, adds one row to
 * cw_log_stream_puts (its first/last times, ingestion time, bytes) instead
 * of updating the stream's row, which would make the appends to one stream
 * take turns until each commit. Reads see a stream through the view
 * cw_log_streams_now (its row plus its pending puts); the node that sweeps
 * folds the puts into the rows (streams_fold: one statement deletes them
 * and updates the rows). Deleting a stream or a group deletes its row(s)
 * first — waiting for the appends in flight (their KEY SHARE locks) — then,
 * in a second statement of the same transaction (a fresh snapshot), the
 * events: an append either committed before (its events are deleted) or
 * finds no row (nothing inserted). Events carry no foreign key (one index
 * check less per event). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "store/cw_logs.h"
#include "store/pg/pg_internal.h"
#include "store/pg/pg_s3_internal.h"
#include "store/pg_s3.h"

/* Names sort as bytes (COLLATE "C"), as the embedded engine sorts them. */
const char *const tw_pg_logs_schema =
    "CREATE TABLE IF NOT EXISTS cw_log_groups (id bigserial PRIMARY KEY,"
    " name text COLLATE \"C\" NOT NULL UNIQUE, created_ms bigint NOT NULL,"
    " retention_days integer NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS cw_log_streams (id bigserial PRIMARY KEY,"
    " group_id bigint NOT NULL REFERENCES cw_log_groups (id) ON DELETE CASCADE,"
    " name text COLLATE \"C\" NOT NULL, created_ms bigint NOT NULL,"
    " first_ts bigint NOT NULL DEFAULT 0, last_ts bigint NOT NULL DEFAULT 0,"
    " last_ingest_ms bigint NOT NULL DEFAULT 0, stored_bytes bigint NOT NULL DEFAULT 0,"
    " token bigint NOT NULL DEFAULT 1, UNIQUE (group_id, name));"
    "CREATE TABLE IF NOT EXISTS cw_log_events (seq bigserial, group_id bigint NOT NULL,"
    " stream_id bigint NOT NULL, ts bigint NOT NULL, ingest_ms bigint NOT NULL,"
    " msg text NOT NULL);"
    "CREATE INDEX IF NOT EXISTS cw_log_events_stream ON cw_log_events (stream_id, ts, seq);"
    "CREATE INDEX IF NOT EXISTS cw_log_events_group ON cw_log_events (group_id, ts, seq);"
    "CREATE TABLE IF NOT EXISTS cw_log_stream_puts (stream_id bigint NOT NULL,"
    " first_ts bigint NOT NULL, last_ts bigint NOT NULL, ingest_ms bigint NOT NULL,"
    " bytes bigint NOT NULL);"
    "CREATE INDEX IF NOT EXISTS cw_log_stream_puts_stream ON cw_log_stream_puts (stream_id);"
    "CREATE OR REPLACE VIEW cw_log_streams_now AS SELECT s.id, s.group_id, s.name,"
    " s.created_ms, CASE WHEN p.f IS NULL THEN s.first_ts WHEN s.first_ts = 0 THEN p.f"
    " ELSE LEAST(s.first_ts, p.f) END AS first_ts, GREATEST(s.last_ts, COALESCE(p.l, 0))"
    " AS last_ts, GREATEST(s.last_ingest_ms, COALESCE(p.i, 0)) AS last_ingest_ms,"
    " s.stored_bytes + COALESCE(p.b, 0) AS stored_bytes, s.token + COALESCE(p.n, 0) AS token"
    " FROM cw_log_streams s LEFT JOIN LATERAL (SELECT min(first_ts) AS f, max(last_ts) AS l,"
    " max(ingest_ms) AS i, sum(bytes) AS b, count(*) AS n FROM cw_log_stream_puts"
    " WHERE stream_id = s.id) p ON true;";

/* A single autocommit statement returning rows, on the pool. */
static PGresult *rd(tw_store *s, const char *sql, const tw_sql_val *v, int n) {
  return tw_pg_s3_read(s, sql, v, n);
}

/* A read: tried again while it fails on connections PostgreSQL closed (after
 * a restart the pool may hold several; each is dropped when found), at most
 * 4 times; while PostgreSQL is away the pool answers at once. */
static PGresult *rd_again(tw_store *s, const char *sql, const tw_sql_val *v, int n) {
  PGresult *r = NULL;
  for (int i = 0; i < 4 && !r; i++) {
    r = tw_pg_s3_read(s, sql, v, n);
    if (!r && !tw_store_pg_s3_unavailable(s)) break; /* not a connection error */
  }
  return r;
}

/* --- transactions of their own ----------------------------------------------------- */

static PGresult *q(PGconn *c, const char *sql, int n, const char *const *p) {
  return PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
}

/* Deletes the row(s) with `del` (params p, n; its one result row's first
 * column an id, none: not there), then the events with `events` ($1 that id),
 * in one transaction. 1 deleted, 0 no row, -1. *extra: the del row's second
 * column (0 when it has none). */
static int drop_tx(tw_store *s, const char *del, int n, const char *const *p, const char *events,
                   int64_t *extra) {
  tw_pg *pg = tw_pg_s3_pool(s);
  tw_pg_slot *slot = tw_pg_get(pg);
  if (!slot) return -1;
  PGconn *c = slot->conn;
  int broken = 0, found = 0;
  int rc = tw_pg_exec(c, "BEGIN", "logs delete", &broken);
  PGresult *r = NULL;
  char id[32] = "";
  if (!rc) {
    r = q(c, del, n, p);
    rc = tw_pg_check(c, &r, PGRES_TUPLES_OK, "logs delete", &broken);
    if (!rc && PQntuples(r) == 1) {
      if (!PQgetisnull(r, 0, 0)) {
        found = 1;
        snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
      }
      if (extra) *extra = PQnfields(r) > 1 ? tw_pg_i64(r, 0, 1) : 0;
    }
    PQclear(r);
  }
  if (!rc && found) {
    const char *pe[] = {id};
    r = q(c, events, 1, pe);
    rc = tw_pg_check(c, &r, PGRES_COMMAND_OK, "logs delete events", &broken);
    PQclear(r);
  }
  if (!rc) rc = tw_pg_exec(c, "COMMIT", "logs delete commit", &broken);
  if (rc && !broken) {
    int b = 0;
    tw_pg_exec(c, "ROLLBACK", "logs delete rollback", &b);
    broken = b;
  }
  tw_pg_put(pg, slot, broken);
  return rc ? -1 : found;
}

/* --- groups ------------------------------------------------------------------------- */

static int group_create(tw_store *s, const char *name, int64_t created_ms) {
  tw_sql_val v[] = {TW_SQL_S(name), TW_SQL_I(created_ms)};
  PGresult *r = rd(s,
                   "INSERT INTO cw_log_groups (name, created_ms) VALUES ($1, $2)"
                   " ON CONFLICT (name) DO NOTHING RETURNING id",
                   v, 2);
  if (!r) return -1;
  int rc = PQntuples(r) == 1;
  PQclear(r);
  return rc;
}

static int group_drop(tw_store *s, const char *name) {
  const char *p[] = {name};
  /* the streams go with the group (ON DELETE CASCADE), waiting for appends in flight */
  return drop_tx(s, "DELETE FROM cw_log_groups WHERE name = $1 RETURNING id", 1, p,
                 "DELETE FROM cw_log_events WHERE group_id = $1", NULL);
}

static int group_retention(tw_store *s, const char *name, int days) {
  tw_sql_val v[] = {TW_SQL_S(name), TW_SQL_I(days)};
  PGresult *r =
      rd(s, "UPDATE cw_log_groups SET retention_days = $2 WHERE name = $1 RETURNING id", v, 2);
  if (!r) return -1;
  int rc = PQntuples(r) == 1;
  PQclear(r);
  return rc;
}

#define GROUP_COLS                                                                          \
  "SELECT g.id, g.name, g.created_ms, g.retention_days, COALESCE((SELECT sum(stored_bytes)" \
  " FROM cw_log_streams_now s WHERE s.group_id = g.id), 0) FROM cw_log_groups g"

static void group_of(const PGresult *r, int i, tw_log_group_row *g) {
  *g = (tw_log_group_row){.id = tw_pg_i64(r, i, 0),
                          .name = PQgetvalue(r, i, 1),
                          .created_ms = tw_pg_i64(r, i, 2),
                          .retention_days = (int)tw_pg_i64(r, i, 3)};
}

static int group_get(tw_store *s, const char *name, tw_log_group_row *g, int64_t *stored_bytes) {
  tw_sql_val v[] = {TW_SQL_S(name)};
  PGresult *r = rd_again(s, GROUP_COLS " WHERE g.name = $1", v, 1);
  if (!r) return -1;
  int rc = PQntuples(r) == 1;
  if (rc) {
    group_of(r, 0, g);
    g->name = name;
    if (stored_bytes) *stored_bytes = tw_pg_i64(r, 0, 4);
  }
  PQclear(r);
  return rc;
}

static int group_list(tw_store *s, const char *after, const char *prefix, const char *pattern,
                      int limit, void (*fn)(void *ud, const tw_log_group_row *g, int64_t bytes),
                      void *ud) {
  /* '' is before every name (names are not empty), a prefix '' and a pattern
   * '' match all; `>= prefix` lets the index start there */
  tw_sql_val v[] = {TW_SQL_S(after ? after : ""), TW_SQL_S(prefix ? prefix : ""),
                    TW_SQL_S(pattern ? pattern : ""), TW_SQL_I(limit)};
  PGresult *r = rd_again(s,
                         GROUP_COLS
                         " WHERE g.name > $1 AND g.name >= $2 AND starts_with(g.name, $2)"
                         " AND strpos(g.name, $3) > 0 ORDER BY g.name LIMIT $4",
                         v, 4);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++) {
    tw_log_group_row g;
    group_of(r, i, &g);
    fn(ud, &g, tw_pg_i64(r, i, 4));
  }
  PQclear(r);
  return 0;
}

static int group_retained(tw_store *s, void (*fn)(void *ud, const tw_log_group_row *g), void *ud) {
  PGresult *r =
      rd_again(s, "SELECT id, retention_days FROM cw_log_groups WHERE retention_days > 0", NULL, 0);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++) {
    tw_log_group_row g = {.id = tw_pg_i64(r, i, 0), .retention_days = (int)tw_pg_i64(r, i, 1)};
    fn(ud, &g);
  }
  PQclear(r);
  return 0;
}

/* --- streams ------------------------------------------------------------------------ */

static int stream_create(tw_store *s, const char *group, const char *name, int64_t created_ms) {
  tw_sql_val v[] = {TW_SQL_S(group), TW_SQL_S(name), TW_SQL_I(created_ms)};
  PGresult *r = rd(s,
                   "WITH g AS (SELECT id FROM cw_log_groups WHERE name = $1),"
                   " i AS (INSERT INTO cw_log_streams (group_id, name, created_ms)"
                   " SELECT id, $2, $3 FROM g ON CONFLICT (group_id, name) DO NOTHING"
                   " RETURNING id)"
                   " SELECT (SELECT count(*) FROM g), (SELECT count(*) FROM i)",
                   v, 3);
  if (!r) return -1;
  int rc = PQntuples(r) != 1 ? -1 : !tw_pg_i64(r, 0, 0) ? TW_LOGS_NO_GROUP : tw_pg_i64(r, 0, 1) > 0;
  PQclear(r);
  return rc;
}

static int stream_drop(tw_store *s, const char *group, const char *name) {
  const char *p[] = {group, name};
  int64_t has_group = 0;
  /* one row: the stream's id (NULL: no such stream), whether the group exists */
  int rc = drop_tx(s,
                   "WITH g AS (SELECT id FROM cw_log_groups WHERE name = $1),"
                   " d AS (DELETE FROM cw_log_streams s USING g WHERE s.group_id = g.id"
                   " AND s.name = $2 RETURNING s.id)"
                   " SELECT (SELECT id FROM d), (SELECT count(*) FROM g)",
                   2, p, "DELETE FROM cw_log_events WHERE stream_id = $1", &has_group);
  if (rc == 0 && !has_group) return TW_LOGS_NO_GROUP;
  return rc;
}

#define STREAM_COLS                                                                  \
  "id, group_id, name, created_ms, first_ts, last_ts, last_ingest_ms, stored_bytes," \
  " token"

static void stream_of(const PGresult *r, int i, int col, tw_log_stream_row *st, uint64_t *token) {
  *st = (tw_log_stream_row){.id = tw_pg_i64(r, i, col),
                            .group_id = tw_pg_i64(r, i, col + 1),
                            .name = PQgetvalue(r, i, col + 2),
                            .created_ms = tw_pg_i64(r, i, col + 3),
                            .first_ts = tw_pg_i64(r, i, col + 4),
                            .last_ts = tw_pg_i64(r, i, col + 5),
                            .last_ingest_ms = tw_pg_i64(r, i, col + 6),
                            .stored_bytes = tw_pg_i64(r, i, col + 7)};
  if (token) *token = (uint64_t)tw_pg_i64(r, i, col + 8);
}

static int stream_get(tw_store *s, const char *group, const char *name, tw_log_group_row *g,
                      tw_log_stream_row *st, uint64_t *token) {
  tw_sql_val v[] = {TW_SQL_S(group), TW_SQL_S(name)};
  PGresult *r =
      rd_again(s,
               "SELECT g.id, g.name, g.created_ms, g.retention_days, s.id, s.group_id, s.name,"
               " s.created_ms, s.first_ts, s.last_ts, s.last_ingest_ms, s.stored_bytes,"
               " s.token FROM cw_log_groups g LEFT JOIN cw_log_streams_now s"
               " ON s.group_id = g.id AND s.name = $2 WHERE g.name = $1",
               v, 2);
  if (!r) return -1;
  int rc = TW_LOGS_NO_GROUP;
  if (PQntuples(r) == 1) {
    group_of(r, 0, g);
    g->name = group;
    rc = !PQgetisnull(r, 0, 4);
    if (rc) {
      stream_of(r, 0, 4, st, token);
      st->name = name;
    }
  }
  PQclear(r);
  return rc;
}

static int stream_list(tw_store *s, int64_t group_id, const char *prefix, int by_time, int desc,
                       int64_t offset, int limit,
                       void (*fn)(void *ud, const tw_log_stream_row *r, uint64_t token), void *ud) {
  tw_sql_val v[] = {TW_SQL_I(group_id), TW_SQL_S(prefix ? prefix : ""), TW_SQL_I(limit),
                    TW_SQL_I(offset)};
  const char *sql; /* literals: statements are known by their text */
  if (by_time && desc)
    sql = "SELECT " STREAM_COLS
          " FROM cw_log_streams_now WHERE group_id = $1 AND"
          " starts_with(name, $2) ORDER BY last_ts DESC, name DESC LIMIT $3 OFFSET $4";
  else if (by_time)
    sql = "SELECT " STREAM_COLS
          " FROM cw_log_streams_now WHERE group_id = $1 AND"
          " starts_with(name, $2) ORDER BY last_ts, name LIMIT $3 OFFSET $4";
  else if (desc)
    sql = "SELECT " STREAM_COLS
          " FROM cw_log_streams_now WHERE group_id = $1 AND"
          " starts_with(name, $2) ORDER BY name DESC LIMIT $3 OFFSET $4";
  else
    sql = "SELECT " STREAM_COLS
          " FROM cw_log_streams_now WHERE group_id = $1 AND"
          " starts_with(name, $2) ORDER BY name LIMIT $3 OFFSET $4";
  PGresult *r = rd_again(s, sql, v, 4);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++) {
    tw_log_stream_row st;
    uint64_t token;
    stream_of(r, i, 0, &st, &token);
    fn(ud, &st, token);
  }
  PQclear(r);
  return 0;
}

/* --- events ------------------------------------------------------------------------- */

/* Valid UTF-8 without NUL (PostgreSQL's text): 1, else 0. */
static int utf8_ok(const unsigned char *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    size_t k;
    uint32_t cp;
    if (c == 0) return 0;
    if (c < 0x80) {
      i++;
      continue;
    }
    if ((c & 0xE0) == 0xC0)
      k = 1, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0)
      k = 2, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0)
      k = 3, cp = c & 0x07;
    else
      return 0;
    for (size_t j = 1; j <= k; j++) {
      if (i + j >= n || (p[i + j] & 0xC0) != 0x80) return 0;
      cp = cp << 6 | (p[i + j] & 0x3F);
    }
    if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    i += k + 1;
  }
  return 1;
}

/* A growable text buffer for array literals; -1 once out of memory. */
typedef struct {
  char *p;
  size_t len, cap;
  int oom;
} sbuf;

static void sb_put(sbuf *b, const void *data, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
      b->oom = 1;
      return;
    }
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void sb_i64(sbuf *b, int64_t v) {
  char t[24];
  int n = snprintf(t, sizeof t, "%" PRId64, v);
  sb_put(b, t, (size_t)n);
}

static int events_put(tw_store *s, int64_t stream_id, const tw_log_event_row *rows, size_t n,
                      int64_t ingest_ms, uint64_t *token) {
  if (!n) return -1;
  /* the messages travel as one bytea ($9, binary) cut by offsets: no
   * escaping; bytes PostgreSQL's text refuses (invalid UTF-8, NUL: only
   * from the server's own lines) become '?' */
  sbuf ts = {0}, off = {0}, len = {0}, msgs = {0};
  int64_t lo = rows[0].ts, hi = rows[0].ts, bytes = 0;
  sb_put(&ts, "{", 1);
  sb_put(&off, "{", 1);
  sb_put(&len, "{", 1);
  for (size_t i = 0; i < n; i++) {
    const tw_log_event_row *e = &rows[i];
    if (i) {
      sb_put(&ts, ",", 1);
      sb_put(&off, ",", 1);
      sb_put(&len, ",", 1);
    }
    sb_i64(&ts, e->ts);
    sb_i64(&off, (int64_t)msgs.len + 1); /* substring() counts from 1 */
    sb_i64(&len, (int64_t)e->msg_len);
    size_t at = msgs.len;
    sb_put(&msgs, e->msg, e->msg_len);
    if (!msgs.oom && !utf8_ok((const unsigned char *)msgs.p + at, e->msg_len))
      for (size_t k = at; k < msgs.len; k++)
        if ((unsigned char)msgs.p[k] >= 0x80 || !msgs.p[k]) msgs.p[k] = '?';
    if (e->ts < lo) lo = e->ts;
    if (e->ts > hi) hi = e->ts;
    bytes += (int64_t)e->msg_len;
  }
  sb_put(&ts, "}", 1);
  sb_put(&off, "}", 1);
  sb_put(&len, "}", 1);
  int rc = -1;
  if (!ts.oom && !off.oom && !len.oom && !msgs.oom) {
    tw_sql_val v[] = {TW_SQL_I(stream_id), TW_SQL_I(ingest_ms), TW_SQL_I(lo),
                      TW_SQL_I(hi),        TW_SQL_I(bytes),     TW_SQL_S(ts.p),
                      TW_SQL_S(off.p),     TW_SQL_S(len.p),     TW_SQL_B(msgs.p, msgs.len)};
    PGresult *r =
        rd(s,
           "WITH u AS (SELECT id, group_id, token FROM cw_log_streams WHERE id = $1"
           " FOR KEY SHARE),"
           " i AS (INSERT INTO cw_log_events (group_id, stream_id, ts, ingest_ms, msg)"
           " SELECT u.group_id, u.id, t.ts, $2, convert_from(substring($9::bytea FROM t.o FOR t.n),"
           " 'UTF8') FROM u, unnest($6::bigint[], $7::integer[], $8::integer[]) WITH ORDINALITY"
           " AS t(ts, o, n, k) ORDER BY t.k),"
           " p AS (INSERT INTO cw_log_stream_puts SELECT id, $3, $4, $2, $5 FROM u)"
           " SELECT token + 1 + (SELECT count(*) FROM cw_log_stream_puts WHERE stream_id = $1)"
           " FROM u",
           v, 9);
    if (r) {
      rc = PQntuples(r) == 1;
      if (rc && token) *token = (uint64_t)tw_pg_i64(r, 0, 0);
      PQclear(r);
    }
  }
  free(ts.p);
  free(off.p);
  free(len.p);
  free(msgs.p);
  return rc;
}

static int64_t events_expire(tw_store *s, int64_t group_id, int64_t before_ts, int max) {
  tw_sql_val v[] = {TW_SQL_I(group_id), TW_SQL_I(before_ts), TW_SQL_I(max)};
  PGresult *r = rd(s,
                   "WITH d AS (DELETE FROM cw_log_events WHERE ctid = ANY(ARRAY(SELECT ctid"
                   " FROM cw_log_events WHERE group_id = $1 AND ts < $2 LIMIT $3))"
                   " RETURNING stream_id, octet_length(msg) AS n),"
                   " b AS (SELECT stream_id, sum(n) AS n, count(*) AS c FROM d GROUP BY stream_id),"
                   " u AS (UPDATE cw_log_streams s SET stored_bytes = GREATEST(0,"
                   " s.stored_bytes - b.n) FROM b WHERE s.id = b.stream_id)"
                   " SELECT COALESCE(sum(c), 0) FROM b",
                   v, 3);
  if (!r) return -1;
  int64_t n = PQntuples(r) == 1 ? tw_pg_i64(r, 0, 0) : 0;
  PQclear(r);
  return n;
}

static int64_t streams_fold(tw_store *s, int max) {
  tw_sql_val v[] = {TW_SQL_I(max)};
  PGresult *r = rd(s,
                   "WITH d AS (DELETE FROM cw_log_stream_puts WHERE ctid = ANY(ARRAY(SELECT ctid"
                   " FROM cw_log_stream_puts LIMIT $1)) RETURNING *),"
                   " a AS (SELECT stream_id, min(first_ts) AS f, max(last_ts) AS l,"
                   " max(ingest_ms) AS i, sum(bytes) AS b, count(*) AS n FROM d"
                   " GROUP BY stream_id),"
                   " u AS (UPDATE cw_log_streams s SET first_ts = CASE WHEN s.first_ts = 0"
                   " OR s.first_ts > a.f THEN a.f ELSE s.first_ts END,"
                   " last_ts = GREATEST(s.last_ts, a.l),"
                   " last_ingest_ms = GREATEST(s.last_ingest_ms, a.i),"
                   " stored_bytes = s.stored_bytes + a.b, token = s.token + a.n"
                   " FROM a WHERE s.id = a.stream_id)"
                   " SELECT COALESCE(sum(n), 0) FROM a",
                   v, 1);
  if (!r) return -1;
  int64_t n = PQntuples(r) == 1 ? tw_pg_i64(r, 0, 0) : 0;
  PQclear(r);
  return n;
}

/* Events in pages (a statement's rows are held in memory): PAGE rows a read,
 * the next page after the last row, until fn stops or the rows run out. */
#define PAGE 256

static int scan(tw_store *s, const tw_log_scan *q0,
                int (*fn)(void *ud, const tw_log_event_row *row), void *ud) {
  tw_log_scan q = *q0;
  const char *sql;
  if (q.stream_id && !q.desc)
    sql =
        "SELECT seq, group_id, stream_id, ts, ingest_ms, msg FROM cw_log_events"
        " WHERE stream_id = $1 AND ts >= $2 AND ts < $3 AND (ts, seq) > ($4, $5)"
        " ORDER BY ts, seq LIMIT $6";
  else if (q.stream_id)
    sql =
        "SELECT seq, group_id, stream_id, ts, ingest_ms, msg FROM cw_log_events"
        " WHERE stream_id = $1 AND ts >= $2 AND ts < $3 AND (ts, seq) < ($4, $5)"
        " ORDER BY ts DESC, seq DESC LIMIT $6";
  else if (!q.desc)
    sql =
        "SELECT seq, group_id, stream_id, ts, ingest_ms, msg FROM cw_log_events"
        " WHERE group_id = $1 AND ts >= $2 AND ts < $3 AND (ts, seq) > ($4, $5)"
        " ORDER BY ts, seq LIMIT $6";
  else
    sql =
        "SELECT seq, group_id, stream_id, ts, ingest_ms, msg FROM cw_log_events"
        " WHERE group_id = $1 AND ts >= $2 AND ts < $3 AND (ts, seq) < ($4, $5)"
        " ORDER BY ts DESC, seq DESC LIMIT $6";
  for (;;) {
    tw_sql_val v[] = {TW_SQL_I(q.stream_id ? q.stream_id : q.group_id),
                      TW_SQL_I(q.start),
                      TW_SQL_I(q.end),
                      TW_SQL_I(q.cur_ts),
                      TW_SQL_I((int64_t)q.cur_seq),
                      TW_SQL_I(PAGE)};
    PGresult *r = rd_again(s, sql, v, 6);
    if (!r) return -1;
    int n = PQntuples(r), stop = 0;
    for (int i = 0; i < n && !stop; i++) {
      tw_log_event_row e = {
          .seq = (uint64_t)tw_pg_i64(r, i, 0),
          .group_id = tw_pg_i64(r, i, 1),
          .stream_id = tw_pg_i64(r, i, 2),
          .ts = tw_pg_i64(r, i, 3),
          .ingest_ms = tw_pg_i64(r, i, 4),
          .msg = PQgetvalue(r, i, 5),
          .msg_len = (size_t)PQgetlength(r, i, 5),
      };
      q.cur_ts = e.ts;
      q.cur_seq = e.seq;
      stop = fn(ud, &e);
    }
    PQclear(r);
    if (stop || n < PAGE) return 0;
  }
}

const tw_logs_repo tw_pg_logs_repo = {
    .scan = scan,
    .group_create = group_create,
    .group_drop = group_drop,
    .group_retention = group_retention,
    .group_get = group_get,
    .group_list = group_list,
    .group_retained = group_retained,
    .stream_create = stream_create,
    .stream_drop = stream_drop,
    .stream_get = stream_get,
    .stream_list = stream_list,
    .events_put = events_put,
    .events_expire = events_expire,
    .streams_fold = streams_fold,
};
