/* logs/logs_filter.c: CloudWatch Logs filter patterns (terms, phrases, ?OR,
 * -exclusion, JSON patterns), and core/trace.c: X-Amzn-Trace-Id / W3C
 * traceparent to X-Ray form. */
#include <stdio.h>
#include <string.h>

#include "core/trace.h"
#include "logs/logs.h"
#include "tap.h"

/* 1 match, 0 no match, -1 the pattern did not compile. */
static int m(const char *pat, const char *msg) {
  char err[512];
  tw_log_filter *f = tw_log_filter_compile(pat, err, sizeof err);
  if (!f) return -1;
  int r = tw_log_filter_match(f, msg, strlen(msg));
  tw_log_filter_free(f);
  return r;
}

int main(void) {
  CASE("terms");
  CHECK(m("", "anything") == 1);
  CHECK(m("ERROR", "an ERROR here") == 1);
  CHECK(m("ERROR", "an error here") == 0);
  CHECK(m("ERROR disk", "ERROR: disk full") == 1);
  CHECK(m("ERROR disk", "ERROR: memory") == 0);
  CHECK(m("\"disk full\"", "ERROR: disk full") == 1);
  CHECK(m("\"disk full\"", "full disk") == 0);
  CHECK(m("?WARN ?ERROR", "WARN x") == 1);
  CHECK(m("?WARN ?ERROR", "INFO x") == 0);
  CHECK(m("ERROR -health", "ERROR health check") == 0);
  CHECK(m("ERROR -health", "ERROR db") == 1);
  CHECK(m("\"unterminated", "x") == -1);
  CHECK(m("[ip, user]", "1.2.3.4 bob") == -1);

  CASE("json");
  const char *doc =
      "{\"level\":\"error\",\"latency\":12.5,\"user\":\"bob\",\"ok\":false,"
      "\"none\":null,\"req\":{\"path\":\"/api/jobs\",\"ids\":[7,8]}}";
  CHECK(m("{ $.level = \"error\" }", doc) == 1);
  CHECK(m("{ $.level = \"err\" }", doc) == 0);
  CHECK(m("{ $.level = \"err*\" }", doc) == 1);
  CHECK(m("{ $.level != \"error\" }", doc) == 0);
  CHECK(m("{ $.latency > 12 }", doc) == 1);
  CHECK(m("{ $.latency >= 12.5 && $.latency <= 12.5 }", doc) == 1);
  CHECK(m("{ $.latency < 12 }", doc) == 0);
  CHECK(m("{ $.user = \"alice\" || $.user = \"bob\" }", doc) == 1);
  CHECK(m("{ ($.user = \"alice\" || $.user = \"bob\") && $.latency > 100 }", doc) == 0);
  CHECK(m("{ $.req.path = \"*/jobs\" }", doc) == 1);
  CHECK(m("{ $.req.ids[1] = 8 }", doc) == 1);
  CHECK(m("{ $.ok IS FALSE }", doc) == 1);
  CHECK(m("{ $.none IS NULL }", doc) == 1);
  CHECK(m("{ $.missing NOT EXISTS }", doc) == 1);
  CHECK(m("{ $.user NOT EXISTS }", doc) == 0);
  CHECK(m("{ $.missing = \"x\" }", doc) == 0);
  CHECK(m("{ $.level = \"error\" }", "not json") == 0);
  CHECK(m("{ $.level = }", doc) == -1);
  CHECK(m("{ $.level > \"a\" }", doc) == -1);
  CHECK(m("{ $.level = \"a\" ", doc) == -1);
  CHECK(m("{ level = \"a\" }", doc) == -1);

  CASE("length");
  /* FilterPattern is at most 1024 characters; deeper nesting than that once
   * overflowed the parser's stack (fuzz: corpus/log_filter/deep-parens-20000) */
  static char big[40100];
  size_t n = 0;
  big[n++] = '{';
  for (int i = 0; i < 20000; i++) big[n++] = '(';
  memcpy(big + n, "$.a=1", 5), n += 5;
  for (int i = 0; i < 20000; i++) big[n++] = ')';
  big[n++] = '}';
  big[n] = 0;
  CHECK(m(big, "{\"a\":1}") == -1);
  n = 0;
  big[n++] = '{';
  for (int i = 0; i < 508; i++) big[n++] = '(';
  memcpy(big + n, "$.a=1", 5), n += 5;
  for (int i = 0; i < 508; i++) big[n++] = ')';
  big[n++] = ' ';
  big[n++] = '}';
  big[n] = 0;
  CHECK(n == 1024 && m(big, "{\"a\":1}") == 1);
  memset(big, 'x', 1025);
  big[1025] = 0;
  CHECK(m(big, "x") == -1);
  for (int i = 0; i < 2048; i += 2) big[i] = '\xc3', big[i + 1] = '\xa9'; /* 1024 x U+00E9 */
  big[2048] = 0;
  CHECK(m(big, big) == 1); /* characters count, not bytes */
  strcat(big, "x");
  CHECK(m(big, big) == -1);

  CASE("trace");
  char out[300];
  const char *xray = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
  CHECK(tw_trace_header(xray, NULL, out, sizeof out) == 1);
  CHECK_STR_EQ(out, xray);
  CHECK(tw_trace_header(NULL, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", out,
                        sizeof out) == 1);
  CHECK_STR_EQ(out, "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1");
  CHECK(tw_trace_header(NULL, "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-00", out,
                        sizeof out) == 1);
  CHECK_STR_EQ(out, "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=0");
  CHECK(tw_trace_header(xray, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", out,
                        sizeof out) == 1);
  CHECK_STR_EQ(out, xray);
  CHECK(tw_trace_header("garbage", NULL, out, sizeof out) == 0);
  CHECK(tw_trace_header(NULL, "00-00000000000000000000000000000000-00f067aa0ba902b7-01", out,
                        sizeof out) == 0);
  CHECK(tw_trace_header(NULL, "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", out,
                        sizeof out) == 0);
  CHECK(tw_trace_header(NULL, "00-4bf92f35-00f067aa0ba902b7-01", out, sizeof out) == 0);
  CHECK_STR_EQ(out, "");
  return tap_done();
}
