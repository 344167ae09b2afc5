/* What a completed multipart upload keeps beyond its bytes: its checksum and
 * its part layout.
 *
 * Checksums: CreateMultipartUpload names an algorithm and a type. COMPOSITE
 * (CRC32, CRC32C, SHA1, SHA256) is the algorithm over the concatenated raw
 * part checksums, shown with "-N". FULL_OBJECT (CRC32, CRC32C, CRC64NVME) is
 * the CRC of the whole object; it is combined from the part CRCs (CRC(A||B)
 * from CRC(A), CRC(B) and |B|), so completing still joins the parts in the
 * kernel without reading them. An upload that names no algorithm gets S3's
 * default, a FULL_OBJECT CRC64NVME: its parts keep a CRC64NVME beside any
 * other checksum the client sent. Only a part with no usable CRC (none is
 * known to lack one) would be read again.
 *
 * Layout: the part sizes (and their checksums) are stored with the object,
 * so GET/HEAD ?partNumber=N can answer with exactly that part's bytes. */
#define _FILE_OFFSET_BITS 64
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/xml_in.h"
#include "s3/s3_internal.h"
#include "store/s3_uploads.h"

static const tw_cksum_alg ALGS[] = {TW_CKSUM_CRC32, TW_CKSUM_CRC32C, TW_CKSUM_CRC64NVME,
                                    TW_CKSUM_SHA1, TW_CKSUM_SHA256};
#define NALGS (sizeof ALGS / sizeof ALGS[0])

/* "crc32": AWS's messages name algorithms in lower case. */
static const char *lower_name(tw_cksum_alg a, char out[16]) {
  const char *n = a ? tw_cksum_alg_name(a) : "null";
  size_t i = 0;
  for (; n[i] && i < 15; i++) out[i] = (char)tolower((unsigned char)n[i]);
  out[i] = 0;
  return out;
}

static int invalid_request(tw_request *r, s3_ctx *x, const char *msg) {
  tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST, msg);
  return -1;
}

/* Exactly the base64 of a checksum of `alg` (canonical: re-encoding gives it back). */
static int sum_b64_ok(tw_cksum_alg alg, const char *v, size_t n, uint8_t raw[TW_CKSUM_MAX_RAW]) {
  uint8_t buf[64];
  char again[TW_CKSUM_MAX_B64];
  size_t want = tw_cksum_raw_len(alg);
  if (!want || n > 60 || tw_base64_decode(v, n, buf) != (long)want) return 0;
  tw_base64_encode(buf, want, again);
  if (strlen(again) != n || memcmp(again, v, n)) return 0;
  if (raw) memcpy(raw, buf, want);
  return 1;
}

/* --- CRC combination ---------------------------------------------------------------- */

/* A reflected CRC register as a polynomial mod P: bit w-1 holds x^0 and bit 0
 * holds x^(w-1), so multiplying by x is a right shift that folds x^w back in
 * as P's lower terms (the reflected polynomial). */
typedef struct {
  int width;
  uint64_t poly;
} crc_kind;

static const crc_kind CRC32_KIND = {32, 0xEDB88320u}, CRC32C_KIND = {32, 0x82F63B78u},
                      CRC64NVME_KIND = {64, 0x9A6C9329AC4BC9B5ull};

static uint64_t mul_mod(const crc_kind *k, uint64_t a, uint64_t b) {
  uint64_t p = 0;
  for (int i = k->width - 1; i >= 0; i--) { /* a's terms from x^0 up; b runs through b*x^j */
    if (a >> i & 1) p ^= b;
    b = (b >> 1) ^ (b & 1 ? k->poly : 0);
  }
  return p;
}

/* x^(8n) mod P: what appending n bytes does to the earlier CRC. */
static uint64_t x_pow_bytes(const crc_kind *k, uint64_t n) {
  uint64_t result = 1ull << (k->width - 1), sq = 1ull << (k->width - 9);
  for (; n; n >>= 1) {
    if (n & 1) result = mul_mod(k, result, sq);
    sq = mul_mod(k, sq, sq);
  }
  return result;
}

/* CRC(A||B) from CRC(A), CRC(B) and |B|. With init = xorout = all ones (all
 * three CRCs here) the conditioning terms cancel: CRC(A||B) = CRC(A)*x^(8|B|) + CRC(B). */
