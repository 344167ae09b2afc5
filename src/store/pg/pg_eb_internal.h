/* EventBridge's repositories on PostgreSQL (eventbridge.c), which the cluster
 * store serves (s3_store.c). */
#ifndef TW_STORE_PG_EB_INTERNAL_H
#define TW_STORE_PG_EB_INTERNAL_H

#include "store/eb_delivery.h"
#include "store/eventbridge.h"

/* The state counter (pg_state.h) every control-plane write bumps. */
#define TW_PG_EB_STATE "eventbridge"

extern const tw_eb_repo tw_pg_eb_repo;
extern const tw_eb_delivery_repo tw_pg_eb_delivery_repo;

#endif
