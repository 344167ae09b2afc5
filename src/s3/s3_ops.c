/* The S3 operation table (s3_ops.h). Rows are tried in order: within a level,
 * the first subresource present in the query decides the group, and the
 * method (and x-amz-copy-source) the row; a group with no row for the method
 * is a 405, as S3 answers. Requests without a known subresource fall to the
 * plain rows (sub NULL). */
#include "s3/s3_ops.h"

#include <string.h>

static void not_implemented(tw_request *r, s3_ctx *x) {
  tw_s3_error(r, x, TW_ERR_S3_NOT_IMPLEMENTED, NULL);
}

#define W S3_OP_WRITES
#define STREAM S3_OP_STREAMS_BODY
#define SVC S3_AT_SERVICE
#define BKT S3_AT_BUCKET
#define OBJ S3_AT_OBJECT
#define ANY S3_COPY_ANY

static const s3_op ops[] = {
    {"ListBuckets", "GET", SVC, NULL, ANY, tw_s3_list_buckets, 0},

    {"PutBucketCors", "PUT", BKT, "cors", ANY, tw_s3_put_cors, W},
    {"GetBucketCors", "GET", BKT, "cors", ANY, tw_s3_get_cors, 0},
    {"DeleteBucketCors", "DELETE", BKT, "cors", ANY, tw_s3_delete_cors, W},
    {"PutBucketLifecycleConfiguration", "PUT", BKT, "lifecycle", ANY, tw_s3_put_lifecycle, W},
    {"GetBucketLifecycleConfiguration", "GET", BKT, "lifecycle", ANY, tw_s3_get_lifecycle, 0},
    {"DeleteBucketLifecycle", "DELETE", BKT, "lifecycle", ANY, tw_s3_delete_lifecycle, W},
    {"PutBucketNotificationConfiguration", "PUT", BKT, "notification", ANY, tw_s3_put_notification,
     W},
    {"GetBucketNotificationConfiguration", "GET", BKT, "notification", ANY, tw_s3_get_notification,
     0},
    {"GetBucketLocation", "GET", BKT, "location", ANY, tw_s3_get_bucket_location, 0},
    {"DeleteObjects", "POST", BKT, "delete", ANY, tw_s3_delete_objects, W},
    {"ListMultipartUploads", "GET", BKT, "uploads", ANY, tw_s3_list_uploads, 0},
    {"PutBucketPolicy", "PUT", BKT, "policy", ANY, tw_s3_put_bucket_policy, W},
    {"GetBucketPolicy", "GET", BKT, "policy", ANY, tw_s3_get_bucket_policy, 0},
    {"DeleteBucketPolicy", "DELETE", BKT, "policy", ANY, tw_s3_delete_bucket_policy, W},
    {"GetBucketPolicyStatus", "GET", BKT, "policyStatus", ANY, tw_s3_get_bucket_policy_status, 0},
    {"PutPublicAccessBlock", "PUT", BKT, "publicAccessBlock", ANY, tw_s3_put_public_access_block,
     W},
    {"GetPublicAccessBlock", "GET", BKT, "publicAccessBlock", ANY, tw_s3_get_public_access_block,
     0},
    {"DeletePublicAccessBlock", "DELETE", BKT, "publicAccessBlock", ANY,
     tw_s3_delete_public_access_block, W},
    {"PutBucketTagging", "PUT", BKT, "tagging", ANY, tw_s3_put_bucket_tagging, W},
    {"GetBucketTagging", "GET", BKT, "tagging", ANY, tw_s3_get_bucket_tagging, 0},
    {"DeleteBucketTagging", "DELETE", BKT, "tagging", ANY, tw_s3_delete_bucket_tagging, W},
    {"PutBucketVersioning", "PUT", BKT, "versioning", ANY, tw_s3_put_versioning, W},
    {"GetBucketVersioning", "GET", BKT, "versioning", ANY, tw_s3_get_versioning, 0},
    {"ListObjectVersions", "GET", BKT, "versions", ANY, tw_s3_list_versions, 0},
    {"PutBucketAcl", "PUT", BKT, "acl", ANY, tw_s3_put_bucket_acl, W},
    {"GetBucketAcl", "GET", BKT, "acl", ANY, tw_s3_get_bucket_acl, 0},
    {"PutBucketOwnershipControls", "PUT", BKT, "ownershipControls", ANY,
     tw_s3_put_ownership_controls, W},
    {"GetBucketOwnershipControls", "GET", BKT, "ownershipControls", ANY,
     tw_s3_get_ownership_controls, 0},
    {"DeleteBucketOwnershipControls", "DELETE", BKT, "ownershipControls", ANY,
     tw_s3_delete_ownership_controls, W},
    {"BucketWebsite", NULL, BKT, "website", ANY, not_implemented, 0},
    {"BucketLogging", NULL, BKT, "logging", ANY, not_implemented, 0},
    {"BucketEncryption", NULL, BKT, "encryption", ANY, not_implemented, 0},
    {"BucketReplication", NULL, BKT, "replication", ANY, not_implemented, 0},
    {"ObjectLockConfiguration", NULL, BKT, "object-lock", ANY, not_implemented, 0},
    {"CreateBucket", "PUT", BKT, NULL, ANY, tw_s3_create_bucket, W},
    {"HeadBucket", "HEAD", BKT, NULL, ANY, tw_s3_head_bucket, 0},
    {"DeleteBucket", "DELETE", BKT, NULL, ANY, tw_s3_delete_bucket, W},
    {"ListObjects", "GET", BKT, NULL, ANY, tw_s3_list_objects, 0}, /* V2 named below */

    {"CreateMultipartUpload", "POST", OBJ, "uploads", ANY, tw_s3_create_multipart, W},
    {"UploadPartCopy", "PUT", OBJ, "uploadId", S3_COPY_YES, tw_s3_upload_part_copy, W},
    {"UploadPart", "PUT", OBJ, "uploadId", S3_COPY_NO, tw_s3_upload_part, W | STREAM},
    {"CompleteMultipartUpload", "POST", OBJ, "uploadId", ANY, tw_s3_complete_multipart, W},
    {"AbortMultipartUpload", "DELETE", OBJ, "uploadId", ANY, tw_s3_abort_multipart, W},
    {"ListParts", "GET", OBJ, "uploadId", ANY, tw_s3_list_parts, 0},
    {"PutObjectTagging", "PUT", OBJ, "tagging", ANY, tw_s3_put_object_tagging, W},
    {"GetObjectTagging", "GET", OBJ, "tagging", ANY, tw_s3_get_object_tagging, 0},
    {"DeleteObjectTagging", "DELETE", OBJ, "tagging", ANY, tw_s3_delete_object_tagging, W},
    {"PutObjectAcl", "PUT", OBJ, "acl", ANY, tw_s3_put_object_acl, W},
    {"GetObjectAcl", "GET", OBJ, "acl", ANY, tw_s3_get_object_acl, 0},
    {"ObjectRetention", NULL, OBJ, "retention", ANY, not_implemented, 0},
    {"ObjectLegalHold", NULL, OBJ, "legal-hold", ANY, not_implemented, 0},
    {"GetObjectAttributes", "GET", OBJ, "attributes", ANY, tw_s3_get_object_attributes, 0},
    {"CopyObject", "PUT", OBJ, NULL, S3_COPY_YES, tw_s3_copy_object, W},
    {"PutObject", "PUT", OBJ, NULL, S3_COPY_NO, tw_s3_put_object, W | STREAM},
    {"GetObject", "GET", OBJ, NULL, ANY, tw_s3_get_object, 0},
    {"HeadObject", "HEAD", OBJ, NULL, ANY, tw_s3_get_object, 0},
    {"DeleteObject", "DELETE", OBJ, NULL, ANY, tw_s3_delete_object, W},
};