static uint64_t crc_combine(const crc_kind *k, uint64_t a, uint64_t b, uint64_t len_b) {
  return mul_mod(k, a, x_pow_bytes(k, len_b)) ^ b;
}

static const crc_kind *crc_kind_of(tw_cksum_alg a) {
  return a == TW_CKSUM_CRC32       ? &CRC32_KIND
         : a == TW_CKSUM_CRC32C    ? &CRC32C_KIND
         : a == TW_CKSUM_CRC64NVME ? &CRC64NVME_KIND
                                   : NULL;
}

uint64_t tw_s3_crc_combine(tw_cksum_alg alg, uint64_t crc_a, uint64_t crc_b, uint64_t len_b) {
  const crc_kind *k = crc_kind_of(alg);
  return k ? crc_combine(k, crc_a, crc_b, len_b) : 0;
}

/* --- CreateMultipartUpload ------------------------------------------------------------ */

int tw_s3_mpu_create_args(tw_request *r, s3_ctx *x, tw_cksum_alg *alg, int *composite) {
  const char *a = tw_req_header(r, "x-amz-checksum-algorithm");
  const char *t = tw_req_header(r, "x-amz-checksum-type");
  *alg = TW_CKSUM_NONE;
  *composite = 0;
  if (!a) {
    if (t)
      return invalid_request(r, x,
                             "The x-amz-checksum-type header can only be used with the "
                             "x-amz-checksum-algorithm header.");
    return 0;
  }
  tw_cksum_alg got = strncasecmp(a, "x-amz-", 6) ? tw_cksum_alg_parse(a) : TW_CKSUM_NONE;
  if (!got)
    return invalid_request(r, x,
                           "Checksum algorithm provided is unsupported. Please try again "
                           "with any of the valid types: [CRC32, CRC32C, SHA1, SHA256]");
  int full = got == TW_CKSUM_CRC64NVME; /* each algorithm's default type */
  if (t) {
    if (!strcasecmp(t, "FULL_OBJECT"))
      full = 1;
    else if (!strcasecmp(t, "COMPOSITE"))
      full = 0;
    else
      return invalid_request(r, x, "Value for x-amz-checksum-type header is invalid.");
  }
  char low[16], msg[128];
  /* SHA1 and SHA256 cannot be combined; CRC64NVME is only ever FULL_OBJECT */
  if (full ? !crc_kind_of(got) : got == TW_CKSUM_CRC64NVME) {
    snprintf(msg, sizeof msg, "The %s checksum type cannot be used with the %s checksum algorithm.",
             full ? "FULL_OBJECT" : "COMPOSITE", lower_name(got, low));
    return invalid_request(r, x, msg);
  }
  *alg = got;
  *composite = !full;
  return 0;
}

/* --- UploadPart ------------------------------------------------------------------------ */

int tw_s3_mpu_part_begin(tw_request *r, s3_ctx *x, tw_cksum_alg alg, int composite) {
  /* x-amz-sdk-checksum-algorithm was checked with the body's (tw_s3_put_sum_args) */
  tw_cksum_alg got = x->cksum_default ? TW_CKSUM_NONE : x->cksum.alg;
  if (alg && got != alg) {
    if (got || composite) {
      char msg[160], want[16], have[16];
      snprintf(
          msg, sizeof msg,
          "Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s",
          lower_name(alg, want), lower_name(got, have));
      return invalid_request(r, x, msg);
    }
    /* FULL_OBJECT: a part sent without its CRC gets one computed, as S3 does */
    tw_cksum_free(&x->cksum);
    if (tw_cksum_init(&x->cksum, alg)) {
      tw_s3_error(r, x, TW_ERR_INTERNAL, NULL);
      return -1;
    }
  } else if (!alg && got && got != TW_CKSUM_CRC64NVME) {
    tw_cksum_init(&x->cksum_extra, TW_CKSUM_CRC64NVME); /* for the object's default checksum */
  }
  return 0;
}

