/* The gateway's API keys: only the SHA-256 of a key is kept. The gateway holds
 * every key in memory from start to shutdown; the repository saves them across
 * restarts. */
#ifndef TW_STORE_GW_APIKEYS_H
#define TW_STORE_GW_APIKEYS_H
#include <stdint.h>

#include "store/store.h"

typedef struct {
  const char *id, *hash, *name, *prefix;
  const char *scopes_json;                    /* a JSON array of scope objects */
  int64_t created_ms, expires_ms, revoked_ms; /* 0: none */
  double rate, burst;                         /* < 0: not set (the server's default) */
} tw_gw_apikey_row;

typedef struct {
  /* A new key (revoked_ms is ignored: a key starts unrevoked). */
  uint64_t (*insert)(tw_store *s, const tw_gw_apikey_row *row);
  /* Marks the key revoked at revoked_ms. */
  uint64_t (*revoke)(tw_store *s, const char *id, int64_t revoked_ms);
  /* Every key, oldest first (created_ms, then id); the row is valid during
   * the call only. fn returns non-zero to stop: then -1. 0, or -1 on error. */
  int (*list)(tw_store *s, int (*fn)(void *ud, const tw_gw_apikey_row *row), void *ud);
} tw_gw_apikeys_repo;

const tw_gw_apikeys_repo *tw_store_gw_apikeys(tw_store *s);

#endif
