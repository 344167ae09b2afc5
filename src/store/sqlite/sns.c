/* SNS topics, subscriptions and FIFO deduplication entries in SQLite: the
 * sns_topics, sns_subscriptions and sns_dedup tables (schema.c). */
#include <sqlite3.h>
#include <stdio.h>

#include "core/log.h"
#include "store/sns.h"
#include "store/sns_rows.h"
#include "store/sqlite/sqlite_internal.h"

static uint64_t max_ticket(uint64_t a, uint64_t b) {
  return a > b ? a : b;
}

static uint64_t topic_save(tw_store *s, const tw_sns_topic_row *t) {
  tw_sql_val vals[TW_SNS_TOPIC_NCOLS];
  tw_sns_topic_vals(t, vals);
  return tw_store_exec(
      s,
      "INSERT OR REPLACE INTO sns_topics(arn,name,fifo,created_ms,attrs,tags,seqno)"
      " VALUES(?,?,?,?,?,?,?)",
      vals, TW_SNS_TOPIC_NCOLS);
}

static uint64_t topic_seqno(tw_store *s, const char *arn, uint64_t seqno) {
  tw_sql_val vals[] = {TW_SQL_I((int64_t)seqno), TW_SQL_S(arn)};
  return tw_store_exec(s, "UPDATE sns_topics SET seqno=? WHERE arn=?", vals, 2);
}

static uint64_t topic_delete(tw_store *s, const char *arn) {
  tw_sql_val vals[] = {TW_SQL_S(arn)};
  uint64_t t = tw_store_exec(s, "DELETE FROM sns_topics WHERE arn=?", vals, 1);
  t = max_ticket(t, tw_store_exec(s, "DELETE FROM sns_subscriptions WHERE topic_arn=?", vals, 1));
  return max_ticket(t, tw_store_exec(s, "DELETE FROM sns_dedup WHERE topic_arn=?", vals, 1));
}

static uint64_t sub_save(tw_store *s, const tw_sns_sub_row *r) {
  tw_sql_val vals[TW_SNS_SUB_NCOLS];
  tw_sns_sub_vals(r, vals);
  return tw_store_exec(s,
                       "INSERT OR REPLACE INTO sns_subscriptions(arn,topic_arn,protocol,endpoint,"
                       "owner,principal,attrs,pending,authenticated,auth_unsubscribe,token,"
                       "token_expires_ms,created_ms) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       vals, TW_SNS_SUB_NCOLS);
}

static uint64_t sub_delete(tw_store *s, const char *arn) {
  tw_sql_val vals[] = {TW_SQL_S(arn)};
  return tw_store_exec(s, "DELETE FROM sns_subscriptions WHERE arn=?", vals, 1);
}

static uint64_t dedup_put(tw_store *s, const tw_sns_dedup_row *d) {
  tw_sql_val vals[TW_SNS_DEDUP_NCOLS];
  tw_sns_dedup_vals(d, vals);
  return tw_store_exec(s,
                       "INSERT OR REPLACE INTO sns_dedup(topic_arn,key,msg_id,seqno,expires_ms)"
                       " VALUES(?,?,?,?,?)",
                       vals, TW_SNS_DEDUP_NCOLS);
}

static uint64_t dedup_prune(tw_store *s, int64_t now_ms) {
  tw_sql_val vals[] = {TW_SQL_I(now_ms)};
  return tw_store_exec(s, "DELETE FROM sns_dedup WHERE expires_ms<?", vals, 1);
}

static const char *col(sqlite3_stmt *st, int i) {
  return (const char *)sqlite3_column_text(st, i);
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st) {
  if (sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK) return 0;
  tw_error("store: cannot read SNS state: %s", sqlite3_errmsg(db));
  return -1;
}

static int load(tw_store *s, int64_t now_ms, const tw_sns_loader *ld, void *ud) {
  sqlite3 *db = tw_store_reader(s);
  if (!db) return -1;
  /* one read transaction: topics, subscriptions and dedup entries from the
   * same committed state */
  if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) return -1;
  int rc = -1, step = SQLITE_DONE;
  sqlite3_stmt *st = NULL;
  if (prepare(db, "SELECT arn,name,fifo,created_ms,attrs,tags,seqno FROM sns_topics ORDER BY arn",
              &st))
    goto done;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    tw_sns_topic_row t = {
        .arn = col(st, 0),
        .name = col(st, 1),
        .fifo = sqlite3_column_int(st, 2),
        .created_ms = sqlite3_column_int64(st, 3),
        .attrs_json = col(st, 4),
        .tags_json = col(st, 5),
        .seqno = (uint64_t)sqlite3_column_int64(st, 6),
    };
    if (t.arn && t.name && ld->topic) ld->topic(ud, &t);
  }
  sqlite3_finalize(st);
  st = NULL;
  if (step != SQLITE_DONE) goto done;
  if (prepare(db,
              "SELECT arn,topic_arn,protocol,endpoint,owner,principal,attrs,pending,"
              "authenticated,auth_unsubscribe,token,token_expires_ms,created_ms"
              " FROM sns_subscriptions ORDER BY created_ms,arn",
              &st))
    goto done;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    tw_sns_sub_row r = {
        .arn = col(st, 0),
        .topic_arn = col(st, 1),
        .protocol = col(st, 2),
        .endpoint = col(st, 3),
        .owner = col(st, 4),
        .principal = col(st, 5),
        .attrs_json = col(st, 6),
        .pending = sqlite3_column_int(st, 7),
        .authenticated = sqlite3_column_int(st, 8),
        .auth_unsubscribe = sqlite3_column_int(st, 9),
        .token = col(st, 10),
        .token_expires_ms = sqlite3_column_int64(st, 11),
        .created_ms = sqlite3_column_int64(st, 12),
    };
    if (r.arn && r.topic_arn && r.protocol && ld->subscription) ld->subscription(ud, &r);
  }
  sqlite3_finalize(st);
  st = NULL;
  if (step != SQLITE_DONE) goto done;
  if (prepare(db, "SELECT topic_arn,key,msg_id,seqno,expires_ms FROM sns_dedup WHERE expires_ms>=?",
              &st))
    goto done;
  sqlite3_bind_int64(st, 1, now_ms);
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    tw_sns_dedup_row d = {
        .topic_arn = col(st, 0),
        .key = col(st, 1),
        .msg_id = col(st, 2),
        .seqno = (uint64_t)sqlite3_column_int64(st, 3),
        .expires_ms = sqlite3_column_int64(st, 4),
    };
    if (d.topic_arn && d.key && d.msg_id && ld->dedup) ld->dedup(ud, &d);
  }
  rc = step == SQLITE_DONE ? 0 : -1;
done:
  if (rc) tw_error("store: reading SNS state failed: %s", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  return rc;
}

static const tw_sns_repo repo = {
    .topic_save = topic_save,
    .topic_seqno = topic_seqno,
    .topic_delete = topic_delete,
    .sub_save = sub_save,
    .sub_delete = sub_delete,
    .dedup_put = dedup_put,
    .dedup_prune = dedup_prune,
    .load = load,
};

const tw_sns_repo *tw_store_sns(tw_store *s) {
  const tw_store_repos *other = tw_store_repos_of(s); /* another backend's (backend.h) */
  return other && other->sns ? other->sns : &repo;
}