json_t *tw_s3_mpu_part_sums(s3_ctx *x) {
  json_t *m = json_object();
  const char *alg = json_string_value(json_object_get(x->result, "alg"));
  const char *v = json_string_value(json_object_get(x->result, "value"));
  if (alg && v) json_object_set_new(m, alg, json_string(v));
  if (x->cksum_extra.alg) {
    char b[TW_CKSUM_MAX_B64];
    tw_cksum_final_b64(&x->cksum_extra, b);
    json_object_set_new(m, tw_cksum_alg_name(TW_CKSUM_CRC64NVME), json_string(b));
  }
  return m;
}

/* --- CompleteMultipartUpload -------------------------------------------------------------- */

/* The request's one x-amz-checksum-<alg> header (the object's checksum). */
static int object_sum_header(tw_request *r, s3_ctx *x, tw_cksum_alg *alg, const char **value) {
  *alg = TW_CKSUM_NONE;
  *value = NULL;
  for (size_t i = 0; i < NALGS; i++) {
    const char *v = tw_req_header(r, tw_cksum_header(ALGS[i]));
    if (!v) continue;
    if (*alg)
      return invalid_request(r, x,
                             "Expecting a single x-amz-checksum- header. Multiple checksum "
                             "Types are not allowed.");
    *alg = ALGS[i];
    *value = v;
  }
  return 0;
}

/* COMPOSITE: the algorithm over the raw part checksums, in part order. */
static int composite_of(tw_cksum_alg alg, const char **sums, size_t n, char out[TW_CKSUM_MAX_B64]) {
  tw_cksum c;
  if (tw_cksum_init(&c, alg)) return -1;
  for (size_t i = 0; i < n; i++) {
    uint8_t raw[TW_CKSUM_MAX_RAW];
    if (!sum_b64_ok(alg, sums[i], strlen(sums[i]), raw)) {
      tw_cksum_free(&c);
      return -1;
    }
    tw_cksum_update(&c, raw, tw_cksum_raw_len(alg));
  }
  tw_cksum_final_b64(&c, out);
  return 0;
}

static int bad_digest(tw_request *r, s3_ctx *x, tw_cksum_alg alg) {
  char msg[128], low[16];
  snprintf(msg, sizeof msg, "The %s you specified did not match the calculated checksum.",
           lower_name(alg, low));
  tw_s3_error(r, x, TW_ERR_S3_BAD_DIGEST, msg);
  return -1;
}

/* A COMPOSITE header is "<base64>" or "<base64>-<parts>". */
static int split_composite(tw_cksum_alg alg, const char *v, size_t *b64_len, long *parts) {
  const char *dash = strchr(v, '-');
  *b64_len = dash ? (size_t)(dash - v) : strlen(v);
  *parts = -1;
  if (dash) {
    char *end;
    if (!isdigit((unsigned char)dash[1])) return 0;
    *parts = strtol(dash + 1, &end, 10);
    if (*end) return 0;
  }
  return sum_b64_ok(alg, v, *b64_len, NULL);
}

