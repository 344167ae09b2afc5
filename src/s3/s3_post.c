/* Browser uploads: POST Object, a multipart/form-data form with a signed POST
 * policy, sent to the bucket's URL.
 *
 * The form is parsed as it streams in, in constant memory: the fields before
 * the part named `file` are kept (together with the boundaries and part headers
 * at most 20 KB, as S3 allows), the file's bytes go straight to a blob, and
 * whatever follows the file is ignored, as S3 ignores it. When the file part
 * begins, the form is authenticated and checked against its policy
 * (s3_post_policy.c), so a refused upload stops before its data is stored.
 * After the body, the object row and its "ObjectCreated:Post" events commit in
 * one store batch, then S3's answer: 204 (default), 200, 201 with a
 * <PostResponse>, or 303 to success_action_redirect. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "s3/s3_post.h"

#define FILE_BUF (64 * 1024) /* file bytes gathered before hashing and writing */
/* Past the size limit, bytes are still counted (not stored) for this much, so
 * EntityTooLarge reports the real size of a file slightly over the limit. */
#define OVERSIZE_GRACE (64 * 1024)

enum {
  MP_PREAMBLE, /* before the first boundary */
  MP_DELIM,    /* after a boundary: "--" (the end), or padding and CRLF */
  MP_HEADERS,  /* a part's header lines */
  MP_FIELD,    /* a field's value */
  MP_FILE,     /* the file's content */
  MP_DONE,     /* the file ended: the rest is ignored */
  MP_CLOSED,   /* the form ended without a file */
};

typedef struct {
  void (*ctx_free)(void *); /* s3_http.c's, run after ours */
  tw_post_form form;
  /* the boundary: "\r\n--" boundary, and how much of it the input matched */
  char delim[80];
  size_t dlen, matched;
  int state;
  int delim_dash, delim_cr; /* MP_DELIM: '-' / '\r' seen */
  uint64_t pre;             /* bytes before the file's content */
  tw_buf line, value;       /* a header line; a field's value */
  /* the part being read */
  char *name, *filename, *ctype;
  int form_data;
  /* the file */
  char *fbuf;
  size_t flen;
  uint64_t counted; /* file bytes seen, stored or not */
  /* the answer */
  int status;
  char *redirect;
  char *content_type;
  int parse_only; /* tw_s3_post_parse_form: stop at the file part */
} s3_post;

static void post_free(void *ctx) {
  s3_ctx *x = ctx;
  s3_post *p = x->post;
  void (*next)(void *) = p->ctx_free;
  for (size_t i = 0; i < p->form.n; i++) {
    free(p->form.fields[i].name);
    free(p->form.fields[i].value);
  }
  free(p->form.fields);
  tw_buf_free(&p->line);
  tw_buf_free(&p->value);
  free(p->name);
  free(p->filename);
  free(p->ctype);
  free(p->fbuf);
  free(p->redirect);
  free(p->content_type);
  free(p);
  x->post = NULL;
  next(ctx);
}

int tw_s3_post_open(tw_s3 *s) {
  (void)s; /* no per-server state: each form carries its own policy */
  return 0;
}

void tw_s3_post_close(tw_s3 *s) {
  (void)s;
}

/* A POST to the bucket itself with no sub-resource is POST Object, whatever its
 * Content-Type (S3 answers 412 when it is not multipart/form-data). */
int tw_s3_is_post_upload(tw_request *r, s3_ctx *x) {
  return !strcmp(r->method, "POST") && x->bucket && !x->key && json_object_size(x->q) == 0;
}

static void malformed(tw_request *r, s3_ctx *x) {
  tw_s3_error(r, x, TW_ERR_S3_MALFORMED_POST_REQUEST, NULL);
}

/* --- the Content-Type ----------------------------------------------------------------------- */

/* RFC 2046 bchars: 1..70 of them, not ending with a space. */
static int valid_boundary(const char *b, size_t n) {
  if (n < 1 || n > 70 || b[n - 1] == ' ') return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)b[i]) && !strchr("'()+_,-./:=? ", b[i])) return 0;
  return 1;
}

/* Reads the next parameter of a header value ("; name=value" or
 * name="quoted value"); returns the position after it or NULL at the end.
 * Browsers send a '"' in a file name as %22 and a backslash as it is (old
 * ones send "C:\dir\file.txt"), so a backslash is no escape here. */
