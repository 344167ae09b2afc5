/* events/pattern.c: EventBridge event patterns and SNS filter policies
 * (attribute and body scope) — every matcher, positive and negative, arrays in
 * the document, $or, dotted keys, limits, and AWS's error texts (the exact
 * ones, location included, where AWS's answers are on record). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events/pattern.h"
#include "tap.h"

static char last_err[4096];

/* 1 match, 0 no match, -1 the pattern did not compile (its error in last_err). */
static int run(tw_pattern_dialect d, const char *pat, const json_t *doc) {
  last_err[0] = 0;
  tw_pattern *p = tw_pattern_compile(pat, strlen(pat), d, last_err, sizeof last_err);
  if (!p) {
    printf("#   compile error: %s\n", last_err);
    return -1;
  }
  int r = tw_pattern_match(p, doc);
  tw_pattern_free(p);
  return r;
}

static int with_json(tw_pattern_dialect d, const char *pat, const char *doc_json) {
  json_error_t je;
  json_t *doc = doc_json ? json_loads(doc_json, JSON_DECODE_ANY, &je) : NULL;
  if (doc_json && !doc) printf("#   bad test document: %s\n", je.text);
  int r = run(d, pat, doc);
  json_decref(doc);
  return r;
}

/* EventBridge: pattern against event. */
static int eb(const char *pat, const char *event) {
  return with_json(TW_PATTERN_EVENTBRIDGE, pat, event);
}

/* SNS body scope: policy against a message body (NULL: not JSON). */
static int sb(const char *pol, const char *body) {
  return with_json(TW_PATTERN_SNS_BODY, pol, body);
}

/* SNS attribute scope: policy against JSON-protocol MessageAttributes. */
static int sa(const char *pol, const char *attrs) {
  json_t *ma = json_loads(attrs, 0, NULL);
  if (!ma) printf("#   bad test attributes\n");
  json_t *doc = tw_pattern_sns_attributes(ma);
  int r = run(TW_PATTERN_SNS_ATTRIBUTES, pol, doc);
  json_decref(doc);
  json_decref(ma);
  return r;
}

/* The error a pattern gets ("" when it compiles). */
static const char *err_of(tw_pattern_dialect d, const char *pat) {
  last_err[0] = 0;
  tw_pattern *p = tw_pattern_compile(pat, strlen(pat), d, last_err, sizeof last_err);
  if (p) {
    tw_pattern_free(p);
    return "";
  }
  return last_err;
}

static const char *eb_err(const char *pat) {
  return err_of(TW_PATTERN_EVENTBRIDGE, pat);
}

/* The error's first line (without Jackson's location). */
static const char *first_line(const char *e) {
  static char buf[1024];
  snprintf(buf, sizeof buf, "%s", e);
  char *nl = strchr(buf, '\n');
  if (nl) *nl = 0;
  return buf;
}

#define EB_REASON(pat) first_line(eb_err(pat))
#define SNS_REASON(pat) first_line(err_of(TW_PATTERN_SNS_BODY, pat))
#define SA_REASON(pat) first_line(err_of(TW_PATTERN_SNS_ATTRIBUTES, pat))

static const char *EV =
    "{\"version\":\"0\",\"id\":\"6a7e8feb\",\"detail-type\":\"EC2 Instance State-change "
    "Notification\",\"source\":\"aws.ec2\",\"account\":\"111122223333\",\"time\":\"2017-12-22T18:"
    "43:48Z\",\"region\":\"us-west-1\",\"resources\":[\"arn:aws:ec2:us-west-1:123456789012:"
    "instance/i-1234567890abcdef0\"],\"detail\":{\"instance-id\":\"i-1234567890abcdef0\",\"state\":"
    "\"terminated\",\"c-count\":3,\"price\":3.0,\"ip\":\"10.0.0.7\",\"ip6\":\"2001:db8::1\","
    "\"empty\":\"\",\"nothing\":null,\"flag\":true,\"tags\":[\"a\",\"b\"],\"obj\":{\"k\":\"v\"},"
    "\"list\":[{\"name\":\"x\",\"n\":1},{\"name\":\"y\",\"n\":2}],\"none\":[]}}";

static void test_eb_exact(void) {
  CASE("eventbridge exact values");
  CHECK_INT_EQ(eb("{\"source\":[\"aws.ec2\"]}", EV), 1);
  CHECK_INT_EQ(eb("{\"source\":[\"aws.s3\",\"aws.ec2\"]}", EV), 1);
  CHECK_INT_EQ(eb("{\"source\":[\"aws.s3\"]}", EV), 0);
  CHECK_INT_EQ(eb("{\"source\":[\"AWS.EC2\"]}", EV), 0); /* case-sensitive */
  CHECK_INT_EQ(eb("{\"SOURCE\":[\"aws.ec2\"]}", EV), 0); /* keys too */
  CHECK_INT_EQ(
      eb("{\"source\":[\"aws.ec2\"],\"detail-type\":[\"EC2 Instance State-change Notification\"],"
         "\"detail\":{\"state\":[\"terminated\"]}}",
         EV),
      1);
  CHECK_INT_EQ(eb("{\"source\":[\"aws.ec2\"],\"detail\":{\"state\":[\"running\"]}}", EV), 0);
  CHECK_INT_EQ(eb("{\"detail\":{\"missing\":[\"x\"]}}", EV), 0);
  CHECK_INT_EQ(eb("{\"detail\":{\"empty\":[\"\"]}}", EV), 1);
  CHECK_INT_EQ(eb("{\"detail\":{\"nothing\":[\"\"]}}", EV), 0); /* null is not "" */
  CHECK_INT_EQ(eb("{\"detail\":{\"nothing\":[null]}}", EV), 1);
  CHECK_INT_EQ(eb("{\"detail\":{\"empty\":[null]}}", EV), 0);
  CHECK_INT_EQ(eb("{\"detail\":{\"flag\":[true]}}", EV), 1);
  CHECK_INT_EQ(eb("{\"detail\":{\"flag\":[false]}}", EV), 0);
  CHECK_INT_EQ(eb("{\"detail\":{\"flag\":[\"true\"]}}", EV), 0); /* types are strict */
  CHECK_INT_EQ(eb("{\"detail\":{\"c-count\":[\"3\"]}}", EV), 0);
  /* an object in the event is not a leaf value */
  CHECK_INT_EQ(eb("{\"detail\":{\"obj\":[\"v\"]}}", EV), 0);
  CHECK_INT_EQ(eb("{\"detail\":{\"obj\":{\"k\":[\"v\"]}}}", EV), 1);
  /* a JSON string holding JSON is a string */
  CHECK_INT_EQ(eb("{\"detail\":{\"k\":[\"v\"]}}", "{\"detail\":\"{\\\"k\\\": \\\"v\\\"}\"}"), 0);
  /* an IP address literal matches its other spellings */
  CHECK_INT_EQ(eb("{\"a\":[\"2001:db8::1\"]}", "{\"a\":\"2001:0db8:0:0:0:0:0:1\"}"), 1);
  CHECK_INT_EQ(eb("{\"a\":[\"2001:db8::1\"]}", "{\"a\":\"2001:db8::2\"}"), 0);
  /* a document that is not an object matches nothing */
  CHECK_INT_EQ(eb("{\"a\":[{\"exists\":false}]}", "[1]"), 0);
  CHECK_INT_EQ(eb("{\"a\":[{\"exists\":false}]}", NULL), 0);
}

static void test_eb_numbers(void) {
  CASE("eventbridge numbers");
  CHECK_INT_EQ(eb("{\"detail\":{\"c-count\":[3]}}", EV), 1);
  CHECK_INT_EQ(eb("{\"detail\":{\"c-count\":[3.0]}}", EV), 1);
  CHECK_INT_EQ(eb("{\"detail\":{\"c-count\":[3e0]}}", EV), 1);
  CHECK_INT_EQ(eb("{\"detail\":{\"c-count\":[0.3e1]}}", EV), 1);
  CHECK_INT_EQ(eb("{\"detail\":{\"price\":[3]}}", EV), 1);
  CHECK_INT_EQ(eb("{\"detail\":{\"c-count\":[4]}}", EV), 0);
  CHECK_INT_EQ(eb("{\"n\":[300]}", "{\"n\":300.0}"), 1);
  CHECK_INT_EQ(eb("{\"n\":[3.018e2]}", "{\"n\":301.8}"), 1);
  CHECK_INT_EQ(eb("{\"n\":[-1.5]}", "{\"n\":-1.5}"), 1);
  /* beyond the numeric range, a number still equals itself */
  CHECK_INT_EQ(eb("{\"account\":[123456789012]}", "{\"account\":123456789012}"), 1);
  CHECK_INT_EQ(eb("{\"account\":[123456789012]}", "{\"account\":123456789013}"), 0);
  /* six decimal places */
  CHECK_INT_EQ(eb("{\"n\":[{\"numeric\":[\"=\",1.000001]}]}", "{\"n\":1.000001}"), 1);
  CHECK_INT_EQ(eb("{\"n\":[{\"numeric\":[\"=\",1.000001]}]}", "{\"n\":1.000002}"), 0);
}

