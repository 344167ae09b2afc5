/* The service registry (service.h): which service a request belongs to. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/request.h"
#include "http/service.h"

int tw_services_add(tw_services *reg, const tw_service *s) {
  if (reg->n >= TW_MAX_SERVICES) return -1;
  reg->list[reg->n++] = s;
  return 0;
}

/* The 4th '/'-separated field of a credential "AKID/date/region/service/aws4_request". */
static int scope_field(const char *cred, size_t n, char *out, size_t outlen) {
  const char *p = cred, *end = cred + n;
  for (int slashes = 0; p < end && slashes < 3; p++)
    if (*p == '/') slashes++;
  const char *e = p;
  while (e < end && *e != '/' && *e != ',' && *e != ' ') e++;
  if (e >= end || *e != '/' || e == p || (size_t)(e - p) >= outlen) return 0;
  memcpy(out, p, (size_t)(e - p));
  out[e - p] = 0;
  return 1;
}

int tw_req_scope_service(const tw_request *r, char *out, size_t outlen) {
  const char *auth = tw_req_header(r, "Authorization");
  if (auth && !strncmp(auth, "AWS4-", 5)) {
    const char *c = strstr(auth, "Credential=");
    if (!c) return 0;
    c += 11;
    return scope_field(c, strcspn(c, ", "), out, outlen);
  }
  if (!strstr(r->query, "X-Amz-Credential=")) return 0;
  char *cred = tw_req_query_param(r, "X-Amz-Credential");
  int ok = cred && scope_field(cred, strlen(cred), out, outlen);
  free(cred);
  return ok;
}

const tw_service *tw_services_match(const tw_services *reg, const tw_request *r, char *what,
                                    size_t whatlen) {
  what[0] = 0;
  /* 1. tweedle's own paths: the longest prefix wins */
  const tw_service *best = NULL;
  size_t best_len = 0;
  for (size_t i = 0; i < reg->n; i++) {
    const char *p = reg->list[i]->path_prefix;
    if (!p) continue;
    size_t n = strlen(p);
    if (n > best_len && !strncmp(r->path, p, n)) {
      best = reg->list[i];
      best_len = n;
    }
  }
  if (best) return best;
  /* 2. the service the client signed for */
  char scope[64];
  if (tw_req_scope_service(r, scope, sizeof scope)) {
    for (size_t i = 0; i < reg->n; i++)
      for (int k = 0; k < 4 && reg->list[i]->scopes[k]; k++)
        if (!strcmp(reg->list[i]->scopes[k], scope)) return reg->list[i];
    snprintf(what, whatlen, "the service \"%s\" (named in the request's credential scope)", scope);
    return NULL;
  }
  /* 3. the JSON protocols' operation target */
  const char *target = tw_req_header(r, "X-Amz-Target");
  if (target) {
    for (size_t i = 0; i < reg->n; i++) {
      const char *p = reg->list[i]->target_prefix;
      if (p && !strncmp(target, p, strlen(p))) return reg->list[i];
    }
    snprintf(what, whatlen, "the operation target \"%.100s\"", target);
    return NULL;
  }
  /* 4. the services' own rules */
  for (size_t i = 0; i < reg->n; i++)
    if (reg->list[i]->claims && reg->list[i]->claims(r)) return reg->list[i];
  snprintf(what, whatlen, "%s %.200s", r->method, r->path);
  return NULL;
}
