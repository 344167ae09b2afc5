/* Large payloads: the SQS Extended Client pointer format, sending with
 * offloading, resolving received pointers, and the worker runtime's hooks. */
#include "worker/payload.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/log.h"
#include "sqs/msg_digest.h"
#include "worker/internal.h"

#define MAX_INLINE (1u << 20) /* SQS's largest message: bigger ones must be offloaded */
#define MAX_ATTRS 9           /* SQS's 10 less the size attribute, as the libraries check */

/* --- the pointer format ------------------------------------------------------------ */

static json_t *reserved_attr(json_t *attrs, int *legacy) {
  json_t *a = json_object_get(attrs, TW_PAYLOAD_ATTR);
  *legacy = 0;
  if (!a && (a = json_object_get(attrs, TW_PAYLOAD_LEGACY_ATTR))) *legacy = 1;
  return a;
}

int tw_payload_parse(json_t *message, tw_payload_ptr *p, char *err, size_t errlen) {
  memset(p, 0, sizeof *p);
  int legacy;
  json_t *a = reserved_attr(json_object_get(message, "MessageAttributes"), &legacy);
  if (!a) return 0;
  p->legacy = legacy;
  const char *sz = json_string_value(json_object_get(a, "StringValue"));
  char *end = NULL;
  p->size = sz ? strtoll(sz, &end, 10) : -1;
  if (!sz || !*sz || *end || p->size < 0) p->size = -1;
  const char *body = json_string_value(json_object_get(message, "Body"));
  json_t *doc = body ? json_loads(body, 0, NULL) : NULL;
  json_t *info = json_array_get(doc, 1);
  const char *cls = json_string_value(json_array_get(doc, 0));
  const char *bucket = json_string_value(json_object_get(info, "s3BucketName"));
  const char *key = json_string_value(json_object_get(info, "s3Key"));
  int ok = json_is_array(doc) && json_array_size(doc) == 2 && cls &&
           (!strcmp(cls, TW_PAYLOAD_CLASS) || !strcmp(cls, TW_PAYLOAD_LEGACY_CLASS)) && bucket &&
           *bucket && key && *key && strlen(bucket) < sizeof p->bucket &&
           strlen(key) < sizeof p->key;
  if (ok) {
    memcpy(p->bucket, bucket, strlen(bucket) + 1);
    memcpy(p->key, key, strlen(key) + 1);
  } else {
    snprintf(err, errlen,
             "the message has the %s attribute but its body is not an S3 payload pointer",
             legacy ? TW_PAYLOAD_LEGACY_ATTR : TW_PAYLOAD_ATTR);
  }
  json_decref(doc);
  return ok ? 1 : -1;
}

char *tw_payload_pointer_body(const char *bucket, const char *key) {
  json_t *doc = json_pack("[s,{s:s,s:s}]", TW_PAYLOAD_CLASS, "s3BucketName", bucket, "s3Key", key);
  char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(doc);
  return s;
}

char *tw_payload_decorate_handle(const tw_payload_ptr *p, const char *handle) {
  size_t n = 2 * strlen(TW_PAYLOAD_BUCKET_MARKER) + 2 * strlen(TW_PAYLOAD_KEY_MARKER) +
             strlen(p->bucket) + strlen(p->key) + strlen(handle) + 1;
  char *s = malloc(n);
  if (s)
    snprintf(s, n, "%s%s%s%s%s%s%s", TW_PAYLOAD_BUCKET_MARKER, p->bucket, TW_PAYLOAD_BUCKET_MARKER,
             TW_PAYLOAD_KEY_MARKER, p->key, TW_PAYLOAD_KEY_MARKER, handle);
  return s;
}

