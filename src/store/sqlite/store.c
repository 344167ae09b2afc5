/* SQLite backend of the store (see store.h): one writer thread, group commit.
 * The schema is in schema.c, one part per service; the services' repositories
 * (typed reads and writes) in the other files of this folder. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/blobs.h"
#include "store/faults.h"
#include "store/space.h"
#include "store/sqlite/sqlite_internal.h"

typedef enum {
  OP_QUEUE_SAVE,
  OP_QUEUE_DELETE,
  OP_MSG_INSERT,
  OP_MSG_UPDATE,
  OP_MSG_MOVE,
  OP_MSG_DELETE,
  OP_DEDUP_PUT,
  OP_DEDUP_PRUNE,
  OP_KV_PUT,
  OP__COUNT,
  OP_SQL /* a statement given by the caller (S3 metadata); not in stmts[] */
} op_kind;

/* One pending write. Strings are copied into `data` so the caller's memory may
 * change or go away before the writer gets to it. */
typedef struct op {
  struct op *next;
  op_kind kind;
  union {
    tw_queue_row q;
    tw_msg_row m;
    struct {
      int64_t queue_id;
      const char *key, *msg_id;
      uint64_t seqno;
      int64_t expires_ms;
    } d;
    struct {
      const char *key, *value;
    } kv;
    struct {
      const char *sql; /* static: the writer caches the prepared statement by it */
      tw_sql_val *vals;
      int n;
    } sql;
    int64_t id;
  } u;
  char data[];
} op;

/* Consecutive message inserts of a batch run as one statement of up to this
 * many rows: a SendMessageBatch of 10 costs one statement, not ten (writer
 * CPU per cycled message -10%, storebench in bench/RESULTS.md). Updates and
 * deletes stay one a statement: a multi-row UPDATE ... FROM (VALUES ...)
 * doubled the writer's cost in a send/receive/delete mix, and DELETE ... IN
 * gained nothing. */
#define GROUP_MAX 16

struct tw_store {
  sqlite3 *db;
  pthread_t thread;
  int started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  op *head, **tail;
  uint64_t open_batch;           /* ticket handed to new operations */
  uint64_t committed;            /* last durable batch */
  atomic_uint_fast64_t failures; /* batches that failed (tw_store_failures) */
  int stop;
  tw_commit_cb cb;
  void *cb_ud;
  sqlite3_stmt *stmts[OP__COUNT];
  /* the multi-row message insert, by row count */
  sqlite3_stmt *group[GROUP_MAX + 1];
  struct {
    const char *sql;
    sqlite3_stmt *st;
  } sql_cache[64];
  int nsql;
  char path[4096];
  tw_blobs *blobs;   /* synced before a batch that names unsynced bodies */
  sqlite3 **readers; /* every thread's read connection (tw_store_reader) */
  size_t nreaders;
  int pending_fs_sync; /* the open batch references files written without fsync */
  sqlite3_stmt *begin, *commit, *rollback;
  /* another database runs the batches (backend.h): NULL for SQLite */
  const tw_store_backend *be;
  void *be_ud;
  const tw_store_repos *repos;
};

/* this thread's reader (see tw_store_reader) */
static _Thread_local sqlite3 *t_reader;
static _Thread_local const tw_store *t_reader_of;
/* this thread's prepared read statements, by the address of their SQL literal */
#define READ_STMT_CACHE 48
static _Thread_local struct {
  const char *sql;
  sqlite3_stmt *st;
} t_stmts[READ_STMT_CACHE];
static _Thread_local int t_nstmts;

static const char *op_sql[OP__COUNT] = {
    [OP_QUEUE_SAVE] =
        "INSERT OR REPLACE INTO queues(id,name,fifo,created,modified,attrs,tags,policy,"
        "fifo_seqno,last_purge_ms) VALUES(?,?,?,?,?,?,?,?,?,?)",
    [OP_QUEUE_DELETE] = "DELETE FROM queues WHERE id=?",
    [OP_MSG_INSERT] =
        "INSERT OR REPLACE INTO messages(seq,queue_id,msg_id,body,attrs,sys,sent_ms,"
        "visible_at_ms,first_receive_ms,receive_count,nonce,group_id,dedup_id,sender_id,"
        "source_arn,seqno) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [OP_MSG_UPDATE] =
        "UPDATE messages SET visible_at_ms=?,receive_count=?,first_receive_ms=?,nonce=? "
        "WHERE seq=?",
    [OP_MSG_MOVE] =
        "UPDATE messages SET queue_id=?,visible_at_ms=?,receive_count=?,first_receive_ms=?,"
        "source_arn=?,seqno=?,sent_ms=? WHERE seq=?",
    [OP_MSG_DELETE] = "DELETE FROM messages WHERE seq=?",
    [OP_DEDUP_PUT] =
        "INSERT OR REPLACE INTO dedup(queue_id,key,msg_id,seqno,expires_ms) VALUES(?,?,?,?,?)",
    [OP_DEDUP_PRUNE] = "DELETE FROM dedup WHERE expires_ms<?",
    [OP_KV_PUT] = "INSERT OR REPLACE INTO kv(key,value) VALUES(?,?)",
};

