/* aws-chunked decoding as a byte-at-a-time-safe state machine: size lines and
 * trailer lines are collected in a small fixed buffer (they may arrive split
 * anywhere), chunk data passes straight through to the caller and, in the signed
 * modes, through SHA-256 so the chunk can be checked when its last byte is in.
 *
 * Lenient where real clients differ and nothing is at stake: bare LF accepted for
 * CRLF, a blank line between the 0-size chunk and the trailers skipped, the body
 * may end at any line boundary after the 0-size chunk (the final empty line, or
 * the trailers, missing; tw_chunked_expect_trailers makes trailers mandatory). */
#include "auth/chunked.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/crypto.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* "hex;chunk-signature=<64 hex>" is under 100 bytes; anything near this is abuse. */
#define SIZE_LINE_CAP 256
#define TRAILER_LINE_CAP 4096
#define MAX_TRAILERS 16
#define TRAILER_BYTES_CAP 16384
/* 15 hex digits: 2^60 bytes, beyond any object while far from overflow. */
#define MAX_SIZE_DIGITS 15

enum { ST_SIZE, ST_DATA, ST_DATA_CR, ST_DATA_LF, ST_TRAILER, ST_DONE, ST_ERROR };

typedef struct {
  char *name, *value;
} trailer;

struct tw_chunked {
  tw_chunked_mode mode;
  int state;
  uint8_t key[32];
  char amz_date[17];
  char scope[128];
  char prev_sig[65];  /* the chain: seed, then each verified chunk */
  char chunk_sig[65]; /* the signature the current chunk claims */
  tw_hash *sha;
  char line[TRAILER_LINE_CAP];
  size_t line_len;
  uint64_t remaining; /* data bytes left in the current chunk */
  uint64_t decoded;
  size_t min_chunk;
  int last_was_short;
  trailer trailers[MAX_TRAILERS];
  size_t ntrailers, trailer_bytes;
  char expected[MAX_TRAILERS][48]; /* names from x-amz-trailer */
  size_t nexpected;
  char trailer_sig[65];
  int have_trailer_sig, skipped_blank;
  tw_err err;
  char errmsg[160];
};

static int is_signed(const tw_chunked *c) {
  return c->mode != TW_CHUNKED_UNSIGNED_TRAILER;
}

static int has_trailer(const tw_chunked *c) {
  return c->mode != TW_CHUNKED_SIGNED;
}