size_t tw_payload_attrs_size(json_t *attrs) {
  size_t n = 0;
  const char *k;
  json_t *v;
  json_object_foreach(attrs, k, v) {
    n += strlen(k);
    const char *t = json_string_value(json_object_get(v, "DataType"));
    const char *s = json_string_value(json_object_get(v, "StringValue"));
    const char *b = json_string_value(json_object_get(v, "BinaryValue"));
    n += t ? strlen(t) : 0;
    n += s ? strlen(s) : 0;
    n += b ? strlen(b) / 4 * 3 : 0; /* base64 on the wire: count the bytes */
  }
  return n;
}

/* --- sending ----------------------------------------------------------------------- */

/* The whole file in memory (only for bodies small enough to go inline). */
static char *read_small(int fd, uint64_t size, char *err, size_t errlen) {
  char *b = malloc(size + 1);
  if (!b) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  uint64_t got = 0;
  while (got < size) {
    ssize_t r = pread(fd, b + got, size - got, (off_t)got);
    if (r <= 0) {
      snprintf(err, errlen, "read: %s", r ? strerror(errno) : "file shrank");
      free(b);
      return NULL;
    }
    got += (uint64_t)r;
  }
  b[size] = 0;
  return b;
}

/* Uploads the payload. The bucket is created first when it is missing (a
 * CreateBucket of one's own bucket succeeds; one we may not create is left to
 * the PUT to report): a PUT to a missing bucket is refused before its body. */
static int upload(tw_s3c *s3, const tw_payload_ptr *p, const char *body, int fd, uint64_t size,
                  char *err, size_t errlen) {
  tw_s3c_error e;
  tw_s3c_create_bucket(s3, p->bucket, &e);
  int rc = fd >= 0 ? tw_s3c_put_fd(s3, p->bucket, p->key, fd, 0, size, NULL, NULL, &e)
                   : tw_s3c_put_buffer(s3, p->bucket, p->key, body, size, NULL, NULL, &e);
  if (!rc) return 0;
  char m[700];
  snprintf(err, errlen, "payload upload to s3://%.255s/%.500s: %.200s", p->bucket, p->key,
           tw_s3c_strerror(&e, m, sizeof m));
  return -1;
}