static const char *next_param(const char *p, char **name, char **value) {
  *name = *value = NULL;
  while (*p == ';' || *p == ' ' || *p == '\t') p++;
  if (!*p) return NULL;
  const char *n = p;
  while (*p && *p != '=' && *p != ';') p++;
  const char *ne = p;
  while (ne > n && (ne[-1] == ' ' || ne[-1] == '\t')) ne--;
  *name = strndup(n, (size_t)(ne - n));
  if (*p != '=') return p;
  p++;
  while (*p == ' ' || *p == '\t') p++;
  tw_buf v;
  tw_buf_init(&v, 64 * 1024);
  if (*p == '"') {
    for (p++; *p && *p != '"'; p++) tw_buf_putc(&v, *p);
    if (*p == '"') p++;
    while (*p && *p != ';') p++;
  } else {
    const char *s = p;
    while (*p && *p != ';') p++;
    const char *e = p;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
    tw_buf_append(&v, s, (size_t)(e - s));
  }
  *value = strdup(tw_buf_cstr(&v));
  tw_buf_free(&v);
  return p;
}

/* 0 and the boundary set up, or -1 (answered). */
static int parse_content_type(tw_request *r, s3_ctx *x, s3_post *p) {
  const char *ct = tw_req_header(r, "Content-Type");
  size_t tl = ct ? strcspn(ct, ";") : 0;
  while (tl && (ct[tl - 1] == ' ' || ct[tl - 1] == '\t')) tl--;
  if (!ct || tl != 19 || strncasecmp(ct, "multipart/form-data", 19)) {
    tw_s3_error_key(r, x, TW_ERR_S3_PRECONDITION_FAILED, NULL,
                    "<Condition>Bucket POST must be of the enclosure-type "
                    "multipart/form-data</Condition>");
    return -1;
  }
  const char *q = ct + strcspn(ct, ";");
  char *name, *value, *boundary = NULL;
  while ((q = next_param(q, &name, &value))) {
    if (name && value && !strcasecmp(name, "boundary") && !boundary) boundary = strdup(value);
    free(name);
    free(value);
  }
  int ok = boundary && valid_boundary(boundary, strlen(boundary));
  if (ok) {
    p->dlen = (size_t)snprintf(p->delim, sizeof p->delim, "\r\n--%s", boundary);
    p->matched = 2; /* the body may start with the boundary: as if after a CRLF */
  }
  free(boundary);
  if (!ok) malformed(r, x);
  return ok ? 0 : -1;
}

/* --- fields ----------------------------------------------------------------------------------- */

/* Keeps a field; a repeated name gets its values joined with commas, as S3
 * matches them against the policy. */
static void add_field(s3_post *p, const char *name, const char *v, size_t vlen) {
  tw_post_field *f = tw_post_get(&p->form, name);
  if (f) {
    char *nv = malloc(f->vlen + 1 + vlen + 1);
    memcpy(nv, f->value, f->vlen);
    nv[f->vlen] = ',';
    memcpy(nv + f->vlen + 1, v, vlen);
    nv[f->vlen + 1 + vlen] = 0;
    free(f->value);
    f->value = nv;
    f->vlen += 1 + vlen;
    return;
  }
  if (p->form.n == p->form.cap) {
    p->form.cap = p->form.cap ? 2 * p->form.cap : 16;
    p->form.fields = realloc(p->form.fields, p->form.cap * sizeof *p->form.fields);
  }
  f = &p->form.fields[p->form.n++];
  f->name = strdup(name);
  f->value = malloc(vlen + 1);
  memcpy(f->value, v, vlen);
  f->value[vlen] = 0;
  f->vlen = vlen;
}

/* ${filename} in any field becomes the file's name (its last path element).
 * A file part without a filename parameter leaves it as it is, as S3 does.
 * The expanded form stays within EXPANDED_MAX (a form of many ${filename}
 * and a long name could otherwise grow a thousandfold): -1 past it. */
#define EXPANDED_MAX (256 * 1024)
static int expand_filename(s3_post *p) {
  if (!p->filename) return 0;
  const char *base = p->filename;
  for (const char *c = p->filename; *c; c++)
    if (*c == '/' || *c == '\\') base = c + 1;
  size_t bl = strlen(base), total = 0;
  for (size_t i = 0; i < p->form.n; i++) {
    tw_post_field *f = &p->form.fields[i];
    total += f->vlen;
    const char *q = f->value, *end = f->value + f->vlen;
    while ((q = memmem(q, (size_t)(end - q), "${filename}", 11))) {
      total = total - 11 + bl;
      q += 11;
    }
  }
  if (total > EXPANDED_MAX) return -1;
  for (size_t i = 0; i < p->form.n; i++) {
    tw_post_field *f = &p->form.fields[i];
    if (!memmem(f->value, f->vlen, "${filename}", 11)) continue;
    tw_buf out;
    tw_buf_init(&out, EXPANDED_MAX + 1);
    for (size_t j = 0; j < f->vlen;) {
      if (f->vlen - j >= 11 && !memcmp(f->value + j, "${filename}", 11)) {
        tw_buf_append(&out, base, bl);
        j += 11;
      } else {
        tw_buf_putc(&out, f->value[j++]);
      }
    }
    size_t len;
    free(f->value);
    f->value = tw_buf_detach(&out, &len);
    f->vlen = len;
  }
  return 0;
}

