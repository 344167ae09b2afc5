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
    " blob TEXT, modified_ms INTEGER, checksum TEXT, PRIMARY KEY(upload_id, num)) WITHOUT ROWID;";

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
