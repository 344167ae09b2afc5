/* The gateway's access log: one row per request, kept for a number of days. */
#ifndef TW_STORE_GW_ACCESS_LOG_H
#define TW_STORE_GW_ACCESS_LOG_H
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct {
  int64_t time_ms; /* when the request arrived */
  int64_t latency_us, bytes_in, bytes_out;
  int status;
  const char *principal, *auth, *method, *route, *path, *request_id, *source_ip;
} tw_gw_access_row;

typedef struct {
  /* Appends n rows, in order; the ticket of the batch holding the last one
   * (tw_store_ticket when n is 0). */
  uint64_t (*append)(tw_store *s, const tw_gw_access_row *rows, size_t n);
  /* Drops the rows older than before_ms. */
  uint64_t (*prune)(tw_store *s, int64_t before_ms);
  /* Rows with time_ms >= since_ms, newest appended first, at most limit of
   * them; the row is valid during the call only; fn returns non-zero to stop.
   * 0, or -1 on error. */
  int (*query)(tw_store *s, int64_t since_ms, long limit,
               int (*fn)(void *ud, const tw_gw_access_row *row), void *ud);
} tw_gw_access_log_repo;

const tw_gw_access_log_repo *tw_store_gw_access_log(tw_store *s);

#endif