static int exec(sqlite3 *db, const char *sql, char *err, size_t errlen) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    snprintf(err, errlen, "sqlite: %s", msg ? msg : "error");
    sqlite3_free(msg);
    return -1;
  }
  return 0;
}

/* Columns added after a table's first release: data directories made by an
 * older tweedle get them here (ALTER TABLE keeps the rows). */
static int add_column(sqlite3 *db, const char *table, const char *column, const char *decl,
                      char *err, size_t errlen) {
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT 1 FROM pragma_table_info('%s') WHERE name='%s'", table, column);
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    snprintf(err, errlen, "sqlite: %s", sqlite3_errmsg(db));
    return -1;
  }
  int have = sqlite3_step(st) == SQLITE_ROW;
  sqlite3_finalize(st);
  if (have) return 0;
  snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", table, column, decl);
  return exec(db, sql, err, errlen);
}

static int migrate(sqlite3 *db, char *err, size_t errlen) {
  /* S3 object tags ([[key, value], ...]); lifecycle sweeps find old rows by age */
  return add_column(db, "objects", "tags", "TEXT", err, errlen) ||
         add_column(db, "uploads", "tags", "TEXT", err, errlen) ||
         /* multipart checksums: COMPOSITE | FULL_OBJECT; a completed object's
          * part sizes and checksums (GET ?partNumber=) */
         add_column(db, "uploads", "checksum_type", "TEXT", err, errlen) ||
         add_column(db, "objects", "mpu_parts", "TEXT", err, errlen) ||
         /* S3 versioning: a row without version_id is the `null` version (every
          * object written before), vseq NULL orders it by modified_ms */
         add_column(db, "objects", "version_id", "TEXT", err, errlen) ||
         add_column(db, "objects", "vseq", "INTEGER", err, errlen) ||
         add_column(db, "buckets", "versioning", "TEXT", err, errlen) ||
         add_column(db, "buckets", "public_access_block", "TEXT", err, errlen) || /* S3 PAB */
         /* S3 ownership and ACLs (s3_acl.c): owner NULL is the first (root)
          * user; ownership NULL: no ownership controls; acl NULL: private */
         add_column(db, "buckets", "owner", "TEXT", err, errlen) ||
         add_column(db, "buckets", "ownership", "TEXT", err, errlen) ||
         add_column(db, "buckets", "acl", "TEXT", err, errlen) ||
         add_column(db, "objects", "acl", "TEXT", err, errlen) ||
         add_column(db, "object_versions", "acl", "TEXT", err, errlen) ||
         exec(db,
              "CREATE INDEX IF NOT EXISTS objects_age ON objects(bucket, modified_ms);"
              "CREATE INDEX IF NOT EXISTS uploads_age ON uploads(bucket, initiated_ms);",
              err, errlen);
}

tw_store *tw_store_open(const char *dir, char *err, size_t errlen) {
  char path[4096];
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "cannot create data directory %s: %s", dir, strerror(errno));
    return NULL;
  }
  snprintf(path, sizeof path, "%s/tweedle.db", dir);
  tw_store *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  snprintf(s->path, sizeof s->path, "%s", path);
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE); /* tw_store_hold nests pushes */
  pthread_mutex_init(&s->mu, &ma);
  pthread_mutexattr_destroy(&ma);
  pthread_cond_init(&s->cv, NULL);
  s->tail = &s->head;
  s->open_batch = 1;
  if (sqlite3_open_v2(path, &s->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK) {
    snprintf(err, errlen, "cannot open %s: %s", path, sqlite3_errmsg(s->db));
    goto fail;
  }
  sqlite3_busy_timeout(s->db, 5000);
  if (exec(s->db,
           "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;"
           "PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=4000;",
           err, errlen) ||
      exec(s->db, tw_sqlite_schema_sqs, err, errlen) ||
      exec(s->db, tw_sqlite_schema_s3, err, errlen) ||
      exec(s->db, tw_sqlite_schema_gateway, err, errlen) ||
      exec(s->db, tw_sqlite_schema_sns, err, errlen) ||
      exec(s->db, tw_sqlite_schema_sns_outbox, err, errlen) ||
      exec(s->db, tw_sqlite_schema_events, err, errlen) ||
      exec(s->db, tw_sqlite_schema_eb_delivery, err, errlen) ||
      exec(s->db, tw_sqlite_schema_metrics, err, errlen) ||
      exec(s->db, tw_sqlite_schema_alarms, err, errlen) ||
      exec(s->db, tw_sqlite_schema_logs, err, errlen) || migrate(s->db, err, errlen))
    goto fail;
  if (tw_sqlite_metrics_functions(s->db)) {
    snprintf(err, errlen, "sqlite: cannot register the metrics functions");
    goto fail;
  }
  tw_space_watch(dir);
  for (int i = 0; i < OP__COUNT; i++) {
    if (sqlite3_prepare_v3(s->db, op_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[i], NULL) !=
        SQLITE_OK) {
      snprintf(err, errlen, "sqlite prepare: %s", sqlite3_errmsg(s->db));
      goto fail;
    }
  }
  if (sqlite3_prepare_v2(s->db, "BEGIN", -1, &s->begin, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db, "COMMIT", -1, &s->commit, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db, "ROLLBACK", -1, &s->rollback, NULL) != SQLITE_OK) {
    snprintf(err, errlen, "sqlite prepare: %s", sqlite3_errmsg(s->db));
    goto fail;
  }
  return s;
fail:
  tw_store_close(s);
  return NULL;
}