int tw_s3_mpu_check_complete(tw_request *r, s3_ctx *x, tw_cksum_alg alg, int composite,
                             json_t *wanted) {
  if (!alg) return 0; /* S3's default CRC64NVME: the request's checksum headers are not used */
  char msg[256], low[16], low2[16];
  const char *t = tw_req_header(r, "x-amz-checksum-type");
  if (t && strcasecmp(t, "COMPOSITE") && strcasecmp(t, "FULL_OBJECT"))
    return invalid_request(r, x, "Value for x-amz-checksum-type header is invalid.");
  if (t && strcasecmp(t, composite ? "COMPOSITE" : "FULL_OBJECT")) {
    snprintf(msg, sizeof msg,
             "The upload was created using the %s checksum mode. The complete "
             "request must use the same checksum mode.",
             composite ? "COMPOSITE" : "FULL_OBJECT");
    return invalid_request(r, x, msg);
  }
  tw_cksum_alg ha;
  const char *hv;
  if (object_sum_header(r, x, &ha, &hv)) return -1;
  if (ha && ha != alg) {
    snprintf(
        msg, sizeof msg,
        "Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s",
        lower_name(alg, low), lower_name(ha, low2));
    return invalid_request(r, x, msg);
  }
  size_t hlen = hv ? strlen(hv) : 0;
  long hparts = -1;
  if (ha &&
      !(composite ? split_composite(alg, hv, &hlen, &hparts) : sum_b64_ok(alg, hv, hlen, NULL))) {
    snprintf(msg, sizeof msg, "Value for %s header is invalid.", tw_cksum_header(alg));
    return invalid_request(r, x, msg);
  }
  char elem[32];
  snprintf(elem, sizeof elem, "Checksum%s", tw_cksum_alg_name(alg));
  size_t n = json_array_size(wanted), i;
  const char **sums = calloc(n ? n : 1, sizeof *sums);
  json_t *w;
  json_array_foreach(wanted, i, w) {
    const char *v = tw_xml_text(w, elem);
    if (!v && composite) {
      const char *pn = tw_xml_text(w, "PartNumber");
      snprintf(
          msg, sizeof msg,
          "The upload was created using a %s checksum. The complete request "
          "must include the checksum for each part. It was missing for part %.12s in the request.",
          lower_name(alg, low), pn ? pn : "0");
      free(sums);
      return invalid_request(r, x, msg);
    }
    if (v && !sum_b64_ok(alg, v, strlen(v), NULL)) {
      tw_buf extra;
      tw_buf_init(&extra, 4096);
      tw_s3_xml_text(&extra, "ArgumentName", "Checksum");
      tw_buf_printf(&extra, "<ArgumentValue>%s:", tw_cksum_alg_name(alg));
      tw_buf_xml_escape(&extra, v, strlen(v));
      tw_buf_puts(&extra, ";</ArgumentValue>");
      tw_s3_error_key(r, x, TW_ERR_S3_INVALID_ARGUMENT,
                      "Invalid Base64 or multiple checksums present in request",
                      tw_buf_cstr(&extra));
      tw_buf_free(&extra);
      free(sums);
      return -1;
    }
    sums[i] = v;
  }
  /* A COMPOSITE value is checked against the parts the request names. */
  if (ha && composite) {
    char got[TW_CKSUM_MAX_B64];
    int ok = !composite_of(alg, sums, n, got) && strlen(got) == hlen && !memcmp(got, hv, hlen) &&
             (hparts < 0 || (size_t)hparts == n);
    if (!ok) {
      free(sums);
      return bad_digest(r, x, alg);
    }
  }
  free(sums);
  return 0;
}

int tw_s3_mpu_part_sum_ok(tw_cksum_alg alg, json_t *w, const tw_s3_part *p) {
  (void)alg;
  for (size_t i = 0; i < NALGS; i++) {
    char elem[32];
    snprintf(elem, sizeof elem, "Checksum%s", tw_cksum_alg_name(ALGS[i]));
    const char *v = tw_xml_text(w, elem);
    if (!v) continue;
    const char *have = json_string_value(json_object_get(p->sums, tw_cksum_alg_name(ALGS[i])));
    if (!have || strcmp(have, v)) return 0;
  }
  return 1;
}

/* A part's checksum read back from its file (a part stored without it). */
static int blob_sum(tw_s3 *s, const tw_s3_part *p, tw_cksum_alg alg, char out[TW_CKSUM_MAX_B64]) {
  int fd = tw_blob_open(s->blobs, p->blob);
  tw_cksum c;
  if (fd < 0 || tw_cksum_init(&c, alg)) {
    if (fd >= 0) close(fd);
    return -1;
  }
  char buf[1 << 16];
  int64_t off = 0;
  while (off < p->size) {
    ssize_t k = pread(
        fd, buf, p->size - off < (int64_t)sizeof buf ? (size_t)(p->size - off) : sizeof buf, off);
    if (k <= 0) break;
    tw_cksum_update(&c, buf, (size_t)k);
    off += k;
  }
  close(fd);
  tw_cksum_final_b64(&c, out);
  return off == p->size ? 0 : -1;
}

