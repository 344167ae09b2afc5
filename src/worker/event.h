/* The Lambda SQS event a handler reads, and the rules for what it answers. */
#ifndef TW_WORKER_EVENT_H
#define TW_WORKER_EVENT_H
#include <stddef.h>

#include "worker/proc.h"
#include "worker/worker.h"

/* Appends {"Records":[...]} for msgs (in order) to s: per record messageId,
 * receiptHandle, body, attributes (ApproximateReceiveCount, SentTimestamp,
 * SenderId, ApproximateFirstReceiveTimestamp, then the FIFO ones and the
 * rest as received), messageAttributes ({stringValue|binaryValue,
 * stringListValues, binaryListValues, dataType}), md5OfBody,
 * md5OfMessageAttributes (when the message has attributes), eventSource
 * "aws:sqs", eventSourceARN, awsRegion. One line: no raw newline inside.
 * A message whose body_path is set carries that file's bytes as its body.
 * Returns 0, -1 when out of memory or a body file cannot be opened. */
int tw_wevent_write(tw_wstream *s, tw_wmsg *const *msgs, size_t n, const char *arn,
                    const char *region);

/* The parsed answer of a handler, before it is applied. */
typedef enum {
  TW_WANSWER_SUCCESS, /* everything succeeded */
  TW_WANSWER_PARTIAL, /* ids lists the failed ones */
  TW_WANSWER_FAILED,  /* the whole batch failed (why says why) */
} tw_wanswer_kind;

/* Decides what a handler's answer means, as Lambda does:
 * - not report_failures: success unless the answer is a function error
 *   ({"errorMessage"|"errorType": ...}, persistent mode's way to fail);
 * - report_failures: empty, null, {} or {"batchItemFailures": null | []} →
 *   success; {"batchItemFailures":[{"itemIdentifier":"<messageId>"},...]} →
 *   those failed; anything else (not JSON, not an object, an entry without
 *   a non-empty string itemIdentifier, an id not in the batch) → the whole
 *   batch failed.
 * On PARTIAL, the outcome of each listed message is set to FAILED here; the
 * caller then marks the rest OK. */
tw_wanswer_kind tw_wanswer_apply(const char *out, size_t len, int report_failures,
                                 tw_wmsg *const *msgs, size_t n, char *why, size_t whylen);

/* FIFO rule: within each message group, the first FAILED message and every
 * later message of its group become FAILED (the first) / RELEASE (the rest);
 * earlier OK ones stay OK. With groups NULL (standard queues) nothing changes.
 * Returns the number of messages changed to RELEASE. */
size_t tw_wfifo_stop_at_failure(tw_wmsg *const *msgs, size_t n);

#endif
