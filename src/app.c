/* tweedle serve: wires the store, the engines and the HTTP server together,
 * and shuts them down in order on SIGTERM/SIGINT. */
#include "app.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/secrets.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/version.h"
#include "console/console.h"
#include "eventbridge/eventbridge.h"
#include "events/bus.h"
#include "gateway/gateway.h"
#include "http/server.h"
#include "logs/logs.h"
#include "logs/logs_http.h"
#include "prom/prom.h"
#include "monitoring/cw_front.h"
#include "monitoring/metrics.h"
#include "monitoring/cw_alarms.h"
#include "monitoring/builtin.h"
#include "sns/sns.h"
#include "store/blobs.h"
#include "sqs/sqs_front.h"
#include "sqs/sqs_pg.h"
#include "store/pg_s3.h"

tw_err tw_req_authenticate(tw_request *r, char *msg, size_t msglen) {
  char hash[65];
  tw_sha256_hex(r->body.data ? r->body.data : "", r->body.len, hash);
  tw_sigv4_input in = {
      .method = r->method,
      .raw_path = r->path,
      .raw_query = r->query,
      .headers = r->headers,
      .nheaders = r->nheaders,
      .payload_sha256_hex = hash,
      .s3 = 0,
  };
  tw_sigv4_info info;
  msg[0] = 0;
  tw_err e =
      tw_sigv4_verify(&in, tw_credentials_secret, &r->app->creds, time(NULL), &info, msg, msglen);
  if (e == TW_ERR_OK) snprintf(r->principal, sizeof r->principal, "%s", info.access_key);
  return e;
}

/* --- tweedle's own routes under /_/ (health) ---------------------------------- */

static void own_error(tw_request *r, tw_err e, const char *msg) {
  const tw_err_info *info = tw_err_get(e);
  json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", info->code, "message",
                        msg && *msg ? msg : info->message);
  char *body = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  tw_req_respond_owned(r, info->http_status, "application/json", body, strlen(body));
}

static void own_serve(tw_request *r) {
  if (!strcmp(r->path, "/_/health")) {
    const char *body = "{\"status\":\"ok\"}";
    tw_req_respond(r, 200, "application/json", body, strlen(body));
    return;
  }
  own_error(r, TW_ERR_NOT_FOUND, "No such route.");
}

static const tw_service own_service = {
    .name = "tweedle",
    .path_prefix = "/_/",
    .serve = own_serve,
    .error = own_error,
};

/* A request that names a service (credential scope, X-Amz-Target) tweedle does
 * not serve: a clear error in the protocol the client speaks, instead of
 * letting another service misread it. */
static void unclaimed(tw_request *r, const char *what) {
  char msg[512];
  snprintf(msg, sizeof msg, "tweedle does not serve %s on this endpoint.", what);
  const char *ct = tw_req_header(r, "Content-Type");
  snprintf(r->action, sizeof r->action, "unclaimed");
  if (tw_req_header(r, "X-Amz-Target")) {
    json_t *o = json_pack("{s:s,s:s}", "__type", "UnknownOperationException", "message", msg);
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    tw_req_respond_owned(r, 400, "application/x-amz-json-1.0", body, strlen(body));
    return;
  }
  tw_buf b;
  tw_buf_init(&b, 8192);
  int query = (ct && !strncasecmp(ct, "application/x-www-form-urlencoded", 33)) ||
              strstr(r->query, "Action=");
  if (query)
    tw_buf_puts(&b,
                "<?xml version=\"1.0\"?><ErrorResponse><Error><Type>Sender</Type>"
                "<Code>InvalidAction</Code><Message>");
  else
    tw_buf_puts(&b,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidRequest</Code>"
                "<Message>");
  tw_buf_xml_escape(&b, msg, strlen(msg));
  if (query)
    tw_buf_printf(&b, "</Message></Error><RequestId>%s</RequestId></ErrorResponse>", r->request_id);
  else
    tw_buf_printf(&b, "</Message><RequestId>%s</RequestId></Error>", r->request_id);
  size_t len;
  char *body = tw_buf_detach(&b, &len);
  tw_req_respond_owned(r, 400, query ? "text/xml" : "application/xml", body, len);
}