/* --- checks before the file is stored --------------------------------------------------------- */

static int check_key(tw_request *r, s3_ctx *x, s3_post *p) {
  tw_post_field *k = tw_post_get(&p->form, "key");
  if (!k->vlen) {
    tw_s3_error_key(r, x, TW_ERR_S3_INVALID_ARGUMENT, "User key must have a length greater than 0.",
                    "<ArgumentName>key</ArgumentName><ArgumentValue></ArgumentValue>");
    return -1;
  }
  if (k->vlen > 1024) {
    char extra[128];
    snprintf(extra, sizeof extra, "<Size>%zu</Size><MaxSizeAllowed>1024</MaxSizeAllowed>", k->vlen);
    tw_s3_error_key(r, x, TW_ERR_S3_KEY_TOO_LONG, NULL, extra);
    return -1;
  }
  free(x->key);
  x->key = malloc(k->vlen + 1);
  memcpy(x->key, k->value, k->vlen + 1);
  x->key_len = k->vlen;
  return 0;
}

/* The signer's policies and the bucket policy, as for a PutObject (s3_policy.c). */
static int check_iam(tw_request *r, s3_ctx *x) {
  char msg[1024];
  if (tw_s3_authorize(r, x, "PutObject", msg, sizeof msg)) return 0;
  tw_s3_error(r, x, TW_ERR_ACCESS_DENIED, "Access Denied");
  return -1;
}

/* User metadata may hold 2 KB, names (without x-amz-meta-) and values. */
static int check_metadata(tw_request *r, s3_ctx *x, s3_post *p) {
  size_t total = 0;
  for (size_t i = 0; i < p->form.n; i++)
    if (!strncasecmp(p->form.fields[i].name, "x-amz-meta-", 11))
      total += strlen(p->form.fields[i].name) - 11 + p->form.fields[i].vlen;
  if (total <= 2048) return 0;
  char extra[128];
  snprintf(extra, sizeof extra, "<Size>%zu</Size><MaxSizeAllowed>2048</MaxSizeAllowed>", total);
  tw_s3_error_key(r, x, TW_ERR_S3_METADATA_TOO_LARGE, NULL, extra);
  return -1;
}

/* Content-MD5 and x-amz-checksum-* fields, as their headers on a PUT. */
static int setup_integrity(tw_request *r, s3_ctx *x, s3_post *p) {
  static const tw_cksum_alg algs[] = {TW_CKSUM_CRC32, TW_CKSUM_CRC32C, TW_CKSUM_CRC64NVME,
                                      TW_CKSUM_SHA1, TW_CKSUM_SHA256};
  const char *md5 = tw_post_value(&p->form, "Content-MD5");
  uint8_t raw[64];
  if (md5 && (strlen(md5) > 40 || tw_base64_decode(md5, strlen(md5), raw) != 16)) {
    tw_s3_error(r, x, TW_ERR_S3_INVALID_DIGEST, NULL);
    return -1;
  }
  tw_cksum_alg alg = TW_CKSUM_NONE;
  char msg[160];
  for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
    const char *v = tw_post_value(&p->form, tw_cksum_header(algs[i]));
    if (!v) continue;
    if (alg) {
      tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST,
                  "Expecting a single x-amz-checksum- header. Multiple checksum Types are not "
                  "allowed.");
      return -1;
    }
    alg = algs[i];
    size_t vl = strlen(v);
    if (vl > 60 || tw_base64_decode(v, vl, raw) != (long)tw_cksum_raw_len(alg)) {
      snprintf(msg, sizeof msg, "Value for %s header is invalid.", tw_cksum_header(alg));
      tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST, msg);
      return -1;
    }
    snprintf(x->cksum_want, sizeof x->cksum_want, "%s", v);
  }
  const char *named = tw_post_value(&p->form, "x-amz-checksum-algorithm");
  if (named) {
    tw_cksum_alg a = tw_cksum_alg_parse(named);
    if (!a) {
      tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST,
                  "Value for x-amz-checksum-algorithm header is invalid.");
      return -1;
    }
    if (a != alg) { /* the field names an algorithm whose value is not in the form */
      tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST,
                  "x-amz-checksum-algorithm specified, but no corresponding x-amz-checksum-* or "
                  "x-amz-trailer headers were found.");
      return -1;
    }
  }
  if (!alg) {
    alg = TW_CKSUM_CRC64NVME; /* S3's own when the client names none */
    x->cksum_default = 1;
  }
  if (tw_cksum_init(&x->cksum, alg)) {
    tw_s3_error(r, x, TW_ERR_INTERNAL, NULL);
    return -1;
  }
  return 0;
}