static void test_eb_numeric(void) {
  CASE("eventbridge numeric ranges");
  const char *range = "{\"detail\":{\"c-count\":[{\"numeric\":[\">\",0,\"<=\",5]}]}}";
  CHECK_INT_EQ(eb(range, EV), 1);
  CHECK_INT_EQ(eb(range, "{\"detail\":{\"c-count\":5}}"), 1);
  CHECK_INT_EQ(eb(range, "{\"detail\":{\"c-count\":5.0000001}}"), 1); /* rounds to 5 */
  CHECK_INT_EQ(eb(range, "{\"detail\":{\"c-count\":5.01}}"), 0);
  CHECK_INT_EQ(eb(range, "{\"detail\":{\"c-count\":0}}"), 0);
  CHECK_INT_EQ(eb(range, "{\"detail\":{\"c-count\":\"3\"}}"), 0);
  CHECK_INT_EQ(eb(range, "{\"detail\":{\"c-count\":null}}"), 0);
  CHECK_INT_EQ(eb("{\"n\":[{\"numeric\":[\">=\",0,\"<\",5]}]}", "{\"n\":0}"), 1);
  CHECK_INT_EQ(eb("{\"n\":[{\"numeric\":[\">=\",0,\"<\",5]}]}", "{\"n\":5}"), 0);
  CHECK_INT_EQ(eb("{\"n\":[{\"numeric\":[\"<\",10]}]}", "{\"n\":-3}"), 1);
  CHECK_INT_EQ(eb("{\"n\":[{\"numeric\":[\"<\",10]}]}", "{\"n\":10}"), 0);
  CHECK_INT_EQ(eb("{\"n\":[{\"numeric\":[\"<=\",10]}]}", "{\"n\":10}"), 1);
  CHECK_INT_EQ(eb("{\"n\":[{\"numeric\":[\">\",100]}]}", "{\"n\":101.0}"), 1);
  CHECK_INT_EQ(eb("{\"n\":[{\"numeric\":[\"=\",3.018e2]}]}", "{\"n\":301.8}"), 1);
  CHECK_INT_EQ(eb("{\"n\":[{\"numeric\":[\"=\",5]}]}", "{\"n\":[1,5,9]}"), 1);
  /* beyond EventBridge's range a value is not comparable */
  CHECK_INT_EQ(eb("{\"n\":[{\"numeric\":[\">\",0]}]}", "{\"n\":6e9}"), 0);
  CHECK_INT_EQ(eb("{\"n\":[{\"numeric\":[\">\",0]}]}", "{\"n\":5e9}"), 1);
}

static void test_eb_strings(void) {
  CASE("eventbridge prefix, suffix, equals-ignore-case");
  CHECK_INT_EQ(eb("{\"time\":[{\"prefix\":\"2017-12-22\"}]}", EV), 1);
  CHECK_INT_EQ(eb("{\"time\":[{\"prefix\":\"2017-12-23\"}]}", EV), 0);
  CHECK_INT_EQ(eb("{\"time\":[{\"prefix\":\"\"}]}", EV), 1);
  CHECK_INT_EQ(eb("{\"detail\":{\"c-count\":[{\"prefix\":\"3\"}]}}", EV), 0);
  CHECK_INT_EQ(eb("{\"source\":[{\"prefix\":{\"equals-ignore-case\":\"AWS.\"}}]}", EV), 1);
  CHECK_INT_EQ(eb("{\"source\":[{\"prefix\":{\"equals-ignore-case\":\"AWX\"}}]}", EV), 0);
  CHECK_INT_EQ(eb("{\"source\":[{\"suffix\":\".ec2\"}]}", EV), 1);
  CHECK_INT_EQ(eb("{\"source\":[{\"suffix\":\".EC2\"}]}", EV), 0);
  CHECK_INT_EQ(eb("{\"source\":[{\"suffix\":{\"equals-ignore-case\":\".EC2\"}}]}", EV), 1);
  CHECK_INT_EQ(
      eb("{\"f\":[{\"suffix\":{\"equals-ignore-case\":\".png\"}}]}", "{\"f\":\"image.jpg\"}"), 0);
  CHECK_INT_EQ(eb("{\"detail-type\":[{\"equals-ignore-case\":\"ec2 instance state-change "
                  "notification\"}]}",
                  EV),
               1);
  CHECK_INT_EQ(eb("{\"source\":[{\"equals-ignore-case\":\"aws.ec\"}]}", EV), 0);
  CHECK_INT_EQ(eb("{\"v\":[{\"equals-ignore-case\":\"\"}]}", "{\"v\":\"\"}"), 1);
  CHECK_INT_EQ(eb("{\"v\":[{\"equals-ignore-case\":\"\"}]}", "{\"v\":\"x\"}"), 0);
  /* beyond ASCII */
  CHECK_INT_EQ(eb("{\"v\":[{\"equals-ignore-case\":\"ÉTÉ\"}]}", "{\"v\":\"été\"}"), 1);
  CHECK_INT_EQ(eb("{\"v\":[{\"prefix\":{\"equals-ignore-case\":\"ΑΒ\"}}]}", "{\"v\":\"αβγ\"}"), 1);
  CHECK_INT_EQ(eb("{\"v\":[{\"suffix\":{\"equals-ignore-case\":\"Ö\"}}]}", "{\"v\":\"zö\"}"), 1);
}

static void test_eb_wildcard(void) {
  CASE("eventbridge wildcard");
  CHECK_INT_EQ(eb("{\"f\":[{\"wildcard\":\"*.png\"}]}", "{\"f\":\"a/b.png\"}"), 1);
  CHECK_INT_EQ(eb("{\"f\":[{\"wildcard\":\"*.png\"}]}", "{\"f\":\".png\"}"), 1); /* zero chars */
  CHECK_INT_EQ(eb("{\"f\":[{\"wildcard\":\"*.png\"}]}", "{\"f\":\"a.png.jpg\"}"), 0);
  CHECK_INT_EQ(eb("{\"f\":[{\"wildcard\":\"dir/*/file\"}]}", "{\"f\":\"dir/x/y/file\"}"), 1);
  CHECK_INT_EQ(eb("{\"f\":[{\"wildcard\":\"dir/*/file\"}]}", "{\"f\":\"dir/file\"}"), 0);
  CHECK_INT_EQ(eb("{\"f\":[{\"wildcard\":\"a*b*c\"}]}", "{\"f\":\"abc\"}"), 1);
  CHECK_INT_EQ(eb("{\"f\":[{\"wildcard\":\"a*b*c\"}]}", "{\"f\":\"acb\"}"), 0);
  CHECK_INT_EQ(eb("{\"f\":[{\"wildcard\":\"a*aa\"}]}", "{\"f\":\"aa\"}"), 0);
  CHECK_INT_EQ(eb("{\"f\":[{\"wildcard\":\"a*aa\"}]}", "{\"f\":\"aaa\"}"), 1);
  CHECK_INT_EQ(eb("{\"f\":[{\"wildcard\":\"*\"}]}", "{\"f\":\"\"}"), 1);
  CHECK_INT_EQ(eb("{\"f\":[{\"wildcard\":\"\"}]}", "{\"f\":\"x\"}"), 0);
  CHECK_INT_EQ(eb("{\"f\":[{\"wildcard\":\"\"}]}", "{\"f\":\"\"}"), 1);
  CHECK_INT_EQ(eb("{\"f\":[{\"wildcard\":\"*\"}]}", "{\"f\":5}"), 0);
  /* \\* is a literal star, \\\\ a literal backslash */
  CHECK_INT_EQ(eb("{\"f\":[{\"wildcard\":\"a\\\\*\"}]}", "{\"f\":\"a*\"}"), 1);
  CHECK_INT_EQ(eb("{\"f\":[{\"wildcard\":\"a\\\\*\"}]}", "{\"f\":\"ab\"}"), 0);
  CHECK_INT_EQ(eb("{\"f\":[{\"wildcard\":\"a\\\\\\\\*\"}]}", "{\"f\":\"a\\\\bc\"}"), 1);
  CHECK_INT_EQ(eb("{\"f\":[{\"wildcard\":\"/Users/*/dir/dir/dir/dir/dir/doc.txt\"}]}",
                  "{\"f\":\"/Users/ls_user/dir/dir/dir/dir/dir/doc.txt\"}"),
               1);
  CHECK_STR_EQ(EB_REASON("{\"a\":[{\"wildcard\":\"arn:aws:events:us-east-1:**:event-bus/*\"}]}"),
               "Event pattern is not valid. Reason: Consecutive wildcard characters at pos 26");
  CHECK_STR_EQ(EB_REASON("{\"a\":[{\"wildcard\":\"a\\\\b\"}]}"),
               "Event pattern is not valid. Reason: Invalid escape character at pos 2");
  CHECK_STR_EQ(EB_REASON("{\"a\":[{\"wildcard\":\"*:*:*:*:*:event-bus/*\"}]}"),
               "Event pattern is not valid. Reason: Rule is too complex - try using fewer "
               "wildcard characters or fewer repeating character sequences after a wildcard "
               "character");
  CHECK_STR_EQ(EB_REASON("{\"a\":[{\"wildcard\":123}]}"),
               "Event pattern is not valid. Reason: wildcard match pattern must be a string");
  /* SNS has no wildcard */
  CHECK_STR_EQ(SNS_REASON("{\"a\":[{\"wildcard\":\"*\"}]}"),
               "Invalid parameter: FilterPolicy: Unrecognized match type wildcard");
}

