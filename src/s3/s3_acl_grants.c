/* ACLs: grants from x-amz-acl (canned), x-amz-grant-* headers or an
 * AccessControlPolicy body, checked against the bucket's Object Ownership and
 * Block Public Access; the owner and ACL a write stores with a new object. */
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

/* --- grants ------------------------------------------------------------------------ */

static const struct {
  const char *name;
  int bits;
} PERMS[] = {{"FULL_CONTROL", P_FULL},
             {"WRITE", P_WRITE},
             {"WRITE_ACP", P_WRITE_ACP},
             {"READ", P_READ},
             {"READ_ACP", P_READ_ACP}};

int tw_s3_acl_perm_bits(const char *p) {
  for (size_t i = 0; p && i < sizeof PERMS / sizeof PERMS[0]; i++)
    if (!strcmp(PERMS[i].name, p)) return PERMS[i].bits;
  return 0;
}

void tw_s3_acl_add_grant(json_t *g, const char *type, const char *value, const char *perm) {
  json_array_append_new(g, json_pack("[sss]", type, value, perm));
}

/* The grants of canned ACL `name` for a resource of `owner_id` in a bucket of
 * `bucket_owner_id`; NULL when the name is not a canned ACL. */
static json_t *canned(const char *name, const char *owner_id, const char *bucket_owner_id) {
  static const char *const names[] = {
      "private",       "public-read",       "public-read-write",         "authenticated-read",
      "aws-exec-read", "bucket-owner-read", "bucket-owner-full-control", "log-delivery-write"};
  int k = -1;
  for (int i = 0; i < 8; i++)
    if (!strcmp(name, names[i])) k = i;
  if (k < 0) return NULL;
  json_t *g = json_array();
  tw_s3_acl_add_grant(g, "id", owner_id, "FULL_CONTROL");
  int other_owner = strcmp(owner_id, bucket_owner_id) != 0;
  switch (k) {
    case 1:
      tw_s3_acl_add_grant(g, "uri", URI_ALL, "READ");
      break;
    case 2:
      tw_s3_acl_add_grant(g, "uri", URI_ALL, "READ");
      tw_s3_acl_add_grant(g, "uri", URI_ALL, "WRITE");
      break;
    case 3:
      tw_s3_acl_add_grant(g, "uri", URI_AUTH, "READ");
      break;
    case 4:
      tw_s3_acl_add_grant(g, "id", EC2_ID, "READ");
      break;
    case 5:
      if (other_owner) tw_s3_acl_add_grant(g, "id", bucket_owner_id, "READ");
      break;
    case 6:
      if (other_owner) tw_s3_acl_add_grant(g, "id", bucket_owner_id, "FULL_CONTROL");
      break;
    case 7:
      tw_s3_acl_add_grant(g, "uri", URI_LOG, "WRITE");
      tw_s3_acl_add_grant(g, "uri", URI_LOG, "READ_ACP");
      break;
  }
  return g;
}

static int grants_public(json_t *g) {
  size_t i;
  json_t *e;
  json_array_foreach(g, i, e) {
    const char *v = json_string_value(json_array_get(e, 1));
    if (!strcmp(json_string_value(json_array_get(e, 0)), "uri") && v &&
        (!strcmp(v, URI_ALL) || !strcmp(v, URI_AUTH)))
      return 1;
  }
  return 0;
}

/* Whether the grants are the owner's full control and nothing else (what a
 * bucket with ACLs disabled accepts). */
int tw_s3_acl_owner_only(json_t *g, const char *owner_id) {
  size_t i;
  json_t *e;
  json_array_foreach(g, i, e) {
    if (strcmp(json_string_value(json_array_get(e, 0)), "id") ||
        strcmp(json_string_value(json_array_get(e, 1)), owner_id) ||
        strcmp(json_string_value(json_array_get(e, 2)), "FULL_CONTROL"))
      return 0;
  }
  return 1;
}