int tw_payload_send(tw_sqsc *sqs, tw_s3c *s3, const char *queue_url, const char *body, size_t len,
                    const char *path, const tw_payload_send_opts *o, tw_payload_sent *out,
                    char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  int fd = -1, rc = -1;
  char *inline_body = NULL, *pointer = NULL;
  json_t *attrs = NULL;
  uint64_t size = len;
  if (path) {
    fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
      snprintf(err, errlen, "%s: %s", path, fd < 0 ? strerror(errno) : "not a regular file");
      goto done;
    }
    size = (uint64_t)st.st_size;
  }
  out->size = size;
  size_t asize = tw_payload_attrs_size(o->attrs);
  int large = o->always || size + asize > (uint64_t)o->threshold;
  if (!large) {
    if (path) {
      if (size > MAX_INLINE) {
        snprintf(err, errlen, "%s: %llu bytes is more than a message holds; lower the threshold",
                 path, (unsigned long long)size);
        goto done;
      }
      if (!(inline_body = read_small(fd, size, err, errlen))) goto done;
      body = inline_body;
    }
    tw_sqsc_error e;
    if (tw_sqsc_send(sqs, queue_url, body, size, o->attrs, o->group_id, o->dedup_id, o->delay_s,
                     out->message_id, &e)) {
      tw_sqsc_strerror(&e, err, errlen);
      goto done;
    }
    rc = 0;
    goto done;
  }
  /* offloaded: the libraries' rules for the attributes first */
  int legacy;
  if (reserved_attr(o->attrs, &legacy)) {
    snprintf(err, errlen, "Message attribute name %s is reserved for use by SQS extended client.",
             legacy ? TW_PAYLOAD_LEGACY_ATTR : TW_PAYLOAD_ATTR);
    goto done;
  }
  if (json_object_size(o->attrs) > MAX_ATTRS) {
    snprintf(err, errlen,
             "Number of message attributes [%zu] exceeds the maximum allowed for large-payload "
             "messages [%d].",
             json_object_size(o->attrs), MAX_ATTRS);
    goto done;
  }
  if (!o->bucket || !*o->bucket) {
    snprintf(err, errlen,
             "the body (%llu bytes) is above the offload threshold (%lld): "
             "name a bucket for payloads (--bucket)",
             (unsigned long long)size, o->threshold);
    goto done;
  }
  if (size > TW_PAYLOAD_MAX_SIZE) {
    snprintf(err, errlen, "the body (%llu bytes) is larger than 5 GiB, S3's single PUT limit",
             (unsigned long long)size);
    goto done;
  }
  if (!s3) {
    snprintf(err, errlen, "no S3 client for the payload");
    goto done;
  }
  tw_payload_ptr *p = &out->ptr;
  char uuid[37];
  tw_uuid4(uuid);
  snprintf(p->bucket, sizeof p->bucket, "%s", o->bucket);
  snprintf(p->key, sizeof p->key, "%s%s", o->key_prefix ? o->key_prefix : "", uuid);
  p->size = (long long)size;
  if (upload(s3, p, body, fd, size, err, errlen)) goto done;
  attrs = o->attrs ? json_deep_copy(o->attrs) : json_object();
  char num[32];
  snprintf(num, sizeof num, "%llu", (unsigned long long)size);
  json_object_set_new(attrs, TW_PAYLOAD_ATTR,
                      json_pack("{s:s,s:s}", "DataType", "Number", "StringValue", num));
  pointer = tw_payload_pointer_body(p->bucket, p->key);
  tw_sqsc_error e;
  if (!pointer || tw_sqsc_send(sqs, queue_url, pointer, strlen(pointer), attrs, o->group_id,
                               o->dedup_id, o->delay_s, out->message_id, &e)) {
    if (pointer) tw_sqsc_strerror(&e, err, errlen);
    tw_s3c_error de;
    tw_s3c_delete(s3, p->bucket, p->key, &de); /* no message points to it */
    goto done;
  }
  out->offloaded = 1;
  rc = 0;
done:
  if (fd >= 0) close(fd);
  free(inline_body);
  free(pointer);
  json_decref(attrs);
  return rc;
}

/* --- receiving --------------------------------------------------------------------- */

static int md5_file(const char *path, char out[33]) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  tw_hash *h = tw_hash_md5_new();
  size_t cap = 1u << 20;
  char *buf = malloc(cap);
  ssize_t r = -1;
  while (h && buf && (r = read(fd, buf, cap)) > 0) tw_hash_update(h, buf, (size_t)r);
  close(fd);
  free(buf);
  if (!h || r < 0) {
    tw_hash_free(h);
    return -1;
  }
  uint8_t d[16];
  tw_hash_final(h, d);
  tw_hash_free(h);
  tw_hex(d, 16, out);
  return 0;
}

int tw_payload_resolve(tw_s3c *s3, json_t *message, const char *path, tw_payload_ptr *p,
                       uint64_t *size, char *err, size_t errlen) {
  int r = tw_payload_parse(message, p, err, errlen);
  if (r <= 0) return r;
  tw_s3c_error e;
  uint64_t got = 0;
  if (tw_s3c_get_file(s3, p->bucket, p->key, path, &got, &e)) {
    char m[700];
    snprintf(err, errlen, "payload s3://%.255s/%.500s: %.200s", p->bucket, p->key,
             tw_s3c_strerror(&e, m, sizeof m));
    return -1;
  }
  char md5[33];
  if (md5_file(path, md5)) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    unlink(path);
    return -1;
  }
  if (p->size >= 0 && (uint64_t)p->size != got)
    tw_warn("payload s3://%s/%s has %llu bytes, its message says %lld", p->bucket, p->key,
            (unsigned long long)got, p->size);
  if (size) *size = got;
  /* what a caller of the libraries sees: the payload's digest, no size attribute */
  json_object_set_new(message, "MD5OfBody", json_string(md5));
  json_t *attrs = json_object_get(message, "MessageAttributes");
  json_object_del(attrs, TW_PAYLOAD_ATTR);
  json_object_del(attrs, TW_PAYLOAD_LEGACY_ATTR);
  char amd5[33];
  if (json_object_size(attrs) && !tw_sqs_md5_message_attributes(attrs, amd5)) {
    json_object_set_new(message, "MD5OfMessageAttributes", json_string(amd5));
  } else {
    json_object_del(message, "MessageAttributes");
    json_object_del(message, "MD5OfMessageAttributes");
  }
  return 1;
}

