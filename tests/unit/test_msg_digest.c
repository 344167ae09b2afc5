/* sqs/msg_digest: MD5OfMessageAttributes / MD5OfMessageSystemAttributes.
 * Published expectations:
 * - ydb-platform/ydb ydb/core/ymq/actor/attributes_md5_ut.cpp ("AmazonSample" cases):
 *   two String attributes -> d53f3b55..., one Binary -> 23f6bd27...
 * - wcharczuk/sqslite internal/sqslite/md5_test.go: Number + String -> d21ae90c...
 * - localstack tests (test_sqs_message_attrs_md5): Number timestamp -> 235c5c51...
 * - sqs-consumer-style message-attributes-md5-checksum tests (the AWS SQS docs'
 *   City/PostalCode/PricePerGallon/Region/SellerName example): cd28f3b6...,
 *   66d793da..., 10809b55...
 * Others (custom type suffixes, UTF-8 names, empty values, NUL bytes,
 * AWSTraceHeader) were computed with an independent Python implementation:
 *   def enc(b): return struct.pack(">I", len(b)) + b
 *   for name in sorted(attrs, key=str.encode): buf += enc(name) + enc(type) +
 *     (b"\x02" + enc(raw_bytes) if type.startswith("Binary") else b"\x01" + enc(value))
 *   hashlib.md5(buf).hexdigest() */
#include "sqs/msg_digest.h"

#include <string.h>

#include "tap.h"

/* Parses JSON and returns the digest (or "ERR"/"BADJSON") in out. */
static const char *md5_of(const char *json, char out[33], int system) {
  json_error_t err;
  json_t *j = json_loads(json, JSON_ALLOW_NUL, &err);
  if (!j) return strcpy(out, "BADJSON");
  int rc = system ? tw_sqs_md5_system_attributes(j, out) : tw_sqs_md5_message_attributes(j, out);
  json_decref(j);
  if (rc != 0) strcpy(out, "ERR");
  return out;
}

#define MD5(json) md5_of(json, out, 0)

static void test_published(void) {
  char out[33];
  CASE("String attributes (ydb AmazonSampleWithString)");
  CHECK_STR_EQ(MD5("{\"test_attribute_name_2\":{\"DataType\":\"String\",\"StringValue\":\"test_"
                   "attribute_value_2\"},"
                   "\"test_attribute_name_1\":{\"DataType\":\"String\",\"StringValue\":\"test_"
                   "attribute_value_1\"}}"),
               "d53f3b558fe951154770f25cb63dbba9");
  CASE("Binary attribute (ydb AmazonSampleWithBinary)");
  /* base64 of "test_attribute_value" */
  CHECK_STR_EQ(MD5("{\"test_attribute_name\":{\"DataType\":\"Binary\",\"BinaryValue\":"
                   "\"dGVzdF9hdHRyaWJ1dGVfdmFsdWU=\"}}"),
               "23f6bd27ea87aab7dfeadcc9aebee495");
  CASE("Number and String (sqslite)");
  CHECK_STR_EQ(MD5("{\"ordinal\":{\"DataType\":\"Number\",\"StringValue\":\"1\"},"
                   "\"category\":{\"DataType\":\"String\",\"StringValue\":\"test\"}}"),
               "d21ae90c49061e927f57df5f5d72be1f");
  CASE("Number (localstack)");
  CHECK_STR_EQ(MD5("{\"timestamp\":{\"DataType\":\"Number\",\"StringValue\":\"1493147359900\"}}"),
               "235c5c510d26fb653d073faed50ae77c");
  CASE("AWS docs example attributes");
  CHECK_STR_EQ(MD5("{\"SellerName\":{\"DataType\":\"String\",\"StringValue\":\"Example Store\"}}"),
               "cd28f3b68aeee4b2eac9c66f2f694b58");
  CHECK_STR_EQ(MD5("{\"SellerName\":{\"DataType\":\"String\",\"StringValue\":\"Example Store\"},"
                   "\"Region\":{\"DataType\":\"String\",\"StringValue\":\"WA\"},"
                   "\"PostalCode\":{\"DataType\":\"String\",\"StringValue\":\"99065\"},"
                   "\"City\":{\"DataType\":\"String\",\"StringValue\":\"Any City\"}}"),
               "66d793da93becb551e41562575418975");
  CHECK_STR_EQ(MD5("{\"City\":{\"DataType\":\"String\",\"StringValue\":\"Any City\"},"
                   "\"PostalCode\":{\"DataType\":\"String\",\"StringValue\":\"99065\"},"
                   "\"PricePerGallon\":{\"DataType\":\"Number\",\"StringValue\":\"1.99\"},"
                   "\"Region\":{\"DataType\":\"String\",\"StringValue\":\"WA\"},"
                   "\"SellerName\":{\"DataType\":\"String\",\"StringValue\":\"Example Store\"}}"),
               "10809b55e3d9b22c17220b7dbaf283ef");
}