static const s3_op list_v2 = {"ListObjectsV2", "GET", BKT, NULL, ANY, tw_s3_list_objects, 0};

const s3_op tw_s3_op_preflight = {"PreflightRequest",   "OPTIONS", BKT, NULL, ANY,
                                  tw_s3_cors_preflight, 0};
const s3_op tw_s3_op_post_object = {"PostObject",      "POST",    BKT, NULL, ANY,
                                    tw_s3_post_object, W | STREAM};

static int row_fits(const s3_op *op, const char *method, int copy) {
  if (op->method && strcmp(op->method, method)) return 0;
  return op->copy == S3_COPY_ANY || (op->copy == S3_COPY_YES) == copy;
}

const s3_op *tw_s3_find_op(const tw_request *r, const s3_ctx *x) {
  s3_level level = !x->bucket ? S3_AT_SERVICE : !x->key ? S3_AT_BUCKET : S3_AT_OBJECT;
  int copy = tw_req_header(r, "x-amz-copy-source") != NULL;
  size_t n = sizeof ops / sizeof ops[0];
  /* the first subresource of this level present in the query picks the group */
  const char *group = NULL;
  for (size_t i = 0; i < n && !group; i++)
    if (ops[i].level == level && ops[i].sub && json_object_get(x->q, ops[i].sub))
      group = ops[i].sub;
  for (size_t i = 0; i < n; i++) {
    const s3_op *op = &ops[i];
    if (op->level != level) continue;
    if (group ? !op->sub || strcmp(op->sub, group) : op->sub != NULL) continue;
    if (!row_fits(op, r->method, copy)) continue;
    if (op->fn == tw_s3_list_objects) {
      const char *lt = json_string_value(json_object_get(x->q, "list-type"));
      if (lt && !strcmp(lt, "2")) return &list_v2;
    }
    return op;
  }
  return NULL;
}
