/* SigV2 (S3 HmacV1) verification and the StringToSign it rebuilds.
 * Input lines: method, raw path, raw query, vhost bucket ("" none), then
 * "name:value" headers. */
#include "auth/sigv2.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_lines l;
  fz_split(&l, data, size);
  tw_kv headers[FZ_MAX_LINES];
  size_t nh = 0;
  for (size_t i = 4; i < l.n; i++) {
    char *c = memchr(l.line[i], ':', l.len[i]);
    if (!c) continue;
    *c = 0;
    headers[nh].name = l.line[i];
    headers[nh].value = c + 1;
    nh++;
  }
  const char *vh = fz_get(&l, 3);
  tw_sigv2_input in = {.method = fz_get(&l, 0),
                       .raw_path = fz_get(&l, 1),
                       .raw_query = fz_get(&l, 2),
                       .headers = headers,
                       .nheaders = nh,
                       .vhost_bucket = *vh ? vh : NULL};
  tw_sigv2_detect(&in);
  tw_sigv2_info info;
  char msg[2048];
  tw_sigv2_verify(&in, fz_lookup, NULL, 1369353600, &info, msg, sizeof msg);
  tw_buf b;
  tw_buf_init(&b, 256);
  tw_sigv2_string_to_sign(&in, &b);
  tw_buf_free(&b);
  fz_free(&l);
  return 0;
}
