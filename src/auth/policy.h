/* IAM-style policy documents: identity policies (users in the config file) and
 * resource policies (SQS queue Policy, S3 bucket policies), validated when
 * set and evaluated like AWS's policy evaluation logic:
 *   - an explicit Deny in any policy that applies wins;
 *   - an anonymous caller is allowed only by a resource policy whose
 *     statement names Principal "*" (or {"AWS": "*"});
 *   - a user without identity policies keeps full access (tweedle's default);
 *   - a user with identity policies is allowed when one of them, or the
 *     resource policy, allows.
 * Supported: Version 2012-10-17 / 2008-10-17, Statement as object or list,
 * Sid, Effect, Principal/NotPrincipal ("*", {"AWS": ARN|account|"*"},
 * {"Service": ...}), Action/NotAction (case-insensitive, * and ?),
 * Resource/NotResource (* and ?, policy variables ${aws:username} ...),
 * Condition with the String*, Numeric*, Date*, Bool, IpAddress/NotIpAddress,
 * Arn* and Null operators, ...IfExists, and ForAnyValue:/ForAllValues:. */
#ifndef TW_AUTH_POLICY_H
#define TW_AUTH_POLICY_H
#include <jansson.h>
#include <stddef.h>

#include "auth/sigv4.h" /* tw_kv */

typedef struct tw_policy tw_policy;

typedef enum {
  TW_POLICY_IDENTITY, /* no Principal; Resource required */
  TW_POLICY_RESOURCE, /* Principal required; Resource required */
} tw_policy_kind;

/* Parses and validates a document; NULL with err set (AWS-like text) when it
 * is malformed. */
tw_policy *tw_policy_parse(const char *text, size_t len, tw_policy_kind kind, char *err,
                           size_t errlen);
/* The same for a parsed document (borrowed: the policy shares its statements,
 * so the document must not change while the policy is in use). */
tw_policy *tw_policy_from_json(json_t *doc, tw_policy_kind kind, char *err, size_t errlen);
void tw_policy_free(tw_policy *p);
/* 1 when an Allow statement grants everyone (Principal "*" or {"AWS":"*"})
 * without a condition that narrows who the caller is (S3's IsPublic). */
int tw_policy_is_public(const tw_policy *p);

/* One request to decide. */
typedef struct {
  const char *action;    /* "s3:GetObject" */
  const char *resource;  /* the ARN */
  const char *principal; /* the caller's ARN "arn:aws:iam::ACCOUNT:user/NAME"; NULL anonymous */
  const char *account;   /* the server's account id (matches account principals) */
  const char *service;   /* a service principal ("sns.amazonaws.com") for deliveries, else NULL */
  const tw_kv *keys;     /* the condition context; a key may repeat (multi-valued) */
  size_t nkeys;
} tw_policy_req;

typedef enum {
  TW_POLICY_NONE = 0, /* no statement applies */
  TW_POLICY_ALLOW = 1,
  TW_POLICY_DENY = 2, /* an explicit Deny applies */
} tw_policy_effect;

tw_policy_effect tw_policy_eval(const tw_policy *p, const tw_policy_req *q);

/* The whole decision: 1 allowed, 0 denied. identity: the caller's policies
 * (n 0: a user without policies; ignored for anonymous callers); resource:
 * the resource's policy or NULL. */
int tw_policy_decide(const tw_policy *const *identity, size_t n, const tw_policy *resource,
                     const tw_policy_req *q);

/* 1 when a statement's Principal or NotPrincipal names the service principal
 * ("events.amazonaws.com"): the policy speaks about that service's deliveries. */
int tw_policy_names_service(const tw_policy *p, const char *service);

/* Wildcard match: '*' any run, '?' one character. */
int tw_policy_wildcard(const char *pat, const char *s, int nocase);

#endif
