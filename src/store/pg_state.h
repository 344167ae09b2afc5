/* Cluster mode: what engines that keep state in memory (SNS topics, rules,
 * alarms...) need to stay in step across nodes, and background work that must
 * run on one node of the cluster at a time. For the PostgreSQL store only
 * (pg_s3.h); SQL in src/store/pg/pg_state.c. */
#ifndef TW_STORE_PG_STATE_H
#define TW_STORE_PG_STATE_H
#include <stdint.h>

#include "store/store.h"

/* Change counters, one per name ("sns", "eventbridge", ...): a control-plane
 * write appends tw_store_pg_state_bump to its batch, so the counter moves
 * (and every node hears of it) in the transaction that makes the change.
 * tw_store_pg_state_read returns the committed value (0: never bumped), or
 * -1 when PostgreSQL cannot answer: a node compares it with the value it
 * loaded its state at, and reloads when behind (read-your-writes across
 * nodes). */
uint64_t tw_store_pg_state_bump(tw_store *s, const char *name);
int64_t tw_store_pg_state_read(tw_store *s, const char *name);
/* fn(ud) on a listener thread after each commit, on any node (this one
 * included), that bumped `name`, and after the listener reconnected (bumps
 * may have been missed). Several names and listeners may be registered; they
 * stop when the store closes. 0, or -1. */
int tw_store_pg_state_listen(tw_store *s, const char *name, void (*fn)(void *ud), void *ud);

/* Work that runs on one node of the cluster at a time (lifecycle sweeps,
 * schedules, alarm evaluation, outbox deliveries): a session advisory lock,
 * keyed by `name`, on a connection of the handle's own. When its node dies or
 * loses that connection, PostgreSQL ends the session and frees the lock;
 * another node's handle takes it at its next call. tw_store_pg_lead tries to
 * take the lock, or when held checks that the session lives: 1 this node
 * leads, 0 another node does, -1 PostgreSQL unreachable (not held; it
 * reconnects with backoff). One thread uses a handle. */
typedef struct tw_pg_lead tw_pg_lead;
tw_pg_lead *tw_store_pg_lead_open(tw_store *s, const char *name); /* NULL: not a PG store */
int tw_store_pg_lead(tw_pg_lead *l);
void tw_store_pg_lead_close(tw_pg_lead *l); /* frees the lock */

#endif
