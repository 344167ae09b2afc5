/* Inside the PostgreSQL store: the gateway's repositories (src/store/pg/gw_*.c),
 * served by the S3 store's backend (s3_store.c) in cluster mode. */
#ifndef TW_STORE_PG_GW_INTERNAL_H
#define TW_STORE_PG_GW_INTERNAL_H
#include "store/gw_access_log.h"
#include "store/gw_apikeys.h"
#include "store/gw_rows.h"

extern const tw_gw_apikeys_repo tw_pg_gw_apikeys_repo;
extern const tw_gw_jobs_repo tw_pg_gw_jobs_repo;
extern const tw_gw_access_log_repo tw_pg_gw_access_log_repo;

#endif
