/* `tweedle worker --name NAME`: the handlers' output lines (stderr, and the
 * stdout of --exec handlers) go to the CloudWatch Logs group
 * /tweedle/worker/NAME, as Lambda sends a function's output to
 * /aws/lambda/NAME. Lines wait in a bounded buffer (TW_WLOGS_MAX_LINES lines,
 * TW_WLOGS_MAX_BYTES bytes; beyond, new lines are dropped and counted) and a
 * thread sends them with PutLogEvents every second or at 1,000 lines. Best
 * effort: a failed send is logged (at most once a minute) and its lines are
 * dropped; the handler never waits for it. An Embedded Metric Format line
 * becomes metrics on the server's side. */
#ifndef TW_WORKER_WLOGS_H
#define TW_WORKER_WLOGS_H
#include <stddef.h>

#include "client/aws.h"

#define TW_WLOGS_MAX_LINES 10000
#define TW_WLOGS_MAX_BYTES (4u << 20)

typedef struct tw_wlogs tw_wlogs;

/* Starts the sender for /tweedle/worker/<name> at endpoint (the logs service
 * of the server: the worker's SQS endpoint unless AWS_ENDPOINT_URL_LOGS).
 * NULL with err. */
tw_wlogs *tw_wlogs_start(const char *name, const char *endpoint, const tw_aws_creds *creds,
                         char *err, size_t errlen);
/* Queues one line (without its newline), stamped now. Never blocks for I/O. */
void tw_wlogs_line(tw_wlogs *l, const char *line, size_t n);
/* Sends what is queued and stops (each request bounded by 10 seconds; after
 * a failed one the rest is dropped). */
void tw_wlogs_stop(tw_wlogs *l);

/* The process's sender, for proc.c's line hook (NULL: none). */
extern tw_wlogs *tw_wlogs_current;

#endif
