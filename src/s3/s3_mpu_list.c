/* Multipart uploads: ListParts and ListMultipartUploads. */
#define _FILE_OFFSET_BITS 64
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/xml_in.h"
#include "s3/s3_internal.h"
#include "events/bus.h"
#include "store/s3_uploads.h"

static void owner(tw_buf *b, const char *tag, const char *account) {
  tw_buf_printf(b, "<%s><ID>%s</ID><DisplayName>tweedle</DisplayName></%s>", tag, account, tag);
}

void tw_s3_list_parts(tw_request *r, s3_ctx *x) {
  s3_upload_row u;
  if (tw_s3_mpu_this_upload(r, x, &u)) return;
  const char *alg = tw_cksum_alg_name(u.alg), *type = u.composite ? "COMPOSITE" : "FULL_OBJECT";
  tw_s3_mpu_upload_free(&u);
  const char *upload = tw_s3_q(x, "uploadId");
  long max = 1000, marker = 0;
  if (tw_s3_q(x, "max-parts")) max = strtol(tw_s3_q(x, "max-parts"), NULL, 10);
  if (tw_s3_q(x, "part-number-marker")) marker = strtol(tw_s3_q(x, "part-number-marker"), NULL, 10);
  if (max < 0 || max > 1000) max = 1000;
  size_t n; /* one more than asked for tells whether the listing is truncated */
  tw_s3_part *parts = tw_s3_mpu_load_parts(x->s3, upload, marker, (size_t)max + 1, &n);
  tw_buf b;
  tw_buf_init(&b, 16u << 20);
  tw_s3_xml_begin(&b, "ListPartsResult");
  tw_s3_xml_text(&b, "Bucket", x->bucket);
  tw_s3_mpu_xml_key(&b, x);
  tw_s3_xml_text(&b, "UploadId", upload);
  tw_buf_printf(&b, "<PartNumberMarker>%ld</PartNumberMarker>", marker);
  tw_buf body;
  tw_buf_init(&body, 16u << 20);
  long count = 0, last = marker;
  int truncated = 0;
  for (size_t i = 0; i < n; i++) {
    if (parts[i].num <= marker) continue;
    if (count == max) {
      truncated = 1;
      break;
    }
    tw_buf_printf(&body, "<Part><PartNumber>%ld</PartNumber>", parts[i].num);
    char when[32];
    tw_s3_iso8601(parts[i].modified_ms, when);
    tw_s3_xml_text(&body, "LastModified", when);
    tw_buf_printf(&body, "<ETag>&quot;%s&quot;</ETag><Size>%" PRId64 "</Size>", parts[i].etag,
                  parts[i].size);
    const char *sum = alg ? json_string_value(json_object_get(parts[i].sums, alg)) : NULL;
    if (sum) tw_buf_printf(&body, "<Checksum%s>%s</Checksum%s>", alg, sum, alg);
    tw_buf_puts(&body, "</Part>");
    count++;
    last = parts[i].num;
  }
  tw_buf_printf(&b,
                "<NextPartNumberMarker>%ld</NextPartNumberMarker><MaxParts>%ld</MaxParts>"
                "<IsTruncated>%s</IsTruncated>",
                last, max, truncated ? "true" : "false");
  tw_buf_append(&b, body.data ? body.data : "", body.len);
  tw_buf_free(&body);
  owner(&b, "Initiator", x->s3->account);
  owner(&b, "Owner", x->s3->account);
  tw_buf_puts(&b, "<StorageClass>STANDARD</StorageClass>");
  if (alg)
    tw_buf_printf(&b, "<ChecksumAlgorithm>%s</ChecksumAlgorithm><ChecksumType>%s</ChecksumType>",
                  alg, type);
  tw_buf_puts(&b, "</ListPartsResult>");
  tw_s3_mpu_free_parts(parts, n);
  tw_s3_respond_xml(r, 200, &b);
}

typedef struct {
  tw_s3 *s;
  tw_buf *body;
  long count, max;
  int truncated;
  char *next_key, *next_id;
} uploads_acc;

static int add_upload(void *ud, const tw_s3_upload *u) {
  uploads_acc *a = ud;
  if (a->count == a->max) {
    a->truncated = 1;
    return 1;
  }
  tw_buf *body = a->body;
  tw_buf_puts(body, "<Upload>");
  tw_s3_xml_textn(body, "Key", u->key, u->key_len);
  tw_s3_xml_text(body, "UploadId", u->id);
  owner(body, "Initiator", a->s->account);
  owner(body, "Owner", a->s->account);
  char when[32];
  tw_s3_iso8601(u->initiated_ms, when);
  tw_buf_puts(body, "<StorageClass>STANDARD</StorageClass>");
  tw_s3_xml_text(body, "Initiated", when);
  if (u->checksum_algo && u->checksum_type)
    tw_buf_printf(body, "<ChecksumAlgorithm>%s</ChecksumAlgorithm><ChecksumType>%s</ChecksumType>",
                  u->checksum_algo, u->checksum_type);
  tw_buf_puts(body, "</Upload>");
  free(a->next_key);
  free(a->next_id);
  a->next_key = strndup(u->key, u->key_len);
  a->next_id = strdup(u->id);
  a->count++;
  return 0;
}

void tw_s3_list_uploads(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  if (tw_s3_bucket_exists(s, x->bucket) <= 0) {
    tw_s3_error(r, x, TW_ERR_S3_NO_SUCH_BUCKET, NULL);
    return;
  }
  const char *prefix = tw_s3_q(x, "prefix");
  const char *key_marker = tw_s3_q(x, "key-marker");
  long max = tw_s3_q(x, "max-uploads") ? strtol(tw_s3_q(x, "max-uploads"), NULL, 10) : 1000;
  if (max < 0 || max > 1000) max = 1000;
  tw_buf b, body;
  tw_buf_init(&body, 16u << 20);
  uploads_acc a = {.s = s, .body = &body, .max = max};
  if (tw_s3_mpu_uploads(s)->list(s->store, x->bucket, prefix, key_marker,
                                 key_marker ? strlen(key_marker) : 0, add_upload, &a)) {
    tw_buf_free(&body);
    free(a.next_key);
    free(a.next_id);
    tw_s3_error(r, x, TW_ERR_INTERNAL, NULL);
    return;
  }
  tw_buf_init(&b, 16u << 20);
  tw_s3_xml_begin(&b, "ListMultipartUploadsResult");
  tw_s3_xml_text(&b, "Bucket", x->bucket);
  tw_s3_xml_text(&b, "KeyMarker", key_marker ? key_marker : "");
  tw_s3_xml_text(&b, "UploadIdMarker", "");
  if (a.truncated) {
    tw_s3_xml_text(&b, "NextKeyMarker", a.next_key);
    tw_s3_xml_text(&b, "NextUploadIdMarker", a.next_id);
  }
  if (prefix) tw_s3_xml_text(&b, "Prefix", prefix);
  tw_buf_printf(&b, "<MaxUploads>%ld</MaxUploads><IsTruncated>%s</IsTruncated>", max,
                a.truncated ? "true" : "false");
  tw_buf_append(&b, body.data ? body.data : "", body.len);
  tw_buf_free(&body);
  tw_buf_puts(&b, "</ListMultipartUploadsResult>");
  free(a.next_key);
  free(a.next_id);
  tw_s3_respond_xml(r, 200, &b);
}
