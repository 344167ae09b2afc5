/* tw_authorize (authorize.h): the request's context keys, the caller's
 * policies, the decision, and the audit line for a denial. */
#include "auth/authorize.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "core/log.h"
#include "http/server.h"

#define MAX_KEYS 48

void tw_arn(const tw_request *r, const char *service, const char *name, char *out, size_t n) {
  snprintf(out, n, "arn:aws:%s:%s:%s:%s", service, r->app->cfg.region, r->app->cfg.account, name);
}

/* The request's context keys and policy question (keys has MAX_KEYS room;
 * principal, now_iso and epoch are the caller's buffers the keys point into). */
static void build_req(tw_request *r, const tw_user *u, const char *action, const char *resource,
                      const tw_kv *extra, size_t nextra, char principal[256], char now_iso[32],
                      char epoch[24], tw_kv *keys, tw_policy_req *q) {
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(now_iso, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
  snprintf(epoch, 24, "%lld", (long long)now);
  size_t n = 0;
  keys[n++] = (tw_kv){"aws:SourceIp", r->remote};
  keys[n++] = (tw_kv){"aws:SecureTransport", tw_http_tls(r->srv) ? "true" : "false"};
  keys[n++] = (tw_kv){"aws:CurrentTime", now_iso};
  keys[n++] = (tw_kv){"aws:EpochTime", epoch};
  keys[n++] = (tw_kv){"aws:PrincipalType", u ? "User" : "Anonymous"};
  if (u) {
    keys[n++] = (tw_kv){"aws:username", u->name};
    keys[n++] = (tw_kv){"aws:userid", u->access_key};
    keys[n++] = (tw_kv){"aws:PrincipalArn", principal};
    keys[n++] = (tw_kv){"aws:PrincipalAccount", r->app->cfg.account};
  }
  for (size_t i = 0; i < nextra && n < MAX_KEYS; i++)
    if (extra[i].value) keys[n++] = extra[i];
  *q = (tw_policy_req){
      .action = action,
      .resource = resource,
      .principal = u ? principal : NULL,
      .account = r->app->cfg.account,
      .keys = keys,
      .nkeys = n,
  };
}

int tw_authorize_denies(tw_request *r, const char *action, const char *resource,
                        const tw_policy *resource_policy, const tw_kv *extra, size_t nextra) {
  const tw_user *u = r->principal[0] ? tw_credentials_user(&r->app->creds, r->principal) : NULL;
  if (u && !u->npolicies && !resource_policy) return 0;
  char principal[256] = "", now_iso[32], epoch[24];
  if (u)
    snprintf(principal, sizeof principal, "arn:aws:iam::%s:user/%s", r->app->cfg.account, u->name);
  tw_kv keys[MAX_KEYS];
  tw_policy_req q;
  build_req(r, u, action, resource, extra, nextra, principal, now_iso, epoch, keys, &q);
  if (tw_policy_eval(resource_policy, &q) == TW_POLICY_DENY) return 1;
  for (size_t i = 0; u && i < u->npolicies; i++)
    if (tw_policy_eval(u->policies[i], &q) == TW_POLICY_DENY) return 1;
  return 0;
}

int tw_authorize(tw_request *r, const char *action, const char *resource,
                 const tw_policy *resource_policy, const tw_kv *extra, size_t nextra, char *msg,
                 size_t msglen) {
  const tw_user *u = r->principal[0] ? tw_credentials_user(&r->app->creds, r->principal) : NULL;
  char principal[256] = "", now_iso[32], epoch[24];
  if (u)
    snprintf(principal, sizeof principal, "arn:aws:iam::%s:user/%s", r->app->cfg.account, u->name);
  /* the common case costs nothing more: a user without policies, no resource policy */
  if (u && !u->npolicies && !resource_policy) return 1;
  tw_kv keys[MAX_KEYS];
  tw_policy_req q;
  build_req(r, u, action, resource, extra, nextra, principal, now_iso, epoch, keys, &q);
  if (tw_policy_decide((const tw_policy *const *)(u ? u->policies : NULL), u ? u->npolicies : 0,
                       resource_policy, &q))
    return 1;
  if (u)
    snprintf(msg, msglen, "User: %s is not authorized to perform: %s on resource: %s", principal,
             action, resource);
  else
    snprintf(msg, msglen, "Anonymous access is not authorized to perform: %s on resource: %s",
             action, resource);
  tw_warn("access denied: principal=%s action=%s resource=%s remote=%s request_id=%s",
          u ? principal : "anonymous", action, resource, r->remote, r->request_id);
  return 0;
}
