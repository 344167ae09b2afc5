/* Minimal path-style S3 client with streamed file bodies. */
#include "client/s3.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/crypto.h"

#define HASH_CHUNK (1u << 20)

struct tw_s3c {
  tw_aws *aws;
  int sign_payload;
};

tw_s3c *tw_s3c_new(const char *endpoint_url, const tw_aws_creds *creds, char *err, size_t errlen) {
  /* aws is the struct's first member */
  return tw_aws_client_new(endpoint_url, "s3", creds, sizeof(tw_s3c), err, errlen);
}

void tw_s3c_free(tw_s3c *c) {
  if (!c) return;
  tw_aws_free(c->aws);
  free(c);
}

tw_aws *tw_s3c_aws(tw_s3c *c) {
  return c->aws;
}
void tw_s3c_set_sign_payload(tw_s3c *c, int on) {
  c->sign_payload = on;
}

const char *tw_s3c_strerror(const tw_s3c_error *e, char *out, size_t n) {
  if (e->code[0])
    snprintf(out, n, "%s: %s (HTTP %d)", e->code, e->message, e->status);
  else
    snprintf(out, n, "%s", e->message);
  return out;
}

/* Truncating copy (snprintf("%s") trips -Wformat-truncation on long inputs). */
static void copy_str(char *dst, size_t n, const char *src) {
  size_t l = src ? strnlen(src, n - 1) : 0;
  if (l) memcpy(dst, src, l);
  dst[l] = 0;
}

static void set_error(tw_s3c_error *e, int status, const char *code, const char *msg) {
  if (!e) return;
  e->status = status;
  copy_str(e->code, sizeof e->code, code);
  copy_str(e->message, sizeof e->message, msg);
}

/* The text of <tag>...</tag> in xml, entities &amp; &lt; &gt; &quot; &apos; decoded. */
static void xml_text(const char *xml, size_t len, const char *tag, char *out, size_t n) {
  out[0] = 0;
  char open[64], close[64];
  snprintf(open, sizeof open, "<%s>", tag);
  snprintf(close, sizeof close, "</%s>", tag);
  const char *p = memmem(xml, len, open, strlen(open));
  if (!p) return;
  p += strlen(open);
  const char *q = memmem(p, len - (size_t)(p - xml), close, strlen(close));
  if (!q) return;
  size_t o = 0;
  static const struct {
    const char *ent;
    char c;
  } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
  while (p < q && o + 1 < n) {
    int done = 0;
    if (*p == '&')
      for (size_t i = 0; i < sizeof ents / sizeof ents[0]; i++) {
        size_t el = strlen(ents[i].ent);
        if ((size_t)(q - p) >= el && !memcmp(p, ents[i].ent, el)) {
          out[o++] = ents[i].c;
          p += el;
          done = 1;
          break;
        }
      }
    if (!done) out[o++] = *p++;
  }
  out[o] = 0;
}

static void parse_error(const tw_http_resp *r, tw_s3c_error *e) {
  char code[64], msg[512];
  xml_text(r->body.data ? r->body.data : "", r->body.len, "Code", code, sizeof code);
  xml_text(r->body.data ? r->body.data : "", r->body.len, "Message", msg, sizeof msg);
  if (!code[0]) {
    if (r->status == 404)
      snprintf(code, sizeof code, "NoSuchKey");
    else
      snprintf(code, sizeof code, "HTTP%d", r->status);
  }
  set_error(e, r->status, code, msg);
}

/* "/bucket/key" with the key percent-encoded ('/' kept). */
static int object_path(tw_buf *b, const char *bucket, const char *key) {
  tw_buf_putc(b, '/');
  tw_http_uri_encode(b, bucket, strlen(bucket), 0);
  if (key) {
    tw_buf_putc(b, '/');
    tw_http_uri_encode(b, key, strlen(key), 1);
  }
  return b->overflow ? -1 : 0;
}

/* One request; 2xx → 0, else -1 with e. resp may be NULL. */
static int run(tw_s3c *c, tw_http_req *q, const char *sha, tw_http_resp *resp, tw_s3c_error *e) {
  tw_http_resp own;
  if (!resp) {
    tw_http_resp_init(&own);
    resp = &own;
  }
  char err[512];
  int rc = -1;
  if (tw_aws_request(c->aws, q, sha, resp, err, sizeof err)) {
    set_error(e, -1, "", err);
  } else if (resp->status / 100 != 2) {
    parse_error(resp, e);
  } else {
    rc = 0;
  }
  if (resp == &own) tw_http_resp_free(&own);
  return rc;
}

static int sha256_fd(int fd, uint64_t off, uint64_t len, char out[65]) {
  tw_hash *h = tw_hash_sha256_new();
  char *buf = malloc(HASH_CHUNK);
  int rc = -1;
  if (!h || !buf) goto out;
  while (len) {
    size_t n = len < HASH_CHUNK ? (size_t)len : HASH_CHUNK;
    ssize_t r = pread(fd, buf, n, (off_t)off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) goto out;
    tw_hash_update(h, buf, (size_t)r);
    off += (uint64_t)r;
    len -= (uint64_t)r;
  }
  uint8_t d[32];
  tw_hash_final(h, d);
  tw_hex(d, 32, out);
  rc = 0;
out:
  free(buf);
  if (h) tw_hash_free(h);
  return rc;
}

