/* events/bus.c with the SQS engine as a target (sqs/sqs_events.c): events
 * reach standard and FIFO queues (FIFO through SendMessage's own path:
 * group, deduplication), unknown ARNs are refused, listeners hear the events
 * of their source and type only, and a delivery commits with the publisher's
 * store batch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "events/bus.h"
#include "sqs/sqs.h"
#include "store/store.h"
#include "tap.h"

static int wait_for(tw_store *s, uint64_t t) {
  for (int i = 0; i < 10000; i++) {
    if (tw_store_committed(s) >= t) return 1;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  return 0;
}

/* Runs an SQS action; returns its output (owned) or NULL with the error printed. */
static json_t *call(tw_sqs *sqs, const char *action, json_t *in) {
  tw_sqs_call c = {.sqs = sqs, .action = action, .in = in};
  snprintf(c.base_url, sizeof c.base_url, "http://127.0.0.1:9324");
  tw_sqs_execute(&c);
  json_decref(in);
  if (c.err != TW_ERR_OK) {
    printf("# %s failed: %s\n", action, c.msg[0] ? c.msg : tw_err_get(c.err)->message);
    return NULL;
  }
  return c.out;
}

static const char *queue(tw_sqs *sqs, const char *name, int fifo, char url[256]) {
  json_t *in = fifo ? json_pack("{s:s,s:{s:s}}", "QueueName", name, "Attributes", "FifoQueue", "true")
                    : json_pack("{s:s}", "QueueName", name);
  json_t *out = call(sqs, "CreateQueue", in);
  snprintf(url, 256, "%s", out ? json_string_value(json_object_get(out, "QueueUrl")) : "");
  json_decref(out);
  return url;
}

/* Bodies received from a queue (up to 10), joined with ','. */
static void receive(tw_sqs *sqs, const char *url, char *out, size_t n) {
  json_t *o = call(sqs, "ReceiveMessage",
                   json_pack("{s:s,s:i,s:[s]}", "QueueUrl", url, "MaxNumberOfMessages", 10,
                             "MessageSystemAttributeNames", "All"));
  out[0] = 0;
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(o, "Messages"), i, m) {
    if (i) strncat(out, ",", n - strlen(out) - 1);
    strncat(out, json_string_value(json_object_get(m, "Body")), n - strlen(out) - 1);
  }
  json_decref(o);
}

typedef struct {
  int heard;
  char last[64];
} ears;

static void listener(void *ud, const tw_event *e) {
  ears *x = ud;
  x->heard++;
  snprintf(x->last, sizeof x->last, "%s/%s", e->source, e->type);
}

static int publish(tw_events *bus, tw_store *st, const tw_event *e) {
  tw_events_lock(bus);
  tw_store_hold(st);
  int rc = tw_event_publish(bus, e);
  uint64_t t = tw_store_ticket(st);
  tw_store_release(st);
  tw_events_unlock(bus);
  CHECK(wait_for(st, t));
  return rc;
}

int main(void) {
  char dir[] = "/tmp/tweedle-events-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  char err[256];
  tw_store *st = tw_store_open(dir, err, sizeof err);
  tw_sqs *sqs = st ? tw_sqs_open(st, "us-east-1", "000000000000", err, sizeof err) : NULL;
  if (!sqs || tw_store_start(st, NULL, NULL)) {
    printf("# cannot open: %s\n", err);
    return 1;
  }
  tw_events *bus = tw_events_new();
  CASE("targets");
  CHECK(tw_sqs_join_events(sqs, bus) == 0);
  char std_url[256], fifo_url[256];
  queue(sqs, "plain", 0, std_url);
  queue(sqs, "ordered.fifo", 1, fifo_url);
  const char *std_arn = "arn:aws:sqs:us-east-1:000000000000:plain";
  const char *fifo_arn = "arn:aws:sqs:us-east-1:000000000000:ordered.fifo";
  int fifo = -1;
  tw_events_lock(bus);
  CHECK(tw_event_target_exists(bus, std_arn, &fifo) == 1 && fifo == 0);
  CHECK(tw_event_target_exists(bus, fifo_arn, &fifo) == 1 && fifo == 1);
  CHECK(tw_event_target_exists(bus, "arn:aws:sqs:us-east-1:000000000000:nope", &fifo) == 0);
  CHECK(tw_event_target_exists(bus, "arn:aws:sns:us-east-1:000000000000:topic", &fifo) == -1);
  tw_events_unlock(bus);

  ears heard = {0};
  tw_events_lock(bus);
  CHECK(tw_events_listen(bus, "aws.s3", "ObjectCreated:Put", listener, &heard) == 0);
  tw_events_unlock(bus);

  CASE("standard queue");
  tw_event e = {.source = "aws.s3", .type = "ObjectCreated:Put", .target = std_arn, .body = "one",
                .len = 3};
  CHECK(publish(bus, st, &e) == 0);
  char got[256];
  receive(sqs, std_url, got, sizeof got);
  CHECK_STR_EQ(got, "one");
  CHECK_INT_EQ(heard.heard, 1);
  CHECK_STR_EQ(heard.last, "aws.s3/ObjectCreated:Put");

  CASE("FIFO queue: group and deduplication");
  tw_event f = {.source = "aws.s3", .type = "ObjectRemoved:Delete", .target = fifo_arn,
                .body = "first", .len = 5, .dedup_id = "d1"};
  CHECK(publish(bus, st, &f) == 0);
  CHECK(publish(bus, st, &f) == 0); /* the same deduplication id: accepted, not enqueued */
  f.body = "second";
  f.len = 6;
  f.dedup_id = NULL; /* deduplicated by the body's hash */
  CHECK(publish(bus, st, &f) == 0);
  CHECK(publish(bus, st, &f) == 0);
  receive(sqs, fifo_url, got, sizeof got);
  CHECK_STR_EQ(got, "first,second");
  CHECK_INT_EQ(heard.heard, 1); /* another type: not heard */

  CASE("refusals");
  tw_event bad = {.source = "x", .type = "y", .target = "arn:aws:sqs:us-east-1:000000000000:nope",
                  .body = "z", .len = 1};
  CHECK(publish(bus, st, &bad) == -1);
  bad.target = "arn:aws:sns:us-east-1:000000000000:topic";
  CHECK(publish(bus, st, &bad) == -1);

  CASE("listeners removed");
  tw_events_lock(bus);
  tw_events_listen(bus, NULL, NULL, NULL, &heard);
  tw_events_unlock(bus);
  e.body = "two";
  CHECK(publish(bus, st, &e) == 0);
  CHECK_INT_EQ(heard.heard, 1);

  tw_sqs_stop(sqs);
  tw_store_close(st);
  tw_sqs_close(sqs);
  tw_events_free(bus);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd)) printf("# could not remove %s\n", dir);
  return tap_done();
}