void tw_s3_acl_bad_argument(tw_request *r, s3_ctx *x, const char *msg, const char *name,
                            const char *value) {
  tw_buf ex;
  tw_buf_init(&ex, 8192);
  tw_s3_xml_text(&ex, "ArgumentName", name);
  tw_s3_xml_text(&ex, "ArgumentValue", value);
  tw_s3_error_key(r, x, TW_ERR_S3_INVALID_ARGUMENT, msg, tw_buf_cstr(&ex));
  tw_buf_free(&ex);
}

/* One grantee: "id" (a known canonical id), "uri" (a group) or an email
 * address (refused as S3 now refuses them). 0, or -1 after answering. */
static int check_grantee(tw_request *r, s3_ctx *x, const char *type, const char *value) {
  if (!strcmp(type, "email")) {
    tw_s3_error(r, x, TW_ERR_S3_METHOD_NOT_ALLOWED, "Email Grantee ACLs are not supported.");
    return -1;
  }
  if (!strcmp(type, "id")) {
    if (tw_s3_acl_user_by_id(x->s3, value) || !strcmp(value, EC2_ID)) return 0;
    tw_s3_acl_bad_argument(r, x, "Invalid id", "CanonicalUser/ID", value);
    return -1;
  }
  if (!strcmp(value, URI_ALL) || !strcmp(value, URI_AUTH) || !strcmp(value, URI_LOG)) return 0;
  tw_s3_acl_bad_argument(r, x, "Invalid group uri", "Group/URI", value);
  return -1;
}

static const struct {
  const char *header, *perm;
} GRANT_HEADERS[] = {{"x-amz-grant-full-control", "FULL_CONTROL"},
                     {"x-amz-grant-read", "READ"},
                     {"x-amz-grant-read-acp", "READ_ACP"},
                     {"x-amz-grant-write", "WRITE"},
                     {"x-amz-grant-write-acp", "WRITE_ACP"}};

/* x-amz-grant-*: `type="value", ...` (type id, uri or emailAddress). */
static int parse_grant_header(tw_request *r, s3_ctx *x, const char *header, const char *perm,
                              const char *v, json_t *g) {
  const char *p = v;
  while (*p) {
    while (*p == ' ' || *p == ',') p++;
    if (!*p) break;
    const char *eq = strchr(p, '=');
    if (!eq) {
      tw_s3_acl_bad_argument(r, x, "Invalid grant header", header, v);
      return -1;
    }
    char type[32];
    size_t tl = (size_t)(eq - p);
    while (tl && p[tl - 1] == ' ') tl--;
    if (tl >= sizeof type) tl = sizeof type - 1;
    memcpy(type, p, tl);
    type[tl] = 0;
    p = eq + 1;
    while (*p == ' ') p++;
    const char *start, *end;
    if (*p == '"') {
      start = ++p;
      end = strchr(p, '"');
      if (!end) {
        tw_s3_acl_bad_argument(r, x, "Invalid grant header", header, v);
        return -1;
      }
      p = end + 1;
    } else {
      start = p;
      end = p + strcspn(p, ",");
      p = end;
      while (end > start && end[-1] == ' ') end--;
    }
    char *value = strndup(start, (size_t)(end - start));
    const char *t = !strcasecmp(type, "id")             ? "id"
                    : !strcasecmp(type, "uri")          ? "uri"
                    : !strcasecmp(type, "emailAddress") ? "email"
                                                        : NULL;
    if (!t) {
      free(value);
      tw_s3_acl_bad_argument(r, x, "Invalid grant header", header, v);
      return -1;
    }
    if (check_grantee(r, x, t, value)) {
      free(value);
      return -1;
    }
    tw_s3_acl_add_grant(g, t, value, perm);
    free(value);
  }
  return 0;
}

/* The grants a request's headers ask for (x-amz-acl or x-amz-grant-*, or
 * `canned` for a POST form's acl field): *out NULL when it names none.
 * 0, or -1 after answering. */