static void test_eb_anything_but(void) {
  CASE("eventbridge anything-but");
  CHECK_INT_EQ(eb("{\"detail\":{\"state\":[{\"anything-but\":\"initializing\"}]}}", EV), 1);
  CHECK_INT_EQ(eb("{\"detail\":{\"state\":[{\"anything-but\":\"terminated\"}]}}", EV), 0);
  CHECK_INT_EQ(eb("{\"detail\":{\"state\":[{\"anything-but\":[\"stopped\",\"terminated\"]}]}}", EV),
               0);
  CHECK_INT_EQ(eb("{\"detail\":{\"state\":[{\"anything-but\":[\"stopped\",\"x\"]}]}}", EV), 1);
  /* a missing field is not "anything but" */
  CHECK_INT_EQ(eb("{\"detail\":{\"gone\":[{\"anything-but\":\"x\"}]}}", EV), 0);
  /* null is a value, and not the excluded one */
  CHECK_INT_EQ(eb("{\"detail\":{\"nothing\":[{\"anything-but\":\"x\"}]}}", EV), 1);
  CHECK_INT_EQ(eb("{\"x\":[{\"anything-but\":123}]}", "{\"x\":789}"), 1);
  CHECK_INT_EQ(eb("{\"x\":[{\"anything-but\":123}]}", "{\"x\":123.0}"), 0);
  CHECK_INT_EQ(eb("{\"x\":[{\"anything-but\":0}]}", "{\"x\":789}"), 1);
  CHECK_INT_EQ(eb("{\"x\":[{\"anything-but\":[100,200,300]}]}", "{\"x\":999}"), 1);
  CHECK_INT_EQ(eb("{\"x\":[{\"anything-but\":[100,200,300]}]}", "{\"x\":200}"), 0);
  CHECK_INT_EQ(eb("{\"x\":[{\"anything-but\":[100,200]}]}", "{\"x\":\"abc\"}"), 0);
  /* an array matches when one element is not excluded */
  CHECK_INT_EQ(eb("{\"t\":[{\"anything-but\":[\"a\"]}]}", "{\"t\":[\"a\",\"b\"]}"), 1);
  CHECK_INT_EQ(eb("{\"t\":[{\"anything-but\":[\"a\",\"b\"]}]}", "{\"t\":[\"a\",\"b\"]}"), 0);
  CHECK_INT_EQ(eb("{\"s\":[{\"anything-but\":{\"prefix\":\"init\"}}]}", "{\"s\":\"running\"}"), 1);
  CHECK_INT_EQ(eb("{\"s\":[{\"anything-but\":{\"prefix\":\"init\"}}]}", "{\"s\":\"initial\"}"), 0);
  CHECK_INT_EQ(eb("{\"s\":[{\"anything-but\":{\"prefix\":\"init\"}}]}", "{\"s\":12}"), 1);
  CHECK_INT_EQ(
      eb("{\"s\":[{\"anything-but\":{\"prefix\":[\"init\",\"te\"]}}]}", "{\"s\":\"test\"}"), 0);
  CHECK_INT_EQ(eb("{\"s\":[{\"anything-but\":{\"prefix\":[\"init\",\"te\"]}}]}", "{\"s\":\"run\"}"),
               1);
  CHECK_INT_EQ(eb("{\"f\":[{\"anything-but\":{\"suffix\":\".png\"}}]}", "{\"f\":\"a.png\"}"), 0);
  CHECK_INT_EQ(eb("{\"f\":[{\"anything-but\":{\"suffix\":\".png\"}}]}", "{\"f\":\"a.jpg\"}"), 1);
  CHECK_INT_EQ(
      eb("{\"f\":[{\"anything-but\":{\"suffix\":[\".png\",\".jpg\"]}}]}", "{\"f\":\"a.jpg\"}"), 0);
  CHECK_INT_EQ(
      eb("{\"s\":[{\"anything-but\":{\"equals-ignore-case\":\"INIT\"}}]}", "{\"s\":\"init\"}"), 0);
  CHECK_INT_EQ(
      eb("{\"s\":[{\"anything-but\":{\"equals-ignore-case\":[\"A\",\"B\"]}}]}", "{\"s\":\"c\"}"),
      1);
  CHECK_INT_EQ(
      eb("{\"s\":[{\"anything-but\":{\"equals-ignore-case\":[\"A\",\"B\"]}}]}", "{\"s\":\"b\"}"),
      0);
  CHECK_INT_EQ(eb("{\"p\":[{\"anything-but\":{\"wildcard\":\"*/lib/*\"}}]}", "{\"p\":\"a/lib/b\"}"),
               0);
  CHECK_INT_EQ(eb("{\"p\":[{\"anything-but\":{\"wildcard\":\"*/lib/*\"}}]}", "{\"p\":\"a/bin/b\"}"),
               1);
  CHECK_INT_EQ(eb("{\"p\":[{\"anything-but\":{\"wildcard\":[\"*/init/*\",\"*/dir/*\"]}}]}",
                  "{\"p\":\"dir/init/dir\"}"),
               0);
  CHECK_INT_EQ(eb("{\"p\":[{\"anything-but\":{\"wildcard\":\"*/dir/*\"}}]}", "{\"p\":123}"), 1);
  /* combined with exists:false, a missing field passes too */
  const char *ab_or_absent = "{\"d\":{\"S\":[{\"anything-but\":[\"roses\"]},{\"exists\":false}]}}";
  CHECK_INT_EQ(eb(ab_or_absent, "{\"d\":{\"N\":\"1\"}}"), 1);
  CHECK_INT_EQ(eb(ab_or_absent, "{\"d\":{\"S\":\"ABCD\"}}"), 1);
  CHECK_INT_EQ(eb(ab_or_absent, "{\"d\":{\"S\":\"roses\"}}"), 0);
}

static void test_eb_exists(void) {
  CASE("eventbridge exists");
  CHECK_INT_EQ(eb("{\"detail\":{\"state\":[{\"exists\":true}]}}", EV), 1);
  CHECK_INT_EQ(eb("{\"detail\":{\"gone\":[{\"exists\":true}]}}", EV), 0);
  CHECK_INT_EQ(eb("{\"detail\":{\"gone\":[{\"exists\":false}]}}", EV), 1);
  CHECK_INT_EQ(eb("{\"detail\":{\"state\":[{\"exists\":false}]}}", EV), 0);
  CHECK_INT_EQ(eb("{\"detail\":{\"nothing\":[{\"exists\":true}]}}", EV), 1); /* null exists */
  /* leaf nodes only: an object is not a value, an empty array holds none */
  CHECK_INT_EQ(eb("{\"detail\":{\"obj\":[{\"exists\":true}]}}", EV), 0);
  CHECK_INT_EQ(eb("{\"detail\":{\"obj\":[{\"exists\":false}]}}", EV), 1);
  CHECK_INT_EQ(eb("{\"detail\":{\"none\":[{\"exists\":true}]}}", EV), 0);
  CHECK_INT_EQ(eb("{\"detail\":{\"none\":[{\"exists\":false}]}}", EV), 1);
  CHECK_INT_EQ(eb("{\"a\":{\"b\":{\"c\":[{\"exists\":false}]}}}", "{\"a\":{\"x\":1}}"), 1);
  CHECK_INT_EQ(eb("{\"a\":{\"b\":[{\"exists\":false}]}}", "{\"a\":[{\"x\":1},{\"b\":1}]}"), 0);
  CHECK_INT_EQ(eb("{\"a\":{\"id\":[{\"exists\":true}]}}",
                  "{\"a\":[{\"k\":\"v\"},{\"id\":\"yes\"},{\"k2\":\"v2\"}]}"),
               1);
}

