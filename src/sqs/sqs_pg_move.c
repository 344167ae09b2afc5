/* Cluster mode's message move tasks (sqs_pg.h): StartMessageMoveTask,
 * CancelMessageMoveTask, ListMessageMoveTasks. The tasks are rows in
 * PostgreSQL; the node holding the background lock moves their messages
 * (store/pg/pg_sqs_move.c), so a task runs once across the cluster and moves
 * on to another node when its node dies. Same checks, errors and handles as
 * the embedded engine (sqs_move.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "sqs/params.h"
#include "sqs/sqs_common.h"
#include "sqs/sqs_internal.h"
#include "sqs/sqs_pg_internal.h"

static json_t *task_json(const tw_pg_task *t) {
  return tw_sqs_task_json(&TW_SQS_TASK_VIEW(t));
}

int tw_sqs_pg_start_message_move_task(tw_sqs_pg *p, tw_sqs_call *c) {
  const char *src, *dst;
  long long rate;
  if (tw_sqs_move_start_params(c, &src, &dst, &rate)) return -1;
  tw_pg_queue sq = {0}, dq = {0};
  int rc = tw_pgq_by_arn(p, src, &sq);
  if (rc == TW_PG_NOT_FOUND) return tw_sqs_move_fail(c, TW_MOVE_NO_SOURCE);
  if (rc) return tw_pgq_fail_rc(c, rc);
  if (dst) {
    rc = tw_pgq_by_arn(p, dst, &dq);
    if (rc) {
      tw_pg_queue_free(&sq);
      return rc == TW_PG_NOT_FOUND ? tw_sqs_move_fail(c, TW_MOVE_NO_DESTINATION)
                                   : tw_pgq_fail_rc(c, rc);
    }
  }
  char **names = NULL;
  size_t n = 0;
  rc = tw_pg_queue_dlq_sources(p->pg, src, &names, &n);
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  if (rc) {
    rc = tw_pgq_fail_rc(c, rc);
  } else if (!n) {
    rc = tw_sqs_move_fail(c, TW_MOVE_NOT_DLQ);
  } else {
    tw_pg_task t = {.rate = (int)rate, .started_ms = tw_now_ms()};
    tw_sqs_move_handle(src, t.handle);
    snprintf(t.source_arn, sizeof t.source_arn, "%s", src);
    snprintf(t.dest_arn, sizeof t.dest_arn, "%s", dst ? dst : "");
    rc = tw_pg_task_start(p->pg, &t, sq.id, dst ? dq.id : 0);
    if (rc == TW_PG_EXISTS)
      rc = tw_sqs_move_fail(c, TW_MOVE_BUSY);
    else if (rc)
      rc = tw_pgq_fail_rc(c, rc);
    else
      c->out = json_pack("{s:s}", "TaskHandle", t.handle);
  }
  tw_pg_queue_free(&sq);
  tw_pg_queue_free(&dq);
  return rc;
}

int tw_sqs_pg_cancel_message_move_task(tw_sqs_pg *p, tw_sqs_call *c) {
  const char *h = tw_sqs_move_cancel_param(c);
  if (!h) return -1;
  int64_t moved = 0;
  int rc = tw_pg_task_cancel(p->pg, h, &moved);
  if (rc == TW_PG_NOT_FOUND) return tw_sqs_move_fail(c, TW_MOVE_BAD_HANDLE);
  if (rc == TW_PG_CONFLICT) return tw_sqs_move_fail(c, TW_MOVE_NOT_RUNNING);
  if (rc) return tw_pgq_fail_rc(c, rc);
  c->out = json_pack("{s:I}", "ApproximateNumberOfMessagesMoved", (json_int_t)moved);
  return 0;
}

int tw_sqs_pg_list_message_move_tasks(tw_sqs_pg *p, tw_sqs_call *c) {
  const char *src;
  long long max;
  if (tw_sqs_move_list_params(c, &src, &max)) return -1;
  tw_pg_queue sq = {0};
  int rc = tw_pgq_by_arn(p, src, &sq);
  tw_pg_queue_free(&sq);
  if (rc == TW_PG_NOT_FOUND) return tw_sqs_move_fail(c, TW_MOVE_NO_SOURCE);
  if (rc) return tw_pgq_fail_rc(c, rc);
  tw_pg_task *t;
  int n;
  rc = tw_pg_task_list(p->pg, src, (int)max, &t, &n);
  if (rc) return tw_pgq_fail_rc(c, rc);
  json_t *res = json_array();
  for (int i = 0; i < n; i++) {
    json_t *o = task_json(&t[i]);
    if (strcmp(t[i].status, "RUNNING")) json_object_del(o, "TaskHandle");
    json_array_append_new(res, o);
  }
  free(t);
  c->out = json_pack("{s:o}", "Results", res);
  return 0;
}
