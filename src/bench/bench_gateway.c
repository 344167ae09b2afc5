/* tweedle bench, the gateway workloads: jobs (POST /_/api/v1/jobs) and presign
 * (POST /_/api/v1/presign), each request with a Bearer API key, on the
 * connection loop of bench.c. */
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/sigv4.h"
#include "bench/bench_internal.h"
#include "core/crypto.h"

/* ---------- jobs workload set-up ---------- */

/* An API key that may submit jobs (unless --api-key gave one), made through
 * /_/api/v1/apikeys with the admin credential; then the one request every
 * submit sends. */
int tw_bench_gateway_setup(opts *o, tw_hc_loop *l) {
  sbuf b = {0}, req = {0};
  sync_result r = {0};
  int rc = -1;
  if (!o->api_key[0]) {
    /* throttling off for this key: the server is what is measured */
    char body[300];
    snprintf(body, sizeof body,
             "{\"name\":\"tweedle-bench\",\"scopes\":[{\"actions\":[\"%s\"]}],"
             "\"rate\":10000000,\"burst\":10000000}",
             o->workload == WL_PRESIGN ? "presign:*" : "jobs:submit");
    const char *path = "/_/api/v1/apikeys";
    char amz[17], sha[65], auth[512];
    tw_sigv4_amz_date(time(NULL), amz);
    tw_sha256_hex(body, strlen(body), sha);
    tw_kv h[3] = {{"host", o->hostport}, {"content-type", "application/json"}, {"x-amz-date", amz}};
    tw_sigv4_input in = {.method = "POST",
                         .raw_path = path,
                         .raw_query = "",
                         .headers = h,
                         .nheaders = 3,
                         .payload_sha256_hex = sha};
    if (tw_sigv4_sign(&in, o->access_key, o->secret_key, o->region, "execute-api", auth,
                      sizeof auth))
      goto out;
    sb_reserve(&req, 1024);
    int n = snprintf(
        req.p, req.cap,
        "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nX-Amz-Date: %s\r\n"
        "Authorization: %s\r\nContent-Length: %zu\r\n\r\n",
        path, o->hostport, amz, auth, strlen(body));
    if (n < 0 || (size_t)n >= req.cap) goto out;
    req.len = (size_t)n;
    sb_puts(&req, body);
    int st = tw_bench_sync_raw(l, &req, &r);
    json_t *j = st == 200 || st == 201 ? json_loadb(r.body.p, r.body.len, 0, NULL) : NULL;
    const char *key = json_string_value(json_object_get(j, "key"));
    if (key) snprintf(o->api_key, sizeof o->api_key, "%s", key);
    json_decref(j);
    if (!key) {
      fprintf(stderr, "tweedle bench: creating an API key failed: %d %.300s\n", st,
              r.body.p ? r.body.p : "");
      goto out;
    }
  }
  if (o->workload == WL_PRESIGN) { /* a PUT URL for a generated key, bound to type and length */
    sb_puts(&b, "{\"method\":\"PUT\",\"bucket\":\"");
    sb_puts(&b, o->bucket);
    sb_puts(&b, "\",\"content_type\":\"application/octet-stream\",\"content_length\":1024}");
  } else {
    sb_puts(&b, "{\"type\":\"bench\",\"payload\":{\"data\":\"");
    sb_puts(&b, o->msg_body);
    sb_puts(&b, "\"}}");
  }
  req.len = 0;
  sb_reserve(&req, b.len + 512 + strlen(o->api_key));
  int n = snprintf(req.p, req.cap,
                   "POST /_/api/v1/%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                   o->workload == WL_PRESIGN ? "presign" : "jobs", o->hostport, o->api_key, b.len);
  if (n < 0 || (size_t)n >= req.cap) goto out;
  req.len = (size_t)n;
  sb_put(&req, b.p, b.len);
  o->job_req = req.p;
  o->job_req_len = req.len;
  req.p = NULL;
  rc = 0;
out:
  free(b.p);
  free(req.p);
  free(r.body.p);
  return rc;
}

void tw_bench_gateway_next(bconn *c, int quota) {
  if (tw_bench_quota_out(c, quota)) return;
  const opts *o = c->w->o;
  sbuf jr = {o->job_req, o->job_req_len, o->job_req_len + 1};
  tw_bench_issue(c, o->workload == WL_JOBS ? OP_JOB_SUBMIT : OP_PRESIGN, &jr);
}
