/* IAM-style policies (src/auth/policy.c): tw_policy_parse of the document as
 * an identity and as a resource policy; each one that parses is evaluated
 * (tw_policy_eval, tw_policy_decide) for a few fixed requests: callers
 * anonymous, a user and a service principal; condition keys for the String,
 * Numeric, Date, Bool, IpAddress (IPv4, IPv6, IPv4-mapped), Arn and Null
 * operators, a multi-valued key for ForAnyValue/ForAllValues, and the keys
 * policy variables name. tw_policy_is_public and tw_policy_names_service too.
 * Input: the policy document; optionally a line holding only "\x01" and then
 * one more request: action, resource, principal ("-": anonymous, "svc:NAME":
 * a service), then "key:value" context lines. Checked: an explicit Deny that
 * applies always wins in tw_policy_decide. */
#include "auth/policy.h"
#include "fuzz_util.h"

#define ACCOUNT "000000000000"
#define ALICE "arn:aws:iam::000000000000:user/alice"

static const tw_kv KEYS[] = {
    {"aws:SourceIp", "10.1.2.3"},
    {"aws:SecureTransport", "true"},
    {"aws:CurrentTime", "2026-12-06T14:00:00Z"},
    {"aws:EpochTime", "1796565600"},
    {"aws:username", "alice"},
    {"aws:userid", "AIDAEXAMPLE"},
    {"aws:SourceArn", "arn:aws:sns:us-east-1:000000000000:topic"},
    {"aws:SourceAccount", ACCOUNT},
    {"aws:TagKeys", "team"},
    {"aws:TagKeys", "env"},
    {"s3:prefix", "home/alice/"},
    {"s3:max-keys", "10"},
    {"s3:x-amz-acl", "public-read"},
};
static const tw_kv KEYS6[] = {
    {"aws:SourceIp", "2001:db8::1"},
    {"aws:CurrentTime", "2026-12-06"},
    {"s3:max-keys", "1e3"},
};
static const tw_kv KEYSM[] = {
    {"aws:SourceIp", "::ffff:10.1.2.3"},
    {"aws:SecureTransport", "false"},
    {"aws:CurrentTime", "1796565600"},
};

static const tw_policy_req REQS[] = {
    {"sqs:SendMessage", "arn:aws:sqs:us-east-1:000000000000:orders", ALICE, ACCOUNT, NULL, KEYS,
     sizeof KEYS / sizeof KEYS[0]},
    {"s3:GetObject", "arn:aws:s3:::bkt/home/alice/x.txt", NULL, ACCOUNT, NULL, KEYS6,
     sizeof KEYS6 / sizeof KEYS6[0]},
    {"s3:ListBucket", "arn:aws:s3:::bkt", "arn:aws:iam::000000000000:user/bob", ACCOUNT, NULL,
     KEYSM, sizeof KEYSM / sizeof KEYSM[0]},
    {"sqs:SendMessage", "arn:aws:sqs:us-east-1:000000000000:orders", NULL, ACCOUNT,
     "sns.amazonaws.com", KEYS, sizeof KEYS / sizeof KEYS[0]},
    {"SQS:sendmessage", "", ALICE, NULL, NULL, NULL, 0},
};

static void eval_all(const tw_policy *p, const tw_policy_req *q) {
  tw_policy_effect e = tw_policy_eval(p, q);
  if (e != TW_POLICY_NONE && e != TW_POLICY_ALLOW && e != TW_POLICY_DENY) abort();
  const tw_policy *const ids[] = {p};
  int as_identity = tw_policy_decide(ids, 1, NULL, q);
  int as_resource = tw_policy_decide(NULL, 0, p, q);
  if (e == TW_POLICY_DENY && (as_identity || as_resource)) abort(); /* Deny wins */
  if ((as_identity | as_resource) & ~1) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *sep = memmem(data, size, "\n\x01\n", 3);
  size_t dlen = sep ? (size_t)(sep - data) : size;
  fz_lines req = {0};
  tw_kv keys[FZ_MAX_LINES];
  size_t nkeys = 0;
  tw_policy_req extra = {0};
  if (sep) {
    fz_split(&req, sep + 3, size - dlen - 3);
    const char *who = fz_get(&req, 2);
    extra.action = fz_get(&req, 0);
    extra.resource = fz_get(&req, 1);
    extra.account = ACCOUNT;
    if (!strncmp(who, "svc:", 4))
      extra.service = who + 4;
    else if (strcmp(who, "-"))
      extra.principal = who;
    for (size_t i = 3; i < req.n; i++) {
      char *colon = strchr(req.line[i], ':');
      if (!colon) continue;
      colon = strchr(colon + 1, ':') ? strchr(colon + 1, ':') : colon; /* "aws:Key:value" */
      *colon = 0;
      keys[nkeys].name = req.line[i];
      keys[nkeys].value = colon + 1;
      nkeys++;
    }
    extra.keys = keys;
    extra.nkeys = nkeys;
  }
  static const tw_policy_kind kinds[] = {TW_POLICY_IDENTITY, TW_POLICY_RESOURCE};
  for (int k = 0; k < 2; k++) {
    char err[512];
    err[0] = 0;
    tw_policy *p = tw_policy_parse((const char *)data, dlen, kinds[k], err, sizeof err);
    if (!p) {
      if (!err[0]) abort(); /* a refusal always says why */
      continue;
    }
    for (size_t i = 0; i < sizeof REQS / sizeof REQS[0]; i++) eval_all(p, &REQS[i]);
    if (sep) eval_all(p, &extra);
    (void)tw_policy_is_public(p);
    (void)tw_policy_names_service(p, "events.amazonaws.com");
    tw_policy_free(p);
  }
  if (sep) fz_free(&req);
  return 0;
}
