/* SNS topics as a destination on the event bus (sns/sns_publish.c): an event
 * whose target is a topic ARN is published to the topic inside the
 * publisher's store batch and fans out to its queue subscriptions (enveloped
 * with e->subject as Subject, or raw), FIFO topics number it and pass the
 * group on; unknown topics are refused (-1), oversized messages too (-2). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "events/bus.h"
#include "sns/sns_internal.h"
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

static json_t *sqs_call(tw_sqs *sqs, const char *action, json_t *in) {
  tw_sqs_call c = {.sqs = sqs, .action = action, .in = in};
  snprintf(c.base_url, sizeof c.base_url, "http://127.0.0.1:9324");
  tw_sqs_execute(&c);
  json_decref(in);
  if (c.err != TW_ERR_OK) printf("# %s failed: %s\n", action, c.msg);
  return c.err == TW_ERR_OK ? c.out : NULL;
}

static json_t *sns_call(tw_sns *sns, tw_store *st, const char *action, json_t *in) {
  tw_sns_call c = {.sns = sns, .action = action, .in = in, .principal = "AKID"};
  tw_sns_execute(&c);
  json_decref(in);
  if (c.err != TW_ERR_OK) printf("# %s failed: %s\n", action, c.msg);
  CHECK(wait_for(st, c.ticket > c.seen_ticket ? c.ticket : c.seen_ticket));
  return c.err == TW_ERR_OK ? c.out : NULL;
}

static void queue(tw_sqs *sqs, const char *name, int fifo, char url[256]) {
  json_t *in =
      fifo ? json_pack("{s:s,s:{s:s}}", "QueueName", name, "Attributes", "FifoQueue", "true")
           : json_pack("{s:s}", "QueueName", name);
  json_t *out = sqs_call(sqs, "CreateQueue", in);
  snprintf(url, 256, "%s", out ? json_string_value(json_object_get(out, "QueueUrl")) : "");
  json_decref(out);
}

/* The messages of a queue (up to 10), owned. */
static json_t *receive(tw_sqs *sqs, const char *url) {
  json_t *o =
      sqs_call(sqs, "ReceiveMessage",
               json_pack("{s:s,s:i,s:[s],s:[s]}", "QueueUrl", url, "MaxNumberOfMessages", 10,
                         "MessageSystemAttributeNames", "All", "MessageAttributeNames", "All"));
  json_t *msgs = json_incref(json_object_get(o, "Messages"));
  json_decref(o);
  return msgs ? msgs : json_array();
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
  char dir[] = "/tmp/tweedle-sns-bus-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  tw_config cfg;
  tw_config_defaults(&cfg);
  snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
  snprintf(cfg.listen, sizeof cfg.listen, "127.0.0.1:9324");
  char err[256] = "";
  tw_store *st = tw_store_open(dir, err, sizeof err);
  tw_sqs *sqs = st ? tw_sqs_open(st, cfg.region, cfg.account, err, sizeof err) : NULL;
  tw_sns *sns = sqs ? tw_sns_open(st, &cfg, err, sizeof err) : NULL;
  tw_events *bus = tw_events_new();
  if (!sns || tw_sqs_join_events(sqs, bus) || tw_sns_join_events(sns, bus) ||
      tw_store_start(st, NULL, NULL)) {
    printf("# cannot open: %s\n", err);
    return 1;
  }
  const char *topic = "arn:aws:sns:us-east-1:000000000000:alerts";
  const char *ftopic = "arn:aws:sns:us-east-1:000000000000:ordered.fifo";
  char env_url[256], raw_url[256], fifo_url[256];
  queue(sqs, "env", 0, env_url);
  queue(sqs, "raw", 0, raw_url);
  queue(sqs, "fq.fifo", 1, fifo_url);
  json_decref(sns_call(sns, st, "CreateTopic", json_pack("{s:s}", "Name", "alerts")));
  json_decref(sns_call(
      sns, st, "CreateTopic",
      json_pack("{s:s,s:{s:s}}", "Name", "ordered.fifo", "Attributes", "FifoTopic", "true")));
  json_decref(sns_call(sns, st, "Subscribe",
                       json_pack("{s:s,s:s,s:s}", "TopicArn", topic, "Protocol", "sqs", "Endpoint",
                                 "arn:aws:sqs:us-east-1:000000000000:env")));
  json_decref(sns_call(sns, st, "Subscribe",
                       json_pack("{s:s,s:s,s:s,s:{s:s}}", "TopicArn", topic, "Protocol", "sqs",
                                 "Endpoint", "arn:aws:sqs:us-east-1:000000000000:raw", "Attributes",
                                 "RawMessageDelivery", "true")));
  json_decref(sns_call(sns, st, "Subscribe",
                       json_pack("{s:s,s:s,s:s}", "TopicArn", ftopic, "Protocol", "sqs", "Endpoint",
                                 "arn:aws:sqs:us-east-1:000000000000:fq.fifo")));

  CASE("exists");
  int fifo = -1;
  tw_events_lock(bus);
  CHECK(tw_event_target_exists(bus, topic, &fifo) == 1 && fifo == 0);
  CHECK(tw_event_target_exists(bus, ftopic, &fifo) == 1 && fifo == 1);
  CHECK(tw_event_target_exists(bus, "arn:aws:sns:us-east-1:000000000000:nope", &fifo) == 0);
  tw_events_unlock(bus);

  CASE("fan-out from the bus");
  json_t *attrs = json_pack("{s:{s:s,s:s}}", "kind", "DataType", "String", "StringValue", "test");
  tw_event e = {.source = "aws.s3",
                .type = "ObjectCreated:Put",
                .target = topic,
                .body = "{\"a\":1}",
                .len = 7,
                .subject = "Amazon S3 Notification",
                .attributes = attrs};
  CHECK(publish(bus, st, &e) == 0);
  json_decref(attrs);
  json_t *msgs = receive(sqs, env_url);
  CHECK_INT_EQ(json_array_size(msgs), 1);
  json_t *env =
      json_loads(json_string_value(json_object_get(json_array_get(msgs, 0), "Body")), 0, NULL);
  CHECK_STR_EQ(json_string_value(json_object_get(env, "Type")), "Notification");
  CHECK_STR_EQ(json_string_value(json_object_get(env, "TopicArn")), topic);
  CHECK_STR_EQ(json_string_value(json_object_get(env, "Subject")), "Amazon S3 Notification");
  CHECK_STR_EQ(json_string_value(json_object_get(env, "Message")), "{\"a\":1}");
  CHECK(json_string_length(json_object_get(env, "Signature")) > 300);
  CHECK_STR_EQ(json_string_value(json_object_get(
                   json_object_get(json_object_get(env, "MessageAttributes"), "kind"), "Value")),
               "test");
  json_decref(env);
  json_decref(msgs);
  msgs = receive(sqs, raw_url);
  CHECK_INT_EQ(json_array_size(msgs), 1);
  json_t *m = json_array_get(msgs, 0);
  CHECK_STR_EQ(json_string_value(json_object_get(m, "Body")), "{\"a\":1}");
  CHECK_STR_EQ(
      json_string_value(json_object_get(
          json_object_get(json_object_get(m, "MessageAttributes"), "kind"), "StringValue")),
      "test");
  json_decref(msgs);

  CASE("FIFO topic from the bus");
  tw_event f = {.source = "aws.events",
                .type = "x",
                .target = ftopic,
                .body = "one",
                .len = 3,
                .group_id = "grp"};
  CHECK(publish(bus, st, &f) == 0);
  CHECK(publish(bus, st, &f) == 0); /* the same body: deduplicated by its hash */
  f.body = "two";
  CHECK(publish(bus, st, &f) == 0);
  msgs = receive(sqs, fifo_url);
  CHECK_INT_EQ(json_array_size(msgs), 2);
  size_t i;
  json_t *x;
  const char *want[] = {"one", "two"};
  long long last = 0;
  json_array_foreach(msgs, i, x) {
    json_t *body = json_loads(json_string_value(json_object_get(x, "Body")), 0, NULL);
    if (i < 2) CHECK_STR_EQ(json_string_value(json_object_get(body, "Message")), want[i]);
    long long seq = atoll(json_string_value(json_object_get(body, "SequenceNumber")) ?: "0");
    CHECK(seq > last);
    last = seq;
    CHECK(json_object_get(body, "Signature") == NULL);
    CHECK_STR_EQ(
        json_string_value(json_object_get(json_object_get(x, "Attributes"), "MessageGroupId")),
        "grp");
    json_decref(body);
  }
  json_decref(msgs);
  tw_sns_stats stats;
  tw_sns_get_stats(sns, &stats);
  CHECK_INT_EQ(stats.published, 3);
  CHECK_INT_EQ(stats.delivered, 4);
  CHECK_INT_EQ(stats.deduplicated, 1);

  CASE("refusals");
  tw_event bad = {.source = "x",
                  .type = "y",
                  .target = "arn:aws:sns:us-east-1:000000000000:nope",
                  .body = "z",
                  .len = 1};
  CHECK(publish(bus, st, &bad) == -1);
  size_t big = 262145;
  char *huge = malloc(big);
  memset(huge, 'x', big);
  bad.target = topic;
  bad.body = huge;
  bad.len = big;
  CHECK(publish(bus, st, &bad) == -2);
  free(huge);
  msgs = receive(sqs, env_url);
  CHECK_INT_EQ(json_array_size(msgs), 0);
  json_decref(msgs);

  tw_sqs_stop(sqs);
  tw_store_close(st);
  tw_sqs_close(sqs);
  tw_sns_close(sns);
  tw_events_free(bus);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd)) printf("# could not remove %s\n", dir);
  return tap_done();
}
