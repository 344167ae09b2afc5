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
  /* Cluster stores: the "sns" change counter (pg_state.h) of the state
   * loaded, read in the same snapshot; never called by SQLite. */
  void (*version)(void *ud, int64_t version);
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
  /* Cluster stores only (NULL on SQLite, where one process decides): FIFO
   * publishes to one topic take turns across the nodes. fifo_begin takes the
   * topic's lock (a transaction of its own, held until fifo_end) and reads
   * its committed last SequenceNumber; fifo_dedup reads the committed
   * deduplication entry for key still valid at now_ms (1 found, 0 none, -1
   * error). The caller appends its rows to the batch and waits for that
   * batch's commit before fifo_end, so the next holder reads them. */
  void *(*fifo_begin)(tw_store *s, const char *arn, uint64_t *seqno); /* NULL: error */
  int (*fifo_dedup)(void *h, const char *arn, const char *key, int64_t now_ms, char msg_id[37],
                    uint64_t *seqno);
  void (*fifo_end)(tw_store *s, void *h);
  /* Cluster stores only: a value every node shares (the signing key pair):
   * the stored one, else `candidate` stored and returned (the first node to
   * store one wins). malloc'd, NULL on error. */
  char *(*shared_value)(tw_store *s, const char *name, const char *candidate);
} tw_sns_repo;

const tw_sns_repo *tw_store_sns(tw_store *s);

#endif
