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

typedef struct {
  tw_user *users;
  size_t n;
  int generated; /* the first pair was generated on this start */
} tw_credentials;

/* The first pair: TWEEDLE_ACCESS_KEY_ID/TWEEDLE_SECRET_ACCESS_KEY, else the pair
 * stored in <data>/credentials.json, else a new one generated and stored there.
 * Then the users of the config file, with their policies (a malformed one is
 * an error naming the user and the statement's fault). */
int tw_credentials_setup(tw_credentials *c, const tw_config *cfg, char *err, size_t errlen);
void tw_credentials_free(tw_credentials *c);
/* The user of an access key, or NULL. */
const tw_user *tw_credentials_user(const tw_credentials *c, const char *access_key);
/* tw_secret_lookup for SigV4 (ud is the tw_credentials). */
const char *tw_credentials_secret(void *ud, const char *access_key);

#endif
