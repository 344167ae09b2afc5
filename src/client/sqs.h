/* A small SQS client: the JSON 1.0 protocol (POST /, X-Amz-Target:
 * AmazonSQS.<Action>, SigV4), which tweedle and AWS both speak. Requests and
 * responses are jansson objects with the API's own member names
 * ({"QueueUrl": ..., "MaxNumberOfMessages": 10}), so any action is one
 * tw_sqsc_call; helpers cover what the worker and the CLI tools use.
 *
 * Thread-safe: one tw_sqsc may be shared by any number of threads.
 * (Prefix tw_sqsc_: tw_sqs_* names belong to the server's queue engine.)
 *
 *   tw_aws_creds cr;  tw_aws_creds_from_env(&cr, err, sizeof err);
 *   char ep[512];     tw_aws_endpoint("sqs", flag_endpoint, cr.region, ep, sizeof ep);
 *   tw_sqsc *q = tw_sqsc_new(ep, &cr, err, sizeof err);
 *   char url[1024];   tw_sqsc_queue_url(q, "jobs", url, sizeof url, &e);
 *   json_t *msgs;     tw_sqsc_receive(q, url, 10, 20, -1, &msgs, &e, NULL);
 */
#ifndef TW_CLIENT_SQS_H
#define TW_CLIENT_SQS_H
#include <jansson.h>
#include <stddef.h>

#include "client/aws.h"
#include "net/http.h"

typedef struct tw_sqsc tw_sqsc;

/* Why a call failed. status: the HTTP status, or -1 when no response came
 * (then code is "" and message says why; "cancelled" when a cancel token fired). */
typedef struct {
  int status;
  char code[128]; /* the shape after '#' in __type: "QueueDoesNotExist", ... */
  char message[1024];
} tw_sqsc_error;

tw_sqsc *tw_sqsc_new(const char *endpoint_url, const tw_aws_creds *creds, char *err, size_t errlen);
void tw_sqsc_free(tw_sqsc *c);
tw_aws *tw_sqsc_aws(tw_sqsc *c);

/* Calls `action` with the request object req (borrowed; NULL sends {}). On
 * success *resp (when resp is non-NULL) receives the response object (a new
 * reference; {} for actions that answer nothing). Transport failures and 500 /
 * 503 answers are tried up to 3 times in all (not after a cancel). Returns 0,
 * or -1 with e filled. cancel may be NULL. */
int tw_sqsc_call(tw_sqsc *c, const char *action, json_t *req, json_t **resp, tw_sqsc_error *e,
                 tw_http_cancel *cancel);

/* GetQueueUrl. A name or a full URL ("http(s)://...": returned as is). */
int tw_sqsc_queue_url(tw_sqsc *c, const char *name_or_url, char *out, size_t n, tw_sqsc_error *e);

/* GetQueueAttributes with AttributeNames ["All"]: *attrs is the Attributes map
 * (new reference; values are strings as SQS sends them). */
int tw_sqsc_queue_attributes(tw_sqsc *c, const char *queue_url, json_t **attrs, tw_sqsc_error *e);

/* ReceiveMessage: max 1..10 messages, wait_s 0..20, visibility -1 for the
 * queue's own; asks for all system attributes and all message attributes.
 * *messages is the Messages array (new reference, possibly empty). */
int tw_sqsc_receive(tw_sqsc *c, const char *queue_url, int max, int wait_s, int visibility,
                    json_t **messages, tw_sqsc_error *e, tw_http_cancel *cancel);

/* DeleteMessageBatch / ChangeMessageVisibilityBatch over n receipt handles
 * (any n: sent 10 at a time). ok[i] (optional) is set to 1 for entries that
 * succeeded, 0 for failed ones. Returns the number of failed entries, or -1
 * when a whole request failed (e filled; ok[] of its entries stays 0). */
int tw_sqsc_delete_batch(tw_sqsc *c, const char *queue_url, const char *const *handles, size_t n,
                         int *ok, tw_sqsc_error *e);
int tw_sqsc_change_visibility_batch(tw_sqsc *c, const char *queue_url, const char *const *handles,
                                    size_t n, int timeout_s, int *ok, tw_sqsc_error *e);

/* SendMessage. attributes: the MessageAttributes map ({"k":{"DataType":
 * "String","StringValue":"v"}}) or NULL; group_id / dedup_id for FIFO or NULL;
 * delay_s -1 for none. message_id (optional, 128 bytes) receives the id. */
int tw_sqsc_send(tw_sqsc *c, const char *queue_url, const char *body, size_t len,
                 json_t *attributes, const char *group_id, const char *dedup_id, int delay_s,
                 char *message_id, tw_sqsc_error *e);

/* "<code>: <message>" (or the transport error) for logs. */
const char *tw_sqsc_strerror(const tw_sqsc_error *e, char *out, size_t n);

#endif
