/* The libmicrohttpd adapter: starts the daemon, turns MHD callbacks into
 * tw_request objects, and hands each to the service that claims it (service.h).
 * It knows no service: the application registers them. */
#ifndef TW_HTTP_SERVER_H
#define TW_HTTP_SERVER_H
#include <stdint.h>

#include "http/request.h"
#include "http/service.h"

typedef struct tw_http tw_http;

typedef struct {
  const char *listen; /* host:port */
  int threads;        /* 0: one per core */
  int max_connections;
  const char *public_url; /* base of URLs handed to clients, or "" (then the Host header) */
  /* both set: HTTPS only (PEM files; see http/tls.h), URLs built from the
   * Host header begin with https:// */
  const char *tls_cert;
  const char *tls_key;
  const tw_services *services;
  tw_app *app; /* handed to every request as r->app */
} tw_http_opts;

tw_http *tw_http_start(const tw_http_opts *opts, char *err, size_t errlen);
/* From now on new requests are refused (503 in their service's protocol). */
void tw_http_quiesce(tw_http *h);
int tw_http_active(tw_http *h); /* requests in progress */
void tw_http_stop(tw_http *h);
/* 1 when the server speaks HTTPS. */
int tw_http_tls(const tw_http *h);
/* Reads the certificate and key files again: new connections get the new
 * ones, connections already open keep theirs. 0 with the new certificate
 * described in msg, or -1 with the reason (the old ones stay in use). */
int tw_http_reload_tls(tw_http *h, char *msg, size_t msglen);
/* The store reports a durable commit: wake requests waiting for it. */
void tw_http_on_commit(void *ud, uint64_t committed, int ok);

#endif