static const char *col_text(sqlite3_stmt *st, int i) {
  return (const char *)sqlite3_column_text(st, i);
}

int tw_store_load(tw_store *s, const tw_store_loader *ld, void *ud) {
  sqlite3_stmt *st = NULL;
  int rc = -1;
  if (s->be) return -1; /* the queue engine's rows are SQLite's only */
  /* Before the writer starts: its connection. After (a reload once a commit
   * failed): this thread's reader, in one read transaction, so the queues,
   * messages and settings come from the same committed state. */
  sqlite3 *db = s->started ? tw_store_reader(s) : s->db;
  if (!db) return -1;
  if (s->started && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) return -1;
  if (sqlite3_prepare_v2(db,
                         "SELECT id,name,fifo,created,modified,attrs,tags,policy,fifo_seqno,"
                         "last_purge_ms FROM queues ORDER BY id",
                         -1, &st, NULL) != SQLITE_OK)
    goto done;
  while (sqlite3_step(st) == SQLITE_ROW) {
    tw_queue_row r = {
        .id = sqlite3_column_int64(st, 0),
        .name = col_text(st, 1),
        .fifo = sqlite3_column_int(st, 2),
        .created = sqlite3_column_int64(st, 3),
        .modified = sqlite3_column_int64(st, 4),
        .attrs_json = col_text(st, 5),
        .tags_json = col_text(st, 6),
        .policy_json = col_text(st, 7),
        .fifo_seqno = (uint64_t)sqlite3_column_int64(st, 8),
        .last_purge_ms = sqlite3_column_int64(st, 9),
    };
    if (ld->queue) ld->queue(ud, &r);
  }
  sqlite3_finalize(st);
  if (sqlite3_prepare_v2(db,
                         "SELECT seq,queue_id,msg_id,NULL,NULL,NULL,sent_ms,visible_at_ms,"
                         "first_receive_ms,receive_count,nonce,group_id,dedup_id,sender_id,"
                         "source_arn,seqno FROM messages ORDER BY seq",
                         -1, &st, NULL) != SQLITE_OK)
    goto done;
  while (sqlite3_step(st) == SQLITE_ROW) {
    tw_msg_row r = {
        .seq = (uint64_t)sqlite3_column_int64(st, 0),
        .queue_id = sqlite3_column_int64(st, 1),
        .msg_id = col_text(st, 2),
        .body = sqlite3_column_blob(st, 3),
        .body_len = (size_t)sqlite3_column_bytes(st, 3),
        .attrs_json = col_text(st, 4),
        .sys_json = col_text(st, 5),
        .sent_ms = sqlite3_column_int64(st, 6),
        .visible_at_ms = sqlite3_column_int64(st, 7),
        .first_receive_ms = sqlite3_column_int64(st, 8),
        .receive_count = sqlite3_column_int(st, 9),
        .nonce = (uint32_t)sqlite3_column_int64(st, 10),
        .group_id = col_text(st, 11),
        .dedup_id = col_text(st, 12),
        .sender_id = col_text(st, 13),
        .source_arn = col_text(st, 14),
        .seqno = (uint64_t)sqlite3_column_int64(st, 15),
    };
    if (ld->message) ld->message(ud, &r);
  }
  sqlite3_finalize(st);
  if (sqlite3_prepare_v2(db, "SELECT queue_id,key,msg_id,seqno,expires_ms FROM dedup", -1, &st,
                         NULL) != SQLITE_OK)
    goto done;
  while (sqlite3_step(st) == SQLITE_ROW)
    if (ld->dedup)
      ld->dedup(ud, sqlite3_column_int64(st, 0), col_text(st, 1), col_text(st, 2),
                (uint64_t)sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4));
  sqlite3_finalize(st);
  if (sqlite3_prepare_v2(db, "SELECT key,value FROM kv ORDER BY key", -1, &st, NULL) != SQLITE_OK)
    goto done;
  while (sqlite3_step(st) == SQLITE_ROW)
    if (ld->kv) ld->kv(ud, col_text(st, 0), col_text(st, 1));
  rc = 0;
done:
  sqlite3_finalize(st);
  if (rc) tw_error("store: load failed: %s", sqlite3_errmsg(db));
  if (s->started) sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  return rc;
}

static void msg_row_of(sqlite3_stmt *st, tw_msg_row *r) {
  *r = (tw_msg_row){
      .seq = (uint64_t)sqlite3_column_int64(st, 0),
      .queue_id = sqlite3_column_int64(st, 1),
      .msg_id = col_text(st, 2),
      .body = sqlite3_column_blob(st, 3),
      .body_len = (size_t)sqlite3_column_bytes(st, 3),
      .attrs_json = col_text(st, 4),
      .sys_json = col_text(st, 5),
      .sent_ms = sqlite3_column_int64(st, 6),
      .visible_at_ms = sqlite3_column_int64(st, 7),
      .first_receive_ms = sqlite3_column_int64(st, 8),
      .receive_count = sqlite3_column_int(st, 9),
      .nonce = (uint32_t)sqlite3_column_int64(st, 10),
      .group_id = col_text(st, 11),
      .dedup_id = col_text(st, 12),
      .sender_id = col_text(st, 13),
      .source_arn = col_text(st, 14),
      .seqno = (uint64_t)sqlite3_column_int64(st, 15),
  };
}

