/* S3 request headers read as values: Range (tw_s3_parse_range), the ETag lists
 * of If-Match / If-None-Match (tw_s3_etag_matches) and the HTTP dates of
 * If-Modified-Since / If-Unmodified-Since (tw_s3_parse_http_date).
 * Input lines: Range, an ETag list, a date. */
#include "fuzz_util.h"
#include "s3/s3_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_lines l;
  fz_split(&l, data, size);
  static const int64_t sizes[] = {0, 1, 10, 8388608, INT64_MAX};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    int64_t start = -1, len = -1;
    int r = tw_s3_parse_range(fz_get(&l, 0), sizes[i], &start, &len);
    if (r == 1 && (start < 0 || len <= 0 || start > sizes[i] - len))
      abort(); /* inside the object */
  }
  tw_s3_etag_matches(fz_get(&l, 1), "d41d8cd98f00b204e9800998ecf8427e");
  tw_s3_etag_matches(fz_get(&l, 1), "0123456789abcdef0123456789abcdef-3");
  time_t t;
  tw_s3_parse_http_date(fz_get(&l, 2), &t);
  fz_free(&l);
  return 0;
}