int tw_chunked_mode_parse(const char *v, tw_chunked_mode *out) {
  if (!v) return -1;
  if (!strcmp(v, "STREAMING-UNSIGNED-PAYLOAD-TRAILER"))
    *out = TW_CHUNKED_UNSIGNED_TRAILER;
  else if (!strcmp(v, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"))
    *out = TW_CHUNKED_SIGNED;
  else if (!strcmp(v, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"))
    *out = TW_CHUNKED_SIGNED_TRAILER;
  else
    return -1;
  return 0;
}

static int is_hex64(const char *s, size_t n) {
  if (n != 64) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

tw_chunked *tw_chunked_new(tw_chunked_mode mode, const uint8_t signing_key[32],
                           const char *amz_date, const char *scope, const char *seed_signature) {
  if (mode != TW_CHUNKED_UNSIGNED_TRAILER && mode != TW_CHUNKED_SIGNED &&
      mode != TW_CHUNKED_SIGNED_TRAILER)
    return NULL;
  tw_chunked *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->mode = mode;
  c->state = ST_SIZE;
  if (is_signed(c)) {
    if (!signing_key || !amz_date || strlen(amz_date) != 16 || !scope ||
        strlen(scope) >= sizeof c->scope || !seed_signature ||
        !is_hex64(seed_signature, strlen(seed_signature)) || !(c->sha = tw_hash_sha256_new())) {
      tw_chunked_free(c);
      return NULL;
    }
    memcpy(c->key, signing_key, 32);
    memcpy(c->amz_date, amz_date, 17);
    memcpy(c->scope, scope, strlen(scope) + 1);
    memcpy(c->prev_sig, seed_signature, 65);
  }
  return c;
}

void tw_chunked_free(tw_chunked *c) {
  if (!c) return;
  for (size_t i = 0; i < c->ntrailers; i++) {
    free(c->trailers[i].name);
    free(c->trailers[i].value);
  }
  if (c->sha) tw_hash_free(c->sha);
  OPENSSL_cleanse(c->key, sizeof c->key);
  free(c);
}

void tw_chunked_set_min_chunk_size(tw_chunked *c, size_t n) {
  c->min_chunk = n;
}

int tw_chunked_expect_trailers(tw_chunked *c, const char *list) {
  c->nexpected = 0;
  if (!list) return 0;
  const char *p = list;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == ',') p++;
    const char *e = p;
    while (*e && *e != ',') e++;
    const char *end = e;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) end--;
    size_t n = (size_t)(end - p);
    if (n) {
      if (c->nexpected == MAX_TRAILERS || n >= sizeof c->expected[0]) return -1;
      for (size_t i = 0; i < n; i++)
        c->expected[c->nexpected][i] = (char)tolower((unsigned char)p[i]);
      c->expected[c->nexpected][n] = '\0';
      c->nexpected++;
    }
    p = e;
  }
  return 0;
}

static int fail(tw_chunked *c, tw_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(tw_chunked *c, tw_err e, const char *fmt, ...) {
  c->state = ST_ERROR;
  c->err = e;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
  va_end(ap);
  return -1;
}

static int framing(tw_chunked *c) {
  return fail(c, TW_ERR_S3_INCOMPLETE_BODY, "The request body terminated unexpectedly");
}

static int bad_signature(tw_chunked *c) {
  return fail(c, TW_ERR_SIGNATURE_MISMATCH,
              "The request signature we calculated does not match the signature you provided. "
              "Check your key and signing method.");
}

/* HMAC over "<algorithm>\n<date>\n<scope>\n<previous>\n<hash lines>", compared in
 * constant time with `claimed`; on success the chain moves on. */
static int check_link(tw_chunked *c, const char *algorithm, const char *hashes,
                      const char *claimed) {
  char sts[512];
  int n = snprintf(sts, sizeof sts, "%s\n%s\n%s\n%s\n%s", algorithm, c->amz_date, c->scope,
                   c->prev_sig, hashes);
  if (n < 0 || (size_t)n >= sizeof sts) return bad_signature(c);
  uint8_t mac[32];
  char hex[65];
  tw_hmac_sha256(c->key, 32, sts, (size_t)n, mac);
  tw_hex(mac, 32, hex);
  if (CRYPTO_memcmp(hex, claimed, 64) != 0) return bad_signature(c);
  memcpy(c->prev_sig, hex, 65);
  return 0;
}

static int check_chunk(tw_chunked *c) {
  uint8_t d[32];
  char hashes[64 + 1 + 64 + 1];
  tw_hash_final(c->sha, d);
  memcpy(hashes, EMPTY_SHA256 "\n", 65);
  tw_hex(d, 32, hashes + 65);
  return check_link(c, "AWS4-HMAC-SHA256-PAYLOAD", hashes, c->chunk_sig);
}

static int trailer_cmp(const void *a, const void *b) {
  const trailer *x = *(const trailer *const *)a, *y = *(const trailer *const *)b;
  int r = strcmp(x->name, y->name);
  return r ? r : (x < y ? -1 : x > y);
}

/* The trailers are over: check their signature where the mode has one. */
static int end_of_trailers(tw_chunked *c) {
  if (c->mode == TW_CHUNKED_SIGNED_TRAILER && (c->ntrailers || c->have_trailer_sig)) {
    if (!c->have_trailer_sig) return bad_signature(c);
    /* Canonical form: "name:value\n" per trailer, sorted by name. */
    const trailer *sorted[MAX_TRAILERS];
    for (size_t i = 0; i < c->ntrailers; i++) sorted[i] = &c->trailers[i];
    qsort(sorted, c->ntrailers, sizeof sorted[0], trailer_cmp);
    tw_hash *h = tw_hash_sha256_new();
    if (!h) return fail(c, TW_ERR_INTERNAL, "out of memory");
    for (size_t i = 0; i < c->ntrailers; i++) {
      tw_hash_update(h, sorted[i]->name, strlen(sorted[i]->name));
      tw_hash_update(h, ":", 1);
      tw_hash_update(h, sorted[i]->value, strlen(sorted[i]->value));
      tw_hash_update(h, "\n", 1);
    }
    uint8_t d[32];
    char hex[65];
    tw_hash_final(h, d);
    tw_hash_free(h);
    tw_hex(d, 32, hex);
    if (check_link(c, "AWS4-HMAC-SHA256-TRAILER", hex, c->trailer_sig)) return -1;
  }
  c->state = ST_DONE;
  return 0;
}

static int size_line(tw_chunked *c, const char *s, size_t n) {
  size_t i = 0;
  uint64_t size = 0;
  for (; i < n && isxdigit((unsigned char)s[i]); i++) {
    if (i >= MAX_SIZE_DIGITS) return framing(c);
    int v = s[i] <= '9' ? s[i] - '0' : (s[i] | 0x20) - 'a' + 10;
    size = size << 4 | (uint64_t)v;
  }
  if (i == 0) return framing(c);
  while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
  int have_sig = 0;
  if (i < n && s[i] == ';') {
    static const char key[] = "chunk-signature=";
    const char *ext = s + i + 1;
    size_t elen = n - i - 1;
    while (elen && (ext[elen - 1] == ' ' || ext[elen - 1] == '\t')) elen--;
    if (is_signed(c)) {
      /* The one extension AWS defines; anything else cannot be authenticated. */
      if (elen < sizeof key - 1 || memcmp(ext, key, sizeof key - 1) != 0 ||
          !is_hex64(ext + sizeof key - 1, elen - (sizeof key - 1)))
        return framing(c);
      memcpy(c->chunk_sig, ext + sizeof key - 1, 64);
      c->chunk_sig[64] = '\0';
      have_sig = 1;
    }
    i = n; /* unsigned mode: extensions carry nothing we use */
  }
  if (i != n) return framing(c);
  if (is_signed(c) && !have_sig) return framing(c);

  if (size == 0) {
    if (is_signed(c) && check_chunk(c)) return -1;
    c->state = ST_TRAILER;
    return 0;
  }
  if (c->min_chunk && c->last_was_short)
    return fail(c, TW_ERR_S3_INVALID_CHUNK_SIZE,
                "Only the last chunk is allowed to have a size less than %zu bytes", c->min_chunk);
  c->last_was_short = size < c->min_chunk;
  c->remaining = size;
  c->state = ST_DATA;
  return 0;
}

static int malformed_trailer(tw_chunked *c) {
  return fail(c, TW_ERR_S3_MALFORMED_TRAILER,
              "The request contained trailing data that was not well-formed or did not conform "
              "to our published schema.");
}

static int trailer_line(tw_chunked *c, const char *s, size_t n) {
  if (n == 0) {
    /* Some encoders put an empty line between the 0-size chunk and the trailers. */
    if (has_trailer(c) && !c->ntrailers && !c->have_trailer_sig && !c->skipped_blank) {
      c->skipped_blank = 1;
      return 0;
    }
    return end_of_trailers(c);
  }
  if (!has_trailer(c) || c->have_trailer_sig) return malformed_trailer(c);
  const char *colon = memchr(s, ':', n);
  if (!colon || colon == s) return malformed_trailer(c);
  size_t nlen = (size_t)(colon - s);
  for (size_t i = 0; i < nlen; i++)
    if (s[i] <= ' ' || s[i] >= 127) return malformed_trailer(c);
  const char *v = colon + 1;
  size_t vlen = n - nlen - 1;
  while (vlen && (*v == ' ' || *v == '\t')) v++, vlen--;
  while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) vlen--;

  if (nlen == 23 && !strncasecmp(s, "x-amz-trailer-signature", 23)) {
    if (c->mode != TW_CHUNKED_SIGNED_TRAILER || !is_hex64(v, vlen)) return malformed_trailer(c);
    memcpy(c->trailer_sig, v, 64);
    c->trailer_sig[64] = '\0';
    c->have_trailer_sig = 1;
    return 0;
  }
  c->trailer_bytes += n;
  if (c->ntrailers == MAX_TRAILERS || c->trailer_bytes > TRAILER_BYTES_CAP)
    return malformed_trailer(c);
  trailer *t = &c->trailers[c->ntrailers];
  t->name = malloc(nlen + 1);
  t->value = malloc(vlen + 1);
  if (!t->name || !t->value) {
    free(t->name);
    free(t->value);
    t->name = t->value = NULL;
    return fail(c, TW_ERR_INTERNAL, "out of memory");
  }
  for (size_t i = 0; i < nlen; i++) t->name[i] = (char)tolower((unsigned char)s[i]);
  t->name[nlen] = '\0';
  memcpy(t->value, v, vlen);
  t->value[vlen] = '\0';
  c->ntrailers++;
  return 0;
}

/* Collects a line; returns how many bytes were used, with *complete set when the
 * LF arrived (the line, without CR LF, is then in c->line[0..line_len)). */
static size_t collect_line(tw_chunked *c, const char *p, size_t n, size_t cap, int *complete,
                           int *too_long) {
  const char *lf = memchr(p, '\n', n);
  size_t take = lf ? (size_t)(lf - p) : n;
  *complete = 0;
  *too_long = 0;
  if (c->line_len + take > cap) {
    *too_long = 1;
    return 0;
  }
  memcpy(c->line + c->line_len, p, take);
  c->line_len += take;
  if (!lf) return take;
  if (c->line_len && c->line[c->line_len - 1] == '\r') c->line_len--;
  *complete = 1;
  return take + 1;
}

int tw_chunked_feed(tw_chunked *c, const char *data, size_t n, tw_chunked_out_fn out, void *ud) {
  size_t i = 0;
  while (i < n || c->state == ST_ERROR) {
    switch (c->state) {
      case ST_SIZE:
      case ST_TRAILER: {
        int trailer_state = c->state == ST_TRAILER, complete, too_long;
        size_t cap = trailer_state ? TRAILER_LINE_CAP : SIZE_LINE_CAP;
        i += collect_line(c, data + i, n - i, cap, &complete, &too_long);
        if (too_long) return trailer_state ? malformed_trailer(c) : framing(c);
        if (!complete) break;
        size_t len = c->line_len;
        c->line_len = 0;
        if ((trailer_state ? trailer_line(c, c->line, len) : size_line(c, c->line, len)) != 0)
          return -1;
        break;
      }
      case ST_DATA: {
        size_t take = n - i;
        if ((uint64_t)take > c->remaining) take = (size_t)c->remaining;
        if (c->sha) tw_hash_update(c->sha, data + i, take);
        if (out && out(ud, data + i, take) != 0)
          return fail(c, TW_ERR_INTERNAL, "could not store the request body");
        c->remaining -= take;
        c->decoded += take;
        i += take;
        if (c->remaining == 0) {
          if (c->sha && check_chunk(c)) return -1;
          c->state = ST_DATA_CR;
        }
        break;
      }
      case ST_DATA_CR:
        if (data[i] == '\r')
          c->state = ST_DATA_LF;
        else if (data[i] == '\n')
          c->state = ST_SIZE;
        else
          return framing(c);
        i++;
        break;
      case ST_DATA_LF:
        if (data[i++] != '\n') return framing(c);
        c->state = ST_SIZE;
        break;
      case ST_DONE:
        return framing(c); /* bytes after the end */
      default:
        return -1;
    }
  }
  return 0;
}

int tw_chunked_finish(tw_chunked *c) {
  /* Ending at a line boundary among the trailers is forgiven: the JS SDK v3 ends
   * a body without checksum right after "0\r\n". A cut inside a line is not. */
  if (c->state == ST_TRAILER && c->line_len == 0 && end_of_trailers(c)) return -1;
  if (c->state == ST_ERROR) return -1;
  if (c->state != ST_DONE) return framing(c);
  for (size_t i = 0; i < c->nexpected; i++)
    if (!tw_chunked_trailer(c, c->expected[i]))
      return fail(c, TW_ERR_S3_MALFORMED_TRAILER,
                  "The trailer %s declared in x-amz-trailer is missing", c->expected[i]);
  return 0;
}

tw_err tw_chunked_error(const tw_chunked *c) {
  return c->state == ST_ERROR ? c->err : TW_ERR_OK;
}

const char *tw_chunked_errmsg(const tw_chunked *c) {
  return c->state == ST_ERROR ? c->errmsg : "";
}

uint64_t tw_chunked_decoded_length(const tw_chunked *c) {
  return c->decoded;
}

int tw_chunked_done(const tw_chunked *c) {
  return c->state == ST_DONE;
}

const char *tw_chunked_trailer(const tw_chunked *c, const char *name) {
  for (size_t i = 0; i < c->ntrailers; i++)
    if (!strcasecmp(c->trailers[i].name, name)) return c->trailers[i].value;
  return NULL;
}

size_t tw_chunked_trailer_count(const tw_chunked *c) {
  return c->ntrailers;
}

int tw_chunked_trailer_at(const tw_chunked *c, size_t i, const char **name, const char **value) {
  if (i >= c->ntrailers) return -1;
  if (name) *name = c->trailers[i].name;
  if (value) *value = c->trailers[i].value;
  return 0;
}
