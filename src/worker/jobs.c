/* --jobs: messages that carry a tweedle.job_id attribute are jobs of the
 * gateway's job API (docs/gateway.md). The worker reports them:
 *   POST /_/api/v1/jobs/{id}/start     before the handler runs
 *   POST /_/api/v1/jobs/{id}/complete  {"result":{"bucket","key"}} after success,
 *                                      once $TWEEDLE_JOB_OUTPUT is uploaded
 *   POST /_/api/v1/jobs/{id}/fail      {"error":"..."} after a failure
 * with the API key as a Bearer token, or, without one, signed (SigV4) with the
 * worker's own AWS credentials, which the gateway accepts as admin. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/json_out.h"
#include "core/log.h"
#include "worker/internal.h"

#define MAX_IDLE 8

typedef struct {
  tw_url url;
  char auth[600]; /* "Bearer KEY", or "" when requests are signed */
  tw_aws *signer; /* signs with the worker's credentials when there is no key */
  pthread_mutex_t mu;
  tw_http *idle[MAX_IDLE];
  int nidle;
} jobs_api;

int tw_wjobs_open(tw_worker *w, char *err, size_t errlen) {
  jobs_api *j = calloc(1, sizeof *j);
  if (!j) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  const char *base = w->o.jobs_endpoint[0] ? w->o.jobs_endpoint : w->endpoint;
  if (tw_url_parse(base, &j->url, err, errlen)) {
    free(j);
    return -1;
  }
  if (w->o.api_key[0]) {
    snprintf(j->auth, sizeof j->auth, "Bearer %s", w->o.api_key);
  } else if (!(j->signer = tw_aws_new(base, "execute-api", &w->creds, err, errlen))) {
    free(j);
    return -1;
  }
  pthread_mutex_init(&j->mu, NULL);
  w->jobs = j;
  return 0;
}

void tw_wjobs_close(tw_worker *w) {
  jobs_api *j = w->jobs;
  if (!j) return;
  for (int i = 0; i < j->nidle; i++) tw_http_free(j->idle[i]);
  tw_aws_free(j->signer);
  pthread_mutex_destroy(&j->mu);
  free(j);
  w->jobs = NULL;
}

/* POSTs body to /_/api/v1/jobs/{id}/{verb}. Returns the HTTP status (-1: no
 * answer); the error code/message of a non-2xx answer in msg. */
static int post(tw_worker *w, const char *id, const char *verb, json_t *body, char *msg,
                size_t msglen) {
  jobs_api *j = w->jobs;
  tw_buf path, b;
  tw_buf_init(&path, 4096);
  tw_buf_init(&b, 1 << 16);
  /* a signed request's path is relative to the endpoint's (tw_aws_request) */
  tw_buf_printf(&path, "%s/_/api/v1/jobs/", j->signer ? "" : j->url.path);
  tw_http_uri_encode(&path, id, strlen(id), 0);
  tw_buf_printf(&path, "/%s", verb);
  tw_json_write(&b, body);
  tw_kv h[] = {{"Content-Type", "application/json"}, {"Authorization", j->auth}};
  tw_http_req q = {.method = "POST",
                   .path = tw_buf_cstr(&path),
                   .headers = h,
                   .nheaders = j->signer ? 1 : 2,
                   .body = b.data,
                   .body_len = b.len,
                   .body_fd = -1,
                   .resp_fd = -1,
                   .resp_cap = 1 << 20};
  tw_http *c = NULL;
  if (!j->signer) {
    pthread_mutex_lock(&j->mu);
    if (j->nidle) c = j->idle[--j->nidle];
    pthread_mutex_unlock(&j->mu);
    if (!c) c = tw_http_new(&j->url);
  }
  int status = -1;
  tw_http_resp r;
  tw_http_resp_init(&r);
  char err[300];
  msg[0] = 0;
  if (j->signer ? tw_aws_request(j->signer, &q, NULL, &r, err, sizeof err) != 0 : 0) {
    snprintf(msg, msglen, "%s", err);
  } else if (!j->signer && !c) {
    snprintf(msg, msglen, "out of memory");
  } else if (!j->signer && tw_http_do(c, &q, &r, err, sizeof err)) {
    snprintf(msg, msglen, "%s", err);
  } else {
    status = r.status;
    if (status / 100 != 2) {
      json_t *doc = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL);
      json_t *e = json_object_get(doc, "error");
      const char *code = json_string_value(json_object_get(e, "code"));
      const char *m = json_string_value(json_object_get(e, "message"));
      snprintf(msg, msglen, "HTTP %d %s: %s", status, code ? code : "", m ? m : "");
      json_decref(doc);
    }
  }
  if (c) {
    pthread_mutex_lock(&j->mu);
    if (j->nidle < MAX_IDLE) j->idle[j->nidle++] = c, c = NULL;
    pthread_mutex_unlock(&j->mu);
    tw_http_free(c);
  }
  tw_http_resp_free(&r);
  tw_buf_free(&path);
  tw_buf_free(&b);
  return status;
}

