/* The gateway's rows as statement values (backend.h), the same whichever
 * store writes them: src/store/sqlite/gw_*.c and src/store/pg/gw_*.c bind
 * these in the column order their INSERTs name. Inside src/store/ only. */
#ifndef TW_STORE_GW_ROWS_H
#define TW_STORE_GW_ROWS_H
#include <stdio.h>

#include "store/backend.h"
#include "store/gw_access_log.h"
#include "store/gw_apikeys.h"
#include "store/gw_jobs.h"

/* time_ms, principal, auth, method, route, path, status, latency_us,
 * bytes_in, bytes_out, request_id, source_ip */
#define TW_GW_ACCESS_NCOLS 12
static inline void tw_gw_access_vals(const tw_gw_access_row *w, tw_sql_val *v) {
  v[0] = TW_SQL_I(w->time_ms);
  v[1] = TW_SQL_S(w->principal);
  v[2] = TW_SQL_S(w->auth);
  v[3] = TW_SQL_S(w->method);
  v[4] = TW_SQL_S(w->route);
  v[5] = TW_SQL_S(w->path);
  v[6] = TW_SQL_I(w->status);
  v[7] = TW_SQL_I(w->latency_us);
  v[8] = TW_SQL_I(w->bytes_in);
  v[9] = TW_SQL_I(w->bytes_out);
  v[10] = TW_SQL_S(w->request_id);
  v[11] = TW_SQL_S(w->source_ip);
}

/* id, hash, name, prefix, scopes, created_ms, expires_ms, rate, burst: rate
 * and burst as text (NULL: the server's default), kept in nums */
#define TW_GW_APIKEY_NCOLS 9
typedef struct {
  char rate[40], burst[40];
} tw_gw_apikey_nums;
static inline void tw_gw_apikey_vals(const tw_gw_apikey_row *k, tw_gw_apikey_nums *nums,
                                     tw_sql_val *v) {
  snprintf(nums->rate, sizeof nums->rate, "%.17g", k->rate);
  snprintf(nums->burst, sizeof nums->burst, "%.17g", k->burst);
  v[0] = TW_SQL_S(k->id);
  v[1] = TW_SQL_S(k->hash);
  v[2] = TW_SQL_S(k->name);
  v[3] = TW_SQL_S(k->prefix);
  v[4] = TW_SQL_S(k->scopes_json);
  v[5] = TW_SQL_I(k->created_ms);
  v[6] = TW_SQL_I(k->expires_ms);
  v[7] = TW_SQL_S(k->rate >= 0 ? nums->rate : NULL);
  v[8] = TW_SQL_S(k->burst >= 0 ? nums->burst : NULL);
}

/* id, type, created_ms, queue, owner, idem_key, fingerprint */
#define TW_GW_JOB_NCOLS 7
static inline void tw_gw_job_vals(const tw_gw_job_new *j, tw_sql_val *v) {
  v[0] = TW_SQL_S(j->id);
  v[1] = TW_SQL_S(j->type);
  v[2] = TW_SQL_I(j->created_ms);
  v[3] = TW_SQL_S(j->queue);
  v[4] = TW_SQL_S(j->owner);
  v[5] = TW_SQL_S(j->idem_key);
  v[6] = TW_SQL_S(j->fingerprint);
}

#endif
