/* The server as a whole: configuration and the parts it wires together. */
#ifndef TW_APP_H
#define TW_APP_H
#include "auth/credentials.h"
#include "core/config.h"
#include "http/request.h"
#include "http/service.h"
#include "s3/s3.h"
#include "sqs/sqs.h"
#include "store/store.h"

struct tw_http;

struct tw_app {
  tw_config cfg;
  tw_store *store;
  struct tw_blobs *blobs;   /* object bodies (src/store/blobs.h) */
  struct tw_events *events; /* the event bus (src/events) */
  tw_sqs *sqs;
  struct tw_sqs_pg *sqs_pg; /* cluster mode (--store postgres://): SQS on PostgreSQL */
  tw_store *pg_store;       /* cluster mode: the store on PostgreSQL (store/pg_s3.h) that S3,
                               the gateway and the other services run on */
  struct tw_sns *sns; /* topics (src/sns) */
  tw_s3 *s3;
  struct tw_eventbridge *eventbridge; /* AWSEvents (src/eventbridge) */
  struct tw_metrics *metrics;         /* CloudWatch metrics (src/monitoring) */
  struct tw_logs *logs;               /* CloudWatch Logs (src/logs) */
  struct tw_alarms *alarms;           /* CloudWatch alarms and dashboards (src/monitoring) */
  struct tw_builtin *builtin;         /* the built-in AWS/SQS, AWS/S3, AWS/SNS metrics */
  tw_credentials creds;
  struct tw_gateway *gateway; /* /_/api/v1/ (src/gateway) */
  tw_services services;       /* who serves what (app.c) */
  struct tw_http *http;
};
typedef struct tw_app tw_app;

int tw_serve(tw_config *cfg);
/* Checks the request's SigV4 signature against the server's users (body hashed
 * here); sets r->principal. Returns TW_ERR_OK or the error, with the AWS
 * message in msg. */
tw_err tw_req_authenticate(tw_request *r, char *msg, size_t msglen);

#endif
