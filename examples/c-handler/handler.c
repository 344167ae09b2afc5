/* An in-process tweedle worker handler written against the C API
 * (include/tweedle/worker.h); the integration tests run it.
 *
 *   make                                  # builds build/examples/c-handler
 *   build/examples/c-handler --queue jobs --endpoint http://127.0.0.1:9324 \
 *       --batch-size 10 --report-batch-item-failures
 *
 * What it does with each record's body:
 *   "fail ..."     reports the record failed (tw_batch_result_fail)
 *   "fail-other"   reports an id that is not in the batch (the batch fails)
 *   "error"        returns non-zero: the whole batch failed
 *   "sleep S"      sleeps S seconds first (a slow job)
 *   anything else  succeeds
 * Every record it sees is appended to $C_HANDLER_OUT (when set) as one line:
 * "<messageId> <ApproximateReceiveCount> <attribute count> <body>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tweedle/worker.h>

static int handle(const tw_sqs_event *ev, tw_batch_result *out) {
  const char *path = getenv("C_HANDLER_OUT");
  FILE *log = path ? fopen(path, "a") : NULL;
  int rc = 0;
  for (size_t i = 0; i < ev->nrecords; i++) {
    const tw_sqs_record *r = &ev->records[i];
    const char *count = tw_sqs_record_attribute(r, "ApproximateReceiveCount");
    if (log) {
      fprintf(log, "%s %s %zu %s\n", r->message_id, count ? count : "?", r->nmessage_attributes,
              r->body);
      fflush(log);
    }
    fprintf(stderr, "record %s: %zu bytes\n", r->message_id, r->body_len);
    if (!strncmp(r->body, "sleep ", 6)) {
      double s = atof(r->body + 6);
      usleep((useconds_t)(s * 1e6));
    } else if (!strcmp(r->body, "error")) {
      rc = 1;
    } else if (!strcmp(r->body, "fail-other")) {
      tw_batch_result_fail(out, "00000000-0000-0000-0000-000000000000");
    } else if (!strncmp(r->body, "fail", 4)) {
      tw_batch_result_fail(out, r->message_id);
    }
  }
  if (log) fclose(log);
  return rc;
}

int main(int argc, char **argv) {
  return tw_worker_main(argc, argv, handle);
}
