/* Credentials, endpoints and signed requests for tweedle's clients. */
#include "client/aws.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/sigv4.h"
#include "core/crypto.h"

#define MAX_EXTRA_HEADERS 16
#define MAX_IDLE 64

struct tw_aws {
  tw_url url;
  char service[16];
  tw_aws_creds creds;
  int timeout_s;
  pthread_mutex_t mu;
  tw_http *idle[MAX_IDLE];
  int nidle;
};

static void env_copy(char *dst, size_t n, const char *name) {
  const char *v = getenv(name);
  snprintf(dst, n, "%s", v ? v : "");
}

int tw_aws_creds_from_env(tw_aws_creds *c, char *err, size_t errlen) {
  memset(c, 0, sizeof *c);
  env_copy(c->access_key, sizeof c->access_key, "AWS_ACCESS_KEY_ID");
  env_copy(c->secret_key, sizeof c->secret_key, "AWS_SECRET_ACCESS_KEY");
  env_copy(c->session_token, sizeof c->session_token, "AWS_SESSION_TOKEN");
  env_copy(c->region, sizeof c->region, "AWS_REGION");
  if (!c->region[0]) env_copy(c->region, sizeof c->region, "AWS_DEFAULT_REGION");
  if (!c->region[0]) snprintf(c->region, sizeof c->region, "us-east-1");
  if (!c->access_key[0] || !c->secret_key[0]) {
    snprintf(err, errlen, "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    return -1;
  }
  return 0;
}

void tw_aws_endpoint(const char *service, const char *flag, const char *region, char *out,
                     size_t n) {
  if (flag && *flag) {
    snprintf(out, n, "%s", flag);
    return;
  }
  char var[64] = "AWS_ENDPOINT_URL_";
  size_t l = strlen(var);
  for (const char *p = service; *p && l + 1 < sizeof var; p++) var[l++] = (char)toupper(*p);
  var[l] = 0;
  const char *v = getenv(var);
  if (!v || !*v) v = getenv("AWS_ENDPOINT_URL");
  if (v && *v) {
    snprintf(out, n, "%s", v);
    return;
  }
  snprintf(out, n, "https://%s.%s.amazonaws.com", service, region);
}

tw_aws *tw_aws_new(const char *endpoint_url, const char *service, const tw_aws_creds *creds,
                   char *err, size_t errlen) {
  tw_url u;
  if (tw_url_parse(endpoint_url, &u, err, errlen)) return NULL;
  tw_aws *a = calloc(1, sizeof *a);
  if (!a) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  a->url = u;
  snprintf(a->service, sizeof a->service, "%s", service);
  a->creds = *creds;
  a->timeout_s = 60;
  pthread_mutex_init(&a->mu, NULL);
  return a;
}

void tw_aws_free(tw_aws *a) {
  if (!a) return;
  for (int i = 0; i < a->nidle; i++) tw_http_free(a->idle[i]);
  pthread_mutex_destroy(&a->mu);
  free(a);
}

void tw_aws_set_timeout(tw_aws *a, int seconds) {
  a->timeout_s = seconds;
}
const tw_url *tw_aws_url(const tw_aws *a) {
  return &a->url;
}
const tw_aws_creds *tw_aws_creds_of(const tw_aws *a) {
  return &a->creds;
}

static tw_http *borrow(tw_aws *a) {
  tw_http *h = NULL;
  pthread_mutex_lock(&a->mu);
  if (a->nidle) h = a->idle[--a->nidle];
  pthread_mutex_unlock(&a->mu);
  if (!h) h = tw_http_new(&a->url);
  if (h) tw_http_set_timeout(h, a->timeout_s);
  return h;
}

static void give_back(tw_aws *a, tw_http *h) {
  pthread_mutex_lock(&a->mu);
  if (a->nidle < MAX_IDLE) {
    a->idle[a->nidle++] = h;
    h = NULL;
  }
  pthread_mutex_unlock(&a->mu);
  tw_http_free(h);
}

int tw_aws_request(tw_aws *a, const tw_http_req *req, const char *payload_sha256,
                   tw_http_resp *resp, char *err, size_t errlen) {
  if (req->nheaders > MAX_EXTRA_HEADERS) {
    snprintf(err, errlen, "too many headers");
    return -1;
  }
  char sha[65], amz[17], auth[1024];
  if (!payload_sha256) {
    if (req->body_fd >= 0 && req->body_len) {
      snprintf(err, errlen, "a streamed body needs its SHA-256 or UNSIGNED-PAYLOAD");
      return -1;
    }
    tw_sha256_hex(req->body ? req->body : "", (size_t)req->body_len, sha);
    payload_sha256 = sha;
  }
  tw_sigv4_amz_date(time(NULL), amz);
  tw_kv h[MAX_EXTRA_HEADERS + 5];
  size_t n = 0;
  h[n++] = (tw_kv){"Host", a->url.hostport};
  h[n++] = (tw_kv){"X-Amz-Date", amz};
  int s3 = !strcmp(a->service, "s3");
  if (s3) h[n++] = (tw_kv){"X-Amz-Content-Sha256", payload_sha256};
  if (a->creds.session_token[0]) h[n++] = (tw_kv){"X-Amz-Security-Token", a->creds.session_token};
  for (size_t i = 0; i < req->nheaders; i++) h[n++] = req->headers[i];
  /* the endpoint's own path prefix (e.g. a proxy mount point) comes first */
  char *path = NULL;
  if (a->url.path[0]) {
    size_t pl = strlen(a->url.path) + strlen(req->path) + 1;
    path = malloc(pl);
    if (!path) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    snprintf(path, pl, "%s%s", a->url.path, req->path);
  }
  tw_sigv4_input in = {.method = req->method,
                       .raw_path = path ? path : req->path,
                       .raw_query = req->query ? req->query : "",
                       .headers = h,
                       .nheaders = n,
                       .payload_sha256_hex = payload_sha256,
                       .s3 = s3};
  if (tw_sigv4_sign(&in, a->creds.access_key, a->creds.secret_key, a->creds.region, a->service,
                    auth, sizeof auth)) {
    free(path);
    snprintf(err, errlen, "cannot sign the request");
    return -1;
  }
  h[n++] = (tw_kv){"Authorization", auth};
  tw_http_req q = *req;
  q.path = in.raw_path;
  q.headers = h;
  q.nheaders = n;
  tw_http *c = borrow(a);
  if (!c) {
    free(path);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  int rc = tw_http_do(c, &q, resp, err, errlen);
  give_back(a, c);
  free(path);
  return rc;
}

void *tw_aws_client_new(const char *endpoint_url, const char *service, const tw_aws_creds *creds,
                        size_t size, char *err, size_t errlen) {
  tw_aws *a = tw_aws_new(endpoint_url, service, creds, err, errlen);
  if (!a) return NULL;
  tw_aws **c = calloc(1, size);
  if (!c) {
    tw_aws_free(a);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  *c = a;
  return c;
}
