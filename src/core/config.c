#include "core/config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tw_config_defaults(tw_config *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->listen, sizeof c->listen, "127.0.0.1:9324");
  snprintf(c->data_dir, sizeof c->data_dir, "./data");
  snprintf(c->region, sizeof c->region, "us-east-1");
  snprintf(c->account, sizeof c->account, "000000000000");
  snprintf(c->log_format, sizeof c->log_format, "text");
  c->max_connections = 20000;
  c->authorizer_timeout_ms = 2000;
  c->throttle_rate = 10000; /* API Gateway's default account throttle */
  c->throttle_burst = 5000;
  c->access_log_days = 30;
  c->metrics_interval = 60;
  snprintf(c->jobs_queue, sizeof c->jobs_queue, "tweedle-jobs");
  c->jobs_max_receive_count = 3;
  c->lifecycle_day_seconds = 86400;
  snprintf(c->smtp_from, sizeof c->smtp_from, "no-reply@tweedle.local");
}

static void env_str(const char *name, char *dst, size_t n) {
  const char *v = getenv(name);
  if (v && *v) snprintf(dst, n, "%s", v);
}

void tw_config_from_env(tw_config *c) {
  env_str("TWEEDLE_LISTEN", c->listen, sizeof c->listen);
  env_str("TWEEDLE_DATA", c->data_dir, sizeof c->data_dir);
  env_str("TWEEDLE_STORE", c->store_url, sizeof c->store_url);
  env_str("TWEEDLE_BLOBS", c->blobs_dir, sizeof c->blobs_dir);
  env_str("TWEEDLE_PUBLIC_URL", c->public_url, sizeof c->public_url);
  env_str("TWEEDLE_TLS_CERT", c->tls_cert, sizeof c->tls_cert);
  env_str("TWEEDLE_TLS_KEY", c->tls_key, sizeof c->tls_key);
  env_str("TWEEDLE_SNS_BASE_URL", c->sns_base_url, sizeof c->sns_base_url);
  env_str("TWEEDLE_SMTP_URL", c->smtp_url, sizeof c->smtp_url);
  env_str("TWEEDLE_SMTP_FROM", c->smtp_from, sizeof c->smtp_from);
  env_str("TWEEDLE_METRICS_TOKEN", c->metrics_token, sizeof c->metrics_token);
  env_str("TWEEDLE_REGION", c->region, sizeof c->region);
  env_str("TWEEDLE_ACCOUNT_ID", c->account, sizeof c->account);
  env_str("TWEEDLE_LOG_FORMAT", c->log_format, sizeof c->log_format);
  env_str("TWEEDLE_DOMAIN", c->domain, sizeof c->domain);
  env_str("TWEEDLE_JOBS_QUEUE", c->jobs_queue, sizeof c->jobs_queue);
  env_str("TWEEDLE_JOBS_RESULTS_BUCKET", c->jobs_results_bucket, sizeof c->jobs_results_bucket);
  env_str("TWEEDLE_AUTHORIZER", c->authorizer, sizeof c->authorizer);
  env_str("TWEEDLE_GATEWAY_CORS_ORIGINS", c->gateway_cors_origins, sizeof c->gateway_cors_origins);
  const char *g = getenv("TWEEDLE_AUTHORIZER_TIMEOUT_MS");
  if (g && atoi(g) > 0) c->authorizer_timeout_ms = atoi(g);
  if ((g = getenv("TWEEDLE_THROTTLE_RATE")) && *g) c->throttle_rate = atof(g);
  if ((g = getenv("TWEEDLE_THROTTLE_BURST")) && *g) c->throttle_burst = atof(g);
  if ((g = getenv("TWEEDLE_ACCESS_LOG_DAYS")) && atof(g) > 0) c->access_log_days = atof(g);
  if ((g = getenv("TWEEDLE_METRICS_INTERVAL")) && (atoi(g) > 0 || !strcmp(g, "0")))
    c->metrics_interval = atoi(g); /* 0: off, as the flag */
  if ((g = getenv("TWEEDLE_METRICS_PUBLIC")) && *g) c->metrics_public = strcmp(g, "0") != 0;
  if ((g = getenv("TWEEDLE_CONSOLE")) && *g) c->console_off = !strcmp(g, "off") || !strcmp(g, "0");
  const char *t = getenv("TWEEDLE_THREADS");
  if (t && *t) c->threads = atoi(t);
  const char *d = getenv("TWEEDLE_LIFECYCLE_DAY_SECONDS");
  if (d && atoi(d) > 0) c->lifecycle_day_seconds = atoi(d);
}

static void json_str(json_t *o, const char *k, char *dst, size_t n) {
  const char *v = json_string_value(json_object_get(o, k));
  if (v) snprintf(dst, n, "%s", v);
}

/* "jobs": {"queue": "...", "results_bucket": "...", "max_receive_count": N,
 *          "types": {"TYPE": "QUEUE", ...}} */
