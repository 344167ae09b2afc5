/* `tweedle worker --name NAME`: the worker's own metrics, as Lambda publishes
 * a function's in AWS/Lambda, sent with PutMetricData (signed like the
 * worker's other calls) to the namespace tweedle/Worker with the dimension
 * FunctionName=NAME, every --metrics-interval seconds (and once at exit):
 *
 *   Invocations           handler runs (one per batch), Count
 *   Errors                runs that failed as a whole (exit status, timeout,
 *                         an answer that is not one), Count
 *   Throttles             batches received but handed back without running
 *                         (the worker was draining), Count
 *   Duration              each run's time, Milliseconds (percentiles within 0.5 %)
 *   ConcurrentExecutions  the most handlers running at once in the interval, Count
 *   BatchSize             messages per run, Count (one value per run)
 *
 * The namespace is not AWS/Lambda: PutMetricData refuses AWS/ namespaces, in
 * tweedle as in CloudWatch, and the worker is a client like any other. One
 * call per interval carries every datum; a failed call is logged (at most once
 * a minute) and its data dropped: the handlers never wait for it. */
#ifndef TW_WORKER_WMETRICS_H
#define TW_WORKER_WMETRICS_H
#include <stddef.h>

#include "client/aws.h"

#define TW_WPUB_NAMESPACE "tweedle/Worker"

typedef struct tw_wpub tw_wpub;

/* Starts the publisher for FunctionName=name at endpoint (the worker's SQS
 * endpoint unless AWS_ENDPOINT_URL_CLOUDWATCH); interval_s 0: only at stop.
 * NULL with err. */
tw_wpub *tw_wpub_start(const char *name, const char *endpoint, const tw_aws_creds *creds,
                       double interval_s, char *err, size_t errlen);
/* A handler run begins / ended (batch of n messages, ms long, failed or not). */
void tw_wpub_enter(tw_wpub *p);
void tw_wpub_leave(tw_wpub *p, size_t n, double ms, int error);
/* A batch handed back without running. */
void tw_wpub_throttle(tw_wpub *p);
/* Sends what was counted since the last send and stops. NULL: nothing. */
void tw_wpub_stop(tw_wpub *p);

#endif
