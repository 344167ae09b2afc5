/* auth/policy.c: validation and the evaluation matrix — wildcards, NotAction,
 * NotResource, explicit Deny over Allow, principals (anonymous, account,
 * user, service), conditions (IfExists, negated operators on missing keys,
 * IP ranges, dates, numbers, ForAnyValue/ForAllValues, Null), policy
 * variables, the full decision, and IsPublic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/policy.h"
#include "tap.h"

#define ACCOUNT "000000000000"
#define ALICE "arn:aws:iam::000000000000:user/alice"
#define BOB "arn:aws:iam::000000000000:user/bob"
#define QUEUE "arn:aws:sqs:us-east-1:000000000000:orders"

static char err[512];

static tw_policy *parse(const char *doc, tw_policy_kind kind) {
  err[0] = 0;
  tw_policy *p = tw_policy_parse(doc, strlen(doc), kind, err, sizeof err);
  if (!p) printf("#   parse error: %s\n", err);
  return p;
}

static int malformed(const char *doc, tw_policy_kind kind) {
  err[0] = 0;
  tw_policy *p = tw_policy_parse(doc, strlen(doc), kind, err, sizeof err);
  tw_policy_free(p);
  return p == NULL && err[0];
}

/* Evaluates an identity policy for ALICE with optional context keys. */
static tw_policy_effect ev(const char *doc, const char *action, const char *resource,
                           const tw_kv *keys, size_t nkeys) {
  tw_policy *p = parse(doc, TW_POLICY_IDENTITY);
  if (!p) return (tw_policy_effect)-1;
  tw_policy_req q = {.action = action,
                     .resource = resource,
                     .principal = ALICE,
                     .account = ACCOUNT,
                     .keys = keys,
                     .nkeys = nkeys};
  tw_policy_effect e = tw_policy_eval(p, &q);
  tw_policy_free(p);
  return e;
}

/* Evaluates a resource policy for a principal (NULL: anonymous). */
static tw_policy_effect rev(const char *doc, const char *principal, const char *service,
                            const char *action, const char *resource, const tw_kv *keys,
                            size_t nkeys) {
  tw_policy *p = parse(doc, TW_POLICY_RESOURCE);
  if (!p) return (tw_policy_effect)-1;
  tw_policy_req q = {.action = action,
                     .resource = resource,
                     .principal = principal,
                     .account = ACCOUNT,
                     .service = service,
                     .keys = keys,
                     .nkeys = nkeys};
  tw_policy_effect e = tw_policy_eval(p, &q);
  tw_policy_free(p);
  return e;
}

#define STMT(body) "{\"Version\":\"2012-10-17\",\"Statement\":" body "}"

