/* The SQS query protocol: a form (query string or body) rebuilt into the JSON
 * protocol's input (tw_sqs_query_parse), then the parameter validators every
 * action uses (src/sqs/params.c) on what came out; an input starting with '{'
 * also goes to the validators as a JSON-protocol body. */
#include "fuzz_util.h"
#include "sqs/params.h"
#include "sqs/sqs_front.h"

static void validate(json_t *in) {
  tw_sqs_call c;
  memset(&c, 0, sizeof c);
  c.in = in;
  long long v;
  static const char *ints[] = {"DelaySeconds", "MaxNumberOfMessages", "VisibilityTimeout",
                               "WaitTimeSeconds"};
  for (size_t i = 0; i < 4; i++)
    if (tw_p_int(&c, in, ints[i], &v) == 1) tw_p_range(&c, ints[i], v, 0, 900, "out of range");
  const char *s = tw_p_str(in, "MessageBody");
  if (s) tw_p_valid_body(s, strlen(s));
  s = tw_p_str(in, "QueueName");
  if (s) {
    tw_p_valid_queue_name(s, 0);
    tw_p_valid_queue_name(s, 1);
  }
  size_t sz;
  json_t *ma = json_object_get(in, "MessageAttributes");
  if (ma) tw_p_message_attributes(&c, ma, &sz);
  json_t *entries = json_object_get(in, "Entries");
  size_t i;
  json_t *e;
  json_array_foreach(entries, i, e) {
    if ((s = tw_p_str(e, "MessageBody"))) tw_p_valid_body(s, strlen(s));
    if ((ma = json_object_get(e, "MessageAttributes"))) tw_p_message_attributes(&c, ma, &sz);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *copy = malloc(size ? size : 1);
  memcpy(copy, data, size);
  char action[80] = "";
  json_t *in = tw_sqs_query_parse(copy, size, action, sizeof action);
  validate(in);
  json_decref(in);
  free(copy);
  /* the JSON protocol's body (AmazonSQS.* targets): the same validators on it */
  if (size && data[0] == '{') {
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    if (json_is_object(j)) validate(j);
    json_decref(j);
  }
  /* the body check straight on bytes too */
  tw_p_valid_body((const char *)data, size);
  return 0;
}