/* The form as it stands when the file begins (or the form ended without one):
 * the key, the signature, the policy, the fields' values. */
static int check_form(tw_request *r, s3_ctx *x, s3_post *p) {
  if (!tw_post_get(&p->form, "key")) {
    tw_s3_error_key(r, x, TW_ERR_S3_INVALID_ARGUMENT,
                    "Bucket POST must contain a field named 'key'.  If it is specified, please "
                    "check the order of the fields.",
                    "<ArgumentName>key</ArgumentName><ArgumentValue></ArgumentValue>");
    return -1;
  }
  if (tw_post_authorize(r, x, &p->form) || check_key(r, x, p) || check_iam(r, x) ||
      tw_s3_acl_for_write(r, x, tw_post_value(&p->form, "acl")) || check_metadata(r, x, p))
    return -1;
  return 0;
}

/* A redirect S3 can follow: scheme://host..., no control characters (it goes
 * into the Location header). S3 ignores one it cannot use (a relative URL). */
static int usable_url(const char *u, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)u[i] < 0x20 || u[i] == 0x7F) return 0;
  size_t i = 0;
  while (i < n && (isalnum((unsigned char)u[i]) || u[i] == '+' || u[i] == '-' || u[i] == '.')) i++;
  return i && isalpha((unsigned char)u[0]) && n - i > 3 && !memcmp(u + i, "://", 3) &&
         !strchr("/?#", u[i + 3]);
}

/* The file part begins: decide, then open the blob. */
static int begin_file(tw_request *r, s3_ctx *x, s3_post *p) {
  if (expand_filename(p)) {
    tw_s3_error_key(r, x, TW_ERR_S3_MAX_POST_PRE_DATA, NULL,
                    "<MaxPostPreDataLengthBytes>20480</MaxPostPreDataLengthBytes>");
    return -1;
  }
  if (check_form(r, x, p) || setup_integrity(r, x, p)) return -1;
  const char *st = tw_post_value(&p->form, "success_action_status");
  p->status = st && !strcmp(st, "200") ? 200 : st && !strcmp(st, "201") ? 201 : 204;
  tw_post_field *redirect = tw_post_get(&p->form, "success_action_redirect");
  if (!redirect) redirect = tw_post_get(&p->form, "redirect");
  if (redirect && usable_url(redirect->value, redirect->vlen))
    p->redirect = strdup(redirect->value);
  const char *ct = tw_post_value(&p->form, "Content-Type");
  p->content_type = strdup(ct ? ct : p->ctype && *p->ctype ? p->ctype : "binary/octet-stream");
  if (tw_blob_create(x->s3->blobs, &x->blob)) {
    tw_s3_error(r, x, TW_ERR_INTERNAL, NULL);
    return -1;
  }
  x->blob_open = 1;
  x->md5 = tw_hash_md5_new();
  p->fbuf = malloc(FILE_BUF);
  if (!x->md5 || !p->fbuf) {
    tw_s3_error(r, x, TW_ERR_INTERNAL, NULL);
    return -1;
  }
  return 0;
}

/* --- the file's bytes ------------------------------------------------------------------------- */

static int flush_file(s3_post *p, s3_ctx *x) {
  if (!p->flen) return 0;
  tw_hash_update(x->md5, p->fbuf, p->flen);
  tw_cksum_update(&x->cksum, p->fbuf, p->flen);
  x->received += p->flen;
  int rc = tw_blob_write(&x->blob, p->fbuf, p->flen);
  p->flen = 0;
  return rc;
}

static void too_large(tw_request *r, s3_ctx *x, uint64_t size, uint64_t max) {
  char extra[160];
  snprintf(extra, sizeof extra,
           "<ProposedSize>%" PRIu64 "</ProposedSize><MaxSizeAllowed>%" PRIu64 "</MaxSizeAllowed>",
           size, max);
  tw_s3_error_key(r, x, TW_ERR_S3_ENTITY_TOO_LARGE,
                  "Your proposed upload exceeds the maximum allowed size", extra);
}

static int file_bytes(tw_request *r, s3_ctx *x, s3_post *p, const char *d, size_t n) {
  uint64_t max = p->form.max_size;
  if (p->counted + n > max) { /* over the limit: count, store nothing more */
    p->counted += n;
    if (p->counted > max + OVERSIZE_GRACE) {
      too_large(r, x, p->counted, max);
      return -1;
    }
    return 0;
  }
  p->counted += n;
  while (n) {
    size_t k = FILE_BUF - p->flen < n ? FILE_BUF - p->flen : n;
    memcpy(p->fbuf + p->flen, d, k);
    p->flen += k, d += k, n -= k;
    if (p->flen == FILE_BUF && flush_file(p, x)) {
      tw_s3_error(r, x, TW_ERR_INTERNAL, "Cannot store the object.");
      return -1;
    }
  }
  return 0;
}

