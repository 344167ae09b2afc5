/* The SQS JSON protocol (AmazonSQS.<Action>): the body parsed as
 * src/sqs/sqs_json.c parses it (a JSON object, duplicate keys refused, NULs
 * allowed), then run through tw_sqs_execute, i.e. every action's own
 * parameter reading and validation (src/sqs/params.c and the actions in
 * sqs_queue.c, sqs_message.c, sqs_move.c, sqs_pipeline.c) on a real queue
 * engine over a store in a temporary directory. The engine starts with a
 * standard queue "q" holding two messages, a FIFO queue "f.fifo" and a
 * dead-letter queue "dlq" (QueueUrl http://127.0.0.1:9324/000000000000/NAME),
 * and is made anew every RESET_EVERY inputs so that what the inputs create
 * stays small. The engine's ticker does not run (no delays or visibility
 * timeouts expire; a ReceiveMessage that would wait answers at once).
 * Checked: each call ends with an error, an answer, or a request to wait;
 * what it changed is committed by the store within 10 s. Input: the action's
 * name (a line; an unknown name picks an action from its first byte), then
 * the body. */
#include <stdio.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "sqs/sqs.h"
#include "sqs/sqs_actions.h"
#include "store/store.h"

#define RESET_EVERY 20000
#define BASE "http://127.0.0.1:9324"

static const char *const k_actions[] = {
#define FZ_NAME(name, fn, flags) #name,
    TW_SQS_ACTIONS(FZ_NAME)
#undef FZ_NAME
};
#define N_ACTIONS (sizeof k_actions / sizeof k_actions[0])

static tw_store *S;
static tw_sqs *Q;
static char dir[128];
static unsigned long runs;

static void wait_commit(uint64_t t) {
  for (int k = 0; k < 20000 && tw_store_committed(S) < t; k++) usleep(500);
  if (tw_store_committed(S) < t) abort();
}

/* 0 done (error or answer), 1 it would wait */
static int run(const char *action, json_t *in) {
  tw_sqs_call c;
  memset(&c, 0, sizeof c);
  c.sqs = Q;
  c.action = action;
  c.in = in;
  snprintf(c.base_url, sizeof c.base_url, "%s", BASE);
  c.path = "/";
  c.principal = "AKIDEXAMPLE";
  /* every other input as the JSON front end runs it: the hot actions write
   * their answer as JSON text (c.raw), which must then be one JSON object */
  c.raw_json = (int)(runs & 1);
  tw_buf_init(&c.raw, 64u << 20);
  tw_sqs_execute(&c);
  if (c.err == TW_ERR_OK && c.raw_done) {
    json_t *o = json_loadb(c.raw.data, c.raw.len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o) || c.out || c.raw.overflow) abort();
    if (getenv("FZ_VERBOSE"))
      fprintf(stderr, "%s (raw): %.*s\n", action, (int)c.raw.len, c.raw.data);
    json_decref(o);
  }
  tw_buf_free(&c.raw);
  if (getenv("FZ_VERBOSE")) { /* replaying one input: what it gave */
    char *o = c.out ? json_dumps(c.out, JSON_COMPACT) : NULL;
    fprintf(stderr, "%s: %s\n", action, o ? o : c.msg);
    free(o);
  }
  if (c.err == TW_ERR_OK && !c.out && !c.raw_done && !c.wants_wait) abort();
  if (c.err != TW_ERR_OK && c.out) abort();
  json_decref(c.out);
  uint64_t t = c.ticket > c.seen_ticket ? c.ticket : c.seen_ticket;
  if (t) wait_commit(t);
  return c.wants_wait;
}

static void setup(const char *action, const char *json) {
  json_t *in = json_loads(json, 0, NULL);
  if (!in) abort();
  run(action, in);
  json_decref(in);
}

static void close_all(void) {
  if (S) tw_store_close(S);
  if (Q) tw_sqs_close(Q);
  S = NULL;
  Q = NULL;
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) {
  }
}

static void open_all(void) {
  const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(dir, sizeof dir, "%s/tw-fuzz-sqs-XXXXXX", tmp);
  if (!mkdtemp(dir)) abort();
  char err[256] = "";
  S = tw_store_open(dir, err, sizeof err);
  if (S) Q = tw_sqs_open(S, "us-east-1", "000000000000", err, sizeof err);
  if (!S || !Q || tw_store_start(S, NULL, NULL)) {
    fprintf(stderr, "fuzz_sqs_json: %s\n", err);
    abort();
  }
  setup("CreateQueue", "{\"QueueName\":\"dlq\"}");
  setup("CreateQueue",
        "{\"QueueName\":\"q\",\"Attributes\":{\"RedrivePolicy\":"
        "\"{\\\"deadLetterTargetArn\\\":\\\"arn:aws:sqs:us-east-1:000000000000:dlq\\\","
        "\\\"maxReceiveCount\\\":\\\"3\\\"}\"}}");
  setup("CreateQueue",
        "{\"QueueName\":\"f.fifo\",\"Attributes\":{\"FifoQueue\":\"true\","
        "\"ContentBasedDeduplication\":\"true\"}}");
  setup("SendMessage", "{\"QueueUrl\":\"" BASE "/000000000000/q\",\"MessageBody\":\"one\"}");
  setup("SendMessage", "{\"QueueUrl\":\"" BASE
                       "/000000000000/q\",\"MessageBody\":\"two\",\"MessageAttributes\":"
                       "{\"a\":{\"DataType\":\"String\",\"StringValue\":\"x\"}}}");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!Q) {
    open_all();
    atexit(close_all);
  } else if (++runs % RESET_EVERY == 0) {
    close_all();
    open_all();
  }
  const uint8_t *nl = memchr(data, '\n', size);
  size_t alen = nl ? (size_t)(nl - data) : size;
  char action[64];
  const char *name = NULL;
  if (alen < sizeof action) {
    memcpy(action, data, alen);
    action[alen] = 0;
    for (size_t i = 0; i < N_ACTIONS; i++)
      if (!strcmp(action, k_actions[i])) name = k_actions[i];
  }
  if (!name) name = k_actions[size ? data[0] % N_ACTIONS : 0];
  const char *body = nl ? (const char *)nl + 1 : "";
  size_t blen = nl ? size - alen - 1 : 0;
  json_t *in;
  if (!blen) {
    in = json_object();
  } else {
    in = json_loadb(body, blen, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    if (!json_is_object(in)) { /* the front end answers MalformedJSON itself */
      json_decref(in);
      return 0;
    }
  }
  run(name, in);
  json_decref(in);
  return 0;
}
