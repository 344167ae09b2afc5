/* The SQLite schema, one part per service. CREATE ... IF NOT EXISTS: run at
 * every start; columns added later come through migrations (store.c). */
#include "store/sqlite/sqlite_internal.h"

/* queues, their messages, FIFO deduplication, and small settings (kv) */
const char *const tw_sqlite_schema_sqs =
    "CREATE TABLE IF NOT EXISTS queues(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
    " fifo INTEGER NOT NULL, created INTEGER, modified INTEGER, attrs TEXT, tags TEXT,"
    " policy TEXT, fifo_seqno INTEGER, last_purge_ms INTEGER);"
    "CREATE TABLE IF NOT EXISTS messages(seq INTEGER PRIMARY KEY, queue_id INTEGER NOT NULL,"
    " msg_id TEXT NOT NULL, body BLOB, attrs TEXT, sys TEXT, sent_ms INTEGER,"
    " visible_at_ms INTEGER, first_receive_ms INTEGER, receive_count INTEGER, nonce INTEGER,"
    " group_id TEXT, dedup_id TEXT, sender_id TEXT, source_arn TEXT, seqno INTEGER);"
    "CREATE TABLE IF NOT EXISTS dedup(queue_id INTEGER, key TEXT, msg_id TEXT, seqno INTEGER,"
    " expires_ms INTEGER, PRIMARY KEY(queue_id, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS kv(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;";

/* S3: buckets with their settings, objects, multipart uploads and parts */
const char *const tw_sqlite_schema_s3 =
    "CREATE TABLE IF NOT EXISTS buckets(name TEXT PRIMARY KEY, created_ms INTEGER, region TEXT,"
    " notification TEXT, lifecycle TEXT, cors TEXT, policy TEXT, tags TEXT) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS objects(bucket TEXT NOT NULL, key BLOB NOT NULL, size INTEGER,"
    " etag TEXT, modified_ms INTEGER, blob TEXT, content_type TEXT, headers TEXT, meta TEXT,"
    " checksums TEXT, parts INTEGER, PRIMARY KEY(bucket, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS uploads(id TEXT PRIMARY KEY, bucket TEXT, key BLOB,"
    " initiated_ms INTEGER, content_type TEXT, headers TEXT, meta TEXT, checksum_algo TEXT)"
    " WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS parts(upload_id TEXT, num INTEGER, size INTEGER, etag TEXT,"
    " blob TEXT, modified_ms INTEGER, checksum TEXT, PRIMARY KEY(upload_id, num)) WITHOUT ROWID;"
    /* completed uploads, kept a while for a retried CompleteMultipartUpload */
    "CREATE TABLE IF NOT EXISTS uploads_done(id TEXT PRIMARY KEY, bucket TEXT, key BLOB,"
    " parts TEXT, result TEXT, done_ms INTEGER) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS uploads_done_age ON uploads_done(done_ms);"
    /* versions other than the latest object (which stays in objects), and
     * delete markers; noncurrent_ms: when it stopped being the latest (NULL:
     * a delete marker that is the latest) */
    "CREATE TABLE IF NOT EXISTS object_versions(bucket TEXT NOT NULL, key BLOB NOT NULL,"
    " vseq INTEGER NOT NULL, version_id TEXT, marker INTEGER NOT NULL DEFAULT 0, size INTEGER,"
    " etag TEXT, modified_ms INTEGER, blob TEXT, content_type TEXT, headers TEXT, meta TEXT,"
    " checksums TEXT, parts INTEGER, tags TEXT, mpu_parts TEXT, noncurrent_ms INTEGER,"
    " PRIMARY KEY(bucket, key, vseq)) WITHOUT ROWID;"
    /* small bodies kept in the store (blob_inline.c), named like blob files */
    "CREATE TABLE IF NOT EXISTS blob_inline(id TEXT PRIMARY KEY, created_ms INTEGER, data BLOB);";

