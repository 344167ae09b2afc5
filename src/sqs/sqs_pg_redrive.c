/* Cluster mode's dead-letter and permission actions (sqs_pg.h): the
 * RedrivePolicy / RedriveAllowPolicy checks with the target queue read from
 * PostgreSQL, ListDeadLetterSourceQueues, AddPermission, RemovePermission.
 * Same checks, errors and policy documents as the embedded engine
 * (sqs_queue.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sqs/params.h"
#include "sqs/sqs_common.h"
#include "sqs/sqs_internal.h"
#include "sqs/sqs_pg_internal.h"

/* A queue in PostgreSQL, for the shared redrive checks (sqs_common.h). */
static int dlq_lookup(void *ctx, tw_sqs_call *c, const char *arn, int *fifo, json_t **attrs) {
  tw_pg_queue dlq = {0};
  int r = tw_pgq_by_arn(ctx, arn, &dlq);
  if (!r) {
    *fifo = dlq.fifo;
    *attrs = json_loads(dlq.attrs_json ? dlq.attrs_json : "{}", 0, NULL);
  }
  tw_pg_queue_free(&dlq);
  if (r == TW_PG_NOT_FOUND) return 1;
  return r ? tw_pgq_fail_rc(c, r) : 0;
}

int tw_pgq_check_redrive(tw_sqs_pg *p, tw_sqs_call *c, const char *k, const char *v, int fifo) {
  return tw_sqs_redrive_check(c, k, v, fifo, dlq_lookup, p);
}

int tw_pgq_check_redrive_allow(tw_sqs_pg *p, tw_sqs_call *c, json_t *attrs,
                               const char *source_arn) {
  return tw_sqs_redrive_allow_check(c, attrs, source_arn, dlq_lookup, p);
}

int tw_sqs_pg_list_dead_letter_source_queues(tw_sqs_pg *p, tw_sqs_call *c) {
  tw_sqs_page pg;
  if (tw_sqs_page_parse(c, &pg)) return -1;
  pq q;
  if (tw_pgq_resolve(p, c, &q)) return -1;
  char **names;
  size_t n;
  int rc = tw_pg_queue_dlq_sources(p->pg, q.arn, &names, &n);
  tw_pgq_free(&q);
  if (rc) return tw_pgq_fail_rc(c, rc);
  tw_sqs_page_reply(c, &pg, (const char *const *)names, n, p->account, "queueUrls");
  for (size_t j = 0; j < n; j++) free(names[j]);
  free(names);
  return 0;
}

/* --- permissions: the queue's Policy, changed only if no one changed it first ----- */

#define POLICY_TRIES 8

/* Applies fn to the queue's policy document (NULL: none; fn may replace it)
 * and saves it unless another request changed it meanwhile (then again). */
static int edit_policy(tw_sqs_pg *p, tw_sqs_call *c, int (*fn)(tw_sqs_call *, pq *, json_t **)) {
  for (int i = 0; i < POLICY_TRIES; i++) {
    pq q;
    if (tw_pgq_resolve(p, c, &q)) return -1;
    json_t *doc = q.row.policy_json ? json_loads(q.row.policy_json, 0, NULL) : NULL;
    int rc = fn(c, &q, &doc);
    char *s = !rc && doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!rc) {
      rc = tw_pg_queue_set_policy(p->pg, q.row.id, q.row.policy_json, s, (int64_t)time(NULL));
      if (rc == TW_PG_CONFLICT) {
        free(s);
        tw_pgq_free(&q);
        continue;
      }
      if (rc) rc = tw_pgq_fail_rc(c, rc);
    }
    free(s);
    tw_pgq_free(&q);
    if (!rc) c->out = json_object();
    return rc;
  }
  return tw_sqs_fail(c, TW_ERR_SERVICE_UNAVAILABLE,
                     "The queue's policy is being changed by other requests; try again.");
}

static int add_statement(tw_sqs_call *c, pq *q, json_t **doc) {
  const char *label = tw_p_str(c->in, "Label");
  json_t *st = tw_sqs_policy_statements(doc, q->arn);
  if (tw_sqs_permission_label_free(c, st, label)) return -1;
  json_array_append_new(st, tw_sqs_permission_statement(c, q->arn));
  return 0;
}

int tw_sqs_pg_add_permission(tw_sqs_pg *p, tw_sqs_call *c) {
  if (tw_sqs_permission_check(c)) return -1;
  return edit_policy(p, c, add_statement);
}

static int remove_statement(tw_sqs_call *c, pq *q, json_t **doc) {
  (void)q;
  return tw_sqs_permission_remove(c, doc);
}

int tw_sqs_pg_remove_permission(tw_sqs_pg *p, tw_sqs_call *c) {
  if (!tw_p_str(c->in, "Label"))
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                       "The request must contain the parameter Label.");
  return edit_policy(p, c, remove_statement);
}
