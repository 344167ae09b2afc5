/* GetObjectAttributes: GET /bucket/key?attributes with x-amz-object-attributes
 * naming some of ETag, Checksum, ObjectParts, StorageClass, ObjectSize. The
 * object's row answers all of them; a multipart object's parts (sizes and
 * checksums) come from the layout its completion left (s3_mpu.c), paged with
 * x-amz-max-parts and x-amz-part-number-marker. Conditions as GET. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "s3/s3_internal.h"
#include "store/s3_uploads.h"

enum { A_ETAG = 1, A_CHECKSUM = 2, A_PARTS = 4, A_CLASS = 8, A_SIZE = 16 };

static const struct {
  const char *name;
  unsigned bit;
} ATTRS[] = {{"ETag", A_ETAG},
             {"Checksum", A_CHECKSUM},
             {"ObjectParts", A_PARTS},
             {"StorageClass", A_CLASS},
             {"ObjectSize", A_SIZE}};

/* The attributes the header names (a comma-separated list, possibly repeated);
 * answers and returns -1 when it is missing, empty or names another. */
static int wanted_attrs(tw_request *r, s3_ctx *x, unsigned *out) {
  *out = 0;
  int seen = 0;
  for (size_t i = 0; i < r->nheaders; i++) {
    if (strcasecmp(r->headers[i].name, "x-amz-object-attributes")) continue;
    seen = 1;
    const char *p = r->headers[i].value;
    while (p && *p) {
      while (*p == ' ' || *p == '\t' || *p == ',') p++;
      size_t n = strcspn(p, ",");
      size_t m = n;
      while (m && (p[m - 1] == ' ' || p[m - 1] == '\t')) m--;
      if (m) {
        unsigned bit = 0;
        for (size_t k = 0; k < sizeof ATTRS / sizeof ATTRS[0]; k++)
          if (strlen(ATTRS[k].name) == m && !strncmp(p, ATTRS[k].name, m)) bit = ATTRS[k].bit;
        if (!bit) {
          tw_s3_error(r, x, TW_ERR_S3_INVALID_ARGUMENT, "Invalid attribute name specified.");
          return -1;
        }
        *out |= bit;
      }
      p += n;
    }
  }
  if (!seen || !*out) {
    tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST,
                "The x-amz-object-attributes header specifying the attributes to be retrieved "
                "is either missing or empty");
    return -1;
  }
  return 0;
}

/* A non-negative integer header (absent: dflt); answers and returns -1 if not. */
static int int_header(tw_request *r, s3_ctx *x, const char *name, const char *arg, long dflt,
                      long *out) {
  const char *v = tw_req_header(r, name);
  *out = dflt;
  if (!v) return 0;
  char *end;
  long long n = strtoll(v, &end, 10);
  if (!*v || *end || n < 0 || n > 2147483647LL) {
    char msg[160];
    snprintf(msg, sizeof msg, "Argument %s must be an integer between 0 and 2147483647", arg);
    tw_buf ex;
    tw_buf_init(&ex, 4096);
    tw_s3_xml_text(&ex, "ArgumentName", arg);
    tw_s3_xml_text(&ex, "ArgumentValue", v);
    tw_s3_error_key(r, x, TW_ERR_S3_INVALID_ARGUMENT, msg, tw_buf_cstr(&ex));
    tw_buf_free(&ex);
    return -1;
  }
  *out = (long)n;
  return 0;
}

