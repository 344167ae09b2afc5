/* http/services.c: which registered service a request goes to — own paths
 * first, then the SigV4 credential scope (header or presigned query), then the
 * X-Amz-Target prefix, then the services' own rules; anything naming a service
 * nobody registered is unclaimed. */
#include <stdlib.h>
#include <string.h>

#include "http/request.h"
#include "http/service.h"
#include "tap.h"

static int form_post_to_root(const tw_request *r) {
  return !strcmp(r->method, "POST") && !strcmp(r->path, "/");
}
static int everything(const tw_request *r) {
  (void)r;
  return 1;
}

static const tw_service own = {.name = "own", .path_prefix = "/_/"};
static const tw_service gw = {.name = "gateway", .path_prefix = "/_/api/v1"};
static const tw_service sqs = {.name = "sqs",
                               .scopes = {"sqs"},
                               .target_prefix = "AmazonSQS.",
                               .claims = form_post_to_root};
static const tw_service s3 = {.name = "s3", .scopes = {"s3"}, .claims = everything};

/* The name of the service chosen for method/path/query with up to two headers. */
static const char *route(const char *method, const char *path, const char *query, const char *h1,
                         const char *v1, const char *h2, const char *v2, char *what, size_t n) {
  static tw_services reg;
  if (!reg.n) {
    tw_services_add(&reg, &own);
    tw_services_add(&reg, &gw);
    tw_services_add(&reg, &sqs);
    tw_services_add(&reg, &s3);
  }
  tw_kv hs[2];
  size_t nh = 0;
  if (h1) hs[nh++] = (tw_kv){.name = h1, .value = v1};
  if (h2) hs[nh++] = (tw_kv){.name = h2, .value = v2};
  tw_request r;
  memset(&r, 0, sizeof r);
  snprintf(r.method, sizeof r.method, "%s", method);
  r.path = (char *)path;
  r.query = (char *)query;
  r.headers = hs;
  r.nheaders = nh;
  const tw_service *s = tw_services_match(&reg, &r, what, n);
  return s ? s->name : "(none)";
}

#define AUTH(svc)                                                                       \
  "AWS4-HMAC-SHA256 Credential=AKID/20261206/us-east-1/" svc "/aws4_request, "          \
  "SignedHeaders=host;x-amz-date, Signature=0123456789abcdef"

int main(void) {
  char what[300];
  CASE("own paths");
  CHECK_STR_EQ(route("GET", "/_/health", "", NULL, NULL, NULL, NULL, what, sizeof what), "own");
  CHECK_STR_EQ(route("POST", "/_/api/v1/jobs", "", "Authorization", AUTH("execute-api"), NULL, NULL,
                     what, sizeof what),
               "gateway");
  CHECK_STR_EQ(route("GET", "/_/api/v1", "", NULL, NULL, NULL, NULL, what, sizeof what), "gateway");

  CASE("credential scope");
  CHECK_STR_EQ(route("POST", "/", "", "Authorization", AUTH("sqs"), NULL, NULL, what, sizeof what),
               "sqs");
  CHECK_STR_EQ(route("PUT", "/b/k", "", "Authorization", AUTH("s3"), NULL, NULL, what, sizeof what),
               "s3");
  /* a form POST to / signed for S3 is S3's, not the query protocol's */
  CHECK_STR_EQ(route("POST", "/", "", "Authorization", AUTH("s3"), "Content-Type",
                     "application/x-www-form-urlencoded", what, sizeof what),
               "s3");
  CHECK_STR_EQ(route("GET", "/b/k",
                     "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261206%2Fus-east-1%"
                     "2Fs3%2Faws4_request&X-Amz-Signature=00",
                     NULL, NULL, NULL, NULL, what, sizeof what),
               "s3");
  CHECK_STR_EQ(route("POST", "/", "", "Authorization", AUTH("sns"), "Content-Type",
                     "application/x-www-form-urlencoded", what, sizeof what),
               "(none)");
  CHECK(strstr(what, "\"sns\"") != NULL);
  CHECK_STR_EQ(route("POST", "/", "", "Authorization", AUTH("events"), "X-Amz-Target",
                     "AWSEvents.PutEvents", what, sizeof what),
               "(none)");
  CHECK(strstr(what, "\"events\"") != NULL);

  CASE("target");
  CHECK_STR_EQ(route("POST", "/", "", "X-Amz-Target", "AmazonSQS.SendMessage", NULL, NULL, what,
                     sizeof what),
               "sqs");
  CHECK_STR_EQ(route("POST", "/", "", "X-Amz-Target", "AWSEvents.PutEvents", NULL, NULL, what,
                     sizeof what),
               "(none)");
  CHECK(strstr(what, "AWSEvents.PutEvents") != NULL);

  CASE("own rules");
  CHECK_STR_EQ(route("POST", "/", "", NULL, NULL, NULL, NULL, what, sizeof what), "sqs");
  CHECK_STR_EQ(route("GET", "/bucket/key", "AWSAccessKeyId=AK&Signature=x&Expires=1", NULL, NULL,
                     NULL, NULL, what, sizeof what),
               "s3");
  CHECK_STR_EQ(route("PUT", "/b/k", "", "Authorization", "AWS AK:signature", NULL, NULL, what,
                     sizeof what),
               "s3");
  /* a malformed scope falls through to the rules (the service reports the bad signature) */
  CHECK_STR_EQ(route("POST", "/", "", "Authorization", "AWS4-HMAC-SHA256 Credential=AKID/x", NULL,
                     NULL, what, sizeof what),
               "sqs");

  CASE("scope parsing");
  tw_kv h = {.name = "Authorization", .value = AUTH("monitoring")};
  tw_request r;
  memset(&r, 0, sizeof r);
  r.path = "/";
  r.query = "";
  r.headers = &h;
  r.nheaders = 1;
  char scope[64];
  CHECK(tw_req_scope_service(&r, scope, sizeof scope));
  CHECK_STR_EQ(scope, "monitoring");
  r.nheaders = 0;
  CHECK(!tw_req_scope_service(&r, scope, sizeof scope));
  return tap_done();
}