static void test_eb_cidr(void) {
  CASE("eventbridge cidr");
  CHECK_INT_EQ(eb("{\"detail\":{\"ip\":[{\"cidr\":\"10.0.0.0/24\"}]}}", EV), 1);
  CHECK_INT_EQ(eb("{\"detail\":{\"ip\":[{\"cidr\":\"10.0.1.0/24\"}]}}", EV), 0);
  CHECK_INT_EQ(eb("{\"a\":[{\"cidr\":\"10.0.0.0/8\"}]}", "{\"a\":\"10.255.255.255\"}"), 1);
  CHECK_INT_EQ(eb("{\"a\":[{\"cidr\":\"10.0.0.0/8\"}]}", "{\"a\":\"11.0.0.0\"}"), 0);
  CHECK_INT_EQ(eb("{\"a\":[{\"cidr\":\"10.0.0.0/24\"}]}", "{\"a\":\"10.0.0.256\"}"), 0);
  CHECK_INT_EQ(eb("{\"a\":[{\"cidr\":\"10.0.0.0/24\"}]}", "{\"a\":\"host\"}"), 0);
  CHECK_INT_EQ(eb("{\"a\":[{\"cidr\":\"10.0.0.0/24\"}]}", "{\"a\":123}"), 0);
  CHECK_INT_EQ(eb("{\"a\":[{\"cidr\":\"0.0.0.0/0\"}]}", "{\"a\":\"192.168.1.1\"}"), 1);
  CHECK_INT_EQ(eb("{\"detail\":{\"ip6\":[{\"cidr\":\"2001:db8::/32\"}]}}", EV), 1);
  CHECK_INT_EQ(eb("{\"a\":[{\"cidr\":\"2001:db8:1234:1a00::/64\"}]}",
                  "{\"a\":\"2001:0db8:1234:1a00:0000:0000:0000:0000\"}"),
               1);
  CHECK_INT_EQ(
      eb("{\"a\":[{\"cidr\":\"2001:db8:1234:1a00::/64\"}]}", "{\"a\":\"2001:db8:1234:1a01::\"}"),
      0);
  CHECK_INT_EQ(eb("{\"a\":[{\"cidr\":\"2001:db8::/32\"}]}", "{\"a\":\"10.0.0.1\"}"), 0);
  CHECK_INT_EQ(eb("{\"a\":[{\"cidr\":\"10.0.0.0/24\"}]}", "{\"a\":[\"1.1.1.1\",\"10.0.0.9\"]}"), 1);
  CHECK_STR_EQ(eb_err("{\"a\":[{\"cidr\":\"bad-filter\"}]}"),
               "Event pattern is not valid. Reason: Malformed CIDR, one '/' required");
  CHECK_STR_EQ(eb_err("{\"a\":[{\"cidr\":\"10.0.0.0/xx\"}]}"),
               "Event pattern is not valid. Reason: Malformed CIDR, mask bits must be an integer");
  CHECK_STR_EQ(eb_err("{\"a\":[{\"cidr\":\"xx.11.xx/8\"}]}"),
               "Event pattern is not valid. Reason: Nonstandard IP address: xx.11.xx");
  CHECK_STR_EQ(eb_err("{\"a\":[{\"cidr\":\"xxxx:db8:1234:1a00::/64\"}]}"),
               "Event pattern is not valid. Reason: Nonstandard IP address: xxxx:db8:1234:1a00::");
  CHECK_STR_EQ(
      eb_err("{\"a\":[{\"cidr\":\"10.0.0.0/-1\"}]}"),
      "Event pattern is not valid. Reason: Malformed CIDR, mask bits must not be negative");
  CHECK_STR_EQ(eb_err("{\"a\":[{\"cidr\":\"10.0.0.0/33\"}]}"),
               "Event pattern is not valid. Reason: IPv4 mask bits must be < 32");
  CHECK_STR_EQ(eb_err("{\"a\":[{\"cidr\":\"::/128\"}]}"),
               "Event pattern is not valid. Reason: IPv6 mask bits must be < 128");
  CHECK_STR_EQ(eb_err("{\"a\":[{\"cidr\":\"300.0.0.0/8\"}]}"),
               "Event pattern is not valid. Reason: Invalid IP address: 300.0.0.0");
  CHECK_STR_EQ(EB_REASON("{\"a\":[{\"cidr\":[\"bad-type\"]}]}"),
               "Event pattern is not valid. Reason: prefix match pattern must be a string");
}

static void test_eb_arrays_nesting(void) {
  CASE("eventbridge arrays, nesting, dotted keys, $or");
  /* an array in the event matches when any element does */
  CHECK_INT_EQ(eb("{\"resources\":[\"arn:x\",\"arn:aws:ec2:us-west-1:123456789012:instance/"
                  "i-1234567890abcdef0\"]}",
                  EV),
               1);
  CHECK_INT_EQ(eb("{\"resources\":[\"arn:x\"]}", EV), 0);
  CHECK_INT_EQ(eb("{\"detail\":{\"tags\":[\"b\"]}}", EV), 1);
  CHECK_INT_EQ(eb("{\"detail\":{\"tags\":[\"c\"]}}", EV), 0);
  CHECK_INT_EQ(eb("{\"r\":[null]}", "{\"r\":[]}"), 0);
  CHECK_INT_EQ(eb("{\"a\":[1]}", "{\"a\":[[0,[1]]]}"), 1); /* nested arrays flatten */
  /* arrays of objects: the path continues into each element */
  CHECK_INT_EQ(eb("{\"detail\":{\"list\":{\"name\":[\"y\"]}}}", EV), 1);
  CHECK_INT_EQ(eb("{\"detail\":{\"list\":{\"name\":[\"z\"]}}}", EV), 0);
  CHECK_INT_EQ(eb("{\"detail\":{\"list\":{\"n\":[{\"numeric\":[\">\",1]}]}}}", EV), 1);
  /* dotted keys: the joined path, in the pattern or in the event */
  CHECK_INT_EQ(eb("{\"detail\":{\"state.status\":[\"running\"]}}",
                  "{\"detail\":{\"state\":{\"status\":\"running\"}}}"),
               1);
  CHECK_INT_EQ(eb("{\"detail\":{\"state\":{\"status\":[\"running\"]}}}",
                  "{\"detail\":{\"state.status\":\"running\"}}"),
               1);
  CHECK_INT_EQ(eb("{\"detail\":{\"state.status\":{\"status\":[\"running\"]}}}",
                  "{\"detail\":{\"state\":{\"status\":\"running\"}}}"),
               0);
  CHECK_INT_EQ(eb("{\"detail\":{\"state\":{\"status\":[\"running\"]}}}",
                  "{\"detail\":{\"state.status\":{\"status\":\"running\"}}}"),
               0);
  /* a key given twice: the last one counts */
  CHECK_INT_EQ(eb("{\"l\":[{\"prefix\":\"us-\"}],\"l\":[{\"anything-but\":\"us-east\"}]}",
                  "{\"l\":\"eu-west\"}"),
               1);
  /* $or */
  const char *orp =
      "{\"source\":[\"aws.ec2\"],\"$or\":[{\"detail\":{\"c-count\":[{\"numeric\":[\">\",5]}]}},"
      "{\"detail\":{\"state\":[\"terminated\"]}}]}";
  CHECK_INT_EQ(eb(orp, EV), 1);
  CHECK_INT_EQ(eb(orp, "{\"source\":\"aws.ec2\",\"detail\":{\"c-count\":9}}"), 1);
  CHECK_INT_EQ(eb(orp, "{\"source\":\"aws.ec2\",\"detail\":{\"c-count\":1}}"), 0);
  CHECK_INT_EQ(eb(orp, "{\"source\":\"aws.s3\",\"detail\":{\"c-count\":9}}"), 0);
  const char *nested_or =
      "{\"detail\":{\"$or\":[{\"c-count\":[{\"numeric\":[\">\",0,\"<=\",5]}]},{\"d-count\":[{"
      "\"numeric\":[\"<\",10]}]},{\"x-limit\":[{\"numeric\":[\"=\",3.018e2]}]}]}}";
  CHECK_INT_EQ(eb(nested_or, "{\"detail\":{\"x-limit\":301.8}}"), 1);
  CHECK_INT_EQ(eb(nested_or, "{\"detail\":{\"d-count\":11,\"c-count\":6}}"), 0);
  const char *two_ors =
      "{\"$or\":[{\"a\":[\"1\"]},{\"b\":[\"1\"]}],\"c\":{\"$or\":[{\"d\":[\"1\"]},{\"e\":[\"1\"]}]}"
      "}";
  CHECK_INT_EQ(eb(two_ors, "{\"b\":\"1\",\"c\":{\"e\":\"1\"}}"), 1);
  CHECK_INT_EQ(eb(two_ors, "{\"b\":\"1\",\"c\":{\"f\":\"1\"}}"), 0);
  CHECK_INT_EQ(eb("{\"$or\":[{\"a\":[\"1\"]},{\"$or\":[{\"b\":[\"1\"]},{\"c\":[\"1\"]}]}]}",
                  "{\"c\":\"1\"}"),
               1);
  CHECK_STR_EQ(EB_REASON("{\"$or\":[{\"a\":[\"1\"]}]}"),
               "Event pattern is not valid. Reason: There must have at least 2 Objects in $or "
               "relationship.");
  CHECK_STR_EQ(EB_REASON("{\"$or\":{\"a\":[\"1\"]}}"),
               "Event pattern is not valid. Reason: It must be an Array followed with $or.");
  CHECK_STR_EQ(EB_REASON("{\"$or\":[{\"a\":[\"1\"]},\"b\"]}"),
               "Event pattern is not valid. Reason: Only JSON object is allowed in array of $or "
               "relationship.");
  CHECK_STR_EQ(EB_REASON("{\"$or\":[{\"numeric\":[\"1\"]},{\"b\":[\"1\"]}]}"),
               "Event pattern is not valid. Reason: numeric is Ruler reserved fieldName which "
               "cannot be used inside $or.");
}

