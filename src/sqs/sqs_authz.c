/* SQS authorization (auth/authorize.h): the IAM action of each call
 * ("sqs:" + the action), the queue ARN it acts on (QueueUrl, the queue URL
 * path, QueueName, SourceArn; arn:aws:sqs:REGION:ACCOUNT:* for ListQueues),
 * and the queue's Policy attribute as the resource policy. Both front ends
 * (JSON, query) call it once the request is authenticated and parsed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth/authorize.h"
#include "sqs/sqs_front.h"
#include "sqs/sqs_internal.h"
#include "sqs/sqs_pg.h"

/* The queue name in a queue URL (or path): its last segment. */
static void name_from_url(const char *url, char *out, size_t n) {
  const char *scheme = strstr(url, "://");
  const char *path = scheme ? strchr(scheme + 3, '/') : url;
  snprintf(out, n, "%s", path ? path : "");
  size_t len = strlen(out);
  while (len && out[len - 1] == '/') out[--len] = 0;
  char *slash = strrchr(out, '/');
  if (slash) memmove(out, slash + 1, strlen(slash + 1) + 1);
}

/* One check: ACTION on the queue NAME ("*": no queue; account: every queue of
 * the account, arn:aws:sqs:REGION:ACCOUNT:*). */
static int check(tw_request *r, const char *action, const char *name, int account, char *msg,
                 size_t msglen) {
  char arn[400];
  if (!strcmp(name, "*") && !account)
    snprintf(arn, sizeof arn, "*");
  else
    tw_arn(r, "sqs", name, arn, sizeof arn);
  /* the queue's Policy (as SetQueueAttributes or AddPermission left it),
   * evaluated in place under the engine lock: no copy, and AddPermission
   * cannot change it meanwhile */
  char why[64];
  if (r->app->sqs_pg) { /* cluster mode: the Policy as PostgreSQL holds it now */
    int rc;
    char *text =
        strcmp(name, "*") ? tw_sqs_pg_queue_policy(r->app->sqs_pg, r->request_id, name, &rc) : NULL;
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    tw_policy *pol = doc ? tw_policy_from_json(doc, TW_POLICY_RESOURCE, why, sizeof why) : NULL;
    int ok = tw_authorize(r, action, arn, pol, NULL, 0, msg, msglen);
    tw_policy_free(pol);
    json_decref(doc);
    free(text);
    return ok;
  }
  tw_sqs *s = r->app->sqs;
  pthread_mutex_lock(&s->mu);
  tw_queue *q = strcmp(name, "*") ? tw_sqs_queue_by_name(s, name) : NULL;
  tw_policy *pol =
      q && q->policy ? tw_policy_from_json(q->policy, TW_POLICY_RESOURCE, why, sizeof why) : NULL;
  int ok = tw_authorize(r, action, arn, pol, NULL, 0, msg, msglen);
  tw_policy_free(pol);
  pthread_mutex_unlock(&s->mu);
  return ok;
}

int tw_sqs_authorize(tw_request *r, const char *action, json_t *in, char *msg, size_t msglen) {
  if (r->app->sqs_pg) tw_sqs_pg_row_reset(); /* nothing kept from an earlier request */
  char iam[96], name[256] = "";
  snprintf(iam, sizeof iam, "sqs:%s", action);
  const char *url = json_string_value(json_object_get(in, "QueueUrl"));
  const char *qname = json_string_value(json_object_get(in, "QueueName"));
  const char *src = json_string_value(json_object_get(in, "SourceArn"));
  if (url && *url)
    name_from_url(url, name, sizeof name);
  else if (qname)
    snprintf(name, sizeof name, "%s", qname);
  else if (src && strrchr(src, ':'))
    snprintf(name, sizeof name, "%s", strrchr(src, ':') + 1);
  else if (strlen(r->path) > 1)
    name_from_url(r->path, name, sizeof name);
  /* ListQueues: every queue of the account (arn:aws:sqs:REGION:ACCOUNT:*) */
  if (!strcmp(action, "ListQueues")) return check(r, iam, "*", 1, msg, msglen);
  if (!name[0]) snprintf(name, sizeof name, "*");
  if (!strcmp(action, "TweedleDeleteAndSend")) {
    /* the delete on the request's queue, a send on each entry's queue */
    if (!check(r, "sqs:DeleteMessage", name, 0, msg, msglen)) return 0;
    json_t *entries = json_object_get(in, "Entries");
    int own = 0;
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) {
      const char *eu = json_string_value(json_object_get(e, "QueueUrl"));
      if (!eu || !*eu) {
        own = 1;
        continue;
      }
      char en[256];
      name_from_url(eu, en, sizeof en);
      if (!check(r, "sqs:SendMessage", en[0] ? en : "*", 0, msg, msglen)) return 0;
    }
    return !own || check(r, "sqs:SendMessage", name, 0, msg, msglen);
  }
  return check(r, iam, name, 0, msg, msglen);
}
