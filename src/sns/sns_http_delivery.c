/* One HTTP(S) delivery of the outbox: a POST with tweedle's client
 * (src/net/http.h: TLS with certificate verification against the system CA
 * store or $AWS_CA_BUNDLE), bounded to SNS_DELIVERY_TIMEOUT_S seconds for the
 * connect and the whole response, as AWS bounds its deliveries. */
#include <stdio.h>
#include <string.h>

#include "sns/sns_internal.h"

int sns_http_post(const char *url, const tw_kv *headers, size_t nheaders, const void *body,
                  size_t len, tw_http_cancel *cancel, char *err, size_t errlen) {
  tw_url u;
  if (tw_url_parse(url, &u, err, errlen)) return -1;
  /* the path and query as the subscriber gave them */
  const char *p = strstr(url, "://");
  p = p ? strpbrk(p + 3, "/?") : NULL;
  char path[2048];
  const char *query = NULL;
  snprintf(path, sizeof path, "%s", p && *p == '/' ? p : "/");
  char *frag = strchr(path, '#'); /* a fragment is not sent */
  if (frag) *frag = 0;
  char *q = strchr(path, '?');
  if (q) { /* (tw_url_parse refuses a query right after the host) */
    *q = 0;
    query = q + 1;
  }
  tw_http *h = tw_http_new(&u);
  if (!h) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  tw_http_set_timeout(h, SNS_DELIVERY_TIMEOUT_S);
  tw_http_req req = {.method = "POST",
                     .path = path,
                     .query = query,
                     .headers = headers,
                     .nheaders = nheaders,
                     .body = body,
                     .body_len = len,
                     .body_fd = -1,
                     .resp_cap = 1u << 20,
                     .resp_fd = -1,
                     .cancel = cancel,
                     .timeout_ms = SNS_DELIVERY_TIMEOUT_S * 1000};
  tw_http_resp resp;
  tw_http_resp_init(&resp);
  int rc = tw_http_do(h, &req, &resp, err, errlen);
  int status = rc == 0 ? resp.status : -1;
  tw_http_resp_free(&resp);
  tw_http_free(h);
  return status;
}
