/* The one authorization check every service calls once it knows the IAM
 * action and the resource's ARN of a request (after authentication set
 * r->principal to the access key; "" for an anonymous request). The caller's
 * identity policies (config users' "policies") and the resource's policy
 * (queue Policy, bucket policy) decide, as auth/policy.h describes; a denial
 * is logged (principal, action, resource) and the service answers it in its
 * protocol's AccessDenied shape. */
#ifndef TW_AUTH_AUTHORIZE_H
#define TW_AUTH_AUTHORIZE_H
#include <stddef.h>

#include "auth/policy.h"
#include "http/request.h"

/* 1 allowed, 0 denied (msg: AWS's "User: ARN is not authorized to perform:
 * ACTION on resource: ARN" text). extra: service condition keys
 * (s3:prefix, ...), added to the global ones (aws:SourceIp,
 * aws:SecureTransport, aws:CurrentTime, aws:EpochTime, aws:username,
 * aws:userid, aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType). */
int tw_authorize(tw_request *r, const char *action, const char *resource,
                 const tw_policy *resource_policy, const tw_kv *extra, size_t nextra, char *msg,
                 size_t msglen);

/* 1 when the caller's policies or the resource policy explicitly Deny the
 * request (for grants made outside policies, such as S3 ACLs, which an
 * explicit Deny still overrides); 0 otherwise. Logs nothing. */
int tw_authorize_denies(tw_request *r, const char *action, const char *resource,
                        const tw_policy *resource_policy, const tw_kv *extra, size_t nextra);

/* "arn:aws:SERVICE:REGION:ACCOUNT:NAME" for r's server. */
void tw_arn(const tw_request *r, const char *service, const char *name, char *out, size_t n);

#endif