static void test_eb_errors(void) {
  CASE("eventbridge validation: AWS's texts");
  /* exact texts AWS returned for these patterns (locations included) */
  CHECK_STR_EQ(eb_err("{\"resources\": []}"),
               "Event pattern is not valid. Reason: Empty arrays are not allowed\n at [Source: "
               "(String)\"{\"resources\": []}\"; line: 1, column: 17]");
  CHECK_STR_EQ(eb_err("{\"detail\": {\"c-count\": [{\"numeric\": [\">\", 0, \">\", 0]}]}}"),
               "Event pattern is not valid. Reason: Bad numeric range operator: >\n at [Source: "
               "(String)\"{\"detail\": {\"c-count\": [{\"numeric\": [\">\", 0, \">\", 0]}]}}\"; "
               "line: 1, column: 49]");
  CHECK_STR_EQ(eb_err("{\"detail\": {\"state\": [{\"anything-but\": [\"stopped\", null]}]}}"),
               "Event pattern is not valid. Reason: Inside anything but list, start|null|boolean "
               "is not supported.\n at [Source: (String)\"{\"detail\": {\"state\": "
               "[{\"anything-but\": [\"stopped\", null]}]}}\"; line: 1, column: 56]\n at [Source: "
               "(String)\"{\"detail\": {\"state\": [{\"anything-but\": [\"stopped\", null]}]}}\"; "
               "line: 1, column: 56]");
  CHECK_STR_EQ(
      eb_err("{\"detail\": {\"FileName\": [{\"anything-but\": {\"prefix\": \"\"}}]}}"),
      "Event pattern is not valid. Reason: Null prefix/suffix not allowed\n at [Source: "
      "(String)\"{\"detail\": {\"FileName\": [{\"anything-but\": {\"prefix\": \"\"}}]}}\"; "
      "line: 1, column: 56]");
  CHECK_STR_EQ(eb_err("{\"my_key\": [{\"EXISTS\": true}]}"),
               "Event pattern is not valid. Reason: Unrecognized match type EXISTS\n at [Source: "
               "(String)\"{\"my_key\": [{\"EXISTS\": true}]}\"; line: 1, column: 28]");
  CHECK_STR_EQ(
      eb_err("{\"detail\": {\"c-count\": [{\"numeric\": [\">\", 0, \"<\"]}]}}"),
      "Event pattern is not valid. Reason: Value of < must be numeric\n at [Source: "
      "(String)\"{\"detail\": {\"c-count\": [{\"numeric\": [\">\", 0, \"<\"]}]}}\"; line: 1, "
      "column: 50]");
  CHECK_STR_EQ(eb_err("{\"int\": 42}"),
               "Event pattern is not valid. Reason: \"int\" must be an object or an array\n at "
               "[Source: (String)\"{\"int\": 42}\"; line: 1, column: 11]");
  CHECK_STR_EQ(eb_err("{\"string\": \"my-value\"}"),
               "Event pattern is not valid. Reason: \"string\" must be an object or an array\n at "
               "[Source: (String)\"{\"string\": \"my-value\"}\"; line: 1, column: 13]");
  CHECK_STR_EQ(eb_err("[\"not\", \"a\", \"dict\", \"but valid json\"]"),
               "Event pattern is not valid. Reason: Filter is not an object\n at [Source: "
               "(String)\"[\"not\", \"a\", \"dict\", \"but valid json\"]\"; line: 1, column: 2]");
  CHECK_STR_EQ(eb_err("this is valid json but not a dict"),
               "Event pattern is not valid. Reason: Unrecognized token 'this': was expecting (JSON "
               "String, Number, Array, Object or token 'null', 'true' or 'false')\n at [Source: "
               "(String)\"this is valid json but not a dict\"; line: 1, column: 5]");
  CHECK_STR_EQ(eb_err("{\"not\": closed mark\""),
               "Event pattern is not valid. Reason: Unrecognized token 'closed': was expecting "
               "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')\n at "
               "[Source: (String)\"{\"not\": closed mark\"\"; line: 1, column: 15]");
  CHECK_STR_EQ(eb_err("{'bad': 'quotation'}"),
               "Event pattern is not valid. Reason: Unexpected character (''' (code 39)): was "
               "expecting double-quote to start field name\n at [Source: (String)\"{'bad': "
               "'quotation'}\"; line: 1, column: 2]");
  /* reasons only */
  CHECK_STR_EQ(EB_REASON("{\"time\": [{\"prefix\": 123}]}"),
               "Event pattern is not valid. Reason: prefix match pattern must be a string");
  CHECK_STR_EQ(EB_REASON("{\"f\": [{\"suffix\": [\".png\"]}]}"),
               "Event pattern is not valid. Reason: suffix match pattern must be a string");
  CHECK_STR_EQ(EB_REASON("{\"d\": [{\"equals-ignore-case\": {\"prefix\": \"ec2\"}}]}"),
               "Event pattern is not valid. Reason: equals-ignore-case match pattern must be a "
               "string");
  CHECK_STR_EQ(EB_REASON("{\"f\": [{\"anything-but\": {\"suffix\": 123}}]}"),
               "Event pattern is not valid. Reason: prefix/suffix match pattern must be a string");
  CHECK_STR_EQ(EB_REASON("{\"s\": [{\"anything-but\": {\"equals-ignore-case\": [123, 456]}}]}"),
               "Event pattern is not valid. Reason: Inside anything-but/equals-ignore-case list, "
               "number|start|null|boolean is not supported.");
  CHECK_STR_EQ(EB_REASON("{\"s\": [{\"anything-but\": null}]}"),
               "Event pattern is not valid. Reason: Value of anything-but must be an array or "
               "single string/number value.");
  CHECK_STR_EQ(EB_REASON("{\"f\": [{\"anything-but\": {\"prefix\": {\"equals-ignore-case\": "
                         "\"file\"}}}]}"),
               "Event pattern is not valid. Reason: Value of anything-but must be an array or "
               "single string/number value.");
  CHECK_STR_EQ(EB_REASON("{\"s\": [{\"anything-but\": {\"exists\": false}}]}"),
               "Event pattern is not valid. Reason: Unsupported anything-but pattern: exists");
  CHECK_STR_EQ(EB_REASON("{\"s\": [{\"anything-but\": [\"a\", 1]}]}"),
               "Event pattern is not valid. Reason: Inside anything but list, either all values "
               "are number or string, mixed type is not supported");
  CHECK_STR_EQ(EB_REASON("{\"c\": [{\"numeric\": 10}]}"),
               "Event pattern is not valid. Reason: Value of numeric must be an array.");
  CHECK_STR_EQ(EB_REASON("{\"c\": [{\"numeric\": []}]}"),
               "Event pattern is not valid. Reason: Invalid member in numeric match: ]");
  CHECK_STR_EQ(EB_REASON("{\"c\": [{\"numeric\": [\"!=\", 1]}]}"),
               "Event pattern is not valid. Reason: Unrecognized numeric range operator: !=");
  CHECK_STR_EQ(EB_REASON("{\"c\": [{\"numeric\": [\"=\", \"000\"]}]}"),
               "Event pattern is not valid. Reason: Value of equals must be numeric");
  CHECK_STR_EQ(EB_REASON("{\"c\": [{\"numeric\": [\"<\", 100, \">\", 10]}]}"),
               "Event pattern is not valid. Reason: Too many elements in numeric expression");
  CHECK_STR_EQ(EB_REASON("{\"c\": [{\"numeric\": [\">\", 20, 30]}]}"),
               "Event pattern is not valid. Reason: Bad value in numeric range: 30");
  CHECK_STR_EQ(EB_REASON("{\"c\": [{\"numeric\": [\">\", 3, \"<\", 1]}]}"),
               "Event pattern is not valid. Reason: Bottom must be less than top");
  CHECK_STR_EQ(EB_REASON("{\"c\": [{\"numeric\": [\">\", 1, \"<\", 3, \"<\", 5]}]}"),
               "Event pattern is not valid. Reason: Too many terms in numeric range expression");
  CHECK_STR_EQ(EB_REASON("{\"c\": [{\"numeric\": [\">\", 6e9]}]}"),
               "Event pattern is not valid. Reason: Value must be between -5.0E9 and 5.0E9, "
               "inclusive");
  CHECK_STR_EQ(EB_REASON("{\"c\": [{\"exists\": \"no\"}]}"),
               "Event pattern is not valid. Reason: exists match pattern must be either true or "
               "false.");
  CHECK_STR_EQ(EB_REASON("{\"c\": [{\"prefix\": \"a\", \"suffix\": \"b\"}]}"),
               "Event pattern is not valid. Reason: Only one key allowed in match expression");
  CHECK_STR_EQ(EB_REASON("{\"c\": [[\"a\"]]}"),
               "Event pattern is not valid. Reason: Match value must be String, number, true, "
               "false, or null");
  CHECK_STR_EQ(EB_REASON("{\"c\": [{}]}"),
               "Event pattern is not valid. Reason: Match expression name not found");
  CHECK_STR_EQ(EB_REASON("{\"c\": {}}"),
               "Event pattern is not valid. Reason: Empty objects are not allowed");
  CHECK_STR_EQ(EB_REASON("{}"),
               "Event pattern is not valid. Reason: Empty objects are not allowed");
  CHECK_STR_EQ(EB_REASON("{\"s\": [{\"prefix\": {\"suffix\": \"x\"}}]}"),
               "Event pattern is not valid. Reason: Unsupported prefix pattern: suffix");
  CHECK_STR_EQ(EB_REASON("{\"a\":[\"x\"],}"),
               "Event pattern is not valid. Reason: Unexpected character ('}' (code 125)): was "
               "expecting double-quote to start field name");
  CHECK_STR_EQ(
      EB_REASON("{\"a\":[\"x\""),
      "Event pattern is not valid. Reason: Unexpected end-of-input: expected close marker "
      "for Array (start marker at [Source: (String)\"{\"a\":[\"x\"\"; line: 1, column: 6])");
  /* multi-line patterns: line and column */
  CHECK_STR_EQ(
      eb_err("{\n  \"a\": [\n    1,\n  ]\n}"),
      "Event pattern is not valid. Reason: Unexpected character (']' (code 93)): expected "
      "a valid value (JSON String, Number, Array, Object or token 'null', 'true' or "
      "'false')\n at [Source: (String)\"{\n  \"a\": [\n    1,\n  ]\n}\"; line: 4, column: 3]");
  /* a long pattern's source is cut at 500 characters */
  char big[700];
  snprintf(big, sizeof big, "{\"k\": [\"%0600d\"], \"x\": 1}", 0);
  CHECK(strstr(eb_err(big), "\"[truncated 119 chars]; line: 1, column: 619]") != NULL);
  /* the compiled pattern must outlive its source */
  char src[64];
  snprintf(src, sizeof src, "{\"a\":[\"b\"]}");
  tw_pattern *p = tw_pattern_compile(src, strlen(src), TW_PATTERN_EVENTBRIDGE, NULL, 0);
  memset(src, 'x', sizeof src);
  json_t *e = json_pack("{s:s}", "a", "b");
  CHECK(p && tw_pattern_match(p, e) == 1);
  json_decref(e);
  tw_pattern_free(p);
  /* $or that expands past 1000 combinations */
  char many[4096] = "{";
  for (int i = 0; i < 4; i++) {
    char part[256];
    snprintf(
        part, sizeof part,
        "%s\"k%d\":{\"$or\":[{\"a\":[1]},{\"b\":[1]},{\"c\":[1]},{\"d\":[1]},{\"e\":[1]},{\"f\":"
        "[1]}]}",
        i ? "," : "", i);
    strcat(many, part);
  }
  strcat(many, "}");
  CHECK(strstr(eb_err(many), "too complex") != NULL);
}