int tw_s3_acl_grants_from_headers(tw_request *r, s3_ctx *x, const char *canned_acl,
                                  const char *owner_id, const char *bucket_owner_id, json_t **out) {
  *out = NULL;
  const char *acl = canned_acl ? canned_acl : tw_req_header(r, "x-amz-acl");
  int any_grant = 0;
  for (size_t i = 0; !canned_acl && i < sizeof GRANT_HEADERS / sizeof GRANT_HEADERS[0]; i++)
    if (tw_req_header(r, GRANT_HEADERS[i].header)) any_grant = 1;
  if (acl && any_grant) {
    tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST,
                "Specifying both Canned ACLs and Header Grants is not allowed");
    return -1;
  }
  if (acl) {
    *out = canned(acl, owner_id, bucket_owner_id);
    if (!*out) {
      tw_s3_acl_bad_argument(r, x, NULL, "x-amz-acl", acl);
      return -1;
    }
    return 0;
  }
  if (!any_grant) return 0;
  json_t *g = json_array();
  for (size_t i = 0; i < sizeof GRANT_HEADERS / sizeof GRANT_HEADERS[0]; i++) {
    const char *v = tw_req_header(r, GRANT_HEADERS[i].header);
    if (v && parse_grant_header(r, x, GRANT_HEADERS[i].header, GRANT_HEADERS[i].perm, v, g)) {
      json_decref(g);
      return -1;
    }
  }
  *out = g;
  return 0;
}

/* An AccessControlPolicy body. */
int tw_s3_acl_grants_from_body(tw_request *r, s3_ctx *x, json_t **out) {
  *out = NULL;
  char *root = NULL;
  json_t *doc = tw_xml_parse(r->body.data, r->body.len, &root);
  int ok = doc && root && !strcmp(root, "AccessControlPolicy");
  free(root);
  json_t *list = ok ? json_object_get(doc, "AccessControlList") : NULL;
  if (!ok || (list && !json_is_object(list) && !json_is_string(list))) {
    json_decref(doc);
    tw_s3_error(r, x, TW_ERR_S3_MALFORMED_ACL, NULL);
    return -1;
  }
  json_t *grants = json_is_object(list) ? tw_xml_list(list, "Grant") : json_array();
  json_t *g = json_array();
  size_t i;
  json_t *e;
  int rc = 0;
  json_array_foreach(grants, i, e) {
    json_t *who = json_object_get(e, "Grantee");
    const char *perm = tw_xml_text(e, "Permission");
    const char *id = json_is_object(who) ? tw_xml_text(who, "ID") : NULL;
    const char *uri = json_is_object(who) ? tw_xml_text(who, "URI") : NULL;
    const char *mail = json_is_object(who) ? tw_xml_text(who, "EmailAddress") : NULL;
    if (!tw_s3_acl_perm_bits(perm) || (!id && !uri && !mail)) {
      tw_s3_error(r, x, TW_ERR_S3_MALFORMED_ACL, NULL);
      rc = -1;
      break;
    }
    const char *t = id ? "id" : uri ? "uri" : "email";
    const char *v = id ? id : uri ? uri : mail;
    if (check_grantee(r, x, t, v)) {
      rc = -1;
      break;
    }
    tw_s3_acl_add_grant(g, t, v, perm);
  }
  json_decref(grants);
  json_decref(doc);
  if (rc) {
    json_decref(g);
    return -1;
  }
  *out = g;
  return 0;
}

/* Refuses an ACL the bucket does not take: with BucketOwnerEnforced anything
 * but the owner's full control (AccessControlListNotSupported), with
 * BlockPublicAcls one granting a public group (AccessDenied). */
int tw_s3_acl_acceptable(tw_request *r, s3_ctx *x, const char *bucket, int ownership, json_t *g,
                         const char *owner_id) {
  if (!g) return 0;
  if (ownership == OWN_ENFORCED && !tw_s3_acl_owner_only(g, owner_id)) {
    tw_s3_error(r, x, TW_ERR_S3_ACL_NOT_SUPPORTED, NULL);
    return -1;
  }
  if ((tw_s3_pab_flags(x->s3, bucket) & TW_S3_PAB_BLOCK_ACLS) && grants_public(g)) {
    tw_s3_error(r, x, TW_ERR_ACCESS_DENIED, "Access Denied");
    return -1;
  }
  return 0;
}

/* --- writes: the owner and ACL of a new object ---------------------------------------- */

