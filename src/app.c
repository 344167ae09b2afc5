/* tweedle serve: wires the store, the engines and the HTTP server together,
 * and shuts them down in order on SIGTERM/SIGINT. */
#include "app.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "gateway/gateway.h"
#include "http/server.h"

static void print_credentials(const tw_app *app) {
  const tw_user *u = &app->creds.users[0];
  const char *listen = app->cfg.listen;
  char url[600];
  if (app->cfg.public_url[0])
    snprintf(url, sizeof url, "%s", app->cfg.public_url);
  else
    snprintf(url, sizeof url, "http://%s", listen);
  fprintf(stderr,
          "\ntweedle: generated credentials (stored in %s/credentials.json):\n"
          "  export AWS_ACCESS_KEY_ID=%s\n"
          "  export AWS_SECRET_ACCESS_KEY=%s\n"
          "  export AWS_DEFAULT_REGION=%s\n"
          "  export AWS_ENDPOINT_URL=%s\n"
          "  aws sqs list-queues --endpoint-url %s\n\n",
          app->cfg.data_dir, u->access_key, u->secret, app->cfg.region, url, url);
}

int tw_serve(tw_config *cfg) {
  tw_app *app = calloc(1, sizeof *app);
  app->cfg = *cfg;
  char err[512] = "";
  int rc = 1;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  /* Block before any thread starts so only sigwait below sees them. */
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  app->store = tw_store_open(cfg->data_dir, err, sizeof err);
  if (!app->store) goto fail;
  if (tw_credentials_setup(&app->creds, cfg, err, sizeof err)) goto fail;
  app->sqs = tw_sqs_open(app->store, cfg->region, cfg->account, err, sizeof err);
  if (!app->sqs) goto fail;
  app->s3 = tw_s3_open(app->store, app->sqs, &app->creds, cfg, err, sizeof err);
  if (!app->s3) goto fail;
  if (tw_store_start(app->store, tw_http_on_commit, app)) {
    snprintf(err, sizeof err, "cannot start the store writer");
    goto fail;
  }
  if (tw_sqs_start(app->sqs)) {
    snprintf(err, sizeof err, "cannot start the queue ticker");
    goto fail;
  }
  if (tw_gateway_open(app, err, sizeof err)) goto fail; /* after the engines run: jobs use queues */
  if (tw_http_start(app, err, sizeof err)) goto fail;
  if (app->creds.generated) print_credentials(app);
  tw_info("tweedle listening on %s (data %s, region %s)", cfg->listen, cfg->data_dir, cfg->region);

  int sig = 0;
  sigwait(&set, &sig);
  tw_info("received signal %d: shutting down", sig);
  atomic_store(&app->stopping, 1);
  /* New requests are refused from here on (503, connection closed). MHD's own
   * quiesce races its epoll workers in 0.9.75 and aborts the process. */
  tw_sqs_stop(app->sqs); /* parked receives answer now */
  tw_gateway_stop(app);  /* so do requests waiting for the authorizer */
  /* let requests in progress finish, bounded */
  int64_t until = tw_mono_ms() + 10000;
  while (atomic_load(&app->active) > 0 && tw_mono_ms() < until) usleep(10000);
  tw_http_stop(app);
  rc = 0;
fail:
  if (rc && err[0]) tw_error("%s", err);
  if (app->daemon) tw_http_stop(app);
  if (app->sqs) tw_sqs_stop(app->sqs);
  tw_gateway_close(app); /* before the store: flushes the access log */
  tw_s3_stop(app->s3);        /* its sweeper writes to the store */
  tw_store_close(app->store); /* commits what is pending */
  if (app->sqs) tw_sqs_close(app->sqs);
  tw_s3_close(app->s3);
  tw_credentials_free(&app->creds);
  free(app);
  if (!rc) tw_info("stopped");
  return rc;
}
