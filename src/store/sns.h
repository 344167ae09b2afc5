/* SNS: topics, subscriptions and the FIFO topics' deduplication window. The
 * SNS engine (src/sns/) holds all of them in memory from start to shutdown;
 * this repository saves them across restarts. Writes append to the open batch
 * and return its ticket (store.h); a publish holds the store so that its
 * topic's sequence number, its deduplication entry and the queue messages it
 * fans out to commit together. */
#ifndef TW_STORE_SNS_H
#define TW_STORE_SNS_H
#include <stdint.h>

#include "store/store.h"

typedef struct {
  const char *arn, *name;
  int fifo;
  int64_t created_ms;
  const char *attrs_json; /* the settable attributes: a JSON object of strings */
  const char *tags_json;  /* a JSON object {key: value}, in the order they were added */
  uint64_t seqno;         /* FIFO: the last SequenceNumber handed out */
} tw_sns_topic_row;

typedef struct {
  const char *arn, *topic_arn, *protocol, *endpoint;
  const char *owner;      /* account id */
  const char *principal;  /* SubscriptionPrincipal */
  const char *attrs_json; /* the settable attributes: a JSON object of strings */
  int pending;            /* waits for ConfirmSubscription */
  int authenticated;      /* ConfirmationWasAuthenticated */
  int auth_unsubscribe;   /* AuthenticateOnUnsubscribe */
  const char *token;      /* confirmation token, or NULL */
  int64_t token_expires_ms, created_ms;
} tw_sns_sub_row;

typedef struct {
  const char *topic_arn, *key; /* key: the deduplication id (with the group when scoped) */
  const char *msg_id;
  uint64_t seqno;
  int64_t expires_ms;
} tw_sns_dedup_row;

/* Rows are valid during the call only. */
typedef struct {
  void (*topic)(void *ud, const tw_sns_topic_row *row);
  void (*subscription)(void *ud, const tw_sns_sub_row *row);
  void (*dedup)(void *ud, const tw_sns_dedup_row *row);
} tw_sns_loader;

typedef struct {
  /* Inserts or replaces a topic (seqno included). */
  uint64_t (*topic_save)(tw_store *s, const tw_sns_topic_row *row);
  /* A FIFO topic's last SequenceNumber. */
  uint64_t (*topic_seqno)(tw_store *s, const char *arn, uint64_t seqno);
  /* The topic, its subscriptions and its deduplication entries. */
  uint64_t (*topic_delete)(tw_store *s, const char *arn);
  /* Inserts or replaces a subscription. */
  uint64_t (*sub_save)(tw_store *s, const tw_sns_sub_row *row);
  uint64_t (*sub_delete)(tw_store *s, const char *arn);
  uint64_t (*dedup_put)(tw_store *s, const tw_sns_dedup_row *row);
  /* Drops entries that expired before now_ms. */
  uint64_t (*dedup_prune)(tw_store *s, int64_t now_ms);
  /* Every committed topic, then every subscription, then every deduplication
   * entry still valid at now_ms, from one consistent state. 0 or -1. */
  int (*load)(tw_store *s, int64_t now_ms, const tw_sns_loader *ld, void *ud);
} tw_sns_repo;

const tw_sns_repo *tw_store_sns(tw_store *s);

#endif
