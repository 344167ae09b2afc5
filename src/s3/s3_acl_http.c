/* ACL handlers: Get/PutBucketAcl, Get/PutObjectAcl and
 * Put/Get/DeleteBucketOwnershipControls. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/credentials.h"
#include "core/log.h"
#include "core/map.h"
#include "core/xml_in.h"
#include "s3/s3_acl_internal.h"
#include "s3/s3_internal.h"
#include "store/s3_buckets.h"
#include "store/s3_objects.h"

/* --- Get/PutBucketAcl, Get/PutObjectAcl ------------------------------------------------ */

static void acl_xml(tw_request *r, tw_s3 *s, const char *owner, json_t *g) {
  tw_buf b;
  tw_buf_init(&b, 1 << 20);
  tw_s3_xml_begin(&b, "AccessControlPolicy");
  tw_s3_owner_xml(&b, s, owner);
  tw_buf_puts(&b, "<AccessControlList>");
  json_t *mine = NULL;
  if (!g) {
    char id[65];
    tw_s3_acl_canonical_id(s, owner, id);
    mine = json_array();
    tw_s3_acl_add_grant(mine, "id", id, "FULL_CONTROL");
    g = mine;
  }
  size_t i;
  json_t *e;
  json_array_foreach(g, i, e) {
    const char *t = json_string_value(json_array_get(e, 0));
    const char *v = json_string_value(json_array_get(e, 1));
    int user = !strcmp(t, "id");
    tw_buf_printf(&b,
                  "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                  "xsi:type=\"%s\">",
                  user ? "CanonicalUser" : "Group");
    if (user) {
      tw_s3_xml_text(&b, "ID", v);
      const known_user *k = tw_s3_acl_user_by_id(s, v);
      if (k) tw_s3_xml_text(&b, "DisplayName", k->display);
    } else {
      tw_s3_xml_text(&b, "URI", v);
    }
    tw_buf_puts(&b, "</Grantee>");
    tw_s3_xml_text(&b, "Permission", json_string_value(json_array_get(e, 2)));
    tw_buf_puts(&b, "</Grant>");
  }
  json_decref(mine);
  tw_buf_puts(&b, "</AccessControlList></AccessControlPolicy>");
  tw_s3_respond_xml(r, 200, &b);
}

static int bucket_or_404(tw_request *r, s3_ctx *x) {
  int e = tw_s3_bucket_exists(x->s3, x->bucket);
  if (e > 0) return 0;
  tw_s3_error(r, x, e < 0 ? TW_ERR_INTERNAL : TW_ERR_S3_NO_SUCH_BUCKET, NULL);
  return -1;
}

void tw_s3_get_bucket_acl(tw_request *r, s3_ctx *x) {
  if (bucket_or_404(r, x)) return;
  bucket_view v = tw_s3_acl_view_of(x->s3, x->bucket);
  acl_xml(r, x->s3, v.owner, v.ownership == OWN_ENFORCED ? NULL : v.grants);
  tw_s3_acl_view_free(&v);
}

static void saved_200(tw_request *r) {
  s3_ctx *x = r->ctx;
  if (tw_s3_commit_failed(r, x)) return;
  tw_req_respond(r, 200, NULL, "", 0);
  tw_s3_add_common_headers(r);
}

/* The grants of a Put*Acl: the body, else the headers (one of them required). */
static int requested_grants(tw_request *r, s3_ctx *x, const char *owner_id,
                            const char *bucket_owner_id, json_t **g) {
  if (r->body.len) {
    if (tw_s3_check_body_digests(r, x, NULL)) return -1;
    return tw_s3_acl_grants_from_body(r, x, g);
  }
  if (tw_s3_acl_grants_from_headers(r, x, NULL, owner_id, bucket_owner_id, g)) return -1;
  if (!*g) {
    tw_s3_error(r, x, TW_ERR_S3_MISSING_SECURITY_HEADER, NULL);
    return -1;
  }
  return 0;
}