/* --- the multipart stream --------------------------------------------------------------------- */

/* Content bytes of the current state: dropped (preamble), kept (a field) or
 * stored (the file). */
static int emit(tw_request *r, s3_ctx *x, s3_post *p, const char *d, size_t n) {
  if (!n) return 0;
  if (p->state == MP_FIELD) {
    if (tw_buf_append(&p->value, d, n)) {
      tw_s3_error_key(r, x, TW_ERR_S3_MAX_POST_PRE_DATA, NULL,
                      "<MaxPostPreDataLengthBytes>20480</MaxPostPreDataLengthBytes>");
      return -1;
    }
    return 0;
  }
  if (p->state == MP_FILE) return file_bytes(r, x, p, d, n);
  return 0;
}

/* Passes content on until the delimiter ("\r\n--boundary") completes. The
 * delimiter holds '\r' only at its start, so a failed partial match is plain
 * content and the scan goes on from the byte that broke it; a match may span
 * any number of calls. Returns the bytes used (*found: the delimiter ended
 * there), or -1 (answered). */
static long scan(tw_request *r, s3_ctx *x, s3_post *p, const char *d, size_t n, int *found) {
  size_t i = 0, start = 0;
  *found = 0;
  while (i < n) {
    if (p->matched == 0) {
      const char *cr = memchr(d + i, '\r', n - i);
      if (!cr) {
        i = n;
        break;
      }
      i = (size_t)(cr - d);
      if (emit(r, x, p, d + start, i - start)) return -1;
      p->matched = 1;
      start = ++i;
    } else if (d[i] == p->delim[p->matched]) {
      start = ++i;
      if (++p->matched == p->dlen) {
        p->matched = 0;
        *found = 1;
        return (long)i;
      }
    } else {
      if (emit(r, x, p, p->delim, p->matched)) return -1;
      p->matched = 0;
      start = i;
    }
  }
  if (emit(r, x, p, d + start, i - start)) return -1;
  return (long)i;
}

/* One header line of a part (CRLF stripped). */
static void part_header(s3_post *p, const char *line) {
  const char *colon = strchr(line, ':');
  if (!colon) return;
  size_t nl = (size_t)(colon - line);
  while (nl && (line[nl - 1] == ' ' || line[nl - 1] == '\t')) nl--;
  const char *v = colon + 1;
  while (*v == ' ' || *v == '\t') v++;
  if (nl == 12 && !strncasecmp(line, "Content-Type", 12)) {
    free(p->ctype);
    p->ctype = strdup(v);
    size_t l = strlen(p->ctype);
    while (l && (p->ctype[l - 1] == ' ' || p->ctype[l - 1] == '\t')) p->ctype[--l] = 0;
    return;
  }
  if (nl != 19 || strncasecmp(line, "Content-Disposition", 19)) return;
  size_t tl = strcspn(v, ";");
  while (tl && (v[tl - 1] == ' ' || v[tl - 1] == '\t')) tl--;
  p->form_data = tl == 9 && !strncasecmp(v, "form-data", 9);
  const char *q = v + strcspn(v, ";");
  char *name, *value;
  while ((q = next_param(q, &name, &value))) {
    if (name && value && !strcasecmp(name, "name")) {
      free(p->name);
      p->name = value, value = NULL;
    } else if (name && value && !strcasecmp(name, "filename")) {
      free(p->filename);
      p->filename = value, value = NULL;
    }
    free(name);
    free(value);
  }
}

static void reset_part(s3_post *p) {
  free(p->name);
  free(p->filename);
  free(p->ctype);
  p->name = p->filename = p->ctype = NULL;
  p->form_data = 0;
  tw_buf_reset(&p->line);
}

/* The headers of a part ended: a field, or the file. */
static int part_begins(tw_request *r, s3_ctx *x, s3_post *p) {
  if (!p->name) {
    malformed(r, x);
    return -1;
  }
  if (p->form_data && !strcasecmp(p->name, "file")) {
    if (p->parse_only) {
      p->state = MP_DONE;
      return expand_filename(p);
    }
    if (begin_file(r, x, p)) return -1;
    p->state = MP_FILE;
    return 0;
  }
  tw_buf_reset(&p->value);
  p->state = MP_FIELD;
  return 0;
}

