/* The key pairs allowed to sign requests. */
#ifndef TW_AUTH_CREDENTIALS_H
#define TW_AUTH_CREDENTIALS_H
#include <stddef.h>

#include "core/config.h"

struct tw_policy;

typedef struct {
  char access_key[129];
  char secret[129];
  char name[64];
  /* identity policies (auth/policy.h); none: full access */
  struct tw_policy **policies;
  size_t npolicies;
} tw_user;

struct tw_store;
struct tw_creds_cluster;

typedef struct {
  /* In cluster mode another thread may replace the array (tw_credentials_cluster):
   * read users and n with tw_credentials_user / _secret; a tw_user they return
   * stays valid until tw_credentials_free; users[0] is always the first user. */
  tw_user *users;
  size_t n;
  int generated;               /* the first pair was generated on this start */
  struct tw_creds_cluster *cl; /* cluster mode, else NULL */
} tw_credentials;

/* The first pair: TWEEDLE_ACCESS_KEY_ID/TWEEDLE_SECRET_ACCESS_KEY, else the pair
 * stored in <data>/credentials.json, else a new one generated and stored there
 * (in cluster mode, cfg->store_url set, none is generated here:
 * tw_credentials_cluster does it). Then the users of the config file, with
 * their policies (a malformed one is an error naming the user and the
 * statement's fault). */
int tw_credentials_setup(tw_credentials *c, const tw_config *cfg, char *err, size_t errlen);
/* Cluster mode, after tw_credentials_setup, on the PostgreSQL store
 * (store/pg_users.h): this node's pairs are stored in PostgreSQL (upserted by
 * access key); when the cluster has none and this node was given none, a
 * pair is generated, stored, written to <data>/credentials.json and
 * `generated` set (on the one node that generated it); then c holds every
 * user of the cluster, the first stored first, and follows their changes
 * (the "users" change counter: a listener, and an access key not known here
 * is looked for in PostgreSQL before it is refused). 0, or -1 with err. */
int tw_credentials_cluster(tw_credentials *c, struct tw_store *pg, const tw_config *cfg, char *err,
                           size_t errlen);
void tw_credentials_free(tw_credentials *c);
/* The user of an access key, or NULL. */
const tw_user *tw_credentials_user(const tw_credentials *c, const char *access_key);
/* tw_secret_lookup for SigV4 (ud is the tw_credentials). */
const char *tw_credentials_secret(void *ud, const char *access_key);

#endif
