/* What both queue engines share: the embedded one (engine.c, sqs_queue.c,
 * sqs_message.c) and cluster mode's (sqs_pg*.c). Queue attribute names,
 * defaults and checks; GetQueueAttributes replies; ListQueues pages and
 * tokens; receipt handles; message (system) attribute selection; batch
 * failures. Nothing here touches an engine's state. */
#ifndef TW_SQS_COMMON_H
#define TW_SQS_COMMON_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"
#include "events/bus.h"
#include "sqs/sqs.h"

/* --- deliveries from other services (sqs_events.c) --------------------------- */

/* Whether a delivery from S3, SNS or EventBridge (e->source) to the queue
 * queue_arn, whose Policy document is policy (NULL: none), is allowed: a
 * policy that names that service's principal must allow sqs:SendMessage
 * (aws:SourceArn e->resource, aws:SourceAccount account); a queue without
 * such a statement takes every delivery. 1 allowed. */
int tw_sqs_delivery_allowed(json_t *policy, const char *queue_arn, const char *account,
                            const tw_event *e);

/* --- queue attributes ------------------------------------------------------ */

/* The attributes CreateQueue / SetQueueAttributes take, NULL-terminated. */
extern const char *const tw_sqs_settable[];
/* An attribute's value when not set, canonical ("" when it has none). */
const char *tw_sqs_attr_default(const char *k, int fifo);
/* Attributes arrive as strings; numbers and booleans given as JSON become
 * strings. NULL with c->err on any other type. */
json_t *tw_sqs_attrs_as_strings(tw_sqs_call *c, json_t *in);
/* Checks attribute k = v for a queue of kind fifo: known name, ranges,
 * booleans, Policy, FifoQueue, the FIFO attributes. existing: set on a queue
 * that exists (SetQueueAttributes), whose attributes are cur (or NULL); all:
 * every attribute of the request. 0 valid, -1 invalid (c->err); 1: k is
 * RedrivePolicy or RedriveAllowPolicy with a value, for the engine to check. */
int tw_sqs_attr_check(tw_sqs_call *c, const char *k, const char *v, int fifo, int existing,
                      json_t *cur, json_t *all);
/* Every attribute GetQueueAttributes reports, as strings, in its order.
 * policy: the queue's policy document (NULL: the Policy of attrs, if any). */
typedef struct {
  json_t *attrs; /* settable attributes as stored */
  const char *policy;
  int fifo;
  const char *arn;
  int64_t created, modified;
  long long visible, inflight, delayed;
} tw_sqs_queue_view;
json_t *tw_sqs_queue_attrs_json(const tw_sqs_queue_view *v);
/* CreateQueue's tags ("tags" or "Tags"; NULL when none) in *tags: 0, or -1
 * with InvalidParameterValue when more than 50. */
int tw_sqs_create_tags(tw_sqs_call *c, const char *name, json_t **tags);
/* GetQueueAttributes' AttributeNames: 0, or -1 with InvalidAttributeName. */
int tw_sqs_check_attribute_names(tw_sqs_call *c, json_t *names);
/* Sets c->out to the attributes of all that names ask for; takes all. */
void tw_sqs_attributes_reply(tw_sqs_call *c, json_t *names, json_t *all);

/* The queue name a request names: the last segment of QueueUrl (any host;
 * path ends in /<account>/<name>), else of the request path; "" when none.
 * In buf (512 bytes). NULL with MissingParameter when there is neither. */
const char *tw_sqs_queue_name_of(tw_sqs_call *c, char buf[512]);

/* --- ListQueues, ListDeadLetterSourceQueues -------------------------------- */

typedef struct {
  long long max;
  int has_max;
  char after[256]; /* the name to continue after ("" from the start) */
} tw_sqs_page;
/* MaxResults and NextToken; 0 or -1 with c->err. */
int tw_sqs_page_parse(tw_sqs_call *c, tw_sqs_page *pg);
/* Sets c->out: the URLs of names (sorted) under key, and a NextToken. */
void tw_sqs_page_reply(tw_sqs_call *c, const tw_sqs_page *pg, const char *const *names, size_t n,
                       const char *account, const char *key);

/* --- receipt handles --------------------------------------------------------- */

/* seq, nonce and queue id in hex, then an HMAC of them under secret. */
void tw_sqs_receipt_make(const uint8_t secret[32], uint64_t seq, uint32_t nonce, int64_t qid,
                         char out[80]);
/* 0 parsed; -1 malformed or forged. */
int tw_sqs_receipt_read(const uint8_t secret[32], const char *h, uint64_t *seq, uint32_t *nonce,
                        int64_t *qid);
/* As tw_sqs_receipt_read for a request on queue qid: 0, or -1 with c->err
 * (missing, invalid, for another queue). */
int tw_sqs_receipt_check(tw_sqs_call *c, const uint8_t secret[32], int64_t qid, const char *h,
                         uint64_t *seq, uint32_t *nonce);

/* --- receiving --------------------------------------------------------------- */

enum {
  TW_SA_SENDER = 1,
  TW_SA_SENT = 2,
  TW_SA_COUNT = 4,
  TW_SA_FIRST = 8,
  TW_SA_SEQ = 16,
  TW_SA_DEDUP = 32,
  TW_SA_GROUP = 64,
  TW_SA_TRACE = 128,
  TW_SA_DLQ_SRC = 256,
  TW_SA_ALL = 511
};
/* ReceiveMessage's MaxNumberOfMessages (1 when absent), VisibilityTimeout
 * and WaitTimeSeconds (-1 when absent: the queue's). 0 or -1 with c->err. */
int tw_sqs_receive_params(tw_sqs_call *c, long long *max, long long *vis, long long *wait);
/* Ends a ReceiveMessage that found n messages (list, taken): asks to park
 * (c->wants_wait) while none came, the wait is not over and the engine is
 * not stopping; else sets c->out. */