/* Feeds body bytes through the parser; 0, or -1 (answered). */
static int feed(tw_request *r, s3_ctx *x, s3_post *p, const char *d, size_t n) {
  size_t i = 0;
  while (i < n) {
    int state = p->state;
    size_t used = 0;
    if (state == MP_DONE || state == MP_CLOSED) return 0; /* ignored, as S3 does */
    if (state == MP_PREAMBLE || state == MP_FIELD || state == MP_FILE) {
      int found;
      long k = scan(r, x, p, d + i, n - i, &found);
      if (k < 0) return -1;
      used = (size_t)k;
      if (found && state == MP_FIELD)
        add_field(p, p->name, p->value.data ? p->value.data : "", p->value.len);
      if (found) {
        p->state = state == MP_FILE ? MP_DONE : MP_DELIM;
        p->delim_dash = p->delim_cr = 0;
      }
    } else if (state == MP_DELIM) {
      char c = d[i];
      used = 1;
      if (p->delim_dash) {
        if (c != '-') goto bad;
        p->state = MP_CLOSED;
      } else if (p->delim_cr) {
        if (c != '\n') goto bad;
        reset_part(p);
        p->state = MP_HEADERS;
      } else if (c == '-') {
        p->delim_dash = 1;
      } else if (c == '\r') {
        p->delim_cr = 1;
      } else if (c == '\n') {
        reset_part(p);
        p->state = MP_HEADERS;
      } else if (c != ' ' && c != '\t') {
        goto bad;
      }
    } else { /* MP_HEADERS: a line at a time */
      const char *nl = memchr(d + i, '\n', n - i);
      used = nl ? (size_t)(nl - (d + i)) + 1 : n - i;
      if (tw_buf_append(&p->line, d + i, used)) goto too_much;
      if (nl) {
        size_t l = p->line.len - 1;
        if (l && p->line.data[l - 1] == '\r') l--;
        p->line.len = l;
        if (l == 0) {
          p->pre += used;
          i += used;
          if (p->pre > TW_POST_PRE_DATA_MAX) goto too_much;
          if (part_begins(r, x, p)) return -1;
          continue;
        }
        part_header(p, tw_buf_cstr(&p->line));
        tw_buf_reset(&p->line);
      }
    }
    if (state != MP_FILE) {
      p->pre += used;
      if (p->pre > TW_POST_PRE_DATA_MAX) goto too_much;
    }
    i += used;
  }
  return 0;
bad:
  malformed(r, x);
  return -1;
too_much:
  tw_s3_error_key(r, x, TW_ERR_S3_MAX_POST_PRE_DATA, NULL,
                  "<MaxPostPreDataLengthBytes>20480</MaxPostPreDataLengthBytes>");
  return -1;
}

static void no_next_free(void *ctx) {
  (void)ctx;
}

int tw_s3_post_parse_form(tw_request *r, s3_ctx *x, const char *data, size_t n, size_t piece,
                          void (*done)(void *ud, tw_request *r, s3_ctx *x, tw_post_form *f),
                          void *ud) {
  s3_post *p = calloc(1, sizeof *p);
  p->ctx_free = no_next_free;
  p->parse_only = 1;
  x->post = p;
  tw_buf_init(&p->line, TW_POST_PRE_DATA_MAX + 2);
  tw_buf_init(&p->value, TW_POST_PRE_DATA_MAX + 2);
  if (!piece) piece = 1;
  int rc = parse_content_type(r, x, p);
  for (size_t i = 0; !rc && i < n; i += piece)
    rc = feed(r, x, p, data + i, n - i < piece ? n - i : piece);
  if (!rc && done) done(ud, r, x, &p->form);
  post_free(x);
  return rc;
}

/* on_body: first (data NULL) the checks the headers allow, then the stream. */
int tw_s3_post_body(tw_request *r, const char *data, size_t n) {
  s3_ctx *x = r->ctx;
  s3_post *p = x->post;
  if (!data) {
    p = calloc(1, sizeof *p);
    p->ctx_free = r->ctx_free;
    r->ctx_free = post_free;
    x->post = p;
    tw_buf_init(&p->line, TW_POST_PRE_DATA_MAX + 2);
    tw_buf_init(&p->value, TW_POST_PRE_DATA_MAX + 2);
    int e = tw_s3_valid_bucket_name(x->bucket) ? tw_s3_bucket_exists(x->s3, x->bucket) : 0;
    if (e <= 0) {
      tw_s3_error(r, x, e < 0 ? TW_ERR_INTERNAL : TW_ERR_S3_NO_SUCH_BUCKET, NULL);
      return -1;
    }
    return parse_content_type(r, x, p);
  }
  return feed(r, x, p, data, n);
}

/* --- the end of the body: store, answer ------------------------------------------------------- */

