/* The Prometheus endpoint: GET /_/metrics in text format 0.0.4.
 *
 * What it counts, and where: requests as they end (the HTTP layer's
 * tw_http_request_done hook), store batches as they commit (the writer's
 * tw_store_batch_hook); what it reads when scraped: requests in flight,
 * each queue's message counts (tw_sqs_gauges), the store's failure count.
 *
 * Label cardinality is bounded: at most TW_PROM_MAX_OPS operations per
 * service (more are counted as operation="other"; services are the few the
 * server registers), at
 * most TW_PROM_MAX_CODES status codes per pair (more as code="other"), at
 * most TW_PROM_MAX_QUEUES queues by name (the rest summed as queue="other").
 *
 * Access: `Authorization: Bearer <--metrics-token>`, or any request signed
 * with SigV4 by one of the server's key pairs; --metrics-public opens it. */
#ifndef TW_PROM_PROM_H
#define TW_PROM_PROM_H
#include "http/service.h"

#define TW_PROM_MAX_OPS 256
#define TW_PROM_MAX_CODES 16
#define TW_PROM_MAX_QUEUES 1000

/* Install the counting hooks: the store's before its writer starts, the
 * HTTP layer's before the server starts and after anyone else who sets
 * tw_http_request_done (the built-in metrics), whose hook it then calls. */
void tw_prom_install_store(void);
void tw_prom_install_http(void);

extern const tw_service tw_prom_service;

#endif