/* the gateway: API keys, access log, jobs */
const char *const tw_sqlite_schema_gateway =
    /* gateway API keys (only the SHA-256 of a key is kept) and access log */
    "CREATE TABLE IF NOT EXISTS apikeys(id TEXT PRIMARY KEY, hash TEXT UNIQUE NOT NULL, name TEXT,"
    " prefix TEXT, scopes TEXT, created_ms INTEGER, expires_ms INTEGER, revoked_ms INTEGER,"
    " rate REAL, burst REAL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS access_log(id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL,"
    " principal TEXT, auth TEXT, method TEXT, route TEXT, path TEXT, status INTEGER,"
    " latency_us INTEGER, bytes_in INTEGER, bytes_out INTEGER, request_id TEXT, source_ip TEXT);"
    "CREATE INDEX IF NOT EXISTS access_log_time ON access_log(time_ms);"
    /* gateway jobs: seq orders listings newest first; owner + idem_key find an
     * Idempotency-Key's job */
    "CREATE TABLE IF NOT EXISTS jobs(seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL,"
    " type TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " created_ms INTEGER, started_ms INTEGER, finished_ms INTEGER, error TEXT,"
    " result_bucket TEXT, result_key BLOB, queue TEXT, owner TEXT, idem_key TEXT,"
    " fingerprint TEXT);"
    "CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, seq);"
    "CREATE INDEX IF NOT EXISTS jobs_type ON jobs(type, seq);"
    "CREATE INDEX IF NOT EXISTS jobs_idem ON jobs(owner, idem_key, created_ms)"
    " WHERE idem_key IS NOT NULL;";

/* EventBridge: event buses, and rules with their targets (a JSON array) */
const char *const tw_sqlite_schema_events =
    "CREATE TABLE IF NOT EXISTS eb_buses(name TEXT PRIMARY KEY, description TEXT, tags TEXT,"
    " created_ms INTEGER, modified_ms INTEGER) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS eb_rules(bus TEXT NOT NULL, name TEXT NOT NULL, pattern TEXT,"
    " schedule TEXT, state TEXT, description TEXT, role_arn TEXT, created_by TEXT, tags TEXT,"
    " targets TEXT, created_ms INTEGER, modified_ms INTEGER, PRIMARY KEY(bus, name))"
    " WITHOUT ROWID;";

/* EventBridge: connections and API destinations (JSON documents), the last
 * fire time of scheduled rules, and deliveries waiting for API destinations */
const char *const tw_sqlite_schema_eb_delivery =
    "CREATE TABLE IF NOT EXISTS eb_objects(kind TEXT NOT NULL, name TEXT NOT NULL, doc TEXT,"
    " PRIMARY KEY(kind, name)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS eb_marks(bus TEXT NOT NULL, rule TEXT NOT NULL, last_ms INTEGER,"
    " PRIMARY KEY(bus, rule)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS eb_outbox(id INTEGER PRIMARY KEY, rule_arn TEXT NOT NULL,"
    " target TEXT NOT NULL, request TEXT NOT NULL, event TEXT NOT NULL, body BLOB,"
    " attempts INTEGER NOT NULL, due_ms INTEGER NOT NULL, created_ms INTEGER);"
    "CREATE INDEX IF NOT EXISTS eb_outbox_due ON eb_outbox(due_ms);";

/* SNS: topics, subscriptions, and the FIFO topics' deduplication window */
const char *const tw_sqlite_schema_sns =
    "CREATE TABLE IF NOT EXISTS sns_topics(arn TEXT PRIMARY KEY, name TEXT NOT NULL,"
    " fifo INTEGER NOT NULL, created_ms INTEGER, attrs TEXT, tags TEXT, seqno INTEGER)"
    " WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS sns_subscriptions(arn TEXT PRIMARY KEY, topic_arn TEXT NOT NULL,"
    " protocol TEXT NOT NULL, endpoint TEXT, owner TEXT, principal TEXT, attrs TEXT,"
    " pending INTEGER, authenticated INTEGER, auth_unsubscribe INTEGER, token TEXT,"
    " token_expires_ms INTEGER, created_ms INTEGER) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS sns_subscriptions_topic ON sns_subscriptions(topic_arn);"
    "CREATE TABLE IF NOT EXISTS sns_dedup(topic_arn TEXT NOT NULL, key TEXT NOT NULL,"
    " msg_id TEXT, seqno INTEGER, expires_ms INTEGER, PRIMARY KEY(topic_arn, key)) WITHOUT ROWID;";