/* Percent-encoding of a key in a URL: every byte but the unreserved ones
 * ('/' too, as S3's Location shows). form: application/x-www-form-urlencoded,
 * as S3 writes the redirect's query (space as '+'). */
static void url_encode(tw_buf *b, const char *s, size_t n, int form) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (isalnum(c) || c == '-' || c == '.' || c == '_' || (!form && c == '~') || (form && c == '*'))
      tw_buf_putc(b, (char)c);
    else if (form && c == ' ')
      tw_buf_putc(b, '+');
    else
      tw_buf_printf(b, "%%%02X", c);
  }
}

static void object_url(tw_request *r, s3_ctx *x, tw_buf *b) {
  char base[600];
  tw_req_base_url(r, base, sizeof base);
  tw_buf_puts(b, base);
  tw_buf_putc(b, '/');
  if (!x->vhost) {
    url_encode(b, x->bucket, strlen(x->bucket), 0);
    tw_buf_putc(b, '/');
  }
  url_encode(b, x->key, x->key_len, 0);
}

static void post_done(tw_request *r) {
  s3_ctx *x = r->ctx;
  s3_post *p = x->post;
  if (tw_s3_write_settled(r, x)) return;
  char etag[96];
  snprintf(etag, sizeof etag, "\"%s\"", x->etag);
  tw_buf loc;
  tw_buf_init(&loc, 64 * 1024);
  object_url(r, x, &loc);
  if (p->redirect) { /* 303 to the URL with bucket, key and etag added to its query */
    tw_buf to;
    tw_buf_init(&to, 64 * 1024);
    size_t ul = strcspn(p->redirect, "#");
    tw_buf_append(&to, p->redirect, ul);
    tw_buf_puts(&to, memchr(p->redirect, '?', ul) ? "&bucket=" : "?bucket=");
    url_encode(&to, x->bucket, strlen(x->bucket), 1);
    tw_buf_puts(&to, "&key=");
    url_encode(&to, x->key, x->key_len, 1);
    tw_buf_puts(&to, "&etag=");
    url_encode(&to, etag, strlen(etag), 1);
    tw_buf_puts(&to, p->redirect + ul);
    tw_req_respond(r, 303, NULL, "", 0);
    tw_req_add_header(r, "Location", tw_buf_cstr(&to));
    tw_buf_free(&to);
  } else if (p->status == 201) {
    tw_buf b;
    tw_buf_init(&b, 256 * 1024);
    tw_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse>");
    tw_s3_xml_text(&b, "Location", tw_buf_cstr(&loc));
    tw_s3_xml_text(&b, "Bucket", x->bucket);
    tw_s3_xml_textn(&b, "Key", x->key, x->key_len);
    tw_s3_xml_text(&b, "ETag", etag);
    tw_buf_puts(&b, "</PostResponse>");
    size_t len;
    char *body = tw_buf_detach(&b, &len);
    tw_req_respond_owned(r, 201, "application/xml", body, len);
    tw_req_add_header(r, "Location", tw_buf_cstr(&loc));
  } else {
    tw_req_respond(r, p->status, NULL, "", 0);
    tw_req_add_header(r, "Location", tw_buf_cstr(&loc));
  }
  tw_buf_free(&loc);
  tw_s3_add_common_headers(r);
  tw_req_add_header(r, "ETag", etag);
  const char *alg = json_string_value(json_object_get(x->result, "alg"));
  if (alg) {
    tw_req_add_header(r, tw_cksum_header(tw_cksum_alg_parse(alg)),
                      json_string_value(json_object_get(x->result, "value")));
    tw_req_add_header(r, "x-amz-checksum-type", "FULL_OBJECT");
  }
}

/* Size limits, Content-MD5, checksum; sets x->etag and x->result. */
static int finish_file(tw_request *r, s3_ctx *x, s3_post *p) {
  if (flush_file(p, x)) {
    tw_s3_error(r, x, TW_ERR_INTERNAL, "Cannot store the object.");
    return -1;
  }
  if (p->counted > p->form.max_size) {
    too_large(r, x, p->counted, p->form.max_size);
    return -1;
  }
  if (p->counted < p->form.min_size) {
    char extra[160];
    snprintf(extra, sizeof extra,
             "<ProposedSize>%" PRIu64 "</ProposedSize><MinSizeAllowed>%" PRIu64 "</MinSizeAllowed>",
             p->counted, p->form.min_size);
    tw_s3_error_key(r, x, TW_ERR_S3_ENTITY_TOO_SMALL,
                    "Your proposed upload is smaller than the minimum allowed size", extra);
    return -1;
  }
  uint8_t md5[16];
  tw_hash_final(x->md5, md5);
  tw_hex(md5, 16, x->etag);
  if (tw_s3_check_md5(r, x, tw_post_value(&p->form, "Content-MD5"), md5)) return -1;
  char got[TW_CKSUM_MAX_B64];
  tw_cksum_final_b64(&x->cksum, got);
  if (tw_s3_checksum_result(r, x, got)) return -1;
  return 0;
}

