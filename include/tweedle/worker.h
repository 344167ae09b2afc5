/* tweedle worker — the C API for in-process queue handlers.
 *
 * A handler written against this header gets the same batches, with the same
 * rules, as a `tweedle worker --exec` handler gets the Lambda SQS event on
 * stdin (docs/worker.md):
 *
 *   #include <tweedle/worker.h>
 *
 *   static int handle(const tw_sqs_event *ev, tw_batch_result *out) {
 *     for (size_t i = 0; i < ev->nrecords; i++) {
 *       const tw_sqs_record *r = &ev->records[i];
 *       if (process(r->body, r->body_len) != 0)
 *         tw_batch_result_fail(out, r->message_id);   // only this one is retried
 *     }
 *     return 0;                                         // non-zero: the whole batch failed
 *   }
 *
 *   int main(int argc, char **argv) { return tw_worker_main(argc, argv, handle); }
 *
 * Build: cc -Iinclude app.c build/libtweedle-worker.a \
 *          $(pkg-config --libs jansson libssl libcrypto) -lpthread -lm
 * Run:   ./app --queue jobs --endpoint http://127.0.0.1:9324 [--batch-size 10]
 *          [--concurrency 4] [--report-batch-item-failures] ...  (every
 *          `tweedle worker` option except --exec / --exec-persistent)
 *
 * Semantics (as --exec):
 * - return 0 and mark nothing: every record succeeded and is deleted;
 * - return 0 after tw_batch_result_fail(): with --report-batch-item-failures
 *   those records are failed (retried after the visibility timeout or
 *   --retry-delay), the rest deleted; an id that is not in the batch fails the
 *   whole batch, as Lambda does; without the flag the marks are ignored;
 * - return non-zero: the whole batch failed;
 * - FIFO queues: in each message group, the first failed record and every
 *   later record of that group are handed back; earlier ones are deleted.
 * - Past --timeout the batch counts as failed and its messages are handed
 *   back; a thread cannot be killed, so the slot stays busy until the
 *   function returns, and what it returns then is discarded. A crash in the
 *   handler ends the process (use --exec to isolate handlers).
 * - With --concurrency N the function runs on N threads at once: it must be
 *   thread-safe. Everything in the event is valid only during the call.
 */
#ifndef TWEEDLE_WORKER_H
#define TWEEDLE_WORKER_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A system attribute: ApproximateReceiveCount, SentTimestamp, SenderId,
 * ApproximateFirstReceiveTimestamp, SequenceNumber, MessageGroupId,
 * MessageDeduplicationId, AWSTraceHeader, ... (values are strings). */
typedef struct {
  const char *name;
  const char *value;
} tw_sqs_attribute;

/* A message attribute. String and Number values in string_value; Binary ones
 * decoded in binary_value/binary_len (binary_b64 holds the base64 form). */
typedef struct {
  const char *name;
  const char *data_type; /* "String", "Number", "Binary", with any custom suffix */
  const char *string_value;
  const unsigned char *binary_value;
  size_t binary_len;
  const char *binary_b64;
} tw_sqs_message_attribute;

/* One record: the fields of a Lambda SQS event record. */
typedef struct {
  const char *message_id;
  const char *receipt_handle;
  const char *body; /* NUL-terminated; body_len excludes the NUL */
  size_t body_len;
  const char *md5_of_body;
  const char *md5_of_message_attributes; /* NULL when the message has none */
  const tw_sqs_attribute *attributes;
  size_t nattributes;
  const tw_sqs_message_attribute *message_attributes;
  size_t nmessage_attributes;
  const char *event_source_arn; /* the queue's ARN */
  const char *aws_region;
} tw_sqs_record;

typedef struct {
  const tw_sqs_record *records;
  size_t nrecords;
  const char *queue_url;
  /* --jobs: the file whose contents become the job's result (write it, or
   * leave it absent for a job without output); NULL otherwise. */
  const char *job_output_path;
  void *reserved_; /* the runtime's */
} tw_sqs_event;

/* A system attribute's value, or NULL. */
const char *tw_sqs_record_attribute(const tw_sqs_record *r, const char *name);
/* A message attribute, or NULL. */
const tw_sqs_message_attribute *tw_sqs_record_message_attribute(const tw_sqs_record *r,
                                                                const char *name);
/* The whole event as the Lambda SQS event JSON that --exec handlers read
 * (built on first use, valid during the call). *len (optional) gets its length. */
const char *tw_sqs_event_json(const tw_sqs_event *ev, size_t *len);

typedef struct tw_batch_result tw_batch_result;

/* Marks one record failed (a batchItemFailures entry). 0, or -1 when out of
 * memory. An id not in the batch is recorded too, and fails the whole batch. */
int tw_batch_result_fail(tw_batch_result *out, const char *message_id);

typedef int (*tw_handler_fn)(const tw_sqs_event *ev, tw_batch_result *out);

/* Runs the worker with fn as the handler: parses the options in argv (as
 * `tweedle worker`, without --exec/--exec-persistent), polls until SIGTERM or
 * SIGINT, drains, and returns the process exit status (0 after a clean stop,
 * 2 for bad options, 1 when the queue cannot be reached at start). */
int tw_worker_main(int argc, char **argv, tw_handler_fn fn);

#ifdef __cplusplus
}
#endif
#endif
