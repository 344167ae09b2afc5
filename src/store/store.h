/* The durable store: SQLite in WAL mode, synchronous=FULL, written by one thread.
 *
 * Engines change their in-memory state and, under the same lock, append the
 * matching operation here; the writer thread commits whatever has piled up as one
 * transaction (group commit) and then reports the batch number it made durable.
 * A caller answers its client only once `tw_store_committed()` has reached the
 * ticket its operation returned, so every acknowledgement is on disk. */
#ifndef TW_STORE_STORE_H
#define TW_STORE_STORE_H
#include <stddef.h>
#include <stdint.h>

typedef struct tw_store tw_store;

typedef struct {
  int64_t id;
  const char *name;
  int fifo;
  int64_t created, modified; /* epoch seconds */
  const char *attrs_json;    /* the settable attributes, as a JSON object of strings */
  const char *tags_json;
  const char *policy_json; /* the queue policy built by AddPermission, or NULL */
  uint64_t fifo_seqno;     /* last SequenceNumber handed out */
  int64_t last_purge_ms;
} tw_queue_row;

typedef struct {
  uint64_t seq; /* tweedle's own message number: global, increasing */
  int64_t queue_id;
  const char *msg_id;
  const void *body;
  size_t body_len;
  const char *attrs_json; /* MessageAttributes in JSON-protocol shape, or NULL */
  const char *sys_json;   /* MessageSystemAttributes (AWSTraceHeader), or NULL */
  int64_t sent_ms, visible_at_ms, first_receive_ms;
  int receive_count;
  uint32_t nonce;
  const char *group_id, *dedup_id, *sender_id, *source_arn;
  uint64_t seqno;
} tw_msg_row;

typedef struct {
  void (*queue)(void *ud, const tw_queue_row *row);
  void (*message)(void *ud, const tw_msg_row *row);
  void (*dedup)(void *ud, int64_t queue_id, const char *key, const char *msg_id, uint64_t seqno,
                int64_t expires_ms);
  void (*kv)(void *ud, const char *key, const char *value);
} tw_store_loader;

/* Called on the writer thread after each durable commit (ok=0 when it failed). */
typedef void (*tw_commit_cb)(void *ud, uint64_t committed, int ok);

tw_store *tw_store_open(const char *dir, char *err, size_t errlen);
/* Replays the saved state through `ld` (before starting the writer). Messages
 * come without their body, attributes and system attributes (body NULL,
 * body_len 0): those are read when needed with tw_store_msg_read. */
int tw_store_load(tw_store *s, const tw_store_loader *ld, void *ud);
/* Reads the full rows of the messages seqs[0..n) (committed data, on this
 * thread's reader, 10 per statement): fn once per row found, in any order;
 * the row's pointers are valid during the call. The number found, -1 on error. */
int tw_store_msg_read(tw_store *s, const uint64_t *seqs, size_t n,
                      void (*fn)(void *ud, const tw_msg_row *row), void *ud);
int tw_store_start(tw_store *s, tw_commit_cb cb, void *ud);
/* Commits what is pending, stops the writer and closes the database. */
void tw_store_close(tw_store *s);
uint64_t tw_store_committed(tw_store *s);
/* How many batches have failed so far. It moves before anyone waiting for
 * the failed batch is told, so a caller that reads it before looking at
 * in-memory state, and finds it unchanged when it answers, knows that no
 * failure undid what it saw; engines that keep state in memory reload it when
 * it moved (tw_sqs, the gateway's API keys). */
uint64_t tw_store_failures(tw_store *s);
/* Highest message sequence number ever saved (to continue numbering). */
uint64_t tw_store_max_seq(tw_store *s);
int64_t tw_store_max_queue_id(tw_store *s);

/* Operations. Each returns the ticket of the batch that will make it durable. */
uint64_t tw_store_queue_save(tw_store *s, const tw_queue_row *row);
uint64_t tw_store_queue_delete(tw_store *s, int64_t queue_id);
uint64_t tw_store_msg_insert(tw_store *s, const tw_msg_row *row);
uint64_t tw_store_msg_update(tw_store *s, uint64_t seq, int64_t visible_at_ms, int receive_count,
                             int64_t first_receive_ms, uint32_t nonce);
/* Moves a message to another queue (dead-letter redrive, move tasks). */
uint64_t tw_store_msg_move(tw_store *s, const tw_msg_row *row);
uint64_t tw_store_msg_delete(tw_store *s, uint64_t seq);
uint64_t tw_store_dedup_put(tw_store *s, int64_t queue_id, const char *key, const char *msg_id,
                            uint64_t seqno, int64_t expires_ms);
uint64_t tw_store_dedup_prune(tw_store *s, int64_t now_ms);
uint64_t tw_store_kv_put(tw_store *s, const char *key, const char *value); /* value NULL deletes */
/* A ticket for "everything appended so far", to wait on without adding work. */
uint64_t tw_store_ticket(tw_store *s);

/* --- repositories -------------------------------------------------------------
 * What a service keeps beyond the queue engine's rows goes through a typed
 * repository: a header src/store/<repo>.h with the row structs and a struct of
 * function pointers (tw_<repo>_repo), returned by tw_store_<repo>(store); each
 * backend fills one (src/store/sqlite/<repo>.c; S3's also on PostgreSQL,
 * src/store/pg/s3_*.c, for a store opened with store/pg_s3.h: backend.h).
 *   - writes append to the open batch and return its ticket (as the calls
 *     above); callers that need several writes in one batch hold the store;
 *   - reads see committed data only, on the calling thread;
 *   - rows come back in caller-owned structs with a matching _free, or through
 *     a callback per row for listings;
 *   - no SQL, no sqlite3 type, crosses the interface.
 * The SQLite backend's statement helpers are private to it
 * (src/store/sqlite/sqlite_internal.h). */

/* Called on the writer thread after each batch with its duration (seconds,
 * from BEGIN to COMMIT), the number of operations it held and whether it
 * committed: the Prometheus endpoint's histograms (src/prom). Set before
 * the writer starts; NULL: none. */
extern void (*tw_store_batch_hook)(double seconds, size_t ops, int ok);

/* Operations appended between hold and release commit in the same transaction.
 * Lock order: an engine's own lock first, then hold. */
void tw_store_hold(tw_store *s);
void tw_store_release(tw_store *s);
/* The blob store whose bodies batches may name (blobs.h); before start. */
struct tw_blobs;
void tw_store_use_blobs(tw_store *s, struct tw_blobs *b);
/* The open batch names bodies published without sync: the writer syncs the
 * blob store before committing it. Call under hold. */
void tw_store_require_fs_sync(tw_store *s);
#endif
