/* The S3-compatible object store: path-style REST on the shared port. */
#ifndef TW_S3_S3_H
#define TW_S3_S3_H
#include "auth/credentials.h"
#include "core/config.h"
#include "http/request.h"
#include "http/service.h"
#include "store/store.h"

typedef struct tw_s3 tw_s3;

struct tw_events;
/* events: where notifications go (the bus, src/events); S3 knows no queue. */
/* Bodies go to `blobs` (store/blobs.h); events are published on `events`. */
tw_s3 *tw_s3_open(tw_store *store, struct tw_blobs *blobs, struct tw_events *events,
                  tw_credentials *creds, const tw_config *cfg, char *err, size_t errlen);
/* Stops background work (the lifecycle sweeper); before the store closes. */
void tw_s3_stop(tw_s3 *s);
/* Stops the copies still running (at shutdown, before the HTTP server stops):
 * their parked requests answer 503. */
void tw_s3_stop_copies(tw_s3 *s);
void tw_s3_close(tw_s3 *s);
/* S3 as a service of the HTTP server: scope "s3", and every request no other
 * service claims (SigV2 and presigned URLs, POST-policy uploads, preflights). */
extern const tw_service tw_s3_service;

/* Cluster mode: another node changed bucket's settings (NULL: any bucket's,
 * e.g. after missed notifications); the cached ones are read again. */
void tw_s3_reload_bucket(tw_s3 *s, const char *bucket);

/* The committed size of bucket/key, for other services (the gateway's jobs):
 * 1 found (*size set), 0 no such key, -1 no such bucket, -2 error. */
int tw_s3_object_size(tw_s3 *s, const char *bucket, const char *key, int64_t *size);

#endif
