/* The SNS-compatible service: topics, subscriptions, Publish and PublishBatch
 * over the query protocol (API 2010-03-31, SigV4 service "sns").
 *
 * Deliveries to SQS subscribers go through the event bus inside the
 * publisher's store batch: a publish is acknowledged only once every queue
 * subscription holds its copy. Topics are themselves a destination on the bus
 * (ARN prefix "arn:aws:sns:"), so S3, EventBridge and alarms publish to them
 * the same way. Notifications are signed (SignatureVersion 1 SHA1withRSA, 2
 * SHA256withRSA) with a key pair kept in the data directory; the certificate
 * is served at the SigningCertURL under /_/sns/. */
#ifndef TW_SNS_SNS_H
#define TW_SNS_SNS_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "http/service.h"
#include "store/store.h"

typedef struct tw_sns tw_sns;
struct tw_events;

/* Loads topics and subscriptions from the store and the signing key pair
 * from the data directory (generated on first start). The base of the URLs
 * put in notifications (SigningCertURL, UnsubscribeURL) is cfg->sns_base_url,
 * else cfg->public_url, else http://<listen>. */
tw_sns *tw_sns_open(tw_store *store, const tw_config *cfg, char *err, size_t errlen);
/* Becomes the bus's destination for topic ARNs; deliveries to queues go
 * through the bus. Before any request. */
int tw_sns_join_events(tw_sns *s, struct tw_events *bus);
/* The store could not commit a batch (called on its writer thread): the
 * engine reloads its state from the store before serving on. */
void tw_sns_commit_failed(tw_sns *s);
/* Starts the threads that deliver to http, https, email and email-json
 * subscribers (the durable outbox), after the store's writer is running;
 * tw_sns_stop ends them, before the store closes. */
int tw_sns_start(tw_sns *s);
void tw_sns_stop(tw_sns *s);
void tw_sns_close(tw_sns *s);

/* What happened to notifications since start (for metrics and tests). */
typedef struct {
  uint64_t published;     /* messages accepted by Publish, PublishBatch and the bus */
  uint64_t delivered;     /* copies handed to queues, deliveries endpoints accepted */
  uint64_t retried;       /* failed http/https/email attempts rescheduled */
  uint64_t filtered;      /* copies a filter policy kept from a subscription */
  uint64_t dead_lettered; /* failed copies put on a subscription's DLQ */
  uint64_t dropped;       /* failed copies with no (working) DLQ */
  uint64_t deduplicated;  /* FIFO publishes dropped as duplicates */
} tw_sns_stats;
void tw_sns_get_stats(tw_sns *s, tw_sns_stats *out);

/* The built-in AWS/SNS metrics of each topic (sns_metrics.c): counts since
 * the previous call, then reset. */
typedef struct {
  const char *name;
  uint64_t published, delivered, failed;
  double size_sum, size_min, size_max; /* PublishSize */
} tw_sns_topic_metrics;
void tw_sns_metrics_sweep(tw_sns *s, void (*fn)(void *ud, const tw_sns_topic_metrics *m), void *ud);

/* For the web console (sns_console.c): runs a read-only action (ListTopics,
 * ListSubscriptions, ListSubscriptionsByTopic, Get*Attributes) with `in` in
 * botocore's shape (borrowed); its output (new reference) with *seen the store
 * batch the answer must wait for, or NULL with the reason in msg. */
json_t *tw_sns_console_read(tw_sns *s, const char *action, json_t *in, uint64_t *seen, char *msg,
                            size_t n);

/* SNS as a service of the HTTP server: scope "sns", the certificate under
 * /_/sns/, and the unsigned links notifications carry (?Action=Unsubscribe,
 * ?Action=ConfirmSubscription). */
extern const tw_service tw_sns_service;

#endif