void tw_s3_put_bucket_acl(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  if (bucket_or_404(r, x)) return;
  bucket_view v = tw_s3_acl_view_of(s, x->bucket);
  char id[65];
  tw_s3_acl_canonical_id(s, v.owner, id);
  json_t *g = NULL;
  if (requested_grants(r, x, id, id, &g) ||
      tw_s3_acl_acceptable(r, x, x->bucket, v.ownership, g, id)) {
    json_decref(g);
    tw_s3_acl_view_free(&v);
    return;
  }
  tw_s3_acl_view_free(&v);
  if (tw_s3_acl_owner_only(g, id) && json_array_size(g) == 1) {
    json_decref(g);
    g = NULL;
  }
  char *text = NULL;
  if (g) {
    json_t *o = json_pack("{sO}", "g", g);
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
  }
  pthread_mutex_lock(&s->mu); /* ordered against DeleteBucket */
  if (bucket_or_404(r, x)) {
    pthread_mutex_unlock(&s->mu);
    json_decref(g);
    free(text);
    return;
  }
  uint64_t t =
      tw_store_s3_buckets(s->store)->set_setting(s->store, x->bucket, TW_S3_BUCKET_ACL, text);
  struct s3_acl_state *st = s->acl;
  pthread_rwlock_wrlock(&st->lock);
  bucket_acl *e = tw_s3_acl_entry_locked(st, x->bucket);
  if (e) {
    json_decref(e->grants);
    e->grants = json_incref(g);
  }
  pthread_rwlock_unlock(&st->lock);
  pthread_mutex_unlock(&s->mu);
  json_decref(g);
  free(text);
  tw_req_after_commit(r, t, saved_200);
}

/* The object a Get/PutObjectAcl names: its row (free it), or -1 after answering. */
static int acl_object(tw_request *r, s3_ctx *x, tw_s3_object_row *row) {
  tw_s3_obj o;
  memset(row, 0, sizeof *row);
  if (tw_s3_load_requested(r, x, &o)) {
    tw_s3_row_free(&o);
    return -1;
  }
  tw_s3_row_free(&o);
  const tw_s3_objects_repo *repo = tw_store_s3_objects(x->s3->store);
  const char *vid = tw_s3_q(x, "versionId");
  int found = vid ? repo->get_version(x->s3->store, x->bucket, x->key, x->key_len,
                                      strcmp(vid, "null") ? vid : NULL, row)
                  : repo->get(x->s3->store, x->bucket, x->key, x->key_len, row);
  if (found != 1) {
    tw_s3_error(r, x, found < 0 ? TW_ERR_INTERNAL : TW_ERR_S3_NO_SUCH_KEY, NULL);
    return -1;
  }
  return 0;
}

void tw_s3_get_object_acl(tw_request *r, s3_ctx *x) {
  tw_s3_object_row row;
  if (acl_object(r, x, &row)) return;
  bucket_view v = tw_s3_acl_view_of(x->s3, x->bucket);
  json_t *acl = row.acl ? json_loads(row.acl, 0, NULL) : NULL;
  if (v.ownership == OWN_ENFORCED)
    acl_xml(r, x->s3, v.owner, NULL);
  else
    acl_xml(r, x->s3, tw_s3_acl_owner(acl), json_object_get(acl, "g"));
  if (x->version_id[0]) tw_req_add_header(r, "x-amz-version-id", x->version_id);
  json_decref(acl);
  tw_s3_acl_view_free(&v);
  tw_s3_object_row_free(&row);
}

void tw_s3_put_object_acl(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  tw_s3_object_row row;
  if (acl_object(r, x, &row)) return;
  bucket_view v = tw_s3_acl_view_of(s, x->bucket);
  json_t *acl = row.acl ? json_loads(row.acl, 0, NULL) : NULL;
  const char *owner = v.ownership == OWN_ENFORCED ? v.owner : tw_s3_acl_owner(acl);
  char id[65], bucket_owner_id[65];
  tw_s3_acl_canonical_id(s, owner, id);
  tw_s3_acl_canonical_id(s, v.owner, bucket_owner_id);
  json_t *g = NULL;
  int bad = requested_grants(r, x, id, bucket_owner_id, &g) ||
            tw_s3_acl_acceptable(r, x, x->bucket, v.ownership, g, id);
  char *text = NULL;
  if (!bad) {
    if (tw_s3_acl_owner_only(g, id) && json_array_size(g) == 1) {
      json_decref(g);
      g = NULL;
    }
    text = tw_s3_acl_dump_object(owner, g);
  }
  json_decref(g);
  json_decref(acl);
  tw_s3_acl_view_free(&v);
  if (bad) {
    tw_s3_object_row_free(&row);
    return;
  }
  pthread_mutex_lock(&s->mu);
  uint64_t t = tw_store_s3_objects(s->store)->set_acl(s->store, x->bucket, x->key, x->key_len,
                                                      row.blob, text);
  pthread_mutex_unlock(&s->mu);
  free(text);
  tw_s3_object_row_free(&row);
  tw_req_after_commit(r, t, saved_200);
}