/* The store's writer reports each batch: requests waiting for it are woken
 * (with the failure, if it failed), and on a failure the engines that keep
 * state in memory take it back from the store. */
static void on_commit(void *ud, uint64_t committed, int ok) {
  tw_app *app = ud;
  if (!ok && app->sqs) tw_sqs_commit_failed(app->sqs);
  if (!ok && app->sns) tw_sns_commit_failed(app->sns);
  if (!ok) tw_eventbridge_commit_failed(app->eventbridge);
  if (!ok) tw_metrics_commit_failed(app->metrics, committed);
  if (!ok) tw_alarms_commit_failed(app->alarms);
  if (!ok) tw_logs_commit_failed(app->logs);
  if (!ok) tw_gateway_commit_failed(app);
  tw_http_on_commit(NULL, committed, ok);
}

/* Cluster mode: the PostgreSQL store commits on its own writer (tickets of
 * their own, store/backend.h); requests waiting for its batches are woken here. */
static void on_pg_commit(void *ud, uint64_t committed, int ok) {
  tw_app *app = ud;
  if (!ok) tw_metrics_commit_failed(app->metrics, committed); /* CloudWatch's on PostgreSQL */
  if (!ok) tw_eventbridge_commit_failed(app->eventbridge);    /* EventBridge's */
  if (!ok && app->sns) tw_sns_commit_failed(app->sns);        /* SNS's */
  if (!ok) tw_alarms_commit_failed(app->alarms);
  if (!ok) tw_logs_commit_failed(app->logs); /* Logs' (nothing kept in memory there) */
  tw_http_on_commit(NULL, committed, ok);
}

/* Cluster mode: a node changed a bucket's settings (or notifications may
 * have been missed: bucket NULL). */
static void on_s3_bucket_changed(void *ud, const char *bucket) {
  tw_app *app = ud;
  tw_s3_reload_bucket(app->s3, bucket);
}

/* Order matters only among the services' own rules (claims): S3 takes
 * whatever is left, so it comes last. */
static int register_services(tw_app *app) {
  /* the same services in cluster mode: each keeps its state on PostgreSQL there */
  app->services.unclaimed = unclaimed;
  return tw_services_add(&app->services, &own_service) ||
         tw_services_add(&app->services, &tw_prom_service) ||
         (!app->cfg.console_off && tw_services_add(&app->services, &tw_console_service)) ||
         tw_services_add(&app->services, &tw_gateway_service) ||
         /* before SQS: its rule would take SNS's unsigned ?Action=Unsubscribe links */
         tw_services_add(&app->services, &tw_sns_service) ||
         tw_services_add(&app->services, &tw_sqs_service) ||
         tw_services_add(&app->services, &tw_eventbridge_service) ||
         tw_services_add(&app->services, &tw_cw_service) ||
         tw_services_add(&app->services, &tw_logs_service) ||
         tw_services_add(&app->services, &tw_s3_service);
}

static void endpoint_url(const tw_app *app, char *url, size_t n) {
  if (app->cfg.public_url[0])
    snprintf(url, n, "%s", app->cfg.public_url);
  else
    snprintf(url, n, "%s://%s", app->cfg.tls_cert[0] ? "https" : "http", app->cfg.listen);
}

static void print_credentials(const tw_app *app) {
  const tw_user *u = &app->creds.users[0];
  char url[600];
  endpoint_url(app, url, sizeof url);
  fprintf(stderr,
          "\ntweedle: generated credentials (stored in %s/credentials.json):\n"
          "  export AWS_ACCESS_KEY_ID=%s\n"
          "  export AWS_SECRET_ACCESS_KEY=%s\n"
          "  export AWS_DEFAULT_REGION=%s\n"
          "  export AWS_ENDPOINT_URL=%s\n"
          "  aws sqs list-queues --endpoint-url %s\n\n",
          app->cfg.data_dir, u->access_key, u->secret, app->cfg.region, url, url);
}

