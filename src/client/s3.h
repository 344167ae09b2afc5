/* A minimal S3 client (path-style, SigV4): put an object from a file or a
 * buffer, get one into a file, head, delete, create a bucket. File bodies are
 * streamed in both directions in constant memory (256 KiB at a time), so
 * objects of any size up to S3's 5 GiB single-PUT limit pass through.
 *
 * Thread-safe: one tw_s3c may be shared by any number of threads.
 * (Prefix tw_s3c_: tw_s3_* names belong to the server's object store.)
 *
 *   tw_s3c *s3 = tw_s3c_new(endpoint, &creds, err, sizeof err);
 *   tw_s3c_put_file(s3, "bucket", "dir/key", "/tmp/out.bin", NULL, &e);
 *   tw_s3c_get_file(s3, "bucket", "dir/key", "/tmp/copy.bin", &size, &e);
 */
#ifndef TW_CLIENT_S3_H
#define TW_CLIENT_S3_H
#include <stddef.h>
#include <stdint.h>

#include "client/aws.h"

typedef struct tw_s3c tw_s3c;

/* status: HTTP status, -1 when no response came (code "" then). code/message
 * from S3's XML error ("NoSuchKey", ...), or "HTTP<status>" when it had none. */
typedef struct {
  int status;
  char code[64];
  char message[512];
} tw_s3c_error;

tw_s3c *tw_s3c_new(const char *endpoint_url, const tw_aws_creds *creds, char *err, size_t errlen);
void tw_s3c_free(tw_s3c *c);
tw_aws *tw_s3c_aws(tw_s3c *c);

/* Payload signing for uploads: 0 (default) sends UNSIGNED-PAYLOAD, 1 hashes
 * the file first (one extra read pass) and signs its SHA-256. */
void tw_s3c_set_sign_payload(tw_s3c *c, int on);

/* PutObject from the file at path (streamed). content_type may be NULL.
 * etag (optional, 128 bytes) receives the ETag header as sent (quoted). */
int tw_s3c_put_file(tw_s3c *c, const char *bucket, const char *key, const char *path,
                    const char *content_type, char *etag, tw_s3c_error *e);
/* The same from an open file: len bytes from offset off (pread). */
int tw_s3c_put_fd(tw_s3c *c, const char *bucket, const char *key, int fd, uint64_t off,
                  uint64_t len, const char *content_type, char *etag, tw_s3c_error *e);
/* PutObject from memory. */
int tw_s3c_put_buffer(tw_s3c *c, const char *bucket, const char *key, const void *data, size_t len,
                      const char *content_type, char *etag, tw_s3c_error *e);

/* GetObject into the file at path (created or truncated, mode 0600; removed
 * again when the download fails). *size (optional) receives the byte count. */
int tw_s3c_get_file(tw_s3c *c, const char *bucket, const char *key, const char *path,
                    uint64_t *size, tw_s3c_error *e);
/* GetObject appended to an open fd. */
int tw_s3c_get_fd(tw_s3c *c, const char *bucket, const char *key, int fd, uint64_t *size,
                  tw_s3c_error *e);

/* HeadObject: *size (optional) receives Content-Length. A missing object is
 * status 404, code "NoSuchKey" (HEAD answers carry no body). */
int tw_s3c_head(tw_s3c *c, const char *bucket, const char *key, uint64_t *size, tw_s3c_error *e);
/* DeleteObject (succeeds for a missing key, as S3 does). */
int tw_s3c_delete(tw_s3c *c, const char *bucket, const char *key, tw_s3c_error *e);
/* CreateBucket; an existing bucket of ours counts as success. */
int tw_s3c_create_bucket(tw_s3c *c, const char *bucket, tw_s3c_error *e);

const char *tw_s3c_strerror(const tw_s3c_error *e, char *out, size_t n);

#endif
