/* DeleteObject and DeleteObjects (multi-object delete). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/xml_in.h"
#include "s3/s3_internal.h"
#include "store/s3_objects.h"
#include "events/bus.h"

static void delete_done(tw_request *r) {
  s3_ctx *x = r->ctx;
  if (tw_s3_write_settled(r, x)) return;
  tw_req_respond(r, 204, NULL, "", 0);
  tw_s3_add_common_headers(r);
}

/* Whether the key will have a row once the writes in flight commit (s->mu
 * held): 1 with its body in old_blob; else 0 with *wait the ticket of the
 * write in flight that removed it (0: none), which the answer must wait for. */
static int delete_lookup(s3_ctx *x, const char *key, size_t klen, char old_blob[37],
                         uint64_t *wait) {
  if (tw_s3_gc_object(x->s3, x->bucket, key, klen, old_blob, wait) > 0) return 1;
  old_blob[0] = 0;
  return 0;
}

/* Appends the delete of a key and its event to the batch the caller holds
 * (queue engine locked, s->mu held). */
static void delete_append(tw_request *r, s3_ctx *x, const char *key, size_t klen) {
  tw_s3 *s = x->s3;
  tw_store_s3_objects(s->store)->remove(s->store, x->bucket, key, klen);
  tw_s3_notify_req(s, r, x->bucket, key, klen, "ObjectRemoved:Delete", 0, NULL);
}

void tw_s3_delete_object(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  if (tw_s3_q(x, "versionId") || tw_s3_req_versioning(x) != TW_S3_VERSIONING_OFF) {
    tw_s3_delete_versioned(r, x); /* s3_versions.c */
    return;
  }
  if (tw_s3_req_bucket_exists(x) <= 0) {
    tw_s3_error(r, x, TW_ERR_S3_NO_SUCH_BUCKET, NULL);
    return;
  }
  pthread_mutex_lock(&s->mu);
  uint64_t t;
  if (delete_lookup(x, x->key, x->key_len, x->old_blob, &t)) {
    tw_events_lock(s->events); /* lock order: the bus (event targets), then the store batch */
    tw_store_hold(s->store);
    delete_append(r, x, x->key, x->key_len);
    t = tw_store_ticket(s->store);
    tw_store_release(s->store);
    tw_events_unlock(s->events);
    tw_s3_gc_object_set(s, x->bucket, x->key, x->key_len, NULL, t);
  }
  pthread_mutex_unlock(&s->mu);
  if (t)
    tw_req_after_commit(r, t, delete_done);
  else
    delete_done(r);
}

static void delete_objects_done(tw_request *r) {
  s3_ctx *x = r->ctx;
  tw_buf *b = (tw_buf *)json_integer_value(json_object_get(x->result, "buf"));
  if (tw_s3_commit_failed(r, x)) { /* every delete was in the failed batch */
    tw_buf_free(b);
    free(b);
    return;
  }
  json_t *blobs = json_object_get(x->result, "blobs");
  size_t i;
  json_t *v;
  json_array_foreach(blobs, i, v) tw_blob_remove(x->s3->blobs, json_string_value(v));
  tw_s3_respond_xml(r, 200, b);
  free(b);
}

void tw_s3_delete_objects_answer(tw_request *r, s3_ctx *x, tw_buf *b, json_t *blobs,
                                 uint64_t ticket) {
  tw_buf_puts(b, "</DeleteResult>");
  x->result = json_object();
  json_object_set_new(x->result, "buf", json_integer((json_int_t)(intptr_t)b));
  json_object_set_new(x->result, "blobs", blobs);
  if (ticket)
    tw_req_after_commit(r, ticket, delete_objects_done);
  else
    delete_objects_done(r);
}

void tw_s3_delete_error(tw_buf *b, const char *key, const char *vid, const char *code,
                        const char *msg) {
  tw_buf_puts(b, "<Error>");
  tw_s3_xml_text(b, "Key", key);
  if (vid) tw_s3_xml_text(b, "VersionId", vid);
  tw_s3_xml_text(b, "Code", code);
  tw_s3_xml_text(b, "Message", msg);
  tw_buf_puts(b, "</Error>");
}

