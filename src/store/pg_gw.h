/* Cluster mode (--store postgres://...): what the gateway needs from
 * PostgreSQL beyond its repositories (gw_apikeys.h, gw_jobs.h,
 * gw_access_log.h, served by the PostgreSQL store of pg_s3.h in cluster
 * mode): a job submitted with its SQS message in one transaction, API keys
 * found by hash on any node, and the notifications (channel tw_gw) that make
 * a key created or revoked on one node known to every other. SQL lives in
 * src/store/pg/. */
#ifndef TW_STORE_PG_GW_H
#define TW_STORE_PG_GW_H
#include <stddef.h>
#include <stdint.h>

#include "store/gw_apikeys.h"
#include "store/gw_jobs.h"
#include "store/store.h"

/* A job and its message (the queue's row: sqs_queues, pg_sqs.h). */
typedef struct {
  const tw_gw_job_new *job;
  const char *queue;                          /* the job queue's name */
  const char *msg_id, *body;                  /* the SQS message */
  const char *attrs_json, *sys_json, *sender; /* NULL: none */
  int64_t idem_after_ms; /* an Idempotency-Key counts for jobs created after it */
  /* out */
  int replay; /* the key was used: that job's */
  char replay_id[37], replay_fp[65], replay_status[12];
  int too_large; /* the body exceeds the queue's MaximumMessageSize */
  int no_queue;  /* the queue does not exist or is a FIFO queue */
} tw_pg_gw_submit;

/* In one transaction on a pooled connection: with an Idempotency-Key, the
 * owner's job that has it (created after idem_after_ms: *replay, nothing
 * written; an older one gives the key up); else the job row and its message
 * (notifying tw_sqs when visible now). Two nodes submitting one key at once:
 * the unique index on (owner, idem_key) lets one in, the other answers its
 * job. 0 (see the out fields), TW_PG_UNAVAILABLE (-2) or -1. */
int tw_store_pg_gw_submit(tw_store *s, tw_pg_gw_submit *x);

/* A job's status change, decided on its latest committed state and
 * serialised across nodes: in one transaction on a pooled connection the row
 * is locked (FOR UPDATE), decide(ud, row, upd) looks at it (row valid during
 * the call) and either fills upd and returns 0 (it is written and committed)
 * or returns non-zero (nothing written: TW_PG_CONFLICT). Else TW_PG_NOT_FOUND,
 * TW_PG_UNAVAILABLE or TW_PG_ERROR. Two nodes changing one job at once: the
 * second decides on the first's result. */
typedef struct {
  enum { TW_GW_JOB_TO_RUNNING, TW_GW_JOB_TO_SUCCEEDED, TW_GW_JOB_TO_FAILED } to;
  int attempts;                     /* running: the attempt it starts */
  int64_t now_ms;                   /* started or finished at */
  const char *bucket, *key, *error; /* succeeded: the result; failed: the error */
} tw_gw_job_update;
typedef int (*tw_gw_job_decide)(void *ud, const tw_gw_job_row *row, tw_gw_job_update *upd);
int tw_store_pg_gw_job_change(tw_store *s, const char *id, tw_gw_job_decide decide, void *ud);

/* Throttling across the cluster: takes one token from the bucket `name`
 * (rate tokens a second, at most burst; a new bucket starts full), kept in
 * PostgreSQL so that every node draws from the same one. *wait: 0 taken, or
 * the seconds until a token is there. 0, or -1 when PostgreSQL could not
 * answer. */
int tw_store_pg_gw_take(tw_store *s, const char *name, double rate, double burst, double *wait);

/* The key with that hash (hash NULL: with that id): 1 (fn called once), 0
 * none, -1 error. */
int tw_store_pg_gw_key_find(tw_store *s, const char *hash, const char *id,
                            int (*fn)(void *ud, const tw_gw_apikey_row *row), void *ud);

/* fn(ud, id) on a listener thread (its own connection, LISTEN tw_gw) for each
 * API key created or revoked on any node (this one included); id NULL after
 * the listener (re)connected: notifications may have been missed, read every
 * key. NULL if the thread cannot start. Stop it before the store closes. */
typedef struct tw_pg_channel tw_pg_gw_listener; /* pg_channel.c */
tw_pg_gw_listener *tw_store_pg_gw_listen(tw_store *s, void (*fn)(void *ud, const char *id),
                                         void *ud);
void tw_store_pg_gw_listen_stop(tw_pg_gw_listener *l);

#endif