int tw_store_msg_read(tw_store *s, const uint64_t *seqs, size_t n,
                      void (*fn)(void *ud, const tw_msg_row *row), void *ud) {
  int found = 0;
  if (s->be) return -1;
  for (size_t at = 0; at < n; at += 10) {
    sqlite3_stmt *st = tw_store_read_stmt(
        s,
        "SELECT seq,queue_id,msg_id,body,attrs,sys,sent_ms,visible_at_ms,first_receive_ms,"
        "receive_count,nonce,group_id,dedup_id,sender_id,source_arn,seqno FROM messages "
        "WHERE seq IN (?,?,?,?,?,?,?,?,?,?)");
    if (!st) return -1;
    for (int i = 0; i < 10; i++) /* unused places: -1, no message has it */
      sqlite3_bind_int64(st, i + 1, at + (size_t)i < n ? (int64_t)seqs[at + (size_t)i] : -1);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      tw_msg_row r;
      msg_row_of(st, &r);
      fn(ud, &r);
      found++;
    }
    tw_store_read_done(st);
    if (rc != SQLITE_DONE) return -1;
  }
  return found;
}

static int64_t scalar(tw_store *s, const char *sql) {
  sqlite3_stmt *st;
  int64_t v = 0;
  if (s->be) return 0;
  if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return 0;
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

uint64_t tw_store_max_seq(tw_store *s) {
  int64_t a = scalar(s, "SELECT COALESCE(MAX(seq),0) FROM messages");
  int64_t b = scalar(s, "SELECT COALESCE(CAST(value AS INTEGER),0) FROM kv WHERE key='max_seq'");
  return (uint64_t)(a > b ? a : b);
}

int64_t tw_store_max_queue_id(tw_store *s) {
  int64_t a = scalar(s, "SELECT COALESCE(MAX(id),0) FROM queues");
  int64_t b =
      scalar(s, "SELECT COALESCE(CAST(value AS INTEGER),0) FROM kv WHERE key='max_queue_id'");
  return a > b ? a : b;
}

/* --- the writer ---------------------------------------------------------- */

static void bind_text(sqlite3_stmt *st, int i, const char *v) {
  if (v)
    sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, i);
}

/* Binds a message row's values from parameter off + 1 on: one row of a
 * single statement (off 0) or of a multi-row one (apply_group). */
static void bind_row(sqlite3_stmt *st, op *o, int off) {
  switch (o->kind) {
    case OP_MSG_INSERT: {
      tw_msg_row *r = &o->u.m;
      sqlite3_bind_int64(st, off + 1, (int64_t)r->seq);
      sqlite3_bind_int64(st, off + 2, r->queue_id);
      bind_text(st, off + 3, r->msg_id);
      sqlite3_bind_blob(st, off + 4, r->body, (int)r->body_len, SQLITE_STATIC);
      bind_text(st, off + 5, r->attrs_json);
      bind_text(st, off + 6, r->sys_json);
      sqlite3_bind_int64(st, off + 7, r->sent_ms);
      sqlite3_bind_int64(st, off + 8, r->visible_at_ms);
      sqlite3_bind_int64(st, off + 9, r->first_receive_ms);
      sqlite3_bind_int(st, off + 10, r->receive_count);
      sqlite3_bind_int64(st, off + 11, r->nonce);
      bind_text(st, off + 12, r->group_id);
      bind_text(st, off + 13, r->dedup_id);
      bind_text(st, off + 14, r->sender_id);
      bind_text(st, off + 15, r->source_arn);
      sqlite3_bind_int64(st, off + 16, (int64_t)r->seqno);
      return;
    }
    case OP_MSG_UPDATE: {
      tw_msg_row *r = &o->u.m;
      sqlite3_bind_int64(st, off + 1, r->visible_at_ms);
      sqlite3_bind_int(st, off + 2, r->receive_count);
      sqlite3_bind_int64(st, off + 3, r->first_receive_ms);
      sqlite3_bind_int64(st, off + 4, r->nonce);
      sqlite3_bind_int64(st, off + 5, (int64_t)r->seq);
      return;
    }
    case OP_MSG_DELETE:
      sqlite3_bind_int64(st, off + 1, o->u.id);
      return;
    default:
      return;
  }
}

