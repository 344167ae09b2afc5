/* GetObject / HeadObject: conditions (If-Match, If-Modified-Since...), ranges,
 * the response headers, the body by sendfile. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/xml_in.h"
#include "s3/s3_internal.h"
#include "store/s3_objects.h"
#include "events/bus.h"

int tw_s3_etag_matches(const char *list, const char *etag) {
  /* a comma-separated list of quoted or bare etags, or "*" */
  const char *p = list;
  while (*p) {
    while (*p == ' ' || *p == ',') p++;
    if (!*p) break;
    const char *e = p;
    while (*e && *e != ',') e++;
    const char *a = p, *b = e;
    while (b > a && b[-1] == ' ') b--;
    if (b - a >= 2 && *a == '"' && b[-1] == '"') a++, b--;
    if ((b - a == 1 && *a == '*') ||
        ((size_t)(b - a) == strlen(etag) && !strncmp(a, etag, (size_t)(b - a))))
      return 1;
    p = e;
  }
  return 0;
}

int tw_s3_parse_http_date(const char *s, time_t *out) {
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char *fmts[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                        "%a %b %d %H:%M:%S %Y", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.000Z"};
  for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, fmts[i], &tm);
    if (end && !*end) {
      *out = timegm(&tm);
      return 0;
    }
  }
  return -1;
}

/* 0: go on; else the status to answer (304 or 412). */
int tw_s3_check_conditions(tw_request *r, const tw_s3_obj *o) {
  const char *im = tw_req_header(r, "If-Match");
  const char *inm = tw_req_header(r, "If-None-Match");
  const char *ims = tw_req_header(r, "If-Modified-Since");
  const char *ius = tw_req_header(r, "If-Unmodified-Since");
  time_t mod = (time_t)(o->modified_ms / 1000), t;
  if (im && !tw_s3_etag_matches(im, o->etag)) return 412;
  if (!im && ius && !tw_s3_parse_http_date(ius, &t) && mod > t) return 412;
  if (inm && tw_s3_etag_matches(inm, o->etag)) return 304;
  if (!inm && ims && !tw_s3_parse_http_date(ims, &t) && mod <= t) return 304;
  return 0;
}

/* A number of a Range: blanks, then digits (no sign: strtoll alone would take
 * one, and "bytes= -5-9" made a negative start). */
static int range_digits(const char *s) {
  while (*s == ' ' || *s == '\t') s++;
  return isdigit((unsigned char)*s);
}

/* Range: bytes=a-b | a- | -n. 1: range set; 0: none/ignored; -1: unsatisfiable. */
static int parse_range(const char *h, int64_t size, int64_t *start, int64_t *len) {
  if (!h || strncmp(h, "bytes=", 6) || strchr(h, ',')) return 0;
  const char *p = h + 6;
  char *end;
  if (*p == '-') {
    if (!range_digits(p + 1)) return 0;
    long long n = strtoll(p + 1, &end, 10);
    if (*end || end == p + 1) return 0;
    if (n <= 0 || size == 0) return -1;
    if (n > size) n = size;
    *start = size - n;
    *len = n;
    return 1;
  }
  if (!range_digits(p)) return 0;
  long long a = strtoll(p, &end, 10);
  if (*end != '-') return 0;
  const char *q = end + 1;
  long long b = size - 1;
  if (*q) {
    if (!range_digits(q)) return 0;
    b = strtoll(q, &end, 10);
    if (*end || b < a) return 0;
  }
  if (a >= size) return -1;
  if (b >= size) b = size - 1;
  *start = a;
  *len = b - a + 1;
  return 1;
}

int tw_s3_parse_range(const char *h, int64_t size, int64_t *start, int64_t *len) {
  return parse_range(h, size, start, len);
}

static void add_object_headers(tw_request *r, s3_ctx *x, const tw_s3_obj *o) {
  char buf[96];
  snprintf(buf, sizeof buf, "\"%s\"", o->etag);
  tw_req_add_header(r, "ETag", buf);
  char date[40];
  tw_s3_http_date(o->modified_ms, date);
  tw_req_add_header(r, "Last-Modified", date);
  tw_req_add_header(r, "Accept-Ranges", "bytes");
  const char *ct = tw_s3_q(x, "response-content-type");
  tw_req_add_header(r, "Content-Type",
                    ct                ? ct
                    : o->content_type ? o->content_type
                                      : "binary/octet-stream");
  const char *k;
  json_t *v;
  json_object_foreach(o->headers, k, v) tw_req_add_header(r, k, json_string_value(v));
  static const char *overrides[][2] = {{"response-cache-control", "Cache-Control"},
                                       {"response-content-disposition", "Content-Disposition"},
                                       {"response-content-encoding", "Content-Encoding"},
                                       {"response-content-language", "Content-Language"},
                                       {"response-expires", "Expires"}};
  for (size_t i = 0; i < sizeof overrides / sizeof overrides[0]; i++) {
    const char *ov = tw_s3_q(x, overrides[i][0]);
    if (ov) tw_req_add_header(r, overrides[i][1], ov);
  }
  json_object_foreach(o->meta, k, v) {
    char name[300];
    snprintf(name, sizeof name, "x-amz-meta-%s", k);
    tw_req_add_header(r, name, json_string_value(v));
  }
  if (json_array_size(o->tags)) {
    char n[24];
    snprintf(n, sizeof n, "%zu", json_array_size(o->tags));
    tw_req_add_header(r, "x-amz-tagging-count", n);
  }
  tw_s3_lifecycle_expiration_header(r, x, o);
}

