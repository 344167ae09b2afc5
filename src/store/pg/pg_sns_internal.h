/* The SNS repositories on PostgreSQL (sns.c, sns_outbox.c): served by the
 * cluster store's backend (s3_store.c), their tables created with the rest
 * (pg.c). */
#ifndef TW_STORE_PG_SNS_INTERNAL_H
#define TW_STORE_PG_SNS_INTERNAL_H

#include "store/sns.h"
#include "store/sns_outbox.h"

extern const tw_sns_repo tw_pg_sns_repo;
extern const tw_sns_outbox_repo tw_pg_sns_outbox_repo;

#endif