/* The owner of an object `writer` (NULL anonymous) puts into a bucket of
 * view v with grants g (NULL: none asked). */
static const char *object_owner(const bucket_view *v, const char *writer, json_t *g,
                                const char *bucket_owner_id) {
  if (v->ownership == OWN_ENFORCED || !writer) return v->owner ? v->owner : "";
  if (v->ownership != OWN_PREFERRED || !g) return writer;
  /* BucketOwnerPreferred: the bucket owner takes objects written with
   * bucket-owner-full-control (or grants that give it full control) */
  size_t i;
  json_t *e;
  json_array_foreach(g, i, e) {
    if (!strcmp(json_string_value(json_array_get(e, 0)), "id") &&
        !strcmp(json_string_value(json_array_get(e, 1)), bucket_owner_id) &&
        !strcmp(json_string_value(json_array_get(e, 2)), "FULL_CONTROL"))
      return v->owner ? v->owner : "";
  }
  return writer;
}

char *tw_s3_acl_dump_object(const char *owner, json_t *g) {
  json_t *o = json_pack("{ss}", "o", owner);
  if (g) json_object_set(o, "g", g);
  char *text = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return text;
}

int tw_s3_acl_for_write(tw_request *r, s3_ctx *x, const char *canned_acl) {
  tw_s3 *s = x->s3;
  bucket_view v = tw_s3_acl_view_of(s, x->bucket);
  const char *writer = tw_s3_caller_owner(r, s);
  char bucket_owner_id[65], writer_id[65], owner_id[65];
  tw_s3_acl_canonical_id(s, v.owner, bucket_owner_id);
  tw_s3_acl_canonical_id(s, writer ? writer : v.owner, writer_id);
  json_t *g = NULL;
  if (tw_s3_acl_grants_from_headers(r, x, canned_acl, writer_id, bucket_owner_id, &g)) {
    tw_s3_acl_view_free(&v);
    return -1;
  }
  const char *owner = object_owner(&v, writer, g, bucket_owner_id);
  tw_s3_acl_canonical_id(s, owner, owner_id);
  if (g && strcmp(owner_id, writer_id)) { /* the bucket owner took it: its grants follow */
    json_decref(g);
    g = NULL;
    tw_s3_acl_grants_from_headers(r, x, canned_acl, owner_id, bucket_owner_id, &g);
  }
  if (tw_s3_acl_acceptable(r, x, x->bucket, v.ownership, g, owner_id)) {
    json_decref(g);
    tw_s3_acl_view_free(&v);
    return -1;
  }
  if (g && tw_s3_acl_owner_only(g, owner_id)) { /* the default: kept as none */
    json_decref(g);
    g = NULL;
  }
  free(x->acl);
  x->acl = tw_s3_acl_dump_object(owner, g);
  json_decref(g);
  tw_s3_acl_view_free(&v);
  return x->acl ? 0 : -1;
}

char *tw_s3_acl_row(tw_request *r, s3_ctx *x) {
  if (x->acl) return strdup(x->acl);
  tw_s3 *s = x->s3;
  bucket_view v = tw_s3_acl_view_of(s, x->bucket);
  char *text = tw_s3_acl_dump_object(object_owner(&v, tw_s3_caller_owner(r, s), NULL, ""), NULL);
  tw_s3_acl_view_free(&v);
  return text;
}

/* The owner named in an object's acl column (NULL column: the first user). */
const char *tw_s3_acl_owner(json_t *acl) {
  const char *o = json_string_value(json_object_get(acl, "o"));
  return o ? o : "";
}

void tw_s3_object_owner_xml(tw_buf *b, tw_s3 *s, const char *bucket, const char *acl_json) {
  bucket_view v = tw_s3_acl_view_of(s, bucket);
  if (v.ownership == OWN_ENFORCED) {
    tw_s3_owner_xml(b, s, v.owner);
  } else {
    json_t *acl = acl_json ? json_loads(acl_json, 0, NULL) : NULL;
    tw_s3_owner_xml(b, s, tw_s3_acl_owner(acl));
    json_decref(acl);
  }
  tw_s3_acl_view_free(&v);
}
