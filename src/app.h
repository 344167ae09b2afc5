/* The server as a whole: configuration and the parts it wires together. */
#ifndef TW_APP_H
#define TW_APP_H
#include <stdatomic.h>

#include "auth/credentials.h"
#include "core/config.h"
#include "s3/s3.h"
#include "sqs/sqs.h"
#include "store/store.h"

struct MHD_Daemon;

struct tw_app {
  tw_config cfg;
  tw_store *store;
  tw_sqs *sqs;
  tw_s3 *s3;
  tw_credentials creds;
  struct tw_gateway *gateway; /* /_/api/v1/ (src/gateway) */
  struct MHD_Daemon *daemon;
  atomic_int active; /* requests in progress */
  atomic_int stopping;
};
typedef struct tw_app tw_app;

int tw_serve(tw_config *cfg);

#endif
