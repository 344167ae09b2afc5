/* The console's queue routes, run on the queue engine directly (a transport-
 * free tw_sqs_call, as the SQS front ends make), not through signed requests:
 *
 *   GET  /api/queues                      every queue with counts and its DLQ
 *   GET  /api/queues/NAME                 attributes and tags
 *   GET  /api/queues/NAME/messages?max=N  peek: the oldest messages, not received
 *   POST /api/queues/NAME/send            {body, delay_seconds, group_id, dedup_id}
 *   POST /api/queues/NAME/purge
 *   GET  /api/queues/NAME/redrive         the queue's message move tasks
 *   POST /api/queues/NAME/redrive         {destination_arn, rate}: starts one
 *   POST /api/redrive/cancel              {task_handle} */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/console_internal.h"
#include "sqs/sqs.h"
#include "sqs/sqs_pg_console.h"

typedef struct {
  tw_sqs_call c;
  json_t *in;
} sqs_run;

/* Runs `action` with `in` (stolen); 1 done (c.out set or NULL), 0 after
 * answering the error. */
static int run(tw_request *r, const tw_console_who *who, const char *action, json_t *in,
               sqs_run *x) {
  memset(x, 0, sizeof *x);
  x->in = in;
  x->c.sqs = r->app->sqs;
  x->c.action = action;
  x->c.in = in;
  x->c.path = "/";
  x->c.principal = who->principal;
  tw_req_base_url(r, x->c.base_url, sizeof x->c.base_url);
  if (r->app->sqs_pg) /* cluster mode: the engine on PostgreSQL */
    tw_sqs_pg_execute(r->app->sqs_pg, &x->c);
  else
    tw_sqs_execute(&x->c);
  if (x->c.err != TW_ERR_OK) {
    const tw_err_info *info = tw_err_get(x->c.err);
    tw_console_error(r, info->http_status, info->code, x->c.msg[0] ? x->c.msg : info->message);
    json_decref(x->in);
    return 0;
  }
  return 1;
}

static void run_done(sqs_run *x) {
  json_decref(x->in);
  json_decref(x->c.out);
}

/* Answers the call's result (or `doc` instead, when given) once durable. */
static void answer(tw_request *r, sqs_run *x, json_t *doc) {
  if (!doc) doc = x->c.out ? json_incref(x->c.out) : json_object();
  tw_console_json_after(r, x->c.ticket, x->c.seen_ticket, 200, doc);
  run_done(x);
}

static json_t *queue_in(tw_request *r, const char *name) {
  char base[512];
  tw_req_base_url(r, base, sizeof base);
  char url[1024];
  snprintf(url, sizeof url, "%s/%s/%s", base, r->app->cfg.account, name);
  return json_pack("{s:s}", "QueueUrl", url);
}

static void queue_arn(tw_request *r, const char *name, char *out, size_t n) {
  snprintf(out, n, "arn:aws:sqs:%s:%s:%s", r->app->cfg.region, r->app->cfg.account, name);
}

static void get_queue(tw_request *r, const tw_console_who *who, const char *name) {
  json_t *in = queue_in(r, name);
  json_object_set_new(in, "AttributeNames", json_pack("[s]", "All"));
  sqs_run a, t;
  if (!run(r, who, "GetQueueAttributes", in, &a)) return;
  if (!run(r, who, "ListQueueTags", queue_in(r, name), &t)) {
    run_done(&a);
    return;
  }
  json_t *attrs = json_object_get(a.c.out, "Attributes");
  json_t *tags = json_object_get(t.c.out, "Tags");
  json_t *doc = json_pack("{s:s,s:o,s:o}", "name", name, "attributes",
                          attrs ? json_incref(attrs) : json_null(), "tags",
                          tags ? json_incref(tags) : json_object());
  uint64_t seen = a.c.seen_ticket > t.c.seen_ticket ? a.c.seen_ticket : t.c.seen_ticket;
  tw_console_json_after(r, 0, seen, 200, doc);
  run_done(&a);
  run_done(&t);
}

static void peek(tw_request *r, const char *name) {
  char *m = tw_req_query_param(r, "max");
  int max = m ? atoi(m) : 20;
  free(m);
  int rc = 0;
  json_t *doc = r->app->sqs_pg ? tw_sqs_pg_console_peek(r->app->sqs_pg, name, max, &rc)
                               : tw_sqs_console_peek(r->app->sqs, name, max);
  if (!doc && rc && rc != TW_PG_NOT_FOUND) {
    tw_console_error(r, 503, "ServiceUnavailable", "The store cannot be reached; try again.");
    return;
  }
  if (!doc) {
    tw_console_error(r, 404, "QueueDoesNotExist", "The specified queue does not exist.");
    return;
  }
  tw_console_json(r, 200, doc);
}