int tw_wjobs_start(tw_worker *w, tw_wmsg *m, char *why, size_t whylen) {
  json_t *body = json_object();
  char msg[600];
  int st = post(w, m->job_id, "start", body, msg, sizeof msg);
  json_decref(body);
  if (st / 100 == 2) return 0;
  if (st == 409) { /* already succeeded: a duplicate delivery, nothing to do */
    snprintf(why, whylen, "not run: %s", msg);
    return 1;
  }
  if (st == 404) { /* not a job this API knows: run it, untracked */
    tw_warn("worker: job %s is unknown to the job API (%s): running it untracked", m->job_id, msg);
    m->job_id[0] = 0;
    return 0;
  }
  snprintf(why, whylen, "cannot mark the job running: %s", msg);
  return -1;
}

/* Uploads the output (an empty object when the handler wrote none). */
static int upload(tw_worker *w, const char *id, const char *path, char *key, size_t keylen,
                  char *msg, size_t msglen) {
  tw_s3c *s3 = tw_worker_s3(w);
  if (!s3) {
    snprintf(msg, msglen, "no S3 client");
    return -1;
  }
  snprintf(key, keylen, "jobs/%s/output", id);
  struct stat st;
  int have = stat(path, &st) == 0;
  const char *bucket = w->o.results_bucket;
  tw_s3c_error e;
  for (int attempt = 0; attempt < 2; attempt++) {
    int rc = have ? tw_s3c_put_file(s3, bucket, key, path, NULL, NULL, &e)
                  : tw_s3c_put_buffer(s3, bucket, key, "", 0, NULL, NULL, &e);
    if (rc == 0) return 0;
    if (attempt == 0 && !strcmp(e.code, "NoSuchBucket")) { /* first result ever: make the bucket */
      tw_s3c_error ce;
      if (tw_s3c_create_bucket(s3, bucket, &ce) == 0) continue;
    }
    break;
  }
  char es[700];
  snprintf(msg, msglen, "uploading the result to s3://%s/%s: %s", bucket, key,
           tw_s3c_strerror(&e, es, sizeof es));
  return -1;
}

void tw_wjobs_finish(tw_worker *w, tw_wmsg *m, int ok, const char *output_path, const char *why) {
  char msg[900], key[256];
  json_t *body;
  const char *verb = ok ? "complete" : "fail";
  if (ok && upload(w, m->job_id, output_path, key, sizeof key, msg, sizeof msg)) {
    tw_warn("worker: job %s: %s; reporting it failed", m->job_id, msg);
    ok = 0;
    verb = "fail";
    why = "the job's output could not be uploaded";
  }
  if (ok)
    body = json_pack("{s:{s:s,s:s}}", "result", "bucket", w->o.results_bucket, "key", key);
  else
    body = json_pack("{s:s%}", "error", why, strnlen(why, 4096));
  int st = post(w, m->job_id, verb, body, msg, sizeof msg);
  json_decref(body);
  if (st / 100 != 2) tw_warn("worker: job %s: %s: %s", m->job_id, verb, msg);
  unlink(output_path);
}