static int load_jobs(tw_config *c, json_t *j, const char *path, char *err, size_t errlen) {
  if (!j) return 0;
  if (!json_is_object(j)) {
    snprintf(err, errlen, "%s: \"jobs\" must be an object", path);
    return -1;
  }
  json_str(j, "queue", c->jobs_queue, sizeof c->jobs_queue);
  json_str(j, "results_bucket", c->jobs_results_bucket, sizeof c->jobs_results_bucket);
  json_t *mrc = json_object_get(j, "max_receive_count");
  if (mrc &&
      (!json_is_integer(mrc) || json_integer_value(mrc) < 1 || json_integer_value(mrc) > 1000)) {
    snprintf(err, errlen, "%s: jobs.max_receive_count must be an integer from 1 to 1000", path);
    return -1;
  }
  if (mrc) c->jobs_max_receive_count = (int)json_integer_value(mrc);
  json_t *types = json_object_get(j, "types");
  if (!types) return 0;
  if (!json_is_object(types)) {
    snprintf(err, errlen, "%s: jobs.types must map job types to queue names", path);
    return -1;
  }
  free(c->job_routes);
  c->job_routes = calloc(json_object_size(types) + 1, sizeof *c->job_routes);
  c->njob_routes = 0;
  const char *type;
  json_t *q;
  json_object_foreach(types, type, q) {
    tw_job_route_cfg *x = &c->job_routes[c->njob_routes];
    if (!json_is_string(q) || strlen(type) >= sizeof x->type ||
        json_string_length(q) >= sizeof x->queue) {
      snprintf(err, errlen, "%s: jobs.types.%s must be a queue name (at most 80 characters)", path,
               type);
      return -1;
    }
    snprintf(x->type, sizeof x->type, "%s", type);
    snprintf(x->queue, sizeof x->queue, "%s", json_string_value(q));
    c->njob_routes++;
  }
  return 0;
}

int tw_config_load_file(tw_config *c, const char *path, char *err, size_t errlen) {
  json_error_t je;
  json_t *o = json_load_file(path, 0, &je);
  if (!json_is_object(o)) {
    snprintf(err, errlen, "%s:%d: %s", path, je.line, o ? "not a JSON object" : je.text);
    json_decref(o);
    return -1;
  }
  json_str(o, "listen", c->listen, sizeof c->listen);
  json_str(o, "data", c->data_dir, sizeof c->data_dir);
  json_str(o, "store", c->store_url, sizeof c->store_url);
  json_str(o, "blobs", c->blobs_dir, sizeof c->blobs_dir);
  json_str(o, "public_url", c->public_url, sizeof c->public_url);
  json_str(o, "tls_cert", c->tls_cert, sizeof c->tls_cert);
  json_str(o, "tls_key", c->tls_key, sizeof c->tls_key);
  json_str(o, "sns_base_url", c->sns_base_url, sizeof c->sns_base_url);
  json_str(o, "smtp_url", c->smtp_url, sizeof c->smtp_url);
  json_str(o, "smtp_from", c->smtp_from, sizeof c->smtp_from);
  json_str(o, "metrics_token", c->metrics_token, sizeof c->metrics_token);
  json_str(o, "region", c->region, sizeof c->region);
  json_str(o, "account_id", c->account, sizeof c->account);
  json_str(o, "log_format", c->log_format, sizeof c->log_format);
  json_str(o, "domain", c->domain, sizeof c->domain);
  json_t *th = json_object_get(o, "threads");
  if (json_is_integer(th)) c->threads = (int)json_integer_value(th);
  json_t *ld = json_object_get(o, "lifecycle_day_seconds");
  if (json_is_integer(ld) && json_integer_value(ld) > 0)
    c->lifecycle_day_seconds = (int)json_integer_value(ld);
  if (load_jobs(c, json_object_get(o, "jobs"), path, err, errlen)) {
    json_decref(o);
    return -1;
  }
  json_str(o, "authorizer", c->authorizer, sizeof c->authorizer);
  json_str(o, "gateway_cors_origins", c->gateway_cors_origins, sizeof c->gateway_cors_origins);
  json_t *gv = json_object_get(o, "authorizer_timeout_ms");
  if (json_is_integer(gv) && json_integer_value(gv) > 0)
    c->authorizer_timeout_ms = (int)json_integer_value(gv);
  if (json_is_number(gv = json_object_get(o, "throttle_rate")))
    c->throttle_rate = json_number_value(gv);
  if (json_is_number(gv = json_object_get(o, "throttle_burst")))
    c->throttle_burst = json_number_value(gv);
  gv = json_object_get(o, "access_log_days");
  if (json_is_number(gv) && json_number_value(gv) > 0) c->access_log_days = json_number_value(gv);
  json_t *users = json_object_get(o, "users");
  if (json_is_array(users)) {
    size_t i;
    json_t *u;
    c->users = calloc(json_array_size(users) + 1, sizeof *c->users);
    json_array_foreach(users, i, u) {
      tw_user_cfg *x = &c->users[c->nusers];
      json_str(u, "access_key_id", x->access_key, sizeof x->access_key);
      json_str(u, "secret_access_key", x->secret, sizeof x->secret);
      json_str(u, "name", x->name, sizeof x->name);
      json_t *pol = json_object_get(u, "policies");
      if (pol && !json_is_array(pol)) {
        snprintf(err, errlen, "%s: users[%zu].policies must be a list of policy documents", path,
                 i);
        json_decref(o);
        return -1;
      }
      if (pol) x->policies = json_dumps(pol, JSON_COMPACT);
      if (!x->access_key[0] || !x->secret[0]) {
        snprintf(err, errlen, "%s: users[%zu] needs access_key_id and secret_access_key", path, i);
        json_decref(o);
        return -1;
      }
      c->nusers++;
    }
  }
  json_decref(o);
  return 0;
}

void tw_config_free(tw_config *c) {
  for (size_t i = 0; c->users && i < c->nusers; i++) free(c->users[i].policies);
  free(c->users);
  c->users = NULL;
  c->nusers = 0;
  free(c->job_routes);
  c->job_routes = NULL;
  c->njob_routes = 0;
}