/* SNS: deliveries waiting to leave the process (http, https, email), by due time */
const char *const tw_sqlite_schema_sns_outbox =
    "CREATE TABLE IF NOT EXISTS sns_outbox(id INTEGER PRIMARY KEY, sub_arn TEXT NOT NULL,"
    " topic_arn TEXT NOT NULL, protocol TEXT NOT NULL, endpoint TEXT NOT NULL, kind TEXT NOT NULL,"
    " msg_id TEXT NOT NULL, subject TEXT, from_name TEXT, raw INTEGER, body BLOB,"
    " attempts INTEGER NOT NULL, due_ms INTEGER NOT NULL, created_ms INTEGER);"
    "CREATE INDEX IF NOT EXISTS sns_outbox_due ON sns_outbox(due_ms);";

/* CloudWatch metrics: the catalog, and one row per (metric, slot, level, unit)
 * holding its statistics and sketch (store/metrics.h); the index finds a
 * level's oldest slots for roll-ups and retention */
const char *const tw_sqlite_schema_metrics =
    "CREATE TABLE IF NOT EXISTS cw_metrics(id INTEGER PRIMARY KEY, namespace TEXT NOT NULL,"
    " name TEXT NOT NULL, dims TEXT NOT NULL, last_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cw_points(metric_id INTEGER NOT NULL, ts INTEGER NOT NULL,"
    " level INTEGER NOT NULL, unit INTEGER NOT NULL, cell BLOB NOT NULL,"
    " PRIMARY KEY(metric_id, ts, level, unit)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS cw_points_age ON cw_points(level, ts);";

/* CloudWatch alarms and dashboards (JSON documents, store/cw_alarms.h), and
 * the alarms' history (two weeks) */
const char *const tw_sqlite_schema_alarms =
    "CREATE TABLE IF NOT EXISTS cw_alarms(name TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS cw_alarm_history(id INTEGER PRIMARY KEY, alarm_name TEXT NOT NULL,"
    " alarm_type TEXT, ts_ms INTEGER NOT NULL, type TEXT NOT NULL, summary TEXT, data TEXT);"
    "CREATE INDEX IF NOT EXISTS cw_alarm_history_time ON cw_alarm_history(ts_ms);"
    "CREATE TABLE IF NOT EXISTS cw_dashboards(name TEXT PRIMARY KEY, doc TEXT NOT NULL)"
    " WITHOUT ROWID;";

/* CloudWatch Logs: groups, streams and events (store/cw_logs.h); events are
 * read in (ts, seq) order per group and per stream */
const char *const tw_sqlite_schema_logs =
    "CREATE TABLE IF NOT EXISTS cw_log_groups(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
    " created_ms INTEGER, retention_days INTEGER);"
    "CREATE TABLE IF NOT EXISTS cw_log_streams(id INTEGER PRIMARY KEY, group_id INTEGER NOT NULL,"
    " name TEXT NOT NULL, created_ms INTEGER, first_ts INTEGER, last_ts INTEGER,"
    " last_ingest_ms INTEGER, stored_bytes INTEGER);"
    "CREATE TABLE IF NOT EXISTS cw_log_events(seq INTEGER PRIMARY KEY, group_id INTEGER NOT NULL,"
    " stream_id INTEGER NOT NULL, ts INTEGER NOT NULL, ingest_ms INTEGER, msg TEXT);"
    "CREATE INDEX IF NOT EXISTS cw_log_events_group ON cw_log_events(group_id, ts, seq);"
    "CREATE INDEX IF NOT EXISTS cw_log_events_stream ON cw_log_events(stream_id, ts, seq);";
