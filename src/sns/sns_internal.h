/* Internals shared by the files of the SNS engine (src/sns/). Topics and
 * subscriptions live in memory, guarded by tw_sns.mu (recursive; it is also
 * the lock the event bus takes for SNS, so a publish that holds the bus lock
 * holds it too). Never take the bus lock while holding mu: the bus locks the
 * queue engine first. Handlers take a transport-free call (tw_sns_call) whose
 * input and output are JSON in botocore's shapes; sns_query.c is the wire. */
#ifndef TW_SNS_INTERNAL_H
#define TW_SNS_INTERNAL_H
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "auth/policy.h"
#include "core/errors.h"
#include "core/map.h"
#include "events/pattern.h"
#include "core/buf.h"
#include "net/http.h"
#include "sns/sns.h"
#include "store/sns_outbox.h"

#define SNS_XMLNS "http://sns.amazonaws.com/doc/2010-03-31/"
#define SNS_MAX_MESSAGE 262144                    /* bytes, attributes included */
#define SNS_DEDUP_WINDOW_MS (5 * 60 * 1000)       /* FIFO deduplication interval */
#define SNS_TOKEN_TTL_MS (2LL * 24 * 3600 * 1000) /* confirmation tokens: 2 days */
#define SNS_PAGE 100                              /* List* page size */
#define SNS_MAX_TAGS 50
#define SNS_MAX_BATCH 10
#define SNS_MAX_SQS_ATTRIBUTES 10 /* raw delivery: SQS takes at most 10 attributes */

typedef struct sns_topic sns_topic;

typedef struct sns_sub {
  char *arn, *topic_arn, *protocol, *endpoint;
  char *owner, *principal;
  json_t *attrs; /* settable attributes as strings, exactly as stored */
  int pending, authenticated, auth_unsubscribe;
  char *token; /* confirmation token (pending subscriptions), or NULL */
  int64_t token_expires_ms, created_ms;
  /* parsed from attrs */
  int raw;        /* RawMessageDelivery */
  int body_scope; /* FilterPolicyScope MessageBody */
  tw_pattern *filter;
  int blocked;   /* its stored filter policy no longer compiles: receives nothing */
  char *dlq_arn; /* RedrivePolicy deadLetterTargetArn */
  sns_topic *topic;
} sns_sub;

typedef struct {
  char msg_id[37];
  uint64_t seqno;
  int64_t expires_ms;
} sns_dedup;

struct sns_topic {
  char *arn, *name;
  int fifo;
  int64_t created_ms;
  json_t *attrs;  /* settable attributes as strings (DisplayName, Policy, ...) */
  json_t *tags;   /* {key: value} */
  uint64_t seqno; /* FIFO: last SequenceNumber handed out */
  /* parsed from attrs */
  int sigver;         /* SignatureVersion 1 or 2 */
  int content_dedup;  /* ContentBasedDeduplication */
  int dedup_by_group; /* FifoThroughputScope MessageGroup */
  tw_policy *policy;  /* Policy compiled; NULL when it is the default one (grants users nothing) */
  sns_sub **subs;     /* in subscription order */
  size_t nsubs, cap;
  tw_map dedup; /* key -> sns_dedup */
  /* built-in AWS/SNS metrics since the last sweep (sns_metrics.c), under mu */
  uint64_t m_published, m_delivered, m_failed;
  double m_size_sum, m_size_min, m_size_max;
};

/* sns_metrics.c: a message published to t (lock held) */
void sns_metrics_published(sns_topic *t, size_t bytes);

struct tw_sns {
  pthread_mutex_t mu;
  tw_store *store;
  struct tw_events *bus;
  char region[64], account[32];
  char base_url[600];                   /* for SigningCertURL, UnsubscribeURL, SubscribeURL */
  tw_map topics;                        /* arn -> sns_topic */
  tw_map subs;                          /* arn -> sns_sub */
  atomic_uint_fast64_t synced_failures; /* tw_store_failures when state was loaded */
  /* cluster mode (the store is PostgreSQL's): the "sns" change counter
   * (store/pg_state.h) the state in memory was loaded at */
  int cluster;
  atomic_int_fast64_t loaded_version;
  pthread_mutex_t reload_mu; /* one reload at a time (sns_cluster_sync) */
  int64_t next_prune_ms;
  tw_sns_stats stats;
  /* signing (sns_signing.c) */
  struct evp_pkey_st *key;
  char *cert_pem;
  size_t cert_len;
  char cert_path[128]; /* /_/sns/SimpleNotificationService-<md5>.pem */
  /* deliveries that leave the process (sns_outbox.c) */
  struct sns_outbox *outbox;
  char smtp_host[256], smtp_port[8]; /* smtp_host "": no relay, email refused */
  char smtp_from[256];
};

