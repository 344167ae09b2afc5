/* Cluster mode: the users (access key pairs) every node accepts, kept in
 * PostgreSQL (table tw_users) instead of each node's environment and
 * DATA/credentials.json. Changes bump the "users" change counter
 * (pg_state.h), so every node reloads them. PostgreSQL store only (pg_s3.h);
 * SQL in src/store/pg/users.c. */
#ifndef TW_STORE_PG_USERS_H
#define TW_STORE_PG_USERS_H
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* A row (borrowed strings). policies: the config file's JSON list of identity
 * policies, NULL for none (full access). */
typedef struct {
  const char *access_key, *secret, *name, *policies;
} tw_pg_user;

/* One transaction: the "users" counter moves first (its row lock makes the
 * start-ups of several nodes take turns), then each of users[0..n) is stored
 * (upserted by access key: a node started with a key pair overrides its secret,
 * name and policies), then `generated` (may be NULL) is stored only when the
 * table holds no user. 0, or -1 when PostgreSQL failed. */
int tw_store_pg_users_put(tw_store *s, const tw_pg_user *users, size_t n,
                          const tw_pg_user *generated);
/* Every user, the first stored first, and the "users" counter they go with
 * (one REPEATABLE READ snapshot). fn returns nonzero to stop. 0, or -1. */
int tw_store_pg_users_load(tw_store *s, int (*fn)(void *ud, const tw_pg_user *u), void *ud,
                           int64_t *version);

#endif
