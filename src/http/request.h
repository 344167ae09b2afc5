/* One HTTP request as the handlers see it, and the few things a handler can do:
 * answer, or park the request (suspend) until something wakes it. */
#ifndef TW_HTTP_REQUEST_H
#define TW_HTTP_REQUEST_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/sigv4.h"
#include "core/buf.h"
#include "core/errors.h"

struct MHD_Connection;
struct MHD_Response;
typedef struct tw_app tw_app; /* opaque here: the application behind the server */
typedef struct tw_request tw_request;
struct tw_service;
struct tw_http;

struct tw_request {
  struct MHD_Connection *conn;
  struct tw_http *srv;
  tw_app *app;
  const struct tw_service *service; /* the service that claimed it (service.h) */
  char method[16];
  char *path;  /* raw path, percent-encoded as sent */
  char *query; /* raw query without '?', "" when none */
  tw_kv *headers;
  size_t nheaders;
  int too_many_headers; /* more than the server takes: refused in begin */
  tw_buf body;          /* the body, for handlers that take it whole (SQS, XML requests) */
  int too_large;
  /* How the body is taken in, chosen from the headers by the service's begin:
   * a streaming handler sets on_body (return -1 after setting a response to
   * stop); on_done runs once the whole body is in. Defaults: buffer, then the
   * service's serve. */
  int (*on_body)(tw_request *r, const char *data, size_t n);
  void (*on_done)(tw_request *r);
  int body_failed; /* on_body set the (error) response; the rest is drained */
  int phase;       /* 0 new, 1 reading the body, 2 dispatched */
  double t0;
  double t_handler;  /* the gateway: when the route's handler took it (0: never; the
                      * built-in AWS/ApiGateway IntegrationLatency) */
  double t_received; /* the whole request (headers and body) was in (0: never) */
  double t_queued;   /* its response was handed to the HTTP library (0: never): the
                      * closest to the first response byte the server can see
                      * (AWS/S3 FirstByteLatency, from t_received) */
  char request_id[37];
  char action[64];
  char principal[130];
  char remote[64];
  int status;
  uint64_t bytes_out; /* the response body's length */
  struct MHD_Response *resp;
  /* parking */
  pthread_mutex_t mu;
  int suspended, woken;
  uint64_t commit_ticket; /* the batch it waits for */
  uint64_t own_ticket;    /* the batch that holds its own change (0: none) */
  tw_request *cw_prev, *cw_next;
  int in_commit_list;
  int commit_failed;             /* the store could not make this request's change durable */
  void (*resume)(tw_request *r); /* runs when the request is woken */
  /* Runs when the connection ends, answered or not (a client that hung up on
   * a parked request): the service takes it off its own wait lists. */
  void (*on_close)(tw_request *r);
  /* the parked list the reaper checks for hung-up clients (server.c): a
   * suspended request with an on_close hook; idle once its handler returned */
  tw_request *pk_prev, *pk_next;
  int in_park_list, idle, park_fd;
  void *ctx;
  void (*ctx_free)(void *ctx);
};

const char *tw_req_header(const tw_request *r, const char *name); /* case-insensitive */
/* Observers of every request that ends (answered or not), with its latency in
 * ms: the built-in metrics (monitoring/builtin.c) and Prometheus (prom/prom.c)
 * count there. Added before the server starts, removed after it stopped; at
 * most TW_HTTP_MAX_OBSERVERS. */
#define TW_HTTP_MAX_OBSERVERS 4
typedef void (*tw_request_observer)(const tw_request *r, double ms);
int tw_http_observe_requests(tw_request_observer fn);
void tw_http_unobserve_requests(tw_request_observer fn);
/* Query parameter value, percent-decoded into a new string (free it), or NULL. */
char *tw_req_query_param(const tw_request *r, const char *name);
/* Percent-decodes n bytes ('+' as space when plus) into a new string (free it). */
char *tw_url_decode(const char *s, size_t n, int plus);
/* The same, reporting the decoded length (the value may contain NUL bytes). */
char *tw_url_decode_len(const char *s, size_t n, int plus, size_t *out_len);
/* Sets the response (body copied). */
void tw_req_respond(tw_request *r, int status, const char *content_type, const void *body,
                    size_t len);
/* Takes ownership of a malloc'd body. */
void tw_req_respond_owned(tw_request *r, int status, const char *content_type, char *body,
                          size_t len);
void tw_req_add_header(tw_request *r, const char *name, const char *value);
/* Answers with len bytes of an open file from offset (sent with sendfile); the
 * response owns fd. */
void tw_req_respond_fd(tw_request *r, int status, int fd, uint64_t offset, uint64_t len);
/* Parks the request until tw_req_wake; returns 1 if parked (return from the
 * handler), 0 if it was woken already (continue now). */
int tw_req_suspend(tw_request *r);
void tw_req_wake(tw_request *r);
/* 1 when the client has closed its side (checked on a woken long poll, so no
 * message is handed to a consumer that is gone). */
int tw_req_peer_closed(tw_request *r);
/* Parks the request until the store has committed `ticket`, then runs `then`;
 * r->commit_failed tells whether that batch (the request's change) failed. */
void tw_req_after_commit(tw_request *r, uint64_t ticket, void (*then)(tw_request *r));
/* The same for a request whose answer also reports state it saw: waits for
 * both batches, but only the failure of `own` (its change; 0: none) fails it.
 * A failed batch that held only the state seen does not: the engines reload
 * from the store before serving on (so what was seen after is durable). */
void tw_req_after_commits(tw_request *r, uint64_t own, uint64_t seen, void (*then)(tw_request *r));
/* scheme://host[:port] for URLs handed back to this client. */
void tw_req_base_url(const tw_request *r, char *out, size_t n);

#endif