static void test_computed(void) {
  char out[33];
  CASE("custom type suffixes; upper case sorts first");
  CHECK_STR_EQ(MD5("{\"a\":{\"DataType\":\"String.custom\",\"StringValue\":\"x\"},"
                   "\"B\":{\"DataType\":\"Binary.png\",\"BinaryValue\":\"AAEC/w==\"},"
                   "\"n\":{\"DataType\":\"Number.float\",\"StringValue\":\"1.5\"}}"),
               "5184d4c6110bfd250b1e404e1799bd8d");
  CASE("UTF-8 names sort by bytes");
  CHECK_STR_EQ(
      MD5("{\"\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87\":{\"DataType\":\"String\",\"StringValue\":"
          "\"\xd0\xb7\xd0\xbd\xd0\xb0\xd1\x87\xd0\xb5\xd0\xbd\xd0\xb8\xd0\xb5 \xe2\x9c\x93\"},"
          "\"\xc3\xa9moji\":{\"DataType\":\"String\",\"StringValue\":\"\xf0\x9f\x98\x80\"}}"),
      "8165f669157a11b2f49ebe0da58f3824");
  CASE("empty values, NUL bytes");
  CHECK_STR_EQ(MD5("{\"z\":{\"DataType\":\"Binary\",\"BinaryValue\":\"\"},"
                   "\"a\":{\"DataType\":\"Number\",\"StringValue\":\"-0.5e10\"},"
                   "\"M\":{\"DataType\":\"String\",\"StringValue\":\"\"}}"),
               "4bd6781b20261264f1baf84c92a2822f");
  CHECK_STR_EQ(MD5("{\"k\":{\"DataType\":\"String\",\"StringValue\":\"a\\u0000b\"}}"),
               "187186dcc82418808c78376cde5d1014");
  CASE("no attributes");
  CHECK_STR_EQ(MD5("{}"), "d41d8cd98f00b204e9800998ecf8427e");
  CASE("extra members are ignored");
  CHECK_STR_EQ(MD5("{\"timestamp\":{\"DataType\":\"Number\",\"StringValue\":\"1493147359900\","
                   "\"StringListValues\":[]}}"),
               "235c5c510d26fb653d073faed50ae77c");
  CASE("system attributes: AWSTraceHeader");
  CHECK_STR_EQ(
      md5_of("{\"AWSTraceHeader\":{\"DataType\":\"String\",\"StringValue\":"
             "\"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1\"}}",
             out, 1),
      "5ae4d5d7636402d80f4eb6d213245a88");
}

static void test_invalid(void) {
  char out[33];
  CASE("invalid attribute maps");
  CHECK_STR_EQ(MD5("{\"b\":{\"DataType\":\"Binary\",\"BinaryValue\":\"not base64!\"}}"), "ERR");
  CHECK_STR_EQ(MD5("{\"b\":{\"DataType\":\"Binary\",\"StringValue\":\"abc\"}}"), "ERR");
  CHECK_STR_EQ(MD5("{\"s\":{\"DataType\":\"String\",\"BinaryValue\":\"YWJj\"}}"), "ERR");
  CHECK_STR_EQ(MD5("{\"s\":{\"StringValue\":\"x\"}}"), "ERR");
  CHECK_STR_EQ(MD5("{\"s\":{\"DataType\":\"Stringy\",\"StringValue\":\"x\"}}"), "ERR");
  CHECK_STR_EQ(MD5("{\"s\":{\"DataType\":\"\",\"StringValue\":\"x\"}}"), "ERR");
  CHECK_STR_EQ(MD5("{\"s\":{\"DataType\":\"String.Array\"}}"), "ERR");
  CHECK_STR_EQ(MD5("{\"s\":{\"DataType\":5,\"StringValue\":\"x\"}}"), "ERR");
  CHECK_STR_EQ(MD5("{\"s\":{\"DataType\":\"String\",\"StringValue\":5}}"), "ERR");
  CHECK_STR_EQ(MD5("{\"s\":\"x\"}"), "ERR");
  CHECK_STR_EQ(MD5("[]"), "ERR");
  CHECK_INT_EQ(tw_sqs_md5_message_attributes(NULL, out), -1);
}

int main(void) {
  test_published();
  test_computed();
  test_invalid();
  return tap_done();
}
