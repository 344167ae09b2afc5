/* ListObjectsV2 and ListObjects (v1): prefix, delimiter and common prefixes,
 * pagination, url encoding. Keys sort as bytes, as in S3. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3_internal.h"
#include "store/s3_objects.h"

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

void tw_s3_list_key(tw_buf *b, const char *tag, const char *s, size_t n, int enc) {
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

void tw_s3_list_checksum(tw_buf *b, const char *checksums) {
  if (!checksums) return; /* the client's algorithm, or the CRC64NVME S3 adds itself */
  json_t *cj = json_loads(checksums, 0, NULL);
  const char *alg = json_string_value(json_object_get(cj, "alg"));
  const char *type = json_string_value(json_object_get(cj, "type")); /* multipart */
  if (alg)
    tw_buf_printf(b,
                  "<ChecksumAlgorithm>%s</ChecksumAlgorithm>"
                  "<ChecksumType>%s</ChecksumType>",
                  alg, type ? type : "FULL_OBJECT");
  json_decref(cj);
}

int tw_s3_list_params(tw_request *r, s3_ctx *x, int empty_max_keys_ok, int *enc, long *max_keys) {
  const char *enc_type = tw_s3_q(x, "encoding-type");
  const char *mk = tw_s3_q(x, "max-keys");
  *enc = 0;
  if (enc_type) {
    if (strcmp(enc_type, "url")) {
      tw_buf ex;
      tw_buf_init(&ex, 4096);
      tw_s3_xml_text(&ex, "ArgumentName", "encoding-type");
      tw_s3_xml_text(&ex, "ArgumentValue", enc_type);
      tw_s3_error_key(r, x, TW_ERR_S3_INVALID_ARGUMENT,
                      "Invalid Encoding Method specified in Request", tw_buf_cstr(&ex));
      tw_buf_free(&ex);
      return -1;
    }
    *enc = 1;
  }
  *max_keys = 1000;
  if (mk) {
    char *end;
    *max_keys = strtol(mk, &end, 10);
    if (*end || (!*mk && !empty_max_keys_ok) || *max_keys < 0) {
      tw_s3_error(r, x, TW_ERR_S3_INVALID_ARGUMENT,
                  "Provided max-keys not an integer or within integer range");
      return -1;
    }
    if (*max_keys > 1000) *max_keys = 1000;
  }
  return 0;
}

typedef struct {
  char *s;
  size_t n;
} bytes;

/* One listing's progress, row by row (see list_row). */
typedef struct {
  tw_s3 *s;
  const char *prefix;
  size_t plen;
  const char *delim;
  int enc, fetch_owner;
  long max_keys, count;
  int truncated, done, restart, moved;
  bytes cursor; /* where the next page starts: strictly after this key */
  bytes last;   /* the last key or common prefix returned (moved: in this page) */
  tw_buf contents, prefixes;
} list_state;

#define LIST_PAGE 1001 /* rows a query reads at most */

static void set_bytes(bytes *b, const char *k, size_t n, int extra) {
  free(b->s);
  b->s = malloc(n + 1 + (size_t)extra);
  memcpy(b->s, k, n);
  b->n = n;
}

/* A row of the bucket, in key order; 1 stops the page: the listing is done
 * (L->done) or continues past a common prefix (L->restart). The cursor moves
 * only between pages: the page's query reads it. */
static int list_row(void *ud, const tw_s3_object_row *o) {
  list_state *L = ud;
  const char *k = o->key;
  size_t kn = o->key_len, plen = L->plen;
  if (kn < plen || memcmp(k, L->prefix, plen)) { /* past the prefix range */
    L->done = 1;
    return 1;
  }
  if (L->count >= L->max_keys) {
    L->truncated = L->max_keys > 0 || L->count > 0;
    L->done = 1;
    return 1;
  }
  const char *dpos = NULL;
  if (L->delim) {
    size_t dl = strlen(L->delim);
    for (size_t i = plen; i + dl <= kn; i++)
      if (!memcmp(k + i, L->delim, dl)) {
        dpos = k + i + dl;
        break;
      }
  }
  if (dpos) {
    size_t cpn = (size_t)(dpos - k);
    tw_buf_puts(&L->prefixes, "<CommonPrefixes>");
    tw_s3_list_key(&L->prefixes, "Prefix", k, cpn, L->enc);
    tw_buf_puts(&L->prefixes, "</CommonPrefixes>");
    L->count++;
    set_bytes(&L->last, k, cpn, 0);
    L->moved = 1;
    L->restart = 1; /* the next page starts past every key under this prefix */
    return 1;
  }
  char when[32];
  tw_s3_iso8601(o->modified_ms, when);
  tw_buf *c = &L->contents;
  tw_buf_puts(c, "<Contents>");
  tw_s3_list_key(c, "Key", k, kn, L->enc);
  tw_s3_xml_text(c, "LastModified", when);
  tw_buf_printf(c, "<ETag>&quot;%s&quot;</ETag><Size>%" PRId64 "</Size>", o->etag, o->size);
  if (L->fetch_owner)
    tw_s3_object_owner_xml(c, L->s, o->bucket, o->acl);
  tw_s3_list_checksum(c, o->checksums);
  tw_buf_puts(c, "<StorageClass>STANDARD</StorageClass></Contents>");
  L->count++;
  set_bytes(&L->last, k, kn, 0);
  L->moved = 1;
  return 0;
}