static int apply(tw_store *s, op *o) {
  sqlite3_stmt *st = s->stmts[o->kind];
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  switch (o->kind) {
    case OP_QUEUE_SAVE: {
      tw_queue_row *r = &o->u.q;
      sqlite3_bind_int64(st, 1, r->id);
      bind_text(st, 2, r->name);
      sqlite3_bind_int(st, 3, r->fifo);
      sqlite3_bind_int64(st, 4, r->created);
      sqlite3_bind_int64(st, 5, r->modified);
      bind_text(st, 6, r->attrs_json);
      bind_text(st, 7, r->tags_json);
      bind_text(st, 8, r->policy_json);
      sqlite3_bind_int64(st, 9, (int64_t)r->fifo_seqno);
      sqlite3_bind_int64(st, 10, r->last_purge_ms);
      break;
    }
    case OP_QUEUE_DELETE:
      sqlite3_bind_int64(st, 1, o->u.id);
      break;
    case OP_MSG_INSERT:
    case OP_MSG_UPDATE:
      bind_row(st, o, 0);
      break;
    case OP_MSG_MOVE: {
      tw_msg_row *r = &o->u.m;
      sqlite3_bind_int64(st, 1, r->queue_id);
      sqlite3_bind_int64(st, 2, r->visible_at_ms);
      sqlite3_bind_int(st, 3, r->receive_count);
      sqlite3_bind_int64(st, 4, r->first_receive_ms);
      bind_text(st, 5, r->source_arn);
      sqlite3_bind_int64(st, 6, (int64_t)r->seqno);
      sqlite3_bind_int64(st, 7, r->sent_ms);
      sqlite3_bind_int64(st, 8, (int64_t)r->seq);
      break;
    }
    case OP_MSG_DELETE:
      bind_row(st, o, 0);
      break;
    case OP_DEDUP_PUT:
      sqlite3_bind_int64(st, 1, o->u.d.queue_id);
      bind_text(st, 2, o->u.d.key);
      bind_text(st, 3, o->u.d.msg_id);
      sqlite3_bind_int64(st, 4, (int64_t)o->u.d.seqno);
      sqlite3_bind_int64(st, 5, o->u.d.expires_ms);
      break;
    case OP_DEDUP_PRUNE:
      sqlite3_bind_int64(st, 1, o->u.id);
      break;
    case OP_KV_PUT:
      if (!o->u.kv.value) {
        /* deletion: reuse a one-off statement; rare */
        sqlite3_stmt *del;
        if (sqlite3_prepare_v2(s->db, "DELETE FROM kv WHERE key=?", -1, &del, NULL) != SQLITE_OK)
          return -1;
        bind_text(del, 1, o->u.kv.key);
        int rc = sqlite3_step(del);
        sqlite3_finalize(del);
        return rc == SQLITE_DONE ? 0 : -1;
      }
      bind_text(st, 1, o->u.kv.key);
      bind_text(st, 2, o->u.kv.value);
      break;
    default:
      return -1;
  }
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

/* The multi-row insert of n messages (prepared on first use, kept), or NULL. */
static sqlite3_stmt *group_stmt(tw_store *s, int n) {
  if (n < 2 || n > GROUP_MAX) return NULL;
  if (s->group[n]) return s->group[n];
  char sql[2048];
  size_t len = (size_t)snprintf(sql, sizeof sql, "%s", op_sql[OP_MSG_INSERT]);
  for (int i = 1; i < n && len < sizeof sql; i++)
    len += (size_t)snprintf(sql + len, sizeof sql - len, ",(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  if (len >= sizeof sql || sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                              &s->group[n], NULL) != SQLITE_OK) {
    tw_error("store: prepare failed: %s", sqlite3_errmsg(s->db));
    s->group[n] = NULL;
  }
  return s->group[n];
}

/* How many ops from o on run as one statement: consecutive message inserts,
 * at most GROUP_MAX (1: run o alone). */
static int group_len(op *o) {
  int n = 0;
  for (op *p = o; p && p->kind == OP_MSG_INSERT && n < GROUP_MAX; p = p->next) n++;
  return n > 1 ? n : 1;
}

/* Runs n message inserts (group_len) as one statement; 0 or -1. */
static int apply_group(tw_store *s, op *o, int n) {
  sqlite3_stmt *st = group_stmt(s, n);
  if (!st) return -1;
  for (int i = 0; i < n; i++, o = o->next) bind_row(st, o, i * 16);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static sqlite3_stmt *cached_stmt(tw_store *s, const char *sql) {
  for (int i = 0; i < s->nsql; i++)
    if (s->sql_cache[i].sql == sql) return s->sql_cache[i].st;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
    tw_error("store: prepare failed: %s: %s", sqlite3_errmsg(s->db), sql);
    return NULL;
  }
  if (s->nsql < (int)(sizeof s->sql_cache / sizeof s->sql_cache[0])) {
    s->sql_cache[s->nsql].sql = sql;
    s->sql_cache[s->nsql++].st = st;
  }
  return st;
}

static int apply_sql(tw_store *s, op *o) {
  sqlite3_stmt *st = cached_stmt(s, o->u.sql.sql);
  if (!st) return -1;
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  for (int i = 0; i < o->u.sql.n; i++) {
    tw_sql_val *v = &o->u.sql.vals[i];
    switch (v->type) {
      case TW_SQL_INT:
        sqlite3_bind_int64(st, i + 1, v->i);
        break;
      case TW_SQL_TEXT:
        sqlite3_bind_text(st, i + 1, v->s, (int)v->n, SQLITE_STATIC);
        break;
      case TW_SQL_BLOB:
        sqlite3_bind_blob(st, i + 1, v->s, (int)v->n, SQLITE_STATIC);
        break;
      default:
        sqlite3_bind_null(st, i + 1);
    }
  }
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  int ok = rc == SQLITE_DONE;
  /* a statement not kept in the cache is finalized at once */
  int cached = 0;
  for (int i = 0; i < s->nsql; i++) cached |= s->sql_cache[i].st == st;
  if (!cached) sqlite3_finalize(st);
  return ok ? 0 : -1;
}

static int step_once(sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

/* Test-only faults (store/faults.h): a slow commit, a failed one. Returns 0,
 * or -1 when this batch must fail. */
static int faults_before_commit(void) {
  long delay = tw_fault_value("commit-delay-ms");
  if (delay > 0) usleep((useconds_t)(delay > 60000 ? 60000 : delay) * 1000);
  return tw_fault_take("fail-commits") ? -1 : 0;
}

void (*tw_store_batch_hook)(double seconds, size_t ops, int ok);

/* Bytes the database holds in free pages: new rows reuse them (store/space.h). */
static int64_t unused_bytes(sqlite3 *db) {
  int64_t pages = 0, size = 0;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, "PRAGMA freelist_count", -1, &st, NULL) == SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW) pages = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  if (sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW) size = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  return pages * size;
}