static void test_wildcards(void) {
  CASE("wildcard matcher");
  CHECK(tw_policy_wildcard("*", "", 0));
  CHECK(tw_policy_wildcard("a*c", "abbbc", 0));
  CHECK(tw_policy_wildcard("a?c", "abc", 0));
  CHECK(!tw_policy_wildcard("a?c", "ac", 0));
  CHECK(!tw_policy_wildcard("abc", "abcd", 0));
  CHECK(tw_policy_wildcard("*public/*", "arn:aws:s3:::b/public/x/y", 0));
  CHECK(!tw_policy_wildcard("ABC", "abc", 0));
  CHECK(tw_policy_wildcard("ABC", "abc", 1));
  CHECK(tw_policy_wildcard("a*b*c", "axxbyyc", 0));
  CHECK(!tw_policy_wildcard("a*b*c", "axxbyy", 0));

  CASE("actions: exact, case-insensitive, wildcards");
  const char *d = STMT("{\"Effect\":\"Allow\",\"Action\":\"sqs:Receive*\",\"Resource\":\"*\"}");
  CHECK_INT_EQ(ev(d, "sqs:ReceiveMessage", QUEUE, NULL, 0), TW_POLICY_ALLOW);
  CHECK_INT_EQ(ev(d, "SQS:receivemessage", QUEUE, NULL, 0), TW_POLICY_ALLOW);
  CHECK_INT_EQ(ev(d, "sqs:SendMessage", QUEUE, NULL, 0), TW_POLICY_NONE);
  d = STMT("[{\"Effect\":\"Allow\",\"Action\":[\"sqs:Get?ueueUrl\",\"s3:*\"],\"Resource\":\"*\"}]");
  CHECK_INT_EQ(ev(d, "sqs:GetQueueUrl", QUEUE, NULL, 0), TW_POLICY_ALLOW);
  CHECK_INT_EQ(ev(d, "s3:GetObject", "arn:aws:s3:::b/k", NULL, 0), TW_POLICY_ALLOW);
  CHECK_INT_EQ(ev(d, "sns:Publish", "arn:aws:sns:us-east-1:000000000000:t", NULL, 0),
               TW_POLICY_NONE);

  CASE("resources: case-sensitive, wildcards, lists");
  d = STMT(
      "{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":["
      "\"arn:aws:s3:::assets/public/*\",\"arn:aws:s3:::other/a?c\"]}");
  CHECK_INT_EQ(ev(d, "s3:GetObject", "arn:aws:s3:::assets/public/img/x.png", NULL, 0),
               TW_POLICY_ALLOW);
  CHECK_INT_EQ(ev(d, "s3:GetObject", "arn:aws:s3:::assets/private/x", NULL, 0), TW_POLICY_NONE);
  CHECK_INT_EQ(ev(d, "s3:GetObject", "arn:aws:s3:::Assets/public/x", NULL, 0), TW_POLICY_NONE);
  CHECK_INT_EQ(ev(d, "s3:GetObject", "arn:aws:s3:::other/abc", NULL, 0), TW_POLICY_ALLOW);
  CHECK_INT_EQ(ev(d, "s3:GetObject", "arn:aws:s3:::other/abbc", NULL, 0), TW_POLICY_NONE);
}

static void test_not_and_deny(void) {
  CASE("NotAction: everything but");
  const char *d = STMT("{\"Effect\":\"Allow\",\"NotAction\":\"sqs:Delete*\",\"Resource\":\"*\"}");
  CHECK_INT_EQ(ev(d, "sqs:SendMessage", QUEUE, NULL, 0), TW_POLICY_ALLOW);
  CHECK_INT_EQ(ev(d, "sqs:DeleteQueue", QUEUE, NULL, 0), TW_POLICY_NONE);

  CASE("NotResource");
  d = STMT(
      "{\"Effect\":\"Deny\",\"Action\":\"s3:*\",\"NotResource\":[\"arn:aws:s3:::mine\","
      "\"arn:aws:s3:::mine/*\"]}");
  CHECK_INT_EQ(ev(d, "s3:GetObject", "arn:aws:s3:::mine/k", NULL, 0), TW_POLICY_NONE);
  CHECK_INT_EQ(ev(d, "s3:GetObject", "arn:aws:s3:::theirs/k", NULL, 0), TW_POLICY_DENY);

  CASE("explicit Deny beats Allow, in any order");
  d = STMT(
      "[{\"Effect\":\"Allow\",\"Action\":\"sqs:*\",\"Resource\":\"*\"},"
      "{\"Sid\":\"no\",\"Effect\":\"Deny\",\"Action\":\"sqs:PurgeQueue\",\"Resource\":\"*\"}]");
  CHECK_INT_EQ(ev(d, "sqs:PurgeQueue", QUEUE, NULL, 0), TW_POLICY_DENY);
  CHECK_INT_EQ(ev(d, "sqs:SendMessage", QUEUE, NULL, 0), TW_POLICY_ALLOW);
  d = STMT(
      "[{\"Effect\":\"Deny\",\"Action\":\"sqs:PurgeQueue\",\"Resource\":\"*\"},"
      "{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]");
  CHECK_INT_EQ(ev(d, "sqs:PurgeQueue", QUEUE, NULL, 0), TW_POLICY_DENY);

  CASE("2008-10-17 and no Version are accepted");
  CHECK_INT_EQ(ev("{\"Version\":\"2008-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
                  "\"*\",\"Resource\":\"*\"}}",
                  "sqs:SendMessage", QUEUE, NULL, 0),
               TW_POLICY_ALLOW);
  CHECK_INT_EQ(ev("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}}",
                  "sqs:SendMessage", QUEUE, NULL, 0),
               TW_POLICY_ALLOW);
}

static void test_conditions(void) {
  tw_kv ip[] = {{"aws:SourceIp", "10.1.2.3"}, {"aws:SecureTransport", "false"}};
  tw_kv ip6[] = {{"aws:SourceIp", "2001:db8::5"}};
  tw_kv mapped[] = {{"aws:SourceIp", "::ffff:10.1.2.3"}};
  CASE("IpAddress / NotIpAddress with CIDR ranges");
  const char *d = STMT(
      "{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":"
      "{\"IpAddress\":{\"aws:SourceIp\":[\"10.0.0.0/8\",\"2001:db8::/32\"]}}}");
  CHECK_INT_EQ(ev(d, "sqs:SendMessage", QUEUE, ip, 2), TW_POLICY_ALLOW);
  CHECK_INT_EQ(ev(d, "sqs:SendMessage", QUEUE, ip6, 1), TW_POLICY_ALLOW);
  CHECK_INT_EQ(ev(d, "sqs:SendMessage", QUEUE, mapped, 1), TW_POLICY_ALLOW);
  tw_kv other[] = {{"aws:SourceIp", "192.168.1.1"}};
  CHECK_INT_EQ(ev(d, "sqs:SendMessage", QUEUE, other, 1), TW_POLICY_NONE);
  CHECK_INT_EQ(ev(d, "sqs:SendMessage", QUEUE, NULL, 0), TW_POLICY_NONE);
  d = STMT(
      "{\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":"
      "{\"NotIpAddress\":{\"aws:SourceIp\":\"10.1.2.0/24\"}}}");
  CHECK_INT_EQ(ev(d, "sqs:SendMessage", QUEUE, ip, 2), TW_POLICY_NONE);
  CHECK_INT_EQ(ev(d, "sqs:SendMessage", QUEUE, other, 1), TW_POLICY_DENY);
  tw_kv edge[] = {{"aws:SourceIp", "10.1.3.0"}};
  CHECK_INT_EQ(ev(d, "sqs:SendMessage", QUEUE, edge, 1), TW_POLICY_DENY);

  CASE("Bool aws:SecureTransport");
  d = STMT(
      "{\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":"
      "{\"Bool\":{\"aws:SecureTransport\":false}}}");
  CHECK_INT_EQ(ev(d, "s3:GetObject", "arn:aws:s3:::b/k", ip, 2), TW_POLICY_DENY);
  tw_kv tls[] = {{"aws:SecureTransport", "true"}};
  CHECK_INT_EQ(ev(d, "s3:GetObject", "arn:aws:s3:::b/k", tls, 1), TW_POLICY_NONE);

  CASE("StringLike s3:prefix, StringEquals, keys case-insensitive");
  d = STMT(
      "{\"Effect\":\"Allow\",\"Action\":\"s3:ListBucket\",\"Resource\":\"arn:aws:s3:::b\","
      "\"Condition\":{\"StringLike\":{\"s3:prefix\":[\"home/alice/*\",\"\"]}}}");
  tw_kv pre_ok[] = {{"s3:prefix", "home/alice/docs/"}};
  tw_kv pre_bad[] = {{"s3:prefix", "home/bob/"}};
  tw_kv pre_case[] = {{"S3:Prefix", "home/alice/x"}};
  tw_kv pre_empty[] = {{"s3:prefix", ""}};
  CHECK_INT_EQ(ev(d, "s3:ListBucket", "arn:aws:s3:::b", pre_ok, 1), TW_POLICY_ALLOW);
  CHECK_INT_EQ(ev(d, "s3:ListBucket", "arn:aws:s3:::b", pre_bad, 1), TW_POLICY_NONE);
  CHECK_INT_EQ(ev(d, "s3:ListBucket", "arn:aws:s3:::b", pre_case, 1), TW_POLICY_ALLOW);
  CHECK_INT_EQ(ev(d, "s3:ListBucket", "arn:aws:s3:::b", pre_empty, 1), TW_POLICY_ALLOW);
  CHECK_INT_EQ(ev(d, "s3:ListBucket", "arn:aws:s3:::b", NULL, 0), TW_POLICY_NONE);

  CASE("negated operators are true when the key is missing; IfExists");
  d = STMT(
      "{\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":"
      "{\"StringNotEquals\":{\"aws:SourceArn\":\"arn:aws:sns:us-east-1:000000000000:t\"}}}");
  CHECK_INT_EQ(ev(d, "sqs:SendMessage", QUEUE, NULL, 0), TW_POLICY_DENY);
  tw_kv src_ok[] = {{"aws:SourceArn", "arn:aws:sns:us-east-1:000000000000:t"}};
  CHECK_INT_EQ(ev(d, "sqs:SendMessage", QUEUE, src_ok, 1), TW_POLICY_NONE);
  d = STMT(
      "{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":"
      "{\"StringEqualsIfExists\":{\"aws:SourceArn\":\"arn:aws:sns:*\"},"
      "\"ArnLikeIfExists\":{\"aws:SourceArn\":\"arn:aws:sns:*:000000000000:*\"}}}");
  CHECK_INT_EQ(ev(d, "sqs:SendMessage", QUEUE, NULL, 0), TW_POLICY_ALLOW);
  CHECK_INT_EQ(ev(d, "sqs:SendMessage", QUEUE, src_ok, 1), TW_POLICY_NONE); /* Equals: literal */
  d = STMT(
      "{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":"
      "{\"ArnLike\":{\"aws:SourceArn\":\"arn:aws:sns:*:000000000000:*\"}}}");
  CHECK_INT_EQ(ev(d, "sqs:SendMessage", QUEUE, src_ok, 1), TW_POLICY_ALLOW);
  CHECK_INT_EQ(ev(d, "sqs:SendMessage", QUEUE, NULL, 0), TW_POLICY_NONE);

  CASE("StringEqualsIgnoreCase, Numeric, Date");
  d = STMT(
      "{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{"
      "\"StringEqualsIgnoreCase\":{\"aws:username\":\"ALICE\"},"
      "\"NumericLessThanEquals\":{\"s3:max-keys\":\"100\"},"
      "\"DateGreaterThan\":{\"aws:CurrentTime\":\"2020-01-01T00:00:00Z\"},"
      "\"DateLessThan\":{\"aws:EpochTime\":\"2100-01-01\"}}}");
  tw_kv all_ok[] = {{"aws:username", "alice"},
                    {"s3:max-keys", "50"},
                    {"aws:CurrentTime", "2026-12-06T13:00:00Z"},
                    {"aws:EpochTime", "1796562000"}};
  CHECK_INT_EQ(ev(d, "s3:ListBucket", "arn:aws:s3:::b", all_ok, 4), TW_POLICY_ALLOW);
  tw_kv too_many[] = {{"aws:username", "alice"},
                      {"s3:max-keys", "1000"},
                      {"aws:CurrentTime", "2026-12-06T13:00:00Z"},
                      {"aws:EpochTime", "1796562000"}};
  CHECK_INT_EQ(ev(d, "s3:ListBucket", "arn:aws:s3:::b", too_many, 4), TW_POLICY_NONE);
  tw_kv past[] = {{"aws:username", "alice"},
                  {"s3:max-keys", "5"},
                  {"aws:CurrentTime", "2019-12-31T23:59:59.500+00:00"},
                  {"aws:EpochTime", "1796562000"}};
  CHECK_INT_EQ(ev(d, "s3:ListBucket", "arn:aws:s3:::b", past, 4), TW_POLICY_NONE);
  tw_kv bad_num[] = {{"aws:username", "alice"},
                     {"s3:max-keys", "many"},
                     {"aws:CurrentTime", "2026-12-06T13:00:00Z"},
                     {"aws:EpochTime", "1796562000"}};
  CHECK_INT_EQ(ev(d, "s3:ListBucket", "arn:aws:s3:::b", bad_num, 4), TW_POLICY_NONE);

  CASE("ForAnyValue / ForAllValues over a multi-valued key; Null");
  tw_kv tags[] = {{"aws:TagKeys", "team"}, {"aws:TagKeys", "env"}};
  d = STMT(
      "{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":"
      "{\"ForAllValues:StringEquals\":{\"aws:TagKeys\":[\"team\",\"env\",\"cost\"]}}}");
  CHECK_INT_EQ(ev(d, "sqs:TagQueue", QUEUE, tags, 2), TW_POLICY_ALLOW);
  CHECK_INT_EQ(ev(d, "sqs:TagQueue", QUEUE, NULL, 0), TW_POLICY_ALLOW);
  d = STMT(
      "{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":"
      "{\"ForAllValues:StringEquals\":{\"aws:TagKeys\":[\"team\"]}}}");
  CHECK_INT_EQ(ev(d, "sqs:TagQueue", QUEUE, tags, 2), TW_POLICY_NONE);
  d = STMT(
      "{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":"
      "{\"ForAnyValue:StringEquals\":{\"aws:TagKeys\":[\"env\"]}}}");
  CHECK_INT_EQ(ev(d, "sqs:TagQueue", QUEUE, tags, 2), TW_POLICY_ALLOW);
  CHECK_INT_EQ(ev(d, "sqs:TagQueue", QUEUE, NULL, 0), TW_POLICY_NONE);
  d = STMT(
      "{\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":"
      "{\"Null\":{\"aws:SourceArn\":\"true\"}}}");
  CHECK_INT_EQ(ev(d, "sqs:SendMessage", QUEUE, NULL, 0), TW_POLICY_DENY);
  CHECK_INT_EQ(ev(d, "sqs:SendMessage", QUEUE, src_ok, 1), TW_POLICY_NONE);

  CASE("all operators of a block and all blocks must hold");
  d = STMT(
      "{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{"
      "\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/8\"},"
      "\"Bool\":{\"aws:SecureTransport\":\"true\"}}}");
  CHECK_INT_EQ(ev(d, "sqs:SendMessage", QUEUE, ip, 2), TW_POLICY_NONE);

  CASE("policy variables in Resource and condition values");
  d = STMT(
      "{\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":"
      "\"arn:aws:s3:::home/${aws:username}/*\"}");
  tw_kv who[] = {{"aws:username", "alice"}};
  CHECK_INT_EQ(ev(d, "s3:PutObject", "arn:aws:s3:::home/alice/x", who, 1), TW_POLICY_ALLOW);
  CHECK_INT_EQ(ev(d, "s3:PutObject", "arn:aws:s3:::home/bob/x", who, 1), TW_POLICY_NONE);
  CHECK_INT_EQ(ev(d, "s3:PutObject", "arn:aws:s3:::home/alice/x", NULL, 0), TW_POLICY_NONE);
}

static void test_principals(void) {
  const char *pub = STMT(
      "{\"Sid\":\"public\",\"Effect\":\"Allow\",\"Principal\":\"*\","
      "\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::site/public/*\"}");
  CASE("Principal * grants anonymous callers and users");
  CHECK_INT_EQ(rev(pub, NULL, NULL, "s3:GetObject", "arn:aws:s3:::site/public/a.css", NULL, 0),
               TW_POLICY_ALLOW);
  CHECK_INT_EQ(rev(pub, ALICE, NULL, "s3:GetObject", "arn:aws:s3:::site/public/a.css", NULL, 0),
               TW_POLICY_ALLOW);
  CHECK_INT_EQ(rev(pub, NULL, NULL, "s3:GetObject", "arn:aws:s3:::site/private/a", NULL, 0),
               TW_POLICY_NONE);
  CHECK_INT_EQ(rev(pub, NULL, NULL, "s3:PutObject", "arn:aws:s3:::site/public/a", NULL, 0),
               TW_POLICY_NONE);

  CASE("{AWS: user ARN | account | root | *}");
  const char *d = STMT("{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"" BOB
                       "\"]},"
                       "\"Action\":\"sqs:SendMessage\",\"Resource\":\"" QUEUE "\"}");
  CHECK_INT_EQ(rev(d, BOB, NULL, "sqs:SendMessage", QUEUE, NULL, 0), TW_POLICY_ALLOW);
  CHECK_INT_EQ(rev(d, ALICE, NULL, "sqs:SendMessage", QUEUE, NULL, 0), TW_POLICY_NONE);
  CHECK_INT_EQ(rev(d, NULL, NULL, "sqs:SendMessage", QUEUE, NULL, 0), TW_POLICY_NONE);
  d = STMT(
      "{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"000000000000\"},"
      "\"Action\":\"sqs:*\",\"Resource\":\"*\"}");
  CHECK_INT_EQ(rev(d, ALICE, NULL, "sqs:SendMessage", QUEUE, NULL, 0), TW_POLICY_ALLOW);
  CHECK_INT_EQ(rev(d, NULL, NULL, "sqs:SendMessage", QUEUE, NULL, 0), TW_POLICY_NONE);
  d = STMT(
      "{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::000000000000:root\"},"
      "\"Action\":\"sqs:*\",\"Resource\":\"*\"}");
  CHECK_INT_EQ(rev(d, BOB, NULL, "sqs:SendMessage", QUEUE, NULL, 0), TW_POLICY_ALLOW);
  d = STMT(
      "{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},\"Action\":\"sqs:*\","
      "\"Resource\":\"*\"}");
  CHECK_INT_EQ(rev(d, NULL, NULL, "sqs:SendMessage", QUEUE, NULL, 0), TW_POLICY_ALLOW);

  CASE("NotPrincipal");
  d = STMT("{\"Effect\":\"Deny\",\"NotPrincipal\":{\"AWS\":\"" ALICE
           "\"},\"Action\":\"sqs:*\","
           "\"Resource\":\"*\"}");
  CHECK_INT_EQ(rev(d, ALICE, NULL, "sqs:DeleteQueue", QUEUE, NULL, 0), TW_POLICY_NONE);
  CHECK_INT_EQ(rev(d, BOB, NULL, "sqs:DeleteQueue", QUEUE, NULL, 0), TW_POLICY_DENY);

  CASE("service principal with aws:SourceArn (the seed's EventBridge queue policy)");
  d = STMT(
      "{\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"events.amazonaws.com\"},"
      "\"Action\":\"sqs:SendMessage\",\"Resource\":\"" QUEUE
      "\",\"Condition\":"
      "{\"ArnEquals\":{\"aws:SourceArn\":\"arn:aws:events:us-east-1:000000000000:rule/r\"}}}");
  tw_kv src[] = {{"aws:SourceArn", "arn:aws:events:us-east-1:000000000000:rule/r"}};
  tw_kv wrong[] = {{"aws:SourceArn", "arn:aws:events:us-east-1:000000000000:rule/other"}};
  CHECK_INT_EQ(rev(d, NULL, "events.amazonaws.com", "sqs:SendMessage", QUEUE, src, 1),
               TW_POLICY_ALLOW);
  CHECK_INT_EQ(rev(d, NULL, "events.amazonaws.com", "sqs:SendMessage", QUEUE, wrong, 1),
               TW_POLICY_NONE);
  CHECK_INT_EQ(rev(d, NULL, "sns.amazonaws.com", "sqs:SendMessage", QUEUE, src, 1), TW_POLICY_NONE);
  CHECK_INT_EQ(rev(d, ALICE, NULL, "sqs:SendMessage", QUEUE, src, 1), TW_POLICY_NONE);
}

static void test_decide(void) {
  tw_policy *ro = parse(STMT("{\"Effect\":\"Allow\",\"Action\":[\"sqs:ReceiveMessage\","
                             "\"sqs:GetQueue*\",\"sqs:ListQueues\"],\"Resource\":\"*\"}"),
                        TW_POLICY_IDENTITY);
  tw_policy *deny = parse(STMT("{\"Effect\":\"Deny\",\"Action\":\"sqs:ReceiveMessage\","
                               "\"Resource\":\"" QUEUE "\"}"),
                          TW_POLICY_IDENTITY);
  tw_policy *grant = parse(STMT("{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"" ALICE "\"},"
                                "\"Action\":\"sqs:SendMessage\",\"Resource\":\"" QUEUE "\"}"),
                           TW_POLICY_RESOURCE);
  tw_policy *rdeny = parse(STMT("{\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":"
                                "\"sqs:PurgeQueue\",\"Resource\":\"*\"}"),
                           TW_POLICY_RESOURCE);
  tw_policy_req q = {
      .action = "sqs:SendMessage", .resource = QUEUE, .principal = ALICE, .account = ACCOUNT};
  const tw_policy *one[] = {ro}, *two[] = {ro, deny};
  CASE("no identity policies: full access, except an explicit resource Deny");
  CHECK(tw_policy_decide(NULL, 0, NULL, &q));
  q.action = "sqs:PurgeQueue";
  CHECK(!tw_policy_decide(NULL, 0, rdeny, &q));
  CASE("identity policies: only what they allow, or the resource policy grants");
  q.action = "sqs:SendMessage";
  CHECK(!tw_policy_decide(one, 1, NULL, &q));
  CHECK(tw_policy_decide(one, 1, grant, &q));
  q.principal = BOB;
  CHECK(!tw_policy_decide(one, 1, grant, &q));
  q.principal = ALICE;
  q.action = "sqs:ReceiveMessage";
  CHECK(tw_policy_decide(one, 1, NULL, &q));
  CASE("explicit Deny in a second identity policy wins");
  CHECK(!tw_policy_decide(two, 2, NULL, &q));
  CASE("anonymous: only a resource policy allows");
  q.principal = NULL;
  CHECK(!tw_policy_decide(NULL, 0, NULL, &q));
  CHECK(!tw_policy_decide(NULL, 0, grant, &q));
  tw_policy_free(ro);
  tw_policy_free(deny);
  tw_policy_free(grant);
  tw_policy_free(rdeny);
}

static void test_malformed(void) {
  CASE("malformed documents are refused with a reason");
  CHECK(malformed("", TW_POLICY_IDENTITY));
  CHECK(malformed("[]", TW_POLICY_IDENTITY));
  CHECK(malformed("{\"Version\":\"2012-10-17\"}", TW_POLICY_IDENTITY));
  CHECK(malformed(STMT("[]"), TW_POLICY_IDENTITY));
  CHECK(
      malformed("{\"Version\":\"2013-01-01\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
                "\"*\",\"Resource\":\"*\"}}",
                TW_POLICY_IDENTITY));
  CHECK(malformed(STMT("{\"Effect\":\"Permit\",\"Action\":\"*\",\"Resource\":\"*\"}"),
                  TW_POLICY_IDENTITY));
  CHECK(malformed(STMT("{\"Effect\":\"Allow\",\"Resource\":\"*\"}"), TW_POLICY_IDENTITY));
  CHECK(malformed(STMT("{\"Effect\":\"Allow\",\"Action\":\"*\",\"NotAction\":\"s3:*\","
                       "\"Resource\":\"*\"}"),
                  TW_POLICY_IDENTITY));
  CHECK(malformed(STMT("{\"Effect\":\"Allow\",\"Action\":\"GetObject\",\"Resource\":\"*\"}"),
                  TW_POLICY_IDENTITY));
  CHECK(malformed(STMT("{\"Effect\":\"Allow\",\"Action\":\"*\"}"), TW_POLICY_IDENTITY));
  CHECK(malformed(STMT("{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"*\","
                       "\"Resource\":\"*\"}"),
                  TW_POLICY_IDENTITY));
  CHECK(malformed(STMT("{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}"),
                  TW_POLICY_RESOURCE)); /* no Principal */
  CHECK(malformed(STMT("{\"Effect\":\"Allow\",\"Principal\":\"someone\",\"Action\":\"*\","
                       "\"Resource\":\"*\"}"),
                  TW_POLICY_RESOURCE));
  CHECK(malformed(STMT("{\"Effect\":\"Allow\",\"Principal\":{\"Users\":\"x\"},\"Action\":\"*\","
                       "\"Resource\":\"*\"}"),
                  TW_POLICY_RESOURCE));
  CHECK(malformed(STMT("{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":"
                       "{\"StringSortOf\":{\"aws:username\":\"a\"}}}"),
                  TW_POLICY_IDENTITY));
  CHECK(strstr(err, "StringSortOf") != NULL);
  CHECK(malformed(STMT("{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":"
                       "{\"NullIfExists\":{\"aws:username\":\"true\"}}}"),
                  TW_POLICY_IDENTITY));
  CHECK(malformed(STMT("{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":"
                       "{\"StringEquals\":{\"aws:username\":[]}}}"),
                  TW_POLICY_IDENTITY));
  CHECK(malformed(STMT("{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Bogus\":1}"),
                  TW_POLICY_IDENTITY));
  CHECK(malformed("{\"Version\":\"2012-10-17\",\"Statement\":[],\"Extra\":1}", TW_POLICY_IDENTITY));
  CHECK(malformed(STMT("{\"Effect\":\"Allow\",\"Action\":[],\"Resource\":\"*\"}"),
                  TW_POLICY_IDENTITY));
}

static void test_public(void) {
  CASE("IsPublic");
  tw_policy *p = parse(STMT("{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":"
                            "\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::b/public/*\"}"),
                       TW_POLICY_RESOURCE);
  CHECK(tw_policy_is_public(p));
  tw_policy_free(p);
  p = parse(STMT("{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"" ALICE "\"},\"Action\":"
                 "\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::b/*\"}"),
            TW_POLICY_RESOURCE);
  CHECK(!tw_policy_is_public(p));
  tw_policy_free(p);
  p = parse(STMT("{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\","
                 "\"Resource\":\"arn:aws:s3:::b/*\",\"Condition\":{\"IpAddress\":"
                 "{\"aws:SourceIp\":\"10.0.0.0/8\"}}}"),
            TW_POLICY_RESOURCE);
  CHECK(!tw_policy_is_public(p));
  tw_policy_free(p);
  p = parse(STMT("{\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"s3:*\","
                 "\"Resource\":\"arn:aws:s3:::b/*\"}"),
            TW_POLICY_RESOURCE);
  CHECK(!tw_policy_is_public(p));
  tw_policy_free(p);
}

static void test_from_json_and_services(void) {
  CASE("from_json validates a parsed document; names_service");
  json_t *doc = json_loads(STMT("{\"Effect\":\"Allow\",\"Principal\":{\"Service\":["
                                "\"s3.amazonaws.com\",\"sns.amazonaws.com\"]},\"Action\":"
                                "\"sqs:SendMessage\",\"Resource\":\"*\"}"),
                           0, NULL);
  tw_policy *p = tw_policy_from_json(doc, TW_POLICY_RESOURCE, err, sizeof err);
  CHECK(p != NULL);
  CHECK(tw_policy_names_service(p, "s3.amazonaws.com"));
  CHECK(tw_policy_names_service(p, "sns.amazonaws.com"));
  CHECK(!tw_policy_names_service(p, "events.amazonaws.com"));
  tw_policy_free(p);
  json_decref(doc);
  doc = json_loads("{\"Statement\":{\"Effect\":\"Allow\"}}", 0, NULL);
  CHECK(tw_policy_from_json(doc, TW_POLICY_RESOURCE, err, sizeof err) == NULL);
  json_decref(doc);
  CHECK(tw_policy_from_json(NULL, TW_POLICY_RESOURCE, err, sizeof err) == NULL);
}

int main(void) {
  test_from_json_and_services();
  test_wildcards();
  test_not_and_deny();
  test_conditions();
  test_principals();
  test_decide();
  test_malformed();
  test_public();
  return tap_done();
}