void tw_s3_list_objects(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  int v2 = tw_s3_q(x, "list-type") && !strcmp(tw_s3_q(x, "list-type"), "2");
  const char *prefix = tw_s3_q(x, "prefix");
  const char *delim = tw_s3_q(x, "delimiter");
  const char *start_after = tw_s3_q(x, v2 ? "start-after" : "marker");
  const char *token = v2 ? tw_s3_q(x, "continuation-token") : NULL;
  int fetch_owner =
      !v2 || (tw_s3_q(x, "fetch-owner") && !strcmp(tw_s3_q(x, "fetch-owner"), "true"));
  if (!prefix) prefix = "";
  if (delim && !*delim) delim = NULL;
  int enc;
  long max_keys;
  if (tw_s3_list_params(r, x, 1, &enc, &max_keys)) return;
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
  list_state L = {.s = s,
                  .prefix = prefix,
                  .plen = plen,
                  .delim = delim,
                  .enc = enc,
                  .fetch_owner = fetch_owner,
                  .max_keys = max_keys,
                  .cursor = cursor};
  tw_buf_init(&L.contents, 256u << 20);
  tw_buf_init(&L.prefixes, 64u << 20);
  const tw_s3_objects_repo *objects = tw_store_s3_objects(s->store);
  while (!L.done) {
    L.restart = L.moved = 0;
    int rows = objects->list(s->store, x->bucket, L.cursor.s, L.cursor.n, prefix, plen, LIST_PAGE,
                             list_row, &L);
    if (rows < 0) {
      tw_buf_free(&L.contents);
      tw_buf_free(&L.prefixes);
      free(L.cursor.s);
      free(L.last.s);
      tw_s3_error(r, x, TW_ERR_INTERNAL, NULL);
      return;
    }
    if (L.moved) {
      set_bytes(&L.cursor, L.last.s, L.last.n, 1);
      /* past a common prefix, skip every key under it: no UTF-8 key has a 0xFF byte */
      if (L.restart) L.cursor.s[L.cursor.n++] = (char)0xFF;
    }
    if (!L.restart && (L.done || rows < LIST_PAGE)) L.done = 1;
  }
  cursor = L.cursor;
  bytes last = L.last;
  long count = L.count;
  int truncated = L.truncated;
  tw_buf contents = L.contents, prefixes = L.prefixes;
  tw_buf b;
  tw_buf_init(&b, 512u << 20);
  tw_s3_xml_begin(&b, "ListBucketResult");
  tw_s3_xml_text(&b, "Name", x->bucket);
  tw_s3_list_key(&b, "Prefix", prefix, plen, enc);
  if (v2) {
    if (token) tw_s3_xml_text(&b, "ContinuationToken", token);
    if (start_after) tw_s3_list_key(&b, "StartAfter", start_after, strlen(start_after), enc);
    tw_buf_printf(&b, "<KeyCount>%ld</KeyCount>", count);
  } else {
    tw_s3_list_key(&b, "Marker", start_after ? start_after : "",
                   start_after ? strlen(start_after) : 0, enc);
  }
  tw_buf_printf(&b, "<MaxKeys>%ld</MaxKeys>", max_keys);
  if (delim) tw_s3_list_key(&b, "Delimiter", delim, strlen(delim), enc);
  if (enc) tw_s3_xml_text(&b, "EncodingType", "url");
  tw_buf_printf(&b, "<IsTruncated>%s</IsTruncated>", truncated ? "true" : "false");
  if (truncated && last.s) {
    if (v2) {
      char *tok = malloc(4 * (last.n / 3 + 2) + 1);
      tw_base64_encode((const uint8_t *)last.s, last.n, tok);
      tw_s3_xml_text(&b, "NextContinuationToken", tok);
      free(tok);
    } else if (delim) {
      tw_s3_list_key(&b, "NextMarker", last.s, last.n, enc);
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