static void send_msg(tw_request *r, const tw_console_who *who, const char *name) {
  json_t *b = tw_console_body(r);
  if (!b) return;
  json_t *in = queue_in(r, name);
  json_t *body = json_object_get(b, "body");
  if (!json_is_string(body)) {
    json_decref(b);
    json_decref(in);
    tw_console_error(r, 400, "BadRequest", "body must be a string.");
    return;
  }
  json_object_set(in, "MessageBody", body);
  json_t *v;
  if ((v = json_object_get(b, "delay_seconds")) && json_is_integer(v))
    json_object_set(in, "DelaySeconds", v);
  if ((v = json_object_get(b, "group_id")) && json_is_string(v) && json_string_length(v))
    json_object_set(in, "MessageGroupId", v);
  if ((v = json_object_get(b, "dedup_id")) && json_is_string(v) && json_string_length(v))
    json_object_set(in, "MessageDeduplicationId", v);
  if ((v = json_object_get(b, "attributes")) && json_is_object(v))
    json_object_set(in, "MessageAttributes", v);
  json_decref(b);
  sqs_run x;
  if (run(r, who, "SendMessage", in, &x)) answer(r, &x, NULL);
}

static void purge(tw_request *r, const tw_console_who *who, const char *name) {
  sqs_run x;
  if (run(r, who, "PurgeQueue", queue_in(r, name), &x))
    answer(r, &x, json_pack("{s:b}", "purged", 1));
}

static void redrive_list(tw_request *r, const tw_console_who *who, const char *name) {
  char arn[300];
  queue_arn(r, name, arn, sizeof arn);
  sqs_run x;
  if (run(r, who, "ListMessageMoveTasks",
          json_pack("{s:s,s:i}", "SourceArn", arn, "MaxResults", 10), &x))
    answer(r, &x, NULL);
}

static void redrive_start(tw_request *r, const tw_console_who *who, const char *name) {
  json_t *b = tw_console_body(r);
  if (!b) return;
  char arn[300];
  queue_arn(r, name, arn, sizeof arn);
  json_t *in = json_pack("{s:s}", "SourceArn", arn);
  json_t *v;
  if ((v = json_object_get(b, "destination_arn")) && json_is_string(v) && json_string_length(v))
    json_object_set(in, "DestinationArn", v);
  if ((v = json_object_get(b, "rate")) && json_is_integer(v) && json_integer_value(v) > 0)
    json_object_set(in, "MaxNumberOfMessagesPerSecond", v);
  json_decref(b);
  sqs_run x;
  if (run(r, who, "StartMessageMoveTask", in, &x)) answer(r, &x, NULL);
}

static void redrive_cancel(tw_request *r, const tw_console_who *who) {
  json_t *b = tw_console_body(r);
  if (!b) return;
  json_t *h = json_object_get(b, "task_handle");
  if (!json_is_string(h)) {
    json_decref(b);
    tw_console_error(r, 400, "BadRequest", "task_handle must be a string.");
    return;
  }
  json_t *in = json_pack("{s:O}", "TaskHandle", h);
  json_decref(b);
  sqs_run x;
  if (run(r, who, "CancelMessageMoveTask", in, &x)) answer(r, &x, NULL);
}

int tw_console_api_sqs(tw_request *r, const tw_console_who *who, const char *sub) {
  int get = !strcmp(r->method, "GET"), post = !strcmp(r->method, "POST");
  if (!strcmp(sub, "/queues") && get) {
    json_t *qs = r->app->sqs_pg ? tw_sqs_pg_console_queues(r->app->sqs_pg)
                                : tw_sqs_console_queues(r->app->sqs);
    if (!qs)
      tw_console_error(r, 503, "ServiceUnavailable", "The store cannot be reached; try again.");
    else
      tw_console_json(r, 200, json_pack("{s:o}", "queues", qs));
    return 1;
  }
  if (!strcmp(sub, "/redrive/cancel") && post) {
    redrive_cancel(r, who);
    return 1;
  }
  if (strncmp(sub, "/queues/", 8)) return 0;
  const char *rest;
  char *name = tw_console_segment(sub + 8, &rest);
  if (!name) return 0;
  int done = 1;
  if (strlen(name) > 80 || strchr(name, '/'))
    tw_console_error(r, 404, "QueueDoesNotExist", "The specified queue does not exist.");
  else if (!*rest && get)
    get_queue(r, who, name);
  else if (!strcmp(rest, "/messages") && get)
    peek(r, name);
  else if (!strcmp(rest, "/send") && post)
    send_msg(r, who, name);
  else if (!strcmp(rest, "/purge") && post)
    purge(r, who, name);
  else if (!strcmp(rest, "/redrive") && get)
    redrive_list(r, who, name);
  else if (!strcmp(rest, "/redrive") && post)
    redrive_start(r, who, name);
  else
    done = 0;
  free(name);
  return done;
}