void tw_s3_get_object(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  tw_s3_part_pick pick; /* ?partNumber= (s3_mpu.c) */
  if (tw_s3_part_number_arg(r, x, &pick)) return;
  tw_s3_obj o;
  if (tw_s3_load_requested(r, x, &o)) { /* ?versionId=, delete markers (s3_versions.c) */
    tw_s3_row_free(&o);
    return;
  }
  int cond = tw_s3_check_conditions(r, &o);
  if (cond) {
    if (cond == 304) {
      tw_req_respond(r, 304, NULL, "", 0);
      tw_s3_add_common_headers(r);
      char buf[96];
      snprintf(buf, sizeof buf, "\"%s\"", o.etag);
      tw_req_add_header(r, "ETag", buf);
    } else {
      char extra[96];
      snprintf(extra, sizeof extra, "<Condition>%s</Condition>",
               tw_req_header(r, "If-Match") ? "If-Match" : "If-Unmodified-Since");
      tw_s3_error_key(r, x, TW_ERR_S3_PRECONDITION_FAILED, NULL, extra);
    }
    tw_s3_row_free(&o);
    return;
  }
  int64_t start = 0, len = o.size;
  int ranged;
  if (pick.number) {
    if (tw_s3_part_pick_of(r, x, &o, &pick)) {
      tw_s3_row_free(&o);
      return;
    }
    start = pick.start, len = pick.len, ranged = len > 0;
  } else {
    ranged = parse_range(tw_req_header(r, "Range"), o.size, &start, &len);
  }
  if (ranged < 0) {
    tw_buf extra;
    tw_buf_init(&extra, 4096);
    const char *rh = tw_req_header(r, "Range");
    tw_s3_xml_text(&extra, "RangeRequested", rh);
    tw_buf_printf(&extra, "<ActualObjectSize>%" PRId64 "</ActualObjectSize>", o.size);
    tw_s3_error_key(r, x, TW_ERR_S3_INVALID_RANGE, NULL, tw_buf_cstr(&extra));
    tw_buf_free(&extra);
    char cr[64];
    snprintf(cr, sizeof cr, "bytes */%" PRId64, o.size);
    tw_req_add_header(r, "Content-Range", cr);
    tw_s3_row_free(&o);
    return;
  }
  int status = ranged ? 206 : 200;
  void *mem;
  size_t mem_len;
  int in_mem = o.size == 0 ? 0 : tw_blob_read_inline(s->blobs, o.blob, &mem, &mem_len);
  if (o.size == 0) {
    tw_req_respond(r, status, NULL, "", 0);
  } else if (in_mem == 1 && (uint64_t)(start + len) <= mem_len) { /* a small body: from memory */
    if (start) memmove(mem, (char *)mem + start, (size_t)len);
    tw_req_respond_owned(r, status, NULL, mem, (size_t)len);
  } else {
    if (in_mem == 1) free(mem);
    int fd = in_mem ? -1 : tw_blob_open(s->blobs, o.blob);
    if (fd < 0) {
      tw_s3_row_free(&o);
      /* An overwrite or delete committed between reading the row and opening
       * its blob (which it then removed): read the row again. */
      if (x->get_retries++ < 5) {
        tw_s3_get_object(r, x);
        return;
      }
      tw_s3_error(r, x, TW_ERR_INTERNAL, "The object's data is missing.");
      return;
    }
    tw_req_respond_fd(r, status, fd, (uint64_t)start, (uint64_t)len);
  }
  tw_s3_add_common_headers(r);
  add_object_headers(r, x, &o);
  const char *mode = tw_req_header(r, "x-amz-checksum-mode");
  /* the checksum of exactly the bytes sent: the object's, or one part's */
  const char *sum = pick.count ? (pick.sum[0] ? pick.sum : NULL)
                    : start == 0 && len == o.size
                        ? json_string_value(json_object_get(o.checksum, "value"))
                        : NULL;
  if (sum && mode && !strcasecmp(mode, "ENABLED")) {
    const char *alg = json_string_value(json_object_get(o.checksum, "alg"));
    const char *type = json_string_value(json_object_get(o.checksum, "type"));
    tw_req_add_header(r, tw_cksum_header(tw_cksum_alg_parse(alg)), sum);
    tw_req_add_header(r, "x-amz-checksum-type", type ? type : "FULL_OBJECT");
  }
  if (pick.count) {
    char n[16];
    snprintf(n, sizeof n, "%d", pick.count);
    tw_req_add_header(r, "x-amz-mp-parts-count", n);
  }
  if (ranged) {
    char cr[96];
    snprintf(cr, sizeof cr, "bytes %" PRId64 "-%" PRId64 "/%" PRId64, start, start + len - 1,
             o.size);
    tw_req_add_header(r, "Content-Range", cr);
  }
  tw_s3_row_free(&o);
}