void tw_s3_delete_objects(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  if (tw_s3_bucket_exists(s, x->bucket) <= 0) {
    tw_s3_error(r, x, TW_ERR_S3_NO_SUCH_BUCKET, NULL);
    return;
  }
  /* S3 wants the body's integrity: Content-MD5 or a checksum header */
  const char *md5 = tw_req_header(r, "Content-MD5");
  int has_cksum = 0;
  for (size_t i = 0; i < r->nheaders; i++)
    if (!strncasecmp(r->headers[i].name, "x-amz-checksum-", 15) &&
        strcasecmp(r->headers[i].name, "x-amz-checksum-mode"))
      has_cksum = 1;
  if (!md5 && !has_cksum) {
    tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST,
                "Missing required header for this request: Content-MD5");
    return;
  }
  if (md5) {
    uint8_t raw[64], got[16];
    tw_md5(r->body.data ? r->body.data : "", r->body.len, got);
    if (strlen(md5) > 40 || tw_base64_decode(md5, strlen(md5), raw) != 16) {
      tw_s3_error(r, x, TW_ERR_S3_INVALID_DIGEST, NULL);
      return;
    }
    if (memcmp(raw, got, 16)) {
      tw_s3_error(r, x, TW_ERR_S3_BAD_DIGEST, NULL);
      return;
    }
  }
  char *root = NULL;
  json_t *doc = r->body.len ? tw_xml_parse(r->body.data, r->body.len, &root) : NULL;
  if (!doc || !root || strcmp(root, "Delete")) {
    free(root);
    json_decref(doc);
    tw_s3_error(r, x, TW_ERR_S3_MALFORMED_XML, NULL);
    return;
  }
  free(root);
  json_t *objs = tw_xml_list(doc, "Object");
  const char *quiet = tw_xml_text(doc, "Quiet");
  int is_quiet = quiet && !strcasecmp(quiet, "true");
  size_t i;
  json_t *o;
  if (json_array_size(objs) == 0 || json_array_size(objs) > 1000) {
    json_decref(objs);
    json_decref(doc);
    tw_s3_error(r, x, TW_ERR_S3_MALFORMED_XML, NULL);
    return;
  }
  int versioned = tw_s3_versioning(s, x->bucket) != TW_S3_VERSIONING_OFF;
  json_array_foreach(objs, i, o) versioned |= tw_xml_text(o, "VersionId") != NULL;
  if (versioned) { /* s3_versions.c */
    tw_s3_delete_objects_versioned(r, x, objs, is_quiet);
    json_decref(objs);
    json_decref(doc);
    return;
  }
  tw_buf *b = malloc(sizeof *b);
  tw_buf_init(b, 64u << 20);
  tw_s3_xml_begin(b, "DeleteResult");
  json_t *blobs = json_array();
  uint64_t ticket = 0;
  size_t nfound = 0;
  char *found = calloc(json_array_size(objs), 1);
  pthread_mutex_lock(&s->mu);
  json_array_foreach(objs, i, o) {
    const char *key = tw_xml_text(o, "Key");
    if (!key) continue;
    size_t klen = strlen(key);
    if (klen > 1024) {
      tw_s3_delete_error(b, key, NULL, "KeyTooLongError", "Your key is too long");
      continue;
    }
    char old[37];
    uint64_t wait;
    found[i] = (char)delete_lookup(x, key, klen, old, &wait);
    nfound += (size_t)found[i];
    if (wait > ticket) ticket = wait;
    if (old[0]) json_array_append_new(blobs, json_string(old));
    if (!is_quiet) {
      tw_buf_puts(b, "<Deleted>");
      tw_s3_xml_text(b, "Key", key);
      tw_buf_puts(b, "</Deleted>");
    }
  }
  if (nfound) {
    /* one batch for all: one commit decides them all, so one answer is true */
    tw_events_lock(s->events);
    tw_store_hold(s->store);
    json_array_foreach(objs, i, o) if (found[i]) {
      const char *key = tw_xml_text(o, "Key");
      delete_append(r, x, key, strlen(key));
    }
    uint64_t t = tw_store_ticket(s->store);
    tw_store_release(s->store);
    tw_events_unlock(s->events);
    json_array_foreach(objs, i, o) if (found[i]) {
      const char *key = tw_xml_text(o, "Key");
      tw_s3_gc_object_set(s, x->bucket, key, strlen(key), NULL, t);
    }
    if (t > ticket) ticket = t;
  }
  pthread_mutex_unlock(&s->mu);
  free(found);
  json_decref(objs);
  json_decref(doc);
  tw_s3_delete_objects_answer(r, x, b, blobs, ticket);
}