static void test_sns_attributes(void) {
  CASE("sns attribute scope");
  const char *attrs =
      "{\"store\":{\"DataType\":\"String\",\"StringValue\":\"example_corp\"},"
      "\"event\":{\"DataType\":\"String\",\"StringValue\":\"order_placed\"},"
      "\"price_usd\":{\"DataType\":\"Number\",\"StringValue\":\"210.75\"},"
      "\"qty\":{\"DataType\":\"Number\",\"StringValue\":\"3\"},"
      "\"big\":{\"DataType\":\"Number\",\"StringValue\":\"3.015e2\"},"
      "\"interests\":{\"DataType\":\"String.Array\",\"StringValue\":\"[\\\"soccer\\\", "
      "\\\"rugby\\\", 7]\"},"
      "\"bad_array\":{\"DataType\":\"String.Array\",\"StringValue\":\"soccer\"},"
      "\"blob\":{\"DataType\":\"Binary\",\"BinaryValue\":\"AAE=\"},"
      "\"custom\":{\"DataType\":\"String.fancy\",\"StringValue\":\"x\"},"
      "\"ip\":{\"DataType\":\"String\",\"StringValue\":\"10.0.0.255\"},"
      "\"dotted.name\":{\"DataType\":\"String\",\"StringValue\":\"d\"}}";
  CHECK_INT_EQ(sa("{\"store\":[\"example_corp\"]}", attrs), 1);
  CHECK_INT_EQ(sa("{\"store\":[\"other\"]}", attrs), 0);
  CHECK_INT_EQ(sa("{\"store\":[\"example_corp\"],\"event\":[\"order_placed\"]}", attrs), 1);
  CHECK_INT_EQ(sa("{\"store\":[\"example_corp\"],\"event\":[\"order_cancelled\"]}", attrs), 0);
  CHECK_INT_EQ(sa("{\"nope\":[\"x\"]}", attrs), 0); /* no such attribute */
  CHECK_INT_EQ(sa("{\"price_usd\":[{\"numeric\":[\">\",100,\"<=\",300]}]}", attrs), 1);
  CHECK_INT_EQ(sa("{\"price_usd\":[{\"numeric\":[\"<\",100]}]}", attrs), 0);
  CHECK_INT_EQ(sa("{\"qty\":[3]}", attrs), 1);
  CHECK_INT_EQ(sa("{\"qty\":[3.0]}", attrs), 1);
  CHECK_INT_EQ(sa("{\"qty\":[\"3\"]}", attrs), 0); /* a Number is not a string */
  CHECK_INT_EQ(sa("{\"big\":[{\"numeric\":[\"=\",301.5]}]}", attrs), 1);
  CHECK_INT_EQ(sa("{\"store\":[{\"numeric\":[\">\",0]}]}", attrs), 0);
  /* String.Array: any element */
  CHECK_INT_EQ(sa("{\"interests\":[\"rugby\"]}", attrs), 1);
  CHECK_INT_EQ(sa("{\"interests\":[\"tennis\"]}", attrs), 0);
  CHECK_INT_EQ(sa("{\"interests\":[7]}", attrs), 1);
  CHECK_INT_EQ(sa("{\"interests\":[{\"prefix\":\"rug\"}]}", attrs), 1);
  /* 7 is a number, so not one of the excluded strings */
  CHECK_INT_EQ(sa("{\"interests\":[{\"anything-but\":[\"soccer\",\"rugby\"]}]}", attrs), 1);
  CHECK_INT_EQ(sa("{\"i\":[{\"anything-but\":[\"soccer\",\"rugby\"]}]}",
                  "{\"i\":{\"DataType\":\"String.Array\",\"StringValue\":\"[\\\"rugby\\\"]\"}}"),
               0);
  CHECK_INT_EQ(sa("{\"interests\":[{\"anything-but\":[\"soccer\"]}]}", attrs), 1);
  /* a String.Array that is not a JSON array matches nothing */
  CHECK_INT_EQ(sa("{\"bad_array\":[\"soccer\"]}", attrs), 0);
  CHECK_INT_EQ(sa("{\"bad_array\":[{\"anything-but\":\"x\"}]}", attrs), 0);
  CHECK_INT_EQ(sa("{\"bad_array\":[{\"exists\":true}]}", attrs), 0);
  /* Binary attributes are ignored */
  CHECK_INT_EQ(sa("{\"blob\":[{\"exists\":true}]}", attrs), 0);
  CHECK_INT_EQ(sa("{\"blob\":[\"AAE=\"]}", attrs), 0);
  CHECK_INT_EQ(sa("{\"custom\":[\"x\"]}", attrs), 1); /* String.<custom> is a string */
  CHECK_INT_EQ(sa("{\"store\":[{\"exists\":true}]}", attrs), 1);
  CHECK_INT_EQ(sa("{\"store\":[{\"exists\":false}]}", attrs), 0);
  CHECK_INT_EQ(sa("{\"absent\":[{\"exists\":false}]}", attrs), 1);
  CHECK_INT_EQ(sa("{\"absent\":[{\"anything-but\":[\"x\"]}]}", attrs), 0);
  CHECK_INT_EQ(sa("{\"absent\":[{\"anything-but\":[\"x\"]},{\"exists\":false}]}", attrs), 1);
  CHECK_INT_EQ(sa("{\"store\":[{\"anything-but\":[\"example_corp\"]},{\"exists\":false}]}", attrs),
               0);
  CHECK_INT_EQ(sa("{\"event\":[{\"anything-but\":{\"prefix\":\"order-\"}}]}", attrs), 1);
  CHECK_INT_EQ(sa("{\"event\":[{\"anything-but\":{\"prefix\":\"order_\"}}]}", attrs), 0);
  CHECK_INT_EQ(sa("{\"event\":[{\"prefix\":\"order\"}]}", attrs), 1);
  CHECK_INT_EQ(sa("{\"event\":[{\"suffix\":\"_placed\"}]}", attrs), 1);
  CHECK_INT_EQ(sa("{\"event\":[{\"equals-ignore-case\":\"ORDER_PLACED\"}]}", attrs), 1);
  CHECK_INT_EQ(sa("{\"ip\":[{\"cidr\":\"10.0.0.0/24\"}]}", attrs), 1);
  CHECK_INT_EQ(sa("{\"ip\":[{\"cidr\":\"10.1.1.0/24\"}]}", attrs), 0);
  CHECK_INT_EQ(sa("{\"dotted.name\":[\"d\"]}", attrs), 1);
  CHECK_INT_EQ(sa("{\"$or\":[{\"store\":[\"nope\"]},{\"qty\":[3]}]}", attrs), 1);
  CHECK_INT_EQ(sa("{\"$or\":[{\"store\":[\"nope\"]},{\"qty\":[4]}]}", attrs), 0);
  /* "{}" removes the filter: everything passes */
  CHECK_INT_EQ(sa("{}", attrs), 1);
  CHECK_INT_EQ(sa("{ }", "{}"), 1);
  CHECK_INT_EQ(sa("{\"store\":[\"example_corp\"]}", "{}"), 0);
}