int tw_s3_mpu_object_sum(tw_request *r, s3_ctx *x, tw_cksum_alg alg, int composite,
                         tw_s3_part **parts, size_t n, json_t **checksum, json_t **layout) {
  tw_cksum_alg a = alg ? alg : TW_CKSUM_CRC64NVME;
  const char *name = tw_cksum_alg_name(a);
  json_t *sizes = json_array(), *sums = json_array();
  const char **vals = calloc(n ? n : 1, sizeof *vals);
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    const char *v = json_string_value(json_object_get(parts[i]->sums, name));
    char b[TW_CKSUM_MAX_B64];
    if (!v) {
      if (blob_sum(x->s3, parts[i], a, b)) rc = -1;
      v = b;
    }
    json_array_append_new(sizes, json_integer(parts[i]->size));
    json_array_append_new(sums, json_string(v));
    vals[i] = json_string_value(json_array_get(sums, i));
  }
  char value[TW_CKSUM_MAX_B64 + 16];
  if (!rc && composite) {
    rc = composite_of(a, vals, n, value);
    snprintf(value + strlen(value), sizeof value - strlen(value), "-%zu", n);
  } else if (!rc) {
    uint64_t total = 0; /* the CRC of nothing */
    for (size_t i = 0; i < n; i++) {
      uint8_t raw[TW_CKSUM_MAX_RAW];
      uint64_t c = 0;
      sum_b64_ok(a, vals[i], strlen(vals[i]), raw);
      for (size_t j = 0; j < tw_cksum_raw_len(a); j++) c = c << 8 | raw[j];
      total = tw_s3_crc_combine(a, total, c, (uint64_t)parts[i]->size);
    }
    uint8_t out[8];
    size_t len = tw_cksum_raw_len(a);
    for (size_t j = 0; j < len; j++) out[j] = (uint8_t)(total >> (8 * (len - 1 - j)));
    tw_base64_encode(out, len, value);
  }
  free(vals);
  if (rc) {
    json_decref(sizes);
    json_decref(sums);
    tw_s3_error(r, x, TW_ERR_INTERNAL, "Cannot read the parts' checksums.");
    return -1;
  }
  tw_cksum_alg ha;
  const char *hv;
  if (alg && !composite && !object_sum_header(r, x, &ha, &hv) && ha && strcmp(hv, value)) {
    json_decref(sizes);
    json_decref(sums);
    return bad_digest(r, x, alg);
  }
  *checksum = json_pack("{s:s,s:s,s:s}", "alg", name, "value", value, "type",
                        composite ? "COMPOSITE" : "FULL_OBJECT");
  if (!alg) json_object_set_new(*checksum, "default", json_true());
  *layout = json_pack("{s:o,s:o}", "sizes", sizes, "sums", sums);
  return 0;
}

void tw_s3_mpu_sum_xml(tw_buf *b, json_t *checksum) {
  const char *alg = json_string_value(json_object_get(checksum, "alg"));
  const char *v = json_string_value(json_object_get(checksum, "value"));
  const char *t = json_string_value(json_object_get(checksum, "type"));
  if (!alg || !v) return;
  tw_buf_printf(b, "<Checksum%s>%s</Checksum%s><ChecksumType>%s</ChecksumType>", alg, v, alg,
                t ? t : "FULL_OBJECT");
}

/* --- PutObject and UploadPart: the body's checksum -------------------------------------- */

int tw_s3_sum_value_ok(tw_cksum_alg alg, const char *v) {
  return v && sum_b64_ok(alg, v, strlen(v), NULL);
}

/* The checksum trailer x-amz-trailer announces (NONE without one). S3 takes
 * only x-amz-checksum-<alg> names there, and at most one. */
static int trailer_alg(tw_request *r, s3_ctx *x, tw_cksum_alg *alg) {
  const char *p = tw_req_header(r, "x-amz-trailer");
  *alg = TW_CKSUM_NONE;
  while (p && *p) {
    while (*p == ' ' || *p == '\t' || *p == ',') p++;
    const char *e = p + strcspn(p, ",");
    size_t n = (size_t)(e - p);
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
    if (n) {
      char name[48];
      snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), p);
      tw_cksum_alg a = n < sizeof name ? tw_cksum_alg_parse(name) : TW_CKSUM_NONE;
      if (!a || strcasecmp(name, tw_cksum_header(a)))
        return invalid_request(r, x,
                               "The value specified in the x-amz-trailer header is not supported");
      if (*alg)
        return invalid_request(r, x,
                               "Expecting a single x-amz-checksum- header. Multiple checksum "
                               "Types are not allowed.");
      *alg = a;
    }
    p = e;
  }
  return 0;
}

