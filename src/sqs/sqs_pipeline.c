/* TweedleDeleteAndSend: a tweedle extension for state-machine pipelines.
 *
 *   X-Amz-Target: AmazonSQS.TweedleDeleteAndSend   (query: Action=TweedleDeleteAndSend)
 *   {"QueueUrl": ..., "ReceiptHandle": ...,
 *    "Entries": [{"Id", "MessageBody", ..., "QueueUrl"?}, ...]}   (0..10 entries)
 *
 * Deletes the received message and sends the entries (SendMessageBatch entries,
 * each to its own QueueUrl or to the request's) in one store transaction, so a
 * crash can neither lose a pipeline's state nor run a step twice: either the old
 * state is gone and the new one is queued, or nothing happened. It is all or
 * nothing: any invalid entry fails the whole request and nothing changes.
 *
 * The receipt handle must be the latest one given out for the message (nobody
 * received the message since): a stale handle, or one whose message is already
 * gone, fails with ReceiptHandleIsInvalid and sends nothing, so a slow worker
 * whose message went to another worker cannot double a state. The name lives in
 * the AmazonSQS namespace on purpose: AWS and other SQS servers answer it with
 * their ordinary unknown-operation error, which clients take as "not tweedle".
 * Cluster mode (--store postgres://) runs tw_sqs_pg_delete_and_send
 * (sqs_pg_message.c) instead: the same checks, one PostgreSQL transaction. */
#include <stdio.h>
#include <string.h>

#include "sqs/params.h"
#include "sqs/sqs_actions.h"
#include "sqs/sqs_internal.h"

#define MAX_ENTRIES 10
#define MAX_PAYLOAD 1048576

/* An entry's queue: its own QueueUrl, else the request's queue. Lock held. */
static tw_queue *entry_queue(tw_sqs_call *c, json_t *entry, tw_queue *dflt) {
  const char *url = tw_p_str(entry, "QueueUrl");
  if (!url) return dflt;
  tw_sqs_call sub = *c;
  sub.in = entry;
  sub.out = NULL;
  tw_queue *q = tw_sqs_resolve_queue(&sub);
  if (!q) {
    c->err = sub.err;
    memcpy(c->msg, sub.msg, sizeof c->msg);
  }
  return q;
}

/* Prefixes c->msg with the entry id, so the caller learns which entry failed. */
static int entry_fail(tw_sqs_call *c, const tw_sqs_call *sub, const char *id) {
  c->err = sub->err;
  const char *m = sub->msg[0] ? sub->msg : tw_err_get(sub->err)->message;
  snprintf(c->msg, sizeof c->msg, "Entry %s: %.900s", id, m);
  return -1;
}

int tw_sqs_tweedle_delete_and_send(tw_sqs_call *c) {
  const char *handle = tw_p_str(c->in, "ReceiptHandle");
  if (!handle || !*handle)
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                       "The request must contain the parameter ReceiptHandle.");
  /* Entries: absent or [] means "the record is finished": only the delete. */
  json_t *entries = json_object_get(c->in, "Entries");
  size_t n = 0;
  if (entries && !json_is_null(entries) && !(json_is_array(entries) && !json_array_size(entries))) {
    entries = tw_sqs_batch_entries(c, "entry");
    if (!entries) return -1;
    n = json_array_size(entries);
  }
  tw_sqs_send_req reqs[MAX_ENTRIES];
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(entries, i);
    tw_sqs_call sub = *c;
    sub.err = TW_ERR_OK;
    sub.msg[0] = 0;
    if (tw_sqs_send_parse(&sub, e, &reqs[i])) return entry_fail(c, &sub, tw_p_str(e, "Id"));
    total += reqs[i].size;
  }
  if (total > MAX_PAYLOAD)
    return tw_sqs_fail(
        c, TW_ERR_BATCH_TOO_LONG,
        "Batch requests cannot be longer than 1048576 bytes. You have sent %zu bytes.", total);

  tw_sqs *s = c->sqs;
  json_t *ok = json_array();
  int rc = -1;
  pthread_mutex_lock(&s->mu);
  tw_queue *q = tw_sqs_resolve_queue(c);
  tw_queue *dest[MAX_ENTRIES];
  tw_msg *m = NULL;
  if (!q) goto done;
  /* Every check first, so that a failure changes nothing. */
  int current;
  int r = tw_sqs_by_receipt(c, q, handle, &m, &current);
  if (r < 0) goto done;
  if (r > 0 || !m || !current) {
    tw_sqs_fail(c, TW_ERR_RECEIPT_HANDLE_INVALID,
                "The input receipt handle \"%s\" is not a valid receipt handle. Reason: the "
                "message was deleted or received again since this handle was given out.",
                handle);
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(entries, i);
    tw_sqs_call sub = *c;
    sub.err = TW_ERR_OK;
    sub.msg[0] = 0;
    dest[i] = entry_queue(&sub, e, q);
    if (!dest[i] || tw_sqs_send_check(&sub, dest[i], &reqs[i])) {
      entry_fail(c, &sub, tw_p_str(e, "Id"));
      goto done;
    }
  }
  /* The delete and the sends: one transaction (lock order: engine, then store). */
  tw_store_hold(s->store);
  tw_msg_queue(m)->m_deleted++;
  uint64_t t = tw_sqs_msg_delete(s, m);
  if (t > c->ticket) c->ticket = t;
  rc = 0;
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(entries, i);
    json_t *res = json_object();
    tw_sqs_call sub = *c;
    sub.err = TW_ERR_OK;
    sub.msg[0] = 0;
    /* cannot fail: send_check passed under the same lock */
    tw_sqs_send_one(&sub, dest[i], &reqs[i], res);
    if (sub.ticket > c->ticket) c->ticket = sub.ticket;
    json_object_set_new(res, "Id", json_string(tw_p_str(e, "Id")));
    json_array_append_new(ok, res);
  }
  t = tw_store_ticket(s->store);
  tw_store_release(s->store);
  if (t > c->ticket) c->ticket = t;
done:
  pthread_mutex_unlock(&s->mu);
  if (rc) {
    json_decref(ok);
    return -1;
  }
  c->out = json_object();
  json_object_set_new(c->out, "Successful", ok);
  return 0;
}