static void test_sns_attributes_doc(void) {
  CASE("tw_pattern_sns_attributes");
  json_t *ma = json_loads(
      "{\"s\":{\"DataType\":\"String\",\"StringValue\":\"v\"},"
      "\"n\":{\"DataType\":\"Number\",\"StringValue\":\"12\"},"
      "\"f\":{\"DataType\":\"Number\",\"StringValue\":\"1.5e1\"},"
      "\"a\":{\"DataType\":\"String.Array\",\"StringValue\":\"[1,\\\"x\\\"]\"},"
      "\"b\":{\"DataType\":\"Binary\",\"BinaryValue\":\"AA==\"},"
      "\"x\":{\"Type\":\"String\",\"Value\":\"notification shape\"}}",
      0, NULL);
  json_t *doc = tw_pattern_sns_attributes(ma);
  CHECK_STR_EQ(json_string_value(json_object_get(doc, "s")), "v");
  CHECK(json_is_integer(json_object_get(doc, "n")) &&
        json_integer_value(json_object_get(doc, "n")) == 12);
  CHECK(json_is_real(json_object_get(doc, "f")) &&
        json_real_value(json_object_get(doc, "f")) == 15.0);
  CHECK(json_is_array(json_object_get(doc, "a")) &&
        json_array_size(json_object_get(doc, "a")) == 2);
  CHECK(json_object_get(doc, "b") == NULL);
  CHECK_STR_EQ(json_string_value(json_object_get(doc, "x")), "notification shape");
  json_decref(doc);
  json_decref(ma);
  doc = tw_pattern_sns_attributes(NULL);
  CHECK(json_is_object(doc) && json_object_size(doc) == 0);
  json_decref(doc);
}

static void test_sns_body(void) {
  CASE("sns body scope");
  const char *body =
      "{\"store\":\"example_corp\",\"customer\":{\"interests\":[\"rugby\",\"football\"],"
      "\"tier\":\"gold\"},\"price_usd\":301.5,\"items\":[{\"sku\":\"a1\"},{\"sku\":\"b2\"}],"
      "\"ok\":true,\"none\":null}";
  CHECK_INT_EQ(sb("{\"store\":[\"example_corp\"]}", body), 1);
  CHECK_INT_EQ(sb("{\"customer\":{\"interests\":[\"rugby\"]}}", body), 1);
  CHECK_INT_EQ(sb("{\"customer\":{\"interests\":[\"tennis\"]}}", body), 0);
  CHECK_INT_EQ(sb("{\"customer\":{\"tier\":[{\"prefix\":\"go\"}]}}", body), 1);
  CHECK_INT_EQ(sb("{\"customer.tier\":[\"gold\"]}", body), 1);
  CHECK_INT_EQ(sb("{\"items\":{\"sku\":[\"b2\"]}}", body), 1);
  CHECK_INT_EQ(sb("{\"price_usd\":[{\"numeric\":[\"=\",3.015e2]}]}", body), 1);
  CHECK_INT_EQ(sb("{\"price_usd\":[301.5]}", body), 1);
  CHECK_INT_EQ(sb("{\"price_usd\":[{\"anything-but\":[100,500]}]}", body), 1);
  CHECK_INT_EQ(sb("{\"price_usd\":[{\"anything-but\":[301.5]}]}", body), 0);
  CHECK_INT_EQ(sb("{\"ok\":[true],\"none\":[null]}", body), 1);
  CHECK_INT_EQ(sb("{\"customer\":{\"missing\":[{\"exists\":false}]}}", body), 1);
  CHECK_INT_EQ(sb("{\"customer\":[{\"exists\":true}]}", body), 0); /* an object is no value */
  CHECK_INT_EQ(sb("{\"$or\":[{\"store\":[\"x\"]},{\"customer\":{\"tier\":[\"gold\"]}}]}", body), 1);
  /* the body must be a JSON object */
  CHECK_INT_EQ(sb("{\"store\":[{\"exists\":false}]}", NULL), 0);
  CHECK_INT_EQ(sb("{\"store\":[{\"exists\":false}]}", "\"just a string\""), 0);
  CHECK_INT_EQ(sb("{\"store\":[{\"exists\":false}]}", "[{\"store\":1}]"), 0);
  CHECK_INT_EQ(sb("{}", NULL), 1);
  /* SNS numeric range is -1e9..1e9 */
  CHECK_INT_EQ(sb("{\"n\":[{\"numeric\":[\">\",0]}]}", "{\"n\":2e9}"), 0);
  CHECK_STR_EQ(
      SNS_REASON("{\"n\":[{\"numeric\":[\">\",2e9]}]}"),
      "Invalid parameter: FilterPolicy: Value must be between -1.0E9 and 1.0E9, inclusive");
  CHECK_INT_EQ(sb("{\"n\":[{\"numeric\":[\">=\",-1e9,\"<=\",1e9]}]}", "{\"n\":-1e9}"), 1);
}