/* A batch on another database (backend.h): the same faults, one transaction;
 * only caller-given statements. 1 when it committed. */
static int run_backend_batch(tw_store *s, op *batch) {
  if (s->be->begin(s->be_ud)) return 0;
  int ok = !faults_before_commit();
  for (op *o = batch; o && ok; o = o->next) {
    if (o->kind != OP_SQL) {
      tw_error("store: operation %d is not supported by this store's backend", (int)o->kind);
      ok = 0;
    } else if (s->be->exec(s->be_ud, o->u.sql.sql, o->u.sql.vals, o->u.sql.n)) {
      ok = 0;
    }
  }
  if (ok && s->be->commit(s->be_ud)) ok = 0;
  if (!ok) s->be->rollback(s->be_ud);
  return ok;
}

static void *writer_main(void *arg) {
  tw_store *s = arg;
  for (;;) {
    pthread_mutex_lock(&s->mu);
    while (!s->head && !s->stop) pthread_cond_wait(&s->cv, &s->mu);
    if (!s->head && s->stop) {
      pthread_mutex_unlock(&s->mu);
      break;
    }
    op *batch = s->head;
    s->head = NULL;
    s->tail = &s->head;
    uint64_t ticket = s->open_batch++;
    int fs_sync = s->pending_fs_sync;
    s->pending_fs_sync = 0;
    pthread_mutex_unlock(&s->mu);

    /* Files the batch's rows point to reach the disk before the rows do: one
     * sync of the blob store for the whole batch, not an fsync per file. */
    int ok = 1;
    double t0 = tw_store_batch_hook ? tw_mono_sec() : 0;
    if (fs_sync && s->blobs && tw_blobs_sync(s->blobs)) ok = 0;
    if (s->be) {
      ok = ok && run_backend_batch(s, batch);
    } else {
      ok = ok && step_once(s->begin) == 0;
      if (ok && faults_before_commit()) ok = 0;
      for (op *o = batch; o && ok;) {
        int n = o->kind == OP_SQL ? 1 : group_len(o);
        if (n > 1 ? apply_group(s, o, n) : o->kind == OP_SQL ? apply_sql(s, o) : apply(s, o)) {
          tw_error("store: write failed: %s", sqlite3_errmsg(s->db));
          ok = 0;
        }
        while (n-- && o) o = o->next;
      }
      if (ok && step_once(s->commit)) {
        tw_error("store: commit failed: %s", sqlite3_errmsg(s->db));
        ok = 0;
      }
      if (!ok) step_once(s->rollback);
      if (tw_space_reusable_due()) tw_space_set_reusable(unused_bytes(s->db));
    }
    size_t nops = 0;
    while (batch) {
      op *n = batch->next;
      free(batch);
      batch = n;
      nops++;
    }
    if (tw_store_batch_hook) tw_store_batch_hook(tw_mono_sec() - t0, nops, ok);
    if (!ok) atomic_fetch_add(&s->failures, 1); /* before any waiter hears of it */
    pthread_mutex_lock(&s->mu);
    s->committed = ticket;
    pthread_mutex_unlock(&s->mu);
    if (s->cb) s->cb(s->cb_ud, ticket, ok);
  }
  return NULL;
}

int tw_store_start(tw_store *s, tw_commit_cb cb, void *ud) {
  s->cb = cb;
  s->cb_ud = ud;
  if (pthread_create(&s->thread, NULL, writer_main, s)) return -1;
  s->started = 1;
  return 0;
}

void tw_store_close(tw_store *s) {
  if (!s) return;
  if (s->started) {
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
  }
  while (s->head) {
    op *n = s->head->next;
    free(s->head);
    s->head = n;
  }
  for (int i = 0; i < OP__COUNT; i++) sqlite3_finalize(s->stmts[i]);
  for (int n = 0; n <= GROUP_MAX; n++) sqlite3_finalize(s->group[n]);
  for (int i = 0; i < s->nsql; i++) sqlite3_finalize(s->sql_cache[i].st);
  for (size_t i = 0; i < s->nreaders; i++) {
    sqlite3_stmt *st;
    while ((st = sqlite3_next_stmt(s->readers[i], NULL))) sqlite3_finalize(st);
    sqlite3_close_v2(s->readers[i]);
  }
  free(s->readers);
  t_reader = NULL;
  t_reader_of = NULL;
  t_nstmts = 0;
  sqlite3_finalize(s->begin);
  sqlite3_finalize(s->commit);
  sqlite3_finalize(s->rollback);
  if (s->be && s->be->close) s->be->close(s->be_ud);
  if (s->db) {
    sqlite3_exec(s->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    sqlite3_close(s->db);
  }
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s);
}

