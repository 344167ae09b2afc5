/* ListObjectsV2 and ListObjects (v1): prefix, delimiter and common prefixes,
 * pagination, url encoding. Keys sort as bytes, as in S3. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3_internal.h"

/* S3's encoding-type=url: everything but unreserved characters and '/'. */
static void url_encode(tw_buf *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~' || c == '/')
      tw_buf_putc(b, (char)c);
    else
      tw_buf_printf(b, "%%%02X", c);
  }
}

static void put_key(tw_buf *b, const char *tag, const char *s, size_t n, int enc) {
  if (!enc) {
    tw_s3_xml_textn(b, tag, s, n);
    return;
  }
  tw_buf tmp;
  tw_buf_init(&tmp, 16 * 1024);
  url_encode(&tmp, s, n);
  tw_s3_xml_textn(b, tag, tmp.data ? tmp.data : "", tmp.len);
  tw_buf_free(&tmp);
}

typedef struct {
  char *s;
  size_t n;
} bytes;

void tw_s3_list_objects(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  int v2 = tw_s3_q(x, "list-type") && !strcmp(tw_s3_q(x, "list-type"), "2");
  const char *prefix = tw_s3_q(x, "prefix");
  const char *delim = tw_s3_q(x, "delimiter");
  const char *enc_type = tw_s3_q(x, "encoding-type");
  const char *start_after = tw_s3_q(x, v2 ? "start-after" : "marker");
  const char *token = v2 ? tw_s3_q(x, "continuation-token") : NULL;
  const char *mk = tw_s3_q(x, "max-keys");
  int fetch_owner = !v2 || (tw_s3_q(x, "fetch-owner") && !strcmp(tw_s3_q(x, "fetch-owner"), "true"));
  if (!prefix) prefix = "";
  if (delim && !*delim) delim = NULL;
  int enc = 0;
  if (enc_type) {
    if (strcmp(enc_type, "url")) {
      tw_buf ex;
      tw_buf_init(&ex, 4096);
      tw_s3_xml_text(&ex, "ArgumentName", "encoding-type");
      tw_s3_xml_text(&ex, "ArgumentValue", enc_type);
      tw_s3_error_key(r, x, TW_ERR_S3_INVALID_ARGUMENT, "Invalid Encoding Method specified in Request",
                      tw_buf_cstr(&ex));
      tw_buf_free(&ex);
      return;
    }
    enc = 1;
  }
  long max_keys = 1000;
  if (mk) {
    char *end;
    max_keys = strtol(mk, &end, 10);
    if (*end || max_keys < 0) {
      tw_s3_error(r, x, TW_ERR_S3_INVALID_ARGUMENT, "Provided max-keys not an integer or within integer range");
      return;
    }
    if (max_keys > 1000) max_keys = 1000;
  }
  int e = tw_s3_bucket_exists(s, x->bucket);
  if (e <= 0) {
    tw_s3_error(r, x, e < 0 ? TW_ERR_INTERNAL : TW_ERR_S3_NO_SUCH_BUCKET, NULL);
    return;
  }
  /* where to start: strictly after this key */
  bytes cursor = {NULL, 0};
  if (token) {
    size_t tl = strlen(token);
    uint8_t *raw = malloc(tl + 4);
    long n = tw_base64_decode(token, tl, raw);
    if (n < 0) {
      free(raw);
      tw_s3_error(r, x, TW_ERR_S3_INVALID_ARGUMENT, "The continuation token provided is incorrect");
      return;
    }
    cursor.s = (char *)raw;
    cursor.n = (size_t)n;
  } else if (start_after && *start_after) {
    cursor.s = strdup(start_after);
    cursor.n = strlen(start_after);
  }
  size_t plen = strlen(prefix);
  /* Continuing after a common prefix (a v1 marker or our v2 token ending in the
   * delimiter) skips every key under it: no UTF-8 key contains a 0xFF byte. */
  if (cursor.s && delim) {
    size_t dl = strlen(delim);
    if (cursor.n >= dl && cursor.n >= plen && !memcmp(cursor.s + cursor.n - dl, delim, dl) &&
        !memcmp(cursor.s, prefix, plen)) {
      char *c = realloc(cursor.s, cursor.n + 2);
      if (c) {
        cursor.s = c;
        cursor.s[cursor.n++] = (char)0xFF;
      }
    }
  }
  sqlite3 *db = tw_store_reader(s->store);
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db,
                         "SELECT key, size, etag, modified_ms, checksums FROM objects WHERE bucket=? AND "
                         "key > ? AND key >= ? ORDER BY key LIMIT 1001",
                         -1, &st, NULL) != SQLITE_OK) {
    free(cursor.s);
    tw_s3_error(r, x, TW_ERR_INTERNAL, NULL);
    return;
  }
  tw_buf contents, prefixes;
  tw_buf_init(&contents, 256u << 20);
  tw_buf_init(&prefixes, 64u << 20);
  long count = 0;
  int truncated = 0, done = 0;
  bytes last = {NULL, 0}; /* the last key or common prefix returned */
  while (!done) {
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, x->bucket, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, cursor.s ? cursor.s : "", (int)cursor.n, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, prefix, (int)plen, SQLITE_STATIC);
    int rows = 0, restart = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
      rows++;
      const char *k = sqlite3_column_blob(st, 0);
      size_t kn = (size_t)sqlite3_column_bytes(st, 0);
      if (!k) k = "";
      if (kn < plen || memcmp(k, prefix, plen)) { /* past the prefix range */
        done = 1;
        break;
      }
      if (count >= max_keys) {
        truncated = max_keys > 0 || count > 0;
        done = 1;
        break;
      }
      const char *dpos = NULL;
      if (delim) {
        size_t dl = strlen(delim);
        for (size_t i = plen; i + dl <= kn; i++)
          if (!memcmp(k + i, delim, dl)) {
            dpos = k + i + dl;
            break;
          }
      }
      if (dpos) {
        size_t cpn = (size_t)(dpos - k);
        tw_buf_puts(&prefixes, "<CommonPrefixes>");
        put_key(&prefixes, "Prefix", k, cpn, enc);
        tw_buf_puts(&prefixes, "</CommonPrefixes>");
        count++;
        free(last.s);
        last.s = malloc(cpn + 1);
        memcpy(last.s, k, cpn);
        last.n = cpn;
        /* skip every key under this prefix: no UTF-8 key has a 0xFF byte */
        free(cursor.s);
        cursor.s = malloc(cpn + 2);
        memcpy(cursor.s, k, cpn);
        cursor.s[cpn] = (char)0xFF;
        cursor.n = cpn + 1;
        restart = 1;
        break;
      }
      char when[32];
      tw_s3_iso8601(sqlite3_column_int64(st, 3), when);
      tw_buf_puts(&contents, "<Contents>");
      put_key(&contents, "Key", k, kn, enc);
      tw_s3_xml_text(&contents, "LastModified", when);
      tw_buf_printf(&contents, "<ETag>&quot;%s&quot;</ETag><Size>%" PRId64 "</Size>",
                    (const char *)sqlite3_column_text(st, 2), (int64_t)sqlite3_column_int64(st, 1));
      if (fetch_owner)
        tw_buf_printf(&contents, "<Owner><ID>%s</ID><DisplayName>tweedle</DisplayName></Owner>",
                      s->account);
      const char *ck = (const char *)sqlite3_column_text(st, 4);
      if (ck) { /* the client's algorithm, or the CRC64NVME S3 adds itself */
        json_t *cj = json_loads(ck, 0, NULL);
        const char *alg = json_string_value(json_object_get(cj, "alg"));
        const char *type = json_string_value(json_object_get(cj, "type")); /* multipart */
        if (alg)
          tw_buf_printf(&contents, "<ChecksumAlgorithm>%s</ChecksumAlgorithm>"
                                   "<ChecksumType>%s</ChecksumType>", alg, type ? type : "FULL_OBJECT");
        json_decref(cj);
      }
      tw_buf_puts(&contents, "<StorageClass>STANDARD</StorageClass></Contents>");
      count++;
      free(last.s);
      last.s = malloc(kn + 1);
      memcpy(last.s, k, kn);
      last.n = kn;
      free(cursor.s);
      cursor.s = malloc(kn + 1);
      memcpy(cursor.s, k, kn);
      cursor.n = kn;
    }
    if (!restart && (done || rows < 1001)) done = 1;
  }
  sqlite3_finalize(st);
  tw_buf b;
  tw_buf_init(&b, 512u << 20);
  tw_s3_xml_begin(&b, "ListBucketResult");
  tw_s3_xml_text(&b, "Name", x->bucket);
  put_key(&b, "Prefix", prefix, plen, enc);
  if (v2) {
    if (token) tw_s3_xml_text(&b, "ContinuationToken", token);
    if (start_after) put_key(&b, "StartAfter", start_after, strlen(start_after), enc);
    tw_buf_printf(&b, "<KeyCount>%ld</KeyCount>", count);
  } else {
    put_key(&b, "Marker", start_after ? start_after : "", start_after ? strlen(start_after) : 0, enc);
  }
  tw_buf_printf(&b, "<MaxKeys>%ld</MaxKeys>", max_keys);
  if (delim) put_key(&b, "Delimiter", delim, strlen(delim), enc);
  if (enc) tw_s3_xml_text(&b, "EncodingType", "url");
  tw_buf_printf(&b, "<IsTruncated>%s</IsTruncated>", truncated ? "true" : "false");
  if (truncated && last.s) {
    if (v2) {
      char *tok = malloc(4 * (last.n / 3 + 2) + 1);
      tw_base64_encode((const uint8_t *)last.s, last.n, tok);
      tw_s3_xml_text(&b, "NextContinuationToken", tok);
      free(tok);
    } else if (delim) {
      put_key(&b, "NextMarker", last.s, last.n, enc);
    }
  }
  tw_buf_append(&b, contents.data ? contents.data : "", contents.len);
  tw_buf_append(&b, prefixes.data ? prefixes.data : "", prefixes.len);
  tw_buf_puts(&b, "</ListBucketResult>");
  tw_buf_free(&contents);
  tw_buf_free(&prefixes);
  free(cursor.s);
  free(last.s);
  tw_s3_respond_xml(r, 200, &b);
}