/* What a user can do next, once the server answers. */
static void print_next_steps(const tw_app *app) {
  char url[600], console[700];
  endpoint_url(app, url, sizeof url);
  if (app->cfg.console_off)
    snprintf(console, sizeof console, "off (--console off)");
  else
    snprintf(console, sizeof console, "%s/_/console/", url);
  fprintf(stderr,
          "tweedle %s is ready:\n"
          "  endpoint  %s  (AWS_ENDPOINT_URL for SDKs and aws-cli: SQS, S3, SNS,\n"
          "            EventBridge, CloudWatch and CloudWatch Logs share it)\n"
          "  health    %s/_/health\n"
          "  metrics   %s/_/metrics  (Prometheus; --metrics-token or --metrics-public)\n"
          "  gateway   %s/_/api/v1/  (presigned URLs, jobs, API keys)\n"
          "  console   %s  (log in with an access key pair of the server)\n"
          "  data      %s  (delete it to start afresh)\n"
          "  stop      Ctrl-C or SIGTERM: what is in flight is answered, then it exits\n\n",
          TW_VERSION, url, url, url, url, console, app->cfg.data_dir);
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

  if (tw_secrets_check(cfg->data_dir, err, sizeof err)) goto fail; /* secrets: 0600 in 0700 */
  app->store = tw_store_open(cfg->data_dir, err, sizeof err);
  if (!app->store) goto fail;
  if (tw_credentials_setup(&app->creds, cfg, err, sizeof err)) goto fail;
  app->events = tw_events_new();
  if (!app->events) goto fail;
  app->sqs = tw_sqs_open(app->store, cfg->region, cfg->account, err, sizeof err);
  if (!app->sqs) goto fail;
  if (cfg->store_url[0]) { /* cluster mode */
    if (strncmp(cfg->store_url, "postgres://", 11) &&
        strncmp(cfg->store_url, "postgresql://", 13)) {
      snprintf(err, sizeof err, "--store: expected postgres://USER:PASS@HOST:PORT/DB");
      goto fail;
    }
    if (cfg->blobs_dir[0] && access(cfg->blobs_dir, W_OK | X_OK)) {
      snprintf(err, sizeof err, "--blobs %.400s: not a writable directory", cfg->blobs_dir);
      goto fail;
    }
    app->sqs_pg = tw_sqs_pg_open(cfg->store_url, cfg->region, cfg->account,
                                 cfg->threads > 0 ? cfg->threads + 4 : 8, err, sizeof err);
    if (!app->sqs_pg) goto fail;
    app->pg_store = tw_store_open_pg_s3(cfg->store_url, cfg->threads > 0 ? cfg->threads + 4 : 8,
                                        err, sizeof err);
    if (!app->pg_store) goto fail;
    if (tw_credentials_cluster(&app->creds, app->pg_store, cfg, err, sizeof err)) goto fail;
  }
  /* the queues that take other services' events: in cluster mode the
   * cluster's, appended to the publisher's batch on the PostgreSQL store */
  if (app->pg_store ? tw_sqs_pg_join_events(app->sqs_pg, app->events, app->pg_store)
                    : tw_sqs_join_events(app->sqs, app->events))
    goto fail;
  app->sns = tw_sns_open(app->pg_store ? app->pg_store : app->store, cfg, err, sizeof err);
  if (!app->sns) goto fail;
  if (tw_sns_join_events(app->sns, app->events)) goto fail;
  /* cluster mode: bodies in the directory every node mounts (DIR/blobs) */
  app->blobs = tw_blobs_open_local(
      app->pg_store && cfg->blobs_dir[0] ? cfg->blobs_dir : cfg->data_dir, err, sizeof err);
  if (!app->blobs) goto fail;
  tw_store_use_blobs(app->store, app->blobs);
  /* small objects in the store itself: one WAL write instead of a file */
  tw_blobs_local_inline(app->blobs, app->store,
                        cfg->store_url[0] ? 0 : tw_blobs_inline_max_from_env());
  if (app->pg_store) tw_store_use_blobs(app->pg_store, app->blobs);
  app->s3 = tw_s3_open(app->pg_store ? app->pg_store : app->store, app->blobs, app->events,
                       &app->creds, cfg, err, sizeof err);
  if (!app->s3) goto fail;
  app->eventbridge =
      tw_eventbridge_open(app->pg_store ? app->pg_store : app->store, app->events, cfg->region,
                          cfg->account, err, sizeof err); /* cluster mode: on PostgreSQL */
  if (!app->eventbridge) goto fail;
  tw_metrics_opts mo = {.cluster = app->pg_store != NULL}; /* CloudWatch on PostgreSQL */
  app->metrics = tw_metrics_open(app->pg_store ? app->pg_store : app->store, &mo, err, sizeof err);
  if (!app->metrics) goto fail;
  app->alarms = tw_alarms_open(app->pg_store ? app->pg_store : app->store, app->metrics,
                               app->events, cfg->region, cfg->account, err, sizeof err);
  if (!app->alarms) goto fail;
  if (app->pg_store && tw_alarms_cluster(app->alarms)) {
    snprintf(err, sizeof err, "cannot load the CloudWatch alarms from PostgreSQL");
    goto fail;
  }
  tw_logs_opts lo = {.region = cfg->region,
                     .account = cfg->account,
                     .metrics = app->metrics,
                     .listen = cfg->listen}; /* cluster mode: Logs on PostgreSQL */
  app->logs = tw_logs_open(app->pg_store ? app->pg_store : app->store, &lo, err, sizeof err);
  if (!app->logs) goto fail;
  /* tweedle/Store: store batches (before Prometheus's hook, which calls it) */
  tw_builtin_install_store();
  tw_prom_install_store(); /* Prometheus: store batches, from the first on */
  if (tw_store_start(app->store, on_commit, app)) {
    snprintf(err, sizeof err, "cannot start the store writer");
    goto fail;
  }
  if (tw_sqs_start(app->sqs)) {
    snprintf(err, sizeof err, "cannot start the queue ticker");
    goto fail;
  }
  if (app->sqs_pg && tw_sqs_pg_start(app->sqs_pg)) {
    snprintf(err, sizeof err, "cannot start the PostgreSQL listener");
    goto fail;
  }
  if (app->pg_store && (tw_store_start(app->pg_store, on_pg_commit, app) ||
                        tw_store_pg_s3_listen(app->pg_store, on_s3_bucket_changed, app))) {
    snprintf(err, sizeof err, "cannot start the S3 store writer or its PostgreSQL listener");
    goto fail;
  }
  if (tw_sns_start(app->sns)) {
    snprintf(err, sizeof err, "cannot start the SNS delivery threads");
    goto fail;
  }
  if (tw_eventbridge_start(app->eventbridge)) {
    snprintf(err, sizeof err, "cannot start the EventBridge scheduler and delivery threads");
    goto fail;
  }
  if (tw_logs_start(app->logs)) {
    snprintf(err, sizeof err, "cannot start the log retention sweep");
    goto fail;
  }
  if (tw_metrics_start(app->metrics)) {
    snprintf(err, sizeof err, "cannot start the metrics sweep");
    goto fail;
  }
  if (tw_alarms_start(app->alarms)) {
    snprintf(err, sizeof err, "cannot start the alarm evaluator");
    goto fail;
  }
  app->builtin = tw_builtin_start(app);
  if (!app->builtin) {
    snprintf(err, sizeof err, "cannot start the built-in metrics");
    goto fail;
  }
  tw_prom_install_http(); /* observes every finished request, beside the built-in metrics */
  if (tw_logs_server_start(app->logs)) {
    snprintf(err, sizeof err, "cannot start the server log group");
    goto fail;
  }
  if (tw_gateway_open(app, err, sizeof err)) goto fail; /* after the engines run: jobs use queues */
  if (!cfg->console_off && tw_console_open(app)) {
    snprintf(err, sizeof err, "cannot start the console");
    goto fail;
  }
  if (register_services(app)) {
    snprintf(err, sizeof err, "too many services");
    goto fail;
  }
  tw_http_opts ho = {
      .listen = cfg->listen,
      .threads = cfg->threads,
      .max_connections = cfg->max_connections,
      .public_url = cfg->public_url,
      .tls_cert = cfg->tls_cert,
      .tls_key = cfg->tls_key,
      .services = &app->services,
      .app = app,
  };
  app->http = tw_http_start(&ho, err, sizeof err);
  if (!app->http) goto fail;
  if (app->creds.generated) print_credentials(app);
  print_next_steps(app);
  tw_info("tweedle listening on %s%s (data %s, region %s)", cfg->listen,
          tw_http_tls(app->http) ? " over HTTPS" : "", cfg->data_dir, cfg->region);

  int sig = 0;
  for (;;) {
    sigwait(&set, &sig);
    /* with TLS, SIGHUP reloads the certificate and key (new connections get
     * them, open ones keep theirs); without, it stops the server as before */
    if (sig != SIGHUP || !tw_http_tls(app->http)) break;
    char msg[600];
    if (tw_http_reload_tls(app->http, msg, sizeof msg) == 0)
      tw_info("SIGHUP: TLS certificate reloaded: %s", msg);
    else
      tw_error("SIGHUP: TLS certificate not reloaded, the previous one stays in use: %s", msg);
  }
  tw_info("received signal %d: shutting down", sig);
  tw_http_quiesce(app->http);
  /* New requests are refused from here on (503, connection closed). MHD's own
   * quiesce races its epoll workers in 0.9.75 and aborts the process. */
  tw_sqs_stop(app->sqs); /* parked receives answer now */
  tw_sqs_pg_stop(app->sqs_pg);
  tw_gateway_stop(app); /* so do requests waiting for the authorizer */
  /* let requests in progress finish, bounded */
  int64_t until = tw_mono_ms() + 10000;
  while (tw_http_active(app->http) > 0 && tw_mono_ms() < until) usleep(10000);
  /* no request may stay parked for a copy when the HTTP server stops */
  tw_s3_stop_copies(app->s3);
  until = tw_mono_ms() + 2000;
  while (tw_http_active(app->http) > 0 && tw_mono_ms() < until) usleep(10000);
  tw_http_stop(app->http);
  app->http = NULL;
  rc = 0;
fail:
  if (rc && err[0]) tw_error("%s", err);
  tw_http_stop(app->http);
  if (app->sqs) tw_sqs_stop(app->sqs);
  tw_sqs_pg_stop(app->sqs_pg);
  tw_gateway_close(app);                 /* before the store: flushes the access log */
  tw_console_close();                    /* its sessions */
  tw_logs_server_stop();                 /* before the store: the server's last lines */
  tw_s3_stop(app->s3);                   /* its sweeper writes to the store */
  tw_sns_stop(app->sns);                 /* so do the SNS delivery threads */
  tw_eventbridge_stop(app->eventbridge); /* the scheduler and API destination deliveries */
  tw_builtin_stop(app->builtin);         /* after the HTTP server: its hook counts S3 requests */
  app->builtin = NULL;
  tw_alarms_stop(app->alarms);   /* the evaluator writes to the store */
  tw_metrics_stop(app->metrics); /* so does the metrics sweep */
  tw_logs_stop(app->logs);       /* and the log retention sweep */
  tw_store_close(app->store);    /* commits what is pending */
  tw_store_close(app->pg_store); /* so does cluster mode's; its listeners stop */
  if (app->sqs) tw_sqs_close(app->sqs);
  tw_sqs_pg_close(app->sqs_pg);
  tw_sns_close(app->sns);
  tw_s3_close(app->s3);
  tw_eventbridge_close(app->eventbridge);
  tw_alarms_close(app->alarms);
  tw_metrics_close(app->metrics);
  tw_logs_close(app->logs);
  tw_events_free(app->events);
  tw_blobs_close(app->blobs);
  tw_credentials_free(&app->creds);
  free(app);
  if (!rc) tw_info("stopped");
  return rc;
}