tw_store *tw_store_open_backend(const tw_store_backend *be, void *ud, const tw_store_repos *repos) {
  tw_store *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE); /* tw_store_hold nests pushes */
  pthread_mutex_init(&s->mu, &ma);
  pthread_mutexattr_destroy(&ma);
  pthread_cond_init(&s->cv, NULL);
  s->tail = &s->head;
  s->committed = TW_STORE_BACKEND_TICKETS;
  s->open_batch = TW_STORE_BACKEND_TICKETS + 1;
  s->be = be;
  s->be_ud = ud;
  s->repos = repos;
  return s;
}

void *tw_store_backend_data(tw_store *s) {
  return s->be_ud;
}

const tw_store_repos *tw_store_repos_of(tw_store *s) {
  return s->repos;
}

uint64_t tw_store_failures(tw_store *s) {
  return atomic_load(&s->failures);
}

uint64_t tw_store_committed(tw_store *s) {
  pthread_mutex_lock(&s->mu);
  uint64_t c = s->committed;
  pthread_mutex_unlock(&s->mu);
  return c;
}

/* Appends an op; returns its batch ticket. */
static uint64_t push(tw_store *s, op *o) {
  if (!o) return 0;
  pthread_mutex_lock(&s->mu);
  o->next = NULL;
  *s->tail = o;
  s->tail = &o->next;
  uint64_t t = s->open_batch;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
  return t;
}

uint64_t tw_store_ticket(tw_store *s) {
  pthread_mutex_lock(&s->mu);
  /* Anything appended so far is in the open batch (if non-empty) or committed. */
  uint64_t t = s->head ? s->open_batch : s->open_batch - 1;
  pthread_mutex_unlock(&s->mu);
  return t;
}

/* Copies strings into the op's trailing data. */
typedef struct {
  char *p;
} copier;

static size_t slen(const char *v) {
  return v ? strlen(v) + 1 : 0;
}

static const char *copy_str(copier *c, const char *v) {
  if (!v) return NULL;
  size_t n = strlen(v) + 1;
  memcpy(c->p, v, n);
  const char *r = c->p;
  c->p += n;
  return r;
}

static op *op_new(op_kind k, size_t extra) {
  op *o = malloc(sizeof *o + extra);
  if (!o) {
    tw_error("store: out of memory");
    return NULL;
  }
  memset(o, 0, sizeof *o);
  o->kind = k;
  return o;
}

uint64_t tw_store_queue_save(tw_store *s, const tw_queue_row *r) {
  op *o = op_new(OP_QUEUE_SAVE,
                 slen(r->name) + slen(r->attrs_json) + slen(r->tags_json) + slen(r->policy_json));
  if (!o) return 0;
  copier c = {o->data};
  o->u.q = *r;
  o->u.q.name = copy_str(&c, r->name);
  o->u.q.attrs_json = copy_str(&c, r->attrs_json);
  o->u.q.tags_json = copy_str(&c, r->tags_json);
  o->u.q.policy_json = copy_str(&c, r->policy_json);
  return push(s, o);
}

uint64_t tw_store_queue_delete(tw_store *s, int64_t queue_id) {
  op *o = op_new(OP_QUEUE_DELETE, 0);
  if (!o) return 0;
  o->u.id = queue_id;
  return push(s, o);
}

static op *msg_op(op_kind k, const tw_msg_row *r, int with_body) {
  size_t extra = slen(r->msg_id) + slen(r->attrs_json) + slen(r->sys_json) + slen(r->group_id) +
                 slen(r->dedup_id) + slen(r->sender_id) + slen(r->source_arn) +
                 (with_body ? r->body_len : 0);
  op *o = op_new(k, extra);
  if (!o) return NULL;
  copier c = {o->data};
  o->u.m = *r;
  o->u.m.msg_id = copy_str(&c, r->msg_id);
  o->u.m.attrs_json = copy_str(&c, r->attrs_json);
  o->u.m.sys_json = copy_str(&c, r->sys_json);
  o->u.m.group_id = copy_str(&c, r->group_id);
  o->u.m.dedup_id = copy_str(&c, r->dedup_id);
  o->u.m.sender_id = copy_str(&c, r->sender_id);
  o->u.m.source_arn = copy_str(&c, r->source_arn);
  if (with_body) {
    if (r->body_len) memcpy(c.p, r->body, r->body_len);
    o->u.m.body = c.p;
  } else {
    o->u.m.body = NULL;
    o->u.m.body_len = 0;
  }
  return o;
}

uint64_t tw_store_msg_insert(tw_store *s, const tw_msg_row *r) {
  return push(s, msg_op(OP_MSG_INSERT, r, 1));
}

