/* Sends each request to the part of tweedle that serves it:
 *   /_/api/v1/...                the gateway (src/gateway)
 *   /_/...                       tweedle's own API (health)
 *   X-Amz-Target: AmazonSQS.*    SQS JSON protocol
 *   Action=... (form or query)   SQS query protocol
 *   anything else                S3 (path-style) */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "gateway/gateway.h"
#include "http/request.h"
#include "http/server.h"
#include "s3/s3.h"
#include "sqs/sqs_front.h"

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
  tw_err e = tw_sigv4_verify(&in, tw_credentials_secret, &r->app->creds, time(NULL), &info, msg,
                             msglen);
  if (e == TW_ERR_OK) snprintf(r->principal, sizeof r->principal, "%s", info.access_key);
  return e;
}

static void own_api(tw_request *r) {
  if (!strcmp(r->path, "/_/health")) {
    const char *body = "{\"status\":\"ok\"}";
    tw_req_respond(r, 200, "application/json", body, strlen(body));
    return;
  }
  const char *body = "{\"error\":{\"code\":\"NotFound\",\"message\":\"No such route.\"}}";
  tw_req_respond(r, 404, "application/json", body, strlen(body));
}

static int is_form(const tw_request *r) {
  const char *ct = tw_req_header(r, "Content-Type");
  return ct && !strncasecmp(ct, "application/x-www-form-urlencoded", 33);
}

static int has_action(const char *s, size_t n) {
  /* "Action=" at the start or after '&' */
  for (size_t i = 0; i + 7 <= n; i++)
    if ((i == 0 || s[i - 1] == '&') && !memcmp(s + i, "Action=", 7)) return 1;
  return 0;
}

/* "/<account digits>/<queue name>": the path of a queue URL. */
static int is_queue_path(const char *p) {
  if (*p++ != '/' || !isdigit((unsigned char)*p)) return 0;
  while (isdigit((unsigned char)*p)) p++;
  if (*p++ != '/' || !*p) return 0;
  return strchr(p, '/') == NULL;
}

/* SQS is recognised from the headers alone: its JSON target, a form body (its
 * query protocol), Action= in the query, or a SigV4 scope naming sqs. The rest
 * is S3, which may stream its body. */
static int is_sqs(const tw_request *r) {
  if (tw_req_header(r, "X-Amz-Target")) return 1;
  /* A form POST to / or to a queue URL is the query protocol; a form POST to
   * a bucket is a (malformed) S3 POST upload, and a PUT with curl's default
   * form type is S3. */
  if (is_form(r) && !strcmp(r->method, "POST") && (!strcmp(r->path, "/") || is_queue_path(r->path)))
    return 1;
  if (has_action(r->query, strlen(r->query))) return 1;
  const char *auth = tw_req_header(r, "Authorization");
  if (auth && strstr(auth, "/sqs/aws4_request")) return 1;
  return 0;
}

static int is_gateway(const tw_request *r) {
  return !strncmp(r->path, "/_/api/v1/", 10) || !strcmp(r->path, "/_/api/v1");
}

void tw_route_begin(tw_request *r) {
  if (is_gateway(r)) {
    tw_gateway_begin(r); /* may refuse an oversize body; else buffered, then tw_route */
    return;
  }
  if (!strncmp(r->path, "/_/", 3) || is_sqs(r)) return; /* buffered, then tw_route */
  tw_s3_begin(r);
}

void tw_route(tw_request *r) {
  if (is_gateway(r)) {
    tw_gateway_serve(r);
    return;
  }
  if (!strncmp(r->path, "/_/", 3)) {
    own_api(r);
    return;
  }
  const char *target = tw_req_header(r, "X-Amz-Target");
  if (target && !strncmp(target, "AmazonSQS.", 10)) {
    tw_sqs_json_serve(r, target + 10);
    return;
  }
  if ((is_form(r) && has_action(r->body.data ? r->body.data : "", r->body.len)) ||
      has_action(r->query, strlen(r->query))) {
    tw_sqs_query_serve(r);
    return;
  }
  if (target) {
    tw_sqs_json_serve(r, NULL);
    return;
  }
  const char *body =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NotImplemented</Code><Message>A "
      "header you provided implies functionality that is not implemented</Message></Error>";
  tw_req_respond(r, 501, "application/xml", body, strlen(body));
}