static int put(tw_s3c *c, const char *bucket, const char *key, const void *data, int fd,
               uint64_t off, uint64_t len, const char *content_type, char *etag, tw_s3c_error *e) {
  tw_buf path;
  tw_buf_init(&path, 8192);
  if (object_path(&path, bucket, key)) {
    tw_buf_free(&path);
    set_error(e, -1, "", "object key too long");
    return -1;
  }
  char sha[65];
  const char *payload = NULL; /* hash of a buffer body: computed by tw_aws_request */
  if (fd >= 0) {
    payload = "UNSIGNED-PAYLOAD";
    if (c->sign_payload) {
      if (sha256_fd(fd, off, len, sha)) {
        tw_buf_free(&path);
        set_error(e, -1, "", "cannot read the file to upload");
        return -1;
      }
      payload = sha;
    }
  }
  tw_kv h[1] = {{"Content-Type", content_type ? content_type : "application/octet-stream"}};
  tw_http_req q = {.method = "PUT",
                   .path = tw_buf_cstr(&path),
                   .headers = h,
                   .nheaders = 1,
                   .body = data,
                   .body_len = len,
                   .body_fd = fd,
                   .body_off = off,
                   .resp_fd = -1};
  tw_http_resp r;
  tw_http_resp_init(&r);
  int rc = run(c, &q, payload, &r, e);
  if (rc == 0 && etag && !tw_http_resp_header(&r, "etag", etag, 128)) etag[0] = 0;
  tw_http_resp_free(&r);
  tw_buf_free(&path);
  return rc;
}

int tw_s3c_put_fd(tw_s3c *c, const char *bucket, const char *key, int fd, uint64_t off,
                  uint64_t len, const char *content_type, char *etag, tw_s3c_error *e) {
  return put(c, bucket, key, NULL, fd, off, len, content_type, etag, e);
}

int tw_s3c_put_file(tw_s3c *c, const char *bucket, const char *key, const char *path,
                    const char *content_type, char *etag, tw_s3c_error *e) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    char m[600];
    snprintf(m, sizeof m, "cannot open %s: %s", path, strerror(errno));
    set_error(e, -1, "", m);
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st)) {
    close(fd);
    set_error(e, -1, "", "cannot stat the file to upload");
    return -1;
  }
  int rc = put(c, bucket, key, NULL, fd, 0, (uint64_t)st.st_size, content_type, etag, e);
  close(fd);
  return rc;
}

int tw_s3c_put_buffer(tw_s3c *c, const char *bucket, const char *key, const void *data, size_t len,
                      const char *content_type, char *etag, tw_s3c_error *e) {
  return put(c, bucket, key, data ? data : "", -1, 0, len, content_type, etag, e);
}

static int simple(tw_s3c *c, const char *method, const char *bucket, const char *key,
                  const char *body, int out_fd, uint64_t *size, tw_s3c_error *e) {
  tw_buf path;
  tw_buf_init(&path, 8192);
  if (object_path(&path, bucket, key)) {
    tw_buf_free(&path);
    set_error(e, -1, "", "object key too long");
    return -1;
  }
  tw_http_req q = {.method = method,
                   .path = tw_buf_cstr(&path),
                   .body = body,
                   .body_len = body ? strlen(body) : 0,
                   .body_fd = -1,
                   .resp_fd = out_fd,
                   .resp_cap = 1 << 20};
  tw_http_resp r;
  tw_http_resp_init(&r);
  int rc = run(c, &q, NULL, &r, e);
  if (rc == 0 && size) {
    char v[32];
    if (!strcmp(method, "HEAD"))
      *size = tw_http_resp_header(&r, "content-length", v, sizeof v) ? strtoull(v, NULL, 10) : 0;
    else
      *size = r.body_bytes;
  }
  tw_http_resp_free(&r);
  tw_buf_free(&path);
  return rc;
}

int tw_s3c_get_fd(tw_s3c *c, const char *bucket, const char *key, int fd, uint64_t *size,
                  tw_s3c_error *e) {
  return simple(c, "GET", bucket, key, NULL, fd, size, e);
}

int tw_s3c_get_file(tw_s3c *c, const char *bucket, const char *key, const char *path,
                    uint64_t *size, tw_s3c_error *e) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    char m[600];
    snprintf(m, sizeof m, "cannot create %s: %s", path, strerror(errno));
    set_error(e, -1, "", m);
    return -1;
  }
  int rc = simple(c, "GET", bucket, key, NULL, fd, size, e);
  if (close(fd) && rc == 0) {
    set_error(e, -1, "", "cannot write the downloaded file");
    rc = -1;
  }
  if (rc) unlink(path);
  return rc;
}

int tw_s3c_head(tw_s3c *c, const char *bucket, const char *key, uint64_t *size, tw_s3c_error *e) {
  return simple(c, "HEAD", bucket, key, NULL, -1, size, e);
}

int tw_s3c_delete(tw_s3c *c, const char *bucket, const char *key, tw_s3c_error *e) {
  return simple(c, "DELETE", bucket, key, NULL, -1, NULL, e);
}

int tw_s3c_create_bucket(tw_s3c *c, const char *bucket, tw_s3c_error *e) {
  const char *region = tw_aws_creds_of(c->aws)->region;
  char body[256] = "";
  if (strcmp(region, "us-east-1"))
    snprintf(body, sizeof body,
             "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
             "<LocationConstraint>%s</LocationConstraint></CreateBucketConfiguration>",
             region);
  int rc = simple(c, "PUT", bucket, NULL, body[0] ? body : NULL, -1, NULL, e);
  if (rc && e && !strcmp(e->code, "BucketAlreadyOwnedByYou")) rc = 0;
  return rc;
}
