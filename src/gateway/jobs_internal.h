/* Shared by the two halves of the job API: jobs.c (HTTP: parsing, validation,
 * replies) and jobs_state.c (the jobs table, changes not yet committed, the job
 * queues and the dead-letter hook). */
#ifndef TW_GATEWAY_JOBS_INTERNAL_H
#define TW_GATEWAY_JOBS_INTERNAL_H
#include <stddef.h>
#include <stdint.h>

#include "gateway/gateway_internal.h"

#define TW_JOB_TYPE_MAX 64

/* One job as the API shows it. Strings other than the arrays are owned. */
typedef struct {
  int64_t seq; /* the row's order of creation (listing cursor) */
  char id[37];
  char type[TW_JOB_TYPE_MAX + 1];
  char status[12]; /* queued | running | succeeded | failed */
  int attempts;
  int64_t created, started, finished; /* epoch ms; 0: not yet */
  char *error;
  char *bucket, *key; /* the result, or NULL */
  int64_t size;       /* the result object's size; -1: it does not exist (any more) */
} tw_job;
void tw_job_clear(tw_job *j);

typedef struct tw_jobs tw_jobs;
tw_jobs *tw_jobs_get(void); /* NULL until tw_jobs_open */

enum {
  TW_JOB_OK,
  TW_JOB_ERROR, /* the store could not be read */
  TW_JOB_NOT_FOUND,
  TW_JOB_CONFLICT,      /* transition not allowed from the current status */
  TW_JOB_REPLAY,        /* Idempotency-Key seen with the same request: its job */
  TW_JOB_IDEM_BUSY,     /* ... its first request is not durable yet */
  TW_JOB_IDEM_MISMATCH, /* ... with a different request */
  TW_JOB_TOO_LARGE,     /* the message exceeds the queue's MaximumMessageSize */
  TW_JOB_NO_QUEUE,      /* the job type's queue is gone (or FIFO) */
  TW_JOB_UNAVAILABLE,   /* cluster mode: PostgreSQL cannot be reached */
};

typedef struct {
  /* in */
  char id[37];
  const char *type;
  const char *body;   /* the SQS message body: {"id","type","payload"} */
  const char *sender; /* SenderId of the message */
  const char *trace;  /* the caller's trace (core/trace.h): AWSTraceHeader, or NULL */
  char owner[140];    /* the caller: Idempotency-Keys are per owner */
  const char *idem_key;
  char fingerprint[65]; /* SHA-256 of the canonical request, with idem_key */
  /* out */
  char queue_name[81];
  char replay_id[37], replay_status[12]; /* TW_JOB_REPLAY */
} tw_job_submit;
/* Records the job and enqueues its message in one store transaction; *ticket
 * is the batch to wait for. */
int tw_jobs_submit(tw_jobs *J, tw_job_submit *s, uint64_t *ticket);

/* The committed job: 1 found, 0 not, -1 error. */
int tw_jobs_read(tw_jobs *J, const char *id, tw_job *out);

typedef struct {
  const char *status, *type; /* NULL: any */
  int limit;
  int64_t before_seq; /* 0: from the newest */
} tw_job_filter;
/* Newest first; *next_seq > 0 when more follow (the cursor). Returns the count or -1. */
int tw_jobs_list(tw_jobs *J, const tw_job_filter *f, tw_job **rows, int64_t *next_seq);

typedef enum { TW_JOB_START, TW_JOB_COMPLETE, TW_JOB_FAIL } tw_job_verb;
typedef struct {
  tw_job_verb verb;
  const char *bucket, *key; /* complete */
  int64_t size;             /* complete: the result's size */
  const char *error;        /* fail */
} tw_job_change;
/* Checks the transition against the job's latest state and records it. On
 * TW_JOB_OK *after is the new state (clear it); TW_JOB_CONFLICT explains in why. */
int tw_jobs_change(tw_jobs *J, const char *id, const tw_job_change *ch, tw_job *after,
                   uint64_t *ticket, char *why, size_t whylen);

/* Asks S3: 1 the object exists (*size set), 0 no such key, -1 no such bucket,
 * -2 error. */
int tw_jobs_object_size(tw_jobs *J, const char *bucket, const char *key, int64_t *size);
int tw_jobs_valid_type(const char *t);
/* POST /jobs: the body's checks (a JSON object) and the Idempotency-Key
 * header's (NULL: none); NULL when valid, else the 400's message. */
const char *tw_jobs_check_submit(const json_t *doc, const char *idem);
/* GET /jobs?cursor=: the sequence number a cursor carries; -1 not a cursor. */
int64_t tw_jobs_cursor_decode(const char *s);

#endif