void tw_sqs_receive_reply(tw_sqs_call *c, json_t *list, int n, long long wait, int stopping,
                          int64_t qid);
/* The system attributes a ReceiveMessage asks for (AttributeNames,
 * MessageSystemAttributeNames), as TW_SA_* bits. */
unsigned tw_sqs_sys_attr_mask(json_t *in);
/* The message attributes that MessageAttributeNames select ("All", ".*",
 * exact names, prefixes "foo.*"); NULL when none. */
json_t *tw_sqs_filter_attrs(json_t *attrs, json_t *names);

/* --- batches ----------------------------------------------------------------- */

/* Appends a Failed entry (msg "" or NULL: the error's own message). */
void tw_sqs_batch_failed(json_t *failed, const char *id, tw_err e, const char *msg);

/* --- sending ----------------------------------------------------------------- */

struct tw_sqs_send_req;
/* The checks of a parsed send (tw_sqs_send_parse) against the queue it goes
 * to: size, FIFO group / delay / deduplication. 0, or -1 with c->err. */
int tw_sqs_send_queue_check(tw_sqs_call *c, const struct tw_sqs_send_req *r, int max_size, int fifo,
                            int content_dedup);

/* --- dead-letter queues -------------------------------------------------------- */

/* What an engine knows of the queue an ARN names: 0 found (*fifo, *attrs: its
 * settable attributes, a new reference), 1 no such queue, -1 with c->err. */
typedef int (*tw_sqs_dlq_lookup)(void *ctx, tw_sqs_call *c, const char *arn, int *fifo,
                                 json_t **attrs);
/* RedrivePolicy / RedriveAllowPolicy k = v (not empty) of a queue of kind
 * fifo, the target looked up with lookup; other k pass. 0, or -1 with c->err. */
int tw_sqs_redrive_check(tw_sqs_call *c, const char *k, const char *v, int fifo,
                         tw_sqs_dlq_lookup lookup, void *ctx);
/* The RedrivePolicy in attrs (if any) may target its queue: that queue's
 * RedriveAllowPolicy lets source_arn. 0, or -1 with c->err. */
int tw_sqs_redrive_allow_check(tw_sqs_call *c, json_t *attrs, const char *source_arn,
                               tw_sqs_dlq_lookup lookup, void *ctx);
/* Attribute k = v as stored (RedrivePolicy's maxReceiveCount a number): new ref. */
json_t *tw_sqs_attr_normalized(const char *k, json_t *v);

/* --- permissions (AddPermission, RemovePermission) ------------------------------- */

/* AddPermission's Label, AWSAccountIds and Actions: 0, or -1 with c->err. */
int tw_sqs_permission_check(tw_sqs_call *c);
/* 0 when no statement of st has the Sid label, else -1 with c->err. */
int tw_sqs_permission_label_free(tw_sqs_call *c, json_t *st, const char *label);
/* The statement AddPermission adds to the policy of queue arn. */
json_t *tw_sqs_permission_statement(tw_sqs_call *c, const char *arn);
/* Removes RemovePermission's Label from *doc (NULL: none; NULL again when no
 * statement is left): 0, or -1 with c->err. */
int tw_sqs_permission_remove(tw_sqs_call *c, json_t **doc);
/* The policy's statements as an array, for AddPermission/RemovePermission:
 * a missing document becomes the default policy of the queue `arn` (arn
 * NULL: stays missing, NULL returned), and a Statement that is one object
 * (policy grammar allows it) becomes a list holding it, so that adding
 * keeps it. */
json_t *tw_sqs_policy_statements(json_t **doc, const char *arn);

/* --- message move tasks ------------------------------------------------------------ */

typedef struct {
  const char *handle, *status, *source_arn, *dest_arn, *failure;
  int rate;
  int64_t moved, to_move, started_ms;
} tw_sqs_task_view;
/* The view of an engine's task t (any struct with these fields). */
#define TW_SQS_TASK_VIEW(t)                                                                   \
  ((tw_sqs_task_view){(t)->handle, (t)->status, (t)->source_arn, (t)->dest_arn, (t)->failure, \
                      (t)->rate, (t)->moved, (t)->to_move, (t)->started_ms})
/* A task as ListMessageMoveTasks shows it. */
json_t *tw_sqs_task_json(const tw_sqs_task_view *t);
/* StartMessageMoveTask's SourceArn, DestinationArn (NULL: none) and
 * MaxNumberOfMessagesPerSecond (0: none): 0, or -1 with c->err. */
int tw_sqs_move_start_params(tw_sqs_call *c, const char **src, const char **dst, long long *rate);
/* ListMessageMoveTasks' SourceArn and MaxResults (1 when absent). */
int tw_sqs_move_list_params(tw_sqs_call *c, const char **src, long long *max);
/* CancelMessageMoveTask's TaskHandle: NULL with c->err when missing. */
const char *tw_sqs_move_cancel_param(tw_sqs_call *c);
/* A new task's handle for source queue src. */
void tw_sqs_move_handle(const char *src, char out[64]);
enum {
  TW_MOVE_NO_SOURCE,      /* SourceArn names no queue */
  TW_MOVE_NO_DESTINATION, /* DestinationArn names no queue */
  TW_MOVE_NOT_DLQ,        /* the source is no queue's dead-letter queue */
  TW_MOVE_BUSY,           /* the source has an active task */
  TW_MOVE_BAD_HANDLE,     /* no such task */
  TW_MOVE_NOT_RUNNING     /* the task is not RUNNING */
};
/* The error of a move task action (TW_MOVE_*). Returns -1. */
int tw_sqs_move_fail(tw_sqs_call *c, int why);

#endif