/* Metadata from a form may hold any UTF-8: S3 returns such values RFC 2047
 * encoded, "=?UTF-8?Q?...?=" when most characters are ASCII, else
 * "=?UTF-8?B?...?=" (as recorded: "=?UTF-8?Q?=C3=84M=C3=84Z=C3=95=C3=91_S3?=",
 * "=?UTF-8?B?AAECAwQ=?="). Control characters count as non-ASCII, CR and LF
 * too, so no value can break the response's header. */
static json_t *meta_value(const char *v, size_t n) {
  size_t ascii = 0, other = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    if ((c & 0xC0) == 0x80) continue; /* counted with its lead byte */
    if ((c >= 0x20 && c < 0x7F) || c == '\t')
      ascii++;
    else
      other++;
  }
  if (!other) return json_stringn(v, n);
  tw_buf b;
  tw_buf_init(&b, 16 * 1024);
  if (ascii > other) {
    tw_buf_puts(&b, "=?UTF-8?Q?");
    for (size_t i = 0; i < n; i++) {
      unsigned char c = (unsigned char)v[i];
      if (c == ' ')
        tw_buf_putc(&b, '_');
      else if (c > 0x20 && c < 0x7F && !strchr("=_?", c))
        tw_buf_putc(&b, (char)c);
      else
        tw_buf_printf(&b, "=%02X", c);
    }
  } else {
    char *enc = malloc(4 * (n / 3) + 8);
    tw_base64_encode((const uint8_t *)v, n, enc);
    tw_buf_printf(&b, "=?UTF-8?B?%s", enc);
    free(enc);
  }
  tw_buf_puts(&b, "?=");
  json_t *out = json_string(tw_buf_cstr(&b));
  tw_buf_free(&b);
  return out;
}

/* Headers stored with the object (as their PUT headers) and its metadata. */
static void object_headers(s3_post *p, json_t **headers, json_t **meta) {
  static const char *stored[] = {"Cache-Control",
                                 "Content-Disposition",
                                 "Content-Encoding",
                                 "Content-Language",
                                 "Expires",
                                 "x-amz-website-redirect-location",
                                 NULL};
  *headers = json_object();
  *meta = json_object();
  for (int i = 0; stored[i]; i++) {
    tw_post_field *f = tw_post_get(&p->form, stored[i]);
    if (f) json_object_set_new(*headers, stored[i], json_stringn(f->value, f->vlen));
  }
  for (size_t i = 0; i < p->form.n; i++) {
    tw_post_field *f = &p->form.fields[i];
    if (strncasecmp(f->name, "x-amz-meta-", 11)) continue;
    char low[256];
    size_t k = 0;
    for (; f->name[k] && k < sizeof low - 1; k++) low[k] = (char)tolower((unsigned char)f->name[k]);
    low[k] = 0;
    const char *v = f->value; /* S3 trims the value */
    size_t vl = f->vlen;
    while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
    json_object_set_new(*meta, low + 11, meta_value(v, vl));
  }
}

/* on_done: the whole body is in. */
void tw_s3_post_object(tw_request *r, s3_ctx *x) {
  s3_post *p = x->post;
  tw_s3 *s = x->s3;
  if (p->state == MP_CLOSED) { /* a complete form, but no file */
    if (check_form(r, x, p)) return;
    tw_s3_error_key(r, x, TW_ERR_S3_INVALID_ARGUMENT,
                    "POST requires exactly one file upload per request.",
                    "<ArgumentName>file</ArgumentName><ArgumentValue>0</ArgumentValue>");
    return;
  }
  if (p->state != MP_DONE) { /* the body ended inside the form */
    malformed(r, x);
    return;
  }
  if (finish_file(r, x, p)) return;
  if (tw_blob_publish(s->blobs, &x->blob)) {
    x->blob_open = 0;
    tw_s3_error(r, x, TW_ERR_INTERNAL, "Cannot store the object.");
    return;
  }
  x->blob_open = 0;
  json_t *headers, *meta;
  object_headers(p, &headers, &meta);
  pthread_mutex_lock(&s->mu);
  uint64_t t = tw_s3_save_row(r, x, "ObjectCreated:Post", (int64_t)x->received, x->etag, x->blob.id,
                              p->content_type, headers, meta, x->result);
  pthread_mutex_unlock(&s->mu);
  json_decref(headers);
  json_decref(meta);
  tw_req_after_commit(r, t, post_done);
}