uint64_t tw_store_msg_update(tw_store *s, uint64_t seq, int64_t visible_at_ms, int receive_count,
                             int64_t first_receive_ms, uint32_t nonce) {
  op *o = op_new(OP_MSG_UPDATE, 0);
  if (!o) return 0;
  o->u.m.seq = seq;
  o->u.m.visible_at_ms = visible_at_ms;
  o->u.m.receive_count = receive_count;
  o->u.m.first_receive_ms = first_receive_ms;
  o->u.m.nonce = nonce;
  return push(s, o);
}

uint64_t tw_store_msg_move(tw_store *s, const tw_msg_row *r) {
  return push(s, msg_op(OP_MSG_MOVE, r, 0));
}

uint64_t tw_store_msg_delete(tw_store *s, uint64_t seq) {
  op *o = op_new(OP_MSG_DELETE, 0);
  if (!o) return 0;
  o->u.id = (int64_t)seq;
  return push(s, o);
}

uint64_t tw_store_dedup_put(tw_store *s, int64_t queue_id, const char *key, const char *msg_id,
                            uint64_t seqno, int64_t expires_ms) {
  op *o = op_new(OP_DEDUP_PUT, slen(key) + slen(msg_id));
  if (!o) return 0;
  copier c = {o->data};
  o->u.d.queue_id = queue_id;
  o->u.d.key = copy_str(&c, key);
  o->u.d.msg_id = copy_str(&c, msg_id);
  o->u.d.seqno = seqno;
  o->u.d.expires_ms = expires_ms;
  return push(s, o);
}

uint64_t tw_store_dedup_prune(tw_store *s, int64_t now_ms) {
  op *o = op_new(OP_DEDUP_PRUNE, 0);
  if (!o) return 0;
  o->u.id = now_ms;
  return push(s, o);
}

uint64_t tw_store_kv_put(tw_store *s, const char *key, const char *value) {
  op *o = op_new(OP_KV_PUT, slen(key) + slen(value));
  if (!o) return 0;
  copier c = {o->data};
  o->u.kv.key = copy_str(&c, key);
  o->u.kv.value = copy_str(&c, value);
  return push(s, o);
}

uint64_t tw_store_exec(tw_store *s, const char *sql, const tw_sql_val *vals, int n) {
  size_t extra = (size_t)n * sizeof(tw_sql_val);
  for (int i = 0; i < n; i++)
    if (vals[i].type == TW_SQL_TEXT || vals[i].type == TW_SQL_BLOB) extra += vals[i].n + 1;
  op *o = op_new(OP_SQL, extra);
  if (!o) return 0;
  tw_sql_val *copy = (tw_sql_val *)o->data;
  char *p = o->data + (size_t)n * sizeof(tw_sql_val);
  for (int i = 0; i < n; i++) {
    copy[i] = vals[i];
    if (vals[i].type == TW_SQL_TEXT || vals[i].type == TW_SQL_BLOB) {
      if (vals[i].n) memcpy(p, vals[i].s, vals[i].n);
      p[vals[i].n] = 0;
      copy[i].s = p;
      p += vals[i].n + 1;
    }
  }
  o->u.sql.sql = sql;
  o->u.sql.vals = copy;
  o->u.sql.n = n;
  return push(s, o);
}

void tw_store_hold(tw_store *s) {
  pthread_mutex_lock(&s->mu);
}

void tw_store_release(tw_store *s) {
  pthread_mutex_unlock(&s->mu);
}

/* One read-only connection per thread: WAL lets readers run beside the writer,
 * and they see exactly what has been committed. The store keeps a list of them
 * to close them all when it closes (after the threads that used them stopped). */
sqlite3 *tw_store_reader(tw_store *s) {
  if (t_reader && t_reader_of == s) return t_reader;
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
      SQLITE_OK) {
    tw_error("store: cannot open a reader: %s", db ? sqlite3_errmsg(db) : "?");
    sqlite3_close(db);
    return NULL;
  }
  sqlite3_busy_timeout(db, 5000);
  pthread_mutex_lock(&s->mu);
  sqlite3 **list = realloc(s->readers, (s->nreaders + 1) * sizeof *list);
  if (list) {
    s->readers = list;
    s->readers[s->nreaders++] = db;
  }
  pthread_mutex_unlock(&s->mu);
  t_reader = db;
  t_reader_of = s;
  t_nstmts = 0;
  return db;
}

sqlite3_stmt *tw_store_read_stmt(tw_store *s, const char *sql) {
  sqlite3 *db = tw_store_reader(s);
  if (!db) return NULL;
  for (int i = 0; i < t_nstmts; i++)
    if (t_stmts[i].sql == sql) return t_stmts[i].st;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
    tw_error("store: cannot prepare a read: %s", sqlite3_errmsg(db));
    return NULL;
  }
  if (t_nstmts < READ_STMT_CACHE) {
    t_stmts[t_nstmts].sql = sql;
    t_stmts[t_nstmts++].st = st;
  } /* else: stays prepared, finalized with its connection at close */
  return st;
}

void tw_store_read_done(sqlite3_stmt *st) {
  if (!st) return;
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
}

void tw_store_use_blobs(tw_store *s, tw_blobs *b) {
  s->blobs = b;
}

void tw_store_require_fs_sync(tw_store *s) {
  pthread_mutex_lock(&s->mu);
  s->pending_fs_sync = 1;
  pthread_mutex_unlock(&s->mu);
}
