/* The gateway's jobs: one row per job, its status and result; an owner's
 * Idempotency-Key finds the job its first request made. Whether a result
 * object still exists is S3's to say, not this repository's. */
#ifndef TW_STORE_GW_JOBS_H
#define TW_STORE_GW_JOBS_H
#include <stdint.h>
#include <stdlib.h>

#include "store/store.h"

#define TW_GW_JOB_TYPE_MAX 64

/* A job as stored. From get: owned (tw_gw_job_row_free); in a listing's
 * callback: valid during the call only. */
typedef struct {
  int64_t seq; /* the order of creation (listing cursor) */
  char id[37];
  char type[TW_GW_JOB_TYPE_MAX + 1];
  char status[12]; /* queued | running | succeeded | failed */
  int attempts;
  int64_t created_ms, started_ms, finished_ms; /* 0: not set */
  char *error;                                 /* NULL: none */
  char *result_bucket, *result_key;            /* NULL: no result */
} tw_gw_job_row;

static inline void tw_gw_job_row_free(tw_gw_job_row *j) {
  free(j->error);
  free(j->result_bucket);
  free(j->result_key);
  j->error = j->result_bucket = j->result_key = NULL;
}

/* A new job: queued, no attempts yet. */
typedef struct {
  const char *id, *type, *queue, *owner;
  int64_t created_ms;
  const char *idem_key, *fingerprint; /* NULL: no Idempotency-Key */
} tw_gw_job_new;

typedef struct {
  const char *status, *type; /* NULL: any */
  int64_t before_seq;        /* > 0: only older jobs (seq below it) */
  long limit;                /* at most this many rows */
} tw_gw_job_filter;

typedef struct {
  uint64_t (*insert)(tw_store *s, const tw_gw_job_new *j);
  /* -> running: attempts counted, started now, finish/error/result cleared */
  uint64_t (*start)(tw_store *s, const char *id, int attempts, int64_t now_ms);
  /* -> succeeded with its result object; the error cleared */
  uint64_t (*succeed)(tw_store *s, const char *id, int64_t now_ms, const char *bucket,
                      const char *key);
  /* -> failed with its error */
  uint64_t (*fail)(tw_store *s, const char *id, int64_t now_ms, const char *error);
  /* 1 found (*out owned: tw_gw_job_row_free), 0 not, -1 error. */
  int (*get)(tw_store *s, const char *id, tw_gw_job_row *out);
  /* Newest first (seq descending); fn returns non-zero to stop. 0, or -1 on error. */
  int (*list)(tw_store *s, const tw_gw_job_filter *f, int (*fn)(void *ud, const tw_gw_job_row *row),
              void *ud);
  /* The newest job of owner with idem_key created after after_ms: 1 found
   * (id, fingerprint and status set; fingerprint "" when none was kept), 0
   * not, -1 error. */
  int (*idem_find)(tw_store *s, const char *owner, const char *idem_key, int64_t after_ms,
                   char id[37], char fingerprint[65], char status[12]);
  /* The number of jobs per status (queued, running, succeeded, failed, in
   * that order): 0, or -1 on error. Counts the status index (a scan of it). */
  int (*count_by_status)(tw_store *s, int64_t out[4]);
} tw_gw_jobs_repo;

const tw_gw_jobs_repo *tw_store_gw_jobs(tw_store *s);

#endif