int tw_payload_release(tw_s3c *s3, const tw_payload_ptr *p, char *err, size_t errlen) {
  tw_s3c_error e;
  if (!tw_s3c_delete(s3, p->bucket, p->key, &e)) return 0;
  char m[700];
  snprintf(err, errlen, "deleting payload s3://%.255s/%.500s: %.200s", p->bucket, p->key,
           tw_s3c_strerror(&e, m, sizeof m));
  return -1;
}

/* --- worker hooks ------------------------------------------------------------------ */

typedef struct {
  tw_payload_ptr ptr;
  char path[600];
} msg_payload;

void tw_payload_worker_ext(tw_worker_ext *ext, tw_payload_worker *pw) {
  ext->ud = pw;
  ext->prepare = tw_payload_prepare;
  ext->deleted = tw_payload_deleted;
  ext->msg_free = tw_payload_msg_free;
}

const tw_payload_ptr *tw_payload_of(const tw_wmsg *m) {
  return m->ext ? &((const msg_payload *)m->ext)->ptr : NULL;
}

int tw_payload_prepare(void *ud, tw_worker *w, tw_wmsg *m, char *why, size_t whylen) {
  (void)ud;
  tw_payload_ptr p;
  int r = tw_payload_parse(m->raw, &p, why, whylen);
  if (r <= 0) return r; /* not a pointer (0), or a broken one: the message fails */
  tw_s3c *s3 = tw_worker_s3(w);
  if (!s3) {
    snprintf(why, whylen, "no S3 client to fetch payload s3://%s/%s", p.bucket, p.key);
    return -1;
  }
  msg_payload *mp = calloc(1, sizeof *mp);
  if (!mp) {
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  const char *dir = w->tmpdir[0] ? w->tmpdir : getenv("TMPDIR");
  snprintf(mp->path, sizeof mp->path, "%s/payload-XXXXXX", dir && *dir ? dir : "/tmp");
  int fd = mkstemp(mp->path);
  if (fd < 0) {
    snprintf(why, whylen, "%s: %s", mp->path, strerror(errno));
    free(mp);
    return -1;
  }
  close(fd);
  if (tw_payload_resolve(s3, m->raw, mp->path, &mp->ptr, NULL, why, whylen) != 1 ||
      tw_wmsg_set_body_file(m, mp->path)) {
    unlink(mp->path);
    free(mp);
    return -1;
  }
  m->ext = mp;
  return 0;
}

void tw_payload_deleted(void *ud, tw_worker *w, tw_wmsg *m) {
  const tw_payload_worker *pw = ud;
  const tw_payload_ptr *p = tw_payload_of(m);
  if (!p || (pw && pw->keep_payloads)) return;
  tw_s3c *s3 = tw_worker_s3(w);
  char err[1024];
  if (s3 && tw_payload_release(s3, p, err, sizeof err)) tw_warn("worker: %s", err);
}

void tw_payload_msg_free(void *ud, tw_wmsg *m) {
  (void)ud;
  msg_payload *mp = m->ext;
  if (!mp) return;
  unlink(mp->path);
  free(mp);
  m->ext = NULL;
}