/* <ObjectParts> of a multipart object from its layout {"sizes": [...], "sums": [...]}. */
static void parts_xml(tw_buf *b, json_t *layout, const char *alg, long marker, long max) {
  json_t *sizes = json_object_get(layout, "sizes"), *sums = json_object_get(layout, "sums");
  long count = (long)json_array_size(sizes);
  tw_buf_puts(b, "<ObjectParts>");
  tw_buf_printf(b, "<PartsCount>%ld</PartsCount>", count);
  tw_buf_printf(b, "<PartNumberMarker>%ld</PartNumberMarker>", marker);
  long num = marker, listed = 0;
  tw_buf list;
  tw_buf_init(&list, 16u << 20);
  for (; num < count && listed < max; num++, listed++) {
    tw_buf_puts(&list, "<Part>");
    const char *sum = json_string_value(json_array_get(sums, (size_t)num));
    if (alg && sum) tw_buf_printf(&list, "<Checksum%s>%s</Checksum%s>", alg, sum, alg);
    tw_buf_printf(&list, "<PartNumber>%ld</PartNumber>", num + 1);
    tw_buf_printf(&list, "<Size>%" PRId64 "</Size>",
                  (int64_t)json_integer_value(json_array_get(sizes, (size_t)num)));
    tw_buf_puts(&list, "</Part>");
  }
  int truncated = num < count;
  if (listed) tw_buf_printf(b, "<NextPartNumberMarker>%ld</NextPartNumberMarker>", num);
  tw_buf_printf(b, "<MaxParts>%ld</MaxParts>", max);
  tw_buf_printf(b, "<IsTruncated>%s</IsTruncated>", truncated ? "true" : "false");
  tw_buf_append(b, list.data ? list.data : "", list.len);
  tw_buf_free(&list);
  tw_buf_puts(b, "</ObjectParts>");
}

void tw_s3_get_object_attributes(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  unsigned want;
  long max_parts, marker;
  if (wanted_attrs(r, x, &want) ||
      int_header(r, x, "x-amz-max-parts", "max-parts", 1000, &max_parts) ||
      int_header(r, x, "x-amz-part-number-marker", "part-number-marker", 0, &marker))
    return;
  if (max_parts > 1000) max_parts = 1000;
  tw_s3_obj o;
  if (tw_s3_load_requested(r, x, &o)) { /* ?versionId= (s3_versions.c) */
    tw_s3_row_free(&o);
    return;
  }
  char date[40];
  tw_s3_http_date(o.modified_ms, date);
  int cond = tw_s3_check_conditions(r, &o);
  if (cond == 304) {
    tw_req_respond(r, 304, NULL, "", 0);
    tw_s3_add_common_headers(r);
    char q[96];
    snprintf(q, sizeof q, "\"%s\"", o.etag);
    tw_req_add_header(r, "ETag", q);
    tw_req_add_header(r, "Last-Modified", date);
    goto done;
  }
  if (cond) {
    char extra[96];
    snprintf(extra, sizeof extra, "<Condition>%s</Condition>",
             tw_req_header(r, "If-Match") ? "If-Match" : "If-Unmodified-Since");
    tw_s3_error_key(r, x, TW_ERR_S3_PRECONDITION_FAILED, NULL, extra);
    goto done;
  }
  json_t *layout = NULL;
  if (want & A_PARTS) {
    char *lj = NULL;
    if (tw_store_s3_uploads(s->store)->object_layout(s->store, x->bucket, x->key, x->key_len,
                                                     o.blob, &lj) == 1)
      layout = json_loads(lj, 0, NULL);
    free(lj);
  }
  tw_buf b;
  tw_buf_init(&b, 32u << 20);
  tw_s3_xml_begin(&b, "GetObjectAttributesResponse");
  if (want & A_ETAG) tw_s3_xml_text(&b, "ETag", o.etag); /* unquoted, as S3 gives it here */
  const char *alg = json_string_value(json_object_get(o.checksum, "alg"));
  if ((want & A_CHECKSUM) && alg && json_object_get(o.checksum, "value")) {
    tw_buf_puts(&b, "<Checksum>");
    tw_s3_mpu_sum_xml(&b, o.checksum);
    tw_buf_puts(&b, "</Checksum>");
  }
  if (json_array_size(json_object_get(layout, "sizes")))
    parts_xml(&b, layout, alg, marker, max_parts);
  if (want & A_CLASS) tw_s3_xml_text(&b, "StorageClass", "STANDARD");
  if (want & A_SIZE) tw_buf_printf(&b, "<ObjectSize>%" PRId64 "</ObjectSize>", o.size);
  tw_buf_puts(&b, "</GetObjectAttributesResponse>");
  json_decref(layout);
  tw_s3_respond_xml(r, 200, &b);
  tw_req_add_header(r, "Last-Modified", date);
done:
  tw_s3_row_free(&o);
}
