/* CORS for the gateway, like API Gateway's: off unless origins are configured
 * (--gateway-cors-origins: a comma-separated list of origins, each possibly
 * with one '*' wildcard for any subdomain, or "*"), so a browser page on an
 * allowed origin can ask for presigned URLs and submit jobs. */
#include <stdio.h>
#include <string.h>

#include "gateway/gateway_internal.h"

#define ALLOWED_HEADERS "Authorization, Content-Type, Idempotency-Key"
#define EXPOSED_HEADERS "Retry-After, Idempotent-Replayed, WWW-Authenticate"

/* origin matches one pattern: exact, "*", or with one '*' standing for any run of characters */
static int pattern_matches(const char *pat, size_t plen, const char *origin) {
  if (plen == 1 && pat[0] == '*') return 1;
  const char *star = memchr(pat, '*', plen);
  size_t olen = strlen(origin);
  if (!star) return plen == olen && !memcmp(pat, origin, olen);
  size_t pre = (size_t)(star - pat), post = plen - pre - 1;
  return olen >= pre + post && !memcmp(origin, pat, pre) &&
         !memcmp(origin + olen - post, star + 1, post);
}

/* The value for Access-Control-Allow-Origin, or NULL when the origin is not allowed. */
static const char *allowed(const tw_request *r, const char *origin) {
  const char *list = r->app->cfg.gateway_cors_origins;
  if (!origin || !*origin || !*list) return NULL;
  for (const char *p = list; *p;) {
    p += strspn(p, ", ");
    size_t n = strcspn(p, ", ");
    if (n && pattern_matches(p, n, origin)) return (n == 1 && *p == '*') ? "*" : origin;
    p += n;
  }
  return NULL;
}

void tw_gw_cors_headers(tw_request *r) {
  const char *acao = allowed(r, tw_req_header(r, "Origin"));
  if (!acao) return;
  tw_req_add_header(r, "Access-Control-Allow-Origin", acao);
  tw_req_add_header(r, "Access-Control-Expose-Headers", EXPOSED_HEADERS);
  if (strcmp(acao, "*")) tw_req_add_header(r, "Vary", "Origin");
}

int tw_gw_cors_preflight(tw_request *r, const char *methods) {
  if (strcmp(r->method, "OPTIONS")) return 0;
  const char *origin = tw_req_header(r, "Origin");
  const char *want = tw_req_header(r, "Access-Control-Request-Method");
  if (!origin || !want) return 0; /* not a preflight: the usual 405 */
  const char *acao = allowed(r, origin);
  if (!acao) {
    tw_gw_error(r, TW_ERR_ACCESS_DENIED, "CORS: this origin is not allowed to call the gateway.");
    return 1;
  }
  char allow[128];
  snprintf(allow, sizeof allow, "%s, OPTIONS", methods);
  tw_req_respond(r, 204, NULL, "", 0);
  tw_req_add_header(r, "Access-Control-Allow-Origin", acao);
  tw_req_add_header(r, "Access-Control-Allow-Methods", allow);
  tw_req_add_header(r, "Access-Control-Allow-Headers", ALLOWED_HEADERS);
  tw_req_add_header(r, "Access-Control-Max-Age", "600");
  if (strcmp(acao, "*")) tw_req_add_header(r, "Vary", "Origin");
  return 1;
}
