/* SigV4 verification: the Authorization header, the presigned query, the
 * canonical request, and the date and query-string parsers underneath.
 * Input lines: method, raw path, raw query, payload hash ("-": none, then the
 * x-amz-content-sha256 header counts), flags (first byte: bit 0 S3 rules),
 * then "name:value" headers. */
#include "auth/sigv4.h"
#include "auth/sigv4_internal.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_lines l;
  fz_split(&l, data, size);
  tw_kv headers[FZ_MAX_LINES];
  size_t nh = 0;
  for (size_t i = 5; i < l.n; i++) {
    char *c = memchr(l.line[i], ':', l.len[i]);
    if (!c) continue;
    *c = 0;
    headers[nh].name = l.line[i];
    headers[nh].value = c + 1;
    nh++;
  }
  const char *payload = fz_get(&l, 3);
  tw_sigv4_input in = {.method = fz_get(&l, 0),
                       .raw_path = fz_get(&l, 1),
                       .raw_query = fz_get(&l, 2),
                       .headers = headers,
                       .nheaders = nh,
                       .payload_sha256_hex = strcmp(payload, "-") ? payload : NULL,
                       .s3 = fz_get(&l, 4)[0] & 1};
  tw_sigv4_info info;
  char msg[2048];
  time_t now = 1369353600; /* 20130524T000000Z, the date of AWS's examples */
  tw_sigv4_verify(&in, fz_lookup, NULL, now, &info, msg, sizeof msg);
  in.region = "us-east-1";
  in.service = in.s3 ? "s3" : "sqs";
  tw_sigv4_verify(&in, fz_lookup, NULL, now, &info, msg, sizeof msg);

  qlist q;
  if (!tw_sigv4_qlist_parse(&q, in.raw_query)) tw_sigv4_qlist_free(&q);
  size_t pl = strlen(in.raw_path);
  char *enc = malloc(3 * pl + 1);
  tw_sigv4_uri_encode(in.raw_path, pl, enc);
  free(enc);
  time_t t;
  for (size_t i = 0; i < nh; i++) {
    tw_sigv4_parse_amz_date(headers[i].value, &t);
    tw_sigv4_parse_http_date(headers[i].value, &t);
  }
  fz_free(&l);
  return 0;
}