int tw_s3_put_sum_args(tw_request *r, s3_ctx *x, tw_cksum_alg *alg, const char **value,
                       int *in_trailer) {
  tw_cksum_alg h, t;
  const char *v;
  *alg = TW_CKSUM_NONE;
  *value = NULL;
  *in_trailer = 0;
  if (object_sum_header(r, x, &h, &v) || trailer_alg(r, x, &t)) return -1;
  if (h && t) return invalid_request(r, x, "Expecting a single x-amz-checksum- header");
  if (h && !tw_s3_sum_value_ok(h, v)) {
    char msg[96];
    snprintf(msg, sizeof msg, "Value for %s header is invalid.", tw_cksum_header(h));
    return invalid_request(r, x, msg);
  }
  /* The SDK's note of what it sent must name the header (or trailer) it did send. */
  const char *sdk = tw_req_header(r, "x-amz-sdk-checksum-algorithm");
  tw_cksum_alg got = h ? h : t;
  if (got && sdk && (!strncasecmp(sdk, "x-amz-", 6) || tw_cksum_alg_parse(sdk) != got))
    return invalid_request(r, x, "Value for x-amz-sdk-checksum-algorithm header is invalid.");
  *alg = got;
  *value = h ? v : NULL;
  *in_trailer = t != TW_CKSUM_NONE;
  return 0;
}

/* --- GET / HEAD ?partNumber= ------------------------------------------------------------ */

int tw_s3_part_number_arg(tw_request *r, s3_ctx *x, tw_s3_part_pick *p) {
  memset(p, 0, sizeof *p);
  const char *v = tw_s3_q(x, "partNumber");
  if (!v) return 0;
  if (tw_req_header(r, "Range"))
    return invalid_request(r, x, "Cannot specify both Range header and partNumber query parameter");
  long n = 0;
  size_t i = 0;
  for (; isdigit((unsigned char)v[i]) && n <= 10000; i++) n = n * 10 + (v[i] - '0');
  if (!i || v[i] || n < 1 || n > 10000) {
    tw_buf extra;
    tw_buf_init(&extra, 4096);
    tw_s3_xml_text(&extra, "ArgumentName", "partNumber");
    tw_s3_xml_text(&extra, "ArgumentValue", v);
    tw_s3_error_key(r, x, TW_ERR_S3_INVALID_ARGUMENT,
                    "Part number must be an integer between 1 and 10000, inclusive",
                    tw_buf_cstr(&extra));
    tw_buf_free(&extra);
    return -1;
  }
  p->number = n;
  return 0;
}

int tw_s3_part_pick_of(tw_request *r, s3_ctx *x, const tw_s3_obj *o, tw_s3_part_pick *p) {
  json_t *layout = NULL;
  char *lj = NULL;
  if (tw_store_s3_uploads(x->s3->store)
          ->object_layout(x->s3->store, x->bucket, x->key, x->key_len, o->blob, &lj) == 1)
    layout = json_loads(lj, 0, NULL);
  free(lj);
  /* An object put in one piece (or completed before layouts were kept) is its own part 1. */
  json_t *sizes = json_object_get(layout, "sizes");
  size_t count = json_array_size(sizes);
  if ((size_t)p->number > (count ? count : 1)) {
    char extra[128];
    snprintf(extra, sizeof extra,
             "<PartNumberRequested>%ld</PartNumberRequested>"
             "<ActualPartCount>%zu</ActualPartCount>",
             p->number, count ? count : 1);
    json_decref(layout);
    tw_s3_error_key(r, x, TW_ERR_S3_INVALID_PART_NUMBER, NULL, extra);
    return -1;
  }
  p->start = 0;
  p->len = o->size;
  if (count) {
    for (long i = 0; i + 1 < p->number; i++)
      p->start += json_integer_value(json_array_get(sizes, i));
    p->len = json_integer_value(json_array_get(sizes, p->number - 1));
    p->count = (int)count;
    const char *sum =
        json_string_value(json_array_get(json_object_get(layout, "sums"), p->number - 1));
    snprintf(p->sum, sizeof p->sum, "%s", sum ? sum : "");
  }
  json_decref(layout);
  return 0;
}