typedef struct {
  tw_sns *sns;
  const char *action;
  json_t *in;  /* the request in botocore's shape (borrowed) */
  json_t *out; /* the result in botocore's shape (owned) */
  tw_err err;
  char msg[1024];
  const char *principal; /* the access key that signed, or NULL */
  int anonymous;         /* an unsigned link (Unsubscribe, ConfirmSubscription) */
  char trace[260];       /* the caller's trace (core/trace.h), "" none: SQS deliveries carry it */
  uint64_t ticket;       /* store batch with the call's own changes; 0: none */
  uint64_t seen_ticket;  /* store batch as new as the state the answer reports */
  uint64_t failures;     /* tw_store_failures before the call looked at anything */
  int cluster_synced;    /* sns_cluster_sync done for this call (sns_query.c) */
} tw_sns_call;

typedef struct {
  const char *name;
  int (*fn)(tw_sns_call *c); /* 0 done (c->out set, or nothing to return) */
  int has_result;            /* the response carries an <XResult> element */
} tw_sns_action;

const tw_sns_action *tw_sns_find_action(const char *name);
/* Runs the action (reloading state after a failed commit first). */
void tw_sns_execute(tw_sns_call *c);
/* Sets c->err and c->msg (printf-style, NULL: the table's message); returns -1. */
int sns_fail(tw_sns_call *c, tw_err e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* --- engine (sns_engine.c); every function here runs with mu held --------- */
void sns_lock(tw_sns *s);
void sns_unlock(tw_sns *s);
void sns_resync_if_needed(tw_sns *s);
/* Cluster mode: reloads topics and subscriptions when another node (or this
 * one) committed a change since they were loaded: one read of the "sns"
 * counter. Without mu (takes it to reload). 0, or -1 when PostgreSQL cannot
 * answer. A no-op on one node. */
int sns_cluster_sync(tw_sns *s);
/* The same with mu held (the bus's callbacks): reloads under mu. */
int sns_cluster_sync_locked(tw_sns *s);
sns_topic *sns_topic_get(tw_sns *s, const char *arn);
sns_sub *sns_sub_get(tw_sns *s, const char *arn);
sns_topic *sns_topic_add(tw_sns *s, const char *arn, const char *name, int fifo, int64_t created_ms,
                         json_t *attrs, json_t *tags, uint64_t seqno);
void sns_topic_remove(tw_sns *s, sns_topic *t); /* and its subscriptions */
/* A new subscription (attrs taken over); NULL when its attributes do not parse. */
sns_sub *sns_sub_add(tw_sns *s, sns_topic *t, const char *arn, const char *protocol,
                     const char *endpoint, json_t *attrs);
void sns_sub_remove(tw_sns *s, sns_sub *sub);
/* Parses attrs into the subscription's fields (filter, raw, DLQ); on error
 * the fields are unchanged and err holds AWS's message without its prefix. */
int sns_sub_parse(sns_sub *sub, json_t *attrs, char *err, size_t errlen);
void sns_topic_parse(const tw_sns *s, sns_topic *t);
/* Appends the row to the open batch; returns the ticket. */
uint64_t sns_topic_save(tw_sns *s, const sns_topic *t);
uint64_t sns_sub_save(tw_sns *s, const sns_sub *sub);

/* --- helpers ---------------------------------------------------------------- */
const char *sns_in_str(const json_t *in, const char *key); /* string member or NULL */
/* Checks an ARN parameter the way SNS does: fewer than 6 ':'-separated parts
 * -> "Invalid parameter: <what> Reason: An ARN must have at least 6 elements,
 * not N"; not this region's sns ARN -> "Invalid parameter: <what>". */
int sns_check_arn(tw_sns_call *c, const char *arn, const char *what);
/* The topic named by arn (checked as above), or NULL with NotFound set. */
sns_topic *sns_topic_lookup(tw_sns_call *c, const char *arn, const char *what);
void sns_iso8601(int64_t ms, char out[32]);
/* List* paging: NextToken is the base64 of the last ARN of the page before. */
int sns_decode_token(tw_sns_call *c, const char *token, char *out, size_t n);
json_t *sns_next_token(const char *last);
json_t *sns_default_policy(const tw_sns *s, const char *topic_arn);
/* The topic's EffectiveDeliveryPolicy (defaults merged with DeliveryPolicy). */
char *sns_effective_delivery_policy(const sns_topic *t);
char *sns_sub_effective_delivery_policy(const sns_sub *sub);

/* --- signing (sns_signing.c) ------------------------------------------------ */
int sns_signing_open(tw_sns *s, const char *data_dir, char *err, size_t errlen);
void sns_signing_close(tw_sns *s);
/* Base64 RSA signature (version 1: SHA1, 2: SHA256) of n bytes; NULL on error. */
char *sns_sign(tw_sns *s, int version, const char *data, size_t n);
/* <base>/_/sns/SimpleNotificationService-<md5>.pem */
void sns_cert_url(const tw_sns *s, char *out, size_t n);

/* --- the outbox (sns_outbox.c, sns_http_delivery.c, sns_email.c) ------------- */
#define SNS_OUTBOX_THREADS 4
#define SNS_DELIVERY_TIMEOUT_S 15 /* connect and response, as AWS */
int sns_outbox_open(tw_sns *s, const tw_config *cfg, char *err, size_t errlen);
int sns_outbox_start(tw_sns *s);
void sns_outbox_stop(tw_sns *s);
void sns_outbox_close(tw_sns *s);
/* Appends a delivery (row->id, attempts, due_ms and created_ms are set here)
 * to the open batch; the delivery threads take it once that batch commits.
 * With mu (or the bus lock) held, inside the caller's store hold. Returns the
 * ticket. */
uint64_t sns_outbox_add(tw_sns *s, tw_sns_outbox_row *row);
/* The SubscriptionConfirmation (or UnsubscribeConfirmation) for an http,
 * https, email or email-json subscription, signed, into the outbox. With mu. */
uint64_t sns_outbox_confirmation(tw_sns *s, const sns_topic *t, const sns_sub *sub,
                                 const char *kind);
/* Seconds before retry number r (1-based) under a healthyRetryPolicy. */
double sns_retry_delay(int min_delay, int max_delay, int retries, int no_delay, int min_retries,
                       int max_retries, const char *backoff, int r);
/* The mail footer AWS puts under email notifications. */
void sns_email_footer(const tw_sns *s, const char *sub_arn, tw_buf *out);
/* POSTs body to url; the HTTP status, or -1 with err (no response). */
int sns_http_post(const char *url, const tw_kv *headers, size_t nheaders, const void *body,
                  size_t len, tw_http_cancel *cancel, char *err, size_t errlen);
/* Parses smtp://host[:port] (default port 25). 0, or -1 with err. */
int sns_smtp_parse_url(const char *url, char host[256], char port[8], char *err, size_t errlen);
/* One text/plain UTF-8 mail through the relay. 0, or -1 with err. */
int sns_smtp_send(const char *host, const char *port, const char *from, const char *from_name,
                  const char *to, const char *subject, const char *body, size_t len, char *err,
                  size_t errlen);

/* --- publishing (sns_publish.c) --------------------------------------------- */
int sns_join_bus(tw_sns *s);

/* --- handlers --------------------------------------------------------------- */
int sns_create_topic(tw_sns_call *c);
int sns_delete_topic(tw_sns_call *c);
int sns_list_topics(tw_sns_call *c);
int sns_get_topic_attributes(tw_sns_call *c);
int sns_set_topic_attributes(tw_sns_call *c);
int sns_tag_resource(tw_sns_call *c);
int sns_untag_resource(tw_sns_call *c);
int sns_list_tags_for_resource(tw_sns_call *c);
int sns_add_permission(tw_sns_call *c);
int sns_remove_permission(tw_sns_call *c);
int sns_get_data_protection_policy(tw_sns_call *c);
int sns_put_data_protection_policy(tw_sns_call *c);
int sns_subscribe(tw_sns_call *c);
int sns_confirm_subscription(tw_sns_call *c);
int sns_unsubscribe(tw_sns_call *c);
int sns_list_subscriptions(tw_sns_call *c);
int sns_list_subscriptions_by_topic(tw_sns_call *c);
int sns_get_subscription_attributes(tw_sns_call *c);
int sns_set_subscription_attributes(tw_sns_call *c);
int sns_publish(tw_sns_call *c);
int sns_publish_batch(tw_sns_call *c);

#endif