/* --- Put/Get/DeleteBucketOwnershipControls ------------------------------------------- */

static void deleted_204(tw_request *r) {
  s3_ctx *x = r->ctx;
  if (tw_s3_commit_failed(r, x)) return;
  tw_req_respond(r, 204, NULL, "", 0);
  tw_s3_add_common_headers(r);
}

static void set_ownership(tw_request *r, s3_ctx *x, int k) {
  tw_s3 *s = x->s3;
  pthread_mutex_lock(&s->mu);
  if (bucket_or_404(r, x)) {
    pthread_mutex_unlock(&s->mu);
    return;
  }
  char *text = k ? tw_s3_acl_ownership_json(k) : NULL;
  uint64_t t =
      tw_store_s3_buckets(s->store)->set_setting(s->store, x->bucket, TW_S3_BUCKET_OWNERSHIP, text);
  free(text);
  struct s3_acl_state *st = s->acl;
  pthread_rwlock_wrlock(&st->lock);
  bucket_acl *e = tw_s3_acl_entry_locked(st, x->bucket);
  if (e) e->ownership = k;
  pthread_rwlock_unlock(&st->lock);
  pthread_mutex_unlock(&s->mu);
  tw_req_after_commit(r, t, k ? saved_200 : deleted_204);
}

void tw_s3_put_ownership_controls(tw_request *r, s3_ctx *x) {
  if (bucket_or_404(r, x) || tw_s3_check_body_digests(r, x, NULL)) return;
  char *root = NULL;
  json_t *doc = r->body.len ? tw_xml_parse(r->body.data, r->body.len, &root) : NULL;
  int ok = doc && root && !strcmp(root, "OwnershipControls");
  free(root);
  json_t *rules = ok ? tw_xml_list(doc, "Rule") : NULL;
  int k = 0;
  if (ok && json_array_size(rules) == 1) {
    const char *v = tw_xml_text(json_array_get(rules, 0), "ObjectOwnership");
    for (int i = 1; v && i < 4; i++)
      if (!strcmp(v, tw_s3_acl_own_names[i])) k = i;
  }
  json_decref(rules);
  json_decref(doc);
  if (!k) {
    tw_s3_error(r, x, TW_ERR_S3_MALFORMED_XML, NULL);
    return;
  }
  if (k == OWN_ENFORCED) { /* a bucket ACL beyond the owner's must go first */
    bucket_view v = tw_s3_acl_view_of(x->s3, x->bucket);
    char id[65];
    tw_s3_acl_canonical_id(x->s3, v.owner, id);
    int refuse = v.grants && !tw_s3_acl_owner_only(v.grants, id);
    tw_s3_acl_view_free(&v);
    if (refuse) {
      tw_s3_error(r, x, TW_ERR_S3_INVALID_BUCKET_ACL_OWNERSHIP, NULL);
      return;
    }
  }
  set_ownership(r, x, k);
}

void tw_s3_delete_ownership_controls(tw_request *r, s3_ctx *x) {
  set_ownership(r, x, OWN_NONE);
}

void tw_s3_get_ownership_controls(tw_request *r, s3_ctx *x) {
  if (bucket_or_404(r, x)) return;
  bucket_view v = tw_s3_acl_view_of(x->s3, x->bucket);
  int k = v.ownership;
  tw_s3_acl_view_free(&v);
  if (!k) {
    tw_buf ex;
    tw_buf_init(&ex, 4096);
    tw_s3_xml_text(&ex, "BucketName", x->bucket);
    tw_s3_error_key(r, x, TW_ERR_S3_NO_OWNERSHIP_CONTROLS, NULL, tw_buf_cstr(&ex));
    tw_buf_free(&ex);
    return;
  }
  tw_buf b;
  tw_buf_init(&b, 4096);
  tw_s3_xml_begin(&b, "OwnershipControls");
  tw_buf_puts(&b, "<Rule>");
  tw_s3_xml_text(&b, "ObjectOwnership", tw_s3_acl_own_names[k]);
  tw_buf_puts(&b, "</Rule></OwnershipControls>");
  tw_s3_respond_xml(r, 200, &b);
}