static void test_sns_validation(void) {
  CASE("sns validation: AWS's texts");
  /* exact texts AWS returned (the Subscribe form adds "Attributes Reason: ") */
  CHECK_STR_EQ(err_of(TW_PATTERN_SNS_ATTRIBUTES, "{\"key\":[{\"suffix\":null}]}"),
               "Invalid parameter: FilterPolicy: suffix match pattern must be a string\n at "
               "[Source: (String)\"{\"key\":[{\"suffix\":null}]}\"; line: 1, column: 23]");
  CHECK_STR_EQ(
      err_of(TW_PATTERN_SNS_ATTRIBUTES, "{\"key\":[{\"anything-but\":{\"prefix\":false}}]}"),
      "Invalid parameter: FilterPolicy: prefix match pattern must be a string\n at "
      "[Source: (String)\"{\"key\":[{\"anything-but\":{\"prefix\":false}}]}\"; line: 1, "
      "column: 40]");
  CHECK_STR_EQ(
      err_of(TW_PATTERN_SNS_ATTRIBUTES, "{\"key\":[{\"anything-but\":{\"suffix\":\"test\"}}]}"),
      "Invalid parameter: FilterPolicy: Unsupported anything-but pattern: suffix\n at "
      "[Source: (String)\"{\"key\":[{\"anything-but\":{\"suffix\":\"test\"}}]}\"; line: 1, "
      "column: 36]");
  CHECK_STR_EQ(err_of(TW_PATTERN_SNS_ATTRIBUTES, "{\"key\":[{\"numeric\":[1,\"<=\"]}]}"),
               "Invalid parameter: FilterPolicy: Invalid member in numeric match: 1\n at [Source: "
               "(String)\"{\"key\":[{\"numeric\":[1,\"<=\"]}]}\"; line: 1, column: 22]");
  CHECK_STR_EQ(err_of(TW_PATTERN_SNS_ATTRIBUTES, "{\"key_a\":\"value_one\"}"),
               "Invalid parameter: FilterPolicy: \"key_a\" must be an object or an array\n at "
               "[Source: (String)\"{\"key_a\":\"value_one\"}\"; line: 1, column: 11]");
  CHECK_STR_EQ(err_of(TW_PATTERN_SNS_ATTRIBUTES, "{invalid json"),
               "Invalid parameter: FilterPolicy: failed to parse JSON. Unexpected character ('i' "
               "(code 105)): was expecting double-quote to start field name\n at [Source: REDACTED "
               "(`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: 1, column: 2]");
  CHECK_STR_EQ(err_of(TW_PATTERN_SNS_ATTRIBUTES, "invalid-json"),
               "Invalid parameter: FilterPolicy: failed to parse JSON. Unrecognized token "
               "'invalid': was expecting (JSON String, Number, Array, Object or token 'null', "
               "'true' or 'false')\n at [Source: REDACTED "
               "(`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: 1, column: 8]");
  /* syntax errors come first, wherever they are */
  CHECK_STR_EQ(SNS_REASON("{\"a\":[{\"bogus\":1}], \"b\": ]"),
               "Invalid parameter: FilterPolicy: failed to parse JSON. Unexpected character (']' "
               "(code 93)): expected a valid value (JSON String, Number, Array, Object or token "
               "'null', 'true' or 'false')");
  CHECK_STR_EQ(SA_REASON("{\"a\":{\"b\":[\"c\"]}}"),
               "Invalid parameter: Filter policy scope MessageAttributes does not support nested "
               "filter policy");
  CHECK_STR_EQ(SNS_REASON("{\"a\":{\"b\":[\"c\"]}}"), ""); /* body scope nests */
  CHECK_STR_EQ(SA_REASON("{\"a\":[1],\"b\":[1],\"c\":[1],\"d\":[1],\"e\":[1],\"f\":[1]}"),
               "Invalid parameter: FilterPolicy: Filter policy can not have more than 5 keys");
  CHECK_STR_EQ(SA_REASON("{\"a\":[1],\"b\":[1],\"c\":[1],\"d\":[1],\"e\":[1]}"), "");
  /* body scope: only top-level keys count */
  CHECK_STR_EQ(SNS_REASON("{\"a\":[1],\"b\":[1],\"c\":[1],\"d\":[1],\"e\":{\"x\":[1],\"y\":[1],"
                          "\"z\":[1]}}"),
               "");
  CHECK_STR_EQ(SNS_REASON("{\"a\":[1],\"b\":[1],\"c\":[1],\"d\":[1],\"e\":[1],\"f\":{\"x\":[1]}}"),
               "Invalid parameter: FilterPolicy: Filter policy can not have more than 5 keys");
  /* 150 combinations: 5 x 5 x 6 = 150 passes, 151+ does not */
  CHECK_STR_EQ(SA_REASON("{\"a\":[1,2,3,4,5],\"b\":[1,2,3,4,5],\"c\":[1,2,3,4,5,6]}"), "");
  CHECK_STR_EQ(SA_REASON("{\"a\":[1,2,3,4,5],\"b\":[1,2,3,4,5],\"c\":[1,2,3,4,5,6,7]}"),
               "Invalid parameter: FilterPolicy: Filter policy is too complex");
  /* nesting multiplies by depth: 3 x 4 x 2 x 3 = 72 (AWS's example) passes; x3 more fails */
  CHECK_STR_EQ(SNS_REASON("{\"key_a\":{\"key_b\":{\"key_c\":[1,2,3,4]}},\"key_d\":{\"key_e\":[1,2,"
                          "3]}}"),
               "");
  CHECK_STR_EQ(SNS_REASON("{\"key_a\":{\"key_b\":{\"key_c\":[1,2,3,4]}},\"key_d\":{\"key_e\":[1,2,"
                          "3]},\"f\":[1,2,3]}"),
               "Invalid parameter: FilterPolicy: Filter policy is too complex");
  /* $or: its branches add up (100 + 100 > 150) */
  CHECK_STR_EQ(SNS_REASON("{\"$or\":[{\"a\":[1,2,3,4,5,6,7,8,9,10],\"b\":[1,2,3,4,5,6,7,8,9,10]},"
                          "{\"c\":[1,2,3,4,5,6,7,8,9,10],\"d\":[1,2,3,4,5,6,7,8,9,10]}]}"),
               "Invalid parameter: FilterPolicy: Filter policy is too complex");
  CHECK_STR_EQ(SNS_REASON("{\"$or\":[{\"a\":[1,2,3,4,5,6,7,8,9,10]},{\"c\":[1,2,3,4,5,6,7,8,9,10]}]"
                          "}"),
               "");
  /* $or that does not qualify is an ordinary key */
  CHECK_STR_EQ(SNS_REASON("{\"$or\":[{\"numeric\":123},{\"prefix\":\"abc\"}]}"),
               "Invalid parameter: FilterPolicy: Value of numeric must be an array.");
  CHECK_INT_EQ(sb("{\"$or\":[\"x\"]}", "{\"$or\":\"x\"}"), 1);
  /* SNS's own operator set */
  CHECK_STR_EQ(SNS_REASON("{\"a\":[{\"anything-but\":{\"prefix\":\"\"}}]}"),
               "Invalid parameter: FilterPolicy: Null prefix not allowed");
  CHECK_STR_EQ(SNS_REASON("{\"a\":[{\"anything-but\":{\"equals-ignore-case\":\"x\"}}]}"),
               "Invalid parameter: FilterPolicy: Unsupported anything-but pattern: "
               "equals-ignore-case");
  CHECK_STR_EQ(SNS_REASON("{\"a\":[{\"prefix\":{\"equals-ignore-case\":\"x\"}}]}"),
               "Invalid parameter: FilterPolicy: prefix match pattern must be a string");
  CHECK_STR_EQ(SNS_REASON("{\"a\":[{\"cidr\":\"10.0.0.0/33\"}]}"),
               "Invalid parameter: FilterPolicy: IPv4 mask bits must be < 32");
  CHECK_STR_EQ(SNS_REASON("[\"x\"]"), "Invalid parameter: FilterPolicy: Filter is not an object");
  /* the size limit */
  size_t big = 256 * 1024 + 10;
  char *huge = malloc(big + 1);
  memset(huge, ' ', big);
  memcpy(huge, "{\"a\":[1]}", 9);
  huge[big] = 0;
  CHECK(strstr(err_of(TW_PATTERN_SNS_BODY, huge), "256 KB") != NULL);
  CHECK_STR_EQ(err_of(TW_PATTERN_EVENTBRIDGE, huge), "");
  free(huge);
}

static void test_speed(void) {
  CASE("compile once, match many");
  const char *pat =
      "{\"source\":[\"aws.ec2\"],\"detail\":{\"state\":[{\"anything-but\":[\"pending\"]}],"
      "\"c-count\":[{\"numeric\":[\">\",0,\"<=\",5]}],\"ip\":[{\"cidr\":\"10.0.0.0/24\"}],"
      "\"tags\":[{\"wildcard\":\"*b\"}]}}";
  tw_pattern *p =
      tw_pattern_compile(pat, strlen(pat), TW_PATTERN_EVENTBRIDGE, last_err, sizeof last_err);
  json_t *ev = json_loads(EV, 0, NULL);
  CHECK(p != NULL && ev != NULL);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int hits = 0;
  for (int i = 0; i < 100000; i++) hits += tw_pattern_match(p, ev);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("# 100000 matches in %.3f s\n", secs);
  CHECK_INT_EQ(hits, 100000);
  CHECK(secs < 10.0); /* 10k/s would be 10 s; this is far below even under sanitizers */
  json_decref(ev);
  tw_pattern_free(p);
}

/* One compiled pattern shared by threads: each gets the answers it would
 * alone. */
typedef struct {
  const tw_pattern *p;
  json_t *yes, *no;
  int wrong;
} shared_arg;

static void *shared_worker(void *v) {
  shared_arg *a = v;
  for (int i = 0; i < 20000; i++) {
    if (tw_pattern_match(a->p, a->yes) != 1) a->wrong++;
    if (tw_pattern_match(a->p, a->no) != 0) a->wrong++;
  }
  return NULL;
}

static void test_threads(void) {
  CASE("one pattern, many threads");
  const char *pat =
      "{\"detail\":{\"$or\":[{\"tags\":[{\"equals-ignore-case\":\"B\"}]},{\"ip\":[{\"cidr\":"
      "\"10.0.0.0/8\"}]}],\"c-count\":[{\"numeric\":[\">\",1]}]}}";
  tw_pattern *p = tw_pattern_compile(pat, strlen(pat), TW_PATTERN_EVENTBRIDGE, NULL, 0);
  CHECK(p != NULL);
  shared_arg args[4];
  pthread_t th[4];
  for (int i = 0; i < 4; i++) {
    args[i] = (shared_arg){p, json_loads(EV, 0, NULL),
                           json_loads("{\"detail\":{\"c-count\":0}}", 0, NULL), 0};
    pthread_create(&th[i], NULL, shared_worker, &args[i]);
  }
  int wrong = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    wrong += args[i].wrong;
    json_decref(args[i].yes);
    json_decref(args[i].no);
  }
  CHECK_INT_EQ(wrong, 0);
  tw_pattern_free(p);
}

int main(void) {
  test_eb_exact();
  test_eb_numbers();
  test_eb_numeric();
  test_eb_strings();
  test_eb_wildcard();
  test_eb_anything_but();
  test_eb_exists();
  test_eb_cidr();
  test_eb_arrays_nesting();
  test_eb_errors();
  test_sns_attributes();
  test_sns_attributes_doc();
  test_sns_body();
  test_sns_validation();
  test_speed();
  test_threads();
  return tap_done();
}
