/* AWS Signature Version 4: signing requests and presigning URLs, for tweedle's
 * own clients (bench, worker) and the presigned URLs the gateway hands out. The
 * canonical request and the signature are sigv4_canon.c's, as verification's are. */
#include "auth/sigv4.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_text.h"
#include "auth/sigv4_internal.h"
#include "core/buf.h"
#include "core/crypto.h"

static int name_icmp(const void *a, const void *b) {
  const char *x = *(const char *const *)a, *y = *(const char *const *)b;
  for (;; x++, y++) {
    int cx = lower((unsigned char)*x), cy = lower((unsigned char)*y);
    if (cx != cy || !cx) return cx - cy;
  }
}

/* "a;b;c": every header name but Authorization, lower-case, sorted, unique. */
static int signed_header_list(const tw_sigv4_input *in, tw_buf *out) {
  if (in->nheaders == 0) return -1;
  const char **names = malloc(in->nheaders * sizeof *names);
  if (!names) return -1;
  size_t n = 0;
  for (size_t i = 0; i < in->nheaders; i++) {
    const char *hn = in->headers[i].name;
    if (hn && *hn && !tw_auth_ieq(hn, strlen(hn), "authorization", 13)) names[n++] = hn;
  }
  qsort(names, n, sizeof *names, name_icmp);
  for (size_t i = 0; i < n; i++) {
    if (i && name_icmp(&names[i - 1], &names[i]) == 0) continue;
    if (out->len) tw_buf_putc(out, ';');
    for (const char *c = names[i]; *c; c++) tw_buf_putc(out, (char)lower((unsigned char)*c));
  }
  free(names);
  return out->overflow || out->len == 0 ? -1 : 0;
}

/* The hex signature of parts, with the signing key of its scope. */
static int sign_parts(const sig_parts *parts, const char *secret, char sig[65]) {
  uint8_t key[32];
  tw_sigv4_signing_key(secret, parts->date, parts->region, parts->service, key);
  int rc = tw_sigv4_compute_signature(parts, key, sig, NULL, NULL);
  OPENSSL_cleanse(key, sizeof key);
  return rc;
}

int tw_sigv4_sign(const tw_sigv4_input *in, const char *access_key, const char *secret,
                  const char *region, const char *service, char *auth_out, size_t auth_len) {
  if (!in || !in->method || !access_key || !secret || !region || !service || !auth_out) return -1;
  const char *amz_date = tw_auth_header(in->headers, in->nheaders, "x-amz-date");
  const char *payload = in->payload_sha256_hex
                            ? in->payload_sha256_hex
                            : tw_auth_header(in->headers, in->nheaders, "x-amz-content-sha256");
  time_t t;
  if (!amz_date || tw_sigv4_parse_amz_date(amz_date, &t) || !payload) return -1;

  tw_buf sh;
  tw_buf_init(&sh, 64 * 1024);
  qlist q;
  if (signed_header_list(in, &sh) || tw_sigv4_qlist_parse(&q, in->raw_query)) {
    tw_buf_free(&sh);
    return -1;
  }
  char date[9];
  memcpy(date, amz_date, 8);
  date[8] = '\0';
  sig_parts parts = {in, &q, NULL, tw_buf_cstr(&sh), payload, amz_date, date, region, service};
  char sig[65];
  int rc = sign_parts(&parts, secret, sig);
  if (rc == 0) {
    int n =
        snprintf(auth_out, auth_len,
                 ALGORITHM " Credential=%s/%s/%s/%s/" TERMINATOR ", SignedHeaders=%s, Signature=%s",
                 access_key, date, region, service, tw_buf_cstr(&sh), sig);
    if (n < 0 || (size_t)n >= auth_len) rc = -1;
  }
  tw_sigv4_qlist_free(&q);
  tw_buf_free(&sh);
  return rc;
}

static void buf_encoded(tw_buf *b, const char *s) {
  char tmp[3 * 64];
  size_t n = strlen(s);
  for (size_t i = 0; i < n; i += 64) {
    size_t chunk = n - i < 64 ? n - i : 64;
    tw_buf_append(b, tmp, tw_sigv4_uri_encode(s + i, chunk, tmp));
  }
}

int tw_sigv4_presign(const tw_sigv4_input *in, const char *access_key, const char *secret,
                     const char *region, const char *service, const char *amz_date, long expires,
                     char *query_out, size_t query_len) {
  time_t t;
  if (!in || !in->method || !access_key || !secret || !region || !service || !amz_date ||
      !query_out || tw_sigv4_parse_amz_date(amz_date, &t) || expires < 1 || expires > MAX_EXPIRES ||
      !tw_auth_header(in->headers, in->nheaders, "host"))
    return -1;
  char date[9];
  memcpy(date, amz_date, 8);
  date[8] = '\0';

  tw_buf sh, qs;
  tw_buf_init(&sh, 64 * 1024);
  tw_buf_init(&qs, 1024 * 1024);
  int rc = -1;
  qlist q = {0};
  if (signed_header_list(in, &sh)) goto done;
  if (in->raw_query && *in->raw_query) {
    tw_buf_puts(&qs, in->raw_query);
    tw_buf_putc(&qs, '&');
  }
  char cred[512];
  int n = snprintf(cred, sizeof cred, "%s/%s/%s/%s/" TERMINATOR, access_key, date, region, service);
  if (n < 0 || (size_t)n >= sizeof cred) goto done;
  tw_buf_puts(&qs, "X-Amz-Algorithm=" ALGORITHM "&X-Amz-Credential=");
  buf_encoded(&qs, cred);
  tw_buf_printf(&qs, "&X-Amz-Date=%s&X-Amz-Expires=%ld&X-Amz-SignedHeaders=", amz_date, expires);
  buf_encoded(&qs, tw_buf_cstr(&sh));
  if (qs.overflow || tw_sigv4_qlist_parse(&q, tw_buf_cstr(&qs))) goto done;

  const char *payload = in->s3                   ? UNSIGNED_PAYLOAD
                        : in->payload_sha256_hex ? in->payload_sha256_hex
                                                 : EMPTY_SHA256;
  sig_parts parts = {in, &q, NULL, tw_buf_cstr(&sh), payload, amz_date, date, region, service};
  char sig[65];
  int crc = sign_parts(&parts, secret, sig);
  tw_sigv4_qlist_free(&q);
  if (crc) goto done;
  tw_buf_printf(&qs, "&X-Amz-Signature=%s", sig);
  if (qs.overflow || qs.len + 1 > query_len) goto done;
  memcpy(query_out, tw_buf_cstr(&qs), qs.len + 1);
  rc = 0;
done:
  tw_buf_free(&sh);
  tw_buf_free(&qs);
  return rc;
}
